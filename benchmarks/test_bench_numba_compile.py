"""Numba's compile time, as its own figure (never mixed into the kernels' timings).

"cold": a fresh process with an empty cache directory (NUMBA_CACHE_DIR), so
import + first fit includes compiling every signature. "warm cache": a second
fresh process on that cache (the issue's target: at most 1.0 s for import and
the tutorial's first fit). Measured in subprocesses because a process compiles
only once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import twolayer

pytestmark = pytest.mark.skipif(
    "numba" not in twolayer.available_backends(), reason="numba backend not available"
)

FIRST_FIT = """
import time
started = time.perf_counter()
import twolayer
from twolayer.datasets import make_moons
X, Y = make_moons(n_samples=500, noise=0.2, seed=0)
twolayer.fit(X, Y, 0.3, 5, 5000, backend="numba", n_threads=1)
print(time.perf_counter() - started)
"""


def _first_fit_seconds(cache_dir: Path) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_FIT], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return float(proc.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="numba-compile")
def test_numba_cold_then_warm_cache(benchmark, tmp_path: Path, compile_times) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "numba-cache"
    cold = benchmark.pedantic(_first_fit_seconds, args=(cache,), rounds=1, iterations=1)
    warm = _first_fit_seconds(cache)
    cached = any(cache.rglob("*.nbi"))
    compile_times["import + tutorial fit, empty cache (compiles)"] = cold
    compile_times[f"import + tutorial fit, warm cache{'' if cached else ' (NO CACHE WRITTEN)'}"] = (
        warm
    )
    benchmark.extra_info.update(cold_s=cold, warm_cache_s=warm, cache_written=cached)
