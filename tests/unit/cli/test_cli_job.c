/*
 * Tests for cli/cli_job's pure helpers (job names, the stream progress
 * line, checks and encoding of server-given file paths for download) and
 * cli_relpath_safe from cli.c, which they build on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

/* ---- job names ---- */

static void test_job_names(void **state)
{
    (void)state;
    struct inf_err err = {0};
    assert_int_equal(cli_job_name_valid("batchjob-1a2b3c4d5e6f", &err), 0);
    assert_int_equal(cli_job_name_valid("my_job_7", &err), 0);
    assert_int_equal(cli_job_name_valid("7days", &err), 0);
    assert_int_equal(cli_job_name_valid("x", &err), 0);

    assert_int_equal(cli_job_name_valid("", &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(cli_job_name_valid("-x", &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "must start with a letter or a digit"));
    assert_int_equal(cli_job_name_valid("_x", &err), INF_EINVAL);
    assert_int_equal(cli_job_name_valid("a/b", &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "job name 'a/b'"));
    assert_int_equal(cli_job_name_valid("a..b", &err), INF_EINVAL);
    assert_int_equal(cli_job_name_valid("a?b=c", &err), INF_EINVAL);
    assert_int_equal(cli_job_name_valid("a b", &err), INF_EINVAL);
    assert_int_equal(cli_job_name_valid("caf\xc3\xa9", &err), INF_EINVAL);
}

static void test_job_name_length(void **state)
{
    (void)state;
    char name[CLI_JOB_NAME_MAX + 2];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    struct inf_err err = {0};
    assert_int_equal(cli_job_name_valid(name, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "longer than 64"));
    name[CLI_JOB_NAME_MAX] = '\0';
    assert_int_equal(cli_job_name_valid(name, &err), 0);
}

static void test_terminal_statuses(void **state)
{
    (void)state;
    assert_true(cli_job_status_terminal("Completed"));
    assert_true(cli_job_status_terminal("Failed"));
    assert_true(cli_job_status_terminal("Canceled"));
    static const char *const running[] = {"NotStarted", "Queued",   "Preparing", "Running",
                                          "Finalizing", "canceled", "",          "Cancelled"};
    for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
        assert_false(cli_job_status_terminal(running[i]));
    assert_false(cli_job_status_terminal(NULL));
}

/* ---- the progress line ---- */

static json_t *job_of(const char *text)
{
    json_error_t jerr;
    json_t *job = json_loads(text, 0, &jerr);
    if (job == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return job;
}

static void expect_line(const char *job_text, int with_bar, const char *want)
{
    json_t *job = job_of(job_text);
    char line[256];
    memset(line, 'Z', sizeof(line));
    cli_job_progress_format(job, with_bar, line, sizeof(line));
    assert_string_equal(line, want);
    json_decref(job);
}

static void test_progress_running(void **state)
{
    (void)state;
    const char *job = "{\"status\": \"Running\", \"progress\": {\"files\": 300, "
                      "\"mini_batches\": 30, \"done\": 12, \"failed\": 0, \"running\": 2, "
                      "\"pending\": 16}}";
    expect_line(job, 1, "[########............] 12/30 mini-batches, 0 failed, Running");
    expect_line(job, 0, "12/30 mini-batches, 0 failed, Running");
}

static void test_progress_failures_count_as_processed(void **state)
{
    (void)state;
    expect_line("{\"status\": \"Running\", \"progress\": {\"mini_batches\": 30, \"done\": 10,"
                " \"failed\": 5}}",
                1, "[##########..........] 15/30 mini-batches, 5 failed, Running");
    expect_line("{\"status\": \"Completed\", \"progress\": {\"mini_batches\": 3, \"done\": 3}}", 1,
                "[####################] 3/3 mini-batches, 0 failed, Completed");
    /* One short of the end is never drawn full. */
    expect_line("{\"status\": \"Running\", \"progress\": {\"mini_batches\": 1000, \"done\": 999}}",
                1, "[###################.] 999/1000 mini-batches, 0 failed, Running");
}

static void test_progress_before_mini_batches(void **state)
{
    (void)state;
    expect_line("{\"status\": \"Queued\", \"queue_position\": 2}", 1,
                "[....................] Queued (queue position 2)");
    expect_line("{\"status\": \"Queued\", \"queue_position\": 0}", 0, "Queued");
    expect_line("{\"status\": \"Preparing\", \"progress\": {\"mini_batches\": 0}}", 0, "Preparing");
    /* queue_position is shown only while Queued. */
    expect_line("{\"status\": \"Running\", \"queue_position\": 3}", 0, "Running");
    expect_line("{}", 0, "Unknown");
    expect_line("{\"status\": 7}", 0, "Unknown");
}

static void test_progress_bad_numbers(void **state)
{
    (void)state;
    /* More done than exist: clamped to the total. */
    expect_line("{\"status\": \"Running\", \"progress\": {\"mini_batches\": 3,"
                " \"done\": 9223372036854775807, \"failed\": 9223372036854775807}}",
                1, "[####################] 3/3 mini-batches, 3 failed, Running");
    /* Negative and wrongly typed values count as 0. */
    expect_line("{\"status\": \"Running\", \"progress\": {\"mini_batches\": 10,"
                " \"done\": -4, \"failed\": \"x\"}}",
                1, "[....................] 0/10 mini-batches, 0 failed, Running");
    expect_line("{\"status\": \"Running\", \"progress\": {\"mini_batches\": -10, \"done\": 4}}", 0,
                "Running");
    expect_line("{\"status\": \"Running\", \"progress\": {\"mini_batches\": 9223372036854775807,"
                " \"done\": 9223372036854775806}}",
                1,
                "[###################.] 9223372036854775806/9223372036854775807 mini-batches, 0 "
                "failed, Running");
}

static void test_progress_status_scrubbed(void **state)
{
    (void)state;
    expect_line("{\"status\": \"Run\\u001b[2Jning\\n\"}", 0, "Run?[2Jning?");
    expect_line("{\"status\": \"caf\\u00e9\"}", 0, "caf??");
    /* A long status is cut. */
    expect_line("{\"status\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", 0,
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
}

static void test_progress_small_buffers(void **state)
{
    (void)state;
    json_t *job = job_of("{\"status\": \"Running\", \"progress\": {\"mini_batches\": 30,"
                         " \"done\": 12}}");
    char line[16];
    memset(line, 'Z', sizeof(line));
    cli_job_progress_format(job, 1, line, 8);
    assert_string_equal(line, "[######");
    assert_int_equal(line[8], 'Z'); /* nothing written past out_len */
    cli_job_progress_format(job, 1, line, 1);
    assert_string_equal(line, "");
    line[0] = 'Z';
    cli_job_progress_format(job, 1, line, 0);
    assert_int_equal(line[0], 'Z');
    cli_job_progress_format(job, 0, line, 16);
    assert_string_equal(line, "12/30 mini-batc");
    json_decref(job);
}

/* ---- download paths ---- */

static void test_relpath_safe(void **state)
{
    (void)state;
    assert_true(cli_relpath_safe("a", 0));
    assert_true(cli_relpath_safe("a/b.csv", 0));
    assert_true(cli_relpath_safe("..a/b..", 0));
    assert_true(cli_relpath_safe(".hidden", 0));
    assert_false(cli_relpath_safe("", 0));
    assert_true(cli_relpath_safe("", 1));
    assert_false(cli_relpath_safe("a/", 0));
    assert_true(cli_relpath_safe("a/", 1));
    assert_true(cli_relpath_safe("a/b/", 1));
    assert_false(cli_relpath_safe("a//", 1));
    assert_false(cli_relpath_safe("/", 1));
    assert_false(cli_relpath_safe("/a", 1));
    assert_false(cli_relpath_safe("a//b", 0));
    assert_false(cli_relpath_safe(".", 1));
    assert_false(cli_relpath_safe("..", 1));
    assert_false(cli_relpath_safe("a/../b", 0));
    assert_false(cli_relpath_safe("a/./b", 0));
    assert_false(cli_relpath_safe("a/..", 0));
    assert_false(cli_relpath_safe("a/../", 1));
    assert_false(cli_relpath_safe("a\\..\\b", 0));
    assert_false(cli_relpath_safe("a\nb", 0));
    assert_false(cli_relpath_safe("a\x7f", 0));
}

static void test_file_rel(void **state)
{
    (void)state;
    struct inf_err err = {0};
    const char *rel = cli_job_file_rel("score/predictions.csv", "score/", &err);
    assert_non_null(rel);
    assert_string_equal(rel, "predictions.csv");
    rel = cli_job_file_rel("score/sub/part 1.csv", "score/", &err);
    assert_non_null(rel);
    assert_string_equal(rel, "sub/part 1.csv");
    rel = cli_job_file_rel("logs/user/error.txt", "logs/", &err);
    assert_non_null(rel);
    assert_string_equal(rel, "user/error.txt");
}

static void expect_refused(const char *path, const char *prefix, const char *needle)
{
    struct inf_err err = {0};
    assert_null(cli_job_file_rel(path, prefix, &err));
    assert_int_equal(err.code, INF_EINVAL);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message for '%s' lacks '%s': %s", path, needle, err.msg);
}

static void test_file_rel_refused(void **state)
{
    (void)state;
    expect_refused("/etc/passwd", "score/", "not under score/");
    expect_refused("logs/job_progress_overview.txt", "score/", "not under score/");
    expect_refused("scores/x.csv", "score/", "not under score/");
    expect_refused("score", "score/", "not under score/");
    expect_refused("", "logs/", "not under logs/");
    expect_refused("score/", "score/", "not a safe relative path");
    expect_refused("score//etc/passwd", "score/", "not a safe relative path");
    expect_refused("score/../../.bashrc", "score/", "not a safe relative path");
    expect_refused("score/a/../../x", "score/", "not a safe relative path");
    expect_refused("score/./x", "score/", "not a safe relative path");
    expect_refused("score/x/", "score/", "not a safe relative path");
    expect_refused("logs/..", "logs/", "not a safe relative path");
    expect_refused("logs/a\r\nb", "logs/", "not a safe relative path");
}

static void test_url_path(void **state)
{
    (void)state;
    char *p = cli_job_url_path("predictions.csv");
    assert_string_equal(p, "predictions.csv");
    free(p);
    p = cli_job_url_path("sub dir/caf\xc3\xa9 #1?.csv");
    assert_string_equal(p, "sub%20dir/caf%C3%A9%20%231%3F.csv");
    free(p);
    p = cli_job_url_path("a~b_c-d.e/%25");
    assert_string_equal(p, "a~b_c-d.e/%2525");
    free(p);
    p = cli_job_url_path("");
    assert_string_equal(p, "");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_names),
        cmocka_unit_test(test_job_name_length),
        cmocka_unit_test(test_terminal_statuses),
        cmocka_unit_test(test_progress_running),
        cmocka_unit_test(test_progress_failures_count_as_processed),
        cmocka_unit_test(test_progress_before_mini_batches),
        cmocka_unit_test(test_progress_bad_numbers),
        cmocka_unit_test(test_progress_status_scrubbed),
        cmocka_unit_test(test_progress_small_buffers),
        cmocka_unit_test(test_relpath_safe),
        cmocka_unit_test(test_file_rel),
        cmocka_unit_test(test_file_rel_refused),
        cmocka_unit_test(test_url_path),
    };
    return cmocka_run_group_tests_name("cli_job", tests, NULL, NULL);
}
