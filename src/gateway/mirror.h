/*
 * mirror: shadow traffic for safe rollout. A share of an endpoint's live,
 * unpinned requests is also sent to its mirror deployment; the client gets
 * only the live answer and does not wait for the mirror. For every mirrored
 * request the gateway records whether the mirror's status and body matched
 * the live ones and both latencies, and GET .../mirror-report summarises
 * them: what a person needs to decide a rollout. Event-loop thread only.
 */
#ifndef INF_GATEWAY_MIRROR_H
#define INF_GATEWAY_MIRROR_H

#include <stdint.h>

#include <jansson.h>

struct mirror;

/* One mirrored request's two sides, as the gateway saw them. */
struct mirror_outcome {
    int live_status;
    int mirror_status; /* 0 when the mirror call failed */
    int bodies_equal;
    uint64_t live_us;
    uint64_t mirror_us;
};

struct mirror *mirror_new(void);
/* Drops the owner's reference; the stats live on until the last mirrored
 * call in flight has reported. NULL: no-op. */
void mirror_release(struct mirror *m);
void mirror_ref(struct mirror *m);

/* Whether the next unpinned request goes to `deployment` too, at `percent`
 * (smooth, not random: exactly percent of every 100). A change of target
 * deployment restarts the report. */
int mirror_should(struct mirror *m, const char *deployment, int percent);

/* Counts a request that should have been mirrored but was not sent
 * (the mirror deployment had no free capacity or no ready instance). */
void mirror_skipped(struct mirror *m);
/* Records one completed pair. */
void mirror_record(struct mirror *m, const struct mirror_outcome *o);

/* The report: {"deployment", "percent", "since", "live_requests",
 * "mirrored", "skipped", "mirror_errors", "status_agreement",
 * "body_agreement", "latency_ms": {"live": {"p50","p99"}, "mirror": {...}}}
 * (a new reference). Rates are null before the first pair. */
json_t *mirror_report(const struct mirror *m);

/* Percentile q (0..100) of n samples (copied and sorted): pure, for tests. */
double mirror_percentile(const uint32_t *samples, size_t n, double q);

#endif
