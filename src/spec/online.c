/*
 * online: validation and normalisation of online endpoint and online
 * deployment specs (Azure ML CLI v2 YAML, already parsed into JSON).
 *
 * Each call walks the input once, builds a fresh normalised object with every
 * default filled in, and stops at the first fault with a message of the form
 * "<source>: <dotted.field>: <what is wrong>". Notes about Azure-only keys are
 * collected privately and handed to the caller only on success. Pure and
 * reentrant: any thread.
 *
 * The output is itself valid input (the CLI validates a file, swaps local
 * paths for artifact references, and the server validates the result again),
 * so every key the output can hold is also accepted on input.
 */
#include "spec/spec.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "spec/spec_int.h"

#define AZUREML_PREFIX "azureml:"
#define ARTIFACT_HEX_LEN 64
#define FIELD_MAX 160

/* One validation pass: where messages point and where notes collect. */
struct check {
    const char *source;
    enum spec_mode mode;
    json_t *notes; /* moved to the caller's array on success */
    struct inf_err *err;
};

static int fail(struct check *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets "source: field: message" (or "source: message" without a field). */
static int fail(struct check *c, const char *field, const char *fmt, ...)
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

static void note(struct check *c, const char *fmt, ...)
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
static const char *join(char *buf, size_t len, const char *parent, const char *key)
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
static json_t *get(const json_t *obj, const char *key)
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
static int check_keys(struct check *c, const json_t *obj, const char *const *allowed,
                      const char *where)
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
            return fail(c, NULL, "unknown key %s in %s (did you mean '%s'?)", shown, where, best);
        struct inf_buf list;
        inf_buf_init(&list, 300);
        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(allowed[i], "$schema") == 0)
                continue;
            if (inf_buf_printf(&list, "%s%s", list.len ? ", " : "", allowed[i]) != 0)
                break;
        }
        int rc =
            allowed[i] == NULL
                ? fail(c, NULL, "unknown key %s in %s (accepted: %s)", shown, where,
                       list.data ? list.data : "none")
                : fail(c, NULL, "unknown key %s in %s (see docs/yaml-reference.md)", shown, where);
        inf_buf_fini(&list);
        return rc;
    }
    return 0;
}

/* A text field: *out is NULL when absent; an error for non-strings. */
static int get_string(struct check *c, const json_t *obj, const char *parent, const char *key,
                      const char **out)
{
    char field[FIELD_MAX], got[80];
    json_t *v = get(obj, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        spec_value_describe(v, got, sizeof(got));
        return fail(c, join(field, sizeof(field), parent, key), "must be a string, got %s", got);
    }
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(c, join(field, sizeof(field), parent, key), "contains a NUL character");
    *out = json_string_value(v);
    return 0;
}

/* Like get_string, but the string must be there and not empty. */
static int need_string(struct check *c, const json_t *obj, const char *parent, const char *key,
                       const char *what, const char **out)
{
    char field[FIELD_MAX];
    int rc = get_string(c, obj, parent, key, out);
    if (rc != 0)
        return rc;
    if (*out == NULL || **out == '\0')
        return fail(c, join(field, sizeof(field), parent, key), "required: %s", what);
    return 0;
}

/* A mapping field: *out is NULL when absent; an error for other types. */
static int get_mapping(struct check *c, const json_t *obj, const char *parent, const char *key,
                       const json_t **out)
{
    char field[FIELD_MAX], got[80];
    json_t *v = get(obj, key);
    *out = v;
    if (v == NULL || json_is_object(v))
        return 0;
    spec_value_describe(v, got, sizeof(got));
    return fail(c, join(field, sizeof(field), parent, key), "must be a mapping, got %s", got);
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
static int put_text(struct check *c, json_t *out, const json_t *in, const char *parent,
                    const char *key, const char *def)
{
    char field[FIELD_MAX], got[80];
    json_t *v = get(in, key);
    if (v == NULL) {
        if (def != NULL)
            json_object_set_new(out, key, json_string(def));
        return 0;
    }
    json_t *text = scalar_text(v);
    if (text == NULL) {
        spec_value_describe(v, got, sizeof(got));
        return fail(c, join(field, sizeof(field), parent, key), "must be text, got %s", got);
    }
    json_object_set_new(out, key, text);
    return 0;
}

/* Copies a mapping of text values (tags, environment_variables) with every
 * value coerced to a string. Environment variable names must be usable as
 * such. Sets {} when absent. */
static int put_text_map(struct check *c, json_t *out, const json_t *in, const char *parent,
                        const char *key, int env_names)
{
    char where[FIELD_MAX], field[FIELD_MAX], got[80];
    const json_t *map;
    int rc = get_mapping(c, in, parent, key, &map);
    if (rc != 0)
        return rc;
    join(where, sizeof(where), parent, key);
    json_t *copy = json_object();
    json_object_set_new(out, key, copy);
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)map, name, value)
    {
        if (env_names && (name[0] == '\0' || strchr(name, '=') != NULL)) {
            char shown[64];
            spec_text_show(name, strlen(name), shown, sizeof(shown));
            return fail(c, where, "%s is not a valid variable name (empty or contains '=')", shown);
        }
        json_t *text = scalar_text(value);
        if (text == NULL) {
            spec_value_describe(value, got, sizeof(got));
            return fail(c, join(field, sizeof(field), where, name), "must be text, got %s", got);
        }
        if (env_names && strlen(json_string_value(text)) != json_string_length(text)) {
            json_decref(text);
            return fail(c, join(field, sizeof(field), where, name), "contains a NUL character");
        }
        json_object_set_new(copy, name, text);
    }
    return 0;
}

/* Copies an integer field in [min, max], or def when absent. */
static int put_int(struct check *c, json_t *out, const json_t *in, const char *parent,
                   const char *key, long min, long max, long def)
{
    char field[FIELD_MAX], got[80];
    json_t *v = get(in, key);
    json_int_t n = def;
    if (v != NULL) {
        n = json_integer_value(v);
        if (!json_is_integer(v) || n < min || n > max) {
            spec_value_describe(v, got, sizeof(got));
            return fail(c, join(field, sizeof(field), parent, key),
                        "must be an integer from %ld to %ld, got %s", min, max, got);
        }
    }
    json_object_set_new(out, key, json_integer(n));
    return 0;
}

/* Copies a string that must be one of `choices` (NULL-terminated, compared
 * ignoring case, stored as listed); def when absent (nothing if NULL).
 * *chosen (optional) gets the stored choice or NULL. */
static int put_choice(struct check *c, json_t *out, const json_t *in, const char *parent,
                      const char *key, const char *const *choices, const char *def,
                      const char **chosen)
{
    char field[FIELD_MAX], got[80];
    const char *s;
    int rc = get_string(c, in, parent, key, &s);
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
    rc = fail(c, join(field, sizeof(field), parent, key), "must be one of %s, got %s", list.data,
              got);
    inf_buf_fini(&list);
    return rc;
}

/* Copies a required endpoint/deployment name, checked by the naming rule. */
static int put_name(struct check *c, json_t *out, const json_t *in, const char *key,
                    const char *what)
{
    const char *name;
    int rc = need_string(c, in, NULL, key, what, &name);
    if (rc != 0)
        return rc;
    struct inf_err name_err;
    if (spec_name_valid(name, what, &name_err) != 0)
        return fail(c, NULL, "%s", name_err.msg);
    json_object_set_new(out, key, json_string(name));
    return 0;
}

/* Keeps an Azure-only value as given and notes that it has no effect here. */
static void keep_ignored(struct check *c, json_t *out, const json_t *in, const char *key,
                         const char *why)
{
    json_t *v = get(in, key);
    if (v == NULL)
        return;
    json_object_set_new(out, key, json_deep_copy(v));
    note(c, "'%s' is %s", key, why ? why : "Azure-only and ignored");
}

static json_t *finish(struct check *c, json_t *out, json_t *notes)
{
    if (json_is_array(notes))
        json_array_extend(notes, c->notes);
    json_decref(c->notes);
    return out;
}

static json_t *abandon(struct check *c, json_t *out)
{
    json_decref(c->notes);
    json_decref(out);
    return NULL;
}

/* ---- online endpoint ---------------------------------------------------- */

static const char *const endpoint_keys[] = {
    "$schema",   "name",    "description",    "tags",
    "auth_mode", "traffic", "mirror_traffic", "public_network_access",
    "identity",  "compute", "kind",           NULL,
};
static const char *const auth_modes[] = {"key", "aml_token", "aad_token", NULL};
static const char *const access_modes[] = {"enabled", "disabled", NULL};

static int endpoint_traffic(struct check *c, json_t *out, const json_t *in)
{
    const json_t *traffic = get(in, "traffic");
    const json_t *mirror = get(in, "mirror_traffic");
    json_t *empty = json_object();
    int rc = 0;
    if (traffic == NULL)
        traffic = empty;
    if (mirror == NULL)
        mirror = empty;
    if (spec_traffic_validate(traffic, c->err) != 0 ||
        spec_mirror_validate(mirror, traffic, c->err) != 0) {
        rc = inf_err_prefix(c->err, "%s", c->source);
        goto out;
    }
    json_object_set_new(out, "traffic", json_deep_copy(traffic));
    json_object_set_new(out, "mirror_traffic", json_deep_copy(mirror));
out:
    json_decref(empty);
    return rc;
}

json_t *spec_online_endpoint(const json_t *in, const char *source, json_t *notes,
                             struct inf_err *err)
{
    struct check c = {source ? source : "spec", SPEC_FILE, json_array(), err};
    json_t *out = json_object();
    char got[80];
    const char *auth;

    if (!json_is_object(in)) {
        spec_value_describe(in, got, sizeof(got));
        fail(&c, NULL, "an online endpoint must be a mapping of keys, got %s", got);
        return abandon(&c, out);
    }
    if (check_keys(&c, in, endpoint_keys, "online endpoint") != 0 ||
        put_name(&c, out, in, "name", "endpoint name") != 0 ||
        put_text(&c, out, in, NULL, "description", "") != 0 ||
        put_text_map(&c, out, in, NULL, "tags", 0) != 0 ||
        put_choice(&c, out, in, NULL, "auth_mode", auth_modes, "key", &auth) != 0)
        return abandon(&c, out);
    if (strcmp(auth, "aad_token") == 0) {
        fail(&c, "auth_mode", "aad_token is Azure-only; use key or aml_token");
        return abandon(&c, out);
    }
    if (endpoint_traffic(&c, out, in) != 0)
        return abandon(&c, out);

    const char *access;
    if (put_choice(&c, out, in, NULL, "public_network_access", access_modes, NULL, &access) != 0)
        return abandon(&c, out);
    if (access != NULL && strcmp(access, "disabled") == 0)
        note(&c, "'public_network_access: disabled' is not enforced: the endpoint is reachable "
                 "wherever inferd serve listens");
    keep_ignored(&c, out, in, "identity", NULL);
    keep_ignored(&c, out, in, "compute", NULL);
    keep_ignored(&c, out, in, "kind", NULL);
    return finish(&c, out, notes);
}

/* ---- online deployment -------------------------------------------------- */

static const char *const deployment_keys[] = {
    "$schema",
    "name",
    "endpoint_name",
    "description",
    "tags",
    "properties",
    "backend",
    "model",
    "code_configuration",
    "environment",
    "environment_variables",
    "instance_type",
    "instance_count",
    "scale_settings",
    "request_settings",
    "liveness_probe",
    "readiness_probe",
    "resources",
    "type",
    "app_insights_enabled",
    "egress_public_network_access",
    "data_collector",
    "model_mount_path",
    NULL,
};
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
static const char *const scale_keys[] = {
    "type", "min_instances", "max_instances", "polling_interval", "target_utilization_percentage",
    NULL,
};
static const char *const scale_types[] = {"default", "target_utilization", NULL};
static const char *const request_keys[] = {
    "request_timeout_ms",
    "max_concurrent_requests_per_instance",
    "max_queue_wait_ms",
    NULL,
};
static const char *const probe_keys[] = {
    "initial_delay", "period", "timeout", "success_threshold", "failure_threshold", NULL,
};
static const char *const resources_keys[] = {"requests", "limits", NULL};
static const char *const resource_keys[] = {"cpu", "memory", "gpu", NULL};
static const char *const deployment_types[] = {"managed", "kubernetes", NULL};
/* Backends the server may choose for a model without code, by its files. */
static const char *const model_backends[] = {"mlflow", "onnx", "xgboost", NULL};

/* Rejects references to registered Azure assets, which need a registry. */
static int reject_azureml(struct check *c, const char *field, const char *s)
{
    char shown[64];
    if (!has_prefix(s, AZUREML_PREFIX))
        return 0;
    spec_text_show(s, strlen(s), shown, sizeof(shown));
    if (strcmp(field, "code_configuration.code") == 0)
        return fail(c, field,
                    "%s refers to an Azure asset; inferd has no asset registry yet: set it to "
                    "the folder that holds the scoring script instead",
                    shown);
    return fail(c, field,
                "%s refers to a registered Azure model; inferd has no model registry yet: set "
                "model.path to the model's folder or file instead",
                shown);
}

/* Checks a model or code location for the mode: a local path (FILE) or an
 * uploaded artifact (API). */
static int check_location(struct check *c, const char *field, const char *s)
{
    char shown[64];
    spec_text_show(s, strlen(s), shown, sizeof(shown));
    int rc = reject_azureml(c, field, s);
    if (rc != 0)
        return rc;
    if (strstr(s, "://") != NULL)
        return fail(c, field, "%s is a URL; download it and give the local path instead", shown);
    if (c->mode == SPEC_API && !is_artifact_ref(s))
        return fail(c, field,
                    "must be an uploaded artifact '" SPEC_ARTIFACT_PREFIX
                    "<64 lowercase hex digits>' (POST the folder to /api/v1/artifacts), got %s",
                    shown);
    return 0;
}

static int model_spec(struct check *c, const json_t *in, json_t **model)
{
    json_t *v = get(in, "model");
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
        if (need_string(c, *model, "model", "path", "the model's folder or file", &path) != 0)
            return INF_EINVAL;
        return check_location(c, "model", path);
    }
    if (!json_is_object(v)) {
        spec_value_describe(v, got, sizeof(got));
        return fail(c, "model", "must be a path or a mapping with path, got %s", got);
    }
    *model = json_object();
    if (check_keys(c, v, model_keys, "model") != 0 ||
        need_string(c, v, "model", "path", "the model's folder or file", &path) != 0 ||
        check_location(c, "model.path", path) != 0)
        return INF_EINVAL;
    json_object_set_new(*model, "path", json_string(path));

    const char *type;
    if (get_string(c, v, "model", "type", &type) != 0)
        return INF_EINVAL;
    if (type != NULL && strcmp(type, "triton_model") == 0)
        return fail(c, "model.type",
                    "triton_model is not supported by inferd yet; use custom_model or "
                    "mlflow_model");
    if (put_text(c, *model, v, "model", "name", NULL) != 0 ||
        put_text(c, *model, v, "model", "version", NULL) != 0 ||
        put_choice(c, *model, v, "model", "type", model_types, NULL, NULL) != 0 ||
        put_text(c, *model, v, "model", "description", NULL) != 0)
        return INF_EINVAL;
    if (get(v, "tags") != NULL && put_text_map(c, *model, v, "model", "tags", 0) != 0)
        return INF_EINVAL;
    return 0;
}

/* A path inside the code folder: relative and never climbing out of it. */
static int check_inner_path(struct check *c, const char *field, const char *s)
{
    char shown[64];
    spec_text_show(s, strlen(s), shown, sizeof(shown));
    if (s[0] == '/' || strchr(s, '\\') != NULL)
        return fail(c, field, "%s must be a relative path inside the code folder", shown);
    for (const char *p = s; *p != '\0';) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return fail(c, field, "%s must not contain '..'", shown);
        p += n;
        if (*p == '/')
            p++;
    }
    return 0;
}

/* Validates code_configuration into *code and names its backend. */
static int code_spec(struct check *c, const json_t *in, json_t **code, const char **backend)
{
    const json_t *cc;
    const char *folder, *script;
    *code = NULL;
    *backend = NULL;
    if (get_mapping(c, in, NULL, "code_configuration", &cc) != 0)
        return INF_EINVAL;
    if (cc == NULL)
        return 0;
    if (check_keys(c, cc, code_keys, "code_configuration") != 0 ||
        need_string(c, cc, "code_configuration", "code", "the folder that holds the script",
                    &folder) != 0 ||
        check_location(c, "code_configuration.code", folder) != 0 ||
        need_string(c, cc, "code_configuration", "scoring_script",
                    "the script's path inside the code folder", &script) != 0 ||
        check_inner_path(c, "code_configuration.scoring_script", script) != 0)
        return INF_EINVAL;
    if (ends_with(script, ".py")) {
        *backend = "python";
    } else if (ends_with(script, ".so")) {
        *backend = "native";
    } else {
        char shown[64];
        spec_text_show(script, strlen(script), shown, sizeof(shown));
        return fail(c, "code_configuration.scoring_script",
                    "%s must be a Python script (.py) or a native shared library (.so)", shown);
    }
    *code = json_pack("{s:s, s:s}", "code", folder, "scoring_script", script);
    return 0;
}

static int route_spec(struct check *c, json_t *out, const json_t *cfg, const char *key)
{
    char field[FIELD_MAX], sub[FIELD_MAX], got[80];
    const json_t *route;
    const char *path;
    join(field, sizeof(field), "environment.inference_config", key);
    if (get_mapping(c, cfg, "environment.inference_config", key, &route) != 0)
        return INF_EINVAL;
    if (route == NULL)
        return fail(c, field, "required: {port, path} of the server's route");
    json_t *r = json_object();
    json_object_set_new(out, key, r);
    if (check_keys(c, route, route_keys, field) != 0)
        return INF_EINVAL;
    if (get(route, "port") == NULL)
        return fail(c, join(sub, sizeof(sub), field, "port"),
                    "required: the port the server listens on");
    if (put_int(c, r, route, field, "port", 1, 65535, 0) != 0 ||
        need_string(c, route, field, "path", "the HTTP path, e.g. /score", &path) != 0)
        return INF_EINVAL;
    if (path[0] != '/') {
        spec_text_show(path, strlen(path), got, sizeof(got));
        return fail(c, join(sub, sizeof(sub), field, "path"), "must start with '/', got %s", got);
    }
    json_object_set_new(r, "path", json_string(path));
    return 0;
}

static int environment_spec(struct check *c, const json_t *in, json_t **env)
{
    json_t *v = get(in, "environment");
    char got[80];
    *env = NULL;
    if (v == NULL)
        return 0;
    if (json_is_string(v) && has_prefix(json_string_value(v), AZUREML_PREFIX)) {
        *env = json_copy(v);
        spec_value_describe(v, got, sizeof(got));
        note(c,
             "environment %s is a curated Azure environment; inferd uses this machine's "
             "Python instead",
             got);
        return 0;
    }
    if (!json_is_object(v)) {
        spec_value_describe(v, got, sizeof(got));
        return fail(c, "environment",
                    "must be a mapping (image, conda_file, inference_config) or a curated "
                    "environment 'azureml:NAME@latest', got %s",
                    got);
    }
    *env = json_object();
    if (check_keys(c, v, environment_keys, "environment") != 0 ||
        put_text(c, *env, v, "environment", "name", NULL) != 0 ||
        put_text(c, *env, v, "environment", "version", NULL) != 0 ||
        put_text(c, *env, v, "environment", "description", NULL) != 0 ||
        (get(v, "tags") != NULL && put_text_map(c, *env, v, "environment", "tags", 0) != 0))
        return INF_EINVAL;

    /* conda_file: a path beside the YAML file (FILE) or the file's content
     * (API); Azure also takes the conda environment inline as a mapping. */
    json_t *conda = get(v, "conda_file");
    if (conda != NULL && !json_is_object(conda)) {
        const char *s;
        if (get_string(c, v, "environment", "conda_file", &s) != 0)
            return INF_EINVAL;
        if (s[0] == '\0')
            return fail(c, "environment.conda_file", "must not be empty");
    }
    if (conda != NULL)
        json_object_set_new(*env, "conda_file", json_deep_copy(conda));

    const char *image, *os_type;
    if (get_string(c, v, "environment", "image", &image) != 0 ||
        get_string(c, v, "environment", "os_type", &os_type) != 0)
        return INF_EINVAL;
    if (image != NULL) {
        json_object_set_new(*env, "image", json_string(image));
        note(c, "'environment.image' is ignored: inferd runs instances on this machine, not in "
                "a container");
    }
    if (get(v, "build") != NULL) {
        json_object_set_new(*env, "build", json_deep_copy(get(v, "build")));
        note(c, "'environment.build' is ignored: inferd does not build container images");
    }
    if (os_type != NULL)
        json_object_set_new(*env, "os_type", json_string(os_type));

    const json_t *cfg;
    if (get_mapping(c, v, "environment", "inference_config", &cfg) != 0)
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

static int scale_spec(struct check *c, json_t *out, const json_t *in)
{
    const json_t *ss;
    const char *type;
    if (get_mapping(c, in, NULL, "scale_settings", &ss) != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, "scale_settings", o);
    if (check_keys(c, ss, scale_keys, "scale_settings") != 0 ||
        put_choice(c, o, ss, "scale_settings", "type", scale_types, "default", &type) != 0)
        return INF_EINVAL;
    if (strcmp(type, "default") == 0) {
        for (size_t i = 1; /* every key but "type" */ scale_keys[i] != NULL; i++) {
            if (get(ss, scale_keys[i]) != NULL)
                return fail(c, "scale_settings", "'%s' is only used with type: target_utilization",
                            scale_keys[i]);
        }
        return 0;
    }
    if (put_int(c, o, ss, "scale_settings", "min_instances", 1, 100, 1) != 0 ||
        put_int(c, o, ss, "scale_settings", "max_instances", 1, 100, 1) != 0 ||
        put_int(c, o, ss, "scale_settings", "polling_interval", 1, 3600, 1) != 0 ||
        put_int(c, o, ss, "scale_settings", "target_utilization_percentage", 1, 100, 70) != 0)
        return INF_EINVAL;
    json_int_t min = json_integer_value(json_object_get(o, "min_instances"));
    json_int_t max = json_integer_value(json_object_get(o, "max_instances"));
    if (max < min)
        return fail(c, "scale_settings.max_instances",
                    "must be at least min_instances (%" JSON_INTEGER_FORMAT
                    "), got %" JSON_INTEGER_FORMAT "%s",
                    min, max, get(ss, "max_instances") ? "" : " (the default)");
    return 0;
}

static int request_spec(struct check *c, json_t *out, const json_t *in)
{
    const json_t *rs;
    const char *p = "request_settings";
    if (get_mapping(c, in, NULL, p, &rs) != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, p, o);
    if (check_keys(c, rs, request_keys, p) != 0 ||
        put_int(c, o, rs, p, "request_timeout_ms", 1, 180000, 5000) != 0 ||
        put_int(c, o, rs, p, "max_concurrent_requests_per_instance", 1, 1000, 1) != 0 ||
        put_int(c, o, rs, p, "max_queue_wait_ms", 0, 180000, 500) != 0)
        return INF_EINVAL;
    return 0;
}

static int probe_spec(struct check *c, json_t *out, const json_t *in, const char *key)
{
    const json_t *pr;
    if (get_mapping(c, in, NULL, key, &pr) != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, key, o);
    if (check_keys(c, pr, probe_keys, key) != 0 ||
        put_int(c, o, pr, key, "initial_delay", 0, 3600, 10) != 0 ||
        put_int(c, o, pr, key, "period", 1, 3600, 10) != 0 ||
        put_int(c, o, pr, key, "timeout", 1, 3600, 2) != 0 ||
        put_int(c, o, pr, key, "success_threshold", 1, 1000, 1) != 0 ||
        put_int(c, o, pr, key, "failure_threshold", 1, 1000, 30) != 0)
        return INF_EINVAL;
    return 0;
}

/* resources.requests / resources.limits: cpu, memory (and gpu) as written,
 * "500m", "2Gi", 2 or 0.5. */
static int resources_spec(struct check *c, json_t *out, const json_t *in)
{
    char field[FIELD_MAX], part[FIELD_MAX], got[80];
    const json_t *res;
    if (get_mapping(c, in, NULL, "resources", &res) != 0)
        return INF_EINVAL;
    if (res == NULL)
        return 0;
    if (check_keys(c, res, resources_keys, "resources") != 0)
        return INF_EINVAL;
    json_t *o = json_object();
    json_object_set_new(out, "resources", o);
    for (size_t i = 0; resources_keys[i] != NULL; i++) {
        const json_t *set;
        join(part, sizeof(part), "resources", resources_keys[i]);
        if (get_mapping(c, res, "resources", resources_keys[i], &set) != 0 ||
            (set != NULL && check_keys(c, set, resource_keys, part) != 0))
            return INF_EINVAL;
        if (set == NULL)
            continue;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)set, key, v)
        {
            int ok = (json_is_string(v) && json_string_length(v) > 0) ||
                     (json_is_number(v) && json_number_value(v) >= 0);
            if (!ok) {
                spec_value_describe(v, got, sizeof(got));
                return fail(c, join(field, sizeof(field), part, key),
                            "must be a quantity such as 2, 0.5, \"500m\" or \"4Gi\", got %s", got);
            }
            if (strcmp(key, "gpu") == 0)
                note(c, "'%s' is ignored: inferd does not assign GPUs",
                     join(field, sizeof(field), part, key));
        }
        json_object_set_new(o, resources_keys[i], json_deep_copy(set));
    }
    return 0;
}

/* The backend that runs the deployment, from what it has (see spec.h). */
static int pick_backend(struct check *c, const char *code_backend, const json_t *model,
                        const json_t *env, const json_t *in, const char **backend)
{
    const char *given;
    if (get_string(c, in, NULL, "backend", &given) != 0)
        return INF_EINVAL;
    if (code_backend != NULL)
        *backend = code_backend;
    else if (json_object_get(env, "inference_config") != NULL)
        *backend = "custom";
    else if (model != NULL)
        *backend = "model";
    else
        return fail(c, NULL,
                    "a deployment needs something to run: model (path to the model), "
                    "code_configuration (code and scoring_script), or environment.inference_config "
                    "(a custom server)");
    if (given == NULL || strcmp(given, *backend) == 0)
        return 0;
    /* Re-validating a stored spec: with only a model, the server may have
     * settled the backend from the model's files. */
    for (size_t i = 0; strcmp(*backend, "model") == 0 && model_backends[i] != NULL; i++) {
        if (strcmp(given, model_backends[i]) == 0) {
            *backend = model_backends[i];
            return 0;
        }
    }
    char shown[64];
    spec_text_show(given, strlen(given), shown, sizeof(shown));
    return fail(c, "backend", "%s does not match the deployment, which runs as '%s'", shown,
                *backend);
}

json_t *spec_online_deployment(const json_t *in, const char *source, enum spec_mode mode,
                               json_t *notes, struct inf_err *err)
{
    struct check c = {source ? source : "spec", mode, json_array(), err};
    json_t *out = json_object();
    json_t *model = NULL, *code = NULL, *env = NULL;
    const char *code_backend = NULL, *backend = NULL, *s = NULL;
    char got[80];

    if (!json_is_object(in)) {
        spec_value_describe(in, got, sizeof(got));
        fail(&c, NULL, "an online deployment must be a mapping of keys, got %s", got);
        goto fail;
    }
    if (check_keys(&c, in, deployment_keys, "online deployment") != 0 ||
        put_name(&c, out, in, "name", "deployment name") != 0 ||
        put_name(&c, out, in, "endpoint_name", "endpoint name") != 0 ||
        put_text(&c, out, in, NULL, "description", "") != 0 ||
        put_text_map(&c, out, in, NULL, "tags", 0) != 0 ||
        (get(in, "properties") != NULL && put_text_map(&c, out, in, NULL, "properties", 0) != 0) ||
        model_spec(&c, in, &model) != 0 || code_spec(&c, in, &code, &code_backend) != 0 ||
        environment_spec(&c, in, &env) != 0 ||
        pick_backend(&c, code_backend, model, env, in, &backend) != 0)
        goto fail;

    json_object_set_new(out, "backend", json_string(backend));
    if (model != NULL)
        json_object_set_new(out, "model", model);
    if (code != NULL)
        json_object_set_new(out, "code_configuration", code);
    if (env != NULL)
        json_object_set_new(out, "environment", env);
    model = code = env = NULL;

    if (put_text_map(&c, out, in, NULL, "environment_variables", 1) != 0 ||
        get_string(&c, in, NULL, "instance_type", &s) != 0)
        goto fail;
    if (s != NULL) {
        json_object_set_new(out, "instance_type", json_string(s));
        note(&c, "'instance_type' is ignored: instances run on this machine");
    }
    if (put_int(&c, out, in, NULL, "instance_count", 1, 100, 1) != 0 ||
        scale_spec(&c, out, in) != 0 || request_spec(&c, out, in) != 0 ||
        probe_spec(&c, out, in, "liveness_probe") != 0 ||
        probe_spec(&c, out, in, "readiness_probe") != 0 || resources_spec(&c, out, in) != 0 ||
        put_choice(&c, out, in, NULL, "type", deployment_types, NULL, &s) != 0)
        goto fail;
    if (s != NULL && strcmp(s, "kubernetes") == 0)
        note(&c, "'type: kubernetes' is ignored: instances run on this machine");

    json_t *insights = get(in, "app_insights_enabled");
    if (insights != NULL && !json_is_boolean(insights)) {
        spec_value_describe(insights, got, sizeof(got));
        fail(&c, "app_insights_enabled", "must be true or false, got %s", got);
        goto fail;
    }
    if (insights != NULL) {
        json_object_set_new(out, "app_insights_enabled", json_copy(insights));
        if (json_is_true(insights))
            note(&c, "'app_insights_enabled' is Azure-only and ignored; see inferd's /metrics "
                     "and instance logs");
    }
    if (put_choice(&c, out, in, NULL, "egress_public_network_access", access_modes, NULL, &s) != 0)
        goto fail;
    if (s != NULL && strcmp(s, "disabled") == 0)
        note(&c, "'egress_public_network_access: disabled' is not enforced: instances can "
                 "reach the network");
    keep_ignored(&c, out, in, "data_collector", NULL);
    keep_ignored(&c, out, in, "model_mount_path",
                 "ignored: inferd sets AZUREML_MODEL_DIR to the model's location itself");
    return finish(&c, out, notes);

fail:
    json_decref(model);
    json_decref(code);
    json_decref(env);
    return abandon(&c, out);
}
