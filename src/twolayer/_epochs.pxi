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

# solver codes
cdef enum:
    _SGD = 0
    _NESTEROV = 1
    _ADAM = 2


cdef inline double _weight_sum(const floating* sw, const int64_t* order, Py_ssize_t start,
                               Py_ssize_t stop) noexcept nogil:
    """The batch's weight sum, in positions' order and in double."""
    cdef double total = 0
    cdef Py_ssize_t p
    for p in range(start, stop):
        total += sw[order[p]] if order != NULL else sw[p]
    return total


cdef inline floating _penalty(const floating* theta, Py_ssize_t f, Py_ssize_t h,
                              Py_ssize_t o) noexcept nogil:
    """|W1|^2 + |W2|^2 (the biases are not penalised)."""
    cdef floating total = 0
    cdef Py_ssize_t i
    for i in range(h * f):
        total += theta[i] * theta[i]
    for i in range(h * f + h, h * f + h + o * h):
        total += theta[i] * theta[i]
    return total


cdef inline bint _scale(floating* g, const floating* theta, Py_ssize_t start, Py_ssize_t stop,
                        floating alpha, floating S) noexcept nogil:
    """g = (g + alpha P) / S over [start, stop); returns whether it is finite."""
    if floating is double:
        return tl_scale_gradient(g + start, theta + start, stop - start, alpha, S)
    else:
        return tl_scale_gradientf(g + start, theta + start, stop - start, alpha, S)


cdef inline bint _gradient(floating* sums, const floating* theta, Py_ssize_t f, Py_ssize_t h,
                           Py_ssize_t o, floating alpha, floating S) noexcept nogil:
    """sums -> the gradient, in place: (sum + alpha P) / S on W1 and W2, sum / S on the
    biases (scikit-learn: (A.T @ delta + alpha W) / n). Returns whether it is finite."""
    cdef bint finite = _scale(sums, theta, 0, h * f, alpha, S)            # W1
    finite = finite & _scale(sums, theta, h * f, h * f + h, 0, S)         # b1
    finite = finite & _scale(sums, theta, h * f + h, h * f + h + o * h, alpha, S)   # W2
    return finite & _scale(sums, theta, h * f + h + o * h, h * f + h + o * h + o, 0, S)


cdef bint _update(const floating* g, const floating* theta, const floating* state,
                  Py_ssize_t n_params, int solver, const double* hyper, double t,
                  floating* candidate) noexcept nogil:
    """The optimizer's step into candidate (3 x n_params: theta, state rows 0 and 1).

    Returns whether every new value is finite. Constants are rounded to the
    parameters' type once, as NumPy does with a Python float against a
    float32 array; lr_t of Adam is computed in double, as scikit-learn does.
    The loops are C (_optimizer_impl.h).
    """
    cdef floating* new_theta = candidate
    cdef floating* new_m = candidate + n_params
    cdef floating* new_v = candidate + 2 * n_params
    cdef const floating* m = state
    cdef const floating* v = state + n_params
    cdef floating lr, momentum, b1, one_b1, b2, one_b2, eps
    if solver == _ADAM:
        b1 = <floating> hyper[_BETA_1]
        b2 = <floating> hyper[_BETA_2]
        one_b1 = <floating> (1 - hyper[_BETA_1])
        one_b2 = <floating> (1 - hyper[_BETA_2])
        eps = <floating> hyper[_EPSILON]
        lr = <floating> (hyper[_LR] * sqrt(1 - hyper[_BETA_2] ** t) / (1 - hyper[_BETA_1] ** t))
        if floating is double:
            return tl_adam_step(g, theta, m, v, n_params, b1, one_b1, b2, one_b2, lr, eps,
                                new_theta, new_m, new_v)
        else:
            return tl_adam_stepf(g, theta, m, v, n_params, b1, one_b1, b2, one_b2, lr, eps,
                                 new_theta, new_m, new_v)
    lr = <floating> hyper[_LR]
    momentum = <floating> hyper[_MOMENTUM]
    if floating is double:
        return tl_sgd_step(g, theta, m, n_params, lr, momentum, solver == _NESTEROV, new_theta,
                           new_m)
    else:
        return tl_sgd_stepf(g, theta, m, n_params, lr, momentum, solver == _NESTEROV, new_theta,
                            new_m)


cdef Py_ssize_t _epoch(
    const floating[:, :] X, const floating[:, :] Y, const floating* sw, const int64_t* order,
    floating* theta, floating* state, double* hyper, int solver, Py_ssize_t batch_size,
    int softmax, Py_ssize_t hidden, floating* work, Py_ssize_t work_size, floating* partials,
    Py_ssize_t n_slots, floating* sums, floating* candidate, double* accumulated,
) noexcept nogil:
    """The batches of one epoch; returns the number completed (see train_epoch)."""
    cdef Py_ssize_t f = X.shape[0], o = Y.shape[0], n = X.shape[1]
    cdef Py_ssize_t n_params = hidden * f + hidden + o * hidden + o
    cdef Py_ssize_t n_batches = (n + batch_size - 1) // batch_size
    cdef Py_ssize_t k, start, stop
    cdef double t = hyper[_STEP], total = 0
    cdef floating S, cost, alpha = <floating> hyper[_ALPHA]
    cdef bint finite
    cdef Py_ssize_t rows = 3 if solver == _ADAM else 2   # theta, m (velocity), v
    for k in range(n_batches):
        start = k * batch_size
        stop = min(n, start + batch_size)
        if sw != NULL:
            S = <floating> _weight_sum(sw, order, start, stop)
            if S == 0:
                continue   # scikit-learn would divide by zero; nothing to learn from
        else:
            S = <floating> (stop - start)
        _all_sums(X, Y, order, sw, softmax, theta, hidden, start, stop, work, work_size,
                  partials, n_slots)
        _reduce_blocks(partials, (stop - start + _BLOCK - 1) // _BLOCK, n_params + 1, sums)
        cost = sums[n_params] / S
        if alpha != 0:
            cost = cost + (<floating> 0.5 * alpha) * _penalty(theta, f, hidden, o) / S
        finite = isfinite(cost) & _gradient(sums, theta, f, hidden, o, alpha, S)
        if solver == _ADAM:
            t += 1
        finite = finite & _update(sums, theta, state, n_params, solver, hyper, t, candidate)
        if not finite:
            hyper[_STEP] = t - 1 if solver == _ADAM else t
            accumulated[0] = total
            return k
        memcpy(theta, candidate, n_params * sizeof(floating))
        memcpy(state, candidate + n_params, (rows - 1) * n_params * sizeof(floating))
        total += <double> cost * <double> (stop - start)
    hyper[_STEP] = t
    accumulated[0] = total
    return n_batches


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
    dtype = np.float64 if floating is double else np.float32
    work_array, partial_array, slots = _scratch(f, hidden, o, batch_size, n_threads, dtype)
    cdef Py_ssize_t n_slots = slots
    cdef floating[::1] work = work_array
    cdef floating[::1] partials = partial_array
    cdef floating[::1] sums = np.empty(n_params + 1, dtype=dtype)
    cdef floating[::1] candidate = np.empty(3 * n_params, dtype=dtype)
    cdef const floating* sw = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    cdef const int64_t* op = &order[0] if order.shape[0] > 0 else NULL
    cdef double accumulated = 0
    cdef Py_ssize_t completed
    with nogil:
        completed = _epoch(X, Y, sw, op, &theta[0], &state[0, 0], &hyper[0], solver,
                           batch_size, softmax, hidden, &work[0], work.shape[0] // n_slots,
                           &partials[0], n_slots, &sums[0], &candidate[0], &accumulated)
    return completed, accumulated
