/*
 * util: small shared basics: aborting allocators, bounded buffers, clocks,
 * randomness, hashing, files. Any thread unless noted.
 */
#ifndef INF_CORE_UTIL_H
#define INF_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"

/* Allocators that abort with a log line on out-of-memory (we are a service). */
void *inf_malloc(size_t n);
void *inf_calloc(size_t count, size_t n);
void *inf_realloc(void *p, size_t n);
char *inf_strdup(const char *s);
char *inf_strndup(const char *s, size_t n);
/* printf into a fresh heap string the caller frees. */
char *inf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer with a hard cap set at init. Always NUL-terminated
 * after data[len] once anything was appended. */
struct inf_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
};

/* Initialises an empty buffer that may grow to max_bytes. */
void inf_buf_init(struct inf_buf *b, size_t max_bytes);
/* Appends; returns 0 or INF_ETOOBIG (the buffer is unchanged) past the cap. */
int inf_buf_append(struct inf_buf *b, const void *data, size_t len);
int inf_buf_printf(struct inf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void inf_buf_reset(struct inf_buf *b);
void inf_buf_fini(struct inf_buf *b);

/* Milliseconds / microseconds on CLOCK_MONOTONIC. */
uint64_t inf_now_ms(void);
uint64_t inf_now_us(void);
/* Wall-clock time as "2026-11-26T17:45:00Z" into out (>= 21 bytes). */
void inf_utc_iso8601(char *out, size_t out_len, int64_t unix_seconds);
int64_t inf_unix_now(void);

/* Fills out with n cryptographically random bytes (OpenSSL); aborts on failure. */
void inf_random_bytes(void *out, size_t n);
/* Writes 2*nbytes hex chars of randomness plus NUL to out (size >= 2*nbytes+1). */
void inf_random_hex(char *out, size_t nbytes);
/* A random RFC 4122 version-4 UUID, 36 chars plus NUL. */
void inf_uuid4(char out[37]);

/* Lower-case hex SHA-256 of data: 64 chars plus NUL. */
void inf_sha256_hex(const void *data, size_t len, char out[65]);
/* Constant-time comparison of two byte strings (length leaks, content does not).
 * Returns 1 when equal. */
int inf_const_eq(const void *a, size_t alen, const void *b, size_t blen);

/* mkdir -p with mode for every created component. */
int inf_mkdir_p(const char *path, mode_t mode, struct inf_err *err);
/* Reads a whole file of at most max_bytes into a fresh NUL-terminated heap
 * buffer (*out, caller frees) and its length. INF_ETOOBIG past the cap,
 * INF_ENOTFOUND when missing, INF_EIO otherwise. */
int inf_read_file(const char *path, size_t max_bytes, char **out, size_t *len, struct inf_err *err);
/* Writes all n bytes to fd, retrying short writes and EINTR; 0, or -1
 * with errno set. */
int inf_write_all(int fd, const void *data, size_t n);
/* Writes data to path atomically: a temporary file beside it, fsync, rename. */
int inf_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct inf_err *err);
/* Removes a file or a directory tree; missing is not an error. */
int inf_rm_rf(const char *path, struct inf_err *err);
/* The last `lines` lines (at most max_bytes bytes) of a file into a fresh heap
 * string (caller frees). A missing file gives an empty string. */
char *inf_file_tail(const char *path, int lines, size_t max_bytes);

/* Strict base-10 parse of a whole string into [min, max]; returns 0 or -1. */
int inf_parse_long(const char *s, long min, long max, long *out);

/* A NULL-terminated vector of heap strings that grows as it is filled
 * (argv and environment blocks). Zero-initialise it; `v` is NULL until the
 * first push. */
struct inf_strv {
    char **v;
    size_t n, cap;
};

/* Appends `owned` (taking ownership) and keeps v NULL-terminated. */
void inf_strv_push(struct inf_strv *sv, char *owned);
/* 1 if an entry "name=..." is present (environment blocks). */
int inf_strv_has_var(const struct inf_strv *sv, const char *name);
/* Frees a NULL-terminated vector of heap strings and the vector; NULL is a
 * no-op. */
void inf_strv_free(char **v);

#endif
