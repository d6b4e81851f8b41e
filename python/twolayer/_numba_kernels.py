"""The Numba backend's entry points: mirrors ``src/twolayer/_cython_kernels.pyx``.

The block loops, scratch and threads of the Cython file, the same helper names,
constants and loops in the same order, on the primitives of the other
``_numba_*`` modules, each the mirror of one C file:

* ``_numba_fastmath``: ``_fastmath.h`` (and the .pyx's per-point ``_tanh``, ...),
* ``_numba_vector``: ``_vector.h`` (lane vectors, tile rows, views),
* ``_numba_tile``: ``_tile_impl.h`` (the tile primitives, ``tl_`` prefix dropped),
* ``_numba_gather``: the .pyx's ``gather_tile`` and ``_gather_impl.h``,
* ``_numba_optimizer`` / ``_numba_epochs``: ``_optimizer_impl.h`` / ``_epochs.pxi``,
* ``_numba_jit``: how all of them are compiled (no C twin).

Hold the files side by side; a change to one belongs in the other. The design
comment at the top of the Cython file applies here unchanged; what differs is
only how Numba spells it:

* Cython's fused ``floating`` type is two explicit signatures per entry point
  (float32 and float64, see ``_numba_jit.jit``), compiled on first use.
* X and Y keep their own strides (Numba arrays carry them), so the helpers take
  arrays where the Cython ones take a pointer and strides.
* Pointers: the loops work on ``unowned`` aliases of arrays that their caller holds
  (``_numba_vector.unowned``), so that the views they make (tiles, rows, slices of the
  parameters) count no references: Numba's count is an atomic add per view made and
  dropped, which cost the tutorial's run 40% of its time.
* Threads: ``prange`` over slots in ``_all_sums``; the number of threads is set
  by the Python wrappers (``numba.set_num_threads``), never queried in jitted
  code (that would make the functions uncacheable).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange, types

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
from ._numba_fastmath import _exp_neg, _log1p_unit, _loss_and_residual, _tanh
from ._numba_gather import gather_tile, gather_tile_at
from ._numba_jit import compiled, jit, matrix_type, vector_type
from ._numba_tile import (
    any_beyond,
    any_nonfinite,
    forward_tile,
    input_limit,
    outputs_overflow,
    tile_sums,
)
from ._numba_vector import full_tile, hold, prefer_wide_vectors, rows_of, unowned

__all__ = ["BLOCK", "FEATURE_CHUNK", "LANES", "TILE", "TILES_PER_BLOCK"]


@jit(inline=True)
def _tile_views(work, f, o, h, small):
    """A slot's tiles of X, Y, hidden activations, residuals, hidden deltas and weights,
    each rows x W at its place in the scratch (regions of TILE columns): W = TILE, or
    SMALL_TILE when small (the first rows x SMALL_TILE of each region, as in C)."""
    width = SMALL_TILE if small else TILE
    p = 0
    xt = rows_of(work, p, f, width)
    p += f * TILE
    yt = rows_of(work, p, o, width)
    p += o * TILE
    a1 = rows_of(work, p, h, width)
    p += h * TILE
    dy = rows_of(work, p, o, width)
    p += o * TILE
    dz = rows_of(work, p, h, width)  # hidden deltas, a row per unit
    p += h * TILE
    wt = work[p : p + width]  # the tile's sample weights (weighted only)
    if small:
        # The width stays a run-time value here: LLVM would unroll loops of 16 constant
        # trips before vectorising them, and Numba has no SLP vectoriser to make vectors
        # of the unrolled code again (the small tile's tanh, exp and log1p ran scalar,
        # slower than a full tile). The intrinsics branch on the width.
        return xt, yt, a1, dy, dz, wt
    return full_tile(xt), full_tile(yt), full_tile(a1), full_tile(dy), full_tile(dz), full_tile(wt)


@jit()
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
    prefer_wide_vectors()
    # Views without reference counts (see unowned): the caller holds these arrays.
    X, Y, theta, work, out = unowned(X), unowned(Y), unowned(theta), unowned(work), unowned(out)
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
    acc = rows_of(work, p, n_params + 1, LANES)
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
            gather_tile_at(X, order, t0, count, x_tile)
            gather_tile_at(Y, order, t0, count, y_tile)
        else:
            gather_tile(X, t0, count, x_tile)
            gather_tile(Y, t0, count, y_tile)
        if sw is not None:  # noqa: SIM102 (pruned when None, see above)
            if weighted:
                sw_row = sw.reshape((1, sw.shape[0]))
                w_row = w_tile.reshape((1, w_tile.shape[0]))
                if ordered:
                    gather_tile_at(sw_row, order, t0, count, w_row)
                else:
                    gather_tile(sw_row, t0, count, w_row)
        # A copy of the tile's step per width, each compiled for its own (see _tile_views).
        if softmax is None:  # apart from the last branch: pruned first, see above
            tile_sums(W1, b1, W2, b2, xt, yt, wt, f, h, o, count, one_softmax, weighted, a1,
                       dy, dz, g_W1, g_b1, g_W2, g_b2, g_cost)  # fmt: skip
        elif small:
            tile_sums(W1, b1, W2, b2, xs, ys, ws, f, h, o, count, one_softmax, weighted, a1s,
                       dys, dzs, g_W1, g_b1, g_W2, g_b2, g_cost)  # fmt: skip
        else:
            tile_sums(W1, b1, W2, b2, xt, yt, wt, f, h, o, count, one_softmax, weighted, a1,
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


@jit(inline=True)
def _aligned_empty(count, like):
    """An uninitialised 1-d array whose data starts on a 64-byte boundary (as in Cython)."""
    itemsize = like.itemsize
    raw = np.empty(count + 64 // itemsize, dtype=like.dtype)
    skip = (-raw.ctypes.data % 64) // itemsize
    return raw[skip : skip + count]


@jit(inline=True)
def _serial_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, partials):
    """_all_sums on one slot: every block in turn on work[0]."""
    for b in range((stop - start + BLOCK - 1) // BLOCK):
        _block_sums(X, Y, order, sw, softmax, theta, hidden, start + b * BLOCK,
                    min(stop, start + (b + 1) * BLOCK), work[0], partials[b])  # fmt: skip


@jit(parallel=True)
def _all_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, partials, threads):
    """Gradient and cost sums of every block of positions [start, stop) into its row of
    ``partials`` (see _block_sums for order, sw and softmax).

    Blocks are counted from start. Slot q handles blocks q, q + n_slots, ...;
    each slot has its own scratch (row q of work). Which thread runs which
    block does not matter: every block's sums land in that block's row.
    threads None: the one-slot variant of an entry point (see compiled), whose
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


@jit(inline=True)
def _reduce_blocks(partials, n_blocks, out):
    """out[i] = sum over the first n_blocks blocks of partials[b, i], blocks in order."""
    width = partials.shape[1]
    for i in range(width):
        out[i] = partials[0, i]
    for b in range(1, n_blocks):
        for i in range(width):
            out[i] += partials[b, i]


@jit(inline=True)
def _copy(src, dst):
    """dst[i] = src[i] for every i of dst: a loop, where ``dst[:] = src`` compiles
    NumPy's broadcasting and its shape-mismatch message (4 s of a cold start)."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@jit(inline=True)
def _n_slots(n, n_threads):
    return max(1, min(n_threads, (n + BLOCK - 1) // BLOCK))


@jit(inline=True)
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


@jit(inline=True)
def _sums(X, Y, theta, hidden, work, partials, threads, out):
    """Gradient sums, then the cost sum, of all samples into out (no order, no weights,
    sigmoid outputs: None, see _block_sums). The one-slot variant (threads None) runs
    the blocks here, with no call into the parallel function _all_sums."""
    if threads is None:
        _serial_sums(X, Y, None, None, None, theta, hidden, 0, X.shape[1], work, partials)
    else:
        _all_sums(X, Y, None, None, None, theta, hidden, 0, X.shape[1], work, partials,
                  threads)  # fmt: skip
    _reduce_blocks(partials, partials.shape[0], out)


def _threaded(t: types.Type, threads: types.Type, *args: types.Type) -> list[types.Type]:
    """An entry point's arguments: args, then n_threads (None in the one-slot variant), then
    the scratch size (see compiled)."""
    return [*args, threads, types.intp]


@jit(lambda t, threads: t(*_threaded(t, threads, matrix_type(t), matrix_type(t), vector_type(t),
                                      vector_type(t))))  # fmt: skip
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


@jit(
    lambda t, threads: types.intp(
        *_threaded(t, threads, matrix_type(t), matrix_type(t), vector_type(t), types.float64,
                   vector_type(t))
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
    # The loop's arrays without reference counts (see unowned: an iteration of the
    # tutorial's run counted ~25 references in and out, 0.1 us); hold keeps the owned
    # scratch alive until after the loop.
    Xu, Yu, theta_u, work_u, partials_u = (unowned(X), unowned(Y), unowned(theta),
                                           unowned(work), unowned(partials))  # fmt: skip
    sums_u, candidate_u, costs_u = unowned(sums), unowned(candidate), unowned(costs)
    for it in range(costs.shape[0]):
        _sums(Xu, Yu, theta_u, hidden, work_u, partials_u, n_threads, sums_u)
        costs_u[it] = sums_u[n_params] / theta.dtype.type(n)
        finite = np.isfinite(costs_u[it])
        # The tutorial's update, P - lr * ((1 / m) * dP_sum), into a candidate
        # so that a non-finite step never reaches theta.
        for i in range(n_params):
            candidate_u[i] = theta_u[i] - lr * (inv_m * sums_u[i])
            finite = finite & np.isfinite(candidate_u[i])
        if not finite:
            completed = it
            break
        _copy(candidate_u, theta_u)
    hold((work, partials, sums, candidate))
    return completed


# ================================================================ Python entry points


def _work_elements(X, Y, theta):
    """One slot's scratch size (twolayer._geometry.work_size) for this layout."""
    f, o = X.shape[0], Y.shape[0]
    hidden = (theta.shape[0] - o) // (f + 1 + o)
    return work_size(f, hidden, o)


def _use_threads(n_threads, n):
    """n_threads for an entry point that spreads n samples (or positions) over blocks:
    None (its one-slot variant, see compiled) when they make one slot, else the count.

    Only the threaded variant launches Numba's threading layer, which a parallel
    kernel loaded from the cache needs and does not launch itself (numba issue
    8578: gradient_sums(..., n_threads=1) as a process's first call segfaulted
    when the one-slot call ran the parallel code). A launched layer is what a
    forked child must not use (twolayer._fork).
    """
    if n <= BLOCK or _n_slots_py(n, n_threads) <= 1:  # one block is one slot: no more to ask
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
    kernel = compiled(_gradient_sums, theta.dtype, threads is not None)
    size = _work_elements(X, Y, theta)
    return float(kernel(X, Y, theta, grad, threads, size))


def train_chunk(X, Y, theta, learning_rate, costs, n_threads):
    """Run ``len(costs)`` iterations of gradient descent, updating ``theta`` in place.

    Returns the number of iterations completed; a smaller number j means
    iteration j gave a non-finite cost or update, ``costs[j]`` holds that
    cost and ``theta`` keeps the last finite parameters.
    """
    threads = _use_threads(n_threads, X.shape[1])
    kernel = compiled(_train_chunk, theta.dtype, threads is not None)
    size = _work_elements(X, Y, theta)
    return int(kernel(X, Y, theta, float(learning_rate), costs, threads, size))


# ================================================================ prediction
# The forward pass alone (_cython_kernels.pyx "prediction", _tile_impl.h
# tl_any_nonfinite, tl_sigmoid_tile, tl_forward_tile): same helper names.

# forward_chunk's result: bits saying what was wrong (0: nothing). X_BEYOND_LIMIT:
# X holds a NaN, an infinity, or a value so large that W1 x + b1 could overflow.
X_BEYOND_LIMIT = 1
PARAMS_NOT_FINITE = 2
OVERFLOW = 4


@jit()
def _forward_work_size(f, h, rows):
    """Scratch elements of one forward slot (tiles of X, hidden, outputs), whole cache lines."""
    return ((f + h + rows) * TILE + _ALIGN - 1) // _ALIGN * _ALIGN


@jit(inline=True)
def _tile_forward(X, W1, b1, W2, b2, f, h, o, mode, limit, t0, count, xt, a1, zt, out):
    """Outputs of the count samples from t0 (one tile) into their columns of out, through
    the tiles xt, a1 and zt (full or small); returns flags."""
    flags = 0
    gather_tile(X, t0, count, xt)
    if any_beyond(xt, limit):
        flags |= X_BEYOND_LIMIT
    if forward_tile(W1, b1, W2, b2, xt, f, h, o, mode, a1, zt):
        flags |= OVERFLOW
    for r in range(zt.shape[0]):
        for s in range(count):
            out[r, t0 + s] = zt[r, s]
    return flags


@jit()
def _block_forward(X, theta, hidden, n_outputs, mode, limit, start, stop, work, out):
    """Outputs of the samples [start, stop) into their columns of out; returns flags.

    work: this slot's scratch, _forward_work_size() elements. The last few samples
    (at most SMALL_TILE, narrow inputs) go through a small tile, as in training: a
    one-sample prediction then computes 16 samples' tanh and products, not 64 (each
    sample's sums are the same either way).
    """
    prefer_wide_vectors()
    X, theta, work, out = unowned(X), unowned(theta), unowned(work), unowned(out)  # see _block_sums
    f = X.shape[0]
    h = hidden
    o = n_outputs
    rows = 2 if mode == 2 else o
    W1 = theta[: h * f]
    b1 = theta[h * f : h * f + h]
    W2 = theta[h * f + h : h * f + h + o * h]
    b2 = theta[h * f + h + o * h : h * f + h + o * h + o]
    x_at, a1_at, z_at = 0, f * TILE, (f + h) * TILE
    xt = full_tile(rows_of(work, x_at, f, TILE))
    a1 = full_tile(rows_of(work, a1_at, h, TILE))
    zt = full_tile(rows_of(work, z_at, rows, TILE))
    # Small tiles: the first rows x SMALL_TILE of each region, their width a run-time
    # value (see _tile_views).
    xs = rows_of(work, x_at, f, SMALL_TILE)
    a1s = rows_of(work, a1_at, h, SMALL_TILE)
    zs = rows_of(work, z_at, rows, SMALL_TILE)
    small_ok = f <= FEATURE_CHUNK  # wide_forward takes full tiles only
    flags = 0
    for tile in range((stop - start + TILE - 1) // TILE):
        t0 = start + tile * TILE
        count = min(TILE, stop - t0)
        if small_ok and count <= SMALL_TILE:
            flags |= _tile_forward(X, W1, b1, W2, b2, f, h, o, mode, limit, t0, count, xs,
                                   a1s, zs, out)  # fmt: skip
        else:
            flags |= _tile_forward(X, W1, b1, W2, b2, f, h, o, mode, limit, t0, count, xt,
                                   a1, zt, out)  # fmt: skip
    return flags


@jit(inline=True)
def _serial_forward(X, theta, hidden, n_outputs, mode, limit, start, stop, work, out, slot_flags):
    """_all_forward on one slot: every block in turn on work[0]."""
    for b in range((stop - start + BLOCK - 1) // BLOCK):
        slot_flags[0] |= _block_forward(X, theta, hidden, n_outputs, mode, limit,
                                        start + b * BLOCK, min(stop, start + (b + 1) * BLOCK),
                                        work[0], out)  # fmt: skip


@jit(parallel=True)
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


@jit(inline=True)
def _copy_matrix(A, out):
    """out = A's elements row by row, from any strides; returns their number."""
    p = 0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            out[p] = A[i, j]
            p += 1
    return p


@jit(
    lambda t, threads: types.intp(
        matrix_type(t), matrix_type(t), matrix_type(t), matrix_type(t), matrix_type(t),
        types.Array(t, 2, "A"),
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
    if any_nonfinite(theta):
        return PARAMS_NOT_FINITE
    W1_end = hidden * f
    if outputs_overflow(theta[W1_end + hidden :], theta[W1_end + hidden + o * hidden :],
                         hidden, o):  # fmt: skip
        return OVERFLOW
    limit = input_limit(theta, theta[W1_end:], f, hidden)
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
    kernel = compiled(_forward_chunk, X.dtype, threads is not None)
    return kernel(X, W1, b1, W2, b2, out, start, stop, mode, threads)


# ================================================================ elementwise access for tests


@jit(lambda t: types.void(vector_type(t), vector_type(t)))
def _tanh_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = _tanh(x[i])


@jit(lambda t: types.void(vector_type(t), vector_type(t)))
def _exp_neg_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = _exp_neg(x[i])


@jit(lambda t: types.void(vector_type(t), vector_type(t)))
def _log1p_unit_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = _log1p_unit(x[i])


@jit(lambda t: types.void(vector_type(t), vector_type(t), vector_type(t), vector_type(t)))
def _loss_and_residual_loop(z, y, loss, residual):
    for i in range(z.shape[0]):
        loss[i], residual[i] = _loss_and_residual(z[i], y[i])


def tanh(x, out):
    """out = tanh(x) with the kernels' approximation."""
    compiled(_tanh_loop, x.dtype)(x, out)


def exp_neg(x, out):
    """out = exp(x) for x <= 0 with the kernels' approximation."""
    compiled(_exp_neg_loop, x.dtype)(x, out)


def log1p_unit(x, out):
    """out = log1p(x) for x in [0, 1] with the kernels' approximation."""
    compiled(_log1p_unit_loop, x.dtype)(x, out)


def loss_and_residual(z, y, loss, residual):
    """Per-element loss and residual as the kernels compute them."""
    compiled(_loss_and_residual_loop, z.dtype)(z, y, loss, residual)
