/*
 * migrate: the store's schema history and the code that applies it.
 *
 * migrations[i] takes a database from schema version i to i + 1; the version
 * lives in PRAGMA user_version. Entries are never edited once released: a
 * schema change is a new script appended at the end. Runs on the thread that
 * calls store_open(), inside that call.
 */
#include "store/store_int.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE meta ("
    "  key   TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ");"
    "CREATE TABLE endpoints ("
    "  name          TEXT PRIMARY KEY,"
    "  spec          TEXT NOT NULL,"
    "  primary_key   TEXT NOT NULL DEFAULT '',"
    "  secondary_key TEXT NOT NULL DEFAULT '',"
    "  created_at    INTEGER NOT NULL,"
    "  updated_at    INTEGER NOT NULL"
    ");"
    "CREATE TABLE deployments ("
    "  endpoint   TEXT NOT NULL REFERENCES endpoints(name) ON DELETE CASCADE,"
    "  name       TEXT NOT NULL,"
    "  spec       TEXT NOT NULL,"
    "  state      TEXT NOT NULL,"
    "  reason     TEXT NOT NULL DEFAULT '',"
    "  generation INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (endpoint, name)"
    ");"
    "CREATE TABLE artifacts ("
    "  id         TEXT PRIMARY KEY,"
    "  size       INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");",
    /* 2: the spec that last started successfully, so a restart after a
     * failed update brings back what was serving. */
    "ALTER TABLE deployments ADD COLUMN active_spec TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE deployments ADD COLUMN active_generation INTEGER NOT NULL DEFAULT 0;",
    /* 3: batch endpoints, their deployments, and jobs with their ledger of
     * mini-batches. A job names its endpoint and deployment by value: it
     * outlives a deleted deployment, and store_batch_endpoint_delete()
     * removes an endpoint's jobs itself. seq is AUTOINCREMENT so a deleted
     * job's number is never handed out again and seq order stays FIFO. */
    "CREATE TABLE batch_endpoints ("
    "  name       TEXT PRIMARY KEY,"
    "  spec       TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE batch_deployments ("
    "  endpoint   TEXT NOT NULL REFERENCES batch_endpoints(name) ON DELETE CASCADE,"
    "  name       TEXT NOT NULL,"
    "  spec       TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (endpoint, name)"
    ");"
    "CREATE TABLE jobs ("
    "  seq        INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id         TEXT NOT NULL UNIQUE,"
    "  endpoint   TEXT NOT NULL,"
    "  deployment TEXT NOT NULL,"
    "  spec       TEXT NOT NULL,"
    "  status     TEXT NOT NULL,"
    "  reason     TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL DEFAULT 0,"
    "  ended_at   INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX jobs_by_endpoint ON jobs (endpoint, seq);"
    /* What a restarted server resumes; the WHERE matches store_batch.c's
     * filter so the planner can use it. */
    "CREATE INDEX jobs_active ON jobs (seq)"
    "  WHERE status NOT IN ('Completed', 'Failed', 'Canceled');"
    "CREATE TABLE job_minibatches ("
    "  job       INTEGER NOT NULL REFERENCES jobs(seq) ON DELETE CASCADE,"
    "  idx       INTEGER NOT NULL,"
    "  files     TEXT NOT NULL,"
    "  nfiles    INTEGER NOT NULL,"
    "  status    TEXT NOT NULL DEFAULT 'pending',"
    "  attempts  INTEGER NOT NULL DEFAULT 0,"
    "  rows      INTEGER NOT NULL DEFAULT 0,"
    "  segment   TEXT NOT NULL DEFAULT '',"
    "  seg_offset INTEGER NOT NULL DEFAULT 0,"
    "  bytes     INTEGER NOT NULL DEFAULT 0,"
    "  succeeded INTEGER NOT NULL DEFAULT 0,"
    "  failed    INTEGER NOT NULL DEFAULT 0,"
    "  error     TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (job, idx)"
    ");",
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int migrate_latest(void)
{
    return MIGRATION_COUNT;
}

static int read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* The error for a version this build cannot migrate from. */
static int bad_version(const char *path, int v, struct inf_err *err)
{
    if (v < 0)
        return inf_err_set(err, INF_ESTORE, "store: '%s' has invalid schema version %d", path, v);
    return inf_err_set(err, INF_ESTORE,
                       "store: '%s' has schema version %d but this inferd knows up to %d; "
                       "upgrade inferd",
                       path, v, MIGRATION_COUNT);
}

/* Applies the migration after the current version, under a write lock. The
 * version is re-read inside the transaction because another process may have
 * migrated the same file meanwhile. *version gets the version afterwards. */
static int step(sqlite3 *db, const char *path, int *version, struct inf_err *err)
{
    int rc = 0;
    int v = 0;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(db, err, "migrate '%s': begin", path);
    if (read_version(db, &v) != SQLITE_OK) {
        rc = store_fail(db, err, "migrate '%s': read schema version", path);
        goto fail;
    }
    if (v < 0 || v > MIGRATION_COUNT) {
        rc = bad_version(path, v, err);
        goto fail;
    }
    if (v < MIGRATION_COUNT) {
        /* PRAGMA takes no bound parameters; the value is our own integer. */
        char set_version[64];
        snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, set_version, NULL, NULL, NULL) != SQLITE_OK) {
            rc = store_fail(db, err, "migrate '%s' to schema version %d", path, v + 1);
            goto fail;
        }
        v++;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = store_fail(db, err, "migrate '%s': commit schema version %d", path, v);
        goto fail;
    }
    *version = v;
    return 0;

fail:
    store_rollback(db);
    return rc;
}

int migrate_run(sqlite3 *db, const char *path, int *version, struct inf_err *err)
{
    int v = 0;
    /* The common case, an up-to-date database, needs no write lock. */
    if (read_version(db, &v) != SQLITE_OK)
        return store_fail(db, err, "open '%s': read schema version", path);
    if (v < 0 || v > MIGRATION_COUNT)
        return bad_version(path, v, err);
    while (v < MIGRATION_COUNT) {
        int rc = step(db, path, &v, err);
        if (rc != 0)
            return rc;
    }
    *version = v;
    return 0;
}
