/*
 * tokens: POST /api/v1/online-endpoints/{name}/token. Issues a token signed
 * with the server's secret (gateway/auth.c) for an aml_token endpoint and
 * answers at once: nothing is stored, so it is pure event-loop work.
 * Expiry times are ISO 8601 UTC, like every other time in the API.
 */
#include "control/tokens.h"

#include <stdlib.h>

#include "control/registry.h"
#include "core/log.h"
#include "core/util.h"
#include "gateway/auth.h"
#include "http/respond.h"
#include "server/server.h"

void tokens_handle(struct server *srv, h2o_req_t *req, struct endpoint *ep)
{
    if (!auth_is_token_mode(ep)) {
        respond_error(req, 400, "BadRequest",
                      "endpoint '%s' uses key auth and has no tokens: get its keys with "
                      "`inferd online-endpoint get-credentials -n %s`",
                      ep->name, ep->name);
        return;
    }
    char *token = NULL;
    int64_t expires_at = 0, refresh_after = 0;
    struct inf_err err;
    if (auth_issue_token(srv->token_secret, ep->name, inf_unix_now(), srv->token_ttl_s, &token,
                         &expires_at, &refresh_after, &err) != 0) {
        inf_error("endpoint.token_failed", "endpoint=%s error=\"%s\"", ep->name, err.msg);
        respond_err(req, &err);
        return;
    }
    char expiry[32], refresh[32];
    inf_utc_iso8601(expiry, sizeof(expiry), expires_at);
    inf_utc_iso8601(refresh, sizeof(refresh), refresh_after);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "accessToken", token, "expiryTimeUtc", expiry,
                          "refreshAfterTimeUtc", refresh, "tokenType", "Bearer");
    respond_json(req, 200, o);
    json_decref(o);
    free(token);
    inf_info("endpoint.token_issued", "endpoint=%s expires=%s", ep->name, expiry);
}
