"""The tutorial's run: two moons, 500 samples, noise 0.2, lr 0.3, hidden 5.

5000 iterations with --bench-full, 500 otherwise (time per iteration is the same).
"""

from __future__ import annotations

import numpy as np
import pytest

import twolayer
from twolayer.datasets import make_moons


@pytest.mark.benchmark(group="tutorial")
@pytest.mark.usefixtures("blas_threads")
def test_tutorial(benchmark, backend, dtype, threads, full, warm, check_small, check_timed) -> None:  # type: ignore[no-untyped-def]
    warm(backend)
    check_small(backend, dtype, threads)
    X, Y = make_moons(n_samples=500, noise=0.2, seed=0)
    iterations = 5000 if full else 500
    benchmark.extra_info.update(iterations=iterations, backend=backend, threads=threads)
    X = X.astype(dtype)
    params, costs = benchmark(
        twolayer.fit, X, Y, 0.3, 5, iterations, backend=backend, dtype=dtype, n_threads=threads
    )
    check_timed((params, costs), X, Y, 0.3, 5, iterations)
    assert costs.shape == (iterations,)
    assert costs[-1] < costs[0]
    assert all(np.all(np.isfinite(p)) for p in params.values())
