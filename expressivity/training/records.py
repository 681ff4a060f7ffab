"""What a training run keeps besides its weights: settings, results, epochs, checkpoints.

The bookkeeping that :func:`~expressivity.training.train` and
:func:`~expressivity.training.population.train_population` share, below both
of them and below the backends (:mod:`expressivity.training.backends`), so
that the package's imports point one way: ``trainer`` -> ``population`` ->
``backends`` -> ``records``. It holds

- the settings and the result of a run (:class:`TrainConfig`,
  :class:`TrainResult`) and its failure (:class:`TrainingDiverged`,
  :func:`diverged_error`);
- what an epoch's end records (:class:`EpochBook`: history, validation, best
  weights, early stopping) and the measures it uses (:func:`dataset_accuracy`,
  :func:`dataset_loss`);
- a batch of a dataset's words with their targets (:func:`batch_of`);
- a run's checkpoint (:func:`save_run`, :func:`resume_run`, keyed by
  :func:`net_meta`; the file format is :mod:`expressivity.training.checkpoint`'s).

Examples
--------
>>> import numpy as np
>>> from expressivity.languages import get_language
>>> from expressivity.protocols import get_protocol, targets_for
>>> TrainConfig(lr=0.01, batch_size=8).optimizer
'adam'
>>> TrainConfig(lr=-1.0)
Traceback (most recent call last):
...
ValueError: lr must be positive, got -1.0
>>> ds = get_protocol("weiss2018").training_data(get_language("anbn"), np.random.default_rng(0), 0, 3)
>>> sym, lens, tgt = batch_of(ds, targets_for("next-symbol", ds), np.array([0, 2]))
>>> sym.shape == (2, lens.max()), tgt.shape == (2, lens.max() + 1)
(True, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from expressivity.training.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from expressivity.training.optim import OPTIMIZERS

__all__ = [
    "EpochBook",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "batch_of",
    "dataset_accuracy",
    "dataset_loss",
    "diverged_error",
    "net_meta",
    "resume_run",
    "save_run",
]


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept.

    Attributes
    ----------
    epoch : the epoch (counted from 0) in which it diverged
    update : updates done until then (over the whole run)
    checkpoint : the last good checkpoint's path (None: there is none)

    Examples
    --------
    >>> import pickle
    >>> err = pickle.loads(pickle.dumps(TrainingDiverged("diverged", 3, 120, None)))
    >>> err.epoch, err.update, str(err)
    (3, 120, 'diverged')
    """

    def __init__(self, message: str, epoch: int, update: int, checkpoint: Path | None):
        super().__init__(message)
        self.epoch, self.update, self.checkpoint = epoch, update, checkpoint

    def __reduce__(self):
        # whole across processes (a population trained on a dask worker returns it)
        return type(self), (str(self), self.epoch, self.update, self.checkpoint)


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
    """What :func:`~expressivity.training.train` returns (and, per network,
    :func:`~expressivity.training.population.train_population`).

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
    and next sets, so no language is needed; NaN for no words.

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> from expressivity.languages import get_language
    >>> from expressivity.protocols import get_protocol
    >>> ds = get_protocol("weiss2018").validation_data(get_language("anbn"),
    ...                                                np.random.default_rng(0), 0, 4)
    >>> net = ex.Network.create("gru", "ab", 3, head="next-symbol", rng=np.random.default_rng(0))
    >>> 0.0 <= dataset_accuracy(net, ds) <= 1.0
    True
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


def dataset_loss(net, ds) -> float:
    """Mean loss of ``net`` over the words of ``ds`` its head is trained on.

    A predictive head (``next-symbol``, ``next-set``) is trained on the
    positives only, so the negatives are left out; NaN for no words.

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> from expressivity.languages import get_language
    >>> from expressivity.protocols import get_protocol
    >>> ds = get_protocol("weiss2018").validation_data(get_language("anbn"),
    ...                                                np.random.default_rng(0), 0, 4)
    >>> net = ex.Network.create("gru", "ab", 3, head="next-symbol", rng=np.random.default_rng(0))
    >>> bool(dataset_loss(net, ds) > 0)
    True
    """
    from expressivity.protocols import targets_for

    if net.head != "accept":
        ds = ds[ds.labels]
    return net.loss_encoded(ds.symbols, ds.lengths, targets_for(net.head, ds))


def batch_of(ds, targets: np.ndarray, idx: np.ndarray):
    """The words ``ds[idx]`` as one batch: ``(symbols, lengths, targets)``.

    Parameters
    ----------
    ds : Dataset
    targets : np.ndarray
        The dataset's targets for the head
        (:func:`expressivity.protocols.targets_for`): one per word, or one row
        per word over its positions.
    idx : np.ndarray
        Indices of the batch's words.

    Returns
    -------
    symbols : np.ndarray
        ``(len(idx), T)`` symbol codes, ``T`` the longest word's length.
    lengths : np.ndarray
        The words' lengths.
    targets : np.ndarray
        Their targets, cut to ``T + 1`` positions when per position.
    """
    lens = ds.lengths[idx]
    T = int(lens.max()) if len(lens) else 0
    sym = ds.symbols[idx, :T]
    tgt = targets[idx] if targets.ndim == 1 else targets[idx, : T + 1]
    return sym, lens, tgt


def net_meta(net, n_train: int) -> dict:
    """What a checkpoint records of its network: resuming requires the same.

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> net = ex.Network.create("gru", "ab", 3, rng=np.random.default_rng(0))
    >>> sorted(net_meta(net, 10))
    ['alphabet', 'cell', 'head', 'hidden_size', 'n_train', 'precision']
    """
    return {
        "cell": net.cell,
        "alphabet": net.alphabet,
        "head": net.head,
        "precision": net.precision.name,
        "hidden_size": net.hidden_size,
        "n_train": n_train,
    }


# ----------------------------------------------------------------------------- epochs


class EpochBook:
    """One run's epoch bookkeeping: history, validation, best weights, early stopping.

    :func:`expressivity.training.population.train_population` keeps one per
    network (and :func:`~expressivity.training.train` is a population of one).

    Parameters
    ----------
    cfg : TrainConfig
        The run's settings (``eval_every``, ``target_accuracy``, ``patience``,
        ``max_seconds``, ``epochs``).
    res : TrainResult
        Receives the history and ``best_epoch``.
    best : dict
        The best weights so far (float64 master weights by name).
    best_score : tuple
        ``(validation accuracy, -validation loss)`` of ``best``.
    stale : int
        Evaluations since the score last improved.
    """

    def __init__(self, cfg, res, best, best_score=(-np.inf, -np.inf), stale=0):
        self.cfg, self.res, self.best = cfg, res, best
        self.best_score, self.stale = tuple(best_score), int(stale)

    def evaluates(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (counted from 1) ends with a validation."""
        return epoch % self.cfg.eval_every == 0 or epoch == self.cfg.epochs

    def end_epoch(self, epoch, mean_loss, t0, make_net, master, data, validation, progress,
                  accuracy=None, loss=None) -> str:  # fmt: skip
        """Record epoch ``epoch``; returns ``"epochs"`` (go on) or why training stops.

        ``make_net()`` returns the network with ``master``'s weights; it is called
        only on epochs that evaluate, and only when it is needed: ``accuracy`` and
        ``loss``, when given, are the network's :func:`dataset_accuracy` on the
        validation set (or on ``data`` without one) and :func:`dataset_loss` on the
        validation set, computed by the caller (a population evaluates its networks
        together, :mod:`expressivity.training.evaluation`).
        """
        cfg, res = self.cfg, self.res
        stopped = "epochs"
        rec = {"epoch": epoch, "loss": mean_loss, "seconds": time.perf_counter() - t0}
        if self.evaluates(epoch):
            vds = validation if validation is not None else data
            need = accuracy is None or (validation is not None and loss is None)
            net = make_net() if need else None
            acc = dataset_accuracy(net, vds) if accuracy is None else float(accuracy)
            if validation is None:
                vloss = rec["loss"]
            else:
                vloss = dataset_loss(net, validation) if loss is None else float(loss)
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


def diverged_error(what, epoch, update, ckpt, last_good) -> TrainingDiverged:
    """The error for a run whose ``what`` ("loss", "gradient", "weights") became non-finite.

    ``epoch`` is counted from 0, ``update`` over the run; the message names the
    last good checkpoint (``ckpt``, written at epoch ``last_good``) when there
    is one, and what to change.

    Examples
    --------
    >>> err = diverged_error("loss", 2, 57, None, None)
    >>> err.epoch, err.update, err.checkpoint
    (2, 57, None)
    >>> str(err).split(".")[0]
    'training diverged: the loss became NaN or infinite at epoch 3, update 57'
    """
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


# ----------------------------------------------------------------------------- checkpoints


def save_run(ckpt, cfg, meta_net, master, best, opt_t, moments, rng, epoch, res, best_score,
             stale, stopped):  # fmt: skip
    """Write a run's checkpoint: weights, optimizer state (named as ``optim``'s), rng, history.

    Parameters
    ----------
    ckpt : path
    cfg : TrainConfig
    meta_net : dict
        :func:`net_meta` of the network.
    master, best : dict
        The float64 master weights and the best weights so far, by name.
    opt_t : int
        The optimizer's update count.
    moments : dict
        The optimizer's moments: ``{"m": {...}, "v": {...}}`` (Adam) or
        ``{"v": {...}}`` (SGD), each by parameter name.
    rng : np.random.Generator
        The run's generator (its state is saved).
    epoch : int
        Epochs done.
    res : TrainResult
        Its history and counters are saved.
    best_score, stale
        The :class:`EpochBook`'s early-stopping state.
    stopped : str or False
        Why the run stopped, when this is its final checkpoint.
    """
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


def resume_run(ckpt, cfg, meta_net, rng, res, book):
    """Restore a run from its checkpoint (as :func:`save_run` wrote it) into ``rng``, ``res``
    and ``book`` (an :class:`EpochBook`).

    Returns
    -------
    tuple or None
        ``(master, moments, opt_t)`` to continue from, or None when the run had
        already finished (``res`` is then complete).

    Raises
    ------
    CheckpointError
        The file is unreadable, or it belongs to another configuration or
        network (the message names the fields that differ).
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
