"""Small helpers shared by the analysis modules: checks, encoding, head rules, row hashing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "all_words",
    "as_rng",
    "check_alphabets",
    "check_words",
    "encode_word",
    "head_rules",
    "is_language",
    "net_threshold",
    "unique_rows",
]


def as_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """Return ``rng``, or a fixed-seed generator when ``None`` (deterministic default)."""
    if rng is None:
        return np.random.default_rng(0)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def is_language(obj: Any) -> bool:
    """True when ``obj`` looks like an ``expressivity.languages`` Language."""
    return hasattr(obj, "alphabet") and hasattr(obj, "contains") and not isinstance(obj, str)


def check_alphabets(net: Any, lang: Any) -> None:
    """Raise ``ValueError`` when the network and the language disagree on the alphabet."""
    if str(net.alphabet) != str(lang.alphabet):
        raise ValueError(
            f"alphabet mismatch: the network reads {net.alphabet!r} but the language "
            f"{getattr(lang, 'name', '')!r} is over {lang.alphabet!r}"
        )


def check_words(words: Iterable[str], alphabet: str, *, allow_empty: bool = False) -> list[str]:
    """Validate a sample of words: a non-empty list of strings over ``alphabet``."""
    if isinstance(words, str):
        raise TypeError("expected a list of words, got a single string; wrap it in a list")
    words = list(words)
    if not words and not allow_empty:
        raise ValueError("empty sample: give at least one word (the empty word '' counts)")
    allowed = set(alphabet)
    for w in words:
        if not isinstance(w, str):
            raise TypeError(f"words must be strings, got {type(w).__name__}: {w!r}")
        bad = set(w) - allowed
        if bad:
            raise ValueError(
                f"unknown symbol(s) {sorted(bad)!r} in word {w[:40]!r}: alphabet is {alphabet!r}"
            )
    return words


def encode_word(word: str, alphabet: str) -> np.ndarray:
    """Encode a string as int64 symbol indices (alphabet order)."""
    index = {c: i for i, c in enumerate(alphabet)}
    try:
        return np.fromiter((index[c] for c in word), dtype=np.int64, count=len(word))
    except KeyError as err:
        raise ValueError(f"unknown symbol {err.args[0]!r}: alphabet is {alphabet!r}") from None


def net_threshold(net: Any) -> float:
    """The network's acceptance threshold (0.5 when it has none)."""
    thr = getattr(net, "threshold", None)
    return 0.5 if thr is None else float(thr)


def head_rules(net: Any, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-state acceptance rules of the network's head.

    A word is accepted by the network when every symbol is *allowed* by the state
    before it and the state after the last symbol *ends* (accepts).

    Parameters
    ----------
    net : Network
    outputs : ndarray, shape (P, O)
        Head probabilities for P states (``net.readout``).

    Returns
    -------
    end_ok : ndarray of bool, shape (P,)
    allowed : ndarray of bool, shape (P, V)
    """
    outputs = np.asarray(outputs)
    v = len(net.alphabet)
    thr = net_threshold(net)
    head = str(net.head)
    p = outputs.shape[0]
    if head == "accept":
        return outputs[:, 0] > thr, np.ones((p, v), dtype=bool)
    if head in ("next-symbol", "next-set"):
        if outputs.shape[1] != v + 1:
            raise ValueError(f"head {head!r} should give {v + 1} outputs, got {outputs.shape[1]}")
        return outputs[:, v] > thr, outputs[:, :v] > thr
    raise ValueError(f"unknown head {head!r}: expected 'accept', 'next-symbol' or 'next-set'")


def unique_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit-exact unique rows of a 2-D array.

    Returns ``(unique, inverse, counts)`` with ``unique[inverse] == x`` bit for bit.
    """
    x = np.ascontiguousarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {x.shape}")
    if x.shape[0] == 0:
        return x.copy(), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    void = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(
        void, return_index=True, return_inverse=True, return_counts=True
    )
    return x[first], inverse.astype(np.int64).ravel(), counts.astype(np.int64)


def all_words(alphabet: Sequence[str], max_len: int) -> list[str]:
    """All words up to ``max_len`` in length-lexicographic order."""
    out = [""]
    level = [""]
    for _ in range(max_len):
        level = [w + c for w in level for c in alphabet]
        out.extend(level)
    return out
