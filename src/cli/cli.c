/*
 * cli: dispatch of `inferd <group> <verb> [options]`, help text, the admin
 * token (or the --token of verbs that take one), and the helpers every verb
 * shares (output, errors, API calls, path checks).
 * Main thread only; one command per process: cli_main sets up the HTTP
 * client and the token, runs the verb and frees everything before it
 * returns.
 */
#include "cli/cli.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_int.h"
#include "core/util.h"
#include "spec/spec.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
#define TOKEN_MAX_BYTES 4096
#define MAX_OPTS 32
#define HELP_COLUMN 32

static const struct cli_group *const groups[] = {
    &cli_endpoint_group,         &cli_deployment_group, &cli_batch_endpoint_group,
    &cli_batch_deployment_group, &cli_job_group,
};

/* Accepted on every verb because Azure users type them out of habit. */
static const struct args_opt azure_opts[] = {
    {'g', "resource-group", ARGS_VALUE, "GROUP", "Azure only; ignored"},
    {'w', "workspace-name", ARGS_VALUE, "WORKSPACE", "Azure only; ignored"},
    {0, "subscription", ARGS_VALUE, "ID", "Azure only; ignored"},
};

static const size_t n_azure_opts = sizeof(azure_opts) / sizeof(azure_opts[0]);

/* ---- output and errors ---- */

static void vprint_line(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_line("inferd: ", fmt, ap);
    va_end(ap);
    return 1;
}

void cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_line("inferd: note: ", fmt, ap);
    va_end(ap);
}

int cli_usage_error(const struct cli *c, const char *fmt, ...)
{
    fprintf(stderr, "inferd: %s %s: ", c->group, c->verb->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: inferd %s %s %s\n", c->group, c->verb->name, c->verb->synopsis);
    return 2;
}

void cli_print_notes(const json_t *notes)
{
    size_t i;
    const json_t *note;
    json_array_foreach(notes, i, note)
    {
        if (json_is_string(note))
            cli_note("%s", json_string_value(note));
    }
}

int cli_print_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (text == NULL)
        return cli_fail("cannot format the result as JSON");
    int rc = printf("%s\n", text) < 0 || fflush(stdout) != 0;
    free(text);
    if (rc != 0)
        return cli_fail("cannot write to stdout: %s", inf_strerror(errno));
    return 0;
}

/* ---- options and input ---- */

int cli_name_opt(const struct cli *c, const struct args *a, const char *long_name, const char *what,
                 const char **out)
{
    const char *v = args_get(a, long_name);
    if (v == NULL) {
        char label[64] = "";
        for (size_t i = 0; i < a->n_opts; i++)
            if (strcmp(a->opts[i].long_name, long_name) == 0 && a->opts[i].short_name != 0)
                snprintf(label, sizeof(label), "-%c/", a->opts[i].short_name);
        return cli_usage_error(c, "missing %s--%s (the %s)", label, long_name, what);
    }
    struct inf_err err = {0};
    if (spec_name_valid(v, what, &err) != 0)
        return cli_fail("%s", err.msg);
    *out = v;
    return 0;
}

int cli_read_spec(const char *path, json_t **out)
{
    struct inf_err err = {0};
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    if (inf_read_file(path, CLI_SPEC_MAX_BYTES, &text, &len, &err) != 0)
        return cli_fail("%s", err.msg);
    json_t *spec = spec_yaml_parse(text, len, path, &err);
    free(text);
    if (spec == NULL)
        return cli_fail("%s", err.msg);
    if (!json_is_object(spec)) {
        json_decref(spec);
        return cli_fail("%s: expected a mapping of fields at the top level", path);
    }
    *out = spec;
    return 0;
}

int cli_apply_sets(const struct args *a, json_t *spec)
{
    size_t pos = 0;
    const char *assignment;
    while ((assignment = args_next(a, "set", &pos)) != NULL) {
        struct inf_err err = {0};
        if (spec_set_path(spec, assignment, &err) != 0)
            return cli_fail("--set %s: %s", assignment, err.msg);
    }
    return 0;
}

int cli_env_long(const char *name, long def, long min, long max, long *out)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        *out = def;
        return 0;
    }
    if (inf_parse_long(v, min, max, out) != 0)
        return cli_fail("%s: '%s' is not an integer from %ld to %ld", name, v, min, max);
    return 0;
}

/* ---- API calls ---- */

int cli_send(struct cli *c, const struct cli_http_req *req, struct cli_http_resp *resp)
{
    struct cli_http_req r = *req;
    if (r.bearer == NULL)
        r.bearer = c->token;
    struct inf_err err = {0};
    if (cli_http_request(&c->http, &r, resp, &err) != 0)
        return cli_fail("%s", err.msg);
    return 0;
}

int cli_server_error(const char *method, const char *path, const struct cli_http_resp *resp)
{
    json_t *body = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    json_t *error = json_object_get(body, "error");
    const char *message = json_string_value(json_object_get(error, "message"));
    const char *code = json_string_value(json_object_get(error, "code"));
    if (message != NULL) {
        cli_fail("%s (HTTP %ld%s%s)", message, resp->status, code != NULL ? " " : "",
                 code != NULL ? code : "");
    } else {
        /* Not our error shape (a proxy, say): show the start of the body. */
        int n = (int)(resp->body.len < 300 ? resp->body.len : 300);
        while (n > 0 && (resp->body.data[n - 1] == '\n' || resp->body.data[n - 1] == '\r'))
            n--;
        cli_fail("%s %s: HTTP %ld%s%.*s", method, path, resp->status, n > 0 ? ": " : "", n,
                 n > 0 ? resp->body.data : "");
    }
    json_decref(body);
    return 1;
}

int cli_api(struct cli *c, const char *method, const char *path, const json_t *body, json_t **out)
{
    char *text = NULL;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL)
            return cli_fail("%s %s: cannot encode the request as JSON", method, path);
    }
    struct cli_http_req req = {
        .method = method,
        .path = path,
        .body = text,
        .body_len = text != NULL ? strlen(text) : 0,
        .content_type = "application/json",
    };
    struct cli_http_resp resp;
    int rc = cli_send(c, &req, &resp);
    if (rc == 0 && (resp.status < 200 || resp.status > 299))
        rc = cli_server_error(method, path, &resp);
    if (rc == 0 && out != NULL) {
        json_error_t jerr;
        *out = json_loadb(resp.body.data, resp.body.len, 0, &jerr);
        if (*out == NULL)
            rc = cli_fail("%s %s: the server's response is not JSON: %s", method, path, jerr.text);
    }
    cli_http_resp_fini(&resp);
    free(text);
    return rc;
}

int cli_api_exists(struct cli *c, const char *path, int *exists)
{
    struct cli_http_req req = {.method = "GET", .path = path};
    struct cli_http_resp resp;
    int rc = cli_send(c, &req, &resp);
    if (rc == 0) {
        if (resp.status == 200)
            *exists = 1;
        else if (resp.status == 404)
            *exists = 0;
        else
            rc = cli_server_error("GET", path, &resp);
    }
    cli_http_resp_fini(&resp);
    return rc;
}

int cli_api_print(struct cli *c, const char *method, const char *path, const json_t *body)
{
    json_t *result = NULL;
    int rc = cli_api(c, method, path, body, &result);
    if (rc == 0)
        rc = cli_print_json(result);
    json_decref(result);
    return rc;
}

/* ---- paths ---- */

int cli_relpath_safe(const char *rel, int dir)
{
    if (*rel == '\0')
        return dir;
    const char *p = rel;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        int last = end == NULL || (dir && end[1] == '\0');
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\')
                return 0;
        if (last)
            return 1;
        p = end + 1;
    }
}

/* ---- the admin token ---- */

/* $INFERD_HOME/admin.token, else ~/.inferd/admin.token (as `inferd serve`
 * writes it); NULL if there is no home directory to look in. */
static char *token_path(void)
{
    const char *home = getenv("INFERD_HOME");
    if (home != NULL && *home != '\0')
        return inf_asprintf("%s/admin.token", home);
    const char *user_home = getenv("HOME");
    if (user_home == NULL || *user_home == '\0') {
        const struct passwd *pw = getpwuid(getuid());
        user_home = pw != NULL ? pw->pw_dir : NULL;
    }
    if (user_home == NULL)
        return NULL;
    return inf_asprintf("%s/.inferd/admin.token", user_home);
}

/* Trims whitespace in place; returns 0 if what is left is a usable token. */
static int token_clean(char *s)
{
    size_t start = strspn(s, " \t\r\n");
    size_t len = strlen(s + start);
    memmove(s, s + start, len + 1);
    while (len > 0 && strchr(" \t\r\n", s[len - 1]) != NULL)
        s[--len] = '\0';
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) /* it goes into an HTTP header */
            return -1;
    return 0;
}

/* The value of a verb's --token option, cleaned, as a new string. */
static int option_token(const char *value, char **out)
{
    char *token = inf_strdup(value);
    *out = NULL;
    if (token_clean(token) != 0) {
        free(token);
        return cli_fail("--token: not a valid token (printable characters, no spaces)");
    }
    *out = token;
    return 0;
}

static int load_token(char **out)
{
    *out = NULL;
    const char *env = getenv("INFERD_TOKEN");
    if (env != NULL && *env != '\0') {
        char *token = inf_strdup(env);
        if (token_clean(token) != 0) {
            free(token);
            return cli_fail("INFERD_TOKEN: not a valid token (printable characters, no spaces)");
        }
        *out = token;
        return 0;
    }
    char *path = token_path();
    if (path == NULL)
        return cli_fail("no admin token: INFERD_TOKEN is not set and neither INFERD_HOME nor "
                        "HOME says where admin.token is");
    struct inf_err err = {0};
    char *token = NULL;
    int rc = 0;
    if (inf_read_file(path, TOKEN_MAX_BYTES, &token, NULL, &err) != 0)
        rc = cli_fail("no admin token: INFERD_TOKEN is not set and %s (start `inferd serve`, "
                      "or set INFERD_TOKEN or INFERD_HOME)",
                      err.msg);
    else if (token_clean(token) != 0)
        rc = cli_fail("no admin token: %s is empty or not a valid token", path);
    free(path);
    if (rc != 0) {
        free(token);
        return rc;
    }
    *out = token;
    return 0;
}

/* ---- help ---- */

static void print_opt(FILE *f, const struct args_opt *o)
{
    char left[96];
    int n;
    if (o->short_name != 0)
        n = snprintf(left, sizeof(left), "  -%c, --%s", o->short_name, o->long_name);
    else
        n = snprintf(left, sizeof(left), "      --%s", o->long_name);
    if (o->metavar != NULL && n >= 0 && (size_t)n < sizeof(left))
        snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->metavar);
    if (strlen(left) < HELP_COLUMN - 1)
        fprintf(f, "  %-*s %s\n", HELP_COLUMN - 1, left, o->help);
    else
        fprintf(f, "  %s\n  %-*s %s\n", left, HELP_COLUMN - 1, "", o->help);
}

static void print_verb(FILE *f, const struct cli_group *g, const struct cli_verb *v)
{
    fprintf(f, "inferd %s %s%s%s\n    %s\n", g->name, v->name, *v->synopsis ? " " : "", v->synopsis,
            v->summary);
    for (size_t i = 0; i < v->n_opts; i++)
        print_opt(f, &v->opts[i]);
}

static void print_footer(FILE *f)
{
    fprintf(f, "\nEvery command prints JSON on stdout; errors go to stderr (exit 1; usage "
               "errors exit 2).\n"
               "Environment: INFERD_URL (default " DEFAULT_URL "), INFERD_TOKEN (else "
               "$INFERD_HOME/admin.token, else ~/.inferd/admin.token); --token, where a "
               "command has it, comes first.\n"
               "Azure options -g/--resource-group, -w/--workspace-name and --subscription "
               "are accepted and ignored.\n"
               "Reference: docs/cli.md\n");
}

static void print_group_help(FILE *f, const struct cli_group *g)
{
    fprintf(f, "usage: inferd %s <command> [options]\n%s\n", g->name, g->summary);
    for (size_t i = 0; i < g->n_verbs; i++) {
        fputc('\n', f);
        print_verb(f, g, &g->verbs[i]);
    }
    print_footer(f);
}

static void print_verb_help(FILE *f, const struct cli_group *g, const struct cli_verb *v)
{
    fprintf(f, "usage: ");
    print_verb(f, g, v);
    print_footer(f);
}

/* ---- dispatch ---- */

int cli_is_group(const char *name)
{
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (strcmp(groups[i]->name, name) == 0)
            return 1;
    return 0;
}

static const struct cli_group *find_group(const char *name)
{
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (strcmp(groups[i]->name, name) == 0)
            return groups[i];
    return NULL;
}

static const struct cli_verb *find_verb(const struct cli_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_verbs; i++)
        if (strcmp(g->verbs[i].name, name) == 0)
            return &g->verbs[i];
    return NULL;
}

/* The --token value when the verb takes that option and it was given. */
static const char *token_given(const struct args *a)
{
    for (size_t i = 0; i < a->n_opts; i++)
        if (strcmp(a->opts[i].long_name, "token") == 0)
            return args_get(a, "token");
    return NULL;
}

static void note_azure_opts(const struct args *a)
{
    for (size_t i = 0; i < n_azure_opts; i++)
        if (args_count(a, azure_opts[i].long_name) > 0)
            cli_note("--%s is Azure-only and ignored", azure_opts[i].long_name);
}

static int run_verb(struct cli *c, const struct cli_group *g, int argc, char **argv)
{
    const struct cli_verb *v = c->verb;
    struct args_opt opts[MAX_OPTS];
    if (v->n_opts + n_azure_opts > MAX_OPTS)
        return cli_fail("%s %s: too many options in its table", g->name, v->name);
    if (v->n_opts > 0)
        memcpy(opts, v->opts, v->n_opts * sizeof(opts[0]));
    memcpy(opts + v->n_opts, azure_opts, sizeof(azure_opts));

    struct args a;
    struct inf_err err = {0};
    if (args_parse(&a, opts, v->n_opts + n_azure_opts, argc, argv, &err) != 0)
        return cli_usage_error(c, "%s", err.msg);
    if (a.help) {
        print_verb_help(stdout, g, v);
        return 0;
    }
    note_azure_opts(&a);

    const char *url = getenv("INFERD_URL");
    if (url == NULL || *url == '\0')
        url = DEFAULT_URL;
    if (cli_http_init(&c->http, url, &err) != 0)
        return cli_fail("%s", err.msg);
    const char *token = token_given(&a);
    int rc = token != NULL ? option_token(token, &c->token) : load_token(&c->token);
    if (rc == 0)
        rc = v->run(c, &a);
    free(c->token);
    c->token = NULL;
    cli_http_fini(&c->http);
    return rc;
}

int cli_main(int argc, char **argv)
{
    const struct cli_group *g = argc > 0 ? find_group(argv[0]) : NULL;
    if (g == NULL) {
        fprintf(stderr, "inferd: unknown command group '%s'\n", argc > 0 ? argv[0] : "");
        return 2;
    }
    if (argc < 2) {
        fprintf(stderr, "inferd: %s: missing command\n", g->name);
        print_group_help(stderr, g);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        print_group_help(stdout, g);
        return 0;
    }
    struct cli c = {
        .group = g->name,
        .verb = find_verb(g, verb),
        .stderr_tty = isatty(STDERR_FILENO),
    };
    if (c.verb == NULL) {
        fprintf(stderr, "inferd: %s: unknown command '%s'; commands:", g->name, verb);
        for (size_t i = 0; i < g->n_verbs; i++)
            fprintf(stderr, " %s", g->verbs[i].name);
        fprintf(stderr, " (see `inferd %s --help`)\n", g->name);
        return 2;
    }
    return run_verb(&c, g, argc - 2, argv + 2);
}
