/*
 * auth: data-plane credentials (see auth.h). Keys are compared in constant
 * time, both of them on every request. Tokens are HS256 JWTs (libjwt) whose
 * HMAC key is the server secret as its 64 hex characters, with the claims
 * iss "inferd", aud (the endpoint), iat, exp and a random jti.
 *
 * Verification reads the token's header itself before libjwt sees the
 * token, so only HS256 ever reaches signature checking: "none" and every
 * other algorithm are refused by name. No state; any thread.
 */
#include "gateway/auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

#include "control/registry.h"
#include "core/util.h"

#define TOKEN_ISSUER "inferd"
#define TOKEN_ALG "HS256"
#define JTI_BYTES 16
#define MAX_CRED_BYTES 4096 /* tokens we issue are about 300 bytes */
#define MAX_HEADER_B64 256  /* base64url characters of a token's header */
#define GET_TOKEN_HINT "get one with `inferd %s get-credentials -n %s`"

int auth_is_token_mode(const struct endpoint *ep)
{
    const char *mode = json_string_value(json_object_get(ep->spec, "auth_mode"));
    return mode != NULL && strcmp(mode, "aml_token") == 0;
}

static int hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int secret_valid(const char *secret)
{
    if (secret == NULL || strlen(secret) != AUTH_SECRET_HEX_LEN)
        return 0;
    for (size_t i = 0; i < AUTH_SECRET_HEX_LEN; i++)
        if (!hex_digit(secret[i]))
            return 0;
    return 1;
}

/* A JWT is three dot-separated parts; keys are hex and never hold a dot. */
static int looks_like_token(const char *cred, size_t len)
{
    return memchr(cred, '.', len) != NULL;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes unpadded base64url in[0..len) into out (room for len * 3 / 4
 * bytes). Returns the byte count, or -1 for a character outside the
 * alphabet or an impossible length. */
static long b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

/* Refuses a token whose header does not say HS256, naming what it says. */
static int check_header(const char *tok, size_t len, struct inf_err *err)
{
    const char *dot = memchr(tok, '.', len); /* present: looks_like_token() said so */
    size_t hlen = (size_t)(dot - tok);
    unsigned char raw[MAX_HEADER_B64];
    long n = hlen <= MAX_HEADER_B64 ? b64url_decode(tok, hlen, raw) : -1;
    json_t *head = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
    const char *alg = json_string_value(json_object_get(head, "alg"));
    int rc = 0;
    if (alg == NULL)
        rc = inf_err_set(err, INF_EAUTH,
                         "malformed token: its header is not base64url JSON "
                         "with an \"alg\"");
    else if (strcmp(alg, TOKEN_ALG) != 0)
        rc = inf_err_set(err, INF_EAUTH,
                         "token algorithm '%.20s' is not accepted: inferd tokens are " TOKEN_ALG,
                         alg);
    json_decref(head);
    return rc;
}

/* Who a token is checked for: the audience claim it must carry, and the
 * endpoint's kind and name for messages. */
struct audience {
    const char *aud;  /* "ep" (online) or "batch:ep" */
    const char *kind; /* "online-endpoint" or "batch-endpoint" */
    const char *name;
};

/* Checks the verified token's claims against the audience and the clock. */
static int check_claims(const struct audience *who, jwt_t *jwt, int64_t now, struct inf_err *err)
{
    char *text = jwt_get_grants_json(jwt, NULL);
    json_t *claims = text != NULL ? json_loads(text, 0, NULL) : NULL;
    free(text);
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    json_t *exp = json_object_get(claims, "exp");
    int rc = 0;
    if (iss == NULL || strcmp(iss, TOKEN_ISSUER) != 0) {
        rc = inf_err_set(err, INF_EAUTH,
                         "token was not issued by inferd (iss '%.40s'); " GET_TOKEN_HINT,
                         iss != NULL ? iss : "", who->kind, who->name);
    } else if (aud == NULL || strcmp(aud, who->aud) != 0) {
        rc = inf_err_set(err, INF_EAUTH,
                         "token was issued for endpoint '%.64s', not '%s'; " GET_TOKEN_HINT,
                         aud != NULL ? aud : "", who->aud, who->kind, who->name);
    } else if (!json_is_integer(exp)) {
        rc = inf_err_set(err, INF_EAUTH, "malformed token: claim exp is not an integer");
    } else if (json_integer_value(exp) <= now) {
        char when[32];
        inf_utc_iso8601(when, sizeof(when), json_integer_value(exp));
        rc = inf_err_set(err, INF_EAUTH,
                         "token expired at %s; get a new one with `inferd %s get-credentials "
                         "-n %s`",
                         when, who->kind, who->name);
    }
    json_decref(claims);
    return rc;
}

static int check_token(const struct audience *who, const char *secret, const char *cred, size_t len,
                       int64_t now, struct inf_err *err)
{
    if (len > MAX_CRED_BYTES)
        return inf_err_set(err, INF_EAUTH, "malformed token: %zu bytes, more than %d", len,
                           MAX_CRED_BYTES);
    if (memchr(cred, '\0', len) != NULL)
        return inf_err_set(err, INF_EAUTH, "malformed token: it contains a NUL byte");
    if (!secret_valid(secret))
        return inf_err_set(err, INF_EINTERNAL, "the server's token secret is not set up");
    int rc = check_header(cred, len, err);
    if (rc != 0)
        return rc;
    char *tok = inf_strndup(cred, len);
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, tok, (const unsigned char *)secret, AUTH_SECRET_HEX_LEN) != 0)
        rc = inf_err_set(err, INF_EAUTH,
                         "invalid token: bad signature or malformed; " GET_TOKEN_HINT, who->kind,
                         who->name);
    else if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        rc = inf_err_set(err, INF_EAUTH, "token algorithm is not " TOKEN_ALG);
    else
        rc = check_claims(who, jwt, now, err);
    jwt_free(jwt);
    free(tok);
    return rc;
}

static int check_key(const struct endpoint *ep, const char *cred, size_t len, struct inf_err *err)
{
    /* Both comparisons always run, so timing does not tell which key matched. */
    int a = inf_const_eq(cred, len, ep->primary_key, strlen(ep->primary_key));
    int b = inf_const_eq(cred, len, ep->secondary_key, strlen(ep->secondary_key));
    if (a | b)
        return 0;
    return inf_err_set(err, INF_EAUTH,
                       "wrong key for endpoint '%s': send its primary or secondary key (`inferd "
                       "online-endpoint get-credentials -n %s`)",
                       ep->name, ep->name);
}

int auth_check(const struct endpoint *ep, const char *secret, const char *cred, size_t cred_len,
               int64_t now, struct inf_err *err)
{
    int token_mode = auth_is_token_mode(ep);
    if (cred == NULL || cred_len == 0)
        return inf_err_set(err, INF_EAUTH,
                           "missing credential: endpoint '%s' uses %s auth: send "
                           "'Authorization: Bearer <%s>' (`inferd online-endpoint "
                           "get-credentials -n %s`)",
                           ep->name, token_mode ? "aml_token" : "key", token_mode ? "token" : "key",
                           ep->name);
    int token = looks_like_token(cred, cred_len);
    if (token_mode && !token)
        return inf_err_set(err, INF_EAUTH,
                           "endpoint '%s' uses aml_token auth: keys are not accepted, send a "
                           "token; " GET_TOKEN_HINT,
                           ep->name, "online-endpoint", ep->name);
    if (!token_mode && token)
        return inf_err_set(err, INF_EAUTH,
                           "endpoint '%s' uses key auth: tokens are not accepted, send its "
                           "primary or secondary key (`inferd online-endpoint get-credentials "
                           "-n %s`)",
                           ep->name, ep->name);
    if (token_mode) {
        struct audience who = {ep->name, "online-endpoint", ep->name};
        return check_token(&who, secret, cred, cred_len, now, err);
    }
    return check_key(ep, cred, cred_len, err);
}

int auth_check_batch_token(const char *name, const char *secret, const char *cred, size_t cred_len,
                           int64_t now, struct inf_err *err)
{
    if (cred == NULL || cred_len == 0 || !looks_like_token(cred, cred_len))
        return inf_err_set(err, INF_EAUTH,
                           "missing or malformed credential: send 'Authorization: Bearer <token>' "
                           "with the admin token or a token of batch endpoint '%s' (`inferd "
                           "batch-endpoint get-credentials -n %s`)",
                           name, name);
    char aud[80];
    snprintf(aud, sizeof(aud), "%s%s", AUTH_BATCH_AUDIENCE_PREFIX, name);
    struct audience who = {aud, "batch-endpoint", name};
    return check_token(&who, secret, cred, cred_len, now, err);
}

int auth_issue_token(const char *secret, const char *name, int64_t now, int64_t ttl_s, char **token,
                     int64_t *expires_at, int64_t *refresh_after, struct inf_err *err)
{
    *token = NULL;
    if (!secret_valid(secret))
        return inf_err_set(err, INF_EINTERNAL,
                           "cannot issue a token for endpoint '%s': the server's token secret is "
                           "not set up",
                           name != NULL ? name : "?");
    if (name == NULL || *name == '\0')
        return inf_err_set(err, INF_EINVAL, "cannot issue a token: no endpoint name");
    if (ttl_s <= 0)
        return inf_err_set(err, INF_EINVAL,
                           "cannot issue a token for endpoint '%s': lifetime %lld s is not "
                           "positive",
                           name, (long long)ttl_s);
    char jti[2 * JTI_BYTES + 1];
    inf_random_hex(jti, JTI_BYTES);
    jwt_t *jwt = NULL;
    int e = jwt_new(&jwt);
    if (e == 0)
        e = jwt_add_grant(jwt, "iss", TOKEN_ISSUER);
    if (e == 0)
        e = jwt_add_grant(jwt, "aud", name);
    if (e == 0)
        e = jwt_add_grant_int(jwt, "iat", (long)now);
    if (e == 0)
        e = jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s));
    if (e == 0)
        e = jwt_add_grant(jwt, "jti", jti);
    if (e == 0)
        e = jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, AUTH_SECRET_HEX_LEN);
    char *text = e == 0 ? jwt_encode_str(jwt) : NULL;
    if (text == NULL && e == 0)
        e = errno != 0 ? errno : ENOMEM;
    jwt_free(jwt);
    if (text == NULL)
        return inf_err_set(err, INF_EINTERNAL, "cannot issue a token for endpoint '%s': libjwt: %s",
                           name, inf_strerror(e));
    *token = inf_strdup(text);
    free(text);
    *expires_at = now + ttl_s;
    *refresh_after = now + ttl_s / 2;
    return 0;
}
