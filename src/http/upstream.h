/*
 * upstream: one HTTP/1.1 call from the server to an instance over a
 * keep-alive Unix-socket pool (h2o's http1client + socketpool). The response
 * is buffered whole (up to a cap) and handed to a callback. Used by the
 * gateway (/score) and the supervisor (readiness checks).
 *
 * Event-loop thread only. The callback runs exactly once unless the call is
 * cancelled first; the call frees itself after the callback returns.
 */
#ifndef INF_HTTP_UPSTREAM_H
#define INF_HTTP_UPSTREAM_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/http1client.h>

#include "core/util.h"

struct upstream_call;

struct upstream_result {
    int status;        /* HTTP status, 0 when the call failed */
    char reason[64];   /* the status line's reason phrase */
    const char *error; /* NULL on success, else what went wrong (static text) */
    struct inf_buf body;
    char content_type[128];
    char exec_ms[32]; /* x-ms-run-fn-exec-ms from the instance, "" if absent */
};

typedef void (*upstream_cb)(const struct upstream_result *res, void *data);

/* Starts `method path` on a connection from pool. `headers` is a block of
 * "Name: value\r\n" lines (may be empty, copied). `body` is borrowed and
 * must stay valid until the callback runs or the call is cancelled. The
 * response body is capped at max_body_bytes (over it: error). */
struct upstream_call *upstream_start(h2o_http1client_ctx_t *ctx, h2o_socketpool_t *pool,
                                     const char *method, const char *path, const char *headers,
                                     h2o_iovec_t body, size_t max_body_bytes, upstream_cb cb,
                                     void *data);

/* Abandons a call in progress; its callback will not run. */
void upstream_cancel(struct upstream_call *call);

#endif
