"""Prediction on a backend's kernels: checks, output allocation and chunks.

Every backend exposes ``forward_chunk(X, W1, b1, W2, b2, out, start, stop,
mode, n_threads)`` (the compiled fused forward pass; ``_reference`` has the NumPy
one). Calls with small inputs are dominated by Python-side set-up, so:

* well-formed arguments (ndarrays of one float dtype, consistent shapes) take
  an O(1) path: the kernel packs the parameters and checks that they and X
  are finite as it reads them; only when it reports a problem do the full
  checks of ``_validation`` run, to raise exactly the error they always raised;
* anything else goes through those full checks (and conversions) first;
* the resolved backend's forward_chunk is kept per backend name;
* at most one block of samples runs on one thread whatever ``n_threads``
  says, so the default thread count is not even looked up.

Samples go through in chunks of whole blocks (a Python loop, as fit's chunks
of iterations) so that Ctrl-C stops a long prediction within about 0.1 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from . import _validation as v
from ._backends import load_backend, resolve_backend
from ._geometry import BLOCK as _BLOCK  # samples per block: one block runs in one thread
from ._params import Layout

# forward_chunk's modes (SOFTMAX: one softmax over the outputs of each sample).
LOGITS, PROBA, PAIR, SOFTMAX = 0, 1, 2, 3
# forward_chunk's result bits.
_X_BEYOND_LIMIT, _PARAMS_NOT_FINITE, _OVERFLOW = 1, 2, 4

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# A chunk aims at this many seconds (as fit's): Ctrl-C stops a prediction
# within about that, and the Python loop costs nothing. The first chunk is
# sized by its multiply-adds (about 5 ms of one core).
_CHUNK_SECONDS = 0.1
_FIRST_CHUNK_WORK = 1 << 25
# Outputs smaller than this skip reading /proc/meminfo (as check_array does).
_SMALL_OUTPUT = 1 << 26


def kernels_for(backend: Any) -> ModuleType:
    """The kernel module of the ``backend`` argument (both calls are cached in _backends)."""
    return load_backend(resolve_backend(backend))


Params = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # W1, b1, W2, b2


def _fast(params: Any, X: Any) -> tuple[np.ndarray, Params] | None:
    """(X, parameters) without any O(size) work, or None if the arguments need the
    full checks (anything but ndarrays of one float dtype with consistent shapes)."""
    if type(params) is not dict or not isinstance(X, np.ndarray):
        return None
    try:
        arrays = params["W1"], params["b1"], params["W2"], params["b2"]
    except KeyError:
        return None
    W1, b1, W2, b2 = arrays
    dtype = X.dtype
    if (
        dtype not in _FLOATS
        or not (isinstance(W1, np.ndarray) and isinstance(b1, np.ndarray)
                and isinstance(W2, np.ndarray) and isinstance(b2, np.ndarray))
        or W1.dtype != dtype or b1.dtype != dtype or W2.dtype != dtype or b2.dtype != dtype
        or X.ndim != 2 or W1.ndim != 2 or W2.ndim != 2
    ):  # fmt: skip
        return None
    h, f = W1.shape
    o = W2.shape[0]
    n = X.shape[1]
    if (
        h == 0 or f == 0 or o == 0 or n == 0
        or X.shape[0] != f or b1.shape != (h, 1) or W2.shape[1] != h or b2.shape != (o, 1)
    ):  # fmt: skip
        return None
    return X, arrays


def _checked(params: Any, X: Any) -> tuple[np.ndarray, Params, Layout]:
    """The full checks and conversions (the errors prediction has always raised)."""
    p = v.check_params(params)
    X = v.check_array(X, "X", p["W1"].dtype)
    if X.shape[0] != p["W1"].shape[1]:
        raise ValueError(
            f"X has {X.shape[0]} features (rows) but params were trained on {p['W1'].shape[1]}"
        )
    layout = Layout(X.shape[0], p["W1"].shape[0], p["W2"].shape[0])
    return X, (p["W1"], p["b1"], p["W2"], p["b2"]), layout


def prepare(params: Any, X: Any) -> tuple[np.ndarray, Params, Layout]:
    """X (n_features, n_samples) and the parameters, checked as cheaply as possible."""
    fast = _fast(params, X)
    if fast is None:
        return _checked(params, X)
    X, arrays = fast
    return X, arrays, _layout(X, arrays)


def _layout(X: np.ndarray, arrays: Params) -> Layout:
    return Layout(X.shape[0], arrays[0].shape[0], arrays[2].shape[0])


def run(
    forward: Callable[..., int],
    X: np.ndarray,
    params: Params,
    layout: Layout,
    mode: int,
    n_threads: int,
    out: np.ndarray,
) -> int:
    """A backend's ``forward_chunk`` over all samples, chunk by chunk; the first nonzero
    flags, or 0.

    Chunks are whole blocks for every thread and grow towards _CHUNK_SECONDS,
    as fit's chunks of iterations do: each chunk is one parallel region, and
    on a loaded machine every region's join can wait for a descheduled thread.
    """
    n = X.shape[1]
    per_sample = layout.hidden_size * (layout.n_features + layout.n_outputs) + 1
    group = _BLOCK * n_threads  # whole blocks for every thread
    step = max(1, _FIRST_CHUNK_WORK // (per_sample * group)) * group
    start = 0
    while start < n:
        stop = min(n, start + step)
        started = time.perf_counter()
        flags = forward(X, *params, out, start, stop, mode, n_threads)
        if flags:
            return int(flags)
        scale = _CHUNK_SECONDS / max(time.perf_counter() - started, 1e-6)
        start = stop
        step = max(group, int(step * min(scale, 4.0)) // group * group)
    return 0


def raise_for(
    flags: int,
    params: Any,
    X: Any,
    X_checked: np.ndarray,
    dtype: np.dtype,
    recheck_X: Callable[[], Any] | None = None,
) -> None:
    """Turn forward_chunk's flags into the error the arguments deserve.

    The full checks run first, to raise exactly their message for a NaN or an
    infinity (``recheck_X``: the caller's own checks of X, e.g. the
    estimator's). A finite X whose values are so large for these weights that
    W1 @ x + b1 could overflow is refused rather than predicted: the sums
    could give inf - inf = NaN, or an infinity whose true value is small.
    """
    if flags & _PARAMS_NOT_FINITE or (flags & _X_BEYOND_LIMIT and recheck_X is None):
        _checked(params, X)
    if flags & _X_BEYOND_LIMIT:
        if recheck_X is not None:
            recheck_X()
        with np.errstate(invalid="ignore"):
            largest = float(np.abs(X_checked).max())
        raise ValueError(
            f"X holds values too large for this network: |x| up to {largest:.3g} makes "
            f"W1 @ x + b1 overflow {dtype} (the prediction would be NaN or wrong); "
            "rescale X (standardise its features)"
        )
    if flags & _OVERFLOW:
        raise ValueError(
            "params['W2'] and params['b2'] are so large that the logits W2 @ a + b2 "
            f"overflow {dtype} for some X: the prediction would be NaN or wrong"
        )
    raise ValueError("params contain NaN or infinity")  # not reached: _checked raised


def allocate(rows: int, n: int, dtype: np.dtype, samples_first: bool) -> np.ndarray:
    """The output, refused before allocating when it cannot fit in memory."""
    nbytes = rows * n * dtype.itemsize
    if nbytes > _SMALL_OUTPUT:
        v.check_memory(nbytes, f"the predictions for {n} samples")
    if samples_first:
        return np.empty((n, rows), dtype=dtype).T
    return np.empty((rows, n), dtype=dtype)


def outputs(
    params: Any,
    X: Any,
    mode: int,
    backend: Any = "auto",
    n_threads: Any = None,
    *,
    samples_first: bool = False,
    recheck_X: Callable[[], Any] | None = None,
) -> np.ndarray:
    """Logits, probabilities, binary pairs or softmax of shape (rows, n_samples).

    ``samples_first``: the result is the transpose of a C-ordered
    (n_samples, rows) array (the estimator's layout, with no copy).
    """
    forward = _forward_for(backend)
    fast = _fast(params, X)
    if n_threads is None and fast is not None and X.shape[1] <= _BLOCK:
        threads = 1  # one block: one slot, whatever the default thread count
    else:
        threads = v.check_n_threads(n_threads)
    if fast is None:
        X_checked, arrays, layout = _checked(params, X)
    else:
        X_checked, arrays = fast
        layout = None
    n = X_checked.shape[1]
    rows = 2 if mode == PAIR else arrays[2].shape[0]
    out = allocate(rows, n, X_checked.dtype, samples_first)
    if n <= _BLOCK:  # one block, so one chunk (as run's first): no chunk loop
        flags = forward(X_checked, *arrays, out, 0, n, mode, threads)
    else:
        if layout is None:
            layout = _layout(X_checked, arrays)
        flags = run(forward, X_checked, arrays, layout, mode, threads, out)
    if flags:
        raise_for(flags, params, X, X_checked, X_checked.dtype, recheck_X)
    return out


# forward_chunk per resolved backend name. Keyed by the resolved name, never by the
# argument: resolve_backend's own cache (a dict lookup when warm) decides what "auto"
# means, and tests reset it to make a backend fail.
_FORWARD: dict[str, Callable[..., int]] = {}


def _forward_for(backend: Any) -> Callable[..., int]:
    name = resolve_backend(backend)
    forward = _FORWARD.get(name)
    if forward is None:
        forward = _FORWARD[name] = load_backend(name).forward_chunk
    return forward
