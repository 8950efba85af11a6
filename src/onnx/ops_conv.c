/*
 * ops_conv: Conv over 1-D and 2-D inputs with pads, strides, dilations,
 * auto_pad and groups, and the window geometry the pools share.
 *
 * A group whose channels each read a single input channel (depthwise, as in
 * MobileNet) runs a direct kernel: per output row, each tap adds a scaled
 * input row, a loop the compiler vectorises. Other convolutions with
 * weights packed at load go through convgemm.c (no im2col; the result is
 * transposed back here, adding the bias). Weights that arrive at run time
 * fall back to im2col into the scratch buffer (skipped for 1x1 convolutions
 * with stride 1 and no padding, whose input already is that matrix) and
 * cblas_sgemm, starting from the bias. A fused activation is applied last.
 * Kernels run on the session's thread; the scratch buffer comes from the
 * plan.
 */
#include "onnx/onnx_int.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- window geometry ---------------------------------------------------- */

int onnx_ops_conv_load_window(struct onnx_window *w, struct onnx_attrs *a, bool dilations,
                              struct inf_err *err)
{
    int64_t k[ONNX_MAX_RANK], s[ONNX_MAX_RANK], d[ONNX_MAX_RANK], p[2 * ONNX_MAX_RANK];
    char pad[32];
    int rc;
    w->n_dilations = -1;
    if ((rc = onnx_attr_ints(a, "kernel_shape", k, ONNX_MAX_RANK, &w->n_kernel, err)) != 0 ||
        (rc = onnx_attr_ints(a, "strides", s, ONNX_MAX_RANK, &w->n_strides, err)) != 0 ||
        (rc = onnx_attr_ints(a, "pads", p, 2 * ONNX_MAX_RANK, &w->n_pads, err)) != 0 ||
        (dilations &&
         (rc = onnx_attr_ints(a, "dilations", d, ONNX_MAX_RANK, &w->n_dilations, err)) != 0) ||
        (rc = onnx_attr_string(a, "auto_pad", "NOTSET", pad, sizeof(pad), err)) != 0)
        return rc;
    if (w->n_kernel > 2 || w->n_strides > 2 || w->n_dilations > 2 || w->n_pads > 4)
        return inf_err_set(err, INF_EUNSUPPORTED, "only 1-D and 2-D windows are supported");
    if (w->n_pads >= 0 && w->n_pads % 2 != 0)
        return inf_err_set(err, INF_EINVAL, "attribute 'pads' needs a begin and an end per axis");
    for (int i = 0; i < w->n_kernel; i++)
        w->kernel[i] = k[i];
    for (int i = 0; i < w->n_strides; i++)
        w->strides[i] = s[i];
    for (int i = 0; i < w->n_dilations; i++)
        w->dilations[i] = d[i];
    for (int i = 0; i < w->n_pads; i++)
        w->pads[i] = p[i];
    if (strcmp(pad, "NOTSET") == 0)
        w->auto_pad = ONNX_PAD_NOTSET;
    else if (strcmp(pad, "SAME_UPPER") == 0)
        w->auto_pad = ONNX_PAD_SAME_UPPER;
    else if (strcmp(pad, "SAME_LOWER") == 0)
        w->auto_pad = ONNX_PAD_SAME_LOWER;
    else if (strcmp(pad, "VALID") == 0)
        w->auto_pad = ONNX_PAD_VALID;
    else
        return inf_err_set(err, INF_EINVAL,
                           "auto_pad '%s' is not one of NOTSET, SAME_UPPER, "
                           "SAME_LOWER, VALID",
                           pad);
    return 0;
}

/* One spatial axis: input size in, kernel k, stride s, dilation d, given
 * pads; sets the output size and the pads actually used. */
static int axis_geom(const struct onnx_window *w, int64_t in, int64_t k, int64_t s, int64_t d,
                     int64_t pb_attr, int64_t pe_attr, bool ceil_mode, int64_t *out, int64_t *pb,
                     int64_t *pe, struct inf_err *err)
{
    if (k < 1 || s < 1 || d < 1 || k > ONNX_MAX_NUMEL || s > ONNX_MAX_NUMEL || d > ONNX_MAX_NUMEL ||
        pb_attr < 0 || pe_attr < 0 || pb_attr > ONNX_MAX_NUMEL || pe_attr > ONNX_MAX_NUMEL)
        return inf_err_set(err, INF_EINVAL,
                           "kernel, strides, dilations and pads must be "
                           "positive (pads non-negative)");
    int64_t span = d * (k - 1) + 1; /* the dilated kernel's extent */
    switch (w->auto_pad) {
    case ONNX_PAD_SAME_UPPER:
    case ONNX_PAD_SAME_LOWER: {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + span - in;
        if (total < 0)
            total = 0;
        int64_t small = total / 2;
        *pb = w->auto_pad == ONNX_PAD_SAME_UPPER ? small : total - small;
        *pe = total - *pb;
        return 0;
    }
    case ONNX_PAD_VALID:
        *pb = *pe = 0;
        break;
    case ONNX_PAD_NOTSET:
        *pb = pb_attr;
        *pe = pe_attr;
        break;
    }
    int64_t padded = in + *pb + *pe;
    if (padded < span)
        return inf_err_set(err, INF_EINVAL,
                           "the window (%lld) is larger than the padded input "
                           "(%lld)",
                           (long long)span, (long long)padded);
    int64_t room = padded - span;
    *out = (ceil_mode ? (room + s - 1) / s : room / s) + 1;
    /* A last window starting in the end padding is dropped (as PyTorch and
     * ONNX Runtime do). */
    if (ceil_mode && (*out - 1) * s >= in + *pb)
        (*out)--;
    return 0;
}

int onnx_ops_conv_geom(const struct onnx_window *w, const struct onnx_tensor *x,
                       const int64_t *kernel, bool ceil_mode, struct onnx_geom *g,
                       struct inf_err *err)
{
    memset(g, 0, sizeof(*g));
    if (x->rank != 3 && x->rank != 4)
        return inf_err_set(err, INF_EUNSUPPORTED,
                           "only 1-D and 2-D inputs ([N,C,L] or [N,C,H,W]) are supported, not "
                           "rank %d",
                           x->rank);
    int nsp = x->rank - 2;
    if ((w->n_kernel >= 0 && w->n_kernel != nsp) || (w->n_strides >= 0 && w->n_strides != nsp) ||
        (w->n_dilations >= 0 && w->n_dilations != nsp) || (w->n_pads >= 0 && w->n_pads != 2 * nsp))
        return inf_err_set(err, INF_EINVAL, "window attributes do not match %d spatial axes", nsp);
    g->nsp = nsp;
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->h = nsp == 2 ? x->dims[2] : 1;
    g->w = x->dims[x->rank - 1];
    int64_t k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0}, pe[2] = {0, 0};
    int64_t o[2] = {1, 1}, rb[2] = {0, 0}, re[2] = {0, 0};
    for (int i = 0; i < nsp; i++) {
        int a = i + 2 - nsp; /* 1-D uses the second (width) slot */
        k[a] = kernel[i];
        if (w->n_strides > 0)
            s[a] = w->strides[i];
        if (w->n_dilations > 0)
            d[a] = w->dilations[i];
        if (w->n_pads > 0) {
            pb[a] = w->pads[i];
            pe[a] = w->pads[i + nsp];
        }
        int64_t in = a == 0 ? g->h : g->w;
        int rc =
            axis_geom(w, in, k[a], s[a], d[a], pb[a], pe[a], ceil_mode, &o[a], &rb[a], &re[a], err);
        if (rc != 0)
            return rc;
    }
    g->kh = k[0];
    g->kw = k[1];
    g->sh = s[0];
    g->sw = s[1];
    g->dh = d[0];
    g->dw = d[1];
    g->pt = rb[0];
    g->pl = rb[1];
    g->pb = re[0];
    g->pr = re[1];
    g->oh = o[0];
    g->ow = o[1];
    return 0;
}

/* ---- Conv --------------------------------------------------------------- */

static int conv_load(struct onnx_node *n, struct onnx_attrs *a, struct inf_err *err)
{
    struct onnx_conv_params *p = &n->p.conv;
    int rc = onnx_ops_conv_load_window(&p->w, a, true, err);
    if (rc == 0)
        rc = onnx_attr_int(a, "group", 1, &p->group, err);
    return rc;
}

/* The geometry and channel counts of one Conv node for its inputs. */
struct conv_shape {
    struct onnx_geom g;
    int64_t m, cg, mg; /* output channels; per group: input and output */
    bool pointwise;    /* 1x1, stride 1, no padding: the input is the matrix */
    bool depthwise;    /* one input channel per group */
    bool padded;       /* the packed path reads a zero-padded copy of the input */
};

static int conv_shape(const struct onnx_kernel_args *k, struct conv_shape *cs, struct inf_err *err)
{
    const struct onnx_conv_params *p = &k->node->p.conv;
    const struct onnx_tensor *x = k->in[0], *w = k->in[1];
    if (x->dtype != ONNX_DTYPE_FLOAT || w->dtype != ONNX_DTYPE_FLOAT)
        return inf_err_set(err, INF_EUNSUPPORTED, "only float inputs are supported");
    if (w->rank != x->rank)
        return inf_err_set(err, INF_EINVAL, "W has rank %d for an input of rank %d", w->rank,
                           x->rank);
    int64_t kernel[2];
    for (int i = 2; i < w->rank && i < 4; i++)
        kernel[i - 2] = w->dims[i];
    if (p->w.n_kernel > 0)
        for (int i = 0; i < p->w.n_kernel && i + 2 < w->rank; i++)
            if (p->w.kernel[i] != w->dims[i + 2])
                return inf_err_set(err, INF_EINVAL, "kernel_shape differs from W's shape");
    int rc = onnx_ops_conv_geom(&p->w, x, kernel, false, &cs->g, err);
    if (rc != 0)
        return rc;
    int64_t group = p->group;
    cs->m = w->dims[0];
    cs->cg = w->dims[1];
    if (group < 1 || cs->m % group != 0 || cs->cg * group != cs->g.c)
        return inf_err_set(err, INF_EINVAL,
                           "%lld input channels, %lld groups and W of shape [%lld, %lld, ...] "
                           "do not match",
                           (long long)cs->g.c, (long long)group, (long long)cs->m,
                           (long long)cs->cg);
    cs->mg = cs->m / group;
    const struct onnx_geom *g = &cs->g;
    cs->pointwise = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 &&
                    g->pl == 0 && g->pb == 0 && g->pr == 0;
    cs->depthwise = cs->cg == 1 && !cs->pointwise && !p->packed;
    cs->padded = g->pt > 0 || g->pl > 0 || g->pb > 0 || g->pr > 0;
    if (k->n_in > 2 && k->in[2] != NULL &&
        (k->in[2]->dtype != ONNX_DTYPE_FLOAT || onnx_tensor_numel(k->in[2]) != cs->m))
        return inf_err_set(err, INF_EINVAL, "B must have %lld float values", (long long)cs->m);
    if (g->kh * g->kw * cs->cg > INT32_MAX || g->oh * g->ow > INT32_MAX)
        return inf_err_set(err, INF_ETOOBIG, "convolution too large");
    return 0;
}

static void conv_out_shape(const struct onnx_tensor *x, const struct conv_shape *cs,
                           struct onnx_tensor *y)
{
    int64_t dims[4] = {cs->g.n, cs->m, cs->g.oh, cs->g.ow};
    if (x->rank == 3)
        dims[2] = cs->g.ow;
    onnx_shape_set(y, ONNX_DTYPE_FLOAT, x->rank, dims);
}

static size_t aligned(size_t bytes)
{
    return (bytes + ONNX_ALIGN - 1) / ONNX_ALIGN * ONNX_ALIGN;
}

/* The im2col matrix, rounded up so what follows it stays aligned. */
static size_t im2col_bytes(const struct conv_shape *cs)
{
    return aligned(sizeof(float) * (size_t)(cs->cg * cs->g.kh * cs->g.kw) *
                   (size_t)(cs->g.oh * cs->g.ow));
}

/* The packed path's scratch: tap offsets, the padded input (when the
 * convolution pads) and the pixel-major result. */
static size_t packed_offsets_bytes(const struct conv_shape *cs)
{
    return aligned(sizeof(int64_t) * (size_t)(cs->cg * cs->g.kh * cs->g.kw));
}

static size_t packed_input_bytes(const struct conv_shape *cs)
{
    const struct onnx_geom *g = &cs->g;
    if (!cs->padded)
        return 0;
    return aligned(sizeof(float) *
                   (size_t)(cs->cg * (g->h + g->pt + g->pb) * (g->w + g->pl + g->pr)));
}

static int64_t packed_stride(const struct conv_shape *cs)
{
    return (cs->mg + ONNX_GEMM_NR - 1) / ONNX_GEMM_NR * ONNX_GEMM_NR;
}

static size_t packed_bytes(const struct conv_shape *cs)
{
    return packed_offsets_bytes(cs) + packed_input_bytes(cs) +
           sizeof(float) * (size_t)(cs->g.oh * cs->g.ow * packed_stride(cs));
}

static int conv_infer(struct onnx_kernel_args *k, struct inf_err *err)
{
    struct conv_shape cs;
    int rc = conv_shape(k, &cs, err);
    if (rc != 0)
        return rc;
    conv_out_shape(k->in[0], &cs, k->out[0]);
    if (k->node->p.conv.packed)
        k->scratch_bytes = packed_bytes(&cs);
    else if (!cs.pointwise && !cs.depthwise)
        k->scratch_bytes = im2col_bytes(&cs);
    return 0;
}

/* Unrolls the patches of one group's input planes x ([cg, h, w]) into col,
 * [cg*kh*kw, oh*ow]: row (c, i, j) holds input pixel (c, oh*sh - pt + i*dh,
 * ow*sw - pl + j*dw) for every output pixel, 0 in the padding. */
static void im2col(const float *x, int64_t cg, const struct onnx_geom *g, float *col)
{
    int64_t ohw = g->oh * g->ow;
    for (int64_t c = 0; c < cg; c++) {
        const float *xc = x + c * g->h * g->w;
        for (int64_t i = 0; i < g->kh; i++) {
            for (int64_t j = 0; j < g->kw; j++, col += ohw) {
                int64_t dx = j * g->dw - g->pl;
                /* Output columns whose input column is inside [0, w). */
                int64_t lo = dx >= 0 ? 0 : (-dx + g->sw - 1) / g->sw;
                int64_t hi = g->w - dx <= 0 ? 0 : (g->w - dx - 1) / g->sw + 1;
                if (hi > g->ow)
                    hi = g->ow;
                if (lo > hi)
                    lo = hi;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    float *row = col + oy * g->ow;
                    int64_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h) {
                        memset(row, 0, sizeof(float) * (size_t)g->ow);
                        continue;
                    }
                    const float *xr = xc + iy * g->w + dx;
                    for (int64_t ox = 0; ox < lo; ox++)
                        row[ox] = 0.0f;
                    if (g->sw == 1)
                        memcpy(row + lo, xr + lo, sizeof(float) * (size_t)(hi - lo));
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            row[ox] = xr[ox * g->sw];
                    for (int64_t ox = hi; ox < g->ow; ox++)
                        row[ox] = 0.0f;
                }
            }
        }
    }
}

/* Depthwise: output plane y ([oh, ow], pre-filled with its bias) gets the
 * correlation of input plane x with the kh x kw taps w. */
static void depthwise_plane(const float *x, const float *w, const struct onnx_geom *g, float *y)
{
    for (int64_t j = 0; j < g->kw; j++) {
        int64_t dx = j * g->dw - g->pl;
        int64_t lo = dx >= 0 ? 0 : (-dx + g->sw - 1) / g->sw;
        int64_t hi = g->w - dx <= 0 ? 0 : (g->w - dx - 1) / g->sw + 1;
        if (hi > g->ow)
            hi = g->ow;
        if (lo >= hi)
            continue;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            float *restrict yr = y + oy * g->ow;
            for (int64_t i = 0; i < g->kh; i++) {
                int64_t iy = oy * g->sh - g->pt + i * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                const float *restrict xr = x + iy * g->w + dx;
                float tap = w[i * g->kw + j];
                if (g->sw == 1) {
                    for (int64_t ox = lo; ox < hi; ox++)
                        yr[ox] += tap * xr[ox];
                } else {
                    for (int64_t ox = lo; ox < hi; ox++)
                        yr[ox] += tap * xr[ox * g->sw];
                }
            }
        }
    }
}

/* y[m][q] = act(ct[q][m] + bias[m]): the pixel-major result back to NCHW,
 * by blocks of 64 pixels so both sides stay in L1. Relu and Clip are
 * applied inline; other activations after each row. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void
transpose_out(const float *ct, int64_t stride, int64_t pixels, int64_t mg, const float *bias,
              const struct onnx_act *act, float *y)
{
    float lo = -INFINITY, hi = INFINITY;
    if (act->kind == ONNX_ACT_RELU)
        lo = 0.0f;
    else if (act->kind == ONNX_ACT_CLIP) {
        lo = act->lo;
        hi = act->hi;
    }
    for (int64_t p0 = 0; p0 < pixels; p0 += 64) {
        int64_t p1 = p0 + 64 < pixels ? p0 + 64 : pixels;
        for (int64_t m = 0; m < mg; m++) {
            float b = bias != NULL ? bias[m] : 0.0f;
            float *ym = y + m * pixels;
            for (int64_t q = p0; q < p1; q++) {
                float v = ct[q * stride + m] + b;
                v = v < lo ? lo : v;
                ym[q] = v > hi ? hi : v;
            }
            if (act->kind == ONNX_ACT_GELU)
                onnx_ops_elementwise_act(ym + p0, (size_t)(p1 - p0), act);
        }
    }
}

/* One group through convgemm.c: tap offsets into the (padded) input
 * planes x, the pixel-major product, then its transpose into y (the
 * group's [mg, oh*ow] output) plus the bias. */
static void conv_packed(const struct onnx_conv_params *p, const struct conv_shape *cs,
                        const float *x, const float *w, const float *bias, float *y, void *scratch)
{
    const struct onnx_geom *g = &cs->g;
    int64_t *offs = scratch;
    float *xp = (float *)(void *)((char *)scratch + packed_offsets_bytes(cs));
    float *ct = (float *)(void *)((char *)xp + packed_input_bytes(cs));
    const float *base = x;
    int64_t hp = g->h, wp = g->w;
    if (cs->padded) {
        hp = g->h + g->pt + g->pb;
        wp = g->w + g->pl + g->pr;
        memset(xp, 0, sizeof(float) * (size_t)(cs->cg * hp * wp));
        for (int64_t c = 0; c < cs->cg; c++)
            for (int64_t r = 0; r < g->h; r++)
                memcpy(xp + (c * hp + r + g->pt) * wp + g->pl, x + (c * g->h + r) * g->w,
                       sizeof(float) * (size_t)g->w);
        base = xp;
    }
    int64_t kk = 0;
    for (int64_t c = 0; c < cs->cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                offs[kk++] = c * hp * wp + i * g->dh * wp + j * g->dw;
    int64_t stride = packed_stride(cs), pixels = g->oh * g->ow;
    onnx_convgemm(p->isa, cs->mg, kk, w, base, g->sh * wp, g->sw, offs, g->oh, g->ow, ct, stride);
    transpose_out(ct, stride, pixels, cs->mg, bias, &p->act, y);
}

static int conv_exec(const struct onnx_kernel_args *k, struct inf_err *err)
{
    const struct onnx_conv_params *p = &k->node->p.conv;
    struct conv_shape cs;
    int rc = conv_shape(k, &cs, err);
    if (rc != 0)
        return rc;
    const struct onnx_geom *g = &cs.g;
    const float *x = k->in[0]->data, *w = k->in[1]->data;
    const float *bias = k->n_in > 2 && k->in[2] != NULL ? k->in[2]->data : NULL;
    float *y = k->out[0]->data;
    int64_t hw = g->h * g->w, ohw = g->oh * g->ow, kk = cs.cg * g->kh * g->kw;
    int64_t group = p->group;
    bool acc = bias != NULL;
    for (int64_t n = 0; n < g->n; n++) {
        float *yn = y + n * cs.m * ohw;
        /* Start from the bias; the depthwise kernel accumulates from 0. */
        if (!p->packed && (bias != NULL || cs.depthwise))
            for (int64_t m = 0; m < cs.m; m++) {
                float b = bias != NULL ? bias[m] : 0.0f;
                for (int64_t i = 0; i < ohw; i++)
                    yn[m * ohw + i] = b;
            }
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = x + (n * g->c + gi * cs.cg) * hw;
            const float *wg = w + gi * cs.mg * kk;
            float *yg = yn + gi * cs.mg * ohw;
            if (cs.depthwise) {
                for (int64_t m = 0; m < cs.mg; m++)
                    depthwise_plane(xg, wg + m * kk, g, yg + m * ohw);
                continue;
            }
            if (p->packed) {
                int64_t group_floats =
                    (int64_t)(onnx_gemm_packed_b_bytes(kk, cs.mg) / sizeof(float));
                conv_packed(p, &cs, xg, w + gi * group_floats,
                            bias != NULL ? bias + gi * cs.mg : NULL, yg, k->scratch);
                continue;
            }
            const float *col = xg;
            if (!cs.pointwise) {
                im2col(xg, cs.cg, g, k->scratch);
                col = k->scratch;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cs.mg, (int)ohw, (int)kk,
                        1.0f, wg, (int)kk, col, (int)ohw, acc ? 1.0f : 0.0f, yg, (int)ohw);
        }
        if (!p->packed) /* the packed path applies it while transposing */
            onnx_ops_elementwise_act(yn, (size_t)(cs.m * ohw), &p->act);
    }
    return 0;
}

const struct onnx_op onnx_ops_conv_table[] = {
    {"Conv", 2, 3, 1, 1, 0, conv_load, conv_infer, conv_exec},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
