/*
 * args: the tiny option parser every CLI verb shares.
 *
 *   -n NAME, -nNAME, --name NAME, --name=NAME   an option with a value
 *   --yes, -y                                     a flag
 *   --set a=1 --set b=2, --set a=1 b=2            a repeatable option; words
 *                                                 that follow it and do not
 *                                                 start with '-' are more values
 *   -h, --help                                    always recognised
 *   --                                            ends the options
 *
 * Verbs take no positional arguments, so any other word is an error. A
 * value option always consumes the next word, even one starting with '-'
 * ("--set x=-1"). Non-repeatable options may be given once.
 *
 * Pure: no allocation, no I/O. Values borrow the argv strings.
 */
#ifndef INF_CLI_ARGS_H
#define INF_CLI_ARGS_H

#include <stddef.h>

#include "core/err.h"

#define ARGS_MAX_HITS 128

enum args_kind {
    ARGS_FLAG,   /* no value */
    ARGS_VALUE,  /* one value, at most once */
    ARGS_REPEAT, /* one or more values, any number of times */
};

struct args_opt {
    char short_name;       /* 'n' for -n, or 0 */
    const char *long_name; /* "name" for --name; also the lookup key */
    enum args_kind kind;
    const char *metavar; /* "NAME" in usage, NULL for flags */
    const char *help;    /* one line for --help */
};

/* One occurrence of an option on the command line. */
struct args_hit {
    size_t opt;        /* index into the option table */
    const char *value; /* NULL for flags */
};

struct args {
    const struct args_opt *opts;
    size_t n_opts;
    struct args_hit hits[ARGS_MAX_HITS];
    size_t n_hits;
    int help; /* -h or --help was given */
};

/* Parses argv[0..argc) (the words after the verb) against opts[0..n_opts)
 * into *a. Returns 0, or INF_EINVAL with err naming the word at fault:
 * an unknown option, a missing value, a repeated single-value option, a
 * value given to a flag, an unexpected word, more than ARGS_MAX_HITS
 * occurrences. -h/--help set a->help and are accepted anywhere (unless
 * opts define 'h' or "help" themselves). Values borrow argv. */
int args_parse(struct args *a, const struct args_opt *opts, size_t n_opts, int argc,
               char *const *argv, struct inf_err *err);

/* The value of a single-value option, or NULL if absent. For a repeatable
 * option: its last value. long_name must be in the table (asserted). */
const char *args_get(const struct args *a, const char *long_name);

/* How many times the option occurred (values, for repeatable options). */
size_t args_count(const struct args *a, const char *long_name);

/* Iterates the values of an option in command-line order: start with
 * *pos = 0; returns the next value, or NULL at the end. */
const char *args_next(const struct args *a, const char *long_name, size_t *pos);

#endif
