/*
 * Unit tests for the ONNX engine against the cases tests/onnx/make_models.py
 * writes to tests/onnx/data: every per-operator case (edge cases of
 * broadcasting, padding, strides, dilations, groups, negative axes,
 * folding) and the whole models (MLP, CNN, ResNet-style, depthwise,
 * transformer encoder), whose outputs must be within 1e-4 relative of the
 * numpy references. Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "onnx_case.h"

#define DATA "tests/onnx/data"

/* Whole models: 1e-4 relative, with an absolute floor for values near 0. */
#define MODEL_RTOL 1e-4
#define MODEL_ATOL 1e-5

static void ops_cases_all_pass(void **state)
{
    (void)state;
    int count;
    int failures = case_run_all(DATA "/ops", 1e-4, 1e-5, &count);
    assert_int_equal(failures, 0);
    assert_true(count > 100);
}

static void run_model(const char *name)
{
    char *dir = inf_asprintf("%s/models/%s", DATA, name);
    char msg[1024] = "";
    bool ok = case_run(dir, MODEL_RTOL, MODEL_ATOL, msg, sizeof(msg));
    if (!ok)
        printf("# %s: %s\n", name, msg);
    free(dir);
    assert_true(ok);
}

static void model_mlp(void **state)
{
    (void)state;
    run_model("mlp");
}

static void model_cnn(void **state)
{
    (void)state;
    run_model("cnn");
}

static void model_resnet_style(void **state)
{
    (void)state;
    run_model("resnet_style");
}

static void model_depthwise(void **state)
{
    (void)state;
    run_model("depthwise");
}

static void model_transformer(void **state)
{
    (void)state;
    run_model("transformer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ops_cases_all_pass), cmocka_unit_test(model_mlp),
        cmocka_unit_test(model_cnn),          cmocka_unit_test(model_resnet_style),
        cmocka_unit_test(model_depthwise),    cmocka_unit_test(model_transformer),
    };
    return cmocka_run_group_tests_name("onnx_models", tests, NULL, NULL);
}
