/*
 * instance: the supervisor. It runs sets of instance processes (one set per
 * deployment generation), waits for their readiness, restarts the ones that
 * exit with capped backoff, and stops them (drain, SIGTERM, SIGKILL).
 *
 * It knows nothing of endpoints: a set is described by an argv, an
 * environment, a log directory and a count, and reports back through one
 * callback (ready / failed during start-up / stopped). Event-loop thread
 * only; the server calls supervisor_on_child_exit() for each reaped child
 * and supervisor_tick() at least every 100 ms.
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
    INSTANCE_RESTARTING, /* exited; waiting out the backoff before a respawn */
    INSTANCE_STOPPING,   /* draining or terminating */
    INSTANCE_STOPPED,    /* no process, not coming back */
};

/* A connection pool to one process incarnation of an instance. It outlives
 * the process until its last user (a request or a check) lets go. */
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
    uint64_t deadline_ms;   /* STARTING: give up; RESTARTING: respawn; STOPPING: SIGKILL */
    uint64_t next_check_ms; /* STARTING: next readiness check */
    int checking;
};

enum set_event {
    SET_READY,   /* every instance answered ready once (start-up succeeded) */
    SET_FAILED,  /* start-up failed; reason says why; the set is stopping */
    SET_STOPPED, /* every process exited and no request uses it; freed after the callback */
};

struct instance_set;
typedef void (*instance_set_cb)(struct instance_set *set, enum set_event ev, const char *reason,
                                void *data);

struct instance_spec {
    char **argv;   /* NULL-terminated; "{socket}" is replaced by the instance's socket path */
    char **envp;   /* NULL-terminated */
    char *log_dir; /* instance-<i>.log files are appended here */
    int count;
    uint64_t startup_timeout_ms;
};

struct supervisor;

/* Creates the supervisor. Borrows loop and client_ctx; run_dir holds sockets. */
struct supervisor *supervisor_new(h2o_loop_t *loop, h2o_http1client_ctx_t *client_ctx,
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
/* Counts of instances in total and ready. */
void instance_set_counts(const struct instance_set *set, int *total, int *ready);

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

/* A JSON array describing each instance: index, state, pid, restarts, last_exit. */
json_t *instance_set_status_json(const struct instance_set *set);
const char *instance_state_name(enum instance_state st);

#endif
