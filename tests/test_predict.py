"""Prediction (issue 12): the kernels' fused forward pass against the NumPy reference,
its layouts, threads, saturation and overflow (issue 17), bad input, the GIL, the CLI."""

import csv
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import twolayer
from support import COMPILED, LAYOUTS, SHAPES, in_layout
from twolayer import _predict
from twolayer._backends import load_backend
from twolayer._geometry import (
    BLOCK,  # samples per block of the compiled kernels
    SMALL_TILE,
    TILE,
)

BACKENDS = ["numpy", *COMPILED]

# The training parity grid: (n_features, hidden, n_outputs, n_samples).


def _params(n_features, hidden, n_outputs, seed=0, dtype=np.float64, scale=1.0):
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.normal(size=(hidden, n_features)) * scale / np.sqrt(n_features),
        "b1": rng.normal(size=(hidden, 1)) * 0.5,
        "W2": rng.normal(size=(n_outputs, hidden)) * 3 * scale,
        "b2": rng.normal(size=(n_outputs, 1)),
    }
    return {k: v.astype(dtype) for k, v in params.items()}


def _X(n_features, n_samples, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n_features, n_samples)).astype(dtype)


def _expected(params, X):
    """The tutorial's forward in float64, sigmoid in the stable form (from the logits)."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    Z = p["W2"] @ np.tanh(p["W1"] @ X.astype(np.float64) + p["b1"]) + p["b2"]
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + e), e / (1 + e)), Z


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("n_features", "hidden", "n_outputs", "n_samples"), SHAPES)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_float64_matches_reference(backend, n_features, hidden, n_outputs, n_samples, n_threads):
    params = _params(n_features, hidden, n_outputs)
    X = _X(n_features, n_samples)
    expected, _ = _expected(params, X)
    proba = twolayer.predict_proba(params, X, backend=backend, n_threads=n_threads)
    assert proba.shape == (n_outputs, n_samples) and proba.dtype == np.float64
    # The bar: within 1e-12 relative, element by element.
    np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=0)
    labels = twolayer.predict(params, X, backend=backend, n_threads=n_threads)
    np.testing.assert_array_equal(labels, (proba > 0.5).astype(np.int64))
    assert 0 < labels.sum() < labels.size or n_samples == 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("n_features", "hidden", "n_outputs", "n_samples"), SHAPES)
def test_float32_models_predict_in_float32(backend, n_features, hidden, n_outputs, n_samples):
    params = _params(n_features, hidden, n_outputs, dtype=np.float32)
    X = _X(n_features, n_samples, dtype=np.float32)
    expected, _ = _expected(params, X)
    proba = twolayer.predict_proba(params, X, backend=backend, n_threads=2)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, expected, rtol=2e-5, atol=1e-6)
    # A float64 X is converted to the model's dtype, as before.
    again = twolayer.predict_proba(params, X.astype(np.float64), backend=backend, n_threads=2)
    assert again.dtype == np.float32
    np.testing.assert_array_equal(again, proba)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_every_thread_count(backend, dtype):
    params = _params(6, 8, 2, seed=2, dtype=dtype)
    X = _X(6, 5 * BLOCK + 123, seed=3, dtype=dtype)
    runs = [twolayer.predict_proba(params, X, backend=backend, n_threads=t) for t in (1, 2, 3, 5)]
    for proba in runs[1:]:
        np.testing.assert_array_equal(proba, runs[0])


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [3, 40])  # 40: wider than a feature chunk
@pytest.mark.parametrize("mode", [0, 1, 2, 3])  # logits, sigmoid, binary pairs, softmax
def test_a_sample_gets_the_same_bits_alone_or_in_a_full_tile(backend, dtype, n_features, mode):
    # A sample alone goes in a small tile; in a batch, in a full tile (read in place
    # when X is C-ordered): the forward pass must not depend on the tile.
    n_outputs = 1 if mode == 2 else 3
    rows = 2 if mode == 2 else n_outputs
    params = _params(n_features, 9, n_outputs, seed=6, dtype=dtype)
    n = 2 * TILE + SMALL_TILE + 5  # full tiles, then small ones
    X = _X(n_features, n, seed=7, dtype=dtype)
    forward = load_backend(backend).forward_chunk
    weights = (params["W1"], params["b1"], params["W2"], params["b2"])
    batch = np.empty((rows, n), dtype)
    assert forward(X, *weights, batch, 0, n, mode, 1) == 0
    alone = np.empty((rows, 1), dtype)
    for i in range(n):
        assert forward(X[:, i : i + 1], *weights, alone, 0, 1, mode, 1) == 0
        np.testing.assert_array_equal(alone[:, 0], batch[:, i], err_msg=f"sample {i}")
    if mode == 1:  # and the same through the public function
        np.testing.assert_array_equal(twolayer.predict_proba(params, X[:, 5:6], backend=backend),
                                      batch[:, 5:6])  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", [*LAYOUTS, "memmap"])
def test_every_memory_order_gives_the_same_bits(backend, order, tmp_path):
    params = _params(5, 7, 2, seed=4)
    X = _X(5, BLOCK + 10, seed=5)
    expected = twolayer.predict_proba(params, np.ascontiguousarray(X), backend=backend)
    if order == "memmap":
        mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", shape=X.shape)
        mm[...] = X
        mm.flush()
        X = np.load(tmp_path / "X.npy", mmap_mode="r")
    else:
        X = in_layout(X, order)
    np.testing.assert_array_equal(twolayer.predict_proba(params, X, backend=backend), expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_outputs_are_exactly_0_and_1(backend, dtype):
    # tanh(+-30) = +-1, so the logits are +-1e4 and +-1000 (sigmoid exactly 0 or 1 in both
    # dtypes) and +-50.
    params = {
        "W1": np.array([[1.0]], dtype),
        "b1": np.zeros((1, 1), dtype),
        "W2": np.array([[1e4], [-1e4], [50], [-50], [1000]], dtype),
        "b2": np.zeros((5, 1), dtype),
    }
    X = np.array([[30.0, -30.0]], dtype)
    proba = twolayer.predict_proba(params, X, backend=backend)
    assert not np.isnan(proba).any()
    np.testing.assert_array_equal(proba[0], [1, 0])
    np.testing.assert_array_equal(proba[1], [0, 1])
    np.testing.assert_array_equal(proba[4], [1, 0])
    # e^-50 is representable: tiny but right on the small side, exactly 1 on the other.
    np.testing.assert_allclose(proba[3], [np.exp(-50.0), 1], rtol=1e-5)
    np.testing.assert_array_equal(twolayer.predict(params, X, backend=backend)[0], [1, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_overflowing_X_raises_instead_of_nan(backend, moons):
    # Issue 17's example: finite X = 1.7e308 in every feature gave [[nan]].
    X, Y = moons
    params, _ = twolayer.fit(X, Y, 0.3, 5, 50, backend="numpy")
    with pytest.raises(ValueError, match=r"^X holds values too large for this network"):
        twolayer.predict_proba(params, np.full((2, 1), 1.7e308), backend=backend)
    # inf - inf in one sum: 1 + 1 overflows, then -2 x is -inf.
    tricky = {"W1": np.array([[1.0, 1.0, -2.0]]), "b1": np.zeros((1, 1)),
              "W2": np.ones((1, 1)), "b2": np.zeros((1, 1))}  # fmt: skip
    with pytest.raises(ValueError, match=r"^X holds values too large"):
        twolayer.predict(tricky, np.full((3, 4), 1.7e308), backend=backend)
    # Large but safe values still predict, saturating the hidden layer exactly.
    safe = np.array([[1e306, 0.0], [1e306, 0.0], [-1e306, 1e306]])  # tanh(4e306), tanh(-2e306)
    proba = twolayer.predict_proba(tricky, safe, backend=backend)
    np.testing.assert_allclose(proba, [[1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(1.0))]], rtol=1e-15)
    huge_W2 = dict(tricky, W2=np.full((1, 1), 1e308), b2=np.full((1, 1), 1e308))
    with pytest.raises(ValueError, match="params\\['W2'\\] and params\\['b2'\\] are so large"):
        twolayer.predict_proba(huge_W2, np.ones((3, 1)), backend=backend)


def _bad_cases():
    good = _params(2, 3, 1)
    X = _X(2, 10)
    nan_X = X.copy()
    nan_X[1, 7] = np.nan
    inf_W1 = {**good, "W1": good["W1"].copy()}
    inf_W1["W1"][0, 0] = np.inf
    return [
        ("not a dict", X, TypeError, "params must be a dict"),
        ({k: good[k] for k in ("W1", "b1", "W2")}, X, ValueError, "params is missing b2"),
        ({**good, "b1": np.zeros((4, 1))}, X, ValueError, r"params\['b1'\] must have shape"),
        (inf_W1, X, ValueError, r"params\['W1'\] contains NaN or infinity"),
        (good, nan_X, ValueError, "X contains NaN or infinity"),
        (good, X[:1], ValueError, r"X has 1 features \(rows\) but params were trained on 2"),
        (good, X[:, :0], ValueError, "X must not be empty"),
        (good, X[0], ValueError, "X must be 2-D"),
        (good, X.astype(complex), TypeError, "X must hold real numbers"),
        (good, [[1, 2], ["a", "b"]], TypeError, "X must hold real numbers"),
        (inf_W1, nan_X, ValueError, r"params\['W1'\] contains NaN"),  # params checked first
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", range(len(_bad_cases())))
def test_bad_input_is_refused_with_the_usual_message_and_left_unchanged(backend, case):
    params, X, error, message = _bad_cases()[case]
    before_X = np.array(X, copy=True)
    before_params = {k: v.copy() for k, v in params.items()} if isinstance(params, dict) else None
    for call in (twolayer.predict_proba, twolayer.predict):
        with pytest.raises(error, match=message):
            call(params, X, backend=backend)
    np.testing.assert_array_equal(np.asarray(X), before_X)
    if before_params is not None:
        for key, value in before_params.items():
            np.testing.assert_array_equal(params[key], value)


def test_bad_options_are_refused():
    params, X = _params(2, 3, 1), _X(2, 5)
    with pytest.raises(ValueError, match="backend must be one of"):
        twolayer.predict_proba(params, X, backend="fortran")
    with pytest.raises(TypeError, match="backend must be a str"):
        twolayer.predict_proba(params, X, backend=None)
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        twolayer.predict_proba(params, X, n_threads=0)
    with pytest.raises(ValueError, match="threshold must lie in"):
        twolayer.predict(params, X, 1.5)


def test_output_that_cannot_fit_is_refused_before_allocating():
    params = _params(2, 3, 4)
    X = np.broadcast_to(np.zeros((2, 1)), (2, 2**44))  # 2**44 samples: 512 TiB of output
    with pytest.raises(ValueError, match="the predictions for 17592186044416 samples needs about"):
        twolayer.predict_proba(params, X)


@pytest.mark.parametrize("backend", COMPILED)
def test_a_long_prediction_releases_the_gil(backend):
    # One kernel call (no Python chunk loop between), timed from inside the worker:
    # the main thread must keep running while it is in the kernel.
    kernels = load_backend(backend)
    params = _params(20, 64, 1, seed=6)
    X = _X(20, 40 * BLOCK, seed=7)
    arrays = [params[k] for k in ("W1", "b1", "W2", "b2")]
    out = np.empty((1, X.shape[1]))
    kernels.forward_chunk(X, *arrays, out, 0, X.shape[1], _predict.PROBA, 1)  # compile/warm up
    span = []

    def work():
        start = time.perf_counter()
        for _ in range(5):
            kernels.forward_chunk(X, *arrays, out, 0, X.shape[1], _predict.PROBA, 1)
        span.extend([start, time.perf_counter()])

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        sum(range(1000))  # pure Python: needs the GIL
    worker.join()
    inside = [t for t in ticks if span[0] < t < span[1]]
    assert len(inside) > 20, f"main thread ran {len(inside)} times in {span[1] - span[0]:.3f} s"


@pytest.mark.parametrize("backend", BACKENDS)
def test_estimator_predictions_use_the_kernels_and_match_the_functional_api(backend, moons):
    from twolayer import TwoLayerClassifier

    X, Y = moons
    clf = TwoLayerClassifier(hidden_size=5, max_iter=200, backend=backend).fit(X.T, Y.ravel())
    params = clf._network_params()
    p = twolayer.predict_proba(params, X, backend=backend)[0]
    proba = clf.predict_proba(X.T)
    _, Z = _expected(params, X)
    np.testing.assert_array_equal(proba[:, 1], p)
    np.testing.assert_allclose(proba[:, 0], 1 / (1 + np.exp(Z[0])), rtol=1e-12)
    np.testing.assert_allclose(clf.decision_function(X.T), Z[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(clf.predict(X.T), (p > 0.5).astype(Y.dtype))
    np.testing.assert_array_equal(clf.predict_proba(X.T[3:4]), proba[3:4])  # one row
    assert clf.score(X.T, Y.ravel()) == np.mean(clf.predict(X.T) == Y.ravel())
    # A NaN in X: scikit-learn's (or the fallback's) message, as before.
    bad = X.T.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict_proba(bad)
    with pytest.raises(ValueError, match="X holds values too large"):
        clf.predict(np.full((1, 2), 1.7e308))


@pytest.mark.parametrize("backend", BACKENDS)
def test_estimator_multiclass_and_multilabel(backend):
    from twolayer import TwoLayerClassifier

    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 4))
    y = np.argmax(X[:, :3], axis=1)
    clf = TwoLayerClassifier(hidden_size=6, max_iter=100, backend=backend, output="sigmoid")
    clf.fit(X, y)  # one-vs-rest sigmoids, normalised (softmax: test_estimator_options)
    expected, Z = _expected(clf._network_params(), X.T)
    np.testing.assert_allclose(clf.decision_function(X), Z.T, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(clf.predict_proba(X), expected.T / expected.sum(0)[:, None],
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(Z, axis=0)])
    Y = (X[:, :2] > 0).astype(int)
    multi = TwoLayerClassifier(hidden_size=6, max_iter=100, backend=backend).fit(X, Y)
    expected, _ = _expected(multi._network_params(), X.T)
    np.testing.assert_allclose(multi.predict_proba(X), expected.T, rtol=1e-12)


@pytest.mark.parametrize("backend", COMPILED)
def test_early_stopping_validation_cost_matches_the_reference(backend, moons):
    X, Y = moons
    options = dict(validation_data=(X[:, ::3], Y[:, ::3]), n_iter_no_change=5, dtype=np.float64)
    ref = twolayer._training._fit(X, Y, 0.3, 5, 300, backend="numpy", n_threads=1, seed=3,
                                  **options)  # fmt: skip
    fast = twolayer._training._fit(X, Y, 0.3, 5, 300, backend=backend, n_threads=2, seed=3,
                                   **options)  # fmt: skip
    np.testing.assert_allclose(fast.validation_costs, ref.validation_costs, rtol=1e-9)
    assert fast.best_iteration == ref.best_iteration


def test_cli_predictions_equal_the_functional_ones(tmp_path, moons):
    X, Y = moons
    params, _ = twolayer.fit(X, Y, 0.3, 5, 300)
    twolayer.save(params, tmp_path / "model.npz")
    with open(tmp_path / "data.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x0", "x1"])
        writer.writerows(X.T.tolist())
    done = subprocess.run(
        [sys.executable, "-m", "twolayer", "predict", str(tmp_path / "model.npz"),
         str(tmp_path / "data.csv")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = list(csv.reader(done.stdout.splitlines()))
    proba = twolayer.predict_proba(params, X)[0]
    assert [r[0] for r in rows[1:]] == [str(v) for v in twolayer.predict(params, X)[0]]
    assert [r[1] for r in rows[1:]] == [f"{p:.6g}" for p in proba]


def test_cached_initial_parameters_are_the_tutorial_draws_and_fresh_each_time():
    from twolayer._params import Layout, initial_parameters

    layout = Layout(3, 4, 2)
    first = initial_parameters(layout, np.dtype(np.float64), 7)
    rng = np.random.RandomState(7)
    W1 = rng.randn(4, 3) * np.sqrt(2 / 3)
    W2 = rng.randn(2, 4) * np.sqrt(2 / 4)
    expected = np.concatenate([W1.ravel(), np.zeros(4), W2.ravel(), np.zeros(2)])
    np.testing.assert_array_equal(first, expected)
    first[:] = 0  # callers update theta in place: the cache must not see it
    again = initial_parameters(layout, np.dtype(np.float64), 7)
    np.testing.assert_array_equal(again, expected)
    assert again.flags.writeable and not np.shares_memory(again, first)
    single = initial_parameters(layout, np.dtype(np.float32), 7)
    np.testing.assert_array_equal(single, expected.astype(np.float32))


def test_bench_predict_workload_reports_every_runner(capsys):
    import json

    from twolayer._bench import main

    args = ["--workload", "predict", "--n-samples", "5000", "--hidden", "8", "--repeat", "1"]
    assert main([*args, "--json", "--threads", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    backends = twolayer.available_backends()
    assert set(report["predict"]) >= {"numpy forward", *backends}
    assert set(report["train_iteration"]) == set(backends)
    assert set(report["one_thread"]) == set(backends)  # --threads 2: also timed on one
    assert all(0 <= report["extra_memory"][b] < 10 * report["x_bytes"] for b in backends)
    assert report["x_bytes"] == 5000 * 20 * 8
    for calls in report["small"].values():
        assert len(calls) == 3 and all(0 < t < 1 for t in calls.values())
    assert main([*args, "--no-memory"]) == 0
    table = capsys.readouterr().out
    assert "NumPy fwd / this" in table and "small calls" in table
    assert "issue 12's targets, compiled backends: 15 us, 60 us, 80 us" in table
