"""Training checkpoints: one .npz (arrays + JSON metadata, never pickle), written atomically.

A checkpoint holds the float64 master weights, the best weights so far, the
optimizer's state, the random generator's state, the epoch/update counters, the
history, and the training configuration it belongs to. Writing goes to a
temporary file in the same folder, unique to the writer (its pid and a random
suffix), that replaces the old one only when complete: an interrupted write
never destroys the last good checkpoint, two writers never share a temporary
file, and a failed write (a full disk) removes its temporary file. A file that
cannot be read is reported (:class:`CheckpointError`), never silently
overwritten.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "run.npz"
>>> _ = write_checkpoint(p, {"epoch": 3}, {"master": {"w": np.zeros(2)}})
>>> meta, groups = read_checkpoint(p)
>>> meta["epoch"], groups["master"]["w"].shape, sorted(x.name for x in p.parent.iterdir())
(3, (2,), ['run.npz'])
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from pathlib import Path

import numpy as np

__all__ = ["CheckpointError", "read_checkpoint", "temporary_path", "write_checkpoint"]

FORMAT = "expressivity-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, corrupt, or belongs to another run."""


def temporary_path(path: str | Path) -> Path:
    """A temporary name beside ``path``, unique to this writer (pid and random suffix).

    It ends in ``.tmp.npz`` (numpy keeps the name) and starts with a dot.

    Examples
    --------
    >>> a, b = temporary_path("x/run.npz"), temporary_path("x/run.npz")
    >>> a != b and a.parent == b.parent and a.name.endswith(".tmp.npz")
    True
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp.npz")


def write_checkpoint(
    path: str | Path, meta: dict, groups: dict[str, dict[str, np.ndarray]]
) -> Path:
    """Atomically write ``meta`` (JSON-able) and arrays ``groups[g][name]`` to ``path``.

    Raises
    ------
    OSError
        The write failed (the temporary file is removed, the old checkpoint is
        kept); on a full disk (``errno.ENOSPC``) the message says so and names
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{g}/{k}": np.asarray(v) for g, d in groups.items() for k, v in d.items()}
    meta = dict(meta, format=FORMAT)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, __meta__=np.array(json.dumps(meta)), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise OSError(
                errno.ENOSPC,
                f"disk full: no space left on the device while writing checkpoint {path} "
                "(the previous checkpoint is kept); free space and rerun to resume",
                str(path),
            ) from err
        raise
    return path


def read_checkpoint(path: str | Path) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """Read a checkpoint; :class:`CheckpointError` names the file if it is corrupt."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            groups: dict[str, dict[str, np.ndarray]] = {}
            for key in z.files:
                if key == "__meta__":
                    continue
                g, _, name = key.partition("/")
                groups.setdefault(g, {})[name] = z[key]
    except Exception as err:  # zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({type(err).__name__}: {err}); "
            "it was left untouched. Delete it to start the run afresh (a sweep or "
            "`expressivity train` does so with --discard-corrupt-checkpoints; in Python, "
            "run_sweep(..., discard_corrupt_checkpoints=True))"
        ) from err
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has unknown format {meta.get('format')!r}")
    return meta, groups
