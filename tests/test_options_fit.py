"""``twolayer.fit``'s training options (issue 15) against scikit-learn, and their checks.

Every option set of sklearn_twin.CASES goes through the public ``fit`` and must
follow MLPClassifier epoch by epoch (costs vs ``loss_curve_``, final weights)
within 1e-9 relative in float64.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import twolayer
from sklearn_twin import CASES, N, case_data, twin_fit
from support import COMPILED, assert_params_close, relative_error
from twolayer._params import Layout, initial_parameters

EPOCHS = 12
BACKENDS = ["numpy", *COMPILED]


def fit_options(opts: dict) -> dict:
    """CASES' options as fit's keywords."""
    out = dict(opts)
    out.pop("learning_rate")
    if out.get("solver") == "nesterov":
        out.update(solver="sgd", nesterovs_momentum=True)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_follows_sklearn(case, weighted, backend):
    X, Y, params, weights, opts = case_data(case, weighted)
    sk_opts = fit_options(opts)
    expected_costs, expected = twin_fit(X, Y, params, EPOCHS, sample_weight=weights,
                                        learning_rate=opts["learning_rate"], **sk_opts)
    got, costs = twolayer.fit(X, Y, opts["learning_rate"], 5, EPOCHS, backend=backend,
                              init_params=params, sample_weight=weights, **sk_opts)
    assert costs.shape == (EPOCHS,)
    assert relative_error(costs, expected_costs) < 1e-9
    assert_params_close(got, expected, 1e-9)
    assert relative_error(got["W1"], params["W1"]) > 1e-3  # it trained


def test_full_batch_option_follows_sklearn_and_todays_fit(moons):
    """batch_size=n takes the epoch path: scikit-learn's rounding of today's arithmetic."""
    X, Y = moons
    params, costs = twolayer.fit(X, Y, 0.3, 5, 30, backend="numpy")
    epoch_params, epoch_costs = twolayer.fit(X, Y, 0.3, 5, 30, backend="numpy",
                                             batch_size=X.shape[1])
    assert relative_error(epoch_costs, costs) < 1e-12
    assert_params_close(epoch_params, params, 1e-12)
    start = Layout(2, 5, 1).unpack(initial_parameters(Layout(2, 5, 1), np.float64, 3))
    sk_costs, sk_params = twin_fit(X, Y, start, 30, learning_rate=0.3)
    assert relative_error(epoch_costs, sk_costs) < 1e-9
    assert_params_close(epoch_params, sk_params, 1e-9)


def test_defaults_are_bitwise_todays_fit(moons):
    X, Y = moons
    for backend in twolayer.available_backends():
        params, costs = twolayer.fit(X, Y, 0.3, 5, 40, backend=backend)
        explicit, explicit_costs = twolayer.fit(
            X, Y, 0.3, 5, 40, backend=backend, init_params=None, alpha=0.0, solver="sgd",
            momentum=0.0, nesterovs_momentum=False, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
            batch_size=None, shuffle=False, schedule="constant", power_t=0.5,
            sample_weight=None, output="sigmoid",
        )
        np.testing.assert_array_equal(explicit_costs, costs)
        for key in params:
            np.testing.assert_array_equal(explicit[key], params[key])


def test_default_values_of_other_types_take_the_full_checks_and_fit_the_same(moons):
    """fit skips the option checks only when every option is its default of the default's
    type (issue 12); the same values as NumPy scalars or ints are checked and still are
    today's fit bit for bit, and a wrong type among defaults is still refused."""
    from twolayer import _options

    X, Y = moons
    params, costs = twolayer.fit(X, Y, 0.3, 5, 40, backend="numpy")
    defaults = _options.TrainingOptions()._asdict()
    assert _options.all_default(*defaults.values())
    others = dict(alpha=0, momentum=np.float64(0.0), nesterovs_momentum=np.False_,
                  beta_1=np.float64(0.9), epsilon=np.float32(1e-8), shuffle=np.False_,
                  solver=np.str_("sgd"), power_t=np.float64(0.5))  # fmt: skip
    for name, value in others.items():
        assert not _options.all_default(*{**defaults, name: value}.values()), name
        got, got_costs = twolayer.fit(X, Y, 0.3, 5, 40, backend="numpy", **{name: value})
        np.testing.assert_array_equal(got_costs, costs)
        for key in params:
            np.testing.assert_array_equal(got[key], params[key])
    with pytest.raises(TypeError, match="nesterovs_momentum must be a bool"):
        twolayer.fit(X, Y, 0.3, 5, 1, nesterovs_momentum=0)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        twolayer.fit(X, Y, 0.3, 5, 1, alpha="0.0")

def test_init_params_start_the_fit_and_stay_unmodified(moons):
    X, Y = moons
    start = {"W1": np.full((4, 2), 0.1), "b1": np.zeros((4, 1)),
             "W2": np.full((1, 4), -0.2), "b2": np.ones((1, 1))}
    copy = {k: a.copy() for k, a in start.items()}
    params, costs = twolayer.fit(X, Y, 0.1, 4, 5, backend="numpy", init_params=start,
                                 solver="adam")
    for key in start:
        np.testing.assert_array_equal(start[key], copy[key])
    sk_costs, sk_params = twin_fit(X, Y, start, 5, solver="adam", learning_rate=0.1)
    assert relative_error(costs, sk_costs) < 1e-9
    assert_params_close(params, sk_params, 1e-9)
    # The full-batch default path starts there too: its first cost is that of ``start``.
    _, default_costs = twolayer.fit(X, Y, 0.1, 4, 1, backend="numpy", init_params=start)
    assert default_costs[0] == pytest.approx(sk_costs[0], rel=1e-12)


def _shuffled_reference(X, Y, lr, epochs, seed, batch_size, **kw):
    """The documented shuffle: one default_rng(seed), rng.permutation(n) per epoch."""
    from twolayer._backends import load_backend
    from twolayer._epochs import Optimizer, run_epoch

    layout = Layout(X.shape[0], 5, Y.shape[0])
    theta = initial_parameters(layout, np.float64, seed)
    optimizer = Optimizer("sgd", theta.size, np.float64, learning_rate=lr, **kw)
    rng = np.random.default_rng(seed)
    costs = [run_epoch(load_backend("numpy"), X, Y, None, rng.permutation(X.shape[1]), theta,
                       optimizer, batch_size, False, 1) for _ in range(epochs)]
    return layout.unpack(theta), np.array(costs)


def test_shuffle_draws_each_epoch_from_the_seed(moons):
    X, Y = moons
    state = np.random.get_state()
    params, costs = twolayer.fit(X, Y, 0.1, 5, 6, backend="numpy", seed=11, shuffle=True,
                                 batch_size=64, momentum=0.5)
    again, again_costs = twolayer.fit(X, Y, 0.1, 5, 6, backend="numpy", seed=11, shuffle=True,
                                      batch_size=64, momentum=0.5, n_threads=2)
    other, _ = twolayer.fit(X, Y, 0.1, 5, 6, backend="numpy", seed=12, shuffle=True,
                            batch_size=64, momentum=0.5)
    unshuffled, _ = twolayer.fit(X, Y, 0.1, 5, 6, backend="numpy", seed=11, batch_size=64,
                                 momentum=0.5)
    assert_np_state_equal(state, np.random.get_state())
    expected, expected_costs = _shuffled_reference(X, Y, 0.1, 6, 11, 64, momentum=0.5)
    np.testing.assert_array_equal(costs, expected_costs)
    np.testing.assert_array_equal(again_costs, costs)
    for key in params:
        np.testing.assert_array_equal(params[key], expected[key])
        np.testing.assert_array_equal(again[key], params[key])
    assert relative_error(other["W1"], params["W1"]) > 1e-3
    assert relative_error(unshuffled["W1"], params["W1"]) > 1e-6


def assert_np_state_equal(a, b):
    assert a[0] == b[0] and a[2:] == b[2:]
    np.testing.assert_array_equal(a[1], b[1])


def test_fit_never_modifies_its_inputs():
    X, Y, params, weights, opts = case_data("multiclass-adam-l2", weighted=True)
    X = np.asfortranarray(X)
    copies = [a.copy() for a in (X, Y, weights)] + [{k: a.copy() for k, a in params.items()}]
    state = np.random.get_state()
    twolayer.fit(X, Y, 0.01, 5, 3, backend="numpy", init_params=params, sample_weight=weights,
                 shuffle=True, **fit_options(opts))
    assert_np_state_equal(state, np.random.get_state())
    for original, copy in zip((X, Y, weights), copies[:3], strict=True):
        np.testing.assert_array_equal(original, copy)
    for key in params:
        np.testing.assert_array_equal(params[key], copies[3][key])


def test_invscaling_rate_after_each_epoch():
    """Epoch 1 runs at lr / (n + 1) ** power_t: two fits of one epoch give the same result."""
    X, Y, params, _, _ = case_data("binary-sgd", weighted=False)
    one, _ = twolayer.fit(X, Y, 0.5, 5, 1, backend="numpy", init_params=params,
                          schedule="invscaling", power_t=0.3)
    two, costs = twolayer.fit(X, Y, 0.5, 5, 2, backend="numpy", init_params=params,
                              schedule="invscaling", power_t=0.3)
    rate = 0.5 / (N + 1) ** 0.3
    by_hand, second = twolayer.fit(X, Y, rate, 5, 1, backend="numpy", init_params=one,
                                   batch_size=N)
    assert second[0] == pytest.approx(costs[1], rel=1e-13)
    assert_params_close(by_hand, two, 1e-13)


def test_softmax_prediction():
    X, Y, params, _, _ = case_data("multiclass-sgd", weighted=False)
    fitted, _ = twolayer.fit(X, Y, 0.1, 5, 20, backend="numpy", init_params=params,
                             output="softmax", batch_size=20)
    for backend in twolayer.available_backends():
        proba = twolayer.predict_proba(fitted, X, output="softmax", backend=backend)
        z = fitted["W2"] @ np.tanh(fitted["W1"] @ X + fitted["b1"]) + fitted["b2"]
        expected = np.exp(z) / np.exp(z).sum(axis=0)
        np.testing.assert_allclose(proba, expected, rtol=1e-12)
        labels = twolayer.predict(fitted, X, output="softmax", backend=backend)
        assert labels.dtype == np.int64 and labels.shape == Y.shape
        np.testing.assert_array_equal(labels.sum(axis=0), 1)
        np.testing.assert_array_equal(np.argmax(labels, axis=0), np.argmax(expected, axis=0))
    assert (np.argmax(proba, axis=0) == np.argmax(Y, axis=0)).mean() > 0.6  # chance: 0.25


def test_epoch_divergence_raises_with_costs_and_last_finite_params():
    X, Y, params, _, _ = case_data("binary-sgd", weighted=False)
    weights = np.ones(N)
    weights[40:60] = 1e308  # batch 2 of epoch 1... overflows: every epoch's batch 2
    with pytest.raises(twolayer.DivergenceError, match="epoch 0, batch 2") as info:
        twolayer.fit(X, Y, 0.1, 5, 4, backend="numpy", init_params=params, batch_size=20,
                     sample_weight=weights)
    assert info.value.iteration == 0 and info.value.costs.shape == (0,)
    assert all(np.isfinite(a).all() for a in info.value.params.values())


def test_epoch_path_callback_tol_and_validation(moons):
    X, Y = moons
    seen = []
    _, costs = twolayer.fit(X, Y, 0.05, 5, 7, backend="numpy", solver="adam", batch_size=50,
                            callback=lambda i, c, p: seen.append((i, c)) and False)
    assert seen and seen[-1] == (7, pytest.approx(float(costs[-1]), rel=0))
    _, stopped = twolayer.fit(X, Y, 0.05, 5, 1000, backend="numpy", solver="adam",
                              batch_size=50, tol=1e-2, n_iter_no_change=3)
    assert 3 < stopped.size < 1000
    val = (X[:, :100], Y[:, :100])
    _, stopped_val = twolayer.fit(X, Y, 0.05, 5, 1000, backend="numpy", solver="adam",
                                  batch_size=50, validation_data=val, tol=1e-2,
                                  n_iter_no_change=3)
    assert 3 < stopped_val.size < 1000


def test_softmax_validation_data_uses_the_categorical_cost():
    X, Y, params, _, _ = case_data("multiclass-sgd", weighted=False)
    result = twolayer._training._fit(
        X, Y, 0.1, 5, 3, backend="numpy", dtype=None, n_threads=1, seed=3, init_params=params,
        output="softmax", batch_size=20, validation_data=(X, Y),
    )
    fitted = result.params
    z = fitted["W2"] @ np.tanh(fitted["W1"] @ X + fitted["b1"]) + fitted["b2"]
    lse = np.log(np.exp(z).sum(axis=0))
    expected = float(np.mean(lse - (Y * z).sum(axis=0)))
    assert result.validation_costs[result.best_iteration] == pytest.approx(expected, rel=1e-12)


BAD = [
    (dict(alpha=-0.1), ValueError, "alpha must be a finite number >= 0"),
    (dict(alpha="1"), TypeError, "alpha must be a real number"),
    (dict(momentum=1.01), ValueError, "momentum must be a finite number in"),
    (dict(momentum=-1), ValueError, "momentum must be"),
    (dict(beta_1=1), ValueError, "beta_1 must be a finite number in"),
    (dict(beta_2=1.5), ValueError, "beta_2 must be"),
    (dict(epsilon=0), ValueError, "epsilon must be a finite number > 0"),
    (dict(epsilon=-1e-8), ValueError, "epsilon must be"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an int"),
    (dict(batch_size="auto"), TypeError, "batch_size must be an int"),
    (dict(solver="lbfgs"), ValueError, "solver must be one of 'sgd', 'adam'"),
    (dict(schedule="adaptive"), ValueError, "schedule must be one of 'constant', 'invscaling'"),
    (dict(schedule="invscaling", solver="adam"), ValueError, "schedule='invscaling'"),
    (dict(power_t=-1), ValueError, "power_t must be"),
    (dict(output="linear"), ValueError, "output must be one of 'sigmoid', 'softmax'"),
    (dict(output="softmax"), ValueError, "at least 2 outputs"),
    (dict(shuffle="yes"), TypeError, "shuffle must be a bool"),
    (dict(nesterovs_momentum=1.0), TypeError, "nesterovs_momentum must be a bool"),
    (dict(sample_weight=np.ones(7)), ValueError, r"sample_weight must have shape \(10,\)"),
    (dict(sample_weight=np.ones((10, 1))), ValueError, "sample_weight must have shape"),
    (dict(sample_weight=-np.ones(10)), ValueError, "sample_weight must be >= 0"),
    (dict(sample_weight=np.r_[np.nan, np.ones(9)]), ValueError, "sample_weight must be finite"),
    (dict(sample_weight=np.zeros(10)), ValueError, "sample_weight must not be all zero"),
    (dict(sample_weight=np.full(10, 1e300), dtype=np.float32), ValueError,
     "sample_weight must be finite .* after conversion to float32"),
    (dict(sample_weight=["a"] * 10), TypeError, "sample_weight must hold real numbers"),
    (dict(init_params={"W1": np.ones((3, 2))}), ValueError, "init_params is missing"),
    (dict(init_params={"W1": np.ones((4, 2)), "b1": np.ones((4, 1)), "W2": np.ones((1, 4)),
                       "b2": np.ones((1, 1))}), ValueError, "init_params have 2 features, 4"),
    (dict(init_params=[1, 2]), TypeError, "init_params must be a dict"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD)
def test_bad_options_are_refused_naming_the_argument(kwargs, error, message):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((2, 10)), (rng.random((1, 10)) > 0.5).astype(float)
    with pytest.raises(error, match=message):
        twolayer.fit(X, Y, 0.1, 3, 2, backend="numpy", **kwargs)


def test_softmax_targets_must_be_distributions():
    X = np.random.default_rng(0).standard_normal((2, 4))
    Y = np.array([[1.0, 0.0, 0.5, 0.2], [0.0, 1.0, 0.5, 0.2]])
    with pytest.raises(ValueError, match=r"column 3 sums to 0\.4"):
        twolayer.fit(X, Y, 0.1, 3, 2, backend="numpy", output="softmax")
    good = Y[:, :2]
    with pytest.raises(ValueError, match=r"validation_data Y_val to sum to 1 .* column 3"):
        twolayer.fit(X[:, :2], good, 0.1, 3, 2, backend="numpy", output="softmax",
                     validation_data=(X, Y))
    with pytest.raises(ValueError, match='output must be one of'):
        twolayer.predict_proba({"W1": np.ones((3, 2)), "b1": np.ones((3, 1)),
                                "W2": np.ones((2, 3)), "b2": np.ones((2, 1))}, X, output="x")


def test_options_are_keyword_only(moons):
    X, Y = moons
    with pytest.raises(TypeError):
        twolayer.fit(X, Y, 0.1, 3, 2, "numpy", None, None, 3, None, None, False, None, 10, None,
                     None, 0.1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_epochs_follow_float64(dtype):
    X, Y, params, weights, opts = case_data("multiclass-adam-l2", weighted=True)
    got, costs = twolayer.fit(X.astype(dtype), Y.astype(dtype), 0.01, 5, 5, backend="numpy",
                              init_params=params, sample_weight=weights, **fit_options(opts))
    ref, ref_costs = twolayer.fit(X, Y, 0.01, 5, 5, backend="numpy", init_params=params,
                                  sample_weight=weights, **fit_options(opts))
    assert costs.dtype == dtype and got["W1"].dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 0.0
    assert relative_error(costs, ref_costs) <= tol
    assert_params_close(got, ref, tol)
    assert math.isfinite(costs[-1])


def test_batch_size_beyond_n_is_the_full_batch(moons):
    X, Y = moons
    big, big_costs = twolayer.fit(X, Y, 0.1, 5, 3, backend="numpy", batch_size=10**6)
    full, full_costs = twolayer.fit(X, Y, 0.1, 5, 3, backend="numpy", batch_size=X.shape[1])
    np.testing.assert_array_equal(big_costs, full_costs)
    np.testing.assert_array_equal(big["W1"], full["W1"])


_MPI_SCRIPT = """
import numpy as np, twolayer
from mpi4py import MPI
rng = np.random.default_rng(0)
X, Y = rng.standard_normal((2, 40)), (rng.random((1, 40)) > 0.5) * 1.0
try:
    twolayer.fit(X, Y, 0.1, 3, 2, comm=MPI.COMM_SELF, alpha=0.1, batch_size=5)
except ValueError as e:
    print("refused:", e)
p0 = {"W1": np.full((3, 2), 0.1), "b1": np.zeros((3, 1)), "W2": np.full((1, 3), 0.2),
      "b2": np.zeros((1, 1))}
_, with_comm = twolayer.fit(X, Y, 0.1, 3, 5, comm=MPI.COMM_SELF, init_params=p0)
_, alone = twolayer.fit(X, Y, 0.1, 3, 5, init_params=p0)
print("same:", bool(np.array_equal(with_comm, alone)))
"""


def test_comm_refuses_training_options_but_takes_init_params():
    pytest.importorskip("mpi4py")  # the optional [mpi] extra
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl="self,sm", OMPI_MCA_pml="ob1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _MPI_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert "refused:" in out and "alpha, batch_size not supported with comm" in out
    assert "same: True" in out


@pytest.mark.parametrize("backend", COMPILED)
def test_compiled_shuffled_epochs_are_bitwise_for_every_thread_count(backend):
    """More than one block of samples per batch, so the threads really split the batches."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 5000))
    Y = np.zeros((3, 5000))
    Y[np.argmax(rng.standard_normal((3, 3)) @ X, axis=0), np.arange(5000)] = 1.0
    weights = rng.uniform(0, 2, 5000)
    runs = [twolayer.fit(X, Y, 0.01, 6, 3, backend=backend, n_threads=t, solver="adam",
                         batch_size=4500, shuffle=True, seed=5, alpha=0.01,
                         sample_weight=weights, output="softmax") for t in (1, 2, 3)]
    for params, costs in runs[1:]:
        np.testing.assert_array_equal(costs, runs[0][1])
        for key in params:
            np.testing.assert_array_equal(params[key], runs[0][0][key])
    ref, ref_costs = twolayer.fit(X, Y, 0.01, 6, 3, backend="numpy", solver="adam",
                                  batch_size=4500, shuffle=True, seed=5, alpha=0.01,
                                  sample_weight=weights, output="softmax")
    assert relative_error(runs[0][1], ref_costs) < 1e-10
    assert_params_close(runs[0][0], ref, 1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_epochs_follow_float64_on_every_backend(backend):
    X, Y, params, weights, opts = case_data("multilabel-nesterov", weighted=True)
    kw = dict(backend=backend, init_params=params, sample_weight=weights, **fit_options(opts))
    got, costs = twolayer.fit(X.astype(np.float32), Y.astype(np.float32), 0.05, 5, 5, **kw)
    ref, ref_costs = twolayer.fit(X, Y, 0.05, 5, 5, **kw)
    assert costs.dtype == np.float32 and got["W1"].dtype == np.float32
    assert relative_error(costs, ref_costs) < 1e-4
    assert_params_close(got, ref, 1e-4)


def test_verbose_reports_epochs(capsys, moons):
    X, Y = moons
    twolayer.fit(X, Y, 0.01, 5, 4, backend="numpy", solver="adam", batch_size=100, verbose=True)
    err = capsys.readouterr().err
    assert "done: 4 epochs" in err
