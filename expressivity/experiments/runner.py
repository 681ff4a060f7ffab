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
    "lanes_compatible",
    "population_key",
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


def population_key(spec) -> tuple:
    """The values of :data:`POPULATION_KEY` of a :class:`~expressivity.experiments.spec.RunSpec`.

    Examples
    --------
    >>> from expressivity.experiments.spec import RunSpec
    >>> population_key(RunSpec(cell="gru", language="anbn"))
    ('gru', 'anbn', 'weiss2018', 10, 3, 'float32', 'adam', 1)
    """
    return tuple(getattr(spec, k) for k in POPULATION_KEY)


def lanes_compatible(specs) -> bool:
    """Whether the CPU trains ``specs`` together as SIMD lanes (:mod:`expressivity.kernels.lanes`).

    True when the runs share :data:`POPULATION_KEY`, there are at least
    ``lanes.MIN_LANES`` of them, each updates on one word (``batch_size == 1``),
    has at most ``lanes.MAX_HIDDEN`` hidden units and the precision ``float32``:
    :func:`expressivity.kernels.lanes.takes`, the rule by which
    :class:`~expressivity.training.backends.CpuBackend` takes the lanes kernel.
    Such a group trains faster as one population than one run after another,
    with the same results bit for bit; :func:`~expressivity.experiments.sweep.run_sweep`
    gives it to one worker. Smaller or other groups gain nothing from being a
    CPU population.

    Parameters
    ----------
    specs : run specs (:class:`~expressivity.experiments.spec.RunSpec`, or their dicts)

    Examples
    --------
    >>> from expressivity.experiments.spec import RunSpec
    >>> from expressivity.kernels.lanes import MIN_LANES
    >>> group = [RunSpec(cell="lstm", language="anbn", seed=s) for s in range(MIN_LANES)]
    >>> lanes_compatible(group), lanes_compatible(group[1:])
    (True, False)
    """
    from expressivity.experiments.spec import RunSpec
    from expressivity.kernels import lanes
    from expressivity.precision import parse_precision

    specs = [RunSpec(**s) if isinstance(s, dict) else s for s in specs]
    if len({population_key(s) for s in specs}) != 1:
        return False
    s = specs[0]
    return lanes.takes(len(specs), s.batch_size, s.hidden_size, parse_precision(s.precision))


def execute_population(spec_dicts: list[dict], out_dir: str, backend: str = "cuda",
                       on_result=None, store_path: str | None = None,
                       discard_corrupt_checkpoints: bool = False,
                       checkpoints: bool = False) -> list[dict]:  # fmt: skip
    """Train runs that share :data:`POPULATION_KEY` together, then evaluate each.

    The runs train at once with
    :func:`expressivity.training.population.train_population` (one kernel
    launch per update on ``"cuda"``; SIMD lanes on ``"cpu"`` when
    :func:`lanes_compatible`); each is then evaluated and saved as
    :func:`execute_run` does, with the same row and model (plus
    ``metrics["population"]`` and ``metrics["backend"]``). Results come in the
    order of ``spec_dicts``; ``on_result(i, result)`` is called as each is
    ready: the training of all ends together, so rows come during the
    evaluations that follow it.

    Parameters
    ----------
    spec_dicts : the runs' :class:`~expressivity.experiments.spec.RunSpec` as dicts
    out_dir : models go to ``out_dir/models``, checkpoints to ``out_dir/checkpoints``
    backend : ``"cuda"`` or ``"cpu"``
    on_result : called ``on_result(i, result)`` as each result is ready
    store_path : the results store, looked at (read only) before training and
        before each model is saved: a run it holds as finished is not trained
        (its result is ``{"status": "skipped"}``) and its model is never rewritten
    discard_corrupt_checkpoints : as for :func:`execute_run`
    checkpoints : train each run with its checkpoint (``out_dir/checkpoints``,
        resumed from when present, as :func:`execute_run` does). Without
        them an interrupted population trains again from the start (finished
        runs are in the store and are skipped). A finished run's checkpoint is
        *kept*, marked finished: the caller removes it once the run's row is
        recorded, so a population interrupted before that (its worker killed
        during the evaluations) loses no trained run: run again, it evaluates
        those runs without training them.

    Raises
    ------
    ValueError
        The runs differ in :data:`POPULATION_KEY`.
    CheckpointError
        A run's checkpoint is corrupt (and not discarded) or belongs to another
        configuration.

    Examples
    --------
    >>> import tempfile
    >>> from expressivity.experiments.spec import RunSpec
    >>> specs = [RunSpec(cell="gru", language="anbn", train_max=2, epochs=1, hidden_size=2,
    ...                  seed=s).to_dict() for s in (0, 1)]
    >>> [r["status"] for r in execute_population(specs, tempfile.mkdtemp(), backend="cpu")]
    ['done', 'done']
    """
    from expressivity.experiments.store import is_finished
    from expressivity.training import TrainingDiverged
    from expressivity.training.population import train_population

    t0 = time.perf_counter()
    out = Path(out_dir)
    hashes = [_spec_hash(d) for d in spec_dicts]
    results: list = [None] * len(spec_dicts)

    def give(i: int, row: dict) -> None:
        results[i] = row
        if on_result is not None:
            on_result(i, row)

    def finished(i: int) -> bool:
        return store_path is not None and is_finished(store_path, hashes[i])

    todo = []
    for i in range(len(spec_dicts)):
        if finished(i):  # recorded already (e.g. a retry of a population whose worker died)
            give(i, _skipped(hashes[i], store_path))
        else:
            todo.append(i)
    if not todo:
        return results
    runs = [_prepare(spec_dicts[i]) for i in todo]
    keys = {population_key(r["spec"]) for r in runs}
    if len(keys) > 1:
        raise ValueError(f"a population shares {', '.join(POPULATION_KEY)}; got {sorted(keys)}")
    ckpts, discarded = None, {}
    if checkpoints:
        ckpts = [out / "checkpoints" / f"{hashes[i]}.npz" for i in todo]
        for j, ckpt in enumerate(ckpts):
            gone = _usable_checkpoint(ckpt, discard_corrupt_checkpoints)
            if gone is not None:
                discarded[j] = gone
    trained = train_population([r["net"] for r in runs], [r["data"] for r in runs],
                               [r["r_train"] for r in runs], [r["cfg"] for r in runs],
                               [r["val"] for r in runs], backend=backend,
                               checkpoints=ckpts)  # fmt: skip
    for j, (i, run, res) in enumerate(zip(todo, runs, trained)):
        if isinstance(res, TrainingDiverged):
            row = _diverged(run, res, time.perf_counter() - t0)
        elif finished(i):  # recorded meanwhile: its model stays
            give(i, _skipped(hashes[i], store_path))
            continue
        else:
            row = _finish(run, res, out, t0)
        row["metrics"].update(population=len(runs), backend=backend)
        if j in discarded:
            row["metrics"]["discarded_checkpoint"] = discarded[j]
        give(i, row)
    return results
