"""DFA conversions: networkx, DOT text, pictures (Graphviz or matplotlib), AALpy, automata-lib.

Pictures: :func:`to_svg` and :func:`render` use the Graphviz ``dot`` program when it
is on the PATH (through the Python ``graphviz`` package when that is installed) and
otherwise draw the automaton with networkx and matplotlib, so a picture is always
made. ``graphviz`` and ``matplotlib`` are imported only when a picture is drawn.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import weakref
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from .dfa import DFA
from .errors import DFAError, GraphvizNotFoundError

__all__ = [
    "to_networkx",
    "from_networkx",
    "to_dot",
    "to_svg",
    "render",
    "draw",
    "have_dot",
    "mimebundle",
    "with_extension",
    "to_aalpy",
    "from_aalpy",
    "to_automata_lib",
    "from_automata_lib",
]


def to_networkx(dfa: DFA) -> nx.DiGraph:
    """A ``DiGraph`` with one edge per state pair.

    Node attributes: ``accepting`` (bool), ``start`` (bool). Edge attributes: ``symbols``
    (list of str, alphabet order) and ``label`` (comma-joined). Graph attributes:
    ``alphabet``, ``start``.

    Examples
    --------
    >>> d = DFA("ab", [0], 0, [0], {(0, "a"): 0, (0, "b"): 0})
    >>> to_networkx(d).edges[0, 0]["label"]
    'a,b'
    """
    g = nx.DiGraph(alphabet=dfa.alphabet, start=dfa.start)
    for i, s in enumerate(dfa.states):
        g.add_node(s, accepting=bool(dfa.accepting_mask[i]), start=(s == dfa.start))
    for i, s in enumerate(dfa.states):
        for j, c in enumerate(dfa.alphabet):
            t = int(dfa.transition_table[i, j])
            if t < 0:
                continue
            dst = dfa.states[t]
            if g.has_edge(s, dst):
                g.edges[s, dst]["symbols"].append(c)
            else:
                g.add_edge(s, dst, symbols=[c])
    for _, _, data in g.edges(data=True):
        data["label"] = ",".join(data["symbols"])
    return g


def from_networkx(
    graph: nx.Graph, alphabet: str | None = None, start: Hashable | None = None
) -> DFA:
    """Build a DFA from a networkx (Multi)DiGraph.

    Edges carry ``symbol`` (one str), ``symbols`` (list) or ``label`` (comma-joined);
    nodes carry ``accepting``. The start state is ``start``, else ``graph.graph["start"]``,
    else the node with ``start=True``. Missing transitions are an error.

    Examples
    --------
    >>> g = nx.DiGraph(start=0)
    >>> g.add_node(0, accepting=True); g.add_node(1, accepting=False)
    >>> g.add_edge(0, 1, label="a"); g.add_edge(1, 0, label="a")
    >>> from_networkx(g).accepts("aa")
    True
    """
    if start is None:
        start = graph.graph.get("start")
    if start is None:
        starts = [n for n, d in graph.nodes(data=True) if d.get("start")]
        if len(starts) != 1:
            raise DFAError(
                "graph has no unique start state: pass start= or mark one node start=True"
            )
        start = starts[0]
    trans: dict[tuple[Hashable, str], Hashable] = {}
    symbols_seen: list[str] = []
    edges = graph.edges(data=True)
    for u, v, data in edges:
        if "symbols" in data:
            syms = list(data["symbols"])
        elif "symbol" in data:
            syms = [data["symbol"]]
        elif "label" in data:
            syms = [s.strip() for s in str(data["label"]).split(",")]
        else:
            raise DFAError(f"edge {u!r} -> {v!r} has no 'symbol', 'symbols' or 'label' attribute")
        for c in syms:
            if (u, c) in trans and trans[(u, c)] != v:
                raise DFAError(f"state {u!r} has two transitions on {c!r} (not deterministic)")
            trans[(u, c)] = v
            if c not in symbols_seen:
                symbols_seen.append(c)
    if alphabet is None:
        alphabet = graph.graph.get("alphabet") or "".join(sorted(symbols_seen))
    accepting = [n for n, d in graph.nodes(data=True) if d.get("accepting")]
    return DFA(alphabet, list(graph.nodes), start, accepting, trans)


def _dot_id(s: Hashable) -> str:
    text = str(s).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def to_dot(dfa: DFA, name: str = "dfa") -> str:
    """Graphviz DOT text: left-to-right, start arrow, accepting states double-circled,
    one edge per state pair with merged labels.

    Examples
    --------
    >>> print(to_dot(DFA("a", [0], 0, [0], {(0, "a"): 0})).splitlines()[0])
    digraph "dfa" {
    """
    lines = [f"digraph {_dot_id(name)} {{", "  rankdir=LR;", '  __start [shape=point, label=""];']
    for i, s in enumerate(dfa.states):
        shape = "doublecircle" if dfa.accepting_mask[i] else "circle"
        lines.append(f"  s{i} [shape={shape}, label={_dot_id(s)}];")
    lines.append(f"  __start -> s{dfa.start_index};")
    edges: dict[tuple[int, int], list[str]] = {}
    for i in range(dfa.n_states):
        for j, c in enumerate(dfa.alphabet):
            t = int(dfa.transition_table[i, j])
            if t >= 0:
                edges.setdefault((i, t), []).append(c)
    for (u, v), syms in edges.items():
        lines.append(f"  s{u} -> s{v} [label={_dot_id(','.join(syms))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


FORMATS = ("svg", "png", "pdf")


def have_dot() -> bool:
    """Whether the Graphviz ``dot`` program is on the PATH.

    Examples
    --------
    >>> isinstance(have_dot(), bool)
    True
    """
    return shutil.which("dot") is not None


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise ValueError(f"unsupported format {format!r}; use one of {FORMATS}")
    return format


def with_extension(path: str | Path, format: str) -> Path:
    """``path`` with the extension of ``format``: added when missing, replaced when the
    path ends in another picture format (so a PNG never overwrites an SVG).

    Examples
    --------
    >>> with_extension("out/parity", "svg").name, with_extension("p.svg", "png").name
    ('parity.svg', 'p.png')
    >>> with_extension("tomita-3.lstar", "svg").name
    'tomita-3.lstar.svg'
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix == format:
        return path
    if suffix in FORMATS:
        return path.with_suffix("." + format)
    return path.with_name(path.name + "." + format)


def _dot_pipe(dfa: DFA, format: str) -> bytes:
    """Run ``dot`` on the DFA's DOT text; returns the picture's bytes."""
    text = to_dot(dfa)
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        return graphviz.Source(text).pipe(format=format)
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError("Graphviz 'dot' executable not found on PATH")
    proc = subprocess.run([exe, f"-T{format}"], input=text.encode(), capture_output=True,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(
            f"dot failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


def _layout(g: nx.DiGraph, start: Hashable) -> dict:
    """Left-to-right layers by BFS depth from the start (like ``rankdir=LR``), spread apart."""
    depth = nx.single_source_shortest_path_length(g, start)
    far = max(depth.values(), default=0) + 1
    for n in g.nodes:
        depth.setdefault(n, far)
    layers: dict[int, list] = {}
    for n in g.nodes:  # node order = state order
        layers.setdefault(depth[n], []).append(n)
    pos = {}
    for x, nodes in layers.items():
        for i, n in enumerate(nodes):
            y = 1.6 * ((len(nodes) - 1) / 2.0 - i) + 0.3 * (x % 2) * (len(nodes) > 1)
            pos[n] = (2.0 * x, y)
    return pos


def draw(dfa: DFA, ax: Any = None, *, title: str | None = None) -> Any:
    """Draw the automaton with networkx and matplotlib (no Graphviz needed).

    States are circles in breadth-first layers from left to right, accepting states
    double-circled, the start state marked by an arrow from the left, one arrow per
    state pair labelled with its symbols (self-loops labelled above the state).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = draw(DFA("ab", [0, 1], 0, [1], {(0, "a"): 1, (0, "b"): 0, (1, "a"): 1,
    ...                                       (1, "b"): 0}))
    >>> len(fig.axes)
    1
    """
    from matplotlib.patches import Circle

    g = to_networkx(dfa)
    pos = _layout(g, dfa.start)
    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        width = min(14.0, 1.6 + 0.9 * (max(xs) - min(xs) + 2))
        height = min(10.0, 1.4 + 0.9 * (max(ys) - min(ys) + 1.5))
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
    fig = ax.figure
    r = 0.3
    for n in g.nodes:
        x, y = pos[n]
        ax.add_patch(Circle((x, y), r, fill=False, lw=1.2))
        if g.nodes[n]["accepting"]:
            ax.add_patch(Circle((x, y), r * 0.8, fill=False, lw=1.0))
        ax.text(x, y, str(n), ha="center", va="center", fontsize=8)
    sx, sy = pos[dfa.start]
    ax.annotate("", xy=(sx - r, sy), xytext=(sx - r - 0.6, sy),
                arrowprops={"arrowstyle": "-|>", "lw": 1.0})  # fmt: skip
    for u, v, data in g.edges(data=True):
        label = data["label"]
        (x0, y0), (x1, y1) = pos[u], pos[v]
        if u == v:
            ax.annotate("", xy=(x0 + 0.12, y0 + r * 0.95), xytext=(x0 - 0.12, y0 + r * 0.95),
                        arrowprops={"arrowstyle": "-|>", "lw": 0.9,
                                    "connectionstyle": "arc3,rad=-2.2"})  # fmt: skip
            ax.text(x0, y0 + r + 0.36, label, ha="center", va="bottom", fontsize=8)
            continue
        rad = 0.25 if g.has_edge(v, u) else 0.1
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "-|>", "lw": 0.9, "shrinkA": 14, "shrinkB": 14,
                                "connectionstyle": f"arc3,rad={rad}"})  # fmt: skip
        # the label sits at the middle of the arc (offset to the arc's side)
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        dx, dy = x1 - x0, y1 - y0
        ax.text(mx + rad * dy * 0.5, my - rad * dx * 0.5, label, ha="center", va="center",
                fontsize=8, bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"})  # fmt: skip
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - r - 0.8, max(xs) + r + 0.4)
    ax.set_ylim(min(ys) - r - 0.3, max(ys) + r + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _matplotlib_bytes(dfa: DFA, format: str) -> bytes:
    import matplotlib

    fig = draw(dfa)
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format=format, bbox_inches="tight", dpi=100)
    return buf.getvalue()


def to_svg(dfa: DFA, engine: str = "auto") -> str:
    """The automaton as SVG text.

    Parameters
    ----------
    engine : {"auto", "graphviz", "matplotlib"}
        ``"auto"``: Graphviz when ``dot`` is on the PATH, else networkx + matplotlib.

    Raises
    ------
    GraphvizNotFoundError
        ``engine="graphviz"`` without ``dot`` on the PATH.

    Examples
    --------
    >>> svg = to_svg(DFA("a", [0], 0, [0], {(0, "a"): 0}), engine="matplotlib")
    >>> "<svg" in svg
    True
    """
    return _picture(dfa, "svg", engine).decode("utf-8")


def _picture(dfa: DFA, format: str, engine: str) -> bytes:
    if engine not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"unknown engine {engine!r}; use 'auto', 'graphviz' or 'matplotlib'")
    if engine == "graphviz" or (engine == "auto" and have_dot()):
        if not have_dot():
            raise GraphvizNotFoundError(
                "Graphviz 'dot' executable not found on PATH; install graphviz "
                "(e.g. apt install graphviz, brew install graphviz, conda install graphviz) "
                "or use engine='matplotlib'"
            )
        return _dot_pipe(dfa, format)
    return _matplotlib_bytes(dfa, format)


def mimebundle(dfa: DFA, text: str | None = None) -> dict[str, str]:
    """Jupyter's rich display of an automaton: ``image/svg+xml`` and ``text/plain``.

    The SVG comes from Graphviz when ``dot`` is on the PATH, else from
    networkx + matplotlib; if neither can draw, only the text is returned.
    """
    bundle = {"text/plain": repr(dfa) if text is None else text}
    try:
        bundle["image/svg+xml"] = to_svg(dfa)
    except Exception:  # a display must never raise; the text repr stays
        if have_dot():
            try:
                bundle["image/svg+xml"] = to_svg(dfa, engine="matplotlib")
            except Exception:
                pass
    return bundle


def render(
    dfa: DFA,
    path: str | Path,
    format: str = "svg",
    fallback: bool = False,
    engine: str = "graphviz",
) -> Path:
    """Write a picture of the DFA; returns the path written.

    The extension of ``format`` is added to ``path`` when it has none (``"out/parity"``
    becomes ``out/parity.svg``) and replaces another picture extension, so pictures
    in different formats never overwrite each other.

    Parameters
    ----------
    format : {"svg", "png", "pdf"}
    fallback : bool
        With ``engine="graphviz"`` and no ``dot``: write the DOT text to ``path`` with
        suffix ``.dot`` and return that path instead of raising.
    engine : {"graphviz", "matplotlib", "auto"}
        ``"auto"`` uses Graphviz when ``dot`` is on the PATH, else matplotlib.

    Raises
    ------
    GraphvizNotFoundError
        ``engine="graphviz"``, ``dot`` is not on the PATH and ``fallback`` is False.

    Examples
    --------
    >>> render(DFA("a", [0], 0, [0], {(0, "a"): 0}), "out/d", "svg")  # doctest: +SKIP
    PosixPath('out/d.svg')
    """
    _check_format(format)
    out = with_extension(path, format)
    if engine == "graphviz" and not have_dot():
        if fallback:
            out = Path(path).with_suffix(".dot")
            out.write_text(to_dot(dfa))
            return out
        raise GraphvizNotFoundError(
            "Graphviz 'dot' executable not found on PATH; install graphviz, "
            "use engine='matplotlib' (or 'auto'), or DFA.to_dot() for the DOT text "
            "(or render(..., fallback=True))"
        )
    out.write_bytes(_picture(dfa, format, engine))
    return out


# ---------------------------------------------------------------------- optional extras
def _require(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this conversion needs the optional package {extra!r} (pip install {extra})"
        ) from exc


def to_aalpy(dfa: DFA):
    """Convert to ``aalpy.automata.Dfa`` (states named ``q0, q1, ...``).

    Examples
    --------
    >>> to_aalpy(DFA("a", [0], 0, [0], {(0, "a"): 0}))  # doctest: +SKIP
    """
    automata = _require("aalpy.automata", "aalpy")
    d = dfa.complete()
    states = [
        automata.DfaState(f"q{i}", is_accepting=bool(d.accepting_mask[i]))
        for i in range(d.n_states)
    ]
    for i, st in enumerate(states):
        for j, c in enumerate(d.alphabet):
            st.transitions[c] = states[int(d.transition_table[i, j])]
    return automata.Dfa(states[d.start_index], states)


def _order_alphabet(symbols: list[str], alphabet: str | None, what: str) -> str:
    """The alphabet of a converted automaton: ``alphabet`` when given (checked), else the
    symbols in the order found."""
    for c in symbols:
        if len(c) != 1:
            raise DFAError(f"{what}: symbol {c!r} is not a single character")
    if alphabet is None:
        return "".join(symbols)
    if not set(symbols) <= set(alphabet):
        raise DFAError(
            f"{what}: alphabet {alphabet!r} does not hold the automaton's symbols {symbols!r}"
        )
    return alphabet


def from_aalpy(automaton, alphabet: str | None = None) -> DFA:
    """Convert from an ``aalpy`` ``Dfa`` (symbols must be single characters).

    The alphabet keeps the order of the automaton's input alphabet (the order of
    the initial state's transitions, as :func:`to_aalpy` writes them), so a round
    trip keeps the alphabet order; pass ``alphabet`` to fix another order.

    Examples
    --------
    >>> d = DFA("ba", [0], 0, [0], {(0, "a"): 0, (0, "b"): 0})
    >>> from_aalpy(to_aalpy(d)).alphabet  # doctest: +SKIP
    'ba'
    """
    states = list(automaton.states)
    symbols: list[str] = []
    for s in [automaton.initial_state, *states]:
        for c in s.transitions:
            if str(c) not in symbols:
                symbols.append(str(c))
    alphabet = _order_alphabet(symbols, alphabet, "from_aalpy")
    names = [s.state_id for s in states]
    trans = {(s.state_id, str(c)): t.state_id for s in states for c, t in s.transitions.items()}
    acc = [s.state_id for s in states if s.is_accepting]
    return DFA(alphabet, names, automaton.initial_state.state_id, acc, trans, partial=True)


#: alphabet order of the automata-lib DFAs made by to_automata_lib (their symbols are a set)
_AUTOMATA_LIB_ORDER: dict[int, str] = {}


def to_automata_lib(dfa: DFA):
    """Convert to ``automata.fa.dfa.DFA`` (automata-lib; states named ``q0, q1, ...``).

    Examples
    --------
    >>> to_automata_lib(DFA("a", [0], 0, [0], {(0, "a"): 0}))  # doctest: +SKIP
    """
    mod = _require("automata.fa.dfa", "automata-lib")
    d = dfa.complete()
    name = [f"q{i}" for i in range(d.n_states)]
    trans = {
        name[i]: {c: name[int(d.transition_table[i, j])] for j, c in enumerate(d.alphabet)}
        for i in range(d.n_states)
    }
    out = mod.DFA(
        states=set(name),
        input_symbols=set(d.alphabet),
        transitions=trans,
        initial_state=name[d.start_index],
        final_states={name[i] for i in np.flatnonzero(d.accepting_mask)},
        allow_partial=False,
    )
    # automata-lib keeps the symbols as a set: remember the order for from_automata_lib
    key = id(out)
    _AUTOMATA_LIB_ORDER[key] = d.alphabet
    weakref.finalize(out, _AUTOMATA_LIB_ORDER.pop, key, None)
    return out


def from_automata_lib(automaton, alphabet: str | None = None) -> DFA:
    """Convert from an automata-lib ``DFA`` (partial ones are completed).

    automata-lib holds the symbols as a set: the alphabet order is ``alphabet`` when
    given, else the order of the DFA this automaton was made from by
    :func:`to_automata_lib` (so a round trip keeps it), else sorted.

    Examples
    --------
    >>> d = DFA("ba", [0], 0, [0], {(0, "a"): 0, (0, "b"): 0})
    >>> from_automata_lib(to_automata_lib(d)).alphabet  # doctest: +SKIP
    'ba'
    """
    symbols = sorted(str(c) for c in automaton.input_symbols)
    if alphabet is None:
        known = _AUTOMATA_LIB_ORDER.get(id(automaton))
        if known is not None and sorted(known) == symbols:
            alphabet = known
    alphabet = _order_alphabet(symbols, alphabet, "from_automata_lib")
    states = sorted(automaton.states, key=str)
    trans = {(s, str(c)): t for s, row in automaton.transitions.items() for c, t in row.items()}
    d = DFA(alphabet, states, automaton.initial_state, automaton.final_states, trans, partial=True)
    return d.complete()
