# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, cpow=True
"""Fused training kernels for a two-layer tanh/sigmoid network (Cython).

Design
------
One iteration of full-batch gradient descent is one pass over the samples
followed by an in-place update of the packed parameters ``theta`` (layout in
``twolayer._params``). The pass never materialises a (hidden x n_samples)
array: samples go through in *tiles* of TILE columns whose activations stay
in cache, and tiles are grouped in *blocks* of TILES_PER_BLOCK tiles.

* A block is the unit of parallel work and of partial sums: each block writes
  its gradient and cost sums to its own row of ``partials``, and the rows are
  added in block order. Block boundaries depend only on n_samples, so the
  result is bitwise identical for every thread count.
* Sums over samples inside a block use LANES independent accumulators
  (sample s goes to lane s % LANES) that are added in a fixed order at the
  end: the compiler vectorises them without reassociating anything.
* The last tile is padded with zeros and its padded samples get dy = 0, so
  they add exact zeros to every sum. When few samples are left (at most
  TILE - SMALL_TILE), they go in small tiles of SMALL_TILE instead: the same
  sums, bit for bit, with less padding (a batch of 200: 208 slots, not 256;
  one sigmoid output or softmax only, see _block_sums).
* Within a tile, three fused steps do the work: ``tl_hidden_layer_forward``
  (W1 x + b1 in register blocks of hidden units x samples, then tanh),
  ``tl_output_unit`` (one output: logits, loss, residual and their sums; or
  ``tl_softmax_outputs``) and ``tl_hidden_layer_backward`` (back through W2
  and tanh, then the W1 sums in register blocks of hidden units x features),
  called by ``tl_tile_sums``. Their loops are C (``_tile_impl.h``, lane
  vectors from ``_vector.h``), where the blocks of partial sums stay in
  registers.
* Wide inputs (more than FEATURE_CHUNK features): a tile's feature rows no
  longer fit in L1, so the two layer products over them go a chunk of rows at
  a time for every hidden unit; each sum adds the same terms in the same
  order, so the rounding is that of the narrow path.
* tanh, exp and log1p come from ``_fastmath.h``: branch-free approximations
  that the compiler vectorises (libm's are scalar calls).
* The Python layer validates every shape and dtype; these functions trust
  them (bounds checks are off) and release the GIL for the whole chunk.

Mini-batch epochs with the training options (``train_epoch``): ``_epochs.pxi``,
included below, on the same block pass.

Numba mirror: ``python/twolayer/_numba_kernels.py`` (same helper names) and
``python/twolayer/_numba_epochs.py``.
"""

from cython.parallel cimport prange, threadid
from libc.math cimport isfinite, sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from twolayer._geometry import work_size


cdef extern from "<stdlib.h>" nogil:
    void* aligned_alloc(size_t alignment, size_t size)


cdef extern from "_tile.h" nogil:
    double tl_exp_neg(double x)
    float tl_exp_negf(float x)
    double tl_tanh(double x)
    float tl_tanhf(float x)
    double tl_log1p_unit(double e)
    float tl_log1p_unitf(float e)
    double tl_log_loss(double z, double y, double e)
    float tl_log_lossf(float z, float y, float e)
    double tl_sigmoid(double z, double e)
    float tl_sigmoidf(float z, float e)
    void tl_tile_sums(const double* W1, const double* b1, const double* W2, const double* b2,
                      const double* xt, Py_ssize_t x_stride, const double* yt, const double* wt,
                      Py_ssize_t f, Py_ssize_t h, Py_ssize_t o, Py_ssize_t count, int softmax,
                      double* a1, double* dy, double* dz, double* acc)
    void tl_tile_sumsf(const float* W1, const float* b1, const float* W2, const float* b2,
                       const float* xt, Py_ssize_t x_stride, const float* yt, const float* wt,
                       Py_ssize_t f, Py_ssize_t h, Py_ssize_t o, Py_ssize_t count, int softmax,
                       float* a1, float* dy, float* dz, float* acc)
    void tl_tile_sums_s(const double* W1, const double* b1, const double* W2, const double* b2,
                        const double* xt, Py_ssize_t x_stride, const double* yt, const double* wt,
                        Py_ssize_t f, Py_ssize_t h, Py_ssize_t o, Py_ssize_t count, int softmax,
                        double* a1, double* dy, double* dz, double* acc)
    void tl_tile_sumsf_s(const float* W1, const float* b1, const float* W2, const float* b2,
                         const float* xt, Py_ssize_t x_stride, const float* yt, const float* wt,
                         Py_ssize_t f, Py_ssize_t h, Py_ssize_t o, Py_ssize_t count, int softmax,
                         float* a1, float* dy, float* dz, float* acc)
    void tl_prefetch_columns(const double* base, Py_ssize_t rows, Py_ssize_t row_stride,
                             Py_ssize_t col_stride, const int64_t* idx, Py_ssize_t count)
    void tl_prefetch_columnsf(const float* base, Py_ssize_t rows, Py_ssize_t row_stride,
                              Py_ssize_t col_stride, const int64_t* idx, Py_ssize_t count)
    void tl_gather_columns(const double* base, Py_ssize_t rows, Py_ssize_t col_stride,
                           const int64_t* idx, Py_ssize_t start, Py_ssize_t count,
                           Py_ssize_t width, double* out)
    void tl_gather_columnsf(const float* base, Py_ssize_t rows, Py_ssize_t col_stride,
                            const int64_t* idx, Py_ssize_t start, Py_ssize_t count,
                            Py_ssize_t width, float* out)
    void tl_reduce_lanes(const double* acc, Py_ssize_t n, double* out)
    void tl_reduce_lanesf(const float* acc, Py_ssize_t n, float* out)
    int tl_batch_step(double* acc, const double* sums, const double* P, const double* m,
                      const double* v, Py_ssize_t n, double alpha, double S, int solver,
                      double lr, double momentum, double b1, double one_b1, double b2,
                      double one_b2, double eps, int penalise, double* penalty, double* P_new,
                      double* m_new, double* v_new)
    int tl_batch_stepf(float* acc, const float* sums, const float* P, const float* m,
                       const float* v, Py_ssize_t n, float alpha, float S, int solver,
                       float lr, float momentum, float b1, float one_b1, float b2,
                       float one_b2, float eps, int penalise, float* penalty, float* P_new,
                       float* m_new, float* v_new)
    enum:
        TL_TILE
        TL_SMALL_TILE
        TL_LANES
        TL_FEATURE_CHUNK
        TL_TILES_PER_BLOCK
        TL_ALIGN
    enum:  # train_epoch's solver codes (_optimizer_impl.h)
        TL_SGD
        TL_NESTEROV
        TL_ADAM


cdef extern from "_peak.h" nogil:
    double tl_fma_peakd(long rounds, double* checksum)
    double tl_fma_peakf(long rounds, double* checksum)


ctypedef fused floating:
    float
    double

# As compiled in (from twolayer._geometry, through CMakeLists.txt): the tests
# check that this build and the Numba mirror agree with it.
TILE = TL_TILE
SMALL_TILE = TL_SMALL_TILE
LANES = TL_LANES
TILES_PER_BLOCK = TL_TILES_PER_BLOCK
BLOCK = TL_TILE * TL_TILES_PER_BLOCK
FEATURE_CHUNK = TL_FEATURE_CHUNK
# train_epoch's solver codes, as compiled in: the tests check twolayer._solver_codes.
SGD = TL_SGD
NESTEROV = TL_NESTEROV
ADAM = TL_ADAM

cdef enum:
    _TILE = TL_TILE
    _SMALL = TL_SMALL_TILE
    _LANES = TL_LANES
    _TILES_PER_BLOCK = TL_TILES_PER_BLOCK
    _BLOCK = _TILE * _TILES_PER_BLOCK
    _CHUNK = TL_FEATURE_CHUNK
    _ALIGN = TL_ALIGN  # elements per 64-byte cache line in float32 (a multiple of it in float64)
    _X_LINES_PER_SET = 4  # at most this many of a tile's lines of X per L1 set, read in place


# ---------------------------------------------------------------- per-point helpers

cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is double:
        return tl_tanh(x)
    else:
        return tl_tanhf(x)


cdef inline floating _exp_neg(floating x) noexcept nogil:
    if floating is double:
        return tl_exp_neg(x)
    else:
        return tl_exp_negf(x)


cdef inline floating _log1p_unit(floating e) noexcept nogil:
    if floating is double:
        return tl_log1p_unit(e)
    else:
        return tl_log1p_unitf(e)


cdef inline floating _log_loss(floating z, floating y, floating e) noexcept nogil:
    """Binary cross-entropy of sigmoid(z) against y, given e = exp(-|z|); never log(0)."""
    if floating is double:
        return tl_log_loss(z, y, e)
    else:
        return tl_log_lossf(z, y, e)


cdef inline floating _sigmoid(floating z, floating e) noexcept nogil:
    """sigmoid(z) given e = exp(-|z|); no overflow on either side."""
    if floating is double:
        return tl_sigmoid(z, e)
    else:
        return tl_sigmoidf(z, e)


cdef inline floating _loss_and_residual(floating z, floating y, floating* residual) noexcept nogil:
    """Binary cross-entropy from the logit z, and residual = sigmoid(z) - y."""
    cdef floating a = -z if z < 0 else z   # not fabs: that is double, and would pick the
    cdef floating e = _exp_neg(-a)          # double exp for float32 inputs
    residual[0] = _sigmoid(z, e) - y
    return _log_loss(z, y, e)


# ---------------------------------------------------------------- tile helpers
# One tile's whole step is C (tl_tile_sums, _tile_impl.h, where ``restrict``
# lets the compiler keep a tile row in registers), for full and small tiles.


cdef inline void _tile_sums(const floating* W1, const floating* b1, const floating* W2,
                            const floating* b2, const floating* xt, Py_ssize_t x_stride,
                            const floating* yt,
                            const floating* wt, Py_ssize_t f, Py_ssize_t h, Py_ssize_t o,
                            Py_ssize_t count, int softmax, bint small, floating* a1,
                            floating* dy, floating* dz, floating* acc) noexcept nogil:
    """One tile forward and back, its sums added to the lane sums acc (small: a tile of
    SMALL_TILE samples)."""
    if floating is double:
        if small:
            tl_tile_sums_s(W1, b1, W2, b2, xt, x_stride, yt, wt, f, h, o, count, softmax, a1, dy,
                           dz, acc)
        else:
            tl_tile_sums(W1, b1, W2, b2, xt, x_stride, yt, wt, f, h, o, count, softmax, a1, dy,
                         dz, acc)
    else:
        if small:
            tl_tile_sumsf_s(W1, b1, W2, b2, xt, x_stride, yt, wt, f, h, o, count, softmax, a1, dy,
                            dz, acc)
        else:
            tl_tile_sumsf(W1, b1, W2, b2, xt, x_stride, yt, wt, f, h, o, count, softmax, a1, dy,
                          dz, acc)


cdef inline void _gather_tile(
    const floating* base,      # IN  first element of the array
    Py_ssize_t rows,
    Py_ssize_t row_stride,     # in elements
    Py_ssize_t col_stride,     # in elements
    const int64_t* idx,        # IN  the columns to take (count of them), or NULL: consecutive
    Py_ssize_t start,          #     the first column when idx is NULL
    Py_ssize_t count,          # columns present (<= width)
    Py_ssize_t width,          # the tile's width: TILE or SMALL_TILE
    floating* out,             # OUT rows x width, zero-padded
) noexcept nogil:
    """Copy columns [start, start + count), or idx[0:count], into a contiguous, padded tile.

    Reading through strides lets X stay in the caller's layout (C, Fortran or
    any view) with no full copy; the tile is small and stays in cache. A
    shuffled batch is gathered through idx here, tile by tile.
    """
    cdef Py_ssize_t r, s
    cdef const floating* row
    if row_stride == 1 and col_stride > 1:
        # A sample's values are contiguous (X.T of a C-ordered array): blocks of
        # samples through registers (_gather_impl.h), in order or through idx.
        if floating is double:
            tl_gather_columns(base, rows, col_stride, idx, start, count, width, out)
        else:
            tl_gather_columnsf(base, rows, col_stride, idx, start, count, width, out)
        for r in range(rows):
            for s in range(count, width):
                out[r * width + s] = 0
        return
    if idx != NULL:
        if row_stride < col_stride:
            # A sample's values are close together (X.T of a C-ordered array):
            # visit them sample by sample, a cache line or two each.
            for s in range(count):
                row = base + idx[s] * col_stride
                for r in range(rows):
                    out[r * width + s] = row[r * row_stride]
        else:
            for r in range(rows):
                row = base + r * row_stride
                for s in range(count):
                    out[r * width + s] = row[idx[s] * col_stride]
        for r in range(rows):
            for s in range(count, width):
                out[r * width + s] = 0
        return
    for r in range(rows):
        row = base + r * row_stride + start * col_stride
        if col_stride == 1 and count == _TILE:
            # A constant size: the compiler inlines the copy as vector moves
            # instead of calling memcpy (measured: 0.12 -> 0.04 us/iteration
            # of gather on the tutorial's run).
            memcpy(&out[r * _TILE], row, _TILE * sizeof(floating))
            continue
        if col_stride == 1:
            memcpy(&out[r * width], row, count * sizeof(floating))
        else:
            for s in range(count):
                out[r * width + s] = row[s * col_stride]
        for s in range(count, width):
            out[r * width + s] = 0


cdef inline Py_ssize_t _tile_width(Py_ssize_t left, Py_ssize_t last_full) noexcept nogil:
    """The next tile's width with ``left`` samples to go: TILE, then SMALL_TILE once at most
    ``last_full`` are left."""
    return _TILE if left > last_full else _SMALL


cdef inline bint _rows_crowd_l1(Py_ssize_t row_bytes, Py_ssize_t f,
                                Py_ssize_t tile_bytes) noexcept nogil:
    """Whether a tile of f rows, row_bytes apart, puts more than _X_LINES_PER_SET of its
    cache lines in one set of L1 (x86 L1 data caches: 64 sets of 64-byte lines, a set
    every 4 kB, 8 or 12 ways).

    Rows a multiple of 4 kB apart (n a multiple of 512 float64 samples: 2048, 4096,
    100,352...) all land in the same sets; the tile then no longer fits L1 beside the
    activations, and every pass over it came from L2 (measured, 20 features, hidden 64,
    AVX-512: 11.0-11.7 us a tile in place, 8.7-9.4 gathered; other strides 8.8-9.0 in
    place, the same or up to 4% more gathered).
    """
    cdef int lines[64]
    cdef Py_ssize_t r, i, first
    if f <= _X_LINES_PER_SET:   # a row puts at most one line in a set
        return False
    memset(lines, 0, sizeof(lines))
    for r in range(f):
        first = ((r * row_bytes) % 4096 + 4096) % 4096 // 64
        for i in range(tile_bytes // 64):
            lines[(first + i) % 64] += 1
    for i in range(64):
        if lines[i] > _X_LINES_PER_SET:
            return True
    return False


cdef inline bint _reads_x_in_place(Py_ssize_t x_rs, Py_ssize_t x_cs, Py_ssize_t f,
                                   Py_ssize_t itemsize) noexcept nogil:
    """Whether full tiles of consecutive samples read X where it is: when a row's samples
    are contiguous (X C-ordered, the tutorial's layout), no copy, and X streams through
    the cache once (measured: the copy was a tenth of an iteration on 100,000 x 20);
    unless the rows' stride crowds L1's sets (_rows_crowd_l1). Wide inputs keep gathered
    tiles (their feature-chunk loops assume them)."""
    return (x_cs == 1 and f <= _CHUNK
            and not _rows_crowd_l1(x_rs * itemsize, f, _TILE * itemsize))


cdef inline const floating* _x_tile(
    const floating* X, Py_ssize_t f, Py_ssize_t x_rs, Py_ssize_t x_cs,
    const int64_t* idx, Py_ssize_t t0, Py_ssize_t count, Py_ssize_t width,
    bint in_place,             # IN  _reads_x_in_place, and no order
    floating* xt,              # OUT the gathered tile, when not read in place
    Py_ssize_t* x_stride,      # OUT the rows' stride in the tile returned
) noexcept nogil:
    """The tile's feature rows: X's own for a full tile read in place, else gathered."""
    if in_place and count == _TILE:
        x_stride[0] = x_rs
        return X + t0
    _gather_tile(X, f, x_rs, x_cs, idx, t0, count, width, xt)
    x_stride[0] = width
    return xt


cdef inline void _prefetch_columns(const floating* base, Py_ssize_t rows, Py_ssize_t row_stride,
                                   Py_ssize_t col_stride, const int64_t* idx,
                                   Py_ssize_t count) noexcept nogil:
    """Ask for the cache lines of the columns idx[0:count] (see _tile_impl.h)."""
    if floating is double:
        tl_prefetch_columns(base, rows, row_stride, col_stride, idx, count)
    else:
        tl_prefetch_columnsf(base, rows, row_stride, col_stride, idx, count)


cdef inline floating* _lanes(floating* work, Py_ssize_t f, Py_ssize_t h,
                             Py_ssize_t o) noexcept nogil:
    """The lane sums' place in a slot's scratch: after the tiles (see _block_tiles)."""
    return work + (f + o + h + o + h + 1) * _TILE


cdef void _block_tiles(
    const floating* X, Py_ssize_t x_rs, Py_ssize_t x_cs,    # IN  X (n_features, n_samples)
    const floating* Y, Py_ssize_t y_rs, Py_ssize_t y_cs,    # IN  Y (n_outputs, n_samples)
    const int64_t* order,                                   # IN  sample of each position, or NULL
    const floating* sw,                                     # IN  sample weights, or NULL
    int softmax,                                            # IN  0 sigmoid outputs, 1 softmax
    const floating* theta,                                  # IN  packed parameters
    Py_ssize_t n_features, Py_ssize_t hidden, Py_ssize_t n_outputs,
    Py_ssize_t start, Py_ssize_t stop,                      # IN  positions of this block
    Py_ssize_t n_positions,                                 # IN  order's length (to read ahead)
    floating* work,                                         # scratch, work_size() elements
) noexcept nogil:
    """Add the gradient and cost sums of the samples at positions [start, stop) to the
    lane sums (_lanes(work): LANES per packed parameter, then the cost's).

    Position p is sample order[p] (p when order is NULL); weighted sums when sw
    is not NULL. Without order, weights and softmax this is train_chunk's pass,
    bit for bit: the extra steps are skipped, never multiplied by one.
    """
    cdef Py_ssize_t f = n_features, h = hidden, o = n_outputs
    cdef const floating* W1 = theta
    cdef const floating* b1 = theta + h * f
    cdef const floating* W2 = b1 + h
    cdef const floating* b2 = W2 + o * h
    # Scratch: tiles of X, Y, hidden activations, residuals, hidden deltas, weights,
    # then the lane sums. A small tile uses the first rows x SMALL_TILE of each.
    cdef floating* xt = work
    cdef floating* yt = xt + f * _TILE
    cdef floating* a1 = yt + o * _TILE
    cdef floating* dy = a1 + h * _TILE
    cdef floating* dz = dy + o * _TILE
    cdef floating* wt = dz + h * _TILE         # the tile's sample weights (weighted only)
    cdef floating* acc = _lanes(work, f, h, o)   # (n_params + 1) x LANES
    cdef Py_ssize_t t0 = start, count, width, last_full, x_stride
    cdef const int64_t* idx = NULL
    cdef const floating* weights = NULL
    cdef const floating* xp
    cdef bint in_place = order == NULL and _reads_x_in_place(x_rs, x_cs, f, sizeof(floating))

    # Small tiles keep every sum's order but one: with several sigmoid outputs, a
    # lane of the cost takes the tile's samples output by output, and so in
    # another order when a tile is split. Those keep full tiles (and their bits).
    last_full = _TILE - _SMALL if (softmax or o == 1) else 0

    while t0 < stop:
        # Full tiles, then the last few samples (at most TILE - SMALL_TILE) in small
        # tiles: same sums, less padding (see _tile.h).
        width = _tile_width(stop - t0, last_full)
        count = min(width, stop - t0)
        if order != NULL:
            idx = order + t0
        xp = _x_tile(X, f, x_rs, x_cs, idx, t0, count, width, in_place, xt, &x_stride)
        _gather_tile(Y, o, y_rs, y_cs, idx, t0, count, width, yt)
        if sw != NULL:
            _gather_tile(sw, 1, 0, 1, idx, t0, count, width, wt)
            weights = wt
        if order != NULL:   # the next tile's samples, even in the next batch
            _prefetch_columns(X, f, x_rs, x_cs, idx + count,
                              min(_TILE, n_positions - t0 - count))
            _prefetch_columns(Y, o, y_rs, y_cs, idx + count,
                              min(_TILE, n_positions - t0 - count))
        _tile_sums(W1, b1, W2, b2, xp, x_stride, yt, weights, f, h, o, count, softmax,
                   width == _SMALL, a1, dy, dz, acc)
        t0 += count


cdef void _block_sums(
    const floating* X, Py_ssize_t x_rs, Py_ssize_t x_cs, const floating* Y, Py_ssize_t y_rs,
    Py_ssize_t y_cs, const int64_t* order, const floating* sw, int softmax,
    const floating* theta, Py_ssize_t n_features, Py_ssize_t hidden, Py_ssize_t n_outputs,
    Py_ssize_t start, Py_ssize_t stop, Py_ssize_t n_positions, floating* work,
    floating* out,                                          # OUT n_params gradient sums + cost sum
) noexcept nogil:
    """The gradient and cost sums of the samples at positions [start, stop) (see
    _block_tiles), from zeroed lanes, reduced to scalars."""
    cdef Py_ssize_t n_params = hidden * n_features + hidden + n_outputs * hidden + n_outputs
    cdef floating* acc = _lanes(work, n_features, hidden, n_outputs)
    cdef Py_ssize_t i
    for i in range((n_params + 1) * _LANES):
        acc[i] = 0
    _block_tiles(X, x_rs, x_cs, Y, y_rs, y_cs, order, sw, softmax, theta, n_features, hidden,
                 n_outputs, start, stop, n_positions, work)
    # Lanes to scalars, in a fixed order.
    if floating is double:
        tl_reduce_lanes(acc, n_params + 1, out)
    else:
        tl_reduce_lanesf(acc, n_params + 1, out)


cdef void _all_sums(
    const floating[:, :] X, const floating[:, :] Y, const int64_t* order, const floating* sw,
    int softmax, const floating* theta, Py_ssize_t hidden, Py_ssize_t start, Py_ssize_t stop,
    floating* work, Py_ssize_t work_size, floating* partials, Py_ssize_t n_slots,
) noexcept nogil:
    """Gradient and cost sums of every block of positions [start, stop) into its row
    of ``partials`` (see _block_sums for order, sw and softmax).

    Blocks are counted from start and handed to the threads as they come free
    (a descheduled thread on a busy machine holds up no one's turn); each
    thread has its own scratch slot. Which thread runs which block does not
    matter: every block's sums land in that block's row.
    """
    cdef Py_ssize_t f = X.shape[0], o = Y.shape[0]
    cdef Py_ssize_t n_params = hidden * f + hidden + o * hidden + o
    cdef Py_ssize_t n_blocks = (stop - start + _BLOCK - 1) // _BLOCK
    cdef Py_ssize_t x_rs = X.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t x_cs = X.strides[1] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t y_rs = Y.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t y_cs = Y.strides[1] // <Py_ssize_t> sizeof(floating)
    cdef const floating* xp = &X[0, 0]
    cdef const floating* yp = &Y[0, 0]
    cdef Py_ssize_t q, b
    if n_slots <= 1 or n_blocks <= 1:
        for b in range(n_blocks):
            _block_sums(xp, x_rs, x_cs, yp, y_rs, y_cs, order, sw, softmax, theta, f, hidden, o,
                        start + b * _BLOCK, min(stop, start + (b + 1) * _BLOCK), X.shape[1],
                        work, &partials[b * (n_params + 1)])
        return
    for b in prange(n_blocks, num_threads=n_slots, schedule="dynamic"):
        q = threadid()
        _block_sums(xp, x_rs, x_cs, yp, y_rs, y_cs, order, sw, softmax, theta, f, hidden, o,
                    start + b * _BLOCK, min(stop, start + (b + 1) * _BLOCK), X.shape[1],
                    &work[q * work_size], &partials[b * (n_params + 1)])


cdef inline void _reduce_blocks(
    const floating* partials, Py_ssize_t n_blocks, Py_ssize_t width, floating* out,
) noexcept nogil:
    """out[i] = sum over blocks of partials[b, i], blocks in order."""
    cdef Py_ssize_t i, b
    for i in range(width):
        out[i] = partials[i]
    for b in range(1, n_blocks):
        for i in range(width):
            out[i] += partials[b * width + i]


cdef Py_ssize_t _n_slots(Py_ssize_t n, Py_ssize_t n_threads) noexcept nogil:
    return max(1, min(n_threads, (n + _BLOCK - 1) // _BLOCK))


cdef inline Py_ssize_t _lines(Py_ssize_t count) noexcept nogil:
    """``count`` elements rounded up to whole cache lines (ALIGN elements)."""
    return (count + _ALIGN - 1) // _ALIGN * _ALIGN


cdef class _Scratch:
    """One call's scratch in one C buffer, freed with this object: the tile scratch of
    each slot (slot_size elements), one row of partial sums per block, the reduced sums
    (n_params + 1), then ``extra`` elements (candidates).

    In C, not NumPy: four arrays and their memoryviews cost ~4 us per call, more than
    the arithmetic of a small fit (issue 12). 64-byte aligned, so every tile row
    starts a cache line (np.empty promises 16 bytes: measured, the same kernel ran
    up to 30% slower with a misaligned start).
    """
    cdef void* data
    cdef Py_ssize_t n_slots, slot_size, partials_at, sums_at, extra_at

    def __cinit__(self, Py_ssize_t f, Py_ssize_t hidden, Py_ssize_t o, Py_ssize_t n,
                  Py_ssize_t n_threads, Py_ssize_t extra, size_t itemsize):
        cdef Py_ssize_t n_params = hidden * f + hidden + o * hidden + o
        cdef Py_ssize_t n_blocks = (n + _BLOCK - 1) // _BLOCK
        self.n_slots = _n_slots(n, n_threads)
        self.slot_size = work_size(f, hidden, o)
        self.partials_at = self.n_slots * self.slot_size
        self.sums_at = _lines(self.partials_at + n_blocks * (n_params + 1))
        self.extra_at = self.sums_at + _lines(n_params + 1)
        self.data = aligned_alloc(64, _lines(self.extra_at + extra) * itemsize)
        if self.data == NULL:
            raise MemoryError("no memory for the kernels' scratch")

    def __dealloc__(self):
        free(self.data)


cdef inline void _sums(
    const floating[:, :] X, const floating[:, :] Y, const floating* theta, Py_ssize_t hidden,
    floating* work, Py_ssize_t work_size, floating* partials, Py_ssize_t n_slots,
    floating* out,                     # OUT n_params gradient sums, then the cost sum
) noexcept nogil:
    cdef Py_ssize_t f = X.shape[0], o = Y.shape[0], n = X.shape[1]
    cdef Py_ssize_t n_params = hidden * f + hidden + o * hidden + o
    _all_sums(X, Y, NULL, NULL, 0, theta, hidden, 0, n, work, work_size, partials, n_slots)
    _reduce_blocks(partials, (n + _BLOCK - 1) // _BLOCK, n_params + 1, out)


def gradient_sums(const floating[:, :] X, const floating[:, :] Y, floating[::1] theta,
                  floating[::1] grad, Py_ssize_t n_threads):
    """Write the gradient of the summed cost into ``grad``; return the summed cost."""
    cdef Py_ssize_t f = X.shape[0], o = Y.shape[0], n = X.shape[1]
    cdef Py_ssize_t n_params = theta.shape[0]
    cdef Py_ssize_t hidden = (n_params - o) // (f + 1 + o)
    cdef _Scratch scratch = _Scratch(f, hidden, o, n, n_threads, 0, sizeof(floating))
    cdef floating* work = <floating*> scratch.data
    cdef floating* sums = work + scratch.sums_at
    with nogil:
        _sums(X, Y, &theta[0], hidden, work, scratch.slot_size,
              work + scratch.partials_at, scratch.n_slots, sums)
        memcpy(&grad[0], sums, n_params * sizeof(floating))
    return float(sums[n_params])


def train_chunk(const floating[:, :] X, const floating[:, :] Y, floating[::1] theta,
                double learning_rate, floating[::1] costs, Py_ssize_t n_threads):
    """Run ``len(costs)`` iterations of gradient descent, updating ``theta`` in place.

    Returns the number of iterations completed; a smaller number j means
    iteration j gave a non-finite cost or update, ``costs[j]`` holds that
    cost and ``theta`` keeps the last finite parameters.
    """
    cdef Py_ssize_t f = X.shape[0], o = Y.shape[0], n = X.shape[1]
    cdef Py_ssize_t n_params = theta.shape[0]
    cdef Py_ssize_t hidden = (n_params - o) // (f + 1 + o)
    cdef _Scratch scratch = _Scratch(f, hidden, o, n, n_threads, n_params, sizeof(floating))
    cdef floating* work = <floating*> scratch.data
    cdef floating* sums = work + scratch.sums_at
    cdef floating* candidate = work + scratch.extra_at
    cdef floating lr = <floating> learning_rate
    cdef floating inv_m = <floating> 1 / <floating> n
    cdef Py_ssize_t it, i, completed = costs.shape[0]
    cdef bint finite
    with nogil:
        for it in range(costs.shape[0]):
            _sums(X, Y, &theta[0], hidden, work, scratch.slot_size,
                  work + scratch.partials_at, scratch.n_slots, sums)
            costs[it] = sums[n_params] / n
            finite = isfinite(costs[it])
            # The tutorial's update, P - lr * ((1 / m) * dP_sum), into a candidate
            # so that a non-finite step never reaches theta.
            for i in range(n_params):
                candidate[i] = theta[i] - lr * (inv_m * sums[i])
                finite = finite & isfinite(candidate[i])
            if not finite:
                completed = it
                break
            memcpy(&theta[0], candidate, n_params * sizeof(floating))
    return completed


# ---------------------------------------------------------------- mini-batch epochs

include "_epochs.pxi"


# ---------------------------------------------------------------- the machine's bound

def fma_peak(long rounds, bint single=False):
    """Multiply-adds done by ``rounds`` rounds of register-only vector multiply-adds
    (_peak.h; float32 if ``single``), and a checksum; time it for this build's peak rate."""
    cdef double done, checksum = 0
    with nogil:
        if single:
            done = tl_fma_peakf(rounds, &checksum)
        else:
            done = tl_fma_peakd(rounds, &checksum)
    return done, checksum


# ---------------------------------------------------------------- elementwise access for tests

# ``repeats`` > 1 evaluates the whole array again that many times inside one call:
# the bench's roofline times the kernels' rates there, free of the call's fixed cost.

def tanh(floating[::1] x, floating[::1] out, long repeats=1):
    """out = tanh(x) with the kernels' approximation (``repeats`` times over)."""
    cdef Py_ssize_t i
    cdef long r
    with nogil:
        for r in range(repeats):
            for i in range(x.shape[0]):
                out[i] = _tanh(x[i])


def exp_neg(floating[::1] x, floating[::1] out, long repeats=1):
    """out = exp(x) for x <= 0 with the kernels' approximation (``repeats`` times over)."""
    cdef Py_ssize_t i
    cdef long r
    with nogil:
        for r in range(repeats):
            for i in range(x.shape[0]):
                out[i] = _exp_neg(x[i])


def log1p_unit(floating[::1] x, floating[::1] out, long repeats=1):
    """out = log1p(x) for x in [0, 1] with the kernels' approximation (``repeats`` times)."""
    cdef Py_ssize_t i
    cdef long r
    with nogil:
        for r in range(repeats):
            for i in range(x.shape[0]):
                out[i] = _log1p_unit(x[i])


def loss_and_residual(floating[::1] z, floating[::1] y, floating[::1] loss, floating[::1] residual):
    """Per-element loss and residual as the kernels compute them."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(z.shape[0]):
            loss[i] = _loss_and_residual(z[i], y[i], &residual[i])


# ---------------------------------------------------------------- prediction
# The forward pass alone: tiles and blocks as in training, no sums across
# samples (each sample's outputs depend on that sample only, so any blocking
# and thread count give the same bits).

cdef extern from "_tile.h" nogil:
    int tl_any_nonfinite(const double* x, Py_ssize_t n)
    int tl_any_nonfinitef(const float* x, Py_ssize_t n)
    int tl_any_beyond(const double* x, Py_ssize_t n, double limit)
    int tl_any_beyondf(const float* x, Py_ssize_t n, float limit)
    double tl_input_limit(const double* W1, const double* b1, Py_ssize_t n_features,
                          Py_ssize_t hidden)
    float tl_input_limitf(const float* W1, const float* b1, Py_ssize_t n_features,
                          Py_ssize_t hidden)
    int tl_outputs_overflow(const double* W2, const double* b2, Py_ssize_t hidden,
                            Py_ssize_t n_outputs)
    int tl_outputs_overflowf(const float* W2, const float* b2, Py_ssize_t hidden,
                             Py_ssize_t n_outputs)
    int tl_forward_tile(const double* W1, const double* b1, const double* W2,
                        const double* b2, const double* xt, Py_ssize_t x_stride,
                        Py_ssize_t n_features,
                        Py_ssize_t hidden, Py_ssize_t n_outputs, int mode, double* a1,
                        double* out)
    int tl_forward_tilef(const float* W1, const float* b1, const float* W2,
                         const float* b2, const float* xt, Py_ssize_t x_stride,
                         Py_ssize_t n_features,
                         Py_ssize_t hidden, Py_ssize_t n_outputs, int mode, float* a1,
                         float* out)
    int tl_forward_tile_s(const double* W1, const double* b1, const double* W2,
                          const double* b2, const double* xt, Py_ssize_t x_stride,
                          Py_ssize_t n_features, Py_ssize_t hidden, Py_ssize_t n_outputs,
                          int mode, double* a1, double* out)
    int tl_forward_tilef_s(const float* W1, const float* b1, const float* W2,
                           const float* b2, const float* xt, Py_ssize_t x_stride,
                           Py_ssize_t n_features, Py_ssize_t hidden, Py_ssize_t n_outputs,
                           int mode, float* a1, float* out)

# forward_chunk's result: bits saying what was wrong (0: nothing). X_BEYOND_LIMIT:
# X holds a NaN, an infinity, or a value so large that W1 x + b1 could overflow.
X_BEYOND_LIMIT = 1
PARAMS_NOT_FINITE = 2
OVERFLOW = 4


cdef inline int _any_nonfinite(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is double:
        return tl_any_nonfinite(x, n)
    else:
        return tl_any_nonfinitef(x, n)


cdef inline int _any_beyond(const floating* x, Py_ssize_t n, floating limit) noexcept nogil:
    if floating is double:
        return tl_any_beyond(x, n, limit)
    else:
        return tl_any_beyondf(x, n, limit)


cdef inline floating _input_limit(const floating* W1, const floating* b1, Py_ssize_t n_features,
                                  Py_ssize_t hidden) noexcept nogil:
    """The largest |x| for which W1 x + b1 cannot overflow (see _tile_impl.h)."""
    if floating is double:
        return tl_input_limit(W1, b1, n_features, hidden)
    else:
        return tl_input_limitf(W1, b1, n_features, hidden)


cdef inline int _outputs_overflow(const floating* W2, const floating* b2, Py_ssize_t hidden,
                                  Py_ssize_t n_outputs) noexcept nogil:
    """Whether some logit W2 a + b2 could overflow, |a| <= 1."""
    if floating is double:
        return tl_outputs_overflow(W2, b2, hidden, n_outputs)
    else:
        return tl_outputs_overflowf(W2, b2, hidden, n_outputs)


cdef inline int _forward_tile(const floating* W1, const floating* b1, const floating* W2,
                              const floating* b2, const floating* xt, Py_ssize_t x_stride,
                              Py_ssize_t n_features, Py_ssize_t hidden, Py_ssize_t n_outputs,
                              int mode, bint small, floating* a1,
                              floating* out) noexcept nogil:
    """One tile forward: hidden layer into a1, logits or probabilities into out (small: a
    tile of SMALL_TILE samples)."""
    if floating is double:
        if small:
            return tl_forward_tile_s(W1, b1, W2, b2, xt, x_stride, n_features, hidden,
                                     n_outputs, mode, a1, out)
        return tl_forward_tile(W1, b1, W2, b2, xt, x_stride, n_features, hidden, n_outputs,
                               mode, a1, out)
    else:
        if small:
            return tl_forward_tilef_s(W1, b1, W2, b2, xt, x_stride, n_features, hidden,
                                      n_outputs, mode, a1, out)
        return tl_forward_tilef(W1, b1, W2, b2, xt, x_stride, n_features, hidden, n_outputs,
                                mode, a1, out)


cdef Py_ssize_t _forward_work_size(Py_ssize_t f, Py_ssize_t h, Py_ssize_t rows) noexcept nogil:
    """Scratch elements of one forward slot (tiles of X, hidden, outputs), whole cache lines."""
    return ((f + h + rows) * _TILE + _ALIGN - 1) // _ALIGN * _ALIGN


cdef int _block_forward(
    const floating* X, Py_ssize_t x_rs, Py_ssize_t x_cs,    # IN  X (n_features, n_samples)
    const floating* theta,                                  # IN  packed parameters
    Py_ssize_t n_features, Py_ssize_t hidden, Py_ssize_t n_outputs, int mode,
    floating limit,                                         # IN  largest safe |x|
    Py_ssize_t start, Py_ssize_t stop,                      # IN  samples of this block
    floating* work,                                         # scratch, _forward_work_size()
    floating* out, Py_ssize_t o_rs, Py_ssize_t o_cs,        # OUT (rows, n_samples)
) noexcept nogil:
    """Outputs of the samples [start, stop) into their columns of out; returns flags."""
    cdef Py_ssize_t f = n_features, h = hidden, o = n_outputs
    cdef Py_ssize_t rows = 2 if mode == 2 else o
    cdef const floating* W1 = theta
    cdef const floating* b1 = theta + h * f
    cdef const floating* W2 = b1 + h
    cdef const floating* b2 = W2 + o * h
    cdef floating* xt = work
    cdef floating* a1 = xt + f * _TILE
    cdef floating* zt = a1 + h * _TILE
    cdef Py_ssize_t t0 = start, count, width, r, s, x_stride
    cdef floating* target
    cdef const floating* xp
    cdef int flags = 0
    cdef bint in_place = _reads_x_in_place(x_rs, x_cs, f, sizeof(floating))
    while t0 < stop:
        # Each sample's outputs are its own: small tiles for the last few give the same
        # bits with less padding (one sample: 16 slots, not 64).
        width = _tile_width(stop - t0, _TILE - _SMALL)
        count = min(width, stop - t0)
        xp = _x_tile(X, f, x_rs, x_cs, NULL, t0, count, width, in_place, xt, &x_stride)
        for r in range(f):   # a gathered tile's padding is zeros: within any limit
            if _any_beyond(xp + r * x_stride, width, limit):
                flags |= 1
        if _forward_tile(W1, b1, W2, b2, xp, x_stride, f, h, o, mode, width == _SMALL, a1, zt):
            flags |= 4
        for r in range(rows):
            target = out + r * o_rs + t0 * o_cs
            if o_cs == 1:
                memcpy(target, &zt[r * width], count * sizeof(floating))
            else:
                for s in range(count):
                    target[s * o_cs] = zt[r * width + s]
        t0 += count
    return flags


cdef int _all_forward(
    const floating[:, :] X, const floating* theta, Py_ssize_t hidden, Py_ssize_t n_outputs,
    int mode, floating limit, Py_ssize_t start, Py_ssize_t stop, floating* work,
    Py_ssize_t work_size,
    floating[:, :] out, int* slot_flags, Py_ssize_t n_slots,
) noexcept nogil:
    """Every block of [start, stop) forward, handed to the threads as they come free
    (each thread q has scratch slot q and flags slot_flags[q]).

    One slot runs in the calling thread without entering an OpenMP region (the
    fork-safety work relies on that), as _all_sums does.
    """
    cdef Py_ssize_t f = X.shape[0]
    cdef Py_ssize_t n_blocks = (stop - start + _BLOCK - 1) // _BLOCK
    cdef Py_ssize_t x_rs = X.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t x_cs = X.strides[1] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t o_rs = out.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t o_cs = out.strides[1] // <Py_ssize_t> sizeof(floating)
    cdef const floating* xp = &X[0, 0]
    cdef floating* op = &out[0, 0]
    cdef Py_ssize_t q, b
    cdef int flags = 0
    if n_slots <= 1:
        for b in range(n_blocks):
            flags |= _block_forward(xp, x_rs, x_cs, theta, f, hidden, n_outputs, mode, limit,
                                    start + b * _BLOCK, min(stop, start + (b + 1) * _BLOCK),
                                    work, op, o_rs, o_cs)
        return flags
    for b in prange(n_blocks, num_threads=n_slots, schedule="dynamic"):
        q = threadid()
        slot_flags[q] |= _block_forward(xp, x_rs, x_cs, theta, f, hidden, n_outputs, mode,
                                        limit, start + b * _BLOCK,
                                        min(stop, start + (b + 1) * _BLOCK),
                                        &work[q * work_size], op, o_rs, o_cs)
    for q in range(n_slots):
        flags |= slot_flags[q]
    return flags


cdef Py_ssize_t _copy_matrix(const floating[:, :] A, floating* out) noexcept nogil:
    """out = A's elements row by row, from any strides; returns their number."""
    cdef Py_ssize_t i, j, p = 0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            out[p] = A[i, j]
            p += 1
    return p


def forward_chunk(const floating[:, :] X, const floating[:, :] W1, const floating[:, :] b1,
                  const floating[:, :] W2, const floating[:, :] b2, floating[:, :] out,
                  Py_ssize_t start, Py_ssize_t stop, int mode, Py_ssize_t n_threads):
    """The network's outputs for the samples (columns) [start, stop) of X.

    Writes columns [start, stop) of ``out``: the logits (mode 0, out has
    n_outputs rows), the probabilities (mode 1), for one output the rows
    sigmoid(-z), sigmoid(z) (mode 2), or one softmax over the outputs of each
    sample (mode 3). The parameters (shapes as in ``fit``'s
    params) and ``out`` may have any strides. Returns 0, or an OR of
    X_BEYOND_LIMIT, PARAMS_NOT_FINITE and OVERFLOW (a logit could overflow:
    W2 or b2 near the largest float); out's values are then meaningless.
    Finite parameters and |X| within the limit never overflow, so a result
    with no flag holds no NaN. The caller checks shapes (bounds checks are off).

    The parameters are packed, and the scratch (a few tiles per slot)
    allocated, here in C: for one sample, doing either with NumPy cost more
    than the arithmetic (issue 12's per-call cost).
    """
    cdef Py_ssize_t f = X.shape[0], hidden = W1.shape[0], o = W2.shape[0]
    cdef Py_ssize_t n_params = hidden * f + hidden + o * hidden + o
    cdef Py_ssize_t rows = 2 if mode == 2 else o
    cdef Py_ssize_t n_slots = _n_slots(stop - start, n_threads)
    cdef Py_ssize_t work_size = _forward_work_size(f, hidden, rows)
    cdef Py_ssize_t theta_size = (n_params + _ALIGN - 1) // _ALIGN * _ALIGN
    cdef int flags = 0
    cdef floating limit
    cdef floating* theta
    cdef int* slot_flags
    cdef Py_ssize_t p
    if stop <= start:
        return 0
    with nogil:
        theta = <floating*> aligned_alloc(64, (theta_size + n_slots * work_size) * sizeof(floating))
        slot_flags = <int*> calloc(n_slots, sizeof(int))
        if theta == NULL or slot_flags == NULL:
            flags = -1
        else:
            p = _copy_matrix(W1, theta)
            p += _copy_matrix(b1, theta + p)
            p += _copy_matrix(W2, theta + p)
            _copy_matrix(b2, theta + p)
            if _any_nonfinite(theta, n_params):
                flags = 2
            elif _outputs_overflow(theta + hidden * (f + 1), theta + hidden * (f + 1 + o), hidden,
                                   o):
                flags = 4
            else:
                limit = _input_limit(theta, theta + hidden * f, f, hidden)
                flags = _all_forward(X, theta, hidden, o, mode, limit, start, stop,
                                     theta + theta_size, work_size, out, slot_flags, n_slots)
        free(theta)
        free(slot_flags)
    if flags < 0:
        raise MemoryError("no memory for the scratch of the forward pass")
    return flags
