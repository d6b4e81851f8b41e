"""NumPy reference backend: the tutorial's arithmetic, one iteration at a time.

The compiled backends expose the same functions with the same signatures
(``train_chunk``, ``gradient_sums``, ``train_epoch`` and ``forward_chunk``), as
bottleneck's ``slow`` module does, so that tests can hold every backend against this one.

Array conventions (shared by every backend):
    X      (n_features, n_samples)   any strides           IN
    Y      (n_outputs, n_samples)    any strides           IN
    theta  packed parameters, see ``_params.Layout``       IN/OUT
    grad   gradient *sums* over samples, same layout       OUT
    costs  one cost per iteration, before its update       OUT
"""

from __future__ import annotations

import numpy as np

from ._params import Layout
from ._solver_codes import ADAM, NESTEROV


def _layout(X: np.ndarray, Y: np.ndarray, theta: np.ndarray) -> Layout:
    n_features, n_outputs = X.shape[0], Y.shape[0]
    hidden = (theta.size - n_outputs) // (n_features + 1 + n_outputs)
    return Layout(n_features, hidden, n_outputs)


def log_loss_from_logits(Z2: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Binary cross-entropy per element, computed from the logits.

    ``-(y log s + (1 - y) log(1 - s))`` with ``s = sigmoid(z)`` equals
    ``max(z, 0) - y z + log1p(exp(-|z|))``. The right-hand side never takes
    the log of a rounded-to-zero probability, so it stays finite (and
    accurate) when the sigmoid saturates, where the tutorial's formula gives
    ``inf`` or ``nan``.
    """
    return np.maximum(Z2, 0) - Y * Z2 + np.log1p(np.exp(-np.abs(Z2)))


def sigmoid(Z2: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow: for z < 0 use ``e / (1 + e)``, e = exp(z)."""
    e = np.exp(-np.abs(Z2))
    return np.where(Z2 >= 0, 1 / (1 + e), e / (1 + e))


def forward(X: np.ndarray, theta: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Hidden activations A1 and output logits Z2."""
    p = layout.views(theta)
    A1 = np.tanh(p["W1"] @ X + p["b1"])
    Z2 = p["W2"] @ A1 + p["b2"]
    return A1, Z2


def softmax(Z2: np.ndarray) -> np.ndarray:
    """One softmax over the outputs (rows) of each sample (column), max subtracted first."""
    e = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def softmax_loss_from_logits(Z2: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy per sample, ``sum_i y_i (lse - z_i)``, from the logits.

    ``lse = max z + log(sum exp(z - max z))`` is exact where the softmax of a
    wrong class rounds to zero (scikit-learn clips it to eps instead).
    """
    top = Z2.max(axis=0, keepdims=True)
    lse = top + np.log(np.sum(np.exp(Z2 - top), axis=0, keepdims=True))
    return np.sum(Y * (lse - Z2), axis=0)


def _cost_and_sums(
    X: np.ndarray,
    Y: np.ndarray,
    theta: np.ndarray,
    layout: Layout,
    weights: np.ndarray | None = None,
    use_softmax: bool = False,
) -> tuple[float, dict[str, np.ndarray]]:
    """The summed (weighted) cost over the columns of X and its gradient sums.

    ``weights`` None: every sample counts once, with no multiply, so the
    unweighted arithmetic never depends on the weights path.
    """
    p = layout.views(theta)
    A1, Z2 = forward(X, theta, layout)
    if use_softmax:
        per_sample = softmax_loss_from_logits(Z2, Y)
        dy = softmax(Z2) - Y
    else:
        per_sample = log_loss_from_logits(Z2, Y)
        dy = sigmoid(Z2) - Y
    if weights is None:
        cost_sum = np.sum(per_sample)
    else:
        cost_sum = np.sum(per_sample * weights)
        dy = dy * weights
    dZ1 = (p["W2"].T @ dy) * (1 - A1**2)
    sums = {
        "W1": dZ1 @ X.T,
        "b1": np.sum(dZ1, axis=1, keepdims=True),
        "W2": dy @ A1.T,
        "b2": np.sum(dy, axis=1, keepdims=True),
    }
    return cost_sum, sums


def gradient_sums(
    X: np.ndarray, Y: np.ndarray, theta: np.ndarray, grad: np.ndarray, n_threads: int
) -> float:
    """Write the gradient of the summed cost into ``grad``; return the summed cost."""
    layout = _layout(X, Y, theta)
    cost_sum, sums = _cost_and_sums(X, Y, theta, layout)
    for key, view in layout.views(grad).items():
        view[...] = sums[key]
    return float(cost_sum)


def train_chunk(
    X: np.ndarray,
    Y: np.ndarray,
    theta: np.ndarray,
    learning_rate: float,
    costs: np.ndarray,
    n_threads: int,
) -> int:
    """Run ``len(costs)`` iterations of gradient descent, updating ``theta`` in place.

    Returns the number of iterations completed. A smaller number ``j`` means
    iteration ``j`` produced a non-finite cost or update: ``costs[j]`` holds
    that cost and ``theta`` keeps the last finite parameters.
    """
    layout = _layout(X, Y, theta)
    m = X.shape[1]
    params = layout.views(theta)
    with np.errstate(over="ignore"):  # a float32 fit with lr > 3.4e38: inf, diverges at once
        lr = theta.dtype.type(learning_rate)
    for j in range(costs.shape[0]):
        with np.errstate(all="ignore"):
            cost_sum, sums = _cost_and_sums(X, Y, theta, layout)
            costs[j] = cost_sum / m
            # The tutorial's update, P - lr * ((1 / m) * dP_sum), into a candidate
            # so that a non-finite step never reaches theta.
            updated = {k: params[k] - lr * ((1 / m) * sums[k]) for k in params}
        if not np.isfinite(costs[j]) or not all(np.all(np.isfinite(v)) for v in updated.values()):
            return j
        for key, view in params.items():
            view[...] = updated[key]
    return costs.shape[0]


# The slots of train_epoch's ``hyper`` vector (see train_epoch).
LR, MOMENTUM, BETA_1, BETA_2, EPSILON, ALPHA, STEP = range(7)


def _batch_cost_and_gradient(
    X: np.ndarray,
    Y: np.ndarray,
    weights: np.ndarray | None,
    theta: np.ndarray,
    layout: Layout,
    alpha: float,
    use_softmax: bool,
) -> tuple[float, np.ndarray]:
    """scikit-learn's batch loss and gradient (``_backprop``): means over S, L2 on W1, W2.

    S is the batch length, or its weight sum when weighted.
    """
    T = theta.dtype.type
    S = T(X.shape[1]) if weights is None else np.sum(weights)
    cost_sum, sums = _cost_and_sums(X, Y, theta, layout, weights, use_softmax)
    p = layout.views(theta)
    a = T(alpha)
    squares = np.dot(p["W1"].ravel(), p["W1"].ravel()) + np.dot(p["W2"].ravel(), p["W2"].ravel())
    cost = cost_sum / S + (T(0.5) * a) * squares / S
    grad = np.empty_like(theta)
    g = layout.views(grad)
    for key in ("W1", "W2"):
        g[key][...] = (sums[key] + a * p[key]) / S
    for key in ("b1", "b2"):
        g[key][...] = sums[key] / S
    return float(cost), grad


def _step(
    theta: np.ndarray, state: np.ndarray, grad: np.ndarray, hyper: np.ndarray, solver: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """scikit-learn's ``_stochastic_optimizers`` update: new (theta, state, t), not written."""
    T = theta.dtype.type
    lr = T(hyper[LR])
    t = float(hyper[STEP])
    new_state = state.copy()
    if solver == ADAM:
        b1, b2 = float(hyper[BETA_1]), float(hyper[BETA_2])
        t += 1
        m = T(b1) * state[0] + T(1 - b1) * grad
        v = T(b2) * state[1] + T(1 - b2) * (grad * grad)
        lr_t = T(float(hyper[LR]) * np.sqrt(1 - b2**t) / (1 - b1**t))
        update = -lr_t * m / (np.sqrt(v) + T(hyper[EPSILON]))
        new_state[0], new_state[1] = m, v
    else:
        mu = T(hyper[MOMENTUM])
        velocity = mu * state[0] - lr * grad
        update = mu * velocity - lr * grad if solver == NESTEROV else velocity
        new_state[0] = velocity
    return theta + update, new_state, t


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
    """One epoch of mini-batch sgd / Nesterov / adam, scikit-learn's arithmetic.

    The contract of every backend's ``train_epoch`` (the compiled ones mirror this):

    X (f, n), Y (o, n)   any strides, the dtype T of theta                     IN
    sample_weight        T (n,) contiguous, finite, >= 0; shape (0,): unweighted
                         (no multiply at all, so unweighted bits never depend on it)  IN
    order                int64 (n,), a permutation of 0..n-1; shape (0,): 0..n-1. Batch k
                         is the samples at positions [k B, min((k+1) B, n)) of it, gathered
                         tile by tile (never copied whole)                       IN
    theta                T (n_params,), packed as ``_params.Layout``              IN/OUT
    state                T (2, n_params) C-contiguous, zeros at the start: sgd's
                         velocities in row 0; adam's m and v in rows 0 and 1      IN/OUT
    hyper                float64 (8,): [LR, MOMENTUM, BETA_1, BETA_2, EPSILON, ALPHA,
                         STEP (adam's t, written back), unused]                   IN/OUT
    solver               SGD, NESTEROV or ADAM;  batch_size B in [1, n]
    softmax              0: one sigmoid and binary cross-entropy per output; 1: one softmax
                         over the outputs of each sample, categorical cross-entropy
    n_threads            the result is bitwise the same for every value (blocks of BLOCK
                         positions counted from each batch's start, reduced in order)

    Per batch, S = its length (or weight sum) and P the parameters before it:
    cost = sum_s w_s loss_s / S + alpha / 2 (|W1|^2 + |W2|^2) / S, the losses from
    the logits (``log_loss_from_logits``, ``softmax_loss_from_logits``); gradient
    g = (sums of the weighted terms + alpha P on W1, W2) / S (scikit-learn's
    ``_backprop``); then ``_stochastic_optimizers``' step:
    sgd v = momentum v - lr g, P += v (Nesterov: P += momentum v - lr g);
    adam t += 1, m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
    P += -lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + epsilon).

    A weighted batch whose weights sum to 0 is skipped (no update, no loss:
    scikit-learn would divide by zero). Returns (batches completed, sum of batch
    cost x batch length, in float64: scikit-learn's ``accumulated_loss``); fewer
    batches than the epoch has means that batch gave a non-finite cost or
    update, and nothing of it was written (theta, state, hyper[STEP]).
    """
    layout = _layout(X, Y, theta)
    n = X.shape[1]
    n_batches = -(-n // batch_size)
    accumulated = 0.0
    for k in range(n_batches):
        positions = slice(k * batch_size, min(n, (k + 1) * batch_size))
        # Gathered into fresh arrays either way, so the BLAS calls see the same layout
        # whatever X's strides and the order (results depend on the samples only).
        idx = order[positions] if order.shape[0] else np.arange(positions.start, positions.stop)
        weights = sample_weight[idx] if sample_weight.shape[0] else None
        with np.errstate(all="ignore"):
            if weights is not None and not np.sum(weights) > 0:
                continue  # scikit-learn would divide by zero here
            cost, grad = _batch_cost_and_gradient(
                X[:, idx], Y[:, idx], weights, theta, layout, hyper[ALPHA], bool(softmax)
            )
            new_theta, new_state, t = _step(theta, state, grad, hyper, solver)
        finite = np.isfinite(new_theta).all() and np.isfinite(new_state).all()
        if not (np.isfinite(cost) and finite):
            return k, accumulated
        theta[...] = new_theta
        state[...] = new_state
        hyper[STEP] = t
        accumulated += cost * (positions.stop - positions.start)
    return n_batches, accumulated


def forward_chunk(
    X: np.ndarray,
    W1: np.ndarray,
    b1: np.ndarray,
    W2: np.ndarray,
    b2: np.ndarray,
    out: np.ndarray,
    start: int,
    stop: int,
    mode: int,
    n_threads: int,
) -> int:
    """The compiled backends' ``forward_chunk`` (see there) with this module's forward.

    Columns [start, stop) of ``out`` get the logits (mode 0), the probabilities
    (mode 1), for one output the rows sigmoid(-z), sigmoid(z) (mode 2), or one
    softmax over the outputs of each sample (mode 3).
    Returns 0, or 1 (X holds a NaN, an infinity or a value beyond
    ``input_limit``), 2 (the parameters are not finite) or 4 (a logit could
    overflow).
    """
    layout = Layout(X.shape[0], W1.shape[0], W2.shape[0])
    theta = layout.pack({"W1": W1, "b1": b1, "W2": W2, "b2": b2}, X.dtype)
    # One layout for BLAS whatever X's strides: NumPy (2.2, for one) rounds its products
    # differently for strided operands, and the result must not depend on the layout.
    part = np.ascontiguousarray(X[:, start:stop])
    if not np.isfinite(theta).all():
        return 2
    quarter = np.finfo(theta.dtype).max / 4
    with np.errstate(all="ignore"):
        if not np.all(np.abs(W2).sum(axis=1) + np.abs(b2[:, 0]) < quarter):
            return 4
        limit = input_limit(W1, b1)
        flags = 0 if -part.min() <= limit and part.max() <= limit else 1  # False for NaN
        _, Z2 = forward(part, theta, layout)
        if np.isnan(Z2).any():
            flags |= 4
        if mode == 0:
            out[:, start:stop] = Z2
        elif mode == 1:
            out[:, start:stop] = sigmoid(Z2)
        elif mode == 3:
            out[:, start:stop] = softmax(Z2)
        else:
            out[0, start:stop] = sigmoid(-Z2[0])
            out[1, start:stop] = sigmoid(Z2[0])
    return flags


def input_limit(W1: np.ndarray, b1: np.ndarray) -> float:
    """The largest |x| for which no product or partial sum of W1 x + b1 can overflow.

    Every term and partial sum then stays below a quarter of the largest
    float, rounding included. Beyond it a finite X can give inf - inf = NaN, or
    an infinity whose true sum is small, so prediction refuses such X.
    """
    big = np.finfo(W1.dtype).max
    room = big / 4 - np.abs(b1).max()
    row_max = np.abs(W1).sum(axis=1).max()
    if not room > 0:
        return 0.0
    return float(big) if row_max == 0 else float(min(room / row_max, big))
