#!/usr/bin/env bash
# No-code ONNX deployment: examples/onnx-mlp deployed from its YAML (a model
# folder, no code_configuration), both request forms (Azure's input_data and
# the Open Inference Protocol) checked against a numpy reference computed here
# from the model's own weights, swagger, input validation, an MLflow folder
# with an onnx flavor, several .onnx files, and an unsupported operator
# failing the deployment with the operator named.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3.11
EX="$TEST_TMP/onnx-mlp"
cp -r "$REPO/examples/onnx-mlp" "$EX"
# `make` builds the model; build it here when this tree has not.
if [ ! -f "$EX/model/mlp.onnx" ] && ! "$PY" "$EX/make_model.py" "$EX" >/dev/null; then
    echo "Bail out! cannot build examples/onnx-mlp/model/mlp.onnx"
    exit 1
fi
start_server || exit 1

# check.py MODEL REQUEST RESPONSE: the response holds the model's outputs for
# the request, within 1e-4 relative; the reference is numpy over the model's
# initializers (Debian's onnx 1.12 has no ReferenceEvaluator).
cat > "$TEST_TMP/check.py" <<'PYEOF'
import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def reference(model, x):
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    env[model.graph.input[0].name] = np.asarray(x, dtype=np.float64)
    for node in model.graph.node:
        attr = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        args = [env[name] for name in node.input]
        if node.op_type == "Gemm":
            a = args[0].T if attr.get("transA") else args[0]
            b = args[1].T if attr.get("transB") else args[1]
            y = attr.get("alpha", 1.0) * a @ b
            if len(args) > 2:
                y = y + attr.get("beta", 1.0) * args[2]
        elif node.op_type == "Relu":
            y = np.maximum(args[0], 0)
        elif node.op_type == "Softmax":
            axis = attr.get("axis", -1)
            e = np.exp(args[0] - args[0].max(axis=axis, keepdims=True))
            y = e / e.sum(axis=axis, keepdims=True)
        else:
            sys.exit(f"check.py: no numpy reference for {node.op_type}")
        env[node.output[0]] = y
    return env[model.graph.output[0].name]


model = onnx.load(sys.argv[1])
request = json.load(open(sys.argv[2]))
response = json.load(open(sys.argv[3]))
if "inputs" in request:
    tensor = request["inputs"][0]
    x = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
    out = response["outputs"][0]
    got = np.asarray(out["data"], dtype=np.float64).reshape(out["shape"])
else:
    x, got = request["input_data"], np.asarray(response, dtype=np.float64)
want = reference(model, x)
if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-6):
    sys.exit(f"shape {got.shape} vs {want.shape}; max difference {np.abs(got - want).max()}")
PYEOF
model_matches() { # REQUEST_FILE RESPONSE_TEXT
    printf '%s' "$2" > "$TEST_TMP/response.json"
    "$PY" "$TEST_TMP/check.py" "$EX/model/mlp.onnx" "$1" "$TEST_TMP/response.json"
}

check "create endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
out=$(inferd online-deployment create -f "$EX/deployment.yml" --all-traffic 2>&1)
check_eq "deploy an ONNX model folder without a script: exit 0" "0" "$?"
check_match "it runs the onnx backend" '"backend": "onnx"' "$out"
KEY=$(key_of digits-endpoint)
post() { # BODY [curl args]: body, then the status on the last line
    local body=$1; shift
    curl -s -w '\n%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -D "$TEST_TMP/last-headers" --data-binary "$body" "$INFERD_URL/endpoints/digits-endpoint/score" "$@"
}
model_400() { [ "$(status_of "$1")" = 424 ] &&
    tr -d '\r' < "$TEST_TMP/last-headers" | grep -q '^ms-azureml-model-error-statuscode: 400$'; }

# Azure's form: the sample request, through the CLI and through curl
out=$(inferd online-endpoint invoke -n digits-endpoint --request-file "$EX/sample-request.json" 2>&1)
check "invoke the sample: the model's probabilities" model_matches "$EX/sample-request.json" "$out"
check_eq "the sample digits are 0, 1 and 2" "[0,1,2]" \
    "$(printf '%s' "$out" | jq -c 'map(index(max))' 2>&1)"
out=$(post "$(cat "$EX/sample-request.json")")
check_eq "input_data: 200" "200" "$(status_of "$out")"
check "input_data: a nested list per row, as numpy computes" model_matches \
    "$EX/sample-request.json" "$(body_of "$out")"
check_match "the answer says how long the model ran" 'x-ms-run-fn-exec-ms' "$(cat "$TEST_TMP/last-headers")"

# the Open Inference Protocol, flat data, three rows and one
jq -c '{id: "r-1", inputs: [{name: "pixels", shape: [(.input_data | length), 64],
        datatype: "FP32", data: (.input_data | flatten)}]}' "$EX/sample-request.json" > "$TEST_TMP/oip.json"
out=$(post "$(cat "$TEST_TMP/oip.json")")
check_eq "inputs: 200" "200" "$(status_of "$out")"
check "inputs: the model's probabilities" model_matches "$TEST_TMP/oip.json" "$(body_of "$out")"
check_eq "inputs: model name, id, output name, datatype and shape" \
    '"mlp" "r-1" "probabilities" "FP32" [3,10]' \
    "$(body_of "$out" | jq -r '[.model_name, .id, .outputs[0].name, .outputs[0].datatype] | map(tojson) | join(" ")') $(body_of "$out" | jq -c '.outputs[0].shape')"
jq -c '{inputs: [{name: "pixels", shape: [1, 64], datatype: "FP32", data: [.input_data[1]]}]}' \
    "$EX/sample-request.json" > "$TEST_TMP/oip1.json"
out=$(post "$(cat "$TEST_TMP/oip1.json")")
check "inputs, batch 1, nested data: the model's probabilities" model_matches "$TEST_TMP/oip1.json" "$(body_of "$out")"

# validation against the graph: 400 from the model, 424 to the client
out=$(post '{"inputs": [{"name": "image", "shape": [1, 64], "datatype": "FP32", "data": [0]}]}')
check "a wrong input name: model status 400" model_400 "$out"
check_match "naming it and the model's input" 'unknown input \\"image\\".*pixels' "$(body_of "$out")"
out=$(post '{"input_data": [[1, 2, 3]]}')
check "a row of 3 values: model status 400" model_400 "$out"
check_match "saying the dimension" "dimension 1 must be 64" "$(body_of "$out")"
out=$(post '{"input_data": [["a"]]}')
check "a string: model status 400" model_400 "$out"
out=$(post '{"inputs": [{"name": "pixels", "shape": [100000000, 64], "datatype": "FP32", "data": []}]}')
check "more elements than a request may carry: model status 413" \
    test "$(tr -d '\r' < "$TEST_TMP/last-headers" | sed -n 's/^ms-azureml-model-error-statuscode: //p')" = 413

# swagger from the graph
out=$(curl -s -H "Authorization: Bearer $KEY" "$INFERD_URL/endpoints/digits-endpoint/swagger.json")
check_eq "swagger 2 from the graph" '"2.0" "float [batch, 64]" "pixels"' \
    "$(printf '%s' "$out" | jq -c '.swagger, .definitions.AzureRequest.properties.input_data.description, .definitions.InferenceRequest.properties.inputs.items.properties.name.enum[0]' | paste -sd' ')"
out=$(curl -s -H "Authorization: Bearer $KEY" "$INFERD_URL/endpoints/digits-endpoint/swagger.json?version=3")
check_eq "swagger 3 with both forms" '"3.0.1" 2 "probabilities"' \
    "$(printf '%s' "$out" | jq -c '.openapi, (.components.schemas.ServiceInput.oneOf | length), .components.schemas.InferenceResponse.properties.outputs.items.properties.name.enum[0]' | paste -sd' ')"

# an MLflow model folder whose flavor is onnx: served by the engine too
mkdir -p "$TEST_TMP/mlflow/model"
cp "$EX/model/mlp.onnx" "$TEST_TMP/mlflow/model/model.onnx"
printf 'flavors:\n  onnx:\n    onnx_version: 1.14.0\n    data: model.onnx\n  python_function:\n    loader_module: mlflow.onnx\n    data: model.onnx\n' \
    > "$TEST_TMP/mlflow/model/MLmodel"
printf 'name: mlflow-onnx\nendpoint_name: digits-endpoint\nmodel:\n  path: model/\n  type: mlflow_model\n' \
    > "$TEST_TMP/mlflow/deployment.yml"
out=$(inferd online-deployment create -f "$TEST_TMP/mlflow/deployment.yml" 2>&1)
check_eq "an MLflow folder with an onnx flavor deploys" "0" "$?"
check_match "on the onnx backend" '"backend": "onnx"' "$out"
out=$(post "$(cat "$EX/sample-request.json")" -H 'azureml-model-deployment: mlflow-onnx')
check "it answers as the plain folder does" model_matches "$EX/sample-request.json" "$(body_of "$out")"

# folders inferd refuses
mkdir -p "$TEST_TMP/two/model"
cp "$EX/model/mlp.onnx" "$TEST_TMP/two/model/a.onnx"
cp "$EX/model/mlp.onnx" "$TEST_TMP/two/model/b.onnx"
printf 'name: two-models\nendpoint_name: digits-endpoint\nmodel:\n  path: model/\n' > "$TEST_TMP/two/deployment.yml"
out=$(inferd online-deployment create -f "$TEST_TMP/two/deployment.yml" 2>&1)
check_eq "a folder with two .onnx files is refused" "1" "$?"
check_match "naming them" 'a\.onnx, b\.onnx' "$out"

mkdir -p "$TEST_TMP/resize/model"
cp "$REPO/tests/onnx/data/bad/unsupported_op/model.onnx" "$TEST_TMP/resize/model/resize.onnx"
printf 'name: resize\nendpoint_name: digits-endpoint\nmodel:\n  path: model/\n  type: custom_model\n' > "$TEST_TMP/resize/deployment.yml"
out=$(inferd online-deployment create -f "$TEST_TMP/resize/deployment.yml" 2>&1)
check_eq "a model with an unsupported operator (type: custom_model) fails the deployment" "1" "$?"
check_match "naming the operator and the node" "operator Resize is not supported" "$out"
check_match "and the node" "resize1" "$out"

out=$(post "$(cat "$EX/sample-request.json")")
check_eq "the live deployment still answers" "200" "$(status_of "$out")"

check_stop "server stops cleanly"
done_testing
