"""Evaluation beyond training: acceptance and accuracy curves over n or length.

Two families of evaluation, both returning curves (arrays over n or length),
never a single number:

- :func:`evaluate_counting` for languages with one member per size ``n``
  (``anbn``, ``anbncn``, ...): is ``a^n b^n`` accepted, is any near miss
  accepted, is every next-symbol set predicted right, for every ``n`` up to
  far beyond training, plus the generalization frontier, searched densely past
  the curve until the first failure (:func:`search_frontier`).
- :func:`evaluate_by_length` for any language: accuracy of the head's
  acceptance decision on sampled positives and negatives of every length.

The frontier (docs/languages.md)
--------------------------------
For a counter language with one member ``lang.positive_of_n(n)`` per size, ``n``
is *right* when that member is accepted, none of its near misses
``lang.near_misses(n)`` is accepted (the one definition of near misses, in the
language: every word with one block count changed by ±1, so ``a^n b^(n±1)`` and
``a^(n±1) b^n`` for ``a^n b^n``, the six analogous words for ``a^n b^n c^n``),
and, for the ``next-set`` head, every next-symbol set is predicted right. The
frontier is the largest ``N`` such that every ``n`` in ``1..N`` is right
(``0`` when ``n = 1`` already fails; the empty word carries no count and is not
part of it). It depends only on the network and the language: the search walks
``n = 1, 2, 3, ...`` densely until the first failure, so the range evaluated
can only leave it *unknown* (a lower bound, when no failure appeared up to the
limit, ``DEFAULT_FRONTIER_LIMIT = 10**4`` by default), never make it smaller or
larger. Every frontier is a :class:`Frontier`, which says how far it was
checked and why the walk stopped.

:func:`word_correct` is the per-word criterion the trainer uses: for the
``accept`` and ``next-symbol`` heads, acceptance equals the label; for the
``next-set`` head a positive is correct when at every prefix the set of outputs
above the threshold equals the language's allowed next set (Suzgun et al.
2019), and a negative is correct when it is rejected. (A next-symbol softmax
trained on n <= N cannot put mass on continuations beyond N, so its next sets
are not a fair criterion.)

Examples
--------
>>> import numpy as np
>>> import expressivity as ex
>>> from expressivity.languages import get_language
>>> net = ex.Network.create("lstm", "ab", 4, head="next-symbol", rng=np.random.default_rng(0))
>>> ev = evaluate_counting(net, get_language("anbn"), n_max=5)
>>> ev.curves["n"].tolist(), ev.metrics["frontier"], ev.metrics["frontier_first_failure"]
([0, 1, 2, 3, 4, 5], 0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import groupby
from typing import Any

import numpy as np

from expressivity.prefixes import accepts_shared, outputs_shared, shared_acceptance

__all__ = [
    "ACCEPT_SEARCH_FACTOR",
    "DEFAULT_FRONTIER_LIMIT",
    "EXTRA_OFFSETS",
    "FRONTIER_DEFINITION",
    "FRONTIER_BATCH_BYTES",
    "PRECISION_RATIO",
    "EvalResult",
    "Frontier",
    "continuation_of",
    "describe_word",
    "evaluate_by_length",
    "evaluate_counting",
    "format_spacing",
    "frontier",
    "frontier_near_misses",
    "predicted_sets_correct",
    "search_frontier",
    "word_correct",
]

#: The definition of a right n the frontier uses (docs/frontier.md): 2 adds the
#: ±2 near misses and the continuation test to definition 1 (member accepted, ±1
#: near misses rejected, next sets right).
FRONTIER_DEFINITION = 2
#: Block-count offsets the frontier's near misses add to the language's ±1.
EXTRA_OFFSETS = (2,)
#: Largest n the dense frontier search checks unless told otherwise.
DEFAULT_FRONTIER_LIMIT = 10_000
#: Bytes of forward workspace per call of the search (states, gates and auxiliary
#: values of every padded symbol: 56 bytes per symbol for a 2-unit float32 LSTM,
#: 280 for a 10-unit one). Wider calls run faster per symbol (a factor of about 4
#: from 2**17 to 2**21 symbols on the 2-unit LSTM).
FRONTIER_BATCH_BYTES = 1 << 27
#: A break is put down to a unit running out of the format's range when, along
#: the member's first block, the format's spacing at the unit's value reaches
#: this multiple of the unit's step per symbol (0.5: one step changes the value
#: by at most one spacing, so increments are rounded by up to their own size).
PRECISION_RATIO = 0.5
#: evaluate_counting walks the members alone (the accept frontier) at most to this
#: multiple of where the frontier's walk stopped (and at least to n_max).
ACCEPT_SEARCH_FACTOR = 10


@dataclass
class EvalResult:
    """Curves (equal-length 1-D arrays keyed by name) and scalar metrics.

    ``curves["n"]`` (or ``curves["length"]``) is the x axis; every other curve
    gives one value per x.
    """

    curves: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, float | int | None] = field(default_factory=dict)

    def to_json(self) -> dict:
        """Plain lists and numbers (for the results store)."""
        return {
            "curves": {k: np.asarray(v).tolist() for k, v in self.curves.items()},
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_json(cls, d: dict) -> EvalResult:
        return cls({k: np.asarray(v) for k, v in d["curves"].items()}, dict(d["metrics"]))


def frontier(xs: Sequence[int], ok: Sequence[bool]) -> int:
    """Largest ``x`` such that ``ok`` holds at every ``x' <= x`` (``xs`` sorted, dense).

    Returns ``xs[0] - 1`` when the first point already fails.

    Examples
    --------
    >>> frontier([0, 1, 2, 3], [True, True, False, True])
    1
    """
    xs = np.asarray(xs)
    ok = np.asarray(ok, dtype=bool)
    if len(xs) == 0:
        return -1
    bad = np.flatnonzero(~ok)
    if len(bad) == 0:
        return int(xs[-1])
    return int(xs[bad[0]]) - 1


def format_spacing(precision: Any, x: float) -> float:
    """Spacing of representable values of a number format at magnitude ``|x|``.

    ``precision`` is a :class:`~expressivity.precision.Precision` or a format
    name. Fixed point has one spacing (its resolution); a float's spacing at
    ``|x|`` is ``eps * 2**floor(log2 |x|)`` (the subnormal step near zero).
    Adding ``d`` to ``x`` is lost to rounding once the spacing exceeds ``2 |d|``:
    a counter of step 1 stops at the format's integer range ``2**(Y+1)``.

    Examples
    --------
    >>> from expressivity.precision import parse_precision
    >>> format_spacing(parse_precision("float16"), 2048.0)
    2.0
    >>> format_spacing("float32", 1.0) == 2.0**-23
    True
    """
    if isinstance(precision, str):
        from expressivity.precision import parse_precision

        precision = parse_precision(precision)
    if getattr(precision, "kind", None) == 2:  # fixed point
        return float(precision.resolution)
    eps = float(precision.eps)
    tiny = float(precision.smallest_subnormal)
    ax = abs(float(x))
    if ax == 0.0 or not np.isfinite(ax):
        return tiny if ax == 0.0 else float("inf")
    return float(max(eps * 2.0 ** np.floor(np.log2(ax)), tiny))


def describe_word(word: str) -> str:
    """Run-length form of a word, ``"a^3 b^4"`` for ``"aaabbbb"`` (``"ε"`` when empty).

    Examples
    --------
    >>> describe_word("aaabbbb"), describe_word("")
    ('a^3 b^4', 'ε')
    """
    if not word:
        return "ε"
    return " ".join(f"{s}^{len(list(g))}" for s, g in groupby(word))


@dataclass(frozen=True)
class Frontier:
    """A generalization frontier and how far it was checked.

    Attributes
    ----------
    value : int
        Largest ``N`` with every ``n`` in ``start..N`` right (``start - 1`` when
        ``start`` fails). Exact when ``first_failure`` is set, else a lower bound.
    checked_to : int
        Every ``n`` in ``start..checked_to`` was evaluated (``first_failure`` when
        there is one, else the limit of the search).
    first_failure : int or None
        The first ``n`` that is not right; None when none failed up to ``checked_to``.
    reason : str
        Why the walk stopped: ``"limit"`` (no failure up to the limit),
        ``"positive rejected"``, ``"next set wrong"``, ``"near miss accepted"``,
        ``"continuation accepted"`` (a non-member ``a^n b^k``, ``k <= 2n``, is
        accepted) or ``"continuation rejected"`` (a member along it is not).
    failed_on : str
        The failing word in run-length form (``"a^440 b^441"``); empty for ``"limit"``.
    start : int
        First ``n`` of the walk (1 by the definition; see the module docstring).
    criterion : str
        ``"correct"`` (member accepted, near misses rejected, next sets right) or
        ``"accepted"`` (members only: how far ``a^n b^n`` is accepted).
    precision_explains : bool or None
        True when the same weights at ``float64`` get ``first_failure`` right (the
        number format causes the break); False when they fail it too; None when
        not tested (no failure, or the network already runs at ``float64``).
    explanation : str
        For a break the format explains: the unit whose value ran into the
        format (its value, the format's spacing there, its step per symbol).
    definition : int
        Which definition of *right* was used (:data:`FRONTIER_DEFINITION`;
        stored frontiers without this field used definition 1, near misses at
        ±1 only, which a count kept modulo 2 passes).

    Examples
    --------
    >>> f = Frontier(439, 440, 440, "near miss accepted", "a^440 b^441")
    >>> f.exact, str(f)
    (True, '439 (n = 440 fails: near miss accepted, a^440 b^441)')
    >>> str(Frontier(10000, 10000, None, "limit"))
    '>= 10000 (no failure up to n = 10000)'
    """

    value: int
    checked_to: int
    first_failure: int | None
    reason: str
    failed_on: str = ""
    start: int = 1
    criterion: str = "correct"
    precision_explains: bool | None = None
    explanation: str = ""
    definition: int = FRONTIER_DEFINITION

    @property
    def exact(self) -> bool:
        """True when a failure was found, so ``value`` is the frontier itself."""
        return self.first_failure is not None

    def __str__(self) -> str:
        if not self.exact:
            return f">= {self.value} (no failure up to n = {self.checked_to})"
        s = f"{self.value} (n = {self.first_failure} fails: {self.reason}, {self.failed_on})"
        if self.precision_explains:
            s += f"; the number format explains it: {self.explanation}"
        return s

    def to_json(self) -> dict:
        """Plain dict (for the results store)."""
        return asdict(self)


def _runs(word: str) -> list[tuple[str, int]]:
    return [(c, len(list(g))) for c, g in groupby(word)]


def frontier_near_misses(lang: Any, n: int) -> list[str]:
    """The near misses the frontier rejects at ``n``: the language's own
    ``lang.near_misses(n)`` (each block count ±1), then each block count of the
    member changed by ±2 (:data:`EXTRA_OFFSETS`), keeping only non-members.

    A count kept modulo 2 (seen in trained tanh RNNs: they accept ``a^n b^m``
    whenever ``n - m`` is even) gets every ±1 near miss right; ±2 catches it.

    Examples
    --------
    >>> from expressivity.languages import get_language
    >>> [describe_word(w) for w in frontier_near_misses(get_language("anbn"), 3)]
    ['a^2 b^3', 'a^4 b^3', 'a^3 b^2', 'a^3 b^4', 'a^1 b^3', 'a^5 b^3', 'a^3 b^1', 'a^3 b^5']
    """
    base = list(lang.near_misses(int(n)))
    runs = _runs(lang.positive_of_n(int(n)))
    extra: list[str] = []
    for i in range(len(runs)):
        for off in EXTRA_OFFSETS:
            for d in (-off, off):
                if runs[i][1] + d < 0:
                    continue
                w = "".join(c * (k + d if j == i else k) for j, (c, k) in enumerate(runs))
                if w not in base and w not in extra:
                    extra.append(w)
    if extra:
        extra = [w for w, m in zip(extra, lang.contains_batch(extra)) if not m]
    return base + extra


def continuation_of(lang: Any, n: int) -> str:
    """The member of size ``n`` with its last block read on to twice its length.

    ``a^n b^(2n)`` for ``a^n b^n``. Along it the frontier asks that every prefix
    be accepted exactly when it is in the language, so no ``a^n b^k`` with
    ``k <= 2n``, ``k != n`` may be accepted: a count kept modulo any period up to
    ``n`` fails. Empty for the empty member.

    Examples
    --------
    >>> from expressivity.languages import get_language
    >>> describe_word(continuation_of(get_language("anbncn"), 2))
    'a^2 b^2 c^4'
    """
    member = lang.positive_of_n(int(n))
    if not member:
        return ""
    return member + member[-1] * _runs(member)[-1][1]


def _judge(net, lang, ns: Sequence[int], criterion: str, batch_symbols: int | None = None):
    """For each n: None when right, else (reason, failing word); and the members' acceptance.

    All words of all ``ns`` run together, their shared prefixes once
    (:mod:`expressivity.prefixes`): for ``criterion="correct"`` the
    continuations (:func:`continuation_of`, whose prefixes include the member)
    and the near misses (:func:`frontier_near_misses`).
    """
    pos = [lang.positive_of_n(int(n)) for n in ns]
    if criterion != "correct":
        acc = accepts_shared(net, pos, batch_symbols=batch_symbols)
        out = [None if a else ("positive rejected", w) for a, w in zip(acc, pos)]
        idx = np.flatnonzero(acc)
        if criterion == "sets" and idx.size:
            ok = predicted_sets_correct(net, [pos[i] for i in idx], lang,
                                        batch_symbols=batch_symbols)  # fmt: skip
            for i in idx[~ok]:
                out[i] = ("next set wrong", pos[i])
        return out, acc
    nm_lists = [frontier_near_misses(lang, n) for n in ns]
    uniq = list(dict.fromkeys(w for ws in nm_lists for w in ws))
    conts = [continuation_of(lang, n) for n in ns]
    # the members are prefixes of their continuations: in the same plan they cost nothing
    word_acc, along = shared_acceptance(net, uniq + pos, along=conts,
                                        batch_symbols=batch_symbols)  # fmt: skip
    verdict = dict(zip(uniq, word_acc[: len(uniq)].tolist()))
    acc = word_acc[len(uniq) :]
    member_at = lang.next_sets(*lang.encode_batch(conts))[:, :, -1]  # END allowed: a member
    cont_bad: list[tuple[str, str] | None] = [None] * len(ns)
    for i, c in enumerate(conts):
        wrong = np.flatnonzero(along[i][1:] != member_at[i, 1 : len(c) + 1]) + 1  # not ε
        if wrong.size:
            t = int(wrong[0])
            why = "continuation accepted" if along[i][t] else "continuation rejected"
            cont_bad[i] = (why, c[:t])
    sets_ok = np.ones(len(ns), dtype=bool)
    if net.head == "next-set":
        idx = np.flatnonzero(acc)
        if idx.size:
            sets_ok[idx] = predicted_sets_correct(
                net, [pos[i] for i in idx], lang, batch_symbols=batch_symbols
            )
    nm_first = [next((w for w in ws if verdict[w]), None) for ws in nm_lists]
    out: list[tuple[str, str] | None] = []
    for i in range(len(ns)):
        if not acc[i]:
            out.append(("positive rejected", pos[i]))
        elif not sets_ok[i]:
            out.append(("next set wrong", pos[i]))
        elif nm_first[i] is not None:
            out.append(("near miss accepted", nm_first[i]))
        elif cont_bad[i] is not None:
            out.append(cont_bad[i])
        else:
            out.append(None)
    return out, acc


def _precision_check(net, lang, n: int, criterion: str) -> tuple[bool | None, str]:
    """Does the break at ``n`` go away at float64? And which unit ran into the format."""
    prec = net.precision
    if getattr(prec, "name", "") == "float64":
        return None, ""
    wide = net.with_precision("float64")
    fixed = _judge(wide, lang, [n], criterion)[0][0] is None
    if not fixed:
        return False, ""
    # the unit that ran into the format: along the first block of the member,
    # the largest ratio of spacing at its final value to its step per symbol
    word = lang.positive_of_n(int(n))
    run = len(word) - len(word.lstrip(word[:1])) if word else 0
    if run < 2:
        return True, ""
    s = np.asarray(net.states([word[:run]])[0], dtype=np.float64)
    d = np.abs(np.diff(s, axis=0))
    step = np.median(d[: max(1, run // 2)], axis=0)
    h = int(net.hidden_size)
    best, best_ratio = -1, 0.0
    top = float(np.max(step[np.isfinite(step)], initial=0.0))
    for u in range(s.shape[1]):
        # a unit that barely moves along the block (steps of 1e-10 in a trained
        # network) carries no count: only units within 1e-3 of the largest step
        if step[u] <= 0 or not np.isfinite(step[u]) or step[u] < 1e-3 * top:
            continue
        v = float(np.max(np.abs(s[:, u])))
        ratio = format_spacing(prec, v) / float(step[u])
        if not np.isfinite(v) or v >= float(prec.max_value):
            ratio = np.inf
        if ratio > best_ratio:
            best, best_ratio = u, ratio
    if best < 0:
        return True, ""
    name = ("c" if s.shape[1] == 2 * h and best >= h else "h") + str(best % h)
    v = float(np.max(np.abs(s[:, best])))
    sp, st = format_spacing(prec, v), float(step[best])
    if best_ratio >= PRECISION_RATIO:
        return True, (
            f"unit {name} reaches |{v:.6g}| along {describe_word(word[:run])}, where the "
            f"spacing of {prec} ({sp:.3g}) is {sp / st:.3g} x the unit's step per symbol "
            f"({st:.3g}): the format has no room left for that step"
        )
    return True, (
        f"the same weights at float64 get n = {n} right, but no unit runs out of the "
        f"format's range (largest spacing/step: unit {name}, {sp:.3g} / {st:.3g}): "
        "accumulated rounding"
    )


def search_frontier(
    net,
    lang,
    *,
    start: int = 1,
    limit: int = DEFAULT_FRONTIER_LIMIT,
    criterion: str = "correct",
    batch_symbols: int | None = None,
    explain: bool = True,
) -> Frontier:
    """Walk ``n = start, start + 1, ...`` densely until the first failure or ``limit``.

    The words are evaluated in growing batches (8, 16, 32, ... sizes ``n`` per
    forward, each batch holding at most ``batch_symbols`` padded symbols), so a
    network that fails early costs one small forward and one that counts to
    ``10**4`` costs a few hundred. Near misses shared by neighbouring ``n``
    (``a^n b^(n+1)`` is also ``a^((n+1)-1) b^(n+1)``) are run once per batch.

    Parameters
    ----------
    net : Network
    lang : Language
        A counter language with ``positive_of_n`` and ``near_misses``.
    start : int
        First n (the frontier's definition starts at 1; see the module docstring).
    limit : int
        Largest n checked (default :data:`DEFAULT_FRONTIER_LIMIT`).
    criterion : {"correct", "accepted", "sets"}
        ``"correct"``: n is right (member accepted, near misses rejected,
        continuation right and, ``next-set`` head, next sets right);
        ``"accepted"``: the member alone; ``"sets"`` (predictive heads): the
        member accepted and every next-symbol set along it right, Suzgun et al.
        (2019)'s criterion (their e_1 is the first n that fails it).
    batch_symbols : int, optional
        Bound on padded symbols per forward (default: :data:`FRONTIER_BATCH_BYTES`
        of workspace).
    explain : bool
        At a failure, test whether the same weights at float64 get it right
        (one more small forward) and name the unit that ran into the format.

    Returns
    -------
    Frontier

    Raises
    ------
    ValueError
        For ``start < 0``, ``limit < start``, an unknown criterion or a
        language without canonical members.

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> from expressivity.languages import get_language
    >>> net = ex.Network.create("lstm", "ab", 4, head="accept", rng=np.random.default_rng(0))
    >>> f = search_frontier(net, get_language("anbn"))
    >>> f.value, f.checked_to, f.reason
    (0, 1, 'near miss accepted')
    """
    if criterion not in ("correct", "accepted", "sets"):
        raise ValueError(f"criterion must be 'correct', 'accepted' or 'sets', got {criterion!r}")
    if criterion == "sets" and net.head == "accept":
        raise ValueError("criterion 'sets' needs a predictive head (next-symbol or next-set)")
    start, limit = int(start), int(limit)
    if start < 0 or limit < start:
        raise ValueError(f"need 0 <= start <= limit, got start={start}, limit={limit}")
    if batch_symbols is None:
        batch_symbols = _default_batch_symbols(net)
    if int(batch_symbols) < 1:
        raise ValueError(f"batch_symbols must be >= 1, got {batch_symbols}")
    batch_symbols = int(batch_symbols)
    try:
        lang.positive_of_n(start)
    except (AttributeError, NotImplementedError) as err:
        raise ValueError(
            f"language {getattr(lang, 'name', lang)!r} has no canonical members positive_of_n(n)"
        ) from err
    return _search(net, lang, start, limit, criterion, batch_symbols, explain)[0]


def _default_batch_symbols(net) -> int:
    """Padded symbols per forward that fill :data:`FRONTIER_BATCH_BYTES` of workspace."""
    per = net.state_size + (len(net.spec.gates) + 1) * net.hidden_size
    return max(1, FRONTIER_BATCH_BYTES // (per * np.dtype(net.precision.carrier).itemsize))


def _search(net, lang, start, limit, criterion, batch_symbols, explain, known=None):
    """:func:`search_frontier`, reusing ``known = (ns, ok)`` results; also returns the
    members' acceptance for every n the walk evaluated, as ``(ns, accepted)``."""
    n = start
    fail: int | None = None
    seen_n: list[np.ndarray] = []
    seen_acc: list[np.ndarray] = []
    _known = known
    if _known is not None:  # results already computed densely from `start` on
        kn, kok = (np.asarray(a) for a in _known)
        sel = kn >= start
        kn, kok = kn[sel], kok[sel].astype(bool)
        dense = np.flatnonzero(kn != np.arange(start, start + len(kn)))
        m = int(dense[0]) if dense.size else len(kn)
        bad = np.flatnonzero(~kok[:m])
        if bad.size:
            fail = int(kn[bad[0]])
        elif m:
            n = int(kn[m - 1]) + 1
    verdict = None
    if fail is not None:
        verdict = _judge(net, lang, [fail], criterion)[0][0]
        if verdict is None:  # inconsistent prior results: fall back to the walk
            fail, n = None, start
    size = 8
    while fail is None and n <= limit:
        # with prefixes shared, each n adds about one path no longer than its
        # member (for a^n b^n: b^(n+1) from the state after a^n), and each call
        # runs the longest path once more: a batch of about batch_symbols symbols
        longest = int(lang.length_of_n(min(n + size, limit) + 1)) + 1
        fit = max(1, int(batch_symbols) // max(longest, 1))
        hi = min(limit, n + min(size, fit) - 1)
        ns = list(range(n, hi + 1))
        res, acc = _judge(net, lang, ns, criterion, batch_symbols)
        seen_n.append(np.asarray(ns))
        seen_acc.append(np.asarray(acc, dtype=bool))
        bad = [i for i, r in enumerate(res) if r is not None]
        if bad:
            fail, verdict = ns[bad[0]], res[bad[0]]
            break
        n = hi + 1
        size *= 2
    seen = (
        np.concatenate(seen_n) if seen_n else np.zeros(0, dtype=np.int64),
        np.concatenate(seen_acc) if seen_acc else np.zeros(0, dtype=bool),
    )
    if fail is None:
        return Frontier(limit, limit, None, "limit", "", start, criterion), seen
    explains, text = _precision_check(net, lang, fail, criterion) if explain else (None, "")
    fr = Frontier(
        fail - 1, fail, fail, verdict[0], describe_word(verdict[1]), start, criterion,
        explains, text,
    )  # fmt: skip
    return fr, seen


def predicted_sets_correct(
    net, words: Sequence[str], lang, *, batch_symbols: int | None = None
) -> np.ndarray:
    """For each word: at every prefix, outputs above threshold == allowed next symbols.

    Only meaningful for the predictive heads (``next-symbol``, ``next-set``).
    Shared prefixes of ``words`` run once (:func:`expressivity.prefixes.outputs_shared`).
    """
    if not len(words):
        return np.zeros(0, dtype=bool)
    outs = outputs_shared(net, list(words), batch_symbols=batch_symbols)
    codes, lengths = lang.encode_batch(list(words))
    allowed = lang.next_sets(codes, lengths)  # (N, T+1, K+1)
    res = np.empty(len(words), dtype=bool)
    thr = net.threshold
    for i, o in enumerate(outs):
        n = int(lengths[i]) + 1
        res[i] = bool(np.array_equal(o > thr, allowed[i, :n]))
    return res


def word_correct(net, words: Sequence[str], labels: np.ndarray, lang) -> np.ndarray:
    """Per-word correctness under the head's criterion (see the module docstring)."""
    labels = np.asarray(labels, dtype=bool)
    if net.head != "next-set":
        return net.accepts(words) == labels
    out = np.empty(len(words), dtype=bool)
    pos = np.flatnonzero(labels)
    neg = np.flatnonzero(~labels)
    if len(pos):
        out[pos] = predicted_sets_correct(net, [words[i] for i in pos], lang)
    if len(neg):
        out[neg] = ~net.accepts([words[i] for i in neg])
    return out


def _sparse_points(n_max: int, far: int) -> list[int]:
    """Roughly log-spaced points in (n_max, far]."""
    if far <= n_max:
        return []
    pts = np.unique(np.geomspace(n_max + 1, far, num=8).round().astype(int))
    return [int(p) for p in pts if n_max < p <= far]


def evaluate_counting(
    net,
    lang,
    n_max: int,
    n_min: int = 0,
    far: int | None = None,
    train_max: int | None = None,
    frontier_limit: int | None = DEFAULT_FRONTIER_LIMIT,
) -> EvalResult:
    """Acceptance of ``positive_of_n(n)`` and of its near misses for every n in [n_min, n_max].

    The curves stop at ``n_max``; the frontiers do not: they are searched densely
    past it (:func:`search_frontier`, from ``n = 1``) until the first failure or
    ``frontier_limit``, reusing the curve's results.

    Parameters
    ----------
    net : Network
    lang : Language with ``positive_of_n`` and ``near_misses`` (a counter language)
    n_max : last n evaluated densely
    far : optional larger n evaluated at a few log-spaced points beyond ``n_max``
        (positives only; shows how far acceptance reaches; not used for the frontier)
    train_max : the largest training n, recorded so reports can give the ratio
    frontier_limit : largest n the frontier search checks (default
        :data:`DEFAULT_FRONTIER_LIMIT`); None: no search past ``n_max`` (the
        frontier then says it was checked only to ``n_max``)

    Returns
    -------
    EvalResult
        curves ``n``, ``accepted`` (positive accepted), ``near_miss_accepted``
        (any of ``lang.near_misses(n)`` accepted), ``correct`` (n is right by
        the frontier's definition: accepted, no near miss of
        :func:`frontier_near_misses` accepted, the continuation right and, for
        the next-set head, every next set right), ``far_n``/``far_accepted``
        in ``metrics``; metrics ``frontier`` (largest n with every n' in 1..n
        correct; see the module docstring) with ``frontier_checked_to``,
        ``frontier_first_failure`` (None: none up to ``frontier_checked_to``, and
        ``frontier`` is a lower bound), ``frontier_reason``, ``frontier_failed_on``,
        ``frontier_precision_explains`` and ``frontier_explanation``;
        ``accept_frontier`` (the same for positives only, walked at most to
        ``ACCEPT_SEARCH_FACTOR * frontier_checked_to``, at least to ``n_max``) with
        ``accept_frontier_checked_to``, ``accept_frontier_first_failure`` and
        ``accept_frontier_precision_explains``;
        ``max_accepted_n`` (largest n accepted by the curve, the accept
        frontier or the far points), ``first_near_miss_accepted_n`` (None if none
        up to ``n_max`` or the frontier's failure), ``e1`` (smallest n in the curve
        mispredicted, Suzgun et al. 2019), ``accuracy_train``/``accuracy_beyond``.
    """
    if n_min < 0 or n_max < n_min:
        raise ValueError(f"need 0 <= n_min <= n_max, got n_min={n_min}, n_max={n_max}")
    ns = np.arange(n_min, n_max + 1)
    pos = [lang.positive_of_n(int(n)) for n in ns]
    nm_lists = [lang.near_misses(int(n)) for n in ns]
    nm_flat = [w for ws in nm_lists for w in ws]
    owner = np.repeat(np.arange(len(ns)), [len(ws) for ws in nm_lists])
    bs = _default_batch_symbols(net)
    nm_acc_flat = accepts_shared(net, nm_flat, batch_symbols=bs)
    nm_acc = np.zeros(len(ns), dtype=bool)
    np.logical_or.at(nm_acc, owner, nm_acc_flat)
    if net.head != "next-set":
        sets_ok = np.ones(len(ns), dtype=bool)
    else:
        sets_ok = predicted_sets_correct(net, pos, lang, batch_symbols=bs)
    # right by the frontier's definition (also the +-2 near misses and the continuation)
    res, acc = _judge(net, lang, [int(n) for n in ns], "correct", bs)
    correct = np.array([r is None for r in res], dtype=bool)
    limit = max(int(n_max) if frontier_limit is None else int(frontier_limit), int(n_max), 1)
    fr, (sn, sacc) = _search(net, lang, 1, limit, "correct", bs, True, known=(ns, correct))
    # the members' acceptance beyond the curve, from the walk above, is reused
    past = sn > ns[-1]
    known_acc = (np.concatenate([ns, sn[past]]), np.concatenate([acc, sacc[past]]))
    # members alone: walked to ACCEPT_SEARCH_FACTOR x where the frontier stopped (a
    # network that accepts everything would otherwise walk to the limit for nothing)
    a_limit = min(limit, max(int(n_max), 1, ACCEPT_SEARCH_FACTOR * fr.checked_to))
    fa = _search(net, lang, 1, a_limit, "accepted", bs, True, known=known_acc)[0]
    first_nm = int(ns[nm_acc][0]) if nm_acc.any() else None
    if first_nm is None and fr.reason == "near miss accepted":
        first_nm = fr.first_failure
    max_acc = int(ns[acc].max()) if acc.any() else None
    if fa.value >= 1:
        max_acc = max(max_acc or 0, fa.value)
    metrics: dict = {
        "n_max_evaluated": int(n_max),
        "max_accepted_n": max_acc,
        "first_near_miss_accepted_n": first_nm,
        "frontier": fr.value,
        "frontier_checked_to": fr.checked_to,
        "frontier_first_failure": fr.first_failure,
        "frontier_reason": fr.reason,
        "frontier_failed_on": fr.failed_on,
        "frontier_precision_explains": fr.precision_explains,
        "frontier_explanation": fr.explanation,
        "accept_frontier": fa.value,
        "accept_frontier_checked_to": fa.checked_to,
        "accept_frontier_first_failure": fa.first_failure,
        "accept_frontier_precision_explains": fa.precision_explains,
        "e1": int(ns[~correct][0]) if (~correct).any() else None,
    }
    if train_max is not None:
        tr = ns <= train_max
        metrics["train_max"] = int(train_max)
        metrics["accuracy_train"] = float(correct[tr].mean()) if tr.any() else None
        metrics["accuracy_beyond"] = float(correct[~tr].mean()) if (~tr).any() else None
    far_n = _sparse_points(n_max, far) if far else []
    if far_n:
        far_acc = net.accepts([lang.positive_of_n(n) for n in far_n])
        metrics["far_n"] = far_n
        metrics["far_accepted"] = [bool(a) for a in far_acc]
        if far_acc.any():
            metrics["max_accepted_n"] = max(
                metrics["max_accepted_n"] or -1, max(np.array(far_n)[far_acc])
            )
            metrics["max_accepted_n"] = int(metrics["max_accepted_n"])
    curves = {
        "n": ns,
        "accepted": acc,
        "near_miss_accepted": nm_acc,
        "sets_correct": sets_ok,
        "correct": correct,
    }
    return EvalResult(curves, metrics)


def evaluate_by_length(
    net,
    lang,
    rng: np.random.Generator,
    lengths: Sequence[int],
    per_length: int = 20,
    train_max: int | None = None,
) -> EvalResult:
    """Accuracy by length on sampled positives, near misses and random negatives.

    Returns curves ``length``, ``accuracy`` (all words of that length),
    ``positive_accuracy``, ``negative_accuracy`` (NaN where there are none),
    ``count``; metrics ``frontier`` (largest length with every shorter one fully
    right; checked only on the sampled words of the lengths given, so with
    ``frontier_first_failure`` None it is a lower bound, and
    ``frontier_checked_to`` says the largest length evaluated),
    ``accuracy_train``/``accuracy_beyond`` when ``train_max`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> import expressivity as ex
    >>> from expressivity.languages import get_language
    >>> net = ex.Network.create("gru", "ab", 3, rng=np.random.default_rng(0))
    >>> ev = evaluate_by_length(net, get_language("parity"), np.random.default_rng(1), range(4))
    >>> ev.curves["length"].tolist()
    [0, 1, 2, 3]
    """
    from expressivity.languages import make_dataset

    lengths = [int(v) for v in lengths]
    if not lengths or min(lengths) < 0:
        raise ValueError(f"lengths must be a non-empty list of lengths >= 0, got {lengths}")
    ds = make_dataset(lang, rng, lengths=lengths, positives_per_length=per_length)
    words = ds.words
    ok = word_correct(net, words, ds.labels, lang)
    xs = np.array(sorted(set(lengths)))
    accs, pacc, nacc, cnt = [], [], [], []
    for v in xs:
        m = ds.lengths == v
        cnt.append(int(m.sum()))
        accs.append(float(ok[m].mean()) if m.any() else np.nan)
        mp, mn = m & ds.labels, m & ~ds.labels
        pacc.append(float(ok[mp].mean()) if mp.any() else np.nan)
        nacc.append(float(ok[mn].mean()) if mn.any() else np.nan)
    acc_arr = np.array(accs)
    full = np.where(np.isnan(acc_arr), True, acc_arr == 1.0)
    metrics: dict = {
        "frontier": frontier(xs, full),
        "frontier_checked_to": int(xs[-1]),  # sampled words: a lower bound unless it fails
        "frontier_first_failure": int(xs[~full][0]) if (~full).any() else None,
        "accuracy": float(ok.mean()),
    }
    if train_max is not None:
        tr = ds.lengths <= train_max
        metrics["train_max"] = int(train_max)
        metrics["accuracy_train"] = float(ok[tr].mean()) if tr.any() else None
        metrics["accuracy_beyond"] = float(ok[~tr].mean()) if (~tr).any() else None
    curves = {
        "length": xs,
        "accuracy": acc_arr,
        "positive_accuracy": np.array(pacc),
        "negative_accuracy": np.array(nacc),
        "count": np.array(cnt),
    }
    return EvalResult(curves, metrics)
