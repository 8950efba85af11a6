/*
 * shape: static shape inference. Helpers the operators' shape functions
 * share (element counts with overflow checks, numpy broadcasting, axes,
 * reading shape tensors) and the checked call of one node's shape function.
 * Pure functions; any thread.
 */
#include "onnx/onnx_int.h"

#include <stdio.h>
#include <string.h>

int onnx_shape_numel(const int64_t *dims, int rank, int64_t *out, struct inf_err *err)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return inf_err_set(err, INF_EINVAL, "negative dimension %lld", (long long)dims[i]);
        if (dims[i] != 0 && n > ONNX_MAX_NUMEL / dims[i])
            return inf_err_set(err, INF_ETOOBIG, "tensor of more than %lld elements",
                               (long long)ONNX_MAX_NUMEL);
        n *= dims[i];
    }
    if (n > ONNX_MAX_NUMEL)
        return inf_err_set(err, INF_ETOOBIG, "tensor of more than %lld elements",
                           (long long)ONNX_MAX_NUMEL);
    *out = n;
    return 0;
}

int onnx_shape_broadcast(const struct onnx_tensor *a, const struct onnx_tensor *b,
                         struct onnx_tensor *out, struct inf_err *err)
{
    int rank = a->rank > b->rank ? a->rank : b->rank;
    int64_t dims[ONNX_MAX_RANK] = {0};
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return inf_err_set(err, INF_EINVAL,
                               "shapes cannot broadcast: dimension %d is %lld and %lld", i,
                               (long long)da, (long long)db);
        dims[i] = da == 1 ? db : da;
    }
    out->rank = rank;
    memcpy(out->dims, dims, sizeof(int64_t) * (size_t)rank);
    return 0;
}

int onnx_shape_axis(int64_t axis, int rank, int64_t *out, struct inf_err *err)
{
    if (axis < -rank || axis >= (rank > 0 ? rank : 1))
        return inf_err_set(err, INF_EINVAL, "axis %lld is out of range for rank %d",
                           (long long)axis, rank);
    *out = axis < 0 ? axis + rank : axis;
    return 0;
}

int onnx_shape_read_ints(const struct onnx_tensor *t, int64_t *out, int max, int *n,
                         struct inf_err *err)
{
    if (t == NULL)
        return inf_err_set(err, INF_EINVAL, "a required shape or axes input is missing");
    if (t->data == NULL)
        return inf_err_set(err, INF_EUNSUPPORTED,
                           "a shape or axes input must be known before running "
                           "(data-dependent shapes are not supported)");
    if (t->dtype != ONNX_DTYPE_INT64 && t->dtype != ONNX_DTYPE_INT32)
        return inf_err_set(err, INF_EINVAL, "a shape or axes input must be int64, not %s",
                           onnx_dtype_name(t->dtype));
    if (t->rank > 1)
        return inf_err_set(err, INF_EINVAL, "a shape or axes input must be 1-D, not rank %d",
                           t->rank);
    int64_t count = onnx_tensor_numel(t);
    if (count > max)
        return inf_err_set(err, INF_EINVAL, "a shape or axes input has %lld values, at most %d",
                           (long long)count, max);
    for (int64_t i = 0; i < count; i++)
        out[i] = t->dtype == ONNX_DTYPE_INT64 ? ((const int64_t *)t->data)[i]
                                              : ((const int32_t *)t->data)[i];
    *n = (int)count;
    return 0;
}

void onnx_shape_set(struct onnx_tensor *t, enum onnx_dtype dtype, int rank, const int64_t *dims)
{
    t->dtype = dtype;
    t->rank = rank;
    if (rank > 0)
        memmove(t->dims, dims, sizeof(int64_t) * (size_t)rank);
}

int onnx_shape_node_error(const struct onnx_node *n, struct inf_err *err)
{
    return inf_err_prefix(err, "node '%s' (%s)", n->name, n->op->name);
}

int onnx_shape_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_node *n = k->node;
    for (int i = 0; i < k->n_in; i++)
        if (k->in[i] != NULL && (k->in[i]->rank < 0 || k->in[i]->dtype == ONNX_DTYPE_UNDEFINED)) {
            inf_err_set(err, INF_EINVAL, "input %d has an unknown type or shape", i);
            return onnx_shape_node_error(n, err);
        }
    for (int i = 0; i < k->n_out; i++)
        if (k->out[i] != NULL) {
            k->out[i]->dtype = ONNX_DTYPE_UNDEFINED;
            k->out[i]->rank = -1;
            k->out[i]->data = NULL;
        }
    k->scratch_bytes = 0;
    int rc = n->op->infer(k, err);
    if (rc != 0)
        return onnx_shape_node_error(n, err);
    for (int i = 0; i < k->n_out; i++) {
        struct onnx_tensor *t = k->out[i];
        if (t == NULL)
            continue;
        int64_t numel;
        ONNX_ASSERT(t->rank >= 0 && t->rank <= ONNX_MAX_RANK && onnx_dtype_size(t->dtype) > 0);
        if ((rc = onnx_shape_numel(t->dims, t->rank, &numel, err)) != 0) {
            inf_err_prefix(err, "output %d", i);
            return onnx_shape_node_error(n, err);
        }
    }
    return 0;
}
