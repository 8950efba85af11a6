/*
 * metrics: owns the per-(endpoint, deployment) series behind GET /metrics
 * and renders them, with the instance gauges read from the registry, in
 * the Prometheus text exposition format 0.0.4.
 *
 * Series live in an array of pointers sorted by (endpoint, deployment):
 * a server holds tens of them, so a binary search beats hashing and gives
 * a stable rendering order for free. Each series keeps its status-code
 * counters in a small sorted array and its histograms as per-bucket counts
 * (made cumulative when rendered) with sums in whole microseconds, so no
 * rounding accumulates. Both the number of series and of codes per series
 * are capped (metrics.h); past a cap an observation is counted as dropped.
 *
 * Event-loop thread only; created at server start, freed at shutdown.
 */
#include "gateway/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control/registry.h"
#include "supervisor/instance.h"

#ifndef INFERD_VERSION
#define INFERD_VERSION "0.1.0"
#endif

/* Histogram upper bounds, from 100 µs to 3 minutes (the longest request
 * timeout a deployment may set), in µs and as the le="" label. */
#define NBOUNDS 19
static const uint64_t bound_us[NBOUNDS] = {
    100,    250,    500,     1000,    2500,    5000,     10000,    25000,    50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 180000000};
static const char *const bound_le[NBOUNDS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",     "1",      "2.5",   "5",      "10",    "30",   "60",    "180"};

struct histogram {
    uint64_t bucket[NBOUNDS + 1]; /* per bucket, not cumulative; the last is +Inf */
    uint64_t sum_us;
    uint64_t count;
};

enum { HIST_TOTAL, HIST_MODEL, HIST_QUEUE, NHIST };

static const struct {
    const char *name;
    const char *help;
} hist_family[NHIST] = {
    [HIST_TOTAL] = {"inferd_request_duration_seconds",
                    "Time from the gateway receiving a scoring request to its response."},
    [HIST_MODEL] = {"inferd_model_duration_seconds",
                    "Time the scoring code took, as reported by x-ms-run-fn-exec-ms."},
    [HIST_QUEUE] = {"inferd_queue_wait_seconds",
                    "Time a routed request waited for a free instance slot."},
};

enum { MIRROR_MATCH, MIRROR_MISMATCH, MIRROR_ERROR, NMIRROR };

static const char *const mirror_result[NMIRROR] = {"match", "mismatch", "error"};

struct code_count {
    int code;
    uint64_t n;
};

struct series {
    char *endpoint;
    char *deployment; /* "" for requests refused before a deployment was chosen */
    struct code_count codes[METRICS_MAX_CODES]; /* sorted by code */
    size_t ncodes;
    struct histogram hist[NHIST];
    int64_t in_flight;
    uint64_t request_bytes;
    uint64_t response_bytes;
    uint64_t mirrored[NMIRROR];
};

struct metrics {
    struct series **series; /* sorted by (endpoint, deployment) */
    size_t n;
    uint64_t dropped;
    int64_t start_time;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = inf_calloc(1, sizeof(*m));
    m->series = inf_calloc(METRICS_MAX_SERIES, sizeof(*m->series));
    m->start_time = inf_unix_now();
    return m;
}

static void series_free(struct series *s)
{
    free(s->endpoint);
    free(s->deployment);
    free(s);
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        series_free(m->series[i]);
    free(m->series);
    free(m);
}

/* ---- series lookup ---------------------------------------------------- */

static int series_cmp(const struct series *s, const char *endpoint, const char *deployment)
{
    int c = strcmp(s->endpoint, endpoint);
    return c != 0 ? c : strcmp(s->deployment, deployment);
}

/* Binary search: the series' index, or -1 with *at set to where it belongs. */
static long series_find(const struct metrics *m, const char *endpoint, const char *deployment,
                        size_t *at)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = series_cmp(m->series[mid], endpoint, deployment);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return -1;
}

/* The series for (endpoint, deployment), created if new; NULL (and one
 * more dropped observation) when the series cap is reached. */
static struct series *series_get(struct metrics *m, const char *endpoint, const char *deployment)
{
    size_t at;
    long i = series_find(m, endpoint, deployment, &at);
    if (i >= 0)
        return m->series[i];
    if (m->n == METRICS_MAX_SERIES) {
        m->dropped++;
        return NULL;
    }
    struct series *s = inf_calloc(1, sizeof(*s));
    s->endpoint = inf_strdup(endpoint);
    s->deployment = inf_strdup(deployment);
    memmove(&m->series[at + 1], &m->series[at], (m->n - at) * sizeof(*m->series));
    m->series[at] = s;
    m->n++;
    return s;
}

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* ---- recording -------------------------------------------------------- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void observe(struct histogram *h, uint64_t us)
{
    size_t i = 0;
    while (i < NBOUNDS && us > bound_us[i])
        i++;
    h->bucket[i]++;
    h->sum_us = add_sat(h->sum_us, us);
    h->count++;
}

/* Counts one response with this status; 0 when the per-series cap on
 * distinct codes is reached. */
static int count_code(struct series *s, int code)
{
    size_t i = 0;
    while (i < s->ncodes && s->codes[i].code < code)
        i++;
    if (i < s->ncodes && s->codes[i].code == code) {
        s->codes[i].n++;
        return 1;
    }
    if (s->ncodes == METRICS_MAX_CODES)
        return 0;
    memmove(&s->codes[i + 1], &s->codes[i], (s->ncodes - i) * sizeof(s->codes[0]));
    s->codes[i] = (struct code_count){.code = code, .n = 1};
    s->ncodes++;
    return 1;
}

void metrics_request(struct metrics *m, const struct metrics_request *r)
{
    const char *deployment = or_empty(r->deployment);
    struct series *s = series_get(m, or_empty(r->endpoint), deployment);
    if (s == NULL)
        return;
    if (!count_code(s, r->status))
        m->dropped++;
    observe(&s->hist[HIST_TOTAL], r->total_us);
    /* The model was not reached, or did not say how long it took. */
    if (r->model_us > 0)
        observe(&s->hist[HIST_MODEL], r->model_us);
    /* Only a routed request can have queued. */
    if (deployment[0] != '\0')
        observe(&s->hist[HIST_QUEUE], r->queue_us);
    s->request_bytes = add_sat(s->request_bytes, r->request_bytes);
    s->response_bytes = add_sat(s->response_bytes, r->response_bytes);
}

void metrics_in_flight(struct metrics *m, const char *endpoint, const char *deployment, int delta)
{
    endpoint = or_empty(endpoint);
    deployment = or_empty(deployment);
    struct series *s;
    if (delta > 0) {
        s = series_get(m, endpoint, deployment);
    } else {
        /* A request that outlived metrics_forget() must not recreate its
         * series with a negative gauge. */
        size_t at;
        long i = series_find(m, endpoint, deployment, &at);
        s = i >= 0 ? m->series[i] : NULL;
    }
    if (s == NULL)
        return;
    s->in_flight += delta;
    if (s->in_flight < 0)
        s->in_flight = 0;
}

void metrics_mirror(struct metrics *m, const char *endpoint, const char *deployment,
                    const char *result)
{
    int r = 0;
    while (r < NMIRROR && strcmp(or_empty(result), mirror_result[r]) != 0)
        r++;
    if (r == NMIRROR) {
        m->dropped++;
        return;
    }
    struct series *s = series_get(m, or_empty(endpoint), or_empty(deployment));
    if (s != NULL)
        s->mirrored[r]++;
}

void metrics_forget(struct metrics *m, const char *endpoint, const char *deployment)
{
    if (endpoint == NULL)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < m->n; i++) {
        struct series *s = m->series[i];
        if (strcmp(s->endpoint, endpoint) == 0 &&
            (deployment == NULL || strcmp(s->deployment, deployment) == 0))
            series_free(s);
        else
            m->series[kept++] = s;
    }
    m->n = kept;
}

/* ---- rendering -------------------------------------------------------- */

/* The page being written: after the first failure every write is skipped
 * and rc keeps the error. */
struct page {
    struct inf_buf *out;
    int rc;
};

static void emit(struct page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct page *p, const char *fmt, ...)
{
    if (p->rc != 0)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Every format here is a short fixed line; names go through emit_label. */
    if (n < 0 || (size_t)n >= sizeof(line))
        p->rc = INF_EINTERNAL;
    else
        p->rc = inf_buf_append(p->out, line, (size_t)n);
}

static void emit_raw(struct page *p, const char *s, size_t len)
{
    if (p->rc == 0)
        p->rc = inf_buf_append(p->out, s, len);
}

/* Writes `key="value"` with the value escaped as the format requires:
 * backslash, double quote and line feed. */
static void emit_label(struct page *p, const char *key, const char *value)
{
    emit_raw(p, key, strlen(key));
    emit_raw(p, "=\"", 2);
    const char *run = value;
    for (const char *c = value; *c != '\0'; c++) {
        const char *esc = *c == '\\' ? "\\\\" : *c == '"' ? "\\\"" : *c == '\n' ? "\\n" : NULL;
        if (esc == NULL)
            continue;
        emit_raw(p, run, (size_t)(c - run));
        emit_raw(p, esc, 2);
        run = c + 1;
    }
    emit_raw(p, run, strlen(run));
    emit_raw(p, "\"", 1);
}

static void family(struct page *p, const char *name, const char *type, const char *help)
{
    emit(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Opens a sample: `name_suffix{endpoint="..",deployment=".."`; the caller
 * adds any further labels, the closing brace and the value. */
static void sample(struct page *p, const char *name, const char *suffix, const char *endpoint,
                   const char *deployment)
{
    emit(p, "%s%s{", name, suffix);
    emit_label(p, "endpoint", endpoint);
    emit_raw(p, ",", 1);
    emit_label(p, "deployment", deployment);
}

static void render_process(struct page *p, const struct metrics *m)
{
    family(p, "inferd_build_info", "gauge", "Always 1; the version label names the build.");
    emit(p, "inferd_build_info{version=\"%s\"} 1\n", INFERD_VERSION);
    family(p, "inferd_start_time_seconds", "gauge", "When the server started, in Unix seconds.");
    emit(p, "inferd_start_time_seconds %" PRId64 "\n", m->start_time);
    family(p, "inferd_metrics_dropped_total", "counter",
           "Observations not recorded because the series or status-code cap was reached.");
    emit(p, "inferd_metrics_dropped_total %" PRIu64 "\n", m->dropped);
}

static void render_requests(struct page *p, const struct metrics *m)
{
    const char *name = "inferd_requests_total";
    family(p, name, "counter", "Scoring requests answered, by endpoint, deployment and status.");
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = m->series[i];
        for (size_t c = 0; c < s->ncodes; c++) {
            sample(p, name, "", s->endpoint, s->deployment);
            emit(p, ",code=\"%d\"} %" PRIu64 "\n", s->codes[c].code, s->codes[c].n);
        }
    }
}

static void render_histogram(struct page *p, const struct metrics *m, int which)
{
    const char *name = hist_family[which].name;
    family(p, name, "histogram", hist_family[which].help);
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = m->series[i];
        const struct histogram *h = &s->hist[which];
        if (h->count == 0)
            continue;
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= NBOUNDS; b++) {
            cumulative += h->bucket[b];
            sample(p, name, "_bucket", s->endpoint, s->deployment);
            emit(p, ",le=\"%s\"} %" PRIu64 "\n", b < NBOUNDS ? bound_le[b] : "+Inf", cumulative);
        }
        sample(p, name, "_sum", s->endpoint, s->deployment);
        emit(p, "} %" PRIu64 ".%06" PRIu64 "\n", h->sum_us / 1000000, h->sum_us % 1000000);
        sample(p, name, "_count", s->endpoint, s->deployment);
        emit(p, "} %" PRIu64 "\n", h->count);
    }
}

static void render_in_flight(struct page *p, const struct metrics *m)
{
    const char *name = "inferd_requests_in_flight";
    family(p, name, "gauge", "Scoring requests forwarded to a deployment and not yet answered.");
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = m->series[i];
        if (s->deployment[0] == '\0')
            continue;
        sample(p, name, "", s->endpoint, s->deployment);
        emit(p, "} %" PRId64 "\n", s->in_flight);
    }
}

static void render_bytes(struct page *p, const struct metrics *m)
{
    const char *req = "inferd_request_bytes_total";
    family(p, req, "counter", "Bytes of scoring request bodies received.");
    for (size_t i = 0; i < m->n; i++) {
        sample(p, req, "", m->series[i]->endpoint, m->series[i]->deployment);
        emit(p, "} %" PRIu64 "\n", m->series[i]->request_bytes);
    }
    const char *res = "inferd_response_bytes_total";
    family(p, res, "counter", "Bytes of scoring response bodies sent.");
    for (size_t i = 0; i < m->n; i++) {
        sample(p, res, "", m->series[i]->endpoint, m->series[i]->deployment);
        emit(p, "} %" PRIu64 "\n", m->series[i]->response_bytes);
    }
}

static void render_mirror(struct page *p, const struct metrics *m)
{
    const char *name = "inferd_mirrored_requests_total";
    family(p, name, "counter",
           "Requests mirrored to a deployment, by whether its answer matched the live one.");
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = m->series[i];
        uint64_t any = 0;
        for (int r = 0; r < NMIRROR; r++)
            any |= s->mirrored[r];
        if (any == 0)
            continue;
        for (int r = 0; r < NMIRROR; r++) {
            sample(p, name, "", s->endpoint, s->deployment);
            emit(p, ",result=\"%s\"} %" PRIu64 "\n", mirror_result[r], s->mirrored[r]);
        }
    }
}

/* Instances of the deployment's serving set and of the set starting to
 * replace it; an instance counts as ready when it answers readiness. */
static void deployment_instances(const struct deployment *d, int *ready, int *not_ready)
{
    *ready = *not_ready = 0;
    const struct instance_set *sets[] = {d->active, d->pending};
    for (size_t i = 0; i < 2; i++) {
        if (sets[i] == NULL)
            continue;
        int total, r;
        instance_set_counts(sets[i], &total, &r);
        *ready += r;
        *not_ready += total - r;
    }
}

/* instance_count x max_concurrent_requests_per_instance of the spec. */
static json_int_t deployment_capacity(const struct deployment *d)
{
    json_int_t count = json_integer_value(json_object_get(d->spec, "instance_count"));
    const json_t *per = json_object_get(json_object_get(d->spec, "request_settings"),
                                        "max_concurrent_requests_per_instance");
    json_int_t each = per != NULL ? json_integer_value(per) : 1;
    return count * each;
}

static void render_registry(struct page *p, const struct registry *reg)
{
    const char *inst = "inferd_instances";
    family(p, inst, "gauge", "Instances of each deployment by state (ready or not_ready).");
    for (size_t e = 0; reg != NULL && e < reg->n; e++) {
        const struct endpoint *ep = reg->eps[e];
        for (size_t j = 0; j < ep->ndeps; j++) {
            int ready, not_ready;
            deployment_instances(ep->deps[j], &ready, &not_ready);
            sample(p, inst, "", ep->name, ep->deps[j]->name);
            emit(p, ",state=\"ready\"} %d\n", ready);
            sample(p, inst, "", ep->name, ep->deps[j]->name);
            emit(p, ",state=\"not_ready\"} %d\n", not_ready);
        }
    }
    const char *cap = "inferd_deployment_capacity";
    family(p, cap, "gauge",
           "Concurrent requests a deployment is sized for: instance_count x "
           "max_concurrent_requests_per_instance.");
    for (size_t e = 0; reg != NULL && e < reg->n; e++) {
        const struct endpoint *ep = reg->eps[e];
        for (size_t j = 0; j < ep->ndeps; j++) {
            sample(p, cap, "", ep->name, ep->deps[j]->name);
            emit(p, "} %" JSON_INTEGER_FORMAT "\n", deployment_capacity(ep->deps[j]));
        }
    }
}

int metrics_render(const struct metrics *m, const struct registry *reg, struct inf_buf *out)
{
    struct page p = {.out = out, .rc = 0};
    render_process(&p, m);
    render_requests(&p, m);
    for (int h = 0; h < NHIST; h++)
        render_histogram(&p, m, h);
    render_in_flight(&p, m);
    render_bytes(&p, m);
    render_mirror(&p, m);
    render_registry(&p, reg);
    return p.rc;
}
