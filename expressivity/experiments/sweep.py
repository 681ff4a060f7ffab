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

__all__ = ["CLUSTER_SETTINGS", "WORKER_ENV", "local_cluster", "run_sweep"]

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
    backend : ``"cpu"`` (each run trained alone, by the executor), ``"auto"`` (the
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
                for spec in todo:
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


def _run_populations(todo, book: _Book, out_dir) -> None:
    """The ``backend="cuda"`` path: one population per group of compatible runs."""
    from expressivity.experiments.runner import POPULATION_KEY, execute_population

    groups: dict[tuple, list[RunSpec]] = {}
    for spec in todo:
        groups.setdefault(tuple(getattr(spec, k) for k in POPULATION_KEY), []).append(spec)
    for specs in groups.values():
        recorded = set()

        def record(i, res, specs=specs, recorded=recorded):
            recorded.add(i)
            book.record(specs[i], res)

        try:
            execute_population([s.to_dict() for s in specs], str(out_dir), "cuda", record)
        except StoreError:
            raise
        except Exception as err:  # the whole group failed: each run is an error row
            res = _error_result(err, 0.0)
            for i, spec in enumerate(specs):
                if i not in recorded:
                    book.record(spec, dict(res))


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
        futs = {}
        for spec in todo:
            f = client.submit(_safe, spec, out_dir, 1, key=f"run-{spec.spec_hash}", pure=False,
                              **opts)  # fmt: skip
            futs[f] = spec
        for fut in as_completed(futs):
            spec = futs.pop(fut)
            try:
                res = fut.result()
            except Exception as err:  # e.g. KilledWorker after repeated crashes
                res = _error_result(err, 0.0)
            # release the result before anything else: were its worker to die now, dask
            # would otherwise run the run again to restore a result the client still holds
            fut.release()
            del fut
            book.record(spec, res)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
