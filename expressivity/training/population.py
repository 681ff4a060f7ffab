"""Train a population of networks at once: seeds × learning rates × … of one shape.

:func:`train_population` trains P independent networks, each on its own data
with its own shuffling, learning rate, clipping, momentum and early stopping,
exactly as :func:`~expressivity.training.train` would train each one alone.
Two backends run the updates (:mod:`expressivity.training.backends`):

- ``"cpu"``: small batches as one fused numba call for K updates of every
  network (:mod:`expressivity.kernels.step`), larger ones through
  :meth:`Network.loss_and_grad_encoded` and the same optimizer; networks in
  parallel on numba's threads when the work justifies it
  (:mod:`expressivity._threads`). Large populations of small float32 networks
  with one word per update run as SIMD lanes (:mod:`expressivity.kernels.lanes`,
  from ``lanes.MIN_LANES`` networks of at most ``lanes.MAX_HIDDEN`` units),
  with the same results. BLAS is held to one thread while training. :func:`~expressivity.training.train` is a
  population of one, so a network trained here equals it trained alone, bit
  for bit.
- ``"cuda"``: one kernel launch per update trains all of them on the GPU
  (:mod:`expressivity.kernels.cuda_population`: one block per network, its
  weights in shared memory, data resident on the device, only the batch
  indices crossing the bus). Results agree with the CPU to rounding in the
  order of sums (see ``tests/test_population.py``).

The networks must share a cell, hidden size, embedding size, alphabet, head
and precision (the shape of the launch), the optimizer and the batch size.
Validation, early stopping and checkpoints run on the CPU at the end of each
network's epochs (weights are copied back then), with the bookkeeping of
:mod:`expressivity.training.records`; the networks that end an epoch together
are validated together, in one numba call
(:mod:`expressivity.training.evaluation`, the same accuracies and losses).

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
from functools import partial
from pathlib import Path

import numpy as np

from expressivity._threads import blas_limited
from expressivity.training.backends import BACKENDS, CpuBackend, CudaBackend, resolve_backend
from expressivity.training.evaluation import Evaluator, rounded_weights, supported
from expressivity.training.records import (
    EpochBook,
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    diverged_error,
    net_meta,
    resume_run,
    save_run,
)

__all__ = ["BACKENDS", "train_population"]
_WHAT = {1: "loss", 2: "gradient", 3: "weights"}


# ----------------------------------------------------------------------------- the loop


def _check_population(nets, data, rngs, cfgs, validation, backend):
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
    checkpoints: Sequence | None = None,
) -> list[TrainResult | TrainingDiverged]:
    """Train ``nets[p]`` on ``data[p]`` for every p at once.

    Parameters
    ----------
    nets : networks of one cell, hidden size, embedding size, alphabet, head and precision
    data : one training :class:`~expressivity.languages.Dataset` per network
    rngs : one generator per network (its shuffling, as in ``train``)
    configs : one :class:`TrainConfig` for all, or one per network (they may
        differ in everything except ``optimizer`` and ``batch_size``)
    validation : one validation dataset (or None) per network
    backend : ``"cpu"``, ``"cuda"`` or ``"auto"`` (the GPU when there is one)
    progress : called ``progress(p, record)`` at the end of each network's epochs
    threads_per_block : CUDA block size (default: the batch size rounded up to a
        multiple of 32, at least 64)
    checkpoints : one path (or None) per network: written every
        ``checkpoint_every`` epochs; an existing one is resumed from (see :func:`train`)

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
    CheckpointError
        A checkpoint is corrupt or belongs to another configuration.
    """
    backend = resolve_backend(backend)
    P = len(nets)
    cfgs = list(configs) if isinstance(configs, (list, tuple)) else [configs or TrainConfig()] * P
    validation = list(validation) if validation is not None else [None] * P
    ckpts = [None if c is None else Path(c) for c in (checkpoints or [None] * P)]
    _check_population(nets, data, rngs, cfgs, validation, backend)
    if len(ckpts) != P:
        raise ValueError(f"checkpoints has {len(ckpts)} entries for {P} networks")
    with blas_limited():  # one BLAS thread inside our calls (see expressivity._threads)
        return _train(nets, data, rngs, cfgs, validation, backend, progress, threads_per_block,
                      ckpts)  # fmt: skip


def _train(nets, data, rngs, cfgs, validation, backend, progress, threads_per_block, ckpts):
    P = len(nets)
    impl = (CpuBackend(nets, data, cfgs) if backend == "cpu"
            else CudaBackend(nets, data, cfgs, threads_per_block))  # fmt: skip
    B = cfgs[0].batch_size
    results = [TrainResult(net=n) for n in nets]
    books = [EpochBook(c, r, impl.master(p)) for p, (c, r) in enumerate(zip(cfgs, results))]
    out: list = list(results)
    running = np.ones(P, dtype=bool)
    epoch = np.zeros(P, dtype=np.int64)
    last_good: list = [None] * P
    metas = [net_meta(n, len(d)) for n, d in zip(nets, data)]
    for p, ck in enumerate(ckpts):
        if ck is None or not ck.exists():
            continue
        state = resume_run(ck, cfgs[p], metas[p], rngs[p], results[p], books[p])
        epoch[p] = last_good[p] = results[p].resumed_from
        if state is None:  # it had finished
            running[p] = False
        else:
            impl.load(p, *state)
    pos = np.zeros(P, dtype=np.int64)
    total = np.zeros(P)
    perms: list = [None] * P
    t0 = time.perf_counter()
    saved_at = np.full(P, t0)
    evaluator = _Evaluations(nets, data, validation)
    while running.any():
        live = np.flatnonzero(running)
        for p in live:
            if pos[p] == 0:
                perms[p] = rngs[p].permutation(len(data[p]))
                total[p] = 0.0
        # run every network up to the first epoch end among them, in one call
        K = int(min(-(-(len(data[p]) - int(pos[p])) // B) for p in live))
        idx = np.full((K, P, B), -1, dtype=np.int64)
        nwords = np.zeros((K, P), dtype=np.int64)
        for p in live:
            sel = perms[p][pos[p] : pos[p] + K * B]
            for k in range(K):
                part = sel[k * B : (k + 1) * B]
                idx[k, p, : len(part)] = part
                nwords[k, p] = len(part)
        loss, status = impl.steps(idx, nwords, running)
        ending = []
        for p in live:
            res = results[p]
            failed = np.flatnonzero(status[:, p])
            k_end = int(failed[0]) if failed.size else K
            res.updates += k_end
            for k in range(k_end):  # in step order, as one network trained alone would
                total[p] += loss[k, p] * nwords[k, p]
            if failed.size:
                st = int(status[k_end, p])
                res.updates += st == 3  # the weights were updated, then found non-finite
                out[p] = diverged_error(_WHAT[st], int(epoch[p]), res.updates, ckpts[p],
                                         last_good[p])  # fmt: skip
                running[p] = False
                continue
            pos[p] += int(nwords[:, p].sum())
            if pos[p] < len(data[p]):
                continue
            pos[p] = 0
            epoch[p] += 1
            ending.append(p)
        masters = {p: impl.master(p) for p in ending}
        scores = evaluator.evaluate(
            [p for p in ending if books[p].evaluates(int(epoch[p]))], masters
        )
        for p in ending:
            res, cfg, book, e = results[p], cfgs[p], books[p], int(epoch[p])
            rec_progress = None if progress is None else (lambda rec, p=p: progress(p, rec))
            master = masters[p]
            make_net = partial(nets[p].with_params, master)
            stopped = book.end_epoch(e, total[p] / len(data[p]), t0, make_net, master, data[p],
                                     validation[p], rec_progress, *scores.get(p, (None, None)))  # fmt: skip
            done = stopped != "epochs" or e >= cfg.epochs
            now = time.perf_counter()
            due = e % cfg.checkpoint_every == 0 and (
                cfg.checkpoint_seconds is None or now - saved_at[p] >= cfg.checkpoint_seconds
            )
            if ckpts[p] is not None and (due or done):
                saved_at[p] = now
                master, moments, t = impl.state(p)
                save_run(ckpts[p], cfg, metas[p], master, book.best, t, moments, rngs[p], e, res,
                      book.best_score, book.stale, done and stopped)  # fmt: skip
                last_good[p] = e
            if done:
                res.stopped, res.epochs_run = stopped, e
                res.seconds = time.perf_counter() - t0
                res.net = nets[p].with_params(book.best)
                running[p] = False
    return out


class _Evaluations:
    """The end-of-epoch accuracies (and validation losses) of a population's networks:
    those that :func:`~expressivity.training.evaluation.supported` serves, together in
    one call; the others are left to :meth:`EpochBook.end_epoch`, network by network.
    A single network without a validation set (``train`` evaluating its training
    words at the end) keeps ``EpochBook``'s own evaluation: there the batched kernels
    would save little and cost a compile per format; with validation (evaluated every
    ``eval_every`` epochs, as the experiments run) they pay off."""

    def __init__(self, nets, data, validation):
        self.nets = nets
        self.sets = [v if v is not None else d for d, v in zip(data, validation)]
        self.losses = [v is not None for v in validation]
        many = len(nets) >= 2
        self.ok = [(many or v is not None) and supported(n, ds)
                   for n, ds, v in zip(nets, self.sets, validation)]  # fmt: skip
        self.impl = Evaluator(nets[0]) if any(self.ok) else None

    def evaluate(self, which: list, masters: dict) -> dict:
        """``{p: (accuracy, validation loss or None)}`` of the networks ``which`` with
        weights ``masters[p]``."""
        which = [p for p in which if self.ok[p]]
        if not which:
            return {}
        weights = rounded_weights(self.nets[0], [masters[p] for p in which])
        thr = [self.nets[p].threshold for p in which]
        got = self.impl.scores(weights, thr, [self.sets[p] for p in which],
                               [self.losses[p] for p in which])  # fmt: skip
        return dict(zip(which, got))
