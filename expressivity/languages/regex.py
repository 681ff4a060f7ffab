"""Regular expressions -> minimal DFA (Thompson NFA, subset construction, Hopcroft).

Syntax: symbols of the alphabet, ``|`` (union), juxtaposition (concatenation), postfix
``*``, ``+``, ``?``, parentheses, ``.`` (any symbol), ``[abc]`` (a class), and ``ε``
or ``()`` for the empty string. Whitespace is ignored (so an alphabet may not
contain it); parentheses nest at most ``MAX_NESTING`` deep.
"""

from __future__ import annotations

from .dfa import DFA
from .errors import RegexError
from .regular import RegularLanguage
from .symbols import check_alphabet

__all__ = ["from_regex", "regex_to_dfa"]

_SPECIAL = set("|*+?()[].ε")
#: deepest nesting of parentheses a pattern may use
MAX_NESTING = 100
#: most DFA states the subset construction may build before it refuses
MAX_DFA_STATES = 100_000


class _NFA:
    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.sym: list[list[tuple[str, int]]] = []

    def new(self) -> int:
        self.eps.append([])
        self.sym.append([])
        return len(self.eps) - 1


class _Parser:
    def __init__(self, text: str, alphabet: str) -> None:
        self.text = "".join(text.split())
        self.alphabet = alphabet
        self.i = 0
        self.depth = 0
        self.nfa = _NFA()

    def error(self, msg: str) -> RegexError:
        text = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return RegexError(f"regex {text!r}, position {self.i}: {msg}")

    def peek(self) -> str | None:
        return self.text[self.i] if self.i < len(self.text) else None

    def parse(self) -> tuple[int, int]:
        frag = self.union()
        if self.peek() is not None:
            raise self.error(
                f"unexpected {self.peek()!r}" + (" (unbalanced ')')" if self.peek() == ")" else "")
            )
        return frag

    def union(self) -> tuple[int, int]:
        frags = [self.concat()]
        while self.peek() == "|":
            self.i += 1
            frags.append(self.concat())
        if len(frags) == 1:
            return frags[0]
        s, e = self.nfa.new(), self.nfa.new()
        for a, b in frags:
            self.nfa.eps[s].append(a)
            self.nfa.eps[b].append(e)
        return s, e

    def concat(self) -> tuple[int, int]:
        frags = []
        while self.peek() is not None and self.peek() not in "|)":
            frags.append(self.postfix())
        if not frags:
            s = self.nfa.new()
            return s, s
        for (_, b), (c, _) in zip(frags, frags[1:]):
            self.nfa.eps[b].append(c)
        return frags[0][0], frags[-1][1]

    def postfix(self) -> tuple[int, int]:
        a, b = self.atom()
        while self.peek() in ("*", "+", "?"):
            op = self.peek()
            self.i += 1
            s, e = self.nfa.new(), self.nfa.new()
            self.nfa.eps[s].append(a)
            self.nfa.eps[b].append(e)
            if op in "*?":
                self.nfa.eps[s].append(e)
            if op in "*+":
                self.nfa.eps[b].append(a)
            a, b = s, e
        return a, b

    def _symbols(self, chars: str) -> tuple[int, int]:
        s, e = self.nfa.new(), self.nfa.new()
        for c in chars:
            self.nfa.sym[s].append((c, e))
        return s, e

    def atom(self) -> tuple[int, int]:
        c = self.peek()
        if c == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"parentheses nested deeper than {MAX_NESTING} levels")
            self.i += 1
            frag = self.union()
            if self.peek() != ")":
                raise self.error("missing ')'")
            self.i += 1
            self.depth -= 1
            return frag
        if c in ("*", "+", "?"):
            raise self.error(f"{c!r} has nothing to repeat")
        if c == "ε":
            self.i += 1
            s = self.nfa.new()
            return s, s
        if c == ".":
            self.i += 1
            return self._symbols(self.alphabet)
        if c == "[":
            end = self.text.find("]", self.i)
            if end < 0:
                raise self.error("missing ']'")
            chars = self.text[self.i + 1 : end]
            if not chars:
                raise self.error("empty class []")
            for x in chars:
                if x not in self.alphabet:
                    raise self.error(f"symbol {x!r} is not in the alphabet {self.alphabet!r}")
            self.i = end + 1
            return self._symbols(chars)
        if c not in self.alphabet:
            raise self.error(f"symbol {c!r} is not in the alphabet {self.alphabet!r}")
        self.i += 1
        return self._symbols(c)


def regex_to_dfa(pattern: str, alphabet: str | None = None) -> DFA:
    """Minimal complete DFA of a regular expression.

    ``alphabet`` defaults to the sorted symbols used in ``pattern``.

    Examples
    --------
    >>> regex_to_dfa("(10)*", "01").n_states
    3
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str, got {type(pattern).__name__}")
    if alphabet is None:
        alphabet = "".join(sorted(set("".join(pattern.split())) - _SPECIAL))
        if not alphabet:
            raise RegexError(f"regex {pattern!r} uses no symbols: pass alphabet=")
    check_alphabet(alphabet)
    bad = set(alphabet) & _SPECIAL
    if bad:
        raise RegexError(f"alphabet {alphabet!r} contains regex operators {sorted(bad)}")
    blank = [c for c in alphabet if c.isspace()]
    if blank:
        raise RegexError(
            f"alphabet {alphabet!r} contains whitespace {blank}, which a regex ignores; "
            "use visible symbols (or from_dfa / from_grammar for such an alphabet)"
        )
    p = _Parser(pattern, alphabet)
    start, accept = p.parse()
    nfa = p.nfa

    def closure(states: frozenset[int]) -> frozenset[int]:
        stack, seen = list(states), set(states)
        while stack:
            for t in nfa.eps[stack.pop()]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)

    s0 = closure(frozenset([start]))
    index = {s0: 0}
    order = [s0]
    trans = {}
    i = 0
    while i < len(order):
        cur = order[i]
        for c in alphabet:
            nxt = closure(frozenset(t for q in cur for (x, t) in nfa.sym[q] if x == c))
            if nxt not in index:
                if len(order) >= MAX_DFA_STATES:
                    raise RegexError(
                        f"regex {pattern[:60]!r}: its subset construction passes "
                        f"{MAX_DFA_STATES:,} DFA states (the DFA of such a pattern can be "
                        "exponentially large); use a smaller pattern or build the DFA directly"
                    )
                index[nxt] = len(order)
                order.append(nxt)
            trans[(i, c)] = index[nxt]
        i += 1
    acc = [j for j, st in enumerate(order) if accept in st]
    return DFA(alphabet, list(range(len(order))), 0, acc, trans).minimize()


def from_regex(
    pattern: str, alphabet: str | None = None, name: str | None = None
) -> RegularLanguage:
    """A regular language from a regular expression (see the module doc for the syntax).

    Raises
    ------
    RegexError
        Unbalanced parentheses, a dangling operator, a symbol outside ``alphabet``,
        whitespace or an operator in ``alphabet``, nesting deeper than ``MAX_NESTING``.
    TypeError
        ``pattern`` is not a str.

    Examples
    --------
    >>> lang = from_regex("0*1*0*1*", name="t7")
    >>> lang.contains("0110"), lang.contains("01010"), lang.dfa().n_states
    (True, False, 5)
    """
    return RegularLanguage(name or f"regex:{pattern}", regex_to_dfa(pattern, alphabet))
