"""``fit``'s training options (issue 15): checked once, and whether they leave today's path.

With every option at its default a fit runs today's full-batch ``train_chunk``
bit for bit; any other value runs epochs through ``_epochs`` (the kernels'
``train_epoch``) with scikit-learn's arithmetic.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _validation as v
from ._solver_codes import SOLVERS

SCHEDULES = ("constant", "invscaling")
OUTPUTS = ("sigmoid", "softmax")


class TrainingOptions(NamedTuple):
    alpha: float = 0.0
    solver: str = "sgd"
    momentum: float = 0.0
    nesterovs_momentum: bool = False
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    batch_size: int | None = None
    shuffle: bool = False
    schedule: str = "constant"
    power_t: float = 0.5
    sample_weight: np.ndarray | None = None
    output: str = "sigmoid"

    @property
    def epochs(self) -> bool:
        """True when an option leaves today's full-batch gradient descent (``train_chunk``).

        beta_1, beta_2 and epsilon only matter to adam, power_t only to invscaling.
        """
        return (
            self.alpha != 0.0
            or self.solver != "sgd"
            or self.momentum != 0.0
            or self.nesterovs_momentum
            or self.batch_size is not None
            or self.shuffle
            or self.schedule != "constant"
            or self.sample_weight is not None
            or self.output != "sigmoid"
        )


_DEFAULTS = TrainingOptions()


def all_default(
    alpha: Any, solver: Any, momentum: Any, nesterovs_momentum: Any, beta_1: Any, beta_2: Any,
    epsilon: Any, batch_size: Any, shuffle: Any, schedule: Any, power_t: Any,
    sample_weight: Any, output: Any,
) -> bool:  # fmt: skip
    """Every option at its default (the values themselves, with their types): most calls.
    Then there is nothing to check, nor to pass on (issue 12's per-call cost)."""
    return (
        type(alpha) is float and alpha == 0.0
        and type(solver) is str and solver == "sgd"
        and type(momentum) is float and momentum == 0.0
        and nesterovs_momentum is False
        and type(beta_1) is float and beta_1 == 0.9
        and type(beta_2) is float and beta_2 == 0.999
        and type(epsilon) is float and epsilon == 1e-8
        and batch_size is None
        and shuffle is False
        and type(schedule) is str and schedule == "constant"
        and type(power_t) is float and power_t == 0.5
        and sample_weight is None
        and type(output) is str and output == "sigmoid"
    )  # fmt: skip


def check_options(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    alpha: Any = 0.0,
    solver: Any = "sgd",
    momentum: Any = 0.0,
    nesterovs_momentum: Any = False,
    beta_1: Any = 0.9,
    beta_2: Any = 0.999,
    epsilon: Any = 1e-8,
    batch_size: Any = None,
    shuffle: Any = False,
    schedule: Any = "constant",
    power_t: Any = 0.5,
    sample_weight: Any = None,
    output: Any = "sigmoid",
) -> TrainingOptions:
    """Every option checked (each error names its argument) against the checked X and Y."""
    if all_default(alpha, solver, momentum, nesterovs_momentum, beta_1, beta_2, epsilon,
                   batch_size, shuffle, schedule, power_t, sample_weight, output):  # fmt: skip
        return _DEFAULTS
    solver = v.check_choice(solver, "solver", tuple(SOLVERS))
    schedule = v.check_choice(schedule, "schedule", SCHEDULES)
    if schedule != "constant" and solver != "sgd":
        raise ValueError(
            f"schedule={schedule!r} applies to solver='sgd' only (adam adapts its own step; "
            "scikit-learn ignores the schedule there)"
        )
    output = v.check_choice(output, "output", OUTPUTS)
    if output == "softmax":
        v.check_softmax_targets(Y)
    return TrainingOptions(
        alpha=v.check_real(alpha, "alpha", 0.0),
        solver=solver,
        momentum=v.check_real(momentum, "momentum", 0.0, 1.0),
        nesterovs_momentum=v.check_bool(nesterovs_momentum, "nesterovs_momentum"),
        beta_1=v.check_real(beta_1, "beta_1", 0.0, 1.0, high_open=True),
        beta_2=v.check_real(beta_2, "beta_2", 0.0, 1.0, high_open=True),
        epsilon=v.check_real(epsilon, "epsilon", 0.0, low_open=True),
        batch_size=None if batch_size is None else v.check_positive_int(batch_size, "batch_size"),
        shuffle=v.check_bool(shuffle, "shuffle"),
        schedule=schedule,
        power_t=v.check_real(power_t, "power_t", 0.0),
        sample_weight=(None if sample_weight is None
                       else v.check_sample_weight(sample_weight, X.shape[1], X.dtype)),
        output=output,
    )


def non_default(options: dict[str, Any]) -> dict[str, bool]:
    """For each option given, whether it differs from its default (for refusals by name)."""
    defaults = TrainingOptions._field_defaults
    return {
        name: (value is not None) if defaults[name] is None else bool(value != defaults[name])
        for name, value in options.items()
    }
