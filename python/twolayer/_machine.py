"""What machine this is: CPU, CPUs usable, NumPy's BLAS, versions.

For ``twolayer bench``'s report and ``twolayer.show_config()``; below both.
"""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any

import numpy as np

from ._version import __version__


def blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "architecture", "num_threads")
    return [
        {k: pool.get(k) for k in keys} for pool in threadpool_info() if pool["user_api"] == "blas"
    ]


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "twolayer": __version__,
        "blas": blas_info(),
        "blas_env": env,
        # Other processes compete for the cores: the ratios stay comparable, absolute times less.
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
