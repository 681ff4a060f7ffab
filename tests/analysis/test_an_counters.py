"""Counter detection and reachable-state growth on networks whose answer is known."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import counting_lstm, leaky_gru, parity_gru, saturating_gru

import expressivity as ex
from expressivity.analysis import find_counters, format_spacing, growth_along, reachable_states
from expressivity.analysis.counters import sensitivity_rows, sensitivity_table
from expressivity.analysis.growth import GROWTH_TOL
from expressivity.languages import get_language


@pytest.fixture(scope="module")
def anbn():
    return get_language("anbn")


def test_counting_unit_found_and_linear_in_float32(anbn):
    rep = find_counters(counting_lstm("float32"), anbn, n_train=60, n_max=600)
    assert [u.name for u in rep.counters] == ["c0"]
    c = rep.counters[0]
    assert c.unit == 1 and c.counter == 0
    assert c.slope == pytest.approx(1.0) and c.intercept == pytest.approx(0.0, abs=1e-9)
    assert c.r2 == pytest.approx(1.0) and c.r2_far == pytest.approx(1.0)
    assert c.linear_beyond and c.break_position is None
    # gate behaviour: forget and input gates saturated open
    assert c.gates["f"][0] == 1.0 and c.gates["f"][1] == 1.0
    assert c.gates["i"][1] == 1.0
    h = rep.units[0]
    assert h.name == "h0" and not h.is_counter  # tanh(c) saturates: not linear
    assert "c0" in rep.summary()


def test_counter_breaks_at_2048_in_float16(anbn):
    rep = find_counters(counting_lstm("float16"), anbn, n_train=60, n_max=2100)
    (c,) = rep.counters
    assert not c.linear_beyond
    assert c.break_at == 2048.0 and c.break_position == 2049
    assert c.value_at_break == 2048.0
    assert c.spacing_at_break == 2.0 and c.precision_explains is True
    assert rep.precision == "float16"


def test_with_precision_matches_direct_construction(anbn):
    net = counting_lstm("float32").with_precision("float16")
    rep = find_counters(net, anbn, n_train=40, n_max=2100)
    assert rep.counters[0].break_at == 2048.0


def test_format_spacing():
    from expressivity.precision import parse_precision

    assert format_spacing(parse_precision("float16"), 2048.0) == 2.0
    assert format_spacing(parse_precision("float16"), 1024.0) == 1.0
    assert format_spacing(parse_precision("float32"), 1.0) == 2.0**-23
    assert format_spacing("float64", 1.0) == 2.0**-52


def test_counter_bad_input(anbn):
    with pytest.raises(ValueError, match="no ground-truth counters"):
        find_counters(parity_gru(), get_language("parity"))
    with pytest.raises(ValueError, match="alphabet mismatch"):
        find_counters(counting_lstm(), get_language("anbncn"))
    with pytest.raises(ValueError, match="n_max"):
        find_counters(counting_lstm(), anbn, n_train=50, n_max=10)


def test_state_growth_linear_until_precision_runs_out():
    g32 = growth_along(counting_lstm("float32"), "a", 3000)
    np.testing.assert_array_equal(g32.n_states, np.arange(1, 3002))  # one new state per a
    assert g32.plateau_at() is None and g32.slope() == pytest.approx(1.0)
    g16 = growth_along(counting_lstm("float16"), "a", 3000)
    assert g16.plateau_at() == 2048
    assert g16.n_states[2048] == 2049 and g16.n_states[-1] == 2049
    assert g16.slope(0, 2048) == pytest.approx(1.0)


def test_reachable_states_finite_vs_counting():
    gp = reachable_states(parity_gru(), 40)
    assert gp.exhausted and gp.n_states[-1] == 2 and gp.plateau_at() == 1
    gc = reachable_states(counting_lstm("float32"), 100)
    assert not gc.exhausted
    np.testing.assert_array_equal(gc.n_states, 2 * np.arange(101) + 1)  # c in [-L, L]


def test_growth_bad_input():
    with pytest.raises(ValueError, match="unknown symbol"):
        growth_along(parity_gru(), "c", 5)
    with pytest.raises(ValueError, match="max_len"):
        reachable_states(parity_gru(), -1)


# ---------------------------------------------------------------- phase-aware fits,
# unboundedness, probes, sensitivity: networks whose answer is known


def test_exact_counter_is_unbounded_and_read_out_by_a_probe(anbn):
    rep = find_counters(counting_lstm("float32"), anbn, n_train=40, n_max=400)
    (c,) = rep.counters
    assert c.unbounded and c.increment_ratio == pytest.approx(1.0)
    assert c.decay_ratio == pytest.approx(1.0, abs=1e-6)
    assert c.phases == "ab" and c.counter_name.startswith("counter 0")
    probe = next(p for p in rep.probes if p.counter == 0)
    assert probe.is_counter and probe.exact_far == 1.0 and probe.r2_far == pytest.approx(1.0)
    assert rep.candidates[:2] == ["counter 0 (#a-#b)", "#a"]
    assert "probe counter 0" in rep.summary()


@pytest.mark.parametrize("z", [0.001, 0.002])
def test_leaky_unit_is_not_a_counter(anbn, z):
    net = leaky_gru(z)
    rep = find_counters(net, anbn, n_train=50)
    (u,) = rep.units
    # a whole-word linear fit alone would call it a counter at n <= 50 ...
    assert u.r2_whole >= 0.99 and u.r2 >= 0.99
    # ... but its increments decay geometrically by 1 - z per symbol
    assert u.decay_ratio == pytest.approx(1.0 - z, rel=2e-5)
    assert u.stretch >= 2 * 50  # long enough: it is the fitted decay that rejects it
    assert not u.unbounded and not u.is_counter
    assert rep.counters == [] and rep.counting_probes == []
    # it is the unboundedness test that rejects it, at any slope threshold
    loose = find_counters(net, anbn, n_train=50, min_slope=1e-5, r2_min=0.9)
    assert loose.counters == []
    assert "no counting unit" in rep.summary()


def test_saturating_unit_is_not_a_counter(anbn):
    rep = find_counters(saturating_gru(), anbn, n_train=50)
    (u,) = rep.units
    assert not u.is_counter and u.r2 < 0.5 and rep.counting_probes == []


def test_sensitivity_table_counts_detections_per_threshold(anbn):
    rep = find_counters(counting_lstm("float32"), anbn, n_train=30, n_max=300)
    rows = sensitivity_rows(rep)
    keys = {r["threshold"] for r in rows}
    assert keys == {"r2_min", "min_slope", "persistence_min", "probe_r2_min"}
    for key in keys:
        counts = [r["n_units"] for r in rows if r["threshold"] == key]
        assert counts == sorted(counts, reverse=True)  # stricter, never more
    assert all(r["units"] == ["c0"] for r in rows if r["threshold"] == "r2_min")
    table = sensitivity_table(rep)
    assert "| r2_min | 0.98 (used) | 1: c0 |" in table
    with pytest.raises(ValueError, match="unknown threshold"):
        sensitivity_rows(rep, {"r3": (0.5,)})


def test_growth_at_a_tolerance_tells_a_leaky_unit_from_a_counter():
    leaky = growth_along(leaky_gru(0.002), "a", 5000)
    raw = growth_along(leaky_gru(0.002), "a", 5000, tol=0.0)
    assert raw.n_states[-1] == 5001  # a new float32 value at every step ...
    assert leaky.tol == GROWTH_TOL and leaky.n_states[-1] < 1000  # ... not a new state
    assert not leaky.keeps_growing() and leaky.growth_ratio() < 0.05
    assert not growth_along(leaky_gru(0.001), "a", 5000).keeps_growing()
    count = growth_along(counting_lstm("float32"), "a", 5000)
    assert count.n_states[-1] == 5001 and count.keeps_growing()
    assert count.growth_ratio() == pytest.approx(1.0)
    assert count.rate(0, 100) == pytest.approx(1.0)
    sat = growth_along(saturating_gru(), "a", 2000)
    assert sat.plateau_at() is not None and sat.n_states[-1] < 50 and not sat.keeps_growing()
    # the counter that runs out of float16 stops growing too
    assert not growth_along(counting_lstm("float16"), "a", 3000).keeps_growing()
    gl = reachable_states(leaky_gru(0.002), 60)
    assert gl.tol == GROWTH_TOL
    with pytest.raises(ValueError, match="tol"):
        growth_along(leaky_gru(0.002), "a", 5, tol=-1.0)


def _released(name: str):
    root = os.environ.get("EXPRESSIVITY_REFERENCE_DIR")
    if not root:
        pytest.skip("EXPRESSIVITY_REFERENCE_DIR is not set (the released Weiss et al. networks)")
    path = Path(root) / "weiss2018" / name
    if not path.exists():
        pytest.skip(f"{name} not found under EXPRESSIVITY_REFERENCE_DIR/weiss2018")
    return ex.load_weiss2018(path)


def test_released_anbn_lstm_counting_units(anbn):
    rep = find_counters(_released("anbn_lstm.npz"), anbn, n_train=99)
    names = {u.name for u in rep.counters}
    assert {"c2", "c9"} <= names
    for n in ("c2", "c9"):
        u = rep.unit(n)
        assert u.counter == 0 and u.r2 > 0.999 and abs(u.slope) == pytest.approx(1.0, abs=0.01)
        assert u.decay_ratio == pytest.approx(1.0, abs=1e-4)
    assert not any(u.name.startswith("h") for u in rep.counters)  # tanh(c) saturates
    assert any(p.counter == 0 for p in rep.counting_probes)


def test_released_anbncn_lstm_unit_c5_counts_a_minus_b_on_its_phases():
    abc = get_language("anbncn")
    rep = find_counters(_released("anbncn_lstm.npz"), abc, n_train=49)
    c5 = rep.unit("c5")
    assert c5.is_counter and c5.counter == 0 and c5.counter_name == "counter 0 (#a-#b)"
    assert c5.phases == "ab" and c5.r2 >= 0.99
    assert c5.r2_whole < 0.95  # the whole-word fit (the old test) misses it
    assert c5.decay_ratio == pytest.approx(1.0, abs=1e-3)
    # c3 counts #b-#c on the b/c phases; far beyond training (b^n after a^490) the
    # network ends its count abruptly, which is a break, not a decay
    c3 = rep.unit("c3")
    assert c3.is_counter and c3.counter == 1 and c3.phases == "bc" and c3.r2 >= 0.99
    assert c3.stretch >= 2 * 49 and not c3.linear_beyond
    assert {"c3", "c5"} <= {u.name for u in rep.counters}


def test_unboundedness_decision_on_growing_and_degenerate_decay_ratios():
    from expressivity.analysis import counters as c

    long = int(c.STRETCH_MIN * 10) + 1
    # a fitted ratio above 1 (increments that grow) must not overflow: it does not decay
    assert c._unbounded(1.5, long, 10) is True
    assert c._unbounded(1.0 + 1e-3, long, 10) is True
    # a contraction like a leaky unit's (rho = 1 - z) is not unbounded
    assert c._unbounded(1.0 - 0.002, long, 10) is False
    # no fit, or a stretch too short, is never called unbounded
    for rho in (float("nan"), 0.0, -0.5):
        assert c._unbounded(rho, long, 10) is False
    assert c._unbounded(1.0, 10, 10) is False
