"""Declarative run specifications (TOML), validated field by field, keyed by a hash.

One :class:`RunSpec` is one training run plus its evaluation. A sweep file
holds defaults and a grid whose every combination is a run:

.. code-block:: toml

    [sweep]
    name = "lstm-vs-gru"

    [base]                       # any RunSpec field
    language = "anbn"
    protocol = "weiss2018"
    train_max = 99
    epochs = 100

    [grid]                       # lists; the cartesian product is taken
    cell = ["lstm", "gru"]
    seed = [0, 1, 2]

A file without ``[sweep]``/``[base]``/``[grid]`` is a single run spec (its
top-level keys are fields). Unknown fields, wrong types and impossible values
raise :class:`SpecError` naming the field.

Examples
--------
>>> s = RunSpec(cell="lstm", language="anbn", train_max=9, seed=1)
>>> s.protocol, len(s.spec_hash)
('weiss2018', 16)
>>> RunSpec(cell="lstm", language="anbn", hidden_size=-1)
Traceback (most recent call last):
...
expressivity.experiments.spec.SpecError: hidden_size: must be >= 1, got -1
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

__all__ = ["RunSpec", "SpecError", "load_specs", "parse_specs", "spec_from_dict"]


class SpecError(ValueError):
    """A run spec is invalid; the message starts with the field's name."""


@dataclass(frozen=True)
class RunSpec:
    """One run: what to train, how, and how far to evaluate.

    Attributes
    ----------
    cell, language, protocol : registry names
    hidden_size, embedding_size : sizes (embedding_size 0: one-hot input)
    precision : precision format name (``float32``, ``float16``, ``e5m2``, ``fixed8.8``...)
    train_min, train_max : training range of n (counter languages) or of lengths
    per_value : samples per n / length (recognition, regular languages)
    eval_max : last n / length evaluated densely (0: ``4 * train_max``)
    eval_far : a few n / lengths evaluated beyond ``eval_max`` (0: none)
    optimizer, lr, batch_size, epochs, clip, patience, target_accuracy : training
        (0 turns clip, patience and target_accuracy off)
    eval_every : validation every this many epochs (early stopping, best weights)
    seed : the run's seed (initialisation, data, shuffling)
    """

    cell: str
    language: str
    protocol: str = "weiss2018"
    hidden_size: int = 10
    embedding_size: int = 3
    precision: str = "float32"
    train_min: int = 0
    train_max: int = 99
    per_value: int = 1
    eval_max: int = 0
    eval_far: int = 0
    optimizer: str = "adam"
    lr: float = 0.001
    batch_size: int = 1
    epochs: int = 100
    clip: float = 0.0
    patience: int = 0
    target_accuracy: float = 0.0
    eval_every: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            want = {"str": str, "int": int, "float": (int, float)}[f.type]
            if isinstance(v, bool) or not isinstance(v, want):
                raise SpecError(f"{f.name}: expected {f.type}, got {type(v).__name__} {v!r}")
            if f.type == "float" and not math.isfinite(v):
                raise SpecError(f"{f.name}: expected a finite number, got {v!r}")
        _check(self)

    @property
    def spec_hash(self) -> str:
        """16 hex digits of SHA-256 over the canonical JSON of every field."""
        canon = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        d = asdict(self)
        for f in fields(self):
            if f.type == "float":
                d[f.name] = float(d[f.name])
        return d

    @property
    def eval_until(self) -> int:
        return self.eval_max if self.eval_max else 4 * self.train_max

    def label(self) -> str:
        return f"{self.cell}/{self.language}/{self.protocol}/{self.precision}/seed{self.seed}"


def _check(s: RunSpec) -> None:
    from expressivity.cells import list_cells
    from expressivity.languages import get_language
    from expressivity.precision import parse_precision
    from expressivity.protocols import PROTOCOLS
    from expressivity.training.optim import OPTIMIZERS

    def need(cond: bool, field: str, msg: str) -> None:
        if not cond:
            raise SpecError(f"{field}: {msg}, got {getattr(s, field)!r}")

    need(s.cell in list_cells(), "cell", f"must be one of {', '.join(list_cells())}")
    try:  # parametric names (dyck-4, shuffle-4, dyck-2-7) resolve like any other
        lang = get_language(s.language)
    except (KeyError, ValueError, TypeError) as err:
        msg = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise SpecError(f"language: {msg}") from None
    need(s.protocol in PROTOCOLS, "protocol", f"must be one of {', '.join(PROTOCOLS)}")
    try:
        prec = parse_precision(s.precision)
    except (ValueError, KeyError, TypeError) as err:
        raise SpecError(f"precision: {err}") from None
    need(s.optimizer in OPTIMIZERS, "optimizer", f"must be one of {OPTIMIZERS}")
    for name in ("hidden_size", "per_value", "batch_size", "epochs", "eval_every"):
        need(getattr(s, name) >= 1, name, "must be >= 1")
    for name in ("embedding_size", "train_min", "eval_max", "eval_far", "patience", "seed"):
        need(getattr(s, name) >= 0, name, "must be >= 0")
    need(
        s.train_max >= s.train_min,
        "train_max",
        f"training range is empty (train_min={s.train_min})",
    )
    need(s.lr > 0, "lr", "must be > 0")
    need(s.clip >= 0, "clip", "must be >= 0 (0: no clipping)")
    need(0 <= s.target_accuracy <= 1, "target_accuracy", "must lie in [0, 1] (0: off)")
    if s.eval_max:
        need(s.eval_max >= s.train_max, "eval_max", f"must be >= train_max ({s.train_max})")
    _check_sizes(s, lang, prec)


def _check_sizes(s: RunSpec, lang, prec) -> None:
    """Refuse, naming the field, what the head cannot compute or memory cannot hold."""
    from expressivity import heads
    from expressivity.cells import get_cell
    from expressivity.params import check_memory, expected_shapes, memory_limit
    from expressivity.protocols import get_protocol, has_sizes

    proto = get_protocol(s.protocol)
    n_out = heads.output_size(proto.head, lang.n_symbols)
    try:
        heads.check_precision(proto.head, n_out, prec, proto.threshold)
    except ValueError as err:
        raise SpecError(f"precision: {err} (protocol {s.protocol})") from None
    shapes = expected_shapes(
        get_cell(s.cell), lang.n_symbols, s.hidden_size, n_out, s.embedding_size or None
    )
    try:
        check_memory(shapes, f"a {s.cell} network with hidden_size={s.hidden_size}")
    except ValueError as err:
        raise SpecError(f"hidden_size: {err}") from None
    # the training set is held at once: padded codes, next symbols (int32) and next sets
    by_n = has_sizes(lang)
    n_words = (s.train_max - s.train_min + 1) * (1 if by_n else s.per_value)
    longest = lang.length_of_n(s.train_max) if by_n else s.train_max
    need = n_words * (longest + 1) * (9 + lang.n_symbols)
    have = memory_limit()
    if need > have:
        raise SpecError(
            f"train_max: a training set of {n_words:,} words up to length {longest:,} "
            f"(train_min={s.train_min}, train_max={s.train_max}, per_value={s.per_value}) needs "
            f"about {need / 2**30:,.1f} GiB, more than this machine's {have / 2**30:,.1f} GiB; "
            "use a smaller train_max"
        )
    # evaluation runs one word at least: its states, gates and readout at every step
    cell = get_cell(s.cell)
    top = max(s.eval_until, s.eval_far)
    longest = lang.length_of_n(top) if by_n else top
    per_step = prec.carrier.itemsize * (
        cell.state_size(s.hidden_size) + (len(cell.gates) + 1) * s.hidden_size + n_out
    )
    need = (longest + 1) * per_step
    if need > have:
        field = "eval_far" if s.eval_far > s.eval_until else "eval_max"
        raise SpecError(
            f"{field}: evaluating a word of length {longest:,} (n or length {top:,}) needs about "
            f"{need / 2**30:,.1f} GiB for its states, more than this machine's "
            f"{have / 2**30:,.1f} GiB; use a smaller {field}"
        )


def spec_from_dict(d: dict, where: str = "") -> RunSpec:
    """A :class:`RunSpec` from a mapping; unknown keys raise :class:`SpecError` naming them."""
    known = {f.name for f in fields(RunSpec)}
    pre = f"{where}: " if where else ""
    if not isinstance(d, dict):
        raise SpecError(
            f"{pre}a run spec must be a table of fields, got {type(d).__name__} {d!r:.60}"
        )
    unknown = sorted(set(d) - known)
    if unknown:
        raise SpecError(
            f"{pre}{unknown[0]}: unknown spec field (fields are {', '.join(sorted(known))})"
        )
    missing = [k for k in ("cell", "language") if k not in d]
    if missing:
        raise SpecError(f"{pre}{missing[0]}: required field is missing")
    try:
        return RunSpec(**d)
    except SpecError as err:
        raise SpecError(f"{pre}{err}") from None


def parse_specs(doc: dict) -> tuple[str, list[RunSpec]]:
    """``(sweep name, specs)`` from a parsed TOML document (see the module docstring)."""
    if not isinstance(doc, dict):
        raise SpecError(f"a spec document must be a table, got {type(doc).__name__}")
    if not any(k in doc for k in ("sweep", "base", "grid")):
        return "single", [spec_from_dict(doc)]
    extra = sorted(set(doc) - {"sweep", "base", "grid"})
    if extra:
        raise SpecError(f"{extra[0]}: unknown top-level table (use [sweep], [base] and [grid])")
    for table in ("sweep", "base", "grid"):
        if not isinstance(doc.get(table, {}), dict):
            v = doc[table]
            raise SpecError(
                f"{table}: expected a table ([{table}] with fields), got {type(v).__name__} {v!r:.60}"
            )
    sweep = doc.get("sweep", {})
    bad = sorted(set(sweep) - {"name"})
    if bad:
        raise SpecError(f"sweep.{bad[0]}: unknown field (only 'name')")
    name = sweep.get("name", "sweep")
    if not isinstance(name, str):
        raise SpecError(f"sweep.name: expected str, got {name!r}")
    base = dict(doc.get("base", {}))
    grid = doc.get("grid", {})
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise SpecError(f"grid.{k}: expected a non-empty list of values, got {v!r}")
    keys = list(grid)
    specs = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        d = dict(base, **dict(zip(keys, combo)))
        specs.append(spec_from_dict(d, where="grid" if keys else "base"))
    hashes = {}
    for s in specs:
        hashes.setdefault(s.spec_hash, s)
    return name, list(hashes.values())


def load_specs(path: str | Path) -> tuple[str, list[RunSpec]]:
    """Read a TOML spec or sweep file."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML ({err})") from None
    return parse_specs(doc)
