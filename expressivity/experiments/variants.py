"""``expressivity reproduce variants``: which gated units learn to count, which stay finite-state?

Every cell of ``docs/cells.md`` (:data:`CELLS`) is trained over several
seeds on two counter languages (a^n b^n, a^n b^n c^n; the Weiss et al. 2018
next-symbol protocol), on Dyck-1 (next-set protocol, Suzgun et al. 2019) and on
a regular control, Tomita 5 (recognition protocol), through the sweep runner
(:func:`~expressivity.experiments.sweep.run_sweep`). Every trained network is
then analysed: how far it generalizes, whether a state unit tracks the
language's counter (:func:`expressivity.analysis.find_counters`) and how many
distinct states it reaches along ``a^n`` (:func:`expressivity.analysis.growth_along`).
The report gives, per cell and language, the fraction of seeds with a Wilson 95%
interval.

Examples
--------
>>> specs = variants_specs(quick=True)
>>> len(specs), sorted({s.language for s in specs})
(48, ['anbn', 'anbncn', 'dyck-1', 'tomita-5'])
>>> [round(x, 3) for x in wilson_interval(3, 5)]
[0.231, 0.882]
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from expressivity._progress import log_info
from expressivity.experiments.spec import RunSpec

__all__ = [
    "CELLS",
    "TASKS",
    "analyse_run",
    "reproduce_variants",
    "summarize_variants",
    "variants_specs",
    "wilson_interval",
    "write_variants_report",
]

#: every cell of docs/cells.md, in the order of the report
CELLS = (
    "lstm",
    "gru",
    "gru-reset-after",
    "gru1",
    "gru2",
    "gru3",
    "mgu",
    "mgu1",
    "mgu2",
    "mgu3",
    "elman-tanh",
    "elman-relu",
)

#: language -> settings (full size, quick size); ``train_max`` is n for counter
#: languages and a length otherwise
TASKS: dict[str, dict] = {
    "anbn": dict(
        protocol="weiss2018",
        embedding_size=3,
        batch_size=1,
        per_value=1,
        full=dict(train_max=50, epochs=150),
        quick=dict(train_max=12, epochs=40),
    ),
    "anbncn": dict(
        protocol="weiss2018",
        embedding_size=3,
        batch_size=1,
        per_value=1,
        full=dict(train_max=30, epochs=150),
        quick=dict(train_max=8, epochs=40),
    ),
    "dyck-1": dict(
        protocol="suzgun2019",
        embedding_size=0,
        batch_size=1,
        per_value=4,
        full=dict(train_max=30, epochs=40),
        quick=dict(train_max=12, epochs=10),
    ),
    "tomita-5": dict(
        protocol="recognition",
        embedding_size=0,
        batch_size=4,
        per_value=8,
        full=dict(train_max=12, epochs=150),
        quick=dict(train_max=8, epochs=30),
    ),
}

#: length of a^n along which distinct states are counted
GROWTH_N = {"full": 2000, "quick": 300}


def variants_specs(quick: bool = False, seeds: int | None = None) -> list[RunSpec]:
    """The run specs of the variant study: every cell, language and seed.

    Parameters
    ----------
    quick : bool
        Small training ranges and epoch budgets, one seed (about two minutes on 2 cores).
    seeds : int, optional
        Seeds per (cell, language); default 5 (quick: 1).

    Returns
    -------
    list of RunSpec
        10 hidden units, float32, Adam with learning rate 0.01, gradients clipped
        to norm 5, training from n (or length) 1, evaluation densely to four times
        the training range and at a few points up to 30 times it.

    Examples
    --------
    >>> {s.protocol for s in variants_specs(quick=True) if s.language == "dyck-1"}
    {'suzgun2019'}
    """
    n_seeds = seeds if seeds is not None else (1 if quick else 5)
    if n_seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {n_seeds}")
    size = "quick" if quick else "full"
    specs = []
    for lang, task in TASKS.items():
        tmax = task[size]["train_max"]
        for cell in CELLS:
            for seed in range(n_seeds):
                specs.append(
                    RunSpec(
                        cell=cell,
                        language=lang,
                        protocol=task["protocol"],
                        hidden_size=10,
                        embedding_size=task["embedding_size"],
                        precision="float32",
                        train_min=1,
                        train_max=tmax,
                        per_value=task["per_value"],
                        eval_max=4 * tmax,
                        eval_far=30 * tmax,
                        optimizer="adam",
                        lr=0.01,
                        batch_size=task["batch_size"],
                        clip=5.0,
                        epochs=task[size]["epochs"],
                        target_accuracy=1.0,
                        eval_every=5,
                        seed=seed,
                    )
                )
    return specs


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n`` (95% for ``z = 1.96``).

    Examples
    --------
    >>> [round(x, 3) for x in wilson_interval(0, 5)]
    [0.0, 0.434]
    """
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def analyse_run(row: dict, growth_n: int = 2000) -> dict:
    """Counters and state growth of one finished run of the store.

    Parameters
    ----------
    row : dict
        A row of :meth:`ResultsStore.rows` (``spec``, ``status``, ``metrics``, ``model_path``).
    growth_n : int
        Distinct states are counted along the first symbol repeated ``growth_n`` times.

    Returns
    -------
    dict
        ``generalized`` (frontier >= 2 x train_max), ``frontier_ratio``,
        ``counter`` (some unit fits a ground-truth counter with R^2 >= 0.98 on
        the training range), ``counter_far`` (and its line still holds with R^2
        >= 0.9 along a positive 10 x beyond), ``counter_units``, ``states``
        (distinct states along a^growth_n), ``growth`` (the curve, every 10th point).

    Examples
    --------
    >>> analyse_run({"spec": {}, "status": "diverged", "metrics": {}})["generalized"]
    False
    """
    out = {
        "status": row.get("status"),
        "generalized": False,
        "frontier_ratio": None,
        "counter": False,
        "counter_far": False,
        "counter_units": [],
        "states": None,
        "growth": [],
    }
    if row.get("status") != "done":
        return out
    import expressivity as ex
    from expressivity.analysis import find_counters, growth_along
    from expressivity.languages import get_language

    spec, m = row["spec"], row["metrics"]
    tmax = int(spec["train_max"])
    fr = m.get("frontier")
    out["frontier_ratio"] = None if fr is None else float(fr) / tmax
    out["generalized"] = bool(fr is not None and fr >= 2 * tmax)
    net = ex.Network.load(row["model_path"])
    lang = get_language(spec["language"])
    if lang.n_counters:
        rep = find_counters(net, lang, n_train=tmax, n_max=10 * tmax)
        cs = rep.counters
        out["counter"] = bool(cs)
        out["counter_far"] = any(u.r2_far >= 0.9 for u in cs)
        out["counter_units"] = [
            {"name": u.name, "slope": u.slope, "r2": u.r2, "r2_far": u.r2_far} for u in cs
        ]
    g = growth_along(net, lang.alphabet[0], growth_n)
    out["states"] = int(g.n_states[-1])
    out["growth"] = [int(v) for v in g.n_states[::10]]
    return out


def _analyses(rows: list[dict], path: Path, growth_n: int, progress) -> dict[str, dict]:
    """Analyse every row not yet in the cache file ``path`` (JSON keyed by spec hash)."""
    cache = json.loads(path.read_text()) if path.exists() else {}
    for i, row in enumerate(rows, 1):
        h = row["spec_hash"]
        key = f"{h}:{row['status']}:{growth_n}"
        if key in cache:
            continue
        cache[key] = analyse_run(row, growth_n)
        if progress and i % 24 == 0:
            progress(f"analysed {i}/{len(rows)}")
    path.write_text(json.dumps(cache))
    return {k.split(":")[0]: v for k, v in cache.items()}


def summarize_variants(rows: list[dict], analyses: dict[str, dict]) -> list[dict]:
    """One dict per (cell, language): seeds, fractions with Wilson intervals, medians.

    Examples
    --------
    >>> summarize_variants([], {})
    []
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        a = analyses.get(r["spec_hash"])
        if a is not None:
            groups[(r["spec"]["cell"], r["spec"]["language"])].append(
                dict(a, seed=r["spec"]["seed"])
            )
    order = {c: i for i, c in enumerate(CELLS)}
    lorder = {lang: i for i, lang in enumerate(TASKS)}
    out = []
    for (cell, lang), items in sorted(
        groups.items(), key=lambda kv: (lorder.get(kv[0][1], 99), order.get(kv[0][0], 99))
    ):
        n = len(items)
        rec = {"cell": cell, "language": lang, "seeds": n}
        rec["diverged"] = sum(a["status"] != "done" for a in items)
        for key in ("generalized", "counter", "counter_far"):
            k = sum(bool(a[key]) for a in items)
            rec[key] = k
            rec[key + "_ci"] = wilson_interval(k, n)
        ratios = [a["frontier_ratio"] for a in items if a["frontier_ratio"] is not None]
        rec["frontier_ratio"] = float(np.median(ratios)) if ratios else None
        states = [a["states"] for a in items if a["states"] is not None]
        rec["states"] = float(np.median(states)) if states else None
        rec["growth"] = [a["growth"] for a in items if a["growth"]]
        out.append(rec)
    return out


def _frac(k: int, n: int, ci: tuple[float, float]) -> str:
    return f"{k}/{n} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _heatmap(summary: list[dict], key: str, title: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    langs = [lang for lang in TASKS if any(s["language"] == lang for s in summary)]
    cells = [c for c in CELLS if any(s["cell"] == c for s in summary)]
    mat = np.full((len(cells), len(langs)), np.nan)
    text = {}
    for s in summary:
        if s["cell"] in cells and s["language"] in langs:
            i, j = cells.index(s["cell"]), langs.index(s["language"])
            mat[i, j] = s[key] / s["seeds"]
            text[i, j] = f"{s[key]}/{s['seeds']}"
    fig = Figure(figsize=(1.3 * len(langs) + 2.2, 0.35 * len(cells) + 1.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), t in text.items():
        ax.text(
            j, i, t, ha="center", va="center", fontsize=8, color="w" if mat[i, j] < 0.6 else "k"
        )
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(langs)
    ax.set_yticks(range(len(cells)))
    ax.set_yticklabels(cells)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="fraction of seeds")
    fig.savefig(str(path), bbox_inches="tight", dpi=90)


def _growth_plot(summary: list[dict], growth_n: int, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    langs = [lang for lang in TASKS if any(s["language"] == lang for s in summary)]
    fig = Figure(figsize=(4.0 * len(langs), 3.4))
    FigureCanvasAgg(fig)
    cmap = __import__("matplotlib").colormaps["tab20"]
    for j, lang in enumerate(langs):
        ax = fig.add_subplot(1, len(langs), j + 1)
        for s in summary:
            if s["language"] != lang or not s["growth"]:
                continue
            k = min(len(g) for g in s["growth"])
            med = np.median(np.array([g[:k] for g in s["growth"]]), axis=0)
            xs = np.arange(k) * 10
            ls = "-" if s["cell"].startswith(("lstm", "elman")) else "--"
            c = cmap(CELLS.index(s["cell"]) if s["cell"] in CELLS else 0)
            ax.plot(xs, med, ls, color=c, label=s["cell"], lw=1.2)
        ax.set_title(f"{lang}: distinct states along {_first_symbol(lang)}^n", fontsize=9)
        ax.set_xlabel("n")
        ax.set_xlim(0, growth_n)
        if j == 0:
            ax.set_ylabel("distinct states (median over seeds)")
    fig.axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.savefig(str(path), bbox_inches="tight", dpi=90)


def _first_symbol(lang: str) -> str:
    from expressivity.languages import get_language

    return get_language(lang).alphabet[0]


def write_variants_report(
    summary: list[dict], directory: str | Path, notes: list[str] | None = None, growth_n: int = 2000
) -> Path:
    """Write ``variants.md`` and three PNG plots (``variants-*.png``) into ``directory``.

    Parameters
    ----------
    summary : list of dict
        From :func:`summarize_variants`.
    directory : path
        Created if missing.
    notes : list of str, optional
        Bullet points placed under the table (settings, command, run time).
    growth_n : int
        Length of the growth curves (x axis of the growth plot).

    Returns
    -------
    Path
        The Markdown file.

    Examples
    --------
    >>> import tempfile
    >>> write_variants_report([], tempfile.mkdtemp()).name
    'variants.md'
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Which gated units learn to count?",
        "",
        "Per cell and language: seeds that generalized (right on every n, or every sampled",
        "word of every length, up to twice the training range), seeds with a counting unit",
        "(`find_counters`: a state unit whose phase-aware fit to a ground-truth counter",
        "reaches R² ≥ 0.98 on the training range and that passes the unboundedness test, so",
        "that a slow drift to a fixed point is not called a counter; docs/frontier.md)",
        "and seeds whose counting unit still follows its line 10× beyond training (R² ≥ 0.9),",
        "each as k/n [Wilson 95% interval]; the median generalization frontier over the",
        "training range; the median number of distinct states, at the tolerance of",
        "`growth_along` (cells of side 1e-3), reached along the first symbol repeated",
        f"{growth_n} times (a^n, (^n, 0^n): a counter keeps adding states, a finite-state",
        "network plateaus).",
        "",
        "| language | cell | generalized | counter unit | counter holds 10× | frontier / train"
        f" | states along a^{growth_n} | diverged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        n = s["seeds"]
        fr = "–" if s["frontier_ratio"] is None else f"{s['frontier_ratio']:.2f}"
        st = "–" if s["states"] is None else f"{s['states']:.0f}"
        counter = s["language"] != "tomita-5"
        lines.append(
            f"| {s['language']} | {s['cell']} | {_frac(s['generalized'], n, s['generalized_ci'])}"
            f" | {_frac(s['counter'], n, s['counter_ci']) if counter else 'n/a'}"
            f" | {_frac(s['counter_far'], n, s['counter_far_ci']) if counter else 'n/a'}"
            f" | {fr} | {st} | {s['diverged']} |"
        )
    if summary:
        _heatmap(
            summary, "generalized", "generalized to 2x training", d / "variants-generalization.png"
        )
        _heatmap(summary, "counter", "counting unit found", d / "variants-counters.png")
        _growth_plot(summary, growth_n, d / "variants-growth.png")
        lines += [
            "",
            "![generalization](variants-generalization.png)",
            "![counters](variants-counters.png)",
            "![state growth](variants-growth.png)",
        ]
    if notes:
        lines += ["", "## Settings", ""] + [f"- {n}" for n in notes]
    path = d / "variants.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def reproduce_variants(
    out_dir: str | Path = "results/variants",
    quick: bool = False,
    executor: str = "dask",
    scheduler: str | None = None,
    n_workers: int | None = None,
    seeds: int | None = None,
    docs_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = log_info,
    backend: str = "cpu",
) -> Path:
    """Run (or resume) the variant study, analyse every network and write the report.

    Parameters
    ----------
    out_dir : path
        Results store, models, the analysis cache and ``variants.md`` with its plots.
    quick : bool
        One seed, small ranges (about two minutes on 2 cores).
    executor, scheduler, n_workers, backend
        Passed to :func:`~expressivity.experiments.sweep.run_sweep` (``backend="cuda"``
        trains each group of compatible runs as one population on the GPU).
    seeds : int, optional
        Seeds per (cell, language) (default 5, quick 1).
    docs_dir : path, optional
        Also write ``variants.md`` and its PNGs here (e.g. ``docs``).
    progress : callable or None
        Called with progress lines (default: logged at INFO on ``expressivity.experiments``;
        None: silent).

    Returns
    -------
    Path
        ``out_dir/variants.md``.

    Examples
    --------
    >>> reproduce_variants("results/variants-quick", quick=True)   # doctest: +SKIP
    """
    from expressivity.experiments.store import ResultsStore
    from expressivity.experiments.sweep import run_sweep

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "variants-quick" if quick else "variants"
    specs = variants_specs(quick, seeds)
    t0 = time.perf_counter()
    where = (out / "results.sqlite", out, name)
    summary = run_sweep(specs, *where, executor, scheduler, n_workers, progress, backend=backend)
    hashes = {s.spec_hash for s in specs}
    with ResultsStore(out / "results.sqlite") as store:
        rows = [r for r in store.rows() if r["spec_hash"] in hashes]
    growth_n = GROWTH_N["quick" if quick else "full"]
    analyses = _analyses(rows, out / "analysis.json", growth_n, progress)
    table = summarize_variants(rows, analyses)
    wall = time.perf_counter() - t0
    n_seeds = seeds if seeds is not None else (1 if quick else 5)
    size = "quick" if quick else "full"
    notes = [
        f"Reproduce: `expressivity reproduce variants{' --quick' if quick else ''}"
        f"{'' if seeds is None else f' --seeds {seeds}'}` ({len(specs)} runs: "
        f"{len(CELLS)} cells × {len(TASKS)} languages × {n_seeds} seeds).",
        "All networks: 10 hidden units, float32, Adam (learning rate 0.01), gradients "
        "clipped to norm 5, early stop at 100% validation accuracy, best validation weights.",
        "Not a fair comparison of cells: these settings are the same for every cell, not "
        "tuned per cell, so a cell that needs another learning rate or a longer budget looks "
        "worse here than it is (at learning rate 0.01 most GRUs and MGUs do not even learn "
        "the training range). The study (`expressivity reproduce study`, docs/study.md) "
        "tunes each cell's learning rate and hidden size on validation data, checks that "
        "every cell learns regular controls first, and trains 20 seeds per cell: read it for "
        "which cells count.",
    ]
    for lang, t in TASKS.items():
        s = t[size]
        unit = "n" if lang in ("anbn", "anbncn") else "length"
        notes.append(
            f"{lang}: protocol {t['protocol']}, training {unit} 1..{s['train_max']}, "
            f"{s['epochs']} epochs max, batch {t['batch_size']}, embedding "
            f"{t['embedding_size'] or 'one-hot'}; evaluated densely to {4 * s['train_max']}."
        )
    lo, hi = wilson_interval(n_seeds // 2, n_seeds)  # the widest interval
    notes.append(
        f"Uncertainty: k/n seeds with the Wilson score 95% interval; with {n_seeds} seeds "
        f"an interval spans about ±{(hi - lo) / 2:.1f}, so only differences like "
        f"{n_seeds}/{n_seeds} vs 0/{n_seeds} are firm."
    )
    notes.append(
        "Caveat: states are counted at a tolerance, so a unit that drifts slowly to a "
        "fixed point stops adding states once its steps fall below the tolerance; the "
        "counter test (increments that stay constant, not decaying geometrically) is the "
        "sharper one (see notebooks/04-precision.ipynb for growth under low precision)."
    )
    notes.append(
        f"Sweep: {summary['ran']} runs executed, {summary['skipped']} reused, "
        f"{summary['errors']} errors; {wall:.0f} s wall including analysis."
    )
    report = write_variants_report(table, out, notes, growth_n)
    if docs_dir is not None:
        write_variants_report(table, docs_dir, notes, growth_n)
    if progress:
        progress(f"report: {report}")
    return report
