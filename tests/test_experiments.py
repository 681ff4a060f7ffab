"""Run specs, the results store, sweeps (serial and dask, interrupted and resumed), reports."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from expressivity.experiments import ResultsStore, RunSpec, SpecError, parse_specs, run_sweep
from expressivity.experiments.report import markdown_report, write_report
from expressivity.experiments.reproduce import evaluate_references, weiss2018_specs
from expressivity.experiments.spec import load_specs

TINY = dict(language="anbn", train_min=1, train_max=3, epochs=2, hidden_size=3, eval_every=1)


# ---------------------------------------------------------------- specs
def test_spec_hash_is_stable_and_field_sensitive():
    a = RunSpec(cell="lstm", **TINY)
    assert a.spec_hash == RunSpec(cell="lstm", **TINY).spec_hash
    assert a.spec_hash != RunSpec(cell="lstm", **dict(TINY, seed=1)).spec_hash


@pytest.mark.parametrize(
    "doc, field",
    [
        ({"cell": "lstm", "language": "anbn", "hidden_sise": 3}, "hidden_sise"),
        ({"cell": "lstm", "language": "anbn", "hidden_size": "10"}, "hidden_size"),
        ({"cell": "lstm", "language": "anbn", "hidden_size": -2}, "hidden_size"),
        ({"cell": "lstm", "language": "anbn", "train_min": 5, "train_max": 2}, "train_max"),
        ({"cell": "lstm", "language": "anbn", "lr": 0.0}, "lr"),
        ({"cell": "lstmm", "language": "anbn"}, "cell"),
        ({"cell": "lstm", "language": "anbn", "precision": "float7"}, "precision"),
        ({"cell": "lstm"}, "language"),
        ({"base": {"cell": "lstm", "language": "anbn"}, "grid": {"seed": 3}}, "grid.seed"),
        ({"base": {"cell": "lstm", "language": "anbn"}, "grid": {"epochz": [1]}}, "epochz"),
    ],
)
def test_bad_specs_name_the_field(doc, field):
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        parse_specs(doc)


def test_sweep_toml_grid(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[sweep]\nname = "x"\n[base]\nlanguage = "anbn"\ntrain_max = 3\n'
                 '[grid]\ncell = ["lstm", "gru"]\nseed = [0, 1, 2]\n')  # fmt: skip
    name, specs = load_specs(p)
    assert name == "x" and len(specs) == 6 and len({s.spec_hash for s in specs}) == 6
    p.write_text("cell = [")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_specs(p)


# ---------------------------------------------------------------- store
def test_corrupt_store_is_reported_not_overwritten(tmp_path):
    p = tmp_path / "r.sqlite"
    p.write_bytes(b"garbage" * 100)
    with pytest.raises(Exception, match="corrupt or not an SQLite"):
        ResultsStore(p)
    assert p.read_bytes() == b"garbage" * 100
    q = tmp_path / "other.sqlite"
    con = sqlite3.connect(q)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    with pytest.raises(Exception, match="not an expressivity results store"):
        ResultsStore(q)


# ---------------------------------------------------------------- sweeps
def test_serial_sweep_skips_finished_runs(tmp_path):
    specs = [RunSpec(cell=c, seed=s, **TINY) for c in ("lstm", "gru") for s in (0, 1)]
    lines = []
    s1 = run_sweep(
        specs, tmp_path / "r.sqlite", tmp_path, "t", executor="serial", progress=lines.append
    )
    assert s1["ran"] == 4 and len(lines) == 4
    with ResultsStore(tmp_path / "r.sqlite") as st:
        before = {r["spec_hash"]: r["finished_at"] for r in st.rows()}
    s2 = run_sweep(specs, tmp_path / "r.sqlite", tmp_path, "t", executor="serial", progress=None)
    assert s2 == dict(s2, ran=0, skipped=4)
    with ResultsStore(tmp_path / "r.sqlite") as st:
        rows = st.rows()
    assert {r["spec_hash"]: r["finished_at"] for r in rows} == before
    assert all(r["attempts"] == 1 and r["status"] == "done" for r in rows)
    text = markdown_report(tmp_path / "r.sqlite")
    assert "| anbn | lstm |" in text and "Per seed" in text


def test_report_writes_plots(tmp_path):
    specs = [RunSpec(cell="lstm", seed=s, **TINY) for s in (0, 1)]
    run_sweep(specs, tmp_path / "r.sqlite", tmp_path, executor="serial", progress=None)
    rep = write_report(tmp_path / "r.sqlite", tmp_path / "rep")
    assert rep.exists() and (tmp_path / "rep" / "anbn.png").stat().st_size > 1000


def test_reference_networks_give_the_same_table(weiss_dir):
    refs = evaluate_references(quick=True, directory=weiss_dir.parent)
    assert len(refs) == 4
    for r in refs:
        assert {"frontier", "max_accepted_n", "first_near_miss_accepted_n"} <= set(r["metrics"])
    lstm = next(r for r in refs if r["language"] == "anbn" and "lstm" in r["label"])
    assert lstm["metrics"]["max_accepted_n"] > 99  # the released LSTM counts past training


def test_reproduce_specs_cover_the_cells():
    specs = weiss2018_specs(quick=False)
    assert {s.cell for s in specs} == {"lstm", "gru", "gru-reset-after", "elman-tanh", "elman-relu"}
    assert {(s.language, s.train_max) for s in specs} == {("anbn", 99), ("anbncn", 49)}
    assert all(s.hidden_size == 10 and s.embedding_size == 3 and s.batch_size == 1 for s in specs)


SWEEP_SCRIPT = """
import sys
from expressivity.experiments import RunSpec, run_sweep
if __name__ == "__main__":
    specs = [RunSpec(cell="lstm", language="anbn", train_min=1, train_max=12, epochs=1000,
                     hidden_size=4, seed=s) for s in range(6)]
    run_sweep(specs, sys.argv[1], sys.argv[2], "kill", executor=sys.argv[3], n_workers=2)
"""


def _count_done(store):
    if not os.path.exists(store):
        return 0
    try:
        con = sqlite3.connect(store, timeout=1)
        n = con.execute("SELECT count(*) FROM runs WHERE status='done'").fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0


CLUSTER_SCRIPT = """
import os
from distributed import Client
from expressivity.experiments import local_cluster
if __name__ == "__main__":
    with local_cluster(1) as cluster, Client(cluster) as client:
        env = client.run(lambda: [os.environ.get(k) for k in
                                  ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")])
    print(list(env.values()))
"""


def test_local_cluster_workers_start_without_dask_malloc_trim(tmp_path):
    # dask's default MALLOC_TRIM_THRESHOLD_ made every large array page-fault afresh in
    # a worker (runs 10-16% slower); a subprocess, because a nanny sets its pre-spawn
    # variables in the process that starts it
    script = tmp_path / "cluster.py"
    script.write_text(CLUSTER_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "[[None, '1']]"


@pytest.mark.parametrize("executor", ["serial", "dask"])
def test_interrupted_sweep_resumes_without_repeating(tmp_path, executor):
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    store = tmp_path / "r.sqlite"
    cmd = [sys.executable, str(script), str(store), str(tmp_path), executor]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while _count_done(store) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group this test started
    proc.wait()
    with ResultsStore(store) as st:
        first = {r["spec_hash"]: r["finished_at"] for r in st.rows()}
    assert 2 <= len(first) < 6, "the sweep should have been killed part way"
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with ResultsStore(store) as st:
        rows = st.rows()
    assert len(rows) == 6 and len({r["spec_hash"] for r in rows}) == 6
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
    for r in rows:  # finished rows were not rerun
        if r["spec_hash"] in first:
            assert r["finished_at"] == first[r["spec_hash"]]


# ---------------------------------------------------------------- store faults (see test_faults)
def test_store_keeps_the_first_finished_row(tmp_path):
    from expressivity.experiments.store import is_finished

    s = RunSpec(cell="gru", **TINY)
    p = tmp_path / "r.sqlite"
    assert not is_finished(p, s.spec_hash)
    with ResultsStore(p) as st:
        assert st.record(s, {"status": "error", "error": "x"})
        assert not is_finished(p, s.spec_hash)
        assert st.record(s, {"status": "done", "metrics": {"frontier": 3}})
        assert is_finished(p, s.spec_hash)
        assert not st.record(s, {"status": "done", "metrics": {"frontier": 9}})
        (row,) = st.rows()
    assert row["metrics"]["frontier"] == 3 and row["attempts"] == 2
    assert sorted(x.name for x in tmp_path.iterdir() if "tmp" in x.name) == []


def test_store_messages_name_the_fault(tmp_path):
    from expressivity.experiments.store import StoreError

    (tmp_path / "empty.sqlite").touch()
    (tmp_path / "dir.sqlite").mkdir()
    (tmp_path / "file").write_text("x")
    for name, what in (("empty.sqlite", "0-byte"), ("dir.sqlite", "is a directory"),
                       ("file/r.sqlite", "not a directory")):  # fmt: skip
        with pytest.raises(StoreError, match=what) as info:
            ResultsStore(tmp_path / name)
        assert "corrupt" not in str(info.value)
