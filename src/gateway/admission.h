/*
 * admission: how many requests a deployment takes at once, and what waits.
 *
 * A deployment runs at most `capacity` requests (instances x
 * max_concurrent_requests_per_instance); further requests wait in a FIFO
 * up to max_queue_wait_ms and then get 429; when running + waiting already
 * reaches 2 x capacity a new request gets 429 at once. Requests admitted
 * are tracked until they finish so the gateway can enforce
 * request_timeout_ms. Event-loop thread only; deadlines are checked by
 * admission_tick, which the server calls at least every 50 ms.
 */
#ifndef INF_GATEWAY_ADMISSION_H
#define INF_GATEWAY_ADMISSION_H

#include <stdint.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

enum admit { ADMIT_NOW, ADMIT_QUEUED, ADMIT_REJECT };

/* Why a ticket's callback runs. */
enum ticket_event {
    TICKET_ADMITTED,  /* a queued ticket got capacity: forward the request now */
    TICKET_QUEUE_TIMEOUT, /* waited max_queue_wait_ms: answer 429 */
    TICKET_DEADLINE,  /* admitted, not finished by its deadline: answer 408 */
    TICKET_GONE,      /* the deployment is going away: answer 503 */
};

struct ticket;
typedef void (*ticket_cb)(struct ticket *t, enum ticket_event ev);

/* One request's place in a deployment's admission: embedded in the
 * request's context, linked into a queue or the running list. */
struct ticket {
    h2o_linklist_t link;
    ticket_cb cb;
    uint64_t enqueued_ms;
    uint64_t queue_deadline_ms; /* while queued */
    uint64_t deadline_ms;       /* once admitted: request_timeout_ms from admission */
    uint64_t timeout_ms;
    int running;
};

struct admission;

struct admission *admission_new(void);
/* Calls every ticket's callback with TICKET_GONE, then frees. NULL: no-op. */
void admission_free(struct admission *a);

/* Asks for capacity. ADMIT_NOW: t is running (deadline = now + timeout_ms);
 * ADMIT_QUEUED: t waits, its callback runs later with TICKET_ADMITTED or
 * TICKET_QUEUE_TIMEOUT; ADMIT_REJECT: nothing was linked. */
enum admit admission_enter(struct admission *a, struct ticket *t, int capacity,
                           uint64_t max_wait_ms, uint64_t timeout_ms, ticket_cb cb);

/* A running ticket finished (or gave up): frees its slot and admits the
 * next waiter, if capacity allows. Safe to call from a ticket callback. */
void admission_leave(struct admission *a, struct ticket *t, int capacity);

/* Expires queued tickets and running tickets past their deadline. */
void admission_tick(struct admission *a, uint64_t now_ms);

/* Running and waiting counts, for metrics and messages. */
int admission_running(const struct admission *a);
int admission_waiting(const struct admission *a);

#endif
