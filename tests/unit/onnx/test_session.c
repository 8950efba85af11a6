/*
 * Unit tests for ONNX sessions and plans: input validation (errors name the
 * input), re-planning for new shapes with a bounded plan cache, stable
 * output memory on the steady path, buffer sharing in the arena,
 * data-dependent errors at run (an index out of range), and one model
 * shared by sessions on several threads. Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>

#include "onnx_case.h"

#define DATA "tests/onnx/data"

static struct onnx_model *load(const char *path)
{
    struct onnx_model *m = NULL;
    struct inf_err err = {0};
    int rc = onnx_model_load(path, &m, &err);
    if (rc != 0)
        printf("# %s\n", err.msg);
    assert_int_equal(rc, 0);
    return m;
}

static struct onnx_tensor float_input(float *data, int64_t n, int64_t k)
{
    struct onnx_tensor t = {.dtype = ONNX_DTYPE_FLOAT, .rank = 2, .dims = {n, k}, .data = data};
    return t;
}

static void inputs_are_validated_by_name(void **state)
{
    (void)state;
    struct onnx_model *m = load(DATA "/models/mlp/model.onnx");
    struct onnx_session *s;
    struct inf_err err = {0};
    assert_int_equal(onnx_session_new(m, &s, &err), 0);
    float x[2 * 64] = {0};
    struct onnx_tensor in = float_input(x, 2, 64), out;

    assert_int_equal(onnx_session_run(s, &in, 0, &out, 1, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "takes 1 inputs, got 0"));
    assert_int_equal(onnx_session_run(s, &in, 1, &out, 2, &err), INF_EINVAL);

    struct onnx_tensor bad = in;
    bad.dtype = ONNX_DTYPE_INT64;
    assert_int_equal(onnx_session_run(s, &bad, 1, &out, 1, &err), INF_EINVAL);
    assert_string_equal(err.msg, "input 'x': expected float data, got int64");
    bad = float_input(x, 2, 63);
    assert_int_equal(onnx_session_run(s, &bad, 1, &out, 1, &err), INF_EINVAL);
    assert_string_equal(err.msg, "input 'x': dimension 1 must be 64, got 63");
    bad = in;
    bad.rank = 3;
    bad.dims[2] = 1;
    assert_int_equal(onnx_session_run(s, &bad, 1, &out, 1, &err), INF_EINVAL);
    assert_string_equal(err.msg, "input 'x': expected rank 2, got 3");
    bad = float_input(x, -2, 64);
    assert_int_equal(onnx_session_run(s, &bad, 1, &out, 1, &err), INF_EINVAL);
    bad = float_input(NULL, 2, 64);
    assert_int_equal(onnx_session_run(s, &bad, 1, &out, 1, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "has no data"));
    bad = float_input(x, INT64_C(1) << 40, INT64_C(1) << 40);
    bad.dims[1] = 64;
    assert_int_equal(onnx_session_run(s, &bad, 1, &out, 1, &err), INF_ETOOBIG);

    /* still usable after errors */
    assert_int_equal(onnx_session_run(s, &in, 1, &out, 1, &err), 0);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.dims[0], 2);
    assert_int_equal(out.dims[1], 10);
    onnx_session_free(s);
    onnx_session_free(NULL);
    onnx_model_free(m);
}

/* Runs the MLP on batches of several sizes (more than the plan cache holds,
 * revisiting old sizes) and checks each row against a batch-1 run of it. */
static void new_shapes_replan_and_agree(void **state)
{
    (void)state;
    struct onnx_model *m = load(DATA "/models/mlp/model.onnx");
    struct onnx_session *s;
    struct inf_err err = {0};
    assert_int_equal(onnx_session_new(m, &s, &err), 0);
    enum { MAXB = 17 };
    float x[MAXB * 64], single[MAXB][10];
    for (int i = 0; i < MAXB * 64; i++)
        x[i] = (float)((i * 7919) % 113) / 113.0f - 0.5f;
    for (int r = 0; r < MAXB; r++) {
        struct onnx_tensor in = float_input(x + r * 64, 1, 64), out;
        assert_int_equal(onnx_session_run(s, &in, 1, &out, 1, &err), 0);
        memcpy(single[r], out.data, sizeof(single[r]));
    }
    static const int batches[] = {3, 17, 1, 5, 8, 2, 3, 17, 9, 1};
    for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
        int n = batches[b];
        struct onnx_tensor in = float_input(x, n, 64), out;
        assert_int_equal(onnx_session_run(s, &in, 1, &out, 1, &err), 0);
        assert_int_equal(out.dims[0], n);
        const float *y = out.data;
        for (int r = 0; r < n; r++)
            for (int j = 0; j < 10; j++)
                assert_float_equal(y[r * 10 + j], single[r][j], 1e-5);
    }
    onnx_session_free(s);
    onnx_model_free(m);
}

static void steady_runs_reuse_memory(void **state)
{
    (void)state;
    struct onnx_model *m = load(DATA "/models/cnn/model.onnx");
    struct onnx_session *s;
    struct inf_err err = {0};
    assert_int_equal(onnx_session_new(m, &s, &err), 0);
    float x[3 * 16 * 16];
    for (int i = 0; i < 3 * 16 * 16; i++)
        x[i] = (float)(i % 17) / 17.0f;
    struct onnx_tensor in = {.dtype = ONNX_DTYPE_FLOAT,
                             .rank = 4,
                             .dims = {1, 3, 16, 16},
                             .data = x},
                       out;
    assert_int_equal(onnx_session_run(s, &in, 1, &out, 1, &err), 0);
    void *first = out.data;
    float y0[10];
    memcpy(y0, out.data, sizeof(y0));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(onnx_session_run(s, &in, 1, &out, 1, &err), 0);
        assert_ptr_equal(out.data, first);
        assert_memory_equal(out.data, y0, sizeof(y0));
    }
    onnx_session_free(s);
    onnx_model_free(m);
}

/* Buffers whose lifetimes do not overlap share the arena (the transformer
 * needs no im2col scratch, so the arena is intermediates only). */
static void arena_is_smaller_than_all_intermediates(void **state)
{
    (void)state;
    struct onnx_model *m = load(DATA "/models/transformer/model.onnx");
    struct onnx_tensor in[2] = {{.dtype = ONNX_DTYPE_INT64, .rank = 2, .dims = {2, 16}},
                                {.dtype = ONNX_DTYPE_INT64, .rank = 2, .dims = {2, 16}}};
    struct onnx_plan *p;
    struct inf_err err = {0};
    assert_int_equal(onnx_plan_build(m, in, &p, &err), 0);
    size_t total = 0;
    for (int v = 0; v < m->n_values; v++) {
        const struct onnx_value *val = &m->values[v];
        const struct onnx_tensor *t = onnx_plan_value(p, v);
        if (!(val->flags & (ONNX_VALUE_CONST | ONNX_VALUE_INPUT)) && val->producer >= 0 &&
            t->rank >= 0)
            total += onnx_tensor_bytes(t);
    }
    size_t arena = onnx_plan_arena_bytes(p);
    assert_true(total > 0);
    assert_true(arena < total / 4);
    onnx_plan_free(p);
    onnx_model_free(m);
}

static void out_of_range_index_fails_the_run(void **state)
{
    (void)state;
    struct onnx_model *m = load(DATA "/models/transformer/model.onnx");
    struct onnx_session *s;
    struct inf_err err = {0};
    assert_int_equal(onnx_session_new(m, &s, &err), 0);
    int64_t ids[4] = {1, 2, 3, 4}, mask[4] = {1, 1, 1, 1};
    struct onnx_tensor in[2] = {
        {.dtype = ONNX_DTYPE_INT64, .rank = 2, .dims = {1, 4}, .data = ids},
        {.dtype = ONNX_DTYPE_INT64, .rank = 2, .dims = {1, 4}, .data = mask},
    };
    struct onnx_tensor out[2];
    assert_int_equal(onnx_session_run(s, in, 2, out, 2, &err), 0);
    ids[2] = 50; /* the vocabulary has 50 entries */
    assert_int_equal(onnx_session_run(s, in, 2, out, 2, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "(Gather)"));
    assert_non_null(strstr(err.msg, "index 50 is out of range"));
    ids[2] = -51;
    assert_int_equal(onnx_session_run(s, in, 2, out, 2, &err), INF_EINVAL);
    ids[2] = -50; /* negative indices count from the end */
    assert_int_equal(onnx_session_run(s, in, 2, out, 2, &err), 0);
    /* a sequence longer than the position table (16) */
    int64_t long_ids[17] = {0}, long_mask[17] = {0};
    in[0].dims[1] = in[1].dims[1] = 17;
    in[0].data = long_ids;
    in[1].data = long_mask;
    assert_int_not_equal(onnx_session_run(s, in, 2, out, 2, &err), 0);
    onnx_session_free(s);
    onnx_model_free(m);
}

struct worker {
    const struct onnx_model *m;
    int64_t seq;
    float result[3];
    int rc;
};

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    struct onnx_session *s;
    struct inf_err err = {0};
    w->rc = onnx_session_new(w->m, &s, &err);
    if (w->rc != 0)
        return NULL;
    int64_t ids[16], mask[16];
    for (int i = 0; i < 16; i++) {
        ids[i] = (i * 7) % 50;
        mask[i] = 1;
    }
    struct onnx_tensor in[2] = {
        {.dtype = ONNX_DTYPE_INT64, .rank = 2, .dims = {1, w->seq}, .data = ids},
        {.dtype = ONNX_DTYPE_INT64, .rank = 2, .dims = {1, w->seq}, .data = mask},
    };
    struct onnx_tensor out[2];
    for (int i = 0; i < 20 && w->rc == 0; i++)
        w->rc = onnx_session_run(s, in, 2, out, 2, &err);
    if (w->rc == 0)
        memcpy(w->result, out[1].data, sizeof(w->result));
    onnx_session_free(s);
    return NULL;
}

static void sessions_share_a_model_across_threads(void **state)
{
    (void)state;
    struct onnx_model *m = load(DATA "/models/transformer/model.onnx");
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.m = m, .seq = 8 + (i % 2) * 8};
        assert_int_equal(pthread_create(&t[i], NULL, run_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    assert_memory_equal(w[0].result, w[2].result, sizeof(w[0].result));
    assert_memory_equal(w[1].result, w[3].result, sizeof(w[1].result));
    onnx_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inputs_are_validated_by_name),
        cmocka_unit_test(new_shapes_replan_and_agree),
        cmocka_unit_test(steady_runs_reuse_memory),
        cmocka_unit_test(arena_is_smaller_than_all_intermediates),
        cmocka_unit_test(out_of_range_index_fails_the_run),
        cmocka_unit_test(sessions_share_a_model_across_threads),
    };
    return cmocka_run_group_tests_name("onnx_session", tests, NULL, NULL);
}
