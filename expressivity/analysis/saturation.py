"""Saturation (Merrill 2019): scale the weights by a growing factor and see what is recognised.

As the factor grows, sigmoid and tanh gates become step functions; the saturated
network recognises a language of its own, which is reported as an extracted DFA
and, for counter languages, as counter behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._util import as_rng, check_alphabets
from .evaluate import eval_words

__all__ = ["SaturationReport", "SaturationStep", "saturate", "saturation_analysis"]

_KEEP = ("embedding", "h0", "c0")


def saturate(net: Any, factor: float) -> Any:
    """The same network with every weight and bias multiplied by ``factor``.

    The embedding and the initial state are kept (scaling the embedding too would
    scale input terms by ``factor**2``).

    Examples
    --------
    >>> sat = saturate(net, 100.0)                          # doctest: +SKIP
    """
    factor = float(factor)
    if not np.isfinite(factor) or factor <= 0:
        raise ValueError(f"factor must be a positive finite number, got {factor}")
    src = getattr(net, "source_params", None) or net.params
    params = {
        k: (np.asarray(v, dtype=np.float64) if k in _KEEP else np.asarray(v, np.float64) * factor)
        for k, v in src.items()
    }
    return type(net).from_params(
        net.cell,
        alphabet=net.alphabet,
        params=params,
        head=net.head,
        precision=net.precision,
        threshold=net.threshold,
    )


@dataclass
class SaturationStep:
    """One factor of :func:`saturation_analysis`.

    Attributes
    ----------
    factor : float
    agreement : float
        Fraction of evaluation words the scaled network classifies as the original.
    accuracy : float
        Fraction it classifies as the language.
    extraction : Extraction or None
    counters : CounterReport or None
    """

    factor: float
    agreement: float
    accuracy: float
    extraction: Any = None
    counters: Any = None

    @property
    def n_states(self) -> int | None:
        return None if self.extraction is None else int(self.extraction.dfa.n_states)


@dataclass
class SaturationReport:
    """Outcome of :func:`saturation_analysis`: one :class:`SaturationStep` per factor."""

    steps: list[SaturationStep] = field(default_factory=list)

    @property
    def saturated(self) -> SaturationStep:
        """The step with the largest factor."""
        return max(self.steps, key=lambda s: s.factor)

    def summary(self) -> str:
        lines = []
        for s in self.steps:
            extra = "" if s.extraction is None else f" dfa_states={s.n_states}"
            if s.extraction is not None and s.extraction.equivalent is not None:
                extra += f" equals_language={s.extraction.equivalent}"
            if s.counters is not None:
                extra += f" counters={[u.name for u in s.counters.counters]}"
            lines.append(
                f"x{s.factor:g}: agreement={s.agreement:.4f} accuracy={s.accuracy:.4f}{extra}"
            )
        return "\n".join(lines)


def saturation_analysis(
    net: Any,
    lang: Any,
    factors: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0),
    *,
    method: str | None = "kmeans",
    counters: bool | None = None,
    eval_lengths: tuple[int, ...] | None = None,
    n_eval: int = 100,
    rng: np.random.Generator | None = None,
    extract_kwargs: dict | None = None,
    counter_kwargs: dict | None = None,
) -> SaturationReport:
    """Scale the weights by each factor and report what the scaled network recognises.

    Parameters
    ----------
    net : Network
    lang : Language
    factors : tuple of float
    method : str or None
        Extraction method for the DFA of each scaled network (None: no extraction).
    counters : bool, optional
        Run :func:`find_counters` at each factor (default: when ``lang`` has counters).
    eval_lengths : tuple of int, optional
        Lengths of the agreement/accuracy words (default 0..20, 50, 100).

    Returns
    -------
    SaturationReport

    Examples
    --------
    >>> rep = saturation_analysis(net, get_language("parity"), (1, 100))   # doctest: +SKIP
    >>> print(rep.summary())                                                # doctest: +SKIP
    """
    from .counters import find_counters
    from .extract import extract_dfa

    check_alphabets(net, lang)
    if not factors:
        raise ValueError("factors is empty")
    rng = as_rng(rng)
    lengths = eval_lengths or tuple(range(0, 21)) + (50, 100)
    words_by_len = eval_words(lang, lengths, n_eval, rng=rng)
    words = [w for ws in words_by_len.values() for w in ws]
    base = np.asarray(net.accepts(words))
    if hasattr(lang, "contains_batch"):
        truth = np.asarray(lang.contains_batch(words), dtype=bool)
    else:
        truth = np.array([lang.contains(w) for w in words], dtype=bool)
    if counters is None:
        counters = hasattr(lang, "positive_of_n") and lang.counters("") is not None
    rep = SaturationReport()
    for f in sorted(float(x) for x in factors):
        sat = saturate(net, f)
        acc = np.asarray(sat.accepts(words))
        step = SaturationStep(
            factor=f, agreement=float(np.mean(acc == base)), accuracy=float(np.mean(acc == truth))
        )
        if method is not None:
            step.extraction = extract_dfa(sat, lang, method, rng=rng, **(extract_kwargs or {}))
        if counters:
            step.counters = find_counters(sat, lang, **(counter_kwargs or {}))
        rep.steps.append(step)
    return rep
