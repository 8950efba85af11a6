/*
 * Tests for cli/cli_batch's pure helpers: --input and --output-path URIs,
 * the invoke request fields (options and --set), and turning a stored
 * batch deployment back into a spec for `batch-deployment update --set`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "cli/cli_int.h"
#include "spec/spec.h"

/* ---- datastore URIs ---- */

static void test_datastore_uri_valid(void **state)
{
    (void)state;
    static const char *const good[] = {
        "azureml://datastores/workspaceblobstore/paths/data/",
        "azureml://datastores/ds/paths/heart/part-1.csv",
        "azureml://datastores/my_store-2/paths/a/b/c",
        "azureml://datastores/ds/paths/",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct inf_err err = {0};
        assert_int_equal(cli_batch_datastore_uri_check(good[i], &err), 0);
    }
}

static void expect_bad_uri(const char *uri, const char *needle)
{
    struct inf_err err = {0};
    assert_int_equal(cli_batch_datastore_uri_check(uri, &err), INF_EINVAL);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message for '%s' lacks '%s': %s", uri, needle, err.msg);
}

static void test_datastore_uri_invalid(void **state)
{
    (void)state;
    expect_bad_uri("https://x/y", "not a datastore URI");
    expect_bad_uri("azureml://datastores/", "datastore name is missing");
    expect_bad_uri("azureml://datastores//paths/x", "datastore name is missing");
    expect_bad_uri("azureml://datastores/d s/paths/x", "datastore name 'd s'");
    expect_bad_uri("azureml://datastores/ds", "expected '/paths/'");
    expect_bad_uri("azureml://datastores/ds/x/y", "expected '/paths/'");
    expect_bad_uri("azureml://datastores/ds/paths", "expected '/paths/'");
    expect_bad_uri("azureml://datastores/ds/paths/../etc", "relative");
    expect_bad_uri("azureml://datastores/ds/paths/a/../../etc", "relative");
    expect_bad_uri("azureml://datastores/ds/paths//etc/passwd", "relative");
    expect_bad_uri("azureml://datastores/ds/paths/a//b", "relative");
    expect_bad_uri("azureml://datastores/ds/paths/./a", "relative");
    expect_bad_uri("azureml://datastores/ds/paths/a\nb", "relative");
}

static void test_datastore_uri_huge(void **state)
{
    (void)state;
    static char uri[1 << 16];
    size_t n = (size_t)snprintf(uri, sizeof(uri), "azureml://datastores/");
    memset(uri + n, 'a', sizeof(uri) - n - 1);
    struct inf_err err = {0};
    assert_int_equal(cli_batch_datastore_uri_check(uri, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "longer than 255"));
    assert_true(strlen(err.msg) < INF_ERR_MSG_MAX);
    /* A huge path is fine by itself (the server bounds it), but its message
     * stays bounded when it is wrong. */
    n = (size_t)snprintf(uri, sizeof(uri), "azureml://datastores/ds/paths/..");
    memset(uri + n, '/', 10);
    memset(uri + n + 10, 'b', sizeof(uri) - n - 11);
    assert_int_equal(cli_batch_datastore_uri_check(uri, &err), INF_EINVAL);
    assert_true(strlen(err.msg) < INF_ERR_MSG_MAX);
}

/* ---- --input ---- */

static void expect_kind(const char *input, enum cli_batch_input want)
{
    enum cli_batch_input kind = (enum cli_batch_input) - 1;
    struct inf_err err = {0};
    if (cli_batch_input_classify(input, &kind, &err) != 0)
        fail_msg("'%s' refused: %s", input, err.msg);
    assert_int_equal(kind, want);
}

static void expect_refused(const char *input, int code, const char *needle)
{
    enum cli_batch_input kind;
    struct inf_err err = {0};
    assert_int_equal(cli_batch_input_classify(input, &kind, &err), code);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message for '%s' lacks '%s': %s", input, needle, err.msg);
}

static void test_input_kinds(void **state)
{
    (void)state;
    static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char ref[128];
    expect_kind("data", CLI_BATCH_INPUT_LOCAL);
    expect_kind("./data/", CLI_BATCH_INPUT_LOCAL);
    expect_kind("/srv/data/heart.csv", CLI_BATCH_INPUT_LOCAL);
    expect_kind("../inputs", CLI_BATCH_INPUT_LOCAL);
    expect_kind("c:data", CLI_BATCH_INPUT_LOCAL);
    expect_kind("azureml://datastores/ds/paths/heart/", CLI_BATCH_INPUT_DATASTORE);
    snprintf(ref, sizeof(ref), "artifact:%s", sha);
    expect_kind(ref, CLI_BATCH_INPUT_ARTIFACT);
    snprintf(ref, sizeof(ref), "artifact:%s/sub/heart.csv", sha);
    expect_kind(ref, CLI_BATCH_INPUT_ARTIFACT);
}

static void test_input_refused(void **state)
{
    (void)state;
    static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char ref[160];
    expect_refused("", INF_EINVAL, "empty");
    expect_refused("azureml:heart-data:1", INF_EUNSUPPORTED, "data asset");
    expect_refused("azureml:heart-data@latest", INF_EUNSUPPORTED, "data asset");
    expect_refused("azureml://subscriptions/x/resourcegroups/y/workspaces/z/datastores/d/paths/p",
                   INF_EUNSUPPORTED, "only azureml://datastores/NAME/paths/PATH");
    expect_refused("https://azuremlexampledata.blob.core.windows.net/data/heart/", INF_EUNSUPPORTED,
                   "does not fetch URLs");
    expect_refused("wasbs://c@a.blob.core.windows.net/x", INF_EUNSUPPORTED, "does not fetch URLs");
    expect_refused("azureml://datastores/ds/paths/../../etc", INF_EINVAL, "relative");
    expect_refused("artifact:abc", INF_EINVAL, "64 hex digits");
    snprintf(ref, sizeof(ref), "artifact:%.63sG", sha);
    expect_refused(ref, INF_EINVAL, "lower-case hex");
    snprintf(ref, sizeof(ref), "artifact:%s", sha);
    ref[9] = 'A';
    expect_refused(ref, INF_EINVAL, "lower-case hex");
    snprintf(ref, sizeof(ref), "artifact:%s/../x", sha);
    expect_refused(ref, INF_EINVAL, "inside the artifact");
    snprintf(ref, sizeof(ref), "artifact:%s0", sha);
    expect_refused(ref, INF_EINVAL, "64 hex digits");
}

/* ---- invoke fields ---- */

static void test_invoke_integers(void **state)
{
    (void)state;
    json_t *body = json_object();
    struct inf_err err = {0};
    assert_int_equal(cli_batch_invoke_set(body, "instance_count", "2", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "mini_batch_size", "100000", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "max_concurrency_per_instance", "4", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "max_retries", "0", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "timeout", "86400", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "error_threshold", "-1", &err), 0);
    assert_int_equal(json_integer_value(json_object_get(body, "instance_count")), 2);
    assert_int_equal(json_integer_value(json_object_get(body, "mini_batch_size")), 100000);
    assert_int_equal(json_integer_value(json_object_get(body, "max_concurrency_per_instance")), 4);
    assert_true(json_is_integer(json_object_get(body, "max_retries")));
    assert_int_equal(json_integer_value(json_object_get(body, "timeout")), 86400);
    assert_int_equal(json_integer_value(json_object_get(body, "error_threshold")), -1);
    json_decref(body);
}

static void expect_bad_field(const char *key, const char *value, const char *needle)
{
    json_t *body = json_pack("{s:i}", "timeout", 30);
    struct inf_err err = {0};
    assert_int_equal(cli_batch_invoke_set(body, key, value, &err), INF_EINVAL);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message for %s=%s lacks '%s': %s", key, value, needle, err.msg);
    assert_true(strlen(err.msg) < INF_ERR_MSG_MAX);
    /* Nothing changed. */
    assert_int_equal(json_object_size(body), 1);
    assert_int_equal(json_integer_value(json_object_get(body, "timeout")), 30);
    json_decref(body);
}

static void test_invoke_bad_integers(void **state)
{
    (void)state;
    expect_bad_field("instance_count", "0", "from 1 to 64");
    expect_bad_field("instance_count", "65", "from 1 to 64");
    expect_bad_field("mini_batch_size", "100001", "from 1 to 100000");
    expect_bad_field("max_retries", "-1", "from 0 to 100");
    expect_bad_field("timeout", "0", "from 1 to 86400");
    expect_bad_field("timeout", "30s", "'30s' is not an integer");
    expect_bad_field("timeout", "", "is not an integer");
    expect_bad_field("timeout", " 30", "is not an integer");
    expect_bad_field("error_threshold", "-2", "from -1 to");
    expect_bad_field("error_threshold", "99999999999999999999999", "is not an integer");
    expect_bad_field("max_concurrency_per_instance", "1.5", "is not an integer");
}

static void test_invoke_names_and_paths(void **state)
{
    (void)state;
    json_t *body = json_object();
    struct inf_err err = {0};
    assert_int_equal(cli_batch_invoke_set(body, "deployment_name", "blue", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "job_name", "nightly_run-7", &err), 0);
    assert_int_equal(
        cli_batch_invoke_set(body, "output_path", "azureml://datastores/ds/paths/out/", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "output_file_name", "scores.csv", &err), 0);
    assert_string_equal(json_string_value(json_object_get(body, "deployment_name")), "blue");
    assert_string_equal(json_string_value(json_object_get(body, "job_name")), "nightly_run-7");
    assert_string_equal(json_string_value(json_object_get(body, "output_path")),
                        "azureml://datastores/ds/paths/out/");
    assert_string_equal(json_string_value(json_object_get(body, "output_file_name")), "scores.csv");
    json_decref(body);

    expect_bad_field("deployment_name", "1blue", "deployment name");
    expect_bad_field("job_name", "../etc", "job name");
    expect_bad_field("output_path", "/tmp/out", "not a datastore URI");
    expect_bad_field("output_path", "azureml://datastores/ds/paths/../x", "relative");
    expect_bad_field("output_file_name", "out/x.csv", "plain file name");
    expect_bad_field("output_file_name", "..", "plain file name");
    expect_bad_field("output_file_name", "", "plain file name");
    expect_bad_field("output_file_name", "a\tb", "plain file name");
}

static void test_invoke_environment(void **state)
{
    (void)state;
    json_t *body = json_object();
    struct inf_err err = {0};
    /* Values stay exactly as typed: no YAML typing of "007" or "true". */
    assert_int_equal(cli_batch_invoke_set(body, "environment_variables.CODE", "007", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "environment_variables.FLAG", "true", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "environment_variables._X1", "", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "environment_variables.CODE", "a=b", &err), 0);
    json_t *env = json_object_get(body, "environment_variables");
    assert_int_equal(json_object_size(env), 3);
    assert_string_equal(json_string_value(json_object_get(env, "CODE")), "a=b");
    assert_string_equal(json_string_value(json_object_get(env, "FLAG")), "true");
    assert_string_equal(json_string_value(json_object_get(env, "_X1")), "");
    json_decref(body);

    expect_bad_field("environment_variables.", "x", "not an environment variable name");
    expect_bad_field("environment_variables.1X", "x", "not an environment variable name");
    expect_bad_field("environment_variables.A-B", "x", "'A-B'");
    expect_bad_field("environment_variables.A.B", "x", "not an environment variable name");
    expect_bad_field("environment_variables.OK", "\xff\xfe", "not UTF-8");
}

static void test_invoke_aliases_and_unknown(void **state)
{
    (void)state;
    json_t *body = json_object();
    struct inf_err err = {0};
    assert_int_equal(cli_batch_invoke_set(body, "retry_settings.max_retries", "5", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "retry_settings.timeout", "60", &err), 0);
    assert_int_equal(cli_batch_invoke_set(body, "resources.instance_count", "3", &err), 0);
    assert_int_equal(json_integer_value(json_object_get(body, "max_retries")), 5);
    assert_int_equal(json_integer_value(json_object_get(body, "timeout")), 60);
    assert_int_equal(json_integer_value(json_object_get(body, "instance_count")), 3);
    assert_null(json_object_get(body, "retry_settings"));
    json_decref(body);

    expect_bad_field("input", "data", "unknown field 'input'");
    expect_bad_field("output_action", "summary_only", "unknown field");
    expect_bad_field("Timeout", "3", "unknown field 'Timeout'");
    expect_bad_field("", "3", "unknown field ''");
    expect_bad_field("retry_settings.max_retries", "500", "from 0 to 100");
}

/* ---- stored deployment → spec ---- */

static void test_spec_of_normalised(void **state)
{
    (void)state;
    json_t *stored = json_loads(
        "{\"name\": \"blue\", \"endpoint_name\": \"ep\", \"description\": \"\", \"tags\": {},"
        " \"type\": \"model\", \"backend\": \"python\", \"provisioning_state\": \"Succeeded\","
        " \"created_at\": \"2026-11-26T18:00:00Z\","
        " \"model\": {\"path\": \"artifact:aa\"},"
        " \"code_configuration\": {\"code\": \"artifact:bb\", \"scoring_script\": \"score.py\"},"
        " \"environment\": {\"conda_file\": \"name: x\\n\"},"
        " \"instance_count\": 2, \"environment_variables\": {\"K\": \"V\"},"
        " \"settings\": {\"mini_batch_size\": 10, \"max_concurrency_per_instance\": 1,"
        "   \"retry_settings\": {\"max_retries\": 3, \"timeout\": 30},"
        "   \"error_threshold\": -1, \"logging_level\": \"info\","
        "   \"output_action\": \"append_row\", \"output_file_name\": \"predictions.csv\"}}",
        0, NULL);
    assert_non_null(stored);
    json_t *spec = cli_batch_deployment_spec_of(stored);
    json_t *want = json_loads(
        "{\"name\": \"blue\", \"endpoint_name\": \"ep\", \"description\": \"\", \"tags\": {},"
        " \"type\": \"model\","
        " \"model\": {\"path\": \"artifact:aa\"},"
        " \"code_configuration\": {\"code\": \"artifact:bb\", \"scoring_script\": \"score.py\"},"
        " \"environment\": {\"conda_file\": \"name: x\\n\"},"
        " \"resources\": {\"instance_count\": 2},"
        " \"settings\": {\"mini_batch_size\": 10, \"max_concurrency_per_instance\": 1,"
        "   \"retry_settings\": {\"max_retries\": 3, \"timeout\": 30},"
        "   \"error_threshold\": -1, \"logging_level\": \"info\","
        "   \"output_action\": \"append_row\", \"output_file_name\": \"predictions.csv\","
        "   \"environment_variables\": {\"K\": \"V\"}}}",
        0, NULL);
    assert_non_null(want);
    if (!json_equal(spec, want)) {
        char *got = json_dumps(spec, JSON_SORT_KEYS);
        fail_msg("got %s", got);
    }
    /* A deep copy: changing the spec leaves the stored object alone. */
    json_object_set_new(json_object_get(spec, "model"), "path", json_string("x"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(stored, "model"), "path")),
        "artifact:aa");
    json_decref(want);
    json_decref(spec);
    json_decref(stored);
}

static void test_spec_of_legacy_and_minimal(void **state)
{
    (void)state;
    /* Legacy form: settings at the root; resources kept as they are. */
    json_t *stored = json_loads("{\"name\": \"blue\", \"mini_batch_size\": 5,"
                                " \"output_action\": \"summary_only\","
                                " \"resources\": {\"instance_count\": 4},"
                                " \"instance_count\": 1}",
                                0, NULL);
    json_t *spec = cli_batch_deployment_spec_of(stored);
    json_t *want = json_loads("{\"name\": \"blue\", \"type\": \"model\","
                              " \"resources\": {\"instance_count\": 4},"
                              " \"settings\": {\"mini_batch_size\": 5,"
                              "   \"output_action\": \"summary_only\"}}",
                              0, NULL);
    assert_true(json_equal(spec, want));
    json_decref(want);
    json_decref(spec);
    json_decref(stored);

    /* Nothing but a name: no empty resources or settings objects. */
    stored = json_pack("{s:s, s:[]}", "name", "blue", "settings");
    spec = cli_batch_deployment_spec_of(stored);
    want = json_pack("{s:s, s:s}", "name", "blue", "type", "model");
    assert_true(json_equal(spec, want));
    json_decref(want);
    json_decref(spec);
    json_decref(stored);

    /* Not even an object. */
    stored = json_string("nonsense");
    spec = cli_batch_deployment_spec_of(stored);
    assert_int_equal(json_object_size(spec), 1);
    json_decref(spec);
    json_decref(stored);
}

/* What the server stores (the validator's normalised form) comes back
 * through spec_of as a spec the validator turns into the same object, so
 * `batch-deployment update -e EP -n NAME --set ...` changes only what was
 * set. */
static void test_spec_of_round_trip(void **state)
{
    (void)state;
    static const char yaml[] =
        "name: blue\n"
        "endpoint_name: heart-ep\n"
        "type: model\n"
        "model:\n"
        "  path: artifact:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
        "code_configuration:\n"
        "  code: artifact:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n"
        "  scoring_script: score.py\n"
        "resources:\n"
        "  instance_count: 2\n"
        "settings:\n"
        "  mini_batch_size: 7\n"
        "  output_action: summary_only\n"
        "  retry_settings:\n"
        "    max_retries: 1\n"
        "  environment_variables:\n"
        "    K: V\n";
    struct inf_err err = {0};
    json_t *in = spec_yaml_parse(yaml, sizeof(yaml) - 1, "blue.yml", &err);
    assert_non_null(in);
    json_t *stored = spec_batch_deployment(in, "blue.yml", SPEC_API, NULL, &err);
    if (stored == NULL)
        fail_msg("%s", err.msg);
    json_t *spec = cli_batch_deployment_spec_of(stored);
    json_t *again = spec_batch_deployment(spec, "blue", SPEC_FILE, NULL, &err);
    if (again == NULL)
        fail_msg("%s", err.msg);
    assert_true(json_equal(again, stored));
    json_decref(again);

    /* A --set on the model form's path lands where it should. */
    assert_int_equal(spec_set_path(spec, "settings.mini_batch_size=20", &err), 0);
    assert_int_equal(spec_set_path(spec, "resources.instance_count=3", &err), 0);
    again = spec_batch_deployment(spec, "blue", SPEC_FILE, NULL, &err);
    if (again == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(again, "settings"), "mini_batch_size")),
        20);
    assert_int_equal(json_integer_value(json_object_get(again, "instance_count")), 3);
    json_decref(again);
    json_decref(spec);
    json_decref(stored);
    json_decref(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datastore_uri_valid),
        cmocka_unit_test(test_datastore_uri_invalid),
        cmocka_unit_test(test_datastore_uri_huge),
        cmocka_unit_test(test_input_kinds),
        cmocka_unit_test(test_input_refused),
        cmocka_unit_test(test_invoke_integers),
        cmocka_unit_test(test_invoke_bad_integers),
        cmocka_unit_test(test_invoke_names_and_paths),
        cmocka_unit_test(test_invoke_environment),
        cmocka_unit_test(test_invoke_aliases_and_unknown),
        cmocka_unit_test(test_spec_of_normalised),
        cmocka_unit_test(test_spec_of_legacy_and_minimal),
        cmocka_unit_test(test_spec_of_round_trip),
    };
    return cmocka_run_group_tests_name("cli_batch", tests, NULL, NULL);
}
