/*
 * tokens: the management route that issues scoring tokens for endpoints in
 * `aml_token` auth mode, POST /api/v1/online-endpoints/{name}/token.
 * Event-loop thread only.
 */
#ifndef INF_CONTROL_TOKENS_H
#define INF_CONTROL_TOKENS_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

struct server;
struct endpoint;

/* Answers req (the admin token is already checked): for an aml_token
 * endpoint 200 {"accessToken", "expiryTimeUtc", "refreshAfterTimeUtc",
 * "tokenType": "Bearer"}, a token valid for srv->token_ttl_s seconds; for a
 * key endpoint 400 saying it uses keys. Touches no store: tokens are signed
 * with srv->token_secret and never recorded. */
void tokens_handle(struct server *srv, h2o_req_t *req, struct endpoint *ep);

#endif
