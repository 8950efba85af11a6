/*
 * worker: one deployment instance. Owns the backend it loads, the Unix
 * socket it listens on, an h2o event loop serving HTTP/1.1 there and, for
 * BACKEND_PREFORK backends, the pool of scoring processes (prefork.h).
 *
 * Two kinds of instance: online (POST|GET /score, /swagger.json) and, with
 * --batch, batch (POST /batch: one mini-batch of a batch job, whose JSON
 * body goes to the backend's score() with path "/batch"; python and mlflow
 * backends only). Both serve /health/live, /health/ready and /.
 *
 * Single-threaded. In-process mode (native): the backend's score() runs on
 * the event-loop thread, one request at a time (the gateway bounds
 * concurrency per instance). Prefork mode (python): score() runs in
 * --worker-count children forked after load, with --timeout-ms enforced;
 * this process only runs the backend's swagger() and fork hooks.
 *
 * Lifecycle: parse flags, load the backend (failure: exit 3), bind the socket,
 * fork the pool, serve until SIGTERM/SIGINT (PR_SET_PDEATHSIG turns the
 * parent's death into SIGTERM), then drain: close the listener and unlink the
 * socket, let h2o finish responses in progress and shut idle keep-alive
 * connections down, stop the pool, unload the backend and free everything
 * (leak-clean under ASan). A pool whose children keep dying at start ends
 * the worker with exit status 1, so the supervisor restarts it.
 */
#include "worker/worker.h"

#include <errno.h>
#include <netdb.h>
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
#include "worker/prefork.h"

#define WORKER_DEFAULT_MAX_BODY_BYTES ((size_t)100 * 1024 * 1024)
#define WORKER_MAX_BODY_BYTES_LIMIT ((long)4 * 1024 * 1024 * 1024)
#define LOOP_WAIT_MS 100 /* how often the loop looks at the stop flag */
#define DRAIN_GRACE_MS 5000
#define DRAIN_FORCE_MS 1000
#define DEFAULT_TIMEOUT_MS 5000
#define ONLINE_MAX_TIMEOUT_MS 180000 /* Azure's request_timeout_ms cap */
#define BATCH_PATH "/batch"

struct worker_opts {
    const char *socket_path; /* Unix socket (instances), or NULL */
    const char *listen_addr; /* "HOST:PORT" TCP (`inferd run`), or NULL */
    const char *backend;
    const char *model_dir;
    const char *code_dir;
    const char *script;
    const char *conda_file;
    size_t max_body_bytes;
    unsigned worker_count;       /* prefork children */
    int timeout_ms;              /* per request, prefork mode */
    int batch;                   /* serve POST /batch instead of /score */
    const char *process_log_dir; /* per scoring process stdout/stderr files, or NULL */
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
    struct prefork *pool; /* BACKEND_PREFORK backends, else NULL */
};

struct worker_handler {
    h2o_handler_t super;
    struct worker *worker;
};

/* Set by the signal handlers, read by the loop: the only globals. */
static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t child_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void on_child_signal(int sig)
{
    child_signal = sig;
}

static const char usage[] =
    "usage: inferd worker (--socket PATH | --listen HOST:PORT) --backend NAME --model-dir DIR\n"
    "                     [--code-dir DIR --script NAME] [--conda-file PATH]\n"
    "                     [--max-body-bytes N] [--worker-count N] [--timeout-ms N]\n"
    "                     [--batch] [--process-log-dir DIR]\n";

/* ---- flags ---- */

static int parse_args(int argc, char **argv, struct worker_opts *o, struct inf_err *err)
{
    memset(o, 0, sizeof(*o));
    o->max_body_bytes = WORKER_DEFAULT_MAX_BODY_BYTES;
    o->worker_count = 1;
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0)
            return inf_err_set(err, INF_EINVAL, "worker: unexpected argument '%s'", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const char *value = eq != NULL ? eq + 1 : NULL;
#define FLAG_IS(s) (name_len == sizeof(s) - 1 && strncmp(name, s, name_len) == 0)
        if (FLAG_IS("batch")) {
            if (value != NULL)
                return inf_err_set(err, INF_EINVAL, "worker: --batch takes no value");
            o->batch = 1;
            continue;
        }
        if (value == NULL) {
            if (i + 1 >= argc)
                return inf_err_set(err, INF_EINVAL, "worker: %s needs a value", arg);
            value = argv[++i];
        }
        if (FLAG_IS("socket")) {
            o->socket_path = value;
        } else if (FLAG_IS("listen")) {
            o->listen_addr = value;
        } else if (FLAG_IS("backend")) {
            o->backend = value;
        } else if (FLAG_IS("model-dir")) {
            o->model_dir = value;
        } else if (FLAG_IS("code-dir")) {
            o->code_dir = value;
        } else if (FLAG_IS("script")) {
            o->script = value;
        } else if (FLAG_IS("conda-file")) {
            o->conda_file = value;
        } else if (FLAG_IS("process-log-dir")) {
            if (value[0] == '\0')
                return inf_err_set(err, INF_EINVAL, "worker: --process-log-dir is empty");
            o->process_log_dir = value;
        } else if (FLAG_IS("worker-count")) {
            long n;
            if (inf_parse_long(value, 1, PREFORK_MAX_CHILDREN, &n) != 0)
                return inf_err_set(err, INF_EINVAL,
                                   "worker: --worker-count '%s' is not an integer in 1..%d", value,
                                   PREFORK_MAX_CHILDREN);
            o->worker_count = (unsigned)n;
        } else if (FLAG_IS("timeout-ms")) {
            long n;
            if (inf_parse_long(value, 1, PREFORK_MAX_TIMEOUT_MS, &n) != 0)
                return inf_err_set(err, INF_EINVAL,
                                   "worker: --timeout-ms '%s' is not an integer in 1..%d", value,
                                   PREFORK_MAX_TIMEOUT_MS);
            o->timeout_ms = (int)n;
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
    if ((o->socket_path == NULL) == (o->listen_addr == NULL))
        return inf_err_set(err, INF_EINVAL, "worker: give one of --socket and --listen");
    if (o->backend == NULL || o->model_dir == NULL)
        return inf_err_set(err, INF_EINVAL, "worker: --backend and --model-dir are required");
    if ((o->code_dir == NULL) != (o->script == NULL))
        return inf_err_set(err, INF_EINVAL, "worker: --code-dir and --script go together");
    if (o->batch && strcmp(o->backend, "python") != 0 && strcmp(o->backend, "mlflow") != 0)
        return inf_err_set(err, INF_EINVAL,
                           "worker: --batch needs the python or mlflow backend (a scoring "
                           "script's run(mini_batch), or an MLflow model), not '%s'",
                           o->backend);
    if (!o->batch && o->timeout_ms > ONLINE_MAX_TIMEOUT_MS)
        return inf_err_set(err, INF_EINVAL,
                           "worker: --timeout-ms %d is over %d, the limit for online instances "
                           "(batch instances, --batch, allow up to %d)",
                           o->timeout_ms, ONLINE_MAX_TIMEOUT_MS, PREFORK_MAX_TIMEOUT_MS);
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

/* {"message": message}, the shape of Azure's scoring errors, as a
 * backend_response the score path sends like any other. */
static void message_response(struct backend_response *res, int status, const char *message)
{
    json_t *text = json_string(message);
    char *quoted = text != NULL ? json_dumps(text, JSON_ENCODE_ANY) : NULL;
    json_decref(text);
    memset(res, 0, sizeof(*res));
    res->status = status;
    snprintf(res->content_type, sizeof(res->content_type), "application/json");
    res->body = inf_asprintf("{\"message\": %s}", quoted != NULL ? quoted : "\"\"");
    res->body_len = strlen(res->body);
    free(quoted);
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

/* Every request header with a lower-case name, as pool strings. h2o keeps
 * Host and Content-Length apart from the others; they are put back, as a
 * WSGI server would show them. */
static void collect_headers(h2o_req_t *req, struct backend_request *in)
{
    size_t n = 0, max = req->headers.size + 2;
    struct backend_header *headers = h2o_mem_alloc_pool(&req->pool, max * sizeof(*headers));
    if (req->authority.len > 0 && h2o_find_header(&req->headers, H2O_TOKEN_HOST, -1) == -1)
        headers[n++] = (struct backend_header){
            .name = "host",
            .value = pool_dup(req, req->authority.base, req->authority.len),
        };
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        char *name = (char *)pool_dup(req, h->name->base, h->name->len);
        h2o_strtolower(name, h->name->len);
        headers[n++] = (struct backend_header){
            .name = name,
            .value = pool_dup(req, h->value.base, h->value.len),
        };
    }
    if (req->entity.base != NULL &&
        h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_LENGTH, -1) == -1) {
        char len[32];
        snprintf(len, sizeof(len), "%zu", req->entity.len);
        headers[n++] = (struct backend_header){
            .name = "content-length",
            .value = pool_dup(req, len, strlen(len)),
        };
    }
    in->headers = headers;
    in->n_headers = n;
}

/* The backend's view of a scoring request; strings live in req's pool. */
static void build_request(h2o_req_t *req, const char *request_id, struct backend_request *in)
{
    const char *content_type = header_value(req, "content-type");
    const char *query = "";
    if (req->query_at != SIZE_MAX)
        query =
            pool_dup(req, req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    *in = (struct backend_request){
        .method = pool_dup(req, req->method.base, req->method.len),
        .path = pool_dup(req, req->path_normalized.base, req->path_normalized.len),
        .query = query,
        .content_type = content_type != NULL ? content_type : "",
        .body = req->entity.base != NULL ? req->entity.base : "",
        .body_len = req->entity.base != NULL ? req->entity.len : 0,
        .request_id = request_id,
    };
    collect_headers(req, in);
}

/* RFC 7230 token characters. */
static int is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
            strchr("!#$%&'*+-.^_`|~", c) == NULL)
            return 0;
    }
    return 1;
}

/* Headers the scoring code may not set: framing, and ours. */
static int header_reserved(const char *lower_name)
{
    static const char *const reserved[] = {
        "content-type", "content-length", "transfer-encoding",
        "connection",   "keep-alive",     "upgrade",
        "te",           "trailer",        "date",
        "server",       "x-request-id",   "x-ms-run-fn-exec-ms",
    };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(lower_name, reserved[i]) == 0)
            return 1;
    return 0;
}

/* Splits "Name: value" (optional blanks around the value); 0 unless the
 * name is a token. */
static int split_header(h2o_iovec_t line, h2o_iovec_t *name, h2o_iovec_t *value)
{
    const char *colon = memchr(line.base, ':', line.len);
    if (colon == NULL || !is_token(line.base, (size_t)(colon - line.base)))
        return 0;
    *name = h2o_iovec_init(line.base, (size_t)(colon - line.base));
    const char *v = colon + 1, *end = line.base + line.len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *value = h2o_iovec_init(v, (size_t)(end - v));
    return 1;
}

/* Adds the backend's extra headers, "Name: value\r\n" lines; a line that
 * is malformed or names a reserved header is logged and skipped. */
static void add_extra_headers(h2o_req_t *req, const char *request_id, const char *lines)
{
    for (const char *line = lines; *line != '\0';) {
        const char *eol = strstr(line, "\r\n");
        h2o_iovec_t text = h2o_iovec_init(line, eol != NULL ? (size_t)(eol - line) : strlen(line));
        line = eol != NULL ? eol + 2 : line + text.len;
        if (text.len == 0)
            continue;
        h2o_iovec_t name, value;
        int ok = split_header(text, &name, &value);
        char *lower = NULL, *val = NULL;
        if (ok) {
            lower = (char *)pool_dup(req, name.base, name.len);
            h2o_strtolower(lower, name.len);
            val = (char *)pool_dup(req, value.base, value.len);
            ok = header_safe(val) && !header_reserved(lower);
        }
        if (!ok) {
            char shown[64];
            inf_warn("worker.header_skipped", "req_id=%s header=\"%s\"", request_id,
                     printable(text, shown, sizeof(shown)));
            continue;
        }
        h2o_add_header_by_str(&req->pool, &req->res.headers, lower, name.len, 1,
                              pool_dup(req, name.base, name.len), val, value.len);
    }
}

/* Sends a scoring answer, in-process or from the pool. rc is 0 (res is the
 * backend's), a pool failure (res is the pool's own answer) or any other
 * error (a generic 500). Adds x-request-id and x-ms-run-fn-exec-ms. */
static void send_scored(struct worker *w, h2o_req_t *req, const char *request_id, size_t bytes_in,
                        int rc, const struct backend_response *out, uint64_t exec_us)
{
    char exec_ms[32];
    snprintf(exec_ms, sizeof(exec_ms), "%.3f", (double)exec_us / 1000.0);
    add_header(req, "x-ms-run-fn-exec-ms", exec_ms);
    add_header(req, "x-request-id", request_id);
    if (rc == INF_ETIMEOUT || rc == INF_EUPSTREAM || rc == INF_EUNAVAIL) {
        inf_error("worker.score_failed", "req_id=%s backend=%s rc=%s status=%d exec_ms=%s",
                  request_id, w->backend->name, inf_err_name(rc), out->status, exec_ms);
        respond(req, out->status, out->content_type, out->body, out->body_len);
    } else if (rc != 0 || out->status < 200 || out->status > 599 ||
               !header_safe(out->content_type)) {
        inf_error("worker.score_failed", "req_id=%s backend=%s rc=%d status=%d", request_id,
                  w->backend->name, rc, out->status);
        respond_error(req, 500, "InternalError", "the backend failed to score the request");
    } else {
        inf_info("worker.score", "req_id=%s status=%d exec_ms=%s bytes_in=%zu bytes_out=%zu",
                 request_id, out->status, exec_ms, bytes_in, out->body_len);
        add_extra_headers(req, request_id, out->extra_headers);
        respond(req, out->status,
                out->content_type[0] != '\0' ? out->content_type : "application/json", out->body,
                out->body_len);
    }
}

/* A scoring request waiting for the pool. Lives in the request's pool:
 * if h2o disposes the request first (the client left), the job is
 * cancelled. */
struct score_call {
    struct worker *w;
    h2o_req_t *req;
    struct prefork_job *job; /* NULL once answered */
    const char *request_id;
    size_t bytes_in;
};

static void on_score_call_dispose(void *data)
{
    struct score_call *call = data;
    if (call->job != NULL)
        prefork_cancel(call->job);
}

static void on_scored(void *data, const struct prefork_result *result)
{
    struct score_call *call = data;
    call->job = NULL;
    send_scored(call->w, call->req, call->request_id, call->bytes_in, result->rc, &result->res,
                result->exec_us);
}

static void score_in_pool(struct worker *w, h2o_req_t *req, const struct backend_request *in)
{
    struct score_call *call =
        h2o_mem_alloc_shared(&req->pool, sizeof(*call), on_score_call_dispose);
    *call = (struct score_call){
        .w = w, .req = req, .request_id = in->request_id, .bytes_in = in->body_len};
    struct inf_err err;
    int rc = prefork_submit(w->pool, in, on_scored, call, &call->job, &err);
    if (rc == 0)
        return;
    call->job = NULL;
    if (rc == INF_EUNAVAIL) { /* stopping, or the pool failed */
        struct backend_response out;
        message_response(&out, 503, err.msg);
        send_scored(w, req, in->request_id, in->body_len, rc, &out, 0);
        backend_response_fini(&out);
    } else { /* a request the frames cannot carry */
        add_header(req, "x-request-id", in->request_id);
        respond_error(req, inf_err_http_status(rc), inf_err_name(rc), err.msg);
    }
}

static void score_in_process(struct worker *w, h2o_req_t *req, const struct backend_request *in)
{
    struct backend_response out;
    memset(&out, 0, sizeof(out));
    uint64_t started_us = inf_now_us();
    int rc = w->backend->score(w->backend_state, in, &out);
    uint64_t exec_us = inf_now_us() - started_us;
    out.content_type[sizeof(out.content_type) - 1] = '\0';
    out.extra_headers[sizeof(out.extra_headers) - 1] = '\0';
    send_scored(w, req, in->request_id, in->body_len, rc == 0 ? 0 : INF_EINTERNAL, &out, exec_us);
    backend_response_fini(&out);
}

/* Hands the request to the backend, in the pool or in this process. */
static void score_request(struct worker *w, h2o_req_t *req)
{
    const char *request_id = header_value(req, "x-request-id");
    if (request_id == NULL) {
        char uuid[37];
        inf_uuid4(uuid);
        request_id = pool_dup(req, uuid, strlen(uuid));
    }
    struct backend_request in;
    build_request(req, request_id, &in);
    if (w->pool != NULL)
        score_in_pool(w, req, &in);
    else
        score_in_process(w, req, &in);
}

static void handle_score(struct worker *w, h2o_req_t *req)
{
    if (w->opts.batch) {
        respond_error(req, 404, "NotFound",
                      "/score: this instance runs a batch deployment; it serves POST " BATCH_PATH);
        return;
    }
    if (!method_is(req, "GET") && !method_is(req, "POST")) {
        respond_bad_method(req, "GET, POST");
        return;
    }
    score_request(w, req);
}

/* POST /batch: the backend's score() gets the JSON body with path "/batch",
 * runs the mini-batch and writes its result file (python/inferd/batch.py);
 * the pool's --timeout-ms bounds it like any request. */
static void handle_batch(struct worker *w, h2o_req_t *req)
{
    if (!w->opts.batch) {
        respond_error(req, 404, "NotFound",
                      BATCH_PATH ": this instance runs an online deployment; it serves /score "
                                 "(batch instances run with --batch)");
        return;
    }
    if (!method_is(req, "POST")) {
        respond_bad_method(req, "POST");
        return;
    }
    score_request(w, req);
}

/* The version=2|3 query parameter (default 2); -1 for another value. */
static int swagger_version(h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return 2;
    const char *q = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    int version = 2;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *param_end = amp != NULL ? amp : end;
        if (param_end - q >= 8 && memcmp(q, "version=", 8) == 0) {
            h2o_iovec_t v = h2o_iovec_init(q + 8, (size_t)(param_end - q - 8));
            version = h2o_memis(v.base, v.len, H2O_STRLIT("2"))   ? 2
                      : h2o_memis(v.base, v.len, H2O_STRLIT("3")) ? 3
                                                                  : -1;
        }
        q = param_end + 1;
    }
    return version;
}

/* GET /swagger.json[?version=2|3]: the backend's document, built in this
 * process (which holds the loaded backend in both modes). */
static void handle_swagger(struct worker *w, h2o_req_t *req)
{
    if (w->opts.batch) {
        respond_error(req, 404, "NotFound",
                      "/swagger.json: this instance runs a batch deployment, which has no "
                      "Swagger document");
        return;
    }
    if (!method_is(req, "GET")) {
        respond_bad_method(req, "GET");
        return;
    }
    int version = swagger_version(req);
    if (version < 0) {
        respond_error(req, 400, "BadRequest", "swagger.json: version must be 2 or 3");
        return;
    }
    if (w->backend->swagger == NULL) {
        char *msg =
            inf_asprintf("this deployment has no Swagger document (backend %s)", w->backend->name);
        respond_error(req, 404, "NotFound", msg);
        free(msg);
        return;
    }
    struct backend_response out;
    memset(&out, 0, sizeof(out));
    int rc = w->backend->swagger(w->backend_state, version, &out);
    out.content_type[sizeof(out.content_type) - 1] = '\0';
    if (rc != 0 || out.status < 200 || out.status > 599 || !header_safe(out.content_type)) {
        inf_error("worker.swagger_failed", "backend=%s rc=%d status=%d", w->backend->name, rc,
                  out.status);
        respond_error(req, 500, "InternalError",
                      "the backend failed to build the Swagger document");
    } else {
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

static void handle_ready(struct worker *w, h2o_req_t *req)
{
    /* The backend loads before the socket exists: listening means ready,
     * once a scoring process is up in prefork mode. */
    if (w->pool != NULL && prefork_ready(w->pool) == 0 && method_is(req, "GET")) {
        respond_error(req, 503, "ServiceUnavailable", "no scoring process is ready");
        return;
    }
    handle_text(req, "OK");
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
    } else if (path_is(req, BATCH_PATH)) {
        handle_batch(w, req);
    } else if (path_is(req, "/swagger.json")) {
        handle_swagger(w, req);
    } else if (path_is(req, "/health/ready")) {
        handle_ready(w, req);
    } else if (path_is(req, "/health/live")) {
        handle_text(req, "OK");
    } else if (path_is(req, "/")) {
        handle_text(req, "Healthy"); /* what Azure's inference server answers */
    } else {
        char path[256];
        char *msg = inf_asprintf("no route %s (routes: %s, /health/live, /health/ready, /)",
                                 printable(req->path_normalized, path, sizeof(path)),
                                 w->opts.batch ? BATCH_PATH : "/score, /swagger.json");
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

/* A TCP listener on "HOST:PORT" (numeric host), for `inferd run`. */
static int listen_tcp(const char *addr, int *fd_out, struct inf_err *err)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || colon[1] == '\0')
        return inf_err_set(err, INF_EINVAL, "worker: --listen %s: expected HOST:PORT", addr);
    char host[64];
    size_t hlen = (size_t)(colon - addr);
    if (addr[0] == '[' && hlen > 2 && addr[hlen - 1] == ']') {
        addr++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host))
        return inf_err_set(err, INF_EINVAL, "worker: --listen %s: host too long", addr);
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    long port;
    if (inf_parse_long(colon + 1, 0, 65535, &port) != 0)
        return inf_err_set(err, INF_EINVAL, "worker: --listen %s: bad port", addr);
    if (listener_open_tcp(host, (int)port, fd_out, NULL, err) != 0)
        return inf_err_prefix(err, "worker: --listen");
    return 0;
}

/* ---- lifecycle ---- */

static int load_backend(struct worker *w, struct inf_err *err)
{
    w->backend = backend_find(w->opts.backend);
    if (w->backend == NULL)
        return inf_err_set(err, INF_EINVAL, "worker: unknown backend '%s'", w->opts.backend);
    struct backend_config cfg = {
        .model_dir = w->opts.model_dir,
        .code_dir = w->opts.code_dir,
        .script = w->opts.script,
        .conda_file = w->opts.conda_file,
        .timeout_ms = w->opts.timeout_ms,
    };
    uint64_t started_ms = inf_now_ms();
    int rc = w->backend->load(&cfg, &w->backend_state, err);
    if (rc != 0) {
        w->backend = NULL;
        return rc;
    }
    inf_info("worker.loaded", "backend=%s load_ms=%llu", w->backend->name,
             (unsigned long long)(inf_now_ms() - started_ms));
    if ((w->backend->flags & BACKEND_PREFORK) == 0) {
        if (w->opts.process_log_dir != NULL)
            inf_warn("worker.process_log_dir_ignored",
                     "backend=%s reason=\"scores in the worker process, whose output is the "
                     "instance log\"",
                     w->backend->name);
        return 0;
    }
    /* Now, before any socket exists: the fds open at this point are the
     * backend's, which the children keep. */
    struct prefork_config pool = {
        .backend = w->backend,
        .backend_state = w->backend_state,
        .n_children = w->opts.worker_count,
        .timeout_ms = w->opts.timeout_ms,
        .max_body_bytes = w->opts.max_body_bytes,
        .process_log_dir = w->opts.process_log_dir,
    };
    w->pool = prefork_new(&pool, err);
    if (w->pool == NULL) {
        w->backend->unload(w->backend_state);
        w->backend = NULL;
        return err->code;
    }
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

/* Stops accepting, lets open connections finish their responses, then
 * stops the pool. */
static void server_drain(struct worker *w)
{
    listener_close(w->listener);
    w->listen_fd = -1;
    if (w->opts.socket_path != NULL)
        unlink(w->opts.socket_path);
    listener_drain(w->listener);
    size_t left = listener_wait_idle(w->listener, DRAIN_GRACE_MS);
    if (left > 0 && w->pool != NULL) {
        /* Requests still with the pool get a 503, which can still go out. */
        prefork_stop(w->pool);
        left = listener_wait_idle(w->listener, DRAIN_FORCE_MS);
    }
    if (left > 0) {
        inf_warn("worker.drain_timeout", "connections=%zu grace_ms=%d", left, DRAIN_GRACE_MS);
        listener_abort(w->listener);
        left = listener_wait_idle(w->listener, DRAIN_FORCE_MS);
    }
    if (left > 0)
        inf_error("worker.drain_failed", "connections=%zu", left);
    if (w->pool != NULL)
        prefork_stop(w->pool);
}

static void server_fini(struct worker *w)
{
    h2o_evloop_t *loop = w->ctx.loop;
    listener_free(w->listener);
    w->listener = NULL;
    prefork_free(w->pool); /* its timeouts belong to the loop */
    w->pool = NULL;
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
    const char *where = w->opts.socket_path != NULL ? w->opts.socket_path : w->opts.listen_addr;
    int rc = w->opts.socket_path != NULL ? listen_unix(where, &w->listen_fd, &err)
                                         : listen_tcp(where, &w->listen_fd, &err);
    if (rc != 0) {
        inf_error("worker.listen_failed", "socket=%s msg=\"%s\"", where, err.msg);
        fprintf(stderr, "%s\n", err.msg);
        return WORKER_EXIT_FAILED;
    }
    server_init(w);
    if (w->pool != NULL && prefork_start(w->pool, w->ctx.loop, &err) != 0) {
        inf_error("worker.fork_failed", "msg=\"%s\"", err.msg);
        fprintf(stderr, "%s\n", err.msg);
        close(w->listen_fd);
        if (w->opts.socket_path != NULL)
            unlink(w->opts.socket_path);
        server_fini(w);
        return WORKER_EXIT_FAILED;
    }
    server_start(w);
    inf_info("worker.ready", "socket=%s max_body_bytes=%zu mode=%s kind=%s", where,
             w->opts.max_body_bytes, w->pool != NULL ? "prefork" : "in-process",
             w->opts.batch ? "batch" : "online");
    int status = WORKER_EXIT_OK;
    while (stop_signal == 0) {
        h2o_evloop_run(w->ctx.loop, LOOP_WAIT_MS);
        if (w->pool == NULL)
            continue;
        if (child_signal != 0) {
            child_signal = 0;
            prefork_reap(w->pool);
        }
        const char *failure = prefork_failure(w->pool);
        if (failure != NULL) {
            /* Exit non-zero: the supervisor restarts the instance with backoff. */
            inf_error("worker.pool_failed", "reason=\"%s\"", failure);
            fprintf(stderr, "worker: %s\n", failure);
            status = WORKER_EXIT_FAILED;
            break;
        }
    }
    inf_info("worker.stopping", "signal=%d status=%d", (int)stop_signal, status);
    server_drain(w);
    server_fini(w);
    return status;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: a signal cuts the loop's wait short */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child_signal; /* the pool's children: reaped on the loop */
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
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
    inf_info("worker.start",
             "pid=%ld backend=%s model_dir=%s code_dir=%s script=%s socket=%s worker_count=%u "
             "timeout_ms=%d batch=%d process_log_dir=%s",
             (long)getpid(), w.opts.backend, w.opts.model_dir,
             w.opts.code_dir != NULL ? w.opts.code_dir : "-",
             w.opts.script != NULL ? w.opts.script : "-",
             w.opts.socket_path != NULL ? w.opts.socket_path : w.opts.listen_addr,
             w.opts.worker_count, w.opts.timeout_ms, w.opts.batch,
             w.opts.process_log_dir != NULL ? w.opts.process_log_dir : "-");

    if (load_backend(&w, &err) != 0) {
        inf_error("worker.load_failed", "backend=%s msg=\"%s\"", w.opts.backend, err.msg);
        fprintf(stderr, "%s\n", err.msg);
        return WORKER_EXIT_LOAD_FAILED;
    }

    int status = stop_signal == 0 ? serve(&w) : WORKER_EXIT_OK;
    prefork_free(w.pool); /* if serve() never started it */
    w.backend->unload(w.backend_state);
    inf_info("worker.exit", "status=%d", status);
    return status;
}
