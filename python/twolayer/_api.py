"""The public ``fit``, ``predict_proba`` and ``predict``.

A thin layer: ``fit`` hands over to the training driver (``_training``), or to
MPI training (``_mpi``) when a communicator is given; prediction runs the
kernels' fused forward pass (``_predict``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _predict
from . import _validation as v
from ._options import OUTPUTS, all_default, non_default
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
    init_params: dict[str, np.ndarray] | None = None,
    alpha: float = 0.0,
    solver: str = "sgd",
    momentum: float = 0.0,
    nesterovs_momentum: bool = False,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
    batch_size: int | None = None,
    shuffle: bool = False,
    schedule: str = "constant",
    power_t: float = 0.5,
    sample_weight: Any = None,
    output: str = "sigmoid",
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Train a tanh/sigmoid (or softmax) two-layer network by gradient descent.

    With the training options at their defaults this is the tutorial's
    full-batch gradient descent at a fixed rate (bit for bit as before the
    options existed); any other value trains in epochs of mini-batches with
    scikit-learn's MLPClassifier arithmetic (``solver``, ``alpha``, ...), which
    it follows epoch by epoch from the same initial weights.

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

    Training options (keyword-only; scikit-learn's names and formulas)
    ---------------------------------------------------------------------
    init_params : dict with W1, b1, W2, b2, or None
        Start from these parameters (copied, never modified) instead of the seeded draw.
    alpha : float >= 0
        L2 penalty on W1 and W2 (not the biases): the cost adds
        ``alpha / 2 * (|W1|^2 + |W2|^2) / S`` and the gradients ``alpha * W / S``,
        S the batch's sample count (or its weight sum).
    solver : {"sgd", "adam"}
        "sgd": ``v = momentum * v - lr * g; P += v`` (Nesterov: ``P += momentum * v - lr * g``);
        momentum 0 is plain gradient descent. "adam": ``learning_rate`` is the initial rate.
    momentum : float in [0, 1]; nesterovs_momentum : bool
    beta_1, beta_2 : float in [0, 1); epsilon : float > 0
        Adam's moment decays and denominator guard.
    batch_size : int >= 1 or None
        Mini-batches of consecutive columns (the last may be shorter; larger than
        n_samples means the full batch). None: the full batch.
        ``number_of_iterations`` then counts epochs and ``costs[j]`` is epoch j's cost
        as scikit-learn's ``loss_curve_`` records it: the batch costs, each before its
        own update, weighted by batch length. ``callback``, ``verbose``, ``tol`` and
        ``validation_data`` act per epoch (``tol`` returns the parameters at the start
        of the epoch with the lowest cost).
    shuffle : bool
        Each epoch's order is ``rng.permutation(n)`` of one ``np.random.default_rng(seed)``
        per fit (never NumPy's global state); the result does not depend on n_threads.
    schedule : {"constant", "invscaling"}; power_t : float >= 0
        invscaling (sgd only): after each epoch the rate becomes
        ``learning_rate / (samples_seen + 1) ** power_t``.
    sample_weight : array of shape (n_samples,), finite, >= 0, not all zero, or None
        Weighted losses and gradients (scikit-learn's ``np.average``; L2 over the weight
        sum). A mini-batch whose weights are all zero is skipped (no update).
    output : {"sigmoid", "softmax"}
        "softmax": one softmax over the outputs of each sample, categorical
        cross-entropy; the columns of Y sum to 1. Predict with ``output="softmax"``.

    With ``comm``, the training options are refused (not supported with comm),
    except ``init_params``.
    """
    if comm is None and all_default(alpha, solver, momentum, nesterovs_momentum, beta_1, beta_2,
                                    epsilon, batch_size, shuffle, schedule, power_t,
                                    sample_weight, output):  # fmt: skip
        result = _fit(  # the options at their defaults are _fit's own: not passed on
            X, Y, learning_rate, hidden_size, number_of_iterations, backend=backend,
            dtype=dtype, n_threads=n_threads, seed=seed, callback=callback, verbose=verbose,
            tol=tol, n_iter_no_change=n_iter_no_change, validation_data=validation_data,
            init_params=init_params,
        )  # fmt: skip
        return result.params, result.costs
    training_options = dict(
        alpha=alpha, solver=solver, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
        beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, batch_size=batch_size, shuffle=shuffle,
        schedule=schedule, power_t=power_t, sample_weight=sample_weight, output=output,
    )
    if comm is not None:  # mpi4py is imported only here, never by ``import twolayer``
        from ._mpi import fit_distributed

        # Refused inside fit_distributed once the ranks have exchanged their checks, so
        # that e.g. verbose=True on rank 0 alone fails on every rank instead of hanging.
        options = {"callback": callback is not None, "verbose": bool(verbose),
                   "tol": tol is not None, "validation_data": validation_data is not None}
        options.update(non_default(training_options))
        return fit_distributed(
            X, Y, learning_rate, hidden_size, number_of_iterations,
            backend=backend, dtype=dtype, n_threads=n_threads, seed=seed, comm=comm,
            unsupported=[name for name, used in options.items() if used],
            init_params=init_params,
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
        init_params=init_params,
        **training_options,
    )
    return result.params, result.costs


def predict_proba(
    params: dict[str, np.ndarray],
    X: Any,
    *,
    output: str = "sigmoid",
    backend: str = "auto",
    n_threads: int | None = None,
) -> np.ndarray:
    """Probabilities of shape (n_outputs, n_samples) for X of shape (n_features, n_samples).

    ``output``: "sigmoid" (independent outputs, as trained by default) or
    "softmax" (one softmax over the outputs of each sample, for models trained
    with ``fit(..., output="softmax")``).

    ``backend`` and ``n_threads`` mean what they mean in ``fit``; the result
    is the same for every thread count. The compiled backends run a fused
    forward pass (no (hidden x n_samples) temporaries). The dtype is that of
    ``params['W1']`` (a float32 model predicts in float32). Saturated outputs
    are exactly 0 or 1. Finite X whose sums overflow inside the network (say
    1e308 in every feature) raise a ValueError naming X instead of giving NaN.
    """
    v.check_choice(output, "output", OUTPUTS)
    mode = _predict.SOFTMAX if output == "softmax" else _predict.PROBA
    return _predict.outputs(params, X, mode, backend, n_threads)


def predict(
    params: dict[str, np.ndarray],
    X: Any,
    threshold: float = 0.5,
    *,
    output: str = "sigmoid",
    backend: str = "auto",
    n_threads: int | None = None,
) -> np.ndarray:
    """0/1 labels of shape (n_outputs, n_samples): 1 where the probability exceeds ``threshold``.

    ``output="softmax"``: a one-hot column per sample, 1 at the most probable
    output (the first one on ties); ``threshold`` is not used.
    """
    if output == "softmax":
        proba = predict_proba(params, X, output=output, backend=backend, n_threads=n_threads)
        labels = np.zeros(proba.shape, dtype=np.int64)
        labels[np.argmax(proba, axis=0), np.arange(proba.shape[1])] = 1
        return labels
    v.check_threshold(threshold)
    proba = predict_proba(params, X, output=output, backend=backend, n_threads=n_threads)
    return (proba > threshold).astype(np.int64)
