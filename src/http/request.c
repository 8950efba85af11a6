/*
 * request: helpers to read an h2o request (see request.h). Event-loop
 * thread; memory comes from the request's pool or is returned owned.
 */
#include "http/request.h"

#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "http/respond.h"

int request_method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

int request_split_path(h2o_req_t *req, const char *prefix, char **seg, int max)
{
    h2o_iovec_t p = req->path_normalized;
    size_t plen = strlen(prefix);
    char *s = h2o_mem_alloc_pool(&req->pool, p.len + 1);
    memcpy(s, p.base, p.len);
    s[p.len] = '\0';
    char *cur = p.len >= plen ? s + plen : s + p.len;
    int n = 0;
    while (*cur != '\0') {
        char *slash = strchr(cur, '/');
        if (slash != NULL)
            *slash = '\0';
        if (*cur != '\0') {
            if (n == max)
                return -1;
            seg[n++] = cur;
        }
        if (slash == NULL)
            break;
        cur = slash + 1;
    }
    return n;
}

const char *request_query(h2o_req_t *req, const char *name)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *q = req->path.base + req->query_at + 1;
    size_t qlen = req->path.len - req->query_at - 1;
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < qlen) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i >= nlen && memcmp(q + i, name, nlen) == 0 &&
            (end - i == nlen || q[i + nlen] == '=')) {
            size_t vstart = end - i == nlen ? end : i + nlen + 1;
            size_t vlen = end - vstart;
            char *v = h2o_mem_alloc_pool(&req->pool, vlen + 1);
            memcpy(v, q + vstart, vlen);
            v[vlen] = '\0';
            return v;
        }
        i = end + 1;
    }
    return NULL;
}

long request_query_long(h2o_req_t *req, const char *name, long min, long max, long def)
{
    const char *s = request_query(req, name);
    long v;
    return s != NULL && inf_parse_long(s, min, max, &v) == 0 ? v : def;
}

json_t *request_body_json(h2o_req_t *req)
{
    json_error_t jerr;
    json_t *v = json_loadb(req->entity.base != NULL ? req->entity.base : "", req->entity.len,
                           JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        respond_error(req, 400, "BadRequest", "request body is not valid JSON: %s (line %d)",
                      jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        respond_error(req, 400, "BadRequest", "request body must be a JSON object");
        return NULL;
    }
    return v;
}
