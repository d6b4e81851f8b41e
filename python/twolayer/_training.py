"""The public ``fit``, ``predict_proba`` and ``predict``.

A thin layer: it validates, allocates, and drives a backend's
``train_chunk`` in chunks of iterations so that Python regains control
between chunks (Ctrl-C, callbacks and progress run there).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import _validation as v
from ._backends import load_backend, resolve_backend
from ._params import Layout, initial_parameters
from ._reference import forward, sigmoid

# A chunk aims at this many seconds: short enough that Ctrl-C stops a fit
# within about half a second, long enough that the Python loop costs nothing.
_CHUNK_SECONDS = 0.1
_MAX_CHUNK = 1 << 20


class DivergenceError(FloatingPointError):
    """Training produced a non-finite cost or parameter.

    Attributes: ``iteration`` (index of the failing iteration), ``params``
    (the last finite parameters, before that iteration's update) and
    ``costs`` (the costs up to and including the failing one).
    """

    def __init__(self, iteration: int, params: dict[str, np.ndarray], costs: np.ndarray):
        self.iteration = iteration
        self.params = params
        self.costs = costs
        super().__init__(
            f"training diverged at iteration {iteration}: the cost or an updated parameter "
            f"is not finite (cost = {costs[-1]}); lower learning_rate or rescale X. "
            "The last finite parameters are in this exception's .params"
        )


def _prepare(X: Any, Y: Any, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    resolved = v.check_dtype(dtype, X)
    X = v.check_array(X, "X", resolved)
    Y = v.check_array(Y, "Y", X.dtype)
    v.check_targets(Y, X.shape[1])
    return X, Y


def fit(
    X: Any,
    Y: Any,
    learning_rate: float,
    hidden_size: int,
    number_of_iterations: int = 5000,
    *,
    backend: str = "auto",
    dtype: Any = None,
    n_threads: int | None = None,
    seed: int | None = 3,
    comm: Any = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Train a tanh/sigmoid two-layer network by full-batch gradient descent.

    Parameters
    ----------
    X : array of shape (n_features, n_samples)
        Inputs, one column per sample (the tutorial's layout). Any memory order.
    Y : array of shape (n_outputs, n_samples)
        Targets in [0, 1] (hard or soft labels), one independent sigmoid output per row.
    learning_rate : float > 0
    hidden_size : int >= 1
    number_of_iterations : int >= 0
    backend : {"auto", "numpy", "cython", "numba"}
        "numpy" is the reference; "auto" takes the fastest one installed.
    dtype : None, float32 or float64
        None keeps float32 when X is float32 and uses float64 otherwise.
    n_threads : int >= 1 or None
        None uses OMP_NUM_THREADS if set, else every CPU available to the process.
        The result does not depend on it.
    seed : int or None
        Initial weights equal the tutorial's after ``np.random.seed(seed)``;
        NumPy's global random state is not touched.
    comm : mpi4py communicator or None
        Train over the ranks of ``comm`` (``pip install 'twolayer[mpi]'``): X and Y are
        this rank's samples, every rank gets the parameters of the fit on all samples.
        See ``twolayer._mpi``.

    Returns
    -------
    params : dict with "W1" (hidden, n_features), "b1" (hidden, 1),
        "W2" (n_outputs, hidden), "b2" (n_outputs, 1)
    costs : array of shape (number_of_iterations,)
        ``costs[j]`` is the cost before update ``j``.

    Raises
    ------
    DivergenceError
        When the cost or a parameter becomes non-finite; it carries the last
        finite parameters.
    """
    if comm is not None:  # mpi4py is imported only here, never by ``import twolayer``
        from ._mpi import fit_distributed

        return fit_distributed(
            X, Y, learning_rate, hidden_size, number_of_iterations,
            backend=backend, dtype=dtype, n_threads=n_threads, seed=seed, comm=comm,
        )
    X, Y = _prepare(X, Y, dtype)
    learning_rate = v.check_learning_rate(learning_rate)
    hidden_size = v.check_positive_int(hidden_size, "hidden_size")
    number_of_iterations = v.check_positive_int(
        number_of_iterations, "number_of_iterations", minimum=0
    )
    n_threads = v.check_n_threads(n_threads)
    seed = v.check_seed(seed)
    v.check_model_size(hidden_size, X.shape[0], Y.shape[0])
    kernels = load_backend(resolve_backend(backend))

    layout = Layout(X.shape[0], hidden_size, Y.shape[0])
    theta = initial_parameters(layout, X.dtype, seed)
    costs = np.empty(number_of_iterations, dtype=X.dtype)
    done = 0
    chunk = 1
    while done < number_of_iterations:
        chunk = min(chunk, number_of_iterations - done)
        started = time.perf_counter()
        completed = kernels.train_chunk(
            X, Y, theta, learning_rate, costs[done : done + chunk], n_threads
        )
        if completed < chunk:
            failed = done + completed
            raise DivergenceError(failed, layout.unpack(theta), costs[: failed + 1].copy())
        done += chunk
        elapsed = time.perf_counter() - started
        # Grow (or shrink) the chunk towards _CHUNK_SECONDS; chunking never changes results.
        scale = _CHUNK_SECONDS / max(elapsed, 1e-6)
        chunk = int(min(_MAX_CHUNK, max(1, chunk * min(scale, 4.0))))
    return layout.unpack(theta), costs


def predict_proba(params: dict[str, np.ndarray], X: Any) -> np.ndarray:
    """Sigmoid outputs of shape (n_outputs, n_samples) for X of shape (n_features, n_samples)."""
    p = v.check_params(params)
    X = v.check_array(X, "X", p["W1"].dtype)
    if X.shape[0] != p["W1"].shape[1]:
        raise ValueError(
            f"X has {X.shape[0]} features (rows) but params were trained on {p['W1'].shape[1]}"
        )
    layout = Layout(X.shape[0], p["W1"].shape[0], p["W2"].shape[0])
    theta = layout.pack(p, X.dtype)
    with np.errstate(over="ignore"):
        _, Z2 = forward(X, theta, layout)
        return sigmoid(Z2)


def predict(params: dict[str, np.ndarray], X: Any, threshold: float = 0.5) -> np.ndarray:
    """0/1 labels of shape (n_outputs, n_samples): 1 where the probability exceeds ``threshold``."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise TypeError(f"threshold must be a real number, got {type(threshold).__name__}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    return (predict_proba(params, X) > threshold).astype(np.int64)
