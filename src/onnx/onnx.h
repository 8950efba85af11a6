/*
 * onnx: inferd's own ONNX inference engine (public API).
 *
 * A model is loaded once (onnx_model_load): the file is parsed, constant
 * subgraphs are folded, operators are fused and weights are put in the
 * layout their kernels want. The loaded model is immutable, so any number of
 * threads may share it. Each thread that runs inference owns a session
 * (onnx_session_new): the execution plan for the input shapes it last saw
 * and the memory arena its intermediate tensors live in, so running it again
 * with the same shapes allocates nothing.
 *
 * Supported element types: float32 for the maths, int64 (and bool) where
 * shapes and indices need them. See docs/onnx.md for the operator list.
 */
#ifndef INF_ONNX_ONNX_H
#define INF_ONNX_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* The largest tensor rank the engine handles. */
#define ONNX_MAX_RANK 8

/* Element types, numbered as ONNX's TensorProto.DataType. */
enum onnx_dtype {
    ONNX_DTYPE_UNDEFINED = 0,
    ONNX_DTYPE_FLOAT = 1,
    ONNX_DTYPE_INT32 = 6,
    ONNX_DTYPE_INT64 = 7,
    ONNX_DTYPE_BOOL = 9,
};

/* A dense row-major tensor. The data pointer is borrowed: the caller owns
 * input data, the session owns output data. */
struct onnx_tensor {
    enum onnx_dtype dtype;
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    void *data;
};

/* A graph input or output as the model declares it. */
struct onnx_io_desc {
    const char *name;
    enum onnx_dtype dtype;
    int rank;                             /* -1 when the model does not say */
    int64_t dims[ONNX_MAX_RANK];          /* -1 for a dynamic dimension */
    const char *dim_names[ONNX_MAX_RANK]; /* symbolic names ("batch") or NULL */
};

struct onnx_model;
struct onnx_session;

/* Loads the ONNX model at path: parses it (the file is mapped, weights are
 * converted once), checks every operator and attribute is supported and
 * prepares the graph. Returns 0 and *out (free with onnx_model_free), or
 * INF_ENOTFOUND / INF_EIO for the file, INF_EINVAL for a malformed model,
 * INF_EUNSUPPORTED naming the operator and node the engine cannot run.
 * Sets OpenBLAS to one thread. Any thread. */
int onnx_model_load(const char *path, struct onnx_model **out, struct inf_err *err);

/* As onnx_model_load, from a serialized ModelProto in memory (borrowed for
 * the call only). name is used in error messages. */
int onnx_model_load_mem(const void *data, size_t len, const char *name, struct onnx_model **out,
                        struct inf_err *err);

/* Frees a model; every session made from it must be freed first. NULL is a
 * no-op. */
void onnx_model_free(struct onnx_model *m);

/* The graph's inputs (initializers excluded) and outputs, in graph order.
 * Borrowed from the model. i must be below the count. */
size_t onnx_model_input_count(const struct onnx_model *m);
const struct onnx_io_desc *onnx_model_input(const struct onnx_model *m, size_t i);
size_t onnx_model_output_count(const struct onnx_model *m);
const struct onnx_io_desc *onnx_model_output(const struct onnx_model *m, size_t i);

/* Caps the working memory (arena) of each plan of m's sessions; inputs whose
 * shapes need more fail with INF_ETOOBIG. The default is 16 GiB. Call before
 * creating sessions. */
void onnx_model_set_arena_limit(struct onnx_model *m, size_t bytes);

/* The index of the input called name, or -1. */
int onnx_model_input_find(const struct onnx_model *m, const char *name);

/* Opset version of the default ONNX domain the model was exported with. */
int onnx_model_opset(const struct onnx_model *m);

/* Creates a session on m (borrowed: it must outlive the session). When every
 * input has static dimensions the plan is built now. Returns 0 and *out, or
 * an error from planning. A session is used by one thread at a time. */
int onnx_session_new(const struct onnx_model *m, struct onnx_session **out, struct inf_err *err);

/* Runs the model. inputs holds one tensor per model input, in
 * onnx_model_input order; each must match the declared dtype, rank and
 * static dimensions (INF_EINVAL naming the input otherwise). On success
 * outputs[0..n_outputs) (n_outputs must equal onnx_model_output_count) are
 * filled; their data belongs to the session and stays valid until the next
 * run or onnx_session_free. New input shapes build a new plan (a few plans
 * are cached); repeated shapes allocate nothing. Errors: INF_EINVAL for bad
 * inputs or data-dependent failures (an index out of range), naming the
 * node; INF_ETOOBIG when the shapes need more memory than the engine allows. */
int onnx_session_run(struct onnx_session *s, const struct onnx_tensor *inputs, size_t n_inputs,
                     struct onnx_tensor *outputs, size_t n_outputs, struct inf_err *err);

/* Frees a session and its plans and arena. NULL is a no-op. */
void onnx_session_free(struct onnx_session *s);

/* Bytes per element of dtype (0 for an unsupported one), and its ONNX name
 * ("float", "int64", ...). */
size_t onnx_dtype_size(enum onnx_dtype dtype);
const char *onnx_dtype_name(enum onnx_dtype dtype);

/* Number of elements of t (product of its dims; 1 for a scalar). */
int64_t onnx_tensor_numel(const struct onnx_tensor *t);

#endif
