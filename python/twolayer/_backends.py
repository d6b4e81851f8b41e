"""Backend registry with lazy loaders.

Each backend is a module exposing ``train_chunk`` and ``gradient_sums`` with
the signatures of ``_reference``. Loading happens on first use, so
``import twolayer`` imports neither the compiled extension nor Numba.
"""

from __future__ import annotations

import importlib
from functools import cache, lru_cache
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
    return importlib.import_module("twolayer._numba_backend")  # + train_epoch on first use


_LOADERS = {"numpy": _load_numpy, "cython": _load_cython, "numba": _load_numba}


_LOAD_ERRORS: dict[str, str] = {}
_RESOLVED: dict[str, str] = {}


@cache
def _try_load(name: str) -> ModuleType | None:
    """The backend's module, or None (the reason kept in _LOAD_ERRORS) if it cannot load.

    A compiled backend can be present and still not load: the OpenMP runtime
    missing (slim images), a Numba that does not match NumPy. Tried once per process.
    """
    try:
        return _LOADERS[name]()
    except Exception as error:  # whatever stops the import makes the backend unavailable
        _LOAD_ERRORS[name] = f"{type(error).__name__}: {error}"
        return None


def unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot be used here, or None when it loads."""
    return None if _try_load(name) is not None else _LOAD_ERRORS[name]


def available_backends() -> tuple[str, ...]:
    """Names of the backends that load on this machine, in the order of BACKENDS.

    Loads each backend on its first call (the Cython extension, Numba's import);
    ``twolayer.show_config()`` says why one is missing.
    """
    return tuple(name for name in BACKENDS if _try_load(name) is not None)


def resolve_backend(name: object) -> str:
    """Turn the ``backend`` argument into a concrete backend name that loads.

    ``"auto"`` takes the first of _PREFERENCE that loads, so a compiled backend
    that fails to load falls back to the next. Cached: fit and predict call this
    on every call.
    """
    if isinstance(name, str) and name in _RESOLVED:
        return _RESOLVED[name]
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, got {type(name).__name__} {name!r}")
    if name == "auto":
        resolved = next(b for b in _PREFERENCE if _try_load(b) is not None)
    elif name not in BACKENDS:
        raise ValueError(
            f"backend must be one of 'auto', {', '.join(repr(b) for b in BACKENDS)}; got {name!r}"
        )
    elif _try_load(name) is None:
        raise ValueError(
            f"backend {name!r} is not available in this installation ({_LOAD_ERRORS[name]}); "
            f"available: {', '.join(available_backends())}"
        )
    else:
        resolved = name
    _RESOLVED[name] = resolved
    return resolved


@lru_cache(maxsize=256)  # every fit asks; small fits of one shape ask again and again
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


def load_backend(name: str) -> ModuleType:
    """The kernel module of a backend that loads (imported once)."""
    module = _try_load(name)
    if module is None:
        raise ImportError(f"backend {name!r} does not load: {_LOAD_ERRORS[name]}")
    return module
