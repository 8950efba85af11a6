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

char *outputs_result_path(const char *job_dir, int64_t idx)
{
    return inf_asprintf("%s/results/%06lld.csv", job_dir, (long long)idx);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends the file at path to fd through buf; 0 or an errno value. */
static int copy_into(int fd, const char *path, char *buf, int64_t *bytes)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno;
    int e = 0;
    for (;;) {
        ssize_t r = read(in, buf, COPY_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            break;
        }
        if (r == 0)
            break;
        if (write_all(fd, buf, (size_t)r) != 0) {
            e = errno;
            break;
        }
        *bytes += r;
    }
    close(in);
    return e;
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

int outputs_join(const char *job_dir, const int64_t *idx, size_t n, const char *out_path,
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
    int64_t total = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = outputs_result_path(job_dir, idx[i]);
        int e = copy_into(fd, path, buf, &total);
        if (e != 0)
            rc = inf_err_set(err, INF_EIO, "joining results: %s: %s", path, inf_strerror(e));
        free(path);
    }
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
    if (write_all(fd, text, strlen(text)) != 0)
        rc = inf_err_set(err, INF_EIO, "log %s: %s", path, inf_strerror(errno));
    close(fd);
    return rc;
}

/* A temporary file of outputs_join in progress: "<name>.tmp-<pid>". */
static int is_temporary(const char *rel)
{
    const char *t = strstr(rel, ".tmp-");
    if (t == NULL)
        return 0;
    t += 5;
    while (*t >= '0' && *t <= '9')
        t++;
    return *t == '\0';
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
