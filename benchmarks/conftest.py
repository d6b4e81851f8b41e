"""Shared fixtures of the pytest-benchmark suite.

Every benchmark is parametrised over backend x dtype x threads (see
``pytest_generate_tests``), warms its backend first (Numba compiles or loads its
cache there; that first call is reported separately, not timed with the rest),
and checks the backend against the NumPy reference on a small case.

    python -m pytest benchmarks                    # timings (quick sizes)
    python -m pytest benchmarks --bench-full       # the issue's sizes and iterations
    python -m pytest benchmarks --benchmark-disable  # run each once, untimed (CI)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import twolayer
from twolayer._geometry import BLOCK  # samples per block: one block runs in one thread
from twolayer.datasets import make_moons

BACKENDS = twolayer.available_backends()
DTYPES = (np.float64, np.float32)
try:
    _USABLE_CPUS = len(os.sched_getaffinity(0))
except AttributeError:  # not Linux
    _USABLE_CPUS = os.cpu_count() or 1
THREADS = (1, 2) if _USABLE_CPUS >= 2 else (1,)

# First call of each backend in this process (loading; Numba's compile or cache
# load), and the Numba compile figures of test_bench_numba_compile.py.
FIRST_CALLS: dict[str, float] = {}
COMPILE_TIMES: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-full",
        action="store_true",
        help="the issue's sizes: full iterations, n_samples up to 1e6, bigger scaling bases",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full_only: runs only with --bench-full")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--bench-full"):
        return
    skip = pytest.mark.skip(reason="needs --bench-full")
    for item in items:
        if "full_only" in item.keywords:
            item.add_marker(skip)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS)
    if "dtype" in metafunc.fixturenames:
        metafunc.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
    if "threads" in metafunc.fixturenames:
        metafunc.parametrize("threads", THREADS, ids=lambda t: f"{t}thr")


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not FIRST_CALLS and not COMPILE_TIMES:
        return
    terminalreporter.section("twolayer: first calls (not in the timings above)")
    for name, seconds in FIRST_CALLS.items():
        terminalreporter.write_line(f"first fit in this process, {name}: {seconds:.3f} s")
    for name, seconds in COMPILE_TIMES.items():
        terminalreporter.write_line(f"numba, {name}: {seconds:.3f} s")


@pytest.fixture(scope="session")
def compile_times() -> dict[str, float]:
    return COMPILE_TIMES


@pytest.fixture(scope="session")
def full(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--bench-full"))


@pytest.fixture
def blas_threads(threads: int) -> Iterator[None]:
    """NumPy's BLAS limited to the benchmark's thread count (the reference's only threads)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def warm() -> Callable[[str], None]:
    """Load (and for Numba compile) a backend before anything is timed."""

    def warm_up(backend: str) -> None:
        if backend in FIRST_CALLS:
            return
        X, Y = make_moons(n_samples=16, noise=0.2, seed=1)
        started = time.perf_counter()
        for dtype in DTYPES:
            twolayer.fit(X, Y, 0.3, 3, 2, backend=backend, dtype=dtype, n_threads=1)
        FIRST_CALLS[backend] = time.perf_counter() - started

    return warm_up


# The small case every benchmark checks its backend on, against the reference: more
# than two blocks (ragged last one), so that threads > 1 runs blocks in parallel.
SMALL = {"n_samples": 2 * BLOCK + 97, "hidden": 7, "iterations": 30, "learning_rate": 0.3}


@pytest.fixture(scope="session")
def small_reference() -> tuple[dict[str, np.ndarray], np.ndarray]:
    X, Y = make_moons(n_samples=SMALL["n_samples"], noise=0.2, seed=2)
    return twolayer.fit(
        X, Y, SMALL["learning_rate"], SMALL["hidden"], SMALL["iterations"], backend="numpy"
    )


def _relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    scale = max(float(np.max(np.abs(expected))), np.finfo(float).tiny)
    return float(np.max(np.abs(actual - expected)) / scale)


@pytest.fixture(scope="session")
def check_small(
    small_reference: tuple[dict[str, np.ndarray], np.ndarray],
) -> Callable[[str, type, int], None]:
    """Assert that backend x dtype x threads matches the float64 reference on the small case."""
    checked: set[tuple[str, str, int]] = set()
    expected_params, expected_costs = small_reference

    def check(backend: str, dtype: type, threads: int) -> None:
        key = (backend, np.dtype(dtype).name, threads)
        if key in checked:
            return
        X, Y = make_moons(n_samples=SMALL["n_samples"], noise=0.2, seed=2)
        params, costs = twolayer.fit(
            X, Y, SMALL["learning_rate"], SMALL["hidden"], SMALL["iterations"],
            backend=backend, dtype=dtype, n_threads=threads,
        )  # fmt: skip
        _assert_close((params, costs), (expected_params, expected_costs), dtype, key)
        checked.add(key)

    return check


def _assert_close(result: Any, expected: Any, dtype: type, what: object) -> None:
    # float64: the kernels' parity target; float32: float32 accuracy of the float64 result.
    (params, costs), (expected_params, expected_costs) = result, expected
    rtol_costs, rtol_params = (1e-9, 1e-9) if dtype == np.float64 else (1e-4, 1e-3)
    assert _relative_error(costs, expected_costs) < rtol_costs, what
    for name, value in expected_params.items():
        assert _relative_error(params[name], value) < rtol_params, (what, name)


@pytest.fixture(scope="session")
def check_timed() -> Callable[..., None]:
    """Assert that a timed fit's result is the float64 reference's on the same data."""
    references: dict[tuple[Any, ...], Any] = {}

    def check(result: Any, X: np.ndarray, Y: np.ndarray, lr: float, hidden: int,
              iterations: int) -> None:  # fmt: skip
        key = (X.shape, X.dtype.name, lr, hidden, iterations, float(X.sum()))
        if key not in references:
            references[key] = twolayer.fit(
                X.astype(np.float64), Y.astype(np.float64), lr, hidden, iterations,
                backend="numpy",
            )  # fmt: skip
        _assert_close(result, references[key], X.dtype.type, key)

    return check


def workload_data(n_samples: int, n_features: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and teacher labels, cached: benchmarks time fitting, not data making."""
    key = (n_samples, n_features, np.dtype(dtype).name)
    if key not in _DATA:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n_features, n_samples))
        w = rng.standard_normal((1, n_features))
        Y = (w @ X + rng.standard_normal((1, n_samples)) > 0).astype(np.float64)
        _DATA.clear()  # keep one data set alive at a time (1e6 x 200 would be 1.6 GB)
        _DATA[key] = (X.astype(dtype), Y.astype(dtype))
    return _DATA[key]


_DATA: dict[tuple[int, int, str], tuple[np.ndarray, np.ndarray]] = {}


@pytest.fixture(scope="session")
def data() -> Callable[[int, int, type], tuple[np.ndarray, np.ndarray]]:
    return workload_data
