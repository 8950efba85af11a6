/*
 * auth: data-plane credentials. An endpoint in `key` mode accepts its
 * primary or secondary key; one in `aml_token` mode accepts only tokens
 * issued for it: HS256 JWTs signed with the server's secret, carrying the
 * endpoint name and an expiry. The two modes are exclusive, as upstream.
 * Pure functions over their inputs (the secret is passed in); any thread.
 */
#ifndef INF_GATEWAY_AUTH_H
#define INF_GATEWAY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct endpoint;

#define AUTH_SECRET_HEX_LEN 64

/* 1 if ep's auth_mode is aml_token (tokens only), 0 for key mode. */
int auth_is_token_mode(const struct endpoint *ep);

/* Checks `cred` (the Bearer value) for ep at time now. 0, or INF_EAUTH with
 * a message that says what is wrong (missing, wrong key, expired token,
 * token for another endpoint, a key sent to a token endpoint...). */
int auth_check(const struct endpoint *ep, const char *secret, const char *cred, size_t cred_len,
               int64_t now, struct inf_err *err);

/* A batch endpoint's tokens carry the audience "batch:<name>", so a token
 * of an online endpoint with the same name is not accepted for it. */
#define AUTH_BATCH_AUDIENCE_PREFIX "batch:"

/* Checks a token (the Bearer value) issued for batch endpoint `name` (by
 * auth_issue_token with name "batch:<name>"). 0, or INF_EAUTH with a
 * message saying what is wrong. */
int auth_check_batch_token(const char *name, const char *secret, const char *cred, size_t cred_len,
                           int64_t now, struct inf_err *err);

/* Issues a token for endpoint `name` valid for ttl_s seconds from now:
 * *token is a heap string (caller frees); *expires_at and *refresh_after are
 * unix seconds (refresh after half the lifetime). */
int auth_issue_token(const char *secret, const char *name, int64_t now, int64_t ttl_s, char **token,
                     int64_t *expires_at, int64_t *refresh_after, struct inf_err *err);

#endif
