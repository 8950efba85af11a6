#!/usr/bin/python3.11
"""Builds the ONNX engine's test models and their reference outputs.

    /usr/bin/python3.11 tests/onnx/make_models.py [OUTDIR]   (default tests/onnx/data)

Models are written with onnx.helper; every expected output is computed by the
numpy reference implementations below, written from the ONNX operator
specification independently of the engine (python3-torch is not a
dependency). The layout is ONNX's own test layout, one directory per case:

    OUTDIR/<group>/<case>/model.onnx
    OUTDIR/<group>/<case>/test_data_set_<k>/input_<i>.pb, output_<i>.pb

Groups: ops (one operator per model, edge cases), models (whole networks:
MLP, CNN, ResNet-style, depthwise, transformer encoder) and bad (models the
loader must refuse; no data sets). The output is deterministic (fixed seeds),
so re-running it reproduces the committed files.
"""
import math
import os
import shutil
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "data")
RNG = np.random.default_rng(20240601)

NP2ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.bool_): TensorProto.BOOL,
}


def randn(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def i64(a):
    return np.asarray(a, dtype=np.int64)


# ---- writing cases -----------------------------------------------------------


def norm(a):
    """References are computed in float64; tensors are stored as float32."""
    a = np.asarray(a)
    return a.astype(np.float32) if a.dtype == np.float64 else a


def write_case(group, name, model, data_sets, external=None):
    """data_sets: list of (inputs, outputs), each a list of (name, array).
    external: a file name to store the weights in beside the model."""
    path = os.path.join(OUT, group, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    if external is None:
        save(model, os.path.join(path, "model.onnx"))
    else:
        save(model, os.path.join(path, "model.onnx"), save_as_external_data=True,
             location=external, size_threshold=0)
    for k, (ins, outs) in enumerate(data_sets):
        d = os.path.join(path, "test_data_set_%d" % k)
        os.makedirs(d)
        for prefix, arrays in (("input", ins), ("output", outs)):
            for i, (n, a) in enumerate(arrays):
                t = numpy_helper.from_array(np.require(norm(a), requirements='C'), n)
                with open(os.path.join(d, "%s_%d.pb" % (prefix, i)), "wb") as f:
                    f.write(t.SerializeToString())


def make_model(nodes, inputs, outputs, inits=(), opset=13, name="g"):
    """inputs/outputs: list of (name, dtype, shape); shape entries may be
    strings (symbolic dims). inits: list of (name, array)."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(n, NP2ONNX[np.dtype(t)], s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, NP2ONNX[np.dtype(t)], s) for n, t, s in outputs],
        [numpy_helper.from_array(np.require(a, requirements='C'), n) for n, a in inits],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="inferd-tests")
    model.ir_version = 8
    return model


def op_case(name, op, inputs, outputs, attrs=None, inits=(), opset=13, node_inputs=None,
            dynamic=None, extra_sets=()):
    """One node. inputs: list of (name, array) graph inputs; outputs: list of
    (name, expected array); inits: constant inputs; node_inputs: the node's
    input names in order (default: inputs then inits). dynamic: per input,
    a shape with symbols to declare instead of the concrete one.
    extra_sets: more (inputs, outputs) data sets."""
    outputs = [(n, norm(a)) for n, a in outputs]
    if node_inputs is None:
        node_inputs = [n for n, _ in inputs] + [n for n, _ in inits]
    node = helper.make_node(op, node_inputs, [n for n, _ in outputs], name=name, **(attrs or {}))
    decl = []
    for i, (n, a) in enumerate(inputs):
        shape = list(a.shape) if dynamic is None or dynamic[i] is None else dynamic[i]
        decl.append((n, a.dtype, shape))
    model = make_model([node], decl, [(n, a.dtype, None) for n, a in outputs], inits, opset)
    write_case("ops", name, model, [(inputs, outputs)] + list(extra_sets))


# ---- numpy references ----------------------------------------------------------


def conv_ref(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1):
    """2-D cross-correlation, NCHW; pads = (top, left, bottom, right)."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // strides[1] + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * mg:(g + 1) * mg]
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dil[0], j * dil[1]
                patch = xs[:, :, r0:r0 + strides[0] * (oh - 1) + 1:strides[0],
                           c0:c0 + strides[1] * (ow - 1) + 1:strides[1]]
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, ws[:, :, i, j])
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y


def same_pads(size, k, s, d, upper):
    out = -(-size // s)
    total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
    small = total // 2
    begin = small if upper else total - small
    return begin, total - begin


def pool_ref(x, kind, k, strides, pads, dil=(1, 1), ceil=False, include_pad=False):
    """2-D max/average pool; windows clipped to the input; pads (t, l, b, r)."""
    n, c, h, w = x.shape
    outs = []
    for ax, size in enumerate((h, w)):
        span = dil[ax] * (k[ax] - 1) + 1
        room = size + pads[ax] + pads[ax + 2] - span
        o = (-(-room // strides[ax]) if ceil else room // strides[ax]) + 1
        if ceil and (o - 1) * strides[ax] >= size + pads[ax]:
            o -= 1
        outs.append(o)
    y = np.zeros((n, c, outs[0], outs[1]))
    xd = x.astype(np.float64)
    for oy in range(outs[0]):
        for ox in range(outs[1]):
            y0, x0 = oy * strides[0] - pads[0], ox * strides[1] - pads[1]
            rows = [y0 + i * dil[0] for i in range(k[0]) if 0 <= y0 + i * dil[0] < h]
            cols = [x0 + j * dil[1] for j in range(k[1]) if 0 <= x0 + j * dil[1] < w]
            win = xd[:, :, rows][:, :, :, cols]
            if kind == "max":
                y[:, :, oy, ox] = win.max(axis=(2, 3))
            else:
                if include_pad:
                    ye, xe = min(y0 + k[0], h + pads[2]), min(x0 + k[1], w + pads[3])
                    count = (ye - y0) * (xe - x0)
                else:
                    count = len(rows) * len(cols)
                y[:, :, oy, ox] = win.sum(axis=(2, 3)) / count
    return y


def softmax_ref(x, axis):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layernorm_ref(x, scale, bias, axis=-1, eps=1e-5):
    x = x.astype(np.float64)
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    y = (x - mean) * inv * scale
    if bias is not None:
        y = y + bias
    return y, mean, inv


def batchnorm_ref(x, scale, b, mean, var, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    r = lambda a: a.astype(np.float64).reshape(shape)
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(scale) + r(b)


def erf_ref(x):
    return np.vectorize(math.erf)(x.astype(np.float64))


def gelu_ref(x):
    return 0.5 * x * (1.0 + erf_ref(x / math.sqrt(2.0)))


def slice_ref(x, starts, ends, axes=None, steps=None):
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    idx = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        idx[a] = slice(s, e, st)
    return x[tuple(idx)]


# ---- per-operator cases ----------------------------------------------------------


def elementwise_cases():
    a, b = randn(2, 3, 4), randn(2, 3, 4)
    op_case("add_same", "Add", [("a", a), ("b", b)], [("y", a + b)])
    r = randn(4)
    op_case("add_bcast_row", "Add", [("a", a), ("b", r)], [("y", a + r)])
    col = randn(3, 1)
    op_case("add_bcast_col", "Add", [("a", a), ("b", col)], [("y", a + col)])
    x1, x2 = randn(2, 1, 4), randn(3, 1)
    op_case("add_bcast_both", "Add", [("a", x1), ("b", x2)], [("y", x1 + x2)])
    s = randn()
    op_case("add_scalar_first", "Add", [("a", f32(s)), ("b", a)], [("y", s + a)])
    op_case("sub_bcast", "Sub", [("a", a), ("b", col)], [("y", a - col)])
    img, ch = randn(2, 3, 4, 5), randn(3, 1, 1)
    op_case("mul_bcast_channel", "Mul", [("a", img), ("b", ch)], [("y", img * ch)])
    d = (np.abs(randn(2, 3, 4)) + 0.5).astype(np.float32)
    op_case("div", "Div", [("a", a), ("b", d)], [("y", a / d)])
    op_case("pow_square", "Pow", [("a", a)], [("y", a * a)], inits=[("e", f32(2.0))])
    pos = (np.abs(randn(2, 3)) + 0.1).astype(np.float32)
    ex = randn(3)
    op_case("pow_general", "Pow", [("a", pos), ("b", ex)],
            [("y", (pos.astype(np.float64) ** ex).astype(np.float32))])
    op_case("pow_int_exponent", "Pow", [("a", a)], [("y", a ** 3)], inits=[("e", i64(3))])
    ia, ib = i64([[5, -7, 9], [2, 0, -4]]), i64([3, -2, 4])
    op_case("add_int64", "Add", [("a", ia), ("b", ib)], [("y", ia + ib)])
    op_case("mul_int64", "Mul", [("a", ia), ("b", ib)], [("y", ia * ib)])
    op_case("div_int64_truncates", "Div", [("a", ia), ("b", ib)],
            [("y", np.trunc(ia / ib).astype(np.int64))])
    op_case("equal_int64", "Equal", [("a", ia), ("b", ib)], [("y", ia == ib)])
    op_case("less", "Less", [("a", a), ("b", col)], [("y", a < col)])
    op_case("greater", "Greater", [("a", a), ("b", r)], [("y", a > r)])
    x = randn(3, 4, 5) * 2
    op_case("relu", "Relu", [("x", x)], [("y", np.maximum(x, 0))])
    p = np.abs(x) + 0.01
    op_case("sqrt", "Sqrt", [("x", p)], [("y", np.sqrt(p))])
    e = np.linspace(-4, 4, 61, dtype=np.float32)
    op_case("erf", "Erf", [("x", e)], [("y", erf_ref(e))])
    op_case("tanh", "Tanh", [("x", x)], [("y", np.tanh(x))])
    op_case("sigmoid", "Sigmoid", [("x", x)], [("y", 1 / (1 + np.exp(-x.astype(np.float64))))])
    op_case("exp", "Exp", [("x", x)], [("y", np.exp(x.astype(np.float64)))])
    op_case("neg", "Neg", [("x", x)], [("y", -x)])
    op_case("clip_inputs", "Clip", [("x", x)], [("y", np.clip(x, -0.5, 1.5))],
            inits=[("lo", f32(-0.5)), ("hi", f32(1.5))])
    op_case("clip_max_only", "Clip", [("x", x)], [("y", np.minimum(x, 0.25))],
            inits=[("hi", f32(0.25))], node_inputs=["x", "", "hi"])
    op_case("clip_attrs_opset10", "Clip", [("x", x)], [("y", np.clip(x, 0, 6))],
            attrs={"min": 0.0, "max": 6.0}, opset=10)
    cond = RNG.random((2, 1, 4)) > 0.5
    wx, wy = randn(3, 4), f32(-1.0)
    op_case("where_bcast", "Where", [("c", cond), ("x", wx), ("z", wy)],
            [("y", np.where(cond, wx, wy))])
    ex_in = randn(3, 1)
    op_case("expand", "Expand", [("x", ex_in)], [("y", np.broadcast_to(ex_in, (2, 3, 4)))],
            inits=[("shape", i64([2, 1, 4]))])


def fix_expand_case():
    # Expand to a shape of lower rank than the input keeps the input's rank.
    x = randn(2, 3)
    op_case("expand_smaller_shape", "Expand", [("x", x)], [("y", x.copy())],
            inits=[("shape", i64([3]))])


def matmul_cases():
    A, B, C = randn(3, 5), randn(5, 4), randn(4)
    op_case("gemm_bias_row", "Gemm", [("a", A)], [("y", A @ B + C)], inits=[("b", B), ("c", C)])
    At, Bt, Cm = randn(5, 3), randn(4, 5), randn(3, 4)
    op_case("gemm_trans_alpha_beta", "Gemm", [("a", At), ("b", Bt), ("c", Cm)],
            [("y", 0.5 * (At.T @ Bt.T) + 2.0 * Cm)],
            attrs={"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0})
    Ccol = randn(3, 1)
    op_case("gemm_bias_col", "Gemm", [("a", A), ("c", Ccol)], [("y", A @ B + Ccol)],
            inits=[("b", B)], node_inputs=["a", "b", "c"])
    op_case("gemm_bias_scalar", "Gemm", [("a", A)], [("y", A @ B + 0.75)],
            inits=[("b", B), ("c", f32([0.75]))])
    op_case("gemm_no_c", "Gemm", [("a", A), ("b", B)], [("y", A @ B)])
    a1 = randn(1, 6)
    W, Wt = randn(6, 7), randn(7, 6)
    op_case("gemm_batch1", "Gemm", [("a", a1)], [("y", a1 @ W + C[0])],
            inits=[("b", W), ("c", f32([C[0]]))])
    op_case("gemm_batch1_transB", "Gemm", [("a", a1)], [("y", a1 @ Wt.T)], inits=[("b", Wt)],
            attrs={"transB": 1})
    op_case("matmul_2d", "MatMul", [("a", A), ("b", B)], [("y", A @ B)])
    X, Y = randn(2, 1, 3, 4), randn(5, 4, 6)
    op_case("matmul_batched_bcast", "MatMul", [("a", X), ("b", Y)], [("y", np.matmul(X, Y))])
    v, M3 = randn(4), randn(2, 4, 3)
    op_case("matmul_1d_left", "MatMul", [("a", v), ("b", M3)], [("y", np.matmul(v, M3))])
    M4 = randn(2, 3, 4)
    op_case("matmul_1d_right", "MatMul", [("a", M4), ("b", v)], [("y", np.matmul(M4, v))])
    x3, w2, bias = randn(2, 5, 8), randn(8, 6), randn(6)
    # MatMul + Add + Relu by a constant: fused into one kernel at load.
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Add", ["bias", "h"], ["h2"]),
             helper.make_node("Relu", ["h2"], ["y"])]
    model = make_model(nodes, [("x", np.float32, ["B", 5, 8])], [("y", np.float32, None)],
                       [("w", w2), ("bias", bias)])
    x1 = randn(1, 5, 8)
    write_case("ops", "matmul_bias_relu_fused", model,
               [([("x", x3)], [("y", np.maximum(x3 @ w2 + bias, 0))]),
                ([("x", x1)], [("y", np.maximum(x1 @ w2 + bias, 0))])])
    xv = randn(1, 8)
    op_case("matmul_row_vector", "MatMul", [("a", xv)], [("y", xv @ w2)], inits=[("b", w2)])


def norm_cases():
    x = randn(2, 3, 4) * 3
    op_case("softmax_last", "Softmax", [("x", x)], [("y", softmax_ref(x, -1))])
    op_case("softmax_axis1", "Softmax", [("x", x)], [("y", softmax_ref(x, 1))],
            attrs={"axis": 1})
    flat = x.reshape(2, 12)
    op_case("softmax_opset11_coerced", "Softmax", [("x", x)],
            [("y", softmax_ref(flat, 1).reshape(2, 3, 4))], attrs={"axis": 1}, opset=11)
    op_case("softmax_large_values", "Softmax", [("x", f32([[1000, 1001, 1002], [-5, 0, 5]]))],
            [("y", softmax_ref(np.array([[1000, 1001, 1002], [-5, 0, 5]]), -1))])
    h = randn(2, 3, 8)
    g, bb = randn(8), randn(8)
    y, mean, inv = layernorm_ref(h, g, bb)
    op_case("layernorm_last", "LayerNormalization", [("x", h)], [("y", y)],
            inits=[("g", g), ("b", bb)], opset=17)
    g2 = randn(3, 8)
    y2, mean2, inv2 = layernorm_ref(h, g2, None, axis=1, eps=1e-3)
    op_case("layernorm_axis1_stats", "LayerNormalization", [("x", h)],
            [("y", y2), ("mean", mean2), ("inv", inv2)], inits=[("g", g2)],
            attrs={"axis": 1, "epsilon": 1e-3}, opset=17)
    img = randn(2, 3, 4, 5)
    sc, b, mu, var = randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.5
    op_case("batchnorm", "BatchNormalization", [("x", img)],
            [("y", batchnorm_ref(img, sc, b, mu, var, 1e-3))],
            inits=[("s", sc), ("b", b), ("m", mu), ("v", var)], attrs={"epsilon": 1e-3})
    op_case("reducemean_last_keep", "ReduceMean", [("x", x)],
            [("y", x.mean(axis=-1, keepdims=True))], attrs={"axes": [-1]})
    op_case("reducemean_middle_drop", "ReduceMean", [("x", img)],
            [("y", img.mean(axis=(1, 2)))], attrs={"axes": [1, 2], "keepdims": 0})
    op_case("reducemean_all", "ReduceMean", [("x", x)], [("y", x.mean(keepdims=True))])
    op_case("reducemean_opset18_input", "ReduceMean", [("x", img)],
            [("y", img.mean(axis=(0, 3), keepdims=True))], inits=[("axes", i64([0, -1]))],
            opset=18)


def conv_cases():
    x = randn(1, 3, 7, 7)
    w = randn(4, 3, 3, 3)
    op_case("conv_basic", "Conv", [("x", x)], [("y", conv_ref(x, w))], inits=[("w", w)])
    b = randn(4)
    op_case("conv_pad1_bias", "Conv", [("x", x)], [("y", conv_ref(x, w, b, pads=(1, 1, 1, 1)))],
            inits=[("w", w), ("b", b)], attrs={"pads": [1, 1, 1, 1]})
    op_case("conv_stride2_asym_pads", "Conv", [("x", x)],
            [("y", conv_ref(x, w, strides=(2, 2), pads=(0, 1, 1, 2)))], inits=[("w", w)],
            attrs={"strides": [2, 2], "pads": [0, 1, 1, 2]})
    op_case("conv_stride_2x1", "Conv", [("x", x)],
            [("y", conv_ref(x, w, strides=(2, 1), pads=(1, 1, 1, 1)))], inits=[("w", w)],
            attrs={"strides": [2, 1], "pads": [1, 1, 1, 1]})
    op_case("conv_dilation2", "Conv", [("x", x)],
            [("y", conv_ref(x, w, pads=(2, 2, 2, 2), dil=(2, 2)))], inits=[("w", w)],
            attrs={"dilations": [2, 2], "pads": [2, 2, 2, 2]})
    x4 = randn(2, 4, 6, 5)
    wg = randn(6, 2, 3, 3)
    op_case("conv_group2_batch2", "Conv", [("x", x4)],
            [("y", conv_ref(x4, wg, pads=(1, 1, 1, 1), group=2))], inits=[("w", wg)],
            attrs={"group": 2, "pads": [1, 1, 1, 1]})
    wd, bd = randn(4, 1, 3, 3), randn(4)
    for s in (1, 2):
        op_case("conv_depthwise_s%d" % s, "Conv", [("x", x4)],
                [("y", conv_ref(x4, wd, bd, strides=(s, s), pads=(1, 1, 1, 1), group=4))],
                inits=[("w", wd), ("b", bd)],
                attrs={"group": 4, "pads": [1, 1, 1, 1], "strides": [s, s]})
    wm = randn(8, 1, 3, 3)
    op_case("conv_depthwise_multiplier2_dilated", "Conv", [("x", x4)],
            [("y", conv_ref(x4, wm, pads=(2, 2, 2, 2), dil=(2, 2), group=4))],
            inits=[("w", wm)], attrs={"group": 4, "pads": [2, 2, 2, 2], "dilations": [2, 2]})
    w1 = randn(5, 4, 1, 1)
    op_case("conv_1x1", "Conv", [("x", x4)], [("y", conv_ref(x4, w1, b[:1].repeat(5)))],
            inits=[("w", w1), ("b", b[:1].repeat(5))])
    op_case("conv_1x1_stride2", "Conv", [("x", x4)], [("y", conv_ref(x4, w1, strides=(2, 2)))],
            inits=[("w", w1)], attrs={"strides": [2, 2]})
    x1d, w1d = randn(2, 3, 9), randn(4, 3, 3)
    y1d = conv_ref(x1d[:, :, None, :], w1d[:, :, None, :], strides=(1, 2), pads=(0, 1, 0, 1))
    op_case("conv_1d", "Conv", [("x", x1d)], [("y", y1d[:, :, 0, :])], inits=[("w", w1d)],
            attrs={"strides": [2], "pads": [1, 1]})
    for mode, upper in (("SAME_UPPER", True), ("SAME_LOWER", False)):
        t, bt = same_pads(7, 4, 2, 1, upper)
        wk = randn(2, 3, 4, 4)
        op_case("conv_auto_%s" % mode.lower(), "Conv", [("x", x)],
                [("y", conv_ref(x, wk, strides=(2, 2), pads=(t, t, bt, bt)))],
                inits=[("w", wk)], attrs={"auto_pad": mode, "strides": [2, 2]})
    op_case("conv_auto_valid", "Conv", [("x", x)], [("y", conv_ref(x, w, strides=(2, 2)))],
            inits=[("w", w)], attrs={"auto_pad": "VALID", "strides": [2, 2]})
    op_case("conv_kernel_shape_attr", "Conv", [("x", x), ("w", w)], [("y", conv_ref(x, w))],
            attrs={"kernel_shape": [3, 3]})


def pool_cases():
    x = randn(2, 3, 7, 8)
    op_case("maxpool_3x3_s2_p1", "MaxPool", [("x", x)],
            [("y", pool_ref(x, "max", (3, 3), (2, 2), (1, 1, 1, 1)))],
            attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})
    op_case("maxpool_ceil", "MaxPool", [("x", x)],
            [("y", pool_ref(x, "max", (2, 3), (2, 2), (0, 0, 0, 0), ceil=True))],
            attrs={"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1})
    op_case("maxpool_dilated", "MaxPool", [("x", x)],
            [("y", pool_ref(x, "max", (2, 2), (1, 1), (0, 0, 0, 0), dil=(2, 2)))],
            attrs={"kernel_shape": [2, 2], "dilations": [2, 2]})
    x1d = randn(1, 2, 9)
    op_case("maxpool_1d", "MaxPool", [("x", x1d)],
            [("y", pool_ref(x1d[:, :, None, :], "max", (1, 3), (1, 2), (0, 1, 0, 1))[:, :, 0])],
            attrs={"kernel_shape": [3], "strides": [2], "pads": [1, 1]})
    op_case("avgpool_pad_excluded", "AveragePool", [("x", x)],
            [("y", pool_ref(x, "avg", (3, 3), (2, 2), (1, 1, 1, 1)))],
            attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})
    op_case("avgpool_pad_included", "AveragePool", [("x", x)],
            [("y", pool_ref(x, "avg", (3, 3), (2, 2), (1, 1, 1, 1), include_pad=True))],
            attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                   "count_include_pad": 1})
    t, bt = same_pads(7, 2, 2, 1, True)
    l, r = same_pads(8, 2, 2, 1, True)
    op_case("avgpool_same_upper", "AveragePool", [("x", x)],
            [("y", pool_ref(x, "avg", (2, 2), (2, 2), (t, l, bt, r)))],
            attrs={"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"})
    op_case("avgpool_ceil", "AveragePool", [("x", x)],
            [("y", pool_ref(x, "avg", (3, 3), (2, 2), (0, 0, 0, 0), ceil=True))],
            attrs={"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1})
    op_case("globalaveragepool", "GlobalAveragePool", [("x", x)],
            [("y", x.mean(axis=(2, 3), keepdims=True))])


def shape_cases():
    x = randn(2, 3, 4, 5)
    for axis in (0, 2, -1):
        op_case("flatten_axis%d" % axis if axis >= 0 else "flatten_axis_neg1", "Flatten",
                [("x", x)],
                [("y", x.reshape(int(np.prod(x.shape[:axis])) if axis else 1, -1))],
                attrs={"axis": axis})
    op_case("reshape_zero_and_infer", "Reshape", [("x", x)], [("y", x.reshape(2, 3, 20))],
            inits=[("s", i64([0, 0, -1]))])
    op_case("reshape_allowzero_empty", "Reshape", [("x", np.zeros((0, 3), np.float32))],
            [("y", np.zeros((3, 0), np.float32))], inits=[("s", i64([3, 0]))],
            attrs={"allowzero": 1}, opset=14)
    op_case("identity", "Identity", [("x", x)], [("y", x)])
    op_case("shape", "Shape", [("x", x)], [("y", i64(x.shape))])
    op_case("shape_start_end", "Shape", [("x", x)], [("y", i64(x.shape[1:-1]))],
            attrs={"start": 1, "end": -1}, opset=15)
    s = randn(2, 1, 3, 1)
    op_case("squeeze_axes_input", "Squeeze", [("x", s)], [("y", s.reshape(2, 3, 1))],
            inits=[("axes", i64([1]))])
    op_case("squeeze_all_opset11", "Squeeze", [("x", s)], [("y", s.reshape(2, 3))], opset=11)
    u = randn(3, 4)
    op_case("unsqueeze_neg_axes", "Unsqueeze", [("x", u)], [("y", u.reshape(1, 3, 4, 1))],
            inits=[("axes", i64([0, -1]))])
    v = f32([-2.7, -0.5, 0.0, 0.5, 2.7, 1e10])
    op_case("cast_float_int64", "Cast", [("x", v)], [("y", i64([-2, 0, 0, 0, 2, 10000000000]))],
            attrs={"to": TensorProto.INT64})
    iv = i64([-3, 0, 7, 1 << 40])
    op_case("cast_int64_float", "Cast", [("x", iv)], [("y", iv.astype(np.float32))],
            attrs={"to": TensorProto.FLOAT})
    op_case("cast_float_bool", "Cast", [("x", v)], [("y", v != 0)],
            attrs={"to": TensorProto.BOOL})
    op_case("constantofshape_int64", "ConstantOfShape", [("x", f32(0))],
            [("y", np.full((2, 3), 7, np.int64))], inits=[("s", i64([2, 3]))],
            attrs={"value": numpy_helper.from_array(i64([7]), "v")}, node_inputs=["s"])
    # Range and ConstantOfShape need their inputs before running: constants
    # here (folded at load) and shape-derived values in the transformer.
    op_case("range_float_const", "Range", [("x", f32(0))],
            [("y", np.arange(1.0, 2.0, 0.25, dtype=np.float32))],
            inits=[("a", f32(1.0)), ("b", f32(2.0)), ("c", f32(0.25))],
            node_inputs=["a", "b", "c"])
    x2 = randn(2, 3, 4)
    op_case("transpose_default", "Transpose", [("x", x2)], [("y", x2.transpose())])
    op_case("transpose_0213", "Transpose", [("x", x)], [("y", x.transpose(0, 2, 1, 3))],
            attrs={"perm": [0, 2, 1, 3]})
    op_case("transpose_201", "Transpose", [("x", x2)], [("y", x2.transpose(2, 0, 1))],
            attrs={"perm": [2, 0, 1]})
    xi = i64(np.arange(24).reshape(2, 3, 4))
    op_case("transpose_int64", "Transpose", [("x", xi)], [("y", xi.transpose(1, 0, 2))],
            attrs={"perm": [1, 0, 2]})
    table, ids = randn(10, 4), i64([[0, 9, 3], [3, 3, -1]])
    op_case("gather_embedding", "Gather", [("ids", ids)], [("y", table[ids])],
            inits=[("t", table)], node_inputs=["t", "ids"])
    ids1 = i64([-1, 0, 2])
    op_case("gather_axis1_negative", "Gather", [("x", x2), ("i", ids1)],
            [("y", np.take(x2, ids1, axis=1))], attrs={"axis": 1})
    op_case("gather_scalar_index", "Gather", [("x", x2), ("i", i64(2))],
            [("y", np.take(x2, 2, axis=-1))], attrs={"axis": -1})
    op_case("gather_int64_data", "Gather", [("x", i64([5, 6, 7, 8])), ("i", i64([3, 0]))],
            [("y", i64([8, 5]))])


def data_cases():
    x = randn(4, 5, 6)
    op_case("slice_basic", "Slice", [("x", x)], [("y", x[1:3, 0:4])],
            inits=[("s", i64([1, 0])), ("e", i64([3, 4]))])
    op_case("slice_negative_axes_clamped", "Slice", [("x", x)], [("y", x[:, :, -4:])],
            inits=[("s", i64([-4])), ("e", i64([1 << 62])), ("a", i64([-1]))])
    op_case("slice_steps", "Slice", [("x", x)], [("y", x[::2, 4:0:-2])],
            inits=[("s", i64([0, 4])), ("e", i64([100, 0])), ("a", i64([0, 1])),
                   ("st", i64([2, -2]))])
    op_case("slice_reverse", "Slice", [("x", x)], [("y", x[:, :, ::-1])],
            inits=[("s", i64([-1])), ("e", i64([-(1 << 62)])), ("a", i64([2])),
                   ("st", i64([-1]))])
    op_case("slice_empty", "Slice", [("x", x)], [("y", x[3:1])],
            inits=[("s", i64([3])), ("e", i64([1]))])
    op_case("slice_opset9_attrs", "Slice", [("x", x)], [("y", x[:, 1:-1])],
            attrs={"starts": [1], "ends": [-1], "axes": [1]}, opset=9)
    a, b, c = randn(2, 1, 3), randn(2, 4, 3), randn(2, 2, 3)
    op_case("concat_axis1", "Concat", [("a", a), ("b", b), ("c", c)],
            [("y", np.concatenate([a, b, c], axis=1))], attrs={"axis": 1})
    op_case("concat_negative_axis", "Concat", [("a", b), ("b", b)],
            [("y", np.concatenate([b, b], axis=-1))], attrs={"axis": -1})
    op_case("concat_int64", "Concat", [("a", i64([1, 2])), ("b", i64([3]))],
            [("y", i64([1, 2, 3]))], attrs={"axis": 0})


def folding_cases():
    """Constants folded at load and shape chains folded when planning."""
    w = randn(3, 4)
    nodes = [helper.make_node("Transpose", ["w"], ["wt"]),
             helper.make_node("Mul", ["wt", "two"], ["w2"]),
             helper.make_node("MatMul", ["x", "w2"], ["y"])]
    x = randn(2, 4)
    model = make_model(nodes, [("x", np.float32, [2, 4])], [("y", np.float32, None)],
                       [("w", w), ("two", f32(2.0))])
    write_case("ops", "fold_constant_weights", model, [([("x", x)], [("y", x @ (w.T * 2))])])
    # Reshape to [batch, -1] with the batch read from Shape at plan time.
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["r"]),
             helper.make_node("Relu", ["r"], ["y"])]
    model = make_model(nodes, [("x", np.float32, ["N", 3, 2])], [("y", np.float32, None)],
                       [("zero", i64(0)), ("axes0", i64([0])), ("minus1", i64([-1]))])
    xa, xb = randn(4, 3, 2), randn(1, 3, 2)
    write_case("ops", "fold_shape_chain", model,
               [([("x", xa)], [("y", np.maximum(xa.reshape(4, 6), 0))]),
                ([("x", xb)], [("y", np.maximum(xb.reshape(1, 6), 0))])])
    # A shape that arrives with the request: plans are keyed on its values.
    x = randn(2, 3)
    model = make_model([helper.make_node("Reshape", ["x", "s"], ["y"])],
                       [("x", np.float32, [2, 3]), ("s", np.int64, [2])],
                       [("y", np.float32, None)])
    write_case("ops", "reshape_shape_input", model,
               [([("x", x), ("s", i64([3, 2]))], [("y", x.reshape(3, 2))]),
                ([("x", x), ("s", i64([6, -1]))], [("y", x.reshape(6, 1))]),
                ([("x", x), ("s", i64([3, 2]))], [("y", x.reshape(3, 2))])])
    # A graph output that is a graph input, and one that is a constant.
    nodes = [helper.make_node("Identity", ["x"], ["y"])]
    model = make_model(nodes, [("x", np.float32, [3])],
                       [("x", np.float32, [3]), ("y", np.float32, [3]), ("k", np.float32, [2])],
                       [("k", f32([1, 2]))])
    xv = randn(3)
    write_case("ops", "outputs_input_and_constant", model,
               [([("x", xv)], [("x", xv), ("y", xv), ("k", f32([1, 2]))])])
    # Weights stored in a file beside the model (ONNX external data).
    w, b = randn(4, 3), randn(3)
    model = make_model([helper.make_node("Gemm", ["x", "w", "b"], ["y"])],
                       [("x", np.float32, [2, 4])], [("y", np.float32, None)],
                       [("w", w), ("b", b)])
    x = randn(2, 4)
    write_case("ops", "external_weights", model, [([("x", x)], [("y", x @ w + b)])],
               external="weights.bin")


# ---- whole models ----------------------------------------------------------------


def mlp_model():
    dims = [64, 32, 16, 10]
    ws = [randn(dims[i], dims[i + 1], scale=1 / math.sqrt(dims[i])) for i in range(3)]
    bs = [randn(dims[i + 1], scale=0.1) for i in range(3)]
    nodes, inits, prev = [], [], "x"
    for i in range(3):
        inits += [("W%d" % i, ws[i]), ("b%d" % i, bs[i])]
        nodes.append(helper.make_node("Gemm", [prev, "W%d" % i, "b%d" % i], ["h%d" % i]))
        prev = "h%d" % i
        if i < 2:
            nodes.append(helper.make_node("Relu", [prev], ["r%d" % i]))
            prev = "r%d" % i
    nodes.append(helper.make_node("Softmax", [prev], ["probs"], axis=1))
    model = make_model(nodes, [("x", np.float32, ["N", 64])], [("probs", np.float32, ["N", 10])],
                       inits)

    def ref(x):
        h = x.astype(np.float64)
        for i in range(3):
            h = h @ ws[i] + bs[i]
            if i < 2:
                h = np.maximum(h, 0)
        return softmax_ref(h, 1)

    sets = []
    for n in (1, 5):
        x = randn(n, 64)
        sets.append(([("x", x)], [("probs", ref(x))]))
    write_case("models", "mlp", model, sets)


class Net:
    """A small graph builder for the convolutional models."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return "%s%d" % (base, self.n)

    def const(self, base, a):
        n = self.name(base)
        self.inits.append((n, a))
        return n

    def node(self, op, ins, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out


def conv_bn(net, x, cin, cout, k, stride, group=1, act="relu", params=None):
    """Conv (no bias) + BatchNormalization + activation; returns the output
    name and appends the parameters for the reference."""
    w = randn(cout, cin // group, k, k, scale=1.0 / math.sqrt(cin // group * k * k))
    bn = (randn(cout, scale=0.2) + 1, randn(cout, scale=0.1), randn(cout, scale=0.1),
          np.abs(randn(cout, scale=0.2)) + 0.8)
    c = net.node("Conv", [x, net.const("w", w)], kernel_shape=[k, k], strides=[stride, stride],
                 pads=[k // 2] * 4, group=group)
    y = net.node("BatchNormalization", [c] + [net.const("bn", p) for p in bn], epsilon=1e-5)
    if act == "relu":
        y = net.node("Relu", [y])
    elif act == "relu6":
        y = net.node("Clip", [y, net.const("lo", f32(0)), net.const("hi", f32(6))])
    params.append((w, bn, stride, group, act))
    return y


def conv_bn_ref(x, p):
    w, bn, stride, group, act = p
    k = w.shape[2]
    y = batchnorm_ref(conv_ref(x, w, strides=(stride, stride), pads=(k // 2,) * 4, group=group),
                      *bn)
    if act == "relu":
        y = np.maximum(y, 0)
    elif act == "relu6":
        y = np.clip(y, 0, 6)
    return y


def cnn_model():
    net, params = Net(), []
    h = conv_bn(net, "x", 3, 8, 3, 1, params=params)
    h = net.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    w2, b2 = randn(16, 8, 3, 3, scale=0.2), randn(16, scale=0.1)
    h = net.node("Conv", [h, net.const("w", w2), net.const("b", b2)], kernel_shape=[3, 3],
                 pads=[1, 1, 1, 1])
    h = net.node("Relu", [h])
    h = net.node("GlobalAveragePool", [h])
    h = net.node("Flatten", [h], axis=1)
    wf, bf = randn(16, 10, scale=0.3), randn(10, scale=0.1)
    h = net.node("Gemm", [h, net.const("fc", wf), net.const("fcb", bf)])
    out = net.node("Softmax", [h], axis=1)
    model = make_model(net.nodes, [("x", np.float32, ["N", 3, 16, 16])],
                       [(out, np.float32, ["N", 10])], net.inits)

    def ref(x):
        y = conv_bn_ref(x, params[0])
        y = pool_ref(y, "max", (2, 2), (2, 2), (0, 0, 0, 0))
        y = np.maximum(conv_ref(y, w2, b2, pads=(1, 1, 1, 1)), 0)
        y = y.mean(axis=(2, 3)) @ wf + bf
        return softmax_ref(y, 1)

    sets = [([("x", x)], [(out, ref(x))]) for x in (randn(1, 3, 16, 16), randn(3, 3, 16, 16))]
    write_case("models", "cnn", model, sets)


def resnet_model():
    """ResNet-style: stem, an identity basic block, a downsampling block with
    a 1x1 projection shortcut, global pooling and a classifier."""
    net, P = Net(), []
    h = conv_bn(net, "x", 3, 16, 3, 1, params=P)
    h = net.node("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    # identity block
    a = conv_bn(net, h, 16, 16, 3, 1, params=P)
    a = conv_bn(net, a, 16, 16, 3, 1, act=None, params=P)
    h = net.node("Relu", [net.node("Add", [a, h])])
    # downsampling block
    a = conv_bn(net, h, 16, 32, 3, 2, params=P)
    a = conv_bn(net, a, 32, 32, 3, 1, act=None, params=P)
    s = conv_bn(net, h, 16, 32, 1, 2, act=None, params=P)
    h = net.node("Relu", [net.node("Add", [a, s])])
    h = net.node("GlobalAveragePool", [h])
    h = net.node("Flatten", [h])
    wf, bf = randn(32, 10, scale=0.3), randn(10, scale=0.1)
    out = net.node("Gemm", [h, net.const("fc", wf), net.const("fcb", bf)])
    model = make_model(net.nodes, [("x", np.float32, ["N", 3, 32, 32])],
                       [(out, np.float32, ["N", 10])], net.inits)

    def ref(x):
        y = conv_bn_ref(x, P[0])
        y = pool_ref(y, "max", (3, 3), (2, 2), (1, 1, 1, 1))
        a = conv_bn_ref(conv_bn_ref(y, P[1]), P[2])
        y = np.maximum(a + y, 0)
        a = conv_bn_ref(conv_bn_ref(y, P[3]), P[4])
        y = np.maximum(a + conv_bn_ref(y, P[5]), 0)
        return y.mean(axis=(2, 3)) @ wf + bf

    sets = [([("x", x)], [(out, ref(x))]) for x in (randn(2, 3, 32, 32), randn(1, 3, 32, 32))]
    write_case("models", "resnet_style", model, sets)


def depthwise_model():
    """MobileNetV2-style inverted residuals (opset 11 Clip as ReLU6)."""
    net, P = Net(), []
    h = conv_bn(net, "x", 3, 16, 3, 2, act="relu6", params=P)
    # block 1: expand 16->64, depthwise 3x3, project 64->16, residual
    a = conv_bn(net, h, 16, 64, 1, 1, act="relu6", params=P)
    a = conv_bn(net, a, 64, 64, 3, 1, group=64, act="relu6", params=P)
    a = conv_bn(net, a, 64, 16, 1, 1, act=None, params=P)
    h = net.node("Add", [h, a])
    # block 2: stride 2, 16->24, no residual
    a = conv_bn(net, h, 16, 96, 1, 1, act="relu6", params=P)
    a = conv_bn(net, a, 96, 96, 3, 2, group=96, act="relu6", params=P)
    h = conv_bn(net, a, 96, 24, 1, 1, act=None, params=P)
    h = net.node("GlobalAveragePool", [h])
    h = net.node("Flatten", [h])
    wf, bf = randn(24, 5, scale=0.3), randn(5, scale=0.1)
    out = net.node("Gemm", [h, net.const("fc", wf), net.const("fcb", bf)])
    model = make_model(net.nodes, [("x", np.float32, [1, 3, 24, 24])],
                       [(out, np.float32, [1, 5])], net.inits, opset=11)

    def ref(x):
        y = conv_bn_ref(x, P[0])
        a = conv_bn_ref(conv_bn_ref(conv_bn_ref(y, P[1]), P[2]), P[3])
        y = y + a
        y = conv_bn_ref(conv_bn_ref(conv_bn_ref(y, P[4]), P[5]), P[6])
        return y.mean(axis=(2, 3)) @ wf + bf

    x = randn(1, 3, 24, 24)
    write_case("models", "depthwise", model, [([("x", x)], [(out, ref(x))])])


def transformer_model():
    """A 2-layer BERT-style encoder built the way exporters write one: shape
    arithmetic from Shape/Gather/Concat, position ids from Range, token types
    from ConstantOfShape, the attention mask through Unsqueeze/Cast/Sub/Mul
    (layer 1) and Where/Expand (layer 2), LayerNorm decomposed into
    ReduceMean/Sub/Pow/Sqrt/Div (layer 1) and the LayerNormalization op
    (layer 2), GELU through Erf, and a pooler on the first token (Slice,
    Squeeze, Gemm, Tanh) with a Sigmoid head."""
    V, P, H, NH, F, L = 50, 16, 32, 4, 64, 2
    HD = H // NH
    g = Net()
    W = {
        "word": randn(V, H, scale=0.5), "pos": randn(P, H, scale=0.5),
        "type": randn(2, H, scale=0.5), "emb_g": randn(H, scale=0.1) + 1,
        "emb_b": randn(H, scale=0.1),
    }
    for l in range(L):
        for n in ("q", "k", "v", "o"):
            W["%s%d" % (n, l)] = randn(H, H, scale=1 / math.sqrt(H))
            W["%sb%d" % (n, l)] = randn(H, scale=0.1)
        W["f1_%d" % l], W["f1b_%d" % l] = randn(H, F, scale=1 / math.sqrt(H)), randn(F, scale=0.1)
        W["f2_%d" % l], W["f2b_%d" % l] = randn(F, H, scale=1 / math.sqrt(F)), randn(H, scale=0.1)
        for n in ("ln1", "ln2"):
            W["%s_g%d" % (n, l)] = randn(H, scale=0.1) + 1
            W["%s_b%d" % (n, l)] = randn(H, scale=0.1)
    W["pool"], W["pool_b"] = randn(H, H, scale=1 / math.sqrt(H)), randn(H, scale=0.1)
    W["head"], W["head_b"] = randn(H, 3, scale=0.5), randn(3, scale=0.1)
    c = {k: g.const(k, v) for k, v in W.items()}
    k = lambda name, a: g.const(name, a)
    node = g.node

    # embeddings
    shape = node("Shape", ["input_ids"])
    seq = node("Gather", [shape, k("one", i64(1))], axis=0)
    batch = node("Gather", [shape, k("zero", i64(0))], axis=0)
    pos = node("Range", [k("start", i64(0)), seq, k("delta", i64(1))])
    pos = node("Unsqueeze", [pos, k("ax0", i64([0]))])
    types = node("ConstantOfShape", [shape], value=numpy_helper.from_array(i64([0]), "v"))
    e = node("Add", [node("Gather", [c["word"], "input_ids"]), node("Gather", [c["pos"], pos])])
    e = node("Add", [e, node("Gather", [c["type"], types])])
    x = node("LayerNormalization", [e, c["emb_g"], c["emb_b"]], axis=-1, epsilon=1e-12)

    # the attention mask: [B, 1, 1, S]
    m4 = node("Unsqueeze", ["attention_mask", k("ax12", i64([1, 2]))])
    ext = node("Mul", [node("Sub", [k("onef", f32(1.0)), node("Cast", [m4], to=TensorProto.FLOAT)]),
                       k("big", f32(-10000.0))])
    keep = node("Cast", [m4], to=TensorProto.BOOL)

    def heads_shape():
        return node("Concat", [node("Unsqueeze", [batch, k("a0", i64([0]))]),
                               node("Unsqueeze", [seq, k("a0", i64([0]))]),
                               k("nh_hd", i64([NH, HD]))], axis=0)

    def linear(x, w, b):
        return node("Add", [node("MatMul", [x, w]), b])

    def layernorm_decomposed(x, gam, bet):
        mean = node("ReduceMean", [x], axes=[-1])
        d = node("Sub", [x, mean])
        var = node("ReduceMean", [node("Pow", [d, k("two", f32(2.0))])], axes=[-1])
        std = node("Sqrt", [node("Add", [var, k("eps", f32(1e-12))])])
        return node("Add", [node("Mul", [node("Div", [d, std]), gam]), bet])

    for l in range(L):
        q = node("Transpose", [node("Reshape", [linear(x, c["q%d" % l], c["qb%d" % l]),
                                                heads_shape()])], perm=[0, 2, 1, 3])
        kk = node("Transpose", [node("Reshape", [linear(x, c["k%d" % l], c["kb%d" % l]),
                                                 heads_shape()])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, c["v%d" % l], c["vb%d" % l]),
                                                heads_shape()])], perm=[0, 2, 1, 3])
        s = node("Div", [node("MatMul", [q, kk]), k("sqrt_hd", f32(math.sqrt(HD)))])
        if l == 0:
            s = node("Add", [s, ext])
        else:
            fill = node("Expand", [k("neg", f32(-10000.0)), node("Shape", [s])])
            s = node("Where", [keep, s, fill])
        p = node("Softmax", [s], axis=-1)
        ctx = node("Transpose", [node("MatMul", [p, v])], perm=[0, 2, 1, 3])
        hs = node("Concat", [node("Unsqueeze", [batch, k("a0", i64([0]))]),
                             node("Unsqueeze", [seq, k("a0", i64([0]))]), k("h", i64([H]))],
                  axis=0)
        ctx = node("Reshape", [ctx, hs])
        a = node("Add", [linear(ctx, c["o%d" % l], c["ob%d" % l]), x])
        if l == 0:
            x = layernorm_decomposed(a, c["ln1_g0"], c["ln1_b0"])
        else:
            x = node("LayerNormalization", [a, c["ln1_g1"], c["ln1_b1"]], epsilon=1e-12)
        f = linear(x, c["f1_%d" % l], c["f1b_%d" % l])
        gelu = node("Mul", [node("Mul", [f, k("half", f32(0.5))]),
                            node("Add", [k("onef2", f32(1.0)),
                                         node("Erf", [node("Div", [f, k("sqrt2",
                                                                          f32(math.sqrt(2)))])])])])
        a = node("Add", [linear(gelu, c["f2_%d" % l], c["f2b_%d" % l]), x])
        if l == 0:
            x = layernorm_decomposed(a, c["ln2_g0"], c["ln2_b0"])
        else:
            x = node("LayerNormalization", [a, c["ln2_g1"], c["ln2_b1"]], epsilon=1e-12)

    first = node("Squeeze", [node("Slice", [x, k("s0", i64([0])), k("s1", i64([1])),
                                            k("sax", i64([1]))]), k("sq", i64([1]))])
    pooled = node("Tanh", [node("Gemm", [first, c["pool"], c["pool_b"]])])
    head = node("Sigmoid", [node("Gemm", [pooled, c["head"], c["head_b"]])])
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    g.nodes.append(helper.make_node("Identity", [head], ["scores"]))
    model = make_model(g.nodes, [("input_ids", np.int64, ["batch", "seq"]),
                                 ("attention_mask", np.int64, ["batch", "seq"])],
                       [("last_hidden_state", np.float32, ["batch", "seq", H]),
                        ("scores", np.float32, ["batch", 3])], g.inits, opset=17)

    def ln(x, gam, bet):
        return layernorm_ref(x, gam, bet, eps=1e-12)[0]

    def ref(ids, mask):
        w = {n: a.astype(np.float64) for n, a in W.items()}
        B, S = ids.shape
        x = w["word"][ids] + w["pos"][np.arange(S)][None] + w["type"][0]
        x = ln(x, w["emb_g"], w["emb_b"])
        for l in range(L):
            def heads(t):
                return t.reshape(B, S, NH, HD).transpose(0, 2, 1, 3)
            q = heads(x @ w["q%d" % l] + w["qb%d" % l])
            kt = heads(x @ w["k%d" % l] + w["kb%d" % l])
            v = heads(x @ w["v%d" % l] + w["vb%d" % l])
            s = q @ kt.transpose(0, 1, 3, 2) / math.sqrt(HD)
            if l == 0:
                s = s + (1.0 - mask[:, None, None, :]) * -10000.0
            else:
                s = np.where(mask[:, None, None, :] != 0, s, -10000.0)
            ctx = (softmax_ref(s, -1) @ v).transpose(0, 2, 1, 3).reshape(B, S, H)
            x = ln(ctx @ w["o%d" % l] + w["ob%d" % l] + x, w["ln1_g%d" % l], w["ln1_b%d" % l])
            f = gelu_ref(x @ w["f1_%d" % l] + w["f1b_%d" % l])
            x = ln(f @ w["f2_%d" % l] + w["f2b_%d" % l] + x, w["ln2_g%d" % l], w["ln2_b%d" % l])
        pooled = np.tanh(x[:, 0] @ w["pool"] + w["pool_b"])
        head = 1 / (1 + np.exp(-(pooled @ w["head"] + w["head_b"])))
        return x, head

    sets = []
    for B, S in ((2, 7), (1, 5), (3, 16)):
        ids = i64(RNG.integers(0, V, size=(B, S)))
        mask = np.ones((B, S), np.int64)
        mask[0, S - 2:] = 0
        hidden, scores = ref(ids, mask)
        sets.append(([("input_ids", ids), ("attention_mask", mask)],
                     [("last_hidden_state", hidden), ("scores", scores)]))
    write_case("models", "transformer", model, sets)


# ---- models the loader refuses -------------------------------------------------------


def bad_models():
    fx = [("x", np.float32, [2, 3])]
    fy = [("y", np.float32, None)]

    def bad(name, nodes, inputs=fx, outputs=fy, inits=(), opset=13, domain=None):
        model = make_model(nodes, inputs, outputs, inits, opset)
        if domain is not None:
            model.opset_import.append(helper.make_opsetid(domain, 1))
        write_case("bad", name, model, [])

    bad("unsupported_op", [helper.make_node("Resize", ["x"], ["y"], name="resize1")])
    bad("unsupported_attribute",
        [helper.make_node("Relu", ["x"], ["y"], name="relu1", alpha=0.1)])
    bad("unsupported_attribute_value",
        [helper.make_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["y"], name="bn1",
                          training_mode=1)], inits=[("s", f32([1, 1, 1]))], opset=15)
    bad("custom_domain",
        [helper.make_node("FastGelu", ["x"], ["y"], name="gelu1", domain="com.microsoft")],
        domain="com.microsoft")
    bad("opset_too_old", [helper.make_node("Relu", ["x"], ["y"])], opset=5)
    bad("undefined_input", [helper.make_node("Add", ["x", "nowhere"], ["y"], name="add1")])
    bad("cycle", [helper.make_node("Add", ["x", "b"], ["a"], name="add_a"),
                  helper.make_node("Relu", ["a"], ["b"], name="relu_b"),
                  helper.make_node("Identity", ["a"], ["y"])])
    bad("defined_twice", [helper.make_node("Relu", ["x"], ["y"], name="r1"),
                          helper.make_node("Relu", ["x"], ["y"], name="r2")])
    bad("shape_mismatch", [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm1")],
        inits=[("w", randn(4, 5))])
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", np.float32, [2])], fy)
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    write_case("bad", "float16_input", model, [])
    # Reshape to a shape computed from the request: data-dependent.
    model = make_model([helper.make_node("Add", ["s", "zero"], ["s2"]),
                        helper.make_node("Reshape", ["x", "s2"], ["y"], name="reshape1")],
                       [("x", np.float32, [2, 3]), ("s", np.int64, [2])], fy,
                       [("zero", i64([0, 0]))])
    write_case("bad", "data_dependent_shape", model, [])
    bad("no_outputs", [helper.make_node("Relu", ["x"], ["y"])], outputs=[])
    # External data that points outside the model's folder.
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], fx, fy,
                       [("w", randn(2, 3))])
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="../../secret.bin")
    write_case("bad", "external_outside", model, [])


def main():
    elementwise_cases()
    fix_expand_case()
    matmul_cases()
    norm_cases()
    conv_cases()
    pool_cases()
    shape_cases()
    data_cases()
    folding_cases()
    mlp_model()
    cnn_model()
    resnet_model()
    depthwise_model()
    transformer_model()
    bad_models()


if __name__ == "__main__":
    main()
