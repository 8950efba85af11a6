/*
 * store_int: declarations shared by the store's own files (store.c,
 * store_batch.c and migrate.c). Not for use outside src/store/.
 */
#ifndef INF_STORE_STORE_INT_H
#define INF_STORE_STORE_INT_H

#include <sqlite3.h>

#include "core/err.h"

/* One connection (see store.h), opened by store_open() and closed by
 * store_close() in store.c. */
struct store {
    sqlite3 *db;
    int schema_version;
};

/* Fills err with INF_ESTORE and "store: <what>: <sqlite3_errmsg(db)>", where
 * <what> is the printf-style operation description. Returns INF_ESTORE. Call
 * it before anything else touches db, or the SQLite message is lost. */
int store_fail(sqlite3 *db, struct inf_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Rolls back the open transaction on db, if any (SQLite may already have
 * rolled back on its own, e.g. after SQLITE_FULL). */
void store_rollback(sqlite3 *db);

/* Brings the database at db (opened from path, used only in messages) up to
 * the newest schema this build knows, one transaction per migration, and
 * stores the resulting version in *version. A database newer than this build
 * is refused with INF_ESTORE and left untouched. */
int migrate_run(sqlite3 *db, const char *path, int *version, struct inf_err *err);

/* store.c: small SQLite helpers shared by the store's files. */

/* BEGIN IMMEDIATE / COMMIT on st's connection; SQLite result codes. */
int store_begin(struct store *st);
int store_commit(struct store *st);
/* sqlite3_prepare_v2 of sql on st's connection. */
int store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt);
/* Binds s without copying it: bound strings outlive their statement. */
int store_bind_text(sqlite3_stmt *stmt, int index, const char *s);
/* A fresh copy of a text column; SQL NULL reads as "" so callers never see
 * a NULL string. */
char *store_column_dup(sqlite3_stmt *stmt, int col);
/* INF_EINVAL unless s is a non-empty string; what names it in the message. */
int store_require(const char *s, const char *what, struct inf_err *err);

typedef void (*store_row_fn)(sqlite3_stmt *stmt, void *dst);

/* Steps stmt to the end, converting each row with from_row into a growing
 * array of elem_size-byte elements (zeroed before conversion). *out and *n
 * get whatever was read, also on failure, for the caller to free. Returns an
 * SQLite code: SQLITE_OK when every row was read. */
int store_collect(sqlite3_stmt *stmt, size_t elem_size, store_row_fn from_row, void **out,
                  size_t *n);

/* The newest schema version this build knows. */
int migrate_latest(void);

#endif
