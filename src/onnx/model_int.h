/*
 * model_int: the loader's view of the protobuf-c bindings generated from
 * onnx.proto at build time. Only the loader (model.c, attr.c) and tests that
 * read ONNX test data include it; the rest of the engine sees onnx_int.h.
 */
#ifndef INF_ONNX_MODEL_INT_H
#define INF_ONNX_MODEL_INT_H

#include <stdbool.h>

#include "onnx.pb-c.h"
#include "onnx/onnx_int.h"

/* The attributes of one node while its operator reads them. */
struct onnx_attrs {
    Onnx__NodeProto *node;
    bool *read;      /* one flag per attribute */
    const char *dir; /* directory for external tensor data, or NULL */
};

/* Converts tp into out. The payload is adopted from the decoded message when
 * it already has the right layout (the message no longer owns it) and
 * converted into a fresh buffer otherwise; either way *own is the heap
 * buffer the caller frees (NULL for an empty tensor). External data is read
 * from dir (NULL: not allowed). Errors name the tensor. */
int onnx_model_tensor_from_proto(Onnx__TensorProto *tp, const char *dir, struct onnx_tensor *out,
                                 void **own, struct inf_err *err);

#endif
