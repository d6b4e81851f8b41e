"""How the Numba mirror of the C kernels is compiled: no C file of its own.

What the build (CMakeLists.txt, ``_tile.h``'s ISA macros) decides for the C
kernels is decided here for the ``_numba_*`` modules: the CPU features Numba
compiles for (``FEATURES``, ``HAS_FMA``, ``VECTOR_BYTES`` = C's TL_VECTOR_BYTES),
the ``njit`` options every kernel uses (``jit``), and the explicit float32 and
float64 signatures of the entry points, compiled on first use (``compiled``).

Rounding: no fast-math flags at all. A multiply-add is fused exactly where the
C says ``tl_fma`` (here ``_numba_fastmath.fma``): one FMA instruction when the
CPU Numba compiles for has FMA, as in the AVX2/AVX-512 builds, else a product and
a sum, as in the baseline build; nothing else fuses and nothing is reassociated.
So Numba and the build with the same FMA support agree bit for bit
(tests/test_numba.py). LLVM's own contraction (``fastmath={"contract"}``, used
before) is not deterministic across compiled copies of one function: Numba links
each callee as a weak symbol, the first copy loaded wins, and copies optimised in
different contexts fused different operations, so a process that compiled the
kernels and one that loaded them from the cache gave fits that differed in the
last bits.

Compiled functions are cached (``cache=True``) next to these files, or, where
that directory is read-only, in Numba's user-wide cache directory; where
neither is writable they are compiled in every process.
"""

from __future__ import annotations

import threading
import warnings

import numba
import numpy as np
from llvmlite import binding as llvm_binding
from numba import types
from numba.core.errors import NumbaPerformanceWarning


def target_features() -> list[str]:
    """The features of the CPU Numba compiles for (NUMBA_CPU_FEATURES, else the host's)."""
    features = numba.config.CPU_FEATURES
    if features is None:
        if str(numba.config.CPU_NAME).lower() == "generic":
            return []
        features = llvm_binding.get_host_cpu_features().flatten()
    return features.split(",")


FEATURES = target_features()
HAS_FMA = "+fma" in FEATURES
# Vector register bytes, for the passes of combine_more (C: TL_VECTOR_BYTES).
VECTOR_BYTES = 64 if "+avx512f" in FEATURES else 32 if "+avx" in FEATURES else 16


def jit(signature=None, parallel=False, inline=False):
    """Numba's njit as every kernel here uses it.

    ``signature`` maps an element type (float32 or float64) to a Numba
    signature: the entry points are compiled for exactly these two, as the
    fused Cython functions exist for both types, and for nothing else. Each
    is compiled (or loaded from the cache) on its first use with that dtype
    (see ``compiled``), so that a float64 fit loads one function and not
    twelve. Helpers without a signature are compiled as part of their callers;
    ``inline=True`` (the tile helpers, C's ``static inline``) inlines them in
    Numba's IR, which LLVM's inliner does not do for functions this size: a
    call per tile row with array structs and reference counts cost 2.5x.
    ``error_model="numpy"``: a division is IEEE (no zero check that would
    block vectorisation). No fast-math flags: see the module docstring on
    rounding.
    """
    options = dict(cache=True, nogil=True, error_model="numpy", parallel=parallel)
    if inline:
        options["inline"] = "always"

    def decorate(func):
        try:
            dispatcher = numba.njit(**options)(func)
        except RuntimeError as error:  # "cannot cache function ...: no locator available"
            if "cannot cache" not in str(error):
                raise
            # Neither this package's directory nor a user cache directory is
            # writable: compile in every process rather than not at all.
            dispatcher = numba.njit(**dict(options, cache=False))(func)
        if signature is not None:
            _SIGNATURES[dispatcher] = signature
        return dispatcher

    return decorate


_SIGNATURES = {}
_READY = {}
_COMPILE_LOCK = threading.Lock()


def compiled(dispatcher, dtype, threaded=None):
    """The compiled code of ``dispatcher``'s explicit signature for ``dtype``.

    Compiled (or loaded from the cache) on first use. ``threaded`` (entry points
    that take n_threads): False for the one-slot variant, whose n_threads is
    None and whose parallel region is pruned (no parallel code compiled, no
    threads launched: what a fit on one block of samples needs), True for the
    threaded one; their signature builders take (element type, type of
    n_threads). Calls go to that code
    directly rather than through the dispatcher: no type dispatch per call (the
    entry point unboxes each array with no check but its itemsize, so a writable
    array runs the read-only signature's code as it is: the wrappers pass the
    caller's arrays, no read-only views, 0.45 us each), a C- or F-contiguous X then
    runs the 'A'-layout code without compiling (and caching) a specialisation
    of its own, and calls from other threads are safe while this one compiles
    the other dtype. (Through the dispatcher they were not: compilation must be
    enabled to compile, and while it is, a call with a C-contiguous X finds no
    exact match and takes the compile path, failing with "compilation disabled"
    once it is off again; tests/test_reliability.py starts every backend from
    four threads at once.)
    """
    key = (dispatcher, np.dtype(dtype), threaded)
    kernel = _READY.get(key)
    if kernel is None:
        with _COMPILE_LOCK:
            kernel = _READY.get(key)
            if kernel is None:
                build = _SIGNATURES[dispatcher]
                t = numba.from_dtype(dtype)
                if threaded is None:
                    signature = build(t)
                else:
                    signature = build(t, types.intp if threaded else types.none)
                dispatcher.disable_compile(False)
                try:
                    with warnings.catch_warnings():
                        # The one-slot variant: parallel=True with its parallel region
                        # pruned, which Numba reports as a missed transformation.
                        warnings.simplefilter("ignore", NumbaPerformanceWarning)
                        dispatcher.compile(signature)
                finally:
                    dispatcher.disable_compile(True)
                kernel = dispatcher.overloads[tuple(signature.args)].entry_point
                _READY[key] = kernel
    return kernel


def matrix_type(t):
    """X or Y: 2-D, any strides, read-only (the kernels never write them)."""
    return types.Array(t, 2, "A", readonly=True)


def vector_type(t):
    return types.Array(t, 1, "C")


