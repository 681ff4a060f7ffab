"""The registry of recurrent cells: one declarative entry per variant.

Every cell of ``docs/cells.md`` is a :class:`CellSpec`: a tuple of
gates (which of ``W x``, ``U h``, ``b`` each keeps, its activation, whether the
hidden state is reset before the product) and one of four state updates. The
kernels in :mod:`expressivity.kernels` read this description as a handful of
integers, so a new variant that reuses an update rule is one entry in
:data:`CELLS` and nothing else. The update rules are also written as sympy
equations (:data:`UPDATE_EQUATIONS`); the test suite differentiates them
symbolically and checks the kernels' hand-written backward pass against them.

Parameter names follow ``docs/cells.md``: gate ``g`` has ``W_g`` (H x I), ``U_g`` (H x H)
and ``b_g`` (H); the LSTM candidate is gate ``c``; ``gru-reset-after`` has the
extra bias ``d_h``; every cell has ``h0`` (and the LSTM ``c0``).

Examples
--------
>>> from expressivity.cells import get_cell
>>> spec = get_cell("gru1")
>>> [g.name for g in spec.gates]
['z', 'r', 'h']
>>> sorted(spec.param_shapes(hidden_size=4, input_size=2))[:4]
['U_h', 'U_r', 'U_z', 'W_h']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "CELLS",
    "UPDATES",
    "UPDATE_EQUATIONS",
    "CellSpec",
    "Gate",
    "get_cell",
    "list_cells",
]

#: activation name -> integer code used by the kernels
ACTIVATIONS = {"sigmoid": 0, "tanh": 1, "relu": 2}

#: update rule name -> integer code used by the kernels
UPDATES = {"lstm": 0, "interpolate": 1, "keep": 2, "replace": 3}

#: The state updates as sympy equations (strings parsed by sympy in the tests and
#: in :func:`update_equations`). ``hh`` is the candidate state, ``z`` the update
#: gate, ``h``/``c`` the previous state; LSTM gates ``i, f, o, g``.
UPDATE_EQUATIONS = {
    "lstm": {"c'": "f*c + i*g", "h'": "o*tanh(f*c + i*g)"},
    "interpolate": {"h'": "(1 - z)*h + z*hh"},
    "keep": {"h'": "z*h + (1 - z)*hh"},
    "replace": {"h'": "hh"},
}


@dataclass(frozen=True)
class Gate:
    """One gate: ``act(W x + U (reset ⊙ h) + b)``, with the terms it keeps.

    Parameters
    ----------
    name : str
        Parameter suffix (``W_<name>``, ``U_<name>``, ``b_<name>``).
    act : {"sigmoid", "tanh", "relu"}
        Activation function.
    W, U, b : bool
        Which terms of the pre-activation exist.
    reset : str or None
        Name of the gate that multiplies ``h`` before ``U`` (GRU ``r``, MGU ``f``).
    reset_after : bool
        ``act(W x + b + r ⊙ (U h + d))`` instead (PyTorch's GRU candidate).
    """

    name: str
    act: str
    W: bool = True
    U: bool = True
    b: bool = True
    reset: str | None = None
    reset_after: bool = False


@dataclass(frozen=True)
class CellSpec:
    """A recurrent cell: its gates, its update rule and its documentation.

    Parameters
    ----------
    name : str
        Registry name.
    gates : tuple of Gate
        In evaluation order; the candidate (the gate with a reset, if any) last.
    update : {"lstm", "interpolate", "keep", "replace"}
        How the new state is formed from the gates (see :data:`UPDATE_EQUATIONS`).
    update_gate : str or None
        The gate playing ``z`` in interpolate/keep updates.
    candidate : str
        The gate playing ``hh`` (or ``g`` for the LSTM).
    doc : str
        The equations, as in ``docs/cells.md``.
    """

    name: str
    gates: tuple[Gate, ...]
    update: str
    update_gate: str | None
    candidate: str
    doc: str

    @property
    def has_cell_state(self) -> bool:
        """True for the LSTM, whose state vector is ``concat(h, c)``."""
        return self.update == "lstm"

    def gate(self, name: str) -> Gate:
        """The gate called ``name``."""
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"cell {self.name!r} has no gate {name!r}")

    def gate_index(self, name: str) -> int:
        """Position of gate ``name`` in :attr:`gates`."""
        return [g.name for g in self.gates].index(name)

    def state_size(self, hidden_size: int) -> int:
        """Size of the state vector analysis sees (``2H`` for the LSTM)."""
        return 2 * hidden_size if self.has_cell_state else hidden_size

    def param_shapes(self, hidden_size: int, input_size: int) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the cell's parameters (no readout, no embedding).

        A term a variant drops has no entry (it is not a zero matrix).
        """
        H, I = hidden_size, input_size
        shapes: dict[str, tuple[int, ...]] = {}
        for g in self.gates:
            if g.W:
                shapes[f"W_{g.name}"] = (H, I)
            if g.U:
                shapes[f"U_{g.name}"] = (H, H)
            if g.b:
                shapes[f"b_{g.name}"] = (H,)
            if g.reset_after:
                shapes[f"d_{g.name}"] = (H,)
        shapes["h0"] = (H,)
        if self.has_cell_state:
            shapes["c0"] = (H,)
        return shapes

    def config(self) -> np.ndarray:
        """The integer description the kernels read (see kernels/cpu.py)."""
        G = len(self.gates)
        names = [g.name for g in self.gates]
        cfg = np.zeros(_CFG_HEADER + 5 * G, dtype=np.int64)
        cfg[0] = UPDATES[self.update]
        cfg[1] = G
        cfg[2] = names.index(self.update_gate) if self.update_gate else -1
        cfg[3] = names.index(self.candidate)
        for k, g in enumerate(self.gates):
            base = _CFG_HEADER + 5 * k
            cfg[base + 0] = ACTIVATIONS[g.act]
            cfg[base + 1] = int(g.U)
            cfg[base + 2] = names.index(g.reset) if g.reset else -1
            cfg[base + 3] = int(g.reset_after)
            cfg[base + 4] = int(g.W)
        return cfg


_CFG_HEADER = 4


def _gru_family(name, zr_terms, doc, reset_after=False, no_reset=False, update="interpolate"):
    W, U, b = zr_terms
    gates = [Gate("z", "sigmoid", W=W, U=U, b=b)]
    if not no_reset:
        gates.append(Gate("r", "sigmoid", W=W, U=U, b=b))
    reset = None if no_reset else "r"
    gates.append(Gate("h", "tanh", reset=reset, reset_after=reset_after))
    return CellSpec(name, tuple(gates), update, "z", "h", doc)


def _mgu_family(name, f_terms, doc):
    W, U, b = f_terms
    gates = (Gate("f", "sigmoid", W=W, U=U, b=b), Gate("h", "tanh", reset="f"))
    return CellSpec(name, gates, "interpolate", "f", "h", doc)


_LSTM_DOC = (
    "i = σ(W_i x + U_i h + b_i), f = σ(W_f x + U_f h + b_f), o = σ(W_o x + U_o h + b_o), "
    "g = tanh(W_c x + U_c h + b_c), c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c')"
)
_GRU_TAIL = "ĥ = tanh(W_h x + U_h (r ⊙ h) + b_h), h' = (1 − z) ⊙ h + z ⊙ ĥ"
_MGU_TAIL = "ĥ = tanh(W_h x + U_h (f ⊙ h) + b_h), h' = (1 − f) ⊙ h + f ⊙ ĥ"

#: name -> CellSpec, every cell of docs/cells.md (plus the documented ``gru-no-reset``)
CELLS: dict[str, CellSpec] = {
    "lstm": CellSpec(
        "lstm",
        (Gate("i", "sigmoid"), Gate("f", "sigmoid"), Gate("o", "sigmoid"), Gate("c", "tanh")),
        "lstm",
        None,
        "c",
        _LSTM_DOC,
    ),
    "gru": _gru_family(
        "gru",
        (True, True, True),
        "z = σ(W_z x + U_z h + b_z), r = σ(W_r x + U_r h + b_r), " + _GRU_TAIL,
    ),
    "gru-reset-after": _gru_family(
        "gru-reset-after",
        (True, True, True),
        "z = σ(W_z x + U_z h + b_z), r = σ(W_r x + U_r h + b_r), "
        "ĥ = tanh(W_h x + b_h + r ⊙ (U_h h + d_h)), h' = (1 − z) ⊙ h + z ⊙ ĥ",
        reset_after=True,
    ),
    "gru1": _gru_family(
        "gru1", (False, True, True), "z = σ(U_z h + b_z), r = σ(U_r h + b_r), " + _GRU_TAIL
    ),
    "gru2": _gru_family("gru2", (False, True, False), "z = σ(U_z h), r = σ(U_r h), " + _GRU_TAIL),
    "gru3": _gru_family("gru3", (False, False, True), "z = σ(b_z), r = σ(b_r), " + _GRU_TAIL),
    "gru-no-reset": _gru_family(
        "gru-no-reset",
        (True, True, True),
        "z = σ(W_z x + U_z h + b_z), ĥ = tanh(W_h x + U_h h + b_h), h' = z ⊙ h + (1 − z) ⊙ ĥ "
        "(the GRU released with Weiss, Goldberg & Yahav 2018: r never applied, z keeps the "
        "old state)",
        no_reset=True,
        update="keep",
    ),
    "mgu": _mgu_family("mgu", (True, True, True), "f = σ(W_f x + U_f h + b_f), " + _MGU_TAIL),
    "mgu1": _mgu_family("mgu1", (False, True, True), "f = σ(U_f h + b_f), " + _MGU_TAIL),
    "mgu2": _mgu_family("mgu2", (False, True, False), "f = σ(U_f h), " + _MGU_TAIL),
    "mgu3": _mgu_family("mgu3", (False, False, True), "f = σ(b_f), " + _MGU_TAIL),
    "elman-tanh": CellSpec(
        "elman-tanh", (Gate("h", "tanh"),), "replace", None, "h", "h' = tanh(W_h x + U_h h + b_h)"
    ),
    "elman-relu": CellSpec(
        "elman-relu", (Gate("h", "relu"),), "replace", None, "h", "h' = max(0, W_h x + U_h h + b_h)"
    ),
}


def get_cell(name: str | CellSpec) -> CellSpec:
    """Look up a cell by registry name.

    Raises
    ------
    KeyError
        For an unknown name; the message lists the known ones.

    Examples
    --------
    >>> get_cell("mgu").update
    'interpolate'
    """
    if isinstance(name, CellSpec):
        return name
    try:
        return CELLS[name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown cell {name!r}; known cells: {', '.join(list_cells())}") from None


def list_cells() -> list[str]:
    """Registry names of all cells, in registry order."""
    return list(CELLS)
