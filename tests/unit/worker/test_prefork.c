/*
 * Unit tests for the worker's pool of scoring processes (worker/prefork.c):
 * the frame codec as pure functions, then the pool driven on a real h2o
 * event loop with a fake BACKEND_PREFORK backend defined here, whose
 * score() acts on the request body:
 *
 *   "echo..."   answers the body            "pid"      answers getpid()
 *   "sleep:N"   sleeps N ms, answers getpid()
 *   "crash"     abort()s      "segv"  raises SIGSEGV     "exit"  _exit(3)
 *   "fail"      returns an error             "garbage"  writes junk on its socket
 *   "request"   answers the request's fields (and adds a response header)
 *   "fds"       lists its open fds >= 3
 *   "hooks"     whether after_fork_child ran in this process
 *   "print:X"   writes "out X" to stdout and "err X" to stderr, answers getpid()
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "core/err.h"
#include "core/util.h"
#include "worker/prefork.h"

#define MAX_BODY_BYTES ((size_t)8 * 1024 * 1024)
#define WAIT_MS 10000 /* how long a test waits for an answer before failing */

/* ---- the fake backend ---- */

static int before_fork_calls, after_fork_parent_calls;
static int after_fork_child_ran; /* in a child */
static int die_at_start;         /* children _exit(7) in after_fork_child */
static int hang_at_start;        /* children sleep 10 s in after_fork_child */

static void fake_before_fork(void *state)
{
    (void)state;
    before_fork_calls++;
}

static void fake_after_fork_parent(void *state)
{
    (void)state;
    after_fork_parent_calls++;
}

static void fake_after_fork_child(void *state)
{
    (void)state;
    if (die_at_start)
        _exit(7);
    if (hang_at_start)
        sleep(10);
    /* cmocka catches these in the test process; a crash in a child must
     * stay a crash. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGFPE, SIG_DFL);
    signal(SIGILL, SIG_DFL);
    after_fork_child_ran = 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void answer(struct backend_response *res, const char *text)
{
    res->body = inf_strdup(text);
    res->body_len = strlen(text);
}

/* "3:1234,7:99," for the open fds >= 3 of this process and their inodes. */
static void list_fds(struct backend_response *res)
{
    struct inf_buf b;
    inf_buf_init(&b, 4096);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        long fd;
        struct stat st;
        if (inf_parse_long(e->d_name, 3, 1 << 20, &fd) == 0 && fd != dirfd(d) &&
            fstat((int)fd, &st) == 0)
            inf_buf_printf(&b, "%ld:%lu,", fd, (unsigned long)st.st_ino);
    }
    closedir(d);
    answer(res, b.len > 0 ? b.data : "");
    inf_buf_fini(&b);
}

/* Writes junk to every socket among this process's fds: its pool socket. */
static void write_garbage(void)
{
    for (int fd = 3; fd < 1024; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
            write(fd, "garbage!garbage!garbage!garbage!garbage!garbage!", 48) < 0)
            _exit(9);
    }
    pause();
}

static int fake_score(void *state, const struct backend_request *req, struct backend_response *res)
{
    (void)state;
    const char *body = req->body; /* NUL-terminated by the frame */
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    res->status = 200;
    snprintf(res->content_type, sizeof(res->content_type), "text/plain");
    if (strncmp(body, "echo", 4) == 0) {
        res->body = inf_malloc(req->body_len + 1);
        memcpy(res->body, req->body, req->body_len + 1);
        res->body_len = req->body_len;
    } else if (strcmp(body, "pid") == 0) {
        answer(res, pid);
    } else if (strncmp(body, "sleep:", 6) == 0) {
        sleep_ms(strtol(body + 6, NULL, 10));
        answer(res, pid);
    } else if (strcmp(body, "crash") == 0) {
        abort();
    } else if (strcmp(body, "segv") == 0) {
        raise(SIGSEGV);
    } else if (strcmp(body, "exit") == 0) {
        _exit(3);
    } else if (strcmp(body, "fail") == 0) {
        return INF_EINTERNAL;
    } else if (strcmp(body, "garbage") == 0) {
        write_garbage();
    } else if (strcmp(body, "request") == 0) {
        struct inf_buf b;
        inf_buf_init(&b, 4096);
        inf_buf_printf(&b, "%s|%s|%s|%s|%s|", req->method, req->path, req->query, req->content_type,
                       req->request_id);
        for (size_t i = 0; i < req->n_headers; i++)
            inf_buf_printf(&b, "%s=%s;", req->headers[i].name, req->headers[i].value);
        answer(res, b.data);
        snprintf(res->extra_headers, sizeof(res->extra_headers), "X-Fake: yes\r\n");
        inf_buf_fini(&b);
    } else if (strcmp(body, "fds") == 0) {
        list_fds(res);
    } else if (strcmp(body, "hooks") == 0) {
        answer(res, after_fork_child_ran ? "yes" : "no");
    } else if (strncmp(body, "print:", 6) == 0) {
        printf("out %s\n", body + 6);
        fprintf(stderr, "err %s\n", body + 6);
        fflush(stdout);
        answer(res, pid);
    } else {
        res->status = 400;
        answer(res, "unknown command");
    }
    return 0;
}

static const struct backend_ops fake_ops = {
    .name = "fake",
    .score = fake_score,
    .before_fork = fake_before_fork,
    .after_fork_parent = fake_after_fork_parent,
    .after_fork_child = fake_after_fork_child,
    .flags = BACKEND_PREFORK,
};

/* ---- driving the pool ---- */

struct outcome {
    int done;
    int order; /* 1 for the first job to complete, ... */
    int rc;
    int status;
    char content_type[128];
    char extra_headers[1024];
    char *body;
    size_t body_len;
    pid_t pid;
};

static int completions;

static void on_done(void *data, const struct prefork_result *r)
{
    struct outcome *o = data;
    assert_int_equal(o->done, 0);
    o->done = 1;
    o->order = ++completions;
    o->rc = r->rc;
    o->status = r->res.status;
    memcpy(o->content_type, r->res.content_type, sizeof(o->content_type));
    memcpy(o->extra_headers, r->res.extra_headers, sizeof(o->extra_headers));
    o->body = inf_malloc(r->res.body_len + 1);
    if (r->res.body_len > 0)
        memcpy(o->body, r->res.body, r->res.body_len);
    o->body[r->res.body_len] = '\0';
    o->body_len = r->res.body_len;
    o->pid = r->pid;
}

static void outcome_fini(struct outcome *o)
{
    free(o->body);
    memset(o, 0, sizeof(*o));
}

/* One event loop for the group, as the worker has one: h2o 2.2 does not
 * close a loop's epoll fd when destroying it. */
static h2o_evloop_t *loop;

struct env {
    h2o_evloop_t *loop;
    struct prefork *pool;
};

static void turn(struct env *e)
{
    h2o_evloop_run(e->loop, 10);
    prefork_reap(e->pool);
}

static void wait_ready(struct env *e, unsigned n)
{
    uint64_t deadline = inf_now_ms() + WAIT_MS;
    while (prefork_ready(e->pool) < n && inf_now_ms() < deadline)
        turn(e);
    assert_int_equal(prefork_ready(e->pool), n);
}

/* A started pool for the fake backend, its children ready (unless they
 * are set to die), with process log files in process_log_dir if not NULL. */
static struct env *env_new_logged(unsigned n_children, int timeout_ms, const char *process_log_dir)
{
    struct env *e = inf_calloc(1, sizeof(*e));
    struct prefork_config cfg = {
        .backend = &fake_ops,
        .backend_state = NULL,
        .n_children = n_children,
        .timeout_ms = timeout_ms,
        .max_body_bytes = MAX_BODY_BYTES,
        .process_log_dir = process_log_dir,
    };
    struct inf_err err;
    e->pool = prefork_new(&cfg, &err);
    if (e->pool == NULL)
        fail_msg("prefork_new: %s", err.msg);
    e->loop = loop;
    assert_int_equal(prefork_start(e->pool, e->loop, &err), 0);
    if (!die_at_start && !hang_at_start)
        wait_ready(e, n_children);
    completions = 0;
    return e;
}

static struct env *env_new(unsigned n_children, int timeout_ms)
{
    return env_new_logged(n_children, timeout_ms, NULL);
}

static void env_free(struct env *e)
{
    prefork_free(e->pool);
    h2o_evloop_run(e->loop, 0); /* frees the closed sockets */
    free(e);
}

static int group_setup(void **state)
{
    (void)state;
    loop = h2o_evloop_create();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    h2o_evloop_destroy(loop);
    return 0;
}

static void wait_done(struct env *e, struct outcome *os, size_t n)
{
    uint64_t deadline = inf_now_ms() + WAIT_MS;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += os[i].done;
        if (done == n)
            return;
        assert_true(inf_now_ms() < deadline);
        turn(e);
    }
}

static struct prefork_job *submit_body(struct env *e, const char *body, size_t len,
                                       struct outcome *o)
{
    static const struct backend_header headers[] = {
        {"content-type", "text/plain"},
        {"x-custom", "a: b"},
    };
    struct backend_request req = {
        .method = "POST",
        .path = "/score",
        .query = "a=1",
        .content_type = "text/plain",
        .body = body,
        .body_len = len,
        .request_id = "req-42",
        .headers = headers,
        .n_headers = 2,
    };
    struct prefork_job *job = NULL;
    struct inf_err err;
    assert_int_equal(prefork_submit(e->pool, &req, on_done, o, &job, &err), 0);
    assert_non_null(job);
    return job;
}

static struct prefork_job *submit(struct env *e, const char *body, struct outcome *o)
{
    return submit_body(e, body, strlen(body), o);
}

/* One request, waited for; the caller frees the outcome. */
static void score(struct env *e, const char *body, struct outcome *o)
{
    submit(e, body, o);
    wait_done(e, o, 1);
}

static void assert_echo_works(struct env *e)
{
    struct outcome o = {0};
    score(e, "echo again", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "echo again");
    outcome_fini(&o);
}

static int process_exists(pid_t pid)
{
    return kill(pid, 0) == 0 || errno != ESRCH;
}

/* ---- frame codec: requests ---- */

static const struct backend_header codec_headers[] = {
    {"host", "instance"},
    {"x-empty", ""},
    {"x-colon", "a: b: c"},
};

static struct backend_request codec_request(const char *body, size_t body_len)
{
    return (struct backend_request){
        .method = "POST",
        .path = "/score",
        .query = "x=1&y=2",
        .content_type = "application/json",
        .body = body,
        .body_len = body_len,
        .request_id = "abc-123",
        .headers = codec_headers,
        .n_headers = 3,
    };
}

static void test_request_round_trip(void **state)
{
    (void)state;
    static const char body[] = "{\"a\":1}\0binary\xff";
    struct backend_request in = codec_request(body, sizeof(body) - 1);
    char *frame;
    size_t len, size;
    struct inf_err err;
    assert_int_equal(prefork_request_encode(&in, 1024, &frame, &len, &err), 0);
    assert_int_equal(prefork_request_size(frame, 1024, &size, &err), 0);
    assert_int_equal(size, len);

    struct backend_request out;
    assert_int_equal(prefork_request_decode(frame, len, 1024, &out, &err), 0);
    assert_string_equal(out.method, "POST");
    assert_string_equal(out.path, "/score");
    assert_string_equal(out.query, "x=1&y=2");
    assert_string_equal(out.content_type, "application/json");
    assert_string_equal(out.request_id, "abc-123");
    assert_int_equal(out.body_len, sizeof(body) - 1);
    assert_memory_equal(out.body, body, sizeof(body) - 1);
    assert_int_equal(out.body[out.body_len], '\0');
    assert_int_equal(out.n_headers, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(out.headers[i].name, codec_headers[i].name);
        assert_string_equal(out.headers[i].value, codec_headers[i].value);
    }
    free((void *)out.headers);
    free(frame);

    /* Empty everything: NULL strings travel as "". */
    struct backend_request empty = {.method = "GET"};
    assert_int_equal(prefork_request_encode(&empty, 0, &frame, &len, &err), 0);
    assert_int_equal(prefork_request_decode(frame, len, 0, &out, &err), 0);
    assert_string_equal(out.method, "GET");
    assert_string_equal(out.path, "");
    assert_string_equal(out.request_id, "");
    assert_int_equal(out.body_len, 0);
    assert_int_equal(out.n_headers, 0);
    assert_null(out.headers);
    free(frame);
}

static void test_request_encode_rejects(void **state)
{
    (void)state;
    char *frame = NULL;
    size_t len;
    struct inf_err err;
    struct backend_request req = codec_request("12345", 5);

    assert_int_equal(prefork_request_encode(&req, 4, &frame, &len, &err), INF_ETOOBIG);
    assert_non_null(strstr(err.msg, "body of 5 bytes"));

    struct backend_header bad_name[] = {{"x:y", "v"}};
    req.headers = bad_name;
    req.n_headers = 1;
    assert_int_equal(prefork_request_encode(&req, 1024, &frame, &len, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "x:y"));
    struct backend_header newline[] = {{"x-a", "v\nx-b: injected"}};
    req.headers = newline;
    assert_int_equal(prefork_request_encode(&req, 1024, &frame, &len, &err), INF_EINVAL);
    struct backend_header empty_name[] = {{"", "v"}};
    req.headers = empty_name;
    assert_int_equal(prefork_request_encode(&req, 1024, &frame, &len, &err), INF_EINVAL);

    req.n_headers = 0;
    char *long_path = inf_malloc(64 * 1024 + 2);
    memset(long_path, 'p', 64 * 1024 + 1);
    long_path[64 * 1024 + 1] = '\0';
    req.path = long_path;
    assert_int_equal(prefork_request_encode(&req, 1024, &frame, &len, &err), INF_ETOOBIG);
    assert_non_null(strstr(err.msg, "path"));
    free(long_path);
    assert_null(frame);
}

/* A valid frame to corrupt. */
static char *good_request_frame(size_t *len)
{
    struct backend_request req = codec_request("body", 4);
    char *frame;
    struct inf_err err;
    assert_int_equal(prefork_request_encode(&req, 1024, &frame, len, &err), 0);
    return frame;
}

static void put32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static void put64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
}

static int decode_request(char *frame, size_t len, struct inf_err *err)
{
    struct backend_request out;
    memset(&out, 0x5a, sizeof(out));
    int rc = prefork_request_decode(frame, len, 1024, &out, err);
    if (rc == 0)
        free((void *)out.headers);
    return rc;
}

static void test_request_decode_rejects(void **state)
{
    (void)state;
    size_t len, size;
    struct inf_err err;
    char *f;

    f = good_request_frame(&len);
    assert_int_equal(decode_request(f, len, &err), 0);
    assert_int_equal(decode_request(f, len - 1, &err), INF_EINVAL); /* truncated */
    assert_int_equal(decode_request(f, 10, &err), INF_EINVAL);
    f[0] = 'X';
    assert_int_equal(decode_request(f, len, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "magic"));
    free(f);

    f = good_request_frame(&len);
    put32(f + 4, 2); /* version */
    assert_int_equal(decode_request(f, len, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "version 2"));
    free(f);

    f = good_request_frame(&len);
    put32(f + 8, 65); /* method over its cap */
    assert_int_equal(prefork_request_size(f, 1024, &size, &err), INF_ETOOBIG);
    assert_non_null(strstr(err.msg, "method"));
    put32(f + 8, 0xffffffffu);
    assert_int_equal(prefork_request_size(f, 1024, &size, &err), INF_ETOOBIG);
    free(f);

    f = good_request_frame(&len);
    put64(f + 32, 1025); /* body over the limit */
    assert_int_equal(prefork_request_size(f, 1024, &size, &err), INF_ETOOBIG);
    put64(f + 32, UINT64_MAX);
    assert_int_equal(prefork_request_size(f, SIZE_MAX / 2, &size, &err), INF_ETOOBIG);
    free(f);

    f = good_request_frame(&len);
    f[40 + 4] = 'X'; /* the NUL after "POST" */
    assert_int_equal(decode_request(f, len, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "method"));
    free(f);

    f = good_request_frame(&len);
    f[40 + 1] = '\0'; /* a NUL inside "POST" */
    assert_int_equal(decode_request(f, len, &err), INF_EINVAL);
    free(f);

    f = good_request_frame(&len);
    f[len - 1] = 'X'; /* the NUL after the body */
    assert_int_equal(decode_request(f, len, &err), INF_EINVAL);
    free(f);
}

/* Decodes a request frame with method "GET", whose headers blob is blob. */
static int decode_headers_blob(const char *blob)
{
    size_t blob_len = strlen(blob);
    /* header, "GET\0", four empty strings, blob, NUL, empty body's NUL */
    size_t total = PREFORK_FRAME_HEADER_BYTES + 4 + 4 + blob_len + 1 + 1;
    char *f = inf_calloc(1, total);
    memcpy(f, "IFRQ", 4);
    put32(f + 4, 1);
    put32(f + 8, 3);
    put32(f + 28, (uint32_t)blob_len);
    memcpy(f + PREFORK_FRAME_HEADER_BYTES, "GET", 4);
    memcpy(f + PREFORK_FRAME_HEADER_BYTES + 8, blob, blob_len);
    struct inf_err err;
    int rc = decode_request(f, total, &err);
    free(f);
    return rc;
}

static void test_request_header_lines(void **state)
{
    (void)state;
    assert_int_equal(decode_headers_blob(""), 0);
    assert_int_equal(decode_headers_blob("a: b\n"), 0);
    assert_int_equal(decode_headers_blob("a: \n"), 0);
    assert_int_equal(decode_headers_blob("a: b"), INF_EINVAL);      /* no newline */
    assert_int_equal(decode_headers_blob("a b\n"), INF_EINVAL);     /* no colon */
    assert_int_equal(decode_headers_blob(": b\n"), INF_EINVAL);     /* empty name */
    assert_int_equal(decode_headers_blob("a:b\n"), INF_EINVAL);     /* no space */
    assert_int_equal(decode_headers_blob("a:\n"), INF_EINVAL);      /* no space */
    assert_int_equal(decode_headers_blob("a: b\nc\n"), INF_EINVAL); /* second line */
}

/* ---- frame codec: replies ---- */

static void test_reply_round_trip(void **state)
{
    (void)state;
    static const char body[] = "[1, 2]\0\x01";
    struct prefork_reply in = {.kind = PREFORK_REPLY_RESPONSE, .exec_us = 1234567};
    in.res.status = 201;
    snprintf(in.res.content_type, sizeof(in.res.content_type), "application/json");
    snprintf(in.res.extra_headers, sizeof(in.res.extra_headers), "X-One: 1\r\nX-Two: 2\r\n");
    in.res.body = (char *)body;
    in.res.body_len = sizeof(body) - 1;
    char *frame;
    size_t len, size;
    struct inf_err err;
    assert_int_equal(prefork_reply_encode(&in, &frame, &len, &err), 0);
    assert_int_equal(prefork_reply_size(frame, &size, &err), 0);
    assert_int_equal(size, len);
    struct prefork_reply out;
    assert_int_equal(prefork_reply_decode(frame, len, &out, &err), 0);
    assert_int_equal(out.kind, PREFORK_REPLY_RESPONSE);
    assert_int_equal(out.exec_us, 1234567);
    assert_int_equal(out.res.status, 201);
    assert_string_equal(out.res.content_type, "application/json");
    assert_string_equal(out.res.extra_headers, "X-One: 1\r\nX-Two: 2\r\n");
    assert_int_equal(out.res.body_len, sizeof(body) - 1);
    assert_memory_equal(out.res.body, body, sizeof(body) - 1);
    backend_response_fini(&out.res);
    free(frame);

    for (int kind = PREFORK_REPLY_HELLO; kind <= PREFORK_REPLY_FAILED; kind += 2) {
        struct prefork_reply r = {.kind = (enum prefork_reply_kind)kind, .exec_us = 7};
        assert_int_equal(prefork_reply_encode(&r, &frame, &len, &err), 0);
        assert_int_equal(len, PREFORK_FRAME_HEADER_BYTES + 2);
        assert_int_equal(prefork_reply_decode(frame, len, &out, &err), 0);
        assert_int_equal(out.kind, kind);
        assert_int_equal(out.exec_us, 7);
        assert_null(out.res.body);
        free(frame);
    }
}

static void test_reply_encode_rejects(void **state)
{
    (void)state;
    char *frame = NULL;
    size_t len;
    struct inf_err err;
    struct prefork_reply r = {.kind = PREFORK_REPLY_RESPONSE};
    r.res.status = 200;
    memset(r.res.content_type, 'a', sizeof(r.res.content_type)); /* no NUL */
    assert_int_equal(prefork_reply_encode(&r, &frame, &len, &err), INF_ETOOBIG);
    r.res.content_type[0] = '\0';
    memset(r.res.extra_headers, 'h', sizeof(r.res.extra_headers)); /* no NUL */
    assert_int_equal(prefork_reply_encode(&r, &frame, &len, &err), INF_ETOOBIG);
    assert_non_null(strstr(err.msg, "extra headers"));
    r.res.extra_headers[0] = '\0';
    r.res.body = "x";
    r.res.body_len = PREFORK_MAX_RESPONSE_BYTES + 1; /* checked before reading */
    assert_int_equal(prefork_reply_encode(&r, &frame, &len, &err), INF_ETOOBIG);
    assert_non_null(strstr(err.msg, "body of"));
    r.res.body = NULL;
    r.res.body_len = 3;
    assert_int_equal(prefork_reply_encode(&r, &frame, &len, &err), INF_EINVAL);
    r.res.body_len = 0;
    r.res.status = 1000;
    assert_int_equal(prefork_reply_encode(&r, &frame, &len, &err), INF_EINVAL);
    r.kind = (enum prefork_reply_kind)9;
    assert_int_equal(prefork_reply_encode(&r, &frame, &len, &err), INF_EINVAL);
    assert_null(frame);
}

static char *good_reply_frame(size_t *len)
{
    struct prefork_reply r = {.kind = PREFORK_REPLY_RESPONSE};
    r.res.status = 200;
    snprintf(r.res.content_type, sizeof(r.res.content_type), "text/plain");
    r.res.body = "hello";
    r.res.body_len = 5;
    char *frame;
    struct inf_err err;
    assert_int_equal(prefork_reply_encode(&r, &frame, len, &err), 0);
    return frame;
}

static int decode_reply(const char *frame, size_t len, struct inf_err *err)
{
    struct prefork_reply out;
    int rc = prefork_reply_decode(frame, len, &out, err);
    if (rc != 0)
        assert_null(out.res.body);
    backend_response_fini(&out.res);
    return rc;
}

static void test_reply_decode_rejects(void **state)
{
    (void)state;
    size_t len, size;
    struct inf_err err;
    char *f = good_reply_frame(&len);
    assert_int_equal(decode_reply(f, len, &err), 0);
    assert_int_equal(decode_reply(f, len - 1, &err), INF_EINVAL);
    assert_int_equal(decode_reply(f, 39, &err), INF_EINVAL);
    free(f);

    struct {
        size_t offset;
        int width;
        uint64_t value;
        int rc;
        const char *msg;
    } cases[] = {
        {0, 4, 0x50524658, INF_EINVAL, "magic"},                /* "XFRP" */
        {4, 4, 9, INF_EINVAL, "unknown kind 9"},                /* kind */
        {4, 4, 0, INF_EINVAL, "unknown kind 0"},                /* kind */
        {4, 4, PREFORK_REPLY_HELLO, INF_EINVAL, "hello reply"}, /* hello with a response */
        {8, 4, 1000, INF_EINVAL, "status 1000"},                /* status */
        {12, 4, 128, INF_ETOOBIG, "content type"},              /* content type length */
        {16, 4, 1024, INF_ETOOBIG, "extra headers"},            /* extra headers length */
        {20, 4, 1, INF_EINVAL, "reserved"},                     /* reserved */
        {32, 8, PREFORK_MAX_RESPONSE_BYTES + 1, INF_ETOOBIG, "body of"},
        {32, 8, UINT64_MAX, INF_ETOOBIG, "body of"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f = good_reply_frame(&len);
        if (cases[i].width == 4)
            put32(f + cases[i].offset, (uint32_t)cases[i].value);
        else
            put64(f + cases[i].offset, cases[i].value);
        assert_int_equal(prefork_reply_size(f, &size, &err), cases[i].rc);
        assert_non_null(strstr(err.msg, cases[i].msg));
        assert_int_equal(decode_reply(f, len, &err), cases[i].rc);
        free(f);
    }

    f = good_reply_frame(&len);
    f[40 + 2] = '\0'; /* inside "text/plain" */
    assert_int_equal(decode_reply(f, len, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "content type"));
    free(f);

    f = good_reply_frame(&len);
    put32(f + 12, 4); /* content type "text" with no NUL after it */
    assert_int_equal(decode_reply(f, len - 6, &err), INF_EINVAL);
    free(f);
}

/* ---- the pool ---- */

static void test_bad_config(void **state)
{
    (void)state;
    struct inf_err err;
    struct prefork_config cfg = {
        .backend = &fake_ops, .n_children = 1, .timeout_ms = 100, .max_body_bytes = 10};
    cfg.n_children = 0;
    assert_null(prefork_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "0 children"));
    cfg.n_children = PREFORK_MAX_CHILDREN + 1;
    assert_null(prefork_new(&cfg, &err));
    cfg.n_children = 1;
    cfg.timeout_ms = 0;
    assert_null(prefork_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "timeout of 0 ms"));
    cfg.timeout_ms = PREFORK_MAX_TIMEOUT_MS + 1;
    assert_null(prefork_new(&cfg, &err));
    cfg.timeout_ms = PREFORK_MAX_TIMEOUT_MS; /* a day: batch mini-batches */
    struct prefork *p = prefork_new(&cfg, &err);
    assert_non_null(p);
    prefork_free(p);
    assert_true(PREFORK_MAX_TIMEOUT_MS >= 86400000);
    cfg.timeout_ms = 100;
    cfg.process_log_dir = "";
    assert_null(prefork_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "empty path"));
    cfg.process_log_dir = "/proc/self/status/logs"; /* a file is in the way */
    assert_null(prefork_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "prefork: process log folder: cannot create directory"));
    cfg.process_log_dir = NULL;
    cfg.backend = NULL;
    assert_null(prefork_new(&cfg, &err));
}

static void test_request_reaches_backend(void **state)
{
    (void)state;
    before_fork_calls = after_fork_parent_calls = 0;
    struct env *e = env_new(1, 5000);
    wait_ready(e, 1);
    assert_int_equal(before_fork_calls, 1);
    assert_int_equal(after_fork_parent_calls, 1);

    struct outcome o = {0};
    score(e, "request", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.content_type, "text/plain");
    assert_string_equal(o.body, "POST|/score|a=1|text/plain|req-42|content-type=text/plain;"
                                "x-custom=a: b;");
    assert_string_equal(o.extra_headers, "X-Fake: yes\r\n");
    assert_int_not_equal(o.pid, getpid());
    outcome_fini(&o);

    score(e, "hooks", &o);
    assert_string_equal(o.body, "yes");
    assert_int_equal(after_fork_child_ran, 0); /* only in the child */
    outcome_fini(&o);

    score(e, "unknown", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.status, 400); /* the backend's status passes through */
    outcome_fini(&o);
    env_free(e);
}

static void test_large_bodies(void **state)
{
    (void)state;
    struct env *e = env_new(1, 5000);
    size_t len = 4 * 1024 * 1024;
    char *body = inf_malloc(len + 1);
    memcpy(body, "echo", 4);
    for (size_t i = 4; i < len; i++)
        body[i] = (char)('a' + i % 26);
    body[len] = '\0';
    struct outcome o = {0};
    submit_body(e, body, len, &o);
    wait_done(e, &o, 1);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.body_len, len);
    assert_memory_equal(o.body, body, len);
    outcome_fini(&o);
    free(body);

    /* Over the limit: refused up front, no callback. */
    struct backend_request req = {.method = "POST", .body = "", .body_len = MAX_BODY_BYTES + 1};
    struct prefork_job *job = NULL;
    struct inf_err err;
    assert_int_equal(prefork_submit(e->pool, &req, on_done, &o, &job, &err), INF_ETOOBIG);
    assert_null(job);
    assert_int_equal(o.done, 0);
    assert_echo_works(e);
    env_free(e);
}

static void test_two_children_run_concurrently(void **state)
{
    (void)state;
    struct env *e = env_new(2, 5000);
    wait_ready(e, 2);
    struct outcome o[2] = {{0}};
    submit(e, "sleep:300", &o[0]);
    submit(e, "sleep:300", &o[1]);
    assert_int_equal(prefork_queued(e->pool), 0); /* both went to a child */
    wait_done(e, o, 2);
    assert_int_equal(o[0].rc, 0);
    assert_int_equal(o[1].rc, 0);
    /* Each answer is the pid of the process that slept: two processes. */
    assert_int_not_equal(o[0].pid, o[1].pid);
    assert_int_equal(strtol(o[0].body, NULL, 10), o[0].pid);
    assert_int_equal(strtol(o[1].body, NULL, 10), o[1].pid);
    outcome_fini(&o[0]);
    outcome_fini(&o[1]);
    env_free(e);
}

static void test_queue_is_fifo(void **state)
{
    (void)state;
    struct env *e = env_new(1, 5000);
    struct outcome o[4] = {{0}};
    submit(e, "sleep:100", &o[0]);
    submit(e, "echo 1", &o[1]);
    submit(e, "echo 2", &o[2]);
    submit(e, "echo 3", &o[3]);
    assert_true(prefork_queued(e->pool) >= 3);
    wait_done(e, o, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(o[i].rc, 0);
        assert_int_equal(o[i].order, i + 1);
    }
    assert_string_equal(o[1].body, "echo 1");
    assert_string_equal(o[2].body, "echo 2");
    assert_string_equal(o[3].body, "echo 3");
    for (int i = 0; i < 4; i++)
        outcome_fini(&o[i]);
    assert_int_equal(prefork_queued(e->pool), 0);
    env_free(e);
}

static void test_timeout_kills_and_replaces(void **state)
{
    (void)state;
    struct env *e = env_new(1, 200);
    struct outcome o[2] = {{0}};
    uint64_t started = inf_now_ms();
    submit(e, "sleep:3000", &o[0]);
    submit(e, "echo queued", &o[1]); /* waits behind it */
    wait_done(e, o, 1);
    assert_true(inf_now_ms() - started < 2500);
    assert_int_equal(o[0].rc, INF_ETIMEOUT);
    assert_int_equal(o[0].status, 500);
    assert_string_equal(o[0].content_type, "application/json");
    assert_string_equal(o[0].body, "{\"message\": \"Scoring timeout after 200 ms\"}");
    pid_t killed = o[0].pid;
    assert_true(killed > 0);

    /* The queued request goes to the replacement. */
    wait_done(e, o, 2);
    assert_int_equal(o[1].rc, 0);
    assert_string_equal(o[1].body, "echo queued");
    assert_int_not_equal(o[1].pid, killed);
    assert_false(process_exists(killed)); /* killed and reaped */
    assert_int_equal(prefork_ready(e->pool), 1);
    assert_echo_works(e);
    outcome_fini(&o[0]);
    outcome_fini(&o[1]);
    env_free(e);
}

static void assert_crash(struct env *e, const char *body, const char *how)
{
    struct outcome o = {0};
    score(e, body, &o);
    assert_int_equal(o.rc, INF_EUPSTREAM);
    assert_int_equal(o.status, 500);
    assert_string_equal(o.content_type, "application/json");
    char *want = inf_asprintf("{\"message\": \"The scoring process ended while handling the "
                              "request (%s). Check the logs for more info.\"}",
                              how);
    assert_string_equal(o.body, want);
    free(want);
    assert_echo_works(e); /* served by a replacement, forked once o.pid was reaped */
    assert_false(process_exists(o.pid));
    outcome_fini(&o);
}

static void test_crashes_are_answered_and_replaced(void **state)
{
    (void)state;
    struct env *e = env_new(1, 5000);
    assert_crash(e, "crash", "killed by signal 6");
    assert_crash(e, "segv", "killed by signal 11");
    assert_crash(e, "exit", "exit status 3");
    assert_crash(e, "garbage", "it sent a malformed reply");
    /* Deaths after the hello are not start failures. */
    assert_null(prefork_failure(e->pool));
    env_free(e);
}

static void test_backend_error_keeps_child(void **state)
{
    (void)state;
    struct env *e = env_new(1, 5000);
    struct outcome o[2] = {{0}};
    score(e, "fail", &o[0]);
    assert_int_equal(o[0].rc, INF_EINTERNAL);
    assert_int_equal(o[0].status, 0);
    score(e, "pid", &o[1]);
    assert_int_equal(o[1].rc, 0);
    assert_int_equal(o[1].pid, o[0].pid);
    outcome_fini(&o[0]);
    outcome_fini(&o[1]);
    env_free(e);
}

/* Whether a list_fds() list holds fd (or any fd when fd < 0) open on ino. */
static int holds(const char *list, long fd, unsigned long ino)
{
    for (const char *p = list; *p != '\0';) {
        char *end;
        long f = strtol(p, &end, 10);
        unsigned long i = strtoul(end + 1, &end, 10);
        if ((fd < 0 || f == fd) && i == ino)
            return 1;
        p = end + 1;
    }
    return 0;
}

static size_t list_len(const char *list)
{
    size_t n = 0;
    for (; *list != '\0'; list++)
        n += *list == ',';
    return n;
}

static unsigned long inode_of(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return (unsigned long)st.st_ino;
}

static void test_children_hold_only_their_fds(void **state)
{
    (void)state;
    int kept[2], foreign[2];
    assert_int_equal(pipe2(kept, O_CLOEXEC), 0); /* like the backend's files */
    struct backend_response before;
    memset(&before, 0, sizeof(before));
    list_fds(&before); /* what the pool records as the backend's */
    struct env *e = env_new(2, 5000);
    assert_int_equal(pipe2(foreign, O_CLOEXEC), 0); /* like client connections */

    /* Replacements fork from a parent holding the other child's socket and
     * `foreign`: kill one to get one. */
    struct outcome o = {0};
    score(e, "exit", &o);
    outcome_fini(&o);
    wait_ready(e, 2);

    /* Ask both children: one of them is busy while the other answers. */
    struct outcome slow = {0};
    pid_t asked[2];
    for (int i = 0; i < 2; i++) {
        if (i == 1)
            submit(e, "sleep:300", &slow);
        score(e, "fds", &o);
        asked[i] = o.pid;
        assert_true(holds(o.body, kept[0], inode_of(kept[0])));
        assert_true(holds(o.body, kept[1], inode_of(kept[1])));
        assert_false(holds(o.body, -1, inode_of(foreign[0])));
        assert_false(holds(o.body, -1, inode_of(foreign[1])));
        /* What the parent had before the pool, plus the child's socket. */
        if (list_len(o.body) != list_len(before.body) + 1)
            fail_msg("the child holds fds %s; before the pool: %s", o.body, before.body);
        outcome_fini(&o);
    }
    assert_int_not_equal(asked[0], asked[1]);
    wait_done(e, &slow, 1);
    outcome_fini(&slow);
    env_free(e);
    backend_response_fini(&before);
    for (int i = 0; i < 2; i++) {
        close(kept[i]);
        close(foreign[i]);
    }
}

static void test_cancel(void **state)
{
    (void)state;
    struct env *e = env_new(1, 5000);
    struct outcome o[3] = {{0}};
    struct prefork_job *running = submit(e, "sleep:200", &o[0]);
    struct prefork_job *queued = submit(e, "echo dropped", &o[1]);
    submit(e, "echo kept", &o[2]);
    prefork_cancel(queued);
    assert_int_equal(prefork_queued(e->pool), 1);
    prefork_cancel(running);
    wait_done(e, &o[2], 1);
    assert_string_equal(o[2].body, "echo kept");
    assert_int_equal(o[0].done, 0);
    assert_int_equal(o[1].done, 0);
    outcome_fini(&o[2]);
    env_free(e);
}

static void test_children_ignore_group_sigterm(void **state)
{
    (void)state;
    struct env *e = env_new(1, 5000);
    struct outcome o[3] = {{0}};
    score(e, "pid", &o[0]);
    submit(e, "sleep:200", &o[1]);
    kill(o[0].pid, SIGTERM); /* what the supervisor sends the group */
    kill(o[0].pid, SIGINT);
    wait_done(e, &o[1], 1);
    assert_int_equal(o[1].rc, 0);
    score(e, "pid", &o[2]);
    assert_int_equal(o[2].pid, o[0].pid);
    for (int i = 0; i < 3; i++)
        outcome_fini(&o[i]);
    env_free(e);
}

static void test_start_failures_fail_the_pool(void **state)
{
    (void)state;
    die_at_start = 1;
    struct env *e = env_new(2, 5000);
    struct outcome o = {0};
    submit(e, "echo never", &o); /* queued: no child gets ready */
    uint64_t deadline = inf_now_ms() + WAIT_MS;
    while (prefork_failure(e->pool) == NULL && inf_now_ms() < deadline)
        turn(e);
    die_at_start = 0;
    assert_non_null(prefork_failure(e->pool));
    assert_non_null(strstr(prefork_failure(e->pool), "exit status 7"));
    assert_int_equal(prefork_ready(e->pool), 0);

    wait_done(e, &o, 1);
    assert_int_equal(o.rc, INF_EUNAVAIL);
    assert_int_equal(o.status, 503);
    assert_non_null(strstr(o.body, "{\"message\": \"The instance cannot start"));
    outcome_fini(&o);

    struct prefork_job *job = NULL;
    struct inf_err err;
    struct backend_request req = {.method = "POST", .body = "echo", .body_len = 4};
    assert_int_equal(prefork_submit(e->pool, &req, on_done, &o, &job, &err), INF_EUNAVAIL);
    assert_non_null(strstr(err.msg, "cannot start"));
    env_free(e);
}

static void test_stop_answers_and_reaps(void **state)
{
    (void)state;
    struct env *e = env_new(1, 10000);
    struct outcome o[2] = {{0}};
    submit(e, "sleep:4000", &o[0]);
    submit(e, "echo queued", &o[1]);
    for (int i = 0; i < 5; i++)
        turn(e); /* the first one reaches the child */
    uint64_t started = inf_now_ms();
    prefork_stop(e->pool);
    assert_true(inf_now_ms() - started < 1000); /* the busy child is killed */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(o[i].done, 1);
        assert_int_equal(o[i].rc, INF_EUNAVAIL);
        assert_int_equal(o[i].status, 503);
        assert_string_equal(o[i].body, "{\"message\": \"The instance is shutting down\"}");
        outcome_fini(&o[i]);
    }
    assert_int_equal(prefork_ready(e->pool), 0);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no child left */
    assert_int_equal(errno, ECHILD);

    struct prefork_job *job = NULL;
    struct inf_err err;
    struct backend_request req = {.method = "POST", .body = "echo", .body_len = 4};
    assert_int_equal(prefork_submit(e->pool, &req, on_done, &o[0], &job, &err), INF_EUNAVAIL);
    assert_non_null(strstr(err.msg, "shutting down"));
    prefork_stop(e->pool); /* idempotent */
    env_free(e);
}

static void test_stop_kills_children_that_hang(void **state)
{
    (void)state;
    hang_at_start = 1; /* they never read their socket: EOF does not end them */
    struct env *e = env_new(2, 5000);
    hang_at_start = 0;
    for (int i = 0; i < 5; i++)
        turn(e);
    uint64_t started = inf_now_ms();
    prefork_stop(e->pool);
    uint64_t took = inf_now_ms() - started;
    assert_true(took >= 1900 && took < 4000); /* the 2 s grace, then SIGKILL */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    env_free(e);
}

static void test_idle_children_stop_quickly(void **state)
{
    (void)state;
    struct env *e = env_new(4, 5000);
    wait_ready(e, 4);
    uint64_t started = inf_now_ms();
    prefork_stop(e->pool);
    assert_true(inf_now_ms() - started < 1000); /* EOF, not the SIGKILL fallback */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    env_free(e);
}

/* The contents of DIR/process-<pid>.<stream>.txt, asserting its mode is 0600;
 * the caller frees. */
static char *process_log(const char *dir, pid_t pid, const char *stream)
{
    char *path = inf_asprintf("%s/process-%ld.%s.txt", dir, (long)pid, stream);
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("%s: %s", path, inf_strerror(errno));
    assert_int_equal(st.st_mode & 07777, 0600);
    char *text = NULL;
    size_t len;
    struct inf_err err;
    if (inf_read_file(path, 1 << 20, &text, &len, &err) != 0)
        fail_msg("%s", err.msg);
    free(path);
    return text;
}

static size_t count_files(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_process_log_dir(void **state)
{
    (void)state;
    char tmp[] = "/tmp/inferd-prefork-test-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char *dir = inf_asprintf("%s/logs/process", tmp); /* mkdir -p */
    struct env *e = env_new_logged(2, 5000, dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* Each child opened its two files at fork, before a request. */
    assert_int_equal(count_files(dir), 4);

    /* The first slot's child sleeps; the other one prints twice. */
    struct outcome o[3] = {{0}};
    submit(e, "sleep:500", &o[1]);
    score(e, "print:first", &o[0]);
    assert_int_equal(o[0].rc, 0);
    pid_t pid = o[0].pid;
    assert_int_equal(strtol(o[0].body, NULL, 10), pid);
    score(e, "print:second", &o[2]);
    assert_int_equal(o[2].pid, pid);
    wait_done(e, &o[1], 1);
    assert_int_not_equal(o[1].pid, pid);
    char *out = process_log(dir, pid, "stdout");
    char *errs = process_log(dir, pid, "stderr");
    assert_string_equal(out, "out first\nout second\n");
    assert_string_equal(errs, "err first\nerr second\n");
    free(out);
    free(errs);
    out = process_log(dir, o[1].pid, "stdout"); /* the other child's, empty */
    assert_string_equal(out, "");
    free(out);
    for (int i = 0; i < 3; i++)
        outcome_fini(&o[i]);

    /* A replacement writes files of its own; the dead child's stay. */
    score(e, "exit", &o[0]);
    wait_ready(e, 2);
    assert_int_equal(count_files(dir), 6);
    outcome_fini(&o[0]);
    env_free(e);

    /* A second pool in the same folder: the files are appended to, never
     * truncated (pids are not reused this quickly, but the folder is). */
    e = env_new_logged(1, 5000, dir);
    score(e, "print:later", &o[0]);
    out = process_log(dir, o[0].pid, "stdout");
    assert_string_equal(out, "out later\n");
    free(out);
    outcome_fini(&o[0]);
    env_free(e);
    assert_int_equal(count_files(dir), 8);

    struct inf_err err;
    assert_int_equal(inf_rm_rf(tmp, &err), 0);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_request_encode_rejects),
        cmocka_unit_test(test_request_decode_rejects),
        cmocka_unit_test(test_request_header_lines),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_reply_encode_rejects),
        cmocka_unit_test(test_reply_decode_rejects),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_request_reaches_backend),
        cmocka_unit_test(test_large_bodies),
        cmocka_unit_test(test_two_children_run_concurrently),
        cmocka_unit_test(test_queue_is_fifo),
        cmocka_unit_test(test_timeout_kills_and_replaces),
        cmocka_unit_test(test_crashes_are_answered_and_replaced),
        cmocka_unit_test(test_backend_error_keeps_child),
        cmocka_unit_test(test_children_hold_only_their_fds),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_children_ignore_group_sigterm),
        cmocka_unit_test(test_start_failures_fail_the_pool),
        cmocka_unit_test(test_stop_answers_and_reaps),
        cmocka_unit_test(test_stop_kills_children_that_hang),
        cmocka_unit_test(test_idle_children_stop_quickly),
        cmocka_unit_test(test_process_log_dir),
    };
    return cmocka_run_group_tests_name("prefork", tests, group_setup, group_teardown);
}
