/*
 * accesslog: one line per data-plane request in DIR/logs/access.log,
 * key=value fields in a fixed order (see docs/operations.md "Access log"):
 *
 *   ts=2026-11-26T18:00:00.123Z method=POST path=/endpoints/ep/score endpoint=ep
 *   deployment=blue status=200 model_status=200 request_bytes=95 response_bytes=24
 *   total_ms=0.412 model_ms=0.021 queue_ms=0.000 request_id=<uuid> client_request_id=<id|->
 *
 * Values are sanitised (no spaces, no CR/LF; "-" when empty). Lines are
 * batched in memory and written with O_APPEND by accesslog_flush, which the
 * server calls every event-loop turn (and close calls). Event-loop thread
 * only.
 */
#ifndef INF_GATEWAY_ACCESSLOG_H
#define INF_GATEWAY_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct accesslog;

struct access_entry {
    const char *method;
    const char *path;
    const char *endpoint;
    const char *deployment;
    int status;
    int model_status; /* 0 when the model was not reached */
    size_t request_bytes;
    size_t response_bytes;
    uint64_t total_us;
    uint64_t model_us;
    uint64_t queue_us;
    const char *request_id;
    const char *client_request_id; /* NULL or "" when absent */
};

/* Opens (creating, 0640) the log at path. */
struct accesslog *accesslog_open(const char *path, struct inf_err *err);
void accesslog_write(struct accesslog *log, const struct access_entry *e);
/* Writes the batched lines out (one write(2)). NULL: no-op. */
void accesslog_flush(struct accesslog *log);
/* Formats one line (with trailing newline) into buf; returns its length
 * (truncated to len - 1). Pure: used by accesslog_write and the tests. */
size_t accesslog_format(char *buf, size_t len, int64_t unix_ms, const struct access_entry *e);
void accesslog_close(struct accesslog *log);

#endif
