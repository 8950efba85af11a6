/*
 * worker: one deployment instance. Owns the backend it loads, the Unix
 * socket it listens on and an h2o event loop serving HTTP/1.1 there.
 *
 * Single-threaded: the backend's score() runs on the event-loop thread, one
 * request at a time (the gateway bounds concurrency per instance).
 *
 * Lifecycle: parse flags, load the backend (failure: exit 3), bind the socket,
 * serve until SIGTERM/SIGINT (PR_SET_PDEATHSIG turns the parent's death into
 * SIGTERM), then drain: close the listener and unlink the socket, let h2o
 * finish responses in progress and shut idle keep-alive connections down,
 * unload the backend and free everything (leak-clean under ASan).
 */
#include "worker/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <h2o.h>
#include <jansson.h>

#include "backends/backend.h"
#include "core/err.h"
#include "core/log.h"
#include "http/listener.h"
#include "core/util.h"

#define WORKER_DEFAULT_MAX_BODY_BYTES ((size_t)100 * 1024 * 1024)
#define WORKER_MAX_BODY_BYTES_LIMIT ((long)4 * 1024 * 1024 * 1024)
#define LOOP_WAIT_MS 100 /* how often the loop looks at the stop flag */
#define DRAIN_GRACE_MS 5000
#define DRAIN_FORCE_MS 1000

struct worker_opts {
    const char *socket_path;
    const char *backend;
    const char *model_dir;
    const char *code_dir;
    const char *script;
    size_t max_body_bytes;
};

struct worker {
    struct worker_opts opts;
    const struct backend_ops *backend;
    void *backend_state;

    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    struct listener *listener;
};

struct worker_handler {
    h2o_handler_t super;
    struct worker *worker;
};

/* Set by the signal handler, read by the loop: the only global. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static const char usage[] =
    "usage: inferd worker --socket PATH --backend NAME --model-dir DIR\n"
    "                     [--code-dir DIR --script NAME] [--max-body-bytes N]\n";

/* ---- flags ---- */

static int parse_args(int argc, char **argv, struct worker_opts *o, struct inf_err *err)
{
    memset(o, 0, sizeof(*o));
    o->max_body_bytes = WORKER_DEFAULT_MAX_BODY_BYTES;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0)
            return inf_err_set(err, INF_EINVAL, "worker: unexpected argument '%s'", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const char *value = eq != NULL ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc)
                return inf_err_set(err, INF_EINVAL, "worker: %s needs a value", arg);
            value = argv[++i];
        }
#define FLAG_IS(s) (name_len == sizeof(s) - 1 && strncmp(name, s, name_len) == 0)
        if (FLAG_IS("socket")) {
            o->socket_path = value;
        } else if (FLAG_IS("backend")) {
            o->backend = value;
        } else if (FLAG_IS("model-dir")) {
            o->model_dir = value;
        } else if (FLAG_IS("code-dir")) {
            o->code_dir = value;
        } else if (FLAG_IS("script")) {
            o->script = value;
        } else if (FLAG_IS("max-body-bytes")) {
            long n;
            if (inf_parse_long(value, 1, WORKER_MAX_BODY_BYTES_LIMIT, &n) != 0)
                return inf_err_set(err, INF_EINVAL,
                                   "worker: --max-body-bytes '%s' is not an integer in 1..%ld",
                                   value, WORKER_MAX_BODY_BYTES_LIMIT);
            o->max_body_bytes = (size_t)n;
        } else {
            return inf_err_set(err, INF_EINVAL, "worker: unknown flag --%.*s", (int)name_len, name);
        }
#undef FLAG_IS
    }
    if (o->socket_path == NULL || o->backend == NULL || o->model_dir == NULL)
        return inf_err_set(err, INF_EINVAL,
                           "worker: --socket, --backend and --model-dir are "
                           "required");
    if ((o->code_dir == NULL) != (o->script == NULL))
        return inf_err_set(err, INF_EINVAL, "worker: --code-dir and --script go together");
    return 0;
}

/* ---- responses ---- */

static const char *status_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {413, "Payload Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Entity"},
        {424, "Failed Dependency"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}

/* Copies s into the request's pool (h2o keeps header values by reference). */
static const char *pool_dup(h2o_req_t *req, const char *s, size_t len)
{
    return h2o_strdup(&req->pool, s, len).base;
}

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t len = strlen(value);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL,
                          pool_dup(req, value, len), len);
}

static void respond(h2o_req_t *req, int status, const char *content_type, const char *body,
                    size_t len)
{
    req->res.status = status;
    req->res.reason = status_reason(status);
    size_t ct_len = strlen(content_type);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   pool_dup(req, content_type, ct_len), ct_len);
    req->res.content_length = len;
    h2o_send_inline(req, body != NULL ? body : "", len);
}

/* Request data echoed in messages: printable ASCII, at most out_len - 1 bytes. */
static const char *printable(h2o_iovec_t s, char *out, size_t out_len)
{
    size_t n = s.len < out_len - 1 ? s.len : out_len - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = s.base[i] >= 0x20 && s.base[i] < 0x7f ? s.base[i] : '?';
    out[n] = '\0';
    return out;
}

/* A value fit for a response header: printable ASCII (no CR/LF injection). */
static int header_safe(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s < 0x20 || *s > 0x7e)
            return 0;
    return 1;
}

/* {"error": {"code": code, "message": message}} */
static void respond_error(h2o_req_t *req, int status, const char *code, const char *message)
{
    json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL) {
        respond(req, status, "text/plain", message, strlen(message));
        return;
    }
    respond(req, status, "application/json", body, strlen(body));
    free(body);
}

static int method_is(const h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

static void respond_bad_method(h2o_req_t *req, const char *allowed)
{
    char method[32], path[256];
    char *msg = inf_asprintf("%s is not allowed on %s; use %s",
                             printable(req->method, method, sizeof(method)),
                             printable(req->path_normalized, path, sizeof(path)), allowed);
    add_header(req, "allow", allowed);
    respond_error(req, 405, "MethodNotAllowed", msg);
    free(msg);
}

/* ---- routes ---- */

/* A request header's value copied into the pool, or NULL when absent. */
static const char *header_value(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i == -1)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    return pool_dup(req, v.base, v.len);
}

static void handle_score(struct worker *w, h2o_req_t *req)
{
    if (!method_is(req, "GET") && !method_is(req, "POST")) {
        respond_bad_method(req, "GET, POST");
        return;
    }
    const char *request_id = header_value(req, "x-request-id");
    if (request_id == NULL) {
        char uuid[37];
        inf_uuid4(uuid);
        request_id = pool_dup(req, uuid, strlen(uuid));
    }
    const char *content_type = header_value(req, "content-type");
    const char *query = "";
    if (req->query_at != SIZE_MAX)
        query =
            pool_dup(req, req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    struct backend_request in = {
        .method = pool_dup(req, req->method.base, req->method.len),
        .query = query,
        .content_type = content_type != NULL ? content_type : "",
        .body = req->entity.base != NULL ? req->entity.base : "",
        .body_len = req->entity.base != NULL ? req->entity.len : 0,
        .request_id = request_id,
    };
    struct backend_response out;
    memset(&out, 0, sizeof(out));

    uint64_t started_us = inf_now_us();
    int rc = w->backend->score(w->backend_state, &in, &out);
    char exec_ms[32];
    snprintf(exec_ms, sizeof(exec_ms), "%.3f", (double)(inf_now_us() - started_us) / 1000.0);

    out.content_type[sizeof(out.content_type) - 1] = '\0';
    add_header(req, "x-ms-run-fn-exec-ms", exec_ms);
    add_header(req, "x-request-id", request_id);
    if (rc != 0 || out.status < 200 || out.status > 599 || !header_safe(out.content_type)) {
        inf_error("worker.score_failed", "req_id=%s backend=%s rc=%d status=%d", request_id,
                  w->backend->name, rc, out.status);
        respond_error(req, 500, "InternalError", "the backend failed to score the request");
    } else {
        inf_info("worker.score", "req_id=%s status=%d exec_ms=%s bytes_in=%zu bytes_out=%zu",
                 request_id, out.status, exec_ms, in.body_len, out.body_len);
        respond(req, out.status,
                out.content_type[0] != '\0' ? out.content_type : "application/json", out.body,
                out.body_len);
    }
    backend_response_fini(&out);
}

static void handle_text(h2o_req_t *req, const char *text)
{
    if (!method_is(req, "GET")) {
        respond_bad_method(req, "GET");
        return;
    }
    respond(req, 200, "text/plain; charset=utf-8", text, strlen(text));
}

static int path_is(const h2o_req_t *req, const char *path)
{
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, path, strlen(path));
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct worker *w = ((struct worker_handler *)self)->worker;
    if (path_is(req, "/score")) {
        handle_score(w, req);
    } else if (path_is(req, "/health/live") || path_is(req, "/health/ready")) {
        /* The backend loads before the socket exists: listening means ready. */
        handle_text(req, "OK");
    } else if (path_is(req, "/")) {
        handle_text(req, "Healthy"); /* what Azure's inference server answers */
    } else {
        char path[256];
        char *msg = inf_asprintf("no route %s (routes: /score, /health/live, /health/ready, /)",
                                 printable(req->path_normalized, path, sizeof(path)));
        respond_error(req, 404, "NotFound", msg);
        free(msg);
    }
    return 0;
}

/* ---- socket ---- */

static int listen_unix(const char *path, int *fd_out, struct inf_err *err)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return inf_err_set(err, INF_EINVAL,
                           "worker: socket path %s is too long (at most %zu bytes)", path,
                           sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, len + 1);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return inf_err_set(err, INF_EINVAL, "worker: %s exists and is not a socket", path);
        if (unlink(path) != 0)
            return inf_err_set(err, INF_EIO, "worker: cannot remove stale socket %s: %s", path,
                               inf_strerror(errno));
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return inf_err_set(err, INF_EIO, "worker: socket(): %s", inf_strerror(errno));
    mode_t old_mask = umask(0177); /* the socket is born 0600: no window for others */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int bind_errno = errno;
    umask(old_mask);
    if (rc != 0) {
        close(fd);
        return inf_err_set(err, INF_EIO, "worker: cannot bind %s: %s", path,
                           inf_strerror(bind_errno));
    }
    if (chmod(path, 0600) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return inf_err_set(err, INF_EIO, "worker: cannot listen on %s: %s", path, inf_strerror(e));
    }
    *fd_out = fd;
    return 0;
}

/* ---- lifecycle ---- */

static int load_backend(struct worker *w, struct inf_err *err)
{
    w->backend = backend_find(w->opts.backend);
    if (w->backend == NULL)
        return inf_err_set(err, INF_EINVAL, "worker: unknown backend '%s' (known: native)",
                           w->opts.backend);
    struct backend_config cfg = {
        .model_dir = w->opts.model_dir,
        .code_dir = w->opts.code_dir,
        .script = w->opts.script,
    };
    uint64_t started_ms = inf_now_ms();
    int rc = w->backend->load(&cfg, &w->backend_state, err);
    if (rc != 0) {
        w->backend = NULL;
        return rc;
    }
    inf_info("worker.loaded", "backend=%s load_ms=%llu", w->backend->name,
             (unsigned long long)(inf_now_ms() - started_ms));
    return 0;
}

static void server_init(struct worker *w)
{
    h2o_config_init(&w->config);
    w->config.server_name = h2o_iovec_init(H2O_STRLIT("inferd"));
    w->config.max_request_entity_size = w->opts.max_body_bytes;
    w->config.http1.upgrade_to_http2 = 0; /* HTTP/1.1 only (DESIGN.md) */
    h2o_hostconf_t *host =
        h2o_config_register_host(&w->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct worker_handler *handler =
        (struct worker_handler *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->worker = w;

    h2o_context_init(&w->ctx, h2o_evloop_create(), &w->config);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = w->config.hosts;
}

static void server_start(struct worker *w)
{
    w->listener = listener_start(&w->accept_ctx, w->listen_fd);
}

/* Stops accepting, then lets open connections finish their responses. */
static void server_drain(struct worker *w)
{
    listener_close(w->listener);
    w->listen_fd = -1;
    unlink(w->opts.socket_path);
    listener_drain(w->listener);
    size_t left = listener_wait_idle(w->listener, DRAIN_GRACE_MS);
    if (left > 0) {
        inf_warn("worker.drain_timeout", "connections=%zu grace_ms=%d", left, DRAIN_GRACE_MS);
        listener_abort(w->listener);
        left = listener_wait_idle(w->listener, DRAIN_FORCE_MS);
    }
    if (left > 0)
        inf_error("worker.drain_failed", "connections=%zu", left);
}

static void server_fini(struct worker *w)
{
    h2o_evloop_t *loop = w->ctx.loop;
    listener_free(w->listener);
    w->listener = NULL;
    h2o_context_dispose(&w->ctx);
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR <= 2
    /* h2o 2.2's evloop h2o_multithread_destroy_queue() forgets to free the
     * queue that h2o_context_init() created (fixed upstream in 2.3). */
    free(w->ctx.queue);
#endif
    h2o_evloop_destroy(loop);
    h2o_config_dispose(&w->config);
}

/* Listens and serves until a stop signal, then drains. Returns the exit status. */
static int serve(struct worker *w)
{
    struct inf_err err;
    if (listen_unix(w->opts.socket_path, &w->listen_fd, &err) != 0) {
        inf_error("worker.listen_failed", "socket=%s msg=\"%s\"", w->opts.socket_path, err.msg);
        fprintf(stderr, "%s\n", err.msg);
        return WORKER_EXIT_FAILED;
    }
    server_init(w);
    server_start(w);
    inf_info("worker.ready", "socket=%s max_body_bytes=%zu", w->opts.socket_path,
             w->opts.max_body_bytes);
    while (stop_signal == 0)
        h2o_evloop_run(w->ctx.loop, LOOP_WAIT_MS);
    inf_info("worker.stopping", "signal=%d", (int)stop_signal);
    server_drain(w);
    server_fini(w);
    return WORKER_EXIT_OK;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: a signal cuts the loop's wait short */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int worker_main(int argc, char **argv)
{
    struct inf_err err;
    inf_err_clear(&err);
    struct worker w;
    memset(&w, 0, sizeof(w));
    w.listen_fd = -1;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return WORKER_EXIT_OK;
    }
    if (parse_args(argc, argv, &w.opts, &err) != 0) {
        fprintf(stderr, "inferd %s\n%s", err.msg, usage);
        return WORKER_EXIT_USAGE;
    }

    install_signals();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* The scoring code's prints reach the instance log line by line. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    setenv("AZUREML_MODEL_DIR", w.opts.model_dir, 0);
    if (w.opts.code_dir != NULL) {
        setenv("AML_APP_ROOT", w.opts.code_dir, 0);
        setenv("AZUREML_ENTRY_SCRIPT", w.opts.script, 0);
    }
    inf_info("worker.start", "pid=%ld backend=%s model_dir=%s code_dir=%s script=%s socket=%s",
             (long)getpid(), w.opts.backend, w.opts.model_dir,
             w.opts.code_dir != NULL ? w.opts.code_dir : "-",
             w.opts.script != NULL ? w.opts.script : "-", w.opts.socket_path);

    if (load_backend(&w, &err) != 0) {
        inf_error("worker.load_failed", "backend=%s msg=\"%s\"", w.opts.backend, err.msg);
        fprintf(stderr, "%s\n", err.msg);
        return WORKER_EXIT_LOAD_FAILED;
    }

    int status = stop_signal == 0 ? serve(&w) : WORKER_EXIT_OK;
    w.backend->unload(w.backend_state);
    inf_info("worker.exit", "status=%d", status);
    return status;
}
