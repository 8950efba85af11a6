/*
 * traffic: the live and mirrored traffic split of an online endpoint
 * ({deployment: percent}), the --traffic string that sets it, and --set
 * assignments on a spec. Pure; any thread.
 */
#include "spec/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "spec/spec_int.h"

#define MIRROR_MAX_PERCENT 50

/* Checks that traffic maps valid deployment names to integers 0..100 and
 * adds the percentages into *sum. */
static int check_entries(const json_t *traffic, const char *field, long *sum, struct inf_err *err)
{
    char got[80];
    if (!json_is_object(traffic)) {
        spec_value_describe(traffic, got, sizeof(got));
        return inf_err_set(err, INF_EINVAL,
                           "%s: must be a mapping of deployment name to percent, got %s", field,
                           got);
    }
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)traffic, name, value)
    {
        struct inf_err name_err;
        if (spec_name_valid(name, "deployment name", &name_err) != 0)
            return inf_err_set(err, INF_EINVAL, "%s: %s", field, name_err.msg);
        json_int_t pct = json_integer_value(value);
        if (!json_is_integer(value) || pct < 0 || pct > 100) {
            spec_value_describe(value, got, sizeof(got));
            return inf_err_set(err, INF_EINVAL, "%s.%s: must be an integer from 0 to 100, got %s",
                               field, name, got);
        }
        *sum += (long)pct;
    }
    return 0;
}

int spec_traffic_validate(const json_t *traffic, struct inf_err *err)
{
    long sum = 0;
    int rc = check_entries(traffic, "traffic", &sum, err);
    if (rc != 0)
        return rc;
    if (sum == 0 || sum == 100)
        return 0;

    /* Show the split so the user sees which number to fix. */
    struct inf_buf split;
    inf_buf_init(&split, 200);
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)traffic, name, value)
    {
        if (inf_buf_printf(&split, "%s%s=%" JSON_INTEGER_FORMAT, split.len ? ", " : "", name,
                           json_integer_value(value)) != 0) {
            inf_buf_reset(&split);
            inf_buf_printf(&split, "%zu deployments", json_object_size(traffic));
            break;
        }
    }
    rc = inf_err_set(err, INF_EINVAL, "traffic: percentages must add up to 0 or 100, got %ld (%s)",
                     sum, split.data);
    inf_buf_fini(&split);
    return rc;
}

int spec_mirror_validate(const json_t *mirror, const json_t *traffic, struct inf_err *err)
{
    long sum = 0;
    int rc = check_entries(mirror, "mirror_traffic", &sum, err);
    if (rc != 0)
        return rc;
    if (json_object_size(mirror) > 1)
        return inf_err_set(err, INF_EINVAL,
                           "mirror_traffic: only one deployment can receive mirrored traffic, "
                           "got %zu",
                           json_object_size(mirror));
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)mirror, name, value)
    {
        json_int_t pct = json_integer_value(value);
        if (pct > MIRROR_MAX_PERCENT)
            return inf_err_set(
                err, INF_EINVAL,
                "mirror_traffic.%s: at most %d percent can be mirrored, got %" JSON_INTEGER_FORMAT,
                name, MIRROR_MAX_PERCENT, pct);
        json_int_t live = json_integer_value(json_object_get(traffic, name));
        if (pct > 0 && live > 0)
            return inf_err_set(err, INF_EINVAL,
                               "mirror_traffic.%s: '%s' already gets %" JSON_INTEGER_FORMAT
                               " percent of live traffic; a deployment gets live or mirrored "
                               "traffic, never both",
                               name, name, live);
    }
    return 0;
}

int spec_traffic_check(const json_t *traffic, const char *const *names, size_t n,
                       struct inf_err *err)
{
    int rc = spec_traffic_validate(traffic, err);
    if (rc != 0)
        return rc;
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)traffic, name, value)
    {
        size_t i = 0;
        while (i < n && strcmp(names[i], name) != 0)
            i++;
        if (i < n)
            continue;
        struct inf_buf known;
        inf_buf_init(&known, 200);
        for (i = 0; i < n; i++) {
            if (inf_buf_printf(&known, "%s%s", i ? ", " : "", names[i]) != 0) {
                inf_buf_reset(&known);
                inf_buf_printf(&known, "%zu of them", n);
                break;
            }
        }
        rc = inf_err_set(err, INF_EINVAL, "traffic: the endpoint has no deployment '%s' (%s%s)",
                         name, n ? "deployments: " : "it has no deployments", n ? known.data : "");
        inf_buf_fini(&known);
        return rc;
    }
    return 0;
}

static int is_separator(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

json_t *spec_traffic_parse(const char *s, struct inf_err *err)
{
    json_t *out = json_object();
    char *item = NULL;
    char shown[64];
    const char *p = s ? s : "";

    for (;;) {
        while (is_separator(*p))
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p != '\0' && !is_separator(*p))
            p++;
        item = inf_strndup(start, (size_t)(p - start));
        spec_text_show(item, strlen(item), shown, sizeof(shown));

        char *eq = strchr(item, '=');
        if (eq == NULL) {
            inf_err_set(err, INF_EINVAL, "traffic: %s must be NAME=PERCENT, e.g. blue=90", shown);
            goto fail;
        }
        *eq = '\0';
        struct inf_err name_err;
        if (spec_name_valid(item, "deployment name", &name_err) != 0) {
            inf_err_set(err, INF_EINVAL, "traffic: %s: %s", shown, name_err.msg);
            goto fail;
        }
        long pct;
        if (inf_parse_long(eq + 1, 0, 100, &pct) != 0) {
            inf_err_set(err, INF_EINVAL,
                        "traffic: %s: the percent must be an integer from 0 to 100", shown);
            goto fail;
        }
        if (json_object_get(out, item) != NULL) {
            inf_err_set(err, INF_EINVAL, "traffic: deployment '%s' is given twice", item);
            goto fail;
        }
        json_object_set_new(out, item, json_integer(pct));
        free(item);
        item = NULL;
    }
    if (json_object_size(out) == 0) {
        inf_err_set(err, INF_EINVAL,
                    "traffic: nothing given; expected NAME=PERCENT pairs, e.g. blue=90,green=10");
        goto fail;
    }
    return out;

fail:
    free(item);
    json_decref(out);
    return NULL;
}

/* The value of a --set assignment: quoted text stays text, the rest is typed
 * like a plain YAML scalar ("3000" is a number, "true" a boolean). */
static json_t *set_value(const char *v)
{
    size_t len = strlen(v);
    if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0])
        return json_stringn(v + 1, len - 2);
    return spec_scalar_new(v, len);
}

int spec_set_path(json_t *obj, const char *assignment, struct inf_err *err)
{
    char shown[64];
    const char *eq = assignment ? strchr(assignment, '=') : NULL;
    if (assignment == NULL || eq == NULL || eq == assignment) {
        spec_text_show(assignment ? assignment : "", assignment ? strlen(assignment) : 0, shown,
                       sizeof(shown));
        return inf_err_set(err, INF_EINVAL,
                           "--set %s: expected KEY=VALUE, e.g. "
                           "request_settings.request_timeout_ms=3000",
                           shown);
    }
    if (!json_is_object(obj))
        return inf_err_set(err, INF_EINTERNAL, "--set: the spec is not a mapping");

    char *path = inf_strndup(assignment, (size_t)(eq - assignment));
    json_t *value = set_value(eq + 1);
    json_t *cur = obj;
    char *seg = path;
    int rc = INF_EINVAL;
    spec_text_show(path, strlen(path), shown, sizeof(shown));
    if (value == NULL) {
        inf_err_set(err, INF_EINVAL, "--set %s: the value is not valid UTF-8", shown);
        goto out;
    }
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot != NULL)
            *dot = '\0';
        if (*seg == '\0') {
            inf_err_set(err, INF_EINVAL, "--set %s: a key in the path is empty", shown);
            goto out;
        }
        if (dot == NULL)
            break;
        json_t *child = json_object_get(cur, seg);
        if (child == NULL) {
            child = json_object();
            if (json_object_set_new(cur, seg, child) != 0) {
                inf_err_set(err, INF_EINVAL, "--set %s: a key is not valid UTF-8", shown);
                goto out;
            }
        } else if (!json_is_object(child)) {
            char got[80];
            spec_value_describe(child, got, sizeof(got));
            inf_err_set(err, INF_EINVAL, "--set %s: '%s' is %s, not a mapping", shown, seg, got);
            goto out;
        }
        cur = child;
        seg = dot + 1;
    }
    if (json_object_set_new(cur, seg, value) != 0) {
        value = NULL; /* jansson releases it on failure */
        inf_err_set(err, INF_EINVAL, "--set %s: a key is not valid UTF-8", shown);
        goto out;
    }
    value = NULL;
    rc = 0;
out:
    json_decref(value);
    free(path);
    return rc;
}
