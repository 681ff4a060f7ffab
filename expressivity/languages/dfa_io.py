"""DFA conversions: networkx, DOT text, Graphviz rendering, AALpy and automata-lib."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Hashable
from pathlib import Path

import networkx as nx
import numpy as np

from .dfa import DFA
from .errors import DFAError, GraphvizNotFoundError

__all__ = [
    "to_networkx",
    "from_networkx",
    "to_dot",
    "render",
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


def render(dfa: DFA, path: str | Path, format: str = "svg", fallback: bool = False) -> Path:
    """Render the DFA to ``path`` with the Graphviz ``dot`` executable.

    Parameters
    ----------
    format : {"svg", "png", "pdf"}
    fallback : bool
        If ``dot`` is missing, write the DOT text to ``path`` with suffix ``.dot`` and
        return that path instead of raising.

    Raises
    ------
    GraphvizNotFoundError
        ``dot`` is not on the PATH (and ``fallback`` is False).

    Examples
    --------
    >>> render(DFA("a", [0], 0, [0], {(0, "a"): 0}), "/tmp/d.svg")  # doctest: +SKIP
    PosixPath('/tmp/d.svg')
    """
    if format not in ("svg", "png", "pdf"):
        raise ValueError(f"unsupported format {format!r}; use 'svg', 'png' or 'pdf'")
    path = Path(path)
    text = to_dot(dfa)
    exe = shutil.which("dot")
    if exe is None:
        if fallback:
            out = path.with_suffix(".dot")
            out.write_text(text)
            return out
        raise GraphvizNotFoundError(
            "Graphviz 'dot' executable not found on PATH; install graphviz, "
            "or use DFA.to_dot() for the DOT text (or render(..., fallback=True))"
        )
    proc = subprocess.run(
        [exe, f"-T{format}", "-o", str(path)], input=text.encode(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"dot failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
        )
    return path


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


def from_aalpy(automaton) -> DFA:
    """Convert from an ``aalpy`` ``Dfa`` (symbols must be single characters).

    Examples
    --------
    >>> from_aalpy(to_aalpy(DFA("a", [0], 0, [0], {(0, "a"): 0}))).n_states  # doctest: +SKIP
    1
    """
    states = list(automaton.states)
    symbols = sorted({str(c) for s in states for c in s.transitions})
    names = [s.state_id for s in states]
    trans = {(s.state_id, str(c)): t.state_id for s in states for c, t in s.transitions.items()}
    acc = [s.state_id for s in states if s.is_accepting]
    return DFA("".join(symbols), names, automaton.initial_state.state_id, acc, trans, partial=True)


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
    return mod.DFA(
        states=set(name),
        input_symbols=set(d.alphabet),
        transitions=trans,
        initial_state=name[d.start_index],
        final_states={name[i] for i in np.flatnonzero(d.accepting_mask)},
        allow_partial=False,
    )


def from_automata_lib(automaton) -> DFA:
    """Convert from an automata-lib ``DFA`` (alphabet sorted; partial ones are completed).

    Examples
    --------
    >>> d = DFA("a", [0], 0, [0], {(0, "a"): 0})
    >>> from_automata_lib(to_automata_lib(d)).n_states  # doctest: +SKIP
    1
    """
    alphabet = "".join(sorted(str(c) for c in automaton.input_symbols))
    states = sorted(automaton.states, key=str)
    trans = {(s, str(c)): t for s, row in automaton.transitions.items() for c, t in row.items()}
    d = DFA(alphabet, states, automaton.initial_state, automaton.final_states, trans, partial=True)
    return d.complete()
