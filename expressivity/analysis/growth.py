"""Reachable-state growth: distinct states (bit-exact at the network's precision) by length.

A network that behaves as a finite automaton plateaus; a counting network grows
linearly along ``a^n`` until its number format runs out of values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._util import unique_rows

__all__ = ["StateGrowth", "growth_along", "reachable_states"]


@dataclass
class StateGrowth:
    """Distinct states reached, by length.

    Attributes
    ----------
    lengths : ndarray of int64
        0, 1, ..., the last length explored.
    n_states : ndarray of int64
        Distinct states reached by the words (or prefixes) up to each length.
    kind : str
        ``"all words"`` or ``"prefixes of <word>"``.
    exhausted : bool
        All words: no new state appeared at some length, so none ever will
        (the reachable set is closed); the count is final.
    truncated : bool
        Exploration stopped at ``max_states``.
    """

    lengths: np.ndarray
    n_states: np.ndarray
    kind: str
    exhausted: bool = False
    truncated: bool = False

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


def reachable_states(net, max_len: int, *, max_states: int = 2_000_000) -> StateGrowth:
    """Distinct states reached by all words up to each length (breadth-first, deduplicated).

    Only new states are stepped, so the cost is the number of distinct states
    times the alphabet size, not the number of words.

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
    width = h0.dtype.itemsize * h0.shape[1]
    seen: set[bytes] = {h0.tobytes()}
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
        uniq, _, _ = unique_rows(nxt)
        raw = uniq.view(np.dtype((np.void, width))).ravel()
        keep = np.fromiter((r.tobytes() not in seen for r in raw), dtype=bool, count=raw.size)
        frontier = uniq[keep]
        seen.update(r.tobytes() for r in raw[keep])
        counts.append(len(seen))
        if len(seen) > max_states:
            truncated = True
            break
    if frontier.shape[0] == 0:
        exhausted = True
    n = np.asarray(counts, dtype=np.int64)
    return StateGrowth(np.arange(n.size), n, "all words", exhausted=exhausted, truncated=truncated)


def growth_along(net, word: str = "a", n_max: int = 1000) -> StateGrowth:
    """Distinct states among the prefixes of ``word * n_max`` (or of ``word`` repeated).

    With ``word="a"`` this is the growth along ``a^n``: a counter grows by one
    state per symbol until the format can no longer represent the next value.

    Examples
    --------
    >>> g = growth_along(net.with_precision("float16"), "a", 3000)   # doctest: +SKIP
    >>> g.plateau_at()                                                # doctest: +SKIP
    2048
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
    _, inverse, _ = unique_rows(states)
    first = np.full(inverse.max() + 1, states.shape[0], dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(states.shape[0]))
    is_new = np.zeros(states.shape[0], dtype=np.int64)
    is_new[first] = 1
    counts = np.cumsum(is_new)
    # one point per repetition of word
    pos = np.arange(0, n_max + 1) * len(word)
    kind = f"prefixes of {word!r}^n"
    return StateGrowth(np.arange(n_max + 1), counts[pos], kind)
