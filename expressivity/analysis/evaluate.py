"""Evaluation words by length and agreement curves (fidelity, accuracy by length)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._members import positives_of_length
from ._util import as_rng

__all__ = ["agreement_by_length", "eval_words", "positives_of_length"]


def eval_words(
    lang_or_alphabet: Any,
    lengths: Iterable[int],
    n_per_length: int = 100,
    *,
    rng: np.random.Generator | None = None,
) -> dict[int, list[str]]:
    """Words to evaluate on, by length.

    Short lengths are enumerated exhaustively when there are at most
    ``n_per_length`` words; longer lengths mix uniform random words with
    positives of that length (half and half, when positives are known).

    Examples
    --------
    >>> ws = eval_words("ab", [0, 1, 2], 10)
    >>> ws[2]
    ['aa', 'ab', 'ba', 'bb']
    """
    rng = as_rng(rng)
    if isinstance(lang_or_alphabet, str):
        lang, alphabet = None, lang_or_alphabet
    else:
        lang, alphabet = lang_or_alphabet, str(lang_or_alphabet.alphabet)
    v = len(alphabet)
    out: dict[int, list[str]] = {}
    for length in sorted(set(int(x) for x in lengths)):
        if length < 0:
            raise ValueError(f"lengths must be >= 0, got {length}")
        if v**length <= n_per_length:
            out[length] = ["".join(t) for t in itertools.product(alphabet, repeat=length)]
            continue
        pos = [] if lang is None else positives_of_length(lang, length, n_per_length // 2, rng)
        n_rand = n_per_length - len(pos)
        sym = rng.integers(0, v, size=(n_rand, length))
        arr = np.asarray(list(alphabet))
        rand = ["".join(row) for row in arr[sym]]
        out[length] = pos + rand
    return out


def agreement_by_length(
    words: dict[int, list[str]], a: dict[str, bool], b: dict[str, bool]
) -> dict[int, float]:
    """Fraction of words of each length on which two labellings agree."""
    res = {}
    for length, ws in words.items():
        if ws:
            res[length] = float(np.mean([a[w] == b[w] for w in ws]))
    return res
