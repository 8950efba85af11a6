/*
 * cli_deployment: the `inferd online-deployment` verbs: create, update,
 * show, list, delete and get-logs. create/update validate the YAML
 * locally, upload the model and code folders as content-addressed tar
 * artifacts (skipping any the server already has), PUT the spec with
 * "artifact:<sha256>" references, then poll until the deployment is
 * Succeeded or Failed. Main thread; run once by cli_main. The upload
 * helpers are shared with the batch verbs (cli_int.h).
 */
#include "cli/cli_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "artifact/artifact.h"
#include "core/util.h"
#include "spec/spec.h"

#define POLL_INTERVAL_NS 250000000L
#define DEFAULT_WAIT_TIMEOUT_S 600
#define DEFAULT_MAX_ARTIFACT_MB 1024
#define CONDA_MAX_BYTES ((size_t)1 << 20)
#define MAX_LOG_LINES 1000000
#define MAX_INSTANCE 1000

/* Fields of a stored deployment that make up its spec (the rest is status,
 * and "backend", which the server derives). */
static const char *const spec_fields[] = {
    "name",
    "endpoint_name",
    "description",
    "tags",
    "model",
    "code_configuration",
    "environment",
    "environment_variables",
    "instance_type",
    "instance_count",
    "scale_settings",
    "resources",
    "request_settings",
    "liveness_probe",
    "readiness_probe",
    "egress_public_network_access",
    "data_collector",
    "app_insights_enabled",
    "properties",
    "type",
    "model_mount_path",
};

enum deploy_kind { DEPLOY_CREATE, DEPLOY_UPDATE };

static char *deployment_path(const char *endpoint, const char *name)
{
    return inf_asprintf("/api/v1/online-endpoints/%s/deployments/%s", endpoint, name);
}

/* ---- artifacts ---- */

/* The directory holding `file` ("." for a bare file name), as a new string. */
char *cli_deployment_dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (slash == NULL)
        return inf_strdup(".");
    if (slash == file)
        return inf_strdup("/");
    return inf_strndup(file, (size_t)(slash - file));
}

/* `path` resolved against base_dir unless absolute, without trailing
 * slashes (so "model-1/model/" packs as "model/..."), as a new string. */
static char *resolve(const char *base_dir, const char *path)
{
    char *full = path[0] == '/' ? inf_strdup(path) : inf_asprintf("%s/%s", base_dir, path);
    size_t n = strlen(full);
    while (n > 1 && full[n - 1] == '/')
        full[--n] = '\0';
    return full;
}

/* POSTs the archive of `what` (for the progress note) unless the server
 * has it already. */
static int ensure_uploaded(struct cli *c, const struct inf_buf *tar, const char *sha,
                           const char *what)
{
    char *path = inf_asprintf("/api/v1/artifacts/%s", sha);
    int exists = 0;
    int rc = cli_api_exists(c, path, &exists);
    free(path);
    if (rc != 0 || exists)
        return rc;
    if (c->stderr_tty)
        fprintf(stderr, "inferd: uploading %s (%.1f MiB)\n", what,
                (double)tar->len / (1024.0 * 1024.0));
    struct cli_http_req req = {
        .method = "POST",
        .path = "/api/v1/artifacts",
        .body = tar->data,
        .body_len = tar->len,
        .content_type = "application/x-tar",
    };
    struct cli_http_resp resp;
    rc = cli_send(c, &req, &resp);
    if (rc == 0 && (resp.status < 200 || resp.status > 299))
        rc = cli_server_error(req.method, req.path, &resp);
    if (rc == 0) {
        json_t *body = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        const char *id = json_string_value(json_object_get(body, "id"));
        if (id == NULL || strcmp(id, sha) != 0)
            rc = cli_fail("POST /api/v1/artifacts: the server stored the archive as '%s', "
                          "expected '%s'",
                          id != NULL ? id : "(no id)", sha);
        json_decref(body);
    }
    cli_http_resp_fini(&resp);
    return rc;
}

/* Packs the local folder or file `path` (field `what` of `source`),
 * uploads it, and returns "artifact:<sha256>" in *ref (a new string). A
 * value that is already an artifact reference is kept as it is. */
int cli_deployment_upload(struct cli *c, const char *source, const char *what, const char *path,
                          const char *base_dir, int include_self, char **ref)
{
    *ref = NULL;
    if (strncmp(path, SPEC_ARTIFACT_PREFIX, strlen(SPEC_ARTIFACT_PREFIX)) == 0) {
        *ref = inf_strdup(path);
        return 0;
    }
    long max_mb;
    int rc = cli_env_long("INFERD_MAX_ARTIFACT_MB", DEFAULT_MAX_ARTIFACT_MB, 1, 1L << 20, &max_mb);
    if (rc != 0)
        return rc;
    char *full = resolve(base_dir, path);
    struct inf_buf tar;
    inf_buf_init(&tar, (size_t)max_mb << 20);
    struct inf_err err = {0};
    if (artifact_pack(full, include_self, &tar, &err) != 0) {
        rc = cli_fail("%s: %s '%s': %s%s", source, what, path, err.msg,
                      err.code == INF_ETOOBIG ? " (INFERD_MAX_ARTIFACT_MB raises the limit)" : "");
        goto out;
    }
    if (tar.len == 0) {
        rc = cli_fail("%s: %s '%s': packing produced an empty archive", source, what, path);
        goto out;
    }
    char sha[65];
    inf_sha256_hex(tar.data, tar.len, sha);
    rc = ensure_uploaded(c, &tar, sha, what);
    if (rc == 0)
        *ref = inf_asprintf("%s%s", SPEC_ARTIFACT_PREFIX, sha);
out:
    inf_buf_fini(&tar);
    free(full);
    return rc;
}

/* Replaces the string at parent[key] by its uploaded artifact reference. */
static int upload_field(struct cli *c, json_t *parent, const char *key, const char *source,
                        const char *what, const char *base_dir, int include_self)
{
    const char *path = json_string_value(json_object_get(parent, key));
    if (path == NULL)
        return 0;
    char *ref = NULL;
    int rc = cli_deployment_upload(c, source, what, path, base_dir, include_self, &ref);
    if (rc == 0)
        json_object_set_new(parent, key, json_string(ref));
    free(ref);
    return rc;
}

/* Replaces environment.conda_file (a path) by the file's text. */
static int inline_conda(json_t *spec, const char *source, const char *base_dir)
{
    json_t *env = json_object_get(spec, "environment");
    const char *path = json_string_value(json_object_get(env, "conda_file"));
    if (path == NULL)
        return 0;
    char *full = resolve(base_dir, path);
    char *text = NULL;
    size_t len = 0;
    struct inf_err err = {0};
    int rc = 0;
    if (inf_read_file(full, CONDA_MAX_BYTES, &text, &len, &err) != 0) {
        rc = cli_fail("%s: environment.conda_file: %s", source, err.msg);
    } else {
        json_t *content = json_stringn(text, len);
        if (content == NULL)
            rc = cli_fail("%s: environment.conda_file: %s is not UTF-8 text", source, full);
        else
            json_object_set_new(env, "conda_file", content);
    }
    free(text);
    free(full);
    return rc;
}

/* Turns the spec's local paths (relative to base_dir) into what the server
 * takes: artifact references for model and code, the conda file's text. */
int cli_deployment_localise(struct cli *c, json_t *spec, const char *source, const char *base_dir,
                            int with_conda)
{
    json_t *model = json_object_get(spec, "model");
    int rc;
    if (json_is_string(model))
        rc = upload_field(c, spec, "model", source, "model", base_dir, 1);
    else
        rc = upload_field(c, model, "path", source, "model.path", base_dir, 1);
    if (rc == 0)
        rc = upload_field(c, json_object_get(spec, "code_configuration"), "code", source,
                          "code_configuration.code", base_dir, 0);
    if (rc == 0 && with_conda)
        rc = inline_conda(spec, source, base_dir);
    return rc;
}

/* ---- waiting ---- */

static void count_ready(const json_t *d, size_t *ready, size_t *total)
{
    const json_t *instances = json_object_get(d, "instances");
    size_t i;
    const json_t *inst;
    *ready = 0;
    json_array_foreach(instances, i, inst)
    {
        const char *state = json_string_value(json_object_get(inst, "state"));
        if (state != NULL && strcmp(state, "Ready") == 0)
            (*ready)++;
    }
    json_int_t want = json_integer_value(json_object_get(d, "instance_count"));
    *total = want > 0 ? (size_t)want : json_array_size(instances);
}

static void clear_progress(const struct cli *c)
{
    if (c->stderr_tty)
        fputs("\r\033[K", stderr);
}

/* Polls the deployment until it is Succeeded or Failed; *final gets it (a
 * new reference). `doing` is "Creating" or "Updating", for the progress
 * line shown on a terminal. */
static int wait_done(struct cli *c, const char *endpoint, const char *name, const char *doing,
                     json_t **final)
{
    long timeout_s;
    int rc = cli_env_long("INFERD_WAIT_TIMEOUT_S", DEFAULT_WAIT_TIMEOUT_S, 1, 7L * 24 * 3600,
                          &timeout_s);
    if (rc != 0)
        return rc;
    char *path = deployment_path(endpoint, name);
    uint64_t start = inf_now_ms();
    *final = NULL;
    for (;;) {
        json_t *d = NULL;
        rc = cli_api(c, "GET", path, NULL, &d);
        if (rc != 0)
            break;
        const char *state = json_string_value(json_object_get(d, "provisioning_state"));
        if (state != NULL && (strcmp(state, "Succeeded") == 0 || strcmp(state, "Failed") == 0)) {
            *final = d;
            break;
        }
        uint64_t elapsed_s = (inf_now_ms() - start) / 1000;
        if (c->stderr_tty) {
            size_t ready, total;
            count_ready(d, &ready, &total);
            fprintf(stderr, "\r%s %s: instances %zu/%zu ready ... %llus\033[K", doing, name, ready,
                    total, (unsigned long long)elapsed_s);
        }
        if (elapsed_s >= (uint64_t)timeout_s) {
            clear_progress(c);
            rc = cli_fail("deployment '%s' is still %s after %ld s (INFERD_WAIT_TIMEOUT_S); "
                          "follow it with `inferd online-deployment show -e %s -n %s`",
                          name, state != NULL ? state : "not done", timeout_s, endpoint, name);
            json_decref(d);
            break;
        }
        json_decref(d);
        struct timespec pause = {.tv_sec = 0, .tv_nsec = POLL_INTERVAL_NS};
        nanosleep(&pause, NULL);
    }
    clear_progress(c);
    free(path);
    return rc;
}

/* Gives `name` 100% of the endpoint's live traffic and every other
 * deployment 0%. */
static int take_all_traffic(struct cli *c, const char *endpoint, const char *name)
{
    char *list_path = inf_asprintf("/api/v1/online-endpoints/%s/deployments", endpoint);
    char *traffic_path = inf_asprintf("/api/v1/online-endpoints/%s/traffic", endpoint);
    json_t *list = NULL;
    json_t *result = NULL;
    json_t *traffic = json_object();
    int rc = cli_api(c, "GET", list_path, NULL, &list);
    if (rc == 0) {
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(list, "value"), i, d)
        {
            const char *other = json_string_value(json_object_get(d, "name"));
            if (other != NULL)
                json_object_set_new(traffic, other, json_integer(0));
        }
        json_object_set_new(traffic, name, json_integer(100));
        rc = cli_api(c, "PUT", traffic_path, traffic, &result);
    }
    if (rc != 0)
        cli_fail("deployment '%s' is ready but the traffic of endpoint '%s' was not changed", name,
                 endpoint);
    else
        cli_note("endpoint '%s' now sends all traffic to '%s'", endpoint, name);
    json_decref(result);
    json_decref(traffic);
    json_decref(list);
    free(traffic_path);
    free(list_path);
    return rc;
}

/* ---- create and update ---- */

/* What create/update were asked to do, besides the spec itself. */
struct deploy_req {
    enum deploy_kind kind;
    const char *source;   /* the YAML file, or the deployment name */
    const char *base_dir; /* local paths in the spec are relative to this */
    int from_file;        /* the spec came from a file (conda_file is a path) */
    int wait;             /* poll until Succeeded/Failed */
    int all_traffic;      /* afterwards, route all traffic to it */
};

/* Checks that the endpoint exists and the deployment does (update) or does
 * not (create) yet. */
static int check_state(struct cli *c, const struct deploy_req *r, const char *endpoint,
                       const char *name)
{
    char *ep_path = inf_asprintf("/api/v1/online-endpoints/%s", endpoint);
    char *path = deployment_path(endpoint, name);
    int ep_exists = 0, exists = 0;
    int rc = cli_api_exists(c, ep_path, &ep_exists);
    if (rc == 0 && !ep_exists)
        rc = cli_fail("endpoint '%s' does not exist; create it first with `inferd "
                      "online-endpoint create`",
                      endpoint);
    if (rc == 0)
        rc = cli_api_exists(c, path, &exists);
    if (rc == 0 && r->kind == DEPLOY_CREATE && exists)
        rc = cli_fail("deployment '%s' already exists on endpoint '%s'; use `inferd "
                      "online-deployment update`",
                      name, endpoint);
    if (rc == 0 && r->kind == DEPLOY_UPDATE && !exists)
        rc = cli_fail("deployment '%s' does not exist on endpoint '%s'; use `inferd "
                      "online-deployment create`",
                      name, endpoint);
    free(path);
    free(ep_path);
    return rc;
}

/* Prints the finished deployment; Failed is an error. */
static int report(struct cli *c, const struct deploy_req *r, const char *endpoint, const char *name,
                  json_t *d)
{
    const char *state = json_string_value(json_object_get(d, "provisioning_state"));
    if (state != NULL && strcmp(state, "Failed") == 0) {
        const char *reason = json_string_value(json_object_get(d, "reason"));
        cli_print_json(d);
        return cli_fail("deployment '%s' failed: %s", name,
                        reason != NULL && *reason != '\0' ? reason : "(no reason given)");
    }
    int rc = 0;
    if (r->all_traffic)
        rc = take_all_traffic(c, endpoint, name);
    int print_rc = cli_print_json(d);
    return rc != 0 ? rc : print_rc;
}

/* Validates spec (the user's form, with -n/-e/--set applied), uploads its
 * local files, PUTs it and, unless told not to, waits for the outcome. */
static int deploy(struct cli *c, const struct deploy_req *r, json_t *spec)
{
    json_t *notes = json_array();
    struct inf_err err = {0};
    json_t *normal = spec_online_deployment(spec, r->source, SPEC_FILE, notes, &err);
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
    json_t *final = NULL;
    int rc = 0;
    if (endpoint == NULL || name == NULL) {
        rc = cli_fail("%s: missing %s", r->source, endpoint == NULL ? "endpoint_name" : "name");
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
    rc = cli_api(c, "PUT", path, spec, &put);
    if (rc != 0)
        goto out;
    if (!r->wait) {
        rc = cli_print_json(put);
        goto out;
    }
    rc = wait_done(c, endpoint, name, r->kind == DEPLOY_CREATE ? "Creating" : "Updating", &final);
    if (rc == 0)
        rc = report(c, r, endpoint, name, final);
out:
    json_decref(final);
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

/* The spec part of a stored deployment, as a new object. */
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

static int create_or_update(struct cli *c, const struct args *a, enum deploy_kind kind)
{
    const char *file = args_get(a, "file");
    struct deploy_req r = {
        .kind = kind,
        .source = file,
        .from_file = file != NULL,
        .wait = args_count(a, "no-wait") == 0,
        .all_traffic = args_count(a, "all-traffic") > 0,
    };
    if (r.all_traffic && !r.wait)
        return cli_usage_error(c, "--all-traffic waits for the deployment to be ready; it "
                                  "cannot be combined with --no-wait");
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
        return cli_usage_error(c, "missing -f/--file (the deployment YAML)");
    } else {
        /* update -e EP -n NAME --set ...: start from the stored spec. */
        const char *endpoint, *name;
        rc = cli_name_opt(c, a, "endpoint-name", "endpoint name", &endpoint);
        if (rc == 0)
            rc = cli_name_opt(c, a, "name", "deployment name", &name);
        if (rc == 0 && args_count(a, "set") == 0)
            rc = cli_usage_error(c, "nothing to update: give -f FILE or --set KEY=VALUE");
        if (rc != 0)
            return rc;
        char *path = deployment_path(endpoint, name);
        json_t *current = NULL;
        rc = cli_api(c, "GET", path, NULL, &current);
        free(path);
        if (rc != 0)
            return rc;
        spec = spec_of(current);
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

static int deployment_create(struct cli *c, const struct args *a)
{
    return create_or_update(c, a, DEPLOY_CREATE);
}

static int deployment_update(struct cli *c, const struct args *a)
{
    return create_or_update(c, a, DEPLOY_UPDATE);
}

/* ---- show, list, delete, get-logs ---- */

static int ids(const struct cli *c, const struct args *a, const char **endpoint, const char **name)
{
    int rc = cli_name_opt(c, a, "endpoint-name", "endpoint name", endpoint);
    if (rc == 0 && name != NULL)
        rc = cli_name_opt(c, a, "name", "deployment name", name);
    return rc;
}

static int call_and_print(struct cli *c, const char *method, char *path)
{
    json_t *result = NULL;
    int rc = cli_api(c, method, path, NULL, &result);
    if (rc == 0)
        rc = cli_print_json(result);
    json_decref(result);
    free(path);
    return rc;
}

static int deployment_show(struct cli *c, const struct args *a)
{
    const char *endpoint, *name;
    int rc = ids(c, a, &endpoint, &name);
    return rc != 0 ? rc : call_and_print(c, "GET", deployment_path(endpoint, name));
}

static int deployment_list(struct cli *c, const struct args *a)
{
    const char *endpoint;
    int rc = ids(c, a, &endpoint, NULL);
    if (rc != 0)
        return rc;
    return call_and_print(c, "GET",
                          inf_asprintf("/api/v1/online-endpoints/%s/deployments", endpoint));
}

static int deployment_delete(struct cli *c, const struct args *a)
{
    const char *endpoint, *name;
    int rc = ids(c, a, &endpoint, &name);
    return rc != 0 ? rc : call_and_print(c, "DELETE", deployment_path(endpoint, name));
}

static int deployment_get_logs(struct cli *c, const struct args *a)
{
    const char *endpoint, *name;
    int rc = ids(c, a, &endpoint, &name);
    if (rc != 0)
        return rc;
    const char *lines_text = args_get(a, "lines");
    const char *instance_text = args_get(a, "instance");
    long lines = 5000, instance = 0;
    if (lines_text != NULL && inf_parse_long(lines_text, 1, MAX_LOG_LINES, &lines) != 0)
        return cli_usage_error(c, "--lines '%s': must be an integer from 1 to %d", lines_text,
                               MAX_LOG_LINES);
    if (instance_text != NULL && inf_parse_long(instance_text, 0, MAX_INSTANCE, &instance) != 0)
        return cli_usage_error(c, "--instance '%s': must be an integer from 0 to %d", instance_text,
                               MAX_INSTANCE);
    char *base = deployment_path(endpoint, name);
    char *path = instance_text != NULL
                     ? inf_asprintf("%s/logs?lines=%ld&instance=%ld", base, lines, instance)
                     : inf_asprintf("%s/logs?lines=%ld", base, lines);
    struct cli_http_req req = {.method = "GET", .path = path};
    struct cli_http_resp resp;
    rc = cli_send(c, &req, &resp);
    if (rc == 0 && (resp.status < 200 || resp.status > 299))
        rc = cli_server_error(req.method, path, &resp);
    if (rc == 0 && resp.body.len > 0 &&
        (fwrite(resp.body.data, 1, resp.body.len, stdout) != resp.body.len || fflush(stdout) != 0))
        rc = cli_fail("cannot write to stdout");
    cli_http_resp_fini(&resp);
    free(path);
    free(base);
    return rc;
}

/* ---- the verb table ---- */

#define OPT_ENDPOINT                                                                               \
    {                                                                                              \
        'e', "endpoint-name", ARGS_VALUE, "ENDPOINT", "endpoint name"                              \
    }
#define OPT_NAME                                                                                   \
    {                                                                                              \
        'n', "name", ARGS_VALUE, "NAME", "deployment name"                                         \
    }

static const struct args_opt create_opts[] = {
    {'f', "file", ARGS_VALUE, "FILE", "deployment YAML (Azure ML CLI v2 schema)"},
    {'e', "endpoint-name", ARGS_VALUE, "ENDPOINT", "endpoint name (overrides the file's)"},
    {'n', "name", ARGS_VALUE, "NAME", "deployment name (overrides the file's)"},
    {0, "set", ARGS_REPEAT, "KEY=VALUE", "set a field, e.g. --set instance_count=2 (repeatable)"},
    {0, "all-traffic", ARGS_FLAG, NULL, "once ready, send it 100% of traffic, others 0%"},
    {0, "no-wait", ARGS_FLAG, NULL, "return at once instead of waiting until ready"},
};

static const struct args_opt show_opts[] = {OPT_ENDPOINT, OPT_NAME};

static const struct args_opt list_opts[] = {OPT_ENDPOINT};

static const struct args_opt delete_opts[] = {
    OPT_ENDPOINT,
    OPT_NAME,
    {'y', "yes", ARGS_FLAG, NULL, "do not prompt (inferd never prompts)"},
};

static const struct args_opt logs_opts[] = {
    OPT_ENDPOINT,
    OPT_NAME,
    {'l', "lines", ARGS_VALUE, "N", "how many of the last lines (default 5000)"},
    {0, "instance", ARGS_VALUE, "I", "which instance, from 0 (default 0)"},
};

#define VERB(name, synopsis, summary, opts, run)                                                   \
    {                                                                                              \
        name, synopsis, summary, opts, sizeof(opts) / sizeof(opts[0]), run                         \
    }

static const struct cli_verb verbs[] = {
    VERB("create",
         "-f FILE [-e ENDPOINT] [-n NAME] [--set KEY=VALUE ...] [--all-traffic] [--no-wait]",
         "Create a deployment, upload its model and code, wait until it is ready.", create_opts,
         deployment_create),
    VERB("update",
         "(-f FILE [-e ENDPOINT] [-n NAME] | -e ENDPOINT -n NAME) [--set KEY=VALUE ...] "
         "[--all-traffic] [--no-wait]",
         "Replace a deployment's spec; old instances serve until the new ones are ready.",
         create_opts, deployment_update),
    VERB("show", "-e ENDPOINT -n NAME", "Show a deployment and its instances.", show_opts,
         deployment_show),
    VERB("list", "-e ENDPOINT", "List an endpoint's deployments.", list_opts, deployment_list),
    VERB("delete", "-e ENDPOINT -n NAME [--yes]",
         "Delete a deployment (its traffic share must be 0 first).", delete_opts,
         deployment_delete),
    VERB("get-logs", "-e ENDPOINT -n NAME [-l N] [--instance I]",
         "Print the end of an instance's log.", logs_opts, deployment_get_logs),
};

const struct cli_group cli_deployment_group = {
    .name = "online-deployment",
    .summary = "Online deployments: the model and code behind an endpoint, run as instances.",
    .verbs = verbs,
    .n_verbs = sizeof(verbs) / sizeof(verbs[0]),
};
