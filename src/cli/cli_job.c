/*
 * cli_job: the `inferd job` verbs for batch jobs: show, list, cancel,
 * stream (poll until the job ends, with a progress bar on a terminal) and
 * download (a job's output or log files into a local folder). REST calls
 * only (docs/rest-api.md "Batch endpoints"); the progress line and the
 * checks of server-given file paths are pure functions, unit-tested. Main
 * thread; run once by cli_main.
 */
#include "cli/cli_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "spec/spec.h"

#define STREAM_INTERVAL_NS 200000000L
#define STATUS_SHOWN_MAX 32
#define LINE_MAX_BYTES 256

/* ---- pure helpers ---- */

int cli_job_name_valid(const char *name, struct inf_err *err)
{
    size_t len = strlen(name);
    if (len == 0)
        return inf_err_set(err, INF_EINVAL, "job name is empty");
    if (len > CLI_JOB_NAME_MAX)
        return inf_err_set(err, INF_EINVAL, "job name '%.40s...' is longer than %d characters",
                           name, CLI_JOB_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        int alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (i == 0 && !alnum)
            return inf_err_set(err, INF_EINVAL,
                               "job name '%s': must start with a letter or a digit", name);
        if (!alnum && ch != '-' && ch != '_')
            return inf_err_set(err, INF_EINVAL,
                               "job name '%s': may have only letters, digits, '-' and '_'", name);
    }
    return 0;
}

int cli_job_status_terminal(const char *status)
{
    return status != NULL && (strcmp(status, "Completed") == 0 || strcmp(status, "Failed") == 0 ||
                              strcmp(status, "Canceled") == 0);
}

/* A non-negative count from the job's progress object (0 when missing). */
static long long count_of(const json_t *progress, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(progress, key));
    return v > 0 ? (long long)v : 0;
}

/* Appends printf output at out[*pos], never past out_len; *pos stops at the
 * end of what fits. */
__attribute__((format(printf, 4, 5))) static void append(char *out, size_t out_len, size_t *pos,
                                                         const char *fmt, ...)
{
    if (*pos + 1 >= out_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *pos, out_len - *pos, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *pos = (size_t)n < out_len - *pos ? *pos + (size_t)n : out_len - 1;
}

void cli_job_progress_format(const json_t *job, int with_bar, char *out, size_t out_len)
{
    if (out_len == 0)
        return;
    out[0] = '\0';
    /* The status goes to a terminal: keep it short and free of escapes. */
    char status[STATUS_SHOWN_MAX + 1] = "Unknown";
    const char *raw = json_string_value(json_object_get(job, "status"));
    if (raw != NULL && *raw != '\0') {
        size_t n = 0;
        for (; raw[n] != '\0' && n < STATUS_SHOWN_MAX; n++)
            status[n] = raw[n] >= 0x20 && raw[n] < 0x7f ? raw[n] : '?';
        status[n] = '\0';
    }
    const json_t *progress = json_object_get(job, "progress");
    long long total = count_of(progress, "mini_batches");
    long long failed = count_of(progress, "failed");
    long long done = count_of(progress, "done");
    if (failed > total)
        failed = total;
    /* Failed mini-batches are processed too; the bar fills when none is left. */
    long long processed = done > total - failed ? total : done + failed;

    size_t pos = 0;
    if (with_bar) {
        int fill = 0;
        if (total > 0 && processed == total) {
            fill = CLI_JOB_BAR_WIDTH;
        } else if (total > 0) {
            fill = (int)((double)processed * CLI_JOB_BAR_WIDTH / (double)total);
            if (fill > CLI_JOB_BAR_WIDTH - 1) /* never full while work is left */
                fill = CLI_JOB_BAR_WIDTH - 1;
        }
        char bar[CLI_JOB_BAR_WIDTH + 1];
        for (int i = 0; i < CLI_JOB_BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[CLI_JOB_BAR_WIDTH] = '\0';
        append(out, out_len, &pos, "[%s] ", bar);
    }
    if (total > 0)
        append(out, out_len, &pos, "%lld/%lld mini-batches, %lld failed, %s", processed, total,
               failed, status);
    else
        append(out, out_len, &pos, "%s", status);
    json_int_t queue_position = json_integer_value(json_object_get(job, "queue_position"));
    if (strcmp(status, "Queued") == 0 && queue_position > 0)
        append(out, out_len, &pos, " (queue position %lld)", (long long)queue_position);
}

const char *cli_job_file_rel(const char *path, const char *prefix, struct inf_err *err)
{
    size_t prefix_len = strlen(prefix);
    if (strncmp(path, prefix, prefix_len) != 0) {
        inf_err_set(err, INF_EINVAL, "'%.200s' is not under %s", path, prefix);
        return NULL;
    }
    const char *rel = path + prefix_len;
    if (!cli_relpath_safe(rel, 0)) {
        inf_err_set(err, INF_EINVAL,
                    "'%.200s' is not a safe relative path (empty, '.' or '..' parts, or control "
                    "characters)",
                    path);
        return NULL;
    }
    return rel;
}

char *cli_job_url_path(const char *rel)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(rel);
    char *out = inf_malloc(len * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)rel[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '/') {
            out[n++] = (char)ch;
        } else {
            out[n++] = '%';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 0xf];
        }
    }
    out[n] = '\0';
    return out;
}

/* ---- show, list, cancel ---- */

static char *job_path(const char *id)
{
    return inf_asprintf("/api/v1/jobs/%s", id);
}

/* The job name given with -n, validated. */
static int job_id(const struct cli *c, const struct args *a, const char **out)
{
    const char *v = args_get(a, "name");
    struct inf_err err = {0};
    if (v == NULL)
        return cli_usage_error(c, "missing -n/--name (the job name)");
    if (cli_job_name_valid(v, &err) != 0)
        return cli_fail("%s", err.msg);
    *out = v;
    return 0;
}

static int job_show(struct cli *c, const struct args *a)
{
    const char *id;
    int rc = job_id(c, a, &id);
    if (rc != 0)
        return rc;
    char *path = job_path(id);
    rc = cli_api_print(c, "GET", path, NULL);
    free(path);
    return rc;
}

static int job_list(struct cli *c, const struct args *a)
{
    if (args_get(a, "endpoint") == NULL)
        return cli_api_print(c, "GET", "/api/v1/jobs", NULL);
    const char *endpoint;
    int rc = cli_name_opt(c, a, "endpoint", "endpoint name", &endpoint);
    if (rc != 0)
        return rc;
    char *path = inf_asprintf("/api/v1/jobs?endpoint=%s", endpoint);
    rc = cli_api_print(c, "GET", path, NULL);
    free(path);
    return rc;
}

static int job_cancel(struct cli *c, const struct args *a)
{
    const char *id;
    int rc = job_id(c, a, &id);
    if (rc != 0)
        return rc;
    char *path = inf_asprintf("/api/v1/jobs/%s/cancel", id);
    rc = cli_api_print(c, "POST", path, NULL);
    free(path);
    return rc;
}

/* ---- stream ---- */

/* Shows where the job stands: on a terminal, redraws one line with a bar
 * (ended by a newline once the job is over); elsewhere, prints a line each
 * time the text changes. `last` remembers the previous line. */
static void show_progress(const struct cli *c, const char *id, const json_t *job, int over,
                          char *last, size_t last_len)
{
    char line[LINE_MAX_BYTES];
    cli_job_progress_format(job, c->stderr_tty, line, sizeof(line));
    if (c->stderr_tty) {
        fprintf(stderr, "\r%s\033[K%s", line, over ? "\n" : "");
    } else if (strcmp(line, last) != 0) {
        fprintf(stderr, "%s: %s\n", id, line);
        snprintf(last, last_len, "%s", line);
    }
    fflush(stderr);
}

/* Prints the finished job; Failed and Canceled are errors. */
static int report(const char *id, const json_t *job)
{
    int rc = cli_print_json(job);
    const char *status = json_string_value(json_object_get(job, "status"));
    const char *reason = json_string_value(json_object_get(job, "reason"));
    if (reason == NULL || *reason == '\0')
        reason = NULL;
    if (status == NULL)
        status = "";
    if (rc == 0 && strcmp(status, "Failed") == 0)
        rc = cli_fail("job '%s' failed: %s", id, reason != NULL ? reason : "(no reason given)");
    else if (rc == 0 && strcmp(status, "Canceled") == 0)
        rc = cli_fail("job '%s' was canceled%s%s", id, reason != NULL ? ": " : "",
                      reason != NULL ? reason : "");
    return rc;
}

static int job_stream(struct cli *c, const struct args *a)
{
    const char *id;
    int rc = job_id(c, a, &id);
    if (rc != 0)
        return rc;
    char *path = job_path(id);
    char last[LINE_MAX_BYTES] = "";
    json_t *job = NULL;
    for (;;) {
        rc = cli_api(c, "GET", path, NULL, &job);
        if (rc != 0)
            break;
        int over = cli_job_status_terminal(json_string_value(json_object_get(job, "status")));
        show_progress(c, id, job, over, last, sizeof(last));
        if (over)
            break;
        json_decref(job);
        job = NULL;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = STREAM_INTERVAL_NS};
        nanosleep(&pause, NULL);
    }
    if (rc != 0 && c->stderr_tty)
        fputs("\r\033[K", stderr);
    if (rc == 0)
        rc = report(id, job);
    json_decref(job);
    free(path);
    return rc;
}

/* ---- download ---- */

/* One file to fetch: where it is on the server and where it goes. */
struct download {
    char *route; /* "/api/v1/jobs/<id>/outputs/score/<rel>", URL-encoded */
    char *local; /* "<dir>/named-outputs/score/<rel>" */
    json_int_t size;
};

/* Checks every listed path before anything is written, so a bad listing
 * leaves no partial download. *out gets n entries (caller frees). */
static int plan(const char *id, const json_t *files, int logs, const char *dir,
                struct download **out, size_t *n)
{
    const char *prefix = logs ? "logs/" : "score/";
    size_t count = json_array_size(files);
    struct download *d = inf_calloc(count > 0 ? count : 1, sizeof(*d));
    int rc = 0;
    size_t i;
    const json_t *f;
    *n = 0;
    json_array_foreach(files, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        struct inf_err err = {0};
        const char *rel = path != NULL ? cli_job_file_rel(path, prefix, &err) : NULL;
        if (path == NULL) {
            rc = cli_fail("job '%s': the server listed a file without a path", id);
            break;
        }
        if (rel == NULL) {
            rc = cli_fail("job '%s': refusing to download a listed file: %s", id, err.msg);
            break;
        }
        char *encoded = cli_job_url_path(rel);
        d[i].route = logs ? inf_asprintf("/api/v1/jobs/%s/logs/%s", id, encoded)
                          : inf_asprintf("/api/v1/jobs/%s/outputs/score/%s", id, encoded);
        d[i].local = logs ? inf_asprintf("%s/logs/%s", dir, rel)
                          : inf_asprintf("%s/named-outputs/score/%s", dir, rel);
        d[i].size = json_integer_value(json_object_get(f, "size"));
        free(encoded);
        *n = i + 1;
    }
    *out = d;
    return rc;
}

static void plan_free(struct download *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].route);
        free(d[i].local);
    }
    free(d);
}

/* Fetches one file into d->local: streamed into a temporary file beside
 * it, flushed to disk, then renamed, so a partial download never takes the
 * file's name. */
static int fetch(struct cli *c, const struct download *d, size_t *written)
{
    struct inf_err err = {0};
    char *parent = cli_deployment_dir_of(d->local);
    int rc = 0;
    if (inf_mkdir_p(parent, 0755, &err) != 0)
        rc = cli_fail("%s", err.msg);
    free(parent);
    if (rc != 0)
        return rc;
    char *tmp = inf_asprintf("%s.part-%d", d->local, (int)getpid());
    FILE *f = fopen(tmp, "wbe");
    if (f == NULL) {
        rc = cli_fail("%s: %s", tmp, inf_strerror(errno));
        free(tmp);
        return rc;
    }
    struct cli_http_req req = {.method = "GET", .path = d->route, .sink = f};
    struct cli_http_resp resp;
    rc = cli_send(c, &req, &resp);
    if (rc == 0 && (resp.status < 200 || resp.status > 299))
        rc = cli_server_error(req.method, req.path, &resp);
    long size = ftell(f);
    int flushed = fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        flushed = 0;
    if (rc == 0 && !flushed)
        rc = cli_fail("%s: %s", tmp, inf_strerror(errno));
    if (rc == 0 && rename(tmp, d->local) != 0)
        rc = cli_fail("%s: %s", d->local, inf_strerror(errno));
    if (rc != 0)
        unlink(tmp);
    *written = size > 0 ? (size_t)size : 0;
    cli_http_resp_fini(&resp);
    free(tmp);
    return rc;
}

/* Notes that a job still running may not have all its files yet. */
static int note_unfinished(struct cli *c, const char *id, const char *what)
{
    char *path = job_path(id);
    json_t *job = NULL;
    int rc = cli_api(c, "GET", path, NULL, &job);
    const char *status = json_string_value(json_object_get(job, "status"));
    if (rc == 0 && !cli_job_status_terminal(status))
        cli_note("job '%s' is %s: its %s may be incomplete", id,
                 status != NULL ? status : "not finished", what);
    json_decref(job);
    free(path);
    return rc;
}

static int job_download(struct cli *c, const struct args *a)
{
    const char *id;
    int rc = job_id(c, a, &id);
    if (rc != 0)
        return rc;
    const char *output = args_get(a, "output-name");
    const char *dir = args_get(a, "download-path");
    if (output == NULL)
        output = "score";
    if (dir == NULL || *dir == '\0')
        dir = ".";
    if (strcmp(output, "score") != 0 && strcmp(output, "logs") != 0)
        return cli_usage_error(c, "--output-name '%s': must be score or logs", output);
    int logs = strcmp(output, "logs") == 0;
    const char *list_key = logs ? "logs" : "outputs";

    rc = note_unfinished(c, id, logs ? "logs" : "outputs");
    if (rc != 0)
        return rc;
    char *files_path = inf_asprintf("/api/v1/jobs/%s/files", id);
    json_t *listing = NULL;
    struct download *d = NULL;
    size_t n = 0;
    json_t *files_out = json_array();
    rc = cli_api(c, "GET", files_path, NULL, &listing);
    const json_t *files = json_object_get(listing, list_key);
    if (rc == 0 && !json_is_array(files))
        rc = cli_fail("GET %s: the server's answer has no '%s' list", files_path, list_key);
    if (rc == 0)
        rc = plan(id, files, logs, dir, &d, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t written = 0;
        rc = fetch(c, &d[i], &written);
        if (rc == 0)
            json_array_append_new(files_out, json_pack("{s:s, s:I}", "path", d[i].local, "size",
                                                       (json_int_t)written));
    }
    if (rc == 0 && n == 0)
        cli_note("job '%s' has no %s files", id, output);
    if (rc == 0) {
        json_t *result = json_pack("{s:s, s:s, s:s, s:O}", "job", id, "output_name", output,
                                   "download_path", dir, "files", files_out);
        rc = result != NULL ? cli_print_json(result)
                            : cli_fail("--download-path '%s': the path is not UTF-8 text", dir);
        json_decref(result);
    }
    plan_free(d, n);
    json_decref(files_out);
    json_decref(listing);
    free(files_path);
    return rc;
}

/* ---- the verb table ---- */

#define OPT_NAME                                                                                   \
    {                                                                                              \
        'n', "name", ARGS_VALUE, "NAME", "job name"                                                \
    }
#define OPT_TOKEN                                                                                  \
    {                                                                                              \
        0, "token", ARGS_VALUE, "TOKEN",                                                           \
            "the job's batch endpoint token instead of the admin token"                            \
    }

static const struct args_opt name_opts[] = {OPT_NAME, OPT_TOKEN};

static const struct args_opt list_opts[] = {
    {'e', "endpoint", ARGS_VALUE, "ENDPOINT", "only this batch endpoint's jobs"},
};

static const struct args_opt download_opts[] = {
    OPT_NAME,
    {0, "output-name", ARGS_VALUE, "NAME", "score (the output, default) or logs"},
    {0, "download-path", ARGS_VALUE, "DIR", "where to put the files (default: .)"},
    OPT_TOKEN,
};

#define VERB(name, synopsis, summary, opts, run)                                                   \
    {                                                                                              \
        name, synopsis, summary, opts, sizeof(opts) / sizeof(opts[0]), run                         \
    }

static const struct cli_verb verbs[] = {
    VERB("show", "-n NAME [--token TOKEN]", "Show a job: status, settings and progress.", name_opts,
         job_show),
    VERB("list", "[-e ENDPOINT]", "List batch jobs, oldest first.", list_opts, job_list),
    VERB("stream", "-n NAME [--token TOKEN]",
         "Follow a job until it ends; exit 0 only if it Completed.", name_opts, job_stream),
    VERB("cancel", "-n NAME [--token TOKEN]", "Cancel a job that has not finished.", name_opts,
         job_cancel),
    VERB("download", "-n NAME [--output-name score|logs] [--download-path DIR] [--token TOKEN]",
         "Download a job's output (named-outputs/score/) or its logs (logs/).", download_opts,
         job_download),
};

const struct cli_group cli_job_group = {
    .name = "job",
    .summary = "Batch jobs: follow, cancel and download the results of batch endpoint "
               "invocations.",
    .verbs = verbs,
    .n_verbs = sizeof(verbs) / sizeof(verbs[0]),
};
