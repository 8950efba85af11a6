/*
 * cli_http: the CLI's HTTP client (libcurl), one blocking request at a time
 * to the inferd server at a base URL such as "http://127.0.0.1:8080".
 *
 * One client per process: init calls curl_global_init, fini the cleanup.
 * The connection is kept alive between requests (the deployment wait loop
 * polls every 250 ms). Responses are read into a capped buffer.
 */
#ifndef INF_CLI_CLI_HTTP_H
#define INF_CLI_CLI_HTTP_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"
#include "core/util.h"

#define CLI_HTTP_MAX_RESPONSE_BYTES ((size_t)64 << 20)
#define CLI_HTTP_CONNECT_TIMEOUT_MS 10000L
#define CLI_HTTP_TIMEOUT_MS 900000L /* longer than any upload or scoring timeout */

struct cli_http {
    void *curl;     /* CURL *, kept opaque so callers need no curl headers */
    char *base_url; /* without a trailing slash */
};

struct cli_http_req {
    const char *method;       /* "GET", "PUT", "POST" or "DELETE" */
    const char *path;         /* "/api/v1/...", appended to the base URL */
    const char *bearer;       /* sent as "Authorization: Bearer ..."; NULL for none */
    const void *body;         /* NULL for no body */
    size_t body_len;          /* bytes at body */
    const char *content_type; /* of the body; NULL for none */
    const char *deployment;   /* "azureml-model-deployment" request header, or NULL */
    /* Downloads: a 2xx body is written here as it arrives (no size cap)
     * instead of into resp.body; other statuses still fill resp.body. */
    FILE *sink;
};

struct cli_http_resp {
    long status;          /* HTTP status */
    struct inf_buf body;  /* NUL-terminated once anything was read */
    char deployment[128]; /* "azureml-model-deployment" response header, or "" */
};

/* Prepares a client for base_url (http:// or https://; trailing slashes are
 * dropped). Returns 0, or INF_EINVAL naming INFERD_URL for a malformed URL,
 * INF_EINTERNAL if libcurl cannot start. On error nothing needs freeing. */
int cli_http_init(struct cli_http *h, const char *base_url, struct inf_err *err);

/* Closes the connection and frees the client. Safe on a zeroed struct. */
void cli_http_fini(struct cli_http *h);

/* Sends one request and reads the whole response into resp (initialised
 * here; the caller calls cli_http_resp_fini, also after an error). Any
 * HTTP status is a success (0): the caller judges it. Errors: INF_EUNAVAIL
 * when the server cannot be reached (the message names the URL and says to
 * start `inferd serve` or set INFERD_URL), INF_ETOOBIG when the response
 * is over CLI_HTTP_MAX_RESPONSE_BYTES, INF_ETIMEOUT, INF_EIO otherwise. */
int cli_http_request(struct cli_http *h, const struct cli_http_req *req, struct cli_http_resp *resp,
                     struct inf_err *err);

/* Frees the response body. */
void cli_http_resp_fini(struct cli_http_resp *resp);

#endif
