"""X's row stride: rows a multiple of 4 kB apart (n a multiple of 512 float64 samples) against
the same values 8 samples further apart.

Read in place, rows 4 kB apart fall in the same L1 sets; the Cython build gathers their
tiles instead (_rows_crowd_l1), so both groups should time alike (before it: 11.5 against
8.7 us a tile, AVX-512). Each case also checks its result against the other layout's.
"""

from __future__ import annotations

import numpy as np
import pytest

import twolayer

N_SAMPLES = 8192  # 64 kB rows in float64: a multiple of 4 kB
ITERATIONS = 5


@pytest.mark.parametrize("rows", ["4k_apart", "spread"])
@pytest.mark.usefixtures("blas_threads")
def test_row_stride(  # type: ignore[no-untyped-def]
    benchmark, rows, backend, dtype, threads, warm, check_small, data
) -> None:
    warm(backend)
    check_small(backend, dtype, threads)
    X, Y = data(N_SAMPLES + 8, 20, dtype)
    spread, Y = X[:, :N_SAMPLES], np.ascontiguousarray(Y[:, :N_SAMPLES])
    crowded = np.ascontiguousarray(spread)
    assert crowded.strides[0] % 4096 == 0 and spread.strides[0] % 4096 != 0
    timed, other = (crowded, spread) if rows == "4k_apart" else (spread, crowded)
    benchmark.group = "row stride"
    benchmark.extra_info.update(rows=rows, row_bytes=timed.strides[0], iterations=ITERATIONS)

    def run(X: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return twolayer.fit(X, Y, 0.3, 64, ITERATIONS, backend=backend, n_threads=threads)

    params, costs = benchmark(run, timed)
    other_params, other_costs = run(other)
    np.testing.assert_array_equal(costs, other_costs)
    for key in params:
        np.testing.assert_array_equal(params[key], other_params[key], err_msg=key)
