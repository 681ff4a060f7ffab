"""Run many words that share prefixes, computing each prefix's state once.

The frontier search (docs/frontier.md) asks, for every n, about ``a^n b^n``, its
near misses ``a^(n±1) b^n``, ``a^(n±2) b^n``, ``a^n b^(n±1)``, ``a^n b^(n±2)``,
and every prefix of ``a^n b^(2n)``: words of about ``2n`` symbols that share most
of their symbols. Here the words are laid out as a prefix tree: one *path* per
word that is not a prefix of another, each path starting from the state its
parent path reached where they part. For ``a^n b^n`` the first path is the
longest ``a``-run, and each n adds one path ``b^(2n)`` started from the state
after ``a^n``, which decides ``a^n b^k`` for every ``k <= 2n`` at once (the
``a``-side near misses lie on the neighbouring paths): about ``2n`` steps per n
instead of about ``18n`` for the nine words run one by one.

The results equal :meth:`Network.accepts` and :meth:`Network.outputs` bit for
bit: a path continues from the exact (already rounded) state of its parent, and
every step is the same kernel call on the same values (``tests/test_prefixes.py``
checks this across cells, heads and precisions, with calls of every size).

Examples
--------
>>> import numpy as np
>>> import expressivity as ex
>>> net = ex.Network.create("lstm", "ab", 4, head="accept", rng=np.random.default_rng(0))
>>> words = ["aab", "aabb", "aaabb", "ab", "b"]
>>> bool(np.array_equal(accepts_shared(net, words), net.accepts(words)))
True
>>> plan = PrefixPlan(words)
>>> plan.paths, plan.steps
(['aaabb', 'aabb', 'ab', 'b'], 9)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "PrefixPlan",
    "SHARED_BATCH_SYMBOLS",
    "accepts_shared",
    "outputs_shared",
    "prefix_accepts_shared",
    "shared_acceptance",
]

#: Symbols per forward call when the caller gives no bound (a level's paths are
#: split into calls of about this many symbols).
SHARED_BATCH_SYMBOLS = 1 << 19


def _lcp(x: str, y: str) -> int:
    """Length of the longest common prefix (binary search on ``startswith``)."""
    lo, hi = 0, min(len(x), len(y))
    if x[:hi] == y[:hi]:
        return hi
    while lo < hi:  # x[:lo] == y[:lo], x[:hi] != y[:hi]
        mid = (lo + hi + 1) // 2
        if x[:mid] == y[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class PrefixPlan:
    """The prefix tree of a set of words, cut into paths.

    Attributes
    ----------
    paths : list of str
        The words that are no prefix of another (sorted).
    parent : list of int
        For each path, the path it starts from (-1 for a path from the initial
        state).
    depth : list of int
        Where each path leaves its parent (its first ``depth`` symbols are the
        parent's).
    level : list of int
        0 for paths from the initial state, parent's level + 1 otherwise.
    where : list of (int, int)
        For each input word, ``(path, length)``: the word is the first ``length``
        symbols of that path, and that path computed its last state
        (``length > depth``, or the path is a root).
    steps : int
        Symbol steps the plan runs (sum over paths of ``len(path) - depth``).

    Raises
    ------
    TypeError
        When a word is not a str.

    Examples
    --------
    >>> p = PrefixPlan(["aab", "aa", "ab", ""])
    >>> p.paths, p.parent, p.depth, p.where
    (['aab', 'ab'], [-1, 0], [0, 1], [(0, 3), (0, 2), (1, 2), (0, 0)])
    """

    def __init__(self, words: Sequence[str]):
        words = list(words)
        for i, w in enumerate(words):
            if not isinstance(w, str):
                raise TypeError(f"word {i} is {type(w).__name__} {w!r:.60}; PrefixPlan needs str")
        uniq = sorted(set(words))
        paths: list[str] = []
        owner: dict[str, int] = {}
        pending: list[str] = []
        for k, w in enumerate(uniq):
            pending.append(w)
            if k + 1 < len(uniq) and uniq[k + 1].startswith(w):
                continue  # a prefix of the next word: that word's path holds it
            for u in pending:
                owner[u] = len(paths)
            pending = []
            paths.append(w)
        m = len(paths)
        lcp = [0] * m
        for i in range(1, m):
            lcp[i] = _lcp(paths[i - 1], paths[i])
        # a path's parent: the earliest earlier path sharing its whole common
        # prefix with its predecessor (previous smaller element of lcp), so that
        # paths hang off the longest paths and levels stay few
        parent, depth, level = [-1] * m, [0] * m, [0] * m
        stack: list[int] = []  # indices k with increasing lcp[k]
        for i in range(m):
            d = lcp[i]
            while stack and lcp[stack[-1]] >= d:
                stack.pop()
            if i > 0 and d > 0:
                j = stack[-1] if stack else 0
                parent[i], depth[i], level[i] = j, d, level[j] + 1
            stack.append(i)
        self.paths, self.parent, self.depth, self.level = paths, parent, depth, level
        where = []
        for w in words:
            i = owner[w]
            while parent[i] >= 0 and len(w) <= depth[i]:
                i = parent[i]  # the parent path computed that state
            where.append((i, len(w)))
        self.where = where
        self.steps = int(sum(len(p) - d for p, d in zip(paths, depth)))

    def __repr__(self) -> str:
        return (
            f"PrefixPlan({len(self.where)} words, {len(self.paths)} paths, "
            f"{max(self.level, default=-1) + 1} levels, {self.steps} steps)"
        )


def _groups(idx: list[int], cost: list[int], budget: int) -> list[list[int]]:
    """Split path indices into calls of at most ``budget`` symbols (one path may exceed it)."""
    out: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i in sorted(idx, key=lambda k: -cost[k]):
        if cur and used + cost[i] > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += cost[i]
    if cur:
        out.append(cur)
    return out


def _run_plan(net, plan: PrefixPlan, batch_symbols: int | None):
    """Per path: probabilities from its depth on; states only where children start."""
    budget = SHARED_BATCH_SYMBOLS if batch_symbols is None else batch_symbols
    m = len(plan.paths)
    need: list[list[int]] = [[] for _ in range(m)]
    for i in range(m):
        if plan.parent[i] >= 0:
            need[plan.parent[i]].append(plan.depth[i])
    probs: list = [None] * m
    at: list[dict] = [dict() for _ in range(m)]  # path -> {depth: state}
    cost = [len(p) - d + 1 for p, d in zip(plan.paths, plan.depth)]
    for lev in range(max(plan.level, default=-1) + 1):
        idx = [i for i in range(m) if plan.level[i] == lev]
        for grp in _groups(idx, cost, budget):
            suffixes = [plan.paths[i][plan.depth[i] :] for i in grp]
            s0 = None
            if lev > 0:
                s0 = np.stack([at[plan.parent[i]][plan.depth[i]] for i in grp])
            states, outs = net.trace(suffixes, state0=s0)
            for k, i in enumerate(grp):
                probs[i] = outs[k]
                for d in need[i]:
                    at[i][d] = np.array(states[k][d - plan.depth[i]])
        for i in idx:  # parents' states are no longer needed past this level
            if plan.parent[i] >= 0:
                at[plan.parent[i]].pop(plan.depth[i], None)
    return probs


def _check_budget(batch_symbols) -> None:
    ok = isinstance(batch_symbols, (int, np.integer)) and not isinstance(batch_symbols, bool)
    if batch_symbols is not None and (not ok or batch_symbols < 1):
        raise ValueError(f"batch_symbols must be an integer >= 1 or None, got {batch_symbols!r}")


def _check(net, words) -> list[str]:
    if isinstance(words, (str, bytes)) or not isinstance(words, (Sequence, np.ndarray)):
        raise TypeError(f"words must be a list of str, got {type(words).__name__}")
    words = list(words)
    if words:
        net.encode(words)  # symbols outside the alphabet: the network's own error
    return words


def accepts_shared(net, words: Sequence[str], *, batch_symbols: int | None = None) -> np.ndarray:
    """:meth:`Network.accepts` of ``words``, each shared prefix run once.

    Parameters
    ----------
    net : Network
    words : list of str
    batch_symbols : int, optional
        Symbols per forward call (default :data:`SHARED_BATCH_SYMBOLS`).

    Returns
    -------
    (N,) bool array, equal to ``net.accepts(words)``.

    Raises
    ------
    TypeError
        When ``words`` is not a list of str.
    ValueError
        When a word has a symbol outside the network's alphabet, or
        ``batch_symbols`` is not an integer >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> net = ex.Network.create("gru", "ab", 3, head="next-symbol", rng=np.random.default_rng(1))
    >>> accepts_shared(net, []).shape
    (0,)
    """
    return shared_acceptance(net, words, batch_symbols=batch_symbols)[0]


def shared_acceptance(
    net,
    words: Sequence[str],
    *,
    along: Sequence[str] = (),
    batch_symbols: int | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Acceptance of ``words``, and of every prefix of each word of ``along``, in one plan.

    All words share one prefix tree, so a word of ``words`` that is a prefix of
    (or shares a prefix with) a word of ``along`` costs nothing more.

    Returns
    -------
    (accepted, prefixes): a (len(words),) bool array equal to
    ``net.accepts(words)``, and one (len(w)+1,) bool array per ``w`` in
    ``along`` whose entry ``t`` equals ``net.accepts([w[:t]])[0]``.

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> net = ex.Network.create("lstm", "ab", 3, head="next-symbol", rng=np.random.default_rng(5))
    >>> acc, pre = shared_acceptance(net, ["ab", "b"], along=["abb"])
    >>> bool(np.array_equal(pre[0], net.accepts(["", "a", "ab", "abb"])))
    True
    """
    words, along = _check(net, words), _check(net, along)
    _check_budget(batch_symbols)
    if not words and not along:
        return np.zeros(0, dtype=bool), []
    plan = PrefixPlan(words + along)
    probs = _run_plan(net, plan, batch_symbols)
    thr = net.threshold
    m = len(plan.paths)
    col = 0 if net.head == "accept" else -1  # the accept output, or END
    first_bad = [len(p) for p in plan.paths]  # longest prefix whose symbols were all predicted
    if net.head != "accept":
        codes = {c: k for k, c in enumerate(net.alphabet)}
        for i in range(m):  # parents come before children
            d, path, p = plan.depth[i], plan.paths[i], probs[i]
            start = first_bad[plan.parent[i]] if plan.parent[i] >= 0 else 0
            if plan.parent[i] >= 0 and start < d:
                first_bad[i] = start
                continue
            sym = np.fromiter((codes[c] for c in path[d:]), dtype=np.int64, count=len(path) - d)
            ok = p[np.arange(len(sym)), sym] > thr
            bad = np.flatnonzero(~ok)
            first_bad[i] = d + (int(bad[0]) if bad.size else len(sym))
    where = plan.where
    acc = np.array(
        [bool(n <= first_bad[i] and probs[i][n - plan.depth[i], col] > thr)
         for i, n in where[: len(words)]],
        dtype=bool,
    )  # fmt: skip
    pre = []
    for i, n in where[len(words) :]:
        parts = []
        while True:  # the chain of paths that computed the prefixes 0..n, last first
            d = plan.depth[i]
            lo = d + 1 if plan.parent[i] >= 0 else 0  # the row at a branch is the parent's
            t = np.arange(lo, n + 1)
            parts.append((t <= first_bad[i]) & (probs[i][lo - d : n - d + 1, col] > thr))
            if plan.parent[i] < 0:
                break
            i, n = plan.parent[i], d
        pre.append(np.concatenate(parts[::-1]))
    return acc, pre


def outputs_shared(
    net, words: Sequence[str], *, batch_symbols: int | None = None
) -> list[np.ndarray]:
    """:meth:`Network.outputs` of ``words``, each shared prefix run once.

    Returns one (len(word)+1, O) array per word, equal to ``net.outputs(words)``
    bit for bit; each is assembled from its paths' rows (a copy per word).

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> net = ex.Network.create("mgu", "ab", 3, head="next-set", rng=np.random.default_rng(2))
    >>> [o.shape for o in outputs_shared(net, ["ab", "abb"])]
    [(3, 3), (4, 3)]
    """
    words = _check(net, words)
    _check_budget(batch_symbols)
    if not words:
        return []
    plan = PrefixPlan(words)
    probs = _run_plan(net, plan, batch_symbols)

    def chain(i: int, n: int) -> list[np.ndarray]:
        # rows 0..n of path i's word: its own rows after its depth, the rest from
        # its ancestors (the row at a branch is the parent's: the same state)
        parts = []
        while plan.parent[i] >= 0:
            d = plan.depth[i]
            parts.append(probs[i][1 : n - d + 1])
            i, n = plan.parent[i], d
        parts.append(probs[i][: n - plan.depth[i] + 1])
        return parts[::-1]

    return [np.concatenate(chain(i, n)) for i, n in plan.where]


def prefix_accepts_shared(
    net, words: Sequence[str], *, batch_symbols: int | None = None
) -> list[np.ndarray]:
    """For each word, the acceptance of every one of its prefixes, shared prefixes run once.

    Returns one (len(word)+1,) bool array per word: entry ``t`` equals
    ``net.accepts([word[:t]])[0]``. One run along ``a^n b^(2n)`` thus decides
    ``a^n b^k`` for every ``k <= 2n`` (the frontier's continuation test).

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> net = ex.Network.create("gru", "ab", 3, head="accept", rng=np.random.default_rng(4))
    >>> got = prefix_accepts_shared(net, ["abab"])[0]
    >>> bool(np.array_equal(got, net.accepts(["", "a", "ab", "aba", "abab"])))
    True
    """
    return shared_acceptance(net, [], along=words, batch_symbols=batch_symbols)[1]
