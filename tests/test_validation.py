"""Bad input gets a clear ValueError or TypeError naming the argument."""

import numpy as np
import pytest

import twolayer

GOOD_X = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.0, 0.0]])
GOOD_Y = np.array([[0.0, 1.0, 1.0, 0.0]])


def _fit(**overrides):
    args = {
        "X": GOOD_X,
        "Y": GOOD_Y,
        "learning_rate": 0.1,
        "hidden_size": 3,
        "number_of_iterations": 2,
    }
    kwargs = {
        k: overrides.pop(k) for k in ("backend", "dtype", "n_threads", "seed") if k in overrides
    }
    args.update(overrides)
    return twolayer.fit(**args, **kwargs)


def _with(array, index, value):
    out = array.copy()
    out[index] = value
    return out


BAD_INPUTS = [
    ({"X": _with(GOOD_X, (0, 1), np.nan)}, ValueError, "X contains NaN"),
    ({"X": _with(GOOD_X, (1, 2), np.inf)}, ValueError, "X contains NaN or infinity"),
    ({"Y": _with(GOOD_Y, (0, 0), np.nan)}, ValueError, "Y contains NaN"),
    ({"Y": _with(GOOD_Y, (0, 0), -np.inf)}, ValueError, "Y contains"),
    ({"Y": _with(GOOD_Y, (0, 0), 1.5)}, ValueError, r"Y must lie in \[0, 1\]"),
    ({"Y": _with(GOOD_Y, (0, 0), -0.1)}, ValueError, r"Y must lie in \[0, 1\]"),
    ({"Y": np.array([[0.0, 1.0, 1.0]])}, ValueError, "same number of samples"),
    ({"X": GOOD_X[0]}, ValueError, "X must be 2-D"),
    ({"Y": GOOD_Y[0]}, ValueError, "Y must be 2-D"),
    ({"X": GOOD_X[None]}, ValueError, "X must be 2-D"),
    ({"X": np.empty((2, 0)), "Y": np.empty((1, 0))}, ValueError, "X must not be empty"),
    ({"X": np.empty((0, 4))}, ValueError, "X must not be empty"),
    ({"Y": np.empty((0, 4))}, ValueError, "Y must not be empty"),
    ({"hidden_size": 0}, ValueError, "hidden_size must be >= 1"),
    ({"hidden_size": -3}, ValueError, "hidden_size must be >= 1"),
    ({"hidden_size": 2.5}, TypeError, "hidden_size must be an int"),
    ({"hidden_size": True}, TypeError, "hidden_size must be an int"),
    ({"hidden_size": "5"}, TypeError, "hidden_size must be an int"),
    ({"number_of_iterations": -1}, ValueError, "number_of_iterations must be >= 0"),
    ({"number_of_iterations": 10.0}, TypeError, "number_of_iterations must be an int"),
    ({"number_of_iterations": None}, TypeError, "number_of_iterations must be an int"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate must be a finite number > 0"),
    ({"learning_rate": -0.3}, ValueError, "learning_rate must be a finite number > 0"),
    ({"learning_rate": np.nan}, ValueError, "learning_rate must be a finite number > 0"),
    ({"learning_rate": np.inf}, ValueError, "learning_rate must be a finite number > 0"),
    ({"learning_rate": "0.3"}, TypeError, "learning_rate must be a real number"),
    ({"learning_rate": 1j}, TypeError, "learning_rate must be a real number"),
    ({"X": GOOD_X.astype(str)}, TypeError, "X must hold real numbers"),
    ({"X": GOOD_X.astype(complex)}, TypeError, "X must hold real numbers.*complex"),
    ({"Y": GOOD_Y.astype(object)}, TypeError, "Y must hold real numbers"),
    ({"X": [[1.0, 2.0], [3.0]]}, TypeError, "X must be a 2-D array"),
    ({"X": "abc"}, TypeError, "X must hold real numbers"),
    ({"backend": "fortran"}, ValueError, "backend must be one of .*'numpy', 'cython', 'numba'"),
    ({"backend": None}, TypeError, "backend must be a str"),
    ({"dtype": np.int32}, ValueError, "dtype must be float32, float64 or None"),
    ({"dtype": np.float16}, ValueError, "dtype must be float32, float64 or None"),
    ({"dtype": "banana"}, TypeError, "dtype must be float32, float64 or None"),
    ({"n_threads": 0}, ValueError, "n_threads must be >= 1"),
    ({"n_threads": 1.5}, TypeError, "n_threads must be an int"),
    ({"seed": -1}, ValueError, "seed must be in"),
    ({"seed": 2**32}, ValueError, "seed must be in"),
    ({"seed": "3"}, TypeError, "seed must be an int"),
    ({"X": np.full((2, 4), 1e300), "dtype": np.float32}, ValueError, "X contains NaN or infinity"),
]


@pytest.mark.parametrize(("overrides", "error", "message"), BAD_INPUTS)
@pytest.mark.parametrize("backend", twolayer.available_backends())
def test_bad_input_is_refused_clearly(overrides, error, message, backend):
    overrides = dict(overrides)
    overrides.setdefault("backend", backend)
    originals = {k: v.copy() for k, v in overrides.items() if isinstance(v, np.ndarray)}
    with pytest.raises(error, match=message):
        _fit(**overrides)
    for key, original in originals.items():  # refusing never modifies the input either
        np.testing.assert_array_equal(overrides[key], original)


def test_absurd_model_size_is_refused_before_allocating():
    with pytest.raises(ValueError, match=r"hidden_size=.* parameters"):
        _fit(hidden_size=2**40)


@pytest.mark.parametrize("backend", twolayer.available_backends())
def test_fit_that_cannot_fit_in_memory_is_refused_up_front(backend):
    X = np.zeros((2, 100_000))
    Y = np.zeros((1, 100_000))
    # hidden 5e7: the parameters alone are 3 GB; activations or scratch are far more.
    with pytest.raises(ValueError, match=r"hidden_size=50000000 .* GiB of working memory"):
        twolayer.fit(X, Y, 0.1, 50_000_000, 1, backend=backend)
