"""Train a population of networks at once: seeds × learning rates × … of one shape.

:func:`train_population` trains P independent networks, each on its own data
with its own shuffling, learning rate, clipping, momentum and early stopping,
exactly as :func:`~expressivity.training.train` would train each one alone.
Two backends run the updates:

- ``"cpu"``: every network is stepped by the CPU trainer's own update (the
  reference; results equal :func:`~expressivity.training.train` bit for bit);
- ``"cuda"``: one kernel launch per update trains all of them on the GPU
  (:mod:`expressivity.kernels.cuda_population`: one block per network, its
  weights in shared memory, data resident on the device, only the batch
  indices crossing the bus). Results agree with the CPU to rounding in the
  order of sums (see ``tests/test_population.py``).

The networks must share a cell, hidden size, embedding size, alphabet, head
and precision (the shape of the launch), the optimizer and the batch size. Validation and early stopping run on
the CPU at the end of each network's epochs (weights are copied back then).

Examples
--------
>>> import numpy as np
>>> import expressivity as ex
>>> from expressivity.languages import get_language
>>> from expressivity.protocols import get_protocol
>>> from expressivity.training import TrainConfig
>>> lang, proto = get_language("anbn"), get_protocol("weiss2018")
>>> data = [proto.training_data(lang, np.random.default_rng(s), 0, 3) for s in (0, 1)]
>>> nets = [ex.Network.create("gru", "ab", 3, head="next-symbol", rng=np.random.default_rng(s))
...         for s in (0, 1)]
>>> cfgs = [TrainConfig(lr=lr, epochs=2) for lr in (0.01, 0.001)]
>>> out = train_population(nets, data, [np.random.default_rng(s) for s in (2, 3)], cfgs)
>>> [r.updates for r in out]
[8, 8]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from expressivity.training.optim import make_optimizer
from expressivity.training.trainer import (
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    _batch,
    _Book,
    _diverged_error,
    _targets,
    _update,
)

__all__ = ["BACKENDS", "train_population", "to_flat", "from_flat", "trainable_mask"]

BACKENDS = ("cpu", "cuda")
_WHAT = {1: "loss", 2: "gradient", 3: "weights"}


# ----------------------------------------------------------------------------- layout


def _dims(net) -> tuple[int, int, int, int, int, int]:
    E = net.params["embedding"].shape[0] if "embedding" in net.params else 0
    return (len(net.alphabet), len(net.spec.gates), net.hidden_size, net.n_outputs,
            net.state_size, E)  # fmt: skip


def to_flat(net, params: dict) -> np.ndarray:
    """Named parameters of ``net``'s shape -> one float64 vector in the population layout.

    See :mod:`expressivity.kernels.cuda_population` for the layout. With an
    input embedding, the ``XW`` block holds ``params``' packed input products
    (what the kernels read), computed as :func:`expressivity.params.pack` does.

    Examples
    --------
    >>> import numpy as np, expressivity as ex
    >>> net = ex.Network.create("gru", "ab", 2, rng=np.random.default_rng(0))
    >>> flat = to_flat(net, net.source_params)
    >>> all(np.array_equal(v, from_flat(net, flat)[k]) for k, v in net.source_params.items())
    True
    """
    from expressivity.params import pack

    V, G, H, O, S, E = _dims(net)
    pk = pack(net.spec, params, V, H, np.float64)
    W = np.zeros((G, H, E))
    for g, gate in enumerate(net.spec.gates):
        if gate.W and E:
            W[g] = params[f"W_{gate.name}"]
    s0 = [params["h0"]] + ([params["c0"]] if net.spec.has_cell_state else [])
    parts = [pk["XW"], pk["U"], pk["bias"], pk["d"], params["W_out"], params["b_out"], *s0, W]
    if E:
        parts.append(params["embedding"])
    return np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in parts])


def from_flat(net, flat: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of :func:`to_flat`: a float64 dict keyed like ``net.params``."""
    from expressivity.kernels.cuda_population import layout

    V, G, H, O, S, E = _dims(net)
    lay = layout(V, G, H, O, S, E)

    def block(name, shape):
        a, b = lay[name]
        return np.array(flat[a:b], dtype=np.float64).reshape(shape)

    XW, U = block("XW", (V, G, H)), block("U", (G, H, H))
    bias, d, W = block("bias", (G, H)), block("d", (H,)), block("W", (G, H, E))
    out = {"W_out": block("W_out", (O, H)), "b_out": block("b_out", (O,))}
    s0 = block("s0", (S,))
    out["h0"] = s0[:H].copy()
    if net.spec.has_cell_state:
        out["c0"] = s0[H:].copy()
    if E:
        out["embedding"] = block("embedding", (E, V))
    for g, gate in enumerate(net.spec.gates):
        if gate.W:
            out[f"W_{gate.name}"] = W[g].copy() if E else XW[:, g, :].T.copy()
        if gate.U:
            out[f"U_{gate.name}"] = U[g].copy()
        if gate.b:
            out[f"b_{gate.name}"] = bias[g].copy()
        if gate.reset_after:
            out[f"d_{gate.name}"] = d.copy()
    return {k: out[k] for k in net.params}


def trainable_mask(net) -> np.ndarray:
    """int8 mask of the population layout: 1 where the entry is a parameter of the cell."""
    from expressivity.kernels.cuda_population import layout

    ones = {k: np.ones_like(v) for k, v in net.source_params.items()}
    mask = (to_flat(net, ones) != 0).astype(np.int8)
    if "embedding" in net.params:  # XW is derived from W and the embedding
        a, b = layout(*_dims(net))["XW"]
        mask[a:b] = 0
    return mask


# ----------------------------------------------------------------------------- backends


class _CpuBackend:
    """Each network stepped by the CPU trainer's own update: the reference."""

    def __init__(self, nets, data, cfgs):
        self.nets = list(nets)
        self.data = data
        self.targets = [_targets(net.head, ds) for net, ds in zip(nets, data)]
        self.masters = [{k: v.astype(np.float64) for k, v in n.source_params.items()} for n in nets]
        self.opts = [make_optimizer(c.optimizer, c.lr, momentum=c.momentum) for c in cfgs]
        self.cfgs = cfgs

    def step(self, idx: np.ndarray, nwords: np.ndarray, active: np.ndarray):
        P = len(self.nets)
        loss = np.zeros(P)
        status = np.zeros(P, dtype=np.int8)
        for p in np.flatnonzero(active):
            sym, lens, tgt = _batch(self.data[p], self.targets[p], idx[p, : nwords[p]])
            net, loss[p], failed = _update(
                self.nets[p], self.masters[p], self.opts[p], self.cfgs[p], sym, lens, tgt
            )
            self.nets[p] = net
            status[p] = {"": 0, "loss": 1, "gradient": 2, "weights": 3}[failed]
        return loss, status

    def master(self, p: int) -> dict:
        return {k: v.copy() for k, v in self.masters[p].items()}

    def network(self, p: int):
        return self.nets[p]


class _CudaBackend:
    """All networks on the GPU; one launch of the population kernel per update."""

    def __init__(self, nets, data, cfgs, threads_per_block=None):
        from numba import cuda

        from expressivity.kernels.cuda import available
        from expressivity.kernels.cuda_population import HEAD_CODES, OPT_CODES

        if not available():
            raise RuntimeError("backend='cuda' needs a CUDA GPU (or NUMBA_ENABLE_CUDASIM=1)")
        net = nets[0]
        self.nets = list(nets)
        self.tpb = threads_per_block
        dt = net.precision.carrier
        V, G, H, O, S, E = _dims(net)
        P, B = len(nets), cfgs[0].batch_size
        N = max(len(ds) for ds in data)
        T = max(int(ds.lengths.max()) for ds in data)
        sym_all = np.zeros((P, N, max(T, 1)), dtype=np.int32)  # T >= 1: kernels index row 0
        len_all = np.zeros((P, N), dtype=np.int64)
        Y_all = np.zeros((P, N, T + 1, O), dtype=dt)
        for p, ds in enumerate(data):
            n, t = ds.symbols.shape
            sym_all[p, :n, :t] = ds.symbols[:, :T]
            len_all[p, :n] = ds.lengths
            Y_all[p, :n] = _dense_targets(net.head, ds, T, O)
        master = np.stack([to_flat(n, n.source_params) for n in nets])
        w = np.stack([to_flat(n, n.params) for n in nets]).astype(dt)
        w[:, : V * G * H] = [n._packed["XW"].ravel() for n in nets]  # exactly the CPU's XW
        hyper = np.array([[c.lr, c.clip or 0.0, c.momentum, 0.9, 0.999, 1e-8] for c in cfgs])
        d = cuda.to_device
        self.dims = (V, G, H, O, S, E, HEAD_CODES[net.head], OPT_CODES[cfgs[0].optimizer])
        self.model = tuple(d(a) for a in (w, master, np.zeros_like(master),
                                          np.zeros_like(master), trainable_mask(net)))  # fmt: skip
        self.hyper = d(hyper)
        self.tstep = d(np.zeros(P, dtype=np.int64))
        self.resident = (d(sym_all), d(len_all), d(Y_all))
        z = lambda *shape: cuda.device_array(shape, dtype=dt)  # noqa: E731
        T1 = max(T, 1)
        self.scratch = (
            cuda.device_array((P, T1, B), dtype=np.int32), cuda.device_array((P, B), np.int64),
            z(P, T + 1, O, B), z(P, T + 1, S, B), z(P, T1, G, H, B), z(P, T1, H, B),
            z(P, T + 1, O, B), z(P, T + 1, H, B), z(P, T1, G, H, B), z(P, T1, H, B),
            z(P, S, B), z(P, 5 + G, H, B), z(P, w.shape[1]),
            cuda.device_array((P, B), dtype=np.float64),
        )  # fmt: skip
        self.cfg = d(np.asarray(net._cfg, dtype=np.int64))
        self.prec = d(net._prec_code)
        self.dt = dt

    def step(self, idx: np.ndarray, nwords: np.ndarray, active: np.ndarray):
        from numba import cuda

        from expressivity.kernels.cuda_population import population_step

        d = cuda.to_device
        loss = cuda.device_array(len(nwords), dtype=np.float64)
        status = cuda.device_array(len(nwords), dtype=np.int8)
        data = (d(idx.astype(np.int32)), d(nwords.astype(np.int64)),
                d(np.maximum(nwords, 1).astype(self.dt)), *self.resident)  # fmt: skip
        population_step(self.dims, self.model, (self.hyper, self.tstep, d(active.astype(np.int8))),
                        data, self.scratch, (loss, status), self.cfg, self.prec,
                        self.tpb)  # fmt: skip
        return loss.copy_to_host(), status.copy_to_host()

    def master(self, p: int) -> dict:
        return from_flat(self.nets[p], self.model[1][p].copy_to_host())

    def network(self, p: int):
        return self.nets[p].with_params(self.master(p))


def _dense_targets(head: str, ds, T: int, O: int) -> np.ndarray:
    """A dataset's targets as (N, T+1, O) floats: one-hot next symbol, label, or next set."""
    n = len(ds)
    Y = np.zeros((n, T + 1, O))
    if head == "next-symbol":
        ns = ds.next_symbol[:, : T + 1]
        i, t = np.nonzero(ns >= 0)
        Y[i, t, ns[i, t]] = 1.0
    elif head == "accept":
        Y[np.arange(n), ds.lengths, 0] = ds.labels
    else:
        Y[:, : ds.next_set.shape[1]] = ds.next_set[:, : T + 1]
    return Y


# ----------------------------------------------------------------------------- the loop


def _check_population(nets, data, rngs, cfgs, validation, backend):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    P = len(nets)
    if P == 0:
        raise ValueError("the population is empty")
    for name, seq in (
        ("data", data),
        ("rngs", rngs),
        ("configs", cfgs),
        ("validation", validation),
    ):
        if len(seq) != P:
            raise ValueError(f"{name} has {len(seq)} entries for {P} networks")
    ref = nets[0]
    for p, net in enumerate(nets):
        for attr in ("cell", "hidden_size", "alphabet", "head"):
            if getattr(net, attr) != getattr(ref, attr):
                raise ValueError(
                    f"network {p} has {attr} {getattr(net, attr)!r}, network 0 "
                    f"{getattr(ref, attr)!r}: a population shares cell, hidden size, alphabet, "
                    "head and precision"
                )
        if net.precision.name != ref.precision.name:
            raise ValueError(
                f"network {p} has precision {net.precision.name!r}, network 0 "
                f"{ref.precision.name!r}: a population shares one precision"
            )
        if len(data[p]) == 0:
            raise ValueError(f"the training data of network {p} is empty")
        if data[p].alphabet != net.alphabet:
            raise ValueError(f"data {p} has alphabet {data[p].alphabet!r}, not {net.alphabet!r}")
    for name in ("optimizer", "batch_size"):
        vals = {getattr(c, name) for c in cfgs}
        if len(vals) > 1:
            raise ValueError(f"a population shares one {name}; got {sorted(vals)}")
    if "embedding" in ref.params:
        sizes = {n.params["embedding"].shape[0] if "embedding" in n.params else 0 for n in nets}
        if len(sizes) > 1:
            raise ValueError(f"a population shares one embedding size; got {sorted(sizes)}")


def train_population(
    nets: Sequence,
    data: Sequence,
    rngs: Sequence[np.random.Generator],
    configs: TrainConfig | Sequence[TrainConfig] | None = None,
    validation: Sequence | None = None,
    backend: str = "cpu",
    progress: Callable[[int, dict], None] | None = None,
    threads_per_block: int | None = None,
) -> list[TrainResult | TrainingDiverged]:
    """Train ``nets[p]`` on ``data[p]`` for every p at once.

    Parameters
    ----------
    nets : networks of one cell, hidden size, alphabet, head and precision
    data : one training :class:`~expressivity.languages.Dataset` per network
    rngs : one generator per network (its shuffling, as in ``train``)
    configs : one :class:`TrainConfig` for all, or one per network (they may
        differ in everything except ``optimizer`` and ``batch_size``)
    validation : one validation dataset (or None) per network
    backend : ``"cpu"`` or ``"cuda"``
    progress : called ``progress(p, record)`` at the end of each network's epochs
    threads_per_block : CUDA block size (default: the batch size rounded up to a
        multiple of 32, at least 64)

    Returns
    -------
    list
        Per network, its :class:`TrainResult` (as :func:`train` returns) or,
        if its training diverged, the :class:`TrainingDiverged` error (the
        other networks go on).

    Raises
    ------
    ValueError
        The networks differ in shape, the lists differ in length, a dataset is
        empty, or an unknown backend is asked for.
    RuntimeError
        ``backend="cuda"`` without a GPU (or the CUDA simulator).
    """
    P = len(nets)
    cfgs = list(configs) if isinstance(configs, (list, tuple)) else [configs or TrainConfig()] * P
    validation = list(validation) if validation is not None else [None] * P
    _check_population(nets, data, rngs, cfgs, validation, backend)
    impl = (_CpuBackend(nets, data, cfgs) if backend == "cpu"
            else _CudaBackend(nets, data, cfgs, threads_per_block))  # fmt: skip
    B = cfgs[0].batch_size
    results = [TrainResult(net=n) for n in nets]
    books = [_Book(c, r, impl.master(p)) for p, (c, r) in enumerate(zip(cfgs, results))]
    out: list = list(results)
    running = np.ones(P, dtype=bool)
    epoch = np.zeros(P, dtype=np.int64)
    pos = np.zeros(P, dtype=np.int64)
    total = np.zeros(P)
    perms: list = [None] * P
    t0 = time.perf_counter()
    while running.any():
        idx = np.full((P, B), -1, dtype=np.int64)
        nwords = np.zeros(P, dtype=np.int64)
        for p in np.flatnonzero(running):
            if pos[p] == 0:
                perms[p] = rngs[p].permutation(len(data[p]))
                total[p] = 0.0
            sel = perms[p][pos[p] : pos[p] + B]
            idx[p, : len(sel)] = sel
            nwords[p] = len(sel)
        loss, status = impl.step(idx, nwords, running)
        for p in np.flatnonzero(running):
            res, st = results[p], int(status[p])
            if st in (0, 3):  # the update was applied
                res.updates += 1
            if st:
                out[p] = _diverged_error(_WHAT[st], int(epoch[p]), res.updates, None, None)
                running[p] = False
                continue
            total[p] += loss[p] * nwords[p]
            pos[p] += nwords[p]
            if pos[p] < len(data[p]):
                continue
            pos[p] = 0
            epoch[p] += 1
            cfg, book = cfgs[p], books[p]
            rec_progress = None if progress is None else (lambda rec, p=p: progress(p, rec))
            stopped = book.end_epoch(int(epoch[p]), total[p] / len(data[p]), t0,
                                     impl.network(p), impl.master(p), data[p], validation[p],
                                     rec_progress)  # fmt: skip
            if stopped != "epochs" or epoch[p] >= cfg.epochs:
                res.stopped, res.epochs_run = stopped, int(epoch[p])
                res.seconds = time.perf_counter() - t0
                res.net = nets[p].with_params(book.best)
                running[p] = False
    return out
