/*
 * ops_norm: normalisations and reductions: Softmax, LayerNormalization,
 * BatchNormalization (inference) and ReduceMean. Sums accumulate in double
 * where a long row would otherwise lose precision. Kernels run on the
 * session's thread and allocate nothing.
 */
#include "onnx/onnx_int.h"

#include <math.h>
#include <string.h>

/* Splits dims into outer x [axis..end) (inner size) at axis. */
static void split_at(const struct onnx_tensor *t, int64_t axis, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < t->rank; i++) {
        if (i < axis)
            *outer *= t->dims[i];
        else
            *inner *= t->dims[i];
    }
}

static int float_only(const struct onnx_tensor *t, struct inf_err *err)
{
    if (t->dtype != ONNX_DTYPE_FLOAT)
        return inf_err_set(err, INF_EUNSUPPORTED, "%s input is not supported",
                           onnx_dtype_name(t->dtype));
    return 0;
}

/* ---- Softmax ------------------------------------------------------------ */

static int softmax_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_norm_params *p = &n->p.norm;
    p->legacy_softmax = n->opset < 13;
    return onnx_attr_int(a, "axis", p->legacy_softmax ? 1 : -1, &p->axis, err);
}

static int softmax_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t axis;
    int rc = float_only(x, err);
    if (rc == 0)
        rc = onnx_shape_axis(k->node->p.norm.axis, x->rank, &axis, err);
    if (rc == 0)
        onnx_shape_set(k->out[0], x->dtype, x->rank, x->dims);
    return rc;
}

/* Softmax of n values spaced `stride` apart. */
static void softmax_row(const float *x, float *y, int64_t n, int64_t stride)
{
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i * stride] > max)
            max = x[i * stride];
    if (max == -INFINITY)
        max = 0.0f;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i * stride] - max);
        y[i * stride] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++)
        y[i * stride] *= inv;
}

static int softmax_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_norm_params *p = &k->node->p.norm;
    const struct onnx_tensor *x = k->in[0];
    int64_t axis;
    int rc = onnx_shape_axis(p->axis, x->rank, &axis, err);
    if (rc != 0)
        return rc;
    const float *xd = x->data;
    float *yd = k->out[0]->data;
    int64_t outer, inner;
    if (p->legacy_softmax || x->rank == 0) {
        /* Before opset 13: the input is a 2-D matrix split at axis. */
        split_at(x, axis, &outer, &inner);
        for (int64_t o = 0; o < outer; o++)
            onnx_vmath_softmax(yd + o * inner, xd + o * inner, (size_t)inner);
        return 0;
    }
    int64_t n = x->dims[axis];
    split_at(x, axis + 1, &outer, &inner);
    outer /= n > 0 ? n : 1;
    if (inner == 1) {
        for (int64_t o = 0; o < outer; o++)
            onnx_vmath_softmax(yd + o * n, xd + o * n, (size_t)n);
        return 0;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++)
            softmax_row(xd + o * n * inner + i, yd + o * n * inner + i, n, inner);
    return 0;
}

/* ---- LayerNormalization ------------------------------------------------- */

static int layernorm_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_norm_params *p = &n->p.norm;
    int64_t stash;
    int rc;
    if ((rc = onnx_attr_int(a, "axis", -1, &p->axis, err)) != 0 ||
        (rc = onnx_attr_float(a, "epsilon", 1e-5f, &p->epsilon, err)) != 0 ||
        (rc = onnx_attr_int(a, "stash_type", 1, &stash, err)) != 0)
        return rc;
    if (stash != 1)
        return inf_err_set(err, INF_EUNSUPPORTED, "stash_type %lld is not supported",
                           (long long)stash);
    return 0;
}

static int layernorm_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t axis, outer, inner;
    int rc = float_only(x, err);
    if (rc == 0)
        rc = onnx_shape_axis(k->node->p.norm.axis, x->rank, &axis, err);
    if (rc != 0)
        return rc;
    split_at(x, axis, &outer, &inner);
    for (int i = 1; i < k->n_in && i < 3; i++) {
        const struct onnx_tensor *s = k->in[i];
        if (s == NULL)
            continue;
        int64_t n = onnx_tensor_numel(s);
        if (s->dtype != ONNX_DTYPE_FLOAT || (n != inner && n != 1))
            return inf_err_set(err, INF_EUNSUPPORTED,
                               "%s must be float with the normalised shape (%lld values)",
                               i == 1 ? "Scale" : "B", (long long)inner);
    }
    onnx_shape_set(k->out[0], x->dtype, x->rank, x->dims);
    int64_t dims[ONNX_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        dims[i] = i < axis ? x->dims[i] : 1;
    for (int i = 1; i < k->n_out; i++)
        if (k->out[i] != NULL)
            onnx_shape_set(k->out[i], ONNX_DTYPE_FLOAT, x->rank, dims);
    return 0;
}

static int layernorm_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t axis, outer, inner;
    int rc = onnx_shape_axis(k->node->p.norm.axis, x->rank, &axis, err);
    if (rc != 0)
        return rc;
    split_at(x, axis, &outer, &inner);
    const struct onnx_tensor *st = k->in[1];
    const struct onnx_tensor *bt = k->n_in > 2 ? k->in[2] : NULL;
    const float *scale = st->data, *bias = bt != NULL ? bt->data : NULL;
    bool scale_all = onnx_tensor_numel(st) == inner;
    bool bias_all = bt != NULL && onnx_tensor_numel(bt) == inner;
    float *mean_out = k->n_out > 1 && k->out[1] != NULL ? k->out[1]->data : NULL;
    float *inv_out = k->n_out > 2 && k->out[2] != NULL ? k->out[2]->data : NULL;
    float eps = k->node->p.norm.epsilon;
    for (int64_t o = 0; o < outer; o++) {
        float mean, inv;
        onnx_vmath_layernorm((float *)k->out[0]->data + o * inner,
                             (const float *)x->data + o * inner, (size_t)inner, scale, scale_all,
                             bias, bias_all, eps, &mean, &inv);
        if (mean_out != NULL)
            mean_out[o] = mean;
        if (inv_out != NULL)
            inv_out[o] = inv;
    }
    return 0;
}

/* ---- BatchNormalization ------------------------------------------------- */

static int batchnorm_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_norm_params *p = &n->p.norm;
    float momentum;
    int64_t training, spatial, is_test;
    int rc;
    if ((rc = onnx_attr_float(a, "epsilon", 1e-5f, &p->epsilon, err)) != 0 ||
        (rc = onnx_attr_float(a, "momentum", 0.9f, &momentum, err)) != 0 ||
        (rc = onnx_attr_int(a, "training_mode", 0, &training, err)) != 0 ||
        (rc = onnx_attr_int(a, "spatial", 1, &spatial, err)) != 0 ||
        (rc = onnx_attr_int(a, "is_test", 1, &is_test, err)) != 0)
        return rc;
    if (training != 0 || n->n_out > 1)
        return inf_err_set(err, INF_EUNSUPPORTED, "training mode is not supported");
    if (spatial != 1)
        return inf_err_set(err, INF_EUNSUPPORTED, "spatial=0 is not supported");
    return 0;
}

static int batchnorm_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int rc = float_only(x, err);
    if (rc != 0)
        return rc;
    if (x->rank < 2)
        return inf_err_set(err, INF_EINVAL, "X must have rank 2 or more, not %d", x->rank);
    for (int i = 1; i < 5; i++)
        if (k->in[i]->dtype != ONNX_DTYPE_FLOAT || onnx_tensor_numel(k->in[i]) != x->dims[1])
            return inf_err_set(err, INF_EINVAL, "input %d must be float with %lld values", i,
                               (long long)x->dims[1]);
    onnx_shape_set(k->out[0], x->dtype, x->rank, x->dims);
    return 0;
}

static int batchnorm_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    const struct onnx_tensor *x = k->in[0];
    const float *scale = k->in[1]->data, *b = k->in[2]->data, *mean = k->in[3]->data,
                *var = k->in[4]->data;
    int64_t N = x->dims[0], C = x->dims[1], S = 1;
    for (int i = 2; i < x->rank; i++)
        S *= x->dims[i];
    float eps = k->node->p.norm.epsilon;
    const float *xd = x->data;
    float *yd = k->out[0]->data;
    for (int64_t c = 0; c < C; c++) {
        float mul = scale[c] / sqrtf(var[c] + eps);
        float add = b[c] - mean[c] * mul;
        for (int64_t n = 0; n < N; n++) {
            const float *xs = xd + (n * C + c) * S;
            float *ys = yd + (n * C + c) * S;
            for (int64_t i = 0; i < S; i++)
                ys[i] = xs[i] * mul + add;
        }
    }
    return 0;
}

/* ---- ReduceMean --------------------------------------------------------- */

/* Axes come from the attribute before opset 18 and from input 1 after. */
static int reduce_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_axes_params *p = &n->p.axes;
    int64_t keep, noop = 0;
    int rc = onnx_attr_int(a, "keepdims", 1, &keep, err);
    if (rc != 0)
        return rc;
    p->keepdims = keep != 0;
    p->n = -1;
    if (n->opset >= 18) {
        rc = onnx_attr_int(a, "noop_with_empty_axes", 0, &noop, err);
        p->noop_empty = noop != 0;
        return rc;
    }
    if (n->n_in > 1)
        return inf_err_set(err, INF_EINVAL, "axes are an attribute before opset 18");
    return onnx_attr_ints(a, "axes", p->v, ONNX_MAX_RANK, &p->n, err);
}

/* The reduced-axes mask for x, or *noop when nothing is reduced. */
static int reduce_mask(const struct onnx_kernel_args *k, bool *mask, bool *noop,
                       struct inf_err *err)
{
    const struct onnx_axes_params *p = &k->node->p.axes;
    const struct onnx_tensor *x = k->in[0];
    int64_t axes[ONNX_MAX_RANK];
    int n = p->n;
    memcpy(axes, p->v, sizeof(axes));
    if (k->n_in > 1 && k->in[1] != NULL) {
        int rc = onnx_shape_read_ints(k->in[1], axes, ONNX_MAX_RANK, &n, err);
        if (rc != 0)
            return rc;
    }
    *noop = n <= 0 && p->noop_empty;
    for (int i = 0; i < x->rank; i++)
        mask[i] = n <= 0;
    for (int i = 0; i < n; i++) {
        int64_t ax;
        int rc = onnx_shape_axis(axes[i], x->rank, &ax, err);
        if (rc != 0)
            return rc;
        mask[ax] = true;
    }
    return 0;
}

static int reduce_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    bool mask[ONNX_MAX_RANK], noop;
    int rc = float_only(x, err);
    if (rc == 0)
        rc = reduce_mask(k, mask, &noop, err);
    if (rc != 0)
        return rc;
    struct onnx_tensor *y = k->out[0];
    y->dtype = x->dtype;
    if (noop) {
        onnx_shape_set(y, x->dtype, x->rank, x->dims);
        return 0;
    }
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!mask[i])
            y->dims[r++] = x->dims[i];
        else if (k->node->p.axes.keepdims)
            y->dims[r++] = 1;
    }
    y->rank = r;
    return 0;
}

static int reduce_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    bool mask[ONNX_MAX_RANK], noop;
    int rc = reduce_mask(k, mask, &noop, err);
    if (rc != 0)
        return rc;
    const float *xd = x->data;
    float *yd = k->out[0]->data;
    int64_t ny = onnx_tensor_numel(k->out[0]);
    if (noop) {
        memcpy(yd, xd, sizeof(float) * (size_t)ny);
        return 0;
    }
    /* Walk x once, adding each element to its output slot: y's strides
     * over x's dims, 0 on reduced axes. */
    int64_t yst[ONNX_MAX_RANK], s = 1, count = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
        yst[i] = mask[i] ? 0 : s;
        if (!mask[i])
            s *= x->dims[i];
        else
            count *= x->dims[i];
    }
    int64_t nx = onnx_tensor_numel(x);
    memset(yd, 0, sizeof(float) * (size_t)ny);
    if (nx == 0) {
        for (int64_t i = 0; i < ny; i++)
            yd[i] = NAN;
        return 0;
    }
    int64_t last = x->rank > 0 ? x->dims[x->rank - 1] : 1;
    int64_t last_st = x->rank > 0 ? yst[x->rank - 1] : 0;
    int64_t idx[ONNX_MAX_RANK] = {0}, off = 0;
    for (int64_t i = 0; i < nx; i += last) {
        const float *row = xd + i;
        if (last_st == 0) {
            float acc = 0.0f;
            for (int64_t j = 0; j < last; j++)
                acc += row[j];
            yd[off] += acc;
        } else {
            for (int64_t j = 0; j < last; j++)
                yd[off + j] += row[j];
        }
        for (int d = x->rank - 2; d >= 0; d--) {
            idx[d]++;
            off += yst[d];
            if (idx[d] < x->dims[d])
                break;
            off -= yst[d] * x->dims[d];
            idx[d] = 0;
        }
    }
    float inv = 1.0f / (float)count;
    for (int64_t i = 0; i < ny; i++)
        yd[i] *= inv;
    return 0;
}

const struct onnx_op onnx_ops_norm_table[] = {
    {"Softmax", 1, 1, 1, 1, 0, softmax_load, softmax_infer, softmax_exec},
    {"LayerNormalization", 2, 3, 1, 3, 0, layernorm_load, layernorm_infer, layernorm_exec},
    {"BatchNormalization", 5, 5, 1, 5, 0, batchnorm_load, batchnorm_infer, batchnorm_exec},
    {"ReduceMean", 1, 2, 1, 1, ONNX_OP_READS(1), reduce_load, reduce_infer, reduce_exec},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
