/*
 * Unit tests for the native backend (backends/native.c) and the backend
 * registry, run against the diabetes example model and against small
 * broken libraries compiled here with gcc.
 *
 * Run from the repository root, after building the example:
 *   make examples/diabetes/code/score.so
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "backends/backend.h"
#include "core/err.h"
#include "core/util.h"

#define EXAMPLE_DIR "examples/diabetes"
#define EXAMPLE_CODE_DIR EXAMPLE_DIR "/code"

/* The temporary directory shared by the group: model folders, libraries. */
static char tmp_root[] = "/tmp/inferd-test-native-XXXXXX";

/* ---- helpers ---- */

static char *tmp_path(const char *rel)
{
    return inf_asprintf("%s/%s", tmp_root, rel);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Makes <tmp>/<name>/model/weights.json holding text; returns <tmp>/<name>. */
static char *make_model_dir(const char *name, const char *weights_json)
{
    char *dir = tmp_path(name);
    char *model = inf_asprintf("%s/model", dir);
    char *file = inf_asprintf("%s/weights.json", model);
    assert_int_equal(inf_mkdir_p(model, 0755, NULL), 0);
    if (weights_json != NULL)
        write_file(file, weights_json);
    free(file);
    free(model);
    return dir;
}

static char *read_text(const char *path)
{
    char *text = NULL;
    struct inf_err err;
    if (inf_read_file(path, 1 << 20, &text, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    return text;
}

/* Copies an example model (model-1, model-2) into <tmp>/<name>. */
static char *copy_example_model(const char *example, const char *name)
{
    char *src = inf_asprintf(EXAMPLE_DIR "/%s/model/weights.json", example);
    char *text = read_text(src);
    char *dir = make_model_dir(name, text);
    free(text);
    free(src);
    return dir;
}

static int run_argv(char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A library for the cases the example cannot show: one source, a variant
 * chosen by a -D flag. */
static const char variant_source[] =
    "#include <stdlib.h>\n"
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include \"inferd/native.h\"\n"
    "int inferd_abi_version(void) {\n"
    "#ifdef ABI_2\n"
    "    return 2;\n"
    "#else\n"
    "    return INFERD_NATIVE_ABI_VERSION;\n"
    "#endif\n"
    "}\n"
    "void *inferd_init(const char *model_dir, char *err, size_t err_len) {\n"
    "#ifdef INIT_FAILS\n"
    "    snprintf(err, err_len, \"no weights under %s\", model_dir);\n"
    "    return NULL;\n"
    "#else\n"
    "    (void)err; (void)err_len;\n"
    "    return strdup(model_dir);\n"
    "#endif\n"
    "}\n"
    "#ifndef NO_RUN\n"
    "int inferd_run(void *state, const struct inferd_request *req, struct inferd_response *res) {\n"
    "    (void)state;\n"
    "    res->body = malloc(1024);\n"
    "    res->body_len = (size_t)snprintf(res->body, 1024, \"%s|%s|%s|%s|%.*s\", req->method,\n"
    "                                     req->query, req->content_type, req->request_id,\n"
    "                                     (int)req->body_len, req->body);\n"
    "#if defined(RUN_CRASHES)\n"
    "    return -1;\n"
    "#elif defined(BAD_STATUS)\n"
    "    res->status = 42;\n"
    "#elif defined(BAD_CONTENT_TYPE)\n"
    "    strcpy(res->content_type, \"text/plain\\r\\nx-injected: 1\");\n"
    "#elif defined(NULL_BODY)\n"
    "    free(res->body);\n"
    "    res->body = NULL;\n"
    "#elif defined(DEFAULTS)\n"
    "    /* status 0 and content_type \"\" are left as the caller zeroed them */\n"
    "#else\n"
    "    res->status = 201;\n"
    "    strcpy(res->content_type, \"text/csv\");\n"
    "#endif\n"
    "    return 0;\n"
    "}\n"
    "#endif\n"
    "void inferd_fini(void *state) { free(state); }\n";

static const char *const variants[] = {"ECHO",       "DEFAULTS",         "ABI_2",
                                       "INIT_FAILS", "NO_RUN",           "RUN_CRASHES",
                                       "BAD_STATUS", "BAD_CONTENT_TYPE", "NULL_BODY"};

static int build_variants(void)
{
    char *src = tmp_path("variant.c");
    write_file(src, variant_source);
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        char *out = inf_asprintf("%s/%s/lib.so", tmp_root, variants[i]);
        char *dir = inf_asprintf("%s/%s", tmp_root, variants[i]);
        char *define = inf_asprintf("-D%s", variants[i]);
        assert_int_equal(inf_mkdir_p(dir, 0755, NULL), 0);
        char *argv[] = {
            "gcc", "-std=c11", "-D_GNU_SOURCE", "-Iinclude", "-fPIC", "-shared", define, "-o", out,
            src,   NULL};
        int rc = run_argv(argv);
        free(define);
        free(dir);
        free(out);
        if (rc != 0) {
            free(src);
            return -1;
        }
    }
    free(src);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (mkdtemp(tmp_root) == NULL)
        return -1;
    if (access(EXAMPLE_CODE_DIR "/score.so", R_OK) != 0) {
        fprintf(stderr,
                "test_native: %s/score.so is missing: run from the repository root "
                "after `make %s/score.so`\n",
                EXAMPLE_CODE_DIR, EXAMPLE_CODE_DIR);
        return -1;
    }
    return build_variants();
}

static int group_teardown(void **state)
{
    (void)state;
    return inf_rm_rf(tmp_root, NULL);
}

/* A loaded backend instance under test. */
struct loaded {
    const struct backend_ops *ops;
    void *state;
};

static int load(struct loaded *l, const char *model_dir, const char *code_dir, const char *script,
                struct inf_err *err)
{
    l->ops = backend_find("native");
    assert_non_null(l->ops);
    l->state = NULL;
    struct backend_config cfg = {.model_dir = model_dir, .code_dir = code_dir, .script = script};
    inf_err_clear(err);
    int rc = l->ops->load(&cfg, &l->state, err);
    if (rc != 0)
        assert_null(l->state);
    return rc;
}

static void load_ok(struct loaded *l, const char *model_dir, const char *code_dir,
                    const char *script)
{
    struct inf_err err;
    if (load(l, model_dir, code_dir, script, &err) != 0)
        fail_msg("load failed: %s", err.msg);
}

/* Loads, expects failure with code and every needle in the message. */
static void load_fails(const char *model_dir, const char *code_dir, const char *script, int code,
                       const char *needle1, const char *needle2)
{
    struct loaded l;
    struct inf_err err;
    assert_int_equal(load(&l, model_dir, code_dir, script, &err), code);
    assert_int_equal(err.code, code);
    if (strstr(err.msg, needle1) == NULL || (needle2 != NULL && strstr(err.msg, needle2) == NULL))
        fail_msg("message \"%s\" lacks \"%s\" / \"%s\"", err.msg, needle1,
                 needle2 != NULL ? needle2 : "");
}

static void score(struct loaded *l, const char *method, const char *body, size_t body_len,
                  struct backend_response *res)
{
    struct backend_request req = {
        .method = method,
        .query = "",
        .content_type = "application/json",
        .body = body,
        .body_len = body_len,
        .request_id = "req-1",
    };
    memset(res, 0, sizeof(*res));
    assert_int_equal(l->ops->score(l->state, &req, res), 0);
}

/* Scores body and returns the response body parsed as JSON (checked 200). */
static json_t *predict(struct loaded *l, const char *body)
{
    struct backend_response res;
    score(l, "POST", body, strlen(body), &res);
    if (res.status != 200)
        fail_msg("status %d: %.*s", res.status, (int)res.body_len, res.body);
    assert_string_equal(res.content_type, "application/json");
    json_error_t jerr;
    json_t *out = json_loadb(res.body, res.body_len, 0, &jerr);
    if (out == NULL)
        fail_msg("response is not JSON: %s", jerr.text);
    backend_response_fini(&res);
    return out;
}

/* The response body (not NUL-terminated) contains needle. */
static int body_has(const struct backend_response *res, const char *needle)
{
    return res->body != NULL && memmem(res->body, res->body_len, needle, strlen(needle)) != NULL;
}

static void assert_prediction(json_t *predictions, size_t i, double expected)
{
    json_t *v = json_array_get(predictions, i);
    assert_true(json_is_real(v) || json_is_integer(v));
    double got = json_number_value(v);
    if (fabs(got - expected) > 1e-6 * fmax(1.0, fabs(expected)))
        fail_msg("prediction %zu: got %.10g, expected %.10g", i, got, expected);
}

/* ---- registry ---- */

static void test_backend_find(void **state)
{
    (void)state;
    const struct backend_ops *ops = backend_find("native");
    assert_non_null(ops);
    assert_string_equal(ops->name, "native");
    assert_non_null(ops->load);
    assert_non_null(ops->score);
    assert_non_null(ops->unload);
    assert_null(backend_find("python-not-yet"));
    assert_null(backend_find(""));
    assert_null(backend_find("Native"));
    assert_null(backend_find(NULL));
}

static void test_response_fini(void **state)
{
    (void)state;
    struct backend_response res = {.status = 200, .body = inf_strdup("x"), .body_len = 1};
    snprintf(res.content_type, sizeof(res.content_type), "text/plain");
    backend_response_fini(&res);
    assert_null(res.body);
    assert_int_equal(res.body_len, 0);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.content_type, "");
    backend_response_fini(&res); /* twice is harmless */
}

/* ---- the example model ---- */

static const char simple_weights[] = "{\"name\": \"simple\", \"version\": 3, "
                                     "\"coefficients\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "
                                     "\"intercept\": 0.5}";

static void test_predicts_linear_model(void **state)
{
    (void)state;
    char *dir = make_model_dir("simple", simple_weights);
    struct loaded l;
    load_ok(&l, dir, EXAMPLE_CODE_DIR, "score.so");

    json_t *p = predict(&l, "{\"data\": [[1, 0, 0, 0, 0, 0, 0, 0, 0, 0],"
                            " [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],"
                            " [0, 0, 0, 0, 0, 0, 0, 0, 0, -2.5],"
                            " [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]]}");
    assert_true(json_is_array(p));
    assert_int_equal(json_array_size(p), 4);
    assert_prediction(p, 0, 1.5);        /* 0.5 + 1 */
    assert_prediction(p, 1, 55.5);       /* 0.5 + (1 + ... + 10) */
    assert_prediction(p, 2, -24.5);      /* 0.5 - 25 */
    assert_prediction(p, 3, 0.5 + 38.5); /* 0.5 + sum(i * i / 10) */
    json_decref(p);

    /* No rows, no predictions. */
    p = predict(&l, "{\"data\": []}");
    assert_int_equal(json_array_size(p), 0);
    json_decref(p);

    /* Other keys are ignored; integers and reals both work. */
    p = predict(&l, "{\"meta\": {\"x\": 1}, \"data\": [[0, 0, 0, 0, 0, 0, 0, 0, 0, 100]]}");
    assert_prediction(p, 0, 1000.5);
    json_decref(p);

    l.ops->unload(l.state);
    free(dir);
}

/* The same dot product, computed here from the weights file. */
static double hand_predict(const char *weights_path, const double row[10])
{
    json_error_t jerr;
    json_t *w = json_load_file(weights_path, 0, &jerr);
    assert_non_null(w);
    double y = json_number_value(json_object_get(w, "intercept"));
    json_t *coefs = json_object_get(w, "coefficients");
    assert_int_equal(json_array_size(coefs), 10);
    for (size_t i = 0; i < 10; i++)
        y += json_number_value(json_array_get(coefs, i)) * row[i];
    json_decref(w);
    return y;
}

static void check_example(const char *example, double first, double second)
{
    char *dir = copy_example_model(example, example);
    struct loaded l;
    load_ok(&l, dir, EXAMPLE_CODE_DIR, "score.so");

    char *request = read_text(EXAMPLE_DIR "/sample-request.json");
    json_t *p = predict(&l, request);
    assert_int_equal(json_array_size(p), 2);
    assert_prediction(p, 0, first);
    assert_prediction(p, 1, second);

    json_t *doc = json_loads(request, 0, NULL);
    char *weights = inf_asprintf(EXAMPLE_DIR "/%s/model/weights.json", example);
    for (size_t r = 0; r < 2; r++) {
        double row[10];
        for (size_t i = 0; i < 10; i++)
            row[i] = json_number_value(
                json_array_get(json_array_get(json_object_get(doc, "data"), r), i));
        assert_prediction(p, r, hand_predict(weights, row));
    }
    free(weights);
    json_decref(doc);
    json_decref(p);
    free(request);
    l.ops->unload(l.state);
    free(dir);
}

static void test_example_model_1(void **state)
{
    (void)state;
    check_example("model-1", 206.11010415, 68.02225165);
}

static void test_example_model_2(void **state)
{
    (void)state;
    /* Distinguishable from model-1: the demo tells blue from green by it. */
    check_example("model-2", 399.84833485, 273.35814898);
}

static void test_bad_bodies(void **state)
{
    (void)state;
    char *dir = make_model_dir("bodies", simple_weights);
    struct loaded l;
    load_ok(&l, dir, EXAMPLE_CODE_DIR, "score.so");

    static const struct {
        const char *body;
        const char *needle;
    } cases[] = {
        {"", "empty body"},
        {"not json", "body is not valid JSON"},
        {"{\"data\": [[1, 2", "body is not valid JSON"},
        {"{\"data\": [], \"data\": []}", "duplicate"},
        {"{\"data\": [[1e999, 0, 0, 0, 0, 0, 0, 0, 0, 0]]}", "not valid JSON"},
        {"[[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]", "no \"data\""},
        {"{\"rows\": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}", "no \"data\""},
        {"\"data\"", "not valid JSON"},
        {"{\"data\": 5}", "\"data\" must be an array"},
        {"{\"data\": {\"a\": 1}}", "\"data\" must be an array"},
        {"{\"data\": [5]}", "row 1 (data[0]) is not an array of 10 numbers"},
        {"{\"data\": [[1, 2, 3, 4, 5, 6, 7, 8, 9]]}", "row 1 (data[0]) has 9 values, expected 10"},
        {"{\"data\": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 2, 3, 4, 5, 6, 7, 8, 9]]}",
         "row 2 (data[1]) has 9 values, expected 10"},
        {"{\"data\": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]}", "has 11 values"},
        {"{\"data\": [[]]}", "has 0 values"},
        {"{\"data\": [[1, 2, 3, \"4\", 5, 6, 7, 8, 9, 10]]}", "row 1 (data[0][3]) is not a number"},
        {"{\"data\": [[1, 2, 3, 4, 5, 6, 7, 8, 9, null]]}", "(data[0][9]) is not a number"},
        {"{\"data\": [[1, 2, 3, 4, 5, 6, 7, 8, 9, true]]}", "is not a number"},
        {"{\"data\": [[1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308]]}",
         "overflows"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct backend_response res;
        score(&l, "POST", cases[i].body, strlen(cases[i].body), &res);
        json_t *doc = json_loadb(res.body, res.body_len, 0, NULL);
        const char *msg = json_string_value(json_object_get(doc, "error"));
        if (res.status != 400 || msg == NULL || strstr(msg, cases[i].needle) == NULL)
            fail_msg("body %s: status %d, response %.*s, wanted 400 with \"%s\"", cases[i].body,
                     res.status, (int)res.body_len, res.body, cases[i].needle);
        assert_string_equal(res.content_type, "application/json");
        json_decref(doc);
        backend_response_fini(&res);
    }

    /* Bytes that are not UTF-8 get a 400 all the same. */
    struct backend_response res;
    score(&l, "POST", "{\"data\": \"\xff\xfe\"}", 13, &res);
    if (res.status != 400 || !body_has(&res, "unable to decode byte 0xff"))
        fail_msg("not UTF-8: status %d, %.*s", res.status, (int)res.body_len, res.body);
    backend_response_fini(&res);
    score(&l, "POST", "\xff\xfe", 2, &res);
    assert_int_equal(res.status, 400);
    backend_response_fini(&res);

    /* A body with a NUL byte inside is not JSON. */
    score(&l, "POST", "{\"data\": []}\0x", 14, &res);
    assert_int_equal(res.status, 400);
    backend_response_fini(&res);

    /* Too many rows: 10001 rows of ten zeros. */
    struct inf_buf big;
    inf_buf_init(&big, 1 << 24);
    assert_int_equal(inf_buf_printf(&big, "{\"data\": ["), 0);
    for (int r = 0; r < 10001; r++)
        assert_int_equal(inf_buf_printf(&big, "%s[0,0,0,0,0,0,0,0,0,0]", r ? "," : ""), 0);
    assert_int_equal(inf_buf_printf(&big, "]}"), 0);
    score(&l, "POST", big.data, big.len, &res);
    assert_int_equal(res.status, 400);
    assert_true(body_has(&res, "10001 rows, at most 10000"));
    backend_response_fini(&res);

    /* Exactly 10000 rows are fine. */
    big.len -= strlen(",[0,0,0,0,0,0,0,0,0,0]]}");
    assert_int_equal(inf_buf_printf(&big, "]}"), 0);
    score(&l, "POST", big.data, big.len, &res);
    assert_int_equal(res.status, 200);
    backend_response_fini(&res);
    inf_buf_fini(&big);

    l.ops->unload(l.state);
    free(dir);
}

/* ---- load errors ---- */

static void test_missing_weights(void **state)
{
    (void)state;
    char *dir = make_model_dir("no-weights", NULL);
    load_fails(dir, EXAMPLE_CODE_DIR, "score.so", INF_EINVAL, "model/weights.json",
               "inferd_init failed");
    free(dir);
}

static void test_bad_weights(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"{\"coefficients\": [1, 2", "line 1"},
        {"[1, 2, 3]", "expected a JSON object"},
        {"{\"coefficients\": 5, \"intercept\": 1}", "\"coefficients\" must be an array"},
        {"{\"coefficients\": [], \"intercept\": 1}", "\"coefficients\" must be an array"},
        {"{\"coefficients\": [1, \"2\"], \"intercept\": 1}", "\"coefficients\"[1] is not a number"},
        {"{\"coefficients\": [1, 2]}", "\"intercept\" must be a number"},
        {"{\"coefficients\": [1, 2], \"intercept\": \"0\"}", "\"intercept\" must be a number"},
        {"{\"name\": 5, \"coefficients\": [1], \"intercept\": 0}", "\"name\" must be a string"},
        {"{\"version\": 1.5, \"coefficients\": [1], \"intercept\": 0}", "\"version\" must be"},
        {"{\"coefficients\": [1], \"coefficients\": [2], \"intercept\": 0}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *name = inf_asprintf("bad-weights-%zu", i);
        char *dir = make_model_dir(name, cases[i].json);
        load_fails(dir, EXAMPLE_CODE_DIR, "score.so", INF_EINVAL, "weights.json", cases[i].needle);
        free(dir);
        free(name);
    }
}

static void test_missing_library(void **state)
{
    (void)state;
    char *dir = make_model_dir("lib-missing", simple_weights);
    load_fails(dir, EXAMPLE_CODE_DIR, "nope.so", INF_ENOTFOUND, EXAMPLE_CODE_DIR "/nope.so",
               "No such file");
    /* A trailing slash on the code folder does not double up. */
    load_fails(dir, EXAMPLE_CODE_DIR "/", "nope.so", INF_ENOTFOUND, EXAMPLE_CODE_DIR "/nope.so",
               NULL);
    /* A folder is not a library. */
    load_fails(dir, EXAMPLE_DIR, "code", INF_EINVAL, "is not a file", NULL);
    free(dir);
}

static void test_not_a_library(void **state)
{
    (void)state;
    char *dir = make_model_dir("not-a-library", simple_weights);
    char *fake = tmp_path("fake.so");
    write_file(fake, "this is not an ELF file\n");
    load_fails(dir, tmp_root, "fake.so", INF_EINVAL, "cannot load", "fake.so");
    free(fake);
    free(dir);
}

static void test_missing_code_configuration(void **state)
{
    (void)state;
    load_fails(tmp_root, NULL, NULL, INF_EINVAL, "scoring_script", NULL);
    load_fails(tmp_root, EXAMPLE_CODE_DIR, "", INF_EINVAL, "scoring_script", NULL);
}

static void test_missing_symbol(void **state)
{
    (void)state;
    char *code = tmp_path("NO_RUN");
    load_fails(tmp_root, code, "lib.so", INF_EINVAL, "does not export inferd_run()",
               "NO_RUN/lib.so");
    free(code);
}

static void test_wrong_abi(void **state)
{
    (void)state;
    char *code = tmp_path("ABI_2");
    load_fails(tmp_root, code, "lib.so", INF_EINVAL, "ABI version 2", "needs version 1");
    free(code);
}

static void test_init_fails(void **state)
{
    (void)state;
    char *code = tmp_path("INIT_FAILS");
    load_fails("/models/m", code, "lib.so", INF_EINVAL, "inferd_init failed",
               "no weights under /models/m");
    free(code);
}

/* ---- response mapping ---- */

static void score_variant(const char *variant, struct backend_response *res)
{
    char *code = tmp_path(variant);
    struct loaded l;
    load_ok(&l, "/models/m", code, "lib.so");
    struct backend_request req = {
        .method = "GET",
        .query = "a=1&b=2",
        .content_type = "text/plain",
        .body = "hello",
        .body_len = 5,
        .request_id = "req-42",
    };
    memset(res, 0, sizeof(*res));
    assert_int_equal(l.ops->score(l.state, &req, res), 0);
    l.ops->unload(l.state);
    free(code);
}

static void test_request_and_response_mapping(void **state)
{
    (void)state;
    struct backend_response res;
    score_variant("ECHO", &res);
    assert_int_equal(res.status, 201);
    assert_string_equal(res.content_type, "text/csv");
    assert_int_equal(res.body_len, strlen("GET|a=1&b=2|text/plain|req-42|hello"));
    assert_memory_equal(res.body, "GET|a=1&b=2|text/plain|req-42|hello", res.body_len);
    backend_response_fini(&res);
}

static void test_defaults_for_status_and_content_type(void **state)
{
    (void)state;
    /* Status 0 means 200; an empty content type means application/json. */
    struct backend_response res;
    score_variant("DEFAULTS", &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "application/json");
    assert_memory_equal(res.body, "GET|a=1&b=2|text/plain|req-42|hello", res.body_len);
    backend_response_fini(&res);
}

static void assert_crash_response(const char *variant)
{
    struct backend_response res;
    score_variant(variant, &res);
    assert_int_equal(res.status, 500);
    assert_string_equal(res.content_type, "application/json");
    json_t *doc = json_loadb(res.body, res.body_len, 0, NULL);
    const char *msg = json_string_value(json_object_get(doc, "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "An unexpected error occurred in scoring script"));
    json_decref(doc);
    backend_response_fini(&res);
}

static void test_run_failure_is_500(void **state)
{
    (void)state;
    assert_crash_response("RUN_CRASHES"); /* its body is freed, not leaked */
}

static void test_bad_status_is_500(void **state)
{
    (void)state;
    assert_crash_response("BAD_STATUS");
}

static void test_bad_content_type_is_500(void **state)
{
    (void)state;
    assert_crash_response("BAD_CONTENT_TYPE");
}

static void test_null_body_is_500(void **state)
{
    (void)state;
    assert_crash_response("NULL_BODY"); /* body NULL with a non-zero body_len */
}

static void test_unload_null(void **state)
{
    (void)state;
    backend_find("native")->unload(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_find),
        cmocka_unit_test(test_response_fini),
        cmocka_unit_test(test_predicts_linear_model),
        cmocka_unit_test(test_example_model_1),
        cmocka_unit_test(test_example_model_2),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_missing_weights),
        cmocka_unit_test(test_bad_weights),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_not_a_library),
        cmocka_unit_test(test_missing_code_configuration),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_wrong_abi),
        cmocka_unit_test(test_init_fails),
        cmocka_unit_test(test_request_and_response_mapping),
        cmocka_unit_test(test_defaults_for_status_and_content_type),
        cmocka_unit_test(test_run_failure_is_500),
        cmocka_unit_test(test_bad_status_is_500),
        cmocka_unit_test(test_bad_content_type_is_500),
        cmocka_unit_test(test_null_body_is_500),
        cmocka_unit_test(test_unload_null),
    };
    return cmocka_run_group_tests_name("native", tests, group_setup, group_teardown);
}
