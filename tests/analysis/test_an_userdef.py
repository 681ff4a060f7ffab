"""Extraction and counter detection on user-defined languages (regex, DFA, constraints)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import K, counting_lstm

import expressivity as ex
from expressivity.analysis import extract_dfa, find_counters
from expressivity.analysis.evaluate import eval_words, positives_of_length
from expressivity.languages import from_constraints, from_dfa, from_regex, get_language

EVAL = [0, 1, 2, 3, 6, 9, 30]


def a_counting_lstm(precision: str = "float32"):
    """LSTM with one unit whose cell adds +1 per 'a' and nothing per 'b' (c = #a)."""
    z2, z1 = np.zeros((1, 2)), np.zeros((1, 1))
    p = {
        "W_i": z2, "U_i": z1, "b_i": np.array([K]),
        "W_f": z2, "U_f": z1, "b_f": np.array([K]),
        "W_o": z2, "U_o": z1, "b_o": np.array([K]),
        "W_c": np.array([[K, 0.0]]), "U_c": z1, "b_c": np.zeros(1),
        "h0": np.zeros(1), "c0": np.zeros(1),
        "W_out": np.array([[-K]]), "b_out": np.array([K / 2]),
    }  # fmt: skip
    return ex.Network.from_params("lstm", alphabet="ab", params=p, head="accept",
                                  precision=precision)  # fmt: skip


def test_positives_of_user_languages():
    rng = np.random.default_rng(0)
    lang = from_constraints("ab", "#a = 2 * #b")
    ws = positives_of_length(lang, 9, 5, rng)
    assert len(ws) == 5 and all(len(w) == 9 and w.count("a") == 6 for w in ws)
    assert positives_of_length(lang, 10, 5, rng) == []  # no member of length 10
    words = eval_words(lang, [30], 10, rng=rng)[30]
    assert sum(lang.contains(w) for w in words) >= 5  # half are positives


def test_extract_on_constraint_language(counter_net):
    lang = from_constraints("ab", "#a = 2 * #b")
    ext = extract_dfa(counter_net, lang, "kmeans", k=4, max_len=6, eval_lengths=EVAL,
                      n_eval=20, rng=np.random.default_rng(0))  # fmt: skip
    assert set(ext.accuracy_by_length) == set(EVAL)
    assert 0.0 <= ext.fidelity <= 1.0
    assert ext.equivalent is None  # not regular: no DFA to compare with


@pytest.mark.parametrize("how", ["regex", "dfa-language", "dfa"])
def test_extract_on_regex_and_dfa_languages(parity_net, how):
    true = get_language("parity").dfa()
    lang = {
        "regex": lambda: from_regex("(a*ba*b)*a*", alphabet="ab"),
        "dfa-language": lambda: from_dfa(true),
        "dfa": lambda: true,
    }[how]()
    ext = extract_dfa(parity_net, lang, "lstar", eval_lengths=EVAL, n_eval=20,
                      rng=np.random.default_rng(0))  # fmt: skip
    assert ext.equivalent is True and ext.counterexample is None
    assert ext.accuracy_by_length[30] == 1.0


def test_find_counters_on_constraint_language():
    lang = from_constraints("ab", "#a = 2 * #b")
    rep = find_counters(a_counting_lstm(), lang, n_train=30, n_max=90)
    # the members are sampled (the language has no canonical ones); the cell follows #a
    c = rep.unit("c0")
    assert c.counter == 0 and c.slope == pytest.approx(1.0) and c.r2 == pytest.approx(1.0)
    assert c.r2_far == pytest.approx(1.0)
    assert rep.unit("h0").r2 < 0.5  # tanh(c) saturates


def test_find_counters_says_why_a_regular_language_cannot_be_used(parity_net):
    with pytest.raises(ValueError, match="no ground-truth counters.*extract_dfa"):
        find_counters(parity_net, from_regex("(a*ba*b)*a*", alphabet="ab"))
    with pytest.raises(ValueError, match="no ground-truth counters"):
        find_counters(counting_lstm(), get_language("parity").dfa())
