/*
 * scheduler: batch jobs from queue to output (see scheduler.h). Event-loop
 * thread; the *_work functions run on the store thread and touch only
 * their task.
 *
 * A job in memory moves through phases:
 *
 *   QUEUED → PLANNING (store thread: list inputs, write the ledger once)
 *          → STARTING (its instance set starts) → RUNNING (mini-batches
 *          dispatched, retried, finished) → FINALIZING (store thread: join
 *          the results, write the overview) → gone
 *
 * Any phase can end early (a failure, error_threshold passed, cancel,
 * shutdown): in-flight calls are abandoned, the instance set stops, and the
 * job finalizes with what finished. Each job holds `instance_count` slots
 * of capacity from PLANNING until its instance set reports SET_STOPPED, so
 * a job never starts while the previous one's processes still run.
 *
 * Every store or file write of a job is a task on the store thread, run in
 * submission order: a mini-batch's ledger row is written after its result
 * file was renamed into place (by the instance, before it answered), and
 * the finalize task runs after every finish queued before it. A job is
 * freed once it is gone from the queue and its last task has completed.
 */
#include "batch/scheduler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch/inputs.h"
#include "batch/outputs.h"
#include "control/deploy.h"
#include "core/log.h"
#include "core/util.h"
#include "http/upstream.h"
#include "server/pool.h"
#include "server/server.h"
#include "supervisor/instance.h"

#define REPLY_MAX_BYTES (1u << 20)
/* The instance kills a scoring process at the mini-batch timeout and
 * answers; the scheduler gives up on the answer this much later. */
#define CALL_GRACE_MS 15000
/* A running job whose instances are all unavailable this long fails. */
#define NO_INSTANCE_MS 120000
#define STARTUP_TIMEOUT_MS 120000
#define IO_TIMEOUT_MS ((uint64_t)(86400 + 120) * 1000)
#define ERROR_TEXT_MAX 2000
/* The reason of a Finalizing job: "ending as <status>[: <reason>]". */
#define ENDING_AS "ending as "

enum phase { PH_QUEUED, PH_PLANNING, PH_STARTING, PH_RUNNING, PH_FINALIZING, PH_GONE };
enum mb_state { MB_PENDING, MB_RUNNING, MB_DONE, MB_FAILED };

struct minibatch {
    int64_t idx;
    json_t *files; /* relative paths */
    int nfiles;
    enum mb_state state;
    int attempts;
};

struct job;

/* One attempt of one mini-batch on one instance. */
struct call {
    struct job *job;
    struct minibatch *mb;
    struct instance *inst;
    struct instance_pool *conn;
    struct upstream_call *up;
    char *body;
    uint64_t deadline_ms;
    struct call *next;
};

struct job {
    struct scheduler *sch;
    struct job *next; /* in sch->jobs, submission order */
    char *id, *endpoint, *deployment;
    int64_t seq;
    json_t *spec;
    char status[16];
    enum phase phase;
    int ending; /* finish_job ran: the terminal status is decided */
    /* settings */
    int instances, concurrency, max_retries;
    int64_t timeout_ms, error_threshold;
    const char *output_action;
    char *dir, *input_dir, *output_file;
    /* ledger */
    struct minibatch *mbs;
    size_t nmb, cursor;
    int64_t done, failed, files_failed, rows;
    /* running */
    struct instance_set *set;
    struct set_owner *owner; /* the set's callback data while the job has one */
    struct call *calls;
    int in_flight;
    int tasks; /* store tasks not completed */
    /* Finished mini-batches not yet handed to the store thread: they wait
     * while a ledger write of the job is in flight, then go together in one
     * transaction. */
    struct store_minibatch_end *ledger;
    int64_t *ledger_idx;
    size_t nledger, ledger_cap;
    struct inf_buf ledger_log; /* their error.txt lines */
    int ledger_writing;        /* ledger tasks in flight */
    int holds;                 /* capacity slots held */
    uint64_t unavailable_since_ms;
};

struct scheduler {
    struct server *srv;
    int capacity, used;
    struct job *jobs;
    int tasks;
    int sets;
    int stopping;
    struct upstream_ctx upstream; /* its own: mini-batches outlast the gateway's I/O timeout */
};

static void pump(struct scheduler *sch);
static void dispatch(struct job *job);
static void finish_job(struct job *job, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 once more files failed than error_threshold tolerates (-1: any). */
static int over_threshold(const struct job *job)
{
    return job->error_threshold >= 0 && job->files_failed > job->error_threshold;
}

/* Ends a job that has nothing more to run, or has failed too many files:
 * Failed past error_threshold, else Completed. */
static void finish_ran_all(struct job *job)
{
    if (over_threshold(job))
        finish_job(job, JOB_FAILED,
                   "%lld failed file(s) exceed error_threshold %lld; see logs/user/error.txt",
                   (long long)job->files_failed, (long long)job->error_threshold);
    else
        finish_job(job, JOB_COMPLETED, "%s", "");
}

char *scheduler_job_dir(const struct server *srv, const char *id)
{
    return inf_asprintf("%s/jobs/%s", srv->home, id);
}

/* ---- store tasks ---- */

struct job_task;
typedef void (*task_after_fn)(struct job_task *t);

/* One piece of store-thread work for a job. Fields are inputs of work,
 * results for after. */
struct job_task {
    struct pool_task task;
    struct job *job;
    task_after_fn after;
    void (*work)(struct job_task *t, struct store *st);
    /* inputs */
    char *id;
    int64_t idx;
    int attempts;
    int64_t rows, failed; /* plan: sums over the ledger */
    char status[16];
    char *text; /* reason, error or log text */
    char *path; /* a file to append `log` to */
    char *log;
    struct store_minibatch_end *ends; /* ledger writes (owned, with their strings) */
    int64_t *ends_idx;
    size_t nends;
    /* results */
    struct minibatch *mbs;
    size_t nmb;
    int rc;
    struct inf_err err;
};

static void task_work(struct pool_task *task, struct store *st)
{
    struct job_task *t = (struct job_task *)task;
    t->work(t, st);
}

static void ends_free(struct store_minibatch_end *ends, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)ends[i].segment);
        free((char *)ends[i].error);
    }
    free(ends);
}

static void task_free(struct job_task *t)
{
    ends_free(t->ends, t->nends);
    free(t->ends_idx);
    for (size_t i = 0; i < t->nmb; i++)
        json_decref(t->mbs[i].files);
    free(t->mbs);
    free(t->id);
    free(t->text);
    free(t->path);
    free(t->log);
    free(t);
}

static void job_free(struct job *job)
{
    ends_free(job->ledger, job->nledger);
    free(job->ledger_idx);
    inf_buf_fini(&job->ledger_log);
    for (size_t i = 0; i < job->nmb; i++)
        json_decref(job->mbs[i].files);
    free(job->mbs);
    json_decref(job->spec);
    free(job->id);
    free(job->endpoint);
    free(job->deployment);
    free(job->dir);
    free(job->input_dir);
    free(job->output_file);
    free(job);
}

/* Frees a job that is gone once nothing refers to it any more. */
static void job_release_if_done(struct job *job)
{
    if (job->phase != PH_GONE || job->tasks > 0 || job->set != NULL || job->calls != NULL)
        return;
    struct scheduler *sch = job->sch;
    for (struct job **p = &sch->jobs; *p != NULL; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            break;
        }
    }
    job_free(job);
}

static void task_done(struct pool_task *task)
{
    struct job_task *t = (struct job_task *)task;
    struct job *job = t->job;
    job->sch->tasks--;
    job->tasks--;
    if (t->after != NULL)
        t->after(t);
    task_free(t);
    job_release_if_done(job);
}

static struct job_task *task_new(struct job *job, void (*work)(struct job_task *, struct store *),
                                 task_after_fn after)
{
    struct job_task *t = inf_calloc(1, sizeof(*t));
    t->task.work = task_work;
    t->task.done = task_done;
    t->job = job;
    t->work = work;
    t->after = after;
    t->id = inf_strdup(job->id);
    return t;
}

static void task_submit_now(struct job_task *t)
{
    t->job->tasks++;
    t->job->sch->tasks++;
    pool_submit(t->job->sch->srv->pool, &t->task);
}

static void ledger_flush(struct job *job);

/* Queues t after the job's pending ledger writes, so it sees them. */
static void task_submit(struct job_task *t)
{
    ledger_flush(t->job);
    task_submit_now(t);
}

static void append_log(struct job_task *t)
{
    struct inf_err err;
    if (t->path != NULL && t->log != NULL && outputs_append_log(t->path, t->log, &err) != 0)
        inf_warn("job.log_not_written", "job=%s error=\"%s\"", t->id, err.msg);
}

static void status_work(struct job_task *t, struct store *st)
{
    append_log(t);
    if (store_job_set_status(st, t->id, t->status, t->text != NULL ? t->text : "", &t->err) != 0)
        inf_error("job.status_not_saved", "job=%s status=%s error=\"%s\"", t->id, t->status,
                  t->err.msg);
}

/* Sets the job's status in memory and queues its write. */
static void set_status(struct job *job, const char *status, const char *reason)
{
    snprintf(job->status, sizeof(job->status), "%s", status);
    struct job_task *t = task_new(job, status_work, NULL);
    snprintf(t->status, sizeof(t->status), "%s", status);
    t->text = inf_strdup(reason != NULL ? reason : "");
    task_submit(t);
    inf_info("job.status", "job=%s status=%s", job->id, status);
}

static char *error_log_path(const struct job *job)
{
    return inf_asprintf("%s/logs/user/error.txt", job->dir);
}

/* ---- settings ---- */

static int64_t setting(const struct job *job, const char *key, int64_t def)
{
    json_t *v = json_object_get(json_object_get(job->spec, "settings"), key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static void load_settings(struct job *job)
{
    json_t *settings = json_object_get(job->spec, "settings");
    job->instances = (int)setting(job, "instance_count", 1);
    job->concurrency = (int)setting(job, "max_concurrency_per_instance", 1);
    job->max_retries = (int)setting(job, "max_retries", 3);
    job->timeout_ms = setting(job, "timeout", 30) * 1000;
    job->error_threshold = setting(job, "error_threshold", -1);
    job->output_action = json_string_value(json_object_get(settings, "output_action"));
    if (job->output_action == NULL)
        job->output_action = "append_row";
    if (job->instances < 1)
        job->instances = 1;
    if (job->concurrency < 1)
        job->concurrency = 1;
    json_t *input = json_object_get(job->spec, "input");
    json_t *output = json_object_get(job->spec, "output");
    const char *in_dir = json_string_value(json_object_get(input, "dir"));
    const char *out_dir = json_string_value(json_object_get(output, "dir"));
    const char *file = json_string_value(json_object_get(settings, "output_file_name"));
    job->input_dir = inf_strdup(in_dir != NULL ? in_dir : "/nonexistent");
    job->output_file = inf_asprintf("%s/%s", out_dir != NULL ? out_dir : job->dir,
                                    file != NULL ? file : "predictions.csv");
}

/* ---- planning ---- */

/* 1 if a done mini-batch's rows are still where the ledger says. Result
 * segments are not fsync-ed per mini-batch (a sync would cost more than a
 * small mini-batch): after a power cut, rows that never reached the disk
 * are missing, and this check sends their mini-batch back to pending. */
static int result_intact(const struct job *job, const struct store_minibatch *m)
{
    struct outputs_range r = {m->segment, m->offset, m->bytes};
    return outputs_range_intact(job->dir, &r);
}

static void plan_work(struct job_task *t, struct store *st)
{
    struct job *job = t->job; /* read-only here: fields set before submit */
    struct store_minibatch *list = NULL;
    size_t n = 0;
    t->rc = store_job_minibatches(st, t->id, &list, &n, &t->err);
    if (t->rc == 0 && n == 0) {
        json_t *input = json_object_get(job->spec, "input");
        const char *file = json_string_value(json_object_get(input, "file"));
        json_t *files = NULL;
        if (file != NULL) {
            files = json_pack("[s]", file);
        } else {
            t->rc = inputs_list(job->input_dir, INPUTS_MAX_FILES, &files, &t->err);
            if (t->rc == 0 && json_array_size(files) == 0)
                t->rc = inf_err_set(&t->err, INF_EINVAL, "the input folder %s has no files",
                                    json_string_value(json_object_get(input, "path")));
        }
        int64_t size = setting(job, "mini_batch_size", 10);
        json_t *batches = t->rc == 0 ? inputs_split(files, size > 0 ? (size_t)size : 1) : NULL;
        size_t nb = json_array_size(batches);
        char **texts = inf_calloc(nb + 1, sizeof(char *));
        int64_t *counts = inf_calloc(nb + 1, sizeof(int64_t));
        for (size_t i = 0; i < nb; i++) {
            json_t *b = json_array_get(batches, i);
            texts[i] = json_dumps(b, JSON_COMPACT);
            counts[i] = (int64_t)json_array_size(b);
        }
        if (t->rc == 0)
            t->rc = store_job_plan(st, t->id, (const char *const *)texts, counts, nb, &t->err);
        for (size_t i = 0; i < nb; i++)
            free(texts[i]);
        free(texts);
        free(counts);
        json_decref(batches);
        json_decref(files);
        if (t->rc == 0)
            t->rc = store_job_minibatches(st, t->id, &list, &n, &t->err);
    }
    int append = strcmp(job->output_action, "append_row") == 0;
    if (t->rc == 0) {
        t->mbs = inf_calloc(n + 1, sizeof(*t->mbs));
        t->nmb = n;
        for (size_t i = 0; i < n; i++) {
            struct minibatch *mb = &t->mbs[i];
            mb->idx = list[i].idx;
            mb->files = json_loads(list[i].files_json, 0, NULL);
            mb->nfiles = (int)json_array_size(mb->files);
            mb->attempts = list[i].attempts;
            mb->state = strcmp(list[i].status, MINIBATCH_DONE) == 0     ? MB_DONE
                        : strcmp(list[i].status, MINIBATCH_FAILED) == 0 ? MB_FAILED
                                                                        : MB_PENDING;
            if (mb->state == MB_DONE && append && !result_intact(job, &list[i])) {
                /* Finished before a crash that lost its unsynced file. */
                inf_warn("job.result_lost", "job=%s mini_batch=%lld: running it again", t->id,
                         (long long)mb->idx);
                if (store_job_minibatch_reset(st, t->id, mb->idx, &t->err) != 0) {
                    t->rc = t->err.code;
                    break;
                }
                mb->state = MB_PENDING;
            }
            if (mb->state == MB_DONE)
                t->rows += list[i].rows;
            if (mb->state != MB_PENDING)
                t->failed += list[i].failed;
        }
        char *results = inf_asprintf("%s/results", job->dir);
        char *user = inf_asprintf("%s/logs/user", job->dir);
        char *out_dir = inf_strdup(job->output_file);
        *strrchr(out_dir, '/') = '\0';
        if (inf_mkdir_p(results, 0700, &t->err) != 0 || inf_mkdir_p(user, 0700, &t->err) != 0 ||
            inf_mkdir_p(out_dir, 0755, &t->err) != 0)
            t->rc = t->err.code;
        free(results);
        free(user);
        free(out_dir);
    }
    store_minibatch_list_free(list, n);
    if (t->rc == 0)
        t->rc = store_job_set_status(st, t->id, JOB_PREPARING, "", &t->err);
}

static void start_instances(struct job *job);
static struct minibatch *next_pending(struct job *job);

static void plan_after(struct job_task *t)
{
    struct job *job = t->job;
    if (job->phase != PH_PLANNING || job->sch->stopping)
        return; /* canceled or stopping meanwhile */
    if (t->rc != 0) {
        finish_job(job, JOB_FAILED, "%s", t->err.msg);
        return;
    }
    job->mbs = t->mbs;
    job->nmb = t->nmb;
    t->mbs = NULL;
    t->nmb = 0;
    job->rows = t->rows;
    job->files_failed = t->failed;
    for (size_t i = 0; i < job->nmb; i++) {
        if (job->mbs[i].state == MB_DONE)
            job->done++;
        else if (job->mbs[i].state == MB_FAILED)
            job->failed++;
    }
    snprintf(job->status, sizeof(job->status), "%s", JOB_PREPARING);
    inf_info("job.planned", "job=%s mini_batches=%zu finished=%lld", job->id, job->nmb,
             (long long)(job->done + job->failed));
    if (next_pending(job) == NULL) { /* resumed after its last mini-batch */
        finish_ran_all(job);
        return;
    }
    start_instances(job);
}

/* ---- instances ---- */

/* The callback data of a job's instance set: it outlives the job when the
 * job is freed before the set stops. */
struct set_owner {
    struct scheduler *sch;
    struct job *job; /* NULL once the job let go of the set */
    int holds;
};

/* Stops the job's instance set; its capacity is freed when it reports
 * SET_STOPPED, which may come after the job is gone. */
static void release_set(struct job *job)
{
    if (job->set == NULL)
        return;
    job->owner->job = NULL;
    job->owner = NULL;
    instance_set_stop(job->set, 0);
    job->set = NULL;
}

static void on_set_event(struct instance_set *set, const struct set_report *r, void *data)
{
    (void)set;
    struct set_owner *owner = data;
    struct scheduler *sch = owner->sch;
    struct job *job = owner->job;
    switch (r->ev) {
    case SET_STOPPED:
        sch->sets--;
        sch->used -= owner->holds;
        if (job != NULL) { /* it stopped by itself */
            job->set = NULL;
            job->owner = NULL;
        }
        free(owner);
        pump(sch);
        return;
    case SET_EVENT:
        if (job != NULL && r->warning)
            inf_warn("job.instance", "job=%s reason=%s message=\"%s\"", job->id, r->reason,
                     r->message);
        return;
    case SET_READY:
        if (job == NULL || job->phase != PH_STARTING)
            return;
        job->phase = PH_RUNNING;
        set_status(job, JOB_RUNNING, "");
        dispatch(job);
        return;
    case SET_FAILED:
        if (job == NULL || job->phase != PH_STARTING)
            return;
        /* reason ends with the instance log's tail: the script's error */
        finish_job(job, JOB_FAILED, "the deployment's instances did not start: %s",
                   r->reason != NULL ? r->reason : r->message);
        return;
    }
}

static void start_instances(struct job *job)
{
    struct scheduler *sch = job->sch;
    struct server *srv = sch->srv;
    json_t *dep = json_object_get(job->spec, "deployment");
    /* The job's environment_variables (the deployment's, with the invoke's
     * overrides merged in) replace the deployment's, so an override wins. */
    json_t *spec_env = json_deep_copy(dep);
    json_object_set(spec_env, "environment_variables",
                    json_object_get(job->spec, "environment_variables"));
    struct inf_strv argv = {0}, env = {0};
    deploy_worker_command(srv, spec_env, job->endpoint, job->deployment, &argv, &env);
    json_decref(spec_env);
    inf_strv_push(&argv, inf_strdup("--batch"));
    inf_strv_push(&argv, inf_asprintf("--timeout-ms=%lld", (long long)job->timeout_ms));
    inf_strv_push(&argv, inf_asprintf("--worker-count=%d", job->concurrency));
    char tag[128];
    snprintf(tag, sizeof(tag), "job-%s", job->id);
    char *conda = deploy_conda_file(srv, dep, tag);
    if (conda != NULL) {
        inf_strv_push(&argv, inf_strdup("--conda-file"));
        inf_strv_push(&argv, conda);
    }
    inf_strv_push(&argv, inf_strdup("--process-log-dir"));
    inf_strv_push(&argv, inf_asprintf("%s/logs/user/instance-{index}", job->dir));
    char *out_dir = inf_strdup(job->output_file);
    *strrchr(out_dir, '/') = '\0';
    inf_strv_push(&env, inf_asprintf("AZUREML_BI_OUTPUT_PATH=%s", out_dir));
    free(out_dir);
    inf_strv_push(&env, inf_asprintf("INFERD_JOB=%s", job->id));
    const char *level =
        json_string_value(json_object_get(json_object_get(job->spec, "settings"), "logging_level"));
    inf_strv_push(&env, inf_asprintf("AZUREML_LOG_LEVEL=%s", level != NULL ? level : "info"));
    struct instance_spec spec = {
        .argv = argv.v,
        .envp = env.v,
        .log_dir = inf_asprintf("%s/logs/user", job->dir),
        .count = job->instances,
        .startup_timeout_ms = STARTUP_TIMEOUT_MS,
    };
    struct set_owner *owner = inf_calloc(1, sizeof(*owner));
    owner->sch = sch;
    owner->job = job;
    owner->holds = job->holds;
    job->holds = 0; /* the set's now, until SET_STOPPED */
    job->owner = owner;
    char label[120];
    snprintf(label, sizeof(label), "job:%s", job->id);
    job->phase = PH_STARTING;
    job->set = supervisor_start_set(srv->supervisor, label, &spec, on_set_event, owner);
    sch->sets++;
    job->unavailable_since_ms = 0;
}

/* ---- mini-batches ---- */

static void call_unlink(struct call *call)
{
    struct job *job = call->job;
    for (struct call **p = &job->calls; *p != NULL; p = &(*p)->next) {
        if (*p == call) {
            *p = call->next;
            break;
        }
    }
    job->in_flight--;
    if (call->conn != NULL)
        instance_release(call->inst, call->conn);
    free(call->body);
    free(call);
}

/* Abandons every call in flight; their mini-batches stay pending. */
static void abandon_calls(struct job *job)
{
    while (job->calls != NULL) {
        struct call *call = job->calls;
        if (call->up != NULL)
            upstream_cancel(call->up);
        call->mb->state = MB_PENDING;
        call_unlink(call);
    }
}

static void ledger_work(struct job_task *t, struct store *st)
{
    append_log(t);
    if (t->nends > 0 &&
        store_job_minibatch_finish_many(st, t->id, t->ends_idx, t->ends, t->nends, &t->err) != 0)
        inf_error("job.minibatch_not_saved", "job=%s mini_batches=%zu error=\"%s\"", t->id,
                  t->nends, t->err.msg);
}

static void ledger_after(struct job_task *t)
{
    struct job *job = t->job;
    job->ledger_writing--;
    if (job->ledger_writing == 0)
        ledger_flush(job);
}

/* Hands the job's pending finishes (and their error lines) to the store
 * thread in one task. */
static void ledger_flush(struct job *job)
{
    if (job->nledger == 0 && job->ledger_log.len == 0)
        return;
    struct job_task *t = task_new(job, ledger_work, ledger_after);
    t->ends = job->ledger;
    t->ends_idx = job->ledger_idx;
    t->nends = job->nledger;
    job->ledger = NULL;
    job->ledger_idx = NULL;
    job->nledger = job->ledger_cap = 0;
    if (job->ledger_log.len > 0) {
        t->path = error_log_path(job);
        t->log = inf_strdup(job->ledger_log.data);
        inf_buf_reset(&job->ledger_log);
    }
    job->ledger_writing++;
    task_submit_now(t);
}

/* Records a finish for the store: at once when no ledger write of the job
 * is in flight, else with the next one. Copies end's strings and log. */
static void ledger_add(struct job *job, int64_t idx, const struct store_minibatch_end *end,
                       const char *log)
{
    if (job->nledger == job->ledger_cap) {
        job->ledger_cap = job->ledger_cap ? job->ledger_cap * 2 : 16;
        job->ledger = inf_realloc(job->ledger, job->ledger_cap * sizeof(*job->ledger));
        job->ledger_idx = inf_realloc(job->ledger_idx, job->ledger_cap * sizeof(int64_t));
    }
    struct store_minibatch_end *e = &job->ledger[job->nledger];
    *e = *end;
    e->segment = end->segment != NULL ? inf_strdup(end->segment) : NULL;
    e->error = inf_strdup(end->error != NULL ? end->error : "");
    e->status = strcmp(end->status, MINIBATCH_DONE) == 0 ? MINIBATCH_DONE : MINIBATCH_FAILED;
    job->ledger_idx[job->nledger++] = idx;
    if (log != NULL) {
        if (job->ledger_log.max == 0)
            inf_buf_init(&job->ledger_log, (size_t)64 << 20);
        if (inf_buf_append(&job->ledger_log, log, strlen(log)) != 0)
            inf_warn("job.log_dropped", "job=%s bytes=%zu", job->id, strlen(log));
    }
    if (job->ledger_writing == 0)
        ledger_flush(job);
}

static void retry_work(struct job_task *t, struct store *st)
{
    append_log(t);
    if (store_job_minibatch_retry(st, t->id, t->idx, t->attempts, t->text, &t->err) != 0)
        inf_error("job.retry_not_saved", "job=%s mini_batch=%lld error=\"%s\"", t->id,
                  (long long)t->idx, t->err.msg);
}

/* Records a finished mini-batch (end: how; its attempts are mb's) and
 * checks the error threshold. Takes ownership of log (lines for
 * error.txt, or NULL). */
static void mb_finished(struct job *job, struct minibatch *mb,
                        const struct store_minibatch_end *end, char *log)
{
    mb->state = strcmp(end->status, MINIBATCH_DONE) == 0 ? MB_DONE : MB_FAILED;
    if (mb->state == MB_DONE) {
        job->done++;
        job->rows += end->rows;
    } else {
        job->failed++;
    }
    job->files_failed += end->failed;
    struct store_minibatch_end e = *end;
    e.attempts = mb->attempts;
    ledger_add(job, mb->idx, &e, log);
    free(log);
    if (over_threshold(job))
        finish_ran_all(job);
}

/* An attempt failed: retry it, or fail the mini-batch when retries are
 * used up. */
static void attempt_failed(struct job *job, struct minibatch *mb, const char *why)
{
    mb->attempts++;
    char when[32];
    inf_utc_iso8601(when, sizeof(when), inf_unix_now());
    int retry = mb->attempts <= job->max_retries;
    char *log =
        inf_asprintf("%s mini-batch %lld attempt %d of %d failed%s: %s\n", when, (long long)mb->idx,
                     mb->attempts, job->max_retries + 1, retry ? " (will retry)" : "", why);
    inf_warn("job.attempt_failed", "job=%s mini_batch=%lld attempt=%d retry=%d", job->id,
             (long long)mb->idx, mb->attempts, retry);
    if (retry) {
        mb->state = MB_PENDING;
        if ((size_t)(mb - job->mbs) < job->cursor)
            job->cursor = (size_t)(mb - job->mbs);
        struct job_task *t = task_new(job, retry_work, NULL);
        t->idx = mb->idx;
        t->attempts = mb->attempts;
        t->text = inf_strdup(why);
        t->path = error_log_path(job);
        t->log = log;
        task_submit(t);
        return;
    }
    struct store_minibatch_end end = {
        .status = MINIBATCH_FAILED, .failed = mb->nfiles, .error = why};
    mb_finished(job, mb, &end, log);
}

/* Reads an instance's answer to POST /batch. */
static void on_reply(const struct upstream_result *res, void *data)
{
    struct call *call = data;
    struct job *job = call->job;
    struct minibatch *mb = call->mb;
    call->up = NULL;
    json_t *body = res->status != 0 ? json_loadb(res->body.data, res->body.len, 0, NULL) : NULL;
    char why[ERROR_TEXT_MAX];
    why[0] = '\0';
    if (res->status == 200 && json_is_object(body)) {
        struct store_minibatch_end end = {
            .status = MINIBATCH_DONE,
            .rows = json_integer_value(json_object_get(body, "rows")),
            .succeeded = json_integer_value(json_object_get(body, "succeeded")),
            .failed = json_integer_value(json_object_get(body, "failed")),
            .segment = json_string_value(json_object_get(body, "segment")),
            .offset = json_integer_value(json_object_get(body, "offset")),
            .bytes = json_integer_value(json_object_get(body, "bytes")),
            .error = "",
        };
        struct inf_buf log;
        inf_buf_init(&log, 1u << 20);
        size_t i;
        json_t *e;
        char when[32];
        inf_utc_iso8601(when, sizeof(when), inf_unix_now());
        json_array_foreach(json_object_get(body, "errors"), i, e)
        {
            if (json_is_string(e))
                inf_buf_printf(&log, "%s %s\n", when, json_string_value(e));
        }
        call_unlink(call);
        mb->attempts++;
        mb_finished(job, mb, &end, log.len > 0 ? inf_strdup(log.data) : NULL);
        inf_buf_fini(&log);
    } else {
        const char *msg = json_string_value(json_object_get(body, "message"));
        const char *tb = json_string_value(json_object_get(body, "traceback"));
        if (res->status == 0)
            snprintf(why, sizeof(why), "the instance failed mid-call: %s",
                     res->error != NULL ? res->error : "connection lost");
        else if (msg != NULL)
            snprintf(why, sizeof(why), "%s%s%s", msg, tb != NULL ? "\n" : "", tb != NULL ? tb : "");
        else
            snprintf(why, sizeof(why), "the instance answered HTTP %d", res->status);
        call_unlink(call);
        attempt_failed(job, mb, why);
    }
    json_decref(body);
    if (job->phase == PH_RUNNING)
        dispatch(job);
    job_release_if_done(job);
}

/* The next pending mini-batch from the cursor, or NULL. */
static struct minibatch *next_pending(struct job *job)
{
    while (job->cursor < job->nmb && job->mbs[job->cursor].state != MB_PENDING)
        job->cursor++;
    return job->cursor < job->nmb ? &job->mbs[job->cursor] : NULL;
}

static char *request_body(const struct job *job, const struct minibatch *mb)
{
    json_t *files = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(mb->files, i, f)
    {
        json_array_append_new(files, json_sprintf("%s/%s", job->input_dir, json_string_value(f)));
    }
    char *results = outputs_results_dir(job->dir);
    json_t *req = json_pack("{s:s, s:I, s:i, s:o, s:s, s:s}", "job", job->id, "mini_batch",
                            (json_int_t)mb->idx, "attempt", mb->attempts + 1, "files", files,
                            "output_action", job->output_action, "result_dir", results);
    free(results);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return body;
}

static void dispatch(struct job *job)
{
    struct scheduler *sch = job->sch;
    if (job->phase != PH_RUNNING || sch->stopping)
        return;
    while (job->in_flight < job->instances * job->concurrency) {
        struct minibatch *mb = next_pending(job);
        if (mb == NULL)
            break;
        struct instance *inst = job->set != NULL ? instance_set_pick(job->set) : NULL;
        if (inst == NULL || inst->in_flight >= job->concurrency)
            break; /* the tick tries again */
        struct call *call = inf_calloc(1, sizeof(*call));
        call->job = job;
        call->mb = mb;
        call->inst = inst;
        call->conn = instance_acquire(inst);
        call->body = request_body(job, mb);
        call->deadline_ms = inf_now_ms() + (uint64_t)job->timeout_ms + CALL_GRACE_MS;
        call->next = job->calls;
        job->calls = call;
        job->in_flight++;
        mb->state = MB_RUNNING;
        call->up = upstream_start(&sch->upstream, &call->conn->pool, "POST", "/batch",
                                  "Content-Type: application/json\r\n",
                                  h2o_iovec_init(call->body, strlen(call->body)), REPLY_MAX_BYTES,
                                  on_reply, call);
    }
    if (job->in_flight == 0 && next_pending(job) == NULL)
        finish_ran_all(job);
}

/* ---- the end of a job ---- */

static void finalize_work(struct job_task *t, struct store *st)
{
    struct job *job = t->job;
    append_log(t); /* why the job failed or was canceled */
    struct store_minibatch *list = NULL;
    size_t n = 0;
    struct outputs_range *done = NULL;
    size_t ndone = 0;
    int64_t bytes = 0;
    int rc = store_job_minibatches(st, t->id, &list, &n, &t->err);
    if (rc == 0 && strcmp(job->output_action, "append_row") == 0 && n > 0) {
        done = inf_calloc(n, sizeof(*done));
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i].status, MINIBATCH_DONE) == 0)
                done[ndone++] =
                    (struct outputs_range){list[i].segment, list[i].offset, list[i].bytes};
        rc = outputs_join(job->dir, done, ndone, job->output_file, &bytes, &t->err);
    }
    if (rc != 0 && strcmp(t->status, JOB_COMPLETED) == 0) {
        snprintf(t->status, sizeof(t->status), "%s", JOB_FAILED);
        free(t->text);
        t->text = inf_asprintf("writing the output failed: %s", t->err.msg);
    }
    struct store_job j;
    memset(&j, 0, sizeof(j));
    if (store_job_set_status(st, t->id, t->status, t->text, &t->err) != 0)
        inf_error("job.status_not_saved", "job=%s status=%s error=\"%s\"", t->id, t->status,
                  t->err.msg);
    if (store_job_get(st, t->id, &j, &t->err) == 0) {
        char created[32], ended[32];
        inf_utc_iso8601(created, sizeof(created), j.created_at);
        inf_utc_iso8601(ended, sizeof(ended), j.ended_at);
        char *overview = inf_asprintf(
            "job: %s\nendpoint: %s\ndeployment: %s\nstatus: %s\n%s%s%s"
            "created: %s\nended: %s\n"
            "input files: %lld\nmini-batches created: %lld\nmini-batches processed: %lld "
            "(succeeded %lld, failed %lld)\nfailed files: %lld (error_threshold %lld)\n"
            "output action: %s\nrows written: %lld\noutput: %s (%lld bytes)\n",
            j.id, j.endpoint, j.deployment, j.status, j.reason[0] != '\0' ? "reason: " : "",
            j.reason, j.reason[0] != '\0' ? "\n" : "", created, ended, (long long)j.files,
            (long long)j.mini_batches, (long long)(j.mb_done + j.mb_failed), (long long)j.mb_done,
            (long long)j.mb_failed, (long long)j.files_failed, (long long)job->error_threshold,
            job->output_action, (long long)j.rows, job->output_file, (long long)bytes);
        char *path = inf_asprintf("%s/logs/job_progress_overview.txt", job->dir);
        struct inf_err err;
        if (inf_write_file_atomic(path, overview, strlen(overview), 0600, &err) != 0)
            inf_warn("job.overview_not_written", "job=%s error=\"%s\"", t->id, err.msg);
        free(path);
        free(overview);
        store_job_fini(&j);
    }
    free(done);
    store_minibatch_list_free(list, n);
}

static void finalize_after(struct job_task *t)
{
    struct job *job = t->job;
    snprintf(job->status, sizeof(job->status), "%s", t->status);
    inf_info("job.ended", "job=%s status=%s done=%lld failed=%lld", job->id, t->status,
             (long long)job->done, (long long)job->failed);
    job->phase = PH_GONE;
}

/* Ends the job with a terminal status: stops its work and instances and
 * queues the finalize task (join what finished, write the overview, store
 * the status). Idempotent: the first decision wins. */
static void finish_job(struct job *job, const char *status, const char *fmt, ...)
{
    if (job->ending)
        return;
    char reason[ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    job->ending = 1;
    abandon_calls(job);
    release_set(job);
    if (job->holds > 0) { /* slots held for a set that never started */
        job->sch->used -= job->holds;
        job->holds = 0;
    }
    job->phase = PH_FINALIZING;
    /* The decision is stored with the status, so a restart during
     * Finalizing ends the job the same way instead of running it again. */
    char *decided =
        inf_asprintf("%s%s%s%s", ENDING_AS, status, reason[0] != '\0' ? ": " : "", reason);
    set_status(job, JOB_FINALIZING, decided);
    free(decided);
    struct job_task *t = task_new(job, finalize_work, finalize_after);
    snprintf(t->status, sizeof(t->status), "%s", status);
    t->text = inf_strdup(reason);
    if (reason[0] != '\0' && strcmp(status, JOB_COMPLETED) != 0) {
        char when[32];
        inf_utc_iso8601(when, sizeof(when), inf_unix_now());
        t->path = error_log_path(job);
        t->log = inf_asprintf("%s job %s: %s\n", when, status, reason);
    }
    task_submit(t);
    inf_info("job.finishing", "job=%s status=%s reason=\"%s\"", job->id, status, reason);
    pump(job->sch);
}

/* ---- the queue ---- */

/* Starts queued jobs, head first, while capacity allows. */
static void pump(struct scheduler *sch)
{
    if (sch->stopping)
        return;
    for (struct job *job = sch->jobs; job != NULL; job = job->next) {
        if (job->phase != PH_QUEUED)
            continue;
        int need = job->instances > sch->capacity ? sch->capacity : job->instances;
        if (sch->used + need > sch->capacity)
            return; /* FIFO: nobody overtakes the head */
        sch->used += need;
        job->holds = need;
        job->instances = need;
        job->phase = PH_PLANNING;
        snprintf(job->status, sizeof(job->status), "%s", JOB_PREPARING);
        inf_info("job.starting", "job=%s instances=%d", job->id, need);
        task_submit(task_new(job, plan_work, plan_after));
    }
}

static struct job *job_new(struct scheduler *sch, const struct store_job *sj)
{
    struct job *job = inf_calloc(1, sizeof(*job));
    job->sch = sch;
    job->id = inf_strdup(sj->id);
    job->endpoint = inf_strdup(sj->endpoint);
    job->deployment = inf_strdup(sj->deployment);
    job->seq = sj->seq;
    job->spec = json_loads(sj->spec_json, 0, NULL);
    if (job->spec == NULL)
        job->spec = json_object();
    job->dir = scheduler_job_dir(sch->srv, sj->id);
    snprintf(job->status, sizeof(job->status), "%s", JOB_QUEUED);
    load_settings(job);
    struct job **p = &sch->jobs;
    while (*p != NULL && (*p)->seq < job->seq)
        p = &(*p)->next;
    job->next = *p;
    *p = job;
    return job;
}

struct scheduler *scheduler_new(struct server *srv, int capacity)
{
    struct scheduler *sch = inf_calloc(1, sizeof(*sch));
    sch->srv = srv;
    sch->capacity = capacity < 1 ? 1 : capacity;
    upstream_ctx_init(&sch->upstream, srv->h2o_ctx.loop, IO_TIMEOUT_MS);
    return sch;
}

void scheduler_free(struct scheduler *sch)
{
    if (sch == NULL)
        return;
    while (sch->jobs != NULL) {
        struct job *job = sch->jobs;
        sch->jobs = job->next;
        job_free(job);
    }
    upstream_ctx_dispose(&sch->upstream);
    free(sch);
}

int scheduler_capacity(const struct scheduler *sch)
{
    return sch->capacity;
}

int scheduler_restore(struct scheduler *sch, struct inf_err *err)
{
    struct store *st = NULL;
    if (store_open(sch->srv->db_path, &st, err) != 0)
        return err->code;
    struct store_job *jobs = NULL;
    size_t n = 0;
    int rc = store_job_list(st, NULL, 1, &jobs, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct job *job = job_new(sch, &jobs[i]);
        const char *reason = jobs[i].reason;
        int decided = strcmp(jobs[i].status, JOB_FINALIZING) == 0 &&
                      strncmp(reason, ENDING_AS, strlen(ENDING_AS)) == 0;
        const char *s = decided ? reason + strlen(ENDING_AS) : "";
        size_t len = strcspn(s, ":");
        char status[16];
        snprintf(status, sizeof(status), "%.*s", (int)(len < 15 ? len : 15), s);
        if (decided && (strcmp(status, JOB_COMPLETED) == 0 || strcmp(status, JOB_FAILED) == 0 ||
                        strcmp(status, JOB_CANCELED) == 0)) {
            /* It had ended; only its output and overview may be missing. */
            const char *why = s[len] == ':' && s[len + 1] == ' ' ? s + len + 2 : "";
            inf_info("job.resumed", "job=%s status=%s ending=%s", job->id, jobs[i].status, status);
            finish_job(job, status, "%s", why);
            continue;
        }
        if (strcmp(jobs[i].status, JOB_FINALIZING) == 0 ||
            strcmp(jobs[i].status, JOB_RUNNING) == 0 || strcmp(jobs[i].status, JOB_PREPARING) == 0)
            inf_info("job.resumed", "job=%s status=%s finished=%lld of %lld", job->id,
                     jobs[i].status, (long long)(jobs[i].mb_done + jobs[i].mb_failed),
                     (long long)jobs[i].mini_batches);
        if (strcmp(jobs[i].status, JOB_QUEUED) != 0 &&
            store_job_set_status(st, job->id, JOB_QUEUED, "", err) != 0)
            inf_error("job.status_not_saved", "job=%s error=\"%s\"", job->id, err->msg);
    }
    store_job_list_free(jobs, n);
    store_close(st);
    pump(sch);
    return rc;
}

void scheduler_submit(struct scheduler *sch, const struct store_job *sj)
{
    job_new(sch, sj);
    pump(sch);
}

static struct job *find_job(const struct scheduler *sch, const char *id)
{
    for (struct job *job = sch->jobs; job != NULL; job = job->next)
        if (strcmp(job->id, id) == 0)
            return job;
    return NULL;
}

int scheduler_cancel(struct scheduler *sch, const char *id, struct inf_err *err)
{
    struct job *job = find_job(sch, id);
    if (job == NULL || job->ending)
        return inf_err_set(err, INF_ENOTFOUND, "job '%s' is not running or queued", id);
    finish_job(job, JOB_CANCELED, "canceled by a user request");
    return 0;
}

const char *scheduler_active_job(const struct scheduler *sch, const char *endpoint,
                                 const char *deployment)
{
    for (struct job *job = sch->jobs; job != NULL; job = job->next) {
        if (job->phase == PH_GONE || strcmp(job->endpoint, endpoint) != 0)
            continue;
        if (deployment == NULL || strcmp(job->deployment, deployment) == 0)
            return job->id;
    }
    return NULL;
}

void scheduler_annotate(const struct scheduler *sch, json_t *view)
{
    const char *id = json_string_value(json_object_get(view, "name"));
    struct job *job = id != NULL ? find_job(sch, id) : NULL;
    if (job == NULL || job->phase == PH_GONE)
        return;
    json_object_set_new(view, "status", json_string(job->status));
    int position = 0;
    if (job->phase == PH_QUEUED)
        for (struct job *j = sch->jobs; j != NULL && j != job->next; j = j->next)
            position += j->phase == PH_QUEUED;
    json_object_set_new(view, "queue_position", json_integer(position));
    json_t *progress = json_object_get(view, "progress");
    if (!json_is_object(progress) || job->nmb == 0)
        return;
    json_int_t pending = 0;
    for (size_t i = 0; i < job->nmb; i++)
        pending += job->mbs[i].state == MB_PENDING;
    json_object_set_new(progress, "running", json_integer(job->in_flight));
    json_object_set_new(progress, "pending", json_integer(pending));
    json_object_set_new(progress, "done", json_integer(job->done));
    json_object_set_new(progress, "failed", json_integer(job->failed));
    json_object_set_new(progress, "files_failed", json_integer(job->files_failed));
    json_object_set_new(progress, "rows", json_integer(job->rows));
}

void scheduler_tick(struct scheduler *sch, uint64_t now_ms)
{
    if (sch->stopping)
        return;
    for (struct job *job = sch->jobs; job != NULL; job = job->next) {
        if (job->phase != PH_RUNNING)
            continue;
        for (struct call *call = job->calls; call != NULL; call = call->next) {
            if (now_ms < call->deadline_ms || call->up == NULL)
                continue;
            /* No answer even after the instance's own timeout: kill it. */
            upstream_cancel(call->up);
            call->up = NULL;
            instance_kill(call->inst, "mini-batch past its timeout");
            struct upstream_result res = {.status = 0, .error = "no answer within the timeout"};
            on_reply(&res, call);
            break; /* the call list changed: the next tick sees the rest */
        }
        if (job->phase != PH_RUNNING)
            continue;
        int total = 0, ready = 0;
        if (job->set != NULL)
            instance_set_counts(job->set, &total, &ready);
        if (ready > 0) {
            job->unavailable_since_ms = 0;
        } else if (job->unavailable_since_ms == 0) {
            job->unavailable_since_ms = now_ms;
        } else if (now_ms - job->unavailable_since_ms > NO_INSTANCE_MS) {
            finish_job(job, JOB_FAILED,
                       "no instance was ready for %d s; see logs/user/instance-*.log",
                       NO_INSTANCE_MS / 1000);
            continue;
        }
        dispatch(job);
    }
    pump(sch);
}

void scheduler_stop(struct scheduler *sch)
{
    sch->stopping = 1;
    for (struct job *job = sch->jobs; job != NULL; job = job->next) {
        abandon_calls(job);
        release_set(job);
    }
}

int scheduler_idle(const struct scheduler *sch)
{
    return sch->tasks == 0 && sch->sets == 0;
}
