#!/usr/bin/env bash
# Mirror traffic: a share of live requests shadowed to another deployment,
# the rules on it, and the report that compares the two.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
EX=$(copy_example)
check "create endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
check "create blue with all traffic" inferd online-deployment create -f "$EX/blue-deployment.yml" --all-traffic
check "create green" inferd online-deployment create -f "$EX/green-deployment.yml"
KEY=$(key_of diabetes-endpoint)

out=$(inferd online-endpoint update -n diabetes-endpoint --mirror-traffic "green=60" 2>&1)
check_eq "mirroring more than 50% is refused" "1" "$?"
check_match "naming the rule" "50" "$out"
out=$(inferd online-endpoint update -n diabetes-endpoint --mirror-traffic "blue=10" 2>&1)
check_eq "mirroring to a deployment with live traffic is refused" "1" "$?"
check_match "naming it" "blue" "$out"
out=$(api PUT /api/v1/online-endpoints/diabetes-endpoint -H 'Content-Type: application/json' \
    -d '{"traffic": {"blue": 100, "green": 0}, "mirror_traffic": {"green": 10, "blue": 10}}')
check_eq "two mirror deployments are refused: 400" "400" "$(status_of "$out")"
check "mirror 20% to green" inferd online-endpoint update -n diabetes-endpoint --mirror-traffic "green=20"
check_eq "the endpoint shows it" "20" "$(inferd online-endpoint show -n diabetes-endpoint | jq -r .mirror_traffic.green)"

for _ in $(seq 1 100); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$INFERD_URL/endpoints/diabetes-endpoint/score"
done > "$TEST_TMP/urls"
curl -s -K "$TEST_TMP/urls" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary @"$EX/sample-request.json" -w '%{http_code} %header{azureml-model-deployment}\n' \
    > "$TEST_TMP/live"
check_eq "all 100 live answers come from blue" "100" "$(grep -c '^200 blue$' "$TEST_TMP/live")"
report() { api GET /api/v1/online-endpoints/diabetes-endpoint/mirror-report | sed '$d'; }
for _ in $(seq 1 50); do
    [ "$(report | jq '.mirrored + .skipped')" = 20 ] && break
    sleep 0.05
done
r=$(report)
check_eq "exactly 20 of 100 requests were mirrored" "20" "$(printf '%s' "$r" | jq '.mirrored + .skipped')"
check_eq "the report counts the live requests" "100" "$(printf '%s' "$r" | jq .live_requests)"
check_eq "it names the mirror deployment" "green" "$(printf '%s' "$r" | jq -r .deployment)"
check_eq "statuses agree (both 200)" "1" "$(printf '%s' "$r" | jq '.status_agreement')"
check_eq "bodies differ (another model)" "0" "$(printf '%s' "$r" | jq '.body_agreement')"
check_eq "no mirror errors" "0" "$(printf '%s' "$r" | jq .mirror_errors)"
check_match "live latency percentiles" '^[0-9.]+ [0-9.]+$' "$(printf '%s' "$r" | jq -r '"\(.latency_ms.live.p50) \(.latency_ms.live.p99)"')"
check_match "mirror latency percentiles" '^[0-9.]+ [0-9.]+$' "$(printf '%s' "$r" | jq -r '"\(.latency_ms.mirror.p50) \(.latency_ms.mirror.p99)"')"

for _ in $(seq 1 10); do score diabetes-endpoint "$KEY" -H 'azureml-model-deployment: blue' >/dev/null; done
sleep 0.2
check_eq "pinned requests are not mirrored" "20" "$(report | jq '.mirrored + .skipped')"

out=$(inferd online-endpoint mirror-report -n diabetes-endpoint)
check_eq "the CLI shows the same report" "20" "$(printf '%s' "$out" | jq '.mirrored + .skipped')"

check "stop mirroring" inferd online-endpoint update -n diabetes-endpoint --mirror-traffic "green=0"
for _ in $(seq 1 10); do score diabetes-endpoint "$KEY" >/dev/null; done
sleep 0.2
check_eq "nothing is mirrored at 0%" "20" "$(report | jq '.mirrored + .skipped')"

check_stop "server stops cleanly"
done_testing
