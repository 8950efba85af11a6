/*
 * score: the data plane, POST /endpoints/{name}/score. Event-loop thread.
 *
 * A request's path through here: find the endpoint, check the key in
 * constant time, choose the deployment (the azureml-model-deployment pin,
 * else the traffic split), choose its ready instance with the fewest
 * requests in flight, forward the body over that instance's keep-alive
 * Unix-socket pool, and relay the answer with the headers that say who
 * served it. The request's context lives in its h2o memory pool.
 */
#include "gateway/score.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/registry.h"
#include "core/log.h"
#include "core/util.h"
#include "http/respond.h"
#include "http/upstream.h"
#include "server/server.h"
#include "supervisor/instance.h"

#define MAX_RESPONSE_BYTES (256u << 20)

struct score_ctx {
    h2o_req_t *req;
    struct server *srv;
    struct instance *inst;
    struct instance_pool *conn;
    int inst_index;
    char deployment[40];
    char request_id[37];
    uint64_t start_us;
};

/* snprintf that returns the number of bytes written (never more than room - 1). */
static size_t sprintf_safe(char *dst, size_t room, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static size_t sprintf_safe(char *dst, size_t room, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return 0;
    return (size_t)n < room ? (size_t)n : room - 1;
}

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL,
                          h2o_strdup(&req->pool, value, SIZE_MAX).base, strlen(value));
}

static int key_ok(const struct endpoint *ep, h2o_iovec_t cred)
{
    /* Both comparisons always run, so timing does not tell which key matched. */
    int a = inf_const_eq(cred.base, cred.len, ep->primary_key, strlen(ep->primary_key));
    int b = inf_const_eq(cred.base, cred.len, ep->secondary_key, strlen(ep->secondary_key));
    return (a | b) && cred.len > 0;
}

static void on_upstream(const struct upstream_result *res, void *data)
{
    struct score_ctx *c = data;
    h2o_req_t *req = c->req;
    struct server *srv = c->srv;
    instance_release(c->inst, c->conn);
    srv->in_flight--;
    add_header(req, "azureml-model-deployment", c->deployment);
    add_header(req, "x-request-id", c->request_id);
    if (res->error != NULL) {
        inf_warn("score.upstream_failed", "req_id=%s deployment=%s instance=%d error=\"%s\"",
                 c->request_id, c->deployment, c->inst_index, res->error);
        respond_error(req, 502, "BadGateway",
                      "instance %d of deployment '%s' failed while handling the request (%s); "
                      "it is restarted automatically, retry the request",
                      c->inst_index, c->deployment, res->error);
        return;
    }
    if (res->exec_ms[0] != '\0')
        add_header(req, "x-ms-run-fn-exec-ms", res->exec_ms);
    req->res.status = res->status;
    req->res.reason = respond_reason(res->status);
    const char *ct = res->content_type[0] != '\0' ? res->content_type : "application/json";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   h2o_strdup(&req->pool, ct, SIZE_MAX).base, strlen(ct));
    inf_debug("score.done", "req_id=%s deployment=%s status=%d us=%llu", c->request_id,
              c->deployment, res->status, (unsigned long long)(inf_now_us() - c->start_us));
    req->res.content_length = res->body.len; /* else h2o answers chunked */
    h2o_send_inline(req, res->body.data != NULL ? res->body.data : "", res->body.len);
}

/* Headers that describe this hop, not the request: never forwarded. The
 * endpoint key stays at the gateway: scoring code never sees it. */
static int hop_header(const h2o_iovec_t *name)
{
    static const char *const names[] = {"host",    "content-length",    "connection",
                                        "keep-alive", "transfer-encoding", "te",
                                        "upgrade", "proxy-connection",  "expect",
                                        "authorization", "x-request-id"};
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
    char *p = out + sprintf_safe(out, len, "x-request-id: %s\r\n", request_id);
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (hop_header(h->name))
            continue;
        const char *orig = h->orig_name != NULL ? h->orig_name : h->name->base;
        p += sprintf_safe(p, len - (size_t)(p - out), "%.*s: %.*s\r\n", (int)h->name->len, orig,
                          (int)h->value.len, h->value.base);
    }
    return out;
}

/* Routes req to an instance of endpoint `name` and forwards it there as
 * `method upstream_path`. */
static void forward(struct server *srv, h2o_req_t *req, h2o_iovec_t name, const char *method,
                    const char *upstream_path)
{
    struct endpoint *ep = registry_find(&srv->registry, name.base, name.len);
    if (ep == NULL) {
        respond_error(req, 404, "NotFound", "endpoint '%.*s' not found", (int)name.len, name.base);
        return;
    }
    if (!key_ok(ep, respond_bearer(req))) {
        respond_error(req, 401, "Unauthorized",
                      "missing or wrong key: send 'Authorization: Bearer <key>' with the "
                      "endpoint's primary or secondary key");
        return;
    }
    struct deployment *d;
    h2o_iovec_t pin = respond_header(req, "azureml-model-deployment");
    if (pin.len > 0) {
        d = endpoint_find(ep, pin.base, pin.len);
        if (d == NULL) {
            respond_error(req, 404, "NotFound",
                          "deployment '%.*s' (from header azureml-model-deployment) not found "
                          "in endpoint '%s'",
                          (int)(pin.len < 64 ? pin.len : 64), pin.base, ep->name);
            return;
        }
    } else {
        d = endpoint_route(ep);
        if (d == NULL) {
            respond_error(req, 404, "NotFound",
                          "No valid deployments to route to. Please check that the endpoint "
                          "has at least one deployment with positive weight values or use a "
                          "deployment specific header to route.");
            return;
        }
    }
    struct instance *inst = d->active != NULL ? instance_set_pick(d->active) : NULL;
    if (inst == NULL) {
        respond_error(req, 503, "Unavailable",
                      "deployment '%s' has no ready instance (provisioning state %s); retry "
                      "shortly or check `inferd online-deployment show`",
                      d->name, d->state);
        return;
    }

    struct score_ctx *c = h2o_mem_alloc_pool(&req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->srv = srv;
    c->inst = inst;
    c->inst_index = inst->index;
    c->start_us = inf_now_us();
    snprintf(c->deployment, sizeof(c->deployment), "%s", d->name);
    inf_uuid4(c->request_id);
    c->conn = instance_acquire(inst);
    srv->in_flight++;

    char *headers = forwarded_headers(req, c->request_id);
    upstream_start(&srv->client_ctx, &c->conn->pool, method, upstream_path, headers, req->entity,
                   MAX_RESPONSE_BYTES, on_upstream, c);
}

void gateway_score(struct server *srv, h2o_req_t *req, h2o_iovec_t name)
{
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    if (!get && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        respond_error(req, 405, "MethodNotAllowed", "use POST (or GET with query parameters) to "
                                                    "score");
        return;
    }
    /* The query string travels with GET: Azure passes it to run() as JSON. */
    const char *path = "/score";
    if (get && req->query_at != SIZE_MAX)
        path = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/score")),
                          h2o_iovec_init(req->path.base + req->query_at,
                                         req->path.len - req->query_at))
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
        path = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/swagger.json")),
                          h2o_iovec_init(req->path.base + req->query_at,
                                         req->path.len - req->query_at))
                   .base;
    forward(srv, req, name, "GET", path);
}
