/*
 * online: validation and normalisation of online endpoint and online
 * deployment specs (Azure ML CLI v2 YAML, already parsed into JSON).
 *
 * Each call walks the input once, builds a fresh normalised object with every
 * default filled in, and stops at the first fault with a message of the form
 * "<source>: <dotted.field>: <what is wrong>". Notes about Azure-only keys are
 * collected privately and handed to the caller only on success. Pure and
 * reentrant: any thread.
 *
 * The output is itself valid input (the CLI validates a file, swaps local
 * paths for artifact references, and the server validates the result again),
 * so every key the output can hold is also accepted on input.
 *
 * The generic steps (messages, notes, typed fields, and the model,
 * code_configuration and environment sections) live in check.c.
 */
#include "spec/spec.h"

#include <string.h>

#include "spec/spec_int.h"

/* ---- online endpoint ---------------------------------------------------- */

static const char *const endpoint_keys[] = {
    "$schema",   "name",    "description",    "tags",
    "auth_mode", "traffic", "mirror_traffic", "public_network_access",
    "identity",  "compute", "kind",           NULL,
};
static const char *const auth_modes[] = {"key", "aml_token", "aad_token", NULL};
static const char *const access_modes[] = {"enabled", "disabled", NULL};

static int endpoint_traffic(struct check *c, json_t *out, const json_t *in)
{
    const json_t *traffic = check_get(in, "traffic");
    const json_t *mirror = check_get(in, "mirror_traffic");
    json_t *empty = json_object();
    int rc = 0;
    if (traffic == NULL)
        traffic = empty;
    if (mirror == NULL)
        mirror = empty;
    if (spec_traffic_validate(traffic, c->err) != 0 ||
        spec_mirror_validate(mirror, traffic, c->err) != 0) {
        rc = inf_err_prefix(c->err, "%s", c->source);
        goto out;
    }
    json_object_set_new(out, "traffic", json_deep_copy(traffic));
    json_object_set_new(out, "mirror_traffic", json_deep_copy(mirror));
out:
    json_decref(empty);
    return rc;
}

json_t *spec_online_endpoint(const json_t *in, const char *source, json_t *notes,
                             struct inf_err *err)
{
    struct check c;
    check_init(&c, source, SPEC_FILE, err);
    json_t *out = json_object();
    char got[80];
    const char *auth;

    if (!json_is_object(in)) {
        spec_value_describe(in, got, sizeof(got));
        check_fail(&c, NULL, "an online endpoint must be a mapping of keys, got %s", got);
        return check_abandon(&c, out);
    }
    if (check_keys(&c, in, endpoint_keys, "online endpoint") != 0 ||
        check_put_name(&c, out, in, "name", "endpoint name") != 0 ||
        check_put_text(&c, out, in, NULL, "description", "") != 0 ||
        check_put_text_map(&c, out, in, NULL, "tags", 0) != 0 ||
        check_put_choice(&c, out, in, NULL, "auth_mode", auth_modes, "key", &auth) != 0)
        return check_abandon(&c, out);
    if (strcmp(auth, "aad_token") == 0) {
        check_fail(&c, "auth_mode", "aad_token is Azure-only; use key or aml_token");
        return check_abandon(&c, out);
    }
    if (endpoint_traffic(&c, out, in) != 0)
        return check_abandon(&c, out);

    const char *access, *key = "public_network_access";
    if (check_put_choice(&c, out, in, NULL, key, access_modes, NULL, &access) != 0)
        return check_abandon(&c, out);
    if (access != NULL && strcmp(access, "disabled") == 0)
        check_note(&c,
                   "'public_network_access: disabled' is not enforced: the endpoint is reachable "
                   "wherever inferd serve listens");
    check_keep_ignored(&c, out, in, "identity", NULL);
    check_keep_ignored(&c, out, in, "compute", NULL);
    check_keep_ignored(&c, out, in, "kind", NULL);
    return check_finish(&c, out, notes);
}

/* ---- online deployment -------------------------------------------------- */

static const char *const deployment_keys[] = {
    "$schema",
    "name",
    "endpoint_name",
    "description",
    "tags",
    "properties",
    "backend",
    "model",
    "code_configuration",
    "environment",
    "environment_variables",
    "instance_type",
    "instance_count",
    "scale_settings",
    "request_settings",
    "liveness_probe",
    "readiness_probe",
    "resources",
    "type",
    "app_insights_enabled",
    "egress_public_network_access",
    "data_collector",
    "model_mount_path",
    NULL,
};
static const char *const scale_keys[] = {
    "type", "min_instances", "max_instances", "polling_interval", "target_utilization_percentage",
    NULL,
};
static const char *const scale_types[] = {"default", "target_utilization", NULL};
static const char *const request_keys[] = {
    "request_timeout_ms",
    "max_concurrent_requests_per_instance",
    "max_queue_wait_ms",
    NULL,
};
static const char *const probe_keys[] = {
    "initial_delay", "period", "timeout", "success_threshold", "failure_threshold", NULL,
};
static const char *const resources_keys[] = {"requests", "limits", NULL};
static const char *const resource_keys[] = {"cpu", "memory", "gpu", NULL};
static const char *const deployment_types[] = {"managed", "kubernetes", NULL};
/* Backends the server may choose for a model without code, by its files. */
static const char *const model_backends[] = {"mlflow", "onnx", "xgboost", NULL};

static int scale_spec(struct check *c, json_t *out, const json_t *in)
{
    const json_t *ss;
    const char *type;
    if (check_get_mapping(c, in, NULL, "scale_settings", &ss) != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, "scale_settings", o);
    if (check_keys(c, ss, scale_keys, "scale_settings") != 0 ||
        check_put_choice(c, o, ss, "scale_settings", "type", scale_types, "default", &type) != 0)
        return INF_EINVAL;
    if (strcmp(type, "default") == 0) {
        for (size_t i = 1; /* every key but "type" */ scale_keys[i] != NULL; i++) {
            if (check_get(ss, scale_keys[i]) != NULL)
                return check_fail(c, "scale_settings",
                                  "'%s' is only used with type: target_utilization", scale_keys[i]);
        }
        return 0;
    }
    if (check_put_int(c, o, ss, "scale_settings", "min_instances", 1, 100, 1) != 0 ||
        check_put_int(c, o, ss, "scale_settings", "max_instances", 1, 100, 1) != 0 ||
        check_put_int(c, o, ss, "scale_settings", "polling_interval", 1, 3600, 1) != 0 ||
        check_put_int(c, o, ss, "scale_settings", "target_utilization_percentage", 1, 100, 70) != 0)
        return INF_EINVAL;
    json_int_t min = json_integer_value(json_object_get(o, "min_instances"));
    json_int_t max = json_integer_value(json_object_get(o, "max_instances"));
    if (max < min)
        return check_fail(c, "scale_settings.max_instances",
                          "must be at least min_instances (%" JSON_INTEGER_FORMAT
                          "), got %" JSON_INTEGER_FORMAT "%s",
                          min, max, check_get(ss, "max_instances") ? "" : " (the default)");
    return 0;
}

static int request_spec(struct check *c, json_t *out, const json_t *in)
{
    const json_t *rs;
    const char *p = "request_settings";
    if (check_get_mapping(c, in, NULL, p, &rs) != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, p, o);
    if (check_keys(c, rs, request_keys, p) != 0 ||
        check_put_int(c, o, rs, p, "request_timeout_ms", 1, 180000, 5000) != 0 ||
        check_put_int(c, o, rs, p, "max_concurrent_requests_per_instance", 1, 1000, 1) != 0 ||
        check_put_int(c, o, rs, p, "max_queue_wait_ms", 0, 180000, 500) != 0)
        return INF_EINVAL;
    return 0;
}

static int probe_spec(struct check *c, json_t *out, const json_t *in, const char *key)
{
    const json_t *pr;
    if (check_get_mapping(c, in, NULL, key, &pr) != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, key, o);
    if (check_keys(c, pr, probe_keys, key) != 0 ||
        check_put_int(c, o, pr, key, "initial_delay", 0, 3600, 10) != 0 ||
        check_put_int(c, o, pr, key, "period", 1, 3600, 10) != 0 ||
        check_put_int(c, o, pr, key, "timeout", 1, 3600, 2) != 0 ||
        check_put_int(c, o, pr, key, "success_threshold", 1, 1000, 1) != 0 ||
        check_put_int(c, o, pr, key, "failure_threshold", 1, 1000, 30) != 0)
        return INF_EINVAL;
    return 0;
}

/* resources.requests / resources.limits: cpu, memory (and gpu) as written,
 * "500m", "2Gi", 2 or 0.5. */
static int resources_spec(struct check *c, json_t *out, const json_t *in)
{
    char field[CHECK_FIELD_MAX], part[CHECK_FIELD_MAX], got[80];
    const json_t *res;
    if (check_get_mapping(c, in, NULL, "resources", &res) != 0)
        return INF_EINVAL;
    if (res == NULL)
        return 0;
    if (check_keys(c, res, resources_keys, "resources") != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, "resources", o);
    for (size_t i = 0; resources_keys[i] != NULL; i++) {
        const json_t *set;
        check_join(part, sizeof(part), "resources", resources_keys[i]);
        if (check_get_mapping(c, res, "resources", resources_keys[i], &set) != 0 ||
            (set != NULL && check_keys(c, set, resource_keys, part) != 0))
            return INF_EINVAL;
        if (set == NULL)
            continue;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)set, key, v)
        {
            int ok = (json_is_string(v) && json_string_length(v) > 0) ||
                     (json_is_number(v) && json_number_value(v) >= 0);
            if (!ok) {
                spec_value_describe(v, got, sizeof(got));
                return check_fail(c, check_join(field, sizeof(field), part, key),
                                  "must be a quantity such as 2, 0.5, \"500m\" or \"4Gi\", got %s",
                                  got);
            }
            if (strcmp(key, "gpu") == 0)
                check_note(c, "'%s' is ignored: inferd does not assign GPUs",
                           check_join(field, sizeof(field), part, key));
        }
        json_object_set_new(o, resources_keys[i], json_deep_copy(set));
    }
    return 0;
}

/* The backend that runs the deployment, from what it has (see spec.h). */
static int pick_backend(struct check *c, const char *code_backend, const json_t *model,
                        const json_t *env, const json_t *in, const char **backend)
{
    const char *given;
    if (check_get_string(c, in, NULL, "backend", &given) != 0)
        return INF_EINVAL;
    if (code_backend != NULL)
        *backend = code_backend;
    else if (json_object_get(env, "inference_config") != NULL)
        *backend = "custom";
    else if (model != NULL)
        *backend = "model";
    else
        return check_fail(
            c, NULL,
            "a deployment needs something to run: model (path to the model), "
            "code_configuration (code and scoring_script), or environment.inference_config "
            "(a custom server)");
    if (given == NULL || strcmp(given, *backend) == 0)
        return 0;
    /* Re-validating a stored spec: with only a model, the server may have
     * settled the backend from the model's files. */
    for (size_t i = 0; strcmp(*backend, "model") == 0 && model_backends[i] != NULL; i++) {
        if (strcmp(given, model_backends[i]) == 0) {
            *backend = model_backends[i];
            return 0;
        }
    }
    char shown[64];
    spec_text_show(given, strlen(given), shown, sizeof(shown));
    return check_fail(c, "backend", "%s does not match the deployment, which runs as '%s'", shown,
                      *backend);
}

json_t *spec_online_deployment(const json_t *in, const char *source, enum spec_mode mode,
                               json_t *notes, struct inf_err *err)
{
    struct check c;
    check_init(&c, source, mode, err);
    json_t *out = json_object();
    json_t *model = NULL, *code = NULL, *env = NULL;
    const char *code_backend = NULL, *backend = NULL, *s = NULL;
    char got[80];

    if (!json_is_object(in)) {
        spec_value_describe(in, got, sizeof(got));
        check_fail(&c, NULL, "an online deployment must be a mapping of keys, got %s", got);
        goto fail;
    }
    if (check_keys(&c, in, deployment_keys, "online deployment") != 0 ||
        check_put_name(&c, out, in, "name", "deployment name") != 0 ||
        check_put_name(&c, out, in, "endpoint_name", "endpoint name") != 0 ||
        check_put_text(&c, out, in, NULL, "description", "") != 0 ||
        check_put_text_map(&c, out, in, NULL, "tags", 0) != 0 ||
        (check_get(in, "properties") != NULL &&
         check_put_text_map(&c, out, in, NULL, "properties", 0) != 0) ||
        check_model(&c, in, &model) != 0 ||
        check_code(&c, in, CHECK_SCRIPTS_PY_OR_SO, &code, &code_backend) != 0 ||
        check_environment(&c, in, &env) != 0 ||
        pick_backend(&c, code_backend, model, env, in, &backend) != 0)
        goto fail;

    json_object_set_new(out, "backend", json_string(backend));
    if (model != NULL)
        json_object_set_new(out, "model", model);
    if (code != NULL)
        json_object_set_new(out, "code_configuration", code);
    if (env != NULL)
        json_object_set_new(out, "environment", env);
    model = code = env = NULL;

    if (check_put_text_map(&c, out, in, NULL, "environment_variables", 1) != 0 ||
        check_get_string(&c, in, NULL, "instance_type", &s) != 0)
        goto fail;
    if (s != NULL) {
        json_object_set_new(out, "instance_type", json_string(s));
        check_note(&c, "'instance_type' is ignored: instances run on this machine");
    }
    if (check_put_int(&c, out, in, NULL, "instance_count", 1, 100, 1) != 0 ||
        scale_spec(&c, out, in) != 0 || request_spec(&c, out, in) != 0 ||
        probe_spec(&c, out, in, "liveness_probe") != 0 ||
        probe_spec(&c, out, in, "readiness_probe") != 0 || resources_spec(&c, out, in) != 0 ||
        check_put_choice(&c, out, in, NULL, "type", deployment_types, NULL, &s) != 0)
        goto fail;
    if (s != NULL && strcmp(s, "kubernetes") == 0)
        check_note(&c, "'type: kubernetes' is ignored: instances run on this machine");

    json_t *insights = check_get(in, "app_insights_enabled");
    if (insights != NULL && !json_is_boolean(insights)) {
        spec_value_describe(insights, got, sizeof(got));
        check_fail(&c, "app_insights_enabled", "must be true or false, got %s", got);
        goto fail;
    }
    if (insights != NULL) {
        json_object_set_new(out, "app_insights_enabled", json_copy(insights));
        if (json_is_true(insights))
            check_note(&c,
                       "'app_insights_enabled' is Azure-only and ignored; see inferd's /metrics "
                       "and instance logs");
    }
    if (check_put_choice(&c, out, in, NULL, "egress_public_network_access", access_modes, NULL,
                         &s) != 0)
        goto fail;
    if (s != NULL && strcmp(s, "disabled") == 0)
        check_note(&c, "'egress_public_network_access: disabled' is not enforced: instances can "
                       "reach the network");
    check_keep_ignored(&c, out, in, "data_collector", NULL);
    check_keep_ignored(&c, out, in, "model_mount_path",
                       "ignored: inferd sets AZUREML_MODEL_DIR to the model's location itself");
    return check_finish(&c, out, notes);

fail:
    json_decref(model);
    json_decref(code);
    json_decref(env);
    return check_abandon(&c, out);
}
