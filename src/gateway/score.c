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

void gateway_score(struct server *srv, h2o_req_t *req, h2o_iovec_t name)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        respond_error(req, 405, "MethodNotAllowed", "use POST to score");
        return;
    }
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

    char headers[512];
    int hlen = snprintf(headers, sizeof(headers), "x-request-id: %s\r\n", c->request_id);
    ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (ct >= 0) {
        h2o_iovec_t v = req->headers.entries[ct].value;
        /* h2o's parser has already refused CR/LF inside header values. */
        if (v.len <= 200)
            snprintf(headers + hlen, sizeof(headers) - (size_t)hlen, "Content-Type: %.*s\r\n",
                     (int)v.len, v.base);
    }
    upstream_start(&srv->client_ctx, &c->conn->pool, "POST", "/score", headers, req->entity,
                   MAX_RESPONSE_BYTES, on_upstream, c);
}
