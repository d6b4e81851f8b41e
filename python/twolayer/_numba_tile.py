"""Mirrors ``src/twolayer/_tile_impl.h``: the tile primitives (Numba).

Same names without the ``tl_`` prefix (``tl_combine_rows`` is ``combine_rows``),
the same loops in the same order, so the sums round alike bit for bit; hold the
files side by side, a change to one belongs in the other. What differs is only
how Numba spells it:

* Pointers into the scratch buffer are slices and reshapes of one array per
  slot, and a tile's width is its rows' length (TILE, or SMALL_TILE for a small
  tile; ``full_tile`` makes it a constant of the code).
* ``lane_dot``, ``lane_sum``, ``combine_more`` and ``copy_tile`` are LLVM vector
  operations (``_numba_vector.Vectors``: the same multiplies and adds, lane by
  lane), because Numba runs LLVM without its SLP vectoriser.
* C's forward register blocks (``tl_forward_block``) are ``forward_blocks``, in sample
  vectors of the target's full width (C's ``tl_sf``/``tl_sd``: 16 floats on AVX-512).
  C's gradient blocks (``tl_grad_block``) are ``grad_blocks``, in C's grad registers:
  two units' lane vectors per register where a lane vector is half of one (float32 on
  AVX-512), else one lane vector.
* ``inline=True`` helpers are C's ``static inline`` (inlined in Numba's IR: LLVM's
  inliner leaves functions this size out of line, and a call per tile row with
  array structs and reference counts cost 2.5x); ``jit()`` without inline are
  C's ``noinline`` ones (``softmax_outputs``, ``wide_forward``, ``wide_backward``).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._geometry import FEATURE_CHUNK, LANES, SMALL_TILE, TILE
from ._numba_fastmath import _exp_neg, _log_ge1, _log_loss, _sigmoid, _tanh, emit_fma, fma
from ._numba_jit import VECTOR_BYTES, jit
from ._numba_vector import Vectors, are_tile_rows, full_tile, prefer_wide_vectors, tile_scratch


@intrinsic
def copy_tile(typingctx, src, dst):
    """dst[s] = src[s] for every sample s of the tile."""
    if not are_tile_rows(src, dst):
        return None

    def codegen(context, builder, signature, args):
        vec = Vectors(context, builder, signature, args)

        def emit(width):
            for s in range(0, width, LANES):
                vec.store(vec.load(vec.data[0], s), vec.data[1], s)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(src, dst), codegen


@intrinsic
def combine_more(typingctx, weights, stride, rows, n_rows, fresh, bias, out):
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
    if not (are_tile_rows(weights, out) and isinstance(rows, types.Array) and rows.ndim == 2
            and rows.layout == "C" and rows.dtype == out.dtype == weights.dtype):  # fmt: skip
        return None

    def codegen(context, builder, signature, args):
        vec = Vectors(context, builder, signature, args)
        w_data, _, rows_data, _, _, _, out_data = vec.data
        vec.width = cgutils.unpack_tuple(
            builder, context.make_array(out)(context, builder, args[6]).shape
        )[0]
        step = cgutils.unpack_tuple(
            builder, context.make_array(rows)(context, builder, args[2]).strides
        )[0]
        stride, n_rows, fresh, bias = args[1], args[3], args[4], args[5]
        one = context.get_constant(types.intp, 1)
        per_pass = max(LANES, 8 * VECTOR_BYTES // context.get_abi_sizeof(vec.element))

        def emit(width):
            for first in range(0, width, per_pass):
                offsets = range(first, min(width, first + per_pass), LANES)
                w0 = vec.splat(builder.load(w_data))
                sums = [cgutils.alloca_once(builder, vec.vector) for k in offsets]
                for k, total in zip(offsets, sums, strict=True):
                    start = builder.select(fresh, vec.splat(bias), vec.load(out_data, k))
                    builder.store(emit_fma(builder, w0, vec.load(rows_data, k), start), total)
                with cgutils.for_range_slice(builder, one, n_rows, one) as (r, _):
                    at = cgutils.gep(builder, w_data, builder.mul(r, stride))
                    w = vec.splat(builder.load(at))
                    row = cgutils.pointer_add(builder, rows_data, builder.mul(r, step))
                    for k, total in zip(offsets, sums, strict=True):
                        value = emit_fma(builder, w, vec.load(row, k), builder.load(total))
                        builder.store(value, total)
                for k, total in zip(offsets, sums, strict=True):
                    vec.store(builder.load(total), out_data, k)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(weights, stride, rows, n_rows, fresh, bias, out), codegen


@jit(inline=True)
def combine_rows(weights, stride, rows, n_rows, bias, out):
    """out[s] = bias + sum over r of weights[r * stride] * rows[r, s]: the layer
    products W1 x + b1 (stride 1), W2 a + b2 (stride 1) and W2^T dy (stride hidden)."""
    combine_more(weights, stride, rows, n_rows, True, bias, out)


@jit(inline=True)
def tanh_tile(row):
    """row[s] = tanh(row[s])"""
    for s in range(row.shape[0]):
        row[s] = _tanh(row[s])


@jit(inline=True)
def output_tile(row, y, loss, count):
    """Logits in row -> residuals sigmoid(z) - y in row and losses in loss; padding zeroed."""
    zero = row.dtype.type(0)
    W = row.shape[0]
    e = tile_scratch(row)  # two passes, as in C: shorter chains of dependent operations
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
def tanh_backward_tile(typingctx, row, a):
    """row[s] *= 1 - a[s]^2: back through tanh, whose derivative is 1 - tanh^2 (no C
    twin: the product inside tl_hidden_delta's loop)."""
    if not are_tile_rows(row, a):
        return None

    def codegen(context, builder, signature, args):
        vec = Vectors(context, builder, signature, args)
        row_data, a_data = vec.data
        one = vec.splat(1.0)

        def emit(width):
            for s in range(0, width, LANES):
                x = vec.load(a_data, s)
                value = builder.fmul(vec.load(row_data, s),
                                     emit_fma(builder, builder.fneg(x), x, one))  # fmt: skip
                vec.store(value, row_data, s)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(row, a), codegen


@intrinsic
def lane_dot(typingctx, u, v, acc):
    """acc[l] += sum over the tile of u[s] v[s], for s % LANES == l.

    As in C: lane = acc; for each group of LANES samples, lane = fma(u, v, lane);
    acc = lane. Written as
    LANES-wide vector operations because Numba leaves LLVM's SLP vectoriser
    off, and the unrolled scalar loop is 8x the instructions.
    """
    if not are_tile_rows(u, v, acc):
        return None

    def codegen(context, builder, signature, args):
        vec = Vectors(context, builder, signature, args)
        u_data, v_data, acc_data = vec.data

        def emit(width):
            lane = vec.load(acc_data, 0)
            for s in range(0, width, LANES):
                lane = emit_fma(builder, vec.load(u_data, s), vec.load(v_data, s), lane)
            vec.store(lane, acc_data, 0)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(u, v, acc), codegen


@intrinsic
def lane_sum(typingctx, u, acc):
    """acc[l] += sum over the tile of u[s], for s % LANES == l (vector form as lane_dot)."""
    if not are_tile_rows(u, acc):
        return None

    def codegen(context, builder, signature, args):
        vec = Vectors(context, builder, signature, args)
        u_data, acc_data = vec.data

        def emit(width):
            lane = vec.load(acc_data, 0)
            for s in range(0, width, LANES):
                lane = builder.fadd(lane, vec.load(u_data, s))
            vec.store(lane, acc_data, 0)

        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(u, acc), codegen


# Forward register blocks (C: TL_FWD_UNITS x TL_FWD_VECS in _tile.h): units x sample
# vectors of partial sums held in registers, each x vector loaded serving every unit.
# AVX-512 has 32 vector registers: 4 x 4 sums; AVX2 16 registers: 6 x 2 sums, 2 x, a weight.
FWD_UNITS = 4 if VECTOR_BYTES == 64 else 6
FWD_VECS = 4 if VECTOR_BYTES == 64 else 2


@intrinsic
def forward_blocks(typingctx, W1, b1, xt, n_features, hidden, z):
    """z[j, s] = b1[j] + sum over k of W1[j * n_features + k] * xt[k, s] for every hidden
    unit j: tl_combine_rows' sums (bias first, then the features in order, each a fused
    multiply-add), in blocks of FWD_UNITS units by FWD_VECS sample vectors of the
    target's full width (then the units left as one block), as tl_hidden_layer_forward's
    blocks of tl_forward_block. The blocks change which sums run side by side, never a sum.
    xt and z: C-contiguous tiles (rows x W, W = TILE or SMALL_TILE, z's width)."""
    if not (are_tile_rows(W1, b1) and all(
            isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C"
            and a.dtype == W1.dtype for a in (xt, z))):  # fmt: skip
        return None

    def codegen(context, builder, signature, args):
        element = context.get_data_type(W1.dtype)
        itemsize = context.get_abi_sizeof(element)
        per_vector = max(1, VECTOR_BYTES // itemsize)
        vector = ir.VectorType(element, per_vector)
        w_data = context.make_array(W1)(context, builder, args[0]).data
        b_data = context.make_array(b1)(context, builder, args[1]).data
        x_array = context.make_array(xt)(context, builder, args[2])
        z_array = context.make_array(z)(context, builder, args[5])
        x_step = cgutils.unpack_tuple(builder, x_array.strides)[0]
        z_step = cgutils.unpack_tuple(builder, z_array.strides)[0]
        f, h = args[3], args[4]
        one = context.get_constant(types.intp, 1)

        def load(pointer, offset):
            address = builder.bitcast(cgutils.gep(builder, pointer, offset), vector.as_pointer())
            return builder.load(address, align=itemsize, typ=vector)

        def splat(pointer, index):
            value = builder.load(cgutils.gep(builder, pointer, index))
            out = ir.Constant(vector, ir.Undefined)
            for lane in range(per_vector):
                out = builder.insert_element(out, value, ir.Constant(ir.IntType(32), lane))
            return out

        def block(j0, n_units, first, n_vecs):
            offsets = [first + v * per_vector for v in range(n_vecs)]
            units = [builder.add(j0, context.get_constant(types.intp, u)) for u in range(n_units)]
            rows = [builder.mul(j, f) for j in units]
            sums = [[cgutils.alloca_once(builder, vector) for _ in offsets] for _ in units]
            x = [load(x_array.data, s) for s in offsets]
            for j, row, acc in zip(units, rows, sums, strict=True):
                w, bias = splat(w_data, row), splat(b_data, j)
                for xv, total in zip(x, acc, strict=True):
                    builder.store(emit_fma(builder, w, xv, bias), total)
            with cgutils.for_range_slice(builder, one, f, one) as (k, _):
                x_row = cgutils.pointer_add(builder, x_array.data, builder.mul(k, x_step))
                x = [load(x_row, s) for s in offsets]
                for row, acc in zip(rows, sums, strict=True):
                    w = splat(w_data, builder.add(row, k))
                    for xv, total in zip(x, acc, strict=True):
                        builder.store(emit_fma(builder, w, xv, builder.load(total)), total)
            for j, acc in zip(units, sums, strict=True):
                z_row = cgutils.pointer_add(builder, z_array.data, builder.mul(j, z_step))
                for s, total in zip(offsets, acc, strict=True):
                    address = builder.bitcast(cgutils.gep(builder, z_row, s), vector.as_pointer())
                    builder.store(builder.load(total), address, align=itemsize)

        def emit(width):
            span = FWD_VECS * per_vector

            def passes(j0, n_units):
                for first in range(0, width, span):
                    block(j0, n_units, first, min(FWD_VECS, (width - first) // per_vector))

            blocked = builder.mul(builder.sdiv(h, context.get_constant(types.intp, FWD_UNITS)),
                                  context.get_constant(types.intp, FWD_UNITS))  # fmt: skip
            step = context.get_constant(types.intp, FWD_UNITS)
            with cgutils.for_range_slice(builder, context.get_constant(types.intp, 0), blocked,
                                         step) as (j0, _):  # fmt: skip
                passes(j0, FWD_UNITS)
            # The units left as one smaller block, as in C (single units, AVX2's tutorial
            # layer of 5 ran five passes over x, one sum per vector: too few to cover the
            # latency of the multiply-adds).
            rest = builder.sub(h, blocked)
            for n_units in range(1, FWD_UNITS):  # constant unit counts: each unrolls
                with builder.if_then(builder.icmp_signed("==", rest, context.get_constant(
                        types.intp, n_units))):  # fmt: skip
                    passes(blocked, n_units)

        width = cgutils.unpack_tuple(builder, z_array.shape)[1]
        full = builder.icmp_signed("==", width, ir.Constant(width.type, TILE))
        with builder.if_else(full) as (then, otherwise):
            with then:
                emit(TILE)
            with otherwise:
                emit(SMALL_TILE)
        return context.get_dummy_value()

    return types.void(W1, b1, xt, n_features, hidden, z), codegen


# ---- fused per-tile steps (_tile_impl.h)


@jit(inline=True)
def hidden_layer_forward(W1, b1, xt, n_features, hidden, a1):
    """The hidden layer of a tile, narrow inputs: a1 = tanh(W1 x + b1), the products in
    register blocks (forward_blocks), then tanh row by row (the tile is in L1)."""
    forward_blocks(W1, b1, xt, n_features, hidden, a1)
    for j in range(hidden):
        tanh_tile(a1[j])


@jit(inline=True)
def scale_tile(row, w):
    """row[s] *= w[s]: a weighted sample's residual or loss (weighted fits only)."""
    for s in range(row.shape[0]):
        row[s] *= w[s]


@jit(inline=True)
def output_unit(w, a1, hidden, bias, y, count, wt, weighted, dy_out, acc_cost, acc_b2, acc_W2):
    """One sigmoid output over a tile: residuals into dy_out; cost, b2 and W2-row sums
    (residuals and losses times the weights wt when weighted; C: wt not NULL).

    acc_W2 is the (hidden, LANES) block of lane sums of this output's W2 row.
    """
    loss = tile_scratch(dy_out)
    combine_rows(w, 1, a1, hidden, bias, dy_out)
    output_tile(dy_out, y, loss, count)
    if weighted:
        scale_tile(dy_out, wt)
        scale_tile(loss, wt)
    lane_sum(loss, acc_cost)
    lane_sum(dy_out, acc_b2)
    for j in range(hidden):
        lane_dot(dy_out, a1[j], acc_W2[j])


@jit(inline=True)
def softmax_tile(z, y, n_outputs, loss, count):
    """One softmax over the n_outputs rows of z (logits in, residuals out) per sample:
    m = max z, d_i = m - z_i, L = log(sum exp(-d_i)); loss = sum_i y_i (L + d_i),
    z_i = exp(-d_i) / sum - y_i; padding (s >= count) zeroed. See tl_softmax_tile."""
    zero = z.dtype.type(0)
    m = tile_scratch(loss)
    total = tile_scratch(loss)
    L = tile_scratch(loss)
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
            loss[s] = fma(yi, L[s] + d, loss[s])
            z[i, s] = _exp_neg(-d) / total[s] - yi
    for s in range(count, TILE):
        loss[s] = zero
        for i in range(n_outputs):
            z[i, s] = zero


@jit()
def softmax_outputs(W2, b2, a1, hidden, n_outputs, y, count, wt, weighted, dy, acc_cost,
                    acc_b2, acc_W2):  # fmt: skip
    """The softmax output layer over a tile: logits into dy, then residuals and loss
    (times the weights when weighted) and their sums: cost, b2 and W2 (rows of
    (hidden, LANES) blocks). Out of line, as tl_softmax_outputs. Full tiles only."""
    prefer_wide_vectors()
    a1 = full_tile(a1)
    y = full_tile(y)
    wt = full_tile(wt)
    dy = full_tile(dy)
    loss = tile_scratch(wt)
    for i in range(n_outputs):
        combine_rows(W2[i * hidden :], 1, a1, hidden, b2[i], dy[i])
    softmax_tile(dy, y, n_outputs, loss, count)
    if weighted:
        scale_tile(loss, wt)
        for i in range(n_outputs):
            scale_tile(dy[i], wt)
    lane_sum(loss, acc_cost)
    for i in range(n_outputs):
        lane_sum(dy[i], acc_b2[i])
        for j in range(hidden):
            lane_dot(dy[i], a1[j], acc_W2[i * hidden + j])


@jit(inline=True)
def hidden_delta(w2_column, stride, dy, n_outputs, a, dz, acc_b1):
    """One hidden unit back through tanh: dz = (W2^T dy)(1 - a^2), and its b1 sums.

    C takes a one-output shortcut here (same rounding); in Numba a branch
    around these loops measured 25% slower on the tutorial's run, so not here.
    """
    combine_rows(w2_column, stride, dy, n_outputs, a.dtype.type(0), dz)
    tanh_backward_tile(dz, a)
    lane_sum(dz, acc_b1)


@jit(inline=True)
def delta_dots(dz, rows, n_rows, acc):
    """acc[k] += lane sums of dz rows[k], k < n_rows: a W1 row's sums, or a chunk of them."""
    for k in range(n_rows):
        lane_dot(dz, rows[k], acc[k])


# Gradient register blocks (C: TL_GRAD_REGS x TL_GRAD_FEATURES in _tile.h, counted there
# in registers): lane vectors of W1 sums, each dz and x vector loaded once per block. A
# lane vector of doubles is one AVX-512 register but two AVX2 ones, hence 2 x 2 there.
GRAD_UNITS = GRAD_FEATURES = 4 if VECTOR_BYTES == 64 else 2


@intrinsic
def grad_blocks(typingctx, dz, xt, n_features, hidden, acc):
    """acc[j * n_features + k, l] += the lane sums of dz[j] xt[k] (samples s with s % LANES
    == l, in order) for every hidden unit j and feature k: tl_lane_dot's sums, in blocks of
    GRAD_UNITS registers by GRAD_FEATURES features side by side (then single units, and
    the last features as one smaller block), as tl_hidden_layer_backward's tl_grad_block;
    a register holds two units' lane vectors where a lane vector is half of one.
    dz (hidden rows) and xt: C-contiguous tiles of one width; acc: (h f, LANES) rows."""
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C"
               and a.dtype == dz.dtype for a in (dz, xt, acc)):  # fmt: skip
        return None

    def codegen(context, builder, signature, args):
        vec = Vectors(context, builder, signature, args)
        dz_array, x_array, acc_array = (
            context.make_array(ty)(context, builder, value)
            for ty, value in ((dz, args[0]), (xt, args[1]), (acc, args[4]))
        )
        dz_step = cgutils.unpack_tuple(builder, dz_array.strides)[0]
        x_step = cgutils.unpack_tuple(builder, x_array.strides)[0]
        f, h = args[2], args[3]

        def const(value):
            return context.get_constant(types.intp, value)

        # Two units' lane vectors per register where a lane vector is half of one (float32
        # on AVX-512: C's grad registers, _vector.h tl_gload/tl_gstore), x in both halves.
        paired = 2 * LANES * vec.align <= VECTOR_BYTES

        def mask(indices):
            return ir.Constant(ir.VectorType(ir.IntType(32), len(indices)),
                               [ir.Constant(ir.IntType(32), i) for i in indices])  # fmt: skip

        def load2(pointer_a, pointer_b, offset_a, offset_b):
            """A register: the lane vectors at a and b side by side (or the one at a)."""
            low = vec.load(pointer_a, offset_a)
            if not paired:
                return low
            high = vec.load(pointer_b, offset_b)
            return builder.shuffle_vector(low, high, mask(range(2 * LANES)))

        def store2(value, pointer, offset_a, offset_b):
            if not paired:
                vec.store(value, pointer, offset_a)
                return
            for part, offset in enumerate((offset_a, offset_b)):
                half = mask(range(part * LANES, (part + 1) * LANES))
                vec.store(builder.shuffle_vector(value, value, half), pointer, offset)

        def block(width, units, k0, n_rows):
            """units: per register, its unit(s) (a pair when paired; a unit twice when odd,
            the same sums stored twice to one place)."""
            rows = [builder.add(k0, const(k)) for k in range(n_rows)]

            def address(j, k):
                return builder.mul(builder.add(builder.mul(j, f), k), const(LANES))

            at = [[(address(ja, k), address(jb, k)) for k in rows] for ja, jb in units]
            sums = [[load2(acc_array.data, acc_array.data, *a) for a in row] for row in at]
            dz_rows = [tuple(cgutils.pointer_add(builder, dz_array.data, builder.mul(j, dz_step))
                             for j in pair) for pair in units]  # fmt: skip
            x_rows = [cgutils.pointer_add(builder, x_array.data, builder.mul(k, x_step))
                      for k in rows]  # fmt: skip
            for s in range(0, width, LANES):
                d = [load2(a, b, s, s) for a, b in dz_rows]
                x = [load2(row, row, s, s) for row in x_rows]
                sums = [[emit_fma(builder, du, xk, total) for xk, total in zip(x, row, strict=True)]
                        for du, row in zip(d, sums, strict=True)]  # fmt: skip
            for row, addresses in zip(sums, at, strict=True):
                for total, a in zip(row, addresses, strict=True):
                    store2(total, acc_array.data, *a)

        def units_block(width, units):
            blocked = builder.mul(builder.sdiv(f, const(GRAD_FEATURES)), const(GRAD_FEATURES))
            with cgutils.for_range_slice(builder, const(0), blocked, const(GRAD_FEATURES)) as (
                    k0, _):  # fmt: skip
                block(width, units, k0, GRAD_FEATURES)
            rest = builder.sub(f, blocked)
            for n_rows in range(1, GRAD_FEATURES):  # constant row counts: each unrolls
                with builder.if_then(builder.icmp_signed("==", rest, const(n_rows))):
                    block(width, units, blocked, n_rows)

        def emit(width):
            per_reg = 2 if paired else 1
            step = const(GRAD_UNITS * per_reg)
            blocked = builder.mul(builder.sdiv(h, step), step)
            with cgutils.for_range_slice(builder, const(0), blocked, step) as (j0, _):
                units = [builder.add(j0, const(u)) for u in range(GRAD_UNITS * per_reg)]
                units_block(width, list(zip(units[::per_reg], units[per_reg - 1 :: per_reg],
                                            strict=True)))  # fmt: skip
            with cgutils.for_range_slice(builder, blocked, h, const(1)) as (j, _):
                units_block(width, [(j, j)])

        vec.width = cgutils.unpack_tuple(builder, dz_array.shape)[1]
        vec.per_width(emit)
        return context.get_dummy_value()

    return types.void(dz, xt, n_features, hidden, acc), codegen


@jit(inline=True)
def hidden_layer_backward(W2, dy, n_outputs, a1, xt, n_features, hidden, dz, acc_b1, acc_W1):
    """The hidden layer of a tile, narrow inputs, backward, block of units by block of
    units, as in C: the block's dz rows (into the first rows of dz, which stay in L1 from
    one block to the next) and b1 sums, then its W1 sums in register blocks (grad_blocks).
    The last block takes the units left (fewer than two register blocks' worth), so a
    small layer runs its deltas in one loop. Each sum adds the same terms in order."""
    f = n_features
    # grad_blocks' full block: GRAD_UNITS registers, two units each where paired.
    step = GRAD_UNITS * (2 if 2 * LANES * dz.itemsize <= VECTOR_BYTES else 1)
    j0 = 0
    while j0 < hidden:
        n = hidden - j0 if hidden - j0 < 2 * step else step
        for j in range(j0, j0 + n):
            hidden_delta(W2[j:], hidden, dy, n_outputs, a1[j], dz[j - j0], acc_b1[j])
        grad_blocks(dz[:n], xt, f, n, acc_W1[j0 * f : (j0 + n) * f])
        j0 += n


@jit()
def wide_forward(W1, b1, xt, n_features, hidden, a1):
    """The hidden layer forward for wide inputs, feature rows chunk by chunk
    (C: tl_wide_forward, out of line there too). Full tiles only (see full_tile)."""
    prefer_wide_vectors()
    xt = full_tile(xt)
    a1 = full_tile(a1)
    for chunk in range((n_features + FEATURE_CHUNK - 1) // FEATURE_CHUNK):
        k = chunk * FEATURE_CHUNK
        rows = min(FEATURE_CHUNK, n_features - k)
        for j in range(hidden):
            combine_more(W1[j * n_features + k :], 1, xt[k:], rows, k == 0, b1[j], a1[j])
    for j in range(hidden):
        tanh_tile(a1[j])


@jit()
def wide_backward(W2, dy, n_outputs, a1, xt, n_features, hidden, dz, acc_b1, acc_W1):
    """The hidden layer backward for wide inputs: every unit's dz and b1 sums, then
    the W1 sums chunk by chunk of feature rows (C: tl_wide_backward). Full tiles only."""
    prefer_wide_vectors()
    dy = full_tile(dy)
    a1 = full_tile(a1)
    xt = full_tile(xt)
    dz = full_tile(dz)
    for j in range(hidden):
        hidden_delta(W2[j:], hidden, dy, n_outputs, a1[j], dz[j], acc_b1[j])
    for chunk in range((n_features + FEATURE_CHUNK - 1) // FEATURE_CHUNK):
        k = chunk * FEATURE_CHUNK
        rows = min(FEATURE_CHUNK, n_features - k)
        for j in range(hidden):
            delta_dots(dz[j], xt[k:], rows, acc_W1[j * n_features + k : (j + 1) * n_features])


@jit(inline=True)
def tile_sums(W1, b1, W2, b2, xt, yt, wt, f, h, o, count, one_softmax, weighted, a1, dy, dz,
              g_W1, g_b1, g_W2, g_b2, g_cost):  # fmt: skip
    """One tile's whole step: forward, output layer, backward, their sums added to the
    lane sums (C: tl_tile_sums). Samples s >= count are padding."""
    # Forward, hidden layer: a1 = tanh(W1 x + b1), vectorised over the tile.
    # Wide inputs go a chunk of feature rows at a time for every hidden unit.
    if f > FEATURE_CHUNK:
        wide_forward(W1, b1, xt, f, h, a1)
    else:
        hidden_layer_forward(W1, b1, xt, f, h, a1)

    # Output layer: residuals dy = p - y (times the weights), loss and their sums;
    # p = sigmoid(W2 a1 + b2) per output, or one softmax over the outputs.
    if one_softmax:
        softmax_outputs(W2, b2, a1, h, o, yt, count, wt, weighted, dy, g_cost, g_b2, g_W2)
    else:
        for i in range(o):
            output_unit(W2[i * h :], a1, h, b2[i], yt[i], count, wt, weighted, dy[i],
                        g_cost, g_b2[i], g_W2[i * h : i * h + h])  # fmt: skip

    # Backward, hidden layer: dz = (W2^T dy) * (1 - a1^2) and its sums.
    if f > FEATURE_CHUNK:
        wide_backward(W2, dy, o, a1, xt, f, h, dz, g_b1, g_W1)
    else:
        hidden_layer_backward(W2, dy, o, a1, xt, f, h, dz, g_b1, g_W1)


@jit(inline=True)
def any_nonfinite(x):
    """True when some value of the 1-D or 2-D array x is NaN or infinite (x - x != 0)."""
    zero = x.dtype.type(0)
    flat = x.reshape(x.size)
    bad = False
    for i in range(flat.shape[0]):
        bad = bad | ((flat[i] - flat[i]) != zero)
    return bad


@jit(inline=True)
def any_beyond(x, limit):
    """True when some |x| of the 2-D array x exceeds limit, or is NaN."""
    flat = x.reshape(x.size)
    bad = False
    for i in range(flat.shape[0]):
        bad = bad | (not (abs(flat[i]) <= limit))
    return bad


@jit()
def input_limit(W1, b1, n_features, hidden):
    """The largest |x| for which no product or partial sum of W1 x + b1 can overflow
    (below max/4, rounding included), capped at the largest finite value."""
    zero = W1.dtype.type(0)
    big = W1.dtype.type(np.finfo(W1.dtype).max)
    row_max = zero
    bias_max = zero
    # Each row's sum in feature order, as in C, but TILE rows at a time: their chains of
    # dependent adds run side by side (one row after another, 1,280 adds for 64 x 20 were
    # 2 us of a one-sample prediction's ~10).
    rows = np.empty(TILE, dtype=W1.dtype)
    for j0 in range(0, hidden, TILE):
        units = min(TILE, hidden - j0)
        for u in range(units):
            rows[u] = zero
        for k in range(n_features):
            for u in range(units):
                rows[u] += abs(W1[(j0 + u) * n_features + k])
        for u in range(units):
            row_max = max(rows[u], row_max)
            bias_max = max(abs(b1[j0 + u]), bias_max)
    room = big / W1.dtype.type(4) - bias_max
    if not room > zero:
        return zero
    if row_max == zero:
        return big
    return min(room / row_max, big)


@jit()
def outputs_overflow(W2, b2, hidden, n_outputs):
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


@jit(inline=True)
def sigmoid_tile(z, sign, out):
    """out[s] = sigmoid(sign z[s]) in training's stable form; exactly 0 below exp_neg's
    domain (-708, float32 -87), as NumPy's underflowing exp gives."""
    zero = z.dtype.type(0)
    low = z.dtype.type(-708.0) if z.itemsize == 8 else z.dtype.type(-87.0)
    for s in range(z.shape[0]):
        v = sign * z[s]
        e = _exp_neg(v if v < zero else -v)  # exp(-|z|)
        p = _sigmoid(v, e)
        out[s] = zero if v < low else p


@jit(inline=True)
def _softmax_probs(z, n_outputs):
    """softmax_probs_tile's loops over z's width (a constant of the code for full tiles)."""
    zero = z.dtype.type(0)
    low = z.dtype.type(-708.0) if z.itemsize == 8 else z.dtype.type(-87.0)
    W = z.shape[1]
    m = tile_scratch(z)
    total = tile_scratch(z)
    for s in range(W):
        m[s] = z[0, s]
        total[s] = zero
    for i in range(1, n_outputs):
        for s in range(W):
            v = z[i, s]
            m[s] = v if v > m[s] else m[s]
    for i in range(n_outputs):
        for s in range(W):
            v = z[i, s] - m[s]
            e = _exp_neg(v)
            e = zero if v < low else e
            z[i, s] = e
            total[s] += e
    for i in range(n_outputs):
        for s in range(W):
            z[i, s] /= total[s]


@jit()
def softmax_probs_tile(z, n_outputs):
    """In place over the n_outputs rows of z, per sample: exp(z_i - m) / sum_k exp(z_k - m),
    m = max_k z_k; a term below exp_neg's domain is exactly 0 (tl_softmax_probs_tile).
    z: a full tile, or a small one (a prediction's last few samples)."""
    if z.shape[1] == TILE:
        _softmax_probs(full_tile(z), n_outputs)
    else:
        _softmax_probs(z, n_outputs)


@jit(inline=True)
def forward_tile(W1, b1, W2, b2, xt, n_features, hidden, n_outputs, mode, a1, out):
    """One tile forward: a1 = tanh(W1 x + b1), then per output its logit (mode 0), its
    sigmoid (mode 1) or, for one output, the rows sigmoid(-z), sigmoid(z) (mode 2) into
    out, or one softmax over the outputs (mode 3). Returns True when a logit is NaN (an
    overflow: inf - inf inside the network)."""
    f = n_features
    if f > FEATURE_CHUNK:
        wide_forward(W1, b1, xt, f, hidden, a1)
    else:
        hidden_layer_forward(W1, b1, xt, f, hidden, a1)
    one = a1.dtype.type(1)
    nan = False
    for i in range(n_outputs):
        z = tile_scratch(a1)
        combine_rows(W2[i * hidden :], 1, a1, hidden, b2[i], z)
        for s in range(z.shape[0]):
            nan = nan | (z[s] != z[s])
        if mode == 0 or mode == 3:
            copy_tile(z, out[i])
        elif mode == 1:
            sigmoid_tile(z, one, out[i])
        else:
            sigmoid_tile(z, -one, out[0])
            sigmoid_tile(z, one, out[1])
    if mode == 3:
        softmax_probs_tile(out, n_outputs)
    return nan


