/*
 * store: control-plane state in one SQLite database: endpoints, deployments,
 * artifacts and metadata.
 *
 * Owns one sqlite3 connection per struct store, from store_open() to
 * store_close(). One thread at a time uses a store (the server's store
 * thread); other threads and processes open their own connection, which WAL
 * and the busy timeout make safe. Every statement is prepared, bound, run and
 * finalized within one call, with values only ever bound as parameters.
 * Writes that read before they write run in BEGIN IMMEDIATE transactions, so
 * the busy timeout covers taking the write lock and no other writer slips in
 * between.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 5000

/* ---- shared helpers ---------------------------------------------------- */

int store_fail(sqlite3 *db, struct inf_err *err, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return inf_err_set(err, INF_ESTORE, "store: %s: %s", what, sqlite3_errmsg(db));
}

void store_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int store_begin(struct store *st)
{
    return sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

int store_commit(struct store *st)
{
    return sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

int store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt)
{
    return sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);
}

/* The strings bound here outlive the statement, so SQLite need not copy. */
int store_bind_text(sqlite3_stmt *stmt, int index, const char *s)
{
    return sqlite3_bind_text(stmt, index, s, -1, SQLITE_STATIC);
}

/* A fresh copy of a text column; SQL NULL reads as "" so callers never see
 * a NULL string. */
char *store_column_dup(sqlite3_stmt *stmt, int col)
{
    const unsigned char *s = sqlite3_column_text(stmt, col);
    return inf_strdup(s != NULL ? (const char *)s : "");
}

/* INF_EINVAL unless s is a non-empty string; what names it in the message. */
int store_require(const char *s, const char *what, struct inf_err *err)
{
    if (s == NULL || s[0] == '\0')
        return inf_err_set(err, INF_EINVAL, "store: %s is empty", what);
    return 0;
}

static int endpoint_not_found(const char *name, struct inf_err *err)
{
    return inf_err_set(err, INF_ENOTFOUND, "endpoint '%s' not found", name);
}

static int deployment_not_found(const char *endpoint, const char *name, struct inf_err *err)
{
    return inf_err_set(err, INF_ENOTFOUND, "deployment '%s' of endpoint '%s' not found", name,
                       endpoint);
}

/* Steps stmt to the end, converting each row with from_row into a growing
 * array of elem_size-byte elements (zeroed before conversion). *out and *n
 * get whatever was read, also on failure, for the caller to free. Returns an
 * SQLite code: SQLITE_OK when every row was read. */
int store_collect(sqlite3_stmt *stmt, size_t elem_size, store_row_fn from_row, void **out,
                  size_t *n)
{
    char *items = NULL;
    size_t count = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap != 0 ? cap * 2 : 8;
            items = inf_realloc(items, cap * elem_size);
        }
        void *dst = items + count * elem_size;
        memset(dst, 0, elem_size);
        from_row(stmt, dst);
        count++;
    }
    *out = items;
    *n = count;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- open and close ---------------------------------------------------- */

/* Creates the file owner-only before SQLite opens it: it holds endpoint keys
 * and server secrets, and SQLite gives its -wal and -shm files the mode of
 * the database file. An existing file keeps its mode. */
static int create_private(const char *path, struct inf_err *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return inf_err_set(err, INF_EIO, "store: create '%s': %s", path, inf_strerror(errno));
    close(fd);
    return 0;
}

/* Runs a PRAGMA that answers with one row and copies the first column of
 * that row into out. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t out_len)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(stmt, 0);
        snprintf(out, out_len, "%s", s != NULL ? (const char *)s : "");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Connection settings; they are per connection, so every open applies them. */
static int configure(sqlite3 *db, const char *path, int in_memory, struct inf_err *err)
{
    char value[32];
    if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return store_fail(db, err, "open '%s': set busy timeout", path);
    /* The first statement to read the file: a non-database fails here. */
    if (pragma_text(db, "PRAGMA journal_mode = WAL", value, sizeof(value)) != SQLITE_OK)
        return store_fail(db, err, "open '%s': enable WAL", path);
    /* An in-memory database has no journal file and reports "memory". */
    if (strcmp(value, "wal") != 0 && !(in_memory && strcmp(value, "memory") == 0))
        return inf_err_set(err, INF_ESTORE,
                           "store: open '%s': enable WAL: journal mode stayed '%s'", path, value);
    if (sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(db, err, "open '%s': set synchronous", path);
    if (sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(db, err, "open '%s': enable foreign keys", path);
    /* A SQLite built without foreign keys ignores the PRAGMA silently, and
     * cascading deletes would quietly stop working. */
    if (pragma_text(db, "PRAGMA foreign_keys", value, sizeof(value)) != SQLITE_OK)
        return store_fail(db, err, "open '%s': check foreign keys", path);
    if (strcmp(value, "1") != 0)
        return inf_err_set(err, INF_ESTORE,
                           "store: open '%s': this SQLite does not enforce foreign keys", path);
    return 0;
}

int store_open(const char *path, struct store **out, struct inf_err *err)
{
    sqlite3 *db = NULL;
    int version = 0;
    int rc;
    if (out == NULL)
        return inf_err_set(err, INF_EINVAL, "store: open: no result pointer given");
    *out = NULL;
    if ((rc = store_require(path, "database path", err)) != 0)
        return rc;
    int in_memory = strcmp(path, ":memory:") == 0;
    if (!in_memory && (rc = create_private(path, err)) != 0)
        return rc;
    /* NOMUTEX: one thread at a time uses a connection (see store.h). */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        rc = store_fail(db, err, "open '%s'", path);
        goto fail;
    }
    if ((rc = configure(db, path, in_memory, err)) != 0)
        goto fail;
    if ((rc = migrate_run(db, path, &version, err)) != 0)
        goto fail;
    struct store *st = inf_calloc(1, sizeof(*st));
    st->db = db;
    st->schema_version = version;
    *out = st;
    return 0;

fail:
    sqlite3_close(db);
    return rc;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    /* Every statement is finalized within its call, so this cannot be busy. */
    if (sqlite3_close(st->db) != SQLITE_OK)
        inf_warn("store.close", "error=\"%s\"", sqlite3_errmsg(st->db));
    free(st);
}

int store_schema_version(struct store *st)
{
    return st->schema_version;
}

/* ---- endpoints --------------------------------------------------------- */

#define ENDPOINT_COLUMNS "name, spec, primary_key, secondary_key, created_at, updated_at"

static void endpoint_from_row(sqlite3_stmt *stmt, void *dst)
{
    struct store_endpoint *e = dst;
    e->name = store_column_dup(stmt, 0);
    e->spec_json = store_column_dup(stmt, 1);
    e->primary_key = store_column_dup(stmt, 2);
    e->secondary_key = store_column_dup(stmt, 3);
    e->created_at = sqlite3_column_int64(stmt, 4);
    e->updated_at = sqlite3_column_int64(stmt, 5);
}

int store_endpoint_put(struct store *st, const char *name, const char *spec_json,
                       const char *primary_key, const char *secondary_key, struct inf_err *err)
{
    static const char sql[] =
        "INSERT INTO endpoints (" ENDPOINT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
        "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, "
        "primary_key = excluded.primary_key, secondary_key = excluded.secondary_key, "
        "updated_at = excluded.updated_at";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(name, "endpoint name", err)) != 0 ||
        (rc = store_require(spec_json, "endpoint spec", err)) != 0)
        return rc;
    /* An upsert, not INSERT OR REPLACE: a replace deletes the row first,
     * which would cascade to the endpoint's deployments. */
    if (store_prepare(st, sql, &stmt) != SQLITE_OK || store_bind_text(stmt, 1, name) != SQLITE_OK ||
        store_bind_text(stmt, 2, spec_json) != SQLITE_OK ||
        store_bind_text(stmt, 3, primary_key != NULL ? primary_key : "") != SQLITE_OK ||
        store_bind_text(stmt, 4, secondary_key != NULL ? secondary_key : "") != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 5, inf_unix_now()) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "put endpoint '%s'", name);
    sqlite3_finalize(stmt);
    return rc;
}

int store_endpoint_get(struct store *st, const char *name, struct store_endpoint *out,
                       struct inf_err *err)
{
    static const char sql[] = "SELECT " ENDPOINT_COLUMNS " FROM endpoints WHERE name = ?1";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if (out == NULL)
        return inf_err_set(err, INF_EINVAL, "store: get endpoint: no result pointer given");
    memset(out, 0, sizeof(*out));
    if ((rc = store_require(name, "endpoint name", err)) != 0)
        return rc;
    int step = SQLITE_ERROR;
    if (store_prepare(st, sql, &stmt) == SQLITE_OK && store_bind_text(stmt, 1, name) == SQLITE_OK)
        step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        endpoint_from_row(stmt, out);
    else if (step == SQLITE_DONE)
        rc = endpoint_not_found(name, err);
    else
        rc = store_fail(st->db, err, "get endpoint '%s'", name);
    sqlite3_finalize(stmt);
    return rc;
}

int store_endpoint_list(struct store *st, struct store_endpoint **out, size_t *n,
                        struct inf_err *err)
{
    static const char sql[] = "SELECT " ENDPOINT_COLUMNS " FROM endpoints ORDER BY name";
    sqlite3_stmt *stmt = NULL;
    void *items = NULL;
    size_t count = 0;
    int rc = 0;
    if (out == NULL || n == NULL)
        return inf_err_set(err, INF_EINVAL, "store: list endpoints: no result pointer given");
    *out = NULL;
    *n = 0;
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        store_collect(stmt, sizeof(**out), endpoint_from_row, &items, &count) != SQLITE_OK) {
        rc = store_fail(st->db, err, "list endpoints");
        store_endpoint_list_free(items, count);
    } else {
        *out = items;
        *n = count;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_endpoint_delete(struct store *st, const char *name, struct inf_err *err)
{
    static const char sql[] = "DELETE FROM endpoints WHERE name = ?1";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(name, "endpoint name", err)) != 0)
        return rc;
    /* The deployments go with it: ON DELETE CASCADE. */
    if (store_prepare(st, sql, &stmt) != SQLITE_OK || store_bind_text(stmt, 1, name) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "delete endpoint '%s'", name);
    else if (sqlite3_changes(st->db) == 0)
        rc = endpoint_not_found(name, err);
    sqlite3_finalize(stmt);
    return rc;
}

void store_endpoint_fini(struct store_endpoint *e)
{
    if (e == NULL)
        return;
    free(e->name);
    free(e->spec_json);
    free(e->primary_key);
    free(e->secondary_key);
    memset(e, 0, sizeof(*e));
}

void store_endpoint_list_free(struct store_endpoint *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        store_endpoint_fini(&list[i]);
    free(list);
}

/* ---- deployments ------------------------------------------------------- */

#define DEPLOYMENT_COLUMNS "endpoint, name, spec, state, reason, generation, created_at, updated_at"
#define DEPLOYMENT_SELECT DEPLOYMENT_COLUMNS ", active_spec, active_generation"

static void deployment_from_row(sqlite3_stmt *stmt, void *dst)
{
    struct store_deployment *d = dst;
    d->endpoint = store_column_dup(stmt, 0);
    d->name = store_column_dup(stmt, 1);
    d->spec_json = store_column_dup(stmt, 2);
    d->state = store_column_dup(stmt, 3);
    d->reason = store_column_dup(stmt, 4);
    d->generation = sqlite3_column_int64(stmt, 5);
    d->created_at = sqlite3_column_int64(stmt, 6);
    d->updated_at = sqlite3_column_int64(stmt, 7);
    d->active_spec = store_column_dup(stmt, 8);
    d->active_generation = sqlite3_column_int64(stmt, 9);
}

/* SQLITE_ROW if the endpoint exists, SQLITE_DONE if not, else an error. */
static int endpoint_exists(struct store *st, const char *name)
{
    sqlite3_stmt *stmt = NULL;
    int rc = store_prepare(st, "SELECT 1 FROM endpoints WHERE name = ?1", &stmt);
    if (rc == SQLITE_OK)
        rc = store_bind_text(stmt, 1, name);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc;
}

int store_deployment_put(struct store *st, const char *endpoint, const char *name,
                         const char *spec_json, const char *state, const char *reason,
                         int64_t *generation_out, struct inf_err *err)
{
    static const char sql[] =
        "INSERT INTO deployments (" DEPLOYMENT_COLUMNS ") "
        "VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6) "
        "ON CONFLICT (endpoint, name) DO UPDATE SET spec = excluded.spec, "
        "state = excluded.state, reason = excluded.reason, generation = generation + 1, "
        "updated_at = excluded.updated_at "
        "RETURNING generation";
    sqlite3_stmt *stmt = NULL;
    int64_t generation = 0;
    int rc;
    if ((rc = store_require(endpoint, "endpoint name", err)) != 0 ||
        (rc = store_require(name, "deployment name", err)) != 0 ||
        (rc = store_require(spec_json, "deployment spec", err)) != 0 ||
        (rc = store_require(state, "deployment state", err)) != 0)
        return rc;
    if (store_begin(st) != SQLITE_OK)
        return store_fail(st->db, err, "put deployment '%s/%s': begin", endpoint, name);
    int found = endpoint_exists(st, endpoint);
    if (found == SQLITE_DONE) {
        rc = endpoint_not_found(endpoint, err);
        goto fail;
    }
    if (found != SQLITE_ROW ||
        (store_prepare(st, sql, &stmt) != SQLITE_OK ||
         store_bind_text(stmt, 1, endpoint) != SQLITE_OK ||
         store_bind_text(stmt, 2, name) != SQLITE_OK ||
         store_bind_text(stmt, 3, spec_json) != SQLITE_OK ||
         store_bind_text(stmt, 4, state) != SQLITE_OK ||
         store_bind_text(stmt, 5, reason != NULL ? reason : "") != SQLITE_OK ||
         sqlite3_bind_int64(stmt, 6, inf_unix_now()) != SQLITE_OK ||
         sqlite3_step(stmt) != SQLITE_ROW)) {
        rc = store_fail(st->db, err, "put deployment '%s/%s'", endpoint, name);
        goto fail;
    }
    generation = sqlite3_column_int64(stmt, 0);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = store_fail(st->db, err, "put deployment '%s/%s'", endpoint, name);
        goto fail;
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (store_commit(st) != SQLITE_OK) {
        rc = store_fail(st->db, err, "put deployment '%s/%s': commit", endpoint, name);
        goto fail;
    }
    if (generation_out != NULL)
        *generation_out = generation;
    return 0;

fail:
    sqlite3_finalize(stmt);
    store_rollback(st->db);
    return rc;
}

/* The current generation of a deployment: SQLITE_ROW with *generation set,
 * SQLITE_DONE if there is no such deployment, else an error. */
static int deployment_generation(struct store *st, const char *endpoint, const char *name,
                                 int64_t *generation)
{
    sqlite3_stmt *stmt = NULL;
    int rc = store_prepare(
        st, "SELECT generation FROM deployments WHERE endpoint = ?1 AND name = ?2", &stmt);
    if (rc == SQLITE_OK)
        rc = store_bind_text(stmt, 1, endpoint);
    if (rc == SQLITE_OK)
        rc = store_bind_text(stmt, 2, name);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *generation = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc;
}

int store_deployment_set_active(struct store *st, const char *endpoint, const char *name,
                                int64_t generation, const char *spec_json, struct inf_err *err)
{
    static const char sql[] = "UPDATE deployments SET active_spec = ?3, active_generation = ?4 "
                              "WHERE endpoint = ?1 AND name = ?2";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(endpoint, "endpoint name", err)) != 0 ||
        (rc = store_require(name, "deployment name", err)) != 0 ||
        (rc = store_require(spec_json, "deployment spec", err)) != 0)
        return rc;
    rc = 0;
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        store_bind_text(stmt, 1, endpoint) != SQLITE_OK ||
        store_bind_text(stmt, 2, name) != SQLITE_OK ||
        store_bind_text(stmt, 3, spec_json) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 4, generation) != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "set active spec of deployment '%s/%s'", endpoint, name);
    sqlite3_finalize(stmt);
    return rc;
}

int store_deployment_set_state(struct store *st, const char *endpoint, const char *name,
                               int64_t generation, const char *state, const char *reason,
                               struct inf_err *err)
{
    static const char sql[] = "UPDATE deployments SET state = ?3, reason = ?4, updated_at = ?5 "
                              "WHERE endpoint = ?1 AND name = ?2 "
                              "AND (?6 = 0 OR generation = ?6)";
    sqlite3_stmt *stmt = NULL;
    int64_t current = 0;
    int rc;
    if ((rc = store_require(endpoint, "endpoint name", err)) != 0 ||
        (rc = store_require(name, "deployment name", err)) != 0 ||
        (rc = store_require(state, "deployment state", err)) != 0)
        return rc;
    if (generation < 0)
        return inf_err_set(err, INF_EINVAL,
                           "store: set state of deployment '%s/%s': negative generation %lld",
                           endpoint, name, (long long)generation);
    /* One transaction, so a miss is diagnosed against the state it missed. */
    if (store_begin(st) != SQLITE_OK)
        return store_fail(st->db, err, "set state of deployment '%s/%s': begin", endpoint, name);
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        store_bind_text(stmt, 1, endpoint) != SQLITE_OK ||
        store_bind_text(stmt, 2, name) != SQLITE_OK ||
        store_bind_text(stmt, 3, state) != SQLITE_OK ||
        store_bind_text(stmt, 4, reason != NULL ? reason : "") != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 5, inf_unix_now()) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 6, generation) != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE) {
        rc = store_fail(st->db, err, "set state of deployment '%s/%s'", endpoint, name);
        goto fail;
    }
    if (sqlite3_changes(st->db) == 0) {
        int found = deployment_generation(st, endpoint, name, &current);
        if (found == SQLITE_DONE)
            rc = deployment_not_found(endpoint, name, err);
        else if (found == SQLITE_ROW)
            rc = inf_err_set(err, INF_ECONFLICT,
                             "deployment '%s' of endpoint '%s' changed meanwhile: generation is "
                             "%lld, not %lld",
                             name, endpoint, (long long)current, (long long)generation);
        else
            rc = store_fail(st->db, err, "set state of deployment '%s/%s'", endpoint, name);
        goto fail;
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (store_commit(st) != SQLITE_OK) {
        rc = store_fail(st->db, err, "set state of deployment '%s/%s': commit", endpoint, name);
        goto fail;
    }
    return 0;

fail:
    sqlite3_finalize(stmt);
    store_rollback(st->db);
    return rc;
}

int store_deployment_get(struct store *st, const char *endpoint, const char *name,
                         struct store_deployment *out, struct inf_err *err)
{
    static const char sql[] =
        "SELECT " DEPLOYMENT_SELECT " FROM deployments WHERE endpoint = ?1 AND name = ?2";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if (out == NULL)
        return inf_err_set(err, INF_EINVAL, "store: get deployment: no result pointer given");
    memset(out, 0, sizeof(*out));
    if ((rc = store_require(endpoint, "endpoint name", err)) != 0 ||
        (rc = store_require(name, "deployment name", err)) != 0)
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
        rc = store_fail(st->db, err, "get deployment '%s/%s'", endpoint, name);
    sqlite3_finalize(stmt);
    return rc;
}

int store_deployment_list(struct store *st, const char *endpoint, struct store_deployment **out,
                          size_t *n, struct inf_err *err)
{
    static const char sql[] = "SELECT " DEPLOYMENT_SELECT " FROM deployments "
                              "WHERE ?1 IS NULL OR endpoint = ?1 ORDER BY endpoint, name";
    sqlite3_stmt *stmt = NULL;
    void *items = NULL;
    size_t count = 0;
    int rc = 0;
    if (out == NULL || n == NULL)
        return inf_err_set(err, INF_EINVAL, "store: list deployments: no result pointer given");
    *out = NULL;
    *n = 0;
    /* Binding NULL selects every endpoint's deployments. */
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        store_bind_text(stmt, 1, endpoint) != SQLITE_OK ||
        store_collect(stmt, sizeof(**out), deployment_from_row, &items, &count) != SQLITE_OK) {
        if (endpoint != NULL)
            rc = store_fail(st->db, err, "list deployments of endpoint '%s'", endpoint);
        else
            rc = store_fail(st->db, err, "list deployments");
        store_deployment_list_free(items, count);
    } else {
        *out = items;
        *n = count;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_deployment_delete(struct store *st, const char *endpoint, const char *name,
                            struct inf_err *err)
{
    static const char sql[] = "DELETE FROM deployments WHERE endpoint = ?1 AND name = ?2";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(endpoint, "endpoint name", err)) != 0 ||
        (rc = store_require(name, "deployment name", err)) != 0)
        return rc;
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        store_bind_text(stmt, 1, endpoint) != SQLITE_OK ||
        store_bind_text(stmt, 2, name) != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "delete deployment '%s/%s'", endpoint, name);
    else if (sqlite3_changes(st->db) == 0)
        rc = deployment_not_found(endpoint, name, err);
    sqlite3_finalize(stmt);
    return rc;
}

void store_deployment_fini(struct store_deployment *d)
{
    if (d == NULL)
        return;
    free(d->endpoint);
    free(d->name);
    free(d->spec_json);
    free(d->state);
    free(d->reason);
    free(d->active_spec);
    memset(d, 0, sizeof(*d));
}

void store_deployment_list_free(struct store_deployment *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        store_deployment_fini(&list[i]);
    free(list);
}

/* ---- artifacts --------------------------------------------------------- */

/* INF_EINVAL unless id is 64 lower-case hex digits, as inf_sha256_hex writes. */
static int check_sha256(const char *id, struct inf_err *err)
{
    if (id == NULL || strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
        return inf_err_set(err, INF_EINVAL,
                           "store: artifact id '%.80s' is not a lower-case sha256 hex digest",
                           id != NULL ? id : "");
    return 0;
}

int store_artifact_put(struct store *st, const char *sha256, int64_t size_bytes,
                       struct inf_err *err)
{
    static const char sql[] = "INSERT INTO artifacts (id, size, created_at) VALUES (?1, ?2, ?3) "
                              "ON CONFLICT (id) DO NOTHING";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = check_sha256(sha256, err)) != 0)
        return rc;
    if (size_bytes < 0)
        return inf_err_set(err, INF_EINVAL, "store: artifact '%s': negative size %lld", sha256,
                           (long long)size_bytes);
    if (store_prepare(st, sql, &stmt) != SQLITE_OK ||
        store_bind_text(stmt, 1, sha256) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 2, size_bytes) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 3, inf_unix_now()) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "put artifact '%s'", sha256);
    sqlite3_finalize(stmt);
    return rc;
}

int store_artifact_exists(struct store *st, const char *sha256, struct inf_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = check_sha256(sha256, err)) != 0)
        return rc;
    int step = SQLITE_ERROR;
    if (store_prepare(st, "SELECT 1 FROM artifacts WHERE id = ?1", &stmt) == SQLITE_OK &&
        store_bind_text(stmt, 1, sha256) == SQLITE_OK)
        step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        rc = 1;
    else if (step == SQLITE_DONE)
        rc = 0;
    else
        rc = store_fail(st->db, err, "look up artifact '%s'", sha256);
    sqlite3_finalize(stmt);
    return rc;
}

/* ---- metadata ---------------------------------------------------------- */

int store_meta_get(struct store *st, const char *key, char **value, struct inf_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc;
    if (value == NULL)
        return inf_err_set(err, INF_EINVAL, "store: get meta: no result pointer given");
    *value = NULL;
    if ((rc = store_require(key, "meta key", err)) != 0)
        return rc;
    int step = SQLITE_ERROR;
    if (store_prepare(st, "SELECT value FROM meta WHERE key = ?1", &stmt) == SQLITE_OK &&
        store_bind_text(stmt, 1, key) == SQLITE_OK)
        step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        *value = store_column_dup(stmt, 0);
    else if (step == SQLITE_DONE)
        rc = inf_err_set(err, INF_ENOTFOUND, "meta key '%s' not found", key);
    else
        rc = store_fail(st->db, err, "get meta '%s'", key);
    sqlite3_finalize(stmt);
    return rc;
}

int store_meta_set(struct store *st, const char *key, const char *value, struct inf_err *err)
{
    static const char sql[] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    sqlite3_stmt *stmt = NULL;
    int rc;
    if ((rc = store_require(key, "meta key", err)) != 0)
        return rc;
    if (value == NULL)
        return inf_err_set(err, INF_EINVAL, "store: set meta '%s': no value given", key);
    if (store_prepare(st, sql, &stmt) != SQLITE_OK || store_bind_text(stmt, 1, key) != SQLITE_OK ||
        store_bind_text(stmt, 2, value) != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE)
        rc = store_fail(st->db, err, "set meta '%s'", key);
    sqlite3_finalize(stmt);
    return rc;
}
