/*
 * batch_api: batch endpoints, deployments and jobs over REST (see
 * batch_api.h). Event-loop thread, except the *_work functions, which run on
 * the store thread and touch only their op (and read-only server
 * configuration).
 *
 * Auth: the admin token everywhere; a batch endpoint's own token (audience
 * "batch:<name>") for invoke, list-jobs and the job routes of its jobs,
 * checked in the work function once the job's endpoint is known.
 */
#include "batch/batch_api.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch/inputs.h"
#include "batch/outputs.h"
#include "batch/scheduler.h"
#include "control/api.h"
#include "core/log.h"
#include "core/util.h"
#include "gateway/auth.h"
#include "http/request.h"
#include "http/respond.h"
#include "server/pool.h"
#include "server/server.h"
#include "spec/spec.h"
#include "store/store_batch.h"

#define MAX_SEGMENTS 8
#define JOB_NAME_MAX 64

struct bop;
typedef void (*bop_work_fn)(struct bop *op, struct store *st);
typedef void (*bop_done_fn)(struct bop *op);

/* One batch API request in progress. */
struct bop {
    struct pool_task task;
    struct server *srv;
    h2o_req_t *req;
    bop_work_fn work;
    bop_done_fn done;
    /* the request */
    int admin;
    char *cred; /* the Bearer value, "" if none */
    char ep[64];
    char dep[64];
    char job[JOB_NAME_MAX + 8];
    char *rest; /* the path under a job's outputs/ or logs/, or NULL */
    json_t *body;
    int set_default;
    int capacity;
    /* results of work */
    struct inf_err err;
    int status;
    json_t *reply;   /* answered as JSON when no error */
    int job_views;   /* reply is a job (1) or {"value": [jobs]} (2): annotate */
    char *file_path; /* answered as a file instead */
    int file_is_log;
    struct store_job created; /* invoke: the new job, for the scheduler */
    int have_created;
};

int batch_api_owns(const char *path, size_t len)
{
    static const char *const prefixes[] = {"/api/v1/batch-endpoints", "/api/v1/jobs"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(prefixes[i]);
        if (len >= n && memcmp(path, prefixes[i], n) == 0 && (len == n || path[n] == '/'))
            return 1;
    }
    return 0;
}

/* ---- views ---- */

static void put_time(json_t *o, const char *key, int64_t t)
{
    if (t <= 0) {
        json_object_set_new(o, key, json_null());
        return;
    }
    char s[32];
    inf_utc_iso8601(s, sizeof(s), t);
    json_object_set_new(o, key, json_string(s));
}

static json_t *endpoint_view(const struct server *srv, const struct store_batch_endpoint *e)
{
    json_t *v = json_loads(e->spec_json, 0, NULL);
    if (v == NULL)
        v = json_object();
    json_object_set_new(v, "name", json_string(e->name));
    char *uri = inf_asprintf("%s/api/v1/batch-endpoints/%s/jobs", srv->base_url, e->name);
    json_object_set_new(v, "scoring_uri", json_string(uri));
    free(uri);
    json_object_set_new(v, "provisioning_state", json_string("Succeeded"));
    put_time(v, "created_at", e->created_at);
    put_time(v, "updated_at", e->updated_at);
    return v;
}

static const char *default_of(const json_t *endpoint_spec)
{
    const char *d = json_string_value(
        json_object_get(json_object_get(endpoint_spec, "defaults"), "deployment_name"));
    return d != NULL ? d : "";
}

static json_t *deployment_view(const struct store_batch_deployment *d, const char *default_name)
{
    json_t *v = json_loads(d->spec_json, 0, NULL);
    if (v == NULL)
        v = json_object();
    json_object_set_new(v, "name", json_string(d->name));
    json_object_set_new(v, "endpoint_name", json_string(d->endpoint));
    json_object_set_new(v, "provisioning_state", json_string("Succeeded"));
    json_object_set_new(v, "is_default", json_boolean(strcmp(default_name, d->name) == 0));
    put_time(v, "created_at", d->created_at);
    put_time(v, "updated_at", d->updated_at);
    return v;
}

static json_t *job_view(const struct store_job *j)
{
    json_t *spec = json_loads(j->spec_json, 0, NULL);
    json_t *input = json_object_get(spec, "input");
    json_t *output = json_object_get(spec, "output");
    json_t *settings = json_object_get(spec, "settings");
    json_t *v =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", j->id, "endpoint_name", j->endpoint,
                  "deployment_name", j->deployment, "status", j->status, "reason", j->reason);
    put_time(v, "created_at", j->created_at);
    put_time(v, "started_at", j->started_at);
    put_time(v, "ended_at", j->ended_at);
    json_object_set_new(v, "input",
                        json_pack("{s:O?, s:O?}", "type", json_object_get(input, "type"), "path",
                                  json_object_get(input, "path")));
    json_object_set(v, "settings", settings != NULL ? settings : json_object());
    json_object_set_new(v, "output",
                        json_pack("{s:O?, s:O?, s:O?}", "path", json_object_get(output, "dir"),
                                  "datastore_path", json_object_get(output, "path"), "file_name",
                                  json_object_get(settings, "output_file_name")));
    json_int_t pending = j->mini_batches - j->mb_done - j->mb_failed;
    json_object_set_new(
        v, "progress",
        json_pack("{s:I, s:I, s:I, s:I, s:i, s:I, s:I, s:I}", "files", (json_int_t)j->files,
                  "mini_batches", (json_int_t)j->mini_batches, "done", (json_int_t)j->mb_done,
                  "failed", (json_int_t)j->mb_failed, "running", 0, "pending", pending,
                  "files_failed", (json_int_t)j->files_failed, "rows", (json_int_t)j->rows));
    json_object_set_new(v, "queue_position", json_integer(0));
    json_decref(spec);
    return v;
}

/* ---- ops ---- */

static void task_work(struct pool_task *task, struct store *st)
{
    struct bop *op = (struct bop *)task;
    op->work(op, st);
}

static void bop_free(struct bop *op)
{
    free(op->cred);
    free(op->rest);
    json_decref(op->body);
    json_decref(op->reply);
    free(op->file_path);
    if (op->have_created)
        store_job_fini(&op->created);
    free(op);
}

static void annotate(struct bop *op)
{
    struct scheduler *sch = op->srv->batch;
    if (op->job_views == 1) {
        scheduler_annotate(sch, op->reply);
    } else if (op->job_views == 2) {
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(op->reply, "value"), i, j)
        {
            scheduler_annotate(sch, j);
        }
    }
}

static void task_done(struct pool_task *task)
{
    struct bop *op = (struct bop *)task;
    if (op->done != NULL && op->err.code == 0) {
        op->done(op);
        return; /* done answers, or resubmits */
    }
    if (op->err.code != 0) {
        respond_err(op->req, &op->err);
    } else if (op->file_path != NULL) {
        h2o_iovec_t mime = op->file_is_log ? h2o_iovec_init(H2O_STRLIT("text/plain; charset=utf-8"))
                                           : h2o_iovec_init(H2O_STRLIT("application/octet-stream"));
        if (h2o_file_send(op->req, 200, "OK", op->file_path, mime, 0) != 0)
            respond_error(op->req, 404, "NotFound", "the file is gone");
    } else {
        annotate(op);
        respond_json(op->req, op->status != 0 ? op->status : 200,
                     op->reply != NULL ? op->reply : json_object());
    }
    bop_free(op);
}

static void bop_submit(struct bop *op, bop_work_fn work, bop_done_fn done)
{
    op->work = work;
    op->done = done;
    op->task.work = task_work;
    op->task.done = task_done;
    pool_submit(op->srv->pool, &op->task);
}

/* Admin, or a valid token of batch endpoint `ep`. */
static int authorised(struct bop *op, const char *ep)
{
    if (op->admin)
        return 1;
    return auth_check_batch_token(ep, op->srv->token_secret, op->cred, strlen(op->cred),
                                  inf_unix_now(), &op->err) == 0;
}

/* ---- batch endpoints ---- */

/* The store's messages name what is missing ("batch endpoint 'x' not
 * found", "deployment 'd' of batch endpoint 'x' not found", "job 'j' not
 * found"): they are answered as they are. */
static int load_endpoint(struct bop *op, struct store *st, struct store_batch_endpoint *e)
{
    return store_batch_endpoint_get(st, op->ep, e, &op->err);
}

static void endpoint_put_work(struct bop *op, struct store *st)
{
    json_t *notes = json_array();
    json_t *spec = spec_batch_endpoint(op->body, "request body", notes, &op->err);
    if (spec == NULL)
        goto done;
    const char *name = json_string_value(json_object_get(spec, "name"));
    if (name != NULL && strcmp(name, op->ep) != 0) {
        inf_err_set(&op->err, INF_EINVAL, "name: '%s' does not match the URL's '%s'", name, op->ep);
        goto done;
    }
    const char *def = default_of(spec);
    struct store_batch_deployment d;
    if (def[0] != '\0' && store_batch_deployment_get(st, op->ep, def, &d, &op->err) != 0) {
        if (op->err.code == INF_ENOTFOUND)
            inf_err_set(&op->err, INF_EINVAL,
                        "defaults.deployment_name: batch endpoint '%s' has no deployment '%s'",
                        op->ep, def);
        goto done;
    }
    if (def[0] != '\0')
        store_batch_deployment_fini(&d);
    struct store_batch_endpoint e;
    int existed = store_batch_endpoint_get(st, op->ep, &e, &op->err) == 0;
    if (existed)
        store_batch_endpoint_fini(&e);
    inf_err_clear(&op->err);
    char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = store_batch_endpoint_put(st, op->ep, text, &op->err);
    free(text);
    if (rc != 0 || store_batch_endpoint_get(st, op->ep, &e, &op->err) != 0)
        goto done;
    op->reply = endpoint_view(op->srv, &e);
    if (json_array_size(notes) > 0)
        json_object_set(op->reply, "notes", notes);
    store_batch_endpoint_fini(&e);
    op->status = existed ? 200 : 201;
    inf_info("batch_endpoint.put", "endpoint=%s created=%d", op->ep, !existed);
done:
    json_decref(spec);
    json_decref(notes);
}

static void endpoint_get_work(struct bop *op, struct store *st)
{
    struct store_batch_endpoint e;
    if (load_endpoint(op, st, &e) != 0)
        return;
    op->reply = endpoint_view(op->srv, &e);
    store_batch_endpoint_fini(&e);
}

static void endpoint_list_work(struct bop *op, struct store *st)
{
    struct store_batch_endpoint *list = NULL;
    size_t n = 0;
    if (store_batch_endpoint_list(st, &list, &n, &op->err) != 0)
        return;
    json_t *value = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(value, endpoint_view(op->srv, &list[i]));
    store_batch_endpoint_list_free(list, n);
    op->reply = json_pack("{s:o}", "value", value);
}

/* INF_ECONFLICT naming the first unfinished job of ep (of dep if not NULL). */
static int refuse_if_active(struct bop *op, struct store *st, const char *dep)
{
    struct store_job *jobs = NULL;
    size_t n = 0;
    if (store_job_list(st, op->ep, 1, &jobs, &n, &op->err) != 0)
        return op->err.code;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (dep == NULL || strcmp(jobs[i].deployment, dep) == 0)
            rc = inf_err_set(&op->err, INF_ECONFLICT,
                             "job '%s' of batch endpoint '%s' has not finished (%s); cancel it "
                             "first: inferd job cancel -n %s",
                             jobs[i].id, op->ep, jobs[i].status, jobs[i].id);
    store_job_list_free(jobs, n);
    return rc;
}

static void endpoint_delete_work(struct bop *op, struct store *st)
{
    struct store_batch_endpoint e;
    if (load_endpoint(op, st, &e) != 0)
        return;
    store_batch_endpoint_fini(&e);
    if (refuse_if_active(op, st, NULL) != 0)
        return;
    struct store_job *jobs = NULL;
    size_t n = 0;
    if (store_job_list(st, op->ep, 0, &jobs, &n, &op->err) != 0 ||
        store_batch_endpoint_delete(st, op->ep, &op->err) != 0) {
        store_job_list_free(jobs, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *dir = scheduler_job_dir(op->srv, jobs[i].id);
        struct inf_err err;
        if (inf_rm_rf(dir, &err) != 0)
            inf_warn("job.files_not_removed", "job=%s error=\"%s\"", jobs[i].id, err.msg);
        free(dir);
    }
    store_job_list_free(jobs, n);
    op->reply = json_object();
    inf_info("batch_endpoint.deleted", "endpoint=%s jobs=%zu", op->ep, n);
}

static void token_work(struct bop *op, struct store *st)
{
    struct store_batch_endpoint e;
    if (load_endpoint(op, st, &e) != 0)
        return;
    store_batch_endpoint_fini(&e);
    char aud[80];
    snprintf(aud, sizeof(aud), "%s%s", AUTH_BATCH_AUDIENCE_PREFIX, op->ep);
    char *token = NULL;
    int64_t exp = 0, refresh = 0;
    if (auth_issue_token(op->srv->token_secret, aud, inf_unix_now(), op->srv->token_ttl_s, &token,
                         &exp, &refresh, &op->err) != 0)
        return;
    char e_s[32], r_s[32];
    inf_utc_iso8601(e_s, sizeof(e_s), exp);
    inf_utc_iso8601(r_s, sizeof(r_s), refresh);
    op->reply = json_pack("{s:s, s:s, s:s, s:s}", "accessToken", token, "expiryTimeUtc", e_s,
                          "refreshAfterTimeUtc", r_s, "tokenType", "Bearer");
    free(token);
}

/* ---- batch deployments ---- */

static void deployment_put_work(struct bop *op, struct store *st)
{
    struct store_batch_endpoint e;
    json_t *notes = json_array();
    json_t *spec = NULL, *ep_spec = NULL;
    if (load_endpoint(op, st, &e) != 0)
        goto done;
    ep_spec = json_loads(e.spec_json, 0, NULL);
    store_batch_endpoint_fini(&e);
    spec = spec_batch_deployment(op->body, "request body", SPEC_API, notes, &op->err);
    if (spec == NULL)
        goto done;
    const char *name = json_string_value(json_object_get(spec, "name"));
    const char *epn = json_string_value(json_object_get(spec, "endpoint_name"));
    if (name != NULL && strcmp(name, op->dep) != 0) {
        inf_err_set(&op->err, INF_EINVAL, "name: '%s' does not match the URL's '%s'", name,
                    op->dep);
        goto done;
    }
    if (epn != NULL && strcmp(epn, op->ep) != 0) {
        inf_err_set(&op->err, INF_EINVAL, "endpoint_name: '%s' does not match the URL's '%s'", epn,
                    op->ep);
        goto done;
    }
    json_object_set_new(spec, "name", json_string(op->dep));
    json_object_set_new(spec, "endpoint_name", json_string(op->ep));
    if (control_check_artifacts(op->srv, spec, &op->err) != 0 ||
        control_resolve_model_backend(op->srv, spec, &op->err) != 0)
        goto done;
    const char *backend = json_string_value(json_object_get(spec, "backend"));
    if (backend == NULL || (strcmp(backend, "python") != 0 && strcmp(backend, "mlflow") != 0)) {
        inf_err_set(&op->err, INF_EUNSUPPORTED,
                    "model: a batch deployment runs a Python scoring script (code_configuration "
                    "with a .py run(mini_batch)) or an MLflow model; this model needs the '%s' "
                    "backend, so add a scoring script",
                    backend != NULL ? backend : "?");
        goto done;
    }
    struct store_batch_deployment d;
    int existed = store_batch_deployment_get(st, op->ep, op->dep, &d, &op->err) == 0;
    if (existed)
        store_batch_deployment_fini(&d);
    inf_err_clear(&op->err);
    char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = store_batch_deployment_put(st, op->ep, op->dep, text, &op->err);
    free(text);
    if (rc != 0)
        goto done;
    /* The first deployment becomes the default, as does one created with
     * --set-default. */
    if (op->set_default || default_of(ep_spec)[0] == '\0') {
        json_t *defaults = json_object_get(ep_spec, "defaults");
        if (!json_is_object(defaults)) {
            defaults = json_object();
            json_object_set_new(ep_spec, "defaults", defaults);
        }
        json_object_set_new(defaults, "deployment_name", json_string(op->dep));
        char *ep_text = json_dumps(ep_spec, JSON_COMPACT | JSON_SORT_KEYS);
        rc = store_batch_endpoint_put(st, op->ep, ep_text, &op->err);
        free(ep_text);
        if (rc != 0)
            goto done;
    }
    if (store_batch_deployment_get(st, op->ep, op->dep, &d, &op->err) != 0)
        goto done;
    op->reply = deployment_view(&d, default_of(ep_spec));
    store_batch_deployment_fini(&d);
    if (json_array_size(notes) > 0)
        json_object_set(op->reply, "notes", notes);
    op->status = existed ? 200 : 201;
    inf_info("batch_deployment.put", "endpoint=%s deployment=%s created=%d", op->ep, op->dep,
             !existed);
done:
    json_decref(ep_spec);
    json_decref(spec);
    json_decref(notes);
}

static void deployment_get_work(struct bop *op, struct store *st)
{
    struct store_batch_endpoint e;
    if (load_endpoint(op, st, &e) != 0)
        return;
    json_t *ep_spec = json_loads(e.spec_json, 0, NULL);
    store_batch_endpoint_fini(&e);
    if (op->dep[0] != '\0') {
        struct store_batch_deployment d;
        if (store_batch_deployment_get(st, op->ep, op->dep, &d, &op->err) == 0) {
            op->reply = deployment_view(&d, default_of(ep_spec));
            store_batch_deployment_fini(&d);
        }
    } else {
        struct store_batch_deployment *list = NULL;
        size_t n = 0;
        if (store_batch_deployment_list(st, op->ep, &list, &n, &op->err) == 0) {
            json_t *value = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(value, deployment_view(&list[i], default_of(ep_spec)));
            op->reply = json_pack("{s:o}", "value", value);
        }
        store_batch_deployment_list_free(list, n);
    }
    json_decref(ep_spec);
}

static void deployment_delete_work(struct bop *op, struct store *st)
{
    struct store_batch_endpoint e;
    if (load_endpoint(op, st, &e) != 0)
        return;
    json_t *ep_spec = json_loads(e.spec_json, 0, NULL);
    store_batch_endpoint_fini(&e);
    int rc = refuse_if_active(op, st, op->dep);
    if (rc == 0) {
        rc = store_batch_deployment_delete(st, op->ep, op->dep, &op->err);
    }
    if (rc == 0 && strcmp(default_of(ep_spec), op->dep) == 0) {
        json_object_set_new(json_object_get(ep_spec, "defaults"), "deployment_name",
                            json_string(""));
        char *text = json_dumps(ep_spec, JSON_COMPACT | JSON_SORT_KEYS);
        rc = store_batch_endpoint_put(st, op->ep, text, &op->err);
        free(text);
    }
    if (rc == 0) {
        op->reply = json_object();
        inf_info("batch_deployment.deleted", "endpoint=%s deployment=%s", op->ep, op->dep);
    }
    json_decref(ep_spec);
}

/* ---- invoke ---- */

static const char *const invoke_keys[] = {
    "input",
    "deployment_name",
    "job_name",
    "instance_count",
    "mini_batch_size",
    "max_concurrency_per_instance",
    "max_retries",
    "timeout",
    "error_threshold",
    "output_path",
    "output_file_name",
    "environment_variables",
    NULL,
};

/* Copies an integer override body[key] in [min, max] into settings[skey]. */
static int override_int(struct bop *op, json_t *settings, const char *key, const char *skey,
                        json_int_t min, json_int_t max)
{
    json_t *v = json_object_get(op->body, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return inf_err_set(&op->err, INF_EINVAL, "%s: must be an integer from %lld to %lld", key,
                           (long long)min, (long long)max);
    json_object_set(settings, skey, v);
    return 0;
}

static int job_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > JOB_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_')))
            return 0;
    }
    return 1;
}

/* The job's settings: the deployment's, then the request's overrides. */
static json_t *job_settings(struct bop *op, const json_t *dep_spec)
{
    json_t *settings = json_deep_copy(json_object_get(dep_spec, "settings"));
    if (!json_is_object(settings)) {
        json_decref(settings);
        settings = json_object();
    }
    json_t *retry = json_object_get(settings, "retry_settings");
    json_object_set(settings, "max_retries", json_object_get(retry, "max_retries"));
    json_object_set(settings, "timeout", json_object_get(retry, "timeout"));
    json_object_del(settings, "retry_settings");
    json_object_set(settings, "instance_count", json_object_get(dep_spec, "instance_count"));
    if (override_int(op, settings, "instance_count", "instance_count", 1, 1024) != 0 ||
        override_int(op, settings, "mini_batch_size", "mini_batch_size", 1, 100000) != 0 ||
        override_int(op, settings, "max_concurrency_per_instance", "max_concurrency_per_instance",
                     1, 64) != 0 ||
        override_int(op, settings, "max_retries", "max_retries", 0, 100) != 0 ||
        override_int(op, settings, "timeout", "timeout", 1, 86400) != 0 ||
        override_int(op, settings, "error_threshold", "error_threshold", -1, INT64_MAX) != 0) {
        json_decref(settings);
        return NULL;
    }
    json_int_t count = json_integer_value(json_object_get(settings, "instance_count"));
    if (count > op->capacity) {
        inf_err_set(&op->err, INF_EINVAL,
                    "instance_count: %lld is more than this server's batch capacity of %d "
                    "instances (inferd serve --batch-instances)",
                    (long long)count, op->capacity);
        json_decref(settings);
        return NULL;
    }
    json_t *file = json_object_get(op->body, "output_file_name");
    if (file != NULL) {
        const char *f = json_string_value(file);
        if (f == NULL || f[0] == '\0' || strchr(f, '/') != NULL || strcmp(f, ".") == 0 ||
            strcmp(f, "..") == 0) {
            inf_err_set(&op->err, INF_EINVAL, "output_file_name: must be a plain file name");
            json_decref(settings);
            return NULL;
        }
        json_object_set(settings, "output_file_name", file);
    }
    return settings;
}

/* Resolves input into the job spec's "input": type, path, dir (and file
 * for uri_file). */
static json_t *job_input(struct bop *op)
{
    json_t *in = json_object_get(op->body, "input");
    const char *path = json_string_value(json_object_get(in, "path"));
    const char *type = json_string_value(json_object_get(in, "type"));
    if (!json_is_object(in) || path == NULL) {
        inf_err_set(&op->err, INF_EINVAL,
                    "input: required: {\"type\": \"uri_folder\", \"path\": "
                    "\"artifact:<sha256>\" or \"azureml://datastores/<name>/paths/<path>\"}");
        return NULL;
    }
    if (type == NULL)
        type = "uri_folder";
    int folder = strcmp(type, "uri_folder") == 0;
    if (!folder && strcmp(type, "uri_file") != 0) {
        inf_err_set(&op->err, INF_EINVAL, "input.type: '%s' is not uri_folder or uri_file", type);
        return NULL;
    }
    char *real = NULL;
    if (inputs_resolve(path, "input.path", op->srv->artifacts_dir, op->srv->datastores,
                       op->srv->ndatastores, 1, folder, &real, &op->err) != 0)
        return NULL;
    json_t *out = json_pack("{s:s, s:s}", "type", type, "path", path);
    if (folder) {
        json_object_set_new(out, "dir", json_string(real));
    } else {
        char *slash = strrchr(real, '/');
        json_object_set_new(out, "file", json_string(slash + 1));
        *slash = '\0';
        json_object_set_new(out, "dir", json_string(real[0] != '\0' ? real : "/"));
    }
    free(real);
    return out;
}

/* The output folder: a datastore path, or the job's own outputs/score. An
 * output file already there is refused (nothing is silently skipped). */
static json_t *job_output(struct bop *op, const char *job_id, const json_t *settings)
{
    const char *ref = json_string_value(json_object_get(op->body, "output_path"));
    char *dir = NULL;
    if (json_object_get(op->body, "output_path") != NULL && ref == NULL) {
        inf_err_set(&op->err, INF_EINVAL, "output_path: must be a string");
        return NULL;
    }
    if (ref != NULL) {
        if (inputs_resolve(ref, "output_path", op->srv->artifacts_dir, op->srv->datastores,
                           op->srv->ndatastores, 0, 1, &dir, &op->err) != 0)
            return NULL;
        if (strncmp(ref, INPUTS_DATASTORE_PREFIX, strlen(INPUTS_DATASTORE_PREFIX)) != 0) {
            inf_err_set(&op->err, INF_EINVAL,
                        "output_path '%s': must be a datastore path "
                        "(azureml://datastores/<name>/paths/<path>); uploads are read-only",
                        ref);
            free(dir);
            return NULL;
        }
    } else {
        char *jd = scheduler_job_dir(op->srv, job_id);
        dir = inf_asprintf("%s/outputs/score", jd);
        free(jd);
    }
    const char *file = json_string_value(json_object_get(settings, "output_file_name"));
    char *full = inf_asprintf("%s/%s", dir, file != NULL ? file : "predictions.csv");
    struct stat st;
    const char *action = json_string_value(json_object_get(settings, "output_action"));
    int exists = stat(full, &st) == 0;
    free(full);
    if (exists && (action == NULL || strcmp(action, "append_row") == 0)) {
        inf_err_set(&op->err, INF_ECONFLICT,
                    "output_path: %s already holds %s; choose another --output-path or "
                    "--set output_file_name=NEW.csv (inferd never overwrites or skips an "
                    "existing output)",
                    ref != NULL ? ref : dir, file != NULL ? file : "predictions.csv");
        free(dir);
        return NULL;
    }
    json_t *out = json_pack("{s:s?, s:s}", "path", ref, "dir", dir);
    free(dir);
    return out;
}

static void invoke_work(struct bop *op, struct store *st)
{
    struct store_batch_endpoint e;
    json_t *ep_spec = NULL, *dep_spec = NULL, *spec = NULL;
    if (load_endpoint(op, st, &e) != 0)
        return;
    ep_spec = json_loads(e.spec_json, 0, NULL);
    store_batch_endpoint_fini(&e);
    if (!authorised(op, op->ep))
        goto done;
    const char *key;
    json_t *v;
    json_object_foreach(op->body, key, v)
    {
        int known = 0;
        for (size_t i = 0; invoke_keys[i] != NULL && !known; i++)
            known = strcmp(key, invoke_keys[i]) == 0;
        if (!known) {
            inf_err_set(&op->err, INF_EINVAL, "request body: unknown key '%s'", key);
            goto done;
        }
    }
    json_t *dname = json_object_get(op->body, "deployment_name");
    const char *dep = json_is_string(dname) ? json_string_value(dname) : default_of(ep_spec);
    if (dname != NULL && !json_is_string(dname) && !json_is_null(dname)) {
        inf_err_set(&op->err, INF_EINVAL, "deployment_name: must be a string");
        goto done;
    }
    if (dep[0] == '\0') {
        inf_err_set(&op->err, INF_EINVAL,
                    "batch endpoint '%s' has no default deployment: name one with "
                    "--deployment-name, or set a default with `inferd batch-endpoint update -n "
                    "%s --set defaults.deployment_name=NAME`",
                    op->ep, op->ep);
        goto done;
    }
    struct store_batch_deployment d;
    int rc = store_batch_deployment_get(st, op->ep, dep, &d, &op->err);
    if (rc != 0)
        goto done;
    snprintf(op->dep, sizeof(op->dep), "%s", d.name);
    dep_spec = json_loads(d.spec_json, 0, NULL);
    store_batch_deployment_fini(&d);

    char id[JOB_NAME_MAX + 8];
    json_t *jn = json_object_get(op->body, "job_name");
    if (jn != NULL && !json_is_null(jn)) {
        if (!json_is_string(jn) || !job_name_valid(json_string_value(jn))) {
            inf_err_set(&op->err, INF_EINVAL,
                        "job_name: 1 to %d letters, digits, '-' and '_', starting with a letter "
                        "or digit",
                        JOB_NAME_MAX);
            goto done;
        }
        snprintf(id, sizeof(id), "%s", json_string_value(jn));
    } else {
        char hex[13];
        inf_random_hex(hex, 6);
        snprintf(id, sizeof(id), "batchjob-%s", hex);
    }
    struct store_job existing;
    if (store_job_get(st, id, &existing, &op->err) == 0) {
        store_job_fini(&existing);
        inf_err_set(&op->err, INF_ECONFLICT, "job_name: a job named '%s' already exists", id);
        goto done;
    }
    inf_err_clear(&op->err);
    json_t *vars = json_object_get(op->body, "environment_variables");
    if (vars != NULL && !json_is_object(vars)) {
        inf_err_set(&op->err, INF_EINVAL, "environment_variables: must be a mapping");
        goto done;
    }
    json_t *env = json_deep_copy(json_object_get(dep_spec, "environment_variables"));
    if (!json_is_object(env)) {
        json_decref(env);
        env = json_object();
    }
    json_object_foreach(vars, key, v)
    {
        if (!json_is_string(v)) {
            inf_err_set(&op->err, INF_EINVAL, "environment_variables.%s: must be a string", key);
            json_decref(env);
            goto done;
        }
        json_object_set(env, key, v);
    }
    spec = json_pack("{s:o, s:O}", "environment_variables", env, "deployment", dep_spec);
    json_t *settings = job_settings(op, dep_spec);
    json_t *input = settings != NULL ? job_input(op) : NULL;
    json_t *output = input != NULL ? job_output(op, id, settings) : NULL;
    if (settings != NULL)
        json_object_set_new(spec, "settings", settings);
    if (input != NULL)
        json_object_set_new(spec, "input", input);
    if (output == NULL)
        goto done;
    json_object_set_new(spec, "output", output);

    char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    int64_t seq = 0;
    rc = store_job_create(st, id, op->ep, op->dep, text, JOB_QUEUED, &seq, &op->err);
    free(text);
    if (rc != 0 || store_job_get(st, id, &op->created, &op->err) != 0)
        goto done;
    op->have_created = 1;
    char *dir = scheduler_job_dir(op->srv, id);
    char *logs = inf_asprintf("%s/logs/user", dir);
    struct inf_err err;
    if (inf_mkdir_p(logs, 0700, &err) != 0)
        inf_warn("job.dir_not_created", "job=%s error=\"%s\"", id, err.msg);
    free(logs);
    free(dir);
    op->reply = job_view(&op->created);
    op->job_views = 1;
    op->status = 201;
    inf_info("job.created", "job=%s endpoint=%s deployment=%s", id, op->ep, op->dep);
done:
    json_decref(spec);
    json_decref(dep_spec);
    json_decref(ep_spec);
}

static void invoke_done(struct bop *op)
{
    scheduler_submit(op->srv->batch, &op->created);
    op->done = NULL;
    task_done(&op->task);
}

/* ---- jobs ---- */

static void jobs_list_work(struct bop *op, struct store *st)
{
    const char *ep = op->ep[0] != '\0' ? op->ep : NULL;
    if (ep != NULL) {
        struct store_batch_endpoint e;
        if (load_endpoint(op, st, &e) != 0)
            return;
        store_batch_endpoint_fini(&e);
    }
    if (ep != NULL ? !authorised(op, ep) : !op->admin) {
        if (ep == NULL)
            inf_err_set(&op->err, INF_EAUTH,
                        "listing every job needs the admin token; with an endpoint's token "
                        "list that endpoint's jobs (?endpoint=NAME)");
        return;
    }
    struct store_job *jobs = NULL;
    size_t n = 0;
    if (store_job_list(st, ep, 0, &jobs, &n, &op->err) != 0)
        return;
    json_t *value = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(value, job_view(&jobs[i]));
    store_job_list_free(jobs, n);
    op->reply = json_pack("{s:o}", "value", value);
    op->job_views = 2;
}

/* Loads the job named in the route and checks the credential for it. */
static int load_job(struct bop *op, struct store *st, struct store_job *j)
{
    int rc = store_job_get(st, op->job, j, &op->err);
    if (rc != 0)
        return rc;
    if (!authorised(op, j->endpoint)) {
        store_job_fini(j);
        return op->err.code;
    }
    return 0;
}

static void job_get_work(struct bop *op, struct store *st)
{
    struct store_job j;
    if (load_job(op, st, &j) != 0)
        return;
    op->reply = job_view(&j);
    op->job_views = 1;
    store_job_fini(&j);
}

static void cancel_done(struct bop *op)
{
    struct inf_err err;
    if (scheduler_cancel(op->srv->batch, op->job, &err) != 0) {
        respond_error(op->req, 409, "Conflict", "job '%s' has already finished", op->job);
        bop_free(op);
        return;
    }
    /* The cancel's writes are queued on the store thread: read after them. */
    bop_submit(op, job_get_work, NULL);
}

static void cancel_work(struct bop *op, struct store *st)
{
    struct store_job j;
    if (load_job(op, st, &j) != 0)
        return;
    store_job_fini(&j);
}

static char *job_output_dir(const struct store_job *j)
{
    json_t *spec = json_loads(j->spec_json, 0, NULL);
    const char *dir = json_string_value(json_object_get(json_object_get(spec, "output"), "dir"));
    char *out = inf_strdup(dir != NULL ? dir : "/nonexistent");
    json_decref(spec);
    return out;
}

static void files_work(struct bop *op, struct store *st)
{
    struct store_job j;
    if (load_job(op, st, &j) != 0)
        return;
    char *out = job_output_dir(&j);
    char *dir = scheduler_job_dir(op->srv, j.id);
    char *logs = inf_asprintf("%s/logs", dir);
    op->reply = json_pack("{s:o, s:o}", "outputs", outputs_list(out, "score"), "logs",
                          outputs_list(logs, "logs"));
    free(logs);
    free(dir);
    free(out);
    store_job_fini(&j);
}

/* A file of the job: under its output folder (outputs/score/...) or its
 * logs folder (logs/...); the real path must stay inside. */
static void file_work(struct bop *op, struct store *st)
{
    struct store_job j;
    if (load_job(op, st, &j) != 0)
        return;
    char *root = NULL;
    if (op->file_is_log) {
        char *dir = scheduler_job_dir(op->srv, j.id);
        root = inf_asprintf("%s/logs", dir);
        free(dir);
    } else {
        root = job_output_dir(&j);
    }
    store_job_fini(&j);
    char *full = inf_asprintf("%s/%s", root, op->rest);
    char real_root[PATH_MAX], real[PATH_MAX];
    struct stat stt;
    size_t n = 0;
    int ok = realpath(root, real_root) != NULL && realpath(full, real) != NULL;
    if (ok) {
        n = strlen(real_root);
        ok = strncmp(real, real_root, n) == 0 && real[n] == '/' && stat(real, &stt) == 0 &&
             S_ISREG(stt.st_mode);
    }
    if (ok)
        op->file_path = inf_strdup(real);
    else
        inf_err_set(&op->err, INF_ENOTFOUND, "job '%s' has no file %s/%s", op->job,
                    op->file_is_log ? "logs" : "outputs/score", op->rest);
    free(full);
    free(root);
}

/* ---- routing ---- */

static void route_endpoint(struct bop *op, char **seg, int n)
{
    h2o_req_t *req = op->req;
    int get = request_method_is(req, "GET"), put = request_method_is(req, "PUT");
    int post = request_method_is(req, "POST"), del = request_method_is(req, "DELETE");
    /* Token-capable routes first: invoke and list-jobs. */
    if (n == 3 && strcmp(seg[2], "jobs") == 0 && (post || get)) {
        if (post) {
            op->body = request_body_json(req);
            if (op->body == NULL)
                goto answered;
            op->capacity = scheduler_capacity(op->srv->batch);
            bop_submit(op, invoke_work, invoke_done);
        } else {
            bop_submit(op, jobs_list_work, NULL);
        }
        return;
    }
    if (!op->admin) {
        respond_error(req, 401, "Unauthorized",
                      "this route needs the admin token (an endpoint's token may only invoke "
                      "and list its jobs)");
        goto answered;
    }
    if (n == 1 && get) {
        bop_submit(op, endpoint_list_work, NULL);
    } else if (n == 2 && get) {
        bop_submit(op, endpoint_get_work, NULL);
    } else if (n == 2 && put) {
        op->body = request_body_json(req);
        if (op->body == NULL)
            goto answered;
        bop_submit(op, endpoint_put_work, NULL);
    } else if (n == 2 && del) {
        bop_submit(op, endpoint_delete_work, NULL);
    } else if (n == 3 && post && strcmp(seg[2], "token") == 0) {
        bop_submit(op, token_work, NULL);
    } else if (n >= 3 && n <= 4 && strcmp(seg[2], "deployments") == 0) {
        if (n == 4) {
            if (spec_name_valid(seg[3], "deployment name", &op->err) != 0) {
                respond_err(req, &op->err);
                goto answered;
            }
            snprintf(op->dep, sizeof(op->dep), "%s", seg[3]);
        }
        if (get) {
            bop_submit(op, deployment_get_work, NULL);
        } else if (n == 4 && put) {
            op->body = request_body_json(req);
            if (op->body == NULL)
                goto answered;
            const char *sd = request_query(req, "set_default");
            op->set_default = sd != NULL && (strcmp(sd, "true") == 0 || strcmp(sd, "1") == 0);
            bop_submit(op, deployment_put_work, NULL);
        } else if (n == 4 && del) {
            bop_submit(op, deployment_delete_work, NULL);
        } else {
            respond_error(req, 405, "MethodNotAllowed", "unsupported method for this route");
            goto answered;
        }
    } else {
        respond_error(req, 404, "NotFound", "no such batch endpoint route");
        goto answered;
    }
    return;
answered:
    bop_free(op);
}

/* The part of the normalised path after /api/v1/jobs/{id}/{what}/, copied. */
static char *path_rest(h2o_req_t *req, const char *id, const char *what)
{
    char *prefix = inf_asprintf("/api/v1/jobs/%s/%s/", id, what);
    h2o_iovec_t p = req->path_normalized;
    size_t n = strlen(prefix);
    char *rest = NULL;
    if (p.len > n && memcmp(p.base, prefix, n) == 0)
        rest = inf_strndup(p.base + n, p.len - n);
    free(prefix);
    return rest;
}

static void route_jobs(struct bop *op, char **seg, int n)
{
    h2o_req_t *req = op->req;
    int get = request_method_is(req, "GET"), post = request_method_is(req, "POST");
    if (n == 1 && get) {
        const char *ep = request_query(req, "endpoint");
        if (ep != NULL)
            snprintf(op->ep, sizeof(op->ep), "%s", ep);
        bop_submit(op, jobs_list_work, NULL);
        return;
    }
    if (n < 2 || !job_name_valid(seg[1])) {
        respond_error(req, 404, "NotFound", "no such job route");
        bop_free(op);
        return;
    }
    snprintf(op->job, sizeof(op->job), "%s", seg[1]);
    if (n == 2 && get) {
        bop_submit(op, job_get_work, NULL);
    } else if (n == 3 && post && strcmp(seg[2], "cancel") == 0) {
        bop_submit(op, cancel_work, cancel_done);
    } else if (n == 3 && get && strcmp(seg[2], "files") == 0) {
        bop_submit(op, files_work, NULL);
    } else if (n >= 4 && get && strcmp(seg[2], "outputs") == 0 && strcmp(seg[3], "score") == 0) {
        op->rest = path_rest(req, op->job, "outputs/score");
        if (op->rest == NULL) {
            respond_error(req, 404, "NotFound", "name a file: /api/v1/jobs/%s/outputs/score/FILE",
                          op->job);
            bop_free(op);
            return;
        }
        bop_submit(op, file_work, NULL);
    } else if (n >= 3 && get && strcmp(seg[2], "logs") == 0) {
        op->rest = path_rest(req, op->job, "logs");
        if (op->rest == NULL) {
            respond_error(req, 404, "NotFound", "name a file: /api/v1/jobs/%s/logs/FILE", op->job);
            bop_free(op);
            return;
        }
        op->file_is_log = 1;
        bop_submit(op, file_work, NULL);
    } else {
        respond_error(req, 404, "NotFound", "no such job route");
        bop_free(op);
    }
}

void batch_api_handle(struct server *srv, h2o_req_t *req, int admin)
{
    if (srv->stopping) {
        respond_error(req, 503, "Unavailable", "the server is shutting down");
        return;
    }
    char *seg[MAX_SEGMENTS];
    int n = request_split_path(req, "/api/v1/", seg, MAX_SEGMENTS);
    struct bop *op = inf_calloc(1, sizeof(*op));
    op->srv = srv;
    op->req = req;
    op->admin = admin;
    h2o_iovec_t cred = respond_bearer(req);
    op->cred = inf_strndup(cred.base != NULL ? cred.base : "", cred.len);
    if (n >= 2 && strcmp(seg[0], "batch-endpoints") == 0) {
        if (spec_name_valid(seg[1], "batch endpoint name", &op->err) != 0) {
            respond_err(req, &op->err);
            bop_free(op);
            return;
        }
        snprintf(op->ep, sizeof(op->ep), "%s", seg[1]);
    }
    if (n >= 1 && strcmp(seg[0], "batch-endpoints") == 0) {
        route_endpoint(op, seg, n);
    } else if (n >= 1 && strcmp(seg[0], "jobs") == 0) {
        route_jobs(op, seg, n);
    } else {
        respond_error(req, 404, "NotFound", "no such API route");
        bop_free(op);
    }
}
