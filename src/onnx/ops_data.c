/*
 * ops_data: operators that move elements without arithmetic, for any element
 * type: Transpose, Gather, Slice and Concat. Copies go by contiguous runs
 * where the layout allows. Kernels run on the session's thread and allocate
 * nothing.
 */
#include "onnx/onnx_int.h"

#include <string.h>

/* Row-major element strides of t. */
static void strides_of(const struct onnx_tensor *t, int64_t *st)
{
    int64_t s = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        st[i] = s;
        s *= t->dims[i];
    }
}

/* Copies a strided view of src (dims, element strides st, `rank` >= 1) into
 * dst densely, by runs along the last dimension. */
static void gather_view(char *dst, const char *src, size_t es, int rank, const int64_t *dims,
                        const int64_t *st)
{
    int64_t inner = dims[rank - 1], ist = st[rank - 1];
    int64_t outer = 1;
    for (int d = 0; d < rank - 1; d++)
        outer *= dims[d];
    int64_t idx[ONNX_MAX_RANK] = {0}, off = 0;
    for (int64_t o = 0; o < outer; o++) {
        const char *s = src + off * (int64_t)es;
        if (ist == 1) {
            memcpy(dst, s, (size_t)inner * es);
        } else if (es == 4) {
            for (int64_t i = 0; i < inner; i++)
                ((uint32_t *)(void *)dst)[i] = *(const uint32_t *)(const void *)(s + i * ist * 4);
        } else {
            for (int64_t i = 0; i < inner; i++)
                memcpy(dst + i * (int64_t)es, s + i * ist * (int64_t)es, es);
        }
        dst += inner * (int64_t)es;
        for (int d = rank - 2; d >= 0; d--) {
            idx[d]++;
            off += st[d];
            if (idx[d] < dims[d])
                break;
            off -= st[d] * dims[d];
            idx[d] = 0;
        }
    }
}

/* ---- Transpose ---------------------------------------------------------- */

static int transpose_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    return onnx_attr_ints(a, "perm", n->p.axes.v, ONNX_MAX_RANK, &n->p.axes.n, err);
}

/* The permutation for x: the attribute, or reversed axes by default. */
static int get_perm(const struct onnx_kernel_args *k, int64_t *perm, struct inf_err *err)
{
    const struct onnx_axes_params *p = &k->node->p.axes;
    int r = k->in[0]->rank;
    if (p->n < 0) {
        for (int i = 0; i < r; i++)
            perm[i] = r - 1 - i;
        return 0;
    }
    if (p->n != r)
        return inf_err_set(err, INF_EINVAL, "perm has %d axes for a rank %d input", p->n, r);
    bool seen[ONNX_MAX_RANK] = {false};
    for (int i = 0; i < r; i++) {
        if (p->v[i] < 0 || p->v[i] >= r || seen[p->v[i]])
            return inf_err_set(err, INF_EINVAL, "perm is not a permutation of 0..%d", r - 1);
        seen[p->v[i]] = true;
        perm[i] = p->v[i];
    }
    return 0;
}

static int transpose_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t perm[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    int rc = get_perm(k, perm, err);
    if (rc != 0)
        return rc;
    for (int i = 0; i < x->rank; i++)
        dims[i] = x->dims[perm[i]];
    onnx_shape_set(k->out[0], x->dtype, x->rank, dims);
    return 0;
}

static int transpose_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    int64_t perm[ONNX_MAX_RANK], ist[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], st[ONNX_MAX_RANK];
    int rc = get_perm(k, perm, err);
    if (rc != 0)
        return rc;
    if (onnx_tensor_numel(x) == 0)
        return 0;
    strides_of(x, ist);
    /* Output dims with their input strides; size-1 dims dropped and
     * neighbours that stay neighbours merged. */
    int n = 0;
    for (int i = 0; i < x->rank; i++) {
        int64_t d = x->dims[perm[i]], s = ist[perm[i]];
        if (d == 1)
            continue;
        if (n > 0 && st[n - 1] == s * d) {
            dims[n - 1] *= d;
            st[n - 1] = s;
            continue;
        }
        dims[n] = d;
        st[n] = s;
        n++;
    }
    if (n == 0) {
        dims[0] = 1;
        st[0] = 1;
        n = 1;
    }
    gather_view(k->out[0]->data, x->data, onnx_dtype_size(x->dtype), n, dims, st);
    return 0;
}

/* ---- Gather ------------------------------------------------------------- */

static int gather_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    return onnx_attr_int(a, "axis", 0, &n->p.axes.axis, err);
}

static int gather_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0], *ind = k->in[1];
    int64_t axis;
    int rc = onnx_shape_axis(k->node->p.axes.axis, x->rank, &axis, err);
    if (rc != 0)
        return rc;
    if (x->rank == 0)
        return inf_err_set(err, INF_EINVAL, "data must have rank 1 or more");
    if (ind->dtype != ONNX_DTYPE_INT64 && ind->dtype != ONNX_DTYPE_INT32)
        return inf_err_set(err, INF_EINVAL, "indices must be int64 or int32, not %s",
                           onnx_dtype_name(ind->dtype));
    int r = x->rank - 1 + ind->rank;
    if (r > ONNX_MAX_RANK)
        return inf_err_set(err, INF_EUNSUPPORTED, "rank %d is over %d", r, ONNX_MAX_RANK);
    int64_t dims[ONNX_MAX_RANK];
    int j = 0;
    for (int i = 0; i < axis; i++)
        dims[j++] = x->dims[i];
    for (int i = 0; i < ind->rank; i++)
        dims[j++] = ind->dims[i];
    for (int i = (int)axis + 1; i < x->rank; i++)
        dims[j++] = x->dims[i];
    onnx_shape_set(k->out[0], x->dtype, r, dims);
    return 0;
}

static int gather_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0], *ind = k->in[1];
    int64_t axis;
    int rc = onnx_shape_axis(k->node->p.axes.axis, x->rank, &axis, err);
    if (rc != 0)
        return rc;
    int64_t outer = 1, inner = 1, n = x->dims[axis];
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = (int)axis + 1; i < x->rank; i++)
        inner *= x->dims[i];
    int64_t count = onnx_tensor_numel(ind);
    size_t run = (size_t)inner * onnx_dtype_size(x->dtype);
    const char *src = x->data;
    char *dst = k->out[0]->data;
    for (int64_t j = 0; j < count; j++) {
        int64_t i = ind->dtype == ONNX_DTYPE_INT64 ? ((const int64_t *)ind->data)[j]
                                                   : ((const int32_t *)ind->data)[j];
        if (i < -n || i >= n)
            return inf_err_set(err, INF_EINVAL,
                               "index %lld is out of range for a dimension of %lld", (long long)i,
                               (long long)n);
    }
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < count; j++) {
            int64_t i = ind->dtype == ONNX_DTYPE_INT64 ? ((const int64_t *)ind->data)[j]
                                                       : ((const int32_t *)ind->data)[j];
            if (i < 0)
                i += n;
            memcpy(dst, src + (size_t)(o * n + i) * run, run);
            dst += run;
        }
    }
    return 0;
}

/* ---- Slice -------------------------------------------------------------- */

static int slice_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_slice_params *p = &n->p.slice;
    if (n->opset >= 10) {
        if (n->n_in < 3)
            return inf_err_set(err, INF_EINVAL, "starts and ends inputs are required");
        return 0;
    }
    if (n->n_in > 1)
        return inf_err_set(err, INF_EINVAL, "takes starts and ends as attributes before opset 10");
    int ns, ne, rc;
    p->attrs = true;
    if ((rc = onnx_attr_ints(a, "starts", p->starts, ONNX_MAX_RANK, &ns, err)) != 0 ||
        (rc = onnx_attr_ints(a, "ends", p->ends, ONNX_MAX_RANK, &ne, err)) != 0 ||
        (rc = onnx_attr_ints(a, "axes", p->axes, ONNX_MAX_RANK, &p->n_axes, err)) != 0)
        return rc;
    if (ns < 0 || ns != ne || (p->n_axes >= 0 && p->n_axes != ns))
        return inf_err_set(err, INF_EINVAL, "starts, ends and axes must have the same length");
    p->n = ns;
    return 0;
}

/* Per output axis: first input index, step and count. */
struct slice_plan {
    int64_t start[ONNX_MAX_RANK], step[ONNX_MAX_RANK], count[ONNX_MAX_RANK];
};

static int slice_compute(const struct onnx_kernel_args *k, struct slice_plan *sp,
                         struct inf_err *err)
{
    const struct onnx_slice_params *p = &k->node->p.slice;
    const struct onnx_tensor *x = k->in[0];
    int64_t starts[ONNX_MAX_RANK], ends[ONNX_MAX_RANK], axes[ONNX_MAX_RANK], steps[ONNX_MAX_RANK];
    int n, ne, na = -1, nst = -1, rc;
    if (p->attrs) {
        n = ne = p->n;
        memcpy(starts, p->starts, sizeof(starts));
        memcpy(ends, p->ends, sizeof(ends));
        na = p->n_axes;
        memcpy(axes, p->axes, sizeof(axes));
    } else {
        if ((rc = onnx_shape_read_ints(k->in[1], starts, ONNX_MAX_RANK, &n, err)) != 0 ||
            (rc = onnx_shape_read_ints(k->in[2], ends, ONNX_MAX_RANK, &ne, err)) != 0)
            return rc;
        if (k->n_in > 3 && k->in[3] != NULL &&
            (rc = onnx_shape_read_ints(k->in[3], axes, ONNX_MAX_RANK, &na, err)) != 0)
            return rc;
        if (k->n_in > 4 && k->in[4] != NULL &&
            (rc = onnx_shape_read_ints(k->in[4], steps, ONNX_MAX_RANK, &nst, err)) != 0)
            return rc;
    }
    if (n != ne || (na >= 0 && na != n) || (nst >= 0 && nst != n))
        return inf_err_set(err, INF_EINVAL, "starts, ends, axes and steps differ in length");
    for (int i = 0; i < x->rank; i++) {
        sp->start[i] = 0;
        sp->step[i] = 1;
        sp->count[i] = x->dims[i];
    }
    bool seen[ONNX_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int64_t ax = i;
        if (na >= 0 && (rc = onnx_shape_axis(axes[i], x->rank, &ax, err)) != 0)
            return rc;
        if (ax >= x->rank || seen[ax])
            return inf_err_set(err, INF_EINVAL, "axis %lld is out of range or repeated",
                               (long long)(na >= 0 ? axes[i] : i));
        seen[ax] = true;
        int64_t dim = x->dims[ax], step = nst >= 0 ? steps[i] : 1;
        if (step == 0)
            return inf_err_set(err, INF_EINVAL, "a step is zero");
        /* Clamp as numpy does; start/end may be +-INT64 sentinels. */
        int64_t s = starts[i], e = ends[i];
        if (s < 0)
            s = s < -dim ? -1 : s + dim;
        if (e < 0)
            e = e < -dim ? -1 : e + dim;
        if (step > 0) {
            s = s < 0 ? 0 : (s > dim ? dim : s);
            e = e < 0 ? 0 : (e > dim ? dim : e);
        } else {
            s = s < 0 ? -1 : (s > dim - 1 ? dim - 1 : s);
            e = e < -1 ? -1 : (e > dim - 1 ? dim - 1 : e);
        }
        int64_t span = step > 0 ? e - s : s - e;
        int64_t mag = step > 0 ? step : (step == INT64_MIN ? INT64_MAX : -step);
        sp->start[ax] = s;
        sp->count[ax] = span <= 0 ? 0 : (span - 1) / mag + 1;
        /* A step beyond the dimension takes one element: keep the byte
         * strides derived from it small. */
        if (mag > dim)
            step = step > 0 ? (dim > 0 ? dim : 1) : -(dim > 0 ? dim : 1);
        sp->step[ax] = step;
    }
    return 0;
}

static int slice_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    struct slice_plan sp;
    int rc = slice_compute(k, &sp, err);
    if (rc == 0)
        onnx_shape_set(k->out[0], k->in[0]->dtype, k->in[0]->rank, sp.count);
    return rc;
}

static int slice_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    struct slice_plan sp;
    int rc = slice_compute(k, &sp, err);
    if (rc != 0)
        return rc;
    if (onnx_tensor_numel(k->out[0]) == 0)
        return 0;
    int64_t ist[ONNX_MAX_RANK], st[ONNX_MAX_RANK], off = 0;
    size_t es = onnx_dtype_size(x->dtype);
    strides_of(x, ist);
    for (int i = 0; i < x->rank; i++) {
        off += sp.start[i] * ist[i];
        st[i] = sp.step[i] * ist[i];
    }
    if (x->rank == 0) {
        memcpy(k->out[0]->data, x->data, es);
        return 0;
    }
    gather_view(k->out[0]->data, (const char *)x->data + off * (int64_t)es, es, x->rank, sp.count,
                st);
    return 0;
}

/* ---- Concat ------------------------------------------------------------- */

static int concat_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    if (!onnx_attr_has(a, "axis"))
        return inf_err_set(err, INF_EINVAL, "attribute 'axis' is required");
    return onnx_attr_int(a, "axis", 0, &n->p.axes.axis, err);
}

static int concat_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x0 = k->in[0];
    int64_t axis;
    int rc = onnx_shape_axis(k->node->p.axes.axis, x0->rank, &axis, err);
    if (rc != 0)
        return rc;
    int64_t dims[ONNX_MAX_RANK];
    memcpy(dims, x0->dims, sizeof(dims));
    dims[axis] = 0;
    for (int i = 0; i < k->n_in; i++) {
        const struct onnx_tensor *x = k->in[i];
        if (x == NULL)
            return inf_err_set(err, INF_EINVAL, "input %d is missing", i);
        if (x->dtype != x0->dtype || x->rank != x0->rank)
            return inf_err_set(err, INF_EINVAL, "input %d differs in type or rank", i);
        for (int d = 0; d < x->rank; d++)
            if (d != axis && x->dims[d] != x0->dims[d])
                return inf_err_set(err, INF_EINVAL, "input %d has dimension %d of %lld, not %lld",
                                   i, d, (long long)x->dims[d], (long long)x0->dims[d]);
        dims[axis] += x->dims[axis];
    }
    onnx_shape_set(k->out[0], x0->dtype, x0->rank, dims);
    return 0;
}

static int concat_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x0 = k->in[0];
    int64_t axis;
    int rc = onnx_shape_axis(k->node->p.axes.axis, x0->rank, &axis, err);
    if (rc != 0)
        return rc;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x0->dims[i];
    for (int i = (int)axis + 1; i < x0->rank; i++)
        inner *= x0->dims[i];
    size_t es = onnx_dtype_size(x0->dtype);
    char *dst = k->out[0]->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int i = 0; i < k->n_in; i++) {
            size_t run = (size_t)(k->in[i]->dims[axis] * inner) * es;
            memcpy(dst, (const char *)k->in[i]->data + (size_t)o * run, run);
            dst += run;
        }
    }
    return 0;
}

const struct onnx_op onnx_ops_data_table[] = {
    {"Transpose", 1, 1, 1, 1, 0, transpose_load, transpose_infer, transpose_exec},
    {"Gather", 2, 2, 1, 1, 0, gather_load, gather_infer, gather_exec},
    {"Slice", 1, 5, 1, 1, ONNX_OP_READS(1) | ONNX_OP_READS(2) | ONNX_OP_READS(3) | ONNX_OP_READS(4),
     slice_load, slice_infer, slice_exec},
    {"Concat", 1, -1, 1, 1, 0, concat_load, concat_infer, concat_exec},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
