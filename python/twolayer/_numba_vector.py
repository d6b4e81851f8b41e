"""Mirrors ``src/twolayer/_vector.h`` (and the tile-row storage of ``_tile.h``): lane
vectors and tile rows as the Numba kernels spell them.

C writes LANES-wide vector operations as structs of the build's registers
(intrinsics) and a tile row in a ``restrict`` local array (``TL_T part[TL_W]``).
Numba runs LLVM without its SLP vectoriser, so the vector operations are LLVM IR
emitted by intrinsics (``Vectors``), a tile row on the stack is ``tile_scratch`` (LLVM knows nothing
aliases it and keeps it in registers, as gcc does with the C), and a tile whose
width must be a compile-time constant for its loops to unroll is ``full_tile``.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

from ._geometry import LANES, SMALL_TILE, TILE
from ._numba_jit import VECTOR_BYTES


@intrinsic
def tile_scratch(typingctx, like):
    """A tile row of like's dtype on the stack (C: ``TL_T part[TL_W]``): as long as like's
    rows (TILE, or SMALL_TILE for a small tile), in TILE elements of stack."""
    if not isinstance(like, types.Array):
        return None
    result = types.Array(like.dtype, 1, "C")

    def codegen(context, builder, signature, args):
        item = context.get_data_type(result.dtype)
        itemsize = context.get_abi_sizeof(item)
        array = context.make_array(result)(context, builder)
        shape = context.make_array(like)(context, builder, args[0]).shape
        populate_array(
            array,
            data=cgutils.alloca_once(builder, item, size=TILE),
            shape=[cgutils.unpack_tuple(builder, shape)[like.ndim - 1]],
            strides=[context.get_constant(types.intp, itemsize)],
            itemsize=itemsize,
            meminfo=None,  # not reference counted: it lives in this function's frame
        )
        return array._getvalue()

    return result(like), codegen


@intrinsic
def prefer_wide_vectors(typingctx):
    """Let LLVM's loop vectoriser use the target's widest vectors in the calling
    function (the attribute "prefer-vector-width" set to the vector register width).
    LLVM's tuning for Intel's AVX-512 server cores prefers 256 bits: the Python
    loops over a tile (tanh, exp, log1p) then ran in halves of the vectors the
    intrinsics here use, and the native build was 1.3-1.5x slower than the same
    code compiled for haswell (AVX2)."""

    def codegen(context, builder, signature, args):
        # llvmlite's attribute set knows no "key"="value" attributes: added as a set item.
        set.add(builder.function.attributes, f'"prefer-vector-width"="{VECTOR_BYTES * 8}"')
        return context.get_dummy_value()

    return types.void(), codegen


def are_tile_rows(*arrays):
    """True when every argument is a 1-D C-contiguous array of one float dtype (a tile row)."""
    dtype = getattr(arrays[0], "dtype", None)
    return dtype in (types.float32, types.float64) and all(
        isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == dtype
        for a in arrays
    )


class Vectors:
    """For the intrinsics below, which spell a loop over a tile row as LANES-wide
    vector operations (the same IEEE operations, element by element): the data
    pointers of the array arguments (``data[i]``), vector load, store, splat, and the
    loop over the row's width (``per_width``)."""

    def __init__(self, context, builder, signature, args):
        dtype = next(a.dtype for a in signature.args if isinstance(a, types.Array))
        first = next(i for i, a in enumerate(signature.args) if isinstance(a, types.Array))
        shape = context.make_array(signature.args[first])(context, builder, args[first]).shape
        self.width = cgutils.unpack_tuple(builder, shape)[0]
        self.builder = builder
        self.element = context.get_data_type(dtype)
        self.vector = ir.VectorType(self.element, LANES)
        self.align = context.get_abi_sizeof(self.element)
        self.data = [
            context.make_array(ty)(context, builder, value).data
            if isinstance(ty, types.Array)
            else None
            for ty, value in zip(signature.args, args, strict=True)
        ]

    def _address(self, pointer, offset):
        element = cgutils.gep(self.builder, pointer, offset)
        return self.builder.bitcast(element, self.vector.as_pointer())

    def load(self, pointer, offset):
        address = self._address(pointer, offset)
        return self.builder.load(address, align=self.align, typ=self.vector)

    def store(self, value, pointer, offset):
        self.builder.store(value, self._address(pointer, offset), align=self.align)

    def per_width(self, emit):
        """emit(width), the code for a row of that many samples, for the first array
        argument's width: TILE or SMALL_TILE, the only two (a branch that LLVM folds
        where the width is known, as in the block loop's tiles)."""
        full = self.builder.icmp_signed("==", self.width, ir.Constant(self.width.type, TILE))
        with self.builder.if_else(full) as (then, otherwise):
            with then:
                emit(TILE)
            with otherwise:
                emit(SMALL_TILE)

    def splat(self, scalar):
        if not isinstance(scalar, ir.Value):
            scalar = ir.Constant(self.element, scalar)
        value = ir.Constant(self.vector, ir.Undefined)
        for lane in range(LANES):
            value = self.builder.insert_element(value, scalar, ir.Constant(ir.IntType(32), lane))
        return value


def fixed_width(width):
    """An intrinsic: view(tile), the C-contiguous tile (or tile row) ``tile`` of ``width``
    samples, with that width a constant of the code. The helpers take a tile's width from
    its shape, and LLVM does not see through reshape (nor through an argument of an
    out-of-line helper): with this, their loops have constant trip counts and unroll."""

    @intrinsic
    def view(typingctx, tile):
        if not (isinstance(tile, types.Array) and tile.layout == "C"):
            return None

        def codegen(context, builder, signature, args):
            source = context.make_array(tile)(context, builder, args[0])
            result = context.make_array(tile)(context, builder)
            shape = cgutils.unpack_tuple(builder, source.shape)
            shape[-1] = context.get_constant(types.intp, width)
            populate_array(
                result,
                data=source.data,
                shape=shape,
                strides=cgutils.unpack_tuple(builder, source.strides),
                itemsize=source.itemsize,
                meminfo=source.meminfo,
                parent=source.parent,
            )
            return impl_ret_borrowed(context, builder, tile, result._getvalue())

        return tile(tile), codegen

    return view


full_tile = fixed_width(TILE)  # full tiles (the out-of-line helpers get no others)


@intrinsic
def unowned(typingctx, array):
    """array without its reference count (meminfo NULL): views made from it, and Numba's
    increfs and decrefs of them, then never touch the count (C: a plain pointer).

    Numba counts a reference for every view (a tile, a tile row, a slice of the
    parameters) as it is made and drops it when the view dies; each is an atomic add
    on the scratch's one count, a call that LLVM cannot remove. A tile's step made
    ~40 of them (0.35 us per tile on the tutorial's shape, half the gap to C). The
    caller must hold the array itself for as long as the views live."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        source = context.make_array(array)(context, builder, args[0])
        result = context.make_array(array)(context, builder)
        populate_array(
            result,
            data=source.data,
            shape=cgutils.unpack_tuple(builder, source.shape),
            strides=cgutils.unpack_tuple(builder, source.strides),
            itemsize=source.itemsize,
            meminfo=None,
        )
        return result._getvalue()

    return array(array), codegen


@intrinsic
def rows_of(typingctx, vector, start, rows, width):
    """vector[start : start + rows * width] as a C-contiguous (rows, width) array, vector
    1-D and C-contiguous: a slice and reshape made without Numba's reshape, which calls
    out to a C helper (numba_attempt_nocopy_reshape) on every use, five per block."""
    if not (isinstance(vector, types.Array) and vector.ndim == 1 and vector.layout == "C"):
        return None
    result = types.Array(vector.dtype, 2, "C", readonly=not vector.mutable)

    def codegen(context, builder, signature, args):
        source = context.make_array(vector)(context, builder, args[0])
        view = context.make_array(result)(context, builder)
        itemsize = context.get_abi_sizeof(context.get_data_type(vector.dtype))
        first, n_rows, n_cols = (context.cast(builder, value, ty, types.intp)
                                 for value, ty in zip(args[1:], signature.args[1:], strict=True))
        step = context.get_constant(types.intp, itemsize)
        populate_array(
            view,
            data=cgutils.gep(builder, source.data, first),
            shape=[n_rows, n_cols],
            strides=[builder.mul(n_cols, step), step],
            itemsize=source.itemsize,
            meminfo=source.meminfo,
            parent=source.parent,
        )
        return impl_ret_borrowed(context, builder, result, view._getvalue())

    return result(vector, start, rows, width), codegen


@intrinsic
def hold(typingctx, arrays):
    """No code: a use of arrays (a tuple) here, so that Numba keeps them (and frees none)
    until this point while their unowned aliases are in use before it."""
    if not isinstance(arrays, types.BaseTuple):
        return None

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return types.void(arrays), codegen
