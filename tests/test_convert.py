"""twolayer.params_from_sklearn / to_sklearn: weights between fit's params and MLPClassifier."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP

import twolayer
from twolayer.datasets import make_moons
from twolayer.sklearn import MLPClassifier


@pytest.fixture(scope="module")
def moons_params():
    X, Y = make_moons(n_samples=200, noise=0.2, seed=0)
    params, _ = twolayer.fit(X, Y, 1.2, 4, 300, backend="numpy")
    return X, Y, params


def test_round_trip_is_exact(moons_params):
    X, _, params = moons_params
    mlp = twolayer.to_sklearn(params, classes=[0, 1])
    assert isinstance(mlp, SkMLP)
    back = twolayer.params_from_sklearn(mlp)
    for key in params:
        assert back[key].shape == params[key].shape
        np.testing.assert_array_equal(back[key], params[key])
    # scikit-learn predicts with these weights what twolayer predicts.
    np.testing.assert_allclose(
        mlp.predict_proba(X.T)[:, 1], twolayer.predict_proba(params, X)[0], rtol=1e-13
    )
    np.testing.assert_array_equal(mlp.predict(X.T), twolayer.predict(params, X)[0])


def test_from_a_fitted_sklearn_multiclass_model():
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = SkMLP((6,), activation="tanh", max_iter=50, random_state=0).fit(X, y)
    params = twolayer.params_from_sklearn(mlp)
    assert params["W1"].shape == (6, 4) and params["b2"].shape == (3, 1)
    proba = twolayer.predict_proba(params, X.T, output="softmax")  # as the docstring says
    np.testing.assert_allclose(proba.T, mlp.predict_proba(X), rtol=1e-12)
    # And back into the drop-in, which predicts the same.
    ours = twolayer.to_sklearn(params, classes=mlp.classes_, estimator=MLPClassifier())
    assert isinstance(ours, MLPClassifier) and ours.out_activation_ == "softmax"
    np.testing.assert_allclose(ours.predict_proba(X), mlp.predict_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), mlp.predict(X))


def test_continues_training_from_converted_weights(moons_params):
    X, Y, params = moons_params
    sk_estimator = SkMLP((4,), activation="tanh", random_state=0)
    for estimator in (sk_estimator, MLPClassifier(random_state=0)):
        mlp = twolayer.to_sklearn(params, classes=[0, 1], estimator=estimator)
        before = mlp.score(X.T, Y[0])
        mlp.partial_fit(X.T, Y[0])
        assert mlp.n_iter_ == 1 and len(mlp.loss_curve_) == 1
        assert mlp.score(X.T, Y[0]) >= before - 0.05  # continued, not restarted
    # The same warm-started update in both, from the same converted weights.
    pair = [
        twolayer.to_sklearn(params, [0, 1], estimator=cls((4,), random_state=0, max_iter=3,
                                                           warm_start=True, **kw))
        for cls, kw in ((SkMLP, dict(activation="tanh")), (MLPClassifier, {}))
    ]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for mlp in pair:
            mlp.fit(X.T, Y[0])
    np.testing.assert_allclose(pair[1].loss_curve_, pair[0].loss_curve_, rtol=1e-10)


def test_multilabel_and_classifier_models():
    X, Y = make_moons(n_samples=100, noise=0.2, seed=1)
    Y3 = np.vstack([Y, 1 - Y, Y])
    params, _ = twolayer.fit(X, Y3, 0.5, 3, 50, backend="numpy")
    mlp = twolayer.to_sklearn(params, classes=range(3), multilabel=True)
    assert mlp.out_activation_ == "logistic"
    np.testing.assert_array_equal(mlp.predict(X.T), twolayer.predict(params, X).T)
    clf = twolayer.TwoLayerClassifier(hidden_size=3, max_iter=20, backend="numpy")
    iris_X, iris_y = load_iris(return_X_y=True)
    clf.fit(iris_X, iris_y)
    mlp = twolayer.to_sklearn(twolayer.params_from_sklearn(clf), clf.classes_)
    np.testing.assert_array_equal(mlp.predict(iris_X), clf.predict(iris_X))  # same argmax


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: SkMLP((3,), activation="tanh"), ValueError, "needs a fitted MLPClassifier"),
        (lambda: _fitted(SkMLP((3,), activation="relu")), ValueError, "activation='relu'"),
        (lambda: _fitted(SkMLP((3, 2), activation="tanh")), ValueError, "has 2"),
    ],
)
def test_params_from_sklearn_refuses(make, error, message):
    with pytest.raises(error, match=message):
        twolayer.params_from_sklearn(make())


def _fitted(mlp):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return mlp.set_params(max_iter=2).fit(X, y)


def test_to_sklearn_refuses(moons_params):
    _, _, params = moons_params
    with pytest.raises(ValueError, match="1 outputs; 3 classes need 3"):
        twolayer.to_sklearn(params, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="sorted order"):
        twolayer.to_sklearn(params, classes=["b", "a"])
    with pytest.raises(ValueError, match="at least 2"):
        twolayer.to_sklearn(params, classes=["a"])
    with pytest.raises(ValueError, match="activation='tanh'"):
        twolayer.to_sklearn(params, classes=[0, 1], estimator=SkMLP(activation="relu"))
    with pytest.raises(TypeError, match="must be an MLPClassifier"):
        twolayer.to_sklearn(params, classes=[0, 1], estimator=twolayer.TwoLayerClassifier())
    with pytest.raises(ValueError, match="params is missing"):
        twolayer.to_sklearn({"W1": params["W1"]}, classes=[0, 1])
