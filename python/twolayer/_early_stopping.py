"""Early stopping: on the training cost or on held-out data.

Used by ``_training._fit`` between kernel chunks; see ``fit``'s ``tol``,
``n_iter_no_change`` and ``validation_data``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._params import Layout
from ._predict import LOGITS, Params, run
from ._reference import forward, log_loss_from_logits, softmax_loss_from_logits


class CostWatch:
    """Early stopping on the training cost, decided per iteration inside each chunk.

    Costs arrive a chunk at a time; the stopping iteration is found from the
    costs alone (vectorised), so it does not depend on where chunks end. The
    best parameters are rebuilt by replaying, from a snapshot taken at the
    start of the chunk that held the best cost, the iterations up to it:
    kernels are deterministic, so the replay gives the same bits.
    """

    def __init__(self, tol: float, patience: int) -> None:
        self.tol = tol
        self.patience = patience
        self.best = math.inf
        self.best_index = -1
        self.count = 0
        self._snapshot: np.ndarray | None = None
        self._snapshot_index = 0

    def update(self, costs: np.ndarray, offset: int, start_theta: np.ndarray) -> int | None:
        """Take the costs of iterations offset..; return the stopping iteration, if any."""
        m = costs.size
        steps = np.arange(m)
        best_before = np.minimum.accumulate(np.concatenate(([self.best], costs[:-1])))
        improved = costs < best_before - self.tol
        last = np.maximum.accumulate(np.where(improved, steps, -1))
        count = np.where(last >= 0, steps - last, self.count + steps + 1)
        hits = np.flatnonzero(count >= self.patience)
        end = int(hits[0]) + 1 if hits.size else m
        j = int(np.argmin(costs[:end]))
        if costs[j] < self.best:
            self.best = float(costs[j])
            self.best_index = offset + j
            self._snapshot = start_theta
            self._snapshot_index = offset
        self.count = int(count[end - 1])
        return offset + end - 1 if hits.size else None

    def best_theta(
        self, kernels: Any, X: np.ndarray, Y: np.ndarray, learning_rate: float, n_threads: int
    ) -> np.ndarray:
        assert self._snapshot is not None
        theta = self._snapshot.copy()
        replay = self.best_index - self._snapshot_index
        if replay:
            kernels.train_chunk(
                X, Y, theta, learning_rate, np.empty(replay, dtype=X.dtype), n_threads
            )
        return theta


class ValidationWatch:
    """Early stopping on held-out data: validation cost after every update."""

    def __init__(
        self,
        X_val: np.ndarray,
        Y_val: np.ndarray,
        layout: Layout,
        tol: float,
        patience: int,
        kernels: Any = None,
        n_threads: int = 1,
        softmax: bool = False,
    ) -> None:
        self.X_val, self.Y_val, self.layout = X_val, Y_val, layout
        self.loss = softmax_loss_from_logits if softmax else log_loss_from_logits
        # The logits come from the fit's backend (its fused forward pass), into one buffer.
        self.kernels, self.n_threads = kernels, n_threads
        self._logits = np.empty(Y_val.shape, dtype=X_val.dtype)
        self.tol, self.patience = tol, patience
        self.costs: list[float] = []
        self.count = 0
        self.best_cost = math.inf
        self.best = np.empty(0)
        self.best_iteration = 0

    def _params(self, theta: np.ndarray) -> Params:
        p = self.layout.views(theta)
        return p["W1"], p["b1"], p["W2"], p["b2"]

    def cost(self, theta: np.ndarray) -> float:
        Z2 = self._logits
        if self.kernels is None or run(
            self.kernels.forward_chunk, self.X_val, self._params(theta), self.layout,
            LOGITS, self.n_threads, Z2,
        ):  # fmt: skip
            # No kernels, or X_val too large for these weights: the reference's forward.
            with np.errstate(over="ignore", invalid="ignore"):
                _, Z2 = forward(self.X_val, theta, self.layout)
        with np.errstate(over="ignore"):
            return float(np.sum(self.loss(Z2, self.Y_val)) / self.X_val.shape[1])

    def start(self, theta: np.ndarray) -> None:
        self.best_cost = self.cost(theta)
        self.costs.append(self.best_cost)
        self.best = theta.copy()

    def update(self, theta: np.ndarray, iteration: int) -> bool:
        """Record the cost of the parameters after ``iteration`` updates; True means stop."""
        cost = self.cost(theta)
        self.costs.append(cost)
        self.count = 0 if cost < self.best_cost - self.tol else self.count + 1
        if cost < self.best_cost:
            self.best_cost = cost
            self.best = theta.copy()
            self.best_iteration = iteration
        return self.count >= self.patience
