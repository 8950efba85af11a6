/*
 * api: the management API under /api/v1 (admin token). Requests that only
 * read are answered from the registry at once; requests that write are
 * serialised: one at a time it validates against the registry, writes to
 * the store on the store thread, then applies the change to the registry
 * and the supervisor and answers. Event-loop thread only.
 */
#ifndef INF_CONTROL_API_H
#define INF_CONTROL_API_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "core/err.h"

struct server;
struct control;

struct control *control_new(struct server *srv);
/* Frees the control state; no write may be in progress. */
void control_free(struct control *ctl);
/* Handles one request whose path starts with /api/v1/. */
void control_handle(struct control *ctl, h2o_req_t *req);
/* 1 while a write is in progress or queued. */
int control_busy(const struct control *ctl);

/* Loads every endpoint and deployment from the store into the registry and
 * starts their instances (start-up, before the loop runs). */
int control_restore(struct server *srv, struct inf_err *err);

#endif
