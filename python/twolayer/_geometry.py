"""The compiled kernels' geometry, defined once.

Read by the Cython build (CMakeLists.txt turns every ``NAME = integer`` line
below into ``-DTL_NAME=integer`` for src/twolayer/_tile.h and the .pyx), by
the Numba mirror, by ``workspace_bytes`` and by the tests. Change a number
here and both backends follow; keep those lines plain integers.
"""

from __future__ import annotations

TILE = 64  # samples per tile: a tile row (one feature, unit or output) is contiguous
SMALL_TILE = 16  # samples per small tile, for a block's last few samples (a multiple of LANES)
LANES = 8  # independent partial sums per sum over samples (s % LANES)
TILES_PER_BLOCK = 32  # tiles per block: the unit of parallel work and of partial sums
FEATURE_CHUNK = 32  # feature rows per pass when the inputs are wide (they stay in L1)
ALIGN = 16  # elements per 64-byte cache line in float32 (a multiple of one in float64)

BLOCK = TILE * TILES_PER_BLOCK  # samples per block


def n_params(f: int, h: int, o: int) -> int:
    """Packed parameter count: W1 (h x f), b1 (h), W2 (o x h), b2 (o); see _params.Layout."""
    return h * f + h + o * h + o


def n_blocks(n: int) -> int:
    """Blocks of BLOCK samples over n samples (the last may be ragged)."""
    return (n + BLOCK - 1) // BLOCK


def work_size(f: int, h: int, o: int) -> int:
    """Scratch elements of one thread's slot, rounded up to whole cache lines.

    Tiles of X (f rows), Y (o), hidden activations (h), residuals (o), hidden
    deltas (h) and one row of sample weights (weighted epochs), then LANES
    partial sums per parameter and for the cost.
    """
    size = (f + o + h + o + h + 1) * TILE + (n_params(f, h, o) + 1) * LANES
    return (size + ALIGN - 1) // ALIGN * ALIGN


def workspace_elements(f: int, h: int, o: int, n: int, n_threads: int) -> int:
    """Elements the compiled kernels allocate for one fit beyond the data.

    One row of partial sums per block, a few parameter-sized vectors (sums,
    candidate update, gradient; train_epoch's sums and candidate theta and
    optimizer state) and a scratch slot per thread.
    """
    return (n_blocks(n) + 4) * (n_params(f, h, o) + 1) + max(1, n_threads) * work_size(f, h, o)
