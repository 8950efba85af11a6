/*
 * Unit tests for gateway/metrics: counters and histograms after recorded
 * requests, read back by parsing the rendered page; the page's structure
 * (HELP and TYPE once per family, samples grouped under their family,
 * cumulative buckets ending in +Inf equal to _count); label escaping;
 * forgetting series; the caps; and the gauges read from the registry.
 * No instance sets are started: every deployment's sets stay NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control/registry.h"
#include "core/util.h"
#include "gateway/metrics.h"

static const char key1[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static const char *const all_families[] = {
    "inferd_build_info",
    "inferd_start_time_seconds",
    "inferd_metrics_dropped_total",
    "inferd_requests_total",
    "inferd_request_duration_seconds",
    "inferd_model_duration_seconds",
    "inferd_queue_wait_seconds",
    "inferd_requests_in_flight",
    "inferd_request_bytes_total",
    "inferd_response_bytes_total",
    "inferd_mirrored_requests_total",
    "inferd_instances",
    "inferd_deployment_capacity",
};
#define NFAMILIES (sizeof(all_families) / sizeof(all_families[0]))

/* Sample names, as printf formats. */
#define REQUESTS "inferd_requests_total{endpoint=\"%s\",deployment=\"%s\",code=\"%d\"}"
#define DURATION_BUCKET                                                                            \
    "inferd_request_duration_seconds_bucket{endpoint=\"ep\",deployment=\"blue\",le=\"%s\"}"
#define IN_FLIGHT "inferd_requests_in_flight{endpoint=\"ep\",deployment=\"%s\"}"
#define MIRRORED                                                                                   \
    "inferd_mirrored_requests_total{endpoint=\"ep\",deployment=\"green\",result=\"%s\"}"
#define CAPACITY "inferd_deployment_capacity{endpoint=\"%s\",deployment=\"%s\"}"
#define INSTANCES "inferd_instances{endpoint=\"%s\",deployment=\"%s\",state=\"%s\"}"

/* ---- reading the page back -------------------------------------------- */

/* Renders the page into a fresh heap string. */
static char *render(const struct metrics *m, const struct registry *reg)
{
    struct inf_buf b;
    inf_buf_init(&b, 16u << 20);
    assert_int_equal(metrics_render(m, reg, &b), 0);
    assert_non_null(b.data);
    assert_int_equal(strlen(b.data), b.len);
    return b.data;
}

/* The value of the sample whose name and labels are exactly `series`
 * (e.g. `x{a="b"}`), or -1 when there is no such line. */
static double value_of(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = page; *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            char *end;
            double v = strtod(line + n + 1, &end);
            assert_true(*end == '\n');
            return v;
        }
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return -1;
}

/* value_of with a printf-built series name. */
static double value(const char *page, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static double value(const char *page, const char *fmt, ...)
{
    char series[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(series, sizeof(series), fmt, ap);
    va_end(ap);
    return value_of(page, series);
}

static int count_lines_starting(const char *page, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *line = page; *line != '\0';) {
        if (strncmp(line, prefix, len) == 0)
            n++;
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return n;
}

static int has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Checks the labels at *p ("{...}") are well formed: key="value" pairs
 * with only \\, \" and \n escapes. Returns the position after '}'. */
static const char *check_labels(const char *p)
{
    assert_true(*p == '{');
    p++;
    while (*p != '}') {
        while ((*p >= 'a' && *p <= 'z') || *p == '_')
            p++;
        assert_true(p[0] == '=' && p[1] == '"');
        p += 2;
        for (; *p != '"'; p++) {
            assert_true(*p != '\n' && *p != '\0');
            if (*p == '\\') {
                p++;
                assert_true(*p == '\\' || *p == '"' || *p == 'n');
            }
        }
        p++;
        if (*p == ',')
            p++;
    }
    return p + 1;
}

/* A small promtool: checks every line of the page and returns the number
 * of families. Each family has HELP then TYPE, once; its samples follow
 * it; counters end in _total; each histogram series has buckets that
 * never decrease, ending in +Inf, equal to its _count. */
static size_t check_exposition(const char *page)
{
    char family[128] = "", type[16] = "";
    char names[64][128];
    size_t nfam = 0;
    char bucket_series[512] = ""; /* labels before ",le=" of the last bucket line */
    double last_bucket = -1;
    int saw_inf = 0;
    assert_true(page[0] != '\0' && page[strlen(page) - 1] == '\n');
    for (const char *line = page; *line != '\0'; line = strchr(line, '\n') + 1) {
        size_t len = (size_t)(strchr(line, '\n') - line);
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line, "# HELP %127s", family), 1);
            for (size_t i = 0; i < nfam; i++)
                assert_string_not_equal(names[i], family);
            assert_true(nfam < 64);
            snprintf(names[nfam++], sizeof(names[0]), "%s", family);
            type[0] = '\0';
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[128];
            assert_int_equal(sscanf(line, "# TYPE %127s %15s", name, type), 2);
            assert_string_equal(name, family);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            if (strcmp(type, "counter") == 0)
                assert_true(has_suffix(family, strlen(family), "_total"));
            continue;
        }
        /* A sample of the current family. */
        assert_true(type[0] != '\0');
        size_t name_len = strcspn(line, "{ ");
        size_t flen = strlen(family);
        assert_true(name_len >= flen && memcmp(line, family, flen) == 0);
        const char *suffix = line + flen;
        size_t suffix_len = name_len - flen;
        if (strcmp(type, "histogram") == 0)
            assert_true(has_suffix(suffix, suffix_len, "_bucket") ||
                        has_suffix(suffix, suffix_len, "_sum") ||
                        has_suffix(suffix, suffix_len, "_count"));
        else
            assert_int_equal(suffix_len, 0);
        const char *rest = line + name_len;
        if (*rest == '{')
            rest = check_labels(rest);
        assert_true(*rest == ' ');
        char *end;
        double v = strtod(rest + 1, &end);
        assert_ptr_equal(end, line + len);
        assert_true(v >= 0);

        if (strcmp(type, "histogram") != 0)
            continue;
        if (strncmp(suffix, "_bucket", 7) == 0) {
            const char *le = strstr(line, ",le=\"");
            assert_non_null(le);
            char series[512];
            snprintf(series, sizeof(series), "%.*s", (int)(le - line), line);
            if (strcmp(series, bucket_series) != 0) {
                assert_true(bucket_series[0] == '\0' || saw_inf); /* previous one ended */
                snprintf(bucket_series, sizeof(bucket_series), "%s", series);
                last_bucket = -1;
                saw_inf = 0;
            }
            assert_false(saw_inf);
            assert_true(v >= last_bucket);
            last_bucket = v;
            saw_inf = strncmp(le, ",le=\"+Inf\"}", 11) == 0;
        } else if (strncmp(suffix, "_count", 6) == 0) {
            assert_true(saw_inf);
            assert_true(v == last_bucket);
        }
    }
    return nfam;
}

static void record(struct metrics *m, const char *ep, const char *dep, int status, uint64_t us)
{
    struct metrics_request r = {.endpoint = ep,
                                .deployment = dep,
                                .status = status,
                                .total_us = us,
                                .model_us = us / 2,
                                .queue_us = us / 4,
                                .request_bytes = 100,
                                .response_bytes = 10};
    metrics_request(m, &r);
}

/* ---- tests ------------------------------------------------------------ */

static void empty_page_has_every_family_once(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    int64_t now = inf_unix_now();
    char *page = render(m, NULL);
    assert_int_equal(check_exposition(page), NFAMILIES);
    for (size_t i = 0; i < NFAMILIES; i++) {
        char prefix[160];
        snprintf(prefix, sizeof(prefix), "# TYPE %s ", all_families[i]);
        assert_int_equal(count_lines_starting(page, prefix), 1);
        snprintf(prefix, sizeof(prefix), "# HELP %s ", all_families[i]);
        assert_int_equal(count_lines_starting(page, prefix), 1);
    }
    assert_true(value_of(page, "inferd_build_info{version=\"0.1.0\"}") == 1);
    double start = value_of(page, "inferd_start_time_seconds");
    assert_true(start >= (double)now - 5 && start <= (double)now);
    assert_true(value_of(page, "inferd_metrics_dropped_total") == 0);
    /* No series yet: only the process gauges have samples. */
    assert_int_equal(count_lines_starting(page, "inferd_requests_total"), 0);
    assert_int_equal(count_lines_starting(page, "inferd_instances"), 0);
    free(page);

    struct registry reg;
    registry_init(&reg);
    page = render(m, &reg);
    assert_int_equal(check_exposition(page), NFAMILIES);
    free(page);
    metrics_free(m);
    metrics_free(NULL);
}

static void requests_are_counted_by_code(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    for (int i = 0; i < 3; i++)
        record(m, "ep", "blue", 200, 1000);
    record(m, "ep", "blue", 500, 1000);
    record(m, "ep", "green", 200, 1000);
    record(m, "ep", "", 401, 50);
    record(m, "ep", "", 401, 50);
    record(m, "", "", 404, 50);
    record(m, "aa", "x", 200, 1000);

    char *page = render(m, NULL);
    check_exposition(page);
    assert_true(value(page, REQUESTS, "ep", "blue", 200) == 3);
    assert_true(value(page, REQUESTS, "ep", "blue", 500) == 1);
    assert_true(value(page, REQUESTS, "ep", "green", 200) == 1);
    assert_true(value(page, REQUESTS, "ep", "", 401) == 2);
    assert_true(value(page, REQUESTS, "", "", 404) == 1);
    assert_true(value(page, REQUESTS, "ep", "green", 500) == -1); /* never seen: no sample */
    assert_int_equal(count_lines_starting(page, "inferd_requests_total{"), 6);

    assert_true(value(page, "inferd_request_bytes_total{endpoint=\"ep\",deployment=\"blue\"}") ==
                400);
    assert_true(value(page, "inferd_response_bytes_total{endpoint=\"ep\",deployment=\"\"}") == 20);

    /* Series come out sorted by endpoint then deployment, whatever the order seen. */
    const char *a = strstr(page, "inferd_requests_total{endpoint=\"aa\"");
    const char *b = strstr(page, "inferd_requests_total{endpoint=\"ep\",deployment=\"blue\"");
    const char *g = strstr(page, "inferd_requests_total{endpoint=\"ep\",deployment=\"green\"");
    assert_true(a != NULL && b != NULL && g != NULL && a < b && b < g);
    free(page);
    metrics_free(m);
}

static void histogram_buckets_are_cumulative_with_inclusive_bounds(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metrics_request r = {.endpoint = "ep", .deployment = "blue", .status = 200};
    const uint64_t samples[] = {0, 100, 101, 1000000, 180000000, 180000001};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        r.total_us = samples[i];
        metrics_request(m, &r);
    }
    char *page = render(m, NULL);
    check_exposition(page);
    assert_true(value(page, DURATION_BUCKET, "0.0001") == 2); /* 0 and exactly 100 µs */
    assert_true(value(page, DURATION_BUCKET, "0.00025") == 3);
    assert_true(value(page, DURATION_BUCKET, "0.5") == 3);
    assert_true(value(page, DURATION_BUCKET, "1") == 4); /* exactly one second */
    assert_true(value(page, DURATION_BUCKET, "60") == 4);
    assert_true(value(page, DURATION_BUCKET, "180") == 5);
    assert_true(value(page, DURATION_BUCKET, "+Inf") == 6);
    assert_int_equal(
        count_lines_starting(page, "inferd_request_duration_seconds_bucket{endpoint=\"ep\""), 20);
    assert_true(
        value(page, "inferd_request_duration_seconds_count{endpoint=\"ep\",deployment=\"blue\"}") ==
        6);
    /* The sum is exact: 361000202 µs. */
    assert_non_null(strstr(
        page,
        "inferd_request_duration_seconds_sum{endpoint=\"ep\",deployment=\"blue\"} 361.000202\n"));
    free(page);
    metrics_free(m);
}

static void huge_durations_saturate_the_sum(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metrics_request r = {
        .endpoint = "ep", .deployment = "d", .status = 200, .total_us = UINT64_MAX};
    r.request_bytes = SIZE_MAX;
    metrics_request(m, &r);
    metrics_request(m, &r);
    char *page = render(m, NULL);
    check_exposition(page);
    assert_true(value(page, "inferd_request_duration_seconds_bucket{endpoint=\"ep\",deployment="
                            "\"d\",le=\"180\"}") == 0);
    assert_true(value(page, "inferd_request_duration_seconds_bucket{endpoint=\"ep\",deployment="
                            "\"d\",le=\"+Inf\"}") == 2);
    char expect[128];
    snprintf(expect, sizeof(expect), "_sum{endpoint=\"ep\",deployment=\"d\"} %llu.%06llu\n",
             (unsigned long long)(UINT64_MAX / 1000000),
             (unsigned long long)(UINT64_MAX % 1000000));
    assert_non_null(strstr(page, expect));
    snprintf(expect, sizeof(expect),
             "inferd_request_bytes_total{endpoint=\"ep\",deployment=\"d\"} %llu\n",
             (unsigned long long)UINT64_MAX);
    assert_non_null(strstr(page, expect));
    free(page);
    metrics_free(m);
}

static void model_and_queue_are_observed_only_when_meaningful(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    /* Routed, the model answered. */
    metrics_request(m, &(struct metrics_request){.endpoint = "ep",
                                                 .deployment = "blue",
                                                 .status = 200,
                                                 .total_us = 3000,
                                                 .model_us = 2000,
                                                 .queue_us = 0});
    /* Routed, the model never answered (503, 429 after queueing). */
    metrics_request(m, &(struct metrics_request){.endpoint = "ep",
                                                 .deployment = "blue",
                                                 .status = 429,
                                                 .total_us = 600000,
                                                 .queue_us = 500000});
    /* Refused before routing. */
    metrics_request(m, &(struct metrics_request){
                           .endpoint = "ep", .deployment = "", .status = 401, .total_us = 20});
    char *page = render(m, NULL);
    check_exposition(page);
    const char *blue = "{endpoint=\"ep\",deployment=\"blue\"}";
    const char *none = "{endpoint=\"ep\",deployment=\"\"}";
    assert_true(value(page, "inferd_request_duration_seconds_count%s", blue) == 2);
    assert_true(value(page, "inferd_model_duration_seconds_count%s", blue) == 1);
    assert_true(value(page, "inferd_queue_wait_seconds_count%s", blue) == 2);
    assert_true(value(page, "inferd_queue_wait_seconds_sum%s", blue) == 0.5);
    assert_true(value(page, "inferd_request_duration_seconds_count%s", none) == 1);
    /* Empty histograms are left out rather than written as zeros. */
    assert_true(value(page, "inferd_model_duration_seconds_count%s", none) == -1);
    assert_true(value(page, "inferd_queue_wait_seconds_count%s", none) == -1);
    /* In-flight is a deployment's gauge: none for deployment "". */
    assert_true(value(page, "inferd_requests_in_flight%s", blue) == 0);
    assert_true(value(page, "inferd_requests_in_flight%s", none) == -1);
    free(page);
    metrics_free(m);
}

static void label_values_are_escaped(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    record(m, "we\"ird\\ep\nx", "d\\", 200, 10);
    char *page = render(m, NULL);
    check_exposition(page);
    assert_true(value_of(page, "inferd_requests_total{endpoint=\"we\\\"ird\\\\ep\\nx\","
                               "deployment=\"d\\\\\",code=\"200\"}") == 1);
    free(page);
    metrics_free(m);
}

static void in_flight_goes_up_and_down_never_below_zero(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_in_flight(m, "ep", "blue", 1);
    metrics_in_flight(m, "ep", "blue", 1);
    metrics_in_flight(m, "ep", "blue", -1);
    metrics_in_flight(m, "ep", "green", -1); /* unknown: ignored, not created */
    char *page = render(m, NULL);
    check_exposition(page);
    assert_true(value(page, IN_FLIGHT, "blue") == 1);
    assert_true(value(page, IN_FLIGHT, "green") == -1);
    free(page);

    /* A request finishing after its deployment was forgotten. */
    metrics_forget(m, "ep", "blue");
    metrics_in_flight(m, "ep", "blue", -1);
    page = render(m, NULL);
    assert_true(value(page, IN_FLIGHT, "blue") == -1);
    free(page);

    metrics_in_flight(m, "ep", "blue", 1);
    metrics_in_flight(m, "ep", "blue", -1);
    metrics_in_flight(m, "ep", "blue", -1);
    page = render(m, NULL);
    assert_true(value(page, IN_FLIGHT, "blue") == 0);
    free(page);
    metrics_free(m);
}

static void mirrors_are_counted_by_result(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_mirror(m, "ep", "green", "match");
    metrics_mirror(m, "ep", "green", "match");
    metrics_mirror(m, "ep", "green", "mismatch");
    metrics_mirror(m, "ep", "green", "Match"); /* not a result: dropped */
    metrics_mirror(m, "ep", "green", NULL);
    record(m, "ep", "blue", 200, 10);
    char *page = render(m, NULL);
    check_exposition(page);
    assert_true(value(page, MIRRORED, "match") == 2);
    assert_true(value(page, MIRRORED, "mismatch") == 1);
    assert_true(value(page, MIRRORED, "error") == 0);
    assert_int_equal(count_lines_starting(page, "inferd_mirrored_requests_total{"), 3);
    assert_true(value_of(page, "inferd_metrics_dropped_total") == 2);
    free(page);
    metrics_free(m);
}

static void forget_drops_a_deployment_or_a_whole_endpoint(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    record(m, "ep", "blue", 200, 10);
    record(m, "ep", "green", 200, 10);
    record(m, "ep", "", 401, 10);
    record(m, "ep2", "blue", 200, 10);
    record(m, "e", "blue", 200, 10);

    metrics_forget(m, "ep", "green");
    metrics_forget(m, "nosuch", NULL);
    metrics_forget(m, "ep", "nosuch");
    char *page = render(m, NULL);
    check_exposition(page);
    assert_true(value(page, REQUESTS, "ep", "blue", 200) == 1);
    assert_true(value(page, REQUESTS, "ep", "green", 200) == -1);
    assert_int_equal(count_lines_starting(page, "inferd_requests_total{"), 4);
    free(page);

    metrics_forget(m, "ep", NULL);
    page = render(m, NULL);
    check_exposition(page);
    assert_true(value(page, REQUESTS, "ep", "blue", 200) == -1);
    assert_true(value(page, REQUESTS, "ep", "", 401) == -1);
    assert_true(value(page, REQUESTS, "ep2", "blue", 200) == 1);
    assert_true(value(page, REQUESTS, "e", "blue", 200) == 1);
    assert_int_equal(count_lines_starting(page, "inferd_requests_total{"), 2);
    free(page);

    /* A forgotten series starts again from zero. */
    record(m, "ep", "blue", 200, 10);
    page = render(m, NULL);
    assert_true(value(page, REQUESTS, "ep", "blue", 200) == 1);
    free(page);
    metrics_free(m);
}

static void series_and_codes_are_capped(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        char ep[32];
        snprintf(ep, sizeof(ep), "ep%05d", i);
        record(m, ep, "d", 200, 10);
        record(m, ep, "d", 200, 10); /* the same series again: no new one */
    }
    char *page = render(m, NULL);
    check_exposition(page);
    assert_int_equal(count_lines_starting(page, "inferd_requests_total{"), METRICS_MAX_SERIES);
    assert_true(value_of(page, "inferd_metrics_dropped_total") == 20);
    /* Existing series still count once the cap is reached. */
    free(page);
    record(m, "ep00000", "d", 200, 10);
    page = render(m, NULL);
    assert_true(value_of(page, "inferd_requests_total{endpoint=\"ep00000\",deployment=\"d\","
                               "code=\"200\"}") == 3);
    free(page);
    metrics_free(m);

    m = metrics_new();
    for (int code = 200; code < 200 + METRICS_MAX_CODES + 5; code++)
        record(m, "ep", "d", code, 10);
    record(m, "ep", "d", 200, 10);
    page = render(m, NULL);
    check_exposition(page);
    assert_int_equal(count_lines_starting(page, "inferd_requests_total{"), METRICS_MAX_CODES);
    assert_true(value_of(page, "inferd_metrics_dropped_total") == 5);
    assert_true(value_of(page, "inferd_requests_total{endpoint=\"ep\",deployment=\"d\","
                               "code=\"200\"}") == 2);
    /* The request itself was still timed. */
    assert_true(value_of(page, "inferd_request_duration_seconds_count{endpoint=\"ep\","
                               "deployment=\"d\"}") == METRICS_MAX_CODES + 6);
    free(page);
    metrics_free(m);
}

static json_t *deployment_spec(int instances, int max_concurrent)
{
    json_t *spec = json_pack("{s:i}", "instance_count", instances);
    assert_non_null(spec);
    if (max_concurrent > 0)
        json_object_set_new(
            spec, "request_settings",
            json_pack("{s:i}", "max_concurrent_requests_per_instance", max_concurrent));
    return spec;
}

static void registry_gauges_cover_every_deployment(void **state)
{
    (void)state;
    struct registry reg;
    registry_init(&reg);
    struct endpoint *ep = registry_add(&reg, "ep", json_object(), key1, key1);
    endpoint_add_deployment(ep, "blue", deployment_spec(3, 4), 1);
    endpoint_add_deployment(ep, "green", deployment_spec(2, 0), 1);
    struct endpoint *q = registry_add(&reg, "q\"x", json_object(), key1, key1);
    endpoint_add_deployment(q, "only", deployment_spec(1, 1), 1);

    struct metrics *m = metrics_new();
    char *page = render(m, &reg);
    assert_int_equal(check_exposition(page), NFAMILIES);
    assert_true(value(page, CAPACITY, "ep", "blue") == 12);
    assert_true(value(page, CAPACITY, "ep", "green") == 2); /* max_concurrent defaults to 1 */
    assert_true(value(page, CAPACITY, "q\\\"x", "only") == 1);
    assert_true(value(page, INSTANCES, "ep", "blue", "ready") == 0);
    assert_true(value(page, INSTANCES, "ep", "blue", "not_ready") == 0);
    assert_true(value(page, INSTANCES, "q\\\"x", "only", "ready") == 0);
    assert_int_equal(count_lines_starting(page, "inferd_instances{"), 6);
    free(page);
    metrics_free(m);
    registry_fini(&reg);
}

static void render_stops_at_the_buffer_cap(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    record(m, "ep", "blue", 200, 10);
    struct inf_buf b;
    inf_buf_init(&b, 300);
    assert_int_equal(metrics_render(m, NULL, &b), INF_ETOOBIG);
    assert_true(b.len <= 300);
    inf_buf_fini(&b);

    /* Appends after what the buffer already holds. */
    inf_buf_init(&b, 1u << 20);
    assert_int_equal(inf_buf_append(&b, "x", 1), 0);
    assert_int_equal(metrics_render(m, NULL, &b), 0);
    assert_true(strncmp(b.data, "x# HELP ", 8) == 0);
    inf_buf_fini(&b);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_page_has_every_family_once),
        cmocka_unit_test(requests_are_counted_by_code),
        cmocka_unit_test(histogram_buckets_are_cumulative_with_inclusive_bounds),
        cmocka_unit_test(huge_durations_saturate_the_sum),
        cmocka_unit_test(model_and_queue_are_observed_only_when_meaningful),
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(in_flight_goes_up_and_down_never_below_zero),
        cmocka_unit_test(mirrors_are_counted_by_result),
        cmocka_unit_test(forget_drops_a_deployment_or_a_whole_endpoint),
        cmocka_unit_test(series_and_codes_are_capped),
        cmocka_unit_test(registry_gauges_cover_every_deployment),
        cmocka_unit_test(render_stops_at_the_buffer_cap),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
