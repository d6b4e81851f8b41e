"""Which instruction set each compiled backend really runs, for every ``twolayer bench`` report.

- Cython: the build ``_cpu`` loaded (avx512, avx2 or baseline), and whether
  ``TWOLAYER_CPU_FEATURES`` forced a narrower one.
- Numba: the CPU it compiles for and the vector width twolayer's Numba kernels
  use, which follows the *features* Numba compiles with
  (``twolayer._numba_jit.VECTOR_BYTES``), not the CPU's name.
  ``NUMBA_CPU_NAME=haswell`` alone keeps this machine's features: on an
  AVX-512 machine the code is still 512-bit, so the report warns and says how
  to get real AVX2 code.
- ``--isa avx2`` (``limited_environment``): every runner limited to AVX2, not
  ours alone. On an AVX2 machine NumPy's float64 tanh, exp and log are scalar
  libm (measured here with its AVX-512 paths off: tanh 10.0 against 2.1 ns),
  so a comparison that forces our kernels to AVX2 but leaves NumPy, its BLAS
  and XLA on AVX-512 is not the one an AVX2 user sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

# Haswell's features in LLVM's names: with NUMBA_CPU_NAME=haswell, real AVX2 code.
AVX2_FEATURES = (
    "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+cx8,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,"
    "+pclmul,+popcnt,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,+xsaveopt"
)
# What each runner is told in --isa avx2, besides ours and Numba: NumPy's
# dispatch (NPY_DISABLE_CPU_FEATURES, filled in from the running NumPy's own
# target names), OpenBLAS's and MKL's kernels, XLA's code generation (JAX),
# and PyTorch's ATen and oneDNN.
_PEER_LIMITS = {
    "OPENBLAS_CORETYPE": "Haswell",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
_XLA_LIMIT = "--xla_cpu_max_isa=AVX2"
# Set in the limited process, so that it does not start another.
LIMITED_MARKER = "TWOLAYER_BENCH_ISA"
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
    """``{"isa": {backend: what it runs}, "warnings": [...], "limit": ...}`` for the
    compiled ones of ``backends`` (each must load); ``limit``: ``limited_note``."""
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
    return {"isa": isa, "warnings": warnings, "limit": limited_note(os.environ)}


def describe(name: str, isa: dict[str, Any]) -> str:
    if name == "cython":
        forced = f", TWOLAYER_CPU_FEATURES={isa['forced']}" if isa["forced"] else ""
        return f"cython {isa['variant']} ({isa['module']}{forced})"
    return f"numba {isa['cpu']}, {isa['vector_bits']}-bit vectors ({isa['features']} features)"


def format_isa(
    isa: dict[str, Any], warnings: Iterable[str] = (), limit: str | None = None
) -> list[str]:
    """The ISA line of ``isa_report``'s ``isa``, its ``limit`` if any, then one
    ``warning:`` line per warning."""
    line = "ISA: " + ("; ".join(describe(k, v) for k, v in isa.items()) or "no compiled backend")
    return [line, *([limit] if limit else []), *(f"warning: {w}" for w in warnings)]


def numpy_wide_targets(dispatch: Iterable[str]) -> list[str]:
    """NumPy's dispatch targets beyond AVX2 (AVX-512 and x86-64-v4), from its list."""
    return [t for t in dispatch if "AVX512" in t or t == "X86_V4"]


def limited_environment(
    isa: str, environ: Mapping[str, str], dispatch: Iterable[str] | None = None
) -> dict[str, str]:
    """A copy of ``environ`` in which every runner uses at most ``isa`` ("avx2"): our
    build, Numba (Haswell's features), NumPy's dispatch (``dispatch``: NumPy's target
    names, by default the running NumPy's), OpenBLAS/MKL, XLA and PyTorch."""
    from ._cpu import _cpu_features, numpy_umath

    if isa != "avx2":
        raise ValueError(f"--isa takes native or avx2; got {isa!r}")
    features = _cpu_features()
    if not (features.get("AVX2") and features.get("FMA3")):
        raise ValueError("--isa avx2: this CPU has no AVX2 and FMA; it runs its own ISA already")
    if dispatch is None:
        dispatch = numpy_umath().__cpu_dispatch__
    env = dict(environ)
    env.update(_PEER_LIMITS)
    env.update(
        {
            "TWOLAYER_CPU_FEATURES": "avx2",
            "NUMBA_CPU_NAME": "haswell",
            "NUMBA_CPU_FEATURES": AVX2_FEATURES,
            "NPY_DISABLE_CPU_FEATURES": " ".join(numpy_wide_targets(dispatch)),
            "XLA_FLAGS": " ".join(f for f in (environ.get("XLA_FLAGS", ""), _XLA_LIMIT) if f),
            LIMITED_MARKER: isa,
        }
    )
    return env


def limited_note(environ: Mapping[str, str]) -> str | None:
    """The report's line for a process that ``limited_environment`` started (what NumPy
    really turned off, read back from it), else None."""
    from ._cpu import numpy_umath

    if environ.get(LIMITED_MARKER) is None:
        return None
    umath = numpy_umath()
    wide = numpy_wide_targets(umath.__cpu_dispatch__)
    still_on = [t for t in wide if umath.__cpu_features__.get(t)]
    numpy = f"NumPy without {' '.join(wide) or 'wider targets (it has none)'}"
    if still_on:
        numpy += f" (still on: {' '.join(still_on)})"
    return (
        f"every runner limited to {environ[LIMITED_MARKER].upper()} (--isa): ours and "
        f"Numba as above; {numpy}; OpenBLAS {environ.get('OPENBLAS_CORETYPE')}; "
        f"XLA {_XLA_LIMIT}; PyTorch ATEN_CPU_CAPABILITY={environ.get('ATEN_CPU_CAPABILITY')}"
    )
