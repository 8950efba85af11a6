/*
 * scheduler: runs batch jobs. Jobs wait in one FIFO queue for batch
 * capacity (`serve --batch-instances`, instance slots shared by all jobs);
 * the job at the head starts when its instance_count fits. A started job
 * plans its ledger (lists the input files and splits them into
 * mini-batches, once: a resumed job keeps its plan), starts its own
 * instances (`inferd worker --batch`), sends each pending mini-batch to a
 * ready instance (POST /batch), retries failures up to max_retries, counts
 * failed files against error_threshold, and finally joins the results into
 * the output file. Its instances stop when it ends (scale to zero) and the
 * next job in the queue starts.
 *
 * Nothing is lost: the ledger is in the store, every result file is renamed
 * into place by the instance before the ledger marks its mini-batch done,
 * and on start-up every job that had not finished is queued again and runs
 * only what its ledger still has pending.
 *
 * Event-loop thread only; store and file work goes to the server's store
 * thread. The server calls scheduler_tick() at least every 100 ms.
 */
#ifndef INF_BATCH_SCHEDULER_H
#define INF_BATCH_SCHEDULER_H

#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "store/store_batch.h"

struct server;
struct scheduler;

/* The folder of job `id` under the server's home (heap string). */
char *scheduler_job_dir(const struct server *srv, const char *id);

/* A scheduler with `capacity` instance slots (>= 1). */
struct scheduler *scheduler_new(struct server *srv, int capacity);
/* Frees it; call after scheduler_stop() once scheduler_idle() is 1. */
void scheduler_free(struct scheduler *sch);
/* Instance slots in total. */
int scheduler_capacity(const struct scheduler *sch);

/* Start-up: queues every job the store has that had not finished, in
 * submission order. */
int scheduler_restore(struct scheduler *sch, struct inf_err *err);

/* Queues a job just created in the store (status Queued). */
void scheduler_submit(struct scheduler *sch, const struct store_job *job);

/* Cancels an unfinished job: its mini-batches in flight are abandoned, its
 * instances stop, the output is joined from what finished, and its status
 * becomes Canceled. The store writes are queued on the store thread, so a
 * read queued after this call sees them. INF_ENOTFOUND when the job is not
 * running or queued here (it has finished). */
int scheduler_cancel(struct scheduler *sch, const char *id, struct inf_err *err);

/* The id of an unfinished job of `endpoint` (and of `deployment` when not
 * NULL), or NULL. Borrowed until the next scheduler call. */
const char *scheduler_active_job(const struct scheduler *sch, const char *endpoint,
                                 const char *deployment);

/* Adds what only memory knows to a job's JSON view, when the job is
 * unfinished here: status (fresher than the store's), progress.running,
 * progress.pending and queue_position (1 = next to start, 0 if started). */
void scheduler_annotate(const struct scheduler *sch, json_t *job_view);

/* Timers: deadlines of mini-batches in flight, instances that stay
 * unavailable, starting queued jobs. */
void scheduler_tick(struct scheduler *sch, uint64_t now_ms);

/* Shutdown: abandons mini-batches in flight (they are pending in the ledger
 * and run again after a restart) and stops every job's instances. */
void scheduler_stop(struct scheduler *sch);

/* 1 when no store task or instance set of the scheduler is outstanding. */
int scheduler_idle(const struct scheduler *sch);

#endif
