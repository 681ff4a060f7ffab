"""Alphabets, the end marker and the string <-> int coding used everywhere."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .errors import AlphabetError

__all__ = ["END", "check_alphabet", "encode", "decode", "encode_batch", "decode_batch"]

#: The end marker at the string edges. As an int it is ``len(alphabet)``.
END = "$"


def check_alphabet(alphabet: str) -> str:
    """Validate an alphabet: a non-empty ``str`` of distinct single characters, no ``END``.

    Examples
    --------
    >>> check_alphabet("ab")
    'ab'
    """
    if not isinstance(alphabet, str):
        raise AlphabetError(f"alphabet must be a str of single-character symbols, got {alphabet!r}")
    if len(alphabet) == 0:
        raise AlphabetError("alphabet must not be empty")
    if len(set(alphabet)) != len(alphabet):
        raise AlphabetError(f"alphabet {alphabet!r} has repeated symbols")
    if END in alphabet:
        raise AlphabetError(f"alphabet {alphabet!r} must not contain the end marker {END!r}")
    return alphabet


def _lookup(alphabet: str) -> np.ndarray:
    table = np.full(max(ord(c) for c in alphabet) + 1, -1, dtype=np.int32)
    for i, c in enumerate(alphabet):
        table[ord(c)] = i
    return table


def encode(word: str, alphabet: str) -> np.ndarray:
    """Encode a string as an ``int32`` array of symbol indices.

    Raises
    ------
    AlphabetError
        If ``word`` contains a symbol outside ``alphabet`` (the message names both).

    Examples
    --------
    >>> encode("abba", "ab").tolist()
    [0, 1, 1, 0]
    """
    if not isinstance(word, str):
        raise TypeError(f"word must be a str, got {type(word).__name__}")
    out = np.empty(len(word), dtype=np.int32)
    for i, c in enumerate(word):
        j = alphabet.find(c)
        if j < 0 or len(c) != 1:
            raise AlphabetError(
                f"symbol {c!r} (position {i} of {word!r}) is not in the alphabet {alphabet!r}"
            )
        out[i] = j
    return out


def encode_batch(words: Sequence[str], alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    """Encode strings into a zero-padded ``int32`` matrix and an ``int64`` length vector.

    Examples
    --------
    >>> codes, lengths = encode_batch(["ab", "a"], "ab")
    >>> codes.tolist(), lengths.tolist()
    ([[0, 1], [0, 0]], [2, 1])
    """
    if isinstance(words, str):
        raise TypeError("words must be a sequence of str, not a single str")
    words = list(words)
    lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    t_max = int(lengths.max()) if len(words) else 0
    codes = np.zeros((len(words), t_max), dtype=np.int32)
    if not words:
        return codes, lengths
    table = _lookup(alphabet)
    joined = "".join(words)
    try:
        raw = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    except UnicodeEncodeError as exc:  # pragma: no cover - lone surrogates
        raise AlphabetError(f"words contain undecodable characters: {exc}") from exc
    bad = raw >= len(table)
    flat = np.full(raw.shape, -1, dtype=np.int32)
    flat[~bad] = table[raw[~bad]]
    if (flat < 0).any():
        pos = int(np.argmax(flat < 0))
        sym = joined[pos]
        ends = np.cumsum(lengths)
        row = int(np.searchsorted(ends, pos, side="right"))
        raise AlphabetError(
            f"symbol {sym!r} (in word {words[row]!r}) is not in the alphabet {alphabet!r}"
        )
    rows = np.repeat(np.arange(len(words)), lengths)
    cols = np.arange(len(flat)) - np.repeat(_word_starts(lengths), lengths)
    codes[rows, cols] = flat
    return codes, lengths


def _word_starts(lengths: np.ndarray) -> np.ndarray:
    """Start offset of each word in the concatenation of all words."""
    starts = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    return starts


def decode(codes: Iterable[int], alphabet: str) -> str:
    """Decode symbol indices back to a string.

    Examples
    --------
    >>> decode([0, 1, 1], "ab")
    'abb'
    """
    arr = np.asarray(list(codes) if not isinstance(codes, np.ndarray) else codes)
    if arr.size and (arr.min() < 0 or arr.max() >= len(alphabet)):
        bad = int(arr[(arr < 0) | (arr >= len(alphabet))][0])
        raise AlphabetError(f"symbol index {bad} is outside the alphabet {alphabet!r}")
    return "".join(alphabet[int(i)] for i in arr)


def decode_batch(codes: np.ndarray, lengths: np.ndarray, alphabet: str) -> list[str]:
    """Decode a padded code matrix (rows cut at ``lengths``) into strings.

    Examples
    --------
    >>> decode_batch(np.array([[0, 1], [1, 0]]), np.array([2, 1]), "ab")
    ['ab', 'b']
    """
    chars = np.array(list(alphabet))
    return ["".join(chars[row[:n]]) for row, n in zip(codes, np.asarray(lengths))]
