"""Conversions to AALpy and automata-lib keep the alphabet order (issue 12)."""

from __future__ import annotations

import pytest

from expressivity.languages.dfa import DFA
from expressivity.languages.errors import DFAError


def _ba_dfa() -> DFA:
    """Words over 'ba' (in that order) ending in 'a'."""
    t = {(0, "b"): 0, (0, "a"): 1, (1, "b"): 0, (1, "a"): 1}
    return DFA("ba", [0, 1], 0, [1], t)


def test_aalpy_round_trip_keeps_order():
    pytest.importorskip("aalpy")
    d = _ba_dfa()
    back = DFA.from_aalpy(d.to_aalpy())
    assert back.alphabet == "ba"
    assert DFA.equivalent(back, d) is None
    assert DFA.from_aalpy(d.to_aalpy(), alphabet="ab").alphabet == "ab"
    with pytest.raises(DFAError, match="does not hold"):
        DFA.from_aalpy(d.to_aalpy(), alphabet="a")


def test_automata_lib_round_trip_keeps_order():
    pytest.importorskip("automata.fa.dfa")
    d = _ba_dfa()
    back = DFA.from_automata_lib(d.to_automata_lib())
    assert back.alphabet == "ba"
    assert DFA.equivalent(back, d) is None
    assert DFA.from_automata_lib(d.to_automata_lib(), alphabet="ab").alphabet == "ab"


def test_automata_lib_foreign_dfa_is_sorted_or_as_given():
    mod = pytest.importorskip("automata.fa.dfa")
    foreign = mod.DFA(
        states={"p", "q"},
        input_symbols={"y", "x"},
        transitions={"p": {"x": "q", "y": "p"}, "q": {"x": "q", "y": "p"}},
        initial_state="p",
        final_states={"q"},
    )
    assert DFA.from_automata_lib(foreign).alphabet == "xy"
    d = DFA.from_automata_lib(foreign, alphabet="yx")
    assert d.alphabet == "yx" and d.accepts("yx") and not d.accepts("xy")
