# Included by _cython_kernels.pyx: one epoch of mini-batch training with the
# training options of issue 15 (L2, momentum / Nesterov / Adam, sample weights,
# shuffled order, softmax outputs). Numba mirror: python/twolayer/_numba_epochs.py.
#
# Each batch is the positions [k B, min((k + 1) B, n)) of the order, cut into
# blocks of BLOCK positions counted from the batch's start (so the sums do not
# depend on the thread count) and summed by _all_sums, the pass train_chunk
# uses; then the batch's cost, the gradient and the optimizer's update, the
# formulas of scikit-learn's _stochastic_optimizers, elementwise on the packed
# vector. The update goes into candidates first: a batch whose cost or update
# is not finite writes nothing.

# hyper's slots ([7] unused; the contract: twolayer._reference.train_epoch)
cdef enum:
    _LR = 0
    _MOMENTUM = 1
    _BETA_1 = 2
    _BETA_2 = 3
    _EPSILON = 4
    _ALPHA = 5
    _STEP = 6


cdef inline double _weight_sum(const floating* sw, const int64_t* order, Py_ssize_t start,
                               Py_ssize_t stop) noexcept nogil:
    """The batch's weight sum, in positions' order and in double."""
    cdef double total = 0
    cdef Py_ssize_t p
    for p in range(start, stop):
        total += sw[order[p]] if order != NULL else sw[p]
    return total


cdef bint _step(
    floating* acc, const floating* sums, const floating* theta, const floating* m,
    const floating* v, Py_ssize_t f, Py_ssize_t h, Py_ssize_t o, floating S, int solver,
    const double* hyper, double t, floating* penalty, floating* new_theta, floating* new_m,
    floating* new_v,
) noexcept nogil:
    """A batch's step from its sums: the lane sums acc (zeroed on the way), or when acc is
    NULL the reduced sums; the gradient (sum + alpha P) / S on W1 and W2, sum / S on the
    biases (scikit-learn: (A.T @ delta + alpha W) / n); the optimizer's step into new_*;
    and penalty = |W1|^2 + |W2|^2 when alpha is not 0 (the biases are not penalised).

    One pass of tl_batch_step per segment of the packed vector, in order. Constants
    are rounded to the parameters' type once, as NumPy does with a Python float
    against a float32 array; lr_t of Adam is computed in double, as scikit-learn
    does. Returns whether the gradient and every new value are finite.
    """
    cdef floating alpha = <floating> hyper[_ALPHA]
    cdef floating lr, momentum = <floating> hyper[_MOMENTUM]
    cdef floating b1 = <floating> hyper[_BETA_1], b2 = <floating> hyper[_BETA_2]
    cdef floating one_b1 = <floating> (1 - hyper[_BETA_1])
    cdef floating one_b2 = <floating> (1 - hyper[_BETA_2])
    cdef floating eps = <floating> hyper[_EPSILON]
    cdef Py_ssize_t bounds[5]
    cdef Py_ssize_t seg, lo, count
    cdef bint finite = True, weights
    if solver == TL_ADAM:
        lr = <floating> (hyper[_LR] * sqrt(1 - hyper[_BETA_2] ** t) / (1 - hyper[_BETA_1] ** t))
    else:
        lr = <floating> hyper[_LR]
    bounds[0] = 0                        # W1, b1, W2, b2
    bounds[1] = h * f
    bounds[2] = h * f + h
    bounds[3] = h * f + h + o * h
    bounds[4] = h * f + h + o * h + o
    penalty[0] = 0
    for seg in range(4):
        lo = bounds[seg]
        count = bounds[seg + 1] - lo
        weights = seg % 2 == 0
        if floating is double:
            finite = finite & tl_batch_step(
                acc + lo * _LANES if acc != NULL else NULL, sums + lo, theta + lo, m + lo,
                v + lo, count, alpha if weights else 0, S, solver, lr, momentum, b1, one_b1,
                b2, one_b2, eps, weights and alpha != 0, penalty, new_theta + lo, new_m + lo,
                new_v + lo)
        else:
            finite = finite & tl_batch_stepf(
                acc + lo * _LANES if acc != NULL else NULL, sums + lo, theta + lo, m + lo,
                v + lo, count, alpha if weights else 0, S, solver, lr, momentum, b1, one_b1,
                b2, one_b2, eps, weights and alpha != 0, penalty, new_theta + lo, new_m + lo,
                new_v + lo)
    return finite


cdef floating _lane_cost(floating* acc) noexcept nogil:
    """The cost's lane sums (LANES at acc) reduced as tl_reduce_lanes does, then zeroed."""
    cdef floating total
    cdef Py_ssize_t l
    if floating is double:
        tl_reduce_lanes(acc, 1, &total)
    else:
        tl_reduce_lanesf(acc, 1, &total)
    for l in range(_LANES):
        acc[l] = 0
    return total


cdef Py_ssize_t _epoch(
    const floating[:, :] X, const floating[:, :] Y, const floating* sw, const int64_t* order,
    floating* theta, floating* state, double* hyper, int solver, Py_ssize_t batch_size,
    int softmax, Py_ssize_t hidden, floating* work, Py_ssize_t work_size, floating* partials,
    Py_ssize_t n_slots, floating* sums, floating* candidate, double* accumulated,
) noexcept nogil:
    """The batches of one epoch; returns the number completed (see train_epoch).

    A batch of at most BLOCK positions is one block: its tiles add to slot 0's
    lane sums, which the step reads and zeroes (no separate zeroing, reducing and
    copying pass). Larger batches go through _all_sums (threads) and the reduced sums.
    The parameters and state live in two buffers, the caller's and candidate,
    swapped after each finite batch (a batch that is not finite writes nothing to
    the current ones) and copied back at the end when needed.
    """
    cdef Py_ssize_t f = X.shape[0], o = Y.shape[0], n = X.shape[1]
    cdef Py_ssize_t n_params = hidden * f + hidden + o * hidden + o
    cdef Py_ssize_t n_batches = (n + batch_size - 1) // batch_size
    cdef Py_ssize_t k, start, stop, i, completed = n_batches
    cdef double t = hyper[_STEP], total = 0
    cdef floating S, cost, penalty, alpha = <floating> hyper[_ALPHA]
    cdef bint finite, one_block = batch_size <= _BLOCK
    cdef floating* acc = _lanes(work, f, hidden, o)
    cdef floating* th = theta
    cdef floating* m = state
    cdef floating* v = state + n_params
    cdef floating* new_th = candidate
    cdef floating* new_m = candidate + n_params
    cdef floating* new_v = candidate + 2 * n_params
    cdef floating* swap
    cdef Py_ssize_t x_rs = X.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t x_cs = X.strides[1] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t y_rs = Y.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef Py_ssize_t y_cs = Y.strides[1] // <Py_ssize_t> sizeof(floating)
    if one_block:
        for i in range((n_params + 1) * _LANES):
            acc[i] = 0
    for k in range(n_batches):
        start = k * batch_size
        stop = min(n, start + batch_size)
        if sw != NULL:
            S = <floating> _weight_sum(sw, order, start, stop)
            if S == 0:
                continue   # scikit-learn would divide by zero; nothing to learn from
        else:
            S = <floating> (stop - start)
        if solver == TL_ADAM:
            t += 1
        if one_block:
            _block_tiles(&X[0, 0], x_rs, x_cs, &Y[0, 0], y_rs, y_cs, order, sw, softmax, th, f,
                         hidden, o, start, stop, n, work)
            cost = _lane_cost(acc + n_params * _LANES) / S
            finite = _step(acc, NULL, th, m, v, f, hidden, o, S, solver, hyper, t, &penalty,
                           new_th, new_m, new_v)
        else:
            _all_sums(X, Y, order, sw, softmax, th, hidden, start, stop, work, work_size,
                      partials, n_slots)
            _reduce_blocks(partials, (stop - start + _BLOCK - 1) // _BLOCK, n_params + 1, sums)
            cost = sums[n_params] / S
            finite = _step(NULL, sums, th, m, v, f, hidden, o, S, solver, hyper, t, &penalty,
                           new_th, new_m, new_v)
        if alpha != 0:
            cost = cost + (<floating> 0.5 * alpha) * penalty / S
        if not (finite and isfinite(cost)):
            if solver == TL_ADAM:
                t -= 1
            completed = k
            break
        swap = th; th = new_th; new_th = swap
        swap = m; m = new_m; new_m = swap
        swap = v; v = new_v; new_v = swap
        total += <double> cost * <double> (stop - start)
    if th != theta:   # the current values are candidate's: back to the caller's arrays
        memcpy(theta, th, n_params * sizeof(floating))
        memcpy(state, m, n_params * sizeof(floating))
        if solver == TL_ADAM:
            memcpy(state + n_params, v, n_params * sizeof(floating))
    hyper[_STEP] = t
    accumulated[0] = total
    return completed


def train_epoch(const floating[:, :] X, const floating[:, :] Y,
                const floating[::1] sample_weight, const int64_t[::1] order,
                floating[::1] theta, floating[:, ::1] state, double[::1] hyper, int solver,
                Py_ssize_t batch_size, int softmax, Py_ssize_t n_threads):
    """One epoch of mini-batch training, updating theta, state and hyper[6] in place.

    sample_weight and order of shape (0,) mean unweighted and 0..n-1. Returns
    (completed_batches, accumulated_loss): the sum over batches of the batch's
    cost (before its update, L2 term included) times its length. A batch whose
    weights sum to 0 is skipped (no update, adds 0). A batch whose cost or
    update is not finite stops the epoch before writing anything: completed is
    its index and theta, state and hyper[6] hold the values from before it.
    The full contract is twolayer._reference.train_epoch's; the Python layer validates.
    """
    cdef Py_ssize_t f = X.shape[0], o = Y.shape[0], n = X.shape[1]
    cdef Py_ssize_t n_params = theta.shape[0]
    cdef Py_ssize_t hidden = (n_params - o) // (f + 1 + o)
    cdef _Scratch scratch = _Scratch(f, hidden, o, batch_size, n_threads, 3 * n_params,
                                     sizeof(floating))
    cdef floating* work = <floating*> scratch.data
    cdef const floating* sw = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    cdef const int64_t* op = &order[0] if order.shape[0] > 0 else NULL
    cdef double accumulated = 0
    cdef Py_ssize_t completed
    with nogil:
        completed = _epoch(X, Y, sw, op, &theta[0], &state[0, 0], &hyper[0], solver,
                           batch_size, softmax, hidden, work, scratch.slot_size,
                           work + scratch.partials_at, scratch.n_slots,
                           work + scratch.sums_at, work + scratch.extra_at, &accumulated)
    return completed, accumulated
