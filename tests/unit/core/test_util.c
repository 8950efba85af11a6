/*
 * Unit tests for core/util, core/err and core/log: bounded buffers, string
 * helpers, randomness, hashing, file helpers, error records and the code to
 * HTTP status table. File tests work inside a fresh mkdtemp directory that
 * each test removes again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- helpers ---------------------------------------------------------- */

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A fresh temporary directory; the caller removes it with inf_rm_rf. */
static char *temp_dir(void)
{
    char tmpl[] = "/tmp/inferd-test-util-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return inf_strdup(tmpl);
}

static void write_text(const char *path, const char *text)
{
    struct inf_err err = {0};
    assert_int_equal(inf_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

static mode_t current_umask(void)
{
    mode_t mask = umask(0);
    umask(mask);
    return mask;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- inf_buf ---------------------------------------------------------- */

static void buf_append_fills_exactly_to_cap(void **state)
{
    (void)state;
    struct inf_buf b;
    inf_buf_init(&b, 10);
    assert_int_equal(inf_buf_append(&b, "hello", 5), 0);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_int_equal(inf_buf_append(&b, "world", 5), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    assert_int_equal(b.data[10], '\0');
    /* An empty append at the cap is still fine. */
    assert_int_equal(inf_buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 10);
    inf_buf_fini(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void buf_append_past_cap_leaves_buffer_unchanged(void **state)
{
    (void)state;
    struct inf_buf b;
    inf_buf_init(&b, 8);
    assert_int_equal(inf_buf_append(&b, "abcdef", 6), 0);
    assert_int_equal(inf_buf_append(&b, "xyz", 3), INF_ETOOBIG);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(inf_buf_append(&b, "gh", 2), 0);
    assert_int_equal(inf_buf_append(&b, "i", 1), INF_ETOOBIG);
    assert_string_equal(b.data, "abcdefgh");
    /* A huge length must not wrap around the cap arithmetic. */
    assert_int_equal(inf_buf_append(&b, "j", SIZE_MAX), INF_ETOOBIG);
    assert_int_equal(b.len, 8);
    inf_buf_fini(&b);

    /* Too big for an empty buffer: nothing is allocated. */
    inf_buf_init(&b, 4);
    assert_int_equal(inf_buf_append(&b, "12345", 5), INF_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    inf_buf_fini(&b);

    /* A zero cap only ever holds the empty string. */
    inf_buf_init(&b, 0);
    assert_int_equal(inf_buf_append(&b, "", 0), 0);
    assert_string_equal(b.data, "");
    assert_int_equal(inf_buf_append(&b, "a", 1), INF_ETOOBIG);
    assert_string_equal(b.data, "");
    inf_buf_fini(&b);
}

static void buf_grows_across_many_appends(void **state)
{
    (void)state;
    struct inf_buf b;
    inf_buf_init(&b, 100000);
    char expect[5001];
    for (int i = 0; i < 5000; i++) {
        char c = (char)('a' + i % 26);
        expect[i] = c;
        assert_int_equal(inf_buf_append(&b, &c, 1), 0);
        assert_int_equal(b.data[b.len], '\0');
    }
    expect[5000] = '\0';
    assert_int_equal(b.len, 5000);
    assert_true(b.cap > b.len);
    assert_true(b.cap <= b.max + 1);
    assert_string_equal(b.data, expect);
    inf_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    inf_buf_fini(&b);
}

static void buf_printf_short_and_long(void **state)
{
    (void)state;
    struct inf_buf b;
    inf_buf_init(&b, 4096);
    assert_int_equal(inf_buf_printf(&b, "n=%d s=%s", 42, "x"), 0);
    assert_string_equal(b.data, "n=42 s=x");
    assert_int_equal(b.len, 8);

    /* Longer than the 256-byte stack buffer inf_buf_printf tries first. */
    char longs[601];
    memset(longs, 'q', 600);
    longs[600] = '\0';
    assert_int_equal(inf_buf_printf(&b, "[%s]", longs), 0);
    assert_int_equal(b.len, 8 + 602);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(strlen(b.data), b.len);
    assert_memory_equal(b.data, "n=42 s=x[", 9);
    assert_int_equal(b.data[9], 'q');
    assert_int_equal(b.data[9 + 599], 'q');
    assert_int_equal(b.data[9 + 600], ']');

    /* Exactly 255 and 256 characters straddle the two code paths. */
    inf_buf_reset(&b);
    assert_int_equal(inf_buf_printf(&b, "%.*s", 255, longs), 0);
    assert_int_equal(b.len, 255);
    assert_int_equal(strlen(b.data), 255);
    inf_buf_reset(&b);
    assert_int_equal(inf_buf_printf(&b, "%.*s", 256, longs), 0);
    assert_int_equal(b.len, 256);
    assert_int_equal(strlen(b.data), 256);
    inf_buf_fini(&b);
}

static void buf_printf_past_cap_leaves_buffer_unchanged(void **state)
{
    (void)state;
    struct inf_buf b;
    inf_buf_init(&b, 300);
    assert_int_equal(inf_buf_printf(&b, "%s", "head"), 0);

    /* Short output that does not fit. */
    char fill[297];
    memset(fill, 'f', 296);
    fill[296] = '\0';
    assert_int_equal(inf_buf_printf(&b, "%s", fill), 0);
    assert_int_equal(b.len, 300);
    assert_int_equal(inf_buf_printf(&b, "%d", 7), INF_ETOOBIG);
    assert_int_equal(b.len, 300);
    assert_int_equal(b.data[300], '\0');
    assert_int_equal(b.data[299], 'f');

    /* Long output (over 256 bytes) that does not fit. */
    inf_buf_reset(&b);
    assert_int_equal(inf_buf_printf(&b, "%s", "head"), 0);
    char longs[400];
    memset(longs, 'z', 399);
    longs[399] = '\0';
    assert_int_equal(inf_buf_printf(&b, "%s", longs), INF_ETOOBIG);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "head");
    inf_buf_fini(&b);
}

/* ---- strings ---------------------------------------------------------- */

static void asprintf_short_and_long(void **state)
{
    (void)state;
    char *s = inf_asprintf("%s-%d", "ep", 7);
    assert_string_equal(s, "ep-7");
    free(s);

    char longs[1001];
    memset(longs, 'L', 1000);
    longs[1000] = '\0';
    s = inf_asprintf("<%s|%s>", longs, longs);
    assert_int_equal(strlen(s), 2003);
    assert_int_equal(s[0], '<');
    assert_memory_equal(s + 1, longs, 1000);
    assert_int_equal(s[1001], '|');
    assert_memory_equal(s + 1002, longs, 1000);
    assert_int_equal(s[2002], '>');
    free(s);

    s = inf_asprintf("%s", "");
    assert_string_equal(s, "");
    free(s);
}

static void const_eq_compares_content_and_length(void **state)
{
    (void)state;
    assert_int_equal(inf_const_eq("secret", 6, "secret", 6), 1);
    assert_int_equal(inf_const_eq("secret", 6, "secreT", 6), 0);
    assert_int_equal(inf_const_eq("Secret", 6, "secret", 6), 0);
    assert_int_equal(inf_const_eq("secret", 6, "secrets", 7), 0);
    assert_int_equal(inf_const_eq("secret", 6, "secret", 5), 0);
    assert_int_equal(inf_const_eq("", 0, "", 0), 1);
    assert_int_equal(inf_const_eq("", 0, "a", 1), 0);
    /* Embedded NULs are compared like any other byte. */
    assert_int_equal(inf_const_eq("a\0b", 3, "a\0c", 3), 0);
    assert_int_equal(inf_const_eq("a\0b", 3, "a\0b", 3), 1);
}

static void parse_long_accepts_whole_numbers_in_range(void **state)
{
    (void)state;
    long v = 0;
    assert_int_equal(inf_parse_long("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(inf_parse_long("-7", -10, 10, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(inf_parse_long("0", 0, 0, &v), 0);
    assert_int_equal(v, 0);
    /* Both bounds are inclusive. */
    assert_int_equal(inf_parse_long("100", 0, 100, &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(inf_parse_long("1", 1, 100, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(inf_parse_long("9223372036854775807", LONG_MIN, LONG_MAX, &v), 0);
    assert_true(v == LONG_MAX);
    assert_int_equal(inf_parse_long("-9223372036854775808", LONG_MIN, LONG_MAX, &v), 0);
    assert_true(v == LONG_MIN);
}

static void parse_long_rejects_bad_input(void **state)
{
    (void)state;
    long v = 12345;
    assert_int_equal(inf_parse_long("101", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("-1", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("99999999999999999999999", LONG_MIN, LONG_MAX, &v), -1);
    assert_int_equal(inf_parse_long("-99999999999999999999999", LONG_MIN, LONG_MAX, &v), -1);
    assert_int_equal(inf_parse_long("12abc", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("12 ", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("1.5", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("0x10", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("abc", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("-", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long(NULL, 0, 100, &v), -1);
    /* Stricter than strtol: no leading blanks, no '+'. */
    assert_int_equal(inf_parse_long(" 42", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("\n42", 0, 100, &v), -1);
    assert_int_equal(inf_parse_long("+42", 0, 100, &v), -1);
    /* A failed parse never touches *out. */
    assert_int_equal(v, 12345);
}

static void buf_with_unbounded_cap_grows(void **state)
{
    (void)state;
    struct inf_buf b;
    inf_buf_init(&b, SIZE_MAX);
    for (int i = 0; i < 100; i++)
        assert_int_equal(inf_buf_append(&b, "hello world", 11), 0);
    assert_int_equal(b.len, 1100);
    assert_memory_equal(b.data + 1089, "hello world", 11);
    inf_buf_fini(&b);
}

static void mkdir_p_refuses_a_file_in_the_way(void **state)
{
    (void)state;
    char dir[] = "/tmp/inferd-test-mkdir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128];
    snprintf(file, sizeof(file), "%s/plain", dir);
    assert_int_equal(inf_write_file_atomic(file, "x", 1, 0644, NULL), 0);
    struct inf_err err;
    assert_int_equal(inf_mkdir_p(file, 0755, &err), INF_EIO);
    assert_non_null(strstr(err.msg, "a file is in the way"));
    assert_int_equal(inf_rm_rf(dir, NULL), 0);
}

/* ---- randomness and hashing ------------------------------------------- */

static void random_hex_has_length_and_charset(void **state)
{
    (void)state;
    char a[33], b[33];
    inf_random_hex(a, 16);
    inf_random_hex(b, 16);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strlen(b), 32);
    for (size_t i = 0; i < 32; i++) {
        assert_true(is_lower_hex(a[i]));
        assert_true(is_lower_hex(b[i]));
    }
    assert_string_not_equal(a, b);

    /* More bytes than one internal chunk; the byte after the NUL is untouched. */
    char big[2 * 200 + 2];
    big[sizeof(big) - 1] = '#';
    inf_random_hex(big, 200);
    assert_int_equal(strlen(big), 400);
    for (size_t i = 0; i < 400; i++)
        assert_true(is_lower_hex(big[i]));
    assert_int_equal(big[sizeof(big) - 1], '#');

    char empty[1] = {'x'};
    inf_random_hex(empty, 0);
    assert_int_equal(empty[0], '\0');
}

static void uuid4_has_rfc4122_shape(void **state)
{
    (void)state;
    char prev[37] = "";
    for (int round = 0; round < 200; round++) {
        char u[37];
        inf_uuid4(u);
        assert_int_equal(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(u[i], '-');
            else
                assert_true(is_lower_hex(u[i]));
        }
        assert_int_equal(u[14], '4');
        assert_non_null(strchr("89ab", u[19]));
        assert_string_not_equal(u, prev);
        memcpy(prev, u, sizeof(u));
    }
}

static void sha256_hex_known_vectors(void **state)
{
    (void)state;
    char out[65];
    inf_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    inf_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void utc_iso8601_formats_z_time(void **state)
{
    (void)state;
    char out[32];
    inf_utc_iso8601(out, sizeof(out), 0);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    inf_utc_iso8601(out, sizeof(out), 1700000000);
    assert_string_equal(out, "2023-11-14T22:13:20Z");
}

/* ---- files ------------------------------------------------------------ */

static void files_round_trip(void **state)
{
    (void)state;
    struct inf_err err = {0};
    char *root = temp_dir();
    char *dir = inf_asprintf("%s/a/b/c", root);
    char *path = inf_asprintf("%s/data.bin", dir);

    assert_int_equal(inf_mkdir_p(dir, 0750, &err), 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0750 & ~current_umask());
    /* Existing directories are fine. */
    assert_int_equal(inf_mkdir_p(dir, 0750, &err), 0);

    const char data[] = "hello\0world";
    assert_int_equal(inf_write_file_atomic(path, data, sizeof(data) - 1, 0600, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600 & ~current_umask());

    char *got = NULL;
    size_t len = 0;
    assert_int_equal(inf_read_file(path, 1024, &got, &len, &err), 0);
    assert_int_equal(len, sizeof(data) - 1);
    assert_memory_equal(got, data, len);
    assert_int_equal(got[len], '\0');
    free(got);

    /* Overwriting replaces content and mode and leaves no temporary behind. */
    assert_int_equal(inf_write_file_atomic(path, "second", 6, 0640, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640 & ~current_umask());
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(inf_read_file(path, 6, &got, NULL, &err), 0);
    assert_string_equal(got, "second");
    free(got);

    free(path);
    free(dir);
    assert_int_equal(inf_rm_rf(root, &err), 0);
    free(root);
}

static void read_file_errors(void **state)
{
    (void)state;
    struct inf_err err = {0};
    char *root = temp_dir();
    char *path = inf_asprintf("%s/f.txt", root);
    char *missing = inf_asprintf("%s/nope.txt", root);
    char *empty = inf_asprintf("%s/empty.txt", root);
    write_text(path, "0123456789A");
    write_text(empty, "");

    static char sentinel[] = "sentinel";
    char *got = sentinel;
    assert_int_equal(inf_read_file(path, 10, &got, NULL, &err), INF_ETOOBIG);
    assert_null(got);
    assert_int_equal(err.code, INF_ETOOBIG);
    assert_non_null(strstr(err.msg, path));

    got = sentinel;
    inf_err_clear(&err);
    assert_int_equal(inf_read_file(missing, 10, &got, NULL, &err), INF_ENOTFOUND);
    assert_null(got);
    assert_int_equal(err.code, INF_ENOTFOUND);
    assert_non_null(strstr(err.msg, missing));
    /* A NULL error record is allowed. */
    assert_int_equal(inf_read_file(missing, 10, &got, NULL, NULL), INF_ENOTFOUND);

    /* Reading a directory is an I/O error, not "not found". */
    assert_int_equal(inf_read_file(root, 10, &got, NULL, &err), INF_EIO);
    assert_null(got);

    size_t len = 99;
    assert_int_equal(inf_read_file(empty, 10, &got, &len, &err), 0);
    assert_non_null(got);
    assert_int_equal(len, 0);
    assert_string_equal(got, "");
    free(got);

    free(empty);
    free(missing);
    free(path);
    assert_int_equal(inf_rm_rf(root, &err), 0);
    free(root);
}

static void write_and_mkdir_errors(void **state)
{
    (void)state;
    struct inf_err err = {0};
    char *root = temp_dir();
    char *orphan = inf_asprintf("%s/no/such/dir/f.txt", root);
    assert_int_equal(inf_write_file_atomic(orphan, "x", 1, 0644, &err), INF_EIO);
    assert_int_equal(err.code, INF_EIO);
    assert_non_null(strstr(err.msg, root));

    assert_int_equal(inf_mkdir_p("", 0755, &err), INF_EINVAL);

    char huge[PATH_MAX + 16];
    memset(huge, 'd', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(inf_mkdir_p(huge, 0755, &err), INF_EINVAL);
    assert_int_equal(err.code, INF_EINVAL);

    /* A directory under a regular file cannot be created. */
    char *file = inf_asprintf("%s/plain", root);
    char *under = inf_asprintf("%s/plain/sub", root);
    write_text(file, "x");
    assert_int_equal(inf_mkdir_p(under, 0755, &err), INF_EIO);
    assert_non_null(strstr(err.msg, file));

    free(under);
    free(file);
    free(orphan);
    assert_int_equal(inf_rm_rf(root, &err), 0);
    free(root);
}

static void rm_rf_tree_and_missing(void **state)
{
    (void)state;
    struct inf_err err = {0};
    char *root = temp_dir();
    char *deep = inf_asprintf("%s/x/y/z", root);
    char *f1 = inf_asprintf("%s/x/top.txt", root);
    char *f2 = inf_asprintf("%s/x/y/z/leaf.txt", root);
    char *link = inf_asprintf("%s/x/y/link", root);
    assert_int_equal(inf_mkdir_p(deep, 0755, &err), 0);
    write_text(f1, "1");
    write_text(f2, "2");
    /* A symlink out of the tree is removed, not followed. */
    char *outside = temp_dir();
    char *kept = inf_asprintf("%s/kept.txt", outside);
    write_text(kept, "keep me");
    assert_int_equal(symlink(outside, link), 0);

    assert_int_equal(inf_rm_rf(root, &err), 0);
    struct stat st;
    assert_int_equal(lstat(root, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(stat(kept, &st), 0);

    /* Missing paths are not an error, and a single file works too. */
    assert_int_equal(inf_rm_rf(root, &err), 0);
    assert_int_equal(inf_rm_rf(kept, &err), 0);
    assert_int_equal(stat(kept, &st), -1);

    assert_int_equal(inf_rm_rf(outside, &err), 0);
    free(kept);
    free(outside);
    free(link);
    free(f2);
    free(f1);
    free(deep);
    free(root);
}

static void file_tail_returns_last_lines(void **state)
{
    (void)state;
    struct inf_err err = {0};
    char *root = temp_dir();
    char *nl = inf_asprintf("%s/nl.log", root);
    char *no_nl = inf_asprintf("%s/no_nl.log", root);
    char *empty = inf_asprintf("%s/empty.log", root);
    char *missing = inf_asprintf("%s/missing.log", root);
    write_text(nl, "one\ntwo\nthree\n");
    write_text(no_nl, "one\ntwo\nthree");
    write_text(empty, "");

    char *t = inf_file_tail(nl, 2, 4096);
    assert_string_equal(t, "two\nthree\n");
    free(t);
    t = inf_file_tail(nl, 1, 4096);
    assert_string_equal(t, "three\n");
    free(t);
    t = inf_file_tail(no_nl, 2, 4096);
    assert_string_equal(t, "two\nthree");
    free(t);
    t = inf_file_tail(no_nl, 1, 4096);
    assert_string_equal(t, "three");
    free(t);

    /* Fewer lines than asked for: the whole file. */
    t = inf_file_tail(nl, 3, 4096);
    assert_string_equal(t, "one\ntwo\nthree\n");
    free(t);
    t = inf_file_tail(nl, 50, 4096);
    assert_string_equal(t, "one\ntwo\nthree\n");
    free(t);

    t = inf_file_tail(nl, 0, 4096);
    assert_string_equal(t, "");
    free(t);
    t = inf_file_tail(empty, 5, 4096);
    assert_string_equal(t, "");
    free(t);
    t = inf_file_tail(missing, 5, 4096);
    assert_non_null(t);
    assert_string_equal(t, "");
    free(t);

    free(missing);
    free(empty);
    free(no_nl);
    free(nl);
    assert_int_equal(inf_rm_rf(root, &err), 0);
    free(root);
}

static void file_tail_respects_byte_cap(void **state)
{
    (void)state;
    struct inf_err err = {0};
    char *root = temp_dir();
    char *path = inf_asprintf("%s/big.log", root);
    write_text(path, "aaaa\nbbbb\ncccc\n");

    /* Only the last 7 bytes are read, even when more lines are wanted. */
    char *t = inf_file_tail(path, 10, 7);
    assert_string_equal(t, "b\ncccc\n");
    free(t);
    t = inf_file_tail(path, 1, 7);
    assert_string_equal(t, "cccc\n");
    free(t);
    t = inf_file_tail(path, 5, 0);
    assert_string_equal(t, "");
    free(t);

    /* A large file: the result never exceeds the cap. */
    struct inf_buf b;
    inf_buf_init(&b, 1 << 20);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(inf_buf_printf(&b, "line %05d\n", i), 0);
    assert_int_equal(inf_write_file_atomic(path, b.data, b.len, 0644, &err), 0);
    inf_buf_fini(&b);
    t = inf_file_tail(path, 100000, 1000);
    assert_int_equal(strlen(t), 1000);
    assert_non_null(strstr(t, "line 19999\n"));
    free(t);
    t = inf_file_tail(path, 3, 1 << 20);
    assert_string_equal(t, "line 19997\nline 19998\nline 19999\n");
    free(t);

    free(path);
    assert_int_equal(inf_rm_rf(root, &err), 0);
    free(root);
}

/* ---- err -------------------------------------------------------------- */

static void err_set_and_prefix_compose(void **state)
{
    (void)state;
    struct inf_err err;
    assert_int_equal(inf_err_set(&err, INF_EINVAL, "instance_count: got %d", -3), INF_EINVAL);
    assert_int_equal(err.code, INF_EINVAL);
    assert_string_equal(err.msg, "instance_count: got -3");

    assert_int_equal(inf_err_prefix(&err, "deployment %s", "blue"), INF_EINVAL);
    assert_string_equal(err.msg, "deployment blue: instance_count: got -3");
    assert_int_equal(inf_err_prefix(&err, "endpoint.yml"), INF_EINVAL);
    assert_string_equal(err.msg, "endpoint.yml: deployment blue: instance_count: got -3");
    assert_int_equal(err.code, INF_EINVAL);

    /* NULL records are allowed everywhere. */
    assert_int_equal(inf_err_set(NULL, INF_EIO, "ignored %s", "x"), INF_EIO);
    assert_int_equal(inf_err_prefix(NULL, "ctx"), INF_EINTERNAL);
    inf_err_clear(NULL);

    inf_err_clear(&err);
    assert_int_equal(err.code, INF_OK);
    assert_string_equal(err.msg, "");
}

static void err_truncation_stays_terminated(void **state)
{
    (void)state;
    /* On the heap at its exact size, so ASan sees any write past msg. */
    struct inf_err *err = inf_malloc(sizeof(*err));
    char longs[2 * INF_ERR_MSG_MAX];
    memset(longs, 'm', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';

    inf_err_set(err, INF_ETOOBIG, "%s", longs);
    assert_int_equal(strlen(err->msg), INF_ERR_MSG_MAX - 1);

    /* A short context in front of a full message: the message is cut. */
    assert_int_equal(inf_err_prefix(err, "ctx"), INF_ETOOBIG);
    assert_int_equal(strlen(err->msg), INF_ERR_MSG_MAX - 1);
    assert_memory_equal(err->msg, "ctx: mmm", 8);

    /* Contexts of every length around the limit. */
    for (int n = INF_ERR_MSG_MAX - 16; n <= INF_ERR_MSG_MAX + 16; n++) {
        inf_err_set(err, INF_EINVAL, "tail");
        inf_err_prefix(err, "%.*s", n, longs);
        size_t len = strnlen(err->msg, sizeof(err->msg));
        assert_true(len < sizeof(err->msg));
        size_t shown = (size_t)n < sizeof(err->msg) - 1 ? (size_t)n : sizeof(err->msg) - 1;
        assert_true(len >= shown);
        assert_int_equal(strspn(err->msg, "m"), shown);
        assert_int_equal(err->code, INF_EINVAL);
    }

    /* A short message behind a context that nearly fills the record. */
    inf_err_set(err, INF_EINVAL, "abcdef");
    inf_err_prefix(err, "%.*s", INF_ERR_MSG_MAX - 6, longs);
    assert_int_equal(strlen(err->msg), INF_ERR_MSG_MAX - 1);
    assert_string_equal(err->msg + INF_ERR_MSG_MAX - 6, ": abc");
    free(err);
}

static void err_http_status_table(void **state)
{
    (void)state;
    assert_int_equal(inf_err_http_status(INF_EINVAL), 400);
    assert_int_equal(inf_err_http_status(INF_ENOTFOUND), 404);
    assert_int_equal(inf_err_http_status(INF_ECONFLICT), 409);
    assert_int_equal(inf_err_http_status(INF_EAUTH), 401);
    assert_int_equal(inf_err_http_status(INF_ETOOBIG), 413);
    assert_int_equal(inf_err_http_status(INF_EUPSTREAM), 502);
    assert_int_equal(inf_err_http_status(INF_EUNSUPPORTED), 400);
    assert_int_equal(inf_err_http_status(INF_EUNAVAIL), 503);
    assert_int_equal(inf_err_http_status(INF_ETIMEOUT), 504);
    assert_int_equal(inf_err_http_status(INF_EIO), 500);
    assert_int_equal(inf_err_http_status(INF_ESTORE), 500);
    assert_int_equal(inf_err_http_status(INF_EINTERNAL), 500);
    assert_int_equal(inf_err_http_status(-999), 500);
    assert_int_equal(inf_err_http_status(12345), 500);

    assert_string_equal(inf_err_name(INF_EINVAL), "BadRequest");
    assert_string_equal(inf_err_name(INF_ENOTFOUND), "NotFound");
    assert_string_equal(inf_err_name(-999), "InternalError");
}

static void strerror_never_null(void **state)
{
    (void)state;
    assert_string_equal(inf_strerror(ENOENT), "No such file or directory");
    assert_non_null(inf_strerror(-1));
    assert_non_null(inf_strerror(999999));
}

/* ---- log -------------------------------------------------------------- */

static void log_parse_level_names(void **state)
{
    (void)state;
    enum inf_log_level lv = INF_LOG_ERROR;
    assert_int_equal(inf_log_parse_level("debug", &lv), 0);
    assert_int_equal(lv, INF_LOG_DEBUG);
    assert_int_equal(inf_log_parse_level("info", &lv), 0);
    assert_int_equal(lv, INF_LOG_INFO);
    assert_int_equal(inf_log_parse_level("warn", &lv), 0);
    assert_int_equal(lv, INF_LOG_WARN);
    assert_int_equal(inf_log_parse_level("error", &lv), 0);
    assert_int_equal(lv, INF_LOG_ERROR);

    const char *bad[] = {"", "INFO", "warning", "err", "info ", "debugx", "trace"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lv = INF_LOG_WARN;
        assert_int_equal(inf_log_parse_level(bad[i], &lv), -1);
        assert_int_equal(lv, INF_LOG_WARN);
    }
}

static void log_level_filters(void **state)
{
    (void)state;
    inf_log_set_level(INF_LOG_WARN);
    assert_false(inf_log_enabled(INF_LOG_DEBUG));
    assert_false(inf_log_enabled(INF_LOG_INFO));
    assert_true(inf_log_enabled(INF_LOG_WARN));
    assert_true(inf_log_enabled(INF_LOG_ERROR));
    inf_log_set_level(INF_LOG_INFO);
    assert_true(inf_log_enabled(INF_LOG_INFO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_fills_exactly_to_cap),
        cmocka_unit_test(buf_append_past_cap_leaves_buffer_unchanged),
        cmocka_unit_test(buf_grows_across_many_appends),
        cmocka_unit_test(buf_printf_short_and_long),
        cmocka_unit_test(buf_printf_past_cap_leaves_buffer_unchanged),
        cmocka_unit_test(asprintf_short_and_long),
        cmocka_unit_test(const_eq_compares_content_and_length),
        cmocka_unit_test(parse_long_accepts_whole_numbers_in_range),
        cmocka_unit_test(parse_long_rejects_bad_input),
        cmocka_unit_test(buf_with_unbounded_cap_grows),
        cmocka_unit_test(mkdir_p_refuses_a_file_in_the_way),
        cmocka_unit_test(random_hex_has_length_and_charset),
        cmocka_unit_test(uuid4_has_rfc4122_shape),
        cmocka_unit_test(sha256_hex_known_vectors),
        cmocka_unit_test(utc_iso8601_formats_z_time),
        cmocka_unit_test(files_round_trip),
        cmocka_unit_test(read_file_errors),
        cmocka_unit_test(write_and_mkdir_errors),
        cmocka_unit_test(rm_rf_tree_and_missing),
        cmocka_unit_test(file_tail_returns_last_lines),
        cmocka_unit_test(file_tail_respects_byte_cap),
        cmocka_unit_test(err_set_and_prefix_compose),
        cmocka_unit_test(err_truncation_stays_terminated),
        cmocka_unit_test(err_http_status_table),
        cmocka_unit_test(strerror_never_null),
        cmocka_unit_test(log_parse_level_names),
        cmocka_unit_test(log_level_filters),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
