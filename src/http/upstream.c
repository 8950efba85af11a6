/*
 * upstream: buffered HTTP/1.1 calls to instances through h2o's http1client.
 * Event-loop thread only. Lifecycle of a call: upstream_start allocates it,
 * h2o drives connect → head → body, and the first callback that carries an
 * error string (end of stream included) is the last one: we report, then
 * free the call; h2o closes or pools the connection itself.
 */
#include "http/upstream.h"

#include <stdlib.h>
#include <string.h>

struct upstream_call {
    struct upstream_ctx *ctx;
    h2o_http1client_t *client;
    int starting;                 /* inside upstream_start() */
    h2o_timeout_entry_t deferred; /* reports a failure found while starting */
    char *head;
    h2o_iovec_t bufs[2];
    upstream_cb cb;
    void *data;
    struct upstream_result res;
};

static void finish(struct upstream_call *call, const char *error)
{
    call->client = NULL;
    call->res.error = error;
    if (error != NULL)
        call->res.status = 0;
    if (call->starting) {
        /* h2o reports a refused connection before connect returns: the
         * caller has not even stored the call yet. Report it later. */
        h2o_timeout_link(call->ctx->client.loop, &call->ctx->zero, &call->deferred);
        return;
    }
    call->cb(&call->res, call->data);
    inf_buf_fini(&call->res.body);
    free(call->head);
    free(call);
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    struct upstream_call *call = client->data;
    h2o_buffer_t *in = client->sock != NULL ? client->sock->input : NULL;
    if (in != NULL && in->size > 0) {
        if (inf_buf_append(&call->res.body, in->bytes, in->size) != 0) {
            finish(call, "instance response larger than the limit");
            return -1;
        }
        h2o_buffer_consume(&client->sock->input, in->size);
    }
    if (errstr == h2o_http1client_error_is_eos) {
        finish(call, NULL);
    } else if (errstr != NULL) {
        finish(call, errstr);
    }
    return 0;
}

static void copy_header(char *dst, size_t dst_len, h2o_iovec_t v)
{
    size_t n = v.len < dst_len - 1 ? v.len : dst_len - 1;
    memcpy(dst, v.base, n);
    dst[n] = '\0';
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr,
                                       int minor_version, int status, h2o_iovec_t msg,
                                       h2o_header_t *headers, size_t num_headers, int rlen)
{
    (void)minor_version;
    (void)rlen;
    struct upstream_call *call = client->data;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        finish(call, errstr);
        return NULL;
    }
    call->res.status = status;
    copy_header(call->res.reason, sizeof(call->res.reason), msg);
    for (size_t i = 0; i != num_headers; i++) {
        const h2o_iovec_t *name = headers[i].name;
        if (h2o_memis(name->base, name->len, H2O_STRLIT("content-type")))
            copy_header(call->res.content_type, sizeof(call->res.content_type), headers[i].value);
        else if (h2o_memis(name->base, name->len, H2O_STRLIT("x-ms-run-fn-exec-ms")))
            copy_header(call->res.exec_ms, sizeof(call->res.exec_ms), headers[i].value);
    }
    if (errstr == h2o_http1client_error_is_eos) {
        finish(call, NULL);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr,
                                          h2o_iovec_t **reqbufs, size_t *reqbufcnt,
                                          int *method_is_head)
{
    struct upstream_call *call = client->data;
    if (errstr != NULL) {
        finish(call, errstr);
        return NULL;
    }
    *reqbufs = call->bufs;
    *reqbufcnt = call->bufs[1].len > 0 ? 2 : 1;
    *method_is_head = 0;
    return on_head;
}

static void on_deferred(h2o_timeout_entry_t *entry)
{
    struct upstream_call *call = H2O_STRUCT_FROM_MEMBER(struct upstream_call, deferred, entry);
    finish(call, call->res.error);
}

void upstream_ctx_init(struct upstream_ctx *ctx, h2o_loop_t *loop, uint64_t io_timeout_ms)
{
    memset(ctx, 0, sizeof(*ctx));
    h2o_timeout_init(loop, &ctx->io_timeout, io_timeout_ms);
    h2o_timeout_init(loop, &ctx->zero, 0);
    ctx->client.loop = loop;
    ctx->client.io_timeout = &ctx->io_timeout;
}

void upstream_ctx_dispose(struct upstream_ctx *ctx)
{
    h2o_timeout_dispose(ctx->client.loop, &ctx->io_timeout);
    h2o_timeout_dispose(ctx->client.loop, &ctx->zero);
}

struct upstream_call *upstream_start(struct upstream_ctx *ctx, h2o_socketpool_t *pool,
                                     const char *method, const char *path, const char *headers,
                                     h2o_iovec_t body, size_t max_body_bytes, upstream_cb cb,
                                     void *data)
{
    struct upstream_call *call = inf_calloc(1, sizeof(*call));
    call->ctx = ctx;
    call->deferred.cb = on_deferred;
    call->cb = cb;
    call->data = data;
    inf_buf_init(&call->res.body, max_body_bytes);
    call->head = inf_asprintf("%s %s HTTP/1.1\r\nHost: instance\r\nContent-Length: %zu\r\n%s\r\n",
                              method, path, body.len, headers != NULL ? headers : "");
    call->bufs[0] = h2o_iovec_init(call->head, strlen(call->head));
    call->bufs[1] = body;
    call->starting = 1;
    h2o_http1client_connect_with_pool(&call->client, call, &ctx->client, pool, on_connect);
    call->starting = 0;
    return call;
}

void upstream_cancel(struct upstream_call *call)
{
    if (h2o_timeout_is_linked(&call->deferred))
        h2o_timeout_unlink(&call->deferred);
    if (call->client != NULL)
        h2o_http1client_cancel(call->client);
    inf_buf_fini(&call->res.body);
    free(call->head);
    free(call);
}
