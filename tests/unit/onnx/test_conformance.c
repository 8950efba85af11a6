/*
 * The ONNX specification's own operator tests (python3-onnx's node test
 * cases with their numpy-computed outputs) for every operator the engine
 * supports. tests/onnx/make_conformance.py writes them at build time into
 * <build>/onnx-conformance (the build directory this binary lives in), or
 * $ONNX_CONFORMANCE_DIR; the few cases left out, with reasons, are listed
 * in its SKIPPED file. Tolerances are ONNX's defaults (rtol 1e-3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <unistd.h>

#include "onnx_case.h"

/* <build>/onnx-conformance, from this binary's own path
 * (<build>/tests/unit/onnx/test_conformance). */
static char *conformance_dir(void)
{
    const char *env = getenv("ONNX_CONFORMANCE_DIR");
    if (env != NULL)
        return inf_strdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    const char *suffix = "/tests/unit/onnx/test_conformance";
    size_t len = strlen(exe), slen = strlen(suffix);
    if (len <= slen || strcmp(exe + len - slen, suffix) != 0)
        return NULL;
    exe[len - slen] = '\0';
    return inf_asprintf("%s/onnx-conformance", exe);
}

static void onnx_node_tests_pass(void **state)
{
    (void)state;
    char *dir = conformance_dir();
    assert_non_null(dir);
    int count;
    int failures = case_run_all(dir, 1e-3, 1e-6, &count);
    if (failures < 0)
        printf("# %s is missing: build it with make (tests/onnx/make_conformance.py)\n", dir);
    free(dir);
    assert_int_equal(failures, 0);
    assert_true(count > 150);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(onnx_node_tests_pass),
    };
    return cmocka_run_group_tests_name("onnx_conformance", tests, NULL, NULL);
}
