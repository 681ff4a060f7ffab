"""The ``expressivity`` command line: train, evaluate, sweep, report, reproduce, extract, counters.

Examples
--------
.. code-block:: console

    $ expressivity train --cell lstm --language anbn --train-max 30 --epochs 100 --out results/one
    $ expressivity evaluate results/one/models/*.npz
    $ expressivity sweep sweep.toml --workers 2
    $ expressivity report --store results/results.sqlite
    $ expressivity reproduce weiss2018 --quick
    $ expressivity extract results/one/models/<hash>.npz --language 'regex:(ab)*' --method lstar
    $ expressivity counters anbn_lstm.npz --language anbn --n-train 99

Errors in what was asked (a bad flag, spec, model file or store) are printed as
``expressivity: error: <message>`` with exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
from pathlib import Path

__all__ = ["TRAIN_DEFAULTS", "main"]

#: what ``train`` uses, without a spec file, for the flags not given: the settings
#: ``reproduce weiss2018`` trains with (``RunSpec``'s own defaults are the paper's
#: lr 0.001 without clipping or early stopping, with which a small LSTM learns
#: nothing within 100 epochs)
TRAIN_DEFAULTS = {"lr": 0.01, "clip": 5.0, "target_accuracy": 1.0}
#: training starts at n = 1 under ``weiss2018`` (the empty word carries no count)
WEISS_TRAIN_MIN = 1
BACKENDS = ("cpu", "cuda", "auto")
PRECISION_FORMS = (
    "float64, float32, float16, bfloat16, eXmY (2 <= X <= 11, 1 <= Y <= 52, e.g. e5m2) or "
    "fixedI.F (I >= 1 integer bits with the sign, F >= 0 fraction bits, e.g. fixed8.8)"
)


# ---------------------------------------------------------------------- typed flag values
def _int_at_least(lo: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {v}")
        return v

    parse.__name__ = f"integer >= {lo}"
    return parse


def _float_in(lo: float, hi: float = math.inf, lo_open: bool = False):
    """A finite float in [lo, hi] (or (lo, hi] with ``lo_open``)."""
    where = f"{'(' if lo_open else '['}{lo:g}, {'inf)' if hi == math.inf else f'{hi:g}]'}"

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number in {where}, got {text!r}"
            ) from None
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
            raise argparse.ArgumentTypeError(f"must be a finite number in {where}, got {text!r}")
        return v

    parse.__name__ = f"number in {where}"
    return parse


def _precision(text: str) -> str:
    from expressivity.precision import parse_precision

    try:
        parse_precision(text)
    except (ValueError, TypeError, KeyError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


POS_INT, NONNEG_INT = _int_at_least(1), _int_at_least(0)
POS_FLOAT = _float_in(0.0, lo_open=True)


def _registry_names() -> tuple[list[str], str, list[str]]:
    """(cells, languages as shown in help, protocols)."""
    import re

    from expressivity.cells import list_cells
    from expressivity.languages import list_languages
    from expressivity.protocols import PROTOCOLS

    langs = [re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), t)
             for t in list_languages(templates=True)]  # fmt: skip
    return list_cells(), ", ".join(langs), list(PROTOCOLS)


# ---------------------------------------------------------------------- train
_SPEC_FLAGS = (
    # name, type, help
    ("hidden-size", POS_INT, "hidden units (default 10)"),
    ("embedding-size", NONNEG_INT, "embedding dimension; 0: one-hot input (default 3)"),
    ("train-min", NONNEG_INT, "smallest training n or length (default 1 under weiss2018, else 0)"),
    ("train-max", NONNEG_INT, "largest training n or length (default 99)"),
    ("per-value", POS_INT, "samples per n or length (default 1)"),
    ("eval-max", NONNEG_INT, "last n/length evaluated densely; 0: 4 x train-max (default 0)"),
    ("eval-far", NONNEG_INT, "also a few points up to this n/length; 0: none (default 0)"),
    ("lr", POS_FLOAT, "learning rate (default 0.01)"),
    ("batch-size", POS_INT, "words per update (default 1)"),
    ("epochs", POS_INT, "maximum epochs (default 100)"),
    ("clip", _float_in(0.0), "clip the gradient norm to this; 0: off (default 5)"),
    ("patience", NONNEG_INT, "stop after this many evaluations without progress; 0: off"),
    ("target-accuracy", _float_in(0.0, 1.0),
     "stop at this validation accuracy; 0: off (default 1.0)"),
    ("eval-every", POS_INT, "validate every this many epochs (default 5)"),
    ("seed", NONNEG_INT, "seed of initialisation, data and shuffling (default 0)"),
)  # fmt: skip


def _spec_args(p: argparse.ArgumentParser, names) -> None:
    cells, langs, protocols = names
    p.add_argument("spec", nargs="?", help="a TOML run spec; flags given override its fields "
                   "(its missing fields take RunSpec's defaults, not this command's)")  # fmt: skip
    p.add_argument("--cell", choices=cells, metavar="CELL",
                   help=f"the cell, one of: {', '.join(cells)}")  # fmt: skip
    p.add_argument("--language", metavar="NAME",
                   help=f"a registered language: {langs} (K, M: integers)")  # fmt: skip
    p.add_argument("--protocol", choices=protocols, metavar="PROTOCOL",
                   help=f"training protocol, one of: {', '.join(protocols)} (default weiss2018)")  # fmt: skip
    p.add_argument("--precision", type=_precision, metavar="FORMAT",
                   help=f"number format: {PRECISION_FORMS} (default float32)")  # fmt: skip
    p.add_argument("--optimizer", choices=("adam", "sgd"), help="adam or sgd (default adam)")
    for name, kind, helptext in _SPEC_FLAGS:
        p.add_argument(f"--{name}", type=kind, default=None, help=helptext,
                       metavar=name.split("-")[-1].upper())  # fmt: skip


_NOT_SPEC = {"spec", "out", "store", "command", "func", "checkpoint", "backend",
             "discard_corrupt_checkpoints"}


def _spec_from_args(args):
    from expressivity.experiments.spec import SpecError, load_specs, spec_from_dict

    given = {k: v for k, v in vars(args).items() if v is not None and k not in _NOT_SPEC}
    if args.spec:
        _, specs = load_specs(args.spec)
        if len(specs) != 1:
            raise SpecError(f"{args.spec}: holds {len(specs)} runs; use `expressivity sweep`")
        return spec_from_dict(dict(specs[0].to_dict(), **given))
    d = dict(TRAIN_DEFAULTS)
    if given.get("protocol", "weiss2018") == "weiss2018":
        d["train_min"] = WEISS_TRAIN_MIN
    d.update(given)
    for need in ("cell", "language"):
        if need not in d:
            raise SpecError(f"{need}: required (give --{need} or a spec file)")
    if "train_min" not in given and "train_max" in given:
        d["train_min"] = min(d.get("train_min", 0), given["train_max"])
    return spec_from_dict(d)


def _check_out_dir(path: Path, what: str = "output folder") -> None:
    """Refuse an output folder that is a file or cannot be written, naming it."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{what} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".expressivity-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(
            f"{what} {path} cannot be written ({err.strerror or err}); choose another with --out"
        ) from None


def _check_store_path(path: Path, must_exist: bool) -> None:
    """Refuse a store path that is a folder, missing (when it must exist) or unwritable."""
    if path.is_dir():
        raise IsADirectoryError(
            f"results store {path} is a folder, not a store file; pass the .sqlite file inside it "
            "(e.g. --store results/results.sqlite)"
        )
    if must_exist and not path.exists():
        raise FileNotFoundError(
            f"results store {path} does not exist (nothing was created); pass the results.sqlite "
            "of a train, sweep or reproduce output folder"
        )
    if not path.exists():
        _check_out_dir(path.parent, "the store's folder")


def _check_scheduler(address: str | None, timeout: float = 5.0) -> None:
    """Refuse a ``tcp://`` dask scheduler address that does not answer within ``timeout`` s."""
    import socket
    from urllib.parse import urlsplit

    if address is None:
        return
    url = urlsplit(address if "://" in address else f"tcp://{address}")
    if url.scheme not in ("tcp", "tls"):
        return  # other transports (inproc, ucx): dask says what is wrong
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ValueError(f"--scheduler {address!r}: expected HOST:PORT or tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(
            f"--scheduler {address}: no dask scheduler answers there ({err.strerror or err}); "
            "start one (`dask scheduler`), fix the address, or leave --scheduler out for a "
            "LocalCluster"
        ) from None


_DISCARD_HELP = ("a run whose checkpoint is corrupt (e.g. cut short) deletes it and starts "
                 "afresh (default: the run fails, naming the file)")  # fmt: skip


def _cmd_train(args) -> int:
    from expressivity.experiments.store import ResultsStore
    from expressivity.experiments.sweep import run_sweep

    spec = _spec_from_args(args)
    out = Path(args.out)
    store = Path(args.store) if args.store else out / "results.sqlite"
    _check_out_dir(out)
    _check_store_path(store, must_exist=False)
    run_sweep([spec], store, out, sweep="train", executor="serial", backend=args.backend,
              discard_corrupt_checkpoints=args.discard_corrupt_checkpoints)  # fmt: skip
    with ResultsStore(store) as st:
        row = st.get(spec.spec_hash)
    print(
        json.dumps({k: row[k] for k in ("spec_hash", "status", "model_path", "metrics")}, indent=1)
    )
    return 0 if row["status"] == "done" else 1


# ---------------------------------------------------------------------- models
def _model_paths(patterns: list[str]) -> list[str]:
    """Every file the arguments name; a pattern with wildcards that is not a file is globbed."""
    paths: list[str] = []
    for pat in patterns:
        if not os.path.exists(pat) and glob.has_magic(pat):
            hits = sorted(glob.glob(pat))
            if not hits:
                raise FileNotFoundError(f"no model file matches {pat!r}")
            paths += hits
        else:
            paths.append(pat)
    seen: dict[str, None] = {}
    for p in paths:
        seen.setdefault(p, None)
    return list(seen)


_WEISS_KEYS = {"alphabet", "cell", "threshold", "embedding"}


def _load_model(path: str, weiss2018: bool = False, alphabet: str | None = None):
    """``(network, metadata)`` from a ``Network.save`` .npz or a released Weiss et al. network.

    A released network is recognised by its arrays (``--weiss2018`` is then not
    needed); the authors' DyNet text files (``.data``) need ``--weiss2018`` and
    the alphabet. ``metadata`` is the saved ``training`` dict (the run spec), the
    empty dict for a file without it, or ``{"released": True}``.
    """
    import zipfile

    import numpy as np

    import expressivity as ex

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    if p.is_dir():
        raise IsADirectoryError(f"model file {path} is a folder; give the .npz file(s) inside it")
    if not zipfile.is_zipfile(p):
        if weiss2018 or p.suffix == ".data":
            if alphabet is None:
                raise ValueError(f"{path}: a released network in DyNet's text format (.data) needs "
                                 "its alphabet: add --alphabet ab (a^n b^n) or abc (a^n b^n c^n)")  # fmt: skip
            return ex.load_weiss2018(p, alphabet=alphabet), {"released": True}
        raise ValueError(
            f"{path}: not a readable network file: it is not a .npz (zip) archive; expected one "
            "written by `expressivity train` (Network.save) or a released Weiss et al. (2018) "
            "network (.npz, or .data with --weiss2018 --alphabet)"
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            files = set(z.files)
    except (OSError, ValueError, zipfile.BadZipFile):
        raise ValueError(f"{path}: not a readable network file (a damaged .npz archive)") from None
    if "__meta__" in files:
        meta = ex.Network.read_metadata(p)
        training = meta.get("training")
        return ex.Network.load(p), (training if isinstance(training, dict) else {})
    if _WEISS_KEYS <= files:
        if not weiss2018:
            print(f"{path}: a released Weiss et al. (2018) network (loaded as one; "
                  "--weiss2018 says so explicitly)", file=sys.stderr)  # fmt: skip
        return ex.load_weiss2018(p), {"released": True}
    raise ValueError(
        f"{path}: a .npz archive, but neither an expressivity network (it lacks '__meta__', "
        "written by Network.save) nor a released Weiss et al. (2018) network (it lacks "
        f"{', '.join(sorted(_WEISS_KEYS - files))})"
    )


def _language(text: str | None, alphabet: str | None, net=None, where: str = ""):
    from expressivity.languages.resolve import language_from_arg

    if text is None:
        raise ValueError(f"{where}--language is needed (the model file does not name its language)")
    lang = language_from_arg(text, alphabet if alphabet is not None else None)
    if net is not None and lang.alphabet != net.alphabet:
        raise ValueError(
            f"{where}alphabet mismatch: language {text!r} has {lang.alphabet!r}, the network "
            f"{net.alphabet!r}; for a regex or a constraint pass --alphabet {net.alphabet}"
        )
    return lang


# ---------------------------------------------------------------------- evaluate
def _evaluation_plan(args, net, info: dict) -> dict:
    """Language, protocol, range and rng: flags first, then the model file, then defaults."""
    import numpy as np

    from expressivity.experiments.reproduce import TASKS
    from expressivity.protocols import get_protocol

    spec = {k: info[k] for k in ("language", "protocol", "train_min", "train_max", "eval_max",
                                 "eval_far", "seed") if k in info}  # fmt: skip
    lang_name = args.language or spec.get("language")
    lang = _language(lang_name, args.alphabet, net, where=f"{args.model_now}: ")
    default_proto = {"next-symbol": "weiss2018", "next-set": "suzgun2019"}.get(
        net.head, "recognition"
    )
    proto = get_protocol(args.protocol or spec.get("protocol") or default_proto)
    if "train_max" in spec:  # the run's own evaluation
        t_min, t_max = spec.get("train_min", 0), spec["train_max"]
        n_max = spec.get("eval_max") or 4 * t_max
        far, seed = spec.get("eval_far", 0), spec.get("seed", 0)
    elif info.get("released"):  # as reproduce weiss2018 evaluates the released networks
        t_max = dict(TASKS).get(lang.name, 99)
        t_min, n_max, far, seed = 1, 3 * t_max, 20 * t_max, 0
    else:
        t_min, t_max, n_max, far, seed = 0, 99, 300, 0, 0
    t_min = t_min if args.train_min is None else args.train_min
    t_max = t_max if args.train_max is None else args.train_max
    n_max = n_max if args.n_max is None else args.n_max
    far = far if args.far is None else args.far
    seed = seed if args.seed is None else args.seed
    if n_max < t_min:
        raise ValueError(f"--n-max ({n_max}) must be >= --train-min ({t_min})")
    # the evaluation stream of a run with this seed (as the runner spawns it)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
    return dict(lang=lang, proto=proto, train_min=t_min, train_max=t_max, n_max=n_max,
                far=far if far > n_max else None, rng=rng, seed=seed)  # fmt: skip


def _cmd_evaluate(args) -> int:
    paths = _model_paths(args.model)
    results: dict[str, dict] = {}
    curves: dict[str, dict] = {}
    for path in paths:
        args.model_now = path
        net, info = _load_model(path, args.weiss2018, args.alphabet)
        plan = _evaluation_plan(args, net, info)
        far = f", a few points to {plan['far']}" if plan["far"] else ""
        print(f"{path}: {net.cell}, {net.precision.name}; language {plan['lang'].name}, protocol "
              f"{plan['proto'].name}; n from {plan['train_min']} to {plan['n_max']}{far} "
              f"(trained to {plan['train_max']})", file=sys.stderr)  # fmt: skip
        ev = plan["proto"].evaluate(net, plan["lang"], plan["rng"], plan["train_max"],
                                    plan["n_max"], far=plan["far"], train_min=plan["train_min"])  # fmt: skip
        results[path] = ev.metrics
        curves[path] = ev.to_json()
    print(json.dumps(results[paths[0]] if len(paths) == 1 else results, indent=1))
    if args.curves:
        Path(args.curves).write_text(json.dumps(curves[paths[0]] if len(paths) == 1 else curves))
    return 0


# ---------------------------------------------------------------------- sweep, report, reproduce
def _cmd_sweep(args) -> int:
    from expressivity.experiments.spec import load_specs
    from expressivity.experiments.sweep import run_sweep

    name, specs = load_specs(args.spec)
    if not args.local:
        _check_scheduler(args.scheduler)
    out = Path(args.out)
    store = Path(args.store) if args.store else out / "results.sqlite"
    _check_out_dir(out)
    _check_store_path(store, must_exist=False)
    executor = "serial" if args.local else "dask"
    s = run_sweep(specs, store, out, name, executor, args.scheduler, args.workers,
                  backend=args.backend,
                  discard_corrupt_checkpoints=args.discard_corrupt_checkpoints)  # fmt: skip
    print(f"sweep {name}: {s['ran']} ran, {s['skipped']} already finished, {s['errors']} errors, "
          f"{s['seconds']:.1f} s")  # fmt: skip
    return 1 if s["errors"] else 0


def _cmd_report(args) -> int:
    from expressivity.experiments.report import markdown_report, write_report

    store = Path(args.store)
    _check_store_path(store, must_exist=True)
    if args.out:
        _check_out_dir(Path(args.out))
        print(write_report(store, args.out, sweep=args.sweep))
    else:
        print(markdown_report(store, sweep=args.sweep))
    return 0


def _cmd_reproduce(args) -> int:
    from expressivity.experiments.reproduce import reproduce_weiss2018

    if not args.local:
        _check_scheduler(args.scheduler)
    if args.paper == "study":  # groups of runs as populations, on dask workers unless --local
        from expressivity.experiments.reproduce import reproduce_study

        out = args.out or ("results/study-quick" if args.quick else "results/study")
        _check_out_dir(Path(out))
        report = reproduce_study(out, quick=args.quick, seeds=args.seeds, docs_dir=args.docs,
                                 backend=args.backend,
                                 executor="serial" if args.local else "dask",
                                 scheduler=args.scheduler, n_workers=args.workers,
                                 frontier_limit=args.frontier_limit)  # fmt: skip
        print(Path(report).read_text())
        return 0
    if args.paper == "variants":
        from expressivity.experiments.variants import reproduce_variants

        out = args.out or ("results/variants-quick" if args.quick else "results/variants")
        _check_out_dir(Path(out))
        report = reproduce_variants(
            out, quick=args.quick, executor="serial" if args.local else "dask",
            scheduler=args.scheduler, n_workers=args.workers, seeds=args.seeds, docs_dir=args.docs,
            backend=args.backend,
        )  # fmt: skip
        print(Path(report).read_text())
        return 0
    out = args.out or ("results/weiss2018-quick" if args.quick else "results/weiss2018")
    _check_out_dir(Path(out))
    report = reproduce_weiss2018(
        out, quick=args.quick, executor="serial" if args.local else "dask",
        scheduler=args.scheduler, n_workers=args.workers, seeds=args.seeds, paper_lr=args.paper_lr,
        backend=args.backend,
    )  # fmt: skip
    print(Path(report).read_text())
    return 0


# ---------------------------------------------------------------------- extract, counters
def _dfa_json(dfa) -> dict:
    """A DFA as plain JSON (reload with ``--language dfa:FILE.json``)."""
    import numpy as np

    d = dfa.complete()
    return {
        "alphabet": d.alphabet,
        "n_states": d.n_states,
        "start": int(d.start_index),
        "accepting": [bool(x) for x in np.asarray(d.accepting_mask)],
        "table": np.asarray(d.transition_table, dtype=int).tolist(),
    }


#: most words ``extract`` samples (every word up to ``--max-len``)
MAX_EXTRACT_WORDS = 2_000_000


def _check_sample_size(max_len: int, v: int) -> None:
    """Refuse a ``--max-len`` whose every-word sample exceeds :data:`MAX_EXTRACT_WORDS`."""
    total, longest = 0, -1
    for n in range(max_len + 1):
        total += v**n
        if total > MAX_EXTRACT_WORDS:
            raise ValueError(
                f"--max-len {max_len}: every word up to that length over {v} symbols is more "
                f"than {MAX_EXTRACT_WORDS} words; use --max-len {longest} or less"
            )
        longest = n


def _cmd_extract(args) -> int:
    import numpy as np

    from expressivity.analysis import extract_dfa
    from expressivity.experiments.report import safe_filename

    net, _ = _load_model(args.model, args.weiss2018, args.alphabet)
    lang = _language(args.language, args.alphabet, net)
    if args.max_len is not None:
        _check_sample_size(args.max_len, len(net.alphabet))
    ext = extract_dfa(
        net, lang, args.method, max_len=args.max_len, k=args.k, rng=np.random.default_rng(args.seed),
        time_limit=args.time_limit, backend=args.backend,
    )  # fmt: skip
    minimal = lang.dfa().minimize().n_states if getattr(lang, "is_regular", False) else None
    if ext.equivalent:
        eq = "equivalent to the language's minimal DFA"
    elif ext.equivalent is None:
        eq = "not comparable (the language is not regular)"
    else:
        eq = f"NOT equivalent; shortest counterexample {ext.counterexample!r}"
    lines = [
        f"model {args.model} ({net.cell}, hidden {net.hidden_size}, head {net.head}, "
        f"{net.precision.name}); language {lang.name}; method {args.method}",
        f"states: {ext.dfa.n_states}" + (f" (minimal DFA: {minimal})" if minimal else "")
        + f"; clusters/rows before minimisation: {ext.n_clusters}; converged: {ext.converged}",
        f"fidelity to the network: {ext.fidelity:.4f} (sample {ext.sample_fidelity:.4f})",
        f"equivalence: {eq}",
        f"time: {ext.time:.3f} s ({ext.n_queries} states/queries)",
        "accuracy by length (DFA vs language | network vs language):",
    ]  # fmt: skip
    for n in sorted(ext.accuracy_by_length):
        lines.append(
            f"  {n:>4}: {ext.accuracy_by_length[n]:.3f} | {ext.net_accuracy_by_length[n]:.3f}"
        )
    lname = safe_filename(lang.name)
    out = Path(args.out or f"extract-{Path(args.model).stem}-{lname}-{args.method}")
    _check_out_dir(out)
    stem = out / f"{lname}-{args.method}"
    stem.with_suffix(".dot").write_text(ext.dfa.to_dot(name=f"{lname}_{args.method}"))
    record = {
        "model": str(args.model),
        "language": lang.name,
        "method": args.method,
        "n_states": ext.dfa.n_states,
        "minimal_states": minimal,
        "equivalent": ext.equivalent,
        "counterexample": ext.counterexample,
        "fidelity": ext.fidelity,
        "converged": ext.converged,
        "time": ext.time,
        "n_queries": ext.n_queries,
        "accuracy_by_length": {str(k): v for k, v in ext.accuracy_by_length.items()},
        "dfa": _dfa_json(ext.dfa),
    }
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1))
    written = [stem.with_suffix(".dot"), stem.with_suffix(".json")]
    import shutil

    if shutil.which("dot"):
        for fmt in ("svg", "png"):
            written.append(ext.dfa.render(stem.with_suffix(f".{fmt}"), format=fmt))
    lines.append("wrote " + ", ".join(str(p) for p in written))
    print("\n".join(lines))
    return 0


def _cmd_counters(args) -> int:
    from expressivity.analysis import find_counters

    net, _ = _load_model(args.model, args.weiss2018, args.alphabet)
    lang = _language(args.language, args.alphabet, net)
    if args.n_max is not None and args.n_max < args.n_train:
        raise ValueError(f"--n-max ({args.n_max}) must be >= --n-train ({args.n_train})")
    rep = find_counters(net, lang, n_train=args.n_train, n_max=args.n_max, backend=args.backend)
    lines = [
        f"model {args.model} ({net.cell}, hidden {net.hidden_size}, {net.precision.name}); "
        f"language {lang.name}; fit on n <= {rep.n_train}, followed to n = {rep.n_max}",
        "",
        "| unit | counter | slope | intercept | R² | R² far | counts | linear to n_max "
        "| breaks after | value at break | spacing there | precision explains |",
        "|" + "---|" * 12,
    ]
    f = "{:.4g}".format
    for u in sorted(rep.units, key=lambda u: (not u.is_counter, -u.r2)):
        lines.append(
            f"| {u.name} | {u.counter} | {f(u.slope)} | {f(u.intercept)} | {u.r2:.5f} | "
            f"{u.r2_far:.4f} | {'yes' if u.is_counter else 'no'} | "
            f"{'yes' if u.linear_beyond else ('–' if not u.is_counter else 'no')} | "
            f"{'–' if u.break_at is None else f(u.break_at)} | "
            f"{'–' if u.value_at_break is None else f(u.value_at_break)} | "
            f"{'–' if u.spacing_at_break is None else f(u.spacing_at_break)} | "
            f"{'–' if u.precision_explains is None else u.precision_explains} |"
        )
    lines += ["", f"{len(rep.counters)} counting unit(s)", rep.summary()]
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------------- parser
_LANGUAGE_ARG_HELP = (
    "the language: a registered name ({names}); 'regex:PATTERN' (e.g. 'regex:(ab)*'); "
    "'dfa:FILE.json' (the table form extract writes, or DFA.from_dict's); "
    "'constraint:EXPR' with --alphabet (e.g. 'constraint:#a = 2 * #b'); "
    "or 'grammar:RULES' (e.g. 'grammar:S -> a S b | ε'; rules separated by ';')"
)
_MODEL_HELP = (
    "a network .npz written by train/sweep (Network.save), or a released Weiss et al. (2018) "
    "network (.npz, recognised by its arrays; .data with --weiss2018 --alphabet)"
)
_ALPHABET_HELP = (
    "the alphabet, symbols in order (needed by 'constraint:'; for a regex or grammar it fixes "
    "the symbols; for a released .data network, ab or abc)"
)


def _add_backend(p, helptext: str) -> None:
    p.add_argument("--backend", choices=BACKENDS, default="cpu",
                   help=f"{', '.join(BACKENDS)} (default cpu); {helptext}")  # fmt: skip


def _add_cluster(p) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running dask scheduler (default: a LocalCluster)")  # fmt: skip
    p.add_argument("--workers", type=POS_INT, metavar="N",
                   help="LocalCluster worker processes, >= 1 (default: one per core)")  # fmt: skip
    p.add_argument("--local", action="store_true", help="run serially in this process (no dask)")
    _add_backend(p, "cuda: train compatible runs together as populations on the GPU")


def _analysis_parsers(sub, names) -> None:
    """The ``extract`` and ``counters`` subcommands."""
    lang_help = _LANGUAGE_ARG_HELP.format(names=names[1])
    gpu_help = "cuda: collect the prefix-tree states in one GPU launch"
    x = sub.add_parser("extract", help="extract a DFA from a network (k-means, grid, L*)",
                       description="Extract a DFA from a network and compare it with a language.")  # fmt: skip
    x.add_argument("model", help=_MODEL_HELP)
    x.add_argument("--language", required=True, metavar="LANGUAGE", help=lang_help)
    x.add_argument("--alphabet", help=_ALPHABET_HELP)
    x.add_argument("--weiss2018", action="store_true", help="the model is a released Weiss et al. "
                   "network (needed only for DyNet .data files)")  # fmt: skip
    x.add_argument("--method", choices=("kmeans", "quantize", "lstar"), default="kmeans",
                   help="kmeans (cluster the states), quantize (a grid) or lstar (white-box L*); "
                   "default kmeans")  # fmt: skip
    x.add_argument("--out", help="folder for the DOT/JSON/SVG/PNG (default extract-MODEL-...)")
    x.add_argument("--max-len", type=NONNEG_INT, metavar="N",
                   help=f"sample every word up to this length (at most {MAX_EXTRACT_WORDS} words; "
                   "default: the longest with about 4096 words)")  # fmt: skip
    x.add_argument("--k", type=POS_INT, help="k-means clusters (default: smallest k that fits)")
    x.add_argument("--time-limit", type=POS_FLOAT, default=60.0, metavar="SECONDS",
                   help="L* time limit in seconds, > 0 (default 60)")  # fmt: skip
    x.add_argument("--seed", type=NONNEG_INT, default=0, help="seed of k-means and sampling")
    _add_backend(x, gpu_help)
    x.set_defaults(func=_cmd_extract)
    c = sub.add_parser("counters", help="which state units count, and where they stop",
                       description="Fit each state unit to the language's counters; follow the "
                       "counting units far beyond training.")  # fmt: skip
    c.add_argument("model", help=_MODEL_HELP)
    c.add_argument("--language", required=True, metavar="LANGUAGE",
                   help=lang_help + "; the language must have counters (e.g. anbn, dyck-K, "
                   "a constraint) and positives by n")  # fmt: skip
    c.add_argument("--alphabet", help=_ALPHABET_HELP)
    c.add_argument("--weiss2018", action="store_true", help="the model is a released Weiss et al. "
                   "network (needed only for DyNet .data files)")  # fmt: skip
    c.add_argument("--n-train", type=POS_INT, default=100, metavar="N",
                   help="fit on n <= this (default 100)")  # fmt: skip
    c.add_argument("--n-max", type=POS_INT, metavar="N",
                   help="follow one positive to this n (default 10 x n-train)")  # fmt: skip
    _add_backend(c, gpu_help)
    c.set_defaults(func=_cmd_counters)


def _parser() -> argparse.ArgumentParser:
    names = _registry_names()
    p = argparse.ArgumentParser(
        prog="expressivity",
        description="Train, evaluate and analyse small recurrent networks on formal languages "
        "under an explicit finite-precision model.",
        epilog="`expressivity COMMAND --help` lists a command's flags.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands")  # fmt: skip

    t = sub.add_parser(
        "train", help="train and evaluate one run (spec file and/or flags)",
        description="Train one network and evaluate it far beyond its training range. Without a "
        "spec file the flags not given default to settings that learn (those of `reproduce "
        "weiss2018`): lr 0.01, clip 5, target accuracy 1.0, train-min 1 under weiss2018.",
    )  # fmt: skip
    _spec_args(t, names)
    t.add_argument("--out", default="results", help="models and checkpoints (default results/)")
    t.add_argument("--store", help="results store file (default OUT/results.sqlite)")
    t.add_argument("--discard-corrupt-checkpoints", action="store_true", help=_DISCARD_HELP)
    _add_backend(t, "cuda: train on the GPU (the population kernel)")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser(
        "evaluate", help="evaluate saved networks far beyond training",
        description="Evaluate one or more saved networks. A model written by train or sweep "
        "remembers its language, protocol, training range and evaluation range, so with no "
        "flags this reports what train reported; a released Weiss et al. network is evaluated as "
        "`reproduce weiss2018` does (n from 1 to 3x its training range, a few points to 20x); "
        "flags override. Prints the metrics as JSON (several files: one object per file).",
    )  # fmt: skip
    e.add_argument("model", nargs="+",
                   help=_MODEL_HELP + "; several files or glob patterns (models/*.npz)")  # fmt: skip
    e.add_argument("--language", metavar="LANGUAGE",
                   help="default: the model's own; " + _LANGUAGE_ARG_HELP.format(names=names[1]))  # fmt: skip
    e.add_argument("--alphabet", help=_ALPHABET_HELP)
    e.add_argument("--protocol", choices=names[2], metavar="PROTOCOL",
                   help=f"{', '.join(names[2])} (default: the model's own, else from its head)")  # fmt: skip
    e.add_argument("--weiss2018", action="store_true", help="the file is a released Weiss et al. "
                   "network (recognised without this flag except for DyNet .data files)")  # fmt: skip
    e.add_argument("--train-min", type=NONNEG_INT, metavar="N",
                   help="first n (or length) evaluated (default: the model's training minimum)")  # fmt: skip
    e.add_argument("--train-max", type=NONNEG_INT, metavar="N",
                   help="largest training n (default: the model's; 99 for a model without one)")  # fmt: skip
    e.add_argument("--n-max", type=NONNEG_INT, metavar="N",
                   help="last n (or length) evaluated densely (default: the model's evaluation "
                   "range; 300 for a model without one)")  # fmt: skip
    e.add_argument("--far", type=NONNEG_INT, metavar="N",
                   help="also a few points up to this n; 0: none (default: the model's)")  # fmt: skip
    e.add_argument("--seed", type=NONNEG_INT,
                   help="seed of the sampled words (by-length languages; default: the run's)")  # fmt: skip
    e.add_argument("--curves", metavar="FILE", help="write the curves (JSON) here")
    e.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("sweep", help="run every spec of a sweep TOML (resumes)",
                       description="Run every spec of a sweep file on dask; finished runs are "
                       "skipped, so an interrupted sweep resumes.")  # fmt: skip
    s.add_argument("spec", help="sweep TOML ([sweep], [base], [grid])")
    s.add_argument("--out", default="results", help="models, checkpoints (default results/)")
    s.add_argument("--store", help="results store file (default OUT/results.sqlite)")
    s.add_argument("--discard-corrupt-checkpoints", action="store_true", help=_DISCARD_HELP)
    _add_cluster(s)
    s.set_defaults(func=_cmd_sweep)

    r = sub.add_parser("reproduce", help="reproduce a paper's experiment (report and plots)",
                       description="Reproduce Weiss et al. (2018), or train every cell variant "
                       "on counting languages.")  # fmt: skip
    r.add_argument("paper", choices=("weiss2018", "variants", "study"),
                   help="weiss2018, variants (every cell counting or not), or study (every "
                   "cell tuned alike, 20 seeds, controls first; docs/study.md)")  # fmt: skip
    r.add_argument("--quick", action="store_true", help="about two minutes on 2 cores")
    r.add_argument("--out", help="default results/<paper>[-quick]")
    r.add_argument("--seeds", type=POS_INT, metavar="N",
                   help="seeds per cell, >= 1 (default 5, quick 2 / 1; study 20, quick 2)")  # fmt: skip
    r.add_argument("--paper-lr", action="store_true", help="Adam lr 0.001 as in the paper")
    r.add_argument("--frontier-limit", type=POS_INT, metavar="N",
                   help="study: largest n a frontier search checks, >= 1 (default 10000; the "
                   "search's cost grows as n^2)")  # fmt: skip
    r.add_argument(
        "--docs", metavar="FOLDER",
        help="variants, study: also write variants.md / study.md and plots here",
    )
    _add_cluster(r)
    r.set_defaults(func=_cmd_reproduce)

    rp = sub.add_parser("report", help="Markdown report of a results store",
                        description="Summarise a results store: one row per setting (the whole "
                        "run spec but the seed) over its seeds, and one row per run.")  # fmt: skip
    rp.add_argument("--store", default="results/results.sqlite",
                    help="an existing results store file (default results/results.sqlite)")  # fmt: skip
    rp.add_argument("--sweep", help="only this sweep's rows")
    rp.add_argument("--out", metavar="FOLDER", help="write report.md and plots (PNG) here")
    rp.set_defaults(func=_cmd_report)
    _analysis_parsers(sub, names)
    return p


def _error_types() -> tuple:
    from expressivity.experiments.spec import SpecError
    from expressivity.experiments.store import StoreError
    from expressivity.training import CheckpointError

    return (SpecError, StoreError, CheckpointError, ValueError, KeyError, TypeError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``expressivity`` command; returns the exit status.

    Bad flags (argparse) and the documented errors (``ValueError``, ``KeyError``,
    ``TypeError``, ``OSError`` and the project's subclasses) print one line,
    ``expressivity: error: <message>``, and return 2.
    """
    from expressivity._progress import compile_notice, configure_logging

    configure_logging()  # progress lines and notices (INFO) on stderr, beside the bars
    words = sys.argv[1:] if argv is None else [str(w) for w in argv]
    compiling = ("train", "evaluate", "sweep", "reproduce", "extract", "counters")
    if words[:1] and words[0] in compiling and not {"-h", "--help"} & set(words):
        compile_notice()  # kernels not cached yet (a first run): say so before anything else
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help, or a bad flag (argparse printed why)
        return done.code if isinstance(done.code, int) else 2
    try:
        return args.func(args)
    except _error_types() as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"expressivity: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are in the store, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
