/*
 * ops: the operator registry (name to struct onnx_op across the kernel
 * families), aligned allocation and element-type basics. Read-only tables;
 * any thread.
 */
#include "onnx/onnx_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static const struct onnx_op *const tables[] = {
    onnx_ops_elementwise_table, onnx_ops_matmul_table, onnx_ops_conv_table, onnx_ops_pool_table,
    onnx_ops_norm_table,        onnx_ops_shape_table,  onnx_ops_data_table,
};

const struct onnx_op *onnx_ops_find(const char *name)
{
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (const struct onnx_op *op = tables[t]; op->name != NULL; op++)
            if (strcmp(op->name, name) == 0)
                return op;
    return NULL;
}

void *onnx_alloc(size_t bytes)
{
    size_t rounded = (bytes + ONNX_ALIGN - 1) / ONNX_ALIGN * ONNX_ALIGN;
    void *p = aligned_alloc(ONNX_ALIGN, rounded > 0 ? rounded : ONNX_ALIGN);
    if (p == NULL) {
        inf_error("onnx.oom", "bytes=%zu", bytes);
        abort();
    }
    return p;
}

_Noreturn void onnx_assert_fail(const char *cond, const char *file, int line)
{
    inf_error("onnx.assert", "cond=\"%s\" file=%s line=%d", cond, file, line);
    abort();
}

size_t onnx_dtype_size(enum onnx_dtype dtype)
{
    switch (dtype) {
    case ONNX_DTYPE_FLOAT:
    case ONNX_DTYPE_INT32:
        return 4;
    case ONNX_DTYPE_INT64:
        return 8;
    case ONNX_DTYPE_BOOL:
        return 1;
    default:
        return 0;
    }
}

const char *onnx_dtype_name(enum onnx_dtype dtype)
{
    switch (dtype) {
    case ONNX_DTYPE_FLOAT:
        return "float";
    case ONNX_DTYPE_INT32:
        return "int32";
    case ONNX_DTYPE_INT64:
        return "int64";
    case ONNX_DTYPE_BOOL:
        return "bool";
    default:
        return "undefined";
    }
}

int64_t onnx_tensor_numel(const struct onnx_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

size_t onnx_tensor_bytes(const struct onnx_tensor *t)
{
    return (size_t)onnx_tensor_numel(t) * onnx_dtype_size(t->dtype);
}
