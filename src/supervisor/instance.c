/*
 * instance: spawns, probes, restarts and stops instance processes.
 *
 * Event-loop thread only. Lifecycle of a set: STARTING phase until every
 * instance answers /health/ready (SET_READY) or one exits / times out
 * (SET_FAILED, then stop); RUNNING phase, where an exited instance is
 * restarted after a capped backoff; STOPPING phase until no process is left
 * and no request or probe holds a pool (SET_STOPPED, then the set is freed).
 * Processes run in their own process group so a signal reaches their
 * children too.
 *
 * Lifecycle of an instance: a fresh process is checked every 50 ms until
 * its first /health/ready 200 (READY). From then on two periodic probes run
 * on it, each with at most one call in flight, cancelled at its timeout:
 * readiness (failure_threshold failures in a row: NOT_READY, out of
 * rotation, until success_threshold successes) and liveness
 * (failure_threshold failures in a row: SIGKILL, then restart as a crash).
 * Instance events are queued and handed to the owner from supervisor_tick,
 * so its callback never runs inside an upstream callback.
 */
#include "supervisor/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "http/upstream.h"

#define CHECK_INTERVAL_MS 50 /* start-up readiness checks */
#define PROBE_BODY_BYTES 4096
#define DEFAULT_PROBE_PERIOD_MS 10000
#define DEFAULT_PROBE_TIMEOUT_MS 2000
#define DEFAULT_SUCCESS_THRESHOLD 1
#define DEFAULT_FAILURE_THRESHOLD 30
#define EVENT_MESSAGE_BYTES 512
#define STOP_GRACE_MS 5000
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 30000
#define LOG_TAIL_LINES 15
#define LOG_TAIL_BYTES 3000

enum set_phase { PHASE_STARTING, PHASE_RUNNING, PHASE_STOPPING };

/* An instance event waiting for the next tick to reach the owner. */
struct queued_event {
    struct queued_event *next;
    int warning;
    int64_t time;
    char reason[32];
    char *message;
};

struct instance_set {
    struct supervisor *sup;
    struct instance_set *next;
    char *label;
    instance_set_cb cb;
    void *data;
    struct instance_spec spec;
    struct instance *inst;
    enum set_phase phase;
    uint64_t drain_deadline_ms;
    int detached;                /* the owner stopped the set: only SET_STOPPED is reported */
    struct queued_event *events; /* oldest first */
    struct queued_event **events_tail;
};

struct supervisor {
    h2o_loop_t *loop;
    struct upstream_ctx *upstream;
    char *exe_path;
    char *run_dir;
    struct instance_set *sets;
    uint64_t next_uid;
};

/* Events are delivered from supervisor_tick so callbacks never re-enter the
 * caller that triggered them. */
struct supervisor *supervisor_new(h2o_loop_t *loop, struct upstream_ctx *upstream,
                                  const char *exe_path, const char *run_dir)
{
    struct supervisor *sup = inf_calloc(1, sizeof(*sup));
    sup->loop = loop;
    sup->upstream = upstream;
    sup->exe_path = inf_strdup(exe_path);
    sup->run_dir = inf_strdup(run_dir);
    return sup;
}

void supervisor_free(struct supervisor *sup)
{
    if (sup == NULL)
        return;
    free(sup->exe_path);
    free(sup->run_dir);
    free(sup);
}

int supervisor_idle(const struct supervisor *sup)
{
    return sup->sets == NULL;
}

const char *instance_state_name(enum instance_state st)
{
    switch (st) {
    case INSTANCE_STARTING:
        return "Starting";
    case INSTANCE_READY:
        return "Ready";
    case INSTANCE_NOT_READY:
        return "NotReady";
    case INSTANCE_RESTARTING:
        return "Restarting";
    case INSTANCE_STOPPING:
        return "Stopping";
    case INSTANCE_STOPPED:
        return "Stopped";
    }
    return "Unknown";
}

/* ---- pure parts ---- */

enum probe_change instance_probe_record(struct probe_state *st, const struct probe_cfg *cfg, int ok)
{
    int need_successes = cfg->success_threshold < 1 ? 1 : cfg->success_threshold;
    int need_failures = cfg->failure_threshold < 1 ? 1 : cfg->failure_threshold;
    if (ok) {
        st->failures = 0;
        if (st->successes < INT_MAX)
            st->successes++;
        if (st->failing && st->successes >= need_successes) {
            st->failing = 0;
            return PROBE_RECOVERED;
        }
        return PROBE_UNCHANGED;
    }
    st->successes = 0;
    if (st->failures < INT_MAX)
        st->failures++;
    if (!st->failing && st->failures >= need_failures) {
        st->failing = 1;
        return PROBE_FAILED;
    }
    return PROBE_UNCHANGED;
}

uint64_t instance_probe_first_ms(const struct probe_cfg *cfg, uint64_t spawned_ms,
                                 uint64_t ready_ms)
{
    uint64_t after_delay = spawned_ms + cfg->initial_delay_ms;
    uint64_t after_period = ready_ms + cfg->period_ms;
    return after_delay > after_period ? after_delay : after_period;
}

void instance_probe_cfg_defaults(struct probe_cfg *cfg)
{
    if (cfg->period_ms == 0)
        cfg->period_ms = DEFAULT_PROBE_PERIOD_MS;
    if (cfg->timeout_ms == 0)
        cfg->timeout_ms = DEFAULT_PROBE_TIMEOUT_MS;
    if (cfg->success_threshold < 1)
        cfg->success_threshold = DEFAULT_SUCCESS_THRESHOLD;
    if (cfg->failure_threshold < 1)
        cfg->failure_threshold = DEFAULT_FAILURE_THRESHOLD;
}

uint64_t instance_backoff_ms(int restarts)
{
    int shift = restarts < 0 ? 0 : restarts < 6 ? restarts : 6;
    uint64_t backoff = (uint64_t)BACKOFF_BASE_MS << shift;
    return backoff > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff;
}

/* ---- reporting to the owner ---- */

/* Queues an instance event for the owner (dropped once the set is detached). */
__attribute__((format(printf, 4, 5))) static void emit(struct instance_set *set, int warning,
                                                       const char *reason, const char *fmt, ...)
{
    if (set->detached)
        return;
    char message[EVENT_MESSAGE_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    struct queued_event *e = inf_calloc(1, sizeof(*e));
    e->warning = warning;
    e->time = inf_unix_now();
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    e->message = inf_strdup(message);
    *set->events_tail = e;
    set->events_tail = &e->next;
}

/* Hands queued events to the owner, oldest first, while it still listens. */
static void flush_events(struct instance_set *set)
{
    while (set->events != NULL) {
        struct queued_event *e = set->events;
        set->events = e->next;
        if (set->events == NULL)
            set->events_tail = &set->events;
        if (!set->detached) {
            struct set_report r = {.ev = SET_EVENT,
                                   .reason = e->reason,
                                   .message = e->message,
                                   .warning = e->warning,
                                   .time = e->time};
            set->cb(set, &r, set->data);
        }
        free(e->message);
        free(e);
    }
}

/* Reports SET_READY or SET_FAILED after the events that led to it. */
static void report(struct instance_set *set, enum set_event ev, const char *reason,
                   const char *message)
{
    flush_events(set);
    if (set->detached)
        return;
    struct set_report r = {.ev = ev, .reason = reason, .message = message};
    set->cb(set, &r, set->data);
}

/* ---- processes and pools ---- */

static void pool_put(struct instance_pool *conn)
{
    if (conn->users == 0 && conn->retired) {
        h2o_socketpool_dispose(&conn->pool);
        free(conn);
    }
}

/* The process behind inst is gone (or never started): retire its pool. */
static void retire_pool(struct instance *inst)
{
    if (inst->conn == NULL)
        return;
    inst->conn->retired = 1;
    pool_put(inst->conn);
    inst->conn = NULL;
}

struct instance_pool *instance_acquire(struct instance *inst)
{
    inst->in_flight++;
    inst->conn->users++;
    return inst->conn;
}

void instance_release(struct instance *inst, struct instance_pool *conn)
{
    inst->in_flight--;
    conn->users--;
    pool_put(conn);
}

static char *log_path(const struct instance *inst)
{
    return inf_asprintf("%s/instance-%d.log", inst->set->spec.log_dir, inst->index);
}

static void signal_instance(struct instance *inst, int sig)
{
    if (inst->pid > 0)
        kill(-inst->pid, sig);
}

/* ---- probes ---- */

static const struct probe_cfg *probe_cfg_of(const struct instance_probe *p)
{
    const struct instance_spec *spec = &p->inst->set->spec;
    return p->kind == PROBE_LIVENESS ? &spec->liveness : &spec->readiness;
}

static int probe_in_flight(const struct instance_probe *p)
{
    return p->conn != NULL;
}

/* The call ended (answered or cancelled): let go of its pool. */
static void probe_release(struct instance_probe *p)
{
    struct instance_pool *conn = p->conn;
    p->call = NULL;
    p->conn = NULL;
    conn->users--;
    pool_put(conn);
}

static void probe_cancel(struct instance_probe *p)
{
    if (!probe_in_flight(p))
        return;
    if (p->call != NULL)
        upstream_cancel(p->call);
    probe_release(p);
}

static void probe_reset(struct instance_probe *p)
{
    probe_cancel(p);
    memset(&p->state, 0, sizeof(p->state));
}

/* A fresh process answered /health/ready: into rotation, periodic probes due. */
static void became_ready(struct instance *inst, uint64_t now)
{
    const struct instance_spec *spec = &inst->set->spec;
    inst->state = INSTANCE_READY;
    inst->liveness.next_ms = instance_probe_first_ms(&spec->liveness, inst->spawned_ms, now);
    inst->readiness.next_ms = instance_probe_first_ms(&spec->readiness, inst->spawned_ms, now);
    inf_info("instance.ready", "set=%s index=%d pid=%d", inst->set->label, inst->index,
             (int)inst->pid);
    emit(inst->set, 0, "InstanceReady", "instance %d (pid %d) is ready after %.1f s", inst->index,
         (int)inst->pid, (double)(now - inst->spawned_ms) / 1000.0);
}

static void liveness_result(struct instance_probe *p, enum probe_change change, int ok,
                            const char *why)
{
    struct instance *inst = p->inst;
    const struct probe_cfg *cfg = probe_cfg_of(p);
    if (ok)
        return;
    inf_warn("instance.liveness_failed", "set=%s index=%d pid=%d failures=%d error=\"%s\"",
             inst->set->label, inst->index, (int)inst->pid, p->state.failures, why);
    if (change == PROBE_FAILED) {
        emit(inst->set, 1, "LivenessProbeFailed",
             "instance %d (pid %d): liveness probe failed %d time(s) in a row (last: %s); "
             "killing it",
             inst->index, (int)inst->pid, p->state.failures, why);
        instance_kill(inst, "liveness probe failed");
    } else if (p->state.failures == 1) {
        emit(inst->set, 1, "LivenessProbeFailed",
             "instance %d (pid %d): liveness probe failed: %s (%d failures in a row restart it)",
             inst->index, (int)inst->pid, why, cfg->failure_threshold);
    }
}

static void readiness_result(struct instance_probe *p, enum probe_change change, int ok,
                             const char *why)
{
    struct instance *inst = p->inst;
    const struct probe_cfg *cfg = probe_cfg_of(p);
    if (change == PROBE_RECOVERED) {
        inst->state = INSTANCE_READY;
        inf_info("instance.ready_again", "set=%s index=%d pid=%d", inst->set->label, inst->index,
                 (int)inst->pid);
        emit(inst->set, 0, "InstanceReady",
             "instance %d (pid %d) passed %d readiness probe(s) in a row: back in rotation",
             inst->index, (int)inst->pid, p->state.successes);
        return;
    }
    if (ok)
        return;
    inf_warn("instance.readiness_failed", "set=%s index=%d pid=%d failures=%d error=\"%s\"",
             inst->set->label, inst->index, (int)inst->pid, p->state.failures, why);
    if (change == PROBE_FAILED) {
        inst->state = INSTANCE_NOT_READY;
        emit(inst->set, 1, "InstanceNotReady",
             "instance %d (pid %d): readiness probe failed %d time(s) in a row (last: %s); out "
             "of rotation until %d succeed(s) in a row",
             inst->index, (int)inst->pid, p->state.failures, why, cfg->success_threshold);
    } else if (p->state.failures == 1 && !p->state.failing) {
        emit(inst->set, 1, "ReadinessProbeFailed",
             "instance %d (pid %d): readiness probe failed: %s (%d failures in a row take it "
             "out of rotation)",
             inst->index, (int)inst->pid, why, cfg->failure_threshold);
    }
}

/* One probe ended: ok, or failed for `why`. */
static void probe_result(struct instance_probe *p, int ok, const char *why, uint64_t now)
{
    struct instance *inst = p->inst;
    if (inst->state == INSTANCE_STARTING) {
        /* Start-up checks: retry soon; the start-up deadline decides. */
        if (ok)
            became_ready(inst, now);
        else
            p->next_ms = now + CHECK_INTERVAL_MS;
        return;
    }
    if (inst->state != INSTANCE_READY && inst->state != INSTANCE_NOT_READY)
        return;
    const struct probe_cfg *cfg = probe_cfg_of(p);
    p->next_ms = p->started_ms + cfg->period_ms;
    if (!ok && p->total_failures < INT_MAX)
        p->total_failures++;
    enum probe_change change = instance_probe_record(&p->state, cfg, ok);
    if (p->kind == PROBE_LIVENESS)
        liveness_result(p, change, ok, why);
    else
        readiness_result(p, change, ok, why);
}

static void probe_done(const struct upstream_result *res, void *data)
{
    struct instance_probe *p = data;
    char why[128];
    int ok = res->error == NULL && res->status == 200;
    if (res->error != NULL)
        snprintf(why, sizeof(why), "%s", res->error);
    else
        snprintf(why, sizeof(why), "HTTP %d", res->status);
    probe_release(p);
    probe_result(p, ok, why, inf_now_ms());
}

static void probe_start(struct instance_probe *p, uint64_t now)
{
    struct instance *inst = p->inst;
    const char *path = p->kind == PROBE_LIVENESS ? "/health/live" : "/health/ready";
    p->conn = inst->conn;
    p->conn->users++;
    p->started_ms = now;
    p->call = upstream_start(inst->set->sup->upstream, &p->conn->pool, "GET", path, "",
                             h2o_iovec_init(NULL, 0), PROBE_BODY_BYTES, probe_done, p);
}

/* Starts a due probe, or fails one that ran out of time. */
static void probe_tick(struct instance_probe *p, uint64_t now)
{
    const struct probe_cfg *cfg = probe_cfg_of(p);
    if (probe_in_flight(p)) {
        if (now < p->started_ms + cfg->timeout_ms)
            return;
        probe_cancel(p);
        char why[64];
        snprintf(why, sizeof(why), "no answer within %llu ms", (unsigned long long)cfg->timeout_ms);
        probe_result(p, 0, why, now);
    } else if (now >= p->next_ms && p->inst->conn != NULL) {
        probe_start(p, now);
    }
}

void instance_kill(struct instance *inst, const char *why)
{
    if (inst->pid <= 0)
        return;
    snprintf(inst->kill_why, sizeof(inst->kill_why), "%s", why);
    inf_warn("instance.kill", "set=%s index=%d pid=%d why=\"%s\"", inst->set->label, inst->index,
             (int)inst->pid, inst->kill_why);
    signal_instance(inst, SIGKILL);
    probe_cancel(&inst->liveness);
    probe_cancel(&inst->readiness);
    if (inst->state != INSTANCE_STOPPING) {
        /* Out of rotation now; the exit sets the backoff. */
        inst->state = INSTANCE_RESTARTING;
        inst->deadline_ms = UINT64_MAX;
    }
}

/* ---- sets ---- */

static int spawn(struct instance *inst)
{
    struct instance_set *set = inst->set;
    struct supervisor *sup = set->sup;
    snprintf(inst->sock_path, sizeof(inst->sock_path), "%s/i%llu.sock", sup->run_dir,
             (unsigned long long)++sup->next_uid);
    unlink(inst->sock_path);

    size_t argc = 0;
    while (set->spec.argv[argc] != NULL)
        argc++;
    char **argv = inf_calloc(argc + 1, sizeof(char *));
    char **made = inf_calloc(argc + 1, sizeof(char *)); /* argv entries built here */
    for (size_t i = 0; i < argc; i++) {
        const char *a = set->spec.argv[i];
        const char *at = strstr(a, "{index}");
        if (strcmp(a, "{socket}") == 0) {
            argv[i] = inst->sock_path;
        } else if (at != NULL) {
            made[i] = inf_asprintf("%.*s%d%s", (int)(at - a), a, inst->index, at + 7);
            argv[i] = made[i];
        } else {
            argv[i] = set->spec.argv[i];
        }
    }
    char *logp = log_path(inst);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&attr);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGCHLD);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, sup->exe_path, &fa, &attr, argv, set->spec.envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    for (size_t i = 0; i < argc; i++)
        free(made[i]);
    free(made);
    free(argv);
    free(logp);
    if (rc != 0) {
        snprintf(inst->last_exit, sizeof(inst->last_exit), "spawn failed: %s", inf_strerror(rc));
        inf_error("instance.spawn_failed", "set=%s index=%d error=\"%s\"", set->label, inst->index,
                  inf_strerror(rc));
        return -1;
    }
    uint64_t now = inf_now_ms();
    inst->pid = pid;
    inst->state = INSTANCE_STARTING;
    inst->spawned_ms = now;
    inst->deadline_ms = now + set->spec.startup_timeout_ms;
    inst->kill_why[0] = '\0';
    probe_reset(&inst->liveness);
    probe_reset(&inst->readiness);
    inst->readiness.next_ms = now + 10;

    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, inst->sock_path, strlen(inst->sock_path) + 1);
    inst->conn = inf_calloc(1, sizeof(*inst->conn));
    h2o_socketpool_init_by_address(&inst->conn->pool, (struct sockaddr *)&sa, sizeof(sa), 0, 1024);
    h2o_socketpool_set_timeout(&inst->conn->pool, sup->loop, 5000);
    inf_info("instance.spawned", "set=%s index=%d pid=%d socket=%s", set->label, inst->index,
             (int)pid, inst->sock_path);
    return 0;
}

struct instance_set *supervisor_start_set(struct supervisor *sup, const char *label,
                                          struct instance_spec *spec, instance_set_cb cb,
                                          void *data)
{
    struct instance_set *set = inf_calloc(1, sizeof(*set));
    set->sup = sup;
    set->label = inf_strdup(label);
    set->cb = cb;
    set->data = data;
    set->spec = *spec;
    memset(spec, 0, sizeof(*spec));
    instance_probe_cfg_defaults(&set->spec.liveness);
    instance_probe_cfg_defaults(&set->spec.readiness);
    set->phase = PHASE_STARTING;
    set->events_tail = &set->events;
    set->inst = inf_calloc((size_t)set->spec.count, sizeof(struct instance));
    set->next = sup->sets;
    sup->sets = set;
    struct inf_err err;
    if (inf_mkdir_p(set->spec.log_dir, 0755, &err) != 0)
        inf_error("instance.log_dir", "set=%s error=\"%s\"", label, err.msg);
    for (int i = 0; i < set->spec.count; i++) {
        struct instance *inst = &set->inst[i];
        inst->set = set;
        inst->index = i;
        inst->liveness = (struct instance_probe){.inst = inst, .kind = PROBE_LIVENESS};
        inst->readiness = (struct instance_probe){.inst = inst, .kind = PROBE_READINESS};
        if (spawn(inst) != 0) {
            /* Reported as a start-up failure from the next tick. */
            inst->state = INSTANCE_STOPPED;
            continue;
        }
        emit(set, 0, "InstanceStarted", "instance %d started (pid %d)", i, (int)inst->pid);
    }
    return set;
}

static void set_free(struct instance_set *set)
{
    struct instance_set **pp = &set->sup->sets;
    while (*pp != set)
        pp = &(*pp)->next;
    *pp = set->next;
    while (set->events != NULL) {
        struct queued_event *e = set->events;
        set->events = e->next;
        free(e->message);
        free(e);
    }
    inf_strv_free(set->spec.argv);
    inf_strv_free(set->spec.envp);
    free(set->spec.log_dir);
    free(set->inst);
    free(set->label);
    free(set);
}

static void begin_stop(struct instance_set *set, uint64_t drain_ms)
{
    if (set->phase == PHASE_STOPPING)
        return;
    set->phase = PHASE_STOPPING;
    set->drain_deadline_ms = inf_now_ms() + drain_ms;
    for (int i = 0; i < set->spec.count; i++) {
        struct instance *inst = &set->inst[i];
        probe_cancel(&inst->liveness);
        probe_cancel(&inst->readiness);
        if (inst->pid > 0) {
            inst->state = INSTANCE_STOPPING;
            inst->deadline_ms = 0; /* SIGTERM not sent yet */
        } else {
            inst->state = INSTANCE_STOPPED;
        }
    }
}

void instance_set_stop(struct instance_set *set, uint64_t drain_ms)
{
    set->detached = 1;
    begin_stop(set, drain_ms);
}

struct instance *instance_set_pick(struct instance_set *set)
{
    struct instance *best = NULL;
    for (int i = 0; i < set->spec.count; i++) {
        struct instance *inst = &set->inst[i];
        if (inst->state != INSTANCE_READY || inst->conn == NULL)
            continue;
        if (best == NULL || inst->in_flight < best->in_flight)
            best = inst;
    }
    return best;
}

struct instance *instance_set_member(struct instance_set *set, int index)
{
    return index >= 0 && index < set->spec.count ? &set->inst[index] : NULL;
}

void instance_set_counts(const struct instance_set *set, int *total, int *ready)
{
    *total = set->spec.count;
    *ready = 0;
    for (int i = 0; i < set->spec.count; i++)
        if (set->inst[i].state == INSTANCE_READY)
            (*ready)++;
}

/* The reason for a failed start-up: what happened and the log's tail. */
static char *failure_reason(struct instance *inst, const char *what)
{
    char *logp = log_path(inst);
    char *tail = inf_file_tail(logp, LOG_TAIL_LINES, LOG_TAIL_BYTES);
    char *reason = inf_asprintf("instance %d %s. Last lines of its log (%s):\n%s", inst->index,
                                what, logp, tail);
    free(tail);
    free(logp);
    return reason;
}

static void fail_startup(struct instance_set *set, struct instance *inst, const char *what)
{
    char *reason = failure_reason(inst, what);
    char *message = inf_asprintf("instance %d %s", inst->index, what);
    inf_warn("instance.startup_failed", "set=%s index=%d reason=\"%s\"", set->label, inst->index,
             what);
    begin_stop(set, 0);
    report(set, SET_FAILED, reason, message);
    free(message);
    free(reason);
}

static void describe_exit(char *out, size_t len, int status, const char *kill_why)
{
    if (WIFEXITED(status)) {
        snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig) != NULL ? sigabbrev_np(sig) : "?";
        if (sig == SIGKILL && kill_why[0] != '\0')
            snprintf(out, len, "killed by signal %d (%s): %s", sig, abbrev, kill_why);
        else
            snprintf(out, len, "killed by signal %d (%s)", sig, abbrev);
    } else {
        snprintf(out, len, "ended with status 0x%x", status);
    }
}

void supervisor_on_child_exit(struct supervisor *sup, pid_t pid, int status)
{
    for (struct instance_set *set = sup->sets; set != NULL; set = set->next) {
        for (int i = 0; i < set->spec.count; i++) {
            struct instance *inst = &set->inst[i];
            if (inst->pid != pid)
                continue;
            inst->pid = 0;
            describe_exit(inst->last_exit, sizeof(inst->last_exit), status, inst->kill_why);
            unlink(inst->sock_path);
            probe_cancel(&inst->liveness);
            probe_cancel(&inst->readiness);
            retire_pool(inst);
            inf_info("instance.exited", "set=%s index=%d pid=%d how=\"%s\"", set->label, i,
                     (int)pid, inst->last_exit);
            if (set->phase == PHASE_STOPPING) {
                inst->state = INSTANCE_STOPPED;
            } else if (set->phase == PHASE_STARTING) {
                inst->state = INSTANCE_STOPPED;
                char what[160];
                snprintf(what, sizeof(what), "%s during start-up", inst->last_exit);
                fail_startup(set, inst, what);
            } else {
                uint64_t backoff = instance_backoff_ms(inst->restarts);
                inst->state = INSTANCE_RESTARTING;
                inst->deadline_ms = inf_now_ms() + backoff;
                inf_warn("instance.restart_scheduled", "set=%s index=%d backoff_ms=%llu",
                         set->label, i, (unsigned long long)backoff);
                emit(set, 1, "InstanceExited", "instance %d (pid %d) %s; restarting in %.1f s", i,
                     (int)pid, inst->last_exit, (double)backoff / 1000.0);
            }
            return;
        }
    }
}

static int set_busy(const struct instance_set *set)
{
    for (int i = 0; i < set->spec.count; i++) {
        const struct instance *inst = &set->inst[i];
        if (inst->pid > 0 || inst->in_flight > 0 || probe_in_flight(&inst->liveness) ||
            probe_in_flight(&inst->readiness))
            return 1;
    }
    return 0;
}

static void tick_stopping(struct instance_set *set, uint64_t now)
{
    for (int i = 0; i < set->spec.count; i++) {
        struct instance *inst = &set->inst[i];
        if (inst->pid <= 0)
            continue;
        if (inst->deadline_ms == 0) {
            if (inst->in_flight > 0 && now < set->drain_deadline_ms)
                continue; /* let in-flight requests finish */
            signal_instance(inst, SIGTERM);
            inst->deadline_ms = now + STOP_GRACE_MS;
        } else if (now >= inst->deadline_ms) {
            inf_warn("instance.kill", "set=%s index=%d pid=%d", set->label, i, (int)inst->pid);
            signal_instance(inst, SIGKILL);
            inst->deadline_ms = UINT64_MAX;
        }
    }
}

/* A starting instance: checks every CHECK_INTERVAL_MS until ready or the
 * deadline. Returns 1 if the set's start-up failed. */
static int tick_starting(struct instance *inst, uint64_t now)
{
    struct instance_set *set = inst->set;
    if (now < inst->deadline_ms) {
        probe_tick(&inst->readiness, now);
        return 0;
    }
    char what[96];
    snprintf(what, sizeof(what), "was not ready within %llu s",
             (unsigned long long)(set->spec.startup_timeout_ms / 1000));
    if (set->phase == PHASE_STARTING) {
        fail_startup(set, inst, what);
        return 1;
    }
    /* A restarted instance that hangs: kill it; the exit restarts it. */
    char why[48];
    snprintf(why, sizeof(why), "not ready within %llu s",
             (unsigned long long)(set->spec.startup_timeout_ms / 1000));
    instance_kill(inst, why);
    return 0;
}

/* Returns 1 if the set was freed. */
static int tick_set(struct instance_set *set, uint64_t now)
{
    if (set->phase == PHASE_STOPPING) {
        tick_stopping(set, now);
        if (!set_busy(set)) {
            flush_events(set);
            struct set_report r = {.ev = SET_STOPPED};
            set->cb(set, &r, set->data);
            set_free(set);
            return 1;
        }
        return 0;
    }
    int ready = 0;
    for (int i = 0; i < set->spec.count; i++) {
        struct instance *inst = &set->inst[i];
        switch (inst->state) {
        case INSTANCE_STARTING:
            if (tick_starting(inst, now) != 0)
                return 0;
            break;
        case INSTANCE_READY:
        case INSTANCE_NOT_READY:
            probe_tick(&inst->liveness, now);
            if (inst->state == INSTANCE_READY || inst->state == INSTANCE_NOT_READY)
                probe_tick(&inst->readiness, now);
            if (inst->state == INSTANCE_READY)
                ready++;
            break;
        case INSTANCE_RESTARTING:
            if (now >= inst->deadline_ms) {
                inst->restarts++;
                if (spawn(inst) == 0) {
                    emit(set, 0, "InstanceRestarted", "instance %d restarted (pid %d, restart %d)",
                         i, (int)inst->pid, inst->restarts);
                } else {
                    inst->state = INSTANCE_RESTARTING;
                    inst->deadline_ms = now + BACKOFF_MAX_MS;
                    emit(set, 1, "InstanceFailed",
                         "instance %d could not be restarted (%s); "
                         "trying again in %d s",
                         i, inst->last_exit, BACKOFF_MAX_MS / 1000);
                }
            }
            break;
        case INSTANCE_STOPPED:
            if (set->phase == PHASE_STARTING) {
                fail_startup(set, inst, inst->last_exit[0] ? inst->last_exit : "did not start");
                return 0;
            }
            break;
        case INSTANCE_STOPPING:
            break;
        }
    }
    if (set->phase == PHASE_STARTING && ready == set->spec.count) {
        set->phase = PHASE_RUNNING;
        inf_info("instance.set_ready", "set=%s count=%d", set->label, set->spec.count);
        report(set, SET_READY, NULL, NULL);
        return 0;
    }
    flush_events(set);
    return 0;
}

void supervisor_tick(struct supervisor *sup, uint64_t now_ms)
{
    struct instance_set *set = sup->sets;
    while (set != NULL) {
        struct instance_set *next = set->next;
        tick_set(set, now_ms);
        set = next;
    }
}

void supervisor_kill_all(struct supervisor *sup)
{
    for (struct instance_set *set = sup->sets; set != NULL; set = set->next)
        for (int i = 0; i < set->spec.count; i++)
            signal_instance(&set->inst[i], SIGKILL);
}

json_t *instance_set_status_json(const struct instance_set *set)
{
    json_t *arr = json_array();
    for (int i = 0; i < set->spec.count; i++) {
        const struct instance *inst = &set->inst[i];
        json_array_append_new(arr,
                              json_pack("{s:i,s:s,s:i,s:i,s:i,s:s,s:{s:i,s:i}}", "index",
                                        inst->index, "state", instance_state_name(inst->state),
                                        "pid", (int)inst->pid, "restarts", inst->restarts,
                                        "in_flight", inst->in_flight, "last_exit", inst->last_exit,
                                        "probe_failures", "liveness", inst->liveness.total_failures,
                                        "readiness", inst->readiness.total_failures));
    }
    return arr;
}
