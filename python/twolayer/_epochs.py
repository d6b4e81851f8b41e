"""Epochs of mini-batch training: the optimizer's state and one call per epoch (issue 15).

Used by ``fit`` for its non-default options and by ``twolayer.sklearn.MLPClassifier``,
which brings its own shuffling, schedule and stopping rules. Every backend's
``train_epoch`` (``_reference.train_epoch`` is the oracle and states the contract) runs
the batches; this module keeps what lives between epochs.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from . import _validation as v
from ._errors import DivergenceError
from ._params import Layout
from ._solver_codes import NESTEROV, SOLVERS

# Slots of the kernels' ``hyper`` vector.
_LR, _MOMENTUM, _BETA_1, _BETA_2, _EPSILON, _ALPHA, _STEP = range(7)


class Optimizer:
    """The optimizer's state between epochs (and partial_fit calls), scikit-learn's semantics.

    ``state`` (2, n_params): sgd's velocities in row 0; adam's first and second
    moments in rows 0 and 1. ``hyper`` is the kernels' float64 vector
    [learning rate, momentum, beta_1, beta_2, epsilon, alpha, t, 0]. The
    hyperparameters are checked here, each error naming its argument.
    """

    def __init__(
        self,
        solver: str,
        n_params: int,
        dtype: Any,
        *,
        learning_rate: float,
        momentum: float = 0.0,
        nesterovs_momentum: bool = False,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        alpha: float = 0.0,
    ) -> None:
        v.check_choice(solver, "solver", tuple(SOLVERS))
        nesterov = v.check_bool(nesterovs_momentum, "nesterovs_momentum")
        self.solver_code = NESTEROV if solver == "sgd" and nesterov else SOLVERS[solver]
        self.state = np.zeros((2, n_params), dtype=dtype)
        self.hyper = np.zeros(8, dtype=np.float64)
        self.learning_rate = learning_rate
        self.hyper[_MOMENTUM] = v.check_real(momentum, "momentum", 0.0, 1.0)
        self.hyper[_BETA_1] = v.check_real(beta_1, "beta_1", 0.0, 1.0, high_open=True)
        self.hyper[_BETA_2] = v.check_real(beta_2, "beta_2", 0.0, 1.0, high_open=True)
        self.hyper[_EPSILON] = v.check_real(epsilon, "epsilon", 0.0, low_open=True)
        self.alpha = alpha
        self.epochs = 0  # epochs run with this state

    @property
    def learning_rate(self) -> float:
        """sgd: the current rate (schedules change it between epochs); adam: the initial one."""
        return float(self.hyper[_LR])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.hyper[_LR] = v.check_real(value, "learning_rate", 0.0, low_open=True)

    @property
    def alpha(self) -> float:
        """The L2 penalty (the drop-in reads scikit-learn's ``alpha`` again each epoch)."""
        return float(self.hyper[_ALPHA])

    @alpha.setter
    def alpha(self, value: float) -> None:
        self.hyper[_ALPHA] = v.check_real(value, "alpha", 0.0)

    @property
    def t(self) -> int:
        """Adam's step count (batches done); 0 for sgd."""
        return int(self.hyper[_STEP])


class BatchDivergenceError(DivergenceError):
    """A batch gave a non-finite cost or update; ``params`` are those before that batch.

    ``iteration`` is the epoch (counted by the optimizer), ``batch`` the batch within it;
    ``costs`` the epoch costs before it (``fit`` fills them in; empty from ``run_epoch``).
    """

    def __init__(self, epoch: int, batch: int, params: dict[str, np.ndarray],
                 costs: np.ndarray) -> None:
        self.iteration, self.batch, self.params, self.costs = epoch, batch, params, costs
        # DivergenceError's own message quotes the last cost, which a batch does not return.
        FloatingPointError.__init__(
            self,
            f"training diverged in epoch {epoch}, batch {batch}: the batch cost or an updated "
            "parameter is not finite; lower the learning rate or rescale X. The last finite "
            "parameters (before that batch) are in this exception's .params",
        )


_NO_ORDER = np.empty(0, dtype=np.int64)


def run_epoch(
    kernels: ModuleType,
    X: np.ndarray,
    Y: np.ndarray,
    sample_weight: np.ndarray | None,
    order: np.ndarray | None,
    theta: np.ndarray,
    optimizer: Optimizer,
    batch_size: int,
    softmax: int,
    n_threads: int,
) -> float:
    """One epoch through ``kernels.train_epoch``; returns its cost (scikit-learn's ``loss_``).

    ``sample_weight`` None: unweighted; ``order`` None: samples in their order;
    ``softmax`` 0 or 1 (or a bool): the output kind.
    ``batch_size`` is clipped to [1, n_samples] as scikit-learn clips it.
    ``theta`` and the optimizer's state are updated in place. Raises
    BatchDivergenceError (a DivergenceError) when a batch is not finite; theta
    then holds the parameters from before that batch.
    """
    n = X.shape[1]
    batch = min(max(int(batch_size), 1), n)
    weights = (np.empty(0, dtype=theta.dtype) if sample_weight is None
               else np.ascontiguousarray(sample_weight, dtype=theta.dtype))
    positions = _NO_ORDER if order is None else np.ascontiguousarray(order, dtype=np.int64)
    done, accumulated = kernels.train_epoch(
        X, Y, weights, positions, theta, optimizer.state, optimizer.hyper,
        optimizer.solver_code, batch, int(bool(softmax)), n_threads,
    )
    if done < math.ceil(n / batch):
        f, o = X.shape[0], Y.shape[0]
        hidden = (theta.size - o) // (f + 1 + o)
        params = Layout(f, hidden, o).unpack(theta)
        raise BatchDivergenceError(optimizer.epochs, done, params, np.empty(0, theta.dtype))
    optimizer.epochs += 1
    return accumulated / n


class EpochRunner:
    """``fit``'s epochs behind ``train_chunk``'s interface, for fit's chunk loop.

    ``runner(theta, costs)`` runs ``len(costs)`` epochs and writes their costs,
    as ``train_chunk`` runs iterations: the same loop then serves callbacks,
    progress, early stopping and Ctrl-C. ``shuffle_seed`` (``shuffle=True``):
    each epoch's order is ``rng.permutation(n)`` of one ``np.random.default_rng``
    per fit, never NumPy's global state. ``invscaling``: after each epoch the
    rate becomes ``learning_rate / (samples_seen + 1) ** power_t``, as
    scikit-learn's SGDOptimizer.iteration_ends does.
    """

    def __init__(
        self,
        kernels: ModuleType,
        X: np.ndarray,
        Y: np.ndarray,
        sample_weight: np.ndarray | None,
        optimizer: Optimizer,
        batch_size: int,
        softmax: int,
        n_threads: int,
        *,
        shuffle: bool = False,
        shuffle_seed: int | None = None,
        schedule: str = "constant",
        power_t: float = 0.5,
    ) -> None:
        self.kernels, self.X, self.Y, self.sample_weight = kernels, X, Y, sample_weight
        self.optimizer, self.batch_size, self.softmax = optimizer, batch_size, softmax
        self.n_threads = n_threads
        self.rng = np.random.default_rng(shuffle_seed) if shuffle else None
        self.invscaling = schedule == "invscaling"
        self.initial_rate, self.power_t = optimizer.learning_rate, power_t

    def __call__(self, theta: np.ndarray, costs: np.ndarray) -> int:
        n = self.X.shape[1]
        for j in range(costs.shape[0]):
            order = None if self.rng is None else self.rng.permutation(n)
            costs[j] = run_epoch(
                self.kernels, self.X, self.Y, self.sample_weight, order, theta, self.optimizer,
                self.batch_size, self.softmax, self.n_threads,
            )
            if self.invscaling:
                seen = self.optimizer.epochs * n
                self.optimizer.learning_rate = self.initial_rate / (seen + 1) ** self.power_t
        return costs.shape[0]
