/*
 * Tests for cli/args: the option parser shared by every CLI verb.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli/args.h"

static const struct args_opt opts[] = {
    {'f', "file", ARGS_VALUE, "FILE", "spec file"},      {'n', "name", ARGS_VALUE, "NAME", "name"},
    {0, "set", ARGS_REPEAT, "KEY=VALUE", "set a field"}, {'y', "yes", ARGS_FLAG, NULL, "no prompt"},
    {0, "traffic", ARGS_VALUE, "SPLIT", "traffic"},
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

/* Parses a NULL-terminated list of words. */
static int parse(struct args *a, struct inf_err *err, char **words)
{
    int argc = 0;
    while (words[argc] != NULL)
        argc++;
    inf_err_clear(err);
    return args_parse(a, opts, N_OPTS, argc, words, err);
}

static void test_short_and_long_values(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"-f", "blue.yml", "--name", "my-endpoint", NULL};
    assert_int_equal(parse(&a, &err, words), 0);
    assert_string_equal(args_get(&a, "file"), "blue.yml");
    assert_string_equal(args_get(&a, "name"), "my-endpoint");
    assert_null(args_get(&a, "traffic"));
    assert_int_equal(args_count(&a, "yes"), 0);
    assert_int_equal(a.help, 0);
}

static void test_inline_values(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"--file=x.yml", "-nblue", "--traffic=blue=90 green=10", NULL};
    assert_int_equal(parse(&a, &err, words), 0);
    assert_string_equal(args_get(&a, "file"), "x.yml");
    assert_string_equal(args_get(&a, "name"), "blue");
    /* Only the first '=' separates the option from its value. */
    assert_string_equal(args_get(&a, "traffic"), "blue=90 green=10");
}

static void test_empty_inline_value(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"--name=", NULL};
    assert_int_equal(parse(&a, &err, words), 0);
    assert_string_equal(args_get(&a, "name"), "");
}

static void test_value_may_start_with_dash(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"--set", "-x=1", "-n", "--yes", NULL};
    assert_int_equal(parse(&a, &err, words), 0);
    assert_string_equal(args_get(&a, "set"), "-x=1");
    assert_string_equal(args_get(&a, "name"), "--yes");
    assert_int_equal(args_count(&a, "yes"), 0);
}

static void test_repeat_keeps_order(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"--set", "a=1", "-y", "--set", "b.c=2", "--set=d=x", NULL};
    assert_int_equal(parse(&a, &err, words), 0);
    assert_int_equal(args_count(&a, "set"), 3);
    size_t pos = 0;
    assert_string_equal(args_next(&a, "set", &pos), "a=1");
    assert_string_equal(args_next(&a, "set", &pos), "b.c=2");
    assert_string_equal(args_next(&a, "set", &pos), "d=x");
    assert_null(args_next(&a, "set", &pos));
    assert_null(args_next(&a, "set", &pos));
    assert_string_equal(args_get(&a, "set"), "d=x");
    assert_int_equal(args_count(&a, "yes"), 1);
}

static void test_repeat_takes_following_words(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"--set", "a=1", "b=2", "c=3", "-n", "blue", NULL};
    assert_int_equal(parse(&a, &err, words), 0);
    assert_int_equal(args_count(&a, "set"), 3);
    size_t pos = 0;
    assert_string_equal(args_next(&a, "set", &pos), "a=1");
    assert_string_equal(args_next(&a, "set", &pos), "b=2");
    assert_string_equal(args_next(&a, "set", &pos), "c=3");
    assert_string_equal(args_get(&a, "name"), "blue");
}

static void test_help(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *long_help[] = {"-n", "x", "--help", NULL};
    assert_int_equal(parse(&a, &err, long_help), 0);
    assert_int_equal(a.help, 1);
    char *short_help[] = {"-h", NULL};
    assert_int_equal(parse(&a, &err, short_help), 0);
    assert_int_equal(a.help, 1);
    char *help_value[] = {"--help=yes", NULL};
    assert_int_equal(parse(&a, &err, help_value), INF_EINVAL);
}

static void test_no_words(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {NULL};
    assert_int_equal(parse(&a, &err, words), 0);
    assert_int_equal(a.n_hits, 0);
    assert_null(args_get(&a, "name"));
}

static void test_double_dash_ends_options(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *end[] = {"-y", "--", NULL};
    assert_int_equal(parse(&a, &err, end), 0);
    assert_int_equal(args_count(&a, "yes"), 1);
    char *after[] = {"--", "stray", NULL};
    assert_int_equal(parse(&a, &err, after), INF_EINVAL);
    assert_non_null(strstr(err.msg, "'stray'"));
}

static void test_unknown_options(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *long_opt[] = {"--nmae", "x", NULL};
    assert_int_equal(parse(&a, &err, long_opt), INF_EINVAL);
    assert_string_equal(err.msg, "unknown option '--nmae'");
    char *long_inline[] = {"--colour=red", NULL};
    assert_int_equal(parse(&a, &err, long_inline), INF_EINVAL);
    assert_string_equal(err.msg, "unknown option '--colour'");
    char *short_opt[] = {"-z", NULL};
    assert_int_equal(parse(&a, &err, short_opt), INF_EINVAL);
    assert_string_equal(err.msg, "unknown option '-z'");
    /* A long name is never matched by its prefix. */
    char *prefix[] = {"--nam", "x", NULL};
    assert_int_equal(parse(&a, &err, prefix), INF_EINVAL);
}

static void test_missing_value(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"-y", "-f", NULL};
    assert_int_equal(parse(&a, &err, words), INF_EINVAL);
    assert_string_equal(err.msg, "option -f needs a value (FILE)");
    char *set[] = {"--set", NULL};
    assert_int_equal(parse(&a, &err, set), INF_EINVAL);
    assert_string_equal(err.msg, "option --set needs a value (KEY=VALUE)");
}

static void test_flag_with_value(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *long_flag[] = {"--yes=1", NULL};
    assert_int_equal(parse(&a, &err, long_flag), INF_EINVAL);
    assert_string_equal(err.msg, "option --yes=1 takes no value");
    char *short_flag[] = {"-yx", NULL};
    assert_int_equal(parse(&a, &err, short_flag), INF_EINVAL);
    assert_non_null(strstr(err.msg, "-yx"));
}

static void test_single_value_given_twice(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"-n", "a", "--name", "b", NULL};
    assert_int_equal(parse(&a, &err, words), INF_EINVAL);
    assert_string_equal(err.msg, "option -n/--name given more than once");
    char *long_only[] = {"--traffic", "a=1", "--traffic=b=2", NULL};
    assert_int_equal(parse(&a, &err, long_only), INF_EINVAL);
    assert_string_equal(err.msg, "option --traffic given more than once");
}

static void test_positional_rejected(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[] = {"-n", "blue", "extra", NULL};
    assert_int_equal(parse(&a, &err, words), INF_EINVAL);
    assert_string_equal(err.msg, "unexpected argument 'extra'");
    char *dash[] = {"-", NULL};
    assert_int_equal(parse(&a, &err, dash), INF_EINVAL);
    assert_string_equal(err.msg, "unexpected argument '-'");
}

static void test_too_many_hits(void **state)
{
    (void)state;
    struct args a;
    struct inf_err err;
    char *words[2 * ARGS_MAX_HITS + 3];
    for (int i = 0; i <= ARGS_MAX_HITS; i++) {
        words[2 * i] = "--set";
        words[2 * i + 1] = "a=1";
    }
    words[2 * ARGS_MAX_HITS + 2] = NULL;
    assert_int_equal(parse(&a, &err, words), INF_EINVAL);
    assert_non_null(strstr(err.msg, "more than"));

    /* Exactly the limit is fine. */
    words[2 * ARGS_MAX_HITS] = NULL;
    assert_int_equal(parse(&a, &err, words), 0);
    assert_int_equal(args_count(&a, "set"), ARGS_MAX_HITS);
}

static void test_huge_value(void **state)
{
    (void)state;
    static char big[1 << 20];
    memset(big, 'x', sizeof(big) - 1);
    struct args a;
    struct inf_err err;
    char *words[] = {"-n", big, NULL};
    assert_int_equal(parse(&a, &err, words), 0);
    assert_ptr_equal(args_get(&a, "name"), big);
    /* An unknown huge option name still gives a bounded message. */
    big[0] = '-';
    big[1] = '-';
    char *unknown[] = {big, NULL};
    assert_int_equal(parse(&a, &err, unknown), INF_EINVAL);
    assert_true(strlen(err.msg) < INF_ERR_MSG_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_and_long_values),
        cmocka_unit_test(test_inline_values),
        cmocka_unit_test(test_empty_inline_value),
        cmocka_unit_test(test_value_may_start_with_dash),
        cmocka_unit_test(test_repeat_keeps_order),
        cmocka_unit_test(test_repeat_takes_following_words),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_no_words),
        cmocka_unit_test(test_double_dash_ends_options),
        cmocka_unit_test(test_unknown_options),
        cmocka_unit_test(test_missing_value),
        cmocka_unit_test(test_flag_with_value),
        cmocka_unit_test(test_single_value_given_twice),
        cmocka_unit_test(test_positional_rejected),
        cmocka_unit_test(test_too_many_hits),
        cmocka_unit_test(test_huge_value),
    };
    return cmocka_run_group_tests_name("args", tests, NULL, NULL);
}
