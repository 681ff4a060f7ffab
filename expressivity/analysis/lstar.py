"""White-box L* extraction (Weiss, Goldberg & Yahav, ICML 2018).

Membership queries are answered by the network in batches (``net.accepts``).
Equivalence queries explore the network's reachable states in parallel with the
hypothesis, under a finite partition of the state space: two network states in
one block are taken to be the same automaton state. When the hypothesis maps
one block to two of its states, the shortest word that separates them in the
hypothesis is asked of the network: if the network disagrees with the
hypothesis on it, that word is a counterexample; otherwise the partition is too
coarse and the block is split (by the coordinate and midpoint that best separate
the block's states mapped to the two hypothesis states) and exploration starts
again. A final batch of sample words guards against a too-coarse start.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._dfa import make_dfa, shortest_separator
from ._util import as_rng, head_rules
from ._util import check_words as _check_words

__all__ = ["LStarResult", "StatePartition", "lstar"]


class _Budget(Exception):
    """Raised internally when the time or query budget is spent."""


class _Oracle:
    """Membership queries answered by the network, cached and batched."""

    def __init__(self, net: Any, max_queries: int, deadline: float):
        self.net = net
        self.cache: dict[str, bool] = {}
        self.max_queries = max_queries
        self.deadline = deadline

    @property
    def n_queries(self) -> int:
        return len(self.cache)

    def check_budget(self) -> None:
        if time.perf_counter() > self.deadline or len(self.cache) >= self.max_queries:
            raise _Budget

    def query(self, words: list[str]) -> list[bool]:
        todo = list(dict.fromkeys(w for w in words if w not in self.cache))
        if todo:
            self.check_budget()
            if len(self.cache) + len(todo) > self.max_queries:
                raise _Budget
            res = np.asarray(self.net.accepts(todo))
            for w, r in zip(todo, res):
                self.cache[w] = bool(r)
        return [self.cache[w] for w in words]


class StatePartition:
    """A partition of the state space by axis-aligned splits (a decision tree).

    Examples
    --------
    >>> p = StatePartition()
    >>> leaf = p.split(0, dim=1, threshold=0.0)
    >>> p.block(np.array([[0.0, -1.0], [0.0, 1.0]])).tolist()
    [1, 2]
    """

    def __init__(self) -> None:
        self.dim = [-1]
        self.thr = [0.0]
        self.left = [-1]
        self.right = [-1]

    @property
    def n_blocks(self) -> int:
        return sum(1 for d in self.dim if d < 0)

    def block(self, states: np.ndarray) -> np.ndarray:
        """Leaf (block id) of every state row."""
        states = np.asarray(states, dtype=np.float64)
        node = np.zeros(states.shape[0], dtype=np.int64)
        dim = np.asarray(self.dim)
        thr = np.asarray(self.thr)
        left = np.asarray(self.left)
        right = np.asarray(self.right)
        while True:
            inner = dim[node] >= 0
            if not inner.any():
                return node
            i = np.nonzero(inner)[0]
            nd = node[i]
            go_left = states[i, dim[nd]] <= thr[nd]
            node[i] = np.where(go_left, left[nd], right[nd])

    def split(self, leaf: int, dim: int, threshold: float) -> int:
        """Split a block in two by ``state[dim] <= threshold``; returns the leaf."""
        if self.dim[leaf] >= 0:
            raise ValueError(f"node {leaf} is not a block")
        a = len(self.dim)
        for _ in range(2):
            self.dim.append(-1)
            self.thr.append(0.0)
            self.left.append(-1)
            self.right.append(-1)
        self.dim[leaf], self.thr[leaf] = int(dim), float(threshold)
        self.left[leaf], self.right[leaf] = a, a + 1
        return leaf


def _best_split(h1, h2, pts: np.ndarray, side: np.ndarray) -> tuple[int, float]:
    """Coordinate and midpoint separating h1 from h2 that best separates ``pts`` by ``side``.

    ``side`` is +1 for points that belong with h1, -1 with h2, 0 for the others.
    """
    h1 = np.asarray(h1, dtype=np.float64)
    h2 = np.asarray(h2, dtype=np.float64)
    best = None
    for j in np.nonzero(h1 != h2)[0]:
        t = 0.5 * (h1[j] + h2[j])
        if not (min(h1[j], h2[j]) <= t < max(h1[j], h2[j])):
            t = min(h1[j], h2[j])  # adjacent floats: the midpoint rounds onto one of them
        h1_low = h1[j] <= t
        low = pts[:, j] <= t
        good = np.sum((side > 0) & (low == h1_low)) + np.sum((side < 0) & (low != h1_low))
        key = (int(good), abs(h1[j] - h2[j]))
        if best is None or key > best[0]:
            best = (key, int(j), float(t))
    if best is None:
        raise ValueError("cannot split identical states")
    return best[1], best[2]


class _Table:
    """Observation table with Maler-Pnueli counterexample handling (suffixes into E)."""

    def __init__(self, alphabet: str, oracle: _Oracle):
        self.alphabet = alphabet
        self.oracle = oracle
        self.S = [""]
        self.E = [""]

    def _rows(self, prefixes: list[str]) -> list[tuple[bool, ...]]:
        words = [p + e for p in prefixes for e in self.E]
        ans = self.oracle.query(words)
        m = len(self.E)
        return [tuple(ans[i * m : (i + 1) * m]) for i in range(len(prefixes))]

    def close(self) -> None:
        while True:
            ext = [s + a for s in self.S for a in self.alphabet]
            rows_s = self._rows(self.S)
            known = set(rows_s)
            added = False
            for t, r in zip(ext, self._rows(ext)):
                if r not in known:
                    self.S.append(t)
                    known.add(r)
                    added = True
            if not added:
                return

    def add_counterexample(self, cex: str) -> None:
        for i in range(len(cex)):
            e = cex[i:]
            if e not in self.E:
                self.E.append(e)

    def hypothesis(self) -> tuple[np.ndarray, np.ndarray, int]:
        rows_s = self._rows(self.S)
        index = {r: i for i, r in enumerate(rows_s)}
        ext = [s + a for s in self.S for a in self.alphabet]
        rows_e = self._rows(ext)
        v = len(self.alphabet)
        table = np.array([index[r] for r in rows_e], dtype=np.int64).reshape(len(self.S), v)
        accept = np.array([r[0] for r in rows_s], dtype=bool)
        return table, accept, index[rows_s[0]]


def _run(table: np.ndarray, start: int, word: str, alphabet: str) -> int:
    q = start
    for ch in word:
        q = int(table[q, alphabet.index(ch)])
    return q


def _explore(net, oracle, partition, table, accept, start, alphabet, info) -> str | None:
    """Equivalence query by abstraction; returns a counterexample or None."""
    v = len(alphabet)
    while True:
        oracle.check_budget()
        mapping: dict[int, tuple[int, str, np.ndarray]] = {}
        members: dict[int, list[tuple[np.ndarray, int]]] = {}
        words = [""]
        states = np.asarray(net.initial_state())[None, :]
        alive = np.array([True])
        qs = np.array([start])
        refined = False
        while words and not refined:
            oracle.check_budget()
            end_ok, allowed = head_rules(net, np.asarray(net.readout(states)))
            blocks = np.where(alive, partition.block(states), -1)
            expand = []
            for i, w in enumerate(words):
                q = int(qs[i])
                net_acc = bool(alive[i] and end_ok[i])
                if net_acc != bool(accept[q]):
                    return w  # the state acceptance is the network's answer on w
                b = int(blocks[i])
                members.setdefault(b, []).append((states[i], q))
                if b in mapping:
                    q2, w2, h2 = mapping[b]
                    if q2 == q:
                        continue
                    sep = shortest_separator(table, accept, q, q2)
                    d = "".join(alphabet[s] for s in sep)
                    a1, a2 = oracle.query([w + d, w2 + d])
                    if a1 != bool(accept[_run(table, start, w + d, alphabet)]):
                        return w + d
                    if a2 != bool(accept[_run(table, start, w2 + d, alphabet)]):
                        return w2 + d
                    pts = np.array([m[0] for m in members[b]], dtype=np.float64)
                    side = np.array(
                        [1 if m[1] == q else (-1 if m[1] == q2 else 0) for m in members[b]]
                    )
                    dim, thr = _best_split(states[i], h2, pts, side)
                    partition.split(b, dim, thr)
                    info["refinements"] += 1
                    refined = True
                    break
                mapping[b] = (q, w, states[i])
                expand.append(i)
            if refined or not expand:
                break
            idx = np.repeat(np.asarray(expand), v)
            syms = np.tile(np.arange(v, dtype=np.int64), len(expand))
            states = np.asarray(net.step(states[idx], syms))
            alive = alive[idx] & allowed[idx, syms]
            qs = table[qs[idx], syms]
            words = [words[i] + alphabet[s] for i, s in zip(idx, syms)]
        if not refined:
            return None


def _sample_check(oracle, table, accept, start, alphabet, words) -> str | None:
    ans = oracle.query(words)
    bad = [w for w, a in zip(words, ans) if a != bool(accept[_run(table, start, w, alphabet)])]
    return min(bad, key=lambda w: (len(w), w)) if bad else None


@dataclass
class LStarResult:
    """Outcome of :func:`lstar`.

    Attributes
    ----------
    dfa : DFA
        Minimised last hypothesis.
    hypothesis : DFA
        The last hypothesis as the table gave it.
    converged : bool
        False when the time or query limit stopped learning.
    n_queries : int
        Distinct membership queries asked of the network.
    info : dict
        ``rounds``, ``refinements``, ``counterexamples``, ``blocks``.
    """

    dfa: Any
    hypothesis: Any
    converged: bool
    n_queries: int
    info: dict[str, Any] = field(default_factory=dict)


def lstar(
    net: Any,
    *,
    rng: np.random.Generator | None = None,
    time_limit: float = 60.0,
    max_queries: int = 200_000,
    check_words: list[str] | None = None,
    n_random: int = 500,
    random_max_len: int = 30,
) -> LStarResult:
    """Learn a DFA from a network with L* and abstraction-based equivalence queries.

    Parameters
    ----------
    net : Network
    rng : numpy.random.Generator
        For the random words of the final sample check.
    time_limit : float
        Seconds; when spent, the last hypothesis is returned with ``converged=False``.
    max_queries : int
        Membership-query budget (distinct words), same effect.
    check_words : list of str, optional
        Words to test every hypothesis on after exploration finds no conflict;
        default all words up to the length with at most 1024 words plus
        ``n_random`` random words up to ``random_max_len``.

    Returns
    -------
    LStarResult

    Examples
    --------
    >>> res = lstar(net, time_limit=10)          # doctest: +SKIP
    >>> res.dfa.n_states, res.converged          # doctest: +SKIP
    (2, True)
    """
    rng = as_rng(rng)
    alphabet = str(net.alphabet)
    v = len(alphabet)
    if check_words is None:
        short_len = int(np.floor(np.log(1024) / np.log(max(v, 2))))
        check = [
            "".join(t) for n in range(short_len + 1) for t in itertools.product(alphabet, repeat=n)
        ]
        lengths = rng.integers(short_len + 1, random_max_len + 1, size=n_random)
        arr = np.asarray(list(alphabet))
        check += ["".join(arr[rng.integers(0, v, size=int(n))]) for n in lengths]
    else:
        check = sorted(set(_check_words(check_words, alphabet)))
    t0 = time.perf_counter()
    oracle = _Oracle(net, int(max_queries), t0 + float(time_limit))
    partition = StatePartition()
    info: dict[str, Any] = {"rounds": 0, "refinements": 0, "counterexamples": []}
    tab = _Table(alphabet, oracle)
    hyp = None
    converged = False
    try:
        while True:
            tab.close()
            hyp = tab.hypothesis()
            info["rounds"] += 1
            cex = _explore(net, oracle, partition, *hyp, alphabet, info)
            if cex is None:
                cex = _sample_check(oracle, *hyp, alphabet, check)
            if cex is None:
                converged = True
                break
            info["counterexamples"].append(cex)
            tab.add_counterexample(cex)
    except _Budget:
        if hyp is None:
            # not even one hypothesis: build it without the budget
            oracle.max_queries = 1 << 62
            oracle.deadline = float("inf")
            tab.close()
            hyp = tab.hypothesis()
    info["blocks"] = partition.n_blocks
    info["time"] = time.perf_counter() - t0
    raw = make_dfa(hyp[0], hyp[1], hyp[2], alphabet)
    return LStarResult(
        dfa=raw.minimize(),
        hypothesis=raw,
        converged=converged,
        n_queries=oracle.n_queries,
        info=info,
    )
