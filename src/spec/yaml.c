/*
 * yaml: one YAML document into a JSON value, through libyaml's event API.
 *
 * Owns the typing of plain scalars (shared with --set through spec_int.h)
 * and the rendering of values in messages. Pure and reentrant: any thread,
 * no state kept between calls.
 *
 * Deliberately smaller than YAML: one document per file, no anchors, aliases
 * or merge keys (a spec that reuses a block is clearer written out), only the
 * standard tags, at most MAX_DEPTH levels of nesting.
 */
#include "spec/spec.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/util.h"
#include "spec/spec_int.h"

_Static_assert(sizeof(json_int_t) == sizeof(long long), "jansson integers are long long");

/* Specs are a few levels deep; this only stops hostile input. */
#define MAX_DEPTH 64

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_INT "tag:yaml.org,2002:int"
#define TAG_FLOAT "tag:yaml.org,2002:float"
#define TAG_BOOL "tag:yaml.org,2002:bool"
#define TAG_NULL "tag:yaml.org,2002:null"
#define TAG_SEQ "tag:yaml.org,2002:seq"
#define TAG_MAP "tag:yaml.org,2002:map"

struct reader {
    yaml_parser_t parser;
    const char *source;
    struct inf_err *err;
};

static int text_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

static int is_null_text(const char *s, size_t len)
{
    return len == 0 || text_is(s, len, "~") || text_is(s, len, "null") || text_is(s, len, "Null") ||
           text_is(s, len, "NULL");
}

/* 1 and the value in *out when s is a boolean word, else 0. */
static int bool_text(const char *s, size_t len, int *out)
{
    if (text_is(s, len, "true") || text_is(s, len, "True") || text_is(s, len, "TRUE")) {
        *out = 1;
        return 1;
    }
    if (text_is(s, len, "false") || text_is(s, len, "False") || text_is(s, len, "FALSE")) {
        *out = 0;
        return 1;
    }
    return 0;
}

/* 1 when s is a decimal integer that fits json_int_t. Leading zeros ("007")
 * do not count: YAML 1.1 reads them as octal and 1.2 as decimal, so the only
 * reading that surprises nobody is the text itself. */
static int int_text(const char *s, size_t len, json_int_t *out)
{
    size_t i = 0;
    int negative = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        negative = s[i++] == '-';
    if (i == len || (s[i] == '0' && len - i > 1))
        return 0;
    unsigned long long magnitude = 0;
    const unsigned long long limit = (unsigned long long)LLONG_MAX + (negative ? 1 : 0);
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned digit = (unsigned)(s[i] - '0');
        if (magnitude > (limit - digit) / 10)
            return 0;
        magnitude = magnitude * 10 + digit;
    }
    if (negative)
        *out = magnitude == limit ? LLONG_MIN : -(json_int_t)magnitude;
    else
        *out = (json_int_t)magnitude;
    return 1;
}

static size_t skip_digits(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* 1 when s is a finite float of the YAML 1.2 core schema,
 *   [-+]? ( . digits | digits ( . digits? )? ) ( [eE] [-+]? digits )?
 * that has a point or an exponent. Bare digits are integers or, when
 * int_text refused them (leading zeros, too large), text: never a silently
 * rounded float. */
static int float_text(const char *s, size_t len, double *out)
{
    size_t i = 0;
    int point = 0, exponent = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t start = i;
    i = skip_digits(s, len, i);
    size_t digits = i - start;
    if (i < len && s[i] == '.') {
        point = 1;
        size_t frac = ++i;
        i = skip_digits(s, len, i);
        digits += i - frac;
    }
    if (digits == 0)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp_start = i;
        i = skip_digits(s, len, i);
        exponent = i > exp_start;
        if (!exponent)
            return 0;
    }
    if (i != len || !(point || exponent))
        return 0;
    char *copy = inf_strndup(s, len);
    double d = strtod(copy, NULL);
    free(copy);
    if (!isfinite(d))
        return 0;
    *out = d;
    return 1;
}

json_t *spec_scalar_new(const char *s, size_t len)
{
    int b;
    json_int_t i;
    double d;
    if (is_null_text(s, len))
        return json_null();
    if (bool_text(s, len, &b))
        return json_boolean(b);
    if (int_text(s, len, &i))
        return json_integer(i);
    if (float_text(s, len, &d))
        return json_real(d);
    return json_stringn(s, len);
}

void spec_text_show(const char *s, size_t len, char *out, size_t out_len)
{
    enum { SHOWN = 48 };
    char shown[SHOWN + 1];
    size_t k = len < SHOWN ? len : SHOWN;
    while (k < len && k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--; /* never cut a UTF-8 sequence in half */
    /* Messages are one line: control characters would break them. */
    for (size_t j = 0; j < k; j++)
        shown[j] = (unsigned char)s[j] < 0x20 || s[j] == 0x7f ? '?' : s[j];
    shown[k] = '\0';
    snprintf(out, out_len, "'%s%s'", shown, k < len ? "..." : "");
}

void spec_real_text(double d, char *out, size_t out_len)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, sizeof(buf), "%.17g", d);
    snprintf(out, out_len, "%s%s", buf, strpbrk(buf, ".en") == NULL ? ".0" : "");
}

void spec_value_describe(const json_t *v, char *out, size_t out_len)
{
    if (out_len == 0)
        return;
    if (v == NULL) {
        snprintf(out, out_len, "nothing");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING:
        spec_text_show(json_string_value(v), json_string_length(v), out, out_len);
        break;
    case JSON_INTEGER:
        snprintf(out, out_len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        spec_real_text(json_real_value(v), out, out_len);
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
        snprintf(out, out_len, "a mapping");
        break;
    }
}

static size_t line_of(const yaml_event_t *ev)
{
    return ev->start_mark.line + 1;
}

static json_t *fail_at(struct reader *r, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets "source: line N: message" and returns NULL for the caller to pass up. */
static json_t *fail_at(struct reader *r, size_t line, const char *fmt, ...)
{
    char msg[INF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    inf_err_set(r->err, INF_EINVAL, "%s: line %zu: %s", r->source, line, msg);
    return NULL;
}

/* Reads the next event into *ev; on failure sets err from libyaml's report. */
static int next_event(struct reader *r, yaml_event_t *ev)
{
    if (yaml_parser_parse(&r->parser, ev))
        return 0;
    const yaml_parser_t *p = &r->parser;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR)
        return inf_err_set(r->err, INF_EINTERNAL, "%s: out of memory parsing YAML", r->source);
    if (p->error == YAML_READER_ERROR)
        return inf_err_set(r->err, INF_EINVAL, "%s: byte %zu: %s", r->source, p->problem_offset,
                           problem);
    if (p->context != NULL)
        return inf_err_set(r->err, INF_EINVAL, "%s: line %zu, column %zu: %s (%s at line %zu)",
                           r->source, p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
                           p->context, p->context_mark.line + 1);
    return inf_err_set(r->err, INF_EINVAL, "%s: line %zu, column %zu: %s", r->source,
                       p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

/* A scalar with an explicit !!int, !!float, !!bool or !!null tag: the text
 * must read as that type (!!float also takes an integer). */
static json_t *typed_scalar(struct reader *r, const yaml_event_t *ev, const char *tag)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    json_t *v = spec_scalar_new(s, len);
    int ok = v != NULL && ((strcmp(tag, TAG_INT) == 0 && json_is_integer(v)) ||
                           (strcmp(tag, TAG_FLOAT) == 0 && json_is_number(v)) ||
                           (strcmp(tag, TAG_BOOL) == 0 && json_is_boolean(v)) ||
                           (strcmp(tag, TAG_NULL) == 0 && json_is_null(v)));
    if (!ok) {
        char shown[64];
        spec_text_show(s, len, shown, sizeof(shown));
        json_decref(v);
        return fail_at(r, line_of(ev), "%s is not a valid !!%s", shown, strrchr(tag, ':') + 1);
    }
    if (strcmp(tag, TAG_FLOAT) == 0 && json_is_integer(v)) {
        double d = (double)json_integer_value(v);
        json_decref(v);
        v = json_real(d);
    }
    return v;
}

static json_t *scalar(struct reader *r, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    json_t *v;

    if (tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        v = spec_scalar_new(s, len);
    else if (tag == NULL || strcmp(tag, "!") == 0 || strcmp(tag, TAG_STR) == 0)
        v = json_stringn(s, len); /* quoted, block or !!str: always text */
    else if (strcmp(tag, TAG_INT) == 0 || strcmp(tag, TAG_FLOAT) == 0 ||
             strcmp(tag, TAG_BOOL) == 0 || strcmp(tag, TAG_NULL) == 0)
        return typed_scalar(r, ev, tag);
    else
        return fail_at(r, line_of(ev), "tag '%.80s' is not supported", tag);
    if (v == NULL)
        return fail_at(r, line_of(ev), "text is not valid UTF-8");
    return v;
}

static json_t *node(struct reader *r, yaml_event_t *ev, int depth);

static json_t *sequence(struct reader *r, int depth)
{
    json_t *arr = json_array();
    for (;;) {
        yaml_event_t ev;
        if (next_event(r, &ev) != 0)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        json_t *item = node(r, &ev, depth + 1);
        if (item == NULL)
            goto fail;
        json_array_append_new(arr, item);
    }
fail:
    json_decref(arr);
    return NULL;
}

/* Reads one mapping key into a fresh string (*key), consuming ev. */
static int mapping_key(struct reader *r, yaml_event_t *ev, char **key)
{
    size_t line = line_of(ev);
    int rc = INF_EINVAL;
    *key = NULL;
    if (ev->type == YAML_ALIAS_EVENT) {
        fail_at(r, line, "aliases (*%s) are not supported; write the value out",
                (const char *)ev->data.alias.anchor);
        goto out;
    }
    if (ev->type != YAML_SCALAR_EVENT) {
        fail_at(r, line, "a key must be plain text, not a list or mapping");
        goto out;
    }
    if (ev->data.scalar.anchor != NULL) {
        fail_at(r, line, "anchors (&%s) and aliases are not supported; write the values out",
                (const char *)ev->data.scalar.anchor);
        goto out;
    }
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(s, '\0', len) != NULL) {
        fail_at(r, line, "a key contains a NUL character");
        goto out;
    }
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && text_is(s, len, "<<")) {
        fail_at(r, line, "merge keys (<<) are not supported; write the values out");
        goto out;
    }
    *key = inf_strndup(s, len);
    rc = 0;
out:
    yaml_event_delete(ev);
    return rc;
}

static json_t *mapping(struct reader *r, int depth)
{
    json_t *obj = json_object();
    char *key = NULL;
    for (;;) {
        yaml_event_t ev;
        if (next_event(r, &ev) != 0)
            goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return obj;
        }
        size_t line = line_of(&ev);
        if (mapping_key(r, &ev, &key) != 0)
            goto fail;
        if (json_object_get(obj, key) != NULL) {
            char shown[64];
            spec_text_show(key, strlen(key), shown, sizeof(shown));
            fail_at(r, line, "duplicate key %s", shown);
            goto fail;
        }
        if (next_event(r, &ev) != 0)
            goto fail;
        json_t *value = node(r, &ev, depth + 1);
        if (value == NULL)
            goto fail;
        if (json_object_set_new(obj, key, value) != 0) {
            fail_at(r, line, "a key is not valid UTF-8");
            goto fail;
        }
        free(key);
        key = NULL;
    }
fail:
    free(key);
    json_decref(obj);
    return NULL;
}

static int collection_tag_ok(const yaml_char_t *tag, const char *standard)
{
    return tag == NULL || strcmp((const char *)tag, standard) == 0 ||
           strcmp((const char *)tag, "!") == 0;
}

/* Builds the value that starts with ev (consumed) and its children. */
static json_t *node(struct reader *r, yaml_event_t *ev, int depth)
{
    size_t line = line_of(ev);
    const yaml_char_t *anchor = NULL;
    const yaml_char_t *tag = NULL;
    json_t *v = NULL;

    if (ev->type == YAML_SCALAR_EVENT) {
        anchor = ev->data.scalar.anchor;
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    }

    if (ev->type == YAML_ALIAS_EVENT)
        fail_at(r, line, "aliases (*%s) are not supported; write the value out",
                (const char *)ev->data.alias.anchor);
    else if (anchor != NULL)
        fail_at(r, line, "anchors (&%s) and aliases are not supported; write the values out",
                (const char *)anchor);
    else if (depth >= MAX_DEPTH)
        fail_at(r, line, "nested deeper than %d levels", MAX_DEPTH);
    else if (ev->type == YAML_SCALAR_EVENT)
        v = scalar(r, ev);
    else if (ev->type == YAML_SEQUENCE_START_EVENT && !collection_tag_ok(tag, TAG_SEQ))
        fail_at(r, line, "tag '%.80s' is not supported", (const char *)tag);
    else if (ev->type == YAML_MAPPING_START_EVENT && !collection_tag_ok(tag, TAG_MAP))
        fail_at(r, line, "tag '%.80s' is not supported", (const char *)tag);
    else if (ev->type != YAML_SEQUENCE_START_EVENT && ev->type != YAML_MAPPING_START_EVENT)
        inf_err_set(r->err, INF_EINTERNAL, "%s: line %zu: unexpected YAML event %d", r->source,
                    line, (int)ev->type);
    else {
        yaml_event_type_t type = ev->type;
        yaml_event_delete(ev);
        return type == YAML_SEQUENCE_START_EVENT ? sequence(r, depth) : mapping(r, depth);
    }
    yaml_event_delete(ev);
    return v;
}

json_t *spec_yaml_parse(const char *buf, size_t len, const char *source, struct inf_err *err)
{
    struct reader r = {.source = source ? source : "spec", .err = err};
    yaml_event_t ev;
    json_t *root = NULL;

    if (!yaml_parser_initialize(&r.parser)) {
        inf_err_set(err, INF_EINTERNAL, "%s: cannot initialise the YAML parser", r.source);
        return NULL;
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)buf, len);

    if (next_event(&r, &ev) != 0) /* stream start */
        goto fail;
    yaml_event_delete(&ev);
    if (next_event(&r, &ev) != 0)
        goto fail;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        goto empty;
    }
    yaml_event_delete(&ev); /* document start */
    if (next_event(&r, &ev) != 0)
        goto fail;
    root = node(&r, &ev, 0);
    if (root == NULL)
        goto fail;
    if (next_event(&r, &ev) != 0) /* document end */
        goto fail;
    yaml_event_delete(&ev);
    if (next_event(&r, &ev) != 0)
        goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        fail_at(&r, line_of(&ev), "a second YAML document starts here; put one spec per file");
        yaml_event_delete(&ev);
        goto fail;
    }
    yaml_event_delete(&ev);
    if (json_is_null(root))
        goto empty;
    yaml_parser_delete(&r.parser);
    return root;

empty:
    inf_err_set(err, INF_EINVAL, "%s: the file is empty (no YAML content)", r.source);
fail:
    json_decref(root);
    yaml_parser_delete(&r.parser);
    return NULL;
}
