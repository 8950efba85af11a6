/*
 * Unit tests for supervisor/instance: the pure parts first (the probe
 * threshold state machine, probe scheduling, defaults, restart backoff),
 * then whole instance sets driven on a real h2o event loop with a fake
 * instance: a small Python HTTP server on the instance's Unix socket whose
 * answers are steered through files in a control directory:
 *
 *   ready   status of GET /health/ready ("200", "503", ...) or "hang"
 *   live    status of GET /health/live, or "hang"
 *   start   "exit" makes the process exit with status 3 before listening
 *
 * Every request is appended to requests.log ("live" or "ready"). The set's
 * reports are recorded so a test can check events and their order. Last,
 * the deployment's event ring that those events land in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <h2o.h>
#include <jansson.h>

#include "control/registry.h"
#include "core/log.h"
#include "core/util.h"
#include "http/upstream.h"
#include "supervisor/instance.h"

#define PYTHON "/usr/bin/python3"
#define WAIT_MS 10000 /* how long a test waits for a condition before failing */

/* ---- pure parts ---- */

static const struct probe_cfg thresholds_3_2 = {
    .period_ms = 1000, .timeout_ms = 1000, .success_threshold = 2, .failure_threshold = 3};

/* Feeds results ("F" failure, "S" success) and returns the changes as a
 * string of the same length: '.' unchanged, 'F' failed, 'R' recovered. */
static void run_sequence(const struct probe_cfg *cfg, const char *results, char *changes)
{
    struct probe_state st = {0};
    size_t i = 0;
    for (; results[i] != '\0'; i++) {
        switch (instance_probe_record(&st, cfg, results[i] == 'S')) {
        case PROBE_UNCHANGED:
            changes[i] = '.';
            break;
        case PROBE_FAILED:
            changes[i] = 'F';
            break;
        case PROBE_RECOVERED:
            changes[i] = 'R';
            break;
        }
    }
    changes[i] = '\0';
}

static void assert_sequence(const struct probe_cfg *cfg, const char *results, const char *want)
{
    char got[128];
    run_sequence(cfg, results, got);
    if (strcmp(got, want) != 0)
        fail_msg("results %s: changes %s, want %s", results, got, want);
}

static void test_probe_failure_threshold(void **state)
{
    (void)state;
    /* Failures must be consecutive; the change is reported once. */
    assert_sequence(&thresholds_3_2, "FF", "..");
    assert_sequence(&thresholds_3_2, "FFF", "..F");
    assert_sequence(&thresholds_3_2, "FFFFFF", "..F...");
    assert_sequence(&thresholds_3_2, "FFSFFSFF", "........");
    assert_sequence(&thresholds_3_2, "SSSSFFF", "......F");
}

static void test_probe_success_threshold(void **state)
{
    (void)state;
    /* Successes while healthy change nothing; recovering needs two in a row. */
    assert_sequence(&thresholds_3_2, "SSSS", "....");
    assert_sequence(&thresholds_3_2, "FFFS", "..F.");
    assert_sequence(&thresholds_3_2, "FFFSS", "..F.R");
    assert_sequence(&thresholds_3_2, "FFFSFSS", "..F...R");
    /* Once failing, a new streak of failures is not a second failure. */
    assert_sequence(&thresholds_3_2, "FFFSFFFSS", "..F.....R");
    /* After recovering, it takes a full streak again. */
    assert_sequence(&thresholds_3_2, "FFFSSFFF", "..F.R..F");
}

static void test_probe_thresholds_of_one(void **state)
{
    (void)state;
    struct probe_cfg one = {.success_threshold = 1, .failure_threshold = 1};
    assert_sequence(&one, "FSFFSS", "FRF.R.");
    /* Below 1 counts as 1: a zeroed cfg still works. */
    struct probe_cfg zero = {0};
    assert_sequence(&zero, "SFS", ".FR");
    struct probe_cfg negative = {.success_threshold = -5, .failure_threshold = INT_MIN};
    assert_sequence(&negative, "FS", "FR");
}

static void test_probe_counts_saturate(void **state)
{
    (void)state;
    struct probe_cfg cfg = {.success_threshold = INT_MAX, .failure_threshold = INT_MAX};
    struct probe_state st = {.failures = INT_MAX - 1};
    assert_int_equal(instance_probe_record(&st, &cfg, 0), PROBE_FAILED);
    assert_int_equal(st.failures, INT_MAX);
    assert_int_equal(instance_probe_record(&st, &cfg, 0), PROBE_UNCHANGED);
    assert_int_equal(st.failures, INT_MAX);
    assert_int_equal(st.successes, 0);
    st.successes = INT_MAX;
    st.failures = 0;
    assert_int_equal(instance_probe_record(&st, &cfg, 1), PROBE_RECOVERED);
    assert_int_equal(st.successes, INT_MAX);
    assert_int_equal(st.failing, 0);
}

static void test_probe_first_due(void **state)
{
    (void)state;
    struct probe_cfg cfg = {.initial_delay_ms = 10000, .period_ms = 3000};
    /* Ready quickly: the initial delay (from the process start) decides. */
    assert_int_equal(instance_probe_first_ms(&cfg, 1000, 1500), 11000);
    /* Ready late: one period after ready. */
    assert_int_equal(instance_probe_first_ms(&cfg, 1000, 20000), 23000);
    cfg.initial_delay_ms = 0;
    assert_int_equal(instance_probe_first_ms(&cfg, 1000, 1200), 4200);
}

static void test_probe_cfg_defaults(void **state)
{
    (void)state;
    struct probe_cfg cfg = {0};
    instance_probe_cfg_defaults(&cfg);
    assert_int_equal(cfg.initial_delay_ms, 0); /* 0 is a valid delay */
    assert_int_equal(cfg.period_ms, 10000);
    assert_int_equal(cfg.timeout_ms, 2000);
    assert_int_equal(cfg.success_threshold, 1);
    assert_int_equal(cfg.failure_threshold, 30);
    struct probe_cfg set = {.initial_delay_ms = 5,
                            .period_ms = 6,
                            .timeout_ms = 7,
                            .success_threshold = 8,
                            .failure_threshold = 9};
    instance_probe_cfg_defaults(&set);
    assert_int_equal(set.initial_delay_ms, 5);
    assert_int_equal(set.period_ms, 6);
    assert_int_equal(set.timeout_ms, 7);
    assert_int_equal(set.success_threshold, 8);
    assert_int_equal(set.failure_threshold, 9);
    struct probe_cfg negative = {.success_threshold = -1, .failure_threshold = -1};
    instance_probe_cfg_defaults(&negative);
    assert_int_equal(negative.success_threshold, 1);
    assert_int_equal(negative.failure_threshold, 30);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(instance_backoff_ms(0), 500);
    assert_int_equal(instance_backoff_ms(1), 1000);
    assert_int_equal(instance_backoff_ms(5), 16000);
    assert_int_equal(instance_backoff_ms(6), 30000); /* 32 s, capped */
    assert_int_equal(instance_backoff_ms(INT_MAX), 30000);
    assert_int_equal(instance_backoff_ms(-3), 500);
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(instance_state_name(INSTANCE_STARTING), "Starting");
    assert_string_equal(instance_state_name(INSTANCE_READY), "Ready");
    assert_string_equal(instance_state_name(INSTANCE_NOT_READY), "NotReady");
    assert_string_equal(instance_state_name(INSTANCE_RESTARTING), "Restarting");
    assert_string_equal(instance_state_name(INSTANCE_STOPPING), "Stopping");
    assert_string_equal(instance_state_name(INSTANCE_STOPPED), "Stopped");
    assert_string_equal(instance_state_name((enum instance_state)99), "Unknown");
}

/* ---- instance sets with a fake instance ---- */

static const char fake_instance[] =
    "import os, sys, time, socketserver, http.server\n"
    "ctl = os.environ['FAKE_CTL']\n"
    "def read(name, default):\n"
    "    try:\n"
    "        with open(os.path.join(ctl, name)) as f:\n"
    "            return f.read().strip()\n"
    "    except OSError:\n"
    "        return default\n"
    "class Handler(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def do_GET(self):\n"
    "        kind = 'live' if self.path == '/health/live' else 'ready'\n"
    "        with open(os.path.join(ctl, 'requests.log'), 'a') as f:\n"
    "            f.write(kind + '\\n')\n"
    "        mode = read(kind, '200')\n"
    "        if mode == 'hang':\n"
    "            time.sleep(3600)\n"
    "        self.send_response(int(mode))\n"
    "        self.send_header('Content-Length', '2')\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b'OK')\n"
    "    def log_message(self, *args):\n"
    "        pass\n"
    "class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):\n"
    "    daemon_threads = True\n"
    "    def get_request(self):\n"
    "        return self.socket.accept()[0], ('instance', 0)\n"
    "if read('start', '') == 'exit':\n"
    "    print('fake: start asks to exit', file=sys.stderr)\n"
    "    sys.exit(3)\n"
    "Server(sys.argv[1], Handler).serve_forever()\n";

#define MAX_REPORTS 64

struct recorded {
    enum set_event ev;
    char reason[32];
    char message[512];
    char detail[1024]; /* SET_FAILED's reason */
    int warning;
};

struct fixture {
    char dir[64]; /* holds run/, logs/ and ctl/ */
    char ctl[96];
    h2o_loop_t *loop;
    struct upstream_ctx upstream;
    struct supervisor *sup;
    struct instance_set *set;
    struct recorded reports[MAX_REPORTS];
    int nreports;
    int stopped;
};

static void on_report(struct instance_set *set, const struct set_report *r, void *data)
{
    struct fixture *f = data;
    assert_ptr_equal(set, f->set);
    if (r->ev == SET_STOPPED) {
        f->stopped = 1;
        f->set = NULL;
    }
    if (f->nreports == MAX_REPORTS)
        return;
    struct recorded *rec = &f->reports[f->nreports++];
    rec->ev = r->ev;
    rec->warning = r->warning;
    snprintf(rec->reason, sizeof(rec->reason), "%s", r->ev == SET_EVENT ? r->reason : "");
    snprintf(rec->message, sizeof(rec->message), "%s", r->message != NULL ? r->message : "");
    snprintf(rec->detail, sizeof(rec->detail), "%s", r->ev == SET_FAILED ? r->reason : "");
    if (r->ev == SET_EVENT) {
        assert_non_null(strstr(r->message, "instance 0"));
        assert_true(r->time > 0);
    }
    if (r->ev == SET_FAILED)
        instance_set_stop(set, 0); /* as deploy.c does: only SET_STOPPED follows */
}

static void ctl_write(const struct fixture *f, const char *name, const char *text)
{
    char *path = inf_asprintf("%s/%s", f->ctl, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    free(path);
}

/* How many requests of a kind ("live"/"ready") the fake has received. */
static int ctl_requests(const struct fixture *f, const char *kind)
{
    char *path = inf_asprintf("%s/requests.log", f->ctl);
    FILE *fp = fopen(path, "r");
    free(path);
    if (fp == NULL)
        return 0;
    int n = 0;
    char line[32];
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, kind, strlen(kind)) == 0 && line[strlen(kind)] == '\n')
            n++;
    fclose(fp);
    return n;
}

static int fixture_setup(void **state)
{
    if (access(PYTHON, X_OK) != 0) {
        print_message("%s is needed for the fake instance: skipping\n", PYTHON);
        *state = NULL; /* each test skips */
        return 0;
    }
    struct fixture *f = inf_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/inferd-instance-test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->ctl, sizeof(f->ctl), "%s/ctl", f->dir);
    char *run = inf_asprintf("%s/run", f->dir);
    assert_int_equal(inf_mkdir_p(run, 0700, NULL), 0);
    assert_int_equal(inf_mkdir_p(f->ctl, 0700, NULL), 0);
    f->loop = h2o_evloop_create();
    upstream_ctx_init(&f->upstream, f->loop, 30000);
    f->sup = supervisor_new(f->loop, &f->upstream, PYTHON, run);
    free(run);
    *state = f;
    return 0;
}

/* Runs the loop, reaping children, until the set stopped or WAIT_MS. */
static void run_ms(struct fixture *f, uint64_t ms);

/* The fixture of a test on instance sets; skips it without Python. */
static struct fixture *fixture_of(void **state)
{
    if (*state == NULL)
        skip();
    return *state;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL)
        return 0;
    if (f->set != NULL) {
        instance_set_stop(f->set, 0);
        for (int i = 0; i < WAIT_MS / 10 && !f->stopped; i++)
            run_ms(f, 10);
        assert_true(f->stopped);
    }
    assert_true(supervisor_idle(f->sup));
    supervisor_free(f->sup);
    upstream_ctx_dispose(&f->upstream);
    h2o_evloop_destroy(f->loop);
    inf_rm_rf(f->dir, NULL);
    free(f);
    return 0;
}

static void run_ms(struct fixture *f, uint64_t ms)
{
    uint64_t until = inf_now_ms() + ms;
    do {
        h2o_evloop_run(f->loop, 5);
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            supervisor_on_child_exit(f->sup, pid, status);
        supervisor_tick(f->sup, inf_now_ms());
    } while (inf_now_ms() < until);
}

static int has_report(const struct fixture *f, const char *reason)
{
    for (int i = 0; i < f->nreports; i++)
        if (strcmp(f->reports[i].reason, reason) == 0)
            return 1;
    return 0;
}

static int report_index(const struct fixture *f, enum set_event ev, const char *reason)
{
    for (int i = 0; i < f->nreports; i++)
        if (f->reports[i].ev == ev && strcmp(f->reports[i].reason, reason) == 0)
            return i;
    return -1;
}

/* Runs until cond(f) holds; fails the test after WAIT_MS. */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        uint64_t give_up_ = inf_now_ms() + WAIT_MS;                                                \
        while (!(cond) && inf_now_ms() < give_up_)                                                 \
            run_ms(f, 5);                                                                          \
        if (!(cond))                                                                               \
            fail_msg("timed out waiting for %s", #cond);                                           \
    } while (0)

static char **strv(const char *first, ...)
{
    char **v = inf_calloc(8, sizeof(char *));
    va_list ap;
    va_start(ap, first);
    int n = 0;
    for (const char *s = first; s != NULL && n < 7; s = va_arg(ap, const char *))
        v[n++] = inf_strdup(s);
    va_end(ap);
    return v;
}

static const struct probe_cfg fast_probe = {.initial_delay_ms = 0,
                                            .period_ms = 100,
                                            .timeout_ms = 150,
                                            .success_threshold = 2,
                                            .failure_threshold = 2};

static void start_set(struct fixture *f, struct probe_cfg liveness, struct probe_cfg readiness)
{
    char *env_ctl = inf_asprintf("FAKE_CTL=%s", f->ctl);
    struct instance_spec spec = {
        .argv = strv("python3", "-c", fake_instance, "{socket}", NULL),
        .envp = strv(env_ctl, "PATH=/usr/bin:/bin", NULL),
        .log_dir = inf_asprintf("%s/logs", f->dir),
        .count = 1,
        .startup_timeout_ms = WAIT_MS,
        .liveness = liveness,
        .readiness = readiness,
    };
    free(env_ctl);
    f->set = supervisor_start_set(f->sup, "test/fake#1", &spec, on_report, f);
    assert_non_null(f->set);
    assert_null(spec.argv); /* ownership taken */
    /* Never from inside supervisor_start_set. */
    assert_int_equal(f->nreports, 0);
}

static struct instance *first_instance(struct fixture *f)
{
    return instance_set_member(f->set, 0);
}

static void start_ready(struct fixture *f, struct probe_cfg liveness, struct probe_cfg readiness)
{
    start_set(f, liveness, readiness);
    RUN_UNTIL(f, report_index(f, SET_READY, "") >= 0);
    assert_int_equal(first_instance(f)->state, INSTANCE_READY);
    assert_true(report_index(f, SET_EVENT, "InstanceStarted") <
                report_index(f, SET_EVENT, "InstanceReady"));
    assert_true(report_index(f, SET_EVENT, "InstanceReady") < report_index(f, SET_READY, ""));
}

static void test_set_startup_failure(void **state)
{
    struct fixture *f = fixture_of(state);
    ctl_write(f, "start", "exit");
    start_set(f, fast_probe, fast_probe);
    RUN_UNTIL(f, report_index(f, SET_FAILED, "") >= 0);
    int failed = report_index(f, SET_FAILED, "");
    assert_string_equal(f->reports[failed].message,
                        "instance 0 exited with status 3 during start-up");
    /* The instance event came first, then the failure; nothing else. */
    assert_int_equal(report_index(f, SET_EVENT, "InstanceStarted"), 0);
    assert_int_equal(failed, 1);
    assert_non_null(strstr(f->reports[failed].detail, "exited with status 3 during start-up. "
                                                      "Last lines of its log"));
    assert_non_null(strstr(f->reports[failed].detail, "fake: start asks to exit"));
    RUN_UNTIL(f, f->stopped);
    assert_int_equal(f->reports[f->nreports - 1].ev, SET_STOPPED);
    assert_int_equal(f->nreports, 3);
}

static void test_set_healthy_probes(void **state)
{
    struct fixture *f = fixture_of(state);
    struct probe_cfg live = fast_probe;
    live.initial_delay_ms = 700;
    start_ready(f, live, fast_probe);
    /* Start-up checks poll fast, whatever the initial delay. */
    assert_true(inf_now_ms() < first_instance(f)->spawned_ms + 700);
    int ready_checks = ctl_requests(f, "ready");
    /* The liveness probe waits out its initial delay from process start;
     * readiness (no delay) starts one period after ready. */
    run_ms(f, 250);
    assert_true(ctl_requests(f, "ready") >= ready_checks + 2);
    if (inf_now_ms() < first_instance(f)->spawned_ms + 650)
        assert_int_equal(ctl_requests(f, "live"), 0);
    run_ms(f, 900);
    assert_true(ctl_requests(f, "live") >= 2);
    /* All answered: still ready, nothing restarted, no warnings. */
    assert_int_equal(first_instance(f)->state, INSTANCE_READY);
    assert_int_equal(first_instance(f)->restarts, 0);
    for (int i = 0; i < f->nreports; i++)
        assert_int_equal(f->reports[i].warning, 0);
    assert_ptr_equal(instance_set_pick(f->set), first_instance(f));
}

static void test_set_readiness_out_and_back(void **state)
{
    struct fixture *f = fixture_of(state);
    start_ready(f, fast_probe, fast_probe);
    ctl_write(f, "ready", "503");
    RUN_UNTIL(f, first_instance(f)->state == INSTANCE_NOT_READY);
    /* Out of rotation, but alive and counted. */
    assert_null(instance_set_pick(f->set));
    int total, ready;
    instance_set_counts(f->set, &total, &ready);
    assert_int_equal(total, 1);
    assert_int_equal(ready, 0);
    pid_t pid = first_instance(f)->pid;
    assert_true(pid > 0);
    ctl_write(f, "ready", "200");
    RUN_UNTIL(f, first_instance(f)->state == INSTANCE_READY);
    assert_ptr_equal(instance_set_pick(f->set), first_instance(f));
    assert_int_equal(first_instance(f)->pid, pid);
    assert_int_equal(first_instance(f)->restarts, 0);
    run_ms(f, 50); /* events reach the owner from the next tick */

    int failed = report_index(f, SET_EVENT, "ReadinessProbeFailed");
    int not_ready = report_index(f, SET_EVENT, "InstanceNotReady");
    assert_true(failed >= 0);
    assert_true(not_ready > failed);
    assert_true(f->reports[not_ready].warning);
    assert_non_null(strstr(f->reports[not_ready].message, "HTTP 503"));
    /* Back in rotation: a second InstanceReady after the NotReady. */
    int back = -1;
    for (int i = not_ready + 1; i < f->nreports; i++)
        if (strcmp(f->reports[i].reason, "InstanceReady") == 0)
            back = i;
    assert_true(back > not_ready);
    assert_non_null(strstr(f->reports[back].message, "back in rotation"));
    assert_false(has_report(f, "LivenessProbeFailed"));

    json_t *st = instance_set_status_json(f->set);
    json_t *pf = json_object_get(json_array_get(st, 0), "probe_failures");
    assert_true(json_integer_value(json_object_get(pf, "readiness")) >= 2);
    assert_int_equal(json_integer_value(json_object_get(pf, "liveness")), 0);
    json_decref(st);
}

static void test_set_liveness_kills_and_restarts(void **state)
{
    struct fixture *f = fixture_of(state);
    struct probe_cfg live = fast_probe;
    live.timeout_ms = 400; /* longer than the period: probes must not overlap */
    live.period_ms = 50;
    live.failure_threshold = 3;
    start_ready(f, live, fast_probe);
    pid_t pid = first_instance(f)->pid;
    int answered = ctl_requests(f, "live");
    ctl_write(f, "live", "hang");
    RUN_UNTIL(f, first_instance(f)->state == INSTANCE_RESTARTING);
    /* Three hung probes, one at a time: 3 requests in ~1.2 s, not ~24 (one
     * more if a probe read the file just before it changed). */
    int hung = ctl_requests(f, "live") - answered;
    ctl_write(f, "live", "200");
    RUN_UNTIL(f, first_instance(f)->state == INSTANCE_READY && first_instance(f)->pid != pid);
    assert_int_equal(first_instance(f)->restarts, 1);
    assert_string_equal(first_instance(f)->last_exit,
                        "killed by signal 9 (KILL): liveness probe failed");
    run_ms(f, 50);
    assert_true(hung >= 3);
    assert_true(hung <= 4);

    int probe_failed = report_index(f, SET_EVENT, "LivenessProbeFailed");
    int exited = report_index(f, SET_EVENT, "InstanceExited");
    int restarted = report_index(f, SET_EVENT, "InstanceRestarted");
    assert_true(probe_failed >= 0);
    assert_true(exited > probe_failed);
    assert_true(restarted > exited);
    assert_non_null(strstr(f->reports[probe_failed].message, "no answer within 400 ms"));
    assert_non_null(strstr(f->reports[exited].message, "liveness probe failed"));
    assert_non_null(strstr(f->reports[restarted].message, "restart 1"));
    /* The last of the streak says what it does. */
    int killing = -1;
    for (int i = 0; i < f->nreports; i++)
        if (strstr(f->reports[i].message, "killing it") != NULL)
            killing = i;
    assert_true(killing >= probe_failed && killing < exited);
    /* The restarted instance is ready again after the exit. */
    int ready_again = -1;
    for (int i = restarted; i < f->nreports; i++)
        if (strcmp(f->reports[i].reason, "InstanceReady") == 0)
            ready_again = i;
    assert_true(ready_again > restarted);

    json_t *st = instance_set_status_json(f->set);
    json_t *inst = json_array_get(st, 0);
    assert_string_equal(json_string_value(json_object_get(inst, "state")), "Ready");
    assert_int_equal(json_integer_value(json_object_get(inst, "restarts")), 1);
    json_t *pf = json_object_get(inst, "probe_failures");
    assert_int_equal(json_integer_value(json_object_get(pf, "liveness")), 3);
    json_decref(st);
}

static void test_set_stop_cancels_hung_probes(void **state)
{
    struct fixture *f = fixture_of(state);
    struct probe_cfg live = fast_probe;
    live.timeout_ms = 60000;
    live.period_ms = 20;
    start_ready(f, live, fast_probe);
    ctl_write(f, "live", "hang");
    RUN_UNTIL(f, ctl_requests(f, "live") >= 1);
    run_ms(f, 100);
    assert_int_equal(ctl_requests(f, "live"), 1); /* still the one call */
    /* Stopping does not wait for the probe's minute-long timeout. */
    uint64_t t0 = inf_now_ms();
    instance_set_stop(f->set, 0);
    RUN_UNTIL(f, f->stopped);
    assert_true(inf_now_ms() - t0 < 3000);
    /* Detached: only SET_STOPPED came after the stop. */
    assert_int_equal(f->reports[f->nreports - 1].ev, SET_STOPPED);
    assert_false(has_report(f, "LivenessProbeFailed"));
}

/* ---- the deployment's event ring ---- */

static struct deployment *ring_deployment(struct registry *reg)
{
    registry_init(reg);
    struct endpoint *ep = registry_add(reg, "ep", json_object(), "k1", "k2");
    return endpoint_add_deployment(ep, "blue", json_object(), 1);
}

static void test_events_ring(void **state)
{
    (void)state;
    struct registry reg;
    struct deployment *d = ring_deployment(&reg);
    json_t *o = deployment_to_json(d);
    assert_int_equal(json_array_size(json_object_get(o, "events")), 0);
    json_decref(o);

    deployment_add_event(d, 1700000000, DEPLOYMENT_EVENT_WARNING, "InstanceExited", "first");
    o = deployment_to_json(d);
    json_t *e = json_array_get(json_object_get(o, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "time")), "2023-11-14T22:13:20Z");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "Warning");
    assert_string_equal(json_string_value(json_object_get(e, "reason")), "InstanceExited");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "first");
    json_decref(o);

    /* 120 more: the ring keeps the newest 50, oldest first. */
    for (int i = 1; i <= 120; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "event %d", i);
        deployment_add_event(d, 0, DEPLOYMENT_EVENT_NORMAL, "InstanceReady", msg);
    }
    assert_int_equal(d->nevents, DEPLOYMENT_MAX_EVENTS);
    o = deployment_to_json(d);
    json_t *events = json_object_get(o, "events");
    assert_int_equal(json_array_size(events), 50);
    e = json_array_get(events, 0);
    assert_string_equal(json_string_value(json_object_get(e, "message")), "event 71");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "Normal");
    e = json_array_get(events, 49);
    assert_string_equal(json_string_value(json_object_get(e, "message")), "event 120");
    json_decref(o);
    registry_fini(&reg); /* frees the events too (ASan checks) */
}

static void test_events_cut(void **state)
{
    (void)state;
    struct registry reg;
    struct deployment *d = ring_deployment(&reg);
    /* A long reason and message are cut; a UTF-8 character is never split. */
    char *big = inf_calloc(1, 4000);
    memset(big, 'a', 3999);
    memcpy(big + DEPLOYMENT_EVENT_BYTES - 2, "\xc3\xa9", 2); /* é across the limit */
    deployment_add_event(d, 0, DEPLOYMENT_EVENT_NORMAL, "AReasonFarLongerThanThirtyOneBytesInAll",
                         big);
    free(big);
    assert_string_equal(d->events[0].reason, "AReasonFarLongerThanThirtyOneBy");
    assert_int_equal(strlen(d->events[0].message), DEPLOYMENT_EVENT_BYTES - 2);
    json_t *o = deployment_to_json(d);
    json_t *e = json_array_get(json_object_get(o, "events"), 0);
    assert_int_equal(strlen(json_string_value(json_object_get(e, "message"))),
                     DEPLOYMENT_EVENT_BYTES - 2);
    json_decref(o);

    /* Not UTF-8: shown as a placeholder rather than breaking the JSON. */
    deployment_add_event(d, 0, DEPLOYMENT_EVENT_NORMAL, "InstanceExited", "bad \xff byte");
    o = deployment_to_json(d);
    e = json_array_get(json_object_get(o, "events"), 1);
    assert_string_equal(json_string_value(json_object_get(e, "message")), "(message is not UTF-8)");
    json_decref(o);
    registry_fini(&reg); /* frees the events too (ASan checks) */
}

int main(void)
{
    inf_log_set_level(INF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_failure_threshold),
        cmocka_unit_test(test_probe_success_threshold),
        cmocka_unit_test(test_probe_thresholds_of_one),
        cmocka_unit_test(test_probe_counts_saturate),
        cmocka_unit_test(test_probe_first_due),
        cmocka_unit_test(test_probe_cfg_defaults),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test_setup_teardown(test_set_startup_failure, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_set_healthy_probes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_set_readiness_out_and_back, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_set_liveness_kills_and_restarts, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_set_stop_cancels_hung_probes, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_events_ring),
        cmocka_unit_test(test_events_cut),
    };
    return cmocka_run_group_tests_name("instance", tests, NULL, NULL);
}
