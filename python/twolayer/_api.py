"""The public ``fit``, ``predict_proba`` and ``predict``.

A thin layer: ``fit`` hands over to the training driver (``_training``), or to
MPI training (``_mpi``) when a communicator is given; prediction runs the
kernels' fused forward pass (``_predict``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _predict
from ._training import Callback, _fit


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
    callback: Callback | None = None,
    verbose: bool = False,
    tol: float | None = None,
    n_iter_no_change: int = 10,
    validation_data: tuple[Any, Any] | None = None,
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
    callback : callable(iteration, cost, params) -> bool, optional
        Called between kernel chunks (about every 0.1 s) with the number of
        updates done, the last recorded cost and a copy of the current
        parameters. Returning True stops the fit; ``costs`` then ends there.
    verbose : bool
        Show progress on stderr: a live bar on a terminal, otherwise a plain
        line about once a second and a summary at the end.
    tol : float >= 0 or None
        Early stopping on the training cost: stop once ``n_iter_no_change``
        consecutive costs fail to beat the best cost so far by more than
        ``tol``, and return the parameters that had the lowest cost. None
        (the default) never stops early. The stopping iteration does not
        depend on the chunking, so results stay reproducible.
    n_iter_no_change : int >= 1
        Patience of the early stopping (training cost or validation).
    validation_data : (X_val, Y_val) or None
        Early stopping on held-out data, in the same layout as X and Y: the
        validation cost is measured after every update; training stops once
        it has not improved by more than ``tol`` (0 when None) for
        ``n_iter_no_change`` updates, and the parameters with the lowest
        validation cost are returned.

    Returns
    -------
    params : dict with "W1" (hidden, n_features), "b1" (hidden, 1),
        "W2" (n_outputs, hidden), "b2" (n_outputs, 1)
    costs : array of shape (number_of_iterations,), shorter after an early stop
        ``costs[j]`` is the cost before update ``j``.

    Raises
    ------
    DivergenceError
        When the cost or a parameter becomes non-finite; it carries the last
        finite parameters.
    """
    if comm is not None:  # mpi4py is imported only here, never by ``import twolayer``
        from ._mpi import fit_distributed

        # Refused inside fit_distributed once the ranks have exchanged their checks, so
        # that e.g. verbose=True on rank 0 alone fails on every rank instead of hanging.
        options = {"callback": callback is not None, "verbose": bool(verbose),
                   "tol": tol is not None, "validation_data": validation_data is not None}
        return fit_distributed(
            X, Y, learning_rate, hidden_size, number_of_iterations,
            backend=backend, dtype=dtype, n_threads=n_threads, seed=seed, comm=comm,
            unsupported=[name for name, used in options.items() if used],
        )
    result = _fit(
        X,
        Y,
        learning_rate,
        hidden_size,
        number_of_iterations,
        backend=backend,
        dtype=dtype,
        n_threads=n_threads,
        seed=seed,
        callback=callback,
        verbose=verbose,
        tol=tol,
        n_iter_no_change=n_iter_no_change,
        validation_data=validation_data,
    )
    return result.params, result.costs


def predict_proba(
    params: dict[str, np.ndarray],
    X: Any,
    *,
    backend: str = "auto",
    n_threads: int | None = None,
) -> np.ndarray:
    """Sigmoid outputs of shape (n_outputs, n_samples) for X of shape (n_features, n_samples).

    ``backend`` and ``n_threads`` mean what they mean in ``fit``; the result
    is the same for every thread count. The compiled backends run a fused
    forward pass (no (hidden x n_samples) temporaries). The dtype is that of
    ``params['W1']`` (a float32 model predicts in float32). Saturated outputs
    are exactly 0 or 1. Finite X whose sums overflow inside the network (say
    1e308 in every feature) raise a ValueError naming X instead of giving NaN.
    """
    return _predict.outputs(params, X, _predict.PROBA, backend, n_threads)


def predict(
    params: dict[str, np.ndarray],
    X: Any,
    threshold: float = 0.5,
    *,
    backend: str = "auto",
    n_threads: int | None = None,
) -> np.ndarray:
    """0/1 labels of shape (n_outputs, n_samples): 1 where the probability exceeds ``threshold``."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise TypeError(f"threshold must be a real number, got {type(threshold).__name__}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    proba = predict_proba(params, X, backend=backend, n_threads=n_threads)
    return (proba > threshold).astype(np.int64)
