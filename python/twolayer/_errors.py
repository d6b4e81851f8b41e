"""Exceptions shared by the training driver, MPI training and the public API."""

from __future__ import annotations

import numpy as np


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
