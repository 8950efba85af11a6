/*
 * attr: typed access to a node's attributes for the operator loaders.
 *
 * Each accessor marks the attribute it finds as read, so that the loader can
 * reject a node carrying an attribute its operator ignored: an engine that
 * silently dropped, say, Conv's auto_pad would compute the wrong answer.
 * Runs at load only, on the loading thread.
 */
#include "onnx/model_int.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

typedef Onnx__AttributeProto__AttributeType attr_type;

/* The attribute called name (marking it read), or NULL. */
static Onnx__AttributeProto *find(struct onnx_attrs *a, const char *name)
{
    for (size_t i = 0; i < a->node->n_attribute; i++) {
        Onnx__AttributeProto *at = a->node->attribute[i];
        if (at->name != NULL && strcmp(at->name, name) == 0) {
            a->read[i] = true;
            return at;
        }
    }
    return NULL;
}

/* Whether at holds a value of type want. Old exporters leave `type` unset;
 * then the populated field decides. */
static bool is_type(const Onnx__AttributeProto *at, attr_type want)
{
    if (at->has_type)
        return at->type == want;
    switch (want) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        return at->has_i;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        return at->has_f;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        return at->has_s;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        return at->n_ints > 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        return at->n_floats > 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        return at->t != NULL;
    default:
        return false;
    }
}

static int wrong_type(const char *name, const char *want, struct inf_err *err)
{
    return inf_err_set(err, INF_EINVAL, "attribute '%s' must be %s", name, want);
}

bool onnx_attr_has(struct onnx_attrs *a, const char *name)
{
    return find(a, name) != NULL;
}

int onnx_attr_int(struct onnx_attrs *a, const char *name, int64_t def, int64_t *out,
                  struct inf_err *err)
{
    const Onnx__AttributeProto *at = find(a, name);
    *out = def;
    if (at == NULL)
        return 0;
    if (!is_type(at, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
        return wrong_type(name, "an integer", err);
    *out = at->i;
    return 0;
}

int onnx_attr_float(struct onnx_attrs *a, const char *name, float def, float *out,
                    struct inf_err *err)
{
    const Onnx__AttributeProto *at = find(a, name);
    *out = def;
    if (at == NULL)
        return 0;
    if (!is_type(at, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT))
        return wrong_type(name, "a float", err);
    *out = at->f;
    return 0;
}

int onnx_attr_ints(struct onnx_attrs *a, const char *name, int64_t *out, int max, int *n,
                   struct inf_err *err)
{
    const Onnx__AttributeProto *at = find(a, name);
    *n = -1;
    if (at == NULL)
        return 0;
    /* An empty list is valid and indistinguishable from "unset" on the wire. */
    if (at->has_type && at->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        return wrong_type(name, "a list of integers", err);
    if (at->n_ints > (size_t)max)
        return inf_err_set(err, INF_EINVAL, "attribute '%s' has %zu values, at most %d supported",
                           name, at->n_ints, max);
    for (size_t i = 0; i < at->n_ints; i++)
        out[i] = at->ints[i];
    *n = (int)at->n_ints;
    return 0;
}

int onnx_attr_floats(struct onnx_attrs *a, const char *name, const float **out, size_t *n,
                     struct inf_err *err)
{
    const Onnx__AttributeProto *at = find(a, name);
    *out = NULL;
    *n = 0;
    if (at == NULL)
        return 0;
    if (at->has_type && at->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS)
        return wrong_type(name, "a list of floats", err);
    *out = at->floats;
    *n = at->n_floats;
    return 0;
}

int onnx_attr_string(struct onnx_attrs *a, const char *name, const char *def, char *out,
                     size_t out_len, struct inf_err *err)
{
    const Onnx__AttributeProto *at = find(a, name);
    if (at == NULL) {
        snprintf(out, out_len, "%s", def);
        return 0;
    }
    if (!is_type(at, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING))
        return wrong_type(name, "a string", err);
    if (at->s.len >= out_len || (at->s.len > 0 && memchr(at->s.data, 0, at->s.len) != NULL))
        return inf_err_set(err, INF_EINVAL, "attribute '%s' has an invalid string value", name);
    if (at->s.len > 0)
        memcpy(out, at->s.data, at->s.len);
    out[at->s.len] = '\0';
    return 0;
}

int onnx_attr_tensor(struct onnx_attrs *a, const char *name, struct onnx_tensor *out, void **own,
                     struct inf_err *err)
{
    Onnx__AttributeProto *at = find(a, name);
    memset(out, 0, sizeof(*out));
    *own = NULL;
    if (at == NULL)
        return 0;
    if (!is_type(at, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR) || at->t == NULL)
        return wrong_type(name, "a tensor", err);
    int rc = onnx_model_tensor_from_proto(at->t, a->dir, out, own, err);
    if (rc != 0)
        return inf_err_prefix(err, "attribute '%s'", name);
    return 0;
}

const char *onnx_attr_unread(const struct onnx_attrs *a)
{
    for (size_t i = 0; i < a->node->n_attribute; i++)
        if (!a->read[i])
            return a->node->attribute[i]->name != NULL ? a->node->attribute[i]->name : "";
    return NULL;
}
