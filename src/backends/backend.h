/*
 * backend: what a worker instance runs. One interface, several
 * implementations chosen by the deployment spec ("backend" field): native
 * (a C shared library, this issue), python and mlflow (later).
 *
 * A worker process loads exactly one backend once (load), then calls score
 * per request on its event-loop thread, then unload at shutdown.
 */
#ifndef INF_BACKENDS_BACKEND_H
#define INF_BACKENDS_BACKEND_H

#include <stddef.h>

#include "core/err.h"

struct backend_config {
    const char *model_dir; /* $AZUREML_MODEL_DIR: folder containing the model under its name */
    const char *code_dir;  /* the code_configuration.code folder, or NULL */
    const char *script;    /* scoring_script relative to code_dir, or NULL */
    const char *conda_file; /* path of the deployment's conda file, or NULL (python) */
    int timeout_ms;         /* request_timeout_ms, for messages ("Scoring timeout after N ms") */
};

struct backend_header {
    const char *name; /* lower-case */
    const char *value;
};

struct backend_request {
    const char *method;       /* "GET", "POST" */
    const char *path;         /* "/score" */
    const char *query;        /* without '?', "" if none */
    const char *content_type; /* "" if none */
    const char *body;
    size_t body_len;
    const char *request_id;
    const struct backend_header *headers; /* every request header, in order */
    size_t n_headers;
};

struct backend_response {
    int status;
    char *body; /* heap, freed by backend_response_fini */
    size_t body_len;
    char content_type[128];
    /* Headers the scoring code added, "Name: value\r\n" lines (printable
     * ASCII, names are tokens), "" if none. */
    char extra_headers[1024];
};

struct backend_ops {
    const char *name;
    /* Loads the model/code; *state on success. Errors name the file at fault. */
    int (*load)(const struct backend_config *cfg, void **state, struct inf_err *err);
    /* Scores one request; fills res. Returns 0, or an error for a platform
     * failure (res is then ignored and the worker answers 500). */
    int (*score)(void *state, const struct backend_request *req, struct backend_response *res);
    void (*unload)(void *state);
    /* Optional (NULL if unsupported): the Swagger/OpenAPI document for
     * version 2 or 3 into res (status 200, application/json), or a 404. */
    int (*swagger)(void *state, int version, struct backend_response *res);
    /* Optional hooks around fork(2) for BACKEND_PREFORK backends, called in
     * the worker's main process (before, after_parent) and in the new child
     * (after_child) — e.g. PyOS_BeforeFork / PyOS_AfterFork_*. */
    void (*before_fork)(void *state);
    void (*after_fork_parent)(void *state);
    void (*after_fork_child)(void *state);
    /* BACKEND_* flags. */
    unsigned flags;
};

/* Score calls must run in forked processes (one per concurrent request):
 * the backend holds a global interpreter lock or cannot be interrupted, so
 * timeouts and concurrency come from processes (python). */
#define BACKEND_PREFORK 1u

/* The backend registered under name ("native"), or NULL. */
const struct backend_ops *backend_find(const char *name);

/* Frees res->body and resets the struct. */
void backend_response_fini(struct backend_response *res);

#endif
