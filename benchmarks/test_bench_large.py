"""The large run: 100,000 samples x 20 features, hidden 64 (a few iterations)."""

from __future__ import annotations

import numpy as np
import pytest

import twolayer


@pytest.mark.benchmark(group="large")
@pytest.mark.usefixtures("blas_threads")
def test_large(  # type: ignore[no-untyped-def]
    benchmark, backend, dtype, threads, full, warm, check_small, check_timed, data
) -> None:
    warm(backend)
    check_small(backend, dtype, threads)
    X, Y = data(100_000, 20, dtype)
    iterations = 10 if full else 2
    benchmark.extra_info.update(iterations=iterations, backend=backend, threads=threads)
    params, costs = benchmark(
        twolayer.fit, X, Y, 0.3, 64, iterations, backend=backend, dtype=dtype, n_threads=threads
    )
    check_timed((params, costs), X, Y, 0.3, 64, iterations)
    assert costs.shape == (iterations,)
    assert np.all(np.isfinite(costs))
    assert params["W1"].dtype == np.dtype(dtype)
