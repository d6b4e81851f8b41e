"""Mirrors ``src/twolayer/_optimizer_impl.h``: the optimizer's steps on the packed
parameter vector (Numba), scikit-learn's _stochastic_optimizers formulas elementwise.

Same names without the ``tl_`` prefix, the same operations in the same order (no
multiply-add fuses in either: the C is built with -ffp-contract=off), so the bits
are the C's. ``scale_gradient`` takes the range [start, stop) of g and P where C
takes pointers moved to start. C's fused per-batch pass (``tl_batch_step``, with
``tl_step_block``) has no twin yet: ``_numba_epochs`` runs these one pass each.
"""

from __future__ import annotations

import numpy as np

from ._numba_jit import jit


@jit(inline=True)
def scale_gradient(g, P, start, stop, alpha, S):
    """g = (g + alpha P) / S over [start, stop): a gradient from its sums (alpha 0 for the
    biases, which are not penalised). Returns whether every value is finite."""
    finite = True
    for i in range(start, stop):
        g[i] = (g[i] + alpha * P[i]) / S
        finite = finite & np.isfinite(g[i])
    return finite


@jit(inline=True)
def sgd_step(g, P, vel, n, lr, momentum, nesterov, P_new, vel_new):
    """Momentum SGD: vel' = momentum vel - lr g; P' = P + (momentum vel' - lr g) with
    Nesterov's momentum, else P + vel'. Returns whether every new value is finite."""
    finite = True
    for i in range(n):
        v = momentum * vel[i] - lr * g[i]
        step = momentum * v - lr * g[i] if nesterov else v
        vel_new[i] = v
        P_new[i] = P[i] + step
        finite = finite & np.isfinite(P_new[i]) & np.isfinite(v)
    return finite


@jit(inline=True)
def adam_step(g, P, m, v, n, b1, one_b1, b2, one_b2, lr_t, eps, P_new, m_new, v_new):
    """Adam: m' = b1 m + (1 - b1) g; v' = b2 v + (1 - b2) g^2; P' = P + -lr_t m' / (sqrt(v')
    + eps), lr_t computed by the caller (in double). Returns whether every new value is
    finite."""
    finite = True
    for i in range(n):
        m_new[i] = b1 * m[i] + one_b1 * g[i]
        v_new[i] = b2 * v[i] + one_b2 * (g[i] * g[i])
        P_new[i] = P[i] + -lr_t * m_new[i] / (np.sqrt(v_new[i]) + eps)
        finite = (finite & np.isfinite(P_new[i]) & np.isfinite(m_new[i])
                  & np.isfinite(v_new[i]))  # fmt: skip
    return finite
