/*
 * ops_matmul: Gemm and MatMul. A constant weight was packed at load and
 * goes through gemm.c; products of two activations (attention) go through
 * OpenBLAS (cblas_sgemm, and cblas_sgemv when the product has one row). A MatMul may
 * carry a fused bias (a third input the fuse pass attaches from a following
 * Add) and a fused activation; the output is first filled with the bias and
 * BLAS accumulates onto it (beta = 1). Kernels run on the session's thread.
 */
#include "onnx/onnx_int.h"

#include <cblas.h>
#include <string.h>

/* y (rows x cols) = bias broadcast: bias has `cols` values, or 1, or is an
 * [rows, 1] / [rows, cols] tensor (Gemm's C). */
static void fill_bias(float *y, int64_t rows, int64_t cols, const struct onnx_tensor *c, float beta)
{
    const float *b = c->data;
    int64_t cr = c->rank >= 2 ? c->dims[c->rank - 2] : 1;
    int64_t cc = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    for (int64_t r = 0; r < rows; r++) {
        const float *src = b + (cr == 1 ? 0 : r * cc);
        float *dst = y + r * cols;
        if (cc == 1) {
            for (int64_t j = 0; j < cols; j++)
                dst[j] = beta * src[0];
        } else if (beta == 1.0f) {
            memcpy(dst, src, sizeof(float) * (size_t)cols);
        } else {
            for (int64_t j = 0; j < cols; j++)
                dst[j] = beta * src[j];
        }
    }
}

/* y[M,N] (+)= alpha * op(a) op(b); a is [M,K] (or [K,M] when ta), b is [K,N]
 * (or [N,K] when tb); acc says whether y already holds a bias. */
static void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float *a, bool ta,
                 const float *b, bool tb, float *y, bool acc)
{
    float beta = acc ? 1.0f : 0.0f;
    if (M == 1) {
        /* One row: a matrix-vector product. a's row is contiguous whatever ta
         * says ([1,K] or [K,1]). */
        if (tb)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, alpha, b, (int)K, a, 1, beta,
                        y, 1);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)K, (int)N, alpha, b, (int)N, a, 1, beta, y,
                        1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, a, ta ? (int)M : (int)K, b, tb ? (int)K : (int)N,
                beta, y, (int)N);
}

/* BLAS takes int sizes. */
static int check_blas_dims(int64_t m, int64_t n, int64_t k, struct inf_err *err)
{
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || m * k > INT32_MAX || k * n > INT32_MAX ||
        m * n > INT32_MAX)
        return inf_err_set(err, INF_ETOOBIG, "matrix dimensions too large");
    return 0;
}

/* ---- Gemm --------------------------------------------------------------- */

static int gemm_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_gemm_params *p = &n->p.gemm;
    int64_t ta, tb;
    int rc;
    if ((rc = onnx_attr_float(a, "alpha", 1.0f, &p->alpha, err)) != 0 ||
        (rc = onnx_attr_float(a, "beta", 1.0f, &p->beta, err)) != 0 ||
        (rc = onnx_attr_int(a, "transA", 0, &ta, err)) != 0 ||
        (rc = onnx_attr_int(a, "transB", 0, &tb, err)) != 0)
        return rc;
    p->trans_a = ta != 0;
    p->trans_b = tb != 0;
    return 0;
}

static int gemm_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_gemm_params *p = &k->node->p.gemm;
    const struct onnx_tensor *a = k->in[0], *b = k->in[1];
    const struct onnx_tensor *c = k->n_in > 2 ? k->in[2] : NULL;
    if (a->dtype != ONNX_DTYPE_FLOAT || b->dtype != ONNX_DTYPE_FLOAT ||
        (c != NULL && c->dtype != ONNX_DTYPE_FLOAT))
        return inf_err_set(err, INF_EUNSUPPORTED, "only float inputs are supported");
    if (a->rank != 2 || b->rank != 2)
        return inf_err_set(err, INF_EINVAL, "A and B must be 2-D (got rank %d and %d)", a->rank,
                           b->rank);
    int64_t M = p->trans_a ? a->dims[1] : a->dims[0];
    int64_t K = p->trans_a ? a->dims[0] : a->dims[1];
    int64_t KB = p->trans_b ? b->dims[1] : b->dims[0];
    int64_t N = p->trans_b ? b->dims[0] : b->dims[1];
    if (K != KB)
        return inf_err_set(err, INF_EINVAL, "A is %lldx%lld but B has %lld rows", (long long)M,
                           (long long)K, (long long)KB);
    if (c != NULL) {
        int64_t cr = c->rank >= 2 ? c->dims[c->rank - 2] : 1;
        int64_t cc = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        if (c->rank > 2 || (cr != 1 && cr != M) || (cc != 1 && cc != N))
            return inf_err_set(err, INF_EINVAL, "C does not broadcast to %lldx%lld", (long long)M,
                               (long long)N);
    }
    int64_t dims[2] = {M, N};
    onnx_shape_set(k->out[0], ONNX_DTYPE_FLOAT, 2, dims);
    if (p->packed)
        k->scratch_bytes = onnx_gemm_work_bytes_a(p->isa, M);
    return check_blas_dims(M, N, K, err);
}

static int gemm_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    (void)err;
    const struct onnx_gemm_params *p = &k->node->p.gemm;
    const struct onnx_tensor *a = k->in[0], *b = k->in[1];
    const struct onnx_tensor *c = k->n_in > 2 ? k->in[2] : NULL;
    struct onnx_tensor *y = k->out[0];
    int64_t M = y->dims[0], N = y->dims[1];
    int64_t K = p->trans_a ? a->dims[0] : a->dims[1];
    bool acc = c != NULL && p->beta != 0.0f;
    if (acc)
        fill_bias(y->data, M, N, c, p->beta);
    if (M * N == 0)
        return 0;
    if (K == 0) {
        if (!acc)
            memset(y->data, 0, sizeof(float) * (size_t)(M * N));
    } else if (p->packed) {
        /* B (and alpha) packed at load; A is [M, K] (not transposed). */
        onnx_gemm_packed_b(p->isa, M, N, K, a->data, K, b->data, y->data, N, acc, k->scratch);
    } else {
        gemm(M, N, K, p->alpha, a->data, p->trans_a, b->data, p->trans_b, y->data, acc);
    }
    onnx_ops_elementwise_act(y->data, (size_t)(M * N), &p->act);
    return 0;
}

/* ---- MatMul ------------------------------------------------------------- */

/* numpy matmul shapes: 1-D operands are promoted (and the added axis dropped
 * from the result), leading dimensions broadcast. */
struct mm_shape {
    int64_t M, N, K;
    int batch_rank;
    int64_t batch[ONNX_MAX_RANK];
    int64_t a_batch_st[ONNX_MAX_RANK], b_batch_st[ONNX_MAX_RANK]; /* in matrices */
    bool b_shared; /* every batch uses the same B matrix */
};

static int mm_shape(const struct onnx_tensor *a, const struct onnx_tensor *b, struct mm_shape *s,
                    struct onnx_tensor *y, struct inf_err *err)
{
    if (a->rank < 1 || b->rank < 1)
        return inf_err_set(err, INF_EINVAL, "MatMul inputs must have rank 1 or more");
    int ar = a->rank, br = b->rank;
    s->M = ar >= 2 ? a->dims[ar - 2] : 1;
    s->K = a->dims[ar - 1];
    int64_t KB = br >= 2 ? b->dims[br - 2] : b->dims[0];
    s->N = br >= 2 ? b->dims[br - 1] : 1;
    if (s->K != KB)
        return inf_err_set(err, INF_EINVAL,
                           "inner dimensions differ: A has %lld columns, B %lld rows",
                           (long long)s->K, (long long)KB);
    int abr = ar > 2 ? ar - 2 : 0, bbr = br > 2 ? br - 2 : 0;
    s->batch_rank = abr > bbr ? abr : bbr;
    int64_t sa = 1, sb = 1;
    s->b_shared = true;
    for (int d = s->batch_rank - 1; d >= 0; d--) {
        int ia = d - (s->batch_rank - abr), ib = d - (s->batch_rank - bbr);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return inf_err_set(err, INF_EINVAL, "batch dimensions %lld and %lld do not broadcast",
                               (long long)da, (long long)db);
        s->batch[d] = da == 1 ? db : da;
        s->a_batch_st[d] = da == 1 ? 0 : sa;
        s->b_batch_st[d] = db == 1 ? 0 : sb;
        s->b_shared &= db == 1;
        sa *= da;
        sb *= db;
    }
    int r = 0;
    for (int d = 0; d < s->batch_rank; d++)
        y->dims[r++] = s->batch[d];
    if (ar >= 2)
        y->dims[r++] = s->M;
    if (br >= 2)
        y->dims[r++] = s->N;
    y->rank = r;
    y->dtype = ONNX_DTYPE_FLOAT;
    return 0;
}

static int matmul_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_gemm_params *p = &k->node->p.gemm;
    const struct onnx_tensor *a = k->in[0], *b = k->in[1];
    if (a->dtype != ONNX_DTYPE_FLOAT || b->dtype != ONNX_DTYPE_FLOAT)
        return inf_err_set(err, INF_EUNSUPPORTED, "only float inputs are supported");
    struct mm_shape s;
    int rc = mm_shape(a, b, &s, k->out[0], err);
    if (rc != 0)
        return rc;
    if (k->n_in > 2 && k->in[2] != NULL) {
        int64_t n = onnx_tensor_numel(k->in[2]);
        if (n != s.N && n != 1)
            return inf_err_set(err, INF_EINVAL, "the fused bias has %lld values for %lld columns",
                               (long long)n, (long long)s.N);
    }
    if (p->packed) {
        int64_t rows = onnx_tensor_numel(k->out[0]) / (s.N > 0 ? s.N : 1);
        k->scratch_bytes = onnx_gemm_work_bytes_a(p->isa, rows);
    }
    return check_blas_dims(s.M, s.N, s.K, err);
}

static int matmul_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_gemm_params *p = &k->node->p.gemm;
    const struct onnx_tensor *a = k->in[0], *b = k->in[1];
    const struct onnx_tensor *bias = k->n_in > 2 ? k->in[2] : NULL;
    struct onnx_tensor *y = k->out[0];
    struct mm_shape s;
    struct onnx_tensor yshape;
    int rc = mm_shape(a, b, &s, &yshape, err);
    if (rc != 0)
        return rc;
    int64_t batches = 1;
    for (int d = 0; d < s.batch_rank; d++)
        batches *= s.batch[d];
    int64_t total = onnx_tensor_numel(y);
    if (total == 0)
        return 0;
    if (bias != NULL)
        fill_bias(y->data, total / s.N, s.N, bias, 1.0f);
    if (s.K == 0) {
        if (bias == NULL)
            memset(y->data, 0, sizeof(float) * (size_t)total);
        onnx_ops_elementwise_act(y->data, (size_t)total, &p->act);
        return 0;
    }
    const float *ad = a->data, *bd = b->data;
    float *yd = y->data;
    bool a_full = true; /* A's batch dims are the output's (no broadcast) */
    for (int d = 0; d < s.batch_rank; d++)
        a_full &= s.a_batch_st[d] != 0 || s.batch[d] == 1;
    if (p->packed) {
        /* A constant B packed at load (2-D): the batches stack into rows. */
        onnx_gemm_packed_b(p->isa, batches * s.M, s.N, s.K, ad, s.K, bd, yd, s.N, bias != NULL,
                           k->scratch);
    } else if (s.b_shared && a_full && a->rank >= s.batch_rank + 1) {
        /* One B for all batches: one product with the batches stacked. */
        gemm(batches * s.M, s.N, s.K, 1.0f, ad, false, bd, false, yd, bias != NULL);
    } else {
        int64_t idx[ONNX_MAX_RANK] = {0};
        int64_t ao = 0, bo = 0;
        for (int64_t i = 0; i < batches; i++) {
            gemm(s.M, s.N, s.K, 1.0f, ad + ao * s.M * s.K, false, bd + bo * s.K * s.N, false,
                 yd + i * s.M * s.N, bias != NULL);
            for (int d = s.batch_rank - 1; d >= 0; d--) {
                idx[d]++;
                ao += s.a_batch_st[d];
                bo += s.b_batch_st[d];
                if (idx[d] < s.batch[d])
                    break;
                ao -= s.a_batch_st[d] * s.batch[d];
                bo -= s.b_batch_st[d] * s.batch[d];
                idx[d] = 0;
            }
        }
    }
    onnx_ops_elementwise_act(yd, (size_t)total, &p->act);
    return 0;
}

const struct onnx_op onnx_ops_matmul_table[] = {
    {"Gemm", 2, 3, 1, 1, 0, gemm_load, gemm_infer, gemm_exec},
    {"MatMul", 2, 2, 1, 1, 0, NULL, matmul_infer, matmul_exec},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
