"""Reachable-state growth: distinct states, at a stated tolerance, by length.

A network that behaves as a finite automaton plateaus; a counting network grows
linearly along ``a^n`` until its number format runs out of values.

Raw distinct floating-point values do not tell these apart: a leaky unit that
drifts to a fixed point (``h' = 0.998 h + 0.002``) reaches a new float32 value
at every step for thousands of steps. States are therefore counted at a
tolerance ``tol`` (default :data:`GROWTH_TOL`): the state space is cut into
cells of side ``tol`` (``floor(state / tol)`` per unit) and the cells visited
are counted (``tol = 0``: bit-exact values, the old count). A counter of step
``>= tol`` enters a new cell at every symbol, for as long as it counts; a
contraction's steps shrink below ``tol`` and its count levels off. The growth
*rate* tells them apart on one walk: :meth:`StateGrowth.growth_ratio` divides
the new cells per symbol over the walk's second half by those over its first
half (1 for a counter, near 0 for a drift to a fixed point), and
:meth:`StateGrowth.keeps_growing` compares it with :data:`GROWTH_RATIO_MIN`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._util import unique_rows

__all__ = [
    "GROWTH_RATIO_MIN",
    "GROWTH_TOL",
    "StateGrowth",
    "growth_along",
    "reachable_states",
    "state_cells",
]

#: Side of the cells in which states count as one (per unit, in state units).
GROWTH_TOL = 1e-3
#: Second-half to first-half growth rate a walk needs to count as still growing.
GROWTH_RATIO_MIN = 0.5

_BIG = np.int64(2**62)


def state_cells(states: np.ndarray, tol: float) -> np.ndarray:
    """Cell of each state at tolerance ``tol``: ``floor(state / tol)`` per unit (int64).

    ``tol = 0`` returns the states themselves (bit-exact identity). Infinite
    values map to cells of their own (``±2**62``), NaN to ``2**62 + 1``.

    Examples
    --------
    >>> state_cells(np.array([[0.0004, -0.0004], [0.0011, 2.5]]), 1e-3).tolist()
    [[0, -1], [1, 2500]]
    """
    tol = float(tol)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol}")
    states = np.asarray(states)
    if tol == 0.0:
        return np.ascontiguousarray(states)
    x = np.asarray(states, dtype=np.float64) / tol
    finite = np.isfinite(x) & (np.abs(x) < 2.0**61)
    cells = np.floor(np.where(finite, x, 0.0)).astype(np.int64)
    cells = np.where(finite, cells, np.where(x > 0, _BIG, -_BIG))
    cells = np.where(np.isnan(x), _BIG + 1, cells)
    return np.ascontiguousarray(cells)


@dataclass
class StateGrowth:
    """Distinct states reached, by length, at tolerance ``tol``.

    Attributes
    ----------
    lengths : ndarray of int64
        0, 1, ..., the last length explored.
    n_states : ndarray of int64
        Distinct states (cells of side ``tol``) reached by the words (or
        prefixes) up to each length.
    kind : str
        ``"all words"`` or ``"prefixes of <word>"``.
    exhausted : bool
        All words: no new state appeared at some length, so none ever will
        (the reachable set is closed); the count is final.
    truncated : bool
        Exploration stopped at ``max_states``.
    tol : float
        The tolerance (0: bit-exact values).
    """

    lengths: np.ndarray
    n_states: np.ndarray
    kind: str
    exhausted: bool = False
    truncated: bool = False
    tol: float = 0.0

    @property
    def new_states(self) -> np.ndarray:
        """New distinct states first reached at each length."""
        return np.diff(self.n_states, prepend=0)

    def plateau_at(self) -> int | None:
        """First length after which the count no longer grows (None if still growing)."""
        n = self.n_states
        if n.size < 2 or n[-1] != n[-2]:
            return None
        grows = np.nonzero(np.diff(n) > 0)[0]
        return int(self.lengths[grows[-1] + 1]) if grows.size else 0

    def slope(self, lo: int = 0, hi: int | None = None) -> float:
        """Least-squares growth per unit length between two lengths."""
        sl = slice(lo, hi)
        x, y = self.lengths[sl].astype(float), self.n_states[sl].astype(float)
        return float(np.polyfit(x, y, 1)[0]) if x.size > 1 else 0.0

    def rate(self, lo: int, hi: int) -> float:
        """New states per unit length from length ``lo`` to ``hi`` (indices into ``lengths``)."""
        lo, hi = int(lo), int(hi)
        if not 0 <= lo < hi < self.n_states.size:
            raise ValueError(f"need 0 <= lo < hi < {self.n_states.size}, got lo={lo}, hi={hi}")
        dn = float(self.n_states[hi] - self.n_states[lo])
        return dn / float(self.lengths[hi] - self.lengths[lo])

    def growth_ratio(self) -> float:
        """New states per symbol over the second half of the walk / over its first half.

        About 1 for linear growth (a counter), near 0 for a count that levels off
        (a drift to a fixed point, a finite automaton); NaN when the first half
        adds nothing.
        """
        last = self.n_states.size - 1
        if last < 2:
            return float("nan")
        mid = last // 2
        first = self.rate(0, mid)
        return self.rate(mid, last) / first if first > 0 else float("nan")

    def keeps_growing(self, min_ratio: float = GROWTH_RATIO_MIN) -> bool:
        """Whether the growth rate holds up over the walk (``growth_ratio >= min_ratio``)."""
        r = self.growth_ratio()
        return bool(np.isfinite(r) and r >= min_ratio)


def reachable_states(
    net, max_len: int, *, max_states: int = 2_000_000, tol: float = GROWTH_TOL
) -> StateGrowth:
    """Distinct states reached by all words up to each length (breadth-first, deduplicated).

    Only new states are stepped, so the cost is the number of distinct states
    times the alphabet size, not the number of words. With ``tol > 0`` states
    in one cell of side ``tol`` count once and only the first state reached in
    a cell is stepped on (an abstraction at that resolution); ``tol = 0`` is
    exact.

    Examples
    --------
    >>> g = reachable_states(net, 20)          # doctest: +SKIP
    >>> g.n_states[-1], g.exhausted            # doctest: +SKIP
    (2, True)
    """
    max_len = int(max_len)
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    v = len(net.alphabet)
    h0 = np.asarray(net.initial_state())[None, :]
    c0 = state_cells(h0, tol)
    width = c0.dtype.itemsize * c0.shape[1]
    seen: set[bytes] = {c0.tobytes()}
    frontier = h0
    counts = [1]
    exhausted = truncated = False
    for _ in range(max_len):
        if frontier.shape[0] == 0:
            exhausted = True
            counts.append(counts[-1])
            continue
        idx = np.repeat(np.arange(frontier.shape[0]), v)
        syms = np.tile(np.arange(v, dtype=np.int64), frontier.shape[0])
        nxt = np.ascontiguousarray(net.step(frontier[idx], syms))
        cells = state_cells(nxt, tol)
        _, inverse, _ = unique_rows(cells)
        first = np.full(inverse.max() + 1, len(cells), dtype=np.int64)
        np.minimum.at(first, inverse, np.arange(len(cells)))
        reps = np.sort(first)
        raw = np.ascontiguousarray(cells[reps]).view(np.dtype((np.void, width))).ravel()
        keep = np.fromiter((r.tobytes() not in seen for r in raw), dtype=bool, count=raw.size)
        frontier = nxt[reps[keep]]
        seen.update(r.tobytes() for r in raw[keep])
        counts.append(len(seen))
        if len(seen) > max_states:
            truncated = True
            break
    if frontier.shape[0] == 0:
        exhausted = True
    n = np.asarray(counts, dtype=np.int64)
    return StateGrowth(
        np.arange(n.size), n, "all words", exhausted=exhausted, truncated=truncated, tol=float(tol)
    )


def growth_along(
    net, word: str = "a", n_max: int = 1000, *, tol: float = GROWTH_TOL
) -> StateGrowth:
    """Distinct states among the prefixes of ``word * n_max``, at tolerance ``tol``.

    With ``word="a"`` this is the growth along ``a^n``: a counter whose step is
    at least ``tol`` grows by one state per symbol until the format can no
    longer represent the next value; a unit drifting to a fixed point levels
    off (see :meth:`StateGrowth.keeps_growing`).

    Examples
    --------
    >>> g = growth_along(net.with_precision("float16"), "a", 3000)   # doctest: +SKIP
    >>> g.plateau_at(), g.keeps_growing()                             # doctest: +SKIP
    (2048, False)
    """
    if not isinstance(word, str) or not word:
        raise ValueError("word must be a non-empty string")
    bad = set(word) - set(net.alphabet)
    if bad:
        raise ValueError(f"unknown symbol(s) {sorted(bad)!r}: alphabet is {net.alphabet!r}")
    n_max = int(n_max)
    if n_max < 0:
        raise ValueError(f"n_max must be >= 0, got {n_max}")
    full = word * n_max
    states = np.asarray(net.states([full])[0])
    _, inverse, _ = unique_rows(state_cells(states, tol))
    first = np.full(inverse.max() + 1, states.shape[0], dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(states.shape[0]))
    is_new = np.zeros(states.shape[0], dtype=np.int64)
    is_new[first] = 1
    counts = np.cumsum(is_new)
    # one point per repetition of word
    pos = np.arange(0, n_max + 1) * len(word)
    kind = f"prefixes of {word!r}^n"
    return StateGrowth(np.arange(n_max + 1), counts[pos], kind, tol=float(tol))
