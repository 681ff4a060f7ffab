"""End-of-epoch accuracy and loss of many networks at once, prefixes shared, bit for bit.

:func:`expressivity.training.records.dataset_accuracy` and ``dataset_loss``
evaluate one network: a :class:`~expressivity.network.Network` built from its
weights, a forward pass over every word (one for the accuracy, one for the
loss), the head's probabilities as numpy arrays. At the end of a population's
epoch that cost more per network than ~20 of its one-word training updates
(issue 14). Here the networks that end an epoch together are evaluated in one
numba call:

- a dataset's words become a trie once per run (:class:`EvalPlan`; the
  words in lexicographic order, each sharing its longest common prefix with
  the one before): each prefix runs once, and a word's answer is read from
  the nodes on its path. A word's states do not depend on the other words of
  its batch (the kernels' lanes are independent), so a run continued from a
  stored state equals the whole-word run bit for bit (as in
  :mod:`expressivity.prefixes`);
- from :data:`LANES_MIN` networks, the networks are the SIMD lanes (their
  weights lane-last, in blocks of 8-lane vectors, one block per thread) and
  the trie's nodes run one after another: each lane does the operations of
  the forward kernel (:mod:`expressivity.kernels.cpu`) in the same order,
  the products and, in a native float32 format, the elementwise steps as
  explicit vectors (:mod:`expressivity.kernels.vec8`, bit for bit the scalar
  functions); fewer networks run the trie's chains (the words' new parts),
  level by level, as the word lanes of
  :func:`expressivity.kernels.cpu.forward_kernel_serial` itself, in chunks
  of up to :data:`CHUNK_WIDTH`;
- the weights are rounded and packed from the float64 master weights for all
  networks at once (:func:`rounded_weights`), without building a Network;
  the threads are as many as the work justifies (:mod:`expressivity._threads`);
- the heads are computed as in :mod:`expressivity.heads`, with the same
  operations in the same order (the readout summed over units from zero, one
  rounding; the softmax's ``np.exp`` taken by numpy itself, on all networks'
  logits at once), and the loss's per-position terms are laid out as
  :meth:`Network.loss_encoded` lays them out and summed by numpy, so the sum
  takes the same order.

So every word's acceptance equals :meth:`Network.accepts_encoded`, every
accuracy ``dataset_accuracy`` and every loss ``dataset_loss``
(``tests/test_evaluation_speed.py``). It serves the ``accept`` and
``next-symbol`` heads on datasets of at least two words in the networks'
alphabet (:func:`supported`); anything else goes through ``dataset_accuracy``.

Examples
--------
>>> import numpy as np
>>> import expressivity as ex
>>> from expressivity.languages import get_language
>>> from expressivity.protocols import get_protocol
>>> from expressivity.training.records import dataset_accuracy
>>> ds = get_protocol("weiss2018").validation_data(get_language("anbn"),
...                                                np.random.default_rng(0), 0, 4)
>>> nets = [ex.Network.create("gru", "ab", 3, head="next-symbol", rng=np.random.default_rng(s))
...         for s in (0, 1)]
>>> population_accuracy(nets, [ds, ds]) == [dataset_accuracy(n, ds) for n in nets]
True
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, types
from numba.extending import overload

from expressivity._threads import threads_for
from expressivity.activations import relu, sigmoid, tanh
from expressivity.cells import ACTIVATIONS, UPDATES
from expressivity.kernels.cpu import NATIVE, forward_kernel_serial, rnd
from expressivity.kernels.vec8 import (
    VL,
    vadd,
    vfill,
    vge,
    vgt,
    vload,
    vmul,
    vsigmoid,
    vstore,
    vsub,
    vtanh,
)

__all__ = [
    "CHUNK_WIDTH",
    "EvalPlan",
    "LANES_MAX_BYTES",
    "LANES_MIN",
    "Evaluator",
    "population_accuracy",
    "rounded_weights",
    "supported",
]

#: lanes per chunk of chains (words sorted by length; a chunk runs to its longest)
CHUNK_WIDTH = 16
#: from this many networks they are evaluated as SIMD lanes (one trie node at a time)
LANES_MIN = 8
#: ... in groups whose states at every trie node take at most this much memory
LANES_MAX_BYTES = 256 * 1024 * 1024

_HEADS = {"accept": 0, "next-symbol": 1}
_ZERO32, _ONE32 = np.float32(0.0), np.float32(1.0)


def supported(net, ds) -> bool:
    """Whether :func:`population_accuracy` serves ``net`` on ``ds`` (else use
    ``dataset_accuracy``): an ``accept`` or ``next-symbol`` head, and a dataset of
    at least two words in the network's alphabet.

    (A single word would run in a one-lane chunk, where numpy sums the softmax's
    exponentials in another order than in a wider chunk.)

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> from expressivity.languages import Dataset, get_language
    >>> net = ex.Network.create("gru", "ab", 3, head="accept", rng=np.random.default_rng(0))
    >>> supported(net, Dataset.from_words(get_language("anbn"), ["ab", "ba"]))
    True
    """
    return net.head in _HEADS and len(ds) >= 2 and tuple(ds.alphabet) == tuple(net.alphabet)


class EvalPlan:
    """A dataset's words as a trie cut into chains and chunks (made once per dataset).

    Attributes
    ----------
    n_nodes : int
        Trie nodes, the root (the empty prefix) included; node 0 is the root, and
        a node's parent has a smaller index.
    n_words : int
    steps : int
        Forward steps of one network (one per node but the root).
    arrays : tuple
        What the kernels read (see :func:`_forward_nodes_one`).

    Examples
    --------
    >>> import numpy as np
    >>> from expressivity.languages import Dataset, get_language
    >>> plan = EvalPlan(Dataset.from_words(get_language("anbn"), ["aabb", "ab", "aab", ""]))
    >>> plan.n_nodes, plan.steps
    (6, 5)
    """

    def __init__(self, ds, width: int = CHUNK_WIDTH):
        symbols = np.ascontiguousarray(ds.symbols, dtype=np.int32)
        lengths = np.ascontiguousarray(ds.lengths, dtype=np.int64)
        N, T = symbols.shape
        # words in lexicographic order (a word before its extensions): each shares
        # its longest common prefix with the word before it, whose path is known
        keys = np.where(np.arange(T)[None, :] < lengths[:, None], symbols + 1, 0)
        order = np.lexsort(keys.T[::-1]) if T else np.arange(N)  # T = 0: all empty
        parent, sym, end, chains, M, nc = _trie(symbols, lengths, order.astype(np.int64))
        parent, sym, chains = parent[:M], sym[:M], chains[:nc]
        # chains by level (a chain starts from a node of a lower level), longest first
        ch = chains[np.lexsort((-chains[:, 3], chains[:, 0]))]
        level = ch[:, 0]
        cut = [0]  # chunks: at most ``width`` chains of one level
        for lev_start in np.flatnonzero(np.r_[True, level[1:] != level[:-1]]).tolist() + [nc]:
            while cut[-1] + width < lev_start:
                cut.append(cut[-1] + width)
            if lev_start > cut[-1]:
                cut.append(lev_start)
        cut = np.array(cut, dtype=np.int64)
        widths = np.diff(cut)
        steps = ch[cut[:-1], 3] if nc else np.zeros(0, dtype=np.int64)
        sym_off = np.zeros(len(widths) + 1, dtype=np.int64)
        np.cumsum(widths * steps, out=sym_off[1:])
        sym_flat = _chunk_symbols(sym, ch, cut, steps, sym_off)
        self.n_nodes, self.n_words = int(M), N
        self.steps = int(M) - 1
        self.max_steps = int(steps.max()) if len(steps) else 0
        self.max_width = int(widths.max()) if len(widths) else 1
        self.arrays = (widths, steps, sym_off, cut, sym_flat, ch[:, 3].copy(), ch[:, 1].copy(),
                       ch[:, 2].copy(), parent, sym, end)  # fmt: skip


@njit(cache=True)
def _trie(symbols, lengths, order):
    """The trie of the words taken in ``order`` (lexicographic): nodes numbered as made
    (node 0 the root; a parent before its children); the nodes a word adds form one
    chain. Returns parent, symbol and level... arrays (sized for the worst case), each
    word's end node, the chains (level, start node, first node, length), and counts."""
    N = lengths.shape[0]
    cap = 1 + int(lengths.sum())
    parent = np.full(cap, -1, dtype=np.int64)
    sym = np.zeros(cap, dtype=np.int64)
    level = np.zeros(cap, dtype=np.int64)
    end = np.zeros(N, dtype=np.int64)
    chains = np.zeros((N, 4), dtype=np.int64)
    path = np.zeros(symbols.shape[1] + 1, dtype=np.int64)  # the previous word's nodes
    M, nc, prev = 1, 0, -1
    for i in range(N):
        w = order[i]
        n = lengths[w]
        lcp = 0
        if prev >= 0:
            most = min(n, lengths[prev])
            while lcp < most and symbols[w, lcp] == symbols[prev, lcp]:
                lcp += 1
        if lcp < n:
            lev = level[path[lcp]] + 1
            chains[nc, 0] = lev
            chains[nc, 1] = path[lcp]
            chains[nc, 2] = M
            chains[nc, 3] = n - lcp
            nc += 1
            for t in range(lcp, n):
                parent[M] = path[t]
                sym[M] = symbols[w, t]
                level[M] = lev
                path[t + 1] = M
                M += 1
        end[w] = path[n]
        prev = w
    return parent, sym, end, chains, M, nc


@njit(cache=True)
def _chunk_symbols(sym, ch, cut, steps, sym_off):
    """Each chunk's symbols (steps, width), chain ``l`` of the chunk in lane ``l``."""
    out = np.zeros(sym_off[-1], dtype=np.int32)
    for c in range(cut.shape[0] - 1):
        L = cut[c + 1] - cut[c]
        for l in range(L):
            first = ch[cut[c] + l, 2]
            for t in range(ch[cut[c] + l, 3]):
                out[sym_off[c] + t * L + l] = sym[first + t]
    return out


def rounded_weights(net, params: list | None = None) -> tuple:
    """The weights ``net.with_params(params[p])`` would run, packed for the kernels,
    for every ``p``, stacked.

    Rounded from the float64 weights (``params``: one dict per network, default
    ``net``'s own as given) as :class:`~expressivity.network.Network` rounds them,
    and packed as :func:`expressivity.params.pack` packs them (the same operations,
    on all networks at once), without building a Network.

    Returns
    -------
    tuple
        ``(XW, U, bias, d, s0, W_out, b_out)`` in the carrier dtype, each with a
        leading axis over the networks; ``s0`` the initial state (``h0``, then
        ``c0`` for the LSTM).

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> net = ex.Network.create("lstm", "ab", 3, rng=np.random.default_rng(0))
    >>> w = rounded_weights(net)
    >>> w[0].shape, w[4].shape, w[5].dtype.name
    ((1, 2, 4, 3), (1, 6), 'float32')
    """
    prec, spec, dt = net.precision, net.spec, net.precision.carrier
    params = [net.source_params] if params is None else list(params)
    P, V, H = len(params), len(net.alphabet), net.hidden_size
    p = {k: prec.round(np.stack([np.asarray(q[k], dtype=np.float64) for q in params]))
         for k in params[0]}  # fmt: skip
    # expressivity.params.pack, with the networks' axis in front
    G = len(spec.gates)
    if "embedding" in p:
        X = np.swapaxes(p["embedding"], 1, 2).astype(dt)  # (P, V, E)
    else:
        X = np.broadcast_to(np.eye(V, dtype=dt), (P, V, V))
    XW = np.zeros((P, V, G, H), dtype=dt)
    U = np.zeros((P, G, H, H), dtype=dt)
    bias = np.zeros((P, G, H), dtype=dt)
    d = np.zeros((P, H), dtype=dt)
    for g, gate in enumerate(spec.gates):
        if gate.W:
            W = p[f"W_{gate.name}"]
            for k in range(W.shape[2]):
                XW[:, :, g, :] += X[:, :, k, None] * W[:, None, :, k]
        if gate.U:
            U[:, g] = p[f"U_{gate.name}"]
        if gate.b:
            bias[:, g] = p[f"b_{gate.name}"]
        if gate.reset_after:
            d[:] = p[f"d_{gate.name}"]
    s0 = np.concatenate([p["h0"], p["c0"]], axis=1) if spec.has_cell_state else p["h0"]
    return XW, U, bias, d, s0, p["W_out"], p["b_out"]


class Evaluator:
    """Accuracies of a population's networks (one shape) on their datasets, in one call.

    Keeps each dataset's :class:`EvalPlan` (datasets are recognised by identity,
    and kept alive with their plans) so that a run's epochs build it once.

    Parameters
    ----------
    net : Network
        Any network of the population (cell, alphabet, head, precision, sizes).

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> from expressivity.languages import Dataset, get_language
    >>> ds = Dataset.from_words(get_language("anbn"), ["ab", "aabb", "ba"])
    >>> net = ex.Network.create("mgu", "ab", 4, head="accept", rng=np.random.default_rng(0))
    >>> acc = Evaluator(net).accuracies(rounded_weights(net), [net.threshold], [ds])
    >>> len(acc), 0.0 <= acc[0] <= 1.0
    (1, True)
    """

    def __init__(self, net):
        self.net = net
        self.plans: dict = {}
        self.buffers: dict = {}
        self.cfg = np.asarray(net.spec.config(), dtype=np.int64)
        prec = net.precision
        self.prec = NATIVE if prec.is_native else prec.code
        self.dt = np.dtype(prec.carrier)

    def plan(self, ds) -> EvalPlan:
        """The dataset's plan (made on first use)."""
        got = self.plans.get(id(ds))
        if got is None or got[0] is not ds:
            got = self.plans[id(ds)] = (ds, EvalPlan(ds))
        return got[1]

    def accuracies(self, weights: tuple, thresholds: list, datasets: list) -> list[float]:
        """Accuracy of each network on its dataset: ``weights`` the networks'
        :func:`rounded_weights` (stacked), ``thresholds`` their heads' thresholds;
        every dataset :func:`supported` by the networks."""
        return [a for a, _ in self.scores(weights, thresholds, datasets)]

    def scores(self, weights: tuple, thresholds: list, datasets: list, losses=None) -> list:
        """``(accuracy, loss)`` of each network on its dataset, as
        ``dataset_accuracy`` and ``dataset_loss`` compute them; the loss only where
        ``losses[p]`` is true (else None). Arguments as for :meth:`accuracies`."""
        losses = [False] * len(thresholds) if losses is None else list(losses)
        acc, probs = self._evaluate(weights, thresholds, datasets)
        out = []
        for p, ds in enumerate(datasets):
            a = float(np.count_nonzero(acc[p] == ds.labels)) / len(ds)
            out.append((a, self._loss(ds, *probs[p]) if losses[p] else None))
        return out

    def accepts(self, weights: tuple, thresholds: list, datasets: list) -> list[np.ndarray]:
        """Each network's acceptance of each word of its dataset (as
        :meth:`Network.accepts_encoded`), arguments as for :meth:`accuracies`."""
        return self._evaluate(weights, thresholds, datasets)[0]

    def _evaluate(self, weights, thresholds, datasets):
        P = len(thresholds)
        acc: list = [None] * P
        probs: list = [None] * P
        groups: dict = {}
        for p, ds in enumerate(datasets):
            groups.setdefault(id(ds), []).append(p)
        for members in groups.values():
            plan = self.plan(datasets[members[0]])
            stacked = weights if len(members) == P else [a[members] for a in weights]
            thr = np.array([thresholds[p] for p in members], dtype=self.dt)
            a, pr = self._run(plan, stacked, thr)
            for j, p in enumerate(members):
                acc[p], probs[p] = a[j], (plan, *pr[j])
        return acc, probs

    def _loss(self, ds, plan, pr, x) -> float:
        """``dataset_loss``: the same terms in the same lane layout, summed by numpy."""
        from expressivity.batching import FORWARD_MAX_WIDTH, chunk_width

        head = _HEADS[self.net.head]
        sub = np.flatnonzero(ds.labels) if head else np.arange(len(ds))
        n = len(sub)
        if n == 0:
            return float("nan")
        L = chunk_width(n, FORWARD_MAX_WIDTH)  # as Network.loss_encoded chunks them
        words = sub[np.argsort(-ds.lengths[sub], kind="stable")]
        if head == 0:  # binary cross-entropy of the acceptance probability at the end
            pl = pr[words, x].astype(np.float64)
            y = ds.labels[words].astype(np.float64)
            eps = 1e-300
            loss = -(y * np.log(pl + eps) + (1 - y) * np.log(1 - pl + eps)).sum()
            return float(loss) / n
        C, T1 = max(1, -(-n // L)), int(ds.lengths[sub].max()) + 1
        q = np.ones((C, T1, L), dtype=self.dt)  # 1 (a zero term) where there is no target
        _loss_terms(pr, x, plan.arrays[8], plan.arrays[10], ds.next_symbol, ds.lengths, words, q)
        with np.errstate(divide="ignore"):  # a zero probability: an infinite loss
            return float(-np.log(q.astype(np.float64)).sum()) / n

    def _run(self, plan: EvalPlan, w: list, thr: np.ndarray):
        """Acceptance (P, words) and, per network, its probabilities ``(array, lane)``:
        next-symbol ``array[node, o, lane]``, accept ``array[word, lane]``."""
        net = self.net
        P = len(thr)
        G, H = len(net.spec.gates), net.hidden_size
        head = _HEADS[net.head]
        work = P * plan.steps * G * H * (H + 8)
        O = w[5].shape[1]
        acc = np.zeros((P, plan.n_words), dtype=np.bool_)
        # networks as lanes, the trie's nodes one after another, in groups whose node
        # states (every node's, every lane's) fit in LANES_MAX_BYTES
        per_lane = plan.n_nodes * (net.state_size + O) * self.dt.itemsize
        most = min(P, LANES_MAX_BYTES // per_lane) // VL * VL
        if P >= LANES_MIN and most >= VL:
            pr = []
            for g0 in range(0, P, most):
                part = slice(g0, min(P, g0 + most))
                n = part.stop - part.start
                nb = max(1, min(threads_for(work * n / P), n // VL))
                Lb = -(-n // (nb * VL)) * VL
                pr += self._lanes(plan, [a[part] for a in w], thr[part], head, nb, Lb,
                                  acc[part])  # fmt: skip
            return acc, pr
        # a few networks: the trie's chains as word lanes of the forward kernel
        nt = min(threads_for(work), P)
        x = np.empty((P, plan.n_nodes if head else plan.n_words, O), dtype=self.dt)
        sizes = (plan.max_steps, plan.max_width, net.state_size)
        _run_parts(
            _forward_nodes_range,
            nt,
            (plan.arrays, *w, self.cfg, self.prec, thr, head, sizes, nt, x, acc),
        )
        if head:
            x = np.exp(x)  # numpy's exponential, as heads.probabilities takes it
            _run_parts(
                _next_symbol_accepts_range,
                nt,
                (plan.arrays, x, self.prec, thr, nt, acc),
            )
        if head:
            return acc, [(x[p].reshape(x.shape[1], O, 1), 0) for p in range(P)]
        return acc, [(x[p], 0) for p in range(P)]

    def _lanes(self, plan, w, thr, head, nb, Lb, acc):
        """Networks as lanes: ``nb`` blocks of ``Lb`` lanes (the last ones padding)."""
        P, Pp = len(thr), nb * Lb

        def blocks(a, flat):  # (P, ...) -> (nb, ..., Lb), padding lanes zero
            pad = np.zeros((Pp,) + a.shape[1:], dtype=a.dtype)
            pad[:P] = a
            out = np.ascontiguousarray(np.moveaxis(pad.reshape((nb, Lb) + a.shape[1:]), 1, -1))
            return out.reshape(out.shape[:-2] + (-1,)) if flat else out

        XW, U, bias, d, s0, W_out, b_out = w
        lw = (blocks(XW, True), blocks(U, False), blocks(bias, True), blocks(d, True),
              blocks(s0, True), blocks(W_out, False), blocks(b_out, False))  # fmt: skip
        thr_b = blocks(thr, False)
        M, S, O = plan.n_nodes, self.net.state_size, W_out.shape[1]
        node = self._buffer("node", (nb, M, S * Lb))
        x = np.empty((nb, M if head else plan.n_words, O * Lb), dtype=self.dt)
        out = np.zeros((nb, plan.n_words, Lb), dtype=np.bool_)
        _run_parts(
            _lanes_nodes_range,
            nb,
            (plan.arrays, *lw, self.cfg, self.prec, thr_b, head, node, x, out),
        )
        if head:
            x = np.exp(x)  # numpy's exponential, as heads.probabilities takes it
            _run_parts(
                _lanes_accepts_range,
                nb,
                (plan.arrays, x, self.prec, thr_b, out),
            )
        acc[:] = np.moveaxis(out, 1, 2).reshape(nb * Lb, -1)[:P]
        if head:
            x4 = x.reshape(nb, M, O, Lb)
            return [(x4[p // Lb], p % Lb) for p in range(P)]
        return [(x[p // Lb], p % Lb) for p in range(P)]

    def _buffer(self, name: str, shape: tuple) -> np.ndarray:
        """A scratch array kept between calls (a fresh large one costs page faults)."""
        a = self.buffers.get(name)
        n = int(np.prod(shape))
        if a is None or a.size < n:
            a = self.buffers[name] = np.empty(n, dtype=self.dt)
        return a[:n].reshape(shape)


def _run_parts(kernel, n: int, args: tuple) -> None:
    """``kernel(i, i + 1, args)`` for i < n: in this thread for n = 1, else each on its own
    thread (the kernels release the GIL; no parallel region to compile, no pool that
    spins)."""
    if n <= 1:
        kernel(0, n, args)
        return
    with ThreadPoolExecutor(n) as pool:
        for job in [pool.submit(kernel, i, i + 1, args) for i in range(n)]:
            job.result()


def population_accuracy(nets, datasets, params: list | None = None) -> list[float]:
    """``[dataset_accuracy(net, ds) ...]`` for networks of one shape, in one call.

    Parameters
    ----------
    nets : networks sharing cell, alphabet, head, precision and sizes
    datasets : one dataset per network (the same object for several is cheaper)
    params : optional float64 weights per network (as for ``Network.with_params``);
        default each network's own

    Returns
    -------
    list of float
        Per network, the fraction of its dataset's words it gets right (as
        ``dataset_accuracy``; NaN for an empty dataset).

    Raises
    ------
    ValueError
        The lists differ in length, the networks differ in shape, or a
        network's head or dataset is not :func:`supported`.
    """
    nets, datasets = list(nets), list(datasets)
    params = [None] * len(nets) if params is None else list(params)
    if not len(nets) == len(datasets) == len(params):
        raise ValueError(
            f"population_accuracy: {len(nets)} networks, {len(datasets)} datasets and "
            f"{len(params)} weight sets; one of each per network"
        )
    if not nets:
        return []
    ref = nets[0]
    for p, net in enumerate(nets):
        same = (net.cell, net.alphabet, net.head, net.precision.name, net.hidden_size,
                net.embedding_size) == (ref.cell, ref.alphabet, ref.head, ref.precision.name,
                                        ref.hidden_size, ref.embedding_size)  # fmt: skip
        if not same:
            raise ValueError(
                f"population_accuracy: network {p} ({net!r}) differs in shape from network 0 "
                f"({ref!r}); evaluate networks of one cell, alphabet, head, precision and size"
            )
    out: list = [float("nan")] * len(nets)
    live = [p for p in range(len(nets)) if len(datasets[p])]
    for p in live:
        if not supported(nets[p], datasets[p]):
            raise ValueError(
                f"population_accuracy: network {p} (head {nets[p].head!r}) on its dataset "
                f"({len(datasets[p])} words, alphabet {datasets[p].alphabet!r}) is not supported: "
                "heads 'accept' and 'next-symbol', at least two words in the network's alphabet"
            )
    if not live:
        return out
    weights = rounded_weights(ref, [nets[p].source_params if params[p] is None else params[p]
                                    for p in live])  # fmt: skip
    acc = Evaluator(ref).accuracies(weights, [nets[p].threshold for p in live],
                                    [datasets[p] for p in live])  # fmt: skip
    for p, a in zip(live, acc):
        out[p] = a
    return out


# ----------------------------------------------------------------------------- kernels


@njit(cache=True)
def _readout(W_out, b_out, node, u, H, p, prec, z):
    """z[o] = rnd(sum_k W[o, k] h[k] + b[o]), k ascending from zero (heads.logits' order)."""
    zero = z.dtype.type(0.0)
    for o in range(W_out.shape[1]):
        acc = zero
        for k in range(H):
            acc += W_out[p, o, k] * node[u, k]
        acc = acc + b_out[p, o]
        z[o] = rnd(acc, prec)


@njit(cache=True)
def _forward_nodes_one(w, plan, XW, U, bias, d, s0, W_out, b_out, cfg, prec, thr, head, sizes, nt, x,
                   accepted):  # fmt: skip
    """Every network's state at every trie node (the chains of ``plan`` as the word
    lanes of the forward kernel, network after network on thread ``p % nt``), then
    its head.

    ``head`` 0 (accept): each word's acceptance into ``accepted`` (P, words) and
    its probability into ``x`` (P, words, 1). ``head`` 1 (next-symbol): writes
    ``rnd(z - max z)`` of every node into ``x`` (P, nodes, O) for numpy's
    exponential (:func:`_next_symbol_accepts_one` takes it from there).
    """
    widths, steps, sym_off, lane_off, sym_flat, lane_len, lane_start, lane_first = plan[:8]
    end = plan[10]
    P = XW.shape[0]
    G, H = U.shape[1], U.shape[2]
    O = W_out.shape[1]
    M = plan[8].shape[0]
    Tm, Lm, S = sizes
    dt = XW.dtype
    node = np.empty((M, S), dtype=dt)
    sbuf = np.empty((Tm + 1) * S * Lm, dtype=dt)
    gbuf = np.empty(Tm * G * H * Lm, dtype=dt)
    abuf = np.empty(Tm * H * Lm, dtype=dt)
    z = np.empty(O, dtype=dt)
    for p in range(w, P, nt):
        for s in range(S):
            node[0, s] = s0[p, s]
        for c in range(widths.shape[0]):
            L = widths[c]
            T = steps[c]
            lo = lane_off[c]
            so = sym_off[c]
            sym = sym_flat[so : so + T * L].reshape(1, T, L)
            lens = lane_len[lo : lo + L].reshape(1, L)
            st = sbuf[: (T + 1) * S * L].reshape(1, T + 1, S * L)
            gt = gbuf[: T * G * H * L].reshape(1, T, G, H * L)
            ax = abuf[: T * H * L].reshape(1, T, H * L)
            for l in range(L):
                u = lane_start[lo + l]
                for s in range(S):
                    st[0, 0, s * L + l] = node[u, s]
            forward_kernel_serial(sym, lens, XW[p], U[p], bias[p], d[p], cfg, prec, st, gt,
                                  ax)  # fmt: skip
            for l in range(L):
                f = lane_first[lo + l] - 1
                for t in range(1, lane_len[lo + l] + 1):
                    for s in range(S):
                        node[f + t, s] = st[0, t, s * L + l]
        if head == 0:
            for i in range(end.shape[0]):
                _readout(W_out, b_out, node, end[i], H, p, prec, z)
                pr = rnd(sigmoid(z[0]), prec)
                x[p, i, 0] = pr
                accepted[p, i] = pr > thr[p]
        else:
            for u in range(M):
                _readout(W_out, b_out, node, u, H, p, prec, z)
                m = z[0]
                for o in range(1, O):  # np.max: NaN if any is NaN
                    v = z[o]
                    if m != m:
                        break
                    if v != v or v > m:
                        m = v
                for o in range(O):
                    x[p, u, o] = rnd(z[o] - m, prec)


@njit(cache=True, nogil=True)
def _forward_nodes_range(lo, hi, args):
    """:func:`_forward_nodes_one` for w = lo..hi-1 (``nogil``: one call per thread)."""
    for w in range(lo, hi):
        _forward_nodes_one(w, *args)


@njit(cache=True)
def _next_symbol_accepts_one(w, plan, e, prec, thr, nt, accepted):
    """Acceptance under the next-symbol head, from ``e = exp(x)`` (P, nodes, O).

    At each node: ``p = rnd(rnd(e) / rnd(sum of rnd(e)))`` (heads.probabilities'
    order: the outputs summed from the first); a word is accepted when every
    symbol it reads, and the end marker after it, gets ``p > threshold``.
    """
    parent, sym, end = plan[8], plan[9], plan[10]
    P, M, O = e.shape
    ok = np.empty((M, O), dtype=np.bool_)
    good = np.empty(M, dtype=np.bool_)
    r = np.empty(O, dtype=e.dtype)
    for p in range(w, P, nt):
        for u in range(M):
            for o in range(O):
                r[o] = rnd(e[p, u, o], prec)
            s = r[0]
            for o in range(1, O):
                s = s + r[o]
            s = rnd(s, prec)
            for o in range(O):
                pr = rnd(r[o] / s, prec)
                e[p, u, o] = pr  # the probability, for the loss
                ok[u, o] = pr > thr[p]
        good[0] = True
        for u in range(1, M):
            q = parent[u]
            good[u] = good[q] and ok[q, sym[u]]
        for i in range(end.shape[0]):
            u = end[i]
            accepted[p, i] = good[u] and ok[u, O - 1]


@njit(cache=True, nogil=True)
def _next_symbol_accepts_range(lo, hi, args):
    """:func:`_next_symbol_accepts_one` for w = lo..hi-1 (``nogil``: one call per thread)."""
    for w in range(lo, hi):
        _next_symbol_accepts_one(w, *args)


# ------------------------------------------------------------- networks as lanes

_LSTM, _INTERP, _KEEP = UPDATES["lstm"], UPDATES["interpolate"], UPDATES["keep"]
_SIGMOID, _TANH = ACTIVATIONS["sigmoid"], ACTIVATIONS["tanh"]


@njit(cache=True)
def _mv8(Ub, g, src, soff, dst, Lb):
    """dst[j*Lb + l] += sum_k U[g, j, k, l] * src[soff + k*Lb + l], k ascending (as the
    forward kernel's ``_mv``), in explicit 8-lane vectors: each lane's sum takes the
    same roundings in the same order."""
    H, K = Ub.shape[1], Ub.shape[2]
    for j in range(H):
        for v in range(0, Lb, VL):
            acc = vload(dst, j * Lb + v)
            for k in range(K):
                acc = vadd(acc, vmul(vload(Ub, ((g * H + j) * K + k) * Lb + v),
                                     vload(src, soff + k * Lb + v)))  # fmt: skip
            vstore(dst, j * Lb + v, acc)


def _bias_act(pre, bias, act, out, prec):
    """out[i] = rnd(act(rnd(pre[i] + bias[i]))) (``_activate``'s steps); ``pre`` keeps
    the rounded sum. In a native float32 format as 8-lane vectors (the activations'
    vector forms equal their scalar forms bit for bit, :mod:`expressivity.kernels.vec8`);
    otherwise one loop per activation."""


@overload(_bias_act)
def _bias_act_overload(pre, bias, act, out, prec):
    native = isinstance(prec, types.Array) and prec.dtype == types.int8
    if native and pre.dtype == types.float32:

        def vec(pre, bias, act, out, prec):
            zero8 = vfill(_ZERO32)
            for i in range(0, pre.shape[0], VL):
                a = vadd(vload(pre, i), vload(bias, i))
                vstore(pre, i, a)
                if act == _SIGMOID:
                    vstore(out, i, vsigmoid(a))
                elif act == _TANH:
                    vstore(out, i, vtanh(a))
                else:
                    vstore(out, i, vge(zero8, a, zero8, a))  # relu: +0 for a <= 0

        return vec

    def scalar(pre, bias, act, out, prec):
        n = pre.shape[0]
        for i in range(n):
            pre[i] = rnd(pre[i] + bias[i], prec)
        if act == _SIGMOID:
            for i in range(n):
                out[i] = rnd(sigmoid(pre[i]), prec)
        elif act == _TANH:
            for i in range(n):
                out[i] = rnd(tanh(pre[i]), prec)
        else:
            for i in range(n):
                out[i] = rnd(relu(pre[i]), prec)

    return scalar


@njit(cache=True)
def _readout8(Wb, bb, h, prec, z, Lb):
    """z[o*Lb + l] = rnd(sum_k W[o, k, l] h[k*Lb + l] + b[o, l]), k ascending from zero
    (``heads.logits``' order), in 8-lane vectors."""
    O, H = Wb.shape[0], Wb.shape[1]
    for o in range(O):
        for v in range(0, Lb, VL):
            acc = vfill(z.dtype.type(0.0))
            for k in range(H):
                acc = vadd(acc, vmul(vload(Wb, (o * H + k) * Lb + v), vload(h, k * Lb + v)))
            acc = vadd(acc, vload(bb, o * Lb + v))
            vstore(z, o * Lb + v, acc)
    for i in range(O * Lb):
        z[i] = rnd(z[i], prec)


def _native32(x, prec):
    """Whether ``x`` (a numba type) is float32 and ``prec`` the native format: then the
    elementwise steps run as 8-lane vectors (``rnd`` is the identity there)."""
    return x.dtype == types.float32 and isinstance(prec, types.Array) and prec.dtype == types.int8


def _mul(a, b, out, prec):
    """out[i] = rnd(a[i] * b[i])."""


@overload(_mul)
def _mul_overload(a, b, out, prec):
    if _native32(out, prec):

        def vec(a, b, out, prec):
            for i in range(0, out.shape[0], VL):
                vstore(out, i, vmul(vload(a, i), vload(b, i)))

        return vec

    def scalar(a, b, out, prec):
        for i in range(out.shape[0]):
            out[i] = rnd(a[i] * b[i], prec)

    return scalar


def _lstm_update(fg, c, ig, cand, og, cn, ax, hh, prec):
    """c' = rnd(rnd(f c) + rnd(i g)), ax = rnd(tanh(c')), h' = rnd(o ax) (the forward
    kernel's LSTM step)."""


@overload(_lstm_update)
def _lstm_update_overload(fg, c, ig, cand, og, cn, ax, hh, prec):
    if _native32(cn, prec):

        def vec(fg, c, ig, cand, og, cn, ax, hh, prec):
            for i in range(0, hh.shape[0], VL):
                cv = vadd(vmul(vload(fg, i), vload(c, i)), vmul(vload(ig, i), vload(cand, i)))
                vstore(cn, i, cv)
                a = vtanh(cv)
                vstore(ax, i, a)
                vstore(hh, i, vmul(vload(og, i), a))

        return vec

    def scalar(fg, c, ig, cand, og, cn, ax, hh, prec):
        n = hh.shape[0]
        for i in range(n):
            cn[i] = rnd(rnd(fg[i] * c[i], prec) + rnd(ig[i] * cand[i], prec), prec)
        for i in range(n):
            ax[i] = rnd(tanh(cn[i]), prec)
        for i in range(n):
            hh[i] = rnd(og[i] * ax[i], prec)

    return scalar


def _interp_update(zg, h, cand, hh, keep, prec):
    """h' = rnd(rnd((1-z) h) + rnd(z g)) (interpolate) or rnd(rnd(z h) + rnd((1-z) g))
    (keep), ``1 - z`` rounded (the forward kernel's steps)."""


@overload(_interp_update)
def _interp_update_overload(zg, h, cand, hh, keep, prec):
    if _native32(hh, prec):

        def vec(zg, h, cand, hh, keep, prec):
            one = vfill(_ONE32)
            for i in range(0, hh.shape[0], VL):
                z = vload(zg, i)
                omz = vsub(one, z)
                if keep:
                    v = vadd(vmul(z, vload(h, i)), vmul(omz, vload(cand, i)))
                else:
                    v = vadd(vmul(omz, vload(h, i)), vmul(z, vload(cand, i)))
                vstore(hh, i, v)

        return vec

    def scalar(zg, h, cand, hh, keep, prec):
        one = hh.dtype.type(1.0)
        if keep:
            for i in range(hh.shape[0]):
                omz = rnd(one - zg[i], prec)
                hh[i] = rnd(rnd(zg[i] * h[i], prec) + rnd(omz * cand[i], prec), prec)
        else:
            for i in range(hh.shape[0]):
                omz = rnd(one - zg[i], prec)
                hh[i] = rnd(rnd(omz * h[i], prec) + rnd(zg[i] * cand[i], prec), prec)

    return scalar


def _shifted_logits(z, m, xu, O, Lb, prec):
    """xu[o*Lb + l] = rnd(z[o*Lb + l] - max_o z[o*Lb + l]), the maximum NaN when one is
    (``np.max``)."""


@overload(_shifted_logits)
def _shifted_logits_overload(z, m, xu, O, Lb, prec):
    if _native32(z, prec):

        def vec(z, m, xu, O, Lb, prec):
            for v in range(0, Lb, VL):
                mv = vload(z, v)
                for o in range(1, O):
                    w = vload(z, o * Lb + v)
                    # w where w > m (ordered), then w where w is NaN: NaN stays NaN
                    mv = vge(w, w, vgt(w, mv, w, mv), w)
                for o in range(O):
                    vstore(xu, o * Lb + v, vsub(vload(z, o * Lb + v), mv))

        return vec

    def scalar(z, m, xu, O, Lb, prec):
        for l in range(Lb):
            m[l] = z[l]
        for o in range(1, O):
            for l in range(Lb):
                w = z[o * Lb + l]
                if m[l] == m[l] and (w != w or w > m[l]):
                    m[l] = w
        for o in range(O):
            for l in range(Lb):
                xu[o * Lb + l] = rnd(z[o * Lb + l] - m[l], prec)

    return scalar


@njit(cache=True)
def _lanes_nodes_one(b, plan, XW, U, bias, d, s0, W_out, b_out, cfg, prec, thr, head, node, x,
                 accepted):  # fmt: skip
    """The trie's nodes one after another, the networks as lanes (innermost index).

    The lanes are cut into blocks of ``Lb`` (a multiple of 8; one block per
    thread), each with its own weights, lane-last: ``XW`` (B, V, G, H*Lb), ``U``
    (B, G, H, H, Lb), ``bias`` (B, G, H*Lb), ``d`` (B, H*Lb), ``s0`` (B, S*Lb),
    ``W_out`` (B, O, H, Lb), ``b_out`` (B, O, Lb), ``thr`` (B, Lb); ``node`` (B,
    nodes, S*Lb) receives the states, ``accepted`` (B, words, Lb) the words'
    acceptance (``head`` 0) and ``x`` (B, nodes, O*Lb) ``rnd(z - max z)`` (``head`` 1), as in
    :func:`_forward_nodes_one`. Each lane does the operations of
    :func:`expressivity.kernels.cpu.forward_kernel` for one word lane, in the
    same order.
    """
    parent, sym, end = plan[8], plan[9], plan[10]
    M = parent.shape[0]
    G, H = U.shape[1], U.shape[2]
    O = W_out.shape[1]
    Lb = U.shape[4]
    n = H * Lb
    update, zi, ci = cfg[0], cfg[2], cfg[3]
    dt = XW.dtype
    zero = dt.type(0.0)
    Ub, XWb, bb, db, nd = U[b], XW[b], bias[b], d[b], node[b]
    pre = np.empty(n, dtype=dt)
    gt = np.empty((G, n), dtype=dt)
    ax = np.empty(n, dtype=dt)
    z = np.empty(O * Lb, dtype=dt)
    m = np.empty(Lb, dtype=dt)
    nd[0, :] = s0[b]
    for u in range(1, M):
        st = nd[parent[u]]
        h = st[:n]
        hn = nd[u]
        xw = XWb[sym[u]]
        for g in range(G):
            base = 4 + 5 * g
            act = cfg[base]
            has_u = cfg[base + 1]
            ri = cfg[base + 2]
            after = cfg[base + 3]
            pre[:] = xw[g]
            if after:
                # act(W x + b + r ⊙ (U h + d)): two dot products, each rounded once
                ax[:] = zero
                _mv8(Ub, g, st, 0, ax, Lb)
                r = gt[ri]
                bg = bb[g]
                for i in range(n):
                    uv = rnd(ax[i] + db[i], prec)
                    ax[i] = uv
                    a1 = rnd(pre[i] + bg[i], prec)
                    pre[i] = rnd(a1 + rnd(r[i] * uv, prec), prec)
                _bias_act(pre, np.zeros(n, dtype=dt), act, gt[g], prec)  # a zero bias
                continue
            if has_u:
                if ri >= 0:
                    _mul(gt[ri], h, ax, prec)
                    _mv8(Ub, g, ax, 0, pre, Lb)
                else:
                    _mv8(Ub, g, st, 0, pre, Lb)
            _bias_act(pre, bb[g], act, gt[g], prec)
        cand = gt[ci]
        hh = hn[:n]
        if update == _LSTM:
            _lstm_update(gt[1], st[n:], gt[0], cand, gt[2], hn[n:], ax, hh, prec)
        elif update == _INTERP or update == _KEEP:
            _interp_update(gt[zi], h, cand, hh, update == _KEEP, prec)
        else:
            hh[:] = cand
    Wb, bo, tb, ab = W_out[b], b_out[b], thr[b], accepted[b]
    if head == 0:
        for i in range(end.shape[0]):
            _readout8(Wb, bo, nd[end[i]], prec, z, Lb)
            for l in range(Lb):
                pr = rnd(sigmoid(z[l]), prec)
                x[b, i, l] = pr
                ab[i, l] = pr > tb[l]
    else:
        xb = x[b]
        for u in range(M):
            _readout8(Wb, bo, nd[u], prec, z, Lb)
            _shifted_logits(z, m, xb[u], O, Lb, prec)


@njit(cache=True, nogil=True)
def _lanes_nodes_range(lo, hi, args):
    """:func:`_lanes_nodes_one` for b = lo..hi-1 (``nogil``: one call per thread)."""
    for b in range(lo, hi):
        _lanes_nodes_one(b, *args)


@njit(cache=True)
def _lanes_accepts_one(b, plan, e, prec, thr, accepted):
    """Acceptance under the next-symbol head, networks as lanes; ``e`` (B, nodes, O*Lb)."""
    parent, sym, end = plan[8], plan[9], plan[10]
    M = e.shape[1]
    Lb = thr.shape[1]
    O = e.shape[2] // Lb
    ok = np.empty((M, O, Lb), dtype=np.bool_)
    good = np.empty((M, Lb), dtype=np.bool_)
    r = np.empty((O, Lb), dtype=e.dtype)
    s = np.empty(Lb, dtype=e.dtype)
    tb = thr[b]
    for u in range(M):
        eu = e[b, u]
        for o in range(O):
            for l in range(Lb):
                r[o, l] = rnd(eu[o * Lb + l], prec)
        for l in range(Lb):
            s[l] = r[0, l]
        for o in range(1, O):
            for l in range(Lb):
                s[l] = s[l] + r[o, l]
        for l in range(Lb):
            s[l] = rnd(s[l], prec)
        for o in range(O):
            for l in range(Lb):
                pr = rnd(r[o, l] / s[l], prec)
                eu[o * Lb + l] = pr  # the probability, for the loss
                ok[u, o, l] = pr > tb[l]
    for l in range(Lb):
        good[0, l] = True
    for u in range(1, M):
        q = parent[u]
        c = sym[u]
        for l in range(Lb):
            good[u, l] = good[q, l] and ok[q, c, l]
    ab = accepted[b]
    for i in range(end.shape[0]):
        u = end[i]
        for l in range(Lb):
            ab[i, l] = good[u, l] and ok[u, O - 1, l]


@njit(cache=True, nogil=True)
def _lanes_accepts_range(lo, hi, args):
    """:func:`_lanes_accepts_one` for b = lo..hi-1 (``nogil``: one call per thread)."""
    for b in range(lo, hi):
        _lanes_accepts_one(b, *args)


@njit(cache=True)
def _loss_terms(pr, x, parent, end, next_symbol, lengths, words, q):
    """q[c, t, l] = probability of word ``words[c*L + l]``'s target at position t (its
    symbol t, the end marker at its length), read from its nodes: ``pr[node, o, x]``."""
    L = q.shape[2]
    for j in range(words.shape[0]):
        c = j // L
        l = j - c * L
        i = words[j]
        u = end[i]
        for t in range(lengths[i], -1, -1):
            q[c, t, l] = pr[u, next_symbol[i, t], x]
            u = parent[u]
