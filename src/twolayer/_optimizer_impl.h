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

/* train_epoch's solver codes, once for both types (this file is included per
 * type). Python's copy, for the reference and Numba: twolayer._solver_codes
 * (tests/test_epochs.py checks that they agree with the compiled module's). */
#ifndef TL_SOLVER_CODES
#define TL_SOLVER_CODES
enum tl_solver { TL_SGD = 0, TL_NESTEROV = 1, TL_ADAM = 2 };
#endif

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

/* tl_batch_step's work on len <= TL_LANES parameters: called with len TL_LANES
 * (a constant once inlined: straight-line vector code, the lane sums
 * transposed in registers), and once with the rest. GCC turns the zeroing
 * loop into `rep stos` (9% of the step's time for 512 bytes at a time)
 * unless told not to: TL_NO_MEMSET. */
#if defined(__GNUC__) && !defined(__clang__)
#define TL_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TL_NO_MEMSET
#endif
static inline __attribute__((always_inline)) int TL_NAME(tl_step_block)(
    TL_T* restrict acc, const TL_T* restrict sums, const TL_T* restrict P,
    const TL_T* restrict m, const TL_T* restrict v, ptrdiff_t len, TL_T alpha, TL_T S,
    int solver, TL_T lr, TL_T momentum, TL_T b1, TL_T one_b1, TL_T b2, TL_T one_b2, TL_T eps,
    int penalise, TL_T* restrict penalty, TL_T* restrict P_new, TL_T* restrict m_new,
    TL_T* restrict v_new)
{
    TL_T g[TL_LANES];
    int ok;
    if (acc) {
        TL_NAME(tl_reduce_lanes)(acc, len, g);
        for (ptrdiff_t i = 0; i < len * TL_LANES; i++) acc[i] = 0;
    } else {
        for (ptrdiff_t i = 0; i < len; i++) g[i] = sums[i];
    }
    ok = TL_NAME(tl_scale_gradient)(g, P, len, alpha, S);
    if (solver == TL_ADAM)
        ok &= TL_NAME(tl_adam_step)(g, P, m, v, len, b1, one_b1, b2, one_b2, lr, eps, P_new,
                                    m_new, v_new);
    else
        ok &= TL_NAME(tl_sgd_step)(g, P, m, len, lr, momentum, solver == TL_NESTEROV, P_new,
                                   m_new);
    if (penalise) {
        /* A serial sum (its order is the contract): a few dependent adds per block,
         * which the out-of-order core overlaps with the next blocks' divisions. */
        TL_T total = *penalty;
        for (ptrdiff_t i = 0; i < len; i++) total += P[i] * P[i];
        *penalty = total;
    }
    return ok;
}

/* A batch's whole step over the parameters [0, n) of one segment (W1, b1, W2
 * or b2: alpha and `penalise` differ), in one pass of blocks of TL_LANES
 * parameters instead of one pass per step (the passes cost ~1/10 of a batch
 * of 200, and the L2 sum's chain of dependent adds ran alone):
 * - the gradient sums: from the TL_LANES lane sums per parameter in `acc`
 *   (tl_reduce_lanes' order; the lanes are then zeroed for the next batch's
 *   tiles), or when acc is NULL from `sums` (already reduced over blocks);
 * - the gradient (tl_scale_gradient) and the optimizer's step (tl_adam_step
 *   for TL_ADAM, else tl_sgd_step: plain or, TL_NESTEROV, Nesterov momentum)
 *   into P_new, m_new, v_new (v unused by sgd);
 * - when penalise, *penalty += P[i]^2 in order (the L2 term of the cost).
 * Every value rounds as the separate passes did. Returns nonzero when every
 * gradient and new value is finite. */
static inline TL_NO_MEMSET int TL_NAME(tl_batch_step)(
    TL_T* restrict acc, const TL_T* restrict sums, const TL_T* restrict P,
    const TL_T* restrict m, const TL_T* restrict v, ptrdiff_t n, TL_T alpha, TL_T S,
    int solver, TL_T lr, TL_T momentum, TL_T b1, TL_T one_b1, TL_T b2, TL_T one_b2, TL_T eps,
    int penalise, TL_T* restrict penalty, TL_T* restrict P_new, TL_T* restrict m_new,
    TL_T* restrict v_new)
{
    int ok = 1;
    ptrdiff_t c = 0;
    for (; c + TL_LANES <= n; c += TL_LANES)
        ok &= TL_NAME(tl_step_block)(
            acc ? acc + c * TL_LANES : NULL, sums ? sums + c : NULL, P + c, m + c, v + c, TL_LANES, alpha,
            S, solver, lr, momentum, b1, one_b1, b2, one_b2, eps, penalise, penalty, P_new + c,
            m_new + c, v_new + c);
    if (c < n)
        ok &= TL_NAME(tl_step_block)(
            acc ? acc + c * TL_LANES : NULL, sums ? sums + c : NULL, P + c, m + c, v + c, n - c, alpha, S,
            solver, lr, momentum, b1, one_b1, b2, one_b2, eps, penalise, penalty, P_new + c,
            m_new + c, v_new + c);
    return ok;
}
