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
from ._numba_optimizer import batch_step
from ._numba_vector import prefer_wide_vectors, unowned
from ._solver_codes import ADAM

# hyper's slots (the contract: _reference.train_epoch)
_LR, _MOMENTUM, _BETA_1, _BETA_2, _EPSILON, _ALPHA, _STEP = range(7)


@jit()
def _weight_sum(sw, order, start, stop):
    """The batch's weight sum, in positions' order and in double."""
    total = 0.0
    for p in range(start, stop):
        total += float(sw[order[p]] if order.shape[0] > 0 else sw[p])
    return total


@jit()
def _step(sums, theta, m, v, f, h, o, S, solver, hyper, t, new_theta, new_m, new_v):
    """A batch's step from its reduced sums: the gradient (sum + alpha P) / S on W1 and W2,
    sum / S on the biases; the optimizer's step into new_*; and the penalty |W1|^2 + |W2|^2
    when alpha is not 0. One batch_step per segment of the packed vector, in order (as
    _epochs.pxi's _step). Constants rounded to theta's type once; Adam's lr_t in double.
    Returns (whether the gradient and every new value are finite, the penalty)."""
    prefer_wide_vectors()
    T = theta.dtype.type
    alpha = T(hyper[_ALPHA])
    momentum = T(hyper[_MOMENTUM])
    b1 = T(hyper[_BETA_1])
    b2 = T(hyper[_BETA_2])
    one_b1 = T(1 - hyper[_BETA_1])
    one_b2 = T(1 - hyper[_BETA_2])
    eps = T(hyper[_EPSILON])
    if solver == ADAM:
        lr = T(hyper[_LR] * math.sqrt(1 - hyper[_BETA_2] ** t) / (1 - hyper[_BETA_1] ** t))
    else:
        lr = T(hyper[_LR])
    zero = T(0)
    penalise = alpha != 0
    penalty = zero
    finite = True
    lo = 0
    for seg in range(4):  # W1, b1, W2, b2: the weights are penalised, the biases not
        hi = lo + (h * f, h, o * h, o)[seg]
        weights = seg % 2 == 0
        ok, penalty = batch_step(sums, theta, m, v, lo, hi, alpha if weights else zero, S,
                                 solver, lr, momentum, b1, one_b1, b2, one_b2, eps,
                                 weights and penalise, penalty, new_theta, new_m,
                                 new_v)  # fmt: skip
        finite = finite & ok
        lo = hi
    return finite, penalty


@jit()
def _epoch(X, Y, sw, order, theta, state, hyper, solver, batch_size, softmax, hidden, work,
           partials, sums, candidate, threads):  # fmt: skip
    """The batches of one epoch; returns (completed, accumulated) (see train_epoch)."""
    # Without reference counts per batch (see _numba_vector.unowned): the caller holds these.
    X, Y, sw, order, theta, state = (unowned(X), unowned(Y), unowned(sw), unowned(order),
                                     unowned(theta), unowned(state))  # fmt: skip
    work, partials, sums, candidate = (unowned(work), unowned(partials), unowned(sums),
                                       unowned(candidate))  # fmt: skip
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
    # The parameters and state live in two buffers, the caller's and candidate's, swapped
    # after each finite batch (one that is not finite writes nothing to the current ones)
    # and copied back at the end when needed, as in _epochs.pxi (no copy per batch).
    th = theta
    m = state[0]
    v = state[1] if solver == ADAM else candidate[2]  # v: Adam only
    new_th = candidate[0]
    new_m = candidate[1]
    new_v = candidate[2] if solver == ADAM else state[0]
    swapped = False
    completed = n_batches
    for k in range(n_batches):
        start = k * batch_size
        stop = min(n, start + batch_size)
        if weighted:
            S = T(_weight_sum(sw, order, start, stop))
            if S == 0:
                continue  # scikit-learn would divide by zero; nothing to learn from
        else:
            S = T(stop - start)
        if solver == ADAM:
            t += 1
        _all_sums(X, Y, order, sw, softmax, th, hidden, start, stop, work, partials,
                  threads)  # fmt: skip
        _reduce_blocks(partials, (stop - start + BLOCK - 1) // BLOCK, sums)
        cost = sums[n_params] / S
        finite, penalty = _step(sums, th, m, v, f, hidden, o, S, solver, hyper, t, new_th,
                                new_m, new_v)  # fmt: skip
        if alpha != 0:
            cost = cost + (T(0.5) * alpha) * penalty / S
        if not (finite and np.isfinite(cost)):
            if solver == ADAM:
                t -= 1
            completed = k
            break
        th, new_th = new_th, th
        m, new_m = new_m, m
        v, new_v = new_v, v
        swapped = not swapped
        total += float(cost) * float(stop - start)
    if swapped:  # the current values are candidate's: back to the caller's arrays
        _copy(th, theta)
        _copy(m, state[0])
        if solver == ADAM:
            _copy(v, state[1])
    hyper[_STEP] = t
    return completed, total


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
