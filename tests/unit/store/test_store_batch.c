/*
 * Unit tests for store_batch: batch endpoints, batch deployments, jobs and
 * their ledgers, against a real SQLite file in a fresh temporary directory
 * per test. A second raw sqlite3 connection inspects the file and sabotages
 * it (triggers, dropped tables) where the store's API cannot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_batch.h"

struct fixture {
    char dir[64];
    char *path;       /* dir/inferd.db */
    struct store *st; /* open on path, or NULL */
};

static int setup(void **state)
{
    struct fixture *fx = inf_calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/inferd-store-batch-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    fx->path = inf_asprintf("%s/inferd.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->st);
    inf_rm_rf(fx->dir, NULL);
    free(fx->path);
    free(fx);
    return 0;
}

/* Opens fx->path as the fixture's store, failing the test on error. */
static struct store *open_store(struct fixture *fx)
{
    struct inf_err err = {0};
    int rc = store_open(fx->path, &fx->st, &err);
    if (rc != 0)
        fail_msg("store_open: %s", err.msg);
    return fx->st;
}

static struct store *reopen_store(struct fixture *fx)
{
    store_close(fx->st);
    fx->st = NULL;
    return open_store(fx);
}

/* Runs sql on a separate raw connection to path. */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("raw_exec '%s': %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* The first column of the first row of sql, as an integer. */
static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("raw_int '%s': %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static void put_endpoint(struct store *st, const char *name)
{
    struct inf_err err = {0};
    if (store_batch_endpoint_put(st, name, "{\"defaults\":{}}", &err) != 0)
        fail_msg("put batch endpoint %s: %s", name, err.msg);
}

static void put_deployment(struct store *st, const char *endpoint, const char *name)
{
    struct inf_err err = {0};
    if (store_batch_deployment_put(st, endpoint, name, "{\"mini_batch_size\":10}", &err) != 0)
        fail_msg("put batch deployment %s/%s: %s", endpoint, name, err.msg);
}

static int64_t create_job(struct store *st, const char *id, const char *endpoint,
                          const char *status)
{
    struct inf_err err = {0};
    int64_t seq = -1;
    if (store_job_create(st, id, endpoint, "blue", "{\"input\":\"x\"}", status, &seq, &err) != 0)
        fail_msg("create job %s: %s", id, err.msg);
    return seq;
}

/* Plans n mini-batches for job id; mini-batch i lists nfiles[i] files. */
static void plan(struct store *st, const char *id, const int64_t *nfiles, size_t n)
{
    struct inf_err err = {0};
    char **files = inf_calloc(n, sizeof(*files));
    for (size_t i = 0; i < n; i++)
        files[i] = inf_asprintf("[\"mb%zu-of-%lld\"]", i, (long long)nfiles[i]);
    int rc = store_job_plan(st, id, (const char *const *)files, nfiles, n, &err);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    if (rc != 0)
        fail_msg("plan job %s: %s", id, err.msg);
}

static void finish(struct store *st, const char *id, int64_t idx, const char *status, int64_t rows,
                   int64_t succeeded, int64_t failed)
{
    struct inf_err err = {0};
    if (store_job_minibatch_finish(st, id, idx,
                                   &(struct store_minibatch_end){.status = status,
                                                                 .attempts = 1,
                                                                 .rows = rows,
                                                                 .bytes = 0,
                                                                 .succeeded = succeeded,
                                                                 .failed = failed,
                                                                 .error = ""},
                                   &err) != 0)
        fail_msg("finish %s/%lld: %s", id, (long long)idx, err.msg);
}

static struct store_job get_job(struct store *st, const char *id)
{
    struct store_job j;
    struct inf_err err = {0};
    if (store_job_get(st, id, &j, &err) != 0)
        fail_msg("get job %s: %s", id, err.msg);
    return j;
}

/* ---- schema ------------------------------------------------------------- */

static void test_schema_version_3(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(store_schema_version(open_store(fx)), 3);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 3);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                       "AND name IN ('batch_endpoints', 'batch_deployments', "
                                       "'jobs', 'job_minibatches')"),
                     4);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' "
                                       "AND name IN ('jobs_by_endpoint', 'jobs_active')"),
                     2);
}

/* A database exactly as schema 2 left it, with online data in it. Frozen
 * like the released migrations it mirrors. */
static const char schema_2[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE endpoints (name TEXT PRIMARY KEY, spec TEXT NOT NULL,"
    "  primary_key TEXT NOT NULL DEFAULT '', secondary_key TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE deployments ("
    "  endpoint TEXT NOT NULL REFERENCES endpoints(name) ON DELETE CASCADE,"
    "  name TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '', generation INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (endpoint, name));"
    "CREATE TABLE artifacts (id TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "ALTER TABLE deployments ADD COLUMN active_spec TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE deployments ADD COLUMN active_generation INTEGER NOT NULL DEFAULT 0;"
    "INSERT INTO meta VALUES ('jwt_secret', 's3cr3t');"
    "INSERT INTO endpoints VALUES ('online', '{\"auth_mode\":\"key\"}', 'pk', 'sk', 100, 200);"
    "INSERT INTO deployments VALUES ('online', 'blue', '{\"v\":2}', 'Succeeded', '', 2, 100, 200,"
    "  '{\"v\":2}', 2);"
    "PRAGMA user_version = 2;";

static void test_migrates_schema_2_keeping_online_data(void **state)
{
    struct fixture *fx = *state;
    struct inf_err err = {0};
    raw_exec(fx->path, schema_2);

    struct store *st = open_store(fx);
    assert_int_equal(store_schema_version(st), 3);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 3);

    struct store_endpoint e;
    assert_int_equal(store_endpoint_get(st, "online", &e, &err), 0);
    assert_string_equal(e.spec_json, "{\"auth_mode\":\"key\"}");
    assert_string_equal(e.primary_key, "pk");
    assert_int_equal(e.created_at, 100);
    store_endpoint_fini(&e);
    struct store_deployment d;
    assert_int_equal(store_deployment_get(st, "online", "blue", &d, &err), 0);
    assert_string_equal(d.state, "Succeeded");
    assert_int_equal(d.generation, 2);
    assert_string_equal(d.active_spec, "{\"v\":2}");
    store_deployment_fini(&d);
    char *secret = NULL;
    assert_int_equal(store_meta_get(st, "jwt_secret", &secret, &err), 0);
    assert_string_equal(secret, "s3cr3t");
    free(secret);

    /* The new tables work, beside the old ones, and survive a reopen. */
    put_endpoint(st, "online"); /* batch and online names do not collide */
    put_deployment(st, "online", "blue");
    create_job(st, "j1", "online", JOB_QUEUED);
    int64_t nfiles[] = {2};
    plan(st, "j1", nfiles, 1);
    st = reopen_store(fx);
    assert_int_equal(store_schema_version(st), 3);
    struct store_job j = get_job(st, "j1");
    assert_int_equal(j.files, 2);
    store_job_fini(&j);
    assert_int_equal(store_endpoint_delete(st, "online", &err), 0);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM deployments"), 0);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM batch_deployments"), 1);
}

/* ---- batch endpoints ---------------------------------------------------- */

static void test_endpoint_crud(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_batch_endpoint e;
    int64_t before = inf_unix_now();

    assert_int_equal(store_batch_endpoint_put(st, "ep", "{\"v\":1}", &err), 0);
    assert_int_equal(store_batch_endpoint_get(st, "ep", &e, &err), 0);
    assert_string_equal(e.name, "ep");
    assert_string_equal(e.spec_json, "{\"v\":1}");
    assert_true(e.created_at >= before && e.created_at <= inf_unix_now());
    assert_int_equal(e.updated_at, e.created_at);
    store_batch_endpoint_fini(&e);
    assert_null(e.name);
    store_batch_endpoint_fini(&e);
    store_batch_endpoint_fini(NULL);

    /* Replace keeps created_at. */
    raw_exec(fx->path, "UPDATE batch_endpoints SET created_at = 100, updated_at = 100");
    assert_int_equal(store_batch_endpoint_put(st, "ep", "{\"v\":2}", &err), 0);
    assert_int_equal(store_batch_endpoint_get(st, "ep", &e, &err), 0);
    assert_string_equal(e.spec_json, "{\"v\":2}");
    assert_int_equal(e.created_at, 100);
    assert_true(e.updated_at >= before);
    store_batch_endpoint_fini(&e);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM batch_endpoints"), 1);

    /* Online endpoints are another table. */
    struct store_endpoint online;
    assert_int_equal(store_endpoint_get(st, "ep", &online, &err), INF_ENOTFOUND);

    assert_int_equal(store_batch_endpoint_delete(st, "ep", &err), 0);
    assert_int_equal(store_batch_endpoint_get(st, "ep", &e, &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "batch endpoint 'ep' not found");
    assert_null(e.name);
    assert_int_equal(store_batch_endpoint_delete(st, "ep", &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "batch endpoint 'ep' not found");
}

static void test_endpoint_list_is_ordered(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_batch_endpoint *list = (struct store_batch_endpoint *)fx;
    size_t n = 99;

    assert_int_equal(store_batch_endpoint_list(st, &list, &n, &err), 0);
    assert_null(list);
    assert_int_equal(n, 0);

    const char *names[] = {"m", "b", "zz", "a", "B", "c1", "c10", "c2", "y", "x", "ab"};
    const char *sorted[] = {"B", "a", "ab", "b", "c1", "c10", "c2", "m", "x", "y", "zz"};
    size_t count = sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < count; i++)
        put_endpoint(st, names[i]);
    assert_int_equal(store_batch_endpoint_list(st, &list, &n, &err), 0);
    assert_int_equal(n, count);
    for (size_t i = 0; i < count; i++) {
        assert_string_equal(list[i].name, sorted[i]);
        assert_string_equal(list[i].spec_json, "{\"defaults\":{}}");
    }
    store_batch_endpoint_list_free(list, n);
    store_batch_endpoint_list_free(NULL, 3);
}

static void test_endpoint_replace_keeps_children(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_batch_deployment d;

    put_endpoint(st, "ep");
    put_deployment(st, "ep", "blue");
    create_job(st, "j1", "ep", JOB_QUEUED);
    put_endpoint(st, "ep"); /* must not delete-and-insert (cascade) */
    assert_int_equal(store_batch_deployment_get(st, "ep", "blue", &d, &err), 0);
    store_batch_deployment_fini(&d);
    struct store_job j = get_job(st, "j1");
    store_job_fini(&j);
}

static void test_endpoint_delete_cascades(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_job j;
    struct store_batch_deployment *deps = NULL;
    size_t n = 0;
    int64_t nfiles[] = {1, 2, 3};

    put_endpoint(st, "ep");
    put_endpoint(st, "keep");
    put_deployment(st, "ep", "blue");
    put_deployment(st, "ep", "green");
    put_deployment(st, "keep", "blue");
    create_job(st, "ep-1", "ep", JOB_RUNNING);
    create_job(st, "keep-1", "keep", JOB_RUNNING);
    create_job(st, "ep-2", "ep", JOB_COMPLETED);
    plan(st, "ep-1", nfiles, 3);
    plan(st, "keep-1", nfiles, 2);
    plan(st, "ep-2", nfiles, 1);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM job_minibatches"), 6);

    assert_int_equal(store_batch_endpoint_delete(st, "ep", &err), 0);
    assert_int_equal(store_batch_deployment_list(st, "ep", &deps, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_job_get(st, "ep-1", &j, &err), INF_ENOTFOUND);
    assert_int_equal(store_job_get(st, "ep-2", &j, &err), INF_ENOTFOUND);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM batch_deployments"), 1);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM jobs"), 1);
    /* Only keep-1's ledger is left. */
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM job_minibatches"), 2);
    j = get_job(st, "keep-1");
    assert_int_equal(j.mini_batches, 2);
    store_job_fini(&j);

    /* A re-created endpoint starts empty. */
    put_endpoint(st, "ep");
    struct store_job *jobs = NULL;
    assert_int_equal(store_job_list(st, "ep", 0, &jobs, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(jobs);
}

static void test_endpoint_delete_is_one_transaction(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_batch_endpoint e;

    put_endpoint(st, "ep");
    put_deployment(st, "ep", "blue");
    create_job(st, "j1", "ep", JOB_RUNNING);
    /* Deleting the jobs fails after the endpoint row went: all comes back. */
    raw_exec(fx->path, "CREATE TRIGGER pinned BEFORE DELETE ON jobs "
                       "BEGIN SELECT RAISE(ABORT, 'jobs are pinned'); END");
    assert_int_equal(store_batch_endpoint_delete(st, "ep", &err), INF_ESTORE);
    assert_string_equal(err.msg, "store: delete jobs of batch endpoint 'ep': jobs are pinned");
    assert_int_equal(store_batch_endpoint_get(st, "ep", &e, &err), 0);
    store_batch_endpoint_fini(&e);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM batch_deployments"), 1);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM jobs"), 1);

    raw_exec(fx->path, "DROP TRIGGER pinned");
    assert_int_equal(store_batch_endpoint_delete(st, "ep", &err), 0);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM jobs"), 0);
}

static void test_endpoint_delete_missing_keeps_jobs(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};

    /* Jobs name their endpoint by value; a failed delete touches none. */
    create_job(st, "orphan", "ghost", JOB_QUEUED);
    assert_int_equal(store_batch_endpoint_delete(st, "ghost", &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "batch endpoint 'ghost' not found");
    struct store_job j = get_job(st, "orphan");
    store_job_fini(&j);
    put_endpoint(st, "ghost"); /* no transaction left open */
}

/* ---- batch deployments -------------------------------------------------- */

static void test_deployment_put_needs_endpoint(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};

    assert_int_equal(store_batch_deployment_put(st, "nope", "blue", "{}", &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "batch endpoint 'nope' not found");
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM batch_deployments"), 0);
    /* An online endpoint of that name does not count. */
    assert_int_equal(store_endpoint_put(st, "online", "{}", "a", "b", &err), 0);
    assert_int_equal(store_batch_deployment_put(st, "online", "blue", "{}", &err), INF_ENOTFOUND);
    /* No transaction was left open. */
    put_endpoint(st, "nope");
    put_deployment(st, "nope", "blue");
}

static void test_deployment_crud(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_batch_deployment d;
    int64_t before = inf_unix_now();

    put_endpoint(st, "ep");
    assert_int_equal(store_batch_deployment_put(st, "ep", "blue", "{\"v\":1}", &err), 0);
    assert_int_equal(store_batch_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_string_equal(d.endpoint, "ep");
    assert_string_equal(d.name, "blue");
    assert_string_equal(d.spec_json, "{\"v\":1}");
    assert_true(d.created_at >= before && d.created_at <= inf_unix_now());
    assert_int_equal(d.updated_at, d.created_at);
    store_batch_deployment_fini(&d);
    store_batch_deployment_fini(&d);
    store_batch_deployment_fini(NULL);

    raw_exec(fx->path, "UPDATE batch_deployments SET created_at = 100, updated_at = 100");
    assert_int_equal(store_batch_deployment_put(st, "ep", "blue", "{\"v\":2}", &err), 0);
    assert_int_equal(store_batch_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_string_equal(d.spec_json, "{\"v\":2}");
    assert_int_equal(d.created_at, 100);
    assert_true(d.updated_at >= before);
    store_batch_deployment_fini(&d);

    assert_int_equal(store_batch_deployment_get(st, "ep", "red", &d, &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "deployment 'red' of batch endpoint 'ep' not found");
    assert_null(d.name);
    assert_int_equal(store_batch_deployment_get(st, "other", "blue", &d, &err), INF_ENOTFOUND);

    assert_int_equal(store_batch_deployment_delete(st, "ep", "blue", &err), 0);
    assert_int_equal(store_batch_deployment_get(st, "ep", "blue", &d, &err), INF_ENOTFOUND);
    assert_int_equal(store_batch_deployment_delete(st, "ep", "blue", &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "deployment 'blue' of batch endpoint 'ep' not found");
    /* The endpoint stays. */
    struct store_batch_endpoint e;
    assert_int_equal(store_batch_endpoint_get(st, "ep", &e, &err), 0);
    store_batch_endpoint_fini(&e);
}

static void test_deployment_list_is_ordered(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_batch_deployment *list = (struct store_batch_deployment *)fx;
    size_t n = 5;

    put_endpoint(st, "a");
    put_endpoint(st, "b");
    assert_int_equal(store_batch_deployment_list(st, "a", &list, &n, &err), 0);
    assert_null(list);
    assert_int_equal(n, 0);

    const char *names[] = {"zeta", "alpha", "mu", "beta", "d1", "d10", "d2", "Z", "x", "y"};
    const char *sorted[] = {"Z", "alpha", "beta", "d1", "d10", "d2", "mu", "x", "y", "zeta"};
    size_t count = sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < count; i++)
        put_deployment(st, "a", names[i]);
    put_deployment(st, "b", "other");
    assert_int_equal(store_batch_deployment_list(st, "a", &list, &n, &err), 0);
    assert_int_equal(n, count);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].endpoint, "a");
        assert_string_equal(list[i].name, sorted[i]);
    }
    store_batch_deployment_list_free(list, n);
    store_batch_deployment_list_free(NULL, 2);

    assert_int_equal(store_batch_deployment_list(st, "b", &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "other");
    store_batch_deployment_list_free(list, n);
    assert_int_equal(store_batch_deployment_list(st, "missing", &list, &n, &err), 0);
    assert_int_equal(n, 0);
}

static void test_deployment_delete_keeps_jobs(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    int64_t nfiles[] = {4};

    put_endpoint(st, "ep");
    put_deployment(st, "ep", "blue");
    create_job(st, "j1", "ep", JOB_COMPLETED);
    plan(st, "j1", nfiles, 1);
    assert_int_equal(store_batch_deployment_delete(st, "ep", "blue", &err), 0);
    struct store_job j = get_job(st, "j1");
    assert_string_equal(j.deployment, "blue");
    assert_int_equal(j.files, 4);
    store_job_fini(&j);
}

/* ---- jobs --------------------------------------------------------------- */

static void test_job_create_and_get(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_job j;
    int64_t seq = 0;
    int64_t before = inf_unix_now();

    assert_int_equal(
        store_job_create(st, "job-1", "ep", "blue", "{\"input\":\"a\"}", JOB_QUEUED, &seq, &err),
        0);
    assert_true(seq > 0);
    assert_int_equal(store_job_get(st, "job-1", &j, &err), 0);
    assert_int_equal(j.seq, seq);
    assert_string_equal(j.id, "job-1");
    assert_string_equal(j.endpoint, "ep");
    assert_string_equal(j.deployment, "blue");
    assert_string_equal(j.spec_json, "{\"input\":\"a\"}");
    assert_string_equal(j.status, JOB_QUEUED);
    assert_string_equal(j.reason, "");
    assert_true(j.created_at >= before && j.created_at <= inf_unix_now());
    assert_int_equal(j.started_at, 0);
    assert_int_equal(j.ended_at, 0);
    assert_int_equal(j.mini_batches, 0);
    assert_int_equal(j.files, 0);
    assert_int_equal(j.mb_done, 0);
    assert_int_equal(j.mb_failed, 0);
    assert_int_equal(j.files_failed, 0);
    assert_int_equal(j.rows, 0);
    store_job_fini(&j);
    assert_null(j.id);
    store_job_fini(&j);
    store_job_fini(NULL);

    /* seq_out is optional. */
    assert_int_equal(store_job_create(st, "job-2", "ep", "blue", "{}", JOB_NOT_STARTED, NULL, &err),
                     0);

    assert_int_equal(store_job_get(st, "job-3", &j, &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "job 'job-3' not found");
    assert_null(j.id);
}

static void test_job_create_conflict(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    int64_t seq = 42;

    int64_t first = create_job(st, "dup", "ep", JOB_QUEUED);
    assert_int_equal(
        store_job_create(st, "dup", "other", "green", "{\"v\":2}", JOB_RUNNING, &seq, &err),
        INF_ECONFLICT);
    assert_string_equal(err.msg, "job 'dup' already exists");
    assert_int_equal(seq, 42);
    /* The first one is untouched. */
    struct store_job j = get_job(st, "dup");
    assert_int_equal(j.seq, first);
    assert_string_equal(j.endpoint, "ep");
    assert_string_equal(j.status, JOB_QUEUED);
    store_job_fini(&j);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM jobs"), 1);
}

static void test_job_seq_is_fifo(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_job *list = NULL;
    size_t n = 0;

    /* Ids sort the other way round, so only seq gives this order. */
    const char *ids[] = {"z", "y", "x", "w", "v", "u", "t", "s", "r", "q"};
    size_t count = sizeof(ids) / sizeof(ids[0]);
    int64_t last = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t seq = create_job(st, ids[i], i % 2 == 0 ? "even" : "odd", JOB_QUEUED);
        assert_true(seq > last);
        last = seq;
    }
    assert_int_equal(store_job_list(st, NULL, 0, &list, &n, &err), 0);
    assert_int_equal(n, count);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].id, ids[i]);
        if (i > 0)
            assert_true(list[i].seq > list[i - 1].seq);
    }
    store_job_list_free(list, n);
    store_job_list_free(NULL, 1);

    assert_int_equal(store_job_list(st, "odd", 0, &list, &n, &err), 0);
    assert_int_equal(n, count / 2);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].id, ids[2 * i + 1]);
        assert_string_equal(list[i].endpoint, "odd");
    }
    store_job_list_free(list, n);

    /* A deleted job's seq is never handed out again. */
    assert_int_equal(store_job_delete(st, "q", &err), 0);
    assert_true(create_job(st, "late", "even", JOB_QUEUED) > last);
    assert_int_equal(store_job_list(st, "nobody", 0, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(list);
}

static void test_job_status_stamps_times(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_job j;

    create_job(st, "j", "ep", JOB_NOT_STARTED);
    assert_int_equal(store_job_set_status(st, "j", JOB_QUEUED, NULL, &err), 0);
    j = get_job(st, "j");
    assert_string_equal(j.status, JOB_QUEUED);
    assert_int_equal(j.started_at, 0);
    assert_int_equal(j.ended_at, 0);
    store_job_fini(&j);

    int64_t before = inf_unix_now();
    assert_int_equal(store_job_set_status(st, "j", JOB_PREPARING, "", &err), 0);
    j = get_job(st, "j");
    assert_string_equal(j.status, JOB_PREPARING);
    assert_true(j.started_at >= before && j.started_at <= inf_unix_now());
    assert_int_equal(j.ended_at, 0);
    store_job_fini(&j);

    /* Stamped once only. */
    raw_exec(fx->path, "UPDATE jobs SET started_at = 100");
    assert_int_equal(store_job_set_status(st, "j", JOB_RUNNING, NULL, &err), 0);
    assert_int_equal(store_job_set_status(st, "j", JOB_FINALIZING, NULL, &err), 0);
    j = get_job(st, "j");
    assert_string_equal(j.status, JOB_FINALIZING);
    assert_int_equal(j.started_at, 100);
    assert_int_equal(j.ended_at, 0);
    store_job_fini(&j);

    assert_int_equal(store_job_set_status(st, "j", JOB_FAILED, "mini-batch 3: oom", &err), 0);
    j = get_job(st, "j");
    assert_string_equal(j.status, JOB_FAILED);
    assert_string_equal(j.reason, "mini-batch 3: oom");
    assert_int_equal(j.started_at, 100);
    assert_true(j.ended_at >= before && j.ended_at <= inf_unix_now());
    store_job_fini(&j);

    /* The first terminal stamp is kept; leaving terminal clears it. */
    raw_exec(fx->path, "UPDATE jobs SET ended_at = 200");
    assert_int_equal(store_job_set_status(st, "j", JOB_CANCELED, "by user", &err), 0);
    j = get_job(st, "j");
    assert_int_equal(j.ended_at, 200);
    assert_string_equal(j.reason, "by user");
    store_job_fini(&j);
    assert_int_equal(store_job_set_status(st, "j", JOB_RUNNING, NULL, &err), 0);
    j = get_job(st, "j");
    assert_int_equal(j.ended_at, 0);
    assert_int_equal(j.started_at, 100);
    assert_string_equal(j.reason, "");
    store_job_fini(&j);

    /* Canceled straight from Queued also leaves Queued. */
    create_job(st, "c", "ep", JOB_QUEUED);
    assert_int_equal(store_job_set_status(st, "c", JOB_CANCELED, "by user", &err), 0);
    j = get_job(st, "c");
    assert_true(j.started_at > 0);
    assert_true(j.ended_at > 0);
    store_job_fini(&j);

    /* Created past Queued, or terminal: stamped the same way. */
    create_job(st, "done", "ep", JOB_COMPLETED);
    j = get_job(st, "done");
    assert_int_equal(j.started_at, j.created_at);
    assert_int_equal(j.ended_at, j.created_at);
    store_job_fini(&j);
    create_job(st, "run", "ep", JOB_RUNNING);
    j = get_job(st, "run");
    assert_int_equal(j.started_at, j.created_at);
    assert_int_equal(j.ended_at, 0);
    store_job_fini(&j);

    assert_int_equal(store_job_set_status(st, "nope", JOB_RUNNING, NULL, &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "job 'nope' not found");
    assert_int_equal(store_job_set_status(st, "j", "Paused", NULL, &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: job 'j': unknown status 'Paused'");
    assert_int_equal(store_job_set_status(st, "j", "running", NULL, &err), INF_EINVAL);
    assert_int_equal(store_job_set_status(st, "j", NULL, NULL, &err), INF_EINVAL);
    j = get_job(st, "j");
    assert_string_equal(j.status, JOB_RUNNING);
    store_job_fini(&j);
}

static void test_job_list_active_only(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_job *list = NULL;
    size_t n = 0;

    const struct {
        const char *id, *endpoint, *status;
        int active;
    } jobs[] = {
        {"a1", "a", JOB_COMPLETED, 0},  {"a2", "a", JOB_RUNNING, 1},
        {"b1", "b", JOB_QUEUED, 1},     {"a3", "a", JOB_FAILED, 0},
        {"b2", "b", JOB_CANCELED, 0},   {"a4", "a", JOB_NOT_STARTED, 1},
        {"b3", "b", JOB_FINALIZING, 1}, {"a5", "a", JOB_PREPARING, 1},
    };
    size_t count = sizeof(jobs) / sizeof(jobs[0]);
    for (size_t i = 0; i < count; i++)
        create_job(st, jobs[i].id, jobs[i].endpoint, jobs[i].status);

    const char *endpoints[] = {NULL, "a", "b"};
    for (size_t e = 0; e < 3; e++) {
        for (int active_only = 0; active_only <= 1; active_only++) {
            assert_int_equal(store_job_list(st, endpoints[e], active_only, &list, &n, &err), 0);
            size_t k = 0;
            for (size_t i = 0; i < count; i++) {
                if (endpoints[e] != NULL && strcmp(jobs[i].endpoint, endpoints[e]) != 0)
                    continue;
                if (active_only && !jobs[i].active)
                    continue;
                assert_true(k < n);
                assert_string_equal(list[k].id, jobs[i].id);
                assert_string_equal(list[k].status, jobs[i].status);
                k++;
            }
            assert_int_equal(k, n);
            store_job_list_free(list, n);
        }
    }

    /* A job that ends drops out of the active list. */
    assert_int_equal(store_job_set_status(st, "a2", JOB_COMPLETED, NULL, &err), 0);
    assert_int_equal(store_job_list(st, "a", 1, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "a4");
    assert_string_equal(list[1].id, "a5");
    store_job_list_free(list, n);
}

static void test_job_delete_drops_ledger(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_job j;
    int64_t nfiles[] = {1, 1, 1};

    create_job(st, "gone", "ep", JOB_RUNNING);
    create_job(st, "kept", "ep", JOB_RUNNING);
    plan(st, "gone", nfiles, 3);
    plan(st, "kept", nfiles, 2);
    assert_int_equal(store_job_delete(st, "gone", &err), 0);
    assert_int_equal(store_job_get(st, "gone", &j, &err), INF_ENOTFOUND);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM job_minibatches"), 2);
    assert_int_equal(store_job_delete(st, "gone", &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "job 'gone' not found");
    /* Re-created under the same id, it starts with no ledger. */
    create_job(st, "gone", "ep", JOB_QUEUED);
    j = get_job(st, "gone");
    assert_int_equal(j.mini_batches, 0);
    store_job_fini(&j);
    plan(st, "gone", nfiles, 1);
}

/* ---- the ledger --------------------------------------------------------- */

static void test_plan_once(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_minibatch *mbs = NULL;
    size_t n = 0;

    create_job(st, "j", "ep", JOB_PREPARING);
    const char *files[] = {"[\"a.csv\",\"b.csv\"]", "[\"c.csv\"]", "[]"};
    int64_t nfiles[] = {2, 1, 0};
    assert_int_equal(store_job_plan(st, "j", files, nfiles, 3, &err), 0);

    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(mbs[i].idx, (int64_t)i);
        assert_string_equal(mbs[i].files_json, files[i]);
        assert_int_equal(mbs[i].nfiles, nfiles[i]);
        assert_string_equal(mbs[i].status, MINIBATCH_PENDING);
        assert_int_equal(mbs[i].attempts, 0);
        assert_int_equal(mbs[i].rows, 0);
        assert_int_equal(mbs[i].succeeded, 0);
        assert_int_equal(mbs[i].failed, 0);
        assert_string_equal(mbs[i].error, "");
    }
    store_minibatch_list_free(mbs, n);
    store_minibatch_list_free(NULL, 4);

    /* Planned once: a second plan changes nothing. */
    const char *again[] = {"[\"z\"]"};
    int64_t one[] = {1};
    assert_int_equal(store_job_plan(st, "j", again, one, 1, &err), INF_ECONFLICT);
    assert_string_equal(err.msg, "job 'j' is already planned (3 mini-batches)");
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM job_minibatches"), 3);
    assert_int_equal(
        raw_int(fx->path, "SELECT count(*) FROM job_minibatches WHERE files = '[\"z\"]'"), 0);

    assert_int_equal(store_job_plan(st, "nope", again, one, 1, &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "job 'nope' not found");

    /* A job without a ledger lists none; a missing job is not found. */
    create_job(st, "fresh", "ep", JOB_QUEUED);
    mbs = (struct store_minibatch *)fx;
    n = 9;
    assert_int_equal(store_job_minibatches(st, "fresh", &mbs, &n, &err), 0);
    assert_null(mbs);
    assert_int_equal(n, 0);
    assert_int_equal(store_job_minibatches(st, "nope", &mbs, &n, &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "job 'nope' not found");
    /* No transaction left open by the failures. */
    assert_int_equal(store_job_plan(st, "fresh", again, one, 1, &err), 0);
}

static void test_plan_bad_input(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    const char *files[] = {"[\"a\"]", "[\"b\"]"};
    const char *holes[] = {"[\"a\"]", NULL};
    const char *blank[] = {"[\"a\"]", ""};
    int64_t nfiles[] = {1, 1};
    int64_t negative[] = {1, -5};

    create_job(st, "j", "ep", JOB_PREPARING);
    assert_int_equal(store_job_plan(st, "j", files, nfiles, 0, &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: plan job 'j': no mini-batches");
    assert_int_equal(store_job_plan(st, "j", NULL, nfiles, 2, &err), INF_EINVAL);
    assert_int_equal(store_job_plan(st, "j", files, NULL, 2, &err), INF_EINVAL);
    assert_int_equal(store_job_plan(st, "j", holes, nfiles, 2, &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: plan job 'j': mini-batch 1 has no files list");
    assert_int_equal(store_job_plan(st, "j", blank, nfiles, 2, &err), INF_EINVAL);
    assert_int_equal(store_job_plan(st, "j", files, negative, 2, &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: plan job 'j': mini-batch 1 has negative file count -5");
    assert_int_equal(store_job_plan(st, "", files, nfiles, 2, &err), INF_EINVAL);
    assert_int_equal(store_job_plan(st, NULL, files, nfiles, 2, &err), INF_EINVAL);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM job_minibatches"), 0);
    assert_int_equal(store_job_plan(st, "j", files, nfiles, 2, &err), 0);
}

static void test_ledger_sums(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_job *list = NULL;
    size_t n = 0;

    create_job(st, "j", "ep", JOB_RUNNING);
    create_job(st, "empty", "ep", JOB_QUEUED);
    create_job(st, "other", "ep", JOB_RUNNING);
    int64_t nfiles[] = {3, 2, 5, 1, 4};
    plan(st, "j", nfiles, 5);
    int64_t other_files[] = {7};
    plan(st, "other", other_files, 1);
    finish(st, "other", 0, MINIBATCH_DONE, 70, 7, 0);

    /* 0 done; 1 failed (its rows do not count); 2 done with one bad file;
     * 3 pending after a retry; 4 pending with junk counts that must not
     * count while it is pending. */
    finish(st, "j", 0, MINIBATCH_DONE, 30, 3, 0);
    finish(st, "j", 1, MINIBATCH_FAILED, 99, 0, 2);
    finish(st, "j", 2, MINIBATCH_DONE, 40, 4, 1);
    assert_int_equal(store_job_minibatch_retry(st, "j", 3, 1, "timeout", &err), 0);
    raw_exec(fx->path, "UPDATE job_minibatches SET rows = 1000, failed = 1000 "
                       "WHERE idx = 4 AND status = 'pending'");

    struct store_job j = get_job(st, "j");
    assert_int_equal(j.mini_batches, 5);
    assert_int_equal(j.files, 15);
    assert_int_equal(j.mb_done, 2);
    assert_int_equal(j.mb_failed, 1);
    assert_int_equal(j.files_failed, 3);
    assert_int_equal(j.rows, 70);
    store_job_fini(&j);

    /* The same sums in a list, next to a job without a ledger. */
    assert_int_equal(store_job_list(st, "ep", 0, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, "j");
    assert_int_equal(list[0].mini_batches, 5);
    assert_int_equal(list[0].files, 15);
    assert_int_equal(list[0].mb_done, 2);
    assert_int_equal(list[0].mb_failed, 1);
    assert_int_equal(list[0].files_failed, 3);
    assert_int_equal(list[0].rows, 70);
    assert_string_equal(list[1].id, "empty");
    assert_int_equal(list[1].mini_batches, 0);
    assert_int_equal(list[1].files, 0);
    assert_int_equal(list[1].mb_done, 0);
    assert_int_equal(list[1].rows, 0);
    assert_string_equal(list[2].id, "other");
    assert_int_equal(list[2].mini_batches, 1);
    assert_int_equal(list[2].files, 7);
    assert_int_equal(list[2].mb_done, 1);
    assert_int_equal(list[2].rows, 70);
    store_job_list_free(list, n);

    /* active_only lists carry the sums too. */
    assert_int_equal(store_job_list(st, NULL, 1, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].files_failed, 3);
    store_job_list_free(list, n);
}

/* A done mini-batch keeps the size of its result file, and a reset (the
 * file was lost) makes it pending again with its counts cleared. */
static void test_bytes_and_reset(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_minibatch *mbs = NULL;
    size_t n = 0;
    int64_t nfiles[] = {2, 3};

    create_job(st, "j", "ep", JOB_RUNNING);
    plan(st, "j", nfiles, 2);
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 2,
                                                                 .rows = 4,
                                                                 .bytes = 123,
                                                                 .succeeded = 2,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        0);
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 1,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 3,
                                                                 .bytes = -1,
                                                                 .succeeded = 3,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_EINVAL);
    assert_non_null(strstr(err.msg, "negative offset or bytes"));
    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_int_equal(mbs[0].bytes, 123);
    assert_int_equal(mbs[1].bytes, 0);
    store_minibatch_list_free(mbs, n);

    assert_int_equal(store_job_minibatch_reset(st, "j", 0, &err), 0);
    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_string_equal(mbs[0].status, MINIBATCH_PENDING);
    assert_int_equal(mbs[0].attempts, 2);
    assert_int_equal(mbs[0].rows, 0);
    assert_int_equal(mbs[0].bytes, 0);
    store_minibatch_list_free(mbs, n);
    struct store_job j;
    assert_int_equal(store_job_get(st, "j", &j, &err), 0);
    assert_int_equal(j.mb_done, 0);
    assert_int_equal(j.rows, 0);
    store_job_fini(&j);
    /* finishing it again works: it is pending */
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 3,
                                                                 .rows = 4,
                                                                 .bytes = 99,
                                                                 .succeeded = 2,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        0);
    assert_int_equal(store_job_minibatch_reset(st, "j", 7, &err), INF_ENOTFOUND);
    assert_int_equal(store_job_minibatch_reset(st, "nope", 0, &err), INF_ENOTFOUND);
}

/* Finishing several mini-batches in one call: every pending one is
 * written, a finished one is skipped and reported, a bad argument writes
 * nothing. */
static void test_finish_many(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_minibatch *mbs = NULL;
    size_t n = 0;
    int64_t nfiles[] = {1, 1, 1, 1};
    create_job(st, "j", "ep", JOB_RUNNING);
    plan(st, "j", nfiles, 4);
    finish(st, "j", 1, MINIBATCH_DONE, 1, 1, 0);

    struct store_minibatch_end ends[3] = {
        {.status = MINIBATCH_DONE, .attempts = 1, .rows = 2, .segment = "seg-1.csv", .bytes = 9},
        {.status = MINIBATCH_DONE, .attempts = 1, .rows = 5},
        {.status = MINIBATCH_FAILED, .attempts = 4, .failed = 1, .error = "boom"},
    };
    int64_t idx[3] = {0, 1, 2};
    assert_int_equal(store_job_minibatch_finish_many(st, "j", idx, ends, 3, &err), INF_ECONFLICT);
    assert_string_equal(err.msg, "mini-batch 1 of job 'j' is already done");
    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_string_equal(mbs[0].status, MINIBATCH_DONE);
    assert_string_equal(mbs[0].segment, "seg-1.csv");
    assert_int_equal(mbs[0].bytes, 9);
    assert_int_equal(mbs[1].rows, 1); /* untouched */
    assert_string_equal(mbs[2].status, MINIBATCH_FAILED);
    assert_string_equal(mbs[2].error, "boom");
    assert_string_equal(mbs[3].status, MINIBATCH_PENDING);
    store_minibatch_list_free(mbs, n);

    /* one bad entry: nothing is written */
    struct store_minibatch_end bad[2] = {
        {.status = MINIBATCH_DONE, .attempts = 1},
        {.status = "maybe", .attempts = 1},
    };
    int64_t idx2[2] = {3, 3};
    assert_int_equal(store_job_minibatch_finish_many(st, "j", idx2, bad, 2, &err), INF_EINVAL);
    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_string_equal(mbs[3].status, MINIBATCH_PENDING);
    store_minibatch_list_free(mbs, n);
    assert_int_equal(store_job_minibatch_finish_many(st, "j", idx2, bad, 0, &err), 0);
}

static void test_finish_once(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_minibatch *mbs = NULL;
    size_t n = 0;
    int64_t nfiles[] = {2, 2};

    create_job(st, "j", "ep", JOB_RUNNING);
    plan(st, "j", nfiles, 2);
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 2,
                                                                 .rows = 20,
                                                                 .bytes = 0,
                                                                 .succeeded = 2,
                                                                 .failed = 0,
                                                                 .error = NULL},
                                   &err),
        0);
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_FAILED,
                                                                 .attempts = 3,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = 2,
                                                                 .error = "late"},
                                   &err),
        INF_ECONFLICT);
    assert_string_equal(err.msg, "mini-batch 0 of job 'j' is already done");
    assert_int_equal(store_job_minibatch_retry(st, "j", 0, 5, "late", &err), INF_ECONFLICT);
    assert_string_equal(err.msg, "mini-batch 0 of job 'j' is already done");

    finish(st, "j", 1, MINIBATCH_FAILED, 0, 0, 2);
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 1,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 5,
                                                                 .bytes = 0,
                                                                 .succeeded = 2,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_ECONFLICT);
    assert_string_equal(err.msg, "mini-batch 1 of job 'j' is already failed");

    /* Nothing moved. */
    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(mbs[0].status, MINIBATCH_DONE);
    assert_int_equal(mbs[0].attempts, 2);
    assert_int_equal(mbs[0].rows, 20);
    assert_int_equal(mbs[0].succeeded, 2);
    assert_string_equal(mbs[0].error, "");
    assert_string_equal(mbs[1].status, MINIBATCH_FAILED);
    assert_int_equal(mbs[1].failed, 2);
    store_minibatch_list_free(mbs, n);

    assert_int_equal(
        store_job_minibatch_finish(st, "j", 2,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_ENOTFOUND);
    assert_string_equal(err.msg, "mini-batch 2 of job 'j' not found");
    assert_int_equal(store_job_minibatch_retry(st, "j", 7, 1, "x", &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "mini-batch 7 of job 'j' not found");
    assert_int_equal(
        store_job_minibatch_finish(st, "nope", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_ENOTFOUND);
    assert_string_equal(err.msg, "job 'nope' not found");
    assert_int_equal(store_job_minibatch_retry(st, "nope", 0, 1, "", &err), INF_ENOTFOUND);
    /* No transaction left open by the failures. */
    create_job(st, "after", "ep", JOB_QUEUED);
}

static void test_finish_bad_args(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    int64_t nfiles[] = {2};

    create_job(st, "j", "ep", JOB_RUNNING);
    plan(st, "j", nfiles, 1);
    const char *statuses[] = {MINIBATCH_PENDING, "Done", "", NULL, "done; DROP TABLE jobs"};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        assert_int_equal(
            store_job_minibatch_finish(st, "j", 0,
                                       &(struct store_minibatch_end){.status = statuses[i],
                                                                     .attempts = 1,
                                                                     .rows = 0,
                                                                     .bytes = 0,
                                                                     .succeeded = 0,
                                                                     .failed = 0,
                                                                     .error = ""},
                                       &err),
            INF_EINVAL);
        assert_non_null(strstr(err.msg, "is not 'done' or 'failed'"));
    }
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = -1,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_EINVAL);
    assert_string_equal(err.msg, "store: finish mini-batch 0 of job 'j': negative rows -1");
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = -2,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_EINVAL);
    assert_string_equal(err.msg, "store: finish mini-batch 0 of job 'j': negative attempts -2");
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = -3,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_EINVAL);
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = -4,
                                                                 .error = ""},
                                   &err),
        INF_EINVAL);
    assert_int_equal(
        store_job_minibatch_finish(st, "j", -1,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_EINVAL);
    assert_string_equal(err.msg, "store: finish mini-batch -1 of job 'j': negative index -1");
    assert_int_equal(
        store_job_minibatch_finish(st, "", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_EINVAL);
    assert_int_equal(store_job_minibatch_retry(st, "j", 0, -1, "x", &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: retry mini-batch 0 of job 'j': negative attempts -1");
    assert_int_equal(store_job_minibatch_retry(st, "j", -1, 1, "x", &err), INF_EINVAL);
    assert_int_equal(store_job_minibatch_retry(st, NULL, 0, 1, "x", &err), INF_EINVAL);
    /* Still pending and finishable. */
    finish(st, "j", 0, MINIBATCH_DONE, 1, 2, 0);
}

static void test_retry_records_attempts(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_minibatch *mbs = NULL;
    size_t n = 0;
    int64_t nfiles[] = {3, 3};

    create_job(st, "j", "ep", JOB_RUNNING);
    plan(st, "j", nfiles, 2);
    assert_int_equal(store_job_minibatch_retry(st, "j", 1, 1, "timeout after 30s", &err), 0);
    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_string_equal(mbs[1].status, MINIBATCH_PENDING);
    assert_int_equal(mbs[1].attempts, 1);
    assert_string_equal(mbs[1].error, "timeout after 30s");
    assert_int_equal(mbs[0].attempts, 0); /* only the one named */
    assert_string_equal(mbs[0].error, "");
    store_minibatch_list_free(mbs, n);

    assert_int_equal(store_job_minibatch_retry(st, "j", 1, 2, NULL, &err), 0);
    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_int_equal(mbs[1].attempts, 2);
    assert_string_equal(mbs[1].error, "");
    store_minibatch_list_free(mbs, n);

    /* A retry is not a finish: the sums do not move. */
    struct store_job j = get_job(st, "j");
    assert_int_equal(j.mb_done + j.mb_failed, 0);
    assert_int_equal(j.files_failed, 0);
    store_job_fini(&j);

    assert_int_equal(store_job_minibatch_finish(
                         st, "j", 1,
                         &(struct store_minibatch_end){.status = MINIBATCH_FAILED,
                                                       .attempts = 3,
                                                       .rows = 0,
                                                       .bytes = 0,
                                                       .succeeded = 0,
                                                       .failed = 3,
                                                       .error = "worker exited with code 137"},
                         &err),
                     0);
    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_string_equal(mbs[1].status, MINIBATCH_FAILED);
    assert_int_equal(mbs[1].attempts, 3);
    assert_int_equal(mbs[1].failed, 3);
    assert_string_equal(mbs[1].error, "worker exited with code 137");
    store_minibatch_list_free(mbs, n);
}

static void test_ledger_survives_reopen(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_minibatch *mbs = NULL;
    size_t n = 0;
    int64_t nfiles[] = {2, 2, 2, 1};

    put_endpoint(st, "ep");
    put_deployment(st, "ep", "blue");
    int64_t seq = create_job(st, "j", "ep", JOB_RUNNING);
    plan(st, "j", nfiles, 4);
    finish(st, "j", 0, MINIBATCH_DONE, 10, 2, 0);
    finish(st, "j", 2, MINIBATCH_FAILED, 0, 0, 2);
    assert_int_equal(store_job_minibatch_retry(st, "j", 3, 1, "boom", &err), 0);

    /* As after a crash: a new connection reads back what is left to do. */
    st = reopen_store(fx);
    struct store_job *active = NULL;
    assert_int_equal(store_job_list(st, NULL, 1, &active, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(active[0].seq, seq);
    assert_string_equal(active[0].status, JOB_RUNNING);
    assert_true(active[0].started_at > 0);
    assert_int_equal(active[0].mini_batches, 4);
    assert_int_equal(active[0].files, 7);
    assert_int_equal(active[0].mb_done, 1);
    assert_int_equal(active[0].mb_failed, 1);
    assert_int_equal(active[0].files_failed, 2);
    assert_int_equal(active[0].rows, 10);
    store_job_list_free(active, n);

    assert_int_equal(store_job_minibatches(st, "j", &mbs, &n, &err), 0);
    assert_int_equal(n, 4);
    const char *want[] = {MINIBATCH_DONE, MINIBATCH_PENDING, MINIBATCH_FAILED, MINIBATCH_PENDING};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(mbs[i].status, want[i]);
    assert_string_equal(mbs[3].error, "boom");
    assert_int_equal(mbs[3].attempts, 1);
    assert_string_equal(mbs[1].files_json, "[\"mb1-of-2\"]");
    store_minibatch_list_free(mbs, n);

    /* The ledger carries on where it stopped, and stays planned. */
    finish(st, "j", 1, MINIBATCH_DONE, 5, 2, 0);
    finish(st, "j", 3, MINIBATCH_DONE, 3, 1, 0);
    assert_int_equal(store_job_plan(st, "j", (const char *const[]){"[]"}, nfiles, 1, &err),
                     INF_ECONFLICT);
    struct store_batch_deployment d;
    assert_int_equal(store_batch_deployment_get(st, "ep", "blue", &d, &err), 0);
    store_batch_deployment_fini(&d);
    struct store_job j = get_job(st, "j");
    assert_int_equal(j.mb_done, 3);
    assert_int_equal(j.rows, 18);
    store_job_fini(&j);
}

static void test_plan_10000_is_one_transaction(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    enum { N = 10000 };
    char **files = inf_calloc(N, sizeof(*files));
    int64_t *nfiles = inf_calloc(N, sizeof(*nfiles));
    int64_t total = 0;
    for (size_t i = 0; i < N; i++) {
        nfiles[i] = (int64_t)(i % 7) + 1;
        total += nfiles[i];
        files[i] = inf_asprintf("[\"in/part-%05zu.csv\"]", i);
    }
    create_job(st, "big", "ep", JOB_PREPARING);

    /* The very last insert fails: nothing of the plan may remain. */
    raw_exec(fx->path, "CREATE TRIGGER last BEFORE INSERT ON job_minibatches "
                       "WHEN NEW.idx = 9999 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
    assert_int_equal(store_job_plan(st, "big", (const char *const *)files, nfiles, N, &err),
                     INF_ESTORE);
    assert_string_equal(err.msg, "store: plan job 'big': mini-batch 9999: disk on fire");
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM job_minibatches"), 0);
    raw_exec(fx->path, "DROP TRIGGER last");

    assert_int_equal(store_job_plan(st, "big", (const char *const *)files, nfiles, N, &err), 0);
    struct store_job j = get_job(st, "big");
    assert_int_equal(j.mini_batches, N);
    assert_int_equal(j.files, total);
    store_job_fini(&j);

    struct store_minibatch *mbs = NULL;
    size_t n = 0;
    assert_int_equal(store_job_minibatches(st, "big", &mbs, &n, &err), 0);
    assert_int_equal(n, N);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(mbs[i].idx, (int64_t)i);
        assert_string_equal(mbs[i].files_json, files[i]);
        assert_int_equal(mbs[i].nfiles, nfiles[i]);
    }
    store_minibatch_list_free(mbs, n);
    for (size_t i = 0; i < N; i++)
        free(files[i]);
    free(files);
    free(nfiles);
}

/* ---- hostile input and failures ----------------------------------------- */

static void test_hostile_and_huge_values(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};

    static const char evil[] = "x'); DROP TABLE jobs; -- \"\xc3\xa9\xe2\x9c\x93 %s%n";
    assert_int_equal(store_batch_endpoint_put(st, evil, evil, &err), 0);
    assert_int_equal(store_batch_deployment_put(st, evil, evil, evil, &err), 0);
    assert_int_equal(store_job_create(st, evil, evil, evil, evil, JOB_QUEUED, NULL, &err), 0);
    const char *files[] = {evil};
    int64_t nfiles[] = {1};
    assert_int_equal(store_job_plan(st, evil, files, nfiles, 1, &err), 0);
    assert_int_equal(store_job_minibatch_retry(st, evil, 0, 1, evil, &err), 0);
    struct store_job j = get_job(st, evil);
    assert_string_equal(j.id, evil);
    assert_string_equal(j.endpoint, evil);
    assert_string_equal(j.spec_json, evil);
    assert_int_equal(j.files, 1);
    store_job_fini(&j);
    struct store_minibatch *mbs = NULL;
    size_t n = 0;
    assert_int_equal(store_job_minibatches(st, evil, &mbs, &n, &err), 0);
    assert_string_equal(mbs[0].files_json, evil);
    assert_string_equal(mbs[0].error, evil);
    store_minibatch_list_free(mbs, n);

    /* A 4 MiB job spec and reason survive intact. */
    size_t big_len = 4u << 20;
    char *big = inf_malloc(big_len + 1);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    big[big_len] = '\0';
    assert_int_equal(store_job_create(st, "big", "ep", "blue", big, JOB_QUEUED, NULL, &err), 0);
    assert_int_equal(store_job_set_status(st, "big", JOB_FAILED, big, &err), 0);
    st = reopen_store(fx);
    j = get_job(st, "big");
    assert_int_equal(strlen(j.spec_json), big_len);
    assert_string_equal(j.spec_json, big);
    assert_string_equal(j.reason, big);
    store_job_fini(&j);

    /* Huge names in messages are truncated, not overflowed. */
    assert_int_equal(store_job_get(st, big, &j, &err), INF_ENOTFOUND);
    assert_true(strlen(err.msg) < sizeof(err.msg));
    assert_memory_equal(err.msg, "job 'abcdef", 11);
    assert_int_equal(store_job_set_status(st, "big", big, NULL, &err), INF_EINVAL);
    assert_true(strlen(err.msg) < sizeof(err.msg));
    assert_int_equal(store_batch_deployment_put(st, big, "blue", "{}", &err), INF_ENOTFOUND);
    assert_true(strlen(err.msg) < sizeof(err.msg));
    free(big);

    /* Extreme counts are stored as given. */
    assert_int_equal(
        store_job_minibatch_finish(st, evil, 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 2147483647,
                                                                 .rows = INT64_MAX,
                                                                 .bytes = 0,
                                                                 .succeeded = INT64_MAX,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        0);
    j = get_job(st, evil);
    assert_int_equal(j.rows, INT64_MAX);
    store_job_fini(&j);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'jobs'"),
                     1);
}

static void test_bad_args(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_batch_endpoint e;
    struct store_batch_deployment d;
    struct store_job j;
    size_t n;

    assert_int_equal(store_batch_endpoint_put(st, NULL, "{}", &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: batch endpoint name is empty");
    assert_int_equal(store_batch_endpoint_put(st, "ep", "", &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: batch endpoint spec is empty");
    assert_int_equal(store_batch_endpoint_get(st, "", &e, &err), INF_EINVAL);
    assert_int_equal(store_batch_endpoint_get(st, "ep", NULL, &err), INF_EINVAL);
    assert_int_equal(store_batch_endpoint_list(st, NULL, &n, &err), INF_EINVAL);
    assert_int_equal(store_batch_endpoint_delete(st, NULL, NULL), INF_EINVAL);

    put_endpoint(st, "ep");
    assert_int_equal(store_batch_deployment_put(st, "ep", "", "{}", &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: batch deployment name is empty");
    assert_int_equal(store_batch_deployment_put(st, "ep", "blue", NULL, &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: batch deployment spec is empty");
    assert_int_equal(store_batch_deployment_get(st, "ep", NULL, &d, &err), INF_EINVAL);
    assert_int_equal(store_batch_deployment_get(st, "ep", "blue", NULL, &err), INF_EINVAL);
    assert_int_equal(store_batch_deployment_list(st, NULL, NULL, &n, &err), INF_EINVAL);
    struct store_batch_deployment *deps = NULL;
    assert_int_equal(store_batch_deployment_list(st, NULL, &deps, &n, &err), INF_EINVAL);
    assert_int_equal(store_batch_deployment_delete(st, "", "blue", &err), INF_EINVAL);

    assert_int_equal(store_job_create(st, "", "ep", "blue", "{}", JOB_QUEUED, NULL, &err),
                     INF_EINVAL);
    assert_string_equal(err.msg, "store: job id is empty");
    assert_int_equal(store_job_create(st, "j", NULL, "blue", "{}", JOB_QUEUED, NULL, &err),
                     INF_EINVAL);
    assert_int_equal(store_job_create(st, "j", "ep", "", "{}", JOB_QUEUED, NULL, &err), INF_EINVAL);
    assert_int_equal(store_job_create(st, "j", "ep", "blue", NULL, JOB_QUEUED, NULL, &err),
                     INF_EINVAL);
    assert_string_equal(err.msg, "store: job spec is empty");
    assert_int_equal(store_job_create(st, "j", "ep", "blue", "{}", "Started", NULL, &err),
                     INF_EINVAL);
    assert_string_equal(err.msg, "store: job 'j': unknown status 'Started'");
    assert_int_equal(store_job_create(st, "j", "ep", "blue", "{}", NULL, NULL, &err), INF_EINVAL);
    assert_int_equal(store_job_get(st, NULL, &j, &err), INF_EINVAL);
    assert_int_equal(store_job_get(st, "j", NULL, &err), INF_EINVAL);
    struct store_job *jobs = NULL;
    assert_int_equal(store_job_list(st, NULL, 0, NULL, &n, &err), INF_EINVAL);
    assert_int_equal(store_job_list(st, NULL, 0, &jobs, NULL, &err), INF_EINVAL);
    assert_int_equal(store_job_list(st, "", 0, &jobs, &n, &err), INF_EINVAL);
    assert_int_equal(store_job_delete(st, "", &err), INF_EINVAL);
    assert_int_equal(store_job_set_status(st, "", JOB_QUEUED, NULL, &err), INF_EINVAL);
    struct store_minibatch *mbs = NULL;
    assert_int_equal(store_job_minibatches(st, "", &mbs, &n, &err), INF_EINVAL);
    assert_int_equal(store_job_minibatches(st, "j", NULL, &n, &err), INF_EINVAL);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM jobs"), 0);
}

static void test_store_errors_name_the_operation(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_job j;
    struct store_job *list = NULL;
    size_t n = 7;
    int64_t nfiles[] = {1};

    create_job(st, "j", "ep", JOB_RUNNING);
    raw_exec(fx->path, "DROP TABLE job_minibatches");
    assert_int_equal(store_job_get(st, "j", &j, &err), INF_ESTORE);
    assert_string_equal(err.msg, "store: get job 'j': no such table: job_minibatches");
    assert_null(j.id);
    assert_int_equal(store_job_list(st, NULL, 1, &list, &n, &err), INF_ESTORE);
    assert_string_equal(err.msg, "store: list jobs: no such table: job_minibatches");
    assert_null(list);
    assert_int_equal(n, 0);
    assert_int_equal(store_job_list(st, "ep", 0, &list, &n, &err), INF_ESTORE);
    assert_string_equal(err.msg,
                        "store: list jobs of batch endpoint 'ep': no such table: job_minibatches");
    const char *files[] = {"[]"};
    assert_int_equal(store_job_plan(st, "j", files, nfiles, 1, &err), INF_ESTORE);
    assert_non_null(strstr(err.msg, "store: plan job 'j'"));
    assert_int_equal(
        store_job_minibatch_finish(st, "j", 0,
                                   &(struct store_minibatch_end){.status = MINIBATCH_DONE,
                                                                 .attempts = 1,
                                                                 .rows = 0,
                                                                 .bytes = 0,
                                                                 .succeeded = 0,
                                                                 .failed = 0,
                                                                 .error = ""},
                                   &err),
        INF_ESTORE);
    assert_non_null(strstr(err.msg, "store: finish mini-batch 0 of job 'j'"));
    assert_int_equal(store_job_minibatch_retry(st, "j", 0, 1, "", &err), INF_ESTORE);
    assert_non_null(strstr(err.msg, "store: retry mini-batch 0 of job 'j'"));

    raw_exec(fx->path, "PRAGMA foreign_keys = OFF; DROP TABLE batch_deployments");
    assert_int_equal(store_batch_deployment_put(st, "ep", "blue", "{}", &err), INF_ENOTFOUND);
    put_endpoint(st, "ep");
    assert_int_equal(store_batch_deployment_put(st, "ep", "blue", "{}", &err), INF_ESTORE);
    assert_string_equal(err.msg,
                        "store: put batch deployment 'ep/blue': no such table: batch_deployments");
    /* Still usable afterwards: no transaction left open. */
    assert_int_equal(store_job_set_status(st, "j", JOB_FAILED, "store broke", &err), 0);
    assert_int_equal(store_meta_set(st, "k", "v", &err), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_schema_version_3),
        T(test_bytes_and_reset),
        T(test_finish_many),
        T(test_migrates_schema_2_keeping_online_data),
        T(test_endpoint_crud),
        T(test_endpoint_list_is_ordered),
        T(test_endpoint_replace_keeps_children),
        T(test_endpoint_delete_cascades),
        T(test_endpoint_delete_is_one_transaction),
        T(test_endpoint_delete_missing_keeps_jobs),
        T(test_deployment_put_needs_endpoint),
        T(test_deployment_crud),
        T(test_deployment_list_is_ordered),
        T(test_deployment_delete_keeps_jobs),
        T(test_job_create_and_get),
        T(test_job_create_conflict),
        T(test_job_seq_is_fifo),
        T(test_job_status_stamps_times),
        T(test_job_list_active_only),
        T(test_job_delete_drops_ledger),
        T(test_plan_once),
        T(test_plan_bad_input),
        T(test_ledger_sums),
        T(test_finish_once),
        T(test_finish_bad_args),
        T(test_retry_records_attempts),
        T(test_ledger_survives_reopen),
        T(test_plan_10000_is_one_transaction),
        T(test_hostile_and_huge_values),
        T(test_bad_args),
        T(test_store_errors_name_the_operation),
    };
    return cmocka_run_group_tests_name("store_batch", tests, NULL, NULL);
}
