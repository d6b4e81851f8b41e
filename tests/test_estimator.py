"""TwoLayerClassifier: scikit-learn's contract, and the same numbers as the functional fit."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_multilabel_classification
from sklearn.exceptions import NotFittedError, SkipTestWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import twolayer
from twolayer import TwoLayerClassifier
from twolayer._reference import sigmoid
from twolayer.datasets import make_moons


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(n_samples=200, n_features=6, n_classes=4, random_state=0)
    return (X - X.mean(axis=0)) / X.std(axis=0), Y


def _assert_same_network(clf, params):
    np.testing.assert_array_equal(clf.coefs_[0], params["W1"].T)
    np.testing.assert_array_equal(clf.coefs_[1], params["W2"].T)
    np.testing.assert_array_equal(clf.intercepts_[0], params["b1"].ravel())
    np.testing.assert_array_equal(clf.intercepts_[1], params["b2"].ravel())


# Some checks fit on data our network cannot learn (constant or unscaled features) and
# our fit says so; check_estimator asserts behaviour, not the absence of that warning.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_check_estimator():
    with warnings.catch_warnings():  # skips are asserted on below, not warned about
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(TwoLayerClassifier(), on_fail=None)
    failed = {r["check_name"]: repr(r["exception"]) for r in results if r["status"] == "failed"}
    assert failed == {}
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    # Only checks that need optional third-party setups may skip (array API, pandas).
    assert skipped <= {
        "check_array_api_input",
        "check_classifier_data_not_an_array",
        "check_dataframe_column_names_consistency",
        "check_sample_weights_pandas_series",  # fit takes sample_weight (issue 15)
    }
    assert len(results) - len(skipped) >= 50


def test_binary_equals_the_functional_fit_on_transposed_data(moons):
    X, Y = moons
    clf = TwoLayerClassifier().fit(X.T, Y.ravel())
    params, costs = twolayer.fit(X, Y, 0.3, 5, 5000)
    np.testing.assert_array_equal(clf.loss_curve_, costs)
    _assert_same_network(clf, params)
    assert clf.n_iter_ == 5000 and clf.n_features_in_ == 2
    np.testing.assert_array_equal(clf.classes_, [0.0, 1.0])
    proba = clf.predict_proba(X.T)
    np.testing.assert_allclose(proba[:, 1], twolayer.predict_proba(params, X)[0], rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(clf.predict(X.T), twolayer.predict(params, X)[0])
    assert clf.score(X.T, Y.ravel()) == pytest.approx(np.mean(twolayer.predict(params, X) == Y))
    assert clf.score(X.T, Y.ravel()) > 0.95


def test_any_two_labels_and_float32(moons):
    X, Y = moons
    names = np.where(Y.ravel() == 1, "inner", "outer")  # "inner" < "outer": 1 -> classes_[0]
    clf = TwoLayerClassifier(max_iter=500).fit(X.T.astype(np.float32), names)
    assert list(clf.classes_) == ["inner", "outer"]
    assert clf.coefs_[0].dtype == np.float32 and clf.loss_curve_.dtype == np.float32
    _, costs = twolayer.fit(X.astype(np.float32), 1 - Y, 0.3, 5, 500)
    np.testing.assert_array_equal(clf.loss_curve_, costs)
    decision = clf.decision_function(X.T)
    assert decision.shape == (500,)
    np.testing.assert_array_equal(clf.predict(X.T), np.where(decision > 0, "outer", "inner"))


def test_hyperparameters_reach_the_fit(moons):
    X, Y = moons
    clf = TwoLayerClassifier(
        hidden_size=3, learning_rate=0.1, max_iter=50, backend="numpy", random_state=7,
        dtype="float32", n_threads=1,
    ).fit(X.T, Y.ravel())  # fmt: skip
    params, costs = twolayer.fit(X, Y, 0.1, 3, 50, backend="numpy", seed=7, dtype=np.float32)
    np.testing.assert_array_equal(clf.loss_curve_, costs)
    _assert_same_network(clf, params)


def test_multiclass_one_vs_rest(iris):
    X, y = iris
    clf = TwoLayerClassifier(hidden_size=8, max_iter=3000, output="sigmoid").fit(X, y)
    onehot = (y[:, None] == np.arange(3)).astype(float)
    params, costs = twolayer.fit(X.T, onehot.T, 0.3, 8, 3000)
    np.testing.assert_array_equal(clf.loss_curve_, costs)
    _assert_same_network(clf, params)
    decision = clf.decision_function(X)
    assert decision.shape == (150, 3)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    sig = sigmoid(decision)
    np.testing.assert_allclose(proba, sig / sig.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), np.argmax(decision, axis=1))
    assert clf.score(X, y) > 0.95
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    named = TwoLayerClassifier(hidden_size=8, max_iter=3000, output="sigmoid").fit(X, labels)
    np.testing.assert_array_equal(named.classes_, ["setosa", "versicolor", "virginica"])
    np.testing.assert_array_equal(named.predict(X), named.classes_[clf.predict(X)])


def test_multiclass_probabilities_survive_underflow():
    clf = TwoLayerClassifier(max_iter=1).fit(np.eye(3), [0, 1, 2])
    clf.intercepts_[1] = np.array([-800.0, -900.0, -1000.0])  # every sigmoid underflows
    proba = clf.predict_proba(np.eye(3))
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(proba[:, 0] > 0.99)


def test_multilabel_indicator(multilabel):
    X, Y = multilabel
    clf = TwoLayerClassifier(hidden_size=10, max_iter=2000).fit(X, Y)
    params, costs = twolayer.fit(X.T, Y.T, 0.3, 10, 2000)
    np.testing.assert_array_equal(clf.loss_curve_, costs)
    _assert_same_network(clf, params)
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    pred = clf.predict(X)
    assert pred.shape == Y.shape and pred.dtype.kind == "i"
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, twolayer.predict_proba(params, X.T).T, rtol=1e-12)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert clf.score(X, Y) > 0.5  # exact match of all 4 labels
    assert np.mean(pred == Y) > 0.85  # per label


def test_pipeline_and_grid_search(iris):
    X, y = iris
    raw = X * 10 + 5
    pipe = make_pipeline(StandardScaler(), TwoLayerClassifier(hidden_size=6, max_iter=1000))
    assert pipe.fit(raw, y).score(raw, y) > 0.95
    scores = cross_val_score(pipe, raw, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85

    search = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("net", TwoLayerClassifier(max_iter=300))]),
        {"net__hidden_size": [1, 6], "net__learning_rate": [0.001, 0.5]},
        cv=3,
    )
    search.fit(raw, y)
    assert search.best_params_ == {"net__hidden_size": 6, "net__learning_rate": 0.5}
    assert search.best_score_ > 0.9
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.score(raw, y) > 0.95
    assert search.best_estimator_.named_steps["net"].n_iter_ == 300


def test_warm_start_continues_bit_for_bit(moons):
    X, Y = moons
    y = Y.ravel()
    full = TwoLayerClassifier(max_iter=3000).fit(X.T, y)
    warm = TwoLayerClassifier(max_iter=1000, warm_start=True)
    for _ in range(3):
        warm.fit(X.T, y)
    assert warm.n_iter_ == 3000
    np.testing.assert_array_equal(warm.loss_curve_, full.loss_curve_)
    for a, b in zip(warm.coefs_ + warm.intercepts_, full.coefs_ + full.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
    cold = TwoLayerClassifier(max_iter=1000).fit(X.T, y).fit(X.T, y)  # no warm start: refits
    assert cold.n_iter_ == 1000
    np.testing.assert_array_equal(cold.loss_curve_, full.loss_curve_[:1000])
    with pytest.raises(ValueError, match="features"):
        warm.fit(np.hstack([X.T, X.T]), y)
    with pytest.raises(ValueError, match="not in classes"):
        warm.fit(X.T, y + 5)
    with pytest.raises(ValueError, match="hidden_size is 3 but the network being continued"):
        warm.set_params(hidden_size=3).fit(X.T, y)


def test_partial_fit_runs_max_iter_more_iterations(iris):
    X, y = iris
    full = TwoLayerClassifier(max_iter=800).fit(X, y)
    part = TwoLayerClassifier(max_iter=200)
    part.partial_fit(X, y, classes=[0, 1, 2])
    assert part.n_iter_ == 200
    for _ in range(3):
        part.partial_fit(X, y)
    assert part.n_iter_ == 800
    np.testing.assert_array_equal(part.loss_curve_, full.loss_curve_)
    np.testing.assert_array_equal(part.coefs_[1], full.coefs_[1])
    # A batch may lack some classes when they were announced in the first call.
    part.partial_fit(X[y == 0], y[y == 0])
    assert part.n_iter_ == 1000
    with pytest.raises(ValueError, match="not in classes"):
        part.partial_fit(X, y + 1)
    first = TwoLayerClassifier(max_iter=10).partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert first.predict_proba(X).shape == (150, 3)


def test_early_stopping_on_a_validation_split():
    X, Y = make_moons(n_samples=80, noise=0.4, seed=4)
    noisy_X, noisy_y = X.T, Y.ravel()
    clf = TwoLayerClassifier(
        hidden_size=20, learning_rate=0.5, max_iter=20000, early_stopping=True,
        validation_fraction=0.25, n_iter_no_change=25,
    ).fit(noisy_X, noisy_y)  # fmt: skip
    assert clf.n_iter_ < 20000
    curve = clf.validation_loss_curve_
    assert curve.shape == (clf.n_iter_ + 1,)
    best = int(np.argmin(curve))
    assert np.all(curve[best + 1 :] >= curve[best]) and clf.n_iter_ - best >= 25
    # Stratified split: 20 of the 80 samples, in class proportions; training on the rest.
    assert clf.loss_curve_.shape == (clf.n_iter_,)
    again = clone(clf).fit(noisy_X, noisy_y)
    np.testing.assert_array_equal(again.validation_loss_curve_, curve)
    np.testing.assert_array_equal(again.coefs_[0], clf.coefs_[0])


def test_tol_and_callback_through_the_estimator(moons):
    X, Y = moons
    y = Y.ravel()
    clf = TwoLayerClassifier(max_iter=50000, tol=1e-6).fit(X.T, y)
    _, costs = twolayer.fit(X, Y, 0.3, 5, 50000, tol=1e-6)
    np.testing.assert_array_equal(clf.loss_curve_, costs)
    assert clf.n_iter_ == costs.size < 50000

    calls = []
    stopper = TwoLayerClassifier(
        max_iter=10**7, callback=lambda i, c, p: calls.append(i) or i > 2000
    )
    stopper.fit(X.T, y)
    assert stopper.n_iter_ == calls[-1] > 2000


def test_refuses_bad_targets_and_data(moons):
    X, Y = moons
    y = Y.ravel()
    clf = TwoLayerClassifier(max_iter=5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(X.T, np.zeros(500))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(X.T, np.linspace(0, 1, 500))
    with pytest.raises(ValueError, match="indicator"):
        clf.fit(X.T, np.column_stack([y, y * 2]))
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(np.where(X.T > 1, np.nan, X.T), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X.T, y[:-1])
    with pytest.raises(ValueError, match="requires y"):
        clf.fit(X.T, None)


@pytest.mark.parametrize(
    ("param", "value", "error"),
    [
        ("hidden_size", 0, ValueError),
        ("hidden_size", 2.5, TypeError),
        ("learning_rate", -0.1, ValueError),
        ("learning_rate", "fast", TypeError),
        ("max_iter", -1, ValueError),
        ("backend", "gpu", ValueError),
        ("dtype", np.int32, ValueError),
        ("n_threads", 0, ValueError),
        ("random_state", "seed", TypeError),
        ("tol", -1.0, ValueError),
        ("n_iter_no_change", 0, ValueError),
        ("callback", 3, TypeError),
    ],
)
def test_bad_hyperparameters_name_themselves(param, value, error, moons):
    X, Y = moons
    with pytest.raises(error, match=param):
        TwoLayerClassifier(**{"max_iter": 5, param: value}).fit(X.T, Y.ravel())


def test_bad_validation_fraction(moons):
    X, Y = moons
    for value, error in ((1.5, ValueError), (0.0, ValueError), ("tenth", TypeError)):
        clf = TwoLayerClassifier(max_iter=5, early_stopping=True, validation_fraction=value)
        with pytest.raises(error, match="validation_fraction"):
            clf.fit(X.T, Y.ravel())


def test_unfitted_and_wrong_width(moons):
    X, Y = moons
    clf = TwoLayerClassifier(max_iter=5)
    with pytest.raises(NotFittedError):
        clf.predict(X.T)
    clf.fit(X.T, Y.ravel())
    with pytest.raises(ValueError, match="X has 3 features, but TwoLayerClassifier is expecting 2"):
        clf.predict(np.ones((4, 3)))


def test_pickle_clone_and_params(moons):
    X, Y = moons
    clf = TwoLayerClassifier(hidden_size=4, max_iter=100).fit(X.T, Y.ravel())
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X.T), clf.predict_proba(X.T))
    assert clone(clf).get_params() == clf.get_params()
    assert repr(clf) == "TwoLayerClassifier(hidden_size=4, max_iter=100)"


def test_import_twolayer_does_not_import_sklearn():
    code = (
        "import sys, twolayer; print('sklearn' in sys.modules); "
        "print('TwoLayerClassifier' in dir(twolayer)); "
        "twolayer.TwoLayerClassifier; print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


def test_works_without_sklearn(moons):
    """With scikit-learn unimportable the estimator falls back to its own base classes."""
    code = """
import sys
sys.modules["sklearn"] = None  # makes "import sklearn" fail
import numpy as np
import twolayer
from twolayer.datasets import make_moons
X, Y = make_moons(n_samples=500, noise=0.2, seed=0)
clf = twolayer.TwoLayerClassifier(max_iter=300, hidden_size=4)
assert clf.get_params()["hidden_size"] == 4
clf.set_params(hidden_size=5)
clf.fit(X.T, Y.ravel())
print(repr(clf))
print(clf.score(X.T, Y.ravel()))
print(clf.loss_curve_[-1].hex())
try:
    twolayer.TwoLayerClassifier().predict(X.T)
except ValueError as exc:
    print(type(exc).__name__)
try:
    clf.predict(np.ones((3, 5)))
except ValueError as exc:
    print(exc)
try:
    clf.set_params(bogus=1)
except ValueError as exc:
    print("bogus" in str(exc))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    X, Y = moons
    reference = TwoLayerClassifier(max_iter=300).fit(X.T, Y.ravel())
    assert lines[0] == "TwoLayerClassifier(max_iter=300)"
    assert float(lines[1]) == reference.score(X.T, Y.ravel())
    assert lines[2] == reference.loss_curve_[-1].hex()
    assert lines[3] == "NotFittedError"
    assert lines[4] == "X has 5 features, but TwoLayerClassifier is expecting 2 features as input."
    assert lines[5] == "True"
