/*
 * inputs: resolving, listing and splitting a batch job's input (see
 * inputs.h). Blocking filesystem calls; any thread but the event loop.
 *
 * Containment is checked on real paths: the root and the candidate both go
 * through realpath(3), so a symbolic link inside an upload or a datastore
 * cannot lead a job outside it.
 */
#include "batch/inputs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "spec/spec.h"

#define SHA256_HEX 64

int inputs_datastore_parse(const char *arg, struct datastore *out, struct inf_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *eq = arg != NULL ? strchr(arg, '=') : NULL;
    if (eq == NULL || eq == arg || eq[1] == '\0')
        return inf_err_set(err, INF_EINVAL, "--datastore '%s': expected NAME=DIR",
                           arg != NULL ? arg : "");
    char *name = inf_strndup(arg, (size_t)(eq - arg));
    for (const char *p = name; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-')) {
            inf_err_set(err, INF_EINVAL,
                        "--datastore '%s': the name may hold only letters, digits, '_' and '-'",
                        arg);
            free(name);
            return INF_EINVAL;
        }
    }
    char real[PATH_MAX];
    struct stat st;
    if (realpath(eq + 1, real) == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        inf_err_set(err, INF_EINVAL, "--datastore '%s': %s is not a folder", arg, eq + 1);
        free(name);
        return INF_EINVAL;
    }
    out->name = name;
    out->dir = inf_strdup(real);
    return 0;
}

void inputs_datastore_fini(struct datastore *ds)
{
    free(ds->name);
    free(ds->dir);
    memset(ds, 0, sizeof(*ds));
}

/* 1 if path is root or below it (both real paths). */
static int is_inside(const char *root, const char *path)
{
    size_t n = strlen(root);
    return strncmp(root, path, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* 0 if rel is a relative path with no ".." component. */
static int check_relative(const char *rel, const char *field, const char *ref, struct inf_err *err)
{
    if (rel[0] == '/')
        return inf_err_set(err, INF_EINVAL, "%s '%s': the path must be relative", field, ref);
    for (const char *p = rel; *p != '\0';) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return inf_err_set(err, INF_EINVAL, "%s '%s': the path must not contain '..'", field,
                               ref);
        p += n;
        if (*p == '/')
            p++;
    }
    return 0;
}

/* Splits ref into a root folder (*root, heap, real path) and the relative
 * rest (*rel, pointing into ref). */
static int split_ref(const char *ref, const char *field, const char *artifacts_dir,
                     const struct datastore *stores, size_t nstores, char **root, const char **rel,
                     struct inf_err *err)
{
    size_t ap = strlen(SPEC_ARTIFACT_PREFIX), dp = strlen(INPUTS_DATASTORE_PREFIX);
    char *base = NULL;
    if (strncmp(ref, SPEC_ARTIFACT_PREFIX, ap) == 0) {
        const char *sha = ref + ap;
        size_t n = strcspn(sha, "/");
        int hex = n == SHA256_HEX;
        for (size_t i = 0; hex && i < n; i++)
            hex = (sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f');
        if (!hex)
            return inf_err_set(err, INF_EINVAL,
                               "%s '%s': expected artifact:<sha256 of an uploaded archive>", field,
                               ref);
        base = inf_asprintf("%s/%.*s", artifacts_dir, (int)n, sha);
        *rel = sha[n] == '/' ? sha + n + 1 : sha + n;
    } else if (strncmp(ref, INPUTS_DATASTORE_PREFIX, dp) == 0) {
        const char *name = ref + dp;
        size_t n = strcspn(name, "/");
        const char *paths = name + n;
        if (n == 0 || strncmp(paths, "/paths", 6) != 0 || (paths[6] != '/' && paths[6] != '\0'))
            return inf_err_set(err, INF_EINVAL,
                               "%s '%s': expected azureml://datastores/<name>/paths/<path>", field,
                               ref);
        for (size_t i = 0; i < nstores && base == NULL; i++)
            if (strlen(stores[i].name) == n && strncmp(stores[i].name, name, n) == 0)
                base = inf_strdup(stores[i].dir);
        if (base == NULL)
            return inf_err_set(err, INF_EINVAL,
                               "%s '%s': no datastore '%.*s' on this server (start it with "
                               "`inferd serve --datastore %.*s=DIR`)",
                               field, ref, (int)n, name, (int)n, name);
        *rel = paths[6] == '/' ? paths + 7 : paths + 6;
    } else {
        return inf_err_set(err, INF_EINVAL,
                           "%s '%s': expected artifact:<sha256>[/path] (an uploaded folder) or "
                           "azureml://datastores/<name>/paths/<path>",
                           field, ref);
    }
    char real[PATH_MAX];
    if (realpath(base, real) == NULL) {
        int e = errno;
        int artifact = strncmp(ref, SPEC_ARTIFACT_PREFIX, ap) == 0;
        const char *why = e != ENOENT ? inf_strerror(e)
                          : artifact  ? "no such artifact on this server"
                                      : "the datastore's folder is gone";
        int rc =
            inf_err_set(err, e == ENOENT ? INF_ENOTFOUND : INF_EIO, "%s '%s': %s", field, ref, why);
        free(base);
        return rc;
    }
    free(base);
    *root = inf_strdup(real);
    return check_relative(*rel, field, ref, err);
}

int inputs_resolve(const char *ref, const char *field, const char *artifacts_dir,
                   const struct datastore *stores, size_t nstores, int must_exist, int want_dir,
                   char **path, struct inf_err *err)
{
    *path = NULL;
    char *root = NULL;
    const char *rel = NULL;
    int rc = split_ref(ref, field, artifacts_dir, stores, nstores, &root, &rel, err);
    if (rc != 0)
        goto done;
    char *joined = rel[0] != '\0' ? inf_asprintf("%s/%s", root, rel) : inf_strdup(root);
    char real[PATH_MAX];
    if (realpath(joined, real) != NULL) {
        struct stat st;
        if (!is_inside(root, real)) {
            rc = inf_err_set(err, INF_EINVAL, "%s '%s': a link leads outside its folder", field,
                             ref);
        } else if (stat(real, &st) != 0) {
            rc = inf_err_set(err, INF_EIO, "%s '%s': %s", field, ref, inf_strerror(errno));
        } else if (want_dir && !S_ISDIR(st.st_mode)) {
            rc = inf_err_set(err, INF_EINVAL, "%s '%s': is a file, not a folder (use uri_file)",
                             field, ref);
        } else if (!want_dir && !S_ISREG(st.st_mode)) {
            rc = inf_err_set(err, INF_EINVAL, "%s '%s': is not a regular file", field, ref);
        } else {
            *path = inf_strdup(real);
        }
    } else if (errno == ENOENT && !must_exist) {
        /* An output folder to create: what exists of it must be inside. */
        char *probe = inf_strdup(joined);
        char *slash;
        struct stat lst;
        while ((slash = strrchr(probe, '/')) != NULL && slash != probe) {
            *slash = '\0';
            /* lstat, not realpath: a dangling link exists, and must be
             * refused rather than created through later. */
            if (lstat(probe, &lst) == 0)
                break;
        }
        if (realpath(probe, real) == NULL || !is_inside(root, real))
            rc = inf_err_set(err, INF_EINVAL, "%s '%s': a link leads outside its folder", field,
                             ref);
        else
            *path = inf_asprintf("%s%s", real, joined + strlen(probe));
        free(probe);
    } else {
        int e = errno;
        rc = inf_err_set(err, e == ENOENT ? INF_ENOTFOUND : INF_EIO, "%s '%s': %s", field, ref,
                         e == ENOENT ? "no such file or folder" : inf_strerror(e));
    }
    free(joined);
done:
    free(root);
    return rc;
}

/* ---- listing ---- */

struct lister {
    const char *root;
    size_t max_files;
    json_t *files;
    struct inf_err *err;
};

/* Reads the names in dir, hidden ones skipped, each behind one character
 * saying what readdir knows of it: 'd' a folder, 'f' a regular file, '?'
 * anything else (a link, or a file system that does not say), which the
 * walk must stat. Saves a stat per file on large inputs. */
static int read_names(const char *dir, char ***names, size_t *n, struct inf_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return inf_err_set(err, INF_EIO, "input folder %s: %s", dir, inf_strerror(errno));
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *names = inf_realloc(*names, cap * sizeof(char *));
        }
        char kind = e->d_type == DT_DIR ? 'd' : e->d_type == DT_REG ? 'f' : '?';
        (*names)[(*n)++] = inf_asprintf("%c%s", kind, e->d_name);
    }
    closedir(d);
    return 0;
}

/* Walks rel (under the root) depth-first, collecting the relative paths of
 * regular files; inputs_list sorts them afterwards. */
static int walk(struct lister *ls, const char *rel, int depth)
{
    if (depth > 64)
        return inf_err_set(ls->err, INF_EINVAL, "input folder %s/%s: nested too deeply", ls->root,
                           rel);
    char *dir = rel[0] != '\0' ? inf_asprintf("%s/%s", ls->root, rel) : inf_strdup(ls->root);
    char **names = NULL;
    size_t n = 0;
    int rc = read_names(dir, &names, &n, ls->err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char kind = names[i][0];
        const char *name = names[i] + 1;
        char *child = rel[0] != '\0' ? inf_asprintf("%s/%s", rel, name) : inf_strdup(name);
        char *full = inf_asprintf("%s/%s", ls->root, child);
        struct stat lst, st;
        int known = kind != '?' || lstat(full, &lst) == 0;
        if (known && kind == '?' && S_ISDIR(lst.st_mode))
            kind = 'd';
        if (known && kind == 'd') {
            rc = walk(ls, child, depth + 1);
        } else if (kind == 'f' || (known && stat(full, &st) == 0 && S_ISREG(st.st_mode))) {
            char real[PATH_MAX];
            int ok = kind == 'f' || !S_ISLNK(lst.st_mode) ||
                     (realpath(full, real) != NULL && is_inside(ls->root, real));
            if (ok && json_array_size(ls->files) >= ls->max_files)
                rc = inf_err_set(ls->err, INF_ETOOBIG,
                                 "input folder %s: more than %zu files; split the input", ls->root,
                                 ls->max_files);
            else if (ok)
                json_array_append_new(ls->files, json_string(child));
        }
        free(full);
        free(child);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    return rc;
}

/* The order is one sort of the full relative paths, bytewise: a sibling
 * file "a.txt" comes before the files of folder "a" ('.' < '/'), which a
 * per-folder sort of names would get wrong. */
static int by_json_string(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

int inputs_list(const char *dir, size_t max_files, json_t **files, struct inf_err *err)
{
    struct lister ls = {.root = dir, .max_files = max_files, .files = json_array(), .err = err};
    int rc = walk(&ls, "", 0);
    if (rc != 0) {
        json_decref(ls.files);
        *files = NULL;
        return rc;
    }
    size_t n = json_array_size(ls.files);
    json_t **items = inf_malloc((n > 0 ? n : 1) * sizeof(json_t *));
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(ls.files, i));
    qsort(items, n, sizeof(json_t *), by_json_string);
    json_t *sorted = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(sorted, items[i]);
    free(items);
    json_decref(ls.files);
    *files = sorted;
    return 0;
}

json_t *inputs_split(const json_t *files, size_t size)
{
    json_t *batches = json_array();
    json_t *cur = NULL;
    size_t i;
    json_t *f;
    if (size == 0)
        size = 1;
    json_array_foreach(files, i, f)
    {
        if (cur == NULL || json_array_size(cur) == size) {
            cur = json_array();
            json_array_append_new(batches, cur);
        }
        json_array_append(cur, f);
    }
    return batches;
}
