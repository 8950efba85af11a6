/*
 * score.c: the diabetes example's scoring code, a native inferd model.
 *
 * A linear regression over the 10 features of the classic diabetes data set
 * (age, sex, bmi, blood pressure and six blood serum measurements, each
 * mean-centred and scaled) predicting disease progression one year later.
 *
 * inferd_init() loads $AZUREML_MODEL_DIR/model/weights.json:
 *     {"name": "...", "version": 1, "coefficients": [10 numbers], "intercept": 152.1}
 * (one coefficient per feature: any count up to MAX_FEATURES works).
 * inferd_run() takes Azure's diabetes sample request, {"data": [[10 numbers], ...]},
 * and answers a JSON array with one prediction per row: [206.1, 68.0]. A bad
 * body gets 400 and {"error": "..."} saying what is wrong.
 *
 * Build: gcc -std=c11 -O2 -Iinclude -fPIC -shared -o score.so score.c \
 *            $(pkg-config --cflags --libs jansson) -lm
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "inferd/native.h"

#define MAX_FEATURES 1000
#define MAX_ROWS 10000

struct model {
    char name[128];
    long long version;
    size_t n_features;
    double coefficients[MAX_FEATURES];
    double intercept;
};

int inferd_abi_version(void)
{
    return INFERD_NATIVE_ABI_VERSION;
}

static void *init_error(char *err, size_t err_len, json_t *doc, struct model *m, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));

static void *init_error(char *err, size_t err_len, json_t *doc, struct model *m, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    json_decref(doc);
    free(m);
    return NULL;
}

void *inferd_init(const char *model_dir, char *err, size_t err_len)
{
    /* The model folder is mounted under its own name ("model/") inside model_dir. */
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/model/weights.json", model_dir) >= sizeof(path))
        return init_error(err, err_len, NULL, NULL, "model directory path is too long");

    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        if (jerr.line < 0) /* the file itself could not be read; the text names it */
            return init_error(err, err_len, NULL, NULL, "%s", jerr.text);
        return init_error(err, err_len, NULL, NULL, "%s: line %d column %d: %s", path, jerr.line,
                          jerr.column, jerr.text);
    }
    struct model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return init_error(err, err_len, doc, NULL, "out of memory");
    if (!json_is_object(doc))
        return init_error(err, err_len, doc, m, "%s: expected a JSON object", path);

    json_t *name = json_object_get(doc, "name");
    if (name != NULL && !json_is_string(name))
        return init_error(err, err_len, doc, m, "%s: \"name\" must be a string", path);
    snprintf(m->name, sizeof(m->name), "%s", name != NULL ? json_string_value(name) : "model");

    json_t *version = json_object_get(doc, "version");
    if (version != NULL && !json_is_integer(version))
        return init_error(err, err_len, doc, m, "%s: \"version\" must be an integer", path);
    m->version = version != NULL ? json_integer_value(version) : 1;

    json_t *coefficients = json_object_get(doc, "coefficients");
    if (!json_is_array(coefficients) || json_array_size(coefficients) == 0 ||
        json_array_size(coefficients) > MAX_FEATURES)
        return init_error(err, err_len, doc, m,
                          "%s: \"coefficients\" must be an array of 1 to %d numbers", path,
                          MAX_FEATURES);
    m->n_features = json_array_size(coefficients);
    for (size_t i = 0; i < m->n_features; i++) {
        json_t *c = json_array_get(coefficients, i);
        if (!json_is_number(c))
            return init_error(err, err_len, doc, m, "%s: \"coefficients\"[%zu] is not a number",
                              path, i);
        m->coefficients[i] = json_number_value(c);
    }

    json_t *intercept = json_object_get(doc, "intercept");
    if (!json_is_number(intercept))
        return init_error(err, err_len, doc, m, "%s: \"intercept\" must be a number", path);
    m->intercept = json_number_value(intercept);

    json_decref(doc);
    fprintf(stderr, "score.so: loaded model %s version %lld (%zu features)\n", m->name, m->version,
            m->n_features);
    return m;
}

/* Serialises value (consumed) into a malloc()ed body, as the contract asks:
 * jansson's own allocator may be swapped by the host, so it must not own it. */
static int respond_json(struct inferd_response *res, int status, json_t *value)
{
    const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(10);
    int rc = -1;
    size_t n = value != NULL ? json_dumpb(value, NULL, 0, flags) : 0;
    if (n > 0 && (res->body = malloc(n)) != NULL) {
        res->body_len = json_dumpb(value, res->body, n, flags);
        res->status = status;
        rc = 0;
    }
    json_decref(value);
    return rc;
}

#define WHY_MAX 512

static void *explain(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes why a request is bad into why (WHY_MAX bytes); returns NULL. */
static void *explain(char *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY_MAX, fmt, ap);
    va_end(ap);
    return NULL;
}

/* The predictions for a request body, one per row of "data"; or NULL after
 * writing into why what is wrong with the body. */
static json_t *predict(const struct model *m, const json_t *doc, char *why)
{
    json_t *data = json_object_get(doc, "data");
    if (!json_is_object(doc) || data == NULL)
        return explain(why, "body has no \"data\": expected {\"data\": [[%zu numbers], ...]}",
                       m->n_features);
    if (!json_is_array(data))
        return explain(why, "\"data\" must be an array of rows of %zu numbers", m->n_features);
    size_t rows = json_array_size(data);
    if (rows > MAX_ROWS)
        return explain(why, "\"data\" has %zu rows, at most %d are allowed per request", rows,
                       MAX_ROWS);

    json_t *out = json_array();
    for (size_t r = 0; r < rows; r++) {
        json_t *row = json_array_get(data, r);
        if (!json_is_array(row)) {
            explain(why, "row %zu (data[%zu]) is not an array of %zu numbers", r + 1, r,
                    m->n_features);
            goto fail;
        }
        if (json_array_size(row) != m->n_features) {
            explain(why, "row %zu (data[%zu]) has %zu values, expected %zu", r + 1, r,
                    json_array_size(row), m->n_features);
            goto fail;
        }
        double y = m->intercept;
        for (size_t i = 0; i < m->n_features; i++) {
            json_t *v = json_array_get(row, i);
            if (!json_is_number(v)) {
                explain(why, "row %zu (data[%zu][%zu]) is not a number", r + 1, r, i);
                goto fail;
            }
            y += m->coefficients[i] * json_number_value(v);
        }
        if (!isfinite(y)) {
            explain(why, "row %zu (data[%zu]) overflows: its values are too large", r + 1, r);
            goto fail;
        }
        json_array_append_new(out, json_real(y));
    }
    return out;

fail:
    json_decref(out);
    return NULL;
}

int inferd_run(void *state, const struct inferd_request *req, struct inferd_response *res)
{
    const struct model *m = state;
    char why[WHY_MAX] = "";
    json_t *predictions = NULL;
    if (req->body_len == 0) {
        explain(why, "empty body: expected {\"data\": [[%zu numbers], ...]}", m->n_features);
    } else {
        json_error_t jerr;
        json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL)
            explain(why, "body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                    jerr.column);
        else
            predictions = predict(m, doc, why);
        json_decref(doc);
    }
    if (predictions != NULL)
        return respond_json(res, 200, predictions);
    /* why may quote bytes of the body that are not UTF-8: then JSON cannot carry it. */
    json_t *error = json_pack("{s:s}", "error", why);
    if (error == NULL)
        error = json_pack("{s:s}", "error", "body is not valid UTF-8 JSON");
    return respond_json(res, 400, error);
}

void inferd_fini(void *state)
{
    free(state);
}
