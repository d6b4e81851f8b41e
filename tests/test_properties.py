"""Property-based tests (hypothesis): hostile shapes, dtypes, layouts and values.

For every backend, ``fit``, ``predict_proba`` and ``predict`` either raise a
clear ``ValueError``/``TypeError``/``DivergenceError`` or return finite results
that match the NumPy reference. Example generation is derandomized and uses no
example database, so CI runs the same cases every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import twolayer
from support import relative_error
from twolayer import _reference
from twolayer._geometry import TILE  # samples per tile of the compiled kernels
from twolayer._params import Layout, initial_parameters

ALL = list(twolayer.available_backends())

PROFILE = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

X_DTYPES = ["float64", "float32", "int8", "int32", "int64", "uint8", "bool"]
Y_DTYPES = ["float64", "float32", "int64", "bool"]
SCALES = ["unit", "tiny", "huge", "mixed", "integers"]
LAYOUTS = ["C", "F", "sliced", "reversed", "reversed-rows", "read-only"]


@dataclass
class Problem:
    X: np.ndarray
    Y: np.ndarray
    hidden: int
    learning_rate: float
    iterations: int
    backend: str
    description: str


def _values(rng: np.random.Generator, shape: tuple[int, int], scale: str) -> np.ndarray:
    base = rng.standard_normal(shape)
    if scale == "unit":
        return base
    if scale == "tiny":
        return base * 1e-300
    if scale == "huge":
        return base * 1e150
    if scale == "mixed":  # every feature row and every sample column its own magnitude
        rows = 10.0 ** rng.integers(-300, 151, size=(shape[0], 1))
        cols = 10.0 ** rng.integers(-4, 5, size=(1, shape[1]))
        return base * rows * cols
    return rng.integers(-1000, 1001, size=shape).astype(np.float64)


def _as_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bool":
        return values > 0
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        low, high = max(info.min, -(2**62)), min(info.max, 2**62)  # exact in float64
        return np.clip(np.rint(values), low, high).astype(dtype)
    with np.errstate(over="ignore", under="ignore"):
        return values.astype(dtype)  # float32 may overflow to inf: fit must refuse it


def _in_layout(array: np.ndarray, layout: str) -> np.ndarray:
    """The same values as ``array``, in another memory layout."""
    if layout == "C":
        return np.ascontiguousarray(array)
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "sliced":
        big = np.zeros((array.shape[0] * 2 + 1, array.shape[1] * 3 + 2), dtype=array.dtype)
        big[1::2, 2::3] = array
        return big[1::2, 2::3]
    if layout == "reversed":
        return np.ascontiguousarray(array[:, ::-1])[:, ::-1]
    if layout == "reversed-rows":
        return np.asfortranarray(array[::-1, ::-1])[::-1, ::-1]
    view = array.copy()
    view.flags.writeable = False
    return view


n_samples_strategy = st.one_of(
    st.integers(1, 300),
    st.sampled_from([1, 2, TILE - 1, TILE, TILE + 1, 2 * TILE, 2 * TILE + 1, 4 * TILE + 7]),
)


@st.composite
def problems(draw: Any, backends: list[str] = ALL) -> Problem:
    n_features = draw(st.integers(1, 8), label="n_features")
    n_samples = draw(n_samples_strategy, label="n_samples")
    n_outputs = draw(st.integers(1, 3), label="n_outputs")
    hidden = draw(st.integers(1, 6), label="hidden")
    x_dtype = draw(st.sampled_from(X_DTYPES), label="X dtype")
    y_dtype = draw(st.sampled_from(Y_DTYPES), label="Y dtype")
    scale = draw(st.sampled_from(SCALES), label="scale")
    soft = draw(st.booleans(), label="soft labels") and y_dtype.startswith("float")
    x_layout = draw(st.sampled_from(LAYOUTS), label="X layout")
    y_layout = draw(st.sampled_from(LAYOUTS), label="Y layout")
    seed = draw(st.integers(0, 2**32 - 1), label="data seed")
    rng = np.random.default_rng(seed)
    X = _in_layout(_as_dtype(_values(rng, (n_features, n_samples), scale), x_dtype), x_layout)
    if soft:
        Y = rng.uniform(size=(n_outputs, n_samples))
    else:
        Y = (rng.uniform(size=(n_outputs, n_samples)) > 0.5).astype(np.float64)
    Y = _in_layout(_as_dtype(Y, y_dtype), y_layout)
    return Problem(
        X=X,
        Y=Y,
        hidden=hidden,
        learning_rate=draw(st.sampled_from([1e-3, 0.3, 2.0, 50.0, 1e200]), label="learning_rate"),
        iterations=draw(st.integers(1, 4), label="iterations"),
        backend=draw(st.sampled_from(backends), label="backend"),
        description=(
            f"X {x_dtype} {x_layout} {scale} {X.shape}, Y {y_dtype} {y_layout} "
            f"{'soft' if soft else 'hard'}"
        ),
    )


EXPECTED_ERRORS = (ValueError, TypeError, twolayer.DivergenceError)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except EXPECTED_ERRORS as exc:
        return type(exc).__name__, exc


def _tolerance(dtype: np.dtype) -> float:
    return 1e-9 if dtype == np.float64 else 1e-4


# Steps this large exist here to exercise divergence: one update turns a gradient that
# is rounding noise (1e-16) into a parameter of 1e184, so two correct implementations
# need not agree on anything but the outcome.
CHAOTIC_LEARNING_RATE = 1e100


def _reference_error(
    problem: Problem, ref: tuple[dict[str, np.ndarray], np.ndarray], dtype: np.dtype
) -> float | None:
    """How far the reference is from itself under perturbations that change nothing
    but rounding: the same arithmetic in more precision (float64 for a float32 fit,
    x87 long double for a float64 one), and the samples in another order (what the
    compiled kernels' blocked sums do).

    Most problems are well conditioned and this is a few ulps. Some amplify every
    rounding: the tutorial's ``1 - a**2`` cancels for saturated units, so a last-bit
    difference in ``tanh`` is a large relative difference in that unit's gradient,
    and each update multiplies a parameter difference by about
    ``learning_rate * |X|**2``. This test found lr 50 on int8 pixels drifting by
    2.5e-9 in three updates (Cython and Numba alike, which agree with each other to
    1e-10) and float32 with lr 50 on |X| ~ 1000 ending 100% away from the float64
    result. A backend cannot be expected to be closer to the reference than the
    reference is to itself, and the kernels change more roundings at once (their
    own tanh and exp, FMA, blocked sums), so the tolerance is the larger of 1e-9
    (1e-4) and 1000 times this. None: a perturbed run failed (overflow) where the
    reference did not.
    """
    params, costs = ref
    precise = np.dtype(np.longdouble) if dtype == np.float64 else np.dtype(np.float64)
    X = np.asarray(problem.X).astype(dtype)
    Y = np.asarray(problem.Y).astype(dtype)
    layout = Layout(X.shape[0], problem.hidden, Y.shape[0])
    n = X.shape[1]
    runs = [
        (precise, slice(None)),
        (dtype, np.arange(n)[::-1]),
        (dtype, np.random.default_rng(n).permutation(n)),
    ]
    error = 0.0
    for run_dtype, order in runs:
        theta = initial_parameters(layout, dtype, 3).astype(run_dtype)
        run_costs = np.empty(problem.iterations, dtype=run_dtype)
        with np.errstate(all="ignore"):
            done = _reference.train_chunk(
                X[:, order].astype(run_dtype),
                Y[:, order].astype(run_dtype),
                theta,
                problem.learning_rate,
                run_costs,
                1,
            )
        if done < problem.iterations:
            return None
        run_params = layout.unpack(theta.astype(np.float64))
        error = max(
            error,
            relative_error(costs, run_costs.astype(np.float64)),
            _blockwise_error(params, run_params),
        )
    return error


def _blockwise_error(params: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> float:
    """Relative error of W1, b1, W2 and b2 each against its own scale: a block made
    of rounding noise (a gradient sum that cancels, times a huge learning rate) is
    invisible next to a larger block but decides the next iteration's signs."""
    return max(relative_error(params[key], expected[key]) for key in expected)


def _packed(params: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([params[k].ravel() for k in ("W1", "b1", "W2", "b2")])


def _fit_dtype(X: np.ndarray) -> np.dtype:
    return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)


@pytest.fixture(scope="module", autouse=True)
def _warm_up():
    """Load every backend and compile Numba's float32 and float64 kernels once."""
    X = np.array([[0.0, 1.0, 2.0]])
    Y = np.array([[0.0, 1.0, 1.0]])
    for backend in ALL:
        for dtype in (np.float32, np.float64):
            twolayer.fit(X.astype(dtype), Y, 0.1, 2, 1, backend=backend)


# Per example that trained to the end: whether its values were compared (not only its
# outcome). The property is only as strong as this fraction.
COMPARED: list[bool] = []


@PROFILE
@given(problem=problems())
def test_fit_matches_reference_or_refuses_clearly(problem: Problem) -> None:
    X, Y = problem.X, problem.Y
    X_before, Y_before = X.copy(), Y.copy()
    args = (problem.learning_rate, problem.hidden, problem.iterations)

    status, result = _outcome(lambda: twolayer.fit(X, Y, *args, backend=problem.backend))
    ref_status, ref = _outcome(lambda: twolayer.fit(X, Y, *args, backend="numpy"))

    np.testing.assert_array_equal(X, X_before)  # inputs are never modified
    np.testing.assert_array_equal(Y, Y_before)
    # Validation happens before any backend runs and divergence is detected at the
    # same iteration, so the backend fails exactly when the reference does.
    assert status == ref_status, (problem.description, result, ref)
    event(f"fit: {status}")
    if status in ("ValueError", "TypeError"):
        assert "X" in str(result) or "Y" in str(result), result  # names the argument
        return
    if status == "DivergenceError":
        assert result.iteration == ref.iteration
        assert "diverged at iteration" in str(result)
        assert all(np.all(np.isfinite(p)) for p in result.params.values())
        assert np.all(np.isfinite(result.costs[:-1]))
        return

    params, costs = result
    ref_params, ref_costs = ref
    dtype = _fit_dtype(X)
    assert costs.dtype == dtype and costs.shape == (problem.iterations,)
    assert np.all(np.isfinite(costs))
    assert np.all(np.isfinite(_packed(params)))
    chaotic = problem.learning_rate >= CHAOTIC_LEARNING_RATE
    error = None if chaotic else _reference_error(problem, ref, dtype)
    # When the reference does not even reproduce itself to 1e-9 (1e-4) under rounding
    # changes, the problem is chaotic at this precision (this test found float32 fits
    # with lr 50 on |X| ~ 1000 where a hidden unit leaves saturation in one trajectory
    # and not another, Cython and Numba alike at W1 ~ -652 against NumPy's -0.3):
    # a few perturbations only bound its sensitivity from below, so only the outcome
    # is compared.
    ill_conditioned = error is not None and error > _tolerance(dtype)
    rtol = None if error is None or ill_conditioned else max(_tolerance(dtype), 1e3 * error)
    if chaotic:
        event("values not compared: learning rate 1e200")
    elif ill_conditioned:
        event("values not compared: reference moves by > 1e-9 / 1e-4 under rounding changes")
    elif rtol is None:
        event("values not compared: a perturbed reference overflowed")
    elif rtol == _tolerance(dtype):
        event("compared within 1e-9 (float64) / 1e-4 (float32)")
    else:
        event("compared within 1000 x the reference's own rounding sensitivity")
    COMPARED.append(rtol is not None)
    if rtol is not None:
        assert relative_error(costs, ref_costs) <= rtol, problem.description
        assert relative_error(_packed(params), _packed(ref_params)) <= rtol, problem.description

    # The compiled kernels read X and Y in place in a fixed order, so the same fit on
    # a C-contiguous float copy gives the same bits. (The NumPy reference does not
    # promise that: its matrix products go through BLAS, whose summation order
    # depends on the operands' layout; it gets the tolerance instead.)
    same_params, same_costs = twolayer.fit(
        np.ascontiguousarray(X, dtype=dtype),
        np.ascontiguousarray(Y, dtype=dtype),
        *args,
        backend=problem.backend,
    )
    if problem.backend == "numpy":
        if rtol is not None:
            assert relative_error(same_costs, costs) <= rtol
            assert relative_error(_packed(same_params), _packed(params)) <= rtol
    else:
        np.testing.assert_array_equal(costs, same_costs)
        for key in params:
            np.testing.assert_array_equal(params[key], same_params[key])

    # predict_proba / predict on the fitted parameters: finite, in [0, 1], consistent,
    # and close to the reference parameters' predictions.
    proba = twolayer.predict_proba(params, X)
    ref_proba = twolayer.predict_proba(ref_params, X)
    assert proba.shape == Y.shape and proba.dtype == dtype
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0) & (proba <= 1))
    if rtol is not None:
        np.testing.assert_allclose(proba, ref_proba, rtol=100 * rtol, atol=100 * rtol)
    labels = twolayer.predict(params, X)
    np.testing.assert_array_equal(labels, (proba > 0.5).astype(np.int64))
    np.testing.assert_array_equal(X, X_before)


@st.composite
def parameter_sets(draw: Any) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    n_features = draw(st.integers(1, 8))
    hidden = draw(st.integers(1, 6))
    n_outputs = draw(st.integers(1, 3))
    n_samples = draw(n_samples_strategy)
    weight_scale = draw(st.sampled_from([1e-300, 1e-3, 1.0, 1e3, 1e150]))
    x_scale = draw(st.sampled_from(SCALES))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    x_dtype = draw(st.sampled_from(X_DTYPES))
    layout = draw(st.sampled_from(LAYOUTS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    with np.errstate(over="ignore", under="ignore"):
        params = {
            "W1": rng.standard_normal((hidden, n_features)) * weight_scale,
            "b1": rng.standard_normal((hidden, 1)) * weight_scale,
            "W2": rng.standard_normal((n_outputs, hidden)) * weight_scale,
            "b2": rng.standard_normal((n_outputs, 1)) * weight_scale,
        }
        params = {k: v.astype(dtype) for k, v in params.items()}
    X = _in_layout(_as_dtype(_values(rng, (n_features, n_samples), x_scale), x_dtype), layout)
    return params, X, f"weights {weight_scale:g} {dtype}, X {x_scale} {x_dtype} {layout}"


def test_most_finished_fits_are_compared_by_value(record_property) -> None:
    if not COMPARED:  # run alone: run the property first
        test_fit_matches_reference_or_refuses_clearly()
    fraction = sum(COMPARED) / len(COMPARED)
    record_property("compared_fraction", fraction)
    print(f"values compared in {sum(COMPARED)} of {len(COMPARED)} finished fits ({fraction:.0%})")
    assert fraction >= 0.8, f"only {fraction:.0%} of the finished fits were compared by value"


@PROFILE
@given(case=parameter_sets(), threshold=st.sampled_from([0.0, 0.25, 0.5, 0.999, 1.0]))
def test_predictions_are_finite_probabilities_or_refused(case, threshold) -> None:
    """Any finite parameters (from fit or not) and any finite X: probabilities in
    [0, 1] equal to a float64 evaluation, or a clear error; never NaN."""
    params, X, description = case
    status, proba = _outcome(lambda: twolayer.predict_proba(params, X))
    event(f"predict_proba: {status}")
    if status != "ok":
        assert status in ("ValueError", "TypeError"), (status, proba)
        assert "X" in str(proba) or "params" in str(proba), proba
        return
    assert proba.shape == (params["W2"].shape[0], X.shape[1]), description
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0) & (proba <= 1)), description
    # Against a float64 evaluation of the same network, within a forward error bound:
    # each matrix product and tanh commits at most a few roundings of its operands'
    # magnitudes, and the sigmoid's slope is at most 1/4.
    dtype = params["W1"].dtype
    p = {k: v.astype(np.float64) for k, v in params.items()}
    Xd = np.asarray(X).astype(dtype).astype(np.float64)
    with np.errstate(over="ignore"):
        Z = p["W2"] @ np.tanh(p["W1"] @ Xd + p["b1"]) + p["b2"]
        expected = 1 / (1 + np.exp(-Z))
        magnitude = np.abs(p["W2"]) @ (np.abs(p["W1"]) @ np.abs(Xd) + np.abs(p["b1"]) + 1)
    eps = np.finfo(dtype).eps
    bound = 0.25 * 20 * eps * (magnitude + np.abs(p["b2"])) + 4 * eps
    assert np.all(np.abs(proba - expected) <= bound), description
    labels = twolayer.predict(params, X, threshold)
    np.testing.assert_array_equal(labels, (proba > threshold).astype(np.int64))


@PROFILE
@given(
    problem=problems(),
    bad=st.sampled_from(["nan-X", "inf-X", "nan-Y", "Y>1", "Y<0", "columns", "3-D", "complex"]),
    where=st.integers(0, 10**6),
)
def test_a_single_bad_value_anywhere_is_refused_naming_the_argument(problem, bad, where):
    """One poisoned element at any position, in any layout, is found before training."""
    X = np.array(problem.X, dtype=np.float64, copy=True)
    X[~np.isfinite(X)] = 1.0  # huge values overflowed float32: start from finite data
    Y = np.array(problem.Y, dtype=np.float64, copy=True)
    i, j = where % X.shape[0], (where // 7) % X.shape[1]
    expected: tuple[type[Exception], str]
    if bad == "nan-X":
        X[i, j] = np.nan
        expected = (ValueError, "X contains NaN")
    elif bad == "inf-X":
        X[i, j] = -np.inf if where % 2 else np.inf
        expected = (ValueError, "X contains NaN or infinity")
    elif bad == "nan-Y":
        Y[where % Y.shape[0], j] = np.nan
        expected = (ValueError, "Y contains NaN")
    elif bad == "Y>1":
        Y[where % Y.shape[0], j] = 1 + 1e-12
        expected = (ValueError, r"Y must lie in \[0, 1\]")
    elif bad == "Y<0":
        Y[where % Y.shape[0], j] = -1e-300
        expected = (ValueError, r"Y must lie in \[0, 1\]")
    elif bad == "columns":
        Y = np.concatenate([Y, Y[:, :1]], axis=1)
        expected = (ValueError, "same number of samples")
    elif bad == "3-D":
        X = X[None]
        expected = (ValueError, "X must be 2-D")
    else:
        X = X.astype(np.complex128)
        expected = (TypeError, "X must hold real numbers")
    layout = LAYOUTS[where % len(LAYOUTS)]
    if X.ndim == 2:
        X = _in_layout(X, layout)
    Y = _in_layout(Y, layout)
    with pytest.raises(expected[0], match=expected[1]):
        twolayer.fit(X, Y, 0.1, problem.hidden, 2, backend=problem.backend)
