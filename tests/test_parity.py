"""Compiled backends against the NumPy reference, over shapes, dtypes and layouts.

Generated as bottleneck does: one grid of cases, every compiled backend.
"""

import itertools

import numpy as np
import pytest

import twolayer
from support import BLOCK, COMPILED, SHAPES, assert_params_close, problem, relative_error

pytestmark = pytest.mark.skipif(not COMPILED, reason="no compiled backend installed")


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize(("n_features", "hidden", "n_outputs", "n_samples"), SHAPES)
def test_float64_matches_reference(backend, n_features, hidden, n_outputs, n_samples):
    X, Y = problem(n_features, n_outputs, n_samples)
    iterations = 300 if n_samples < BLOCK else 40
    expected, expected_costs = twolayer.fit(X, Y, 0.5, hidden, iterations, backend="numpy")
    params, costs = twolayer.fit(X, Y, 0.5, hidden, iterations, backend=backend)
    assert relative_error(costs, expected_costs) < 1e-9
    assert_params_close(params, expected, 1e-9)


@pytest.mark.parametrize("backend", COMPILED)
def test_tutorial_run_matches_reference(backend, moons):
    X, Y = moons
    expected, expected_costs = twolayer.fit(X, Y, 0.3, 5, 5000, backend="numpy")
    params, costs = twolayer.fit(X, Y, 0.3, 5, 5000, backend=backend)
    assert relative_error(costs, expected_costs) < 1e-9
    assert_params_close(params, expected, 1e-9)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize(("n_features", "hidden", "n_outputs", "n_samples"), SHAPES[1:5])
def test_float32_within_float32_accuracy(backend, n_features, hidden, n_outputs, n_samples):
    X, Y = problem(n_features, n_outputs, n_samples, seed=1)
    expected, expected_costs = twolayer.fit(X, Y, 0.5, hidden, 100, backend="numpy")
    params, costs = twolayer.fit(X.astype(np.float32), Y, 0.5, hidden, 100, backend=backend)
    assert costs.dtype == np.float32
    assert relative_error(costs, expected_costs) < 1e-4
    # Relative to the scale of all parameters: a bias near 0 has no relative accuracy
    # in float32 (NumPy's own float32 fit misses such a b2 by 3e-4 relative).
    packed = np.concatenate([params[k].ravel() for k in expected])
    packed_expected = np.concatenate([expected[k].ravel() for k in expected])
    assert relative_error(packed, packed_expected) < 1e-4


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_are_bitwise_identical_for_every_thread_count(backend, dtype):
    X, Y = problem(6, 2, 5 * BLOCK + 123, seed=2)
    X = X.astype(dtype)
    runs = [twolayer.fit(X, Y, 0.5, 8, 15, backend=backend, n_threads=t) for t in (1, 2, 3, 5)]
    first_params, first_costs = runs[0]
    for params, costs in runs[1:]:
        np.testing.assert_array_equal(costs, first_costs)
        for key in params:
            np.testing.assert_array_equal(params[key], first_params[key])


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("order", ["C", "F", "strided"])
def test_layouts_read_in_place(backend, order):
    X, Y = problem(5, 1, BLOCK + 10, seed=3)
    expected, expected_costs = twolayer.fit(X, Y, 0.5, 6, 20, backend=backend)
    if order == "F":
        X = np.asfortranarray(X)
    elif order == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    params, costs = twolayer.fit(X, Y, 0.5, 6, 20, backend=backend)
    np.testing.assert_array_equal(costs, expected_costs)
    for key in params:
        np.testing.assert_array_equal(params[key], expected[key])


@pytest.mark.parametrize("backend", COMPILED)
def test_saturated_logits_keep_costs_finite_and_gradients_right(backend):
    # Huge inputs drive |logit| far beyond 40: tanh sits at +-1, the sigmoid saturates.
    X = np.array([[1e4, -1e4, 3e3, -2e3, 5e3]])
    Y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0]])
    for iterations in (1, 50):
        expected, expected_costs = twolayer.fit(X, Y, 5.0, 3, iterations, backend="numpy", seed=4)
        params, costs = twolayer.fit(X, Y, 5.0, 3, iterations, backend=backend, seed=4)
        assert np.all(np.isfinite(costs))
        assert relative_error(costs, expected_costs) < 1e-9
        assert_params_close(params, expected, 1e-9)


@pytest.mark.parametrize("backend", COMPILED)
def test_gradient_sums_match_reference(backend):
    from twolayer._backends import load_backend
    from twolayer._params import Layout, initial_parameters

    kernels = load_backend(backend)
    reference = load_backend("numpy")
    for (f, h, o, n), dtype in itertools.product(SHAPES, [np.float64, np.float32]):
        X, Y = problem(f, o, n, seed=5)
        X, Y = X.astype(dtype), Y.astype(dtype)
        layout = Layout(f, h, o)
        theta = initial_parameters(layout, np.dtype(dtype), 1)
        grad, expected = np.empty_like(theta), np.empty_like(theta)
        cost = kernels.gradient_sums(X, Y, theta, grad, 2)
        expected_cost = reference.gradient_sums(X, Y, theta, expected, 1)
        tol = 1e-12 if dtype == np.float64 else 2e-4
        assert cost == pytest.approx(expected_cost, rel=tol)
        assert relative_error(grad, expected) < tol * 10
