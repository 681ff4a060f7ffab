"""The results store: one SQLite row per run, keyed by the spec hash.

Only one process (the sweep's client) writes. A row holds the spec (JSON) and
its hash, the status (``done``, ``diverged`` or ``error``), metrics and curves
(JSON), timings, the model path, software versions, the host, a start and a
finish time and an attempt counter. A finished row is never replaced: the
first recorded result of a run wins.

Faults are reported as :class:`StoreError` naming the file and what to do,
never as a bare ``sqlite3`` error, and the file is never overwritten: a file
that is not a results store, an empty (0-byte) file, a directory, a read-only
folder, a full disk (each row is one transaction: a failed write leaves the
rows before it intact). A new store is created under a temporary name and
moved into place when complete, so a killed sweep never leaves an empty store.

Examples
--------
>>> import tempfile, pathlib
>>> from expressivity.experiments.spec import RunSpec
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with ResultsStore(d / "r.sqlite") as st:
...     s = RunSpec(cell="lstm", language="anbn")
...     _ = st.record(s, {"status": "done", "metrics": {"frontier": 7}})
...     st.finished_hashes() == {s.spec_hash}
True
>>> is_finished(d / "r.sqlite", s.spec_hash), is_finished(d / "none.sqlite", s.spec_hash)
(True, False)
>>> (d / "empty.sqlite").touch()
>>> ResultsStore(d / "empty.sqlite")
Traceback (most recent call last):
...
expressivity.experiments.store.StoreError: results store ... is an empty (0-byte) file...
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import sqlite3
import time
from pathlib import Path

__all__ = [
    "FINISHED",
    "ResultsStore",
    "StoreBusyError",
    "StoreError",
    "check_store_path",
    "is_finished",
]

FINISHED = ("done", "diverged")
_SCHEMA_VERSION = 1
_COLUMNS = {
    "spec_hash": "TEXT PRIMARY KEY",
    "sweep": "TEXT",
    "label": "TEXT",
    "spec": "TEXT NOT NULL",
    "status": "TEXT NOT NULL",
    "metrics": "TEXT",
    "curves": "TEXT",
    "history": "TEXT",
    "error": "TEXT",
    "train_seconds": "REAL",
    "eval_seconds": "REAL",
    "total_seconds": "REAL",
    "model_path": "TEXT",
    "versions": "TEXT",
    "host": "TEXT",
    "started_at": "REAL",
    "finished_at": "REAL",
    "recorded_at": "REAL",
    "attempts": "INTEGER NOT NULL DEFAULT 1",
}


class StoreError(RuntimeError):
    """The results store or a sweep's output folder cannot be used.

    The message names the file and says what to do: the file is corrupt, not a
    results store, of another version, empty, a directory, read-only, or the
    disk is full.
    """


class StoreBusyError(StoreError):
    """Another sweep holds the lock of this output folder or results store.

    Attributes
    ----------
    lock : the lock file
    holder : what the holder wrote in it (``pid@host``; "" if unknown)
    """

    def __init__(self, message: str, lock: Path, holder: str):
        super().__init__(message)
        self.lock, self.holder = lock, holder


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    return sqlite3.connect(path, timeout=30)


def _is_full(err: BaseException) -> bool:
    return getattr(err, "errno", None) == errno.ENOSPC or (
        isinstance(err, sqlite3.Error) and "full" in str(err).lower()
    )


def _explain(path: Path, err: BaseException, doing: str) -> str:
    """A message for an error ``err`` met while ``doing`` something to the store ``path``."""
    folder = path.parent
    if _is_full(err):
        return (
            f"{doing} results store {path} failed: the disk is full ({err}). The runs recorded "
            "so far are kept (each row is one transaction). Free space, then rerun the same "
            "command: finished runs are skipped and unfinished ones resume"
        )
    text = str(err).lower()
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return (
            f"{doing} results store {path} failed: its folder {folder} is read-only ({err}); "
            "make it writable or pass a --store (and --out) in a writable folder"
        )
    if (path.exists() and not os.access(path, os.W_OK)) or "readonly" in text:
        return (
            f"{doing} results store {path} failed: the file is read-only ({err}); make it "
            "writable or pass another --store"
        )
    if "locked" in text:
        return (
            f"{doing} results store {path} failed: another process holds it ({err}); wait "
            "for it to finish or pass another --store"
        )
    return f"{doing} results store {path} failed ({type(err).__name__}: {err})"


def check_store_path(path: str | Path) -> None:
    """Raise :class:`StoreError`, saying what to do, if ``path`` cannot be a results store.

    A directory, an empty (0-byte) file, or a missing file in a read-only folder.
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError(
            f"results store {path} is a directory, not a file; pass the path of a file "
            f"(e.g. {path / 'results.sqlite'})"
        )
    if path.exists():
        if path.stat().st_size == 0:
            raise StoreError(
                f"results store {path} is an empty (0-byte) file, not a results store; it was "
                "left untouched. It holds no runs: delete it (a sweep killed or a disk full "
                "while it was created can leave one) or pass another --store"
            )
        return
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"cannot create results store {path}: {folder} is not a directory")
    if folder.is_dir() and not os.access(folder, os.W_OK):
        raise StoreError(
            f"cannot create results store {path}: its folder {folder} is read-only; make it "
            "writable or pass a --store (and --out) in a writable folder"
        )


def is_finished(path: str | Path, spec_hash: str) -> bool:
    """Whether the store at ``path`` holds a finished row of ``spec_hash`` (read-only look).

    False when the store does not exist or cannot be read: the caller runs the
    run, and the store, which keeps the first finished row, decides.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        con = _connect(path, readonly=True)
        try:
            marks = ", ".join("?" for _ in FINISHED)
            row = con.execute(
                f"SELECT 1 FROM runs WHERE spec_hash=? AND status IN ({marks})",
                (spec_hash, *FINISHED),
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return row is not None


class ResultsStore:
    """A SQLite results store (created if missing).

    Parameters
    ----------
    path : path of the ``.sqlite`` file

    Raises
    ------
    StoreError
        The path cannot be a results store or cannot be used (the message says
        why and what to do); an existing file is never overwritten.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        check_store_path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._create_new()
            self.con = _connect(self.path)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(_explain(self.path, err, "creating")) from err
        self.con.row_factory = sqlite3.Row
        try:
            self._check()
        except sqlite3.OperationalError as err:
            self.con.close()
            raise StoreError(_explain(self.path, err, "opening")) from err
        except sqlite3.DatabaseError as err:
            self.con.close()
            raise StoreError(
                f"results store {self.path} is corrupt or not an SQLite database ({err}); "
                "it was left untouched: move it away or pass another --store"
            ) from err
        except StoreError:
            self.con.close()
            raise

    def _create_new(self) -> None:
        """Create the store under a temporary name; link it into place when complete."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            con = _connect(tmp)
            try:
                self._create(con)
            finally:
                con.close()
            try:
                os.link(tmp, self.path)  # never replaces a store another process just made
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not self.path.exists():
                    os.replace(tmp, self.path)
        finally:
            for extra in ("", "-wal", "-shm", "-journal"):
                Path(f"{tmp}{extra}").unlink(missing_ok=True)

    @staticmethod
    def _create(con: sqlite3.Connection) -> None:
        cols = ", ".join(f"{k} {v}" for k, v in _COLUMNS.items())
        with con:
            con.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols})")
            con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),)
            )
        con.execute("PRAGMA journal_mode=WAL")

    def _check(self) -> None:
        ok = self.con.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {ok}")
        tables = {
            r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not {"runs", "meta"} <= tables:
            raise StoreError(
                f"{self.path} is an SQLite file but not an expressivity results store "
                f"(tables {sorted(tables)}); it was left untouched"
            )
        cols = {r[1] for r in self.con.execute("PRAGMA table_info(runs)")}
        if set(_COLUMNS) - cols:
            raise StoreError(
                f"{self.path}: runs table lacks columns {sorted(set(_COLUMNS) - cols)}"
            )
        ver = self.con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if ver is None or int(ver[0]) != _SCHEMA_VERSION:
            raise StoreError(f"{self.path}: unsupported store schema version {ver and ver[0]}")

    # ------------------------------------------------------------------ writing
    def record(self, spec, result: dict, sweep: str | None = None) -> bool:
        """Insert or replace the row of ``spec`` (attempts counts the writes).

        A finished row (``done`` or ``diverged``) is never replaced: the first
        recorded result wins, and False is returned. One transaction per row.

        Raises
        ------
        StoreError
            The write failed (e.g. the disk is full); the store keeps its rows.
        """
        try:
            return self._record(spec, result, sweep)
        except sqlite3.Error as err:
            raise StoreError(
                _explain(self.path, err, f"recording run {spec.label()} ({spec.spec_hash}) in")
            ) from err

    def _record(self, spec, result: dict, sweep: str | None) -> bool:
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            prev = self.con.execute(
                "SELECT attempts, status FROM runs WHERE spec_hash=?", (spec.spec_hash,)
            ).fetchone()
            if prev is not None and prev[1] in FINISHED:
                return False
            row = {
                "spec_hash": spec.spec_hash,
                "sweep": sweep,
                "label": spec.label(),
                "spec": json.dumps(spec.to_dict(), sort_keys=True),
                "status": result.get("status", "done"),
                "metrics": json.dumps(result.get("metrics", {})),
                "curves": json.dumps(result.get("curves", {})),
                "history": json.dumps(result.get("history", [])),
                "error": result.get("error"),
                "train_seconds": result.get("train_seconds"),
                "eval_seconds": result.get("eval_seconds"),
                "total_seconds": result.get("total_seconds"),
                "model_path": result.get("model_path"),
                "versions": json.dumps(result.get("versions", {})),
                "host": result.get("host"),
                "started_at": result.get("started_at"),
                "finished_at": result.get("finished_at"),
                "recorded_at": time.time(),
                "attempts": (prev[0] + 1) if prev else 1,
            }
            keys = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            self.con.execute(
                f"INSERT OR REPLACE INTO runs ({keys}) VALUES ({marks})", tuple(row.values())
            )
        return True

    # ------------------------------------------------------------------ reading
    def finished_hashes(self) -> set[str]:
        """Hashes of runs that are finished (``done`` or ``diverged``) and never rerun."""
        marks = ", ".join("?" for _ in FINISHED)
        q = f"SELECT spec_hash FROM runs WHERE status IN ({marks})"
        return {r[0] for r in self.con.execute(q, FINISHED)}

    def rows(self, sweep: str | None = None, status: str | None = None) -> list[dict]:
        """All rows (JSON columns decoded), optionally of one sweep / status."""
        q, args = "SELECT * FROM runs WHERE 1=1", []
        if sweep is not None:
            q += " AND sweep=?"
            args.append(sweep)
        if status is not None:
            q += " AND status=?"
            args.append(status)
        out = []
        for r in self.con.execute(q + " ORDER BY label", args):
            d = dict(r)
            for k in ("spec", "metrics", "curves", "history", "versions"):
                d[k] = json.loads(d[k]) if d[k] else {}
            out.append(d)
        return out

    def get(self, spec_hash: str) -> dict | None:
        for r in self.rows():
            if r["spec_hash"] == spec_hash:
                return r
        return None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
