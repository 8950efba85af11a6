/*
 * instance: the supervisor. It runs sets of instance processes (one set per
 * deployment generation), waits for their readiness, probes them while they
 * run (readiness: in or out of rotation; liveness: kill and restart),
 * restarts the ones that exit with capped backoff, and stops them (drain,
 * SIGTERM, SIGKILL).
 *
 * It knows nothing of endpoints: a set is described by an argv, an
 * environment, a log directory, a count and two probe settings, and reports
 * back through one callback (ready / failed during start-up / an instance
 * event / stopped). Event-loop thread only; the server calls
 * supervisor_on_child_exit() for each reaped child and supervisor_tick() at
 * least every 100 ms.
 */
#ifndef INF_SUPERVISOR_INSTANCE_H
#define INF_SUPERVISOR_INSTANCE_H

#include <stdint.h>
#include <sys/types.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/http1client.h>
#include <jansson.h>

enum instance_state {
    INSTANCE_STARTING,   /* process started, not yet answering /health/ready */
    INSTANCE_READY,      /* in rotation */
    INSTANCE_NOT_READY,  /* running, but failed readiness probes: out of rotation */
    INSTANCE_RESTARTING, /* exited (or being killed); waiting out the backoff before a respawn */
    INSTANCE_STOPPING,   /* draining or terminating */
    INSTANCE_STOPPED,    /* no process, not coming back */
};

/* How one kind of probe runs once an instance is ready (COMPAT.md: Azure's
 * liveness_probe / readiness_probe, in milliseconds). */
struct probe_cfg {
    uint64_t initial_delay_ms; /* no periodic probe before process start + this */
    uint64_t period_ms;        /* from the start of one probe to the start of the next */
    uint64_t timeout_ms;       /* a probe not answered by then is cancelled: a failure */
    int success_threshold;     /* consecutive successes that end a failing streak */
    int failure_threshold;     /* consecutive failures that start one */
};

/* The threshold logic of one kind of probe on one instance. */
struct probe_state {
    int successes; /* consecutive, since the last failure */
    int failures;  /* consecutive, since the last success */
    int failing;   /* failure_threshold was reached and success_threshold not since */
};

/* What one probe result changed. */
enum probe_change {
    PROBE_UNCHANGED,
    PROBE_FAILED,    /* the streak of failures just reached failure_threshold */
    PROBE_RECOVERED, /* a failing probe just reached success_threshold */
};

enum probe_kind { PROBE_LIVENESS, PROBE_READINESS };

struct upstream_call;
struct upstream_ctx;

/* One kind of probe on one instance: at most one call in flight. */
struct instance_probe {
    struct instance *inst;
    enum probe_kind kind;
    struct upstream_call *call; /* in flight, or NULL */
    struct instance_pool *conn; /* the pool the call uses (one user held) */
    uint64_t started_ms;
    uint64_t next_ms; /* when the next periodic probe is due */
    struct probe_state state;
    int total_failures; /* every failed periodic probe of this instance, across restarts */
};

/* A connection pool to one process incarnation of an instance. It outlives
 * the process until its last user (a request or a probe) lets go. */
struct instance_pool {
    h2o_socketpool_t pool;
    int users;
    int retired;
};

struct instance {
    struct instance_set *set;
    int index;
    enum instance_state state;
    pid_t pid;
    char sock_path[108];
    struct instance_pool *conn; /* pool for the current process, NULL if none */
    int in_flight;
    int restarts;
    char last_exit[96];
    uint64_t spawned_ms;
    uint64_t deadline_ms; /* STARTING: give up; RESTARTING: respawn; STOPPING: SIGKILL */
    char kill_why[48];    /* why the process was killed on purpose, for last_exit; or "" */
    struct instance_probe liveness;
    struct instance_probe readiness; /* also the start-up checks (next_ms: the next one) */
};

enum set_event {
    SET_READY,   /* every instance answered ready once (start-up succeeded) */
    SET_FAILED,  /* start-up failed; reason says why; the set is stopping */
    SET_EVENT,   /* something happened to an instance: worth an event in the deployment */
    SET_STOPPED, /* every process exited and no request uses it; freed after the callback */
};

/* What the callback is told. Strings are borrowed for the callback only. */
struct set_report {
    enum set_event ev;
    /* SET_FAILED: why start-up failed, ending with the instance log's tail
     * (several lines). SET_EVENT: the event's reason in CamelCase:
     * InstanceStarted, InstanceReady, InstanceExited, InstanceRestarted,
     * InstanceFailed (a respawn failed), LivenessProbeFailed,
     * ReadinessProbeFailed, InstanceNotReady. Else NULL. */
    const char *reason;
    /* SET_FAILED and SET_EVENT: one line for a person ("instance 0 ..."). */
    const char *message;
    int warning;  /* SET_EVENT: 1 for something that went wrong, 0 for normal progress */
    int64_t time; /* SET_EVENT: when it happened (Unix seconds) */
};

struct instance_set;
typedef void (*instance_set_cb)(struct instance_set *set, const struct set_report *report,
                                void *data);

struct instance_spec {
    /* NULL-terminated; an argument "{socket}" is replaced by the instance's
     * socket path, and "{index}" inside an argument by its index. */
    char **argv;
    char **envp;   /* NULL-terminated */
    char *log_dir; /* instance-<i>.log files are appended here */
    int count;
    uint64_t startup_timeout_ms;
    /* Periodic probes once an instance is ready. Zero period, timeout or
     * thresholds take COMPAT.md's defaults (10 s, 2 s, 1, 30). */
    struct probe_cfg liveness;
    struct probe_cfg readiness;
};

struct supervisor;

/* Creates the supervisor. Borrows loop and upstream (the probes' calls); run_dir holds sockets. */
struct supervisor *supervisor_new(h2o_loop_t *loop, struct upstream_ctx *upstream,
                                  const char *exe_path, const char *run_dir);
/* Frees the supervisor; every set must have reported SET_STOPPED. */
void supervisor_free(struct supervisor *sup);
/* 1 when no set is running or stopping. */
int supervisor_idle(const struct supervisor *sup);

/* Starts `spec.count` instances. Takes ownership of spec's arrays. `label`
 * names the set in logs ("ep/blue#3"). The callback may run from any later
 * supervisor call, never from inside this one. */
struct instance_set *supervisor_start_set(struct supervisor *sup, const char *label,
                                          struct instance_spec *spec, instance_set_cb cb,
                                          void *data);

/* Stops a set: instances leave rotation, in-flight requests finish (up to
 * drain_ms), then SIGTERM and after a grace period SIGKILL. SET_STOPPED
 * follows (the owner frees its callback data there); no other event does
 * after this call. Idempotent. */
void instance_set_stop(struct instance_set *set, uint64_t drain_ms);

/* The ready instance with the fewest requests in flight, or NULL. */
struct instance *instance_set_pick(struct instance_set *set);
/* Instance `index` of the set (borrowed, valid until SET_STOPPED), or NULL
 * when index is not in [0, count). */
struct instance *instance_set_member(struct instance_set *set, int index);
/* Counts of instances in total and ready. */
void instance_set_counts(const struct instance_set *set, int *total, int *ready);

/* Kills inst's process group with SIGKILL now, taking it out of rotation;
 * `why` (cut to 47 bytes) ends its last_exit ("killed by signal 9 (KILL):
 * why"). The exit is handled like a crash: restarted after the backoff, or
 * a start-up failure while the set is starting. No-op without a process. */
void instance_kill(struct instance *inst, const char *why);

/* Marks one request as using inst's current connection pool; returns that
 * pool (release it with instance_release). */
struct instance_pool *instance_acquire(struct instance *inst);
void instance_release(struct instance *inst, struct instance_pool *conn);

/* A child exited (status as from waitpid). Unknown pids are ignored. */
void supervisor_on_child_exit(struct supervisor *sup, pid_t pid, int status);
/* Drives timers: readiness checks, backoffs, start-up and stop deadlines. */
void supervisor_tick(struct supervisor *sup, uint64_t now_ms);
/* Sends SIGKILL to every process (last resort at shutdown). */
void supervisor_kill_all(struct supervisor *sup);

/* A JSON array describing each instance: index, state, pid, restarts,
 * in_flight, last_exit and probe_failures {liveness, readiness} (failed
 * periodic probes since the set started). */
json_t *instance_set_status_json(const struct instance_set *set);
/* "Starting", "Ready", "NotReady", "Restarting", "Stopping", "Stopped". */
const char *instance_state_name(enum instance_state st);

/* ---- pure parts, exported for tests ---- */

/* Records one probe result (ok: 1 for a success) in st and returns what
 * changed: PROBE_FAILED when the consecutive failures reach cfg's
 * failure_threshold, PROBE_RECOVERED when a failing probe's consecutive
 * successes reach success_threshold (thresholds below 1 count as 1). */
enum probe_change instance_probe_record(struct probe_state *st, const struct probe_cfg *cfg,
                                        int ok);
/* When the first periodic probe is due for an instance that became ready at
 * ready_ms: initial_delay after the process started, but not before one
 * period after ready_ms. */
uint64_t instance_probe_first_ms(const struct probe_cfg *cfg, uint64_t spawned_ms,
                                 uint64_t ready_ms);
/* Fills cfg's zero period, timeout and thresholds with COMPAT.md's defaults. */
void instance_probe_cfg_defaults(struct probe_cfg *cfg);
/* The delay before restart number `restarts` + 1: 0.5 s doubling, capped at 30 s. */
uint64_t instance_backoff_ms(int restarts);

#endif
