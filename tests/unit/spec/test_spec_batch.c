/*
 * Unit tests for batch endpoint and batch deployment validation (spec/batch.c),
 * with Azure's own sample files in both deployment layouts.
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

#define HEX64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* Azure's batch endpoint sample (endpoints/batch/deploy-models/mnist-classifier). */
static const char azure_endpoint_yml[] =
    "$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json\n"
    "name: mnist-batch\n"
    "description: A batch endpoint for scoring images from the MNIST dataset.\n"
    "tags:\n"
    "  type: deep-learning\n"
    "auth_mode: aad_token\n";

/* Azure's model deployment from the same folder (deployment-torch/deployment.yml). */
static const char azure_torch_yml[] =
    "$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json\n"
    "name: mnist-torch-dpl\n"
    "description: A deployment using Torch to solve the MNIST classification dataset.\n"
    "endpoint_name: mnist-batch\n"
    "type: model\n"
    "model:\n"
    "  name: mnist-classifier-torch\n"
    "  path: model\n"
    "code_configuration:\n"
    "  code: code\n"
    "  scoring_script: batch_driver.py\n"
    "environment:\n"
    "  name: batch-torch-py38\n"
    "  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\n"
    "  conda_file: environment/conda.yaml\n"
    "compute: azureml:batch-cluster\n"
    "resources:\n"
    "  instance_count: 1\n"
    "settings:\n"
    "  max_concurrency_per_instance: 2\n"
    "  mini_batch_size: 10\n"
    "  output_action: append_row\n"
    "  output_file_name: predictions.csv\n"
    "  retry_settings:\n"
    "    max_retries: 3\n"
    "    timeout: 30\n"
    "  error_threshold: -1\n"
    "  logging_level: info\n";

/* The older layout (batchDeployment schema): no type, settings at the root. */
static const char azure_legacy_yml[] =
    "$schema: https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json\n"
    "name: mnist-torch-dpl\n"
    "endpoint_name: mnist-batch\n"
    "model:\n"
    "  path: ./mnist/model/\n"
    "code_configuration:\n"
    "  code: ./mnist/code/\n"
    "  scoring_script: digit_identification.py\n"
    "environment:\n"
    "  conda_file: ./mnist/environment/conda.yml\n"
    "  image: mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04:latest\n"
    "compute: azureml:batch-cluster\n"
    "resources:\n"
    "  instance_count: 2\n"
    "max_concurrency_per_instance: 4\n"
    "mini_batch_size: 5\n"
    "output_action: summary_only\n"
    "output_file_name: out.csv\n"
    "retry_settings:\n"
    "  max_retries: 1\n"
    "  timeout: 300\n"
    "error_threshold: 10\n"
    "logging_level: warning\n"
    "environment_variables:\n"
    "  BATCH_SIZE: 32\n";

/* Azure's MLflow sample (heart-classifier-mlflow/deployment-simple): no code. */
static const char azure_mlflow_yml[] =
    "$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json\n"
    "endpoint_name: heart-classifier-batch\n"
    "name: classifier-xgboost-mlflow\n"
    "description: A heart condition classifier based on XGBoost\n"
    "type: model\n"
    "model: azureml:heart-classifier-mlflow@latest\n"
    "compute: azureml:batch-cluster\n"
    "resources:\n"
    "  instance_count: 2\n"
    "settings:\n"
    "  max_concurrency_per_instance: 2\n"
    "  mini_batch_size: 2\n"
    "  output_action: append_row\n"
    "  output_file_name: predictions.csv\n"
    "  retry_settings:\n"
    "    max_retries: 3\n"
    "    timeout: 300\n"
    "  error_threshold: -1\n"
    "  logging_level: info\n";

/* ---- helpers ------------------------------------------------------------- */

static json_t *yaml(const char *text)
{
    struct inf_err err = {0};
    json_t *v = spec_yaml_parse(text, strlen(text), "t.yml", &err);
    if (v == NULL)
        fail_msg("parse failed: %s", err.msg);
    return v;
}

static json_t *endpoint_ok(const char *text, json_t *notes)
{
    struct inf_err err = {0};
    json_t *in = yaml(text);
    json_t *out = spec_batch_endpoint(in, "ep.yml", notes, &err);
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
    json_t *out = spec_batch_endpoint(in, "ep.yml", notes, &err);
    json_decref(in);
    if (out != NULL) {
        json_decref(out);
        fail_msg("endpoint accepted, expected \"%s\"", expect);
    }
    assert_int_equal(err.code, INF_EINVAL);
    assert_contains(err.msg, expect);
    assert_int_equal(strncmp(err.msg, "ep.yml: ", 8), 0);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(json_array_size(notes), 0); /* no notes from a failed pass */
    json_decref(notes);
}

static json_t *deploy_ok(const char *text, enum spec_mode mode, json_t *notes)
{
    struct inf_err err = {0};
    json_t *in = yaml(text);
    json_t *out = spec_batch_deployment(in, "dep.yml", mode, notes, &err);
    json_decref(in);
    if (out == NULL)
        fail_msg("deployment rejected: %s", err.msg);
    return out;
}

/* Validates text expecting failure with a message holding both `expect`
 * and `also` (when not NULL). */
static void deploy_fails_all(const char *text, enum spec_mode mode, const char *expect,
                             const char *also)
{
    struct inf_err err = {0};
    json_t *notes = json_array();
    json_t *in = yaml(text);
    json_t *out = spec_batch_deployment(in, "dep.yml", mode, notes, &err);
    json_decref(in);
    if (out != NULL) {
        json_decref(out);
        fail_msg("deployment accepted, expected \"%s\"", expect);
    }
    assert_int_equal(err.code, INF_EINVAL);
    assert_contains(err.msg, expect);
    if (also != NULL)
        assert_contains(err.msg, also);
    assert_int_equal(strncmp(err.msg, "dep.yml: ", 9), 0);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(json_array_size(notes), 0);
    json_decref(notes);
}

static void deploy_fails_mode(const char *text, enum spec_mode mode, const char *expect)
{
    deploy_fails_all(text, mode, expect, NULL);
}

static void deploy_fails(const char *text, const char *expect)
{
    deploy_fails_all(text, SPEC_FILE, expect, NULL);
}

/* A minimal script deployment followed by `extra`. */
static const char base[] = "name: score\n"
                           "code_configuration:\n"
                           "  code: ./code\n"
                           "  scoring_script: batch_driver.py\n";

static char *with_base(const char *extra)
{
    size_t n = strlen(base) + strlen(extra) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s", base, extra);
    return s;
}

static json_t *base_ok(const char *extra, json_t *notes)
{
    char *text = with_base(extra);
    json_t *out = deploy_ok(text, SPEC_FILE, notes);
    free(text);
    return out;
}

static void base_fails(const char *extra, const char *expect)
{
    char *text = with_base(extra);
    deploy_fails(text, expect);
    free(text);
}

static json_t *at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    return b != NULL ? json_object_get(v, b) : (json_t *)v;
}

static json_int_t int_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = at(obj, a, b);
    if (!json_is_integer(v))
        fail_msg("%s.%s is not an integer", a, b ? b : "");
    return json_integer_value(v);
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = at(obj, a, b);
    if (!json_is_string(v))
        fail_msg("%s.%s is not a string", a, b ? b : "");
    return json_string_value(v);
}

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

static void assert_json(const json_t *got, const char *want_text)
{
    json_error_t jerr;
    json_t *want = json_loads(want_text, 0, &jerr);
    if (want == NULL)
        fail_msg("bad expected JSON: %s", jerr.text);
    if (!json_equal(got, want)) {
        char *s = json_dumps(got, JSON_SORT_KEYS);
        fail_msg("normalised spec differs: %s", s);
    }
    json_decref(want);
}

/* The normalised spec validates to itself, with no notes it did not have. */
static void assert_round_trip(const json_t *d, enum spec_mode mode)
{
    struct inf_err err = {0};
    json_t *again = spec_batch_deployment(d, "dep.json", mode, NULL, &err);
    if (again == NULL)
        fail_msg("re-validation failed: %s", err.msg);
    if (!json_equal(d, again)) {
        char *a = json_dumps(d, JSON_SORT_KEYS), *b = json_dumps(again, JSON_SORT_KEYS);
        fail_msg("re-validation changed the spec:\n%s\n%s", a, b);
    }
    json_decref(again);
}

static const char default_settings[] =
    "{\"max_concurrency_per_instance\": 1, \"mini_batch_size\": 10,"
    " \"retry_settings\": {\"max_retries\": 3, \"timeout\": 30}, \"error_threshold\": -1,"
    " \"logging_level\": \"info\", \"output_action\": \"append_row\","
    " \"output_file_name\": \"predictions.csv\"}";

/* ---- batch endpoint ------------------------------------------------------ */

static void test_endpoint_azure_sample(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *e = endpoint_ok(azure_endpoint_yml, notes);
    assert_json(e, "{\"name\": \"mnist-batch\","
                   " \"description\": \"A batch endpoint for scoring images from the MNIST "
                   "dataset.\","
                   " \"tags\": {\"type\": \"deep-learning\"}, \"auth_mode\": \"aml_token\","
                   " \"defaults\": {\"deployment_name\": \"\"}}");
    assert_int_equal(json_array_size(notes), 1);
    assert_true(has_note(notes, "ep.yml: 'auth_mode: aad_token' is stored as aml_token: inferd's "
                                "own endpoint tokens replace Azure AD tokens"));

    /* The output is valid input and normalises to itself, with no note. */
    struct inf_err err = {0};
    json_t *notes2 = json_array();
    json_t *again = spec_batch_endpoint(e, "ep.json", notes2, &err);
    assert_non_null(again);
    assert_true(json_equal(e, again));
    assert_int_equal(json_array_size(notes2), 0);
    json_decref(again);
    json_decref(notes2);
    json_decref(e);
    json_decref(notes);
}

static void test_endpoint_defaults(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *e = endpoint_ok("name: mybatch\n", notes);
    assert_json(e, "{\"name\": \"mybatch\", \"description\": \"\", \"tags\": {},"
                   " \"auth_mode\": \"aml_token\", \"defaults\": {\"deployment_name\": \"\"}}");
    assert_int_equal(json_array_size(notes), 0);
    json_decref(e);
    json_decref(notes);

    e = endpoint_ok("name: mybatch\nauth_mode: AML_TOKEN\ndescription: 7\n"
                    "defaults:\n  deployment_name: mnist-torch-dpl\n",
                    NULL);
    assert_string_equal(str_at(e, "auth_mode", NULL), "aml_token");
    assert_string_equal(str_at(e, "description", NULL), "7");
    assert_string_equal(str_at(e, "defaults", "deployment_name"), "mnist-torch-dpl");
    json_decref(e);

    /* "defaults:" with nothing, or an empty name, means no default yet. */
    e = endpoint_ok("name: mybatch\ndefaults:\n", NULL);
    assert_string_equal(str_at(e, "defaults", "deployment_name"), "");
    json_decref(e);
    e = endpoint_ok("name: mybatch\ndefaults: {deployment_name: ''}\n", NULL);
    assert_string_equal(str_at(e, "defaults", "deployment_name"), "");
    json_decref(e);
}

static void test_endpoint_errors(void **state)
{
    (void)state;
    endpoint_fails("name: mybatch\nauth_mode: key\n",
                   "ep.yml: auth_mode: key is not available for batch endpoints, which take "
                   "tokens; use aml_token");
    endpoint_fails("name: mybatch\nauth_mode: Key\n", "auth_mode: key is not available");
    endpoint_fails("name: mybatch\nauth_mode: password\n",
                   "ep.yml: auth_mode: must be one of aml_token, aad_token, got 'password'");
    endpoint_fails("name: mybatch\nauth_mode: [a]\n",
                   "ep.yml: auth_mode: must be a string, got a list");
    endpoint_fails("description: no name\n", "ep.yml: name: required: endpoint name");
    endpoint_fails("name: 1batch\n", "ep.yml: endpoint name '1batch' must start with a letter");
    endpoint_fails("name: mybatch\ntraffic: {blue: 100}\n",
                   "ep.yml: unknown key 'traffic' in batch endpoint (accepted: name, "
                   "description, tags, auth_mode, defaults)");
    endpoint_fails("name: mybatch\nauth_mod: aml_token\n",
                   "ep.yml: unknown key 'auth_mod' in batch endpoint (did you mean 'auth_mode'?)");
    endpoint_fails("name: mybatch\ndefaults: blue\n",
                   "ep.yml: defaults: must be a mapping, got 'blue'");
    endpoint_fails("name: mybatch\ndefaults: {deployment: blue}\n",
                   "ep.yml: unknown key 'deployment' in defaults (accepted: deployment_name)");
    endpoint_fails("name: mybatch\ndefaults: {deployment_name: blue--x}\n",
                   "ep.yml: defaults.deployment_name: deployment name 'blue--x' has two dashes");
    endpoint_fails("name: mybatch\ndefaults: {deployment_name: 12}\n",
                   "ep.yml: defaults.deployment_name: must be a string, got 12");
    endpoint_fails("name: mybatch\ntags: [a, b]\n", "ep.yml: tags: must be a mapping, got a list");

    struct inf_err err = {0};
    json_t *s = json_string("x");
    assert_null(spec_batch_endpoint(s, "ep.yml", NULL, &err));
    assert_string_equal(err.msg, "ep.yml: a batch endpoint must be a mapping of keys, got 'x'");
    json_decref(s);
    assert_null(spec_batch_endpoint(NULL, NULL, NULL, &err));
    assert_contains(err.msg, "spec: a batch endpoint must be a mapping of keys");
}

/* ---- batch deployment: Azure's samples ----------------------------------- */

static void test_deployment_azure_torch(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *d = deploy_ok(azure_torch_yml, SPEC_FILE, notes);
    assert_json(
        d, "{\"name\": \"mnist-torch-dpl\", \"endpoint_name\": \"mnist-batch\","
           " \"description\": \"A deployment using Torch to solve the MNIST classification "
           "dataset.\","
           " \"tags\": {}, \"type\": \"model\", \"backend\": \"python\","
           " \"model\": {\"path\": \"model\", \"name\": \"mnist-classifier-torch\"},"
           " \"code_configuration\": {\"code\": \"code\", \"scoring_script\": \"batch_driver.py\"},"
           " \"environment\": {\"name\": \"batch-torch-py38\","
           "     \"conda_file\": \"environment/conda.yaml\","
           "     \"image\": \"mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\"},"
           " \"compute\": \"azureml:batch-cluster\", \"instance_count\": 1,"
           " \"environment_variables\": {},"
           " \"settings\": {\"max_concurrency_per_instance\": 2, \"mini_batch_size\": 10,"
           "     \"retry_settings\": {\"max_retries\": 3, \"timeout\": 30},"
           "     \"error_threshold\": -1, \"logging_level\": \"info\","
           "     \"output_action\": \"append_row\", \"output_file_name\": \"predictions.csv\"}}");
    assert_int_equal(json_array_size(notes), 2);
    assert_true(has_note(notes, "dep.yml: 'compute' is Azure-only and ignored: batch jobs run on "
                                "this machine"));
    assert_true(has_note(notes, "dep.yml: 'environment.image' is ignored"));

    /* Round trip, then as the server sees it after the CLI's uploads. */
    assert_round_trip(d, SPEC_FILE);
    json_object_set_new(json_object_get(d, "model"), "path", json_string("artifact:" HEX64));
    json_object_set_new(json_object_get(d, "code_configuration"), "code",
                        json_string("artifact:" HEX64));
    json_object_set_new(json_object_get(d, "environment"), "conda_file",
                        json_string("name: env\ndependencies: [python=3.11]\n"));
    assert_round_trip(d, SPEC_API);
    json_decref(d);
    json_decref(notes);
}

static void test_deployment_azure_legacy(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *d = deploy_ok(azure_legacy_yml, SPEC_FILE, notes);
    assert_string_equal(str_at(d, "type", NULL), "model");
    assert_string_equal(str_at(d, "backend", NULL), "python");
    assert_int_equal(int_at(d, "instance_count", NULL), 2);
    assert_string_equal(str_at(d, "environment_variables", "BATCH_SIZE"), "32");
    assert_json(json_object_get(d, "settings"),
                "{\"max_concurrency_per_instance\": 4, \"mini_batch_size\": 5,"
                " \"retry_settings\": {\"max_retries\": 1, \"timeout\": 300},"
                " \"error_threshold\": 10, \"logging_level\": \"warning\","
                " \"output_action\": \"summary_only\", \"output_file_name\": \"out.csv\"}");
    /* The legacy keys do not leak to the output's root. */
    assert_null(json_object_get(d, "mini_batch_size"));
    assert_null(json_object_get(d, "retry_settings"));
    assert_null(json_object_get(d, "resources"));
    assert_true(has_note(notes, "'compute' is Azure-only and ignored"));
    assert_round_trip(d, SPEC_FILE);
    json_decref(d);
    json_decref(notes);

    /* The same file in Azure's newer layout normalises to the same spec. */
    json_t *legacy = deploy_ok(azure_legacy_yml, SPEC_FILE, NULL);
    json_t *model_form = deploy_ok(
        "name: mnist-torch-dpl\nendpoint_name: mnist-batch\ntype: model\n"
        "model: {path: ./mnist/model/}\n"
        "code_configuration: {code: ./mnist/code/, scoring_script: digit_identification.py}\n"
        "environment:\n  conda_file: ./mnist/environment/conda.yml\n"
        "  image: mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04:latest\n"
        "compute: azureml:batch-cluster\nresources: {instance_count: 2}\n"
        "settings:\n  max_concurrency_per_instance: 4\n  mini_batch_size: 5\n"
        "  output_action: summary_only\n  output_file_name: out.csv\n"
        "  retry_settings: {max_retries: 1, timeout: 300}\n  error_threshold: 10\n"
        "  logging_level: warning\n  environment_variables: {BATCH_SIZE: 32}\n",
        SPEC_FILE, NULL);
    assert_true(json_equal(legacy, model_form));
    json_decref(legacy);
    json_decref(model_form);
}

static void test_deployment_azure_mlflow(void **state)
{
    (void)state;
    /* As Azure ships it, the model is a registered asset: refused, saying why. */
    deploy_fails(azure_mlflow_yml,
                 "dep.yml: model: 'azureml:heart-classifier-mlflow@latest' refers to a registered "
                 "Azure model; inferd has no model registry yet: set model.path to the model's "
                 "folder or file instead");

    /* With the model's folder: no code, so the server runs it as MLflow. */
    char text[2048];
    const char *model_line = "model: azureml:heart-classifier-mlflow@latest\n";
    const char *at_model = strstr(azure_mlflow_yml, model_line);
    assert_non_null(at_model);
    snprintf(text, sizeof(text),
             "%.*smodel:\n  name: heart-classifier-mlflow\n"
             "  type: mlflow_model\n  path: model\n%s",
             (int)(at_model - azure_mlflow_yml), azure_mlflow_yml, at_model + strlen(model_line));
    json_t *notes = json_array();
    json_t *d = deploy_ok(text, SPEC_FILE, notes);
    assert_string_equal(str_at(d, "backend", NULL), "model");
    assert_null(json_object_get(d, "code_configuration"));
    assert_null(json_object_get(d, "environment"));
    assert_string_equal(str_at(d, "model", "type"), "mlflow_model");
    assert_int_equal(int_at(d, "instance_count", NULL), 2);
    assert_int_equal(int_at(d, "settings", "mini_batch_size"), 2);
    assert_int_equal(int_at(json_object_get(d, "settings"), "retry_settings", "timeout"), 300);
    assert_int_equal(json_array_size(notes), 1);
    assert_round_trip(d, SPEC_FILE);

    /* The server may settle the backend as mlflow; that re-validates. */
    json_object_set_new(d, "backend", json_string("mlflow"));
    assert_round_trip(d, SPEC_FILE);
    json_decref(d);
    json_decref(notes);

    /* A model without a type is left to the server to recognise. */
    d = deploy_ok("name: heart\ntype: model\nmodel: ./model\n", SPEC_FILE, NULL);
    assert_string_equal(str_at(d, "backend", NULL), "model");
    assert_string_equal(str_at(d, "model", "path"), "./model");
    json_decref(d);
}

/* ---- batch deployment: fields -------------------------------------------- */

static void test_deployment_defaults(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *d = base_ok("", notes);
    char want[2048];
    snprintf(want, sizeof(want),
             "{\"name\": \"score\", \"description\": \"\", \"tags\": {}, \"type\": \"model\","
             " \"backend\": \"python\","
             " \"code_configuration\": {\"code\": \"./code\", \"scoring_script\": "
             "\"batch_driver.py\"},"
             " \"instance_count\": 1, \"environment_variables\": {}, \"settings\": %s}",
             default_settings);
    assert_json(d, want);
    assert_int_equal(json_array_size(notes), 0);
    assert_round_trip(d, SPEC_FILE);
    json_decref(d);
    json_decref(notes);

    /* An empty settings: section, or settings: with nothing, is all defaults. */
    d = base_ok("type: model\nsettings: {}\n", NULL);
    assert_json(json_object_get(d, "settings"), default_settings);
    json_decref(d);
    d = base_ok("settings:\nresources:\n", NULL);
    assert_json(json_object_get(d, "settings"), default_settings);
    assert_int_equal(int_at(d, "instance_count", NULL), 1);
    json_decref(d);

    /* Case is forgiven in choices; output uses the listed spelling. */
    d = base_ok("type: Model\nsettings: {logging_level: DEBUG, output_action: Summary_Only}\n",
                NULL);
    assert_string_equal(str_at(d, "type", NULL), "model");
    assert_string_equal(str_at(d, "settings", "logging_level"), "debug");
    assert_string_equal(str_at(d, "settings", "output_action"), "summary_only");
    json_decref(d);

    /* Range ends are accepted. */
    d = base_ok("type: model\nresources: {instance_count: 64}\n"
                "settings:\n  max_concurrency_per_instance: 64\n  mini_batch_size: 100000\n"
                "  retry_settings: {max_retries: 0, timeout: 86400}\n"
                "  error_threshold: 9223372036854775807\n",
                NULL);
    assert_int_equal(int_at(d, "instance_count", NULL), 64);
    json_t *s = json_object_get(d, "settings");
    assert_int_equal(int_at(s, "max_concurrency_per_instance", NULL), 64);
    assert_int_equal(int_at(s, "mini_batch_size", NULL), 100000);
    assert_int_equal(int_at(s, "retry_settings", "max_retries"), 0);
    assert_int_equal(int_at(s, "retry_settings", "timeout"), 86400);
    assert_true(int_at(s, "error_threshold", NULL) == INT64_MAX);
    json_decref(d);
    d = base_ok("type: model\nsettings: {mini_batch_size: 1, retry_settings: {timeout: 1},"
                " error_threshold: 0}\n",
                NULL);
    assert_int_equal(int_at(d, "settings", "error_threshold"), 0);
    assert_int_equal(int_at(d, "settings", "mini_batch_size"), 1);
    json_decref(d);

    /* Unset retry keys keep their defaults next to a set one. */
    d = base_ok("retry_settings: {timeout: 600}\n", NULL);
    assert_int_equal(int_at(json_object_get(d, "settings"), "retry_settings", "max_retries"), 3);
    assert_int_equal(int_at(json_object_get(d, "settings"), "retry_settings", "timeout"), 600);
    json_decref(d);
}

/* Each bad setting, in both layouts: the message names the field the way the
 * file wrote it ("settings.x" under settings:, "x" at the root). */
static void test_deployment_bad_settings(void **state)
{
    (void)state;
    char long_name[300 + 1];
    memset(long_name, 'a', 300);
    long_name[300] = '\0';
    char long_line[400];
    snprintf(long_line, sizeof(long_line), "output_file_name: %s.csv", long_name);

    struct {
        const char *line, *field, *msg;
    } bad[] = {
        {"max_concurrency_per_instance: 0", "max_concurrency_per_instance",
         "must be an integer from 1 to 64, got 0"},
        {"max_concurrency_per_instance: 65", "max_concurrency_per_instance", "got 65"},
        {"max_concurrency_per_instance: '2'", "max_concurrency_per_instance", "got '2'"},
        {"mini_batch_size: 0", "mini_batch_size", "must be an integer from 1 to 100000, got 0"},
        {"mini_batch_size: 100001", "mini_batch_size", "got 100001"},
        {"mini_batch_size: 2.5", "mini_batch_size", "got 2.5"},
        {"mini_batch_size: 99999999999999999999", "mini_batch_size", "got '99999999999999999999'"},
        {"mini_batch_size: -9223372036854775808", "mini_batch_size", "got -9223372036854775808"},
        {"mini_batch_size: [10]", "mini_batch_size", "got a list"},
        {"retry_settings: {max_retries: -1}", "retry_settings.max_retries",
         "must be an integer from 0 to 100, got -1"},
        {"retry_settings: {max_retries: 101}", "retry_settings.max_retries", "got 101"},
        {"retry_settings: {timeout: 0}", "retry_settings.timeout",
         "must be an integer from 1 to 86400, got 0"},
        {"retry_settings: {timeout: 86401}", "retry_settings.timeout", "got 86401"},
        {"retry_settings: {timeout: 30s}", "retry_settings.timeout", "got '30s'"},
        {"retry_settings: 3", "retry_settings", "must be a mapping, got 3"},
        {"error_threshold: -2", "error_threshold",
         "must be -1 (no limit) or the number of failed files to tolerate (0 or more), got -2"},
        {"error_threshold: 0.5", "error_threshold", "got 0.5"},
        {"error_threshold: none", "error_threshold", "got 'none'"},
        {"error_threshold: true", "error_threshold", "got true"},
        {"logging_level: verbose", "logging_level",
         "must be one of debug, info, warning, error, critical, got 'verbose'"},
        {"logging_level: 3", "logging_level", "must be a string, got 3"},
        {"output_action: append", "output_action",
         "must be one of append_row, summary_only, got 'append'"},
        {"output_file_name: out/predictions.csv", "output_file_name",
         "'out/predictions.csv' must be a plain file name, without '/' or '\\'"},
        {"output_file_name: /tmp/p.csv", "output_file_name", "without '/'"},
        {"output_file_name: 'out\\p.csv'", "output_file_name", "'out\\p.csv' must be a plain"},
        {"output_file_name: ..", "output_file_name", "'..' is not a file name"},
        {"output_file_name: .", "output_file_name", "'.' is not a file name"},
        {"output_file_name: ''", "output_file_name", "must not be empty"},
        {"output_file_name: \"p\\t.csv\"", "output_file_name", "contains a control character"},
        {"output_file_name: \"p\\0.csv\"", "output_file_name", "contains a NUL character"},
        {"output_file_name: 12", "output_file_name", "must be a string, got 12"},
        {long_line, "output_file_name", "...' is too long: at most 255 bytes"},
    };
    char text[1024], want[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* type: model, under settings: */
        snprintf(text, sizeof(text), "%stype: model\nsettings:\n  %s\n", base, bad[i].line);
        snprintf(want, sizeof(want), "dep.yml: settings.%s: ", bad[i].field);
        deploy_fails_all(text, SPEC_FILE, want, bad[i].msg);
        /* settings: without type */
        snprintf(text, sizeof(text), "%ssettings:\n  %s\n", base, bad[i].line);
        deploy_fails_all(text, SPEC_FILE, want, bad[i].msg);
        /* legacy, at the root */
        snprintf(text, sizeof(text), "%s%s\n", base, bad[i].line);
        snprintf(want, sizeof(want), "dep.yml: %s: ", bad[i].field);
        deploy_fails_all(text, SPEC_FILE, want, bad[i].msg);
    }

    /* A name of 255 bytes is fine. */
    char ok_line[300];
    snprintf(ok_line, sizeof(ok_line), "output_file_name: %.251s.csv\n", long_name);
    json_t *d = base_ok(ok_line, NULL);
    assert_int_equal(strlen(str_at(d, "settings", "output_file_name")), 255);
    json_decref(d);

    /* Unknown keys, named with where they are. */
    base_fails(
        "type: model\nsettings: {mini_batch_sizes: 2}\n",
        "dep.yml: unknown key 'mini_batch_sizes' in settings (did you mean 'mini_batch_size'?)");
    base_fails("type: model\nsettings: {instance_count: 2}\n",
               "dep.yml: unknown key 'instance_count' in settings (accepted: "
               "environment_variables, max_concurrency_per_instance, mini_batch_size, "
               "retry_settings, error_threshold, logging_level, output_action, output_file_name)");
    base_fails("type: model\nsettings: {retry_settings: {retries: 2}}\n",
               "dep.yml: unknown key 'retries' in settings.retry_settings (accepted: "
               "max_retries, timeout)");
    base_fails("retry_settings: {timeout_s: 2}\n",
               "dep.yml: unknown key 'timeout_s' in retry_settings (did you mean 'timeout'?)");
    base_fails("type: model\nsettings: [mini_batch_size]\n",
               "dep.yml: settings: must be a mapping, got a list");
}

static void test_deployment_layouts(void **state)
{
    (void)state;
    /* type: model with settings at the root: say where they go. */
    base_fails("type: model\nmini_batch_size: 5\n",
               "dep.yml: mini_batch_size: with type: model, move it under settings: "
               "(settings.mini_batch_size)");
    base_fails("type: model\nsettings: {mini_batch_size: 5}\nretry_settings: {timeout: 9}\n",
               "dep.yml: retry_settings: with type: model, move it under settings: "
               "(settings.retry_settings)");
    base_fails("type: model\noutput_file_name: x.csv\n", "(settings.output_file_name)");
    /* No type, but both layouts at once. */
    base_fails("settings: {mini_batch_size: 5}\nerror_threshold: 3\n",
               "dep.yml: error_threshold: this file has a settings: section, so move it there "
               "too (only the legacy layout, without settings:, keeps settings at the root)");

    /* environment_variables and instance_count: either place, not both. */
    json_t *d = base_ok("type: model\nenvironment_variables: {A: 1}\ninstance_count: 3\n", NULL);
    assert_string_equal(str_at(d, "environment_variables", "A"), "1");
    assert_int_equal(int_at(d, "instance_count", NULL), 3);
    json_decref(d);
    base_fails("type: model\nenvironment_variables: {A: 1}\nsettings:\n"
               "  environment_variables: {B: 2}\n",
               "dep.yml: settings.environment_variables: is also given as environment_variables "
               "at the top level; keep one");
    base_fails("resources: {instance_count: 2}\ninstance_count: 2\n",
               "dep.yml: resources.instance_count: is also given as instance_count at the top "
               "level; keep one");
    base_fails("resources: {instance_type: a}\ninstance_type: b\n",
               "dep.yml: resources.instance_type: is also given as instance_type");

    /* Only model deployments: a pipeline deployment says so, not "unknown key". */
    deploy_fails("name: hello-batch-dpl\nendpoint_name: hello-pipeline-batch\ntype: pipeline\n"
                 "component: azureml:hello_batch@latest\n"
                 "settings: {default_compute: batch-cluster}\n",
                 "dep.yml: type: only 'type: model' is supported, got 'pipeline': inferd runs a "
                 "model with an optional scoring script, not pipeline components");
    base_fails("type: pipeline\nmini_batch_size: 3\n", "type: only 'type: model' is supported");
    base_fails("type: 1\n", "dep.yml: type: must be a string, got 1");
    base_fails("type: ''\n", "only 'type: model' is supported, got ''");
}

static void test_deployment_model_and_code(void **state)
{
    (void)state;
    /* Code without a model is fine: a script may not need one. */
    json_t *d = base_ok("", NULL);
    assert_null(json_object_get(d, "model"));
    json_decref(d);
    d = base_ok("model: {path: ./m, type: custom_model, name: m, version: 2}\n", NULL);
    assert_string_equal(str_at(d, "model", "version"), "2");
    assert_string_equal(str_at(d, "backend", NULL), "python");
    json_decref(d);

    deploy_fails("name: score\ndescription: nothing to run\n",
                 "dep.yml: model: required: without code_configuration a batch deployment runs "
                 "an MLflow model; give model.path, or code_configuration with a scoring script");
    deploy_fails("name: score\nmodel:\n", "dep.yml: model: required: without code_configuration");
    deploy_fails("name: score\nmodel: {path: ./m, type: custom_model}\n",
                 "dep.yml: model.type: custom_model needs code_configuration with a scoring "
                 "script; without code, batch deployments run MLflow models (mlflow_model)");
    deploy_fails("name: score\nmodel: {name: m}\n",
                 "dep.yml: model.path: required: the model's folder or file");
    deploy_fails("name: score\nmodel: {path: ./m, type: triton_model}\n",
                 "dep.yml: model.type: triton_model is not supported by inferd yet");
    deploy_fails("name: score\nmodel: {path: ./m, flavour: x}\n",
                 "dep.yml: unknown key 'flavour' in model");
    deploy_fails("name: score\nmodel: {path: 'https://example.com/m.pkl'}\n",
                 "dep.yml: model.path: 'https://example.com/m.pkl' is a URL");

    /* Batch runs Python scripts: a native library is refused, saying so. */
    deploy_fails("name: score\ncode_configuration: {code: ./c, scoring_script: libscore.so}\n",
                 "dep.yml: code_configuration.scoring_script: 'libscore.so' is a native shared "
                 "library; batch deployments run Python scripts (.py) or MLflow models");
    deploy_fails("name: score\ncode_configuration: {code: ./c, scoring_script: score.R}\n",
                 "dep.yml: code_configuration.scoring_script: 'score.R' must be a Python script "
                 "(.py)");
    deploy_fails("name: score\ncode_configuration: {code: ./c, scoring_script: ../s.py}\n",
                 "dep.yml: code_configuration.scoring_script: '../s.py' must not contain '..'");
    deploy_fails("name: score\ncode_configuration: {code: ./c}\n",
                 "dep.yml: code_configuration.scoring_script: required");
    deploy_fails("name: score\ncode_configuration: {code: 'azureml:code:1', "
                 "scoring_script: s.py}\n",
                 "dep.yml: code_configuration.code: 'azureml:code:1' refers to an Azure asset");
    deploy_fails("name: score\ncode_configuration: ./c\n",
                 "dep.yml: code_configuration: must be a mapping, got './c'");

    /* The backend field of a stored spec must match. */
    d = base_ok("backend: python\n", NULL);
    json_decref(d);
    base_fails("backend: native\n",
               "dep.yml: backend: 'native' does not match the deployment, which runs as 'python'");
    base_fails("backend: mlflow\n", "which runs as 'python'");
    deploy_fails("name: score\nmodel: ./m\nbackend: onnx\n",
                 "dep.yml: backend: 'onnx' does not match the deployment, which runs as 'model'");
}

static void test_deployment_environment(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *d =
        base_ok("environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest\n", notes);
    assert_string_equal(str_at(d, "environment", NULL),
                        "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest");
    assert_true(has_note(notes, "is a curated Azure environment; inferd uses this machine's"));
    json_decref(d);
    json_decref(notes);

    base_fails("environment:\n  inference_config:\n"
               "    liveness_route: {port: 8080, path: /}\n"
               "    readiness_route: {port: 8080, path: /}\n"
               "    scoring_route: {port: 8080, path: /score}\n",
               "dep.yml: environment.inference_config: a batch deployment runs a scoring script "
               "or an MLflow model, not a custom server; remove inference_config");
    base_fails("environment: {conda_file: ''}\n",
               "dep.yml: environment.conda_file: must not be empty");
    base_fails("environment: {imag: x}\n",
               "dep.yml: unknown key 'imag' in environment (did you mean 'image'?)");
    base_fails("environment: my-env\n", "dep.yml: environment: must be a mapping");
}

static void test_deployment_api_mode(void **state)
{
    (void)state;
    json_t *d = deploy_ok("name: score\ntype: model\nmodel: {path: 'artifact:" HEX64 "'}\n"
                          "code_configuration: {code: 'artifact:" HEX64 "', "
                          "scoring_script: batch_driver.py}\n",
                          SPEC_API, NULL);
    assert_string_equal(str_at(d, "backend", NULL), "python");
    json_decref(d);

    deploy_fails_mode("name: score\nmodel: ./model\n", SPEC_API,
                      "dep.yml: model: must be an uploaded artifact 'artifact:<64 lowercase hex "
                      "digits>'");
    deploy_fails_mode("name: score\nmodel: {path: 'artifact:" HEX64 "0'}\n", SPEC_API,
                      "dep.yml: model.path: must be an uploaded artifact");
    deploy_fails_mode("name: score\ncode_configuration: {code: ./code, scoring_script: s.py}\n",
                      SPEC_API, "dep.yml: code_configuration.code: must be an uploaded artifact");
    /* The same files are fine as local paths. */
    d = deploy_ok("name: score\nmodel: ./model\n", SPEC_FILE, NULL);
    json_decref(d);
}

static void test_deployment_azure_only_notes(void **state)
{
    (void)state;
    json_t *notes = json_array();
    json_t *d = base_ok("compute: azureml:cpu-cluster\ninstance_type: Standard_DS3_v2\n"
                        "properties: {owner: me}\n",
                        notes);
    assert_string_equal(str_at(d, "compute", NULL), "azureml:cpu-cluster");
    assert_string_equal(str_at(d, "instance_type", NULL), "Standard_DS3_v2");
    assert_string_equal(str_at(d, "properties", "owner"), "me");
    assert_int_equal(json_array_size(notes), 2);
    assert_true(has_note(notes, "dep.yml: 'compute' is Azure-only and ignored"));
    assert_true(has_note(notes, "dep.yml: 'instance_type' is ignored: batch jobs run on this "
                                "machine"));
    assert_round_trip(d, SPEC_FILE);
    json_decref(d);
    json_decref(notes);

    notes = json_array();
    d = base_ok("resources: {instance_count: 3, instance_type: Standard_F4s_v2}\n", notes);
    assert_string_equal(str_at(d, "instance_type", NULL), "Standard_F4s_v2");
    assert_int_equal(int_at(d, "instance_count", NULL), 3);
    assert_true(has_note(notes, "dep.yml: 'resources.instance_type' is ignored"));
    assert_round_trip(d, SPEC_FILE);
    json_decref(d);
    json_decref(notes);

    base_fails("compute: {name: cluster}\n", "dep.yml: compute: must be a string, got a mapping");
    base_fails("resources: {instance_count: 0}\n",
               "dep.yml: resources.instance_count: must be an integer from 1 to 64, got 0");
    base_fails("resources: {instance_count: 65}\n", "resources.instance_count: ");
    base_fails("instance_count: 65\n", "dep.yml: instance_count: must be an integer from 1 to 64");
    base_fails("resources: {instance_count: '2'}\n", "got '2'");
    base_fails("resources: {requests: {cpu: 1}}\n",
               "dep.yml: unknown key 'requests' in resources (accepted: instance_count, "
               "instance_type)");
    base_fails("resources: 2\n", "dep.yml: resources: must be a mapping, got 2");
    /* Online-only keys are unknown here, named with the file. */
    base_fails("request_settings: {request_timeout_ms: 100}\n",
               "dep.yml: unknown key 'request_settings' in batch deployment");
    base_fails("scale_settings: {type: default}\n",
               "dep.yml: unknown key 'scale_settings' in batch deployment");
    base_fails("mini_batch_sise: 3\n",
               "dep.yml: unknown key 'mini_batch_sise' in batch deployment (did you mean "
               "'mini_batch_size'?)");
}

static void test_deployment_env_vars_and_names(void **state)
{
    (void)state;
    json_t *d = base_ok("type: model\nsettings:\n  environment_variables:\n"
                        "    WORKERS: 4\n    DEBUG: true\n    RATIO: 0.5\n    EMPTY:\n",
                        NULL);
    json_t *env = json_object_get(d, "environment_variables");
    assert_string_equal(str_at(env, "WORKERS", NULL), "4");
    assert_string_equal(str_at(env, "DEBUG", NULL), "true");
    assert_string_equal(str_at(env, "RATIO", NULL), "0.5");
    assert_string_equal(str_at(env, "EMPTY", NULL), "");
    assert_null(json_object_get(json_object_get(d, "settings"), "environment_variables"));
    assert_round_trip(d, SPEC_FILE);
    json_decref(d);

    base_fails("type: model\nsettings:\n  environment_variables: {'A=B': x}\n",
               "dep.yml: settings.environment_variables: 'A=B' is not a valid variable name");
    base_fails("type: model\nsettings:\n  environment_variables: {A: [1]}\n",
               "dep.yml: settings.environment_variables.A: must be text, got a list");
    base_fails("environment_variables: {A: {b: 1}}\n",
               "dep.yml: environment_variables.A: must be text, got a mapping");
    base_fails("environment_variables: [A=1]\n",
               "dep.yml: environment_variables: must be a mapping, got a list");

    /* Names: the deployment's is required, the endpoint's optional. */
    d = base_ok("endpoint_name: mnist-batch\ntags: {stage: 1}\ndescription: d\n", NULL);
    assert_string_equal(str_at(d, "endpoint_name", NULL), "mnist-batch");
    assert_string_equal(str_at(d, "tags", "stage"), "1");
    json_decref(d);
    deploy_fails("model: ./m\n", "dep.yml: name: required: deployment name");
    deploy_fails("name: s\nmodel: ./m\n", "dep.yml: deployment name 's' is too short");
    deploy_fails("name: score\nendpoint_name: 9lives\nmodel: ./m\n",
                 "dep.yml: endpoint name '9lives' must start with a letter");
    deploy_fails("name: [score]\nmodel: ./m\n", "dep.yml: name: must be a string, got a list");

    struct inf_err err = {0};
    json_t *s = json_pack("[i]", 1);
    assert_null(spec_batch_deployment(s, "dep.yml", SPEC_FILE, NULL, &err));
    assert_string_equal(err.msg,
                        "dep.yml: a batch deployment must be a mapping of keys, got a list");
    json_decref(s);

    /* A huge unknown key is cut short in the message. */
    char key[2001];
    memset(key, 'k', 2000);
    key[2000] = '\0';
    json_t *in = json_pack("{s:s, s:s, s:i}", "name", "score", "model", "./m", key, 1);
    assert_null(spec_batch_deployment(in, "dep.yml", SPEC_FILE, NULL, &err));
    assert_contains(err.msg, "...' in batch deployment");
    assert_true(strlen(err.msg) < 300);
    json_decref(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_azure_sample),
        cmocka_unit_test(test_endpoint_defaults),
        cmocka_unit_test(test_endpoint_errors),
        cmocka_unit_test(test_deployment_azure_torch),
        cmocka_unit_test(test_deployment_azure_legacy),
        cmocka_unit_test(test_deployment_azure_mlflow),
        cmocka_unit_test(test_deployment_defaults),
        cmocka_unit_test(test_deployment_bad_settings),
        cmocka_unit_test(test_deployment_layouts),
        cmocka_unit_test(test_deployment_model_and_code),
        cmocka_unit_test(test_deployment_environment),
        cmocka_unit_test(test_deployment_api_mode),
        cmocka_unit_test(test_deployment_azure_only_notes),
        cmocka_unit_test(test_deployment_env_vars_and_names),
    };
    return cmocka_run_group_tests_name("spec_batch", tests, NULL, NULL);
}
