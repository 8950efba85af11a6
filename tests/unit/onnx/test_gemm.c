/*
 * Unit tests for the ONNX engine's packed products (gemm.c) against a naive
 * double-precision product: every microkernel the CPU can run, sizes around
 * the register tiles (MR, NR = 16) and the cache blocks (KC = 256, MC =
 * 128), accumulation into C, matrix-vector products, Gemm-style packing
 * (transposed B, alpha), and convgemm.c's convolution kernels against a
 * naive convolution (strides, dilation, edge pixel counts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "onnx/onnx_int.h"

static float value(int64_t i, int salt)
{
    return (float)((i * 2654435761u + (uint64_t)salt * 97u) % 1000u) / 500.0f - 1.0f;
}

static float *matrix(int64_t rows, int64_t cols, int salt)
{
    float *m = inf_malloc(sizeof(float) * (size_t)(rows * cols + 1));
    for (int64_t i = 0; i < rows * cols; i++)
        m[i] = value(i, salt);
    return m;
}

/* |got - want| small against the sum of |terms| (the rounding budget). */
static void expect_product(const float *got, const float *a, const float *b, const float *c0,
                           int64_t m, int64_t n, int64_t k, bool acc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = acc && c0 != NULL ? c0[i * n + j] : 0.0, mag = fabs(s);
            for (int64_t p = 0; p < k; p++) {
                s += (double)a[i * k + p] * b[p * n + j];
                mag += fabs((double)a[i * k + p] * b[p * n + j]);
            }
            double d = fabs(got[i * n + j] - s);
            if (d > 1e-5 * mag + 1e-6) {
                printf("# m=%lld n=%lld k=%lld acc=%d: C[%lld][%lld] = %g, want %g\n", (long long)m,
                       (long long)n, (long long)k, acc, (long long)i, (long long)j, got[i * n + j],
                       s);
                fail();
            }
        }
}

static const int64_t sizes[][3] = {
    {1, 1, 1},     {1, 17, 300},  {2, 16, 16},    {5, 33, 7},    {16, 16, 256},
    {17, 15, 257}, {32, 256, 64}, {130, 40, 513}, {6, 1030, 30}, {129, 600, 20},
};

static void isas_to_test(enum onnx_gemm_isa *out, int *n)
{
    enum onnx_gemm_isa best = onnx_gemm_isa_detect();
    *n = 0;
    for (int i = ONNX_GEMM_GENERIC; i <= (int)best; i++)
        out[(*n)++] = (enum onnx_gemm_isa)i;
}

static void packed_b_matches_naive(void **state)
{
    (void)state;
    enum onnx_gemm_isa isas[3];
    int n_isa;
    isas_to_test(isas, &n_isa);
    for (int t = 0; t < n_isa; t++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            int64_t m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
            float *a = matrix(m, k, 1), *b = matrix(k, n, 2), *c0 = matrix(m, n, 3);
            float *pb = onnx_alloc(onnx_gemm_packed_b_bytes(k, n));
            float *work = onnx_alloc(onnx_gemm_work_bytes_a(isas[t], m));
            float *c = inf_malloc(sizeof(float) * (size_t)(m * n));
            onnx_gemm_pack_b(b, k, n, false, 1.0f, pb);
            for (int acc = 0; acc < 2; acc++) {
                memcpy(c, c0, sizeof(float) * (size_t)(m * n));
                onnx_gemm_packed_b(isas[t], m, n, k, a, k, pb, c, n, acc, work);
                expect_product(c, a, b, c0, m, n, k, acc);
            }
            free(a);
            free(b);
            free(c0);
            free(pb);
            free(work);
            free(c);
        }
    }
}

static void pack_b_transposes_and_scales(void **state)
{
    (void)state;
    int64_t k = 20, n = 37, m = 3;
    float *bt = matrix(n, k, 7), *a = matrix(m, k, 8);
    float *b = inf_malloc(sizeof(float) * (size_t)(k * n));
    for (int64_t p = 0; p < k; p++)
        for (int64_t j = 0; j < n; j++)
            b[p * n + j] = 0.5f * bt[j * k + p];
    float *pb = onnx_alloc(onnx_gemm_packed_b_bytes(k, n));
    enum onnx_gemm_isa isa = onnx_gemm_isa_detect();
    float *work = onnx_alloc(onnx_gemm_work_bytes_a(isa, m));
    float c[3 * 37];
    onnx_gemm_pack_b(bt, k, n, true, 0.5f, pb);
    onnx_gemm_packed_b(isa, m, n, k, a, k, pb, c, n, false, work);
    expect_product(c, a, b, NULL, m, n, k, false);
    assert_non_null(onnx_gemm_isa_name(isa));
    free(bt);
    free(a);
    free(b);
    free(pb);
    free(work);
}

/* convgemm over an unpadded input: c out channels, 3x3 taps, stride 2,
 * dilation 1 or 2, widths that leave every pixel count in a row. */
static void convgemm_matches_naive(void **state)
{
    (void)state;
    enum onnx_gemm_isa isas[3];
    int n_isa;
    isas_to_test(isas, &n_isa);
    for (int t = 0; t < n_isa; t++) {
        for (int64_t cin = 1; cin <= 33; cin += 16) {
            for (int64_t dil = 1; dil <= 2; dil++) {
                int64_t cout = 21, kh = 3, kw = 3, h = 9, w = 40, s = 2;
                int64_t oh = (h - dil * (kh - 1) - 1) / s + 1,
                        ow = (w - dil * (kw - 1) - 1) / s + 1;
                int64_t k = cin * kh * kw, stride = 32;
                float *x = matrix(cin, h * w, 9), *wt = matrix(cout, k, 10);
                float *pw = onnx_alloc(onnx_gemm_packed_b_bytes(k, cout));
                float *ct = onnx_alloc(sizeof(float) * (size_t)(oh * ow * stride));
                int64_t offs[33 * 9], kk = 0;
                onnx_gemm_pack_b(wt, k, cout, true, 1.0f, pw);
                for (int64_t c = 0; c < cin; c++)
                    for (int64_t i = 0; i < kh; i++)
                        for (int64_t j = 0; j < kw; j++)
                            offs[kk++] = c * h * w + i * dil * w + j * dil;
                onnx_convgemm(isas[t], cout, k, pw, x, s * w, s, offs, oh, ow, ct, stride);
                for (int64_t oy = 0; oy < oh; oy++)
                    for (int64_t ox = 0; ox < ow; ox++)
                        for (int64_t co = 0; co < cout; co++) {
                            double sum = 0.0;
                            for (int64_t q = 0; q < k; q++)
                                sum += (double)wt[co * k + q] * x[oy * s * w + ox * s + offs[q]];
                            float got = ct[(oy * ow + ox) * stride + co];
                            if (fabs(got - sum) > 1e-4 * (1 + fabs(sum))) {
                                printf("# %s cin=%lld dil=%lld (%lld,%lld,%lld): %g want %g\n",
                                       onnx_gemm_isa_name(isas[t]), (long long)cin, (long long)dil,
                                       (long long)oy, (long long)ox, (long long)co, got, sum);
                                fail();
                            }
                        }
                free(x);
                free(wt);
                free(pw);
                free(ct);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packed_b_matches_naive),
        cmocka_unit_test(pack_b_transposes_and_scales),
        cmocka_unit_test(convgemm_matches_naive),
    };
    return cmocka_run_group_tests_name("onnx_gemm", tests, NULL, NULL);
}
