/*
 * spec: Azure ML CLI v2 YAML for online endpoints and deployments, parsed and
 * validated into normalised JSON (jansson) with every default applied.
 *
 * Pure functions over buffers and JSON values: no sockets, no globals, no
 * filesystem access. The CLI uses them on the user's files (SPEC_FILE mode,
 * where model/code are local paths); the server uses them on API bodies
 * (SPEC_API mode, where model/code are "artifact:<sha256>" references).
 *
 * Notes: keys that Azure accepts but mean nothing off Azure (compute,
 * identity, app_insights_enabled, ...) are accepted; one human-readable line
 * per such key is appended to the `notes` JSON array (if non-NULL), e.g.
 * "blue.yml: 'app_insights_enabled' is Azure-only and ignored".
 */
#ifndef INF_SPEC_SPEC_H
#define INF_SPEC_SPEC_H

#include <stddef.h>

#include <jansson.h>

#include "core/err.h"

enum spec_mode {
    SPEC_FILE, /* model.path / code_configuration.code / conda_file are local paths */
    SPEC_API,  /* model.path / code_configuration.code are "artifact:<64 hex>" */
};

#define SPEC_ARTIFACT_PREFIX "artifact:"

/* Parses YAML text (one document) into a new JSON value: mappings become
 * objects, sequences arrays, plain scalars are typed (null/~, true/false,
 * integers, floats, else strings), quoted scalars stay strings. `source`
 * names the file in messages ("endpoint.yml: line 3: ..."). Returns a new
 * reference or NULL with err set (INF_EINVAL). Empty document: NULL with
 * a message saying the file is empty. Anchors/aliases: rejected. */
json_t *spec_yaml_parse(const char *buf, size_t len, const char *source, struct inf_err *err);

/* 0 if `name` is a valid endpoint/deployment name (starts with a letter,
 * 3-32 chars of letters, digits and single dashes, not ending in a dash);
 * else INF_EINVAL naming `what` ("endpoint name") and the value. */
int spec_name_valid(const char *name, const char *what, struct inf_err *err);

/* Validates an online endpoint spec and returns a new normalised object:
 * name, description (""), tags ({}), auth_mode ("key"), traffic ({}),
 * mirror_traffic ({}). Unknown keys: INF_EINVAL naming the key and source.
 * auth_mode aad_token: INF_EINVAL saying it is Azure-only and what to use.
 * Traffic values must be integers 0..100 summing to 0 or 100 (existence of
 * the named deployments is checked by the caller). */
json_t *spec_online_endpoint(const json_t *in, const char *source, json_t *notes,
                             struct inf_err *err);

/* Validates an online deployment spec and returns a new normalised object
 * with defaults (COMPAT.md): instance_count 1, request_settings
 * {request_timeout_ms 5000 (max 180000), max_concurrent_requests_per_instance 1,
 * max_queue_wait_ms 500}, liveness_probe and readiness_probe {initial_delay 10,
 * period 10, timeout 2, success_threshold 1, failure_threshold 30},
 * environment_variables {} (values coerced to strings), scale_settings
 * {type: default}, description "", tags {}. `model` may be an object with
 * path/name/version/type or a string; "azureml:" references are rejected with
 * a message saying to use `path:` instead. code_configuration needs both code
 * and scoring_script. In SPEC_API mode model.path and code_configuration.code
 * must be artifact references. Adds "backend": "native" (scoring_script ends
 * in .so), "python" (ends in .py), "custom" (environment.inference_config),
 * or "model" (no code: decided by the server from the model's files). */
json_t *spec_online_deployment(const json_t *in, const char *source, enum spec_mode mode,
                               json_t *notes, struct inf_err *err);

/* Validates a batch endpoint spec (COMPAT.md "Batch endpoint and deployment
 * YAML") and returns a new normalised object: name, description (""), tags
 * ({}), auth_mode ("aml_token"), defaults {deployment_name: "" when unset}.
 * auth_mode may be aad_token (Azure's only value): it is accepted, stored as
 * "aml_token", and a note says inferd's own endpoint tokens replace Azure AD.
 * key is refused (batch endpoints use tokens). Unknown keys: INF_EINVAL
 * naming the key and source. */
json_t *spec_batch_endpoint(const json_t *in, const char *source, json_t *notes,
                            struct inf_err *err);
/* Validates a batch deployment spec, in Azure's `type: model` form (settings
 * under `settings:`) or the legacy form (the same keys at the root; no
 * `type`), and returns one normalised object:
 *   name, endpoint_name (if given), description "", tags {}, type "model",
 *   model (as online), code_configuration {code, scoring_script} (optional:
 *   without it the model must be an MLflow model, decided by the server),
 *   environment (as online), compute (kept, noted as Azure-only),
 *   backend: "python" (scoring_script ends in .py) or "model" (no code);
 *   a .so script is refused (batch runs Python scripts and MLflow models),
 *   instance_count (resources.instance_count, default 1, 1..64),
 *   environment_variables {} (settings.environment_variables, values
 *   coerced to strings),
 *   settings {max_concurrency_per_instance 1 (1..64), mini_batch_size 10
 *   (1..100000), retry_settings {max_retries 3 (0..100), timeout 30
 *   (seconds, 1..86400)}, error_threshold -1 (-1 or >= 0),
 *   logging_level "info" (debug|info|warning|error|critical),
 *   output_action "append_row" (append_row|summary_only),
 *   output_file_name "predictions.csv" (a plain file name: no '/', not "."
 *   or "..")}.
 * Messages name the field as the user wrote it ("settings.mini_batch_size"
 * in the model form, "mini_batch_size" in the legacy form). */
json_t *spec_batch_deployment(const json_t *in, const char *source, enum spec_mode mode,
                              json_t *notes, struct inf_err *err);
/* Parses a traffic string "blue=90,green=10" or "blue=90 green=10" into a
 * new JSON object {"blue": 90, "green": 10}. Names are validated, values
 * integers 0..100; the sum is not checked here. */
json_t *spec_traffic_parse(const char *s, struct inf_err *err);

/* Checks a traffic object: integer values 0..100 summing to 0 or 100, each
 * key one of names[0..n). Returns 0 or INF_EINVAL naming the deployment. */
int spec_traffic_check(const json_t *traffic, const char *const *names, size_t n,
                       struct inf_err *err);

/* Applies "a.b.c=value" (--set) to a spec object in place; value parsed as a
 * YAML scalar (so numbers stay numbers). Intermediate objects are created. */
int spec_set_path(json_t *obj, const char *assignment, struct inf_err *err);

#endif
