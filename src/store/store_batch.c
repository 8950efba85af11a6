/*
 * store_batch: batch endpoints, batch deployments, jobs and the jobs'
 * ledgers of mini-batches, in the store's SQLite database (schema 3).
 *
 * Runs on the thread that owns the struct store (see store.h) and follows
 * store.c's rules: every statement is prepared, bound, run and finalized
 * within one call, values are only ever bound as parameters, and writes
 * that read before they write run in BEGIN IMMEDIATE transactions. A job's
 * ledger sums come from SQL aggregates in the query that reads the job,
 * never from loading its mini-batches.
 *
 * Job timestamps keep two invariants, on create as on every status change:
 * started_at is set once, the first time the status is past Queued, and
 * ended_at is set exactly while the status is terminal.
 */
#include "store/store_batch.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/util.h"
#include "store/store_int.h"

/* ---- helpers (as in store.c) -------------------------------------------- */

/* Prepares sql, binds a and b as ?1 and ?2 (as many as it has) and steps
 * it once: SQLITE_ROW if it yields a row, SQLITE_DONE if it yields none (a
 * write has then run and sqlite3_changes() counts its rows), else an
 * error. */
static int run(struct store *st, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *stmt = NULL;
    int rc = store_prepare(st, sql, &stmt);
    int params = rc == SQLITE_OK ? sqlite3_bind_parameter_count(stmt) : 0;
    if (rc == SQLITE_OK && params >= 1)
        rc = store_bind_text(stmt, 1, a);
    if (rc == SQLITE_OK && params >= 2)
        rc = store_bind_text(stmt, 2, b);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc;
}

static int endpoint_not_found(const char *name, struct inf_err *err)
{
    return inf_err_set(err, INF_ENOTFOUND, "batch endpoint '%s' not found", name);
}

static int deployment_not_found(const char *endpoint, const char *name, struct inf_err *err)
{
    return inf_err_set(err, INF_ENOTFOUND, "deployment '%s' of batch endpoint '%s' not found", name,
                       endpoint);
}

static int job_not_found(const char *id, struct inf_err *err)
{
    return inf_err_set(err, INF_ENOTFOUND, "job '%s' not found", id);
}

/* ---- batch endpoints ---------------------------------------------------- */

#define ENDPOINT_COLUMNS "name, spec, created_at, updated_at"

static void endpoint_from_row(sqlite3_stmt *stmt, void *dst)
{
    struct store_batch_endpoint *e = dst;
    e->name = store_column_dup(stmt, 0);
    e->spec_json = store_column_dup(stmt, 1);
    e->created_at = sqlite3_column_int64(stmt, 2);
    e->updated_at = sqlite3_column_int64(stmt, 3);
}

int store_batch_endpoint_put(struct store *st, const char *name, const char *spec_json,
                             struct inf_err *err)
{
    static const char sql[] =
        "INSERT INTO batch_endpoints (" ENDPOINT_COLUMNS ") VALUES (?1, ?2, ?3, ?3) "
        "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(name, "batch endpoint name", err)) != 0 ||
        (rc = store_require(spec_json, "batch endpoint spec", err)) != 0)
        return rc;
    /* An upsert, not INSERT OR REPLACE: a replace deletes the row first,
     * which would cascade to the endpoint's deployments. */
    if (store_prepare(st, sql, &stmt) != SQLITE_OK || store_bind_text(stmt, 1, name) != SQLITE_OK ||
        store_bind_text(stmt, 2, spec_json) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 3, inf_unix_now()) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "put batch endpoint '%s'", name);
    sqlite3_finalize(stmt);
    return rc;
}

int store_batch_endpoint_get(struct store *st, const char *name, struct store_batch_endpoint *out,
                             struct inf_err *err)
{
    static const char sql[] = "SELECT " ENDPOINT_COLUMNS " FROM batch_endpoints WHERE name = ?1";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if (out == NULL)
        return inf_err_set(err, INF_EINVAL, "store: get batch endpoint: no result pointer given");
    memset(out, 0, sizeof(*out));
    if ((rc = store_require(name, "batch endpoint name", err)) != 0)
        return rc;
    int step = SQLITE_ERROR;
    if (store_prepare(st, sql, &stmt) == SQLITE_OK && store_bind_text(stmt, 1, name) == SQLITE_OK)
        step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        endpoint_from_row(stmt, out);
    else if (step == SQLITE_DONE)
        rc = endpoint_not_found(name, err);
    else
        rc = store_fail(st->db, err, "get batch endpoint '%s'", name);
    sqlite3_finalize(stmt);
    return rc;
}

int store_batch_endpoint_list(struct store *st, struct store_batch_endpoint **out, size_t *n,
                              struct inf_err *err)
{
    static const char sql[] = "SELECT " ENDPOINT_COLUMNS " FROM batch_endpoints ORDER BY name";
    sqlite3_stmt *stmt = NULL;
    void *items = NULL;
    size_t count = 0;
    int rc = 0;
    if (out == NULL || n == NULL)
        return inf_err_set(err, INF_EINVAL, "store: list batch endpoints: no result pointer given");
    *out = NULL;
    *n = 0;
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        store_collect(stmt, sizeof(**out), endpoint_from_row, &items, &count) != SQLITE_OK) {
        rc = store_fail(st->db, err, "list batch endpoints");
        store_batch_endpoint_list_free(items, count);
    } else {
        *out = items;
        *n = count;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_batch_endpoint_delete(struct store *st, const char *name, struct inf_err *err)
{
    int rc;
    if ((rc = store_require(name, "batch endpoint name", err)) != 0)
        return rc;
    if (store_begin(st) != SQLITE_OK)
        return store_fail(st->db, err, "delete batch endpoint '%s': begin", name);
    /* The deployments go by ON DELETE CASCADE. Jobs name their endpoint by
     * value, so they are deleted here; their ledgers go by cascade. */
    if (run(st, "DELETE FROM batch_endpoints WHERE name = ?1", name, NULL) != SQLITE_DONE) {
        rc = store_fail(st->db, err, "delete batch endpoint '%s'", name);
        goto fail;
    }
    if (sqlite3_changes(st->db) == 0) {
        rc = endpoint_not_found(name, err);
        goto fail;
    }
    if (run(st, "DELETE FROM jobs WHERE endpoint = ?1", name, NULL) != SQLITE_DONE) {
        rc = store_fail(st->db, err, "delete jobs of batch endpoint '%s'", name);
        goto fail;
    }
    if (store_commit(st) != SQLITE_OK) {
        rc = store_fail(st->db, err, "delete batch endpoint '%s': commit", name);
        goto fail;
    }
    return 0;

fail:
    store_rollback(st->db);
    return rc;
}

void store_batch_endpoint_fini(struct store_batch_endpoint *e)
{
    if (e == NULL)
        return;
    free(e->name);
    free(e->spec_json);
    memset(e, 0, sizeof(*e));
}

void store_batch_endpoint_list_free(struct store_batch_endpoint *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        store_batch_endpoint_fini(&list[i]);
    free(list);
}

/* ---- batch deployments -------------------------------------------------- */

#define DEPLOYMENT_COLUMNS "endpoint, name, spec, created_at, updated_at"

static void deployment_from_row(sqlite3_stmt *stmt, void *dst)
{
    struct store_batch_deployment *d = dst;
    d->endpoint = store_column_dup(stmt, 0);
    d->name = store_column_dup(stmt, 1);
    d->spec_json = store_column_dup(stmt, 2);
    d->created_at = sqlite3_column_int64(stmt, 3);
    d->updated_at = sqlite3_column_int64(stmt, 4);
}

int store_batch_deployment_put(struct store *st, const char *endpoint, const char *name,
                               const char *spec_json, struct inf_err *err)
{
    static const char sql[] =
        "INSERT INTO batch_deployments (" DEPLOYMENT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?4) "
        "ON CONFLICT (endpoint, name) DO UPDATE SET spec = excluded.spec, "
        "updated_at = excluded.updated_at";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(endpoint, "batch endpoint name", err)) != 0 ||
        (rc = store_require(name, "batch deployment name", err)) != 0 ||
        (rc = store_require(spec_json, "batch deployment spec", err)) != 0)
        return rc;
    /* Checked first, in the same transaction, so a missing endpoint is
     * named rather than reported as a foreign key failure. */
    if (store_begin(st) != SQLITE_OK)
        return store_fail(st->db, err, "put batch deployment '%s/%s': begin", endpoint, name);
    int found = run(st, "SELECT 1 FROM batch_endpoints WHERE name = ?1", endpoint, NULL);
    if (found == SQLITE_DONE) {
        rc = endpoint_not_found(endpoint, err);
        goto fail;
    }
    if (found != SQLITE_ROW || (store_prepare(st, sql, &stmt) != SQLITE_OK ||
                                store_bind_text(stmt, 1, endpoint) != SQLITE_OK ||
                                store_bind_text(stmt, 2, name) != SQLITE_OK ||
                                store_bind_text(stmt, 3, spec_json) != SQLITE_OK ||
                                sqlite3_bind_int64(stmt, 4, inf_unix_now()) != SQLITE_OK ||
                                sqlite3_step(stmt) != SQLITE_DONE)) {
        rc = store_fail(st->db, err, "put batch deployment '%s/%s'", endpoint, name);
        goto fail;
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (store_commit(st) != SQLITE_OK) {
        rc = store_fail(st->db, err, "put batch deployment '%s/%s': commit", endpoint, name);
        goto fail;
    }
    return 0;

fail:
    sqlite3_finalize(stmt);
    store_rollback(st->db);
    return rc;
}

int store_batch_deployment_get(struct store *st, const char *endpoint, const char *name,
                               struct store_batch_deployment *out, struct inf_err *err)
{
    static const char sql[] = "SELECT " DEPLOYMENT_COLUMNS " FROM batch_deployments "
                              "WHERE endpoint = ?1 AND name = ?2";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if (out == NULL)
        return inf_err_set(err, INF_EINVAL, "store: get batch deployment: no result pointer given");
    memset(out, 0, sizeof(*out));
    if ((rc = store_require(endpoint, "batch endpoint name", err)) != 0 ||
        (rc = store_require(name, "batch deployment name", err)) != 0)
        return rc;
    int step = SQLITE_ERROR;
    if (store_prepare(st, sql, &stmt) == SQLITE_OK &&
        store_bind_text(stmt, 1, endpoint) == SQLITE_OK &&
        store_bind_text(stmt, 2, name) == SQLITE_OK)
        step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        deployment_from_row(stmt, out);
    else if (step == SQLITE_DONE)
        rc = deployment_not_found(endpoint, name, err);
    else
        rc = store_fail(st->db, err, "get batch deployment '%s/%s'", endpoint, name);
    sqlite3_finalize(stmt);
    return rc;
}

int store_batch_deployment_list(struct store *st, const char *endpoint,
                                struct store_batch_deployment **out, size_t *n, struct inf_err *err)
{
    static const char sql[] = "SELECT " DEPLOYMENT_COLUMNS " FROM batch_deployments "
                              "WHERE endpoint = ?1 ORDER BY name";
    sqlite3_stmt *stmt = NULL;
    void *items = NULL;
    size_t count = 0;
    int rc = 0;
    if (out == NULL || n == NULL)
        return inf_err_set(err, INF_EINVAL,
                           "store: list batch deployments: no result pointer given");
    *out = NULL;
    *n = 0;
    if ((rc = store_require(endpoint, "batch endpoint name", err)) != 0)
        return rc;
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        store_bind_text(stmt, 1, endpoint) != SQLITE_OK ||
        store_collect(stmt, sizeof(**out), deployment_from_row, &items, &count) != SQLITE_OK) {
        rc = store_fail(st->db, err, "list deployments of batch endpoint '%s'", endpoint);
        store_batch_deployment_list_free(items, count);
    } else {
        *out = items;
        *n = count;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_batch_deployment_delete(struct store *st, const char *endpoint, const char *name,
                                  struct inf_err *err)
{
    static const char sql[] = "DELETE FROM batch_deployments WHERE endpoint = ?1 AND name = ?2";
    int rc;
    if ((rc = store_require(endpoint, "batch endpoint name", err)) != 0 ||
        (rc = store_require(name, "batch deployment name", err)) != 0)
        return rc;
    if (run(st, sql, endpoint, name) != SQLITE_DONE)
        return store_fail(st->db, err, "delete batch deployment '%s/%s'", endpoint, name);
    if (sqlite3_changes(st->db) == 0)
        return deployment_not_found(endpoint, name, err);
    return 0;
}

void store_batch_deployment_fini(struct store_batch_deployment *d)
{
    if (d == NULL)
        return;
    free(d->endpoint);
    free(d->name);
    free(d->spec_json);
    memset(d, 0, sizeof(*d));
}

void store_batch_deployment_list_free(struct store_batch_deployment *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        store_batch_deployment_fini(&list[i]);
    free(list);
}

/* ---- jobs --------------------------------------------------------------- */

/* SQL fragments built from our own status constants, never from input. */
#define UNSTARTED_STATUSES "('" JOB_NOT_STARTED "', '" JOB_QUEUED "')"
#define TERMINAL_STATUSES "('" JOB_COMPLETED "', '" JOB_FAILED "', '" JOB_CANCELED "')"
/* The same expression as the jobs_active index (migrate.c), so the planner
 * uses it. */
#define JOB_ACTIVE "j.status NOT IN " TERMINAL_STATUSES

/* Each job with its ledger sums, one row per job: without mini-batches the
 * LEFT JOIN gives one all-NULL match, which count() skips and sum() turns
 * into NULL. */
#define JOB_QUERY(where)                                                                           \
    "SELECT j.seq, j.id, j.endpoint, j.deployment, j.spec, j.status, j.reason, j.created_at, "     \
    "j.started_at, j.ended_at, count(m.idx), coalesce(sum(m.nfiles), 0), "                         \
    "coalesce(sum(CASE WHEN m.status = '" MINIBATCH_DONE "' THEN 1 END), 0), "                     \
    "coalesce(sum(CASE WHEN m.status = '" MINIBATCH_FAILED "' THEN 1 END), 0), "                   \
    "coalesce(sum(CASE WHEN m.status <> '" MINIBATCH_PENDING "' THEN m.failed END), 0), "          \
    "coalesce(sum(CASE WHEN m.status = '" MINIBATCH_DONE "' THEN m.rows END), 0) "                 \
    "FROM jobs j LEFT JOIN job_minibatches m ON m.job = j.seq " where                              \
    " GROUP BY j.seq ORDER BY j.seq"

static void job_from_row(sqlite3_stmt *stmt, void *dst)
{
    struct store_job *j = dst;
    j->seq = sqlite3_column_int64(stmt, 0);
    j->id = store_column_dup(stmt, 1);
    j->endpoint = store_column_dup(stmt, 2);
    j->deployment = store_column_dup(stmt, 3);
    j->spec_json = store_column_dup(stmt, 4);
    j->status = store_column_dup(stmt, 5);
    j->reason = store_column_dup(stmt, 6);
    j->created_at = sqlite3_column_int64(stmt, 7);
    j->started_at = sqlite3_column_int64(stmt, 8);
    j->ended_at = sqlite3_column_int64(stmt, 9);
    j->mini_batches = sqlite3_column_int64(stmt, 10);
    j->files = sqlite3_column_int64(stmt, 11);
    j->mb_done = sqlite3_column_int64(stmt, 12);
    j->mb_failed = sqlite3_column_int64(stmt, 13);
    j->files_failed = sqlite3_column_int64(stmt, 14);
    j->rows = sqlite3_column_int64(stmt, 15);
}

/* INF_EINVAL unless status is one of the JOB_* statuses. */
static int check_job_status(const char *id, const char *status, struct inf_err *err)
{
    static const char *const known[] = {
        JOB_NOT_STARTED, JOB_QUEUED,    JOB_PREPARING, JOB_RUNNING,
        JOB_FINALIZING,  JOB_COMPLETED, JOB_FAILED,    JOB_CANCELED,
    };
    for (size_t i = 0; status != NULL && i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(status, known[i]) == 0)
            return 0;
    return inf_err_set(err, INF_EINVAL, "store: job '%s': unknown status '%s'", id,
                       status != NULL ? status : "");
}

/* SQLITE_ROW with *seq set if job id exists, SQLITE_DONE if not, else an
 * error. */
static int job_seq(struct store *st, const char *id, int64_t *seq)
{
    sqlite3_stmt *stmt = NULL;
    int rc = store_prepare(st, "SELECT seq FROM jobs WHERE id = ?1", &stmt);
    if (rc == SQLITE_OK)
        rc = store_bind_text(stmt, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc;
}

int store_job_create(struct store *st, const char *id, const char *endpoint, const char *deployment,
                     const char *spec_json, const char *status, int64_t *seq_out,
                     struct inf_err *err)
{
    static const char sql[] =
        "INSERT INTO jobs (id, endpoint, deployment, spec, status, created_at, started_at, "
        "ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "CASE WHEN ?5 NOT IN " UNSTARTED_STATUSES " THEN ?6 ELSE 0 END, "
        "CASE WHEN ?5 IN " TERMINAL_STATUSES " THEN ?6 ELSE 0 END) "
        "ON CONFLICT (id) DO NOTHING RETURNING seq";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(id, "job id", err)) != 0 ||
        (rc = store_require(endpoint, "batch endpoint name", err)) != 0 ||
        (rc = store_require(deployment, "batch deployment name", err)) != 0 ||
        (rc = store_require(spec_json, "job spec", err)) != 0 ||
        (rc = check_job_status(id, status, err)) != 0)
        return rc;
    int step = SQLITE_ERROR;
    if (store_prepare(st, sql, &stmt) == SQLITE_OK && store_bind_text(stmt, 1, id) == SQLITE_OK &&
        store_bind_text(stmt, 2, endpoint) == SQLITE_OK &&
        store_bind_text(stmt, 3, deployment) == SQLITE_OK &&
        store_bind_text(stmt, 4, spec_json) == SQLITE_OK &&
        store_bind_text(stmt, 5, status) == SQLITE_OK &&
        sqlite3_bind_int64(stmt, 6, inf_unix_now()) == SQLITE_OK)
        step = sqlite3_step(stmt);
    /* DO NOTHING returns no row: the id was taken. */
    if (step == SQLITE_DONE) {
        rc = inf_err_set(err, INF_ECONFLICT, "job '%s' already exists", id);
    } else if (step != SQLITE_ROW) {
        rc = store_fail(st->db, err, "create job '%s'", id);
    } else {
        int64_t seq = sqlite3_column_int64(stmt, 0);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            rc = store_fail(st->db, err, "create job '%s'", id);
        else if (seq_out != NULL)
            *seq_out = seq;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_job_get(struct store *st, const char *id, struct store_job *out, struct inf_err *err)
{
    static const char sql[] = JOB_QUERY("WHERE j.id = ?1");
    sqlite3_stmt *stmt = NULL;
    int rc;
    if (out == NULL)
        return inf_err_set(err, INF_EINVAL, "store: get job: no result pointer given");
    memset(out, 0, sizeof(*out));
    if ((rc = store_require(id, "job id", err)) != 0)
        return rc;
    int step = SQLITE_ERROR;
    if (store_prepare(st, sql, &stmt) == SQLITE_OK && store_bind_text(stmt, 1, id) == SQLITE_OK)
        step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        job_from_row(stmt, out);
    else if (step == SQLITE_DONE)
        rc = job_not_found(id, err);
    else
        rc = store_fail(st->db, err, "get job '%s'", id);
    sqlite3_finalize(stmt);
    return rc;
}

int store_job_list(struct store *st, const char *endpoint, int active_only, struct store_job **out,
                   size_t *n, struct inf_err *err)
{
    /* One constant query per filter, rather than "?1 IS NULL OR ...", so
     * each can use its index (jobs_by_endpoint, jobs_active). */
    static const char *const queries[2][2] = {
        {JOB_QUERY(""), JOB_QUERY("WHERE " JOB_ACTIVE)},
        {JOB_QUERY("WHERE j.endpoint = ?1"), JOB_QUERY("WHERE j.endpoint = ?1 AND " JOB_ACTIVE)},
    };
    sqlite3_stmt *stmt = NULL;
    void *items = NULL;
    size_t count = 0;
    int rc = 0;
    if (out == NULL || n == NULL)
        return inf_err_set(err, INF_EINVAL, "store: list jobs: no result pointer given");
    *out = NULL;
    *n = 0;
    if (endpoint != NULL && (rc = store_require(endpoint, "batch endpoint name", err)) != 0)
        return rc;
    const char *sql = queries[endpoint != NULL][active_only != 0];
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        (endpoint != NULL && store_bind_text(stmt, 1, endpoint) != SQLITE_OK) ||
        store_collect(stmt, sizeof(**out), job_from_row, &items, &count) != SQLITE_OK) {
        if (endpoint != NULL)
            rc = store_fail(st->db, err, "list jobs of batch endpoint '%s'", endpoint);
        else
            rc = store_fail(st->db, err, "list jobs");
        store_job_list_free(items, count);
    } else {
        *out = items;
        *n = count;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_job_set_status(struct store *st, const char *id, const char *status, const char *reason,
                         struct inf_err *err)
{
    /* started_at is stamped once; ended_at follows the status, keeping the
     * first stamp while it stays terminal. */
    static const char sql[] =
        "UPDATE jobs SET status = ?2, reason = ?3, "
        "started_at = CASE WHEN started_at = 0 AND ?2 NOT IN " UNSTARTED_STATUSES
        " THEN ?4 ELSE started_at END, "
        "ended_at = CASE WHEN ?2 NOT IN " TERMINAL_STATUSES " THEN 0 "
        "WHEN ended_at = 0 THEN ?4 ELSE ended_at END "
        "WHERE id = ?1";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(id, "job id", err)) != 0 ||
        (rc = check_job_status(id, status, err)) != 0)
        return rc;
    if (store_prepare(st, sql, &stmt) != SQLITE_OK || store_bind_text(stmt, 1, id) != SQLITE_OK ||
        store_bind_text(stmt, 2, status) != SQLITE_OK ||
        store_bind_text(stmt, 3, reason != NULL ? reason : "") != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 4, inf_unix_now()) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "set status of job '%s'", id);
    else if (sqlite3_changes(st->db) == 0)
        rc = job_not_found(id, err);
    sqlite3_finalize(stmt);
    return rc;
}

int store_job_delete(struct store *st, const char *id, struct inf_err *err)
{
    int rc;
    if ((rc = store_require(id, "job id", err)) != 0)
        return rc;
    /* The ledger goes with it: ON DELETE CASCADE. */
    if (run(st, "DELETE FROM jobs WHERE id = ?1", id, NULL) != SQLITE_DONE)
        return store_fail(st->db, err, "delete job '%s'", id);
    if (sqlite3_changes(st->db) == 0)
        return job_not_found(id, err);
    return 0;
}

void store_job_fini(struct store_job *j)
{
    if (j == NULL)
        return;
    free(j->id);
    free(j->endpoint);
    free(j->deployment);
    free(j->spec_json);
    free(j->status);
    free(j->reason);
    memset(j, 0, sizeof(*j));
}

void store_job_list_free(struct store_job *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        store_job_fini(&list[i]);
    free(list);
}

/* ---- the ledger --------------------------------------------------------- */

#define MINIBATCH_COLUMNS                                                                          \
    "idx, files, nfiles, status, attempts, rows, succeeded, failed, error, bytes, segment, "       \
    "seg_offset"

static void minibatch_from_row(sqlite3_stmt *stmt, void *dst)
{
    struct store_minibatch *m = dst;
    m->idx = sqlite3_column_int64(stmt, 0);
    m->files_json = store_column_dup(stmt, 1);
    m->nfiles = sqlite3_column_int64(stmt, 2);
    m->status = store_column_dup(stmt, 3);
    m->attempts = sqlite3_column_int(stmt, 4);
    m->rows = sqlite3_column_int64(stmt, 5);
    m->succeeded = sqlite3_column_int64(stmt, 6);
    m->failed = sqlite3_column_int64(stmt, 7);
    m->error = store_column_dup(stmt, 8);
    m->bytes = sqlite3_column_int64(stmt, 9);
    m->segment = store_column_dup(stmt, 10);
    m->offset = sqlite3_column_int64(stmt, 11);
}

/* INF_EINVAL unless every mini-batch has a files list and a count. */
static int check_plan(const char *id, const char *const *files_json, const int64_t *nfiles,
                      size_t n, struct inf_err *err)
{
    if (n == 0)
        return inf_err_set(err, INF_EINVAL, "store: plan job '%s': no mini-batches", id);
    if (files_json == NULL || nfiles == NULL)
        return inf_err_set(err, INF_EINVAL, "store: plan job '%s': no files given", id);
    for (size_t i = 0; i < n; i++) {
        if (files_json[i] == NULL || files_json[i][0] == '\0')
            return inf_err_set(err, INF_EINVAL,
                               "store: plan job '%s': mini-batch %zu has no files list", id, i);
        if (nfiles[i] < 0)
            return inf_err_set(err, INF_EINVAL,
                               "store: plan job '%s': mini-batch %zu has negative file count "
                               "%lld",
                               id, i, (long long)nfiles[i]);
    }
    return 0;
}

/* SQLITE_ROW with *count set to the number of mini-batches of the job with
 * this seq, else an error. */
static int ledger_size(struct store *st, int64_t seq, int64_t *count)
{
    sqlite3_stmt *stmt = NULL;
    int rc = store_prepare(st, "SELECT count(*) FROM job_minibatches WHERE job = ?1", &stmt);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 1, seq);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *count = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc;
}

int store_job_plan(struct store *st, const char *id, const char *const *files_json,
                   const int64_t *nfiles, size_t n, struct inf_err *err)
{
    static const char sql[] =
        "INSERT INTO job_minibatches (job, idx, files, nfiles) VALUES (?1, ?2, ?3, ?4)";
    sqlite3_stmt *stmt = NULL;
    int64_t seq = 0;
    int64_t planned = 0;
    int rc;
    if ((rc = store_require(id, "job id", err)) != 0 ||
        (rc = check_plan(id, files_json, nfiles, n, err)) != 0)
        return rc;
    if (store_begin(st) != SQLITE_OK)
        return store_fail(st->db, err, "plan job '%s': begin", id);
    int found = job_seq(st, id, &seq);
    if (found == SQLITE_DONE) {
        rc = job_not_found(id, err);
        goto fail;
    }
    if (found != SQLITE_ROW || ledger_size(st, seq, &planned) != SQLITE_ROW) {
        rc = store_fail(st->db, err, "plan job '%s'", id);
        goto fail;
    }
    if (planned != 0) {
        rc = inf_err_set(err, INF_ECONFLICT, "job '%s' is already planned (%lld mini-batches)", id,
                         (long long)planned);
        goto fail;
    }
    /* One statement for all rows: bindings survive sqlite3_reset(). */
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 1, seq) != SQLITE_OK) {
        rc = store_fail(st->db, err, "plan job '%s'", id);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (sqlite3_bind_int64(stmt, 2, (int64_t)i) != SQLITE_OK ||
            store_bind_text(stmt, 3, files_json[i]) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 4, nfiles[i]) != SQLITE_OK ||
            sqlite3_step(stmt) != SQLITE_DONE) {
            rc = store_fail(st->db, err, "plan job '%s': mini-batch %zu", id, i);
            goto fail;
        }
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (store_commit(st) != SQLITE_OK) {
        rc = store_fail(st->db, err, "plan job '%s': commit", id);
        goto fail;
    }
    return 0;

fail:
    sqlite3_finalize(stmt);
    store_rollback(st->db);
    return rc;
}

int store_job_minibatches(struct store *st, const char *id, struct store_minibatch **out, size_t *n,
                          struct inf_err *err)
{
    static const char sql[] =
        "SELECT " MINIBATCH_COLUMNS " FROM job_minibatches WHERE job = ?1 ORDER BY idx";
    sqlite3_stmt *stmt = NULL;
    void *items = NULL;
    size_t count = 0;
    int64_t seq = 0;
    int rc = 0;
    if (out == NULL || n == NULL)
        return inf_err_set(err, INF_EINVAL, "store: list mini-batches: no result pointer given");
    *out = NULL;
    *n = 0;
    if ((rc = store_require(id, "job id", err)) != 0)
        return rc;
    /* A job deleted between the two statements reads as an empty ledger. */
    int found = job_seq(st, id, &seq);
    if (found == SQLITE_DONE)
        return job_not_found(id, err);
    if (found != SQLITE_ROW || store_prepare(st, sql, &stmt) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 1, seq) != SQLITE_OK ||
        store_collect(stmt, sizeof(**out), minibatch_from_row, &items, &count) != SQLITE_OK) {
        rc = store_fail(st->db, err, "list mini-batches of job '%s'", id);
        store_minibatch_list_free(items, count);
    } else {
        *out = items;
        *n = count;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Explains, inside the transaction of an update of a pending mini-batch
 * that matched no row, why: the job or the mini-batch does not exist
 * (INF_ENOTFOUND) or it is no longer pending (INF_ECONFLICT). what names
 * the operation for SQLite errors. */
static int minibatch_miss(struct store *st, const char *what, const char *id, int64_t idx,
                          struct inf_err *err)
{
    static const char sql[] = "SELECT m.status FROM jobs j LEFT JOIN job_minibatches m "
                              "ON m.job = j.seq AND m.idx = ?2 WHERE j.id = ?1";
    sqlite3_stmt *stmt = NULL;
    int rc;
    int step = SQLITE_ERROR;
    if (store_prepare(st, sql, &stmt) == SQLITE_OK && store_bind_text(stmt, 1, id) == SQLITE_OK &&
        sqlite3_bind_int64(stmt, 2, idx) == SQLITE_OK)
        step = sqlite3_step(stmt);
    if (step == SQLITE_DONE)
        rc = job_not_found(id, err);
    else if (step != SQLITE_ROW)
        rc = store_fail(st->db, err, "%s mini-batch %lld of job '%s'", what, (long long)idx, id);
    else if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
        rc = inf_err_set(err, INF_ENOTFOUND, "mini-batch %lld of job '%s' not found",
                         (long long)idx, id);
    else
        rc = inf_err_set(err, INF_ECONFLICT, "mini-batch %lld of job '%s' is already %s",
                         (long long)idx, id, (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return rc;
}

/* Runs stmt, an UPDATE of mini-batch idx of job id that matches only a
 * pending one, in its own transaction; on no match, says why. bound tells
 * whether preparing and binding stmt succeeded (the SQLite error is still
 * pending if not). Finalizes stmt. */
static int update_pending(struct store *st, sqlite3_stmt *stmt, int bound, const char *what,
                          const char *id, int64_t idx, struct inf_err *err)
{
    int rc = 0;
    if (!bound) {
        rc = store_fail(st->db, err, "%s mini-batch %lld of job '%s'", what, (long long)idx, id);
        sqlite3_finalize(stmt);
        return rc;
    }
    /* One transaction, so a miss is diagnosed against the state it missed. */
    if (store_begin(st) != SQLITE_OK) {
        rc = store_fail(st->db, err, "%s mini-batch %lld of job '%s': begin", what, (long long)idx,
                        id);
        sqlite3_finalize(stmt);
        return rc;
    }
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = store_fail(st->db, err, "%s mini-batch %lld of job '%s'", what, (long long)idx, id);
        goto fail;
    }
    if (sqlite3_changes(st->db) == 0) {
        rc = minibatch_miss(st, what, id, idx, err);
        goto fail;
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (store_commit(st) != SQLITE_OK) {
        rc = store_fail(st->db, err, "%s mini-batch %lld of job '%s': commit", what, (long long)idx,
                        id);
        goto fail;
    }
    return 0;

fail:
    sqlite3_finalize(stmt);
    store_rollback(st->db);
    return rc;
}

/* INF_EINVAL naming the first negative one of the index and counts given
 * for mini-batch idx of job id. */
static int check_counts(const char *what, const char *id, int64_t idx, int attempts, int64_t rows,
                        int64_t succeeded, int64_t failed, struct inf_err *err)
{
    const struct {
        const char *name;
        int64_t value;
    } counts[] = {
        {"index", idx},           {"attempts", attempts}, {"rows", rows},
        {"succeeded", succeeded}, {"failed", failed},
    };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (counts[i].value < 0)
            return inf_err_set(err, INF_EINVAL,
                               "store: %s mini-batch %lld of job '%s': negative %s %lld", what,
                               (long long)idx, id, counts[i].name, (long long)counts[i].value);
    return 0;
}

#define PENDING_MINIBATCH                                                                          \
    "WHERE job = (SELECT seq FROM jobs WHERE id = ?1) AND idx = ?2 "                               \
    "AND status = '" MINIBATCH_PENDING "'"

int store_job_minibatch_retry(struct store *st, const char *id, int64_t idx, int attempts,
                              const char *error, struct inf_err *err)
{
    static const char sql[] =
        "UPDATE job_minibatches SET attempts = ?3, error = ?4 " PENDING_MINIBATCH;
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(id, "job id", err)) != 0 ||
        (rc = check_counts("retry", id, idx, attempts, 0, 0, 0, err)) != 0)
        return rc;
    int bound = store_prepare(st, sql, &stmt) == SQLITE_OK &&
                store_bind_text(stmt, 1, id) == SQLITE_OK &&
                sqlite3_bind_int64(stmt, 2, idx) == SQLITE_OK &&
                sqlite3_bind_int(stmt, 3, attempts) == SQLITE_OK &&
                store_bind_text(stmt, 4, error != NULL ? error : "") == SQLITE_OK;
    return update_pending(st, stmt, bound, "retry", id, idx, err);
}

/* INF_EINVAL naming what is wrong with end, a finish of mini-batch idx. */
static int check_end(const char *id, int64_t idx, const struct store_minibatch_end *end,
                     struct inf_err *err)
{
    int rc =
        check_counts("finish", id, idx, end->attempts, end->rows, end->succeeded, end->failed, err);
    if (rc != 0)
        return rc;
    if (end->offset < 0 || end->bytes < 0)
        return inf_err_set(err, INF_EINVAL,
                           "store: finish mini-batch %lld of job '%s': negative offset or bytes",
                           (long long)idx, id);
    const char *status = end->status;
    if (status == NULL ||
        (strcmp(status, MINIBATCH_DONE) != 0 && strcmp(status, MINIBATCH_FAILED) != 0))
        return inf_err_set(err, INF_EINVAL,
                           "store: finish mini-batch %lld of job '%s': status '%s' is not '%s' "
                           "or '%s'",
                           (long long)idx, id, status != NULL ? status : "", MINIBATCH_DONE,
                           MINIBATCH_FAILED);
    return 0;
}

static int bind_end(sqlite3_stmt *stmt, const char *id, int64_t idx,
                    const struct store_minibatch_end *end)
{
    return store_bind_text(stmt, 1, id) == SQLITE_OK &&
                   sqlite3_bind_int64(stmt, 2, idx) == SQLITE_OK &&
                   store_bind_text(stmt, 3, end->status) == SQLITE_OK &&
                   sqlite3_bind_int(stmt, 4, end->attempts) == SQLITE_OK &&
                   sqlite3_bind_int64(stmt, 5, end->rows) == SQLITE_OK &&
                   sqlite3_bind_int64(stmt, 6, end->succeeded) == SQLITE_OK &&
                   sqlite3_bind_int64(stmt, 7, end->failed) == SQLITE_OK &&
                   store_bind_text(stmt, 8, end->error != NULL ? end->error : "") == SQLITE_OK &&
                   store_bind_text(stmt, 9, end->segment != NULL ? end->segment : "") ==
                       SQLITE_OK &&
                   sqlite3_bind_int64(stmt, 10, end->offset) == SQLITE_OK &&
                   sqlite3_bind_int64(stmt, 11, end->bytes) == SQLITE_OK
               ? SQLITE_OK
               : SQLITE_ERROR;
}

int store_job_minibatch_finish_many(struct store *st, const char *id, const int64_t *idx,
                                    const struct store_minibatch_end *ends, size_t n,
                                    struct inf_err *err)
{
    static const char sql[] =
        "UPDATE job_minibatches SET status = ?3, attempts = ?4, rows = ?5, succeeded = ?6, "
        "failed = ?7, error = ?8, segment = ?9, seg_offset = ?10, bytes = ?11 " PENDING_MINIBATCH;
    int rc = store_require(id, "job id", err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = check_end(id, idx[i], &ends[i], err);
    if (rc != 0 || n == 0)
        return rc;
    /* One transaction: one lock and one WAL commit for the lot, and a miss
     * is diagnosed against the state it missed. */
    if (store_begin(st) != SQLITE_OK)
        return store_fail(st->db, err, "finish mini-batch %lld%s of job '%s': begin",
                          (long long)idx[0], n > 1 ? " and others" : "", id);
    sqlite3_stmt *stmt = NULL;
    if (store_prepare(st, sql, &stmt) != SQLITE_OK) {
        rc = store_fail(st->db, err, "finish mini-batch %lld%s of job '%s'", (long long)idx[0],
                        n > 1 ? " and others" : "", id);
        goto fail;
    }
    int missed = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(stmt);
        if (bind_end(stmt, id, idx[i], &ends[i]) != SQLITE_OK ||
            sqlite3_step(stmt) != SQLITE_DONE) {
            rc = store_fail(st->db, err, "finish mini-batch %lld of job '%s'", (long long)idx[i],
                            id);
            goto fail;
        }
        /* A miss does not undo the others: each finish stands alone. */
        if (sqlite3_changes(st->db) == 0 && !missed) {
            missed = minibatch_miss(st, "finish", id, idx[i], err);
            if (missed == INF_ESTORE) {
                rc = missed;
                goto fail;
            }
        }
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (store_commit(st) != SQLITE_OK) {
        rc = store_fail(st->db, err, "finish mini-batch %lld%s of job '%s': commit",
                        (long long)idx[0], n > 1 ? " and others" : "", id);
        goto fail;
    }
    return missed;

fail:
    sqlite3_finalize(stmt);
    store_rollback(st->db);
    return rc;
}

int store_job_minibatch_finish(struct store *st, const char *id, int64_t idx,
                               const struct store_minibatch_end *end, struct inf_err *err)
{
    return store_job_minibatch_finish_many(st, id, &idx, end, 1, err);
}

int store_job_minibatch_reset(struct store *st, const char *id, int64_t idx, struct inf_err *err)
{
    static const char sql[] = "UPDATE job_minibatches SET status = '" MINIBATCH_PENDING "', "
                              "rows = 0, segment = '', seg_offset = 0, bytes = 0, succeeded = 0, "
                              "failed = 0 "
                              "WHERE job = (SELECT seq FROM jobs WHERE id = ?1) AND idx = ?2";
    sqlite3_stmt *stmt = NULL;
    int rc = store_require(id, "job id", err);
    if (rc != 0)
        return rc;
    if (store_prepare(st, sql, &stmt) != SQLITE_OK || store_bind_text(stmt, 1, id) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 2, idx) != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "reset mini-batch %lld of job '%s'", (long long)idx, id);
    else if (sqlite3_changes(st->db) == 0)
        rc = inf_err_set(err, INF_ENOTFOUND, "mini-batch %lld of job '%s' not found",
                         (long long)idx, id);
    sqlite3_finalize(stmt);
    return rc;
}

static void minibatch_fini(struct store_minibatch *m)
{
    free(m->segment);
    free(m->files_json);
    free(m->status);
    free(m->error);
    memset(m, 0, sizeof(*m));
}

void store_minibatch_list_free(struct store_minibatch *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        minibatch_fini(&list[i]);
    free(list);
}
