"""The Numba kernels' view primitives (twolayer._numba_vector): rows_of, unowned, hold.

The kernels make their tiles with rows_of and run their loops on unowned aliases (no
reference counts); these check that a tile is the slice-and-reshape it replaces, that an
alias reads and writes the same memory, and that hold keeps an array alive while only its
alias is in use (the training loop's pattern).
"""

import numba
import numpy as np
import pytest

from twolayer._numba_vector import hold, rows_of, unowned


@numba.njit
def _rows(vector, start, rows, width):
    return rows_of(vector, start, rows, width)


@numba.njit
def _fill_rows(vector, start, rows, width, value):
    view = rows_of(unowned(vector), start, rows, width)
    for r in range(rows):
        for s in range(width):
            view[r, s] = value + r * width + s


@numba.njit
def _scratch_sums(n, rounds):
    """Sums through an unowned alias of a fresh array, held until the end (as _train_chunk)."""
    work = np.empty(n)
    alias = unowned(work)
    total = 0.0
    for k in range(rounds):
        for i in range(n):
            alias[i] = k + i
        filler = np.zeros(n)  # allocations meanwhile: a freed work would be reused
        for i in range(n):
            total += alias[i] + filler[i]
    hold((work,))
    return total


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("start", "rows", "width"), [(0, 2, 64), (128, 5, 16), (7, 1, 8)])
def test_rows_of_is_the_slice_reshaped(dtype, start, rows, width):
    vector = np.arange(start + rows * width + 5, dtype=dtype)
    view = _rows(vector, start, rows, width)
    expected = vector[start : start + rows * width].reshape((rows, width))
    assert view.shape == expected.shape
    assert view.strides == expected.strides
    np.testing.assert_array_equal(view, expected)


def test_writes_through_an_unowned_alias_reach_the_array():
    vector = np.zeros(100)
    _fill_rows(vector, 10, 3, 8, 1.0)
    expected = np.zeros(100)
    expected[10:34] = 1.0 + np.arange(24)
    np.testing.assert_array_equal(vector, expected)


def test_hold_keeps_the_aliased_array_alive():
    n, rounds = 1000, 50
    expected = sum(float(k + i) for k in range(rounds) for i in range(n))
    assert _scratch_sums(n, rounds) == expected
