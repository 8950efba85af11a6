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

#include <jansson.h>

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

/* Store thread (blocking stat calls): checks that a deployment spec's
 * artifacts (model.path, code_configuration.code) are stored and that the
 * scoring script is a file in the code folder; INF_EINVAL naming the field
 * otherwise. Online and batch deployments. */
int control_check_artifacts(const struct server *srv, const json_t *spec, struct inf_err *err);

/* Store thread: for a spec with backend "model" (a model without code),
 * chooses "onnx" (one .onnx file, or an MLmodel whose only loadable flavor
 * is onnx) or "mlflow" (an MLmodel file) from the model folder and sets
 * spec.backend; INF_EUNSUPPORTED or INF_EINVAL naming `model` otherwise.
 * Other backends: 0, spec untouched. */
int control_resolve_model_backend(const struct server *srv, json_t *spec, struct inf_err *err);

#endif
