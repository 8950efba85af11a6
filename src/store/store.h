/*
 * store: all control-plane state in SQLite (WAL mode) under the data
 * directory: online endpoints (spec + keys), online deployments (spec +
 * provisioning state), artifacts, and server metadata (secrets).
 *
 * Schema versioned with PRAGMA user_version; store_open() applies pending
 * migrations in one transaction each. One `struct store` is one connection:
 * use it from one thread at a time (the server's store thread). Specs are
 * stored as JSON text; the store does not interpret them.
 */
#ifndef INF_STORE_STORE_H
#define INF_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct store;

/* Opens (creating if needed) the database at path, sets WAL, a busy timeout
 * and foreign keys, and migrates to the current schema. *out on success. */
int store_open(const char *path, struct store **out, struct inf_err *err);
/* Closes the connection; NULL is a no-op. */
void store_close(struct store *st);
/* The schema version after migrations. */
int store_schema_version(struct store *st);

struct store_endpoint {
    char *name;
    char *spec_json; /* normalised endpoint spec incl. traffic */
    char *primary_key;
    char *secondary_key;
    int64_t created_at; /* unix seconds */
    int64_t updated_at;
};

struct store_deployment {
    char *endpoint;
    char *name;
    char *spec_json;    /* normalised deployment spec */
    char *state;        /* provisioning state: Creating, Updating, Succeeded, Failed, Deleting */
    char *reason;       /* failure reason, "" otherwise */
    int64_t generation; /* incremented by every store_deployment_put */
    int64_t created_at;
    int64_t updated_at;
    char *active_spec;         /* the spec that last started successfully, "" if none */
    int64_t active_generation; /* its generation, 0 if none */
};

/* Inserts or replaces an endpoint (created_at is kept on replace). */
int store_endpoint_put(struct store *st, const char *name, const char *spec_json,
                       const char *primary_key, const char *secondary_key, struct inf_err *err);
/* Fills *out (caller runs store_endpoint_fini); INF_ENOTFOUND if absent. */
int store_endpoint_get(struct store *st, const char *name, struct store_endpoint *out,
                       struct inf_err *err);
/* All endpoints ordered by name: *out is a heap array of *n entries; free with
 * store_endpoint_list_free. */
int store_endpoint_list(struct store *st, struct store_endpoint **out, size_t *n,
                        struct inf_err *err);
/* Deletes the endpoint and its deployments; INF_ENOTFOUND if absent. */
int store_endpoint_delete(struct store *st, const char *name, struct inf_err *err);
void store_endpoint_fini(struct store_endpoint *e);
void store_endpoint_list_free(struct store_endpoint *list, size_t n);

/* Inserts or replaces a deployment; bumps generation; the endpoint must
 * exist (INF_ENOTFOUND otherwise). *generation_out (if non-NULL) gets the
 * new generation. */
int store_deployment_put(struct store *st, const char *endpoint, const char *name,
                         const char *spec_json, const char *state, const char *reason,
                         int64_t *generation_out, struct inf_err *err);
/* Updates only state and reason, if the stored generation still equals
 * `generation` (0 matches any); returns INF_ECONFLICT when it moved on. */
int store_deployment_set_state(struct store *st, const char *endpoint, const char *name,
                               int64_t generation, const char *state, const char *reason,
                               struct inf_err *err);
/* Records the spec whose instances last became ready (the serving one), so
 * a restart after a failed update serves it again. */
int store_deployment_set_active(struct store *st, const char *endpoint, const char *name,
                                int64_t generation, const char *spec_json, struct inf_err *err);
int store_deployment_get(struct store *st, const char *endpoint, const char *name,
                         struct store_deployment *out, struct inf_err *err);
/* Deployments of one endpoint (or of all endpoints when endpoint is NULL),
 * ordered by endpoint then name. */
int store_deployment_list(struct store *st, const char *endpoint, struct store_deployment **out,
                          size_t *n, struct inf_err *err);
int store_deployment_delete(struct store *st, const char *endpoint, const char *name,
                            struct inf_err *err);
void store_deployment_fini(struct store_deployment *d);
void store_deployment_list_free(struct store_deployment *list, size_t n);

/* Records an artifact (idempotent). */
int store_artifact_put(struct store *st, const char *sha256, int64_t size_bytes,
                       struct inf_err *err);
/* 1 if recorded, 0 if not, negative on error. */
int store_artifact_exists(struct store *st, const char *sha256, struct inf_err *err);

/* Small key/value metadata (server secrets, settings). get: *value is a heap
 * string the caller frees, or INF_ENOTFOUND. */
int store_meta_get(struct store *st, const char *key, char **value, struct inf_err *err);
int store_meta_set(struct store *st, const char *key, const char *value, struct inf_err *err);

#endif
