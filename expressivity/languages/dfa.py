"""The one DFA type of the project: construction, completion, minimisation, products."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numba import njit

from .errors import DFAError
from .symbols import check_alphabet, encode, encode_batch

__all__ = ["DFA"]

State = Hashable


@njit(cache=True)
def _run_kernel(table, accepting, start, codes, lengths):  # pragma: no cover - jitted
    n = codes.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        q = start
        for t in range(lengths[i]):
            q = table[q, codes[i, t]]
            if q < 0:
                break
        if q >= 0:
            out[i] = accepting[q]
    return out


@njit(cache=True)
def _states_kernel(table, start, codes, lengths, out):  # pragma: no cover - jitted
    for i in range(codes.shape[0]):
        q = start
        out[i, 0] = q
        for t in range(lengths[i]):
            if q >= 0:
                q = table[q, codes[i, t]]
            out[i, t + 1] = q


class DFA:
    """A deterministic finite automaton over an alphabet of single-character symbols.

    Parameters
    ----------
    alphabet : str
        Symbols in order, e.g. ``"01"``.
    states : sequence of hashable
        State labels (order is kept; index ``i`` in :attr:`transition_table` is ``states[i]``).
    start : hashable
        The start state.
    accepting : iterable of hashable
        Accepting states.
    transitions : mapping ``(state, symbol) -> state``
        The transition function. Every pair must be present unless ``partial=True``.
    partial : bool
        Allow missing transitions (they reject); :meth:`complete` adds a sink.

    Examples
    --------
    >>> d = DFA("ab", [0, 1], 0, [0], {(0, "a"): 0, (0, "b"): 1, (1, "a"): 1, (1, "b"): 0})
    >>> d.accepts("abba"), d.accepts("ab"), d.n_states
    (True, False, 2)
    """

    def __init__(
        self,
        alphabet: str,
        states: Sequence[State],
        start: State,
        accepting: Iterable[State],
        transitions: Mapping[tuple[State, str], State],
        *,
        partial: bool = False,
    ) -> None:
        self.alphabet = check_alphabet(alphabet)
        states = _state_list(states)
        if not isinstance(transitions, Mapping):
            raise DFAError(
                f"transitions must be a mapping (state, symbol) -> state, got {transitions!r:.80}"
            )
        if isinstance(accepting, (str, bytes)) or not isinstance(accepting, Iterable):
            raise DFAError(f"accepting must be a collection of states, got {accepting!r:.80}")
        _state_list([start])
        index: dict[State, int] = {}
        for s in states:
            if s in index:
                raise DFAError(f"state {s!r} is listed twice")
            index[s] = len(index)
        if start not in index:
            raise DFAError(f"start state {start!r} is not one of the states {states!r}")
        acc = np.zeros(len(states), dtype=np.bool_)
        for s in accepting:
            if not _has(index, s):
                raise DFAError(f"accepting state {s!r} is not one of the states")
            acc[index[s]] = True
        table = np.full((len(states), len(alphabet)), -1, dtype=np.int32)
        for key, dst in dict(transitions).items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise DFAError(f"transition key {key!r} must be a (state, symbol) pair")
            src, sym = key
            if src not in index:
                raise DFAError(f"transition {key!r}: unknown source state {src!r}")
            if not _has(index, dst):
                raise DFAError(f"transition {key!r} -> {dst!r}: unknown target state {dst!r}")
            if not isinstance(sym, str) or len(sym) != 1 or sym not in alphabet:
                raise DFAError(
                    f"transition {key!r}: symbol {sym!r} is not in alphabet {alphabet!r}"
                )
            table[index[src], alphabet.index(sym)] = index[dst]
        if not partial and (table < 0).any():
            i, j = np.argwhere(table < 0)[0]
            raise DFAError(
                f"missing transition from state {states[i]!r} on symbol {alphabet[j]!r} "
                "(pass partial=True, or use DFA.from_dict(..., complete=True), to add a sink)"
            )
        self.states = states
        self._index = index
        self.start = start
        self._table = table
        self._accepting = acc

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_table(
        cls,
        alphabet: str,
        table: np.ndarray,
        accepting: np.ndarray,
        start: int = 0,
        states: Sequence[State] | None = None,
    ) -> DFA:
        """Build from an ``(n_states, n_symbols)`` int table (``-1`` = missing) and a bool mask.

        Examples
        --------
        >>> DFA.from_table("a", np.array([[1], [0]]), np.array([True, False])).accepts("aa")
        True
        """
        alphabet = check_alphabet(alphabet)
        table = _int_array(table, "table", "a state index (or -1 for missing)")
        accepting = np.asarray(accepting)
        if accepting.dtype != np.bool_:
            flags = _int_array(accepting, "accepting", "True/False (or 1/0)")
            if flags.size and not np.isin(flags, (0, 1)).all():
                raise DFAError(f"accepting must hold True/False (or 1/0), got {accepting!r:.80}")
            accepting = flags.astype(np.bool_)
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise DFAError(f"start must be a state index (int), got {start!r}")
        n = table.shape[0] if table.ndim else 0
        if table.ndim != 2 or table.shape[1] != len(alphabet) or accepting.shape != (n,):
            raise DFAError(
                f"table shape {table.shape} / accepting shape {accepting.shape} do not match "
                f"{n} states x {len(alphabet)} symbols"
            )
        if n == 0:
            raise DFAError("a DFA needs at least one state")
        if table.size and (table.max() >= n or table.min() < -1):
            raise DFAError(f"table has a target outside 0..{n - 1} (or -1 for missing)")
        if not 0 <= start < n:
            raise DFAError(f"start state {start} is outside 0..{n - 1}")
        obj = cls.__new__(cls)
        obj.alphabet = alphabet
        obj.states = list(range(n)) if states is None else _state_list(states)
        obj._index = {s: i for i, s in enumerate(obj.states)}
        if len(obj.states) != n or len(obj._index) != n:
            raise DFAError(f"states must be {n} distinct labels, got {obj.states!r:.80}")
        obj.start = obj.states[start]
        obj._table = table.astype(np.int32, copy=True)
        obj._accepting = accepting.copy()
        return obj

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, complete: bool = False) -> DFA:
        """Build from a dict with keys ``alphabet``, ``start``, ``accepting``, ``transitions``.

        ``transitions`` is either ``{(state, symbol): state}`` or nested
        ``{state: {symbol: state}}``; ``states`` is optional (inferred in order of
        appearance). With ``complete=True`` missing transitions go to a new sink.

        Examples
        --------
        >>> d = DFA.from_dict({"alphabet": "01", "start": "q", "accepting": ["q"],
        ...                    "transitions": {"q": {"1": "q"}}}, complete=True)
        >>> d.n_states, d.accepts("11"), d.accepts("10")
        (2, True, False)
        """
        if not isinstance(spec, Mapping):
            raise DFAError(f"a DFA dict must be a mapping, got {type(spec).__name__}")
        for key in ("alphabet", "start", "accepting", "transitions"):
            if key not in spec:
                raise DFAError(f"DFA dict is missing the key {key!r}")
        trans_in = spec["transitions"]
        if not isinstance(trans_in, Mapping):
            raise DFAError(f"DFA dict 'transitions' must be a mapping, got {trans_in!r:.80}")
        if isinstance(spec["accepting"], (str, bytes)) or not isinstance(
            spec["accepting"], Iterable
        ):
            raise DFAError(
                f"DFA dict 'accepting' must be a list of states, got {spec['accepting']!r:.80}"
            )
        flat: dict[tuple[State, str], State] = {}
        for k, v in dict(trans_in).items():
            if isinstance(k, tuple):
                flat[k] = v
            elif isinstance(v, Mapping):
                for sym, dst in v.items():
                    flat[(k, sym)] = dst
            else:
                raise DFAError(
                    f"transition entry {k!r}: {v!r} is neither (state, symbol) nor nested"
                )
        if "states" in spec:
            states = _state_list(spec["states"])
        else:
            states = []
            seen: set = set()
            cand = [spec["start"], *[k[0] for k in flat], *flat.values(), *spec["accepting"]]
            for s in _state_list(cand):
                if s not in seen:
                    seen.add(s)
                    states.append(s)
        d = cls(spec["alphabet"], states, spec["start"], spec["accepting"], flat, partial=complete)
        return d.complete() if complete else d

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (inverse of :meth:`from_dict`).

        Examples
        --------
        >>> DFA.from_dict(DFA("a", [0], 0, [0], {(0, "a"): 0}).to_dict()).n_states
        1
        """
        trans = {}
        for i, s in enumerate(self.states):
            for j, c in enumerate(self.alphabet):
                if self._table[i, j] >= 0:
                    trans[(s, c)] = self.states[self._table[i, j]]
        return {
            "alphabet": self.alphabet,
            "states": list(self.states),
            "start": self.start,
            "accepting": [s for i, s in enumerate(self.states) if self._accepting[i]],
            "transitions": trans,
        }

    # ------------------------------------------------------------------ basic queries
    @property
    def n_states(self) -> int:
        """Number of states (a sink, if present, is counted)."""
        return len(self.states)

    @property
    def transition_table(self) -> np.ndarray:
        """``int32`` array ``(n_states, n_symbols)`` of target indices (``-1`` = missing)."""
        return self._table

    @property
    def accepting_mask(self) -> np.ndarray:
        """``bool`` array ``(n_states,)``: which state indices accept."""
        return self._accepting

    @property
    def start_index(self) -> int:
        """Index of the start state."""
        return self._index[self.start]

    @property
    def accepting(self) -> frozenset:
        """The set of accepting state labels."""
        return frozenset(s for i, s in enumerate(self.states) if self._accepting[i])

    @property
    def is_complete(self) -> bool:
        """Whether every (state, symbol) pair has a transition."""
        return bool((self._table >= 0).all())

    def index_of(self, state: State) -> int:
        """Index of a state label (``DFAError`` if unknown)."""
        try:
            return self._index[state]
        except KeyError:
            raise DFAError(f"unknown state {state!r}") from None

    def step(self, state: State, symbol: str) -> State | None:
        """The successor of ``state`` on ``symbol`` (``None`` if missing)."""
        j = self.alphabet.find(symbol)
        if j < 0 or len(symbol) != 1:
            raise DFAError(f"symbol {symbol!r} is not in alphabet {self.alphabet!r}")
        t = self._table[self.index_of(state), j]
        return None if t < 0 else self.states[t]

    def accepts(self, word: str) -> bool:
        """Whether the DFA accepts ``word``.

        Examples
        --------
        >>> DFA("a", [0, 1], 0, [1], {(0, "a"): 1, (1, "a"): 0}).accepts("aaa")
        True
        """
        q = self.start_index
        for j in encode(word, self.alphabet):
            q = self._table[q, j]
            if q < 0:
                return False
        return bool(self._accepting[q])

    def accepts_batch(self, words: Sequence[str]) -> np.ndarray:
        """Vectorised :meth:`accepts` on a list of strings."""
        codes, lengths = encode_batch(words, self.alphabet)
        return self.run_batch(codes, lengths)

    def run_batch(self, encoded: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Run on integer-coded, padded words; returns ``bool`` acceptance per row.

        Examples
        --------
        >>> d = DFA("ab", [0, 1], 0, [1], {(0, "a"): 1, (0, "b"): 0, (1, "a"): 1, (1, "b"): 0})
        >>> d.run_batch(np.array([[0, 1], [1, 0]]), np.array([2, 2])).tolist()
        [False, True]
        """
        codes, lengths = _check_codes(encoded, lengths, len(self.alphabet))
        return _run_kernel(self._table, self._accepting, self.start_index, codes, lengths)

    def state_indices(self, encoded: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """State index after every prefix: ``int32 (N, T+1)``.

        ``-1`` after a missing transition and in padding.
        """
        codes, lengths = _check_codes(encoded, lengths, len(self.alphabet))
        out = np.full((codes.shape[0], codes.shape[1] + 1), -1, dtype=np.int32)
        _states_kernel(self._table, self.start_index, codes, lengths, out)
        return out

    # ------------------------------------------------------------------ transformations
    def complete(self, sink: State = "sink") -> DFA:
        """A complete copy: missing transitions go to a new rejecting sink (no-op if complete).

        Examples
        --------
        >>> DFA("ab", [0], 0, [0], {(0, "a"): 0}, partial=True).complete().n_states
        2
        """
        if self.is_complete:
            return self
        while sink in self._index:
            sink = f"{sink}_"
        n = self.n_states
        table = np.vstack([self._table, np.full((1, len(self.alphabet)), n, dtype=np.int32)])
        table[table < 0] = n
        acc = np.append(self._accepting, False)
        return DFA.from_table(self.alphabet, table, acc, self.start_index, [*self.states, sink])

    def reachable(self) -> DFA:
        """Restriction to the states reachable from the start (order: BFS, alphabet order)."""
        order = self._bfs_order()
        return self._renumber(order, keep_labels=True)

    def _bfs_order(self) -> list[int]:
        seen = {self.start_index}
        order = [self.start_index]
        queue = deque(order)
        while queue:
            q = queue.popleft()
            for t in self._table[q]:
                t = int(t)
                if t >= 0 and t not in seen:
                    seen.add(t)
                    order.append(t)
                    queue.append(t)
        return order

    def _renumber(self, order: list[int], keep_labels: bool) -> DFA:
        new = {old: i for i, old in enumerate(order)}
        old_tab = self._table[order]
        table = np.where(old_tab >= 0, 0, -1).astype(np.int32)
        for (i, j), t in np.ndenumerate(old_tab):
            if t >= 0:
                table[i, j] = new[int(t)]
        labels = [self.states[o] for o in order] if keep_labels else None
        return DFA.from_table(self.alphabet, table, self._accepting[order], 0, labels)

    def minimize(self) -> DFA:
        """The minimal complete DFA (Hopcroft), states ``0..n-1`` numbered in BFS order.

        The result is canonical: two equivalent DFAs minimise to identical tables.

        Examples
        --------
        >>> d = DFA("a", [0, 1, 2], 0, [0, 2], {(0, "a"): 1, (1, "a"): 2, (2, "a"): 1})
        >>> d.minimize().n_states
        2
        """
        d = self.complete().reachable()
        block = _hopcroft(d._table, d._accepting)
        n_blocks = int(block.max()) + 1
        table = np.zeros((n_blocks, len(d.alphabet)), dtype=np.int32)
        acc = np.zeros(n_blocks, dtype=np.bool_)
        table[block] = block[d._table]
        acc[block] = d._accepting
        q = DFA.from_table(d.alphabet, table, acc, int(block[0]))
        return q._renumber(q._bfs_order(), keep_labels=False)

    # ------------------------------------------------------------------ products
    def product(self, other: DFA, op: str) -> DFA:
        """Product DFA over reachable state pairs; ``op`` in ``and, or, diff, xor``.

        Examples
        --------
        >>> even = DFA("a", [0, 1], 0, [0], {(0, "a"): 1, (1, "a"): 0})
        >>> even.product(even.complement(), "or").accepts("a")
        True
        """
        ops = {
            "and": np.logical_and,
            "or": np.logical_or,
            "diff": lambda x, y: x & ~y,
            "xor": np.logical_xor,
        }
        if op not in ops:
            raise ValueError(f"unknown product op {op!r}; expected one of {sorted(ops)}")
        if self.alphabet != other.alphabet:
            raise DFAError(f"alphabets differ: {self.alphabet!r} vs {other.alphabet!r}")
        a, b = self.complete(), other.complete()
        start = (a.start_index, b.start_index)
        index = {start: 0}
        pairs = [start]
        rows: list[list[int]] = []
        i = 0
        while i < len(pairs):
            p, q = pairs[i]
            row = []
            for j in range(len(a.alphabet)):
                nxt = (int(a._table[p, j]), int(b._table[q, j]))
                if nxt not in index:
                    index[nxt] = len(pairs)
                    pairs.append(nxt)
                row.append(index[nxt])
            rows.append(row)
            i += 1
        pa = np.array([p for p, _ in pairs])
        pb = np.array([q for _, q in pairs])
        acc = ops[op](a._accepting[pa], b._accepting[pb])
        return DFA.from_table(a.alphabet, np.array(rows, dtype=np.int32), acc, 0, pairs)

    def intersection(self, other: DFA) -> DFA:
        """Language intersection (product with AND)."""
        return self.product(other, "and")

    def union(self, other: DFA) -> DFA:
        """Language union (product with OR)."""
        return self.product(other, "or")

    def difference(self, other: DFA) -> DFA:
        """Strings accepted by ``self`` and not by ``other``."""
        return self.product(other, "diff")

    def symmetric_difference(self, other: DFA) -> DFA:
        """Strings accepted by exactly one of the two."""
        return self.product(other, "xor")

    __and__ = intersection
    __or__ = union
    __sub__ = difference
    __xor__ = symmetric_difference

    def complement(self) -> DFA:
        """The complement over the same alphabet (completes first)."""
        d = self.complete()
        return DFA.from_table(d.alphabet, d._table, ~d._accepting, d.start_index, d.states)

    @staticmethod
    def equivalent(a: DFA, b: DFA) -> str | None:
        """``None`` if ``a`` and ``b`` accept the same language, else a shortest string on
        which they differ (the lexicographically first in alphabet order; may be ``""``).

        Examples
        --------
        >>> even = DFA("a", [0, 1], 0, [0], {(0, "a"): 1, (1, "a"): 0})
        >>> DFA.equivalent(even, even), DFA.equivalent(even, even.complement())
        (None, '')
        """
        if a.alphabet != b.alphabet:
            raise DFAError(f"alphabets differ: {a.alphabet!r} vs {b.alphabet!r}")
        a, b = a.complete(), b.complete()
        start = (a.start_index, b.start_index)
        parent: dict[tuple[int, int], tuple[tuple[int, int], int] | None] = {start: None}
        queue = deque([start])
        while queue:
            pair = queue.popleft()
            if a._accepting[pair[0]] != b._accepting[pair[1]]:
                out = []
                while parent[pair] is not None:
                    pair, j = parent[pair]
                    out.append(a.alphabet[j])
                return "".join(reversed(out))
            for j in range(len(a.alphabet)):
                nxt = (int(a._table[pair[0], j]), int(b._table[pair[1], j]))
                if nxt not in parent:
                    parent[nxt] = (pair, j)
                    queue.append(nxt)
        return None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DFA)
            and self.alphabet == other.alphabet
            and (DFA.equivalent(self, other) is None)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"DFA(alphabet={self.alphabet!r}, n_states={self.n_states}, "
            f"accepting={int(self._accepting.sum())}, complete={self.is_complete})"
        )

    # ------------------------------------------------------------------ I/O (dfa_io.py)
    def to_networkx(self):
        """A ``networkx.DiGraph`` (see :func:`expressivity.languages.dfa_io.to_networkx`)."""
        from .dfa_io import to_networkx

        return to_networkx(self)

    @classmethod
    def from_networkx(cls, graph, alphabet: str | None = None, start: State | None = None) -> DFA:
        """Build from a networkx graph (see :func:`expressivity.languages.dfa_io.from_networkx`)."""
        from .dfa_io import from_networkx

        return from_networkx(graph, alphabet=alphabet, start=start)

    def to_dot(self, name: str = "dfa") -> str:
        """Graphviz DOT text (accepting states double-circled, merged edge labels)."""
        from .dfa_io import to_dot

        return to_dot(self, name=name)

    def render(self, path, format: str = "svg", fallback: bool = False, engine: str = "graphviz"):
        """Write a picture (SVG/PNG/PDF; the extension is added) (see :func:`...dfa_io.render`)."""
        from .dfa_io import render

        return render(self, path, format=format, fallback=fallback, engine=engine)

    def to_svg(self, engine: str = "auto") -> str:
        """SVG text: Graphviz when ``dot`` is on the PATH, else matplotlib (see ``dfa_io``)."""
        from .dfa_io import to_svg

        return to_svg(self, engine=engine)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """Jupyter shows the automaton as a graph (SVG), not only its text repr."""
        from .dfa_io import mimebundle

        return mimebundle(self)

    def to_aalpy(self):
        """Convert to an ``aalpy`` DFA (requires the optional ``aalpy`` package)."""
        from .dfa_io import to_aalpy

        return to_aalpy(self)

    @classmethod
    def from_aalpy(cls, automaton, alphabet: str | None = None) -> DFA:
        """Convert from an ``aalpy`` DFA (alphabet order kept, or ``alphabet``)."""
        from .dfa_io import from_aalpy

        return from_aalpy(automaton, alphabet=alphabet)

    def to_automata_lib(self):
        """Convert to an ``automata-lib`` ``DFA`` (requires the optional package)."""
        from .dfa_io import to_automata_lib

        return to_automata_lib(self)

    @classmethod
    def from_automata_lib(cls, automaton, alphabet: str | None = None) -> DFA:
        """Convert from an ``automata-lib`` ``DFA`` (see :func:`...dfa_io.from_automata_lib`)."""
        from .dfa_io import from_automata_lib

        return from_automata_lib(automaton, alphabet=alphabet)


def _has(index: dict, s) -> bool:
    try:
        return s in index
    except TypeError:  # unhashable: never a state
        return False


def _state_list(states) -> list:
    """``states`` as a list of hashable labels (``DFAError`` otherwise)."""
    if isinstance(states, (str, bytes)) or not isinstance(states, Iterable):
        raise DFAError(f"states must be a sequence of hashable labels, got {states!r:.80}")
    states = list(states)
    for s in states:
        try:
            hash(s)
        except TypeError:
            raise DFAError(
                f"state {s!r:.80} is not hashable (use str, int or tuple labels)"
            ) from None
    return states


def _int_array(values, what: str, allowed: str) -> np.ndarray:
    """``values`` as an int64 array; refuses NaN, inf and non-integer floats (never truncates)."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as err:
        raise DFAError(f"{what} must be an array of ints ({allowed}): {err}") from None
    if arr.dtype.kind in "iu":
        if arr.size and (int(arr.max()) > 2**31 or int(arr.min()) < -(2**31)):
            worst = int(arr.max()) if int(arr.max()) > 2**31 else int(arr.min())
            raise DFAError(f"{what} holds {worst}, which is not {allowed}")
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) > 2**31)
        if bad.any():
            raise DFAError(
                f"{what} holds {float(arr[bad].reshape(-1)[0])!r}, which is not {allowed}: "
                "entries must be integers"
            )
        return arr.astype(np.int64)
    if arr.dtype == np.bool_ and what == "accepting":
        return arr.astype(np.int64)
    raise DFAError(f"{what} must be an array of ints ({allowed}), got dtype {arr.dtype}")


def _check_codes(encoded: np.ndarray, lengths: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(encoded)
    lengths = np.asarray(lengths)
    if codes.ndim != 2:
        raise ValueError(f"encoded words must be a 2-D (N, T) int array, got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer) or not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(
            f"encoded/lengths must be integer arrays, got {codes.dtype}/{lengths.dtype}"
        )
    if lengths.shape != (codes.shape[0],):
        raise ValueError(f"lengths shape {lengths.shape} does not match {codes.shape[0]} rows")
    if lengths.size and (lengths.min() < 0 or lengths.max() > codes.shape[1]):
        raise ValueError(f"lengths must lie in 0..{codes.shape[1]}")
    if codes.size:
        mask = np.arange(codes.shape[1])[None, :] < lengths[:, None]
        used = codes[mask]
        if used.size and (used.min() < 0 or used.max() >= k):
            bad = int(used[(used < 0) | (used >= k)][0])
            raise ValueError(f"symbol index {bad} is outside the alphabet of size {k}")
    return codes.astype(np.int32, copy=False), lengths.astype(np.int64, copy=False)


def _hopcroft(table: np.ndarray, accepting: np.ndarray) -> np.ndarray:
    """Hopcroft partition refinement on a complete DFA; returns the block id of each state."""
    n, k = table.shape
    inverse: list[list[list[int]]] = [[[] for _ in range(n)] for _ in range(k)]
    for q in range(n):
        for j in range(k):
            inverse[j][int(table[q, j])].append(q)
    acc = set(np.flatnonzero(accepting).tolist())
    rej = set(range(n)) - acc
    partition = [b for b in (acc, rej) if b]
    block_of = np.zeros(n, dtype=np.int64)
    for bi, b in enumerate(partition):
        for q in b:
            block_of[q] = bi
    work = set(range(len(partition))) if len(partition) == 2 else set()
    while work:
        splitter = set(partition[work.pop()])
        for j in range(k):
            pre = set()
            for q in splitter:
                pre.update(inverse[j][q])
            if not pre:
                continue
            touched: dict[int, set[int]] = {}
            for q in pre:
                touched.setdefault(int(block_of[q]), set()).add(q)
            for bi, inside in touched.items():
                block = partition[bi]
                if len(inside) == len(block):
                    continue
                outside = block - inside
                partition[bi] = inside
                new = len(partition)
                partition.append(outside)
                for q in outside:
                    block_of[q] = new
                if bi in work:
                    work.add(new)
                else:
                    work.add(bi if len(inside) <= len(outside) else new)
    # canonical block ids do not matter: the caller renumbers by BFS
    return block_of
