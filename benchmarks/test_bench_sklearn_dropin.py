"""twolayer.sklearn.MLPClassifier against scikit-learn's MLPClassifier (issue 15's target).

20,000 x 20, hidden 64, default settings (adam, batch 200, up to 200 epochs), one
thread (scikit-learn's BLAS limited to one with threadpoolctl) with --bench-full;
5,000 samples and 20 epochs otherwise. Every timed fit must give scikit-learn's
model (n_iter_, loss_curve_ within 1e-8, weights within 1e-7, same predictions).
The target is a >= 5x shorter fit than scikit-learn's; compare the "sklearn-dropin"
group's rows, timed in the same run.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import numpy as np
import pytest

import twolayer

sklearn_mlp = pytest.importorskip("sklearn.neural_network")
threadpoolctl = pytest.importorskip("threadpoolctl")

IMPLEMENTATIONS = ("sklearn", *twolayer.available_backends())


@cache
def _data(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 20))
    noise = 0.3 * rng.standard_normal(n_samples)
    y = (np.tanh(X[:, :5]).sum(axis=1) + 0.5 * X[:, 5] * X[:, 6] + noise > 0).astype(int)
    return X, y


def _estimator(impl: str, max_iter: int) -> Any:
    common = dict(hidden_layer_sizes=(64,), random_state=0, max_iter=max_iter)
    if impl == "sklearn":
        return sklearn_mlp.MLPClassifier(activation="tanh", **common)
    from twolayer.sklearn import MLPClassifier

    return MLPClassifier(backend=impl, n_threads=1, **common)


def _fit(impl: str, X: np.ndarray, y: np.ndarray, max_iter: int) -> Any:
    with warnings.catch_warnings(), threadpoolctl.threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter: the same in both
        return _estimator(impl, max_iter).fit(X, y)


@cache
def _reference(n_samples: int, max_iter: int) -> Any:
    X, y = _data(n_samples)
    return _fit("sklearn", X, y, max_iter)


@pytest.mark.benchmark(group="sklearn-dropin")
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_dropin_vs_sklearn(benchmark, impl: str, full: bool, warm) -> None:  # type: ignore[no-untyped-def]
    n_samples, max_iter = (20_000, 200) if full else (5_000, 20)
    X, y = _data(n_samples)
    if impl != "sklearn":
        warm(impl)
        _fit(impl, X[:300], y[:300], 2)  # the drop-in's first call (imports) is not timed
    benchmark.extra_info.update(n_samples=n_samples, hidden=64, threads=1, impl=impl)
    model = benchmark.pedantic(_fit, args=(impl, X, y, max_iter), rounds=3 if full else 5)
    expected = _reference(n_samples, max_iter)
    benchmark.extra_info["epochs"] = model.n_iter_
    assert model.n_iter_ == expected.n_iter_
    np.testing.assert_allclose(model.loss_curve_, expected.loss_curve_, rtol=1e-8, atol=0)
    for ours, theirs in zip(
        model.coefs_ + model.intercepts_, expected.coefs_ + expected.intercepts_, strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(model.predict(X), expected.predict(X))
