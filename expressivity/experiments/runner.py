"""Execute one run spec: build data and network, train (with a checkpoint), evaluate.

:func:`execute_run` is what a sweep worker calls. It never writes the results
store (only the sweep's client does); it writes the model and a training
checkpoint under ``out_dir`` and returns a plain dict. Given the store's path
it looks there first: a run the store holds as finished is not run again
(``status="skipped"``), so a retry of a run whose worker died after its result
was recorded never rewrites its model. Files are written under temporary names
unique to the writer and moved into place when complete.

Examples
--------
>>> import tempfile
>>> from expressivity.experiments.spec import RunSpec
>>> s = RunSpec(cell="lstm", language="anbn", train_max=3, epochs=1, hidden_size=2)
>>> r = execute_run(s.to_dict(), tempfile.mkdtemp())
>>> r["status"], r["metrics"]["n_max_evaluated"]
('done', 12)
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import time
from pathlib import Path

import numpy as np

__all__ = [
    "CHECKPOINT_SECONDS",
    "POPULATION_KEY",
    "execute_population",
    "execute_run",
    "software_versions",
]

#: a run's checkpoint is written at most this often (seconds of training): an
#: interrupted sweep loses at most this much of each unfinished run, and a
#: one-word-update run does not spend a tenth of its time writing checkpoints.
#: Read when a run starts (it becomes ``TrainConfig.checkpoint_seconds``; None:
#: every ``eval_every`` epochs); dask workers read their own copy of the module
CHECKPOINT_SECONDS: float | None = 5.0

log = logging.getLogger(__name__)


def software_versions() -> dict:
    """Versions of Python, numpy, numba and expressivity."""
    import numba

    import expressivity

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "expressivity": expressivity.__version__,
        "platform": platform.platform(),
    }


def _prepare(spec_dict: dict) -> dict:
    """Everything a run needs before training: spec, language, data, network, config."""
    import expressivity as ex
    from expressivity.experiments.spec import RunSpec
    from expressivity.languages import get_language
    from expressivity.protocols import get_protocol
    from expressivity.training import TrainConfig

    spec = RunSpec(**spec_dict)
    ss = np.random.SeedSequence(spec.seed)
    r_init, r_data, r_train, r_eval = (np.random.default_rng(s) for s in ss.spawn(4))
    lang = get_language(spec.language)
    proto = get_protocol(spec.protocol)
    data = proto.training_data(lang, r_data, spec.train_min, spec.train_max, spec.per_value)
    val = proto.validation_data(lang, r_data, spec.train_min, spec.train_max, spec.per_value)
    net = ex.Network.create(
        spec.cell,
        lang.alphabet,
        spec.hidden_size,
        head=proto.head,
        precision=spec.precision,
        rng=r_init,
        embedding_size=spec.embedding_size or None,
        threshold=proto.threshold,
    )
    cfg = TrainConfig(
        optimizer=spec.optimizer,
        lr=spec.lr,
        batch_size=spec.batch_size,
        epochs=spec.epochs,
        clip=spec.clip or None,
        patience=spec.patience or None,
        target_accuracy=spec.target_accuracy or None,
        eval_every=spec.eval_every,
        checkpoint_every=spec.eval_every,
        checkpoint_seconds=CHECKPOINT_SECONDS,
    )
    return dict(spec=spec, lang=lang, proto=proto, data=data, val=val, net=net, cfg=cfg,
                r_train=r_train, r_eval=r_eval, started=time.time(),
                base={"versions": software_versions(),
                      "host": f"{socket.gethostname()}:{os.getpid()}"})  # fmt: skip


def _diverged(run: dict, err, seconds: float) -> dict:
    return dict(
        run["base"],
        started_at=run["started"],
        status="diverged",
        error=str(err),
        metrics={"epoch": err.epoch, "update": err.update},
        total_seconds=seconds,
        finished_at=time.time(),
    )


def _finish(run: dict, res, out: Path, t0: float) -> dict:
    """Evaluate a trained run far beyond its training range; save the model; the result row."""
    spec, proto = run["spec"], run["proto"]
    t1 = time.perf_counter()
    far = spec.eval_far if spec.eval_far > spec.eval_until else None
    ev = proto.evaluate(res.net, run["lang"], run["r_eval"], spec.train_max, spec.eval_until,
                        far=far, train_min=spec.train_min)  # fmt: skip
    t2 = time.perf_counter()
    model = _save_model(res.net, out / "models" / f"{spec.spec_hash}.npz",
                        dict(spec.to_dict(), spec_hash=spec.spec_hash))  # fmt: skip
    last = res.history[-1] if res.history else {}
    metrics = dict(
        ev.metrics,
        epochs_run=res.epochs_run,
        updates=res.updates,
        stopped=res.stopped,
        best_epoch=res.best_epoch,
        final_loss=last.get("loss"),
        val_accuracy=max((r.get("val_accuracy", 0.0) for r in res.history), default=None),
        resumed_from=res.resumed_from,
    )
    return dict(
        run["base"],
        started_at=run["started"],
        status="done",
        metrics=metrics,
        curves=ev.to_json()["curves"],
        history=res.history,
        train_seconds=res.seconds,
        eval_seconds=t2 - t1,
        total_seconds=time.perf_counter() - t0,
        model_path=str(model),
        finished_at=time.time(),
    )


def _save_model(net, path: Path, training: dict) -> Path:
    """Save under a temporary name unique to this writer, then move it into place."""
    from expressivity.training.checkpoint import temporary_path

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        net.save(tmp, training=training)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _skipped(spec_hash: str, store_path) -> dict:
    return {"status": "skipped", "error": None, "total_seconds": 0.0,
            "metrics": {"skipped": f"{spec_hash} is finished in {store_path}"}}  # fmt: skip


def _usable_checkpoint(ckpt: Path, discard: bool) -> str | None:
    """Check an existing checkpoint; a corrupt one raises, or is deleted if ``discard``.

    Returns the path of a discarded checkpoint (None if none was).
    """
    from expressivity.training import CheckpointError
    from expressivity.training.checkpoint import read_checkpoint

    if not ckpt.exists():
        return None
    try:
        read_checkpoint(ckpt)
    except CheckpointError:
        if not discard:
            raise
        log.warning("discarding corrupt checkpoint %s; the run starts afresh", ckpt)
        ckpt.unlink(missing_ok=True)
        return str(ckpt)
    return None


def execute_run(spec_dict: dict, out_dir: str, store_path: str | None = None,
                discard_corrupt_checkpoints: bool = False) -> dict:  # fmt: skip
    """Train and evaluate one run; returns a result dict for the store.

    Divergence is a result (``status="diverged"``, the message in ``error``).
    Other exceptions propagate (the sweep records them as ``error`` and retries
    them on the next start).

    Parameters
    ----------
    spec_dict : the run's :class:`~expressivity.experiments.spec.RunSpec` as a dict
    out_dir : models go to ``out_dir/models``, checkpoints to ``out_dir/checkpoints``
    store_path : the results store, looked at (read only) before training and
        before the model is saved: a run it holds as finished is not run (the
        result is ``{"status": "skipped"}``) and its model is never rewritten
    discard_corrupt_checkpoints : a corrupt checkpoint of this run is deleted
        (logged, and named in ``metrics["discarded_checkpoint"]``) and the run
        starts afresh; by default it raises
        :class:`~expressivity.training.CheckpointError` naming the file

    Raises
    ------
    CheckpointError
        The run's checkpoint is corrupt (and not discarded) or belongs to
        another configuration.
    OSError
        A file could not be written (on a full disk the message says so and
        names the file; no temporary file is left).
    """
    from expressivity.experiments.store import is_finished
    from expressivity.training import TrainingDiverged, train

    t0 = time.perf_counter()
    spec_hash = _spec_hash(spec_dict)
    if store_path is not None and is_finished(store_path, spec_hash):
        return _skipped(spec_hash, store_path)
    run = _prepare(spec_dict)
    out = Path(out_dir)
    ckpt = out / "checkpoints" / f"{spec_hash}.npz"
    discarded = _usable_checkpoint(ckpt, discard_corrupt_checkpoints)
    try:
        res = train(run["net"], run["data"], run["r_train"], run["cfg"], validation=run["val"],
                    checkpoint=ckpt)  # fmt: skip
    except TrainingDiverged as err:
        result = _diverged(run, err, time.perf_counter() - t0)
    else:
        if store_path is not None and is_finished(store_path, spec_hash):
            return _skipped(spec_hash, store_path)  # recorded meanwhile: its model stays
        result = _finish(run, res, out, t0)
        ckpt.unlink(missing_ok=True)
    if discarded is not None:
        result["metrics"]["discarded_checkpoint"] = discarded
    return result


def _spec_hash(spec_dict: dict) -> str:
    from expressivity.experiments.spec import RunSpec

    return RunSpec(**spec_dict).spec_hash


#: spec fields a population shares (the shape of one GPU launch)
POPULATION_KEY = ("cell", "language", "protocol", "hidden_size", "embedding_size", "precision",
                  "optimizer", "batch_size")  # fmt: skip


def execute_population(spec_dicts: list[dict], out_dir: str, backend: str = "cuda",
                       on_result=None) -> list[dict]:  # fmt: skip
    """Train runs that share :data:`POPULATION_KEY` together, then evaluate each.

    The runs train at once with
    :func:`expressivity.training.population.train_population` (one kernel
    launch per update on ``"cuda"``); each is then evaluated and saved as
    :func:`execute_run` does. Results come in the order of ``spec_dicts``;
    ``on_result(i, result)`` is called as each is ready. There is no training
    checkpoint: an interrupted population trains again (finished runs are in
    the store and are skipped).

    Examples
    --------
    >>> import tempfile
    >>> from expressivity.experiments.spec import RunSpec
    >>> specs = [RunSpec(cell="gru", language="anbn", train_max=2, epochs=1, hidden_size=2,
    ...                  seed=s).to_dict() for s in (0, 1)]
    >>> [r["status"] for r in execute_population(specs, tempfile.mkdtemp(), backend="cpu")]
    ['done', 'done']
    """
    from expressivity.training import TrainingDiverged
    from expressivity.training.population import train_population

    t0 = time.perf_counter()
    runs = [_prepare(d) for d in spec_dicts]
    keys = {tuple(getattr(r["spec"], k) for k in POPULATION_KEY) for r in runs}
    if len(keys) > 1:
        raise ValueError(f"a population shares {', '.join(POPULATION_KEY)}; got {sorted(keys)}")
    trained = train_population([r["net"] for r in runs], [r["data"] for r in runs],
                               [r["r_train"] for r in runs], [r["cfg"] for r in runs],
                               [r["val"] for r in runs], backend=backend)  # fmt: skip
    out = Path(out_dir)
    results = []
    for i, (run, res) in enumerate(zip(runs, trained)):
        if isinstance(res, TrainingDiverged):
            row = _diverged(run, res, time.perf_counter() - t0)
        else:
            row = _finish(run, res, out, t0)
        row["metrics"].update(population=len(runs), backend=backend)
        results.append(row)
        if on_result is not None:
            on_result(i, row)
    return results
