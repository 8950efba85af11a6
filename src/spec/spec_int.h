/*
 * spec_int: declarations shared by the spec module's files and nobody else.
 */
#ifndef INF_SPEC_SPEC_INT_H
#define INF_SPEC_SPEC_INT_H

#include <stddef.h>

#include <jansson.h>

#include "core/err.h"
#include "spec/spec.h"

/* yaml.c: a new JSON value for the text of a plain (unquoted) YAML scalar:
 * null for "", "~", "null"; true/false; a decimal integer; a float; else a
 * string. NULL only when the text is not valid UTF-8. */
json_t *spec_scalar_new(const char *s, size_t len);

/* yaml.c: s[0..len) quoted for a message: cut to 48 bytes (plus "...") on
 * a UTF-8 boundary, control characters replaced by '?'. */
void spec_text_show(const char *s, size_t len, char *out, size_t out_len);

/* yaml.c: the shortest text that reads back as d, always with a point or
 * exponent so it reads as a float: 1.0, 0.1, 1e+20. */
void spec_real_text(double d, char *out, size_t out_len);

/* yaml.c: a short human rendering of a value for messages: 42, 'abc',
 * true, null, "a list", "a mapping". Long strings are cut with "...". */
void spec_value_describe(const json_t *v, char *out, size_t out_len);

/* traffic.c: checks that `traffic` is a mapping of valid deployment names to
 * integers 0..100 summing to 0 or 100. Messages start with "traffic". */
int spec_traffic_validate(const json_t *traffic, struct inf_err *err);

/* traffic.c: checks `mirror` (mirror_traffic): at most one valid deployment
 * name mapped to an integer 0..50, and that deployment gets no live share in
 * `traffic` (may be NULL). Messages start with "mirror_traffic". */
int spec_mirror_validate(const json_t *mirror, const json_t *traffic, struct inf_err *err);

/* ---- check.c: one validation pass over a spec -------------------------- */

/* Room for a dotted field name in a message ("a.b.c"); longer ones are cut. */
#define CHECK_FIELD_MAX 160

/* One validation pass: where messages point and where notes collect. Set up
 * by check_init, ended by exactly one of check_finish or check_abandon. */
struct check {
    const char *source;
    enum spec_mode mode;
    json_t *notes; /* moved to the caller's array on success */
    struct inf_err *err;
};

/* Starts a pass: `source` names the spec in messages ("spec" when NULL);
 * `err` (may be NULL) receives the first fault. */
void check_init(struct check *c, const char *source, enum spec_mode mode, struct inf_err *err);

/* Ends a successful pass: appends the collected notes to `notes` (when it is
 * an array) and returns `out` (ownership passes through to the caller). */
json_t *check_finish(struct check *c, json_t *out, json_t *notes);

/* Ends a failed pass: drops the notes and `out`; returns NULL. */
json_t *check_abandon(struct check *c, json_t *out);

/* Sets "source: field: message" (or "source: message" when field is NULL)
 * as INF_EINVAL in c->err and returns INF_EINVAL. */
int check_fail(struct check *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Collects the note "source: message" (handed over by check_finish). */
void check_note(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "parent.key", or "key" when parent is NULL, into buf (len > 0), cut to
 * fit, control characters replaced by '?' so messages stay one line.
 * Returns buf. */
const char *check_join(char *buf, size_t len, const char *parent, const char *key);

/* The value of key in obj (borrowed); NULL when absent or null (YAML's
 * "key:" with nothing after it means "not given" everywhere in a spec). */
json_t *check_get(const json_t *obj, const char *key);

/* Fails on the first key of obj not in `allowed` (NULL-terminated): "unknown
 * key 'k' in <where>", with a "did you mean" for a near miss, else the list
 * of accepted keys ("$schema" left out). Returns 0 or INF_EINVAL. */
int check_keys(struct check *c, const json_t *obj, const char *const *allowed, const char *where);

/* The text of obj[key] in *out (borrowed): NULL when absent; INF_EINVAL for
 * a non-string or a string holding a NUL. `parent` (may be NULL) is the
 * dotted path of obj, for messages. */
int check_get_string(struct check *c, const json_t *obj, const char *parent, const char *key,
                     const char **out);

/* Like check_get_string, but absent or "" fails with "required: <what>". */
int check_need_string(struct check *c, const json_t *obj, const char *parent, const char *key,
                      const char *what, const char **out);

/* The mapping obj[key] in *out (borrowed): NULL when absent; INF_EINVAL for
 * any other type. */
int check_get_mapping(struct check *c, const json_t *obj, const char *parent, const char *key,
                      const json_t **out);

/* Copies in[key] to out[key] as a string (numbers and booleans written as
 * in YAML); `def` when absent (nothing when def is NULL). INF_EINVAL for
 * lists and mappings. */
int check_put_text(struct check *c, json_t *out, const json_t *in, const char *parent,
                   const char *key, const char *def);

/* Copies the mapping in[key] to out[key] with every value coerced to a
 * string ({} when absent). With env_names, keys must be usable as
 * environment variable names (not empty, no '=') and values hold no NUL. */
int check_put_text_map(struct check *c, json_t *out, const json_t *in, const char *parent,
                       const char *key, int env_names);

/* Copies the integer in[key] in [min, max] to out[key], or def when absent;
 * INF_EINVAL "must be an integer from min to max" otherwise. */
int check_put_int(struct check *c, json_t *out, const json_t *in, const char *parent,
                  const char *key, long min, long max, long def);

/* Copies a string that must be one of `choices` (NULL-terminated, compared
 * ignoring case, stored as listed); def when absent (nothing if NULL).
 * *chosen (optional) gets the stored choice (static) or NULL. */
int check_put_choice(struct check *c, json_t *out, const json_t *in, const char *parent,
                     const char *key, const char *const *choices, const char *def,
                     const char **chosen);

/* Copies the required top-level name in[key], checked by spec_name_valid
 * (`what` is "endpoint name" or "deployment name"). */
int check_put_name(struct check *c, json_t *out, const json_t *in, const char *key,
                   const char *what);

/* Keeps an Azure-only value in[key] as given and notes "'key' is <why>"
 * ("Azure-only and ignored" when why is NULL). Nothing when absent. */
void check_keep_ignored(struct check *c, json_t *out, const json_t *in, const char *key,
                        const char *why);

/* in.model (a path string or a mapping with path, name, version, type,
 * description, tags) into a new *model, or NULL when absent. "azureml:"
 * references and URLs are refused; in SPEC_API mode the path must be an
 * artifact reference. On error *model may hold a partial object the caller
 * releases. */
int check_model(struct check *c, const json_t *in, json_t **model);

/* Which scoring scripts a kind of deployment can run. */
enum check_scripts {
    CHECK_SCRIPTS_PY,       /* Python only (batch) */
    CHECK_SCRIPTS_PY_OR_SO, /* Python or a native shared library (online) */
};

/* in.code_configuration {code, scoring_script} into a new *code (NULL when
 * absent) and *backend (static): "python" for a .py script, "native" for a
 * .so one when `scripts` allows it; any other script is INF_EINVAL naming
 * it. The code folder is checked like model.path; the script must be a
 * relative path that stays inside it. */
int check_code(struct check *c, const json_t *in, enum check_scripts scripts, json_t **code,
               const char **backend);

/* in.environment (a mapping, or a curated "azureml:NAME@latest" that is
 * kept with a note) into a new *env, or NULL when absent. inference_config
 * routes are checked; image and build are kept with notes. On error *env
 * may hold a partial object the caller releases. */
int check_environment(struct check *c, const json_t *in, json_t **env);

#endif
