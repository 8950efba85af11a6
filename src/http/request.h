/*
 * request: reading what a client sent on an h2o request: the method, the
 * path's segments, query parameters and a JSON body. Used by the
 * management API's route handlers. Event-loop thread (the request's own).
 */
#ifndef INF_HTTP_REQUEST_H
#define INF_HTTP_REQUEST_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <jansson.h>

/* 1 if the request's method is m ("GET"). */
int request_method_is(h2o_req_t *req, const char *m);

/* Splits the normalised path after `prefix` ("/api/v1/") into at most max
 * non-empty segments (pointers into a copy in the request's pool).
 * Returns the count, or -1 if there are more than max. */
int request_split_path(h2o_req_t *req, const char *prefix, char **seg, int max);

/* The raw value of query parameter `name` copied into the request's pool
 * (not percent-decoded), or NULL when absent. */
const char *request_query(h2o_req_t *req, const char *name);

/* The value of query parameter `name` as a long in [min, max], or def when
 * absent or not such a number. */
long request_query_long(h2o_req_t *req, const char *name, long min, long max, long def);

/* Parses the body as a JSON object (duplicate keys rejected). On failure
 * answers 400 naming the problem and returns NULL. New reference. */
json_t *request_body_json(h2o_req_t *req);

#endif
