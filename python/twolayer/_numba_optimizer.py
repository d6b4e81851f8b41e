"""Mirrors ``src/twolayer/_optimizer_impl.h``: the optimizer's step on the packed
parameter vector (Numba), scikit-learn's _stochastic_optimizers formulas elementwise.

``batch_step`` is ``tl_batch_step`` from reduced sums (C's acc NULL): per value the
formulas of tl_scale_gradient, then tl_adam_step or tl_sgd_step, in one pass over a
segment [lo, hi) of the packed vector (C takes pointers moved to lo); the L2 penalty's
serial sum in a pass of its own over the same values (C interleaves it block by block:
the same sum in the same order). No multiply-add fuses in either (the C is built with
-ffp-contract=off), so the bits are the C's. C's lane-sum path (acc not NULL: a batch of
one block read from its lane sums, without the reduction pass) has no twin yet.
"""

from __future__ import annotations

import numpy as np

from ._numba_jit import jit
from ._solver_codes import ADAM, NESTEROV


@jit(inline=True)
def batch_step(sums, P, m, v, lo, hi, alpha, S, solver, lr, momentum, b1, one_b1, b2, one_b2,
               eps, penalise, penalty, P_new, m_new, v_new):  # fmt: skip
    """A batch's whole step over the parameters [lo, hi) of one segment (W1, b1, W2 or b2:
    alpha and penalise differ): the gradient (sums + alpha P) / S (scale_gradient) and
    the optimizer's step into P_new, m_new, v_new (adam_step for ADAM, else sgd_step,
    Nesterov's for NESTEROV; v unused by sgd), each value rounded as those do; when
    penalise, penalty + sum of P^2 in order (the L2 term of the cost).

    Returns (whether every gradient and new value is finite, the penalty)."""
    finite = True
    if solver == ADAM:
        for i in range(lo, hi):
            g = (sums[i] + alpha * P[i]) / S
            mi = b1 * m[i] + one_b1 * g
            vi = b2 * v[i] + one_b2 * (g * g)
            p = P[i] + -lr * mi / (np.sqrt(vi) + eps)
            m_new[i] = mi
            v_new[i] = vi
            P_new[i] = p
            finite = (finite & np.isfinite(g) & np.isfinite(p) & np.isfinite(mi)
                      & np.isfinite(vi))  # fmt: skip
    else:
        nesterov = solver == NESTEROV
        for i in range(lo, hi):
            g = (sums[i] + alpha * P[i]) / S
            vel = momentum * m[i] - lr * g
            step = momentum * vel - lr * g if nesterov else vel
            p = P[i] + step
            m_new[i] = vel
            P_new[i] = p
            finite = finite & np.isfinite(g) & np.isfinite(p) & np.isfinite(vel)
    if penalise:
        for i in range(lo, hi):
            penalty += P[i] * P[i]
    return finite, penalty
