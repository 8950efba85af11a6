/*
 * pool: one store thread with a FIFO of tasks. The event loop submits; the
 * thread runs work(), then hands the task back through an h2o multithread
 * receiver, whose callback (on the loop) runs done(). Lifecycle: pool_new
 * starts the thread; pool_free asks it to finish the queue and joins it.
 */
#include "server/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/util.h"

struct pool {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pool_task *head, *tail;
    int quit;
    int pending; /* loop thread only */
    char *db_path;
    struct store *store;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
};

static void on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct pool *p = H2O_STRUCT_FROM_MEMBER(struct pool, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        struct pool_task *task = (struct pool_task *)msg;
        p->pending--;
        task->done(task);
    }
}

static void *thread_main(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->head == NULL && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        struct pool_task *task = p->head;
        if (task == NULL) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        p->head = task->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        task->work(task, p->store);
        h2o_multithread_send_message(&p->receiver, &task->msg);
    }
    return NULL;
}

struct pool *pool_new(h2o_multithread_queue_t *queue, const char *db_path, struct inf_err *err)
{
    struct pool *p = inf_calloc(1, sizeof(*p));
    p->queue = queue;
    p->db_path = inf_strdup(db_path);
    if (store_open(db_path, &p->store, err) != 0)
        goto fail;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    h2o_multithread_register_receiver(queue, &p->receiver, on_done);
    /* The thread must not take the signals the event loop handles. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, thread_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        inf_err_set(err, INF_EINTERNAL, "cannot start the store thread: %s", inf_strerror(rc));
        h2o_multithread_unregister_receiver(queue, &p->receiver);
        store_close(p->store);
        goto fail;
    }
    return p;
fail:
    free(p->db_path);
    free(p);
    return NULL;
}

void pool_submit(struct pool *p, struct pool_task *task)
{
    task->next = NULL;
    task->msg.link.next = task->msg.link.prev = NULL;
    p->pending++;
    pthread_mutex_lock(&p->mu);
    if (p->tail != NULL)
        p->tail->next = task;
    else
        p->head = task;
    p->tail = task;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int pool_pending(const struct pool *p)
{
    return p->pending;
}

void pool_free(struct pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    h2o_multithread_unregister_receiver(p->queue, &p->receiver);
    store_close(p->store);
    free(p->db_path);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
