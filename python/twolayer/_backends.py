"""Backend registry with lazy loaders.

Each backend is a module exposing ``train_chunk`` and ``gradient_sums`` with
the signatures of ``_reference``. Loading happens on first use, so
``import twolayer`` imports neither the compiled extension nor Numba.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from types import ModuleType

from ._geometry import n_params, workspace_elements

# "auto" takes the first backend here that is available.
_PREFERENCE = ("cython", "numba", "numpy")
BACKENDS = ("numpy", "cython", "numba")


def _load_numpy() -> ModuleType:
    return importlib.import_module("twolayer._reference")


def _load_cython() -> ModuleType:
    from ._cpu import load_cython_kernels

    return load_cython_kernels()


def _load_numba() -> ModuleType:
    return importlib.import_module("twolayer._numba_kernels")


_LOADERS = {"numpy": _load_numpy, "cython": _load_cython, "numba": _load_numba}


def _is_installed(name: str) -> bool:
    if name == "numpy":
        return True
    if name == "numba":
        return (
            importlib.util.find_spec("numba") is not None
            and importlib.util.find_spec("twolayer._numba_kernels") is not None
        )
    from ._cpu import cython_kernels_installed

    return cython_kernels_installed()


def available_backends() -> tuple[str, ...]:
    """Names of the backends usable in this installation, in the order of BACKENDS."""
    return tuple(name for name in BACKENDS if _is_installed(name))


def resolve_backend(name: object) -> str:
    """Turn the ``backend`` argument into a concrete, available backend name."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, got {type(name).__name__} {name!r}")
    if name == "auto":
        available = available_backends()
        return next(b for b in _PREFERENCE if b in available)
    if name not in BACKENDS:
        raise ValueError(
            f"backend must be one of 'auto', {', '.join(repr(b) for b in BACKENDS)}; got {name!r}"
        )
    if not _is_installed(name):
        raise ValueError(
            f"backend {name!r} is not available in this installation; "
            f"available: {', '.join(available_backends())}"
        )
    return name


def workspace_bytes(
    name: str,
    n_features: int,
    hidden: int,
    n_outputs: int,
    n_samples: int,
    n_threads: int,
    itemsize: int,
) -> int:
    """Working memory of one fit beyond the data, to refuse absurd sizes up front.

    The reference holds several (hidden x n_samples) arrays; the compiled
    kernels hold one row of partial sums per block of samples and a cache-sized
    scratch per thread (twolayer._geometry).
    """
    if name == "numpy":
        size = n_params(n_features, hidden, n_outputs)
        return (4 * hidden + 4 * n_outputs) * n_samples * itemsize + 4 * size * itemsize
    return workspace_elements(n_features, hidden, n_outputs, n_samples, n_threads) * itemsize


@cache
def load_backend(name: str) -> ModuleType:
    """The kernel module of an available backend (imported once)."""
    return _LOADERS[name]()
