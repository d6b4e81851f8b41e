"""``twolayer.show_config()`` and ``twolayer show-config``: what a bug report needs.

The version, how the extension was built, each backend and its state (the
Cython build loaded and its threads, Numba's version, threading layer and
cache directory, or why a backend does not load), the CPU and the BLAS.
Loads every backend (as ``available_backends()`` does) to say what loads.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from typing import Any, TextIO

import numpy as np

# The CPU features that decide which build of the kernels runs (NumPy's names).
_FEATURES = ("SSE2", "AVX", "AVX2", "FMA3", "AVX512F", "AVX512DQ", "AVX512VL", "ASIMD")


def _build_info() -> dict[str, Any]:
    try:
        from . import _build_info as info
    except ImportError:
        return {}
    return {k: v for k, v in vars(info).items() if k.isupper()}


def _openmp_runtimes() -> list[str]:
    """OpenMP runtime libraries mapped into this process (Linux), e.g. the vendored libgomp."""
    names = ("libgomp", "libomp", "libiomp")
    found: list[str] = []
    with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if any(n in os.path.basename(path) for n in names) and path not in found:
                found.append(path)
    return found


def _cython_state(build: dict[str, Any]) -> dict[str, Any]:
    from . import _backends, _cpu
    from ._validation import default_n_threads

    loaded = _backends.unavailable_reason("cython") is None
    state: dict[str, Any] = {
        "loaded": _backends.load_backend("cython").__name__ if loaded else None,
        "builds": _cpu.variant_states(),
    }
    if build.get("OPENMP"):
        state["threads"] = (
            f"OpenMP {build.get('OPENMP_VERSION') or ''}".rstrip()
            + f", n_threads=None uses {default_n_threads()}"
        )
        state["openmp_runtime"] = _openmp_runtimes() if loaded else []
    elif build:
        why = "disabled at build time" if not build.get("OPENMP_REQUESTED") else "compiler lacks it"
        state["threads"] = f"no OpenMP ({why}): one thread, n_threads is accepted and ignored"
    return state


def _numba_state() -> dict[str, Any]:
    import numba

    from . import _numba_kernels as kernels

    try:
        layer = numba.threading_layer()  # known once a parallel function has run
    except ValueError:
        layer = f"not started yet (configured: {numba.config.THREADING_LAYER})"
    return {
        "version": numba.__version__,
        "threading_layer": layer,
        "threads": numba.config.NUMBA_NUM_THREADS,
        "cache_dir": kernels._train_chunk.stats.cache_path or "none writable: compiled per process",
    }


def _blas() -> str:
    from ._machine import blas_info

    pools = blas_info()  # what NumPy loaded, through threadpoolctl when installed
    if pools:
        return "; ".join(
            f"{p['internal_api']} {p['version']} {p['architecture']}, {p['num_threads']} threads"
            for p in pools
        )
    dep = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return f"{dep.get('name', '?')} {dep.get('version', '?')} (NumPy's build information)"


def config() -> dict[str, Any]:
    """Everything ``show_config`` prints, as a dict."""
    from . import _backends, _cpu
    from ._machine import machine_info
    from ._version import __version__

    build = _build_info()
    if "VARIANTS" in build:
        build["VARIANTS"] = ", ".join(build["VARIANTS"])
    backends: dict[str, Any] = {}
    for name in _backends.BACKENDS:
        reason = _backends.unavailable_reason(name)
        entry: dict[str, Any] = {"loads": reason is None}
        if reason is not None:
            entry["reason"] = reason
        if name == "cython" and build:
            entry.update(_cython_state(build))
        elif name == "numba" and reason is None:
            entry.update(_numba_state())
        backends[name] = entry
    features = _cpu._cpu_features()
    return {
        "twolayer": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "numpy": np.__version__,
        "build": {k.lower(): v for k, v in build.items()} or "compiled extension not installed",
        "backends": backends,
        "auto": _backends.resolve_backend("auto"),
        "cpu": machine_info()["cpu"],
        "cpu_features": " ".join(f for f in _FEATURES if features.get(f)),
        "cpu_features_forced": os.environ.get("TWOLAYER_CPU_FEATURES"),
        "blas": _blas(),
    }


def _lines(value: Any, indent: str) -> list[str]:
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list):
                out += [f"{indent}{key}:", *_lines(item, indent + "  ")]
            else:
                out.append(f"{indent}{key}: {item}")
        return out
    if isinstance(value, list):
        return [f"{indent}{item}" for item in value] or [f"{indent}(none)"]
    return [f"{indent}{value}"]


def show_config(file: TextIO | None = None) -> None:
    """Print the version, build, backends and their state, CPU features and BLAS."""
    print("\n".join(_lines(config(), "")), file=file or sys.stdout)
