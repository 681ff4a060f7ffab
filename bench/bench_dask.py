"""dask overhead per run, for runs of about 10 s: serial vs a one-worker LocalCluster.

The same four run specs (Weiss protocol, GRU on a^n b^n, sized to take about
10 s each) are run serially in this process and then through ``run_sweep`` on a
LocalCluster with one worker process, each into a fresh store. Overhead per run =
(wall time on dask - wall time serial) / number of runs, and relative to the mean
run time; the cluster's start-up is counted.

    python bench/bench_dask.py [--out bench/results/dask.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numba

from expressivity.experiments import RunSpec, run_sweep

#: sized for runs of about 10 s with the fused trainer (2 cores, one numba thread)
EPOCHS = 2500


def specs(n: int) -> list[RunSpec]:
    return [
        RunSpec(cell="gru", language="anbn", train_max=60, epochs=EPOCHS, seed=s, lr=0.01)
        for s in range(n)
    ]


def timed(executor: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        kw = {"n_workers": 1} if executor == "dask" else {}
        run_sweep(specs(n), Path(d) / "r.sqlite", d, executor=executor, progress=None, **kw)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "dask.md"))
    args = ap.parse_args()
    # workers run one numba thread each: so does the serial baseline
    numba.set_num_threads(1)
    timed("serial", 1)  # JIT warm-up (both paths then load compiled kernels from the cache)
    n = 4
    serial, dask = timed("serial", n), timed("dask", n)
    serial2, dask2 = timed("serial", 2 * n), timed("dask", 2 * n)
    per_run = serial / n
    over = (dask - serial) / n
    # the cluster's start-up is paid once: the marginal cost of n more runs
    marginal = ((dask2 - dask) - (serial2 - serial)) / n
    text = "\n".join(
        [
            "## dask overhead (bench/bench_dask.py)",
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{sys.version.split()[0]}. Command: `python bench/bench_dask.py`. Load average at "
            f"the end: {os.getloadavg()[0]:.2f}.",
            "",
            f"{n} runs (GRU, a^n b^n, Weiss protocol, train n <= 60, {EPOCHS} epochs: no early stop): serial "
            f"{serial:.1f} s ({per_run:.1f} s per run); LocalCluster with one worker process, "
            f"start-up included: {dask:.1f} s (both with one numba thread per run).",
            "",
            f"Overhead per run with start-up spread over {n} runs: {over:.2f} s = "
            f"{100 * over / per_run:.1f}% of a {per_run:.1f} s run. {2 * n} runs: serial "
            f"{serial2:.1f} s, dask {dask2:.1f} s; marginal overhead of a run once the cluster "
            f"is up: {marginal:.2f} s = {100 * marginal / per_run:.1f}% (target: under 5% for "
            f"runs of 10 s or more).",
            "",
        ]
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
