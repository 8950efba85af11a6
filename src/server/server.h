/*
 * server: the one mutable global of `inferd serve`, passed to every module
 * that needs it: configuration, the HTTP context, the store thread, the
 * registry of endpoints and the supervisor. Owned by serve.c; event-loop
 * thread only unless a field says otherwise.
 */
#ifndef INF_SERVER_SERVER_H
#define INF_SERVER_SERVER_H

#include <stddef.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/http1client.h>

#include "artifact/artifact.h"
#include "control/registry.h"
#include "http/upstream.h"
#include "gateway/auth.h"

struct pool;
struct supervisor;
struct control;
struct listener;
struct metrics;
struct accesslog;
struct scheduler;
struct datastore;

struct server {
    /* configuration (read-only after start-up; any thread) */
    char *home;
    char *db_path;
    char *artifacts_dir;
    char *run_dir;
    char *logs_dir;
    char *exe_path;
    char *host;
    int port;
    char base_url[160];
    char admin_token[65];
    char token_secret[AUTH_SECRET_HEX_LEN + 1]; /* signs aml_token tokens (store meta) */
    int64_t token_ttl_s;                        /* lifetime of issued tokens */
    size_t max_body_bytes;
    int batch_instances;          /* batch capacity in instances (--batch-instances) */
    struct datastore *datastores; /* folders jobs may use (--datastore NAME=DIR) */
    size_t ndatastores;
    struct artifact_limits artifact_limits;

    /* runtime */
    h2o_globalconf_t h2o_config;
    h2o_context_t h2o_ctx;
    h2o_accept_ctx_t accept_ctx;
    struct listener *listener;
    h2o_multithread_queue_t *queue;
    struct upstream_ctx upstream; /* calls to instances (http/upstream.c) */
    struct pool *pool;
    struct registry registry;
    struct supervisor *supervisor;
    struct control *control;
    struct metrics *metrics;     /* GET /metrics (gateway/metrics.c) */
    struct accesslog *accesslog; /* DIR/logs/access.log, NULL if it cannot be opened */
    struct scheduler *batch;     /* batch jobs (batch/scheduler.c) */
    int in_flight;               /* data-plane requests being proxied */
    int stopping;
};

/* `inferd serve [--home DIR] [--host H] [--port P] ...`: runs the server
 * until SIGTERM/SIGINT; returns the process exit status. */
int serve_main(int argc, char **argv);

#endif
