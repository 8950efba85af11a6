/*
 * cli_batch: the `inferd batch-endpoint` verbs (create, update, show,
 * list, delete, get-credentials, invoke, list-jobs) and the
 * `inferd batch-deployment` verbs (create, update, show, list, delete).
 * Specs are validated locally (spec_batch_endpoint, spec_batch_deployment)
 * before anything is sent; model and code folders, and a local invoke
 * input, are uploaded as artifacts with the online deployment's helpers.
 * Each verb is a few REST calls (docs/rest-api.md "Batch endpoints").
 * The input and option checks are pure functions, unit-tested. Main
 * thread; run once by cli_main.
 */
#include "cli/cli_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact/artifact.h"
#include "core/util.h"
#include "spec/spec.h"

#define DATASTORE_PREFIX "azureml://datastores/"
#define DATASTORE_PATHS "/paths/"
#define DATASTORE_NAME_MAX 255
#define FILE_NAME_MAX 255
#define ENV_PREFIX "environment_variables."
#define ENV_NAME_MAX 255
#define SHOWN_MAX 200 /* characters of a user's value quoted in a message */

/* ---- pure helpers: inputs and invoke fields ---- */

static int datastore_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

int cli_batch_datastore_uri_check(const char *uri, struct inf_err *err)
{
    size_t prefix_len = strlen(DATASTORE_PREFIX);
    if (strncmp(uri, DATASTORE_PREFIX, prefix_len) != 0)
        return inf_err_set(err, INF_EINVAL,
                           "'%.*s' is not a datastore URI (azureml://datastores/NAME/paths/PATH)",
                           SHOWN_MAX, uri);
    const char *name = uri + prefix_len;
    size_t name_len = strcspn(name, "/");
    if (name_len == 0)
        return inf_err_set(err, INF_EINVAL, "'%.*s': the datastore name is missing", SHOWN_MAX,
                           uri);
    if (name_len > DATASTORE_NAME_MAX)
        return inf_err_set(err, INF_EINVAL, "'%.*s...': the datastore name is longer than %d",
                           SHOWN_MAX, uri, DATASTORE_NAME_MAX);
    for (size_t i = 0; i < name_len; i++)
        if (!datastore_name_char(name[i]))
            return inf_err_set(err, INF_EINVAL,
                               "'%.*s': datastore name '%.*s' may have only letters, digits, "
                               "'_' and '-'",
                               SHOWN_MAX, uri, (int)name_len, name);
    const char *rest = name + name_len;
    size_t paths_len = strlen(DATASTORE_PATHS);
    if (strncmp(rest, DATASTORE_PATHS, paths_len) != 0)
        return inf_err_set(err, INF_EINVAL,
                           "'%.*s': expected '/paths/' after the datastore name "
                           "(azureml://datastores/NAME/paths/PATH)",
                           SHOWN_MAX, uri);
    if (!cli_relpath_safe(rest + paths_len, 1))
        return inf_err_set(err, INF_EINVAL,
                           "'%.*s': the path must be relative to the datastore, without '..', "
                           "'.' or empty parts",
                           SHOWN_MAX, uri);
    return 0;
}

/* "scheme://" at the start of s: letters first, then letters, digits, '+',
 * '-' or '.' (RFC 3986). */
static int has_scheme(const char *s)
{
    const char *p = s;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    return strncmp(p, "://", 3) == 0;
}

static int artifact_ref_check(const char *input, struct inf_err *err)
{
    const char *id = input + strlen(SPEC_ARTIFACT_PREFIX);
    size_t id_len = strcspn(id, "/");
    char hex[65];
    if (id_len != 64)
        return inf_err_set(err, INF_EINVAL,
                           "'%.*s': an artifact reference is artifact:<64 hex digits>[/PATH]",
                           SHOWN_MAX, input);
    memcpy(hex, id, 64);
    hex[64] = '\0';
    if (!artifact_id_valid(hex))
        return inf_err_set(err, INF_EINVAL,
                           "'%.*s': an artifact id is 64 lower-case hex digits (a SHA-256)",
                           SHOWN_MAX, input);
    if (id[64] == '/' && !cli_relpath_safe(id + 65, 1))
        return inf_err_set(err, INF_EINVAL,
                           "'%.*s': the path inside the artifact must be relative, without "
                           "'..', '.' or empty parts",
                           SHOWN_MAX, input);
    return 0;
}

int cli_batch_input_classify(const char *input, enum cli_batch_input *kind, struct inf_err *err)
{
    if (*input == '\0')
        return inf_err_set(err, INF_EINVAL,
                           "the input is empty: give a folder, a file or "
                           "azureml://datastores/NAME/paths/PATH");
    if (strncmp(input, DATASTORE_PREFIX, strlen(DATASTORE_PREFIX)) == 0) {
        *kind = CLI_BATCH_INPUT_DATASTORE;
        return cli_batch_datastore_uri_check(input, err);
    }
    if (strncmp(input, "azureml://", 10) == 0)
        return inf_err_set(err, INF_EUNSUPPORTED,
                           "'%.*s': inferd reads only azureml://datastores/NAME/paths/PATH URIs "
                           "(data folders the server allows with `inferd serve --datastore "
                           "NAME=DIR`)",
                           SHOWN_MAX, input);
    if (strncmp(input, "azureml:", 8) == 0)
        return inf_err_set(err, INF_EUNSUPPORTED,
                           "'%.*s' names an Azure data asset; inferd has no data asset "
                           "registry: give a local folder or file, or "
                           "azureml://datastores/NAME/paths/PATH",
                           SHOWN_MAX, input);
    if (strncmp(input, SPEC_ARTIFACT_PREFIX, strlen(SPEC_ARTIFACT_PREFIX)) == 0) {
        *kind = CLI_BATCH_INPUT_ARTIFACT;
        return artifact_ref_check(input, err);
    }
    if (has_scheme(input))
        return inf_err_set(err, INF_EUNSUPPORTED,
                           "'%.*s': inferd does not fetch URLs; download the data and give the "
                           "local folder, or use azureml://datastores/NAME/paths/PATH",
                           SHOWN_MAX, input);
    *kind = CLI_BATCH_INPUT_LOCAL;
    return 0;
}

enum field_kind {
    FIELD_INT,
    FIELD_DEPLOYMENT, /* a deployment name */
    FIELD_JOB,        /* a job name */
    FIELD_DATASTORE,  /* a datastore URI */
    FIELD_FILE_NAME,  /* a plain file name */
};

struct invoke_field {
    const char *key;
    enum field_kind kind;
    long min, max; /* FIELD_INT only */
};

/* The invoke body's fields (docs/rest-api.md), with the deployment spec's
 * ranges; `input` is set from --input only. */
static const struct invoke_field invoke_fields[] = {
    {"deployment_name", FIELD_DEPLOYMENT, 0, 0},
    {"job_name", FIELD_JOB, 0, 0},
    {"instance_count", FIELD_INT, 1, 64},
    {"mini_batch_size", FIELD_INT, 1, 100000},
    {"max_concurrency_per_instance", FIELD_INT, 1, 64},
    {"max_retries", FIELD_INT, 0, 100},
    {"timeout", FIELD_INT, 1, 86400},
    {"error_threshold", FIELD_INT, -1, INT_MAX},
    {"output_path", FIELD_DATASTORE, 0, 0},
    {"output_file_name", FIELD_FILE_NAME, 0, 0},
};

/* Azure's deployment-spec spellings of the same overrides. */
static const struct {
    const char *alias, *key;
} invoke_aliases[] = {
    {"retry_settings.max_retries", "max_retries"},
    {"retry_settings.timeout", "timeout"},
    {"resources.instance_count", "instance_count"},
};

static int env_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > ENV_NAME_MAX || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return 0;
    }
    return 1;
}

static int file_name_valid(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len <= FILE_NAME_MAX && strchr(name, '/') == NULL &&
           cli_relpath_safe(name, 0);
}

static int set_env(json_t *body, const char *name, const char *value, struct inf_err *err)
{
    if (!env_name_valid(name))
        return inf_err_set(err, INF_EINVAL,
                           "'%.*s' is not an environment variable name (letters, digits and "
                           "'_', not starting with a digit)",
                           SHOWN_MAX, name);
    json_t *text = json_string(value);
    if (text == NULL)
        return inf_err_set(err, INF_EINVAL, "the value of %s is not UTF-8 text", name);
    json_t *env = json_object_get(body, "environment_variables");
    if (!json_is_object(env)) {
        env = json_object();
        json_object_set_new(body, "environment_variables", env);
    }
    json_object_set_new(env, name, text);
    return 0;
}

static int set_field(json_t *body, const struct invoke_field *f, const char *value,
                     struct inf_err *err)
{
    json_t *v = NULL;
    long n = 0;
    int rc = 0;
    switch (f->kind) {
    case FIELD_INT:
        if (inf_parse_long(value, f->min, f->max, &n) != 0)
            return inf_err_set(err, INF_EINVAL, "'%.*s' is not an integer from %ld to %ld",
                               SHOWN_MAX, value, f->min, f->max);
        v = json_integer(n);
        break;
    case FIELD_DEPLOYMENT:
        rc = spec_name_valid(value, "deployment name", err);
        break;
    case FIELD_JOB:
        rc = cli_job_name_valid(value, err);
        break;
    case FIELD_DATASTORE:
        rc = cli_batch_datastore_uri_check(value, err);
        break;
    case FIELD_FILE_NAME:
        if (!file_name_valid(value))
            rc = inf_err_set(err, INF_EINVAL,
                             "'%.*s' is not a plain file name (no '/', not '.' or '..', at most "
                             "%d characters)",
                             SHOWN_MAX, value, FILE_NAME_MAX);
        break;
    }
    if (rc != 0)
        return rc;
    if (v == NULL)
        v = json_string(value);
    if (v == NULL)
        return inf_err_set(err, INF_EINVAL, "'%s' is not UTF-8 text", f->key);
    json_object_set_new(body, f->key, v);
    return 0;
}

int cli_batch_invoke_set(json_t *body, const char *key, const char *value, struct inf_err *err)
{
    for (size_t i = 0; i < sizeof(invoke_aliases) / sizeof(invoke_aliases[0]); i++)
        if (strcmp(key, invoke_aliases[i].alias) == 0)
            key = invoke_aliases[i].key;
    if (strncmp(key, ENV_PREFIX, strlen(ENV_PREFIX)) == 0)
        return set_env(body, key + strlen(ENV_PREFIX), value, err);
    for (size_t i = 0; i < sizeof(invoke_fields) / sizeof(invoke_fields[0]); i++)
        if (strcmp(key, invoke_fields[i].key) == 0)
            return set_field(body, &invoke_fields[i], value, err);
    return inf_err_set(err, INF_EINVAL,
                       "unknown field '%.*s'; invoke takes deployment_name, job_name, "
                       "instance_count, mini_batch_size, max_concurrency_per_instance, "
                       "max_retries, timeout, error_threshold, output_path, output_file_name "
                       "and environment_variables.NAME",
                       SHOWN_MAX, key);
}

/* ---- pure helpers: stored deployment → spec ---- */

/* Top-level fields of a stored batch deployment kept as they are. */
static const char *const deployment_spec_fields[] = {
    "name",        "endpoint_name", "description", "tags", "model", "code_configuration",
    "environment", "compute",       "properties",
};

/* Keys that live under `settings` in Azure's `type: model` form, and at
 * the root in the legacy form. */
static const char *const settings_fields[] = {
    "max_concurrency_per_instance",
    "mini_batch_size",
    "retry_settings",
    "error_threshold",
    "logging_level",
    "output_action",
    "output_file_name",
    "environment_variables",
};

json_t *cli_batch_deployment_spec_of(const json_t *stored)
{
    json_t *spec = json_object();
    for (size_t i = 0; i < sizeof(deployment_spec_fields) / sizeof(deployment_spec_fields[0]);
         i++) {
        json_t *v = json_object_get(stored, deployment_spec_fields[i]);
        if (v != NULL)
            json_object_set_new(spec, deployment_spec_fields[i], json_deep_copy(v));
    }
    json_object_set_new(spec, "type", json_string("model"));

    const json_t *stored_resources = json_object_get(stored, "resources");
    json_t *resources =
        json_is_object(stored_resources) ? json_deep_copy(stored_resources) : json_object();
    json_t *count = json_object_get(stored, "instance_count");
    if (count != NULL && json_object_get(resources, "instance_count") == NULL)
        json_object_set_new(resources, "instance_count", json_deep_copy(count));
    if (json_object_size(resources) > 0)
        json_object_set_new(spec, "resources", resources);
    else
        json_decref(resources);

    const json_t *stored_settings = json_object_get(stored, "settings");
    json_t *settings =
        json_is_object(stored_settings) ? json_deep_copy(stored_settings) : json_object();
    for (size_t i = 0; i < sizeof(settings_fields) / sizeof(settings_fields[0]); i++) {
        json_t *v = json_object_get(stored, settings_fields[i]);
        if (v != NULL && json_object_get(settings, settings_fields[i]) == NULL)
            json_object_set_new(settings, settings_fields[i], json_deep_copy(v));
    }
    if (json_object_size(settings) > 0)
        json_object_set_new(spec, "settings", settings);
    else
        json_decref(settings);
    return spec;
}

/* ---- batch-endpoint: create, update, show, list, delete ---- */

/* Fields of a stored batch endpoint that make up its spec. */
static const char *const endpoint_spec_fields[] = {"name", "description", "tags", "auth_mode",
                                                   "defaults"};

static char *endpoint_path(const char *name)
{
    return inf_asprintf("/api/v1/batch-endpoints/%s", name);
}

/* The endpoint name of a spec read from `source`, validated, as a new string. */
static int endpoint_name_of(const json_t *spec, const char *source, char **out)
{
    const char *name = json_string_value(json_object_get(spec, "name"));
    struct inf_err err = {0};
    *out = NULL;
    if (name == NULL)
        return cli_fail("%s: missing 'name' (give it in the file or with -n)", source);
    if (spec_name_valid(name, "endpoint name", &err) != 0)
        return cli_fail("%s: %s", source, err.msg);
    *out = inf_strdup(name);
    return 0;
}

/* Validates spec (printing its notes) and PUTs the normalised endpoint
 * under `name`, which the spec must keep; prints the answer. */
static int put_endpoint(struct cli *c, const json_t *spec, const char *source, const char *name)
{
    json_t *notes = json_array();
    struct inf_err err = {0};
    json_t *normal = spec_batch_endpoint(spec, source, notes, &err);
    cli_print_notes(notes);
    json_decref(notes);
    if (normal == NULL)
        return cli_fail("%s", err.msg);
    const char *new_name = json_string_value(json_object_get(normal, "name"));
    int rc;
    if (new_name == NULL || strcmp(new_name, name) != 0) {
        rc = cli_fail("%s: the endpoint's name cannot change here (it is '%s')", source, name);
    } else {
        char *path = endpoint_path(name);
        rc = cli_api_print(c, "PUT", path, normal);
        free(path);
    }
    json_decref(normal);
    return rc;
}

/* Sets spec.name from -n when given. */
static int override_name(json_t *spec, const char *name_opt)
{
    struct inf_err err = {0};
    if (name_opt == NULL)
        return 0;
    if (spec_name_valid(name_opt, "endpoint name", &err) != 0)
        return cli_fail("%s", err.msg);
    json_object_set_new(spec, "name", json_string(name_opt));
    return 0;
}

static int batch_endpoint_create(struct cli *c, const struct args *a)
{
    const char *file = args_get(a, "file");
    if (file == NULL)
        return cli_usage_error(c, "missing -f/--file (the batch endpoint YAML)");
    json_t *spec = NULL;
    char *name = NULL;
    char *path = NULL;
    int exists = 0;
    int rc = cli_read_spec(file, &spec);
    if (rc == 0)
        rc = override_name(spec, args_get(a, "name"));
    if (rc == 0)
        rc = cli_apply_sets(a, spec);
    if (rc == 0)
        rc = endpoint_name_of(spec, file, &name);
    if (rc == 0) {
        path = endpoint_path(name);
        rc = cli_api_exists(c, path, &exists);
    }
    if (rc == 0 && exists)
        rc = cli_fail("batch endpoint '%s' already exists; use `inferd batch-endpoint update`",
                      name);
    if (rc == 0)
        rc = put_endpoint(c, spec, file, name);
    free(path);
    free(name);
    json_decref(spec);
    return rc;
}

/* The spec part of a stored endpoint, as a new object. */
static json_t *endpoint_spec_of(const json_t *current)
{
    json_t *spec = json_object();
    for (size_t i = 0; i < sizeof(endpoint_spec_fields) / sizeof(endpoint_spec_fields[0]); i++) {
        json_t *v = json_object_get(current, endpoint_spec_fields[i]);
        if (v != NULL)
            json_object_set_new(spec, endpoint_spec_fields[i], json_deep_copy(v));
    }
    return spec;
}

/* update -f FILE, or -n NAME --set ...: fetches the current endpoint, so
 * that a file that does not mention `defaults` keeps the default
 * deployment, and --set applies to what is stored. */
static int batch_endpoint_update(struct cli *c, const struct args *a)
{
    const char *file = args_get(a, "file");
    const char *name_opt = args_get(a, "name");
    if (file == NULL && name_opt == NULL)
        return cli_usage_error(c, "missing -n/--name (the endpoint name)");
    if (file == NULL && args_count(a, "set") == 0)
        return cli_usage_error(c, "nothing to update: give -f FILE or --set KEY=VALUE "
                                  "(e.g. --set defaults.deployment_name=blue)");
    json_t *spec = NULL;
    json_t *current = NULL;
    char *name = NULL;
    char *path = NULL;
    int rc = 0;
    if (file != NULL) {
        rc = cli_read_spec(file, &spec);
        if (rc == 0)
            rc = override_name(spec, name_opt);
        if (rc == 0)
            rc = endpoint_name_of(spec, file, &name);
    } else {
        struct inf_err err = {0};
        if (spec_name_valid(name_opt, "endpoint name", &err) != 0)
            rc = cli_fail("%s", err.msg);
        else
            name = inf_strdup(name_opt);
    }
    if (rc != 0)
        goto out;
    path = endpoint_path(name);
    int exists = 0;
    rc = cli_api_exists(c, path, &exists);
    if (rc == 0 && !exists)
        rc = cli_fail("batch endpoint '%s' does not exist; use `inferd batch-endpoint create`",
                      name);
    if (rc == 0)
        rc = cli_api(c, "GET", path, NULL, &current);
    if (rc != 0)
        goto out;
    if (spec == NULL) {
        spec = endpoint_spec_of(current);
    } else if (json_object_get(spec, "defaults") == NULL) {
        json_t *defaults = json_object_get(current, "defaults");
        if (defaults != NULL)
            json_object_set_new(spec, "defaults", json_deep_copy(defaults));
    }
    rc = cli_apply_sets(a, spec);
    if (rc == 0)
        rc = put_endpoint(c, spec, file != NULL ? file : name, name);
out:
    json_decref(current);
    json_decref(spec);
    free(path);
    free(name);
    return rc;
}

static int batch_endpoint_show(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    char *path = endpoint_path(name);
    rc = cli_api_print(c, "GET", path, NULL);
    free(path);
    return rc;
}

static int batch_endpoint_list(struct cli *c, const struct args *a)
{
    (void)a;
    return cli_api_print(c, "GET", "/api/v1/batch-endpoints", NULL);
}

static int batch_endpoint_delete(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    char *path = endpoint_path(name);
    rc = cli_api_print(c, "DELETE", path, NULL);
    free(path);
    return rc;
}

static int batch_endpoint_get_credentials(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    char *path = inf_asprintf("/api/v1/batch-endpoints/%s/token", name);
    json_t *token = NULL;
    rc = cli_api(c, "POST", path, NULL, &token);
    if (rc == 0 && !json_is_string(json_object_get(token, "accessToken")))
        rc = cli_fail("batch endpoint '%s': the server's token answer has no accessToken", name);
    if (rc == 0)
        rc = cli_print_json(token);
    json_decref(token);
    free(path);
    return rc;
}

static int batch_endpoint_list_jobs(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    char *path = inf_asprintf("/api/v1/batch-endpoints/%s/jobs", name);
    rc = cli_api_print(c, "GET", path, NULL);
    free(path);
    return rc;
}

/* ---- batch-endpoint invoke ---- */

/* Options of invoke that set a field of the request body. */
static const struct {
    const char *option, *key;
} invoke_options[] = {
    {"deployment-name", "deployment_name"},
    {"job-name", "job_name"},
    {"instance-count", "instance_count"},
    {"mini-batch-size", "mini_batch_size"},
    {"max-concurrency-per-instance", "max_concurrency_per_instance"},
    {"max-retries", "max_retries"},
    {"timeout", "timeout"},
    {"error-threshold", "error_threshold"},
    {"output-path", "output_path"},
};

/* The last path component of `path` (a file: no trailing slash). */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* Uploads the local file or folder `path` and sets *ref to what the job
 * reads: "artifact:<sha>" for a folder, "artifact:<sha>/<name>" for a file
 * (packed alone, under its own name). *type, when NULL, is set from what
 * the path is. */
static int upload_input(struct cli *c, const char *path, const char **type, char **ref)
{
    struct stat st;
    *ref = NULL;
    if (stat(path, &st) != 0)
        return cli_fail("--input '%s': %s", path,
                        errno == ENOENT ? "no such file or folder" : inf_strerror(errno));
    int is_dir = S_ISDIR(st.st_mode);
    if (!is_dir && !S_ISREG(st.st_mode))
        return cli_fail("--input '%s': not a regular file or a folder", path);
    if (*type == NULL)
        *type = is_dir ? "uri_folder" : "uri_file";
    if (is_dir && strcmp(*type, "uri_file") == 0)
        return cli_fail("--input '%s' is a folder but --input-type is uri_file", path);
    if (!is_dir && strcmp(*type, "uri_folder") == 0)
        return cli_fail("--input '%s' is a file but --input-type is uri_folder; use "
                        "--input-type uri_file, or give its folder",
                        path);
    char *folder_ref = NULL;
    int rc = cli_deployment_upload(c, "batch-endpoint invoke", "input", path, ".", 0, &folder_ref);
    if (rc != 0)
        return rc;
    if (is_dir) {
        *ref = folder_ref;
        return 0;
    }
    *ref = inf_asprintf("%s/%s", folder_ref, base_name(path));
    free(folder_ref);
    return 0;
}

/* The request body from the options and --set (which come last and win),
 * without the input. */
static int invoke_body(const struct cli *c, const struct args *a, json_t **out)
{
    json_t *body = json_object();
    struct inf_err err = {0};
    int rc = 0;
    *out = NULL;
    for (size_t i = 0; rc == 0 && i < sizeof(invoke_options) / sizeof(invoke_options[0]); i++) {
        const char *v = args_get(a, invoke_options[i].option);
        if (v != NULL && cli_batch_invoke_set(body, invoke_options[i].key, v, &err) != 0)
            rc = cli_usage_error(c, "--%s: %s", invoke_options[i].option, err.msg);
    }
    size_t pos = 0;
    const char *assignment;
    while (rc == 0 && (assignment = args_next(a, "set", &pos)) != NULL) {
        const char *eq = strchr(assignment, '=');
        if (eq == NULL || eq == assignment) {
            rc = cli_fail("--set %s: expected KEY=VALUE", assignment);
            break;
        }
        char *key = inf_strndup(assignment, (size_t)(eq - assignment));
        if (cli_batch_invoke_set(body, key, eq + 1, &err) != 0)
            rc = cli_fail("--set %s: %s", assignment, err.msg);
        free(key);
    }
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    *out = body;
    return 0;
}

static int batch_endpoint_invoke(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    const char *input = args_get(a, "input");
    const char *type = args_get(a, "input-type");
    if (input == NULL)
        return cli_usage_error(c, "missing --input (a folder, a file or "
                                  "azureml://datastores/NAME/paths/PATH)");
    if (type != NULL && strcmp(type, "uri_folder") != 0 && strcmp(type, "uri_file") != 0)
        return cli_usage_error(c, "--input-type '%s': must be uri_folder or uri_file", type);
    enum cli_batch_input kind;
    struct inf_err err = {0};
    if (cli_batch_input_classify(input, &kind, &err) != 0)
        return cli_fail("--input %s", err.msg);
    if (kind == CLI_BATCH_INPUT_LOCAL && args_get(a, "token") != NULL)
        return cli_usage_error(c, "a local --input is uploaded, which needs the admin token; "
                                  "drop --token or give azureml://datastores/NAME/paths/PATH");

    json_t *body = NULL;
    char *ref = NULL;
    char *path = NULL;
    json_t *job = NULL;
    rc = invoke_body(c, a, &body);
    if (rc == 0 && kind == CLI_BATCH_INPUT_LOCAL) {
        /* Before uploading anything, make sure it has somewhere to go. */
        char *ep_path = endpoint_path(name);
        int exists = 0;
        rc = cli_api_exists(c, ep_path, &exists);
        free(ep_path);
        if (rc == 0 && !exists)
            rc = cli_fail("batch endpoint '%s' does not exist", name);
        if (rc == 0)
            rc = upload_input(c, input, &type, &ref);
    } else if (rc == 0) {
        ref = inf_strdup(input);
    }
    if (rc != 0)
        goto out;
    json_t *input_obj =
        json_pack("{s:s, s:s}", "type", type != NULL ? type : "uri_folder", "path", ref);
    if (input_obj == NULL) {
        rc = cli_fail("--input '%s': the path is not UTF-8 text", input);
        goto out;
    }
    json_object_set_new(body, "input", input_obj);
    path = inf_asprintf("/api/v1/batch-endpoints/%s/jobs", name);
    rc = cli_api(c, "POST", path, body, &job);
    if (rc == 0)
        rc = cli_print_json(job);
    const char *job_name = json_string_value(json_object_get(job, "name"));
    if (rc == 0 && c->stderr_tty && job_name != NULL)
        cli_note("follow it with `inferd job stream -n %s`", job_name);
out:
    json_decref(job);
    free(path);
    free(ref);
    json_decref(body);
    return rc;
}

/* ---- batch-deployment ---- */

enum deploy_kind { DEPLOY_CREATE, DEPLOY_UPDATE };

/* What create/update were asked to do, besides the spec itself. */
struct deploy_req {
    enum deploy_kind kind;
    const char *source;   /* the YAML file, or the deployment name */
    const char *base_dir; /* local paths in the spec are relative to this */
    int from_file;        /* the spec came from a file (conda_file is a path) */
    int set_default;      /* make it the endpoint's default deployment */
};

static char *deployment_path(const char *endpoint, const char *name)
{
    return inf_asprintf("/api/v1/batch-endpoints/%s/deployments/%s", endpoint, name);
}

/* Checks that the endpoint exists and the deployment does (update) or does
 * not (create) yet. */
static int check_state(struct cli *c, const struct deploy_req *r, const char *endpoint,
                       const char *name)
{
    char *ep_path = endpoint_path(endpoint);
    char *path = deployment_path(endpoint, name);
    int ep_exists = 0, exists = 0;
    int rc = cli_api_exists(c, ep_path, &ep_exists);
    if (rc == 0 && !ep_exists)
        rc = cli_fail("batch endpoint '%s' does not exist; create it first with `inferd "
                      "batch-endpoint create`",
                      endpoint);
    if (rc == 0)
        rc = cli_api_exists(c, path, &exists);
    if (rc == 0 && r->kind == DEPLOY_CREATE && exists)
        rc = cli_fail("batch deployment '%s' already exists on endpoint '%s'; use `inferd "
                      "batch-deployment update`",
                      name, endpoint);
    if (rc == 0 && r->kind == DEPLOY_UPDATE && !exists)
        rc = cli_fail("batch deployment '%s' does not exist on endpoint '%s'; use `inferd "
                      "batch-deployment create`",
                      name, endpoint);
    free(path);
    free(ep_path);
    return rc;
}

/* Validates spec (the user's form, with -n/-e/--set applied), uploads its
 * local files and PUTs it; prints the deployment. */
static int deploy(struct cli *c, const struct deploy_req *r, json_t *spec)
{
    json_t *notes = json_array();
    struct inf_err err = {0};
    json_t *normal = spec_batch_deployment(spec, r->source, SPEC_FILE, notes, &err);
    /* A stored spec's notes were shown when it was created. */
    if (r->from_file)
        cli_print_notes(notes);
    json_decref(notes);
    if (normal == NULL)
        return cli_fail("%s", err.msg);
    const char *endpoint = json_string_value(json_object_get(normal, "endpoint_name"));
    const char *name = json_string_value(json_object_get(normal, "name"));
    char *path = NULL;
    json_t *put = NULL;
    int rc = 0;
    if (endpoint == NULL || name == NULL) {
        rc = cli_fail("%s: missing %s", r->source,
                      endpoint == NULL ? "endpoint_name (give it in the file or with -e)"
                                       : "name (give it in the file or with -n)");
        goto out;
    }
    if (spec_name_valid(endpoint, "endpoint name", &err) != 0 ||
        spec_name_valid(name, "deployment name", &err) != 0) {
        rc = cli_fail("%s: %s", r->source, err.msg);
        goto out;
    }
    rc = check_state(c, r, endpoint, name);
    if (rc == 0)
        rc = cli_deployment_localise(c, spec, r->source, r->base_dir, r->from_file);
    if (rc != 0)
        goto out;
    path = deployment_path(endpoint, name);
    if (r->set_default) {
        char *with_query = inf_asprintf("%s?set_default=true", path);
        free(path);
        path = with_query;
    }
    rc = cli_api(c, "PUT", path, spec, &put);
    if (rc == 0 && r->set_default)
        cli_note("batch endpoint '%s' now runs jobs on '%s' by default", endpoint, name);
    if (rc == 0)
        rc = cli_print_json(put);
out:
    json_decref(put);
    free(path);
    json_decref(normal);
    return rc;
}

/* Sets spec[key] from name option `option` (a `what`) when given. */
static int override(json_t *spec, const struct args *a, const char *option, const char *key,
                    const char *what)
{
    const char *v = args_get(a, option);
    struct inf_err err = {0};
    if (v == NULL)
        return 0;
    if (spec_name_valid(v, what, &err) != 0)
        return cli_fail("%s", err.msg);
    json_object_set_new(spec, key, json_string(v));
    return 0;
}

static int deployment_create_or_update(struct cli *c, const struct args *a, enum deploy_kind kind)
{
    const char *file = args_get(a, "file");
    struct deploy_req r = {
        .kind = kind,
        .source = file,
        .from_file = file != NULL,
        .set_default = args_count(a, "set-default") > 0,
    };
    json_t *spec = NULL;
    char *base_dir = NULL;
    int rc = 0;
    if (file != NULL) {
        rc = cli_read_spec(file, &spec);
        if (rc == 0)
            rc = override(spec, a, "name", "name", "deployment name");
        if (rc == 0)
            rc = override(spec, a, "endpoint-name", "endpoint_name", "endpoint name");
        if (rc != 0) {
            json_decref(spec);
            return rc;
        }
        base_dir = cli_deployment_dir_of(file);
    } else if (kind == DEPLOY_CREATE) {
        return cli_usage_error(c, "missing -f/--file (the batch deployment YAML)");
    } else {
        /* update -e EP -n NAME --set ...: start from the stored spec. */
        const char *endpoint, *name;
        rc = cli_name_opt(c, a, "endpoint-name", "endpoint name", &endpoint);
        if (rc == 0)
            rc = cli_name_opt(c, a, "name", "deployment name", &name);
        if (rc == 0 && args_count(a, "set") == 0 && !r.set_default)
            rc = cli_usage_error(c, "nothing to update: give -f FILE, --set KEY=VALUE or "
                                    "--set-default");
        if (rc != 0)
            return rc;
        char *path = deployment_path(endpoint, name);
        json_t *current = NULL;
        rc = cli_api(c, "GET", path, NULL, &current);
        free(path);
        if (rc != 0)
            return rc;
        spec = cli_batch_deployment_spec_of(current);
        json_decref(current);
        r.source = name;
        base_dir = inf_strdup(".");
    }
    r.base_dir = base_dir;
    rc = cli_apply_sets(a, spec);
    if (rc == 0)
        rc = deploy(c, &r, spec);
    free(base_dir);
    json_decref(spec);
    return rc;
}

static int batch_deployment_create(struct cli *c, const struct args *a)
{
    return deployment_create_or_update(c, a, DEPLOY_CREATE);
}

static int batch_deployment_update(struct cli *c, const struct args *a)
{
    return deployment_create_or_update(c, a, DEPLOY_UPDATE);
}

static int deployment_ids(const struct cli *c, const struct args *a, const char **endpoint,
                          const char **name)
{
    int rc = cli_name_opt(c, a, "endpoint-name", "endpoint name", endpoint);
    if (rc == 0 && name != NULL)
        rc = cli_name_opt(c, a, "name", "deployment name", name);
    return rc;
}

static int batch_deployment_show(struct cli *c, const struct args *a)
{
    const char *endpoint, *name;
    int rc = deployment_ids(c, a, &endpoint, &name);
    if (rc != 0)
        return rc;
    char *path = deployment_path(endpoint, name);
    rc = cli_api_print(c, "GET", path, NULL);
    free(path);
    return rc;
}

static int batch_deployment_list(struct cli *c, const struct args *a)
{
    const char *endpoint;
    int rc = deployment_ids(c, a, &endpoint, NULL);
    if (rc != 0)
        return rc;
    char *path = inf_asprintf("/api/v1/batch-endpoints/%s/deployments", endpoint);
    rc = cli_api_print(c, "GET", path, NULL);
    free(path);
    return rc;
}

static int batch_deployment_delete(struct cli *c, const struct args *a)
{
    const char *endpoint, *name;
    int rc = deployment_ids(c, a, &endpoint, &name);
    if (rc != 0)
        return rc;
    char *path = deployment_path(endpoint, name);
    rc = cli_api_print(c, "DELETE", path, NULL);
    free(path);
    return rc;
}

/* ---- the verb tables ---- */

#define OPT_SET                                                                                    \
    {                                                                                              \
        0, "set", ARGS_REPEAT, "KEY=VALUE",                                                        \
            "set a field, e.g. --set description=demo (repeatable)"                                \
    }
#define OPT_YES                                                                                    \
    {                                                                                              \
        'y', "yes", ARGS_FLAG, NULL, "do not prompt (inferd never prompts)"                        \
    }
#define OPT_TOKEN                                                                                  \
    {                                                                                              \
        0, "token", ARGS_VALUE, "TOKEN", "a token from get-credentials instead of the admin token" \
    }

static const struct args_opt endpoint_create_opts[] = {
    {'f', "file", ARGS_VALUE, "FILE", "batch endpoint YAML (Azure ML CLI v2 schema)"},
    {'n', "name", ARGS_VALUE, "NAME", "endpoint name (overrides the file's)"},
    OPT_SET,
};

static const struct args_opt endpoint_update_opts[] = {
    {'n', "name", ARGS_VALUE, "NAME", "endpoint name (default: the file's)"},
    {'f', "file", ARGS_VALUE, "FILE", "batch endpoint YAML replacing the current spec"},
    {0, "set", ARGS_REPEAT, "KEY=VALUE",
     "set a field, e.g. --set defaults.deployment_name=blue (repeatable)"},
};

static const struct args_opt endpoint_name_opts[] = {
    {'n', "name", ARGS_VALUE, "NAME", "endpoint name"},
};

static const struct args_opt endpoint_delete_opts[] = {
    {'n', "name", ARGS_VALUE, "NAME", "endpoint name"},
    OPT_YES,
};

static const struct args_opt list_jobs_opts[] = {
    {'n', "name", ARGS_VALUE, "NAME", "endpoint name"},
    OPT_TOKEN,
};

static const struct args_opt invoke_opts[] = {
    {'n', "name", ARGS_VALUE, "NAME", "endpoint name"},
    {0, "input", ARGS_VALUE, "PATH", "local folder or file, or azureml://datastores/NAME/paths/P"},
    {0, "input-type", ARGS_VALUE, "TYPE",
     "uri_folder or uri_file (default: what a local path is, else uri_folder)"},
    {'d', "deployment-name", ARGS_VALUE, "NAME", "run on this deployment, not the default"},
    {0, "job-name", ARGS_VALUE, "NAME", "name the job (default: batchjob-<random>)"},
    {0, "instance-count", ARGS_VALUE, "N", "instances for this job (1-64)"},
    {0, "mini-batch-size", ARGS_VALUE, "N", "files per run() call (1-100000)"},
    {0, "max-concurrency-per-instance", ARGS_VALUE, "N", "parallel run() calls per instance"},
    {0, "max-retries", ARGS_VALUE, "N", "retries of a failed mini-batch (0-100)"},
    {0, "timeout", ARGS_VALUE, "S", "seconds a mini-batch may take (1-86400)"},
    {0, "error-threshold", ARGS_VALUE, "N", "failed files tolerated, -1 for no limit"},
    {0, "output-path", ARGS_VALUE, "URI", "write the output to azureml://datastores/NAME/paths/P"},
    {0, "set", ARGS_REPEAT, "KEY=VALUE",
     "output_file_name=F, environment_variables.NAME=V, ... (repeatable)"},
    OPT_TOKEN,
};

static const struct args_opt deployment_create_opts[] = {
    {'f', "file", ARGS_VALUE, "FILE", "batch deployment YAML (Azure ML CLI v2 schema)"},
    {'e', "endpoint-name", ARGS_VALUE, "ENDPOINT", "endpoint name (overrides the file's)"},
    {'n', "name", ARGS_VALUE, "NAME", "deployment name (overrides the file's)"},
    {0, "set", ARGS_REPEAT, "KEY=VALUE",
     "set a field, e.g. --set settings.mini_batch_size=20 (repeatable)"},
    {0, "set-default", ARGS_FLAG, NULL, "make it the endpoint's default deployment"},
};

static const struct args_opt deployment_show_opts[] = {
    {'e', "endpoint-name", ARGS_VALUE, "ENDPOINT", "endpoint name"},
    {'n', "name", ARGS_VALUE, "NAME", "deployment name"},
};

static const struct args_opt deployment_list_opts[] = {
    {'e', "endpoint-name", ARGS_VALUE, "ENDPOINT", "endpoint name"},
};

static const struct args_opt deployment_delete_opts[] = {
    {'e', "endpoint-name", ARGS_VALUE, "ENDPOINT", "endpoint name"},
    {'n', "name", ARGS_VALUE, "NAME", "deployment name"},
    OPT_YES,
};

#define VERB(name, synopsis, summary, opts, run)                                                   \
    {                                                                                              \
        name, synopsis, summary, opts, sizeof(opts) / sizeof(opts[0]), run                         \
    }

static const struct cli_verb endpoint_verbs[] = {
    VERB("create", "-f FILE [-n NAME] [--set KEY=VALUE ...]",
         "Create a batch endpoint from a YAML file.", endpoint_create_opts, batch_endpoint_create),
    VERB("update", "-n NAME [-f FILE] [--set KEY=VALUE ...]",
         "Change a batch endpoint; --set defaults.deployment_name=X switches the default.",
         endpoint_update_opts, batch_endpoint_update),
    VERB("show", "-n NAME", "Show a batch endpoint.", endpoint_name_opts, batch_endpoint_show),
    {"list", "", "List batch endpoints.", NULL, 0, batch_endpoint_list},
    VERB("delete", "-n NAME [--yes]",
         "Delete a batch endpoint, its deployments and its finished jobs.", endpoint_delete_opts,
         batch_endpoint_delete),
    VERB("get-credentials", "-n NAME",
         "Get a new token for invoking the endpoint and following its jobs.", endpoint_name_opts,
         batch_endpoint_get_credentials),
    VERB("invoke",
         "-n NAME --input PATH [--input-type uri_folder|uri_file] [-d DEPLOYMENT] "
         "[--job-name NAME] [--instance-count N] [--mini-batch-size N] [--output-path URI] "
         "[--set KEY=VALUE ...] [more overrides below]",
         "Start a batch job over the input; prints the job at once.", invoke_opts,
         batch_endpoint_invoke),
    VERB("list-jobs", "-n NAME [--token TOKEN]", "List the endpoint's jobs, oldest first.",
         list_jobs_opts, batch_endpoint_list_jobs),
};

const struct cli_group cli_batch_endpoint_group = {
    .name = "batch-endpoint",
    .summary = "Batch endpoints: run a deployment over a folder of files as a background job.",
    .verbs = endpoint_verbs,
    .n_verbs = sizeof(endpoint_verbs) / sizeof(endpoint_verbs[0]),
};

static const struct cli_verb deployment_verbs[] = {
    VERB("create", "-f FILE [-e ENDPOINT] [-n NAME] [--set KEY=VALUE ...] [--set-default]",
         "Create a batch deployment and upload its model and code.", deployment_create_opts,
         batch_deployment_create),
    VERB("update",
         "(-f FILE [-e ENDPOINT] [-n NAME] | -e ENDPOINT -n NAME) [--set KEY=VALUE ...] "
         "[--set-default]",
         "Replace a batch deployment's spec and upload its model and code.", deployment_create_opts,
         batch_deployment_update),
    VERB("show", "-e ENDPOINT -n NAME", "Show a batch deployment.", deployment_show_opts,
         batch_deployment_show),
    VERB("list", "-e ENDPOINT", "List a batch endpoint's deployments.", deployment_list_opts,
         batch_deployment_list),
    VERB("delete", "-e ENDPOINT -n NAME [--yes]",
         "Delete a batch deployment (none of its jobs may be running).", deployment_delete_opts,
         batch_deployment_delete),
};

const struct cli_group cli_batch_deployment_group = {
    .name = "batch-deployment",
    .summary = "Batch deployments: the model and code a batch endpoint's jobs run.",
    .verbs = deployment_verbs,
    .n_verbs = sizeof(deployment_verbs) / sizeof(deployment_verbs[0]),
};
