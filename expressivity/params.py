"""Parameter dictionaries: expected shapes, validation, initialisation, packing.

A network's parameters are the cell's (names and shapes from ``docs/cells.md``, see
:meth:`expressivity.cells.CellSpec.param_shapes`), the readout ``W_out`` (O x H)
and ``b_out`` (O), and optionally ``embedding`` (E x V, column ``v`` embeds
symbol ``v``).
"""

from __future__ import annotations

import numpy as np

from expressivity.cells import CellSpec

__all__ = [
    "ParameterError",
    "UnknownCellError",
    "check_memory",
    "expected_shapes",
    "validate_params",
    "init_params",
    "pack",
]


class _NamedKeyError(KeyError, ValueError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ParameterError(_NamedKeyError):
    """A parameter is missing, or one the cell does not have was given (a ``KeyError``
    and a ``ValueError``)."""


class UnknownCellError(_NamedKeyError):
    """A cell name that is not registered (a ``KeyError`` and a ``ValueError``)."""


#: bytes per parameter a network holds at once: the float64 weights as given, the
#: rounded copy, the packed kernel arrays and an optimizer's two moments and gradient
_BYTES_PER_PARAM = 8 * 6


def memory_limit() -> int:
    """This machine's physical memory in bytes (``2**62`` where it cannot be read)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 1 << 62


def check_memory(shapes: dict[str, tuple[int, ...]], what: str) -> int:
    """Refuse (``ValueError``) a network whose parameters alone would not fit in memory.

    Returns the estimated bytes (``_BYTES_PER_PARAM`` per parameter).

    Examples
    --------
    >>> check_memory({"U": (3, 10, 10)}, "hidden_size=10")
    14400
    """
    n = sum(int(np.prod(shape, dtype=object)) for shape in shapes.values())
    need = n * _BYTES_PER_PARAM
    have = memory_limit()
    if need > have:
        raise ValueError(
            f"{what}: {n:,} parameters need about {need / 2**30:,.1f} GiB "
            f"({_BYTES_PER_PARAM} bytes each: weights, rounded and packed copies, optimizer "
            f"state), more than this machine's {have / 2**30:,.1f} GiB; use a smaller size"
        )
    return need


def expected_shapes(
    spec: CellSpec, n_symbols: int, hidden_size: int, n_outputs: int, embedding_size: int | None
) -> dict[str, tuple[int, ...]]:
    """All parameter names and shapes of a network."""
    I = embedding_size if embedding_size else n_symbols
    shapes = dict(spec.param_shapes(hidden_size, I))
    shapes["W_out"] = (n_outputs, hidden_size)
    shapes["b_out"] = (n_outputs,)
    if embedding_size:
        shapes["embedding"] = (embedding_size, n_symbols)
    return shapes


def validate_params(
    params: dict, shapes: dict[str, tuple[int, ...]], cell: str, finite: bool = True
) -> dict:
    """Check names, shapes and dtypes; return float64 copies.

    Raises
    ------
    ParameterError
        (a ``KeyError`` and ``ValueError``) A parameter is missing, or one the cell
        does not have was given.
    ValueError
        A parameter has the wrong shape, or (with ``finite``) holds NaN or an infinity.
    TypeError
        A parameter is not a real floating-point array (integers, booleans and
        complex numbers are refused rather than silently cast).
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in shapes if k not in params]
    if missing:
        raise ParameterError(
            f"cell {cell!r} needs parameters {missing} (expected {sorted(shapes)})"
        )
    extra = [k for k in params if k not in shapes]
    if extra:
        raise ParameterError(
            f"cell {cell!r} has no parameters {extra}; its parameters are {sorted(shapes)}"
        )
    out = {}
    for k, shape in shapes.items():
        a = np.asarray(params[k])
        if a.dtype.kind != "f":
            raise TypeError(
                f"parameter {k!r} has dtype {a.dtype}; expected a floating-point array "
                "(float16, float32 or float64)"
            )
        if a.shape != shape:
            raise ValueError(f"parameter {k!r} has shape {a.shape}; cell {cell!r} expects {shape}")
        if finite and not np.isfinite(a).all():
            bad = a[~np.isfinite(a)]
            raise ValueError(
                f"parameter {k!r} holds {bad.size} non-finite value(s) ({float(bad[0])!r}); "
                "weights must be finite numbers"
            )
        out[k] = a.astype(np.float64)
    return out


def init_params(shapes: dict[str, tuple[int, ...]], hidden_size: int, rng: np.random.Generator):
    """PyTorch-style initialisation: uniform in ±1/sqrt(H); initial states zero."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (e.g. np.random.default_rng(0))")
    bound = 1.0 / np.sqrt(hidden_size)
    out = {}
    for k, shape in shapes.items():
        if k in ("h0", "c0"):
            out[k] = np.zeros(shape)
        elif k == "embedding":
            out[k] = rng.standard_normal(shape)
        else:
            out[k] = rng.uniform(-bound, bound, size=shape)
    return out


def pack(spec: CellSpec, p: dict, n_symbols: int, hidden_size: int, dtype) -> dict:
    """Arrays the kernels read: ``XW`` (V, G, H), ``U`` (G, H, H), ``bias`` (G, H), ``d``.

    ``XW[v, g, j] = sum_k W_g[j, k] x_v[k]`` is accumulated with k ascending from
    zero, exactly as the reference computes ``W x`` at each step, so that the
    kernels' float32 results equal the reference's bit for bit.
    """
    G, H, V = len(spec.gates), hidden_size, n_symbols
    X = p["embedding"].T if "embedding" in p else np.eye(V, dtype=dtype)  # (V, I)
    X = X.astype(dtype)
    XW = np.zeros((V, G, H), dtype=dtype)
    U = np.zeros((G, H, H), dtype=dtype)
    bias = np.zeros((G, H), dtype=dtype)
    d = np.zeros(H, dtype=dtype)
    for g, gate in enumerate(spec.gates):
        if gate.W:
            W = p[f"W_{gate.name}"]
            for k in range(W.shape[1]):
                XW[:, g, :] += X[:, k, None] * W[None, :, k]
        if gate.U:
            U[g] = p[f"U_{gate.name}"]
        if gate.b:
            bias[g] = p[f"b_{gate.name}"]
        if gate.reset_after:
            d[:] = p[f"d_{gate.name}"]
    return {"XW": XW, "U": U, "bias": bias, "d": d, "X": X}
