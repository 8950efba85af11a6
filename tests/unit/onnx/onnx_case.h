/*
 * onnx_case: runs one test case in ONNX's test layout (the layout of
 * tests/onnx/make_models.py and of ONNX's own node tests):
 *
 *   <dir>/model.onnx
 *   <dir>/test_data_set_<k>/input_<i>.pb, output_<i>.pb   (TensorProto)
 *
 * Every data set runs through one session (so a later set with other shapes
 * exercises re-planning) and each output is compared with the expected one:
 * same dtype and shape, and for floats |got - want| <= atol + rtol * |want|.
 * Shared by the ONNX unit tests; static functions only.
 */
#ifndef INF_TESTS_ONNX_CASE_H
#define INF_TESTS_ONNX_CASE_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "onnx/model_int.h"
#include "onnx/onnx.h"

#define CASE_MAX_IO 16

/* Reads a TensorProto file; returns 0 or -1 (message in err). */
static inline int case_read_tensor(const char *path, struct onnx_tensor *t, void **own,
                                   struct inf_err *err)
{
    char *buf;
    size_t len;
    int rc = inf_read_file(path, (size_t)1 << 30, &buf, &len, err);
    if (rc != 0)
        return -1;
    rc = onnx_model_tensor_parse(buf, len, t, own, err);
    free(buf);
    if (rc != 0)
        inf_err_prefix(err, "%s", path);
    return rc != 0 ? -1 : 0;
}

static inline bool case_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Compares got with want; on mismatch writes why into msg. */
static inline bool case_compare(const char *name, const struct onnx_tensor *got,
                                const struct onnx_tensor *want, double rtol, double atol, char *msg,
                                size_t msg_len)
{
    if (got->dtype != want->dtype) {
        snprintf(msg, msg_len, "output '%s': dtype %s, expected %s", name,
                 onnx_dtype_name(got->dtype), onnx_dtype_name(want->dtype));
        return false;
    }
    bool same = got->rank == want->rank;
    for (int i = 0; same && i < got->rank; i++)
        same = got->dims[i] == want->dims[i];
    if (!same) {
        snprintf(msg, msg_len,
                 "output '%s': rank %d with %lld elements, expected rank %d with "
                 "%lld",
                 name, got->rank, (long long)onnx_tensor_numel(got), want->rank,
                 (long long)onnx_tensor_numel(want));
        return false;
    }
    int64_t n = onnx_tensor_numel(want);
    if (want->dtype != ONNX_DTYPE_FLOAT) {
        if (memcmp(got->data, want->data, onnx_tensor_bytes(want)) != 0) {
            snprintf(msg, msg_len, "output '%s': values differ", name);
            return false;
        }
        return true;
    }
    const float *g = got->data, *w = want->data;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - (double)w[i]);
        bool both_nan = isnan(g[i]) && isnan(w[i]);
        bool same_inf = isinf(w[i]) && g[i] == w[i];
        if (!both_nan && !same_inf && !(d <= atol + rtol * fabs((double)w[i]))) {
            snprintf(msg, msg_len, "output '%s'[%lld]: got %.9g, expected %.9g", name, (long long)i,
                     g[i], w[i]);
            return false;
        }
    }
    return true;
}

/* Runs every data set of the case in dir. Returns true when all outputs
 * match; otherwise msg says what failed. */
static inline bool case_run(const char *dir, double rtol, double atol, char *msg, size_t msg_len)
{
    struct inf_err err = {0};
    struct onnx_model *m = NULL;
    struct onnx_session *s = NULL;
    bool ok = false;
    char *path = inf_asprintf("%s/model.onnx", dir);
    if (onnx_model_load(path, &m, &err) != 0) {
        snprintf(msg, msg_len, "load: %s", err.msg);
        free(path);
        return false;
    }
    free(path);
    if (onnx_session_new(m, &s, &err) != 0) {
        snprintf(msg, msg_len, "session: %s", err.msg);
        goto out;
    }
    size_t n_in = onnx_model_input_count(m), n_out = onnx_model_output_count(m);
    if (n_in > CASE_MAX_IO || n_out > CASE_MAX_IO) {
        snprintf(msg, msg_len, "too many inputs or outputs");
        goto out;
    }
    for (int set = 0;; set++) {
        char *sdir = inf_asprintf("%s/test_data_set_%d", dir, set);
        bool exists = case_exists(sdir);
        if (!exists) {
            free(sdir);
            ok = set > 0;
            if (!ok)
                snprintf(msg, msg_len, "no data sets");
            break;
        }
        struct onnx_tensor in[CASE_MAX_IO] = {0}, want[CASE_MAX_IO] = {0}, got[CASE_MAX_IO] = {0};
        void *in_own[CASE_MAX_IO] = {0}, *want_own[CASE_MAX_IO] = {0};
        bool set_ok = true;
        for (size_t i = 0; set_ok && i < n_in; i++) {
            char *p = inf_asprintf("%s/input_%zu.pb", sdir, i);
            if (case_read_tensor(p, &in[i], &in_own[i], &err) != 0) {
                snprintf(msg, msg_len, "%s", err.msg);
                set_ok = false;
            }
            free(p);
        }
        for (size_t i = 0; set_ok && i < n_out; i++) {
            char *p = inf_asprintf("%s/output_%zu.pb", sdir, i);
            if (case_read_tensor(p, &want[i], &want_own[i], &err) != 0) {
                snprintf(msg, msg_len, "%s", err.msg);
                set_ok = false;
            }
            free(p);
        }
        if (set_ok && onnx_session_run(s, in, n_in, got, n_out, &err) != 0) {
            snprintf(msg, msg_len, "data set %d: %s", set, err.msg);
            set_ok = false;
        }
        for (size_t i = 0; set_ok && i < n_out; i++)
            set_ok = case_compare(onnx_model_output(m, i)->name, &got[i], &want[i], rtol, atol, msg,
                                  msg_len);
        for (size_t i = 0; i < CASE_MAX_IO; i++) {
            free(in_own[i]);
            free(want_own[i]);
        }
        free(sdir);
        if (!set_ok)
            break;
    }
out:
    onnx_session_free(s);
    onnx_model_free(m);
    return ok;
}

static inline int case_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every case directory below root (sorted); prints each failure and
 * returns the number of failures. *count gets the number of cases. */
static inline int case_run_all(const char *root, double rtol, double atol, int *count)
{
    DIR *d = opendir(root);
    *count = 0;
    if (d == NULL)
        return -1;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || e->d_type == DT_REG)
            continue;
        names = inf_realloc(names, sizeof(char *) * (n + 1));
        names[n++] = inf_strdup(e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(char *), case_name_cmp);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char *dir = inf_asprintf("%s/%s", root, names[i]);
        char msg[1024];
        if (!case_run(dir, rtol, atol, msg, sizeof(msg))) {
            printf("# FAIL %s: %s\n", names[i], msg);
            failures++;
        }
        free(dir);
        free(names[i]);
    }
    free(names);
    *count = (int)n;
    return failures;
}

#endif
