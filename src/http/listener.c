/*
 * listener: accept loop with connection tracking for graceful shutdown.
 * Event-loop thread only. Lifecycle: listener_start → (serve) →
 * listener_close → listener_drain → listener_wait_idle [→ listener_abort]
 * → listener_free.
 */
#include "http/listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

struct conn {
    int fd;
    ino_t ino;
};

struct listener {
    h2o_accept_ctx_t *accept_ctx;
    int fd;
    h2o_socket_t *sock;
    struct conn *conns;
    size_t n;
    size_t cap;
};

static int conn_alive(const struct conn *c)
{
    struct stat st;
    return fstat(c->fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == c->ino;
}

size_t listener_open_connections(struct listener *l)
{
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++)
        if (conn_alive(&l->conns[i]))
            l->conns[kept++] = l->conns[i];
    l->n = kept;
    return kept;
}

static void remember(struct listener *l, int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return;
    listener_open_connections(l);
    if (l->n == l->cap) {
        l->cap = l->cap != 0 ? 2 * l->cap : 16;
        l->conns = inf_realloc(l->conns, l->cap * sizeof(*l->conns));
    }
    l->conns[l->n++] = (struct conn){.fd = fd, .ino = st.st_ino};
}

static void on_accept(h2o_socket_t *sock, const char *err)
{
    struct listener *l = sock->data;
    if (err != NULL) {
        inf_error("http.accept_failed", "error=\"%s\"", err);
        return;
    }
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                inf_error("http.accept_failed", "error=\"%s\"", inf_strerror(errno));
            return;
        }
        remember(l, fd);
        h2o_socket_t *conn = h2o_evloop_socket_create(l->accept_ctx->ctx->loop, fd,
                                                      H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
        h2o_accept(l->accept_ctx, conn);
    }
}

int listener_open_tcp(const char *host, int port, int *fd_out, int *bound_port, struct inf_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0)
        return inf_err_set(err, INF_EINVAL, "%s: not a numeric address (%s)", host,
                           gai_strerror(rc));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return inf_err_set(err, INF_EIO, "cannot listen on %s port %d: %s", host, port,
                           inf_strerror(e));
    }
    freeaddrinfo(res);
    if (bound_port != NULL) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    *fd_out = fd;
    return 0;
}

struct listener *listener_start(h2o_accept_ctx_t *accept_ctx, int listen_fd)
{
    struct listener *l = inf_calloc(1, sizeof(*l));
    l->accept_ctx = accept_ctx;
    l->fd = listen_fd;
    l->sock = h2o_evloop_socket_create(accept_ctx->ctx->loop, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    h2o_socket_read_start(l->sock, on_accept);
    return l;
}

void listener_close(struct listener *l)
{
    if (l->sock == NULL)
        return;
    h2o_socket_read_stop(l->sock);
    h2o_socket_close(l->sock); /* closes the listening fd */
    l->sock = NULL;
    l->fd = -1;
}

static void shutdown_all(struct listener *l, int how)
{
    for (size_t i = 0; i < l->n; i++)
        if (conn_alive(&l->conns[i]))
            shutdown(l->conns[i].fd, how);
}

void listener_drain(struct listener *l)
{
    /* Set directly: h2o_context_request_shutdown() also arms HTTP/2's
     * one-second GOAWAY timer, which we do not serve and cannot dispose. */
    l->accept_ctx->ctx->shutdown_requested = 1;
    shutdown_all(l, SHUT_RD);
}

void listener_abort(struct listener *l)
{
    shutdown_all(l, SHUT_RDWR);
}

size_t listener_wait_idle(struct listener *l, uint64_t timeout_ms)
{
    uint64_t deadline = inf_now_ms() + timeout_ms;
    size_t left;
    while ((left = listener_open_connections(l)) > 0 && inf_now_ms() < deadline)
        h2o_evloop_run(l->accept_ctx->ctx->loop, 10);
    /* One more turn: the loop frees the sockets closed in the last one. */
    h2o_evloop_run(l->accept_ctx->ctx->loop, 0);
    return left;
}

void listener_free(struct listener *l)
{
    if (l == NULL)
        return;
    listener_close(l);
    free(l->conns);
    free(l);
}
