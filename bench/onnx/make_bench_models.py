#!/usr/bin/python3.11
"""Writes the ONNX benchmark models (random weights) into OUTDIR:

    mlp.onnx       MLP 784-256-128-10 (Gemm + Relu), input x [N, 784]
    resnet18.onnx  ResNet-18, 224x224, as torch.onnx.export writes it in eval
                   mode (BatchNormalization folded into Conv biases), input
                   x [N, 3, 224, 224]
    noop.onnx      Identity of x [N, 1]: the per-call overhead of each runtime
    bert.onnx      a 4-layer BERT-style encoder (hidden 256, 4 heads, FFN 1024,
                   MatMul+Add linears, Erf GELU, LayerNormalization), inputs
                   input_ids / attention_mask [N, S]

    /usr/bin/python3.11 bench/onnx/make_bench_models.py OUTDIR
"""
import math
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

RNG = np.random.default_rng(7)


def randn(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, base, a):
        self.n += 1
        name = "%s_%d" % (base, self.n)
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    def node(self, op, ins, **attrs):
        self.n += 1
        out = "%s_%d" % (op.lower(), self.n)
        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def save(self, path, inputs, outputs, opset):
        graph = helper.make_graph(self.nodes, os.path.basename(path), inputs, outputs,
                                  self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="inferd-bench")
        model.ir_version = 8
        save(model, path)


def mlp(path):
    g, prev, dims = Graph(), "x", [784, 256, 128, 10]
    for i in range(3):
        w = randn(dims[i], dims[i + 1], scale=1 / math.sqrt(dims[i]))
        prev = g.node("Gemm", [prev, g.const("W", w), g.const("b", randn(dims[i + 1]))])
        if i < 2:
            prev = g.node("Relu", [prev])
    g.save(path, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
           [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", 10])], 13)


def resnet18(path):
    g = Graph()

    def conv(x, cin, cout, k, s, relu=True):
        w = randn(cout, cin, k, k, scale=math.sqrt(2.0 / (cin * k * k)))
        y = g.node("Conv", [x, g.const("w", w), g.const("b", randn(cout, scale=0.01))],
                   kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4)
        return g.node("Relu", [y]) if relu else y

    h = conv("x", 3, 64, 7, 2)
    h = g.node("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            a = conv(conv(h, cin, cout, 3, s), cout, cout, 3, 1, relu=False)
            short = conv(h, cin, cout, 1, s, relu=False) if (s != 1 or cin != cout) else h
            h = g.node("Relu", [g.node("Add", [a, short])])
            cin = cout
    h = g.node("Flatten", [g.node("GlobalAveragePool", [h])])
    h = g.node("Gemm", [h, g.const("fc", randn(1000, 512, scale=0.03)),
                        g.const("fcb", randn(1000, scale=0.01))], transB=1)
    g.save(path, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
           [helper.make_tensor_value_info(h, TensorProto.FLOAT, ["N", 1000])], 13)


def bert(path, layers=4, hidden=256, heads=4, ffn=1024, vocab=30522, max_pos=512):
    g, hd = Graph(), hidden // heads
    c = g.const
    i64 = lambda v: np.array(v, dtype=np.int64)
    f32 = lambda v: np.array(v, dtype=np.float32)
    shape = g.node("Shape", ["input_ids"])
    batch = g.node("Unsqueeze", [g.node("Gather", [shape, c("i0", i64(0))], axis=0),
                                 c("ax", i64([0]))])
    seq = g.node("Gather", [shape, c("i1", i64(1))], axis=0)
    pos = g.node("Unsqueeze", [g.node("Range", [c("s", i64(0)), seq, c("d", i64(1))]),
                               c("ax", i64([0]))])
    seq1 = g.node("Unsqueeze", [seq, c("ax", i64([0]))])
    e = g.node("Add", [g.node("Gather", [c("word", randn(vocab, hidden, scale=0.05)),
                                         "input_ids"]),
                       g.node("Gather", [c("pos", randn(max_pos, hidden, scale=0.05)), pos])])
    x = g.node("LayerNormalization", [e, c("g", randn(hidden) + 1), c("b", randn(hidden))],
               epsilon=1e-12)
    m = g.node("Cast", [g.node("Unsqueeze", ["attention_mask", c("ax", i64([1, 2]))])],
               to=TensorProto.FLOAT)
    ext = g.node("Mul", [g.node("Sub", [c("one", f32(1)), m]), c("big", f32(-10000))])
    split = g.node("Concat", [batch, seq1, c("hh", i64([heads, hd]))], axis=0)
    merge = g.node("Concat", [batch, seq1, c("h", i64([hidden]))], axis=0)

    def linear(x, k, n):
        return g.node("Add", [g.node("MatMul", [x, c("W", randn(k, n, scale=1 / math.sqrt(k)))]),
                              c("B", randn(n, scale=0.02))])

    for _ in range(layers):
        q = g.node("Transpose", [g.node("Reshape", [linear(x, hidden, hidden), split])],
                   perm=[0, 2, 1, 3])
        k = g.node("Transpose", [g.node("Reshape", [linear(x, hidden, hidden), split])],
                   perm=[0, 2, 3, 1])
        v = g.node("Transpose", [g.node("Reshape", [linear(x, hidden, hidden), split])],
                   perm=[0, 2, 1, 3])
        s = g.node("Add", [g.node("Div", [g.node("MatMul", [q, k]), c("sq", f32(math.sqrt(hd)))]),
                           ext])
        ctx = g.node("Transpose", [g.node("MatMul", [g.node("Softmax", [s], axis=-1), v])],
                     perm=[0, 2, 1, 3])
        a = g.node("Add", [linear(g.node("Reshape", [ctx, merge]), hidden, hidden), x])
        x = g.node("LayerNormalization", [a, c("g", randn(hidden) + 1), c("b", randn(hidden))],
                   epsilon=1e-12)
        f = linear(x, hidden, ffn)
        f = g.node("Mul", [g.node("Mul", [f, c("half", f32(0.5))]),
                           g.node("Add", [c("one", f32(1)),
                                          g.node("Erf", [g.node("Div", [f, c("r2", f32(
                                              math.sqrt(2)))])])])])
        a = g.node("Add", [linear(f, ffn, hidden), x])
        x = g.node("LayerNormalization", [a, c("g", randn(hidden) + 1), c("b", randn(hidden))],
                   epsilon=1e-12)
    g.save(path, [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "S"]),
                  helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", "S"])],
           [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", "S", hidden])], 17)


def noop(path):
    """Identity on one float: measures each runtime's per-call overhead."""
    g = Graph()
    y = g.node("Identity", ["x"])
    g.save(path, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
           [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N", 1])], 13)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    noop(os.path.join(out, "noop.onnx"))
    mlp(os.path.join(out, "mlp.onnx"))
    resnet18(os.path.join(out, "resnet18.onnx"))
    bert(os.path.join(out, "bert.onnx"))


if __name__ == "__main__":
    main()
