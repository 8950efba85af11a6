#!/usr/bin/env bash
# Observability: GET /metrics (no auth) passes `promtool check metrics` and
# counts exactly what was sent (requests by code, histogram counts, bytes,
# instances, capacity); the access log has one documented line per scoring
# request carrying the response's x-request-id; a deleted endpoint's series
# go away.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
EX=$(copy_example)
EP=diabetes-endpoint
N=20 # scoring requests answered 200 (one of them with a client request id)
M=5  # refused with a wrong key

check "create endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
check "create blue with all traffic" inferd online-deployment create -f "$EX/blue-deployment.yml" --all-traffic
KEY=$(key_of $EP)
BODY_BYTES=$(wc -c < "$EX/sample-request.json")

# scores COUNT KEY: COUNT requests on one keep-alive connection; prints
# "status x-request-id" per response.
scores() {
    for _ in $(seq 1 "$1"); do
        printf 'url = "%s"\noutput = "/dev/null"\n' "$INFERD_URL/endpoints/$EP/score"
    done > "$TEST_TMP/urls"
    curl -s -K "$TEST_TMP/urls" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
        --data-binary @"$EX/sample-request.json" -w '%{http_code} %header{x-request-id}\n'
}
{
    scores $((N - 1)) "$KEY"
    curl -s -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -H 'x-ms-client-request-id: metrics-test-1' --data-binary @"$EX/sample-request.json" \
        -w '%{http_code} %header{x-request-id}\n' "$INFERD_URL/endpoints/$EP/score"
    scores $M "wrong-key"
} > "$TEST_TMP/responses"
check_eq "$N requests answered 200" "$N" "$(grep -c '^200 ' "$TEST_TMP/responses")"
check_eq "$M requests refused 401" "$M" "$(grep -c '^401 ' "$TEST_TMP/responses")"
check_eq "every response carries an x-request-id" "$((N + M))" \
    "$(grep -cE '^[0-9]{3} [0-9a-f-]{36}$' "$TEST_TMP/responses")"

# --- /metrics ---
# metric SERIES: the value of one sample, e.g. metric 'x{a="b"}'; empty if absent.
metric() { awk -v s="$1" '$1 == s { print $2 }' "$TEST_TMP/metrics"; }
fetch_metrics() {
    curl -s -D "$TEST_TMP/metrics.h" -o "$TEST_TMP/metrics" -w '%{http_code}' "$INFERD_URL/metrics"
}
L="endpoint=\"$EP\",deployment=\"blue\""
NONE="endpoint=\"$EP\",deployment=\"\""
# The last request may be recorded just after its response left: wait for it.
for _ in $(seq 1 50); do
    status=$(fetch_metrics)
    [ "$(metric "inferd_requests_total{$NONE,code=\"401\"}")" = "$M" ] && break
    sleep 0.1
done
check_eq "GET /metrics needs no credentials" "200" "$status"
check_match "served as the Prometheus text format" \
    '[Cc]ontent-[Tt]ype: text/plain; ?version=0\.0\.4' "$(tr -d '\r' < "$TEST_TMP/metrics.h")"
if command -v promtool > /dev/null; then
    check "promtool check metrics accepts the page" sh -c "promtool check metrics < '$TEST_TMP/metrics'"
else
    _tap 1 "promtool check metrics accepts the page" "promtool not found: install Debian package prometheus"
fi
check_eq "requests_total counts the 200s" "$N" "$(metric "inferd_requests_total{$L,code=\"200\"}")"
check_eq "the 401s are counted with deployment=\"\"" "$M" \
    "$(metric "inferd_requests_total{$NONE,code=\"401\"}")"
check_eq "request duration: one observation per 200" "$N" \
    "$(metric "inferd_request_duration_seconds_count{$L}")"
check_eq "its +Inf bucket equals its count" "$N" \
    "$(metric "inferd_request_duration_seconds_bucket{$L,le=\"+Inf\"}")"
check_eq "request duration: one observation per 401" "$M" \
    "$(metric "inferd_request_duration_seconds_count{$NONE}")"
check_eq "model duration: one observation per 200" "$N" \
    "$(metric "inferd_model_duration_seconds_count{$L}")"
check_eq "queue wait: one observation per 200" "$N" "$(metric "inferd_queue_wait_seconds_count{$L}")"
check_eq "no model time for refused requests" "" "$(metric "inferd_model_duration_seconds_count{$NONE}")"
buckets=$(grep "^inferd_request_duration_seconds_bucket{$L," "$TEST_TMP/metrics" | awk '{ print $2 }')
check_eq "20 buckets per histogram" "20" "$(printf '%s\n' "$buckets" | wc -l)"
check_eq "buckets are cumulative" "$buckets" "$(printf '%s\n' "$buckets" | sort -n)"
check_eq "request bytes counted" "$((N * BODY_BYTES))" "$(metric "inferd_request_bytes_total{$L}")"
check_match "response bytes counted" '^[1-9][0-9]*$' "$(metric "inferd_response_bytes_total{$L}")"
check_eq "nothing in flight" "0" "$(metric "inferd_requests_in_flight{$L}")"
check_eq "one ready instance" "1" "$(metric "inferd_instances{$L,state=\"ready\"}")"
check_eq "none not ready" "0" "$(metric "inferd_instances{$L,state=\"not_ready\"}")"
check_eq "capacity: 1 instance x 1 concurrent request" "1" \
    "$(metric "inferd_deployment_capacity{$L}")"
check_eq "build info" "1" "$(metric 'inferd_build_info{version="0.1.0"}')"
check_match "start time" '^[0-9]{10}$' "$(metric inferd_start_time_seconds)"
check_eq "nothing dropped" "0" "$(metric inferd_metrics_dropped_total)"

# --- access log ---
LOG="$INFERD_HOME/logs/access.log"
for _ in $(seq 1 50); do
    [ "$(cat "$LOG" 2> /dev/null | wc -l)" -ge $((N + M)) ] && break
    sleep 0.1
done
check_eq "one access log line per scoring request" "$((N + M))" "$(cat "$LOG" 2> /dev/null | wc -l)"
LINE='^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z method=[^ ]+ path=[^ ]+ endpoint=[^ ]+ deployment=[^ ]+ status=[0-9]{3} model_status=([0-9]{3}|-) request_bytes=[0-9]+ response_bytes=[0-9]+ total_ms=[0-9]+\.[0-9]{3} model_ms=[0-9]+\.[0-9]{3} queue_ms=[0-9]+\.[0-9]{3} request_id=[^ ]+ client_request_id=[^ ]+$'
check_eq "every line has the documented fields in order" "$((N + M))" "$(grep -cE "$LINE" "$LOG")"
OK=" method=POST path=/endpoints/$EP/score endpoint=$EP deployment=blue status=200 model_status=200 request_bytes=$BODY_BYTES "
check_eq "the 200s name the deployment and sizes" "$N" "$(grep -cF -- "$OK" "$LOG")"
REFUSED=" endpoint=$EP deployment=- status=401 model_status=- "
check_eq "the 401s have no deployment or model status" "$M" "$(grep -cF -- "$REFUSED" "$LOG")"
check_eq "the logged request ids are the responses' x-request-id" \
    "$(awk '{ print $2 }' "$TEST_TMP/responses" | sort)" \
    "$(sed -n 's/.* request_id=\([^ ]*\) .*/\1/p' "$LOG" | sort)"
check_eq "the client request id is logged" "1" "$(grep -c ' client_request_id=metrics-test-1$' "$LOG")"
check_eq "and is - when absent" "$((N + M - 1))" "$(grep -c ' client_request_id=-$' "$LOG")"
check_eq "GET /metrics is not a scoring request: not logged" "0" "$(grep -c 'path=/metrics' "$LOG")"

# --- a deleted endpoint leaves no series behind ---
check "delete the endpoint" inferd online-endpoint delete -n $EP
fetch_metrics > /dev/null
check_eq "its series are gone from /metrics" "" "$(grep -F "endpoint=\"$EP\"" "$TEST_TMP/metrics")"
check "and the page is still valid" sh -c "promtool check metrics < '$TEST_TMP/metrics'"

check_stop "server stops cleanly"
done_testing
