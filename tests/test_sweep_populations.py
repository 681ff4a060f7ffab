"""CPU sweeps train groups of lanes-compatible runs as one population (issue 14).

A grouped run must equal the same run trained alone (same row up to timings and
the population's own metrics, same model weights), and a population that was
interrupted or whose runs were partly recorded must resume without retraining
or rewriting a recorded run. Tiny runs: hidden 4, 3 training words, 2 epochs.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from expressivity.experiments import runner
from expressivity.experiments.runner import execute_population, execute_run, lanes_compatible
from expressivity.experiments.spec import RunSpec
from expressivity.experiments.store import ResultsStore
from expressivity.experiments.sweep import _safe_population, cpu_groups, run_sweep
from expressivity.kernels.lanes import MAX_HIDDEN, MIN_LANES

#: metrics a population adds, or that depend on how the run got there
_OWN = {"population", "backend", "resumed_from"}


def _specs(n: int, **kw) -> list[RunSpec]:
    base = dict(cell="lstm", language="anbn", hidden_size=4, train_min=1, train_max=3, epochs=2,
                eval_every=1, lr=0.05)  # fmt: skip
    base.update(kw)
    return [RunSpec(seed=s, **base) for s in range(n)]


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """Every run of the group trained alone (``execute_run``), by spec hash."""
    out = tmp_path_factory.mktemp("alone")
    return {s.spec_hash: execute_run(s.to_dict(), str(out)) for s in _specs(MIN_LANES + 3)}


def _same_run(row: dict, ref: dict) -> None:
    assert row["status"] == ref["status"] == "done"
    strip = {k: v for k, v in row["metrics"].items() if k not in _OWN}
    assert strip == {k: v for k, v in ref["metrics"].items() if k not in _OWN}
    assert json.dumps(row["curves"], sort_keys=True) == json.dumps(ref["curves"], sort_keys=True)
    untimed = [[(k, v) for k, v in sorted(r.items()) if k != "seconds"] for r in row["history"]]
    assert untimed == [[(k, v) for k, v in sorted(r.items()) if k != "seconds"]
                       for r in ref["history"]]  # fmt: skip
    with np.load(row["model_path"]) as a, np.load(ref["model_path"]) as b:
        assert a.files == b.files
        for k in a.files:
            assert np.array_equal(a[k], b[k]), k


def test_lanes_compatible_and_groups():
    group = _specs(MIN_LANES)
    assert lanes_compatible(group) and lanes_compatible([s.to_dict() for s in group])
    for bad in (
        group[1:],  # fewer than MIN_LANES
        _specs(MIN_LANES, hidden_size=MAX_HIDDEN + 1),
        _specs(MIN_LANES, batch_size=2),
        _specs(MIN_LANES, precision="float64"),  # a float64 carrier
        _specs(MIN_LANES, precision="float16"),  # emulated: the one-network step
        group[1:] + _specs(1, cell="gru"),  # not one POPULATION_KEY
    ):
        assert not lanes_compatible(bad)
    assert lanes_compatible(_specs(MIN_LANES, precision="float32", hidden_size=MAX_HIDDEN))
    big = _specs(2 * MIN_LANES + 1)
    other = _specs(3, cell="gru") + _specs(MIN_LANES, hidden_size=32)
    pops, singles = cpu_groups(big + other, parts=4)
    assert [len(p) for p in pops] == [MIN_LANES, MIN_LANES + 1]  # at least MIN_LANES each
    assert [s.spec_hash for p in pops for s in p] == [s.spec_hash for s in big]
    assert singles == other
    pops, singles = cpu_groups(big, parts=1)
    assert [len(p) for p in pops] == [len(big)] and singles == []


def test_sweep_groups_runs_equal_alone_and_skips_recorded(alone, tmp_path, caplog):
    specs = _specs(MIN_LANES + 3)
    store = tmp_path / "r.sqlite"
    with ResultsStore(store) as st:  # three runs recorded already
        for s in specs[:3]:
            st.record(s, alone[s.spec_hash], "before")
        before = {r["spec_hash"]: r for r in st.rows()}
    with caplog.at_level(logging.INFO, logger="expressivity.experiments"):
        summary = run_sweep(specs, store, tmp_path, "grouped", executor="serial", progress=None)
    assert (summary["ran"], summary["skipped"], summary["errors"]) == (MIN_LANES, 3, 0)
    assert f"population of {MIN_LANES} lstm runs (anbn, hidden 4) in this process" in caplog.text
    with ResultsStore(store) as st:
        rows = {r["spec_hash"]: r for r in st.rows()}
    for s in specs[:3]:  # untouched: not rerun, not rewritten
        assert rows[s.spec_hash] == before[s.spec_hash]
    for s in specs[3:]:
        row = rows[s.spec_hash]
        assert row["metrics"]["population"] == MIN_LANES and row["metrics"]["backend"] == "cpu"
        assert row["metrics"]["resumed_from"] is None
        _same_run(row, alone[s.spec_hash])
    assert not list((tmp_path / "checkpoints").glob("*"))  # each removed once recorded


def test_interrupted_population_loses_no_trained_run(alone, tmp_path):
    specs = _specs(MIN_LANES)
    store = tmp_path / "r.sqlite"
    ResultsStore(store).close()

    def record_two_then_die(i, res):  # the worker dies during the evaluations
        if i == 2:
            raise KeyboardInterrupt
        with ResultsStore(store) as st:
            st.record(specs[i], res, "first")

    with pytest.raises(KeyboardInterrupt):
        execute_population([s.to_dict() for s in specs], str(tmp_path), "cpu",
                           record_two_then_die, store_path=str(store), checkpoints=True)  # fmt: skip
    with ResultsStore(store) as st:
        before = {r["spec_hash"]: r for r in st.rows()}
    assert set(before) == {s.spec_hash for s in specs[:2]}
    # the retry (as dask would run it on another worker) skips the recorded runs and
    # evaluates the trained ones from their finished checkpoints, without training
    rows = _safe_population(specs, tmp_path, None, store_path=str(store))
    assert [r["status"] for r in rows[:2]] == ["skipped", "skipped"]
    for s, row in zip(specs[2:], rows[2:]):
        assert row["metrics"]["resumed_from"] == s.epochs  # finished: not trained again
        _same_run(row, alone[s.spec_hash])
    with ResultsStore(store) as st:  # the worker never writes the store
        assert {r["spec_hash"]: r for r in st.rows()} == before


def test_incompatible_groups_run_one_by_one(tmp_path, monkeypatch):
    def no_population(*args, **kwargs):
        raise AssertionError("not a lanes population: each run is trained alone")

    monkeypatch.setattr(runner, "execute_population", no_population)
    specs = _specs(2) + _specs(1, hidden_size=MAX_HIDDEN + 1) + _specs(1, batch_size=2)
    s = run_sweep(specs, tmp_path / "r.sqlite", tmp_path, executor="serial", progress=None)
    assert (s["ran"], s["errors"]) == (len(specs), 0)
    with ResultsStore(tmp_path / "r.sqlite") as st:
        rows = st.rows()
    assert all(r["status"] == "done" and "population" not in r["metrics"] for r in rows)


def test_dask_population_on_one_worker(alone, tmp_path):
    pytest.importorskip("distributed")
    from expressivity.experiments import local_cluster

    specs = _specs(MIN_LANES)
    lines: list[str] = []
    with local_cluster(1) as cluster:
        s = run_sweep(specs, tmp_path / "r.sqlite", tmp_path, executor="dask",
                      scheduler=cluster.scheduler_address, progress=lines.append)  # fmt: skip
    assert (s["ran"], s["errors"]) == (MIN_LANES, 0) and len(lines) == MIN_LANES
    with ResultsStore(tmp_path / "r.sqlite") as st:
        rows = {r["spec_hash"]: r for r in st.rows()}
    for spec in specs:
        assert rows[spec.spec_hash]["metrics"]["population"] == MIN_LANES
        _same_run(rows[spec.spec_hash], alone[spec.spec_hash])
    assert not list((tmp_path / "checkpoints").glob("*"))
