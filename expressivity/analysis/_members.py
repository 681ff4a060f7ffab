"""Members of any language, for the analyses: canonical, sampled, or searched.

The analyses need positive words of a given length (to score an extraction far
beyond its sample) or of a given size ``n`` (to follow a counter). Regular
languages (regex, DFA, Tomita, ...) sample uniformly through their DFA; built-in
counter languages have canonical members (``positive_of_n``); any other language
(a constraint, a grammar, a user's own subclass) uses its own sampler
(``sample_positive``), or, failing that, a bounded enumeration or rejection
sampling through ``contains_batch``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._dfa import dfa_arrays

__all__ = ["as_language", "dfa_positives", "positive_of_size", "positives_of_length"]

#: errors a language raises for "no such member" or "not implemented here"
_NO_MEMBER = (NotImplementedError, ValueError, TypeError, LookupError)


def as_language(obj: Any) -> Any:
    """A language for the analyses: a ``DFA`` becomes ``from_dfa(dfa)``; others unchanged.

    Examples
    --------
    >>> from expressivity.languages import get_language
    >>> as_language(get_language("parity").dfa()).contains("abb")
    True
    """
    if (
        hasattr(obj, "transition_table")
        and hasattr(obj, "accepts")
        and not hasattr(obj, "contains")
    ):
        from expressivity.languages import from_dfa

        return from_dfa(obj, name="dfa")
    return obj


def dfa_positives(dfa: Any, length: int, n: int, rng: np.random.Generator) -> list[str]:
    """Uniform sample (with replacement) of accepted words of one length from a DFA."""
    delta, acc_mask, q0, _ = dfa_arrays(dfa)
    alphabet = list(dfa.alphabet)
    acc = acc_mask.astype(np.float64)
    # counts[r][q] ~ number of accepted completions of length r from q (rescaled per level)
    counts = [acc]
    for _ in range(length):
        nxt = counts[-1][delta].sum(axis=1)
        top = nxt.max()
        counts.append(nxt / top if top > 0 else nxt)
    if counts[length][q0] <= 0:
        return []
    out = []
    for _ in range(n):
        q = q0
        chars = []
        for r in range(length, 0, -1):
            p = counts[r - 1][delta[q]]
            a = int(rng.choice(len(alphabet), p=p / p.sum()))
            chars.append(alphabet[a])
            q = delta[q, a]
        out.append("".join(chars))
    return out


def _dfa_sample(lang: Any, length: int, n: int, rng: np.random.Generator) -> list[str] | None:
    if not (getattr(lang, "is_regular", False) and hasattr(lang, "dfa")):
        return None
    try:
        return dfa_positives(lang.dfa(), length, n, rng)
    except _NO_MEMBER:
        return None


def _own_sample(lang: Any, length: int, n: int, rng: np.random.Generator) -> list[str] | None:
    if not hasattr(lang, "sample_positive"):
        return None
    try:
        if hasattr(lang, "has_length") and not lang.has_length(length):
            return []
        return list(lang.sample_positive(rng, length=length, count=n))
    except _NO_MEMBER:
        return None


def _canonical(lang: Any, length: int) -> list[str] | None:
    if not hasattr(lang, "positive_of_n"):
        return None
    # the canonical members grow with n: find the n whose member has this length
    for cand in range(0, length + 1):
        try:
            w = lang.positive_of_n(cand)
        except NotImplementedError:
            return None
        except _NO_MEMBER:
            continue
        if len(w) == length:
            return [w]
        if len(w) > length:
            break
    return []


def _search(
    lang: Any, length: int, n: int, rng: np.random.Generator, budget: int = 20_000
) -> list[str]:
    """Enumerate (few words of this length) or draw random words and keep the members."""
    alphabet = str(lang.alphabet)
    v = len(alphabet)
    member = lang.contains_batch if hasattr(lang, "contains_batch") else None
    if v**length <= budget:
        import itertools

        words = ["".join(t) for t in itertools.product(alphabet, repeat=length)]
    else:
        sym = rng.integers(0, v, size=(budget, length))
        arr = np.asarray(list(alphabet))
        words = ["".join(row) for row in arr[sym]]
    if member is not None:
        keep = np.asarray(member(words), dtype=bool)
    else:
        keep = np.array([bool(lang.contains(w)) for w in words], dtype=bool)
    found = [w for w, k in zip(words, keep) if k]
    if not found:
        return []
    pick = rng.integers(0, len(found), size=min(n, len(found)))
    return [found[i] for i in pick]


def positives_of_length(lang: Any, length: int, n: int, rng: np.random.Generator) -> list[str]:
    """Up to ``n`` members of exactly ``length`` (empty when none are found).

    Regular languages sample uniformly through their DFA; counter languages give
    their canonical member (``positive_of_n``); languages with their own sampler
    (``has_length`` / ``sample_positive``, as every ``Language`` built by
    ``from_constraints`` or ``from_grammar``) use it; anything else that answers
    ``contains`` is searched by enumeration (short lengths) or rejection sampling.

    Examples
    --------
    >>> from expressivity.languages import from_constraints
    >>> lang = from_constraints("ab", "#a = 2 * #b")
    >>> ws = positives_of_length(lang, 6, 3, np.random.default_rng(0))
    >>> len(ws), all(lang.contains(w) for w in ws)
    (3, True)
    """
    length, n = int(length), int(n)
    if n <= 0:
        return []
    lang = as_language(lang)
    got = _dfa_sample(lang, length, n, rng)
    if got is None:
        got = _canonical(lang, length)
    if got is None:
        got = _own_sample(lang, length, n, rng)
    return _search(lang, length, n, rng) if got is None else got


def positive_of_size(
    lang: Any, rng: np.random.Generator, *, search: int = 8
) -> Callable[[int], str | None]:
    """A function ``n -> member of size n`` (``None`` when there is none).

    Counter languages give their canonical member ``positive_of_n(n)`` (e.g.
    ``a^n b^n``); any other language a sampled member of length
    ``lang.length_of_n(n)`` (the length itself for user-defined languages), or of the
    next length up to ``search`` longer that has members (e.g. multiples of 3 for
    ``#a = 2 * #b``).

    Examples
    --------
    >>> from expressivity.languages import from_constraints, get_language
    >>> positive_of_size(get_language("anbn"), np.random.default_rng(0))(2)
    'aabb'
    >>> w = positive_of_size(from_constraints("ab", "#a = 2 * #b"), np.random.default_rng(0))(4)
    >>> len(w), w.count("a")
    (6, 4)
    """
    canonical = True
    try:
        lang.positive_of_n(1)
    except (AttributeError, NotImplementedError):
        canonical = False
    except _NO_MEMBER:
        pass

    def of_size(n: int) -> str | None:
        if canonical:
            try:
                return lang.positive_of_n(int(n))
            except _NO_MEMBER:
                return None
        try:
            base = int(lang.length_of_n(int(n)))
        except (AttributeError, NotImplementedError, ValueError):
            base = int(n)
        for length in range(base, base + search + 1):
            got = positives_of_length(lang, length, 1, rng)
            if got:
                return got[0]
        return None

    return of_size
