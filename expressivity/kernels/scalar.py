"""Scalar helpers that CPU (njit) and CUDA kernels share, one definition for both.

Each is a plain Python function (what the CUDA simulator runs) with an
overload that numba compiles for the CPU and the GPU alike; only :func:`mul`
has one per target: here the CPU's (``target="cpu"``), in
:mod:`expressivity.kernels.cuda` the GPU's (``target="cuda"``, an uncontracted
multiply, registered when that module is imported). Code written with them (:mod:`expressivity.kernels.step`)
compiles unchanged with ``njit`` and with ``cuda.jit(device=True)``.

- :func:`mul`: ``a * b``; on the GPU an uncontracted IEEE multiply (never
  fused into a multiply-add), so products round as on the CPU.
- :func:`exp`, :func:`sigmoid`, :func:`tanh`: in the type of the argument
  (float32 stays float32); sigmoid and tanh are the package's own
  (:mod:`expressivity.activations`), exp is the C library's / libdevice's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

from expressivity import activations

__all__ = ["exp", "mul", "sigmoid", "tanh"]


def mul(a, b):
    """``a * b`` (uncontracted on the GPU)."""
    return a * b


def exp(x):
    """``exp(x)`` in the type of ``x``."""
    return np.exp(x)


def sigmoid(x):
    """:func:`expressivity.activations.sigmoid` of a scalar."""
    return activations.sigmoid(x)


def tanh(x):
    """:func:`expressivity.activations.tanh` of a scalar."""
    return activations.tanh(x)


@overload(mul, target="cpu")
def _ov_mul(a, b):
    return lambda a, b: a * b


@overload(exp)  # one overload for every target
def _ov_exp(x):
    if isinstance(x, types.Float):
        return lambda x: math.exp(x)
    return None


@overload(sigmoid)  # one overload for every target
def _ov_sigmoid(x):
    if x == types.float32:
        return lambda x: activations.sigmoid_f32(x)
    if x == types.float64:
        return lambda x: activations.sigmoid_f64(x)
    return None


@overload(tanh)  # one overload for every target
def _ov_tanh(x):
    if x == types.float32:
        return lambda x: activations.tanh_f32(x)
    if x == types.float64:
        return lambda x: activations.tanh_f64(x)
    return None
