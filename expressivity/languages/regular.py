"""Regular languages backed by a minimal DFA (membership, next sets, uniform sampling)."""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
import numpy as np
from numba import njit

from .base import Language
from .dfa import DFA

__all__ = ["RegularLanguage", "from_dfa"]


@njit(cache=True)
def _log_counts(table, accepting, max_len):  # pragma: no cover - jitted
    """``out[r, q]`` = log(number of accepted strings of length r read from state q)."""
    n, k = table.shape
    out = np.full((max_len + 1, n), -np.inf)
    for q in range(n):
        if accepting[q]:
            out[0, q] = 0.0
    for r in range(1, max_len + 1):
        for q in range(n):
            m = -np.inf
            for s in range(k):
                v = out[r - 1, table[q, s]]
                if v > m:
                    m = v
            if m == -np.inf:
                continue
            acc = 0.0
            for s in range(k):
                acc += np.exp(out[r - 1, table[q, s]] - m)
            out[r, q] = m + np.log(acc)
    return out


@njit(cache=True)
def _sample_walk(rng, table, logc, start, length, count):  # pragma: no cover - jitted
    k = table.shape[1]
    out = np.empty((count, length), dtype=np.int32)
    for i in range(count):
        q = start
        for t in range(length):
            r = length - t
            u = rng.random()
            cum = 0.0
            pick = -1
            for s in range(k):
                v = logc[r - 1, table[q, s]]
                if v == -np.inf:
                    continue
                cum += np.exp(v - logc[r, q])
                pick = s
                if u < cum:
                    break
            out[i, t] = pick
            q = table[q, pick]
    return out


@njit(cache=True)
def _masks_kernel(table, allowed, start, codes, lengths):  # pragma: no cover - jitted
    n_rows, t_max = codes.shape
    width = allowed.shape[1]
    out = np.zeros((n_rows, t_max + 1, width), dtype=np.bool_)
    for i in range(n_rows):
        q = start
        for t in range(lengths[i] + 1):
            if q < 0:
                break
            for s in range(width):
                out[i, t, s] = allowed[q, s]
            if t < lengths[i]:
                q = table[q, codes[i, t]]
                if not allowed[q, width - 1] and not allowed[q, : width - 1].any():
                    q = -1
    return out


class RegularLanguage(Language):
    """A language given by a DFA; the DFA is minimised (complete, sink counted).

    Examples
    --------
    >>> d = DFA("ab", [0, 1], 0, [0], {(0, "a"): 0, (0, "b"): 1, (1, "a"): 1, (1, "b"): 0})
    >>> lang = RegularLanguage("even-b", d)
    >>> lang.contains("abab"), lang.dfa().n_states
    (True, 2)
    """

    is_regular = True

    def __init__(self, name: str, dfa: DFA) -> None:
        super().__init__(name, dfa.alphabet)
        self._dfa = dfa.minimize()
        d = self._dfa
        self._table = np.ascontiguousarray(d.transition_table, dtype=np.int64)
        self._acc = d.accepting_mask.copy()
        self._start = d.start_index
        live = _co_reachable(self._table, self._acc)
        k = len(self.alphabet)
        self._allowed = np.zeros((d.n_states, k + 1), dtype=np.bool_)
        self._allowed[:, :k] = live[self._table]
        self._allowed[:, k] = self._acc
        self._allowed[~live] = False
        self._logc = _log_counts(self._table, self._acc, 16)

    def dfa(self) -> DFA:
        """The minimal complete DFA (sink counted).

        Examples
        --------
        >>> from expressivity.languages import get_language
        >>> get_language("tomita-3").dfa().n_states
        5
        """
        return self._dfa

    def _member(self, codes, lengths):
        return self._dfa.run_batch(codes, lengths)

    def _next_masks(self, codes, lengths):
        return _masks_kernel(self._table, self._allowed, self._start, codes, lengths)

    def _ensure_counts(self, length: int) -> None:
        if self._logc.shape[0] <= length:
            self._logc = _log_counts(self._table, self._acc, max(length, 2 * self._logc.shape[0]))

    def has_length(self, length: int) -> bool:
        if length < 0:
            return False
        self._ensure_counts(length)
        return bool(np.isfinite(self._logc[length, self._start]))

    def count(self, length: int) -> float:
        """Number of members of this length (as a float; exact below 2**53)."""
        self._ensure_counts(length)
        return float(np.exp(self._logc[length, self._start]))

    def _sample_codes(self, rng, length, count):
        self._ensure_counts(length)
        return _sample_walk(rng, self._table, self._logc, self._start, length, count)


def _co_reachable(table: np.ndarray, accepting: np.ndarray) -> np.ndarray:
    live = accepting.copy()
    changed = True
    while changed:
        new = live | live[table].any(axis=1)
        changed = bool((new != live).any())
        live = new
    return live


def from_dfa(dfa: DFA | Mapping | nx.DiGraph, name: str = "dfa") -> RegularLanguage:
    """A language from a :class:`DFA`, a DFA dict (see :meth:`DFA.from_dict`) or a networkx graph.

    Examples
    --------
    >>> lang = from_dfa(DFA.from_dict({"alphabet": "ab", "start": 0, "accepting": [1],
    ...                  "transitions": {(0, "a"): 1, (1, "b"): 0}}, complete=True))
    >>> lang.contains("aba"), lang.dfa().n_states
    (True, 3)
    """
    if isinstance(dfa, DFA):
        d = dfa
    elif isinstance(dfa, nx.Graph):
        d = DFA.from_networkx(dfa)
    elif isinstance(dfa, Mapping):
        d = DFA.from_dict(dfa)
    else:
        raise TypeError(
            f"from_dfa needs a DFA, a dict or a networkx graph, got {type(dfa).__name__}"
        )
    return RegularLanguage(name, d)
