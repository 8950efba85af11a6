/*
 * serve: `inferd serve`. Owns the server struct: parses flags, prepares the
 * data directory and admin token, opens the store, restores endpoints and
 * deployments, listens, and runs the event loop until SIGTERM/SIGINT; then
 * stops accepting, lets in-flight requests finish (bounded), stops every
 * instance and frees everything.
 *
 * Threads: the event loop (this file's main loop: HTTP, gateway, control,
 * supervisor) and the store thread (pool.c). Signals are taken by the loop
 * thread only: handlers set flags, and epoll_wait returns on EINTR.
 */
#include "server/server.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch/inputs.h"
#include "batch/scheduler.h"
#include "control/api.h"
#include "control/deploy.h"
#include "core/log.h"
#include "core/util.h"
#include "gateway/accesslog.h"
#include "gateway/metrics.h"
#include "gateway/score.h"
#include "http/listener.h"
#include "http/respond.h"
#include "server/pool.h"
#include "store/store.h"
#include "supervisor/instance.h"

#define SHUTDOWN_DRAIN_MS 10000
#define UPSTREAM_IO_TIMEOUT_MS 180000

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_child;

static void on_signal(int sig)
{
    if (sig == SIGCHLD)
        got_child = 1;
    else
        got_stop = 1;
}

/* GET /metrics: the Prometheus text exposition, no auth (like node
 * exporters: bind the server to loopback or firewall the port). */
static void serve_metrics(struct server *srv, h2o_req_t *req)
{
    struct inf_buf buf;
    inf_buf_init(&buf, 64u << 20);
    if (metrics_render(srv->metrics, &srv->registry, &buf) != 0) {
        inf_buf_fini(&buf);
        respond_error(req, 500, "InternalError", "the metrics page is larger than 64 MiB");
        return;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    req->res.content_length = buf.len;
    h2o_send_inline(req, buf.data != NULL ? buf.data : "", buf.len);
    inf_buf_fini(&buf);
}

struct root_handler {
    h2o_handler_t super;
    struct server *srv;
};

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct server *srv = ((struct root_handler *)self)->srv;
    h2o_iovec_t path = req->path_normalized;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/health"))) {
        respond_text(req, 200, H2O_STRLIT("ok\n"));
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        serve_metrics(srv, req);
        return 0;
    }
    if (path.len >= 8 && memcmp(path.base, "/api/v1/", 8) == 0) {
        control_handle(srv->control, req);
        return 0;
    }
    static const char prefix[] = "/endpoints/";
    size_t plen = sizeof(prefix) - 1;
    if (path.len > plen && memcmp(path.base, prefix, plen) == 0) {
        h2o_iovec_t rest = h2o_iovec_init(path.base + plen, path.len - plen);
        const char *slash = memchr(rest.base, '/', rest.len);
        if (slash != NULL) {
            h2o_iovec_t name = h2o_iovec_init(rest.base, (size_t)(slash - rest.base));
            h2o_iovec_t tail = h2o_iovec_init(slash, rest.len - name.len);
            if (h2o_memis(tail.base, tail.len, H2O_STRLIT("/score"))) {
                gateway_score(srv, req, name);
                return 0;
            }
            if (h2o_memis(tail.base, tail.len, H2O_STRLIT("/swagger.json"))) {
                gateway_swagger(srv, req, name);
                return 0;
            }
        }
    }
    respond_error(req, 404, "NotFound", "no route for %.*s %.*s", (int)req->method.len,
                  req->method.base, (int)path.len, path.base);
    return 0;
}

static int open_listener(struct server *srv, struct inf_err *err)
{
    int fd;
    if (listener_open_tcp(srv->host, srv->port, &fd, &srv->port, err) != 0)
        return inf_err_prefix(err, "--host/--port");
    int v6 = strchr(srv->host, ':') != NULL;
    snprintf(srv->base_url, sizeof(srv->base_url), "http://%s%s%s:%d", v6 ? "[" : "", srv->host,
             v6 ? "]" : "", srv->port);
    srv->listener = listener_start(&srv->accept_ctx, fd);
    return 0;
}

/* Reads DIR/admin.token, or creates it (mode 0600) on first start. */
static int load_admin_token(struct server *srv, struct inf_err *err)
{
    char *path = inf_asprintf("%s/admin.token", srv->home);
    char *text = NULL;
    size_t len = 0;
    int rc = inf_read_file(path, 4096, &text, &len, err);
    if (rc == INF_ENOTFOUND) {
        inf_random_hex(srv->admin_token, 32);
        char line[80];
        int n = snprintf(line, sizeof(line), "%s\n", srv->admin_token);
        rc = inf_write_file_atomic(path, line, (size_t)n, 0600, err);
        if (rc == 0)
            inf_info("server.admin_token_created", "path=%s", path);
    } else if (rc == 0) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
            len--;
        if (len < 16 || len >= sizeof(srv->admin_token))
            rc = inf_err_set(err, INF_EINVAL, "%s: expected a token of 16 to 64 characters", path);
        else
            snprintf(srv->admin_token, sizeof(srv->admin_token), "%.*s", (int)len, text);
    }
    free(text);
    free(path);
    return rc;
}

/* Reads the token-signing secret from the store's metadata, or creates it
 * on first start, so tokens stay valid across restarts. Start-up only: a
 * short-lived connection of its own, closed before the store thread opens. */
static int load_token_secret(struct server *srv, struct inf_err *err)
{
    static const char key[] = "token_secret";
    struct store *st = NULL;
    char *value = NULL;
    if (store_open(srv->db_path, &st, err) != 0)
        return err->code;
    int rc = store_meta_get(st, key, &value, err);
    if (rc == INF_ENOTFOUND) {
        inf_random_hex(srv->token_secret, AUTH_SECRET_HEX_LEN / 2);
        rc = store_meta_set(st, key, srv->token_secret, err);
        if (rc == 0)
            inf_info("server.token_secret_created", "db=%s", srv->db_path);
    } else if (rc == 0) {
        size_t len = strspn(value, "0123456789abcdefABCDEF");
        if (len != AUTH_SECRET_HEX_LEN || value[len] != '\0')
            rc = inf_err_set(err, INF_ESTORE, "%s: metadata %s: expected %d hex characters",
                             srv->db_path, key, AUTH_SECRET_HEX_LEN);
        else
            memcpy(srv->token_secret, value, AUTH_SECRET_HEX_LEN + 1);
    }
    free(value);
    store_close(st);
    return rc;
}

static int prepare_home(struct server *srv, struct inf_err *err)
{
    if (inf_mkdir_p(srv->home, 0700, err) != 0)
        return err->code;
    srv->db_path = inf_asprintf("%s/inferd.db", srv->home);
    srv->artifacts_dir = inf_asprintf("%s/artifacts", srv->home);
    srv->run_dir = inf_asprintf("%s/run", srv->home);
    srv->logs_dir = inf_asprintf("%s/logs", srv->home);
    if (inf_mkdir_p(srv->artifacts_dir, 0700, err) != 0 ||
        inf_mkdir_p(srv->run_dir, 0700, err) != 0 || inf_mkdir_p(srv->logs_dir, 0755, err) != 0)
        return err->code;
    /* Instance sockets are run/i<N>.sock: sun_path holds 107 bytes. */
    if (strlen(srv->run_dir) > 80)
        return inf_err_set(err, INF_EINVAL,
                           "--home %s: path too long for instance sockets (at most 76 characters)",
                           srv->home);
    return load_admin_token(srv, err);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: inferd serve [--home DIR] [--host ADDR] [--port N] [--max-body-mb N]\n"
                 "                    [--max-artifact-mb N] [--token-ttl-s N]\n"
                 "                    [--batch-instances N] [--datastore NAME=DIR ...]\n"
                 "                    [--log-level debug|info|warn|error]\n"
                 "  --home DIR           data directory (default $INFERD_HOME, else ~/.inferd)\n"
                 "  --host ADDR          address to listen on (default 127.0.0.1)\n"
                 "  --port N             port (default 8080; 0 picks a free port)\n"
                 "  --max-body-mb N      largest request body accepted (default 100)\n"
                 "  --max-artifact-mb N  largest model/code archive accepted (default 1024)\n"
                 "  --token-ttl-s N      lifetime of aml_token endpoint tokens, 60 to 86400\n"
                 "                       seconds (default 3600)\n"
                 "  --batch-instances N  instances batch jobs may run at once, shared by all\n"
                 "                       jobs (default: the number of CPUs)\n"
                 "  --datastore NAME=DIR a folder batch jobs may read and write as\n"
                 "                       azureml://datastores/NAME/paths/... (repeatable)\n");
}

static int parse_flags(struct server *srv, int argc, char **argv)
{
    static const struct option opts[] = {
        {"home", required_argument, NULL, 'H'},
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"max-body-mb", required_argument, NULL, 'b'},
        {"max-artifact-mb", required_argument, NULL, 'a'},
        {"token-ttl-s", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'l'},
        {"batch-instances", required_argument, NULL, 'B'},
        {"datastore", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, '?'},
        {NULL, 0, NULL, 0},
    };
    const char *home = getenv("INFERD_HOME");
    const char *host = "127.0.0.1";
    long port = 8080, body_mb = 100, artifact_mb = 1024, token_ttl_s = 3600;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long batch_instances = cpus > 0 ? cpus : 1;
    struct inf_err err;
    enum inf_log_level level;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            home = optarg;
            break;
        case 'h':
            host = optarg;
            break;
        case 'p':
            if (inf_parse_long(optarg, 0, 65535, &port) != 0) {
                fprintf(stderr, "inferd serve: --port %s: expected 0 to 65535\n", optarg);
                return 2;
            }
            break;
        case 'b':
            if (inf_parse_long(optarg, 1, 4096, &body_mb) != 0) {
                fprintf(stderr, "inferd serve: --max-body-mb %s: expected 1 to 4096\n", optarg);
                return 2;
            }
            break;
        case 'a':
            if (inf_parse_long(optarg, 1, 65536, &artifact_mb) != 0) {
                fprintf(stderr, "inferd serve: --max-artifact-mb %s: expected 1 to 65536\n",
                        optarg);
                return 2;
            }
            break;
        case 't':
            if (inf_parse_long(optarg, 60, 86400, &token_ttl_s) != 0) {
                fprintf(stderr, "inferd serve: --token-ttl-s %s: expected 60 to 86400 seconds\n",
                        optarg);
                return 2;
            }
            break;
        case 'B':
            if (inf_parse_long(optarg, 1, 1024, &batch_instances) != 0) {
                fprintf(stderr, "inferd serve: --batch-instances %s: expected 1 to 1024\n", optarg);
                return 2;
            }
            break;
        case 'D':
            srv->datastores =
                inf_realloc(srv->datastores, (srv->ndatastores + 1) * sizeof(*srv->datastores));
            if (inputs_datastore_parse(optarg, &srv->datastores[srv->ndatastores], &err) != 0) {
                fprintf(stderr, "inferd serve: %s\n", err.msg);
                return 2;
            }
            srv->ndatastores++;
            break;
        case 'l':
            if (inf_log_parse_level(optarg, &level) != 0) {
                fprintf(stderr,
                        "inferd serve: --log-level %s: expected debug, info, warn or "
                        "error\n",
                        optarg);
                return 2;
            }
            inf_log_set_level(level);
            break;
        default:
            usage(c == '?' && optopt == 0 ? stdout : stderr);
            return c == '?' && optopt == 0 ? 1 : 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "inferd serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (home == NULL || *home == '\0') {
        const char *h = getenv("HOME");
        srv->home = inf_asprintf("%s/.inferd", h != NULL ? h : ".");
    } else {
        srv->home = inf_strdup(home);
    }
    srv->host = inf_strdup(host);
    srv->port = (int)port;
    srv->max_body_bytes = (size_t)body_mb << 20;
    srv->token_ttl_s = token_ttl_s;
    srv->batch_instances = (int)batch_instances;
    artifact_limits_default(&srv->artifact_limits);
    srv->artifact_limits.max_archive_bytes = (size_t)artifact_mb << 20;
    return 0;
}

static void setup_http(struct server *srv)
{
    h2o_config_init(&srv->h2o_config);
    srv->h2o_config.http1.upgrade_to_http2 = 0;
    /* Bodies are buffered whole by h2o; one cap covers the data plane and
     * the API (archives are bounded separately, and need the larger cap). */
    size_t cap = srv->max_body_bytes > srv->artifact_limits.max_archive_bytes
                     ? srv->max_body_bytes
                     : srv->artifact_limits.max_archive_bytes;
    srv->h2o_config.max_request_entity_size = cap;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv->h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct root_handler *h = (void *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
    h2o_context_init(&srv->h2o_ctx, h2o_evloop_create(), &srv->h2o_config);
    srv->accept_ctx.ctx = &srv->h2o_ctx;
    srv->accept_ctx.hosts = srv->h2o_config.hosts;
    srv->queue = h2o_multithread_create_queue(srv->h2o_ctx.loop);
    upstream_ctx_init(&srv->upstream, srv->h2o_ctx.loop, UPSTREAM_IO_TIMEOUT_MS);
}

static void reap_children(struct server *srv)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        supervisor_on_child_exit(srv->supervisor, pid, status);
    }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Runs the loop until a stop signal, then through the shutdown phases. */
static void run_loop(struct server *srv)
{
    h2o_loop_t *loop = srv->h2o_ctx.loop;
    uint64_t drain_deadline = 0;
    int instances_stopped = 0;
    for (;;) {
        h2o_evloop_run(loop, 50);
        if (got_child) {
            got_child = 0;
            reap_children(srv);
        }
        uint64_t now = inf_now_ms();
        supervisor_tick(srv->supervisor, now);
        scheduler_tick(srv->batch, now);
        gateway_tick(srv, now);
        accesslog_flush(srv->accesslog);
        if (got_stop && !srv->stopping) {
            srv->stopping = 1;
            inf_info("server.stopping", "in_flight=%d", srv->in_flight);
            listener_close(srv->listener);
            listener_drain(srv->listener);
            drain_deadline = now + SHUTDOWN_DRAIN_MS;
        }
        if (!srv->stopping)
            continue;
        /* Instances stop once no client connection is left (responses in
         * flight have been written), or at the drain deadline. */
        int idle = srv->in_flight == 0 && !control_busy(srv->control) &&
                   listener_open_connections(srv->listener) == 0;
        if (!instances_stopped && (idle || now >= drain_deadline)) {
            inf_info("server.stopping_instances", "in_flight=%d connections=%zu", srv->in_flight,
                     listener_open_connections(srv->listener));
            listener_abort(srv->listener);
            deploy_stop_all(srv);
            scheduler_stop(srv->batch);
            instances_stopped = 1;
        }
        if (instances_stopped && supervisor_idle(srv->supervisor) && scheduler_idle(srv->batch) &&
            pool_pending(srv->pool) == 0 && listener_wait_idle(srv->listener, 0) == 0)
            break;
        if (instances_stopped && now >= drain_deadline + 15000) {
            inf_warn("server.stop_timeout", "%s", "killing remaining instances");
            supervisor_kill_all(srv->supervisor);
            drain_deadline = now; /* give the kills a few more ticks */
        }
    }
}

static void server_free(struct server *srv)
{
    listener_free(srv->listener);
    srv->listener = NULL;
    control_free(srv->control);
    scheduler_free(srv->batch);
    for (size_t i = 0; i < srv->ndatastores; i++)
        inputs_datastore_fini(&srv->datastores[i]);
    free(srv->datastores);
    /* Before the metrics and the log: requests still queued are answered
     * (503) and recorded as their deployments go. */
    registry_fini(&srv->registry);
    accesslog_close(srv->accesslog);
    metrics_free(srv->metrics);
    supervisor_free(srv->supervisor);
    pool_free(srv->pool);
    if (srv->queue != NULL) {
        h2o_loop_t *loop = srv->h2o_ctx.loop;
        upstream_ctx_dispose(&srv->upstream);
        h2o_context_dispose(&srv->h2o_ctx);
        h2o_multithread_destroy_queue(srv->queue);
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR <= 2
        /* h2o 2.2's h2o_multithread_destroy_queue() does not free the queue,
         * neither ours nor the one h2o_context_init() made (fixed in 2.3). */
        free(srv->h2o_ctx.queue);
        free(srv->queue);
#endif
        h2o_evloop_destroy(loop);
        h2o_config_dispose(&srv->h2o_config);
    }
    free(srv->home);
    free(srv->db_path);
    free(srv->artifacts_dir);
    free(srv->run_dir);
    free(srv->logs_dir);
    free(srv->exe_path);
    free(srv->host);
}

int serve_main(int argc, char **argv)
{
    static struct server srv;
    struct inf_err err;
    inf_err_clear(&err);
    int rc = parse_flags(&srv, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        fprintf(stderr, "inferd serve: cannot find its own executable: %s\n", inf_strerror(errno));
        return 1;
    }
    exe[n] = '\0';
    srv.exe_path = inf_strdup(exe);
    install_signals();
    registry_init(&srv.registry);
    if (prepare_home(&srv, &err) != 0 || load_token_secret(&srv, &err) != 0)
        goto fail;
    setup_http(&srv);
    srv.metrics = metrics_new();
    char *access_path = inf_asprintf("%s/access.log", srv.logs_dir);
    struct inf_err log_err;
    srv.accesslog = accesslog_open(access_path, &log_err);
    if (srv.accesslog == NULL)
        inf_warn("server.no_access_log", "path=%s error=\"%s\"", access_path, log_err.msg);
    free(access_path);
    srv.pool = pool_new(srv.queue, srv.db_path, &err);
    if (srv.pool == NULL)
        goto fail;
    srv.supervisor = supervisor_new(srv.h2o_ctx.loop, &srv.upstream, srv.exe_path, srv.run_dir);
    srv.control = control_new(&srv);
    if (open_listener(&srv, &err) != 0)
        goto fail;
    srv.batch = scheduler_new(&srv, srv.batch_instances);
    if (control_restore(&srv, &err) != 0 || scheduler_restore(srv.batch, &err) != 0)
        goto fail;
    printf("inferd listening on %s (home %s)\n", srv.base_url, srv.home);
    fflush(stdout);
    inf_info("server.started", "url=%s home=%s", srv.base_url, srv.home);
    run_loop(&srv);
    inf_info("server.stopped", "%s", "clean=1");
    server_free(&srv);
    return 0;
fail:
    fprintf(stderr, "inferd serve: %s\n", err.msg);
    if (srv.supervisor != NULL) {
        deploy_stop_all(&srv);
        if (srv.batch != NULL)
            scheduler_stop(srv.batch);
        supervisor_kill_all(srv.supervisor);
    }
    server_free(&srv);
    return 1;
}
