/* Included by _tile.h with TL_T (float or double), TL_NAME (name suffix),
 * TL_MATH (the suffix of _fastmath.h's functions for TL_T: none or f) and
 * TL_W, the tile's width in samples: TL_W, or TL_SMALL_TILE for the samples
 * left at the end of a block or batch (see tl_tile_sums). */

/* out[s] (+)= sum over r of weights[r * stride] * rows[r][s], r in order:
 * from bias when fresh, else continuing the partial sums already in out (a
 * chunk of a wider product). Each sample's sum runs over r in order, so the
 * rounding is that of the plain loop, chunked or not. The samples go in
 * passes of TL_PASS(TL_T) whose partial sums stay in vector registers; the
 * passes change only the order in which samples are visited, never a sum. */
static inline void TL_NAME(tl_combine_more)(
    const TL_T* restrict weights, ptrdiff_t stride,
    const TL_T* restrict rows, ptrdiff_t n_rows,
    int fresh, TL_T bias, TL_T* restrict out)
{
    for (ptrdiff_t p = 0; p < TL_W; p += TL_PASS(TL_T)) {
        TL_T part[TL_PASS(TL_T)];
        TL_T w0 = weights[0];
        if (fresh)
            for (ptrdiff_t s = 0; s < TL_PASS(TL_T); s++)
                part[s] = TL_MATH(tl_fma)(w0, rows[p + s], bias);
        else
            for (ptrdiff_t s = 0; s < TL_PASS(TL_T); s++)
                part[s] = TL_MATH(tl_fma)(w0, rows[p + s], out[p + s]);
        for (ptrdiff_t r = 1; r < n_rows; r++) {
            TL_T w = weights[r * stride];
            const TL_T* restrict x = rows + r * TL_W + p;
            for (ptrdiff_t s = 0; s < TL_PASS(TL_T); s++)
                part[s] = TL_MATH(tl_fma)(w, x[s], part[s]);
        }
        for (ptrdiff_t s = 0; s < TL_PASS(TL_T); s++) out[p + s] = part[s];
    }
}

/* out[s] = bias + sum over r of weights[r * stride] * rows[r][s]: the layer
 * products W1 x + b1 (stride 1), W2 a + b2 (stride 1) and W2^T dy (stride
 * hidden). */
static inline void TL_NAME(tl_combine_rows)(
    const TL_T* restrict weights, ptrdiff_t stride,
    const TL_T* restrict rows, ptrdiff_t n_rows,
    TL_T bias, TL_T* restrict out)
{
    TL_NAME(tl_combine_more)(weights, stride, rows, n_rows, 1, bias, out);
}

/* row[s] = tanh(row[s]) for the n (a constant at each call) samples of row. */
static inline __attribute__((always_inline)) void TL_NAME(tl_tanh_span)(TL_T* restrict row, int n)
{
    for (int s = 0; s < n; s++) row[s] = TL_MATH(tl_tanh)(row[s]);
}

/* row[s] = tanh(row[s]) over a whole tile row */
static inline void TL_NAME(tl_tanh_tile)(TL_T* restrict row)
{
    TL_NAME(tl_tanh_span)(row, TL_W);
}

/* From the logits in `row`: loss[s] = binary cross-entropy against y[s], and
 * row[s] = sigmoid(logit) - y[s] (the residual). Samples s >= count are
 * padding: loss and residual 0, so they add exact zeros to every sum. */
static inline void TL_NAME(tl_output_tile)(
    TL_T* restrict row, const TL_T* restrict y, TL_T* restrict loss, ptrdiff_t count)
{
    /* Two passes: each chain of dependent operations is long (exp, then a
     * division and log1p's polynomial), and short loop bodies let the CPU
     * overlap more samples (measured: 20% faster than one pass). */
    TL_T e[TL_W];
    for (ptrdiff_t s = 0; s < TL_W; s++) {
        TL_T z = row[s];
        e[s] = TL_MATH(tl_exp_neg)(z < 0 ? z : -z);   /* exp(-|z|) */
    }
    for (ptrdiff_t s = 0; s < TL_W; s++) {
        TL_T z = row[s];
        loss[s] = TL_MATH(tl_log_loss)(z, y[s], e[s]);
        row[s] = TL_MATH(tl_sigmoid)(z, e[s]) - y[s];
    }
    for (ptrdiff_t s = count; s < TL_W; s++) {
        row[s] = 0;
        loss[s] = 0;
    }
}

/* One softmax over the n_outputs rows of z (logits in, residuals out) for each
 * sample: with m = max_i z_i, d_i = m - z_i >= 0 and L = log(sum_i exp(-d_i)),
 * loss[s] = sum_i y_i (L + d_i) (the categorical cross-entropy, lse - z_i
 * without adding and removing m) and z_i = exp(-d_i) / sum - y_i. The sum is
 * >= 1 (the max's term is exp(0) = 1), so tl_log_ge1 applies and nothing
 * overflows, however large the logits. exp is taken twice rather than kept in
 * an (n_outputs x TILE) scratch. Samples s >= count: loss and residual 0. */
static inline void TL_NAME(tl_softmax_tile)(
    TL_T* restrict z, const TL_T* restrict y, ptrdiff_t n_outputs, TL_T* restrict loss,
    ptrdiff_t count)
{
    TL_T m[TL_W], sum[TL_W], L[TL_W];
    for (ptrdiff_t s = 0; s < TL_W; s++) m[s] = z[s];
    for (ptrdiff_t i = 1; i < n_outputs; i++)
        for (ptrdiff_t s = 0; s < TL_W; s++) {
            TL_T v = z[i * TL_W + s];
            m[s] = v > m[s] ? v : m[s];
        }
    for (ptrdiff_t s = 0; s < TL_W; s++) sum[s] = 0;
    for (ptrdiff_t i = 0; i < n_outputs; i++)
        for (ptrdiff_t s = 0; s < TL_W; s++)
            sum[s] += TL_MATH(tl_exp_neg)(z[i * TL_W + s] - m[s]);
    for (ptrdiff_t s = 0; s < TL_W; s++) {
        L[s] = TL_MATH(tl_log_ge1)(sum[s]);
        loss[s] = 0;
    }
    for (ptrdiff_t i = 0; i < n_outputs; i++)
        for (ptrdiff_t s = 0; s < TL_W; s++) {
            TL_T d = m[s] - z[i * TL_W + s];
            TL_T yi = y[i * TL_W + s];
            loss[s] = TL_MATH(tl_fma)(yi, L[s] + d, loss[s]);
            z[i * TL_W + s] = TL_MATH(tl_exp_neg)(-d) / sum[s] - yi;
        }
    for (ptrdiff_t s = count; s < TL_W; s++) {
        loss[s] = 0;
        for (ptrdiff_t i = 0; i < n_outputs; i++) z[i * TL_W + s] = 0;
    }
}

/* acc[l] += sum of u[s] v[s] over the tile's samples s with s % LANES == l.
 * Fixed lanes make the sum vectorise without reassociation: the same
 * rounding for every build and thread count. In lane vectors (_vector.h), so
 * that the sums stay in registers (as plain arrays, gcc kept some in memory). */
static inline void TL_NAME(tl_lane_dot)(
    const TL_T* restrict u, const TL_T* restrict v, TL_T* restrict acc)
{
    TL_V lane = TL_VEC(tl_vload)(acc);
    for (ptrdiff_t s = 0; s < TL_W; s += TL_LANES)
        lane = TL_VEC(tl_vfma)(TL_VEC(tl_vload)(u + s), TL_VEC(tl_vload)(v + s), lane);
    TL_VEC(tl_vstore)(acc, lane);
}

/* acc[l] += sum of u[s] over the tile's samples s with s % LANES == l. */
static inline void TL_NAME(tl_lane_sum)(const TL_T* restrict u, TL_T* restrict acc)
{
    TL_V lane = TL_VEC(tl_vload)(acc);
    for (ptrdiff_t s = 0; s < TL_W; s += TL_LANES)
        lane = TL_VEC(tl_vadd)(lane, TL_VEC(tl_vload)(u + s));
    TL_VEC(tl_vstore)(acc, lane);
}

/* ---- fused per-tile steps: one call per hidden unit or output, rows kept in
 * registers between the pieces above (no store and reload of z or dz). ---- */

/* row[s] *= w[s]: a weighted sample's residual or loss (weighted fits only, so
 * that the unweighted sums keep their bits). */
static inline void TL_NAME(tl_scale_tile)(TL_T* restrict row, const TL_T* restrict w)
{
    for (ptrdiff_t s = 0; s < TL_W; s++) row[s] *= w[s];
}

/* Output unit: logits from the hidden rows, then the residual dy (written to
 * dy_out) and the loss, both times the sample weights wt when wt is not NULL,
 * and their sums: cost, b2 and the W2 row's gradient. */
static inline void TL_NAME(tl_output_unit)(
    const TL_T* restrict w, const TL_T* restrict a1, ptrdiff_t hidden, TL_T bias,
    const TL_T* restrict y, ptrdiff_t count, const TL_T* restrict wt, TL_T* restrict dy_out,
    TL_T* restrict acc_cost, TL_T* restrict acc_b2, TL_T* restrict acc_W2)
{
    TL_T loss[TL_W];
    TL_NAME(tl_combine_rows)(w, 1, a1, hidden, bias, dy_out);
    TL_NAME(tl_output_tile)(dy_out, y, loss, count);
    if (wt) {
        TL_NAME(tl_scale_tile)(dy_out, wt);
        TL_NAME(tl_scale_tile)(loss, wt);
    }
    TL_NAME(tl_lane_sum)(loss, acc_cost);
    TL_NAME(tl_lane_sum)(dy_out, acc_b2);
    for (ptrdiff_t j = 0; j < hidden; j++)
        TL_NAME(tl_lane_dot)(dy_out, a1 + j * TL_W, acc_W2 + j * TL_LANES);
}

/* The softmax output layer over a tile: every output's logits into dy, then
 * the residuals and the loss (tl_softmax_tile), times the weights wt when wt
 * is not NULL, and their sums: cost, b2 and W2 (rows of hidden x LANES).
 * Out of line: it runs once per tile, and the sigmoid path's code stays as it was. */
static __attribute__((noinline)) void TL_NAME(tl_softmax_outputs)(
    const TL_T* restrict W2, const TL_T* restrict b2, const TL_T* restrict a1, ptrdiff_t hidden,
    ptrdiff_t n_outputs, const TL_T* restrict y, ptrdiff_t count, const TL_T* restrict wt,
    TL_T* restrict dy, TL_T* restrict acc_cost, TL_T* restrict acc_b2, TL_T* restrict acc_W2)
{
    TL_T loss[TL_W];
    for (ptrdiff_t i = 0; i < n_outputs; i++)
        TL_NAME(tl_combine_rows)(W2 + i * hidden, 1, a1, hidden, b2[i], dy + i * TL_W);
    TL_NAME(tl_softmax_tile)(dy, y, n_outputs, loss, count);
    if (wt) {
        TL_NAME(tl_scale_tile)(loss, wt);
        for (ptrdiff_t i = 0; i < n_outputs; i++) TL_NAME(tl_scale_tile)(dy + i * TL_W, wt);
    }
    TL_NAME(tl_lane_sum)(loss, acc_cost);
    for (ptrdiff_t i = 0; i < n_outputs; i++) {
        TL_NAME(tl_lane_sum)(dy + i * TL_W, acc_b2 + i * TL_LANES);
        for (ptrdiff_t j = 0; j < hidden; j++)
            TL_NAME(tl_lane_dot)(dy + i * TL_W, a1 + j * TL_W,
                                 acc_W2 + (i * hidden + j) * TL_LANES);
    }
}

/* Hidden unit back through tanh: dz = (sum_i W2[i][j] dy_i)(1 - a^2) into
 * dz, and its lane sums (the b1 gradient) into acc_b1. One pass over the
 * tile in lane vectors, the sum over outputs from an exact 0 + first term,
 * as tl_combine_rows gives it; then the product by 1 - a^2 and
 * tl_lane_sum's sums, bit for bit (measured: the three separate loops cost
 * a sixth of the whole backward pass). */
static inline void TL_NAME(tl_hidden_delta)(
    const TL_T* restrict w2_column, ptrdiff_t stride, const TL_T* restrict dy,
    ptrdiff_t n_outputs, const TL_T* restrict a, TL_T* restrict dz, TL_T* restrict acc_b1)
{
    /* The deltas a register of samples at a time (TL_S: for floats with AVX-512,
     * 16 samples, two lane vectors), stored; then the lane sums read back from
     * the row, a lane vector at a time, each lane's terms in order. Measured,
     * the backward pass of a float32 tile, 20 features, hidden 64, 12
     * interleaved runs: 2.27-2.61 -> 2.16-2.29 us against lane-vector deltas.
     * Not fully unrolled: gcc 12 then computed every step's product first and,
     * short of AVX2's 16 registers, spilled some and added them back from the
     * stack (measured: 1.6x slower on AVX2; AVX-512 the same either way). */
    enum { STEP = TL_S_WIDTH > TL_LANES ? TL_S_WIDTH : TL_LANES };
    const TL_S zero = TL_SVEC(tl_vset)(0), one = TL_SVEC(tl_vset)(1);
    const TL_S w0 = TL_SVEC(tl_vset)(w2_column[0]);
    TL_V lane = TL_VEC(tl_vload)(acc_b1);
#pragma GCC unroll 2
    for (ptrdiff_t s = 0; s < TL_W; s += STEP) {
        for (ptrdiff_t p = s; p < s + STEP; p += TL_S_WIDTH) {
            TL_S z = TL_SVEC(tl_vfma)(w0, TL_SVEC(tl_vload)(dy + p), zero);
            for (ptrdiff_t i = 1; i < n_outputs; i++)
                z = TL_SVEC(tl_vfma)(TL_SVEC(tl_vset)(w2_column[i * stride]),
                                     TL_SVEC(tl_vload)(dy + i * TL_W + p), z);
            TL_S av = TL_SVEC(tl_vload)(a + p);
            TL_SVEC(tl_vstore)(dz + p, TL_SVEC(tl_vmul)(z, TL_SVEC(tl_vfnma)(av, av, one)));
        }
        for (ptrdiff_t k = s; k < s + STEP; k += TL_LANES)
            lane = TL_VEC(tl_vadd)(lane, TL_VEC(tl_vload)(dz + k));
    }
    TL_VEC(tl_vstore)(acc_b1, lane);
}

/* acc[k] += lane sums of dz x[k] over the n_rows feature rows in `rows`: the
 * W1 gradient of one hidden unit, or the part of it for a chunk of features. */
static inline void TL_NAME(tl_delta_dots)(
    const TL_T* restrict dz, const TL_T* restrict rows, ptrdiff_t n_rows, TL_T* restrict acc)
{
    for (ptrdiff_t k = 0; k < n_rows; k++)
        TL_NAME(tl_lane_dot)(dz, rows + k * TL_W, acc + k * TL_LANES);
}

/* ---- register-blocked layer products (block sizes: _tile.h) ---- */

/* z rows of hidden units j0 .. j0 + n_units - 1 over the samples [p, p +
 * n_vecs TL_S_WIDTH): z = b1 + sum over k of W1[j][k] x[k], bias first and
 * then the features in order, which is tl_combine_rows' sum. The partial sums
 * stay in n_units x n_vecs sample vectors (_vector.h); each x vector loaded
 * serves n_units units and each weight n_vecs vectors. n_units and n_vecs are
 * constants at every call: the loops unroll and the arrays live in registers. */
static inline __attribute__((always_inline)) void TL_NAME(tl_forward_block)(
    const TL_T* restrict W1, const TL_T* restrict b1, const TL_T* restrict xt,
    ptrdiff_t x_stride, ptrdiff_t n_features, ptrdiff_t j0, ptrdiff_t p, int n_units,
    int n_vecs, TL_T* restrict z)
{
    TL_S acc[TL_FWD_UNITS][TL_FWD_VECS], x[TL_FWD_VECS];
    for (int v = 0; v < n_vecs; v++) x[v] = TL_SVEC(tl_vload)(xt + p + v * TL_S_WIDTH);
    for (int u = 0; u < n_units; u++) {
        TL_S w = TL_SVEC(tl_vset)(W1[(j0 + u) * n_features]);
        TL_S bias = TL_SVEC(tl_vset)(b1[j0 + u]);
        for (int v = 0; v < n_vecs; v++) acc[u][v] = TL_SVEC(tl_vfma)(w, x[v], bias);
    }
    for (ptrdiff_t k = 1; k < n_features; k++) {
        for (int v = 0; v < n_vecs; v++)
            x[v] = TL_SVEC(tl_vload)(xt + k * x_stride + p + v * TL_S_WIDTH);
        for (int u = 0; u < n_units; u++) {
            TL_S w = TL_SVEC(tl_vset)(W1[(j0 + u) * n_features + k]);
            for (int v = 0; v < n_vecs; v++) acc[u][v] = TL_SVEC(tl_vfma)(w, x[v], acc[u][v]);
        }
    }
    for (int u = 0; u < n_units; u++)
        for (int v = 0; v < n_vecs; v++)
            TL_SVEC(tl_vstore)(z + (j0 + u) * TL_W + p + v * TL_S_WIDTH, acc[u][v]);
}

/* Sample vectors per forward block: TL_FWD_VECS, or the whole of a small tile. */
#define TL_FWD_VECS_W (TL_W / TL_S_WIDTH < TL_FWD_VECS ? TL_W / TL_S_WIDTH : TL_FWD_VECS)

/* Units j0 .. j0 + n_units - 1 (a constant at each call) of a1 = tanh(W1 x +
 * b1) over the tile, block by block of samples, each block through tanh as soon
 * as it is stored, while it is in L1. (Interleaving tanh with the next block's
 * products gained nothing: on AVX-512 both are bound by the same two vector
 * ports.) */
static inline __attribute__((always_inline)) void TL_NAME(tl_forward_units)(
    const TL_T* restrict W1, const TL_T* restrict b1, const TL_T* restrict xt,
    ptrdiff_t x_stride, ptrdiff_t n_features, ptrdiff_t j0, int n_units, TL_T* restrict a1)
{
    const int span = TL_FWD_VECS_W * TL_S_WIDTH;
    for (ptrdiff_t p = 0; p < TL_W; p += span) {
        TL_NAME(tl_forward_block)(W1, b1, xt, x_stride, n_features, j0, p, n_units,
                                  TL_FWD_VECS_W, a1);
        for (int u = 0; u < n_units; u++)
            TL_NAME(tl_tanh_span)(a1 + (j0 + u) * TL_W + p, span);
    }
}

/* The hidden layer of a tile, narrow inputs: a1 = tanh(W1 x + b1), in blocks
 * of TL_FWD_UNITS units, then the remaining units as one smaller block (a
 * constant count in each case, so that it unrolls: single units left 4 of the
 * large run's 64 with 2 sums each, too few to cover the latency). */
static inline void TL_NAME(tl_hidden_layer_forward)(
    const TL_T* restrict W1, const TL_T* restrict b1, const TL_T* restrict xt,
    ptrdiff_t x_stride, ptrdiff_t n_features, ptrdiff_t hidden, TL_T* restrict a1)
{
    ptrdiff_t j0 = 0;
    for (; j0 + TL_FWD_UNITS <= hidden; j0 += TL_FWD_UNITS)
        TL_NAME(tl_forward_units)(W1, b1, xt, x_stride, n_features, j0, TL_FWD_UNITS, a1);
    switch (hidden - j0) {
#define TL_REST(n)                                                                       \
    case n:                                                                              \
        if (n < TL_FWD_UNITS)                                                            \
            TL_NAME(tl_forward_units)(W1, b1, xt, x_stride, n_features, j0, n, a1);      \
        break;
    TL_REST(1) TL_REST(2) TL_REST(3) TL_REST(4) TL_REST(5)
#undef TL_REST
    default: break;
    }
}

/* acc[(j f + k) LANES + l] += lane sums of dz[j] x[k] for the n_units hidden
 * units whose rows start dz and acc, and n_rows feature rows from k0: tl_lane_dot's sums (each
 * lane's samples in order), n_units x n_rows of them side by side in
 * registers, each dz and x register loaded once per block. One register-wide
 * part of the lanes at a time (two passes for doubles with AVX2): the block
 * is counted in registers, and each lane's sum is the same. */
static inline __attribute__((always_inline)) void TL_NAME(tl_grad_block)(
    const TL_T* restrict dz, const TL_T* restrict xt, ptrdiff_t x_stride, ptrdiff_t n_features,
    ptrdiff_t k0, int n_units, int n_rows, TL_T* restrict acc)
{
    const int n_regs = (n_units + TL_G_UNITS - 1) / TL_G_UNITS;
    /* register g holds units G g and on; next[g]: 1 when a next unit shares it,
     * 0 for an odd unit out, which repeats itself (the distances below scale it) */
    ptrdiff_t next[TL_GRAD_REGS];
    for (int g = 0; g < n_regs; g++) next[g] = TL_G_UNITS * g + 1 < n_units;
    for (int q = 0; q < TL_LANES; q += TL_PART_WIDTH) {
        TL_G sum[TL_GRAD_REGS][TL_GRAD_FEATURES], d[TL_GRAD_REGS];
        for (int g = 0; g < n_regs; g++)
            for (int k = 0; k < n_rows; k++)
                sum[g][k] = TL_GVEC(tl_gload)(
                    acc + (TL_G_UNITS * g * n_features + k0 + k) * TL_LANES + q,
                    next[g] * n_features * TL_LANES);
        for (ptrdiff_t s = q; s < TL_W; s += TL_LANES) {
            for (int g = 0; g < n_regs; g++)
                d[g] = TL_GVEC(tl_gload)(dz + TL_G_UNITS * g * TL_W + s, next[g] * TL_W);
            for (int k = 0; k < n_rows; k++) {
                TL_G x = TL_GVEC(tl_gbroadcast)(xt + (k0 + k) * x_stride + s);
                for (int g = 0; g < n_regs; g++) sum[g][k] = TL_GVEC(tl_gfma)(d[g], x, sum[g][k]);
            }
        }
        for (int g = 0; g < n_regs; g++)
            for (int k = 0; k < n_rows; k++)
                TL_GVEC(tl_gstore)(
                    acc + (TL_G_UNITS * g * n_features + k0 + k) * TL_LANES + q,
                    next[g] * n_features * TL_LANES, sum[g][k]);
    }
}

/* The W1 sums of n_units (a constant) hidden units, whose rows start dz and acc,
 * over all feature rows: blocks of TL_GRAD_FEATURES rows, then the rest as one
 * smaller block. */
static inline __attribute__((always_inline)) void TL_NAME(tl_grad_units)(
    const TL_T* restrict dz, const TL_T* restrict xt, ptrdiff_t x_stride, ptrdiff_t n_features,
    int n_units, TL_T* restrict acc)
{
    ptrdiff_t k0 = 0;
    for (; k0 + TL_GRAD_FEATURES <= n_features; k0 += TL_GRAD_FEATURES)
        TL_NAME(tl_grad_block)(dz, xt, x_stride, n_features, k0, n_units, TL_GRAD_FEATURES, acc);
    switch (n_features - k0) {   /* constant row counts, so that each block unrolls */
    case 1: TL_NAME(tl_grad_block)(dz, xt, x_stride, n_features, k0, n_units, 1, acc); break;
    case 2: if (TL_GRAD_FEATURES > 2)
                TL_NAME(tl_grad_block)(dz, xt, x_stride, n_features, k0, n_units, 2, acc);
            break;
    case 3: if (TL_GRAD_FEATURES > 3)
                TL_NAME(tl_grad_block)(dz, xt, x_stride, n_features, k0, n_units, 3, acc);
            break;
    default: break;
    }
}

/* Hidden units per full block of W1 sums: registers times units per register. */
#define TL_GRAD_UNITS (TL_GRAD_REGS * TL_G_UNITS)

/* The hidden layer of a tile, narrow inputs, backward, block of units by
 * block of units: the block's dz rows (into the first rows of dz) and b1
 * sums, then its W1 sums in register blocks, while those dz rows are in L1.
 * The last block takes the units left (fewer than two register blocks' worth:
 * one register block and the rest as one smaller block, constant sizes that
 * unroll). All deltas first, at 64 hidden units, wrote 32 kB of dz and read 32
 * kB of a1, more than L1 holds with X's tile: the W1 sums then read dz back
 * from L2 and wrote it back there (measured, 100,000 x 20, hidden 64: the tile
 * 8.80 -> 8.18 us on AVX-512, 14.04 -> 13.47 us on AVX2). Each sum adds the
 * same terms in the same order. */
static inline void TL_NAME(tl_hidden_layer_backward)(
    const TL_T* restrict W2, const TL_T* restrict dy, ptrdiff_t n_outputs,
    const TL_T* restrict a1, const TL_T* restrict xt, ptrdiff_t x_stride, ptrdiff_t n_features,
    ptrdiff_t hidden, TL_T* restrict dz, TL_T* restrict acc_b1, TL_T* restrict acc_W1)
{
    for (ptrdiff_t j0 = 0; j0 < hidden;) {
        ptrdiff_t n = hidden - j0 < 2 * TL_GRAD_UNITS ? hidden - j0 : TL_GRAD_UNITS;
        for (ptrdiff_t j = j0; j < j0 + n; j++)
            TL_NAME(tl_hidden_delta)(W2 + j, hidden, dy, n_outputs, a1 + j * TL_W,
                                     dz + (j - j0) * TL_W, acc_b1 + j * TL_LANES);
        TL_T* acc = acc_W1 + j0 * n_features * TL_LANES;
        const TL_T* rest_dz = dz;
        ptrdiff_t rest = n;
        if (n >= TL_GRAD_UNITS) {
            TL_NAME(tl_grad_units)(dz, xt, x_stride, n_features, TL_GRAD_UNITS, acc);
            rest_dz += TL_GRAD_UNITS * TL_W;
            acc += TL_GRAD_UNITS * n_features * TL_LANES;
            rest -= TL_GRAD_UNITS;
        }
        switch (rest) {   /* the remaining units as one block, as in the forward pass */
#define TL_REST(r)                                                                       \
    case r:                                                                              \
        if (r < TL_GRAD_UNITS)                                                           \
            TL_NAME(tl_grad_units)(rest_dz, xt, x_stride, n_features, r, acc);           \
        break;
        TL_REST(1) TL_REST(2) TL_REST(3) TL_REST(4) TL_REST(5) TL_REST(6) TL_REST(7)
#undef TL_REST
        default: break;
        }
        j0 += n;
    }
}
#undef TL_GRAD_UNITS

/* ---- wide inputs: feature rows in chunks that stay in L1 ----
 * A tile of 200 features is 100 kB (float64), more than L1; going over it once
 * per hidden unit streamed it from L2 at half the FMA rate. The block loop
 * instead takes TL_FEATURE_CHUNK rows at a time for every hidden unit. */

/* The hidden layer of a tile for wide inputs, forward: a1 = tanh(W1 x + b1)
 * (h rows), chunk by chunk of feature rows. Out of line (noinline) so that
 * the narrow path's code in the block loop stays as it was (measured: inlined,
 * it slowed the tutorial's run by 3%). */
static __attribute__((noinline)) void TL_NAME(tl_wide_forward)(
    const TL_T* restrict W1, const TL_T* restrict b1, const TL_T* restrict xt,
    ptrdiff_t n_features, ptrdiff_t hidden, TL_T* restrict a1)
{
    for (ptrdiff_t k = 0; k < n_features; k += TL_FEATURE_CHUNK) {
        ptrdiff_t rows = n_features - k < TL_FEATURE_CHUNK ? n_features - k : TL_FEATURE_CHUNK;
        for (ptrdiff_t j = 0; j < hidden; j++)
            TL_NAME(tl_combine_more)(W1 + j * n_features + k, 1, xt + k * TL_W, rows, k == 0,
                                     b1[j], a1 + j * TL_W);
    }
    for (ptrdiff_t j = 0; j < hidden; j++) TL_NAME(tl_tanh_tile)(a1 + j * TL_W);
}

/* ... and backward: every hidden unit's dz (into dz, h rows) and b1 sums,
 * then the W1 sums chunk by chunk of feature rows. */
static __attribute__((noinline)) void TL_NAME(tl_wide_backward)(
    const TL_T* restrict W2, const TL_T* restrict dy, ptrdiff_t n_outputs,
    const TL_T* restrict a1, const TL_T* restrict xt, ptrdiff_t n_features, ptrdiff_t hidden,
    TL_T* restrict dz, TL_T* restrict acc_b1, TL_T* restrict acc_W1)
{
    for (ptrdiff_t j = 0; j < hidden; j++)
        TL_NAME(tl_hidden_delta)(W2 + j, hidden, dy, n_outputs, a1 + j * TL_W,
                                 dz + j * TL_W, acc_b1 + j * TL_LANES);
    for (ptrdiff_t k = 0; k < n_features; k += TL_FEATURE_CHUNK) {
        ptrdiff_t rows = n_features - k < TL_FEATURE_CHUNK ? n_features - k : TL_FEATURE_CHUNK;
        for (ptrdiff_t j = 0; j < hidden; j++)
            TL_NAME(tl_delta_dots)(dz + j * TL_W, xt + k * TL_W, rows,
                                   acc_W1 + (j * n_features + k) * TL_LANES);
    }
}

/* out[i] = sum over l of acc[i * LANES + l], l in order from 0 (a block's lane
 * sums to scalars). Parameter by parameter, its LANES contiguous sums in order:
 * lane by lane over all i, the compiler read acc with stride LANES through
 * shuffles (measured, 1409 parameters: 13 us AVX2, 6.5 us AVX-512; this order
 * 5.5 and 1.5 us), the same adds in the same order. */
static inline void TL_NAME(tl_reduce_lanes)(const TL_T* restrict acc, ptrdiff_t n,
                                            TL_T* restrict out)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        TL_T s = 0;
        for (int l = 0; l < TL_LANES; l++) s += acc[i * TL_LANES + l];
        out[i] = s;
    }
}

/* Asks for the cache lines of columns idx[0:count] of an array (rows values a
 * column, row_stride apart) ahead of their gather: a shuffled order reads X at
 * random, a few cache lines per sample, which the hardware prefetcher cannot
 * guess; the tile before them computes meanwhile. */
static inline void TL_NAME(tl_prefetch_columns)(
    const TL_T* base, ptrdiff_t rows, ptrdiff_t row_stride, ptrdiff_t col_stride,
    const int64_t* idx, ptrdiff_t count)
{
    const ptrdiff_t per_line = 64 / (ptrdiff_t)sizeof(TL_T);
    for (ptrdiff_t s = 0; s < count; s++) {
        const TL_T* column = base + idx[s] * col_stride;
        if (row_stride == 1) {
            for (ptrdiff_t r = 0; r < rows; r += per_line) __builtin_prefetch(column + r);
            __builtin_prefetch(column + rows - 1);
        } else {
            for (ptrdiff_t r = 0; r < rows; r++) __builtin_prefetch(column + r * row_stride);
        }
    }
}

/* ---- one tile's whole step: forward, output layer, backward, and the sums ----
 * acc holds LANES partial sums per packed parameter, then the cost's. wt: the
 * tile's sample weights, or NULL (unweighted); softmax: one softmax output
 * layer instead of independent sigmoids. Samples s >= count are padding.
 * xt: the tile's feature rows, x_stride apart: a gathered tile (x_stride
 * TL_W), or, for a full tile of consecutive samples, the caller's X read
 * in place (its row stride; no copy). Wide inputs take gathered tiles only. */
static inline void TL_NAME(tl_tile_sums)(
    const TL_T* restrict W1, const TL_T* restrict b1, const TL_T* restrict W2,
    const TL_T* restrict b2, const TL_T* restrict xt, ptrdiff_t x_stride, const TL_T* restrict yt,
    const TL_T* restrict wt, ptrdiff_t f, ptrdiff_t h, ptrdiff_t o, ptrdiff_t count, int softmax,
    TL_T* restrict a1, TL_T* restrict dy, TL_T* restrict dz, TL_T* restrict acc)
{
    TL_T* g_W1 = acc;
    TL_T* g_b1 = g_W1 + h * f * TL_LANES;
    TL_T* g_W2 = g_b1 + h * TL_LANES;
    TL_T* g_b2 = g_W2 + o * h * TL_LANES;
    TL_T* g_cost = g_b2 + o * TL_LANES;

    /* Forward, hidden layer: a1 = tanh(W1 x + b1), vectorised over the tile. Wide
     * inputs go a chunk of feature rows at a time for every hidden unit, so that
     * the rows stay in L1 (same sums in the same order). */
    if (f > TL_FEATURE_CHUNK)
        TL_NAME(tl_wide_forward)(W1, b1, xt, f, h, a1);
    else
        TL_NAME(tl_hidden_layer_forward)(W1, b1, xt, x_stride, f, h, a1);

    /* Output layer: residuals dy = p - y (times the weights), loss and their sums;
     * p = sigmoid(W2 a1 + b2) per output, or one softmax over the outputs. */
    if (softmax)
        TL_NAME(tl_softmax_outputs)(W2, b2, a1, h, o, yt, count, wt, dy, g_cost, g_b2, g_W2);
    else
        for (ptrdiff_t i = 0; i < o; i++)
            TL_NAME(tl_output_unit)(W2 + i * h, a1, h, b2[i], yt + i * TL_W, count, wt,
                                    dy + i * TL_W, g_cost, g_b2 + i * TL_LANES,
                                    g_W2 + i * h * TL_LANES);

    /* Backward, hidden layer: dz = (W2^T dy) * (1 - a1^2) and its sums. */
    if (f > TL_FEATURE_CHUNK)
        TL_NAME(tl_wide_backward)(W2, dy, o, a1, xt, f, h, dz, g_b1, g_W1);
    else
        TL_NAME(tl_hidden_layer_backward)(W2, dy, o, a1, xt, x_stride, f, h, dz, g_b1, g_W1);
}

/* ---- prediction: the forward pass alone, on the primitives above (so that
 * their tuning reaches prediction too). ---- */

/* Nonzero when some value of the n values in x is NaN or infinite (x - x is
 * 0 only for finite x); an OR of comparisons vectorises with no reassociation. */
static inline int TL_NAME(tl_any_nonfinite)(const TL_T* restrict x, ptrdiff_t n)
{
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) bad |= (x[i] - x[i]) != 0;
    return bad;
}

/* Nonzero when some |x| of the n values in x exceeds limit, or is NaN. */
static inline int TL_NAME(tl_any_beyond)(const TL_T* restrict x, ptrdiff_t n, TL_T limit)
{
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) bad |= !((x[i] < 0 ? -x[i] : x[i]) <= limit);
    return bad;
}

#include <float.h>
#define TL_QUARTER_MAX (sizeof(TL_T) == sizeof(double) ? (TL_T)(DBL_MAX / 4) : (TL_T)(FLT_MAX / 4))
#define TL_MAX (sizeof(TL_T) == sizeof(double) ? (TL_T)DBL_MAX : (TL_T)FLT_MAX)

/* The largest |x| for which no product or partial sum of W1 x + b1 can
 * overflow: then every term and sum stays below max/4, rounding included, as
 * |b + sum w x| <= max|b| + limit * max_j sum_k |w_jk|. Capped at the largest
 * finite value, so an infinite x is beyond it. Finite inputs beyond it could
 * give inf - inf = NaN, or an inf whose true sum is small: the caller refuses. */
static inline TL_T TL_NAME(tl_input_limit)(
    const TL_T* restrict W1, const TL_T* restrict b1, ptrdiff_t n_features, ptrdiff_t hidden)
{
    TL_T row_max = 0, bias_max = 0;
    for (ptrdiff_t j = 0; j < hidden; j++) {
        TL_T row = 0;
        for (ptrdiff_t k = 0; k < n_features; k++) {
            TL_T w = W1[j * n_features + k];
            row += w < 0 ? -w : w;
        }
        TL_T b = b1[j] < 0 ? -b1[j] : b1[j];
        row_max = row > row_max ? row : row_max;
        bias_max = b > bias_max ? b : bias_max;
    }
    TL_T room = TL_QUARTER_MAX - bias_max;
    if (!(room > 0)) return 0;
    if (row_max == 0) return TL_MAX;
    TL_T limit = room / row_max;
    return limit < TL_MAX ? limit : TL_MAX;
}

/* Nonzero when some logit W2 a + b2 could overflow (|a| <= 1): a row of |W2|
 * plus |b2| reaching max/4. A property of the parameters alone. */
static inline int TL_NAME(tl_outputs_overflow)(
    const TL_T* restrict W2, const TL_T* restrict b2, ptrdiff_t hidden, ptrdiff_t n_outputs)
{
    for (ptrdiff_t i = 0; i < n_outputs; i++) {
        TL_T row = b2[i] < 0 ? -b2[i] : b2[i];
        for (ptrdiff_t j = 0; j < hidden; j++) {
            TL_T w = W2[i * hidden + j];
            row += w < 0 ? -w : w;
        }
        if (!(row < TL_QUARTER_MAX)) return 1;
    }
    return 0;
}

#undef TL_QUARTER_MAX
#undef TL_MAX

/* out[s] = sigmoid(sign z[s]) (sign +1 or -1) in training's stable form. Below
 * tl_exp_neg's domain (-708, float -87) the probability is below the smallest
 * normal number: exactly 0, as NumPy's underflowing exp gives, instead of
 * exp_neg's stand-in value. */
static inline void TL_NAME(tl_sigmoid_tile)(const TL_T* restrict z, TL_T sign, TL_T* restrict out)
{
    const TL_T low = sizeof(TL_T) == sizeof(double) ? (TL_T)-708.0 : (TL_T)-87.0;
    for (ptrdiff_t s = 0; s < TL_W; s++) {
        TL_T v = sign * z[s];
        TL_T e = TL_MATH(tl_exp_neg)(v < 0 ? v : -v);   /* exp(-|z|) */
        TL_T p = TL_MATH(tl_sigmoid)(v, e);
        out[s] = v < low ? (TL_T)0 : p;
    }
}

/* In place over the n_outputs rows of z, for each sample: the softmax
 * exp(z_i - m) / sum_k exp(z_k - m), m = max_k z_k (no overflow). Below
 * tl_exp_neg's domain the term is exactly 0, as in tl_sigmoid_tile. */
static inline void TL_NAME(tl_softmax_probs_tile)(TL_T* restrict z, ptrdiff_t n_outputs)
{
    const TL_T low = sizeof(TL_T) == sizeof(double) ? (TL_T)-708.0 : (TL_T)-87.0;
    TL_T m[TL_W], sum[TL_W];
    for (ptrdiff_t s = 0; s < TL_W; s++) {
        m[s] = z[s];
        sum[s] = 0;
    }
    for (ptrdiff_t i = 1; i < n_outputs; i++)
        for (ptrdiff_t s = 0; s < TL_W; s++) {
            TL_T v = z[i * TL_W + s];
            m[s] = v > m[s] ? v : m[s];
        }
    for (ptrdiff_t i = 0; i < n_outputs; i++)
        for (ptrdiff_t s = 0; s < TL_W; s++) {
            TL_T v = z[i * TL_W + s] - m[s];
            TL_T e = TL_MATH(tl_exp_neg)(v);
            e = v < low ? (TL_T)0 : e;
            z[i * TL_W + s] = e;
            sum[s] += e;
        }
    for (ptrdiff_t i = 0; i < n_outputs; i++)
        for (ptrdiff_t s = 0; s < TL_W; s++) z[i * TL_W + s] /= sum[s];
}

/* The forward pass of one tile: a1 = tanh(W1 x + b1) (h rows of scratch),
 * then for each output its logit z = W2 a1 + b2 into out (mode 0), sigmoid(z)
 * (mode 1), or, for one output, the rows sigmoid(-z), sigmoid(z) (mode 2:
 * a binary classifier's two class probabilities, each without cancellation),
 * or one softmax over the outputs (mode 3).
 * Returns nonzero when a logit is NaN: finite inputs and parameters whose
 * products overflow (inf - inf); the caller reports it instead of returning it.
 * xt, x_stride: as in tl_tile_sums. */
static inline int TL_NAME(tl_forward_tile)(
    const TL_T* restrict W1, const TL_T* restrict b1, const TL_T* restrict W2,
    const TL_T* restrict b2, const TL_T* restrict xt, ptrdiff_t x_stride, ptrdiff_t n_features,
    ptrdiff_t hidden, ptrdiff_t n_outputs, int mode, TL_T* restrict a1, TL_T* restrict out)
{
    if (n_features > TL_FEATURE_CHUNK)
        TL_NAME(tl_wide_forward)(W1, b1, xt, n_features, hidden, a1);
    else
        TL_NAME(tl_hidden_layer_forward)(W1, b1, xt, x_stride, n_features, hidden, a1);
    int nan = 0;
    for (ptrdiff_t i = 0; i < n_outputs; i++) {
        TL_T z[TL_W];
        TL_NAME(tl_combine_rows)(W2 + i * hidden, 1, a1, hidden, b2[i], z);
        for (ptrdiff_t s = 0; s < TL_W; s++) nan |= z[s] != z[s];
        if (mode == 0 || mode == 3)
            for (ptrdiff_t s = 0; s < TL_W; s++) out[i * TL_W + s] = z[s];
        else if (mode == 1)
            TL_NAME(tl_sigmoid_tile)(z, 1, out + i * TL_W);
        else {
            TL_NAME(tl_sigmoid_tile)(z, -1, out);
            TL_NAME(tl_sigmoid_tile)(z, 1, out + TL_W);
        }
    }
    if (mode == 3) TL_NAME(tl_softmax_probs_tile)(out, n_outputs);
    return nan;
}
