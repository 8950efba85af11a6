/*
 * batch_api: the batch routes of the management API:
 * /api/v1/batch-endpoints/... (endpoints, deployments, tokens, invoke,
 * list-jobs) and /api/v1/jobs/... (show, list, cancel, files, outputs and
 * logs). Documented in docs/rest-api.md.
 *
 * Every request becomes one task on the store thread, which checks the
 * credential, validates against the store and writes; the answer (and the
 * scheduler's part: queuing an invoked job, canceling) follows on the event
 * loop. The store thread runs tasks in order, so requests take effect in
 * the order they arrived. Event-loop thread only.
 */
#ifndef INF_BATCH_BATCH_API_H
#define INF_BATCH_BATCH_API_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

struct server;

/* 1 if path (normalised) is a batch route this module answers. */
int batch_api_owns(const char *path, size_t len);

/* Answers a batch route. `admin` says whether the request carried the
 * admin token; routes that accept an endpoint's token (invoke, list-jobs,
 * jobs of that endpoint) check it themselves, the others answer 401. */
void batch_api_handle(struct server *srv, h2o_req_t *req, int admin);

#endif
