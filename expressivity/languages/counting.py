"""Counter languages: ``anbn``, ``anbncn``, ``anbncndn`` (blocks) and ``majority``.

Counters (after every prefix):

- ``anbn``: ``#a - #b``; ``anbncn``: ``#a - #b`` and ``#b - #c``; ``anbncndn``:
  ``#a - #b``, ``#b - #c``, ``#c - #d``;
- ``majority``: ``#a - #b``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.special import gammaln

from ._kernels import scatter_k_of_n
from .base import Language

__all__ = ["BlockLanguage", "Majority"]


@njit(cache=True)
def _blocks_scan(codes, lengths, k, want_masks):  # pragma: no cover - jitted
    """Membership of a_0^n ... a_{k-1}^n, and (optionally) next masks after every prefix."""
    n_rows, t_max = codes.shape
    member = np.zeros(n_rows, dtype=np.bool_)
    if want_masks:
        masks = np.zeros((n_rows, t_max + 1, k + 1), dtype=np.bool_)
    else:
        masks = np.zeros((1, 1, k + 1), dtype=np.bool_)
    for i in range(n_rows):
        p = 0
        n = 0
        c = 0
        dead = False
        for t in range(lengths[i] + 1):
            if want_masks:
                if p == 0:
                    masks[i, t, 0] = True
                    if n >= 1:
                        masks[i, t, 1] = True
                    else:
                        masks[i, t, k] = True
                elif c < n:
                    masks[i, t, p] = True
                elif p < k - 1:
                    masks[i, t, p + 1] = True
                else:
                    masks[i, t, k] = True
            if t == lengths[i]:
                break
            x = codes[i, t]
            if p == 0:
                if x == 0:
                    n += 1
                elif x == 1 and n >= 1:
                    p = 1
                    c = 1
                else:
                    dead = True
            elif x == p and c < n:
                c += 1
            elif x == p + 1 and c == n and p < k - 1:
                p += 1
                c = 1
            else:
                dead = True
            if dead:
                break
        if not dead:
            member[i] = (p == 0 and n == 0) or (p == k - 1 and c == n)
    return member, masks


class BlockLanguage(Language):
    """``a^n b^n``, ``a^n b^n c^n`` or ``a^n b^n c^n d^n`` (``n >= 0``), by number of blocks.

    Counters are the differences of neighbouring block counts (``#a-#b``, ``#b-#c``, ...).

    Examples
    --------
    >>> lang = BlockLanguage(3)
    >>> lang.name, lang.contains("aabbcc"), lang.positive_of_n(1), lang.near_misses(1)[:2]
    ('anbncn', True, 'abc', ['bc', 'aabc'])
    """

    def __init__(self, k: int) -> None:
        if not 2 <= k <= 4:
            raise ValueError(f"block languages have 2..4 blocks, got {k}")
        letters = "abcd"[:k]
        super().__init__("".join(f"{c}n" for c in letters), letters)
        self.k = k
        self.n_counters = k - 1

    def _member(self, codes, lengths):
        return _blocks_scan(codes, lengths, self.k, False)[0]

    def _next_masks(self, codes, lengths):
        return _blocks_scan(codes, lengths, self.k, True)[1]

    def has_length(self, length):
        return length >= 0 and length % self.k == 0

    def length_of_n(self, n):
        return self.k * int(n)

    def _sample_codes(self, rng, length, count):
        row = np.repeat(np.arange(self.k, dtype=np.int32), length // self.k)
        return np.tile(row, (count, 1))

    def positive_of_n(self, n: int) -> str:
        """``a^n b^n ...`` (the only member of size ``n``)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return "".join(c * n for c in self.alphabet)

    def near_misses(self, n: int) -> list[str]:
        """All strings with one block count changed by ±1, e.g. ``a^n b^(n±1)``.

        Ordered by block then ``-1`` before ``+1``; counts below zero are skipped.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        out = []
        for i in range(self.k):
            for d in (-1, 1):
                counts = [n] * self.k
                counts[i] += d
                if counts[i] >= 0:
                    w = "".join(c * m for c, m in zip(self.alphabet, counts))
                    if w not in out:
                        out.append(w)
        return out

    def _counters(self, codes):
        onehot = np.zeros((len(codes) + 1, self.k))
        onehot[np.arange(1, len(codes) + 1), codes] = 1.0
        counts = np.cumsum(onehot, axis=0)
        return counts[:, :-1] - counts[:, 1:]


@njit(cache=True)
def _majority_scan(codes, lengths, want_masks):  # pragma: no cover - jitted
    n_rows, t_max = codes.shape
    member = np.zeros(n_rows, dtype=np.bool_)
    masks = np.zeros((n_rows if want_masks else 1, t_max + 1 if want_masks else 1, 3), np.bool_)
    for i in range(n_rows):
        d = 0
        for t in range(lengths[i] + 1):
            if want_masks:
                masks[i, t, 0] = True
                masks[i, t, 1] = True
                masks[i, t, 2] = d > 0
            if t < lengths[i]:
                d += 1 if codes[i, t] == 0 else -1
        member[i] = d > 0
    return member, masks


class Majority(Language):
    """``majority``: strings over ``"ab"`` with ``#a > #b``; counter ``#a - #b``.

    Examples
    --------
    >>> Majority().contains("aba"), Majority().contains("ab")
    (True, False)
    """

    n_counters = 1

    def __init__(self) -> None:
        super().__init__("majority", "ab")

    def _member(self, codes, lengths):
        return _majority_scan(codes, lengths, False)[0]

    def _next_masks(self, codes, lengths):
        return _majority_scan(codes, lengths, True)[1]

    def has_length(self, length):
        return length >= 1

    def _sample_codes(self, rng, length, count):
        ks = np.arange(length // 2 + 1, length + 1)
        logw = gammaln(length + 1) - gammaln(ks + 1) - gammaln(length - ks + 1)
        p = np.exp(logw - logw.max())
        n_a = rng.choice(ks, size=count, p=p / p.sum()).astype(np.int64)
        return scatter_k_of_n(rng, n_a, length, 0, 1)

    def positive_of_n(self, n: int) -> str:
        """``a^(n+1) b^n``: the shortest-margin member with ``n`` b's."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return "a" * (n + 1) + "b" * n

    def near_misses(self, n: int) -> list[str]:
        """``a^n b^n`` (a tie) and ``a^n b^(n+1)``."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return ["a" * n + "b" * n, "a" * n + "b" * (n + 1)]

    def _counters(self, codes):
        steps = np.where(codes == 0, 1.0, -1.0)
        return np.concatenate([[0.0], np.cumsum(steps)])[:, None]
