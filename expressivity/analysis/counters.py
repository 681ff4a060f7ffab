"""Counter detection: which state units track the language's ground-truth counters.

Each state unit is fitted (least squares, ``unit ~ slope * counter + intercept``)
against every ground-truth counter of the language (``lang.counters``) on the
canonical positives up to the training range and their prefixes; the fit is then
followed along one positive far beyond training to see where the unit stops
being linear, and whether the number format explains the break (the spacing of
representable values at the unit's magnitude reaches twice the slope, so
``x + slope`` rounds back to ``x``; or the value overflows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._util import check_alphabets, encode_word
from .collect import check_backend, collect_states

__all__ = ["CounterReport", "UnitFit", "find_counters", "format_spacing"]


def format_spacing(precision: Any, x: float) -> float:
    """Spacing of representable values of a number format at magnitude ``|x|``.

    Examples
    --------
    >>> from expressivity.precision import parse_precision          # doctest: +SKIP
    >>> format_spacing(parse_precision("float16"), 2048.0)          # doctest: +SKIP
    2.0
    """
    name = str(getattr(precision, "name", precision))
    kind = getattr(precision, "kind", None)
    if kind == 2 or name.startswith("fixed"):
        return float(getattr(precision, "resolution", 2.0 ** -int(name.split(".")[-1])))
    if hasattr(precision, "eps"):
        eps = float(precision.eps)
        tiny = float(getattr(precision, "smallest_subnormal", 0.0))
    else:
        m = {"float64": 52, "float32": 23, "float16": 10, "bfloat16": 7}.get(name)
        if m is None:
            raise ValueError(f"unknown precision {name!r}")
        eps, tiny = 2.0**-m, 0.0
    ax = abs(float(x))
    if ax == 0.0 or not np.isfinite(ax):
        return tiny if ax == 0.0 else float("inf")
    return max(eps * 2.0 ** np.floor(np.log2(ax)), tiny)


@dataclass
class UnitFit:
    """The fit of one state unit against its best-matching ground-truth counter.

    Attributes
    ----------
    unit : int
        Index in the state vector (``concat(h, c)`` for an LSTM).
    name : str
        ``"h3"`` or ``"c3"``.
    counter : int
        Column of ``lang.counters`` it follows best.
    slope, intercept, r2 : float
        Least-squares fit and its R^2 on the training range.
    r2_far : float
        R^2 of the same line along the long positive (beyond training).
    is_counter : bool
        ``r2 >= r2_min`` and ``|slope| >= min_slope``.
    linear_beyond : bool
        The unit stays within ``break_tol * |slope|`` of the line along the whole
        long positive.
    break_position : int or None
        First prefix length of the long positive where it leaves the line.
    break_at : float or None
        Counter value of the last prefix still on the line (e.g. 2048).
    value_at_break : float or None
        The unit's value where it left the line.
    spacing_at_break : float or None
        Spacing of the number format at that value.
    precision_explains : bool or None
        Whether the format explains the break (spacing >= 2 |slope| or overflow).
    gates : dict[str, tuple[float, float, float]]
        For the gates acting on this unit: (mean, fraction > 0.99, fraction < 0.01).
    """

    unit: int
    name: str
    counter: int
    slope: float
    intercept: float
    r2: float
    r2_far: float = float("nan")
    is_counter: bool = False
    linear_beyond: bool = False
    break_position: int | None = None
    break_at: float | None = None
    value_at_break: float | None = None
    spacing_at_break: float | None = None
    precision_explains: bool | None = None
    gates: dict[str, tuple[float, float, float]] = field(default_factory=dict)


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
    """

    units: list[UnitFit]
    n_train: int
    n_max: int
    precision: str

    @property
    def counters(self) -> list[UnitFit]:
        """The units that count (``is_counter``)."""
        return [u for u in self.units if u.is_counter]

    def summary(self) -> str:
        """One line per counting unit."""
        if not self.counters:
            return f"no counting unit (precision {self.precision}, n <= {self.n_train})"
        lines = []
        for u in self.counters:
            brk = (
                "linear to n_max"
                if u.linear_beyond
                else f"breaks after counter {u.break_at} (value {u.value_at_break}, spacing "
                f"{u.spacing_at_break}, precision explains: {u.precision_explains})"
            )
            lines.append(
                f"{u.name}: counter {u.counter} slope={u.slope:.4g} intercept={u.intercept:.4g} "
                f"R2={u.r2:.5f} R2_far={u.r2_far:.4f}; {brk}"
            )
        return "\n".join(lines)


def _prefix_counters(lang: Any, words: list[str], ps, n_c: int) -> np.ndarray:
    out = np.full((len(ps), n_c), np.nan)
    for w in words:
        c = np.asarray(lang.counters(w), dtype=np.float64)
        row = 0
        out[0] = c[0]
        for t, s in enumerate(encode_word(w, ps.alphabet)):
            row = ps.children[row, s]
            out[row] = c[t + 1]
    return out


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares y ~ a x + b; returns (a, b, R^2) (R^2 = 0 for a constant y)."""
    a_mat = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(a_mat, y, rcond=None)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0 or np.ptp(x) == 0.0:
        return float(a), float(b), 0.0
    ss_res = float(np.sum((y - (a * x + b)) ** 2))
    return float(a), float(b), 1.0 - ss_res / ss_tot


def find_counters(
    net: Any,
    lang: Any,
    *,
    n_train: int = 100,
    n_max: int | None = None,
    r2_min: float = 0.98,
    min_slope: float = 1e-3,
    break_tol: float = 0.5,
    train_step: int | None = None,
    backend: str = "cpu",
) -> CounterReport:
    """Find the state units that count, and where their counting breaks.

    Parameters
    ----------
    net : Network
    lang : Language
        Must provide ``counters(word)`` and ``positive_of_n(n)``.
    n_train : int
        Fit on the positives ``positive_of_n(n)``, ``n <= n_train``, and their prefixes.
    n_max : int, optional
        The long positive followed beyond training (default ``10 * n_train``).
    r2_min, min_slope : float
        A unit counts when its fit reaches ``r2_min`` with ``|slope| >= min_slope``.
    break_tol : float
        A unit leaves its line when it is off by more than ``break_tol * |slope|``
        (positions before it first reaches the line, a start-up transient, do not count).
    train_step : int, optional
        Use every ``train_step``-th n up to ``n_train`` (default: about 25 values).
    backend : {"cpu", "cuda"}
        Where the states of the training prefixes are computed (see
        :func:`~expressivity.analysis.collect_states`); the long word runs on the CPU.

    Returns
    -------
    CounterReport

    Examples
    --------
    >>> rep = find_counters(net, get_language("anbn"), n_train=100, n_max=3000)  # doctest: +SKIP
    >>> [(u.name, u.break_at) for u in rep.counters]                            # doctest: +SKIP
    [('c0', 2048.0)]
    """
    backend = check_backend(backend)
    check_alphabets(net, lang)
    lname = getattr(lang, "name", lang)
    probe = lang.counters("")
    if probe is None:
        raise ValueError(
            f"language {lname!r} has no ground-truth counters (lang.counters returned None)"
        )
    try:
        lang.positive_of_n(1)
    except (AttributeError, NotImplementedError) as err:
        raise ValueError(f"language {lname!r} has no canonical positives positive_of_n(n)") from err
    n_c = int(np.asarray(probe).shape[1])
    n_train = int(n_train)
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1, got {n_train}")
    n_max = 10 * n_train if n_max is None else int(n_max)
    if n_max < n_train:
        raise ValueError(f"n_max ({n_max}) must be >= n_train ({n_train})")
    step = train_step or max(1, n_train // 25)
    ns = sorted(set(range(0, n_train + 1, step)) | {n_train})
    words = [lang.positive_of_n(n) for n in ns]
    ps = collect_states(net, words, outputs=False, gates=True, backend=backend)
    c_train = _prefix_counters(lang, words, ps, n_c)
    s_train = np.asarray(ps.states, dtype=np.float64)
    long_word = lang.positive_of_n(n_max)
    s_far = np.asarray(net.states([long_word])[0], dtype=np.float64)
    c_far = np.asarray(lang.counters(long_word), dtype=np.float64)
    h = int(net.hidden_size)
    is_lstm = s_train.shape[1] == 2 * h
    prec = net.precision
    gate_stats: dict[str, np.ndarray] = {}
    for name, g in (ps.gates or {}).items():
        g = np.asarray(g[1:], dtype=np.float64)
        gate_stats[name] = np.stack(
            [g.mean(axis=0), (g > 0.99).mean(axis=0), (g < 0.01).mean(axis=0)], axis=1
        )
    units = []
    for u in range(s_train.shape[1]):
        best = None
        for j in range(n_c):
            fit = _fit(c_train[:, j], s_train[:, u])
            if best is None or fit[2] > best[1][2]:
                best = (j, fit)
        j, (a, b, r2) = best
        j_unit = u - h if (is_lstm and u >= h) else u
        name = ("c" if is_lstm and u >= h else "h") + str(j_unit)
        fit = UnitFit(unit=u, name=name, counter=j, slope=a, intercept=b, r2=r2)
        fit.gates = {k: tuple(float(x) for x in v[j_unit]) for k, v in gate_stats.items()}
        fit.is_counter = bool(r2 >= r2_min and abs(a) >= min_slope)
        pred = a * c_far[:, j] + b
        y = s_far[:, u]
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        fit.r2_far = 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else 0.0
        if fit.is_counter:
            on = np.abs(y - pred) <= break_tol * abs(a)
            # a transient before the unit first reaches its line (e.g. the initial state,
            # off the line the rest follows) is not a break
            start = int(np.argmax(on)) if on.any() else 0
            off = np.nonzero(~on[start:])[0] + start
            if off.size == 0:
                fit.linear_beyond = True
            else:
                t = int(off[0])
                fit.break_position = t
                fit.break_at = float(c_far[t - 1, j]) if t > 0 else None
                fit.value_at_break = float(y[t])
                sp = format_spacing(prec, y[t])
                fit.spacing_at_break = float(sp)
                max_v = float(getattr(prec, "max_value", np.inf))
                fit.precision_explains = bool(
                    sp >= 2 * abs(a) * (1 - 1e-9) or not np.isfinite(y[t]) or abs(y[t]) >= max_v
                )
        units.append(fit)
    return CounterReport(units=units, n_train=n_train, n_max=n_max, precision=str(prec))
