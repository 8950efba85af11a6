#!/usr/bin/env bash
# Liveness and readiness probes: a native model that hangs (its instance's
# event loop stops answering /health/live) is killed by the liveness probe
# and restarted; start-up stays fast whatever the probes' initial delay;
# probes do not run during a slow start; the deployment's event list tells
# what happened.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
cp -r "$REPO/tests/fixtures/crashy" "$TEST_TMP/crashy"
gcc -std=c11 -O1 -fPIC -shared -I"$REPO/include" -o "$TEST_TMP/crashy/code/crashy.so" \
    "$TEST_TMP/crashy/code/crashy.c" || echo "Bail out! cannot build the crashy fixture"

# deployment_yml NAME MODEL_DIR LIVENESS READINESS: a one-instance crashy
# deployment with the given probe mappings (YAML flow style). The request
# timeout is long so that only the liveness probe can recycle a hung instance.
deployment_yml() {
    cat > "$TEST_TMP/$1.yml" <<EOF
name: $1
endpoint_name: crashy-endpoint
model:
  path: $2
code_configuration:
  code: $TEST_TMP/crashy/code/
  scoring_script: crashy.so
instance_count: 1
request_settings:
  request_timeout_ms: 60000
liveness_probe: $3
readiness_probe: $4
EOF
    echo "$TEST_TMP/$1.yml"
}

show() { inferd online-deployment show -e crashy-endpoint -n "$1"; }
reasons() { show "$1" | jq -r '[.events[].reason] | join(" ")'; }

check "create endpoint" inferd online-endpoint create -f "$TEST_TMP/crashy/endpoint.yml"
FAST='{initial_delay: 1, period: 1, timeout: 1, failure_threshold: 2}'
check "create a deployment with 1 s probes" inferd online-deployment create --all-traffic \
    -f "$(deployment_yml probed "$TEST_TMP/crashy/model/" "$FAST" "$FAST")"
KEY=$(key_of crashy-endpoint)
post() { curl -s -w '\n%{http_code}' -H "Authorization: Bearer $KEY" --data-binary "$1" \
    "$INFERD_URL/endpoints/crashy-endpoint/score" "${@:2}"; }
check_eq "echo works" "hello" "$(body_of "$(post hello)")"

st=$(show probed)
check_eq "the instance is Ready" "Ready" "$(printf '%s' "$st" | jq -r '.instances[0].state')"
check_eq "no probe failures yet" '{"liveness":0,"readiness":0}' \
    "$(printf '%s' "$st" | jq -c '.instances[0].probe_failures')"
check_eq "events so far, oldest first" "InstanceStarted InstanceReady DeploymentSucceeded" \
    "$(printf '%s' "$st" | jq -r '[.events[].reason] | join(" ")')"
check_match "events have an ISO 8601 time, a type and a message naming the generation" \
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z Normal generation 1: instance 0 started' \
    "$(printf '%s' "$st" | jq -r '.events[0] | "\(.time) \(.type) \(.message)"')"

# Healthy probes every second must not disturb a healthy instance.
sleep 3
st=$(show probed)
check_eq "healthy probes restart nothing" "0 Ready" \
    "$(printf '%s' "$st" | jq -r '"\(.instances[0].restarts) \(.instances[0].state)"')"
check_eq "and fail nothing" '{"liveness":0,"readiness":0}' \
    "$(printf '%s' "$st" | jq -c '.instances[0].probe_failures')"
check_eq "requests keep succeeding" "200" "$(status_of "$(post still-here)")"

# --- a hung model: liveness kills the instance, the supervisor restarts it ---
pid=$(show probed | jq -r '.instances[0].pid')
hang_start=$(date +%s%N)
post hang --max-time 1 >/dev/null &
hang_client=$!
restarted=""
for _ in $(seq 1 100); do
    st=$(show probed)
    if [ "$(printf '%s' "$st" | jq -r '.instances[0].state')" = Ready ] &&
       [ "$(printf '%s' "$st" | jq -r '.instances[0].pid')" != "$pid" ]; then restarted=1; break; fi
    sleep 0.1
done
elapsed_ms=$(( ($(date +%s%N) - hang_start) / 1000000 ))
check_eq "the hung instance is killed and restarted" "1" "$restarted"
check "within 8 s (took ${elapsed_ms} ms)" test "$elapsed_ms" -lt 8000
check_eq "its restart is counted" "1" "$(printf '%s' "$st" | jq -r '.instances[0].restarts')"
check_eq "its last exit names the liveness probe" "killed by signal 9 (KILL): liveness probe failed" \
    "$(printf '%s' "$st" | jq -r '.instances[0].last_exit')"
check_eq "two liveness failures are counted" "2" \
    "$(printf '%s' "$st" | jq -r '.instances[0].probe_failures.liveness')"
check_eq "the old process is gone" "" "$(ps -o pid= -p "$pid" || true)"
check_match "events: probe failures, exit, restart, ready again" \
    'LivenessProbeFailed .*LivenessProbeFailed .*InstanceExited InstanceRestarted InstanceReady$' \
    "$(printf '%s' "$st" | jq -r '[.events[].reason] | join(" ")')"
check_match "the liveness event says what failed" \
    'instance 0 \(pid [0-9]+\): liveness probe failed: no answer within 1000 ms' \
    "$(printf '%s' "$st" | jq -r '[.events[] | select(.reason == "LivenessProbeFailed")][0].message')"
check_eq "liveness failures and the exit are warnings" "Warning Warning Warning" \
    "$(printf '%s' "$st" | jq -r '[.events[] | select(.reason | test("Liveness|Exited")) | .type] | join(" ")')"
check_match "the exit event says it restarts" 'liveness probe failed; restarting in 0.5 s' \
    "$(printf '%s' "$st" | jq -r '.events[] | select(.reason == "InstanceExited") | .message')"
wait "$hang_client"
fails=0
for i in $(seq 1 20); do [ "$(status_of "$(post "r$i")")" = 200 ] || fails=$((fails + 1)); done
check_eq "requests succeed again" "0" "$fails"

# --- start-up does not wait for the probes' initial delay ---
SLOWPROBE='{initial_delay: 60, period: 60, timeout: 2, failure_threshold: 3}'
t0=$(date +%s%N)
check "a deployment with a 60 s initial delay" inferd online-deployment create \
    -f "$(deployment_yml patient "$TEST_TMP/crashy/model/" "$SLOWPROBE" "$SLOWPROBE")"
elapsed_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "is ready in well under 60 s (took ${elapsed_ms} ms)" test "$elapsed_ms" -lt 20000
check_eq "and Succeeded" "Succeeded" "$(show patient | jq -r .provisioning_state)"

# --- a slow start is not a liveness failure: probes begin once ready ---
mkdir -p "$TEST_TMP/slow"
cp -r "$TEST_TMP/crashy/model" "$TEST_TMP/slow/model"
echo 3 > "$TEST_TMP/slow/model/SLOW_INIT"
STRICT='{initial_delay: 0, period: 1, timeout: 1, failure_threshold: 1}'
check "a deployment whose init takes 3 s, with a 1-failure liveness probe" \
    inferd online-deployment create -f "$(deployment_yml slow "$TEST_TMP/slow/model/" "$STRICT" "$FAST")"
sleep 2
st=$(show slow)
check_eq "it is Ready and was never restarted" "Ready 0" \
    "$(printf '%s' "$st" | jq -r '"\(.instances[0].state) \(.instances[0].restarts)"')"
check_eq "no probe failed" '{"liveness":0,"readiness":0}' \
    "$(printf '%s' "$st" | jq -c '.instances[0].probe_failures')"
check_eq "no warning in its events" "" \
    "$(printf '%s' "$st" | jq -r '.events[] | select(.type == "Warning") | .message')"

# --- an update: the new generation takes over, the old one drains ---
check "update the probed deployment" \
    inferd online-deployment update -e crashy-endpoint -n probed --set instance_count=1 \
    --set environment_variables.GENERATION=2
drained=""
for _ in $(seq 1 100); do
    reasons probed | grep -q 'Drained' && { drained=1; break; }
    sleep 0.1
done
check_eq "the old instances' drain is an event" "1" "$drained"
st=$(show probed)
check_match "generation 2 started and succeeded after generation 1" \
    'generation 2: instance 0 started.*generation 2: .*instance\(s\) ready and serving; the previous instances drain and stop.*generation 1: instances drained and stopped' \
    "$(printf '%s' "$st" | jq -r '[.events[].message] | join(" | ")')"
check_eq "the update did not restart anything" "0" "$(printf '%s' "$st" | jq -r '.instances[0].restarts')"

# --- a failed update: the event says so and the old generation keeps serving ---
touch "$TEST_TMP/crashy/model/FAIL_INIT"
out=$(inferd online-deployment update \
    -f "$(deployment_yml patient "$TEST_TMP/crashy/model/" "$SLOWPROBE" "$SLOWPROBE")" 2>&1)
rm -f "$TEST_TMP/crashy/model/FAIL_INIT"
st=$(show patient)
check_match "a failed update is a DeploymentFailed warning naming the cause" \
    'Warning DeploymentFailed generation 2: start-up failed: instance 0 exited with status 3 during start-up; the previous instances keep serving' \
    "$(printf '%s' "$st" | jq -r '.events[] | "\(.type) \(.reason) \(.message)"')"
check_eq "the old instance still serves" "Ready" "$(printf '%s' "$st" | jq -r '.instances[0].state')"

check_stop "server stops cleanly"
done_testing
