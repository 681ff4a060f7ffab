"""Languages defined by counting constraints over symbol counts, e.g. ``#a = #b + #c``.

Constraint text is parsed by a small recursive-descent parser into sympy objects
(never ``eval``): integers, ``#x`` (count of symbol ``x``), ``+ - *``, ``%`` (mod),
parentheses, one relation ``= == != < <= > >=`` per constraint; several constraints
are given as a list or joined by ``,`` / ``and``. sympy relations over symbols named
``n_x`` (or ``x``) are accepted as they are.

Next-symbol sets look ahead a bounded number of symbols (``horizon``, default 16):
symbol ``s`` is allowed after ``p`` when some extension of ``p + s`` by at most
``horizon`` more symbols satisfies the constraints.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

import numpy as np
import sympy
from numba import njit

from .base import Language
from .errors import ConstraintError
from .symbols import check_alphabet

__all__ = ["ConstraintLanguage", "from_constraints", "parse_constraint"]

_TOKEN = re.compile(r"\s*(?:(\d+)|#(\S)|(==|!=|<=|>=|=|<|>)|([-+*%()]))")


def parse_constraint(text: str, alphabet: str) -> sympy.Basic:
    """Parse one constraint into a sympy relation over symbols ``n_<x>``.

    Examples
    --------
    >>> parse_constraint("#a = #b + #c", "abc")
    Eq(n_a, n_b + n_c)
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConstraintError(f"constraint {text!r}: cannot parse at {text[pos:]!r}")
        num, sym, rel, op = m.groups()
        if sym is not None and sym not in alphabet:
            raise ConstraintError(f"constraint {text!r}: #{sym} is not a symbol of {alphabet!r}")
        kind = "num" if num else "sym" if sym else "rel" if rel else "op"
        tokens.append((kind, num or sym or rel or op))
        pos = m.end()
    i = 0

    def peek() -> tuple[str, str] | None:
        return tokens[i] if i < len(tokens) else None

    def expr():
        nonlocal i
        val = term()
        while peek() and peek()[1] in "+-" and peek()[0] == "op":
            op = tokens[i][1]
            i += 1
            val = val + term() if op == "+" else val - term()
        return val

    def term():
        nonlocal i
        val = factor()
        while peek() and peek()[0] == "op" and peek()[1] in "*%":
            op = tokens[i][1]
            i += 1
            rhs = factor()
            val = val * rhs if op == "*" else sympy.Mod(val, rhs)
        return val

    def factor():
        nonlocal i
        tok = peek()
        if tok is None:
            raise ConstraintError(f"constraint {text!r}: unexpected end")
        i += 1
        if tok[0] == "num":
            return sympy.Integer(int(tok[1]))
        if tok[0] == "sym":
            return sympy.Symbol(f"n_{tok[1]}", integer=True, nonnegative=True)
        if tok == ("op", "-"):
            return -factor()
        if tok == ("op", "("):
            val = expr()
            if peek() != ("op", ")"):
                raise ConstraintError(f"constraint {text!r}: missing ')'")
            i += 1
            return val
        raise ConstraintError(f"constraint {text!r}: unexpected {tok[1]!r}")

    lhs = expr()
    if peek() is None or peek()[0] != "rel":
        raise ConstraintError(f"constraint {text!r} needs one relation (=, !=, <, <=, >, >=)")
    rel = tokens[i][1]
    i += 1
    rhs = expr()
    if peek() is not None:
        raise ConstraintError(f"constraint {text!r}: unexpected {peek()[1]!r} after the relation")
    ops = {"=": sympy.Eq, "==": sympy.Eq, "!=": sympy.Ne, "<": sympy.Lt, "<=": sympy.Le,
           ">": sympy.Gt, ">=": sympy.Ge}  # fmt: skip
    return ops[rel](lhs, rhs)


@njit(cache=True)
def _permute_rows(rng, counts):  # pragma: no cover - jitted
    m, k = counts.shape
    length = 0
    for j in range(k):
        length += counts[0, j]
    out = np.empty((m, length), dtype=np.int32)
    for i in range(m):
        t = 0
        for j in range(k):
            for _ in range(counts[i, j]):
                out[i, t] = j
                t += 1
        for t in range(length - 1, 0, -1):
            r = rng.integers(0, t + 1)
            out[i, t], out[i, r] = out[i, r], out[i, t]
    return out


class ConstraintLanguage(Language):
    """Strings whose symbol counts satisfy all the given constraints.

    Examples
    --------
    >>> lang = ConstraintLanguage("eq", "abc", ["#a = #b + #c"])
    >>> lang.contains("abca"), lang.contains("abc")
    (True, False)
    """

    def __init__(self, name: str, alphabet: str, constraints, horizon: int = 16) -> None:
        super().__init__(name, check_alphabet(alphabet))
        if isinstance(constraints, (str, sympy.Basic)):
            constraints = [constraints]
        rels: list[sympy.Basic] = []
        for c in constraints:
            if isinstance(c, str):
                parts = [p for p in re.split(r",|\band\b", c) if p.strip()]
                if not parts:
                    raise ConstraintError(f"empty constraint {c!r}")
                rels.extend(parse_constraint(p, alphabet) for p in parts)
            elif isinstance(c, sympy.Basic):
                rels.append(self._rename(c))
            else:
                raise ConstraintError(f"constraint {c!r} must be a str or a sympy relation")
        if not rels:
            raise ConstraintError("at least one constraint is needed")
        self.constraints = rels
        self.horizon = int(horizon)
        syms = [sympy.Symbol(f"n_{x}", integer=True, nonnegative=True) for x in alphabet]
        self._fn = sympy.lambdify(syms, sympy.And(*rels), modules="numpy")
        self._ext = _compositions_upto(len(alphabet), self.horizon)

    def _rename(self, rel: sympy.Basic) -> sympy.Basic:
        if not isinstance(rel, (sympy.core.relational.Relational, sympy.logic.boolalg.Boolean)):
            raise ConstraintError(f"sympy constraint {rel} is not a relation")
        sub = {}
        for s in rel.free_symbols:
            name = s.name[2:] if s.name.startswith("n_") else s.name
            if name not in self.alphabet or len(name) != 1:
                raise ConstraintError(
                    f"constraint {rel}: {s.name!r} is not n_<symbol> of {self.alphabet!r}"
                )
            sub[s] = sympy.Symbol(f"n_{name}", integer=True, nonnegative=True)
        return rel.xreplace(sub)

    def _holds(self, counts: np.ndarray) -> np.ndarray:
        res = self._fn(*[counts[..., j] for j in range(counts.shape[-1])])
        return np.broadcast_to(np.asarray(res, dtype=np.bool_), counts.shape[:-1]).copy()

    def _counts(self, codes, lengths):
        k = self.n_symbols
        valid = np.arange(codes.shape[1])[None, :] < lengths[:, None]
        return np.stack([((codes == j) & valid).sum(axis=1) for j in range(k)], axis=1)

    def _member(self, codes, lengths):
        return self._holds(self._counts(codes, lengths))

    def _next_masks(self, codes, lengths):
        n, t = codes.shape
        k = self.n_symbols
        onehot = np.zeros((n, t + 1, k), dtype=np.int64)
        valid = np.arange(t)[None, :] < lengths[:, None]
        for j in range(k):
            onehot[:, 1:, j] = (codes == j) & valid
        counts = np.cumsum(onehot, axis=1)  # (n, t+1, k) counts after each prefix
        out = np.zeros((n, t + 1, k + 1), dtype=np.bool_)
        out[..., k] = self._holds(counts)
        ext = self._ext
        uniq, inv = np.unique(counts.reshape(-1, k), axis=0, return_inverse=True)
        feasible = np.zeros((len(uniq), k), dtype=np.bool_)
        for j in range(k):
            step = np.zeros(k, dtype=np.int64)
            step[j] = 1
            base = uniq + step
            ok = self._holds(base[:, None, :] + ext[None, :, :])
            feasible[:, j] = ok.any(axis=1)
        out[..., :k] = feasible[inv.reshape(-1)].reshape(n, t + 1, k)
        out[~(np.arange(t + 1)[None, :] <= lengths[:, None])] = False
        return out

    def _split_table(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.n_symbols
        if math.comb(length + k - 1, k - 1) > 3_000_000:
            raise ValueError(
                f"{self.name}: too many count vectors at length {length} to sample exactly"
            )
        comps = _compositions_exact(k, length)
        comps = comps[self._holds(comps)]
        if len(comps) == 0:
            return comps, np.zeros(0)
        from scipy.special import gammaln

        logw = gammaln(length + 1) - gammaln(comps + 1).sum(axis=1)
        p = np.exp(logw - logw.max())
        return comps, p / p.sum()

    def has_length(self, length):
        return length >= 0 and len(self._split_table(length)[0]) > 0

    def _sample_codes(self, rng, length, count):
        comps, p = self._split_table(length)
        pick = comps[rng.choice(len(comps), size=count, p=p)]
        return _permute_rows(rng, np.ascontiguousarray(pick, dtype=np.int64))

    def _counters(self, codes):
        onehot = np.zeros((len(codes) + 1, self.n_symbols))
        onehot[np.arange(1, len(codes) + 1), codes] = 1.0
        return np.cumsum(onehot, axis=0)

    @property
    def n_counters(self) -> int:  # type: ignore[override]
        """One counter per symbol: its count so far."""
        return self.n_symbols


def _compositions_exact(k: int, n: int) -> np.ndarray:
    """All k-vectors of non-negative ints summing to n."""
    if k == 1:
        return np.array([[n]], dtype=np.int64)
    cuts = np.array(list(itertools.combinations(range(n + k - 1), k - 1)), dtype=np.int64)
    cuts = cuts.reshape(-1, k - 1)
    edges = np.concatenate(
        [np.full((len(cuts), 1), -1), cuts, np.full((len(cuts), 1), n + k - 1)], axis=1
    )
    return np.diff(edges, axis=1) - 1


def _compositions_upto(k: int, n: int) -> np.ndarray:
    return np.concatenate([_compositions_exact(k, m) for m in range(n + 1)])


def from_constraints(
    alphabet: str,
    constraints: str | sympy.Basic | Sequence,
    name: str = "constraints",
    horizon: int = 16,
) -> ConstraintLanguage:
    """A language of all strings whose symbol counts satisfy the constraints.

    Raises
    ------
    ConstraintError
        Text that does not parse, a ``#x`` outside the alphabet, or no relation.

    Examples
    --------
    >>> lang = from_constraints("abc", "#a = #b + #c, #c >= 1")
    >>> lang.contains("aacb"), lang.contains("aabb")
    (True, False)
    """
    return ConstraintLanguage(name, alphabet, constraints, horizon=horizon)
