/*
 * check: the building blocks of one validation pass over a spec, shared by
 * online.c and batch.c: messages ("<source>: <dotted.field>: <what is
 * wrong>"), notes, key lists with "did you mean", typed field copies with
 * defaults, and the model, code_configuration and environment sections that
 * online and batch deployments have in common.
 *
 * A pass is a `struct check` on the caller's stack: check_init, any number
 * of checks (the first failure sets c->err and every later step is skipped
 * by the caller), then check_finish or check_abandon. Notes are collected
 * privately so a failed pass hands none to the caller. Pure and reentrant:
 * any thread.
 */
#include "spec/spec_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

#define AZUREML_PREFIX "azureml:"
#define ARTIFACT_HEX_LEN 64

void check_init(struct check *c, const char *source, enum spec_mode mode, struct inf_err *err)
{
    c->source = source ? source : "spec";
    c->mode = mode;
    c->notes = json_array();
    c->err = err;
}

/* Sets "source: field: message" (or "source: message" without a field). */
int check_fail(struct check *c, const char *field, const char *fmt, ...)
{
    char msg[INF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (field == NULL)
        return inf_err_set(c->err, INF_EINVAL, "%s: %s", c->source, msg);
    return inf_err_set(c->err, INF_EINVAL, "%s: %s: %s", c->source, field, msg);
}

void check_note(struct check *c, const char *fmt, ...)
{
    char msg[INF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *line = inf_asprintf("%s: %s", c->source, msg);
    json_array_append_new(c->notes, json_string(line));
    free(line);
}

/* "parent.key", or "key" at the top level, into buf (len > 0): cut to fit,
 * control characters in user-chosen keys replaced so messages stay one line. */
const char *check_join(char *buf, size_t len, const char *parent, const char *key)
{
    size_t n = 0;
    const char *parts[3] = {parent, parent ? "." : NULL, key};
    for (size_t i = 0; i < 3; i++) {
        for (const char *p = parts[i]; p != NULL && *p != '\0' && n + 1 < len; p++)
            buf[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    }
    buf[n] = '\0';
    return buf;
}

/* The value of key in obj; NULL when absent or null (YAML's "key:" with
 * nothing after it means "not given" everywhere in a spec). */
json_t *check_get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int is_artifact_ref(const char *s)
{
    if (!has_prefix(s, SPEC_ARTIFACT_PREFIX))
        return 0;
    s += strlen(SPEC_ARTIFACT_PREFIX);
    for (size_t i = 0; i < ARTIFACT_HEX_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[ARTIFACT_HEX_LEN] == '\0';
}

/* Levenshtein distance ignoring case, for "did you mean" (short keys only). */
static size_t distance(const char *a, const char *b)
{
    enum { MAX = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX || lb > MAX)
        return MAX;
    size_t row[MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            size_t best = diag + (same ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Fails on the first key of obj not in `allowed` (NULL-terminated), with a
 * "did you mean" for a near miss or else the accepted keys. */
int check_keys(struct check *c, const json_t *obj, const char *const *allowed, const char *where)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] != NULL)
            continue;

        char shown[64];
        spec_text_show(key, strlen(key), shown, sizeof(shown));
        const char *best = NULL;
        size_t best_d = 3; /* suggest at most two edits away */
        for (i = 0; allowed[i] != NULL; i++) {
            size_t d = distance(key, allowed[i]);
            if (d < best_d) {
                best = allowed[i];
                best_d = d;
            }
        }
        if (best != NULL)
            return check_fail(c, NULL, "unknown key %s in %s (did you mean '%s'?)", shown, where,
                              best);
        struct inf_buf list;
        inf_buf_init(&list, 300);
        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(allowed[i], "$schema") == 0)
                continue;
            if (inf_buf_printf(&list, "%s%s", list.len ? ", " : "", allowed[i]) != 0)
                break;
        }
        int rc = allowed[i] == NULL
                     ? check_fail(c, NULL, "unknown key %s in %s (accepted: %s)", shown, where,
                                  list.data ? list.data : "none")
                     : check_fail(c, NULL, "unknown key %s in %s (see docs/yaml-reference.md)",
                                  shown, where);
        inf_buf_fini(&list);
        return rc;
    }
    return 0;
}

/* A text field: *out is NULL when absent; an error for non-strings. */
int check_get_string(struct check *c, const json_t *obj, const char *parent, const char *key,
                     const char **out)
{
    char field[CHECK_FIELD_MAX], got[80];
    json_t *v = check_get(obj, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        spec_value_describe(v, got, sizeof(got));
        return check_fail(c, check_join(field, sizeof(field), parent, key),
                          "must be a string, got %s", got);
    }
    if (strlen(json_string_value(v)) != json_string_length(v))
        return check_fail(c, check_join(field, sizeof(field), parent, key),
                          "contains a NUL character");
    *out = json_string_value(v);
    return 0;
}

/* Like check_get_string, but the string must be there and not empty. */
int check_need_string(struct check *c, const json_t *obj, const char *parent, const char *key,
                      const char *what, const char **out)
{
    char field[CHECK_FIELD_MAX];
    int rc = check_get_string(c, obj, parent, key, out);
    if (rc != 0)
        return rc;
    if (*out == NULL || **out == '\0')
        return check_fail(c, check_join(field, sizeof(field), parent, key), "required: %s", what);
    return 0;
}

/* A mapping field: *out is NULL when absent; an error for other types. */
int check_get_mapping(struct check *c, const json_t *obj, const char *parent, const char *key,
                      const json_t **out)
{
    char field[CHECK_FIELD_MAX], got[80];
    json_t *v = check_get(obj, key);
    *out = v;
    if (v == NULL || json_is_object(v))
        return 0;
    spec_value_describe(v, got, sizeof(got));
    return check_fail(c, check_join(field, sizeof(field), parent, key), "must be a mapping, got %s",
                      got);
}

/* A scalar rendered as text the way it was written: strings as they are,
 * numbers and booleans as in YAML, null as "". NULL for lists and mappings. */
static json_t *scalar_text(const json_t *v)
{
    char buf[40];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_stringn(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(buf);
    case JSON_REAL:
        spec_real_text(json_real_value(v), buf, sizeof(buf));
        return json_string(buf);
    case JSON_TRUE:
        return json_string("true");
    case JSON_FALSE:
        return json_string("false");
    case JSON_NULL:
        return json_string("");
    default:
        return NULL;
    }
}

/* Copies a text field as a string (scalars coerced); `def` when absent
 * (nothing is set when def is NULL). */
int check_put_text(struct check *c, json_t *out, const json_t *in, const char *parent,
                   const char *key, const char *def)
{
    char field[CHECK_FIELD_MAX], got[80];
    json_t *v = check_get(in, key);
    if (v == NULL) {
        if (def != NULL)
            json_object_set_new(out, key, json_string(def));
        return 0;
    }
    json_t *text = scalar_text(v);
    if (text == NULL) {
        spec_value_describe(v, got, sizeof(got));
        return check_fail(c, check_join(field, sizeof(field), parent, key), "must be text, got %s",
                          got);
    }
    json_object_set_new(out, key, text);
    return 0;
}

/* Copies a mapping of text values (tags, environment_variables) with every
 * value coerced to a string. Environment variable names must be usable as
 * such. Sets {} when absent. */
int check_put_text_map(struct check *c, json_t *out, const json_t *in, const char *parent,
                       const char *key, int env_names)
{
    char where[CHECK_FIELD_MAX], field[CHECK_FIELD_MAX], got[80];
    const json_t *map;
    int rc = check_get_mapping(c, in, parent, key, &map);
    if (rc != 0)
        return rc;
    check_join(where, sizeof(where), parent, key);
    json_t *copy = json_object();
    json_object_set_new(out, key, copy);
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)map, name, value)
    {
        if (env_names && (name[0] == '\0' || strchr(name, '=') != NULL)) {
            char shown[64];
            spec_text_show(name, strlen(name), shown, sizeof(shown));
            return check_fail(c, where, "%s is not a valid variable name (empty or contains '=')",
                              shown);
        }
        json_t *text = scalar_text(value);
        if (text == NULL) {
            spec_value_describe(value, got, sizeof(got));
            return check_fail(c, check_join(field, sizeof(field), where, name),
                              "must be text, got %s", got);
        }
        if (env_names && strlen(json_string_value(text)) != json_string_length(text)) {
            json_decref(text);
            return check_fail(c, check_join(field, sizeof(field), where, name),
                              "contains a NUL character");
        }
        json_object_set_new(copy, name, text);
    }
    return 0;
}

/* Copies an integer field in [min, max], or def when absent. */
int check_put_int(struct check *c, json_t *out, const json_t *in, const char *parent,
                  const char *key, long min, long max, long def)
{
    char field[CHECK_FIELD_MAX], got[80];
    json_t *v = check_get(in, key);
    json_int_t n = def;
    if (v != NULL) {
        n = json_integer_value(v);
        if (!json_is_integer(v) || n < min || n > max) {
            spec_value_describe(v, got, sizeof(got));
            return check_fail(c, check_join(field, sizeof(field), parent, key),
                              "must be an integer from %ld to %ld, got %s", min, max, got);
        }
    }
    json_object_set_new(out, key, json_integer(n));
    return 0;
}

/* Copies a string that must be one of `choices` (NULL-terminated, compared
 * ignoring case, stored as listed); def when absent (nothing if NULL).
 * *chosen (optional) gets the stored choice or NULL. */
int check_put_choice(struct check *c, json_t *out, const json_t *in, const char *parent,
                     const char *key, const char *const *choices, const char *def,
                     const char **chosen)
{
    char field[CHECK_FIELD_MAX], got[80];
    const char *s;
    int rc = check_get_string(c, in, parent, key, &s);
    if (rc != 0)
        return rc;
    if (s == NULL)
        s = def;
    if (chosen != NULL)
        *chosen = NULL;
    if (s == NULL)
        return 0;
    for (size_t i = 0; choices[i] != NULL; i++) {
        if (strcasecmp(s, choices[i]) == 0) {
            json_object_set_new(out, key, json_string(choices[i]));
            if (chosen != NULL)
                *chosen = choices[i];
            return 0;
        }
    }
    struct inf_buf list;
    inf_buf_init(&list, 200);
    for (size_t i = 0; choices[i] != NULL; i++)
        inf_buf_printf(&list, "%s%s", i ? ", " : "", choices[i]);
    spec_text_show(s, strlen(s), got, sizeof(got));
    rc = check_fail(c, check_join(field, sizeof(field), parent, key), "must be one of %s, got %s",
                    list.data, got);
    inf_buf_fini(&list);
    return rc;
}

/* Copies a required endpoint/deployment name, checked by the naming rule. */
int check_put_name(struct check *c, json_t *out, const json_t *in, const char *key,
                   const char *what)
{
    const char *name;
    int rc = check_need_string(c, in, NULL, key, what, &name);
    if (rc != 0)
        return rc;
    struct inf_err name_err;
    if (spec_name_valid(name, what, &name_err) != 0)
        return check_fail(c, NULL, "%s", name_err.msg);
    json_object_set_new(out, key, json_string(name));
    return 0;
}

/* Keeps an Azure-only value as given and notes that it has no effect here. */
void check_keep_ignored(struct check *c, json_t *out, const json_t *in, const char *key,
                        const char *why)
{
    json_t *v = check_get(in, key);
    if (v == NULL)
        return;
    json_object_set_new(out, key, json_deep_copy(v));
    check_note(c, "'%s' is %s", key, why ? why : "Azure-only and ignored");
}

json_t *check_finish(struct check *c, json_t *out, json_t *notes)
{
    if (json_is_array(notes))
        json_array_extend(notes, c->notes);
    json_decref(c->notes);
    return out;
}

json_t *check_abandon(struct check *c, json_t *out)
{
    json_decref(c->notes);
    json_decref(out);
    return NULL;
}

/* ---- model, code, environment ------------------------------------------- */

static const char *const model_keys[] = {
    "$schema", "path", "name", "version", "type", "description", "tags", NULL,
};
static const char *const model_types[] = {"custom_model", "mlflow_model", NULL};
static const char *const code_keys[] = {"code", "scoring_script", NULL};
static const char *const environment_keys[] = {
    "$schema", "name",       "version",          "description", "tags", "image",
    "build",   "conda_file", "inference_config", "os_type",     NULL,
};
static const char *const inference_keys[] = {"liveness_route", "readiness_route", "scoring_route",
                                             NULL};
static const char *const route_keys[] = {"port", "path", NULL};

/* Rejects references to registered Azure assets, which need a registry. */
static int reject_azureml(struct check *c, const char *field, const char *s)
{
    char shown[64];
    if (!has_prefix(s, AZUREML_PREFIX))
        return 0;
    spec_text_show(s, strlen(s), shown, sizeof(shown));
    if (strcmp(field, "code_configuration.code") == 0)
        return check_fail(c, field,
                          "%s refers to an Azure asset; inferd has no asset registry yet: set "
                          "it to the folder that holds the scoring script instead",
                          shown);
    return check_fail(c, field,
                      "%s refers to a registered Azure model; inferd has no model registry yet: "
                      "set model.path to the model's folder or file instead",
                      shown);
}

/* Checks a model or code location for the mode: a local path (FILE) or an
 * uploaded artifact (API). */
static int location_ok(struct check *c, const char *field, const char *s)
{
    char shown[64];
    spec_text_show(s, strlen(s), shown, sizeof(shown));
    int rc = reject_azureml(c, field, s);
    if (rc != 0)
        return rc;
    if (strstr(s, "://") != NULL)
        return check_fail(c, field, "%s is a URL; download it and give the local path instead",
                          shown);
    if (c->mode == SPEC_API && !is_artifact_ref(s))
        return check_fail(c, field,
                          "must be an uploaded artifact '" SPEC_ARTIFACT_PREFIX
                          "<64 lowercase hex digits>' (POST the folder to /api/v1/artifacts), "
                          "got %s",
                          shown);
    return 0;
}

int check_model(struct check *c, const json_t *in, json_t **model)
{
    json_t *v = check_get(in, "model");
    char got[80];
    const char *path;
    *model = NULL;
    if (v == NULL)
        return 0;
    if (json_is_string(v)) {
        /* A plain string is where the model is: the same as {path: ...}. */
        if (reject_azureml(c, "model", json_string_value(v)) != 0)
            return INF_EINVAL;
        *model = json_object();
        json_object_set_new(*model, "path", json_copy(v));
        if (check_need_string(c, *model, "model", "path", "the model's folder or file", &path) != 0)
            return INF_EINVAL;
        return location_ok(c, "model", path);
    }
    if (!json_is_object(v)) {
        spec_value_describe(v, got, sizeof(got));
        return check_fail(c, "model", "must be a path or a mapping with path, got %s", got);
    }
    *model = json_object();
    if (check_keys(c, v, model_keys, "model") != 0 ||
        check_need_string(c, v, "model", "path", "the model's folder or file", &path) != 0 ||
        location_ok(c, "model.path", path) != 0)
        return INF_EINVAL;
    json_object_set_new(*model, "path", json_string(path));

    const char *type;
    if (check_get_string(c, v, "model", "type", &type) != 0)
        return INF_EINVAL;
    if (type != NULL && strcmp(type, "triton_model") == 0)
        return check_fail(c, "model.type",
                          "triton_model is not supported by inferd yet; use custom_model or "
                          "mlflow_model");
    if (check_put_text(c, *model, v, "model", "name", NULL) != 0 ||
        check_put_text(c, *model, v, "model", "version", NULL) != 0 ||
        check_put_choice(c, *model, v, "model", "type", model_types, NULL, NULL) != 0 ||
        check_put_text(c, *model, v, "model", "description", NULL) != 0)
        return INF_EINVAL;
    if (check_get(v, "tags") != NULL && check_put_text_map(c, *model, v, "model", "tags", 0) != 0)
        return INF_EINVAL;
    return 0;
}

/* A path inside the code folder: relative and never climbing out of it. */
static int inner_path_ok(struct check *c, const char *field, const char *s)
{
    char shown[64];
    spec_text_show(s, strlen(s), shown, sizeof(shown));
    if (s[0] == '/' || strchr(s, '\\') != NULL)
        return check_fail(c, field, "%s must be a relative path inside the code folder", shown);
    for (const char *p = s; *p != '\0';) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return check_fail(c, field, "%s must not contain '..'", shown);
        p += n;
        if (*p == '/')
            p++;
    }
    return 0;
}

int check_code(struct check *c, const json_t *in, enum check_scripts scripts, json_t **code,
               const char **backend)
{
    const json_t *cc;
    const char *folder, *script;
    *code = NULL;
    *backend = NULL;
    if (check_get_mapping(c, in, NULL, "code_configuration", &cc) != 0)
        return INF_EINVAL;
    if (cc == NULL)
        return 0;
    if (check_keys(c, cc, code_keys, "code_configuration") != 0 ||
        check_need_string(c, cc, "code_configuration", "code", "the folder that holds the script",
                          &folder) != 0 ||
        location_ok(c, "code_configuration.code", folder) != 0 ||
        check_need_string(c, cc, "code_configuration", "scoring_script",
                          "the script's path inside the code folder", &script) != 0 ||
        inner_path_ok(c, "code_configuration.scoring_script", script) != 0)
        return INF_EINVAL;
    int native_ok = scripts == CHECK_SCRIPTS_PY_OR_SO;
    char shown[64];
    spec_text_show(script, strlen(script), shown, sizeof(shown));
    if (ends_with(script, ".py"))
        *backend = "python";
    else if (ends_with(script, ".so") && native_ok)
        *backend = "native";
    else if (ends_with(script, ".so"))
        return check_fail(c, "code_configuration.scoring_script",
                          "%s is a native shared library; batch deployments run Python scripts "
                          "(.py) or MLflow models",
                          shown);
    else if (native_ok)
        return check_fail(c, "code_configuration.scoring_script",
                          "%s must be a Python script (.py) or a native shared library (.so)",
                          shown);
    else
        return check_fail(c, "code_configuration.scoring_script",
                          "%s must be a Python script (.py)", shown);
    *code = json_pack("{s:s, s:s}", "code", folder, "scoring_script", script);
    return 0;
}

static int route_spec(struct check *c, json_t *out, const json_t *cfg, const char *key)
{
    char field[CHECK_FIELD_MAX], sub[CHECK_FIELD_MAX], got[80];
    const json_t *route;
    const char *path;
    check_join(field, sizeof(field), "environment.inference_config", key);
    if (check_get_mapping(c, cfg, "environment.inference_config", key, &route) != 0)
        return INF_EINVAL;
    if (route == NULL)
        return check_fail(c, field, "required: {port, path} of the server's route");
    json_t *r = json_object();
    json_object_set_new(out, key, r);
    if (check_keys(c, route, route_keys, field) != 0)
        return INF_EINVAL;
    if (check_get(route, "port") == NULL)
        return check_fail(c, check_join(sub, sizeof(sub), field, "port"),
                          "required: the port the server listens on");
    if (check_put_int(c, r, route, field, "port", 1, 65535, 0) != 0 ||
        check_need_string(c, route, field, "path", "the HTTP path, e.g. /score", &path) != 0)
        return INF_EINVAL;
    if (path[0] != '/') {
        spec_text_show(path, strlen(path), got, sizeof(got));
        return check_fail(c, check_join(sub, sizeof(sub), field, "path"),
                          "must start with '/', got %s", got);
    }
    json_object_set_new(r, "path", json_string(path));
    return 0;
}

int check_environment(struct check *c, const json_t *in, json_t **env)
{
    json_t *v = check_get(in, "environment");
    char got[80];
    *env = NULL;
    if (v == NULL)
        return 0;
    if (json_is_string(v) && has_prefix(json_string_value(v), AZUREML_PREFIX)) {
        *env = json_copy(v);
        spec_value_describe(v, got, sizeof(got));
        check_note(c,
                   "environment %s is a curated Azure environment; inferd uses this machine's "
                   "Python instead",
                   got);
        return 0;
    }
    if (!json_is_object(v)) {
        spec_value_describe(v, got, sizeof(got));
        return check_fail(c, "environment",
                          "must be a mapping (image, conda_file, inference_config) or a curated "
                          "environment 'azureml:NAME@latest', got %s",
                          got);
    }
    *env = json_object();
    if (check_keys(c, v, environment_keys, "environment") != 0 ||
        check_put_text(c, *env, v, "environment", "name", NULL) != 0 ||
        check_put_text(c, *env, v, "environment", "version", NULL) != 0 ||
        check_put_text(c, *env, v, "environment", "description", NULL) != 0 ||
        (check_get(v, "tags") != NULL &&
         check_put_text_map(c, *env, v, "environment", "tags", 0) != 0))
        return INF_EINVAL;

    /* conda_file: a path beside the YAML file (FILE) or the file's content
     * (API); Azure also takes the conda environment inline as a mapping. */
    json_t *conda = check_get(v, "conda_file");
    if (conda != NULL && !json_is_object(conda)) {
        const char *s;
        if (check_get_string(c, v, "environment", "conda_file", &s) != 0)
            return INF_EINVAL;
        if (s[0] == '\0')
            return check_fail(c, "environment.conda_file", "must not be empty");
    }
    if (conda != NULL)
        json_object_set_new(*env, "conda_file", json_deep_copy(conda));

    const char *image, *os_type;
    if (check_get_string(c, v, "environment", "image", &image) != 0 ||
        check_get_string(c, v, "environment", "os_type", &os_type) != 0)
        return INF_EINVAL;
    if (image != NULL) {
        json_object_set_new(*env, "image", json_string(image));
        check_note(c,
                   "'environment.image' is ignored: inferd runs instances on this machine, not in "
                   "a container");
    }
    if (check_get(v, "build") != NULL) {
        json_object_set_new(*env, "build", json_deep_copy(check_get(v, "build")));
        check_note(c, "'environment.build' is ignored: inferd does not build container images");
    }
    if (os_type != NULL)
        json_object_set_new(*env, "os_type", json_string(os_type));

    const json_t *cfg;
    if (check_get_mapping(c, v, "environment", "inference_config", &cfg) != 0)
        return INF_EINVAL;
    if (cfg != NULL) {
        json_t *routes = json_object();
        json_object_set_new(*env, "inference_config", routes);
        if (check_keys(c, cfg, inference_keys, "environment.inference_config") != 0 ||
            route_spec(c, routes, cfg, "liveness_route") != 0 ||
            route_spec(c, routes, cfg, "readiness_route") != 0 ||
            route_spec(c, routes, cfg, "scoring_route") != 0)
            return INF_EINVAL;
    }
    return 0;
}
