/*
 * api: /api/v1 management routes. Event-loop thread, except the *_work
 * functions, which run on the store thread and touch only their op.
 *
 * A read is answered from the registry at once. A write becomes an `op`:
 * begin (validate against the registry, loop) → work (store thread: files
 * and SQLite) → apply (loop: registry, supervisor, answer). Writes run one
 * at a time; requests arriving meanwhile wait in a FIFO, so each write is
 * validated against the state the previous one left.
 */
#include "control/api.h"

#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "artifact/artifact.h"
#include "batch/batch_api.h"
#include "backends/onnx_backend.h"
#include "control/deploy.h"
#include "control/registry.h"
#include "gateway/metrics.h"
#include "gateway/mirror.h"
#include "control/tokens.h"
#include "core/log.h"
#include "core/util.h"
#include "gateway/auth.h"
#include "http/request.h"
#include "http/respond.h"
#include "server/pool.h"
#include "server/server.h"
#include "spec/spec.h"

#define MAX_SEGMENTS 8
#define DEFAULT_LOG_LINES 5000
#define MAX_LOG_BYTES (8u << 20)

struct waiting {
    h2o_req_t *req;
    struct waiting *next;
};

struct control {
    struct server *srv;
    int busy;
    struct waiting *head, *tail;
};

struct op;
typedef void (*op_work_fn)(struct op *op, struct store *st);
typedef void (*op_apply_fn)(struct op *op);

/* One management write in progress. Fields are filled by begin, read by
 * work, and the results of work are read by apply. */
struct op {
    struct pool_task task;
    struct control *ctl;
    h2o_req_t *req;
    op_work_fn work;
    op_apply_fn apply;
    struct inf_err err;
    char ep[40];
    char dep[40];
    json_t *spec;    /* owned: the spec to store */
    char *spec_text; /* owned: spec serialised for the store */
    char primary_key[REGISTRY_KEY_LEN + 1];
    char secondary_key[REGISTRY_KEY_LEN + 1];
    int created;
    int64_t generation;
    char artifact_id[65];
    int lines;
    int instance;
    char *text; /* owned: a result body (logs) */
};

struct control *control_new(struct server *srv)
{
    struct control *ctl = inf_calloc(1, sizeof(*ctl));
    ctl->srv = srv;
    return ctl;
}

void control_free(struct control *ctl)
{
    if (ctl == NULL)
        return;
    while (ctl->head != NULL) {
        struct waiting *w = ctl->head;
        ctl->head = w->next;
        free(w);
    }
    free(ctl);
}

int control_busy(const struct control *ctl)
{
    return ctl->busy || ctl->head != NULL;
}

/* ---- request helpers ---- */

static int check_name(h2o_req_t *req, const char *name, const char *what)
{
    struct inf_err err;
    if (spec_name_valid(name, what, &err) != 0) {
        respond_err(req, &err);
        return -1;
    }
    return 0;
}

static struct endpoint *find_endpoint_or_404(struct control *ctl, h2o_req_t *req, const char *name)
{
    struct endpoint *ep = registry_find(&ctl->srv->registry, name, strlen(name));
    if (ep == NULL)
        respond_error(req, 404, "NotFound", "online endpoint '%s' not found", name);
    return ep;
}

static struct deployment *find_deployment_or_404(h2o_req_t *req, struct endpoint *ep,
                                                 const char *name)
{
    struct deployment *d = endpoint_find(ep, name, strlen(name));
    if (d == NULL)
        respond_error(req, 404, "NotFound", "deployment '%s' not found in endpoint '%s'", name,
                      ep->name);
    return d;
}

/* ---- op plumbing ---- */

static void dispatch(struct control *ctl, h2o_req_t *req);

static struct op *op_new(struct control *ctl, h2o_req_t *req, op_work_fn work, op_apply_fn apply)
{
    struct op *op = inf_calloc(1, sizeof(*op));
    op->ctl = ctl;
    op->req = req;
    op->work = work;
    op->apply = apply;
    inf_err_clear(&op->err);
    return op;
}

static void op_free(struct op *op)
{
    json_decref(op->spec);
    free(op->spec_text);
    free(op->text);
    free(op);
}

static void task_work(struct pool_task *task, struct store *st)
{
    struct op *op = (struct op *)task;
    op->work(op, st);
}

static void task_done(struct pool_task *task)
{
    struct op *op = (struct op *)task;
    struct control *ctl = op->ctl;
    if (op->err.code != 0)
        respond_err(op->req, &op->err);
    else
        op->apply(op);
    op_free(op);
    ctl->busy = 0;
    while (!ctl->busy && ctl->head != NULL) {
        struct waiting *w = ctl->head;
        ctl->head = w->next;
        if (ctl->head == NULL)
            ctl->tail = NULL;
        h2o_req_t *req = w->req;
        free(w);
        dispatch(ctl, req);
    }
}

static void op_submit(struct op *op)
{
    op->ctl->busy = 1;
    op->task.work = task_work;
    op->task.done = task_done;
    pool_submit(op->ctl->srv->pool, &op->task);
}

/* ---- artifacts ---- */

static void artifact_put_work(struct op *op, struct store *st)
{
    struct server *srv = op->ctl->srv;
    h2o_iovec_t body = op->req->entity;
    if (artifact_store_put(srv->artifacts_dir, body.base, body.len, &srv->artifact_limits,
                           op->artifact_id, &op->created, &op->err) != 0)
        return;
    store_artifact_put(st, op->artifact_id, (int64_t)body.len, &op->err);
}

static void artifact_put_apply(struct op *op)
{
    json_t *o =
        json_pack("{s:s,s:I}", "id", op->artifact_id, "size", (json_int_t)op->req->entity.len);
    respond_json(op->req, op->created ? 201 : 200, o);
    json_decref(o);
    inf_info("artifact.stored", "id=%s bytes=%zu new=%d", op->artifact_id, op->req->entity.len,
             op->created);
}

static void artifact_get_work(struct op *op, struct store *st)
{
    int rc = store_artifact_exists(st, op->artifact_id, &op->err);
    if (rc == 0)
        inf_err_set(&op->err, INF_ENOTFOUND, "artifact %s not found", op->artifact_id);
}

static void artifact_get_apply(struct op *op)
{
    json_t *o = json_pack("{s:s}", "id", op->artifact_id);
    respond_json(op->req, 200, o);
    json_decref(o);
}

static void handle_artifacts(struct control *ctl, h2o_req_t *req, char **seg, int n)
{
    if (n == 1 && request_method_is(req, "POST")) {
        if (req->entity.len == 0) {
            respond_error(req, 400, "BadRequest", "empty body: send the archive (a tar)");
            return;
        }
        op_submit(op_new(ctl, req, artifact_put_work, artifact_put_apply));
        return;
    }
    if (n == 2 && request_method_is(req, "GET")) {
        if (!artifact_id_valid(seg[1])) {
            respond_error(req, 400, "BadRequest",
                          "artifact id '%.70s' is not a SHA-256 (64 lower-case hex digits)",
                          seg[1]);
            return;
        }
        struct op *op = op_new(ctl, req, artifact_get_work, artifact_get_apply);
        snprintf(op->artifact_id, sizeof(op->artifact_id), "%s", seg[1]);
        op_submit(op);
        return;
    }
    respond_error(req, 405, "MethodNotAllowed", "unsupported method for this artifacts route");
}

/* ---- endpoints ---- */

static void endpoint_put_work(struct op *op, struct store *st)
{
    store_endpoint_put(st, op->ep, op->spec_text, op->primary_key, op->secondary_key, &op->err);
}

static void endpoint_put_apply(struct op *op)
{
    struct server *srv = op->ctl->srv;
    struct endpoint *ep = registry_find(&srv->registry, op->ep, strlen(op->ep));
    if (ep == NULL) {
        ep = registry_add(&srv->registry, op->ep, op->spec, op->primary_key, op->secondary_key);
    } else {
        endpoint_set_spec(ep, op->spec);
    }
    op->spec = NULL; /* the registry owns it now */
    json_t *o = endpoint_to_json(ep, srv->base_url);
    respond_json(op->req, op->created ? 201 : 200, o);
    json_decref(o);
    inf_info("endpoint.saved", "endpoint=%s created=%d", op->ep, op->created);
}

/* Checks that traffic names only deployments of ep (or none if ep is NULL). */
static int check_traffic(const struct endpoint *ep, const json_t *spec, struct inf_err *err)
{
    const char *names[ROUTE_MAX_ENTRIES];
    size_t n = 0;
    for (size_t i = 0; ep != NULL && i < ep->ndeps && n < ROUTE_MAX_ENTRIES; i++)
        names[n++] = ep->deps[i]->name;
    if (spec_traffic_check(json_object_get(spec, "traffic"), names, n, err) != 0)
        return err->code;
    json_t *mirror = json_object_get(spec, "mirror_traffic");
    const char *key;
    json_t *v;
    json_object_foreach(mirror, key, v)
    {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            found |= strcmp(names[i], key) == 0;
        if (!found)
            return inf_err_set(err, INF_EINVAL,
                               "mirror_traffic: deployment '%s' does not exist in this endpoint",
                               key);
    }
    return 0;
}

static void submit_endpoint_spec(struct control *ctl, h2o_req_t *req, struct endpoint *ep,
                                 json_t *spec, op_apply_fn apply)
{
    struct op *op = op_new(ctl, req, endpoint_put_work, apply);
    snprintf(op->ep, sizeof(op->ep), "%s", json_string_value(json_object_get(spec, "name")));
    op->spec = spec;
    op->spec_text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    if (ep != NULL) {
        memcpy(op->primary_key, ep->primary_key, sizeof(op->primary_key));
        memcpy(op->secondary_key, ep->secondary_key, sizeof(op->secondary_key));
    } else {
        inf_random_hex(op->primary_key, REGISTRY_KEY_LEN / 2);
        inf_random_hex(op->secondary_key, REGISTRY_KEY_LEN / 2);
        op->created = 1;
    }
    op_submit(op);
}

static void endpoint_put(struct control *ctl, h2o_req_t *req, const char *name)
{
    json_t *body = request_body_json(req);
    if (body == NULL)
        return;
    json_t *bname = json_object_get(body, "name");
    if (bname == NULL) {
        json_object_set_new(body, "name", json_string(name));
    } else if (!json_is_string(bname) || strcmp(json_string_value(bname), name) != 0) {
        respond_error(req, 400, "BadRequest",
                      "name: '%s' in the body does not match '%s' in the URL",
                      json_is_string(bname) ? json_string_value(bname) : "?", name);
        json_decref(body);
        return;
    }
    struct inf_err err = {0};
    json_t *notes = json_array();
    json_t *spec = spec_online_endpoint(body, "request body", notes, &err);
    json_decref(body);
    json_decref(notes);
    if (spec == NULL) {
        respond_err(req, &err);
        return;
    }
    struct endpoint *ep = registry_find(&ctl->srv->registry, name, strlen(name));
    if (check_traffic(ep, spec, &err) != 0) {
        json_decref(spec);
        respond_err(req, &err);
        return;
    }
    submit_endpoint_spec(ctl, req, ep, spec, endpoint_put_apply);
}

static void traffic_put(struct control *ctl, h2o_req_t *req, struct endpoint *ep)
{
    json_t *body = request_body_json(req);
    if (body == NULL)
        return;
    json_t *spec = json_deep_copy(ep->spec);
    json_object_set_new(spec, "traffic", body);
    struct inf_err err = {0};
    json_t *notes = json_array();
    json_t *checked = spec_online_endpoint(spec, "traffic", notes, &err);
    json_decref(notes);
    json_decref(spec);
    if (checked == NULL || check_traffic(ep, checked, &err) != 0) {
        json_decref(checked);
        respond_err(req, &err);
        return;
    }
    submit_endpoint_spec(ctl, req, ep, checked, endpoint_put_apply);
}

static void endpoint_delete_work(struct op *op, struct store *st)
{
    store_endpoint_delete(st, op->ep, &op->err);
}

static void endpoint_delete_apply(struct op *op)
{
    struct server *srv = op->ctl->srv;
    struct endpoint *ep = registry_find(&srv->registry, op->ep, strlen(op->ep));
    if (ep != NULL) {
        for (size_t i = 0; i < ep->ndeps; i++)
            deploy_stop(ep->deps[i]);
        metrics_forget(srv->metrics, ep->name, NULL);
        registry_remove(&srv->registry, ep);
    }
    json_t *o = json_object();
    respond_json(op->req, 200, o);
    json_decref(o);
    inf_info("endpoint.deleted", "endpoint=%s", op->ep);
}

static void keys_respond(h2o_req_t *req, const struct endpoint *ep)
{
    json_t *o =
        json_pack("{s:s,s:s}", "primaryKey", ep->primary_key, "secondaryKey", ep->secondary_key);
    respond_json(req, 200, o);
    json_decref(o);
}

static void keys_apply(struct op *op)
{
    struct server *srv = op->ctl->srv;
    struct endpoint *ep = registry_find(&srv->registry, op->ep, strlen(op->ep));
    if (ep == NULL) {
        respond_error(op->req, 404, "NotFound", "online endpoint '%s' not found", op->ep);
        return;
    }
    memcpy(ep->primary_key, op->primary_key, sizeof(ep->primary_key));
    memcpy(ep->secondary_key, op->secondary_key, sizeof(ep->secondary_key));
    keys_respond(op->req, ep);
    inf_info("endpoint.keys_regenerated", "endpoint=%s", op->ep);
}

static void keys_regenerate(struct control *ctl, h2o_req_t *req, struct endpoint *ep)
{
    json_t *body = request_body_json(req);
    if (body == NULL)
        return;
    const char *type = json_string_value(json_object_get(body, "key_type"));
    int primary = type != NULL && strcmp(type, "primary") == 0;
    int secondary = type != NULL && strcmp(type, "secondary") == 0;
    json_decref(body);
    if (!primary && !secondary) {
        respond_error(req, 400, "BadRequest", "key_type: must be \"primary\" or \"secondary\"");
        return;
    }
    struct op *op = op_new(ctl, req, endpoint_put_work, keys_apply);
    snprintf(op->ep, sizeof(op->ep), "%s", ep->name);
    op->spec_text = json_dumps(ep->spec, JSON_COMPACT | JSON_SORT_KEYS);
    memcpy(op->primary_key, ep->primary_key, sizeof(op->primary_key));
    memcpy(op->secondary_key, ep->secondary_key, sizeof(op->secondary_key));
    inf_random_hex(primary ? op->primary_key : op->secondary_key, REGISTRY_KEY_LEN / 2);
    op_submit(op);
}

/* ---- deployments ---- */

/* Backends this build can run. "model" (no script) is resolved later, from
 * the model's files, by resolve_model_backend(). */
static int backend_check(const json_t *spec, struct inf_err *err)
{
    const char *backend = json_string_value(json_object_get(spec, "backend"));
    static const char *const supported[] = {"native", "python", "mlflow", "onnx", "model"};
    for (size_t i = 0; backend != NULL && i < sizeof(supported) / sizeof(supported[0]); i++)
        if (strcmp(backend, supported[i]) == 0)
            return 0;
    return inf_err_set(err, INF_EUNSUPPORTED,
                       "this deployment needs the '%s' backend, which this build of inferd does "
                       "not have yet; use a scoring script (score.py, see docs/python.md) or a "
                       "native scoring library (.so, see docs/native-models.md)",
                       backend != NULL ? backend : "?");
}

/* 1 if dir/MLmodel or dir/<one sub-folder>/MLmodel exists. */
static int has_mlmodel(const char *dir)
{
    char *path = inf_asprintf("%s/MLmodel", dir);
    struct stat st;
    int found = stat(path, &st) == 0;
    free(path);
    DIR *d = found ? NULL : opendir(dir);
    struct dirent *e;
    while (d != NULL && !found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        path = inf_asprintf("%s/%s/MLmodel", dir, e->d_name);
        found = stat(path, &st) == 0;
        free(path);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* A deployment with a model and no script (store thread): a folder (its
 * root or its one sub-folder) with one .onnx file and no MLmodel, or an
 * MLmodel whose onnx flavor is its only loadable one, is served by the onnx
 * backend; another MLflow model folder by the mlflow backend. Several .onnx
 * files: INF_EINVAL naming them. */
int control_resolve_model_backend(const struct server *srv, json_t *spec, struct inf_err *err)
{
    const char *backend = json_string_value(json_object_get(spec, "backend"));
    if (backend == NULL || strcmp(backend, "model") != 0)
        return 0;
    json_t *model = json_object_get(spec, "model");
    const char *ref = json_string_value(json_object_get(model, "path"));
    const char *type = json_string_value(json_object_get(model, "type"));
    if (ref == NULL)
        return inf_err_set(err, INF_EINVAL,
                           "model.path: required when there is no "
                           "code_configuration");
    char *dir = inf_asprintf("%s/%s", srv->artifacts_dir, ref + strlen(SPEC_ARTIFACT_PREFIX));
    int mlflow = has_mlmodel(dir);
    char *onnx_path = NULL;
    struct inf_err why;
    int rc = onnx_backend_find_model(dir, &onnx_path, &why);
    free(onnx_path);
    free(dir);
    if (type != NULL && strcmp(type, "mlflow_model") == 0 && !mlflow)
        return inf_err_set(err, INF_EINVAL,
                           "model: type is mlflow_model but the model folder has no MLmodel "
                           "file (at its root or in its one sub-folder)");
    if (rc == 0) {
        json_object_set_new(spec, "backend", json_string("onnx"));
        return 0;
    }
    if (rc != INF_ENOTFOUND)
        return inf_err_set(err, rc, "model: %s", why.msg);
    if (mlflow) {
        json_object_set_new(spec, "backend", json_string("mlflow"));
        return 0;
    }
    return inf_err_set(err, INF_EUNSUPPORTED,
                       "model: without code_configuration inferd can serve MLflow models (a "
                       "folder with an MLmodel file) and ONNX models (a folder with one .onnx "
                       "file); for other models add code_configuration with a scoring script "
                       "(score.py)");
}

int control_check_artifacts(const struct server *srv, const json_t *spec, struct inf_err *err)
{
    static const char *const fields[][2] = {{"model", "path"}, {"code_configuration", "code"}};
    size_t plen = strlen(SPEC_ARTIFACT_PREFIX);
    for (size_t i = 0; i < 2; i++) {
        const char *ref =
            json_string_value(json_object_get(json_object_get(spec, fields[i][0]), fields[i][1]));
        if (ref == NULL)
            continue;
        char *dir = inf_asprintf("%s/%s", srv->artifacts_dir, ref + plen);
        struct stat st;
        int ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
        free(dir);
        if (!ok)
            return inf_err_set(err, INF_EINVAL,
                               "%s.%s: artifact %s not found; upload it first (POST "
                               "/api/v1/artifacts) or deploy with the CLI, which does",
                               fields[i][0], fields[i][1], ref + plen);
    }
    json_t *code = json_object_get(spec, "code_configuration");
    const char *code_ref = json_string_value(json_object_get(code, "code"));
    const char *script = json_string_value(json_object_get(code, "scoring_script"));
    if (code_ref != NULL && script != NULL) {
        char *path = inf_asprintf("%s/%s/%s", srv->artifacts_dir, code_ref + plen, script);
        struct stat st;
        int ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
        free(path);
        if (!ok)
            return inf_err_set(err, INF_EINVAL,
                               "code_configuration.scoring_script: '%s' is not a file in the code "
                               "folder",
                               script);
    }
    return 0;
}

static void deployment_put_work(struct op *op, struct store *st)
{
    if (control_check_artifacts(op->ctl->srv, op->spec, &op->err) != 0 ||
        control_resolve_model_backend(op->ctl->srv, op->spec, &op->err) != 0)
        return;
    free(op->spec_text);
    op->spec_text = json_dumps(op->spec, JSON_COMPACT | JSON_SORT_KEYS);
    store_deployment_put(st, op->ep, op->dep, op->spec_text, op->created ? "Creating" : "Updating",
                         "", &op->generation, &op->err);
}

static void deployment_put_apply(struct op *op)
{
    struct server *srv = op->ctl->srv;
    struct endpoint *ep = registry_find(&srv->registry, op->ep, strlen(op->ep));
    if (ep == NULL) {
        respond_error(op->req, 404, "NotFound", "online endpoint '%s' not found", op->ep);
        return;
    }
    struct deployment *d = endpoint_find(ep, op->dep, strlen(op->dep));
    if (d == NULL) {
        d = endpoint_add_deployment(ep, op->dep, op->spec, op->generation);
    } else {
        json_decref(d->spec);
        d->spec = op->spec;
        d->generation = op->generation;
    }
    op->spec = NULL;
    deployment_set_state(d, op->created ? "Creating" : "Updating", "");
    d->serving_previous = 0;
    deploy_start(srv, d);
    json_t *o = deployment_to_json(d);
    respond_json(op->req, op->created ? 201 : 200, o);
    json_decref(o);
    inf_info("deployment.saved", "endpoint=%s deployment=%s generation=%lld", op->ep, op->dep,
             (long long)op->generation);
}

static void deployment_put(struct control *ctl, h2o_req_t *req, struct endpoint *ep,
                           const char *name)
{
    json_t *body = request_body_json(req);
    if (body == NULL)
        return;
    static const char *const keys[][2] = {{"name", NULL}, {"endpoint_name", NULL}};
    const char *want[2] = {name, ep->name};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, keys[i][0]);
        if (v == NULL) {
            json_object_set_new(body, keys[i][0], json_string(want[i]));
        } else if (!json_is_string(v) || strcmp(json_string_value(v), want[i]) != 0) {
            respond_error(req, 400, "BadRequest",
                          "%s: '%s' in the body does not match '%s' in the URL", keys[i][0],
                          json_is_string(v) ? json_string_value(v) : "?", want[i]);
            json_decref(body);
            return;
        }
    }
    struct inf_err err = {0};
    json_t *notes = json_array();
    json_t *spec = spec_online_deployment(body, "request body", SPEC_API, notes, &err);
    json_decref(body);
    json_decref(notes);
    if (spec == NULL || backend_check(spec, &err) != 0) {
        json_decref(spec);
        respond_err(req, &err);
        return;
    }
    struct op *op = op_new(ctl, req, deployment_put_work, deployment_put_apply);
    snprintf(op->ep, sizeof(op->ep), "%s", ep->name);
    snprintf(op->dep, sizeof(op->dep), "%s", name);
    op->created = endpoint_find(ep, name, strlen(name)) == NULL;
    op->spec = spec;
    op->spec_text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    op_submit(op);
}

static void deployment_delete_work(struct op *op, struct store *st)
{
    if (store_deployment_delete(st, op->ep, op->dep, &op->err) != 0)
        return;
    /* A zero-share entry for it leaves the endpoint's traffic too. */
    if (op->spec_text != NULL)
        store_endpoint_put(st, op->ep, op->spec_text, op->primary_key, op->secondary_key, &op->err);
}

static void deployment_delete_apply(struct op *op)
{
    struct server *srv = op->ctl->srv;
    struct endpoint *ep = registry_find(&srv->registry, op->ep, strlen(op->ep));
    struct deployment *d = ep != NULL ? endpoint_find(ep, op->dep, strlen(op->dep)) : NULL;
    if (d != NULL) {
        deploy_stop(d);
        if (op->spec != NULL) {
            endpoint_set_spec(ep, op->spec);
            op->spec = NULL;
        }
        metrics_forget(srv->metrics, ep->name, d->name);
        endpoint_remove_deployment(ep, d);
    }
    json_t *o = json_object();
    respond_json(op->req, 200, o);
    json_decref(o);
    inf_info("deployment.deleted", "endpoint=%s deployment=%s", op->ep, op->dep);
}

static void deployment_delete(struct control *ctl, h2o_req_t *req, struct endpoint *ep,
                              struct deployment *d)
{
    int share = endpoint_traffic_of(ep, d->name);
    if (share > 0) {
        respond_error(req, 409, "Conflict",
                      "deployment '%s' receives %d%% of endpoint '%s' traffic; set its traffic "
                      "to 0 first (inferd online-endpoint update -n %s --traffic ...)",
                      d->name, share, ep->name, ep->name);
        return;
    }
    struct op *op = op_new(ctl, req, deployment_delete_work, deployment_delete_apply);
    snprintf(op->ep, sizeof(op->ep), "%s", ep->name);
    snprintf(op->dep, sizeof(op->dep), "%s", d->name);
    json_t *traffic = json_object_get(ep->spec, "traffic");
    json_t *mirror = json_object_get(ep->spec, "mirror_traffic");
    if (json_object_get(traffic, d->name) != NULL || json_object_get(mirror, d->name) != NULL) {
        op->spec = json_deep_copy(ep->spec);
        json_object_del(json_object_get(op->spec, "traffic"), d->name);
        json_object_del(json_object_get(op->spec, "mirror_traffic"), d->name);
        op->spec_text = json_dumps(op->spec, JSON_COMPACT | JSON_SORT_KEYS);
        memcpy(op->primary_key, ep->primary_key, sizeof(op->primary_key));
        memcpy(op->secondary_key, ep->secondary_key, sizeof(op->secondary_key));
    }
    op_submit(op);
}

static void logs_work(struct op *op, struct store *st)
{
    (void)st;
    char *path = inf_asprintf("%s/%s/%s/instance-%d.log", op->ctl->srv->logs_dir, op->ep, op->dep,
                              op->instance);
    op->text = inf_file_tail(path, op->lines, MAX_LOG_BYTES);
    free(path);
}

static void logs_apply(struct op *op)
{
    respond_text(op->req, 200, op->text, strlen(op->text));
}

static void deployment_logs(struct control *ctl, h2o_req_t *req, struct endpoint *ep,
                            struct deployment *d)
{
    long count = json_integer_value(json_object_get(d->spec, "instance_count"));
    struct op *op = op_new(ctl, req, logs_work, logs_apply);
    snprintf(op->ep, sizeof(op->ep), "%s", ep->name);
    snprintf(op->dep, sizeof(op->dep), "%s", d->name);
    op->lines = (int)request_query_long(req, "lines", 1, 1000000, DEFAULT_LOG_LINES);
    op->instance = (int)request_query_long(req, "instance", 0, count > 0 ? count - 1 : 0, 0);
    op_submit(op);
}

/* GET .../mirror-report: how the mirror deployment compares with live
 * traffic (see gateway/mirror.h). */
static void mirror_report_respond(h2o_req_t *req, const struct endpoint *ep)
{
    json_t *o = ep->mirror != NULL ? mirror_report(ep->mirror)
                                   : json_pack("{s:n,s:i,s:I}", "deployment", "percent", 0,
                                               "mirrored", (json_int_t)0);
    json_object_set_new(o, "endpoint", json_string(ep->name));
    json_object_set(o, "mirror_traffic", json_object_get(ep->spec, "mirror_traffic"));
    respond_json(req, 200, o);
    json_decref(o);
}

/* ---- routing ---- */

static void list_endpoints(struct control *ctl, h2o_req_t *req)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ctl->srv->registry.n; i++)
        json_array_append_new(arr, endpoint_to_json(ctl->srv->registry.eps[i], ctl->srv->base_url));
    json_t *o = json_pack("{s:o}", "value", arr);
    respond_json(req, 200, o);
    json_decref(o);
}

static void list_deployments(h2o_req_t *req, struct endpoint *ep)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ep->ndeps; i++)
        json_array_append_new(arr, deployment_to_json(ep->deps[i]));
    json_t *o = json_pack("{s:o}", "value", arr);
    respond_json(req, 200, o);
    json_decref(o);
}

static void route_deployments(struct control *ctl, h2o_req_t *req, struct endpoint *ep, char **seg,
                              int n)
{
    if (n == 3) {
        if (request_method_is(req, "GET"))
            list_deployments(req, ep);
        else
            respond_error(req, 405, "MethodNotAllowed", "use GET to list deployments");
        return;
    }
    if (check_name(req, seg[3], "deployment name") != 0)
        return;
    if (n == 4 && request_method_is(req, "PUT")) {
        deployment_put(ctl, req, ep, seg[3]);
        return;
    }
    struct deployment *d = find_deployment_or_404(req, ep, seg[3]);
    if (d == NULL)
        return;
    if (n == 4 && request_method_is(req, "GET")) {
        json_t *o = deployment_to_json(d);
        respond_json(req, 200, o);
        json_decref(o);
    } else if (n == 4 && request_method_is(req, "DELETE")) {
        deployment_delete(ctl, req, ep, d);
    } else if (n == 5 && strcmp(seg[4], "logs") == 0 && request_method_is(req, "GET")) {
        deployment_logs(ctl, req, ep, d);
    } else {
        respond_error(req, 404, "NotFound", "no such deployment route");
    }
}

static void route_endpoints(struct control *ctl, h2o_req_t *req, char **seg, int n)
{
    if (n == 1) {
        if (request_method_is(req, "GET"))
            list_endpoints(ctl, req);
        else
            respond_error(req, 405, "MethodNotAllowed", "use GET to list endpoints");
        return;
    }
    if (check_name(req, seg[1], "endpoint name") != 0)
        return;
    if (n == 2 && request_method_is(req, "PUT")) {
        endpoint_put(ctl, req, seg[1]);
        return;
    }
    struct endpoint *ep = find_endpoint_or_404(ctl, req, seg[1]);
    if (ep == NULL)
        return;
    if (n == 2 && request_method_is(req, "GET")) {
        json_t *o = endpoint_to_json(ep, ctl->srv->base_url);
        respond_json(req, 200, o);
        json_decref(o);
    } else if (n == 2 && request_method_is(req, "DELETE")) {
        struct op *op = op_new(ctl, req, endpoint_delete_work, endpoint_delete_apply);
        snprintf(op->ep, sizeof(op->ep), "%s", ep->name);
        op_submit(op);
    } else if (n == 3 && strcmp(seg[2], "traffic") == 0 && request_method_is(req, "PUT")) {
        traffic_put(ctl, req, ep);
    } else if (n == 3 && strcmp(seg[2], "mirror-report") == 0 && request_method_is(req, "GET")) {
        mirror_report_respond(req, ep);
    } else if (n == 3 && strcmp(seg[2], "keys") == 0 && request_method_is(req, "GET")) {
        if (auth_is_token_mode(ep))
            respond_error(req, 400, "BadRequest",
                          "endpoint '%s' uses aml_token auth: get a token with POST "
                          "/api/v1/online-endpoints/%s/token",
                          ep->name, ep->name);
        else
            keys_respond(req, ep);
    } else if (n == 3 && strcmp(seg[2], "token") == 0 && request_method_is(req, "POST")) {
        tokens_handle(ctl->srv, req, ep);
    } else if (n == 4 && strcmp(seg[2], "keys") == 0 && strcmp(seg[3], "regenerate") == 0 &&
               request_method_is(req, "POST")) {
        keys_regenerate(ctl, req, ep);
    } else if (n >= 3 && strcmp(seg[2], "deployments") == 0) {
        route_deployments(ctl, req, ep, seg, n);
    } else {
        respond_error(req, 404, "NotFound", "no such endpoint route");
    }
}

static void dispatch(struct control *ctl, h2o_req_t *req)
{
    char *seg[MAX_SEGMENTS];
    int n = request_split_path(req, "/api/v1/", seg, MAX_SEGMENTS);
    if (n <= 0) {
        respond_error(req, 404, "NotFound", "no such API route");
        return;
    }
    if (strcmp(seg[0], "online-endpoints") == 0)
        route_endpoints(ctl, req, seg, n);
    else if (strcmp(seg[0], "artifacts") == 0)
        handle_artifacts(ctl, req, seg, n);
    else
        respond_error(req, 404, "NotFound", "no such API route: /api/v1/%s", seg[0]);
}

void control_handle(struct control *ctl, h2o_req_t *req)
{
    h2o_iovec_t cred = respond_bearer(req);
    const char *tok = ctl->srv->admin_token;
    int admin = cred.len > 0 && inf_const_eq(cred.base, cred.len, tok, strlen(tok));
    if (batch_api_owns(req->path_normalized.base, req->path_normalized.len)) {
        /* Batch routes also take endpoint tokens, and order themselves on
         * the store thread. */
        batch_api_handle(ctl->srv, req, admin);
        return;
    }
    if (!admin) {
        respond_error(req, 401, "Unauthorized",
                      "missing or wrong admin token: send 'Authorization: Bearer <token>' with "
                      "the token from %s/admin.token",
                      ctl->srv->home);
        return;
    }
    if (ctl->srv->stopping) {
        respond_error(req, 503, "Unavailable", "the server is shutting down");
        return;
    }
    /* Reads may run at once only when no write is queued ahead of them, so
     * a client sees its own writes in order. */
    if (ctl->busy || ctl->head != NULL) {
        struct waiting *w = inf_calloc(1, sizeof(*w));
        w->req = req;
        if (ctl->tail != NULL)
            ctl->tail->next = w;
        else
            ctl->head = w;
        ctl->tail = w;
        return;
    }
    dispatch(ctl, req);
}

/* ---- start-up ---- */

int control_restore(struct server *srv, struct inf_err *err)
{
    struct store *st = NULL;
    if (store_open(srv->db_path, &st, err) != 0)
        return err->code;
    struct store_endpoint *eps = NULL;
    size_t neps = 0;
    struct store_deployment *deps = NULL;
    size_t ndeps = 0;
    int rc = store_endpoint_list(st, &eps, &neps, err);
    if (rc == 0)
        rc = store_deployment_list(st, NULL, &deps, &ndeps, err);
    store_close(st);
    if (rc != 0)
        goto done;
    for (size_t i = 0; i < neps; i++) {
        json_t *spec = json_loads(eps[i].spec_json, 0, NULL);
        if (spec == NULL) {
            inf_error("restore.bad_endpoint", "endpoint=%s", eps[i].name);
            continue;
        }
        struct endpoint *ep = registry_add(&srv->registry, eps[i].name, spec, eps[i].primary_key,
                                           eps[i].secondary_key);
        ep->created_at = eps[i].created_at;
        ep->updated_at = eps[i].updated_at;
    }
    for (size_t i = 0; i < ndeps; i++) {
        struct endpoint *ep =
            registry_find(&srv->registry, deps[i].endpoint, strlen(deps[i].endpoint));
        json_t *spec = json_loads(deps[i].spec_json, 0, NULL);
        if (ep == NULL || spec == NULL) {
            json_decref(spec);
            inf_error("restore.bad_deployment", "endpoint=%s deployment=%s", deps[i].endpoint,
                      deps[i].name);
            continue;
        }
        int failed = strcmp(deps[i].state, "Failed") == 0;
        json_t *serving = failed && deps[i].active_spec[0] != '\0'
                              ? json_loads(deps[i].active_spec, 0, NULL)
                              : NULL;
        struct deployment *d =
            serving != NULL
                ? endpoint_add_deployment(ep, deps[i].name, serving, deps[i].active_generation)
                : endpoint_add_deployment(ep, deps[i].name, spec, deps[i].generation);
        if (serving != NULL)
            json_decref(spec);
        d->created_at = deps[i].created_at;
        d->updated_at = deps[i].updated_at;
        if (serving != NULL) {
            /* Its last update failed: serve the last generation that
             * succeeded again, and keep reporting the failure. */
            char *reason = inf_asprintf("generation %lld failed, generation %lld (the last that "
                                        "succeeded) is serving: %s",
                                        (long long)deps[i].generation,
                                        (long long)deps[i].active_generation, deps[i].reason);
            deployment_set_state(d, "Failed", reason);
            free(reason);
            d->serving_previous = 1;
            deploy_start(srv, d);
            continue;
        }
        /* A deployment that never came up stays Failed until it is updated. */
        if (failed) {
            deployment_set_state(d, "Failed", deps[i].reason);
            continue;
        }
        deployment_set_state(d, deps[i].state, "");
        deploy_start(srv, d);
    }
    inf_info("server.restored", "endpoints=%zu deployments=%zu", neps, ndeps);
done:
    store_endpoint_list_free(eps, neps);
    store_deployment_list_free(deps, ndeps);
    return rc;
}
