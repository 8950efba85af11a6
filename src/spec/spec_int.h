/*
 * spec_int: declarations shared by the spec module's files and nobody else.
 */
#ifndef INF_SPEC_SPEC_INT_H
#define INF_SPEC_SPEC_INT_H

#include <stddef.h>

#include <jansson.h>

#include "core/err.h"

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

#endif
