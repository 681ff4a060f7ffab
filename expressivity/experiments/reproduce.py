"""``expressivity reproduce weiss2018``: is the LSTM strictly stronger than the GRU at counting?

Weiss, Goldberg & Yahav (2018) trained 1-layer networks with 10 hidden units
and a 3-dimensional embedding on positives of a^n b^n (n = 0..99) and
a^n b^n c^n (n = 0..49), predicting the next symbol (softmax with an end
marker, acceptance threshold 0.005), Adam with learning rate 0.001, one word
at a time. The LSTM learned to count and generalized far beyond training; the
GRU did not.

This reproduction trains ``lstm``, ``gru``, ``gru-reset-after``, ``elman-tanh``
and ``elman-relu`` over several seeds with the same protocol, evaluates every
network far beyond training with :mod:`expressivity.evaluate`, evaluates the
four released networks with the same code (when they are found: an explicit
``reference_dir``, else ``$EXPRESSIVITY_REFERENCE_DIR``; see
:func:`expressivity.interop.reference_dir`), and writes a report.

Deviation, stated in the report: the paper trained for at least 1000 epochs at
learning rate 0.001; this reproduction's budget is 200 epochs (100 quick) at
0.01 (``paper_lr=True`` restores 0.001 at the same budget). That setting suits
the LSTM, not the GRU, whose runs at 0.01 mostly stay degenerate: the GRU rows
here are about this budget, not about what a GRU can represent. The study
(:mod:`expressivity.experiments.study`, ``docs/study.md``) tunes every cell and
also runs the paper's own set-up.

Examples
--------
>>> specs = weiss2018_specs(quick=True)
>>> sorted({s.cell for s in specs})
['elman-relu', 'elman-tanh', 'gru', 'gru-reset-after', 'lstm']
"""

from __future__ import annotations

import logging
from pathlib import Path

from expressivity._progress import log_info
from expressivity.experiments.spec import RunSpec

__all__ = [
    "CELLS",
    "evaluate_references",
    "reproduce_study",
    "reproduce_weiss2018",
    "weiss2018_specs",
]

log = logging.getLogger(__name__)

CELLS = ("lstm", "gru", "gru-reset-after", "elman-tanh", "elman-relu")
#: (language, train_max) of the paper
TASKS = (("anbn", 99), ("anbncn", 49))
#: figures reported for the released networks and the paper (for the report's comparison)
PAPER = {
    "anbn": "LSTM generalizes far beyond n = 99 (the released LSTM accepts n in the hundreds); "
    "GRU does not count reliably",
    "anbncn": "LSTM generalizes beyond n = 49; GRU does not",
}


def weiss2018_specs(
    quick: bool = False, seeds: int | None = None, paper_lr: bool = False
) -> list[RunSpec]:
    """The run specs of the reproduction (``quick``: 2 seeds, 100 epochs, evaluation to 2x).

    Training starts at n = 1: the released networks reject the empty word.
    Gradients are clipped to norm 5, DyNet's default (the paper used DyNet).
    """
    n_seeds = seeds if seeds is not None else (2 if quick else 5)
    epochs = 100 if quick else 200
    specs = []
    for lang, train_max in TASKS:
        tmax = train_max
        for cell in CELLS:
            for seed in range(n_seeds):
                specs.append(
                    RunSpec(
                        cell=cell,
                        language=lang,
                        protocol="weiss2018",
                        hidden_size=10,
                        embedding_size=3,
                        precision="float32",
                        train_min=1,
                        train_max=tmax,
                        eval_max=(2 if quick else 3) * tmax,
                        eval_far=20 * tmax,
                        optimizer="adam",
                        lr=0.001 if paper_lr else 0.01,
                        batch_size=1,
                        clip=5.0,
                        epochs=epochs,
                        target_accuracy=1.0,
                        eval_every=5,
                        seed=seed,
                    )
                )
    return specs


def evaluate_references(quick: bool = False, directory: str | Path | None = None) -> list[dict]:
    """Evaluate the four released networks with the same code; one row dict per network.

    Parameters
    ----------
    quick : bool
        Dense evaluation to 2x the training range (else 3x).
    directory : str or Path, optional
        The folder holding ``weiss2018/`` (else ``$EXPRESSIVITY_REFERENCE_DIR``).
        Each network is read from ``weiss2018/{language}_{cell}.npz`` (converted)
        or else from the authors' ``weiss2018/{language}_{CELL}.data``.

    Raises
    ------
    FileNotFoundError
        When the folder is not given and the variable is unset, or ``weiss2018/``
        holds none of the four networks; the message says how to get them.
    """
    from expressivity.evaluate import evaluate_counting
    from expressivity.interop import (
        HOW_TO_GET,
        WEISS2018_ALPHABETS,
        find_reference,
        find_weiss2018,
        load_weiss2018,
    )
    from expressivity.languages import get_language

    directory = find_reference("weiss2018", directory)
    rows = []
    for lang_name, train_max in TASKS:
        for cell in ("lstm", "gru"):
            try:
                path = find_weiss2018(lang_name, cell, directory.parent)
            except FileNotFoundError:
                continue
            net = load_weiss2018(path, alphabet=WEISS2018_ALPHABETS[lang_name])
            lang = get_language(lang_name)
            tm = (2 if quick else 3) * train_max
            ev = evaluate_counting(net, lang, tm, n_min=1, far=20 * train_max, train_max=train_max)
            rows.append(
                {
                    "label": f"released {cell} ({path.name})",
                    "cell": f"released-{cell}",
                    "language": lang_name,
                    "metrics": ev.metrics,
                    "curves": ev.to_json()["curves"],
                    "model_path": str(path),
                }
            )
    if not rows:
        raise FileNotFoundError(f"no released network in {directory}; {HOW_TO_GET}")
    return rows


def reproduce_weiss2018(
    out_dir: str | Path = "results/weiss2018",
    quick: bool = False,
    executor: str = "dask",
    scheduler: str | None = None,
    n_workers: int | None = None,
    seeds: int | None = None,
    paper_lr: bool = False,
    progress=log_info,
    backend: str = "cpu",
    reference_dir: str | Path | None = None,
) -> Path:
    """Run (or resume) the reproduction and write ``report.md`` and plots; returns the report path.

    The released networks are compared when found (``reference_dir``, the folder
    holding ``weiss2018/``, else ``$EXPRESSIVITY_REFERENCE_DIR``); otherwise one
    warning and a note in the report say that the comparison was skipped and how
    to get them.
    """
    import json
    import time

    from expressivity.experiments.report import write_report
    from expressivity.experiments.sweep import run_sweep
    from expressivity.interop import find_reference

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "weiss2018-quick" if quick else "weiss2018"
    specs = weiss2018_specs(quick, seeds, paper_lr)
    skipped = None
    try:  # said before the sweep, once
        find_reference("weiss2018", reference_dir)
    except FileNotFoundError as err:
        skipped = f"Released-network comparison skipped: {err}."
        log.warning("%s", skipped)
    t0 = time.perf_counter()
    where = (out / "results.sqlite", out, name)
    summary = run_sweep(specs, *where, executor, scheduler, n_workers, progress, backend=backend)
    refs = [] if skipped else evaluate_references(quick, reference_dir)
    (out / "references.json").write_text(json.dumps(refs))
    summary["wall_seconds"] = time.perf_counter() - t0
    report = write_report(
        out / "results.sqlite",
        out,
        sweep=name,
        references=refs,
        title="Weiss et al. (2018) reproduction" + (" (quick)" if quick else ""),
        paper=PAPER,
        notes=_notes(quick, paper_lr, summary) + ([skipped] if skipped else []),
        analyse=True,
    )
    if progress:
        progress(f"report: {report}")
    return report


def _notes(quick: bool, paper_lr: bool, summary: dict) -> list[str]:
    notes = [
        "Protocol: positives only, next-symbol softmax with end marker, acceptance threshold "
        "0.005; 10 hidden units, 3-dimensional embedding, Adam, one word per update, float32.",
        "Learning rate 0.01, not the paper’s 0.001, and a budget of "
        f"{100 if quick else 200} epochs, not the paper’s 1000 or more: a setting that suits "
        "the LSTM. It does not suit the GRU, whose runs at 0.01 mostly stay degenerate "
        "(they accept everything, or fail near misses on the training range), so the GRU "
        "rows here are about this budget, not about what a GRU can represent. "
        "`--paper-lr` trains at 0.001 with the same budget; docs/study.md gives every cell "
        "its own tuned learning rate and hidden size, and runs the paper’s own set-up."
        if not paper_lr
        else f"Learning rate 0.001 as in the paper, with a budget of {100 if quick else 200} "
        "epochs (the paper trained 1000 or more; docs/study.md runs that set-up).",
        "Training and evaluation start at n = 1 (the released networks reject the empty word); "
        "gradients are clipped to norm 5 (DyNet's default). Training stops at 100% accuracy on the training range's positives and near misses "
        "(a^n b^(n±1), ...), or after the epoch budget; the best validation weights are kept.",
        "frontier: largest n such that every n' <= n is right (docs/frontier.md: a^n' b^n' "
        "(c^n') accepted, its near misses off by ±1 or ±2 in one block rejected, and along "
        "its last block read on to twice its length only the member accepted); max "
        "accepted: largest n accepted (including a few far points up to 20x the training "
        "range).",
    ]
    if quick:
        notes.append("Quick mode: 2 seeds, 100 epochs, dense evaluation to 2x the training range.")
    notes.append(
        f"Sweep: {summary['ran']} runs executed, {summary['skipped']} reused from the store, "
        f"{summary['errors']} errors, {summary['seconds']:.0f} s wall."
    )
    return notes


def reproduce_study(*args, **kwargs) -> Path:
    """``expressivity reproduce study``: see :func:`expressivity.experiments.study.reproduce_study`."""
    from expressivity.experiments.study import reproduce_study as run

    return run(*args, **kwargs)
