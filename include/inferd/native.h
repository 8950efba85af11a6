/*
 * inferd native scoring contract, ABI version 1.
 *
 * A native model is a shared library (`scoring_script: score.so` in the
 * deployment's code_configuration) exporting these four functions. inferd's
 * worker loads it with dlopen once per instance process, calls
 * inferd_init() once with the model directory ($AZUREML_MODEL_DIR), then
 * inferd_run() once per request, one request at a time per process, and
 * inferd_fini() at shutdown. The library may keep any state behind the
 * pointer returned by inferd_init().
 */
#ifndef INFERD_NATIVE_H
#define INFERD_NATIVE_H

#include <stddef.h>

#define INFERD_NATIVE_ABI_VERSION 1

struct inferd_request {
    const char *method;       /* "POST" or "GET" */
    const char *query;        /* raw query string without '?', "" if none */
    const char *content_type; /* request Content-Type, "" if none */
    const char *body;         /* request body, not NUL-terminated */
    size_t body_len;
    const char *request_id;   /* x-request-id, for the library's own logging */
};

struct inferd_response {
    int status;             /* HTTP status; 0 means 200 */
    char *body;             /* allocated by the library with malloc(); inferd free()s it */
    size_t body_len;
    char content_type[128]; /* "" means application/json */
};

/* Returns INFERD_NATIVE_ABI_VERSION: the worker refuses other versions. */
int inferd_abi_version(void);

/* Loads the model from model_dir. Returns the library's state (any non-NULL
 * pointer), or NULL after writing a one-line reason into err (err_len bytes,
 * always NUL-terminated by the library). */
void *inferd_init(const char *model_dir, char *err, size_t err_len);

/* Scores one request. Fills res (zeroed by the caller). Returns 0; a non-zero
 * return is a crash of the scoring code and becomes a 500 for the caller. */
int inferd_run(void *state, const struct inferd_request *req, struct inferd_response *res);

/* Releases the state returned by inferd_init(). */
void inferd_fini(void *state);

#endif
