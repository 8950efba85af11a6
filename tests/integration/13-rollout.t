#!/usr/bin/env bash
# Safe rollout under steady load: updating a deployment (new model, more
# instances) and shifting traffic 100/0 -> 50/50 -> 0/100 fails no request.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
EX=$(copy_example)
check "create endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
# room for the 3 concurrent clients below (the default, 1 per instance, would
# rightly answer 429 past 2 requests in flight)
sed -i 's/max_concurrent_requests_per_instance: 1/max_concurrent_requests_per_instance: 4/' \
    "$EX/blue-deployment.yml" "$EX/green-deployment.yml"
check "create blue with all traffic" inferd online-deployment create -f "$EX/blue-deployment.yml" --all-traffic
check "create green" inferd online-deployment create -f "$EX/green-deployment.yml"
KEY=$(key_of diabetes-endpoint)

# Steady load: 3 clients on keep-alive connections until told to stop.
load() { # N
    while [ ! -e "$TEST_TMP/stop" ]; do
        curl -s -K "$TEST_TMP/urls" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
            --data-binary @"$EX/sample-request.json" -w '%{http_code} %header{azureml-model-deployment}\n'
    done > "$TEST_TMP/load.$1"
}
for _ in $(seq 1 200); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$INFERD_URL/endpoints/diabetes-endpoint/score"
done > "$TEST_TMP/urls"
load 1 & L1=$!
load 2 & L2=$!
load 3 & L3=$!
sleep 0.5

# update blue: another model version and two instances, under load
sed -i 's|model-1/model/|model-2/model/|; s/instance_count: 1/instance_count: 2/' "$EX/blue-deployment.yml"
check "update blue (new model, 2 instances) under load" inferd online-deployment update -f "$EX/blue-deployment.yml"
check_eq "blue now runs 2 instances" "2" \
    "$(inferd online-deployment show -e diabetes-endpoint -n blue | jq '[.instances[] | select(.state == "Ready")] | length')"
sleep 0.3
check "shift traffic to 50/50" inferd online-endpoint update -n diabetes-endpoint --traffic "blue=50 green=50"
sleep 0.3
check "shift traffic to 0/100" inferd online-endpoint update -n diabetes-endpoint --traffic "blue=0 green=100"
sleep 0.3
touch "$TEST_TMP/stop"
wait $L1 $L2 $L3

total=$(cat "$TEST_TMP"/load.* | wc -l)
check "the load ran throughout ($total requests)" test "$total" -gt 500
check_eq "no request failed" "" "$(cat "$TEST_TMP"/load.* | grep -v '^200 ' | sort | uniq -c)"
check_match "green served after the shift" "200 green" "$(tail -n 5 "$TEST_TMP/load.1")"
check_match "blue served before" "200 blue" "$(head -n 5 "$TEST_TMP/load.1")"

# a failed update leaves the serving instances in place
printf 'name: blue\nendpoint_name: diabetes-endpoint\nmodel:\n  path: model-2/model/\ncode_configuration:\n  code: nowhere/\n  scoring_script: score.so\n' > "$EX/bad-blue.yml"
mkdir -p "$EX/nowhere" && printf 'not a library' > "$EX/nowhere/score.so"
out=$(inferd online-deployment update -f "$EX/bad-blue.yml" 2>&1)
check_eq "an update whose instances cannot start fails" "1" "$?"
check_eq "blue is Failed, with the reason" "Failed" \
    "$(inferd online-deployment show -e diabetes-endpoint -n blue | jq -r .provisioning_state)"
out=$(score diabetes-endpoint "$KEY" -H 'azureml-model-deployment: blue')
check_eq "and the previous instances still serve" "200" "$(status_of "$out")"

# a restart brings back what was serving, not the failed update
check_stop "server stops cleanly"
start_server || exit 1
ready=""
for _ in $(seq 1 100); do
    [ "$(inferd online-deployment show -e diabetes-endpoint -n blue | jq '[.instances[] | select(.state == "Ready")] | length')" = 2 ] && { ready=1; break; }
    sleep 0.1
done
check_eq "after a restart blue's last good generation runs again (2 instances)" "1" "$ready"
out=$(score diabetes-endpoint "$KEY" -H 'azureml-model-deployment: blue')
check_eq "and serves" "200" "$(status_of "$out")"
show=$(inferd online-deployment show -e diabetes-endpoint -n blue)
check_eq "while the deployment still reports the failed update" "Failed" "$(printf '%s' "$show" | jq -r .provisioning_state)"
check_match "saying what serves" "the last that succeeded\\) is serving" "$(printf '%s' "$show" | jq -r .reason)"

check_stop "server stops cleanly again"
done_testing
