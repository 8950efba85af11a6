/*
 * outputs: joining a job's results and writing its logs (see outputs.h).
 * Store thread (blocking I/O).
 */
#include "batch/outputs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/inputs.h"
#include "core/util.h"

#define COPY_CHUNK (256 * 1024)

char *outputs_results_dir(const char *job_dir)
{
    return inf_asprintf("%s/results", job_dir);
}

/* A segment name the instance gave: a plain file name. */
static int segment_name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

int outputs_range_intact(const char *job_dir, const struct outputs_range *r)
{
    if (!segment_name_ok(r->segment) || r->offset < 0 || r->bytes < 0)
        return 0;
    char *path = inf_asprintf("%s/results/%s", job_dir, r->segment);
    struct stat st;
    /* offset and bytes come from an instance: no sum that could overflow */
    int ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= r->offset &&
             st.st_size - r->offset >= r->bytes;
    free(path);
    return ok;
}

/* The segments a join reads, each opened once. */
struct segments {
    const char *dir;
    char **names;
    int *fds;
    size_t n;
};

/* An open descriptor for segment name, or -1 with errno set. */
static int segment_fd(struct segments *sg, const char *name)
{
    for (size_t i = 0; i < sg->n; i++)
        if (strcmp(sg->names[i], name) == 0)
            return sg->fds[i];
    if (!segment_name_ok(name)) {
        errno = EINVAL;
        return -1;
    }
    char *path = inf_asprintf("%s/%s", sg->dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return -1;
    sg->names = inf_realloc(sg->names, (sg->n + 1) * sizeof(char *));
    sg->fds = inf_realloc(sg->fds, (sg->n + 1) * sizeof(int));
    sg->names[sg->n] = inf_strdup(name);
    sg->fds[sg->n] = fd;
    sg->n++;
    return fd;
}

static void segments_close(struct segments *sg)
{
    for (size_t i = 0; i < sg->n; i++) {
        close(sg->fds[i]);
        free(sg->names[i]);
    }
    free(sg->names);
    free(sg->fds);
}

/* Appends range r to fd through buf; 0 or an errno value (EIO when the
 * segment ends early). */
static int copy_range(int fd, struct segments *sg, const struct outputs_range *r, char *buf,
                      int64_t *bytes)
{
    if (r->offset < 0 || r->bytes < 0)
        return EINVAL;
    int in = segment_fd(sg, r->segment);
    if (in < 0)
        return errno;
    int64_t done = 0;
    while (done < r->bytes) {
        size_t want = r->bytes - done < COPY_CHUNK ? (size_t)(r->bytes - done) : COPY_CHUNK;
        ssize_t got = pread(in, buf, want, (off_t)(r->offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return errno;
        if (got == 0)
            return EIO;
        if (inf_write_all(fd, buf, (size_t)got) != 0)
            return errno;
        done += got;
    }
    *bytes += done;
    return 0;
}

static void sync_dir(const char *file_path)
{
    char *dir = inf_strdup(file_path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        int fd = open(dir[0] != '\0' ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
    }
    free(dir);
}

int outputs_join(const char *job_dir, const struct outputs_range *r, size_t n, const char *out_path,
                 int64_t *bytes, struct inf_err *err)
{
    char *dir = inf_strdup(out_path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    int rc = slash != NULL && dir[0] != '\0' ? inf_mkdir_p(dir, 0755, err) : 0;
    free(dir);
    if (rc != 0)
        return rc;
    char *tmp = inf_asprintf("%s.tmp-%d", out_path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = inf_err_set(err, INF_EIO, "output file %s: %s", tmp, inf_strerror(errno));
        free(tmp);
        return rc;
    }
    char *buf = inf_malloc(COPY_CHUNK);
    char *results = outputs_results_dir(job_dir);
    struct segments sg = {.dir = results};
    int64_t total = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int e = copy_range(fd, &sg, &r[i], buf, &total);
        if (e != 0)
            rc = inf_err_set(err, INF_EIO, "joining results: %s/%s (%lld bytes at %lld): %s",
                             results, r[i].segment != NULL ? r[i].segment : "",
                             (long long)r[i].bytes, (long long)r[i].offset,
                             e == EIO ? "the segment ends early" : inf_strerror(e));
    }
    segments_close(&sg);
    free(results);
    free(buf);
    if (rc == 0 && fsync(fd) != 0)
        rc = inf_err_set(err, INF_EIO, "output file %s: fsync: %s", tmp, inf_strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = inf_err_set(err, INF_EIO, "output file %s: %s", tmp, inf_strerror(errno));
    if (rc == 0 && rename(tmp, out_path) != 0)
        rc = inf_err_set(err, INF_EIO, "output file %s: rename: %s", out_path, inf_strerror(errno));
    if (rc != 0)
        unlink(tmp);
    else
        sync_dir(out_path);
    free(tmp);
    if (rc == 0 && bytes != NULL)
        *bytes = total;
    return rc;
}

int outputs_append_log(const char *path, const char *text, struct inf_err *err)
{
    char *dir = inf_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    int rc = slash != NULL ? inf_mkdir_p(dir, 0700, err) : 0;
    free(dir);
    if (rc != 0)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return inf_err_set(err, INF_EIO, "log %s: %s", path, inf_strerror(errno));
    if (inf_write_all(fd, text, strlen(text)) != 0)
        rc = inf_err_set(err, INF_EIO, "log %s: %s", path, inf_strerror(errno));
    close(fd);
    return rc;
}

/* A temporary file of outputs_join in progress: "<name>.tmp-<pid>". */
static int is_temporary(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    const char *name = slash != NULL ? slash + 1 : rel;
    for (const char *t = strstr(name, ".tmp-"); t != NULL; t = strstr(t + 1, ".tmp-")) {
        const char *d = t + 5;
        while (*d >= '0' && *d <= '9')
            d++;
        if (d > t + 5 && *d == '\0')
            return 1;
    }
    return 0;
}

json_t *outputs_list(const char *dir, const char *prefix)
{
    json_t *files = NULL;
    json_t *out = json_array();
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        inputs_list(dir, INPUTS_MAX_FILES, &files, NULL) != 0)
        return out;
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        const char *rel = json_string_value(f);
        if (is_temporary(rel))
            continue;
        char *full = inf_asprintf("%s/%s", dir, rel);
        if (stat(full, &st) == 0)
            json_array_append_new(out, json_pack("{s:s++, s:I}", "path", prefix, "/", rel, "size",
                                                 (json_int_t)st.st_size));
        free(full);
    }
    json_decref(files);
    return out;
}
