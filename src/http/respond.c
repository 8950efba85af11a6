/*
 * respond: JSON/text responses and request header helpers over h2o.
 * Event-loop thread only; bodies are copied into the request's pool.
 */
#include "http/respond.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *respond_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 424:
        return "Failed Dependency";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

static void send_body(h2o_req_t *req, int status, const char *type, size_t type_len,
                      const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = respond_reason(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, type_len);
    req->res.content_length = len; /* else h2o answers chunked */
    h2o_send_inline(req, body, len);
}

void respond_json_text(h2o_req_t *req, int status, const char *text, size_t len)
{
    send_body(req, status, H2O_STRLIT("application/json"), text, len);
}

size_t respond_json(h2o_req_t *req, int status, const json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (text == NULL)
        return respond_error(req, 500, "InternalError", "cannot serialise the response");
    size_t len = strlen(text);
    respond_json_text(req, status, text, len);
    free(text);
    return len;
}

size_t respond_verror(h2o_req_t *req, int status, const char *code, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    size_t len = respond_json(req, status, body);
    json_decref(body);
    return len;
}

size_t respond_error(h2o_req_t *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = respond_verror(req, status, code, fmt, ap);
    va_end(ap);
    return len;
}

void respond_err(h2o_req_t *req, const struct inf_err *err)
{
    respond_error(req, inf_err_http_status(err->code), inf_err_name(err->code), "%s", err->msg);
}

void respond_text(h2o_req_t *req, int status, const char *text, size_t len)
{
    send_body(req, status, H2O_STRLIT("text/plain; charset=utf-8"), text, len);
}

h2o_iovec_t respond_header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    return req->headers.entries[i].value;
}

h2o_iovec_t respond_bearer(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || strncasecmp(v.base, "Bearer ", 7) != 0)
        return h2o_iovec_init(NULL, 0);
    h2o_iovec_t cred = h2o_iovec_init(v.base + 7, v.len - 7);
    while (cred.len > 0 && cred.base[0] == ' ') {
        cred.base++;
        cred.len--;
    }
    while (cred.len > 0 && cred.base[cred.len - 1] == ' ')
        cred.len--;
    return cred;
}
