/*
 * python: runs a Python scoring script (Azure ML's init()/run() contract) in
 * an embedded CPython 3.11, Debian's libpython.
 *
 * The contract lives in python/inferd/runtime.py (class Scorer): this file
 * starts the interpreter, creates a Scorer in load() and converts requests
 * and replies in score() and swagger(). The interpreter runs isolated from
 * the environment (PYTHONPATH, PYTHONHOME, a pyenv shim on PATH) as
 * /usr/bin/python3.11, so sys.path is Debian's, with inferd's python/ folder
 * first (after the script's code folder, which the runtime puts in front).
 *
 * Threads and the GIL: load() runs on the worker's main thread and releases
 * the GIL before returning, so the worker's C code runs without it. score(),
 * swagger() and unload() take it (PyGILState_Ensure) and give it back.
 *
 * Processes: BACKEND_PREFORK. The worker loads once, then forks scoring
 * children: before_fork takes the GIL and the import lock (PyOS_BeforeFork)
 * so that no Python thread holds them across fork(); after_fork_parent and
 * after_fork_child reset them on each side and release the GIL, so both
 * processes can take it again.
 *
 * Lifecycle: CPython is one per process. A static record counts the loaded
 * states; the last unload in the process that started the interpreter
 * finalises it (Py_FinalizeEx). CPython cannot start again once extension
 * modules such as numpy were imported, so a later load fails clearly.
 */
#define PY_SSIZE_T_CLEAN
#include "backends/python.h"

#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define PYTHON_PROGRAM "/usr/bin/python3.11"
#define PYTHON_LIB_ENV "INFERD_PYTHON_LIB"
#define RUNTIME_FILE "inferd/runtime.py"
#define EXCEPTION_TEXT_MAX 400

struct python {
    PyObject *scorer; /* inferd.runtime.Scorer */
    PyObject *score;  /* its bound methods, looked up once */
    PyObject *swagger;
    PyGILState_STATE fork_gil; /* held from before_fork to after_fork_* */
};

/* The process's interpreter, as this backend started it. */
static struct {
    int users;     /* loaded states */
    pid_t owner;   /* the process that started it; 0 when not running */
    int finalised; /* Py_FinalizeEx ran: CPython cannot start again */
} interp;

/* Azure's answer when a scoring script fails (COMPAT.md). */
static const char crash_body[] = "{\"message\": \"An unexpected error occurred in scoring script. "
                                 "Check the logs for more info.\"}";

/* ---- finding python/ ---- */

static int has_runtime(const char *dir)
{
    char *path = inf_asprintf("%s/" RUNTIME_FILE, dir);
    struct stat st;
    int found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return found;
}

/* inferd's python/ folder into *out (caller frees): $INFERD_PYTHON_LIB, else
 * the first <dir>/python holding inferd/runtime.py, walking up from the
 * executable's folder (build/inferd -> ./python; also build/tests/...). */
int python_lib_dir(char **out, struct inf_err *err)
{
    const char *env = getenv(PYTHON_LIB_ENV);
    if (env != NULL && env[0] != '\0') {
        if (!has_runtime(env))
            return inf_err_set(err, INF_ENOTFOUND,
                               "python backend: " PYTHON_LIB_ENV "=%s has no " RUNTIME_FILE, env);
        *out = inf_strdup(env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return inf_err_set(err, INF_EIO,
                           "python backend: cannot read /proc/self/exe: %s (set " PYTHON_LIB_ENV
                           " to inferd's python/ folder)",
                           inf_strerror(errno));
    exe[n] = '\0';
    char dir[PATH_MAX];
    memcpy(dir, exe, (size_t)n + 1);
    for (char *slash = strrchr(dir, '/'); slash != NULL; slash = strrchr(dir, '/')) {
        *slash = '\0';
        char *candidate = inf_asprintf("%s/python", dir);
        if (has_runtime(candidate)) {
            *out = candidate;
            return 0;
        }
        free(candidate);
    }
    return inf_err_set(err, INF_ENOTFOUND,
                       "python backend: no python/" RUNTIME_FILE
                       " in any folder above %s (set " PYTHON_LIB_ENV
                       " to inferd's python/ folder)",
                       exe);
}

/* ---- the interpreter ---- */

static int status_error(PyStatus status, struct inf_err *err)
{
    return inf_err_set(err, INF_EINTERNAL,
                       "python backend: cannot start " PYTHON_PROGRAM ": %s%s%s",
                       status.func != NULL ? status.func : "", status.func != NULL ? ": " : "",
                       status.err_msg != NULL ? status.err_msg : "unknown error");
}

/* Finalises the interpreter; the caller holds the GIL, which goes with it. */
static void interpreter_stop(void)
{
    if (Py_FinalizeEx() != 0)
        inf_warn("python.finalize", "msg=\"flushing sys.stdout/sys.stderr failed\"");
    interp.finalised = 1;
    interp.owner = 0;
}

/* Starts CPython (the calling thread then holds the GIL) with lib_dir first
 * on sys.path. */
static int interpreter_start(const char *lib_dir, struct inf_err *err)
{
    /* One BLAS thread per process: the worker's concurrency is processes. */
    static const char *const single_thread_vars[] = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                     "MKL_NUM_THREADS"};
    for (size_t i = 0; i < sizeof(single_thread_vars) / sizeof(single_thread_vars[0]); i++)
        setenv(single_thread_vars[i], "1", 0);

    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.utf8_mode = 1; /* the worker runs in the C locale: not ASCII stdio */
    PyStatus status = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(status))
        return status_error(status, err);

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 1;             /* Debian's dist-packages: numpy, pandas, sklearn */
    config.install_signal_handlers = 0; /* the worker owns signals */
    config.buffered_stdio = 0;          /* prints reach the instance log at once */
    config.write_bytecode = 0;          /* leave the code folder as deployed */
    config.parse_argv = 0;
    status = PyConfig_SetBytesString(&config, &config.program_name, PYTHON_PROGRAM);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.executable, PYTHON_PROGRAM);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        interp.finalised = Py_IsInitialized();
        return status_error(status, err);
    }

    PyObject *path = PySys_GetObject("path"); /* borrowed */
    PyObject *dir = PyUnicode_DecodeFSDefault(lib_dir);
    int rc = path != NULL && dir != NULL && PyList_Insert(path, 0, dir) == 0 ? 0 : -1;
    Py_XDECREF(dir);
    if (rc != 0) {
        PyErr_Clear();
        interpreter_stop();
        return inf_err_set(err, INF_EINTERNAL, "python backend: cannot put %s on sys.path",
                           lib_dir);
    }
    return 0;
}

/* Gives up the GIL after a load or unload: finalises the interpreter instead
 * when nothing uses it any more in the process that started it. */
static void interpreter_release(PyGILState_STATE gil, int started_here)
{
    if (interp.users == 0 && interp.owner == getpid()) {
        interpreter_stop();
    } else if (started_here) {
        PyEval_SaveThread();
    } else {
        PyGILState_Release(gil);
    }
}

/* ---- Python values ---- */

/* The pending exception as "Type: message" into out (truncated), cleared.
 * With print, its traceback goes to stderr first. */
static void take_exception(char *out, size_t out_len, int print)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL)
        PyException_SetTraceback(value, tb);
    if (print && type != NULL)
        PyErr_Display(type, value, tb);
    const char *type_name = type != NULL ? ((PyTypeObject *)type)->tp_name : "unknown error";
    PyObject *text = value != NULL ? PyObject_Str(value) : NULL;
    const char *msg = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    if (msg == NULL)
        PyErr_Clear();
    if (msg != NULL && msg[0] != '\0')
        snprintf(out, out_len, "%s: %s", type_name, msg);
    else
        snprintf(out, out_len, "%s", type_name);
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* The pending exception's str() into out, cleared (a LoadError's message). */
static void take_message(char *out, size_t out_len)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *text = value != NULL ? PyObject_Str(value) : NULL;
    const char *msg = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    if (msg == NULL)
        PyErr_Clear();
    snprintf(out, out_len, "%s", msg != NULL ? msg : "unknown error");
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* A path as str, or None for NULL. */
static PyObject *path_object(const char *path)
{
    return path != NULL ? PyUnicode_DecodeFSDefault(path) : Py_NewRef(Py_None);
}

/* Request text (method, path, query, request id): UTF-8, bad bytes replaced. */
static PyObject *text_object(const char *s)
{
    return PyUnicode_DecodeUTF8(s != NULL ? s : "", s != NULL ? (Py_ssize_t)strlen(s) : 0,
                                "replace");
}

/* Header names and values: ISO-8859-1, as HTTP/1.1 defines them. */
static PyObject *latin1_object(const char *s)
{
    return PyUnicode_DecodeLatin1(s != NULL ? s : "", s != NULL ? (Py_ssize_t)strlen(s) : 0, NULL);
}

static PyObject *headers_object(const struct backend_request *req)
{
    PyObject *list = PyList_New((Py_ssize_t)req->n_headers);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        PyObject *name = latin1_object(req->headers[i].name);
        PyObject *value = latin1_object(req->headers[i].value);
        PyObject *pair = name != NULL && value != NULL ? PyTuple_Pack(2, name, value) : NULL;
        Py_XDECREF(name);
        Py_XDECREF(value);
        if (pair == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
    }
    return list;
}

/* ---- replies ---- */

static int header_name_valid(const char *s, Py_ssize_t len)
{
    if (len == 0)
        return 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c) != NULL))
            return 0;
    }
    return 1;
}

/* Printable ASCII only: no CR/LF injection into the response head. */
static int header_value_valid(const char *s, Py_ssize_t len)
{
    for (Py_ssize_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* Appends the (name, value) pairs of list to res->extra_headers; drops (with a
 * warning) a pair that is malformed or does not fit. */
static void add_extra_headers(PyObject *list, struct backend_response *res, const char *req_id)
{
    size_t used = strlen(res->extra_headers);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *pair = PyList_GET_ITEM(list, i);
        const char *name = NULL, *value = NULL;
        Py_ssize_t name_len = 0, value_len = 0;
        if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
            name = PyUnicode_Check(PyTuple_GET_ITEM(pair, 0))
                       ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 0), &name_len)
                       : NULL;
            value = PyUnicode_Check(PyTuple_GET_ITEM(pair, 1))
                        ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 1), &value_len)
                        : NULL;
            PyErr_Clear();
        }
        if (name == NULL || value == NULL || !header_name_valid(name, name_len) ||
            !header_value_valid(value, value_len)) {
            inf_warn("python.header_dropped",
                     "req_id=%s index=%zd reason=\"not a (name, value) "
                     "pair of a token and printable ASCII\"",
                     req_id, i);
            continue;
        }
        size_t need = (size_t)name_len + 2 + (size_t)value_len + 2;
        if (used + need >= sizeof(res->extra_headers)) {
            inf_warn("python.header_dropped",
                     "req_id=%s name=%s reason=\"headers exceed %zu bytes\"", req_id, name,
                     sizeof(res->extra_headers) - 1);
            continue;
        }
        snprintf(res->extra_headers + used, sizeof(res->extra_headers) - used, "%s: %s\r\n", name,
                 value);
        used += need;
    }
}

/* Fills res from a runtime reply (status, content_type, body, headers).
 * Returns 0, or -1 with the reason in why. */
static int reply_to_response(PyObject *reply, struct backend_response *res, const char *req_id,
                             char *why, size_t why_len)
{
    if (!PyTuple_Check(reply) || PyTuple_GET_SIZE(reply) != 4) {
        snprintf(why, why_len, "the reply is not a 4-tuple");
        return -1;
    }
    PyObject *status_obj = PyTuple_GET_ITEM(reply, 0);
    PyObject *type_obj = PyTuple_GET_ITEM(reply, 1);
    PyObject *body_obj = PyTuple_GET_ITEM(reply, 2);
    PyObject *headers_obj = PyTuple_GET_ITEM(reply, 3);
    long status = PyLong_Check(status_obj) ? PyLong_AsLong(status_obj) : -1;
    PyErr_Clear();
    if (status < 100 || status > 599) {
        snprintf(why, why_len, "status is not an HTTP status");
        return -1;
    }
    Py_ssize_t type_len = 0;
    const char *type =
        PyUnicode_Check(type_obj) ? PyUnicode_AsUTF8AndSize(type_obj, &type_len) : NULL;
    PyErr_Clear();
    if (type == NULL || (size_t)type_len >= sizeof(res->content_type) ||
        !header_value_valid(type, type_len)) {
        snprintf(why, why_len, "the content type is not printable ASCII of at most %zu bytes",
                 sizeof(res->content_type) - 1);
        return -1;
    }
    if (!PyBytes_Check(body_obj) || !PyList_Check(headers_obj)) {
        snprintf(why, why_len, "the body is not bytes or the headers not a list");
        return -1;
    }
    size_t body_len = (size_t)PyBytes_GET_SIZE(body_obj);
    res->status = (int)status;
    res->body = inf_malloc(body_len + 1);
    memcpy(res->body, PyBytes_AS_STRING(body_obj), body_len);
    res->body[body_len] = '\0';
    res->body_len = body_len;
    snprintf(res->content_type, sizeof(res->content_type), "%s", type);
    res->extra_headers[0] = '\0';
    add_extra_headers(headers_obj, res, req_id);
    return 0;
}

static void respond_crash(struct backend_response *res)
{
    backend_response_fini(res);
    res->status = 500;
    res->body = inf_strndup(crash_body, sizeof(crash_body) - 1);
    res->body_len = sizeof(crash_body) - 1;
    snprintf(res->content_type, sizeof(res->content_type), "application/json");
}

/* ---- backend operations ---- */

/* Creates the Scorer for script into py (GIL held). */
static int scorer_create(struct python *py, const char *script, const struct backend_config *cfg,
                         struct inf_err *err)
{
    int rc = 0;
    PyObject *runtime = PyImport_ImportModule("inferd.runtime");
    PyObject *scorer_class = runtime != NULL ? PyObject_GetAttrString(runtime, "Scorer") : NULL;
    PyObject *load_error = runtime != NULL ? PyObject_GetAttrString(runtime, "LoadError") : NULL;
    if (scorer_class == NULL || load_error == NULL) {
        char why[EXCEPTION_TEXT_MAX];
        take_exception(why, sizeof(why), 1);
        rc = inf_err_set(err, INF_EINTERNAL, "python backend: cannot import inferd.runtime: %s",
                         why);
        goto done;
    }
    PyObject *args[4] = {path_object(script), path_object(cfg->code_dir),
                         path_object(cfg->conda_file), PyLong_FromLong(cfg->timeout_ms)};
    if (args[0] != NULL && args[1] != NULL && args[2] != NULL && args[3] != NULL)
        py->scorer = PyObject_Vectorcall(scorer_class, args, 4, NULL);
    for (size_t i = 0; i < 4; i++)
        Py_XDECREF(args[i]);
    if (py->scorer == NULL) {
        char why[INF_ERR_MSG_MAX];
        if (PyErr_ExceptionMatches(load_error)) {
            take_message(why, sizeof(why));
            rc = inf_err_set(err, INF_EINVAL, "python backend: %s", why);
        } else {
            take_exception(why, sizeof(why), 1);
            rc = inf_err_set(err, INF_EINTERNAL, "python backend: %s: inferd.runtime failed: %s",
                             script, why);
        }
        goto done;
    }
    py->score = PyObject_GetAttrString(py->scorer, "score");
    py->swagger = PyObject_GetAttrString(py->scorer, "swagger");
    if (py->score == NULL || py->swagger == NULL) {
        char why[EXCEPTION_TEXT_MAX];
        take_exception(why, sizeof(why), 0);
        rc = inf_err_set(err, INF_EINTERNAL, "python backend: inferd.runtime.Scorer: %s", why);
    }

done:
    Py_XDECREF(load_error);
    Py_XDECREF(scorer_class);
    Py_XDECREF(runtime);
    return rc;
}

static int python_load(const struct backend_config *cfg, void **state, struct inf_err *err)
{
    *state = NULL;
    if (cfg->code_dir == NULL || cfg->script == NULL || cfg->script[0] == '\0')
        return inf_err_set(err, INF_EINVAL,
                           "python backend: no scoring script: code_configuration.code and "
                           "scoring_script (a .py file) are required");
    if (interp.finalised)
        return inf_err_set(err, INF_EINTERNAL,
                           "python backend: the interpreter of this process (pid %ld) was "
                           "finalised; CPython cannot start twice in one process",
                           (long)getpid());

    size_t dir_len = strlen(cfg->code_dir);
    while (dir_len > 1 && cfg->code_dir[dir_len - 1] == '/')
        dir_len--;
    char *script = inf_asprintf("%.*s/%s", (int)dir_len, cfg->code_dir, cfg->script);
    char *lib_dir = NULL;
    struct python *py = NULL;
    PyGILState_STATE gil = PyGILState_UNLOCKED;
    int started_here = !Py_IsInitialized();
    int rc = 0;
    struct stat st;
    if (stat(script, &st) != 0) {
        rc = inf_err_set(err, errno == ENOENT ? INF_ENOTFOUND : INF_EIO,
                         "python backend: cannot open scoring script %s: %s", script,
                         inf_strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc =
            inf_err_set(err, INF_EINVAL, "python backend: scoring script %s is not a file", script);
        goto done;
    }

    if (started_here) {
        rc = python_lib_dir(&lib_dir, err);
        if (rc == 0)
            rc = interpreter_start(lib_dir, err);
        if (rc != 0)
            goto done;
        interp.owner = getpid();
    } else {
        gil = PyGILState_Ensure();
    }

    py = inf_calloc(1, sizeof(*py));
    rc = scorer_create(py, script, cfg, err);
    if (rc == 0) {
        interp.users++;
        *state = py;
    } else {
        Py_CLEAR(py->score);
        Py_CLEAR(py->swagger);
        Py_CLEAR(py->scorer);
        free(py);
    }
    interpreter_release(gil, started_here);
    if (rc == 0)
        inf_info("python.loaded", "script=%s python_lib=%s", script,
                 lib_dir != NULL ? lib_dir : "(already running)");

done:
    free(lib_dir);
    free(script);
    return rc;
}

static int python_score(void *state, const struct backend_request *req,
                        struct backend_response *res)
{
    struct python *py = state;
    const char *req_id = req->request_id != NULL ? req->request_id : "";
    PyGILState_STATE gil = PyGILState_Ensure();

    PyObject *args[7] = {
        text_object(req->method != NULL ? req->method : "POST"),
        text_object(req->path != NULL ? req->path : "/score"),
        text_object(req->query),
        text_object(req->content_type),
        headers_object(req),
        PyBytes_FromStringAndSize(req->body != NULL ? req->body : "",
                                  req->body != NULL ? (Py_ssize_t)req->body_len : 0),
        text_object(req_id),
    };
    PyObject *reply = NULL;
    int complete = 1;
    for (size_t i = 0; i < 7; i++)
        complete = complete && args[i] != NULL;
    if (complete)
        reply = PyObject_Vectorcall(py->score, args, 7, NULL);
    for (size_t i = 0; i < 7; i++)
        Py_XDECREF(args[i]);

    char why[EXCEPTION_TEXT_MAX];
    if (reply == NULL) {
        take_exception(why, sizeof(why), 1);
        inf_error("python.score_failed", "req_id=%s msg=\"%s\"", req_id, why);
        respond_crash(res);
    } else if (reply_to_response(reply, res, req_id, why, sizeof(why)) != 0) {
        inf_error("python.bad_reply", "req_id=%s msg=\"%s\"", req_id, why);
        respond_crash(res);
    }
    Py_XDECREF(reply);
    PyGILState_Release(gil);
    return 0;
}

static int python_swagger(void *state, int version, struct backend_response *res)
{
    struct python *py = state;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *arg = PyLong_FromLong(version);
    PyObject *reply = arg != NULL ? PyObject_CallOneArg(py->swagger, arg) : NULL;
    Py_XDECREF(arg);
    int rc = 0;
    char why[EXCEPTION_TEXT_MAX];
    if (reply == NULL) {
        take_exception(why, sizeof(why), 1);
        inf_error("python.swagger_failed", "version=%d msg=\"%s\"", version, why);
        rc = INF_EINTERNAL;
    } else if (reply_to_response(reply, res, "-", why, sizeof(why)) != 0) {
        inf_error("python.bad_reply", "version=%d msg=\"%s\"", version, why);
        backend_response_fini(res);
        rc = INF_EINTERNAL;
    }
    Py_XDECREF(reply);
    PyGILState_Release(gil);
    return rc;
}

static void python_unload(void *state)
{
    struct python *py = state;
    if (py == NULL)
        return;
    if (Py_IsInitialized()) {
        PyGILState_STATE gil = PyGILState_Ensure();
        PyObject *closed = PyObject_CallMethod(py->scorer, "close", NULL);
        if (closed == NULL) {
            char why[EXCEPTION_TEXT_MAX];
            take_exception(why, sizeof(why), 1);
            inf_warn("python.close_failed", "msg=\"%s\"", why);
        }
        Py_XDECREF(closed);
        Py_CLEAR(py->score);
        Py_CLEAR(py->swagger);
        Py_CLEAR(py->scorer);
        interp.users--;
        interpreter_release(gil, 0);
    }
    free(py);
}

static void python_before_fork(void *state)
{
    struct python *py = state;
    py->fork_gil = PyGILState_Ensure();
    PyOS_BeforeFork();
}

static void python_after_fork_parent(void *state)
{
    struct python *py = state;
    PyOS_AfterFork_Parent();
    PyGILState_Release(py->fork_gil);
}

/* In the child, the forking thread is the only one: PyOS_AfterFork_Child
 * makes it the interpreter's main thread holding a fresh GIL, which we then
 * release like the parent does. */
static void python_after_fork_child(void *state)
{
    struct python *py = state;
    PyOS_AfterFork_Child();
    PyGILState_Release(py->fork_gil);
}

const struct backend_ops python_backend_ops = {
    .name = "python",
    .load = python_load,
    .score = python_score,
    .unload = python_unload,
    .swagger = python_swagger,
    .before_fork = python_before_fork,
    .after_fork_parent = python_after_fork_parent,
    .after_fork_child = python_after_fork_child,
    .flags = BACKEND_PREFORK,
};
