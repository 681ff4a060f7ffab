"""State collection over a prefix tree: each distinct prefix is computed once.

On the CPU (``backend="cpu"``) the tree is stepped level by level: all prefixes
of length ``d`` are one batched ``net.step`` call on the states of their
parents, at the network's precision. On the GPU (``backend="cuda"``) the leaves
of the tree run as whole words in one kernel launch, and every prefix takes its
state from one of the leaves below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._util import check_words, head_rules

__all__ = ["BACKENDS", "PrefixStates", "check_backend", "collect_states", "prefix_tree"]

#: the values ``collect_states(..., backend=...)`` accepts ("auto": the GPU when there is one)
BACKENDS = ("cpu", "cuda", "auto")


def check_backend(backend: Any) -> str:
    """``"cpu"`` or ``"cuda"`` for one of :data:`BACKENDS` (``"auto"`` resolved), else ``ValueError``."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(
            f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}"
        )
    from expressivity.training.backends import resolve_backend

    return resolve_backend(backend)


@dataclass
class PrefixStates:
    """States, outputs and gate values of a network on every prefix of a sample.

    Rows are in breadth-first order (by length, row 0 the empty prefix).

    Attributes
    ----------
    alphabet : str
    parent : ndarray of int64, shape (P,)
        Row of the prefix without its last symbol (-1 for the empty prefix).
    symbol : ndarray of int64, shape (P,)
        Last symbol (alphabet index; -1 for the empty prefix).
    depth : ndarray of int64, shape (P,)
        Prefix length.
    children : ndarray of int64, shape (P, V)
        Row of ``prefix + symbol`` or -1 when it is not in the tree.
    states : ndarray, shape (P, S)
        Network state after each prefix (``concat(h, c)`` for an LSTM).
    outputs : ndarray, shape (P, O) or None
        Head probabilities after each prefix.
    gates : dict of str to ndarray (P, H), or None
        Gate activations of the step that produced each prefix (row 0: NaN).
    is_word : ndarray of bool, shape (P,)
        Whether the prefix is one of the words asked for (all True for ``max_len``).
    """

    alphabet: str
    parent: np.ndarray
    symbol: np.ndarray
    depth: np.ndarray
    children: np.ndarray
    states: np.ndarray
    outputs: np.ndarray | None = None
    gates: dict[str, np.ndarray] | None = None
    is_word: np.ndarray | None = None
    _prefixes: list[str] | None = field(default=None, repr=False)
    _index: dict[str, int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.parent.shape[0])

    @property
    def prefixes(self) -> list[str]:
        """The prefix strings, one per row (built on first use)."""
        if self._prefixes is None:
            out = [""] * len(self)
            alpha = self.alphabet
            par, sym = self.parent, self.symbol
            for i in range(1, len(self)):
                out[i] = out[par[i]] + alpha[sym[i]]
            self._prefixes = out
        return self._prefixes

    def index(self, prefix: str) -> int:
        """Row of ``prefix``; ``KeyError`` when it is not in the tree."""
        if self._index is None:
            self._index = {p: i for i, p in enumerate(self.prefixes)}
        try:
            return self._index[prefix]
        except KeyError:
            raise KeyError(f"prefix {prefix!r} is not in the collected tree") from None

    def level(self, d: int) -> slice:
        """Rows holding the prefixes of length ``d``."""
        lo = int(np.searchsorted(self.depth, d, side="left"))
        hi = int(np.searchsorted(self.depth, d, side="right"))
        return slice(lo, hi)

    def accepted(self, net: Any) -> np.ndarray:
        """Whether the network accepts each prefix (as ``net.accepts`` would).

        Derived from the head outputs: a prefix is accepted when every symbol was
        allowed by the state before it and its own state ends.
        """
        if self.outputs is None:
            raise ValueError("outputs were not collected: call collect_states(..., outputs=True)")
        end_ok, allowed = head_rules(net, self.outputs)
        alive = np.ones(len(self), dtype=bool)
        # BFS order: parents precede children, so one vectorised pass per level suffices
        for d in range(1, int(self.depth[-1]) + 1):
            sl = self.level(d)
            r = np.arange(sl.start, sl.stop)
            alive[r] = alive[self.parent[r]] & allowed[self.parent[r], self.symbol[r]]
        return alive & end_ok


def prefix_tree(
    words_or_max_len: Iterable[str] | int, alphabet: str, *, max_prefixes: int = 50_000_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Build a breadth-first prefix tree.

    Returns ``(parent, symbol, depth, children, is_word)`` (see :class:`PrefixStates`).

    Examples
    --------
    >>> parent, symbol, depth, children, is_word = prefix_tree(["ab", "b"], "ab")
    >>> parent.tolist(), symbol.tolist(), depth.tolist()
    ([-1, 0, 0, 1], [-1, 0, 1, 1], [0, 1, 1, 2])
    """
    v = len(alphabet)
    if v == 0:
        raise ValueError("empty alphabet")
    if isinstance(words_or_max_len, (int, np.integer)) and not isinstance(words_or_max_len, bool):
        max_len = int(words_or_max_len)
        if max_len < 0:
            raise ValueError(f"max_len must be >= 0, got {max_len}")
        sizes = [v**d for d in range(max_len + 1)]
        total = sum(sizes)
        if total > max_prefixes:
            raise ValueError(
                f"all words up to length {max_len} over {v} symbols make {total} prefixes, "
                f"more than max_prefixes={max_prefixes}"
            )
        parent = np.empty(total, dtype=np.int64)
        symbol = np.empty(total, dtype=np.int64)
        depth = np.empty(total, dtype=np.int64)
        parent[0], symbol[0], depth[0] = -1, -1, 0
        off = 1
        prev_off = 0
        for d in range(1, max_len + 1):
            n = sizes[d]
            i = np.arange(n, dtype=np.int64)
            parent[off : off + n] = prev_off + i // v
            symbol[off : off + n] = i % v
            depth[off : off + n] = d
            prev_off, off = off, off + n
        is_word = np.ones(total, dtype=bool)
    else:
        words = check_words(words_or_max_len, alphabet)
        index = {c: i for i, c in enumerate(alphabet)}
        node: dict[tuple[int, int], int] = {}
        par = [-1]
        sym = [-1]
        dep = [0]
        word_end = {0: False}
        for w in words:
            cur = 0
            for ch in w:
                key = (cur, index[ch])
                nxt = node.get(key)
                if nxt is None:
                    nxt = len(par)
                    node[key] = nxt
                    par.append(cur)
                    sym.append(key[1])
                    dep.append(dep[cur] + 1)
                    if len(par) > max_prefixes:
                        raise ValueError(f"sample has more than max_prefixes={max_prefixes}")
                cur = nxt
            word_end[cur] = True
        dep_a = np.asarray(dep, dtype=np.int64)
        order = np.argsort(dep_a, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        par_a = np.asarray(par, dtype=np.int64)[order]
        parent = np.where(par_a >= 0, rank[np.maximum(par_a, 0)], -1)
        symbol = np.asarray(sym, dtype=np.int64)[order]
        depth = dep_a[order]
        is_word = np.zeros(order.size, dtype=bool)
        ends = np.fromiter((k for k, e in word_end.items() if e), dtype=np.int64)
        is_word[rank[ends]] = True
    children = np.full((parent.size, v), -1, dtype=np.int64)
    nz = np.arange(1, parent.size)
    children[parent[nz], symbol[nz]] = nz
    return parent, symbol, depth, children, is_word


def collect_states(
    net: Any,
    words_or_max_len: Iterable[str] | int,
    *,
    outputs: bool = True,
    gates: bool = False,
    max_prefixes: int = 50_000_000,
    backend: str = "cpu",
) -> PrefixStates:
    """Run a network over every distinct prefix of a sample, each prefix once.

    Parameters
    ----------
    net : Network
        Any network with ``initial_state``, ``step`` and ``readout``; the
        computation happens at its precision.
    words_or_max_len : list of str or int
        The words (their prefix tree is computed) or a maximum length (all words
        up to it).
    outputs : bool
        Also compute the head probabilities of every prefix.
    gates : bool
        Also keep the gate activations of every step (``net.step(..., return_gates=True)``).
    max_prefixes : int
        Refuse trees larger than this.
    backend : {"cpu", "cuda"}
        ``"cpu"``: one batched ``net.step`` per depth, on the states of the
        parents. ``"cuda"`` (needs :func:`expressivity.kernels.cuda.available`:
        a CUDA GPU, or ``NUMBA_ENABLE_CUDASIM=1``; ``net`` must be a
        :class:`~expressivity.Network`): the leaves of the tree (prefixes
        without children) run as whole words through
        :func:`~expressivity.kernels.cuda.forward_cuda` in ONE launch, and each
        prefix takes the state (and gates) at its depth from one leaf below it.
        The GPU recomputes the prefixes that leaves share, once per leaf, which
        costs less than a launch and a host round trip per depth; the price is
        host memory for the leaves' whole trajectories (about ``max_len`` times
        the tree's states for a ``max_len`` tree, plus the gates). The result is
        identical to ``"cpu"`` under the CUDA simulator; on a GPU it may differ
        by a few ULPs (see :mod:`expressivity.kernels.cuda`). Outputs are
        computed with ``net.readout`` on the host either way.

    Returns
    -------
    PrefixStates

    Raises
    ------
    ValueError
        If ``backend`` is not one of :data:`BACKENDS`, or the tree is too large.
    RuntimeError
        If ``backend="cuda"`` and neither a CUDA GPU nor the simulator is available.

    Examples
    --------
    >>> ps = collect_states(net, 3)                        # doctest: +SKIP
    >>> ps.states[ps.index("ab")]                           # doctest: +SKIP
    """
    backend = check_backend(backend)
    if backend == "cuda":
        need = (
            "collect_states(..., backend='cuda') needs a CUDA GPU "
            "(or the CUDA simulator: set NUMBA_ENABLE_CUDASIM=1 before numba is imported)"
        )
        try:
            from expressivity.kernels import cuda as kcuda
        except ImportError as err:
            raise RuntimeError(f"{need} and numba-cuda (pip install 'expressivity[cuda]')") from err
        if not kcuda.available():
            raise RuntimeError(need)
    alphabet = str(net.alphabet)
    parent, symbol, depth, children, is_word = prefix_tree(
        words_or_max_len, alphabet, max_prefixes=max_prefixes
    )
    h0 = np.asarray(net.initial_state())
    n = parent.size
    if backend == "cuda":
        states, gate_arrays = _collect_cuda(net, parent, symbol, depth, children, h0, gates)
    else:
        states, gate_arrays = _collect_cpu(net, parent, symbol, depth, h0, gates)
    outs = None
    if outputs:
        chunk = 1 << 18
        parts = [np.asarray(net.readout(states[i : i + chunk])) for i in range(0, n, chunk)]
        outs = np.concatenate(parts, axis=0)
    return PrefixStates(
        alphabet=alphabet,
        parent=parent,
        symbol=symbol,
        depth=depth,
        children=children,
        states=states,
        outputs=outs,
        gates=gate_arrays,
        is_word=is_word,
    )


def _collect_cpu(
    net: Any, parent: np.ndarray, symbol: np.ndarray, depth: np.ndarray, h0: np.ndarray, gates: bool
) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
    """States (and gates) of every row, one batched ``net.step`` per depth."""
    n = parent.size
    states = np.empty((n, h0.shape[0]), dtype=h0.dtype)
    states[0] = h0
    gate_arrays: dict[str, np.ndarray] | None = {} if gates else None
    max_d = int(depth[-1])
    lo = 1
    for d in range(1, max_d + 1):
        hi = int(np.searchsorted(depth, d, side="right"))
        par = parent[lo:hi]
        syms = symbol[lo:hi]
        if gates:
            nxt, gd = net.step(states[par], syms, return_gates=True)
            for name, val in gd.items():
                val = np.asarray(val)
                if name not in gate_arrays:
                    gate_arrays[name] = np.full((n, val.shape[1]), np.nan, dtype=val.dtype)
                gate_arrays[name][lo:hi] = val
        else:
            nxt = net.step(states[par], syms)
        states[lo:hi] = nxt
        lo = hi
    return states, gate_arrays


def _leaf_below(parent: np.ndarray, depth: np.ndarray, is_leaf: np.ndarray) -> np.ndarray:
    """For every row, a leaf in its subtree (itself if it is a leaf).

    Deepest level first: a row with children takes the leaf of one of them (the
    last one a fancy assignment writes; any child will do).
    """
    leaf = np.where(is_leaf, np.arange(parent.size, dtype=np.int64), -1)
    hi = parent.size
    for d in range(int(depth[-1]), 0, -1):
        lo = int(np.searchsorted(depth, d, side="left"))
        leaf[parent[lo:hi]] = leaf[lo:hi]  # children at depth d are final already
        hi = lo
    return leaf


def _leaf_words(
    parent: np.ndarray, symbol: np.ndarray, depth: np.ndarray, leaves: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Integer-coded words of the given rows, ``(symbols (N, T) int32, lengths (N,))``.

    Built by walking up the tree from every row at once: ``max depth`` vectorised steps.
    """
    lengths = depth[leaves]
    T = int(lengths.max()) if lengths.size else 0
    symbols = np.zeros((leaves.size, T), dtype=np.int32)
    cur = leaves.copy()
    idx = np.arange(leaves.size)
    for _ in range(T):
        pos = depth[cur] - 1
        live = pos >= 0
        idx, cur, pos = idx[live], cur[live], pos[live]
        symbols[idx, pos] = symbol[cur]
        cur = parent[cur]
    return symbols, lengths


def _collect_cuda(
    net: Any,
    parent: np.ndarray,
    symbol: np.ndarray,
    depth: np.ndarray,
    children: np.ndarray,
    h0: np.ndarray,
    gates: bool,
) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
    """States (and gates) of every row from one GPU launch over the tree's leaves."""
    from expressivity.kernels.cuda import forward_cuda

    is_leaf = ~(children >= 0).any(axis=1)
    leaves = np.flatnonzero(is_leaf)
    batch, traj = forward_cuda(net, *_leaf_words(parent, symbol, depth, leaves))
    # word j (the j-th leaf) sits in flat lane lane[j] = c * L + l
    lane = np.empty(batch.n, dtype=np.int64)
    lane[batch.order] = np.arange(batch.n)
    word_of_row = np.full(parent.size, -1, dtype=np.int64)
    word_of_row[leaves] = np.arange(leaves.size)
    w = lane[word_of_row[_leaf_below(parent, depth, is_leaf)]]
    c, l = w // batch.width, w % batch.width
    states = traj["states"][c, depth, :, l].astype(h0.dtype, copy=False)  # (P, S)
    gate_arrays: dict[str, np.ndarray] | None = None
    if gates:
        gate_arrays = {}
        if parent.size > 1:  # as on the CPU: no step, no gate arrays
            g = traj["gates"][c[1:], depth[1:] - 1, :, :, l[1:]]  # (P-1, G, H)
            for k, spec in enumerate(net.spec.gates):
                arr = np.full((parent.size, g.shape[2]), np.nan, dtype=g.dtype)
                arr[1:] = g[:, k]
                gate_arrays[spec.name] = arr
    return states, gate_arrays
