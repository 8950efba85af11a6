/*
 * Unit tests for batch/outputs: checking a mini-batch's range in a result
 * segment, joining ranges into the output file (order, byte-exactness,
 * atomic replacement, cleanup on failure, bad ranges), appending to logs
 * and listing a job's files.
 *
 * Every test gets a fresh mkdtemp folder under /tmp standing for a job's
 * folder, and removes it again at teardown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/outputs.h"
#include "core/util.h"

struct fixture {
    char job[PATH_MAX]; /* the job's folder (a fresh temporary one) */
};

/* ---- helpers ---------------------------------------------------------- */

/* job/rel as a new heap string. */
static char *at(const struct fixture *fx, const char *rel)
{
    return inf_asprintf("%s/%s", fx->job, rel);
}

/* Writes len bytes of data to job/rel, creating its folders. */
static void put_bytes(const struct fixture *fx, const char *rel, const void *data, size_t len)
{
    char *p = at(fx, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    assert_int_equal(inf_mkdir_p(p, 0755, NULL), 0);
    *slash = '/';
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(p);
}

static void put(const struct fixture *fx, const char *rel, const char *text)
{
    put_bytes(fx, rel, text, strlen(text));
}

/* Writes text as the result segment `name` (job/results/name). */
static void put_segment(const struct fixture *fx, const char *name, const char *text)
{
    char *rel = inf_asprintf("results/%s", name);
    put(fx, rel, text);
    free(rel);
}

/* The whole content of job/rel (heap, NUL-terminated) and its length;
 * NULL when it cannot be read. */
static char *slurp(const struct fixture *fx, const char *rel, size_t *len)
{
    char *p = at(fx, rel);
    char *data = NULL;
    size_t n = 0;
    int rc = inf_read_file(p, 64 << 20, &data, &n, NULL);
    free(p);
    if (len != NULL)
        *len = n;
    return rc == 0 ? data : NULL;
}

static int exists(const struct fixture *fx, const char *rel)
{
    char *p = at(fx, rel);
    struct stat st;
    int ok = lstat(p, &st) == 0;
    free(p);
    return ok;
}

/* How many entries in job/rel have ".tmp-" in their name. */
static int temp_files_in(const struct fixture *fx, const char *rel)
{
    char *p = at(fx, rel);
    DIR *d = opendir(p);
    free(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    struct fixture *fx = inf_calloc(1, sizeof(*fx));
    char tmpl[] = "/tmp/inferd-outputs-XXXXXX";
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, fx->job) == NULL)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    inf_rm_rf(fx->job, NULL);
    free(fx);
    return 0;
}

/* ---- outputs_results_dir, outputs_range_intact --------------------------- */

static void test_results_dir(void **state)
{
    (void)state;
    char *p = outputs_results_dir("/home/x/jobs/abc");
    assert_string_equal(p, "/home/x/jobs/abc/results");
    free(p);
}

static void test_range_intact(void **state)
{
    struct fixture *fx = *state;
    put_segment(fx, "proc-1.csv", "0123456789"); /* 10 bytes */
    put(fx, "results/sub/f.csv", "0123456789");
    put(fx, "outside.csv", "0123456789");
    put_segment(fx, ".hidden", "0123456789");
    struct {
        struct outputs_range r;
        int intact;
    } cases[] = {
        {{"proc-1.csv", 0, 10}, 1},
        {{"proc-1.csv", 3, 7}, 1},  /* ends at the end */
        {{"proc-1.csv", 2, 5}, 1},  /* inside */
        {{"proc-1.csv", 10, 0}, 1}, /* empty, at the end */
        {{"proc-1.csv", 0, 11}, 0}, /* one byte past the end */
        {{"proc-1.csv", 8, 3}, 0},
        {{"proc-1.csv", 11, 0}, 0}, /* starts past the end */
        {{"proc-1.csv", -1, 2}, 0},
        {{"proc-1.csv", 0, -1}, 0},
        {{"proc-2.csv", 0, 1}, 0}, /* missing */
        {{"sub", 0, 0}, 0},        /* a folder */
        {{"sub/f.csv", 0, 1}, 0},  /* not a plain name */
        {{"../outside.csv", 0, 1}, 0},
        {{".hidden", 0, 1}, 0},
        {{"", 0, 0}, 0},
        {{NULL, 0, 0}, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct outputs_range *r = &cases[i].r;
        if (outputs_range_intact(fx->job, r) != cases[i].intact)
            fail_msg("range %s %lld+%lld: want intact=%d", r->segment ? r->segment : "(null)",
                     (long long)r->offset, (long long)r->bytes, cases[i].intact);
    }
}

/* ---- outputs_join ------------------------------------------------------ */

/* Segment "A" holds mini-batches 0 (bytes 0..4) and 2 (4..9) and then the
 * start of a row that a crash cut off; segment "B" holds mini-batch 1. */
static void put_two_segments(const struct fixture *fx)
{
    put_segment(fx, "A", "aaa\nbbbb\ncut-off ro");
    put_segment(fx, "B", "cc\n");
}

static const struct outputs_range MB0 = {"A", 0, 4};
static const struct outputs_range MB1 = {"B", 0, 3};
static const struct outputs_range MB2 = {"A", 4, 5};

/* Joins r[0..n) into job/out_rel, failing the test on error; returns
 * the output's content (heap) and checks *bytes against its length. */
static char *join_ok(const struct fixture *fx, const struct outputs_range *r, size_t n,
                     const char *out_rel)
{
    char *out = at(fx, out_rel);
    struct inf_err err = {0};
    int64_t bytes = -1;
    int rc = outputs_join(fx->job, r, n, out, &bytes, &err);
    free(out);
    if (rc != 0)
        fail_msg("outputs_join: %s", err.msg);
    size_t len = 0;
    char *got = slurp(fx, out_rel, &len);
    assert_non_null(got);
    assert_int_equal(bytes, (int64_t)len);
    return got;
}

static void test_join_order(void **state)
{
    struct fixture *fx = *state;
    put_two_segments(fx);
    /* Exactly the ranges, in the order given: not whole files, not the
     * order of segments or offsets, and never the cut-off tail. */
    const struct outputs_range in_order[] = {MB0, MB1, MB2};
    char *got = join_ok(fx, in_order, 3, "outputs/score/predictions.csv");
    assert_string_equal(got, "aaa\ncc\nbbbb\n");
    free(got);
    const struct outputs_range reversed[] = {MB2, MB1, MB0};
    got = join_ok(fx, reversed, 3, "outputs/score/predictions.csv");
    assert_string_equal(got, "bbbb\ncc\naaa\n");
    free(got);
    const struct outputs_range repeated[] = {MB1, MB1, {"A", 9, 0}, MB1};
    got = join_ok(fx, repeated, 4, "outputs/score/predictions.csv");
    assert_string_equal(got, "cc\ncc\ncc\n");
    free(got);
    assert_int_equal(temp_files_in(fx, "outputs/score"), 0);
}

static void test_join_byte_exact(void **state)
{
    struct fixture *fx = *state;
    /* Bytes a text path would mangle (NUL, CR, 0xff, no final newline),
     * and a range larger than the copy buffer that starts and ends at odd
     * offsets. */
    const char small[] = {'a', '\0', 'b', '\r', '\n', (char)0xff, 'c'};
    size_t big_len = 600 * 1024 + 13;
    unsigned char *big = inf_malloc(big_len);
    uint32_t x = 12345;
    for (size_t i = 0; i < big_len; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (unsigned char)(x >> 16);
    }
    put_bytes(fx, "results/small", small, sizeof(small));
    put_bytes(fx, "results/big", big, big_len);
    const int64_t from = 7, len = (int64_t)big_len - 7 - 13;
    const struct outputs_range r[] = {
        {"small", 0, sizeof(small)}, {"big", from, len}, {"small", 1, 5}};
    char *out = at(fx, "out.bin");
    int64_t bytes = -1;
    struct inf_err err = {0};
    if (outputs_join(fx->job, r, 3, out, &bytes, &err) != 0)
        fail_msg("outputs_join: %s", err.msg);
    size_t want_len = sizeof(small) + (size_t)len + 5;
    assert_int_equal(bytes, (int64_t)want_len);
    size_t got_len = 0;
    char *got = slurp(fx, "out.bin", &got_len);
    assert_non_null(got);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, small, sizeof(small));
    assert_memory_equal(got + sizeof(small), big + from, (size_t)len);
    assert_memory_equal(got + sizeof(small) + len, small + 1, 5);
    free(got);
    free(big);
    free(out);
}

static void test_join_creates_folders(void **state)
{
    struct fixture *fx = *state;
    put_two_segments(fx);
    char *out = at(fx, "a/b/c/out.csv");
    struct inf_err err = {0};
    if (outputs_join(fx->job, &MB1, 1, out, NULL, &err) != 0) /* bytes is optional */
        fail_msg("outputs_join: %s", err.msg);
    char *got = slurp(fx, "a/b/c/out.csv", NULL);
    assert_non_null(got);
    assert_string_equal(got, "cc\n");
    free(got);
    free(out);
}

/* Asserts that joining r[0..n) into outputs/score/predictions.csv fails
 * with INF_EIO and a message holding needle, leaving no output and no
 * temporary file. */
static void assert_join_fails(const struct fixture *fx, const struct outputs_range *r, size_t n,
                              const char *needle)
{
    char *out = at(fx, "outputs/score/predictions.csv");
    struct inf_err err = {0};
    int64_t bytes = -1;
    int rc = outputs_join(fx->job, r, n, out, &bytes, &err);
    free(out);
    if (rc != INF_EIO || strstr(err.msg, needle) == NULL)
        fail_msg("rc %d, message \"%s\": want INF_EIO naming \"%s\"", rc, err.msg, needle);
    assert_int_equal(err.code, INF_EIO);
    assert_int_equal(bytes, -1);
    assert_false(exists(fx, "outputs/score/predictions.csv"));
    assert_int_equal(temp_files_in(fx, "outputs/score"), 0);
}

static void test_join_missing_segment(void **state)
{
    struct fixture *fx = *state;
    put_two_segments(fx);
    const struct outputs_range r[] = {MB0, {"proc-7.csv", 0, 3}, MB1};
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "joining results: %s/results/proc-7.csv", fx->job);
    assert_join_fails(fx, r, 3, want);
}

static void test_join_short_segment(void **state)
{
    struct fixture *fx = *state;
    put_two_segments(fx);
    const struct outputs_range r[] = {MB0, {"B", 1, 3}}; /* B has 3 bytes */
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "joining results: %s/results/B ", fx->job);
    assert_join_fails(fx, r, 2, want);
    assert_join_fails(fx, r, 2, "the segment ends early");
    const struct outputs_range past[] = {{"A", 100, 1}};
    assert_join_fails(fx, past, 1, "the segment ends early");
}

static void test_join_bad_segment_name(void **state)
{
    struct fixture *fx = *state;
    put_two_segments(fx);
    /* Files that exist, reachable only through a bad name. */
    put(fx, "job-file.csv", "secret\n");
    put(fx, "results/sub/f.csv", "nested\n");
    put_segment(fx, ".hidden", "hidden\n");
    const char *names[] = {"../job-file.csv", "sub/f.csv", ".hidden", "", "/etc/passwd"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct outputs_range r[] = {MB0, {names[i], 0, 3}};
        char want[PATH_MAX + 64];
        snprintf(want, sizeof(want), "joining results: %s/results/%s", fx->job, names[i]);
        assert_join_fails(fx, r, 2, want);
    }
    const struct outputs_range null_name[] = {{NULL, 0, 0}};
    assert_join_fails(fx, null_name, 1, "joining results");
}

static void test_join_negative_offset(void **state)
{
    struct fixture *fx = *state;
    put_two_segments(fx);
    const struct outputs_range r[] = {{"A", -1, 2}};
    assert_join_fails(fx, r, 1, "results/A");
}

/* A range outputs_range_intact calls broken must not join as empty.
 * Fails today: copy_range's loop `while (done < r->bytes)` never runs
 * for bytes < 0, so the range is skipped and the join succeeds. */
static void test_join_negative_length(void **state)
{
    struct fixture *fx = *state;
    put_two_segments(fx);
    const struct outputs_range r[] = {MB0, {"B", 0, -3}};
    assert_int_equal(outputs_range_intact(fx->job, &r[1]), 0);
    assert_join_fails(fx, r, 2, "results/B");
}

static void test_join_failure_keeps_old_output(void **state)
{
    struct fixture *fx = *state;
    put(fx, "out.csv", "old\n");
    const struct outputs_range r[] = {{"nope", 0, 1}};
    char *out = at(fx, "out.csv");
    assert_int_equal(outputs_join(fx->job, r, 1, out, NULL, NULL), INF_EIO);
    char *got = slurp(fx, "out.csv", NULL);
    assert_non_null(got);
    assert_string_equal(got, "old\n");
    assert_int_equal(temp_files_in(fx, "."), 0);
    free(got);
    free(out);
}

static void test_join_empty(void **state)
{
    struct fixture *fx = *state;
    /* No results folder at all: nothing is read. */
    char *got = join_ok(fx, NULL, 0, "outputs/score/predictions.csv");
    assert_string_equal(got, "");
    free(got);
}

static void test_join_replaces_atomically(void **state)
{
    struct fixture *fx = *state;
    put(fx, "outputs/score/predictions.csv", "an older and much longer output\n");
    put_two_segments(fx);
    char *out = at(fx, "outputs/score/predictions.csv");
    /* A reader that had the old file open keeps reading the old file:
     * the new one is renamed over it, not written into it. */
    FILE *reader = fopen(out, "r");
    assert_non_null(reader);
    struct stat before, after;
    assert_int_equal(stat(out, &before), 0);

    char *got = join_ok(fx, &MB1, 1, "outputs/score/predictions.csv");
    assert_string_equal(got, "cc\n");
    free(got);
    assert_int_equal(stat(out, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    char line[64];
    assert_non_null(fgets(line, sizeof(line), reader));
    assert_string_equal(line, "an older and much longer output\n");
    fclose(reader);
    assert_int_equal(temp_files_in(fx, "outputs/score"), 0);
    free(out);
}

static void test_join_folder_blocked(void **state)
{
    struct fixture *fx = *state;
    put(fx, "outputs", "a file where the folder should be\n");
    put_two_segments(fx);
    char *out = at(fx, "outputs/score/predictions.csv");
    struct inf_err err = {0};
    assert_int_not_equal(outputs_join(fx->job, &MB1, 1, out, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "outputs"));
    free(out);
}

/* Offsets and lengths come from the instance's report: the sums must not
 * overflow. Fails today (and aborts the binary under UBSan, which is why
 * it runs last): outputs_range_intact computes `r->offset + r->bytes`,
 * which overflows int64_t here and, wrapped negative, says "intact"; the
 * error message of outputs_join computes the same sum. */
static void test_huge_ranges(void **state)
{
    struct fixture *fx = *state;
    put_two_segments(fx);
    const struct outputs_range huge[] = {{"A", INT64_MAX, 1}, {"A", 1, INT64_MAX}};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(outputs_range_intact(fx->job, &huge[i]), 0);
        assert_join_fails(fx, &huge[i], 1, "results/A");
    }
}

/* ---- outputs_append_log ------------------------------------------------ */

static void test_append_log(void **state)
{
    struct fixture *fx = *state;
    char *log = at(fx, "logs/user/instance-0/process-12.stdout.txt");
    struct inf_err err = {0};
    assert_int_equal(outputs_append_log(log, "first line\n", &err), 0);
    assert_int_equal(outputs_append_log(log, "second", &err), 0);
    assert_int_equal(outputs_append_log(log, "", &err), 0);
    assert_int_equal(outputs_append_log(log, " and more\n", &err), 0);
    char *got = slurp(fx, "logs/user/instance-0/process-12.stdout.txt", NULL);
    assert_non_null(got);
    assert_string_equal(got, "first line\nsecond and more\n");
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    free(got);
    free(log);
}

static void test_append_log_existing_file(void **state)
{
    struct fixture *fx = *state;
    put(fx, "logs/job_progress_overview.txt", "started\n");
    char *log = at(fx, "logs/job_progress_overview.txt");
    assert_int_equal(outputs_append_log(log, "done\n", NULL), 0);
    char *got = slurp(fx, "logs/job_progress_overview.txt", NULL);
    assert_string_equal(got, "started\ndone\n");
    free(got);
    free(log);
}

static void test_append_log_blocked(void **state)
{
    struct fixture *fx = *state;
    put(fx, "logs", "a file where the folder should be\n");
    char *log = at(fx, "logs/user/error.txt");
    struct inf_err err = {0};
    assert_int_equal(outputs_append_log(log, "x\n", &err), INF_EIO);
    assert_non_null(strstr(err.msg, fx->job));
    free(log);
    /* A folder where the log file should be. */
    char *dirlog = at(fx, "dirlog");
    assert_int_equal(mkdir(dirlog, 0755), 0);
    assert_int_equal(outputs_append_log(dirlog, "x\n", &err), INF_EIO);
    assert_non_null(strstr(err.msg, dirlog));
    free(dirlog);
}

/* ---- outputs_list ------------------------------------------------------ */

/* Asserts that listing job/rel with prefix gives exactly want (compact
 * JSON). */
static void assert_listing(const struct fixture *fx, const char *rel, const char *prefix,
                           const char *want)
{
    char *dir = at(fx, rel);
    json_t *got = outputs_list(dir, prefix);
    free(dir);
    json_error_t jerr;
    json_t *expected = json_loads(want, 0, &jerr);
    assert_non_null(expected);
    char *dump = json_dumps(got, JSON_COMPACT);
    int equal = json_equal(got, expected);
    json_decref(expected);
    json_decref(got);
    char msg[2048];
    snprintf(msg, sizeof(msg), "listing %s: got %s, want %s", rel, dump, want);
    free(dump);
    if (!equal)
        fail_msg("%s", msg); /* after freeing, so a failure leaks nothing */
}

static void test_list(void **state)
{
    struct fixture *fx = *state;
    put(fx, "score/predictions.csv", "1,2\n");
    put(fx, "score/sub/b.txt", "abc");
    put(fx, "score/sub/deeper/empty.csv", "");
    put(fx, "score/a-b.csv", "12345678");
    put(fx, "score/.hidden", "x");
    assert_listing(fx, "score", "score",
                   "[{\"path\": \"score/a-b.csv\", \"size\": 8},"
                   " {\"path\": \"score/predictions.csv\", \"size\": 4},"
                   " {\"path\": \"score/sub/b.txt\", \"size\": 3},"
                   " {\"path\": \"score/sub/deeper/empty.csv\", \"size\": 0}]");
    assert_listing(fx, "score/sub", "logs",
                   "[{\"path\": \"logs/b.txt\", \"size\": 3},"
                   " {\"path\": \"logs/deeper/empty.csv\", \"size\": 0}]");
}

static void test_list_temporary_files(void **state)
{
    struct fixture *fx = *state;
    /* is_temporary skips a path ending in ".tmp-" and digits only. */
    put(fx, "score/predictions.csv.tmp-123", "partial");
    put(fx, "score/sub/x.tmp-9", "partial");
    put(fx, "score/x.tmp", "kept");
    put(fx, "score/notes.tmp-old", "kept");
    put(fx, "score/x.tmp-12a", "kept");
    put(fx, "score/run.tmp-5/part.csv", "kept"); /* a folder so named */
    assert_listing(fx, "score", "score",
                   "[{\"path\": \"score/notes.tmp-old\", \"size\": 4},"
                   " {\"path\": \"score/run.tmp-5/part.csv\", \"size\": 4},"
                   " {\"path\": \"score/x.tmp\", \"size\": 4},"
                   " {\"path\": \"score/x.tmp-12a\", \"size\": 4}]");
}

/* Fails today: is_temporary looks only at the first ".tmp-" in the path,
 * so the join's temporary file of an output named "v.tmp-2.csv", or of any
 * file in a folder named "run.tmp-5", is listed as if it were finished. */
static void test_list_temporary_second_match(void **state)
{
    struct fixture *fx = *state;
    put(fx, "score/v.tmp-2.csv", "kept");
    put(fx, "score/v.tmp-2.csv.tmp-4242", "partial");
    put(fx, "score/run.tmp-5/predictions.csv.tmp-77", "partial");
    assert_listing(fx, "score", "score", "[{\"path\": \"score/v.tmp-2.csv\", \"size\": 4}]");
}

static void test_list_missing_or_empty(void **state)
{
    struct fixture *fx = *state;
    assert_listing(fx, "nope", "score", "[]");
    put(fx, "a-file", "x");
    assert_listing(fx, "a-file", "score", "[]");
    char *empty = at(fx, "empty");
    assert_int_equal(mkdir(empty, 0755), 0);
    free(empty);
    assert_listing(fx, "empty", "score", "[]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_results_dir),
        T(test_range_intact),
        T(test_join_order),
        T(test_join_byte_exact),
        T(test_join_creates_folders),
        T(test_join_missing_segment),
        T(test_join_short_segment),
        T(test_join_bad_segment_name),
        T(test_join_negative_offset),
        T(test_join_negative_length),
        T(test_join_failure_keeps_old_output),
        T(test_join_empty),
        T(test_join_replaces_atomically),
        T(test_join_folder_blocked),
        T(test_append_log),
        T(test_append_log_existing_file),
        T(test_append_log_blocked),
        T(test_list),
        T(test_list_temporary_files),
        T(test_list_temporary_second_match),
        T(test_list_missing_or_empty),
        T(test_huge_ranges), /* last: aborts under UBSan until fixed */
#undef T
    };
    return cmocka_run_group_tests_name("outputs", tests, NULL, NULL);
}
