"""The trainer: any cell, head and precision; Adam or SGD; batches from one word up.

Float64 master weights are updated by the optimizer and rounded to the
network's precision after each update, so gradients are always taken at the
weights the finite precision model actually uses. The loop (epochs,
validation, early stopping, checkpoints) is
:func:`expressivity.training.population.train_population`'s: a run is a
population of one, and its updates run on the CPU or the GPU
(:mod:`expressivity.training.backends`).

Examples
--------
>>> import numpy as np
>>> import expressivity as ex
>>> from expressivity.languages import get_language
>>> from expressivity.protocols import get_protocol
>>> lang, proto = get_language("anbn"), get_protocol("weiss2018")
>>> data = proto.training_data(lang, np.random.default_rng(0), 0, 4)
>>> net = ex.Network.create("lstm", "ab", 4, head="next-symbol", rng=np.random.default_rng(0))
>>> res = train(net, data, np.random.default_rng(1), TrainConfig(epochs=2))
>>> res.epochs_run, res.updates, res.stopped
(2, 10, 'epochs')
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from expressivity.training.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from expressivity.training.optim import OPTIMIZERS

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "dataset_accuracy", "train"]


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""

    def __init__(self, message: str, epoch: int, update: int, checkpoint: Path | None):
        super().__init__(message)
        self.epoch, self.update, self.checkpoint = epoch, update, checkpoint


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (all validated; errors name the field).

    Attributes
    ----------
    optimizer : "adam" or "sgd"
    lr : learning rate (Adam 0.001 is the Weiss et al. setting)
    batch_size : words per update (1 = one word at a time)
    epochs : maximum passes over the training data
    clip : clip the global gradient norm to this value (None: no clipping)
    momentum : SGD momentum
    patience : stop after this many evaluations without validation improvement
    target_accuracy : stop once validation accuracy reaches this (e.g. 1.0)
    eval_every : evaluate (validation accuracy and loss) every this many epochs
    checkpoint_every : write the checkpoint every this many epochs
    checkpoint_seconds : and at most once per this many seconds of training
        (None: every ``checkpoint_every`` epochs). A run that stops still writes
        its final checkpoint; an interrupted one loses at most this much work.
        Each write costs a few ms, which for one-word updates is many epochs.
    max_seconds : stop after this much training time (None: no limit)
    """

    optimizer: str = "adam"
    lr: float = 0.001
    batch_size: int = 1
    epochs: int = 100
    clip: float | None = None
    momentum: float = 0.0
    patience: int | None = None
    target_accuracy: float | None = None
    eval_every: int = 1
    checkpoint_every: int = 1
    checkpoint_seconds: float | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        _positive(self, "lr", float)
        for name in ("batch_size", "epochs", "eval_every", "checkpoint_every"):
            _positive(self, name, int)
        optional = (("clip", float), ("patience", int), ("max_seconds", float),
                    ("checkpoint_seconds", float))  # fmt: skip
        for name, kind in optional:
            if getattr(self, name) is not None:
                _positive(self, name, kind)
        if not isinstance(self.momentum, (int, float)) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1), got {self.momentum!r}")
        t = self.target_accuracy
        if t is not None and (not isinstance(t, (int, float)) or not 0 < t <= 1):
            raise ValueError(f"target_accuracy must be a number in (0, 1], got {t!r}")


def _positive(cfg, name: str, kind) -> None:
    v = getattr(cfg, name)
    ok = isinstance(v, (int, np.integer)) if kind is int else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok:
        raise TypeError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {v!r}")
    if not v > 0 or (kind is float and not math.isfinite(v)):
        raise ValueError(f"{name} must be positive, got {v!r}")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    net : the trained network (the best on validation when validation was used)
    history : one dict per evaluated epoch (epoch, loss, val_loss, val_accuracy, seconds)
    epochs_run, updates : counters (over the whole run, resumed parts included)
    stopped : why training stopped: "epochs", "target_accuracy", "patience" or "max_seconds"
    best_epoch : epoch of the returned weights
    seconds : training wall time of this call
    resumed_from : epoch the run resumed from (None: started afresh)
    """

    net: object
    history: list[dict] = field(default_factory=list)
    epochs_run: int = 0
    updates: int = 0
    stopped: str = "epochs"
    best_epoch: int = 0
    seconds: float = 0.0
    resumed_from: int | None = None


def dataset_accuracy(net, ds) -> float:
    """Fraction of the dataset's words the network gets right.

    ``accept`` and ``next-symbol`` heads: acceptance equals the label (for
    positives-only training the validation set holds near misses, so accepting
    everything is not right). ``next-set`` head: a positive is right when at
    every prefix the outputs above threshold equal the allowed next set (Suzgun
    et al. 2019), a negative when it is rejected. Uses the dataset's own labels
    and next sets, so no language is needed.
    """
    if len(ds) == 0:
        return float("nan")
    if net.head != "next-set":
        if tuple(ds.alphabet) == tuple(net.alphabet):  # same coding: no decoding needed
            return float(np.mean(net.accepts_encoded(ds.symbols, ds.lengths) == ds.labels))
        return float(np.mean(net.accepts(ds.words) == ds.labels))
    words = ds.words
    ok = np.empty(len(ds), dtype=bool)
    pos = np.flatnonzero(ds.labels)
    neg = np.flatnonzero(~ds.labels)
    if len(neg):
        ok[neg] = ~net.accepts([words[i] for i in neg])
    if len(pos):
        outs = net.outputs([words[i] for i in pos])
        thr = net.threshold
        for j, i in enumerate(pos):
            n = int(ds.lengths[i]) + 1
            ok[i] = np.array_equal(outs[j] > thr, ds.next_set[i, :n])
    return float(ok.mean())


def _targets(head: str, ds) -> np.ndarray:
    from expressivity.protocols import targets_for

    return targets_for(head, ds)


def _batch(ds, targets: np.ndarray, idx: np.ndarray):
    lens = ds.lengths[idx]
    T = int(lens.max()) if len(lens) else 0
    sym = ds.symbols[idx, :T]
    tgt = targets[idx] if targets.ndim == 1 else targets[idx, : T + 1]
    return sym, lens, tgt


def _loss(net, ds) -> float:
    """Mean loss over the words the head is trained on (positives for predictive heads)."""
    if net.head != "accept":
        ds = ds[ds.labels]
    return net.loss_encoded(ds.symbols, ds.lengths, _targets(net.head, ds))


def _finite(grads: dict) -> bool:
    return all(np.isfinite(g).all() for g in grads.values())


def _net_meta(net, n_train: int) -> dict:
    return {
        "cell": net.cell,
        "alphabet": net.alphabet,
        "head": net.head,
        "precision": net.precision.name,
        "hidden_size": net.hidden_size,
        "n_train": n_train,
    }


def train(
    net,
    data,
    rng: np.random.Generator,
    config: TrainConfig | None = None,
    validation=None,
    checkpoint: str | Path | None = None,
    progress: Callable[[dict], None] | None = None,
    backend: str = "cpu",
) -> TrainResult:
    """Train ``net`` on the :class:`~expressivity.languages.Dataset` ``data``.

    Parameters
    ----------
    net : Network
        Start weights, cell, head and precision.
    data : Dataset
        Training words with their targets (the head picks ``next_symbol``,
        ``labels`` or ``next_set``).
    rng : np.random.Generator
        Shuffles the words every epoch; training is deterministic given its state.
    config : TrainConfig
    validation : Dataset, optional
        Early stopping and the choice of the returned weights use accuracy on
        it (then loss). Without it, ``target_accuracy`` is checked on ``data``.
    checkpoint : path, optional
        Written every ``checkpoint_every`` epochs. If the file exists, training
        resumes from it (same config and network required), restoring the
        weights, the optimizer and ``rng``'s state, so the result equals an
        uninterrupted run.
    progress : callable, optional
        Called with each epoch's history record. (A progress bar counts the epochs
        in a terminal or notebook; ``EXPRESSIVITY_PROGRESS=0`` turns it off.)
    backend : "cpu", "cuda" or "auto" (the GPU when there is one)
        Where the updates run: :func:`expressivity.training.population.train_population`
        with one network (``"cuda"``: the GPU's population kernel).

    Raises
    ------
    TrainingDiverged
        NaN or inf in the loss, the gradients or the weights; the last good
        checkpoint stays on disk.
    CheckpointError
        The checkpoint is corrupt or belongs to another configuration.
    """
    cfg = config or TrainConfig()
    if len(data) == 0:
        raise ValueError("the training data is empty")
    if data.alphabet != net.alphabet:
        raise ValueError(
            f"data alphabet {data.alphabet!r} differs from the network's {net.alphabet!r}"
        )
    from expressivity._progress import epoch_progress
    from expressivity.training.backends import resolve_backend
    from expressivity.training.population import train_population

    backend = resolve_backend(backend)
    prog, bar = epoch_progress(progress, cfg.epochs, f"training {net.cell}")  # bar if interactive
    try:
        (out,) = train_population([net], [data], [rng], [cfg], [validation], backend, prog,
                                  checkpoints=[checkpoint])  # fmt: skip
    finally:
        bar.close()
    if isinstance(out, TrainingDiverged):
        raise out
    return out


class _Book:
    """One run's epoch bookkeeping: history, validation, best weights, early stopping.

    Shared by :func:`train` and
    :func:`expressivity.training.population.train_population`.
    """

    def __init__(self, cfg, res, best, best_score=(-np.inf, -np.inf), stale=0):
        self.cfg, self.res, self.best = cfg, res, best
        self.best_score, self.stale = tuple(best_score), int(stale)

    def end_epoch(self, epoch, mean_loss, t0, make_net, master, data, validation, progress) -> str:
        """Record epoch ``epoch``; returns ``"epochs"`` (go on) or why training stops.

        ``make_net()`` returns the network with ``master``'s weights; it is called
        only on epochs that evaluate.
        """
        cfg, res = self.cfg, self.res
        stopped = "epochs"
        rec = {"epoch": epoch, "loss": mean_loss, "seconds": time.perf_counter() - t0}
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            vds = validation if validation is not None else data
            net = make_net()
            acc = dataset_accuracy(net, vds)
            vloss = _loss(net, validation) if validation is not None else rec["loss"]
            rec.update(val_accuracy=acc, val_loss=vloss)
            score = (acc, -vloss if math.isfinite(vloss) else -np.inf)
            if score > self.best_score:
                self.best_score, self.stale, res.best_epoch = score, 0, epoch
                self.best = {k: v.copy() for k, v in master.items()}
            else:
                self.stale += 1
            if cfg.target_accuracy is not None and acc >= cfg.target_accuracy:
                stopped = "target_accuracy"
            elif cfg.patience is not None and self.stale >= cfg.patience:
                stopped = "patience"
        if validation is None and cfg.target_accuracy is None and cfg.patience is None:
            self.best, res.best_epoch = master, epoch  # no early stopping: the last weights
        if cfg.max_seconds is not None and time.perf_counter() - t0 >= cfg.max_seconds:
            stopped = "max_seconds" if stopped == "epochs" else stopped
        res.history.append(rec)
        if progress is not None:
            progress(rec)
        return stopped


def _diverged_error(what, epoch, update, ckpt, last_good) -> TrainingDiverged:
    where = (
        f"; the last good checkpoint ({ckpt}, epoch {last_good}) is kept"
        if ckpt is not None and last_good is not None
        else ""
    )
    return TrainingDiverged(
        f"training diverged: the {what} became NaN or infinite at epoch {epoch + 1}, update "
        f"{update}{where}. Lower the learning rate, clip gradients (clip=...) or use a wider "
        "precision.",
        epoch,
        update,
        ckpt if last_good is not None else None,
    )


def _save(ckpt, cfg, meta_net, master, best, opt_t, moments, rng, epoch, res, best_score, stale,
          stopped):  # fmt: skip
    """Write a run's checkpoint: weights, optimizer state (named as ``optim``'s), rng, history."""
    meta = {
        "config": asdict(cfg),
        "network": meta_net,
        "epoch": epoch,
        "updates": res.updates,
        "best_epoch": res.best_epoch,
        "best_score": [float(x) for x in best_score],
        "stale": stale,
        "opt_t": opt_t,
        "rng_state": rng.bit_generator.state,
        "history": res.history,
        "stopped": stopped or None,
    }
    opt_arrays = {f"{s}:{k}": v for s, d in moments.items() for k, v in d.items()}
    write_checkpoint(ckpt, meta, {"master": master, "best": best, "opt": opt_arrays})


def _resume(ckpt, cfg, meta_net, rng, res, book):
    """Restore a run from its checkpoint into ``rng``, ``res`` and ``book``.

    Returns ``(master, moments, opt_t)`` to continue from, or None when the run
    had already finished (``res`` is then complete).
    """
    meta, groups = read_checkpoint(ckpt)
    _check_resume(ckpt, meta, asdict(cfg), meta_net)
    master = {k: v.astype(np.float64) for k, v in groups["master"].items()}
    book.best = {k: v.astype(np.float64) for k, v in groups["best"].items()}
    moments: dict[str, dict] = {}
    for key, v in groups.get("opt", {}).items():
        s, name = key.split(":", 1)
        moments.setdefault(s, {})[name] = v.astype(np.float64)
    rng.bit_generator.state = meta["rng_state"]
    res.history = meta["history"]
    res.updates, res.best_epoch = int(meta["updates"]), int(meta["best_epoch"])
    book.best_score, book.stale = tuple(meta["best_score"]), int(meta["stale"])
    res.resumed_from = int(meta["epoch"])
    if meta.get("stopped"):
        res.net = res.net.with_params(book.best)
        res.epochs_run, res.stopped = res.resumed_from, meta["stopped"]
        return None
    return master, moments, int(meta["opt_t"])


def _check_resume(path, meta, cfg: dict, net_meta: dict) -> None:
    old = meta.get("config", {})  # how often a run is checkpointed does not change it:
    diff = [f"config.{k}" for k in cfg if k != "checkpoint_seconds" and old.get(k) != cfg[k]]
    diff += [f"network.{k}" for k in net_meta if meta.get("network", {}).get(k) != net_meta[k]]
    if diff:
        raise CheckpointError(
            f"checkpoint {path} belongs to another run (differs in {', '.join(diff)}); "
            "use another checkpoint path or delete it"
        )
