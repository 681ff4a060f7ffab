"""Finite-precision number formats and the one jitted rounding function ``rnd``.

The precision model
-------------------
Precision is part of the model, not an implementation detail. Every value a
network computes lives in a *carrier* (``float32`` or ``float64``) and is rounded
to the chosen format at fixed points of the computation, identically on every
backend:

* after every elementwise operation (``a * b``, ``a + b``, gate products, ...);
* after every dot product: a pre-activation ``W x + U h + b`` is accumulated in
  the carrier and rounded **once**;
* the activations (sigmoid, tanh, ...) are evaluated in the carrier and their
  result is rounded;
* parameters are rounded when they are loaded.

Kernels never use ``fastmath``: reassociation or contraction would change where
rounding happens. (A GPU kernel may fuse multiply-adds; it is compared with the
CPU kernel by ULP, not bit for bit.)

Formats
-------
``float64``, ``float32``
    Native (``kind == NATIVE``): ``rnd`` is the identity on the carrier.
``float16`` (alias ``half``, ``e5m10``), ``bfloat16`` (``e8m7``), ``eXmY``
    Emulated IEEE-style binary formats with ``X`` exponent bits (2..11), ``Y``
    mantissa bits (1..52), bias ``2**(X-1) - 1``, gradual underflow (subnormals
    with quantum ``2**(emin - Y)``), and infinities/NaN in the top exponent.
    Note that ``e4m3`` here is this IEEE-style format (max 240, has ±inf), *not*
    the OCP ``E4M3FN`` variant (max 448, no inf).
``fixedI.F``
    Two's-complement fixed point with ``I`` integer bits including the sign and
    ``F`` fraction bits: quantum ``2**-F``, range
    ``[-2**(I-1), 2**(I-1) - 2**-F]``, saturating.

Rounding semantics: round to nearest, ties to even. Floating formats overflow to
±inf (a value is rounded as with an unbounded exponent; if the result exceeds
the largest finite value it becomes inf), keep ±inf, NaN and the sign of zero.
Fixed point saturates (±inf included) and keeps NaN. The zero produced by
rounding a small negative value keeps its sign (``-0.0``) in both kinds. The
``float16`` emulation matches numpy's ``float32 -> float16 -> float32`` (and
``float64 -> float16``) conversion bit for bit.

Carriers: a floating format with ``X <= 8`` and ``Y <= 23`` and a fixed format
with ``I + F <= 24`` are carried in ``float32`` (every value of the format is a
``float32``); everything else in ``float64``.

``rnd(x, code)`` is the scalar rounding function for njit kernels; ``code`` is
``Precision.code``. It is branch-free bit arithmetic (mantissa rounding by
"add half-minus-one plus lsb, then mask", the subnormal range by the magic
number trick ``(|x| + C) - C``, the rest by comparisons and selects), so loops
calling it vectorise.

Examples
--------
>>> import numpy as np
>>> p = parse_precision("float16")
>>> p.round(np.float32(0.1)).item()
0.0999755859375
>>> p.carrier, p.max_value
(dtype('float32'), 65504.0)
>>> parse_precision("fixed4.2").round([0.3, 0.375, 100.0, -100.0])
array([ 0.25,  0.5 ,  7.75, -8.  ], dtype=float32)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from numba import njit, types
from numba.extending import overload

from expressivity._bits import f32_as_u32, f64_as_u64, u32_as_f32, u64_as_f64

__all__ = [
    "NATIVE",
    "FLOAT",
    "FIXED",
    "PRECISIONS",
    "Precision",
    "parse_precision",
    "rnd",
]

NATIVE = 0
FLOAT = 1
FIXED = 2

PRECISIONS = ("float64", "float32", "float16", "bfloat16", "e4m3", "e5m2", "fixed8.8", "fixed16.16")

# Layout of ``Precision.code`` (int64). Bit patterns of floats and uint64 masks
# are stored as their two's-complement int64 value.
_KIND, _A, _B, _CARRIER = 0, 1, 2, 3
_LO, _HI, _ADD, _SHIFT, _LSB, _MASK, _THR, _C, _MAX = range(9)
_N32 = 4  # offset of the float32-path constants
_N64 = 13  # offset of the float64-path constants
_CODE_LEN = 22

_VALID_FORMS = (
    "'float64', 'float32', 'float16' (= 'half', 'e5m10'), 'bfloat16' (= 'e8m7'), "
    "'eXmY' (X exponent bits 2..11, Y mantissa bits 1..52), "
    "'fixedI.F' (I >= 1 integer bits incl. sign, F >= 0 fraction bits, I + F <= 53)"
)


# ----------------------------------------------------------------------------- kernels


@njit(inline="always")
def _rnd32(x, code):
    """Round float32 ``x`` with the float32-path constants of ``code``."""
    if code[_CARRIER] == 64:
        # A format wider than float32 applied to a float32 value: the rounded
        # value is again a float32, so round exactly in float64.
        return np.float32(_rnd64(np.float64(x), code))
    lo = u32_as_f32(code[_N32 + _LO])
    hi = u32_as_f32(code[_N32 + _HI])
    y = hi if x > hi else x
    y = lo if y < lo else y
    # integer work is kept in 32 bits (np.uint32 truncations let LLVM narrow
    # numba's 64-bit integer arithmetic) so that 16 lanes fit an AVX-512 register
    u = f32_as_u32(y)
    sign = np.uint32(u & np.uint32(0x80000000))
    mag = np.uint32(u ^ sign)
    # normal range: round the mantissa (ties to even), then overflow to inf
    s = np.uint32(code[_N32 + _SHIFT] & 31)
    lsb = np.uint32(np.uint32(mag >> s) & np.uint32(code[_N32 + _LSB]))
    r = np.uint32(np.uint32(mag + np.uint32(code[_N32 + _ADD])) + lsb)
    r = np.uint32(r & np.uint32(code[_N32 + _MASK]))
    r = np.uint32(0x7F800000) if r > np.uint32(code[_N32 + _MAX]) else r
    # subnormal range / fixed point: (|y| + C) - C rounds to the quantum
    c = u32_as_f32(code[_N32 + _C])
    sub = f32_as_u32((u32_as_f32(mag) + c) - c)
    r = sub if mag < np.uint32(code[_N32 + _THR]) else r
    # inf and NaN pass through
    r = mag if mag >= np.uint32(0x7F800000) else r
    return u32_as_f32(np.uint32(sign | r))


@njit(inline="always")
def _rnd64(x, code):
    """Round float64 ``x`` with the float64-path constants of ``code``."""
    lo = u64_as_f64(code[_N64 + _LO])
    hi = u64_as_f64(code[_N64 + _HI])
    y = hi if x > hi else x
    y = lo if y < lo else y
    u = f64_as_u64(y)
    sign = u & np.uint64(0x8000000000000000)
    mag = u ^ sign
    s = np.uint64(code[_N64 + _SHIFT])
    r = (mag + np.uint64(code[_N64 + _ADD]) + ((mag >> s) & np.uint64(code[_N64 + _LSB]))) & (
        np.uint64(code[_N64 + _MASK])
    )
    r = np.uint64(0x7FF0000000000000) if r > np.uint64(code[_N64 + _MAX]) else r
    c = u64_as_f64(code[_N64 + _C])
    sub = f64_as_u64((u64_as_f64(mag) + c) - c)
    r = sub if mag < np.uint64(code[_N64 + _THR]) else r
    r = mag if mag >= np.uint64(0x7FF0000000000000) else r
    return u64_as_f64(sign | r)


def rnd(x, code):
    """Round a float scalar to the format described by ``code``.

    The single rounding primitive of the package, meant for ``@njit`` kernels
    (where it is inlined and vectorises); it also works from Python on numpy
    scalars.

    Parameters
    ----------
    x : numpy.float32 or numpy.float64 (or Python float)
        Value in the carrier. The result has the type of ``x``.
    code : numpy.ndarray
        ``Precision.code`` of the target format.

    Returns
    -------
    numpy.float32 or numpy.float64
        ``x`` rounded to nearest (ties to even) in the format; for a native
        format whose carrier is the type of ``x``, ``x`` itself. If ``x`` has the
        other float type, the result is the format's rounding of ``x`` expressed
        in that type (exact, except that a ``float64``-carried fixed-point
        saturation bound is itself rounded to ``float32``).

    Examples
    --------
    >>> import numpy as np
    >>> from numba import njit
    >>> code = parse_precision("bfloat16").code
    >>> @njit
    ... def f(v, code):
    ...     return rnd(v, code)
    >>> f(np.float32(1.00390625), code), f(np.float32(1.01171875), code)  # ties to even
    (1.0, 1.015625)
    >>> rnd(np.float32(1.01171875), code)  # from Python, on a numpy scalar
    np.float32(1.015625)
    """
    if isinstance(x, np.float32):
        out = np.empty(1, np.float32)
        _round_array32(np.array([x]), np.asarray(code, np.int64), out)
        return out[0]
    if isinstance(x, (float, np.float64)):
        out = np.empty(1, np.float64)
        _round_array64(np.array([x], np.float64), np.asarray(code, np.int64), out)
        return out[0]
    raise TypeError(f"rnd: x must be a float32 or float64 scalar, got {type(x).__name__}")


@overload(rnd)
def _rnd_overload(x, code):
    if x == types.float32:
        return lambda x, code: _rnd32(x, code)
    if x == types.float64:
        return lambda x, code: _rnd64(x, code)
    raise TypeError(f"rnd: x must be float32 or float64 inside njit code, got {x}")


@njit(cache=True)
def _round_array32(x, code, out):
    for i in range(x.size):
        out[i] = rnd(x[i], code)


@njit(cache=True)
def _round_array64(x, code, out):
    for i in range(x.size):
        out[i] = rnd(x[i], code)


# ----------------------------------------------------------------------------- constants


def _bits(value, dtype) -> int:
    """Bit pattern (as a Python int) of ``value`` converted to ``dtype``."""
    arr = np.array([value], dtype=dtype)
    return int(arr.view(np.uint32 if arr.dtype == np.float32 else np.uint64)[0])


def _path_constants(kind: int, a: int, b: int, carrier_m: int, dtype) -> list[int]:
    """Constants of one carrier path (mantissa bits ``carrier_m``) for format (kind, a, b)."""
    width = 32 if carrier_m == 23 else 64
    ones = (1 << width) - 1
    inf = float("inf")
    carrier_emin = -126 if width == 32 else -1022
    if kind == FIXED:
        lo = -(2.0 ** (a - 1))
        hi = 2.0 ** (a - 1) - 2.0**-b  # exact in float64 since a + b <= 53
        c = 2.0 ** (carrier_m - b)
        return [
            _bits(lo, dtype),
            _bits(hi, dtype),  # nearest carrier value of the bound
            0,
            0,
            0,
            ones,
            _bits(c, dtype),
            _bits(c, dtype),
            _bits(inf, dtype),
        ]
    s = max(carrier_m - b, 0)
    add = (1 << (s - 1)) - 1 if s else 0
    lsb = 1 if s else 0
    mask = ones & ~((1 << s) - 1)
    emax = (1 << (a - 1)) - 1
    emin = 1 - emax
    q = emin - b  # exponent of the subnormal quantum
    if q < carrier_emin - carrier_m:  # quantum finer than the carrier's: nothing to do
        thr, c = 0, _bits(1.0, dtype)
    else:
        c = _bits(2.0 ** (q + carrier_m), dtype)
        thr = _bits(min(2.0**emin, 2.0 ** (q + carrier_m)), dtype)
    carrier_max = float(np.finfo(dtype).max)
    # largest carrier value <= the format's largest finite value
    if emax > (127 if width == 32 else 1023):
        vmax = carrier_max
    else:
        vmax = (2.0 - 2.0 ** -min(b, carrier_m)) * 2.0**emax
    return [
        _bits(-inf, dtype),
        _bits(inf, dtype),
        add,
        s,
        lsb,
        mask,
        thr,
        c,
        _bits(vmax, dtype),
    ]


def _make_code(kind: int, a: int, b: int, carrier: np.dtype) -> np.ndarray:
    ea, eb = (a, b) if kind != NATIVE else ((8, 23) if carrier == np.float32 else (11, 52))
    if kind == NATIVE:
        kk = FLOAT
    else:
        kk = kind
    vals = [kind, a, b, 32 if carrier == np.float32 else 64]
    vals += _path_constants(kk, ea, eb, 23, np.float32)
    vals += _path_constants(kk, ea, eb, 52, np.float64)
    code = np.array(vals, dtype=np.uint64).view(np.int64)
    assert code.size == _CODE_LEN
    code.setflags(write=False)
    return code


# ----------------------------------------------------------------------------- Precision


@dataclass(frozen=True)
class Precision:
    """A number format: native float, emulated binary float ``eXmY`` or fixed point.

    Build one with :func:`parse_precision`. Equality and hashing use the name,
    kind, carrier and the two size parameters (not ``code``).

    Attributes
    ----------
    name : str
        Canonical name: ``"float64"``, ``"float32"``, ``"float16"``,
        ``"bfloat16"``, ``"eXmY"`` or ``"fixedI.F"``.
    kind : int
        ``NATIVE`` (0), ``FLOAT`` (1, emulated ``eXmY``) or ``FIXED`` (2).
    carrier : numpy.dtype
        ``float32`` or ``float64``: the type values are computed and stored in.
    a : int
        FLOAT: exponent bits; FIXED: integer bits including the sign; NATIVE: 0.
    b : int
        FLOAT: mantissa bits; FIXED: fraction bits; NATIVE: 0.
    code : numpy.ndarray
        Read-only int64 array ``[kind, a, b, carrier bits, ...precomputed
        constants]`` to pass to :func:`rnd` in njit kernels.

    Examples
    --------
    >>> p = parse_precision("e4m3")
    >>> p.kind == FLOAT, p.carrier, p.max_value, p.bits
    (True, dtype('float32'), 240.0, 8)
    >>> str(parse_precision("half"))
    'float16'
    """

    name: str
    kind: int
    carrier: np.dtype
    a: int
    b: int
    code: np.ndarray = field(compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return self.name

    # -- derived properties -------------------------------------------------
    @property
    def is_native(self) -> bool:
        """True for ``float32`` and ``float64`` (rounding is the identity)."""
        return self.kind == NATIVE

    @property
    def _eb(self) -> tuple[int, int]:
        if self.kind == NATIVE:
            return (8, 23) if self.carrier == np.float32 else (11, 52)
        return self.a, self.b

    @property
    def bits(self) -> int:
        """Storage bits: ``1 + X + Y`` for floats, ``I + F`` for fixed point."""
        if self.kind == FIXED:
            return self.a + self.b
        e, m = self._eb
        return 1 + e + m

    @property
    def eps(self) -> float:
        """``ulp(1)``: ``2**-Y`` for floats, the resolution ``2**-F`` for fixed point."""
        return 2.0 ** -self._eb[1]

    @property
    def resolution(self) -> float:
        """Spacing of representable values: ``2**-F`` (fixed), ``ulp(1)`` (floats)."""
        return self.eps

    @property
    def max_value(self) -> float:
        """Largest finite value."""
        if self.kind == FIXED:
            return 2.0 ** (self.a - 1) - 2.0**-self.b
        e, m = self._eb
        return float((2 - Fraction(1, 2**m)) * Fraction(2) ** (2 ** (e - 1) - 1))

    @property
    def min_value(self) -> float:
        """Most negative finite value (``-max_value`` for floats, ``-2**(I-1)`` fixed)."""
        if self.kind == FIXED:
            return -(2.0 ** (self.a - 1))
        return -self.max_value

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value ``2**emin`` (fixed point: the resolution)."""
        if self.kind == FIXED:
            return self.resolution
        e, _ = self._eb
        return 2.0 ** (2 - 2 ** (e - 1))

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value ``2**(emin - Y)`` (fixed point: the resolution)."""
        if self.kind == FIXED:
            return self.resolution
        e, m = self._eb
        return 2.0 ** (2 - 2 ** (e - 1) - m)

    # -- rounding -----------------------------------------------------------
    def round(self, x) -> np.ndarray:
        """Round ``x`` to this format; return an array of the carrier dtype.

        Parameters
        ----------
        x : array_like of real numbers (float16/32/64, ints, Python scalars)
            Floats are rounded exactly from their own value (a ``float64`` input
            with a ``float32`` carrier is rounded in float64, then converted, which
            is exact). Integers are first converted to ``float64`` (exact up to
            ``2**53``) and ``longdouble`` to ``float64``, then rounded.

        Returns
        -------
        numpy.ndarray
            Same shape as ``x`` (0-d for a scalar), dtype ``self.carrier``. For a
            native format and a float array already of the carrier dtype, ``x``
            itself (nothing to round).

        Raises
        ------
        TypeError
            If ``x`` is not real numeric (bool, complex, object, strings).

        Examples
        --------
        >>> parse_precision("float16").round([1.0, 65519.0, 65520.0, 2.0**-25]).tolist()
        [1.0, 65504.0, inf, 0.0]
        """
        arr = np.asarray(x)
        dt = arr.dtype
        if dt.kind not in "fiu":
            raise TypeError(
                f"Precision.round({self.name}): expected real numbers, got dtype {dt} "
                f"({type(x).__name__})"
            )
        if self.kind == NATIVE and dt.kind == "f":
            # IEEE conversion rounds to nearest, ties to even; no copy if already there
            return arr.astype(self.carrier, copy=False)
        if dt == np.float32 and self.carrier == np.float32:
            src, kernel, wide = arr, _round_array32, np.float32
        else:
            src, kernel, wide = arr.astype(np.float64), _round_array64, np.float64
        flat = np.ascontiguousarray(src).reshape(-1)
        out = np.empty(flat.size, wide)
        kernel(flat, self.code, out)
        return out.astype(self.carrier, copy=False).reshape(arr.shape)


# ----------------------------------------------------------------------------- parsing

_ALIASES = {
    "float64": "float64",
    "double": "float64",
    "fp64": "float64",
    "float32": "float32",
    "single": "float32",
    "fp32": "float32",
    "float16": "e5m10",
    "half": "e5m10",
    "fp16": "e5m10",
    "bfloat16": "e8m7",
    "bf16": "e8m7",
}
_FLOAT_NAMES = {(5, 10): "float16", (8, 7): "bfloat16"}
_RE_FLOAT = re.compile(r"e(\d+)m(\d+)")
_RE_FIXED = re.compile(r"fixed(\d+)\.(\d+)")


def _native(name: str, dtype) -> Precision:
    carrier = np.dtype(dtype)
    return Precision(name, NATIVE, carrier, 0, 0, _make_code(NATIVE, 0, 0, carrier))


def _bad(spec: str, why: str) -> ValueError:
    return ValueError(f"invalid precision {spec!r}: {why}; valid forms are {_VALID_FORMS}")


def parse_precision(spec: str | Precision) -> Precision:
    """Parse a precision name into a :class:`Precision`.

    Parameters
    ----------
    spec : str or Precision
        ``"float64"`` (``"double"``), ``"float32"`` (``"single"``),
        ``"float16"`` (``"half"``, ``"e5m10"``), ``"bfloat16"`` (``"e8m7"``),
        ``"eXmY"`` with ``2 <= X <= 11`` and ``1 <= Y <= 52``, or ``"fixedI.F"``
        with ``I >= 1`` (including the sign bit), ``F >= 0``, ``I + F <= 53``.
        Case and surrounding spaces are ignored. A ``Precision`` is returned as is.

    Returns
    -------
    Precision

    Raises
    ------
    ValueError
        For an unknown or out-of-range spec; the message names it and lists the
        valid forms.
    TypeError
        If ``spec`` is neither a string nor a Precision.

    Examples
    --------
    >>> parse_precision("e5m10").name
    'float16'
    >>> p = parse_precision("fixed8.8")
    >>> p.kind == FIXED, p.a, p.b, p.carrier, p.max_value
    (True, 8, 8, dtype('float32'), 127.99609375)
    """
    if isinstance(spec, Precision):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"precision must be a str or Precision, got {type(spec).__name__}")
    key = spec.strip().lower()
    key = _ALIASES.get(key, key)
    if key == "float64":
        return _native("float64", np.float64)
    if key == "float32":
        return _native("float32", np.float32)
    if len(key) > 20:
        raise _bad(spec[:40] + ("..." if len(spec) > 40 else ""), "too long")
    m = _RE_FLOAT.fullmatch(key)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if not 2 <= a <= 11:
            raise _bad(spec, f"exponent bits {a} not in 2..11")
        if not 1 <= b <= 52:
            raise _bad(spec, f"mantissa bits {b} not in 1..52")
        carrier = np.dtype(np.float32 if a <= 8 and b <= 23 else np.float64)
        name = _FLOAT_NAMES.get((a, b), f"e{a}m{b}")
        return Precision(name, FLOAT, carrier, a, b, _make_code(FLOAT, a, b, carrier))
    m = _RE_FIXED.fullmatch(key)
    if m:
        i, f = int(m.group(1)), int(m.group(2))
        if i < 1:
            raise _bad(spec, "fixed point needs at least 1 integer bit (the sign)")
        if i + f > 53:
            raise _bad(spec, f"fixed point has {i + f} > 53 bits")
        carrier = np.dtype(np.float32 if i + f <= 24 else np.float64)
        return Precision(f"fixed{i}.{f}", FIXED, carrier, i, f, _make_code(FIXED, i, f, carrier))
    raise _bad(spec, "unknown precision")
