"""Run many specs: on dask.distributed (a LocalCluster or a given scheduler) or serially.

A run is keyed by its spec hash. Runs already finished in the store are
skipped, so a finished run is never repeated and an interrupted sweep resumes
where it stopped (a run that was mid-training resumes from its checkpoint).
Only this process, the client, writes the store, one row as each run finishes.
A worker that dies is replaced by its nanny and dask reschedules its run
(``allowed-failures``); a run that raises is recorded as ``error`` and tried
again on the next start.

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

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from expressivity._progress import counting_progress, log_info
from expressivity.experiments.runner import execute_run
from expressivity.experiments.spec import RunSpec
from expressivity.experiments.store import ResultsStore

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

    Returns
    -------
    dict with ``ran``, ``skipped``, ``errors``, ``seconds``
    """
    if executor not in ("dask", "serial"):
        raise ValueError(f"executor must be 'dask' or 'serial', got {executor!r}")
    from expressivity.training.backends import resolve_backend

    backend = resolve_backend(backend)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    unique = {s.spec_hash: s for s in specs}
    with ResultsStore(store_path) as store:
        done = store.finished_hashes()
        todo = [s for h, s in unique.items() if h not in done]
        skipped = len(unique) - len(todo)
        if progress and skipped:
            progress(f"{skipped} of {len(unique)} runs already finished; {len(todo)} to run")
        progress = counting_progress(progress, len(todo), sweep or "sweep")  # a bar if interactive
        errors = 0
        if backend == "cuda":
            errors = _run_populations(todo, store, out_dir, sweep, progress)
        elif executor == "serial":
            for i, spec in enumerate(todo, 1):
                res = _safe(spec, out_dir)
                store.record(spec, res, sweep)
                errors += res["status"] == "error"
                if progress:
                    progress(_line(i, len(todo), spec, res))
        elif todo:
            errors = _run_dask(todo, store, out_dir, sweep, scheduler, n_workers, progress)
    return {
        "ran": len(todo),
        "skipped": skipped,
        "errors": errors,
        "seconds": time.perf_counter() - t0,
    }


def _run_populations(todo, store, out_dir, sweep, progress) -> int:
    """The ``backend="cuda"`` path: one population per group of compatible runs."""
    from expressivity.experiments.runner import POPULATION_KEY, execute_population

    groups: dict[tuple, list[RunSpec]] = {}
    for spec in todo:
        groups.setdefault(tuple(getattr(spec, k) for k in POPULATION_KEY), []).append(spec)
    done = 0
    errors = 0
    for specs in groups.values():

        def record(i, res, specs=specs):
            nonlocal done
            done += 1
            store.record(specs[i], res, sweep)
            if progress:
                progress(_line(done, len(todo), specs[i], res))

        try:
            execute_population([s.to_dict() for s in specs], str(out_dir), "cuda", record)
        except Exception as err:  # the whole group failed: each run is an error row
            finished = store.finished_hashes()
            for i, spec in enumerate(specs):
                if spec.spec_hash not in finished:
                    record(i, {"status": "error", "error": f"{type(err).__name__}: {err}"})
                    errors += 1
    return errors


def _safe(spec: RunSpec, out_dir: Path, threads: int | None = None) -> dict:
    t0 = time.perf_counter()
    try:
        if threads is not None:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        return execute_run(spec.to_dict(), str(out_dir))
    except Exception as err:  # recorded as an error row; retried on the next start
        return {
            "status": "error",
            "error": f"{type(err).__name__}: {err}",
            "total_seconds": time.perf_counter() - t0,
        }


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


def _run_dask(todo, store, out_dir, sweep, scheduler, n_workers, progress) -> int:
    from distributed import Client, as_completed

    cluster = local_cluster(n_workers) if scheduler is None else None
    client = None
    errors = 0
    try:
        client = Client(cluster if cluster is not None else scheduler)
        futs = {}
        for spec in todo:
            f = client.submit(_safe, spec, out_dir, 1, key=f"run-{spec.spec_hash}", pure=False)
            futs[f] = spec
        for i, fut in enumerate(as_completed(futs), 1):
            spec = futs[fut]
            try:
                res = fut.result()
            except Exception as err:  # e.g. KilledWorker after repeated crashes
                res = {"status": "error", "error": f"{type(err).__name__}: {err}"}
            store.record(spec, res, sweep)
            errors += res["status"] == "error"
            if progress:
                progress(_line(i, len(todo), spec, res))
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return errors
