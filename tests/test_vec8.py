"""The 8-lane vector toolkit (expressivity.kernels.vec8): each lane computes exactly the
scalar operation, so the lanes kernel's activations equal the package's float32 functions
bit for bit."""

import numpy as np
import pytest
from numba import njit

from expressivity.activations import exp_f32, relu, sigmoid_f32, tanh_f32
from expressivity.kernels.vec8 import (
    vadd,
    vblend,
    vdiv,
    vexp,
    vf32,
    vf64,
    vfill,
    vge,
    vgt,
    vload,
    vmask,
    vmul,
    vsigmoid,
    vsqrt,
    vstore,
    vsub,
    vtanh,
)

SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.2e-38, 88.72, 89.0, 89.5,
           -103.9, -104.0, -105.0, 9.011, 9.5, 9.6, -9.5, 0.625, -0.625, 0.62499994, 16.6356,
           -88.73, 3.4e38, -3.4e38, 1.0, -1.0, 0.5]  # fmt: skip


@njit(cache=True)
def _vector(x, out, fn):
    for i in range(0, x.size, 8):
        v = vload(x, i)
        if fn == 0:
            r = vexp(v)
        elif fn == 1:
            r = vsigmoid(v)
        elif fn == 2:
            r = vtanh(v)
        else:
            z = vfill(np.float32(0.0))
            r = vge(z, v, z, v)
        vstore(out, i, r)


@njit(cache=True)
def _scalar(x, out, fn):
    for i in range(x.size):
        if fn == 0:
            out[i] = exp_f32(x[i])
        elif fn == 1:
            out[i] = sigmoid_f32(x[i])
        elif fn == 2:
            out[i] = tanh_f32(x[i])
        else:
            out[i] = relu(x[i])


def _inputs():
    rng = np.random.default_rng(0)
    parts = [
        rng.integers(0, 2**32, 400_000, dtype=np.uint64).astype(np.uint32).view(np.float32),
        np.arange(-20 * 2**14, 20 * 2**14, dtype=np.float32) / np.float32(2**14),  # dense
        np.nextafter(np.float32(0.625), np.float32(0), dtype=np.float32) + np.arange(-4, 5) * 1e-7,
        np.array(SPECIAL, dtype=np.float32),
    ]
    x = np.concatenate([p.astype(np.float32) for p in parts])
    return np.concatenate([x, np.zeros((-x.size) % 8, np.float32)])


@pytest.mark.parametrize(("fn", "name"), [(0, "exp"), (1, "sigmoid"), (2, "tanh"), (3, "relu")])
def test_vector_functions_equal_the_scalar_ones_bit_for_bit(fn, name):
    x = _inputs()
    a, b = np.empty_like(x), np.empty_like(x)
    _vector(x, a, fn)
    _scalar(x, b, fn)
    bad = np.flatnonzero(a.view(np.uint32) != b.view(np.uint32))
    assert bad.size == 0, f"{name}: {bad.size} lanes differ, e.g. x = {x[bad[:5]]}"


@njit(cache=True)
def _ops(x, y, m, out):
    a, b = vload(x, 0), vload(y, 0)
    vstore(out, 0, vadd(a, b))
    vstore(out, 8, vsub(a, b))
    vstore(out, 16, vmul(a, b))
    vstore(out, 24, vdiv(a, b))
    vstore(out, 32, vmask(m, 0, a))
    vstore(out, 40, vblend(m, 0, a, b))
    vstore(out, 48, vgt(a, b, a, b))


def test_arithmetic_and_selects_lane_by_lane():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(8).astype(np.float32)
    y = rng.standard_normal(8).astype(np.float32)
    x[0], y[1] = np.nan, np.nan  # a comparison with nan is false
    m = np.array([1, 0, 1, 0, 0, 2, 0, -1], dtype=np.int8)
    out = np.empty(56, np.float32)
    _ops(x, y, m, out)
    with np.errstate(invalid="ignore"):
        want = [x + y, x - y, x * y, x / y, np.where(m != 0, x, np.float32(0)),
                np.where(m != 0, x, y), np.where(x > y, x, y)]  # fmt: skip
    for k, w in enumerate(want):
        np.testing.assert_array_equal(out[8 * k : 8 * k + 8], w.astype(np.float32))


@njit(cache=True)
def _float64_ops(x, y32, out64, out32):
    for i in range(0, x.size, 8):
        v = vload(x, i)
        vstore(out64, i, vsqrt(v))
        vstore(out32, i, vf32(v))
        vstore(out64, x.size + i, vf64(vload(y32, i)))


def test_square_root_and_conversions_equal_numpy():
    """vsqrt is math.sqrt (IEEE, nan below 0), vf32 the rounding of a store into float32
    (overflow to inf, subnormals, ties to even), vf64 exact."""
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.standard_normal(56) * 10.0 ** rng.integers(-300, 300, 56),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, 3.5e38, 1.0 + 2.0**-24]])  # fmt: skip
    y = rng.standard_normal(x.size).astype(np.float32)
    out64, out32 = np.empty(2 * x.size), np.empty(x.size, np.float32)
    _float64_ops(x, y, out64, out32)
    with np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_array_equal(out64[: x.size], np.sqrt(x))
        np.testing.assert_array_equal(out32, x.astype(np.float32))
    np.testing.assert_array_equal(out64[x.size :], y.astype(np.float64))
