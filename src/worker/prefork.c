/*
 * prefork: the worker's pool of forked scoring processes (see prefork.h).
 *
 * Owns the children (their pids and the parent's end of each socketpair),
 * the FIFO of requests waiting for a child, and three h2o timeouts on the
 * worker's loop: the request deadline, the start deadline, and a short
 * tick that reaps exiting children and retries forks.
 *
 * Threads: everything here runs on the worker's event-loop thread, except
 * child_main(), which runs in each child (no event loop there: blocking
 * reads and writes on its socket, one request at a time). With a process
 * log folder, each child points its stdout and stderr at files of its own
 * there before doing anything else.
 *
 * A child's life: fork (STARTING) -> hello frame (IDLE) -> request frame
 * (BUSY) -> reply (IDLE) ... When its socket closes, it breaks the protocol
 * or the pool kills it, it is EXITING until waitpid() reaps it; its slot is
 * then EMPTY and refilled by a new fork. Deaths before the hello count as
 * start failures; too many of them fail the pool.
 */
#include "worker/prefork.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define START_TIMEOUT_MS 30000 /* fork to hello */
#define TICK_MS 20             /* reaping and fork retries, while needed */
#define EXIT_GRACE_MS 1000     /* socket closed but the process still there: SIGKILL */
#define STOP_GRACE_MS 2000     /* at shutdown, EOF to SIGKILL */
#define IDLE_BUFFER_KEEP_BYTES ((size_t)1024 * 1024)

/* ---- frame codec ---- */

static const char request_magic[4] = {'I', 'F', 'R', 'Q'};
static const char reply_magic[4] = {'I', 'F', 'R', 'P'};
#define REQUEST_VERSION 1

/* The request's string fields in frame order, with their caps. */
enum { F_METHOD, F_PATH, F_QUERY, F_CONTENT_TYPE, F_REQUEST_ID, F_HEADERS, N_FIELDS };
static const struct {
    const char *name;
    size_t max;
} request_fields[N_FIELDS] = {
    [F_METHOD] = {"method", 64},           [F_PATH] = {"path", 64 * 1024},
    [F_QUERY] = {"query", 64 * 1024},      [F_CONTENT_TYPE] = {"content type", 4096},
    [F_REQUEST_ID] = {"request id", 1024}, [F_HEADERS] = {"headers", 1024 * 1024},
};
#define MAX_HEADERS 4096

#define EXTRA_HEADERS_BYTES sizeof(((struct backend_response *)NULL)->extra_headers)
#define CONTENT_TYPE_BYTES sizeof(((struct backend_response *)NULL)->content_type)

static void put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static void put_u64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
}

static uint32_t get_u32(const char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

static uint64_t get_u64(const char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

/* Appends s and its NUL at *p. */
static void put_string(char **p, const char *s, size_t len)
{
    memcpy(*p, s, len);
    (*p)[len] = '\0';
    *p += len + 1;
}

/* A string field at *p of len bytes: no NUL inside, NUL after. */
static int take_string(const char **p, size_t len, const char *what, struct inf_err *err)
{
    if (memchr(*p, '\0', len) != NULL || (*p)[len] != '\0')
        return inf_err_set(err, INF_EINVAL, "prefork: frame field %s is not a NUL-free string",
                           what);
    *p += len + 1;
    return 0;
}

static int header_fits(const struct backend_header *h, struct inf_err *err)
{
    if (h->name == NULL || h->name[0] == '\0' || h->value == NULL)
        return inf_err_set(err, INF_EINVAL, "prefork: request header with an empty name");
    if (strpbrk(h->name, ":\n") != NULL || strchr(h->value, '\n') != NULL)
        return inf_err_set(err, INF_EINVAL,
                           "prefork: request header '%.64s' has a ':' in its name or a "
                           "newline",
                           h->name);
    return 0;
}

int prefork_request_encode(const struct backend_request *req, size_t max_body_bytes, char **frame,
                           size_t *frame_len, struct inf_err *err)
{
    const char *strs[F_HEADERS] = {req->method, req->path, req->query, req->content_type,
                                   req->request_id};
    size_t lens[N_FIELDS];
    for (int i = 0; i < F_HEADERS; i++) {
        if (strs[i] == NULL)
            strs[i] = "";
        lens[i] = strlen(strs[i]);
    }
    lens[F_HEADERS] = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct backend_header *h = &req->headers[i];
        if (header_fits(h, err) != 0)
            return INF_EINVAL;
        lens[F_HEADERS] += strlen(h->name) + 2 + strlen(h->value) + 1;
        if (lens[F_HEADERS] > request_fields[F_HEADERS].max)
            break;
    }
    for (int i = 0; i < N_FIELDS; i++)
        if (lens[i] > request_fields[i].max)
            return inf_err_set(err, INF_ETOOBIG,
                               "prefork: request %s of %zu bytes is over its cap of %zu bytes",
                               request_fields[i].name, lens[i], request_fields[i].max);
    if (req->n_headers > MAX_HEADERS)
        return inf_err_set(err, INF_ETOOBIG, "prefork: %zu request headers, at most %d",
                           req->n_headers, MAX_HEADERS);
    if (req->body_len > max_body_bytes)
        return inf_err_set(err, INF_ETOOBIG,
                           "prefork: request body of %zu bytes is over the limit of %zu bytes",
                           req->body_len, max_body_bytes);

    size_t total = PREFORK_FRAME_HEADER_BYTES + req->body_len + 1;
    for (int i = 0; i < N_FIELDS; i++)
        total += lens[i] + 1;
    char *buf = inf_malloc(total);
    memcpy(buf, request_magic, 4);
    put_u32(buf + 4, REQUEST_VERSION);
    for (int i = 0; i < N_FIELDS; i++)
        put_u32(buf + 8 + 4 * i, (uint32_t)lens[i]);
    put_u64(buf + 32, req->body_len);

    char *p = buf + PREFORK_FRAME_HEADER_BYTES;
    for (int i = 0; i < F_HEADERS; i++)
        put_string(&p, strs[i], lens[i]);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct backend_header *h = &req->headers[i];
        size_t name_len = strlen(h->name), value_len = strlen(h->value);
        memcpy(p, h->name, name_len);
        p += name_len;
        memcpy(p, ": ", 2);
        p += 2;
        memcpy(p, h->value, value_len);
        p += value_len;
        *p++ = '\n';
    }
    *p++ = '\0';
    if (req->body_len > 0)
        memcpy(p, req->body, req->body_len);
    p[req->body_len] = '\0';
    *frame = buf;
    *frame_len = total;
    return 0;
}

int prefork_request_size(const char *header, size_t max_body_bytes, size_t *frame_len,
                         struct inf_err *err)
{
    if (memcmp(header, request_magic, 4) != 0)
        return inf_err_set(err, INF_EINVAL, "prefork: request frame has a bad magic number");
    uint32_t version = get_u32(header + 4);
    if (version != REQUEST_VERSION)
        return inf_err_set(err, INF_EINVAL, "prefork: request frame version %u, expected %d",
                           version, REQUEST_VERSION);
    size_t total = PREFORK_FRAME_HEADER_BYTES;
    for (int i = 0; i < N_FIELDS; i++) {
        uint32_t len = get_u32(header + 8 + 4 * i);
        if (len > request_fields[i].max)
            return inf_err_set(err, INF_ETOOBIG,
                               "prefork: request frame %s of %u bytes is over its cap of %zu "
                               "bytes",
                               request_fields[i].name, len, request_fields[i].max);
        total += (size_t)len + 1;
    }
    uint64_t body_len = get_u64(header + 32);
    if (body_len > max_body_bytes)
        return inf_err_set(err, INF_ETOOBIG,
                           "prefork: request frame body of %llu bytes is over the limit of %zu "
                           "bytes",
                           (unsigned long long)body_len, max_body_bytes);
    *frame_len = total + (size_t)body_len + 1;
    return 0;
}

/* Checks the "name: value\n" lines of a headers blob; counts them. */
static int check_header_lines(const char *blob, size_t len, size_t *count, struct inf_err *err)
{
    size_t n = 0;
    const char *end = blob + len;
    for (const char *line = blob; line < end; n++) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL)
            return inf_err_set(err, INF_EINVAL,
                               "prefork: request frame header line %zu has no newline", n + 1);
        const char *colon = memchr(line, ':', (size_t)(nl - line));
        if (colon == NULL || colon == line || colon + 1 == nl || colon[1] != ' ')
            return inf_err_set(err, INF_EINVAL,
                               "prefork: request frame header line %zu is not 'name: value'",
                               n + 1);
        if (n + 1 > MAX_HEADERS)
            return inf_err_set(err, INF_ETOOBIG, "prefork: request frame has over %d headers",
                               MAX_HEADERS);
        line = nl + 1;
    }
    *count = n;
    return 0;
}

int prefork_request_decode(char *frame, size_t frame_len, size_t max_body_bytes,
                           struct backend_request *req, struct inf_err *err)
{
    size_t want;
    if (frame_len < PREFORK_FRAME_HEADER_BYTES)
        return inf_err_set(err, INF_EINVAL, "prefork: request frame of %zu bytes is truncated",
                           frame_len);
    int rc = prefork_request_size(frame, max_body_bytes, &want, err);
    if (rc != 0)
        return rc;
    if (want != frame_len)
        return inf_err_set(err, INF_EINVAL,
                           "prefork: request frame is %zu bytes, its header says %zu", frame_len,
                           want);

    size_t lens[N_FIELDS];
    const char *strs[N_FIELDS];
    const char *p = frame + PREFORK_FRAME_HEADER_BYTES;
    for (int i = 0; i < N_FIELDS; i++) {
        lens[i] = get_u32(frame + 8 + 4 * i);
        strs[i] = p;
        if (take_string(&p, lens[i], request_fields[i].name, err) != 0)
            return INF_EINVAL;
    }
    size_t body_len = (size_t)get_u64(frame + 32);
    if (p[body_len] != '\0')
        return inf_err_set(err, INF_EINVAL, "prefork: request frame body is not terminated");
    size_t n_headers = 0;
    if ((rc = check_header_lines(strs[F_HEADERS], lens[F_HEADERS], &n_headers, err)) != 0)
        return rc;

    /* Valid: split the header lines in place. */
    struct backend_header *headers = NULL;
    if (n_headers > 0)
        headers = inf_calloc(n_headers, sizeof(*headers));
    char *line = frame + (strs[F_HEADERS] - frame);
    for (size_t i = 0; i < n_headers; i++) {
        char *nl = strchr(line, '\n');
        char *colon = memchr(line, ':', (size_t)(nl - line));
        *colon = '\0';
        *nl = '\0';
        headers[i] = (struct backend_header){.name = line, .value = colon + 2};
        line = nl + 1;
    }
    *req = (struct backend_request){
        .method = strs[F_METHOD],
        .path = strs[F_PATH],
        .query = strs[F_QUERY],
        .content_type = strs[F_CONTENT_TYPE],
        .request_id = strs[F_REQUEST_ID],
        .body = p,
        .body_len = body_len,
        .headers = headers,
        .n_headers = n_headers,
    };
    return 0;
}

int prefork_reply_encode(const struct prefork_reply *reply, char **frame, size_t *frame_len,
                         struct inf_err *err)
{
    const struct backend_response *res = &reply->res;
    const char *content_type = "", *extra = "", *body = NULL;
    size_t body_len = 0;
    int status = 0;
    switch (reply->kind) {
    case PREFORK_REPLY_HELLO:
    case PREFORK_REPLY_FAILED:
        break;
    case PREFORK_REPLY_RESPONSE:
        if (res->status < 0 || res->status > 999)
            return inf_err_set(err, INF_EINVAL, "prefork: response status %d is not in 0..999",
                               res->status);
        if (strnlen(res->content_type, sizeof(res->content_type)) == sizeof(res->content_type))
            return inf_err_set(err, INF_ETOOBIG,
                               "prefork: response content type is not terminated within %zu "
                               "bytes",
                               sizeof(res->content_type));
        if (strnlen(res->extra_headers, EXTRA_HEADERS_BYTES) == EXTRA_HEADERS_BYTES)
            return inf_err_set(err, INF_ETOOBIG,
                               "prefork: response extra headers are not terminated within %zu "
                               "bytes",
                               EXTRA_HEADERS_BYTES);
        if (res->body_len > PREFORK_MAX_RESPONSE_BYTES)
            return inf_err_set(err, INF_ETOOBIG,
                               "prefork: response body of %zu bytes is over the limit of %zu "
                               "bytes",
                               res->body_len, PREFORK_MAX_RESPONSE_BYTES);
        if (res->body == NULL && res->body_len > 0)
            return inf_err_set(err, INF_EINVAL, "prefork: response body of %zu bytes is NULL",
                               res->body_len);
        status = res->status;
        content_type = res->content_type;
        extra = res->extra_headers;
        body = res->body;
        body_len = res->body_len;
        break;
    default:
        return inf_err_set(err, INF_EINVAL, "prefork: unknown reply kind %d", (int)reply->kind);
    }

    size_t ct_len = strlen(content_type), extra_len = strlen(extra);
    size_t total = PREFORK_FRAME_HEADER_BYTES + ct_len + 1 + extra_len + 1 + body_len;
    char *buf = inf_malloc(total);
    memcpy(buf, reply_magic, 4);
    put_u32(buf + 4, (uint32_t)reply->kind);
    put_u32(buf + 8, (uint32_t)status);
    put_u32(buf + 12, (uint32_t)ct_len);
    put_u32(buf + 16, (uint32_t)extra_len);
    put_u32(buf + 20, 0);
    put_u64(buf + 24, reply->exec_us);
    put_u64(buf + 32, body_len);
    char *p = buf + PREFORK_FRAME_HEADER_BYTES;
    put_string(&p, content_type, ct_len);
    put_string(&p, extra, extra_len);
    if (body_len > 0)
        memcpy(p, body, body_len);
    *frame = buf;
    *frame_len = total;
    return 0;
}

int prefork_reply_size(const char *header, size_t *frame_len, struct inf_err *err)
{
    if (memcmp(header, reply_magic, 4) != 0)
        return inf_err_set(err, INF_EINVAL, "prefork: reply frame has a bad magic number");
    uint32_t kind = get_u32(header + 4), status = get_u32(header + 8);
    uint32_t ct_len = get_u32(header + 12), extra_len = get_u32(header + 16);
    uint64_t body_len = get_u64(header + 32);
    if (kind < PREFORK_REPLY_HELLO || kind > PREFORK_REPLY_FAILED)
        return inf_err_set(err, INF_EINVAL, "prefork: reply frame of unknown kind %u", kind);
    if (get_u32(header + 20) != 0)
        return inf_err_set(err, INF_EINVAL, "prefork: reply frame has a non-zero reserved field");
    if (kind != PREFORK_REPLY_RESPONSE && (status | ct_len | extra_len | body_len) != 0)
        return inf_err_set(err, INF_EINVAL, "prefork: %s reply frame carries a response",
                           kind == PREFORK_REPLY_HELLO ? "hello" : "failed");
    if (status > 999)
        return inf_err_set(err, INF_EINVAL, "prefork: reply frame status %u is not in 0..999",
                           status);
    if (ct_len >= CONTENT_TYPE_BYTES)
        return inf_err_set(err, INF_ETOOBIG,
                           "prefork: reply frame content type of %u bytes is too long", ct_len);
    if (extra_len >= EXTRA_HEADERS_BYTES)
        return inf_err_set(err, INF_ETOOBIG,
                           "prefork: reply frame extra headers of %u bytes are too long",
                           extra_len);
    if (body_len > PREFORK_MAX_RESPONSE_BYTES)
        return inf_err_set(err, INF_ETOOBIG,
                           "prefork: reply frame body of %llu bytes is over the limit of %zu "
                           "bytes",
                           (unsigned long long)body_len, PREFORK_MAX_RESPONSE_BYTES);
    *frame_len = PREFORK_FRAME_HEADER_BYTES + ct_len + 1 + extra_len + 1 + (size_t)body_len;
    return 0;
}

int prefork_reply_decode(const char *frame, size_t frame_len, struct prefork_reply *reply,
                         struct inf_err *err)
{
    memset(reply, 0, sizeof(*reply));
    size_t want;
    if (frame_len < PREFORK_FRAME_HEADER_BYTES)
        return inf_err_set(err, INF_EINVAL, "prefork: reply frame of %zu bytes is truncated",
                           frame_len);
    int rc = prefork_reply_size(frame, &want, err);
    if (rc != 0)
        return rc;
    if (want != frame_len)
        return inf_err_set(err, INF_EINVAL,
                           "prefork: reply frame is %zu bytes, its header says %zu", frame_len,
                           want);
    size_t ct_len = get_u32(frame + 12), extra_len = get_u32(frame + 16);
    size_t body_len = (size_t)get_u64(frame + 32);
    const char *p = frame + PREFORK_FRAME_HEADER_BYTES;
    const char *content_type = p;
    if (take_string(&p, ct_len, "content type", err) != 0)
        return INF_EINVAL;
    const char *extra = p;
    if (take_string(&p, extra_len, "extra headers", err) != 0)
        return INF_EINVAL;

    reply->kind = (enum prefork_reply_kind)get_u32(frame + 4);
    reply->exec_us = get_u64(frame + 24);
    reply->res.status = (int)get_u32(frame + 8);
    memcpy(reply->res.content_type, content_type, ct_len + 1);
    memcpy(reply->res.extra_headers, extra, extra_len + 1);
    if (body_len > 0) {
        reply->res.body = inf_malloc(body_len + 1);
        memcpy(reply->res.body, p, body_len);
        reply->res.body[body_len] = '\0';
        reply->res.body_len = body_len;
    }
    return 0;
}

/* ---- the pool's state ---- */

enum child_state { CHILD_EMPTY, CHILD_STARTING, CHILD_IDLE, CHILD_BUSY, CHILD_EXITING };

struct child {
    struct prefork *pool;
    enum child_state state;
    pid_t pid;
    h2o_socket_t *sock;        /* the parent's end; NULL once closed */
    char *wbuf;                /* the request frame being written */
    struct prefork_job *job;   /* BUSY, or EXITING before the answer */
    h2o_timeout_entry_t timer; /* the start or request deadline */
    uint64_t exiting_ms;       /* when it became EXITING */
    unsigned long served;
    int ready;       /* said hello */
    int killed;      /* we sent SIGKILL */
    const char *why; /* why it is EXITING, for the log */
};

struct prefork_job {
    struct prefork *pool;
    h2o_linklist_t link; /* in the queue while waiting */
    struct child *child; /* once dispatched */
    char *frame;         /* the encoded request, until dispatched */
    size_t frame_len;
    char *request_id;
    prefork_done_fn done; /* NULL once cancelled */
    void *data;
    uint64_t dispatched_us;
};

/* A file descriptor open when the pool was made, which children keep. */
struct kept_fd {
    int fd;
    dev_t dev;
    ino_t ino;
};

struct prefork {
    struct prefork_config cfg; /* cfg.process_log_dir points at log_dir */
    char *log_dir;             /* owned copy, or NULL */
    pid_t parent_pid;
    struct kept_fd *kept;
    size_t n_kept;

    h2o_evloop_t *loop; /* NULL until prefork_start */
    h2o_timeout_t request_timeout;
    h2o_timeout_t start_timeout;
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;

    struct child children[PREFORK_MAX_CHILDREN];
    h2o_linklist_t queue; /* struct prefork_job, oldest first */
    size_t queued;

    uint64_t start_deaths_ms[PREFORK_START_DEATHS_MAX]; /* ring of the latest */
    unsigned n_start_deaths;
    char failure[256];
    int stopping;
    int stopped;
};

/* ---- the child ---- */

static int read_full(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return got == 0 ? 1 : -1;
        got += (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Closes every fd >= 3 except sock and the fds open at prefork_new() that
 * still are the same files: the listening socket, the event loop, client
 * connections and the other children's sockets go. */
static void close_foreign_fds(const struct prefork *p, int sock)
{
    int *keep = inf_calloc(p->n_kept + 1, sizeof(*keep));
    size_t n = 0;
    keep[n++] = sock;
    for (size_t i = 0; i < p->n_kept; i++) {
        struct stat st;
        if (fstat(p->kept[i].fd, &st) == 0 && st.st_dev == p->kept[i].dev &&
            st.st_ino == p->kept[i].ino && p->kept[i].fd != sock)
            keep[n++] = p->kept[i].fd;
    }
    qsort(keep, n, sizeof(*keep), cmp_int);
    unsigned lo = 3;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        if ((unsigned)keep[i] > lo)
            ok = close_range(lo, (unsigned)keep[i] - 1, 0) == 0;
        lo = (unsigned)keep[i] + 1;
    }
    if (ok)
        ok = close_range(lo, ~0U, 0) == 0;
    if (!ok) {
        /* Kernel without close_range(2): walk the table. */
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            long fd;
            if (inf_parse_long(e->d_name, 3, 1L << 30, &fd) != 0 || fd == dirfd(d))
                continue;
            int fd_int = (int)fd;
            if (bsearch(&fd_int, keep, n, sizeof(*keep), cmp_int) == NULL)
                close(fd_int);
        }
        if (d != NULL)
            closedir(d);
    }
    free(keep);
}

/* The supervisor signals the whole process group at shutdown, and Ctrl-C
 * the foreground one: children leave when their parent closes their socket
 * (or kills them), not under a request the parent is draining. A handler
 * rather than SIG_IGN, so programs the scoring code executes start with
 * the default disposition. */
static void on_group_signal(int sig)
{
    (void)sig;
}

/* SIGCHLD back to the default, for the scoring code's own subprocesses;
 * SIGPIPE stays ignored as in the worker, where init() ran (a broken pipe
 * is an exception in Python, not the end of the process). */
static void child_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = on_group_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_send(int sock, const struct prefork_reply *reply, const char *request_id)
{
    char *frame;
    size_t len;
    struct inf_err err;
    if (prefork_reply_encode(reply, &frame, &len, &err) != 0) {
        inf_error("prefork.reply_unfit", "req_id=%s pid=%ld msg=\"%s\"", request_id, (long)getpid(),
                  err.msg);
        struct prefork_reply failed = {.kind = PREFORK_REPLY_FAILED, .exec_us = reply->exec_us};
        if (prefork_reply_encode(&failed, &frame, &len, &err) != 0)
            return -1;
    }
    int rc = write_full(sock, frame, len);
    free(frame);
    return rc;
}

/* Scores one request frame; returns 0, 1 on a clean EOF, -1 on error. */
static int child_serve_one(const struct prefork *p, int sock)
{
    char header[PREFORK_FRAME_HEADER_BYTES];
    int rc = read_full(sock, header, sizeof(header));
    if (rc != 0)
        return rc;
    struct inf_err err;
    size_t len;
    if (prefork_request_size(header, p->cfg.max_body_bytes, &len, &err) != 0) {
        inf_error("prefork.bad_request_frame", "pid=%ld msg=\"%s\"", (long)getpid(), err.msg);
        return -1;
    }
    char *frame = inf_malloc(len);
    memcpy(frame, header, sizeof(header));
    struct backend_request req;
    rc = read_full(sock, frame + sizeof(header), len - sizeof(header)) != 0
             ? inf_err_set(&err, INF_EIO, "prefork: request frame truncated")
             : prefork_request_decode(frame, len, p->cfg.max_body_bytes, &req, &err);
    if (rc != 0) {
        inf_error("prefork.bad_request_frame", "pid=%ld msg=\"%s\"", (long)getpid(), err.msg);
        free(frame);
        return -1;
    }

    struct prefork_reply reply;
    memset(&reply, 0, sizeof(reply));
    uint64_t started_us = inf_now_us();
    rc = p->cfg.backend->score(p->cfg.backend_state, &req, &reply.res);
    reply.exec_us = inf_now_us() - started_us;
    reply.kind = rc == 0 ? PREFORK_REPLY_RESPONSE : PREFORK_REPLY_FAILED;
    rc = child_send(sock, &reply, req.request_id);
    backend_response_fini(&reply.res);
    free((void *)req.headers);
    free(frame);
    return rc;
}

/* Appends fd (1 or 2) to DIR/process-<pid>.<name>.txt from now on. On
 * failure the child keeps the worker's stream and says so there: a scoring
 * process without its own log file still scores. */
static void child_redirect(const char *dir, int fd, const char *name)
{
    char *path = inf_asprintf("%s/process-%ld.%s.txt", dir, (long)getpid(), name);
    int file = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (file < 0 || dup2(file, fd) < 0)
        inf_error("prefork.process_log_failed", "pid=%ld path=%s msg=\"%s\"", (long)getpid(), path,
                  inf_strerror(errno));
    if (file >= 0)
        close(file); /* dup2 left fd without O_CLOEXEC: programs the script runs inherit it */
    free(path);
}

__attribute__((noreturn)) static void child_main(const struct prefork *p, int sock)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != p->parent_pid)
        _exit(1); /* the worker died before prctl */
    if (p->log_dir != NULL) {
        child_redirect(p->log_dir, STDOUT_FILENO, "stdout");
        child_redirect(p->log_dir, STDERR_FILENO, "stderr");
    }
    child_signals();
    close_foreign_fds(p, sock);
    if (p->cfg.backend->after_fork_child != NULL)
        p->cfg.backend->after_fork_child(p->cfg.backend_state);

    struct prefork_reply hello = {.kind = PREFORK_REPLY_HELLO};
    int rc = child_send(sock, &hello, "-");
    while (rc == 0)
        rc = child_serve_one(p, sock);
    fflush(NULL);
    /* No exit handlers, no unload: the parent owns the backend's teardown. */
    _exit(rc == 1 ? 0 : 1);
}

/* ---- answering jobs ---- */

/* Calls the job's callback with result (res freed after) and frees the job. */
static void job_finish(struct prefork_job *job, struct prefork_result *result)
{
    if (job->done != NULL)
        job->done(job->data, result);
    backend_response_fini(&result->res);
    free(job->frame);
    free(job->request_id);
    free(job);
}

/* Ends job with the pool's own answer: status and {"message": "<fmt>"}.
 * The messages are ours: plain ASCII with nothing to escape. */
__attribute__((format(printf, 5, 6))) static void
job_fail(struct prefork_job *job, int rc, int status, pid_t pid, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    struct prefork_result result = {.rc = rc, .pid = pid};
    if (job->dispatched_us != 0)
        result.exec_us = inf_now_us() - job->dispatched_us;
    result.res.status = status;
    snprintf(result.res.content_type, sizeof(result.res.content_type), "application/json");
    result.res.body = inf_asprintf("{\"message\": \"%s\"}", message);
    result.res.body_len = strlen(result.res.body);
    job_finish(job, &result);
}

static void describe_status(int status, char *out, size_t len)
{
    if (status == -1)
        snprintf(out, len, "unknown status");
    else if (WIFSIGNALED(status))
        snprintf(out, len, "killed by signal %d", WTERMSIG(status));
    else if (WIFEXITED(status))
        snprintf(out, len, "exit status %d", WEXITSTATUS(status));
    else
        snprintf(out, len, "wait status %d", status);
}

/* ---- children ---- */

static void on_child_readable(h2o_socket_t *sock, const char *err);
static void on_child_written(h2o_socket_t *sock, const char *err);
static void on_child_timer(h2o_timeout_entry_t *entry);
static void fill_slots(struct prefork *p);

static void arm_tick(struct prefork *p)
{
    if (!h2o_timeout_is_linked(&p->tick_entry))
        h2o_timeout_link(p->loop, &p->tick, &p->tick_entry);
}

static void timer_stop(h2o_timeout_entry_t *timer)
{
    if (h2o_timeout_is_linked(timer))
        h2o_timeout_unlink(timer);
}

static void close_socket(struct child *c)
{
    if (c->sock != NULL) {
        h2o_socket_close(c->sock); /* no callback fires after this */
        c->sock = NULL;
    }
    free(c->wbuf);
    c->wbuf = NULL;
}

static void child_kill(struct child *c)
{
    if (!c->killed && c->pid > 0) {
        kill(c->pid, SIGKILL);
        c->killed = 1;
    }
}

/* Records a death before the hello; fails the pool past the threshold. */
static void count_start_death(struct prefork *p, const char *how)
{
    uint64_t now = inf_now_ms();
    unsigned slot = p->n_start_deaths % PREFORK_START_DEATHS_MAX;
    p->start_deaths_ms[slot] = now;
    p->n_start_deaths++;
    if (p->n_start_deaths < PREFORK_START_DEATHS_MAX || p->failure[0] != '\0')
        return;
    /* The ring's oldest entry is the one after the newest. */
    uint64_t oldest = p->start_deaths_ms[(slot + 1) % PREFORK_START_DEATHS_MAX];
    if (now - oldest > PREFORK_START_DEATHS_WINDOW_MS)
        return;
    snprintf(p->failure, sizeof(p->failure),
             "%d scoring processes ended within %d ms before getting ready (last: %s)",
             PREFORK_START_DEATHS_MAX, PREFORK_START_DEATHS_WINDOW_MS, how);
    inf_error("prefork.failed", "reason=\"%s\"", p->failure);
    while (!h2o_linklist_is_empty(&p->queue)) {
        struct prefork_job *job = H2O_STRUCT_FROM_MEMBER(struct prefork_job, link, p->queue.next);
        h2o_linklist_unlink(&job->link);
        p->queued--;
        job_fail(job, INF_EUNAVAIL, 503, 0, "The instance cannot start its scoring processes: %s",
                 p->failure);
    }
}

/* The child's process is gone (status from waitpid, or -1): answers its
 * request, frees its slot and forks a replacement. */
static void child_gone(struct child *c, int status)
{
    struct prefork *p = c->pool;
    char how[64];
    describe_status(status, how, sizeof(how));
    close_socket(c);
    timer_stop(&c->timer);
    pid_t pid = c->pid;
    int was_ready = c->ready;
    struct prefork_job *job = c->job;
    inf_log(p->stopping ? INF_LOG_INFO : INF_LOG_WARN, "prefork.child_exited",
            "pid=%ld how=\"%s\" why=\"%s\" served=%lu", (long)pid, how,
            c->why != NULL ? c->why : "exited", c->served);
    c->state = CHILD_EMPTY;
    c->pid = 0;
    c->job = NULL;
    c->ready = 0;
    c->killed = 0;
    c->why = NULL;
    c->served = 0; /* the slot's next child starts its own count */
    if (job != NULL) {
        inf_error("prefork.crashed", "req_id=%s pid=%ld how=\"%s\"", job->request_id, (long)pid,
                  how);
        job_fail(job, INF_EUPSTREAM, 500, pid,
                 "The scoring process ended while handling the request (%s). Check the logs "
                 "for more info.",
                 how);
    }
    if (p->stopping)
        return;
    if (!was_ready)
        count_start_death(p, how);
    fill_slots(p);
}

/* waitpid(WNOHANG) for c; returns 1 when it was reaped. */
static int reap_child(struct child *c)
{
    int status;
    pid_t r;
    do {
        r = waitpid(c->pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r < 0) {
        /* ECHILD: someone else reaped it (SIGCHLD ignored?); it is gone. */
        inf_warn("prefork.waitpid_failed", "pid=%ld msg=\"%s\"", (long)c->pid, inf_strerror(errno));
        status = -1;
    }
    child_gone(c, status);
    return 1;
}

/* The child will not serve again (socket closed, broke the protocol, or
 * killed): closes its socket and reaps it now or on the tick. Its job, if
 * any, stays until the reap tells how it ended. */
static void child_exiting(struct child *c, const char *why)
{
    close_socket(c);
    if (c->state == CHILD_EXITING)
        return;
    c->state = CHILD_EXITING;
    c->why = why;
    c->exiting_ms = inf_now_ms();
    if (c->job == NULL)
        timer_stop(&c->timer); /* a job keeps its deadline until the reap */
    if (!reap_child(c))
        arm_tick(c->pool);
}

/* The child sent something it must not: kill it and answer its request. */
static void child_broke(struct child *c, const char *msg)
{
    inf_error("prefork.bad_reply", "pid=%ld msg=\"%s\"", (long)c->pid, msg);
    struct prefork_job *job = c->job;
    c->job = NULL;
    timer_stop(&c->timer);
    child_kill(c);
    pid_t pid = c->pid;
    child_exiting(c, "malformed reply");
    if (job != NULL)
        job_fail(job, INF_EUPSTREAM, 500, pid,
                 "The scoring process ended while handling the request (it sent a malformed "
                 "reply). Check the logs for more info.");
}

static struct child *idle_child(struct prefork *p)
{
    for (unsigned i = 0; i < p->cfg.n_children; i++) {
        struct child *c = &p->children[i];
        if (c->state == CHILD_IDLE && c->wbuf == NULL)
            return c;
    }
    return NULL;
}

/* Hands queued jobs to idle children, oldest first. */
static void dispatch(struct prefork *p)
{
    struct child *c;
    while (!h2o_linklist_is_empty(&p->queue) && (c = idle_child(p)) != NULL) {
        struct prefork_job *job = H2O_STRUCT_FROM_MEMBER(struct prefork_job, link, p->queue.next);
        h2o_linklist_unlink(&job->link);
        p->queued--;
        job->child = c;
        job->dispatched_us = inf_now_us();
        c->job = job;
        c->state = CHILD_BUSY;
        c->wbuf = job->frame; /* the child owns the bytes in flight */
        job->frame = NULL;
        h2o_iovec_t buf = h2o_iovec_init(c->wbuf, job->frame_len);
        h2o_socket_write(c->sock, &buf, 1, on_child_written);
        h2o_timeout_link(p->loop, &p->request_timeout, &c->timer);
    }
}

static void on_child_written(h2o_socket_t *sock, const char *err)
{
    struct child *c = sock->data;
    free(c->wbuf);
    c->wbuf = NULL;
    if (err != NULL) {
        child_exiting(c, "socket write failed");
        return;
    }
    dispatch(c->pool);
}

static void handle_reply(struct child *c, struct prefork_reply *reply)
{
    struct prefork *p = c->pool;
    if (reply->kind == PREFORK_REPLY_HELLO) {
        if (c->state != CHILD_STARTING) {
            child_broke(c, "hello from a child already started");
            return;
        }
        timer_stop(&c->timer);
        c->ready = 1;
        c->state = CHILD_IDLE;
        inf_debug("prefork.child_ready", "pid=%ld", (long)c->pid);
        dispatch(p);
        return;
    }
    if (c->state != CHILD_BUSY) {
        backend_response_fini(&reply->res);
        child_broke(c, "reply without a request");
        return;
    }
    struct prefork_job *job = c->job;
    c->job = NULL;
    c->state = CHILD_IDLE;
    c->served++;
    timer_stop(&c->timer);
    struct prefork_result result = {
        .rc = reply->kind == PREFORK_REPLY_RESPONSE ? 0 : INF_EINTERNAL,
        .res = reply->res,
        .exec_us = reply->exec_us,
        .pid = c->pid,
    };
    job_finish(job, &result);
    dispatch(p);
}

/* Large replies grow the socket's buffer; give the memory back when idle. */
static void shrink_input(h2o_socket_t *sock)
{
    if (sock->input->size == 0 && sock->input->capacity > IDLE_BUFFER_KEEP_BYTES) {
        h2o_buffer_dispose(&sock->input);
        h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
    }
}

static void on_child_readable(h2o_socket_t *sock, const char *err)
{
    struct child *c = sock->data;
    if (err != NULL) {
        child_exiting(c, "socket closed");
        return;
    }
    while (c->sock == sock && sock->input->size >= sizeof(reply_magic)) {
        struct inf_err e;
        size_t len;
        if (memcmp(sock->input->bytes, reply_magic, sizeof(reply_magic)) != 0) {
            child_broke(c, "prefork: reply frame has a bad magic number");
            return;
        }
        if (sock->input->size < PREFORK_FRAME_HEADER_BYTES)
            break;
        if (prefork_reply_size(sock->input->bytes, &len, &e) != 0) {
            child_broke(c, e.msg);
            return;
        }
        if (sock->input->size < len)
            break;
        struct prefork_reply reply;
        if (prefork_reply_decode(sock->input->bytes, len, &reply, &e) != 0) {
            child_broke(c, e.msg);
            return;
        }
        h2o_buffer_consume(&sock->input, len);
        handle_reply(c, &reply);
    }
    if (c->sock == sock)
        shrink_input(sock);
}

static void on_child_timer(h2o_timeout_entry_t *entry)
{
    struct child *c = H2O_STRUCT_FROM_MEMBER(struct child, timer, entry);
    struct prefork *p = c->pool;
    struct prefork_job *job = c->job;
    c->job = NULL;
    child_kill(c);
    if (job == NULL) {
        inf_error("prefork.start_timeout", "pid=%ld timeout_ms=%d", (long)c->pid, START_TIMEOUT_MS);
        child_exiting(c, "start timeout");
        return;
    }
    pid_t pid = c->pid;
    inf_error("prefork.timeout", "req_id=%s pid=%ld timeout_ms=%d", job->request_id, (long)pid,
              p->cfg.timeout_ms);
    child_exiting(c, "request timeout");
    job_fail(job, INF_ETIMEOUT, 500, pid, "Scoring timeout after %d ms", p->cfg.timeout_ms);
}

/* Forks a child into the empty slot c. */
static int spawn(struct prefork *p, struct child *c, struct inf_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return inf_err_set(err, INF_EIO, "prefork: socketpair(): %s", inf_strerror(errno));
    fflush(stdout);
    fflush(stderr);
    const struct backend_ops *b = p->cfg.backend;
    if (b->before_fork != NULL)
        b->before_fork(p->cfg.backend_state);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        child_main(p, sv[1]);
    }
    int fork_errno = errno;
    if (b->after_fork_parent != NULL)
        b->after_fork_parent(p->cfg.backend_state);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return inf_err_set(err, INF_EIO, "prefork: fork(): %s", inf_strerror(fork_errno));
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    c->pid = pid;
    c->state = CHILD_STARTING;
    c->sock = h2o_evloop_socket_create(p->loop, sv[0], 0);
    c->sock->data = c;
    h2o_socket_read_start(c->sock, on_child_readable);
    h2o_timeout_link(p->loop, &p->start_timeout, &c->timer);
    inf_info("prefork.child_started", "pid=%ld slot=%ld", (long)pid, (long)(c - p->children));
    return 0;
}

/* Forks into every empty slot; a failed fork is retried on the tick. */
static void fill_slots(struct prefork *p)
{
    for (unsigned i = 0; i < p->cfg.n_children; i++) {
        struct child *c = &p->children[i];
        if (p->stopping || p->failure[0] != '\0')
            return;
        if (c->state != CHILD_EMPTY)
            continue;
        struct inf_err err;
        if (spawn(p, c, &err) != 0) {
            inf_error("prefork.fork_failed", "msg=\"%s\"", err.msg);
            count_start_death(p, "fork failed");
            arm_tick(p);
            return;
        }
    }
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    struct prefork *p = H2O_STRUCT_FROM_MEMBER(struct prefork, tick_entry, entry);
    int again = 0;
    uint64_t now = inf_now_ms();
    for (unsigned i = 0; i < p->cfg.n_children; i++) {
        struct child *c = &p->children[i];
        if (c->state != CHILD_EXITING || reap_child(c))
            continue;
        if (now - c->exiting_ms >= EXIT_GRACE_MS)
            child_kill(c); /* closed its socket yet lives on */
        again = 1;
    }
    fill_slots(p);
    for (unsigned i = 0; i < p->cfg.n_children; i++)
        if (p->children[i].state == CHILD_EMPTY && !p->stopping && p->failure[0] == '\0')
            again = 1;
    if (again)
        arm_tick(p);
}

/* ---- public API ---- */

/* Records the fds open now (>= 3), which children may keep. */
static int snapshot_fds(struct prefork *p, struct inf_err *err)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return inf_err_set(err, INF_EIO, "prefork: cannot list /proc/self/fd: %s",
                           inf_strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long fd;
        struct stat st;
        if (inf_parse_long(e->d_name, 3, 1L << 30, &fd) != 0 || fd == dirfd(d) ||
            fstat((int)fd, &st) != 0)
            continue;
        if (p->n_kept == cap) {
            cap = cap != 0 ? 2 * cap : 16;
            p->kept = inf_realloc(p->kept, cap * sizeof(*p->kept));
        }
        p->kept[p->n_kept++] = (struct kept_fd){.fd = (int)fd, .dev = st.st_dev, .ino = st.st_ino};
    }
    closedir(d);
    return 0;
}

struct prefork *prefork_new(const struct prefork_config *cfg, struct inf_err *err)
{
    if (cfg->backend == NULL || cfg->backend->score == NULL) {
        inf_err_set(err, INF_EINVAL, "prefork: no backend to run");
        return NULL;
    }
    if (cfg->n_children < 1 || cfg->n_children > PREFORK_MAX_CHILDREN) {
        inf_err_set(err, INF_EINVAL, "prefork: %u children, expected 1..%d", cfg->n_children,
                    PREFORK_MAX_CHILDREN);
        return NULL;
    }
    if (cfg->timeout_ms < 1 || cfg->timeout_ms > PREFORK_MAX_TIMEOUT_MS) {
        inf_err_set(err, INF_EINVAL, "prefork: timeout of %d ms, expected 1..%d", cfg->timeout_ms,
                    PREFORK_MAX_TIMEOUT_MS);
        return NULL;
    }
    if (cfg->process_log_dir != NULL) {
        if (cfg->process_log_dir[0] == '\0') {
            inf_err_set(err, INF_EINVAL, "prefork: the process log folder is an empty path");
            return NULL;
        }
        if (inf_mkdir_p(cfg->process_log_dir, 0700, err) != 0) {
            inf_err_prefix(err, "prefork: process log folder");
            return NULL;
        }
    }
    struct prefork *p = inf_calloc(1, sizeof(*p));
    p->cfg = *cfg;
    if (cfg->process_log_dir != NULL)
        p->cfg.process_log_dir = p->log_dir = inf_strdup(cfg->process_log_dir);
    p->parent_pid = getpid();
    h2o_linklist_init_anchor(&p->queue);
    p->tick_entry.cb = on_tick;
    for (unsigned i = 0; i < PREFORK_MAX_CHILDREN; i++) {
        p->children[i].pool = p;
        p->children[i].timer.cb = on_child_timer;
    }
    if (snapshot_fds(p, err) != 0) {
        free(p->kept);
        free(p->log_dir);
        free(p);
        return NULL;
    }
    return p;
}

int prefork_start(struct prefork *p, h2o_evloop_t *loop, struct inf_err *err)
{
    if (p->loop != NULL)
        return inf_err_set(err, INF_EINTERNAL, "prefork: the pool is already started");
    p->loop = loop;
    h2o_timeout_init(loop, &p->request_timeout, (uint64_t)p->cfg.timeout_ms);
    h2o_timeout_init(loop, &p->start_timeout, START_TIMEOUT_MS);
    h2o_timeout_init(loop, &p->tick, TICK_MS);
    for (unsigned i = 0; i < p->cfg.n_children; i++) {
        int rc = spawn(p, &p->children[i], err);
        if (rc != 0)
            return rc;
    }
    inf_info("prefork.started", "children=%u timeout_ms=%d kept_fds=%zu process_log_dir=%s",
             p->cfg.n_children, p->cfg.timeout_ms, p->n_kept,
             p->log_dir != NULL ? p->log_dir : "-");
    return 0;
}

int prefork_submit(struct prefork *p, const struct backend_request *req, prefork_done_fn done,
                   void *data, struct prefork_job **job_out, struct inf_err *err)
{
    if (p->stopping)
        return inf_err_set(err, INF_EUNAVAIL, "The instance is shutting down");
    if (p->failure[0] != '\0')
        return inf_err_set(err, INF_EUNAVAIL, "The instance cannot start its scoring processes: %s",
                           p->failure);
    struct prefork_job *job = inf_calloc(1, sizeof(*job));
    int rc = prefork_request_encode(req, p->cfg.max_body_bytes, &job->frame, &job->frame_len, err);
    if (rc != 0) {
        free(job);
        return rc;
    }
    job->pool = p;
    job->request_id = inf_strdup(req->request_id != NULL ? req->request_id : "-");
    job->done = done;
    job->data = data;
    h2o_linklist_insert(&p->queue, &job->link);
    p->queued++;
    *job_out = job;
    dispatch(p);
    return 0;
}

void prefork_cancel(struct prefork_job *job)
{
    if (job->child != NULL) {
        job->done = NULL; /* its child finishes; the answer is dropped */
        return;
    }
    h2o_linklist_unlink(&job->link);
    job->pool->queued--;
    free(job->frame);
    free(job->request_id);
    free(job);
}

void prefork_reap(struct prefork *p)
{
    for (unsigned i = 0; i < p->cfg.n_children; i++) {
        struct child *c = &p->children[i];
        if (c->state != CHILD_EMPTY)
            reap_child(c);
    }
}

unsigned prefork_ready(const struct prefork *p)
{
    unsigned n = 0;
    for (unsigned i = 0; i < p->cfg.n_children; i++)
        n += p->children[i].state == CHILD_IDLE || p->children[i].state == CHILD_BUSY;
    return n;
}

size_t prefork_queued(const struct prefork *p)
{
    return p->queued;
}

const char *prefork_failure(const struct prefork *p)
{
    return p->failure[0] != '\0' ? p->failure : NULL;
}

static int any_child(const struct prefork *p)
{
    for (unsigned i = 0; i < p->cfg.n_children; i++)
        if (p->children[i].state != CHILD_EMPTY)
            return 1;
    return 0;
}

void prefork_stop(struct prefork *p)
{
    if (p->stopped || p->loop == NULL)
        return;
    p->stopping = 1;
    while (!h2o_linklist_is_empty(&p->queue)) {
        struct prefork_job *job = H2O_STRUCT_FROM_MEMBER(struct prefork_job, link, p->queue.next);
        h2o_linklist_unlink(&job->link);
        p->queued--;
        job_fail(job, INF_EUNAVAIL, 503, 0, "The instance is shutting down");
    }
    for (unsigned i = 0; i < p->cfg.n_children; i++) {
        struct child *c = &p->children[i];
        if (c->state == CHILD_EMPTY)
            continue;
        struct prefork_job *job = c->job;
        c->job = NULL;
        timer_stop(&c->timer);
        if (c->state == CHILD_BUSY)
            child_kill(c); /* its answer would go nowhere: no need to wait */
        close_socket(c);   /* EOF: an idle child exits */
        c->state = CHILD_EXITING;
        c->why = "stopping";
        if (job != NULL)
            job_fail(job, INF_EUNAVAIL, 503, c->pid, "The instance is shutting down");
    }
    timer_stop(&p->tick_entry);

    uint64_t deadline = inf_now_ms() + STOP_GRACE_MS;
    while (any_child(p) && inf_now_ms() < deadline) {
        prefork_reap(p);
        if (any_child(p))
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    for (unsigned i = 0; i < p->cfg.n_children; i++) {
        struct child *c = &p->children[i];
        if (c->state == CHILD_EMPTY)
            continue;
        inf_warn("prefork.stop_kill", "pid=%ld grace_ms=%d", (long)c->pid, STOP_GRACE_MS);
        child_kill(c);
        int status;
        pid_t r;
        do {
            r = waitpid(c->pid, &status, 0);
        } while (r < 0 && errno == EINTR);
        child_gone(c, r == c->pid ? status : -1);
    }
    p->stopped = 1;
}

void prefork_free(struct prefork *p)
{
    if (p == NULL)
        return;
    if (p->loop != NULL) {
        prefork_stop(p);
        h2o_timeout_dispose(p->loop, &p->request_timeout);
        h2o_timeout_dispose(p->loop, &p->start_timeout);
        h2o_timeout_dispose(p->loop, &p->tick);
    }
    free(p->kept);
    free(p->log_dir);
    free(p);
}
