"""Mini-batch epochs (issue 15): one epoch of Adam in batches of 200, in order and
shuffled, next to one full-batch iteration of the same backend on the same data
(group "epoch", side by side; the issue's bar: the in-order epoch at most 1.3x the
iteration, one thread). 20,000 x 20, hidden 64; 100,000 (the issue's size) with
--bench-full. Every epoch is checked against the NumPy reference's epoch on the
same data (``twolayer bench --workload epoch`` prints the ratios directly)."""

from __future__ import annotations

import numpy as np
import pytest

from twolayer._bench_epochs import (
    data,
    run_epoch,
    run_iteration,
    sklearn_epoch,
    sklearn_epoch_model,
    sklearn_fit,
)

HIDDEN, FEATURES = 64, 20


def _n(full: bool) -> int:
    return 100_000 if full else 20_000


_REFERENCE: dict[tuple[int, str, bool], tuple[dict[str, np.ndarray], np.ndarray]] = {}


def _check(result: tuple[dict[str, np.ndarray], np.ndarray], X: np.ndarray, Y: np.ndarray,
           shuffle: bool) -> None:  # fmt: skip
    """Against the NumPy reference's epoch (float64: 1e-10 relative; float32: 1e-3)."""
    key = (X.shape[1], X.dtype.name, shuffle)
    if key not in _REFERENCE:
        _REFERENCE[key] = run_epoch("numpy", X, Y, HIDDEN, shuffle, 1)
    expected, expected_costs = _REFERENCE[key]
    params, costs = result
    tol = 1e-10 if X.dtype == np.float64 else 1e-3
    np.testing.assert_allclose(costs, expected_costs, rtol=tol)
    for name, value in expected.items():
        scale = float(np.max(np.abs(value)))
        assert float(np.max(np.abs(params[name] - value))) <= tol * scale, name


@pytest.mark.benchmark(group="epoch")
@pytest.mark.usefixtures("blas_threads")
@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "shuffled"])
def test_adam_epoch(benchmark, backend, dtype, threads, full, warm, shuffle) -> None:  # type: ignore[no-untyped-def]
    warm(backend)
    X, Y = data(_n(full), FEATURES, np.dtype(dtype))
    run_epoch(backend, X[:, :1000], Y[:, :1000], HIDDEN, shuffle, threads)  # Numba compiles
    benchmark.extra_info.update(backend=backend, threads=threads, batch_size=200)
    result = benchmark(run_epoch, backend, X, Y, HIDDEN, shuffle, threads)
    _check(result, X, Y, shuffle)


@pytest.mark.benchmark(group="epoch")
@pytest.mark.usefixtures("blas_threads")
def test_full_batch_iteration(benchmark, backend, dtype, threads, full, warm) -> None:  # type: ignore[no-untyped-def]
    warm(backend)
    X, Y = data(_n(full), FEATURES, np.dtype(dtype))
    benchmark.extra_info.update(backend=backend, threads=threads)
    _, costs = benchmark(run_iteration, backend, X, Y, HIDDEN, threads)
    assert costs.shape == (1,) and np.isfinite(costs[0])


@pytest.mark.benchmark(group="epoch")
@pytest.mark.usefixtures("blas_threads")
@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "shuffled"])
def test_sklearn_adam_epoch(benchmark, dtype, threads, full, shuffle) -> None:  # type: ignore[no-untyped-def]
    """scikit-learn's MLPClassifier doing the same epoch from the same weights (max_iter=1;
    shuffled: its own order); only its fit is timed. In order it must equal ours."""
    pytest.importorskip("sklearn")
    X, Y = data(_n(full), FEATURES, np.dtype(dtype))
    benchmark.extra_info.update(threads=threads, batch_size=200)
    benchmark.pedantic(
        sklearn_fit, setup=lambda: (sklearn_epoch_model(X, Y, HIDDEN, shuffle), {}), rounds=3
    )
    if not shuffle:
        _, params, cost = sklearn_epoch(X, Y, HIDDEN, False)
        _check((params, np.array([cost], dtype=X.dtype)), X, Y, False)
