/*
 * vmath: the transcendental functions the kernels apply to whole arrays
 * (exp, erf, tanh, sigmoid, GELU) and the row operations built on them
 * (softmax, layer normalisation), written as branch-free loops the compiler
 * vectorises. Each array function is compiled for AVX-512, AVX2+FMA and
 * baseline x86-64, and the loader picks the best the CPU has at run time
 * (target_clones): nothing assumes a particular processor.
 *
 * Accuracy: exp within about 2 ulp (range reduction by ln 2, degree-6
 * polynomial); erf within 2e-7 absolute (Taylor series below 0.5, the
 * Abramowitz-Stegun 7.1.26 form with this exp above). Pure functions; any
 * thread.
 */
#include "onnx/onnx_int.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VMATH_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VMATH_CLONES
#endif

/* e^x for one lane: x = n ln2 + r, |r| <= ln2/2, e^r by its Taylor
 * polynomial, 2^n by building the exponent bits. Saturates to 0 / inf. */
static inline float exp_lane(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
    /* Clamped so the exponent fits (NaN becomes -87.33: no undefined
     * float-to-int conversion; the result is fixed up below). */
    float xc = x > -87.33f ? x : -87.33f;
    xc = xc < 88.72f ? xc : 88.72f;
    /* Round to nearest by the 1.5 * 2^23 trick: no SSE4.1 rounding needed. */
    float n = (xc * log2e + 12582912.0f) - 12582912.0f;
    float r = (xc - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    float y = p * scale;
    y = x < -87.33f ? 0.0f : y;
    y = x > 88.72f ? INFINITY : y;
    return x != x ? x : y;
}

/* erf for one lane. */
static inline float erf_lane(float x)
{
    float a = fabsf(x);
    /* |x| < 0.5: 2/sqrt(pi) * sum (-1)^k x^(2k+1) / (k! (2k+1)) */
    float z = x * x;
    float s = -1.0f / 75600.0f; /* k = 7: 1/(5040*15) */
    s = s * z + 1.0f / 9360.0f; /* k = 6 */
    s = s * z - 1.0f / 1320.0f; /* k = 5 */
    s = s * z + 1.0f / 216.0f;  /* k = 4 */
    s = s * z - 1.0f / 42.0f;   /* k = 3 */
    s = s * z + 1.0f / 10.0f;   /* k = 2 */
    s = s * z - 1.0f / 3.0f;    /* k = 1 */
    s = s * z + 1.0f;           /* k = 0 */
    float small = 1.12837916709551257f * x * s;
    /* |x| >= 0.5: 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^(-x^2), t = 1/(1 + p|x|) */
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float q = 1.061405429f;
    q = q * t - 1.453152027f;
    q = q * t + 1.421413741f;
    q = q * t - 0.284496736f;
    q = q * t + 0.254829592f;
    float large = 1.0f - q * t * exp_lane(-z);
    large = x < 0.0f ? -large : large;
    return a < 0.5f ? small : large;
}

VMATH_CLONES
void onnx_vmath_exp(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = exp_lane(x[i]);
}

VMATH_CLONES
void onnx_vmath_erf(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = erf_lane(x[i]);
}

VMATH_CLONES
void onnx_vmath_sigmoid(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + exp_lane(-x[i]));
}

/* tanh(x) = sign(x) (1 - e^(-2|x|)) / (1 + e^(-2|x|)); below 2^-12 the
 * identity tanh x = x is exact in float and avoids cancellation. */
VMATH_CLONES
void onnx_vmath_tanh(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        float e = exp_lane(-2.0f * a);
        float t = (1.0f - e) / (1.0f + e);
        t = x[i] < 0.0f ? -t : t;
        y[i] = a < 0x1p-12f ? x[i] : t;
    }
}

/* GELU, the exact (erf) form: x/2 (1 + erf(x / sqrt 2)), in place. */
VMATH_CLONES
void onnx_vmath_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erf_lane(x[i] * 0.70710678118654752f));
}

/* Reductions keep LANES partial results so that they vectorise without
 * reassociating float additions behind the programmer's back. */
#define LANES 16

static inline float row_max(const float *x, size_t n)
{
    float part[LANES];
    for (int j = 0; j < LANES; j++)
        part[j] = -INFINITY;
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            part[j] = x[i + j] > part[j] ? x[i + j] : part[j];
    float max = -INFINITY;
    for (int j = 0; j < LANES; j++)
        max = part[j] > max ? part[j] : max;
    for (; i < n; i++)
        max = x[i] > max ? x[i] : max;
    return max;
}

static inline float row_sum(const float *x, size_t n)
{
    float part[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            part[j] += x[i + j];
    float sum = 0.0f;
    for (int j = 0; j < LANES; j++)
        sum += part[j];
    for (; i < n; i++)
        sum += x[i];
    return sum;
}

/* Sum of (x - c)^2. */
static inline float row_sqdev(const float *x, size_t n, float c)
{
    float part[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            part[j] += (x[i + j] - c) * (x[i + j] - c);
    float sum = 0.0f;
    for (int j = 0; j < LANES; j++)
        sum += part[j];
    for (; i < n; i++)
        sum += (x[i] - c) * (x[i] - c);
    return sum;
}

/* Softmax of one contiguous row. */
VMATH_CLONES
void onnx_vmath_softmax(float *restrict y, const float *restrict x, size_t n)
{
    float max = row_max(x, n);
    if (max == -INFINITY)
        max = 0.0f;
    for (size_t i = 0; i < n; i++)
        y[i] = exp_lane(x[i] - max);
    float inv = 1.0f / row_sum(y, n);
    for (size_t i = 0; i < n; i++)
        y[i] *= inv;
}

/* Normalises one row to zero mean and unit variance, then y = v * scale +
 * bias (scale/bias: n values, or one when the *_all flag is false; bias may
 * be NULL). Returns the mean and 1/stddev through the pointers. */
VMATH_CLONES
void onnx_vmath_layernorm(float *restrict y, const float *restrict x, size_t n, const float *scale,
                          bool scale_all, const float *bias, bool bias_all, float eps,
                          float *mean_out, float *inv_out)
{
    float mean = row_sum(x, n) / (float)n;
    float inv = 1.0f / sqrtf(row_sqdev(x, n, mean) / (float)n + eps);
    if (scale_all && bias != NULL && bias_all) {
        for (size_t i = 0; i < n; i++)
            y[i] = (x[i] - mean) * inv * scale[i] + bias[i];
    } else {
        for (size_t i = 0; i < n; i++) {
            float v = (x[i] - mean) * inv * scale[scale_all ? i : 0];
            y[i] = bias != NULL ? v + bias[bias_all ? i : 0] : v;
        }
    }
    *mean_out = mean;
    *inv_out = inv;
}
