"""Reports from the results store: Markdown tables (per seed and summary) and PNG plots.

Examples
--------
>>> import tempfile, pathlib
>>> from expressivity.experiments.store import ResultsStore
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> ResultsStore(d / "r.sqlite").close()
>>> print(markdown_report(d / "r.sqlite").splitlines()[0])
# Results
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from expressivity.experiments.store import ResultsStore

__all__ = [
    "markdown_report",
    "network_analysis",
    "safe_filename",
    "setting_label",
    "summarize",
    "write_report",
]

#: spec fields with a column of their own (the others vary in the "settings" column)
COLUMNS = ("language", "cell", "precision", "protocol")


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def safe_filename(name: str) -> str:
    """A file name made from stored or user text: letters, digits, ``.``, ``_``, ``-`` only.

    Anything else (``/``, ``..``, spaces, ``*``...) becomes ``_``; a name that had
    to change gets 8 hex digits of its hash, so two names never share a file.

    Examples
    --------
    >>> safe_filename("anbn"), safe_filename("../../etc/x")
    ('anbn', 'etc_x-56da1a2e')
    """
    text = str(name)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:80] or "unnamed"
    if safe != text:
        safe += "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return safe


def _inside(folder: Path, name: str) -> Path:
    """``folder / name`` after checking that it stays inside ``folder``."""
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise ValueError(f"file name {name!r} would leave the folder {folder}")
    return path


def _setting(spec: dict) -> tuple:
    """A run's setting: its whole spec but the seed (runs of one setting are pooled)."""
    return tuple(sorted((k, v) for k, v in spec.items() if k != "seed"))


def _varying(rows: list[dict]) -> list[str]:
    """Spec fields, other than the table's columns and the seed, that differ between rows."""
    keys = sorted({k for r in rows for k in r["spec"]} - set(COLUMNS) - {"seed"})
    return [k for k in keys if len({repr(r["spec"].get(k)) for r in rows}) > 1]


def setting_label(spec: dict, varying: list[str]) -> str:
    """The fields in ``varying`` as ``k=v, ...`` ("–" when none).

    Examples
    --------
    >>> setting_label({"lr": 0.01, "clip": 5.0, "seed": 1}, ["lr"])
    'lr=0.01'
    """
    return ", ".join(f"{k}={_fmt(spec.get(k))}" for k in varying) or "–"


def summarize(rows: list[dict]) -> list[dict]:
    """One summary dict per setting (the whole run spec but the seed) over its seeds.

    Runs that differ in anything but the seed (the learning rate, the training
    range...) are never pooled. ``settings`` names the fields that differ between
    the store's settings besides language, cell, precision and protocol.
    ``learned``: fraction of seeds right on the whole training range
    (frontier >= train_max); ``generalized``: fraction right beyond it
    (frontier > train_max); frontier and largest accepted n: median and max.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[_setting(r["spec"])].append(r)
    varying = _varying(rows)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        spec = dict(key)
        tmax = spec["train_max"]
        done = [r for r in rs if r["status"] == "done"]
        fr = np.array([r["metrics"].get("frontier", -1) for r in done], dtype=float)
        mx = np.array([r["metrics"].get("max_accepted_n") or -1 for r in done], dtype=float)
        out.append(
            {
                "language": spec["language"],
                "protocol": spec["protocol"],
                "cell": spec["cell"],
                "precision": spec["precision"],
                "settings": setting_label(spec, varying),
                "spec": spec,
                "seeds": len(rs),
                "failed": len(rs) - len(done),
                "train_max": tmax,
                "learned": float(np.mean(fr >= tmax)) if len(fr) else 0.0,
                "generalized": float(np.mean(fr > tmax)) if len(fr) else 0.0,
                "frontier_median": float(np.median(fr)) if len(fr) else None,
                "frontier_max": int(fr.max()) if len(fr) else None,
                "max_accepted_median": float(np.median(mx)) if len(mx) else None,
                "train_seconds_mean": float(np.mean([r["train_seconds"] or 0 for r in done]))
                if done
                else None,
            }
        )
    out.sort(key=lambda g: (g["language"], g["cell"], g["precision"], g["protocol"],
                            g["settings"]))  # fmt: skip
    return out


def _per_seed_table(rows: list[dict], analysis: dict[str, dict] | None = None) -> list[str]:
    varying = _varying(rows)
    head = (
        "| language | cell | precision | protocol | settings | seed | status | epochs | val acc "
        "| frontier | max accepted n | first near miss accepted | train s |"
    )
    lines = [head + (" counting units: best unit |" if analysis is not None else "")]
    lines.append("|" + "---|" * (13 + (analysis is not None)))
    for r in sorted(rows, key=lambda r: (r["spec"]["language"], r["spec"]["cell"],
                                         r["spec"]["precision"], r["spec"]["protocol"],
                                         setting_label(r["spec"], varying), r["spec"]["seed"])):  # fmt: skip
        s, m = r["spec"], r["metrics"]
        lines.append(
            f"| {s['language']} | {s['cell']} | {s['precision']} | {s['protocol']} | "
            f"{setting_label(s, varying)} | {s['seed']} | {r['status']} | "
            f"{_fmt(m.get('epochs_run'))} | {_fmt(m.get('val_accuracy'))} | {_fmt(m.get('frontier'))} | "
            f"{_fmt(m.get('max_accepted_n'))} | {_fmt(m.get('first_near_miss_accepted_n'))} | "
            f"{_fmt(r.get('train_seconds'))} |"
            + (f" {_counter_cell(analysis.get(r['spec_hash']))} |" if analysis is not None else "")
        )
    return lines


def _summary_table(summary: list[dict]) -> list[str]:
    lines = [
        "| language | cell | precision | protocol | settings | seeds | learned (frontier ≥ train "
        "max) | generalized (frontier > train max) | frontier median / max | max accepted n "
        "(median) | train s (mean) |",
        "|" + "---|" * 11,
    ]
    for g in summary:
        lines.append(
            f"| {g['language']} | {g['cell']} | {g['precision']} | {g['protocol']} | "
            f"{g['settings']} | {g['seeds']} | "
            f"{g['learned']:.0%} | {g['generalized']:.0%} | {_fmt(g['frontier_median'])} / "
            f"{_fmt(g['frontier_max'])} | {_fmt(g['max_accepted_median'])} | "
            f"{_fmt(g['train_seconds_mean'])} |"
        )
    return lines


def _common_settings(rows: list[dict]) -> str:
    """The spec fields every run shares (but the table's columns and the seed)."""
    if not rows:
        return ""
    varying = set(_varying(rows)) | set(COLUMNS) | {"seed"}
    spec = rows[0]["spec"]
    return ", ".join(f"{k}={_fmt(spec[k])}" for k in sorted(spec) if k not in varying)


def _reference_table(refs: list[dict], analysis: dict[str, dict] | None = None) -> list[str]:
    extra = analysis is not None
    lines = [
        "| language | network | frontier | max accepted n | first near miss accepted | train max |"
        + (" counting units: best unit |" if extra else ""),
        "|---|---|---|---|---|---|" + ("---|" if extra else ""),
    ]
    for r in refs:
        m = r["metrics"]
        lines.append(
            f"| {r['language']} | {r['label']} | {_fmt(m.get('frontier'))} | "
            f"{_fmt(m.get('max_accepted_n'))} | {_fmt(m.get('first_near_miss_accepted_n'))} | "
            f"{_fmt(m.get('train_max'))} |"
            + (f" {_counter_cell(analysis.get(r['label']))} |" if extra else "")
        )
    return lines


def _comparison(summary: list[dict], refs: list[dict], paper: dict) -> list[str]:
    lines = []
    for lang, claim in paper.items():
        by = {
            g["cell"] + ("" if g["settings"] == "–" else f" ({g['settings']})"): g
            for g in summary
            if g["language"] == lang
        }
        if not by:
            continue
        lines.append(f"- **{lang}** — paper: {claim}.")
        for cell, g in by.items():
            lines.append(
                f"  - ours, {cell}: {g['learned']:.0%} of {g['seeds']} seeds right on the whole "
                f"training range, {g['generalized']:.0%} beyond it; median frontier "
                f"{_fmt(g['frontier_median'])} (max {_fmt(g['frontier_max'])}), "
                f"train max {g['train_max']}."
            )
        for r in refs:
            if r["language"] == lang:
                m = r["metrics"]
                lines.append(
                    f"  - {r['label']}, same evaluation: frontier {_fmt(m.get('frontier'))}, "
                    f"max accepted n {_fmt(m.get('max_accepted_n'))}."
                )
        lstm, grus = by.get("lstm"), [by[c] for c in ("gru", "gru-reset-after") if c in by]
        if lstm and grus:
            best_gru = max(g["generalized"] for g in grus)
            verdict = (
                "agrees with the paper (LSTM generalizes more often than either GRU)"
                if lstm["generalized"] > best_gru
                else "does NOT reproduce the paper's gap: the LSTM generalized no more often "
                f"than the best GRU ({lstm['generalized']:.0%} vs {best_gru:.0%})"
            )
            lines.append(f"  - verdict: {verdict}.")
    return lines


def _plots(rows: list[dict], refs: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    langs = sorted({r["spec"]["language"] for r in rows if r["status"] == "done"})
    for lang in langs:
        rs = [
            r
            for r in rows
            if r["spec"]["language"] == lang and r["status"] == "done" and r["curves"]
        ]
        keys = [k for k in ("protocol", "precision", *_varying(rs))
                if len({repr(x["spec"].get(k)) for x in rs}) > 1]  # fmt: skip

        def series(r, keys=keys):
            return " ".join([r["spec"]["cell"]] + [f"{k}={_fmt(r['spec'].get(k))}" for k in keys])

        cells = sorted({series(r) for r in rs})
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
        for k, cell in enumerate(cells):
            cr = [r for r in rs if series(r) == cell]
            xk, yk = ("n", "correct") if "n" in cr[0]["curves"] else ("length", "accuracy")
            ns = np.asarray(cr[0]["curves"][xk])
            ok = np.array([np.asarray(r["curves"][yk], dtype=float)[: len(ns)] for r in cr])
            ax1.plot(ns, ok.mean(axis=0), label=f"{cell} ({len(cr)} seeds)", color=f"C{k}")
            fr = [r["metrics"].get("frontier", -1) for r in cr]
            ax2.scatter(np.full(len(fr), k) + np.linspace(-0.15, 0.15, len(fr)), fr, color=f"C{k}")
        for j, r in enumerate(x for x in refs if x["language"] == lang):
            ns = np.asarray(r["curves"]["n"])
            ax1.plot(ns, np.asarray(r["curves"]["correct"], dtype=float), "--", color=f"C{len(cells) + j}",
                     label=r["label"])  # fmt: skip
        tmax = rs[0]["spec"]["train_max"] if rs else 0
        ax1.axvline(tmax, color="grey", lw=0.8, ls=":")
        ax1.set(xlabel="n", ylabel="fraction of seeds right at n", title=f"{lang}: correct by n")
        ax1.legend(fontsize=7)
        ax2.axhline(tmax, color="grey", lw=0.8, ls=":")
        ax2.set_xticks(range(len(cells)), cells, rotation=20)
        ax2.set(
            ylabel="frontier (largest n with all n' <= n right)", title=f"{lang}: frontier per seed"
        )
        fig.tight_layout()
        p = _inside(out_dir, f"{safe_filename(lang)}.png")
        fig.savefig(p, dpi=100)
        plt.close(fig)
        paths.append(p)
    return paths


def _open_existing(store_path: str | Path) -> ResultsStore:
    """Open a store that exists (a report never creates one)."""
    path = Path(store_path)
    if path.is_dir():
        raise IsADirectoryError(f"results store {path} is a folder, not a store file")
    if not path.is_file():
        raise FileNotFoundError(f"results store {path} does not exist (nothing was created)")
    return ResultsStore(path)


def markdown_report(
    store_path: str | Path,
    sweep: str | None = None,
    references: list[dict] | None = None,
    title: str = "Results",
    paper: dict | None = None,
    notes: list[str] | None = None,
    plots: list[Path] | None = None,
    analysis: dict[str, dict] | None = None,
) -> str:
    """The report as Markdown (per-seed table, summary, references, comparison).

    ``analysis`` (from :func:`network_analysis`) adds a counters column and a
    section on counting units and extracted automata.
    """
    with _open_existing(store_path) as st:
        rows = st.rows(sweep=sweep)
    summary = summarize(rows)
    lines = [f"# {title}", ""]
    common = _common_settings(rows)
    if common:
        notes = [*(notes or []), f"Settings shared by every run: {common}."]
    for n in notes or []:
        lines.append(f"- {n}")
    if notes:
        lines.append("")
    if paper:
        lines += (
            ["## Comparison with the paper", ""]
            + _comparison(summary, references or [], paper)
            + [""]
        )
    lines += ["## Summary over seeds", ""] + _summary_table(summary) + [""]
    if references:
        lines += (
            ["## Released networks (same evaluation code)", ""]
            + _reference_table(references, analysis)
            + [""]
        )
    if analysis is not None:
        lines += (
            [
                "## Counters and extracted automata",
                "",
                "Counting units: state units fitted linearly (R² ≥ 0.98, |slope| ≥ 0.001) to the "
                "language's ground-truth counters on the positives up to the training range "
                "(`find_counters`); the best unit is then followed along one positive to 10x the "
                "training range. The GRUs' automata: k-means clustering of the states of every word "
                "up to length 8 (`extract_dfa`), minimised; fidelity is agreement with the network "
                "on words up to length 16. The LSTM's counters are the point: a counting network "
                "has no finite automaton, a GRU that does not count is one.",
                "",
            ]
            + _analysis_table(rows, references or [], analysis)
            + [""]
        )
    for p in plots or []:
        lines += [f"![{p.stem}]({p.name})", ""]
    lines += ["## Per seed", ""] + _per_seed_table(rows, analysis) + [""]
    return "\n".join(lines)


def write_report(
    store_path: str | Path,
    out_dir: str | Path,
    sweep: str | None = None,
    references: list[dict] | None = None,
    title: str = "Results",
    paper: dict | None = None,
    notes: list[str] | None = None,
    analyse: bool = False,
) -> Path:
    """Write ``report.md`` and one PNG per language into ``out_dir``; returns the report path.

    ``analyse``: also find each network's counting units and extract the GRUs'
    automata (:func:`network_analysis`; DOT files under ``out_dir/automata``).
    """
    out = Path(out_dir)
    with _open_existing(store_path) as st:
        rows = st.rows(sweep=sweep)
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(rows, references or [], out)
    analysis = network_analysis(rows, references, out) if analyse else None
    text = markdown_report(store_path, sweep, references, title, paper, notes, plots, analysis)
    path = out / "report.md"
    path.write_text(text)
    return path


#: cells whose networks are finite-state in practice: their automata are extracted
EXTRACT_CELLS = ("gru", "gru-reset-after", "gru-no-reset", "released-gru")


def _load_net(path: str | Path, out_dir: Path | None):
    import expressivity as ex

    p = Path(path)
    if not p.exists() and out_dir is not None and (out_dir / "models" / p.name).exists():
        p = out_dir / "models" / p.name
    if not p.exists():
        return None
    if p.suffix == ".data":  # a released network, as its authors published it
        from expressivity.interop import WEISS2018_ALPHABETS

        return ex.load_weiss2018(p, alphabet=WEISS2018_ALPHABETS[p.name.split("_")[0]])
    with np.load(p, allow_pickle=False) as z:
        weiss = "__meta__" not in z.files
    return ex.load_weiss2018(p) if weiss else ex.Network.load(p)


def network_analysis(
    rows: list[dict], references: list[dict] | None = None, out_dir: str | Path | None = None
) -> dict[str, dict]:
    """Counting units (``find_counters``) and, for GRUs, a k-means automaton per network.

    Keys are the rows' ``spec_hash`` and the references' ``label``. Each value
    holds ``n_counters``, ``best`` (name, slope, R², R² far and break of the best
    unit: the best counting unit, else the best fit), and for GRU cells
    ``dfa_states``, ``dfa_fidelity`` and ``dot`` (a DOT file under
    ``out_dir/automata`` when ``out_dir`` is given). A few seconds for the quick
    reproduction.

    Examples
    --------
    >>> network_analysis([])
    {}
    """
    from expressivity.analysis import extract_dfa, find_counters
    from expressivity.languages import get_language

    out = Path(out_dir) if out_dir is not None else None
    items = []
    for r in rows:
        if r.get("status") == "done" and r.get("model_path"):
            s = r["spec"]
            items.append((r["spec_hash"], r["model_path"], s["language"], s["cell"],
                          s["train_max"], f"{s['language']}-{s['cell']}-seed{s['seed']}"))  # fmt: skip
    for r in references or []:
        if r.get("model_path"):
            tm = r.get("metrics", {}).get("train_max") or 50
            items.append((r["label"], r["model_path"], r["language"], r["cell"], int(tm),
                          f"{r['language']}-{r['cell']}"))  # fmt: skip
    res: dict[str, dict] = {}
    for key, path, lang_name, cell, train_max, stem in items:
        net = _load_net(path, out)
        if net is None:
            continue
        lang = get_language(lang_name)
        info: dict = {}
        try:
            rep = find_counters(net, lang, n_train=int(train_max), n_max=10 * int(train_max))
        except ValueError as err:
            info["error"] = str(err)
            res[key] = info
            continue
        pool = rep.counters or rep.units
        b = max(pool, key=lambda u: u.r2)
        info["n_counters"] = len(rep.counters)
        info["best"] = {"name": b.name, "slope": b.slope, "r2": b.r2, "r2_far": b.r2_far,
                        "break_at": b.break_at, "linear_beyond": b.linear_beyond,
                        "is_counter": b.is_counter}  # fmt: skip
        if cell in EXTRACT_CELLS:
            ext = extract_dfa(net, lang, "kmeans", max_len=8, k_max=12, n_init=1,
                              eval_lengths=range(0, 17), n_eval=20)  # fmt: skip
            info["dfa_states"] = ext.dfa.n_states
            info["dfa_fidelity"] = ext.fidelity
            if out is not None:
                (out / "automata").mkdir(parents=True, exist_ok=True)
                dot = _inside(out / "automata", f"{safe_filename(stem)}.dot")
                dot.write_text(ext.dfa.to_dot(name=stem.replace("-", "_")))
                info["dot"] = f"automata/{dot.name}"
        res[key] = info
    return res


def _counter_cell(a: dict | None) -> str:
    if not a:
        return "–"
    if "error" in a:
        return "n/a"
    b = a["best"]
    mark = "" if b["is_counter"] else " (no counter; best fit)"
    return f"{a['n_counters']}: {b['name']} slope {b['slope']:.3g}, R² {b['r2']:.4f}{mark}"


def _analysis_table(rows: list[dict], refs: list[dict], analysis: dict[str, dict]) -> list[str]:
    lines = [
        "| language | network | counting units: best unit | R² far (10x train) | best unit breaks "
        "after n | k-means DFA states (words ≤ 8) | DFA fidelity (length ≤ 16) | DOT |",
        "|" + "---|" * 8,
    ]
    entries = [(r["spec"]["language"], f"{r['spec']['cell']} seed {r['spec']['seed']}",
                analysis.get(r["spec_hash"])) for r in sorted(
                    rows, key=lambda r: (r["spec"]["language"], r["spec"]["cell"], r["spec"]["seed"]))]  # fmt: skip
    entries += [(r["language"], r["label"], analysis.get(r["label"])) for r in refs]
    for lang, label, a in entries:
        if not a:
            continue
        b = a.get("best", {})
        brk = "–"
        if b.get("is_counter"):
            brk = "linear to 10x" if b["linear_beyond"] else _fmt(b["break_at"])
        dot = f"[{Path(a['dot']).name}]({a['dot']})" if a.get("dot") else "–"
        lines.append(
            f"| {lang} | {label} | {_counter_cell(a)} | {_fmt(b.get('r2_far'))} | {brk} | "
            f"{_fmt(a.get('dfa_states'))} | {_fmt(a.get('dfa_fidelity'))} | {dot} |"
        )
    return lines
