/*
 * args: parses a verb's command-line words against its option table.
 * Pure and allocation-free; any thread. The parsed record borrows argv and
 * the option table, so both must outlive it.
 */
#include "cli/args.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static int find_long(const struct args_opt *opts, size_t n, const char *name, size_t name_len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].long_name) == name_len && memcmp(opts[i].long_name, name, name_len) == 0)
            return (int)i;
    return -1;
}

static int find_short(const struct args_opt *opts, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (opts[i].short_name != 0 && opts[i].short_name == c)
            return (int)i;
    return -1;
}

static size_t index_of(const struct args *a, const char *long_name)
{
    int i = find_long(a->opts, a->n_opts, long_name, strlen(long_name));
    assert(i >= 0 && "option missing from the verb's table");
    return (size_t)i;
}

/* Words shown in messages: "-n/--name" or "--yes". */
static void opt_label(const struct args_opt *o, char *out, size_t out_len)
{
    if (o->short_name != 0)
        snprintf(out, out_len, "-%c/--%s", o->short_name, o->long_name);
    else
        snprintf(out, out_len, "--%s", o->long_name);
}

static int add_hit(struct args *a, size_t opt, const char *value, struct inf_err *err)
{
    const struct args_opt *o = &a->opts[opt];
    if (o->kind == ARGS_VALUE) {
        for (size_t i = 0; i < a->n_hits; i++) {
            if (a->hits[i].opt == opt) {
                char label[80];
                opt_label(o, label, sizeof(label));
                return inf_err_set(err, INF_EINVAL, "option %s given more than once", label);
            }
        }
    }
    if (a->n_hits == ARGS_MAX_HITS)
        return inf_err_set(err, INF_EINVAL, "more than %d options", ARGS_MAX_HITS);
    a->hits[a->n_hits].opt = opt;
    a->hits[a->n_hits].value = value;
    a->n_hits++;
    return 0;
}

/* Handles the option opts[opt] written as `word`. `inline_value` is the text
 * after "=" (long) or after the letter (short), or NULL. Advances *i past any
 * words it consumed. */
static int take(struct args *a, size_t opt, const char *word, const char *inline_value, int argc,
                char *const *argv, int *i, struct inf_err *err)
{
    const struct args_opt *o = &a->opts[opt];
    if (o->kind == ARGS_FLAG) {
        if (inline_value != NULL)
            return inf_err_set(err, INF_EINVAL, "option %s takes no value", word);
        return add_hit(a, opt, NULL, err);
    }
    const char *value = inline_value;
    if (value == NULL) {
        if (*i + 1 >= argc)
            return inf_err_set(err, INF_EINVAL, "option %s needs a value (%s)", word,
                               o->metavar != NULL ? o->metavar : "VALUE");
        value = argv[++*i];
    }
    int rc = add_hit(a, opt, value, err);
    if (rc != 0 || o->kind != ARGS_REPEAT)
        return rc;
    /* Like az: "--set a=1 b=2" gives two values. */
    while (*i + 1 < argc && argv[*i + 1][0] != '-') {
        rc = add_hit(a, opt, argv[++*i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_long(struct args *a, const char *word, int argc, char *const *argv, int *i,
                      struct inf_err *err)
{
    const char *name = word + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    int opt = find_long(a->opts, a->n_opts, name, name_len);
    if (opt < 0 && name_len == 4 && memcmp(name, "help", 4) == 0 && eq == NULL) {
        a->help = 1;
        return 0;
    }
    if (opt < 0)
        return inf_err_set(err, INF_EINVAL, "unknown option '--%.*s'", (int)name_len, name);
    return take(a, (size_t)opt, word, eq != NULL ? eq + 1 : NULL, argc, argv, i, err);
}

static int parse_short(struct args *a, const char *word, int argc, char *const *argv, int *i,
                       struct inf_err *err)
{
    int opt = find_short(a->opts, a->n_opts, word[1]);
    if (opt < 0 && word[1] == 'h' && word[2] == '\0') {
        a->help = 1;
        return 0;
    }
    if (opt < 0)
        return inf_err_set(err, INF_EINVAL, "unknown option '-%c'", word[1]);
    char label[3] = {'-', word[1], '\0'};
    const char *inline_value = word[2] != '\0' ? word + 2 : NULL;
    if (inline_value != NULL && a->opts[opt].kind == ARGS_FLAG)
        return inf_err_set(err, INF_EINVAL, "unknown option '%s' (%s takes no value)", word, label);
    return take(a, (size_t)opt, label, inline_value, argc, argv, i, err);
}

int args_parse(struct args *a, const struct args_opt *opts, size_t n_opts, int argc,
               char *const *argv, struct inf_err *err)
{
    memset(a, 0, sizeof(*a));
    a->opts = opts;
    a->n_opts = n_opts;
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i];
        int rc;
        if (strcmp(word, "--") == 0) {
            if (i + 1 < argc)
                return inf_err_set(err, INF_EINVAL, "unexpected argument '%s'", argv[i + 1]);
            break;
        }
        if (word[0] == '-' && word[1] == '-' && word[2] != '\0')
            rc = parse_long(a, word, argc, argv, &i, err);
        else if (word[0] == '-' && word[1] != '\0' && word[1] != '-')
            rc = parse_short(a, word, argc, argv, &i, err);
        else
            rc = inf_err_set(err, INF_EINVAL, "unexpected argument '%s'", word);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const char *args_get(const struct args *a, const char *long_name)
{
    size_t opt = index_of(a, long_name);
    const char *value = NULL;
    for (size_t i = 0; i < a->n_hits; i++)
        if (a->hits[i].opt == opt)
            value = a->hits[i].value;
    return value;
}

size_t args_count(const struct args *a, const char *long_name)
{
    size_t opt = index_of(a, long_name);
    size_t n = 0;
    for (size_t i = 0; i < a->n_hits; i++)
        if (a->hits[i].opt == opt)
            n++;
    return n;
}

const char *args_next(const struct args *a, const char *long_name, size_t *pos)
{
    size_t opt = index_of(a, long_name);
    while (*pos < a->n_hits) {
        const struct args_hit *h = &a->hits[(*pos)++];
        if (h->opt == opt)
            return h->value;
    }
    return NULL;
}
