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

/* a * b + c, fused (one rounding) where the build targets FMA hardware, else
 * two roundings. Every build compiles with -ffp-contract=off, so these are the
 * only fused operations: rounding is fixed by the source, not by where the
 * compiler's optimiser happens to fuse. Numba's mirror (_fma) fuses exactly
 * here too (it used to rely on LLVM's contraction, which fused differently in
 * different compiled copies of the same function: a fit's last bits depended
 * on whether the process had compiled the kernels or loaded them from cache). */
#ifdef __FMA__
static inline double tl_fma(double a, double b, double c) { return __builtin_fma(a, b, c); }
static inline float tl_fmaf(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
#else
static inline double tl_fma(double a, double b, double c) { return a * b + c; }
static inline float tl_fmaf(float a, float b, float c) { return a * b + c; }
#endif

/* IEEE square root (correctly rounded); an instruction, vectorised, with -fno-math-errno. */
static inline double tl_sqrt(double x) { return __builtin_sqrt(x); }
static inline float tl_sqrtf(float x) { return __builtin_sqrtf(x); }

/* Range reduction of exp, for -708 <= x <= 0 (the caller clamps; tl_tanh
 * reduces |x| its own way): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: n * ln2_hi is exact),
 * and *scale = 2^n. Adding magic = 1.5 * 2^52 + 1023 rounds x log2(e) to the
 * integer n and leaves n + 1023 in the low mantissa bits of t, which a shift
 * moves into the exponent field: 2^n in one integer operation. */
static inline double tl_reduce(double x, double* scale) {
    const double magic = 6755399441056767.0;           /* 1.5 * 2^52 + 1023 */
    double t = tl_fma(x, 1.4426950408889634, magic);   /* log2(e) */
    double n = t - magic;
    *scale = tl_bits_to_double(tl_double_to_bits(t) << 52);
    double r = tl_fma(-n, 6.93147180369123816490e-01, x);   /* ln2 high part */
    return tl_fma(-n, 1.90821492927058770002e-10, r);       /* ln2 low part */
}

/* expm1(r) on |r| <= 0.347 as r + r^2 q(r), q of degree 9: a least-squares fit
 * on Chebyshev nodes of the relative error of expm1 (near-minimax; within 1 ulp
 * on the interval, checked in tests/test_fastmath.py), two terms shorter than
 * the Taylor series for the same accuracy. Keeping r outside the polynomial
 * keeps full relative accuracy for tiny r. */
static inline double tl_expm1_kernel(double r) {
    double q = 2.5057615108952102e-08;
    q = tl_fma(q, r, 2.7626248078275490e-07);
    q = tl_fma(q, r, 2.7557395048302514e-06);
    q = tl_fma(q, r, 2.4801504641869780e-05);
    q = tl_fma(q, r, 1.9841269733442788e-04);
    q = tl_fma(q, r, 1.3888888932223138e-03);
    q = tl_fma(q, r, 8.3333333333826600e-03);
    q = tl_fma(q, r, 4.1666666666574030e-02);
    q = tl_fma(q, r, 1.6666666666666600e-01);
    q = tl_fma(q, r, 5.0000000000000060e-01);
    return tl_fma(r * r, q, r);
}

/* exp(x) for x <= 0. Below -708 (where 2^n would be subnormal) exp(-708) ~
 * 3e-308 stands in, an absolute error under 1e-307. Written so that a NaN
 * passes through (a comparison with NaN is false). */
static inline double tl_exp_neg(double x) {
    double scale;
    double r = tl_reduce(x < -708.0 ? -708.0 : x, &scale);
    return tl_fma(scale, tl_expm1_kernel(r), scale);
}


static inline float tl_reducef(float x, float* scale) {
    const float magic = 12583039.0f;                   /* 1.5 * 2^23 + 127 */
    float t = tl_fmaf(x, 1.44269504088896341f, magic);
    float n = t - magic;
    *scale = tl_bits_to_float(tl_float_to_bits(t) << 23);
    float r = tl_fmaf(-n, 0.693359375f, x);            /* Cephes' split of ln2 */
    return tl_fmaf(-n, -2.12194440e-4f, r);
}

static inline float tl_expm1_kernelf(float r) {
    float q = 1.9875691500e-4f;                        /* Cephes expf minimax polynomial */
    q = tl_fmaf(q, r, 1.3981999507e-3f);
    q = tl_fmaf(q, r, 8.3334519073e-3f);
    q = tl_fmaf(q, r, 4.1665795894e-2f);
    q = tl_fmaf(q, r, 1.6666665459e-1f);
    q = tl_fmaf(q, r, 5.0000001201e-1f);
    return tl_fmaf(r * r, q, r);
}

static inline float tl_exp_negf(float x) {
    float scale;
    float r = tl_reducef(x < -87.0f ? -87.0f : x, &scale);
    return tl_fmaf(scale, tl_expm1_kernelf(r), scale);
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
 * Every fused multiply-add is an explicit tl_fma (see there), so C and Numba
 * round alike; (s + 1) M is s M + M with s M exact. */
static inline double tl_tanh(double x) {
    const double magic = 6755399441056767.0;           /* 1.5 * 2^52 + 1023 */
    double a = __builtin_fabs(x);
    a = a > 20.0 ? 20.0 : a;
    double t = tl_fma(a, -2.8853900817779268, magic);  /* -2 log2(e) */
    double n = t - magic;
    double s = tl_bits_to_double(tl_double_to_bits(t) << 52);
    double h = tl_fma(n, 3.4657359027997264e-01, a);   /* ln2 / 2: h = -r / 2 */
    double hh = h * h;
    double P1 = tl_fma(0.0020188350891969693, hh, 0.12119776308297678);
    double Q = tl_fma(tl_fma(tl_fma(9.606352164437263e-05, hh, 0.02019586722797473), hh,
                             0.45453109641631007), hh, 1.0);
    double M = tl_fma(h * hh, P1, h);                  /* -r P(r^2) / 2 */
    double num = tl_fma(s - 1.0, Q, -tl_fma(s, M, M)); /* m (Q + M); s M is exact */
    double den = -tl_fma(s, Q - M, Q + M);             /* (-2 - m) (Q + M) */
    return __builtin_copysign(num / den, x);
}

/* float: m = (2^n - 1) + 2^n p with Cephes' expf polynomial, reduced on |x|
 * by ln2/2 (h = -r/2; coefficients 4 (-2)^i times tl_expm1_kernelf's). */
static inline float tl_tanhf(float x) {
    const float magic = 12583039.0f;                   /* 1.5 * 2^23 + 127 */
    float a = __builtin_fabsf(x);
    a = a > 10.0f ? 10.0f : a;
    float t = tl_fmaf(a, -2.88539008177792681f, magic);
    float n = t - magic;
    float scale = tl_bits_to_float(tl_float_to_bits(t) << 23);
    float h = tl_fmaf(n, 0.346573590279972655f, a);
    float Q = -2.5440884754e-02f;
    Q = tl_fmaf(Q, h, 8.9484795928e-02f);
    Q = tl_fmaf(Q, h, -2.6667046547e-01f);
    Q = tl_fmaf(Q, h, 6.6665273905e-01f);
    Q = tl_fmaf(Q, h, -1.3333332539e+00f);
    Q = tl_fmaf(Q, h, 2.0000000000e+00f);
    float p = tl_fmaf(h * h, Q, -(h + h));
    float m = tl_fmaf(scale, p, scale - 1.0f);
    return __builtin_copysignf(m / (-2.0f - m), x);
}

/* log1p(e) for e in [0, 1] (fdlibm's log kernel). With f = e, or for e > sqrt(2)-1
 * f = (e - 1)/2 and k = 1 (so 1 + e = 2 (1 + f)), s = f / (2 + f) lies in
 * [-0.172, 0.172] and log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))).
 * k ln2 is a select rather than a product (k is 0 or 1). */
static inline double tl_log1p_unit(double e) {
    int big = e > 0.41421356237309503;
    double f = big ? (e - 1.0) * 0.5 : e;
    double ln2_hi = big ? 6.93147180369123816490e-01 : 0.0;   /* k ln2, k = 1 or 0 */
    double ln2_lo = big ? 1.90821492927058770002e-10 : 0.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double R = 1.479819860511658591e-01;
    R = tl_fma(z, R, 1.531383769920937332e-01);
    R = tl_fma(z, R, 1.818357216161805012e-01);
    R = tl_fma(z, R, 2.222219843214978396e-01);
    R = tl_fma(z, R, 2.857142874366239149e-01);
    R = tl_fma(z, R, 3.999999999940941908e-01);
    R = tl_fma(z, R, 6.666666666666735130e-01);
    R = z * R;
    double hfsq = 0.5 * f * f;
    return ln2_hi + (f - (hfsq - tl_fma(s, hfsq + R, ln2_lo)));
}

static inline float tl_log1p_unitf(float e) {
    int big = e > 0.41421356237f;
    float f = big ? (e - 1.0f) * 0.5f : e;
    float ln2_hi = big ? 0.693359375f : 0.0f;
    float ln2_lo = big ? -2.12194440e-4f : 0.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float R = 0.24279078841f;
    R = tl_fmaf(z, R, 0.28498786688f);
    R = tl_fmaf(z, R, 0.40000972152f);
    R = tl_fmaf(z, R, 0.66666662693f);
    R = z * R;
    float hfsq = 0.5f * f * f;
    return ln2_hi + (f - (hfsq - tl_fmaf(s, hfsq + R, ln2_lo)));
}

/* log(x) for finite x >= 1 (a softmax's sum of exp(z - max z)): x = 2^k (1 + f) with
 * f in [0, 1) from the bits, log x = k ln2 + log1p(f) with the kernel above. One
 * per sample per tile: libm's log is a scalar call that blocks vectorisation.
 * (x - x) passes a NaN or an infinity on as a NaN. */
static inline double tl_log_ge1(double x) {
    int64_t bits = tl_double_to_bits(x);
    double k = (double)((bits >> 52) - 1023);
    double f = tl_bits_to_double((bits & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL) - 1.0;
    double lo = tl_fma(k, 1.90821492927058770002e-10, tl_log1p_unit(f));
    return tl_fma(k, 6.93147180369123816490e-01, lo) + (x - x);   /* k ln2_hi is exact */
}
static inline float tl_log_ge1f(float x) {
    int32_t bits = tl_float_to_bits(x);
    float k = (float)((bits >> 23) - 127);
    float f = tl_bits_to_float((bits & 0x007FFFFF) | 0x3F800000) - 1.0f;
    float lo = tl_fmaf(k, -2.12194440e-4f, tl_log1p_unitf(f));
    return tl_fmaf(k, 0.693359375f, lo) + (x - x);
}

/* Per-point pieces of the output layer, given e = exp(-|z|) <= 1.
 * Loss: max(z, 0) - y z + log1p(e), the binary cross-entropy of sigmoid(z)
 * written so that it never takes log(0). Sigmoid: 1/(1 + e) for z >= 0 and
 * e/(1 + e) below, so neither side overflows. */
static inline double tl_log_loss(double z, double y, double e) {
    return tl_fma(-y, z, z > 0 ? z : 0.0) + tl_log1p_unit(e);
}
static inline float tl_log_lossf(float z, float y, float e) {
    return tl_fmaf(-y, z, z > 0 ? z : 0.0f) + tl_log1p_unitf(e);
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
