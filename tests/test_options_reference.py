"""The NumPy reference ``train_epoch`` (the issue-15 oracle) against scikit-learn's MLPClassifier.

Same initial weights, shuffle off, no early stopping: the epoch costs equal
``loss_curve_`` and the weights equal ``coefs_`` / ``intercepts_`` within 1e-9
relative in float64 (``_reference.train_epoch``'s contract).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sklearn_twin import CASES, N, case_data, twin_fit
from support import assert_params_close, relative_error
from twolayer import _reference
from twolayer._backends import load_backend
from twolayer._epochs import BatchDivergenceError, Optimizer, run_epoch
from twolayer._params import Layout, initial_parameters

SOLVER_CODES = {"sgd": 0, "nesterov": 1, "adam": 2}
EPOCHS = 12


def run_reference(X, Y, params, epochs, *, output="sigmoid", sample_weight=None,
                  solver="sgd", learning_rate=0.1, momentum=0.0, alpha=0.0,
                  batch_size=None, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                  schedule="constant", power_t=0.5, backend="numpy"):
    """Epoch by epoch through _epochs.run_epoch, as the fit driver and the drop-in do."""
    n = X.shape[1]
    layout = Layout(X.shape[0], params["W1"].shape[0], Y.shape[0])
    theta = layout.pack(params, X.dtype)
    optimizer = Optimizer(
        "sgd" if solver == "nesterov" else solver, theta.size, X.dtype,
        learning_rate=learning_rate, momentum=momentum,
        nesterovs_momentum=solver == "nesterov", beta_1=beta_1, beta_2=beta_2,
        epsilon=epsilon, alpha=alpha,
    )
    assert optimizer.solver_code == SOLVER_CODES[solver]
    kernels = load_backend(backend)
    costs = []
    for epoch in range(epochs):
        costs.append(run_epoch(kernels, X, Y, sample_weight, None, theta, optimizer,
                               batch_size or n, output == "softmax", 1))
        if schedule == "invscaling":
            optimizer.learning_rate = learning_rate / ((epoch + 1) * n + 1) ** power_t
    assert optimizer.epochs == epochs
    return np.array(costs), layout.unpack(theta), optimizer.hyper


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_train_epoch_follows_sklearn(case, weighted):
    X, Y, params, weights, opts = case_data(case, weighted)
    sk_opts = dict(opts)
    if sk_opts["solver"] == "nesterov":
        sk_opts.update(solver="sgd", nesterovs_momentum=True)
    expected_costs, expected = twin_fit(X, Y, params, EPOCHS, sample_weight=weights, **sk_opts)
    costs, final, hyper = run_reference(X, Y, params, EPOCHS, sample_weight=weights, **opts)
    assert relative_error(costs, expected_costs) < 1e-9
    assert_params_close(final, expected, 1e-9)
    # The run moved: the comparison is not between two copies of the start.
    assert relative_error(final["W1"], params["W1"]) > 1e-3
    batches = math.ceil(N / opts.get("batch_size", N))
    assert hyper[6] == (EPOCHS * batches if opts["solver"] == "adam" else 0)


def test_run_epoch_raises_with_the_parameters_before_the_failing_batch():
    X, Y, params, _, _ = case_data("multilabel-nesterov", weighted=False)
    weights = np.ones(N)
    weights[40:60] = 1e308  # batch 2's weighted cost overflows
    layout = Layout(4, 5, 3)
    theta = layout.pack(params, np.float64)
    optimizer = Optimizer("adam", theta.size, np.float64, learning_rate=0.01)
    kernels = load_backend("numpy")
    run_epoch(kernels, X[:, :40], Y[:, :40], weights[:40], None, theta, optimizer, 20, False, 1)
    before = (theta.copy(), optimizer.state.copy(), optimizer.t)
    theta = layout.pack(params, np.float64)
    optimizer = Optimizer("adam", theta.size, np.float64, learning_rate=0.01)
    run_epoch(kernels, X, Y, np.ones(N), None, theta, optimizer, N, False, 1)  # epoch 0
    assert optimizer.epochs == 1
    theta = layout.pack(params, np.float64)
    optimizer = Optimizer("adam", theta.size, np.float64, learning_rate=0.01)
    with pytest.raises(BatchDivergenceError, match="epoch 0, batch 2") as info:
        run_epoch(kernels, X, Y, weights, None, theta, optimizer, 20, False, 1)
    assert info.value.batch == 2 and info.value.iteration == 0 and optimizer.epochs == 0
    np.testing.assert_array_equal(layout.pack(info.value.params, np.float64), before[0])
    np.testing.assert_array_equal(theta, before[0])
    np.testing.assert_array_equal(optimizer.state, before[1])
    assert optimizer.t == before[2] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(solver="lbfgs"), "solver must be one of 'sgd', 'adam'; got 'lbfgs'"),
        (dict(learning_rate=0.0), "learning_rate must be a finite number > 0"),
        (dict(momentum=1.5), r"momentum must be a finite number in \[0.0, 1.0\], got 1.5"),
        (dict(momentum=-0.1), "momentum must be"),
        (dict(beta_1=1.0), r"beta_1 must be a finite number in \[0.0, 1.0\), got 1.0"),
        (dict(beta_2=-0.5), "beta_2 must be"),
        (dict(epsilon=0.0), "epsilon must be a finite number > 0.0, got 0.0"),
        (dict(alpha=-1e-3), "alpha must be a finite number >= 0.0"),
        (dict(alpha=float("nan")), "alpha must be"),
    ],
)
def test_optimizer_refuses_bad_hyperparameters(kwargs, message):
    args = dict(solver="sgd", learning_rate=0.1) | kwargs
    with pytest.raises(ValueError, match=message):
        Optimizer(args.pop("solver"), 10, np.float64, **args)


def test_optimizer_type_errors_name_the_argument():
    with pytest.raises(TypeError, match="nesterovs_momentum must be a bool"):
        Optimizer("sgd", 3, np.float64, learning_rate=0.1, nesterovs_momentum="yes")
    with pytest.raises(TypeError, match="momentum must be a real number"):
        Optimizer("sgd", 3, np.float64, learning_rate=0.1, momentum="0.9")


def test_order_gathers_batches_through_the_permutation():
    """A shuffled epoch equals the unshuffled epoch on the permuted columns."""
    X, Y, params, weights, _ = case_data("multiclass-adam-l2", weighted=True)
    order = np.random.default_rng(5).permutation(N).astype(np.int64)
    Xp, Yp, wp = X[:, order], Y[:, order], weights[order]
    results = []
    for args in ((X, Y, weights, order), (Xp, Yp, wp, np.empty(0, np.int64))):
        layout = Layout(4, 5, 3)
        theta = layout.pack(params, np.float64)
        state = np.zeros((2, theta.size))
        hyper = np.array([0.01, 0, 0.9, 0.999, 1e-8, 0.1, 0, 0])
        out = _reference.train_epoch(args[0], args[1], args[2], args[3], theta, state, hyper,
                                     2, 20, 1, 1)
        results.append((out, theta, state, hyper))
    (out_a, theta_a, state_a, hyper_a), (out_b, theta_b, state_b, hyper_b) = results
    assert out_a == out_b and out_a[0] == 6
    np.testing.assert_array_equal(theta_a, theta_b)
    np.testing.assert_array_equal(state_a, state_b)
    np.testing.assert_array_equal(hyper_a, hyper_b)


def test_zero_weight_batch_is_skipped():
    """A batch whose weights are all 0 changes nothing: the epoch equals one without it."""
    X, Y, params, _, _ = case_data("binary-momentum-l2", weighted=False)
    weights = np.random.default_rng(2).uniform(0.5, 1.5, N)
    weights[20:40] = 0.0  # batch 1
    keep = np.r_[0:20, 40:N]
    layout = Layout(4, 5, 1)
    runs = []
    for Xs, Ys, ws in ((X, Y, weights), (X[:, keep], Y[:, keep], weights[keep])):
        theta = layout.pack(params, np.float64)
        state = np.zeros((2, theta.size))
        hyper = np.array([0.01, 0, 0.9, 0.999, 1e-8, 0.1, 0, 0])
        out = _reference.train_epoch(Xs, Ys, ws, np.empty(0, np.int64), theta, state, hyper,
                                     2, 20, 0, 1)
        runs.append((out, theta, hyper[6]))
    (done_a, acc_a), theta_a, t_a = runs[0]
    (done_b, acc_b), theta_b, t_b = runs[1]
    assert (done_a, done_b) == (6, 5)
    assert acc_a == acc_b and t_a == t_b == 5
    np.testing.assert_array_equal(theta_a, theta_b)


def test_non_finite_batch_stops_before_writing():
    """Batch 2's weights overflow its cost: theta, state and t stay those after batch 1."""
    X, Y, params, _, _ = case_data("multilabel-nesterov", weighted=False)
    weights = np.ones(N)
    weights[40:60] = 1e308
    layout = Layout(4, 5, 3)
    results = []
    for stop in (N, 40):
        theta = layout.pack(params, np.float64)
        state = np.zeros((2, theta.size))
        hyper = np.array([0.01, 0, 0.9, 0.999, 1e-8, 0.0, 0, 0])
        out = _reference.train_epoch(X[:, :stop], Y[:, :stop], weights[:stop],
                                     np.empty(0, np.int64), theta, state, hyper, 2, 20, 0, 1)
        results.append((out, theta, state, hyper))
    (out_a, theta_a, state_a, hyper_a), (out_b, theta_b, state_b, hyper_b) = results
    assert out_a[0] == 2 and out_b[0] == 2
    assert out_a[1] == out_b[1] and math.isfinite(out_a[1])
    np.testing.assert_array_equal(theta_a, theta_b)
    np.testing.assert_array_equal(state_a, state_b)
    assert hyper_a[6] == hyper_b[6] == 2


def test_full_batch_plain_sgd_is_train_chunk_up_to_rounding(moons):
    """Unweighted sigmoid, no momentum/L2, one batch: train_chunk's gradient descent."""
    X, Y = moons
    layout = Layout(2, 5, 1)
    theta = initial_parameters(layout, np.float64, 3)
    chunk_theta, costs = theta.copy(), np.empty(20)
    assert _reference.train_chunk(X, Y, chunk_theta, 0.3, costs, 1) == 20
    state = np.zeros((2, theta.size))
    hyper = np.array([0.3, 0, 0.9, 0.999, 1e-8, 0, 0, 0])
    empty_w, empty_o = np.empty(0), np.empty(0, np.int64)
    epoch_costs = []
    for _ in range(20):
        done, acc = _reference.train_epoch(X, Y, empty_w, empty_o, theta, state, hyper, 0,
                                           X.shape[1], 0, 1)
        assert done == 1
        epoch_costs.append(acc / X.shape[1])
    assert relative_error(epoch_costs, costs) < 1e-13
    assert relative_error(theta, chunk_theta) < 1e-13


def test_forward_chunk_softmax_mode_is_the_softmax_of_the_logits():
    X, Y, params, _, _ = case_data("multiclass-sgd", weighted=False)
    _, final = twin_fit(X, Y, params, 3, output="softmax", learning_rate=0.1, batch_size=20)

    out = np.empty((4, N))
    flags = _reference.forward_chunk(X, final["W1"], final["b1"], final["W2"], final["b2"],
                                     out, 0, N, 3, 1)
    assert flags == 0
    np.testing.assert_allclose(out.sum(axis=0), 1.0, rtol=1e-15)
    z = final["W2"] @ np.tanh(final["W1"] @ X + final["b1"]) + final["b2"]
    expected = np.exp(z) / np.exp(z).sum(axis=0)
    np.testing.assert_allclose(out, expected, rtol=1e-13)


def test_softmax_is_stable_for_huge_logits():
    z = np.array([[1000.0, -1000.0], [999.0, -1e308], [-5.0, 0.0]])
    p = _reference.softmax(z)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[:, 0], [1 / (1 + math.exp(-1) + math.exp(-1005)),
                                         math.exp(-1) / (1 + math.exp(-1)), 0.0], atol=1e-15)
    loss = _reference.softmax_loss_from_logits(z, np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))
    assert loss[0] == pytest.approx(1 + math.log1p(math.exp(-1)), rel=1e-15)
    assert loss[1] == pytest.approx(1000.0, rel=1e-15)
