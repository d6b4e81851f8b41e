"""Fused training kernels for a two-layer tanh/sigmoid network (Numba).

Mirrors ``src/twolayer/_cython_kernels.pyx`` (the kernels: same helper names,
same constants, same loops in the same order), ``src/twolayer/_tile_impl.h``
(the tile primitives, ``tl_combine_rows`` here is ``_combine_rows`` and so on)
and ``src/twolayer/_fastmath.h`` (the vectorisable tanh/exp/log1p:
``tl_exp_neg`` here is ``_tl_exp_neg``, with the same coefficients and the
same order of operations). Hold the files side by side; a change to one
belongs in the other. The design comment at the top of the Cython file
applies here unchanged; what differs is only how Numba spells it:

* Cython's fused ``floating`` type is two explicit signatures per entry point
  (float32 and float64, see ``_jit``). The per-point helpers ``_tanh``,
  ``_exp_neg``, ``_log1p_unit``, ``_log_loss`` and ``_sigmoid`` pick the double
  or the float routine by type at compile time, as ``if floating is double``
  does. Every literal in float32 code is a float32 (``_f32(...)``,
  ``dtype.type(0)``), because Numba, unlike C, would widen ``float32 op 1.0``
  to float64 and round twice.
* Pointers into the scratch buffer are slices and reshapes of one array per
  slot; X and Y keep their own strides (Numba arrays carry them), so the
  helpers take arrays where the Cython ones take a pointer and strides.
* C's ``restrict`` local array (``TL_T part[TL_TILE]``) is a stack array
  (``_tile_scratch``): LLVM knows nothing aliases it and keeps it in
  registers, as gcc does with the C. ``_lane_dot`` and ``_lane_sum`` are
  written as LLVM vector operations (the same multiplies and adds, lane by
  lane), because Numba runs LLVM without its SLP vectoriser.
* ``_loss_and_residual`` returns ``(loss, residual)`` and ``_tl_reduce``
  returns ``(r, scale)`` instead of writing through a pointer.
* Bit casts (``memcpy`` in the header) are ``builder.bitcast`` intrinsics, so
  the exp scaling vectorises as it does in C.
* Threads: ``prange`` over slots in ``_all_sums``; the number of threads is set
  by the Python wrappers (``numba.set_num_threads``), never queried in jitted
  code (that would make the functions uncacheable).

Rounding: no fast-math flags at all. A multiply-add is fused exactly where the
C says ``tl_fma`` (here ``_fma``): one FMA instruction when the CPU Numba compiles
for has FMA, as in the AVX2/AVX-512 builds, else a product and a sum, as in the
baseline build; nothing else fuses and nothing is reassociated. So Numba and the
build with the same FMA support agree bit for bit (tests/test_numba.py). LLVM's
own contraction (``fastmath={"contract"}``, used before) is not deterministic
across compiled copies of one function: Numba links each callee as a weak
symbol, the first copy loaded wins, and copies optimised in different contexts
fused different operations, so a process that compiled the kernels and one that
loaded them from the cache gave fits that differed in the last bits.

Compiled functions are cached (``cache=True``) next to this file, or, where
that directory is read-only, in Numba's user-wide cache directory; where
neither is writable they are compiled in every process.
"""

from __future__ import annotations

import math
import threading
import warnings

import numba
import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.core.errors import NumbaPerformanceWarning
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import populate_array

from ._fork import note_threads_started
from ._geometry import ALIGN as _ALIGN
from ._geometry import (
    BLOCK,
    FEATURE_CHUNK,
    LANES,
    SMALL_TILE,
    TILE,
    TILES_PER_BLOCK,
    n_blocks,
    work_size,
)

__all__ = ["BLOCK", "FEATURE_CHUNK", "LANES", "TILE", "TILES_PER_BLOCK"]

_f32 = np.float32


def _target_features() -> list[str]:
    """The features of the CPU Numba compiles for (NUMBA_CPU_FEATURES, else the host's)."""
    features = numba.config.CPU_FEATURES
    if features is None:
        if str(numba.config.CPU_NAME).lower() == "generic":
            return []
        features = llvm_binding.get_host_cpu_features().flatten()
    return features.split(",")


_FEATURES = _target_features()
_HAS_FMA = "+fma" in _FEATURES
# Vector register bytes, for the passes of _combine_more (C: TL_VECTOR_BYTES).
_VECTOR_BYTES = 64 if "+avx512f" in _FEATURES else 32 if "+avx" in _FEATURES else 16


def _jit(signature=None, parallel=False, inline=False):
    """Numba's njit as every kernel here uses it.

    ``signature`` maps an element type (float32 or float64) to a Numba
    signature: the entry points are compiled for exactly these two, as the
    fused Cython functions exist for both types, and for nothing else. Each
    is compiled (or loaded from the cache) on its first use with that dtype
    (see ``_compiled``), so that a float64 fit loads one function and not
    twelve. Helpers without a signature are compiled as part of their callers;
    ``inline=True`` (the tile helpers, C's ``static inline``) inlines them in
    Numba's IR, which LLVM's inliner does not do for functions this size: a
    call per tile row with array structs and reference counts cost 2.5x.
    ``error_model="numpy"``: a division is IEEE (no zero check that would
    block vectorisation). No fast-math flags: see the module docstring on
    rounding.
    """
    options = dict(cache=True, nogil=True, error_model="numpy", parallel=parallel)
    if inline:
        options["inline"] = "always"

    def decorate(func):
        try:
            dispatcher = numba.njit(**options)(func)
        except RuntimeError as error:  # "cannot cache function ...: no locator available"
            if "cannot cache" not in str(error):
                raise
            # Neither this package's directory nor a user cache directory is
            # writable: compile in every process rather than not at all.
            dispatcher = numba.njit(**dict(options, cache=False))(func)
        if signature is not None:
            _SIGNATURES[dispatcher] = signature
        return dispatcher

    return decorate


_SIGNATURES = {}
_READY = {}
_COMPILE_LOCK = threading.Lock()


def _compiled(dispatcher, dtype, threaded=None):
    """The compiled code of ``dispatcher``'s explicit signature for ``dtype``.

    Compiled (or loaded from the cache) on first use. ``threaded`` (entry points
    that take n_threads): False for the one-slot variant, whose n_threads is
    None and whose parallel region is pruned (no parallel code compiled, no
    threads launched: what a fit on one block of samples needs), True for the
    threaded one; their signature builders take (element type, type of
    n_threads). Calls go to that code
    directly rather than through the dispatcher: a C- or F-contiguous X then
    runs the 'A'-layout code without compiling (and caching) a specialisation
    of its own, and calls from other threads are safe while this one compiles
    the other dtype. (Through the dispatcher they were not: compilation must be
    enabled to compile, and while it is, a call with a C-contiguous X finds no
    exact match and takes the compile path, failing with "compilation disabled"
    once it is off again; tests/test_reliability.py starts every backend from
    four threads at once.)
    """
    key = (dispatcher, np.dtype(dtype), threaded)
    kernel = _READY.get(key)
    if kernel is None:
        with _COMPILE_LOCK:
            kernel = _READY.get(key)
            if kernel is None:
                build = _SIGNATURES[dispatcher]
                t = numba.from_dtype(dtype)
                if threaded is None:
                    signature = build(t)
                else:
                    signature = build(t, types.intp if threaded else types.none)
                dispatcher.disable_compile(False)
                try:
                    with warnings.catch_warnings():
                        # The one-slot variant: parallel=True with its parallel region
                        # pruned, which Numba reports as a missed transformation.
                        warnings.simplefilter("ignore", NumbaPerformanceWarning)
                        dispatcher.compile(signature)
                finally:
                    dispatcher.disable_compile(True)
                kernel = dispatcher.overloads[tuple(signature.args)].entry_point
                _READY[key] = kernel
    return kernel


def _matrix(t):
    """X or Y: 2-D, any strides, read-only (the wrappers pass read-only views)."""
    return types.Array(t, 2, "A", readonly=True)


def _vector(t):
    return types.Array(t, 1, "C")


# ================================================================ _fastmath.h


@intrinsic
def _double_to_bits(typingctx, x):
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_to_double(typingctx, i):
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if i.bitwidth < 64:
            value = builder.sext(value, ir.IntType(64))
        return builder.bitcast(value, ir.DoubleType())

    return types.float64(i), codegen


@intrinsic
def _float_to_bits(typingctx, x):
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _bits_to_float(typingctx, i):
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


def _fused(builder, a, b, c):
    """a * b + c: one llvm.fma where the target has FMA, else two roundings (C: tl_fma)."""
    if _HAS_FMA:
        kind = a.type
        suffix = kind.intrinsic_name if not isinstance(kind, ir.VectorType) else (
            f"v{kind.count}{kind.element.intrinsic_name}")  # fmt: skip
        signature = ir.FunctionType(kind, [kind] * 3)
        fma = cgutils.get_or_insert_function(builder.module, signature, f"llvm.fma.{suffix}")
        return builder.call(fma, [a, b, c])
    return builder.fadd(builder.fmul(a, b), c)


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c, fused where the CPU has FMA (C: tl_fma / tl_fmaf); all of one float type."""
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        return _fused(builder, *args)

    return a(a, b, c), codegen


@_jit()
def _tl_reduce(x):
    """Range reduction of exp (-708 <= x <= 0; the caller clamps; _tl_tanh reduces its own way).

    x = n ln2 + r with |r| <= ln2/2; returns (r, scale = 2^n), C returns r and
    writes scale through a pointer. magic leaves n + 1023 in the low bits of t.
    """
    magic = 6755399441056767.0  # 1.5 * 2^52 + 1023
    t = _fma(x, 1.4426950408889634, magic)  # log2(e)
    n = t - magic
    scale = _bits_to_double(_double_to_bits(t) << 52)
    r = _fma(-n, 6.93147180369123816490e-01, x)  # ln2 high part
    return _fma(-n, 1.90821492927058770002e-10, r), scale  # ln2 low part


@_jit()
def _tl_expm1_kernel(r):
    """expm1(r) on |r| <= 0.347 as r + r^2 q(r), q of degree 9 (near-minimax)."""
    q = 2.5057615108952102e-08
    q = _fma(q, r, 2.7626248078275490e-07)
    q = _fma(q, r, 2.7557395048302514e-06)
    q = _fma(q, r, 2.4801504641869780e-05)
    q = _fma(q, r, 1.9841269733442788e-04)
    q = _fma(q, r, 1.3888888932223138e-03)
    q = _fma(q, r, 8.3333333333826600e-03)
    q = _fma(q, r, 4.1666666666574030e-02)
    q = _fma(q, r, 1.6666666666666600e-01)
    q = _fma(q, r, 5.0000000000000060e-01)
    return _fma(r * r, q, r)


@_jit()
def _tl_exp_neg(x):
    """exp(x) for x <= 0; exp(-708) below -708; a NaN passes through."""
    r, scale = _tl_reduce(-708.0 if x < -708.0 else x)
    return _fma(scale, _tl_expm1_kernel(r), scale)


@_jit()
def _tl_reducef(x):
    magic = _f32(12583039.0)  # 1.5 * 2^23 + 127
    t = _fma(x, _f32(1.44269504088896341), magic)
    n = t - magic
    scale = _bits_to_float(_float_to_bits(t) << 23)
    r = _fma(-n, _f32(0.693359375), x)  # Cephes' split of ln2
    return _fma(-n, _f32(-2.12194440e-4), r), scale


@_jit()
def _tl_expm1_kernelf(r):
    q = _f32(1.9875691500e-4)  # Cephes expf minimax polynomial
    q = _fma(q, r, _f32(1.3981999507e-3))
    q = _fma(q, r, _f32(8.3334519073e-3))
    q = _fma(q, r, _f32(4.1665795894e-2))
    q = _fma(q, r, _f32(1.6666665459e-1))
    q = _fma(q, r, _f32(5.0000001201e-1))
    return _fma(r * r, q, r)


@_jit()
def _tl_exp_negf(x):
    r, scale = _tl_reducef(_f32(-87.0) if x < _f32(-87.0) else x)
    return _fma(scale, _tl_expm1_kernelf(r), scale)


@_jit()
def _tl_tanh(x):
    """tanh(|x|) = m / (-2 - m), m = 2^n (1 + E) - 1, E = expm1(r) in Cephes' rational
    form -2M / (Q + M), one division for both; sign of x. See tl_tanh in the C header.

    |x| capped at 20 (tanh is +-1 there); a NaN passes through.
    """
    magic = 6755399441056767.0  # 1.5 * 2^52 + 1023
    a = abs(x)
    a = 20.0 if a > 20.0 else a
    t = _fma(a, -2.8853900817779268, magic)  # -2 log2(e)
    n = t - magic
    s = _bits_to_double(_double_to_bits(t) << 52)
    h = _fma(n, 3.4657359027997264e-01, a)  # ln2 / 2: h = -r / 2
    hh = h * h
    P1 = _fma(0.0020188350891969693, hh, 0.12119776308297678)
    Q = _fma(_fma(_fma(9.606352164437263e-05, hh, 0.02019586722797473), hh,
                  0.45453109641631007), hh, 1.0)  # fmt: skip
    M = _fma(h * hh, P1, h)  # -r P(r^2) / 2
    num = _fma(s - 1.0, Q, -_fma(s, M, M))  # m (Q + M); s M is exact
    den = -_fma(s, Q - M, Q + M)  # (-2 - m) (Q + M)
    return math.copysign(num / den, x)


@_jit()
def _tl_tanhf(x):
    magic = _f32(12583039.0)  # 1.5 * 2^23 + 127
    a = abs(x)
    a = _f32(10.0) if a > _f32(10.0) else a
    t = _fma(a, _f32(-2.88539008177792681), magic)
    n = t - magic
    scale = _bits_to_float(_float_to_bits(t) << 23)
    h = _fma(n, _f32(0.346573590279972655), a)
    Q = _f32(-2.5440884754e-02)
    Q = _fma(Q, h, _f32(8.9484795928e-02))
    Q = _fma(Q, h, _f32(-2.6667046547e-01))
    Q = _fma(Q, h, _f32(6.6665273905e-01))
    Q = _fma(Q, h, _f32(-1.3333332539e+00))
    Q = _fma(Q, h, _f32(2.0000000000e+00))
    p = _fma(h * h, Q, -(h + h))
    m = _fma(scale, p, scale - _f32(1.0))
    return math.copysign(m / (_f32(-2.0) - m), x)


@_jit()
def _tl_log1p_unit(e):
    """log1p(e) for e in [0, 1] (fdlibm's log kernel)."""
    big = e > 0.41421356237309503
    f = (e - 1.0) * 0.5 if big else e
    ln2_hi = 6.93147180369123816490e-01 if big else 0.0  # k ln2, k = 1 or 0
    ln2_lo = 1.90821492927058770002e-10 if big else 0.0
    s = f / (2.0 + f)
    z = s * s
    R = 1.479819860511658591e-01
    R = _fma(z, R, 1.531383769920937332e-01)
    R = _fma(z, R, 1.818357216161805012e-01)
    R = _fma(z, R, 2.222219843214978396e-01)
    R = _fma(z, R, 2.857142874366239149e-01)
    R = _fma(z, R, 3.999999999940941908e-01)
    R = _fma(z, R, 6.666666666666735130e-01)
    R = z * R
    hfsq = 0.5 * f * f
    return ln2_hi + (f - (hfsq - _fma(s, hfsq + R, ln2_lo)))


@_jit()
def _tl_log1p_unitf(e):
    big = e > _f32(0.41421356237)
    f = (e - _f32(1.0)) * _f32(0.5) if big else e
    ln2_hi = _f32(0.693359375) if big else _f32(0.0)
    ln2_lo = _f32(-2.12194440e-4) if big else _f32(0.0)
    s = f / (_f32(2.0) + f)
    z = s * s
    R = _f32(0.24279078841)
    R = _fma(z, R, _f32(0.28498786688))
    R = _fma(z, R, _f32(0.40000972152))
    R = _fma(z, R, _f32(0.66666662693))
    R = z * R
    hfsq = _f32(0.5) * f * f
    return ln2_hi + (f - (hfsq - _fma(s, hfsq + R, ln2_lo)))


@_jit()
def _tl_log_ge1(x):
    """log(x) for finite x >= 1: x = 2^k (1 + f), log x = k ln2 + log1p(f) (vectorises,
    where libm's log is a scalar call); a NaN or an infinity gives a NaN."""
    bits = _double_to_bits(x)
    k = float((bits >> 52) - 1023)
    f = _bits_to_double((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000) - 1.0
    lo = _fma(k, 1.90821492927058770002e-10, _tl_log1p_unit(f))
    return _fma(k, 6.93147180369123816490e-01, lo) + (x - x)  # k ln2_hi is exact


@_jit()
def _tl_log_ge1f(x):
    bits = _float_to_bits(x)
    k = _f32((bits >> 23) - 127)
    f = _bits_to_float((bits & 0x007FFFFF) | 0x3F800000) - _f32(1.0)
    lo = _fma(k, _f32(-2.12194440e-4), _tl_log1p_unitf(f))
    return _fma(k, _f32(0.693359375), lo) + (x - x)


@_jit()
def _tl_log_loss(z, y, e):
    """max(z, 0) - y z + log1p(e), e = exp(-|z|): binary cross-entropy, never log(0)."""
    return _fma(-y, z, z if z > 0.0 else 0.0) + _tl_log1p_unit(e)


@_jit()
def _tl_log_lossf(z, y, e):
    return _fma(-y, z, z if z > _f32(0.0) else _f32(0.0)) + _tl_log1p_unitf(e)


@_jit()
def _tl_sigmoid(z, e):
    """1/(1 + e) for z >= 0 and e/(1 + e) below, e = exp(-|z|): no overflow."""
    inv = 1.0 / (1.0 + e)
    return inv if z >= 0.0 else e * inv


@_jit()
def _tl_sigmoidf(z, e):
    inv = _f32(1.0) / (_f32(1.0) + e)
    return inv if z >= _f32(0.0) else e * inv


# ================================================================ per-point helpers
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
    return _pick(x, _tl_tanh, _tl_tanhf)


@overload(_exp_neg)
def _exp_neg_fused(x):
    return _pick(x, _tl_exp_neg, _tl_exp_negf)


@overload(_log1p_unit)
def _log1p_unit_fused(e):
    return _pick(e, _tl_log1p_unit, _tl_log1p_unitf)


@overload(_log_ge1)
def _log_ge1_fused(x):
    return _pick(x, _tl_log_ge1, _tl_log_ge1f)


@overload(_log_loss)
def _log_loss_fused(z, y, e):
    return _pick(z, _tl_log_loss, _tl_log_lossf)


@overload(_sigmoid)
def _sigmoid_fused(z, e):
    return _pick(z, _tl_sigmoid, _tl_sigmoidf)


@_jit()
def _loss_and_residual(z, y):
    """Binary cross-entropy from the logit z, and residual = sigmoid(z) - y.

    Returns (loss, residual).
    """
    e = _exp_neg(-abs(z))
    residual = _sigmoid(z, e) - y
    return _log_loss(z, y, e), residual


# ================================================================ tile helpers
# _tile.h / _tile_impl.h. C says ``restrict`` and keeps a tile row in a local
# array; here the local array lives on the stack (``_tile_scratch``), which
# tells LLVM the same: nothing else aliases it.


@intrinsic
def _tile_scratch(typingctx, like):
    """A tile row of like's dtype on the stack (C: ``TL_T part[TL_W]``): as long as like's
    rows (TILE, or SMALL_TILE for a small tile), in TILE elements of stack."""
    if not isinstance(like, types.Array):
        return None
    result = types.Array(like.dtype, 1, "C")

    def codegen(context, builder, signature, args):
        item = context.get_data_type(result.dtype)
        itemsize = context.get_abi_sizeof(item)
        array = context.make_array(result)(context, builder)
        shape = context.make_array(like)(context, builder, args[0]).shape
        populate_array(
            array,
            data=cgutils.alloca_once(builder, item, size=TILE),
            shape=[cgutils.unpack_tuple(builder, shape)[like.ndim - 1]],
            strides=[context.get_constant(types.intp, itemsize)],
            itemsize=itemsize,
            meminfo=None,  # not reference counted: it lives in this function's frame
        )
        return array._getvalue()

    return result(like), codegen


@intrinsic
def _prefer_wide_vectors(typingctx):
    """Let LLVM's loop vectoriser use the target's widest vectors in the calling
    function (the attribute "prefer-vector-width" set to the vector register width).
    LLVM's tuning for Intel's AVX-512 server cores prefers 256 bits: the Python
    loops over a tile (tanh, exp, log1p) then ran in halves of the vectors the
    intrinsics here use, and the native build was 1.3-1.5x slower than the same
    code compiled for haswell (AVX2)."""

    def codegen(context, builder, signature, args):
        # llvmlite's attribute set knows no "key"="value" attributes: added as a set item.
        set.add(builder.function.attributes, f'"prefer-vector-width"="{_VECTOR_BYTES * 8}"')
        return context.get_dummy_value()

    return types.void(), codegen


def _rows(*arrays):
    """True when every argument is a 1-D C-contiguous array of one float dtype (a tile row)."""
    dtype = getattr(arrays[0], "dtype", None)
    return dtype in (types.float32, types.float64) and all(
        isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == dtype
        for a in arrays
    )


class _Vectors:
    """For the intrinsics below, which spell a loop over a tile row as LANES-wide
    vector operations (the same IEEE operations, element by element): the data
    pointers of the array arguments (``data[i]``), vector load, store, splat, and the
    loop over the row's width (``per_width``)."""

    def __init__(self, context, builder, signature, args):
        dtype = next(a.dtype for a in signature.args if isinstance(a, types.Array))
        first = next(i for i, a in enumerate(signature.args) if isinstance(a, types.Array))
        shape = context.make_array(signature.args[first])(context, builder, args[first]).shape
        self.width = cgutils.unpack_tuple(builder, shape)[0]
        self.builder = builder
        self.element = context.get_data_type(dtype)
        self.vector = ir.VectorType(self.element, LANES)
        self.align = context.get_abi_sizeof(self.element)
        self.data = [
            context.make_array(ty)(context, builder, value).data
            if isinstance(ty, types.Array)
            else None
            for ty, value in zip(signature.args, args, strict=True)
        ]

    def _address(self, pointer, offset):
        element = cgutils.gep(self.builder, pointer, offset)
        return self.builder.bitcast(element, self.vector.as_pointer())

    def load(self, pointer, offset):
        address = self._address(pointer, offset)
        return self.builder.load(address, align=self.align, typ=self.vector)

    def store(self, value, pointer, offset):
        self.builder.store(value, self._address(pointer, offset), align=self.align)

    def per_width(self, emit):
        """emit(width), the code for a row of that many samples, for the first array
        argument's width: TILE or SMALL_TILE, the only two (a branch that LLVM folds
        where the width is known, as in the block loop's tiles)."""
        full = self.builder.icmp_signed("==", self.width, ir.Constant(self.width.type, TILE))
        with self.builder.if_else(full) as (then, otherwise):
            with then:
                emit(TILE)
            with otherwise:
                emit(SMALL_TILE)

    def splat(self, scalar):
        if not isinstance(scalar, ir.Value):
            scalar = ir.Constant(self.element, scalar)
        value = ir.Constant(self.vector, ir.Undefined)
        for lane in range(LANES):
            value = self.builder.insert_element(value, scalar, ir.Constant(ir.IntType(32), lane))
        return value


@intrinsic
def _copy_tile(typingctx, src, dst):
    """dst[s] = src[s] for every sample s of the tile."""
    if not _rows(src, dst):
        return None

    def codegen(context, builder, signature, args):
        vec = _Vectors(context, builder, signature, args)

        def emit(width):
            for s in range(0, width, LANES):
                vec.store(vec.load(vec.data[0], s), vec.data[1], s)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(src, dst), codegen


@intrinsic
def _combine_more(typingctx, weights, stride, rows, n_rows, fresh, bias, out):
    """out[s] (+)= sum over r of weights[r * stride] * rows[r, s], r in order: from
    bias when fresh, else continuing the partial sums in out (a chunk of a wider
    product, rounded as one pass). rows is a (n_rows, W) tile, out one tile row of W
    samples (TILE, or SMALL_TILE for a small tile).

    Spelled as LANES-wide vector operations, the partial sums of a pass of samples in
    registers across the rows (an LLVM loop over r): the same multiply-adds, each
    sample's sum in row order. Passes of 8 vector registers of samples, as TL_PASS in
    _tile.h (AVX2 has 16 registers: a float64 tile in one pass would spill); they
    reorder samples only, never a sum. As Python loops over the tile, this was most
    of a cold start's lowering, and LLVM unrolled a small tile's 16 samples into scalar
    code before it could vectorise them (Numba runs no SLP vectoriser).
    """
    if not (_rows(weights, out) and isinstance(rows, types.Array) and rows.ndim == 2
            and rows.layout == "C" and rows.dtype == out.dtype == weights.dtype):  # fmt: skip
        return None

    def codegen(context, builder, signature, args):
        vec = _Vectors(context, builder, signature, args)
        w_data, _, rows_data, _, _, _, out_data = vec.data
        vec.width = cgutils.unpack_tuple(
            builder, context.make_array(out)(context, builder, args[6]).shape
        )[0]
        step = cgutils.unpack_tuple(
            builder, context.make_array(rows)(context, builder, args[2]).strides
        )[0]
        stride, n_rows, fresh, bias = args[1], args[3], args[4], args[5]
        one = context.get_constant(types.intp, 1)
        per_pass = max(LANES, 8 * _VECTOR_BYTES // context.get_abi_sizeof(vec.element))

        def emit(width):
            for first in range(0, width, per_pass):
                offsets = range(first, min(width, first + per_pass), LANES)
                w0 = vec.splat(builder.load(w_data))
                sums = [cgutils.alloca_once(builder, vec.vector) for k in offsets]
                for k, total in zip(offsets, sums, strict=True):
                    start = builder.select(fresh, vec.splat(bias), vec.load(out_data, k))
                    builder.store(_fused(builder, w0, vec.load(rows_data, k), start), total)
                with cgutils.for_range_slice(builder, one, n_rows, one) as (r, _):
                    at = cgutils.gep(builder, w_data, builder.mul(r, stride))
                    w = vec.splat(builder.load(at))
                    row = cgutils.pointer_add(builder, rows_data, builder.mul(r, step))
                    for k, total in zip(offsets, sums, strict=True):
                        value = _fused(builder, w, vec.load(row, k), builder.load(total))
                        builder.store(value, total)
                for k, total in zip(offsets, sums, strict=True):
                    vec.store(builder.load(total), out_data, k)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(weights, stride, rows, n_rows, fresh, bias, out), codegen


@_jit(inline=True)
def _combine_rows(weights, stride, rows, n_rows, bias, out):
    """out[s] = bias + sum over r of weights[r * stride] * rows[r, s]: the layer
    products W1 x + b1 (stride 1), W2 a + b2 (stride 1) and W2^T dy (stride hidden)."""
    _combine_more(weights, stride, rows, n_rows, True, bias, out)


@_jit(inline=True)
def _tanh_tile(row):
    """row[s] = tanh(row[s])"""
    for s in range(row.shape[0]):
        row[s] = _tanh(row[s])


@_jit(inline=True)
def _output_tile(row, y, loss, count):
    """Logits in row -> residuals sigmoid(z) - y in row and losses in loss; padding zeroed."""
    zero = row.dtype.type(0)
    W = row.shape[0]
    e = _tile_scratch(row)  # two passes, as in C: shorter chains of dependent operations
    for s in range(W):
        z = row[s]
        e[s] = _exp_neg(z if z < zero else -z)  # exp(-|z|)
    for s in range(W):
        z = row[s]
        loss[s] = _log_loss(z, y[s], e[s])
        row[s] = _sigmoid(z, e[s]) - y[s]
    for s in range(count, W):
        row[s] = zero
        loss[s] = zero


@intrinsic
def _tanh_backward_tile(typingctx, row, a):
    """row[s] *= 1 - a[s]^2: back through tanh, whose derivative is 1 - tanh^2."""
    if not _rows(row, a):
        return None

    def codegen(context, builder, signature, args):
        vec = _Vectors(context, builder, signature, args)
        row_data, a_data = vec.data
        one = vec.splat(1.0)

        def emit(width):
            for s in range(0, width, LANES):
                x = vec.load(a_data, s)
                value = builder.fmul(vec.load(row_data, s),
                                     _fused(builder, builder.fneg(x), x, one))  # fmt: skip
                vec.store(value, row_data, s)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(row, a), codegen


@intrinsic
def _lane_dot(typingctx, u, v, acc):
    """acc[l] += sum over the tile of u[s] v[s], for s % LANES == l.

    As in C: lane = acc; for each group of LANES samples, lane = fma(u, v, lane);
    acc = lane. Written as
    LANES-wide vector operations because Numba leaves LLVM's SLP vectoriser
    off, and the unrolled scalar loop is 8x the instructions.
    """
    if not _rows(u, v, acc):
        return None

    def codegen(context, builder, signature, args):
        vec = _Vectors(context, builder, signature, args)
        u_data, v_data, acc_data = vec.data

        def emit(width):
            lane = vec.load(acc_data, 0)
            for s in range(0, width, LANES):
                lane = _fused(builder, vec.load(u_data, s), vec.load(v_data, s), lane)
            vec.store(lane, acc_data, 0)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(u, v, acc), codegen


@intrinsic
def _lane_sum(typingctx, u, acc):
    """acc[l] += sum over the tile of u[s], for s % LANES == l (vector form as _lane_dot)."""
    if not _rows(u, acc):
        return None

    def codegen(context, builder, signature, args):
        vec = _Vectors(context, builder, signature, args)
        u_data, acc_data = vec.data

        def emit(width):
            lane = vec.load(acc_data, 0)
            for s in range(0, width, LANES):
                lane = builder.fadd(lane, vec.load(u_data, s))
            vec.store(lane, acc_data, 0)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(u, acc), codegen


# ---- fused per-tile steps (_tile_impl.h): one call per hidden unit or output.


@_jit(inline=True)
def _hidden_forward(w, xt, n_features, bias, out):
    """One hidden unit over a tile: out[s] = tanh(bias + sum_k w[k] xt[k, s])."""
    z = _tile_scratch(out)
    _combine_rows(w, 1, xt, n_features, bias, z)
    for s in range(out.shape[0]):
        out[s] = _tanh(z[s])


@_jit(inline=True)
def _scale_tile(row, w):
    """row[s] *= w[s]: a weighted sample's residual or loss (weighted fits only)."""
    for s in range(row.shape[0]):
        row[s] *= w[s]


@_jit(inline=True)
def _output_unit(w, a1, hidden, bias, y, count, wt, weighted, dy_out, acc_cost, acc_b2, acc_W2):
    """One sigmoid output over a tile: residuals into dy_out; cost, b2 and W2-row sums
    (residuals and losses times the weights wt when weighted; C: wt not NULL).

    acc_W2 is the (hidden, LANES) block of lane sums of this output's W2 row.
    """
    loss = _tile_scratch(dy_out)
    _combine_rows(w, 1, a1, hidden, bias, dy_out)
    _output_tile(dy_out, y, loss, count)
    if weighted:
        _scale_tile(dy_out, wt)
        _scale_tile(loss, wt)
    _lane_sum(loss, acc_cost)
    _lane_sum(dy_out, acc_b2)
    for j in range(hidden):
        _lane_dot(dy_out, a1[j], acc_W2[j])


@_jit(inline=True)
def _softmax_tile(z, y, n_outputs, loss, count):
    """One softmax over the n_outputs rows of z (logits in, residuals out) per sample:
    m = max z, d_i = m - z_i, L = log(sum exp(-d_i)); loss = sum_i y_i (L + d_i),
    z_i = exp(-d_i) / sum - y_i; padding (s >= count) zeroed. See tl_softmax_tile."""
    zero = z.dtype.type(0)
    m = _tile_scratch(loss)
    total = _tile_scratch(loss)
    L = _tile_scratch(loss)
    for s in range(TILE):
        m[s] = z[0, s]
    for i in range(1, n_outputs):
        for s in range(TILE):
            v = z[i, s]
            m[s] = v if v > m[s] else m[s]
    for s in range(TILE):
        total[s] = zero
    for i in range(n_outputs):
        for s in range(TILE):
            total[s] += _exp_neg(z[i, s] - m[s])
    for s in range(TILE):
        L[s] = _log_ge1(total[s])
        loss[s] = zero
    for i in range(n_outputs):
        for s in range(TILE):
            d = m[s] - z[i, s]
            yi = y[i, s]
            loss[s] = _fma(yi, L[s] + d, loss[s])
            z[i, s] = _exp_neg(-d) / total[s] - yi
    for s in range(count, TILE):
        loss[s] = zero
        for i in range(n_outputs):
            z[i, s] = zero


@_jit()
def _softmax_outputs(W2, b2, a1, hidden, n_outputs, y, count, wt, weighted, dy, acc_cost,
                     acc_b2, acc_W2):  # fmt: skip
    """The softmax output layer over a tile: logits into dy, then residuals and loss
    (times the weights when weighted) and their sums: cost, b2 and W2 (rows of
    (hidden, LANES) blocks). Out of line, as tl_softmax_outputs. Full tiles only."""
    _prefer_wide_vectors()
    a1 = _full(a1)
    y = _full(y)
    wt = _full(wt)
    dy = _full(dy)
    loss = _tile_scratch(wt)
    for i in range(n_outputs):
        _combine_rows(W2[i * hidden :], 1, a1, hidden, b2[i], dy[i])
    _softmax_tile(dy, y, n_outputs, loss, count)
    if weighted:
        _scale_tile(loss, wt)
        for i in range(n_outputs):
            _scale_tile(dy[i], wt)
    _lane_sum(loss, acc_cost)
    for i in range(n_outputs):
        _lane_sum(dy[i], acc_b2[i])
        for j in range(hidden):
            _lane_dot(dy[i], a1[j], acc_W2[i * hidden + j])


@_jit(inline=True)
def _hidden_delta(w2_column, stride, dy, n_outputs, a, dz, acc_b1):
    """One hidden unit back through tanh: dz = (W2^T dy)(1 - a^2), and its b1 sums.

    C takes a one-output shortcut here (same rounding); in Numba a branch
    around these loops measured 25% slower on the tutorial's run, so not here.
    """
    _combine_rows(w2_column, stride, dy, n_outputs, a.dtype.type(0), dz)
    _tanh_backward_tile(dz, a)
    _lane_sum(dz, acc_b1)


@_jit(inline=True)
def _delta_dots(dz, rows, n_rows, acc):
    """acc[k] += lane sums of dz rows[k], k < n_rows: a W1 row's sums, or a chunk of them."""
    for k in range(n_rows):
        _lane_dot(dz, rows[k], acc[k])


@_jit(inline=True)
def _hidden_backward(w2_column, stride, dy, n_outputs, a, xt, n_features, acc_b1, acc_W1):
    """One hidden unit back over a tile: dz and its sums, b1 and the W1 row's.

    acc_W1 is the (n_features, LANES) block of lane sums of this unit's W1 row.
    """
    dz = _tile_scratch(a)
    _hidden_delta(w2_column, stride, dy, n_outputs, a, dz, acc_b1)
    _delta_dots(dz, xt, n_features, acc_W1)


def _fixed_width(width):
    """An intrinsic: view(tile), the C-contiguous tile (or tile row) ``tile`` of ``width``
    samples, with that width a constant of the code. The helpers take a tile's width from
    its shape, and LLVM does not see through reshape (nor through an argument of an
    out-of-line helper): with this, their loops have constant trip counts and unroll."""

    @intrinsic
    def view(typingctx, tile):
        if not (isinstance(tile, types.Array) and tile.layout == "C"):
            return None

        def codegen(context, builder, signature, args):
            source = context.make_array(tile)(context, builder, args[0])
            result = context.make_array(tile)(context, builder)
            shape = cgutils.unpack_tuple(builder, source.shape)
            shape[-1] = context.get_constant(types.intp, width)
            populate_array(
                result,
                data=source.data,
                shape=shape,
                strides=cgutils.unpack_tuple(builder, source.strides),
                itemsize=source.itemsize,
                meminfo=source.meminfo,
                parent=source.parent,
            )
            return impl_ret_borrowed(context, builder, tile, result._getvalue())

        return tile(tile), codegen

    return view


_full = _fixed_width(TILE)  # full tiles (the out-of-line helpers get no others)


def _row_start(context, builder, A, value, r, start):
    """Address of A[r, start] for the intrinsics below (A: the array's Numba type)."""
    source = context.make_array(A)(context, builder, value)
    itemsize = context.get_abi_sizeof(context.get_data_type(A.dtype))
    row_stride = cgutils.unpack_tuple(builder, source.strides)[0]
    offset = builder.add(
        builder.mul(r, row_stride),
        builder.mul(start, context.get_constant(types.intp, itemsize)),
    )
    return cgutils.pointer_add(builder, source.data, offset)


@intrinsic
def _memcpy_row(typingctx, A, r, start, count, out):
    """out[:count] = A[r, start:start + count] when A's rows are contiguous (C's memcpy)."""
    if not (isinstance(A, types.Array) and A.ndim == 2 and _rows(out) and out.dtype == A.dtype):
        return None

    def codegen(context, builder, signature, args):
        first = _row_start(context, builder, A, args[0], args[1], args[2])
        target = context.make_array(signature.args[4])(context, builder, args[4])
        itemsize = context.get_abi_sizeof(context.get_data_type(A.dtype))
        cgutils.raw_memcpy(builder, target.data, first, args[3], itemsize)
        return context.get_dummy_value()

    return types.void(A, r, start, count, out), codegen


@intrinsic
def _copy_full_row(typingctx, A, r, start, out):
    """out[s] = A[r, start + s] for the TILE samples of a full tile, A's rows contiguous.

    C's memcpy of a constant size, which gcc inlines as vector moves; LLVM left
    a call to memcpy, so the moves are spelled out here.
    """
    if not (isinstance(A, types.Array) and A.ndim == 2 and _rows(out) and out.dtype == A.dtype):
        return None

    def codegen(context, builder, signature, args):
        vec = _Vectors(context, builder, signature, args)
        first = _row_start(context, builder, A, args[0], args[1], args[2])
        first = builder.bitcast(first, vec.element.as_pointer())
        for s in range(0, TILE, LANES):
            vec.store(vec.load(first, s), vec.data[3], s)
        return context.get_dummy_value()

    return types.void(A, r, start, out), codegen


@_jit()
def _gather_at(A, order, start, count, out):
    """Copy the columns order[start:start + count] of A into the contiguous tile out
    (rows x W), zero-padded: a shuffled batch, gathered tile by tile (C:
    _gather_tile with idx not NULL; out of line here, and compiled only for epochs)."""
    zero = out.dtype.type(0)
    if A.strides[0] < A.strides[1]:
        # A sample's values are close together: visit them sample by sample.
        for s in range(count):
            c = order[start + s]
            for r in range(A.shape[0]):
                out[r, s] = A[r, c]
    else:
        for r in range(A.shape[0]):
            for s in range(count):
                out[r, s] = A[r, order[start + s]]
    for r in range(A.shape[0]):
        for s in range(count, out.shape[1]):
            out[r, s] = zero


@_jit(inline=True)
def _gather_tile(A, start, count, out):
    """Copy columns [start, start + count) of A into the contiguous tile out (rows x W,
    W = TILE or SMALL_TILE), zero-padded.

    Reading through A's strides lets X stay in the caller's layout (C, Fortran
    or any view) with no full copy; the tile is small and stays in cache.
    """
    zero = out.dtype.type(0)
    contiguous = A.strides[1] == A.itemsize
    for r in range(A.shape[0]):
        if contiguous and count == TILE:
            _copy_full_row(A, r, start, out[r])
            continue
        if contiguous:
            _memcpy_row(A, r, start, count, out[r])
        else:
            row = A[r, start : start + count]
            for s in range(count):
                out[r, s] = row[s]
        for s in range(count, out.shape[1]):
            out[r, s] = zero


@_jit()
def _wide_forward(W1, b1, xt, n_features, hidden, a1):
    """The hidden layer forward for wide inputs, feature rows chunk by chunk
    (C: tl_wide_forward, out of line there too). Full tiles only (see _full)."""
    _prefer_wide_vectors()
    xt = _full(xt)
    a1 = _full(a1)
    for chunk in range((n_features + FEATURE_CHUNK - 1) // FEATURE_CHUNK):
        k = chunk * FEATURE_CHUNK
        rows = min(FEATURE_CHUNK, n_features - k)
        for j in range(hidden):
            _combine_more(W1[j * n_features + k :], 1, xt[k:], rows, k == 0, b1[j], a1[j])
    for j in range(hidden):
        _tanh_tile(a1[j])


@_jit()
def _wide_backward(W2, dy, n_outputs, a1, xt, n_features, hidden, dz, acc_b1, acc_W1):
    """The hidden layer backward for wide inputs: every unit's dz and b1 sums, then
    the W1 sums chunk by chunk of feature rows (C: tl_wide_backward). Full tiles only."""
    _prefer_wide_vectors()
    dy = _full(dy)
    a1 = _full(a1)
    xt = _full(xt)
    dz = _full(dz)
    for j in range(hidden):
        _hidden_delta(W2[j:], hidden, dy, n_outputs, a1[j], dz[j], acc_b1[j])
    for chunk in range((n_features + FEATURE_CHUNK - 1) // FEATURE_CHUNK):
        k = chunk * FEATURE_CHUNK
        rows = min(FEATURE_CHUNK, n_features - k)
        for j in range(hidden):
            _delta_dots(dz[j], xt[k:], rows, acc_W1[j * n_features + k : (j + 1) * n_features])


@_jit(inline=True)
def _tile_views(work, f, o, h, small):
    """A slot's tiles of X, Y, hidden activations, residuals, hidden deltas and weights,
    each rows x W at its place in the scratch (regions of TILE columns): W = TILE, or
    SMALL_TILE when small (the first rows x SMALL_TILE of each region, as in C)."""
    width = SMALL_TILE if small else TILE
    p = 0
    xt = work[p : p + f * width].reshape((f, width))
    p += f * TILE
    yt = work[p : p + o * width].reshape((o, width))
    p += o * TILE
    a1 = work[p : p + h * width].reshape((h, width))
    p += h * TILE
    dy = work[p : p + o * width].reshape((o, width))
    p += o * TILE
    dz = work[p : p + h * width].reshape((h, width))  # the wide-input path's
    p += h * TILE
    wt = work[p : p + width]  # the tile's sample weights (weighted only)
    if small:
        # The width stays a run-time value here: LLVM would unroll loops of 16 constant
        # trips before vectorising them, and Numba has no SLP vectoriser to make vectors
        # of the unrolled code again (the small tile's tanh, exp and log1p ran scalar,
        # slower than a full tile). The intrinsics branch on the width.
        return xt, yt, a1, dy, dz, wt
    return _full(xt), _full(yt), _full(a1), _full(dy), _full(dz), _full(wt)


@_jit(inline=True)
def _tile_sums(W1, b1, W2, b2, xt, yt, wt, f, h, o, count, one_softmax, weighted, a1, dy, dz,
               g_W1, g_b1, g_W2, g_b2, g_cost):  # fmt: skip
    """One tile's whole step: forward, output layer, backward, their sums added to the
    lane sums (C: tl_tile_sums). Samples s >= count are padding."""
    # Forward, hidden layer: a1 = tanh(W1 x + b1), vectorised over the tile.
    # Wide inputs go a chunk of feature rows at a time for every hidden unit.
    if f > FEATURE_CHUNK:
        _wide_forward(W1, b1, xt, f, h, a1)
    else:
        for j in range(h):
            _hidden_forward(W1[j * f :], xt, f, b1[j], a1[j])

    # Output layer: residuals dy = p - y (times the weights), loss and their sums;
    # p = sigmoid(W2 a1 + b2) per output, or one softmax over the outputs.
    if one_softmax:
        _softmax_outputs(W2, b2, a1, h, o, yt, count, wt, weighted, dy, g_cost, g_b2, g_W2)
    else:
        for i in range(o):
            _output_unit(W2[i * h :], a1, h, b2[i], yt[i], count, wt, weighted, dy[i],
                         g_cost, g_b2[i], g_W2[i * h : i * h + h])  # fmt: skip

    # Backward, hidden layer: dz = (W2^T dy) * (1 - a1^2) and its sums.
    if f > FEATURE_CHUNK:
        _wide_backward(W2, dy, o, a1, xt, f, h, dz, g_b1, g_W1)
    else:
        for j in range(h):
            _hidden_backward(W2[j:], h, dy, o, a1[j], xt, f,
                             g_b1[j], g_W1[j * f : j * f + f])  # fmt: skip


@_jit()
def _block_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, out):
    """Gradient sums and cost sum of the samples at positions [start, stop) into out
    (n_params + 1).

    Position p is sample order[p] (p when order is empty; C: NULL); weighted sums
    when sw is not empty; softmax: 0 sigmoid outputs, 1 one softmax. Without
    order, weights and softmax this is train_chunk's pass, bit for bit.
    work: this slot's scratch, work_size() elements (twolayer._geometry), its lane
    sums zero on entry (as _scratch makes them) and left zero.

    train_chunk passes None for order, sw and softmax: Numba then prunes their
    branches when it compiles, so a default fit does not compile the epochs'
    code (it added 6 s to a cold start). Epochs pass arrays (maybe empty) and
    an int, one compiled version for every option.
    """
    _prefer_wide_vectors()
    f = X.shape[0]
    h = hidden
    o = Y.shape[0]
    n_params = h * f + h + o * h + o
    W1 = theta[: h * f]
    b1 = theta[h * f : h * f + h]
    W2 = theta[h * f + h : h * f + h + o * h]
    b2 = theta[h * f + h + o * h : n_params]
    # Scratch: tiles of X, Y, hidden activations, residuals, hidden deltas, weights, then
    # the lane sums. A small tile uses the first rows x SMALL_TILE of each (as in C).
    xt, yt, a1, dy, dz, wt = _tile_views(work, f, o, h, False)
    if softmax is not None:  # epochs only (see below)
        xs, ys, a1s, dys, dzs, ws = _tile_views(work, f, o, h, True)
    p = (f + o + h + o + h + 1) * TILE
    acc = work[p : p + (n_params + 1) * LANES].reshape((n_params + 1, LANES))
    g_W1 = acc[: h * f]
    g_b1 = acc[h * f : h * f + h]
    g_W2 = acc[h * f + h : h * f + h + o * h]
    g_b2 = acc[h * f + h + o * h : n_params]
    g_cost = acc[n_params]
    # Statements, not expressions: Numba prunes an `if x is None` branch, not a
    # conditional expression, and a pruned branch is never typed (so never compiled).
    if sw is None:  # noqa: SIM108
        weighted = False
    else:
        weighted = sw.shape[0] > 0
    if order is None:  # noqa: SIM108
        ordered = False
    else:
        ordered = order.shape[0] > 0
    if softmax is None:  # noqa: SIM108
        one_softmax = False
    else:
        one_softmax = softmax != 0
    # Small tiles for the last few samples (at most TILE - SMALL_TILE): the same sums,
    # less padding (see _tile.h). As in C, not with several sigmoid outputs (another
    # order of the cost's sum); here not for softmax or wide inputs either, whose
    # out-of-line helpers take full tiles only (the sums are the same bits either way).
    last_full = 0
    if o == 1 and f <= FEATURE_CHUNK and not one_softmax:
        last_full = TILE - SMALL_TILE

    t0 = start
    while t0 < stop:
        count = stop - t0
        x_tile, y_tile, w_tile = xt, yt, wt
        small = False
        # Small tiles in epochs only: train_chunk keeps full tiles, and so compiles one
        # copy of the tile's step (every test of small below sits under this one, which
        # Numba prunes before inlining anything: a cold start's time).
        if softmax is not None:
            small = count <= last_full
            if small:
                x_tile, y_tile, w_tile = xs, ys, ws
        count = min(SMALL_TILE if small else TILE, count)
        if ordered:
            _gather_at(X, order, t0, count, x_tile)
            _gather_at(Y, order, t0, count, y_tile)
        else:
            _gather_tile(X, t0, count, x_tile)
            _gather_tile(Y, t0, count, y_tile)
        if sw is not None:  # noqa: SIM102 (pruned when None, see above)
            if weighted:
                sw_row = sw.reshape((1, sw.shape[0]))
                w_row = w_tile.reshape((1, w_tile.shape[0]))
                if ordered:
                    _gather_at(sw_row, order, t0, count, w_row)
                else:
                    _gather_tile(sw_row, t0, count, w_row)
        # A copy of the tile's step per width, each compiled for its own (see _tile_views).
        if softmax is None:  # apart from the last branch: pruned first, see above
            _tile_sums(W1, b1, W2, b2, xt, yt, wt, f, h, o, count, one_softmax, weighted, a1,
                       dy, dz, g_W1, g_b1, g_W2, g_b2, g_cost)  # fmt: skip
        elif small:
            _tile_sums(W1, b1, W2, b2, xs, ys, ws, f, h, o, count, one_softmax, weighted, a1s,
                       dys, dzs, g_W1, g_b1, g_W2, g_b2, g_cost)  # fmt: skip
        else:
            _tile_sums(W1, b1, W2, b2, xt, yt, wt, f, h, o, count, one_softmax, weighted, a1,
                       dy, dz, g_W1, g_b1, g_W2, g_b2, g_cost)  # fmt: skip
        t0 += count

    # Lanes to scalars, in a fixed order; each lane sum is cleared as it is read, so
    # that the next block finds them zero (see _scratch) without a pass of its own
    # over (n_params + 1) x LANES values (90 kB for the bench's layout) per block.
    zero = theta.dtype.type(0)
    for i in range(n_params + 1):
        total = zero
        for l in range(LANES):
            total += acc[i, l]
            acc[i, l] = zero
        out[i] = total


@_jit(inline=True)
def _aligned_empty(count, like):
    """An uninitialised 1-d array whose data starts on a 64-byte boundary (as in Cython)."""
    itemsize = like.itemsize
    raw = np.empty(count + 64 // itemsize, dtype=like.dtype)
    skip = (-raw.ctypes.data % 64) // itemsize
    return raw[skip : skip + count]


@_jit(inline=True)
def _serial_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, partials):
    """_all_sums on one slot: every block in turn on work[0]."""
    for b in range((stop - start + BLOCK - 1) // BLOCK):
        _block_sums(X, Y, order, sw, softmax, theta, hidden, start + b * BLOCK,
                    min(stop, start + (b + 1) * BLOCK), work[0], partials[b])  # fmt: skip


@_jit(parallel=True)
def _all_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, partials, threads):
    """Gradient and cost sums of every block of positions [start, stop) into its row of
    ``partials`` (see _block_sums for order, sw and softmax).

    Blocks are counted from start. Slot q handles blocks q, q + n_slots, ...;
    each slot has its own scratch (row q of work). Which thread runs which
    block does not matter: every block's sums land in that block's row.
    threads None: the one-slot variant of an entry point (see _compiled), whose
    parallel region Numba prunes before compiling it, so that a fit on one
    block compiles no parallel code and launches no threads.
    """
    n_blocks = (stop - start + BLOCK - 1) // BLOCK
    n_slots = work.shape[0]
    if threads is None:  # noqa: SIM114 (apart: Numba prunes `x is None` alone, see _block_sums)
        _serial_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, partials)
    elif n_slots <= 1 or n_blocks <= 1:
        _serial_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, partials)
    else:
        for q in prange(n_slots):
            # Cython: b = q; while b < n_blocks: ...; b = b + n_slots
            for b in range(q, n_blocks, n_slots):
                _block_sums(X, Y, order, sw, softmax, theta, hidden, start + b * BLOCK,
                            min(stop, start + (b + 1) * BLOCK), work[q],
                            partials[b])  # fmt: skip


@_jit(inline=True)
def _reduce_blocks(partials, n_blocks, out):
    """out[i] = sum over the first n_blocks blocks of partials[b, i], blocks in order."""
    width = partials.shape[1]
    for i in range(width):
        out[i] = partials[0, i]
    for b in range(1, n_blocks):
        for i in range(width):
            out[i] += partials[b, i]


@_jit(inline=True)
def _copy(src, dst):
    """dst[i] = src[i] for every i of dst: a loop, where ``dst[:] = src`` compiles
    NumPy's broadcasting and its shape-mismatch message (4 s of a cold start)."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@_jit(inline=True)
def _n_slots(n, n_threads):
    return max(1, min(n_threads, (n + BLOCK - 1) // BLOCK))


@_jit(inline=True)
def _scratch(f, hidden, o, n, n_threads, size, like):
    """Scratch of the loops: (work, partials), tile scratch per slot (size elements,
    twolayer._geometry.work_size, computed by the Python wrapper) and a row per block.
    n_threads: a count (an entry point turns its None, the one-slot variant, into 1)."""
    n_params = hidden * f + hidden + o * hidden + o
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_slots = _n_slots(n, n_threads)
    work = _aligned_empty(n_slots * size, like)
    # Zeros: _block_sums expects its lane sums zero, and leaves them so.
    for i in range(work.shape[0]):
        work[i] = 0
    partials = np.empty((n_blocks, n_params + 1), dtype=like.dtype)
    return work.reshape((n_slots, size)), partials


@_jit(inline=True)
def _sums(X, Y, theta, hidden, work, partials, threads, out):
    """Gradient sums, then the cost sum, of all samples into out (no order, no weights,
    sigmoid outputs: None, see _block_sums)."""
    _all_sums(X, Y, None, None, None, theta, hidden, 0, X.shape[1], work, partials, threads)
    _reduce_blocks(partials, partials.shape[0], out)


def _threaded(t: types.Type, threads: types.Type, *args: types.Type) -> list[types.Type]:
    """An entry point's arguments: args, then n_threads (None in the one-slot variant), then
    the scratch size (see _compiled)."""
    return [*args, threads, types.intp]


@_jit(lambda t, threads: t(*_threaded(t, threads, _matrix(t), _matrix(t), _vector(t),
                                      _vector(t))))  # fmt: skip
def _gradient_sums(X, Y, theta, grad, n_threads, work_elements):
    o = Y.shape[0]
    f = X.shape[0]
    n_params = theta.shape[0]
    hidden = (n_params - o) // (f + 1 + o)
    if n_threads is None:  # noqa: SIM108 (statements: Numba prunes them, see _block_sums)
        slots = 1
    else:
        slots = n_threads
    work, partials = _scratch(f, hidden, o, X.shape[1], slots, work_elements, theta)
    sums = np.empty(n_params + 1, dtype=theta.dtype)
    _sums(X, Y, theta, hidden, work, partials, n_threads, sums)
    _copy(sums, grad)
    return sums[n_params]


@_jit(
    lambda t, threads: types.intp(
        *_threaded(t, threads, _matrix(t), _matrix(t), _vector(t), types.float64, _vector(t))
    )
)
def _train_chunk(X, Y, theta, learning_rate, costs, n_threads, work_elements):
    o = Y.shape[0]
    f = X.shape[0]
    n = X.shape[1]
    n_params = theta.shape[0]
    hidden = (n_params - o) // (f + 1 + o)
    if n_threads is None:  # noqa: SIM108 (statements: Numba prunes them, see _block_sums)
        slots = 1
    else:
        slots = n_threads
    # Scratch is allocated here, by the caller of the loops.
    work, partials = _scratch(f, hidden, o, n, slots, work_elements, theta)
    sums = np.empty(n_params + 1, dtype=theta.dtype)
    candidate = np.empty(n_params, dtype=theta.dtype)
    lr = theta.dtype.type(learning_rate)
    inv_m = theta.dtype.type(1) / theta.dtype.type(n)
    completed = costs.shape[0]
    for it in range(costs.shape[0]):
        _sums(X, Y, theta, hidden, work, partials, n_threads, sums)
        costs[it] = sums[n_params] / theta.dtype.type(n)
        finite = np.isfinite(costs[it])
        # The tutorial's update, P - lr * ((1 / m) * dP_sum), into a candidate
        # so that a non-finite step never reaches theta.
        for i in range(n_params):
            candidate[i] = theta[i] - lr * (inv_m * sums[i])
            finite = finite & np.isfinite(candidate[i])
        if not finite:
            completed = it
            break
        _copy(candidate, theta)
    return completed


# ================================================================ Python entry points


def _read_only(a):
    """A read-only view: one compiled signature per dtype serves every caller."""
    view = a.view()
    view.flags.writeable = False
    return view


def _work_elements(X, Y, theta):
    """One slot's scratch size (twolayer._geometry.work_size) for this layout."""
    f, o = X.shape[0], Y.shape[0]
    hidden = (theta.shape[0] - o) // (f + 1 + o)
    return work_size(f, hidden, o)


def _use_threads(n_threads, n):
    """n_threads for an entry point that spreads n samples (or positions) over blocks:
    None (its one-slot variant, see _compiled) when they make one slot, else the count.

    Only the threaded variant launches Numba's threading layer, which a parallel
    kernel loaded from the cache needs and does not launch itself (numba issue
    8578: gradient_sums(..., n_threads=1) as a process's first call segfaulted
    when the one-slot call ran the parallel code). A launched layer is what a
    forked child must not use (twolayer._fork).
    """
    if _n_slots_py(n, n_threads) <= 1:
        return None
    note_threads_started()
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    return n_threads


def _n_slots_py(n, n_threads):
    """_n_slots, from Python."""
    return max(1, min(n_threads, n_blocks(n)))


def gradient_sums(X, Y, theta, grad, n_threads):
    """Write the gradient of the summed cost into ``grad``; return the summed cost."""
    threads = _use_threads(n_threads, X.shape[1])
    kernel = _compiled(_gradient_sums, theta.dtype, threads is not None)
    size = _work_elements(X, Y, theta)
    return float(kernel(_read_only(X), _read_only(Y), theta, grad, threads, size))


def train_chunk(X, Y, theta, learning_rate, costs, n_threads):
    """Run ``len(costs)`` iterations of gradient descent, updating ``theta`` in place.

    Returns the number of iterations completed; a smaller number j means
    iteration j gave a non-finite cost or update, ``costs[j]`` holds that
    cost and ``theta`` keeps the last finite parameters.
    """
    threads = _use_threads(n_threads, X.shape[1])
    kernel = _compiled(_train_chunk, theta.dtype, threads is not None)
    size = _work_elements(X, Y, theta)
    return int(
        kernel(_read_only(X), _read_only(Y), theta, float(learning_rate), costs, threads, size)
    )


# ================================================================ prediction
# The forward pass alone (_cython_kernels.pyx "prediction", _tile_impl.h
# tl_any_nonfinite, tl_sigmoid_tile, tl_forward_tile): same helper names.

# forward_chunk's result: bits saying what was wrong (0: nothing). X_BEYOND_LIMIT:
# X holds a NaN, an infinity, or a value so large that W1 x + b1 could overflow.
X_BEYOND_LIMIT = 1
PARAMS_NOT_FINITE = 2
OVERFLOW = 4


@_jit(inline=True)
def _any_nonfinite(x):
    """True when some value of the 1-D or 2-D array x is NaN or infinite (x - x != 0)."""
    zero = x.dtype.type(0)
    flat = x.reshape(x.size)
    bad = False
    for i in range(flat.shape[0]):
        bad = bad | ((flat[i] - flat[i]) != zero)
    return bad


@_jit(inline=True)
def _any_beyond(x, limit):
    """True when some |x| of the 2-D array x exceeds limit, or is NaN."""
    flat = x.reshape(x.size)
    bad = False
    for i in range(flat.shape[0]):
        bad = bad | (not (abs(flat[i]) <= limit))
    return bad


@_jit()
def _input_limit(W1, b1, n_features, hidden):
    """The largest |x| for which no product or partial sum of W1 x + b1 can overflow
    (below max/4, rounding included), capped at the largest finite value."""
    zero = W1.dtype.type(0)
    big = W1.dtype.type(np.finfo(W1.dtype).max)
    row_max = zero
    bias_max = zero
    for j in range(hidden):
        row = zero
        for k in range(n_features):
            row += abs(W1[j * n_features + k])
        row_max = max(row, row_max)
        bias_max = max(abs(b1[j]), bias_max)
    room = big / W1.dtype.type(4) - bias_max
    if not room > zero:
        return zero
    if row_max == zero:
        return big
    return min(room / row_max, big)


@_jit()
def _outputs_overflow(W2, b2, hidden, n_outputs):
    """True when some logit W2 a + b2 could overflow (|a| <= 1): a row of |W2| plus |b2|
    reaching max/4."""
    quarter = W2.dtype.type(np.finfo(W2.dtype).max) / W2.dtype.type(4)
    for i in range(n_outputs):
        row = abs(b2[i])
        for j in range(hidden):
            row += abs(W2[i * hidden + j])
        if not row < quarter:
            return True
    return False


@_jit(inline=True)
def _sigmoid_tile(z, sign, out):
    """out[s] = sigmoid(sign z[s]) in training's stable form; exactly 0 below exp_neg's
    domain (-708, float32 -87), as NumPy's underflowing exp gives."""
    zero = z.dtype.type(0)
    low = z.dtype.type(-708.0) if z.itemsize == 8 else z.dtype.type(-87.0)
    for s in range(TILE):
        v = sign * z[s]
        e = _exp_neg(v if v < zero else -v)  # exp(-|z|)
        p = _sigmoid(v, e)
        out[s] = zero if v < low else p


@_jit()
def _softmax_probs_tile(z, n_outputs):
    """In place over the n_outputs rows of z, per sample: exp(z_i - m) / sum_k exp(z_k - m),
    m = max_k z_k; a term below exp_neg's domain is exactly 0 (tl_softmax_probs_tile)."""
    zero = z.dtype.type(0)
    low = z.dtype.type(-708.0) if z.itemsize == 8 else z.dtype.type(-87.0)
    m = _tile_scratch(z[0])
    total = _tile_scratch(z[0])
    for s in range(TILE):
        m[s] = z[0, s]
        total[s] = zero
    for i in range(1, n_outputs):
        for s in range(TILE):
            v = z[i, s]
            m[s] = v if v > m[s] else m[s]
    for i in range(n_outputs):
        for s in range(TILE):
            v = z[i, s] - m[s]
            e = _exp_neg(v)
            e = zero if v < low else e
            z[i, s] = e
            total[s] += e
    for i in range(n_outputs):
        for s in range(TILE):
            z[i, s] /= total[s]


@_jit(inline=True)
def _forward_tile(W1, b1, W2, b2, xt, n_features, hidden, n_outputs, mode, a1, out):
    """One tile forward: a1 = tanh(W1 x + b1), then per output its logit (mode 0), its
    sigmoid (mode 1) or, for one output, the rows sigmoid(-z), sigmoid(z) (mode 2) into
    out, or one softmax over the outputs (mode 3). Returns True when a logit is NaN (an
    overflow: inf - inf inside the network)."""
    f = n_features
    if f > FEATURE_CHUNK:
        _wide_forward(W1, b1, xt, f, hidden, a1)
    else:
        for j in range(hidden):
            _hidden_forward(W1[j * f :], xt, f, b1[j], a1[j])
    one = a1.dtype.type(1)
    nan = False
    for i in range(n_outputs):
        z = _tile_scratch(a1)
        _combine_rows(W2[i * hidden :], 1, a1, hidden, b2[i], z)
        for s in range(TILE):
            nan = nan | (z[s] != z[s])
        if mode == 0 or mode == 3:
            _copy_tile(z, out[i])
        elif mode == 1:
            _sigmoid_tile(z, one, out[i])
        else:
            _sigmoid_tile(z, -one, out[0])
            _sigmoid_tile(z, one, out[1])
    if mode == 3:
        _softmax_probs_tile(out, n_outputs)
    return nan


@_jit()
def _forward_work_size(f, h, rows):
    """Scratch elements of one forward slot (tiles of X, hidden, outputs), whole cache lines."""
    return ((f + h + rows) * TILE + _ALIGN - 1) // _ALIGN * _ALIGN


@_jit()
def _block_forward(X, theta, hidden, n_outputs, mode, limit, start, stop, work, out):
    """Outputs of the samples [start, stop) into their columns of out; returns flags.

    work: this slot's scratch, _forward_work_size() elements.
    """
    _prefer_wide_vectors()
    f = X.shape[0]
    h = hidden
    o = n_outputs
    rows = 2 if mode == 2 else o
    W1 = theta[: h * f]
    b1 = theta[h * f : h * f + h]
    W2 = theta[h * f + h : h * f + h + o * h]
    b2 = theta[h * f + h + o * h : h * f + h + o * h + o]
    xt = _full(work[: f * TILE].reshape((f, TILE)))
    a1 = _full(work[f * TILE : (f + h) * TILE].reshape((h, TILE)))
    zt = _full(work[(f + h) * TILE : (f + h + rows) * TILE].reshape((rows, TILE)))
    flags = 0
    for tile in range((stop - start + TILE - 1) // TILE):
        t0 = start + tile * TILE
        count = min(TILE, stop - t0)
        _gather_tile(X, t0, count, xt)
        if _any_beyond(xt, limit):
            flags |= X_BEYOND_LIMIT
        if _forward_tile(W1, b1, W2, b2, xt, f, h, o, mode, a1, zt):
            flags |= OVERFLOW
        for r in range(rows):
            for s in range(count):
                out[r, t0 + s] = zt[r, s]
    return flags


@_jit(inline=True)
def _serial_forward(X, theta, hidden, n_outputs, mode, limit, start, stop, work, out, slot_flags):
    """_all_forward on one slot: every block in turn on work[0]."""
    for b in range((stop - start + BLOCK - 1) // BLOCK):
        slot_flags[0] |= _block_forward(X, theta, hidden, n_outputs, mode, limit,
                                        start + b * BLOCK, min(stop, start + (b + 1) * BLOCK),
                                        work[0], out)  # fmt: skip


@_jit(parallel=True)
def _all_forward(X, theta, hidden, n_outputs, mode, limit, start, stop, work, out, slot_flags,
                 threads):  # fmt: skip
    """Every block of [start, stop) forward; slot q takes blocks q, q + n_slots, ...
    (one slot, or threads None: no parallel region, as _all_sums)."""
    n_slots = work.shape[0]
    n_blocks = (stop - start + BLOCK - 1) // BLOCK
    if threads is None:  # noqa: SIM114 (apart: Numba prunes `x is None` alone, see _block_sums)
        _serial_forward(X, theta, hidden, n_outputs, mode, limit, start, stop, work, out,
                        slot_flags)  # fmt: skip
    elif n_slots <= 1:
        _serial_forward(X, theta, hidden, n_outputs, mode, limit, start, stop, work, out,
                        slot_flags)  # fmt: skip
    else:
        for q in prange(n_slots):
            for b in range(q, n_blocks, n_slots):
                slot_flags[q] |= _block_forward(X, theta, hidden, n_outputs, mode, limit,
                                                start + b * BLOCK,
                                                min(stop, start + (b + 1) * BLOCK), work[q],
                                                out)  # fmt: skip
    flags = 0
    for q in range(n_slots):
        flags |= slot_flags[q]
    return flags


@_jit(inline=True)
def _copy_matrix(A, out):
    """out = A's elements row by row, from any strides; returns their number."""
    p = 0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            out[p] = A[i, j]
            p += 1
    return p


@_jit(
    lambda t, threads: types.intp(
        _matrix(t), _matrix(t), _matrix(t), _matrix(t), _matrix(t), types.Array(t, 2, "A"),
        types.intp, types.intp, types.intp, threads,
    )
)
def _forward_chunk(X, W1, b1, W2, b2, out, start, stop, mode, n_threads):
    f = X.shape[0]
    hidden = W1.shape[0]
    o = W2.shape[0]
    n_params = hidden * f + hidden + o * hidden + o
    rows = 2 if mode == 2 else o
    if stop <= start:
        return 0
    if n_threads is None:  # noqa: SIM108 (statements: Numba prunes them, see _block_sums)
        n_slots = 1
    else:
        n_slots = _n_slots(stop - start, n_threads)
    size = _forward_work_size(f, hidden, rows)
    work = _aligned_empty(n_slots * size, X).reshape((n_slots, size))
    slot_flags = np.zeros(n_slots, dtype=np.intp)
    theta = np.empty(n_params, dtype=X.dtype)
    p = _copy_matrix(W1, theta)
    p += _copy_matrix(b1, theta[p:])
    p += _copy_matrix(W2, theta[p:])
    _copy_matrix(b2, theta[p:])
    if _any_nonfinite(theta):
        return PARAMS_NOT_FINITE
    W1_end = hidden * f
    if _outputs_overflow(theta[W1_end + hidden :], theta[W1_end + hidden + o * hidden :],
                         hidden, o):  # fmt: skip
        return OVERFLOW
    limit = _input_limit(theta, theta[W1_end:], f, hidden)
    return _all_forward(X, theta, hidden, o, mode, limit, start, stop, work, out, slot_flags,
                        n_threads)  # fmt: skip


def forward_chunk(X, W1, b1, W2, b2, out, start, stop, mode, n_threads):
    """The network's outputs for the samples (columns) [start, stop) of X into the same
    columns of ``out`` (any strides; so may the parameters be): logits (mode 0),
    probabilities (mode 1), for one output the rows sigmoid(-z), sigmoid(z) (mode 2), or
    one softmax over the outputs of each sample (mode 3).
    Returns 0, or an OR of X_BEYOND_LIMIT, PARAMS_NOT_FINITE and OVERFLOW; out's values
    are then meaningless."""
    threads = _use_threads(n_threads, stop - start)
    kernel = _compiled(_forward_chunk, X.dtype, threads is not None)
    params = [_read_only(a) for a in (W1, b1, W2, b2)]
    return int(kernel(_read_only(X), *params, out, start, stop, mode, threads))


# ================================================================ elementwise access for tests


@_jit(lambda t: types.void(_vector(t), _vector(t)))
def _tanh_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = _tanh(x[i])


@_jit(lambda t: types.void(_vector(t), _vector(t)))
def _exp_neg_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = _exp_neg(x[i])


@_jit(lambda t: types.void(_vector(t), _vector(t)))
def _log1p_unit_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = _log1p_unit(x[i])


@_jit(lambda t: types.void(_vector(t), _vector(t), _vector(t), _vector(t)))
def _loss_and_residual_loop(z, y, loss, residual):
    for i in range(z.shape[0]):
        loss[i], residual[i] = _loss_and_residual(z[i], y[i])


def tanh(x, out):
    """out = tanh(x) with the kernels' approximation."""
    _compiled(_tanh_loop, x.dtype)(x, out)


def exp_neg(x, out):
    """out = exp(x) for x <= 0 with the kernels' approximation."""
    _compiled(_exp_neg_loop, x.dtype)(x, out)


def log1p_unit(x, out):
    """out = log1p(x) for x in [0, 1] with the kernels' approximation."""
    _compiled(_log1p_unit_loop, x.dtype)(x, out)


def loss_and_residual(z, y, loss, residual):
    """Per-element loss and residual as the kernels compute them."""
    _compiled(_loss_and_residual_loop, z.dtype)(z, y, loss, residual)
