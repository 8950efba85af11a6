/*
 * upstream: one HTTP/1.1 call from the server to an instance over a
 * keep-alive Unix-socket pool (h2o's http1client + socketpool). The response
 * is buffered whole (up to a cap) and handed to a callback. Used by the
 * gateway (/score) and the supervisor (readiness checks).
 *
 * Event-loop thread only. The callback runs exactly once unless the call is
 * cancelled first, always from the event loop and never from inside
 * upstream_start(); the call frees itself after the callback returns.
 */
#ifndef INF_HTTP_UPSTREAM_H
#define INF_HTTP_UPSTREAM_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/http1client.h>

#include <stdint.h>

#include "core/util.h"

struct upstream_call;

/* What calls need from the event loop: h2o's client context with its I/O
 * timeout, and a zero timeout through which a failure found while starting
 * a call (a refused connection) is reported on the next loop turn, so a
 * callback never runs from inside upstream_start(). Owned by the caller;
 * must outlive its calls. */
struct upstream_ctx {
    h2o_http1client_ctx_t client;
    h2o_timeout_t io_timeout;
    h2o_timeout_t zero;
};

/* Prepares ctx for loop with an I/O timeout of io_timeout_ms (how long a
 * call may wait for the instance to send anything). */
void upstream_ctx_init(struct upstream_ctx *ctx, h2o_loop_t *loop, uint64_t io_timeout_ms);
/* Releases ctx's timeouts; no call may be in progress. */
void upstream_ctx_dispose(struct upstream_ctx *ctx);

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
 * response body is capped at max_body_bytes (over it: error). Returns the
 * call (valid until its callback has run or it is cancelled), also when it
 * already failed: that is reported on the next loop turn. */
struct upstream_call *upstream_start(struct upstream_ctx *ctx, h2o_socketpool_t *pool,
                                     const char *method, const char *path, const char *headers,
                                     h2o_iovec_t body, size_t max_body_bytes, upstream_cb cb,
                                     void *data);

/* Abandons a call in progress; its callback will not run. */
void upstream_cancel(struct upstream_call *call);

#endif
