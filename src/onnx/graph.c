/*
 * graph: whole-graph passes over a loaded model: topological sort with
 * validation, constant folding, pruning of dead nodes and constants. Runs
 * at load, on the loading thread.
 */
#include "onnx/onnx_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* ---- topological order -------------------------------------------------- */

static int check_inputs(const struct onnx_model *m, struct inf_err *err)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const struct onnx_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] < 0)
                continue;
            const struct onnx_value *v = &m->values[n->in[k]];
            if (v->producer < 0 && !(v->flags & (ONNX_VALUE_CONST | ONNX_VALUE_INPUT)))
                return inf_err_set(err, INF_EINVAL,
                                   "node '%s' (%s): input '%s' is not defined (no initializer, "
                                   "graph input or node output)",
                                   n->name, n->op->name, v->name);
        }
    }
    return 0;
}

int onnx_graph_sort(struct onnx_model *m, struct inf_err *err)
{
    int rc = check_inputs(m, err);
    if (rc != 0)
        return rc;
    int n = m->n_nodes;
    /* Iterative depth-first search over producers, roots in file order: a
     * graph already in order (the usual case) keeps it exactly. */
    enum { TODO = 0, ACTIVE, DONE };
    char *state = inf_calloc((size_t)n + 1, 1);
    int *order = inf_malloc(sizeof(int) * ((size_t)n + 1));
    int *stack = inf_malloc(sizeof(int) * ((size_t)n + 1));
    int *next = inf_calloc((size_t)n + 1, sizeof(int));
    int n_order = 0;
    for (int root = 0; root < n && rc == 0; root++) {
        if (state[root] != TODO)
            continue;
        int depth = 0;
        stack[depth++] = root;
        state[root] = ACTIVE;
        while (depth > 0) {
            int cur = stack[depth - 1];
            const struct onnx_node *node = &m->nodes[cur];
            if (next[cur] < node->n_in) {
                int v = node->in[next[cur]++];
                int p = v >= 0 ? m->values[v].producer : -1;
                if (p < 0 || state[p] == DONE)
                    continue;
                if (state[p] == ACTIVE) {
                    rc = inf_err_set(err, INF_EINVAL, "node '%s' (%s) is part of a cycle",
                                     node->name, node->op->name);
                    break;
                }
                state[p] = ACTIVE;
                stack[depth++] = p;
                continue;
            }
            state[cur] = DONE;
            order[n_order++] = cur;
            depth--;
        }
    }
    if (rc == 0) {
        struct onnx_node *sorted = inf_malloc(sizeof(*sorted) * ((size_t)n + 1));
        for (int i = 0; i < n; i++)
            sorted[i] = m->nodes[order[i]];
        memcpy(m->nodes, sorted, sizeof(*sorted) * (size_t)n);
        free(sorted);
        onnx_graph_compact(m);
    }
    free(state);
    free(order);
    free(stack);
    free(next);
    return rc;
}

void onnx_graph_compact(struct onnx_model *m)
{
    int kept = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        struct onnx_node *n = &m->nodes[i];
        if (n->op == NULL) {
            free(n->name);
            free(n->in);
            free(n->out);
            continue;
        }
        m->nodes[kept++] = *n;
    }
    m->n_nodes = kept;
    for (int v = 0; v < m->n_values; v++)
        m->values[v].producer = -1;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_out; k++)
            if (m->nodes[i].out[k] >= 0)
                m->values[m->nodes[i].out[k]].producer = i;
}

int *onnx_graph_use_counts(const struct onnx_model *m)
{
    int *uses = inf_calloc((size_t)m->n_values + 1, sizeof(int));
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                uses[m->nodes[i].in[k]]++;
    for (size_t i = 0; i < m->n_outputs; i++)
        uses[m->outputs[i]]++;
    return uses;
}

/* ---- folding ------------------------------------------------------------ */

int onnx_graph_eval(struct onnx_kernel_args *k, void **own, size_t *budget, struct inf_err *err)
{
    int rc = 0;
    for (int i = 0; i < k->n_out; i++)
        own[i] = NULL;
    for (int i = 0; i < k->n_out; i++) {
        if (k->out[i] == NULL)
            continue;
        size_t bytes = onnx_tensor_bytes(k->out[i]);
        if (bytes > *budget) {
            rc = inf_err_set(err, INF_ETOOBIG,
                             "computing output %d at load needs %zu bytes, over the limit", i,
                             bytes);
            goto fail;
        }
        *budget -= bytes;
        own[i] = onnx_alloc(bytes);
        k->out[i]->data = own[i];
    }
    void *scratch = k->scratch_bytes > 0 ? onnx_alloc(k->scratch_bytes) : NULL;
    k->scratch = scratch;
    rc = k->node->op->run(k, err);
    k->scratch = NULL;
    free(scratch);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    for (int i = 0; i < k->n_out; i++) {
        free(own[i]);
        own[i] = NULL;
        if (k->out[i] != NULL)
            k->out[i]->data = NULL;
    }
    return onnx_shape_node_error(k->node, err);
}

static bool all_const(const struct onnx_model *m, const struct onnx_node *n)
{
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && !(m->values[n->in[k]].flags & ONNX_VALUE_CONST))
            return false;
    return true;
}

/* Folds one node whose inputs are all constants. */
static int fold_node(struct onnx_model *m, struct onnx_node *n, const int *uses,
                     struct inf_err *err)
{
    const struct onnx_tensor **in = inf_calloc((size_t)n->n_in + 1, sizeof(*in));
    struct onnx_tensor *out_t = inf_calloc((size_t)n->n_out + 1, sizeof(*out_t));
    struct onnx_tensor **out = inf_calloc((size_t)n->n_out + 1, sizeof(*out));
    void **own = inf_calloc((size_t)n->n_out + 1, sizeof(*own));
    for (int k = 0; k < n->n_in; k++)
        in[k] = n->in[k] >= 0 ? &m->values[n->in[k]].t : NULL;
    for (int k = 0; k < n->n_out; k++)
        out[k] = n->out[k] >= 0 ? &out_t[k] : NULL;
    struct onnx_kernel_args args = {
        .node = n, .in = in, .out = out, .n_in = n->n_in, .n_out = n->n_out};
    int rc = onnx_shape_infer(&args, err);
    if (rc != 0)
        goto out;
    struct onnx_value *src = n->in[0] >= 0 ? &m->values[n->in[0]] : NULL;
    if ((n->op->flags & ONNX_OP_ALIAS) && src != NULL && uses[n->in[0]] == 1 &&
        !(src->flags & ONNX_VALUE_OUTPUT) && src->own != NULL && out[0] != NULL) {
        /* The only reader of a constant reshapes it: hand the buffer over. */
        out_t[0].data = src->own;
        struct onnx_value *dst = &m->values[n->out[0]];
        dst->t = out_t[0];
        dst->own = src->own;
        dst->flags |= ONNX_VALUE_CONST;
        src->own = NULL;
        src->t.data = NULL;
        src->flags &= ~ONNX_VALUE_CONST;
        goto out;
    }
    if ((rc = onnx_graph_eval(&args, own, &m->fold_budget, err)) != 0)
        goto out;
    for (int k = 0; k < n->n_out; k++)
        if (out[k] != NULL)
            onnx_model_set_const(m, n->out[k], &out_t[k], own[k]);
out:
    free(in);
    free(out_t);
    free(out);
    free(own);
    return rc;
}

int onnx_graph_fold(struct onnx_model *m, struct inf_err *err)
{
    int *uses = onnx_graph_use_counts(m);
    int rc = 0;
    int folded = 0;
    for (int i = 0; i < m->n_nodes && rc == 0; i++) {
        struct onnx_node *n = &m->nodes[i];
        if (!all_const(m, n))
            continue;
        if ((rc = fold_node(m, n, uses, err)) == 0) {
            n->op = NULL;
            folded++;
        }
    }
    free(uses);
    if (folded > 0)
        onnx_graph_compact(m);
    return rc;
}

/* ---- pruning ------------------------------------------------------------ */

void onnx_graph_prune(struct onnx_model *m)
{
    int *uses = onnx_graph_use_counts(m);
    int removed = 0;
    for (int i = m->n_nodes - 1; i >= 0; i--) {
        struct onnx_node *n = &m->nodes[i];
        bool live = false;
        for (int k = 0; k < n->n_out; k++)
            live |= n->out[k] >= 0 && uses[n->out[k]] > 0;
        if (live)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                uses[n->in[k]]--;
        n->op = NULL;
        removed++;
    }
    for (int v = 0; v < m->n_values; v++) {
        struct onnx_value *val = &m->values[v];
        if (uses[v] == 0 && (val->flags & ONNX_VALUE_CONST)) {
            free(val->own);
            val->own = NULL;
            val->t.data = NULL;
            val->flags &= ~ONNX_VALUE_CONST;
        }
    }
    free(uses);
    if (removed > 0)
        onnx_graph_compact(m);
}
