"""Mirrors ``src/twolayer/_fastmath.h``: the vectorisable tanh, exp, log1p (Numba).

Same names without the ``tl_`` prefix (``tl_exp_neg`` is ``exp_neg``, its float
twin ``tl_exp_negf`` is ``exp_negf``), the same coefficients and the same order of
operations; hold the files side by side, a change to one belongs in the other.
Every literal in float32 code is a float32 (``_f32(...)``), because Numba, unlike
C, would widen ``float32 op 1.0`` to float64 and round twice. Bit casts (``memcpy``
in the header) are ``builder.bitcast`` intrinsics, so the exp scaling vectorises
as it does in C; ``reduce`` returns ``(r, scale)`` where C writes scale through a
pointer.

Also the per-point helpers of ``_cython_kernels.pyx`` (``_tanh``, ``_exp_neg``,
``_log1p_unit``, ``_log_ge1``, ``_log_loss``, ``_sigmoid``, ``_loss_and_residual``),
which pick the double or the float routine by type at compile time, as Cython's
``if floating is double`` (C's TL_MATH) does.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._numba_jit import HAS_FMA, jit

_f32 = np.float32


@intrinsic
def double_to_bits(typingctx, x):
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def bits_to_double(typingctx, i):
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if i.bitwidth < 64:
            value = builder.sext(value, ir.IntType(64))
        return builder.bitcast(value, ir.DoubleType())

    return types.float64(i), codegen


@intrinsic
def float_to_bits(typingctx, x):
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def bits_to_float(typingctx, i):
    """The low 32 bits of an integer as a float (Numba widens int32 arithmetic to int64)."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if i.bitwidth > 32:
            value = builder.trunc(value, ir.IntType(32))
        elif i.bitwidth < 32:
            value = builder.sext(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())

    return types.float32(i), codegen


def emit_fma(builder, a, b, c):
    """a * b + c: one llvm.fma where the target has FMA, else two roundings (C: tl_fma)."""
    if HAS_FMA:
        kind = a.type
        suffix = kind.intrinsic_name if not isinstance(kind, ir.VectorType) else (
            f"v{kind.count}{kind.element.intrinsic_name}")  # fmt: skip
        signature = ir.FunctionType(kind, [kind] * 3)
        fused = cgutils.get_or_insert_function(builder.module, signature, f"llvm.fma.{suffix}")
        return builder.call(fused, [a, b, c])
    return builder.fadd(builder.fmul(a, b), c)


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c, fused where the CPU has FMA (C: tl_fma / tl_fmaf); all of one float type."""
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        return emit_fma(builder, *args)

    return a(a, b, c), codegen


@jit()
def reduce(x):
    """Range reduction of exp (-708 <= x <= 0; the caller clamps; tanh reduces its own way).

    x = n ln2 + r with |r| <= ln2/2; returns (r, scale = 2^n), C returns r and
    writes scale through a pointer. magic leaves n + 1023 in the low bits of t.
    """
    magic = 6755399441056767.0  # 1.5 * 2^52 + 1023
    t = fma(x, 1.4426950408889634, magic)  # log2(e)
    n = t - magic
    scale = bits_to_double(double_to_bits(t) << 52)
    r = fma(-n, 6.93147180369123816490e-01, x)  # ln2 high part
    return fma(-n, 1.90821492927058770002e-10, r), scale  # ln2 low part


@jit()
def expm1_kernel(r):
    """expm1(r) on |r| <= 0.347 as r + r^2 q(r), q of degree 9 (near-minimax)."""
    q = 2.5057615108952102e-08
    q = fma(q, r, 2.7626248078275490e-07)
    q = fma(q, r, 2.7557395048302514e-06)
    q = fma(q, r, 2.4801504641869780e-05)
    q = fma(q, r, 1.9841269733442788e-04)
    q = fma(q, r, 1.3888888932223138e-03)
    q = fma(q, r, 8.3333333333826600e-03)
    q = fma(q, r, 4.1666666666574030e-02)
    q = fma(q, r, 1.6666666666666600e-01)
    q = fma(q, r, 5.0000000000000060e-01)
    return fma(r * r, q, r)


@jit()
def exp_neg(x):
    """exp(x) for x <= 0; exp(-708) below -708; a NaN passes through."""
    r, scale = reduce(-708.0 if x < -708.0 else x)
    return fma(scale, expm1_kernel(r), scale)


@jit()
def reducef(x):
    magic = _f32(12583039.0)  # 1.5 * 2^23 + 127
    t = fma(x, _f32(1.44269504088896341), magic)
    n = t - magic
    scale = bits_to_float(float_to_bits(t) << 23)
    r = fma(-n, _f32(0.693359375), x)  # Cephes' split of ln2
    return fma(-n, _f32(-2.12194440e-4), r), scale


@jit()
def expm1_kernelf(r):
    q = _f32(1.9875691500e-4)  # Cephes expf minimax polynomial
    q = fma(q, r, _f32(1.3981999507e-3))
    q = fma(q, r, _f32(8.3334519073e-3))
    q = fma(q, r, _f32(4.1665795894e-2))
    q = fma(q, r, _f32(1.6666665459e-1))
    q = fma(q, r, _f32(5.0000001201e-1))
    return fma(r * r, q, r)


@jit()
def exp_negf(x):
    r, scale = reducef(_f32(-87.0) if x < _f32(-87.0) else x)
    return fma(scale, expm1_kernelf(r), scale)


@jit()
def tanh(x):
    """tanh(|x|) = m / (-2 - m), m = 2^n (1 + E) - 1, E = expm1(r) in Cephes' rational
    form -2M / (Q + M), one division for both; sign of x. See tl_tanh in the C header.

    |x| capped at 20 (tanh is +-1 there); a NaN passes through.
    """
    magic = 6755399441056767.0  # 1.5 * 2^52 + 1023
    a = abs(x)
    a = 20.0 if a > 20.0 else a
    t = fma(a, -2.8853900817779268, magic)  # -2 log2(e)
    n = t - magic
    s = bits_to_double(double_to_bits(t) << 52)
    h = fma(n, 3.4657359027997264e-01, a)  # ln2 / 2: h = -r / 2
    hh = h * h
    P1 = fma(0.0020188350891969693, hh, 0.12119776308297678)
    Q = fma(fma(fma(9.606352164437263e-05, hh, 0.02019586722797473), hh,
                  0.45453109641631007), hh, 1.0)  # fmt: skip
    M = fma(h * hh, P1, h)  # -r P(r^2) / 2
    num = fma(s - 1.0, Q, -fma(s, M, M))  # m (Q + M); s M is exact
    den = -fma(s, Q - M, Q + M)  # (-2 - m) (Q + M)
    return math.copysign(num / den, x)


@jit()
def tanhf(x):
    magic = _f32(12583039.0)  # 1.5 * 2^23 + 127
    a = abs(x)
    a = _f32(10.0) if a > _f32(10.0) else a
    t = fma(a, _f32(-2.88539008177792681), magic)
    n = t - magic
    scale = bits_to_float(float_to_bits(t) << 23)
    h = fma(n, _f32(0.346573590279972655), a)
    Q = _f32(-2.5440884754e-02)
    Q = fma(Q, h, _f32(8.9484795928e-02))
    Q = fma(Q, h, _f32(-2.6667046547e-01))
    Q = fma(Q, h, _f32(6.6665273905e-01))
    Q = fma(Q, h, _f32(-1.3333332539e+00))
    Q = fma(Q, h, _f32(2.0000000000e+00))
    p = fma(h * h, Q, -(h + h))
    m = fma(scale, p, scale - _f32(1.0))
    return math.copysign(m / (_f32(-2.0) - m), x)


@jit()
def log1p_unit(e):
    """log1p(e) for e in [0, 1] (fdlibm's log kernel)."""
    big = e > 0.41421356237309503
    f = (e - 1.0) * 0.5 if big else e
    ln2_hi = 6.93147180369123816490e-01 if big else 0.0  # k ln2, k = 1 or 0
    ln2_lo = 1.90821492927058770002e-10 if big else 0.0
    s = f / (2.0 + f)
    z = s * s
    R = 1.479819860511658591e-01
    R = fma(z, R, 1.531383769920937332e-01)
    R = fma(z, R, 1.818357216161805012e-01)
    R = fma(z, R, 2.222219843214978396e-01)
    R = fma(z, R, 2.857142874366239149e-01)
    R = fma(z, R, 3.999999999940941908e-01)
    R = fma(z, R, 6.666666666666735130e-01)
    R = z * R
    hfsq = 0.5 * f * f
    return ln2_hi + (f - (hfsq - fma(s, hfsq + R, ln2_lo)))


@jit()
def log1p_unitf(e):
    big = e > _f32(0.41421356237)
    f = (e - _f32(1.0)) * _f32(0.5) if big else e
    ln2_hi = _f32(0.693359375) if big else _f32(0.0)
    ln2_lo = _f32(-2.12194440e-4) if big else _f32(0.0)
    s = f / (_f32(2.0) + f)
    z = s * s
    R = _f32(0.24279078841)
    R = fma(z, R, _f32(0.28498786688))
    R = fma(z, R, _f32(0.40000972152))
    R = fma(z, R, _f32(0.66666662693))
    R = z * R
    hfsq = _f32(0.5) * f * f
    return ln2_hi + (f - (hfsq - fma(s, hfsq + R, ln2_lo)))


@jit()
def log_ge1(x):
    """log(x) for finite x >= 1: x = 2^k (1 + f), log x = k ln2 + log1p(f) (vectorises,
    where libm's log is a scalar call); a NaN or an infinity gives a NaN."""
    bits = double_to_bits(x)
    k = float((bits >> 52) - 1023)
    f = bits_to_double((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000) - 1.0
    lo = fma(k, 1.90821492927058770002e-10, log1p_unit(f))
    return fma(k, 6.93147180369123816490e-01, lo) + (x - x)  # k ln2_hi is exact


@jit()
def log_ge1f(x):
    bits = float_to_bits(x)
    k = _f32((bits >> 23) - 127)
    f = bits_to_float((bits & 0x007FFFFF) | 0x3F800000) - _f32(1.0)
    lo = fma(k, _f32(-2.12194440e-4), log1p_unitf(f))
    return fma(k, _f32(0.693359375), lo) + (x - x)


@jit()
def log_loss(z, y, e):
    """max(z, 0) - y z + log1p(e), e = exp(-|z|): binary cross-entropy, never log(0)."""
    return fma(-y, z, z if z > 0.0 else 0.0) + log1p_unit(e)


@jit()
def log_lossf(z, y, e):
    return fma(-y, z, z if z > _f32(0.0) else _f32(0.0)) + log1p_unitf(e)


@jit()
def sigmoid(z, e):
    """1/(1 + e) for z >= 0 and e/(1 + e) below, e = exp(-|z|): no overflow."""
    inv = 1.0 / (1.0 + e)
    return inv if z >= 0.0 else e * inv


@jit()
def sigmoidf(z, e):
    inv = _f32(1.0) / (_f32(1.0) + e)
    return inv if z >= _f32(0.0) else e * inv


# ---- the .pyx's per-point helpers
# Cython's ``if floating is double`` dispatch, resolved at compile time.


def _tanh(x):
    raise NotImplementedError("jitted code only")


def _exp_neg(x):
    raise NotImplementedError("jitted code only")


def _log1p_unit(e):
    raise NotImplementedError("jitted code only")


def _log_ge1(x):
    """log(x) for x >= 1 (a softmax's sum of exponentials)."""
    raise NotImplementedError("jitted code only")


def _log_loss(z, y, e):
    """Binary cross-entropy of sigmoid(z) against y, given e = exp(-|z|); never log(0)."""
    raise NotImplementedError("jitted code only")


def _sigmoid(z, e):
    """sigmoid(z) given e = exp(-|z|); no overflow on either side."""
    raise NotImplementedError("jitted code only")


def _pick(t, double, single):
    """The overload of a per-point helper for element type t: the double or the float
    routine's own Python function, so that Numba compiles that routine once per caller
    and not a wrapper around it as well (one library fewer each: a cold start's time)."""
    if t == types.float64:
        return double.py_func
    if t == types.float32:
        return single.py_func
    return None


@overload(_tanh)
def _tanh_fused(x):
    return _pick(x, tanh, tanhf)


@overload(_exp_neg)
def _exp_neg_fused(x):
    return _pick(x, exp_neg, exp_negf)


@overload(_log1p_unit)
def _log1p_unit_fused(e):
    return _pick(e, log1p_unit, log1p_unitf)


@overload(_log_ge1)
def _log_ge1_fused(x):
    return _pick(x, log_ge1, log_ge1f)


@overload(_log_loss)
def _log_loss_fused(z, y, e):
    return _pick(z, log_loss, log_lossf)


@overload(_sigmoid)
def _sigmoid_fused(z, e):
    return _pick(z, sigmoid, sigmoidf)


@jit()
def _loss_and_residual(z, y):
    """Binary cross-entropy from the logit z, and residual = sigmoid(z) - y.

    Returns (loss, residual).
    """
    e = _exp_neg(-abs(z))
    residual = _sigmoid(z, e) - y
    return _log_loss(z, y, e), residual


