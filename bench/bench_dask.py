"""dask overhead per run, for runs of about 15 s: serial vs a one-worker LocalCluster.

Runs of one spec shape (Weiss protocol, GRU on a^n b^n, sized to take about
15 s) go alternately through ``run_sweep`` serially in a plain spawned process
and through ``run_sweep`` on a running one-worker LocalCluster (``local_cluster``,
as a sweep starts it), each into a fresh store, run by run: the machine's speed
drifts by several percent over minutes, so the two sides are compared pair by
pair. (Serial runs in this process would be slowed by the LocalCluster's
scheduler, which lives here.)
Overhead of a run = its dask wall time - its serial wall time (client
connection, scheduling, transfer of the result, and any slowdown of the
computation inside a worker). The cluster's start-up (cluster, client, the
worker importing expressivity and loading the kernels) is timed separately and
spread over a sweep of ``n`` runs.

    python bench/bench_dask.py [--pairs 5] [--out bench/results/dask.md]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numba

from expressivity.experiments import RunSpec, local_cluster, run_sweep
from expressivity.experiments.sweep import CLUSTER_SETTINGS

#: sized for runs of about 15 s with the fused trainer (2 cores, one numba thread)
EPOCHS = 2500


def spec(seed: int, epochs: int = EPOCHS) -> RunSpec:
    return RunSpec(cell="gru", language="anbn", train_max=60, epochs=epochs, seed=seed, lr=0.01)


def timed(seed: int, epochs: int = EPOCHS, **kw) -> float:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        out = run_sweep([spec(seed, epochs)], Path(d) / "r.sqlite", d, progress=None, **kw)
        assert out["errors"] == 0, out
        return time.perf_counter() - t0


def _one_thread() -> None:
    numba.set_num_threads(1)  # workers run one numba thread each: so does the baseline


def _dask_default_cluster():
    """The control: ``local_cluster`` with dask's own MALLOC_TRIM_THRESHOLD_=65536."""
    keep = {k: v for k, v in CLUSTER_SETTINGS.items() if "MALLOC" not in k}
    return local_cluster(1, settings=keep)


def startup() -> float:
    """A one-run, one-epoch sweep on a fresh LocalCluster, start-up and shut-down included."""
    return timed(0, epochs=1, executor="dask", n_workers=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "dask.md"))
    args = ap.parse_args()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_one_thread) as plain:
        # JIT warm-up: both sides then load cached kernels
        plain.submit(timed, 0, epochs=1, executor="serial").result()
        start = min(startup() for _ in range(2))
        rows = []
        with local_cluster(1) as cluster, _dask_default_cluster() as control:
            addr, addr0 = cluster.scheduler_address, control.scheduler_address
            for a in (addr, addr0):  # the workers load the kernels
                timed(0, epochs=1, executor="dask", scheduler=a)
            for seed in range(args.pairs):
                s = plain.submit(timed, seed, executor="serial").result()
                d = timed(seed, executor="dask", scheduler=addr)
                d0 = timed(seed, executor="dask", scheduler=addr0)
                rows.append((seed, s, d, d0))
                print(f"seed {seed}: serial {s:.2f} s, dask {d:.2f} s, dask's malloc "
                      f"default {d0:.2f} s", flush=True)  # fmt: skip
    over = [d - s for _, s, d, _ in rows]
    rel = [(d - s) / s for _, s, d, _ in rows]
    rel0 = [(d0 - s) / s for _, s, _, d0 in rows]
    per_run = statistics.mean(r[1] for r in rows)
    med = statistics.median(over)
    n = 16
    table = [f"| {seed} | {s:.2f} | {d:.2f} | {d - s:+.2f} | {100 * (d - s) / s:+.1f}% | "
             f"{d0:.2f} | {100 * (d0 - s) / s:+.1f}% |"
             for seed, s, d, d0 in rows]  # fmt: skip
    text = "\n".join(
        [
            "## dask overhead (bench/bench_dask.py)",
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{sys.version.split()[0]}. Command: `python bench/bench_dask.py --pairs "
            f"{args.pairs}`. Load average at the end: {os.getloadavg()[0]:.2f}.",
            "",
            f"Runs: GRU, a^n b^n, Weiss protocol, train n <= 60, {EPOCHS} epochs (no early "
            "stop), one numba thread. Each seed runs once through `run_sweep` serially (in a "
            "plain spawned process) and once "
            "through `run_sweep` on a running one-worker `local_cluster` (one run per sweep, so "
            "each dask run also pays a client connection).",
            "",
            "| seed | serial s | dask s | overhead s | overhead | control: dask's malloc "
            "setting, s | control overhead |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            *table,
            "",
            f"Median overhead per run: {med:.2f} s = {100 * statistics.median(rel):.1f}% of a "
            f"{per_run:.1f} s run (mean {100 * statistics.mean(rel):.1f}%). Cluster start-up "
            f"(fresh LocalCluster, client, worker imports and kernel loading, shut-down; best of "
            f"2): {start:.1f} s, i.e. {start / n:.2f} s = {100 * start / n / per_run:.1f}% per "
            f"run in a sweep of {n} runs on one worker; per run in all: "
            f"{100 * (med + start / n) / per_run:.1f}% (target: under 5% for runs of 10 s or "
            "more).",
            "",
            "Control: the same cluster with dask's default pre-spawn "
            "`MALLOC_TRIM_THRESHOLD_=65536`, which `local_cluster` removes (it switches off "
            "glibc's dynamic mmap threshold, so large arrays are mapped afresh and page-fault "
            f"on every use): median overhead {100 * statistics.median(rel0):.1f}%.",
            "",
        ]
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
