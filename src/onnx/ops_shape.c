/*
 * ops_shape: operators about shapes rather than values: Reshape, Flatten,
 * Squeeze, Unsqueeze and Identity (which the planner turns into aliases of
 * their input, so their kernel is a copy that rarely runs), Shape (folded at
 * plan time), ConstantOfShape, Range and Cast. Kernels run on the session's
 * thread and allocate nothing.
 */
#include "onnx/onnx_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the alias family --------------------------------------------------- */

/* Reshaping kernels: the bytes stay, only the shape changes. */
static int copy_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    if (k->out[0]->data != k->in[0]->data)
        memcpy(k->out[0]->data, k->in[0]->data, onnx_tensor_bytes(k->in[0]));
    return 0;
}

static int identity_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    const struct onnx_tensor *x = k->in[0];
    onnx_shape_set(k->out[0], x->dtype, x->rank, x->dims);
    return 0;
}

static int reshape_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    int64_t allowzero = 0;
    int rc = 0;
    if (n->opset >= 14)
        rc = onnx_attr_int(a, "allowzero", 0, &allowzero, err);
    n->p.axes.allowzero = allowzero != 0;
    return rc;
}

static int reshape_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t dims[ONNX_MAX_RANK];
    int n;
    int rc = onnx_shape_read_ints(k->in[1], dims, ONNX_MAX_RANK, &n, err);
    if (rc != 0)
        return rc;
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (dims[i] == 0 && !k->node->p.axes.allowzero) {
            if (i >= x->rank)
                return inf_err_set(err, INF_EINVAL, "shape copies dimension %d of a rank %d input",
                                   i, x->rank);
            dims[i] = x->dims[i];
        }
        if (dims[i] == -1) {
            if (infer_at >= 0)
                return inf_err_set(err, INF_EINVAL, "shape has more than one -1");
            infer_at = i;
            continue;
        }
        if (dims[i] < 0)
            return inf_err_set(err, INF_EINVAL, "shape has a negative dimension %lld",
                               (long long)dims[i]);
        if (dims[i] != 0 && known > ONNX_MAX_NUMEL / dims[i])
            return inf_err_set(err, INF_ETOOBIG, "shape is too large");
        known *= dims[i];
    }
    int64_t total = onnx_tensor_numel(x);
    if (infer_at >= 0) {
        if (known == 0 || total % known != 0)
            return inf_err_set(err, INF_EINVAL, "cannot reshape %lld elements with a -1",
                               (long long)total);
        dims[infer_at] = total / known;
    } else if (known != total) {
        return inf_err_set(err, INF_EINVAL, "cannot reshape %lld elements into %lld",
                           (long long)total, (long long)known);
    }
    onnx_shape_set(k->out[0], x->dtype, n, dims);
    return 0;
}

static int flatten_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    return onnx_attr_int(a, "axis", 1, &n->p.axes.axis, err);
}

static int flatten_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t axis = k->node->p.axes.axis;
    if (axis < -x->rank || axis > x->rank)
        return inf_err_set(err, INF_EINVAL, "axis %lld is out of range for rank %d",
                           (long long)axis, x->rank);
    if (axis < 0)
        axis += x->rank;
    int64_t dims[2] = {1, 1};
    for (int i = 0; i < x->rank; i++)
        dims[i < axis ? 0 : 1] *= x->dims[i];
    onnx_shape_set(k->out[0], x->dtype, 2, dims);
    return 0;
}

/* Squeeze/Unsqueeze axes: an attribute before opset 13, input 1 after. */
static int axes_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_axes_params *p = &n->p.axes;
    p->n = -1;
    if (n->opset >= 13)
        return 0;
    if (n->n_in > 1)
        return inf_err_set(err, INF_EINVAL, "axes are an attribute before opset 13");
    return onnx_attr_ints(a, "axes", p->v, ONNX_MAX_RANK, &p->n, err);
}

static int read_axes(const struct onnx_kernel_args *k, int64_t *axes, int *n, struct inf_err *err)
{
    const struct onnx_axes_params *p = &k->node->p.axes;
    if (k->n_in > 1 && k->in[1] != NULL)
        return onnx_shape_read_ints(k->in[1], axes, ONNX_MAX_RANK, n, err);
    *n = p->n;
    memcpy(axes, p->v, sizeof(p->v));
    return 0;
}

static int squeeze_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t axes[ONNX_MAX_RANK];
    int n;
    bool drop[ONNX_MAX_RANK] = {false};
    int rc = read_axes(k, axes, &n, err);
    if (rc != 0)
        return rc;
    for (int i = 0; i < n; i++) {
        int64_t ax;
        if ((rc = onnx_shape_axis(axes[i], x->rank, &ax, err)) != 0)
            return rc;
        if (x->dims[ax] != 1)
            return inf_err_set(err, INF_EINVAL, "cannot squeeze axis %lld of size %lld",
                               (long long)axes[i], (long long)x->dims[ax]);
        drop[ax] = true;
    }
    int64_t dims[ONNX_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (!(n > 0 ? drop[i] : x->dims[i] == 1))
            dims[r++] = x->dims[i];
    onnx_shape_set(k->out[0], x->dtype, r, dims);
    return 0;
}

static int unsqueeze_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t axes[ONNX_MAX_RANK];
    int n;
    int rc = read_axes(k, axes, &n, err);
    if (rc != 0)
        return rc;
    if (n <= 0)
        return inf_err_set(err, INF_EINVAL, "axes are required");
    int r = x->rank + n;
    if (r > ONNX_MAX_RANK)
        return inf_err_set(err, INF_EUNSUPPORTED, "rank %d is over %d", r, ONNX_MAX_RANK);
    bool added[ONNX_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int64_t ax;
        if ((rc = onnx_shape_axis(axes[i], r, &ax, err)) != 0)
            return rc;
        if (added[ax])
            return inf_err_set(err, INF_EINVAL, "axis %lld is repeated", (long long)axes[i]);
        added[ax] = true;
    }
    int64_t dims[ONNX_MAX_RANK];
    for (int i = 0, j = 0; i < r; i++)
        dims[i] = added[i] ? 1 : x->dims[j++];
    onnx_shape_set(k->out[0], x->dtype, r, dims);
    return 0;
}

/* Dropout at inference is the identity; only its first output is offered. */
static int dropout_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    int64_t seed;
    float ratio;
    if (n->n_out > 1)
        return inf_err_set(err, INF_EUNSUPPORTED, "the mask output is not supported");
    if (n->n_in > 2)
        return inf_err_set(err, INF_EUNSUPPORTED, "training mode is not supported");
    int rc = onnx_attr_int(a, "seed", 0, &seed, err);
    if (rc == 0)
        rc = onnx_attr_float(a, "ratio", 0.5f, &ratio, err);
    return rc;
}

/* ---- Shape -------------------------------------------------------------- */

static int shape_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_axes_params *p = &n->p.axes;
    p->has_end = onnx_attr_has(a, "end");
    int rc = onnx_attr_int(a, "start", 0, &p->start, err);
    if (rc == 0)
        rc = onnx_attr_int(a, "end", 0, &p->end, err);
    return rc;
}

/* Shape's [start, end) clamped to [0, rank]. */
static void shape_range(const struct onnx_kernel_args *k, int64_t *start, int64_t *end)
{
    const struct onnx_axes_params *p = &k->node->p.axes;
    int64_t r = k->in[0]->rank;
    int64_t s = p->start < 0 ? p->start + r : p->start;
    int64_t e = p->has_end ? (p->end < 0 ? p->end + r : p->end) : r;
    *start = s < 0 ? 0 : (s > r ? r : s);
    *end = e < 0 ? 0 : (e > r ? r : e);
    if (*end < *start)
        *end = *start;
}

static int shape_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    int64_t s, e;
    shape_range(k, &s, &e);
    int64_t dims[1] = {e - s};
    onnx_shape_set(k->out[0], ONNX_DTYPE_INT64, 1, dims);
    return 0;
}

static int shape_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    int64_t s, e;
    shape_range(k, &s, &e);
    int64_t *y = k->out[0]->data;
    for (int64_t i = s; i < e; i++)
        y[i - s] = k->in[0]->dims[i];
    return 0;
}

/* ---- ConstantOfShape and Range ------------------------------------------ */

static int cos_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_const_params *p = &n->p.cst;
    struct onnx_tensor t;
    void *own;
    int rc = onnx_attr_tensor(a, "value", &t, &own, err);
    if (rc != 0)
        return rc;
    p->dtype = ONNX_DTYPE_FLOAT;
    p->v.f = 0.0f;
    if (t.dtype != ONNX_DTYPE_UNDEFINED) {
        if (onnx_tensor_numel(&t) != 1) {
            free(own);
            return inf_err_set(err, INF_EINVAL, "attribute 'value' must hold one element");
        }
        p->dtype = t.dtype;
        if (t.dtype == ONNX_DTYPE_FLOAT)
            p->v.f = *(const float *)t.data;
        else if (t.dtype == ONNX_DTYPE_INT64)
            p->v.i = *(const int64_t *)t.data;
        else if (t.dtype == ONNX_DTYPE_INT32)
            p->v.i = *(const int32_t *)t.data;
        else
            p->v.b = *(const uint8_t *)t.data;
    }
    free(own);
    return 0;
}

static int cos_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    int64_t dims[ONNX_MAX_RANK];
    int n;
    int rc = onnx_shape_read_ints(k->in[0], dims, ONNX_MAX_RANK, &n, err);
    if (rc != 0)
        return rc;
    for (int i = 0; i < n; i++)
        if (dims[i] < 0)
            return inf_err_set(err, INF_EINVAL, "negative dimension %lld", (long long)dims[i]);
    onnx_shape_set(k->out[0], k->node->p.cst.dtype, n, dims);
    return 0;
}

static int cos_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    const struct onnx_const_params *p = &k->node->p.cst;
    int64_t n = onnx_tensor_numel(k->out[0]);
    void *y = k->out[0]->data;
    switch (p->dtype) {
    case ONNX_DTYPE_FLOAT:
        for (int64_t i = 0; i < n; i++)
            ((float *)y)[i] = p->v.f;
        break;
    case ONNX_DTYPE_INT64:
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)y)[i] = p->v.i;
        break;
    case ONNX_DTYPE_INT32:
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)y)[i] = (int32_t)p->v.i;
        break;
    default:
        memset(y, p->v.b, (size_t)n);
        break;
    }
    return 0;
}

/* A scalar (or one-element) input as double. */
static double scalar_of(const struct onnx_tensor *t)
{
    switch (t->dtype) {
    case ONNX_DTYPE_FLOAT:
        return *(const float *)t->data;
    case ONNX_DTYPE_INT64:
        return (double)*(const int64_t *)t->data;
    default:
        return *(const int32_t *)t->data;
    }
}

static int range_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    enum onnx_dtype t = k->in[0]->dtype;
    for (int i = 0; i < 3; i++) {
        if (k->in[i]->dtype != t || onnx_tensor_numel(k->in[i]) != 1)
            return inf_err_set(err, INF_EINVAL,
                               "start, limit and delta must be scalars of one "
                               "type");
        if (k->in[i]->data == NULL)
            return inf_err_set(err, INF_EUNSUPPORTED,
                               "start, limit and delta must be known before running");
    }
    if (t != ONNX_DTYPE_FLOAT && t != ONNX_DTYPE_INT64 && t != ONNX_DTYPE_INT32)
        return inf_err_set(err, INF_EUNSUPPORTED, "%s ranges are not supported",
                           onnx_dtype_name(t));
    double start = scalar_of(k->in[0]), limit = scalar_of(k->in[1]), delta = scalar_of(k->in[2]);
    if (delta == 0.0 || !isfinite(start) || !isfinite(limit) || !isfinite(delta))
        return inf_err_set(err, INF_EINVAL, "the range must be finite with a nonzero delta");
    double count = ceil((limit - start) / delta);
    if (count < 0)
        count = 0;
    if (count > (double)ONNX_MAX_NUMEL)
        return inf_err_set(err, INF_ETOOBIG, "the range has too many elements");
    int64_t dims[1] = {(int64_t)count};
    onnx_shape_set(k->out[0], t, 1, dims);
    return 0;
}

static int range_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    int64_t n = k->out[0]->dims[0];
    void *y = k->out[0]->data;
    switch (k->out[0]->dtype) {
    case ONNX_DTYPE_FLOAT: {
        float start = *(const float *)k->in[0]->data, delta = *(const float *)k->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((float *)y)[i] = start + (float)i * delta;
        break;
    }
    case ONNX_DTYPE_INT64: {
        int64_t start = *(const int64_t *)k->in[0]->data, delta = *(const int64_t *)k->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)y)[i] = (int64_t)((uint64_t)start + (uint64_t)i * (uint64_t)delta);
        break;
    }
    default: {
        int32_t start = *(const int32_t *)k->in[0]->data, delta = *(const int32_t *)k->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)y)[i] = (int32_t)((uint32_t)start + (uint32_t)i * (uint32_t)delta);
        break;
    }
    }
    return 0;
}

/* ---- Cast --------------------------------------------------------------- */

static int cast_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    int64_t to;
    int rc = onnx_attr_int(a, "to", 0, &to, err);
    if (rc != 0)
        return rc;
    if (onnx_attr_has(a, "saturate")) /* opset 19; only meaningful for float8 */
        return inf_err_set(err, INF_EUNSUPPORTED, "attribute 'saturate' is not supported");
    if (to != ONNX_DTYPE_FLOAT && to != ONNX_DTYPE_INT64 && to != ONNX_DTYPE_INT32 &&
        to != ONNX_DTYPE_BOOL)
        return inf_err_set(err, INF_EUNSUPPORTED, "casting to element type %lld is not supported",
                           (long long)to);
    n->p.cast.to = (enum onnx_dtype)to;
    return 0;
}

static int cast_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    const struct onnx_tensor *x = k->in[0];
    onnx_shape_set(k->out[0], k->node->p.cast.to, x->rank, x->dims);
    return 0;
}

/* Element i of t as double / int64 (exact for every supported type). */
static double get_f(const struct onnx_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ONNX_DTYPE_FLOAT:
        return ((const float *)t->data)[i];
    case ONNX_DTYPE_INT64:
        return (double)((const int64_t *)t->data)[i];
    case ONNX_DTYPE_INT32:
        return ((const int32_t *)t->data)[i];
    default:
        return ((const uint8_t *)t->data)[i];
    }
}

/* float to integer with saturation instead of undefined behaviour. */
static int64_t f_to_i64(double v)
{
    if (v != v)
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static int cast_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    const struct onnx_tensor *x = k->in[0];
    struct onnx_tensor *y = k->out[0];
    int64_t n = onnx_tensor_numel(x);
    if (x->dtype == y->dtype) {
        if (y->data != x->data)
            memcpy(y->data, x->data, onnx_tensor_bytes(x));
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        bool int_src = x->dtype == ONNX_DTYPE_INT64;
        int64_t iv = int_src ? ((const int64_t *)x->data)[i] : 0;
        double dv = int_src ? 0.0 : get_f(x, i);
        switch (y->dtype) {
        case ONNX_DTYPE_FLOAT:
            ((float *)y->data)[i] = int_src ? (float)iv : (float)dv;
            break;
        case ONNX_DTYPE_INT64:
            ((int64_t *)y->data)[i] = int_src ? iv : f_to_i64(dv);
            break;
        case ONNX_DTYPE_INT32: {
            int64_t v = int_src ? iv : f_to_i64(dv);
            ((int32_t *)y->data)[i] = (int32_t)(uint32_t)(uint64_t)v;
            break;
        }
        default:
            ((uint8_t *)y->data)[i] = int_src ? iv != 0 : dv != 0.0;
            break;
        }
    }
    return 0;
}

const struct onnx_op onnx_ops_shape_table[] = {
    {"Reshape", 2, 2, 1, 1, ONNX_OP_ALIAS | ONNX_OP_READS(1), reshape_load, reshape_infer,
     copy_exec},
    {"Flatten", 1, 1, 1, 1, ONNX_OP_ALIAS, flatten_load, flatten_infer, copy_exec},
    {"Squeeze", 1, 2, 1, 1, ONNX_OP_ALIAS | ONNX_OP_READS(1), axes_load, squeeze_infer, copy_exec},
    {"Unsqueeze", 1, 2, 1, 1, ONNX_OP_ALIAS | ONNX_OP_READS(1), axes_load, unsqueeze_infer,
     copy_exec},
    {"Identity", 1, 1, 1, 1, ONNX_OP_ALIAS, NULL, identity_infer, copy_exec},
    {"Dropout", 1, 3, 1, 2, ONNX_OP_ALIAS, dropout_load, identity_infer, copy_exec},
    {"Shape", 1, 1, 1, 1, ONNX_OP_SHAPE_ONLY, shape_load, shape_infer, shape_exec},
    {"ConstantOfShape", 1, 1, 1, 1, ONNX_OP_READS(0), cos_load, cos_infer, cos_exec},
    {"Range", 3, 3, 1, 1, ONNX_OP_READS(0) | ONNX_OP_READS(1) | ONNX_OP_READS(2), NULL, range_infer,
     range_exec},
    {"Cast", 1, 1, 1, 1, 0, cast_load, cast_infer, cast_exec},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
