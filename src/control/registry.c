/*
 * registry: in-memory endpoints and deployments. Event-loop thread only.
 * Endpoints and deployments are small arrays: lookups are linear, which
 * is faster than hashing for the tens of endpoints a server holds.
 */
#include "control/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "gateway/admission.h"
#include "gateway/mirror.h"
#include "supervisor/instance.h"

void registry_init(struct registry *reg)
{
    reg->eps = NULL;
    reg->n = 0;
}

static void deployment_free(struct deployment *d)
{
    /* Requests still waiting or running get their 503 now. */
    admission_free(d->admission);
    for (size_t i = 0; i < d->nevents; i++)
        free(d->events[(d->events_start + i) % DEPLOYMENT_MAX_EVENTS].message);
    json_decref(d->spec);
    free(d->name);
    free(d->reason);
    free(d);
}

static void endpoint_free(struct endpoint *ep)
{
    for (size_t i = 0; i < ep->ndeps; i++)
        deployment_free(ep->deps[i]);
    free(ep->deps);
    mirror_release(ep->mirror); /* mirrored calls in flight keep the stats alive */
    json_decref(ep->spec);
    free(ep->name);
    free(ep);
}

void registry_fini(struct registry *reg)
{
    for (size_t i = 0; i < reg->n; i++)
        endpoint_free(reg->eps[i]);
    free(reg->eps);
    reg->eps = NULL;
    reg->n = 0;
}

struct endpoint *registry_find(const struct registry *reg, const char *name, size_t len)
{
    for (size_t i = 0; i < reg->n; i++) {
        const char *n = reg->eps[i]->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return reg->eps[i];
    }
    return NULL;
}

struct deployment *endpoint_find(const struct endpoint *ep, const char *name, size_t len)
{
    for (size_t i = 0; i < ep->ndeps; i++) {
        const char *n = ep->deps[i]->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return ep->deps[i];
    }
    return NULL;
}

struct endpoint *registry_add(struct registry *reg, const char *name, json_t *spec,
                              const char *primary_key, const char *secondary_key)
{
    struct endpoint *ep = inf_calloc(1, sizeof(*ep));
    ep->name = inf_strdup(name);
    ep->spec = spec;
    snprintf(ep->primary_key, sizeof(ep->primary_key), "%s", primary_key);
    snprintf(ep->secondary_key, sizeof(ep->secondary_key), "%s", secondary_key);
    ep->created_at = ep->updated_at = inf_unix_now();
    reg->eps = inf_realloc(reg->eps, (reg->n + 1) * sizeof(*reg->eps));
    reg->eps[reg->n++] = ep;
    endpoint_rebuild_route(ep);
    return ep;
}

void registry_remove(struct registry *reg, struct endpoint *ep)
{
    for (size_t i = 0; i < reg->n; i++) {
        if (reg->eps[i] == ep) {
            memmove(&reg->eps[i], &reg->eps[i + 1], (reg->n - i - 1) * sizeof(*reg->eps));
            reg->n--;
            break;
        }
    }
    endpoint_free(ep);
}

void endpoint_set_spec(struct endpoint *ep, json_t *spec)
{
    json_decref(ep->spec);
    ep->spec = spec;
    ep->updated_at = inf_unix_now();
    endpoint_rebuild_route(ep);
}

void endpoint_rebuild_route(struct endpoint *ep)
{
    int weights[ROUTE_MAX_ENTRIES];
    size_t n = 0;
    json_t *traffic = json_object_get(ep->spec, "traffic");
    const char *name;
    json_t *v;
    json_object_foreach(traffic, name, v)
    {
        struct deployment *d = endpoint_find(ep, name, strlen(name));
        if (d == NULL || n == ROUTE_MAX_ENTRIES)
            continue;
        weights[n] = (int)json_integer_value(v);
        ep->route_deps[n] = d;
        n++;
    }
    route_init(&ep->route, weights, n);
}

struct deployment *endpoint_route(struct endpoint *ep)
{
    int i = route_pick(&ep->route);
    return i < 0 ? NULL : ep->route_deps[i];
}

int endpoint_traffic_of(const struct endpoint *ep, const char *deployment)
{
    json_t *v = json_object_get(json_object_get(ep->spec, "traffic"), deployment);
    return v != NULL ? (int)json_integer_value(v) : 0;
}

struct deployment *endpoint_add_deployment(struct endpoint *ep, const char *name, json_t *spec,
                                           int64_t generation)
{
    struct deployment *d = inf_calloc(1, sizeof(*d));
    d->ep = ep;
    d->name = inf_strdup(name);
    d->spec = spec;
    d->generation = generation;
    d->reason = inf_strdup("");
    d->created_at = d->updated_at = inf_unix_now();
    snprintf(d->state, sizeof(d->state), "Creating");
    ep->deps = inf_realloc(ep->deps, (ep->ndeps + 1) * sizeof(*ep->deps));
    ep->deps[ep->ndeps++] = d;
    endpoint_rebuild_route(ep);
    return d;
}

void endpoint_remove_deployment(struct endpoint *ep, struct deployment *d)
{
    for (size_t i = 0; i < ep->ndeps; i++) {
        if (ep->deps[i] == d) {
            memmove(&ep->deps[i], &ep->deps[i + 1], (ep->ndeps - i - 1) * sizeof(*ep->deps));
            ep->ndeps--;
            break;
        }
    }
    deployment_free(d);
    endpoint_rebuild_route(ep);
}

void deployment_set_state(struct deployment *d, const char *state, const char *reason)
{
    snprintf(d->state, sizeof(d->state), "%s", state);
    free(d->reason);
    d->reason = inf_strdup(reason != NULL ? reason : "");
    d->updated_at = inf_unix_now();
}

void deployment_add_event(struct deployment *d, int64_t time, enum deployment_event_type type,
                          const char *reason, const char *message)
{
    struct deployment_event *e;
    if (d->nevents == DEPLOYMENT_MAX_EVENTS) {
        e = &d->events[d->events_start];
        free(e->message);
        d->events_start = (d->events_start + 1) % DEPLOYMENT_MAX_EVENTS;
    } else {
        e = &d->events[(d->events_start + d->nevents) % DEPLOYMENT_MAX_EVENTS];
        d->nevents++;
    }
    e->time = time != 0 ? time : inf_unix_now();
    e->type = type;
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    size_t len = strlen(message);
    if (len > DEPLOYMENT_EVENT_BYTES - 1) {
        len = DEPLOYMENT_EVENT_BYTES - 1;
        while (len > 0 && ((unsigned char)message[len] & 0xC0) == 0x80)
            len--; /* never cut a UTF-8 sequence in two */
    }
    e->message = inf_strndup(message, len);
}

static json_t *iso_time(int64_t t)
{
    char buf[32];
    inf_utc_iso8601(buf, sizeof(buf), t);
    return json_string(buf);
}

json_t *endpoint_to_json(const struct endpoint *ep, const char *base_url)
{
    json_t *o = json_deep_copy(ep->spec);
    char *uri = inf_asprintf("%s/endpoints/%s/score", base_url, ep->name);
    json_object_set_new(o, "scoring_uri", json_string(uri));
    free(uri);
    json_object_set_new(o, "provisioning_state", json_string("Succeeded"));
    json_object_set_new(o, "created_at", iso_time(ep->created_at));
    json_object_set_new(o, "updated_at", iso_time(ep->updated_at));
    return o;
}

json_t *deployment_to_json(const struct deployment *d)
{
    json_t *o = json_deep_copy(d->spec);
    json_object_set_new(o, "provisioning_state", json_string(d->state));
    json_object_set_new(o, "reason", json_string(d->reason));
    json_object_set_new(o, "generation", json_integer(d->generation));
    const struct instance_set *shown = d->active != NULL ? d->active : d->pending;
    json_object_set_new(o, "instances",
                        shown != NULL ? instance_set_status_json(shown) : json_array());
    if (d->pending != NULL && d->active != NULL)
        json_object_set_new(o, "updating_instances", instance_set_status_json(d->pending));
    json_t *events = json_array();
    for (size_t i = 0; i < d->nevents; i++) {
        const struct deployment_event *e =
            &d->events[(d->events_start + i) % DEPLOYMENT_MAX_EVENTS];
        json_t *ev = json_object();
        json_object_set_new(ev, "time", iso_time(e->time));
        json_object_set_new(
            ev, "type", json_string(e->type == DEPLOYMENT_EVENT_WARNING ? "Warning" : "Normal"));
        json_object_set_new(ev, "reason", json_string(e->reason));
        json_t *message = json_string(e->message);
        json_object_set_new(ev, "message",
                            message != NULL ? message : json_string("(message is not UTF-8)"));
        json_array_append_new(events, ev);
    }
    json_object_set_new(o, "events", events);
    json_object_set_new(o, "created_at", iso_time(d->created_at));
    json_object_set_new(o, "updated_at", iso_time(d->updated_at));
    return o;
}
