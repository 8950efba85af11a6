/*
 * fuse: load-time rewrites that save whole passes over activations:
 *   Conv -> BatchNormalization   the normalisation folded into W and B
 *   MatMul -> Add(constant [N])  the bias added by the product (beta = 1)
 *   x * 0.5 * (1 + Erf(x / sqrt 2))  one Gelu node (the exact GELU)
 *   Conv/Gemm/MatMul/Add -> Relu, Conv/Gemm/MatMul -> Clip(constant bounds),
 *   Gemm/MatMul -> Gelu          the activation applied by the producer
 * and then packs the constant weights of MatMul, Gemm and Conv for gemm.c.
 * A rewrite applies only when the intermediate value has no other reader
 * and is not a graph output, so no observable value changes. Runs at load,
 * on the loading thread.
 */
#include "onnx/onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct fuse_ctx {
    struct onnx_model *m;
    int n_values; /* size of uses/consumer (values added later are constants) */
    int *uses;
    int *consumer; /* the last node reading each value */
};

static bool is_op(const struct onnx_node *n, const char *name)
{
    return n->op != NULL && strcmp(n->op->name, name) == 0;
}

static const struct onnx_tensor *const_of(const struct onnx_model *m, int v)
{
    if (v < 0 || !(m->values[v].flags & ONNX_VALUE_CONST))
        return NULL;
    return &m->values[v].t;
}

static bool const_float(const struct onnx_model *m, int v, int64_t numel)
{
    const struct onnx_tensor *t = const_of(m, v);
    return t != NULL && t->dtype == ONNX_DTYPE_FLOAT &&
           (numel < 0 || onnx_tensor_numel(t) == numel);
}

/* The node that alone reads value v, when v is private to it. */
static struct onnx_node *sole_reader(const struct fuse_ctx *c, int v)
{
    if (v < 0 || v >= c->n_values || c->uses[v] != 1 || (c->m->values[v].flags & ONNX_VALUE_OUTPUT))
        return NULL;
    struct onnx_node *r = &c->m->nodes[c->consumer[v]];
    return r->op != NULL ? r : NULL;
}

/* A new constant float tensor value named after its node. */
static int new_const(struct onnx_model *m, const char *node, const char *what,
                     const struct onnx_tensor *shape, float *data)
{
    char *name = inf_asprintf("%s/%s", node, what);
    int v = onnx_model_add_value(m, name);
    free(name);
    struct onnx_tensor t = *shape;
    onnx_model_set_const(m, v, &t, data);
    return v;
}

/* Conv followed by BatchNormalization: scale each output channel's weights
 * and shift its bias. */
static void conv_bn(struct fuse_ctx *c, struct onnx_node *conv)
{
    struct onnx_model *m = c->m;
    struct onnx_node *bn = sole_reader(c, conv->out[0]);
    const struct onnx_tensor *w = const_of(m, conv->in[1]);
    if (bn == NULL || !is_op(bn, "BatchNormalization") || bn->in[0] != conv->out[0] || w == NULL ||
        w->dtype != ONNX_DTYPE_FLOAT || w->rank < 3)
        return;
    int64_t mch = w->dims[0];
    bool has_b = conv->n_in > 2 && conv->in[2] >= 0;
    if (has_b && !const_float(m, conv->in[2], mch))
        return;
    for (int i = 1; i < 5; i++)
        if (!const_float(m, bn->in[i], mch))
            return;
    const float *scale = m->values[bn->in[1]].t.data, *beta = m->values[bn->in[2]].t.data;
    const float *mean = m->values[bn->in[3]].t.data, *var = m->values[bn->in[4]].t.data;
    const float *b = has_b ? m->values[conv->in[2]].t.data : NULL;
    int64_t per = onnx_tensor_numel(w) / (mch > 0 ? mch : 1);
    float *nw = onnx_alloc(onnx_tensor_bytes(w));
    float *nb = onnx_alloc(sizeof(float) * (size_t)(mch > 0 ? mch : 1));
    const float *ow = w->data;
    for (int64_t o = 0; o < mch; o++) {
        float s = scale[o] / sqrtf(var[o] + bn->p.norm.epsilon);
        for (int64_t i = 0; i < per; i++)
            nw[o * per + i] = ow[o * per + i] * s;
        nb[o] = ((b != NULL ? b[o] : 0.0f) - mean[o]) * s + beta[o];
    }
    struct onnx_tensor wshape = *w, bshape = {.dtype = ONNX_DTYPE_FLOAT, .rank = 1};
    bshape.dims[0] = mch;
    conv->in[1] = new_const(m, conv->name, "W+bn", &wshape, nw);
    conv->in[2] = new_const(m, conv->name, "B+bn", &bshape, nb);
    conv->n_in = 3;
    conv->out[0] = bn->out[0];
    bn->op = NULL;
}

/* MatMul by a constant [K, N] followed by Add of a constant [N]. */
static void matmul_bias(struct fuse_ctx *c, struct onnx_node *mm)
{
    struct onnx_model *m = c->m;
    const struct onnx_tensor *b = const_of(m, mm->in[1]);
    struct onnx_node *add = sole_reader(c, mm->out[0]);
    if (mm->n_in != 2 || b == NULL || b->rank != 2 || add == NULL || !is_op(add, "Add") ||
        add->in[0] == add->in[1])
        return;
    int bias = add->in[0] == mm->out[0] ? add->in[1] : add->in[0];
    const struct onnx_tensor *t = const_of(m, bias);
    int64_t n = b->dims[1];
    if (t == NULL || t->dtype != ONNX_DTYPE_FLOAT || t->rank < 1 || t->dims[t->rank - 1] != n ||
        onnx_tensor_numel(t) != n)
        return;
    mm->in[2] = bias;
    mm->n_in = 3;
    mm->out[0] = add->out[0];
    add->op = NULL;
}

/* The value of a constant float scalar (one element), or NAN. */
static float const_scalar(const struct onnx_model *m, int v)
{
    return const_float(m, v, 1) ? *(const float *)m->values[v].t.data : NAN;
}

static bool near(float a, float b)
{
    return fabsf(a - b) <= 1e-4f * fabsf(b);
}

/* For a binary node with one constant scalar operand: the other input, and
 * the scalar in *c; -1 otherwise. */
static int with_scalar(const struct onnx_model *m, const struct onnx_node *n, float *c)
{
    if (n == NULL || n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0)
        return -1;
    if (!isnan(*c = const_scalar(m, n->in[1])))
        return n->in[0];
    if (!isnan(*c = const_scalar(m, n->in[0])))
        return n->in[1];
    return -1;
}

/* The exact GELU as exporters spell it, around an Erf node:
 *   x * (1 + erf(x / sqrt 2)) * 0.5       (PyTorch)
 *   (x * 0.5) * (1 + erf(x / sqrt 2))     (others)
 * with x / sqrt 2 also written x * (1 / sqrt 2). The last Mul becomes a
 * Gelu node reading x; the rest is dropped. */
static void gelu(struct fuse_ctx *c, struct onnx_node *erf, const struct onnx_op *gelu_op)
{
    struct onnx_model *m = c->m;
    float k;
    int d = erf->in[0];
    if (d < 0 || m->values[d].producer < 0)
        return;
    struct onnx_node *scale = &m->nodes[m->values[d].producer];
    int x = with_scalar(m, scale, &k);
    if (x < 0 || sole_reader(c, d) != erf ||
        !((is_op(scale, "Div") && scale->in[1] != x && near(k, 1.41421356f)) ||
          (is_op(scale, "Mul") && near(k, 0.70710678f))))
        return;
    struct onnx_node *add = sole_reader(c, erf->out[0]);
    if (add == NULL || !is_op(add, "Add") || with_scalar(m, add, &k) != erf->out[0] ||
        !near(k, 1.0f))
        return;
    struct onnx_node *mul = sole_reader(c, add->out[0]);
    if (mul == NULL || !is_op(mul, "Mul") || mul->n_in != 2)
        return;
    int other = mul->in[0] == add->out[0] ? mul->in[1] : mul->in[0];
    struct onnx_node *last, *half = NULL;
    if (other == x) {
        last = sole_reader(c, mul->out[0]);
        if (last == NULL || !is_op(last, "Mul") || with_scalar(m, last, &k) != mul->out[0] ||
            !near(k, 0.5f))
            return;
    } else {
        half = other >= 0 && m->values[other].producer >= 0 ? &m->nodes[m->values[other].producer]
                                                            : NULL;
        if (half == NULL || !is_op(half, "Mul") || with_scalar(m, half, &k) != x ||
            !near(k, 0.5f) || sole_reader(c, other) != mul)
            return;
        last = mul;
    }
    last->op = gelu_op;
    last->p.ew = (struct onnx_ew_params){.kind = ONNX_EW_GELU};
    last->n_in = 1;
    last->in[0] = x;
    scale->op = erf->op = add->op = NULL;
    if (last != mul)
        mul->op = NULL;
    if (half != NULL)
        half->op = NULL;
    /* x now has this one reader, which lets its producer take the GELU. */
    if (x < c->n_values) {
        c->uses[x] = 1 + ((m->values[x].flags & ONNX_VALUE_OUTPUT) ? 1 : 0);
        c->consumer[x] = (int)(last - m->nodes);
    }
}

/* The activation of node r (Relu, or Clip with known float bounds). */
static bool activation_of(const struct onnx_model *m, const struct onnx_node *r,
                          struct onnx_act *act)
{
    if (is_op(r, "Relu")) {
        act->kind = ONNX_ACT_RELU;
        return true;
    }
    if (is_op(r, "Gelu")) {
        act->kind = ONNX_ACT_GELU;
        return true;
    }
    if (!is_op(r, "Clip"))
        return false;
    act->kind = ONNX_ACT_CLIP;
    act->lo = -INFINITY;
    act->hi = INFINITY;
    if (r->p.ew.has_attr_bounds) {
        act->lo = r->p.ew.lo;
        act->hi = r->p.ew.hi;
        return true;
    }
    for (int i = 1; i < r->n_in; i++) {
        if (r->in[i] < 0)
            continue;
        if (!const_float(m, r->in[i], 1))
            return false;
        float v = *(const float *)m->values[r->in[i]].t.data;
        if (i == 1)
            act->lo = v;
        else
            act->hi = v;
    }
    return true;
}

static void activation(struct fuse_ctx *c, struct onnx_node *n)
{
    struct onnx_act *slot = NULL;
    bool float_only = true;
    if (is_op(n, "Conv"))
        slot = &n->p.conv.act;
    else if (is_op(n, "Gemm") || is_op(n, "MatMul"))
        slot = &n->p.gemm.act;
    else if (is_op(n, "Add")) {
        slot = &n->p.ew.act;
        float_only = false; /* Add may be integer: only Relu is fused there */
    }
    if (slot == NULL || slot->kind != ONNX_ACT_NONE)
        return;
    struct onnx_node *r = sole_reader(c, n->out[0]);
    struct onnx_act act;
    if (r == NULL || r->in[0] != n->out[0] || !activation_of(c->m, r, &act) ||
        (!float_only && act.kind != ONNX_ACT_RELU))
        return;
    *slot = act;
    n->out[0] = r->out[0];
    r->op = NULL;
}

/* A new constant whose data is a packed copy of value w's (same shape). */
static int packed_const(struct onnx_model *m, const struct onnx_node *n, int w, float *data)
{
    struct onnx_tensor shape = m->values[w].t;
    return new_const(m, n->name, "packed", &shape, data);
}

/* Packs constant weights into gemm.c's panels: MatMul/Gemm B (Gemm's transB
 * and alpha applied), Conv W per group as W^T for convgemm.c (depthwise
 * convolutions keep their direct kernel). The originals go when nothing
 * else reads them (prune). */
static void pack_weights(struct onnx_model *m, struct onnx_node *n, enum onnx_gemm_isa isa)
{
    if (n->n_in < 2)
        return;
    const struct onnx_tensor *w = const_of(m, n->in[1]);
    if (w == NULL || w->dtype != ONNX_DTYPE_FLOAT)
        return;
    if (is_op(n, "MatMul") && w->rank == 2) {
        float *packed = onnx_alloc(onnx_gemm_packed_b_bytes(w->dims[0], w->dims[1]));
        onnx_gemm_pack_b(w->data, w->dims[0], w->dims[1], false, 1.0f, packed);
        n->in[1] = packed_const(m, n, n->in[1], packed);
        n->p.gemm.packed = true;
        n->p.gemm.isa = isa;
    } else if (is_op(n, "Gemm") && w->rank == 2 && !n->p.gemm.trans_a) {
        struct onnx_gemm_params *p = &n->p.gemm;
        int64_t k = p->trans_b ? w->dims[1] : w->dims[0],
                cols = p->trans_b ? w->dims[0] : w->dims[1];
        float *packed = onnx_alloc(onnx_gemm_packed_b_bytes(k, cols));
        onnx_gemm_pack_b(w->data, k, cols, p->trans_b, p->alpha, packed);
        struct onnx_tensor shape = *w;
        shape.dims[0] = k;
        shape.dims[1] = cols;
        n->in[1] = new_const(m, n->name, "packed", &shape, packed);
        p->trans_b = false;
        p->alpha = 1.0f;
        p->packed = true;
        p->isa = isa;
    } else if (is_op(n, "Conv") && w->rank >= 3) {
        /* Per group, W's [mg, K] block as B = W^T: K x mg panels. */
        struct onnx_conv_params *p = &n->p.conv;
        int64_t mch = w->dims[0], kk = onnx_tensor_numel(w) / (mch > 0 ? mch : 1);
        if (p->group < 1 || mch % p->group != 0 || (w->dims[1] == 1 && p->group > 1))
            return; /* depthwise keeps its direct kernel */
        int64_t mg = mch / p->group;
        size_t group_bytes = onnx_gemm_packed_b_bytes(kk, mg);
        char *packed = onnx_alloc(group_bytes * (size_t)p->group);
        for (int64_t g = 0; g < p->group; g++)
            onnx_gemm_pack_b((const float *)w->data + g * mg * kk, kk, mg, true, 1.0f,
                             (float *)(void *)(packed + (size_t)g * group_bytes));
        n->in[1] = packed_const(m, n, n->in[1], (float *)(void *)packed);
        p->packed = true;
        p->isa = isa;
    }
}

int onnx_fuse_run(struct onnx_model *m, struct inf_err *err)
{
    (void)err;
    struct fuse_ctx c = {.m = m, .n_values = m->n_values};
    c.uses = onnx_graph_use_counts(m);
    c.consumer = inf_calloc((size_t)m->n_values + 1, sizeof(int));
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                c.consumer[m->nodes[i].in[k]] = i;
    for (int i = 0; i < m->n_nodes; i++)
        if (is_op(&m->nodes[i], "Conv"))
            conv_bn(&c, &m->nodes[i]);
    for (int i = 0; i < m->n_nodes; i++)
        if (is_op(&m->nodes[i], "MatMul"))
            matmul_bias(&c, &m->nodes[i]);
    const struct onnx_op *gelu_op = onnx_ops_find("Gelu");
    for (int i = 0; i < m->n_nodes; i++)
        if (is_op(&m->nodes[i], "Erf"))
            gelu(&c, &m->nodes[i], gelu_op);
    for (int i = 0; i < m->n_nodes; i++)
        activation(&c, &m->nodes[i]);
    enum onnx_gemm_isa isa = onnx_gemm_isa_detect();
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op != NULL)
            pack_weights(m, &m->nodes[i], isa);
    free(c.uses);
    free(c.consumer);
    onnx_graph_compact(m);
    return 0;
}
