/*
 * score: the data plane. POST /endpoints/{name}/score: checks the key,
 * picks the deployment (pin header or traffic split) and its least-busy
 * ready instance, and proxies the request to it over a keep-alive Unix
 * socket. Event-loop thread only.
 */
#ifndef INF_GATEWAY_SCORE_H
#define INF_GATEWAY_SCORE_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdint.h>

struct server;

/* Handles a request for endpoint `name` whose path ended in /score. */
void gateway_score(struct server *srv, h2o_req_t *req, h2o_iovec_t name);

/* GET /endpoints/{name}/swagger.json[?version=2|3]: the Swagger document of
 * the deployment that would serve a scoring request (traffic split or pin),
 * from one of its instances. Same key as scoring. */
void gateway_swagger(struct server *srv, h2o_req_t *req, h2o_iovec_t name);

/* Expires queued requests (429) and requests past request_timeout_ms (408).
 * Called by the server loop at least every 50 ms. */
void gateway_tick(struct server *srv, uint64_t now_ms);

#endif
