/*
 * store_batch: batch endpoints, batch deployments and jobs with their
 * ledger of mini-batches, in the same SQLite database as store.h (schema
 * version 3). One `struct store` connection, one thread at a time, as in
 * store.h. Specs are JSON text the store does not interpret.
 *
 * The ledger is what makes a job survive a crash: a job's mini-batches are
 * planned once (store_job_plan, one transaction), and each one moves
 * pending → done | failed exactly once (store_job_minibatch_finish). A
 * restarted server reads the ledger back and runs only what is pending.
 */
#ifndef INF_STORE_STORE_BATCH_H
#define INF_STORE_STORE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

struct store_batch_endpoint {
    char *name;
    char *spec_json; /* normalised batch endpoint spec (defaults.deployment_name inside) */
    int64_t created_at;
    int64_t updated_at;
};

struct store_batch_deployment {
    char *endpoint;
    char *name;
    char *spec_json; /* normalised batch deployment spec */
    int64_t created_at;
    int64_t updated_at;
};

/* Inserts or replaces (created_at kept on replace). */
int store_batch_endpoint_put(struct store *st, const char *name, const char *spec_json,
                             struct inf_err *err);
/* Fills *out (store_batch_endpoint_fini); INF_ENOTFOUND if absent. */
int store_batch_endpoint_get(struct store *st, const char *name, struct store_batch_endpoint *out,
                             struct inf_err *err);
/* All batch endpoints ordered by name (store_batch_endpoint_list_free). */
int store_batch_endpoint_list(struct store *st, struct store_batch_endpoint **out, size_t *n,
                              struct inf_err *err);
/* Deletes the endpoint with its deployments and its jobs (and their
 * ledgers), in one transaction; INF_ENOTFOUND if absent. */
int store_batch_endpoint_delete(struct store *st, const char *name, struct inf_err *err);
void store_batch_endpoint_fini(struct store_batch_endpoint *e);
void store_batch_endpoint_list_free(struct store_batch_endpoint *list, size_t n);

/* Inserts or replaces a deployment; the endpoint must exist (INF_ENOTFOUND
 * naming it otherwise). */
int store_batch_deployment_put(struct store *st, const char *endpoint, const char *name,
                               const char *spec_json, struct inf_err *err);
int store_batch_deployment_get(struct store *st, const char *endpoint, const char *name,
                               struct store_batch_deployment *out, struct inf_err *err);
/* Deployments of one endpoint ordered by name. */
int store_batch_deployment_list(struct store *st, const char *endpoint,
                                struct store_batch_deployment **out, size_t *n,
                                struct inf_err *err);
/* INF_ENOTFOUND if absent. Jobs that named it are kept. */
int store_batch_deployment_delete(struct store *st, const char *endpoint, const char *name,
                                  struct inf_err *err);
void store_batch_deployment_fini(struct store_batch_deployment *d);
void store_batch_deployment_list_free(struct store_batch_deployment *list, size_t n);

/* Job statuses (COMPAT.md). Terminal: Completed, Failed, Canceled. */
#define JOB_NOT_STARTED "NotStarted"
#define JOB_QUEUED "Queued"
#define JOB_PREPARING "Preparing"
#define JOB_RUNNING "Running"
#define JOB_FINALIZING "Finalizing"
#define JOB_COMPLETED "Completed"
#define JOB_FAILED "Failed"
#define JOB_CANCELED "Canceled"

/* Mini-batch statuses in the ledger. */
#define MINIBATCH_PENDING "pending"
#define MINIBATCH_DONE "done"
#define MINIBATCH_FAILED "failed"

struct store_job {
    int64_t seq; /* submission order (FIFO), assigned by store_job_create */
    char *id;
    char *endpoint;
    char *deployment;
    char *spec_json; /* the job: input, effective settings, deployment spec snapshot */
    char *status;
    char *reason;       /* why it failed or was canceled, "" otherwise */
    int64_t created_at; /* unix seconds */
    int64_t started_at; /* first time it left Queued (Preparing), 0 if not yet */
    int64_t ended_at;   /* when it reached a terminal status, 0 if not yet */
    /* From the ledger (sums over its mini-batches): */
    int64_t mini_batches; /* planned, 0 before store_job_plan */
    int64_t files;        /* files in all mini-batches */
    int64_t mb_done;
    int64_t mb_failed;
    int64_t files_failed; /* sum of `failed` over finished mini-batches */
    int64_t rows;         /* sum of `rows` over done mini-batches */
};

/* Creates a job with status `status`, created_at now. INF_ECONFLICT if a
 * job with this id exists ("job 'x' already exists"). *seq_out (if
 * non-NULL) gets its seq. */
int store_job_create(struct store *st, const char *id, const char *endpoint, const char *deployment,
                     const char *spec_json, const char *status, int64_t *seq_out,
                     struct inf_err *err);
/* Fills *out (store_job_fini) with the ledger sums; INF_ENOTFOUND if absent. */
int store_job_get(struct store *st, const char *id, struct store_job *out, struct inf_err *err);
/* Jobs ordered by seq: of one endpoint, or all when endpoint is NULL; with
 * active_only, only those not in a terminal status. Ledger sums filled. */
int store_job_list(struct store *st, const char *endpoint, int active_only, struct store_job **out,
                   size_t *n, struct inf_err *err);
/* Sets status and reason. Leaving NotStarted/Queued for the first time
 * stamps started_at; a terminal status stamps ended_at. INF_ENOTFOUND if
 * absent. */
int store_job_set_status(struct store *st, const char *id, const char *status, const char *reason,
                         struct inf_err *err);
/* Deletes the job and its ledger; INF_ENOTFOUND if absent. */
int store_job_delete(struct store *st, const char *id, struct inf_err *err);
void store_job_fini(struct store_job *j);
void store_job_list_free(struct store_job *list, size_t n);

struct store_minibatch {
    int64_t idx;      /* 0-based, the order of the output */
    char *files_json; /* JSON array of the files (as planned) */
    int64_t nfiles;
    char *status;   /* pending, done, failed */
    int attempts;   /* attempts that ended (failed ones and the final one) */
    int64_t rows;   /* output rows written (done) */
    char *segment;  /* done, append_row: the results file holding its rows */
    int64_t offset; /* where they start in it */
    int64_t bytes;  /* and how many bytes they take */
    int64_t succeeded;
    int64_t failed; /* files counted as failed */
    char *error;    /* the last attempt's error, "" if none */
};

/* Plans the job's ledger: n mini-batches, files_json[i] a JSON array and
 * nfiles[i] its length, all pending, in one transaction. INF_ECONFLICT if
 * the job already has a ledger; INF_ENOTFOUND if the job is absent. */
int store_job_plan(struct store *st, const char *id, const char *const *files_json,
                   const int64_t *nfiles, size_t n, struct inf_err *err);
/* The job's mini-batches ordered by idx (store_minibatch_list_free). */
int store_job_minibatches(struct store *st, const char *id, struct store_minibatch **out, size_t *n,
                          struct inf_err *err);
/* Records an attempt that failed and will be retried: attempts and error. */
int store_job_minibatch_retry(struct store *st, const char *id, int64_t idx, int attempts,
                              const char *error, struct inf_err *err);
/* How a mini-batch ended, for store_job_minibatch_finish. */
struct store_minibatch_end {
    const char *status; /* MINIBATCH_DONE or MINIBATCH_FAILED */
    int attempts;
    int64_t rows, succeeded, failed;
    const char *segment; /* where its rows are (done, append_row), or NULL */
    int64_t offset, bytes;
    const char *error; /* or NULL */
};

/* Finishes a pending mini-batch as `end` says. INF_ECONFLICT if it is not
 * pending (never finished twice); INF_EINVAL for a bad status or a
 * negative count. */
int store_job_minibatch_finish(struct store *st, const char *id, int64_t idx,
                               const struct store_minibatch_end *end, struct inf_err *err);
/* Finishes n pending mini-batches, idx[i] as ends[i] says, in one
 * transaction (a server records finishes in batches). Arguments are checked
 * first (INF_EINVAL, nothing written). A mini-batch that is not pending is
 * skipped and reported (the first such as INF_ECONFLICT or INF_ENOTFOUND)
 * while the others are written. */
int store_job_minibatch_finish_many(struct store *st, const char *id, const int64_t *idx,
                                    const struct store_minibatch_end *ends, size_t n,
                                    struct inf_err *err);
/* Puts a done mini-batch back to pending (its rows were lost, e.g. by a
 * power cut before they reached the disk): counts cleared, attempts
 * kept. INF_ENOTFOUND if absent; a pending one is left as it is. */
int store_job_minibatch_reset(struct store *st, const char *id, int64_t idx, struct inf_err *err);
void store_minibatch_list_free(struct store_minibatch *list, size_t n);

#endif
