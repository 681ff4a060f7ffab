"""Array helpers around the one DFA type of ``expressivity.languages`` (no automaton type here)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dfa_arrays", "make_dfa", "run_tree", "shortest_separator"]


def dfa_class() -> Any:
    """The DFA class of ``expressivity.languages`` (imported on use)."""
    try:
        from expressivity.languages import DFA
    except ImportError:  # the package namespace may not re-export it yet
        from expressivity.languages.dfa import DFA
    return DFA


def make_dfa(table: np.ndarray, accept: np.ndarray, start: int, alphabet: str) -> Any:
    """Build a complete DFA from a transition table ``table[state, symbol] -> state``."""
    DFA = dfa_class()
    if table.shape[1] != len(alphabet):
        raise ValueError(
            f"table has {table.shape[1]} symbols, alphabet {alphabet!r} has {len(alphabet)}"
        )
    return DFA.from_table(alphabet, np.asarray(table), np.asarray(accept, dtype=bool), int(start))


def dfa_arrays(dfa: Any) -> tuple[np.ndarray, np.ndarray, int, list]:
    """``(table, accept, start, states)`` of a DFA, completed with a sink when partial."""
    d = dfa.complete()
    table = np.asarray(d.transition_table, dtype=np.int64)
    return table, np.asarray(d.accepting_mask, dtype=bool), int(d.start_index), list(d.states)


def run_tree(
    table: np.ndarray, start: int, parent: np.ndarray, symbol: np.ndarray, depth: np.ndarray
) -> np.ndarray:
    """State reached by every prefix of a breadth-first prefix tree."""
    q = np.empty(parent.size, dtype=np.int64)
    q[0] = start
    max_d = int(depth[-1]) if depth.size else 0
    lo = 1
    for d in range(1, max_d + 1):
        hi = int(np.searchsorted(depth, d, side="right"))
        q[lo:hi] = table[q[parent[lo:hi]], symbol[lo:hi]]
        lo = hi
    return q


def shortest_separator(table: np.ndarray, accept: np.ndarray, p: int, q: int) -> list[int] | None:
    """Shortest suffix (symbol indices) accepted from exactly one of states ``p`` and ``q``."""
    if accept[p] != accept[q]:
        return []
    seen = {(p, q): None}
    frontier = [(p, q)]
    back: dict[tuple[int, int], tuple[tuple[int, int], int]] = {}
    while frontier:
        nxt = []
        for a_state, b_state in frontier:
            for s in range(table.shape[1]):
                pair = (int(table[a_state, s]), int(table[b_state, s]))
                if pair in seen:
                    continue
                seen[pair] = None
                back[pair] = ((a_state, b_state), s)
                if accept[pair[0]] != accept[pair[1]]:
                    path = []
                    cur = pair
                    while cur != (p, q):
                        prev, sym = back[cur]
                        path.append(sym)
                        cur = prev
                    return path[::-1]
                nxt.append(pair)
        frontier = nxt
    return None
