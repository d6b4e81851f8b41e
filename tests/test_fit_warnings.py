"""A fit that ends saturated says so (the estimator with scikit-learn's ConvergenceWarning)."""

import warnings

import numpy as np
import pytest

from twolayer import TwoLayerClassifier
from twolayer._diagnostics import baseline_cost, fit_problem, saturated_share

datasets = pytest.importorskip("sklearn.datasets")
exceptions = pytest.importorskip("sklearn.exceptions")


@pytest.fixture(scope="module")
def cancer():
    return datasets.load_breast_cancer(return_X_y=True)


def test_estimator_warns_when_raw_data_saturates_the_hidden_layer(cancer):
    X, y = cancer
    with pytest.warns(exceptions.ConvergenceWarning, match="hidden layer saturated") as record:
        clf = TwoLayerClassifier(max_iter=300).fit(X, y)
    assert "the data may need scaling" in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller's fit
    assert clf.score(X, y) == pytest.approx(max(np.mean(y), 1 - np.mean(y)))


def test_estimator_is_quiet_on_scaled_data(cancer):
    X, y = cancer
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = TwoLayerClassifier(max_iter=300).fit(X, y)
    assert clf.score(X, y) > 0.95


def test_saturation_share_and_baseline_by_hand():
    params = {"W1": np.array([[1.0], [100.0]]), "b1": np.zeros((2, 1)),
              "W2": np.ones((1, 2)), "b2": np.zeros((1, 1))}  # fmt: skip
    X = np.array([[0.1, 1.0, 3.0, -3.0]])
    # tanh(0.1, 1, 3, -3) = 0.0997, 0.762, 0.99505, -0.99505: 2 of 4 beyond 0.99;
    # unit 2 (x 100): all 4 beyond.
    assert saturated_share(params, X) == pytest.approx(6 / 8)
    Y = np.array([[0.0, 1.0, 1.0, 1.0]])  # frequency 3/4: entropy of Bernoulli(0.75)
    assert baseline_cost(Y) == pytest.approx(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    flat = np.full(10, baseline_cost(Y))
    assert "cost flat" in fit_problem(params, X, Y, flat)
    assert fit_problem(params, X, Y, flat, flat_cost=False) is None
    assert fit_problem(params, X, Y, flat * 0.5) is None
    params["W1"][0] = 100.0  # now every activation is saturated
    assert "saturated (100%" in fit_problem(params, X, Y, flat * 0.5, flat_cost=False)
