/*
 * Unit tests for the onnx backend: finding the model file in a model folder
 * (plain, one sub-folder, MLflow onnx flavor, the refusals), loading (an
 * unsupported operator names itself), both request forms against the
 * engine's committed test models and their numpy reference outputs
 * (tests/onnx/data: MLP, the two-input two-output transformer, bool and
 * rank-0 inputs), every validation error, and the Swagger documents. Run
 * from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/onnx_backend.h"
#include "core/util.h"
#include "onnx/onnx_int.h" /* onnx_model_tensor_parse: the reference .pb files */

#define DATA "tests/onnx/data"
#define MLP DATA "/models/mlp"
#define TRANSFORMER DATA "/models/transformer"

/* ---- helpers -------------------------------------------------------------- */

static char *make_tmpdir(void)
{
    char *dir = inf_strdup("/tmp/onnx-backend-test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char *path = inf_asprintf("%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    assert_int_equal(inf_mkdir_p(path, 0700, NULL), 0);
    *slash = '/';
    assert_int_equal(inf_write_file_atomic(path, text, strlen(text), 0600, NULL), 0);
    free(path);
}

static void copy_file(const char *from, const char *dir, const char *name)
{
    char *data;
    size_t len;
    assert_int_equal(inf_read_file(from, (size_t)1 << 26, &data, &len, NULL), 0);
    char *path = inf_asprintf("%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    assert_int_equal(inf_mkdir_p(path, 0700, NULL), 0);
    *slash = '/';
    assert_int_equal(inf_write_file_atomic(path, data, len, 0600, NULL), 0);
    free(path);
    free(data);
}

static void *load_ok(const char *model_dir)
{
    struct backend_config cfg = {.model_dir = model_dir, .timeout_ms = 5000};
    struct inf_err err;
    void *state = NULL;
    int rc = onnx_backend_ops.load(&cfg, &state, &err);
    if (rc != 0)
        printf("# load %s: %s\n", model_dir, err.msg);
    assert_int_equal(rc, 0);
    return state;
}

/* POSTs body; checks the status; returns the parsed response. */
static json_t *score(void *state, const char *body, int want_status)
{
    struct backend_request req = {.method = "POST",
                                  .path = "/score",
                                  .query = "",
                                  .content_type = "application/json",
                                  .body = body,
                                  .body_len = strlen(body),
                                  .request_id = "test"};
    struct backend_response res;
    memset(&res, 0, sizeof(res));
    assert_int_equal(onnx_backend_ops.score(state, &req, &res), 0);
    if (res.status != want_status)
        printf("# status %d, body %.*s\n", res.status, (int)res.body_len, res.body);
    assert_int_equal(res.status, want_status);
    assert_string_equal(res.content_type, "application/json");
    json_error_t jerr;
    json_t *out = json_loadb(res.body, res.body_len, 0, &jerr);
    if (out == NULL)
        printf("# response is not JSON (%s): %.*s\n", jerr.text, (int)res.body_len, res.body);
    assert_non_null(out);
    backend_response_fini(&res);
    return out;
}

/* Scores body expecting an error status whose message contains every
 * NULL-terminated fragment. */
static void score_fails(void *state, const char *body, int want_status, ...)
{
    json_t *out = score(state, body, want_status);
    const char *msg = json_string_value(json_object_get(out, "message"));
    assert_non_null(msg);
    va_list ap;
    va_start(ap, want_status);
    for (const char *want = va_arg(ap, const char *); want != NULL;
         want = va_arg(ap, const char *)) {
        if (strstr(msg, want) == NULL)
            printf("# message \"%s\" lacks \"%s\"\n", msg, want);
        assert_non_null(strstr(msg, want));
    }
    va_end(ap);
    json_decref(out);
}

/* A reference tensor from an ONNX test data file. */
struct ref {
    struct onnx_tensor t;
    void *own;
};

static void ref_read(struct ref *r, const char *dir, const char *file)
{
    char *path = inf_asprintf("%s/%s", dir, file);
    char *buf;
    size_t len;
    struct inf_err err;
    assert_int_equal(inf_read_file(path, (size_t)1 << 26, &buf, &len, &err), 0);
    assert_int_equal(onnx_model_tensor_parse(buf, len, &r->t, &r->own, &err), 0);
    free(buf);
    free(path);
}

static void ref_free(struct ref *r)
{
    free(r->own);
}

static json_t *element_json(const struct onnx_tensor *t, int64_t k)
{
    switch (t->dtype) {
    case ONNX_DTYPE_FLOAT:
        return json_real(((const float *)t->data)[k]);
    case ONNX_DTYPE_INT64:
        return json_integer(((const int64_t *)t->data)[k]);
    case ONNX_DTYPE_INT32:
        return json_integer(((const int32_t *)t->data)[k]);
    default:
        return json_boolean(((const uint8_t *)t->data)[k] != 0);
    }
}

static json_t *nested_json(const struct onnx_tensor *t, int depth, int64_t *k)
{
    if (depth == t->rank)
        return element_json(t, (*k)++);
    json_t *a = json_array();
    for (int64_t j = 0; j < t->dims[depth]; j++)
        json_array_append_new(a, nested_json(t, depth + 1, k));
    return a;
}

/* t as a nested list, as text (caller frees). */
static char *nested_text(const struct onnx_tensor *t)
{
    int64_t k = 0;
    json_t *v = nested_json(t, 0, &k);
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(v);
    return s;
}

/* An Open Inference Protocol input for t, data flat or nested. */
static json_t *oip_input(const char *name, const struct onnx_tensor *t, bool nested)
{
    static const char *const names[] = {[ONNX_DTYPE_FLOAT] = "FP32",
                                        [ONNX_DTYPE_INT32] = "INT32",
                                        [ONNX_DTYPE_INT64] = "INT64",
                                        [ONNX_DTYPE_BOOL] = "BOOL"};
    json_t *shape = json_array(), *data;
    for (int d = 0; d < t->rank; d++)
        json_array_append_new(shape, json_integer(t->dims[d]));
    if (nested) {
        int64_t k = 0;
        data = nested_json(t, 0, &k);
    } else {
        data = json_array();
        for (int64_t k = 0; k < onnx_tensor_numel(t); k++)
            json_array_append_new(data, element_json(t, k));
    }
    return json_pack("{s:s,s:o,s:s,s:o}", "name", name, "shape", shape, "datatype", names[t->dtype],
                     "data", data);
}

static void flatten(const json_t *v, json_t *into)
{
    if (!json_is_array(v)) {
        json_array_append(into, (json_t *)v);
        return;
    }
    for (size_t i = 0; i < json_array_size(v); i++)
        flatten(json_array_get(v, i), into);
}

/* The shape of a nested list. */
static int nested_shape(const json_t *v, int64_t *dims)
{
    int rank = 0;
    for (; json_is_array(v); v = json_array_get(v, 0))
        dims[rank++] = (int64_t)json_array_size(v);
    return rank;
}

/* got (a nested or flat list) holds want's values: floats within 1e-5
 * relative (the response prints 9 digits), others exactly. */
static void assert_values(const json_t *got, const struct onnx_tensor *want)
{
    json_t *flat = json_array();
    flatten(got, flat);
    assert_int_equal((int64_t)json_array_size(flat), onnx_tensor_numel(want));
    for (int64_t k = 0; k < onnx_tensor_numel(want); k++) {
        const json_t *g = json_array_get(flat, (size_t)k);
        switch (want->dtype) {
        case ONNX_DTYPE_FLOAT: {
            double w = ((const float *)want->data)[k];
            assert_true(json_is_number(g));
            double d = json_number_value(g);
            if (fabs(d - w) > 1e-6 + 1e-5 * fabs(w))
                printf("# element %lld: got %.9g, want %.9g\n", (long long)k, d, w);
            assert_true(fabs(d - w) <= 1e-6 + 1e-5 * fabs(w));
            break;
        }
        case ONNX_DTYPE_INT64:
            assert_int_equal(json_integer_value(g), ((const int64_t *)want->data)[k]);
            break;
        default:
            assert_true(json_is_boolean(g));
            assert_int_equal(json_is_true(g), ((const uint8_t *)want->data)[k] != 0);
            break;
        }
    }
    json_decref(flat);
}

/* A nested response: same shape and values as want. */
static void assert_nested(const json_t *got, const struct onnx_tensor *want)
{
    int64_t dims[ONNX_MAX_RANK + 1];
    int rank = nested_shape(got, dims);
    assert_int_equal(rank, want->rank);
    for (int d = 0; d < rank; d++)
        assert_int_equal(dims[d], want->dims[d]);
    assert_values(got, want);
}

/* A protocol output: name, datatype, shape and flat data as want. */
static void assert_oip_output(const json_t *out, const char *name, const char *datatype,
                              const struct onnx_tensor *want)
{
    assert_string_equal(json_string_value(json_object_get(out, "name")), name);
    assert_string_equal(json_string_value(json_object_get(out, "datatype")), datatype);
    const json_t *shape = json_object_get(out, "shape");
    assert_int_equal(json_array_size(shape), want->rank);
    for (int d = 0; d < want->rank; d++)
        assert_int_equal(json_integer_value(json_array_get(shape, (size_t)d)), want->dims[d]);
    const json_t *data = json_object_get(out, "data");
    for (size_t i = 0; i < json_array_size(data); i++)
        assert_false(json_is_array(json_array_get(data, i)));
    assert_values(data, want);
}

/* ---- finding the model ------------------------------------------------------ */

static void find_model_at_root(void **state)
{
    (void)state;
    char *path = NULL;
    struct inf_err err;
    assert_int_equal(onnx_backend_find_model(MLP, &path, &err), 0);
    assert_string_equal(path, MLP "/model.onnx");
    free(path);
}

static void find_model_in_one_sub_folder(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    copy_file(MLP "/model.onnx", dir, "model/mlp.onnx");
    write_text(dir, "model/README.md", "notes\n");
    write_text(dir, "model/.hidden.onnx", "not a model\n");
    char *path = NULL;
    struct inf_err err;
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), 0);
    char *want = inf_asprintf("%s/model/mlp.onnx", dir);
    assert_string_equal(path, want);
    free(want);
    free(path);
    inf_rm_rf(dir, NULL);
    free(dir);
}

static void find_model_refuses_several_files(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    copy_file(MLP "/model.onnx", dir, "model/b.onnx");
    copy_file(MLP "/model.onnx", dir, "model/a.onnx");
    char *path = NULL;
    struct inf_err err;
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_EINVAL);
    assert_null(path);
    assert_non_null(strstr(err.msg, "model/"));
    assert_non_null(strstr(err.msg, "several ONNX models (a.onnx, b.onnx)"));
    inf_rm_rf(dir, NULL);
    free(dir);
}

static void find_model_refuses_several_folders(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    copy_file(MLP "/model.onnx", dir, "one/m.onnx");
    copy_file(MLP "/model.onnx", dir, "two/m.onnx");
    char *path = NULL;
    struct inf_err err;
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "several model folders (one, two)"));
    inf_rm_rf(dir, NULL);
    free(dir);
}

static void find_model_not_onnx(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    write_text(dir, "model/model.pkl", "pickle\n");
    char *path = NULL;
    struct inf_err err;
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no .onnx file"));
    assert_int_equal(onnx_backend_find_model("/nonexistent/model", &path, &err), INF_ENOTFOUND);
    inf_rm_rf(dir, NULL);
    free(dir);
}

static void find_model_mlflow_onnx_flavor(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    copy_file(MLP "/model.onnx", dir, "model/model.onnx");
    copy_file(MLP "/model.onnx", dir, "model/other.onnx"); /* the flavor decides, not the count */
    write_text(dir, "model/MLmodel",
               "flavors:\n"
               "  onnx:\n    onnx_version: 1.14.0\n    data: model.onnx\n"
               "  python_function:\n    loader_module: mlflow.onnx\n    data: model.onnx\n");
    char *path = NULL;
    struct inf_err err;
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), 0);
    char *want = inf_asprintf("%s/model/model.onnx", dir);
    assert_string_equal(path, want);
    free(want);
    free(path);

    /* the key the brief names, onnx_model, works too */
    write_text(dir, "model/MLmodel", "flavors:\n  onnx:\n    onnx_model: other.onnx\n");
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), 0);
    assert_non_null(strstr(path, "/model/other.onnx"));
    free(path);

    /* a scikit-learn flavor is the mlflow backend's */
    write_text(dir, "model/MLmodel",
               "flavors:\n  onnx:\n    data: model.onnx\n  python_function:\n"
               "    loader_module: mlflow.sklearn\n    model_path: model.pkl\n");
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "mlflow backend"));
    write_text(dir, "model/MLmodel", "flavors:\n  sklearn:\n    pickled_model: model.pkl\n");
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no onnx flavor"));

    /* a flavor naming a missing file, or one outside the folder */
    write_text(dir, "model/MLmodel", "flavors:\n  onnx:\n    data: missing.onnx\n");
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "\"missing.onnx\" is not a file"));
    write_text(dir, "model/MLmodel", "flavors:\n  onnx:\n    data: ../model/model.onnx\n");
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "inside the model folder"));
    write_text(dir, "model/MLmodel", "flavors:\n  onnx:\n    data: /etc/passwd\n");
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_EINVAL);
    write_text(dir, "model/MLmodel", "flavors:\n  onnx:\n    onnx_version: 1.14.0\n");
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "names no model file"));

    /* an MLmodel that is not YAML: not ours to judge */
    write_text(dir, "model/MLmodel", "flavors: [unclosed\n");
    assert_int_equal(onnx_backend_find_model(dir, &path, &err), INF_ENOTFOUND);
    assert_null(path);
    inf_rm_rf(dir, NULL);
    free(dir);
}

/* ---- loading ----------------------------------------------------------------- */

static void load_unsupported_operator_names_it(void **state)
{
    (void)state;
    struct backend_config cfg = {.model_dir = DATA "/bad/unsupported_op"};
    struct inf_err err;
    void *st = (void *)1;
    assert_int_equal(onnx_backend_ops.load(&cfg, &st, &err), INF_EUNSUPPORTED);
    assert_null(st);
    assert_non_null(strstr(err.msg, "onnx backend: "));
    assert_non_null(strstr(err.msg, "Resize"));
    assert_non_null(strstr(err.msg, "resize1"));
}

static void load_without_model_fails(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct backend_config cfg = {.model_dir = dir};
    struct inf_err err;
    void *st = NULL;
    assert_int_equal(onnx_backend_ops.load(&cfg, &st, &err), INF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "onnx backend: "));
    write_text(dir, "model/model.onnx", "this is not a protobuf");
    assert_int_not_equal(onnx_backend_ops.load(&cfg, &st, &err), 0);
    assert_null(st);
    cfg.model_dir = NULL;
    assert_int_equal(onnx_backend_ops.load(&cfg, &st, &err), INF_EINVAL);
    onnx_backend_ops.unload(NULL);
    inf_rm_rf(dir, NULL);
    free(dir);
}

/* ---- scoring: the MLP ------------------------------------------------------------ */

static void mlp_azure_forms(void **state)
{
    (void)state;
    void *st = load_ok(MLP);
    for (int set = 0; set < 2; set++) {
        char *dir = inf_asprintf("%s/test_data_set_%d", MLP, set);
        struct ref x, want;
        ref_read(&x, dir, "input_0.pb");
        ref_read(&want, dir, "output_0.pb");
        char *rows = nested_text(&x.t);
        /* rows, {"data": rows} (Azure's split form) and {name: rows} */
        const char *before[] = {"",
                                "{\"columns\": [\"a\"], \"index\": [0], \"data\": ", "{\"x\": "};
        const char *after[] = {"", "}", "}"};
        for (size_t f = 0; f < sizeof(before) / sizeof(before[0]); f++) {
            char *body = inf_asprintf("{\"input_data\": %s%s%s}", before[f], rows, after[f]);
            json_t *out = score(st, body, 200);
            assert_nested(out, &want.t);
            json_decref(out);
            free(body);
        }
        free(rows);
        ref_free(&x);
        ref_free(&want);
        free(dir);
    }
    onnx_backend_ops.unload(st);
}

static void mlp_open_inference_protocol(void **state)
{
    (void)state;
    void *st = load_ok(MLP);
    struct ref x, want;
    ref_read(&x, MLP "/test_data_set_1", "input_0.pb");
    ref_read(&want, MLP "/test_data_set_1", "output_0.pb");
    for (int nested = 0; nested < 2; nested++) {
        json_t *req =
            json_pack("{s:s,s:[o]}", "id", "req-7", "inputs", oip_input("x", &x.t, nested != 0));
        char *body = json_dumps(req, JSON_COMPACT);
        json_t *out = score(st, body, 200);
        assert_string_equal(json_string_value(json_object_get(out, "model_name")), "model");
        assert_string_equal(json_string_value(json_object_get(out, "id")), "req-7");
        const json_t *outputs = json_object_get(out, "outputs");
        assert_int_equal(json_array_size(outputs), 1);
        assert_oip_output(json_array_get(outputs, 0), "probs", "FP32", &want.t);
        json_decref(out);
        free(body);
        json_decref(req);
    }
    ref_free(&x);
    ref_free(&want);
    onnx_backend_ops.unload(st);
}

/* ---- scoring: several inputs and outputs, int64, bool, rank 0 ------------------ */

static void transformer_both_forms(void **state)
{
    (void)state;
    void *st = load_ok(TRANSFORMER);
    for (int set = 0; set < 3; set++) {
        char *dir = inf_asprintf("%s/test_data_set_%d", TRANSFORMER, set);
        struct ref ids, mask, hidden, scores;
        ref_read(&ids, dir, "input_0.pb");
        ref_read(&mask, dir, "input_1.pb");
        ref_read(&hidden, dir, "output_0.pb");
        ref_read(&scores, dir, "output_1.pb");

        char *ids_text = nested_text(&ids.t), *mask_text = nested_text(&mask.t);
        char *body = inf_asprintf("{\"input_data\": {\"attention_mask\": %s, \"input_ids\": %s}}",
                                  mask_text, ids_text);
        json_t *out = score(st, body, 200);
        assert_int_equal(json_object_size(out), 2);
        assert_nested(json_object_get(out, "last_hidden_state"), &hidden.t);
        assert_nested(json_object_get(out, "scores"), &scores.t);
        json_decref(out);
        free(body);

        json_t *req = json_pack("{s:[oo]}", "inputs", oip_input("attention_mask", &mask.t, false),
                                oip_input("input_ids", &ids.t, true));
        body = json_dumps(req, JSON_COMPACT);
        out = score(st, body, 200);
        const json_t *outputs = json_object_get(out, "outputs");
        assert_int_equal(json_array_size(outputs), 2);
        assert_oip_output(json_array_get(outputs, 0), "last_hidden_state", "FP32", &hidden.t);
        assert_oip_output(json_array_get(outputs, 1), "scores", "FP32", &scores.t);
        json_decref(out);
        free(body);

        /* only the outputs asked for */
        json_object_set_new(req, "outputs", json_pack("[{s:s}]", "name", "scores"));
        body = json_dumps(req, JSON_COMPACT);
        out = score(st, body, 200);
        outputs = json_object_get(out, "outputs");
        assert_int_equal(json_array_size(outputs), 1);
        assert_oip_output(json_array_get(outputs, 0), "scores", "FP32", &scores.t);
        json_decref(out);
        free(body);
        json_decref(req);

        free(ids_text);
        free(mask_text);
        ref_free(&ids);
        ref_free(&mask);
        ref_free(&hidden);
        ref_free(&scores);
        free(dir);
    }
    onnx_backend_ops.unload(st);
}

/* where_bcast: c bool [2,1,4], x float [3,4], z float [] (a scalar). */
static void bool_and_scalar_inputs(void **state)
{
    (void)state;
    const char *dir = DATA "/ops/where_bcast";
    void *st = load_ok(dir);
    struct ref c, x, z, want;
    ref_read(&c, dir, "test_data_set_0/input_0.pb");
    ref_read(&x, dir, "test_data_set_0/input_1.pb");
    ref_read(&z, dir, "test_data_set_0/input_2.pb");
    ref_read(&want, dir, "test_data_set_0/output_0.pb");
    assert_int_equal(c.t.dtype, ONNX_DTYPE_BOOL);
    assert_int_equal(z.t.rank, 0);

    char *ct = nested_text(&c.t), *xt = nested_text(&x.t), *zt = nested_text(&z.t);
    char *body = inf_asprintf("{\"input_data\": {\"c\": %s, \"x\": %s, \"z\": %s}}", ct, xt, zt);
    json_t *out = score(st, body, 200);
    assert_nested(out, &want.t);
    json_decref(out);
    free(body);

    json_t *req = json_pack("{s:[ooo]}", "inputs", oip_input("c", &c.t, false),
                            oip_input("x", &x.t, false), oip_input("z", &z.t, false));
    body = json_dumps(req, JSON_COMPACT);
    out = score(st, body, 200);
    assert_oip_output(json_array_get(json_object_get(out, "outputs"), 0), "y", "FP32", &want.t);
    json_decref(out);
    free(body);
    json_decref(req);

    /* 0 and 1 are accepted for bool; 2 is not */
    out = score(st,
                "{\"input_data\": {\"c\": [[[0, 1, 1, 0]], [[1, 0, 0, 1]]], \"x\": "
                "[[1,2,3,4],[1,2,3,4],[1,2,3,4]], \"z\": 2}}",
                200);
    char *text = json_dumps(out, JSON_COMPACT);
    assert_string_equal(text, "[[[2,2,3,2],[2,2,3,2],[2,2,3,2]],[[1,2,2,4],[1,2,2,4],[1,2,2,4]]]");
    free(text);
    json_decref(out);
    score_fails(st,
                "{\"input_data\": {\"c\": [[[0, 1, 2, 0]], [[1, 0, 0, 1]]], \"x\": "
                "[[1,2,3,4],[1,2,3,4],[1,2,3,4]], \"z\": 2}}",
                400, "input 'c': element [0][0][2] is 2, expected true or false", NULL);
    /* a scalar given as a list */
    score_fails(st,
                "{\"input_data\": {\"c\": [[[0, 1, 1, 0]], [[1, 0, 0, 1]]], \"x\": "
                "[[1,2,3,4],[1,2,3,4],[1,2,3,4]], \"z\": [2]}}",
                400, "input 'z': expected 0 dimensions [], got 1", NULL);
    free(ct);
    free(xt);
    free(zt);
    ref_free(&c);
    ref_free(&x);
    ref_free(&z);
    ref_free(&want);
    onnx_backend_ops.unload(st);
}

/* equal_int64: int64 inputs, a bool output. */
static void int64_inputs_bool_output(void **state)
{
    (void)state;
    void *st = load_ok(DATA "/ops/equal_int64");
    json_t *out =
        score(st, "{\"input_data\": {\"a\": [[1, 2, 3], [4, 5, 6.0]], \"b\": [1, 5, 6]}}", 200);
    char *text = json_dumps(out, JSON_COMPACT);
    assert_string_equal(text, "[[true,false,false],[false,true,true]]");
    free(text);
    json_decref(out);
    out = score(st,
                "{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 3], \"datatype\": \"INT64\", "
                "\"data\": [1, 2, 3, 4, 5, 6]}, {\"name\": \"b\", \"shape\": [3], \"datatype\": "
                "\"INT64\", \"data\": [9223372036854775807, 5, -9223372036854775808]}]}",
                200);
    const json_t *y = json_array_get(json_object_get(out, "outputs"), 0);
    assert_string_equal(json_string_value(json_object_get(y, "datatype")), "BOOL");
    text = json_dumps(json_object_get(y, "data"), JSON_COMPACT);
    assert_string_equal(text, "[false,false,false,false,true,false]");
    free(text);
    json_decref(out);
    score_fails(st, "{\"input_data\": {\"a\": [[1, 2, 3], [4, 5, 6.5]], \"b\": [1, 5, 6]}}", 400,
                "input 'a': element [1][2] is 6.5, expected an integer (int64)", NULL);
    score_fails(st, "{\"input_data\": {\"a\": [[1, 2, 3], [4, 5, 1e19]], \"b\": [1, 5, 6]}}", 400,
                "input 'a': element [1][2]", "expected an integer", NULL);
    onnx_backend_ops.unload(st);
}

/* ---- validation -------------------------------------------------------------------- */

/* A row of n values v, as JSON text. */
static char *row_of(int n, const char *v)
{
    struct inf_buf b;
    inf_buf_init(&b, 1 << 20);
    inf_buf_append(&b, "[", 1);
    for (int i = 0; i < n; i++)
        inf_buf_printf(&b, "%s%s", i > 0 ? "," : "", v);
    inf_buf_append(&b, "]", 1);
    return b.data;
}

static void mlp_validation_errors(void **state)
{
    (void)state;
    void *st = load_ok(MLP);
    char *row = row_of(64, "0.5"), *short_row = row_of(63, "0.5");
    char *body;

    score_fails(st, "", 400, "request body is empty", NULL);
    score_fails(st, "{\"input_data\": [[1, 2]", 400, "not valid JSON", "line 1", NULL);
    score_fails(st, "[1, 2]", 400, "expected a JSON object", NULL);
    score_fails(st, "{\"instances\": [[1]]}", 400, "input_data", "inputs", NULL);
    score_fails(st, "{\"input_data\": [], \"inputs\": []}", 400, "not both", NULL);
    score_fails(st, "{\"inputs\": {\"x\": 1}}", 400, "inputs: expected a list", NULL);
    score_fails(st, "{\"input_data\": {\"y\": 1}}", 400,
                "input_data: expected the rows of input 'x'", NULL);
    score_fails(st, "{\"input_data\": 1, \"input_data\": 2}", 400, "duplicate", NULL);

    /* rank, static dimensions, raggedness */
    body = inf_asprintf("{\"input_data\": %s}", row);
    score_fails(st, body, 400, "input 'x': expected 2 dimensions [N, 64], got 1 (shape [64])",
                NULL);
    free(body);
    body = inf_asprintf("{\"input_data\": [%s, %s]}", short_row, short_row);
    score_fails(st, body, 400, "input 'x': dimension 1 must be 64", "got 63 (shape [2, 63])", NULL);
    free(body);
    body = inf_asprintf("{\"input_data\": [%s, %s]}", row, short_row);
    score_fails(st, body, 400, "input 'x': element [1] has 63 values, expected 64", NULL);
    free(body);
    body = inf_asprintf("{\"input_data\": [[%s]]}", row);
    score_fails(st, body, 400, "expected 2 dimensions", "got 3", NULL);
    free(body);
    score_fails(st, "{\"input_data\": [[[[[[[[[1]]]]]]]]]}", 400, "nested more than 8 deep", NULL);
    score_fails(st, "{\"input_data\": []}", 400, "expected 2 dimensions", NULL);

    /* values */
    const char *bad_values[][2] = {
        {"\"abc\"", "element [1][3] is \"abc\", expected a number"},
        {"null", "element [1][3] is null, expected a number"},
        {"true", "element [1][3] is true, expected a number"},
        {"{}", "element [1][3] is an object, expected a number"},
        {"[1]", "element [1][3] is a list, expected a number"},
        {"1e39", "element [1][3] is 1e+39, expected a number within float32's range"},
        {"\"\\u0001very long text that goes on and on and on\"",
         "is \"?very long text that goes on and\"..., expected a number"},
    };
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        char *bad = inf_asprintf("[0.5,0.5,0.5,%s%s", bad_values[i][0], row + 4 * 3 + 4);
        body = inf_asprintf("{\"input_data\": [%s, %s]}", row, bad);
        score_fails(st, body, 400, "input 'x': ", bad_values[i][1], NULL);
        free(body);
        free(bad);
    }

    /* the Open Inference Protocol */
    body = inf_asprintf("{\"inputs\": [{\"name\": \"nope\", \"shape\": [1, 64], \"datatype\": "
                        "\"FP32\", \"data\": %s}]}",
                        row);
    score_fails(st, body, 400, "inputs[0]: unknown input \"nope\"; the model's inputs are: x",
                NULL);
    free(body);
    score_fails(st, "{\"inputs\": []}", 400, "missing input 'x' (float [N, 64])", NULL);
    score_fails(st, "{\"inputs\": [42]}", 400, "inputs[0]: expected an object", NULL);
    score_fails(st, "{\"inputs\": [{\"shape\": [1]}]}", 400, "inputs[0]: name: required", NULL);
    body = inf_asprintf("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 64], \"datatype\": "
                        "\"INT64\", \"data\": %s}]}",
                        row);
    score_fails(st, body, 400,
                "input 'x': datatype INT64 does not match the model, which expects FP32", NULL);
    free(body);
    body = inf_asprintf("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 64], \"datatype\": "
                        "\"FP16\", \"data\": %s}]}",
                        row);
    score_fails(st, body, 400, "input 'x': datatype \"FP16\" is not supported", "FP32", NULL);
    free(body);
    body = inf_asprintf("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 64], \"data\": %s}]}", row);
    score_fails(st, body, 400, "input 'x': datatype is missing", NULL);
    free(body);
    body = inf_asprintf("{\"inputs\": [{\"name\": \"x\", \"shape\": [64], \"datatype\": "
                        "\"FP32\", \"data\": %s}]}",
                        row);
    score_fails(st, body, 400, "input 'x': expected 2 dimensions", NULL);
    free(body);
    body = inf_asprintf("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 63], \"datatype\": "
                        "\"FP32\", \"data\": %s}]}",
                        row);
    score_fails(st, body, 400, "input 'x': dimension 1 must be 64", NULL);
    free(body);
    body = inf_asprintf("{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 64], \"datatype\": "
                        "\"FP32\", \"data\": %s}]}",
                        row);
    score_fails(st, body, 400, "input 'x': data has 64 values, shape [2, 64] needs 128", NULL);
    free(body);
    body = inf_asprintf("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 64], \"datatype\": "
                        "\"FP32\", \"data\": [%s, 1]}]}",
                        row);
    score_fails(st, body, 400, "input 'x': data has 65 values, shape [1, 64] needs 64", NULL);
    free(body);
    score_fails(st,
                "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 64], \"datatype\": \"FP32\", "
                "\"data\": [1, \"two\"]}]}",
                400, "input 'x': data[1] is \"two\", expected a number", NULL);
    score_fails(st,
                "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, -64], \"datatype\": \"FP32\", "
                "\"data\": []}]}",
                400, "input 'x': shape[1] is -64, expected a size", NULL);
    score_fails(st,
                "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 64.5], \"datatype\": \"FP32\", "
                "\"data\": []}]}",
                400, "input 'x': shape[1] is 64.5", NULL);
    score_fails(st,
                "{\"inputs\": [{\"name\": \"x\", \"shape\": \"1,64\", \"datatype\": \"FP32\", "
                "\"data\": []}]}",
                400, "input 'x': shape: required", NULL);
    score_fails(st, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 64], \"datatype\": \"FP32\"}]}",
                400, "input 'x': data: required", NULL);
    body = inf_asprintf("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 64], \"datatype\": "
                        "\"FP32\", \"data\": %s}, {\"name\": \"x\", \"shape\": [1, 64], "
                        "\"datatype\": \"FP32\", \"data\": %s}]}",
                        row, row);
    score_fails(st, body, 400, "input 'x' is given twice", NULL);
    free(body);
    body = inf_asprintf("{\"id\": 7, \"inputs\": [{\"name\": \"x\", \"shape\": [1, 64], "
                        "\"datatype\": \"FP32\", \"data\": %s}]}",
                        row);
    score_fails(st, body, 400, "id: expected a string", NULL);
    free(body);
    body = inf_asprintf("{\"outputs\": [{\"name\": \"logits\"}], \"inputs\": [{\"name\": \"x\", "
                        "\"shape\": [1, 64], \"datatype\": \"FP32\", \"data\": %s}]}",
                        row);
    score_fails(st, body, 400,
                "outputs[0]: unknown output \"logits\"; the model's outputs are: probs", NULL);
    free(body);

    /* sizes: a shape over the element cap is refused before anything is
     * allocated, and so is one whose product overflows */
    score_fails(st,
                "{\"inputs\": [{\"name\": \"x\", \"shape\": [1048577, 64], \"datatype\": \"FP32\", "
                "\"data\": []}]}",
                413, "input 'x': shape [1048577, 64] is too large", "67108864 elements", NULL);
    score_fails(st,
                "{\"inputs\": [{\"name\": \"x\", \"shape\": [9223372036854775807, 64], "
                "\"datatype\": \"FP32\", \"data\": []}]}",
                413, "is too large", NULL);
    /* exactly at the cap is allowed through to the data check */
    score_fails(st,
                "{\"inputs\": [{\"name\": \"x\", \"shape\": [1048576, 64], \"datatype\": \"FP32\", "
                "\"data\": [1]}]}",
                400, "data has 1 value, shape [1048576, 64] needs 67108864", NULL);

    /* the state is clean after errors: a good request still works */
    body = inf_asprintf("{\"input_data\": [%s]}", row);
    json_t *out = score(st, body, 200);
    assert_int_equal(json_array_size(json_array_get(out, 0)), 10);
    json_decref(out);
    free(body);

    /* GET is not a scoring request here */
    struct backend_request get = {
        .method = "GET", .path = "/score", .query = "a=1", .body = "", .request_id = "t"};
    struct backend_response res;
    memset(&res, 0, sizeof(res));
    assert_int_equal(onnx_backend_ops.score(st, &get, &res), 0);
    assert_int_equal(res.status, 405);
    assert_non_null(strstr(res.body, "POST"));
    backend_response_fini(&res);

    free(row);
    free(short_row);
    onnx_backend_ops.unload(st);
}

static void several_inputs_validation_errors(void **state)
{
    (void)state;
    void *st = load_ok(TRANSFORMER);
    score_fails(st, "{\"input_data\": [[1, 2]]}", 400,
                "input_data: the model has 2 inputs (input_ids, attention_mask): expected an "
                "object",
                NULL);
    score_fails(st, "{\"input_data\": {\"input_ids\": [[1, 2]]}}", 400,
                "missing input 'attention_mask' (int64 [batch, seq])", NULL);
    score_fails(st,
                "{\"input_data\": {\"input_ids\": [[1, 2]], \"attention_mask\": [[1, 1]], "
                "\"token_type_ids\": [[0, 0]]}}",
                400, "input_data: unknown input \"token_type_ids\"", NULL);
    score_fails(st, "{\"input_data\": {\"input_ids\": [[1, 2]], \"attention_mask\": [[1, \"x\"]]}}",
                400, "input 'attention_mask': element [0][1] is \"x\", expected an integer", NULL);
    /* shapes that agree with each input's declaration but not with each
     * other are the engine's to refuse, naming the node: still a 400 */
    json_t *out = score(
        st, "{\"input_data\": {\"input_ids\": [[1, 2]], \"attention_mask\": [[1, 1, 1]]}}", 400);
    assert_non_null(strstr(json_string_value(json_object_get(out, "message")), "node"));
    json_decref(out);
    onnx_backend_ops.unload(st);
}

/* ---- swagger ------------------------------------------------------------------------- */

static json_t *swagger(void *st, int version)
{
    struct backend_response res;
    memset(&res, 0, sizeof(res));
    assert_int_equal(onnx_backend_ops.swagger(st, version, &res), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "application/json");
    json_t *doc = json_loadb(res.body, res.body_len, 0, NULL);
    assert_non_null(doc);
    backend_response_fini(&res);
    return doc;
}

/* The value at a dotted path ("a.b.0.c"; numbers index arrays). */
static const json_t *path_get(const json_t *v, const char *dotted)
{
    for (const char *key = dotted; key != NULL && v != NULL;) {
        const char *dot = strchr(key, '.');
        size_t n = dot != NULL ? (size_t)(dot - key) : strlen(key);
        char *part = inf_strndup(key, n);
        v = json_is_array(v) ? json_array_get(v, strtoul(part, NULL, 10))
                             : json_object_get(v, part);
        free(part);
        key = dot != NULL ? dot + 1 : NULL;
    }
    return v;
}

static void swagger_mlp(void **state)
{
    (void)state;
    void *st = load_ok(MLP);
    json_t *v2 = swagger(st, 2);
    assert_string_equal(json_string_value(path_get(v2, "swagger")), "2.0");
    assert_string_equal(
        json_string_value(path_get(v2, "paths./score.post.parameters.0.schema.$ref")),
        "#/definitions/ServiceInput");
    const json_t *input_data = path_get(v2, "definitions.AzureRequest.properties.input_data");
    assert_string_equal(json_string_value(path_get(input_data, "description")), "float [N, 64]");
    assert_string_equal(json_string_value(path_get(input_data, "items.items.type")), "number");
    assert_int_equal(json_integer_value(path_get(input_data, "items.maxItems")), 64);
    assert_null(path_get(input_data, "maxItems")); /* the batch is dynamic */
    assert_string_equal(
        json_string_value(path_get(v2, "definitions.InferenceRequest.properties.inputs.items."
                                       "properties.name.enum.0")),
        "x");
    assert_string_equal(
        json_string_value(path_get(v2, "definitions.InferenceResponse.properties.outputs.items."
                                       "properties.name.enum.0")),
        "probs");
    assert_int_equal(json_integer_value(path_get(v2, "definitions.AzureResponse.items.maxItems")),
                     10);
    assert_non_null(path_get(v2, "definitions.ServiceInput.properties.input_data"));
    assert_non_null(path_get(v2, "definitions.ServiceInput.properties.inputs"));

    /* the examples score */
    const json_t *examples[] = {path_get(v2, "definitions.AzureRequest.example"),
                                path_get(v2, "definitions.InferenceRequest.example")};
    assert_int_equal(json_array_size(path_get(examples[0], "input_data.0")), 64);
    assert_int_equal(json_integer_value(path_get(examples[1], "inputs.0.shape.0")), 1);
    for (int i = 0; i < 2; i++) {
        char *body = json_dumps(examples[i], JSON_COMPACT);
        json_decref(score(st, body, 200));
        free(body);
    }
    json_decref(v2);

    json_t *v3 = swagger(st, 3);
    assert_string_equal(json_string_value(path_get(v3, "openapi")), "3.0.1");
    assert_string_equal(
        json_string_value(path_get(v3, "components.schemas.ServiceInput.oneOf.1.$ref")),
        "#/components/schemas/InferenceRequest");
    const json_t *content = path_get(v3, "paths./score.post.requestBody.content.application/json");
    assert_non_null(path_get(content, "examples.input_data.value.input_data"));
    assert_non_null(path_get(content, "examples.inputs.value.inputs"));
    assert_non_null(
        strstr(json_string_value(path_get(v3, "info.description")), "x (float [N, 64])"));
    json_decref(v3);
    onnx_backend_ops.unload(st);
}

static void swagger_several_inputs(void **state)
{
    (void)state;
    void *st = load_ok(TRANSFORMER);
    json_t *v3 = swagger(st, 3);
    const json_t *input_data =
        path_get(v3, "components.schemas.AzureRequest.properties.input_data");
    assert_string_equal(json_string_value(path_get(input_data, "type")), "object");
    assert_string_equal(
        json_string_value(path_get(input_data, "properties.input_ids.items.items.format")),
        "int64");
    assert_int_equal(json_array_size(path_get(input_data, "required")), 2);
    const json_t *res = path_get(v3, "components.schemas.AzureResponse.properties");
    assert_non_null(json_object_get(res, "last_hidden_state"));
    assert_non_null(json_object_get(res, "scores"));
    assert_string_equal(
        json_string_value(path_get(v3, "components.schemas.InferenceRequest.properties.inputs."
                                       "items.properties.datatype.enum.0")),
        "INT64");
    char *body = json_dumps(path_get(v3, "components.schemas.AzureRequest.example"), JSON_COMPACT);
    json_t *out = score(st, body, 200);
    assert_non_null(json_object_get(out, "scores"));
    json_decref(out);
    free(body);
    json_decref(v3);
    onnx_backend_ops.unload(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(find_model_at_root),
        cmocka_unit_test(find_model_in_one_sub_folder),
        cmocka_unit_test(find_model_refuses_several_files),
        cmocka_unit_test(find_model_refuses_several_folders),
        cmocka_unit_test(find_model_not_onnx),
        cmocka_unit_test(find_model_mlflow_onnx_flavor),
        cmocka_unit_test(load_unsupported_operator_names_it),
        cmocka_unit_test(load_without_model_fails),
        cmocka_unit_test(mlp_azure_forms),
        cmocka_unit_test(mlp_open_inference_protocol),
        cmocka_unit_test(transformer_both_forms),
        cmocka_unit_test(bool_and_scalar_inputs),
        cmocka_unit_test(int64_inputs_bool_output),
        cmocka_unit_test(mlp_validation_errors),
        cmocka_unit_test(several_inputs_validation_errors),
        cmocka_unit_test(swagger_mlp),
        cmocka_unit_test(swagger_several_inputs),
    };
    return cmocka_run_group_tests_name("onnx_backend", tests, NULL, NULL);
}
