"""The ``expressivity`` command line: train, evaluate, sweep, report, reproduce.

Examples
--------
.. code-block:: console

    $ expressivity train --cell lstm --language anbn --train-max 20 --epochs 50 --seed 1
    $ expressivity evaluate results/models/<hash>.npz --language anbn --n-max 300
    $ expressivity sweep sweep.toml --workers 2
    $ expressivity report --store results/results.sqlite
    $ expressivity reproduce weiss2018 --quick
    $ expressivity extract results/models/<hash>.npz --language tomita-3 --method lstar
    $ expressivity counters anbn_lstm.npz --language anbn --n-train 99
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="a TOML run spec (fields below override it)")
    for name, kind in (
        ("cell", str), ("language", str), ("protocol", str), ("precision", str),
        ("hidden-size", int), ("embedding-size", int), ("train-min", int), ("train-max", int),
        ("per-value", int), ("eval-max", int), ("eval-far", int), ("optimizer", str),
        ("lr", float), ("batch-size", int), ("epochs", int), ("clip", float),
        ("patience", int), ("target-accuracy", float), ("eval-every", int), ("seed", int),
    ):  # fmt: skip
        p.add_argument(f"--{name}", type=kind, default=None)


def _spec_from_args(args):
    from expressivity.experiments.spec import SpecError, load_specs, spec_from_dict

    d: dict = {}
    if args.spec:
        _, specs = load_specs(args.spec)
        if len(specs) != 1:
            raise SpecError(f"{args.spec}: holds {len(specs)} runs; use `expressivity sweep`")
        d = specs[0].to_dict()
    for k, v in vars(args).items():
        field = k.replace("-", "_")
        if v is not None and field not in (
            "spec",
            "out",
            "store",
            "command",
            "func",
            "checkpoint",
            "backend",
        ):
            d[field] = v
    return spec_from_dict(d)


def _cmd_train(args) -> int:
    from expressivity.experiments.sweep import run_sweep

    spec = _spec_from_args(args)
    out = Path(args.out)
    store = Path(args.store) if args.store else out / "results.sqlite"
    run_sweep([spec], store, out, sweep="train", executor="serial", backend=args.backend,
              progress=lambda line: print(line, file=sys.stderr))  # fmt: skip
    from expressivity.experiments.store import ResultsStore

    with ResultsStore(store) as st:
        row = st.get(spec.spec_hash)
    print(
        json.dumps({k: row[k] for k in ("spec_hash", "status", "model_path", "metrics")}, indent=1)
    )
    return 0 if row["status"] == "done" else 1


def _cmd_evaluate(args) -> int:
    import numpy as np

    import expressivity as ex
    from expressivity.languages import get_language
    from expressivity.protocols import get_protocol

    net = ex.load_weiss2018(args.model) if args.weiss2018 else ex.Network.load(args.model)
    lang = get_language(args.language)
    proto = get_protocol(args.protocol or {"next-symbol": "weiss2018", "next-set": "suzgun2019"}.get(
        net.head, "recognition"))  # fmt: skip
    ev = proto.evaluate(net, lang, np.random.default_rng(args.seed), args.train_max, args.n_max,
                        far=args.far or None)  # fmt: skip
    print(json.dumps(ev.metrics, indent=1))
    if args.curves:
        Path(args.curves).write_text(json.dumps(ev.to_json()))
    return 0


def _cmd_sweep(args) -> int:
    from expressivity.experiments.spec import load_specs
    from expressivity.experiments.sweep import run_sweep

    name, specs = load_specs(args.spec)
    out = Path(args.out)
    store = Path(args.store) if args.store else out / "results.sqlite"
    executor = "serial" if args.local else "dask"
    s = run_sweep(specs, store, out, name, executor, args.scheduler, args.workers,
                  backend=args.backend)  # fmt: skip
    print(f"sweep {name}: {s['ran']} ran, {s['skipped']} already finished, {s['errors']} errors, "
          f"{s['seconds']:.1f} s")  # fmt: skip
    return 1 if s["errors"] else 0


def _cmd_report(args) -> int:
    from expressivity.experiments.report import markdown_report, write_report

    if args.out:
        print(write_report(args.store, args.out, sweep=args.sweep))
    else:
        print(markdown_report(args.store, sweep=args.sweep))
    return 0


def _cmd_reproduce(args) -> int:
    from expressivity.experiments.reproduce import reproduce_weiss2018

    if args.paper not in ("weiss2018", "variants"):
        raise ValueError(f"paper: 'weiss2018' or 'variants' can be reproduced, got {args.paper!r}")
    if args.paper == "variants":
        from expressivity.experiments.variants import reproduce_variants

        report = reproduce_variants(
            args.out or ("results/variants-quick" if args.quick else "results/variants"),
            quick=args.quick, executor="serial" if args.local else "dask",
            scheduler=args.scheduler, n_workers=args.workers, seeds=args.seeds, docs_dir=args.docs,
            backend=args.backend,
        )  # fmt: skip
        print(Path(report).read_text())
        return 0
    out = args.out or ("results/weiss2018-quick" if args.quick else "results/weiss2018")
    report = reproduce_weiss2018(
        out, quick=args.quick, executor="serial" if args.local else "dask",
        scheduler=args.scheduler, n_workers=args.workers, seeds=args.seeds, paper_lr=args.paper_lr,
        backend=args.backend,
    )  # fmt: skip
    print(Path(report).read_text())
    return 0


def _load_model(path: str):
    """A network from a ``Network.save`` .npz or a released Weiss et al. (2018) .npz."""
    import numpy as np

    import expressivity as ex

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        with np.load(p, allow_pickle=False) as z:
            files = set(z.files)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable .npz network file ({err})") from err
    if "__meta__" in files:
        return ex.Network.load(p)
    if {"alphabet", "cell", "threshold", "embedding"} <= files:
        return ex.load_weiss2018(p)
    raise ValueError(
        f"{path}: neither an expressivity network (Network.save) nor a released Weiss et al. "
        "(2018) network"
    )


def _dfa_json(dfa) -> dict:
    """A DFA as plain JSON (reload with ``DFA.from_table(alphabet, table, accepting, start)``)."""
    import numpy as np

    d = dfa.complete()
    return {
        "alphabet": d.alphabet,
        "n_states": d.n_states,
        "start": int(d.start_index),
        "accepting": [bool(x) for x in np.asarray(d.accepting_mask)],
        "table": np.asarray(d.transition_table, dtype=int).tolist(),
    }


def _cmd_extract(args) -> int:
    import numpy as np

    from expressivity.analysis import extract_dfa
    from expressivity.languages import get_language

    net = _load_model(args.model)
    lang = get_language(args.language)
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
    out = Path(args.out or f"extract-{Path(args.model).stem}-{lang.name}-{args.method}")
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{lang.name}-{args.method}"
    stem.with_suffix(".dot").write_text(ext.dfa.to_dot(name=f"{lang.name}_{args.method}"))
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
    from expressivity.languages import get_language

    net = _load_model(args.model)
    lang = get_language(args.language)
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


def _analysis_parsers(sub) -> None:
    """The ``extract`` and ``counters`` subcommands."""
    model_help = "a network .npz (Network.save) or a released Weiss et al. (2018) .npz"
    x = sub.add_parser("extract", help="extract a DFA from a network (k-means, grid, L*)")
    x.add_argument("model", help=model_help)
    x.add_argument("--language", required=True, help="language to score the DFA against")
    x.add_argument("--method", choices=("kmeans", "quantize", "lstar"), default="kmeans")
    x.add_argument("--out", help="folder for the DOT/JSON/SVG/PNG (default extract-MODEL-...)")
    x.add_argument("--max-len", type=int, help="sample every word up to this length")
    x.add_argument("--k", type=int, help="k-means clusters (default: smallest k that fits)")
    x.add_argument("--time-limit", type=float, default=60.0, help="L* time limit (s)")
    x.add_argument("--seed", type=int, default=0)
    gpu_help = "cuda: collect the prefix-tree states in one GPU launch"
    x.add_argument("--backend", choices=("cpu", "cuda", "auto"), default="cpu", help=gpu_help)
    x.set_defaults(func=_cmd_extract)
    c = sub.add_parser("counters", help="which state units count, and where they stop")
    c.add_argument("model", help=model_help)
    c.add_argument("--language", required=True, help="a language with ground-truth counters")
    c.add_argument("--n-train", type=int, default=100, help="fit on n <= this")
    c.add_argument("--n-max", type=int, help="follow a^n... to this n (default 10 x n-train)")
    c.add_argument("--backend", choices=("cpu", "cuda", "auto"), default="cpu", help=gpu_help)
    c.set_defaults(func=_cmd_counters)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="expressivity", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train and evaluate one run (spec file and/or flags)")
    _spec_args(t)
    t.add_argument("--out", default="results", help="models and checkpoints (default results/)")
    t.add_argument("--store", help="results store (default OUT/results.sqlite)")
    t.add_argument("--backend", choices=("cpu", "cuda", "auto"), default="cpu",
                   help="cuda: train on the GPU (the population kernel)")  # fmt: skip
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a saved network far beyond training")
    e.add_argument(
        "model", help="a network .npz (Network.save) or, with --weiss2018, a released one"
    )
    e.add_argument("--language", required=True)
    e.add_argument("--protocol", help="default: from the network's head")
    e.add_argument(
        "--weiss2018", action="store_true", help="the file is a released Weiss et al. network"
    )
    e.add_argument("--train-max", type=int, default=99)
    e.add_argument("--n-max", type=int, default=300, help="last n (or length) evaluated densely")
    e.add_argument("--far", type=int, default=0, help="also a few points up to this n")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--curves", help="write the curves (JSON) here")
    e.set_defaults(func=_cmd_evaluate)

    for name, helptext in (("sweep", "run every spec of a sweep TOML (resumes)"),
                           ("reproduce", "reproduce a paper's experiment")):  # fmt: skip
        s = sub.add_parser(name, help=helptext)
        if name == "sweep":
            s.add_argument("spec", help="sweep TOML ([sweep], [base], [grid])")
            s.add_argument("--out", default="results")
            s.add_argument("--store", help="results store (default OUT/results.sqlite)")
            s.set_defaults(func=_cmd_sweep)
        else:
            s.add_argument("paper", choices=("weiss2018", "variants"),
                           help="weiss2018, or variants (every cell counting or not)")  # fmt: skip
            s.add_argument("--quick", action="store_true", help="about two minutes on 2 cores")
            s.add_argument("--out", help="default results/<paper>[-quick]")
            s.add_argument("--seeds", type=int, help="seeds per cell (default 5, quick 2 / 1)")
            s.add_argument("--paper-lr", action="store_true", help="Adam lr 0.001 as in the paper")
            s.add_argument("--docs", help="variants: also write variants.md and plots here")
            s.set_defaults(func=_cmd_reproduce)
        s.add_argument("--scheduler", help="address of a running dask scheduler")
        s.add_argument("--workers", type=int, help="LocalCluster workers (default: all cores)")
        s.add_argument("--local", action="store_true", help="run serially in this process")
        s.add_argument("--backend", choices=("cpu", "cuda", "auto"), default="cpu",
                       help="cuda: train compatible runs together as populations on the GPU")  # fmt: skip

    r = sub.add_parser("report", help="Markdown report of a results store")
    r.add_argument("--store", default="results/results.sqlite")
    r.add_argument("--sweep", help="only this sweep's rows")
    r.add_argument("--out", help="write report.md and plots (PNG) into this folder")
    r.set_defaults(func=_cmd_report)
    _analysis_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``expressivity`` command; returns the exit status."""
    from expressivity.experiments.spec import SpecError
    from expressivity.experiments.store import StoreError
    from expressivity.training import CheckpointError

    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (SpecError, StoreError, CheckpointError, ValueError, KeyError, FileNotFoundError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"expressivity {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are in the store, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
