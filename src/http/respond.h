/*
 * respond: small helpers for answering an h2o request: JSON bodies, the one
 * JSON error shape, plain text, and header look-ups. Event-loop thread only.
 */
#ifndef INF_HTTP_RESPOND_H
#define INF_HTTP_RESPOND_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <jansson.h>
#include <stdarg.h>

#include "core/err.h"

/* Sends already serialised JSON (copied) with the given status. */
void respond_json_text(h2o_req_t *req, int status, const char *text, size_t len);

/* Sends `body` (serialised compactly; borrowed) with the given status.
 * Returns the body's length in bytes. */
size_t respond_json(h2o_req_t *req, int status, const json_t *body);

/* Sends {"error": {"code": ..., "message": ...}} with an explicit status.
 * Returns the body's length in bytes. */
size_t respond_error(h2o_req_t *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
size_t respond_verror(h2o_req_t *req, int status, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Sends err as a JSON error with the status that err->code maps to. */
void respond_err(h2o_req_t *req, const struct inf_err *err);

/* Sends a text/plain body (copied). */
void respond_text(h2o_req_t *req, int status, const char *text, size_t len);

/* The value of request header `name` (lower-case) or an empty iovec. */
h2o_iovec_t respond_header(h2o_req_t *req, const char *name);

/* The Bearer credential from Authorization, or an empty iovec. */
h2o_iovec_t respond_bearer(h2o_req_t *req);

/* The reason phrase for a status code ("OK", "Not Found", ...). */
const char *respond_reason(int status);

#endif
