/*
 * The multiply-add rate of this build's instruction set, for the roofline of
 * `twolayer bench`: independent chains of vector multiply-adds that never
 * leave the registers (no loads, no stores), enough of them to cover the
 * FMA latency on every core of the last decade (latency 4-5 cycles, up to two
 * issued per cycle). Fused where the build has FMA, as the kernels are
 * (tl_fma); in the baseline build a product and a sum count as one
 * multiply-add, as the kernels' do.
 */
#ifndef TWOLAYER_PEAK_H
#define TWOLAYER_PEAK_H

#include "_fastmath.h"

#if defined(__AVX512F__)
#define TL_PEAK_BYTES 64   /* 32 vector registers: 16 chains and the constants fit */
#define TL_PEAK_WIDE 1
#elif defined(__AVX__)
#define TL_PEAK_BYTES 32   /* 16 registers: 12 chains */
#define TL_PEAK_WIDE 0
#else
#define TL_PEAK_BYTES 16
#define TL_PEAK_WIDE 0
#endif
#define TL_PEAK_CHAINS (TL_PEAK_WIDE ? 16 : 12)

/* Named chains, not an array: GCC keeps named vectors in registers. */
#define TL_PEAK_EACH12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#if TL_PEAK_WIDE
#define TL_PEAK_EACH(M) TL_PEAK_EACH12(M) M(12) M(13) M(14) M(15)
#else
#define TL_PEAK_EACH(M) TL_PEAK_EACH12(M)
#endif

#define TL_PEAK_DEFINE(T, SUFFIX, FMA)                                                   \
typedef T tl_peak_vec##SUFFIX __attribute__((vector_size(TL_PEAK_BYTES)));               \
static inline tl_peak_vec##SUFFIX tl_peak_fma##SUFFIX(                                   \
    tl_peak_vec##SUFFIX a, tl_peak_vec##SUFFIX b, tl_peak_vec##SUFFIX c)                 \
{                                                                                        \
    tl_peak_vec##SUFFIX r;                                                               \
    for (int l = 0; l < (int)(TL_PEAK_BYTES / sizeof(T)); l++) r[l] = FMA(a[l], b[l], c[l]); \
    return r;                                                                            \
}                                                                                        \
/* Runs `rounds` rounds of one multiply-add per chain; returns the multiply-adds  \
 * done and leaves a checksum (so that nothing is optimised away). */             \
static double tl_fma_peak##SUFFIX(long rounds, double* checksum)                         \
{                                                                                        \
    tl_peak_vec##SUFFIX a, b;                                                            \
    for (int l = 0; l < (int)(TL_PEAK_BYTES / sizeof(T)); l++) {                          \
        a[l] = (T)0.999999;                                                              \
        b[l] = (T)1e-6;                                                                  \
    }                                                                                    \
    /* x -> a x + b converges to 1: normal numbers throughout. */                        \
    TL_PEAK_EACH(TL_PEAK_INIT_##SUFFIX)                                                  \
    for (long r = 0; r < rounds; r++) {                                                  \
        TL_PEAK_EACH(TL_PEAK_STEP_##SUFFIX)                                              \
    }                                                                                    \
    double sum = 0;                                                                      \
    TL_PEAK_EACH(TL_PEAK_SUM_##SUFFIX)                                                   \
    *checksum = sum;                                                                     \
    return (double)rounds * TL_PEAK_CHAINS * (TL_PEAK_BYTES / sizeof(T));                \
}

/* The chains must be computed round by round, not folded into a formula: an
 * empty asm that takes and gives back each chain in a register says so. (A
 * "memory" clobber did too, but made GCC store every chain to the stack each
 * round: the AVX2 build measured a store-bound 19 G/s where Numba's AVX2
 * kernels then ran at 140% of the "bound".) */
#if defined(__x86_64__) || defined(__i386__)
#define TL_PEAK_KEEP(x) __asm__ volatile("" : "+v"(x))
#elif defined(__aarch64__)
#define TL_PEAK_KEEP(x) __asm__ volatile("" : "+w"(x))
#else
#define TL_PEAK_KEEP(x) __asm__ volatile("" ::: "memory")
#endif

#define TL_PEAK_INIT_d(i) tl_peak_vecd x##i = b * (double)(i + 2);
#define TL_PEAK_STEP_d(i) x##i = tl_peak_fmad(x##i, a, b); TL_PEAK_KEEP(x##i);
#define TL_PEAK_SUM_d(i) for (int l = 0; l < (int)(TL_PEAK_BYTES / 8); l++) sum += x##i[l];
#define TL_PEAK_INIT_f(i) tl_peak_vecf x##i = b * (float)(i + 2);
#define TL_PEAK_STEP_f(i) x##i = tl_peak_fmaf(x##i, a, b); TL_PEAK_KEEP(x##i);
#define TL_PEAK_SUM_f(i) for (int l = 0; l < (int)(TL_PEAK_BYTES / 4); l++) sum += x##i[l];

TL_PEAK_DEFINE(double, d, tl_fma)
TL_PEAK_DEFINE(float, f, tl_fmaf)

#endif
