/*
 * metrics: the counters and histograms behind GET /metrics (Prometheus text
 * exposition format 0.0.4). The gateway reports each finished request and
 * each mirrored one; instance states are read from the registry when the
 * page is rendered. Event-loop thread only.
 *
 * Families (all prefixed inferd_):
 *   requests_total{endpoint,deployment,code}                counter
 *   request_duration_seconds{endpoint,deployment}           histogram (total, gateway view)
 *   model_duration_seconds{endpoint,deployment}             histogram (x-ms-run-fn-exec-ms)
 *   queue_wait_seconds{endpoint,deployment}                 histogram
 *   requests_in_flight{endpoint,deployment}                 gauge
 *   request_bytes_total / response_bytes_total{endpoint,deployment} counters
 *   mirrored_requests_total{endpoint,deployment,result}     counter (result: match|mismatch|error)
 *   instances{endpoint,deployment,state}                    gauge
 *   deployment_capacity{endpoint,deployment}                gauge (instances x max_concurrent)
 *   build_info{version}, start_time_seconds                 gauges (process)
 *   metrics_dropped_total                                   counter (observations past a cap)
 *
 * Memory is bounded: at most METRICS_MAX_SERIES (endpoint, deployment)
 * series and METRICS_MAX_CODES status codes per series; observations past
 * either cap only increment metrics_dropped_total. Report only endpoint and
 * deployment names that exist in the registry ("" otherwise), and call
 * metrics_forget() when one is deleted.
 */
#ifndef INF_GATEWAY_METRICS_H
#define INF_GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

#define METRICS_MAX_SERIES 1024
#define METRICS_MAX_CODES 24

struct metrics;
struct registry;

struct metrics_request {
    const char *endpoint;
    const char *deployment; /* "" when no deployment was chosen (401, 404, ...) */
    int status;             /* what the client got */
    uint64_t total_us;      /* gateway receive → response */
    uint64_t model_us;      /* from x-ms-run-fn-exec-ms; 0 if unknown */
    uint64_t queue_us;      /* time spent waiting for capacity */
    size_t request_bytes;
    size_t response_bytes;
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Records one finished data-plane request. */
void metrics_request(struct metrics *m, const struct metrics_request *r);
/* Tracks requests in flight per deployment (+1 when forwarded, -1 when done). */
void metrics_in_flight(struct metrics *m, const char *endpoint, const char *deployment, int delta);
/* Records one mirrored request: result is "match", "mismatch" or "error". */
void metrics_mirror(struct metrics *m, const char *endpoint, const char *deployment,
                    const char *result);

/* Drops the series of a deleted deployment, or of every deployment of the
 * endpoint (including deployment "") when deployment is NULL. A request
 * still in flight that finishes later creates a fresh series. */
void metrics_forget(struct metrics *m, const char *endpoint, const char *deployment);

/* Appends the whole exposition to out (text/plain; version=0.0.4). Returns
 * 0 or INF_ETOOBIG if out's cap is reached. */
int metrics_render(const struct metrics *m, const struct registry *reg, struct inf_buf *out);

#endif
