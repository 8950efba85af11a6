/*
 * admission: per-deployment concurrency limit, FIFO queue and deadlines.
 * Event-loop thread only. A ticket is in exactly one place at a time: the
 * queue, the running list, or nowhere (after its final callback).
 */
#include "gateway/admission.h"

#include <stdlib.h>

#include "core/util.h"

struct admission {
    h2o_linklist_t queue;   /* waiting tickets, oldest first */
    h2o_linklist_t running; /* admitted tickets, oldest deadline first-ish */
    int n_running;
    int n_waiting;
};

struct admission *admission_new(void)
{
    struct admission *a = inf_calloc(1, sizeof(*a));
    h2o_linklist_init_anchor(&a->queue);
    h2o_linklist_init_anchor(&a->running);
    return a;
}

static struct ticket *first(h2o_linklist_t *anchor)
{
    return H2O_STRUCT_FROM_MEMBER(struct ticket, link, anchor->next);
}

static void start(struct admission *a, struct ticket *t, uint64_t now)
{
    t->running = 1;
    t->deadline_ms = now + t->timeout_ms;
    h2o_linklist_insert(&a->running, &t->link);
    a->n_running++;
}

void admission_free(struct admission *a)
{
    if (a == NULL)
        return;
    while (!h2o_linklist_is_empty(&a->queue)) {
        struct ticket *t = first(&a->queue);
        h2o_linklist_unlink(&t->link);
        a->n_waiting--;
        t->cb(t, TICKET_GONE);
    }
    while (!h2o_linklist_is_empty(&a->running)) {
        struct ticket *t = first(&a->running);
        h2o_linklist_unlink(&t->link);
        a->n_running--;
        t->running = 0;
        t->cb(t, TICKET_GONE);
    }
    free(a);
}

enum admit admission_enter(struct admission *a, struct ticket *t, int capacity,
                           uint64_t max_wait_ms, uint64_t timeout_ms, ticket_cb cb)
{
    uint64_t now = inf_now_ms();
    t->cb = cb;
    t->timeout_ms = timeout_ms;
    t->enqueued_ms = now;
    t->running = 0;
    if (capacity < 1)
        capacity = 1;
    if (a->n_running < capacity && a->n_waiting == 0) {
        start(a, t, now);
        return ADMIT_NOW;
    }
    if (a->n_running + a->n_waiting >= 2 * capacity || max_wait_ms == 0)
        return ADMIT_REJECT;
    t->queue_deadline_ms = now + max_wait_ms;
    h2o_linklist_insert(&a->queue, &t->link);
    a->n_waiting++;
    return ADMIT_QUEUED;
}

void admission_leave(struct admission *a, struct ticket *t, int capacity)
{
    if (t->running) {
        h2o_linklist_unlink(&t->link);
        t->running = 0;
        a->n_running--;
    }
    if (capacity < 1)
        capacity = 1;
    uint64_t now = inf_now_ms();
    while (a->n_running < capacity && !h2o_linklist_is_empty(&a->queue)) {
        struct ticket *next = first(&a->queue);
        h2o_linklist_unlink(&next->link);
        a->n_waiting--;
        start(a, next, now);
        next->cb(next, TICKET_ADMITTED);
    }
}

void admission_tick(struct admission *a, uint64_t now_ms)
{
    /* The queue is FIFO with one max_wait per deployment: expired tickets
     * are at its head. */
    while (!h2o_linklist_is_empty(&a->queue)) {
        struct ticket *t = first(&a->queue);
        if (t->queue_deadline_ms > now_ms)
            break;
        h2o_linklist_unlink(&t->link);
        a->n_waiting--;
        t->cb(t, TICKET_QUEUE_TIMEOUT);
    }
    /* Deadlines differ when the timeout changes with an update: scan. The
     * callback must leave (unlinking t), so restart from the head. */
    h2o_linklist_t *node = a->running.next;
    while (node != &a->running) {
        struct ticket *t = H2O_STRUCT_FROM_MEMBER(struct ticket, link, node);
        node = node->next;
        if (t->deadline_ms <= now_ms) {
            t->cb(t, TICKET_DEADLINE);
            node = a->running.next;
        }
    }
}

int admission_running(const struct admission *a)
{
    return a->n_running;
}

int admission_waiting(const struct admission *a)
{
    return a->n_waiting;
}
