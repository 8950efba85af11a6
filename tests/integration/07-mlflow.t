#!/usr/bin/env bash
# No-code MLflow deployment: Azure's YAML with `type: mlflow_model` and no
# scoring script, every input format, signature validation and swagger.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
EX="$TEST_TMP/iris"
cp -r "$REPO/examples/mlflow-iris" "$EX"

check "create endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
out=$(inferd online-deployment create -f "$EX/deployment.yml" --all-traffic 2>&1)
check_eq "deploy an MLflow model without a script: exit 0" "0" "$?"
check_match "it runs the mlflow backend" '"backend": "mlflow"' "$out"
KEY=$(key_of iris-endpoint)
post() { curl -s -w '\n%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -D "$TEST_TMP/last-headers" --data-binary "$1" "$INFERD_URL/endpoints/iris-endpoint/score"; }
# A 400 from the model reaches the client as 424 with the model's status in a header.
model_400() { [ "$(status_of "$1")" = 424 ] &&
    tr -d '\r' < "$TEST_TMP/last-headers" | grep -q '^ms-azureml-model-error-statuscode: 400$'; }
rows='[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]'
cols='["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]'

out=$(post "$(cat "$EX/sample-request.json")")
check_eq "the sample request: 200" "200" "$(status_of "$out")"
check_match "a list of predictions" '^\[' "$(body_of "$out")"
out=$(post "{\"input_data\": {\"columns\": $cols, \"index\": [0, 1], \"data\": $rows}}")
check_eq "Azure split input_data predicts setosa and virginica" "[0,2]" "$(body_of "$out" | jq -c .)"
out=$(post "{\"input_data\": $rows}")
check_eq "Azure input_data as rows" "[0,2]" "$(body_of "$out" | jq -c .)"
out=$(post "{\"dataframe_split\": {\"columns\": $cols, \"data\": $rows}}")
check_eq "MLflow dataframe_split" "[0,2]" "$(body_of "$out" | jq -c .)"
recs=$(jq -cn --argjson c "$cols" --argjson r "$rows" '[$r[] as $row | [$c, $row] | transpose | map({(.[0]): .[1]}) | add]')
out=$(post "{\"dataframe_records\": $recs}")
check_eq "MLflow dataframe_records" "[0,2]" "$(body_of "$out" | jq -c .)"
out=$(post "{\"instances\": $recs}")
check_eq "MLflow instances" "[0,2]" "$(body_of "$out" | jq -c .)"

out=$(post "{\"input_data\": {\"columns\": [\"sepal length (cm)\"], \"data\": [[5.1]]}}")
check "a missing column: model status 400" model_400 "$out"
check_match "naming it" "petal" "$(body_of "$out")"
out=$(post "{\"input_data\": {\"columns\": $cols, \"data\": [[\"tall\", 3.5, 1.4, 0.2]]}}")
check "a value of the wrong type: model status 400" model_400 "$out"
check_match "naming the column" "sepal length" "$(body_of "$out")"
out=$(post '{"rows": []}')
check "an unknown input format: model status 400" model_400 "$out"
check_match "listing the accepted ones" "input_data" "$(body_of "$out")"
out=$(post 'not json')
check "not JSON: model status 400" model_400 "$out"

out=$(curl -s -H "Authorization: Bearer $KEY" "$INFERD_URL/endpoints/iris-endpoint/swagger.json")
check_eq "swagger from the signature" "2.0" "$(printf '%s' "$out" | jq -r .swagger)"
check_match "names the model's columns" "petal width" "$out"

# a flavor inferd cannot load yet
mkdir -p "$TEST_TMP/tf/model"
printf 'flavors:\n  tensorflow:\n    saved_model_dir: tfmodel\n' > "$TEST_TMP/tf/model/MLmodel"
printf 'name: tf-model\nendpoint_name: iris-endpoint\nmodel:\n  path: model/\n  type: mlflow_model\n' > "$TEST_TMP/tf/deployment.yml"
out=$(inferd online-deployment create -f "$TEST_TMP/tf/deployment.yml" 2>&1)
check_eq "an MLflow flavor inferd cannot load fails the deployment" "1" "$?"
check_match "naming the flavor" "tensorflow" "$out"

check_stop "server stops cleanly"
done_testing
