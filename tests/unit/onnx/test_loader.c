/*
 * Unit tests for the ONNX engine's loader and graph passes: models it must
 * refuse (each error names the operator, node, value or file at fault),
 * malformed and truncated files, the input/output descriptions, tensor
 * parsing, external data, and the internal shape helpers. Uses the models
 * tests/onnx/make_models.py writes; run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <unistd.h>

#include "onnx_case.h"

#define DATA "tests/onnx/data"

/* Loading fails with code, and the message contains each of the strings. */
static void expect_load_error(const char *model, int code, const char *want1, const char *want2)
{
    char *path = inf_asprintf("%s/bad/%s/model.onnx", DATA, model);
    struct onnx_model *m = (struct onnx_model *)1;
    struct inf_err err = {0};
    int rc = onnx_model_load(path, &m, &err);
    if (rc != code || strstr(err.msg, want1) == NULL ||
        (want2 != NULL && strstr(err.msg, want2) == NULL))
        printf("# %s: rc=%d msg=%s\n", model, rc, err.msg);
    assert_int_equal(rc, code);
    assert_null(m);
    assert_non_null(strstr(err.msg, path)); /* context first: the file */
    assert_non_null(strstr(err.msg, want1));
    if (want2 != NULL)
        assert_non_null(strstr(err.msg, want2));
    free(path);
}

/* ---- refused models ----------------------------------------------------- */

static void unsupported_operator_names_op_and_node(void **state)
{
    (void)state;
    expect_load_error("unsupported_op", INF_EUNSUPPORTED, "node 'resize1' (Resize)",
                      "operator Resize is not supported");
}

static void unsupported_attribute_is_refused(void **state)
{
    (void)state;
    expect_load_error("unsupported_attribute", INF_EUNSUPPORTED, "node 'relu1' (Relu)",
                      "attribute 'alpha' is not supported");
    expect_load_error("unsupported_attribute_value", INF_EUNSUPPORTED,
                      "node 'bn1' (BatchNormalization)", "training mode");
}

static void custom_domain_is_refused(void **state)
{
    (void)state;
    expect_load_error("custom_domain", INF_EUNSUPPORTED, "node 'gelu1' (FastGelu)",
                      "domain 'com.microsoft'");
}

static void old_opset_is_refused(void **state)
{
    (void)state;
    expect_load_error("opset_too_old", INF_EUNSUPPORTED, "opset 5 is not supported", NULL);
}

static void broken_graphs_are_refused(void **state)
{
    (void)state;
    expect_load_error("undefined_input", INF_EINVAL, "node 'add1' (Add)",
                      "input 'nowhere' is not defined");
    expect_load_error("cycle", INF_EINVAL, "part of a cycle", NULL);
    expect_load_error("defined_twice", INF_EINVAL, "value 'y' is defined twice", NULL);
    expect_load_error("no_outputs", INF_EINVAL, "no outputs", NULL);
}

static void static_shape_errors_fail_the_load(void **state)
{
    (void)state;
    expect_load_error("shape_mismatch", INF_EINVAL, "node 'mm1' (MatMul)",
                      "inner dimensions differ");
    expect_load_error("data_dependent_shape", INF_EUNSUPPORTED, "node 'reshape1' (Reshape)",
                      "data-dependent");
}

static void unsupported_input_type_is_refused(void **state)
{
    (void)state;
    expect_load_error("float16_input", INF_EUNSUPPORTED, "input 'x'",
                      "element type float16 is not supported");
}

static void external_data_outside_the_folder_is_refused(void **state)
{
    (void)state;
    expect_load_error("external_outside", INF_EINVAL, "../../secret.bin",
                      "inside the model's folder");
}

/* ---- malformed files ---------------------------------------------------- */

static void missing_file_is_not_found(void **state)
{
    (void)state;
    struct onnx_model *m;
    struct inf_err err = {0};
    assert_int_equal(onnx_model_load("tests/onnx/data/nope.onnx", &m, &err), INF_ENOTFOUND);
    assert_null(m);
    assert_non_null(strstr(err.msg, "tests/onnx/data/nope.onnx"));
    assert_int_equal(onnx_model_load("tests/onnx/data", &m, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "not a model file"));
}

static void garbage_is_an_error(void **state)
{
    (void)state;
    struct onnx_model *m;
    struct inf_err err = {0};
    const char junk[] = "\xff\xff\xff\xff this is not a protobuf";
    assert_int_equal(onnx_model_load_mem(junk, sizeof(junk), "junk.onnx", &m, &err), INF_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "junk.onnx: not a valid ONNX model"));
    /* An empty message decodes but has no graph or opset. */
    assert_int_equal(onnx_model_load_mem("", 0, "empty", &m, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "no opset"));
}

static void every_truncation_is_an_error_not_a_crash(void **state)
{
    (void)state;
    char *buf;
    size_t len;
    struct inf_err err = {0};
    assert_int_equal(inf_read_file(DATA "/models/cnn/model.onnx", 1 << 24, &buf, &len, &err), 0);
    for (size_t cut = 0; cut < len; cut += 1 + cut / 16) {
        struct onnx_model *m = NULL;
        if (onnx_model_load_mem(buf, cut, "cut", &m, &err) == 0)
            onnx_model_free(m); /* a cut between whole fields can be valid */
    }
    /* Flipped bytes: errors or (rarely) valid models, never crashes. */
    for (size_t i = 0; i < len; i += 7) {
        char saved = buf[i];
        buf[i] = (char)(buf[i] ^ 0x5a);
        struct onnx_model *m = NULL;
        if (onnx_model_load_mem(buf, len, "flip", &m, &err) == 0)
            onnx_model_free(m);
        buf[i] = saved;
    }
    free(buf);
}

/* ---- descriptions ------------------------------------------------------- */

static void descriptions_come_from_the_graph(void **state)
{
    (void)state;
    struct onnx_model *m;
    struct inf_err err = {0};
    assert_int_equal(onnx_model_load(DATA "/models/transformer/model.onnx", &m, &err), 0);
    assert_int_equal(onnx_model_opset(m), 17);
    assert_int_equal(onnx_model_input_count(m), 2);
    const struct onnx_io_desc *ids = onnx_model_input(m, 0);
    assert_string_equal(ids->name, "input_ids");
    assert_int_equal(ids->dtype, ONNX_DTYPE_INT64);
    assert_int_equal(ids->rank, 2);
    assert_int_equal(ids->dims[0], -1);
    assert_int_equal(ids->dims[1], -1);
    assert_string_equal(ids->dim_names[0], "batch");
    assert_string_equal(ids->dim_names[1], "seq");
    assert_int_equal(onnx_model_input_find(m, "attention_mask"), 1);
    assert_int_equal(onnx_model_input_find(m, "nope"), -1);
    assert_int_equal(onnx_model_output_count(m), 2);
    const struct onnx_io_desc *out = onnx_model_output(m, 1);
    assert_string_equal(out->name, "scores");
    assert_int_equal(out->dtype, ONNX_DTYPE_FLOAT);
    assert_int_equal(out->rank, 2);
    assert_int_equal(out->dims[0], -1);
    assert_int_equal(out->dims[1], 3);
    onnx_model_free(m);
}

static void undeclared_output_shapes_are_inferred(void **state)
{
    (void)state;
    struct onnx_model *m;
    struct inf_err err = {0};
    /* The op cases declare outputs without a shape. */
    assert_int_equal(onnx_model_load(DATA "/ops/conv_stride2_asym_pads/model.onnx", &m, &err), 0);
    const struct onnx_io_desc *y = onnx_model_output(m, 0);
    assert_int_equal(y->dtype, ONNX_DTYPE_FLOAT);
    assert_int_equal(y->rank, 4);
    assert_int_equal(y->dims[0], 1);
    assert_int_equal(y->dims[1], 4);
    assert_int_equal(y->dims[2], 3); /* (7 + 0 + 1 - 3) / 2 + 1 */
    assert_int_equal(y->dims[3], 4); /* (7 + 1 + 2 - 3) / 2 + 1 */
    onnx_model_free(m);
}

static void load_mem_matches_load(void **state)
{
    (void)state;
    char *buf;
    size_t len;
    struct inf_err err = {0};
    struct onnx_model *m;
    assert_int_equal(inf_read_file(DATA "/models/mlp/model.onnx", 1 << 24, &buf, &len, &err), 0);
    assert_int_equal(onnx_model_load_mem(buf, len, "mlp", &m, &err), 0);
    free(buf);
    assert_int_equal(onnx_model_input_count(m), 1);
    assert_int_equal(onnx_model_input(m, 0)->dims[1], 64);
    onnx_model_free(m);
    onnx_model_free(NULL);
}

/* ---- graph rewrites ----------------------------------------------------- */

static int count_op(const struct onnx_model *m, const char *op)
{
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        n += strcmp(m->nodes[i].op->name, op) == 0;
    return n;
}

static void batchnorm_and_relu_fold_into_conv(void **state)
{
    (void)state;
    struct onnx_model *m;
    struct inf_err err = {0};
    assert_int_equal(onnx_model_load(DATA "/models/resnet_style/model.onnx", &m, &err), 0);
    assert_int_equal(count_op(m, "BatchNormalization"), 0);
    assert_int_equal(count_op(m, "Relu"), 0); /* into Conv, or into the residual Add */
    assert_int_equal(count_op(m, "Conv"), 6);
    int relu_convs = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].op->name, "Conv") == 0)
            relu_convs += m->nodes[i].p.conv.act.kind == ONNX_ACT_RELU;
    assert_int_equal(relu_convs, 3);
    onnx_model_free(m);
}

static void gelu_and_bias_fold_into_matmul(void **state)
{
    (void)state;
    struct onnx_model *m;
    struct inf_err err = {0};
    assert_int_equal(onnx_model_load(DATA "/models/transformer/model.onnx", &m, &err), 0);
    assert_int_equal(count_op(m, "Erf"), 0);
    assert_int_equal(count_op(m, "Gelu"), 0);
    int gelu = 0, biased = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const struct onnx_node *n = &m->nodes[i];
        if (strcmp(n->op->name, "MatMul") == 0) {
            gelu += n->p.gemm.act.kind == ONNX_ACT_GELU;
            biased += n->n_in == 3;
        }
    }
    assert_int_equal(gelu, 2);       /* one FFN per layer */
    assert_int_equal(biased, 2 * 6); /* q, k, v, out, ffn1, ffn2 per layer */
    /* Shape chains and constants are gone before planning. */
    assert_int_equal(count_op(m, "Constant"), 0);
    onnx_model_free(m);
}

/* ---- tensors and helpers ------------------------------------------------ */

static void tensor_parse_checks_sizes(void **state)
{
    (void)state;
    struct onnx_tensor t;
    void *own;
    struct inf_err err = {0};
    /* dims [2, 2], float, raw_data of 12 bytes instead of 16 */
    static const uint8_t bad[] = {0x08, 0x02, 0x08, 0x02, 0x10, 0x01, 0x4a, 0x0c, 0, 0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0, 0};
    assert_int_equal(onnx_model_tensor_parse(bad, sizeof(bad), &t, &own, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "raw_data has 12 bytes, expected 16"));
    /* the same with 16 bytes: 1.0f, 2.0f, 3.0f, 4.0f */
    static const uint8_t good[] = {0x08, 0x02, 0x08, 0x02, 0x10, 0x01, 0x4a, 0x10,
                                   0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,
                                   0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40};
    assert_int_equal(onnx_model_tensor_parse(good, sizeof(good), &t, &own, &err), 0);
    assert_int_equal(t.dtype, ONNX_DTYPE_FLOAT);
    assert_int_equal(t.rank, 2);
    assert_true(((float *)t.data)[3] == 4.0f);
    free(own);
    /* a string tensor (data_type 8) */
    static const uint8_t str[] = {0x08, 0x01, 0x10, 0x08};
    assert_int_equal(onnx_model_tensor_parse(str, sizeof(str), &t, &own, &err), INF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "element type string"));
    /* a huge shape: 2^31 x 2^31 */
    static const uint8_t huge[] = {0x08, 0x80, 0x80, 0x80, 0x80, 0x08, 0x08,
                                   0x80, 0x80, 0x80, 0x80, 0x08, 0x10, 0x01};
    assert_int_not_equal(onnx_model_tensor_parse(huge, sizeof(huge), &t, &own, &err), 0);
}

static void shape_helpers(void **state)
{
    (void)state;
    struct inf_err err = {0};
    struct onnx_tensor a = {.rank = 3, .dims = {2, 1, 4}}, b = {.rank = 2, .dims = {3, 1}}, y;
    assert_int_equal(onnx_shape_broadcast(&a, &b, &y, &err), 0);
    assert_int_equal(y.rank, 3);
    assert_int_equal(y.dims[0], 2);
    assert_int_equal(y.dims[1], 3);
    assert_int_equal(y.dims[2], 4);
    struct onnx_tensor c = {.rank = 1, .dims = {5}};
    assert_int_equal(onnx_shape_broadcast(&a, &c, &y, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "4 and 5"));
    int64_t ax;
    assert_int_equal(onnx_shape_axis(-1, 3, &ax, &err), 0);
    assert_int_equal(ax, 2);
    assert_int_equal(onnx_shape_axis(3, 3, &ax, &err), INF_EINVAL);
    assert_int_equal(onnx_shape_axis(-4, 3, &ax, &err), INF_EINVAL);
    int64_t n, big[3] = {INT64_C(1) << 20, INT64_C(1) << 20, 1 << 10};
    assert_int_equal(onnx_shape_numel(big, 2, &n, &err), INF_ETOOBIG);
    assert_int_equal(onnx_shape_numel(big, 3, &n, &err), INF_ETOOBIG);
    int64_t neg[2] = {2, -1};
    assert_int_equal(onnx_shape_numel(neg, 2, &n, &err), INF_EINVAL);
    int64_t ok[2] = {3, 0};
    assert_int_equal(onnx_shape_numel(ok, 2, &n, &err), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unsupported_operator_names_op_and_node),
        cmocka_unit_test(unsupported_attribute_is_refused),
        cmocka_unit_test(custom_domain_is_refused),
        cmocka_unit_test(old_opset_is_refused),
        cmocka_unit_test(broken_graphs_are_refused),
        cmocka_unit_test(static_shape_errors_fail_the_load),
        cmocka_unit_test(unsupported_input_type_is_refused),
        cmocka_unit_test(external_data_outside_the_folder_is_refused),
        cmocka_unit_test(missing_file_is_not_found),
        cmocka_unit_test(garbage_is_an_error),
        cmocka_unit_test(every_truncation_is_an_error_not_a_crash),
        cmocka_unit_test(descriptions_come_from_the_graph),
        cmocka_unit_test(undeclared_output_shapes_are_inferred),
        cmocka_unit_test(load_mem_matches_load),
        cmocka_unit_test(batchnorm_and_relu_fold_into_conv),
        cmocka_unit_test(gelu_and_bias_fold_into_matmul),
        cmocka_unit_test(tensor_parse_checks_sizes),
        cmocka_unit_test(shape_helpers),
    };
    return cmocka_run_group_tests_name("onnx_loader", tests, NULL, NULL);
}
