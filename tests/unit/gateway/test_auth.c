#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

#include "control/registry.h"
#include "core/util.h"
#include "gateway/auth.h"

static const char SECRET[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char OTHER_SECRET[] =
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
static const char PRIMARY[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char SECONDARY[] = "2222222222222222222222222222222222222222222222222222222222222222";

#define NOW ((int64_t)1000000000) /* 2001-09-09T01:46:40Z */
#define TTL 3600

static void ep_init(struct endpoint *ep, const char *name, const char *mode)
{
    memset(ep, 0, sizeof(*ep));
    ep->name = (char *)name;
    ep->spec = json_pack("{s:s,s:s}", "name", name, "auth_mode", mode);
    snprintf(ep->primary_key, sizeof(ep->primary_key), "%s", PRIMARY);
    snprintf(ep->secondary_key, sizeof(ep->secondary_key), "%s", SECONDARY);
}

static void ep_fini(struct endpoint *ep)
{
    json_decref(ep->spec);
}

static char *issue(const char *name, int64_t now)
{
    char *tok = NULL;
    int64_t exp = 0, refresh = 0;
    struct inf_err err;
    assert_int_equal(auth_issue_token(SECRET, name, now, TTL, &tok, &exp, &refresh, &err), 0);
    assert_non_null(tok);
    return tok;
}

/* Runs auth_check on a NUL-terminated credential; returns the code. */
static int check(const struct endpoint *ep, const char *cred, int64_t now, struct inf_err *err)
{
    inf_err_clear(err);
    return auth_check(ep, SECRET, cred, strlen(cred), now, err);
}

static void assert_refused(const struct endpoint *ep, const char *cred, int64_t now,
                           const char *needle)
{
    struct inf_err err;
    assert_int_equal(check(ep, cred, now, &err), INF_EAUTH);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static char *b64url(const char *s)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t len = strlen(s);
    char *out = inf_malloc(len * 4 / 3 + 4);
    size_t n = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)s[i + 2];
        out[n++] = abc[(v >> 18) & 63];
        out[n++] = abc[(v >> 12) & 63];
        if (i + 1 < len)
            out[n++] = abc[(v >> 6) & 63];
        if (i + 2 < len)
            out[n++] = abc[v & 63];
    }
    out[n] = '\0';
    return out;
}

/* A token signed by libjwt with the given algorithm, key and claims (JSON). */
static char *forge(jwt_alg_t alg, const char *key, const char *claims_json)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, claims_json), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    char *text = jwt_encode_str(jwt);
    assert_non_null(text);
    jwt_free(jwt);
    return text;
}

static char *good_claims(const char *aud, int64_t exp)
{
    return inf_asprintf("{\"iss\":\"inferd\",\"aud\":\"%s\",\"iat\":%lld,\"exp\":%lld,"
                        "\"jti\":\"abc\"}",
                        aud, (long long)NOW, (long long)exp);
}

static void round_trip(void **state)
{
    (void)state;
    struct endpoint ep;
    ep_init(&ep, "ep-a", "aml_token");
    char *tok = NULL;
    int64_t exp = 0, refresh = 0;
    struct inf_err err;
    assert_int_equal(auth_issue_token(SECRET, "ep-a", NOW, TTL, &tok, &exp, &refresh, &err), 0);
    assert_int_equal(exp, NOW + TTL);
    assert_int_equal(refresh, NOW + TTL / 2);
    assert_int_equal(strncmp(tok, "eyJ", 3), 0);
    assert_int_equal(check(&ep, tok, NOW, &err), 0);
    assert_int_equal(check(&ep, tok, NOW + TTL - 1, &err), 0);

    /* Each token is unique (random jti), and both work. */
    char *tok2 = issue("ep-a", NOW);
    assert_string_not_equal(tok, tok2);
    assert_int_equal(check(&ep, tok2, NOW, &err), 0);

    /* The claims are the documented ones. */
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)SECRET, 64), 0);
    assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
    assert_string_equal(jwt_get_grant(jwt, "iss"), "inferd");
    assert_string_equal(jwt_get_grant(jwt, "aud"), "ep-a");
    assert_int_equal(jwt_get_grant_int(jwt, "iat"), NOW);
    assert_int_equal(jwt_get_grant_int(jwt, "exp"), NOW + TTL);
    assert_int_equal(strlen(jwt_get_grant(jwt, "jti")), 32);
    jwt_free(jwt);
    free(tok);
    free(tok2);
    ep_fini(&ep);
}

static void expiry(void **state)
{
    (void)state;
    struct endpoint ep;
    ep_init(&ep, "ep-a", "aml_token");
    char *tok = issue("ep-a", NOW);
    assert_refused(&ep, tok, NOW + TTL, "token expired at 2001-09-09T02:46:40Z");
    assert_refused(&ep, tok, NOW + TTL, "get-credentials");
    assert_refused(&ep, tok, NOW + 10 * TTL, "expired");
    free(tok);

    char *claims = inf_asprintf("{\"iss\":\"inferd\",\"aud\":\"ep-a\",\"exp\":\"%lld\"}",
                                (long long)NOW + TTL);
    tok = forge(JWT_ALG_HS256, SECRET, claims);
    assert_refused(&ep, tok, NOW, "exp is not an integer");
    free(tok);
    free(claims);
    tok = forge(JWT_ALG_HS256, SECRET, "{\"iss\":\"inferd\",\"aud\":\"ep-a\"}");
    assert_refused(&ep, tok, NOW, "exp is not an integer");
    free(tok);
    ep_fini(&ep);
}

static void other_endpoint(void **state)
{
    (void)state;
    struct endpoint a, b;
    ep_init(&a, "ep-a", "aml_token");
    ep_init(&b, "ep-b", "aml_token");
    char *tok = issue("ep-b", NOW);
    assert_refused(&a, tok, NOW, "issued for endpoint 'ep-b', not 'ep-a'");
    struct inf_err err;
    assert_int_equal(check(&b, tok, NOW, &err), 0);
    free(tok);

    /* A prefix of the name is another name. */
    tok = issue("ep-a-long", NOW);
    assert_refused(&a, tok, NOW, "not 'ep-a'");
    free(tok);

    /* Signed with our secret but not issued by inferd. */
    char *claims = good_claims("ep-a", NOW + TTL);
    char *p = strstr(claims, "inferd");
    memcpy(p, "infers", 6);
    tok = forge(JWT_ALG_HS256, SECRET, claims);
    assert_refused(&a, tok, NOW, "not issued by inferd");
    free(tok);
    free(claims);
    ep_fini(&a);
    ep_fini(&b);
}

static void tampered(void **state)
{
    (void)state;
    struct endpoint a;
    ep_init(&a, "ep-a", "aml_token");
    char *tok = issue("ep-a", NOW);

    /* One character of the signature changed. */
    char *bad = inf_strdup(tok);
    size_t len = strlen(bad);
    bad[len - 2] = bad[len - 2] == 'A' ? 'B' : 'A';
    assert_refused(&a, bad, NOW, "bad signature");
    free(bad);

    /* The signature dropped. */
    bad = inf_strdup(tok);
    *(strrchr(bad, '.') + 1) = '\0';
    assert_refused(&a, bad, NOW, "invalid token");
    free(bad);

    /* A payload with a later expiry under the old signature. */
    char *claims = good_claims("ep-a", NOW + 100 * TTL);
    char *payload = b64url(claims);
    const char *dot1 = strchr(tok, '.');
    const char *dot2 = strrchr(tok, '.');
    bad = inf_asprintf("%.*s.%s%s", (int)(dot1 - tok), tok, payload, dot2);
    assert_refused(&a, bad, NOW, "bad signature");
    free(bad);
    free(payload);

    /* The same claims signed with another secret. */
    bad = forge(JWT_ALG_HS256, OTHER_SECRET, claims);
    assert_refused(&a, bad, NOW, "bad signature");
    free(bad);
    free(claims);

    /* Trailing bytes after a NUL do not slip through. */
    struct inf_err err;
    size_t tlen = strlen(tok);
    char *withnul = inf_malloc(tlen + 5);
    memcpy(withnul, tok, tlen);
    memcpy(withnul + tlen, "\0abc", 4);
    assert_int_equal(auth_check(&a, SECRET, withnul, tlen + 4, NOW, &err), INF_EAUTH);
    assert_non_null(strstr(err.msg, "NUL"));
    /* ... and a token is checked by its length, not its terminator. */
    assert_int_equal(auth_check(&a, SECRET, withnul, tlen, NOW, &err), 0);
    assert_int_equal(auth_check(&a, SECRET, withnul, tlen - 1, NOW, &err), INF_EAUTH);
    free(withnul);
    free(tok);
    ep_fini(&a);
}

static void other_algorithms(void **state)
{
    (void)state;
    struct endpoint a;
    ep_init(&a, "ep-a", "aml_token");
    char *claims = good_claims("ep-a", NOW + TTL);

    /* Hand-built alg "none": a valid header and claims, no signature. */
    char *head = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    char *body = b64url(claims);
    char *tok = inf_asprintf("%s.%s.", head, body);
    assert_refused(&a, tok, NOW, "token algorithm 'none' is not accepted");
    free(tok);
    free(head);
    head = b64url("{\"alg\":\"NONE\"}");
    tok = inf_asprintf("%s.%s.", head, body);
    assert_refused(&a, tok, NOW, "'NONE' is not accepted");
    free(tok);
    free(head);
    head = b64url("{\"typ\":\"JWT\"}");
    tok = inf_asprintf("%s.%s.", head, body);
    assert_refused(&a, tok, NOW, "malformed token");
    free(tok);
    free(head);
    head = b64url("{\"alg\":256}");
    tok = inf_asprintf("%s.%s.sig", head, body);
    assert_refused(&a, tok, NOW, "malformed token");
    free(tok);
    free(head);
    free(body);

    /* Correctly signed with our secret, but by another HMAC. */
    tok = forge(JWT_ALG_HS512, SECRET, claims);
    assert_refused(&a, tok, NOW, "token algorithm 'HS512' is not accepted");
    free(tok);
    tok = forge(JWT_ALG_HS384, SECRET, claims);
    assert_refused(&a, tok, NOW, "'HS384'");
    free(tok);
    free(claims);
    ep_fini(&a);
}

static void garbage(void **state)
{
    (void)state;
    struct endpoint a;
    ep_init(&a, "ep-a", "aml_token");
    static const char *const junk[] = {
        ".",
        "..",
        "...",
        "a.b.c",
        "eyJ.eyJ.",
        "eyJhbGciOiJIUzI1NiJ9..",
        "=.=.=",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "e30.e30.e30",
        "\xff\xfe.\x01.\x02",
        "eyJ hbGc.x.y",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct inf_err err;
        assert_int_equal(check(&a, junk[i], NOW, &err), INF_EAUTH);
        assert_true(strlen(err.msg) > 0);
    }

    /* Huge credentials: refused on length before any decoding. */
    size_t big = 100000;
    char *huge = inf_malloc(big + 1);
    memset(huge, 'A', big);
    huge[big] = '\0';
    huge[10] = '.';
    huge[20] = '.';
    assert_refused(&a, huge, NOW, "malformed token");
    /* A long header within the length cap is refused too. */
    huge[3000] = '\0';
    huge[10] = 'A';
    huge[20] = 'A';
    huge[2000] = '.';
    huge[2500] = '.';
    assert_refused(&a, huge, NOW, "malformed token");
    free(huge);
    ep_fini(&a);
}

static void key_mode(void **state)
{
    (void)state;
    struct endpoint k;
    ep_init(&k, "ep-k", "key");
    struct inf_err err;
    assert_int_equal(check(&k, PRIMARY, NOW, &err), 0);
    assert_int_equal(check(&k, SECONDARY, NOW, &err), 0);
    assert_refused(&k, "wrong", NOW, "wrong key for endpoint 'ep-k'");
    /* A prefix, an extension and a one-character change are all wrong. */
    char buf[80];
    snprintf(buf, sizeof(buf), "%.63s", PRIMARY);
    assert_refused(&k, buf, NOW, "wrong key");
    snprintf(buf, sizeof(buf), "%s1", PRIMARY);
    assert_refused(&k, buf, NOW, "wrong key");
    snprintf(buf, sizeof(buf), "%s", PRIMARY);
    buf[40] = '3';
    assert_refused(&k, buf, NOW, "wrong key");
    /* A token, even a valid one for this endpoint, is refused. */
    char *tok = issue("ep-k", NOW);
    assert_refused(&k, tok, NOW, "endpoint 'ep-k' uses key auth");
    free(tok);
    /* The secret is not needed in key mode. */
    assert_int_equal(auth_check(&k, NULL, PRIMARY, strlen(PRIMARY), NOW, &err), 0);
    assert_false(auth_is_token_mode(&k));
    ep_fini(&k);

    /* An endpoint without auth_mode is in key mode. */
    ep_init(&k, "ep-k", "key");
    json_object_del(k.spec, "auth_mode");
    assert_int_equal(check(&k, SECONDARY, NOW, &err), 0);
    ep_fini(&k);
}

static void token_mode_refuses_keys(void **state)
{
    (void)state;
    struct endpoint t;
    ep_init(&t, "ep-t", "aml_token");
    assert_true(auth_is_token_mode(&t));
    assert_refused(&t, PRIMARY, NOW, "endpoint 'ep-t' uses aml_token auth: keys are not accepted");
    assert_refused(&t, SECONDARY, NOW, "uses aml_token auth");
    assert_refused(&t, "junk", NOW, "get-credentials -n ep-t");
    ep_fini(&t);
}

static void empty_credential(void **state)
{
    (void)state;
    static const char *const modes[] = {"key", "aml_token"};
    for (int i = 0; i < 2; i++) {
        struct endpoint ep;
        ep_init(&ep, "ep-e", modes[i]);
        struct inf_err err;
        assert_int_equal(auth_check(&ep, SECRET, NULL, 0, NOW, &err), INF_EAUTH);
        assert_non_null(strstr(err.msg, "missing credential"));
        assert_non_null(strstr(err.msg, i == 0 ? "<key>" : "<token>"));
        assert_int_equal(auth_check(&ep, SECRET, "", 0, NOW, &err), INF_EAUTH);
        /* A length of zero wins over the bytes behind the pointer. */
        assert_int_equal(auth_check(&ep, SECRET, PRIMARY, 0, NOW, &err), INF_EAUTH);
        ep_fini(&ep);
    }
}

static void bad_secret_and_arguments(void **state)
{
    (void)state;
    char *tok = NULL;
    int64_t exp, refresh;
    struct inf_err err;
    assert_int_equal(auth_issue_token(NULL, "ep", NOW, TTL, &tok, &exp, &refresh, &err),
                     INF_EINTERNAL);
    assert_null(tok);
    assert_int_equal(auth_issue_token("abc", "ep", NOW, TTL, &tok, &exp, &refresh, &err),
                     INF_EINTERNAL);
    char notHex[AUTH_SECRET_HEX_LEN + 1];
    memset(notHex, 'g', AUTH_SECRET_HEX_LEN);
    notHex[AUTH_SECRET_HEX_LEN] = '\0';
    assert_int_equal(auth_issue_token(notHex, "ep", NOW, TTL, &tok, &exp, &refresh, &err),
                     INF_EINTERNAL);
    assert_int_equal(auth_issue_token(SECRET, "", NOW, TTL, &tok, &exp, &refresh, &err),
                     INF_EINVAL);
    assert_int_equal(auth_issue_token(SECRET, "ep", NOW, 0, &tok, &exp, &refresh, &err),
                     INF_EINVAL);
    assert_non_null(strstr(err.msg, "lifetime 0 s"));
    assert_null(tok);

    /* Checking a token without a usable secret is a platform error. */
    struct endpoint t;
    ep_init(&t, "ep", "aml_token");
    tok = issue("ep", NOW);
    assert_int_equal(auth_check(&t, NULL, tok, strlen(tok), NOW, &err), INF_EINTERNAL);
    assert_int_equal(auth_check(&t, "short", tok, strlen(tok), NOW, &err), INF_EINTERNAL);
    assert_int_equal(auth_check(&t, OTHER_SECRET, tok, strlen(tok), NOW, &err), INF_EAUTH);
    free(tok);
    ep_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),       cmocka_unit_test(expiry),
        cmocka_unit_test(other_endpoint),   cmocka_unit_test(tampered),
        cmocka_unit_test(other_algorithms), cmocka_unit_test(garbage),
        cmocka_unit_test(key_mode),         cmocka_unit_test(token_mode_refuses_keys),
        cmocka_unit_test(empty_credential), cmocka_unit_test(bad_secret_and_arguments),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
