"""Scaling in n_samples, hidden and features: time per iteration should grow linearly in each.

Each group holds one size, so pytest-benchmark's ratios compare backends side
by side; the work of an iteration (multiply-adds n*h*(2f+3o)) is in extra_info.
Quick sizes by default; --bench-full adds 1e6 samples and a 10x bigger base.
"""

from __future__ import annotations

import numpy as np
import pytest

import twolayer

ITERATIONS = 3
BASE = {"n_samples": 10_000, "hidden": 16, "features": 20}
FULL_BASE = {"n_samples": 100_000, "hidden": 64, "features": 20}
CASES = [
    ("n_samples", 1_000),
    ("n_samples", 10_000),
    ("n_samples", 100_000),
    pytest.param("n_samples", 1_000_000, marks=pytest.mark.full_only),
    ("hidden", 4),
    ("hidden", 16),
    ("hidden", 64),
    ("hidden", 256),
    ("features", 2),
    ("features", 20),
    ("features", 200),
]


@pytest.mark.parametrize(("dim", "value"), CASES)
@pytest.mark.usefixtures("blas_threads")
def test_scaling(  # type: ignore[no-untyped-def]
    benchmark, dim, value, backend, dtype, threads, full, warm, check_small, check_timed, data
) -> None:
    warm(backend)
    check_small(backend, dtype, threads)
    shape = dict(FULL_BASE if full else BASE, **{dim: value})
    X, Y = data(shape["n_samples"], shape["features"], dtype)
    benchmark.group = f"scaling {dim}={value}"
    n, h, f = shape["n_samples"], shape["hidden"], shape["features"]
    benchmark.extra_info.update(
        shape=shape, iterations=ITERATIONS, multiply_adds_per_iteration=n * h * (2 * f + 3)
    )
    params, costs = benchmark(
        twolayer.fit, X, Y, 0.3, h, ITERATIONS, backend=backend, dtype=dtype, n_threads=threads
    )
    check_timed((params, costs), X, Y, 0.3, h, ITERATIONS)
    assert np.all(np.isfinite(costs))
