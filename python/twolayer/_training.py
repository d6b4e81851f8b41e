"""The public ``fit``, ``predict_proba`` and ``predict``.

A thin layer: it validates, allocates, and drives a backend's
``train_chunk`` in chunks of iterations so that Python regains control
between chunks (Ctrl-C, callbacks and progress run there).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from . import _predict
from . import _validation as v
from ._backends import load_backend, resolve_backend, workspace_bytes
from ._early_stopping import CostWatch, ValidationWatch
from ._epochs import BatchDivergenceError, EpochRunner, Optimizer
from ._errors import DivergenceError
from ._geometry import BLOCK as _BLOCK  # samples per block: one block runs in one thread
from ._options import OUTPUTS, TrainingOptions, check_options, non_default
from ._params import Layout, initial_parameters
from ._progress import Progress

# A chunk aims at this many seconds: short enough that Ctrl-C stops a fit
# within about half a second, long enough that the Python loop costs nothing.
_CHUNK_SECONDS = 0.1
_MAX_CHUNK = 1 << 20


Callback = Callable[[int, float, dict[str, np.ndarray]], Any]


def _check_tol(tol: Any) -> float | None:
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"tol must be a real number >= 0 or None, got {type(tol).__name__}")
    tol = float(tol)
    if not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0 or None, got {tol}")
    return tol


def _check_validation_data(
    validation_data: Any, X: np.ndarray, Y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError("validation_data must be a pair (X_val, Y_val) or None")
    X_val = v.check_array(validation_data[0], "validation_data X_val", X.dtype)
    Y_val = v.check_array(validation_data[1], "validation_data Y_val", X.dtype)
    if X_val.shape[0] != X.shape[0]:
        raise ValueError(
            f"validation_data X_val has {X_val.shape[0]} features (rows), X has {X.shape[0]}"
        )
    if Y_val.shape[0] != Y.shape[0]:
        raise ValueError(
            f"validation_data Y_val has {Y_val.shape[0]} outputs (rows), Y has {Y.shape[0]}"
        )
    try:
        v.check_targets(Y_val, X_val.shape[1])
    except ValueError as exc:
        raise ValueError(f"validation_data: {exc}") from None
    return X_val, Y_val


def _start(
    X: np.ndarray,
    Y: np.ndarray,
    hidden_size: int,
    backend: str,
    n_threads: int,
    seed: int | None,
    init_params: dict[str, np.ndarray] | None,
) -> tuple[ModuleType, Layout, np.ndarray]:
    """Kernels and starting parameters of a validated fit (also each MPI rank's).

    The working memory is checked before the backend loads or anything large
    is allocated.
    """
    name = resolve_backend(backend)
    v.check_memory(
        workspace_bytes(
            name, X.shape[0], hidden_size, Y.shape[0], X.shape[1], n_threads, X.dtype.itemsize
        ),
        f"a fit with hidden_size={hidden_size} on {X.shape[1]} samples ({name} backend)",
    )
    layout = Layout(X.shape[0], hidden_size, Y.shape[0])
    if init_params is None:
        theta = initial_parameters(layout, X.dtype, seed)
    else:
        theta = _initial_from(init_params, layout, X.dtype)
    return load_backend(name), layout, theta


def _initial_from(params: dict[str, np.ndarray], layout: Layout, dtype: np.dtype) -> np.ndarray:
    p = v.check_params(params)
    shape = Layout(p["W1"].shape[1], p["W1"].shape[0], p["W2"].shape[0])
    if shape != layout:
        raise ValueError(
            f"init_params have {shape.n_features} features, {shape.hidden_size} hidden units and "
            f"{shape.n_outputs} outputs; this fit needs {layout.n_features}, "
            f"{layout.hidden_size} and {layout.n_outputs}"
        )
    return layout.pack(p, dtype)


def _prepare(
    X: Any, Y: Any, dtype: Any, *, allow_no_samples: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    resolved = v.check_dtype(dtype, X)
    X = v.check_array(X, "X", resolved, allow_no_samples=allow_no_samples)
    Y = v.check_array(Y, "Y", X.dtype, allow_no_samples=allow_no_samples)
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
        own update, weighted by batch length.
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


class FitResult(NamedTuple):
    """Everything a fit produced (``fit`` returns the first two)."""

    params: dict[str, np.ndarray]
    costs: np.ndarray
    stopped: str | None  # None (ran to the end), "tol", "validation" or "callback"
    best_iteration: int | None  # index of the best monitored cost, when early stopping
    validation_costs: np.ndarray | None  # validation cost of the initial and each updated params


def _fit(
    X: Any,
    Y: Any,
    learning_rate: float,
    hidden_size: int,
    number_of_iterations: int,
    *,
    backend: str,
    dtype: Any,
    n_threads: int | None,
    seed: int | None,
    callback: Callback | None = None,
    verbose: bool = False,
    tol: float | None = None,
    n_iter_no_change: int = 10,
    validation_data: tuple[Any, Any] | None = None,
    init_params: dict[str, np.ndarray] | None = None,
    **options: Any,
) -> FitResult:
    """``fit`` with all its results; ``init_params`` continues from given parameters.

    ``options``: fit's training options (``_options.check_options``).
    """
    X, Y = _prepare(X, Y, dtype)
    learning_rate = v.check_learning_rate(learning_rate)
    hidden_size = v.check_positive_int(hidden_size, "hidden_size")
    number_of_iterations = v.check_positive_int(
        number_of_iterations, "number_of_iterations", minimum=0
    )
    if n_threads is None and X.shape[1] <= _BLOCK and validation_data is None:
        n_threads = 1  # one block of samples: one thread, whatever the default (issue 12)
    n_threads = v.check_n_threads(n_threads)
    seed = v.check_seed(seed)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    if isinstance(verbose, str) or not isinstance(verbose, (bool, int, np.integer)):
        raise TypeError(f"verbose must be a bool, got {type(verbose).__name__} {verbose!r}")
    tol = _check_tol(tol)
    n_iter_no_change = v.check_positive_int(n_iter_no_change, "n_iter_no_change")
    v.check_model_size(hidden_size, X.shape[0], Y.shape[0])
    opts = check_options(X, Y, **options)
    if init_params is not None:
        init_params = v.check_params(init_params, "init_params")
    validation_arrays = None
    if validation_data is not None:
        validation_arrays = _check_validation_data(validation_data, X, Y)
        if opts.output == "softmax":
            v.check_softmax_targets(validation_arrays[1], "validation_data Y_val")
    kernels, layout, theta = _start(X, Y, hidden_size, backend, n_threads, seed, init_params)
    validation = None
    if validation_arrays is not None:
        validation = ValidationWatch(
            *validation_arrays, layout, tol or 0.0, n_iter_no_change, kernels, n_threads,
            softmax=opts.output == "softmax",
        )
    step = _stepper(kernels, X, Y, theta, learning_rate, n_threads, seed, opts)
    watch = CostWatch(tol, n_iter_no_change) if tol is not None and validation is None else None
    progress = Progress(number_of_iterations) if verbose else None
    if validation is not None:
        validation.start(theta)

    costs = np.empty(number_of_iterations, dtype=X.dtype)
    stopped: str | None = None
    done = 0
    chunk = 1
    while done < number_of_iterations:
        # Validation is measured after every update, so its chunks are single iterations;
        # so are epochs under tol (CostWatch's replay runs train_chunk's iterations).
        single = validation is not None or (watch is not None and opts.epochs)
        chunk = 1 if single else min(chunk, number_of_iterations - done)
        start_theta = theta.copy() if watch is not None else theta
        started = time.perf_counter()
        try:
            completed = step(theta, costs[done : done + chunk])
        except BatchDivergenceError as error:
            error.costs = costs[: error.iteration].copy()
            if progress is not None:
                progress.close(error.iteration, float("nan"), "diverged")
            raise
        if completed < chunk:
            failed = done + completed
            if progress is not None:
                progress.close(failed, float(costs[failed]), "diverged")
            raise DivergenceError(failed, layout.unpack(theta), costs[: failed + 1].copy())
        elapsed = time.perf_counter() - started
        if watch is not None:
            stop_at = watch.update(costs[done : done + chunk], done, start_theta)
            if stop_at is not None:
                done = stop_at + 1
                theta = watch.best_theta(kernels, X, Y, learning_rate, n_threads)
                stopped = "tol"
                break
        done += chunk
        if validation is not None and validation.update(theta, done):
            stopped = "validation"
            break
        if progress is not None:
            progress.update(done, float(costs[done - 1]))
        if callback is not None and callback(done, float(costs[done - 1]), layout.unpack(theta)):
            stopped = "callback"
            break
        # Grow (or shrink) the chunk towards _CHUNK_SECONDS; chunking never changes results.
        scale = _CHUNK_SECONDS / max(elapsed, 1e-6)
        chunk = int(min(_MAX_CHUNK, max(1, chunk * min(scale, 4.0))))
    best_iteration = None
    validation_costs = None
    if validation is not None:
        theta = validation.best
        best_iteration = validation.best_iteration
        validation_costs = np.asarray(validation.costs, dtype=X.dtype)
    elif stopped == "tol" and watch is not None:
        best_iteration = watch.best_index
    if progress is not None:
        progress.close(done, float(costs[done - 1]) if done else float("nan"), stopped)
    return FitResult(
        layout.unpack(theta),
        costs[:done].copy() if done < costs.size else costs,
        stopped,
        best_iteration,
        validation_costs,
    )


def _stepper(
    kernels: ModuleType,
    X: np.ndarray,
    Y: np.ndarray,
    theta: np.ndarray,
    learning_rate: float,
    n_threads: int,
    seed: int | None,
    opts: TrainingOptions,
) -> Callable[[np.ndarray, np.ndarray], int]:
    """``step(theta, costs) -> completed``: iterations of train_chunk, or epochs with options."""
    if not opts.epochs:
        return lambda theta, costs: kernels.train_chunk(  # today's path, bit for bit
            X, Y, theta, learning_rate, costs, n_threads
        )
    optimizer = Optimizer(
        opts.solver, theta.size, theta.dtype, learning_rate=learning_rate,
        momentum=opts.momentum, nesterovs_momentum=opts.nesterovs_momentum,
        beta_1=opts.beta_1, beta_2=opts.beta_2, epsilon=opts.epsilon, alpha=opts.alpha,
    )
    return EpochRunner(
        kernels, X, Y, opts.sample_weight, optimizer, opts.batch_size or X.shape[1],
        opts.output == "softmax", n_threads, shuffle=opts.shuffle, shuffle_seed=seed,
        schedule=opts.schedule, power_t=opts.power_t,
    )


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
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise TypeError(f"threshold must be a real number, got {type(threshold).__name__}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    proba = predict_proba(params, X, output=output, backend=backend, n_threads=n_threads)
    return (proba > threshold).astype(np.int64)
