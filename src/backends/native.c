/*
 * native: runs a native model, a shared library implementing the C scoring
 * contract of include/inferd/native.h.
 *
 * load() dlopens the library once per worker process, resolves its four
 * functions, checks the ABI version and calls inferd_init(); score() calls
 * inferd_run() and maps its response; unload() calls inferd_fini() and
 * dlcloses the library. All three run on the worker's event-loop thread, one
 * request at a time, as the contract promises the library.
 */
#include "backends/native.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/util.h"
#include "inferd/native.h"

typedef int (*abi_version_fn)(void);
typedef void *(*init_fn)(const char *model_dir, char *err, size_t err_len);
typedef int (*run_fn)(void *state, const struct inferd_request *req, struct inferd_response *res);
typedef void (*fini_fn)(void *state);

struct native {
    char *path; /* the library, as loaded */
    void *dl;
    abi_version_fn abi_version;
    init_fn init;
    run_fn run;
    fini_fn fini;
    void *state; /* what inferd_init returned */
};

/* Azure's answer when a scoring script fails (COMPAT.md). */
static const char crash_body[] = "{\"message\": \"An unexpected error occurred in scoring script. "
                                 "Check the logs for more info.\"}";

static char *library_path(const struct backend_config *cfg)
{
    size_t dir_len = strlen(cfg->code_dir);
    while (dir_len > 1 && cfg->code_dir[dir_len - 1] == '/')
        dir_len--;
    return inf_asprintf("%.*s/%s", (int)dir_len, cfg->code_dir, cfg->script);
}

/* dlerror() usually starts with the path we already name: drop it. */
static const char *dl_reason(const char *path)
{
    const char *msg = dlerror();
    if (msg == NULL)
        return "unknown dynamic loader error";
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

static int resolve(struct native *n, const char *symbol, void **out, struct inf_err *err)
{
    dlerror();
    *out = dlsym(n->dl, symbol);
    if (*out == NULL)
        return inf_err_set(err, INF_EINVAL,
                           "native backend: %s does not export %s() (see inferd/native.h, ABI "
                           "version %d)",
                           n->path, symbol, INFERD_NATIVE_ABI_VERSION);
    return 0;
}

static int open_library(struct native *n, struct inf_err *err)
{
    struct stat st;
    if (stat(n->path, &st) != 0)
        return inf_err_set(err, errno == ENOENT ? INF_ENOTFOUND : INF_EIO,
                           "native backend: cannot open scoring library %s: %s", n->path,
                           inf_strerror(errno));
    if (!S_ISREG(st.st_mode))
        return inf_err_set(err, INF_EINVAL, "native backend: scoring library %s is not a file",
                           n->path);
    n->dl = dlopen(n->path, RTLD_NOW | RTLD_LOCAL);
    if (n->dl == NULL)
        return inf_err_set(err, INF_EINVAL, "native backend: cannot load %s: %s", n->path,
                           dl_reason(n->path));

    static const char *const symbols[] = {"inferd_abi_version", "inferd_init", "inferd_run",
                                          "inferd_fini"};
    void *fn[4];
    for (size_t i = 0; i < 4; i++) {
        int rc = resolve(n, symbols[i], &fn[i], err);
        if (rc != 0)
            return rc;
    }
    n->abi_version = (abi_version_fn)fn[0];
    n->init = (init_fn)fn[1];
    n->run = (run_fn)fn[2];
    n->fini = (fini_fn)fn[3];

    int abi = n->abi_version();
    if (abi != INFERD_NATIVE_ABI_VERSION)
        return inf_err_set(err, INF_EINVAL,
                           "native backend: %s implements ABI version %d, this inferd needs "
                           "version %d (rebuild it against inferd/native.h)",
                           n->path, abi, INFERD_NATIVE_ABI_VERSION);
    return 0;
}

static void native_unload(void *state);

static int native_load(const struct backend_config *cfg, void **state, struct inf_err *err)
{
    *state = NULL;
    if (cfg->code_dir == NULL || cfg->script == NULL || cfg->script[0] == '\0')
        return inf_err_set(err, INF_EINVAL,
                           "native backend: no scoring library: code_configuration.code and "
                           "scoring_script (a .so) are required");
    if (cfg->model_dir == NULL)
        return inf_err_set(err, INF_EINVAL, "native backend: no model directory given");

    struct native *n = inf_calloc(1, sizeof(*n));
    n->path = library_path(cfg);
    int rc = open_library(n, err);
    if (rc != 0)
        goto fail;

    char reason[INF_ERR_MSG_MAX];
    memset(reason, 0, sizeof(reason));
    n->state = n->init(cfg->model_dir, reason, sizeof(reason));
    if (n->state == NULL) {
        reason[sizeof(reason) - 1] = '\0';
        rc = inf_err_set(err, INF_EINVAL,
                         "native backend: %s: inferd_init failed for model directory %s: %s",
                         n->path, cfg->model_dir, reason[0] != '\0' ? reason : "no reason given");
        goto fail;
    }
    inf_info("native.loaded", "library=%s model_dir=%s", n->path, cfg->model_dir);
    *state = n;
    return 0;

fail:
    native_unload(n);
    return rc;
}

static void respond_crash(struct backend_response *res)
{
    res->status = 500;
    res->body = inf_strndup(crash_body, sizeof(crash_body) - 1);
    res->body_len = sizeof(crash_body) - 1;
    snprintf(res->content_type, sizeof(res->content_type), "application/json");
}

/* A content type goes into a response header: printable ASCII only. */
static int content_type_valid(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s < 0x20 || *s > 0x7e)
            return 0;
    return 1;
}

static int native_score(void *state, const struct backend_request *req,
                        struct backend_response *res)
{
    struct native *n = state;
    const char *req_id = req->request_id != NULL ? req->request_id : "";
    struct inferd_request in = {
        .method = req->method != NULL ? req->method : "POST",
        .query = req->query != NULL ? req->query : "",
        .content_type = req->content_type != NULL ? req->content_type : "",
        .body = req->body != NULL ? req->body : "",
        .body_len = req->body != NULL ? req->body_len : 0,
        .request_id = req_id,
    };
    struct inferd_response out;
    memset(&out, 0, sizeof(out));

    int rc = n->run(n->state, &in, &out);
    out.content_type[sizeof(out.content_type) - 1] = '\0';
    if (rc != 0) {
        inf_error("native.run_failed", "req_id=%s library=%s rc=%d", req_id, n->path, rc);
        goto crash;
    }
    if (out.status == 0)
        out.status = 200;
    if (out.status < 100 || out.status > 599) {
        inf_error("native.bad_response",
                  "req_id=%s library=%s reason=\"status %d is not an HTTP "
                  "status\"",
                  req_id, n->path, out.status);
        goto crash;
    }
    if (out.body == NULL && out.body_len > 0) {
        inf_error("native.bad_response",
                  "req_id=%s library=%s reason=\"body is NULL with "
                  "body_len %zu\"",
                  req_id, n->path, out.body_len);
        goto crash;
    }
    if (!content_type_valid(out.content_type)) {
        inf_error("native.bad_response",
                  "req_id=%s library=%s reason=\"content_type has "
                  "control characters\"",
                  req_id, n->path);
        goto crash;
    }

    res->status = out.status;
    res->body = out.body; /* the library malloc()ed it; backend_response_fini frees it */
    res->body_len = out.body != NULL ? out.body_len : 0;
    snprintf(res->content_type, sizeof(res->content_type), "%s",
             out.content_type[0] != '\0' ? out.content_type : "application/json");
    return 0;

crash:
    free(out.body);
    respond_crash(res);
    return 0;
}

static void native_unload(void *state)
{
    struct native *n = state;
    if (n == NULL)
        return;
    if (n->state != NULL)
        n->fini(n->state);
    if (n->dl != NULL)
        dlclose(n->dl);
    free(n->path);
    free(n);
}

const struct backend_ops native_backend_ops = {
    .name = "native",
    .load = native_load,
    .score = native_score,
    .unload = native_unload,
};
