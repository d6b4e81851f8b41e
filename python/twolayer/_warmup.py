"""``twolayer warmup``: compile the Numba kernels into the cache before first use.

Numba caches compiled code next to the package (or, where that is read-only,
in the user-wide cache directory, or in ``NUMBA_CACHE_DIR`` when set), and
every ``pip install`` of twolayer replaces that directory, so the first numba
fit after an install or upgrade compiles for 10-20 s. Running this once after
installing (a container build's ``RUN pip install twolayer && twolayer
warmup``) moves that cost to install time: later processes load the code.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

DTYPES = (np.float64, np.float32)


def warmup() -> dict[str, Any]:
    """Compile (or load) the entry points a fit uses, for both dtypes, in both variants:
    one slot (a fit on one block of samples, or one thread) and threaded.

    Returns the cache directory, the seconds taken, and per entry point, dtype
    and variant whether it was loaded from the cache or compiled.
    """
    started = time.perf_counter()
    from . import _numba_kernels as kernels
    from ._numba_jit import compiled

    entries: dict[str, str] = {}
    cache_dirs = []
    for dispatcher in (kernels._train_chunk, kernels._gradient_sums):
        for dtype in DTYPES:
            for threaded in (False, True):
                before = sum(dispatcher.stats.cache_hits.values())
                compiled(dispatcher, dtype, threaded)
                loaded = sum(dispatcher.stats.cache_hits.values()) > before
                variant = ", threaded" if threaded else ""
                name = f"{dispatcher.py_func.__name__.lstrip('_')}[{np.dtype(dtype).name}{variant}]"
                entries[name] = "loaded from the cache" if loaded else "compiled"
        if dispatcher.stats.cache_path not in cache_dirs:
            cache_dirs.append(dispatcher.stats.cache_path)
    return {
        # None: no cache directory was writable, so nothing was saved for later processes.
        "cache_dir": ", ".join(cache_dirs) if None not in cache_dirs else None,
        "seconds": time.perf_counter() - started,
        "entries": entries,
    }
