"""Automaton extraction: states -> clusters -> majority-vote transitions -> DFA -> minimise.

One entry point, :func:`extract_dfa`, for the clustering methods (k-means, grid
quantization) and white-box L* (:mod:`.lstar`). Every method reports the same
:class:`Extraction`: the DFA, its fidelity to the network and its accuracy
against the language by length, far beyond the sample.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._dfa import make_dfa, run_tree
from ._members import as_language
from ._util import as_rng, check_alphabets, head_rules, is_language
from .collect import PrefixStates, check_backend, collect_states
from .evaluate import eval_words
from .kmeans import kmeans
from .quantize import quantize

__all__ = ["Extraction", "cluster_dfa", "evaluate_extraction", "extract_dfa"]

METHODS = ("kmeans", "quantize", "lstar")


@dataclass
class Extraction:
    """What an extraction produced.

    Attributes
    ----------
    dfa : DFA
        The extracted automaton, minimised (complete, sink counted).
    method : str
    raw_dfa : DFA
        Before minimisation (one state per cluster, plus a sink when used).
    n_clusters : int
        Clusters (k-means), occupied grid cells (quantize) or table rows (L*).
    ambiguity : ndarray (n_clusters, V)
        Per cluster and symbol, the fraction of observed transitions that went
        elsewhere than the majority (0: unanimous; NaN: never observed).
    fidelity : float
        Fraction of evaluation words on which DFA and network agree.
    fidelity_by_length, accuracy_by_length, net_accuracy_by_length : dict[int, float]
        Agreement DFA vs network, DFA vs language and network vs language per length.
    sample_fidelity : float
        Agreement with the network on the prefixes the DFA was built from.
    converged : bool
        Clustering: the DFA reproduces the network on the whole sample. L*: the
        last equivalence query found no counterexample within the limits.
    counterexample : str or None
        Shortest word on which the DFA and the language's minimal DFA differ (None
        when equal or unknown); see ``equivalent``.
    equivalent : bool or None
        Whether the DFA equals the language (None when the language has no DFA).
    time : float
        Seconds spent extracting (evaluation excluded).
    n_queries : int
        Network states computed (clustering) or membership queries (L*).
    info : dict
        Method details (k, q, refinements, ...).
    """

    dfa: Any
    method: str
    raw_dfa: Any = None
    n_clusters: int = 0
    ambiguity: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    fidelity: float = float("nan")
    fidelity_by_length: dict[int, float] = field(default_factory=dict)
    accuracy_by_length: dict[int, float] = field(default_factory=dict)
    net_accuracy_by_length: dict[int, float] = field(default_factory=dict)
    sample_fidelity: float = float("nan")
    converged: bool = False
    counterexample: str | None = None
    equivalent: bool | None = None
    time: float = 0.0
    n_queries: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_ambiguity(self) -> float:
        """Mean transition ambiguity over the observed (cluster, symbol) pairs."""
        a = self.ambiguity
        return float(np.nanmean(a)) if a.size and np.isfinite(a).any() else 0.0

    def summary(self) -> str:
        """A few lines for a report."""
        lines = [
            f"method={self.method} states={self.dfa.n_states} clusters={self.n_clusters} "
            f"converged={self.converged} time={self.time:.3f}s queries={self.n_queries}",
            f"fidelity={self.fidelity:.4f} sample_fidelity={self.sample_fidelity:.4f} "
            f"mean_ambiguity={self.mean_ambiguity:.4f} equivalent={self.equivalent}",
        ]
        if self.accuracy_by_length:
            worst = min(self.accuracy_by_length.items(), key=lambda kv: kv[1])
            lines.append(f"accuracy: worst length {worst[0]} -> {worst[1]:.4f}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """Jupyter shows the summary and the extracted automaton as a graph."""
        import html

        from expressivity.languages.dfa_io import mimebundle

        bundle = mimebundle(self.dfa, text=self.summary())
        svg = bundle.get("image/svg+xml")
        if svg is not None:
            bundle["text/html"] = (
                f"<div><pre>{html.escape(self.summary())}</pre>{_strip_xml_header(svg)}</div>"
            )
        return bundle


def _strip_xml_header(svg: str) -> str:
    """The ``<svg>`` element of an SVG document (for inline HTML)."""
    i = svg.find("<svg")
    return svg[i:] if i >= 0 else svg


def _vote(
    ps: PrefixStates, labels: np.ndarray, k: int, end_ok: np.ndarray, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Majority votes: (table (k, V) with -1 unobserved and k = sink, accept (k,), ambiguity)."""
    v = ps.children.shape[1]
    rows = np.arange(1, len(ps))
    par = ps.parent[rows]
    sym = ps.symbol[rows]
    src = labels[par]
    dst = np.where(allowed[par, sym], labels[rows], k)
    votes = np.zeros((k, v, k + 1), dtype=np.int64)
    np.add.at(votes, (src, sym, dst), 1)
    total = votes.sum(axis=2)
    table = np.where(total > 0, votes.argmax(axis=2), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ambiguity = np.where(total > 0, 1.0 - votes.max(axis=2) / total, np.nan)
    acc_votes = np.zeros(k, dtype=np.int64)
    cnt = np.bincount(labels, minlength=k)
    np.add.at(acc_votes, labels, end_ok.astype(np.int64))
    accept = acc_votes * 2 > cnt
    return table, accept, ambiguity


def cluster_dfa(
    net: Any,
    ps: PrefixStates,
    labels: np.ndarray,
    classify: Any,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Turn a clustering of the prefix states into a complete transition table.

    Transitions and acceptance are decided by majority vote over the sample; a
    (cluster, symbol) pair never observed is decided by stepping one member state
    through the network and classifying the result with ``classify(states) ->
    labels`` (-1: unknown, sent to the sink).

    Returns
    -------
    table : ndarray (k + 1, V)
        State ``k`` is a rejecting sink.
    accept : ndarray (k + 1,) of bool
    start : int
    ambiguity : ndarray (k, V)
    """
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1
    end_ok, allowed = head_rules(net, ps.outputs)
    table, accept, ambiguity = _vote(ps, labels, k, end_ok, allowed)
    missing = np.argwhere(table < 0)
    if missing.size:
        first = np.full(k, -1, dtype=np.int64)
        idx = np.arange(labels.size)[::-1]
        first[labels[idx]] = idx  # first member of each cluster
        reps = first[missing[:, 0]]
        nxt = np.asarray(net.step(ps.states[reps], missing[:, 1].astype(np.int64)))
        lab = np.asarray(classify(nxt), dtype=np.int64)
        ok = allowed[reps, missing[:, 1]]
        table[missing[:, 0], missing[:, 1]] = np.where(ok & (lab >= 0), lab, k)
    v = table.shape[1]
    full = np.vstack([table, np.full((1, v), k, dtype=np.int64)])
    return full, np.append(accept, False), int(labels[0]), ambiguity


def _sample_fidelity(ps: PrefixStates, net_acc: np.ndarray, table, accept, start) -> float:
    q = run_tree(table, start, ps.parent, ps.symbol, ps.depth)
    return float(np.mean(accept[q] == net_acc))


def _bar(values: list[int], desc: str, unit: str) -> Any:
    """The candidates, with a progress bar (terminal or notebook) when there are several."""
    if len(values) <= 1:
        return values
    from expressivity._progress import progress_bar

    return progress_bar(values, desc=desc, unit=unit)


def _cluster_extract(
    net: Any,
    ps: PrefixStates,
    method: str,
    *,
    k: int | None,
    q: int | None,
    k_max: int,
    q_max: int,
    rng: np.random.Generator,
    n_init: int,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, float, dict]:
    net_acc = ps.accepted(net)
    x = ps.states
    if method == "kmeans":
        if k is not None:
            candidates = [int(k)]
        else:
            n_distinct = len(np.unique(x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1])))))
            candidates = list(range(1, min(k_max, n_distinct) + 1))
        best = None
        for kk in _bar(candidates, "extraction: k-means", "k"):
            res = kmeans(x, kk, rng=rng, n_init=n_init)
            centers = res.centers

            def classify(s, centers=centers):
                d = ((np.asarray(s, dtype=np.float64)[:, None, :] - centers[None]) ** 2).sum(-1)
                return d.argmin(axis=1)

            table, accept, start, amb = cluster_dfa(net, ps, res.labels, classify)
            fid = _sample_fidelity(ps, net_acc, table, accept, start)
            if best is None or fid > best[4]:
                best = (table, accept, start, amb, fid, {"k": kk, "inertia": res.inertia})
            if fid == 1.0:
                break
        return best
    # quantize
    qs = [int(q)] if q is not None else list(range(2, q_max + 1))
    best = None
    for qq in _bar(qs, "extraction: grid", "q"):
        res = quantize(x, qq)
        lookup = {row.tobytes(): i for i, row in enumerate(res.codes)}
        lo, hi = res.low, res.high

        def classify(s, qq=qq, lookup=lookup, lo=lo, hi=hi):
            from .quantize import _codes_kernel

            c = _codes_kernel(np.ascontiguousarray(s, dtype=np.float64), lo, hi - lo, qq)
            return np.array([lookup.get(row.tobytes(), -1) for row in c], dtype=np.int64)

        table, accept, start, amb = cluster_dfa(net, ps, res.labels, classify)
        fid = _sample_fidelity(ps, net_acc, table, accept, start)
        if best is None or fid > best[4]:
            best = (table, accept, start, amb, fid, {"q": qq, "cells": res.n_clusters})
        if fid == 1.0:
            break
    return best


def evaluate_extraction(
    ext: Extraction,
    net: Any,
    lang: Any | None,
    words_by_length: dict[int, list[str]],
) -> Extraction:
    """Fill in fidelity and accuracy by length of an extraction (in place; returns it)."""
    all_w = [w for ws in words_by_length.values() for w in ws]
    if not all_w:
        return ext
    net_acc = dict(zip(all_w, (bool(b) for b in np.asarray(net.accepts(all_w)))))
    dfa_acc = {w: bool(ext.dfa.accepts(w)) for w in all_w}
    lang_acc = None
    if lang is not None:
        if hasattr(lang, "contains_batch"):
            lang_acc = dict(zip(all_w, (bool(b) for b in lang.contains_batch(all_w))))
        else:
            lang_acc = {w: bool(lang.contains(w)) for w in all_w}
    agree = []
    for length, ws in words_by_length.items():
        if not ws:
            continue
        f = [dfa_acc[w] == net_acc[w] for w in ws]
        agree.extend(f)
        ext.fidelity_by_length[length] = float(np.mean(f))
        if lang_acc is not None:
            ext.accuracy_by_length[length] = float(np.mean([dfa_acc[w] == lang_acc[w] for w in ws]))
            ext.net_accuracy_by_length[length] = float(
                np.mean([net_acc[w] == lang_acc[w] for w in ws])
            )
    ext.fidelity = float(np.mean(agree))
    if lang is not None and getattr(lang, "is_regular", False) and hasattr(lang, "dfa"):
        DFA = type(ext.dfa)
        cex = DFA.equivalent(ext.dfa, lang.dfa())
        ext.counterexample = cex
        ext.equivalent = cex is None
    return ext


def extract_dfa(
    net: Any,
    lang_or_words: Any,
    method: str = "kmeans",
    *,
    max_len: int | None = None,
    k: int | None = None,
    q: int | None = None,
    k_max: int = 30,
    q_max: int = 6,
    n_init: int = 3,
    eval_lengths: Iterable[int] | None = None,
    n_eval: int = 100,
    rng: np.random.Generator | None = None,
    time_limit: float = 60.0,
    max_queries: int = 200_000,
    backend: str = "cpu",
) -> Extraction:
    """Extract a DFA from a network.

    Parameters
    ----------
    net : Network
    lang_or_words : Language, DFA or list of str
        A language (the sample is then every word up to ``max_len`` and the DFA is
        also scored against the language) or a list of words (their prefix tree).
        Any language works, built in or user-defined (``from_regex``,
        ``from_dfa``, ``from_constraints``, ``from_grammar``, a ``DFA``, or a
        ``Language`` subclass): extraction needs only membership (``contains``) and,
        for the scoring far beyond the sample, members of a given length, which are
        sampled through the language's DFA, its own sampler or its canonical
        members (see :func:`~expressivity.analysis._members.positives_of_length`).
        No counter is needed; :func:`~expressivity.analysis.find_counters` is the
        analysis that needs one.
    method : {"kmeans", "quantize", "lstar"}
        Clustering by k-means (``k`` clusters; default: the smallest k up to
        ``k_max`` that reproduces the network on the sample), grid quantization
        (``q`` intervals per unit; default: the smallest q up to ``q_max`` that
        does), or white-box L* (Weiss, Goldberg & Yahav 2018).
    max_len : int, optional
        Sample length for a language (default: the largest length with at most
        ~4096 words).
    eval_lengths : iterable of int, optional
        Lengths to score on (default: 0..2*max_len and 50, 100, 200).
    n_eval : int
        Evaluation words per length.
    rng : numpy.random.Generator
    time_limit, max_queries : float, int
        Limits for L*; beyond them the last hypothesis is returned with
        ``converged=False``.
    backend : {"cpu", "cuda"}
        Where the states of the sample are computed for ``"kmeans"`` and
        ``"quantize"`` (see :func:`~expressivity.analysis.collect_states`);
        L* and the scoring query the network on the CPU.

    Returns
    -------
    Extraction
        ``.dfa`` is the minimised DFA.

    Examples
    --------
    >>> ext = extract_dfa(net, get_language("parity"), "kmeans")   # doctest: +SKIP
    >>> ext.dfa.n_states, ext.equivalent                             # doctest: +SKIP
    (2, True)
    """
    if method not in METHODS:
        raise ValueError(f"unknown extraction method {method!r}: expected one of {METHODS}")
    backend = check_backend(backend)
    rng = as_rng(rng)
    alphabet = str(net.alphabet)
    v = len(alphabet)
    lang = None
    lang_or_words = as_language(lang_or_words)
    if is_language(lang_or_words):
        lang = lang_or_words
        check_alphabets(net, lang)
        if max_len is None:
            max_len = max(1, int(np.floor(np.log(4096) / np.log(max(v, 2)))))
        if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 0:
            raise ValueError(f"max_len must be an int >= 0, got {max_len!r}")
        nodes = sum(v**n for n in range(min(int(max_len), 64) + 1))  # prefixes sampled
        if method != "lstar" and nodes > 10**7:
            raise ValueError(
                f"max_len={max_len}: the sample would be every word up to that length, "
                f"{'over ' if max_len > 64 else ''}{nodes:.3g} prefixes over {v} symbols (at "
                "most 1e7); use a smaller max_len or pass a list of words"
            )
        if eval_lengths is None and max_len > 10_000:
            raise ValueError(
                f"max_len={max_len}: scoring on every length up to 2*max_len would run about "
                f"{n_eval * max_len * (2 * max_len + 1):.3g} symbols; pass eval_lengths= "
                "(or a max_len <= 10000)"
            )
        sample: Any = int(max_len)
    else:
        sample = list(lang_or_words) if not isinstance(lang_or_words, str) else lang_or_words
        if isinstance(sample, list) and not sample:
            raise ValueError("empty sample: extract_dfa needs at least one word or a language")
    t0 = time.perf_counter()
    if method == "lstar":
        from .lstar import lstar

        res = lstar(
            net,
            rng=rng,
            time_limit=time_limit,
            max_queries=max_queries,
            check_words=None if lang is not None else sample,
        )
        ext = Extraction(
            dfa=res.dfa,
            method=method,
            raw_dfa=res.hypothesis,
            n_clusters=res.hypothesis.n_states,
            ambiguity=np.zeros((res.hypothesis.n_states, v)),
            converged=res.converged,
            n_queries=res.n_queries,
            info=res.info,
        )
        ext.time = time.perf_counter() - t0
    else:
        ps = collect_states(net, sample, backend=backend)
        table, accept, start, amb, fid, info = _cluster_extract(
            net, ps, method, k=k, q=q, k_max=k_max, q_max=q_max, rng=rng, n_init=n_init
        )
        raw = make_dfa(table, accept, start, alphabet)
        ext = Extraction(
            dfa=raw.minimize(),
            method=method,
            raw_dfa=raw,
            n_clusters=int(amb.shape[0]),
            ambiguity=amb,
            sample_fidelity=fid,
            converged=fid == 1.0,
            n_queries=len(ps),
            info=info,
        )
        ext.time = time.perf_counter() - t0
    if lang is not None:
        if eval_lengths is None:
            base = int(max_len) if max_len is not None else 8
            eval_lengths = sorted(set(range(0, 2 * base + 1)) | {50, 100, 200})
        words = eval_words(lang, eval_lengths, n_eval, rng=rng)
    else:
        words = {}
        for w in sample if isinstance(sample, list) else []:
            words.setdefault(len(w), []).append(w)
    return evaluate_extraction(ext, net, lang, words)
