"""Pictures: automaton graphs, activation traces, generalization and state-growth curves.

matplotlib is imported inside the functions and drawn with the Agg canvas (no
pyplot state is touched); Graphviz is used through ``DFA.render``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "plot_activation_trace",
    "plot_dfa",
    "plot_generalization",
    "plot_state_growth",
]


def _figure(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Any, path: str | Path | None) -> None:
    if path is not None:
        fig.savefig(str(path), bbox_inches="tight", dpi=120)


def plot_dfa(dfa: Any, path: str | Path, format: str = "svg") -> Any:
    """Render an automaton with Graphviz (``DFA.render``); returns what it returns.

    Examples
    --------
    >>> plot_dfa(ext.dfa, "parity", "svg")     # doctest: +SKIP
    """
    return dfa.render(path, format=format)


def plot_activation_trace(
    net: Any,
    word: str,
    *,
    units: Sequence[int] | None = None,
    gates: bool = False,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Heat map of the state units (and optionally gates) along a word (Weiss et al. 2018).

    Columns are the prefixes (empty prefix first); rows are state units (``h``
    then ``c`` for an LSTM).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_activation_trace(net, "aaabbb", path="trace.png")   # doctest: +SKIP
    """
    from .collect import collect_states

    ps = collect_states(net, [word], outputs=False, gates=gates)
    rows = [ps.index(word[:t]) for t in range(len(word) + 1)]
    s = np.asarray(ps.states[rows], dtype=np.float64)
    h = int(net.hidden_size)
    names = [("c" if i >= h else "h") + str(i % h) for i in range(s.shape[1])]
    if units is not None:
        s = s[:, list(units)]
        names = [names[i] for i in units]
    blocks = [s.T]
    labels = list(names)
    if gates and ps.gates:
        for g, arr in ps.gates.items():
            a = np.asarray(arr[rows], dtype=np.float64)
            blocks.append(a.T)
            labels += [f"{g}{j}" for j in range(a.shape[1])]
    mat = np.vstack(blocks)
    fig, ax = _figure(ax, (max(4.0, 0.35 * len(rows) + 2), max(2.5, 0.25 * len(labels) + 1)))
    lim = float(np.nanmax(np.abs(mat))) if mat.size else 1.0
    im = ax.imshow(mat, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(["ε"] + list(word), fontsize=7)
    ax.set_xlabel("prefix (last symbol read)")
    ax.set_title(f"{net.cell} activations along {word[:30]!r}")
    fig.colorbar(im, ax=ax)
    _save(fig, path)
    return fig


def plot_generalization(
    curves: dict[str, dict[int, float]] | Any,
    *,
    train_max: int | None = None,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Accuracy (or fidelity) by length, one line per curve.

    Parameters
    ----------
    curves : dict name -> {length: value}, or an Extraction
        An :class:`~expressivity.analysis.extract.Extraction` plots its DFA and
        network accuracy and its fidelity.
    train_max : int, optional
        Draws a vertical line at the end of the training range.

    Examples
    --------
    >>> fig = plot_generalization(ext, train_max=10, path="gen.png")   # doctest: +SKIP
    """
    if not isinstance(curves, dict):
        ext = curves
        curves = {
            "DFA vs language": ext.accuracy_by_length,
            "network vs language": ext.net_accuracy_by_length,
            "DFA vs network (fidelity)": ext.fidelity_by_length,
        }
    fig, ax = _figure(ax, (6.0, 3.5))
    for name, c in curves.items():
        if c:
            xs = sorted(c)
            ax.plot(xs, [c[x] for x in xs], marker=".", label=name)
    if train_max is not None:
        ax.axvline(train_max, color="grey", linestyle="--", label="end of training")
    ax.set_xlabel("length")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    _save(fig, path)
    return fig


def plot_state_growth(
    growths: dict[str, Any] | Any,
    *,
    ax: Any = None,
    path: str | Path | None = None,
    logy: bool = False,
) -> Any:
    """Distinct reachable states by length, one line per :class:`StateGrowth`.

    Examples
    --------
    >>> fig = plot_state_growth({"f16": g16, "f32": g32}, path="g.png")  # doctest: +SKIP
    """
    if not isinstance(growths, dict):
        growths = {growths.kind: growths}
    fig, ax = _figure(ax, (6.0, 3.5))
    for name, g in growths.items():
        ax.plot(g.lengths, g.n_states, label=name)
    ax.set_xlabel("length / n")
    ax.set_ylabel("distinct states")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    _save(fig, path)
    return fig
