"""Languages defined by counting constraints over symbol counts, e.g. ``#a = #b + #c``.

Constraint text is parsed by a small recursive-descent parser into sympy objects
(never ``eval``): integers, ``#x`` (count of symbol ``x``), ``+ - *``, ``%`` (mod),
parentheses, one relation ``= == != < <= > >=`` per constraint; several constraints
are given as a list or joined by ``,`` / ``and``. sympy relations over symbols named
``n_x`` (or ``x``) are accepted as they are.

Next-symbol sets look ahead a bounded number of symbols (``horizon``, default 16):
symbol ``s`` is allowed after ``p`` when some extension of ``p + s`` by at most
``horizon`` more symbols satisfies the constraints.

Nothing is enumerated up front: membership counts the symbols of each word and
evaluates the constraints. Only the symbols the constraints mention matter (the
others merely add length), so look-ahead and sampling work in the space of the
*mentioned* counts, plus one count for all other symbols together; their cost
grows with what is asked (the horizon, the length) and a request too large to
answer exactly raises :class:`ConstraintError` saying how large it is.
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

#: most count vectors a look-ahead or an exact sampler may enumerate
MAX_COUNT_VECTORS = 3_000_000
#: deepest nesting of parentheses / unary minus in one constraint
MAX_NESTING = 100

_TOKEN = re.compile(r"\s*(?:(\d+)|#(\S)|(==|!=|<=|>=|=|<|>)|([-+*%()]))")


def parse_constraint(text: str, alphabet: str) -> sympy.Basic:
    """Parse one constraint into a sympy relation over symbols ``n_<x>``.

    Examples
    --------
    >>> parse_constraint("#a = #b + #c", "abc")
    Eq(n_a, n_b + n_c)

    Raises
    ------
    ConstraintError
        Text that does not parse, a ``#x`` outside the alphabet, a modulus that is
        not a non-zero integer constant, nesting deeper than ``MAX_NESTING``.
    """
    if not isinstance(text, str):
        raise ConstraintError(f"constraint {text!r} must be a str, got {type(text).__name__}")
    try:
        return _parse(text, alphabet)
    except ConstraintError:
        raise
    except (ArithmeticError, TypeError, ValueError, RecursionError) as err:  # from sympy
        raise ConstraintError(
            f"constraint {text!r} cannot be evaluated ({type(err).__name__}: {err})"
        ) from None


def _parse(text: str, alphabet: str) -> sympy.Basic:
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
    depth = 0

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
            if op == "%" and not (rhs.is_Integer and rhs != 0):
                raise ConstraintError(
                    f"constraint {text!r}: the modulus of '%' must be a non-zero integer "
                    f"constant, got {rhs}"
                )
            val = val * rhs if op == "*" else sympy.Mod(val, rhs)
        return val

    def factor():
        nonlocal i, depth
        tok = peek()
        if tok is None:
            raise ConstraintError(f"constraint {text!r}: unexpected end")
        i += 1
        if tok in (("op", "-"), ("op", "(")):
            depth += 1
            if depth > MAX_NESTING:
                raise ConstraintError(
                    f"constraint {text[:60]!r}...: nested deeper than {MAX_NESTING} levels"
                )
        if tok[0] == "num":
            return sympy.Integer(int(tok[1]))
        if tok[0] == "sym":
            return sympy.Symbol(f"n_{tok[1]}", integer=True, nonnegative=True)
        if tok == ("op", "-"):
            val = -factor()
            depth -= 1
            return val
        if tok == ("op", "("):
            val = expr()
            if peek() != ("op", ")"):
                raise ConstraintError(f"constraint {text!r}: missing ')'")
            i += 1
            depth -= 1
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

    Parameters
    ----------
    name : str
    alphabet : str
    constraints : str, sympy relation, or a list of them
    horizon : int
        Look-ahead of the next-symbol sets (``>= 0``).

    Examples
    --------
    >>> lang = ConstraintLanguage("eq", "abc", ["#a = #b + #c"])
    >>> lang.contains("abca"), lang.contains("abc")
    (True, False)
    """

    def __init__(self, name: str, alphabet: str, constraints, horizon: int = 16) -> None:
        super().__init__(name, check_alphabet(alphabet))
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
            raise ConstraintError(f"horizon must be an int >= 0, got {horizon!r}")
        if horizon < 0:
            raise ConstraintError(f"horizon must be >= 0, got {horizon}")
        if isinstance(constraints, (str, sympy.Basic)):
            constraints = [constraints]
        if not isinstance(constraints, (list, tuple)):
            raise ConstraintError(
                f"constraints must be a str, a sympy relation or a list of them, got {constraints!r:.80}"
            )
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
                raise ConstraintError(f"constraint {c!r:.80} must be a str or a sympy relation")
        if not rels:
            raise ConstraintError("at least one constraint is needed")
        self.constraints = rels
        self.horizon = int(horizon)
        used = set().union(*(r.free_symbols for r in rels))
        #: codes of the symbols the constraints mention, in alphabet order
        self._used = np.array(
            [j for j, x in enumerate(alphabet) if f"n_{x}" in {s.name for s in used}],
            dtype=np.int64,
        )
        self._free = np.setdiff1d(np.arange(len(alphabet)), self._used)
        syms = [
            sympy.Symbol(f"n_{alphabet[j]}", integer=True, nonnegative=True) for j in self._used
        ]
        for rel in rels:
            if rel.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
                raise ConstraintError(f"constraint {rel} divides by zero or is infinite")
        try:
            self._fn = sympy.lambdify(syms, sympy.And(*rels), modules="numpy")
        except (ArithmeticError, TypeError, ValueError, KeyError, NameError, SyntaxError,
                RecursionError) as err:  # fmt: skip
            raise ConstraintError(f"constraints {rels} cannot be compiled ({err})") from None
        self._ext: np.ndarray | None = None  # look-ahead extensions, built on first use
        self._holds(np.zeros((1, len(self._used)), dtype=np.int64))  # fail now, not later

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
        """Whether the constraints hold for count vectors ``(..., r)`` of the mentioned symbols."""
        try:
            with np.errstate(all="ignore"):
                res = self._fn(*[counts[..., j] for j in range(counts.shape[-1])])
            res = np.asarray(res)
            if res.dtype != np.bool_:
                res = res.astype(np.bool_)
        except (ArithmeticError, TypeError, ValueError) as err:
            raise ConstraintError(
                f"constraints {self.constraints} cannot be evaluated on counts ({err})"
            ) from None
        return np.broadcast_to(res, counts.shape[:-1]).copy()

    def _counts(self, codes, lengths):
        valid = np.arange(codes.shape[1])[None, :] < lengths[:, None]
        out = np.zeros((len(codes), len(self._used)), dtype=np.int64)
        for i, j in enumerate(self._used):
            out[:, i] = ((codes == j) & valid).sum(axis=1)
        return out

    def _member(self, codes, lengths):
        return self._holds(self._counts(codes, lengths))

    def _extensions(self) -> np.ndarray:
        """Every vector of mentioned counts with total <= horizon (built once, on demand)."""
        if self._ext is None:
            r, h = len(self._used), self.horizon
            size = math.comb(h + r, r)
            if size > MAX_COUNT_VECTORS:
                raise ConstraintError(
                    f"{self.name}: next-symbol sets with horizon={h} over the {r} symbols the "
                    f"constraints mention would test {size:.3g} count vectors (more than "
                    f"{MAX_COUNT_VECTORS:,}); use a smaller horizon"
                )
            self._ext = _compositions_upto(r, h)
        return self._ext

    def _next_masks(self, codes, lengths):
        n, t = codes.shape
        k, r = self.n_symbols, len(self._used)
        onehot = np.zeros((n, t + 1, r), dtype=np.int64)
        valid = np.arange(t)[None, :] < lengths[:, None]
        for i, j in enumerate(self._used):
            onehot[:, 1:, i] = (codes == j) & valid
        counts = np.cumsum(onehot, axis=1)  # (n, t+1, r) mentioned counts after each prefix
        out = np.zeros((n, t + 1, k + 1), dtype=np.bool_)
        out[..., k] = self._holds(counts)
        if r == 0:  # constant constraints: any symbol can follow exactly when they hold
            out[..., :k] = out[..., k : k + 1]
            out[~(np.arange(t + 1)[None, :] <= lengths[:, None])] = False
            return out
        ext = self._extensions()
        uniq, inv = np.unique(counts.reshape(-1, r), axis=0, return_inverse=True)
        feasible = np.zeros((len(uniq), k), dtype=np.bool_)
        chunk = max(1, MAX_COUNT_VECTORS // max(len(ext), 1))
        cache: dict[int, np.ndarray] = {}
        for j in range(k):
            step = np.zeros(r, dtype=np.int64)
            where = np.flatnonzero(self._used == j)
            if len(where):
                step[where[0]] = 1
            key = int(where[0]) if len(where) else -1  # every unmentioned symbol: same answer
            if key not in cache:
                base = uniq + step
                ok = np.zeros(len(uniq), dtype=np.bool_)
                for a in range(0, len(uniq), chunk):
                    part = base[a : a + chunk]
                    ok[a : a + chunk] = self._holds(part[:, None, :] + ext[None, :, :]).any(axis=1)
                cache[key] = ok
            feasible[:, j] = cache[key]
        out[..., :k] = feasible[inv.reshape(-1)].reshape(n, t + 1, k)
        out[~(np.arange(t + 1)[None, :] <= lengths[:, None])] = False
        return out

    def _split_table(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Member count vectors of ``length`` (mentioned symbols, then all others) and weights."""
        r, others = len(self._used), len(self._free)
        parts = r + (1 if others else 0)
        size = math.comb(length + parts - 1, parts - 1)
        if size > MAX_COUNT_VECTORS:
            raise ConstraintError(
                f"{self.name}: sampling exactly at length {length} would enumerate {size:.3g} "
                f"count vectors of the {r} symbols the constraints mention (more than "
                f"{MAX_COUNT_VECTORS:,}); use shorter lengths"
            )
        comps = _compositions_exact(parts, length)
        comps = comps[self._holds(comps[:, :r])]
        if len(comps) == 0:
            return comps, np.zeros(0)
        from scipy.special import gammaln

        logw = gammaln(length + 1) - gammaln(comps + 1).sum(axis=1)
        if others > 1:  # each other position is any of the unmentioned symbols
            logw = logw + comps[:, r] * np.log(others)
        p = np.exp(logw - logw.max())
        return comps, p / p.sum()

    def has_length(self, length):
        return length >= 0 and len(self._split_table(length)[0]) > 0

    def _sample_codes(self, rng, length, count):
        comps, p = self._split_table(length)
        pick = comps[rng.choice(len(comps), size=count, p=p)]
        cols = _permute_rows(rng, np.ascontiguousarray(pick, dtype=np.int64))
        # column i < r is the mentioned symbol self._used[i]; column r, any other symbol
        out = np.empty(cols.shape, dtype=np.int32)
        r = len(self._used)
        mentioned = cols < r
        out[mentioned] = self._used[cols[mentioned]]
        n_other = int((~mentioned).sum())
        if n_other:
            out[~mentioned] = self._free[rng.integers(0, len(self._free), size=n_other)]
        return out

    def _counters(self, codes):
        onehot = np.zeros((len(codes) + 1, self.n_symbols))
        onehot[np.arange(1, len(codes) + 1), codes] = 1.0
        return np.cumsum(onehot, axis=0)

    @property
    def n_counters(self) -> int:  # type: ignore[override]
        """One counter per symbol: its count so far."""
        return self.n_symbols


def _compositions_exact(k: int, n: int) -> np.ndarray:
    """All k-vectors of non-negative ints summing to n (``k = 0``: one empty vector if n = 0)."""
    if k == 0:
        return np.zeros((1 if n == 0 else 0, 0), dtype=np.int64)
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

    Construction enumerates nothing; ``horizon`` bounds the look-ahead of
    next-symbol sets, which enumerate the count vectors (of the mentioned symbols
    only) up to that total, at most ``MAX_COUNT_VECTORS`` of them.

    Raises
    ------
    ConstraintError
        Text that does not parse, a ``#x`` outside the alphabet, no relation, a
        modulus that is not a non-zero integer constant, a ``horizon`` that is not an
        int ``>= 0`` (a ``ValueError``), or (later) a look-ahead or exact sample too
        large to enumerate.

    Examples
    --------
    >>> lang = from_constraints("abc", "#a = #b + #c, #c >= 1")
    >>> lang.contains("aacb"), lang.contains("aabb")
    (True, False)
    """
    return ConstraintLanguage(name, alphabet, constraints, horizon=horizon)
