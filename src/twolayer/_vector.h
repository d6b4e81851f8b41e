/*
 * Lane vectors: TL_LANES (8) values of one type, the unit of the
 * register-blocked tile loops (_tile_impl.h). A lane vector holds one lane
 * sum per lane, or TL_LANES consecutive samples of a tile row.
 *
 * Why explicit vectors: the blocked loops keep a dozen or more of them in
 * registers across a whole layer product; written as plain loops over small
 * arrays, gcc 12 sometimes kept them in memory or did not vectorise at all
 * (the float lane dots came out scalar). A lane vector is a struct of the
 * build's own registers: one AVX-512 register or two AVX2 ones for doubles,
 * one AVX2/AVX-512VL register for floats, 16-byte generic vectors in the
 * baseline build (SSE2, or NEON on other CPUs). Structs of registers stay in
 * registers; a 64-byte generic vector did not where no register is that wide
 * (the compiler moved it through the stack).
 *
 * Each lane vector is TL_V*_PARTS parts (tl_pd / tl_ps: one register each,
 * TL_V*_WIDTH values); loops that keep many sums in registers go part by part
 * (tl_grad_block), so that a block is counted in registers, not lane vectors.
 *
 * Rounding: tl_vfma* fuses exactly where tl_fma does (_fastmath.h): one
 * rounding in the FMA builds, two in the baseline build. Each element is the
 * scalar operation of the same element, so the blocked loops round as the
 * scalar loops they replace, bit for bit.
 */
#ifndef TWOLAYER_VECTOR_H
#define TWOLAYER_VECTOR_H

#include <stddef.h>
#include <string.h>

#if TL_LANES != 8
#error "_vector.h: lane vectors are written for TL_LANES == 8"
#endif

#if defined(__FMA__) && defined(__AVX2__)
#include <immintrin.h>
#if defined(__AVX512F__)
typedef __m512d tl_pd;   /* a part: one register */
typedef struct { __m512d p[1]; } tl_vd;
#define TL_VD_PARTS 1
#define TL_VD_WIDTH 8
#define tl_pd_load _mm512_loadu_pd
#define tl_pd_store _mm512_storeu_pd
#define tl_pd_set _mm512_set1_pd
#define tl_pd_fma _mm512_fmadd_pd
#define tl_pd_fnma _mm512_fnmadd_pd
#define tl_pd_mul _mm512_mul_pd
#define tl_pd_add _mm512_add_pd
#else
typedef __m256d tl_pd;
typedef struct { __m256d p[2]; } tl_vd;
#define TL_VD_PARTS 2
#define TL_VD_WIDTH 4
#define tl_pd_load _mm256_loadu_pd
#define tl_pd_store _mm256_storeu_pd
#define tl_pd_set _mm256_set1_pd
#define tl_pd_fma _mm256_fmadd_pd
#define tl_pd_fnma _mm256_fnmadd_pd
#define tl_pd_mul _mm256_mul_pd
#define tl_pd_add _mm256_add_pd
#endif
typedef __m256 tl_ps;
typedef struct { __m256 p[1]; } tl_vf;
#define TL_VF_PARTS 1
#define TL_VF_WIDTH 8
#define tl_ps_load _mm256_loadu_ps
#define tl_ps_store _mm256_storeu_ps
#define tl_ps_set _mm256_set1_ps
#define tl_ps_fma _mm256_fmadd_ps
#define tl_ps_fnma _mm256_fnmadd_ps
#define tl_ps_mul _mm256_mul_ps
#define tl_ps_add _mm256_add_ps

#else   /* baseline: 16-byte generic vectors, two roundings per multiply-add */
typedef double tl_d2 __attribute__((vector_size(16)));
typedef float tl_f4 __attribute__((vector_size(16)));
typedef tl_d2 tl_pd;
typedef tl_f4 tl_ps;
typedef struct { tl_d2 p[4]; } tl_vd;
typedef struct { tl_f4 p[2]; } tl_vf;
#define TL_VD_PARTS 4
#define TL_VD_WIDTH 2
#define TL_VF_PARTS 2
#define TL_VF_WIDTH 4
static inline tl_d2 tl_pd_load(const double* p) { tl_d2 v; memcpy(&v, p, sizeof v); return v; }
static inline tl_f4 tl_ps_load(const float* p) { tl_f4 v; memcpy(&v, p, sizeof v); return v; }
static inline void tl_pd_store(double* p, tl_d2 v) { memcpy(p, &v, sizeof v); }
static inline void tl_ps_store(float* p, tl_f4 v) { memcpy(p, &v, sizeof v); }
static inline tl_d2 tl_pd_set(double x) { tl_d2 v = {x, x}; return v; }
static inline tl_f4 tl_ps_set(float x) { tl_f4 v = {x, x, x, x}; return v; }
/* -ffp-contract=off keeps these two roundings, as tl_fma's fallback. */
static inline tl_d2 tl_pd_fma(tl_d2 a, tl_d2 b, tl_d2 c) { return a * b + c; }
static inline tl_f4 tl_ps_fma(tl_f4 a, tl_f4 b, tl_f4 c) { return a * b + c; }
static inline tl_d2 tl_pd_fnma(tl_d2 a, tl_d2 b, tl_d2 c) { return c - a * b; }
static inline tl_f4 tl_ps_fnma(tl_f4 a, tl_f4 b, tl_f4 c) { return c - a * b; }
static inline tl_d2 tl_pd_mul(tl_d2 a, tl_d2 b) { return a * b; }
static inline tl_f4 tl_ps_mul(tl_f4 a, tl_f4 b) { return a * b; }
static inline tl_d2 tl_pd_add(tl_d2 a, tl_d2 b) { return a + b; }
static inline tl_f4 tl_ps_add(tl_f4 a, tl_f4 b) { return a + b; }
#endif

/* The lane-vector operations, part by part. */
#define TL_VECTOR_OP2(V, PARTS, name, op)                                                \
    static inline V name(V a, V b)                                                     \
    {                                                                                  \
        V r;                                                                           \
        for (int i = 0; i < PARTS; i++) r.p[i] = op(a.p[i], b.p[i]);                   \
        return r;                                                                      \
    }
#define TL_VECTOR_OP3(V, PARTS, name, op)                                                \
    static inline V name(V a, V b, V c)                                                \
    {                                                                                  \
        V r;                                                                           \
        for (int i = 0; i < PARTS; i++) r.p[i] = op(a.p[i], b.p[i], c.p[i]);           \
        return r;                                                                      \
    }
/* tl_vfma: a * b + c, and tl_vfnma: c - a * b = tl_fma(-a, b, c) (negation is
 * exact), element by element, fused where tl_fma is. */
#define TL_VECTOR_OPS(V, T, sfx, PARTS, WIDTH, load, store, set, fma, fnma, mul, add)       \
    static inline V tl_vload##sfx(const T* p)                                          \
    {                                                                                  \
        V v;                                                                           \
        for (int i = 0; i < PARTS; i++) v.p[i] = load(p + i * WIDTH);                  \
        return v;                                                                      \
    }                                                                                  \
    static inline void tl_vstore##sfx(T* p, V v)                                       \
    {                                                                                  \
        for (int i = 0; i < PARTS; i++) store(p + i * WIDTH, v.p[i]);                  \
    }                                                                                  \
    static inline V tl_vset##sfx(T x)                                                  \
    {                                                                                  \
        V v;                                                                           \
        for (int i = 0; i < PARTS; i++) v.p[i] = set(x);                               \
        return v;                                                                      \
    }                                                                                  \
    TL_VECTOR_OP3(V, PARTS, tl_vfma##sfx, fma)                                         \
    TL_VECTOR_OP3(V, PARTS, tl_vfnma##sfx, fnma)                                       \
    TL_VECTOR_OP2(V, PARTS, tl_vmul##sfx, mul)                                         \
    TL_VECTOR_OP2(V, PARTS, tl_vadd##sfx, add)

TL_VECTOR_OPS(tl_vd, double, d, TL_VD_PARTS, TL_VD_WIDTH, tl_pd_load, tl_pd_store, tl_pd_set,
              tl_pd_fma, tl_pd_fnma, tl_pd_mul, tl_pd_add)
TL_VECTOR_OPS(tl_vf, float, f, TL_VF_PARTS, TL_VF_WIDTH, tl_ps_load, tl_ps_store, tl_ps_set,
              tl_ps_fma, tl_ps_fnma, tl_ps_mul, tl_ps_add)

/* Sample vectors: the forward product's unit, where samples are independent
 * and no lane sum fixes the width: one register of the build, the widest it
 * has. For doubles with AVX2 that is half a lane vector (4 doubles), for floats
 * with AVX-512 two lane vectors (16 floats). The forward blocks (_tile.h) are
 * counted in registers, so that they fill the register file of each build. */
typedef struct { tl_pd p[1]; } tl_sd;
#define TL_SD_WIDTH TL_VD_WIDTH
TL_VECTOR_OPS(tl_sd, double, sd, 1, TL_VD_WIDTH, tl_pd_load, tl_pd_store, tl_pd_set, tl_pd_fma,
              tl_pd_fnma, tl_pd_mul, tl_pd_add)
#if defined(__AVX512F__) && defined(__FMA__)
typedef struct { __m512 p[1]; } tl_sf;
#define TL_SF_WIDTH 16
TL_VECTOR_OPS(tl_sf, float, sf, 1, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
              _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_mul_ps, _mm512_add_ps)
#else
typedef struct { tl_ps p[1]; } tl_sf;
#define TL_SF_WIDTH TL_VF_WIDTH
TL_VECTOR_OPS(tl_sf, float, sf, 1, TL_VF_WIDTH, tl_ps_load, tl_ps_store, tl_ps_set, tl_ps_fma,
              tl_ps_fnma, tl_ps_mul, tl_ps_add)
#endif
/* Grad registers: the unit of the W1 sums (tl_grad_block). One register-wide
 * part of a lane vector, except for floats with AVX-512, where a lane vector
 * is half a register: there one register holds the lane vectors of two hidden
 * units, the x values broadcast to both halves, so that the multiply-adds run
 * at the register's full width (measured: the large run's float32 iteration
 * 13% faster).
 * tl_gload/tl_gstore take the distance from one unit's values to the next's;
 * 0 repeats a unit in both halves (an odd unit out: both halves compute the
 * same sums, stored twice to the same place). Each lane's sum is the same. */
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__)
typedef __m512 tl_gf;
#define TL_GF_UNITS 2
static inline tl_gf tl_gloadf(const float* p, ptrdiff_t next_unit)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)),
                              _mm256_loadu_ps(p + next_unit), 1);
}
static inline tl_gf tl_gbroadcastf(const float* p)
{
    return _mm512_broadcast_f32x8(_mm256_loadu_ps(p));
}
static inline void tl_gstoref(float* p, ptrdiff_t next_unit, tl_gf v)
{
    _mm256_storeu_ps(p, _mm512_castps512_ps256(v));
    _mm256_storeu_ps(p + next_unit, _mm512_extractf32x8_ps(v, 1));
}
#define tl_gfmaf _mm512_fmadd_ps
#endif
/* A grad register that is one part of a lane vector: one unit, its part's own
 * load, store and multiply-add. */
#define TL_GRAD_PART(G, T, sfx, P, load, store)                                         \
    typedef P G;                                                                       \
    static inline G tl_gload##sfx(const T* p, ptrdiff_t next_unit)                     \
    {                                                                                  \
        (void)next_unit;                                                               \
        return load(p);                                                                \
    }                                                                                  \
    static inline G tl_gbroadcast##sfx(const T* p) { return load(p); }                 \
    static inline void tl_gstore##sfx(T* p, ptrdiff_t next_unit, G v)                  \
    {                                                                                  \
        (void)next_unit;                                                               \
        store(p, v);                                                                   \
    }
#if !(defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__))
#define TL_GF_UNITS 1
TL_GRAD_PART(tl_gf, float, f, tl_ps, tl_ps_load, tl_ps_store)
#define tl_gfmaf tl_ps_fma
#endif
#define TL_GD_UNITS 1
TL_GRAD_PART(tl_gd, double, d, tl_pd, tl_pd_load, tl_pd_store)
#define tl_gfmad tl_pd_fma
#undef TL_GRAD_PART

#undef TL_VECTOR_OPS
#undef TL_VECTOR_OP2
#undef TL_VECTOR_OP3

#endif
