/* Included by _tile.h with TL_T (float or double), TL_NAME and TL_MATH (as for
 * _tile_impl.h): the steps of train_epoch (src/twolayer/_epochs.pxi) on the
 * packed parameter vector, scikit-learn's _stochastic_optimizers formulas
 * elementwise. In C for `restrict`: the compiler then vectorises the square
 * roots and divisions (Cython's loops over six unrelated pointers stayed
 * scalar: Adam's step cost 25 us per batch of 200 samples, about 1/10 of the
 * batch). Each returns nonzero when every value it wrote is finite ((x - x)
 * is 0 only for finite x; an OR of comparisons vectorises). No multiply-add
 * fuses (-ffp-contract=off), so Numba's plain loops round alike
 * (python/twolayer/_numba_epochs.py). */

/* g = (g + alpha P) / S over n values: a gradient from its sums (alpha 0 for
 * the biases, which are not penalised). */
static inline int TL_NAME(tl_scale_gradient)(
    TL_T* restrict g, const TL_T* restrict P, ptrdiff_t n, TL_T alpha, TL_T S)
{
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        TL_T v = (g[i] + alpha * P[i]) / S;
        g[i] = v;
        bad |= (v - v) != 0;
    }
    return !bad;
}

/* Momentum SGD: vel' = momentum vel - lr g; P' = P + (momentum vel' - lr g) with
 * Nesterov's momentum, else P + vel'. */
static inline int TL_NAME(tl_sgd_step)(
    const TL_T* restrict g, const TL_T* restrict P, const TL_T* restrict vel, ptrdiff_t n,
    TL_T lr, TL_T momentum, int nesterov, TL_T* restrict P_new, TL_T* restrict vel_new)
{
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        TL_T v = momentum * vel[i] - lr * g[i];
        TL_T step = nesterov ? momentum * v - lr * g[i] : v;
        TL_T p = P[i] + step;
        vel_new[i] = v;
        P_new[i] = p;
        bad |= ((v - v) != 0) | ((p - p) != 0);
    }
    return !bad;
}

/* Adam: m' = b1 m + (1 - b1) g; v' = b2 v + (1 - b2) g^2; P' = P + -lr_t m' / (sqrt(v') + eps),
 * lr_t computed by the caller (in double). */
static inline int TL_NAME(tl_adam_step)(
    const TL_T* restrict g, const TL_T* restrict P, const TL_T* restrict m,
    const TL_T* restrict v, ptrdiff_t n, TL_T b1, TL_T one_b1, TL_T b2, TL_T one_b2,
    TL_T lr_t, TL_T eps, TL_T* restrict P_new, TL_T* restrict m_new, TL_T* restrict v_new)
{
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        TL_T mi = b1 * m[i] + one_b1 * g[i];
        TL_T vi = b2 * v[i] + one_b2 * (g[i] * g[i]);
        TL_T p = P[i] + -lr_t * mi / (TL_MATH(tl_sqrt)(vi) + eps);
        m_new[i] = mi;
        v_new[i] = vi;
        P_new[i] = p;
        bad |= ((p - p) != 0) | ((mi - mi) != 0) | ((vi - vi) != 0);
    }
    return !bad;
}
