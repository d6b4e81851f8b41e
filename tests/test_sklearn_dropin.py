"""twolayer.sklearn.MLPClassifier against scikit-learn's MLPClassifier, option by option.

Each case fits both with the same arguments (random_state included, so the same Glorot
draw, shuffles and validation split) and requires the same model: n_iter_ equal,
loss_curve_ within 1e-8 relative, weights within 1e-7, identical predictions.
"""

import inspect
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import twolayer
from twolayer import sklearn as tl_sklearn
from twolayer.sklearn import MLPClassifier

BACKENDS = twolayer.available_backends()
# A few epochs on purpose: scikit-learn's max_iter ConvergenceWarning is expected.
SHORT_FITS = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _scaled(X):
    return StandardScaler().fit_transform(X)


def _data(kind):
    if kind == "binary":
        X, y = load_breast_cancer(return_X_y=True)
        return _scaled(X), y
    if kind in ("multiclass", "strings"):
        data = load_iris()
        y = data.target_names[data.target] if kind == "strings" else data.target
        return _scaled(data.data), y
    X, Y = make_multilabel_classification(n_samples=300, n_features=10, n_classes=4, random_state=0)
    return _scaled(X.astype(float)), Y


def _weights(n):
    w = np.random.RandomState(1).uniform(0, 2, n)
    w[::7] = 0  # zero weights too
    return w


# (data, constructor arguments, sample weights?)
CASES = {
    "adam-default": ("binary", {}, False),
    "sgd-nesterov": ("binary", dict(solver="sgd", learning_rate_init=0.05), False),
    "sgd-plain-momentum": (
        "multiclass",
        dict(solver="sgd", momentum=0.5, nesterovs_momentum=False, learning_rate_init=0.1),
        False,
    ),
    "invscaling": (
        "binary",
        dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, power_t=0.3),
        False,
    ),
    # tol=0.05 makes the adaptive schedule divide the rate by 5 (checked below).
    "adaptive": (
        "multiclass",
        dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.2, tol=0.05),
        False,
    ),
    "early-stopping": ("binary", dict(early_stopping=True, learning_rate_init=0.01), False),
    "early-stopping-weighted": (
        "multiclass",
        dict(early_stopping=True, learning_rate_init=0.01, validation_fraction=0.2),
        True,
    ),
    "alpha-batch": ("binary", dict(alpha=0.5, batch_size=64), False),
    "no-shuffle-full-batch": ("binary", dict(shuffle=False, batch_size=10_000), False),
    "sample-weights": ("binary", dict(batch_size=50), True),
    "multiclass": ("multiclass", dict(learning_rate_init=0.01, batch_size=32), False),
    "multiclass-weights": ("multiclass", dict(solver="sgd", batch_size=16), True),
    "strings": ("strings", dict(learning_rate_init=0.01), False),
    "multilabel": ("multilabel", dict(learning_rate_init=0.01, batch_size=40), False),
}


def _pair(kwargs, backend, max_iter=40, hidden=8, random_state=0):
    common = dict(hidden_layer_sizes=(hidden,), random_state=random_state, max_iter=max_iter)
    return (
        SkMLP(activation="tanh", **common, **kwargs),
        MLPClassifier(backend=backend, **common, **kwargs),
    )


def assert_same_model(ours, theirs, X, y=None):
    """The same fitted model: counters, curves, weights, predictions."""
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-8, atol=0)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-8)
    for mine, ref in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        assert mine.shape == ref.shape
        assert mine.dtype == ref.dtype
        assert mine.flags.c_contiguous  # owned arrays like scikit-learn's, no kernel views
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-7)
    if theirs.validation_scores_ is None:
        assert ours.validation_scores_ is None
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-8)
    else:
        assert ours.validation_scores_ == theirs.validation_scores_  # accuracies: exact
        assert ours.best_validation_score_ == theirs.best_validation_score_
    for name in ("classes_", "n_outputs_", "n_layers_", "out_activation_", "n_features_in_"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-7)
    if y is not None:
        assert ours.score(X, y) == theirs.score(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_fits_the_same_model_as_sklearn(case, backend):
    kind, kwargs, weighted = CASES[case]
    X, y = _data(kind)
    sw = _weights(X.shape[0]) if weighted else None
    theirs, ours = _pair(kwargs, backend)
    with warnings.catch_warnings(record=True) as theirs_warned:
        warnings.simplefilter("always")
        theirs.fit(X, y, sample_weight=sw)
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours.fit(X, y, sample_weight=sw)
    # The same ConvergenceWarning (or none).
    assert [str(w.message) for w in ours_warned if w.category is ConvergenceWarning] == [
        str(w.message) for w in theirs_warned if w.category is ConvergenceWarning
    ]
    assert_same_model(ours, theirs, X, y)
    if case == "adaptive":  # the schedule did act: the rate was divided by 5 at least once
        assert ours._optimizer.learning_rate == theirs._optimizer.learning_rate
        assert ours._optimizer.learning_rate <= 0.2 / 5
    if case.startswith("early-stopping"):  # it did stop early, on the validation score
        assert ours.n_iter_ < 40


@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_fit_keeps_the_optimizer_state(backend):
    X, y = _data("multiclass")
    theirs, ours = _pair(dict(learning_rate_init=0.01, batch_size=20), backend)
    halves = (slice(0, 75), slice(75, None))
    for step in range(4):
        part = halves[step % 2]
        theirs.partial_fit(X[part], y[part], classes=np.unique(y))
        ours.partial_fit(X[part], y[part], classes=np.unique(y))
    assert ours.n_iter_ == 1
    assert ours._optimizer.kernel.t == theirs._optimizer.t  # Adam's step count carried over
    assert_same_model(ours, theirs, X)


@pytest.mark.parametrize("backend", BACKENDS)
def test_warm_start_continues_from_the_weights(backend):
    X, y = _data("binary")
    theirs, ours = _pair(dict(warm_start=True, solver="sgd"), backend, max_iter=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in (theirs, ours):
            est.fit(X, y)
            est.set_params(max_iter=15)
            est.fit(X, y)
    assert len(ours.loss_curve_) == 25
    assert_same_model(ours, theirs, X, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32(backend):
    X, y = _data("binary")
    X32 = X.astype(np.float32)
    theirs, ours = _pair({}, backend, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X32, y)
        ours.fit(X32, y)
    assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    assert ours.predict_proba(X32).dtype == theirs.predict_proba(X32).dtype
    for mine, ref in zip(ours.coefs_, theirs.coefs_, strict=True):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)


@SHORT_FITS
def test_batches_split_over_threads_give_the_same_bits():
    rng = np.random.RandomState(0)
    X = rng.randn(5000, 6)
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    for backend in BACKENDS:
        fits = [
            MLPClassifier((6,), backend=backend, batch_size=4500, max_iter=3, random_state=0,
                          n_threads=t).fit(X, y)
            for t in (1, 2, 3)
        ]  # fmt: skip
        for other in fits[1:]:
            assert other.loss_curve_ == fits[0].loss_curve_
            for a, b in zip(other.coefs_, fits[0].coefs_, strict=True):
                np.testing.assert_array_equal(a, b)


@SHORT_FITS
def test_verbose_prints_what_sklearn_prints(capsys):
    X, y = _data("multiclass")
    theirs, ours = _pair(dict(verbose=True, early_stopping=True), "auto", max_iter=4)
    theirs.fit(X, y)
    printed = capsys.readouterr().out
    ours.fit(X, y)
    assert capsys.readouterr().out == printed
    assert printed.count("Iteration") == 4 and printed.count("Validation score") == 4


@SHORT_FITS
def test_inputs_and_global_random_state_untouched():
    X, y = _data("binary")
    X_before, y_before, sw = X.copy(), y.copy(), _weights(X.shape[0])
    sw_before = sw.copy()
    np.random.seed(7)
    state = np.random.get_state()[1].copy()
    MLPClassifier((4,), max_iter=3, random_state=0).fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(sw, sw_before)


@SHORT_FITS
def test_sparse_input_is_densified():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, y = _data("binary")
    X[np.abs(X) < 0.5] = 0
    dense = MLPClassifier((5,), max_iter=5, random_state=0).fit(X, y)
    sparse = MLPClassifier((5,), max_iter=5, random_state=0).fit(scipy_sparse.csr_matrix(X), y)
    assert sparse.loss_curve_ == dense.loss_curve_
    np.testing.assert_array_equal(
        sparse.predict_proba(scipy_sparse.csc_matrix(X)), dense.predict_proba(X)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(hidden_layer_sizes=(5, 5)), "one hidden layer"),
        (dict(hidden_layer_sizes=()), "one hidden layer"),
        (dict(activation="relu"), "activation must be 'tanh'"),
        (dict(solver="lbfgs"), "solver must be 'adam' or 'sgd'"),
    ],
)
def test_refuses_what_it_cannot_train(kwargs, message):
    X, y = _data("binary")
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**kwargs).fit(X, y)


def test_hidden_layer_sizes_may_be_an_int():
    X, y = _data("binary")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(hidden_layer_sizes=6, max_iter=3, random_state=0).fit(X, y)
        theirs = SkMLP(hidden_layer_sizes=6, activation="tanh", max_iter=3, random_state=0)
        theirs.fit(X, y)
    assert ours.coefs_[0].shape == (30, 6)
    assert_same_model(ours, theirs, X, y)


def test_refuses_negative_or_all_zero_weights():
    X, y = _data("binary")
    sw = np.ones(X.shape[0])
    sw[3] = -1
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        MLPClassifier((3,), max_iter=2).fit(X, y, sample_weight=sw)
    # scikit-learn >= 1.8 refuses all-zero weights itself; with 1.7 our own check does.
    with pytest.raises(ValueError, match=r"at least one non-zero|must not be all zero"):
        MLPClassifier((3,), max_iter=2).fit(X, y, sample_weight=np.zeros(X.shape[0]))


def test_divergence_raises_sklearns_error_with_finite_weights():
    X, y = _data("binary")
    est = MLPClassifier((5,), solver="sgd", learning_rate_init=1e300, momentum=0, random_state=0)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        est.fit(X * 1e10, y)
    assert all(np.isfinite(c).all() for c in est.coefs_ + est.intercepts_)


@SHORT_FITS
def test_constructor_is_sklearns_with_tanh_and_the_backend_options():
    ours = inspect.signature(MLPClassifier.__init__).parameters
    theirs = inspect.signature(SkMLP.__init__).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    assert list(ours)[len(theirs) :] == ["backend", "n_threads"]
    for name, p in theirs.items():
        expected = "tanh" if name == "activation" else p.default
        assert ours[name].default == expected, name
    est = MLPClassifier()
    assert est.get_params()["backend"] == "auto"
    with pytest.raises(ValueError, match="backend"):
        MLPClassifier(backend="fortran").fit(*_data("binary"))
    pickle.loads(pickle.dumps(MLPClassifier((3,), max_iter=2).fit(*_data("binary"))))


def test_overridden_sklearn_internals_have_the_expected_signatures():
    """Fails loudly when a scikit-learn release changes a method this class overrides."""
    for name, expected in tl_sklearn.PARENT_SIGNATURES.items():
        assert list(inspect.signature(getattr(SkMLP, name)).parameters) == expected, name


def test_a_changed_sklearn_internal_refuses_to_import(monkeypatch):
    monkeypatch.setattr(SkMLP, "_fit_stochastic", lambda self, X, y: None)
    with pytest.raises(ImportError, match=r"scikit-learn 1\.7 to 1\.9.*_fit_stochastic"):
        tl_sklearn._check_parent()


def _with_checks(estimators: list[MLPClassifier]) -> pytest.MarkDecorator:
    """parametrize_with_checks with its cases in a list: scikit-learn 1.7 passes a
    generator, which pytest 9 deprecates (an error under filterwarnings = error)."""
    mark = parametrize_with_checks(estimators)
    names, cases = mark.args
    return pytest.mark.parametrize(names, list(cases), **mark.kwargs)


@_with_checks([MLPClassifier((20,), max_iter=100, backend=b) for b in BACKENDS])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
