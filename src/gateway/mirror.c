/*
 * mirror: selection and statistics of mirrored traffic. Event-loop thread.
 * Latencies are kept in two rings of the last MIRROR_SAMPLES pairs, so the
 * percentiles describe recent traffic and memory stays bounded.
 */
#include "gateway/mirror.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define MIRROR_SAMPLES 4096

struct mirror {
    int refs;
    char deployment[40];
    int percent;
    int credit;
    int64_t since;
    uint64_t live_requests; /* unpinned requests seen while mirroring */
    uint64_t mirrored;      /* pairs completed */
    uint64_t skipped;
    uint64_t mirror_errors;
    uint64_t status_agree;
    uint64_t body_agree;
    uint32_t live_us[MIRROR_SAMPLES];
    uint32_t mirror_us[MIRROR_SAMPLES];
    size_t next;
    size_t filled;
};

struct mirror *mirror_new(void)
{
    struct mirror *m = inf_calloc(1, sizeof(*m));
    m->refs = 1;
    m->since = inf_unix_now();
    return m;
}

void mirror_ref(struct mirror *m)
{
    m->refs++;
}

void mirror_release(struct mirror *m)
{
    if (m != NULL && --m->refs == 0)
        free(m);
}

static void restart(struct mirror *m, const char *deployment, int percent)
{
    int refs = m->refs;
    memset(m, 0, sizeof(*m));
    m->refs = refs;
    snprintf(m->deployment, sizeof(m->deployment), "%s", deployment);
    m->percent = percent;
    m->since = inf_unix_now();
}

int mirror_should(struct mirror *m, const char *deployment, int percent)
{
    if (strcmp(m->deployment, deployment) != 0)
        restart(m, deployment, percent);
    m->percent = percent;
    m->live_requests++;
    m->credit += percent;
    if (m->credit >= 100) {
        m->credit -= 100;
        return 1;
    }
    return 0;
}

void mirror_skipped(struct mirror *m)
{
    m->skipped++;
}

static uint32_t clamp_us(uint64_t us)
{
    return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

void mirror_record(struct mirror *m, const struct mirror_outcome *o)
{
    m->mirrored++;
    if (o->mirror_status < 200 || o->mirror_status > 299)
        m->mirror_errors++;
    if (o->live_status == o->mirror_status)
        m->status_agree++;
    if (o->live_status == o->mirror_status && o->bodies_equal)
        m->body_agree++;
    m->live_us[m->next] = clamp_us(o->live_us);
    m->mirror_us[m->next] = clamp_us(o->mirror_us);
    m->next = (m->next + 1) % MIRROR_SAMPLES;
    if (m->filled < MIRROR_SAMPLES)
        m->filled++;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

double mirror_percentile(const uint32_t *samples, size_t n, double q)
{
    if (n == 0)
        return 0;
    uint32_t *s = inf_malloc(n * sizeof(*s));
    memcpy(s, samples, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_u32);
    /* Nearest rank: the smallest sample with at least q% of samples at or below it. */
    size_t rank = (size_t)((q / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    double v = s[rank - 1];
    free(s);
    return v;
}

static json_t *rate(uint64_t part, uint64_t whole)
{
    return whole == 0 ? json_null() : json_real((double)part / (double)whole);
}

static json_t *latency(const uint32_t *samples, size_t n)
{
    if (n == 0)
        return json_pack("{s:n,s:n}", "p50", "p99");
    return json_pack("{s:f,s:f}", "p50", mirror_percentile(samples, n, 50) / 1000.0, "p99",
                     mirror_percentile(samples, n, 99) / 1000.0);
}

json_t *mirror_report(const struct mirror *m)
{
    char since[32];
    inf_utc_iso8601(since, sizeof(since), m->since);
    return json_pack("{s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:o,s:o,s:{s:o,s:o}}", "deployment",
                     m->deployment, "percent", m->percent, "since", since, "live_requests",
                     (json_int_t)m->live_requests, "mirrored", (json_int_t)m->mirrored, "skipped",
                     (json_int_t)m->skipped, "mirror_errors", (json_int_t)m->mirror_errors,
                     "status_agreement", rate(m->status_agree, m->mirrored), "body_agreement",
                     rate(m->body_agree, m->mirrored), "latency_ms", "live",
                     latency(m->live_us, m->filled), "mirror", latency(m->mirror_us, m->filled));
}
