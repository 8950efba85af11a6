/*
 * outputs: the files a batch job leaves behind, in its folder
 * `<home>/jobs/<id>/`:
 *
 *   results/<idx>.csv      one per finished mini-batch (append_row), written
 *                          by the instance (temp file, fsync, rename)
 *   outputs/score/<file>   the output file: the results joined in
 *                          mini-batch order (unless the job writes to a
 *                          datastore output path)
 *   logs/job_progress_overview.txt, logs/user/error.txt,
 *   logs/user/instance-<i>.log, logs/user/instance-<i>/process-<pid>.*.txt
 *
 * Blocking file I/O: the store thread, never the event loop. No globals.
 */
#ifndef INF_BATCH_OUTPUTS_H
#define INF_BATCH_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"

/* The result file of mini-batch idx under job_dir (heap string). */
char *outputs_result_path(const char *job_dir, int64_t idx);

/* Writes out_path from the result files of mini-batches idx[0..n) joined in
 * that order: to a temporary file beside it, fsync, rename, fsync of the
 * folder (created if needed). A missing result file is INF_EIO naming it.
 * *bytes (if non-NULL) gets the size written. */
int outputs_join(const char *job_dir, const int64_t *idx, size_t n, const char *out_path,
                 int64_t *bytes, struct inf_err *err);

/* Appends text to the log file at path (folders created, mode 0600). */
int outputs_append_log(const char *path, const char *text, struct inf_err *err);

/* The regular files under dir (recursively), as a new JSON array of
 * {"path": "<prefix>/<relative path>", "size": N} sorted by path; an empty
 * array when dir is missing. */
json_t *outputs_list(const char *dir, const char *prefix);

#endif
