"""Runtime dispatch between builds of the Cython kernels.

The build compiles the same kernel source several times: a baseline build
that runs on any x86-64 (SSE2) and, where the compiler can, builds for wider
SIMD (AVX2+FMA, AVX-512). The widest build this CPU supports is loaded, so a
wheel runs everywhere and is fast where the hardware allows. Set
``TWOLAYER_CPU_FEATURES=baseline`` (or ``avx2``) to force a narrower build.

The wide builds check the CPU themselves when imported (src/twolayer/_isa_guard.c)
and raise ImportError on one that lacks their instructions, so trying them
widest first is safe; the reason each one was passed over is kept for
``twolayer.show_config()``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterator
from types import ModuleType

# (module suffix, CPU features it needs in NumPy's names), widest first.
_VARIANTS = (
    ("_avx512", ("AVX512F", "AVX512DQ", "AVX512VL", "AVX2", "FMA3")),
    ("_avx2", ("AVX2", "FMA3")),
    ("", ()),
)
_BASE = "twolayer._cython_kernels"


def numpy_umath() -> ModuleType:
    """NumPy's C module, which knows the CPU's features and NumPy's dispatch targets."""
    try:
        return importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # NumPy < 2
        return importlib.import_module("numpy.core._multiarray_umath")


def _cpu_features() -> dict[str, bool]:
    features: dict[str, bool] = numpy_umath().__cpu_features__
    return features


def _level(suffix: str) -> str:
    return suffix.lstrip("_") or "baseline"


def _allowed(suffix: str) -> bool:
    forced = os.environ.get("TWOLAYER_CPU_FEATURES", "").strip().lower()
    order = [_level(s) for s, _ in _VARIANTS]
    if forced in order:
        return order.index(_level(suffix)) >= order.index(forced)
    return True


def cython_kernels_installed() -> bool:
    return importlib.util.find_spec(_BASE) is not None


def _states() -> Iterator[tuple[str, str]]:
    for suffix, _ in _VARIANTS:
        name = _BASE + suffix
        if not _allowed(suffix):
            yield name, "disabled by TWOLAYER_CPU_FEATURES"
        elif importlib.util.find_spec(name) is None:
            yield name, "not built"
        else:
            try:
                importlib.import_module(name)
            except ImportError as error:  # the CPU lacks it, or a library is missing
                yield name, f"does not load: {error}"
            else:
                yield name, "loads"


def variant_states() -> dict[str, str]:
    """Each build, widest first: "loads", or why it is passed over on this machine."""
    return dict(_states())


def selected_variant() -> str:
    """Module name of the build ``load_cython_kernels`` imports: the widest that loads."""
    reasons = []
    for name, state in _states():
        if state == "loads":
            return name
        reasons.append(f"{name}: {state}")
    raise ImportError(f"no build of the compiled Cython kernels loads here ({'; '.join(reasons)})")


def load_cython_kernels() -> ModuleType:
    return importlib.import_module(selected_variant())
