/*
 * model: loading an ONNX file into the engine's graph (struct onnx_model).
 *
 * The file is mapped and decoded once with protobuf-c. Weight payloads are
 * adopted from the decoded message (the buffer protobuf-c decoded into
 * becomes the weight's storage, no second copy) or converted once when their
 * encoding differs from the layout the kernels read; then the message is
 * freed. Every node's operator and attributes are checked here, so an
 * unsupported model fails at deployment, naming the operator and node.
 * After parsing, the graph passes run (sort, fold, fuse, prune) and, for a
 * model with static input shapes, a trial plan proves the model runs.
 *
 * The loaded model is immutable: any thread may read it.
 */
#include "onnx/model_int.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* ---- element types ------------------------------------------------------ */

/* ONNX's TensorProto.DataType names, for messages about types we lack. */
static const char *proto_type_name(int t)
{
    static const char *const names[] = {
        "undefined", "float",  "uint8",     "int8",       "uint16",   "int16",
        "int32",     "int64",  "string",    "bool",       "float16",  "double",
        "uint32",    "uint64", "complex64", "complex128", "bfloat16",
    };
    if (t >= 0 && t < (int)(sizeof(names) / sizeof(names[0])))
        return names[t];
    return "unknown";
}

static bool dtype_supported(int t)
{
    return t == ONNX_DTYPE_FLOAT || t == ONNX_DTYPE_INT64 || t == ONNX_DTYPE_INT32 ||
           t == ONNX_DTYPE_BOOL;
}

/* ---- tensors ------------------------------------------------------------ */

static const char *tensor_name(const Onnx__TensorProto *tp)
{
    return tp->name != NULL && tp->name[0] != '\0' ? tp->name : "(unnamed)";
}

/* Reads external data (ONNX's "location"/"offset"/"length" entries) of
 * `bytes` bytes from a file below dir into a fresh buffer. */
static int read_external(const Onnx__TensorProto *tp, const char *dir, size_t bytes, void **buf,
                         struct inf_err *err)
{
    const char *name = tensor_name(tp);
    const char *location = NULL;
    long offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (e->key == NULL || e->value == NULL)
            continue;
        if (strcmp(e->key, "location") == 0)
            location = e->value;
        else if (strcmp(e->key, "offset") == 0 && inf_parse_long(e->value, 0, LONG_MAX, &offset))
            return inf_err_set(err, INF_EINVAL, "tensor '%s': bad external offset '%s'", name,
                               e->value);
        else if (strcmp(e->key, "length") == 0 && inf_parse_long(e->value, 0, LONG_MAX, &length))
            return inf_err_set(err, INF_EINVAL, "tensor '%s': bad external length '%s'", name,
                               e->value);
    }
    if (dir == NULL)
        return inf_err_set(err, INF_EUNSUPPORTED,
                           "tensor '%s': external data needs the model loaded from a file", name);
    if (location == NULL || location[0] == '\0' || location[0] == '/' ||
        strstr(location, "..") != NULL)
        return inf_err_set(err, INF_EINVAL,
                           "tensor '%s': external location '%s' must be a path "
                           "inside the model's folder",
                           name, location ? location : "");
    if (length >= 0 && (size_t)length != bytes)
        return inf_err_set(err, INF_EINVAL, "tensor '%s': external length %ld, expected %zu", name,
                           length, bytes);
    char *path = inf_asprintf("%s/%s", dir, location);
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = inf_err_set(err, errno == ENOENT ? INF_ENOTFOUND : INF_EIO, "tensor '%s': %s: %s",
                         name, path, inf_strerror(errno));
        goto out;
    }
    if ((uint64_t)offset > (uint64_t)st.st_size || (uint64_t)st.st_size - offset < bytes) {
        rc = inf_err_set(err, INF_EINVAL, "tensor '%s': %s is too short for %zu bytes at %ld", name,
                         path, bytes, offset);
        goto out;
    }
    *buf = onnx_alloc(bytes);
    size_t done = 0;
    while (done < bytes) {
        ssize_t n = pread(fd, (char *)*buf + done, bytes - done, offset + (off_t)done);
        if (n <= 0) {
            rc = inf_err_set(err, INF_EIO, "tensor '%s': reading %s: %s", name, path,
                             n < 0 ? inf_strerror(errno) : "unexpected end of file");
            free(*buf);
            *buf = NULL;
            goto out;
        }
        done += (size_t)n;
    }
out:
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

/* Takes a repeated field's array from the message when it has exactly the
 * element layout wanted, so it is not copied. */
#define ADOPT(tp, field, count)                                                                    \
    do {                                                                                           \
        *own = (tp)->field;                                                                        \
        (tp)->field = NULL;                                                                        \
        (tp)->count = 0;                                                                           \
    } while (0)

int onnx_model_tensor_from_proto(Onnx__TensorProto *tp, const char *dir, struct onnx_tensor *out,
                                 void **own, struct inf_err *err)
{
    const char *name = tensor_name(tp);
    memset(out, 0, sizeof(*out));
    *own = NULL;
    int type = tp->has_data_type ? tp->data_type : 0;
    if (!dtype_supported(type))
        return inf_err_set(err, INF_EUNSUPPORTED, "tensor '%s': element type %s is not supported",
                           name, proto_type_name(type));
    if (tp->n_dims > ONNX_MAX_RANK)
        return inf_err_set(err, INF_EUNSUPPORTED, "tensor '%s': rank %zu is over %d", name,
                           tp->n_dims, ONNX_MAX_RANK);
    if (tp->segment != NULL)
        return inf_err_set(err, INF_EUNSUPPORTED, "tensor '%s': segments are not supported", name);
    out->dtype = (enum onnx_dtype)type;
    out->rank = (int)tp->n_dims;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return inf_err_set(err, INF_EINVAL, "tensor '%s': negative dimension %lld", name,
                               (long long)tp->dims[i]);
        out->dims[i] = tp->dims[i];
    }
    int64_t numel;
    int rc = onnx_shape_numel(out->dims, out->rank, &numel, err);
    if (rc != 0)
        return inf_err_prefix(err, "tensor '%s'", name);
    size_t esize = onnx_dtype_size(out->dtype);
    size_t bytes = (size_t)numel * esize;
    size_t n = (size_t)numel;

    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        rc = read_external(tp, dir, bytes, own, err);
        if (rc != 0)
            return rc;
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != bytes)
            return inf_err_set(err, INF_EINVAL, "tensor '%s': raw_data has %zu bytes, expected %zu",
                               name, tp->raw_data.len, bytes);
        ADOPT(tp, raw_data.data, raw_data.len);
    } else if (out->dtype == ONNX_DTYPE_FLOAT) {
        if (tp->n_float_data != n)
            goto count_mismatch;
        ADOPT(tp, float_data, n_float_data);
    } else if (out->dtype == ONNX_DTYPE_INT64) {
        if (tp->n_int64_data != n)
            goto count_mismatch;
        ADOPT(tp, int64_data, n_int64_data);
    } else if (out->dtype == ONNX_DTYPE_INT32) {
        if (tp->n_int32_data != n)
            goto count_mismatch;
        ADOPT(tp, int32_data, n_int32_data);
    } else {
        /* bool travels as int32_data, one value per element. */
        if (tp->n_int32_data != n)
            goto count_mismatch;
        if (n > 0) {
            uint8_t *b = onnx_alloc(n);
            for (size_t i = 0; i < n; i++)
                b[i] = tp->int32_data[i] != 0;
            *own = b;
        }
    }
    if (*own == NULL)
        *own = onnx_alloc(1); /* an empty tensor still has a data pointer */
    out->data = *own;
    return 0;

count_mismatch:
    return inf_err_set(err, INF_EINVAL,
                       "tensor '%s': has the wrong number of values for its "
                       "shape (%lld expected)",
                       name, (long long)numel);
}

int onnx_model_tensor_parse(const void *data, size_t len, struct onnx_tensor *out, void **own,
                            struct inf_err *err)
{
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, data);
    if (tp == NULL)
        return inf_err_set(err, INF_EINVAL, "not a valid TensorProto");
    int rc = onnx_model_tensor_from_proto(tp, NULL, out, own, err);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return rc;
}

/* ---- values ------------------------------------------------------------- */

/* Name to value index while loading: open addressing, FNV-1a. */
struct name_index {
    int *slots; /* value index or -1 */
    size_t cap; /* power of two */
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int index_find(const struct onnx_model *m, const struct name_index *ix, const char *name)
{
    for (size_t i = hash_name(name) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        int v = ix->slots[i];
        if (v < 0 || strcmp(m->values[v].name, name) == 0)
            return v;
    }
}

static void index_put(const struct onnx_model *m, struct name_index *ix, int v)
{
    size_t i = hash_name(m->values[v].name) & (ix->cap - 1);
    while (ix->slots[i] >= 0)
        i = (i + 1) & (ix->cap - 1);
    ix->slots[i] = v;
}

int onnx_model_add_value(struct onnx_model *m, const char *name)
{
    if (m->n_values == m->cap_values) {
        m->cap_values = m->cap_values ? m->cap_values * 2 : 64;
        m->values = inf_realloc(m->values, (size_t)m->cap_values * sizeof(*m->values));
    }
    struct onnx_value *v = &m->values[m->n_values];
    memset(v, 0, sizeof(*v));
    v->name = inf_strdup(name);
    v->t.rank = -1;
    v->producer = -1;
    return m->n_values++;
}

int onnx_model_find_value(const struct onnx_model *m, const char *name)
{
    for (int i = 0; i < m->n_values; i++)
        if (strcmp(m->values[i].name, name) == 0)
            return i;
    return -1;
}

void onnx_model_set_const(struct onnx_model *m, int v, const struct onnx_tensor *t, void *buf)
{
    struct onnx_value *val = &m->values[v];
    free(val->own);
    val->t = *t;
    val->t.data = buf;
    val->own = buf;
    val->flags |= ONNX_VALUE_CONST;
}

/* The value called name, created if new (index kept in ix, grown as needed). */
static int value_get(struct onnx_model *m, struct name_index *ix, const char *name)
{
    int v = index_find(m, ix, name);
    if (v >= 0)
        return v;
    if ((size_t)(m->n_values + 1) * 2 > ix->cap) {
        free(ix->slots);
        ix->cap *= 2;
        ix->slots = inf_malloc(ix->cap * sizeof(int));
        memset(ix->slots, 0xff, ix->cap * sizeof(int));
        for (int i = 0; i < m->n_values; i++)
            index_put(m, ix, i);
    }
    v = onnx_model_add_value(m, name);
    index_put(m, ix, v);
    return v;
}

/* ---- graph inputs and outputs ------------------------------------------- */

/* Fills d from a ValueInfo's type; a missing type is an error only when
 * required (graph inputs). */
static int read_desc(const Onnx__ValueInfoProto *vi, const char *what, bool required,
                     struct onnx_io_desc *d, struct inf_err *err)
{
    d->rank = -1;
    const Onnx__TypeProto *tp = vi->type;
    if (tp == NULL) {
        if (required)
            return inf_err_set(err, INF_EINVAL, "%s '%s' has no type", what, d->name);
        return 0;
    }
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || tp->tensor_type == NULL)
        return inf_err_set(err, INF_EUNSUPPORTED, "%s '%s': only tensor types are supported", what,
                           d->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int type = tt->has_elem_type ? tt->elem_type : 0;
    if (!dtype_supported(type))
        return inf_err_set(err, INF_EUNSUPPORTED, "%s '%s': element type %s is not supported", what,
                           d->name, proto_type_name(type));
    d->dtype = (enum onnx_dtype)type;
    if (tt->shape == NULL)
        return 0;
    if (tt->shape->n_dim > ONNX_MAX_RANK)
        return inf_err_set(err, INF_EUNSUPPORTED, "%s '%s': rank %zu is over %d", what, d->name,
                           tt->shape->n_dim, ONNX_MAX_RANK);
    d->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < d->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
        d->dims[i] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dim->dim_value < 0 || dim->dim_value > ONNX_MAX_NUMEL)
                return inf_err_set(err, INF_EINVAL, "%s '%s': bad dimension %lld", what, d->name,
                                   (long long)dim->dim_value);
            d->dims[i] = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   dim->dim_param != NULL && dim->dim_param[0] != '\0') {
            d->dim_names[i] = inf_strdup(dim->dim_param);
        }
    }
    return 0;
}

static int read_inputs(struct onnx_model *m, struct name_index *ix, const Onnx__GraphProto *g,
                       struct inf_err *err)
{
    m->inputs = inf_calloc(g->n_input + 1, sizeof(int));
    m->input_desc = inf_calloc(g->n_input + 1, sizeof(*m->input_desc));
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (vi->name == NULL || vi->name[0] == '\0')
            return inf_err_set(err, INF_EINVAL, "graph input #%zu has no name", i);
        int v = index_find(m, ix, vi->name);
        if (v >= 0 && (m->values[v].flags & ONNX_VALUE_CONST))
            continue; /* an initializer listed as input (IR < 4): a constant */
        if (v >= 0)
            return inf_err_set(err, INF_EINVAL, "graph input '%s' is listed twice", vi->name);
        v = value_get(m, ix, vi->name);
        struct onnx_io_desc *d = &m->input_desc[m->n_inputs];
        d->name = m->values[v].name;
        int rc = read_desc(vi, "input", true, d, err);
        if (rc != 0)
            return rc;
        struct onnx_value *val = &m->values[v];
        val->flags |= ONNX_VALUE_INPUT;
        val->t.dtype = d->dtype;
        val->t.rank = d->rank;
        memcpy(val->t.dims, d->dims, sizeof(d->dims));
        m->inputs[m->n_inputs++] = v;
    }
    return 0;
}

static int read_outputs(struct onnx_model *m, struct name_index *ix, const Onnx__GraphProto *g,
                        struct inf_err *err)
{
    if (g->n_output == 0)
        return inf_err_set(err, INF_EINVAL, "the graph has no outputs");
    m->outputs = inf_calloc(g->n_output, sizeof(int));
    m->output_desc = inf_calloc(g->n_output, sizeof(*m->output_desc));
    for (size_t i = 0; i < g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        if (vi->name == NULL || vi->name[0] == '\0')
            return inf_err_set(err, INF_EINVAL, "graph output #%zu has no name", i);
        int v = index_find(m, ix, vi->name);
        if (v < 0)
            return inf_err_set(err, INF_EINVAL, "graph output '%s' is not computed by any node",
                               vi->name);
        struct onnx_io_desc *d = &m->output_desc[m->n_outputs];
        d->name = m->values[v].name;
        int rc = read_desc(vi, "output", false, d, err);
        if (rc != 0)
            return rc;
        m->values[v].flags |= ONNX_VALUE_OUTPUT;
        m->outputs[m->n_outputs++] = v;
    }
    return 0;
}

/* ---- nodes -------------------------------------------------------------- */

/* A Constant node becomes a constant value: it never runs. */
static int read_constant(struct onnx_model *m, struct onnx_attrs *a, int v, struct inf_err *err)
{
    struct onnx_tensor t = {0};
    void *own = NULL;
    float f;
    int64_t i, ints[ONNX_MAX_RANK * 8];
    int n;
    int rc;
    if (onnx_attr_has(a, "value")) {
        rc = onnx_attr_tensor(a, "value", &t, &own, err);
        if (rc != 0)
            return rc;
    } else if (onnx_attr_has(a, "value_float")) {
        if ((rc = onnx_attr_float(a, "value_float", 0, &f, err)) != 0)
            return rc;
        t.dtype = ONNX_DTYPE_FLOAT;
        own = onnx_alloc(sizeof(float));
        *(float *)own = f;
    } else if (onnx_attr_has(a, "value_int")) {
        if ((rc = onnx_attr_int(a, "value_int", 0, &i, err)) != 0)
            return rc;
        t.dtype = ONNX_DTYPE_INT64;
        own = onnx_alloc(sizeof(int64_t));
        *(int64_t *)own = i;
    } else if (onnx_attr_has(a, "value_ints")) {
        if ((rc = onnx_attr_ints(a, "value_ints", ints, ONNX_MAX_RANK * 8, &n, err)) != 0)
            return rc;
        t.dtype = ONNX_DTYPE_INT64;
        t.rank = 1;
        t.dims[0] = n;
        own = onnx_alloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
        memcpy(own, ints, sizeof(int64_t) * (size_t)n);
    } else if (onnx_attr_has(a, "value_floats")) {
        const float *floats;
        size_t count;
        if ((rc = onnx_attr_floats(a, "value_floats", &floats, &count, err)) != 0)
            return rc;
        t.dtype = ONNX_DTYPE_FLOAT;
        t.rank = 1;
        t.dims[0] = (int64_t)count;
        own = onnx_alloc(sizeof(float) * (count > 0 ? count : 1));
        if (count > 0)
            memcpy(own, floats, sizeof(float) * count);
    } else {
        const char *what = a->node->n_attribute > 0 && a->node->attribute[0]->name != NULL
                               ? a->node->attribute[0]->name
                               : "(none)";
        return inf_err_set(err, INF_EUNSUPPORTED, "attribute '%s' is not supported", what);
    }
    onnx_model_set_const(m, v, &t, own);
    return 0;
}

static int check_arity(const struct onnx_op *op, const Onnx__NodeProto *np, struct inf_err *err)
{
    int n_in = (int)np->n_input, n_out = (int)np->n_output;
    if (n_in < op->min_in || (op->max_in >= 0 && n_in > op->max_in))
        return inf_err_set(err, INF_EINVAL, "has %d inputs, expected %d to %d", n_in, op->min_in,
                           op->max_in);
    if (n_out < op->min_out || n_out > op->max_out)
        return inf_err_set(err, INF_EINVAL, "has %d outputs, expected %d to %d", n_out, op->min_out,
                           op->max_out);
    for (int i = 0; i < op->min_in; i++)
        if (np->input[i] == NULL || np->input[i][0] == '\0')
            return inf_err_set(err, INF_EINVAL, "input %d is required", i);
    for (int i = 0; i < op->min_out; i++)
        if (np->output[i] == NULL || np->output[i][0] == '\0')
            return inf_err_set(err, INF_EINVAL, "output %d is required", i);
    return 0;
}

/* Defines value `name` as the output of node index `producer` (-2 for a
 * Constant): each value has one definition. */
static int define_output(struct onnx_model *m, struct name_index *ix, const char *name,
                         int producer, int *out, struct inf_err *err)
{
    int v = value_get(m, ix, name);
    struct onnx_value *val = &m->values[v];
    if (val->producer != -1 || (val->flags & (ONNX_VALUE_CONST | ONNX_VALUE_INPUT)))
        return inf_err_set(err, INF_EINVAL, "value '%s' is defined twice", name);
    val->producer = producer;
    *out = v;
    return 0;
}

static int read_node(struct onnx_model *m, struct name_index *ix, Onnx__NodeProto *np, size_t index,
                     const char *dir, struct inf_err *err)
{
    const char *type = np->op_type != NULL ? np->op_type : "";
    char fallback[64];
    snprintf(fallback, sizeof(fallback), "%.40s#%zu", type[0] ? type : "node", index);
    const char *name = np->name != NULL && np->name[0] != '\0' ? np->name : fallback;
    struct onnx_attrs attrs = {.node = np, .dir = dir};
    int rc = 0;

    if (type[0] == '\0')
        return inf_err_set(err, INF_EINVAL, "node '%s' has no op_type", name);
    if (np->domain != NULL && np->domain[0] != '\0' && strcmp(np->domain, "ai.onnx") != 0)
        return inf_err_set(err, INF_EUNSUPPORTED,
                           "node '%s' (%s): operator domain '%s' is not supported", name, type,
                           np->domain);
    attrs.read = inf_calloc(np->n_attribute + 1, sizeof(bool));

    if (strcmp(type, "Constant") == 0) {
        int v = -1;
        if (np->n_input != 0 || np->n_output != 1 || np->output[0] == NULL ||
            np->output[0][0] == '\0') {
            rc = inf_err_set(err, INF_EINVAL, "needs no input and one output");
            goto out;
        }
        if ((rc = define_output(m, ix, np->output[0], -2, &v, err)) != 0 ||
            (rc = read_constant(m, &attrs, v, err)) != 0)
            goto out;
        m->values[v].producer = -1;
    } else {
        const struct onnx_op *op = onnx_ops_find(type);
        if (op == NULL) {
            rc = inf_err_set(err, INF_EUNSUPPORTED, "operator %s is not supported", type);
            goto out;
        }
        if ((rc = check_arity(op, np, err)) != 0)
            goto out;
        struct onnx_node *n = &m->nodes[m->n_nodes];
        memset(n, 0, sizeof(*n));
        n->op = op;
        n->name = inf_strdup(name);
        n->opset = m->opset;
        n->n_in = (int)np->n_input;
        n->n_out = (int)np->n_output;
        n->in = inf_malloc(sizeof(int) * (size_t)(n->n_in + 1));
        n->out = inf_malloc(sizeof(int) * (size_t)(n->n_out + 1));
        n->in[n->n_in] = n->out[n->n_out] = -1; /* a spare slot for fused inputs */
        m->n_nodes++;                           /* owned by the model from here, even on error */
        for (int i = 0; i < n->n_in; i++)
            n->in[i] = np->input[i] != NULL && np->input[i][0] != '\0'
                           ? value_get(m, ix, np->input[i])
                           : -1;
        for (int i = 0; i < n->n_out; i++) {
            n->out[i] = -1;
            if (np->output[i] != NULL && np->output[i][0] != '\0' &&
                (rc = define_output(m, ix, np->output[i], m->n_nodes - 1, &n->out[i], err)) != 0)
                goto out;
        }
        if (op->load != NULL && (rc = op->load(n, &attrs, err)) != 0)
            goto out;
    }
    const char *unread = onnx_attr_unread(&attrs);
    if (unread != NULL)
        rc = inf_err_set(err, INF_EUNSUPPORTED, "attribute '%s' is not supported", unread);
out:
    free(attrs.read);
    if (rc != 0 && err != NULL && strncmp(err->msg, "node '", 6) != 0)
        inf_err_prefix(err, "node '%s' (%s)", name, type);
    return rc;
}

static int read_initializers(struct onnx_model *m, struct name_index *ix, Onnx__GraphProto *g,
                             const char *dir, struct inf_err *err)
{
    if (g->n_sparse_initializer > 0)
        return inf_err_set(err, INF_EUNSUPPORTED, "sparse initializers are not supported");
    for (size_t i = 0; i < g->n_initializer; i++) {
        Onnx__TensorProto *tp = g->initializer[i];
        if (tp->name == NULL || tp->name[0] == '\0')
            return inf_err_set(err, INF_EINVAL, "initializer #%zu has no name", i);
        if (index_find(m, ix, tp->name) >= 0)
            return inf_err_set(err, INF_EINVAL, "initializer '%s' is defined twice", tp->name);
        int v = value_get(m, ix, tp->name);
        struct onnx_tensor t;
        void *own;
        int rc = onnx_model_tensor_from_proto(tp, dir, &t, &own, err);
        if (rc != 0)
            return inf_err_prefix(err, "initializer");
        onnx_model_set_const(m, v, &t, own);
    }
    return 0;
}

static int read_opset(struct onnx_model *m, const Onnx__ModelProto *mp, struct inf_err *err)
{
    m->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if ((o->domain == NULL || o->domain[0] == '\0' || strcmp(o->domain, "ai.onnx") == 0) &&
            o->has_version)
            m->opset = o->version > INT32_MAX ? INT32_MAX : (int)o->version;
    }
    if (m->opset < 0)
        return inf_err_set(err, INF_EINVAL, "no opset is imported for the default ONNX domain");
    if (m->opset < ONNX_OPSET_MIN || m->opset > ONNX_OPSET_MAX)
        return inf_err_set(err, INF_EUNSUPPORTED, "opset %d is not supported (%d to %d are)",
                           m->opset, ONNX_OPSET_MIN, ONNX_OPSET_MAX);
    return 0;
}

static int read_graph(struct onnx_model *m, Onnx__GraphProto *g, const char *dir,
                      struct inf_err *err)
{
    struct name_index ix = {.cap = 64};
    ix.slots = inf_malloc(ix.cap * sizeof(int));
    memset(ix.slots, 0xff, ix.cap * sizeof(int));
    m->nodes = inf_calloc(g->n_node + 1, sizeof(*m->nodes));
    int rc;
    if ((rc = read_initializers(m, &ix, g, dir, err)) != 0 ||
        (rc = read_inputs(m, &ix, g, err)) != 0)
        goto out;
    for (size_t i = 0; i < g->n_node; i++)
        if ((rc = read_node(m, &ix, g->node[i], i, dir, err)) != 0)
            goto out;
    rc = read_outputs(m, &ix, g, err);
out:
    free(ix.slots);
    return rc;
}

/* ---- after parsing ------------------------------------------------------ */

/* Flags the graph inputs whose values shape inference reads (a Reshape's
 * shape fed by the request, say): plans are then built per value. */
static void mark_shape_inputs(struct onnx_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const struct onnx_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_in && k < 8; k++)
            if (n->in[k] >= 0 && (n->op->flags & ONNX_OP_READS(k)) &&
                (m->values[n->in[k]].flags & ONNX_VALUE_INPUT))
                m->values[n->in[k]].flags |= ONNX_VALUE_SHAPE;
    }
}

/* Plans the model once with every dynamic dimension set to 1: for static
 * inputs this proves the model runs (errors fail the load) and it gives the
 * outputs' types and (static) shapes when the model does not declare them. */
static int trial_plan(struct onnx_model *m, struct inf_err *err)
{
    bool dynamic = false;
    struct onnx_tensor *in = inf_calloc(m->n_inputs + 1, sizeof(*in));
    for (size_t i = 0; i < m->n_inputs; i++) {
        const struct onnx_io_desc *d = &m->input_desc[i];
        in[i].dtype = d->dtype;
        in[i].rank = d->rank < 0 ? 0 : d->rank;
        dynamic |= d->rank < 0 || (m->values[m->inputs[i]].flags & ONNX_VALUE_SHAPE);
        for (int k = 0; k < in[i].rank; k++) {
            in[i].dims[k] = d->dims[k] < 0 ? 1 : d->dims[k];
            dynamic |= d->dims[k] < 0;
        }
    }
    struct onnx_plan *p = NULL;
    struct inf_err perr = {0};
    int rc = onnx_plan_build(m, in, &p, &perr);
    free(in);
    if (rc != 0) {
        if (!dynamic) {
            if (err != NULL)
                *err = perr;
            return rc;
        }
        inf_debug("onnx.trial_plan", "model=%s error=\"%s\"", m->source, perr.msg);
        return 0;
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        struct onnx_io_desc *d = &m->output_desc[i];
        const struct onnx_tensor *t = onnx_plan_value(p, m->outputs[i]);
        if (d->dtype == ONNX_DTYPE_UNDEFINED)
            d->dtype = t->dtype;
        if (d->rank < 0) {
            d->rank = t->rank;
            for (int k = 0; k < t->rank; k++)
                d->dims[k] = dynamic ? -1 : t->dims[k];
        }
    }
    onnx_plan_free(p);
    return 0;
}

static int load(const void *data, size_t len, const char *name, const char *dir,
                struct onnx_model **out, struct inf_err *err)
{
    *out = NULL;
    openblas_set_num_threads(1);
    struct onnx_model *m = inf_calloc(1, sizeof(*m));
    m->source = inf_strdup(name);
    m->fold_budget = ONNX_FOLD_BUDGET_BYTES + len;
    m->max_arena_bytes = ONNX_MAX_ARENA_BYTES;
    int rc;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    if (mp == NULL) {
        rc = inf_err_set(err, INF_EINVAL, "not a valid ONNX model (protobuf decoding failed)");
        goto fail;
    }
    if ((rc = read_opset(m, mp, err)) != 0)
        goto fail;
    if (mp->graph == NULL) {
        rc = inf_err_set(err, INF_EINVAL, "the model has no graph");
        goto fail;
    }
    rc = read_graph(m, mp->graph, dir, err);
    onnx__model_proto__free_unpacked(mp, NULL);
    mp = NULL;
    if (rc != 0)
        goto fail;
    if ((rc = onnx_graph_sort(m, err)) != 0 || (rc = onnx_graph_fold(m, err)) != 0 ||
        (rc = onnx_fuse_run(m, err)) != 0)
        goto fail;
    onnx_graph_prune(m);
    mark_shape_inputs(m);
    if ((rc = trial_plan(m, err)) != 0)
        goto fail;
    *out = m;
    return 0;
fail:
    if (mp != NULL)
        onnx__model_proto__free_unpacked(mp, NULL);
    inf_err_prefix(err, "%s", name);
    onnx_model_free(m);
    return rc;
}

/* ---- public API --------------------------------------------------------- */

int onnx_model_load_mem(const void *data, size_t len, const char *name, struct onnx_model **out,
                        struct inf_err *err)
{
    return load(data, len, name != NULL ? name : "model", NULL, out, err);
}

int onnx_model_load(const char *path, struct onnx_model **out, struct inf_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return inf_err_set(err, errno == ENOENT ? INF_ENOTFOUND : INF_EIO, "%s: %s", path,
                           inf_strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = inf_err_set(err, INF_EIO, "%s: %s", path, inf_strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        rc = inf_err_set(err, INF_EINVAL, "%s: not a model file (empty or not a regular file)",
                         path);
        goto out;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = inf_err_set(err, INF_EIO, "%s: mmap: %s", path, inf_strerror(errno));
        goto out;
    }
    char *dir = inf_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, strlen(dir) + 1, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    rc = load(map, (size_t)st.st_size, path, dir, out, err);
    free(dir);
    munmap(map, (size_t)st.st_size);
out:
    close(fd);
    return rc;
}

void onnx_model_free(struct onnx_model *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < m->n_values; i++) {
        free(m->values[i].name);
        free(m->values[i].own);
    }
    for (int i = 0; i < m->n_nodes; i++) {
        free(m->nodes[i].name);
        free(m->nodes[i].in);
        free(m->nodes[i].out);
    }
    for (size_t i = 0; i < m->n_inputs; i++)
        for (int k = 0; k < ONNX_MAX_RANK; k++)
            free((char *)m->input_desc[i].dim_names[k]);
    for (size_t i = 0; i < m->n_outputs; i++)
        for (int k = 0; k < ONNX_MAX_RANK; k++)
            free((char *)m->output_desc[i].dim_names[k]);
    free(m->values);
    free(m->nodes);
    free(m->inputs);
    free(m->outputs);
    free(m->input_desc);
    free(m->output_desc);
    free(m->source);
    free(m);
}

size_t onnx_model_input_count(const struct onnx_model *m)
{
    return m->n_inputs;
}

const struct onnx_io_desc *onnx_model_input(const struct onnx_model *m, size_t i)
{
    ONNX_ASSERT(i < m->n_inputs);
    return &m->input_desc[i];
}

size_t onnx_model_output_count(const struct onnx_model *m)
{
    return m->n_outputs;
}

const struct onnx_io_desc *onnx_model_output(const struct onnx_model *m, size_t i)
{
    ONNX_ASSERT(i < m->n_outputs);
    return &m->output_desc[i];
}

void onnx_model_set_arena_limit(struct onnx_model *m, size_t bytes)
{
    m->max_arena_bytes = bytes;
}

int onnx_model_input_find(const struct onnx_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_inputs; i++)
        if (strcmp(m->input_desc[i].name, name) == 0)
            return (int)i;
    return -1;
}

int onnx_model_opset(const struct onnx_model *m)
{
    return m->opset;
}
