"""Start-up shared by a single-process fit and each MPI rank's.

Validation of the data and of the early-stopping arguments, the memory
check, the backend's kernels and the starting parameters. Below both the
training driver (``_training``) and MPI training (``_mpi``), so that neither
imports the other.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from . import _validation as v
from ._backends import load_backend, resolve_backend, workspace_bytes
from ._params import Layout, initial_parameters


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
    if _targets_ok(Y, X):
        return X, Y
    Y = v.check_array(Y, "Y", X.dtype, allow_no_samples=allow_no_samples)
    v.check_targets(Y, X.shape[1])
    return X, Y


def _targets_ok(Y: Any, X: np.ndarray) -> bool:
    """True for a Y that check_array and check_targets would pass unchanged, in two
    reductions instead of four (issue 12's per-call cost): min >= 0 and max <= 1 also
    mean finite, as min and max propagate NaN. Anything else takes the full checks."""
    if not (
        isinstance(Y, np.ndarray) and Y.dtype == X.dtype and Y.ndim == 2 and Y.shape[0] >= 1
        and Y.shape[1] == X.shape[1] and Y.size >= 1
    ):  # fmt: skip
        return False
    return bool(np.minimum.reduce(Y, axis=None) >= 0 and np.maximum.reduce(Y, axis=None) <= 1)
