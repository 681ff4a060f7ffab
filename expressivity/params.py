"""Parameter dictionaries: expected shapes, validation, initialisation, packing.

A network's parameters are the cell's (names and shapes from ``docs/cells.md``, see
:meth:`expressivity.cells.CellSpec.param_shapes`), the readout ``W_out`` (O x H)
and ``b_out`` (O), and optionally ``embedding`` (E x V, column ``v`` embeds
symbol ``v``).
"""

from __future__ import annotations

import numpy as np

from expressivity.cells import CellSpec

__all__ = ["expected_shapes", "validate_params", "init_params", "pack"]


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


def validate_params(params: dict, shapes: dict[str, tuple[int, ...]], cell: str) -> dict:
    """Check names, shapes and dtypes; return float64 copies.

    Raises
    ------
    KeyError
        A parameter is missing, or one the cell does not have was given.
    ValueError
        A parameter has the wrong shape.
    TypeError
        A parameter is not a real floating-point array (integers, booleans and
        complex numbers are refused rather than silently cast).
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in shapes if k not in params]
    if missing:
        raise KeyError(f"cell {cell!r} needs parameters {missing} (expected {sorted(shapes)})")
    extra = [k for k in params if k not in shapes]
    if extra:
        raise KeyError(
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
