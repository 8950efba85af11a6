/*
 * ops_elementwise: elementwise operators. Binary arithmetic and comparisons
 * with numpy broadcasting (Add, Sub, Mul, Div, Pow, Equal, Less, Greater),
 * Where and Expand, and the unary maths (Relu, Clip, Sqrt, Erf, Tanh,
 * Sigmoid, Exp, Neg).
 *
 * Broadcasting is reduced to runs: dimensions that every operand walks the
 * same way are merged, so the innermost loop is a contiguous run in which
 * each operand either advances or repeats one element; the loops over runs
 * then cost little and the run loops vectorise. Kernels run on the session's
 * thread and allocate nothing.
 */
#include "onnx/onnx_int.h"

#include <math.h>
#include <string.h>

/* ---- broadcast iteration ----------------------------------------------- */

#define BC_MAX_IN 3

/* The output's dims after merging, with each input's element strides (0
 * where it repeats). */
struct bcast {
    int rank; /* >= 1 */
    int n_in;
    int64_t dims[ONNX_MAX_RANK];
    int64_t st[BC_MAX_IN][ONNX_MAX_RANK];
};

static void bcast_init(struct bcast *bc, const struct onnx_tensor *out,
                       const struct onnx_tensor *const *in, int n_in)
{
    int r = out->rank;
    int64_t dims[ONNX_MAX_RANK], st[BC_MAX_IN][ONNX_MAX_RANK];
    for (int j = 0; j < n_in; j++) {
        int64_t stride = 1;
        for (int d = r - 1; d >= 0; d--) {
            int id = d - (r - in[j]->rank);
            int64_t dim = id >= 0 ? in[j]->dims[id] : 1;
            st[j][d] = dim == 1 ? 0 : stride;
            stride *= dim;
        }
    }
    /* Drop size-1 output dims, then merge neighbours walked alike. */
    int n = 0;
    for (int d = 0; d < r; d++) {
        if (out->dims[d] == 1)
            continue;
        if (n > 0) {
            bool merge = true;
            for (int j = 0; j < n_in; j++)
                merge &= st[j][n - 1] == st[j][d] * out->dims[d];
            if (merge) {
                dims[n - 1] *= out->dims[d];
                for (int j = 0; j < n_in; j++)
                    st[j][n - 1] = st[j][d];
                continue;
            }
        }
        dims[n] = out->dims[d];
        for (int j = 0; j < n_in; j++)
            st[j][n] = st[j][d];
        n++;
    }
    if (n == 0) {
        dims[0] = 1;
        for (int j = 0; j < n_in; j++)
            st[j][0] = 0;
        n = 1;
    }
    bc->rank = n;
    bc->n_in = n_in;
    memcpy(bc->dims, dims, sizeof(int64_t) * (size_t)n);
    for (int j = 0; j < n_in; j++)
        memcpy(bc->st[j], st[j], sizeof(int64_t) * (size_t)n);
}

/* Calls fn once per innermost run: output element offset, each input's
 * element offset, the run length; inner strides are bc->st[j][rank-1]. */
typedef void (*run_fn)(void *ctx, int64_t out, const int64_t *in, int64_t n);

static void bcast_each(const struct bcast *bc, run_fn fn, void *ctx)
{
    int r = bc->rank;
    int64_t inner = bc->dims[r - 1];
    int64_t outer = 1;
    for (int d = 0; d < r - 1; d++)
        outer *= bc->dims[d];
    int64_t idx[ONNX_MAX_RANK] = {0};
    int64_t off[BC_MAX_IN] = {0};
    for (int64_t o = 0; o < outer; o++) {
        fn(ctx, o * inner, off, inner);
        for (int d = r - 2; d >= 0; d--) {
            idx[d]++;
            for (int j = 0; j < bc->n_in; j++)
                off[j] += bc->st[j][d];
            if (idx[d] < bc->dims[d])
                break;
            for (int j = 0; j < bc->n_in; j++)
                off[j] -= bc->st[j][d] * bc->dims[d];
            idx[d] = 0;
        }
    }
}

/* ---- activations -------------------------------------------------------- */

void onnx_ops_elementwise_act(float *x, size_t n, const struct onnx_act *act)
{
    switch (act->kind) {
    case ONNX_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case ONNX_ACT_CLIP: {
        float lo = act->lo, hi = act->hi;
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
        break;
    }
    case ONNX_ACT_GELU:
        onnx_vmath_gelu(x, n);
        break;
    case ONNX_ACT_NONE:
        break;
    }
}

/* ---- binary operators --------------------------------------------------- */

struct binary_ctx {
    enum onnx_ew kind;
    const struct onnx_tensor *a, *b;
    struct onnx_tensor *y;
    int64_t sa, sb; /* inner strides: 0 or 1 */
    const struct onnx_act *act;
    bool div_by_zero;
};

/* One run of y[i] = OP(a[i*sa], b[i*sb]), specialised on the stride pattern
 * so the common cases are plain vectorisable loops. */
#define RUN_PATTERNS(T_OUT, T_IN, EXPR)                                                            \
    do {                                                                                           \
        T_OUT *restrict y_ = yv;                                                                   \
        const T_IN *restrict a_ = av, *restrict b_ = bv;                                           \
        if (sa && sb) {                                                                            \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T_IN x = a_[i], z = b_[i];                                                         \
                y_[i] = (EXPR);                                                                    \
            }                                                                                      \
        } else if (sa) {                                                                           \
            T_IN z = b_[0];                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T_IN x = a_[i];                                                                    \
                y_[i] = (EXPR);                                                                    \
            }                                                                                      \
        } else if (sb) {                                                                           \
            T_IN x = a_[0];                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T_IN z = b_[i];                                                                    \
                y_[i] = (EXPR);                                                                    \
            }                                                                                      \
        } else {                                                                                   \
            T_IN x = a_[0], z = b_[0];                                                             \
            T_OUT v = (EXPR);                                                                      \
            for (int64_t i = 0; i < n; i++)                                                        \
                y_[i] = v;                                                                         \
        }                                                                                          \
    } while (0)

static float pow_f(float x, float z)
{
    if (z == 2.0f)
        return x * x;
    if (z == 0.5f)
        return sqrtf(x);
    if (z == 1.0f)
        return x;
    return powf(x, z);
}

static void binary_f32(void *yv, const void *av, const void *bv, int64_t sa, int64_t sb, int64_t n,
                       enum onnx_ew kind)
{
    switch (kind) {
    case ONNX_EW_ADD:
        RUN_PATTERNS(float, float, x + z);
        break;
    case ONNX_EW_SUB:
        RUN_PATTERNS(float, float, x - z);
        break;
    case ONNX_EW_MUL:
        RUN_PATTERNS(float, float, x *z);
        break;
    case ONNX_EW_DIV:
        RUN_PATTERNS(float, float, x / z);
        break;
    case ONNX_EW_POW:
        RUN_PATTERNS(float, float, pow_f(x, z));
        break;
    case ONNX_EW_EQUAL:
        RUN_PATTERNS(uint8_t, float, x == z);
        break;
    case ONNX_EW_LESS:
        RUN_PATTERNS(uint8_t, float, x < z);
        break;
    case ONNX_EW_GREATER:
        RUN_PATTERNS(uint8_t, float, x > z);
        break;
    default:
        ONNX_ASSERT(!"binary operator");
    }
}

/* Integer division truncates like C; a zero divisor is reported, not
 * trapped on. */
static int64_t div_i64(int64_t x, int64_t z, bool *bad)
{
    if (z == 0 || (x == INT64_MIN && z == -1)) {
        *bad = true;
        return 0;
    }
    return x / z;
}

static int64_t pow_i64(int64_t x, int64_t z)
{
    if (z < 0)
        return x == 1 ? 1 : (x == -1 ? (z % 2 ? -1 : 1) : 0);
    uint64_t r = 1, b = (uint64_t)x;
    for (; z > 0; z >>= 1, b *= b)
        if (z & 1)
            r *= b;
    return (int64_t)r;
}

static void binary_i64(void *yv, const void *av, const void *bv, int64_t sa, int64_t sb, int64_t n,
                       enum onnx_ew kind, bool *bad)
{
    /* Wrap on overflow instead of undefined behaviour: go through uint64. */
    switch (kind) {
    case ONNX_EW_ADD:
        RUN_PATTERNS(int64_t, int64_t, (int64_t)((uint64_t)x + (uint64_t)z));
        break;
    case ONNX_EW_SUB:
        RUN_PATTERNS(int64_t, int64_t, (int64_t)((uint64_t)x - (uint64_t)z));
        break;
    case ONNX_EW_MUL:
        RUN_PATTERNS(int64_t, int64_t, (int64_t)((uint64_t)x * (uint64_t)z));
        break;
    case ONNX_EW_DIV:
        RUN_PATTERNS(int64_t, int64_t, div_i64(x, z, bad));
        break;
    case ONNX_EW_POW:
        RUN_PATTERNS(int64_t, int64_t, pow_i64(x, z));
        break;
    case ONNX_EW_EQUAL:
        RUN_PATTERNS(uint8_t, int64_t, x == z);
        break;
    case ONNX_EW_LESS:
        RUN_PATTERNS(uint8_t, int64_t, x < z);
        break;
    case ONNX_EW_GREATER:
        RUN_PATTERNS(uint8_t, int64_t, x > z);
        break;
    default:
        ONNX_ASSERT(!"binary operator");
    }
}

static void binary_i32(void *yv, const void *av, const void *bv, int64_t sa, int64_t sb, int64_t n,
                       enum onnx_ew kind, bool *bad)
{
    switch (kind) {
    case ONNX_EW_ADD:
        RUN_PATTERNS(int32_t, int32_t, (int32_t)((uint32_t)x + (uint32_t)z));
        break;
    case ONNX_EW_SUB:
        RUN_PATTERNS(int32_t, int32_t, (int32_t)((uint32_t)x - (uint32_t)z));
        break;
    case ONNX_EW_MUL:
        RUN_PATTERNS(int32_t, int32_t, (int32_t)((uint32_t)x * (uint32_t)z));
        break;
    case ONNX_EW_DIV:
        RUN_PATTERNS(int32_t, int32_t, (int32_t)div_i64(x, z, bad));
        break;
    case ONNX_EW_POW:
        RUN_PATTERNS(int32_t, int32_t, (int32_t)pow_i64(x, z));
        break;
    case ONNX_EW_EQUAL:
        RUN_PATTERNS(uint8_t, int32_t, x == z);
        break;
    case ONNX_EW_LESS:
        RUN_PATTERNS(uint8_t, int32_t, x < z);
        break;
    case ONNX_EW_GREATER:
        RUN_PATTERNS(uint8_t, int32_t, x > z);
        break;
    default:
        ONNX_ASSERT(!"binary operator");
    }
}

static void binary_bool(void *yv, const void *av, const void *bv, int64_t sa, int64_t sb, int64_t n)
{
    RUN_PATTERNS(uint8_t, uint8_t, x == z);
}

/* Element i of a float, int64 or int32 tensor as double. */
static double num_at(const void *p, enum onnx_dtype t, int64_t i)
{
    if (t == ONNX_DTYPE_FLOAT)
        return ((const float *)p)[i];
    if (t == ONNX_DTYPE_INT64)
        return (double)((const int64_t *)p)[i];
    return ((const int32_t *)p)[i];
}

/* Pow of different base and exponent types, computed in double. */
static void pow_mixed(void *y, const struct binary_ctx *c, const void *a, const void *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = pow(num_at(a, c->a->dtype, i * c->sa), num_at(b, c->b->dtype, i * c->sb));
        if (c->y->dtype == ONNX_DTYPE_FLOAT)
            ((float *)y)[i] = (float)v;
        else if (c->y->dtype == ONNX_DTYPE_INT64)
            ((int64_t *)y)[i] = v >= -9.2e18 && v <= 9.2e18 ? (int64_t)v : 0;
        else
            ((int32_t *)y)[i] = v >= -2.1e9 && v <= 2.1e9 ? (int32_t)v : 0;
    }
}

static void binary_run(void *ctx, int64_t out, const int64_t *in, int64_t n)
{
    struct binary_ctx *c = ctx;
    size_t ea = onnx_dtype_size(c->a->dtype), ey = onnx_dtype_size(c->y->dtype);
    void *y = (char *)c->y->data + (size_t)out * ey;
    const void *a = (const char *)c->a->data + (size_t)in[0] * ea;
    const void *b = (const char *)c->b->data + (size_t)in[1] * onnx_dtype_size(c->b->dtype);
    if (c->a->dtype != c->b->dtype) {
        pow_mixed(y, c, a, b, n);
        return;
    }
    switch (c->a->dtype) {
    case ONNX_DTYPE_FLOAT:
        binary_f32(y, a, b, c->sa, c->sb, n, c->kind);
        if (c->act->kind != ONNX_ACT_NONE)
            onnx_ops_elementwise_act(y, (size_t)n, c->act);
        break;
    case ONNX_DTYPE_INT64:
        binary_i64(y, a, b, c->sa, c->sb, n, c->kind, &c->div_by_zero);
        if (c->act->kind == ONNX_ACT_RELU)
            for (int64_t i = 0; i < n; i++)
                if (((int64_t *)y)[i] < 0)
                    ((int64_t *)y)[i] = 0;
        break;
    case ONNX_DTYPE_INT32:
        binary_i32(y, a, b, c->sa, c->sb, n, c->kind, &c->div_by_zero);
        if (c->act->kind == ONNX_ACT_RELU)
            for (int64_t i = 0; i < n; i++)
                if (((int32_t *)y)[i] < 0)
                    ((int32_t *)y)[i] = 0;
        break;
    default:
        binary_bool(y, a, b, c->sa, c->sb, n);
        break;
    }
}

static bool is_compare(enum onnx_ew kind)
{
    return kind == ONNX_EW_EQUAL || kind == ONNX_EW_LESS || kind == ONNX_EW_GREATER;
}

static int binary_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_ew_params *p = &k->node->p.ew;
    const struct onnx_tensor *a = k->in[0], *b = k->in[1];
    enum onnx_dtype t = a->dtype;
    if (p->kind == ONNX_EW_POW) {
        /* Any numeric base and exponent; the result has the base's type. */
        if (t == ONNX_DTYPE_BOOL || b->dtype == ONNX_DTYPE_BOOL)
            return inf_err_set(err, INF_EUNSUPPORTED, "%s to the power of %s is not supported",
                               onnx_dtype_name(t), onnx_dtype_name(b->dtype));
    } else if (a->dtype != b->dtype) {
        return inf_err_set(err, INF_EINVAL, "input types differ: %s and %s", onnx_dtype_name(t),
                           onnx_dtype_name(b->dtype));
    }
    if (t == ONNX_DTYPE_BOOL && p->kind != ONNX_EW_EQUAL)
        return inf_err_set(err, INF_EUNSUPPORTED, "bool inputs are not supported");
    struct onnx_tensor *y = k->out[0];
    int rc = onnx_shape_broadcast(a, b, y, err);
    if (rc != 0)
        return rc;
    y->dtype = is_compare(p->kind) ? ONNX_DTYPE_BOOL : t;
    return 0;
}

static int binary_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_ew_params *p = &k->node->p.ew;
    const struct onnx_tensor *b = k->in[1];
    const struct onnx_tensor *in[2] = {k->in[0], b};
    struct bcast bc;
    bcast_init(&bc, k->out[0], in, 2);
    struct binary_ctx c = {
        .kind = p->kind,
        .a = k->in[0],
        .b = b,
        .y = k->out[0],
        .sa = bc.st[0][bc.rank - 1],
        .sb = bc.st[1][bc.rank - 1],
        .act = &p->act,
    };
    if (onnx_tensor_numel(k->out[0]) > 0)
        bcast_each(&bc, binary_run, &c);
    if (c.div_by_zero)
        return inf_err_set(err, INF_EINVAL, "integer division by zero");
    return 0;
}

/* ---- Where and Expand --------------------------------------------------- */

struct where_ctx {
    const uint8_t *c;
    const char *x, *z;
    char *y;
    size_t es;
    int64_t sc, sx, sz;
};

static void where_run(void *ctx, int64_t out, const int64_t *in, int64_t n)
{
    struct where_ctx *w = ctx;
    const uint8_t *c = w->c + in[0];
    const char *x = w->x + (size_t)in[1] * w->es, *z = w->z + (size_t)in[2] * w->es;
    char *y = w->y + (size_t)out * w->es;
    if (w->es == 4) {
        const float *xf = (const float *)x, *zf = (const float *)z;
        float *yf = (float *)y;
        for (int64_t i = 0; i < n; i++)
            yf[i] = c[i * w->sc] ? xf[i * w->sx] : zf[i * w->sz];
        return;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(y + (size_t)i * w->es,
               c[i * w->sc] ? x + (size_t)(i * w->sx) * w->es : z + (size_t)(i * w->sz) * w->es,
               w->es);
}

static int where_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *c = k->in[0], *x = k->in[1], *z = k->in[2];
    if (c->dtype != ONNX_DTYPE_BOOL)
        return inf_err_set(err, INF_EINVAL, "the condition must be bool, not %s",
                           onnx_dtype_name(c->dtype));
    if (x->dtype != z->dtype)
        return inf_err_set(err, INF_EINVAL, "input types differ: %s and %s",
                           onnx_dtype_name(x->dtype), onnx_dtype_name(z->dtype));
    struct onnx_tensor t;
    int rc = onnx_shape_broadcast(c, x, &t, err);
    if (rc == 0)
        rc = onnx_shape_broadcast(&t, z, k->out[0], err);
    k->out[0]->dtype = x->dtype;
    return rc;
}

static int where_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    struct bcast bc;
    bcast_init(&bc, k->out[0], k->in, 3);
    int r = bc.rank - 1;
    struct where_ctx w = {
        .c = k->in[0]->data,
        .x = k->in[1]->data,
        .z = k->in[2]->data,
        .y = k->out[0]->data,
        .es = onnx_dtype_size(k->in[1]->dtype),
        .sc = bc.st[0][r],
        .sx = bc.st[1][r],
        .sz = bc.st[2][r],
    };
    if (onnx_tensor_numel(k->out[0]) > 0)
        bcast_each(&bc, where_run, &w);
    return 0;
}

struct expand_ctx {
    const char *x;
    char *y;
    size_t es;
    int64_t sx;
};

static void expand_run(void *ctx, int64_t out, const int64_t *in, int64_t n)
{
    struct expand_ctx *e = ctx;
    const char *x = e->x + (size_t)in[0] * e->es;
    char *y = e->y + (size_t)out * e->es;
    if (e->sx) {
        memcpy(y, x, (size_t)n * e->es);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(y + (size_t)i * e->es, x, e->es);
}

static int expand_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    struct onnx_tensor shape = {.dtype = ONNX_DTYPE_FLOAT};
    int n;
    int rc = onnx_shape_read_ints(k->in[1], shape.dims, ONNX_MAX_RANK, &n, err);
    if (rc != 0)
        return rc;
    shape.rank = n;
    for (int i = 0; i < n; i++)
        if (shape.dims[i] < 0)
            return inf_err_set(err, INF_EINVAL, "negative dimension %lld in the shape",
                               (long long)shape.dims[i]);
    rc = onnx_shape_broadcast(k->in[0], &shape, k->out[0], err);
    k->out[0]->dtype = k->in[0]->dtype;
    return rc;
}

static int expand_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    struct bcast bc;
    bcast_init(&bc, k->out[0], k->in, 1);
    struct expand_ctx e = {
        .x = k->in[0]->data,
        .y = k->out[0]->data,
        .es = onnx_dtype_size(k->in[0]->dtype),
        .sx = bc.st[0][bc.rank - 1],
    };
    if (onnx_tensor_numel(k->out[0]) > 0)
        bcast_each(&bc, expand_run, &e);
    return 0;
}

/* ---- unary operators ---------------------------------------------------- */

static int unary_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_tensor *x = k->in[0];
    enum onnx_ew kind = k->node->p.ew.kind;
    bool ints_ok = kind == ONNX_EW_NEG || kind == ONNX_EW_RELU;
    if (x->dtype != ONNX_DTYPE_FLOAT &&
        !(ints_ok && (x->dtype == ONNX_DTYPE_INT64 || x->dtype == ONNX_DTYPE_INT32)))
        return inf_err_set(err, INF_EUNSUPPORTED, "%s input is not supported",
                           onnx_dtype_name(x->dtype));
    if (kind == ONNX_EW_CLIP)
        for (int i = 1; i < k->n_in; i++)
            if (k->in[i] != NULL &&
                (k->in[i]->dtype != ONNX_DTYPE_FLOAT || onnx_tensor_numel(k->in[i]) != 1))
                return inf_err_set(err, INF_EINVAL, "Clip bounds must be float scalars");
    onnx_shape_set(k->out[0], x->dtype, x->rank, x->dims);
    return 0;
}

static void unary_int(const struct onnx_kernel_args *k, int64_t n)
{
    bool neg = k->node->p.ew.kind == ONNX_EW_NEG;
    if (k->in[0]->dtype == ONNX_DTYPE_INT64) {
        const int64_t *x = k->in[0]->data;
        int64_t *y = k->out[0]->data;
        for (int64_t i = 0; i < n; i++)
            y[i] = neg ? (int64_t)(0 - (uint64_t)x[i]) : (x[i] > 0 ? x[i] : 0);
    } else {
        const int32_t *x = k->in[0]->data;
        int32_t *y = k->out[0]->data;
        for (int64_t i = 0; i < n; i++)
            y[i] = neg ? (int32_t)(0 - (uint32_t)x[i]) : (x[i] > 0 ? x[i] : 0);
    }
}

static int unary_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    const struct onnx_ew_params *p = &k->node->p.ew;
    int64_t n = onnx_tensor_numel(k->in[0]);
    if (k->in[0]->dtype != ONNX_DTYPE_FLOAT) {
        unary_int(k, n);
        return 0;
    }
    const float *restrict x = k->in[0]->data;
    float *restrict y = k->out[0]->data;
    switch (p->kind) {
    case ONNX_EW_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case ONNX_EW_CLIP: {
        struct onnx_act act = {.kind = ONNX_ACT_CLIP, .lo = p->lo, .hi = p->hi};
        if (!p->has_attr_bounds) {
            act.lo = k->n_in > 1 && k->in[1] != NULL ? *(const float *)k->in[1]->data : -INFINITY;
            act.hi = k->n_in > 2 && k->in[2] != NULL ? *(const float *)k->in[2]->data : INFINITY;
        }
        if (y != x)
            memcpy(y, x, sizeof(float) * (size_t)n);
        onnx_ops_elementwise_act(y, (size_t)n, &act);
        break;
    }
    case ONNX_EW_SQRT:
        for (int64_t i = 0; i < n; i++)
            y[i] = sqrtf(x[i]);
        break;
    case ONNX_EW_ERF:
        onnx_vmath_erf(y, x, (size_t)n);
        break;
    case ONNX_EW_TANH:
        onnx_vmath_tanh(y, x, (size_t)n);
        break;
    case ONNX_EW_SIGMOID:
        onnx_vmath_sigmoid(y, x, (size_t)n);
        break;
    case ONNX_EW_EXP:
        onnx_vmath_exp(y, x, (size_t)n);
        break;
    case ONNX_EW_GELU:
        memcpy(y, x, sizeof(float) * (size_t)n);
        onnx_vmath_gelu(y, (size_t)n);
        break;
    case ONNX_EW_NEG:
        for (int64_t i = 0; i < n; i++)
            y[i] = -x[i];
        break;
    default:
        ONNX_ASSERT(!"unary operator");
    }
    return 0;
}

/* ---- loaders ------------------------------------------------------------ */

#define LOADER(fn, KIND)                                                                           \
    static int fn(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)                  \
    {                                                                                              \
        (void)a;                                                                                   \
        (void)err;                                                                                 \
        n->p.ew.kind = KIND;                                                                       \
        return 0;                                                                                  \
    }

LOADER(load_add, ONNX_EW_ADD)
LOADER(load_sub, ONNX_EW_SUB)
LOADER(load_mul, ONNX_EW_MUL)
LOADER(load_div, ONNX_EW_DIV)
LOADER(load_pow, ONNX_EW_POW)
LOADER(load_equal, ONNX_EW_EQUAL)
LOADER(load_less, ONNX_EW_LESS)
LOADER(load_greater, ONNX_EW_GREATER)
LOADER(load_relu, ONNX_EW_RELU)
LOADER(load_sqrt, ONNX_EW_SQRT)
LOADER(load_erf, ONNX_EW_ERF)
LOADER(load_tanh, ONNX_EW_TANH)
LOADER(load_sigmoid, ONNX_EW_SIGMOID)
LOADER(load_exp, ONNX_EW_EXP)
LOADER(load_neg, ONNX_EW_NEG)

/* Gelu (ONNX opset 20, and what the fuse pass turns the erf pattern into):
 * the exact form only. */
static int load_gelu(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    char approx[16];
    n->p.ew.kind = ONNX_EW_GELU;
    int rc = onnx_attr_string(a, "approximate", "none", approx, sizeof(approx), err);
    if (rc == 0 && strcmp(approx, "none") != 0)
        rc = inf_err_set(err, INF_EUNSUPPORTED, "approximate='%s' is not supported", approx);
    return rc;
}

/* Clip: bounds are attributes before opset 11, optional inputs after. */
static int load_clip(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_ew_params *p = &n->p.ew;
    p->kind = ONNX_EW_CLIP;
    if (n->opset >= 11)
        return 0;
    if (n->n_in > 1)
        return inf_err_set(err, INF_EINVAL, "Clip takes its bounds as attributes before opset 11");
    p->has_attr_bounds = true;
    int rc = onnx_attr_float(a, "min", -INFINITY, &p->lo, err);
    if (rc == 0)
        rc = onnx_attr_float(a, "max", INFINITY, &p->hi, err);
    return rc;
}

/* Legacy broadcast attributes (opset < 7) are out of range anyway. */
#define BINARY(NAME, LOAD)                                                                         \
    {                                                                                              \
        NAME, 2, 2, 1, 1, 0, LOAD, binary_infer, binary_exec                                       \
    }
#define UNARY(NAME, LOAD)                                                                          \
    {                                                                                              \
        NAME, 1, 1, 1, 1, 0, LOAD, unary_infer, unary_exec                                         \
    }

const struct onnx_op onnx_ops_elementwise_table[] = {
    BINARY("Add", load_add),
    BINARY("Sub", load_sub),
    BINARY("Mul", load_mul),
    BINARY("Div", load_div),
    BINARY("Pow", load_pow),
    BINARY("Equal", load_equal),
    BINARY("Less", load_less),
    BINARY("Greater", load_greater),
    UNARY("Relu", load_relu),
    UNARY("Sqrt", load_sqrt),
    UNARY("Erf", load_erf),
    UNARY("Tanh", load_tanh),
    UNARY("Sigmoid", load_sigmoid),
    UNARY("Exp", load_exp),
    UNARY("Neg", load_neg),
    UNARY("Gelu", load_gelu),
    {"Clip", 1, 3, 1, 1, 0, load_clip, unary_infer, unary_exec},
    {"Where", 3, 3, 1, 1, 0, NULL, where_infer, where_exec},
    {"Expand", 2, 2, 1, 1, ONNX_OP_READS(1), NULL, expand_infer, expand_exec},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
