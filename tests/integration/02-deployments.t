#!/usr/bin/env bash
# Two deployments behind one endpoint: create, invoke, a measured 90/10
# split, pinning, traffic updates, keys, logs, and deletion rules.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
EX=$(copy_example)

check "create endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
out=$(inferd online-deployment create -f "$EX/blue-deployment.yml" --all-traffic 2>&1)
check_eq "create blue with all traffic: exit 0" "0" "$?"
check_match "blue succeeded" '"provisioning_state": "Succeeded"' "$out"
check_match "blue runs the native backend" '"backend": "native"' "$out"
check "create green" inferd online-deployment create -f "$EX/green-deployment.yml"
check_eq "green has no traffic yet" "100" \
    "$(inferd online-endpoint show -n diabetes-endpoint | jq -r .traffic.blue)"

KEY=$(key_of diabetes-endpoint)
out=$(score diabetes-endpoint "$KEY" -D "$TEST_TMP/h1")
check_eq "score answers 200" "200" "$(status_of "$out")"
check_match "score returns two predictions" '^\[[-0-9.e]+, ?[-0-9.e]+\]$' "$(body_of "$out")"
check_match "response names the deployment" 'azureml-model-deployment: blue' "$(tr -d '\r' < "$TEST_TMP/h1")"
check_match "response carries x-request-id" 'x-request-id: [0-9a-f-]{36}' "$(tr -d '\r' < "$TEST_TMP/h1")"
check_match "response carries x-ms-run-fn-exec-ms" 'x-ms-run-fn-exec-ms: [0-9.]+' "$(tr -d '\r' < "$TEST_TMP/h1")"

out=$(inferd online-endpoint invoke -n diabetes-endpoint --request-file "$EX/sample-request.json")
check_match "CLI invoke prints predictions" '^\[' "$out"

check "traffic 90/10" inferd online-endpoint update -n diabetes-endpoint --traffic "blue=90 green=10"

# 10,000 requests on one keep-alive connection; count who answered.
for _ in $(seq 1 10000); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$INFERD_URL/endpoints/diabetes-endpoint/score"
done > "$TEST_TMP/urls"
curl -s -K "$TEST_TMP/urls" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary @"$EX/sample-request.json" \
    -w '%{http_code} %header{azureml-model-deployment}\n' > "$TEST_TMP/split"
blue=$(grep -c '^200 blue$' "$TEST_TMP/split")
green=$(grep -c '^200 green$' "$TEST_TMP/split")
check_eq "10,000 requests all answered" "10000" "$((blue + green))"
check "blue share within 1 point of 90% ($blue)" test "$blue" -ge 8900 -a "$blue" -le 9100
check "green share within 1 point of 10% ($green)" test "$green" -ge 900 -a "$green" -le 1100

out=$(score diabetes-endpoint "$KEY" -D "$TEST_TMP/h2" -H 'azureml-model-deployment: green')
check_match "pin header routes to green" 'azureml-model-deployment: green' "$(tr -d '\r' < "$TEST_TMP/h2")"
b=$(body_of "$(score diabetes-endpoint "$KEY" -H 'azureml-model-deployment: blue')")
g=$(body_of "$(score diabetes-endpoint "$KEY" -H 'azureml-model-deployment: green')")
check_fails "blue and green models give different predictions" test "$b" = "$g"
out=$(score diabetes-endpoint "$KEY" -H 'azureml-model-deployment: purple')
check_eq "pinning an unknown deployment: 404" "404" "$(status_of "$out")"
check_match "and names it" "purple" "$(body_of "$out")"

check "traffic 0/100" inferd online-endpoint update -n diabetes-endpoint --traffic "blue=0 green=100"
out=$(score diabetes-endpoint "$KEY" -D "$TEST_TMP/h3")
check_match "all traffic now goes to green" 'azureml-model-deployment: green' "$(tr -d '\r' < "$TEST_TMP/h3")"
out=$(score diabetes-endpoint "$KEY" -H 'azureml-model-deployment: blue')
check_eq "a 0% deployment still answers when pinned" "200" "$(status_of "$out")"

# --- keys ---
out=$(score diabetes-endpoint "wrong-key")
check_eq "wrong key: 401" "401" "$(status_of "$out")"
out=$(curl -s -w '\n%{http_code}' -d '{}' "$INFERD_URL/endpoints/diabetes-endpoint/score")
check_eq "missing key: 401" "401" "$(status_of "$out")"
K2=$(inferd online-endpoint get-credentials -n diabetes-endpoint | jq -r .secondaryKey)
check_eq "secondary key works" "200" "$(status_of "$(score diabetes-endpoint "$K2")")"
check "regenerate primary key" inferd online-endpoint regenerate-keys -n diabetes-endpoint --key-type primary
check_eq "old primary key is refused" "401" "$(status_of "$(score diabetes-endpoint "$KEY")")"
NEW=$(key_of diabetes-endpoint)
check_eq "new primary key works" "200" "$(status_of "$(score diabetes-endpoint "$NEW")")"
KEY=$NEW

# --- traffic and deletion rules ---
out=$(inferd online-endpoint update -n diabetes-endpoint --traffic "blue=50 green=40" 2>&1)
check_eq "traffic not summing to 100 is refused" "1" "$?"
check_match "with a message about the sum" "100" "$out"
out=$(inferd online-endpoint update -n diabetes-endpoint --traffic "blue=50 nosuch=50" 2>&1)
check_eq "traffic naming an unknown deployment is refused" "1" "$?"
check_match "and names it" "nosuch" "$out"

out=$(inferd online-deployment delete -e diabetes-endpoint -n green 2>&1)
check_eq "deleting a deployment with traffic is refused" "1" "$?"
check_match "with a clear message" "traffic" "$out"

# --- deployment YAML errors change nothing ---
printf 'name: teal\nendpoint_name: diabetes-endpoint\nmodel:\n  path: model-1/model/\ncolour: teal\n' > "$EX/teal.yml"
out=$(inferd online-deployment create -f "$EX/teal.yml" 2>&1)
check_eq "deployment YAML with an unknown key: exit 1" "1" "$?"
check_match "names the key and the file" "teal.yml.*colour" "$out"
printf 'name: teal\nendpoint_name: diabetes-endpoint\nmodel:\n  path: no-such-dir/\ncode_configuration:\n  code: code/\n  scoring_script: score.so\n' > "$EX/teal.yml"
out=$(inferd online-deployment create -f "$EX/teal.yml" 2>&1)
check_eq "deployment YAML with a missing model folder: exit 1" "1" "$?"
check_match "names the folder" "no-such-dir" "$out"
check_eq "no deployment was created" "blue green" \
    "$(inferd online-deployment list -e diabetes-endpoint | jq -r '[.value[].name] | sort | join(" ")')"

# --- updating a deployment replaces its instances ---
out=$(inferd online-deployment update -e diabetes-endpoint -n green --set instance_count=2 2>&1)
check_eq "update green to 2 instances: exit 0" "0" "$?"
check_eq "green now runs 2 ready instances" "Ready Ready" \
    "$(inferd online-deployment show -e diabetes-endpoint -n green | jq -r '[.instances[].state] | join(" ")')"
check_eq "green's generation moved on" "2" \
    "$(inferd online-deployment show -e diabetes-endpoint -n green | jq -r .generation)"
check_eq "green still serves after the update" "200" \
    "$(status_of "$(score diabetes-endpoint "$KEY" -H 'azureml-model-deployment: green')")"

logs=$(inferd online-deployment get-logs -e diabetes-endpoint -n blue --lines 20)
check_match "get-logs shows the instance log" "worker" "$logs"

check_eq "show lists one ready instance" "Ready" \
    "$(inferd online-deployment show -e diabetes-endpoint -n blue | jq -r '.instances[0].state')"
check_eq "list shows both deployments" "blue green" \
    "$(inferd online-deployment list -e diabetes-endpoint | jq -r '[.value[].name] | sort | join(" ")')"

check "delete blue (0% traffic)" inferd online-deployment delete -e diabetes-endpoint -n blue
check_eq "blue left the traffic map" "null" \
    "$(inferd online-endpoint show -n diabetes-endpoint | jq -r .traffic.blue)"
check_eq "green still serves" "200" "$(status_of "$(score diabetes-endpoint "$KEY")")"

check "traffic 0 for green" inferd online-endpoint update -n diabetes-endpoint --traffic "green=0"
out=$(score diabetes-endpoint "$KEY")
check_eq "no positive weight: 404" "404" "$(status_of "$out")"
check_match "No valid deployments to route to" "No valid deployments to route to" "$(body_of "$out")"

check_stop "server stops cleanly"
done_testing
