"""The networks released with Weiss, Goldberg & Yahav (2018): counters in LSTMs, none in GRUs."""

from __future__ import annotations

import pytest

import expressivity as ex
from expressivity.analysis import find_counters
from expressivity.languages import get_language

load = getattr(ex, "load_weiss2018", None)

pytestmark = pytest.mark.skipif(load is None, reason="expressivity.load_weiss2018 is not available")


@pytest.mark.parametrize(
    "name, lang, n_train, expect_counter",
    [
        ("anbn_lstm", "anbn", 60, True),
        ("anbn_gru", "anbn", 60, False),
        ("anbncn_lstm", "anbncn", 30, True),
        ("anbncn_gru", "anbncn", 30, False),
    ],
)
def test_counting_units_in_lstms_not_grus(name, lang, n_train, expect_counter, weiss_dir):
    net = load(weiss_dir / f"{name}.npz")
    rep = find_counters(net, get_language(lang), n_train=n_train, n_max=3 * n_train)
    if expect_counter:
        assert rep.counters, rep.summary()
        assert all(u.name.startswith("c") for u in rep.counters)  # cell units count
        assert all(abs(u.slope) > 0.5 for u in rep.counters)
    else:
        assert rep.counters == [], rep.summary()
