#!/usr/bin/env bash
# Python scoring scripts through the real server: the Azure contract (string
# body, GET query, request_headers, decorators, @rawhttp, AMLResponse), its
# error rules (exception, timeout, bad UTF-8, 415, 400), init failures,
# missing packages, crashing scripts, stdout prefixing and swagger.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
FX="$TEST_TMP/py"
cp -r "$REPO/tests/fixtures/pyscripts" "$FX"
EX="$TEST_TMP/sk"
cp -r "$REPO/examples/sklearn-diabetes" "$EX"
PY=/usr/bin/python3.11

check "create endpoint" inferd online-endpoint create -f "$FX/endpoint.yml"
out=$(inferd online-deployment create -f "$FX/contract.yml" --all-traffic 2>&1)
check_eq "deploy a Python script: exit 0" "0" "$?"
check_match "it runs the python backend" '"backend": "python"' "$out"
KEY=$(key_of py-endpoint)
post() { # BODY [curl args]
    local body=$1; shift
    curl -s -w '\n%{http_code}' -H "Authorization: Bearer $KEY" --data-binary "$body" \
        -D "$TEST_TMP/last-headers" "$INFERD_URL/endpoints/py-endpoint/score" "$@"
}
# The model's own status, which the gateway reports in a header with its 424.
model_status() { tr -d '\r' < "$TEST_TMP/last-headers" | sed -n 's/^ms-azureml-model-error-statuscode: //p'; }

out=$(post 'hello')
check_eq "run() gets the body: 200" "200" "$(status_of "$out")"
check_eq "as a str" '{"type": "str", "data": "hello"}' "$(body_of "$out" | jq -c '.' | sed 's/,/, /; s/:/: /g')"
out=$(post 'hello' -D "$TEST_TMP/h")
check_match "x-ms-run-fn-exec-ms is set" 'x-ms-run-fn-exec-ms: [0-9.]+' "$(tr -d '\r' < "$TEST_TMP/h")"
out=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $KEY" \
    "$INFERD_URL/endpoints/py-endpoint/score?a=1&b=hello")
check_eq "GET query parameters arrive as a JSON string" '{"a":1,"b":"hello"}' \
    "$(body_of "$out" | jq -r .data | jq -c .)"
out=$(post 'headers' -H 'X-Custom-Thing: 42')
check_eq "request_headers receives the headers" "42" "$(body_of "$out" | jq -r '."x-custom-thing"')"

out=$(post 'raise')
check_eq "an exception in run(): 424 (a model error)" "424" "$(status_of "$out")"
check_eq "whose model status is 500" "500" "$(model_status)"
check_eq "with Azure's message" \
    '{"message":"An unexpected error occurred in scoring script. Check the logs for more info."}' \
    "$(body_of "$out" | jq -c .)"
out=$(post $'\xff\xfe bad')
check_eq "a body that is not UTF-8: 424" "424" "$(status_of "$out")"
check_eq "whose model status is 400" "400" "$(model_status)"

out=$(post 'sleep:3000')
check_eq "run() past request_timeout_ms: 408" "408" "$(status_of "$out")"
check_match "with a message naming the timeout" "request_timeout_ms \\(1000 ms\\)" "$(body_of "$out")"
check_eq "the instance serves again after a timeout" "200" "$(status_of "$(post 'after')")"

out=$(post 'exit')
check_eq "a script that kills its process: 424" "424" "$(status_of "$out")"
check_eq "whose model status is 500" "500" "$(model_status)"
check_eq "the instance serves again after the crash" "200" "$(status_of "$(post 'again')")"

# two slow requests in parallel on max_concurrent_requests_per_instance 2
start=$(date +%s%N)
post 'sleep:600' > "$TEST_TMP/p1" & p1=$!
post 'sleep:600' > "$TEST_TMP/p2" & p2=$!
wait $p1 $p2
ms=$((($(date +%s%N) - start) / 1000000))
check_eq "two concurrent slow requests both succeed" "200 200" "$(status_of "$(cat "$TEST_TMP/p1")") $(status_of "$(cat "$TEST_TMP/p2")")"
check "and run side by side in two processes (${ms} ms)" test "$ms" -lt 1150

post 'print' > /dev/null
sleep 0.2
logs=$(inferd online-deployment get-logs -e py-endpoint -n contract --lines 200)
check_match "script stdout reaches the instance log" "hello from run" "$logs"
check_match "prefixed with the request id" "[0-9a-f-]{36}.{0,3}hello from run" "$logs"
check_match "init() output is logged too" "contract.py init done" "$logs"

# --- decorated run (inference_schema) ---
check "deploy the decorated script" inferd online-deployment create -f "$FX/schema.yml"
spost() { curl -s -w '\n%{http_code}' -D "$TEST_TMP/last-headers" -H "Authorization: Bearer $KEY" -H 'azureml-model-deployment: schema' "$@" "$INFERD_URL/endpoints/py-endpoint/score"; }
out=$(spost -H 'Content-Type: application/json' -d '{"data": [[1, 2, 3], [4, 5, 6]], "scale": 2}')
check_eq "decorated run gets typed arguments" "[12.0,30.0]" "$(body_of "$out" | tr -d ' ')"
out=$(spost -H 'Content-Type: application/json' -d '{"data": [[1, 1, 1]]}')
check_eq "a parameter with a default may be left out" "[3.0]" "$(body_of "$out" | tr -d ' ')"
out=$(spost -H 'Content-Type: text/plain' -d '{"data": [[1, 2, 3]]}')
check_eq "decorated run without application/json: model status 415" "424 415" "$(status_of "$out") $(model_status)"
out=$(spost -H 'Content-Type: application/json' -d '{"scale": 2}')
check_eq "a missing parameter: model status 400" "424 400" "$(status_of "$out") $(model_status)"
check_match "naming it" "data" "$(body_of "$out")"
out=$(curl -s -H "Authorization: Bearer $KEY" -H 'azureml-model-deployment: schema' \
    "$INFERD_URL/endpoints/py-endpoint/swagger.json")
check_eq "swagger.json is Swagger 2.0 by default" "2.0" "$(printf '%s' "$out" | jq -r .swagger)"
check_match "built from the schema decorators" "scale" "$out"
out=$(curl -s -H "Authorization: Bearer $KEY" -H 'azureml-model-deployment: schema' \
    "$INFERD_URL/endpoints/py-endpoint/swagger.json?version=3")
check_match "version=3 gives OpenAPI 3" '^3\.' "$(printf '%s' "$out" | jq -r .openapi)"
out=$(curl -s -w '\n%{http_code}' "$INFERD_URL/endpoints/py-endpoint/swagger.json")
check_eq "swagger.json needs the key too" "401" "$(status_of "$out")"

# --- @rawhttp and AMLResponse ---
check "deploy the @rawhttp script" inferd online-deployment create -f "$FX/raw.yml"
rpost() { curl -s -w '\n%{http_code}' -D "$TEST_TMP/last-headers" -H "Authorization: Bearer $KEY" -H 'azureml-model-deployment: raw' "$@"; }
out=$(rpost -d 'teapot' "$INFERD_URL/endpoints/py-endpoint/score")
check_eq "AMLResponse's status reaches the client as the model status of a 424" "424 418" \
    "$(status_of "$out") $(model_status)"
check_match "and its reason phrase" '.' "$(tr -d '\r' < "$TEST_TMP/last-headers" | sed -n 's/^ms-azureml-model-error-reason: //p')"
check_eq "with its body" "short and stout" "$(body_of "$out")"
out=$(rpost -d 'abcd' "$INFERD_URL/endpoints/py-endpoint/score")
check_eq "AMLResponse 201" "201" "$(status_of "$out")"
check_eq "run() got the raw request" '{"method":"POST","len":4}' "$(body_of "$out" | jq -c .)"
out=$(rpost "$INFERD_URL/endpoints/py-endpoint/score?x=1")
check_eq "a raw GET sees the query" '{"args":{"x":"1"}}' "$(body_of "$out" | jq -c .)"

# --- failures at start ---
out=$(inferd online-deployment create -f "$FX/broken.yml" 2>&1)
check_eq "init() raising fails the deployment" "1" "$?"
check_match "the reason has the traceback's last lines" "init failed on purpose" "$out"
out=$(inferd online-deployment create -f "$FX/needs.yml" 2>&1)
check_eq "a conda_file package that is missing fails the deployment" "1" "$?"
check_match "the reason lists the missing packages" "definitely-not-a-real-package.*another_missing_pkg|another_missing_pkg.*definitely-not-a-real-package" "$out"

# --- the scikit-learn example, unchanged Azure files ---
check "create the sklearn endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
out=$(inferd online-deployment create -f "$EX/blue-deployment.yml" --all-traffic 2>&1)
check_eq "deploy Azure's classic score.py with a conda file" "0" "$?"
SK=$(key_of sklearn-endpoint)
got=$(curl -s -H "Authorization: Bearer $SK" -H 'Content-Type: application/json' \
    --data-binary @"$EX/sample-request.json" "$INFERD_URL/endpoints/sklearn-endpoint/score")
want=$(cd "$EX" && $PY -c '
import json, joblib, numpy
m = joblib.load("model-1/model/sklearn_regression_model.pkl")
print(json.dumps(m.predict(numpy.array(json.load(open("sample-request.json"))["data"])).tolist()))')
check_eq "predictions equal scikit-learn's own" "$(printf '%s' "$want" | jq -c '[.[] | . * 1000 | round]')" \
    "$(printf '%s' "$got" | jq -c '[.[] | . * 1000 | round]')"

check_stop "server stops cleanly"
done_testing
