"""Parameters as one packed vector, and the tutorial's initialisation.

Kernels work on a single contiguous vector ``theta`` laid out as
``[W1 (hidden x features, row-major), b1 (hidden), W2 (outputs x hidden), b2 (outputs)]``
with gradients in the same layout, so that the update, the finiteness check
and an MPI Allreduce are each one loop over one buffer.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ._geometry import n_params


class Layout(NamedTuple):
    n_features: int
    hidden_size: int
    n_outputs: int

    @property
    def size(self) -> int:
        return n_params(self.n_features, self.hidden_size, self.n_outputs)

    def views(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """W1, b1, W2, b2 as views into ``theta`` (writes go through)."""
        h, f, o = self.hidden_size, self.n_features, self.n_outputs
        i1 = h * f
        i2 = i1 + h
        i3 = i2 + o * h
        return {
            "W1": theta[:i1].reshape(h, f),
            "b1": theta[i1:i2].reshape(h, 1),
            "W2": theta[i2:i3].reshape(o, h),
            "b2": theta[i3:].reshape(o, 1),
        }

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Independent C-contiguous copies, so callers never alias kernel buffers."""
        return {k: v.copy() for k, v in self.views(theta).items()}

    def pack(self, params: dict[str, np.ndarray], dtype: np.dtype) -> np.ndarray:
        theta = np.empty(self.size, dtype=dtype)
        for key, view in self.views(theta).items():
            view[...] = params[key]
        return theta


def initial_parameters(layout: Layout, dtype: np.dtype, seed: int | None) -> np.ndarray:
    """The tutorial's "He" initialisation, drawn from a private generator.

    ``np.random.RandomState(seed)`` yields the same stream as the tutorial's
    ``np.random.seed(seed)`` followed by ``np.random.randn`` (W1 first, then
    W2), without touching NumPy's global random state. Draws are made in
    float64 and rounded once, so float32 fits start from the rounded float64
    weights. Returns a new array (callers update it in place); the draws of
    small networks are kept per (shape, dtype, seed), because creating a
    RandomState costs more than a small fit (issue 12).
    """
    if seed is None or layout.size > _CACHED_SIZE:
        return _draw(layout, np.dtype(dtype), seed)
    return _cached_draw(layout, np.dtype(dtype), seed).copy()


_CACHED_SIZE = 1 << 16  # parameters: 512 kB in float64, at most 64 networks kept


def _draw(layout: Layout, dtype: np.dtype, seed: int | None) -> np.ndarray:
    h, f, o = layout.hidden_size, layout.n_features, layout.n_outputs
    rng = np.random.RandomState(seed)
    W1 = rng.randn(h, f) * np.sqrt(2 / f)
    W2 = rng.randn(o, h) * np.sqrt(2 / h)
    params = {"W1": W1, "b1": np.zeros((h, 1)), "W2": W2, "b2": np.zeros((o, 1))}
    return layout.pack(params, dtype)


@lru_cache(maxsize=64)
def _cached_draw(layout: Layout, dtype: np.dtype, seed: int) -> np.ndarray:
    theta = _draw(layout, dtype, seed)
    theta.flags.writeable = False  # shared by every later fit: only ever copied
    return theta
