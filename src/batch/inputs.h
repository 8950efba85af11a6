/*
 * inputs: where a batch job's data is and how it is cut up. Resolves an
 * input or output reference ("artifact:<sha256>[/path]" or
 * "azureml://datastores/<name>/paths/<path>") to a real path on this
 * machine, refusing anything that leaves its root; lists a folder's files
 * recursively in a stable order; splits them into mini-batches.
 *
 * Filesystem work that blocks: the store thread (or the CLI), never the
 * event loop. No globals.
 */
#ifndef INF_BATCH_INPUTS_H
#define INF_BATCH_INPUTS_H

#include <stddef.h>

#include <jansson.h>

#include "core/err.h"

#define INPUTS_DATASTORE_PREFIX "azureml://datastores/"
#define INPUTS_MAX_FILES 1000000

/* A folder the server lets jobs read and write (`serve --datastore NAME=DIR`). */
struct datastore {
    char *name;
    char *dir; /* absolute, resolved */
};

/* Parses "NAME=DIR" (DIR must be an existing folder) into *out (heap
 * strings; inputs_datastore_fini). INF_EINVAL naming the value otherwise. */
int inputs_datastore_parse(const char *arg, struct datastore *out, struct inf_err *err);
void inputs_datastore_fini(struct datastore *ds);

/* Resolves `ref` to a real absolute path (*path, heap). "artifact:<sha>"
 * and "artifact:<sha>/<rel>" are under artifacts_dir; datastore URIs under
 * the named datastore's folder. With must_exist the path must exist (as a
 * folder for want_dir 1, a regular file for want_dir 0); without it (an
 * output folder) the longest existing prefix must stay inside the root and
 * the rest is appended. Errors (INF_EINVAL: malformed, unknown datastore,
 * "..", escaping links; INF_ENOTFOUND: missing) name `field` and ref. */
int inputs_resolve(const char *ref, const char *field, const char *artifacts_dir,
                   const struct datastore *stores, size_t nstores, int must_exist, int want_dir,
                   char **path, struct inf_err *err);

/* Lists the regular files under dir, recursing into sub-folders, as paths
 * relative to dir sorted bytewise (so "a/x" < "b" and runs repeat exactly).
 * Hidden entries (a name starting with '.') are skipped; symbolic links are
 * followed only to regular files inside dir. *files is a new JSON array of
 * strings. INF_ETOOBIG past max_files, INF_EIO for an unreadable folder. */
int inputs_list(const char *dir, size_t max_files, json_t **files, struct inf_err *err);

/* Splits `files` (array of strings) into consecutive mini-batches of
 * `size` (the last may be shorter): a new JSON array of arrays. */
json_t *inputs_split(const json_t *files, size_t size);

#endif
