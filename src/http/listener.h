/*
 * listener: accepts HTTP/1.1 connections on a listening socket for an h2o
 * context and keeps track of them, so that a process can shut down
 * gracefully: stop accepting, let open connections finish the response
 * they are writing, then close. Used by `inferd serve` and `inferd worker`.
 *
 * h2o owns and closes each accepted fd; the listener remembers the fd and
 * its inode, which tells whether a still-open fd with that number is the
 * same connection. Event-loop thread only.
 */
#ifndef INF_HTTP_LISTENER_H
#define INF_HTTP_LISTENER_H

#include <stddef.h>

#include "core/err.h"

#define H2O_USE_LIBUV 0
#include <h2o.h>

struct listener;

/* Opens a non-blocking TCP listening socket on numeric `host` ("127.0.0.1",
 * "::1", "0.0.0.0") and `port` (0 picks a free one). *fd_out gets the
 * socket and *bound_port (if non-NULL) the port actually bound. Errors name
 * the address: INF_EINVAL for a host that is not numeric, INF_EIO when the
 * bind or listen fails. */
int listener_open_tcp(const char *host, int port, int *fd_out, int *bound_port,
                      struct inf_err *err);

/* Starts accepting on listen_fd (non-blocking, already listening) into
 * accept_ctx; takes ownership of the fd. */
struct listener *listener_start(h2o_accept_ctx_t *accept_ctx, int listen_fd);

/* Stops accepting and closes the listening socket (idempotent). */
void listener_close(struct listener *l);

/* Open accepted connections, after forgetting those h2o closed. */
size_t listener_open_connections(struct listener *l);

/* Begins a graceful close of every open connection: requests still
 * arriving get `Connection: close`, idle keep-alive connections read EOF
 * and close, responses being written complete. */
void listener_drain(struct listener *l);

/* shutdown(SHUT_RDWR) on every open connection: the last resort when
 * draining takes too long. */
void listener_abort(struct listener *l);

/* Runs the loop until no connection is open or timeout_ms pass; returns how
 * many are still open. */
size_t listener_wait_idle(struct listener *l, uint64_t timeout_ms);

/* Closes (if needed) and frees the listener; NULL is a no-op. */
void listener_free(struct listener *l);

#endif
