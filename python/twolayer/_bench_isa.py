"""Which instruction set each compiled backend really runs, for every ``twolayer bench`` report.

- Cython: the build ``_cpu`` loaded (avx512, avx2 or baseline), and whether
  ``TWOLAYER_CPU_FEATURES`` forced a narrower one.
- Numba: the CPU it compiles for and the vector width twolayer's Numba kernels
  use, which follows the *features* Numba compiles with
  (``twolayer._numba_jit.VECTOR_BYTES``), not the CPU's name.
  ``NUMBA_CPU_NAME=haswell`` alone keeps this machine's features: on an
  AVX-512 machine the code is still 512-bit, so the report warns and says how
  to get real AVX2 code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

# Haswell's features in LLVM's names: with NUMBA_CPU_NAME=haswell, real AVX2 code.
AVX2_FEATURES = (
    "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+cx8,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,"
    "+pclmul,+popcnt,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,+xsaveopt"
)
# CPU names that do not stand for a fixed feature set of their own.
_UNNAMED = {"", "host", "generic"}


def cython_isa() -> dict[str, Any]:
    """The Cython build loaded here: its level, module, and the forcing variable if set."""
    from ._backends import load_backend

    module = load_backend("cython").__name__
    suffix = module.rsplit("_cython_kernels", 1)[1]
    return {
        "variant": suffix.lstrip("_") or "baseline",
        "module": module,
        "forced": os.environ.get("TWOLAYER_CPU_FEATURES") or None,
    }


def numba_isa() -> dict[str, Any]:
    """The CPU Numba compiles for, where its features come from, and the kernels' vector
    width; imports twolayer's Numba kernels (no compile)."""
    import llvmlite.binding as llvm
    import numba

    from . import _numba_jit

    name = numba.config.CPU_NAME
    features = numba.config.CPU_FEATURES
    return {
        "cpu": name or f"host ({llvm.get_host_cpu_name()})",
        "features": "NUMBA_CPU_FEATURES" if features is not None else "this machine's",
        "vector_bits": 8 * _numba_jit.VECTOR_BYTES,
    }


def numba_warning(isa: dict[str, Any]) -> str | None:
    """A warning when NUMBA_CPU_NAME names a CPU but its features are this machine's."""
    import numba

    name = numba.config.CPU_NAME
    if name is None or name.lower() in _UNNAMED or numba.config.CPU_FEATURES is not None:
        return None
    return (
        f"NUMBA_CPU_NAME={name} without NUMBA_CPU_FEATURES: Numba compiles with this "
        f"machine's features ({isa['vector_bits']}-bit vectors here), not {name}'s. "
        f"For real AVX2 code also set NUMBA_CPU_FEATURES={AVX2_FEATURES} "
        "(and a separate NUMBA_CACHE_DIR)"
    )


def isa_report(backends: Iterable[str]) -> dict[str, Any]:
    """``{"isa": {backend: what it runs}, "warnings": [...]}`` for the compiled ones of
    ``backends`` (each must load)."""
    isa: dict[str, Any] = {}
    warnings: list[str] = []
    for name in backends:
        if name == "cython":
            isa[name] = cython_isa()
        elif name == "numba":
            isa[name] = numba_isa()
            warning = numba_warning(isa[name])
            if warning is not None:
                warnings.append(warning)
    return {"isa": isa, "warnings": warnings}


def describe(name: str, isa: dict[str, Any]) -> str:
    if name == "cython":
        forced = f", TWOLAYER_CPU_FEATURES={isa['forced']}" if isa["forced"] else ""
        return f"cython {isa['variant']} ({isa['module']}{forced})"
    return f"numba {isa['cpu']}, {isa['vector_bits']}-bit vectors ({isa['features']} features)"


def format_isa(isa: dict[str, Any], warnings: Iterable[str] = ()) -> list[str]:
    """The ISA line of ``isa_report``'s ``isa``, then one ``warning:`` line per warning."""
    line = "ISA: " + ("; ".join(describe(k, v) for k, v in isa.items()) or "no compiled backend")
    return [line, *(f"warning: {w}" for w in warnings)]
