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

extern const struct cli_group cli_endpoint_group;         /* cli_endpoint.c */
extern const struct cli_group cli_deployment_group;       /* cli_deployment.c */
extern const struct cli_group cli_batch_endpoint_group;   /* cli_batch.c */
extern const struct cli_group cli_batch_deployment_group; /* cli_batch.c */
extern const struct cli_group cli_job_group;              /* cli_job.c */

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

/* cli_api, then prints the JSON answer with cli_print_json. */
int cli_api_print(struct cli *c, const char *method, const char *path, const json_t *body);

/* 1 if `rel` is a safe relative path: no leading '/', no empty, "." or
 * ".." components, no backslashes or control characters; else 0. With
 * dir 1, "" (the root) and one trailing '/' are allowed too. Pure. */
int cli_relpath_safe(const char *rel, int dir);

/* ---- shared by the deployment verbs (cli_deployment.c) ---- */

/* The directory holding `file` ("." for a bare file name), as a new string. */
char *cli_deployment_dir_of(const char *file);

/* Packs the local folder or file `path` (resolved against base_dir unless
 * absolute; field `what` of `source`, for messages), uploads it with
 * POST /api/v1/artifacts unless the server has it already, and returns
 * "artifact:<sha256>" in *ref (a new string the caller frees). A folder is
 * packed under its own name with include_self 1, its contents at the root
 * with 0; a file is stored under its own name. A value that is already an
 * artifact reference is returned as it is. INFERD_MAX_ARTIFACT_MB caps the
 * archive. */
int cli_deployment_upload(struct cli *c, const char *source, const char *what, const char *path,
                          const char *base_dir, int include_self, char **ref);

/* Rewrites a deployment spec (online or batch, the user's form) in place
 * for the server: model / model.path and code_configuration.code are
 * uploaded (paths relative to base_dir) and replaced by artifact
 * references; with with_conda, environment.conda_file (a path) is
 * replaced by the file's text. */
int cli_deployment_localise(struct cli *c, json_t *spec, const char *source, const char *base_dir,
                            int with_conda);

/* ---- pure helpers of the batch verbs (cli_batch.c), unit-tested ---- */

/* What a batch-endpoint invoke --input names. */
enum cli_batch_input {
    CLI_BATCH_INPUT_LOCAL,     /* a local file or folder, to upload */
    CLI_BATCH_INPUT_DATASTORE, /* azureml://datastores/NAME/paths/PATH, passed through */
    CLI_BATCH_INPUT_ARTIFACT,  /* artifact:<sha256>[/PATH], already uploaded */
};

/* 0 if uri is "azureml://datastores/NAME/paths/PATH": NAME 1-255 letters,
 * digits, '_' or '-'; PATH relative and safe (cli_relpath_safe, dir 1).
 * Else INF_EINVAL naming the URI and what is wrong. Pure. */
int cli_batch_datastore_uri_check(const char *uri, struct inf_err *err);

/* Sorts an --input value into *kind, checking the URI forms (datastore
 * URIs as above; artifact references need 64 hex digits and a safe path).
 * Azure data assets ("azureml:NAME:VERSION"), other azureml:// URIs and
 * other schemes (https://, wasbs://, ...) are INF_EUNSUPPORTED with a
 * message saying what to give instead; "" is INF_EINVAL. Anything else is
 * a local path (not checked here). Pure. */
int cli_batch_input_classify(const char *input, enum cli_batch_input *kind, struct inf_err *err);

/* Sets one field of an invoke request body from its text (an option's
 * value, or the right side of --set KEY=VALUE): deployment_name,
 * job_name, instance_count (1-64), mini_batch_size (1-100000),
 * max_concurrency_per_instance (1-64), max_retries (0-100), timeout
 * (1-86400 s), error_threshold (-1 or more), output_path (a datastore
 * URI), output_file_name (a plain file name), environment_variables.NAME
 * (any text). Azure's retry_settings.max_retries, retry_settings.timeout
 * and resources.instance_count are accepted as aliases. Numbers become
 * JSON integers, the rest strings. INF_EINVAL naming the key or value;
 * body is unchanged on error. Pure. */
int cli_batch_invoke_set(json_t *body, const char *key, const char *value, struct inf_err *err);

/* The spec (Azure's `type: model` form) of a batch deployment as the
 * server returns it: the spec fields copied, instance_count moved under
 * resources, environment_variables and legacy root-level settings moved
 * under settings, status fields and "backend" dropped. A new object. Pure. */
json_t *cli_batch_deployment_spec_of(const json_t *stored);

/* ---- pure helpers of the job verbs (cli_job.c), unit-tested ---- */

#define CLI_JOB_NAME_MAX 64
#define CLI_JOB_BAR_WIDTH 20

/* 0 if `name` can be a job name: 1-CLI_JOB_NAME_MAX letters, digits, '_'
 * and '-', starting with a letter or digit; else INF_EINVAL naming it. */
int cli_job_name_valid(const char *name, struct inf_err *err);

/* 1 for the statuses a job never leaves (Completed, Failed, Canceled). */
int cli_job_status_terminal(const char *status);

/* One line describing a job's progress into out (always NUL-terminated):
 * "12/30 mini-batches, 0 failed, Running", "Queued (queue position 2)"
 * before the mini-batches are known; with with_bar, preceded by a
 * CLI_JOB_BAR_WIDTH-wide bar "[#####...............] ". Missing, negative
 * or inconsistent numbers are clamped; the status is shown without control
 * characters. Pure. */
void cli_job_progress_format(const json_t *job, int with_bar, char *out, size_t out_len);

/* For a file path from GET /api/v1/jobs/{id}/files, checked to lie under
 * `prefix` ("score/" or "logs/"): the part after the prefix, a safe
 * relative path (cli_relpath_safe). NULL with err (INF_EINVAL) for any
 * other path: absolute, outside the prefix, with "..", empty or "."
 * components. Pure; the result points into path. */
const char *cli_job_file_rel(const char *path, const char *prefix, struct inf_err *err);

/* rel with every byte but letters, digits, '-', '.', '_', '~' and '/'
 * percent-encoded, for a URL path. A new string. Pure. */
char *cli_job_url_path(const char *rel);

#endif
