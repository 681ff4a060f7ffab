"""Prefix sharing gives the same answers as running every word from the start."""

from __future__ import annotations

import numpy as np
import pytest

import expressivity as ex
from expressivity.languages import get_language
from expressivity.prefixes import (
    PrefixPlan,
    accepts_shared,
    outputs_shared,
    prefix_accepts_shared,
    shared_acceptance,
)


def _words(rng, alphabet: str, n: int, max_len: int) -> list[str]:
    """Random words with many shared prefixes (drawn as extensions of each other)."""
    out = [""]
    for _ in range(n):
        base = out[rng.integers(len(out))]
        base = base[: rng.integers(len(base) + 1)]
        ext = "".join(rng.choice(list(alphabet), size=rng.integers(0, max_len)))
        out.append(base + ext)
    return out


def _ref_plan_words(plan: PrefixPlan, words: list[str]) -> None:
    """Every word is a prefix of its path, computed where the plan says."""
    for w, (i, n) in zip(words, plan.where):
        assert plan.paths[i][:n] == w
        assert plan.parent[i] < 0 or n > plan.depth[i]
    for i, p in enumerate(plan.paths):
        j = plan.parent[i]
        if j >= 0:
            assert plan.paths[j][: plan.depth[i]] == p[: plan.depth[i]]
            assert plan.level[i] == plan.level[j] + 1 and j < i
        else:
            assert plan.depth[i] == 0 and plan.level[i] == 0


def test_plan_structure():
    assert PrefixPlan([]).paths == [] and PrefixPlan([]).steps == 0
    p = PrefixPlan(["", ""])
    assert p.paths == [""] and p.where == [(0, 0), (0, 0)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        words = _words(rng, "abc", 15, 6)
        plan = PrefixPlan(words)
        _ref_plan_words(plan, words)
        # no path is a prefix of another
        for a in plan.paths:
            assert sum(b.startswith(a) for b in plan.paths) == 1
    with pytest.raises(TypeError, match="word 1 is list"):
        PrefixPlan(["ab", ["a", "b"]])


def test_anbn_near_misses_share_the_a_run():
    lang = get_language("anbn")
    ns = range(1, 41)
    words = [w for n in ns for w in [lang.positive_of_n(n), *lang.near_misses(n)]]
    plan = PrefixPlan(words)
    assert max(plan.level) == 1  # every b-run hangs off the longest a-run
    full = sum(len(w) for w in set(words))
    assert plan.steps < full / 3.5, (plan.steps, full)


@pytest.mark.parametrize(
    "cell,head,precision",
    [
        ("lstm", "accept", "float32"),
        ("gru", "next-symbol", "float32"),
        ("mgu", "next-set", "bfloat16"),
        ("elman-tanh", "accept", "float64"),
        ("gru-reset-after", "next-set", "e4m3"),
    ],
)
def test_equal_to_running_each_word(cell, head, precision):
    rng = np.random.default_rng(abs(hash((cell, head))) % 2**32)
    net = ex.Network.create(
        cell, "ab", 5, head=head, precision=precision, rng=np.random.default_rng(3)
    )
    words = _words(rng, "ab", 40, 9)
    lang = get_language("anbn")
    words += [w for n in range(1, 12) for w in [lang.positive_of_n(n), *lang.near_misses(n)]]
    want = net.accepts(words)
    for bs in (None, 7):  # one call per level, and many small calls
        got = accepts_shared(net, words, batch_symbols=bs)
        assert got.dtype == bool and np.array_equal(got, want)
    outs = outputs_shared(net, words, batch_symbols=11)
    for o, r in zip(outs, net.outputs(words)):
        assert o.shape == r.shape and np.array_equal(o, r)


def test_decisions_near_the_threshold_are_the_same():
    # threshold at the median output: about half the words accepted, many close calls
    net = ex.Network.create("lstm", "ab", 6, head="accept", rng=np.random.default_rng(7))
    words = ["a" * n + "b" * m for n in range(0, 25) for m in range(max(0, n - 2), n + 3)]
    ends = np.array([o[-1, 0] for o in net.outputs(words)])
    net = ex.Network.from_params(
        "lstm", "ab", net.params, head="accept", threshold=float(np.median(ends))
    )
    want = net.accepts(words)
    assert 0.3 < want.mean() < 0.7  # not all one answer: the comparison means something
    assert np.array_equal(accepts_shared(net, words), want)
    assert np.array_equal(want, [net.accepts([w])[0] for w in words])  # batch-independent


def test_bad_input():
    net = ex.Network.create("gru", "ab", 2, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="list of str"):
        accepts_shared(net, "ab")
    with pytest.raises(ValueError, match="alphabet"):
        accepts_shared(net, ["abc"])
    assert outputs_shared(net, []) == [] and accepts_shared(net, []).shape == (0,)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="batch_symbols must be an integer >= 1"):
            accepts_shared(net, ["ab"], batch_symbols=bad)
    with pytest.raises(ValueError, match="state0 must have shape"):
        net.trace(["a"], state0=np.zeros((2, 2)))


@pytest.mark.parametrize("head", ["accept", "next-symbol", "next-set"])
def test_every_prefix_and_words_in_one_plan(head):
    net = ex.Network.create("gru", "ab", 4, head=head, rng=np.random.default_rng(11))
    along = ["aabbab", "ab", "babb", ""]
    outs = np.concatenate(net.outputs(along))
    for q in (0.5, 0.3, 0.15, 0.05):  # a threshold that some prefixes pass and others do not
        net = ex.Network.from_params("gru", "ab", net.params, head=head,
                                     threshold=float(np.quantile(outs, q)))  # fmt: skip
        a = net.accepts([w[:t] for w in along for t in range(len(w) + 1)])
        if 0 < a.sum() < len(a):
            break
    words = ["aab", "ba", "bbbb", "a"]
    acc, pre = shared_acceptance(net, words, along=along, batch_symbols=5)
    assert np.array_equal(acc, net.accepts(words))
    for w, got in zip(along, pre):
        want = net.accepts([w[:t] for t in range(len(w) + 1)])
        assert got.shape == (len(w) + 1,) and np.array_equal(got, want)
    assert any(p.any() and not p.all() for p in pre)  # mixed answers: the test can fail
    assert [p.tolist() for p in prefix_accepts_shared(net, along)] == [p.tolist() for p in pre]
