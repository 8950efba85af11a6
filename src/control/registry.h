/*
 * registry: the in-memory mirror of the store that the event loop serves
 * from: endpoints with their keys, traffic route table and deployments,
 * and each deployment's instance sets. The store is the durable copy; the
 * control plane writes there first and applies here when the write is done.
 *
 * Event-loop thread only.
 */
#ifndef INF_CONTROL_REGISTRY_H
#define INF_CONTROL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gateway/route.h"

struct instance_set;
struct admission;
struct mirror;

#define REGISTRY_KEY_LEN 64 /* hex chars of an endpoint key */

#define DEPLOYMENT_MAX_EVENTS 50   /* events kept per deployment (oldest dropped) */
#define DEPLOYMENT_EVENT_BYTES 600 /* longer event messages are cut */

enum deployment_event_type { DEPLOYMENT_EVENT_NORMAL, DEPLOYMENT_EVENT_WARNING };

/* Something that happened to a deployment or one of its instances, shown by
 * `online-deployment show` (in memory only: a server restart starts afresh). */
struct deployment_event {
    int64_t time; /* Unix seconds */
    enum deployment_event_type type;
    char reason[32]; /* CamelCase, e.g. "InstanceRestarted" */
    char *message;   /* one line (owned) */
};

struct deployment {
    struct endpoint *ep;
    char *name;
    json_t *spec; /* normalised API-form spec (owned) */
    int64_t generation;
    char state[16]; /* Creating, Updating, Succeeded, Failed */
    char *reason;
    int64_t created_at;
    int64_t updated_at;
    struct instance_set *active;  /* serving; NULL if none */
    struct instance_set *pending; /* starting `pending_generation`; NULL if none */
    int64_t pending_generation;
    struct admission *admission; /* gateway: concurrency limit and queue (admission.c) */
    int serving_previous; /* restored after a failed update: spec is the last good one */
    /* The last DEPLOYMENT_MAX_EVENTS events: a ring, oldest at events_start. */
    struct deployment_event events[DEPLOYMENT_MAX_EVENTS];
    size_t events_start;
    size_t nevents;
};

struct endpoint {
    char *name;
    json_t *spec; /* normalised endpoint spec incl. traffic (owned) */
    char primary_key[REGISTRY_KEY_LEN + 1];
    char secondary_key[REGISTRY_KEY_LEN + 1];
    int64_t created_at;
    int64_t updated_at;
    struct deployment **deps;
    size_t ndeps;
    struct route_table route;
    struct deployment *route_deps[ROUTE_MAX_ENTRIES];
    struct mirror *mirror; /* gateway: mirror selection and report (mirror.c) */
};

struct registry {
    struct endpoint **eps;
    size_t n;
};

void registry_init(struct registry *reg);
/* Frees every endpoint and deployment (instance sets must be stopped first). */
void registry_fini(struct registry *reg);

struct endpoint *registry_find(const struct registry *reg, const char *name, size_t len);
struct deployment *endpoint_find(const struct endpoint *ep, const char *name, size_t len);

/* Adds a new endpoint; takes ownership of spec. */
struct endpoint *registry_add(struct registry *reg, const char *name, json_t *spec,
                              const char *primary_key, const char *secondary_key);
/* Unlinks and frees ep and its deployments. */
void registry_remove(struct registry *reg, struct endpoint *ep);

/* Replaces the endpoint's spec (taking ownership) and rebuilds its route. */
void endpoint_set_spec(struct endpoint *ep, json_t *spec);
/* Rebuilds the route table from spec.traffic and the current deployments. */
void endpoint_rebuild_route(struct endpoint *ep);
/* Chooses the deployment for an unpinned request, or NULL if no deployment
 * has a positive weight. */
struct deployment *endpoint_route(struct endpoint *ep);
/* The traffic share of a deployment (0 if absent). */
int endpoint_traffic_of(const struct endpoint *ep, const char *deployment);

/* Adds a deployment (taking ownership of spec). */
struct deployment *endpoint_add_deployment(struct endpoint *ep, const char *name, json_t *spec,
                                           int64_t generation);
/* Unlinks and frees d (its instance sets must already be handed to stop). */
void endpoint_remove_deployment(struct endpoint *ep, struct deployment *d);

void deployment_set_state(struct deployment *d, const char *state, const char *reason);

/* Appends an event to d's ring, dropping the oldest once
 * DEPLOYMENT_MAX_EVENTS are kept. time 0 means now; reason is cut to 31
 * bytes, message (copied) to DEPLOYMENT_EVENT_BYTES - 1 bytes. */
void deployment_add_event(struct deployment *d, int64_t time, enum deployment_event_type type,
                          const char *reason, const char *message);

/* JSON views for the API (new references). A deployment's view adds
 * provisioning_state, reason, generation, instances (see
 * instance_set_status_json), updating_instances while an update starts,
 * events [{time, type ("Normal"/"Warning"), reason, message}] oldest first,
 * created_at and updated_at. */
json_t *endpoint_to_json(const struct endpoint *ep, const char *base_url);
json_t *deployment_to_json(const struct deployment *d);

#endif
