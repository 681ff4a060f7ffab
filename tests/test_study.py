"""The study runner (``expressivity reproduce study``) on a handful of tiny runs."""

from __future__ import annotations

import os
import re
from dataclasses import replace

import pytest
from scipy.stats import fisher_exact

from expressivity.experiments.study import (
    count_break,
    fisher_p,
    format_integer_range,
    hand_built_counter,
    reproduce_study,
    study_config,
    suzgun_specs,
    wilson_interval,
)


def tiny_config():
    cfg = study_config(quick=True)
    langs = {k: dict(cfg.languages[k], epochs=10) for k in ("tomita-5", "anbn")}
    return replace(cfg, cells=("lstm", "gru"), languages=langs, lrs=(1e-2,), frontier_limit=30,
                   precisions=("e5m2", "float16"), count_limit=4096, growth_n=60,
                   weiss_cells=("lstm",), weiss_epochs=2, weiss_train_max=4,
                   control_doublings=1)  # fmt: skip


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    lines: list[str] = []
    path = reproduce_study(out, config=tiny_config(), progress=lines.append, reference_dir=None)
    return out, path.read_text(), lines


def test_quick_config_covers_every_cell():
    from expressivity.cells import CELLS

    cfg = study_config(quick=True)
    assert set(cfg.cells) == set(CELLS) and "gru-no-reset" in cfg.cells
    full = study_config()
    assert full.seeds == 20 and min(full.lrs) <= 3e-4 and max(full.lrs) >= 1e-2
    assert set(full.hidden_sizes) == {10, 32}
    assert {"tomita-5", "anbn", "anbncn", "dyck-1", "shuffle-2"} <= set(full.languages)
    # Suzgun et al.'s set-up: their size, window, outputs and number of updates
    # (150 epochs of 1000 words drawn from 50 values of n = 3000 epochs of the 50 words)
    (z, *rest) = suzgun_specs(full)
    assert len(rest) + 1 == 10 and (z.hidden_size, z.train_min, z.train_max) == (3, 1, 50)
    assert (z.protocol, z.lr, z.batch_size, z.clip) == ("suzgun2019", 0.01, 1, 0.0)
    assert z.epochs * (z.train_max - z.train_min + 1) == 150 * 1000
    with pytest.raises(ValueError, match="seeds"):
        study_config(seeds=0)


def test_wilson_known_values():
    assert [round(x, 3) for x in wilson_interval(3, 5)] == [0.231, 0.882]
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)


def test_fisher_matches_scipy():
    for k1, n1, k2, n2 in ((7, 10, 2, 10), (0, 20, 20, 20), (3, 5, 3, 5)):
        want = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]])[1]
        assert fisher_p(k1, n1, k2, n2) == pytest.approx(want)
    assert fisher_p(10, 10, 0, 10) == pytest.approx(2 / 184756)
    with pytest.raises(ValueError, match="k <= n"):
        fisher_p(3, 2, 0, 1)


def test_hand_built_counter_breaks_at_the_integer_range():
    for p in ("e5m2", "bfloat16", "float16"):
        n, found = count_break(hand_built_counter(p), 4 * format_integer_range(p))
        assert found and n == format_integer_range(p) + 1
    n, found = count_break(hand_built_counter("float32"), 1000)
    assert (n, found) == (1000, False)
    assert format_integer_range("fixed8.8") == 127


def test_report_tables(study):
    out, text, _ = study
    controls = text.index("## Controls first")
    section = text[controls : text.index("## Counting languages")]
    if "not learned" in section:  # the budget was raised once for the controls
        assert "Controls again at 2× the epoch budget" in section
    assert "0/0" not in section  # a control that was not trained is not tabulated
    assert controls < text.index("## Counting languages")  # controls before any counting claim
    for head in ("## Settings search", "## The saturated class", "## The precision law",
                 "## The literature beside ours", "## Limitations", "Wall time", "Seeds:",
                 "Verified: re-derived from the authors' released result file", "139.5",
                 "Their set-up as we train it"):  # fmt: skip
        assert head in text, head
    suzgun = text[text.index("Their set-up as we train it") : text.index("## Limitations")]
    assert re.search(r"\| fixed budget \| (>= )?\d+ \| \d+–\d+ \| \d/1 \[", suzgun), suzgun
    if os.environ.get("EXPRESSIVITY_REFERENCE_DIR"):  # the released networks, or why not
        assert "| anbn lstm | " in text and "checked to" in text
    else:
        assert "Skipped:" in text and "EXPRESSIVITY_REFERENCE_DIR" in text
    # every row of the counting table: fractions with intervals and a frontier with its limit
    counting = text[text.index("## Counting languages") : text.index("## The saturated class")]
    rows = [r for r in counting.splitlines() if r.startswith("| anbn | ")]
    assert len(rows) == 2
    for r in rows:
        assert re.search(r"\d+/2 \[\d\.\d\d, \d\.\d\d\]", r)
        assert re.search(r"checked to \d+", r)
    lstm_k = int(re.search(r"\| anbn \| lstm \| (\d)/2", counting).group(1))
    gru = next(r for r in rows if r.startswith("| anbn | gru |"))
    gru_k = int(re.search(r"\| anbn \| gru \| (\d)/2", gru).group(1))
    p = float(gru.split("|")[7])
    assert p == pytest.approx(fisher_p(gru_k, 2, lstm_k, 2), rel=1e-2)
    assert "| e5m2 | 8 | 9 |" in text and "| float16 | 2048 | 2049 |" in text
    assert (out / "study-precision.png").stat().st_size > 0
    assert "gru | " in text and "(prediction)" in text
    # the budget check: the same seed at 2x the a^n b^n budget, paired with the study's run
    check = text[text.index("#### The budget check") :]
    assert re.search(r"\| lstm \| \d/1 → \d/1, \d → \d", check), check[:600]
    assert "Over all 2 paired runs" in check


def test_resumes_from_the_store(study):
    out, _, lines = study
    assert any("trained" in line for line in lines)
    again: list[str] = []
    reproduce_study(out, config=tiny_config(), progress=again.append)
    assert not any("trained" in line for line in again)  # every run came from the store


def test_reproduce_study_refuses_bad_arguments(tmp_path):
    from expressivity.experiments.study import reproduce_study

    for bad in (0, -3, True):
        with pytest.raises(ValueError, match="frontier_limit"):
            reproduce_study(tmp_path / "s", config=tiny_config(), frontier_limit=bad)
    with pytest.raises(ValueError, match="executor"):
        reproduce_study(tmp_path / "s", config=tiny_config(), executor="threads")
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_stored_frontiers_are_brought_to_the_definition_and_limit(tmp_path):
    from handbuilt import counts_lstm

    from expressivity.evaluate import FRONTIER_DEFINITION
    from expressivity.experiments.study import _refresh_frontiers

    net = counts_lstm("bfloat16")  # right up to n = 127, fails at 128
    path = net.save(tmp_path / "h-fixed.npz")
    net.save(tmp_path / "h-early.npz")
    # the fixed network's frontier: current definition, stopped at a limit of 50;
    # the early one's: an older definition (no field), a failure at 8 that is not real
    lim = {"value": 50, "checked_to": 50, "first_failure": None, "reason": "limit",
           "failed_on": "", "start": 1, "criterion": "correct",
           "definition": FRONTIER_DEFINITION}  # fmt: skip
    old = {"value": 7, "checked_to": 8, "first_failure": 8, "reason": "near miss accepted"}

    def row():
        return {"status": "done", "spec_hash": "h", "label": "hand/anbn", "model_path": str(path),
                "spec": {"language": "anbn", "cell": "lstm", "train_max": 30},
                "metrics": {"fixed": {"frontier": dict(lim), "generalized": False},
                            "early": {"frontier": dict(old), "generalized": False}}}  # fmt: skip

    cfg = replace(study_config(quick=True), frontier_limit=100)
    r = row()
    assert _refresh_frontiers(cfg, [[r]], tmp_path, None) == 2
    f, e = r["metrics"]["fixed"], r["metrics"]["early"]
    assert (f["frontier"]["value"], f["frontier"]["checked_to"], f["frontier"]["reason"]) == (
        100, 100, "limit")  # fmt: skip
    assert e["frontier"]["value"] == 100 and e["frontier"]["definition"] == FRONTIER_DEFINITION
    assert f["generalized"] and e["generalized"]  # 100 >= 2 x 30
    cfg = replace(cfg, frontier_limit=300)  # a larger limit: on from 100, not from 1
    r = row()
    assert _refresh_frontiers(cfg, [[r]], tmp_path, None) == 2
    f = r["metrics"]["fixed"]["frontier"]
    assert (f["value"], f["first_failure"], f["checked_to"], f["start"]) == (127, 128, 128, 1)
    r = row()  # a rerun reads the cache: no search
    assert _refresh_frontiers(cfg, [[r]], tmp_path, None) == 0
    assert r["metrics"]["early"]["frontier"]["value"] == 127


def test_groups_on_a_dask_worker_equal_groups_here(tmp_path):
    # the study's dask path (GroupRunner): same rows, same saved networks as training here
    import numpy as np

    import expressivity as ex
    from expressivity.experiments.study import GroupRunner, _run_groups, _spec

    cfg = tiny_config()
    specs = [_spec(cfg, "lstm", "anbn", 1e-2, 10, s) for s in (0, 1)]
    here = _run_groups(specs, cfg, tmp_path / "here", None, "t", True, "cpu", None)
    with GroupRunner(n_workers=1) as runner:
        there = _run_groups(specs, cfg, tmp_path / "dask", None, "t", True, "cpu", None,
                            runner=runner)  # fmt: skip
    assert set(here) == set(there) == {s.spec_hash for s in specs}
    for h in here:
        a, b = here[h], there[h]
        assert a["status"] == b["status"] == "done"
        for w in ("early", "fixed"):
            assert a["metrics"][w]["frontier"] == b["metrics"][w]["frontier"]
            assert a["metrics"][w]["val_accuracy"] == b["metrics"][w]["val_accuracy"]
        pa, pb = ex.Network.load(a["model_path"]).params, ex.Network.load(b["model_path"]).params
        assert all(np.array_equal(pa[k], pb[k]) for k in pa)
