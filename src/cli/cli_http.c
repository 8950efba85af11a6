/*
 * cli_http: blocking HTTP requests from the CLI to the inferd server over
 * libcurl's easy interface. Owns one CURL handle (and with it the kept-alive
 * connection) for the life of the process; main thread only.
 */
#include "cli/cli_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include <curl/curl.h>

/* Returns from the enclosing CURLcode function when a libcurl call fails. */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        CURLcode rc_ = (call);                                                                     \
        if (rc_ != CURLE_OK)                                                                       \
            return rc_;                                                                            \
    } while (0)

static const char deployment_header[] = "azureml-model-deployment:";

struct transfer {
    struct cli_http_resp *resp;
    void *curl;
    FILE *sink;      /* the request's sink, or NULL */
    int overflow;    /* the body passed its cap; the transfer was aborted */
    int sink_failed; /* writing to the sink failed (errno in sink_errno) */
    int sink_errno;
};

static int url_valid(const char *url)
{
    const char *host;
    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return 0;
    if (*host == '\0' || *host == '/')
        return 0;
    for (const char *p = url; *p != '\0'; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return 0;
    return 1;
}

int cli_http_init(struct cli_http *h, const char *base_url, struct inf_err *err)
{
    memset(h, 0, sizeof(*h));
    if (!url_valid(base_url))
        return inf_err_set(err, INF_EINVAL,
                           "INFERD_URL: '%s' is not a URL like http://127.0.0.1:8080", base_url);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return inf_err_set(err, INF_EINTERNAL, "cannot initialise libcurl");
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        curl_global_cleanup();
        return inf_err_set(err, INF_EINTERNAL, "cannot create a libcurl handle");
    }
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    h->base_url = inf_strndup(base_url, n);
    return 0;
}

void cli_http_fini(struct cli_http *h)
{
    if (h->curl == NULL)
        return;
    curl_easy_cleanup(h->curl);
    curl_global_cleanup();
    free(h->base_url);
    memset(h, 0, sizeof(*h));
}

void cli_http_resp_fini(struct cli_http_resp *resp)
{
    inf_buf_fini(&resp->body);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    long code = 0;
    if (t->sink != NULL && curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
        code >= 200 && code <= 299) {
        if (fwrite(data, 1, n, t->sink) == n)
            return n;
        t->sink_failed = 1;
        t->sink_errno = errno;
        return 0;
    }
    if (inf_buf_append(&t->resp->body, data, n) != 0) {
        t->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    size_t name_len = sizeof(deployment_header) - 1;
    /* A new status line (after a 100 Continue, say) starts a new header set. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        t->resp->deployment[0] = '\0';
    } else if (n > name_len && strncasecmp(data, deployment_header, name_len) == 0) {
        const char *v = data + name_len;
        const char *end = data + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        size_t len = (size_t)(end - v);
        if (len >= sizeof(t->resp->deployment))
            len = sizeof(t->resp->deployment) - 1;
        memcpy(t->resp->deployment, v, len);
        t->resp->deployment[len] = '\0';
    }
    return n;
}

/* Appends "Name: value" to the header list; NULL value removes a header
 * curl would add on its own ("Expect:"). */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char *line =
        inf_asprintf("%s:%s%s", name, value != NULL ? " " : "", value != NULL ? value : "");
    struct curl_slist *next = curl_slist_append(*list, line);
    free(line);
    if (next == NULL)
        return -1;
    *list = next;
    return 0;
}

static struct curl_slist *build_headers(const struct cli_http_req *req)
{
    struct curl_slist *list = NULL;
    char *auth = req->bearer != NULL ? inf_asprintf("Bearer %s", req->bearer) : NULL;
    int rc = add_header(&list, "Expect", NULL); /* no 100-continue round trip */
    if (rc == 0 && auth != NULL)
        rc = add_header(&list, "Authorization", auth);
    if (rc == 0 && req->body != NULL)
        rc = add_header(&list, "Content-Type", req->content_type);
    if (rc == 0 && req->deployment != NULL)
        rc = add_header(&list, "azureml-model-deployment", req->deployment);
    free(auth);
    if (rc != 0) {
        curl_slist_free_all(list);
        return NULL;
    }
    return list;
}

static CURLcode setup(CURL *curl, const char *url, const struct cli_http_req *req,
                      struct curl_slist *headers, struct transfer *t, char *errbuf)
{
    TRY(curl_easy_setopt(curl, CURLOPT_URL, url));
    TRY(curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf));
    TRY(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L));
    TRY(curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CLI_HTTP_CONNECT_TIMEOUT_MS));
    TRY(curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, CLI_HTTP_TIMEOUT_MS));
    TRY(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers));
    TRY(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body));
    TRY(curl_easy_setopt(curl, CURLOPT_WRITEDATA, t));
    TRY(curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header));
    TRY(curl_easy_setopt(curl, CURLOPT_HEADERDATA, t));
    if (strcmp(req->method, "GET") == 0)
        return curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    TRY(curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method));
    if (req->body == NULL && strcmp(req->method, "DELETE") == 0)
        return CURLE_OK;
    /* PUT and POST always send a body, if only an empty one (Content-Length: 0). */
    TRY(curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : ""));
    return curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                            (curl_off_t)(req->body != NULL ? req->body_len : 0));
}

/* Turns a failed transfer into an error that says what to do about it. */
static int transfer_error(struct cli_http *h, CURLcode rc, const struct transfer *t,
                          const char *url, const char *method, const char *errbuf,
                          struct inf_err *err)
{
    const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    long os_errno = 0;
    if (curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK)
        os_errno = 0;
    if (t->sink_failed)
        return inf_err_set(err, INF_EIO, "%s %s: writing the download: %s", method, url,
                           inf_strerror(t->sink_errno));
    if (t->overflow)
        return inf_err_set(err, INF_ETOOBIG, "%s %s: the response is larger than %zu MiB", method,
                           url, t->resp->body.max >> 20);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        if (rc == CURLE_COULDNT_CONNECT && os_errno != 0)
            detail = inf_strerror((int)os_errno);
        return inf_err_set(err, INF_EUNAVAIL,
                           "cannot reach inferd at %s: %s — is `inferd serve` running? "
                           "set INFERD_URL",
                           h->base_url, detail);
    case CURLE_OPERATION_TIMEDOUT:
        return inf_err_set(err, INF_ETIMEOUT, "%s %s: %s", method, url, detail);
    default:
        return inf_err_set(err, INF_EIO, "%s %s: %s", method, url, detail);
    }
}

int cli_http_request(struct cli_http *h, const struct cli_http_req *req, struct cli_http_resp *resp,
                     struct inf_err *err)
{
    memset(resp, 0, sizeof(*resp));
    inf_buf_init(&resp->body, CLI_HTTP_MAX_RESPONSE_BYTES);
    struct transfer t = {.resp = resp, .curl = h->curl, .sink = req->sink};
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = inf_asprintf("%s%s", h->base_url, req->path);
    int rc = 0;
    struct curl_slist *headers = build_headers(req);
    if (headers == NULL) {
        rc = inf_err_set(err, INF_EINTERNAL, "%s %s: cannot build the request headers", req->method,
                         url);
        goto out;
    }
    /* Reset drops the previous request's options but keeps the connection. */
    curl_easy_reset(h->curl);
    CURLcode cc = setup(h->curl, url, req, headers, &t, errbuf);
    if (cc != CURLE_OK) {
        rc = inf_err_set(err, INF_EINTERNAL, "%s %s: cannot set up the request: %s", req->method,
                         url, curl_easy_strerror(cc));
        goto out;
    }
    cc = curl_easy_perform(h->curl);
    if (cc != CURLE_OK) {
        rc = transfer_error(h, cc, &t, url, req->method, errbuf, err);
        goto out;
    }
    cc = curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc != CURLE_OK) {
        rc = inf_err_set(err, INF_EIO, "%s %s: no HTTP status: %s", req->method, url,
                         curl_easy_strerror(cc));
        goto out;
    }
    /* Callers may treat the body as a string even when it is empty. */
    if (inf_buf_append(&resp->body, "", 0) != 0)
        rc = inf_err_set(err, INF_ETOOBIG, "%s %s: the response is too large", req->method, url);
out:
    /* The handle keeps stale pointers to errbuf and headers until the next
     * request resets it; neither it nor curl_easy_cleanup reads them. */
    curl_slist_free_all(headers);
    free(url);
    return rc;
}
