"""Run many specs: on dask.distributed (a LocalCluster or a given scheduler) or serially.

A run is keyed by its spec hash. Runs already finished in the store are
skipped, so a finished run is never repeated and an interrupted sweep resumes
where it stopped (a run that was mid-training resumes from its checkpoint).
Only this process, the client, writes the store, one row as each run finishes.
A worker that dies is replaced by its nanny and dask reschedules its run
(``allowed-failures``); a run that raises is recorded as ``error`` and tried
again on the next start.

Faults:

- One sweep at a time per output: :func:`run_sweep` takes an exclusive lock
  (``fcntl.flock``) on ``<out_dir>/.lock`` and on ``<store>.lock`` and holds it
  to the end. A second sweep on the same output or store refuses at once with
  :class:`~expressivity.experiments.store.StoreBusyError` naming the holder's
  pid (``wait=True``: it waits for the lock instead). Every temporary file
  (checkpoints, models, a new store) has a name unique to its writer and is
  moved into place when complete; those a killed writer left are removed
  when a sweep starts and ends.
- A recorded run is never executed again: the worker looks in the store before
  it trains (and before it saves the model), the store keeps the first
  finished row, and the client releases each future once its row is written,
  so a worker that dies later holds no result dask would recompute.
- A full disk stops the sweep with a
  :class:`~expressivity.experiments.store.StoreError` that says so and names
  the file; rows already written stay (one transaction each) and no temporary
  file remains. Rerun the same command once there is space.
- Populations on the CPU: runs that the SIMD-lanes kernel trains together
  (:func:`~expressivity.experiments.runner.lanes_compatible`: at least
  ``lanes.MIN_LANES`` runs sharing
  :data:`~expressivity.experiments.runner.POPULATION_KEY`, one word per
  update, at most ``lanes.MAX_HIDDEN`` units, precision ``float32``)
  are one task: with dask one population per worker (a group is split into
  at most one part per worker thread, each part at least ``MIN_LANES`` runs),
  serially in this process. Each run equals it trained alone, bit for bit
  (same row, same model; the row's metrics also name ``population`` and
  ``backend``). Smaller or other groups run one task per run. A population
  looks in the store before it trains (and before it saves each model), so a
  retry skips runs recorded meanwhile. Its runs train with checkpoints; a
  dask population returns its rows at its end (serially, each row is recorded
  as its run is evaluated), and a finished run's checkpoint stays, marked
  finished, until the client has recorded its row: a population whose worker
  dies or that is interrupted loses no trained run; run again, it evaluates
  the finished runs without training them and resumes the others from their
  checkpoints.
- A corrupt checkpoint fails its run with a message naming the file;
  ``discard_corrupt_checkpoints=True`` (``--discard-corrupt-checkpoints``)
  deletes it and starts that run afresh.

Scripts that call :func:`run_sweep` with dask must guard their entry point
with ``if __name__ == "__main__":`` (worker processes re-import the main module).

The LocalCluster's workers start without dask's default
``MALLOC_TRIM_THRESHOLD_=65536``: with it, glibc maps every large array afresh,
and runs were 10-16% slower than in a plain process. Workers you start yourself
(``--scheduler``) get the same speed when their dask config holds
``distributed: {nanny: {pre-spawn-environ: {MALLOC_TRIM_THRESHOLD_: null}}}``
(e.g. in ``~/.config/dask/distributed.yaml``) and the shell does not set it.

Examples
--------
>>> import tempfile, pathlib
>>> from expressivity.experiments.spec import RunSpec
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> specs = [RunSpec(cell="gru", language="anbn", train_max=2, epochs=1, seed=s) for s in (0, 1)]
>>> summary = run_sweep(specs, d / "r.sqlite", d, executor="serial", progress=None)
>>> summary["ran"], run_sweep(specs, d / "r.sqlite", d, executor="serial", progress=None)["skipped"]
(2, 2)
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from expressivity._progress import counting_progress, log_info
from expressivity.experiments.runner import execute_run
from expressivity.experiments.spec import RunSpec
from expressivity.experiments.store import (
    ResultsStore,
    StoreBusyError,
    StoreError,
    check_store_path,
)

log = logging.getLogger(__name__)

__all__ = ["CLUSTER_SETTINGS", "WORKER_ENV", "cpu_groups", "local_cluster", "run_sweep"]

#: environment of worker processes: one thread each (numba's is set per task,
#: since numba may already be imported, and its thread pool started, when the
#: environment reaches the worker)
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "EXPRESSIVITY_PROGRESS": "0",  # no progress bars from worker processes
}


def _line(i: int, n: int, spec: RunSpec, res: dict) -> str:
    m = res.get("metrics", {})
    tail = res.get("error", "") or ""
    if res.get("status") == "done":
        tail = f"frontier={m.get('frontier')} max_accepted={m.get('max_accepted_n')}"
    return (
        f"[{i}/{n}] {spec.label()} {res.get('status')} "
        f"{res.get('total_seconds', 0.0):.1f}s {tail}".rstrip()
    )


def run_sweep(
    specs: Sequence[RunSpec],
    store_path: str | Path,
    out_dir: str | Path,
    sweep: str | None = None,
    executor: str = "dask",
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Callable[[str], None] | None = log_info,
    backend: str = "cpu",
    discard_corrupt_checkpoints: bool = False,
    wait: bool = False,
) -> dict:
    """Run every spec not yet finished in the store; record each result as it arrives.

    Parameters
    ----------
    specs : run specs (duplicates by hash are run once)
    store_path : SQLite results store (created if missing)
    out_dir : models and checkpoints go here
    sweep : name stored with each row
    executor : ``"dask"`` or ``"serial"`` (in this process; for tiny runs and tests)
    scheduler : address of a running dask scheduler (default: a LocalCluster)
    n_workers : LocalCluster worker processes (default: the machine's cores)
    progress : called with one line per finished run (default: logged at INFO on
        ``expressivity.experiments``; None: silent); a progress bar counts the runs
        in a terminal or notebook
    backend : ``"cpu"`` (each run trained alone by the executor, except groups that
        :func:`~expressivity.experiments.runner.lanes_compatible` accepts: one
        population task each, on a worker or in this process), ``"auto"`` (the
        GPU when there is one) or ``"cuda"``:
        runs that share :data:`~expressivity.experiments.runner.POPULATION_KEY`
        train together as one population on the GPU, in this process (the
        executor is not used); each run's row is recorded as it is evaluated
    discard_corrupt_checkpoints : delete a run's corrupt checkpoint (logged, and
        named in the row's ``metrics["discarded_checkpoint"]``) and start that
        run afresh; by default the run fails with an error naming the file
    wait : another sweep holds this output or store: wait for it to finish
        (default: raise :class:`~expressivity.experiments.store.StoreBusyError`)

    Returns
    -------
    dict with ``ran``, ``skipped``, ``errors``, ``seconds``

    Raises
    ------
    StoreBusyError
        Another sweep is running on ``out_dir`` or ``store_path`` (its pid is named).
    StoreError
        The store or the output folder cannot be used (read-only, a directory,
        corrupt, the disk is full); the message says what to do.
    """
    if executor not in ("dask", "serial"):
        raise ValueError(f"executor must be 'dask' or 'serial', got {executor!r}")
    from expressivity.training.backends import resolve_backend

    backend = resolve_backend(backend)
    out_dir, store_path = Path(out_dir), Path(store_path)
    _writable_folder(out_dir, "output folder")
    _writable_folder(store_path.parent, "results store folder")
    check_store_path(store_path)
    t0 = time.perf_counter()
    unique = {s.spec_hash: s for s in specs}
    locks = [out_dir / ".lock", store_path.with_name(store_path.name + ".lock")]
    with _locked(locks, wait), ResultsStore(store_path) as store:
        _remove_stale_temporaries(out_dir)
        done = store.finished_hashes()
        todo = [s for h, s in unique.items() if h not in done]
        skipped = len(unique) - len(todo)
        if progress and skipped:
            progress(f"{skipped} of {len(unique)} runs already finished; {len(todo)} to run")
        progress = counting_progress(progress, len(todo), sweep or "sweep")  # a bar if interactive
        book = _Book(store, sweep, len(todo), progress)
        opts = dict(store_path=str(store_path.resolve()),
                    discard_corrupt_checkpoints=bool(discard_corrupt_checkpoints))  # fmt: skip
        try:
            if backend == "cuda":
                _run_populations(todo, book, out_dir)
            elif executor == "serial":
                pops, singles = cpu_groups(todo)
                for specs in pops:
                    _log_population(specs, "in this process")
                    _population_here(specs, book, out_dir, "cpu", opts)
                for spec in singles:
                    book.record(spec, _safe(spec, out_dir, None, **opts))
            elif todo:
                _run_dask(todo, book, out_dir, scheduler, n_workers, opts)
        finally:  # e.g. of a worker killed while it wrote
            _remove_stale_temporaries(out_dir)
    return {
        "ran": len(todo) - book.skipped,
        "skipped": skipped + book.skipped,
        "errors": book.errors,
        "seconds": time.perf_counter() - t0,
    }


def _writable_folder(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the {what} {folder} ({err}); pass another one") from err
    if not folder.is_dir():
        raise StoreError(f"the {what} {folder} is not a directory; pass a folder")
    if not os.access(folder, os.W_OK):
        raise StoreError(
            f"the {what} {folder} is read-only; make it writable or pass a writable one "
            "(--out / --store)"
        )


@contextlib.contextmanager
def _locked(paths: Sequence[Path], wait: bool) -> Iterator[None]:
    """Hold an exclusive ``flock`` on each of ``paths`` (in order) while the block runs.

    Each lock file holds ``pid@host`` of its holder. Without ``fcntl`` (Windows)
    nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    held = []
    try:
        for path in dict.fromkeys(Path(p).resolve() for p in paths):
            try:
                fh = open(path, "a+")  # noqa: SIM115 - held until the sweep ends
            except OSError as err:
                raise StoreError(
                    f"cannot create the lock file {path} ({err}); make its folder writable "
                    "or pass another --out / --store"
                ) from err
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip()
                fh.close()
                pid = holder.split("@")[0] if holder else "unknown"
                raise StoreBusyError(
                    f"another sweep (pid {pid}, {holder or 'host unknown'}) is running on this "
                    f"output: it holds the lock {path}. Wait for it to finish (run_sweep(..., "
                    "wait=True) waits), or pass another --out / --store; two sweeps on one "
                    "output would run the same runs twice",
                    path,
                    holder,
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}@{socket.gethostname()}\n")
            fh.flush()
            held.append(fh)
        yield
    finally:
        for fh in reversed(held):
            with contextlib.suppress(OSError):
                fh.truncate(0)
            fh.close()  # releases the lock


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Remove temporary files a killed writer left (this sweep holds the output's lock)."""
    for sub in ("checkpoints", "models"):
        for tmp in (out_dir / sub).glob(".*.tmp.npz"):
            log.info("removing %s, left by an interrupted write", tmp)
            tmp.unlink(missing_ok=True)


class _Book:
    """The client's side: record each result once, count, report, stop on a full disk."""

    def __init__(self, store, sweep, n, progress):
        self.store, self.sweep, self.n, self.progress = store, sweep, n, progress
        self.i = self.errors = self.skipped = 0

    def record(self, spec: RunSpec, res: dict) -> None:
        self.i += 1
        if res.get("status") == "skipped" or not self.store.record(spec, res, self.sweep):
            self.skipped += 1  # finished in the store already: the recorded row wins
            if self.progress:
                self.progress(f"[{self.i}/{self.n}] {spec.label()} already recorded; not rerun")
            return
        self.errors += res["status"] == "error"
        if self.progress:
            self.progress(_line(self.i, self.n, spec, res))
        if res.get("disk_full"):
            raise StoreError(
                f"run {spec.label()} ({spec.spec_hash}) failed because the disk is full: "
                f"{res['error']}. The sweep stopped; the runs recorded so far are kept and no "
                "temporary file is left. Free space, then rerun the same command: finished "
                "runs are skipped and unfinished ones resume from their checkpoints"
            )


def cpu_groups(
    specs: Sequence[RunSpec], parts: int = 1
) -> tuple[list[list[RunSpec]], list[RunSpec]]:
    """Split runs into CPU populations and runs trained alone.

    Runs sharing :data:`~expressivity.experiments.runner.POPULATION_KEY` whose
    group :func:`~expressivity.experiments.runner.lanes_compatible` accepts
    become populations; a group is split into up to ``parts`` near-equal
    populations (for as many workers), each of at least ``lanes.MIN_LANES``
    runs. Every other run is trained alone.

    Returns
    -------
    (populations, singles) : lists of run-spec lists, and of run specs, in input order

    Examples
    --------
    >>> from expressivity.experiments.spec import RunSpec
    >>> specs = [RunSpec(cell="gru", language="anbn", seed=s) for s in range(70)]
    >>> pops, singles = cpu_groups(specs + [RunSpec(cell="lstm", language="anbn")], parts=2)
    >>> [len(p) for p in pops], len(singles)
    ([35, 35], 1)
    """
    from expressivity.experiments.runner import lanes_compatible, population_key
    from expressivity.kernels.lanes import MIN_LANES

    groups: dict[tuple, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(population_key(spec), []).append(spec)
    pops, together = [], set()
    for group in groups.values():
        if not lanes_compatible(group):
            continue
        k = max(1, min(len(group) // MIN_LANES, int(parts)))
        cuts = [len(group) * i // k for i in range(k + 1)]
        pops += [group[a:b] for a, b in zip(cuts, cuts[1:])]
        together.update(s.spec_hash for s in group)
    return pops, [s for s in specs if s.spec_hash not in together]


def _log_population(specs: Sequence[RunSpec], where: str) -> None:
    s = specs[0]
    log.info("population of %d %s runs (%s, hidden %d) %s", len(specs), s.cell, s.language,
             s.hidden_size, where)  # fmt: skip


def _checkpoint(out_dir, spec: RunSpec) -> Path:
    return Path(out_dir) / "checkpoints" / f"{spec.spec_hash}.npz"


def _record_member(book: _Book, spec: RunSpec, res: dict, out_dir) -> None:
    """Record a population's run; then its finished checkpoint is no longer needed."""
    book.record(spec, res)
    if res.get("status") in ("done", "skipped"):
        _checkpoint(out_dir, spec).unlink(missing_ok=True)


def _run_populations(todo, book: _Book, out_dir) -> None:
    """The ``backend="cuda"`` path: one population per group of compatible runs."""
    from expressivity.experiments.runner import population_key

    groups: dict[tuple, list[RunSpec]] = {}
    for spec in todo:
        groups.setdefault(population_key(spec), []).append(spec)
    for specs in groups.values():
        _log_population(specs, "on the GPU")
        _population_here(specs, book, out_dir, "cuda")


def _population_here(specs, book: _Book, out_dir, backend: str, opts: dict | None = None) -> None:
    """Train one population in this process, recording each run as it is evaluated.

    On ``"cpu"`` the runs train with checkpoints (each removed once its row is
    recorded) and the store is looked at first (``opts``, as for :func:`_safe`).
    """
    from expressivity.experiments import runner

    recorded = set()

    def record(i, res):
        recorded.add(i)
        _record_member(book, specs[i], res, out_dir)

    dicts = [s.to_dict() for s in specs]
    try:
        if backend == "cuda":
            runner.execute_population(dicts, str(out_dir), "cuda", record)
        else:
            runner.execute_population(dicts, str(out_dir), backend, record, checkpoints=True,
                                      **(opts or {}))  # fmt: skip
    except StoreError:
        raise
    except Exception as err:  # the whole group failed: each run is an error row
        res = _error_result(err, 0.0)
        for i, spec in enumerate(specs):
            if i not in recorded:
                book.record(spec, dict(res))


def _safe_population(specs: Sequence[RunSpec], out_dir: Path, threads: int | None = None,
                     store_path=None, discard_corrupt_checkpoints: bool = False) -> list[dict]:  # fmt: skip
    """Run one CPU population on a worker; returns its rows at its end (errors as rows).

    Runs finished in the store are skipped (the store is looked at before
    training and before each model is saved); runs train with checkpoints,
    which the client removes as it records each row.
    """
    from expressivity.experiments.runner import execute_population

    t0 = time.perf_counter()
    rows: list = [None] * len(specs)

    def keep(i, res):
        rows[i] = res

    try:
        if threads is not None:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        execute_population([s.to_dict() for s in specs], str(out_dir), "cpu", keep,
                           store_path=store_path, checkpoints=True,
                           discard_corrupt_checkpoints=discard_corrupt_checkpoints)  # fmt: skip
    except Exception as err:  # the runs not evaluated yet are error rows; retried next start
        res = _error_result(err, time.perf_counter() - t0)
        rows = [dict(res) if r is None else r for r in rows]
    return rows


def _error_result(err: BaseException, seconds: float) -> dict:
    res = {"status": "error", "error": f"{type(err).__name__}: {err}", "total_seconds": seconds}
    if getattr(err, "errno", None) == errno.ENOSPC:
        res["disk_full"] = True
    return res


def _safe(spec: RunSpec, out_dir: Path, threads: int | None = None, store_path=None,
          discard_corrupt_checkpoints: bool = False) -> dict:  # fmt: skip
    """Run one spec on a worker (or here); an exception becomes an ``error`` result."""
    t0 = time.perf_counter()
    try:
        if threads is not None:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        return execute_run(spec.to_dict(), str(out_dir), store_path, discard_corrupt_checkpoints)
    except Exception as err:  # recorded as an error row; retried on the next start
        return _error_result(err, time.perf_counter() - t0)


#: dask settings of :func:`local_cluster`
CLUSTER_SETTINGS = {
    # a worker killed this many times takes its run down as KilledWorker
    "distributed.scheduler.allowed-failures": 3,
    # dask's default pre-spawn MALLOC_TRIM_THRESHOLD_=65536 also switches off
    # glibc's dynamic mmap threshold: every large array is then a fresh mmap
    # that page-faults on first touch, which made runs 10-16% slower in a worker
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


def local_cluster(n_workers: int | None = None, settings: dict | None = None):
    """The LocalCluster a sweep starts: one process per core, one thread each.

    Workers have :data:`WORKER_ENV` and the dask ``settings`` (default
    :data:`CLUSTER_SETTINGS`). Pass its ``scheduler_address`` to
    :func:`run_sweep` to run several sweeps on one cluster; close it when done
    (it is a context manager).
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set(CLUSTER_SETTINGS if settings is None else settings):
        return LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=WORKER_ENV,
        )


def _run_dask(todo, book: _Book, out_dir, scheduler, n_workers, opts) -> None:
    from distributed import Client, as_completed

    cluster = local_cluster(n_workers) if scheduler is None else None
    client = None
    try:
        client = Client(cluster if cluster is not None else scheduler)
        slots = max(1, sum(client.nthreads().values()))
        pops, singles = cpu_groups(todo, parts=slots)
        futs = {}
        for specs in pops:  # the longest tasks first
            _log_population(specs, "on a worker")
            f = client.submit(_safe_population, specs, out_dir, 1, pure=False,
                              key=f"population-{specs[0].spec_hash}-{len(specs)}", **opts)  # fmt: skip
            futs[f] = specs
        for spec in singles:
            f = client.submit(_safe, spec, out_dir, 1, key=f"run-{spec.spec_hash}", pure=False,
                              **opts)  # fmt: skip
            futs[f] = spec
        for fut in as_completed(futs):
            what = futs.pop(fut)
            try:
                res = fut.result()
            except Exception as err:  # e.g. KilledWorker after repeated crashes
                res = _error_result(err, 0.0)
            # release the result before anything else: were its worker to die now, dask
            # would otherwise run the run again to restore a result the client still holds
            fut.release()
            del fut
            if isinstance(what, RunSpec):
                book.record(what, res)
                continue
            rows = res if isinstance(res, list) else [dict(res) for _ in what]
            for spec, row in zip(what, rows):
                _record_member(book, spec, row, out_dir)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
