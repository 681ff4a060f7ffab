"""The dense frontier search: defined by the network alone, never by the range evaluated."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from handbuilt import counts_lstm

import expressivity as ex
from expressivity.evaluate import (
    Frontier,
    describe_word,
    evaluate_counting,
    format_spacing,
    search_frontier,
)
from expressivity.languages import get_language


@pytest.fixture(scope="module")
def anbn():
    return get_language("anbn")


def test_exact_counter_is_checked_to_the_limit(anbn):
    f = search_frontier(counts_lstm(), anbn, limit=300)
    assert f == Frontier(300, 300, None, "limit", "", 1, "correct")
    assert not f.exact and str(f) == ">= 300 (no failure up to n = 300)"


def test_precision_break_is_found_and_explained(anbn):
    # bfloat16 (7 mantissa bits): 0.5 + 127 is the last count it holds
    f = search_frontier(counts_lstm("bfloat16"), anbn)
    assert (f.value, f.checked_to, f.first_failure) == (127, 128, 128)
    assert f.exact and f.reason == "positive rejected" and f.failed_on == "a^128 b^128"
    assert f.precision_explains is True
    assert "c0" in f.explanation or "c1" in f.explanation
    assert "number format explains" in str(f)
    assert f.to_json()["value"] == 127
    # at float64 the same weights count on: the break is the format's
    assert search_frontier(counts_lstm("float64"), anbn, limit=200).first_failure is None


def test_frontier_does_not_depend_on_the_range_evaluated(anbn):
    net = counts_lstm("bfloat16")
    seen = set()
    for n_max in (3, 40, 127, 200):
        m = evaluate_counting(net, anbn, n_max, n_min=0).metrics
        seen.add((m["frontier"], m["frontier_checked_to"], m["frontier_first_failure"]))
        assert m["accept_frontier"] == 127 and m["accept_frontier_first_failure"] == 128
        assert m["frontier_precision_explains"] is True
    assert seen == {(127, 128, 128)}
    # nor on the batch sizes of the walk
    small = search_frontier(net, anbn, batch_symbols=64, explain=False)
    assert (small.value, small.first_failure, small.precision_explains) == (127, 128, None)


def test_near_misses_decide_the_frontier(anbn):
    loose = counts_lstm(accept_below=0.3)  # accepts #a - #b in {-1, 0, 1}
    assert loose.accepts(anbn.near_misses(5)).all()
    f = search_frontier(loose, anbn, limit=50)
    assert (f.value, f.first_failure, f.reason) == (0, 1, "near miss accepted")
    assert f.failed_on == describe_word(anbn.near_misses(1)[0])
    assert search_frontier(loose, anbn, limit=50, criterion="accepted").value == 50
    m = evaluate_counting(loose, anbn, 10).metrics
    assert m["frontier"] == 0 and m["first_near_miss_accepted_n"] == 0
    # members alone are walked to 10 x where the frontier stopped, at least to n_max
    assert (m["accept_frontier"], m["accept_frontier_checked_to"]) == (10, 10)
    assert m["accept_frontier_first_failure"] is None


def test_no_search_reports_the_range(anbn):
    m = evaluate_counting(counts_lstm(), anbn, 12, frontier_limit=None).metrics
    assert (m["frontier"], m["frontier_checked_to"], m["frontier_first_failure"]) == (12, 12, None)
    m = evaluate_counting(counts_lstm(), anbn, 12, frontier_limit=40).metrics
    assert (m["frontier"], m["frontier_checked_to"]) == (40, 40)


def test_other_languages_use_their_own_near_misses():
    abc = get_language("anbncn")
    net = ex.Network.create("lstm", "abc", 3, head="accept", rng=np.random.default_rng(0))
    f = search_frontier(net, abc, limit=20)
    assert 0 <= f.value <= 20 and f.checked_to == (f.first_failure or 20)


def test_bad_input(anbn):
    net = counts_lstm()
    with pytest.raises(ValueError, match="criterion"):
        search_frontier(net, anbn, criterion="length")
    with pytest.raises(ValueError, match="start"):
        search_frontier(net, anbn, start=5, limit=4)
    with pytest.raises(ValueError, match="batch_symbols"):
        search_frontier(net, anbn, batch_symbols=0)
    with pytest.raises(ValueError, match="canonical members"):
        search_frontier(net, get_language("parity"), limit=3)


def test_format_spacing_and_describe_word():
    assert format_spacing("bfloat16", 128.0) == 1.0
    assert format_spacing("fixed8.4", 3.0) == 2.0**-4
    assert describe_word("((()") == "(^3 )^1"


def _reference(name: str) -> Path:
    root = os.environ.get("EXPRESSIVITY_REFERENCE_DIR")
    if not root:
        pytest.skip("EXPRESSIVITY_REFERENCE_DIR is not set (the released Weiss et al. networks)")
    path = Path(root) / "weiss2018" / name
    if not path.exists():
        pytest.skip(f"{name} not found under EXPRESSIVITY_REFERENCE_DIR/weiss2018")
    return path


def test_released_anbn_lstm_frontier_is_439(anbn):
    net = ex.load_weiss2018(_reference("anbn_lstm.npz"))
    f = search_frontier(net, anbn)
    assert (f.value, f.checked_to, f.first_failure) == (439, 440, 440)
    assert f.reason == "near miss accepted"
    # with the near misses as defined: none accepted up to 439, one at 440
    nm = anbn.near_misses(440)
    assert net.accepts(nm).any() and net.accepts([anbn.positive_of_n(440)])[0]
    assert f.failed_on in {describe_word(w) for w, a in zip(nm, net.accepts(nm)) if a}
    assert not net.accepts([w for n in (438, 439) for w in anbn.near_misses(n)]).any()
    assert f.precision_explains is False  # float64 weights accept it too
    # a^n b^n itself is accepted to 1423
    fa = search_frontier(net, anbn, criterion="accepted", start=1000, limit=2000)
    assert (fa.value, fa.first_failure) == (1423, 1424)
    # the same number however far the curve went
    for n_max in (99, 300):
        m = evaluate_counting(net, anbn, n_max, n_min=1, frontier_limit=500).metrics
        assert (m["frontier"], m["frontier_first_failure"]) == (439, 440)


def test_a_count_modulo_2_is_not_a_frontier(anbn):
    # one tanh unit that flips its sign at every symbol: accepts the words of even
    # length, so a^n b^m whenever n - m is even. It rejects every +-1 near miss (the
    # old definition called it right for every n); the +-2 near misses and the
    # continuation a^n b^(2n) do not.
    p = {"W_h": np.zeros((1, 2)), "U_h": np.array([[-20.0]]), "b_h": np.zeros(1),
         "h0": np.array([1.0]), "W_out": np.array([[20.0]]), "b_out": np.zeros(1)}  # fmt: skip
    net = ex.Network.from_params("elman-tanh", "ab", p, head="accept")
    assert net.accepts(["ab", "aabb", "aaab"]).all() and not net.accepts(["aab", "abb"]).any()
    f = search_frontier(net, anbn, limit=50)
    assert (f.value, f.first_failure, f.reason) == (0, 1, "near miss accepted")
    assert f.failed_on == "a^3 b^1" and f.definition == 2
    from expressivity.evaluate import continuation_of, frontier_near_misses

    assert "aaab" in frontier_near_misses(anbn, 1) and "ab" not in frontier_near_misses(anbn, 1)
    # along the continuation a^3 b^6 it accepts a^3 b^5 as well: the continuation test
    # catches a count modulo any period up to n on its own
    assert continuation_of(anbn, 3) == "aaabbbbbb" and net.accepts(["aaabbbbb"])[0]
