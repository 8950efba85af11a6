/*
 * onnx_backend: serves an ONNX model with inferd's engine, no script.
 *
 * Owns the loaded model, one engine session and the per-request scratch
 * (input tensors and their buffers). load() finds the .onnx file under the
 * model directory and loads it (an unsupported operator fails here, naming
 * the operator and node); score() parses the request JSON (jansson) into
 * tensors, validates them against the graph's inputs, runs the session and
 * writes the outputs as JSON into one buffer; swagger() describes the
 * graph's inputs and outputs in OpenAPI 2 or 3; unload() frees it all.
 *
 * Thread: the worker's event-loop thread, one request at a time (the
 * backend is in-process, flags 0), so one session and one scratch area
 * suffice. Lifecycle: load once per worker process, score per request,
 * unload at shutdown.
 */
#include "backends/onnx_backend.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/util.h"
#include "onnx/onnx.h"
#include "spec/spec.h"

#define MLMODEL_MAX_BYTES ((size_t)1 << 20)

/* Swagger examples are left out for inputs larger than this. */
#define EXAMPLE_MAX_ELEMENTS 4096

/* ---- small helpers ------------------------------------------------------ */

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xe0) == 0xc0 ? 2
                 : (s[0] & 0xf0) == 0xe0 ? 3
                 : (s[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xc2))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

static bool utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* A short rendering of a client's JSON value for messages: 42, 1.5,
 * "abc" (cut on a character boundary, control characters as '?'), true,
 * null, a list, an object. */
static void describe(const json_t *v, char *out, size_t out_len)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), take = n > 32 ? 32 : n;
        while (take > 0 && take < n && ((unsigned char)s[take] & 0xc0) == 0x80)
            take--;
        char shown[40];
        for (size_t i = 0; i < take; i++)
            shown[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        shown[take] = '\0';
        snprintf(out, out_len, "\"%s\"%s", shown, take < n ? "..." : "");
        break;
    }
    case JSON_INTEGER:
        snprintf(out, out_len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(out, out_len, "%.15g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(out, out_len, "true");
        break;
    case JSON_FALSE:
        snprintf(out, out_len, "false");
        break;
    case JSON_NULL:
        snprintf(out, out_len, "null");
        break;
    case JSON_ARRAY:
        snprintf(out, out_len, "a list");
        break;
    case JSON_OBJECT:
        snprintf(out, out_len, "an object");
        break;
    }
}

/* A client's string (a name) for messages, quoted and cut. */
static void show_name(const char *s, char *out, size_t out_len)
{
    json_t *v = json_string(s);
    if (v == NULL) {
        snprintf(out, out_len, "(not UTF-8)");
        return;
    }
    describe(v, out, out_len);
    json_decref(v);
}

/* A growable list of names, for directory listings and messages. */
struct names {
    char **v;
    size_t n;
};

static void names_push(struct names *l, const char *s)
{
    l->v = inf_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = inf_strdup(s);
}

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a, b, c" into out (cut to fit). */
static void names_join(const struct names *l, char *out, size_t out_len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->n && used < out_len; i++) {
        int k = snprintf(out + used, out_len - used, "%s%s", i > 0 ? ", " : "", l->v[i]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

/* ---- finding the model file ---------------------------------------------- */

enum entry_kind { ENTRY_ONNX_FILE, ENTRY_SUBDIR };

/* The non-hidden entries of dir of one kind, sorted by name. */
static int list_dir(const char *dir, enum entry_kind kind, struct names *out, struct inf_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return inf_err_set(err, errno == ENOENT ? INF_ENOTFOUND : INF_EIO,
                           "cannot read the model folder: %s", inf_strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (kind == ENTRY_ONNX_FILE && !has_suffix(e->d_name, ".onnx"))
            continue;
        char *path = inf_asprintf("%s/%s", dir, e->d_name);
        bool keep = kind == ENTRY_ONNX_FILE ? is_regular_file(path) : is_directory(path);
        free(path);
        if (keep)
            names_push(out, e->d_name);
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), name_cmp);
    return 0;
}

/* 1 if dir holds an MLmodel or a *.onnx file. */
static bool holds_model(const char *dir)
{
    char *mlmodel = inf_asprintf("%s/MLmodel", dir);
    bool found = is_regular_file(mlmodel);
    free(mlmodel);
    if (found)
        return true;
    struct names files = {0};
    found = list_dir(dir, ENTRY_ONNX_FILE, &files, NULL) == 0 && files.n > 0;
    names_free(&files);
    return found;
}

/* The model folder under root: root, or its one sub-folder holding a model.
 * *label is how messages name it ("model/" or "the model folder"). */
static int model_folder(const char *root, char **folder, char **label, struct inf_err *err)
{
    if (!is_directory(root))
        return inf_err_set(err, INF_ENOTFOUND, "model directory %s is not a folder", root);
    if (holds_model(root)) {
        *folder = inf_strdup(root);
        *label = inf_strdup("the model folder");
        return 0;
    }
    struct names subdirs = {0}, found = {0};
    int rc = list_dir(root, ENTRY_SUBDIR, &subdirs, err);
    for (size_t i = 0; rc == 0 && i < subdirs.n; i++) {
        char *sub = inf_asprintf("%s/%s", root, subdirs.v[i]);
        if (holds_model(sub))
            names_push(&found, subdirs.v[i]);
        free(sub);
    }
    char joined[256];
    names_join(&found, joined, sizeof(joined));
    if (rc != 0) {
        /* err is set */
    } else if (found.n == 1) {
        *folder = inf_asprintf("%s/%s", root, found.v[0]);
        *label = inf_asprintf("%s/", found.v[0]);
    } else if (found.n > 1) {
        rc = inf_err_set(err, INF_EINVAL,
                         "several model folders (%s) hold .onnx or MLmodel files; deploy one "
                         "model at a time",
                         joined);
    } else {
        rc = inf_err_set(err, INF_ENOTFOUND,
                         "no .onnx file or MLmodel in the model folder or its sub-folders");
    }
    names_free(&subdirs);
    names_free(&found);
    return rc;
}

/* 1 if the flavors include one the mlflow backend serves. */
static bool mlflow_serves(const json_t *flavors)
{
    if (json_object_get(flavors, "sklearn") != NULL)
        return true;
    const json_t *pyfunc = json_object_get(flavors, "python_function");
    const char *loader = json_string_value(json_object_get(pyfunc, "loader_module"));
    return loader != NULL && strcmp(loader, "mlflow.sklearn") == 0;
}

/* A path from a model's own files must stay inside the model folder:
 * relative, with no ".." component. */
static bool relative_inside(const char *p)
{
    if (p[0] == '\0' || p[0] == '/')
        return false;
    for (const char *part = p; part != NULL;) {
        if (part[0] == '.' && part[1] == '.' && (part[2] == '/' || part[2] == '\0'))
            return false;
        const char *slash = strchr(part, '/');
        part = slash != NULL ? slash + 1 : NULL;
    }
    return true;
}

/* The file named by the MLmodel's onnx flavor. */
static int mlmodel_onnx_file(const char *folder, const char *label, char **path,
                             struct inf_err *err)
{
    char *mlmodel = inf_asprintf("%s/MLmodel", folder);
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    struct inf_err why;
    int rc = inf_read_file(mlmodel, MLMODEL_MAX_BYTES, &text, &len, &why);
    if (rc == 0 && (doc = spec_yaml_parse(text, len, "MLmodel", &why)) == NULL)
        rc = why.code;
    if (rc != 0) {
        rc = inf_err_set(err, INF_ENOTFOUND, "%s: MLmodel cannot be read: %s", label, why.msg);
        goto out;
    }
    const json_t *flavors = json_object_get(doc, "flavors");
    const json_t *onnx = json_object_get(flavors, "onnx");
    if (!json_is_object(onnx)) {
        rc = inf_err_set(err, INF_ENOTFOUND, "%s: MLmodel has no onnx flavor", label);
        goto out;
    }
    if (mlflow_serves(flavors)) {
        rc = inf_err_set(err, INF_ENOTFOUND,
                         "%s: MLmodel has a scikit-learn flavor, which the mlflow backend serves",
                         label);
        goto out;
    }
    const char *key = "data";
    const char *file = json_string_value(json_object_get(onnx, key));
    if (file == NULL) {
        key = "onnx_model";
        file = json_string_value(json_object_get(onnx, key));
    }
    if (file == NULL) {
        rc = inf_err_set(err, INF_EINVAL,
                         "%s: MLmodel: flavor onnx names no model file (key 'data')", label);
        goto out;
    }
    char shown[64];
    show_name(file, shown, sizeof(shown));
    if (!relative_inside(file)) {
        rc = inf_err_set(err, INF_EINVAL,
                         "%s: MLmodel: flavor onnx: %s %s must be a path inside the model folder",
                         label, key, shown);
        goto out;
    }
    *path = inf_asprintf("%s/%s", folder, file);
    if (!is_regular_file(*path)) {
        free(*path);
        *path = NULL;
        rc = inf_err_set(err, INF_EINVAL,
                         "%s: MLmodel: flavor onnx: %s %s is not a file in the model folder", label,
                         key, shown);
    }
out:
    json_decref(doc);
    free(text);
    free(mlmodel);
    return rc;
}

int onnx_backend_find_model(const char *model_dir, char **path, struct inf_err *err)
{
    *path = NULL;
    char *folder = NULL, *label = NULL;
    int rc = model_folder(model_dir, &folder, &label, err);
    if (rc != 0)
        return rc;
    char *mlmodel = inf_asprintf("%s/MLmodel", folder);
    bool mlflow = is_regular_file(mlmodel);
    free(mlmodel);
    struct names files = {0};
    if (mlflow) {
        rc = mlmodel_onnx_file(folder, label, path, err);
    } else if ((rc = list_dir(folder, ENTRY_ONNX_FILE, &files, err)) != 0) {
        /* err is set */
    } else if (files.n == 1) {
        *path = inf_asprintf("%s/%s", folder, files.v[0]);
    } else if (files.n == 0) {
        rc = inf_err_set(err, INF_ENOTFOUND, "%s holds no .onnx file", label);
    } else {
        char joined[256];
        names_join(&files, joined, sizeof(joined));
        rc = inf_err_set(err, INF_EINVAL,
                         "%s holds several ONNX models (%s); a deployment serves one: keep one "
                         "file or deploy each from its own folder",
                         label, joined);
    }
    names_free(&files);
    free(label);
    free(folder);
    return rc;
}

/* ---- state and loading ---------------------------------------------------- */

struct onnx_backend {
    char *path;       /* the .onnx file */
    char *model_name; /* its name without .onnx: the protocol's model_name */
    struct onnx_model *model;
    struct onnx_session *session;
    size_t n_in, n_out;
    /* Per-request scratch, reset by each score call. */
    struct onnx_tensor *inputs;  /* n_in; data points into bufs */
    void **bufs;                 /* n_in, heap */
    bool *given;                 /* n_in: the request named this input */
    struct onnx_tensor *outputs; /* n_out */
    bool *wanted;                /* n_out: the response carries this output */
};

static bool dtype_supported(enum onnx_dtype t)
{
    return t == ONNX_DTYPE_FLOAT || t == ONNX_DTYPE_INT64 || t == ONNX_DTYPE_INT32 ||
           t == ONNX_DTYPE_BOOL;
}

/* Every graph input and output must be a tensor the protocol can carry. */
static int check_io(const struct onnx_backend *b, struct inf_err *err)
{
    for (size_t k = 0; k < b->n_in + b->n_out; k++) {
        bool is_in = k < b->n_in;
        const struct onnx_io_desc *d =
            is_in ? onnx_model_input(b->model, k) : onnx_model_output(b->model, k - b->n_in);
        if (!utf8_valid(d->name))
            return inf_err_set(err, INF_EINVAL, "%s: an %s name is not valid UTF-8", b->path,
                               is_in ? "input" : "output");
        if (!dtype_supported(d->dtype))
            return inf_err_set(err, INF_EUNSUPPORTED,
                               "%s: %s '%s' has element type %s; the onnx backend serves float, "
                               "int64, int32 and bool tensors",
                               b->path, is_in ? "input" : "output", d->name,
                               onnx_dtype_name(d->dtype));
    }
    return 0;
}

/* The file's name without ".onnx". */
static char *model_name_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t n = strlen(base);
    return inf_strndup(base, has_suffix(base, ".onnx") ? n - strlen(".onnx") : n);
}

static void onnx_unload(void *state);

static int onnx_load(const struct backend_config *cfg, void **state, struct inf_err *err)
{
    *state = NULL;
    if (cfg->model_dir == NULL)
        return inf_err_set(err, INF_EINVAL, "onnx backend: no model directory given");
    struct onnx_backend *b = inf_calloc(1, sizeof(*b));
    int rc = onnx_backend_find_model(cfg->model_dir, &b->path, err);
    if (rc != 0)
        goto fail;
    b->model_name = model_name_of(b->path);
    uint64_t started_ms = inf_now_ms();
    rc = onnx_model_load(b->path, &b->model, err);
    if (rc != 0)
        goto fail;
    b->n_in = onnx_model_input_count(b->model);
    b->n_out = onnx_model_output_count(b->model);
    if ((rc = check_io(b, err)) != 0 || (rc = onnx_session_new(b->model, &b->session, err)) != 0)
        goto fail;
    b->inputs = inf_calloc(b->n_in + 1, sizeof(*b->inputs));
    b->bufs = inf_calloc(b->n_in + 1, sizeof(*b->bufs));
    b->given = inf_calloc(b->n_in + 1, sizeof(*b->given));
    b->outputs = inf_calloc(b->n_out + 1, sizeof(*b->outputs));
    b->wanted = inf_calloc(b->n_out + 1, sizeof(*b->wanted));
    inf_info("onnx.loaded", "model=%s inputs=%zu outputs=%zu opset=%d load_ms=%llu", b->path,
             b->n_in, b->n_out, onnx_model_opset(b->model),
             (unsigned long long)(inf_now_ms() - started_ms));
    *state = b;
    return 0;

fail:
    inf_err_prefix(err, "onnx backend");
    onnx_unload(b);
    return rc;
}

static void onnx_unload(void *state)
{
    struct onnx_backend *b = state;
    if (b == NULL)
        return;
    onnx_session_free(b->session);
    onnx_model_free(b->model);
    free(b->inputs);
    free(b->bufs);
    free(b->given);
    free(b->outputs);
    free(b->wanted);
    free(b->model_name);
    free(b->path);
    free(b);
}

/* ---- shapes and element types ------------------------------------------- */

/* The Open Inference Protocol's names for the element types. */
static const struct {
    enum onnx_dtype dtype;
    const char *oip;
} datatypes[] = {
    {ONNX_DTYPE_FLOAT, "FP32"},
    {ONNX_DTYPE_INT64, "INT64"},
    {ONNX_DTYPE_INT32, "INT32"},
    {ONNX_DTYPE_BOOL, "BOOL"},
};

static const char *oip_datatype(enum onnx_dtype t)
{
    for (size_t i = 0; i < sizeof(datatypes) / sizeof(datatypes[0]); i++)
        if (datatypes[i].dtype == t)
            return datatypes[i].oip;
    return "?";
}

/* "[N, 64]" for a declared shape (names or "?" for dynamic dimensions). */
static void declared_shape(const struct onnx_io_desc *d, char *out, size_t out_len)
{
    if (d->rank < 0) {
        snprintf(out, out_len, "any shape");
        return;
    }
    size_t used = (size_t)snprintf(out, out_len, "[");
    for (int k = 0; k < d->rank && used < out_len; k++) {
        const char *sep = k > 0 ? ", " : "";
        int n;
        if (d->dims[k] >= 0)
            n = snprintf(out + used, out_len - used, "%s%" PRId64, sep, d->dims[k]);
        else
            n = snprintf(out + used, out_len - used, "%s%s", sep,
                         d->dim_names[k] != NULL ? d->dim_names[k] : "?");
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < out_len)
        snprintf(out + used, out_len - used, "]");
}

/* "[2, 64]" for a request's shape. */
static void shape_text(int rank, const int64_t *dims, char *out, size_t out_len)
{
    size_t used = (size_t)snprintf(out, out_len, "[");
    for (int k = 0; k < rank && used < out_len; k++) {
        int n = snprintf(out + used, out_len - used, "%s%" PRId64, k > 0 ? ", " : "", dims[k]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < out_len)
        snprintf(out + used, out_len - used, "]");
}

/* Checks a request's shape against the declared one. */
static int check_shape(const struct onnx_io_desc *d, int rank, const int64_t *dims,
                       struct inf_err *err)
{
    char want[160], got[160];
    declared_shape(d, want, sizeof(want));
    shape_text(rank, dims, got, sizeof(got));
    if (d->rank >= 0 && rank != d->rank)
        return inf_err_set(err, INF_EINVAL,
                           "input '%s': expected %d dimension%s %s, got %d (shape %s)", d->name,
                           d->rank, d->rank == 1 ? "" : "s", want, rank, got);
    for (int k = 0; k < rank; k++)
        if (d->rank >= 0 && d->dims[k] >= 0 && dims[k] != d->dims[k])
            return inf_err_set(err, INF_EINVAL,
                               "input '%s': dimension %d must be %" PRId64
                               " (expected shape %s), got %" PRId64 " (shape %s)",
                               d->name, k, d->dims[k], want, dims[k], got);
    return 0;
}

/* ---- requests: JSON values into tensors ----------------------------------- */

/* One score call. */
struct request {
    struct onnx_backend *b;
    int64_t budget; /* elements the request may still carry */
    struct inf_err err;
};

/* Converting one input's values into its buffer. */
struct fill {
    const struct onnx_io_desc *desc;
    const char *label;             /* how messages name the values: "data" or "element " */
    void *data;                    /* numel elements of desc->dtype */
    int64_t numel, count;          /* count: values seen so far */
    size_t idx[ONNX_MAX_RANK + 1]; /* position of the current value */
    struct inf_err *err;
};

/* "[1][3]": where the value at depth sits. */
static void position(const struct fill *f, int depth, char *out, size_t out_len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int k = 0; k < depth && used < out_len; k++) {
        int n = snprintf(out + used, out_len - used, "[%zu]", f->idx[k]);
        used += n > 0 ? (size_t)n : 0;
    }
}

static int bad_value(struct fill *f, const json_t *v, int depth, const char *expected)
{
    char pos[160], got[64];
    position(f, depth, pos, sizeof(pos));
    describe(v, got, sizeof(got));
    return inf_err_set(f->err, INF_EINVAL, "input '%s': %s%s is %s, expected %s", f->desc->name,
                       f->label, pos, got, expected);
}

/* An integral JSON value within [lo, hi] into *out. */
static bool integral(const json_t *v, double lo, double hi, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if ((double)i < lo || (double)i > hi)
            return false;
        *out = (int64_t)i;
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    /* hi + 1 is exclusive: for int64, hi rounds up to 2^63, which does not fit. */
    if (d != floor(d) || d < lo || d >= hi + 1.0)
        return false;
    *out = (int64_t)d;
    return true;
}

/* Stores one leaf value as element f->count (when it fits; a surplus is only
 * counted, so the message can say how many values there were). */
static int put_value(struct fill *f, const json_t *v, int depth)
{
    int64_t k = f->count++;
    if (k >= f->numel)
        return 0;
    int64_t i;
    switch (f->desc->dtype) {
    case ONNX_DTYPE_FLOAT: {
        double d;
        if (json_is_integer(v))
            d = (double)json_integer_value(v);
        else if (json_is_real(v))
            d = json_real_value(v);
        else
            return bad_value(f, v, depth, "a number");
        if (fabs(d) > FLT_MAX)
            return bad_value(f, v, depth, "a number within float32's range");
        ((float *)f->data)[k] = (float)d;
        return 0;
    }
    case ONNX_DTYPE_INT64:
        if (!integral(v, -9223372036854775808.0, 9223372036854775807.0, &i))
            return bad_value(f, v, depth, "an integer (int64)");
        ((int64_t *)f->data)[k] = i;
        return 0;
    case ONNX_DTYPE_INT32:
        if (!integral(v, INT32_MIN, INT32_MAX, &i))
            return bad_value(f, v, depth, "an integer within int32's range");
        ((int32_t *)f->data)[k] = (int32_t)i;
        return 0;
    case ONNX_DTYPE_BOOL:
        if (json_is_boolean(v))
            i = json_is_true(v);
        else if (!integral(v, 0, 1, &i))
            return bad_value(f, v, depth, "true or false");
        ((uint8_t *)f->data)[k] = (uint8_t)i;
        return 0;
    default:
        return inf_err_set(f->err, INF_EINTERNAL, "input '%s': element type %s", f->desc->name,
                           onnx_dtype_name(f->desc->dtype));
    }
}

/* Values of a nested list whose nesting must be the shape dims[0..rank). */
static int fill_nested(struct fill *f, const json_t *v, int depth, int rank, const int64_t *dims)
{
    if (depth == rank) {
        if (json_is_array(v))
            return bad_value(f, v, depth, "a number (the list is nested too deep here)");
        return put_value(f, v, depth);
    }
    if (!json_is_array(v)) {
        char want[48];
        snprintf(want, sizeof(want), "a list of %" PRId64 " values", dims[depth]);
        return bad_value(f, v, depth, want);
    }
    size_t n = json_array_size(v);
    if ((int64_t)n != dims[depth]) {
        char pos[160];
        position(f, depth, pos, sizeof(pos));
        return inf_err_set(f->err, INF_EINVAL,
                           "input '%s': %s%s has %zu value%s, expected %" PRId64
                           " like the first list at its depth (a tensor cannot be ragged)",
                           f->desc->name, f->label, pos, n, n == 1 ? "" : "s", dims[depth]);
    }
    for (size_t j = 0; j < n; j++) {
        f->idx[depth] = j;
        int rc = fill_nested(f, json_array_get(v, j), depth + 1, rank, dims);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Values of a list nested any way (the protocol's data), in row-major order. */
static int fill_flat(struct fill *f, const json_t *v, int depth)
{
    if (!json_is_array(v))
        return put_value(f, v, depth);
    if (depth >= ONNX_MAX_RANK)
        return bad_value(f, v, depth, "a number (data is nested too deep)");
    for (size_t j = 0; j < json_array_size(v); j++) {
        f->idx[depth] = j;
        int rc = fill_flat(f, json_array_get(v, j), depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Validates input i's shape, charges its elements to the request's budget
 * and allocates its buffer. */
static int input_prepare(struct request *r, size_t i, int rank, const int64_t *dims, int64_t *numel)
{
    const struct onnx_io_desc *d = onnx_model_input(r->b->model, i);
    int rc = check_shape(d, rank, dims, &r->err);
    if (rc != 0)
        return rc;
    int64_t n = 1;
    for (int k = 0; k < rank; k++) {
        if (dims[k] > 0 && n > r->budget / dims[k]) {
            char got[160];
            shape_text(rank, dims, got, sizeof(got));
            return inf_err_set(&r->err, INF_ETOOBIG,
                               "input '%s': shape %s is too large: a request carries at most "
                               "%" PRId64 " elements in all",
                               d->name, got, (int64_t)ONNX_BACKEND_MAX_ELEMENTS);
        }
        n *= dims[k];
    }
    r->budget -= n;
    struct onnx_tensor *t = &r->b->inputs[i];
    t->dtype = d->dtype;
    t->rank = rank;
    memcpy(t->dims, dims, (size_t)rank * sizeof(*dims));
    r->b->bufs[i] = inf_malloc((size_t)(n > 0 ? n : 1) * onnx_dtype_size(d->dtype));
    t->data = r->b->bufs[i];
    r->b->given[i] = true;
    *numel = n;
    return 0;
}

/* Input i from a nested list: the shape is the nesting. */
static int input_from_nested(struct request *r, size_t i, const json_t *v)
{
    const struct onnx_io_desc *d = onnx_model_input(r->b->model, i);
    int64_t dims[ONNX_MAX_RANK];
    int rank = 0;
    for (const json_t *e = v; json_is_array(e); e = json_array_get(e, 0)) {
        if (rank == ONNX_MAX_RANK)
            return inf_err_set(&r->err, INF_EINVAL,
                               "input '%s': lists nested more than %d deep; tensors have at most "
                               "%d dimensions",
                               d->name, ONNX_MAX_RANK, ONNX_MAX_RANK);
        dims[rank++] = (int64_t)json_array_size(e);
        if (json_array_size(e) == 0)
            break;
    }
    int64_t numel;
    int rc = input_prepare(r, i, rank, dims, &numel);
    if (rc != 0)
        return rc;
    struct fill f = {.desc = d,
                     .label = "element ",
                     .data = r->b->inputs[i].data,
                     .numel = numel,
                     .err = &r->err};
    return fill_nested(&f, v, 0, rank, dims);
}

/* "x, y" : the model's input names for messages. */
static void input_names(const struct onnx_backend *b, char *out, size_t out_len)
{
    struct names l = {0};
    for (size_t i = 0; i < b->n_in; i++)
        names_push(&l, onnx_model_input(b->model, i)->name);
    names_join(&l, out, out_len);
    names_free(&l);
}

static int unknown_input(struct request *r, const char *where, const char *name)
{
    char shown[64], all[256];
    show_name(name, shown, sizeof(shown));
    input_names(r->b, all, sizeof(all));
    return inf_err_set(&r->err, INF_EINVAL, "%s: unknown input %s; the model's inputs are: %s",
                       where, shown, all);
}

/* Every model input must have been given. */
static int check_all_given(struct request *r)
{
    for (size_t i = 0; i < r->b->n_in; i++)
        if (!r->b->given[i]) {
            const struct onnx_io_desc *d = onnx_model_input(r->b->model, i);
            char want[160];
            declared_shape(d, want, sizeof(want));
            return inf_err_set(&r->err, INF_EINVAL, "missing input '%s' (%s %s)", d->name,
                               onnx_dtype_name(d->dtype), want);
        }
    return 0;
}

/* Azure's {"input_data": ...}: rows for a single-input model (a nested
 * list, {"data": rows, ...} or {name: rows}); {name: nested list} for
 * several inputs. */
static int parse_azure(struct request *r, const json_t *input_data)
{
    struct onnx_backend *b = r->b;
    const char *only = b->n_in == 1 ? onnx_model_input(b->model, 0)->name : NULL;
    if (only != NULL && !json_is_object(input_data))
        return input_from_nested(r, 0, input_data);
    if (only != NULL) {
        const json_t *rows = json_object_get(input_data, only);
        if (rows == NULL)
            rows = json_object_get(input_data, "data");
        if (rows == NULL)
            return inf_err_set(&r->err, INF_EINVAL,
                               "input_data: expected the rows of input '%s' as a nested list, "
                               "{\"data\": rows} or {\"%s\": rows}",
                               only, only);
        return input_from_nested(r, 0, rows);
    }
    if (!json_is_object(input_data)) {
        char all[256], got[64];
        input_names(b, all, sizeof(all));
        describe(input_data, got, sizeof(got));
        return inf_err_set(&r->err, INF_EINVAL,
                           "input_data: the model has %zu inputs (%s): expected an object "
                           "{input name: nested list}, got %s",
                           b->n_in, all, got);
    }
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)input_data, key, value)
    {
        int i = onnx_model_input_find(b->model, key);
        if (i < 0)
            return unknown_input(r, "input_data", key);
        int rc = input_from_nested(r, (size_t)i, value);
        if (rc != 0)
            return rc;
    }
    return check_all_given(r);
}

static int oip_dtype(const char *name, enum onnx_dtype *out)
{
    for (size_t i = 0; i < sizeof(datatypes) / sizeof(datatypes[0]); i++)
        if (strcmp(datatypes[i].oip, name) == 0) {
            *out = datatypes[i].dtype;
            return 0;
        }
    return -1;
}

/* One entry of the protocol's inputs list. */
static int parse_oip_input(struct request *r, size_t pos, const json_t *in)
{
    char where[48];
    snprintf(where, sizeof(where), "inputs[%zu]", pos);
    if (!json_is_object(in))
        return inf_err_set(&r->err, INF_EINVAL,
                           "%s: expected an object with name, shape, datatype and data", where);
    const char *name = json_string_value(json_object_get(in, "name"));
    if (name == NULL)
        return inf_err_set(&r->err, INF_EINVAL, "%s: name: required, a string", where);
    int i = onnx_model_input_find(r->b->model, name);
    if (i < 0)
        return unknown_input(r, where, name);
    const struct onnx_io_desc *d = onnx_model_input(r->b->model, (size_t)i);
    if (r->b->given[i])
        return inf_err_set(&r->err, INF_EINVAL, "input '%s' is given twice", d->name);

    const json_t *datatype = json_object_get(in, "datatype");
    enum onnx_dtype dtype;
    if (!json_is_string(datatype) || oip_dtype(json_string_value(datatype), &dtype) != 0) {
        char got[64];
        if (datatype != NULL)
            describe(datatype, got, sizeof(got));
        return inf_err_set(&r->err, INF_EINVAL,
                           "input '%s': datatype %s%s: expected %s (one of FP32, INT64, INT32, "
                           "BOOL)",
                           d->name, datatype != NULL ? got : "is missing",
                           datatype != NULL ? " is not supported" : "", oip_datatype(d->dtype));
    }
    if (dtype != d->dtype)
        return inf_err_set(&r->err, INF_EINVAL,
                           "input '%s': datatype %s does not match the model, which expects %s",
                           d->name, json_string_value(datatype), oip_datatype(d->dtype));

    const json_t *shape = json_object_get(in, "shape");
    if (!json_is_array(shape) || json_array_size(shape) > ONNX_MAX_RANK)
        return inf_err_set(&r->err, INF_EINVAL,
                           "input '%s': shape: required, a list of at most %d sizes", d->name,
                           ONNX_MAX_RANK);
    int64_t dims[ONNX_MAX_RANK];
    int rank = (int)json_array_size(shape);
    for (int k = 0; k < rank; k++) {
        const json_t *s = json_array_get(shape, (size_t)k);
        if (!json_is_integer(s) || json_integer_value(s) < 0) {
            char got[64];
            describe(s, got, sizeof(got));
            return inf_err_set(&r->err, INF_EINVAL,
                               "input '%s': shape[%d] is %s, expected a size (an integer >= 0)",
                               d->name, k, got);
        }
        dims[k] = json_integer_value(s);
    }
    const json_t *data = json_object_get(in, "data");
    if (data == NULL)
        return inf_err_set(&r->err, INF_EINVAL, "input '%s': data: required", d->name);
    int64_t numel;
    int rc = input_prepare(r, (size_t)i, rank, dims, &numel);
    if (rc != 0)
        return rc;
    struct fill f = {
        .desc = d, .label = "data", .data = r->b->inputs[i].data, .numel = numel, .err = &r->err};
    if ((rc = fill_flat(&f, data, 0)) != 0)
        return rc;
    if (f.count != numel) {
        char got[160];
        shape_text(rank, dims, got, sizeof(got));
        return inf_err_set(&r->err, INF_EINVAL,
                           "input '%s': data has %" PRId64 " value%s, shape %s needs %" PRId64,
                           d->name, f.count, f.count == 1 ? "" : "s", got, numel);
    }
    return 0;
}

/* The protocol's optional outputs list: which outputs to return. */
static int parse_oip_outputs(struct request *r, const json_t *outputs)
{
    struct onnx_backend *b = r->b;
    if (outputs == NULL) {
        for (size_t o = 0; o < b->n_out; o++)
            b->wanted[o] = true;
        return 0;
    }
    if (!json_is_array(outputs))
        return inf_err_set(&r->err, INF_EINVAL, "outputs: expected a list of {\"name\": ...}");
    for (size_t j = 0; j < json_array_size(outputs); j++) {
        const char *name = json_string_value(json_object_get(json_array_get(outputs, j), "name"));
        if (name == NULL)
            return inf_err_set(&r->err, INF_EINVAL, "outputs[%zu]: name: required, a string", j);
        size_t o = 0;
        while (o < b->n_out && strcmp(onnx_model_output(b->model, o)->name, name) != 0)
            o++;
        if (o == b->n_out) {
            struct names l = {0};
            for (size_t k = 0; k < b->n_out; k++)
                names_push(&l, onnx_model_output(b->model, k)->name);
            char all[256], shown[64];
            names_join(&l, all, sizeof(all));
            names_free(&l);
            show_name(name, shown, sizeof(shown));
            return inf_err_set(&r->err, INF_EINVAL,
                               "outputs[%zu]: unknown output %s; the model's outputs are: %s", j,
                               shown, all);
        }
        b->wanted[o] = true;
    }
    return 0;
}

/* The Open Inference Protocol's {"inputs": [...], "outputs"?, "id"?}. */
static int parse_oip(struct request *r, const json_t *body)
{
    const json_t *id = json_object_get(body, "id");
    if (id != NULL && !json_is_string(id))
        return inf_err_set(&r->err, INF_EINVAL, "id: expected a string");
    const json_t *inputs = json_object_get(body, "inputs");
    for (size_t j = 0; j < json_array_size(inputs); j++) {
        int rc = parse_oip_input(r, j, json_array_get(inputs, j));
        if (rc != 0)
            return rc;
    }
    int rc = check_all_given(r);
    return rc != 0 ? rc : parse_oip_outputs(r, json_object_get(body, "outputs"));
}

/* ---- responses: tensors into JSON ---------------------------------------- */

/* The response body under construction; a failed append (over the cap)
 * sticks, and is reported once at the end. */
struct writer {
    struct inf_buf buf;
    bool full;
};

static void put(struct writer *w, const char *s, size_t n)
{
    if (!w->full && inf_buf_append(&w->buf, s, n) != 0)
        w->full = true;
}

static void put_str(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* s as a JSON string; invalid UTF-8 becomes U+FFFD. */
static void put_json_string(struct writer *w, const char *s)
{
    put(w, "\"", 1);
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t run = i;
        while (run < n && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x80 &&
               s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            put(w, s + i, run - i);
            i = run;
            continue;
        }
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(w, esc, 2);
            i++;
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(w, esc, 6);
            i++;
        } else {
            size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
            if (k == 0) {
                put_str(w, "\\ufffd");
                i++;
            } else {
                put(w, s + i, k);
                i += k;
            }
        }
    }
    put(w, "\"", 1);
}

static void put_i64(struct writer *w, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Element k of t. Floats use 9 significant digits, enough to read back the
 * same float32; NaN and infinities, which JSON lacks, are null. */
static void put_element(struct writer *w, const struct onnx_tensor *t, int64_t k)
{
    switch (t->dtype) {
    case ONNX_DTYPE_FLOAT: {
        float f = ((const float *)t->data)[k];
        if (!isfinite(f)) {
            put(w, "null", 4);
            break;
        }
        char tmp[32];
        int n = snprintf(tmp, sizeof(tmp), "%.9g", (double)f);
        put(w, tmp, (size_t)n);
        break;
    }
    case ONNX_DTYPE_INT64:
        put_i64(w, ((const int64_t *)t->data)[k]);
        break;
    case ONNX_DTYPE_INT32:
        put_i64(w, ((const int32_t *)t->data)[k]);
        break;
    case ONNX_DTYPE_BOOL:
        if (((const uint8_t *)t->data)[k] != 0)
            put(w, "true", 4);
        else
            put(w, "false", 5);
        break;
    default:
        put(w, "null", 4);
        break;
    }
}

/* t as nested lists, one level per dimension (a scalar for rank 0). */
static void put_nested(struct writer *w, const struct onnx_tensor *t, int depth, int64_t *k)
{
    if (depth == t->rank) {
        put_element(w, t, (*k)++);
        return;
    }
    put(w, "[", 1);
    for (int64_t j = 0; j < t->dims[depth] && !w->full; j++) {
        if (j > 0)
            put(w, ",", 1);
        put_nested(w, t, depth + 1, k);
    }
    put(w, "]", 1);
}

/* Azure's answer: the one output's nested list, or {name: nested list}. */
static void write_azure(struct writer *w, const struct onnx_backend *b)
{
    int64_t k = 0;
    if (b->n_out == 1) {
        put_nested(w, &b->outputs[0], 0, &k);
        return;
    }
    put(w, "{", 1);
    for (size_t o = 0; o < b->n_out; o++) {
        if (o > 0)
            put(w, ",", 1);
        put_json_string(w, onnx_model_output(b->model, o)->name);
        put(w, ":", 1);
        k = 0;
        put_nested(w, &b->outputs[o], 0, &k);
    }
    put(w, "}", 1);
}

/* The protocol's answer: {"model_name", "id"?, "outputs": [{name, datatype,
 * shape, data (flat)}]}. */
static void write_oip(struct writer *w, const struct onnx_backend *b, const json_t *body)
{
    put_str(w, "{\"model_name\":");
    put_json_string(w, b->model_name);
    const char *id = json_string_value(json_object_get(body, "id"));
    if (id != NULL) {
        put_str(w, ",\"id\":");
        put_json_string(w, id);
    }
    put_str(w, ",\"outputs\":[");
    bool first = true;
    for (size_t o = 0; o < b->n_out; o++) {
        if (!b->wanted[o])
            continue;
        const struct onnx_tensor *t = &b->outputs[o];
        put_str(w, first ? "{\"name\":" : ",{\"name\":");
        first = false;
        put_json_string(w, onnx_model_output(b->model, o)->name);
        put_str(w, ",\"datatype\":\"");
        put_str(w, oip_datatype(t->dtype));
        put_str(w, "\",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            if (d > 0)
                put(w, ",", 1);
            put_i64(w, t->dims[d]);
        }
        put_str(w, "],\"data\":[");
        int64_t n = onnx_tensor_numel(t);
        for (int64_t k = 0; k < n && !w->full; k++) {
            if (k > 0)
                put(w, ",", 1);
            put_element(w, t, k);
        }
        put_str(w, "]}");
    }
    put_str(w, "]}");
}

/* ---- score ---------------------------------------------------------------- */

static void reply(struct backend_response *res, int status, char *body, size_t len)
{
    res->status = status;
    res->body = body;
    res->body_len = len;
    snprintf(res->content_type, sizeof(res->content_type), "application/json");
}

/* {"message": msg} with status. */
static void reply_message(struct backend_response *res, int status, const char *msg)
{
    struct writer w;
    inf_buf_init(&w.buf, SIZE_MAX);
    w.full = false;
    put_str(&w, "{\"message\":");
    put_json_string(&w, msg);
    put(&w, "}", 1);
    reply(res, status, w.buf.data, w.buf.len);
}

/* Frees the request's input buffers and resets the scratch. */
static void request_fini(struct onnx_backend *b)
{
    for (size_t i = 0; i < b->n_in; i++) {
        free(b->bufs[i]);
        b->bufs[i] = NULL;
        b->given[i] = false;
        memset(&b->inputs[i], 0, sizeof(b->inputs[i]));
    }
    for (size_t o = 0; o < b->n_out; o++)
        b->wanted[o] = false;
}

/* Parses body into the scratch tensors; *oip says which form it was. */
static int parse_request(struct request *r, const json_t *body, bool *oip)
{
    if (!json_is_object(body))
        return inf_err_set(&r->err, INF_EINVAL,
                           "request body: expected a JSON object, {\"input_data\": ...} or "
                           "{\"inputs\": [...]}");
    const json_t *inputs = json_object_get(body, "inputs");
    const json_t *input_data = json_object_get(body, "input_data");
    *oip = inputs != NULL;
    if (inputs != NULL && input_data != NULL)
        return inf_err_set(&r->err, INF_EINVAL,
                           "request body: give either input_data (Azure) or inputs (Open "
                           "Inference Protocol), not both");
    if (input_data != NULL)
        return parse_azure(r, input_data);
    if (json_is_array(inputs))
        return parse_oip(r, body);
    if (inputs != NULL)
        return inf_err_set(&r->err, INF_EINVAL,
                           "inputs: expected a list of {\"name\", \"shape\", \"datatype\", "
                           "\"data\"} (Open Inference Protocol)");
    return inf_err_set(&r->err, INF_EINVAL,
                       "request body: expected {\"input_data\": ...} (Azure) or {\"inputs\": "
                       "[{\"name\", \"shape\", \"datatype\", \"data\"}]} (Open Inference "
                       "Protocol)");
}

static int onnx_score(void *state, const struct backend_request *req, struct backend_response *res)
{
    struct onnx_backend *b = state;
    const char *req_id = req->request_id != NULL ? req->request_id : "";
    if (req->method != NULL && strcmp(req->method, "POST") != 0) {
        reply_message(res, 405, "score: send the inputs as JSON in a POST request");
        return 0;
    }
    struct request r = {.b = b, .budget = ONNX_BACKEND_MAX_ELEMENTS};
    inf_err_clear(&r.err);
    json_error_t jerr;
    json_t *body = NULL;
    bool oip = false;
    int rc;
    if (req->body == NULL || req->body_len == 0) {
        rc = inf_err_set(&r.err, INF_EINVAL,
                         "request body is empty: send {\"input_data\": ...} or {\"inputs\": "
                         "[...]}");
    } else if ((body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)) ==
               NULL) {
        rc = inf_err_set(&r.err, INF_EINVAL,
                         "request body is not valid JSON: %s (line %d, column %d)", jerr.text,
                         jerr.line, jerr.column);
    } else {
        rc = parse_request(&r, body, &oip);
    }
    if (rc == 0)
        rc = onnx_session_run(b->session, b->inputs, b->n_in, b->outputs, b->n_out, &r.err);

    if (rc == 0) {
        struct writer w;
        inf_buf_init(&w.buf, ONNX_BACKEND_MAX_RESPONSE_BYTES);
        w.full = false;
        if (oip)
            write_oip(&w, b, body);
        else
            write_azure(&w, b);
        if (!w.full) {
            reply(res, 200, w.buf.data, w.buf.len);
        } else {
            inf_buf_fini(&w.buf);
            rc = inf_err_set(&r.err, INF_ETOOBIG,
                             "the response would exceed %zu bytes; send fewer rows",
                             ONNX_BACKEND_MAX_RESPONSE_BYTES);
        }
    }
    if (rc != 0) {
        int status = inf_err_http_status(rc);
        if (status >= 500)
            inf_error("onnx.score_failed", "req_id=%s model=%s msg=\"%s\"", req_id, b->path,
                      r.err.msg);
        else
            inf_info("onnx.bad_request", "req_id=%s status=%d msg=\"%s\"", req_id, status,
                     r.err.msg);
        reply_message(res, status, r.err.msg);
    }
    request_fini(b);
    json_decref(body);
    return 0;
}

/* ---- swagger ---------------------------------------------------------------- */

/* Small schema builders; each returns a new reference and takes the
 * references it is given. */
static json_t *typed(const char *type)
{
    return json_pack("{s:s}", "type", type);
}

static json_t *array_of(json_t *items)
{
    return json_pack("{s:s,s:o}", "type", "array", "items", items);
}

static json_t *object_of(json_t *properties, json_t *required)
{
    json_t *o = json_pack("{s:s}", "type", "object");
    if (required != NULL)
        json_object_set_new(o, "required", required);
    json_object_set_new(o, "properties", properties);
    return o;
}

static json_t *ref_to(int version, const char *name)
{
    char *path =
        inf_asprintf("%s%s", version == 2 ? "#/definitions/" : "#/components/schemas/", name);
    json_t *r = json_pack("{s:s}", "$ref", path);
    free(path);
    return r;
}

static json_t *described(json_t *schema, const char *description)
{
    json_object_set_new(schema, "description", json_string(description));
    return schema;
}

static json_t *element_schema(enum onnx_dtype t)
{
    switch (t) {
    case ONNX_DTYPE_FLOAT:
        return json_pack("{s:s,s:s}", "type", "number", "format", "float");
    case ONNX_DTYPE_INT64:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int64");
    case ONNX_DTYPE_INT32:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int32");
    default:
        return typed("boolean");
    }
}

static const struct onnx_io_desc *io_desc(const struct onnx_backend *b, bool in, size_t i)
{
    return in ? onnx_model_input(b->model, i) : onnx_model_output(b->model, i);
}

/* A tensor as nested arrays, one per dimension, static sizes as
 * minItems/maxItems, described as "float [N, 64]". */
static json_t *tensor_schema(const struct onnx_io_desc *d)
{
    char shape[160], text[256];
    declared_shape(d, shape, sizeof(shape));
    snprintf(text, sizeof(text), "%s %s", onnx_dtype_name(d->dtype), shape);
    if (d->rank < 0)
        return described(array_of(json_object()), text);
    json_t *s = element_schema(d->dtype);
    for (int k = d->rank - 1; k >= 0; k--) {
        s = array_of(s);
        if (d->dims[k] >= 0) {
            json_object_set_new(s, "minItems", json_integer(d->dims[k]));
            json_object_set_new(s, "maxItems", json_integer(d->dims[k]));
        }
    }
    return described(s, text);
}

/* Azure's form: input_data is the one input's tensor, or {name: tensor};
 * the answer is the one output's tensor, or {name: tensor}. */
static json_t *azure_schema(const struct onnx_backend *b, bool in)
{
    size_t n = in ? b->n_in : b->n_out;
    json_t *schema;
    if (n == 1) {
        schema = tensor_schema(io_desc(b, in, 0));
    } else {
        json_t *props = json_object(), *names = json_array();
        for (size_t i = 0; i < n; i++) {
            const struct onnx_io_desc *d = io_desc(b, in, i);
            json_object_set_new(props, d->name, tensor_schema(d));
            json_array_append_new(names, json_string(d->name));
        }
        schema = object_of(props, names);
    }
    if (!in)
        return schema;
    return object_of(json_pack("{s:o}", "input_data", schema), json_pack("[s]", "input_data"));
}

/* One tensor of the Open Inference Protocol, with the graph's names and
 * datatypes as enums. */
static json_t *oip_tensor_schema(const struct onnx_backend *b, bool in)
{
    size_t n = in ? b->n_in : b->n_out;
    json_t *names = json_array(), *types = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct onnx_io_desc *d = io_desc(b, in, i);
        json_array_append_new(names, json_string(d->name));
        json_t *t = json_string(oip_datatype(d->dtype));
        bool seen = false;
        for (size_t k = 0; k < json_array_size(types); k++)
            seen = seen || json_equal(json_array_get(types, k), t);
        if (seen)
            json_decref(t);
        else
            json_array_append_new(types, t);
    }
    json_t *shape_dim = json_pack("{s:s,s:i}", "type", "integer", "minimum", 0);
    const char *layout =
        in ? "the values in row-major order, flat or nested" : "the values in row-major order";
    json_t *props = json_pack("{s:o,s:o,s:o,s:o}", "name",
                              json_pack("{s:s,s:o}", "type", "string", "enum", names), "shape",
                              array_of(shape_dim), "datatype",
                              json_pack("{s:s,s:o}", "type", "string", "enum", types), "data",
                              described(array_of(json_object()), layout));
    return object_of(props, json_pack("[ssss]", "name", "shape", "datatype", "data"));
}

static json_t *oip_request_schema(const struct onnx_backend *b)
{
    json_t *wanted = object_of(json_pack("{s:o}", "name", typed("string")), NULL);
    json_t *props = json_pack("{s:o,s:o,s:o}", "id", typed("string"), "inputs",
                              array_of(oip_tensor_schema(b, true)), "outputs",
                              described(array_of(wanted), "the outputs to return (default: all)"));
    return object_of(props, json_pack("[s]", "inputs"));
}

static json_t *oip_response_schema(const struct onnx_backend *b)
{
    json_t *props = json_pack("{s:o,s:o,s:o}", "model_name", typed("string"), "id", typed("string"),
                              "outputs", array_of(oip_tensor_schema(b, false)));
    return object_of(props, json_pack("[ss]", "model_name", "outputs"));
}

/* A zero of element type t. */
static json_t *zero_of(enum onnx_dtype t)
{
    return t == ONNX_DTYPE_FLOAT  ? json_real(0.0)
           : t == ONNX_DTYPE_BOOL ? json_false()
                                  : json_integer(0);
}

/* The example shape of d (dynamic dimensions 1) into dims; returns its
 * element count, capped just past EXAMPLE_MAX_ELEMENTS. */
static int64_t example_shape(const struct onnx_io_desc *d, int64_t *dims)
{
    int64_t n = 1;
    for (int k = 0; k < d->rank; k++) {
        dims[k] = d->dims[k] >= 0 ? d->dims[k] : 1;
        n = n > EXAMPLE_MAX_ELEMENTS ? n : n * dims[k];
    }
    return n;
}

static json_t *example_nested(const struct onnx_io_desc *d, const int64_t *dims, int depth)
{
    if (depth == d->rank)
        return zero_of(d->dtype);
    json_t *a = json_array();
    for (int64_t j = 0; j < dims[depth]; j++)
        json_array_append_new(a, example_nested(d, dims, depth + 1));
    return a;
}

/* Example requests in both forms (zeros, dynamic dimensions 1), or false
 * when the inputs are too large (or of unknown rank) for a readable one. */
static bool examples(const struct onnx_backend *b, json_t **azure, json_t **oip)
{
    int64_t total = 0, dims[ONNX_MAX_RANK];
    for (size_t i = 0; i < b->n_in; i++) {
        const struct onnx_io_desc *d = onnx_model_input(b->model, i);
        if (d->rank < 0)
            return false;
        total += example_shape(d, dims);
    }
    if (total > EXAMPLE_MAX_ELEMENTS)
        return false;
    json_t *named = json_object(), *inputs = json_array();
    for (size_t i = 0; i < b->n_in; i++) {
        const struct onnx_io_desc *d = onnx_model_input(b->model, i);
        int64_t n = example_shape(d, dims);
        json_object_set_new(named, d->name, example_nested(d, dims, 0));
        json_t *shape = json_array(), *data = json_array();
        for (int k = 0; k < d->rank; k++)
            json_array_append_new(shape, json_integer(dims[k]));
        for (int64_t k = 0; k < n; k++)
            json_array_append_new(data, zero_of(d->dtype));
        json_array_append_new(inputs,
                              json_pack("{s:s,s:o,s:s,s:o}", "name", d->name, "shape", shape,
                                        "datatype", oip_datatype(d->dtype), "data", data));
    }
    json_t *input_data = named;
    if (b->n_in == 1) {
        input_data = json_incref(json_object_get(named, onnx_model_input(b->model, 0)->name));
        json_decref(named);
    }
    *azure = json_pack("{s:o}", "input_data", input_data);
    *oip = json_pack("{s:o}", "inputs", inputs);
    return true;
}

/* "x (float [N, 64]), ..." for the inputs or outputs. */
static void io_summary(const struct onnx_backend *b, bool in, char *out, size_t out_len)
{
    size_t n = in ? b->n_in : b->n_out, used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < out_len; i++) {
        const struct onnx_io_desc *d = io_desc(b, in, i);
        char shape[160];
        declared_shape(d, shape, sizeof(shape));
        int k = snprintf(out + used, out_len - used, "%s%s (%s %s)", i > 0 ? ", " : "", d->name,
                         onnx_dtype_name(d->dtype), shape);
        used += k > 0 ? (size_t)k : 0;
    }
}

static json_t *info_object(const struct onnx_backend *b)
{
    char ins[1024], outs[1024], text[2600];
    io_summary(b, true, ins, sizeof(ins));
    io_summary(b, false, outs, sizeof(outs));
    snprintf(text, sizeof(text),
             "Runs the ONNX model '%s' (opset %d) on inferd's engine. Inputs: %s. Outputs: %s. "
             "Send Azure's {\"input_data\": ...} or the Open Inference Protocol's {\"inputs\": "
             "[...]}; the answer comes in the same form.",
             b->model_name, onnx_model_opset(b->model), ins, outs);
    return json_pack("{s:s,s:s,s:s}", "title", "ONNX model", "description", text, "version", "1.0");
}

#define SWAGGER_INPUT                                                                              \
    "The model's inputs: {\"input_data\": ...} (Azure) or {\"inputs\": [...]} (Open Inference "    \
    "Protocol)"
#define SWAGGER_OK "The model's outputs, in the form of the request"
#define SWAGGER_FAILED "The request could not be scored; message says why"

/* POST /score in OpenAPI 2: one body parameter; ServiceInput merges both
 * forms' keys, as version 2 has no oneOf. */
static json_t *operation_v2(void)
{
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:b,s:o}", "name", "serviceInputPayload", "in", "body",
                  "description", SWAGGER_INPUT, "required", 1, "schema", ref_to(2, "ServiceInput"));
    json_t *responses = json_pack("{s:{s:s,s:o},s:{s:s,s:o}}", "200", "description", SWAGGER_OK,
                                  "schema", ref_to(2, "ServiceOutput"), "default", "description",
                                  SWAGGER_FAILED, "schema", ref_to(2, "ErrorResponse"));
    return json_pack("{s:s,s:s,s:[{s:[]}],s:[o],s:o}", "operationId", "RunMLService", "description",
                     "Score the model", "security", "Bearer", "parameters", body, "responses",
                     responses);
}

/* POST /score in OpenAPI 3: a request body with an example of each form. */
static json_t *operation_v3(const json_t *ex_azure, const json_t *ex_oip)
{
    json_t *content = json_pack("{s:o}", "schema", ref_to(3, "ServiceInput"));
    if (ex_azure != NULL)
        json_object_set_new(content, "examples",
                            json_pack("{s:{s:s,s:O},s:{s:s,s:O}}", "input_data", "summary", "Azure",
                                      "value", ex_azure, "inputs", "summary",
                                      "Open Inference Protocol", "value", ex_oip));
    json_t *body = json_pack("{s:s,s:b,s:{s:o}}", "description", SWAGGER_INPUT, "required", 1,
                             "content", "application/json", content);
    json_t *responses = json_pack(
        "{s:{s:s,s:{s:{s:o}}},s:{s:s,s:{s:{s:o}}}}", "200", "description", SWAGGER_OK, "content",
        "application/json", "schema", ref_to(3, "ServiceOutput"), "default", "description",
        SWAGGER_FAILED, "content", "application/json", "schema", ref_to(3, "ErrorResponse"));
    return json_pack("{s:s,s:s,s:[{s:[]}],s:o,s:o}", "operationId", "RunMLService", "description",
                     "Score the model", "security", "Bearer", "requestBody", body, "responses",
                     responses);
}

static json_t *swagger_document(const struct onnx_backend *b, int version)
{
    json_t *ex_azure = NULL, *ex_oip = NULL;
    examples(b, &ex_azure, &ex_oip);
    json_t *azure_req = azure_schema(b, true), *azure_res = azure_schema(b, false);
    json_t *oip_req = oip_request_schema(b), *oip_res = oip_response_schema(b);
    if (ex_azure != NULL) {
        json_object_set(azure_req, "example", ex_azure);
        json_object_set(oip_req, "example", ex_oip);
    }

    json_t *service_in, *service_out;
    if (version == 2) {
        json_t *props = json_deep_copy(json_object_get(azure_req, "properties"));
        json_object_update(props, json_object_get(oip_req, "properties"));
        service_in = described(object_of(props, NULL), SWAGGER_INPUT);
        if (ex_azure != NULL)
            json_object_set(service_in, "example", ex_azure);
        service_out = described(json_deep_copy(azure_res),
                                "The model's outputs for an input_data request (AzureResponse); "
                                "an inputs request gets an InferenceResponse");
    } else {
        service_in = described(json_pack("{s:[oo]}", "oneOf", ref_to(3, "AzureRequest"),
                                         ref_to(3, "InferenceRequest")),
                               SWAGGER_INPUT);
        service_out = json_pack("{s:[oo]}", "oneOf", ref_to(3, "AzureResponse"),
                                ref_to(3, "InferenceResponse"));
    }
    json_t *schemas =
        json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "ServiceInput", service_in, "ServiceOutput",
                  service_out, "AzureRequest", azure_req, "AzureResponse", azure_res,
                  "InferenceRequest", oip_req, "InferenceResponse", oip_res, "ErrorResponse",
                  object_of(json_pack("{s:o}", "message", typed("string")), NULL));
    json_t *security = json_pack("{s:s,s:s,s:s,s:s}", "type", "apiKey", "name", "Authorization",
                                 "in", "header", "description", "For example: Bearer abc123");

    json_t *doc;
    if (version == 2)
        doc = json_pack("{s:s,s:o,s:[s],s:[s],s:{s:o},s:{s:{s:o}},s:o}", "swagger", "2.0", "info",
                        info_object(b), "consumes", "application/json", "produces",
                        "application/json", "securityDefinitions", "Bearer", security, "paths",
                        "/score", "post", operation_v2(), "definitions", schemas);
    else
        doc = json_pack("{s:s,s:o,s:{s:{s:o}},s:{s:{s:o},s:o}}", "openapi", "3.0.1", "info",
                        info_object(b), "paths", "/score", "post", operation_v3(ex_azure, ex_oip),
                        "components", "securitySchemes", "Bearer", security, "schemas", schemas);
    json_decref(ex_azure);
    json_decref(ex_oip);
    return doc;
}

static int onnx_swagger(void *state, int version, struct backend_response *res)
{
    struct onnx_backend *b = state;
    json_t *doc = swagger_document(b, version == 3 ? 3 : 2);
    char *text = doc != NULL ? json_dumps(doc, 0) : NULL;
    json_decref(doc);
    if (text == NULL) {
        inf_error("onnx.swagger_failed", "model=%s version=%d", b->path, version);
        return INF_EINTERNAL;
    }
    reply(res, 200, text, strlen(text));
    return 0;
}

const struct backend_ops onnx_backend_ops = {
    .name = "onnx",
    .load = onnx_load,
    .score = onnx_score,
    .unload = onnx_unload,
    .swagger = onnx_swagger,
    .flags = 0,
};
