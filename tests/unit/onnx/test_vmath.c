/*
 * Unit tests for the ONNX engine's array maths (vmath.c): exp, erf, tanh,
 * sigmoid and GELU against libm over their useful range, the special
 * values (NaN, infinities, overflow and underflow), and softmax and layer
 * normalisation rows, including a row that is all -inf (a fully masked
 * attention row).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "onnx/onnx_int.h"

#define N 2001

static float xs[N];

static void fill(float lo, float hi)
{
    for (int i = 0; i < N; i++)
        xs[i] = lo + (hi - lo) * (float)i / (float)(N - 1);
}

/* Relative error within rel, with an absolute floor abs. */
static void close_to(float got, double want, double rel, double abs, const char *what, float x)
{
    if (!(fabs(got - want) <= abs + rel * fabs(want))) {
        printf("# %s(%.9g) = %.9g, want %.9g\n", what, x, got, want);
        fail();
    }
}

static void exp_is_accurate(void **state)
{
    (void)state;
    float y[N];
    fill(-87.0f, 88.0f);
    onnx_vmath_exp(y, xs, N);
    for (int i = 0; i < N; i++)
        close_to(y[i], exp((double)xs[i]), 3e-7, 0, "exp", xs[i]);
}

static void exp_special_values(void **state)
{
    (void)state;
    float x[6] = {NAN, INFINITY, -INFINITY, 100.0f, -100.0f, 0.0f}, y[6];
    onnx_vmath_exp(y, x, 6);
    assert_true(isnan(y[0]));
    assert_true(isinf(y[1]) && y[1] > 0);
    assert_true(y[2] == 0.0f);
    assert_true(isinf(y[3]));
    assert_true(y[4] == 0.0f);
    assert_true(y[5] == 1.0f);
}

static void erf_is_accurate(void **state)
{
    (void)state;
    float y[N];
    fill(-6.0f, 6.0f);
    onnx_vmath_erf(y, xs, N);
    for (int i = 0; i < N; i++)
        close_to(y[i], erf((double)xs[i]), 1e-6, 2e-7, "erf", xs[i]);
    float tiny[3] = {1e-30f, -1e-8f, 0.0f}, t[3];
    onnx_vmath_erf(t, tiny, 3);
    for (int i = 0; i < 3; i++)
        close_to(t[i], erf((double)tiny[i]), 1e-6, 0, "erf", tiny[i]);
}

static void tanh_sigmoid_gelu_are_accurate(void **state)
{
    (void)state;
    float y[N], g[N];
    fill(-20.0f, 20.0f);
    onnx_vmath_tanh(y, xs, N);
    for (int i = 0; i < N; i++)
        close_to(y[i], tanh((double)xs[i]), 1e-6, 1e-7, "tanh", xs[i]);
    onnx_vmath_sigmoid(y, xs, N);
    for (int i = 0; i < N; i++)
        close_to(y[i], 1.0 / (1.0 + exp(-(double)xs[i])), 1e-6, 1e-12, "sigmoid", xs[i]);
    for (int i = 0; i < N; i++)
        g[i] = xs[i];
    onnx_vmath_gelu(g, N);
    for (int i = 0; i < N; i++) {
        double x = xs[i];
        close_to(g[i], 0.5 * x * (1.0 + erf(x / sqrt(2.0))), 1e-6, 1e-6, "gelu", xs[i]);
    }
    float x0 = 1e-6f, t;
    onnx_vmath_tanh(&t, &x0, 1);
    assert_true(t == x0);
}

static void softmax_rows(void **state)
{
    (void)state;
    float x[5] = {1000.0f, 1001.0f, 1002.0f, -INFINITY, 1000.0f}, y[5];
    onnx_vmath_softmax(y, x, 5);
    double e[5] = {exp(-2.0), exp(-1.0), 1.0, 0.0, exp(-2.0)}, sum = 0;
    for (int i = 0; i < 5; i++)
        sum += e[i];
    for (int i = 0; i < 5; i++)
        close_to(y[i], e[i] / sum, 1e-6, 1e-12, "softmax", x[i]);
    /* A fully masked row has no distribution: NaN, as numpy and PyTorch
     * give, rather than a made-up uniform one. */
    float m[3] = {-INFINITY, -INFINITY, -INFINITY}, z[3];
    onnx_vmath_softmax(z, m, 3);
    for (int i = 0; i < 3; i++)
        assert_true(isnan(z[i]));
    /* Long rows use every partial sum. */
    float big[37], out[37];
    for (int i = 0; i < 37; i++)
        big[i] = (float)i * 0.1f;
    onnx_vmath_softmax(out, big, 37);
    double total = 0;
    for (int i = 0; i < 37; i++)
        total += out[i];
    assert_true(fabs(total - 1.0) < 1e-6);
}

static void layernorm_row(void **state)
{
    (void)state;
    float x[19], y[19], scale[19], bias[19], mean, inv;
    double s = 0, v = 0;
    for (int i = 0; i < 19; i++) {
        x[i] = (float)((i * 7) % 11) - 3.0f;
        scale[i] = 1.0f + 0.1f * (float)i;
        bias[i] = -0.5f * (float)i;
        s += x[i];
    }
    double mu = s / 19;
    for (int i = 0; i < 19; i++)
        v += (x[i] - mu) * (x[i] - mu);
    double sd = 1.0 / sqrt(v / 19 + 1e-5);
    onnx_vmath_layernorm(y, x, 19, scale, true, bias, true, 1e-5f, &mean, &inv);
    close_to(mean, mu, 1e-6, 1e-7, "mean", 0);
    close_to(inv, sd, 1e-6, 0, "invstd", 0);
    for (int i = 0; i < 19; i++)
        close_to(y[i], (x[i] - mu) * sd * scale[i] + bias[i], 1e-5, 1e-6, "layernorm", x[i]);
    /* one scale for all, no bias */
    onnx_vmath_layernorm(y, x, 19, scale, false, NULL, false, 1e-5f, &mean, &inv);
    for (int i = 0; i < 19; i++)
        close_to(y[i], (x[i] - mu) * sd * scale[0], 1e-5, 1e-6, "layernorm", x[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exp_is_accurate), cmocka_unit_test(exp_special_values),
        cmocka_unit_test(erf_is_accurate), cmocka_unit_test(tanh_sigmoid_gelu_are_accurate),
        cmocka_unit_test(softmax_rows),    cmocka_unit_test(layernorm_row),
    };
    return cmocka_run_group_tests_name("onnx_vmath", tests, NULL, NULL);
}
