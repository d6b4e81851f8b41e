"""Prediction (issue 12): predict_proba on 100,000 x 20 (1,000,000 with --bench-full),
hidden 64, next to the tutorial's NumPy forward, scikit-learn's MLPClassifier given
the same weights and one training iteration of the same backend (group
"predict-large", side by side); and the small calls (one sample, one estimator
row, a one-iteration fit on 100 samples). Every benchmark checks its numbers."""

from __future__ import annotations

import numpy as np
import pytest

import twolayer
from twolayer._bench_predict import _params, numpy_forward, sklearn_model

HIDDEN, FEATURES = 64, 20


def _n(full: bool) -> int:
    return 1_000_000 if full else 100_000  # both many blocks: 2 threads run in parallel


def _check(proba: np.ndarray, params: dict[str, np.ndarray], X: np.ndarray) -> None:
    """Against the float64 tutorial forward on the first 3,000 samples."""
    expected = numpy_forward({k: v.astype(np.float64) for k, v in params.items()},
                             X[:, :3000].astype(np.float64))  # fmt: skip
    tol = 1e-12 if proba.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(proba[..., :3000], expected, rtol=tol, atol=tol)


@pytest.mark.benchmark(group="predict-large")
@pytest.mark.usefixtures("blas_threads")
def test_predict_proba(benchmark, backend, dtype, threads, full, warm, data) -> None:  # type: ignore[no-untyped-def]
    warm(backend)
    X, _ = data(_n(full), FEATURES, dtype)
    params = _params(FEATURES, HIDDEN, np.dtype(dtype))
    twolayer.predict_proba(params, X[:, :5000], backend=backend, n_threads=threads)
    benchmark.extra_info.update(backend=backend, threads=threads)
    proba = benchmark(twolayer.predict_proba, params, X, backend=backend, n_threads=threads)
    assert proba.dtype == np.dtype(dtype) and proba.shape == (1, X.shape[1])
    _check(proba, params, X)


@pytest.mark.benchmark(group="predict-large")
@pytest.mark.usefixtures("blas_threads")
def test_tutorial_numpy_forward(benchmark, dtype, threads, full, data) -> None:  # type: ignore[no-untyped-def]
    X, _ = data(_n(full), FEATURES, dtype)
    params = _params(FEATURES, HIDDEN, np.dtype(dtype))
    with np.errstate(over="ignore"):
        proba = benchmark(numpy_forward, params, X)
    _check(proba, params, X)


@pytest.mark.benchmark(group="predict-large")
@pytest.mark.usefixtures("blas_threads")
def test_sklearn_predict_proba_same_weights(benchmark, dtype, threads, full, data) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("sklearn")
    X, _ = data(_n(full), FEATURES, dtype)
    params = _params(FEATURES, HIDDEN, np.dtype(dtype))
    clf = sklearn_model(params)
    Xs = np.ascontiguousarray(X.T)  # scikit-learn's layout, made before timing
    proba = benchmark(clf.predict_proba, Xs)
    _check(proba[:, 1:].T, params, X)


@pytest.mark.benchmark(group="predict-large")
@pytest.mark.usefixtures("blas_threads")
def test_one_training_iteration(benchmark, backend, dtype, threads, full, warm, data) -> None:  # type: ignore[no-untyped-def]
    warm(backend)
    X, Y = data(_n(full), FEATURES, dtype)
    _, costs = benchmark(
        twolayer.fit, X, Y, 0.3, HIDDEN, 1, backend=backend, dtype=dtype, n_threads=threads
    )
    assert costs.shape == (1,) and np.isfinite(costs[0])


@pytest.mark.benchmark(group="predict-small-one-sample")
def test_one_sample_predict_proba(benchmark, backend, dtype, warm) -> None:  # type: ignore[no-untyped-def]
    warm(backend)
    params = _params(FEATURES, HIDDEN, np.dtype(dtype))
    x = np.random.default_rng(2).standard_normal((FEATURES, 1)).astype(dtype)
    proba = benchmark(twolayer.predict_proba, params, x, backend=backend)
    _check(proba, params, x)


@pytest.mark.benchmark(group="predict-small-estimator-row")
def test_estimator_one_row_predict_proba(benchmark, backend, dtype, warm) -> None:  # type: ignore[no-untyped-def]
    warm(backend)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((100, FEATURES)).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    clf = twolayer.TwoLayerClassifier(hidden_size=HIDDEN, max_iter=5, backend=backend).fit(X, y)
    row = X[:1].copy()
    proba = benchmark(clf.predict_proba, row)
    _check(proba[:, 1:].T, clf._network_params(), row.T)
    assert proba.sum() == pytest.approx(1.0)


@pytest.mark.benchmark(group="predict-small-fit-100")
def test_fit_one_iteration_on_100_samples(benchmark, backend, dtype, warm) -> None:  # type: ignore[no-untyped-def]
    warm(backend)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((FEATURES, 100)).astype(dtype)
    Y = (X[:1] > 0).astype(dtype)
    params, costs = benchmark(twolayer.fit, X, Y, 0.3, HIDDEN, 1, backend=backend)
    expected, expected_costs = twolayer.fit(X, Y, 0.3, HIDDEN, 1, backend="numpy", dtype=np.float64)
    tol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(costs, expected_costs, rtol=tol)
    np.testing.assert_allclose(params["W1"], expected["W1"], rtol=tol, atol=tol)
