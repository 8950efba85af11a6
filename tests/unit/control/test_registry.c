/*
 * Unit tests for control/registry: adding, finding and removing endpoints
 * and deployments, the traffic route rebuilt from spec.traffic, state
 * changes and the JSON views. No instance sets are started here: every
 * deployment's active and pending sets stay NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "control/registry.h"
#include "core/util.h"

#define BASE_URL "http://127.0.0.1:5001"

static const char key1[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char key2[] = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/* ---- helpers ---------------------------------------------------------- */

/* A normalised endpoint spec; traffic_json may be NULL for no traffic key. */
static json_t *endpoint_spec(const char *name, const char *traffic_json)
{
    json_t *spec = json_pack("{s:s, s:s, s:s, s:{}}", "name", name, "auth_mode", "key",
                             "description", "test endpoint", "tags");
    assert_non_null(spec);
    if (traffic_json != NULL) {
        json_t *traffic = json_loads(traffic_json, JSON_DECODE_ANY, NULL);
        assert_non_null(traffic);
        json_object_set_new(spec, "traffic", traffic);
    }
    return spec;
}

static json_t *deployment_spec(const char *name)
{
    json_t *spec = json_pack("{s:s, s:s, s:s, s:i}", "name", name, "model", "azureml:m:1",
                             "instance_type", "Standard_DS3_v2", "instance_count", 2);
    assert_non_null(spec);
    return spec;
}

static struct endpoint *add_endpoint(struct registry *reg, const char *name,
                                     const char *traffic_json)
{
    struct endpoint *ep = registry_add(reg, name, endpoint_spec(name, traffic_json), key1, key2);
    assert_non_null(ep);
    return ep;
}

static struct deployment *add_deployment(struct endpoint *ep, const char *name)
{
    struct deployment *d = endpoint_add_deployment(ep, name, deployment_spec(name), 1);
    assert_non_null(d);
    return d;
}

static struct endpoint *find_ep(const struct registry *reg, const char *name)
{
    return registry_find(reg, name, strlen(name));
}

static struct deployment *find_dep(const struct endpoint *ep, const char *name)
{
    return endpoint_find(ep, name, strlen(name));
}

static void set_traffic(struct endpoint *ep, const char *traffic_json)
{
    endpoint_set_spec(ep, endpoint_spec(ep->name, traffic_json));
}

/* Checks "YYYY-MM-DDTHH:MM:SSZ". */
static int is_iso8601_z(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

static const char *json_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    assert_non_null(s);
    return s;
}

/* ---- endpoints -------------------------------------------------------- */

static void registry_add_find_remove(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    assert_null(find_ep(&reg, "ep1"));

    int64_t before = inf_unix_now();
    struct endpoint *ep1 = add_endpoint(&reg, "ep1", NULL);
    struct endpoint *ep2 = add_endpoint(&reg, "ep2", NULL);
    struct endpoint *ep3 = add_endpoint(&reg, "ep3", NULL);
    assert_int_equal(reg.n, 3);
    assert_ptr_equal(find_ep(&reg, "ep1"), ep1);
    assert_ptr_equal(find_ep(&reg, "ep2"), ep2);
    assert_ptr_equal(find_ep(&reg, "ep3"), ep3);
    assert_string_equal(ep1->name, "ep1");
    assert_string_equal(ep1->primary_key, key1);
    assert_string_equal(ep1->secondary_key, key2);
    assert_true(ep1->created_at >= before && ep1->created_at <= inf_unix_now());
    assert_true(ep1->updated_at == ep1->created_at);
    assert_int_equal(ep1->ndeps, 0);

    /* Lookups are by exact length: prefixes and extensions do not match. */
    assert_ptr_equal(registry_find(&reg, "ep1/score", 3), ep1);
    assert_null(registry_find(&reg, "ep", 2));
    assert_null(find_ep(&reg, "ep10"));
    assert_null(find_ep(&reg, "EP1"));
    assert_null(registry_find(&reg, "", 0));

    /* Removing the middle one keeps the others findable and in order. */
    registry_remove(&reg, ep2);
    assert_int_equal(reg.n, 2);
    assert_null(find_ep(&reg, "ep2"));
    assert_ptr_equal(reg.eps[0], ep1);
    assert_ptr_equal(reg.eps[1], ep3);
    registry_remove(&reg, ep1);
    registry_remove(&reg, ep3);
    assert_int_equal(reg.n, 0);
    assert_null(find_ep(&reg, "ep3"));

    /* The registry is usable again after emptying, and fini frees the rest. */
    add_endpoint(&reg, "again", NULL);
    assert_non_null(find_ep(&reg, "again"));
    registry_fini(&reg);
    assert_int_equal(reg.n, 0);
    assert_null(reg.eps);
    registry_fini(&reg);
}

static void registry_add_bounds_keys(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    char longkey[200];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    struct endpoint *ep = registry_add(&reg, "ep", endpoint_spec("ep", NULL), longkey, "");
    assert_int_equal(strlen(ep->primary_key), REGISTRY_KEY_LEN);
    assert_memory_equal(ep->primary_key, longkey, REGISTRY_KEY_LEN);
    assert_string_equal(ep->secondary_key, "");
    registry_fini(&reg);
}

/* ---- deployments ------------------------------------------------------ */

static void deployment_add_find_remove(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", NULL);
    struct endpoint *other = add_endpoint(&reg, "other", NULL);

    struct deployment *blue = endpoint_add_deployment(ep, "blue", deployment_spec("blue"), 7);
    struct deployment *green = add_deployment(ep, "green");
    struct deployment *red = add_deployment(ep, "red");
    assert_int_equal(ep->ndeps, 3);
    assert_ptr_equal(blue->ep, ep);
    assert_string_equal(blue->name, "blue");
    assert_int_equal(blue->generation, 7);
    assert_string_equal(blue->state, "Creating");
    assert_string_equal(blue->reason, "");
    assert_null(blue->active);
    assert_null(blue->pending);
    assert_true(blue->created_at > 0 && blue->updated_at == blue->created_at);

    assert_ptr_equal(find_dep(ep, "blue"), blue);
    assert_ptr_equal(find_dep(ep, "green"), green);
    assert_ptr_equal(find_dep(ep, "red"), red);
    assert_ptr_equal(endpoint_find(ep, "bluegreen", 4), blue);
    assert_null(endpoint_find(ep, "blu", 3));
    assert_null(find_dep(ep, "purple"));
    /* Deployments belong to one endpoint. */
    assert_null(find_dep(other, "blue"));

    endpoint_remove_deployment(ep, green);
    assert_int_equal(ep->ndeps, 2);
    assert_null(find_dep(ep, "green"));
    assert_ptr_equal(find_dep(ep, "blue"), blue);
    assert_ptr_equal(find_dep(ep, "red"), red);
    assert_ptr_equal(ep->deps[0], blue);
    assert_ptr_equal(ep->deps[1], red);

    /* The same name can come back after removal. */
    green = add_deployment(ep, "green");
    assert_ptr_equal(find_dep(ep, "green"), green);

    /* Removing an endpoint frees its deployments (checked by LeakSanitizer). */
    registry_remove(&reg, ep);
    assert_int_equal(reg.n, 1);
    registry_fini(&reg);
}

static void deployment_set_state_and_reason(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", NULL);
    struct deployment *d = add_deployment(ep, "blue");

    deployment_set_state(d, "Failed", "instance 0 exited with status 3");
    assert_string_equal(d->state, "Failed");
    assert_string_equal(d->reason, "instance 0 exited with status 3");
    assert_true(d->updated_at >= d->created_at);

    deployment_set_state(d, "Succeeded", NULL);
    assert_string_equal(d->state, "Succeeded");
    assert_string_equal(d->reason, "");

    /* An over-long state is cut to fit, still NUL-terminated. */
    deployment_set_state(d, "AVeryLongStateNameIndeed", "r");
    assert_int_equal(strlen(d->state), sizeof(d->state) - 1);
    assert_memory_equal(d->state, "AVeryLongStateNameIndeed", sizeof(d->state) - 1);

    char reason[4096];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    deployment_set_state(d, "Failed", reason);
    assert_string_equal(d->reason, reason);
    registry_fini(&reg);
}

/* ---- traffic ---------------------------------------------------------- */

static void route_splits_90_10_in_every_window(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", NULL);
    struct deployment *blue = add_deployment(ep, "blue");
    struct deployment *green = add_deployment(ep, "green");
    assert_null(endpoint_route(ep));

    set_traffic(ep, "{\"blue\": 90, \"green\": 10}");
    assert_int_equal(endpoint_traffic_of(ep, "blue"), 90);
    assert_int_equal(endpoint_traffic_of(ep, "green"), 10);
    for (int window = 0; window < 20; window++) {
        int nblue = 0, ngreen = 0;
        for (int i = 0; i < 10; i++) {
            struct deployment *d = endpoint_route(ep);
            if (d == blue)
                nblue++;
            else if (d == green)
                ngreen++;
            else
                fail_msg("pick %d of window %d is neither blue nor green", i, window);
        }
        assert_int_equal(nblue, 9);
        assert_int_equal(ngreen, 1);
    }

    /* Shifting all traffic takes effect at once. */
    set_traffic(ep, "{\"blue\": 0, \"green\": 100}");
    for (int i = 0; i < 50; i++)
        assert_ptr_equal(endpoint_route(ep), green);
    registry_fini(&reg);
}

static void route_skips_unknown_deployments(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", "{\"ghost\": 50, \"blue\": 50}");
    /* Traffic that names no existing deployment routes nowhere. */
    assert_null(endpoint_route(ep));

    struct deployment *blue = add_deployment(ep, "blue");
    for (int i = 0; i < 100; i++)
        assert_ptr_equal(endpoint_route(ep), blue);
    /* The spec still reports what was asked for. */
    assert_int_equal(endpoint_traffic_of(ep, "ghost"), 50);
    assert_int_equal(endpoint_traffic_of(ep, "blue"), 50);
    registry_fini(&reg);
}

static void route_follows_deployment_removal(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", "{\"blue\": 90, \"green\": 10}");
    struct deployment *blue = add_deployment(ep, "blue");
    struct deployment *green = add_deployment(ep, "green");
    int ngreen = 0;
    for (int i = 0; i < 10; i++)
        ngreen += endpoint_route(ep) == green;
    assert_int_equal(ngreen, 1);

    /* A removed deployment is never picked again (no dangling pointer). */
    endpoint_remove_deployment(ep, green);
    for (int i = 0; i < 100; i++)
        assert_ptr_equal(endpoint_route(ep), blue);
    endpoint_remove_deployment(ep, blue);
    assert_null(endpoint_route(ep));
    registry_fini(&reg);
}

static void route_ignores_bad_traffic_values(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", NULL);
    struct deployment *blue = add_deployment(ep, "blue");
    struct deployment *green = add_deployment(ep, "green");

    /* Non-integer and negative weights never win. */
    set_traffic(ep, "{\"blue\": \"90\", \"green\": 10}");
    for (int i = 0; i < 20; i++)
        assert_ptr_equal(endpoint_route(ep), green);
    assert_int_equal(endpoint_traffic_of(ep, "blue"), 0);
    set_traffic(ep, "{\"blue\": -5, \"green\": null}");
    assert_null(endpoint_route(ep));

    /* Zero everywhere routes nowhere. */
    set_traffic(ep, "{\"blue\": 0, \"green\": 0}");
    assert_null(endpoint_route(ep));

    /* traffic that is not an object is treated as empty. */
    set_traffic(ep, "[\"blue\", 100]");
    assert_null(endpoint_route(ep));
    assert_int_equal(endpoint_traffic_of(ep, "blue"), 0);
    set_traffic(ep, "\"blue=100\"");
    assert_null(endpoint_route(ep));
    set_traffic(ep, NULL);
    assert_null(endpoint_route(ep));
    assert_int_equal(endpoint_traffic_of(ep, "blue"), 0);

    set_traffic(ep, "{\"blue\": 100}");
    assert_ptr_equal(endpoint_route(ep), blue);
    registry_fini(&reg);
}

static void route_caps_entries_at_table_size(void **state)
{
    (void)state;
    enum { NDEPS = ROUTE_MAX_ENTRIES + 6 };
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", NULL);
    json_t *traffic = json_object();
    for (int i = 0; i < NDEPS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "d%02d", i);
        add_deployment(ep, name);
        json_object_set_new(traffic, name, json_integer(1));
    }
    json_t *spec = endpoint_spec("ep", NULL);
    json_object_set_new(spec, "traffic", traffic);
    endpoint_set_spec(ep, spec);

    /* One full round: each routed deployment is picked exactly once. */
    int picks[NDEPS] = {0};
    for (int i = 0; i < ROUTE_MAX_ENTRIES; i++) {
        struct deployment *d = endpoint_route(ep);
        assert_non_null(d);
        size_t k = 0;
        while (k < ep->ndeps && ep->deps[k] != d)
            k++;
        assert_true(k < ep->ndeps);
        picks[k]++;
    }
    int picked = 0;
    for (int i = 0; i < NDEPS; i++) {
        assert_true(picks[i] <= 1);
        picked += picks[i];
    }
    assert_int_equal(picked, ROUTE_MAX_ENTRIES);
    registry_fini(&reg);
}

static void traffic_of_reads_the_spec(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", "{\"blue\": 70, \"green\": 30}");
    assert_int_equal(endpoint_traffic_of(ep, "blue"), 70);
    assert_int_equal(endpoint_traffic_of(ep, "green"), 30);
    assert_int_equal(endpoint_traffic_of(ep, "red"), 0);
    assert_int_equal(endpoint_traffic_of(ep, ""), 0);
    struct endpoint *bare = add_endpoint(&reg, "bare", NULL);
    assert_int_equal(endpoint_traffic_of(bare, "blue"), 0);
    registry_fini(&reg);
}

/* ---- JSON views ------------------------------------------------------- */

static void endpoint_json_view(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "my-ep", "{\"blue\": 100}");
    add_deployment(ep, "blue");

    json_t *o = endpoint_to_json(ep, BASE_URL);
    assert_non_null(o);
    assert_string_equal(json_str(o, "scoring_uri"), BASE_URL "/endpoints/my-ep/score");
    assert_string_equal(json_str(o, "provisioning_state"), "Succeeded");
    assert_true(is_iso8601_z(json_str(o, "created_at")));
    assert_true(is_iso8601_z(json_str(o, "updated_at")));
    /* Spec fields are kept as they were. */
    assert_string_equal(json_str(o, "name"), "my-ep");
    assert_string_equal(json_str(o, "auth_mode"), "key");
    assert_string_equal(json_str(o, "description"), "test endpoint");
    assert_true(json_is_object(json_object_get(o, "tags")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "traffic"), "blue")),
                     100);
    /* Keys are never part of the view. */
    char *dump = json_dumps(o, 0);
    assert_null(strstr(dump, key1));
    assert_null(strstr(dump, key2));
    free(dump);
    json_decref(o);
    /* The view is a copy: the registry's spec is untouched. */
    assert_null(json_object_get(ep->spec, "scoring_uri"));

    /* Times are the endpoint's own, in UTC. */
    ep->created_at = 1700000000;
    ep->updated_at = 1700000061;
    o = endpoint_to_json(ep, BASE_URL);
    assert_string_equal(json_str(o, "created_at"), "2023-11-14T22:13:20Z");
    assert_string_equal(json_str(o, "updated_at"), "2023-11-14T22:14:21Z");
    json_decref(o);

    /* An empty base gives a relative URI. */
    o = endpoint_to_json(ep, "");
    assert_string_equal(json_str(o, "scoring_uri"), "/endpoints/my-ep/score");
    json_decref(o);
    registry_fini(&reg);
}

static void deployment_json_view(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = add_endpoint(&reg, "ep", NULL);
    struct deployment *d = endpoint_add_deployment(ep, "blue", deployment_spec("blue"), 3);

    json_t *o = deployment_to_json(d);
    assert_non_null(o);
    assert_string_equal(json_str(o, "provisioning_state"), "Creating");
    assert_string_equal(json_str(o, "reason"), "");
    assert_int_equal(json_integer_value(json_object_get(o, "generation")), 3);
    json_t *instances = json_object_get(o, "instances");
    assert_true(json_is_array(instances));
    assert_int_equal(json_array_size(instances), 0);
    assert_null(json_object_get(o, "updating_instances"));
    assert_true(is_iso8601_z(json_str(o, "created_at")));
    assert_true(is_iso8601_z(json_str(o, "updated_at")));
    assert_string_equal(json_str(o, "name"), "blue");
    assert_string_equal(json_str(o, "model"), "azureml:m:1");
    assert_string_equal(json_str(o, "instance_type"), "Standard_DS3_v2");
    assert_int_equal(json_integer_value(json_object_get(o, "instance_count")), 2);
    json_decref(o);
    assert_null(json_object_get(d->spec, "provisioning_state"));

    deployment_set_state(d, "Failed", "model file missing: model/model.so");
    d->created_at = 0;
    o = deployment_to_json(d);
    assert_string_equal(json_str(o, "provisioning_state"), "Failed");
    assert_string_equal(json_str(o, "reason"), "model file missing: model/model.so");
    assert_string_equal(json_str(o, "created_at"), "1970-01-01T00:00:00Z");
    json_decref(o);
    registry_fini(&reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_add_find_remove),
        cmocka_unit_test(registry_add_bounds_keys),
        cmocka_unit_test(deployment_add_find_remove),
        cmocka_unit_test(deployment_set_state_and_reason),
        cmocka_unit_test(route_splits_90_10_in_every_window),
        cmocka_unit_test(route_skips_unknown_deployments),
        cmocka_unit_test(route_follows_deployment_removal),
        cmocka_unit_test(route_ignores_bad_traffic_values),
        cmocka_unit_test(route_caps_entries_at_table_size),
        cmocka_unit_test(traffic_of_reads_the_spec),
        cmocka_unit_test(endpoint_json_view),
        cmocka_unit_test(deployment_json_view),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
