/*
 * Tile primitives of the training kernels, for float and double.
 *
 * A tile is TL_TILE samples; every row of a tile (one feature, hidden unit or
 * output over those samples) is contiguous. These loops live in C rather than
 * in the .pyx because C can say `restrict`: with it the compiler keeps a whole
 * tile row in vector registers across a layer product, which Cython's output
 * (no aliasing information) does not get.
 *
 * _tile_impl.h holds the code once; it is included once per type.
 * Numba mirror: python/twolayer/_numba_kernels.py (same names without tl_).
 */
#ifndef TWOLAYER_TILE_H
#define TWOLAYER_TILE_H

#include <stddef.h>
#include "_fastmath.h"

/* TL_TILE (samples per tile), TL_SMALL_TILE (samples per small tile), TL_LANES (independent partial sums per sum over
 * samples), TL_FEATURE_CHUNK (feature rows per pass when the inputs are wide)
 * and TL_TILES_PER_BLOCK come from python/twolayer/_geometry.py, their one
 * owner: CMakeLists.txt passes them as -D definitions. */
#if !defined(TL_TILE) || !defined(TL_LANES) || !defined(TL_FEATURE_CHUNK) || \
    !defined(TL_TILES_PER_BLOCK) || !defined(TL_ALIGN) || !defined(TL_SMALL_TILE)
#error "kernel geometry missing: CMakeLists.txt passes it from python/twolayer/_geometry.py"
#endif

/* Samples per pass of a layer product (tl_combine_more): eight vector
 * registers of partial sums. A float64 tile is 16 AVX2 registers, all of
 * them, and gcc then spilled every partial sum to the stack on every row
 * (AVX2 build 2x slower than Numba's code for the same CPU); AVX-512 holds a
 * whole tile in 8 of its 32. Passes reorder samples only, never a sum: every
 * build rounds as before. */
#if defined(__AVX512F__)
#define TL_VECTOR_BYTES 64
#elif defined(__AVX__)
#define TL_VECTOR_BYTES 32
#else
#define TL_VECTOR_BYTES 16
#endif
#define TL_PASS(T) (8 * TL_VECTOR_BYTES / (ptrdiff_t)sizeof(T) < TL_W \
                    ? 8 * TL_VECTOR_BYTES / (ptrdiff_t)sizeof(T) : TL_W)

#include "_vector.h"

/* Register blocks of the layer products (tl_forward_block, tl_grad_block): a
 * block of UNITS hidden units times VECS sample vectors (forward), or REGS
 * grad registers of hidden units times FEATURES feature rows (W1 sums, one
 * register-wide part of the lane vectors at a time; _vector.h), keeps its
 * partial sums in registers, and every value loaded serves a whole row or
 * column of the block. Counted in registers: with AVX-512's 32, 16 sums and 8
 * operands (4 x 4); with the 16 of AVX2 or SSE2, 12 sums, the loaded column
 * and one broadcast weight (6 x 2; measured on the large run's tile, AVX2: 13%
 * faster than 2 x 2 lane vectors), and for the W1 sums 3 x 4 with 3 dz
 * registers and one x (15% faster). Twelve independent sums also cover the
 * multiply-add's latency (4 cycles, 2 per cycle: 8 needed). The blocks change
 * which sums run side by side, never a sum's order. */
#if defined(__AVX512F__)
#define TL_FWD_UNITS 4
#define TL_FWD_VECS 4
#define TL_GRAD_REGS 4
#define TL_GRAD_FEATURES 4
#else
#define TL_FWD_UNITS 6
#define TL_FWD_VECS 2
#define TL_GRAD_REGS 3
#define TL_GRAD_FEATURES 4
#endif

#define TL_W TL_TILE
#define TL_T double
#define TL_V tl_vd
#define TL_G tl_gd
#define TL_GVEC(name) name##d
#define TL_G_UNITS TL_GD_UNITS
#define TL_PART_WIDTH TL_VD_WIDTH
#define TL_VEC(name) name##d
#define TL_S tl_sd
#define TL_SVEC(name) name##sd
#define TL_S_WIDTH TL_SD_WIDTH
#define TL_MATH(name) name
#define TL_NAME(name) name
#include "_tile_impl.h"
#include "_optimizer_impl.h"
#include "_gather_impl.h"
#undef TL_T
#undef TL_V
#undef TL_G
#undef TL_GVEC
#undef TL_G_UNITS
#undef TL_PART_WIDTH
#undef TL_VEC
#undef TL_S
#undef TL_SVEC
#undef TL_S_WIDTH
#undef TL_MATH
#undef TL_NAME

#define TL_T float
#define TL_V tl_vf
#define TL_G tl_gf
#define TL_GVEC(name) name##f
#define TL_G_UNITS TL_GF_UNITS
#define TL_PART_WIDTH TL_VF_WIDTH
#define TL_VEC(name) name##f
#define TL_S tl_sf
#define TL_SVEC(name) name##sf
#define TL_S_WIDTH TL_SF_WIDTH
#define TL_MATH(name) name##f
#define TL_NAME(name) name##f
#include "_tile_impl.h"
#include "_optimizer_impl.h"
#include "_gather_impl.h"
#undef TL_T
#undef TL_V
#undef TL_G
#undef TL_GVEC
#undef TL_G_UNITS
#undef TL_PART_WIDTH
#undef TL_VEC
#undef TL_S
#undef TL_SVEC
#undef TL_S_WIDTH
#undef TL_MATH
#undef TL_NAME
#undef TL_W

/* The same code for small tiles of TL_SMALL_TILE samples (suffix _s): the
 * samples left at the end of a block, which a full tile would pad (a batch of
 * 200 is 3 tiles and 8 samples: 256 slots padded, 208 with a small tile).
 * TL_SMALL_TILE is a multiple of TL_LANES, so every sample keeps its lane and
 * its place in each lane's sum: the sums are those of the padded tile, bit for
 * bit (padding adds exact zeros). */
#define TL_W TL_SMALL_TILE
#define TL_T double
#define TL_V tl_vd
#define TL_G tl_gd
#define TL_GVEC(name) name##d
#define TL_G_UNITS TL_GD_UNITS
#define TL_PART_WIDTH TL_VD_WIDTH
#define TL_VEC(name) name##d
#define TL_S tl_sd
#define TL_SVEC(name) name##sd
#define TL_S_WIDTH TL_SD_WIDTH
#define TL_MATH(name) name
#define TL_NAME(name) name##_s
#include "_tile_impl.h"
#undef TL_T
#undef TL_V
#undef TL_G
#undef TL_GVEC
#undef TL_G_UNITS
#undef TL_PART_WIDTH
#undef TL_VEC
#undef TL_S
#undef TL_SVEC
#undef TL_S_WIDTH
#undef TL_MATH
#undef TL_NAME

#define TL_T float
#define TL_V tl_vf
#define TL_G tl_gf
#define TL_GVEC(name) name##f
#define TL_G_UNITS TL_GF_UNITS
#define TL_PART_WIDTH TL_VF_WIDTH
#define TL_VEC(name) name##f
#define TL_S tl_sf
#define TL_SVEC(name) name##sf
#define TL_S_WIDTH TL_SF_WIDTH
#define TL_MATH(name) name##f
#define TL_NAME(name) name##f_s
#include "_tile_impl.h"
#undef TL_T
#undef TL_V
#undef TL_G
#undef TL_GVEC
#undef TL_G_UNITS
#undef TL_PART_WIDTH
#undef TL_VEC
#undef TL_S
#undef TL_SVEC
#undef TL_S_WIDTH
#undef TL_MATH
#undef TL_NAME
#undef TL_W

#endif
