"""Argument checking for the public API.

Compiled kernels run with bounds checks off, so every shape, dtype and value
reaching them is checked here first. Each error names the argument and says
what is wrong. Inputs are never modified: conversions make new arrays.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np

from ._fork import effective_n_threads

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# Below this many elements, finiteness is one np.isfinite (see _all_finite).
_SMALL_ARRAY = 1 << 12

# Refuse sizes that cannot be allocated before allocating anything: the
# largest buffer a fit makes (besides the data) is O(hidden * (features + outputs)).
_MAX_PARAMETERS = 2**31 - 1


def check_array(
    value: Any,
    name: str,
    dtype: np.dtype | None = None,
    *,
    allow_no_samples: bool = False,
    layout: str = "one column per sample",
) -> np.ndarray:
    """Return ``value`` as a finite 2-D floating array (a view when possible).

    ``dtype=None`` keeps float32 and float64 and turns any other real dtype
    (bool, integers, float16) into float64. ``allow_no_samples`` accepts zero
    columns (an MPI rank with an empty shard); zero rows are always refused.
    """
    if isinstance(value, np.ndarray):
        array = value
    else:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged nested lists and the like
            raise TypeError(f"{name} must be a 2-D array of real numbers: {exc}") from None
    kind = array.dtype.kind
    if kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got dtype {array.dtype} "
            f"({'complex' if kind == 'c' else 'non-numeric'} data)"
        )
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D ({layout}), got {array.ndim}-D "
            f"with shape {array.shape}"
        )
    if array.shape[0] == 0 or (array.shape[1] == 0 and not allow_no_samples):
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if dtype is None:
        dtype = array.dtype if array.dtype in SUPPORTED_DTYPES else np.dtype(np.float64)
    if array.dtype != dtype:
        # The conversion is a full copy: refuse one that cannot exist (a huge memmap or
        # broadcast view of bools, say) with this module's error instead of NumPy's
        # MemoryError, or worse, an overcommitted allocation that is filled in.
        if array.size * dtype.itemsize > 1 << 26:  # small copies skip reading /proc/meminfo
            check_memory(array.size * dtype.itemsize, f"{name} converted to {dtype}")
        if kind == "f" and not _all_finite(array):
            raise ValueError(f"{name} contains NaN or infinity")
        with np.errstate(over="ignore"):
            array = array.astype(dtype)  # a new array: the caller's is untouched
    if not _all_finite(array):
        # Also catches float64 values that overflow float32 when dtype=float32.
        raise ValueError(f"{name} contains NaN or infinity (after conversion to {dtype})")
    return array


def _all_finite(array: np.ndarray) -> bool:
    """True when no element is NaN or infinite, without a temporary array.

    min and max propagate NaN, and an infinity is the min or the max; unlike
    ``np.isfinite(array).all()`` this allocates nothing (a 1e6 x 20 X would
    otherwise cost a 20 MB temporary).
    """
    if array.dtype.kind != "f" or array.size == 0:
        return True
    if array.size <= _SMALL_ARRAY:  # one call, no errstate: cheaper for a few values
        return bool(np.isfinite(array).all())
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def check_targets(Y: np.ndarray, n_samples: int) -> None:
    """Y holds probabilities (hard or soft labels), one column per sample."""
    if Y.shape[1] != n_samples:
        raise ValueError(
            f"X and Y must have the same number of samples (columns): "
            f"X has {n_samples}, Y has {Y.shape[1]}"
        )
    if Y.size == 0:
        return
    low, high = Y.min(), Y.max()
    if low < 0 or high > 1:
        raise ValueError(
            f"Y must lie in [0, 1] (labels or probabilities), got values in [{low}, {high}]"
        )


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if type(value) is int and value >= minimum:  # the usual case, without ABC checks
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_learning_rate(value: Any) -> float:
    if type(value) is float and 0 < value < math.inf:  # the usual case, without ABC checks
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"learning_rate must be a real number, got {type(value).__name__} {value!r}"
        )
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"learning_rate must be a finite number > 0, got {value}")
    return value


def check_dtype(dtype: Any, X: Any) -> np.dtype | None:
    """Resolve the ``dtype`` argument; None means "from X" (see check_array)."""
    if dtype is None:
        return None
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32, float64 or None, got {dtype!r}") from None
    if resolved not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be float32, float64 or None, got {resolved}")
    return resolved


def default_n_threads() -> int:
    """Threads used when ``n_threads=None``.

    OMP_NUM_THREADS when it is set (as OpenMP programs and scikit-learn do),
    otherwise every CPU this process may run on. Results do not depend on it.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_n_threads(value: Any) -> int:
    """Threads a fit or prediction runs on: the request, or 1 in a forked child (see _fork).

    Every path that starts kernels (fit, predict, MPI ranks) passes through here.
    """
    requested = default_n_threads() if value is None else check_positive_int(value, "n_threads")
    return effective_n_threads(requested)


def check_seed(value: Any, name: str = "seed", accepted: str = "an int or None") -> int | None:
    """``value`` as a seed of ``np.random.seed`` (an int in [0, 2**32)) or None."""
    if value is None or (type(value) is int and 0 <= value < 2**32):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__} {value!r}")
    seed = int(value)
    if not 0 <= seed < 2**32:
        raise ValueError(f"{name} must be in [0, 2**32), got {seed}")
    return seed


def check_model_size(hidden_size: int, n_features: int, n_outputs: int) -> None:
    n_params = hidden_size * (n_features + 1) + n_outputs * (hidden_size + 1)
    if n_params > _MAX_PARAMETERS:
        raise ValueError(
            f"hidden_size={hidden_size} with {n_features} features and {n_outputs} outputs "
            f"needs {n_params} parameters; at most {_MAX_PARAMETERS} are supported"
        )


# What the axes of each parameter are, for messages.
PARAM_LAYOUTS = {
    "W1": "hidden units x features",
    "b1": "hidden units x 1",
    "W2": "outputs x hidden units",
    "b2": "outputs x 1",
}


def check_params(params: Any, name: str = "params") -> dict[str, np.ndarray]:
    """Validate a parameter dict as returned by ``fit``; return float arrays.

    ``name``: the argument named in errors (``init_params`` for fit's start).
    """
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict with W1, b1, W2, b2, got {type(params).__name__}")
    missing = [k for k in ("W1", "b1", "W2", "b2") if k not in params]
    if missing:
        raise ValueError(f"{name} is missing {', '.join(missing)}")
    W1 = check_array(params["W1"], f"{name}['W1']", layout=PARAM_LAYOUTS["W1"])
    dtype = W1.dtype
    b1 = check_array(params["b1"], f"{name}['b1']", dtype, layout=PARAM_LAYOUTS["b1"])
    W2 = check_array(params["W2"], f"{name}['W2']", dtype, layout=PARAM_LAYOUTS["W2"])
    b2 = check_array(params["b2"], f"{name}['b2']", dtype, layout=PARAM_LAYOUTS["b2"])
    hidden = W1.shape[0]
    if b1.shape != (hidden, 1):
        raise ValueError(f"{name}['b1'] must have shape ({hidden}, 1), got {b1.shape}")
    if W2.shape[1] != hidden:
        raise ValueError(
            f"{name}['W2'] must have {hidden} columns (hidden units), got {W2.shape}"
        )
    if b2.shape != (W2.shape[0], 1):
        raise ValueError(f"{name}['b2'] must have shape ({W2.shape[0]}, 1), got {b2.shape}")
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def available_memory() -> int | None:
    """Bytes of memory this process could still allocate (MemAvailable), if known."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# Needs below this are never refused: reading /proc/meminfo costs more than a
# small fit or prediction (measured: up to 150 us on a loaded machine).
_SMALL_NEED = 1 << 26


def check_memory(needed: int, what: str) -> None:
    """Refuse, before allocating, a fit whose working memory cannot exist here."""
    if needed <= _SMALL_NEED:
        return
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"{what} needs about {needed / 2**30:.1f} GiB of working memory, more than the "
            f"{available / 2**30:.1f} GiB available: use fewer samples or hidden units"
        )


# --- issue 15: the training options (fit's keywords, the optimizer's hyperparameters) ---


def check_real(
    value: Any,
    name: str,
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in the interval from ``low`` to ``high`` (each end open or closed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        if high == math.inf:
            interval = f"{'>' if low_open else '>='} {low}"
        else:
            interval = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number {interval}, got {value}")
    return value


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}"
        )
    return value


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_sample_weight(value: Any, n_samples: int, dtype: np.dtype) -> np.ndarray:
    """One finite weight >= 0 per sample, not all zero; a new contiguous array of ``dtype``."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"sample_weight must be a 1-D array of real numbers: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold real numbers, got dtype {array.dtype}")
    if array.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per sample (column of X); "
            f"got shape {array.shape}"
        )
    with np.errstate(over="ignore"):  # beyond float32's range: refused just below
        weights = np.array(array, dtype=dtype, order="C")  # a copy: the caller's stays as is
    if not np.isfinite(weights).all():
        raise ValueError("sample_weight must be finite (it holds NaN or infinity, possibly "
                         f"after conversion to {np.dtype(dtype)})")
    if (weights < 0).any():
        raise ValueError(f"sample_weight must be >= 0, got a minimum of {weights.min()}")
    if not (weights > 0).any():
        raise ValueError("sample_weight must not be all zero (nothing would be learned)")
    return weights


def check_softmax_targets(Y: np.ndarray, name: str = "Y") -> None:
    """A softmax output needs two outputs or more, and each column of Y summing to 1."""
    if Y.shape[0] < 2:
        raise ValueError(
            f'output="softmax" needs at least 2 outputs (rows of {name}), got {Y.shape[0]}; '
            'use output="sigmoid" for one output'
        )
    if Y.shape[1] == 0:
        return
    sums = Y.sum(axis=0, dtype=np.float64)
    worst = int(np.argmax(np.abs(sums - 1)))
    if not abs(sums[worst] - 1) <= Y.shape[0] * math.sqrt(np.finfo(Y.dtype).eps):
        raise ValueError(
            f'output="softmax" needs each column of {name} to sum to 1 (class probabilities); '
            f"column {worst} sums to {sums[worst]}"
        )
