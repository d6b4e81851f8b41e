"""The public API as pinned by the foundation issue."""

import ast
import subprocess
import sys

import numpy as np
import pytest

import tutorial
import twolayer
from support import assert_params_close


def test_available_backends_always_include_the_reference():
    backends = twolayer.available_backends()
    assert backends[0] == "numpy"
    assert set(backends) <= {"numpy", "cython", "numba"}
    assert "cython" in backends, "the installed package must ship the compiled extension"


def test_result_shapes_and_types(moons):
    X, Y = moons
    params, costs = twolayer.fit(X, Y, 0.3, 4, 7, backend="numpy")
    assert params["W1"].shape == (4, 2) and params["b1"].shape == (4, 1)
    assert params["W2"].shape == (1, 4) and params["b2"].shape == (1, 1)
    assert costs.shape == (7,) and costs.dtype == np.float64
    assert all(p.dtype == np.float64 for p in params.values())


def test_costs_are_recorded_before_each_update(moons):
    X, Y = moons
    _, costs_5 = twolayer.fit(X, Y, 0.3, 5, 5, backend="numpy")
    params_0, _ = twolayer.fit(X, Y, 0.3, 5, 0, backend="numpy")
    first_y, _ = tutorial.forward_propagation(X, params_0)
    assert costs_5[0] == pytest.approx(float(tutorial.cost(first_y, Y)), rel=1e-14)


def test_zero_iterations_returns_initial_parameters(moons):
    X, Y = moons
    params, costs = twolayer.fit(X, Y, 0.3, 5, 0)
    assert costs.shape == (0,)
    assert_params_close(params, tutorial.set_parameters(X, Y, 5), 0.0)


@pytest.mark.parametrize("seed", [0, 3, 12345])
def test_initialisation_equals_global_seed_and_randn(seed, moons):
    X, Y = moons
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        W1 = np.random.randn(6, 2) * np.sqrt(2 / 2)
        W2 = np.random.randn(1, 6) * np.sqrt(2 / 6)
    finally:
        np.random.set_state(state)
    params, _ = twolayer.fit(X, Y, 0.3, 6, 0, seed=seed)
    np.testing.assert_array_equal(params["W1"], W1)
    np.testing.assert_array_equal(params["W2"], W2)
    np.testing.assert_array_equal(params["b1"], np.zeros((6, 1)))


def test_global_random_state_is_untouched(moons):
    X, Y = moons
    np.random.seed(99)
    before = np.random.get_state()
    twolayer.fit(X, Y, 0.3, 5, 3, seed=1)
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(before[1:], after[1:], strict=True))
    assert np.array_equal(before[1], after[1])


@pytest.mark.parametrize("backend", twolayer.available_backends())
def test_inputs_are_never_modified(backend, moons):
    X, Y = moons
    X_copy, Y_copy = X.copy(), Y.copy()
    params, _ = twolayer.fit(X, Y, 0.3, 5, 3, backend=backend)
    twolayer.predict(params, X)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(Y, Y_copy)


def test_returned_parameters_do_not_alias_each_other(moons):
    X, Y = moons
    params, costs = twolayer.fit(X, Y, 0.3, 5, 2)
    arrays = {**params, "costs": costs}
    first = {k: v.copy() for k, v in arrays.items()}
    for a in arrays:
        for b in arrays:
            assert a == b or not np.may_share_memory(arrays[a], arrays[b]), (a, b)
    # Writing any one of them leaves every other as it was (they are disjoint views of
    # the fit's own packed buffer: a wrong offset or shape would show here).
    for key in arrays:
        before = {k: v.copy() for k, v in arrays.items()}
        arrays[key][...] = -7
        for other in arrays.keys() - {key}:
            np.testing.assert_array_equal(arrays[other], before[other], err_msg=f"{key}->{other}")
    # Nor do they reach another fit's, or the kept initial draw the next fit starts from.
    again, again_costs = twolayer.fit(X, Y, 0.3, 5, 2)
    for key in again:
        assert not np.may_share_memory(again[key], params[key]), key
        np.testing.assert_array_equal(again[key], first[key], err_msg=key)
    np.testing.assert_array_equal(again_costs, first["costs"])


def test_dtype_rules(moons):
    X, Y = moons
    p32, c32 = twolayer.fit(X.astype(np.float32), Y, 0.3, 5, 3)
    assert c32.dtype == np.float32 and p32["W1"].dtype == np.float32
    p64, c64 = twolayer.fit(X.astype(np.float32), Y, 0.3, 5, 3, dtype=np.float64)
    assert c64.dtype == np.float64 and p64["b2"].dtype == np.float64
    _, c_int = twolayer.fit((X > 0).astype(np.int32), Y, 0.3, 5, 3)
    assert c_int.dtype == np.float64
    _, c_str = twolayer.fit(X, Y, 0.3, 5, 3, dtype="float32")
    assert c_str.dtype == np.float32


def test_float32_follows_float64(moons):
    X, Y = moons
    p64, c64 = twolayer.fit(X, Y, 0.3, 5, 300, backend="numpy")
    p32, c32 = twolayer.fit(X.astype(np.float32), Y, 0.3, 5, 300, backend="numpy")
    np.testing.assert_allclose(c32, c64, rtol=1e-4)
    for key in p64:
        np.testing.assert_allclose(p32[key], p64[key], rtol=1e-3, atol=1e-4)


def test_lists_are_accepted():
    X = [[0.0, 1.0, 2.0], [1.0, 0.0, 1.0]]
    Y = [[0, 1, 1]]
    params, costs = twolayer.fit(X, Y, 0.1, 2, 3, backend="numpy")
    ref, ref_costs = twolayer.fit(np.array(X), np.array(Y, float), 0.1, 2, 3, backend="numpy")
    np.testing.assert_array_equal(costs, ref_costs)
    np.testing.assert_array_equal(params["W1"], ref["W1"])


def test_predict_proba_and_predict(moons):
    X, Y = moons
    params, _ = twolayer.fit(X, Y, 0.3, 5, 2000)
    proba = twolayer.predict_proba(params, X)
    expected, _ = tutorial.forward_propagation(X, params)
    np.testing.assert_allclose(proba, expected, rtol=1e-12)
    labels = twolayer.predict(params, X)
    assert labels.shape == Y.shape
    assert set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, (expected > 0.5).astype(int))
    assert np.mean(labels == Y) > 0.9
    strict = twolayer.predict(params, X, threshold=0.9)
    assert strict.sum() <= labels.sum()


def test_predict_rejects_mismatched_input(moons):
    X, Y = moons
    params, _ = twolayer.fit(X, Y, 0.3, 5, 1)
    with pytest.raises(ValueError, match="features"):
        twolayer.predict_proba(params, np.ones((3, 4)))
    with pytest.raises(ValueError, match="b1"):
        twolayer.predict_proba({**params, "b1": np.zeros((4, 1))}, X)
    with pytest.raises(ValueError, match="missing"):
        twolayer.predict_proba({"W1": params["W1"]}, X)
    with pytest.raises(ValueError, match="threshold"):
        twolayer.predict(params, X, threshold=1.5)


def test_several_outputs_are_summed_in_the_cost():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 40))
    Y = (rng.uniform(size=(2, 40)) > 0.5).astype(float)
    expected_params, expected_costs = tutorial.fit(X, Y, 0.5, 4, 100)
    params, costs = twolayer.fit(X, Y, 0.5, 4, 100, backend="numpy")
    np.testing.assert_allclose(costs, expected_costs, rtol=1e-12)
    assert_params_close(params, expected_params, 1e-12)


def test_import_loads_no_backend_and_no_optional_package():
    heavy = ["numba", "scipy", "sklearn", "mpi4py", "matplotlib", "torch"]
    code = (
        "import sys, twolayer; "
        f"print([m for m in {heavy!r} if m in sys.modules]); "
        "print(any('_cython_kernels' in m for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "False"]


def test_python_dash_m_runs_the_tutorial_demo():
    out = subprocess.run(
        [sys.executable, "-m", "twolayer", "demo", "--backend", "numpy", "--iterations", "300"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "first cost" in out.stdout and "accuracy" in out.stdout
    first = float(out.stdout.split("first cost:")[1].split()[0])
    last = float(out.stdout.split("last cost:")[1].split()[0])
    assert last < first


def test_namespace_exports_only_the_api():
    # A fresh interpreter: what `import twolayer` alone puts in the namespace.
    code = (
        "import twolayer\n"
        "public = sorted(n for n in vars(twolayer) if not n.startswith('_'))\n"
        "print(dir(twolayer)); print(sorted(twolayer.__all__)); print(public)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    shown, exported, public = out.stdout.splitlines()
    assert shown == exported
    assert "Any" not in shown and "TYPE_CHECKING" not in shown
    assert set(ast.literal_eval(public)) <= set(ast.literal_eval(exported))
    for name in twolayer.__all__:
        assert getattr(twolayer, name) is not None
    assert twolayer.__version__ == "0.1.0"
