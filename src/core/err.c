/*
 * err: error record helpers and the one table from error codes to HTTP
 * statuses. Pure functions, any thread.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int inf_err_set(struct inf_err *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int inf_err_prefix(struct inf_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return INF_EINTERNAL;
    char old[INF_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof(old));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err->msg) - 2) {
        size_t used = (size_t)n;
        size_t room = sizeof(err->msg) - used;
        size_t oldlen = strnlen(old, sizeof(old) - 1);
        err->msg[used] = ':';
        err->msg[used + 1] = ' ';
        size_t copy = oldlen < room - 3 ? oldlen : room - 3;
        memcpy(err->msg + used + 2, old, copy);
        err->msg[used + 2 + copy] = '\0';
    }
    return err->code;
}

void inf_err_clear(struct inf_err *err)
{
    if (err == NULL)
        return;
    err->code = INF_OK;
    err->msg[0] = '\0';
}

static const struct {
    int code;
    int status;
    const char *name;
} table[] = {
    {INF_OK, 200, "OK"},
    {INF_EINVAL, 400, "BadRequest"},
    {INF_ENOTFOUND, 404, "NotFound"},
    {INF_ECONFLICT, 409, "Conflict"},
    {INF_EAUTH, 401, "Unauthorized"},
    {INF_ETOOBIG, 413, "PayloadTooLarge"},
    {INF_EIO, 500, "IOError"},
    {INF_ESTORE, 500, "StoreError"},
    {INF_EUNAVAIL, 503, "Unavailable"},
    {INF_EUPSTREAM, 502, "BadGateway"},
    {INF_EINTERNAL, 500, "InternalError"},
    {INF_EUNSUPPORTED, 400, "NotSupported"},
    {INF_ETIMEOUT, 504, "Timeout"},
};

int inf_err_http_status(int code)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].code == code)
            return table[i].status;
    return 500;
}

const char *inf_err_name(int code)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].code == code)
            return table[i].name;
    return "InternalError";
}

const char *inf_strerror(int e)
{
    /* strerrordesc_np is thread-safe and returns static text (glibc >= 2.32). */
    const char *s = strerrordesc_np(e);
    return s != NULL ? s : "unknown error";
}
