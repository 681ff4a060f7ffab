"""Counting constraints: exact answers for short lengths, cost bounded by what is asked."""

from __future__ import annotations

import numpy as np
import pytest
from lang_oracles import all_strings, brute_next

from expressivity.languages import ConstraintError, from_constraints
from expressivity.languages.constraints import MAX_COUNT_VECTORS


def _truth(w: str) -> bool:
    return w.count("a") == w.count("b") + 1


@pytest.mark.parametrize("alphabet", ["ab", "abc", "abcd"])
def test_unmentioned_symbols_exhaustive(alphabet):
    """Symbols the constraint does not mention: membership, next sets, enumeration exact."""
    max_len = 6 if len(alphabet) < 4 else 5
    words = all_strings(alphabet, max_len)
    truth = np.array([_truth(w) for w in words])
    members = {w for w, t in zip(words, truth) if t}
    lang = from_constraints(alphabet, "#a = #b + 1")
    assert np.array_equal(lang.contains_batch(words), truth)
    assert lang.enumerate(max_len) == [w for w in words if _truth(w)]
    for p in all_strings(alphabet, 2):
        h = max_len - len(p) - 1  # look-ahead matched to the brute-force bound
        got = from_constraints(alphabet, "#a = #b + 1", horizon=h).next_symbols_mask(p)
        assert np.array_equal(got, brute_next(members, p, alphabet)), p


def test_sampling_uniform_over_unmentioned_symbols():
    lang = from_constraints("abc", "#a = #b")
    rng = np.random.default_rng(3)
    draws = lang.sample_positive(rng, length=2, count=6000)  # ab ba cc: uniform over 3
    counts = np.array([draws.count(w) for w in ["ab", "ba", "cc"]])
    assert counts.sum() == 6000 and counts.min() > 1700
    assert not lang.has_length(-1) and lang.has_length(1)  # "c"
    assert lang.sample_positive(rng, length=1, count=2) == ["c", "c"]


def test_constant_constraint():
    assert from_constraints("ab", "1 = 1").enumerate(2) == ["", "a", "b", "aa", "ab", "ba", "bb"]
    never = from_constraints("ab", "1 = 2")
    assert never.enumerate(3) == [] and not never.has_length(2) and not never.contains("ab")


def test_large_alphabets_build_at_once():
    """Construction enumerates nothing: 12 and 300 symbols work when few are mentioned."""
    lang = from_constraints("abcdefghijkl", "#a = #b")
    assert lang.contains("abkl") and not lang.contains("aakl")
    assert sorted(lang.next_symbols("a")) == list("abcdefghijkl")
    assert lang.next_symbols_mask("")[-1]  # the empty word is a member
    big = "".join(chr(0x100 + i) for i in range(300))
    lang = from_constraints(big, f"#{big[0]} = #{big[1]} + 1")
    assert lang.contains(big[0] + big[7]) and not lang.contains(big[7])
    w = lang.sample_positive(np.random.default_rng(0), length=5, count=20)
    assert lang.contains_batch(w).all()
    assert len(lang.next_symbols(big[0])) == 301  # every symbol, and the end


def test_horizon_validation_and_huge_horizon():
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="horizon"):
            from_constraints("ab", "#a = #b", horizon=bad)
    lang = from_constraints("ab", "#a = #b", horizon=10**6)  # builds at once
    assert lang.contains("abba") and not lang.contains("a")
    with pytest.raises(ConstraintError, match=r"horizon=1000000.*smaller horizon"):
        lang.next_symbols("a")
    one = from_constraints("ab", "#a = 2", horizon=10**5)  # one mentioned symbol: cheap
    assert sorted(one.next_symbols("a")) == ["a", "b"]


def test_too_many_count_vectors_refused():
    letters = "abcdefghijkl"
    lang = from_constraints(letters, " + ".join(f"#{c}" for c in letters) + " = 5")
    assert lang.contains("abcde") and not lang.contains("abc")
    with pytest.raises(ConstraintError, match="count vectors"):
        lang.next_symbols("a")
    with pytest.raises(ConstraintError, match="length 200"):
        lang.has_length(200)
    assert MAX_COUNT_VECTORS > 0


@pytest.mark.parametrize(
    "bad,match",
    [
        ("#a % 0 = 1", "modulus"),
        ("#a % (1 - 1) = 1", "modulus"),
        ("#a % #b = 1", "modulus"),
        ("(" * 5000 + "#a" + ")" * 5000 + " = 1", "nested"),
        ("-" * 5000 + "#a = 1", "nested"),
    ],
)
def test_bad_constraints_named(bad, match):
    with pytest.raises(ConstraintError, match=match) as info:
        from_constraints("ab", bad)
    assert "constraint" in str(info.value)


@pytest.mark.parametrize("bad", [5, None, 2.5, [1], ["#a = 1", object()]])
def test_constraints_of_wrong_type(bad):
    with pytest.raises(ConstraintError, match="constraint"):
        from_constraints("ab", bad)
