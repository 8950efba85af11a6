/*
 * Unit tests for gateway/accesslog: the exact line format, sanitised and
 * empty values, millisecond rendering, cutting at the buffer's size and at
 * the per-value caps, timestamps; then the file itself: created with its
 * folder, appended to, and a failing write reported once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "gateway/accesslog.h"

#define T_2026_11_26_18_00_00_123 1795716000123LL
#define REQUEST_ID "6f1c2a9e-0b7d-4c61-9a3e-2d5b8f4e7a10"

static struct access_entry sample_entry(void)
{
    return (struct access_entry){
        .method = "POST",
        .path = "/endpoints/ep/score",
        .endpoint = "ep",
        .deployment = "blue",
        .status = 200,
        .model_status = 200,
        .request_bytes = 95,
        .response_bytes = 24,
        .total_us = 412,
        .model_us = 21,
        .queue_us = 0,
        .request_id = REQUEST_ID,
        .client_request_id = "my-id-1",
    };
}

/* Formats e at the reference time into a static buffer. */
static const char *format(const struct access_entry *e)
{
    static char line[8192];
    size_t n = accesslog_format(line, sizeof(line), T_2026_11_26_18_00_00_123, e);
    assert_int_equal(n, strlen(line));
    assert_true(n > 0 && line[n - 1] == '\n');
    assert_null(memchr(line, '\n', n - 1)); /* exactly one line */
    return line;
}

/* The value of " key=" in line, copied into a static buffer. */
static const char *field(const char *line, const char *key)
{
    static char value[4096];
    char pat[64];
    snprintf(pat, sizeof(pat), " %s=", key);
    const char *p = strstr(line, pat);
    assert_non_null(p);
    p += strlen(pat);
    size_t n = strcspn(p, " \n");
    assert_true(n < sizeof(value));
    memcpy(value, p, n);
    value[n] = '\0';
    return value;
}

static void line_has_every_field_in_order(void **state)
{
    (void)state;
    struct access_entry e = sample_entry();
    assert_string_equal(format(&e),
                        "ts=2026-11-26T18:00:00.123Z method=POST path=/endpoints/ep/score "
                        "endpoint=ep deployment=blue status=200 model_status=200 "
                        "request_bytes=95 response_bytes=24 total_ms=0.412 model_ms=0.021 "
                        "queue_ms=0.000 request_id=" REQUEST_ID " client_request_id=my-id-1\n");
}

static void empty_values_are_dashes(void **state)
{
    (void)state;
    struct access_entry e = {.status = 401}; /* refused before routing */
    assert_string_equal(format(&e), "ts=2026-11-26T18:00:00.123Z method=- path=- endpoint=- "
                                    "deployment=- status=401 model_status=- request_bytes=0 "
                                    "response_bytes=0 total_ms=0.000 model_ms=0.000 "
                                    "queue_ms=0.000 request_id=- client_request_id=-\n");
    e = sample_entry();
    e.deployment = "";
    e.client_request_id = "";
    e.model_status = 0;
    const char *line = format(&e);
    assert_string_equal(field(line, "deployment"), "-");
    assert_string_equal(field(line, "client_request_id"), "-");
    assert_string_equal(field(line, "model_status"), "-");
}

static void unsafe_bytes_are_percent_encoded(void **state)
{
    (void)state;
    struct access_entry e = sample_entry();
    e.path = "/a b\r\nc\"d\\e\tf\x7f\xc3\xa9?q=1&r=%41";
    e.client_request_id = "x y\nstatus=999 fake=1";
    const char *line = format(&e);
    assert_string_equal(field(line, "path"), "/a%20b%0D%0Ac%22d%5Ce%09f%7F%C3%A9?q=1&r=%41");
    assert_string_equal(field(line, "client_request_id"), "x%20y%0Astatus=999%20fake=1");
    /* The injected text cannot pose as a field. */
    assert_string_equal(field(line, "status"), "200");
    assert_null(strstr(line, " fake="));
    /* Every byte of the line is printable ASCII but the final newline. */
    for (const char *c = line; c[1] != '\0'; c++)
        assert_true(*c >= 0x20 && *c < 0x7f);
}

static void durations_are_exact_milliseconds(void **state)
{
    (void)state;
    struct access_entry e = sample_entry();
    const struct {
        uint64_t us;
        const char *ms;
    } cases[] = {
        {0, "0.000"},
        {1, "0.001"},
        {999, "0.999"},
        {1000, "1.000"},
        {1234567, "1234.567"},
        {180000000, "180000.000"},
        {UINT64_MAX, "18446744073709551.615"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e.total_us = e.model_us = e.queue_us = cases[i].us;
        const char *line = format(&e);
        assert_string_equal(field(line, "total_ms"), cases[i].ms);
        assert_string_equal(field(line, "model_ms"), cases[i].ms);
        assert_string_equal(field(line, "queue_ms"), cases[i].ms);
    }
    e.request_bytes = SIZE_MAX;
    char expect[32];
    snprintf(expect, sizeof(expect), "%zu", (size_t)SIZE_MAX);
    assert_string_equal(field(format(&e), "request_bytes"), expect);
}

static void timestamps_are_utc_milliseconds(void **state)
{
    (void)state;
    struct access_entry e = sample_entry();
    char line[512];
    accesslog_format(line, sizeof(line), 0, &e);
    assert_true(strncmp(line, "ts=1970-01-01T00:00:00.000Z ", 28) == 0);
    accesslog_format(line, sizeof(line), -1, &e);
    assert_true(strncmp(line, "ts=1969-12-31T23:59:59.999Z ", 28) == 0);
    accesslog_format(line, sizeof(line), 951782400999LL, &e); /* a leap day */
    assert_true(strncmp(line, "ts=2000-02-29T00:00:00.999Z ", 28) == 0);
    /* Out of gmtime's range: still one well-formed line. */
    size_t n = accesslog_format(line, sizeof(line), INT64_MAX, &e);
    assert_true(n > 0 && line[n - 1] == '\n' && strncmp(line, "ts=", 3) == 0);
}

static void a_short_buffer_cuts_the_line_but_keeps_the_newline(void **state)
{
    (void)state;
    struct access_entry e = sample_entry();
    char full[512];
    size_t whole = accesslog_format(full, sizeof(full), T_2026_11_26_18_00_00_123, &e);

    char buf[41];
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(accesslog_format(buf, 40, T_2026_11_26_18_00_00_123, &e), 39);
    assert_int_equal(buf[38], '\n');
    assert_int_equal(buf[39], '\0');
    assert_int_equal(buf[40], 'Z'); /* nothing written past len */
    assert_memory_equal(buf, full, 38);

    /* Exactly enough room: nothing is cut. */
    char *exact = malloc(whole + 1);
    assert_int_equal(accesslog_format(exact, whole + 1, T_2026_11_26_18_00_00_123, &e), whole);
    assert_string_equal(exact, full);
    /* One byte less: the newline replaces the last character. */
    assert_int_equal(accesslog_format(exact, whole, T_2026_11_26_18_00_00_123, &e), whole - 1);
    assert_int_equal(exact[whole - 2], '\n');
    free(exact);

    buf[0] = 'Z';
    assert_int_equal(accesslog_format(buf, 2, 0, &e), 1);
    assert_string_equal(buf, "\n");
    assert_int_equal(accesslog_format(buf, 1, 0, &e), 0);
    assert_string_equal(buf, "");
    buf[0] = 'Z';
    assert_int_equal(accesslog_format(buf, 0, 0, &e), 0);
    assert_int_equal(buf[0], 'Z');
}

static void long_values_are_cut_at_their_caps(void **state)
{
    (void)state;
    struct access_entry e = sample_entry();
    char *path = malloc(5001);
    memset(path, 'a', 5000);
    path[0] = '/';
    path[5000] = '\0';
    char *id = malloc(1001);
    memset(id, ' ', 1000);
    id[1000] = '\0';
    e.path = path;
    e.client_request_id = id;
    e.endpoint = id + 500; /* 500 spaces */
    const char *line = format(&e);
    assert_int_equal(strlen(field(line, "path")), 1024);
    /* 256 bytes of %20 hold 85 whole escapes, never a partial one. */
    const char *cid = field(line, "client_request_id");
    assert_int_equal(strlen(cid), 255);
    assert_true(strncmp(cid + 252, "%20", 3) == 0);
    assert_int_equal(strlen(field(line, "endpoint")), 255);
    /* The fields after the long ones survive. */
    assert_string_equal(field(line, "request_id"), REQUEST_ID);
    assert_true(strlen(line) < 4096);
    free(path);
    free(id);
}

/* ---- the file --------------------------------------------------------- */

static char *read_all(const char *path)
{
    char *data;
    size_t len;
    assert_int_equal(inf_read_file(path, 1 << 20, &data, &len, NULL), 0);
    return data;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

static void writes_append_lines_to_a_new_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_accesslog.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = inf_asprintf("%s/logs/sub/access.log", dir);
    mode_t old = umask(022);

    struct inf_err err;
    struct accesslog *log = accesslog_open(path, &err);
    assert_non_null(log);
    struct access_entry e = sample_entry();
    accesslog_write(log, &e);
    e.status = 401;
    e.client_request_id = NULL;
    accesslog_write(log, &e);
    accesslog_close(log);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    log = accesslog_open(path, &err); /* appends, does not truncate */
    assert_non_null(log);
    accesslog_write(log, &e);
    accesslog_close(log);
    umask(old);

    char *text = read_all(path);
    assert_int_equal(count_lines(text), 3);
    assert_true(strncmp(text, "ts=20", 5) == 0);
    assert_non_null(strstr(text, " status=200 "));
    assert_non_null(strstr(text, " status=401 "));
    assert_non_null(strstr(text, " client_request_id=my-id-1\n"));
    assert_non_null(strstr(text, " client_request_id=-\n"));
    free(text);

    accesslog_write(NULL, &e); /* no log configured: nothing happens */
    accesslog_close(NULL);
    assert_int_equal(inf_rm_rf(dir, NULL), 0);
    free(path);
}

static void open_failure_names_the_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_accesslog.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *file = inf_asprintf("%s/plain", dir);
    assert_int_equal(inf_write_file_atomic(file, "x", 1, 0600, NULL), 0);

    char *under_file = inf_asprintf("%s/access.log", file); /* a folder that is a file */
    struct inf_err err;
    inf_err_clear(&err);
    assert_null(accesslog_open(under_file, &err));
    assert_int_not_equal(err.code, 0);
    assert_non_null(strstr(err.msg, file));

    inf_err_clear(&err);
    assert_null(accesslog_open(dir, &err)); /* a folder, not a file */
    assert_int_equal(err.code, INF_EIO);
    assert_non_null(strstr(err.msg, dir));
    assert_null(accesslog_open(dir, NULL));

    assert_int_equal(inf_rm_rf(dir, NULL), 0);
    free(under_file);
    free(file);
}

/* A full disk (/dev/full) is reported once on stderr, not once per line. */
static void a_failing_log_is_reported_once(void **state)
{
    (void)state;
    struct accesslog *log = accesslog_open("/dev/full", NULL);
    if (log == NULL)
        skip();
    char err_path[] = "/tmp/test_accesslog_err.XXXXXX";
    int fd = mkstemp(err_path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);

    struct access_entry e = sample_entry();
    for (int i = 0; i < 3; i++)
        accesslog_write(log, &e);
    accesslog_close(log);

    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    char *text = read_all(err_path);
    unlink(err_path);
    assert_int_equal(count_lines(text), 1);
    assert_non_null(strstr(text, "event=accesslog.write_failed"));
    assert_non_null(strstr(text, "path=/dev/full"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_has_every_field_in_order),
        cmocka_unit_test(empty_values_are_dashes),
        cmocka_unit_test(unsafe_bytes_are_percent_encoded),
        cmocka_unit_test(durations_are_exact_milliseconds),
        cmocka_unit_test(timestamps_are_utc_milliseconds),
        cmocka_unit_test(a_short_buffer_cuts_the_line_but_keeps_the_newline),
        cmocka_unit_test(long_values_are_cut_at_their_caps),
        cmocka_unit_test(writes_append_lines_to_a_new_file),
        cmocka_unit_test(open_failure_names_the_path),
        cmocka_unit_test(a_failing_log_is_reported_once),
    };
    return cmocka_run_group_tests_name("accesslog", tests, NULL, NULL);
}
