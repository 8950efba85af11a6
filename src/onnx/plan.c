/*
 * plan: everything decided once per set of input shapes. Shapes are
 * inferred node by node; nodes computable from what is known (constants and
 * shapes, e.g. Shape -> Gather -> Concat -> Reshape chains) are folded now;
 * reshaping operators become aliases of their input's bytes; the remaining
 * nodes are the steps to run. Each intermediate buffer gets an offset in one
 * arena from its lifetime (first write to last read), so buffers whose
 * lifetimes do not overlap share memory, and a run allocates nothing.
 *
 * A plan belongs to one session (one thread at a time); it reads the model,
 * which is immutable.
 */
#include "onnx/onnx_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Bytes of plan-time folded constants one plan may hold. */
#define PLAN_FOLD_BUDGET ((size_t)256 << 20)
/* Largest graph input whose values a plan may depend on. */
#define PLAN_SHAPE_INPUT_BYTES 4096

enum storage {
    STORE_NONE = 0, /* not used by this plan */
    STORE_CONST,    /* model constant or folded in this plan */
    STORE_INPUT,    /* a graph input: the caller's memory */
    STORE_ARENA,    /* written by a step, lives in the arena */
    STORE_ALIAS,    /* the bytes of another value (root) */
};

struct onnx_plan {
    const struct onnx_model *m;
    struct onnx_tensor *vals; /* per model value */
    unsigned char *store;     /* enum storage per value */
    int *root;                /* storage root per value (itself unless aliased) */
    size_t *offset;           /* arena offset per STORE_ARENA value */
    struct onnx_kernel_args *steps;
    int n_steps;
    const struct onnx_tensor **in_ptrs; /* the steps' argument arrays */
    struct onnx_tensor **out_ptrs;
    struct onnx_tensor *inputs; /* the input shapes planned for */
    size_t *out_copy;           /* per output: arena offset of a copy, or SIZE_MAX */
    size_t arena_bytes, scratch_offset;
    void **owned; /* buffers folded in this plan */
    int n_owned;
    void *bound; /* the arena the data pointers refer to */
};

/* ---- input checks ------------------------------------------------------- */

static int check_input(const struct onnx_io_desc *d, const struct onnx_tensor *t,
                       struct inf_err *err)
{
    if (t->dtype != d->dtype)
        return inf_err_set(err, INF_EINVAL, "input '%s': expected %s data, got %s", d->name,
                           onnx_dtype_name(d->dtype), onnx_dtype_name(t->dtype));
    if (t->rank < 0 || t->rank > ONNX_MAX_RANK || (d->rank >= 0 && t->rank != d->rank))
        return inf_err_set(err, INF_EINVAL, "input '%s': expected rank %d, got %d", d->name,
                           d->rank, t->rank);
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0)
            return inf_err_set(err, INF_EINVAL, "input '%s': negative dimension %d", d->name, i);
        if (d->rank >= 0 && d->dims[i] >= 0 && t->dims[i] != d->dims[i])
            return inf_err_set(err, INF_EINVAL, "input '%s': dimension %d must be %lld, got %lld",
                               d->name, i, (long long)d->dims[i], (long long)t->dims[i]);
    }
    int64_t numel;
    if (onnx_shape_numel(t->dims, t->rank, &numel, err) != 0)
        return inf_err_prefix(err, "input '%s'", d->name);
    return 0;
}

bool onnx_plan_matches(const struct onnx_plan *p, const struct onnx_tensor *inputs)
{
    for (size_t i = 0; i < p->m->n_inputs; i++) {
        const struct onnx_tensor *a = &p->inputs[i], *b = &inputs[i];
        if (a->dtype != b->dtype || a->rank != b->rank ||
            memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)(a->rank > 0 ? a->rank : 0)) != 0)
            return false;
        /* Shape inputs: the plan holds their values. */
        if (a->data != NULL && memcmp(a->data, b->data, onnx_tensor_bytes(a)) != 0)
            return false;
    }
    return true;
}

/* ---- shapes and folding ------------------------------------------------- */

static bool foldable(const struct onnx_plan *p, const struct onnx_node *n)
{
    if (n->op->flags & ONNX_OP_SHAPE_ONLY)
        return true;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && p->vals[n->in[k]].data == NULL)
            return false;
    return true;
}

/* Infers every node's outputs; folds what is known and lists the rest as
 * steps (argument arrays pointing into p->vals). */
static int infer_all(struct onnx_plan *p, struct inf_err *err)
{
    const struct onnx_model *m = p->m;
    size_t n_in = 0, n_out = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        n_in += (size_t)m->nodes[i].n_in;
        n_out += (size_t)m->nodes[i].n_out;
    }
    p->in_ptrs = inf_calloc(n_in + 1, sizeof(*p->in_ptrs));
    p->out_ptrs = inf_calloc(n_out + 1, sizeof(*p->out_ptrs));
    p->steps = inf_calloc((size_t)m->n_nodes + 1, sizeof(*p->steps));
    p->owned = inf_calloc(n_out + 1, sizeof(*p->owned));
    size_t budget = PLAN_FOLD_BUDGET < m->max_arena_bytes ? PLAN_FOLD_BUDGET : m->max_arena_bytes;
    const struct onnx_tensor **ip = p->in_ptrs;
    struct onnx_tensor **op = p->out_ptrs;
    for (int i = 0; i < m->n_nodes; i++) {
        const struct onnx_node *n = &m->nodes[i];
        struct onnx_kernel_args *k = &p->steps[p->n_steps];
        k->node = n;
        k->n_in = n->n_in;
        k->n_out = n->n_out;
        k->in = ip;
        k->out = op;
        for (int j = 0; j < n->n_in; j++)
            ip[j] = n->in[j] >= 0 ? &p->vals[n->in[j]] : NULL;
        for (int j = 0; j < n->n_out; j++)
            op[j] = n->out[j] >= 0 ? &p->vals[n->out[j]] : NULL;
        int rc = onnx_shape_infer(k, err);
        if (rc != 0)
            return rc;
        if (foldable(p, n)) {
            if ((rc = onnx_graph_eval(k, p->owned + p->n_owned, &budget, err)) != 0)
                return rc;
            for (int j = 0; j < n->n_out; j++) {
                if (n->out[j] >= 0) {
                    p->store[n->out[j]] = STORE_CONST;
                }
            }
            p->n_owned += n->n_out;
            memset(k, 0, sizeof(*k));
            continue;
        }
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0)
                p->store[n->out[j]] = STORE_ARENA;
        ip += n->n_in;
        op += n->n_out;
        p->n_steps++;
    }
    return 0;
}

/* Turns reshaping steps into aliases of their input: no kernel runs. A graph
 * output keeps its own buffer, so outputs never point into inputs. */
static void make_aliases(struct onnx_plan *p)
{
    int kept = 0;
    for (int s = 0; s < p->n_steps; s++) {
        struct onnx_kernel_args *k = &p->steps[s];
        const struct onnx_node *n = k->node;
        int src = n->in[0], dst = n->out[0];
        if ((n->op->flags & ONNX_OP_ALIAS) && src >= 0 && dst >= 0 &&
            !(p->m->values[dst].flags & ONNX_VALUE_OUTPUT) && p->store[src] != STORE_CONST) {
            p->store[dst] = STORE_ALIAS;
            p->root[dst] = p->root[src];
            continue;
        }
        p->steps[kept++] = p->steps[s];
    }
    p->n_steps = kept;
}

/* ---- memory ------------------------------------------------------------- */

struct buffer {
    int value;
    size_t bytes;
    int first, last; /* step indices */
    size_t offset;
};

static int by_size_desc(const void *a, const void *b)
{
    const struct buffer *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->first - y->first;
}

static int by_offset(const void *a, const void *b)
{
    const struct buffer *const *x = a, *const *y = b;
    return (*x)->offset < (*y)->offset ? -1 : (*x)->offset > (*y)->offset;
}

static size_t align_up(size_t n)
{
    return (n + ONNX_ALIGN - 1) / ONNX_ALIGN * ONNX_ALIGN;
}

/* Greedy placement, largest first: each buffer goes at the lowest offset
 * where it overlaps no placed buffer alive at the same time. Returns the
 * peak. */
static size_t place(struct buffer *b, int n)
{
    qsort(b, (size_t)n, sizeof(*b), by_size_desc);
    struct buffer **live = inf_calloc((size_t)n + 1, sizeof(*live));
    size_t peak = 0;
    for (int i = 0; i < n; i++) {
        int n_live = 0;
        for (int j = 0; j < i; j++)
            if (b[j].first <= b[i].last && b[i].first <= b[j].last)
                live[n_live++] = &b[j];
        qsort(live, (size_t)n_live, sizeof(*live), by_offset);
        size_t off = 0;
        for (int j = 0; j < n_live; j++) {
            if (live[j]->offset >= off + b[i].bytes)
                break;
            if (live[j]->offset + live[j]->bytes > off)
                off = live[j]->offset + live[j]->bytes;
        }
        b[i].offset = off;
        if (off + b[i].bytes > peak)
            peak = off + b[i].bytes;
    }
    free(live);
    return peak;
}

static int assign_memory(struct onnx_plan *p, struct inf_err *err)
{
    const struct onnx_model *m = p->m;
    int nv = m->n_values;
    int *first = inf_malloc(sizeof(int) * ((size_t)nv + 1));
    int *last = inf_malloc(sizeof(int) * ((size_t)nv + 1));
    for (int v = 0; v < nv; v++)
        first[v] = last[v] = -1;
    size_t scratch = 0;
    for (int s = 0; s < p->n_steps; s++) {
        const struct onnx_kernel_args *k = &p->steps[s];
        for (int j = 0; j < k->n_out; j++) {
            int v = k->node->out[j];
            if (v >= 0)
                first[v] = last[v] = s;
        }
        for (int j = 0; j < k->n_in; j++) {
            int v = k->node->in[j];
            if (v >= 0)
                last[p->root[v]] = s;
        }
        if (k->scratch_bytes > scratch)
            scratch = k->scratch_bytes;
    }
    for (size_t i = 0; i < m->n_outputs; i++)
        last[p->root[m->outputs[i]]] = p->n_steps;

    struct buffer *b = inf_calloc((size_t)nv + 1, sizeof(*b));
    int nb = 0;
    for (int v = 0; v < nv; v++) {
        if (p->store[v] != STORE_ARENA)
            continue;
        b[nb].value = v;
        b[nb].bytes = align_up(onnx_tensor_bytes(&p->vals[v]));
        b[nb].first = first[v];
        b[nb].last = last[v] > first[v] ? last[v] : first[v];
        nb++;
    }
    size_t peak = place(b, nb);
    for (int i = 0; i < nb; i++)
        p->offset[b[i].value] = b[i].offset;
    free(b);
    free(first);
    free(last);

    /* Outputs that are graph inputs are copied after the scratch area. */
    p->scratch_offset = peak;
    size_t end = align_up(peak + scratch);
    for (size_t i = 0; i < m->n_outputs; i++) {
        p->out_copy[i] = SIZE_MAX;
        int v = m->outputs[i];
        if (p->store[p->root[v]] == STORE_INPUT) {
            p->out_copy[i] = end;
            end += align_up(onnx_tensor_bytes(&p->vals[v]));
        }
    }
    p->arena_bytes = end;
    if (p->arena_bytes > m->max_arena_bytes)
        return inf_err_set(err, INF_ETOOBIG,
                           "these input shapes need %zu MiB of working memory, over the %zu MiB "
                           "limit",
                           p->arena_bytes >> 20, m->max_arena_bytes >> 20);
    return 0;
}

/* ---- build, bind, run --------------------------------------------------- */

int onnx_plan_build(const struct onnx_model *m, const struct onnx_tensor *inputs,
                    struct onnx_plan **out, struct inf_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < m->n_inputs; i++) {
        int rc = check_input(&m->input_desc[i], &inputs[i], err);
        if (rc != 0)
            return rc;
    }
    struct onnx_plan *p = inf_calloc(1, sizeof(*p));
    size_t nv = (size_t)m->n_values + 1;
    p->m = m;
    p->vals = inf_calloc(nv, sizeof(*p->vals));
    p->store = inf_calloc(nv, 1);
    p->root = inf_malloc(nv * sizeof(int));
    p->offset = inf_calloc(nv, sizeof(size_t));
    p->inputs = inf_calloc(m->n_inputs + 1, sizeof(*p->inputs));
    p->out_copy = inf_calloc(m->n_outputs + 1, sizeof(size_t));
    int rc = 0;
    for (int v = 0; v < m->n_values; v++) {
        p->root[v] = v;
        p->vals[v].rank = -1;
        if (m->values[v].flags & ONNX_VALUE_CONST) {
            p->vals[v] = m->values[v].t;
            p->store[v] = STORE_CONST;
        }
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        int v = m->inputs[i];
        p->inputs[i] = inputs[i];
        p->inputs[i].data = NULL;
        p->vals[v] = p->inputs[i];
        p->store[v] = STORE_INPUT;
        if ((m->values[v].flags & ONNX_VALUE_SHAPE) && inputs[i].data != NULL) {
            /* Known while planning, and part of the plan's key. */
            size_t bytes = onnx_tensor_bytes(&inputs[i]);
            if (bytes > PLAN_SHAPE_INPUT_BYTES) {
                rc = inf_err_set(err, INF_EUNSUPPORTED,
                                 "input '%s' decides shapes and is too large (%zu bytes)",
                                 m->values[v].name, bytes);
                goto fail;
            }
            p->inputs[i].data = onnx_alloc(bytes);
            memcpy(p->inputs[i].data, inputs[i].data, bytes);
            p->vals[v].data = p->inputs[i].data;
            p->store[v] = STORE_CONST;
        }
    }
    rc = infer_all(p, err);
    if (rc != 0)
        goto fail;
    make_aliases(p);
    if ((rc = assign_memory(p, err)) != 0)
        goto fail;
    *out = p;
    return 0;
fail:
    onnx_plan_free(p);
    return rc;
}

const struct onnx_tensor *onnx_plan_value(const struct onnx_plan *p, int v)
{
    ONNX_ASSERT(v >= 0 && v < p->m->n_values);
    return &p->vals[v];
}

size_t onnx_plan_arena_bytes(const struct onnx_plan *p)
{
    return p->arena_bytes;
}

/* Points every arena value, alias and step scratch into arena. */
static void bind(struct onnx_plan *p, void *arena)
{
    char *base = arena;
    int nv = p->m->n_values;
    for (int v = 0; v < nv; v++)
        if (p->store[v] == STORE_ARENA)
            p->vals[v].data = base + p->offset[v];
    for (int v = 0; v < nv; v++)
        if (p->store[v] == STORE_ALIAS && p->store[p->root[v]] == STORE_ARENA)
            p->vals[v].data = p->vals[p->root[v]].data;
    for (int s = 0; s < p->n_steps; s++)
        p->steps[s].scratch = base + p->scratch_offset;
    p->bound = arena;
}

int onnx_plan_run(struct onnx_plan *p, void *arena, const struct onnx_tensor *inputs,
                  struct onnx_tensor *outputs, struct inf_err *err)
{
    const struct onnx_model *m = p->m;
    if (p->bound != arena)
        bind(p, arena);
    for (size_t i = 0; i < m->n_inputs; i++)
        p->vals[m->inputs[i]].data = inputs[i].data;
    for (int v = 0; v < m->n_values; v++)
        if (p->store[v] == STORE_ALIAS && p->store[p->root[v]] == STORE_INPUT)
            p->vals[v].data = p->vals[p->root[v]].data;
    for (int s = 0; s < p->n_steps; s++) {
        const struct onnx_kernel_args *k = &p->steps[s];
        int rc = k->node->op->run(k, err);
        if (rc != 0)
            return onnx_shape_node_error(k->node, err);
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        outputs[i] = p->vals[m->outputs[i]];
        if (p->out_copy[i] != SIZE_MAX) {
            void *copy = (char *)arena + p->out_copy[i];
            memcpy(copy, outputs[i].data, onnx_tensor_bytes(&outputs[i]));
            outputs[i].data = copy;
        }
    }
    return 0;
}

void onnx_plan_free(struct onnx_plan *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->vals);
    free(p->store);
    free(p->root);
    free(p->offset);
    free(p->steps);
    free(p->in_ptrs);
    free(p->out_ptrs);
    for (size_t i = 0; i < p->m->n_inputs; i++)
        free(p->inputs[i].data);
    free(p->inputs);
    free(p->out_copy);
    free(p);
}
