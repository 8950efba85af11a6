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

/* The newest schema version this build knows. */
int migrate_latest(void);

#endif
