"""Faults in sweeps, the results store and checkpoints: nothing lost, nothing run twice.

Each test checks afterwards that the store's runs are complete and unique, that
no temporary file is left, and that the message says what to do.
"""

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from expressivity.experiments import ResultsStore, RunSpec, StoreError, run_sweep, runner
from expressivity.experiments import store as store_mod
from expressivity.experiments.store import StoreBusyError
from expressivity.experiments.sweep import _locked, _safe
from expressivity.training import CheckpointError
from expressivity.training.checkpoint import read_checkpoint, temporary_path, write_checkpoint

TINY = dict(language="anbn", train_min=1, train_max=2, epochs=1, hidden_size=2, eval_every=1)


def _specs(n, **kw):
    return [RunSpec(cell="lstm", seed=s, **dict(TINY, **kw)) for s in range(n)]


def _leftovers(folder):
    """Temporary or partial files anywhere under ``folder``."""
    return sorted(str(p) for p in folder.rglob("*") if ".tmp" in p.name)


def _check_rows(store, specs, status="done", attempts=1):
    with ResultsStore(store) as st:
        assert st.con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = st.rows()
    assert sorted(r["spec_hash"] for r in rows) == sorted(s.spec_hash for s in specs)
    for r in rows:
        assert r["status"] == status and r["attempts"] == attempts, r
        if status == "done":
            assert r["metrics"]["frontier"] is not None and os.path.exists(r["model_path"])
    return rows


# ---------------------------------------------------------------- two sweeps at once
def test_a_second_sweep_on_a_locked_output_refuses_naming_the_holder(tmp_path):
    specs = _specs(1)
    with _locked([tmp_path / ".lock"], wait=False):
        with pytest.raises(StoreBusyError, match=rf"pid {os.getpid()}\b.*--out") as info:
            run_sweep(specs, tmp_path / "r.sqlite", tmp_path, executor="serial", progress=None)
    assert info.value.lock == (tmp_path / ".lock").resolve()
    assert not (tmp_path / "r.sqlite").exists()  # refused before touching anything
    other = tmp_path / "other"  # another output, same store: the store's lock refuses
    with _locked([tmp_path / "r.sqlite.lock"], wait=False):
        with pytest.raises(StoreBusyError, match="r.sqlite.lock"):
            run_sweep(specs, tmp_path / "r.sqlite", other, executor="serial", progress=None)
    s = run_sweep(specs, tmp_path / "r.sqlite", tmp_path, executor="serial", progress=None)
    assert s["ran"] == 1  # the lock was released
    _check_rows(tmp_path / "r.sqlite", specs)


def test_wait_waits_for_the_other_sweep(tmp_path):
    specs = _specs(1)
    entered, release = threading.Event(), threading.Event()

    def other_sweep():
        with _locked([tmp_path / ".lock"], wait=False):
            entered.set()
            release.wait(60)

    t = threading.Thread(target=other_sweep)
    t.start()
    entered.wait(60)
    order = []
    waiter = threading.Thread(
        target=lambda: order.append(
            run_sweep(
                specs, tmp_path / "r.sqlite", tmp_path, executor="serial", progress=None, wait=True
            )
        )
    )
    waiter.start()
    waiter.join(0.5)
    order.append("released")
    release.set()
    t.join()
    waiter.join(120)
    assert order[0] == "released" and order[1]["ran"] == 1
    _check_rows(tmp_path / "r.sqlite", specs)


HOLDER = """
import pathlib, sys, time
from expressivity.experiments import RunSpec, run_sweep
if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1])
    specs = [RunSpec(cell="lstm", language="anbn", train_min=1, train_max=2, epochs=1,
                     hidden_size=2, eval_every=1, seed=s) for s in range(2)]
    def progress(line):  # hold the sweep (and its lock) open until the test says go
        if "[1/" in line:
            (out / "ready").write_text("1")
            t = time.time()
            while not (out / "go").exists() and time.time() - t < 120:
                time.sleep(0.05)
    run_sweep(specs, out / "r.sqlite", out, "holder", executor="serial", progress=progress)
"""


def test_two_concurrent_sweeps_on_one_output(tmp_path):
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        deadline = time.time() + 240
        while not (out / "ready").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert (out / "ready").exists(), proc.stderr.read() if proc.poll() is not None else ""
        specs = _specs(2)
        with pytest.raises(StoreBusyError, match=rf"pid {proc.pid}\b") as info:
            run_sweep(specs, out / "r.sqlite", out, executor="serial", progress=None)
        assert "another sweep" in str(info.value) and "--out" in str(info.value)
    finally:
        (out / "go").write_text("1")
        proc.wait(240)
    assert proc.returncode == 0
    s = run_sweep(specs, out / "r.sqlite", out, executor="serial", progress=None)
    assert s["ran"] == 0 and s["skipped"] == 2
    _check_rows(out / "r.sqlite", specs)
    assert _leftovers(out) == []


def test_temporary_names_are_unique_per_writer(tmp_path):
    names = {temporary_path(tmp_path / "c.npz") for _ in range(50)}
    assert len(names) == 50
    assert all(n.parent == tmp_path and f".{os.getpid()}-" in n.name for n in names)
    # many writers of one checkpoint at once: each write is whole, none fails
    errors = []

    def writer(k):
        try:
            for i in range(10):
                write_checkpoint(tmp_path / "c.npz", {"k": k, "i": i},
                                 {"master": {"w": np.full(1000, k)}})  # fmt: skip
        except Exception as err:  # pragma: no cover - the failure being tested for
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    meta, groups = read_checkpoint(tmp_path / "c.npz")
    assert (groups["master"]["w"] == meta["k"]).all()
    assert _leftovers(tmp_path) == []


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path):
    specs = _specs(1)
    (tmp_path / "checkpoints").mkdir()
    stale = temporary_path(tmp_path / "checkpoints" / f"{specs[0].spec_hash}.npz")
    stale.write_bytes(b"PK\x03\x04 half a zip")
    run_sweep(specs, tmp_path / "r.sqlite", tmp_path, executor="serial", progress=None)
    assert _leftovers(tmp_path) == []
    _check_rows(tmp_path / "r.sqlite", specs)


# ---------------------------------------------------------------- a recorded run never reruns
def test_a_recorded_run_is_not_executed_again(tmp_path, monkeypatch):
    # the retry path of a worker that died after its run was recorded, simulated
    spec = _specs(1)[0]
    store = tmp_path / "r.sqlite"
    run_sweep([spec], store, tmp_path, executor="serial", progress=None)
    model = tmp_path / "models" / f"{spec.spec_hash}.npz"
    before = model.stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("a recorded run was executed again")

    monkeypatch.setattr(runner, "_prepare", boom)
    res = _safe(spec, tmp_path, None, store_path=str(store))
    assert res["status"] == "skipped"
    with ResultsStore(store) as st:  # the store keeps the first finished row
        assert st.record(spec, {"status": "done", "metrics": {"frontier": -1}}) is False
    assert model.stat().st_mtime_ns == before
    _check_rows(store, [spec])


def test_killing_a_worker_never_reruns_a_recorded_run(tmp_path):
    from distributed import Client

    from expressivity.experiments import local_cluster

    store = tmp_path / "r.sqlite"
    specs = _specs(4, epochs=3)
    seen = {}

    def progress(line):
        if seen or "done" not in line:
            return
        con = sqlite3.connect(store)
        host, model = con.execute("SELECT host, model_path FROM runs").fetchone()
        con.close()
        seen.update(model=model, mtime=os.stat(model).st_mtime_ns)
        # the worker that ran the recorded run held its result: kill it
        os.kill(int(host.rsplit(":", 1)[1]), signal.SIGKILL)

    with local_cluster(2) as cluster:
        s = run_sweep(specs, store, tmp_path, executor="dask", progress=progress,
                      scheduler=cluster.scheduler_address)  # fmt: skip
        assert seen, "no run was recorded"
        with Client(cluster) as client:  # let a lost result's recomputation (if any) happen
            client.wait_for_workers(2, timeout=120)
            deadline = time.time() + 60
            while time.time() < deadline and client.run_on_scheduler(
                lambda dask_scheduler: len(dask_scheduler.tasks)
            ):
                time.sleep(0.2)
    assert s["errors"] == 0
    assert os.stat(seen["model"]).st_mtime_ns == seen["mtime"], "a recorded run ran again"
    _check_rows(store, specs)
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------- full disk
def test_full_disk_while_recording_stops_cleanly(tmp_path, monkeypatch):
    connect = store_mod._connect

    def small_disk(path, readonly=False):  # a real SQLITE_FULL once the store grows
        con = connect(path, readonly)
        if not readonly and path.name == "r.sqlite":
            n = con.execute("PRAGMA page_count").fetchone()[0]
            con.execute(f"PRAGMA max_page_count={n}")  # the free room of its pages
        return con

    monkeypatch.setattr(store_mod, "_connect", small_disk)
    specs = _specs(4)
    store = tmp_path / "r.sqlite"
    with pytest.raises(StoreError, match="disk is full") as info:
        run_sweep(specs, store, tmp_path, executor="serial", progress=None)
    msg = str(info.value)
    assert str(store) in msg and "Free space, then rerun" in msg
    assert "OperationalError" not in type(info.value).__name__
    monkeypatch.setattr(store_mod, "_connect", connect)
    with ResultsStore(store) as st:
        first = {r["spec_hash"]: r["finished_at"] for r in st.rows()}
    assert 0 < len(first) < 4  # some rows went in before the disk was full
    _check_rows(store, [s for s in specs if s.spec_hash in first])
    assert _leftovers(tmp_path) == []
    s = run_sweep(specs, store, tmp_path, executor="serial", progress=None)
    assert s["skipped"] == len(first) and s["ran"] == 4 - len(first)
    rows = _check_rows(store, specs)
    assert all(first.get(r["spec_hash"], r["finished_at"]) == r["finished_at"] for r in rows)


def test_full_disk_while_writing_files_stops_cleanly(tmp_path, monkeypatch):
    savez = np.savez

    def full_savez(file, *args, **kwds):  # writes part of the file, then the disk is full
        fh = open(file, "ab") if isinstance(file, (str, os.PathLike)) else file
        fh.write(b"PK\x03\x04" + b"\0" * 100)
        if fh is not file:
            fh.close()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_savez)
    specs = _specs(2)
    store = tmp_path / "r.sqlite"
    with pytest.raises(StoreError, match="disk is full") as info:
        run_sweep(specs, store, tmp_path, executor="serial", progress=None)
    msg = str(info.value)
    assert "checkpoints" in msg and specs[0].spec_hash in msg and "rerun" in msg
    assert _leftovers(tmp_path) == []
    _check_rows(store, specs[:1], status="error")
    monkeypatch.setattr(np, "savez", savez)
    run_sweep(specs, store, tmp_path, executor="serial", progress=None)
    with ResultsStore(store) as st:
        rows = {r["spec_hash"]: r for r in st.rows()}
    assert len(rows) == 2 and all(r["status"] == "done" for r in rows.values())
    assert rows[specs[0].spec_hash]["attempts"] == 2 and rows[specs[1].spec_hash]["attempts"] == 1
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------- bad stores
def test_zero_byte_store_is_not_taken_for_a_new_one(tmp_path):
    p = tmp_path / "r.sqlite"
    p.touch()
    with pytest.raises(StoreError, match=r"empty \(0-byte\) file.*delete it") as info:
        run_sweep(_specs(1), p, tmp_path, executor="serial", progress=None)
    assert str(p) in str(info.value)
    assert p.stat().st_size == 0  # left untouched
    with pytest.raises(StoreError, match="0-byte"):
        ResultsStore(p)


def test_a_directory_as_the_store_says_so(tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    for call in (
        lambda: ResultsStore(d),
        lambda: run_sweep(_specs(1), d, tmp_path, executor="serial", progress=None),
    ):
        with pytest.raises(StoreError, match="is a directory") as info:
            call()
        assert "corrupt" not in str(info.value) and str(d) in str(info.value)


def test_a_read_only_output_folder_says_so(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root writes anyway: make the folder read-only to the code
        access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode, **k: (
                False if mode & os.W_OK and str(p).startswith(str(ro)) else access(p, mode, **k)
            ),
        )
    try:
        with pytest.raises(StoreError, match="read-only") as info:
            run_sweep(_specs(1), ro / "r.sqlite", ro, executor="serial", progress=None)
        assert str(ro) in str(info.value) and "corrupt" not in str(info.value)
        with pytest.raises(StoreError, match="read-only") as info:
            ResultsStore(ro / "r.sqlite")
        assert "corrupt" not in str(info.value)
    finally:
        ro.chmod(0o755)
    assert list(ro.iterdir()) == []


# ---------------------------------------------------------------- corrupt checkpoints
def test_a_truncated_checkpoint_is_named_and_can_be_discarded(tmp_path, caplog):
    spec = _specs(1)[0]
    ckpt = tmp_path / "checkpoints" / f"{spec.spec_hash}.npz"
    write_checkpoint(ckpt, {"epoch": 1}, {"master": {"w": np.arange(5000.0)}})
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    store = tmp_path / "r.sqlite"
    s = run_sweep([spec], store, tmp_path, executor="serial", progress=None)
    assert s["errors"] == 1
    with ResultsStore(store) as st:
        (row,) = st.rows()
    assert row["status"] == "error" and str(ckpt) in row["error"]
    assert "--discard-corrupt-checkpoints" in row["error"] and "corrupt" in row["error"]
    assert ckpt.read_bytes() == data[: len(data) // 2]  # left untouched
    with pytest.raises(CheckpointError, match="discard_corrupt_checkpoints=True"):
        runner.execute_run(spec.to_dict(), str(tmp_path))
    with caplog.at_level("WARNING", logger="expressivity.experiments.runner"):
        s = run_sweep([spec], store, tmp_path, executor="serial", progress=None,
                      discard_corrupt_checkpoints=True)  # fmt: skip
    assert s["errors"] == 0 and str(ckpt) in caplog.text
    (row,) = _check_rows(store, [spec], attempts=2)
    assert row["metrics"]["discarded_checkpoint"] == str(ckpt)
    assert not ckpt.exists() and _leftovers(tmp_path) == []


# ---------------------------------------------------------------- CHECKPOINT_SECONDS
def test_checkpoint_seconds_reaches_the_train_config(tmp_path, monkeypatch):
    import expressivity.training as training

    seen = []

    class Stop(Exception):
        pass

    def fake_train(net, data, rng, config, **kw):
        seen.append((config, kw["checkpoint"]))
        raise Stop

    monkeypatch.setattr(training, "train", fake_train)
    spec = _specs(1)[0]
    for value in (7.5, None):
        monkeypatch.setattr(runner, "CHECKPOINT_SECONDS", value)
        with pytest.raises(Stop):
            runner.execute_run(spec.to_dict(), str(tmp_path))
        assert seen[-1][0].checkpoint_seconds == value
        assert seen[-1][1] == tmp_path / "checkpoints" / f"{spec.spec_hash}.npz"


def test_cli_names_a_corrupt_checkpoint_and_discards_it_on_request(tmp_path, capsys):
    from expressivity.cli import main
    from expressivity.experiments.spec import load_specs

    toml = tmp_path / "s.toml"
    toml.write_text("".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in
                            dict(TINY, cell="gru").items()))  # fmt: skip
    (spec,) = load_specs(toml)[1]
    out = tmp_path / "out"
    ckpt = out / "checkpoints" / f"{spec.spec_hash}.npz"
    write_checkpoint(ckpt, {"epoch": 1}, {"master": {"w": np.arange(5000.0)}})
    ckpt.write_bytes(ckpt.read_bytes()[:3000])
    argv = ["sweep", str(toml), "--out", str(out), "--local"]
    assert main(argv) == 1
    text = "".join(capsys.readouterr())
    assert str(ckpt) in text and "--discard-corrupt-checkpoints" in text
    assert ckpt.exists()
    with _locked([out / ".lock"], wait=False):  # another sweep on this output
        assert main(argv) == 2
    assert f"pid {os.getpid()}" in capsys.readouterr().err
    assert main([*argv, "--discard-corrupt-checkpoints"]) == 0
    assert not ckpt.exists() and _leftovers(out) == []
    _check_rows(out / "results.sqlite", [spec], attempts=2)


def test_population_path_records_each_run_once(tmp_path, monkeypatch):
    # the backend="cuda" path's bookkeeping, with a stand-in for the GPU population
    from expressivity.experiments.sweep import _Book, _run_populations

    specs = _specs(3)

    def population(spec_dicts, out_dir, backend, on_result):
        on_result(0, {"status": "done", "metrics": {"frontier": 1}})
        on_result(0, {"status": "done", "metrics": {"frontier": 2}})  # a repeat never wins
        raise RuntimeError("the GPU fell over")

    monkeypatch.setattr(runner, "execute_population", population)
    with ResultsStore(tmp_path / "r.sqlite") as st:
        book = _Book(st, "p", len(specs), None)
        _run_populations(specs, book, tmp_path)
        rows = {r["spec_hash"]: r for r in st.rows()}
    assert (book.errors, book.skipped) == (2, 1)
    assert rows[specs[0].spec_hash]["metrics"]["frontier"] == 1
    assert {rows[s.spec_hash]["status"] for s in specs[1:]} == {"error"}
    assert all("GPU fell over" in rows[s.spec_hash]["error"] for s in specs[1:])
