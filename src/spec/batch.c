/*
 * batch: validation and normalisation of batch endpoint and batch
 * deployment specs (Azure ML CLI v2 YAML, already parsed into JSON).
 *
 * Works like online.c, with the same steps from check.c: each call walks the
 * input once, builds a fresh normalised object with every default filled
 * in, and stops at the first fault with "<source>: <dotted.field>: <what is
 * wrong>". Notes reach the caller only on success. The output is itself
 * valid input, so the server can validate what the CLI normalised. Pure and
 * reentrant: any thread.
 *
 * Deployment layouts. Azure has two: `type: model` (modelBatchDeployment),
 * with the run settings under `settings:` and the instance count under
 * `resources:`, and the legacy one (batchDeployment, no `type`), with the
 * same settings keys at the root. Without `type`, a `settings:` section is
 * accepted too (a `type: model` file that lost its type line), but one file
 * uses one layout: settings keys at the root next to `settings:` or
 * `type: model` are refused with a message saying where they go. The
 * normalised output keeps `instance_count` and `environment_variables` at
 * the root (as online deployments do), so those two are accepted there in
 * every layout, as long as each is given only once.
 */
#include "spec/spec.h"

#include <string.h>
#include <strings.h>

#include "spec/spec_int.h"

#define OUTPUT_NAME_MAX 255 /* a file name, as most filesystems allow */

/* ---- batch endpoint ----------------------------------------------------- */

static const char *const endpoint_keys[] = {
    "$schema", "name", "description", "tags", "auth_mode", "defaults", NULL,
};
static const char *const defaults_keys[] = {"deployment_name", NULL};
static const char *const auth_modes[] = {"aml_token", "aad_token", NULL};

/* defaults.deployment_name: "" until a deployment is made the default. */
static int defaults_spec(struct check *c, json_t *out, const json_t *in)
{
    const json_t *defaults;
    const char *name;
    struct inf_err name_err;
    if (check_get_mapping(c, in, NULL, "defaults", &defaults) != 0 ||
        check_keys(c, defaults, defaults_keys, "defaults") != 0 ||
        check_get_string(c, defaults, "defaults", "deployment_name", &name) != 0)
        return INF_EINVAL;
    if (name == NULL)
        name = "";
    if (name[0] != '\0' && spec_name_valid(name, "deployment name", &name_err) != 0)
        return check_fail(c, "defaults.deployment_name", "%s", name_err.msg);
    json_object_set_new(out, "defaults", json_pack("{s:s}", "deployment_name", name));
    return 0;
}

json_t *spec_batch_endpoint(const json_t *in, const char *source, json_t *notes,
                            struct inf_err *err)
{
    struct check c;
    check_init(&c, source, SPEC_FILE, err);
    json_t *out = json_object();
    char got[80];
    const char *auth;

    if (!json_is_object(in)) {
        spec_value_describe(in, got, sizeof(got));
        check_fail(&c, NULL, "a batch endpoint must be a mapping of keys, got %s", got);
        return check_abandon(&c, out);
    }
    if (check_keys(&c, in, endpoint_keys, "batch endpoint") != 0 ||
        check_put_name(&c, out, in, "name", "endpoint name") != 0 ||
        check_put_text(&c, out, in, NULL, "description", "") != 0 ||
        check_put_text_map(&c, out, in, NULL, "tags", 0) != 0 ||
        check_get_string(&c, in, NULL, "auth_mode", &auth) != 0)
        return check_abandon(&c, out);
    if (auth != NULL && strcasecmp(auth, "key") == 0) {
        check_fail(&c, "auth_mode",
                   "key is not available for batch endpoints, which take tokens; use aml_token "
                   "(Azure's aad_token is accepted too)");
        return check_abandon(&c, out);
    }
    if (check_put_choice(&c, out, in, NULL, "auth_mode", auth_modes, "aml_token", &auth) != 0)
        return check_abandon(&c, out);
    if (strcmp(auth, "aad_token") == 0) {
        json_object_set_new(out, "auth_mode", json_string("aml_token"));
        check_note(&c, "'auth_mode: aad_token' is stored as aml_token: inferd's own endpoint "
                       "tokens replace Azure AD tokens");
    }
    if (defaults_spec(&c, out, in) != 0)
        return check_abandon(&c, out);
    return check_finish(&c, out, notes);
}

/* ---- batch deployment --------------------------------------------------- */

/* The settings keys. Batch jobs pass environment_variables to the scoring
 * processes; the rest (from run_keys on) shape the job itself. */
static const char *const settings_keys[] = {
    "environment_variables",
    "max_concurrency_per_instance",
    "mini_batch_size",
    "retry_settings",
    "error_threshold",
    "logging_level",
    "output_action",
    "output_file_name",
    NULL,
};
static const char *const *const run_keys = settings_keys + 1;

/* Every layout's root keys, the legacy layout's settings keys included. */
static const char *const deployment_keys[] = {
    "$schema",
    "name",
    "endpoint_name",
    "description",
    "tags",
    "properties",
    "type",
    "backend",
    "model",
    "code_configuration",
    "environment",
    "compute",
    "resources",
    "instance_type",
    "instance_count",
    "environment_variables",
    "settings",
    "max_concurrency_per_instance",
    "mini_batch_size",
    "retry_settings",
    "error_threshold",
    "logging_level",
    "output_action",
    "output_file_name",
    NULL,
};
static const char *const resources_keys[] = {"instance_count", "instance_type", NULL};
static const char *const retry_keys[] = {"max_retries", "timeout", NULL};
static const char *const logging_levels[] = {"debug", "info", "warning", "error", "critical", NULL};
static const char *const output_actions[] = {"append_row", "summary_only", NULL};

/* Where a deployment's settings are: in.settings (parent "settings") or,
 * in the legacy layout, the root itself (parent NULL). */
struct layout {
    const json_t *settings; /* NULL: a settings: layout with no section */
    const char *parent;
};

/* Reads `type` and picks the layout (see the top of the file). */
static int layout_spec(struct check *c, const json_t *in, struct layout *lay)
{
    const char *type, *root_key = NULL;
    const json_t *settings;
    char shown[64];
    if (check_get_string(c, in, NULL, "type", &type) != 0)
        return INF_EINVAL;
    if (type != NULL && strcasecmp(type, "model") != 0) {
        spec_text_show(type, strlen(type), shown, sizeof(shown));
        return check_fail(c, "type",
                          "only 'type: model' is supported, got %s: inferd runs a model with an "
                          "optional scoring script, not pipeline components",
                          shown);
    }
    if (check_get_mapping(c, in, NULL, "settings", &settings) != 0)
        return INF_EINVAL;
    for (size_t i = 0; run_keys[i] != NULL && root_key == NULL; i++) {
        if (check_get(in, run_keys[i]) != NULL)
            root_key = run_keys[i];
    }
    if (root_key != NULL && type != NULL)
        return check_fail(c, root_key, "with type: model, move it under settings: (settings.%s)",
                          root_key);
    if (root_key != NULL && settings != NULL)
        return check_fail(c, root_key,
                          "this file has a settings: section, so move it there too (only the "
                          "legacy layout, without settings:, keeps settings at the root)");
    int legacy = type == NULL && settings == NULL;
    lay->settings = legacy ? in : settings;
    lay->parent = legacy ? NULL : "settings";
    if (!legacy && check_keys(c, settings, settings_keys, "settings") != 0)
        return INF_EINVAL;
    return 0;
}

/* For a value that may be given at the root (root[key], as the output keeps
 * it) or nested (nested[key], Azure's place): the object that holds it and
 * its parent for messages; the root when neither does. Both is an error. */
static int one_place(struct check *c, const json_t *root, const json_t *nested,
                     const char *nested_parent, const char *key, const json_t **obj,
                     const char **parent)
{
    char field[CHECK_FIELD_MAX];
    int at_root = check_get(root, key) != NULL;
    int at_nested = nested != root && check_get(nested, key) != NULL;
    if (at_root && at_nested)
        return check_fail(c, check_join(field, sizeof(field), nested_parent, key),
                          "is also given as %s at the top level; keep one", key);
    *obj = at_nested ? nested : root;
    *parent = at_nested ? nested_parent : NULL;
    return 0;
}

/* instance_count and instance_type, from resources: or the root. */
static int resources_spec(struct check *c, json_t *out, const json_t *in)
{
    const json_t *res, *obj;
    const char *parent, *type;
    char field[CHECK_FIELD_MAX];
    if (check_get_mapping(c, in, NULL, "resources", &res) != 0 ||
        check_keys(c, res, resources_keys, "resources") != 0 ||
        one_place(c, in, res, "resources", "instance_type", &obj, &parent) != 0 ||
        check_get_string(c, obj, parent, "instance_type", &type) != 0)
        return INF_EINVAL;
    if (type != NULL) {
        json_object_set_new(out, "instance_type", json_string(type));
        check_note(c, "'%s' is ignored: batch jobs run on this machine",
                   check_join(field, sizeof(field), parent, "instance_type"));
    }
    if (one_place(c, in, res, "resources", "instance_count", &obj, &parent) != 0 ||
        check_put_int(c, out, obj, parent, "instance_count", 1, 64, 1) != 0)
        return INF_EINVAL;
    return 0;
}

static int retry_spec(struct check *c, json_t *out, const struct layout *lay)
{
    char where[CHECK_FIELD_MAX];
    const json_t *rs;
    check_join(where, sizeof(where), lay->parent, "retry_settings");
    if (check_get_mapping(c, lay->settings, lay->parent, "retry_settings", &rs) != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, "retry_settings", o);
    if (check_keys(c, rs, retry_keys, where) != 0 ||
        check_put_int(c, o, rs, where, "max_retries", 0, 100, 3) != 0 ||
        check_put_int(c, o, rs, where, "timeout", 1, 86400, 30) != 0)
        return INF_EINVAL;
    return 0;
}

/* error_threshold: failed files a job tolerates; -1 for no limit. */
static int threshold_spec(struct check *c, json_t *out, const struct layout *lay)
{
    char field[CHECK_FIELD_MAX], got[80];
    json_t *v = check_get(lay->settings, "error_threshold");
    json_int_t n = -1;
    if (v != NULL) {
        n = json_integer_value(v);
        if (!json_is_integer(v) || n < -1) {
            spec_value_describe(v, got, sizeof(got));
            return check_fail(c, check_join(field, sizeof(field), lay->parent, "error_threshold"),
                              "must be -1 (no limit) or the number of failed files to tolerate "
                              "(0 or more), got %s",
                              got);
        }
    }
    json_object_set_new(out, "error_threshold", json_integer(n));
    return 0;
}

/* output_file_name: the job's output file, created inside its output folder,
 * so a plain name that cannot point anywhere else. */
static int output_name_spec(struct check *c, json_t *out, const struct layout *lay)
{
    char field[CHECK_FIELD_MAX], shown[64];
    const char *name;
    check_join(field, sizeof(field), lay->parent, "output_file_name");
    if (check_get_string(c, lay->settings, lay->parent, "output_file_name", &name) != 0)
        return INF_EINVAL;
    if (name == NULL)
        name = "predictions.csv";
    spec_text_show(name, strlen(name), shown, sizeof(shown));
    if (name[0] == '\0')
        return check_fail(c, field, "must not be empty");
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return check_fail(c, field, "%s is not a file name", shown);
    if (strchr(name, '/') != NULL || strchr(name, '\\') != NULL)
        return check_fail(c, field,
                          "%s must be a plain file name, without '/' or '\\' (the file goes in "
                          "the job's output folder)",
                          shown);
    for (const char *p = name; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return check_fail(c, field, "%s contains a control character", shown);
    }
    if (strlen(name) > OUTPUT_NAME_MAX)
        return check_fail(c, field, "%s is too long: at most %d bytes", shown, OUTPUT_NAME_MAX);
    json_object_set_new(out, "output_file_name", json_string(name));
    return 0;
}

/* The job settings, into out.settings, and environment_variables, into out. */
static int settings_spec(struct check *c, json_t *out, const json_t *in, const struct layout *lay)
{
    const json_t *obj, *s = lay->settings;
    const char *parent, *p = lay->parent;
    if (one_place(c, in, s, p, "environment_variables", &obj, &parent) != 0 ||
        check_put_text_map(c, out, obj, parent, "environment_variables", 1) != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, "settings", o);
    if (check_put_int(c, o, s, p, "max_concurrency_per_instance", 1, 64, 1) != 0 ||
        check_put_int(c, o, s, p, "mini_batch_size", 1, 100000, 10) != 0 ||
        retry_spec(c, o, lay) != 0 || threshold_spec(c, o, lay) != 0 ||
        check_put_choice(c, o, s, p, "logging_level", logging_levels, "info", NULL) != 0 ||
        check_put_choice(c, o, s, p, "output_action", output_actions, "append_row", NULL) != 0 ||
        output_name_spec(c, o, lay) != 0)
        return INF_EINVAL;
    return 0;
}

/* The backend that runs the deployment: its Python script, or else its
 * model, which must then be an MLflow model (the server checks its files). */
static int pick_backend(struct check *c, const char *code_backend, const json_t *model,
                        const json_t *in, const char **backend)
{
    const char *given, *type = json_string_value(json_object_get(model, "type"));
    if (check_get_string(c, in, NULL, "backend", &given) != 0)
        return INF_EINVAL;
    if (code_backend != NULL) {
        *backend = code_backend;
    } else if (model == NULL) {
        return check_fail(c, "model",
                          "required: without code_configuration a batch deployment runs an "
                          "MLflow model; give model.path, or code_configuration with a scoring "
                          "script");
    } else if (type != NULL && strcmp(type, "custom_model") == 0) {
        return check_fail(c, "model.type",
                          "custom_model needs code_configuration with a scoring script; "
                          "without code, batch deployments run MLflow models (mlflow_model)");
    } else {
        *backend = "model";
    }
    if (given == NULL || strcmp(given, *backend) == 0)
        return 0;
    /* Re-validating a stored spec: the server may have settled a model
     * without code as MLflow. */
    if (strcmp(*backend, "model") == 0 && strcmp(given, "mlflow") == 0) {
        *backend = "mlflow";
        return 0;
    }
    char shown[64];
    spec_text_show(given, strlen(given), shown, sizeof(shown));
    return check_fail(c, "backend", "%s does not match the deployment, which runs as '%s'", shown,
                      *backend);
}

json_t *spec_batch_deployment(const json_t *in, const char *source, enum spec_mode mode,
                              json_t *notes, struct inf_err *err)
{
    struct check c;
    check_init(&c, source, mode, err);
    json_t *out = json_object();
    json_t *model = NULL, *code = NULL, *env = NULL;
    const char *code_backend = NULL, *backend = NULL, *compute;
    struct layout lay = {NULL, NULL};
    char got[80];

    if (!json_is_object(in)) {
        spec_value_describe(in, got, sizeof(got));
        check_fail(&c, NULL, "a batch deployment must be a mapping of keys, got %s", got);
        goto fail;
    }
    /* The layout first: a pipeline deployment's keys are unknown here, and
     * "only type: model" says more than "unknown key 'component'". */
    if (layout_spec(&c, in, &lay) != 0 ||
        check_keys(&c, in, deployment_keys, "batch deployment") != 0 ||
        check_put_name(&c, out, in, "name", "deployment name") != 0 ||
        (check_get(in, "endpoint_name") != NULL &&
         check_put_name(&c, out, in, "endpoint_name", "endpoint name") != 0) ||
        check_put_text(&c, out, in, NULL, "description", "") != 0 ||
        check_put_text_map(&c, out, in, NULL, "tags", 0) != 0 ||
        (check_get(in, "properties") != NULL &&
         check_put_text_map(&c, out, in, NULL, "properties", 0) != 0) ||
        check_model(&c, in, &model) != 0 ||
        check_code(&c, in, CHECK_SCRIPTS_PY, &code, &code_backend) != 0 ||
        check_environment(&c, in, &env) != 0)
        goto fail;
    if (json_object_get(env, "inference_config") != NULL) {
        check_fail(&c, "environment.inference_config",
                   "a batch deployment runs a scoring script or an MLflow model, not a custom "
                   "server; remove inference_config");
        goto fail;
    }
    if (pick_backend(&c, code_backend, model, in, &backend) != 0)
        goto fail;

    json_object_set_new(out, "type", json_string("model"));
    json_object_set_new(out, "backend", json_string(backend));
    if (model != NULL)
        json_object_set_new(out, "model", model);
    if (code != NULL)
        json_object_set_new(out, "code_configuration", code);
    if (env != NULL)
        json_object_set_new(out, "environment", env);
    model = code = env = NULL;

    if (check_get_string(&c, in, NULL, "compute", &compute) != 0)
        goto fail;
    if (compute != NULL) {
        json_object_set_new(out, "compute", json_string(compute));
        check_note(&c, "'compute' is Azure-only and ignored: batch jobs run on this machine");
    }
    if (resources_spec(&c, out, in) != 0 || settings_spec(&c, out, in, &lay) != 0)
        goto fail;
    return check_finish(&c, out, notes);

fail:
    json_decref(model);
    json_decref(code);
    json_decref(env);
    return check_abandon(&c, out);
}
