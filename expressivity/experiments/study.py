"""``expressivity reproduce study``: which gated units count, with equal chances for every cell.

The protocol is the same for every cell of the registry
(:data:`expressivity.cells.CELLS`, ``gru-no-reset`` included):

1. **Settings search.** For every cell and language, every learning rate of
   :attr:`StudyConfig.lrs` and hidden size of :attr:`StudyConfig.hidden_sizes`
   is trained on ``search_seeds`` seeds (seeds ``SEARCH_SEED0 + i``, never
   used again) for the same epoch budget (so the same number of updates). The
   setting with the highest mean accuracy on the *validation* set (the training
   range with near misses or negatives) wins; ties go to the lower mean
   validation loss. The far-range test never enters the choice.
2. **Final runs** at the chosen setting on ``seeds`` fresh seeds. Each run is
   trained until its validation accuracy first reaches 100% (the
   *early-stopped* network), then continued for the rest of the budget (the
   *fixed-budget* network, the best validation weights of the continuation).
   Both are reported.
3. **Controls first**: the fraction of seeds that learn each regular control
   (every sampled word right up to twice the training length), per cell.
4. **Counting languages**: dense frontiers (:func:`~expressivity.evaluate.search_frontier`,
   each with how far it was checked), the fraction of seeds that generalize to
   twice the training range with a Wilson 95% interval, and a Fisher exact test
   of each cell against the LSTM; counting units and probes
   (:func:`~expressivity.analysis.find_counters`).
5. **The precision law** (a hand-built counter and trained LSTMs: where counting
   breaks against the mantissa bits of each format) and the **saturated class**
   of every cell (weights scaled by :attr:`StudyConfig.saturation_factor`, states
   counted at a tolerance along ``a^n``) beside Merrill's prediction.
6. **The literature**: the released Weiss et al. networks (when
   ``$EXPRESSIVITY_REFERENCE_DIR`` holds them), Weiss et al.'s own set-up, and
   Suzgun et al. (2019)'s published numbers (marked as not verified here).

Runs are recorded in a results store (:class:`~expressivity.experiments.store.ResultsStore`),
so an interrupted study resumes where it stopped.

Examples
--------
>>> cfg = study_config(quick=True)
>>> len(cfg.cells), cfg.seeds, cfg.hidden_sizes
(13, 2, (10,))
>>> [round(x, 3) for x in wilson_interval(0, 20)]
[0.0, 0.161]
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from expressivity._progress import log_info, progress_bar
from expressivity.experiments.spec import RunSpec
from expressivity.experiments.variants import wilson_interval

__all__ = [
    "CONTROLS",
    "COUNTING",
    "FRONTIER_LIMIT",
    "PREDICTION",
    "REFERENCE_LIMIT",
    "SEARCH_SEED0",
    "SUZGUN2019",
    "GroupRunner",
    "StudyConfig",
    "count_break",
    "fisher_p",
    "format_integer_range",
    "hand_built_counter",
    "reproduce_study",
    "run_study",
    "study_config",
    "suzgun_specs",
    "wilson_interval",
    "write_study_report",
]

#: first seed of the settings search (final runs use seeds 0, 1, ...)
SEARCH_SEED0 = 10_000
#: regular controls and counting languages, in report order
CONTROLS = ("tomita-5", "parity")
COUNTING = ("anbn", "anbncn", "dyck-1", "shuffle-2")

#: Merrill (2019, 2020): the class of the saturated network (a prediction, not a measurement)
PREDICTION = {
    "lstm": "counter machine (Merrill 2019)",
    "elman-relu": "counter-capable (ReLU is unbounded; no saturation argument)",
    "elman-tanh": "finite-state (saturated Elman RNN, Merrill 2019)",
}
_FSM = "finite-state (saturated GRU: convex mix of bounded states, Merrill 2019)"

#: Suzgun, Belinkov & Shieber (2019), "On Evaluating the Generalization of LSTM Models in
#: Formal Languages" (SCiL 2019), a^n b^n c^n LSTM: their set-up as their released code
#: (github.com/suzgunmirac/lstm-eval, main.py) has it, and their figures re-derived from
#: their released result file results/result_abc_uniform_1_3_1_50.npz (e_1, the first n
#: whose next-set predictions go wrong, of each of 10 trials: after the last of 150 epochs,
#: and at the first epoch whose e_1 exceeds the training window)
SUZGUN2019 = {
    "citation": "Suzgun, Belinkov & Shieber (2019), SCiL",
    "setting": "LSTM, 1 layer, hidden 3, a^n b^n c^n with n drawn uniformly from [1, 50] "
    "(1000 training words), one word per update, RMSprop lr 0.01, MSE on sigmoid next-set "
    "outputs, threshold 0.5, 150 epochs, 10 trials",
    "median_first_wrong_n": 139.5,
    "trials": 10,
    "range": (83, 244),
    "early_stopped_median": 59.5,
    "early_range": (54, 64),
    "verified": True,
    "source": "re-derived from the authors' released result file "
    "results/result_abc_uniform_1_3_1_50.npz (public repository suzgunmirac/lstm-eval)",
}

#: largest n the study's frontier searches check by default (docs/frontier.md). The
#: dense walk's cost grows as n²; with the prefixes of each n's words shared, a 32-unit
#: Elman network right from n = 2,001 to 10^4 takes about a minute on the 2-core
#: machine. A frontier that reaches the limit is a lower bound (``>= 10000``), never a
#: value. Runs recorded under a smaller limit are searched on from where they stopped
#: (``frontiers.json``), not retrained.
FRONTIER_LIMIT = 10_000

#: the budget check: per counting language, the multiple of its budget at which the
#: first ``budget_check_seeds`` seeds of every cell are trained again (a paired
#: comparison: same seeds, same setting, more epochs)
BUDGET_CHECK = {"anbn": 2, "anbncn": 2, "dyck-1": 4, "shuffle-2": 4}

#: the released networks' frontiers are searched at least this far (a few seconds each)
REFERENCE_LIMIT = 2000

#: Weiss et al. (2018)'s set-up (known settings)
WEISS_SETUP = dict(hidden_size=10, embedding_size=3, optimizer="adam", lr=0.001, batch_size=1)


@dataclass(frozen=True)
class StudyConfig:
    """Everything that sizes the study (see :func:`study_config`).

    Attributes
    ----------
    cells : cells trained (default: every cell of the registry)
    languages : language -> dict(protocol, train_max, epochs, batch_size, per_value,
        embedding_size); the epoch budget is per language and equal for every cell
    lrs, hidden_sizes : the settings search grid
    search_seeds : seeds per setting in the search
    seeds : seeds per cell and language at the chosen setting
    frontier_limit : largest n a frontier search checks (:data:`FRONTIER_LIMIT`)
    precisions : formats of the precision law
    count_limit : longest a^n along which the hand-built counter's break is looked for
    saturation_factor, growth_n : the saturated class (weights x factor, states along a^growth_n)
    weiss_cells, weiss_seeds, weiss_epochs, weiss_train_max : Weiss et al.'s set-up
    suzgun_seeds, suzgun_epochs, suzgun_train_max : Suzgun et al. (2019)'s a^n b^n c^n
        set-up as far as ours can follow it (:func:`suzgun_specs`)
    budget_check, budget_check_seeds : language -> budget multiple at which the first
        ``budget_check_seeds`` seeds of every cell are trained again at the chosen
        setting (:data:`BUDGET_CHECK`): does more budget change the answer?
    quick : the CI-sized version
    """

    cells: tuple
    languages: dict
    lrs: tuple = (3e-4, 1e-3, 3e-3, 1e-2)
    hidden_sizes: tuple = (10, 32)
    search_seeds: int = 3
    seeds: int = 20
    frontier_limit: int = FRONTIER_LIMIT
    precisions: tuple = ("e5m2", "e4m3", "e5m4", "e5m6", "bfloat16", "float16", "e8m12",
                         "e8m16", "float32", "fixed8.8", "fixed16.16")  # fmt: skip
    count_limit: int = 1 << 21
    saturation_factor: float = 1000.0
    growth_n: int = 2000
    weiss_cells: tuple = ("lstm", "gru", "gru-no-reset")
    weiss_seeds: int = 5
    weiss_epochs: int = 1000
    weiss_train_max: int = 99
    control_doublings: int = 2
    suzgun_seeds: int = 10
    suzgun_epochs: int = 3000
    suzgun_train_max: int = 50
    quick: bool = False
    eval_every: int = 5
    extra: dict = field(default_factory=dict)
    budget_check: dict = field(default_factory=lambda: dict(BUDGET_CHECK))
    budget_check_seeds: int = 5


def study_config(quick: bool = False, seeds: int | None = None) -> StudyConfig:
    """The full study (``quick=False``) or its CI-sized version.

    ``quick``: every cell and language, but 2 seeds, learning rates 3e-3 and
    1e-2 on one search seed, hidden size 10, small ranges and budgets, frontiers
    checked to 60.

    Examples
    --------
    >>> study_config().lrs
    (0.0003, 0.001, 0.003, 0.01)
    >>> study_config(seeds=3).seeds
    3
    """
    from expressivity.cells import CELLS as REGISTRY

    def lang(protocol, tm, ep, bs, pv, emb):
        return dict(protocol=protocol, train_max=tm, epochs=ep, batch_size=bs, per_value=pv,
                    embedding_size=emb)  # fmt: skip

    if quick:
        languages = {
            "tomita-5": lang("recognition", 6, 80, 4, 6, 0),
            "parity": lang("recognition", 6, 80, 4, 6, 0),
            "anbn": lang("weiss2018", 8, 120, 1, 1, 3),
            "anbncn": lang("weiss2018", 6, 120, 1, 1, 3),
            "dyck-1": lang("suzgun2019", 8, 16, 1, 3, 0),
            "shuffle-2": lang("suzgun2019", 8, 16, 1, 3, 0),
        }
        cfg = StudyConfig(
            cells=tuple(REGISTRY), languages=languages, lrs=(3e-3, 1e-2), hidden_sizes=(10,),
            search_seeds=1, seeds=2, frontier_limit=60, precisions=("e5m2", "e4m3", "bfloat16",
            "float16", "float32", "fixed8.8"), count_limit=1 << 13, growth_n=200,
            weiss_cells=("lstm", "gru"), weiss_seeds=1, weiss_epochs=10, weiss_train_max=10,
            quick=True, control_doublings=1, suzgun_seeds=1, suzgun_epochs=20,
            suzgun_train_max=6, budget_check={"anbn": 2}, budget_check_seeds=1,
        )  # fmt: skip
    else:
        languages = {
            "tomita-5": lang("recognition", 12, 150, 4, 8, 0),
            "parity": lang("recognition", 12, 150, 4, 8, 0),
            "anbn": lang("weiss2018", 50, 300, 1, 1, 3),
            "anbncn": lang("weiss2018", 30, 300, 1, 1, 3),
            "dyck-1": lang("suzgun2019", 30, 60, 1, 4, 0),
            "shuffle-2": lang("suzgun2019", 30, 60, 1, 4, 0),
        }
        cfg = StudyConfig(cells=tuple(REGISTRY), languages=languages)
    if seeds is not None:
        if int(seeds) < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        cfg = replace(cfg, seeds=int(seeds))
    return cfg


# ----------------------------------------------------------------------------- statistics
def fisher_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact test p-value of ``k1/n1`` against ``k2/n2`` (scipy).

    Examples
    --------
    >>> round(fisher_p(10, 10, 0, 10), 6)
    1.1e-05
    """
    from scipy.stats import fisher_exact

    for k, n in ((k1, n1), (k2, n2)):
        if not 0 <= k <= n:
            raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n1 == 0 or n2 == 0:
        return float("nan")
    return float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]])[1])


# ----------------------------------------------------------------------------- precision law
def hand_built_counter(precision: str = "float32", k: float = 20.0):
    """A one-unit LSTM whose cell adds 1 per ``a`` and subtracts 1 per ``b`` (gates open).

    Along ``a^n`` its cell holds ``n`` exactly until the format cannot represent
    ``n + 1`` (:func:`count_break`).

    Examples
    --------
    >>> net = hand_built_counter("float16")
    >>> float(net.states(["aaa"])[0][-1, 1])
    3.0
    """
    import expressivity as ex

    zi, zu = np.zeros((1, 2)), np.zeros((1, 1))
    open_ = np.array([k])
    p = {"W_i": zi, "U_i": zu, "b_i": open_, "W_f": zi, "U_f": zu, "b_f": open_,
         "W_o": zi, "U_o": zu, "b_o": open_, "W_c": np.array([[k, -k]]), "U_c": zu,
         "b_c": np.zeros(1), "h0": np.zeros(1), "c0": np.zeros(1),
         "W_out": np.array([[-k]]), "b_out": np.array([k / 2])}  # fmt: skip
    return ex.Network.from_params("lstm", "ab", p, head="accept", precision=precision)


def count_break(net, limit: int, unit: int = 1) -> tuple[int, bool]:
    """The first n at which state ``unit`` along ``a^n`` is no longer ``n`` (or ``limit``).

    Returns ``(n, found)``: ``found`` False means it counted exactly up to ``limit``.

    Examples
    --------
    >>> count_break(hand_built_counter("e5m2"), 100)
    (9, True)
    """
    c = np.asarray(net.states(["a" * int(limit)])[0][:, unit], dtype=np.float64)
    bad = np.flatnonzero(c != np.arange(c.size))
    return (int(bad[0]), True) if bad.size else (int(limit), False)


def format_integer_range(name: str) -> int:
    """Largest N such that every integer 0..N is representable in the format.

    ``2**(Y+1)`` for a float with Y mantissa bits (bounded by its largest value),
    ``2**(I-1) - 1`` for fixed point ``fixedI.F``.

    Examples
    --------
    >>> format_integer_range("float16"), format_integer_range("fixed8.8")
    (2048, 127)
    """
    from expressivity.precision import parse_precision

    p = parse_precision(name)
    if name.startswith("fixed"):
        ibits = int(name[5:].split(".")[0])
        return 2 ** (ibits - 1) - 1
    y = {"float64": 52, "float32": 23, "float16": 10, "bfloat16": 7}.get(name)
    if y is None:
        y = int(name.split("m")[1])
    return int(min(2 ** (y + 1), p.max_value))


def _mantissa_bits(name: str) -> float:
    if name.startswith("fixed"):
        return float(name[5:].split(".")[0]) - 1
    return float(math.log2(format_integer_range(name)) - 1) if name != "float32" else 23.0


# ----------------------------------------------------------------------------- one group
def _spec(cfg: StudyConfig, cell: str, lang: str, lr: float, hidden: int, seed: int,
          **over) -> RunSpec:  # fmt: skip
    t = cfg.languages[lang]
    d = dict(cell=cell, language=lang, protocol=t["protocol"], hidden_size=hidden,
             embedding_size=t["embedding_size"], precision="float32", train_min=1,
             train_max=t["train_max"], per_value=t["per_value"], eval_max=2 * t["train_max"],
             optimizer="adam", lr=float(lr), batch_size=t["batch_size"], clip=5.0,
             epochs=t["epochs"], target_accuracy=1.0, eval_every=cfg.eval_every, seed=seed)  # fmt: skip
    d.update(over)
    return RunSpec(**d)


def suzgun_specs(cfg: StudyConfig) -> list[RunSpec]:
    """Suzgun et al. (2019)'s a^n b^n c^n LSTM, as close as this toolkit follows it.

    The same: 1 layer, hidden 3, one-hot input, next-set outputs (sigmoids,
    threshold 0.5), n from 1 to 50, one word per update, learning rate 0.01, no
    gradient clipping, and the same number of updates (their 150 epochs of 1000
    words drawn uniformly from the 50 values of n are 3000 epochs of the 50
    distinct words here). Different: Adam instead of RMSprop and cross-entropy
    instead of squared error (the toolkit has neither of theirs), and each epoch
    visits every n once instead of a uniform draw.

    Examples
    --------
    >>> s = suzgun_specs(study_config())[0]
    >>> s.hidden_size, s.protocol, s.train_max, s.epochs, s.lr
    (3, 'suzgun2019', 50, 3000, 0.01)
    """
    tm = cfg.suzgun_train_max
    return [RunSpec(cell="lstm", language="anbncn", protocol="suzgun2019", hidden_size=3,
                    embedding_size=0, precision="float32", train_min=1, train_max=tm,
                    eval_max=2 * tm, optimizer="adam", lr=0.01, batch_size=1, clip=0.0,
                    epochs=cfg.suzgun_epochs, target_accuracy=1.0,
                    eval_every=max(1, cfg.suzgun_epochs // 150), seed=s)
            for s in range(cfg.suzgun_seeds)]  # fmt: skip


def _prepare(spec: RunSpec):
    import expressivity as ex
    from expressivity.languages import get_language
    from expressivity.protocols import get_protocol

    r_init, r_data, r_train, r_eval = (np.random.default_rng(s)
                                       for s in np.random.SeedSequence(spec.seed).spawn(4))  # fmt: skip
    lang = get_language(spec.language)
    proto = get_protocol(spec.protocol)
    data = proto.training_data(lang, r_data, spec.train_min, spec.train_max, spec.per_value)
    val = proto.validation_data(lang, r_data, spec.train_min, spec.train_max, spec.per_value)
    net = ex.Network.create(spec.cell, lang.alphabet, spec.hidden_size, head=proto.head,
                            precision=spec.precision, rng=r_init,
                            embedding_size=spec.embedding_size or None,
                            threshold=proto.threshold)  # fmt: skip
    return dict(spec=spec, lang=lang, data=data, val=val, net=net, r_train=r_train, r_eval=r_eval)


def _val_score(res, val) -> tuple[float, float]:
    from expressivity.training import dataset_accuracy

    acc = float(dataset_accuracy(res.net, val)) if val is not None else float("nan")
    rec = next((r for r in res.history if r["epoch"] == res.best_epoch), {})
    return acc, float(rec.get("val_loss", float("nan")))


def _train_n(spec) -> int:
    """Largest training n of the canonical members (Dyck and shuffle train by length: 2n)."""
    get = spec.get if isinstance(spec, dict) else spec.__getattribute__
    tm, lang = int(get("train_max")), get("language")
    return tm // 2 if lang in ("dyck-1", "shuffle-2") else tm


def _evaluate(net, run: dict, cfg: StudyConfig) -> dict:
    """Frontier (counting languages, dense search) or generalization by length (controls)."""
    from expressivity.evaluate import evaluate_by_length, search_frontier

    spec, lang = run["spec"], run["lang"]
    tm = spec.train_max
    if spec.language in COUNTING:
        tn = _train_n(spec)
        f = search_frontier(net, lang, limit=max(cfg.frontier_limit, 2 * tn))
        return {"frontier": f.to_json(), "generalized": bool(f.value >= 2 * tn)}
    rng = np.random.default_rng(run["r_eval"].integers(2**63))
    ev = evaluate_by_length(net, lang, rng, range(1, 2 * tm + 1), per_length=10, train_max=tm)
    m = ev.metrics
    return {"frontier": {"value": int(m["frontier"]), "checked_to": int(m["frontier_checked_to"]),
                         "first_failure": m["frontier_first_failure"], "reason": "sampled"},
            "generalized": m["frontier_first_failure"] is None,
            "accuracy": float(m["accuracy"])}  # fmt: skip


def train_group(specs: list[RunSpec], cfg: StudyConfig, out: Path | None, evaluate: bool,
                backend: str = "cpu", weiss: bool = False) -> list[dict]:  # fmt: skip
    """Train runs of one shape as a population: early-stopped, then continued to the budget.

    Returns one result dict per spec (``status``, ``metrics`` with ``early`` and
    ``fixed`` sub-dicts: validation accuracy and loss, epochs, and with
    ``evaluate`` the frontier; ``model_path`` of the fixed-budget network).
    ``weiss``: Weiss et al.'s stopping rule (every training positive accepted,
    no validation set); there is no continuation then.
    """
    from expressivity.training import TrainConfig, TrainingDiverged, dataset_accuracy
    from expressivity.training.population import train_population

    t0 = time.perf_counter()
    runs = [_prepare(s) for s in specs]

    def tc(s: RunSpec, epochs: int, target) -> TrainConfig:
        return TrainConfig(optimizer=s.optimizer, lr=s.lr, batch_size=s.batch_size,
                           epochs=epochs, clip=s.clip or None, target_accuracy=target,
                           eval_every=s.eval_every)  # fmt: skip

    vals = [None if weiss else r["val"] for r in runs]
    first = train_population([r["net"] for r in runs], [r["data"] for r in runs],
                             [r["r_train"] for r in runs],
                             [tc(s, s.epochs, None if weiss else 1.0) for s in specs],
                             vals, backend=backend)  # fmt: skip
    results: list[dict] = [{} for _ in specs]
    cont = []
    for i, (run, res) in enumerate(zip(runs, first)):
        if isinstance(res, TrainingDiverged):
            results[i] = {"status": "diverged", "error": str(res), "metrics": {}}
            continue
        acc, loss = _val_score(res, run["val"])
        results[i] = {"status": "done", "metrics": {"early": dict(
            val_accuracy=acc, val_loss=loss, epochs=res.epochs_run, updates=res.updates,
            stopped=res.stopped, best_epoch=res.best_epoch)}, "_early": res.net}  # fmt: skip
        if weiss:  # at least the budget, then on until every training positive is accepted
            if dataset_accuracy(res.net, run["data"]) < 1.0:
                cont.append(i)
        elif res.epochs_run < specs[i].epochs:
            cont.append(i)
    if cont:
        second = train_population([results[i]["_early"] for i in cont],
                                  [runs[i]["data"] for i in cont],
                                  [runs[i]["r_train"] for i in cont],
                                  [tc(specs[i], specs[i].epochs, 1.0) if weiss else
                                   tc(specs[i], specs[i].epochs - first[i].epochs_run, None)
                                   for i in cont], [vals[i] for i in cont],
                                  backend=backend)  # fmt: skip
        for i, res in zip(cont, second):
            if isinstance(res, TrainingDiverged):  # keep the early network as the fixed one
                results[i]["_fixed"] = results[i]["_early"]
                results[i]["metrics"]["fixed"] = dict(results[i]["metrics"]["early"],
                                                      note="continuation diverged")  # fmt: skip
                continue
            acc, loss = _val_score(res, runs[i]["val"])
            results[i]["_fixed"] = res.net
            results[i]["metrics"]["fixed"] = dict(val_accuracy=acc, val_loss=loss,
                                                  epochs=first[i].epochs_run + res.epochs_run,
                                                  updates=first[i].updates + res.updates,
                                                  best_epoch=first[i].epochs_run + res.best_epoch)  # fmt: skip
    for i, r in enumerate(results):
        if r["status"] != "done":
            continue
        if "_fixed" not in r:  # the budget ran out before 100%: both are the same network
            r["_fixed"] = r["_early"]
            r["metrics"]["fixed"] = dict(r["metrics"]["early"])
        if evaluate:
            for which in ("early", "fixed"):
                r["metrics"][which].update(_evaluate(r["_" + which], runs[i], cfg))
        if out is not None:
            h = specs[i].spec_hash
            for which in ("early", "fixed"):
                path = out / "models" / f"{h}-{which}.npz"
                path.parent.mkdir(parents=True, exist_ok=True)
                r["_" + which].save(path, training=dict(specs[i].to_dict(), which=which))
            r["model_path"] = str(out / "models" / f"{h}-fixed.npz")
    secs = time.perf_counter() - t0
    for r in results:
        r.pop("_early", None)
        net = r.pop("_fixed", None)
        r["net"] = net
        r["total_seconds"] = secs / len(results)
    return results


def _group_task(group: list[RunSpec], cfg, out, evaluate, backend, weiss) -> list[dict]:
    """One group on a worker (or here): its rows without the networks (they are on disk)."""
    res = train_group(group, cfg, out, evaluate, backend, weiss)
    for r in res:
        r.pop("net", None)
    return res


def _run_groups(specs: list[RunSpec], cfg, out, store, sweep, evaluate, backend, progress,
                weiss=False, runner=None) -> dict[str, dict]:  # fmt: skip
    """Run the specs not yet in the store (grouped by shape); every spec's row by hash.

    ``runner``: a :class:`GroupRunner` (dask workers); None trains here. Either
    way each group's rows are recorded by this process as the group finishes.
    """
    done = store.finished_hashes() if store is not None else set()
    groups: dict[tuple, list[RunSpec]] = defaultdict(list)
    for s in specs:
        if s.spec_hash not in done:
            key = (s.cell, s.language, s.hidden_size, s.protocol, s.batch_size, s.optimizer)
            groups[key].append(s)
    rows: dict[str, dict] = {}
    todo = list(groups.items())
    results = (runner.map(todo, cfg, out, evaluate, backend, weiss) if runner is not None else
               ((key, g, _group_task(g, cfg, out, evaluate, backend, weiss)) for key, g in todo))
    n_runs, i = sum(len(g) for _, g in todo), 0
    for key, group, res_list in results:
        for s, res in zip(group, res_list):
            if store is not None:
                store.record(s, res, sweep=sweep)
            rows[s.spec_hash] = dict(res, spec=s.to_dict())
        i += len(group)
        if progress:
            progress(f"{sweep} [{i}/{n_runs}]: trained {key[0]} on {key[1]} "
                     f"(hidden {key[2]}, {len(group)} run{'s' * (len(group) > 1)})")  # fmt: skip
    if store is not None:
        for r in store.rows(sweep=sweep):
            rows.setdefault(r["spec_hash"], r)
    return {s.spec_hash: rows[s.spec_hash] for s in specs if s.spec_hash in rows}


class GroupRunner:
    """Groups of runs on dask workers (a LocalCluster, one process per core, or a scheduler).

    Each group is one task (a group smaller than the lanes kernel's
    :data:`~expressivity.kernels.lanes.MIN_LANES` is one task per run: it would
    not train faster together); results come back as tasks finish, in any
    order, and are recorded by the calling process. A group whose worker dies is run
    again by dask (nothing of it was recorded). Use as a context manager.

    Examples
    --------
    >>> with GroupRunner(n_workers=2) as runner:   # doctest: +SKIP
    ...     data = run_study(study_config(quick=True), "results/study-quick", runner=runner)
    """

    def __init__(self, scheduler: str | None = None, n_workers: int | None = None):
        self.scheduler, self.n_workers = scheduler, n_workers
        self.cluster = self.client = None

    def __enter__(self) -> GroupRunner:
        from distributed import Client

        from expressivity.experiments.sweep import local_cluster

        if self.scheduler is None:
            self.cluster = local_cluster(self.n_workers)
        self.client = Client(self.cluster if self.cluster is not None else self.scheduler)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def map(self, todo, cfg, out, evaluate, backend, weiss):
        """Yield ``(key, group, rows)`` for every ``(key, group)`` of ``todo`` as it finishes."""
        from distributed import as_completed

        from expressivity.kernels.lanes import MIN_LANES

        # a group too small for the lanes kernel gains nothing from training together:
        # its runs become tasks of their own, so that no worker idles at the end
        tasks = []
        for key, group in todo:
            if len(group) >= MIN_LANES:
                tasks.append((key, group))
            else:
                tasks += [(key, [s]) for s in group]
        tasks.sort(key=lambda kg: -len(kg[1]) * kg[0][2] * kg[1][0].epochs)  # longest first
        futs = {}
        for key, group in tasks:
            f = self.client.submit(_group_task, group, cfg, out, evaluate, backend, weiss,
                                   key=f"study-{group[0].spec_hash}", pure=False)  # fmt: skip
            futs[f] = (key, group)
        for fut in as_completed(futs):
            key, group = futs.pop(fut)
            res = fut.result()
            fut.release()
            yield key, group, res


# ----------------------------------------------------------------------------- the study
def _choose(cfg: StudyConfig, rows: dict, cell: str, lang: str) -> dict:
    """The setting with the best mean validation accuracy, then loss; with the whole search."""
    table = []
    for lr in cfg.lrs:
        for hs in cfg.hidden_sizes:
            hs_ = [_spec(cfg, cell, lang, lr, hs, SEARCH_SEED0 + i).spec_hash
                   for i in range(cfg.search_seeds)]  # fmt: skip
            rs = [rows.get(h) for h in hs_]
            accs = [r["metrics"]["fixed"]["val_accuracy"] for r in rs
                    if r and r.get("status") == "done"]  # fmt: skip
            losses = [r["metrics"]["fixed"]["val_loss"] for r in rs
                      if r and r.get("status") == "done"]  # fmt: skip
            acc = float(np.mean(accs)) if accs else 0.0
            loss = float(np.nanmean(losses)) if losses and np.isfinite(losses).any() else np.inf
            table.append(dict(lr=lr, hidden=hs, val_accuracy=acc, val_loss=loss,
                              diverged=len(rs) - len(accs)))  # fmt: skip
    best = max(table, key=lambda t: (t["val_accuracy"], -t["val_loss"]))
    return dict(best, search=table)


def _short_controls(cfg: StudyConfig, rows: list[dict]) -> list[tuple[str, str]]:
    """(cell, control) pairs learned in at most half of their seeds (fixed budget)."""
    groups = _by_cell_lang(rows)
    pairs = []
    for c in cfg.cells:
        for lang in CONTROLS:
            rs = groups.get((c, lang), [])
            k = sum(bool(r["metrics"].get("fixed", {}).get("generalized")) for r in rs)
            if rs and 2 * k <= len(rs):
                pairs.append((c, lang))
    return pairs


def _controls_short(cfg: StudyConfig, rows: list[dict]) -> list[str]:
    """Cells that learn some regular control in at most half of their seeds (fixed budget)."""
    return list(dict.fromkeys(c for c, _ in _short_controls(cfg, rows)))


def run_study(cfg: StudyConfig, out_dir: str | Path, backend: str = "cpu",
              progress: Callable[[str], None] | None = log_info,
              reference_dir: str | Path | None = None,
              runner: GroupRunner | None = None) -> dict:  # fmt: skip
    """Run (or resume) the whole study; returns the data of the report (JSON-able).

    ``runner``: train the groups of runs on dask workers (:class:`GroupRunner`);
    by default they train one after another in this process.

    Examples
    --------
    >>> data = run_study(study_config(quick=True), "results/study-quick")   # doctest: +SKIP
    """
    from expressivity.experiments.store import ResultsStore

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data: dict = {"config": _config_json(cfg)}
    with ResultsStore(out / "results.sqlite") as store:
        search_specs = [_spec(cfg, c, lang, lr, hs, SEARCH_SEED0 + i)
                        for lang in cfg.languages for c in cfg.cells for lr in cfg.lrs
                        for hs in cfg.hidden_sizes for i in range(cfg.search_seeds)]  # fmt: skip
        srows = _run_groups(search_specs, cfg, out, store, "study-search", False, backend,
                            progress, runner=runner)  # fmt: skip
        chosen = {f"{c}|{lang}": _choose(cfg, srows, c, lang)
                  for lang in cfg.languages for c in cfg.cells}  # fmt: skip
        final_specs = []
        for key, ch in chosen.items():
            c, lang = key.split("|")
            final_specs += [_spec(cfg, c, lang, ch["lr"], ch["hidden"], s)
                            for s in range(cfg.seeds)]  # fmt: skip
        frows = _run_groups(final_specs, cfg, out, store, "study-final", True, backend, progress,
                            runner=runner)  # fmt: skip
        raised, factor, rows_now = [], 1, list(frows.values())
        for _ in range(cfg.control_doublings):  # the controls not learned: a larger budget
            pairs = _short_controls(cfg, rows_now)  # for those (cell, control) pairs only
            if not pairs:
                break
            factor *= 2
            specs = [_spec(cfg, c, lang, chosen[f"{c}|{lang}"]["lr"],
                           chosen[f"{c}|{lang}"]["hidden"], s,
                           epochs=factor * cfg.languages[lang]["epochs"])
                     for c, lang in pairs for s in range(cfg.seeds)]  # fmt: skip
            rows_now = list(_run_groups(specs, cfg, out, store, f"study-controls-x{factor}", True,
                                        backend, progress, runner=runner).values())  # fmt: skip
            raised.append({"factor": factor, "rows": rows_now})
        check_specs = [_spec(cfg, c, lang, chosen[f"{c}|{lang}"]["lr"],
                             chosen[f"{c}|{lang}"]["hidden"], s,
                             epochs=f * cfg.languages[lang]["epochs"])
                       for lang, f in cfg.budget_check.items() if lang in cfg.languages
                       for c in cfg.cells for s in range(min(cfg.budget_check_seeds, cfg.seeds))]  # fmt: skip
        brows = _run_groups(check_specs, cfg, out, store, "study-budget", True, backend,
                            progress, runner=runner)  # fmt: skip
        wt = cfg.weiss_train_max
        weiss_specs = [RunSpec(cell=c, language="anbn", protocol="weiss2018", train_min=1,
                               train_max=wt, eval_max=2 * wt, epochs=cfg.weiss_epochs, clip=5.0,
                               target_accuracy=1.0, eval_every=1, seed=s, **WEISS_SETUP)
                       for c in cfg.weiss_cells for s in range(cfg.weiss_seeds)]  # fmt: skip
        wrows = _run_groups(weiss_specs, cfg, out, store, "study-weiss", True, backend, progress,
                            weiss=True, runner=runner)  # fmt: skip
        zrows = _run_groups(suzgun_specs(cfg), cfg, out, store, "study-suzgun", True, backend,
                            progress, runner=runner)  # fmt: skip
    _refresh_frontiers(cfg, [frows, wrows, zrows, brows] + [x["rows"] for x in raised], out,
                       progress, sets_groups=(zrows,))  # fmt: skip
    data["reused"] = sum("recorded_at" in r for rs in (srows, frows, wrows, zrows, brows)
                         for r in rs.values())  # fmt: skip
    data["runs"] = (len(srows) + len(frows) + len(wrows) + len(zrows) + len(brows)
                    + sum(len(x["rows"]) for x in raised))  # fmt: skip
    data["reused"] += sum("recorded_at" in r for x in raised for r in x["rows"])
    data["chosen"] = chosen
    data["final"] = list(frows.values())
    data["controls_raised"] = raised
    data["weiss"] = list(wrows.values())
    data["suzgun"] = list(zrows.values())
    data["budget_check"] = list(brows.values())
    if progress:
        progress("analysing: counters, precision law, saturation, released networks")
    data["analysis"] = _analyse(cfg, data["final"], out)
    data["precision_law"] = _precision_law(cfg, data["final"], out)
    data["references"], data["references_skipped"] = _references(cfg, reference_dir)
    data["wall_seconds"] = time.perf_counter() - t0
    (out / "study.json").write_text(json.dumps(data, default=_jsonable))
    return data


def _refresh_frontiers(cfg: StudyConfig, groups: list, out: Path,
                       progress: Callable[[str], None] | None,
                       sets_groups: tuple = ()) -> int:  # fmt: skip
    """Bring every stored frontier to the current definition and ``cfg.frontier_limit``.

    A run recorded earlier keeps its row in the store; its frontier is searched
    again with the same saved network when it was computed under an older
    definition of a right n (:data:`expressivity.evaluate.FRONTIER_DEFINITION`),
    and searched on from where it stopped when it reached a smaller limit. The
    results are kept in ``frontiers.json`` (written after each search, so an
    interrupted study loses none) and put into the rows in place, with
    ``generalized`` recomputed. For the rows of ``sets_groups`` (Suzgun et
    al.'s set-up) also ``sets_frontier``: the search under their criterion
    (member's next sets right, ``criterion="sets"``). Returns the number of
    searches run.
    """
    from expressivity.evaluate import FRONTIER_DEFINITION, search_frontier
    from expressivity.languages import get_language

    cache_path = out / "frontiers.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    todo = []
    for kind, gs in (("frontier", groups), ("sets_frontier", sets_groups)):
        for rows in gs:
            for r in (rows.values() if isinstance(rows, dict) else rows):
                if r.get("status") != "done" or r["spec"]["language"] not in COUNTING:
                    continue
                for which in ("early", "fixed"):
                    m = r.get("metrics", {}).get(which, {})
                    f = m.get(kind)
                    if not m.get("frontier"):
                        continue
                    old = f is None or f.get("definition", 1) != FRONTIER_DEFINITION
                    if old or (f["reason"] == "limit" and f["checked_to"] < cfg.frontier_limit):
                        todo.append((r, which, m, kind))
    def known(r, which, m, kind):
        criterion = "correct" if kind == "frontier" else "sets"
        h = r["spec_hash"] if "spec_hash" in r else RunSpec(**r["spec"]).spec_hash
        key = f"{h}|{which}|{FRONTIER_DEFINITION}|{criterion}"
        f = m.get(kind)
        ext = cache.get(key)
        if ext is None and f is not None and f.get("definition", 1) == FRONTIER_DEFINITION:
            ext = f
        return key, criterion, h, ext

    def apply(r, m, kind, ext):
        m[kind] = ext
        if kind == "frontier":
            m["generalized"] = bool(ext["value"] >= 2 * _train_n(r["spec"]))

    search = []
    for r, which, m, kind in todo:  # answers already searched (cache) need no bar
        ext = known(r, which, m, kind)[3]
        if ext is None or (ext["reason"] == "limit" and ext["checked_to"] < cfg.frontier_limit):
            search.append((r, which, m, kind))
        else:
            apply(r, m, kind, ext)
    ran = 0
    for r, which, m, kind in (progress_bar(search, desc="frontiers", unit="net") if search else []):
        key, criterion, h, ext = known(r, which, m, kind)
        start = ext["checked_to"] + 1 if ext else 1
        net = _load(r, which)
        more = search_frontier(net, get_language(r["spec"]["language"]), start=start,
                               limit=cfg.frontier_limit, criterion=criterion)  # fmt: skip
        ext = dict(more.to_json(), start=1)
        if more.first_failure is None:
            ext["value"] = cfg.frontier_limit
        cache[key] = ext
        cache_path.write_text(json.dumps(cache))
        ran += 1
        if progress and (more.first_failure is None or more.value >= 100):
            progress(f"{r.get('label', h)} ({which}, {criterion}): frontier {more}")
        apply(r, m, kind, ext)
    return ran


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def _config_json(cfg: StudyConfig) -> dict:
    from dataclasses import asdict

    return asdict(cfg)


def _load(row: dict, which: str = "fixed"):
    import expressivity as ex

    path = row.get("model_path")
    if not path:
        return None
    if which != "fixed":
        path = path.replace("-fixed.npz", f"-{which}.npz")
    return ex.Network.load(path)


def _analyse(cfg: StudyConfig, rows: list[dict], out: Path) -> dict:
    """Counting units (counter languages) and the saturated class (along a^n of anbn), cached."""
    from expressivity.analysis import find_counters, growth_along
    from expressivity.analysis.counters import sensitivity_table
    from expressivity.analysis.saturation import saturate
    from expressivity.languages import get_language

    cache_path = out / "analysis.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for r in rows:
        h = r["spec_hash"] if "spec_hash" in r else RunSpec(**r["spec"]).spec_hash
        spec = r["spec"]
        if h in cache or r.get("status") != "done" or spec["language"] not in COUNTING:
            continue
        net = _load(r)
        lang = get_language(spec["language"])
        tm = _train_n(spec)
        a: dict = {}
        try:
            rep = find_counters(net, lang, n_train=tm, n_max=10 * tm)
            a["units"] = [f"{u.name} ({u.counter_name})" for u in rep.counters]
            a["probes"] = [p.counter_name for p in rep.counting_probes]
            if spec["cell"] == "lstm" and not any("sensitivity" in v for v in cache.values()):
                a["sensitivity"] = sensitivity_table(rep)
                a["sensitivity_of"] = f"lstm on {spec['language']}, seed {spec['seed']}"
        except (ValueError, FloatingPointError, OverflowError, np.linalg.LinAlgError) as err:
            a["units"], a["probes"], a["error"] = [], [], str(err)
        if spec["language"] == "anbn":
            sat = saturate(net, cfg.saturation_factor)
            g = growth_along(sat, lang.alphabet[0], cfg.growth_n)
            a["saturated_counts"] = bool(g.keeps_growing() and g.n_states[-1] > cfg.growth_n // 4)
            a["saturated_states"] = int(g.n_states[-1])
        cache[h] = a
    cache_path.write_text(json.dumps(cache))
    return cache


def _precision_law(cfg: StudyConfig, rows: list[dict], out: Path | None = None) -> dict:
    """Hand-built counter's break along a^n, and trained LSTMs' frontiers, per format.

    The trained networks' frontiers are kept in ``out/precision.json`` (per run,
    format, limit and frontier definition), so a resumed study does not search
    them again.
    """
    from expressivity.evaluate import FRONTIER_DEFINITION, search_frontier
    from expressivity.languages import get_language

    cache_path = out / "precision.json" if out is not None else None
    cache = (json.loads(cache_path.read_text())
             if cache_path is not None and cache_path.exists() else {})  # fmt: skip

    hand = []
    for p in cfg.precisions:
        n, found = count_break(hand_built_counter(p), min(cfg.count_limit,
                               4 * format_integer_range(p) + 8))  # fmt: skip
        hand.append(dict(precision=p, integer_range=format_integer_range(p),
                         bits=_mantissa_bits(p), count_break=n, found=found))  # fmt: skip
    lang = get_language("anbn")
    trained = []
    lstms = [r for r in rows if r.get("status") == "done" and r["spec"]["cell"] == "lstm"
             and r["spec"]["language"] == "anbn"
             and r["metrics"]["fixed"].get("generalized")]  # fmt: skip
    for r in lstms[:5]:
        net = _load(r)
        h = r["spec_hash"] if "spec_hash" in r else RunSpec(**r["spec"]).spec_hash
        per = {}
        for p in cfg.precisions:
            key = f"{h}|{p}|{cfg.frontier_limit}|{FRONTIER_DEFINITION}"
            if key not in cache:
                f = search_frontier(net.with_precision(p), lang, limit=cfg.frontier_limit)
                cache[key] = dict(value=f.value, checked_to=f.checked_to, exact=f.exact,
                                  explains=f.precision_explains)  # fmt: skip
                if cache_path is not None:
                    cache_path.write_text(json.dumps(cache))
            per[p] = cache[key]
        trained.append(dict(seed=r["spec"]["seed"], frontiers=per))
    return {"hand": hand, "trained": trained}


def _references(cfg: StudyConfig, reference_dir) -> tuple[list[dict], str | None]:
    """The released Weiss et al. networks, evaluated with the study's instruments."""
    from expressivity.analysis import find_counters
    from expressivity.analysis.counters import sensitivity_table
    from expressivity.evaluate import search_frontier
    from expressivity.interop import (
        WEISS2018_ALPHABETS,
        find_reference,
        find_weiss2018,
        load_weiss2018,  # fmt: skip
    )
    from expressivity.languages import get_language

    try:
        directory = find_reference("weiss2018", reference_dir)
    except FileNotFoundError as err:
        return [], str(err)
    rows = []
    for lang_name, tm in (("anbn", 99), ("anbncn", 49)):
        for cell in ("lstm", "gru"):
            try:
                path = find_weiss2018(lang_name, cell, directory.parent)
            except FileNotFoundError:
                continue
            net = load_weiss2018(path, alphabet=WEISS2018_ALPHABETS[lang_name])
            lang = get_language(lang_name)
            limit = max(cfg.frontier_limit, REFERENCE_LIMIT)
            f = search_frontier(net, lang, limit=limit)
            fa = search_frontier(net, lang, limit=max(limit, 10 * f.checked_to),
                                 criterion="accepted")  # fmt: skip
            rep = find_counters(net, lang, n_train=tm, n_max=10 * tm)
            rows.append(dict(cell=cell, language=lang_name, frontier=f.to_json(),
                             sensitivity=sensitivity_table(rep),
                             accept_frontier=fa.to_json(),
                             near_miss=f.failed_on if f.reason == "near miss accepted" else "",
                             units=[f"{u.name} ({u.counter_name})" for u in rep.counters]))  # fmt: skip
    return rows, None


# ----------------------------------------------------------------------------- the report
def _frac(k: int, n: int) -> str:
    lo, hi = wilson_interval(k, n) if n else (0.0, 1.0)
    return f"{k}/{n} [{lo:.2f}, {hi:.2f}]"


def _fr(f: dict) -> str:
    if f.get("first_failure") is None:
        return f">= {f['value']} (checked to {f['checked_to']})"
    return f"{f['value']} (checked to {f['checked_to']})"


def _by_cell_lang(rows: list[dict]) -> dict:
    out: dict = defaultdict(list)
    for r in rows:
        out[(r["spec"]["cell"], r["spec"]["language"])].append(r)
    return out


def _machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        else:
            model = platform.processor() or "unknown CPU"
    except OSError:
        model = platform.processor() or "unknown CPU"
    import os

    return f"{model}, {os.cpu_count()} logical cores, {platform.system()}"


def write_study_report(data: dict, directory: str | Path, command: str = "") -> Path:
    """Write ``study.md`` and its plots (``study-*.png``) into ``directory``.

    Examples
    --------
    >>> write_study_report(data, "docs", "expressivity reproduce study")   # doctest: +SKIP
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cfg = data["config"]
    cells, langs = list(cfg["cells"]), list(cfg["languages"])
    controls = [x for x in CONTROLS if x in langs]
    groups = _by_cell_lang(data["final"])
    L: list[str] = ["# Which gated units count? The study", ""]
    if cfg["quick"]:
        L += ["> Generated by `expressivity reproduce study --quick` (2 seeds, tiny budgets): a "
              "smoke test of the pipeline, **not evidence**. The full run (20 seeds per cell and "
              "language, the full settings search) is pending.", ""]  # fmt: skip
    L += [f"- Command: `{command or 'expressivity reproduce study'}`",
          f"- Wall time: {data['wall_seconds']:.0f} s ({data['wall_seconds'] / 60:.0f} min) on "
          f"{data.get('machine', _machine())}, {data.get('executor', 'one process')} "
          f"({data.get('runs', 0)} training runs, {data.get('reused', 0)} of them reused from "
          "the results store of an earlier invocation)",
          f"- Seeds: {cfg['seeds']} per cell × language at the chosen setting (seeds 0..."
          f"{cfg['seeds'] - 1}); the search used {cfg['search_seeds']} other seed(s) per "
          f"setting (from {SEARCH_SEED0}).",
          f"- Cells: {', '.join(cells)} (every cell of the registry).",
          "- Intervals: Wilson score 95%; tests: two-sided Fisher exact test of each cell "
          "against the LSTM (scipy.stats.fisher_exact).", ""]  # fmt: skip
    # --- settings
    L += ["## Settings search", "",
          f"Grid: learning rates {', '.join(f'{x:g}' for x in cfg['lrs'])} × hidden sizes "
          f"{', '.join(str(x) for x in cfg['hidden_sizes'])}; Adam, gradients clipped to norm 5, "
          "float32, the same epoch budget (so the same number of updates) for every cell of a "
          "language. Chosen per cell and language: the highest mean validation accuracy "
          "(training range with near misses or negatives; never the far-range test), ties to "
          "the lower mean validation loss.", "",
          "| language | protocol | train range | epochs | batch |", "|---|---|---|---|---|"]  # fmt: skip
    for lang, t in cfg["languages"].items():
        L.append(f"| {lang} | {t['protocol']} | 1..{t['train_max']} | {t['epochs']} | "
                 f"{t['batch_size']} |")  # fmt: skip
    L += ["", "| language | cell | chosen lr | hidden | val. accuracy (mean) | why |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    for lang in langs:
        for c in cells:
            ch = data["chosen"][f"{c}|{lang}"]
            others = sorted(ch["search"], key=lambda t: -t["val_accuracy"])
            why = "; ".join(f"{t['lr']:g}/{t['hidden']}: {t['val_accuracy']:.3f}"
                            for t in others)  # fmt: skip
            L.append(f"| {lang} | {c} | {ch['lr']:g} | {ch['hidden']} | "
                     f"{ch['val_accuracy']:.3f} | {why} |")  # fmt: skip
    L += _plateau_lines(data, cells, langs)
    L += _budget_check_lines(data, cells)
    # --- controls first
    L += ["", "## Controls first: regular languages learned", "",
          "Fraction of seeds that learn each regular control (every sampled word of every "
          "length right up to twice the training length), fixed budget / early-stopped.", "",
          "| cell | " + " | ".join(f"{x} (fixed) | {x} (early)" for x in controls) + " | verdict |",
          "|---|" + "---|---|" * len(controls) + "---|"]  # fmt: skip
    short = []
    for c in cells:
        cols, ok = [], True
        for lang in controls:
            rs = groups.get((c, lang), [])
            n = len(rs)
            for which in ("fixed", "early"):
                k = sum(bool(r["metrics"].get(which, {}).get("generalized")) for r in rs)
                cols.append(_frac(k, n))
                if which == "fixed" and n and 2 * k <= n:
                    ok = False
        verdict = ("learns the controls" if ok
                   else "**not learned** at this budget (too small for this cell)")  # fmt: skip
        if not ok:
            short.append(c)
        L.append(f"| {c} | " + " | ".join(cols) + f" | {verdict} |")
    for step in data.get("controls_raised", []):
        g2 = _by_cell_lang(step["rows"])
        L += ["", f"Controls again at {step['factor']}× the epoch budget, for each cell and "
              "control learned in at most half of the seeds before (same settings, same seeds; "
              "– : not rerun, learned already):", "",
              "| cell | " + " | ".join(f"{x} (fixed)" for x in controls) + " |",
              "|---|" + "---|" * len(controls)]  # fmt: skip
        for c in cells:
            cols = []
            for lang in controls:
                rs = g2.get((c, lang), [])
                k = sum(bool(r["metrics"].get("fixed", {}).get("generalized")) for r in rs)
                cols.append(_frac(k, len(rs)) if rs else "–")
            L.append(f"| {c} | " + " | ".join(cols) + " |")
        short = [c for c in short if c in _controls_short(_cfg_like(cfg), step["rows"])]
    if short:
        raised = data.get("controls_raised", [])
        how = (
            f" even at {raised[-1]['factor']}× the budget"
            if raised
            else " (the budget was not raised in this run)"
        )
        L += ["", f"Cells that do not learn the controls in most seeds{how} "
              f"({', '.join(short)}): their counting results below say nothing about what the "
              "cell can represent; the budget is too small for them."]  # fmt: skip
    # --- counting
    L += ["", "## Counting languages", "",
          "Generalized: the frontier (every n from 1 right, docs/frontier.md: member "
          "accepted, near misses with a block count off by ±1 or ±2 rejected, along the "
          "member's last block read on to twice its length exactly the members accepted, "
          "next sets right) reaches twice the largest training n (Dyck-1 and shuffle-2 "
          "train on lengths up to L, so on n up to L/2). Median frontier: the lower median "
          "over seeds (the middle seed's own frontier, with how far it was checked), each "
          "searched densely until its first failure or the limit "
          f"({cfg['frontier_limit']}); `>=` marks a lower bound. p: Fisher exact test of the "
          "cell's fixed-budget generalization against the LSTM's.", "",
          "| language | cell | generalized (fixed) | generalized (early) | median frontier "
          "(fixed) | median frontier (early) | p vs LSTM | counting unit | counting probe | "
          "format explains | diverged |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    an = data.get("analysis", {})
    for lang in [x for x in langs if x in COUNTING]:
        lrs = groups.get(("lstm", lang), [])
        kl = sum(bool(r["metrics"].get("fixed", {}).get("generalized")) for r in lrs)
        for c in cells:
            rs = groups.get((c, lang), [])
            done = [r for r in rs if r.get("status") == "done"]
            n = len(rs)
            ks = {w: sum(bool(r["metrics"][w].get("generalized")) for r in done)
                  for w in ("fixed", "early")}  # fmt: skip
            meds = {}
            for w in ("fixed", "early"):
                fs = sorted((r["metrics"][w]["frontier"] for r in done), key=lambda f: f["value"])
                meds[w] = _fr(fs[(len(fs) - 1) // 2]) if fs else "–"
            p = fisher_p(ks["fixed"], n, kl, len(lrs)) if c != "lstm" and n and lrs else None
            ans = [an.get(RunSpec(**r["spec"]).spec_hash, {}) for r in done]
            ku = sum(bool(a.get("units")) for a in ans)
            kp = sum(bool(a.get("probes")) for a in ans)
            kx = sum(bool(r["metrics"]["fixed"]["frontier"].get("precision_explains"))
                     for r in done)  # fmt: skip
            L.append(f"| {lang} | {c} | {_frac(ks['fixed'], n)} | {_frac(ks['early'], n)} | "
                     f"{meds['fixed']} | {meds['early']} | "
                     f"{'–' if p is None else f'{p:.3g}'} | {_frac(ku, n)} | {_frac(kp, n)} | "
                     f"{kx}/{len(done)} | {n - len(done)} |")  # fmt: skip
    from expressivity.analysis import counters as ct

    L += ["", f"Counting unit: a state unit whose phase-aware fit reaches R² ≥ {ct.R2_MIN} with "
          f"|slope| ≥ {ct.MIN_SLOPE} on the training range and that is unbounded (its increment "
          f"per count stays within a factor {ct.PERSISTENCE_MIN} for ≥ {ct.STRETCH_MIN}× the "
          f"training range at float64, and its fitted decay keeps half of it over {ct.HORIZON} "
          f"symbols); counting probe: a linear read-out across units with R² ≥ "
          f"{ct.PROBE_R2_MIN} on prefixes beyond training "
          "(`expressivity.analysis.find_counters`, docs/frontier.md). Format explains: "
          "seeds whose fixed-budget frontier break the same weights get right in float64."]  # fmt: skip
    sens = next((a for a in an.values() if "sensitivity" in a), None)
    if sens:
        L += ["", f"Sensitivity of the detection to each threshold ({sens['sensitivity_of']}, "
              "fixed budget):", "", sens["sensitivity"]]  # fmt: skip
    # --- saturation
    L += ["", "## The saturated class of every cell", "",
          f"Each fixed-budget a^n b^n network with its weights scaled by "
          f"{cfg['saturation_factor']:g} (gates become steps); *counts* when its states "
          f"(cells of side 1e-3) keep growing along a^{cfg['growth_n']} (growth rate of the "
          "second half at least half the first's, and more than n/4 states). The prediction "
          "(Merrill 2019, 2020) is a theoretical claim about the saturated cell, **not measured "
          "here**; the measurement is about the networks trained here.", "",
          "| cell | saturated networks that count | prediction |", "|---|---|---|"]  # fmt: skip
    for c in cells:
        rs = [r for r in groups.get((c, "anbn"), []) if r.get("status") == "done"]
        ans = [an.get(RunSpec(**r["spec"]).spec_hash, {}) for r in rs]
        k = sum(bool(a.get("saturated_counts")) for a in ans)
        n_all = len(groups.get((c, "anbn"), []))
        got = _frac(k, len(ans)) if ans else f"– (all {n_all} diverged)" if n_all else "–"
        L.append(f"| {c} | {got} | {PREDICTION.get(c, _FSM)} (prediction) |")
    # --- precision law
    pl = data["precision_law"]
    L += ["", "## The precision law", "",
          "Hand-built counter (one LSTM cell adding 1 per a, gates open): the first n at which "
          "its cell along a^n is no longer n, against the format's integer range (every integer "
          "0..N representable: 2^(Y+1) for Y mantissa bits, 2^(I-1) - 1 for fixed I.F).", "",
          "| format | integer range | count breaks at n |", "|---|---|---|"]  # fmt: skip
    for h in pl["hand"]:
        brk = str(h["count_break"]) if h["found"] else f">= {h['count_break']} (not reached)"
        L.append(f"| {h['precision']} | {h['integer_range']} | {brk} |")
    if pl["trained"]:
        L += ["", "Trained LSTMs (a^n b^n, fixed budget, generalized): frontier per format "
              f"(checked to {cfg['frontier_limit']}).", "",
              "| seed | " + " | ".join(cfg["precisions"]) + " |",
              "|---|" + "---|" * len(cfg["precisions"])]  # fmt: skip
        for t in pl["trained"]:
            L.append(f"| {t['seed']} | " + " | ".join(
                f"{'' if v['exact'] else '>= '}{v['value']}" for v in t["frontiers"].values())
                + " |")  # fmt: skip
    else:
        L += ["", "No trained LSTM generalized on a^n b^n, so no trained counter enters the law."]
    _plot_precision(pl, d / "study-precision.png")
    _plot_generalization(data, d / "study-generalization.png")
    L += ["", "![precision law](study-precision.png)",
          "![generalization](study-generalization.png)"]  # fmt: skip
    # --- literature
    L += ["", "## The literature beside ours", "", "### Released networks (Weiss et al. 2018)", ""]
    if data.get("references_skipped"):
        L += [f"Skipped: {data['references_skipped']}"]
    else:
        L += ["| network | frontier | first near miss accepted | accepted up to | counting "
              "units |", "|---|---|---|---|---|"]  # fmt: skip
        for r in data["references"]:
            L.append(f"| {r['language']} {r['cell']} | {_fr(r['frontier'])} | "
                     f"{r['near_miss'] or '–'} | {_fr(r['accept_frontier'])} | "
                     f"{', '.join(r['units']) or '–'} |")  # fmt: skip
        lstm = next((r for r in data["references"] if r["cell"] == "lstm"), None)
        if lstm:
            L += ["", f"Sensitivity of the counter detection on the released {lstm['language']} "
                  "LSTM:", "", lstm["sensitivity"]]  # fmt: skip
    wt = cfg["weiss_train_max"]
    L += ["", "### Weiss et al.'s set-up", "",
          f"Hidden 10, embedding 3, Adam 0.001, one word per update, positives only, "
          f"threshold 0.005, a^n b^n with n = 1..{wt}, up to {cfg['weiss_epochs']} epochs, "
          "stopped when every training positive is accepted"
          + (" (the paper trained at least 1000 epochs; this quick run far fewer)"
             if cfg["weiss_epochs"] < 1000 else "") + ".", "",
          "| cell | generalized | median frontier | epochs run (median) |", "|---|---|---|---|"]  # fmt: skip
    for c, rs in sorted(_by_cell_lang(data["weiss"]).items()):
        done = [r for r in rs if r.get("status") == "done"]
        k = sum(bool(r["metrics"]["fixed"].get("generalized")) for r in done)
        fs = sorted((r["metrics"]["fixed"]["frontier"] for r in done), key=lambda f: f["value"])
        ep = np.median([r["metrics"]["fixed"]["epochs"] for r in done]) if done else float("nan")
        L.append(f"| {c[0]} | {_frac(k, len(rs))} | {_fr(fs[(len(fs) - 1) // 2]) if fs else '–'}"
                 f" | {ep:.0f} |")  # fmt: skip
    L += _suzgun_lines(data, groups)
    # --- limitations
    L += ["## Limitations", "",
          "- The fixed-budget network continues the early-stopped one with a fresh Adam state "
          "(the optimizer's moments restart at the first 100%); its weights are the best on "
          "validation over the continuation.",
          "- The saturated class is measured along a^n only (the symbol that opens the count) "
          "on networks trained on a^n b^n; a saturated network may count along another symbol.",
          "- Regular controls are judged on sampled words (10 per length and label kind) up to "
          "twice the training length; their frontier is a lower bound.",
          "- The precision law for trained networks re-rounds float32-trained weights to each "
          "format; networks trained in the format itself may do better.",
          f"- Frontiers are checked to {cfg['frontier_limit']} at most; a value marked `>=` "
          "did not fail there. The dense walk's cost grows as n² (a 32-unit network right "
          "up to 10^4 takes a few minutes per search on this machine, with the prefixes of "
          "each n's words shared), so far-generalizing networks are lower bounds here; "
          "`--frontier-limit` searches further.",
          "- Near misses are off by ±1 or ±2 in one block, and the continuation reads only "
          "the last block on: a network that keeps an earlier block's count modulo 3 or "
          "more could pass them (no trained network here is known to).",
          f"- The budget check retrains {min(cfg.get('budget_check_seeds', 5), cfg['seeds'])} of "
          f"the {cfg['seeds']} seeds per cell at a larger budget; it shows whether more budget "
          "changes the answer, not where each seed's plateau lies."]  # fmt: skip
    errs = [a["error"] for a in an.values() if a.get("error")]
    if errs:
        L += [f"- The counter analysis failed on {len(errs)} network(s) (counted as no counting "
              f"unit): {sorted(set(errs))[0][:200]}"]  # fmt: skip
    L += [""]
    path = d / "study.md"
    path.write_text("\n".join(L) + "\n")
    return path


def _suzgun_lines(data: dict, groups: dict) -> list[str]:
    """Suzgun et al. (2019)'s figures, their set-up as we train it, and our tuned LSTMs."""
    s, cfg = SUZGUN2019, data["config"]
    L = ["", f"### {s['citation']}, a^n b^n c^n", "",
         f"Theirs: {s['setting']}. First wrong n (e_1) after the last epoch: median "
         f"{s['median_first_wrong_n']:g} over {s['trials']} trials, range {s['range'][0]}–"
         f"{s['range'][1]}; at the first epoch whose e_1 passes the training window (early "
         f"stopping): median {s['early_stopped_median']:g}, range {s['early_range'][0]}–"
         f"{s['early_range'][1]}. "
         + (f"Verified: {s['source']}." if s.get("verified") else
            "**Not verified from a primary source.**"), ""]  # fmt: skip
    zs = [r for r in data.get("suzgun", []) if r.get("status") == "done"]
    n_all = len(data.get("suzgun", []))
    if zs:
        L += [f"Their set-up as we train it ({n_all} seed{'s' * (n_all != 1)}, `suzgun_specs`: hidden 3, n 1.."
              f"{cfg.get('suzgun_train_max', 50)}, next-set sigmoids at 0.5, lr 0.01, "
              f"{cfg.get('suzgun_epochs', 3000)} epochs of the distinct words = their number "
              "of updates; Adam and cross-entropy instead of RMSprop and squared error). "
              "First wrong n: the first n, searched densely, whose member a^n b^n c^n is "
              "rejected or gets a next-symbol set wrong: their criterion, without our near "
              "misses (`>=`: none up to where it was checked):", "",
              "| network | first wrong n, median | range | generalized (2× training) |",
              "|---|---|---|---|"]  # fmt: skip
        for w, name in (("fixed", "fixed budget"), ("early", "early-stopped")):
            fr = [r["metrics"][w].get("sets_frontier") or r["metrics"][w]["frontier"]
                  for r in zs]  # fmt: skip
            v = [int(f["first_failure"]) if f.get("first_failure") is not None
                 else int(f["checked_to"]) + 1 for f in fr]  # fmt: skip
            bound = any(f.get("first_failure") is None for f in fr)
            k = sum(bool(r["metrics"][w].get("generalized")) for r in zs)
            L.append(f"| {name} | {'>= ' if bound else ''}{float(np.median(v)):g} | "
                     f"{min(v)}–{max(v)} | {_frac(k, len(zs))} |")  # fmt: skip
        if n_all > len(zs):
            L.append(f"\n{n_all - len(zs)} of these runs diverged.")
        L.append("")
    ours = [r for r in groups.get(("lstm", "anbncn"), []) if r.get("status") == "done"]
    if ours:
        med = {w: float(np.median([r["metrics"][w]["frontier"]["value"] for r in ours]))
               for w in ("fixed", "early")}  # fmt: skip
        L += [f"The study's own a^n b^n c^n LSTMs (chosen setting, next-symbol protocol, "
              f"training n 1..{cfg['languages']['anbncn']['train_max']}, so not their set-up): "
              f"median frontier {med['fixed']:g} at the fixed budget, {med['early']:g} "
              f"early-stopped, over {len(ours)} seeds.", ""]  # fmt: skip
    return L


def _plateau_lines(data: dict, cells: list, langs: list) -> list[str]:
    """Was the budget a plateau? Where in the budget each fixed-budget network's best
    validation weights came from, per cell and language of the final runs."""
    groups = _by_cell_lang(data["final"])
    budgets = {lang: int(data["config"]["languages"][lang]["epochs"]) for lang in langs}
    L = ["", "### Was the budget enough?", "",
         "Per cell and language (final runs): the epoch of the fixed-budget network's best "
         "validation weights (median over seeds); *late*: seeds whose best came in the last "
         "fifth of the budget, i.e. still improving on validation (accuracy, then loss) when "
         "it ran out; *stop*: epochs to the early stop (median over the seeds that reached "
         "100% validation accuracy). Budgets: "
         + ", ".join(f"{lang} {b} epochs" for lang, b in budgets.items()) + ".", "",
         "| cell | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]  # fmt: skip
    for c in cells:
        cols = []
        for lang in langs:
            done = [r for r in groups.get((c, lang), []) if r.get("status") == "done"]
            best = [int(b) for r in done
                    if (b := r["metrics"]["fixed"].get("best_epoch")) is not None]  # fmt: skip
            if not best:
                cols.append("–")
                continue
            late = sum(b > 0.8 * budgets[lang] for b in best)
            early = [int(r["metrics"]["early"]["epochs"]) for r in done
                     if r["metrics"]["early"].get("stopped") == "target_accuracy"]  # fmt: skip
            es = f"{int(np.median(early))}" if early else "–"
            cols.append(f"{int(np.median(best))}, late {late}/{len(best)}, stop {es}")
        L.append(f"| {c} | " + " | ".join(cols) + " |")
    return L


def _budget_check_lines(data: dict, cells: list) -> list[str]:
    """The same seeds at the chosen setting with a multiple of the budget: does the answer move?"""
    rows = [r for r in data.get("budget_check", []) if r.get("status") == "done"]
    if not data.get("budget_check"):
        return []
    cfg = data["config"]
    check = {lang: f for lang, f in cfg.get("budget_check", {}).items() if lang in cfg["languages"]}
    langs = list(check)
    base = _by_cell_lang(data["final"])
    more = _by_cell_lang(data["budget_check"])
    L = ["", "#### The budget check", "",
         (f"The first {k_} seeds" if (k_ := min(cfg.get("budget_check_seeds", 5), cfg["seeds"])) > 1
          else "The first seed") + " of every cell trained again at its "
         "chosen setting with " + ", ".join(f"{check[lang]}× the {lang} budget" for lang in langs)
         + " (same seeds, same data order: a paired comparison). Each entry: seeds that "
         "generalize at the study's budget → at the larger one, fixed budget / early-stopped; "
         "*d.* counts runs that diverged.", "",
         "| cell | " + " | ".join(f"{lang} (1× → {check[lang]}×)" for lang in langs) + " |",
         "|---|" + "---|" * len(langs)]  # fmt: skip
    moved = {"up": 0, "down": 0, "same": 0}
    for c in cells:
        cols = []
        for lang in langs:
            mr = {r["spec"]["seed"]: r for r in more.get((c, lang), [])}
            br = {r["spec"]["seed"]: r for r in base.get((c, lang), []) if r["spec"]["seed"] in mr}
            if not mr:
                cols.append("–")
                continue

            def k(rs, w):
                return sum(bool(r.get("metrics", {}).get(w, {}).get("generalized"))
                           for r in rs.values() if r.get("status") == "done")  # fmt: skip

            d = sum(r.get("status") != "done" for r in mr.values())
            for s_ in mr:
                a = bool(br.get(s_, {}).get("metrics", {}).get("fixed", {}).get("generalized"))
                b = bool(mr[s_].get("metrics", {}).get("fixed", {}).get("generalized"))
                moved["up" if b > a else "down" if a > b else "same"] += 1
            cols.append(f"{k(br, 'fixed')}/{len(br)} → {k(mr, 'fixed')}/{len(mr)}, "
                        f"{k(br, 'early')} → {k(mr, 'early')}" + (f", {d} d." if d else ""))  # fmt: skip
        L.append(f"| {c} | " + " | ".join(cols) + " |")
    L += ["", f"Over all {sum(moved.values())} paired runs (fixed budget): {moved['up']} "
          f"generalize only with the larger budget, {moved['down']} only with the study's, "
          f"{moved['same']} the same at both ({len(rows)} finished)."]  # fmt: skip
    return L


def _cfg_like(cfg: dict) -> StudyConfig:
    """A StudyConfig from its JSON form (cells and languages are what the report needs)."""
    return StudyConfig(cells=tuple(cfg["cells"]), languages=dict(cfg["languages"]))


def _plot_precision(pl: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = [h["integer_range"] for h in pl["hand"]]
    ax.plot(xs, xs, "k:", lw=1, label="n = integer range")
    for found, mark, label in (
        (True, "o", "hand-built counter: count breaks"),
        (False, "^", "hand-built counter: no break up to (lower bound)"),
    ):
        hs = [h for h in pl["hand"] if h["found"] == found]
        if hs:
            ax.scatter([h["integer_range"] for h in hs], [h["count_break"] for h in hs],
                       marker=mark, facecolors="C0" if found else "none", edgecolors="C0",
                       label=label)  # fmt: skip
    for h in pl["hand"]:
        ax.annotate(h["precision"], (h["integer_range"], h["count_break"]), fontsize=7)
    for t in pl["trained"]:
        ax.scatter([h["integer_range"] for h in pl["hand"]],
                   [max(1, t["frontiers"][h["precision"]]["value"]) for h in pl["hand"]],
                   marker="x", color="C1", s=20)  # fmt: skip
    if pl["trained"]:
        ax.scatter([], [], marker="x", color="C1", label="trained LSTMs: frontier")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("format's integer range")
    ax.set_ylabel("n")
    ax.legend(fontsize=7)
    ax.set_title("Where counting breaks vs the number format", fontsize=9)
    fig.savefig(str(path), bbox_inches="tight", dpi=90)


def _plot_generalization(data: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cfg = data["config"]
    cells, langs = list(cfg["cells"]), list(cfg["languages"])
    groups = _by_cell_lang(data["final"])
    mat = np.full((len(cells), len(langs)), np.nan)
    for i, c in enumerate(cells):
        for j, lang in enumerate(langs):
            rs = groups.get((c, lang), [])
            if rs:
                mat[i, j] = np.mean([bool(r["metrics"].get("fixed", {}).get("generalized"))
                                     for r in rs])  # fmt: skip
    fig = Figure(figsize=(1.2 * len(langs) + 2.5, 0.35 * len(cells) + 1.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(langs, fontsize=8)
    ax.set_yticks(range(len(cells)))
    ax.set_yticklabels(cells, fontsize=8)
    ax.set_title("fraction of seeds generalizing to 2x training (fixed budget)", fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.savefig(str(path), bbox_inches="tight", dpi=90)


def reproduce_study(out_dir: str | Path = "results/study", quick: bool = False,
                    seeds: int | None = None, docs_dir: str | Path | None = None,
                    backend: str = "cpu", progress: Callable[[str], None] | None = log_info,
                    reference_dir: str | Path | None = None,
                    config: StudyConfig | None = None, executor: str = "serial",
                    scheduler: str | None = None, n_workers: int | None = None,
                    frontier_limit: int | None = None) -> Path:  # fmt: skip
    """Run (or resume) the study and write ``study.md`` (also into ``docs_dir`` when given).

    ``executor``: ``"serial"`` (groups of runs one after another, here) or
    ``"dask"`` (groups on a LocalCluster of ``n_workers`` processes, default one
    per core, or on the running ``scheduler``). Returns the path of
    ``out_dir/study.md``.

    Examples
    --------
    >>> reproduce_study("results/study-quick", quick=True)   # doctest: +SKIP
    """
    cfg = config or study_config(quick, seeds)
    if frontier_limit is not None:
        if isinstance(frontier_limit, bool) or int(frontier_limit) < 1:
            raise ValueError(f"frontier_limit must be an integer >= 1, got {frontier_limit!r}")
        cfg = replace(cfg, frontier_limit=int(frontier_limit))
    if executor not in ("serial", "dask"):
        raise ValueError(f"executor must be 'serial' or 'dask', got {executor!r}")
    if executor == "dask":
        with GroupRunner(scheduler, n_workers) as runner:
            data = run_study(cfg, out_dir, backend, progress, reference_dir, runner)
    else:
        data = run_study(cfg, out_dir, backend, progress, reference_dir)
    data["machine"] = _machine()
    if executor == "dask":
        import os

        data["executor"] = (f"{n_workers or os.cpu_count() or 1} dask worker processes"
                            if scheduler is None else "dask workers of a given scheduler")  # fmt: skip
    else:
        data["executor"] = "one process"
    cmd = (
        "expressivity reproduce study"
        + (" --quick" if quick else "")
        + (f" --seeds {seeds}" if seeds is not None else "")
        + (f" --frontier-limit {frontier_limit}" if frontier_limit is not None else "")
    )
    report = write_study_report(data, out_dir, cmd)
    if docs_dir is not None:
        write_study_report(data, docs_dir, cmd)
    if progress:
        progress(f"report: {report}")
    return report
