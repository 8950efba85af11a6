/*
 * cli_int: what the CLI's verb files share: the command context, the verb
 * tables and helpers implemented in cli.c.
 *
 * Convention: every function here that can fail returns an exit status
 * (0 success, 1 error, 2 usage error) and has already printed the message
 * when it returns non-zero, so a verb simply passes the status up.
 */
#ifndef INF_CLI_CLI_INT_H
#define INF_CLI_CLI_INT_H

#include <stddef.h>

#include <jansson.h>

#include "cli/args.h"
#include "cli/cli_http.h"
#include "core/err.h"

#define CLI_SPEC_MAX_BYTES ((size_t)1 << 20)

struct cli_verb;

/* One command being run. */
struct cli {
    const char *group;           /* "online-endpoint" */
    const struct cli_verb *verb; /* the verb being run */
    struct cli_http http;
    char *token;    /* admin token */
    int stderr_tty; /* stderr is a terminal: progress lines are shown */
};

struct cli_verb {
    const char *name;     /* "create" */
    const char *synopsis; /* "-f FILE [-n NAME] [--set k=v ...]" */
    const char *summary;  /* one line for --help */
    const struct args_opt *opts;
    size_t n_opts;
    int (*run)(struct cli *c, const struct args *a);
};

struct cli_group {
    const char *name;    /* "online-endpoint" */
    const char *summary; /* one line for --help */
    const struct cli_verb *verbs;
    size_t n_verbs;
};

extern const struct cli_group cli_endpoint_group;   /* cli_endpoint.c */
extern const struct cli_group cli_deployment_group; /* cli_deployment.c */

/* Prints "inferd: <message>" on stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "inferd: <group> <verb>: <message>" and the verb's usage line on
 * stderr; returns 2. */
int cli_usage_error(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "inferd: note: <message>" on stderr. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints each string of a JSON array of notes with cli_note. */
void cli_print_notes(const json_t *notes);

/* Prints v on stdout as JSON with a 2-space indent and a newline. */
int cli_print_json(const json_t *v);

/* The value of option `long_name`, validated with spec_name_valid as
 * `what` ("endpoint name"). Missing: usage error naming the option. */
int cli_name_opt(const struct cli *c, const struct args *a, const char *long_name, const char *what,
                 const char **out);

/* Reads a YAML spec file (at most CLI_SPEC_MAX_BYTES) into a new JSON
 * object (*out, caller decrefs). */
int cli_read_spec(const char *path, json_t **out);

/* Applies every --set assignment of `a` to spec, in order. */
int cli_apply_sets(const struct args *a, json_t *spec);

/* The integer in environment variable `name`, def when unset or empty;
 * outside [min, max] or not a number: an error naming the variable. */
int cli_env_long(const char *name, long def, long min, long max, long *out);

/* Sends req with the admin token as bearer (unless req->bearer is set);
 * the response (any status) is in resp, which the caller finalises even
 * on error. Fails only when no response arrived. */
int cli_send(struct cli *c, const struct cli_http_req *req, struct cli_http_resp *resp);

/* Prints the server's error response: its message and the HTTP status,
 * or the raw body when it is not the JSON error shape. Returns 1. */
int cli_server_error(const char *method, const char *path, const struct cli_http_resp *resp);

/* A management API call with the admin token: body (may be NULL) is sent
 * as JSON; a 2xx JSON response is parsed into *out (a new reference the
 * caller decrefs; pass NULL to discard). Any other status is an error
 * printed with cli_server_error. */
int cli_api(struct cli *c, const char *method, const char *path, const json_t *body, json_t **out);

/* GETs path: *exists is 1 on 200 and 0 on 404; any other status or a
 * transport failure is an error. */
int cli_api_exists(struct cli *c, const char *path, int *exists);

#endif
