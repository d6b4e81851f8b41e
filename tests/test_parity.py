"""Compiled backends against the NumPy reference, over shapes, dtypes and layouts.

Generated as bottleneck does: one grid of cases, every compiled backend.
"""

import functools
import itertools

import numpy as np
import pytest

import twolayer
from support import (
    BLOCK,
    COMPILED,
    LAYOUTS,
    SHAPES,
    assert_params_close,
    in_layout,
    problem,
    relative_error,
)

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


# The parity grid: every backend x dtype x memory layout (of X and Y) x thread count,
# on more than two blocks (a ragged last one), so that threads > 1 run blocks in
# parallel. Each case must give the bits of the same backend on C-contiguous data with
# one thread (the compiled kernels read every layout in place in a fixed order and sum
# blocks in block order), and the reference's values within float64 / float32 accuracy.
GRID_SHAPE = (5, 6, 2, 2 * BLOCK + 77)  # features, hidden, outputs, samples
ALL_BACKENDS = twolayer.available_backends()


@functools.cache
def _grid_baseline(backend, dtype):
    f, h, o, n = GRID_SHAPE
    X, Y = problem(f, o, n, seed=3)
    X, Y = X.astype(dtype), Y.astype(dtype)
    return X, Y, twolayer.fit(X, Y, 0.5, h, 12, backend=backend, n_threads=1)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_parity_grid(backend, dtype, layout, threads):
    X, Y, (expected, expected_costs) = _grid_baseline(backend, dtype)
    params, costs = twolayer.fit(
        in_layout(X, layout), in_layout(Y, layout), 0.5, GRID_SHAPE[1], 12,
        backend=backend, n_threads=threads,
    )  # fmt: skip
    if backend == "numpy":
        # The reference's matrix products go through BLAS, whose summation order (and
        # so the last bits) depends on the operands' layout.
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        assert relative_error(costs, expected_costs) < rtol
        assert_params_close(params, expected, rtol)
    else:
        np.testing.assert_array_equal(costs, expected_costs)
        for key in params:
            np.testing.assert_array_equal(params[key], expected[key], err_msg=key)
        _, _, (reference, reference_costs) = _grid_baseline("numpy", dtype)
        rtol = 1e-9 if dtype == np.float64 else 1e-4
        assert relative_error(costs, reference_costs) < rtol
        packed = np.concatenate([params[k].ravel() for k in reference])
        packed_reference = np.concatenate([reference[k].ravel() for k in reference])
        assert relative_error(packed, packed_reference) < rtol


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


# Rows of X a multiple of 4 kB apart (512 float64 samples: n = 2048 here) would crowd
# L1's sets if read in place, so the Cython build gathers those tiles instead; rows 8
# samples further apart are read in place. Both must give the same bits, in training
# and in prediction.
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", COMPILED)
def test_rows_4k_apart_give_the_bits_of_other_strides(backend, dtype):
    f, h, n = 20, 8, 2048
    rng = np.random.default_rng(5)
    wide = rng.standard_normal((f, n + 8)).astype(dtype)
    crowded = np.ascontiguousarray(wide[:, :n])  # row stride n * itemsize: 4 kB multiple
    spread = wide[:, :n]  # the same values, rows (n + 8) * itemsize apart
    assert crowded.strides[0] % 4096 == 0 and spread.strides[0] % 4096 != 0
    Y = (rng.random((1, n)) < 0.5).astype(dtype)
    params, costs = twolayer.fit(crowded, Y, 0.5, h, 6, backend=backend, n_threads=1)
    params_spread, costs_spread = twolayer.fit(spread, Y, 0.5, h, 6, backend=backend, n_threads=1)
    np.testing.assert_array_equal(costs, costs_spread)
    for key in params:
        np.testing.assert_array_equal(params[key], params_spread[key], err_msg=key)
    _, reference_costs = twolayer.fit(crowded, Y, 0.5, h, 6, backend="numpy")
    assert relative_error(costs, reference_costs) < (1e-12 if dtype == np.float64 else 1e-5)
    proba = twolayer.predict_proba(params, crowded, backend=backend)
    np.testing.assert_array_equal(proba, twolayer.predict_proba(params, spread, backend=backend))
