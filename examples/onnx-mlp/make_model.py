#!/usr/bin/python3.11
"""Train a small digit classifier and write it as an ONNX model.

Usage: make_model.py OUTDIR    (writes OUTDIR/model/mlp.onnx)

The network is a multi-layer perceptron, 64-64-32-10, trained with
scikit-learn on the 8x8 handwritten digits data set that scikit-learn ships
(1797 images, pixel values 0 to 16). Its weights are then written as an ONNX
graph with onnx.helper: Gemm and Relu per hidden layer, a last Gemm and a
Softmax, so the model answers the probability of each digit 0-9.

Input  ``pixels``         float32 [batch, 64]  (an image's rows, one after the other)
Output ``probabilities``  float32 [batch, 10]

No converter package (skl2onnx) is needed: the weights are plain matrices.
The output is the same bytes on every run on a given machine (fixed seed);
reruns replace the file atomically.
"""

import os
import sys
import warnings

import numpy as np
from onnx import TensorProto, checker, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

HIDDEN = (64, 32)
OPSET = 13


def train():
    """Return the fitted classifier and its training accuracy."""
    digits = load_digits()
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(digits.data, digits.target)
    return clf, clf.score(digits.data, digits.target)


def to_onnx(clf):
    """Return the classifier's forward pass as an ONNX ModelProto."""
    nodes, inits, prev = [], [], "pixels"
    layers = len(clf.coefs_)
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"W{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"B{i}")]
        out = f"dense{i}" if i < layers - 1 else "logits"
        nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"B{i}"], [out], name=f"dense{i}"))
        prev = out
        if i < layers - 1:
            nodes.append(helper.make_node("Relu", [prev], [f"relu{i}"], name=f"relu{i}"))
            prev = f"relu{i}"
    nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], name="softmax", axis=1))
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        inits)
    model = helper.make_model(graph, producer_name="inferd examples/onnx-mlp",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.doc_string = "Handwritten digit classifier (8x8 images, scikit-learn digits)"
    checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2])
    folder = os.path.join(sys.argv[1], "model")
    os.makedirs(folder, exist_ok=True)
    clf, accuracy = train()
    path = os.path.join(folder, "mlp.onnx")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(to_onnx(clf).SerializeToString())
    os.replace(tmp, path)
    print(f"{path}: {os.path.getsize(path)} bytes, training accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
