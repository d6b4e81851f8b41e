"""One epoch of mini-batch training with issue 15's options (Numba).

Mirrors ``src/twolayer/_epochs.pxi`` (same helper names, same operations in the
same order; the contract is in its ``train_epoch`` docstring), its steps those of
``_numba_optimizer`` (``_optimizer_impl.h``), on the block pass of ``_numba_kernels``
(``_all_sums``, generalised there with an order, sample weights and a softmax output,
as in the Cython file). A module of its own so
that neither ``import twolayer`` nor a default ``fit`` compiles it: Numba
compiles (or loads from its cache) ``_train_epoch`` on the first epoch.

Differences of spelling only: C's NULL (no order, no weights) is an empty
array here, and the results come back as a tuple.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import types

from ._geometry import BLOCK
from ._numba_jit import compiled, jit, matrix_type, vector_type
from ._numba_kernels import (
    _all_sums,
    _copy,
    _reduce_blocks,
    _scratch,
    _use_threads,
    _work_elements,
)
from ._numba_optimizer import adam_step, scale_gradient, sgd_step
from ._numba_vector import prefer_wide_vectors

# hyper's slots, and the solver codes (the contract: _reference.train_epoch). The C
# compares the solver with bare numbers (tl_step_block: 2 Adam, 1 Nesterov); named
# constants shared by both sides are on the way (helper "bench"): use them once on main.
_LR, _MOMENTUM, _BETA_1, _BETA_2, _EPSILON, _ALPHA, _STEP = range(7)
_SGD, _NESTEROV, _ADAM = 0, 1, 2


@jit()
def _weight_sum(sw, order, start, stop):
    """The batch's weight sum, in positions' order and in double."""
    total = 0.0
    for p in range(start, stop):
        total += float(sw[order[p]] if order.shape[0] > 0 else sw[p])
    return total


@jit()
def _penalty(theta, f, h, o):
    """|W1|^2 + |W2|^2 (the biases are not penalised)."""
    total = theta.dtype.type(0)
    for i in range(h * f):
        total += theta[i] * theta[i]
    for i in range(h * f + h, h * f + h + o * h):
        total += theta[i] * theta[i]
    return total


@jit()
def _gradient(sums, theta, f, h, o, alpha, S):
    """sums -> the gradient, in place: (sum + alpha P) / S on W1 and W2, sum / S on the
    biases. Returns whether it is finite."""
    prefer_wide_vectors()
    zero = theta.dtype.type(0)
    finite = scale_gradient(sums, theta, 0, h * f, alpha, S)  # W1
    finite = finite & scale_gradient(sums, theta, h * f, h * f + h, zero, S)  # b1
    finite = finite & scale_gradient(sums, theta, h * f + h, h * f + h + o * h, alpha, S)  # W2
    return finite & scale_gradient(sums, theta, h * f + h + o * h, h * f + h + o * h + o, zero, S)


@jit()
def _update(g, theta, state, n_params, solver, hyper, t, candidate):
    """The optimizer's step into candidate (rows: theta, state rows 0 and 1); returns
    whether every new value is finite. Constants rounded to theta's type once; Adam's
    lr_t in double (as _epochs.pxi)."""
    prefer_wide_vectors()
    T = theta.dtype.type
    new_theta = candidate[0]
    new_m = candidate[1]
    new_v = candidate[2]
    m = state[0]
    v = state[1]
    if solver == _ADAM:
        b1 = T(hyper[_BETA_1])
        b2 = T(hyper[_BETA_2])
        one_b1 = T(1 - hyper[_BETA_1])
        one_b2 = T(1 - hyper[_BETA_2])
        eps = T(hyper[_EPSILON])
        lr = T(hyper[_LR] * math.sqrt(1 - hyper[_BETA_2] ** t) / (1 - hyper[_BETA_1] ** t))
        return adam_step(g, theta, m, v, n_params, b1, one_b1, b2, one_b2, lr, eps, new_theta,
                         new_m, new_v)  # fmt: skip
    lr = T(hyper[_LR])
    momentum = T(hyper[_MOMENTUM])
    return sgd_step(g, theta, m, n_params, lr, momentum, solver == _NESTEROV, new_theta, new_m)


@jit()
def _epoch(X, Y, sw, order, theta, state, hyper, solver, batch_size, softmax, hidden, work,
           partials, sums, candidate, threads):  # fmt: skip
    """The batches of one epoch; returns (completed, accumulated) (see train_epoch)."""
    f = X.shape[0]
    o = Y.shape[0]
    n = X.shape[1]
    T = theta.dtype.type
    n_params = hidden * f + hidden + o * hidden + o
    n_batches = (n + batch_size - 1) // batch_size
    t = hyper[_STEP]
    total = 0.0
    alpha = T(hyper[_ALPHA])
    weighted = sw.shape[0] > 0
    rows = 3 if solver == _ADAM else 2  # theta, m (velocity), v
    for k in range(n_batches):
        start = k * batch_size
        stop = min(n, start + batch_size)
        if weighted:
            S = T(_weight_sum(sw, order, start, stop))
            if S == 0:
                continue  # scikit-learn would divide by zero; nothing to learn from
        else:
            S = T(stop - start)
        _all_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, partials,
                  threads)  # fmt: skip
        _reduce_blocks(partials, (stop - start + BLOCK - 1) // BLOCK, sums)
        cost = sums[n_params] / S
        if alpha != 0:
            cost = cost + (T(0.5) * alpha) * _penalty(theta, f, hidden, o) / S
        finite = np.isfinite(cost) & _gradient(sums, theta, f, hidden, o, alpha, S)
        if solver == _ADAM:
            t += 1
        finite = finite & _update(sums, theta, state, n_params, solver, hyper, t, candidate)
        if not finite:
            hyper[_STEP] = t - 1 if solver == _ADAM else t
            return k, total
        _copy(candidate[0], theta)
        for r in range(1, rows):
            _copy(candidate[r], state[r - 1])
        total += float(cost) * float(stop - start)
    hyper[_STEP] = t
    return n_batches, total


def _signature(t: types.Float, threads: types.Type) -> Any:
    """_train_epoch's signature for element type t and n_threads' type (see compiled)."""
    return types.Tuple((types.intp, types.float64))(
        matrix_type(t), matrix_type(t), types.Array(t, 1, "C", readonly=True),
        types.Array(types.int64, 1, "C", readonly=True), vector_type(t), types.Array(t, 2, "C"),
        types.Array(types.float64, 1, "C"), types.intp, types.intp, types.intp, threads,
        types.intp,
    )  # fmt: skip


@jit(_signature)
def _train_epoch(X, Y, sample_weight, order, theta, state, hyper, solver, batch_size, softmax,
                 n_threads, work_elements):  # fmt: skip
    f = X.shape[0]
    o = Y.shape[0]
    n_params = theta.shape[0]
    hidden = (n_params - o) // (f + 1 + o)
    if n_threads is None:  # noqa: SIM108 (statements: Numba prunes them, see _block_sums)
        slots = 1
    else:
        slots = n_threads
    # Scratch is allocated here, by the caller of the loops: blocks of one batch.
    work, partials = _scratch(f, hidden, o, batch_size, slots, work_elements, theta)
    sums = np.empty(n_params + 1, dtype=theta.dtype)
    candidate = np.empty((3, n_params), dtype=theta.dtype)
    return _epoch(X, Y, sample_weight, order, theta, state, hyper, solver, batch_size, softmax,
                  hidden, work, partials, sums, candidate, n_threads)  # fmt: skip


def train_epoch(
    X: np.ndarray,
    Y: np.ndarray,
    sample_weight: np.ndarray,
    order: np.ndarray,
    theta: np.ndarray,
    state: np.ndarray,
    hyper: np.ndarray,
    solver: int,
    batch_size: int,
    softmax: int,
    n_threads: int,
) -> tuple[int, float]:
    """One epoch of mini-batch training, updating theta, state and hyper[6] in place;
    returns (completed_batches, accumulated_loss). The contract is that of the Cython
    ``train_epoch`` (src/twolayer/_epochs.pxi)."""
    threads = _use_threads(n_threads, min(batch_size, X.shape[1]))
    kernel = compiled(_train_epoch, theta.dtype, threads is not None)
    size = _work_elements(X, Y, theta)
    completed, accumulated = kernel(
        X, Y, sample_weight, order, theta, state, hyper, int(solver), int(batch_size),
        int(softmax), threads, size,
    )  # fmt: skip
    return int(completed), float(accumulated)
