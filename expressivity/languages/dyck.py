"""Bracket languages: ``dyck-k``, depth-bounded ``dyck-k-m`` and ``shuffle-k``.

Alphabets interleave open/close symbols pair by pair: ``"()"``, ``"()[]"``,
``"()[]{}"``, ``"()[]{}<>"`` (then ``⟨⟩ ⌈⌉ ⌊⌋ ⟦⟧`` up to 8 pairs); code ``2i`` opens
pair ``i`` and ``2i+1`` closes it.

Counters: Dyck languages have one, the depth ``#open - #close`` after each prefix
(the stack depth on well-nested prefixes); ``shuffle-k`` has one per pair, that pair's
depth. The size ``n`` of a member is its number of bracket pairs (length ``2n``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .base import Language
from .dfa import DFA

__all__ = ["Dyck", "Shuffle", "BRACKETS"]

BRACKETS = "()[]{}<>⟨⟩⌈⌉⌊⌋⟦⟧"


def _pairs(k: int) -> str:
    if not 1 <= k <= len(BRACKETS) // 2:
        raise ValueError(f"number of bracket pairs must be 1..{len(BRACKETS) // 2}, got {k}")
    return BRACKETS[: 2 * k]


@njit(cache=True)
def _dyck_scan(codes, lengths, k, cap, want_masks):  # pragma: no cover - jitted
    n_rows, t_max = codes.shape
    member = np.zeros(n_rows, dtype=np.bool_)
    masks = np.zeros(
        (n_rows if want_masks else 1, t_max + 1 if want_masks else 1, 2 * k + 1), np.bool_
    )
    stack = np.zeros(t_max + 1, dtype=np.int64)
    for i in range(n_rows):
        d = 0
        dead = False
        for t in range(lengths[i] + 1):
            if want_masks:
                if d < cap:
                    for j in range(k):
                        masks[i, t, 2 * j] = True
                if d > 0:
                    masks[i, t, 2 * stack[d - 1] + 1] = True
                else:
                    masks[i, t, 2 * k] = True
            if t == lengths[i]:
                break
            x = codes[i, t]
            if x % 2 == 0:
                if d >= cap:
                    dead = True
                    break
                stack[d] = x // 2
                d += 1
            else:
                if d == 0 or stack[d - 1] != x // 2:
                    dead = True
                    break
                d -= 1
        member[i] = (not dead) and d == 0
    return member, masks


@njit(cache=True)
def _dyck_log_table(k, cap, max_len):  # pragma: no cover - jitted
    """``out[r, d]``: log(number of ways to close from depth d with r symbols left)."""
    width = min(cap, max_len) + 2
    out = np.full((max_len + 1, width), -np.inf)
    out[0, 0] = 0.0
    logk = np.log(k)
    for r in range(1, max_len + 1):
        for d in range(width - 1):
            a = -np.inf
            if d + 1 <= cap and d + 1 < width:
                a = logk + out[r - 1, d + 1]
            b = out[r - 1, d - 1] if d >= 1 else -np.inf
            m = max(a, b)
            if m > -np.inf:
                out[r, d] = m + np.log(np.exp(a - m) + np.exp(b - m))
    return out


@njit(cache=True)
def _dyck_sample(rng, table, k, length, count, out, col0, stride, col_map):  # pragma: no cover
    """Uniform Dyck-k words; symbol ``x`` of the word is written as ``col_map[x]``.

    Row ``i`` of ``out`` gets the word in columns ``col0[i] + stride * t``.
    """
    stack = np.zeros(length + 1, dtype=np.int64)
    width = table.shape[1]
    logk = np.log(k)
    for i in range(count):
        d = 0
        for t in range(length):
            r = length - t
            p_open = 0.0
            if d + 1 < width:
                p_open = np.exp(logk + table[r - 1, d + 1] - table[r, d])
            if rng.random() < p_open:
                j = rng.integers(0, k)
                stack[d] = j
                d += 1
                out[i, col0[i] + stride * t] = col_map[2 * j]
            else:
                d -= 1
                out[i, col0[i] + stride * t] = col_map[2 * stack[d] + 1]
    return out


class Dyck(Language):
    """Balanced strings over ``k`` bracket pairs, optionally with nesting depth ``<= m``.

    ``dyck-k-m`` (``max_depth=m``) is regular (Hewitt et al. 2020); its minimal DFA has
    ``1 + k + ... + k^m`` stack states plus a sink.

    Examples
    --------
    >>> Dyck(2).contains("([])"), Dyck(2, max_depth=1).contains("([])"), Dyck(1, 2).dfa().n_states
    (True, False, 4)
    """

    n_counters = 1

    def __init__(self, k: int, max_depth: int | None = None) -> None:
        if max_depth is not None and max_depth < 1:
            raise ValueError(f"max depth must be >= 1, got {max_depth}")
        name = f"dyck-{k}" if max_depth is None else f"dyck-{k}-{max_depth}"
        super().__init__(name, _pairs(k))
        self.k = k
        self.max_depth = max_depth
        self.is_regular = max_depth is not None
        self._cap = max_depth if max_depth is not None else 1 << 40
        self._table = _dyck_log_table(k, self._cap, 16)
        self._dfa: DFA | None = None

    def _member(self, codes, lengths):
        return _dyck_scan(codes, lengths, self.k, self._cap, False)[0]

    def _next_masks(self, codes, lengths):
        return _dyck_scan(codes, lengths, self.k, self._cap, True)[1]

    def has_length(self, length):
        return length >= 0 and length % 2 == 0

    def length_of_n(self, n):
        return 2 * int(n)

    def _log_table(self, length: int) -> np.ndarray:
        if self._table.shape[0] <= length:
            self._table = _dyck_log_table(self.k, self._cap, max(length, 2 * self._table.shape[0]))
        return self._table

    def _sample_codes(self, rng, length, count):
        out = np.zeros((count, length), dtype=np.int32)
        col_map = np.arange(2 * self.k, dtype=np.int32)
        return _dyck_sample(
            rng, self._log_table(length), self.k, length, count, out,
            np.zeros(count, dtype=np.int64), 1, col_map,
        )  # fmt: skip

    def positive_of_n(self, n: int) -> str:
        """``(^n )^n`` (with the first bracket pair)."""
        return "(" * n + ")" * n

    def near_misses(self, n: int) -> list[str]:
        """``(^n )^(n-1)`` and ``(^n )^(n+1)``."""
        return [w for w in ("(" * n + ")" * (n - 1), "(" * n + ")" * (n + 1)) if n >= 1 or w != ""]

    def _counters(self, codes):
        steps = np.where(codes % 2 == 0, 1.0, -1.0)
        return np.concatenate([[0.0], np.cumsum(steps)])[:, None]

    def dfa(self) -> DFA:
        """Minimal complete DFA of ``dyck-k-m`` (``ValueError`` for unbounded depth)."""
        if self.max_depth is None:
            raise ValueError(f"language {self.name!r} is not regular: it has no DFA")
        if self._dfa is None:
            states: list[tuple] = [()]
            trans = {}
            i = 0
            while i < len(states):
                st = states[i]
                for j in range(self.k):
                    op, cl = self.alphabet[2 * j], self.alphabet[2 * j + 1]
                    trans[(st, op)] = (*st, j) if len(st) < self.max_depth else "sink"
                    trans[(st, cl)] = st[:-1] if st and st[-1] == j else "sink"
                    for nxt in (trans[(st, op)], trans[(st, cl)]):
                        if nxt != "sink" and nxt not in states:
                            states.append(nxt)
                i += 1
            for c in self.alphabet:
                trans[("sink", c)] = "sink"
            self._dfa = DFA(self.alphabet, [*states, "sink"], (), [()], trans).minimize()
        return self._dfa


@njit(cache=True)
def _shuffle_scan(codes, lengths, k, want_masks):  # pragma: no cover - jitted
    n_rows, t_max = codes.shape
    member = np.zeros(n_rows, dtype=np.bool_)
    masks = np.zeros(
        (n_rows if want_masks else 1, t_max + 1 if want_masks else 1, 2 * k + 1), np.bool_
    )
    depth = np.zeros(k, dtype=np.int64)
    for i in range(n_rows):
        depth[:] = 0
        dead = False
        for t in range(lengths[i] + 1):
            if want_masks:
                total = 0
                for j in range(k):
                    masks[i, t, 2 * j] = True
                    masks[i, t, 2 * j + 1] = depth[j] > 0
                    total += depth[j]
                masks[i, t, 2 * k] = total == 0
            if t == lengths[i]:
                break
            x = codes[i, t]
            if x % 2 == 0:
                depth[x // 2] += 1
            elif depth[x // 2] == 0:
                dead = True
                break
            else:
                depth[x // 2] -= 1
        member[i] = (not dead) and depth.sum() == 0
    return member, masks


@njit(cache=True)
def _shuffle_log_tables(k, max_len):  # pragma: no cover - jitted
    """``g[j, m]`` = log sum over splits of m among j pairs of prod Cat(e/2)/e!."""
    g = np.full((k + 1, max_len + 1), -np.inf)
    g[0, 0] = 0.0
    g1 = np.full(max_len + 1, -np.inf)
    for m in range(0, max_len + 1, 2):
        h = m // 2
        g1[m] = (
            math.lgamma(2 * h + 1) - math.lgamma(h + 2) - math.lgamma(h + 1) - math.lgamma(m + 1)
        )
    for j in range(1, k + 1):
        for m in range(max_len + 1):
            best = -np.inf
            for e in range(m + 1):
                v = g1[e] + g[j - 1, m - e]
                if v > best:
                    best = v
            if best == -np.inf:
                continue
            acc = 0.0
            for e in range(m + 1):
                acc += np.exp(g1[e] + g[j - 1, m - e] - best)
            g[j, m] = best + np.log(acc)
    return g, g1


@njit(cache=True)
def _shuffle_split(rng, g, g1, k, length, count):  # pragma: no cover - jitted
    sizes = np.zeros((count, k), dtype=np.int64)
    for i in range(count):
        m = length
        for c in range(k - 1):
            j = k - c
            u = rng.random()
            cum = 0.0
            pick = -1
            for e in range(0, m + 1, 2):
                v = g1[e] + g[j - 1, m - e] - g[j, m]
                if v == -np.inf:
                    continue
                cum += np.exp(v)
                pick = e
                if u < cum:
                    break
            sizes[i, c] = pick
            m -= pick
        sizes[i, k - 1] = m
    return sizes


@njit(cache=True)
def _interleave(rng, parts, sizes, length):  # pragma: no cover - jitted
    """Merge per-pair words (``parts[c]`` rows) along a uniform random interleaving."""
    count, k = sizes.shape
    out = np.empty((count, length), dtype=np.int32)
    labels = np.empty(length, dtype=np.int64)
    pos = np.zeros(k, dtype=np.int64)
    for i in range(count):
        t = 0
        for c in range(k):
            for _ in range(sizes[i, c]):
                labels[t] = c
                t += 1
        for t in range(length - 1, 0, -1):
            j = rng.integers(0, t + 1)
            labels[t], labels[j] = labels[j], labels[t]
        pos[:] = 0
        for t in range(length):
            c = labels[t]
            out[i, t] = parts[c, i, pos[c]]
            pos[c] += 1
    return out


class Shuffle(Language):
    """``shuffle-k``: interleavings of ``k`` Dyck-1 languages over distinct pairs (Suzgun
    et al. 2019). Each pair's depth is a counter.

    Examples
    --------
    >>> Shuffle(2).contains("([)]"), Shuffle(2).contains("(]"), Shuffle(2).n_counters
    (True, False, 2)
    """

    def __init__(self, k: int) -> None:
        super().__init__(f"shuffle-{k}", _pairs(k))
        self.k = k
        self.n_counters = k
        self._g = _shuffle_log_tables(k, 16)
        self._d1 = _dyck_log_table(1, 1 << 40, 16)

    def _member(self, codes, lengths):
        return _shuffle_scan(codes, lengths, self.k, False)[0]

    def _next_masks(self, codes, lengths):
        return _shuffle_scan(codes, lengths, self.k, True)[1]

    def has_length(self, length):
        return length >= 0 and length % 2 == 0

    def length_of_n(self, n):
        return 2 * int(n)

    def _sample_codes(self, rng, length, count):
        if self._g[0].shape[1] <= length:
            m = max(length, 2 * self._g[0].shape[1])
            self._g = _shuffle_log_tables(self.k, m)
            self._d1 = _dyck_log_table(1, 1 << 40, m)
        g, g1 = self._g
        sizes = _shuffle_split(rng, g, g1, self.k, length, count)
        parts = np.zeros((self.k, count, max(length, 1)), dtype=np.int32)
        zeros = np.zeros(count, dtype=np.int64)
        for c in range(self.k):
            col_map = np.array([2 * c, 2 * c + 1], dtype=np.int32)
            for e in np.unique(sizes[:, c]):
                rows = np.flatnonzero(sizes[:, c] == e)
                sub = np.zeros((len(rows), max(int(e), 1)), dtype=np.int32)
                _dyck_sample(
                    rng, self._d1, 1, int(e), len(rows), sub, zeros[: len(rows)], 1, col_map
                )
                parts[c, rows, : int(e)] = sub[:, : int(e)]
        return _interleave(rng, parts, sizes, length)

    def positive_of_n(self, n: int) -> str:
        """``(^n )^n`` with the first pair."""
        return "(" * n + ")" * n

    def near_misses(self, n: int) -> list[str]:
        """``(^n )^(n-1)`` and ``(^n )^(n+1)``."""
        return [w for w in ("(" * n + ")" * (n - 1), "(" * n + ")" * (n + 1)) if n >= 1 or w != ""]

    def _counters(self, codes):
        out = np.zeros((len(codes) + 1, self.k))
        steps = np.where(codes % 2 == 0, 1.0, -1.0)
        out[np.arange(1, len(codes) + 1), codes // 2] = steps
        return np.cumsum(out, axis=0)
