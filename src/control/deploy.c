/*
 * deploy: deployments as instance sets. Event-loop thread only.
 *
 * A deployment has at most two sets: `active` (serving) and `pending`
 * (starting the newest generation). When the pending set is ready it
 * becomes active and the previous one drains; when it fails, the active
 * one keeps serving. The provisioning state moves Creating/Updating →
 * Succeeded | Failed and is written to the store in the background, guarded
 * by the generation so a late write never overwrites a newer spec's state.
 *
 * What happens to the sets and their instances (started, ready, probe
 * failures, restarts, drained) becomes the deployment's event list, each
 * message prefixed with the generation it concerns.
 */
#include "control/deploy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "server/pool.h"
#include "spec/spec.h"
#include "server/server.h"
#include "supervisor/instance.h"

#define DRAIN_MS 30000
#define MIN_STARTUP_TIMEOUT_MS 30000

extern char **environ;

struct state_task {
    struct pool_task task;
    char *endpoint;
    char *name;
    int64_t generation;
    char state[16];
    char *reason;
    char *active_spec; /* the spec that now serves, to remember; NULL if unchanged */
};

static void state_work(struct pool_task *task, struct store *st)
{
    struct state_task *t = (struct state_task *)task;
    struct inf_err err;
    if (t->active_spec != NULL &&
        store_deployment_set_active(st, t->endpoint, t->name, t->generation, t->active_spec,
                                    &err) != 0)
        inf_error("deployment.active_not_saved", "endpoint=%s deployment=%s error=\"%s\"",
                  t->endpoint, t->name, err.msg);
    int rc = store_deployment_set_state(st, t->endpoint, t->name, t->generation, t->state,
                                        t->reason, &err);
    if (rc != 0 && rc != INF_ECONFLICT && rc != INF_ENOTFOUND)
        inf_error("deployment.state_not_saved", "endpoint=%s deployment=%s error=\"%s\"",
                  t->endpoint, t->name, err.msg);
}

static void state_done(struct pool_task *task)
{
    struct state_task *t = (struct state_task *)task;
    free(t->endpoint);
    free(t->name);
    free(t->reason);
    free(t->active_spec);
    free(t);
}

/* Sets the state in memory and queues its write to the store, with the
 * spec now serving when `serving` is non-NULL. */
static void set_state(struct server *srv, struct deployment *d, int64_t generation,
                      const char *state, const char *reason, const json_t *serving)
{
    deployment_set_state(d, state, reason);
    struct state_task *t = inf_calloc(1, sizeof(*t));
    t->active_spec = serving != NULL ? json_dumps(serving, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    t->task.work = state_work;
    t->task.done = state_done;
    t->endpoint = inf_strdup(d->ep->name);
    t->name = inf_strdup(d->name);
    t->generation = generation;
    snprintf(t->state, sizeof(t->state), "%s", state);
    t->reason = inf_strdup(reason != NULL ? reason : "");
    pool_submit(srv->pool, &t->task);
}

/* The callback data of one instance set. A set that is not detached is
 * d->active or d->pending, so d is valid for its events; once detached only
 * SET_STOPPED follows, when d may be gone. */
struct set_owner {
    struct server *srv;
    struct deployment *d;
    char *endpoint; /* names to find d again at SET_STOPPED */
    char *name;
    int64_t generation;
    int served; /* the set became active */
};

static void owner_free(struct set_owner *owner)
{
    free(owner->endpoint);
    free(owner->name);
    free(owner);
}

/* Appends an event about `generation` to d (time 0: now). */
__attribute__((format(printf, 6, 7))) static void
add_event(struct deployment *d, int64_t generation, int64_t time, enum deployment_event_type type,
          const char *reason, const char *fmt, ...)
{
    char text[DEPLOYMENT_EVENT_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    char *message = inf_asprintf("generation %lld: %s", (long long)generation, text);
    deployment_add_event(d, time, type, reason, message);
    free(message);
}

/* A set that served has drained and stopped: tell its deployment, if it
 * still exists (a deleted one is not found; one deleted and created again
 * under the same name at the same address during the drain would get the
 * event too, which is harmless). */
static void set_stopped(struct set_owner *owner)
{
    if (!owner->served)
        return;
    struct registry *reg = &owner->srv->registry;
    struct endpoint *ep = registry_find(reg, owner->endpoint, strlen(owner->endpoint));
    struct deployment *d = ep != NULL ? endpoint_find(ep, owner->name, strlen(owner->name)) : NULL;
    if (d != owner->d)
        return;
    add_event(d, owner->generation, 0, DEPLOYMENT_EVENT_NORMAL, "Drained",
              "instances drained and stopped");
}

static void on_set_event(struct instance_set *set, const struct set_report *r, void *data)
{
    struct set_owner *owner = data;
    struct deployment *d = owner->d;
    switch (r->ev) {
    case SET_STOPPED:
        set_stopped(owner);
        owner_free(owner);
        return;
    case SET_EVENT:
        add_event(d, owner->generation, r->time,
                  r->warning ? DEPLOYMENT_EVENT_WARNING : DEPLOYMENT_EVENT_NORMAL, r->reason, "%s",
                  r->message);
        return;
    case SET_READY:
    case SET_FAILED:
        break;
    }
    if (d->pending != set)
        return;
    d->pending = NULL;
    if (r->ev == SET_READY) {
        struct instance_set *old = d->active;
        d->active = set;
        owner->served = 1;
        if (old != NULL)
            instance_set_stop(old, DRAIN_MS);
        int total, ready;
        instance_set_counts(set, &total, &ready);
        inf_info("deployment.succeeded", "endpoint=%s deployment=%s generation=%lld", d->ep->name,
                 d->name, (long long)owner->generation);
        if (d->serving_previous) {
            /* Restored after a failed update: serving, but still Failed. */
            add_event(d, owner->generation, 0, DEPLOYMENT_EVENT_WARNING, "ServingPrevious",
                      "%d instance(s) of the last generation that succeeded are serving; "
                      "update the deployment to retry",
                      total);
            return;
        }
        add_event(d, owner->generation, 0, DEPLOYMENT_EVENT_NORMAL, "DeploymentSucceeded",
                  "%d instance(s) ready and serving%s", total,
                  old != NULL ? "; the previous instances drain and stop" : "");
        set_state(owner->srv, d, owner->generation, "Succeeded", "", d->spec);
    } else {
        /* The set is stopping itself; detach so only SET_STOPPED follows. */
        instance_set_stop(set, 0);
        inf_warn("deployment.failed", "endpoint=%s deployment=%s generation=%lld", d->ep->name,
                 d->name, (long long)owner->generation);
        add_event(d, owner->generation, 0, DEPLOYMENT_EVENT_WARNING, "DeploymentFailed",
                  "start-up failed: %s%s", r->message,
                  d->active != NULL ? "; the previous instances keep serving" : "");
        set_state(owner->srv, d, owner->generation, "Failed", r->reason, NULL);
    }
}

/* The instance's environment: the server's (minus AZUREML_*), the Azure
 * variables a scoring script expects, then the deployment's own
 * environment_variables, which win. Math libraries default to one thread
 * per process: an instance scales with processes, not threads. */
static void build_env(const struct server *srv, const json_t *spec, const char *endpoint,
                      const char *name, const char *model_dir, const char *script,
                      struct inf_strv *env_out)
{
    struct inf_strv env = *env_out;
    for (size_t i = 0; environ[i] != NULL; i++)
        if (strncmp(environ[i], "AZUREML_", 8) != 0)
            inf_strv_push(&env, inf_strdup(environ[i]));
    inf_strv_push(&env, inf_asprintf("AZUREML_MODEL_DIR=%s", model_dir));
    if (script != NULL)
        inf_strv_push(&env, inf_asprintf("AZUREML_ENTRY_SCRIPT=%s", script));
    inf_strv_push(&env, inf_asprintf("INFERD_ENDPOINT=%s", endpoint));
    inf_strv_push(&env, inf_asprintf("INFERD_DEPLOYMENT=%s", name));
    inf_strv_push(&env, inf_asprintf("INFERD_HOME=%s", srv->home));
    json_t *vars = json_object_get(spec, "environment_variables");
    const char *key;
    json_t *v;
    json_object_foreach(vars, key, v)
    {
        const char *val = json_string_value(v);
        inf_strv_push(&env, inf_asprintf("%s=%s", key, val != NULL ? val : ""));
    }
    static const char *const threads[] = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                          "MKL_NUM_THREADS"};
    for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
        if (json_object_get(vars, threads[i]) == NULL && !inf_strv_has_var(&env, threads[i]))
            inf_strv_push(&env, inf_asprintf("%s=1", threads[i]));
    *env_out = env;
}

/* How long the instance lets one scoring call run before killing it. The
 * gateway answers 408 at request_timeout_ms; the instance gives the call
 * a little longer, so the client sees the platform's 408 and the stuck
 * process is recycled right after. SCORING_TIMEOUT_MS in
 * environment_variables (as on Azure's inference server) sets it instead:
 * below request_timeout_ms it gives Azure's 500 "Scoring timeout" answer. */
#define SCORING_TIMEOUT_GRACE_MS 250
static long long scoring_timeout_ms(const json_t *spec, json_int_t request_timeout_ms)
{
    const char *env = json_string_value(
        json_object_get(json_object_get(spec, "environment_variables"), "SCORING_TIMEOUT_MS"));
    long v;
    if (env != NULL && inf_parse_long(env, 1, 180000, &v) == 0)
        return v;
    long long t = request_timeout_ms > 0 ? request_timeout_ms : 5000;
    t += SCORING_TIMEOUT_GRACE_MS;
    return t > 180000 ? 180000 : t;
}

/* Processes per instance: WORKER_COUNT from environment_variables (as
 * Azure's server reads it), else max_concurrent_requests_per_instance. */
static int worker_count(const json_t *spec)
{
    const char *wc = json_string_value(
        json_object_get(json_object_get(spec, "environment_variables"), "WORKER_COUNT"));
    long n;
    if (wc != NULL && inf_parse_long(wc, 1, 64, &n) == 0)
        return (int)n;
    json_int_t c = json_integer_value(json_object_get(json_object_get(spec, "request_settings"),
                                                      "max_concurrent_requests_per_instance"));
    return c < 1 ? 1 : c > 64 ? 64 : (int)c;
}

char *deploy_conda_file(const struct server *srv, const json_t *spec, const char *tag)
{
    const char *text =
        json_string_value(json_object_get(json_object_get(spec, "environment"), "conda_file"));
    if (text == NULL)
        return NULL;
    char *path = inf_asprintf("%s/%s.conda.yml", srv->run_dir, tag);
    FILE *f = fopen(path, "we");
    int ok = f != NULL && fputs(text, f) >= 0;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok) {
        inf_error("deployment.conda_file", "path=%s error=\"%s\"", path, inf_strerror(errno));
        free(path);
        return NULL;
    }
    return path;
}

static const char *artifact_of(const json_t *ref)
{
    const char *s = json_string_value(ref);
    size_t plen = strlen(SPEC_ARTIFACT_PREFIX);
    return s != NULL && strncmp(s, SPEC_ARTIFACT_PREFIX, plen) == 0 ? s + plen : NULL;
}

static uint64_t seconds_ms(const json_t *probe, const char *key)
{
    json_int_t s = json_integer_value(json_object_get(probe, key));
    return s > 0 ? (uint64_t)s * 1000u : 0;
}

/* One probe's settings from the normalised spec (validated there; missing
 * fields stay 0 and take the supervisor's defaults). */
static struct probe_cfg probe_cfg_from_spec(const json_t *spec, const char *key)
{
    const json_t *probe = json_object_get(spec, key);
    return (struct probe_cfg){
        .initial_delay_ms = seconds_ms(probe, "initial_delay"),
        .period_ms = seconds_ms(probe, "period"),
        .timeout_ms = seconds_ms(probe, "timeout"),
        .success_threshold = (int)json_integer_value(json_object_get(probe, "success_threshold")),
        .failure_threshold = (int)json_integer_value(json_object_get(probe, "failure_threshold")),
    };
}

static uint64_t startup_timeout_ms(const json_t *spec)
{
    json_t *probe = json_object_get(spec, "readiness_probe");
    json_int_t delay = json_integer_value(json_object_get(probe, "initial_delay"));
    json_int_t period = json_integer_value(json_object_get(probe, "period"));
    json_int_t failures = json_integer_value(json_object_get(probe, "failure_threshold"));
    uint64_t ms = (uint64_t)(delay + period * failures) * 1000u;
    return ms < MIN_STARTUP_TIMEOUT_MS ? MIN_STARTUP_TIMEOUT_MS : ms;
}

void deploy_worker_command(const struct server *srv, const json_t *spec, const char *endpoint,
                           const char *name, struct inf_strv *argv, struct inf_strv *env)
{
    const char *model = artifact_of(json_object_get(json_object_get(spec, "model"), "path"));
    json_t *code_cfg = json_object_get(spec, "code_configuration");
    const char *code = artifact_of(json_object_get(code_cfg, "code"));
    const char *script = json_string_value(json_object_get(code_cfg, "scoring_script"));
    const char *backend = json_string_value(json_object_get(spec, "backend"));

    char *model_dir = model != NULL ? inf_asprintf("%s/%s", srv->artifacts_dir, model)
                                    : inf_asprintf("%s/empty-model", srv->run_dir);
    if (model == NULL)
        inf_mkdir_p(model_dir, 0700, NULL);

    static const char *const fixed[] = {"inferd", "worker", "--socket", "{socket}", "--backend"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        inf_strv_push(argv, inf_strdup(fixed[i]));
    inf_strv_push(argv, inf_strdup(backend != NULL ? backend : "native"));
    inf_strv_push(argv, inf_strdup("--model-dir"));
    inf_strv_push(argv, inf_strdup(model_dir));
    if (code != NULL && script != NULL) {
        inf_strv_push(argv, inf_strdup("--code-dir"));
        inf_strv_push(argv, inf_asprintf("%s/%s", srv->artifacts_dir, code));
        inf_strv_push(argv, inf_strdup("--script"));
        inf_strv_push(argv, inf_strdup(script));
    }
    build_env(srv, spec, endpoint, name, model_dir, script, env);
    free(model_dir);
}

void deploy_start(struct server *srv, struct deployment *d)
{
    if (d->pending != NULL) {
        instance_set_stop(d->pending, 0);
        d->pending = NULL;
    }
    struct inf_strv argv = {0}, env = {0};
    deploy_worker_command(srv, d->spec, d->ep->name, d->name, &argv, &env);
    json_int_t timeout = json_integer_value(
        json_object_get(json_object_get(d->spec, "request_settings"), "request_timeout_ms"));
    inf_strv_push(
        &argv, inf_asprintf("--timeout-ms=%lld", (long long)scoring_timeout_ms(d->spec, timeout)));
    inf_strv_push(&argv, inf_asprintf("--worker-count=%d", worker_count(d->spec)));
    char tag[160];
    snprintf(tag, sizeof(tag), "%s.%s.%lld", d->ep->name, d->name, (long long)d->generation);
    char *conda = deploy_conda_file(srv, d->spec, tag);
    if (conda != NULL) {
        inf_strv_push(&argv, inf_strdup("--conda-file"));
        inf_strv_push(&argv, conda);
    }

    struct instance_spec spec = {
        .argv = argv.v,
        .envp = env.v,
        .log_dir = inf_asprintf("%s/%s/%s", srv->logs_dir, d->ep->name, d->name),
        .count = (int)json_integer_value(json_object_get(d->spec, "instance_count")),
        .startup_timeout_ms = startup_timeout_ms(d->spec),
        .liveness = probe_cfg_from_spec(d->spec, "liveness_probe"),
        .readiness = probe_cfg_from_spec(d->spec, "readiness_probe"),
    };
    if (spec.count < 1)
        spec.count = 1;
    struct set_owner *owner = inf_calloc(1, sizeof(*owner));
    owner->srv = srv;
    owner->d = d;
    owner->endpoint = inf_strdup(d->ep->name);
    owner->name = inf_strdup(d->name);
    owner->generation = d->generation;
    char label[96];
    snprintf(label, sizeof(label), "%s/%s#%lld", d->ep->name, d->name, (long long)d->generation);
    d->pending = supervisor_start_set(srv->supervisor, label, &spec, on_set_event, owner);
    d->pending_generation = d->generation;
}

void deploy_stop(struct deployment *d)
{
    if (d->pending != NULL) {
        instance_set_stop(d->pending, 0);
        d->pending = NULL;
    }
    if (d->active != NULL) {
        instance_set_stop(d->active, DRAIN_MS);
        d->active = NULL;
    }
}

void deploy_stop_all(struct server *srv)
{
    for (size_t i = 0; i < srv->registry.n; i++) {
        struct endpoint *ep = srv->registry.eps[i];
        for (size_t j = 0; j < ep->ndeps; j++)
            deploy_stop(ep->deps[j]);
    }
}
