/*
 * accesslog: owns the access log's file descriptor and the line format.
 * accesslog_format is pure (tested directly); accesslog_write stamps the
 * wall-clock time and appends the line with one write(2) on an O_APPEND
 * descriptor, so lines never interleave and `logrotate copytruncate`
 * works. A failed write is reported once on the server log, not per line.
 *
 * Event-loop thread only. Opened at server start, closed at shutdown.
 */
#include "gateway/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define LINE_MAX_BYTES 4096
#define PATH_MAX_BYTES 1024 /* longest path written; longer ones are cut */
#define VALUE_MAX_BYTES 256 /* longest other string value */

/* Lines are batched: one write(2) per event-loop turn (accesslog_flush)
 * or when the batch would pass ACCESSLOG_BATCH_BYTES, instead of a syscall
 * per request on the hot path. */
#define ACCESSLOG_BATCH_BYTES 65536

struct accesslog {
    int fd;
    char *path;
    int failing; /* a write failed and was reported; cleared by the next success */
    size_t used;
    char batch[ACCESSLOG_BATCH_BYTES];
};

struct accesslog *accesslog_open(const char *path, struct inf_err *err)
{
    char *dir = inf_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (inf_mkdir_p(dir, 0700, err) != 0) {
            free(dir);
            inf_err_prefix(err, "access log %s", path);
            return NULL;
        }
    }
    free(dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        inf_err_set(err, INF_EIO, "access log %s: cannot open: %s", path, inf_strerror(errno));
        return NULL;
    }
    struct accesslog *log = inf_calloc(1, sizeof(*log));
    log->fd = fd;
    log->path = inf_strdup(path);
    return log;
}

void accesslog_close(struct accesslog *log)
{
    if (log == NULL)
        return;
    accesslog_flush(log);
    close(log->fd);
    free(log->path);
    free(log);
}

/* ---- formatting ------------------------------------------------------- */

/* A line being built in a caller's buffer: at most cap bytes of text
 * (the buffer's size minus the NUL); `cut` records that some did not fit. */
struct line {
    char *buf;
    size_t cap;
    size_t len;
    int cut;
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = l->cap - l->len;
    if (n > room) {
        n = room;
        l->cut = 1;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Appends v in decimal, left-padded with zeros to at least `width` digits.
 * (By hand: printf costs more than the rest of the line together.) */
static void put_uint(struct line *l, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < (int)sizeof(tmp));
    while (n < width && n < (int)sizeof(tmp))
        tmp[sizeof(tmp) - 1 - n++] = '0';
    put(l, tmp + sizeof(tmp) - n, (size_t)n);
}

static void put_key(struct line *l, const char *key)
{
    put(l, " ", 1);
    put(l, key, strlen(key));
    put(l, "=", 1);
}

/* Printable ASCII except the characters that would end or quote a value. */
static int safe_byte(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* " key=value", the value sanitised: "-" when NULL or empty, any other
 * byte than safe_byte() written as %XX, and cut after max_bytes. */
static void put_value(struct line *l, const char *key, const char *value, size_t max_bytes)
{
    put_key(l, key);
    if (value == NULL || value[0] == '\0') {
        put(l, "-", 1);
        return;
    }
    static const char hex[] = "0123456789ABCDEF";
    size_t used = 0;
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++) {
        char enc[3] = {'%', hex[*c >> 4], hex[*c & 0xf]};
        size_t n = safe_byte(*c) ? 1 : 3;
        if (used + n > max_bytes)
            break;
        put(l, n == 1 ? (const char *)c : enc, n);
        used += n;
    }
}

/* " key=S.mmm": microseconds as milliseconds with three exact decimals. */
static void put_ms(struct line *l, const char *key, uint64_t us)
{
    put_key(l, key);
    put_uint(l, us / 1000, 1);
    put(l, ".", 1);
    put_uint(l, us % 1000, 3);
}

static void put_timestamp(struct line *l, int64_t unix_ms)
{
    int64_t secs = unix_ms / 1000, ms = unix_ms % 1000;
    if (ms < 0) { /* round towards the past before 1970 */
        secs--;
        ms += 1000;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        put_str(l, "ts=-");
        return;
    }
    put(l, "ts=", 3);
    put_uint(l, (uint64_t)(tm.tm_year + 1900), 4);
    put(l, "-", 1);
    put_uint(l, (uint64_t)(tm.tm_mon + 1), 2);
    put(l, "-", 1);
    put_uint(l, (uint64_t)tm.tm_mday, 2);
    put(l, "T", 1);
    put_uint(l, (uint64_t)tm.tm_hour, 2);
    put(l, ":", 1);
    put_uint(l, (uint64_t)tm.tm_min, 2);
    put(l, ":", 1);
    put_uint(l, (uint64_t)tm.tm_sec, 2);
    put(l, ".", 1);
    put_uint(l, (uint64_t)ms, 3);
    put(l, "Z", 1);
}

size_t accesslog_format(char *buf, size_t len, int64_t unix_ms, const struct access_entry *e)
{
    if (len == 0)
        return 0;
    struct line l = {.buf = buf, .cap = len - 1, .len = 0, .cut = 0};
    put_timestamp(&l, unix_ms);
    put_value(&l, "method", e->method, VALUE_MAX_BYTES);
    put_value(&l, "path", e->path, PATH_MAX_BYTES);
    put_value(&l, "endpoint", e->endpoint, VALUE_MAX_BYTES);
    put_value(&l, "deployment", e->deployment, VALUE_MAX_BYTES);
    put_key(&l, "status");
    put_uint(&l, e->status > 0 ? (uint64_t)e->status : 0, 1);
    if (e->model_status > 0) {
        put_key(&l, "model_status");
        put_uint(&l, (uint64_t)e->model_status, 1);
    } else {
        put_str(&l, " model_status=-");
    }
    put_key(&l, "request_bytes");
    put_uint(&l, e->request_bytes, 1);
    put_key(&l, "response_bytes");
    put_uint(&l, e->response_bytes, 1);
    put_ms(&l, "total_ms", e->total_us);
    put_ms(&l, "model_ms", e->model_us);
    put_ms(&l, "queue_ms", e->queue_us);
    put_value(&l, "request_id", e->request_id, VALUE_MAX_BYTES);
    put_value(&l, "client_request_id", e->client_request_id, VALUE_MAX_BYTES);
    put(&l, "\n", 1);
    /* A cut line still ends the line, so the next one starts clean. */
    if (l.cut && l.cap > 0)
        l.buf[l.cap - 1] = '\n';
    l.buf[l.len] = '\0';
    return l.len;
}

/* ---- writing ---------------------------------------------------------- */

static int64_t unix_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void accesslog_flush(struct accesslog *log)
{
    if (log == NULL || log->used == 0)
        return;
    ssize_t w;
    do
        w = write(log->fd, log->batch, log->used);
    while (w < 0 && errno == EINTR);
    size_t n = log->used;
    log->used = 0;
    if (w == (ssize_t)n) {
        log->failing = 0;
        return;
    }
    if (!log->failing)
        inf_error("accesslog.write_failed", "path=%s error=\"%s\"", log->path,
                  w < 0 ? inf_strerror(errno) : "short write");
    log->failing = 1;
}

void accesslog_write(struct accesslog *log, const struct access_entry *e)
{
    if (log == NULL)
        return;
    char line[LINE_MAX_BYTES];
    size_t n = accesslog_format(line, sizeof(line), unix_now_ms(), e);
    if (log->used + n > sizeof(log->batch))
        accesslog_flush(log);
    memcpy(log->batch + log->used, line, n);
    log->used += n;
}
