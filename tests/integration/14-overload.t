#!/usr/bin/env bash
# Overcapacity and deadlines: 429 when saturated (at once past 2x capacity,
# after max_queue_wait_ms otherwise) and success again after; 408 past
# request_timeout_ms; x-ms-client-request-id echoed.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
FX="$TEST_TMP/py"
cp -r "$REPO/tests/fixtures/pyscripts" "$FX"
cat > "$FX/slow.yml" <<'YML'
name: slow
endpoint_name: py-endpoint
model:
  path: model/model/
code_configuration:
  code: code/
  scoring_script: contract.py
request_settings:
  request_timeout_ms: 2000
  max_concurrent_requests_per_instance: 1
  max_queue_wait_ms: 300
instance_count: 1
YML
check "create endpoint" inferd online-endpoint create -f "$FX/endpoint.yml"
check "deploy a script with capacity 1" inferd online-deployment create -f "$FX/slow.yml" --all-traffic
KEY=$(key_of py-endpoint)
post() { curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $KEY" --data-binary "$1" \
    "$INFERD_URL/endpoints/py-endpoint/score"; }

# 6 requests at once on capacity 1: one runs, one waits (then times out in
# the queue), four are over 2 x capacity and refused at once.
pids=()
for i in 1 2 3 4 5 6; do post 'sleep:1000' > "$TEST_TMP/c.$i" & pids+=($!); done
wait "${pids[@]}"
codes=$(cat "$TEST_TMP"/c.* | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
check_eq "saturated: one served, five refused with 429" "200x1 429x5 " "$codes"
curl -s -o /dev/null -H "Authorization: Bearer $KEY" --data-binary 'sleep:1000' \
    "$INFERD_URL/endpoints/py-endpoint/score" & slow=$!
sleep 0.1
out=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $KEY" --data-binary 'x' \
    "$INFERD_URL/endpoints/py-endpoint/score")
wait $slow
check_match "a 429 carries Retry-After" "[Rr]etry-[Aa]fter: [0-9]+" "$out"
check_eq "after the burst, requests succeed again" "200" "$(post 'hello')"

out=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $KEY" --data-binary 'sleep:4000' \
    "$INFERD_URL/endpoints/py-endpoint/score")
check_eq "a request past request_timeout_ms: 408" "408" "$(status_of "$out")"
check_match "saying so" "request_timeout_ms \\(2000 ms\\)" "$(body_of "$out")"
check_eq "the instance is not left wedged" "200" "$(post 'after-timeout')"

curl -s -D "$TEST_TMP/h1" -o /dev/null -H "Authorization: Bearer $KEY" -H 'x-ms-client-request-id: my-req_42' \
    --data-binary 'x' "$INFERD_URL/endpoints/py-endpoint/score"
check_match "x-ms-client-request-id is echoed" "x-ms-client-request-id: my-req_42" "$(tr -d '\r' < "$TEST_TMP/h1")"
curl -s -D "$TEST_TMP/h2" -o /dev/null -H "Authorization: Bearer $KEY" -H 'x-ms-client-request-id: bad id!' \
    --data-binary 'x' "$INFERD_URL/endpoints/py-endpoint/score"
check_eq "an invalid one is not" "" "$(tr -d '\r' < "$TEST_TMP/h2" | grep -i '^x-ms-client-request-id' || true)"

check_stop "server stops cleanly"
done_testing
