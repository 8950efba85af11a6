/*
 * deploy: deployments as instance sets. Event-loop thread only.
 *
 * A deployment has at most two sets: `active` (serving) and `pending`
 * (starting the newest generation). When the pending set is ready it
 * becomes active and the previous one drains; when it fails, the active
 * one keeps serving. The provisioning state moves Creating/Updating →
 * Succeeded | Failed and is written to the store in the background, guarded
 * by the generation so a late write never overwrites a newer spec's state.
 */
#include "control/deploy.h"

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
};

static void state_work(struct pool_task *task, struct store *st)
{
    struct state_task *t = (struct state_task *)task;
    struct inf_err err;
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
    free(t);
}

/* Sets the state in memory and queues its write to the store. */
static void set_state(struct server *srv, struct deployment *d, int64_t generation,
                      const char *state, const char *reason)
{
    deployment_set_state(d, state, reason);
    struct state_task *t = inf_calloc(1, sizeof(*t));
    t->task.work = state_work;
    t->task.done = state_done;
    t->endpoint = inf_strdup(d->ep->name);
    t->name = inf_strdup(d->name);
    t->generation = generation;
    snprintf(t->state, sizeof(t->state), "%s", state);
    t->reason = inf_strdup(reason != NULL ? reason : "");
    pool_submit(srv->pool, &t->task);
}

struct set_owner {
    struct server *srv;
    struct deployment *d;
    int64_t generation;
};

static void on_set_event(struct instance_set *set, enum set_event ev, const char *reason,
                         void *data)
{
    struct set_owner *owner = data;
    struct deployment *d = owner->d;
    if (ev == SET_STOPPED) {
        free(owner);
        return;
    }
    if (d->pending != set) {
        return;
    }
    d->pending = NULL;
    if (ev == SET_READY) {
        struct instance_set *old = d->active;
        d->active = set;
        if (old != NULL)
            instance_set_stop(old, DRAIN_MS);
        inf_info("deployment.succeeded", "endpoint=%s deployment=%s generation=%lld", d->ep->name,
                 d->name, (long long)owner->generation);
        set_state(owner->srv, d, owner->generation, "Succeeded", "");
    } else {
        /* The set is stopping itself; detach so only SET_STOPPED follows. */
        instance_set_stop(set, 0);
        inf_warn("deployment.failed", "endpoint=%s deployment=%s generation=%lld", d->ep->name,
                 d->name, (long long)owner->generation);
        set_state(owner->srv, d, owner->generation, "Failed", reason);
    }
}

static char **build_env(const struct server *srv, const struct deployment *d, const char *model_dir)
{
    json_t *vars = json_object_get(d->spec, "environment_variables");
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = inf_calloc(n + json_object_size(vars) + 8, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* Ours come last and must not be duplicated from the server's env. */
        if (strncmp(environ[i], "AZUREML_", 8) == 0)
            continue;
        env[k++] = inf_strdup(environ[i]);
    }
    env[k++] = inf_asprintf("AZUREML_MODEL_DIR=%s", model_dir);
    env[k++] = inf_asprintf("INFERD_ENDPOINT=%s", d->ep->name);
    env[k++] = inf_asprintf("INFERD_DEPLOYMENT=%s", d->name);
    env[k++] = inf_asprintf("INFERD_HOME=%s", srv->home);
    const char *key;
    json_t *v;
    json_object_foreach(vars, key, v)
    {
        env[k++] = inf_asprintf("%s=%s", key, json_string_value(v) ? json_string_value(v) : "");
    }
    env[k] = NULL;
    return env;
}

static const char *artifact_of(const json_t *ref)
{
    const char *s = json_string_value(ref);
    size_t plen = strlen(SPEC_ARTIFACT_PREFIX);
    return s != NULL && strncmp(s, SPEC_ARTIFACT_PREFIX, plen) == 0 ? s + plen : NULL;
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

void deploy_start(struct server *srv, struct deployment *d)
{
    if (d->pending != NULL) {
        instance_set_stop(d->pending, 0);
        d->pending = NULL;
    }
    const char *model = artifact_of(json_object_get(json_object_get(d->spec, "model"), "path"));
    json_t *code_cfg = json_object_get(d->spec, "code_configuration");
    const char *code = artifact_of(json_object_get(code_cfg, "code"));
    const char *script = json_string_value(json_object_get(code_cfg, "scoring_script"));
    const char *backend = json_string_value(json_object_get(d->spec, "backend"));

    char *model_dir = model != NULL ? inf_asprintf("%s/%s", srv->artifacts_dir, model)
                                    : inf_asprintf("%s/empty-model", srv->run_dir);
    char *code_dir = code != NULL ? inf_asprintf("%s/%s", srv->artifacts_dir, code) : NULL;
    if (model == NULL)
        inf_mkdir_p(model_dir, 0700, NULL);

    size_t argc = 0;
    char **argv = inf_calloc(16, sizeof(char *));
    argv[argc++] = inf_strdup("inferd");
    argv[argc++] = inf_strdup("worker");
    argv[argc++] = inf_strdup("--socket");
    argv[argc++] = inf_strdup("{socket}");
    argv[argc++] = inf_strdup("--backend");
    argv[argc++] = inf_strdup(backend != NULL ? backend : "native");
    argv[argc++] = inf_strdup("--model-dir");
    argv[argc++] = inf_strdup(model_dir);
    if (code_dir != NULL && script != NULL) {
        argv[argc++] = inf_strdup("--code-dir");
        argv[argc++] = inf_strdup(code_dir);
        argv[argc++] = inf_strdup("--script");
        argv[argc++] = inf_strdup(script);
    }
    argv[argc] = NULL;

    struct instance_spec spec = {
        .argv = argv,
        .envp = build_env(srv, d, model_dir),
        .log_dir = inf_asprintf("%s/%s/%s", srv->logs_dir, d->ep->name, d->name),
        .count = (int)json_integer_value(json_object_get(d->spec, "instance_count")),
        .startup_timeout_ms = startup_timeout_ms(d->spec),
    };
    if (spec.count < 1)
        spec.count = 1;
    struct set_owner *owner = inf_malloc(sizeof(*owner));
    owner->srv = srv;
    owner->d = d;
    owner->generation = d->generation;
    char label[96];
    snprintf(label, sizeof(label), "%s/%s#%lld", d->ep->name, d->name, (long long)d->generation);
    d->pending = supervisor_start_set(srv->supervisor, label, &spec, on_set_event, owner);
    d->pending_generation = d->generation;
    free(model_dir);
    free(code_dir);
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
