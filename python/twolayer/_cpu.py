"""Runtime dispatch between builds of the Cython kernels.

The build compiles the same kernel source several times: a baseline build
that runs on any x86-64 (SSE2) and, where the compiler can, builds for wider
SIMD (AVX2+FMA, AVX-512). The widest build this CPU supports is loaded, so a
wheel runs everywhere and is fast where the hardware allows. Set
``TWOLAYER_CPU_FEATURES=baseline`` (or ``avx2``) to force a narrower build.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

# (module suffix, CPU features it needs), widest first.
_VARIANTS = (
    ("_avx512", ("AVX512F", "AVX512DQ", "AVX512VL", "AVX2", "FMA3")),
    ("_avx2", ("AVX2", "FMA3")),
    ("", ()),
)
_BASE = "twolayer._cython_kernels"


def _cpu_features() -> dict[str, bool]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_features__
    return __cpu_features__


def _allowed(suffix: str) -> bool:
    forced = os.environ.get("TWOLAYER_CPU_FEATURES", "").strip().lower()
    order = [s.lstrip("_") or "baseline" for s, _ in _VARIANTS]
    if forced in order:
        return order.index(suffix.lstrip("_") or "baseline") >= order.index(forced)
    return True


def cython_kernels_installed() -> bool:
    return importlib.util.find_spec(_BASE) is not None


def selected_variant() -> str:
    """Module name of the Cython build that ``load_cython_kernels`` will import."""
    features = _cpu_features()
    for suffix, needs in _VARIANTS:
        name = _BASE + suffix
        if (
            _allowed(suffix)
            and all(features.get(f, False) for f in needs)
            and importlib.util.find_spec(name) is not None
        ):
            return name
    raise ImportError("the compiled Cython kernels are not installed")


def load_cython_kernels() -> ModuleType:
    return importlib.import_module(selected_variant())
