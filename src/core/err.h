/*
 * err: error codes and the error record every fallible function fills.
 *
 * Fallible functions return 0 or a negative INF_E* code and, when given a
 * non-NULL `struct inf_err *`, fill it with the code and a one-line message
 * that names the field, file or value at fault, context first. One table
 * (inf_err_http_status) maps codes to HTTP statuses.
 */
#ifndef INF_CORE_ERR_H
#define INF_CORE_ERR_H

#include <stddef.h>

enum inf_errcode {
    INF_OK = 0,
    INF_EINVAL = -1,     /* invalid input: a spec field, a flag, a body */
    INF_ENOTFOUND = -2,  /* the named object does not exist */
    INF_ECONFLICT = -3,  /* the request conflicts with current state */
    INF_EAUTH = -4,      /* missing or wrong credentials */
    INF_ETOOBIG = -5,    /* a body, archive or field over its limit */
    INF_EIO = -6,        /* the filesystem or a syscall failed */
    INF_ESTORE = -7,     /* the store (SQLite) failed */
    INF_EUNAVAIL = -8,   /* no instance can serve right now */
    INF_EUPSTREAM = -9,  /* an instance failed mid-request */
    INF_EINTERNAL = -10, /* a platform bug */
    INF_EUNSUPPORTED = -11, /* valid upstream, not (yet) supported by inferd */
    INF_ETIMEOUT = -12,  /* a deadline passed */
};

#define INF_ERR_MSG_MAX 512

struct inf_err {
    int code;
    char msg[INF_ERR_MSG_MAX];
};

/* Fills err (if non-NULL) with code and a printf-style message; returns code
 * so callers can write `return inf_err_set(err, INF_EINVAL, "...")`. */
int inf_err_set(struct inf_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to err's message (no-op if err is NULL). Returns
 * err->code, or INF_EINTERNAL if err is NULL. */
int inf_err_prefix(struct inf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets err to INF_OK with an empty message. */
void inf_err_clear(struct inf_err *err);

/* The HTTP status for an error code (400, 401, 404, 409, 413, 500, 502, ...). */
int inf_err_http_status(int code);

/* The stable machine-readable name of a code, used as "code" in JSON errors
 * ("BadRequest", "NotFound", ...). Never NULL. */
const char *inf_err_name(int code);

/* Thread-safe strerror replacement: the message for errno value e. */
const char *inf_strerror(int e);

#endif
