/*
 * outputs: the files a batch job leaves behind, in its folder
 * `<home>/jobs/<id>/`:
 *
 *   results/seg-<pid>.csv  the rows of finished mini-batches (append_row),
 *                          appended by each scoring process; the ledger
 *                          records each mini-batch's range
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

/* Where a done mini-batch's rows are: `bytes` bytes at `offset` in the
 * results segment `segment` (a file name in <job_dir>/results/). Each
 * scoring process appends to its own segment, so a mini-batch costs one
 * write(2) rather than a new file. */
struct outputs_range {
    const char *segment;
    int64_t offset;
    int64_t bytes;
};

/* The folder of a job's result segments (heap string). */
char *outputs_results_dir(const char *job_dir);

/* 1 if r names a plain file in the results folder that holds all of its
 * bytes (after a power cut, appended data that never reached the disk is
 * missing: the mini-batch must run again). */
int outputs_range_intact(const char *job_dir, const struct outputs_range *r);

/* Writes out_path from the ranges r[0..n) in that order: to a temporary
 * file beside it, fsync, rename, fsync of the folder (created if needed).
 * A segment that is missing, short or badly named is INF_EIO naming it.
 * *bytes (if non-NULL) gets the size written. */
int outputs_join(const char *job_dir, const struct outputs_range *r, size_t n, const char *out_path,
                 int64_t *bytes, struct inf_err *err);

/* Appends text to the log file at path (folders created, mode 0600). */
int outputs_append_log(const char *path, const char *text, struct inf_err *err);

/* The regular files under dir (recursively), as a new JSON array of
 * {"path": "<prefix>/<relative path>", "size": N} sorted by path; an empty
 * array when dir is missing. */
json_t *outputs_list(const char *dir, const char *prefix);

#endif
