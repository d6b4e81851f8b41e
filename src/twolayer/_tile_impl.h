/* Included by _tile.h with TL_T (float or double) and TL_NAME (name suffix). */

/* out[s] = bias + sum over r of weights[r * stride] * rows[r][s], r in order.
 * The layer products: W1 x + b1 (stride 1), W2 a + b2 (stride 1) and
 * W2^T dy (stride hidden). Each sample's sum runs over r in order, so the
 * rounding is that of the plain loop; the tile row stays in registers. */
static inline void TL_NAME(tl_combine_rows)(
    const TL_T* restrict weights, ptrdiff_t stride,
    const TL_T* restrict rows, ptrdiff_t n_rows,
    TL_T bias, TL_T* restrict out)
{
    TL_T part[TL_TILE];
    for (ptrdiff_t s = 0; s < TL_TILE; s++) part[s] = bias;
    for (ptrdiff_t r = 0; r < n_rows; r++) {
        TL_T w = weights[r * stride];
        const TL_T* restrict x = rows + r * TL_TILE;
        for (ptrdiff_t s = 0; s < TL_TILE; s++) part[s] += w * x[s];
    }
    for (ptrdiff_t s = 0; s < TL_TILE; s++) out[s] = part[s];
}

/* row[s] = tanh(row[s]) */
static inline void TL_NAME(tl_tanh_tile)(TL_T* restrict row)
{
    for (ptrdiff_t s = 0; s < TL_TILE; s++) row[s] = TL_NAME(tl_tanh)(row[s]);
}

/* From the logits in `row`: loss[s] = binary cross-entropy against y[s], and
 * row[s] = sigmoid(logit) - y[s] (the residual). Samples s >= count are
 * padding: loss and residual 0, so they add exact zeros to every sum. */
static inline void TL_NAME(tl_output_tile)(
    TL_T* restrict row, const TL_T* restrict y, TL_T* restrict loss, ptrdiff_t count)
{
    for (ptrdiff_t s = 0; s < TL_TILE; s++) {
        TL_T z = row[s];
        TL_T e = TL_NAME(tl_exp_neg)(z < 0 ? z : -z);   /* exp(-|z|) */
        loss[s] = TL_NAME(tl_log_loss)(z, y[s], e);
        row[s] = TL_NAME(tl_sigmoid)(z, e) - y[s];
    }
    for (ptrdiff_t s = count; s < TL_TILE; s++) {
        row[s] = 0;
        loss[s] = 0;
    }
}

/* row[s] *= 1 - a[s]^2: back through tanh, whose derivative is 1 - tanh^2. */
static inline void TL_NAME(tl_tanh_backward_tile)(TL_T* restrict row, const TL_T* restrict a)
{
    for (ptrdiff_t s = 0; s < TL_TILE; s++) row[s] *= 1 - a[s] * a[s];
}

/* acc[l] += sum of u[s] v[s] over the tile's samples s with s % LANES == l.
 * Fixed lanes make the sum vectorise without reassociation: the same
 * rounding for every build and thread count. */
static inline void TL_NAME(tl_lane_dot)(
    const TL_T* restrict u, const TL_T* restrict v, TL_T* restrict acc)
{
    TL_T lane[TL_LANES];
    for (int l = 0; l < TL_LANES; l++) lane[l] = acc[l];
    for (ptrdiff_t s = 0; s < TL_TILE; s += TL_LANES)
        for (int l = 0; l < TL_LANES; l++) lane[l] += u[s + l] * v[s + l];
    for (int l = 0; l < TL_LANES; l++) acc[l] = lane[l];
}

/* acc[l] += sum of u[s] over the tile's samples s with s % LANES == l. */
static inline void TL_NAME(tl_lane_sum)(const TL_T* restrict u, TL_T* restrict acc)
{
    TL_T lane[TL_LANES];
    for (int l = 0; l < TL_LANES; l++) lane[l] = acc[l];
    for (ptrdiff_t s = 0; s < TL_TILE; s += TL_LANES)
        for (int l = 0; l < TL_LANES; l++) lane[l] += u[s + l];
    for (int l = 0; l < TL_LANES; l++) acc[l] = lane[l];
}
