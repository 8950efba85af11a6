/*
 * prefork: the worker's pool of scoring processes, for BACKEND_PREFORK
 * backends (python). After the backend loaded in the worker's main process,
 * the pool forks N children that share the loaded model copy-on-write; each
 * scores one request at a time, so a slow request does not block the
 * others and a request that runs too long is stopped by killing its child.
 *
 * The parent talks to each child over its own socketpair with small
 * length-prefixed frames (the codec below), from the worker's h2o event
 * loop. Requests go to an idle child or wait in a FIFO. A child that times
 * out is killed; a child that dies is reaped; both are replaced by a new
 * fork of the parent, which still holds the initialised backend.
 */
#ifndef INF_WORKER_PREFORK_H
#define INF_WORKER_PREFORK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <h2o.h>

#include "backends/backend.h"
#include "core/err.h"

#define PREFORK_MAX_CHILDREN 64
/* Longest per-request timeout: a batch mini-batch may run for a day (online
 * request timeouts are capped lower by the spec and the worker). */
#define PREFORK_MAX_TIMEOUT_MS 86400000
/* Largest response body a child may send back. */
#define PREFORK_MAX_RESPONSE_BYTES ((size_t)256 * 1024 * 1024)
/* A pool whose children die this many times within the window before
 * they are ready to serve gives up (prefork_failure()). */
#define PREFORK_START_DEATHS_MAX 5
#define PREFORK_START_DEATHS_WINDOW_MS 1000

struct prefork_config {
    const struct backend_ops *backend; /* loaded in this process; flags BACKEND_PREFORK */
    void *backend_state;               /* what backend->load() returned */
    unsigned n_children;               /* 1..PREFORK_MAX_CHILDREN */
    int timeout_ms;        /* per request, from dispatch to answer: 1..PREFORK_MAX_TIMEOUT_MS */
    size_t max_body_bytes; /* largest request body (the worker's --max-body-bytes) */
    const char *process_log_dir; /* or NULL: each child appends its stdout and stderr to
                                    DIR/process-<pid>.stdout.txt and .stderr.txt (copied) */
};

/* How a request ended, given to its completion callback. */
struct prefork_result {
    /* 0: res is the backend's answer (any status).
     * INF_EINTERNAL: the backend's score() returned an error; res is empty.
     * INF_ETIMEOUT, INF_EUPSTREAM (the child died or misbehaved),
     * INF_EUNAVAIL (the pool is stopping or failed): res is the pool's
     * answer, a 500 or 503 with a JSON body {"message": "..."}. */
    int rc;
    struct backend_response res;
    uint64_t exec_us; /* time in score() as the child measured it, else since dispatch */
    pid_t pid;        /* the child that handled it, 0 if none */
};

/* Called once per submitted job, on the event-loop thread, never from
 * inside prefork_submit(). result (and its body) is borrowed for the call.
 * The callback may submit or cancel other jobs, not its own. */
typedef void (*prefork_done_fn)(void *data, const struct prefork_result *result);

struct prefork;
struct prefork_job;

/* A pool for cfg (copied; the backend is borrowed and must outlive the
 * pool). Records the file descriptors open now as the ones the backend may
 * use: children keep those and close every other fd but 0, 1 and 2, so
 * create the pool right after backend->load(), before opening sockets.
 * Creates cfg->process_log_dir if set (mkdir -p, mode 0700). Forks nothing
 * yet. Returns NULL with err on a bad config, when the log folder cannot be
 * created or when /proc/self/fd cannot be read. Main thread. */
struct prefork *prefork_new(const struct prefork_config *cfg, struct inf_err *err);

/* Forks the children, whose sockets join loop. Returns 0, or INF_EIO with
 * err if one could not be forked (prefork_free then stops the others).
 * Call once. Event-loop thread, as every function below. */
int prefork_start(struct prefork *p, h2o_evloop_t *loop, struct inf_err *err);

/* Queues req (copied) for the next idle child; done(data, result) is
 * called when it ends. On success returns 0 and *job, a handle valid until
 * done is called or the job is cancelled. Returns INF_ETOOBIG (body over
 * max_body_bytes, or a field over its cap), INF_EINVAL (a header name or
 * value that cannot be framed) or INF_EUNAVAIL (stopping or failed),
 * with err; done is then never called. */
int prefork_submit(struct prefork *p, const struct backend_request *req, prefork_done_fn done,
                   void *data, struct prefork_job **job, struct inf_err *err);

/* Forgets job's callback (the client went away): a queued job is dropped,
 * a running one finishes in its child and its answer is discarded. */
void prefork_cancel(struct prefork_job *job);

/* Reaps children that exited (waitpid per child pid, WNOHANG), answers
 * their requests and forks replacements. Call on SIGCHLD; the pool also
 * reaps by itself when a child's socket closes. */
void prefork_reap(struct prefork *p);

/* Children started and ready for requests (the worker is ready when > 0). */
unsigned prefork_ready(const struct prefork *p);

/* Requests queued for a child. */
size_t prefork_queued(const struct prefork *p);

/* NULL while the pool works; otherwise why it gave up: children died
 * PREFORK_START_DEATHS_MAX times within PREFORK_START_DEATHS_WINDOW_MS
 * before being ready (or could not be forked). A failed pool forks no
 * more and refuses new jobs; the worker should exit non-zero so the
 * supervisor restarts the instance with its backoff. */
const char *prefork_failure(const struct prefork *p);

/* Shutdown: answers every queued and running job with 503, kills the
 * children running one (SIGKILL), closes the others' sockets (they exit on
 * EOF), waits up to 2 s for them, kills the rest and reaps all. Blocks;
 * idempotent. */
void prefork_stop(struct prefork *p);

/* Stops (if needed) and frees the pool; NULL is a no-op. Call before
 * destroying the event loop. Does not unload the backend. */
void prefork_free(struct prefork *p);

/* ---- frames between the worker and a child (exported for tests) ----
 *
 * Every frame starts with a 40-byte header of little-endian integers,
 * then its payload. Strings travel with their length and a NUL after
 * them, and may not contain NUL.
 *
 * Request (worker to child):
 *    0  "IFRQ"             4  u32 version (1)
 *    8  u32 method_len    12  u32 path_len       16  u32 query_len
 *   20  u32 content_type_len   24  u32 request_id_len   28  u32 headers_len
 *   32  u64 body_len
 *   40  method NUL path NUL query NUL content_type NUL request_id NUL
 *       headers NUL body NUL
 *   headers is "name: value\n" per request header, in order.
 *
 * Reply (child to worker):
 *    0  "IFRP"             4  u32 kind (enum prefork_reply_kind)
 *    8  u32 status        12  u32 content_type_len   16  u32 extra_headers_len
 *   20  u32 0             24  u64 exec_us            32  u64 body_len
 *   40  content_type NUL extra_headers NUL body
 *   hello and failed replies have status 0 and empty fields.
 */

#define PREFORK_FRAME_HEADER_BYTES 40

enum prefork_reply_kind {
    PREFORK_REPLY_HELLO = 1,    /* the child is ready */
    PREFORK_REPLY_RESPONSE = 2, /* score() answered res */
    PREFORK_REPLY_FAILED = 3,   /* score() returned an error */
};

struct prefork_reply {
    enum prefork_reply_kind kind;
    uint64_t exec_us;
    struct backend_response res; /* PREFORK_REPLY_RESPONSE only */
};

/* Encodes req into a fresh heap frame (*frame, caller frees) of *frame_len
 * bytes. INF_ETOOBIG when the body exceeds max_body_bytes or a field its
 * cap, INF_EINVAL for a header that cannot be framed (empty name, ':' in
 * the name, NUL or newline in either), with err. */
int prefork_request_encode(const struct backend_request *req, size_t max_body_bytes, char **frame,
                           size_t *frame_len, struct inf_err *err);

/* From a request frame's first PREFORK_FRAME_HEADER_BYTES bytes, the
 * frame's whole length. INF_EINVAL (bad magic or version) or INF_ETOOBIG
 * (a length over its cap) with err. */
int prefork_request_size(const char *header, size_t max_body_bytes, size_t *frame_len,
                         struct inf_err *err);

/* Decodes a whole request frame in place: req's strings and body point
 * into frame (which must outlive req), req->headers is a heap array the
 * caller frees with free(). INF_EINVAL or INF_ETOOBIG with err for a
 * malformed frame (req is then untouched). */
int prefork_request_decode(char *frame, size_t frame_len, size_t max_body_bytes,
                           struct backend_request *req, struct inf_err *err);

/* Encodes reply into a fresh heap frame (caller frees). INF_ETOOBIG if the
 * body exceeds PREFORK_MAX_RESPONSE_BYTES or the content type or extra
 * headers do not fit their fields, INF_EINVAL for a NUL in them. */
int prefork_reply_encode(const struct prefork_reply *reply, char **frame, size_t *frame_len,
                         struct inf_err *err);

/* From a reply frame's first PREFORK_FRAME_HEADER_BYTES bytes, the frame's
 * whole length; INF_EINVAL / INF_ETOOBIG with err for a malformed header. */
int prefork_reply_size(const char *header, size_t *frame_len, struct inf_err *err);

/* Decodes a whole reply frame into reply; reply->res.body is a fresh heap
 * copy (backend_response_fini frees it). INF_EINVAL / INF_ETOOBIG with err
 * for a malformed frame (reply is then empty). */
int prefork_reply_decode(const char *frame, size_t frame_len, struct prefork_reply *reply,
                         struct inf_err *err);

#endif
