"""Evaluation words by length and agreement curves (fidelity, accuracy by length)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._dfa import dfa_arrays
from ._util import as_rng

__all__ = ["agreement_by_length", "eval_words", "positives_of_length"]


def _dfa_positive_sampler(dfa: Any, length: int, n: int, rng: np.random.Generator) -> list[str]:
    """Uniform sample (with replacement) of accepted words of one length from a DFA."""
    delta, acc_mask, q0, _ = dfa_arrays(dfa)
    alphabet = list(dfa.alphabet)
    acc = acc_mask.astype(np.float64)
    # counts[r][q] ~ number of accepted completions of length r from q (rescaled per level)
    counts = [acc]
    for _ in range(length):
        nxt = counts[-1][delta].sum(axis=1)
        top = nxt.max()
        counts.append(nxt / top if top > 0 else nxt)
    if counts[length][q0] <= 0:
        return []
    out = []
    for _ in range(n):
        q = q0
        chars = []
        for r in range(length, 0, -1):
            p = counts[r - 1][delta[q]]
            a = int(rng.choice(len(alphabet), p=p / p.sum()))
            chars.append(alphabet[a])
            q = delta[q, a]
        out.append("".join(chars))
    return out


def positives_of_length(lang: Any, length: int, n: int, rng: np.random.Generator) -> list[str]:
    """Up to ``n`` positive words of exactly ``length`` (empty when none are known).

    Regular languages sample uniformly through their DFA; counter languages use
    ``lang.positive_of_n``.
    """
    if getattr(lang, "is_regular", False) and hasattr(lang, "dfa"):
        return _dfa_positive_sampler(lang.dfa(), length, n, rng)
    if hasattr(lang, "positive_of_n"):
        # the canonical positives grow with n: find the n that fits, if any
        for cand in range(0, length + 1):
            try:
                w = lang.positive_of_n(cand)
            except (ValueError, TypeError):
                continue
            if len(w) == length:
                return [w]
            if len(w) > length:
                break
    return []


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
