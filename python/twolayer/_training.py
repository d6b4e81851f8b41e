"""The training driver: ``_fit`` runs a validated fit to the end.

It drives a backend's ``train_chunk`` in chunks of iterations so that Python
regains control between chunks (Ctrl-C, callbacks, early stopping and
progress run there). The public ``fit`` (``_api``) calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from . import _validation as v
from ._early_stopping import CostWatch, ValidationWatch
from ._epochs import BatchDivergenceError, EpochRunner, Optimizer
from ._errors import DivergenceError
from ._geometry import BLOCK as _BLOCK  # samples per block: one block runs in one thread
from ._options import TrainingOptions, check_options
from ._progress import Progress
from ._setup import _check_validation_data, _prepare, _start

# A chunk aims at this many seconds: short enough that Ctrl-C stops a fit
# within about half a second, long enough that the Python loop costs nothing.
_CHUNK_SECONDS = 0.1
_MAX_CHUNK = 1 << 20


Callback = Callable[[int, float, dict[str, np.ndarray]], Any]


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
    v.check_callback(callback)
    v.check_verbose(verbose)
    tol = v.check_tol(tol)
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
    unit = "epoch" if opts.epochs else "iteration"
    progress = Progress(number_of_iterations, unit=unit) if verbose else None
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
        layout.views(theta),  # theta is this fit's own buffer from here on: no copies
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
