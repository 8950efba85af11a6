/*
 * ops_pool: MaxPool, AveragePool (1-D and 2-D, pads, strides, auto_pad,
 * ceil_mode; dilations for MaxPool; count_include_pad for AveragePool) and
 * GlobalAveragePool. Windows are clipped to the input, so padding never
 * contributes a value; for averages it counts in the divisor only with
 * count_include_pad. Kernels run on the session's thread and allocate
 * nothing.
 */
#include "onnx/onnx_int.h"

#include <math.h>
#include <string.h>

enum pool_kind { POOL_MAX, POOL_AVG };

static int pool_load(struct onnx_node *n, struct onnx_attrs *a, bool max, struct inf_err *err)
{
    struct onnx_pool_params *p = &n->p.pool;
    int64_t ceil_mode, include_pad = 0, storage = 0;
    int rc = onnx_ops_conv_load_window(&p->w, a, max, err);
    if (rc != 0 || (rc = onnx_attr_int(a, "ceil_mode", 0, &ceil_mode, err)) != 0)
        return rc;
    if (max) {
        if ((rc = onnx_attr_int(a, "storage_order", 0, &storage, err)) != 0)
            return rc;
        if (n->n_out > 1)
            return inf_err_set(err, INF_EUNSUPPORTED, "the Indices output is not supported");
    } else if ((rc = onnx_attr_int(a, "count_include_pad", 0, &include_pad, err)) != 0) {
        return rc;
    }
    if (p->w.n_kernel <= 0)
        return inf_err_set(err, INF_EINVAL, "attribute 'kernel_shape' is required");
    p->ceil_mode = ceil_mode != 0;
    p->count_include_pad = include_pad != 0;
    return 0;
}

static int maxpool_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    return pool_load(n, a, true, err);
}

static int avgpool_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    return pool_load(n, a, false, err);
}

static int pool_geom(const struct onnx_kernel_args *k, struct onnx_geom *g, struct inf_err *err)
{
    const struct onnx_pool_params *p = &k->node->p.pool;
    if (k->in[0]->dtype != ONNX_DTYPE_FLOAT)
        return inf_err_set(err, INF_EUNSUPPORTED, "only float inputs are supported");
    if (p->w.n_kernel != k->in[0]->rank - 2)
        return inf_err_set(err, INF_EINVAL, "kernel_shape has %d axes for a rank %d input",
                           p->w.n_kernel, k->in[0]->rank);
    return onnx_ops_conv_geom(&p->w, k->in[0], p->w.kernel, p->ceil_mode, g, err);
}

static int pool_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    struct onnx_geom g;
    int rc = pool_geom(k, &g, err);
    if (rc != 0)
        return rc;
    const struct onnx_tensor *x = k->in[0];
    int64_t dims[4] = {g.n, g.c, g.oh, g.ow};
    if (x->rank == 3)
        dims[2] = g.ow;
    onnx_shape_set(k->out[0], ONNX_DTYPE_FLOAT, x->rank, dims);
    return 0;
}

/* MaxPool over the output columns [lo, hi) of row oy, whose windows lie
 * inside the input's width: no bounds checks in the inner loops. */
static void max_interior(const float *x, const struct onnx_geom *g, int64_t oy, int64_t lo,
                         int64_t hi, float *yr)
{
    int64_t y0 = oy * g->sh - g->pt;
    for (int64_t ox = lo; ox < hi; ox++)
        yr[ox] = -INFINITY;
    for (int64_t i = 0; i < g->kh; i++) {
        int64_t iy = y0 + i * g->dh;
        if (iy < 0 || iy >= g->h)
            continue;
        const float *row = x + iy * g->w - g->pl;
        for (int64_t ox = lo; ox < hi; ox++) {
            const float *r = row + ox * g->sw;
            float acc = yr[ox];
            for (int64_t j = 0; j < g->kw; j++)
                acc = r[j * g->dw] > acc ? r[j * g->dw] : acc;
            yr[ox] = acc;
        }
    }
}

/* One output plane of a pool over input plane x. */
static void pool_plane(const float *x, const struct onnx_geom *g, enum pool_kind kind,
                       bool include_pad, float *y)
{
    /* Columns whose whole window is inside the input's width. */
    int64_t lo = (g->pl + g->sw - 1) / g->sw;
    int64_t span = (g->kw - 1) * g->dw;
    int64_t hi = g->w - span + g->pl - 1 < 0 ? 0 : (g->w - span + g->pl - 1) / g->sw + 1;
    if (hi > g->ow)
        hi = g->ow;
    if (kind != POOL_MAX || lo >= hi)
        lo = hi = 0;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        int64_t y0 = oy * g->sh - g->pt;
        if (hi > lo)
            max_interior(x, g, oy, lo, hi, y + oy * g->ow);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            if (ox == lo && hi > lo) {
                ox = hi - 1;
                continue;
            }
            int64_t x0 = ox * g->sw - g->pl;
            float acc = kind == POOL_MAX ? -INFINITY : 0.0f;
            int64_t count = 0;
            for (int64_t i = 0; i < g->kh; i++) {
                int64_t iy = y0 + i * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                const float *row = x + iy * g->w;
                for (int64_t j = 0; j < g->kw; j++) {
                    int64_t ix = x0 + j * g->dw;
                    if (ix < 0 || ix >= g->w)
                        continue;
                    float v = row[ix];
                    if (kind == POOL_MAX)
                        acc = v > acc ? v : acc;
                    else
                        acc += v;
                    count++;
                }
            }
            if (kind == POOL_AVG) {
                if (include_pad) {
                    /* The window clipped to the padded input. */
                    int64_t ye = y0 + g->kh, xe = x0 + g->kw;
                    if (ye > g->h + g->pb)
                        ye = g->h + g->pb;
                    if (xe > g->w + g->pr)
                        xe = g->w + g->pr;
                    count = (ye - y0) * (xe - x0);
                }
                acc = count > 0 ? acc / (float)count : 0.0f;
            }
            y[oy * g->ow + ox] = acc;
        }
    }
}

static int pool_exec(const struct onnx_kernel_args *k, enum pool_kind kind, struct inf_err *err)
{
    struct onnx_geom g;
    int rc = pool_geom(k, &g, err);
    if (rc != 0)
        return rc;
    const float *x = k->in[0]->data;
    float *y = k->out[0]->data;
    bool include_pad = k->node->p.pool.count_include_pad;
    for (int64_t p = 0; p < g.n * g.c; p++)
        pool_plane(x + p * g.h * g.w, &g, kind, include_pad, y + p * g.oh * g.ow);
    return 0;
}

static int maxpool_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    return pool_exec(k, POOL_MAX, err);
}

static int avgpool_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    return pool_exec(k, POOL_AVG, err);
}

/* ---- GlobalAveragePool -------------------------------------------------- */

static int gap_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    if (x->dtype != ONNX_DTYPE_FLOAT)
        return inf_err_set(err, INF_EUNSUPPORTED, "only float inputs are supported");
    if (x->rank < 3)
        return inf_err_set(err, INF_EINVAL, "the input needs spatial axes, rank is %d", x->rank);
    int64_t dims[ONNX_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        dims[i] = i < 2 ? x->dims[i] : 1;
    onnx_shape_set(k->out[0], ONNX_DTYPE_FLOAT, x->rank, dims);
    return 0;
}

static int gap_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    const struct onnx_tensor *x = k->in[0];
    int64_t planes = x->dims[0] * x->dims[1], size = 1;
    for (int i = 2; i < x->rank; i++)
        size *= x->dims[i];
    const float *xd = x->data;
    float *y = k->out[0]->data;
    for (int64_t p = 0; p < planes; p++) {
        const float *plane = xd + p * size;
        float acc = 0.0f;
        for (int64_t i = 0; i < size; i++)
            acc += plane[i];
        y[p] = size > 0 ? acc / (float)size : NAN;
    }
    return 0;
}

const struct onnx_op onnx_ops_pool_table[] = {
    {"MaxPool", 1, 1, 1, 2, 0, maxpool_load, pool_infer, maxpool_exec},
    {"AveragePool", 1, 1, 1, 1, 0, avgpool_load, pool_infer, avgpool_exec},
    {"GlobalAveragePool", 1, 1, 1, 1, 0, NULL, gap_infer, gap_exec},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
