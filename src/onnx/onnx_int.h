/*
 * onnx_int: the engine's private intermediate representation, shared by the
 * loader (model.c, attr.c), the graph passes (graph.c, fuse.c), the planner
 * (shape.c, plan.c), the session (session.c) and the kernels (ops_*.c).
 *
 * A model is a table of values (every named tensor: inputs, weights,
 * intermediates, outputs) and a list of nodes in topological order. A node
 * refers to values by index. Operators are described by struct onnx_op: a
 * loader that turns attributes into node parameters, a shape function and a
 * kernel, all working on struct onnx_tensor (shape plus data).
 */
#ifndef INF_ONNX_ONNX_INT_H
#define INF_ONNX_ONNX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "onnx/onnx.h"

/* Opset range of the default domain the engine accepts. */
#define ONNX_OPSET_MIN 7
#define ONNX_OPSET_MAX 18

/* Hard caps: a tensor's elements, a plan's arena, and the bytes of constants
 * folded at load beyond the model file's own size. */
#define ONNX_MAX_NUMEL (INT64_C(1) << 32)
#define ONNX_MAX_ARENA_BYTES ((size_t)16 << 30)
#define ONNX_FOLD_BUDGET_BYTES ((size_t)64 << 20)

/* Arena and constant buffers are aligned for the widest vector loads. */
#define ONNX_ALIGN 64

/* Invariants, always checked: a failure is an engine bug, never bad input. */
#define ONNX_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            onnx_assert_fail(#cond, __FILE__, __LINE__);                                           \
    } while (0)
_Noreturn void onnx_assert_fail(const char *cond, const char *file, int line);

/* ---- values and nodes ------------------------------------------------- */

#define ONNX_VALUE_INPUT 1u  /* a graph input, provided at run */
#define ONNX_VALUE_OUTPUT 2u /* a graph output */
#define ONNX_VALUE_CONST 4u  /* data known at load: initializer, Constant, folded */
#define ONNX_VALUE_SHAPE 8u  /* a graph input whose values decide shapes: plans key on them */

struct onnx_value {
    char *name;
    struct onnx_tensor t; /* rank -1 / dims -1 when unknown; data for constants */
    void *own;            /* heap buffer behind t.data that the model frees, or NULL */
    unsigned flags;
    int producer; /* index of the node computing it, or -1 */
};

/* Activation fused into the kernel that produces a value. */
enum onnx_act_kind { ONNX_ACT_NONE = 0, ONNX_ACT_RELU, ONNX_ACT_CLIP, ONNX_ACT_GELU };

struct onnx_act {
    enum onnx_act_kind kind;
    float lo, hi; /* ONNX_ACT_CLIP bounds */
};

enum onnx_auto_pad {
    ONNX_PAD_NOTSET = 0,
    ONNX_PAD_SAME_UPPER,
    ONNX_PAD_SAME_LOWER,
    ONNX_PAD_VALID,
};

/* Microkernel families of gemm.c (the packed layout depends on it). */
enum onnx_gemm_isa { ONNX_GEMM_GENERIC = 0, ONNX_GEMM_AVX2, ONNX_GEMM_AVX512 };

/* Conv and pooling window attributes as given (1 or 2 spatial axes; which
 * one is known from the input's rank at planning). n_* is -1 when absent. */
struct onnx_window {
    int n_kernel, n_strides, n_dilations, n_pads;
    int64_t kernel[2];
    int64_t strides[2];
    int64_t dilations[2];
    int64_t pads[4]; /* begins, then ends */
    enum onnx_auto_pad auto_pad;
};

/* A window resolved for one input: 1-D inputs are seen as 2-D with h = 1. */
struct onnx_geom {
    int nsp;            /* spatial axes of the input: 1 or 2 */
    int64_t n, c, h, w; /* input */
    int64_t oh, ow;     /* output */
    int64_t kh, kw, sh, sw, dh, dw;
    int64_t pt, pl; /* padding before (top, left) */
    int64_t pb, pr; /* padding after (bottom, right) */
};

struct onnx_conv_params {
    struct onnx_window w;
    int64_t group;
    struct onnx_act act;
    /* W was packed at load for convgemm.c (per group, W^T in panels). */
    bool packed;
    enum onnx_gemm_isa isa;
};

struct onnx_pool_params {
    struct onnx_window w;
    bool ceil_mode;
    bool count_include_pad;
};

struct onnx_gemm_params {
    float alpha, beta;
    bool trans_a, trans_b;
    struct onnx_act act;
    /* B was a constant packed at load for gemm.c (NR-column panels); its
     * value keeps the logical [K, N] shape. */
    bool packed;
    enum onnx_gemm_isa isa;
};

/* Elementwise operations: binary (broadcast), unary, comparisons. */
enum onnx_ew {
    ONNX_EW_ADD,
    ONNX_EW_SUB,
    ONNX_EW_MUL,
    ONNX_EW_DIV,
    ONNX_EW_POW,
    ONNX_EW_EQUAL,
    ONNX_EW_LESS,
    ONNX_EW_GREATER,
    ONNX_EW_RELU,
    ONNX_EW_SQRT,
    ONNX_EW_ERF,
    ONNX_EW_TANH,
    ONNX_EW_SIGMOID,
    ONNX_EW_NEG,
    ONNX_EW_EXP,
    ONNX_EW_CLIP,
    ONNX_EW_GELU,
};

struct onnx_ew_params {
    enum onnx_ew kind;
    struct onnx_act act; /* fused after a binary op (Add + Relu) */
    float lo, hi;        /* Clip from attributes (opset < 11) */
    bool has_attr_bounds;
};

/* Axes and the like, for the many operators with a list attribute. */
struct onnx_axes_params {
    int64_t axis;
    int64_t v[ONNX_MAX_RANK]; /* axes, perm or shape start/end */
    int n;                    /* -1 when the attribute is absent */
    bool keepdims;
    bool noop_empty;    /* ReduceMean noop_with_empty_axes */
    bool allowzero;     /* Reshape */
    int64_t start, end; /* Shape (opset 15) */
    bool has_end;
};

struct onnx_norm_params {
    int64_t axis;
    float epsilon;
    bool legacy_softmax; /* Softmax before opset 13: coerce to 2-D at axis */
};

struct onnx_cast_params {
    enum onnx_dtype to;
};

struct onnx_const_params {
    enum onnx_dtype dtype;
    union {
        float f;
        int64_t i;
        uint8_t b;
    } v;
};

/* Slice before opset 10 takes starts/ends/axes as attributes. */
struct onnx_slice_params {
    bool attrs;
    int64_t starts[ONNX_MAX_RANK], ends[ONNX_MAX_RANK], axes[ONNX_MAX_RANK];
    int n, n_axes;
};

union onnx_params {
    struct onnx_conv_params conv;
    struct onnx_pool_params pool;
    struct onnx_gemm_params gemm;
    struct onnx_ew_params ew;
    struct onnx_axes_params axes;
    struct onnx_norm_params norm;
    struct onnx_cast_params cast;
    struct onnx_const_params cst;
    struct onnx_slice_params slice;
};

struct onnx_op;

struct onnx_node {
    const struct onnx_op *op;
    char *name; /* the node's name, or "<OpType>#<index>" when it has none */
    int opset;
    int n_in, n_out;
    int *in;  /* value indices; -1 for an omitted optional input */
    int *out; /* value indices; -1 for an omitted optional output */
    union onnx_params p;
};

struct onnx_model {
    char *source; /* file path or name, for messages */
    int opset;
    struct onnx_value *values;
    int n_values, cap_values;
    struct onnx_node *nodes; /* topological order */
    int n_nodes;
    int *inputs, *outputs; /* value indices */
    struct onnx_io_desc *input_desc, *output_desc;
    size_t n_inputs, n_outputs;
    size_t fold_budget;     /* bytes still allowed for folded constants */
    size_t max_arena_bytes; /* per plan: intermediates and plan-time constants */
};

/* ---- operators -------------------------------------------------------- */

/* What a shape function or kernel sees of one node in one plan. in[i] is NULL
 * for an omitted optional input; during shape inference in[i]->data is NULL
 * unless the value is known then (constant or folded). */
struct onnx_kernel_args {
    const struct onnx_node *node;
    const struct onnx_tensor *const *in;
    struct onnx_tensor *const *out;
    int n_in, n_out;
    void *scratch;        /* run: at least the scratch_bytes asked for */
    size_t scratch_bytes; /* infer: set to what run will need */
};

struct onnx_attrs;

#define ONNX_OP_ALIAS 1u      /* output 0 is input 0's bytes under a new shape */
#define ONNX_OP_SHAPE_ONLY 2u /* reads only input shapes, never their data */
/* Shape inference reads input i's values (a shape, axes, bounds). */
#define ONNX_OP_READS(i) (1u << (8 + (i)))

struct onnx_op {
    const char *name;
    int min_in, max_in; /* max_in -1: variadic */
    int min_out, max_out;
    unsigned flags;
    /* Reads and checks attributes into n->p (n->opset is set). Optional. */
    int (*load)(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err);
    /* Sets every present output's dtype, rank and dims from the inputs. */
    int (*infer)(struct onnx_kernel_args *k, struct inf_err *err);
    /* Computes the outputs. Fails only on data-dependent errors. */
    int (*run)(const struct onnx_kernel_args *k, struct inf_err *err);
};

/* ops.c: the registry. The operator called name in the default domain, or
 * NULL. */
const struct onnx_op *onnx_ops_find(const char *name);

/* Operator tables of each family, terminated by an entry with a NULL name. */
extern const struct onnx_op onnx_ops_elementwise_table[];
extern const struct onnx_op onnx_ops_matmul_table[];
extern const struct onnx_op onnx_ops_conv_table[];
extern const struct onnx_op onnx_ops_pool_table[];
extern const struct onnx_op onnx_ops_norm_table[];
extern const struct onnx_op onnx_ops_shape_table[];
extern const struct onnx_op onnx_ops_data_table[];

/* ops_elementwise.c: applies a fused activation to n floats in place. */
void onnx_ops_elementwise_act(float *x, size_t n, const struct onnx_act *act);

/* vmath.c: array maths, vectorised for the CPU at hand. y may not alias x
 * except for gelu, which works in place. */
void onnx_vmath_exp(float *restrict y, const float *restrict x, size_t n);
void onnx_vmath_erf(float *restrict y, const float *restrict x, size_t n);
void onnx_vmath_sigmoid(float *restrict y, const float *restrict x, size_t n);
void onnx_vmath_tanh(float *restrict y, const float *restrict x, size_t n);
void onnx_vmath_gelu(float *x, size_t n);
void onnx_vmath_softmax(float *restrict y, const float *restrict x, size_t n);
void onnx_vmath_layernorm(float *restrict y, const float *restrict x, size_t n, const float *scale,
                          bool scale_all, const float *bias, bool bias_all, float eps,
                          float *mean_out, float *inv_out);

/* gemm.c: products by a weight packed at load (see gemm.c). */
#define ONNX_GEMM_NR 16
enum onnx_gemm_isa onnx_gemm_isa_detect(void);
const char *onnx_gemm_isa_name(enum onnx_gemm_isa isa);
/* B (K x N, or N x K when trans) times scale, as NR-column panels. */
size_t onnx_gemm_packed_b_bytes(int64_t k, int64_t n);
void onnx_gemm_pack_b(const float *b, int64_t k, int64_t n, bool trans, float scale, float *out);
/* Work buffer bytes for onnx_gemm_packed_b with m rows. */
size_t onnx_gemm_work_bytes_a(enum onnx_gemm_isa isa, int64_t m);
/* C[m x n] (+= when acc) A[m x k] (row-major, lda) * packed B. */
void onnx_gemm_packed_b(enum onnx_gemm_isa isa, int64_t m, int64_t n, int64_t k, const float *a,
                        int64_t lda, const float *pb, float *c, int64_t ldc, bool acc, float *work);

/* convgemm.c: a convolution by weights packed with onnx_gemm_pack_b (W as
 * [K, Cout], K = Cin*kh*kw): Ct[p][co] (+= when acc) = sum over taps kk of
 * src(p)[offs[kk]] * W[kk][co], for output pixels p = (oy, ox) of an oh x ow
 * grid whose input starts at base + oy * row_step + ox * col_step (a padded
 * copy when the convolution pads). Ct is pixel-major with a row of
 * ct_stride >= round-up(cout, 16) floats: the caller transposes it. */
void onnx_convgemm(enum onnx_gemm_isa isa, int64_t cout, int64_t k, const float *pw,
                   const float *base, int64_t row_step, int64_t col_step, const int64_t *offs,
                   int64_t oh, int64_t ow, float *ct, int64_t ct_stride);

/* ops_conv.c: reads kernel_shape, strides, pads, auto_pad and (when
 * `dilations`) dilations. */
int onnx_ops_conv_load_window(struct onnx_window *w, struct onnx_attrs *a, bool dilations,
                              struct inf_err *err);
/* Resolves w for input x ([N, C, spatial...]) and the kernel size kernel
 * (spatial values, as many as x has spatial axes); ceil_mode rounds the
 * output size up (pools). INF_EINVAL / INF_EUNSUPPORTED otherwise. */
int onnx_ops_conv_geom(const struct onnx_window *w, const struct onnx_tensor *x,
                       const int64_t *kernel, bool ceil_mode, struct onnx_geom *g,
                       struct inf_err *err);

/* ---- attributes (attr.c) ---------------------------------------------- */

/* Each accessor marks the attribute as read; the loader rejects a node with
 * an attribute its operator did not read. A missing attribute gives the
 * default; a present one of the wrong type is INF_EINVAL. */
bool onnx_attr_has(struct onnx_attrs *a, const char *name);
int onnx_attr_int(struct onnx_attrs *a, const char *name, int64_t def, int64_t *out,
                  struct inf_err *err);
int onnx_attr_float(struct onnx_attrs *a, const char *name, float def, float *out,
                    struct inf_err *err);
/* Up to max values into out; *n is -1 when absent. More than max: INF_EINVAL. */
int onnx_attr_ints(struct onnx_attrs *a, const char *name, int64_t *out, int max, int *n,
                   struct inf_err *err);
/* The values of a list of floats, borrowed from the model being loaded
 * (valid during the operator's load only); *n is 0 when absent. */
int onnx_attr_floats(struct onnx_attrs *a, const char *name, const float **out, size_t *n,
                     struct inf_err *err);
/* The string value copied into out (NUL-terminated), or def when absent.
 * A value that does not fit is INF_EINVAL. */
int onnx_attr_string(struct onnx_attrs *a, const char *name, const char *def, char *out,
                     size_t out_len, struct inf_err *err);
/* A tensor attribute converted into *out with data in a fresh heap buffer
 * (*own, which the caller frees). out->dtype is ONNX_DTYPE_UNDEFINED when
 * absent. */
int onnx_attr_tensor(struct onnx_attrs *a, const char *name, struct onnx_tensor *out, void **own,
                     struct inf_err *err);
/* The first attribute the operator did not read, or NULL. */
const char *onnx_attr_unread(const struct onnx_attrs *a);

/* ---- model building (model.c) ----------------------------------------- */

/* Appends a value to m and returns its index. name is copied. */
int onnx_model_add_value(struct onnx_model *m, const char *name);
/* The index of the value called name, or -1. */
int onnx_model_find_value(const struct onnx_model *m, const char *name);
/* Makes value v a constant owning buf (heap, aligned with onnx_alloc). */
void onnx_model_set_const(struct onnx_model *m, int v, const struct onnx_tensor *t, void *buf);
/* Parses a serialized TensorProto (as the ONNX test data .pb files) into *out
 * with a fresh heap buffer *own. */
int onnx_model_tensor_parse(const void *data, size_t len, struct onnx_tensor *out, void **own,
                            struct inf_err *err);

/* ---- graph passes (graph.c, fuse.c) ----------------------------------- */

/* Sorts m->nodes topologically (stable), checks every input is defined once
 * and computed before use, and links producers. INF_EINVAL on a cycle or an
 * undefined input, naming it. */
int onnx_graph_sort(struct onnx_model *m, struct inf_err *err);
/* Computes a node now (k inferred already): allocates each present output
 * (own[i], caller frees; counted against *budget, INF_ETOOBIG past it) and
 * a scratch buffer, then runs the kernel. */
int onnx_graph_eval(struct onnx_kernel_args *k, void **own, size_t *budget, struct inf_err *err);
/* Folds nodes whose inputs are all constants into constants. */
int onnx_graph_fold(struct onnx_model *m, struct inf_err *err);
/* Drops nodes whose outputs nobody reads and constants nobody uses. */
void onnx_graph_prune(struct onnx_model *m);
/* A fresh array (caller frees) of how many times each value is read by a
 * node, plus one for each graph output it is. */
int *onnx_graph_use_counts(const struct onnx_model *m);
/* Removes the nodes whose op was set to NULL and relinks producers. */
void onnx_graph_compact(struct onnx_model *m);

/* Fuses Conv+BatchNormalization, activations into Conv/Gemm/MatMul,
 * MatMul+Add into a biased MatMul, and prepares constant weights. */
int onnx_fuse_run(struct onnx_model *m, struct inf_err *err);

/* ---- shapes (shape.c) ------------------------------------------------- */

/* numel with overflow and ONNX_MAX_NUMEL checks: 0 or INF_ETOOBIG. */
int onnx_shape_numel(const int64_t *dims, int rank, int64_t *out, struct inf_err *err);
/* Multidirectional (numpy) broadcast of a and b into out's rank and dims. */
int onnx_shape_broadcast(const struct onnx_tensor *a, const struct onnx_tensor *b,
                         struct onnx_tensor *out, struct inf_err *err);
/* Normalises axis (negative counts from the end) into [0, rank). */
int onnx_shape_axis(int64_t axis, int rank, int64_t *out, struct inf_err *err);
/* Reads a small int64/int32 tensor (known data) into out (max entries). */
int onnx_shape_read_ints(const struct onnx_tensor *t, int64_t *out, int max, int *n,
                         struct inf_err *err);
/* Sets t's shape. */
void onnx_shape_set(struct onnx_tensor *t, enum onnx_dtype dtype, int rank, const int64_t *dims);
/* Runs n's shape function on the given tensors and checks the result (every
 * output typed and sized). Errors are prefixed with the node. */
int onnx_shape_infer(struct onnx_kernel_args *k, struct inf_err *err);
/* Prefixes err with "node 'name' (Op)". Returns err's code. */
int onnx_shape_node_error(const struct onnx_node *n, struct inf_err *err);

/* ---- plans (plan.c) --------------------------------------------------- */

/* An execution plan for one set of input shapes: every value's shape, the
 * kernels to run in order, constants folded for these shapes, and where each
 * intermediate lives in an arena (offsets by liveness). */
struct onnx_plan;

/* Builds the plan for inputs (one per model input: dtype, rank and dims are
 * read, data is not). Errors name the node at fault. */
int onnx_plan_build(const struct onnx_model *m, const struct onnx_tensor *inputs,
                    struct onnx_plan **out, struct inf_err *err);
/* Value v's tensor in the plan (shape; data when bound or constant). */
const struct onnx_tensor *onnx_plan_value(const struct onnx_plan *p, int v);
/* Bytes of arena the plan needs (ONNX_ALIGN-aligned). */
size_t onnx_plan_arena_bytes(const struct onnx_plan *p);
/* Whether the plan was built for these inputs' dtypes and shapes. */
bool onnx_plan_matches(const struct onnx_plan *p, const struct onnx_tensor *inputs);
/* Runs the plan with intermediates in arena (at least arena_bytes) and fills
 * outputs (one per model output; data points into the arena, the inputs or
 * the model's constants). */
int onnx_plan_run(struct onnx_plan *p, void *arena, const struct onnx_tensor *inputs,
                  struct onnx_tensor *outputs, struct inf_err *err);
void onnx_plan_free(struct onnx_plan *p);

/* ---- memory and dtypes (ops.c) ---------------------------------------- */

/* ONNX_ALIGN-aligned heap memory (aborts on out of memory); free with free(). */
void *onnx_alloc(size_t bytes);
/* Bytes of t's data (numel * element size). */
size_t onnx_tensor_bytes(const struct onnx_tensor *t);

#endif
