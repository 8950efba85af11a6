/*
 * instance: spawns, checks, restarts and stops instance processes.
 *
 * Event-loop thread only. Lifecycle of a set: STARTING phase until every
 * instance answers /health/ready (SET_READY) or one exits / times out
 * (SET_FAILED, then stop); RUNNING phase, where an exited instance is
 * restarted after a capped backoff; STOPPING phase until no process is left
 * and no request holds a pool (SET_STOPPED, then the set is freed).
 * Processes run in their own process group so a signal reaches their
 * children too.
 */
#include "supervisor/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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

#define CHECK_INTERVAL_MS 50
#define CHECK_TIMEOUT_BODY 4096
#define STOP_GRACE_MS 5000
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 30000
#define LOG_TAIL_LINES 15
#define LOG_TAIL_BYTES 3000

enum set_phase { PHASE_STARTING, PHASE_RUNNING, PHASE_STOPPING };

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
    int detached; /* the owner stopped the set: only SET_STOPPED is reported */
};

struct supervisor {
    h2o_loop_t *loop;
    h2o_http1client_ctx_t *client_ctx;
    char *exe_path;
    char *run_dir;
    struct instance_set *sets;
    uint64_t next_uid;
};

/* Events are delivered from supervisor_tick so callbacks never re-enter the
 * caller that triggered them. */
struct supervisor *supervisor_new(h2o_loop_t *loop, h2o_http1client_ctx_t *client_ctx,
                                  const char *exe_path, const char *run_dir)
{
    struct supervisor *sup = inf_calloc(1, sizeof(*sup));
    sup->loop = loop;
    sup->client_ctx = client_ctx;
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
    case INSTANCE_RESTARTING:
        return "Restarting";
    case INSTANCE_STOPPING:
        return "Stopping";
    case INSTANCE_STOPPED:
        return "Stopped";
    }
    return "Unknown";
}

static void free_strv(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

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
    for (size_t i = 0; i < argc; i++)
        argv[i] = strcmp(set->spec.argv[i], "{socket}") == 0 ? inst->sock_path : set->spec.argv[i];
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
    free(argv);
    free(logp);
    if (rc != 0) {
        snprintf(inst->last_exit, sizeof(inst->last_exit), "spawn failed: %s", inf_strerror(rc));
        inf_error("instance.spawn_failed", "set=%s index=%d error=\"%s\"", set->label, inst->index,
                  inf_strerror(rc));
        return -1;
    }
    inst->pid = pid;
    inst->state = INSTANCE_STARTING;
    inst->next_check_ms = inf_now_ms() + 10;
    inst->deadline_ms = inf_now_ms() + set->spec.startup_timeout_ms;

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
    set->phase = PHASE_STARTING;
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
        if (spawn(inst) != 0) {
            /* Reported as a start-up failure from the next tick. */
            inst->state = INSTANCE_STOPPED;
        }
    }
    return set;
}

static void set_free(struct instance_set *set)
{
    struct instance_set **pp = &set->sup->sets;
    while (*pp != set)
        pp = &(*pp)->next;
    *pp = set->next;
    free_strv(set->spec.argv);
    free_strv(set->spec.envp);
    free(set->spec.log_dir);
    free(set->inst);
    free(set->label);
    free(set);
}

static void signal_instance(struct instance *inst, int sig)
{
    if (inst->pid > 0)
        kill(-inst->pid, sig);
}

static void begin_stop(struct instance_set *set, uint64_t drain_ms)
{
    if (set->phase == PHASE_STOPPING)
        return;
    set->phase = PHASE_STOPPING;
    set->drain_deadline_ms = inf_now_ms() + drain_ms;
    for (int i = 0; i < set->spec.count; i++) {
        struct instance *inst = &set->inst[i];
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
    inf_warn("instance.startup_failed", "set=%s index=%d reason=\"%s\"", set->label, inst->index,
             what);
    begin_stop(set, 0);
    if (!set->detached)
        set->cb(set, SET_FAILED, reason, set->data);
    free(reason);
}

static void describe_exit(char *out, size_t len, int status)
{
    if (WIFEXITED(status))
        snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(out, len, "ended with status 0x%x", status);
}

void supervisor_on_child_exit(struct supervisor *sup, pid_t pid, int status)
{
    for (struct instance_set *set = sup->sets; set != NULL; set = set->next) {
        for (int i = 0; i < set->spec.count; i++) {
            struct instance *inst = &set->inst[i];
            if (inst->pid != pid)
                continue;
            inst->pid = 0;
            describe_exit(inst->last_exit, sizeof(inst->last_exit), status);
            unlink(inst->sock_path);
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
                uint64_t backoff = (uint64_t)BACKOFF_BASE_MS
                                   << (inst->restarts < 6 ? inst->restarts : 6);
                if (backoff > BACKOFF_MAX_MS)
                    backoff = BACKOFF_MAX_MS;
                inst->state = INSTANCE_RESTARTING;
                inst->deadline_ms = inf_now_ms() + backoff;
                inf_warn("instance.restart_scheduled", "set=%s index=%d backoff_ms=%llu",
                         set->label, i, (unsigned long long)backoff);
            }
            return;
        }
    }
}

struct check_ctx {
    struct instance *inst;
    struct instance_pool *conn;
};

static void check_done(const struct upstream_result *res, void *data)
{
    struct check_ctx *c = data;
    struct instance *inst = c->inst;
    struct instance_pool *conn = c->conn;
    free(c);
    inst->checking = 0;
    conn->users--;
    int current = conn == inst->conn;
    pool_put(conn);
    if (!current || inst->state != INSTANCE_STARTING)
        return;
    if (res->error == NULL && res->status == 200) {
        inst->state = INSTANCE_READY;
        inf_info("instance.ready", "set=%s index=%d pid=%d", inst->set->label, inst->index,
                 (int)inst->pid);
    } else {
        inst->next_check_ms = inf_now_ms() + CHECK_INTERVAL_MS;
    }
}

static void start_check(struct instance *inst)
{
    struct check_ctx *c = inf_malloc(sizeof(*c));
    c->inst = inst;
    c->conn = inst->conn;
    inst->conn->users++;
    inst->checking = 1;
    upstream_start(inst->set->sup->client_ctx, &inst->conn->pool, "GET", "/health/ready", "",
                   h2o_iovec_init(NULL, 0), CHECK_TIMEOUT_BODY, check_done, c);
}

static int set_busy(const struct instance_set *set)
{
    for (int i = 0; i < set->spec.count; i++) {
        const struct instance *inst = &set->inst[i];
        if (inst->pid > 0 || inst->in_flight > 0 || inst->checking)
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

/* Returns 1 if the set was freed. */
static int tick_set(struct instance_set *set, uint64_t now)
{
    if (set->phase == PHASE_STOPPING) {
        tick_stopping(set, now);
        if (!set_busy(set)) {
            set->cb(set, SET_STOPPED, NULL, set->data);
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
            if (now >= inst->deadline_ms) {
                char what[96];
                snprintf(what, sizeof(what), "was not ready within %llu s",
                         (unsigned long long)(set->spec.startup_timeout_ms / 1000));
                if (set->phase == PHASE_STARTING) {
                    fail_startup(set, inst, what);
                    return 0;
                }
                /* A restarted instance that hangs: kill it; the exit restarts it. */
                signal_instance(inst, SIGKILL);
                inst->deadline_ms = UINT64_MAX;
            } else if (!inst->checking && inst->conn != NULL && now >= inst->next_check_ms) {
                start_check(inst);
            }
            break;
        case INSTANCE_RESTARTING:
            if (now >= inst->deadline_ms) {
                inst->restarts++;
                if (spawn(inst) != 0) {
                    inst->state = INSTANCE_RESTARTING;
                    inst->deadline_ms = now + BACKOFF_MAX_MS;
                }
            }
            break;
        case INSTANCE_READY:
            ready++;
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
        if (!set->detached)
            set->cb(set, SET_READY, NULL, set->data);
    }
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
                              json_pack("{s:i,s:s,s:i,s:i,s:i,s:s}", "index", inst->index, "state",
                                        instance_state_name(inst->state), "pid", (int)inst->pid,
                                        "restarts", inst->restarts, "in_flight", inst->in_flight,
                                        "last_exit", inst->last_exit));
    }
    return arr;
}
