"""Counter detection: which state units (or read-outs across units) track a count.

Three tests, each stated with its threshold as a module constant:

1. **Phase-aware fits.** Every state unit is fitted by least squares,
   ``unit ~ slope * counter + intercept``, against every candidate counter: the
   language's ground-truth counters (``lang.counters``) and the counts of the
   alphabet's symbols with their pairwise differences (``#a``, ``#a-#b``, ...),
   on the prefixes of the canonical positives up to the training range. A fit
   may use all prefixes, or only those in a set of *phases* (a prefix's phase is
   its last symbol: the ``a`` phase of ``a^n b^n c^n`` is its ``a`` block) when
   the counter moves both up and down inside those phases (so ``#a-#b`` on the
   ``a``/``b`` phases qualifies, ``#a`` on the ``a`` phase alone does not: any
   unit that rises along ``a^n`` would). The fit with the highest R^2 wins (ties
   go to more phases, then to the language's own counters); it must reach
   :data:`R2_MIN` with ``|slope| >=`` :data:`MIN_SLOPE`.
2. **Unboundedness.** A counter's increment per symbol stays constant far
   beyond training; a unit that drifts to a fixed point (a leaky or contracting
   unit, ``h' = (1 - z) h + z``) has increments that decay geometrically, by a
   ratio ``rho`` per symbol (``1 - z`` for the leaky unit). The same weights
   are run at ``float64`` (so a precision break does not enter this test) along
   the long positive ``positive_of_n(n_max)``. On the block that builds the
   count (the first block of the fitted phases in which the counter moves, e.g.
   the ``a`` block for ``#a-#b``) the unit's increment per count is taken
   symbol by symbol and divided by its median over symbols ``n_train - W ..
   n_train`` (``W = max(3, n_train // 2)``). The *stretch* is how long the
   running median (over ``W`` symbols) of that ratio stays within
   ``[PERSISTENCE_MIN, 1 / PERSISTENCE_MIN]``: a trained network's other units
   may end a count abruptly far beyond training (the break test reports where);
   a leaky unit's increments fade smoothly. ``rho`` is fitted by least squares
   on ``log |increment|`` over the stretch. The unit is unbounded when the
   stretch reaches :data:`STRETCH_MIN` ``* n_train`` symbols and ``rho**HORIZON
   >= PERSISTENCE_MIN`` (the fitted decay, extrapolated to :data:`HORIZON`
   symbols: a leaky unit with ``z = 0.001`` keeps 0.7% of its increment there).
   A contraction slower than ``rho = PERSISTENCE_MIN ** (1 / HORIZON)``
   (``z < 1.4e-4``) is not told from a counter; ``rho`` is reported so a reader
   can see how close a unit came. ``increment_ratio`` (the block's last ``W``
   symbols against training) is reported too.
3. **Multi-unit probes.** For each candidate counter a linear read-out across
   all state units (ridge :data:`PROBE_RIDGE` on standardized units) is fitted
   on the training prefixes and tested on the long positive's prefixes beyond
   the training range (first block longer than ``n_train``); it counts when its
   R^2 there reaches :data:`PROBE_R2_MIN`. The fraction of far prefixes it reads
   to within half a count (``exact_far``) is reported too.

A unit *counts* when 1 and 2 hold. Along one long positive at the network's own
precision, a counting unit is then followed to where it leaves its line (by more
than :data:`BREAK_TOL` ``* |slope|``), and the report says whether the number
format explains that break (the spacing of representable values at the unit's
value reaches ``2 * |slope|``, so ``x + slope`` rounds back to ``x``; or the
value overflows). :func:`sensitivity_table` shows how the detections change
with each threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from expressivity.evaluate import format_spacing

from ._members import positive_of_size
from ._util import as_rng, check_alphabets, encode_word
from .collect import check_backend, collect_states

__all__ = [
    "BREAK_TOL",
    "HORIZON",
    "MIN_SLOPE",
    "PERSISTENCE_MIN",
    "PROBE_R2_MIN",
    "PROBE_RIDGE",
    "R2_MIN",
    "SENSITIVITY_GRID",
    "STRETCH_MIN",
    "CounterReport",
    "ProbeFit",
    "UnitFit",
    "find_counters",
    "format_spacing",
    "sensitivity_rows",
    "sensitivity_table",
]

#: R^2 a unit's (phase-aware) fit must reach on the training range.
R2_MIN = 0.98
#: Smallest ``|slope|`` (state change per count) a counting unit may have.
MIN_SLOPE = 1e-3
#: Far-to-near ratio of the increment per count a counting unit must keep.
PERSISTENCE_MIN = 0.5
#: Symbols over which the fitted decay ratio must keep PERSISTENCE_MIN of an increment.
HORIZON = 5000
#: A counting unit keeps its increment for at least this multiple of n_train symbols.
STRETCH_MIN = 2
#: A counting unit leaves its line when off by more than ``BREAK_TOL * |slope|``.
BREAK_TOL = 0.5
#: R^2 beyond the training range a multi-unit probe must reach to count.
PROBE_R2_MIN = 0.98
#: Ridge penalty of the probes (on units standardized over the training prefixes).
PROBE_RIDGE = 1e-6


@dataclass
class UnitFit:
    """The fit of one state unit against its best-matching candidate counter.

    Attributes
    ----------
    unit : int
        Index in the state vector (``concat(h, c)`` for an LSTM).
    name : str
        ``"h3"`` or ``"c3"``.
    counter : int
        Index into :attr:`CounterReport.candidates`; the language's own counters
        come first, so ``counter < lang.n_counters`` is column ``counter`` of
        ``lang.counters``.
    counter_name : str
        ``"counter 0 (#a-#b)"``, ``"#a"``, ...
    phases : str
        The phases (last symbols) of the prefixes fitted; all the alphabet when
        the fit uses every prefix.
    slope, intercept, r2 : float
        Least-squares fit and its R^2 on the training range, in those phases.
    r2_whole : float
        Best R^2 over the language's own counters on every prefix (the
        single-unit, whole-word fit, for comparison).
    r2_far : float
        R^2 of the same line along the long positive, in the same phases.
    increment_ratio : float
        Ratio of the unit's increment per count at the end of the block that
        builds the count to the one near the end of training, at float64 (1
        for a counter, about ``rho**(n_max - n_train)`` for a contraction);
        NaN when the block is too short to test.
    decay_ratio : float
        Geometric ratio ``rho`` of the increments per symbol, fitted over the
        stretch (1 for a counter, ``1 - z`` for a leaky unit with rate ``z``).
    stretch : int
        Symbols of that block before the increment per count leaves
        ``[persistence_min, 1 / persistence_min]`` times its value near the end
        of training (the block's length when it never does).
    unbounded : bool
        ``stretch >= STRETCH_MIN * n_train`` and
        ``decay_ratio**HORIZON >= persistence_min``.
    is_counter : bool
        ``r2 >= r2_min``, ``|slope| >= min_slope`` and ``unbounded``.
    linear_beyond : bool
        The unit stays within ``break_tol * |slope|`` of the line along the whole
        long positive (in the fitted phases), at the network's precision.
    break_position : int or None
        First prefix length of the long positive where it leaves the line.
    break_at : float or None
        Counter value of the last prefix still on the line (e.g. 2048).
    value_at_break : float or None
        The unit's value where it left the line.
    spacing_at_break : float or None
        Spacing of the number format at that value.
    precision_explains : bool or None
        Whether the format explains the break (spacing >= ``2 * |slope|`` or overflow).
    gates : dict[str, tuple[float, float, float]]
        For the gates acting on this unit: (mean, fraction > 0.99, fraction < 0.01).
    """

    unit: int
    name: str
    counter: int
    slope: float
    intercept: float
    r2: float
    counter_name: str = ""
    phases: str = ""
    r2_whole: float = float("nan")
    r2_far: float = float("nan")
    increment_ratio: float = float("nan")
    decay_ratio: float = float("nan")
    stretch: int = 0
    unbounded: bool = False
    is_counter: bool = False
    linear_beyond: bool = False
    break_position: int | None = None
    break_at: float | None = None
    value_at_break: float | None = None
    spacing_at_break: float | None = None
    precision_explains: bool | None = None
    gates: dict[str, tuple[float, float, float]] = field(default_factory=dict)


@dataclass
class ProbeFit:
    """A linear read-out across all state units of one candidate counter.

    Attributes
    ----------
    counter : int
        Index into :attr:`CounterReport.candidates`.
    counter_name, phases : str
    r2_train : float
        R^2 on the training prefixes (in ``phases``).
    r2_far : float
        R^2 on the long positive's prefixes beyond the training range.
    max_err_far : float
        Largest absolute error there, in counts.
    exact_far : float
        Fraction of those prefixes read to within half a count.
    weights : ndarray
        Read-out weights per state unit (in the units' own scale); ``bias``.
    is_counter : bool
        ``r2_far >= probe_r2_min``.
    """

    counter: int
    counter_name: str
    phases: str
    r2_train: float
    r2_far: float
    max_err_far: float
    exact_far: float
    weights: np.ndarray
    bias: float
    is_counter: bool = False


@dataclass
class CounterReport:
    """Outcome of :func:`find_counters`.

    Attributes
    ----------
    units : list of UnitFit
        Every state unit, with its best counter.
    n_train, n_max : int
        Training range and far range of n used.
    precision : str
    probes : list of ProbeFit
        One multi-unit read-out per candidate counter.
    candidates : list of str
        Names of the candidate counters (the language's own first).
    thresholds : dict
        The thresholds used (``r2_min``, ``min_slope``, ``persistence_min``,
        ``probe_r2_min``, ``break_tol``).
    """

    units: list[UnitFit]
    n_train: int
    n_max: int
    precision: str
    probes: list[ProbeFit] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    thresholds: dict = field(default_factory=dict)

    @property
    def counters(self) -> list[UnitFit]:
        """The units that count (``is_counter``)."""
        return [u for u in self.units if u.is_counter]

    @property
    def counting_probes(self) -> list[ProbeFit]:
        """The multi-unit read-outs that count beyond training (``is_counter``)."""
        return [p for p in self.probes if p.is_counter]

    def unit(self, name: str) -> UnitFit:
        """The fit of the unit called ``name`` (``"c5"``, ``"h0"``)."""
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(f"no unit {name!r}; units are {[u.name for u in self.units]}")

    def summary(self) -> str:
        """One line per counting unit, then one per counting multi-unit probe."""
        lines = []
        if not self.counters:
            lines.append(f"no counting unit (precision {self.precision}, n <= {self.n_train})")
        for u in self.counters:
            brk = (
                "linear to n_max"
                if u.linear_beyond
                else f"breaks after counter {u.break_at} (value {u.value_at_break}, spacing "
                f"{u.spacing_at_break}, precision explains: {u.precision_explains})"
            )
            lines.append(
                f"{u.name}: counter {u.counter} ({u.counter_name}, phases {u.phases}) "
                f"slope={u.slope:.4g} intercept={u.intercept:.4g} R2={u.r2:.5f} "
                f"R2_far={u.r2_far:.4f} increment ratio={u.increment_ratio:.3f} "
                f"rho={u.decay_ratio:.6f} stretch={u.stretch}; {brk}"
            )
        for p in self.counting_probes:
            lines.append(
                f"probe {p.counter_name} (phases {p.phases}): R2={p.r2_train:.5f} "
                f"R2_far={p.r2_far:.4f} exact_far={p.exact_far:.3f}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------- fitting
def _fit_all(x: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple regression of every column of ``ys`` on ``x``: slopes, intercepts, R^2."""
    xc = x - x.mean()
    yc = ys - ys.mean(axis=0)
    sxx = float(xc @ xc)
    syy = np.einsum("ij,ij->j", yc, yc)
    if sxx == 0.0:
        z = np.zeros(ys.shape[1])
        return z, ys.mean(axis=0), z
    sxy = xc @ yc
    a = sxy / sxx
    b = ys.mean(axis=0) - a * x.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(syy > 0, sxy**2 / (sxx * syy), 0.0)
    return a, b, np.clip(r2, 0.0, 1.0)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0 or not np.all(np.isfinite(y)):
        return 0.0
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot


def _candidates(lang: Any, n_c: int) -> tuple[list[str], Any]:
    """Names of the candidate counters and a function word -> (len+1, K) values."""
    alpha = lang.alphabet
    v = len(alpha)
    combos: list[tuple[str, np.ndarray]] = []
    for i in range(v):
        w = np.zeros(v)
        w[i] = 1.0
        combos.append((f"#{alpha[i]}", w))
    for i, j in combinations(range(v), 2):
        w = np.zeros(v)
        w[i], w[j] = 1.0, -1.0
        combos.append((f"#{alpha[i]}-#{alpha[j]}", w))

    def values(word: str) -> np.ndarray:
        codes = encode_word(word, alpha)
        onehot = np.zeros((len(codes) + 1, v))
        onehot[np.arange(1, len(codes) + 1), codes] = 1.0
        counts = np.cumsum(onehot, axis=0)
        gt = np.asarray(lang.counters(word), dtype=np.float64).reshape(len(codes) + 1, n_c)
        return np.concatenate([gt, counts @ np.stack([w for _, w in combos], axis=1)], axis=1)

    return [f"counter {j}" for j in range(n_c)] + [name for name, _ in combos], values


def _dedupe(names: list[str], c_train: np.ndarray, n_c: int) -> tuple[list[str], list[int]]:
    """Keep one candidate per distinct column (a count equal to a counter names it)."""
    keep: list[int] = []
    out = list(names)
    for k in range(c_train.shape[1]):
        same = next((i for i in keep if np.array_equal(c_train[:, i], c_train[:, k])), None)
        if same is None:
            keep.append(k)
        elif same < n_c and k >= n_c and "(" not in out[same]:
            out[same] = f"{out[same]} ({names[k]})"
    return out, keep


def _tree_values(ps, word_values, words: list[str], k: int) -> np.ndarray:
    out = np.full((len(ps), k), np.nan)
    for w in words:
        vals = word_values(w)
        row = 0
        out[0] = vals[0]
        for t, s in enumerate(encode_word(w, ps.alphabet)):
            row = ps.children[row, s]
            out[row] = vals[t + 1]
    return out


def _phase_sets(v: int) -> list[tuple[int, ...]]:
    """Every non-empty set of phases, the full set first."""
    full = tuple(range(v))
    subs = [c for r in range(v - 1, 0, -1) for c in combinations(range(v), r)]
    return [full, *subs]


def _persistence(
    s64: np.ndarray,
    cand: np.ndarray,
    phase: np.ndarray,
    phases: tuple[int, ...],
    u: int,
    n_train: int,
    persistence_min: float = PERSISTENCE_MIN,
) -> tuple[float, float, int]:
    """(increment ratio, decay ratio rho, stretch) on the block that builds the count.

    The block is the first maximal run of one phase in ``phases`` along which
    ``cand`` moves every symbol in one direction (the ``a`` block for ``#a-#b``).
    The stretch is how many symbols of it pass before the running median (over
    ``W`` symbols) of the increment per count leaves ``[p, 1/p]`` times its
    value near the end of training (``p = persistence_min``); rho is fitted on
    ``log |increment|`` over that stretch from symbol ``n_train - W`` on.
    """
    nan = float("nan")
    dc = np.diff(cand)
    du = np.diff(s64[:, u])
    ph = phase[1:]
    moving = np.isin(ph, phases) & (dc != 0)
    key = np.where(moving, ph * 2 + (dc > 0), -1)
    cuts = np.flatnonzero(np.diff(key) != 0) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(key)]])
    w = max(3, n_train // 2)
    for a, b in zip(starts, ends):
        if key[a] < 0:
            continue
        if b - a < n_train + w:
            return nan, nan, 0
        r = du[a:b] / dc[a:b]
        near = float(np.median(r[max(0, n_train - w) : n_train]))
        if near == 0.0 or not np.isfinite(near):
            return 0.0, nan, 0
        q = r / near
        far = float(np.median(q[b - a - w :]))
        ratio = far if np.isfinite(far) else 0.0
        run_med = np.median(np.lib.stride_tricks.sliding_window_view(q[n_train:], w), axis=1)
        lo, hi = persistence_min, 1.0 / persistence_min if persistence_min > 0 else np.inf
        out = np.flatnonzero(~((run_med >= lo) & (run_med <= hi)))
        stretch = int(n_train + out[0]) if out.size else int(b - a)
        t = np.arange(max(1, n_train - w), max(stretch, n_train))
        ok = (q[t] > 0) & np.isfinite(q[t])
        rho = float(np.exp(np.polyfit(t[ok], np.log(q[t][ok]), 1)[0])) if ok.sum() >= 2 else 0.0
        return float(ratio), rho, stretch
    return nan, nan, 0


def _unbounded(
    rho: float, stretch: int, n_train: int, persistence_min: float = PERSISTENCE_MIN
) -> bool:
    """Counted undisturbed past STRETCH_MIN x training, and the fitted decay keeps it."""
    if not np.isfinite(rho) or rho <= 0.0 or stretch < STRETCH_MIN * n_train:
        return False
    if rho >= 1.0:  # increments that do not decay (rho**HORIZON would overflow for rho > 1)
        return True
    return bool(HORIZON * np.log(rho) >= np.log(persistence_min)) if persistence_min > 0 else True


def _probe(
    x_train: np.ndarray, y_train: np.ndarray, x_far: np.ndarray, y_far: np.ndarray, ridge: float
) -> tuple[float, float, float, float, np.ndarray, float]:
    mu = x_train.mean(axis=0)
    sd = x_train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x_train - mu) / sd
    ym = y_train.mean()
    k = z.shape[1]
    coef = np.linalg.solve(z.T @ z + ridge * len(z) * np.eye(k), z.T @ (y_train - ym))
    w = coef / sd
    b = float(ym - mu @ w)
    r2_train = _r2(y_train, x_train @ w + b)
    if len(y_far) == 0:
        return r2_train, float("nan"), float("nan"), float("nan"), w, b
    pred = x_far @ w + b
    err = np.abs(pred - y_far)
    finite = np.all(np.isfinite(pred))
    r2_far = _r2(y_far, pred) if finite else 0.0
    return (
        r2_train,
        r2_far,
        float(err.max()) if finite else float("inf"),
        float(np.mean(err < 0.5)) if finite else 0.0,
        w,
        b,
    )


def find_counters(
    net: Any,
    lang: Any,
    *,
    n_train: int = 100,
    n_max: int | None = None,
    r2_min: float = R2_MIN,
    min_slope: float = MIN_SLOPE,
    break_tol: float = BREAK_TOL,
    persistence_min: float = PERSISTENCE_MIN,
    probe_r2_min: float = PROBE_R2_MIN,
    train_step: int | None = None,
    backend: str = "cpu",
) -> CounterReport:
    """Find the state units that count, the read-outs that count, and where counting breaks.

    See the module docstring for the three tests and their thresholds.

    Parameters
    ----------
    net : Network
    lang : Language
        Must have ground-truth counters, ``counters(word)`` (the counter values after
        every prefix): this analysis fits each state unit against them, so it needs
        a counting language (``anbn``, Dyck, ``from_constraints`` whose counters are
        the symbol counts, or a subclass with ``_counters``). Regular languages
        (regex, DFA, Tomita) have none: use ``extract_dfa`` or ``growth_along``.
        Members of size ``n`` are the canonical ``positive_of_n(n)`` where the
        language has them, else sampled members of length ``n`` (see
        :func:`~expressivity.analysis._members.positive_of_size`).
    n_train : int
        Fit on the positives ``positive_of_n(n)``, ``n <= n_train``, and their prefixes.
    n_max : int, optional
        The long positive (default ``10 * n_train``): followed beyond training at
        the network's precision (break, probes) and at float64 (unboundedness).
    r2_min, min_slope : float
        A unit's fit must reach ``r2_min`` with ``|slope| >= min_slope``.
    break_tol : float
        A unit leaves its line when it is off by more than ``break_tol * |slope|``
        (positions before it first reaches the line, a start-up transient, do not count).
    persistence_min : float
        Far-to-near ratio of increments a counting unit must keep.
    probe_r2_min : float
        R^2 beyond training a multi-unit probe must reach.
    train_step : int, optional
        Use every ``train_step``-th n up to ``n_train`` (default: about 25 values).
    backend : {"cpu", "cuda"}
        Where the states of the training prefixes are computed (see
        :func:`~expressivity.analysis.collect_states`); the long words run on the CPU.

    Returns
    -------
    CounterReport

    Raises
    ------
    ValueError
        A language without counters or canonical positives, an alphabet that is
        not the network's, ``n_train < 1`` or ``n_max < n_train``.

    Examples
    --------
    >>> rep = find_counters(net, get_language("anbn"), n_train=100, n_max=3000)  # doctest: +SKIP
    >>> [(u.name, u.break_at) for u in rep.counters]                            # doctest: +SKIP
    [('c0', 2048.0)]
    >>> print(sensitivity_table(rep))                                           # doctest: +SKIP
    """
    backend = check_backend(backend)
    check_alphabets(net, lang)
    lname = getattr(lang, "name", lang)
    probe = lang.counters("") if hasattr(lang, "counters") else None
    if probe is None:
        raise ValueError(
            f"language {lname!r} has no ground-truth counters (lang.counters returned "
            "None), and find_counters needs them: it fits each state unit against the "
            "counter values after every prefix. Counting languages (anbn, dyck-1, "
            "from_constraints(...)) have them; for a regular language (regex, DFA, "
            "Tomita) use extract_dfa or growth_along instead"
        )
    positive = positive_of_size(lang, as_rng(None))  # canonical, else sampled members
    n_c = int(np.asarray(probe).shape[1])
    n_train = int(n_train)
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1, got {n_train}")
    n_max = 10 * n_train if n_max is None else int(n_max)
    if n_max < n_train:
        raise ValueError(f"n_max ({n_max}) must be >= n_train ({n_train})")
    step = train_step or max(1, n_train // 25)
    ns = sorted(set(range(0, n_train + 1, step)) | {n_train})
    words = [w for w in map(positive, ns) if w is not None]
    if not words:
        raise ValueError(f"language {lname!r} has no member of size 0..{n_train} to fit on")
    ps = collect_states(net, words, outputs=False, gates=True, backend=backend)

    names, word_values = _candidates(lang, n_c)
    c_all = _tree_values(ps, word_values, words, len(names))
    names, keep = _dedupe(names, c_all, n_c)
    names = [names[k] for k in keep]
    c_train = c_all[:, keep]
    s_train = np.asarray(ps.states, dtype=np.float64)
    phase_train = np.asarray(ps.symbol)
    # direction of each candidate's step into each prefix
    par = np.asarray(ps.parent)
    dc_train = np.zeros_like(c_train)
    dc_train[1:] = c_train[1:] - c_train[par[1:]]

    long_word = positive(n_max)
    if long_word is None:
        raise ValueError(f"language {lname!r} has no member of size {n_max} (n_max) to follow")
    s_far = np.asarray(net.states([long_word])[0], dtype=np.float64)
    c_far = word_values(long_word)[:, keep]
    phase_far = np.concatenate([[-1], encode_word(long_word, lang.alphabet)])
    s64 = np.asarray(net.with_precision("float64").states([long_word])[0], dtype=np.float64)

    h = int(net.hidden_size)
    is_lstm = s_train.shape[1] == 2 * h
    prec = net.precision
    v = len(lang.alphabet)
    gate_stats: dict[str, np.ndarray] = {}
    for gname, g in (ps.gates or {}).items():
        g = np.asarray(g[1:], dtype=np.float64)
        gate_stats[gname] = np.stack(
            [g.mean(axis=0), (g > 0.99).mean(axis=0), (g < 0.01).mean(axis=0)], axis=1
        )

    # ---- phase-aware fits: every (candidate, phase set) at once over the units
    n_units = s_train.shape[1]
    best_r2 = np.full(n_units, -1.0)
    best = [(0, (), 0.0, 0.0)] * n_units
    r2_whole = np.zeros(n_units)
    eligible_sets: dict[int, list[tuple[int, ...]]] = {}
    for pset in _phase_sets(v):
        rows = np.isin(phase_train, pset)
        if rows.sum() < 3:
            continue
        for k in range(c_train.shape[1]):
            x = c_train[rows, k]
            dx = dc_train[rows, k]
            if len(pset) < v and not ((dx > 0).any() and (dx < 0).any()):
                continue  # a subset of phases must see the counter go up and down
            eligible_sets.setdefault(k, []).append(pset)
            a, b, r2 = _fit_all(x, s_train[rows])
            if len(pset) == v and k < n_c:
                r2_whole = np.maximum(r2_whole, r2)
            better = r2 > best_r2 + 1e-9
            for u in np.flatnonzero(better):
                best_r2[u] = r2[u]
                best[u] = (k, pset, float(a[u]), float(b[u]))

    units = []
    for u in range(n_units):
        k, pset, a, b = best[u]
        r2 = float(max(best_r2[u], 0.0))
        j_unit = u - h if (is_lstm and u >= h) else u
        name = ("c" if is_lstm and u >= h else "h") + str(j_unit)
        fit = UnitFit(unit=u, name=name, counter=k, slope=a, intercept=b, r2=r2)
        fit.counter_name = names[k]
        fit.phases = "".join(lang.alphabet[i] for i in pset)
        fit.r2_whole = float(r2_whole[u])
        fit.gates = {gk: tuple(float(x) for x in gv[j_unit]) for gk, gv in gate_stats.items()}
        far_rows = np.isin(phase_far, pset)
        pred = a * c_far[:, k] + b
        y = s_far[:, u]
        fit.r2_far = _r2(y[far_rows], pred[far_rows]) if far_rows.any() else 0.0
        fit.increment_ratio, fit.decay_ratio, fit.stretch = _persistence(
            s64, c_far[:, k], phase_far, pset, u, n_train, persistence_min
        )
        fit.unbounded = _unbounded(fit.decay_ratio, fit.stretch, n_train, persistence_min)
        fit.is_counter = bool(r2 >= r2_min and abs(a) >= min_slope and fit.unbounded)
        if fit.is_counter:
            on = np.abs(y - pred) <= break_tol * abs(a)
            on = on | ~far_rows  # only the fitted phases are checked
            # a transient before the unit first reaches its line (e.g. the initial state,
            # off the line the rest follows) is not a break
            start = int(np.argmax(on & far_rows)) if (on & far_rows).any() else 0
            off = np.nonzero(~on[start:])[0] + start
            if off.size == 0:
                fit.linear_beyond = True
            else:
                t = int(off[0])
                fit.break_position = t
                fit.break_at = float(c_far[t - 1, k]) if t > 0 else None
                fit.value_at_break = float(y[t])
                sp = format_spacing(prec, y[t])
                fit.spacing_at_break = float(sp)
                max_v = float(getattr(prec, "max_value", np.inf))
                fit.precision_explains = bool(
                    sp >= 2 * abs(a) * (1 - 1e-9) or not np.isfinite(y[t]) or abs(y[t]) >= max_v
                )
        units.append(fit)

    # ---- multi-unit probes: phase set chosen on the training prefixes only
    beyond = np.arange(len(long_word) + 1) > n_train
    probes = []
    for k in range(c_train.shape[1]):
        choice = None
        for pset in eligible_sets.get(k, []):
            rows = np.isin(phase_train, pset)
            res = _probe(s_train[rows], c_train[rows, k], s_train[:0], c_train[:0, k], PROBE_RIDGE)
            if choice is None or res[0] > choice[1] + 1e-4:
                choice = (pset, res[0])
        if choice is None:
            continue
        pset = choice[0]
        rows = np.isin(phase_train, pset)
        far = np.isin(phase_far, pset) & beyond
        r2t, r2f, mx, ex_, w, b = _probe(
            s_train[rows], c_train[rows, k], s_far[far], c_far[far, k], PROBE_RIDGE
        )
        probes.append(
            ProbeFit(
                counter=k,
                counter_name=names[k],
                phases="".join(lang.alphabet[i] for i in pset),
                r2_train=r2t,
                r2_far=r2f,
                max_err_far=mx,
                exact_far=ex_,
                weights=w,
                bias=b,
                is_counter=bool(np.isfinite(r2f) and r2f >= probe_r2_min),
            )
        )
    thresholds = {
        "r2_min": float(r2_min),
        "min_slope": float(min_slope),
        "persistence_min": float(persistence_min),
        "probe_r2_min": float(probe_r2_min),
        "break_tol": float(break_tol),
    }
    return CounterReport(
        units=units,
        n_train=n_train,
        n_max=n_max,
        precision=str(prec),
        probes=probes,
        candidates=names,
        thresholds=thresholds,
    )


#: Default grids of :func:`sensitivity_table`, one threshold varied at a time.
SENSITIVITY_GRID = {
    "r2_min": (0.9, 0.95, 0.98, 0.99, 0.995, 0.999),
    "min_slope": (1e-4, 1e-3, 1e-2, 1e-1),
    "persistence_min": (0.1, 0.25, 0.5, 0.75, 0.9),
    "probe_r2_min": (0.9, 0.95, 0.98, 0.99, 0.999),
}


def sensitivity_rows(report: CounterReport, grid: dict | None = None) -> list[dict]:
    """Detections as each threshold varies, the others at the report's values.

    (A unit's stretch was measured at the report's ``persistence_min``; varying
    it here changes the decay criterion ``rho**HORIZON >= persistence_min``.)

    Returns one dict per (threshold, value): ``threshold``, ``value``,
    ``n_units`` and ``units`` (names of the units that count), ``n_probes`` and
    ``probes`` (candidates whose read-out counts beyond training).
    """
    grid = SENSITIVITY_GRID if grid is None else grid
    base = dict(report.thresholds) or {
        "r2_min": R2_MIN,
        "min_slope": MIN_SLOPE,
        "persistence_min": PERSISTENCE_MIN,
        "probe_r2_min": PROBE_R2_MIN,
    }
    unknown = set(grid) - set(SENSITIVITY_GRID)
    if unknown:
        raise ValueError(
            f"unknown threshold(s) {sorted(unknown)}; known: {sorted(SENSITIVITY_GRID)}"
        )
    rows = []
    for key, values in grid.items():
        for val in values:
            t = {**base, key: float(val)}
            us = [
                u.name
                for u in report.units
                if u.r2 >= t["r2_min"]
                and abs(u.slope) >= t["min_slope"]
                and _unbounded(u.decay_ratio, u.stretch, report.n_train, t["persistence_min"])
            ]
            pr = [
                p.counter_name
                for p in report.probes
                if np.isfinite(p.r2_far) and p.r2_far >= t["probe_r2_min"]
            ]
            rows.append(
                {"threshold": key, "value": float(val), "n_units": len(us), "units": us,
                 "n_probes": len(pr), "probes": pr}
            )  # fmt: skip
    return rows


def sensitivity_table(report: CounterReport, grid: dict | None = None) -> str:
    """Markdown table of :func:`sensitivity_rows` (detections vs each threshold).

    Examples
    --------
    >>> print(sensitivity_table(rep))          # doctest: +SKIP
    | threshold | value | units counting | probes counting |
    ...
    """
    lines = [
        "| threshold | value | units counting | probes counting |",
        "|---|---|---|---|",
    ]
    for r in sensitivity_rows(report, grid):
        mark = " (used)" if report.thresholds.get(r["threshold"]) == r["value"] else ""
        lines.append(
            f"| {r['threshold']} | {r['value']:g}{mark} | {r['n_units']}: "
            f"{', '.join(r['units']) or '–'} | {r['n_probes']}: {', '.join(r['probes']) or '–'} |"
        )
    return "\n".join(lines)
