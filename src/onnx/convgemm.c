/*
 * convgemm: convolutions as products by weights packed at load, without
 * im2col. The output is computed transposed, pixels by output channels:
 * each step of the microkernel loads one aligned vector of 16 output
 * channels' weights for a tap and multiplies it by that tap's input value
 * for each of up to 14 output pixels, broadcast straight from the input
 * image (any stride or dilation; padding comes from a zero-padded copy the
 * caller makes). The input is never unrolled, the weights stream from L1/L2
 * in the panel layout gemm.c packs, and the pixel-major result is
 * transposed back to NCHW by the caller.
 *
 * Kernels: AVX-512 for 1 to 14 pixels, and portable C (vectorised for AVX2
 * by the compiler) for every other CPU. Any thread.
 */
#include "onnx/onnx_int.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CONV_X86 1
#endif

#define NR ONNX_GEMM_NR
#define KC 256 /* taps per block: a block of weights stays in L2 */
#define MP 14  /* output pixels per kernel call */

/* t[r][:] (+)= sum_k src[r * step + offs[k]] * w[k][:] for r < rows, into
 * ct rows ct_stride apart. */
static void kernel_generic(int64_t kc, const float *src, int64_t step, const int64_t *offs,
                           const float *w, float *ct, int64_t ct_stride, int rows, bool acc)
{
    float t[MP][NR];
    memset(t, 0, sizeof(t));
    for (int64_t k = 0; k < kc; k++) {
        const float *s = src + offs[k], *wk = w + k * NR;
        for (int r = 0; r < rows; r++) {
            float x = s[r * step];
            for (int j = 0; j < NR; j++)
                t[r][j] += x * wk[j];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < NR; j++)
            ct[r * ct_stride + j] = acc ? ct[r * ct_stride + j] + t[r][j] : t[r][j];
}

#ifdef CONV_X86
#if defined(__clang__)
#define CLONES
#else
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#endif

CLONES static void kernel_portable(int64_t kc, const float *src, int64_t step, const int64_t *offs,
                                   const float *w, float *ct, int64_t ct_stride, int rows, bool acc)
{
    kernel_generic(kc, src, step, offs, w, ct, ct_stride, rows, acc);
}

#define DIRECT_KERNEL(R)                                                                           \
    __attribute__((target("avx512f,avx512vl,fma"))) static void kernel_avx512_##R(                 \
        int64_t kc, const float *src, int64_t step, const int64_t *offs, const float *w,           \
        float *ct, int64_t ct_stride, bool acc)                                                    \
    {                                                                                              \
        __m512 t[R];                                                                               \
        for (int r = 0; r < R; r++)                                                                \
            t[r] = _mm512_setzero_ps();                                                            \
        for (int64_t k = 0; k < kc; k++) {                                                         \
            __m512 wv = _mm512_load_ps(w + k * NR);                                                \
            const float *s = src + offs[k];                                                        \
            for (int r = 0; r < R; r++)                                                            \
                t[r] = _mm512_fmadd_ps(_mm512_set1_ps(s[r * step]), wv, t[r]);                     \
        }                                                                                          \
        for (int r = 0; r < R; r++) {                                                              \
            float *c = ct + r * ct_stride;                                                         \
            if (acc)                                                                               \
                t[r] = _mm512_add_ps(t[r], _mm512_load_ps(c));                                     \
            _mm512_store_ps(c, t[r]);                                                              \
        }                                                                                          \
    }
DIRECT_KERNEL(1)
DIRECT_KERNEL(2)
DIRECT_KERNEL(3)
DIRECT_KERNEL(4)
DIRECT_KERNEL(5)
DIRECT_KERNEL(6)
DIRECT_KERNEL(7)
DIRECT_KERNEL(8)
DIRECT_KERNEL(9)
DIRECT_KERNEL(10)
DIRECT_KERNEL(11)
DIRECT_KERNEL(12)
DIRECT_KERNEL(13)
DIRECT_KERNEL(14)

typedef void (*direct_fn)(int64_t, const float *, int64_t, const int64_t *, const float *, float *,
                          int64_t, bool);
static const direct_fn avx512[MP + 1] = {
    NULL,
    kernel_avx512_1,
    kernel_avx512_2,
    kernel_avx512_3,
    kernel_avx512_4,
    kernel_avx512_5,
    kernel_avx512_6,
    kernel_avx512_7,
    kernel_avx512_8,
    kernel_avx512_9,
    kernel_avx512_10,
    kernel_avx512_11,
    kernel_avx512_12,
    kernel_avx512_13,
    kernel_avx512_14,
};
#endif

void onnx_convgemm(enum onnx_gemm_isa isa, int64_t cout, int64_t k, const float *pw,
                   const float *base, int64_t row_step, int64_t col_step, const int64_t *offs,
                   int64_t oh, int64_t ow, float *ct, int64_t ct_stride)
{
    ONNX_ASSERT(ct_stride % NR == 0);
    for (int64_t p = 0; p < k; p += KC) {
        int64_t kc = k - p < KC ? k - p : KC;
        for (int64_t y = 0; y < oh; y++) {
            for (int64_t x = 0; x < ow; x += MP) {
                int rows = ow - x < MP ? (int)(ow - x) : MP;
                const float *src = base + y * row_step + x * col_step;
                float *c = ct + (y * ow + x) * ct_stride;
                for (int64_t j = 0; j < cout; j += NR) {
                    /* weight panel j, its k-block p */
                    const float *w = pw + j * k + p * NR;
#ifdef CONV_X86
                    if (isa == ONNX_GEMM_AVX512) {
                        avx512[rows](kc, src, col_step, offs + p, w, c + j, ct_stride, p > 0);
                        continue;
                    }
                    kernel_portable(kc, src, col_step, offs + p, w, c + j, ct_stride, rows, p > 0);
#else
                    (void)isa;
                    kernel_generic(kc, src, col_step, offs + p, w, c + j, ct_stride, rows, p > 0);
#endif
                }
            }
        }
    }
}
