/*
 * Unit tests for the spec module: YAML parsing, names, traffic, --set, and
 * online endpoint / deployment validation, with Azure's own sample files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        const char *h_ = (haystack);                                                               \
        if (h_ == NULL || strstr(h_, (needle)) == NULL)                                            \
            fail_msg("expected \"%s\" in \"%s\"", (needle), h_ ? h_ : "(null)");                   \
    } while (0)

/* Azure's managed online endpoint sample (endpoints/online/managed/sample). */
static const char azure_endpoint_yml[] =
    "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
    "name: my-endpoint\n"
    "auth_mode: key\n";

/* Azure's blue deployment sample from the same folder. */
static const char azure_blue_yml[] =
    "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
    "name: blue\n"
    "endpoint_name: my-endpoint\n"
    "model:\n"
    "  path: ../../model-1/model/\n"
    "code_configuration:\n"
    "  code: ../../model-1/onlinescoring/\n"
    "  scoring_script: score.py\n"
    "environment: \n"
    "  conda_file: ../../model-1/environment/conda.yaml\n"
    "  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\n"
    "instance_type: Standard_DS3_v2\n"
    "instance_count: 1\n";

#define HEX64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* ---- helpers ------------------------------------------------------------- */

static json_t *yaml(const char *text)
{
    struct inf_err err = {0};
    json_t *v = spec_yaml_parse(text, strlen(text), "t.yml", &err);
    if (v == NULL)
        fail_msg("parse failed: %s", err.msg);
    return v;
}

/* Parses text expecting failure; returns the message in err. */
static void yaml_fails(const char *text, struct inf_err *err)
{
    json_t *v = spec_yaml_parse(text, strlen(text), "t.yml", err);
    if (v != NULL) {
        json_decref(v);
        fail_msg("parse of \"%s\" should have failed", text);
    }
    assert_int_equal(err->code, INF_EINVAL);
    assert_non_null(strstr(err->msg, "t.yml: "));
    assert_null(strchr(err->msg, '\n'));
}

static json_t *endpoint_ok(const char *text, json_t *notes)
{
    struct inf_err err = {0};
    json_t *in = yaml(text);
    json_t *out = spec_online_endpoint(in, "ep.yml", notes, &err);
    json_decref(in);
    if (out == NULL)
        fail_msg("endpoint rejected: %s", err.msg);
    return out;
}

static void endpoint_fails(const char *text, const char *expect)
{
    struct inf_err err = {0};
    json_t *notes = json_array();
    json_t *in = yaml(text);
    json_t *out = spec_online_endpoint(in, "ep.yml", notes, &err);
    json_decref(in);
    if (out != NULL) {
        json_decref(out);
        fail_msg("endpoint accepted, expected \"%s\"", expect);
    }
    assert_int_equal(err.code, INF_EINVAL);
    assert_contains(err.msg, expect);
    assert_int_equal(strncmp(err.msg, "ep.yml: ", 8), 0);
    assert_int_equal(json_array_size(notes), 0); /* no notes from a failed pass */
    json_decref(notes);
}

static json_t *deploy_ok(const char *text, enum spec_mode mode, json_t *notes)
{
    struct inf_err err = {0};
    json_t *in = yaml(text);
    json_t *out = spec_online_deployment(in, "blue.yml", mode, notes, &err);
    json_decref(in);
    if (out == NULL)
        fail_msg("deployment rejected: %s", err.msg);
    return out;
}

static void deploy_fails_mode(const char *text, enum spec_mode mode, const char *expect)
{
    struct inf_err err = {0};
    json_t *in = yaml(text);
    json_t *out = spec_online_deployment(in, "blue.yml", mode, NULL, &err);
    json_decref(in);
    if (out != NULL) {
        json_decref(out);
        fail_msg("deployment accepted, expected \"%s\"", expect);
    }
    assert_int_equal(err.code, INF_EINVAL);
    assert_contains(err.msg, expect);
    assert_int_equal(strncmp(err.msg, "blue.yml: ", 10), 0);
    assert_null(strchr(err.msg, '\n'));
}

static void deploy_fails(const char *text, const char *expect)
{
    deploy_fails_mode(text, SPEC_FILE, expect);
}

/* A minimal deployment (python script) followed by extra lines. */
static char *with_base(const char *extra)
{
    static const char base[] = "name: blue\n"
                               "endpoint_name: my-endpoint\n"
                               "code_configuration:\n"
                               "  code: ./code\n"
                               "  scoring_script: score.py\n";
    size_t n = strlen(base) + strlen(extra) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s", base, extra);
    return s;
}

static void base_fails(const char *extra, const char *expect)
{
    char *text = with_base(extra);
    deploy_fails(text, expect);
    free(text);
}

static json_t *base_ok(const char *extra, json_t *notes)
{
    char *text = with_base(extra);
    json_t *out = deploy_ok(text, SPEC_FILE, notes);
    free(text);
    return out;
}

static json_int_t int_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    if (b != NULL)
        v = json_object_get(v, b);
    if (!json_is_integer(v))
        fail_msg("%s.%s is not an integer", a, b ? b : "");
    return json_integer_value(v);
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    if (b != NULL)
        v = json_object_get(v, b);
    if (!json_is_string(v))
        fail_msg("%s.%s is not a string", a, b ? b : "");
    return json_string_value(v);
}

/* 1 if some note contains needle. */
static int has_note(const json_t *notes, const char *needle)
{
    size_t i;
    json_t *n;
    json_array_foreach(notes, i, n)
    {
        if (strstr(json_string_value(n), needle) != NULL)
            return 1;
    }
    return 0;
}

/* ---- YAML ---------------------------------------------------------------- */

static void test_yaml_scalar_types(void **state)
{
    (void)state;
    json_t *v = yaml("n1: null\nn2: ~\nn3:\nn4: NULL\n"
                     "b1: true\nb2: False\nb3: TRUE\nyes_word: yes\n"
                     "i1: 42\ni2: -7\ni3: +3\ni4: 0\nzero_led: 007\n"
                     "max: 9223372036854775807\nmin: -9223372036854775808\n"
                     "huge: 99999999999999999999\n"
                     "f1: 1.5\nf2: .5\nf3: 1e3\nf4: -2.5E-2\nf5: 3.\ninf: .inf\n"
                     "q1: \"42\"\nq2: 'true'\nq3: '~'\nq4: \"\"\n"
                     "s1: hello world\ns2: 1.2.3\ns3: 12abc\n"
                     "block: |\n  line one\n  line two\n");
    assert_true(json_is_null(json_object_get(v, "n1")));
    assert_true(json_is_null(json_object_get(v, "n2")));
    assert_true(json_is_null(json_object_get(v, "n3")));
    assert_true(json_is_null(json_object_get(v, "n4")));
    assert_true(json_is_true(json_object_get(v, "b1")));
    assert_true(json_is_false(json_object_get(v, "b2")));
    assert_true(json_is_true(json_object_get(v, "b3")));
    assert_string_equal(str_at(v, "yes_word", NULL), "yes");
    assert_int_equal(int_at(v, "i1", NULL), 42);
    assert_int_equal(int_at(v, "i2", NULL), -7);
    assert_int_equal(int_at(v, "i3", NULL), 3);
    assert_int_equal(int_at(v, "i4", NULL), 0);
    assert_string_equal(str_at(v, "zero_led", NULL), "007");
    assert_true(int_at(v, "max", NULL) == 9223372036854775807LL);
    assert_true(int_at(v, "min", NULL) == -9223372036854775807LL - 1);
    assert_string_equal(str_at(v, "huge", NULL), "99999999999999999999");
    assert_true(json_real_value(json_object_get(v, "f1")) == 1.5);
    assert_true(json_real_value(json_object_get(v, "f2")) == 0.5);
    assert_true(json_real_value(json_object_get(v, "f3")) == 1000.0);
    assert_true(json_real_value(json_object_get(v, "f4")) == -0.025);
    assert_true(json_real_value(json_object_get(v, "f5")) == 3.0);
    assert_string_equal(str_at(v, "inf", NULL), ".inf");
    assert_string_equal(str_at(v, "q1", NULL), "42");
    assert_string_equal(str_at(v, "q2", NULL), "true");
    assert_string_equal(str_at(v, "q3", NULL), "~");
    assert_string_equal(str_at(v, "q4", NULL), "");
    assert_string_equal(str_at(v, "s1", NULL), "hello world");
    assert_string_equal(str_at(v, "s2", NULL), "1.2.3");
    assert_string_equal(str_at(v, "s3", NULL), "12abc");
    assert_string_equal(str_at(v, "block", NULL), "line one\nline two\n");
    json_decref(v);
}

static void test_yaml_structure(void **state)
{
    (void)state;
    json_t *v = yaml("---\n# comment\n"
                     "outer:\n"
                     "  list: [1, two, {k: v}]\n"
                     "  block:\n"
                     "    - a\n"
                     "    - b: 2\n"
                     "  empty_map: {}\n"
                     "  empty_list: []\n"
                     "1: numeric key\n");
    json_t *outer = json_object_get(v, "outer");
    json_t *list = json_object_get(outer, "list");
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(json_integer_value(json_array_get(list, 0)), 1);
    assert_string_equal(json_string_value(json_array_get(list, 1)), "two");
    assert_string_equal(str_at(json_array_get(list, 2), "k", NULL), "v");
    json_t *block = json_object_get(outer, "block");
    assert_int_equal(json_array_size(block), 2);
    assert_int_equal(int_at(json_array_get(block, 1), "b", NULL), 2);
    assert_true(json_is_object(json_object_get(outer, "empty_map")));
    assert_int_equal(json_array_size(json_object_get(outer, "empty_list")), 0);
    assert_string_equal(str_at(v, "1", NULL), "numeric key");
    json_decref(v);

    /* A root that is not a mapping is returned as is; validators reject it. */
    v = yaml("- a\n- b\n");
    assert_true(json_is_array(v));
    json_decref(v);
}

static void test_yaml_tags(void **state)
{
    (void)state;
    json_t *v = yaml("a: !!str 42\nb: !!int \"7\"\nc: !!float 2\nd: !!bool true\ne: !!null ~\n"
                     "f: ! 12\ng: !!map {x: 1}\n");
    assert_string_equal(str_at(v, "a", NULL), "42");
    assert_int_equal(int_at(v, "b", NULL), 7);
    assert_true(json_is_real(json_object_get(v, "c")));
    assert_true(json_real_value(json_object_get(v, "c")) == 2.0);
    assert_true(json_is_true(json_object_get(v, "d")));
    assert_true(json_is_null(json_object_get(v, "e")));
    assert_string_equal(str_at(v, "f", NULL), "12");
    assert_int_equal(int_at(v, "g", "x"), 1);
    json_decref(v);

    struct inf_err err = {0};
    yaml_fails("a: 1\nb: !!int abc\n", &err);
    assert_contains(err.msg, "line 2");
    assert_contains(err.msg, "'abc' is not a valid !!int");
    yaml_fails("a: !!python/object:os.system ls\n", &err);
    assert_contains(err.msg, "tag 'tag:yaml.org,2002:python/object:os.system' is not supported");
    yaml_fails("a: !custom {x: 1}\n", &err);
    assert_contains(err.msg, "is not supported");
}

static void test_yaml_empty(void **state)
{
    (void)state;
    const char *empties[] = {"", "   \n\n", "# only a comment\n", "---\n", "~\n", "--- null\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        struct inf_err err = {0};
        yaml_fails(empties[i], &err);
        assert_string_equal(err.msg, "t.yml: the file is empty (no YAML content)");
    }
    /* len 0 with a NULL-ish buffer is fine too. */
    struct inf_err err = {0};
    assert_null(spec_yaml_parse("x", 0, NULL, &err));
    assert_contains(err.msg, "spec: the file is empty");
}

static void test_yaml_malformed(void **state)
{
    (void)state;
    struct inf_err err = {0};
    yaml_fails("name: a\nlist: [1, 2\nother: 3\n", &err);
    assert_contains(err.msg, "t.yml: line ");
    assert_contains(err.msg, "flow sequence");

    yaml_fails("name: a\n  bad: indent\n", &err);
    assert_contains(err.msg, "t.yml: line 2");

    yaml_fails("name: a\n\tdescription: tabs\n", &err);
    assert_contains(err.msg, "line 2");

    yaml_fails("a: \"unterminated\n", &err);
    assert_contains(err.msg, "line ");

    /* Invalid UTF-8 is caught by the reader, which counts bytes. */
    yaml_fails("a: \xff\xfe oops\n", &err);
    assert_contains(err.msg, "t.yml: byte ");

    /* Error messages stay bounded for absurd input. */
    char *big = malloc(100001);
    assert_non_null(big);
    memset(big, '[', 100000);
    big[100000] = '\0';
    yaml_fails(big, &err);
    assert_true(strlen(err.msg) < INF_ERR_MSG_MAX);
    free(big);
}

static void test_yaml_anchors_aliases_merge(void **state)
{
    (void)state;
    struct inf_err err = {0};
    yaml_fails("a: &base 1\nb: 2\n", &err);
    assert_contains(err.msg, "t.yml: line 1: anchors (&base) and aliases are not supported");

    yaml_fails("a: 1\nb: *nowhere\n", &err);
    assert_contains(err.msg, "line 2");

    yaml_fails("base: &b {x: 1}\nderived:\n  <<: *b\n", &err);
    assert_contains(err.msg, "anchors");

    yaml_fails("derived:\n  <<: {x: 1}\n", &err);
    assert_contains(err.msg, "line 2: merge keys (<<) are not supported");

    /* Billion laughs would need anchors: rejected at the first one. */
    yaml_fails("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", &err);
    assert_contains(err.msg, "line 1");
}

static void test_yaml_duplicates_and_keys(void **state)
{
    (void)state;
    struct inf_err err = {0};
    yaml_fails("name: a\ndescription: x\nname: b\n", &err);
    assert_string_equal(err.msg, "t.yml: line 3: duplicate key 'name'");

    yaml_fails("outer:\n  k: 1\n  k: 2\n", &err);
    assert_string_equal(err.msg, "t.yml: line 3: duplicate key 'k'");

    yaml_fails("? [a, b]\n: value\n", &err);
    assert_contains(err.msg, "line 1: a key must be plain text");

    yaml_fails("\"a\\0b\": 1\n", &err);
    assert_contains(err.msg, "NUL");
}

static void test_yaml_documents_and_depth(void **state)
{
    (void)state;
    struct inf_err err = {0};
    yaml_fails("a: 1\n---\nb: 2\n", &err);
    assert_contains(err.msg, "t.yml: line 2: a second YAML document starts here");

    char deep[300];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    yaml_fails(deep, &err);
    assert_contains(err.msg, "nested deeper than 64 levels");

    memset(deep, '[', 60);
    memset(deep + 60, ']', 60);
    deep[120] = '\0';
    json_t *v = yaml(deep);
    assert_true(json_is_array(v));
    json_decref(v);
}

/* ---- names --------------------------------------------------------------- */

static void test_name_valid(void **state)
{
    (void)state;
    const char *good[] = {"abc", "my-endpoint", "A1-b2-C3", "blue",
                          "abcdefghijklmnopqrstuvwxyz012345"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(spec_name_valid(good[i], "endpoint name", NULL), 0);

    struct {
        const char *name, *msg;
    } bad[] = {
        {"ab", "endpoint name 'ab' is too short: at least 3 characters"},
        {"1abc", "endpoint name '1abc' must start with a letter"},
        {"-abc", "endpoint name '-abc' must start with a letter"},
        {"a--b", "endpoint name 'a--b' has two dashes in a row"},
        {"abc-", "endpoint name 'abc-' must not end with a dash"},
        {"abcdefghijklmnopqrstuvwxyz0123456",
         "endpoint name 'abcdefghijklmnopqrstuvwxyz012345...' is too long: at most 32 characters"},
        {"a_b", "endpoint name 'a_b' has a character other than letters, digits and dashes at "
                "position 2"},
        {"my.ep", "position 3"},
        {"ab\ncd", "endpoint name 'ab?cd' has a character other than"},
        {"caf\xc3\xa9", "endpoint name 'caf?"
                        "?' has a character other than"},
        {"", "endpoint name is missing"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct inf_err err = {0};
        assert_int_equal(spec_name_valid(bad[i].name, "endpoint name", &err), INF_EINVAL);
        assert_contains(err.msg, bad[i].msg);
    }
    struct inf_err err = {0};
    assert_int_equal(spec_name_valid(NULL, "deployment name", &err), INF_EINVAL);
    assert_string_equal(err.msg, "deployment name is missing");
    assert_int_equal(spec_name_valid("x", "deployment name", NULL), INF_EINVAL);

    char huge[5000];
    memset(huge, 'a', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(spec_name_valid(huge, "endpoint name", &err), INF_EINVAL);
    assert_contains(err.msg, "is too long");
    assert_true(strlen(err.msg) < 120);
}

/* ---- traffic ------------------------------------------------------------- */

static void test_traffic_parse(void **state)
{
    (void)state;
    const char *forms[] = {"blue=90,green=10", "blue=90 green=10", "  blue=90 ,\tgreen=10  ",
                           "blue=90,,green=10,"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct inf_err err = {0};
        json_t *t = spec_traffic_parse(forms[i], &err);
        if (t == NULL)
            fail_msg("'%s': %s", forms[i], err.msg);
        assert_int_equal(json_object_size(t), 2);
        assert_int_equal(int_at(t, "blue", NULL), 90);
        assert_int_equal(int_at(t, "green", NULL), 10);
        json_decref(t);
    }
    json_t *t = spec_traffic_parse("blue=100", NULL);
    assert_int_equal(int_at(t, "blue", NULL), 100);
    json_decref(t);
    t = spec_traffic_parse("blue=0", NULL);
    assert_int_equal(int_at(t, "blue", NULL), 0);
    json_decref(t);

    struct {
        const char *in, *msg;
    } bad[] = {
        {"blue", "traffic: 'blue' must be NAME=PERCENT"},
        {"blue=90,green", "traffic: 'green' must be NAME=PERCENT"},
        {"blue=abc", "traffic: 'blue=abc': the percent must be an integer from 0 to 100"},
        {"blue=101", "'blue=101': the percent must be an integer from 0 to 100"},
        {"blue=-1", "'blue=-1'"},
        {"blue=9.5", "'blue=9.5'"},
        {"blue=", "'blue='"},
        {"blue=99999999999999999999999", "'blue=99999999999999999999999'"},
        {"1bad=10", "traffic: '1bad=10': deployment name '1bad' must start with a letter"},
        {"=10", "deployment name is missing"},
        {"blue=50,blue=50", "traffic: deployment 'blue' is given twice"},
        {"", "traffic: nothing given"},
        {" , ", "traffic: nothing given"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct inf_err err = {0};
        json_t *r = spec_traffic_parse(bad[i].in, &err);
        if (r != NULL)
            fail_msg("'%s' accepted", bad[i].in);
        assert_int_equal(err.code, INF_EINVAL);
        assert_contains(err.msg, bad[i].msg);
    }
    struct inf_err err = {0};
    assert_null(spec_traffic_parse(NULL, &err));
    assert_contains(err.msg, "nothing given");
}

static void test_traffic_check(void **state)
{
    (void)state;
    const char *names[] = {"blue", "green"};
    struct inf_err err = {0};
    struct {
        const char *json;
        int ok;
        const char *msg;
    } cases[] = {
        {"{}", 1, NULL},
        {"{\"blue\": 0}", 1, NULL},
        {"{\"blue\": 0, \"green\": 0}", 1, NULL},
        {"{\"blue\": 100}", 1, NULL},
        {"{\"blue\": 90, \"green\": 10}", 1, NULL},
        {"{\"blue\": 90, \"green\": 20}", 0,
         "traffic: percentages must add up to 0 or 100, got 110 (blue=90, green=20)"},
        {"{\"blue\": 50}", 0, "got 50"},
        {"{\"blue\": 101}", 0, "traffic.blue: must be an integer from 0 to 100, got 101"},
        {"{\"blue\": -5, \"green\": 105}", 0, "traffic.blue: must be an integer"},
        {"{\"blue\": \"90\", \"green\": 10}", 0,
         "traffic.blue: must be an integer from 0 to 100, got '90'"},
        {"{\"blue\": 90.0, \"green\": 10}", 0, "got 90.0"},
        {"{\"blue\": null}", 0, "got null"},
        {"{\"red\": 100}", 0,
         "traffic: the endpoint has no deployment 'red' (deployments: blue, green)"},
        {"{\"bad_name\": 100}", 0, "traffic: deployment name 'bad_name' has a character"},
        {"[1]", 0, "traffic: must be a mapping of deployment name to percent, got a list"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *t = json_loads(cases[i].json, 0, NULL);
        assert_non_null(t);
        int rc = spec_traffic_check(t, names, 2, &err);
        if (cases[i].ok && rc != 0)
            fail_msg("%s rejected: %s", cases[i].json, err.msg);
        if (!cases[i].ok) {
            assert_int_equal(rc, INF_EINVAL);
            assert_contains(err.msg, cases[i].msg);
        }
        json_decref(t);
    }
    json_t *t = json_pack("{s:i}", "blue", 100);
    assert_int_equal(spec_traffic_check(t, NULL, 0, &err), INF_EINVAL);
    assert_contains(err.msg, "no deployment 'blue' (it has no deployments)");
    json_decref(t);
}

/* ---- --set ---------------------------------------------------------------- */

static void test_set_path(void **state)
{
    (void)state;
    json_t *spec = json_pack("{s:s, s:{s:i}}", "name", "blue", "request_settings",
                             "max_concurrent_requests_per_instance", 2);
    struct inf_err err = {0};
    assert_int_equal(spec_set_path(spec, "request_settings.request_timeout_ms=3000", &err), 0);
    assert_int_equal(int_at(spec, "request_settings", "request_timeout_ms"), 3000);
    assert_int_equal(int_at(spec, "request_settings", "max_concurrent_requests_per_instance"), 2);
    assert_int_equal(spec_set_path(spec, "description=hello world", &err), 0);
    assert_string_equal(str_at(spec, "description", NULL), "hello world");
    assert_int_equal(spec_set_path(spec, "tags.team=ml", &err), 0);
    assert_string_equal(str_at(spec, "tags", "team"), "ml");
    assert_int_equal(spec_set_path(spec, "traffic.blue=100", &err), 0);
    assert_int_equal(int_at(spec, "traffic", "blue"), 100);
    assert_int_equal(spec_set_path(spec, "tags.version='007'", &err), 0);
    assert_string_equal(str_at(spec, "tags", "version"), "007");
    assert_int_equal(spec_set_path(spec, "tags.n=\"12\"", &err), 0);
    assert_string_equal(str_at(spec, "tags", "n"), "12");
    assert_int_equal(spec_set_path(spec, "app_insights_enabled=true", &err), 0);
    assert_true(json_is_true(json_object_get(spec, "app_insights_enabled")));
    assert_int_equal(spec_set_path(spec, "ratio=0.5", &err), 0);
    assert_true(json_real_value(json_object_get(spec, "ratio")) == 0.5);
    assert_int_equal(spec_set_path(spec, "url=http://x/?a=b", &err), 0);
    assert_string_equal(str_at(spec, "url", NULL), "http://x/?a=b");
    assert_int_equal(spec_set_path(spec, "description=", &err), 0);
    assert_true(json_is_null(json_object_get(spec, "description")));
    assert_int_equal(spec_set_path(spec, "a.b.c.d=1", &err), 0);
    assert_int_equal(int_at(json_object_get(json_object_get(spec, "a"), "b"), "c", "d"), 1);

    struct {
        const char *in, *msg;
    } bad[] = {
        {"noequals", "--set 'noequals': expected KEY=VALUE"},
        {"=value", "expected KEY=VALUE"},
        {"name.first=x", "--set 'name.first': 'name' is 'blue', not a mapping"},
        {"a..b=1", "--set 'a..b': a key in the path is empty"},
        {".a=1", "a key in the path is empty"},
        {"a.=1", "a key in the path is empty"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(spec_set_path(spec, bad[i].in, &err), INF_EINVAL);
        assert_contains(err.msg, bad[i].msg);
    }
    assert_int_equal(spec_set_path(spec, NULL, &err), INF_EINVAL);
    assert_string_equal(str_at(spec, "name", NULL), "blue"); /* untouched by failures */
    json_decref(spec);
}

/* ---- online endpoint ----------------------------------------------------- */

static void test_endpoint_azure_sample(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *ep = endpoint_ok(azure_endpoint_yml, notes);
    json_t *want = json_loads("{\"name\": \"my-endpoint\", \"description\": \"\", \"tags\": {},"
                              " \"auth_mode\": \"key\", \"traffic\": {}, \"mirror_traffic\": {}}",
                              0, NULL);
    assert_true(json_equal(ep, want));
    assert_int_equal(json_array_size(notes), 0);
    json_decref(want);
    json_decref(ep);
    json_decref(notes);
}

static void test_endpoint_full(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *ep = endpoint_ok("name: my-ep\n"
                             "description: Credit scoring\n"
                             "tags: {team: ml, version: 2, live: true}\n"
                             "auth_mode: AML_Token\n"
                             "traffic:\n  blue: 90\n  green: 10\n"
                             "mirror_traffic:\n  red: 20\n"
                             "public_network_access: disabled\n"
                             "identity:\n  type: system_assigned\n"
                             "compute: azureml:my-cluster\n",
                             notes);
    assert_string_equal(str_at(ep, "description", NULL), "Credit scoring");
    assert_string_equal(str_at(ep, "tags", "version"), "2");
    assert_string_equal(str_at(ep, "tags", "live"), "true");
    assert_string_equal(str_at(ep, "auth_mode", NULL), "aml_token");
    assert_int_equal(int_at(ep, "traffic", "blue"), 90);
    assert_int_equal(int_at(ep, "mirror_traffic", "red"), 20);
    assert_string_equal(str_at(ep, "public_network_access", NULL), "disabled");
    assert_string_equal(str_at(ep, "identity", "type"), "system_assigned");
    assert_int_equal(json_array_size(notes), 3);
    assert_true(has_note(notes, "ep.yml: 'public_network_access: disabled' is not enforced"));
    assert_true(has_note(notes, "ep.yml: 'identity' is Azure-only and ignored"));
    assert_true(has_note(notes, "ep.yml: 'compute' is Azure-only and ignored"));

    /* The output is valid input and normalises to itself. */
    struct inf_err err = {0};
    json_t *again = spec_online_endpoint(ep, "ep.json", NULL, &err);
    assert_non_null(again);
    assert_true(json_equal(ep, again));
    json_decref(again);
    json_decref(ep);
    json_decref(notes);

    /* Notes are optional. */
    ep = endpoint_ok("name: my-ep\nkind: online\n", NULL);
    json_decref(ep);
}

static void test_endpoint_errors(void **state)
{
    (void)state;
    endpoint_fails("name: my-ep\nxyz: 1\n",
                   "ep.yml: unknown key 'xyz' in online endpoint (accepted: name, description, "
                   "tags, auth_mode, traffic, mirror_traffic, public_network_access, identity, "
                   "compute, kind)");
    endpoint_fails("name: my-ep\ntrafic: {}\n",
                   "ep.yml: unknown key 'trafic' in online endpoint (did you mean 'traffic'?)");
    endpoint_fails("name: my-ep\nAuth_Mode: key\n", "did you mean 'auth_mode'?");
    endpoint_fails("description: no name\n", "ep.yml: name: required");
    endpoint_fails("name:\n", "ep.yml: name: required");
    endpoint_fails("name: 42\n", "ep.yml: name: must be a string, got 42");
    endpoint_fails("name: 1-endpoint\n",
                   "ep.yml: endpoint name '1-endpoint' must start with a letter");
    endpoint_fails("name: my-ep\nauth_mode: aad_token\n",
                   "ep.yml: auth_mode: aad_token is Azure-only; use key or aml_token");
    endpoint_fails("name: my-ep\nauth_mode: password\n",
                   "ep.yml: auth_mode: must be one of key, aml_token, aad_token, got 'password'");
    endpoint_fails("name: my-ep\ntags: [a, b]\n", "ep.yml: tags: must be a mapping, got a list");
    endpoint_fails("name: my-ep\ntags: {a: {b: c}}\n",
                   "ep.yml: tags.a: must be text, got a mapping");
    endpoint_fails("name: my-ep\ndescription: [x]\n", "ep.yml: description: must be text");
    endpoint_fails("name: my-ep\ntraffic: {blue: 90, green: 20}\n",
                   "ep.yml: traffic: percentages must add up to 0 or 100, got 110");
    endpoint_fails("name: my-ep\ntraffic: {blue: 90}\n", "got 90 (blue=90)");
    endpoint_fails("name: my-ep\ntraffic: {blue: ninety}\n",
                   "ep.yml: traffic.blue: must be an integer from 0 to 100, got 'ninety'");
    endpoint_fails("name: my-ep\ntraffic: {blue: 99.5, green: 0.5}\n", "got 99.5");
    endpoint_fails("name: my-ep\ntraffic: {blue: 99999999999999999999}\n",
                   "got '99999999999999999999'");
    endpoint_fails("name: my-ep\ntraffic: blue=100\n", "ep.yml: traffic: must be a mapping");
    endpoint_fails("name: my-ep\nmirror_traffic: {green: 60}\n",
                   "ep.yml: mirror_traffic.green: at most 50 percent can be mirrored, got 60");
    endpoint_fails(
        "name: my-ep\nmirror_traffic: {green: 10, red: 10}\n",
        "ep.yml: mirror_traffic: only one deployment can receive mirrored traffic, got 2");
    endpoint_fails("name: my-ep\ntraffic: {blue: 90, green: 10}\nmirror_traffic: {green: 10}\n",
                   "ep.yml: mirror_traffic.green: 'green' already gets 10 percent of live traffic");
    endpoint_fails("name: my-ep\npublic_network_access: closed\n",
                   "public_network_access: must be one of enabled, disabled, got 'closed'");

    /* Mirroring to a deployment at 0% live traffic is fine. */
    json_t *ep = endpoint_ok(
        "name: my-ep\ntraffic: {blue: 100, green: 0}\nmirror_traffic: {green: 50}\n", NULL);
    json_decref(ep);

    struct inf_err err = {0};
    json_t *arr = json_array();
    assert_null(spec_online_endpoint(arr, "ep.yml", NULL, &err));
    assert_string_equal(err.msg,
                        "ep.yml: an online endpoint must be a mapping of keys, got a list");
    assert_null(spec_online_endpoint(NULL, NULL, NULL, &err));
    assert_contains(err.msg, "spec: an online endpoint must be a mapping of keys, got nothing");
    json_decref(arr);

    /* A very long unknown key is cut in the message. */
    char key[2001];
    memset(key, 'k', 2000);
    key[2000] = '\0';
    json_t *in = json_pack("{s:s, s:i}", "name", "abc", key, 1);
    assert_null(spec_online_endpoint(in, "ep.yml", NULL, &err));
    assert_contains(err.msg, "...' in online endpoint");
    assert_true(strlen(err.msg) < 300);
    json_decref(in);
}

/* ---- online deployment --------------------------------------------------- */

static void test_deployment_azure_sample(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *d = deploy_ok(azure_blue_yml, SPEC_FILE, notes);
    json_t *want =
        json_loads("{\"name\": \"blue\", \"endpoint_name\": \"my-endpoint\", \"description\": \"\","
                   " \"tags\": {}, \"backend\": \"python\","
                   " \"model\": {\"path\": \"../../model-1/model/\"},"
                   " \"code_configuration\": {\"code\": \"../../model-1/onlinescoring/\","
                   "                          \"scoring_script\": \"score.py\"},"
                   " \"environment\": {\"conda_file\": \"../../model-1/environment/conda.yaml\","
                   "                   \"image\": "
                   "\"mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\"},"
                   " \"environment_variables\": {}, \"instance_type\": \"Standard_DS3_v2\","
                   " \"instance_count\": 1, \"scale_settings\": {\"type\": \"default\"},"
                   " \"request_settings\": {\"request_timeout_ms\": 5000,"
                   "     \"max_concurrent_requests_per_instance\": 1, \"max_queue_wait_ms\": 500},"
                   " \"liveness_probe\": {\"initial_delay\": 10, \"period\": 10, \"timeout\": 2,"
                   "     \"success_threshold\": 1, \"failure_threshold\": 30},"
                   " \"readiness_probe\": {\"initial_delay\": 10, \"period\": 10, \"timeout\": 2,"
                   "     \"success_threshold\": 1, \"failure_threshold\": 30}}",
                   0, NULL);
    assert_non_null(want);
    if (!json_equal(d, want)) {
        char *got = json_dumps(d, JSON_SORT_KEYS);
        fail_msg("normalised deployment differs: %s", got);
    }
    assert_int_equal(json_array_size(notes), 2);
    assert_true(has_note(notes, "blue.yml: 'environment.image' is ignored"));
    assert_true(has_note(notes, "blue.yml: 'instance_type' is ignored"));

    /* Round trip: the output validates to itself, and after the CLI swaps
     * paths for artifacts, it passes API mode. */
    struct inf_err err = {0};
    json_t *again = spec_online_deployment(d, "blue.json", SPEC_FILE, NULL, &err);
    assert_non_null(again);
    assert_true(json_equal(d, again));
    json_decref(again);
    json_object_set_new(json_object_get(d, "model"), "path", json_string("artifact:" HEX64));
    json_object_set_new(json_object_get(d, "code_configuration"), "code",
                        json_string("artifact:" HEX64));
    json_object_set_new(json_object_get(d, "environment"), "conda_file",
                        json_string("name: env\ndependencies: [python=3.11]\n"));
    again = spec_online_deployment(d, "request", SPEC_API, NULL, &err);
    if (again == NULL)
        fail_msg("API mode rejected: %s", err.msg);
    assert_true(json_equal(d, again));
    json_decref(again);

    json_decref(want);
    json_decref(d);
    json_decref(notes);
}

static void test_deployment_azureml_refs(void **state)
{
    (void)state;
    deploy_fails("name: blue\nendpoint_name: my-endpoint\nmodel: azureml:my-model:1\n"
                 "code_configuration: {code: ./c, scoring_script: score.py}\n",
                 "blue.yml: model: 'azureml:my-model:1' refers to a registered Azure model; inferd "
                 "has no model registry yet: set model.path to the model's folder or file instead");
    deploy_fails("name: blue\nendpoint_name: my-endpoint\nmodel:\n  path: azureml:m@latest\n",
                 "blue.yml: model.path: 'azureml:m@latest' refers to a registered Azure model");
    deploy_fails("name: blue\nendpoint_name: my-endpoint\n"
                 "model: {path: azureml://datastores/workspaceblobstore/paths/m}\n",
                 "model.path: 'azureml://datastores/workspaceblobstore/paths/m' refers to");
    base_fails("model: {path: 'https://example.com/model.pkl'}\n",
               "model.path: 'https://example.com/model.pkl' is a URL");
    deploy_fails("name: blue\nendpoint_name: my-endpoint\n"
                 "code_configuration: {code: 'azureml:code:1', scoring_script: score.py}\n",
                 "code_configuration.code: 'azureml:code:1' refers to an Azure asset");
    deploy_fails_mode("name: blue\nendpoint_name: my-endpoint\nmodel: azureml:m:1\n", SPEC_API,
                      "blue.yml: model: 'azureml:m:1' refers to a registered Azure model");

    /* A curated environment maps to this machine's Python, with a note. */
    json_t *notes = json_array();
    json_t *d =
        base_ok("environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest\n", notes);
    assert_string_equal(str_at(d, "environment", NULL),
                        "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest");
    assert_true(
        has_note(notes, "is a curated Azure environment; inferd uses this machine's Python"));
    json_decref(d);
    json_decref(notes);
    base_fails("environment: my-env\n",
               "blue.yml: environment: must be a mapping (image, conda_file, inference_config) or "
               "a curated environment 'azureml:NAME@latest', got 'my-env'");
}

static void test_deployment_model(void **state)
{
    (void)state;
    /* A plain string is the path; a model alone leaves the backend to the server. */
    json_t *d =
        deploy_ok("name: blue\nendpoint_name: my-endpoint\nmodel: ./model\n", SPEC_FILE, NULL);
    assert_string_equal(str_at(d, "model", "path"), "./model");
    assert_string_equal(str_at(d, "backend", NULL), "model");
    assert_null(json_object_get(d, "code_configuration"));
    json_decref(d);

    d = deploy_ok("name: blue\nendpoint_name: my-endpoint\n"
                  "model:\n  path: mlflow-model\n  name: credit\n  version: 3\n"
                  "  type: mlflow_model\n  description: d\n  tags: {a: 1}\n",
                  SPEC_FILE, NULL);
    assert_string_equal(str_at(d, "model", "name"), "credit");
    assert_string_equal(str_at(d, "model", "version"), "3");
    assert_string_equal(str_at(d, "model", "type"), "mlflow_model");
    assert_string_equal(str_at(json_object_get(d, "model"), "tags", "a"), "1");
    json_decref(d);

    const char *head = "name: blue\nendpoint_name: my-endpoint\n";
    char text[512];
    struct {
        const char *model, *msg;
    } bad[] = {
        {"model: {name: m}\n", "blue.yml: model.path: required: the model's folder or file"},
        {"model: {path: ''}\n", "blue.yml: model.path: required"},
        {"model: ''\n", "blue.yml: model.path: required"},
        {"model: {path: ./m, type: triton_model}\n",
         "blue.yml: model.type: triton_model is not supported by inferd yet; use custom_model or "
         "mlflow_model"},
        {"model: {path: ./m, type: pickle}\n",
         "blue.yml: model.type: must be one of custom_model, mlflow_model, got 'pickle'"},
        {"model: {path: ./m, flavor: x}\n", "blue.yml: unknown key 'flavor' in model"},
        {"model: [a]\n", "blue.yml: model: must be a path or a mapping with path, got a list"},
        {"model: 12\n", "must be a path or a mapping with path, got 12"},
        {"model: {path: [a]}\n", "blue.yml: model.path: must be a string, got a list"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s%s", head, bad[i].model);
        deploy_fails(text, bad[i].msg);
    }
}

static void test_deployment_api_mode(void **state)
{
    (void)state;
    const char *ok = "name: blue\nendpoint_name: my-endpoint\n"
                     "model: {path: 'artifact:" HEX64 "'}\n"
                     "code_configuration: {code: 'artifact:" HEX64 "', scoring_script: score.so}\n";
    json_t *d = deploy_ok(ok, SPEC_API, NULL);
    assert_string_equal(str_at(d, "backend", NULL), "native");
    json_decref(d);

    const char *bad_refs[] = {
        "./model",
        "artifact:",
        "artifact:" HEX64 "0",
        "artifact:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
        "artifact:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",
        "sha256:" HEX64,
    };
    char text[512];
    for (size_t i = 0; i < sizeof(bad_refs) / sizeof(bad_refs[0]); i++) {
        snprintf(text, sizeof(text),
                 "name: blue\nendpoint_name: my-endpoint\nmodel: {path: '%s'}\n", bad_refs[i]);
        deploy_fails_mode(text, SPEC_API,
                          "blue.yml: model.path: must be an uploaded artifact 'artifact:<64 "
                          "lowercase hex digits>'");
        snprintf(text, sizeof(text),
                 "name: blue\nendpoint_name: my-endpoint\n"
                 "code_configuration: {code: '%s', scoring_script: score.py}\n",
                 bad_refs[i]);
        deploy_fails_mode(text, SPEC_API, "blue.yml: code_configuration.code: must be an uploaded");
    }
    deploy_fails_mode("name: blue\nendpoint_name: my-endpoint\nmodel: ./m\n", SPEC_API,
                      "blue.yml: model: must be an uploaded artifact");
}

static void test_deployment_code(void **state)
{
    (void)state;
    json_t *d = base_ok("", NULL);
    assert_string_equal(str_at(d, "backend", NULL), "python");
    assert_null(json_object_get(d, "model"));
    json_decref(d);

    d = deploy_ok("name: blue\nendpoint_name: my-endpoint\n"
                  "code_configuration: {code: ./c, scoring_script: lib/libscore.so}\n",
                  SPEC_FILE, NULL);
    assert_string_equal(str_at(d, "backend", NULL), "native");
    assert_string_equal(str_at(d, "code_configuration", "scoring_script"), "lib/libscore.so");
    json_decref(d);

    const char *head = "name: blue\nendpoint_name: my-endpoint\n";
    char text[512];
    struct {
        const char *cc, *msg;
    } bad[] = {
        {"code_configuration: {code: ./c}\n",
         "blue.yml: code_configuration.scoring_script: required"},
        {"code_configuration: {scoring_script: score.py}\n",
         "blue.yml: code_configuration.code: required"},
        {"code_configuration: {code: ./c, scoring_script: ../score.py}\n",
         "blue.yml: code_configuration.scoring_script: '../score.py' must not contain '..'"},
        {"code_configuration: {code: ./c, scoring_script: a/../../score.py}\n",
         "must not contain '..'"},
        {"code_configuration: {code: ./c, scoring_script: /etc/score.py}\n",
         "'/etc/score.py' must be a relative path inside the code folder"},
        {"code_configuration: {code: ./c, scoring_script: score.R}\n",
         "blue.yml: code_configuration.scoring_script: 'score.R' must be a Python script (.py) or "
         "a native shared library (.so)"},
        {"code_configuration: {code: ./c, scoring_script: score.py, extra: 1}\n",
         "unknown key 'extra' in code_configuration (accepted: code, scoring_script)"},
        {"code_configuration: ./c\n", "blue.yml: code_configuration: must be a mapping, got './c'"},
        {"description: nothing to run\n",
         "blue.yml: a deployment needs something to run: model (path to the model), "
         "code_configuration (code and scoring_script), or environment.inference_config"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s%s", head, bad[i].cc);
        deploy_fails(text, bad[i].msg);
    }
}

static void test_deployment_custom(void **state)
{
    (void)state;
    static const char custom[] = "name: tfserving\n"
                                 "endpoint_name: my-endpoint\n"
                                 "model: {path: ./half_plus_two}\n"
                                 "environment:\n"
                                 "  name: tfserving\n"
                                 "  image: docker.io/tensorflow/serving:latest\n"
                                 "  inference_config:\n"
                                 "    liveness_route: {port: 8501, path: /v1/models/m}\n"
                                 "    readiness_route: {port: 8501, path: /v1/models/m}\n"
                                 "    scoring_route: {port: 8501, path: '/v1/models/m:predict'}\n"
                                 "environment_variables:\n"
                                 "  MODEL_BASE_PATH: /var/azureml-app/azureml-models\n";
    json_t *d = deploy_ok(custom, SPEC_FILE, NULL);
    assert_string_equal(str_at(d, "backend", NULL), "custom");
    json_t *cfg = json_object_get(json_object_get(d, "environment"), "inference_config");
    assert_int_equal(int_at(cfg, "scoring_route", "port"), 8501);
    assert_string_equal(str_at(cfg, "scoring_route", "path"), "/v1/models/m:predict");
    json_decref(d);

    const char *head =
        "name: blue\nendpoint_name: my-endpoint\nenvironment:\n  inference_config:\n";
    const char *good_routes = "    liveness_route: {port: 8080, path: /}\n"
                              "    readiness_route: {port: 8080, path: /ready}\n";
    char text[1024];
    struct {
        const char *scoring, *msg;
    } bad[] = {
        {"", "blue.yml: environment.inference_config.scoring_route: required"},
        {"    scoring_route: {path: /score}\n",
         "blue.yml: environment.inference_config.scoring_route.port: required"},
        {"    scoring_route: {port: 70000, path: /score}\n",
         "environment.inference_config.scoring_route.port: must be an integer from 1 to 65535, "
         "got 70000"},
        {"    scoring_route: {port: 0, path: /score}\n", "got 0"},
        {"    scoring_route: {port: 8080, path: score}\n",
         "environment.inference_config.scoring_route.path: must start with '/', got 'score'"},
        {"    scoring_route: {port: 8080}\n", "scoring_route.path: required"},
        {"    scoring_route: {port: 8080, path: /s, verb: POST}\n",
         "unknown key 'verb' in environment.inference_config.scoring_route"},
        {"    scoring_route: 8080\n", "scoring_route: must be a mapping, got 8080"},
        {"    scoring_route: {port: 8080, path: /s}\n    health_route: {}\n",
         "unknown key 'health_route' in environment.inference_config"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s%s%s", head, good_routes, bad[i].scoring);
        deploy_fails(text, bad[i].msg);
    }
}

static void test_deployment_defaults_and_ranges(void **state)
{
    (void)state;
    json_t *d = base_ok("instance_count: 3\n"
                        "request_settings:\n"
                        "  request_timeout_ms: 180000\n"
                        "  max_concurrent_requests_per_instance: 4\n"
                        "liveness_probe: {initial_delay: 0, failure_threshold: 3}\n"
                        "readiness_probe:\n  period: 5\n",
                        NULL);
    assert_int_equal(int_at(d, "instance_count", NULL), 3);
    assert_int_equal(int_at(d, "request_settings", "request_timeout_ms"), 180000);
    assert_int_equal(int_at(d, "request_settings", "max_concurrent_requests_per_instance"), 4);
    assert_int_equal(int_at(d, "request_settings", "max_queue_wait_ms"), 500);
    assert_int_equal(int_at(d, "liveness_probe", "initial_delay"), 0);
    assert_int_equal(int_at(d, "liveness_probe", "failure_threshold"), 3);
    assert_int_equal(int_at(d, "liveness_probe", "period"), 10);
    assert_int_equal(int_at(d, "readiness_probe", "period"), 5);
    assert_int_equal(int_at(d, "readiness_probe", "timeout"), 2);
    assert_int_equal(int_at(d, "readiness_probe", "success_threshold"), 1);
    json_decref(d);

    struct {
        const char *extra, *msg;
    } bad[] = {
        {"request_settings: {request_timeout_ms: 0}\n",
         "blue.yml: request_settings.request_timeout_ms: must be an integer from 1 to 180000, got "
         "0"},
        {"request_settings: {request_timeout_ms: 180001}\n", "got 180001"},
        {"request_settings: {request_timeout_ms: '5000'}\n", "got '5000'"},
        {"request_settings: {request_timeout_ms: 9223372036854775807}\n",
         "got 9223372036854775807"},
        {"request_settings: {max_concurrent_requests_per_instance: 1001}\n",
         "request_settings.max_concurrent_requests_per_instance: must be an integer from 1 to "
         "1000"},
        {"request_settings: {max_queue_wait_ms: -1}\n",
         "request_settings.max_queue_wait_ms: must be an integer from 0 to"},
        {"request_settings: {timeout_ms: 10}\n", "unknown key 'timeout_ms' in request_settings"},
        {"request_settings: 5000\n", "blue.yml: request_settings: must be a mapping, got 5000"},
        {"instance_count: 0\n",
         "blue.yml: instance_count: must be an integer from 1 to 100, got 0"},
        {"instance_count: 101\n", "got 101"},
        {"instance_count: 1.5\n", "got 1.5"},
        {"instance_count: 2.0\n", "got 2.0"},
        {"instance_count: 99999999999999999999\n", "got '99999999999999999999'"},
        {"instance_count: true\n", "got true"},
        {"liveness_probe: {period: 0}\n",
         "blue.yml: liveness_probe.period: must be an integer from 1 to 3600, got 0"},
        {"readiness_probe: {failure_threshold: 0}\n", "readiness_probe.failure_threshold"},
        {"readiness_probe: {initial_delay: -1}\n", "readiness_probe.initial_delay"},
        {"liveness_probe: {path: /health}\n", "unknown key 'path' in liveness_probe"},
        {"instnce_count: 1\n", "unknown key 'instnce_count' in online deployment (did you mean "
                               "'instance_count'?)"},
        {"some_random_key: 1\n",
         "unknown key 'some_random_key' in online deployment (see docs/yaml-reference.md)"},
        {"name2: 1\n", "did you mean 'name'?"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        base_fails(bad[i].extra, bad[i].msg);
}

static void test_deployment_names(void **state)
{
    (void)state;
    deploy_fails("endpoint_name: my-endpoint\nmodel: ./m\n", "blue.yml: name: required");
    deploy_fails("name: blue\nmodel: ./m\n", "blue.yml: endpoint_name: required");
    deploy_fails("name: b\nendpoint_name: my-endpoint\nmodel: ./m\n",
                 "blue.yml: deployment name 'b' is too short");
    deploy_fails("name: blue\nendpoint_name: my--endpoint\nmodel: ./m\n",
                 "blue.yml: endpoint name 'my--endpoint' has two dashes in a row");
    deploy_fails("name: blue-\nendpoint_name: my-endpoint\nmodel: ./m\n",
                 "deployment name 'blue-' must not end with a dash");

    struct inf_err err = {0};
    json_t *s = json_string("x");
    assert_null(spec_online_deployment(s, "blue.yml", SPEC_FILE, NULL, &err));
    assert_string_equal(err.msg,
                        "blue.yml: an online deployment must be a mapping of keys, got 'x'");
    json_decref(s);
}

static void test_deployment_env_vars_and_tags(void **state)
{
    (void)state;
    json_t *d = base_ok("environment_variables:\n"
                        "  WORKERS: 4\n"
                        "  DEBUG: true\n"
                        "  RATIO: 0.25\n"
                        "  WHOLE: 2.0\n"
                        "  EMPTY:\n"
                        "  PATH_LIKE: /opt/x\n"
                        "  QUOTED: '007'\n"
                        "tags: {n: 1}\n"
                        "description: 12\n",
                        NULL);
    json_t *env = json_object_get(d, "environment_variables");
    assert_string_equal(str_at(env, "WORKERS", NULL), "4");
    assert_string_equal(str_at(env, "DEBUG", NULL), "true");
    assert_string_equal(str_at(env, "RATIO", NULL), "0.25");
    assert_string_equal(str_at(env, "WHOLE", NULL), "2.0");
    assert_string_equal(str_at(env, "EMPTY", NULL), "");
    assert_string_equal(str_at(env, "PATH_LIKE", NULL), "/opt/x");
    assert_string_equal(str_at(env, "QUOTED", NULL), "007");
    assert_string_equal(str_at(d, "tags", "n"), "1");
    assert_string_equal(str_at(d, "description", NULL), "12");
    json_decref(d);

    base_fails("environment_variables: {LIST: [1, 2]}\n",
               "blue.yml: environment_variables.LIST: must be text, got a list");
    base_fails("environment_variables: {'A=B': x}\n",
               "blue.yml: environment_variables: 'A=B' is not a valid variable name");
    base_fails("environment_variables: {'': x}\n", "'' is not a valid variable name");
    base_fails("environment_variables: {A: \"x\\0y\"}\n",
               "environment_variables.A: contains a NUL character");
    base_fails("environment_variables: [A=1]\n", "environment_variables: must be a mapping");
    base_fails("environment_variables: {\"A\\nB\": [1]}\n",
               "environment_variables.A?B: must be text");
}

static void test_deployment_scale_settings(void **state)
{
    (void)state;
    json_t *d = base_ok("scale_settings: {type: target_utilization}\n", NULL);
    json_t *want =
        json_pack("{s:s, s:i, s:i, s:i, s:i}", "type", "target_utilization", "min_instances", 1,
                  "max_instances", 1, "polling_interval", 1, "target_utilization_percentage", 70);
    assert_true(json_equal(json_object_get(d, "scale_settings"), want));
    json_decref(want);
    json_decref(d);

    d = base_ok("scale_settings:\n  type: target_utilization\n  min_instances: 2\n"
                "  max_instances: 5\n  polling_interval: 10\n  target_utilization_percentage: 50\n",
                NULL);
    assert_int_equal(int_at(d, "scale_settings", "max_instances"), 5);
    json_decref(d);

    base_fails("scale_settings: {min_instances: 2}\n",
               "blue.yml: scale_settings: 'min_instances' is only used with type: "
               "target_utilization");
    base_fails("scale_settings: {type: manual}\n",
               "scale_settings.type: must be one of default, target_utilization, got 'manual'");
    base_fails("scale_settings: {type: target_utilization, min_instances: 3}\n",
               "scale_settings.max_instances: must be at least min_instances (3), got 1 (the "
               "default)");
    base_fails("scale_settings: {type: target_utilization, min_instances: 3, max_instances: 2}\n",
               "must be at least min_instances (3), got 2");
    base_fails("scale_settings: {type: target_utilization, target_utilization_percentage: 0}\n",
               "scale_settings.target_utilization_percentage: must be an integer from 1 to 100");
}

static void test_deployment_azure_only_keys(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *d = base_ok("type: kubernetes\n"
                        "app_insights_enabled: true\n"
                        "egress_public_network_access: disabled\n"
                        "data_collector:\n  collections: {model_inputs: {enabled: 'True'}}\n"
                        "model_mount_path: /var/models\n"
                        "properties: {owner: me}\n"
                        "resources:\n"
                        "  requests: {cpu: '500m', memory: 1Gi}\n"
                        "  limits: {cpu: 2, memory: 4Gi, gpu: 1}\n"
                        "environment:\n"
                        "  conda_file: {name: inline, dependencies: [python=3.11]}\n"
                        "  build: {path: ./docker}\n"
                        "  os_type: linux\n"
                        "  tags: {k: v}\n",
                        notes);
    assert_string_equal(str_at(d, "type", NULL), "kubernetes");
    assert_string_equal(str_at(json_object_get(d, "resources"), "requests", "cpu"), "500m");
    assert_int_equal(int_at(json_object_get(d, "resources"), "limits", "cpu"), 2);
    assert_true(json_is_object(json_object_get(json_object_get(d, "environment"), "conda_file")));
    assert_string_equal(str_at(d, "properties", "owner"), "me");
    assert_string_equal(str_at(d, "model_mount_path", NULL), "/var/models");
    assert_true(has_note(notes, "'type: kubernetes' is ignored"));
    assert_true(has_note(notes, "'app_insights_enabled' is Azure-only and ignored"));
    assert_true(has_note(notes, "'egress_public_network_access: disabled' is not enforced"));
    assert_true(has_note(notes, "'data_collector' is Azure-only and ignored"));
    assert_true(has_note(notes, "'model_mount_path' is ignored"));
    assert_true(has_note(notes, "'resources.limits.gpu' is ignored"));
    assert_true(has_note(notes, "'environment.build' is ignored"));
    assert_int_equal(json_array_size(notes), 7);

    /* The normalised output normalises to itself. */
    struct inf_err err = {0};
    json_t *again = spec_online_deployment(d, "blue.json", SPEC_FILE, NULL, &err);
    if (again == NULL)
        fail_msg("re-validation failed: %s", err.msg);
    assert_true(json_equal(d, again));
    json_decref(again);
    json_decref(d);
    json_decref(notes);

    /* app_insights_enabled: false is simply what inferd does: no note. */
    notes = json_array();
    d = base_ok("app_insights_enabled: false\ntype: managed\n", notes);
    assert_int_equal(json_array_size(notes), 0);
    json_decref(d);
    json_decref(notes);

    base_fails("app_insights_enabled: 'yes'\n",
               "blue.yml: app_insights_enabled: must be true or false, got 'yes'");
    base_fails("type: serverless\n", "blue.yml: type: must be one of managed, kubernetes");
    base_fails("resources: {limits: {cpu: -1}}\n",
               "blue.yml: resources.limits.cpu: must be a quantity");
    base_fails("resources: {limits: {disk: 1Gi}}\n", "unknown key 'disk' in resources.limits");
    base_fails("resources: {limits: {cpu: ''}}\n", "resources.limits.cpu: must be a quantity");
    base_fails("environment: {conda_file: ''}\n",
               "blue.yml: environment.conda_file: must not be empty");
    base_fails("environment: {conda_file: 12}\n",
               "blue.yml: environment.conda_file: must be a string, got 12");
    base_fails("environment: {image: x, imagee: y}\n", "did you mean 'image'?");
    base_fails("instance_type: [a]\n", "blue.yml: instance_type: must be a string, got a list");
}

static void test_deployment_backend_field(void **state)
{
    (void)state;
    json_t *d = base_ok("backend: python\n", NULL);
    json_decref(d);
    base_fails("backend: native\n",
               "blue.yml: backend: 'native' does not match the deployment, which runs as 'python'");
    d = deploy_ok("name: blue\nendpoint_name: my-endpoint\nmodel: ./m\nbackend: mlflow\n",
                  SPEC_FILE, NULL);
    assert_string_equal(str_at(d, "backend", NULL), "mlflow");
    json_decref(d);
    deploy_fails("name: blue\nendpoint_name: my-endpoint\nmodel: ./m\nbackend: custom\n",
                 "backend: 'custom' does not match the deployment, which runs as 'model'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_scalar_types),
        cmocka_unit_test(test_yaml_structure),
        cmocka_unit_test(test_yaml_tags),
        cmocka_unit_test(test_yaml_empty),
        cmocka_unit_test(test_yaml_malformed),
        cmocka_unit_test(test_yaml_anchors_aliases_merge),
        cmocka_unit_test(test_yaml_duplicates_and_keys),
        cmocka_unit_test(test_yaml_documents_and_depth),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_traffic_parse),
        cmocka_unit_test(test_traffic_check),
        cmocka_unit_test(test_set_path),
        cmocka_unit_test(test_endpoint_azure_sample),
        cmocka_unit_test(test_endpoint_full),
        cmocka_unit_test(test_endpoint_errors),
        cmocka_unit_test(test_deployment_azure_sample),
        cmocka_unit_test(test_deployment_azureml_refs),
        cmocka_unit_test(test_deployment_model),
        cmocka_unit_test(test_deployment_api_mode),
        cmocka_unit_test(test_deployment_code),
        cmocka_unit_test(test_deployment_custom),
        cmocka_unit_test(test_deployment_defaults_and_ranges),
        cmocka_unit_test(test_deployment_names),
        cmocka_unit_test(test_deployment_env_vars_and_tags),
        cmocka_unit_test(test_deployment_scale_settings),
        cmocka_unit_test(test_deployment_azure_only_keys),
        cmocka_unit_test(test_deployment_backend_field),
    };
    return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
