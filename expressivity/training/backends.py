"""The population's weights as flat vectors, and the backends that update them.

The population layout (:mod:`expressivity.kernels.step`) keeps each network's
weights in one flat vector; :func:`to_flat` and :func:`from_flat` convert
between it and a network's named parameters. A backend holds a population's
arrays and runs K updates at a time:

- :class:`CpuBackend`: numpy arrays; small batches run through the fused CPU
  step (:func:`expressivity.kernels.step.train_steps`), larger ones through
  :meth:`Network.loss_and_grad_encoded` and the same optimizer, large
  populations of small one-word-per-update networks as SIMD lanes
  (:func:`expressivity.kernels.lanes.train_lanes`, lane-major weights); numba
  threads as the work justifies (:mod:`expressivity._threads`);
- :class:`CudaBackend`: device arrays; one launch of
  :func:`expressivity.kernels.cuda_population.population_step` per update.

Both expose ``steps(idx, nwords, active) -> (loss, status)``, ``master(p)``,
``state(p)`` and ``load(p, master, moments, t)`` (the last two for checkpoints).
"""

from __future__ import annotations

import numpy as np

from expressivity._threads import numba_threads, threads_for
from expressivity.training.optim import clip_by_global_norm
from expressivity.training.records import batch_of

__all__ = [
    "BACKENDS",
    "CpuBackend",
    "CudaBackend",
    "from_flat",
    "resolve_backend",
    "to_flat",
    "trainable_mask",
]

#: what ``backend=`` accepts: ``"auto"`` is ``"cuda"`` when a real GPU is there
BACKENDS = ("cpu", "cuda", "auto")


def resolve_backend(backend: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a ``backend=`` argument.

    ``"auto"`` picks ``"cuda"`` when numba-cuda finds a real GPU (not the
    simulator), else ``"cpu"``.

    Raises
    ------
    ValueError
        For anything but ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Examples
    --------
    >>> resolve_backend("cpu")
    'cpu'
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    try:
        from numba import config, cuda
    except ImportError:  # numba-cuda is an optional extra
        return "cpu"
    try:
        real = not config.ENABLE_CUDASIM and cuda.is_available()
    except Exception:  # a broken driver install reports by raising
        real = False
    return "cuda" if real else "cpu"


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
    from expressivity.kernels.step import layout

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


def _weights(net) -> np.ndarray:
    """``net``'s rounded weights in the population layout, in its carrier dtype, with
    exactly the packed ``XW`` its kernels read."""
    w = to_flat(net, net.params).astype(net.precision.carrier)
    w[: net._packed["XW"].size] = net._packed["XW"].ravel()
    return w


def trainable_mask(net) -> np.ndarray:
    """int8 mask of the population layout: 1 where the entry is a parameter of the cell."""
    from expressivity.kernels.step import layout

    ones = {k: np.ones_like(v) for k, v in net.source_params.items()}
    mask = (to_flat(net, ones) != 0).astype(np.int8)
    if "embedding" in net.params:  # XW is derived from W and the embedding
        a, b = layout(*_dims(net))["XW"]
        mask[a:b] = 0
    return mask


# ----------------------------------------------------------------------------- backends


class _Arrays:
    """The population's arrays on the host (see :mod:`expressivity.kernels.step`)."""

    def __init__(self, nets, data, cfgs):
        from expressivity.kernels.step import HEAD_CODES, OPT_CODES

        net = nets[0]
        self.nets = list(nets)
        self.dt = dt = net.precision.carrier
        V, G, H, O, S, E = _dims(net)
        P, B = len(nets), cfgs[0].batch_size
        N = max(len(ds) for ds in data)
        T = max(1, max(int(ds.lengths.max()) for ds in data))  # kernels index row 0
        sym_all = np.zeros((P, N, T), dtype=np.int32)
        len_all = np.zeros((P, N), dtype=np.int64)
        Y_all = np.zeros((P, N, T + 1, O), dtype=dt)
        for p, ds in enumerate(data):
            n, t = ds.symbols.shape
            sym_all[p, :n, : min(t, T)] = ds.symbols[:, :T]
            len_all[p, :n] = ds.lengths
            Y_all[p, :n] = _dense_targets(net.head, ds, T, O)
        master = np.stack([to_flat(n, n.source_params) for n in nets])
        w = np.stack([_weights(n) for n in nets])
        hyper = np.array([[c.lr, c.clip or 0.0, c.momentum, 0.9, 0.999, 1e-8] for c in cfgs])
        self.dims = (V, G, H, O, S, E, HEAD_CODES[net.head], OPT_CODES[cfgs[0].optimizer])
        self.optimizer = cfgs[0].optimizer
        self.model = (w, master, np.zeros_like(master), np.zeros_like(master), trainable_mask(net))
        self.opt = (hyper, np.zeros(P, dtype=np.int64))
        self.resident = (sym_all, len_all, Y_all)
        self.scratch_shapes = [
            ((P, T, B), np.int32), ((P, B), np.int64), ((P, T + 1, O, B), dt),
            ((P, T + 1, S, B), dt), ((P, T, G, H, B), dt), ((P, T, H, B), dt),
            ((P, T + 1, O, B), dt), ((P, T + 1, H, B), dt), ((P, T, G, H, B), dt),
            ((P, T, H, B), dt), ((P, S, B), dt), ((P, 5 + G, H, B), dt),
            ((P, w.shape[1]), dt), ((P, B), np.float64),
        ]  # fmt: skip
        self.cfg = np.asarray(net._cfg, dtype=np.int64)
        self.prec = net._prec_code

    def _host(self, a: np.ndarray) -> np.ndarray:
        """``a`` as a host array (the GPU backend copies it back)."""
        return a

    def master(self, p: int) -> dict:
        """Network p's float64 master weights, keyed like its parameters."""
        return from_flat(self.nets[p], self._host(self.model[1][p]))

    def state(self, p: int) -> tuple[dict, dict, int]:
        """(master, optimizer moments by name, updates) of network p, for a checkpoint."""
        names = ("m", "v") if self.optimizer == "adam" else ("v",)  # as optim.Adam / SGD name them
        moments = {k: from_flat(self.nets[p], self._host(self.model[2 + i][p]))
                   for i, k in enumerate(names)}  # fmt: skip
        return self.master(p), moments, int(self._host(self.opt[1])[p])

    def load(self, p: int, master: dict, moments: dict, t: int):
        """Continue network p from a checkpoint's state; returns its rounded network."""
        net = self.nets[p]
        rounded = net.with_params(master)
        self.model[0][p] = _weights(rounded)
        self.model[1][p] = to_flat(net, master)
        names = ("m", "v") if self.optimizer == "adam" else ("v",)
        for i, k in enumerate(names):
            d = moments.get(k, {})
            full = {n: d.get(n, np.zeros_like(v)) for n, v in net.source_params.items()}
            self.model[2 + i][p] = to_flat(net, full)
        self.opt[1][p] = t
        return rounded


class CpuBackend(_Arrays):
    """The population on the CPU: one numba call per update of every network."""

    def __init__(self, nets, data, cfgs):
        from expressivity.kernels import lanes
        from expressivity.kernels.step import fused
        from expressivity.protocols import targets_for

        super().__init__(nets, data, cfgs)
        self.data, self.cfgs, self.current = list(data), list(cfgs), list(nets)
        self.targets = [targets_for(n.head, ds) for n, ds in zip(nets, data)]
        self.threads = _cpu_threads(nets, data, cfgs[0].batch_size)
        with numba_threads(self.threads):
            self.fused = fused(cfgs[0].batch_size, nets[0].hidden_size)
        # one word per update, several networks: networks as SIMD lanes (kernels.lanes),
        # whose weights are lane-major; self.model keeps (P, NW) views of them
        # (float32 networks only: float64 and the emulated formats keep the one-network
        # step, so that the lanes kernel is compiled, and tested, for one format)
        self.lanes = lanes.takes(len(nets), cfgs[0].batch_size, nets[0].hidden_size,
                                 nets[0].precision)
        self.work = _update_work(nets, data, cfgs[0].batch_size)
        if self.lanes:
            self.lane_model = tuple(np.ascontiguousarray(a.T) for a in self.model[:4])
            self.model = (*(a.T for a in self.lane_model), self.model[4])
        big = self.fused and not self.lanes
        self.scratch = tuple(np.zeros(s if big else (0,) * len(s), dtype=d)
                             for s, d in self.scratch_shapes)  # fmt: skip

    def steps(self, idx: np.ndarray, nwords: np.ndarray, active: np.ndarray):
        """K updates: ``idx (K, P, B)``, ``nwords (K, P)`` -> ``loss, status (K, P)``.

        For small batches (:func:`expressivity.kernels.step.fused`) one numba
        call runs all K updates of all networks; for larger ones each update is the
        unfused path (:meth:`Network.loss_and_grad_encoded`, then the same
        optimizer, :func:`~expressivity.kernels.step.apply_update`).
        """
        import numba

        from expressivity.kernels.lanes import train_lanes
        from expressivity.kernels.step import train_steps

        loss, status = np.zeros(nwords.shape), np.zeros(nwords.shape, dtype=np.int8)
        if self.lanes:
            n = threads_for(idx.shape[0] * int(active.sum()) * self.work)
            with numba_threads(n):
                train_lanes(self.dims, (*self.lane_model, self.model[4]), (*self.opt, active.astype(np.int8)),
                            (idx[:, :, 0].astype(np.int64), *self.resident), (loss, status),
                            self.cfg, self.prec, threads=n)  # fmt: skip
            return loss, status
        with numba_threads(self.threads):
            if not self.fused:
                self._unfused(idx, nwords, active, loss, status)
                return loss, status
            opt = (*self.opt, active.astype(np.int8))
            data = (idx.astype(np.int32), nwords.astype(np.int64),
                    np.maximum(nwords, 1).astype(self.dt), *self.resident)  # fmt: skip
            par = int(active.sum()) > 1 and numba.get_num_threads() > 1
            train_steps(self.dims, self.model, opt, data, self.scratch, (loss, status), self.cfg,
                        self.prec, parallel=par)  # fmt: skip
        return loss, status

    def _unfused(self, idx, nwords, active, loss, status) -> None:
        from expressivity.kernels.step import apply_update

        dims = tuple(int(x) for x in self.dims)
        live = [p for p in np.flatnonzero(active)]
        for k in range(idx.shape[0]):
            for p in list(live):
                net, cfg = self.current[p], self.cfgs[p]
                sym, lens, tgt = batch_of(self.data[p], self.targets[p], idx[k, p, : nwords[k, p]])
                loss[k, p], grads = net.loss_and_grad_encoded(sym, lens, tgt)
                if not np.isfinite(loss[k, p]):
                    status[k, p] = 1
                elif not all(np.isfinite(g).all() for g in grads.values()):
                    status[k, p] = 2
                else:
                    if cfg.clip is not None:
                        grads, _ = clip_by_global_norm(grads, cfg.clip)
                    g = to_flat(net, {n: v.astype(np.float64) for n, v in grads.items()})
                    bad = apply_update(p, g, dims, self.model, self.opt[0], self.opt[1],
                                       self.cfg, self.prec)  # fmt: skip
                    status[k, p] = 3 if bad else 0
                    self.current[p] = net.with_params(self.master(p))
                if status[k, p]:
                    live.remove(p)

    def load(self, p: int, master: dict, moments: dict, t: int):
        self.current[p] = super().load(p, master, moments, t)
        return self.current[p]


class CudaBackend(_Arrays):
    """All networks on the GPU; one launch of the population kernel per update."""

    def __init__(self, nets, data, cfgs, threads_per_block=None):
        from numba import cuda

        from expressivity.kernels.cuda import available

        if not available():
            raise RuntimeError("backend='cuda' needs a CUDA GPU (or NUMBA_ENABLE_CUDASIM=1)")
        super().__init__(nets, data, cfgs)
        self.tpb = threads_per_block
        d = cuda.to_device
        self.model = tuple(d(a) for a in self.model)
        self.opt = tuple(d(a) for a in self.opt)
        self.resident = tuple(d(a) for a in self.resident)
        self.scratch = tuple(cuda.device_array(s, dtype=t) for s, t in self.scratch_shapes)
        self.cfg, self.prec = d(self.cfg), d(self.prec)

    def steps(self, idx: np.ndarray, nwords: np.ndarray, active: np.ndarray):
        """K launches, one per update, queued back to back; one copy of the results."""
        from numba import cuda

        from expressivity.kernels.cuda_population import population_step

        d = cuda.to_device
        K, P = nwords.shape
        loss = cuda.device_array((K, P), dtype=np.float64)
        status = cuda.device_array((K, P), dtype=np.int8)
        idx_d, nw_d = d(idx.astype(np.int32)), d(nwords.astype(np.int64))
        nwf_d = d(np.maximum(nwords, 1).astype(self.dt))
        act = d(active.astype(np.int8))
        for k in range(K):
            data = (idx_d[k], nw_d[k], nwf_d[k], *self.resident)
            population_step(self.dims, self.model, (*self.opt, act), data, self.scratch,
                            (loss[k], status[k]), self.cfg, self.prec, self.tpb)  # fmt: skip
        return loss.copy_to_host(), status.copy_to_host()

    def _host(self, a) -> np.ndarray:
        return a.copy_to_host()


def _update_work(nets, data, batch_size: int) -> float:
    """Multiply-adds of one training update of one network (forward, backward, sums)."""
    net = nets[0]
    V, G, H, O, S, E = _dims(net)
    T = max(1.0, float(np.mean([ds.lengths.mean() for ds in data])))
    return 3.0 * batch_size * T * (G * H * (H + 8) + O * H)


def _cpu_threads(nets, data, batch_size: int) -> int:
    """numba threads for the CPU backend (see :mod:`expressivity._threads`).

    An update that the fused step runs at one thread (small batches) gains
    nothing from a second thread for one network; a population's fused call
    runs its networks in parallel when their work per update justifies it; the
    unfused path runs its chunks in parallel when one update justifies it.
    """
    import numba

    from expressivity.kernels.step import fused

    with numba_threads(1):
        fused_at_one = fused(batch_size, nets[0].hidden_size)
    work = _update_work(nets, data, batch_size)
    if fused_at_one:
        return 1 if len(nets) == 1 else threads_for(work * len(nets))
    return threads_for(work) if numba.get_num_threads() > 1 else 1


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
