/*
 * cli_endpoint: the `inferd online-endpoint` verbs: create, update, show,
 * list, delete, get-credentials, regenerate-keys and invoke, each a few
 * REST calls (docs/rest-api.md). Main thread; run once by cli_main.
 */
#include "cli/cli_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "spec/spec.h"

#define REQUEST_MAX_BYTES ((size_t)64 << 20)

/* Fields of a stored endpoint that make up its spec (the rest is status). */
static const char *const spec_fields[] = {"name",      "description", "tags",
                                          "auth_mode", "traffic",     "mirror_traffic"};

static char *endpoint_path(const char *name)
{
    return inf_asprintf("/api/v1/online-endpoints/%s", name);
}

/* Validates spec (reporting Azure-only notes) and PUTs the normalised
 * endpoint under `name`, which the spec must keep; prints the answer. */
static int put_endpoint(struct cli *c, const json_t *spec, const char *source, const char *name)
{
    json_t *notes = json_array();
    struct inf_err err = {0};
    json_t *normal = spec_online_endpoint(spec, source, notes, &err);
    cli_print_notes(notes);
    json_decref(notes);
    if (normal == NULL)
        return cli_fail("%s", err.msg);
    const char *new_name = json_string_value(json_object_get(normal, "name"));
    json_t *result = NULL;
    int rc = 0;
    if (new_name == NULL || strcmp(new_name, name) != 0) {
        rc = cli_fail("%s: the endpoint's name cannot change here (it is '%s')", source, name);
    } else {
        char *path = endpoint_path(name);
        rc = cli_api(c, "PUT", path, normal, &result);
        free(path);
    }
    if (rc == 0)
        rc = cli_print_json(result);
    json_decref(result);
    json_decref(normal);
    return rc;
}

/* The endpoint name of a spec read from `file`, validated, as a new string. */
static int name_of(const json_t *spec, const char *file, char **out)
{
    const char *name = json_string_value(json_object_get(spec, "name"));
    struct inf_err err = {0};
    *out = NULL;
    if (name == NULL)
        return cli_fail("%s: missing 'name' (give it in the file or with -n)", file);
    if (spec_name_valid(name, "endpoint name", &err) != 0)
        return cli_fail("%s: %s", file, err.msg);
    *out = inf_strdup(name);
    return 0;
}

/* Sets spec[key] to the traffic object parsed from a --traffic style string. */
static int set_traffic(json_t *spec, const char *key, const char *option, const char *text)
{
    struct inf_err err = {0};
    json_t *traffic = spec_traffic_parse(text, &err);
    if (traffic == NULL)
        return cli_fail("--%s: %s", option, err.msg);
    json_object_set_new(spec, key, traffic);
    return 0;
}

static int endpoint_create(struct cli *c, const struct args *a)
{
    const char *file = args_get(a, "file");
    const char *name_opt = args_get(a, "name");
    if (file == NULL)
        return cli_usage_error(c, "missing -f/--file (the endpoint YAML)");
    struct inf_err err = {0};
    if (name_opt != NULL && spec_name_valid(name_opt, "endpoint name", &err) != 0)
        return cli_fail("%s", err.msg);
    json_t *spec = NULL;
    int rc = cli_read_spec(file, &spec);
    if (rc != 0)
        return rc;
    if (name_opt != NULL)
        json_object_set_new(spec, "name", json_string(name_opt));
    char *name = NULL;
    char *path = NULL;
    int exists = 0;
    rc = cli_apply_sets(a, spec);
    if (rc == 0)
        rc = name_of(spec, file, &name);
    if (rc == 0) {
        path = endpoint_path(name);
        rc = cli_api_exists(c, path, &exists);
    }
    if (rc == 0 && exists)
        rc = cli_fail("endpoint '%s' already exists; use `inferd online-endpoint update`", name);
    if (rc == 0)
        rc = put_endpoint(c, spec, file, name);
    free(path);
    free(name);
    json_decref(spec);
    return rc;
}

/* The spec part of a stored endpoint, as a new object. */
static json_t *spec_of(const json_t *current)
{
    json_t *spec = json_object();
    for (size_t i = 0; i < sizeof(spec_fields) / sizeof(spec_fields[0]); i++) {
        json_t *v = json_object_get(current, spec_fields[i]);
        if (v != NULL)
            json_object_set_new(spec, spec_fields[i], json_deep_copy(v));
    }
    return spec;
}

/* Copies current[key] into spec unless spec has the key already. */
static void keep_current(json_t *spec, const json_t *current, const char *key)
{
    json_t *v = json_object_get(current, key);
    if (json_object_get(spec, key) == NULL && v != NULL)
        json_object_set_new(spec, key, json_deep_copy(v));
}

/* update --traffic alone: the atomic traffic switch. */
static int update_traffic_only(struct cli *c, const char *name, const char *text)
{
    struct inf_err err = {0};
    json_t *traffic = spec_traffic_parse(text, &err);
    if (traffic == NULL)
        return cli_fail("--traffic: %s", err.msg);
    char *path = inf_asprintf("/api/v1/online-endpoints/%s/traffic", name);
    json_t *result = NULL;
    int rc = cli_api(c, "PUT", path, traffic, &result);
    if (rc == 0)
        rc = cli_print_json(result);
    json_decref(result);
    json_decref(traffic);
    free(path);
    return rc;
}

static int endpoint_update(struct cli *c, const struct args *a)
{
    const char *file = args_get(a, "file");
    const char *name_opt = args_get(a, "name");
    const char *traffic = args_get(a, "traffic");
    const char *mirror = args_get(a, "mirror-traffic");
    size_t n_sets = args_count(a, "set");
    if (file == NULL && name_opt == NULL)
        return cli_usage_error(c, "missing -n/--name (the endpoint name)");
    if (file == NULL && n_sets == 0 && traffic == NULL && mirror == NULL)
        return cli_usage_error(c, "nothing to update: give -f, --set, --traffic or "
                                  "--mirror-traffic");
    struct inf_err err = {0};
    if (name_opt != NULL && spec_name_valid(name_opt, "endpoint name", &err) != 0)
        return cli_fail("%s", err.msg);
    if (file == NULL && n_sets == 0 && mirror == NULL)
        return update_traffic_only(c, name_opt, traffic);

    json_t *spec = NULL;
    json_t *current = NULL;
    char *name = NULL;
    char *path = NULL;
    int rc = 0;
    if (file != NULL) {
        rc = cli_read_spec(file, &spec);
        if (rc != 0)
            goto out;
        if (name_opt != NULL)
            json_object_set_new(spec, "name", json_string(name_opt));
        rc = name_of(spec, file, &name);
        if (rc != 0)
            goto out;
    } else {
        name = inf_strdup(name_opt);
    }
    path = endpoint_path(name);
    int exists = 0;
    rc = cli_api_exists(c, path, &exists);
    if (rc == 0 && !exists)
        rc = cli_fail("endpoint '%s' does not exist; use `inferd online-endpoint create`", name);
    if (rc == 0)
        rc = cli_api(c, "GET", path, NULL, &current);
    if (rc != 0)
        goto out;
    if (spec == NULL) {
        spec = spec_of(current);
    } else {
        /* Traffic is managed apart from the file: a file that does not
         * mention it must not switch all traffic off. */
        keep_current(spec, current, "traffic");
        keep_current(spec, current, "mirror_traffic");
    }
    rc = cli_apply_sets(a, spec);
    if (rc == 0 && traffic != NULL)
        rc = set_traffic(spec, "traffic", "traffic", traffic);
    if (rc == 0 && mirror != NULL)
        rc = set_traffic(spec, "mirror_traffic", "mirror-traffic", mirror);
    if (rc == 0)
        rc = put_endpoint(c, spec, file != NULL ? file : name, name);
out:
    json_decref(current);
    json_decref(spec);
    free(path);
    free(name);
    return rc;
}

/* Runs one call whose JSON answer is the command's output. */
static int call_and_print(struct cli *c, const char *method, char *path, const json_t *body)
{
    json_t *result = NULL;
    int rc = cli_api(c, method, path, body, &result);
    if (rc == 0)
        rc = cli_print_json(result);
    json_decref(result);
    free(path);
    return rc;
}

static int endpoint_show(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    return call_and_print(c, "GET", endpoint_path(name), NULL);
}

static int endpoint_mirror_report(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    char *path = inf_asprintf("/api/v1/online-endpoints/%s/mirror-report", name);
    return call_and_print(c, "GET", path, NULL);
}

static int endpoint_list(struct cli *c, const struct args *a)
{
    (void)a;
    return call_and_print(c, "GET", inf_strdup("/api/v1/online-endpoints"), NULL);
}

static int endpoint_delete(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    return call_and_print(c, "DELETE", endpoint_path(name), NULL);
}

/* *token_mode: 1 if endpoint `name` uses aml_token auth, 0 for keys. */
static int uses_tokens(struct cli *c, const char *name, int *token_mode)
{
    char *path = endpoint_path(name);
    json_t *ep = NULL;
    int rc = cli_api(c, "GET", path, NULL, &ep);
    free(path);
    if (rc == 0) {
        const char *mode = json_string_value(json_object_get(ep, "auth_mode"));
        *token_mode = mode != NULL && strcmp(mode, "aml_token") == 0;
    }
    json_decref(ep);
    return rc;
}

/* A fresh token for aml_token endpoint `name`: the server's answer. */
static int new_token(struct cli *c, const char *name, json_t **out)
{
    char *path = inf_asprintf("/api/v1/online-endpoints/%s/token", name);
    int rc = cli_api(c, "POST", path, NULL, out);
    free(path);
    if (rc == 0 && !json_is_string(json_object_get(*out, "accessToken"))) {
        json_decref(*out);
        *out = NULL;
        rc = cli_fail("endpoint '%s': the server's token answer has no accessToken", name);
    }
    return rc;
}

static int endpoint_get_credentials(struct cli *c, const struct args *a)
{
    const char *name;
    int token_mode = 0;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc == 0)
        rc = uses_tokens(c, name, &token_mode);
    if (rc != 0)
        return rc;
    if (!token_mode)
        return call_and_print(c, "GET", inf_asprintf("/api/v1/online-endpoints/%s/keys", name),
                              NULL);
    json_t *token = NULL;
    rc = new_token(c, name, &token);
    if (rc == 0) {
        static const char *const shown[] = {"accessToken", "expiryTimeUtc", "refreshAfterTimeUtc"};
        json_t *o = json_object();
        for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
            json_object_set(o, shown[i], json_object_get(token, shown[i]));
        rc = cli_print_json(o);
        json_decref(o);
    }
    json_decref(token);
    return rc;
}

static int endpoint_regenerate_keys(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    const char *key_type = args_get(a, "key-type");
    if (key_type == NULL)
        return cli_usage_error(c, "missing --key-type (primary or secondary)");
    if (strcmp(key_type, "primary") != 0 && strcmp(key_type, "secondary") != 0)
        return cli_usage_error(c, "--key-type '%s': must be primary or secondary", key_type);
    json_t *body = json_pack("{s:s}", "key_type", key_type);
    rc = call_and_print(c, "POST",
                        inf_asprintf("/api/v1/online-endpoints/%s/keys/regenerate", name), body);
    json_decref(body);
    return rc;
}

/* The primary key (or, for aml_token endpoints, a fresh token) to score
 * with, as a new string. */
static int scoring_key(struct cli *c, const char *name, char **out)
{
    int token_mode = 0;
    int rc = uses_tokens(c, name, &token_mode);
    if (rc != 0)
        return rc;
    if (token_mode) {
        json_t *token = NULL;
        rc = new_token(c, name, &token);
        if (rc == 0)
            *out = inf_strdup(json_string_value(json_object_get(token, "accessToken")));
        json_decref(token);
        return rc;
    }
    char *path = inf_asprintf("/api/v1/online-endpoints/%s/keys", name);
    json_t *keys = NULL;
    rc = cli_api(c, "GET", path, NULL, &keys);
    free(path);
    if (rc != 0)
        return rc;
    const char *key = json_string_value(json_object_get(keys, "primaryKey"));
    if (key != NULL)
        *out = inf_strdup(key);
    else
        rc = cli_fail("endpoint '%s': the server's keys answer has no primaryKey", name);
    json_decref(keys);
    return rc;
}

static int show_deployment_wanted(const struct args *a)
{
    const char *env = getenv("INFERD_SHOW_DEPLOYMENT");
    return args_count(a, "show-deployment") > 0 || (env != NULL && strcmp(env, "1") == 0);
}

static int write_body(FILE *f, const struct inf_buf *body)
{
    if (body->len > 0 && fwrite(body->data, 1, body->len, f) != body->len)
        return -1;
    if (body->len == 0 || body->data[body->len - 1] != '\n')
        if (fputc('\n', f) == EOF)
            return -1;
    return fflush(f);
}

static int endpoint_invoke(struct cli *c, const struct args *a)
{
    const char *name;
    int rc = cli_name_opt(c, a, "name", "endpoint name", &name);
    if (rc != 0)
        return rc;
    const char *request_file = args_get(a, "request-file");
    const char *deployment = args_get(a, "deployment-name");
    if (request_file == NULL)
        return cli_usage_error(c, "missing -r/--request-file (the request body)");
    struct inf_err err = {0};
    if (deployment != NULL && spec_name_valid(deployment, "deployment name", &err) != 0)
        return cli_fail("%s", err.msg);

    char *body = NULL;
    size_t body_len = 0;
    if (inf_read_file(request_file, REQUEST_MAX_BYTES, &body, &body_len, &err) != 0)
        return cli_fail("%s", err.msg);
    char *key = NULL;
    rc = scoring_key(c, name, &key);
    if (rc != 0) {
        free(body);
        return rc;
    }
    char *path = inf_asprintf("/endpoints/%s/score", name);
    struct cli_http_req req = {
        .method = "POST",
        .path = path,
        .bearer = key,
        .body = body,
        .body_len = body_len,
        .content_type = "application/json",
        .deployment = deployment,
    };
    struct cli_http_resp resp;
    rc = cli_send(c, &req, &resp);
    if (rc == 0 && show_deployment_wanted(a))
        fprintf(stderr, "deployment: %s\n", resp.deployment);
    if (rc == 0 && resp.status >= 200 && resp.status <= 299) {
        if (write_body(stdout, &resp.body) != 0)
            rc = cli_fail("cannot write to stdout");
    } else if (rc == 0) {
        write_body(stderr, &resp.body);
        rc = cli_fail("endpoint '%s' answered HTTP %ld", name, resp.status);
    }
    cli_http_resp_fini(&resp);
    free(path);
    free(key);
    free(body);
    return rc;
}

/* ---- the verb table ---- */

#define OPT_NAME                                                                                   \
    {                                                                                              \
        'n', "name", ARGS_VALUE, "NAME", "endpoint name"                                           \
    }
#define OPT_SET                                                                                    \
    {                                                                                              \
        0, "set", ARGS_REPEAT, "KEY=VALUE",                                                        \
            "set a field, e.g. --set description=demo (repeatable)"                                \
    }

static const struct args_opt create_opts[] = {
    {'f', "file", ARGS_VALUE, "FILE", "endpoint YAML (Azure ML CLI v2 schema)"},
    {'n', "name", ARGS_VALUE, "NAME", "endpoint name (overrides the file's)"},
    OPT_SET,
};

static const struct args_opt update_opts[] = {
    {'n', "name", ARGS_VALUE, "NAME", "endpoint name (default: the file's)"},
    {'f', "file", ARGS_VALUE, "FILE", "endpoint YAML replacing the current spec"},
    OPT_SET,
    {0, "traffic", ARGS_VALUE, "SPLIT", "live traffic in percent, e.g. \"blue=90 green=10\""},
    {0, "mirror-traffic", ARGS_VALUE, "SPLIT",
     "mirror a share to one deployment, e.g. \"green=10\""},
};

static const struct args_opt name_opts[] = {OPT_NAME};

static const struct args_opt delete_opts[] = {
    OPT_NAME,
    {'y', "yes", ARGS_FLAG, NULL, "do not prompt (inferd never prompts)"},
};

static const struct args_opt regenerate_opts[] = {
    OPT_NAME,
    {0, "key-type", ARGS_VALUE, "TYPE", "primary or secondary: the key to replace"},
};

static const struct args_opt invoke_opts[] = {
    OPT_NAME,
    {'r', "request-file", ARGS_VALUE, "FILE", "request body (JSON)"},
    {'d', "deployment-name", ARGS_VALUE, "NAME", "send to this deployment, ignoring traffic"},
    {0, "show-deployment", ARGS_FLAG, NULL,
     "print \"deployment: NAME\" (who answered) on stderr; also INFERD_SHOW_DEPLOYMENT=1"},
};

#define VERB(name, synopsis, summary, opts, run)                                                   \
    {                                                                                              \
        name, synopsis, summary, opts, sizeof(opts) / sizeof(opts[0]), run                         \
    }

static const struct cli_verb verbs[] = {
    VERB("create", "-f FILE [-n NAME] [--set KEY=VALUE ...]",
         "Create an endpoint from a YAML file.", create_opts, endpoint_create),
    VERB("update",
         "-n NAME [-f FILE] [--set KEY=VALUE ...] [--traffic SPLIT] "
         "[--mirror-traffic SPLIT]",
         "Change an endpoint; --traffic alone switches traffic atomically.", update_opts,
         endpoint_update),
    VERB("show", "-n NAME", "Show an endpoint.", name_opts, endpoint_show),
    {"list", "", "List endpoints.", NULL, 0, endpoint_list},
    VERB("delete", "-n NAME [--yes]", "Delete an endpoint and all its deployments.", delete_opts,
         endpoint_delete),
    VERB("invoke", "-n NAME -r FILE [-d DEPLOYMENT] [--show-deployment]",
         "Score a request; prints the response body as is.", invoke_opts, endpoint_invoke),
    VERB("get-credentials", "-n NAME",
         "Show the endpoint's keys, or a new token for an aml_token endpoint.", name_opts,
         endpoint_get_credentials),
    VERB("regenerate-keys", "-n NAME --key-type primary|secondary",
         "Replace a key; the old one stops working at once.", regenerate_opts,
         endpoint_regenerate_keys),
    VERB("mirror-report", "-n NAME",
         "Compare the mirror deployment with live traffic: agreement and latencies.", name_opts,
         endpoint_mirror_report),
};

const struct cli_group cli_endpoint_group = {
    .name = "online-endpoint",
    .summary = "Online endpoints: a stable scoring URL and keys, with traffic split between "
               "deployments.",
    .verbs = verbs,
    .n_verbs = sizeof(verbs) / sizeof(verbs[0]),
};
