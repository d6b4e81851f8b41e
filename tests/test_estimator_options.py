"""TwoLayerClassifier's training options (issue 15): passed through to twolayer.fit, and
the same model as scikit-learn's MLPClassifier started from the same weights."""

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler

import twolayer
from twolayer import TwoLayerClassifier
from twolayer._labels import _validation_split

BACKENDS = twolayer.available_backends()


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _one_hot(y):
    return (y[np.newaxis, :] == np.unique(y)[:, np.newaxis]).astype(float)


@pytest.mark.parametrize("backend", BACKENDS)
def test_options_pass_through_to_fit(backend):
    X, y = _iris()
    sw = np.random.RandomState(0).uniform(0.5, 2, X.shape[0])
    options = dict(alpha=0.1, solver="adam", batch_size=32, shuffle=True, beta_1=0.8,
                   beta_2=0.99, epsilon=1e-7)  # fmt: skip
    clf = TwoLayerClassifier(hidden_size=6, learning_rate=0.01, max_iter=15, backend=backend,
                             random_state=4, **options)  # fmt: skip
    clf.fit(X, y, sample_weight=sw)
    params, costs = twolayer.fit(X.T, _one_hot(y), 0.01, 6, 15, backend=backend, seed=4,
                                 output="softmax", sample_weight=sw, **options)  # fmt: skip
    np.testing.assert_array_equal(clf.loss_curve_, costs)
    np.testing.assert_array_equal(clf.coefs_[0], params["W1"].T)
    np.testing.assert_array_equal(clf.intercepts_[1], params["b2"][:, 0])
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3 and clf.n_layers_ == 3
    assert clf.loss_ == costs[-1]


def test_defaults_are_unchanged_for_binary_targets():
    X, y = _cancer()
    clf = TwoLayerClassifier(hidden_size=4, max_iter=30, backend="numpy").fit(X, y)
    params, costs = twolayer.fit(X.T, y[np.newaxis, :].astype(float), 0.3, 4, 30,
                                 backend="numpy")  # fmt: skip
    np.testing.assert_array_equal(clf.loss_curve_, costs)
    np.testing.assert_array_equal(clf.coefs_[1], params["W2"].T)
    assert clf.out_activation_ == "logistic"


def test_multiclass_output_auto_is_softmax_and_sigmoid_stays_available():
    X, y = _iris()
    soft = TwoLayerClassifier(hidden_size=5, max_iter=50, backend="numpy").fit(X, y)
    ovr = TwoLayerClassifier(hidden_size=5, max_iter=50, backend="numpy", output="sigmoid")
    ovr.fit(X, y)
    Z = soft.decision_function(X)
    expected = np.exp(Z - Z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft.predict_proba(X), expected, rtol=1e-13)
    np.testing.assert_array_equal(soft.predict(X), soft.classes_[np.argmax(Z, axis=1)])
    # One-vs-rest: the costs of today's multiclass estimator (independent sigmoids).
    _, costs = twolayer.fit(X.T, _one_hot(y), 0.3, 5, 50, backend="numpy")
    np.testing.assert_array_equal(ovr.loss_curve_, costs)
    assert ovr.out_activation_ == "logistic"
    assert not np.allclose(soft.loss_curve_, ovr.loss_curve_)


def _sklearn_from_same_start(clf_kwargs, sk_kwargs, X, y, sw, iterations):
    """TwoLayerClassifier and scikit-learn's MLPClassifier started from the same weights."""
    start = TwoLayerClassifier(max_iter=0, backend="numpy", **clf_kwargs).fit(X, y)
    sk = twolayer.to_sklearn(
        twolayer.params_from_sklearn(start), start.classes_,
        estimator=SkMLP(activation="tanh", warm_start=True, max_iter=iterations, tol=0.0,
                        n_iter_no_change=10**9, **sk_kwargs),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y, sample_weight=sw)
    return sk


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_same_model_as_sklearn_from_the_same_weights(backend, weighted, data):
    X, y = _cancer() if data == "binary" else _iris()
    sw = np.random.RandomState(2).uniform(0, 2, X.shape[0]) if weighted else None
    n = 25
    common = dict(hidden_size=5, alpha=0.3, solver="sgd", momentum=0.9,
                  nesterovs_momentum=True, batch_size=40)  # fmt: skip
    clf = TwoLayerClassifier(learning_rate=0.05, max_iter=n, backend=backend, **common)
    clf.fit(X, y, sample_weight=sw)
    sk = _sklearn_from_same_start(
        common, dict(hidden_layer_sizes=(5,), learning_rate_init=0.05, alpha=0.3, solver="sgd",
                     momentum=0.9, nesterovs_momentum=True, batch_size=40, shuffle=False),
        X, y, sw, n,
    )  # fmt: skip
    assert sk.n_iter_ == clf.n_iter_ == n
    np.testing.assert_allclose(clf.loss_curve_, sk.loss_curve_, rtol=1e-9)
    for ours, theirs in zip(clf.coefs_ + clf.intercepts_, sk.coefs_ + sk.intercepts_, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-15)


def test_softmax_models_round_trip_through_model_files(tmp_path):
    X, y = _iris()
    clf = TwoLayerClassifier(hidden_size=4, max_iter=20, backend="numpy", solver="adam",
                             learning_rate=0.01).fit(X, y)  # fmt: skip
    path = twolayer.save(clf, tmp_path / "softmax.npz")
    loaded = twolayer.load(path)
    assert loaded.out_activation_ == "softmax" and loaded.get_params()["solver"] == "adam"
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(output="tanh"), ValueError, "output must be"),
        (dict(alpha=-1.0), ValueError, "alpha"),
        (dict(solver="lbfgs"), ValueError, "solver"),
        (dict(momentum=1.5), ValueError, "momentum"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(schedule="adaptive"), ValueError, "schedule"),
    ],
)
def test_bad_options_name_themselves(kwargs, error, message):
    X, y = _iris()
    with pytest.raises(error, match=message):
        TwoLayerClassifier(max_iter=2, backend="numpy", **kwargs).fit(X, y)


def test_softmax_needs_multiclass_and_weights_are_checked():
    X, y = _cancer()
    with pytest.raises(ValueError, match="output='softmax' needs"):
        TwoLayerClassifier(max_iter=2, output="softmax").fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        TwoLayerClassifier(max_iter=2).fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        TwoLayerClassifier(max_iter=2).fit(X, y, sample_weight=-np.ones(X.shape[0]))


def test_early_stopping_takes_the_training_part_of_the_weights():
    X, y = _iris()
    sw = np.random.RandomState(3).uniform(0.5, 2, X.shape[0])
    _, val = _validation_split(_one_hot(y), "softmax", 0.1, 3)
    assert 0 < val.size < X.shape[0]

    def fitted(weights):
        clf = TwoLayerClassifier(hidden_size=4, max_iter=30, backend="numpy",
                                 early_stopping=True, solver="adam", learning_rate=0.05)
        return clf.fit(X, y, sample_weight=weights)  # fmt: skip

    base = fitted(sw)
    assert base.validation_loss_curve_ is not None
    other_val = sw.copy()
    other_val[val] = 7.0  # the validation cost is unweighted: nothing changes
    np.testing.assert_array_equal(fitted(other_val).loss_curve_, base.loss_curve_)
    other_train = sw.copy()
    other_train[np.setdiff1d(np.arange(X.shape[0]), val)[:10]] = 7.0
    assert not np.array_equal(fitted(other_train).loss_curve_, base.loss_curve_)


_COMM_SCRIPT = """
import json, numpy as np
from mpi4py import MPI
from sklearn.datasets import load_iris
from twolayer import TwoLayerClassifier
X, y = load_iris(return_X_y=True)
out = {}
for name, kwargs, weighted in [("alpha", dict(alpha=0.1), False),
                               ("output", dict(output="softmax"), False),
                               ("solver", dict(solver="adam"), False),
                               ("weights", {}, True)]:
    try:
        TwoLayerClassifier(comm=MPI.COMM_SELF, max_iter=3, **kwargs).fit(
            X, y, sample_weight=np.ones(150) if weighted else None)
        out[name] = None
    except ValueError as exc:
        out[name] = str(exc)
clf = TwoLayerClassifier(comm=MPI.COMM_SELF, max_iter=3).fit(X, y)
out["auto"] = clf.out_activation_
print(json.dumps(out))
"""


@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="needs mpi4py")
def test_training_options_are_refused_by_name_over_mpi():
    # A fresh interpreter: MPI is initialised there, not in the test process.
    run = subprocess.run([sys.executable, "-c", _COMM_SCRIPT], capture_output=True, text=True,
                         check=True, env={**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1",
                                          "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})  # fmt: skip
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "alpha not supported with comm" in out["alpha"]
    assert "output='softmax' not supported with comm" in out["output"]
    assert "solver not supported with comm" in out["solver"]
    assert "sample_weight not supported with comm" in out["weights"]
    assert out["auto"] == "logistic"  # multiclass stays one-vs-rest over MPI
