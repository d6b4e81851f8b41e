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

/* Range reduction of exp, for -708 <= x <= 0 (the caller clamps; tl_tanh
 * reduces |x| its own way): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: n * ln2_hi is exact),
 * and *scale = 2^n. Adding magic = 1.5 * 2^52 + 1023 rounds x log2(e) to the
 * integer n and leaves n + 1023 in the low mantissa bits of t, which a shift
 * moves into the exponent field: 2^n in one integer operation. */
static inline double tl_reduce(double x, double* scale) {
    const double magic = 6755399441056767.0;           /* 1.5 * 2^52 + 1023 */
    double t = x * 1.4426950408889634 + magic;         /* log2(e) */
    double n = t - magic;
    *scale = tl_bits_to_double(tl_double_to_bits(t) << 52);
    double r = x - n * 6.93147180369123816490e-01;     /* ln2 high part */
    return r - n * 1.90821492927058770002e-10;         /* ln2 low part */
}

/* expm1(r) on |r| <= 0.347 as r + r^2 q(r), q of degree 9: a least-squares fit
 * on Chebyshev nodes of the relative error of expm1 (near-minimax; within 1 ulp
 * on the interval, checked in tests/test_fastmath.py), two terms shorter than
 * the Taylor series for the same accuracy. Keeping r outside the polynomial
 * keeps full relative accuracy for tiny r. */
static inline double tl_expm1_kernel(double r) {
    double q = 2.5057615108952102e-08;
    q = q * r + 2.7626248078275490e-07;
    q = q * r + 2.7557395048302514e-06;
    q = q * r + 2.4801504641869780e-05;
    q = q * r + 1.9841269733442788e-04;
    q = q * r + 1.3888888932223138e-03;
    q = q * r + 8.3333333333826600e-03;
    q = q * r + 4.1666666666574030e-02;
    q = q * r + 1.6666666666666600e-01;
    q = q * r + 5.0000000000000060e-01;
    return r + r * r * q;
}

/* exp(x) for x <= 0. Below -708 (where 2^n would be subnormal) exp(-708) ~
 * 3e-308 stands in, an absolute error under 1e-307. Written so that a NaN
 * passes through (a comparison with NaN is false). */
static inline double tl_exp_neg(double x) {
    double scale;
    double r = tl_reduce(x < -708.0 ? -708.0 : x, &scale);
    return scale + scale * tl_expm1_kernel(r);
}


static inline float tl_reducef(float x, float* scale) {
    const float magic = 12583039.0f;                   /* 1.5 * 2^23 + 127 */
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    *scale = tl_bits_to_float(tl_float_to_bits(t) << 23);
    float r = x - n * 0.693359375f;                    /* Cephes' split of ln2 */
    return r - n * -2.12194440e-4f;
}

static inline float tl_expm1_kernelf(float r) {
    float q = 1.9875691500e-4f;                        /* Cephes expf minimax polynomial */
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    return r + r * r * q;
}

static inline float tl_exp_negf(float x) {
    float scale;
    float r = tl_reducef(x < -87.0f ? -87.0f : x, &scale);
    return scale + scale * tl_expm1_kernelf(r);
}


/* tanh(|x|) = m / (-2 - m) with m = expm1(-2|x|) = 2^n (1 + E) - 1, sign
 * copied from x; E = expm1(r), -2|x| = n ln2 + r, |r| <= ln2/2.
 *
 * This is the kernels' hottest function (2,500 calls per iteration of the
 * tutorial's run), so E is Cephes' rational form rather than a polynomial:
 * E = 2r P(r^2) / (Q(r^2) - r P(r^2)) = -2M / (Q/2 + M) with M = -r P / 2, and
 * its division merges with tanh's: with s = 2^n and Q for Q/2,
 *   tanh = m (Q + M) / ((-2 - m)(Q + M)) = ((s - 1) Q - (s + 1) M) / -(s (Q - M) + Q + M).
 * The reduction works on |x| with ln2/2, so h = -r/2 and M, P, Q are
 * polynomials in h^2 (Cephes' coefficients times powers of 2: exact).
 * For n = 0 the numerator is exactly -2M (full relative accuracy near 0); the
 * denominator has no cancellation. One ln2 constant instead of a hi/lo pair:
 * the error n (ln2 - fl(ln2)) reaches tanh scaled by about 2^n (< 0.3 ulp).
 * Measured on 2,000,001 points of [-25, 25] against long double: 3.3 ulp at
 * most where multiply-adds fuse (the AVX2/AVX-512 builds, Numba on an FMA
 * CPU), 4.2 ulp in the baseline build; 10-13% fewer cycles than the
 * polynomial form. |x| is capped at 20, where tanh rounds to exactly +-1
 * (from 19.1 on); the cap is written so that a NaN passes through.
 * Rounding is the same in C and Numba: every a * b + c here can fuse only one
 * way. Hence h rather than r = -2h (LLVM turns 2a into a product, which then
 * competes to fuse), and (s + 1) M written s M + M (s M is exact: fused or not
 * it rounds once, and num keeps a single product that may fuse). */
static inline double tl_tanh(double x) {
    const double magic = 6755399441056767.0;           /* 1.5 * 2^52 + 1023 */
    double a = __builtin_fabs(x);
    a = a > 20.0 ? 20.0 : a;
    double t = a * -2.8853900817779268 + magic;        /* -2 log2(e) */
    double n = t - magic;
    double s = tl_bits_to_double(tl_double_to_bits(t) << 52);
    double h = a + n * 3.4657359027997264e-01;         /* ln2 / 2: h = -r / 2 */
    double hh = h * h;
    double P1 = 0.0020188350891969693 * hh + 0.12119776308297678;
    double Q = ((9.606352164437263e-05 * hh + 0.02019586722797473) * hh
                + 0.45453109641631007) * hh + 1.0;
    double M = (h * hh) * P1 + h;                      /* -r P(r^2) / 2 */
    double num = (s - 1.0) * Q - (s * M + M);          /* m (Q + M); s M is exact */
    double den = -(s * (Q - M) + (Q + M));             /* (-2 - m) (Q + M) */
    return __builtin_copysign(num / den, x);
}

/* float: m = (2^n - 1) + 2^n p with Cephes' expf polynomial, reduced on |x|
 * by ln2/2 (h = -r/2; coefficients 4 (-2)^i times tl_expm1_kernelf's). */
static inline float tl_tanhf(float x) {
    const float magic = 12583039.0f;                   /* 1.5 * 2^23 + 127 */
    float a = __builtin_fabsf(x);
    a = a > 10.0f ? 10.0f : a;
    float t = a * -2.88539008177792681f + magic;
    float n = t - magic;
    float scale = tl_bits_to_float(tl_float_to_bits(t) << 23);
    float h = a + n * 0.346573590279972655f;
    float Q = -2.5440884754e-02f;
    Q = Q * h + 8.9484795928e-02f;
    Q = Q * h + -2.6667046547e-01f;
    Q = Q * h + 6.6665273905e-01f;
    Q = Q * h + -1.3333332539e+00f;
    Q = Q * h + 2.0000000000e+00f;
    float p = (h * h) * Q - (h + h);
    float m = (scale - 1.0f) + scale * p;
    return __builtin_copysignf(m / (-2.0f - m), x);
}

/* log1p(e) for e in [0, 1] (fdlibm's log kernel). With f = e, or for e > sqrt(2)-1
 * f = (e - 1)/2 and k = 1 (so 1 + e = 2 (1 + f)), s = f / (2 + f) lies in
 * [-0.172, 0.172] and log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))).
 * k ln2 is a select rather than a product, so that every multiply-add has one
 * way to fuse and the FMA builds round exactly as Numba does. */
static inline double tl_log1p_unit(double e) {
    int big = e > 0.41421356237309503;
    double f = big ? (e - 1.0) * 0.5 : e;
    double ln2_hi = big ? 6.93147180369123816490e-01 : 0.0;   /* k ln2, k = 1 or 0 */
    double ln2_lo = big ? 1.90821492927058770002e-10 : 0.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double R = z * (6.666666666666735130e-01 + z * (3.999999999940941908e-01
             + z * (2.857142874366239149e-01 + z * (2.222219843214978396e-01
             + z * (1.818357216161805012e-01 + z * (1.531383769920937332e-01
             + z * 1.479819860511658591e-01))))));
    double hfsq = 0.5 * f * f;
    return ln2_hi + (f - (hfsq - (s * (hfsq + R) + ln2_lo)));
}

static inline float tl_log1p_unitf(float e) {
    int big = e > 0.41421356237f;
    float f = big ? (e - 1.0f) * 0.5f : e;
    float ln2_hi = big ? 0.693359375f : 0.0f;
    float ln2_lo = big ? -2.12194440e-4f : 0.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float R = z * (0.66666662693f + z * (0.40000972152f + z * (0.28498786688f
             + z * 0.24279078841f)));
    float hfsq = 0.5f * f * f;
    return ln2_hi + (f - (hfsq - (s * (hfsq + R) + ln2_lo)));
}

/* Per-point pieces of the output layer, given e = exp(-|z|) <= 1.
 * Loss: max(z, 0) - y z + log1p(e), the binary cross-entropy of sigmoid(z)
 * written so that it never takes log(0). Sigmoid: 1/(1 + e) for z >= 0 and
 * e/(1 + e) below, so neither side overflows. */
static inline double tl_log_loss(double z, double y, double e) {
    return (z > 0 ? z : 0.0) - y * z + tl_log1p_unit(e);
}
static inline float tl_log_lossf(float z, float y, float e) {
    return (z > 0 ? z : 0.0f) - y * z + tl_log1p_unitf(e);
}
static inline double tl_sigmoid(double z, double e) {
    double inv = 1.0 / (1.0 + e);
    return z >= 0 ? inv : e * inv;
}
static inline float tl_sigmoidf(float z, float e) {
    float inv = 1.0f / (1.0f + e);
    return z >= 0 ? inv : e * inv;
}

#endif
