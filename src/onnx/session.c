/*
 * session: running a model. A session keeps the plans for the last few input
 * shapes it saw (most recent first) and one arena sized for the largest, so a
 * run with shapes seen before allocates nothing. One thread at a time uses a
 * session; many sessions may share one model.
 */
#include "onnx/onnx_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Plans kept per session: e.g. batch 1 and a few batch sizes. */
#define SESSION_MAX_PLANS 4

struct onnx_session {
    const struct onnx_model *m;
    struct onnx_plan *plans[SESSION_MAX_PLANS]; /* most recently used first */
    int n_plans;
    void *arena;
    size_t arena_bytes;
};

/* Makes p the most recent plan, evicting the oldest when full. */
static void remember(struct onnx_session *s, struct onnx_plan *p)
{
    if (s->n_plans == SESSION_MAX_PLANS)
        onnx_plan_free(s->plans[--s->n_plans]);
    memmove(&s->plans[1], &s->plans[0], sizeof(s->plans[0]) * (size_t)s->n_plans);
    s->plans[0] = p;
    s->n_plans++;
}

static void grow_arena(struct onnx_session *s, size_t bytes)
{
    if (s->arena != NULL && bytes <= s->arena_bytes)
        return;
    free(s->arena);
    s->arena = onnx_alloc(bytes);
    s->arena_bytes = bytes;
}

/* The plan for these inputs: cached, or built (which validates them). */
static int plan_for(struct onnx_session *s, const struct onnx_tensor *inputs,
                    struct onnx_plan **out, struct inf_err *err)
{
    for (int i = 0; i < s->n_plans; i++) {
        if (onnx_plan_matches(s->plans[i], inputs)) {
            struct onnx_plan *p = s->plans[i];
            memmove(&s->plans[1], &s->plans[0], sizeof(s->plans[0]) * (size_t)i);
            s->plans[0] = p;
            *out = p;
            return 0;
        }
    }
    struct onnx_plan *p;
    int rc = onnx_plan_build(s->m, inputs, &p, err);
    if (rc != 0)
        return rc;
    remember(s, p);
    grow_arena(s, onnx_plan_arena_bytes(p));
    *out = p;
    return 0;
}

int onnx_session_new(const struct onnx_model *m, struct onnx_session **out, struct inf_err *err)
{
    struct onnx_session *s = inf_calloc(1, sizeof(*s));
    s->m = m;
    *out = NULL;
    bool is_static = true;
    struct onnx_tensor *in = inf_calloc(m->n_inputs + 1, sizeof(*in));
    for (size_t i = 0; i < m->n_inputs; i++) {
        const struct onnx_io_desc *d = &m->input_desc[i];
        in[i].dtype = d->dtype;
        in[i].rank = d->rank;
        is_static &= d->rank >= 0 && !(m->values[m->inputs[i]].flags & ONNX_VALUE_SHAPE);
        for (int k = 0; k < d->rank; k++) {
            in[i].dims[k] = d->dims[k];
            is_static &= d->dims[k] >= 0;
        }
    }
    int rc = 0;
    if (is_static) {
        struct onnx_plan *p;
        rc = plan_for(s, in, &p, err);
    }
    free(in);
    if (rc != 0) {
        onnx_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int onnx_session_run(struct onnx_session *s, const struct onnx_tensor *inputs, size_t n_inputs,
                     struct onnx_tensor *outputs, size_t n_outputs, struct inf_err *err)
{
    const struct onnx_model *m = s->m;
    if (n_inputs != m->n_inputs)
        return inf_err_set(err, INF_EINVAL, "the model takes %zu inputs, got %zu", m->n_inputs,
                           n_inputs);
    if (n_outputs != m->n_outputs)
        return inf_err_set(err, INF_EINVAL, "the model has %zu outputs, asked for %zu",
                           m->n_outputs, n_outputs);
    for (size_t i = 0; i < n_inputs; i++)
        if (inputs[i].data == NULL)
            return inf_err_set(err, INF_EINVAL, "input '%s' has no data", m->input_desc[i].name);
    struct onnx_plan *p;
    int rc = plan_for(s, inputs, &p, err);
    if (rc != 0)
        return rc;
    return onnx_plan_run(p, s->arena, inputs, outputs, err);
}

void onnx_session_free(struct onnx_session *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n_plans; i++)
        onnx_plan_free(s->plans[i]);
    free(s->arena);
    free(s);
}
