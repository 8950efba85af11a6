/*
 * gemm: single-precision products by a weight packed at load.
 *
 * BLAS libraries repack both operands on every call; for inference one of
 * them is a constant weight, so it is packed once, when the model loads,
 * into the layout the microkernels stream: panels of NR = 16 columns
 * ([K][16] each, zero-padded), read as aligned vectors. The activation
 * operand A is packed per call in cache-sized blocks (MC x KC, MR-row
 * panels). The microkernel keeps an MR x 16 tile of C in registers and adds
 * one rank-1 update per k; matrix edges with at most 8 live columns use a
 * kernel with one accumulator per column; a single row (batch 1) streams
 * the panels once (gemv). Convolutions use the same panels (convgemm.c).
 *
 * Three kernel families: AVX-512 (16 x 16), AVX2+FMA (6 x 16) and portable
 * C (4 x 16), picked from what the CPU reports (ONNX_GEMM_ISA=avx512|avx2|
 * generic forces a lesser one, for tests). Any thread; the products use
 * the caller's work buffer.
 */
#include "onnx/onnx_int.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GEMM_X86 1
#endif

/* Cache blocking: a packed A block (MC x KC) stays in L2, a B micro-panel
 * (KC x NR) in L1. */
#define KC 256
#define MC 128
#define NR ONNX_GEMM_NR

typedef void (*ukernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                           bool acc);

/* ---- microkernels ------------------------------------------------------- */

/* C[MR x NR] (+)= A panel (kc x MR) * B panel (kc x NR). */
static void kernel_generic(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                           bool acc)
{
    enum { MR = 4 };
    float t[MR][NR] = {{0}};
    for (int64_t k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++)
                t[r][j] += a[k * MR + r] * b[k * NR + j];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = acc ? c[r * ldc + j] + t[r][j] : t[r][j];
}

#ifdef GEMM_X86
__attribute__((target("avx2,fma"))) static void
kernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, bool acc)
{
    enum { MR = 6 };
    __m256 t[MR][2];
    for (int r = 0; r < MR; r++)
        t[r][0] = t[r][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b + k * NR), b1 = _mm256_loadu_ps(b + k * NR + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m256 av = _mm256_broadcast_ss(a + k * MR + r);
            t[r][0] = _mm256_fmadd_ps(av, b0, t[r][0]);
            t[r][1] = _mm256_fmadd_ps(av, b1, t[r][1]);
        }
    }
    for (int r = 0; r < MR; r++) {
        float *cr = c + r * ldc;
        if (acc) {
            t[r][0] = _mm256_add_ps(t[r][0], _mm256_loadu_ps(cr));
            t[r][1] = _mm256_add_ps(t[r][1], _mm256_loadu_ps(cr + 8));
        }
        _mm256_storeu_ps(cr, t[r][0]);
        _mm256_storeu_ps(cr + 8, t[r][1]);
    }
}

__attribute__((target("avx512f,avx512vl,fma"))) static void
kernel_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, bool acc)
{
    enum { MR = 16 };
    __m512 t[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        t[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 bv = _mm512_loadu_ps(b + k * NR);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
            t[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[k * MR + r]), bv, t[r]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        float *cr = c + r * ldc;
        if (acc)
            t[r] = _mm512_add_ps(t[r], _mm512_loadu_ps(cr));
        _mm512_storeu_ps(cr, t[r]);
    }
}

/* A B panel with at most 8 live columns (a matrix edge): one accumulator
 * per live column holding its 16 rows, so the cost is w FMAs per k rather
 * than 16. Writes tile[r * NR + j] for the W live columns. */
#define COLS_KERNEL(W)                                                                             \
    __attribute__((target("avx512f,avx512vl,fma"))) static void kernel_avx512_cols##W(             \
        int64_t kc, const float *a, const float *b, float *tile)                                   \
    {                                                                                              \
        __m512 t[W];                                                                               \
        for (int j = 0; j < W; j++)                                                                \
            t[j] = _mm512_setzero_ps();                                                            \
        for (int64_t k = 0; k < kc; k++) {                                                         \
            __m512 av = _mm512_loadu_ps(a + k * 16);                                               \
            for (int j = 0; j < W; j++)                                                            \
                t[j] = _mm512_fmadd_ps(av, _mm512_set1_ps(b[k * NR + j]), t[j]);                   \
        }                                                                                          \
        float col[16] __attribute__((aligned(64)));                                                \
        for (int j = 0; j < W; j++) {                                                              \
            _mm512_store_ps(col, t[j]);                                                            \
            for (int r = 0; r < 16; r++)                                                           \
                tile[r * NR + j] = col[r];                                                         \
        }                                                                                          \
    }
COLS_KERNEL(1)
COLS_KERNEL(2)
COLS_KERNEL(3)
COLS_KERNEL(4)
COLS_KERNEL(5)
COLS_KERNEL(6)
COLS_KERNEL(7)
COLS_KERNEL(8)

static void kernel_avx512_cols(int64_t kc, const float *a, const float *b, float *tile, int w)
{
    typedef void (*cols_fn)(int64_t, const float *, const float *, float *);
    static const cols_fn fns[] = {kernel_avx512_cols1, kernel_avx512_cols2, kernel_avx512_cols3,
                                  kernel_avx512_cols4, kernel_avx512_cols5, kernel_avx512_cols6,
                                  kernel_avx512_cols7, kernel_avx512_cols8};
    fns[w - 1](kc, a, b, tile);
}

#endif

typedef void (*cols_fn)(int64_t kc, const float *a, const float *b, float *tile, int w);

struct isa {
    const char *name;
    int mr;
    ukernel_fn kernel;
    cols_fn narrow; /* into a tile, for panels with at most 8 live columns, or NULL */
};

static const struct isa isas[] = {
    [ONNX_GEMM_GENERIC] = {"generic", 4, kernel_generic, NULL},
#ifdef GEMM_X86
    [ONNX_GEMM_AVX2] = {"avx2", 6, kernel_avx2, NULL},
    [ONNX_GEMM_AVX512] = {"avx512", 16, kernel_avx512, kernel_avx512_cols},
#else
    [ONNX_GEMM_AVX2] = {"generic", 4, kernel_generic, NULL},
    [ONNX_GEMM_AVX512] = {"generic", 4, kernel_generic, NULL},
#endif
};

enum onnx_gemm_isa onnx_gemm_isa_detect(void)
{
    const char *force = getenv("ONNX_GEMM_ISA");
    enum onnx_gemm_isa best = ONNX_GEMM_GENERIC;
#ifdef GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        best = ONNX_GEMM_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        best = ONNX_GEMM_AVX512;
#endif
    if (force != NULL)
        for (int i = 0; i <= (int)best; i++)
            if (strcmp(force, isas[i].name) == 0)
                return (enum onnx_gemm_isa)i;
    return best;
}

const char *onnx_gemm_isa_name(enum onnx_gemm_isa isa)
{
    return isas[isa].name;
}

/* ---- packing ------------------------------------------------------------ */

static int64_t round_up(int64_t n, int64_t m)
{
    return (n + m - 1) / m * m;
}

size_t onnx_gemm_packed_b_bytes(int64_t k, int64_t n)
{
    return sizeof(float) * (size_t)(k * round_up(n, NR));
}

void onnx_gemm_pack_b(const float *b, int64_t k, int64_t n, bool trans, float scale, float *out)
{
    /* panel j: out[j*K*NR + kk*NR + c] = B[kk][j*NR + c] (0 past n) */
    for (int64_t j0 = 0; j0 < n; j0 += NR) {
        float *panel = out + j0 * k;
        int64_t w = n - j0 < NR ? n - j0 : NR;
        for (int64_t kk = 0; kk < k; kk++) {
            float *dst = panel + kk * NR;
            for (int64_t c = 0; c < w; c++)
                dst[c] = scale * (trans ? b[(j0 + c) * k + kk] : b[kk * n + j0 + c]);
            for (int64_t c = w; c < NR; c++)
                dst[c] = 0.0f;
        }
    }
}

/* Packs rows [0, m) x cols [0, kc) of a (leading dimension lda) into MR-row
 * panels: panel i holds out[i*kc*MR + kk*MR + r] = a[(i*MR + r) * lda + kk]. */
static void pack_a(const float *a, int64_t lda, int64_t m, int64_t kc, int mr, float *out)
{
    for (int64_t i0 = 0; i0 < m; i0 += mr) {
        float *panel = out + i0 * kc;
        int64_t h = m - i0 < mr ? m - i0 : mr;
        /* Row by row: the reads stream, the writes stay in the panel (L1). */
        for (int64_t r = 0; r < h; r++) {
            const float *src = a + (i0 + r) * lda;
            for (int64_t kk = 0; kk < kc; kk++)
                panel[kk * mr + r] = src[kk];
        }
        for (int64_t r = h; r < mr; r++)
            for (int64_t kk = 0; kk < kc; kk++)
                panel[kk * mr + r] = 0.0f;
    }
}

/* ---- products ----------------------------------------------------------- */

/* C[m x n] (+)= packed A block (MR panels of kc, consecutive panels
 * a_step floats apart) * packed B block (NR panels of kc, b_step apart).
 * Edge tiles go through a local tile so the kernel always sees full ones. */
static void macro(const struct isa *isa, int64_t m, int64_t n, int64_t kc, const float *pa,
                  int64_t a_step, const float *pb, int64_t b_step, float *c, int64_t ldc, bool acc)
{
    int mr = isa->mr;
    float tile[16 * NR] __attribute__((aligned(64)));
    for (int64_t j = 0; j < n; j += NR) {
        const float *bp = pb + (j / NR) * b_step;
        int64_t w = n - j < NR ? n - j : NR;
        for (int64_t i = 0; i < m; i += mr) {
            const float *ap = pa + (i / mr) * a_step;
            int64_t h = m - i < mr ? m - i : mr;
            float *ct = c + i * ldc + j;
            if (w == NR && h == mr) {
                isa->kernel(kc, ap, bp, ct, ldc, acc);
                continue;
            }
            if (w <= 8 && isa->narrow != NULL)
                isa->narrow(kc, ap, bp, tile, (int)w);
            else
                isa->kernel(kc, ap, bp, tile, NR, false);
            for (int64_t r = 0; r < h; r++)
                for (int64_t x = 0; x < w; x++)
                    ct[r * ldc + x] = acc ? ct[r * ldc + x] + tile[r * NR + x] : tile[r * NR + x];
        }
    }
}

size_t onnx_gemm_work_bytes_a(enum onnx_gemm_isa isa, int64_t m)
{
    int64_t mc = m < MC ? m : MC;
    return sizeof(float) * (size_t)(round_up(mc, isas[isa].mr) * KC);
}

/* One row: y[n] (+)= a[k] * packed B, streaming each panel once. Four
 * chains of additions hide the FMA latency. */
static inline __attribute__((always_inline)) void gemv_packed(int64_t n, int64_t k, const float *a,
                                                              const float *pb, float *y, bool acc)
{
    for (int64_t j = 0; j < n; j += NR) {
        const float *panel = pb + j * k;
        float t0[NR] = {0}, t1[NR] = {0}, t2[NR] = {0}, t3[NR] = {0};
        int64_t kk = 0;
        for (; kk + 3 < k; kk += 4) {
            const float *p = panel + kk * NR;
            for (int c = 0; c < NR; c++) {
                t0[c] += a[kk] * p[c];
                t1[c] += a[kk + 1] * p[NR + c];
                t2[c] += a[kk + 2] * p[2 * NR + c];
                t3[c] += a[kk + 3] * p[3 * NR + c];
            }
        }
        for (; kk < k; kk++)
            for (int c = 0; c < NR; c++)
                t0[c] += a[kk] * panel[kk * NR + c];
        int64_t w = n - j < NR ? n - j : NR;
        for (int64_t c = 0; c < w; c++)
            y[j + c] = (acc ? y[j + c] : 0.0f) + ((t0[c] + t1[c]) + (t2[c] + t3[c]));
    }
}

#ifdef GEMM_X86
__attribute__((target("avx2,fma"))) static void
gemv_packed_avx2(int64_t n, int64_t k, const float *a, const float *pb, float *y, bool acc)
{
    gemv_packed(n, k, a, pb, y, acc);
}

__attribute__((target("avx512f,avx512vl,fma"))) static void
gemv_packed_avx512(int64_t n, int64_t k, const float *a, const float *pb, float *y, bool acc)
{
    gemv_packed(n, k, a, pb, y, acc);
}
#endif

void onnx_gemm_packed_b(enum onnx_gemm_isa isa_id, int64_t m, int64_t n, int64_t k, const float *a,
                        int64_t lda, const float *pb, float *c, int64_t ldc, bool acc, float *work)
{
    const struct isa *isa = &isas[isa_id];
    if (m == 1) {
#ifdef GEMM_X86
        if (isa_id == ONNX_GEMM_AVX512)
            gemv_packed_avx512(n, k, a, pb, c, acc);
        else if (isa_id == ONNX_GEMM_AVX2)
            gemv_packed_avx2(n, k, a, pb, c, acc);
        else
#endif
            gemv_packed(n, k, a, pb, c, acc);
        return;
    }
    for (int64_t p = 0; p < k; p += KC) {
        int64_t kc = k - p < KC ? k - p : KC;
        for (int64_t i = 0; i < m; i += MC) {
            int64_t mc = m - i < MC ? m - i : MC;
            pack_a(a + i * lda + p, lda, mc, kc, isa->mr, work);
            /* B's panels hold all of K: the k-block starts p rows in. */
            macro(isa, mc, n, kc, work, kc * isa->mr, pb + p * NR, k * NR, c + i * ldc, ldc,
                  acc || p > 0);
        }
    }
}
