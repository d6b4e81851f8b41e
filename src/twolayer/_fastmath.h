/*
 * Vectorisable exp, tanh and log1p for the training kernels.
 *
 * Why: libm's scalar tanh costs about 23 ns per call and blocks vectorisation,
 * so a fused loop calling it is slower than NumPy. These are branch-free
 * (both sides of every choice are computed and one is selected), use only
 * +, *, /, integer shifts and bit casts, and inline into the kernels' loops,
 * where the compiler turns them into SIMD code.
 *
 * Accuracy: within a few ulp of the correctly rounded result on the domains
 * the kernels use (see tests/test_fastmath.py). Numba mirrors every function
 * here with the same names minus the ``tl_`` prefix and the same constants
 * (python/twolayer/_numba_kernels.py); keep the two in step.
 *
 * Domains: tl_exp_neg(x) takes x <= 0 (the kernels only ever need exp(-|z|));
 * tl_log1p_unit(e) takes e in [0, 1].
 */
#ifndef TWOLAYER_FASTMATH_H
#define TWOLAYER_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline double tl_bits_to_double(int64_t i) { double d; memcpy(&d, &i, 8); return d; }
static inline int64_t tl_double_to_bits(double d) { int64_t i; memcpy(&i, &d, 8); return i; }
static inline float tl_bits_to_float(int32_t i) { float f; memcpy(&f, &i, 4); return f; }
static inline int32_t tl_float_to_bits(float f) { int32_t i; memcpy(&i, &f, 4); return i; }

/* exp(x) for x <= 0, Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2.
 * x is clamped at -708 so that 2^n stays a normal number: exp(-708) ~ 3e-308
 * stands in for anything smaller, an absolute error below 1e-307. */
static inline double tl_exp_neg(double x) {
    const double magic = 6755399441055744.0;          /* 1.5 * 2^52: adding it rounds to an integer */
    x = x < -708.0 ? -708.0 : x;
    double t = x * 1.4426950408889634 + magic;         /* log2(e) */
    double n = t - magic;
    int64_t ni = tl_double_to_bits(t) - tl_double_to_bits(magic);
    double r = x - n * 6.93147180369123816490e-01;     /* ln2 high part: n * hi is exact */
    r = r - n * 1.90821492927058770002e-10;            /* ln2 low part */
    /* Taylor polynomial of degree 13 on |r| <= 0.347: truncation < 2e-18 relative. */
    double p = 1.6059043836821614e-10;
    p = p * r + 2.0876756987868099e-09;
    p = p * r + 2.5052108385441720e-08;
    p = p * r + 2.7557319223985888e-07;
    p = p * r + 2.7557319223985893e-06;
    p = p * r + 2.4801587301587302e-05;
    p = p * r + 1.9841269841269841e-04;
    p = p * r + 1.3888888888888889e-03;
    p = p * r + 8.3333333333333332e-03;
    p = p * r + 4.1666666666666664e-02;
    p = p * r + 1.6666666666666666e-01;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p * tl_bits_to_double((ni + 1023) << 52);
}

static inline float tl_exp_negf(float x) {
    const float magic = 12582912.0f;                   /* 1.5 * 2^23 */
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    int32_t ni = tl_float_to_bits(t) - tl_float_to_bits(magic);
    float r = x - n * 0.693359375f;                    /* Cephes' split of ln2 */
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;                        /* Cephes expf minimax polynomial */
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * tl_bits_to_float((ni + 127) << 23);
}

/* tanh: for |x| < 0.625 Cephes' rational x + x^3 P(x^2)/Q(x^2) (no cancellation
 * near 0); above, (1 - t)/(1 + t) with t = exp(-2|x|) <= 0.29, where 1 - t loses
 * nothing. Saturates to exactly +-1 for large |x| because t underflows to ~0. */
static inline double tl_tanh(double x) {
    double a = x < 0 ? -x : x;
    double z = x * x;
    double p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z
               - 1.61468768441708447952e3;
    double q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z
               + 4.84406305325125486048e3;
    double small = x + x * z * (p / q);
    double t = tl_exp_neg(-2.0 * a);
    double large = (1.0 - t) / (1.0 + t);
    large = x < 0 ? -large : large;
    return a < 0.625 ? small : large;
}

static inline float tl_tanhf(float x) {
    float a = x < 0 ? -x : x;
    float z = x * x;
    float p = -5.70498872745e-3f;                      /* Cephes tanhf polynomial */
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float t = tl_exp_negf(-2.0f * a);
    float large = (1.0f - t) / (1.0f + t);
    large = x < 0 ? -large : large;
    return a < 0.625f ? small : large;
}

/* log1p(e) for e in [0, 1] (fdlibm's log kernel). With f = e, or for e > sqrt(2)-1
 * f = (e - 1)/2 and k = 1 (so 1 + e = 2 (1 + f)), s = f / (2 + f) lies in
 * [-0.172, 0.172] and log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))). */
static inline double tl_log1p_unit(double e) {
    int big = e > 0.41421356237309503;
    double f = big ? (e - 1.0) * 0.5 : e;
    double k = big ? 1.0 : 0.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double R = z * (6.666666666666735130e-01 + z * (3.999999999940941908e-01
             + z * (2.857142874366239149e-01 + z * (2.222219843214978396e-01
             + z * (1.818357216161805012e-01 + z * (1.531383769920937332e-01
             + z * 1.479819860511658591e-01))))));
    double hfsq = 0.5 * f * f;
    return k * 6.93147180369123816490e-01
           + (f - (hfsq - (s * (hfsq + R) + k * 1.90821492927058770002e-10)));
}

static inline float tl_log1p_unitf(float e) {
    int big = e > 0.41421356237f;
    float f = big ? (e - 1.0f) * 0.5f : e;
    float k = big ? 1.0f : 0.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float R = z * (0.66666662693f + z * (0.40000972152f + z * (0.28498786688f
             + z * 0.24279078841f)));
    float hfsq = 0.5f * f * f;
    return k * 0.693359375f + (f - (hfsq - (s * (hfsq + R) + k * -2.12194440e-4f)));
}

#endif
