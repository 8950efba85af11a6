/*
 * util: allocators, bounded buffers, clocks, randomness, hashing and file
 * helpers shared by every subsystem. Stateless; any thread.
 */
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/log.h"

static void oom(size_t n)
{
    inf_error("oom", "bytes=%zu", n);
    abort();
}

void *inf_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *inf_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        oom(count * n);
    return p;
}

void *inf_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *inf_strdup(const char *s)
{
    return inf_strndup(s, strlen(s));
}

char *inf_strndup(const char *s, size_t n)
{
    char *p = inf_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *inf_asprintf(const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    if ((size_t)n < sizeof(small))
        return inf_strndup(small, (size_t)n);
    char *p = inf_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void inf_buf_init(struct inf_buf *b, size_t max_bytes)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max_bytes;
}

static int buf_reserve(struct inf_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return INF_ETOOBIG;
    size_t need = b->len + extra + 1; /* cannot overflow: len + extra <= max < SIZE_MAX */
    if (need <= b->cap)
        return 0;
    size_t limit = b->max == SIZE_MAX ? SIZE_MAX : b->max + 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > limit)
        cap = limit;
    if (cap < need)
        return INF_ETOOBIG;
    b->data = inf_realloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int inf_buf_append(struct inf_buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) != 0)
        return INF_ETOOBIG;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int inf_buf_printf(struct inf_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return INF_EINTERNAL;
    if ((size_t)n < sizeof(small))
        return inf_buf_append(b, small, (size_t)n);
    if (buf_reserve(b, (size_t)n) != 0)
        return INF_ETOOBIG;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void inf_buf_reset(struct inf_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void inf_buf_fini(struct inf_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint64_t inf_now_ms(void)
{
    return inf_now_us() / 1000;
}

uint64_t inf_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t inf_unix_now(void)
{
    return (int64_t)time(NULL);
}

void inf_utc_iso8601(char *out, size_t out_len, int64_t unix_seconds)
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, out_len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void inf_random_bytes(void *out, size_t n)
{
    if (RAND_bytes(out, (int)n) != 1) {
        inf_error("random.failed", "bytes=%zu", n);
        abort();
    }
}

void inf_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t done = 0;
    while (done < nbytes) {
        size_t chunk = nbytes - done < sizeof(raw) ? nbytes - done : sizeof(raw);
        inf_random_bytes(raw, chunk);
        for (size_t i = 0; i < chunk; i++) {
            out[2 * (done + i)] = hex[raw[i] >> 4];
            out[2 * (done + i) + 1] = hex[raw[i] & 15];
        }
        done += chunk;
    }
    out[2 * nbytes] = '\0';
}

void inf_uuid4(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    inf_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    /* By hand: this runs per request, and printf of 16 fields costs more. */
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 15];
    }
    out[k] = '\0';
}

void inf_sha256_hex(const void *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int inf_const_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

int inf_mkdir_p(const char *path, mode_t mode, struct inf_err *err)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return inf_err_set(err, INF_EINVAL, "path too long: %.64s", path);
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char saved = tmp[i];
            tmp[i] = '\0';
            struct stat st;
            if (mkdir(tmp, mode) != 0 &&
                (errno != EEXIST || stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)))
                return inf_err_set(err, INF_EIO, "cannot create directory %s: %s", tmp,
                                   errno == EEXIST ? "a file is in the way" : inf_strerror(errno));
            tmp[i] = saved;
        }
    }
    return 0;
}

int inf_read_file(const char *path, size_t max_bytes, char **out, size_t *len, struct inf_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return inf_err_set(err, errno == ENOENT ? INF_ENOTFOUND : INF_EIO, "cannot open %s: %s",
                           path, inf_strerror(errno));
    struct inf_buf b;
    inf_buf_init(&b, max_bytes);
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            inf_buf_fini(&b);
            return inf_err_set(err, INF_EIO, "cannot read %s: %s", path, inf_strerror(e));
        }
        if (r == 0)
            break;
        if (inf_buf_append(&b, chunk, (size_t)r) != 0) {
            close(fd);
            inf_buf_fini(&b);
            return inf_err_set(err, INF_ETOOBIG, "%s is larger than %zu bytes", path, max_bytes);
        }
    }
    close(fd);
    if (b.data == NULL)
        inf_buf_append(&b, "", 0);
    *out = b.data;
    if (len != NULL)
        *len = b.len;
    return 0;
}

int inf_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int inf_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct inf_err *err)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
        return inf_err_set(err, INF_EINVAL, "path too long: %.64s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return inf_err_set(err, INF_EIO, "cannot create %s: %s", tmp, inf_strerror(errno));
    if (inf_write_all(fd, data, len) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return inf_err_set(err, INF_EIO, "cannot write %s: %s", tmp, inf_strerror(e));
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return inf_err_set(err, INF_EIO, "cannot sync %s: %s", tmp, inf_strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return inf_err_set(err, INF_EIO, "cannot rename %s: %s", tmp, inf_strerror(e));
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int inf_rm_rf(const char *path, struct inf_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT
                   ? 0
                   : inf_err_set(err, INF_EIO, "cannot stat %s: %s", path, inf_strerror(errno));
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return inf_err_set(err, INF_EIO, "cannot remove %s: %s", path, inf_strerror(errno));
    return 0;
}

char *inf_file_tail(const char *path, int lines, size_t max_bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return inf_strdup("");
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0)
        size = 0;
    off_t start = size > (off_t)max_bytes ? size - (off_t)max_bytes : 0;
    size_t n = (size_t)(size - start);
    char *buf = inf_malloc(n + 1);
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, start + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    /* Walk back from the end over `lines` newlines (a trailing one does not count). */
    size_t end = got;
    if (end > 0 && buf[end - 1] == '\n')
        end--;
    size_t pos = end;
    int seen = 0;
    while (pos > 0) {
        if (buf[pos - 1] == '\n' && ++seen == lines)
            break;
        pos--;
    }
    if (lines <= 0)
        pos = got;
    char *out = inf_strdup(buf + pos);
    free(buf);
    return out;
}

int inf_parse_long(const char *s, long min, long max, long *out)
{
    /* strtol would also take leading blanks and a '+': the contract is stricter. */
    if (s == NULL || !(*s == '-' || (*s >= '0' && *s <= '9')))
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void inf_strv_push(struct inf_strv *sv, char *owned)
{
    if (sv->n + 2 > sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 16;
        sv->v = inf_realloc(sv->v, sv->cap * sizeof(char *));
    }
    sv->v[sv->n++] = owned;
    sv->v[sv->n] = NULL;
}

int inf_strv_has_var(const struct inf_strv *sv, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < sv->n; i++)
        if (strncmp(sv->v[i], name, len) == 0 && sv->v[i][len] == '=')
            return 1;
    return 0;
}

void inf_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}
