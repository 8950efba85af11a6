#!/usr/bin/python3.11
"""Writes ONNX's own operator conformance cases for the engine's operators.

    /usr/bin/python3.11 tests/onnx/make_conformance.py OUTDIR

python3-onnx ships the node test cases of the ONNX specification (a model per
case with numpy-computed expected outputs) as Python code. This script
collects those whose operators the engine supports and whose tensors use its
element types (float32, int64, int32, bool), and writes them in ONNX's test
layout (OUTDIR/<case>/model.onnx, test_data_set_0/input_0.pb, ...), together
with OUTDIR/SKIPPED listing what was left out and why. Generated at test time
(make), never committed.
"""
import os
import shutil
import sys

import numpy as np

# onnx 1.12's case generators still use aliases numpy 1.24 removed.
for _alias, _type in (("float", float), ("int", int), ("bool", bool), ("object", object),
                      ("complex", complex), ("str", str)):
    if _alias not in np.__dict__:
        setattr(np, _alias, _type)

from onnx import numpy_helper  # noqa: E402
from onnx.backend.test.case import node  # noqa: E402

SUPPORTED_OPS = {
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "Sigmoid",
    "Relu", "Clip", "Softmax", "LayerNormalization", "ReduceMean", "Conv", "MaxPool",
    "AveragePool", "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape",
    "Transpose", "Concat", "Gather", "Shape", "Unsqueeze", "Squeeze", "Cast", "Constant",
    "ConstantOfShape", "Range", "Identity", "Slice", "Where", "Expand", "Equal", "Less",
    "Greater", "Neg", "Exp", "Dropout",
}
DTYPES = {np.dtype(t) for t in (np.float32, np.int64, np.int32, np.bool_)}

# Cases of supported operators the engine refuses by design (each reason is
# documented in docs/onnx.md).
SKIP = {
    "test_maxpool_with_argmax_2d_precomputed_pads": "MaxPool's Indices output",
    "test_maxpool_with_argmax_2d_precomputed_strides": "MaxPool's Indices output",
    "test_batchnorm_epsilon_training_mode": "BatchNormalization training mode",
    "test_batchnorm_example_training_mode": "BatchNormalization training mode",
    "test_dropout_default_mask": "Dropout's mask output",
    "test_dropout_default_mask_ratio": "Dropout's mask output",
    "test_training_dropout": "Dropout training mode",
    "test_training_dropout_default": "Dropout training mode",
    "test_training_dropout_default_mask": "Dropout training mode",
    "test_training_dropout_mask": "Dropout training mode",
    "test_training_dropout_zero_ratio": "Dropout training mode",
    "test_training_dropout_zero_ratio_mask": "Dropout training mode",
    "test_maxpool_3d_default": "3-D pooling",
    "test_identity_opt": "optional types",
    "test_identity_sequence": "sequence types",
    "test_averagepool_3d_default": "3-D pooling",
}


def dtypes_ok(case):
    for ins, outs in case.data_sets:
        for a in list(ins) + list(outs):
            if np.asarray(a).dtype not in DTYPES:
                return False
    return True


def main():
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    skipped = []
    written = 0
    for case in node.collect_testcases(None):
        ops = {n.op_type for n in case.model.graph.node}
        if not ops <= SUPPORTED_OPS:
            continue
        if case.name in SKIP and SKIP[case.name] is not None:
            skipped.append("%s: %s" % (case.name, SKIP[case.name]))
            continue
        opset = max(o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx"))
        if opset < 7:
            skipped.append("%s: opset %d (7 to 18 are supported)" % (case.name, opset))
            continue
        if not dtypes_ok(case):
            skipped.append("%s: element type" % case.name)
            continue
        d = os.path.join(out, case.name)
        os.makedirs(d)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for k, (ins, outs) in enumerate(case.data_sets):
            sd = os.path.join(d, "test_data_set_%d" % k)
            os.makedirs(sd)
            for prefix, arrays, infos in (("input", ins, case.model.graph.input),
                                          ("output", outs, case.model.graph.output)):
                for i, a in enumerate(arrays):
                    t = numpy_helper.from_array(np.require(np.asarray(a), requirements="C"),
                                                infos[i].name)
                    with open(os.path.join(sd, "%s_%d.pb" % (prefix, i)), "wb") as f:
                        f.write(t.SerializeToString())
        written += 1
    with open(os.path.join(out, "SKIPPED"), "w") as f:
        f.write("\n".join(sorted(skipped)) + "\n")
    print("%d conformance cases written, %d skipped" % (written, len(skipped)))


if __name__ == "__main__":
    main()
