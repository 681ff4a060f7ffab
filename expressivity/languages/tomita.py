"""The Tomita grammars (both Tomita-3 forms) and parity, as minimal DFAs.

``tomita-3`` is the form of Weiss et al. (2018) and AALpy: no odd-length block of 1s
is followed *anywhere later* by an odd-length block of 0s. ``tomita-3-adjacent`` only
forbids an odd block of 1s *immediately* followed by an odd block of 0s. They differ
on e.g. ``100110`` (rejected by ``tomita-3``, accepted by ``tomita-3-adjacent``).
Sizes are of the minimal complete DFA with the sink counted.
"""

from __future__ import annotations

from .dfa import DFA
from .regular import RegularLanguage

__all__ = ["tomita", "parity", "TOMITA_NAMES"]

_X = "x"  # sink

_TABLES: dict[str, tuple[str, list[str], dict[str, tuple[str, str]]]] = {
    # name: (start, accepting, {state: (on "0", on "1")})
    "tomita-1": ("A", ["A"], {"A": (_X, "A"), _X: (_X, _X)}),
    "tomita-2": ("A", ["A"], {"A": (_X, "B"), "B": ("A", _X), _X: (_X, _X)}),
    # A: no pending odd 1-block, not inside an odd 1-run; B: inside an odd 1-run (clean);
    # C: after an odd 1-block, inside an odd 0-run; D: after an odd 1-block, 0-run even
    # or inside a later 1-run.
    "tomita-3": (
        "A",
        ["A", "B", "D"],
        {"A": ("A", "B"), "B": ("C", "A"), "C": ("D", _X), "D": ("C", "D"), _X: (_X, _X)},
    ),
    "tomita-3-adjacent": (
        "A",
        ["A", "B", "D"],
        {"A": ("A", "B"), "B": ("C", "A"), "C": ("D", _X), "D": ("C", "B"), _X: (_X, _X)},
    ),
    "tomita-4": (
        "0",
        ["0", "1", "2"],
        {"0": ("1", "0"), "1": ("2", "0"), "2": (_X, "0"), _X: (_X, _X)},
    ),
    "tomita-5": (
        "ee",
        ["ee"],
        {"ee": ("oe", "eo"), "oe": ("ee", "oo"), "eo": ("oo", "ee"), "oo": ("eo", "oe")},
    ),
    "tomita-6": ("0", ["0"], {"0": ("1", "2"), "1": ("2", "0"), "2": ("0", "1")}),
    "tomita-7": (
        "p0",
        ["p0", "p1", "p2", "p3"],
        {
            "p0": ("p0", "p1"),
            "p1": ("p2", "p1"),
            "p2": ("p2", "p3"),
            "p3": (_X, "p3"),
            _X: (_X, _X),
        },
    ),
}

TOMITA_NAMES = tuple(_TABLES)


def _build(alphabet: str, spec) -> DFA:
    start, acc, rows = spec
    trans = {(q, alphabet[j]): row[j] for q, row in rows.items() for j in range(len(alphabet))}
    return DFA(alphabet, list(rows), start, acc, trans)


def tomita(name: str) -> RegularLanguage:
    """One of ``tomita-1`` ... ``tomita-7`` or ``tomita-3-adjacent`` over ``"01"``.

    Examples
    --------
    >>> tomita("tomita-3").contains("100110"), tomita("tomita-3-adjacent").contains("100110")
    (False, True)
    """
    if name not in _TABLES:
        raise KeyError(f"unknown Tomita language {name!r}; known: {list(_TABLES)}")
    return RegularLanguage(name, _build("01", _TABLES[name]))


def parity() -> RegularLanguage:
    """``parity``: strings over ``"ab"`` with an even number of ``b`` (2 states, no sink).

    Examples
    --------
    >>> parity().contains("abab"), parity().dfa().n_states
    (True, 2)
    """
    spec = ("e", ["e"], {"e": ("e", "o"), "o": ("o", "e")})
    return RegularLanguage("parity", _build("ab", spec))
