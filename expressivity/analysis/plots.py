"""Pictures: automaton graphs, activation traces, generalization and state-growth curves.

matplotlib is imported inside the functions and drawn with the Agg canvas (no
pyplot state is touched). Automata are drawn by Graphviz when its ``dot`` program
is on the PATH, else by networkx + matplotlib (see
:mod:`expressivity.languages.dfa_io`); a ``DFA`` or an ``Extraction`` left at the
end of a Jupyter cell shows as a graph by itself.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SideBySide",
    "plot_activation_trace",
    "plot_dfa",
    "plot_generalization",
    "plot_state_growth",
    "show_side_by_side",
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


def plot_dfa(dfa: Any, path: str | Path, format: str = "svg", engine: str = "auto") -> Path:
    """Write a picture of an automaton (a ``DFA`` or an ``Extraction``'s); returns its path.

    Parameters
    ----------
    dfa : DFA or Extraction
    path : path
        The extension of ``format`` is added when missing (``"out/parity"`` ->
        ``out/parity.svg``) and replaces another picture extension, so the PNG of
        an automaton never overwrites its SVG.
    format : {"svg", "png", "pdf"}
    engine : {"auto", "graphviz", "matplotlib"}
        ``"auto"``: Graphviz when ``dot`` is on the PATH, else networkx + matplotlib.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> plot_dfa(ext.dfa, "figures/parity", "svg")     # doctest: +SKIP
    PosixPath('figures/parity.svg')
    """
    from expressivity.languages.dfa_io import render

    return render(_as_dfa(dfa), path, format=format, engine=engine)


def _as_dfa(obj: Any) -> Any:
    dfa = getattr(obj, "dfa", obj)
    if not hasattr(dfa, "transition_table"):
        raise TypeError(f"expected a DFA or an Extraction, got {type(obj).__name__}")
    return dfa


class SideBySide:
    """Automata drawn next to each other, with titles; Jupyter displays it as HTML.

    Made by :func:`show_side_by_side`. ``svgs`` holds each picture's SVG text;
    :meth:`save` writes them into one HTML file.
    """

    def __init__(self, svgs: list[str], titles: list[str], texts: list[str]) -> None:
        self.svgs = svgs
        self.titles = titles
        self.texts = texts

    def _repr_html_(self) -> str:
        cells = []
        for svg, title in zip(self.svgs, self.titles):
            body = svg[svg.find("<svg") :] if "<svg" in svg else svg
            cells.append(
                '<div style="display:inline-block; vertical-align:top; margin:0 1em 1em 0; '
                f'text-align:center"><div style="font-weight:bold">{html.escape(title)}</div>'
                f"{body}</div>"
            )
        return (
            '<div style="display:flex; flex-wrap:wrap; align-items:flex-start">'
            + "".join(cells)
            + "</div>"
        )

    def __repr__(self) -> str:
        return "\n".join(f"{t}: {x}" for t, x in zip(self.titles, self.texts))

    def save(self, path: str | Path) -> Path:
        """Write the pictures into one HTML file (``.html`` is added when missing)."""
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            path = path.with_name(path.name + ".html")
        path.write_text("<!DOCTYPE html><html><body>" + self._repr_html_() + "</body></html>")
        return path


def show_side_by_side(
    *automata: Any, titles: Sequence[str] | None = None, engine: str = "auto"
) -> SideBySide:
    """Show automata next to each other (e.g. an extracted DFA beside the true one).

    Parameters
    ----------
    *automata : DFA or Extraction
        Two or more (one works too).
    titles : sequence of str, optional
        One per automaton (default: ``"A (n states)"``, ``"B (n states)"``, ...).
    engine : {"auto", "graphviz", "matplotlib"}
        ``"auto"``: Graphviz when ``dot`` is on the PATH, else networkx + matplotlib.

    Returns
    -------
    SideBySide
        Displays as the pictures in a row in Jupyter (the last expression of a
        cell, or ``IPython.display.display(...)``); ``.save("x.html")`` writes it.

    Examples
    --------
    >>> show_side_by_side(ext.dfa, lang.dfa(), titles=["L*", "true"])   # doctest: +SKIP
    """
    from expressivity.languages.dfa_io import to_svg

    if not automata:
        raise ValueError("show_side_by_side needs at least one automaton")
    dfas = [_as_dfa(a) for a in automata]
    if titles is None:
        titles = [
            f"{chr(65 + i) if i < 26 else i} ({d.n_states} states)" for i, d in enumerate(dfas)
        ]
    titles = [str(t) for t in titles]
    if len(titles) != len(dfas):
        raise ValueError(f"{len(titles)} titles for {len(dfas)} automata: give one per automaton")
    return SideBySide([to_svg(d, engine=engine) for d in dfas], titles, [repr(d) for d in dfas])


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
