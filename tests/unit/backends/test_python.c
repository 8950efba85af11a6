/*
 * Unit tests for the python backend (backends/python.c with
 * python/inferd/runtime.py): small score.py scripts written to a temporary
 * folder, loaded, scored and unloaded in this process.
 *
 * CPython starts once per process and cannot start again after it is
 * finalised, so the tests run in order: the first checks a wrong
 * INFERD_PYTHON_LIB before anything starts, the second starts the
 * interpreter with an "anchor" script (finding python/ by walking up from
 * this binary, so run it from the build tree), the last unloads the anchor,
 * which finalises the interpreter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
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

static char tmp_root[] = "/tmp/inferd-test-python-XXXXXX";
static const struct backend_ops *ops;
static void *anchor; /* keeps the interpreter running between tests */

static const char crash_body[] = "{\"message\": \"An unexpected error occurred in scoring script. "
                                 "Check the logs for more info.\"}";

/* ---- helpers ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    struct inf_err err;
    if (inf_read_file(path, 1 << 20, &text, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    return text;
}

/* Makes <tmp>/<name>/<file> holding source; returns <tmp>/<name> (caller frees). */
static char *make_file(const char *name, const char *file, const char *source)
{
    char *dir = inf_asprintf("%s/%s", tmp_root, name);
    char *path = inf_asprintf("%s/%s", dir, file);
    assert_int_equal(inf_mkdir_p(dir, 0755, NULL), 0);
    write_file(path, source);
    free(path);
    return dir;
}

static int try_load(const char *name, const char *source, const char *conda_file, void **state,
                    struct inf_err *err)
{
    char *dir = make_file(name, "score.py", source);
    struct backend_config cfg = {
        .model_dir = tmp_root,
        .code_dir = dir,
        .script = "score.py",
        .conda_file = conda_file,
        .timeout_ms = 5000,
    };
    inf_err_clear(err);
    int rc = ops->load(&cfg, state, err);
    free(dir);
    return rc;
}

static void *load(const char *name, const char *source)
{
    void *state = NULL;
    struct inf_err err;
    if (try_load(name, source, NULL, &state, &err) != 0)
        fail_msg("loading %s: %s", name, err.msg);
    assert_non_null(state);
    return state;
}

struct call {
    const char *method;
    const char *query;
    const char *content_type;
    const char *body;
    const struct backend_header *headers;
    size_t n_headers;
    const char *request_id;
};

static void score(void *state, const struct call *c, struct backend_response *res)
{
    struct backend_request req = {
        .method = c->method != NULL ? c->method : "POST",
        .path = "/score",
        .query = c->query != NULL ? c->query : "",
        .content_type = c->content_type != NULL ? c->content_type : "",
        .body = c->body != NULL ? c->body : "",
        .body_len = c->body != NULL ? strlen(c->body) : 0,
        .request_id = c->request_id != NULL ? c->request_id : "req-1",
        .headers = c->headers,
        .n_headers = c->n_headers,
    };
    memset(res, 0, sizeof(*res));
    assert_int_equal(ops->score(state, &req, res), 0);
    assert_non_null(res->body);
}

static void post(void *state, const char *content_type, const char *body,
                 struct backend_response *res)
{
    struct call c = {.method = "POST", .content_type = content_type, .body = body};
    score(state, &c, res);
}

static json_t *body_json(const struct backend_response *res)
{
    json_error_t jerr;
    json_t *doc = json_loadb(res->body, res->body_len, JSON_DECODE_ANY, &jerr);
    if (doc == NULL)
        fail_msg("body is not JSON (%s): %.*s", jerr.text, (int)res->body_len, res->body);
    return doc;
}

/* The "message" of a {"message": ...} body (a fresh copy). */
static char *body_message(const struct backend_response *res)
{
    json_t *doc = body_json(res);
    const char *msg = json_string_value(json_object_get(doc, "message"));
    assert_non_null(msg);
    char *copy = inf_strdup(msg);
    json_decref(doc);
    return copy;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("expected \"%s\" in: %s", needle, haystack);
}

/* Redirects fd (1 or 2) into a file until capture_stop. */
struct capture {
    int fd;
    int saved;
    char *path;
};

/* The captures in progress (of fd 1 and fd 2), undone by end_capture if
 * their test fails midway. */
static struct capture *active_capture[3];

static void capture_start(struct capture *c, int fd, const char *name)
{
    assert_true(fd == 1 || fd == 2);
    fflush(NULL);
    c->fd = fd;
    c->path = inf_asprintf("%s/%s", tmp_root, name);
    c->saved = dup(fd);
    int out = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(c->saved >= 0 && out >= 0);
    assert_int_equal(dup2(out, fd), fd);
    close(out);
    active_capture[fd] = c;
}

/* Restores the fd; returns what was written (caller frees). */
static char *capture_stop(struct capture *c)
{
    fflush(NULL);
    active_capture[c->fd] = NULL;
    assert_int_equal(dup2(c->saved, c->fd), c->fd);
    close(c->saved);
    char *text = read_text(c->path);
    free(c->path);
    return text;
}

/* Teardown of the tests that capture output: a failed assertion must not
 * leave stdout or stderr redirected for the tests after it. */
static int end_capture(void **unused)
{
    (void)unused;
    fflush(NULL);
    for (int fd = 1; fd <= 2; fd++) {
        struct capture *c = active_capture[fd];
        if (c != NULL) {
            active_capture[fd] = NULL;
            dup2(c->saved, c->fd);
            close(c->saved);
            free(c->path);
        }
    }
    return 0;
}

/* ---- interpreter lifecycle (these run first and last) ---- */

static void on_signal(int sig)
{
    (void)sig;
}

static void test_registry(void **unused)
{
    (void)unused;
    ops = backend_find("python");
    assert_non_null(ops);
    assert_string_equal(ops->name, "python");
    assert_int_equal(ops->flags & BACKEND_PREFORK, BACKEND_PREFORK);
    assert_non_null(ops->swagger);
    assert_non_null(ops->before_fork);
    assert_non_null(ops->after_fork_parent);
    assert_non_null(ops->after_fork_child);
}

static void test_wrong_python_lib(void **unused)
{
    (void)unused;
    char *saved = getenv("INFERD_PYTHON_LIB") ? inf_strdup(getenv("INFERD_PYTHON_LIB")) : NULL;
    setenv("INFERD_PYTHON_LIB", "/nonexistent/inferd-python", 1);
    void *state = NULL;
    struct inf_err err;
    assert_int_equal(try_load("libenv", "def run(d):\n    return d\n", NULL, &state, &err),
                     INF_ENOTFOUND);
    assert_null(state);
    assert_contains(err.msg, "INFERD_PYTHON_LIB=/nonexistent/inferd-python");
    assert_contains(err.msg, "inferd/runtime.py");
    if (saved != NULL)
        setenv("INFERD_PYTHON_LIB", saved, 1);
    else
        unsetenv("INFERD_PYTHON_LIB");
    free(saved);
}

/* Starts the interpreter: python/ found from this binary, Debian's Python. */
static void test_interpreter_starts(void **unused)
{
    (void)unused;
    char *saved = getenv("INFERD_PYTHON_LIB") ? inf_strdup(getenv("INFERD_PYTHON_LIB")) : NULL;
    unsetenv("INFERD_PYTHON_LIB");
    /* Like the worker: its handlers are installed before the backend loads. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGINT, &sa, NULL), 0);
    assert_int_equal(sigaction(SIGTERM, &sa, NULL), 0);
    int blas_was_set = getenv("OPENBLAS_NUM_THREADS") != NULL;
    anchor = load("anchor", "import os, sys\n"
                            "import numpy\n"
                            "def run(raw):\n"
                            "    return {'executable': sys.executable,\n"
                            "            'sum': int(numpy.arange(4).sum()),\n"
                            "            'path': sys.path[:2],\n"
                            "            'blas': os.environ.get('OPENBLAS_NUM_THREADS'),\n"
                            "            'omp': os.environ.get('OMP_NUM_THREADS'),\n"
                            "            'sigint': repr(__import__('signal').getsignal(2))}\n");
    if (saved != NULL)
        setenv("INFERD_PYTHON_LIB", saved, 1);
    free(saved);

    struct backend_response res;
    post(anchor, "", "", &res);
    assert_int_equal(res.status, 200);
    json_t *doc = body_json(&res);
    assert_string_equal(json_string_value(json_object_get(doc, "executable")),
                        "/usr/bin/python3.11");
    assert_int_equal(json_integer_value(json_object_get(doc, "sum")), 6);
    char *code_dir = inf_asprintf("%s/anchor", tmp_root);
    json_t *path = json_object_get(doc, "path");
    assert_string_equal(json_string_value(json_array_get(path, 0)), code_dir);
    const char *lib = json_string_value(json_array_get(path, 1));
    assert_non_null(lib);
    size_t lib_len = strlen(lib);
    assert_true(lib_len > 7 && strcmp(lib + lib_len - 7, "/python") == 0);
    if (!blas_was_set) {
        assert_string_equal(json_string_value(json_object_get(doc, "blas")), "1");
        assert_string_equal(json_string_value(json_object_get(doc, "omp")), "1");
    }
    /* Python left the worker's signal handlers alone, even after `import signal`. */
    assert_string_equal(json_string_value(json_object_get(doc, "sigint")), "None");
    struct sigaction now;
    assert_int_equal(sigaction(SIGINT, NULL, &now), 0);
    assert_ptr_equal(now.sa_handler, on_signal);
    assert_int_equal(sigaction(SIGTERM, NULL, &now), 0);
    assert_ptr_equal(now.sa_handler, on_signal);
    signal(SIGINT, SIG_DFL); /* a stuck test binary stays killable */
    signal(SIGTERM, SIG_DFL);
    json_decref(doc);
    free(code_dir);
    backend_response_fini(&res);
}

/* The last unload finalises CPython; it cannot start again in this process. */
static void test_finalise(void **unused)
{
    (void)unused;
    assert_non_null(anchor);
    ops->unload(anchor);
    anchor = NULL;
    void *state = NULL;
    struct inf_err err;
    assert_int_equal(try_load("again", "def run(d):\n    return d\n", NULL, &state, &err),
                     INF_EINTERNAL);
    assert_null(state);
    assert_contains(err.msg, "finalised");
}

/* ---- load errors ---- */

static void test_load_needs_script(void **unused)
{
    (void)unused;
    void *state = NULL;
    struct inf_err err;
    struct backend_config cfg = {.model_dir = tmp_root};
    assert_int_equal(ops->load(&cfg, &state, &err), INF_EINVAL);
    assert_contains(err.msg, "scoring_script");

    cfg.code_dir = tmp_root;
    cfg.script = "missing.py";
    assert_int_equal(ops->load(&cfg, &state, &err), INF_ENOTFOUND);
    assert_contains(err.msg, "missing.py");
    assert_null(state);
}

static void test_init_failure(void **unused)
{
    (void)unused;
    void *state = NULL;
    struct inf_err err;
    struct capture cap;
    capture_start(&cap, 2, "init_failure.err");
    int rc = try_load("initfail",
                      "import os\n"
                      "def helper():\n"
                      "    raise ValueError('no model under ' + 'x' * 300)\n"
                      "def init():\n"
                      "    helper()\n"
                      "def run(d):\n"
                      "    return d\n",
                      NULL, &state, &err);
    char *stderr_text = capture_stop(&cap);
    assert_int_equal(rc, INF_EINVAL);
    assert_null(state);
    assert_contains(err.msg, "python backend: ");
    assert_contains(err.msg, "initfail/score.py: init() failed: ValueError: no model under x");
    assert_contains(err.msg, "in helper"); /* the traceback's last lines */
    assert_contains(err.msg, "raise ValueError(");
    assert_true(strlen(err.msg) < INF_ERR_MSG_MAX - 1); /* fits, not truncated */
    /* The whole traceback reaches the instance log, without a request prefix. */
    assert_contains(stderr_text, "Traceback (most recent call last):");
    assert_contains(stderr_text, "in init");
    assert_null(strstr(stderr_text, "[req"));
    free(stderr_text);
}

static void test_import_failure(void **unused)
{
    (void)unused;
    void *state = NULL;
    struct inf_err err;
    struct capture cap;
    capture_start(&cap, 2, "import_failure.err");
    int rc =
        try_load("importfail", "import surely_not_a_module_inferd\ndef run(d):\n    return d\n",
                 NULL, &state, &err);
    free(capture_stop(&cap));
    assert_int_equal(rc, INF_EINVAL);
    assert_contains(err.msg, "importfail/score.py: import failed: ModuleNotFoundError: No module "
                             "named 'surely_not_a_module_inferd'");
}

static void test_no_run(void **unused)
{
    (void)unused;
    void *state = NULL;
    struct inf_err err;
    assert_int_equal(try_load("norun", "def init():\n    pass\n", NULL, &state, &err), INF_EINVAL);
    assert_contains(err.msg, "norun/score.py: defines no run() function");
}

static void test_conda_file(void **unused)
{
    (void)unused;
    char *dir = make_file("conda", "conda.yml",
                          "name: env\n"
                          "channels: [conda-forge]\n"
                          "dependencies:\n"
                          "  - python=3.8\n"
                          "  - pip\n"
                          "  - scikit-learn=1.0.2\n"
                          "  - numpy>=1.2\n"
                          "  - pip:\n"
                          "    - azureml-defaults\n"
                          "    - inference-schema[numpy-support]==1.3.0\n"
                          "    - joblib==1.1\n"
                          "    - surely-not-installed-inferd==1.0\n"
                          "    - PyYAML\n"
                          "    - other_missing_inferd\n");
    char *conda = inf_asprintf("%s/conda.yml", dir);
    void *state = NULL;
    struct inf_err err;
    assert_int_equal(try_load("conda", "def run(d):\n    return d\n", conda, &state, &err),
                     INF_EINVAL);
    assert_null(state);
    assert_contains(err.msg, "conda.yml: these packages are not installed on this machine: "
                             "surely-not-installed-inferd, other_missing_inferd.");
    assert_contains(err.msg, "docs/python.md");
    assert_null(strstr(err.msg, "joblib"));
    assert_null(strstr(err.msg, "azureml"));

    /* Every package installed: loads. */
    write_file(conda,
               "dependencies:\n  - python=3.11\n  - numpy\n  - pip:\n"
               "    - scikit-learn\n    - pandas>=1.0\n    - azureml-inference-server-http\n");
    assert_int_equal(try_load("conda", "def run(d):\n    return d\n", conda, &state, &err), 0);
    ops->unload(state);

    write_file(conda, "dependencies: [unclosed\n");
    assert_int_equal(try_load("conda", "def run(d):\n    return d\n", conda, &state, &err),
                     INF_EINVAL);
    assert_contains(err.msg, "conda.yml: not valid YAML");
    free(conda);
    free(dir);
}

/* ---- plain run() ---- */

static const char echo_script[] = "import json\n"
                                  "def init():\n"
                                  "    global factor\n"
                                  "    factor = 2\n"
                                  "def run(raw_data):\n"
                                  "    if raw_data == 'text':\n"
                                  "        return 'hi'\n"
                                  "    return {'got': raw_data, 'type': type(raw_data).__name__,\n"
                                  "            'factor': factor}\n";

static void test_plain_post(void **unused)
{
    (void)unused;
    void *state = load("echo", echo_script);
    struct backend_response res;
    post(state, "application/json", "{\"a\": [1, 2]}", &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "application/json");
    assert_string_equal(res.extra_headers, "");
    json_t *doc = body_json(&res);
    assert_string_equal(json_string_value(json_object_get(doc, "got")), "{\"a\": [1, 2]}");
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "str");
    assert_int_equal(json_integer_value(json_object_get(doc, "factor")), 2);
    json_decref(doc);
    backend_response_fini(&res);

    /* A str return is JSON-encoded, as Azure's server does. */
    post(state, "text/plain", "text", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body_len, 4);
    assert_memory_equal(res.body, "\"hi\"", 4);
    backend_response_fini(&res);
    ops->unload(state);
}

static void test_plain_bad_utf8(void **unused)
{
    (void)unused;
    void *state = load("utf8", echo_script);
    struct backend_response res;
    post(state, "text/plain", "ok \xff\xfe", &res);
    assert_int_equal(res.status, 400);
    char *msg = body_message(&res);
    assert_contains(msg, "not valid UTF-8 (byte 0xff at offset 3)");
    free(msg);
    backend_response_fini(&res);
    ops->unload(state);
}

static void test_plain_get(void **unused)
{
    (void)unused;
    void *state = load("get", echo_script);
    struct backend_response res;
    struct call c = {.method = "GET", .query = "n=3&s=abc&l=%5B1%2C2%5D&t=true"};
    score(state, &c, &res);
    assert_int_equal(res.status, 200);
    json_t *doc = body_json(&res);
    /* run() got the parameters, each parsed as JSON, as a JSON string. */
    const char *got = json_string_value(json_object_get(doc, "got"));
    assert_non_null(got);
    json_t *params = json_loads(got, 0, NULL);
    assert_non_null(params);
    assert_int_equal(json_integer_value(json_object_get(params, "n")), 3);
    assert_string_equal(json_string_value(json_object_get(params, "s")), "abc");
    assert_int_equal(json_array_size(json_object_get(params, "l")), 2);
    assert_true(json_is_true(json_object_get(params, "t")));
    json_decref(params);
    json_decref(doc);
    backend_response_fini(&res);
    ops->unload(state);
}

static void test_request_headers(void **unused)
{
    (void)unused;
    void *state = load("headers", "def run(data, request_headers):\n"
                                  "    return {'data': data, 'headers': request_headers}\n");
    static const struct backend_header headers[] = {
        {"content-type", "text/plain"},
        {"x-custom", "v1"},
        {"x-latin", "caf\xe9"},
    };
    struct call c = {.body = "x", .content_type = "text/plain", .headers = headers, .n_headers = 3};
    struct backend_response res;
    score(state, &c, &res);
    assert_int_equal(res.status, 200);
    json_t *doc = body_json(&res);
    json_t *h = json_object_get(doc, "headers");
    assert_string_equal(json_string_value(json_object_get(h, "x-custom")), "v1");
    assert_string_equal(json_string_value(json_object_get(h, "content-type")), "text/plain");
    assert_string_equal(json_string_value(json_object_get(h, "x-latin")), "caf\xc3\xa9");
    assert_string_equal(json_string_value(json_object_get(doc, "data")), "x");
    json_decref(doc);
    backend_response_fini(&res);
    ops->unload(state);
}

static void test_run_exception(void **unused)
{
    (void)unused;
    void *state = load("raises", "def run(data):\n"
                                 "    raise RuntimeError('model exploded')\n");
    struct capture cap;
    capture_start(&cap, 2, "raises.err");
    struct call c = {.body = "x", .request_id = "req-42"};
    struct backend_response res;
    score(state, &c, &res);
    char *log = capture_stop(&cap);
    assert_int_equal(res.status, 500);
    assert_int_equal(res.body_len, strlen(crash_body));
    assert_memory_equal(res.body, crash_body, res.body_len);
    assert_contains(log, "[req-42] Traceback (most recent call last):");
    assert_contains(log, "[req-42] RuntimeError: model exploded");
    free(log);
    backend_response_fini(&res);
    ops->unload(state);
}

static void test_output_prefixed(void **unused)
{
    (void)unused;
    struct capture out, err_cap;
    capture_start(&out, 1, "prefix.out");
    void *state = load("prints", "import logging, sys\n"
                                 "print('init line')\n"
                                 "def run(data):\n"
                                 "    print('hello')\n"
                                 "    print('a\\nb', end='')\n"
                                 "    logging.warning('careful')\n"
                                 "    sys.stderr.write('to stderr\\n')\n"
                                 "    return 1\n");
    capture_start(&err_cap, 2, "prefix.err");
    struct call c = {.body = "x", .request_id = "abc-123"};
    struct backend_response res;
    score(state, &c, &res);
    char *err_text = capture_stop(&err_cap);
    char *out_text = capture_stop(&out);
    assert_int_equal(res.status, 200);
    assert_contains(out_text, "init line\n");
    assert_null(strstr(out_text, "] init line"));
    assert_contains(out_text, "[abc-123] hello\n[abc-123] a\n[abc-123] b\n");
    /* logging.warning() configured the root logger on sys.stderr: ours. */
    assert_contains(err_text, "[abc-123] WARNING:root:careful\n");
    assert_contains(err_text, "[abc-123] to stderr\n");
    free(err_text);
    free(out_text);
    backend_response_fini(&res);
    ops->unload(state);
}

static void test_return_values(void **unused)
{
    (void)unused;
    void *state = load("returns", "import numpy as np, pandas as pd\n"
                                  "def run(kind):\n"
                                  "    if kind == 'numpy':\n"
                                  "        return {'a': np.array([1.5, 2.5]), 'n': np.int64(7)}\n"
                                  "    if kind == 'pandas':\n"
                                  "        return pd.DataFrame({'x': [1, 2], 'y': ['a', 'b']})\n"
                                  "    if kind == 'series':\n"
                                  "        return pd.Series([3, 4])\n"
                                  "    return object()\n");
    struct backend_response res;
    post(state, "", "numpy", &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "{\"a\": [1.5, 2.5], \"n\": 7}");
    backend_response_fini(&res);

    post(state, "", "pandas", &res);
    assert_string_equal(res.body, "[{\"x\": 1, \"y\": \"a\"}, {\"x\": 2, \"y\": \"b\"}]");
    backend_response_fini(&res);

    post(state, "", "series", &res);
    assert_string_equal(res.body, "[3, 4]");
    backend_response_fini(&res);

    struct capture cap;
    capture_start(&cap, 2, "returns.err");
    post(state, "", "other", &res);
    free(capture_stop(&cap));
    assert_int_equal(res.status, 500);
    char *msg = body_message(&res);
    assert_contains(msg, "Object of type object is not JSON serializable");
    free(msg);
    backend_response_fini(&res);
    ops->unload(state);
}

/* ---- @input_schema ---- */

static const char schema_script[] =
    "import numpy as np\n"
    "from inference_schema.schema_decorators import input_schema, output_schema\n"
    "from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType\n"
    "from inference_schema.parameter_types.standard_py_parameter_type import "
    "StandardPythonParameterType\n"
    "@input_schema('data', NumpyParameterType(np.array([[1.0, 2.0]])))\n"
    "@input_schema('scale', StandardPythonParameterType(1.0))\n"
    "@output_schema(StandardPythonParameterType([3.0]))\n"
    "def run(data, scale=1.0):\n"
    "    assert data.dtype == np.float64\n"
    "    return (data.sum(axis=1) * scale).tolist()\n";

static void expect_status(void *state, const struct call *c, int status, const char *needle)
{
    struct backend_response res;
    score(state, c, &res);
    if (res.status != status)
        fail_msg("expected %d, got %d: %.*s", status, res.status, (int)res.body_len, res.body);
    if (needle != NULL) {
        char *msg = body_message(&res);
        assert_contains(msg, needle);
        free(msg);
    }
    backend_response_fini(&res);
}

static void test_schema(void **unused)
{
    (void)unused;
    void *state = load("schema", schema_script);
    struct backend_response res;
    post(state, "application/json; charset=utf-8", "{\"data\": [[1, 2], [3, 4]], \"scale\": 2}",
         &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "[6.0, 14.0]");
    backend_response_fini(&res);

    struct call c = {.content_type = "text/plain", .body = "{\"data\": [[1, 2]]}"};
    expect_status(state, &c, 415, "Content-Type must be application/json");
    c.content_type = "";
    expect_status(state, &c, 415, "got none");
    c.content_type = "application/json";
    c.body = "{\"scale\": 2}";
    expect_status(state, &c, 400, "missing input 'data'");
    c.body = "{\"data\": [[1, 2]], \"extra\": 1}";
    expect_status(state, &c, 400, "unknown input 'extra'");
    c.body = "[[1, 2]]";
    expect_status(state, &c, 400, "must be a JSON object");
    c.body = "{\"data\": [[1, 2, 3]]}";
    expect_status(state, &c, 400, "input 'data': the input has shape (1, 3)");
    c.body = "{\"data\": [[\"a\", 2]]}";
    expect_status(state, &c, 400, "input 'data': cannot convert the input to a float64 array");
    c.body = "{\"data\": ";
    expect_status(state, &c, 400, "not valid JSON");

    struct call get = {.method = "GET", .query = "data=[[1,1]]&scale=3"};
    score(state, &get, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "[6.0]");
    backend_response_fini(&res);
    ops->unload(state);
}

static void test_schema_kwargs(void **unused)
{
    (void)unused;
    void *state =
        load("kwargs", "from inference_schema.schema_decorators import input_schema\n"
                       "from inference_schema.parameter_types.standard_py_parameter_type import "
                       "StandardPythonParameterType\n"
                       "@input_schema('a', StandardPythonParameterType(1))\n"
                       "def run(a, request_headers, **rest):\n"
                       "    return {'a': a, 'rest': sorted(rest), 'id': "
                       "request_headers.get('x-id')}\n");
    static const struct backend_header headers[] = {{"x-id", "7"}};
    struct call c = {.content_type = "application/json",
                     .body = "{\"a\": 1, \"b\": 2, \"c\": 3}",
                     .headers = headers,
                     .n_headers = 1};
    struct backend_response res;
    score(state, &c, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "{\"a\": 1, \"rest\": [\"b\", \"c\"], \"id\": \"7\"}");
    backend_response_fini(&res);
    ops->unload(state);
}

/* ---- @rawhttp ---- */

static void test_rawhttp(void **unused)
{
    (void)unused;
    void *state = load(
        "raw",
        "import json\n"
        "from azureml.contrib.services.aml_request import AMLRequest, rawhttp\n"
        "from azureml.contrib.services.aml_response import AMLResponse\n"
        "@rawhttp\n"
        "def run(request):\n"
        "    assert isinstance(request, AMLRequest)\n"
        "    if request.method == 'GET':\n"
        "        return AMLResponse('hello ' + request.args.get('name', ''), 201,\n"
        "                           {'X-Thing': 'yes', 'X-Bad': 'a\\r\\nInjected: 1'})\n"
        "    if request.headers.get('X-MODE') == 'json':\n"
        "        return AMLResponse({'sum': sum(request.get_json()['v'])}, 200, json_str=True)\n"
        "    if request.headers.get('X-MODE') == 'bytes':\n"
        "        return AMLResponse(request.get_data()[::-1], 202, {'Content-Type': 'image/png'})\n"
        "    return {'path': request.full_path, 'type': request.content_type}\n");
    struct backend_response res;
    struct call get = {.method = "GET", .query = "name=bob"};
    struct capture cap;
    capture_start(&cap, 2, "raw.err");
    score(state, &get, &res);
    free(capture_stop(&cap));
    assert_int_equal(res.status, 201);
    assert_string_equal(res.body, "hello bob");
    assert_string_equal(res.content_type, "text/html; charset=utf-8");
    /* The header with CR/LF was dropped, the other one kept. */
    assert_string_equal(res.extra_headers, "X-Thing: yes\r\n");
    backend_response_fini(&res);

    static const struct backend_header json_mode[] = {{"x-mode", "json"}};
    struct call c = {.content_type = "application/json",
                     .body = "{\"v\": [1, 2, 3]}",
                     .headers = json_mode,
                     .n_headers = 1};
    score(state, &c, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "application/json");
    assert_string_equal(res.body, "{\"sum\": 6}");
    backend_response_fini(&res);

    static const struct backend_header bytes_mode[] = {{"x-mode", "bytes"}};
    c.headers = bytes_mode;
    c.body = "abc";
    score(state, &c, &res);
    assert_int_equal(res.status, 202);
    assert_string_equal(res.content_type, "image/png");
    assert_string_equal(res.body, "cba");
    assert_string_equal(res.extra_headers, "");
    backend_response_fini(&res);

    struct call plain = {.content_type = "text/csv", .query = "q=1", .body = "x"};
    score(state, &plain, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "{\"path\": \"/score?q=1\", \"type\": \"text/csv\"}");
    backend_response_fini(&res);
    ops->unload(state);
}

/* ---- swagger ---- */

static json_t *swagger(void *state, int version)
{
    struct backend_response res;
    memset(&res, 0, sizeof(res));
    assert_int_equal(ops->swagger(state, version, &res), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "application/json");
    json_t *doc = body_json(&res);
    backend_response_fini(&res);
    return doc;
}

static void test_swagger_generated(void **unused)
{
    (void)unused;
    void *state = load("swagger", schema_script);
    json_t *v2 = swagger(state, 2);
    assert_string_equal(json_string_value(json_object_get(v2, "swagger")), "2.0");
    json_t *input = json_object_get(json_object_get(v2, "definitions"), "ServiceInput");
    json_t *data = json_object_get(json_object_get(input, "properties"), "data");
    assert_string_equal(json_string_value(json_object_get(data, "type")), "array");
    json_t *item = json_object_get(json_object_get(data, "items"), "items");
    assert_string_equal(json_string_value(json_object_get(item, "type")), "number");
    assert_string_equal(json_string_value(json_object_get(item, "format")), "double");
    json_t *example = json_object_get(json_object_get(input, "example"), "data");
    assert_true(json_is_array(example));
    json_t *required = json_object_get(input, "required");
    assert_int_equal(json_array_size(required), 1);
    assert_string_equal(json_string_value(json_array_get(required, 0)), "data");
    json_t *post_op =
        json_object_get(json_object_get(json_object_get(v2, "paths"), "/score"), "post");
    assert_non_null(post_op);
    json_t *output = json_object_get(json_object_get(v2, "definitions"), "ServiceOutput");
    assert_string_equal(json_string_value(json_object_get(output, "type")), "array");
    json_decref(v2);

    json_t *v3 = swagger(state, 3);
    assert_string_equal(json_string_value(json_object_get(v3, "openapi")), "3.0.1");
    json_t *schemas = json_object_get(json_object_get(v3, "components"), "schemas");
    assert_non_null(json_object_get(
        json_object_get(json_object_get(schemas, "ServiceInput"), "properties"), "scale"));
    json_decref(v3);
    ops->unload(state);

    state = load("swagger_plain", echo_script);
    v2 = swagger(state, 2);
    input = json_object_get(json_object_get(v2, "definitions"), "ServiceInput");
    json_t *expected = json_pack("{s:s,s:{}}", "type", "object", "example");
    assert_true(json_equal(input, expected));
    json_decref(expected);
    json_decref(v2);
    ops->unload(state);
}

static void test_swagger_files(void **unused)
{
    (void)unused;
    char *dir = make_file("swagger_files", "swagger.json", "{\"from\": \"swagger.json\"}");
    char *v3_path = inf_asprintf("%s/swagger3.json", dir);
    write_file(v3_path, "{\"from\": \"swagger3.json\"}");
    void *state = load("swagger_files", echo_script);
    json_t *doc = swagger(state, 2);
    assert_string_equal(json_string_value(json_object_get(doc, "from")), "swagger.json");
    json_decref(doc);
    doc = swagger(state, 3);
    assert_string_equal(json_string_value(json_object_get(doc, "from")), "swagger3.json");
    json_decref(doc);
    ops->unload(state);
    free(v3_path);
    free(dir);

    state = load("swagger_hook", "def run(d):\n    return d\n"
                                 "def inferd_swagger(version):\n"
                                 "    return {'custom': version}\n");
    doc = swagger(state, 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "custom")), 3);
    json_decref(doc);
    ops->unload(state);
}

/* ---- threads and processes ---- */

struct thread_call {
    void *state;
    int status;
    char body[64];
};

static void *score_in_thread(void *arg)
{
    struct thread_call *t = arg;
    struct backend_request req = {.method = "POST",
                                  .path = "/score",
                                  .query = "",
                                  .content_type = "",
                                  .body = "thread",
                                  .body_len = 6,
                                  .request_id = "req-thread"};
    struct backend_response res;
    memset(&res, 0, sizeof(res));
    if (ops->score(t->state, &req, &res) == 0 && res.body != NULL) {
        t->status = res.status;
        snprintf(t->body, sizeof(t->body), "%s", res.body);
    }
    backend_response_fini(&res);
    return NULL;
}

/* load() released the GIL: another thread can score. */
static void test_other_thread(void **unused)
{
    (void)unused;
    void *state = load("thread", "import threading\n"
                                 "def run(d):\n"
                                 "    return d + ' ' + str(threading.current_thread() is\n"
                                 "                         threading.main_thread())\n");
    struct thread_call t = {.state = state};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, score_in_thread, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.status, 200);
    assert_string_equal(t.body, "\"thread False\"");
    ops->unload(state);
}

/* A busy Python thread takes the GIL all the time: a fork that did not take
 * it first (before_fork) would leave the child a GIL held by nobody. */
static const char pid_script[] = "import os, threading\n"
                                 "calls = 0\n"
                                 "stop = threading.Event()\n"
                                 "def spin():\n"
                                 "    while not stop.is_set():\n"
                                 "        sum(range(1000))\n"
                                 "def init():\n"
                                 "    threading.Thread(target=spin, daemon=True).start()\n"
                                 "def run(d):\n"
                                 "    if d == 'stop':\n"
                                 "        stop.set()\n"
                                 "        return None\n"
                                 "    global calls\n"
                                 "    calls += 1\n"
                                 "    t = threading.Thread(target=lambda: None)\n"
                                 "    t.start(); t.join()\n"
                                 "    return {'pid': os.getpid(), 'calls': calls}\n";

/* Forks a scoring child the way the worker's pool does; returns its reply body. */
static char *score_in_child(void *state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    ops->before_fork(state);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30); /* a child deadlocked on the GIL dies instead of hanging the test */
        ops->after_fork_child(state);
        close(fds[0]);
        struct backend_request req = {.method = "POST",
                                      .path = "/score",
                                      .query = "",
                                      .content_type = "",
                                      .body = "x",
                                      .body_len = 1,
                                      .request_id = "req-child"};
        struct backend_response res;
        memset(&res, 0, sizeof(res));
        int ok = ops->score(state, &req, &res) == 0 && res.status == 200;
        if (ok && write(fds[1], res.body, res.body_len) != (ssize_t)res.body_len)
            ok = 0;
        ops->unload(state); /* not the interpreter's owner: must not finalise */
        _exit(ok ? 0 : 1);
    }
    ops->after_fork_parent(state);
    assert_true(pid > 0);
    close(fds[1]);
    char buf[256];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(n > 0);
    buf[n] = '\0';
    return inf_strdup(buf);
}

static void test_fork(void **unused)
{
    (void)unused;
    void *state = load("fork", pid_script);
    struct backend_response res;
    post(state, "", "x", &res); /* calls = 1 in the parent */
    backend_response_fini(&res);

    for (int round = 0; round < 20; round++) {
        char *child = score_in_child(state);
        json_t *doc = json_loads(child, 0, NULL);
        assert_non_null(doc);
        assert_int_not_equal(json_integer_value(json_object_get(doc, "pid")), getpid());
        /* The child inherited the parent's state (copy-on-write), then scored once. */
        assert_int_equal(json_integer_value(json_object_get(doc, "calls")), round + 2);
        json_decref(doc);
        free(child);

        post(state, "", "x", &res);
        assert_int_equal(res.status, 200);
        json_t *parent = body_json(&res);
        assert_int_equal(json_integer_value(json_object_get(parent, "pid")), getpid());
        assert_int_equal(json_integer_value(json_object_get(parent, "calls")), round + 2);
        json_decref(parent);
        backend_response_fini(&res);
    }
    post(state, "", "stop", &res);
    backend_response_fini(&res);
    ops->unload(state);
}

static int group_setup(void **unused)
{
    (void)unused;
    return mkdtemp(tmp_root) != NULL ? 0 : -1;
}

static int group_teardown(void **unused)
{
    (void)unused;
    return inf_rm_rf(tmp_root, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_wrong_python_lib),
        cmocka_unit_test(test_interpreter_starts),
        cmocka_unit_test(test_load_needs_script),
        cmocka_unit_test_teardown(test_init_failure, end_capture),
        cmocka_unit_test_teardown(test_import_failure, end_capture),
        cmocka_unit_test(test_no_run),
        cmocka_unit_test(test_conda_file),
        cmocka_unit_test(test_plain_post),
        cmocka_unit_test(test_plain_bad_utf8),
        cmocka_unit_test(test_plain_get),
        cmocka_unit_test(test_request_headers),
        cmocka_unit_test_teardown(test_run_exception, end_capture),
        cmocka_unit_test_teardown(test_output_prefixed, end_capture),
        cmocka_unit_test_teardown(test_return_values, end_capture),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_schema_kwargs),
        cmocka_unit_test_teardown(test_rawhttp, end_capture),
        cmocka_unit_test(test_swagger_generated),
        cmocka_unit_test(test_swagger_files),
        cmocka_unit_test(test_other_thread),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_finalise),
    };
    return cmocka_run_group_tests_name("python", tests, group_setup, group_teardown);
}
