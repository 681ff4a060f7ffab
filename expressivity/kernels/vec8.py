"""Eight lanes as one LLVM vector value: the explicit SIMD toolkit of the lanes kernel.

LLVM's loop vectoriser, given loops over 8-64 lanes, spends more in its runtime
alias checks and remainder loops than in the arithmetic
(:mod:`expressivity.kernels.lanes`). The functions here let numba code hold
eight lanes of a float32 (or float64, or uint32) array in one vector register
and operate on them directly:

- :func:`vload`, :func:`vstore`: lanes ``i..i+7`` of a C-contiguous array (flat
  index from its first element);
- :func:`vadd`, :func:`vsub`, :func:`vmul`, :func:`vdiv`, :func:`vsqrt`: IEEE
  operations lane by lane, each rounded, never contracted into a fused
  multiply-add: each lane computes exactly the scalar operation;
- :func:`vf32`, :func:`vf64`: float64 lanes rounded to float32 (as a store into a
  float32 array), float32 lanes widened to float64 (exact);
- :func:`vmask`, :func:`vblend`: select by an int8 mask array; :func:`vgt`,
  :func:`vge`: select by an ordered comparison (NaN compares false, as ``>``
  in Python);
- :func:`vsplat` (a scalar of an array's dtype), :func:`vfill` (a scalar of its own
  type) in all lanes;
- bit operations for the float32 functions: :func:`vbits`, :func:`vfloat`,
  :func:`viadd`, :func:`vshl`, :func:`vor`, :func:`vand`;
- :func:`vexp`, :func:`vsigmoid`, :func:`vtanh`: :func:`expressivity.activations.exp_f32`,
  :func:`~expressivity.activations.sigmoid_f32` and
  :func:`~expressivity.activations.tanh_f32` on eight float32 lanes, the same
  operations in the same order, so every lane's result equals the scalar
  function's bit for bit (``tests/test_vec8.py``, among others every float32 of
  several ranges and the special values).

Examples
--------
>>> import numpy as np
>>> from numba import njit
>>> @njit
... def sig8(x, out):
...     vstore(out, 0, vsigmoid(vload(x, 0)))
>>> x = np.linspace(-3, 3, 8).astype(np.float32)
>>> out = np.empty(8, np.float32)
>>> sig8(x, out)
>>> from expressivity.activations import sigmoid
>>> bool(np.array_equal(out, sigmoid(x)))
True
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from expressivity import activations as _a

__all__ = [
    "VL", "Vec8", "vload", "vstore", "vadd", "vsub", "vmul", "vdiv", "vsqrt", "vf32", "vf64",
    "vmask", "vblend",
    "vgt", "vge", "vsplat", "vfill", "vbits", "vfloat", "viadd", "vshl", "vor", "vand",
    "vexp", "vsigmoid", "vtanh",
]  # fmt: skip

#: lanes per vector
VL = 8


class Vec8(types.Type):
    """Eight lanes of a scalar type as one LLVM vector value (held in a register)."""

    def __init__(self, dtype):
        self.dtype = dtype
        super().__init__(name=f"vec8({dtype})")


@register_model(Vec8)
class _Vec8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, VL))


def _vec_ptr(context, builder, aryty, ary, i):
    data = context.make_array(aryty)(context, builder, ary).data
    elem = context.get_value_type(aryty.dtype)
    return builder.bitcast(builder.gep(data, [i]), ir.VectorType(elem, VL).as_pointer())


def _mask_bits(context, builder, mt, m, i):
    """The i1 vector 'm[i..i+7] != 0' of an integer array."""
    mty = ir.VectorType(context.get_value_type(mt.dtype), VL)
    data = context.make_array(mt)(context, builder, m).data
    mv = builder.load(builder.bitcast(builder.gep(data, [i]), mty.as_pointer()), align=1)
    return builder.icmp_signed("!=", mv, ir.Constant(mty, None))


@intrinsic
def vload(typingctx, a, i):
    """Lanes i..i+7 of C-contiguous ``a`` (flat index from its first element)."""

    def codegen(context, builder, sig, args):
        return builder.load(_vec_ptr(context, builder, sig.args[0], args[0], args[1]), align=1)

    return Vec8(a.dtype)(a, i), codegen


@intrinsic
def vstore(typingctx, a, i, v):
    """a[i..i+7] = v (flat index, C-contiguous ``a``)."""

    def codegen(context, builder, sig, args):
        builder.store(args[2], _vec_ptr(context, builder, sig.args[0], args[0], args[1]),
                      align=1)  # fmt: skip
        return context.get_dummy_value()

    return types.none(a, i, v), codegen


def _binary(op):
    def typer(typingctx, x, y):
        if not (isinstance(x, Vec8) and x == y):
            return None
        return x(x, y), lambda context, builder, sig, args: getattr(builder, op)(*args)

    return typer


vadd = intrinsic(_binary("fadd"))
vadd.__doc__ = "x + y lane by lane (IEEE, no contraction: each lane as the scalar sum)."
vsub = intrinsic(_binary("fsub"))
vsub.__doc__ = "x - y lane by lane (IEEE)."
vmul = intrinsic(_binary("fmul"))
vmul.__doc__ = "x * y lane by lane (IEEE, each product rounded)."
vdiv = intrinsic(_binary("fdiv"))
vdiv.__doc__ = "x / y lane by lane (IEEE division, no zero-division check)."
viadd = intrinsic(_binary("add"))
viadd.__doc__ = "x + y of integer lanes (wrapping)."
vor = intrinsic(_binary("or_"))
vor.__doc__ = "x | y of integer lanes."
vand = intrinsic(_binary("and_"))
vand.__doc__ = "x & y of integer lanes."


@intrinsic
def vsqrt(typingctx, x):
    """The square root of float lanes (IEEE, correctly rounded: as ``math.sqrt``)."""
    if not (isinstance(x, Vec8) and isinstance(x.dtype, types.Float)):
        return None

    def codegen(context, builder, sig, args):
        vt = args[0].type
        name = f"llvm.sqrt.v{VL}f{sig.args[0].dtype.bitwidth}"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt]), name)
        return builder.call(fn, [args[0]])

    return x(x), codegen


def _convert(src, dst, op):
    def typer(typingctx, x):
        if not (isinstance(x, Vec8) and x.dtype == src):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], ir.VectorType(context.get_value_type(dst), VL))

        return Vec8(dst)(x), codegen

    return typer


vf32 = intrinsic(_convert(types.float64, types.float32, "fptrunc"))
vf32.__doc__ = "float64 lanes rounded to float32 (to nearest, as a store into a float32 array)."
vf64 = intrinsic(_convert(types.float32, types.float64, "fpext"))
vf64.__doc__ = "float32 lanes widened to float64 (exact)."


@intrinsic
def vshl(typingctx, x, n):
    """x << n of integer lanes, n a compile-time integer constant."""
    if not isinstance(n, types.IntegerLiteral):
        return None
    k = n.literal_value

    def codegen(context, builder, sig, args):
        return builder.shl(args[0], ir.Constant(args[0].type, [k] * VL))

    return x(x, n), codegen


@intrinsic
def vmask(typingctx, m, i, x):
    """x where the integer array m[i..i+7] is non-zero, else +0 (a masked term)."""

    def codegen(context, builder, sig, args):
        on = _mask_bits(context, builder, sig.args[0], args[0], args[1])
        return builder.select(on, args[2], ir.Constant(args[2].type, None))

    return x(m, i, x), codegen


@intrinsic
def vblend(typingctx, m, i, x, y):
    """x where the integer array m[i..i+7] is non-zero, else y, lane by lane."""

    def codegen(context, builder, sig, args):
        on = _mask_bits(context, builder, sig.args[0], args[0], args[1])
        return builder.select(on, args[2], args[3])

    return x(m, i, x, y), codegen


def _compare(op):
    def typer(typingctx, a, b, x, y):
        def codegen(context, builder, sig, args):
            return builder.select(builder.fcmp_ordered(op, args[0], args[1]), args[2], args[3])

        return x(a, b, x, y), codegen

    return typer


vgt = intrinsic(_compare(">"))
vgt.__doc__ = "x where a > b else y, lane by lane (ordered: NaN compares false)."
vge = intrinsic(_compare(">="))
vge.__doc__ = "x where a >= b else y, lane by lane (ordered: NaN compares false)."


def _splat(builder, vt, x):
    v = ir.Constant(vt, None)
    for i in range(VL):
        v = builder.insert_element(v, x, ir.Constant(ir.IntType(32), i))
    return v


@intrinsic
def vsplat(typingctx, a, x):
    """x (a scalar of a's dtype) in all 8 lanes."""

    def codegen(context, builder, sig, args):
        return _splat(
            builder, ir.VectorType(context.get_value_type(sig.args[0].dtype), VL), args[1]
        )

    return Vec8(a.dtype)(a, x), codegen


@intrinsic
def vfill(typingctx, x):
    """The scalar x in all 8 lanes (a vector of x's own type)."""
    if not isinstance(x, (types.Float, types.Integer)):
        return None
    dt = x.literal_type if isinstance(x, types.Literal) else x

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[0], sig.args[0], dt)
        return _splat(builder, ir.VectorType(context.get_value_type(dt), VL), val)

    return Vec8(dt)(x), codegen


@intrinsic
def vbits(typingctx, x):
    """The bits of eight float32 lanes as uint32 lanes."""
    if not (isinstance(x, Vec8) and x.dtype == types.float32):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.VectorType(ir.IntType(32), VL))

    return Vec8(types.uint32)(x), codegen


@intrinsic
def vfloat(typingctx, x):
    """Eight uint32 lanes read as float32 (the inverse of :func:`vbits`)."""
    if not (isinstance(x, Vec8) and x.dtype == types.uint32):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.VectorType(ir.FloatType(), VL))

    return Vec8(types.float32)(x), codegen


# ----------------------------------------------------------------------------- float32 functions

_NEG0 = np.float32(-0.0)
_ABS = np.uint32(0x7FFFFFFF)
# The operations of expressivity.activations.exp_f32 / sigmoid_f32 / tanh_f32, one by
# one, on vectors (their constants are those module's float32 constants).


@njit(inline="always")
def _vpow2(n):
    """2**n for integral float32 lanes n in [-126, 127] (as activations._pow2_f32)."""
    t = vbits(vadd(n, vfill(_a._MAGIC)))
    return vfloat(vshl(viadd(t, vfill(_a._MAGIC_BITS_M127)), 23))


@njit(inline="always")
def vexp(x):
    """:func:`expressivity.activations.exp_f32` of eight float32 lanes, bit for bit."""
    hi, lo, magic = vfill(_a._EXP_HI), vfill(_a._EXP_LO), vfill(_a._MAGIC)
    x = vgt(x, hi, hi, x)  # x > hi: hi (nan passes through)
    x = vgt(lo, x, lo, x)  # x < lo: lo
    n = vsub(vadd(vmul(x, vfill(_a._LOG2E)), magic), magic)
    r = vsub(vsub(x, vmul(n, vfill(_a._LN2_HI))), vmul(n, vfill(_a._LN2_LO)))
    z = vmul(r, r)
    p = vadd(vmul(vfill(_a._E0), r), vfill(_a._E1))
    p = vadd(vmul(p, r), vfill(_a._E2))
    p = vadd(vmul(p, r), vfill(_a._E3))
    p = vadd(vmul(p, r), vfill(_a._E4))
    p = vadd(vmul(p, r), vfill(_a._E5))
    p = vadd(vadd(vmul(p, z), r), vfill(_a._ONE))
    n1 = vsub(vadd(vmul(n, vfill(_a._HALF)), magic), magic)
    n2 = vsub(n, n1)
    return vmul(vmul(p, _vpow2(n1)), _vpow2(n2))


@njit(inline="always")
def vsigmoid(x):
    """:func:`expressivity.activations.sigmoid_f32` of eight float32 lanes, bit for bit."""
    one = vfill(_a._ONE)
    return vdiv(one, vadd(one, vexp(vsub(vfill(_NEG0), x))))  # -x as numba negates: -0 - x


@njit(inline="always")
def vtanh(x):
    """:func:`expressivity.activations.tanh_f32` of eight float32 lanes, bit for bit."""
    bx = vbits(x)
    ax = vfloat(vand(bx, vfill(_ABS)))  # abs: the sign bit cleared
    z = vmul(ax, ax)
    q = vadd(vmul(vfill(_a._T0), z), vfill(_a._T1))
    q = vadd(vmul(q, z), vfill(_a._T2))
    q = vadd(vmul(q, z), vfill(_a._T3))
    q = vadd(vmul(q, z), vfill(_a._T4))
    small = vadd(ax, vmul(ax, vmul(z, q)))
    clamp, one = vfill(_a._TANH_CLAMP), vfill(_a._ONE)
    ac = vgt(ax, clamp, clamp, ax)
    big = vsub(one, vdiv(vfill(_a._TWO), vadd(vexp(vadd(ac, ac)), one)))
    r = vge(ax, vfill(_a._TANH_SPLIT), big, small)
    return vfloat(vor(vbits(r), vand(bx, vfill(_a._SIGN))))
