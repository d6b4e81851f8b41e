"""Mirrors the tile gathers of ``src/twolayer/_cython_kernels.pyx`` (``gather_tile``)
and ``src/twolayer/_gather_impl.h`` (Numba): columns of X or Y into a contiguous,
zero-padded tile.

``gather_tile`` is ``gather_tile`` with idx NULL (consecutive samples),
``gather_tile_at`` the same with idx (a shuffled batch, epochs only). C's register
transposes (``tl_gather_columns``, for X.T of a C-ordered array) have no twin here:
such X is read value by value, sample by sample.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._geometry import LANES, TILE
from ._numba_jit import jit
from ._numba_vector import Vectors, are_tile_rows


def row_start(context, builder, A, value, r, start):
    """Address of A[r, start] for the intrinsics below (A: the array's Numba type)."""
    source = context.make_array(A)(context, builder, value)
    itemsize = context.get_abi_sizeof(context.get_data_type(A.dtype))
    row_stride = cgutils.unpack_tuple(builder, source.strides)[0]
    offset = builder.add(
        builder.mul(r, row_stride),
        builder.mul(start, context.get_constant(types.intp, itemsize)),
    )
    return cgutils.pointer_add(builder, source.data, offset)


@intrinsic
def memcpy_row(typingctx, A, r, start, count, out):
    """out[:count] = A[r, start:start + count] when A's rows are contiguous (C's memcpy)."""
    if not (isinstance(A, types.Array) and A.ndim == 2 and are_tile_rows(out)
            and out.dtype == A.dtype):  # fmt: skip
        return None

    def codegen(context, builder, signature, args):
        first = row_start(context, builder, A, args[0], args[1], args[2])
        target = context.make_array(signature.args[4])(context, builder, args[4])
        itemsize = context.get_abi_sizeof(context.get_data_type(A.dtype))
        cgutils.raw_memcpy(builder, target.data, first, args[3], itemsize)
        return context.get_dummy_value()

    return types.void(A, r, start, count, out), codegen


@intrinsic
def copy_full_row(typingctx, A, r, start, out):
    """out[s] = A[r, start + s] for the TILE samples of a full tile, A's rows contiguous.

    C's memcpy of a constant size, which gcc inlines as vector moves; LLVM left
    a call to memcpy, so the moves are spelled out here.
    """
    if not (isinstance(A, types.Array) and A.ndim == 2 and are_tile_rows(out)
            and out.dtype == A.dtype):  # fmt: skip
        return None

    def codegen(context, builder, signature, args):
        vec = Vectors(context, builder, signature, args)
        first = row_start(context, builder, A, args[0], args[1], args[2])
        first = builder.bitcast(first, vec.element.as_pointer())
        for s in range(0, TILE, LANES):
            vec.store(vec.load(first, s), vec.data[3], s)
        return context.get_dummy_value()

    return types.void(A, r, start, out), codegen


@jit()
def gather_tile_at(A, order, start, count, out):
    """Copy the columns order[start:start + count] of A into the contiguous tile out
    (rows x W), zero-padded: a shuffled batch, gathered tile by tile (C:
    gather_tile with idx not NULL; out of line here, and compiled only for epochs)."""
    zero = out.dtype.type(0)
    if A.strides[0] < A.strides[1]:
        # A sample's values are close together: visit them sample by sample.
        for s in range(count):
            c = order[start + s]
            for r in range(A.shape[0]):
                out[r, s] = A[r, c]
    else:
        for r in range(A.shape[0]):
            for s in range(count):
                out[r, s] = A[r, order[start + s]]
    for r in range(A.shape[0]):
        for s in range(count, out.shape[1]):
            out[r, s] = zero


@jit(inline=True)
def gather_tile(A, start, count, out):
    """Copy columns [start, start + count) of A into the contiguous tile out (rows x W,
    W = TILE or SMALL_TILE), zero-padded.

    Reading through A's strides lets X stay in the caller's layout (C, Fortran
    or any view) with no full copy; the tile is small and stays in cache.
    """
    zero = out.dtype.type(0)
    contiguous = A.strides[1] == A.itemsize
    for r in range(A.shape[0]):
        if contiguous and count == TILE:
            copy_full_row(A, r, start, out[r])
            continue
        if contiguous:
            memcpy_row(A, r, start, count, out[r])
        else:
            row = A[r, start : start + count]
            for s in range(count):
                out[r, s] = row[s]
        for s in range(count, out.shape[1]):
            out[r, s] = zero


