"""Context-free grammars: parsing, CNF, Earley membership/next sets, uniform-derivation sampling.

Text format, one rule per line (``->``, ``→`` or ``::=``), alternatives with ``|``,
symbols separated by whitespace::

    S -> a S b | ε

A token that is the left side of some rule is a nonterminal; any other token is a run
of terminals (each character one symbol of the alphabet); ``ε``, ``eps`` or an empty
alternative is the empty string. The first left side is the start symbol. A dict
``{"S": ["a S b", ""]}`` works too.

Sampling by length is uniform over the derivation trees of the grammar's Chomsky
normal form, hence uniform over strings when the grammar is unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from .base import Language
from .errors import GrammarError
from .symbols import check_alphabet

__all__ = ["ContextFreeLanguage", "from_grammar", "parse_grammar"]

_EPS = {"ε", "eps", "''", '""'}
Rules = dict[str, list[tuple[str, ...]]]


def parse_grammar(text: str | Mapping, alphabet: str | None = None) -> tuple[Rules, str, str]:
    """Parse a grammar into ``(rules, start, alphabet)``; terminals are 1-char strings.

    Examples
    --------
    >>> rules, start, alpha = parse_grammar("S -> a S b | ε")
    >>> rules["S"], start, alpha
    ([('a', 'S', 'b'), ()], 'S', 'ab')
    """
    if isinstance(text, Mapping):
        raw = []
        for k, v in text.items():
            alts = [v] if isinstance(v, str) else v
            if (
                not isinstance(k, str)
                or not isinstance(alts, (list, tuple))
                or not all(isinstance(x, str) for x in alts)
            ):
                raise GrammarError(
                    f"grammar dict entry {k!r}: {v!r:.80} must map a str nonterminal to a str "
                    "or a list of str alternatives"
                )
            if not re.fullmatch(r"[A-Za-z_][\w']*", k):
                raise GrammarError(f"grammar dict: bad left-hand side {k!r}")
            raw.append((k, list(alts)))
    elif isinstance(text, str):
        raw = []
        for no, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.strip().startswith("#"):
                continue
            parts = re.split(r"->|→|::=", line, maxsplit=1)
            if len(parts) != 2:
                raise GrammarError(f"grammar line {no}: {line.strip()!r} has no '->'")
            lhs = parts[0].strip()
            if not re.fullmatch(r"[A-Za-z_][\w']*", lhs):
                raise GrammarError(f"grammar line {no}: bad left-hand side {lhs!r}")
            raw.append((lhs, parts[1].split("|")))
    else:
        raise TypeError(f"grammar must be a str or a dict, got {type(text).__name__}")
    if not raw:
        raise GrammarError("grammar has no rules")
    nonterminals = {lhs for lhs, _ in raw}
    rules: Rules = {}
    terminals: list[str] = []
    for lhs, alts in raw:
        for alt in alts:
            rhs: list[str] = []
            for tok in str(alt).split():
                if tok in nonterminals:
                    rhs.append(tok)
                elif tok in _EPS:
                    continue
                else:
                    for c in tok:
                        if alphabet is not None and c not in alphabet:
                            raise GrammarError(
                                f"rule {lhs} -> {alt.strip()!r}: {c!r} is neither a nonterminal "
                                f"nor a symbol of the alphabet {alphabet!r}"
                            )
                        if c not in terminals:
                            terminals.append(c)
                        rhs.append(c)
            rules.setdefault(lhs, []).append(tuple(rhs))
    clash = nonterminals & set(terminals)
    if clash:
        raise GrammarError(f"symbols {sorted(clash)} are both terminals and nonterminals")
    if alphabet is None:
        if not terminals:
            raise GrammarError("grammar uses no terminal symbols: pass alphabet=")
        alphabet = "".join(sorted(terminals))
    return rules, raw[0][0], check_alphabet(alphabet)


def _to_cnf(rules: Rules, start: str) -> tuple[dict, dict, bool, str]:
    """CNF: ``(binary {A: [(B, C)]}, terminal {A: [a]}, empty_in_language, start)``."""
    counter = [0]

    def fresh(base: str) -> str:
        counter[0] += 1
        return f"{base}#{counter[0]}"

    s0 = fresh("S0")
    work: list[tuple[str, tuple[str, ...]]] = [(s0, (start,))]
    work += [(a, rhs) for a, alts in rules.items() for rhs in alts]
    nts = {s0, *rules}
    term_nt: dict[str, str] = {}
    bin_rules: list[tuple[str, tuple[str, ...]]] = []
    for a, rhs in work:  # TERM + BIN
        if len(rhs) >= 2:
            rhs = tuple(term_nt.setdefault(x, fresh(f"T_{x}")) if x not in nts else x for x in rhs)
        while len(rhs) > 2:
            b = fresh(a)
            bin_rules.append((a, (rhs[0], b)))
            a, rhs = b, rhs[1:]
        bin_rules.append((a, rhs))
    bin_rules += [(nt, (t,)) for t, nt in term_nt.items()]
    nts |= {a for a, _ in bin_rules}
    nullable: set[str] = set()
    changed = True
    while changed:
        changed = False
        for a, rhs in bin_rules:
            if a not in nullable and all(x in nullable for x in rhs):
                nullable.add(a)
                changed = True
    rules2: set[tuple[str, tuple[str, ...]]] = set()
    for a, rhs in bin_rules:  # DEL
        if len(rhs) == 2:
            rules2.add((a, rhs))
            for i in (0, 1):
                if rhs[i] in nullable:
                    rules2.add((a, (rhs[1 - i],)))
        elif len(rhs) == 1:
            rules2.add((a, rhs))
    unit = {a: {a} for a in nts}  # UNIT closure: unit[a] = nonterminals reachable by unit rules
    changed = True
    while changed:
        changed = False
        for a, rhs in rules2:
            if len(rhs) == 1 and rhs[0] in nts:
                for x in list(unit):
                    if a in unit[x] and rhs[0] not in unit[x]:
                        unit[x].add(rhs[0])
                        changed = True
    binary: dict[str, set] = {a: set() for a in nts}
    terminal: dict[str, set] = {a: set() for a in nts}
    for x in nts:
        for a, rhs in rules2:
            if a in unit[x]:
                if len(rhs) == 2:
                    binary[x].add(rhs)
                elif rhs[0] not in nts:
                    terminal[x].add(rhs[0])
    productive: set[str] = {a for a in nts if terminal[a]}
    changed = True
    while changed:
        changed = False
        for a in nts - productive:
            if any(b in productive and c in productive for b, c in binary[a]):
                productive.add(a)
                changed = True
    reach, stack = {s0}, [s0]
    while stack:
        a = stack.pop()
        for b, c in binary[a]:
            if b in productive and c in productive:
                for x in (b, c):
                    if x not in reach:
                        reach.add(x)
                        stack.append(x)
    keep = reach & productive
    bin_out = {a: sorted((b, c) for b, c in binary[a] if b in keep and c in keep) for a in keep}
    term_out = {a: sorted(terminal[a]) for a in keep}
    return bin_out, term_out, s0 in nullable, s0


class ContextFreeLanguage(Language):
    """A language given by a context-free grammar (Earley parsing on its CNF).

    Examples
    --------
    >>> lang = ContextFreeLanguage("anbn-cfg", "S -> a S b | ε")
    >>> lang.contains("aabb"), sorted(lang.next_symbols("aab")), lang.enumerate(4)
    (True, ['b'], ['', 'ab', 'aabb'])
    """

    def __init__(self, name: str, grammar: str | Mapping, alphabet: str | None = None) -> None:
        rules, start, alphabet = parse_grammar(grammar, alphabet)
        super().__init__(name, alphabet)
        self._bin, self._term, self._eps, self._start = _to_cnf(rules, start)
        self._counts: dict[str, list[int]] = {a: [0] for a in self._bin}
        self._count_len = 0

    # ------------------------------------------------------------------ Earley on CNF
    def _scan_masks(self, codes: np.ndarray, length: int) -> tuple[np.ndarray, bool]:
        """Masks after each prefix (shape (length+1, k+1)) and membership."""
        k = self.n_symbols
        masks = np.zeros((length + 1, k + 1), dtype=np.bool_)
        if self._start not in self._bin:  # empty language apart from maybe ε
            masks[0, k] = self._eps
            return masks, length == 0 and self._eps
        # items: (lhs, rhs tuple, dot, origin); rhs of a terminal rule is (a,)
        chart: list[set] = [set() for _ in range(length + 1)]

        def closure(i: int, todo: list) -> None:
            items = chart[i]
            while todo:
                it = todo.pop()
                if it in items:
                    continue
                items.add(it)
                lhs, rhs, dot, origin = it
                if dot < len(rhs):
                    nxt = rhs[dot]
                    if nxt in self._bin:
                        for r in self._bin[nxt]:
                            todo.append((nxt, r, 0, i))
                        for t in self._term[nxt]:
                            todo.append((nxt, (t,), 0, i))
                else:
                    for l2, r2, d2, o2 in list(chart[origin]):
                        if d2 < len(r2) and r2[d2] == lhs:
                            todo.append((l2, r2, d2 + 1, o2))

        top = ("<top>", (self._start,), 0, 0)
        closure(0, [top])
        member = length == 0 and self._eps
        for i in range(length + 1):
            items = chart[i]
            for _lhs, rhs, dot, _ in items:
                if dot < len(rhs) and rhs[dot] not in self._bin and rhs[dot] in self.alphabet:
                    masks[i, self.alphabet.index(rhs[dot])] = True
            done = ("<top>", (self._start,), 1, 0) in items
            masks[i, k] = done or (i == 0 and self._eps)
            if i == length:
                member = bool(masks[i, k])
                break
            sym = self.alphabet[codes[i]]
            todo = [
                (lhs, rhs, dot + 1, o)
                for lhs, rhs, dot, o in items
                if dot < len(rhs) and rhs[dot] == sym
            ]
            if not todo:
                break
            closure(i + 1, todo)
        return masks, member

    def _member(self, codes, lengths):
        return np.array(
            [self._scan_masks(c, int(n))[1] for c, n in zip(codes, lengths)], dtype=np.bool_
        )

    def _next_masks(self, codes, lengths):
        t = codes.shape[1]
        out = np.zeros((len(lengths), t + 1, self.n_symbols + 1), dtype=np.bool_)
        for i, (c, n) in enumerate(zip(codes, lengths)):
            out[i, : int(n) + 1] = self._scan_masks(c, int(n))[0]
        return out

    # ------------------------------------------------------------------ counting / sampling
    def _ensure_counts(self, length: int) -> None:
        while self._count_len < length:
            n = self._count_len + 1
            for a in self._bin:
                total = len(self._term[a]) if n == 1 else 0
                for b, c in self._bin[a]:
                    total += sum(self._counts[b][i] * self._counts[c][n - i] for i in range(1, n))
                self._counts[a].append(total)
            self._count_len = n

    def count(self, length: int) -> int:
        """Number of CNF derivations of strings of this length (= strings if unambiguous)."""
        if length == 0:
            return int(self._eps)
        if self._start not in self._bin:
            return 0
        self._ensure_counts(length)
        return self._counts[self._start][length]

    def has_length(self, length):
        return length >= 0 and self.count(length) > 0

    def _derive(self, rng, a: str, n: int, out: list[str]) -> None:
        """One uniform derivation of length ``n`` from ``a`` (an explicit stack: no recursion
        limit on the length; the same draws, in the same order, as a left-first recursion)."""
        stack = [(a, n)]
        while stack:
            a, n = stack.pop()
            total = self._counts[a][n]
            r = int(rng.integers(0, 2**62)) % total if total < 2**62 else _big_randint(rng, total)
            if n == 1:
                out.append(self._term[a][r])
                continue
            for b, c in self._bin[a]:
                for i in range(1, n):
                    w = self._counts[b][i] * self._counts[c][n - i]
                    if r < w:
                        stack.append((c, n - i))
                        stack.append((b, i))
                        break
                    r -= w
                else:
                    continue
                break
            else:
                raise AssertionError("unreachable")

    def _sample_codes(self, rng, length, count):
        out = np.zeros((count, length), dtype=np.int32)
        if length == 0:
            return out
        self._ensure_counts(length)
        for i in range(count):
            syms: list[str] = []
            self._derive(rng, self._start, length, syms)
            out[i] = [self.alphabet.index(s) for s in syms]
        return out


def _big_randint(rng: np.random.Generator, total: int) -> int:
    bits = total.bit_length() + 64
    words = rng.integers(0, 2**32, size=(bits + 31) // 32, dtype=np.uint64)
    return int("".join(f"{int(w):032b}" for w in words), 2) % total


def from_grammar(
    grammar: str | Mapping, alphabet: str | None = None, name: str = "cfg"
) -> ContextFreeLanguage:
    """A language from a context-free grammar (membership, next sets, sampling).

    Raises
    ------
    GrammarError
        A line without ``->``, a bad left side, a symbol outside ``alphabet``, no rules.

    Examples
    --------
    >>> import numpy as np
    >>> lang = from_grammar("S -> ( S ) S | ε")
    >>> w = lang.sample_positive(np.random.default_rng(0), length=4, count=1)[0]
    >>> lang.contains("(()())"), w in ["(())", "()()"]
    (True, True)
    """
    return ContextFreeLanguage(name, grammar, alphabet)
