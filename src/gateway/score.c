/*
 * score: the data plane, /endpoints/{name}/score and swagger.json.
 * Event-loop thread.
 *
 * A request's path through here: find the endpoint, check the credential,
 * choose the deployment (the azureml-model-deployment pin, else the traffic
 * split), take a place in the deployment's admission (run now, wait in its
 * queue, or 429), choose its ready instance with the fewest requests in
 * flight, forward the request over that instance's keep-alive Unix-socket
 * pool, and relay the answer with the headers that say who served it: as is
 * for 2xx, as 424 for a model error. request_timeout_ms is enforced here
 * (408). The request's context lives in its h2o memory pool.
 */
#include "gateway/score.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/registry.h"
#include "core/log.h"
#include "core/util.h"
#include "gateway/accesslog.h"
#include "gateway/admission.h"
#include "gateway/auth.h"
#include "gateway/metrics.h"
#include "gateway/mirror.h"
#include "http/respond.h"
#include "http/upstream.h"
#include "server/server.h"
#include "supervisor/instance.h"

#define MAX_RESPONSE_BYTES (256u << 20)

/* One data-plane request, in its h2o pool. Lifecycle: admitted (now or
 * after queueing) → forwarded to an instance → answered once, by exactly
 * one of: the instance's answer, the deadline (408), a queue timeout (429),
 * the deployment going away (503). */
struct score_ctx {
    h2o_req_t *req;
    struct server *srv;
    struct deployment *d; /* valid while the ticket is queued or running */
    struct ticket ticket;
    struct instance *inst;
    struct instance_pool *conn;
    struct upstream_call *call;
    const char *method;
    const char *upstream_path;
    char *headers;
    int inst_index;
    int in_process; /* the backend scores on the instance's event loop (native) */
    int capacity;
    char endpoint[40];   /* "" until the endpoint is known to exist */
    char deployment[40]; /* "" until one is chosen */
    char request_id[37];
    char client_request_id[41];
    uint64_t start_us;
    uint64_t forwarded_us;
    struct mirror_call *mirror; /* the shadow copy of this request, if any */
};

/* A mirrored copy of a live request, sent to the mirror deployment. It
 * owns a copy of the body (the live request's memory goes with its answer)
 * and is freed once both the live answer and the mirror's are known. */
struct mirror_call {
    struct mirror *stats; /* referenced */
    char endpoint[40];
    char deployment[40];
    struct server *srv;
    struct instance *inst;
    struct instance_pool *conn;
    char *body;
    char *headers;
    uint64_t start_us;
    int live_done, mirror_done;
    int live_status, mirror_status;
    uint64_t live_us, mirror_us;
    char live_hash[65], mirror_hash[65];
};

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL,
                          h2o_strdup(&req->pool, value, SIZE_MAX).base, strlen(value));
}

static void mirror_call_finish(struct mirror_call *mc)
{
    if (!mc->live_done || !mc->mirror_done)
        return;
    struct mirror_outcome o = {
        .live_status = mc->live_status,
        .mirror_status = mc->mirror_status,
        .bodies_equal = strcmp(mc->live_hash, mc->mirror_hash) == 0,
        .live_us = mc->live_us,
        .mirror_us = mc->mirror_us,
    };
    mirror_record(mc->stats, &o);
    const char *result = o.mirror_status < 200 || o.mirror_status > 299       ? "error"
                         : o.live_status == o.mirror_status && o.bodies_equal ? "match"
                                                                              : "mismatch";
    metrics_mirror(mc->srv->metrics, mc->endpoint, mc->deployment, result);
    mirror_release(mc->stats);
    free(mc->body);
    free(mc->headers);
    free(mc);
}

static void on_mirror_answer(const struct upstream_result *res, void *data)
{
    struct mirror_call *mc = data;
    instance_release(mc->inst, mc->conn);
    mc->srv->in_flight--;
    mc->mirror_done = 1;
    mc->mirror_us = inf_now_us() - mc->start_us;
    mc->mirror_status = res->error != NULL ? 0 : res->status;
    inf_sha256_hex(res->body.data != NULL ? res->body.data : "", res->body.len, mc->mirror_hash);
    mirror_call_finish(mc);
}

/* Reports the live side's answer to its mirror copy, if there is one. */
static void mirror_live_answer(struct score_ctx *c, int status, const char *body, size_t len)
{
    struct mirror_call *mc = c->mirror;
    if (mc == NULL)
        return;
    c->mirror = NULL;
    mc->live_done = 1;
    mc->live_status = status;
    mc->live_us = inf_now_us() - c->start_us;
    inf_sha256_hex(body != NULL ? body : "", len, mc->live_hash);
    mirror_call_finish(mc);
}

/* Sends a copy of c's request to the mirror deployment md, when it has a
 * ready instance with room (a mirror never queues: it must not slow the
 * mirror deployment's own pinned traffic nor hold memory). */
static void mirror_start(struct score_ctx *c, struct endpoint *ep, struct deployment *md)
{
    struct instance *inst = md->active != NULL ? instance_set_pick(md->active) : NULL;
    json_t *rs = json_object_get(md->spec, "request_settings");
    json_int_t per =
        json_integer_value(json_object_get(rs, "max_concurrent_requests_per_instance"));
    if (inst == NULL || inst->in_flight >= (per > 0 ? per : 1)) {
        mirror_skipped(ep->mirror);
        return;
    }
    struct mirror_call *mc = inf_calloc(1, sizeof(*mc));
    snprintf(mc->endpoint, sizeof(mc->endpoint), "%s", ep->name);
    snprintf(mc->deployment, sizeof(mc->deployment), "%s", md->name);
    mc->stats = ep->mirror;
    mirror_ref(mc->stats);
    mc->srv = c->srv;
    mc->inst = inst;
    mc->conn = instance_acquire(inst);
    c->srv->in_flight++;
    size_t len = c->req->entity.len;
    mc->body = inf_malloc(len + 1);
    if (len > 0)
        memcpy(mc->body, c->req->entity.base, len);
    mc->headers = inf_strdup(c->headers);
    mc->start_us = inf_now_us();
    c->mirror = mc;
    upstream_start(&c->srv->upstream, &mc->conn->pool, c->method, c->upstream_path, mc->headers,
                   h2o_iovec_init(mc->body, len), MAX_RESPONSE_BYTES, on_mirror_answer, mc);
}

/* The unpinned request's mirror target and share from the endpoint's
 * mirror_traffic, or NULL. */
static struct deployment *mirror_target(struct endpoint *ep, int *percent)
{
    json_t *mt = json_object_get(ep->spec, "mirror_traffic");
    const char *name;
    json_t *v;
    json_object_foreach(mt, name, v)
    {
        json_int_t pct = json_integer_value(v);
        if (pct > 0) {
            *percent = (int)pct;
            return endpoint_find(ep, name, strlen(name));
        }
    }
    return NULL;
}

/* The answer headers every response of a routed request carries. */
static void add_route_headers(struct score_ctx *c)
{
    if (c->deployment[0] != '\0')
        add_header(c->req, "azureml-model-deployment", c->deployment);
    add_header(c->req, "x-request-id", c->request_id);
    if (c->client_request_id[0] != '\0')
        add_header(c->req, "x-ms-client-request-id", c->client_request_id);
}

/* x-ms-run-fn-exec-ms ("0.123") in microseconds, 0 when absent or bad. */
static uint64_t exec_us(const char *ms)
{
    char *end = NULL;
    double v = strtod(ms, &end);
    return end == ms || v < 0 ? 0 : (uint64_t)(v * 1000.0);
}

/* Counts the finished request in the metrics and writes its access log
 * line. Called once per request, just before its answer goes out. */
static void record(struct score_ctx *c, int status, int model_status, uint64_t model_us,
                   size_t response_bytes)
{
    uint64_t now = inf_now_us();
    uint64_t queue_us = c->forwarded_us != 0 ? c->forwarded_us - c->start_us : 0;
    struct metrics_request m = {
        .endpoint = c->endpoint,
        .deployment = c->deployment,
        .status = status,
        .total_us = now - c->start_us,
        .model_us = model_us,
        .queue_us = queue_us,
        .request_bytes = c->req->entity.len,
        .response_bytes = response_bytes,
    };
    metrics_request(c->srv->metrics, &m);
    if (c->srv->accesslog == NULL)
        return;
    char method[16], path[1024];
    snprintf(method, sizeof(method), "%.*s", (int)c->req->method.len, c->req->method.base);
    snprintf(path, sizeof(path), "%.*s", (int)c->req->path.len, c->req->path.base);
    struct access_entry e = {
        .method = method,
        .path = path,
        .endpoint = c->endpoint,
        .deployment = c->deployment,
        .status = status,
        .model_status = model_status,
        .request_bytes = c->req->entity.len,
        .response_bytes = response_bytes,
        .total_us = m.total_us,
        .model_us = model_us,
        .queue_us = queue_us,
        .request_id = c->request_id,
        .client_request_id = c->client_request_id,
    };
    accesslog_write(c->srv->accesslog, &e);
}

/* Answers with a JSON error, the routing headers, and records it. */
static void reply_error(struct score_ctx *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(struct score_ctx *c, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    add_route_headers(c);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        record(c, 500, 0, 0, 0);
        respond_error(c->req, 500, "InternalError", "cannot serialise the response");
        return;
    }
    size_t len = strlen(text);
    record(c, status, 0, 0, len); /* before the answer leaves: c lives in its pool */
    respond_json_text(c->req, status, text, len);
    free(text);
}

/* Lets go of the upstream call, the instance and the admission slot. */
static void release(struct score_ctx *c)
{
    if (c->call != NULL) {
        upstream_cancel(c->call);
        c->call = NULL;
    }
    if (c->inst != NULL) {
        instance_release(c->inst, c->conn);
        c->inst = NULL;
        c->srv->in_flight--;
        metrics_in_flight(c->srv->metrics, c->endpoint, c->deployment, -1);
    }
    if (c->ticket.running && c->d != NULL)
        admission_leave(c->d->admission, &c->ticket, c->capacity);
    c->d = NULL;
}

static void on_upstream(const struct upstream_result *res, void *data)
{
    struct score_ctx *c = data;
    h2o_req_t *req = c->req;
    c->call = NULL; /* finished: nothing to cancel */
    release(c);
    mirror_live_answer(c, res->error != NULL ? 502 : res->status, res->body.data,
                       res->error != NULL ? 0 : res->body.len);
    if (res->error != NULL) {
        inf_warn("score.upstream_failed", "req_id=%s deployment=%s instance=%d error=\"%s\"",
                 c->request_id, c->deployment, c->inst_index, res->error);
        reply_error(c, 502, "BadGateway",
                    "instance %d of deployment '%s' failed while handling the request (%s); "
                    "it is restarted automatically, retry the request",
                    c->inst_index, c->deployment, res->error);
        return;
    }
    add_route_headers(c);
    if (res->exec_ms[0] != '\0')
        add_header(req, "x-ms-run-fn-exec-ms", res->exec_ms);
    int status = res->status;
    if (status < 200 || status > 299) {
        /* The model answered with an error: 424, its status and reason in
         * headers, its body as is (Azure's contract). */
        char code[8];
        snprintf(code, sizeof(code), "%d", status);
        add_header(req, "ms-azureml-model-error-statuscode", code);
        add_header(req, "ms-azureml-model-error-reason",
                   res->reason[0] != '\0' ? res->reason : respond_reason(status));
        status = 424;
    }
    req->res.status = status;
    req->res.reason = respond_reason(status);
    const char *ct = res->content_type[0] != '\0' ? res->content_type : "application/json";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   h2o_strdup(&req->pool, ct, SIZE_MAX).base, strlen(ct));
    inf_debug("score.done", "req_id=%s deployment=%s status=%d us=%llu", c->request_id,
              c->deployment, res->status, (unsigned long long)(inf_now_us() - c->start_us));
    record(c, status, res->status, exec_us(res->exec_ms), res->body.len);
    req->res.content_length = res->body.len; /* else h2o answers chunked */
    h2o_send_inline(req, res->body.data != NULL ? res->body.data : "", res->body.len);
}

static void respond_unavailable(struct score_ctx *c, const struct deployment *d)
{
    reply_error(c, 503, "Unavailable",
                "deployment '%s' has no ready instance (provisioning state %s); retry "
                "shortly or check `inferd online-deployment show`",
                c->deployment, d->state);
}

/* Sends an admitted request to the deployment's least busy ready instance. */
static void dispatch(struct score_ctx *c)
{
    struct deployment *d = c->d;
    struct instance *inst = d->active != NULL ? instance_set_pick(d->active) : NULL;
    if (inst == NULL) {
        release(c);
        mirror_live_answer(c, 503, NULL, 0);
        respond_unavailable(c, d);
        return;
    }
    c->inst = inst;
    c->inst_index = inst->index;
    c->conn = instance_acquire(inst);
    c->srv->in_flight++;
    metrics_in_flight(c->srv->metrics, c->endpoint, c->deployment, +1);
    c->forwarded_us = inf_now_us();
    c->call = upstream_start(&c->srv->upstream, &c->conn->pool, c->method, c->upstream_path,
                             c->headers, c->req->entity, MAX_RESPONSE_BYTES, on_upstream, c);
}

static void on_ticket(struct ticket *t, enum ticket_event ev)
{
    struct score_ctx *c = H2O_STRUCT_FROM_MEMBER(struct score_ctx, ticket, t);
    static const int status_of[] = {
        [TICKET_QUEUE_TIMEOUT] = 429, [TICKET_DEADLINE] = 408, [TICKET_GONE] = 503};
    if (ev != TICKET_ADMITTED)
        mirror_live_answer(c, status_of[ev], NULL, 0);
    switch (ev) {
    case TICKET_ADMITTED:
        dispatch(c);
        return;
    case TICKET_QUEUE_TIMEOUT:
        c->d = NULL;
        add_header(c->req, "retry-after", "1");
        reply_error(c, 429, "TooManyRequests",
                    "deployment '%s' is at capacity and the request waited its "
                    "max_queue_wait_ms; retry later, or raise instance_count or "
                    "max_concurrent_requests_per_instance",
                    c->deployment);
        return;
    case TICKET_DEADLINE:
        if (c->in_process && c->inst != NULL) {
            /* A native backend scores on the instance's only thread, which is
             * stuck in this request: recycle it (the supervisor restarts it).
             * Python instances kill the stuck process themselves. */
            inf_warn("score.recycle", "req_id=%s deployment=%s instance=%d", c->request_id,
                     c->deployment, c->inst_index);
            instance_kill(c->inst, "request timeout: recycled");
        }
        release(c);
        reply_error(c, 408, "RequestTimeout",
                    "the model did not answer within request_timeout_ms (%llu ms) of "
                    "deployment '%s'",
                    (unsigned long long)c->ticket.timeout_ms, c->deployment);
        return;
    case TICKET_GONE:
        c->ticket.running = 0; /* the admission is being freed */
        release(c);
        reply_error(c, 503, "Unavailable",
                    "deployment '%s' was deleted or stopped while the request was in "
                    "progress",
                    c->deployment);
        return;
    }
}

/* The client's x-ms-client-request-id, echoed when it is alphanumerics, '-'
 * and '_', at most 40 characters (COMPAT.md); "" otherwise. */
static void client_request_id(h2o_req_t *req, char out[41])
{
    out[0] = '\0';
    h2o_iovec_t v = respond_header(req, "x-ms-client-request-id");
    if (v.len == 0 || v.len > 40)
        return;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.base[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_';
        if (!ok)
            return;
    }
    memcpy(out, v.base, v.len);
    out[v.len] = '\0';
}

static json_int_t setting(const struct deployment *d, const char *key, json_int_t def)
{
    json_t *v = json_object_get(json_object_get(d->spec, "request_settings"), key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

/* Headers that describe this hop, not the request: never forwarded. The
 * endpoint key stays at the gateway: scoring code never sees it. */
static int hop_header(const h2o_iovec_t *name)
{
    static const char *const names[] = {
        "host",    "content-length",   "connection", "keep-alive",    "transfer-encoding", "te",
        "upgrade", "proxy-connection", "expect",     "authorization", "x-request-id"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (h2o_memis(name->base, name->len, names[i], strlen(names[i])))
            return 1;
    return 0;
}

/* The header block sent to the instance: the client's headers (h2o's
 * parser has refused CR/LF in them) minus hop headers, plus our request id.
 * Allocated in the request's pool. */
static char *forwarded_headers(h2o_req_t *req, const char *request_id)
{
    size_t len = strlen("x-request-id: \r\n") + strlen(request_id) + 1;
    for (size_t i = 0; i < req->headers.size; i++)
        len += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    char *out = h2o_mem_alloc_pool(&req->pool, len);
    char *p = out;
#define APPEND(s, n)                                                                               \
    do {                                                                                           \
        memcpy(p, (s), (n));                                                                       \
        p += (n);                                                                                  \
    } while (0)
    APPEND("x-request-id: ", 14);
    APPEND(request_id, strlen(request_id));
    APPEND("\r\n", 2);
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (hop_header(h->name))
            continue;
        APPEND(h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len);
        APPEND(": ", 2);
        APPEND(h->value.base, h->value.len);
        APPEND("\r\n", 2);
    }
#undef APPEND
    *p = '\0';
    return out;
}

/* Routes req to an instance of endpoint `name` and forwards it there as
 * `method upstream_path`. */
static void forward(struct server *srv, h2o_req_t *req, h2o_iovec_t name, const char *method,
                    const char *upstream_path)
{
    struct score_ctx *c = h2o_mem_alloc_pool(&req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->srv = srv;
    c->method = method;
    c->upstream_path = upstream_path;
    c->start_us = inf_now_us();
    inf_uuid4(c->request_id);
    client_request_id(req, c->client_request_id);

    struct endpoint *ep = registry_find(&srv->registry, name.base, name.len);
    if (ep == NULL) {
        /* Not named in metrics: made-up URLs must not create series. */
        reply_error(c, 404, "NotFound", "endpoint '%.*s' not found", (int)name.len, name.base);
        return;
    }
    snprintf(c->endpoint, sizeof(c->endpoint), "%s", ep->name);
    h2o_iovec_t cred = respond_bearer(req);
    struct inf_err auth_err;
    if (auth_check(ep, srv->token_secret, cred.base, cred.len, inf_unix_now(), &auth_err) != 0) {
        reply_error(c, 401, "Unauthorized", "%s", auth_err.msg);
        return;
    }
    struct deployment *d;
    h2o_iovec_t pin = respond_header(req, "azureml-model-deployment");
    if (pin.len > 0) {
        d = endpoint_find(ep, pin.base, pin.len);
        if (d == NULL) {
            reply_error(c, 404, "NotFound",
                        "deployment '%.*s' (from header azureml-model-deployment) not found in "
                        "endpoint '%s'",
                        (int)(pin.len < 64 ? pin.len : 64), pin.base, ep->name);
            return;
        }
    } else {
        d = endpoint_route(ep);
        if (d == NULL) {
            reply_error(c, 404, "NotFound",
                        "No valid deployments to route to. Please check that the endpoint has "
                        "at least one deployment with positive weight values or use a "
                        "deployment specific header to route.");
            return;
        }
    }
    c->d = d;
    snprintf(c->deployment, sizeof(c->deployment), "%s", d->name);
    c->headers = forwarded_headers(req, c->request_id);
    const char *backend = json_string_value(json_object_get(d->spec, "backend"));
    c->in_process = backend != NULL && strcmp(backend, "native") == 0;

    int total = 0, ready = 0;
    if (d->active != NULL)
        instance_set_counts(d->active, &total, &ready);
    if (ready == 0) {
        c->d = NULL;
        respond_unavailable(c, d);
        return;
    }
    if (d->admission == NULL)
        d->admission = admission_new();
    c->capacity = ready * (int)setting(d, "max_concurrent_requests_per_instance", 1);
    enum admit how = admission_enter(d->admission, &c->ticket, c->capacity,
                                     (uint64_t)setting(d, "max_queue_wait_ms", 500),
                                     (uint64_t)setting(d, "request_timeout_ms", 5000), on_ticket);
    if (how == ADMIT_REJECT) {
        c->d = NULL;
        add_header(req, "retry-after", "1");
        reply_error(c, 429, "TooManyRequests",
                    "deployment '%s' is saturated: %d requests running or waiting for a "
                    "capacity of %d (instances x max_concurrent_requests_per_instance); retry "
                    "later",
                    d->name, admission_running(d->admission) + admission_waiting(d->admission),
                    c->capacity);
        return;
    }
    if (pin.len == 0) {
        int percent = 0;
        struct deployment *md = mirror_target(ep, &percent);
        if (md != NULL && md != d) {
            if (ep->mirror == NULL)
                ep->mirror = mirror_new();
            if (mirror_should(ep->mirror, md->name, percent))
                mirror_start(c, ep, md);
        }
    }
    if (how == ADMIT_NOW)
        dispatch(c);
}

void gateway_tick(struct server *srv, uint64_t now_ms)
{
    for (size_t i = 0; i < srv->registry.n; i++) {
        struct endpoint *ep = srv->registry.eps[i];
        for (size_t j = 0; j < ep->ndeps; j++)
            if (ep->deps[j]->admission != NULL)
                admission_tick(ep->deps[j]->admission, now_ms);
    }
}

void gateway_score(struct server *srv, h2o_req_t *req, h2o_iovec_t name)
{
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    if (!get && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        respond_error(req, 405, "MethodNotAllowed",
                      "use POST (or GET with query parameters) to "
                      "score");
        return;
    }
    /* The query string travels with GET: Azure passes it to run() as JSON. */
    const char *path = "/score";
    if (get && req->query_at != SIZE_MAX)
        path = h2o_concat(
                   &req->pool, h2o_iovec_init(H2O_STRLIT("/score")),
                   h2o_iovec_init(req->path.base + req->query_at, req->path.len - req->query_at))
                   .base;
    forward(srv, req, name, get ? "GET" : "POST", path);
}

void gateway_swagger(struct server *srv, h2o_req_t *req, h2o_iovec_t name)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        respond_error(req, 405, "MethodNotAllowed", "use GET for swagger.json");
        return;
    }
    const char *path = "/swagger.json";
    if (req->query_at != SIZE_MAX)
        path = h2o_concat(
                   &req->pool, h2o_iovec_init(H2O_STRLIT("/swagger.json")),
                   h2o_iovec_init(req->path.base + req->query_at, req->path.len - req->query_at))
                   .base;
    forward(srv, req, name, "GET", path);
}
