/*
 * pool: the store thread. Blocking work (SQLite, artifact extraction, log
 * reads) runs here, one task at a time in submission order, with the
 * thread's own store connection; each task's completion runs back on the
 * event loop, woken through h2o's multithread queue.
 */
#ifndef INF_SERVER_POOL_H
#define INF_SERVER_POOL_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/multithread.h>

#include "core/err.h"
#include "store/store.h"

struct pool_task;
/* Runs on the store thread. */
typedef void (*pool_work_fn)(struct pool_task *task, struct store *st);
/* Runs on the event loop after work; may free the task. */
typedef void (*pool_done_fn)(struct pool_task *task);

struct pool_task {
    h2o_multithread_message_t msg; /* first: the queue links tasks through it */
    pool_work_fn work;
    pool_done_fn done;
    struct pool_task *next;
};

struct pool;

/* Starts the thread, which opens its own connection to db_path. */
struct pool *pool_new(h2o_multithread_queue_t *queue, const char *db_path, struct inf_err *err);
/* Queues a task (event-loop thread). The task's memory is the caller's. */
void pool_submit(struct pool *p, struct pool_task *task);
/* Number of tasks submitted whose done has not run yet. */
int pool_pending(const struct pool *p);
/* Finishes queued work, stops the thread, closes its connection. Completions
 * still queued are dropped: call only when pool_pending() is 0. */
void pool_free(struct pool *p);

#endif
