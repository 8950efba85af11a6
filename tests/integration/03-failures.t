#!/usr/bin/env bash
# Instances that crash, exit or fail to start; server restarts that must
# restore every endpoint, deployment and key.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
EX=$(copy_example)
cp -r "$REPO/tests/fixtures/crashy" "$TEST_TMP/crashy"
gcc -std=c11 -O1 -fPIC -shared -I"$REPO/include" -o "$TEST_TMP/crashy/code/crashy.so" \
    "$TEST_TMP/crashy/code/crashy.c" || echo "Bail out! cannot build the crashy fixture"

check "create endpoint" inferd online-endpoint create -f "$TEST_TMP/crashy/endpoint.yml"
check "create a 2-instance deployment" inferd online-deployment create -f "$TEST_TMP/crashy/deployment.yml" --all-traffic
KEY=$(key_of crashy-endpoint)
post() { curl -s -w '\n%{http_code}' -H "Authorization: Bearer $KEY" --data-binary "$1" \
    "$INFERD_URL/endpoints/crashy-endpoint/score"; }
check_eq "echo works" "hello" "$(body_of "$(post hello)")"

out=$(post crash)
check_eq "an instance dying mid-request gives 502" "502" "$(status_of "$out")"
check_match "with a message naming the deployment" "deployment 'crashy'" "$(body_of "$out")"
check_eq "the other instance keeps serving" "200" "$(status_of "$(post again)")"

# wait for the restart
restarted=""
for _ in $(seq 1 100); do
    st=$(inferd online-deployment show -e crashy-endpoint -n crashy)
    if [ "$(printf '%s' "$st" | jq '[.instances[] | select(.state == "Ready")] | length')" = 2 ] &&
       [ "$(printf '%s' "$st" | jq '[.instances[].restarts] | add')" -ge 1 ]; then restarted=1; break; fi
    sleep 0.1
done
check_eq "the crashed instance is restarted and ready again" "1" "$restarted"
check_match "its last exit is recorded" "signal 6" "$(printf '%s' "$st" | jq -r '.instances[].last_exit')"

# kill -9 an instance from outside
pid=$(inferd online-deployment show -e crashy-endpoint -n crashy | jq -r '.instances[0].pid')
kill -9 "$pid"
ok=""
for _ in $(seq 1 100); do
    st=$(inferd online-deployment show -e crashy-endpoint -n crashy)
    newpid=$(printf '%s' "$st" | jq -r '.instances[0].pid')
    if [ "$(printf '%s' "$st" | jq -r '.instances[0].state')" = Ready ] && [ "$newpid" != "$pid" ]; then ok=1; break; fi
    sleep 0.1
done
check_eq "a killed instance is restarted" "1" "$ok"
fails=0
for i in $(seq 1 20); do [ "$(status_of "$(post "r$i")")" = 200 ] || fails=$((fails + 1)); done
check_eq "requests succeed again" "0" "$fails"

# init failure: the deployment fails with the log's tail in the reason
mkdir -p "$TEST_TMP/broken"
cp -r "$TEST_TMP/crashy/"* "$TEST_TMP/broken/"
touch "$TEST_TMP/broken/model/FAIL_INIT"
sed -i 's/^name: crashy$/name: broken/; s/instance_count: 2/instance_count: 1/' "$TEST_TMP/broken/deployment.yml"
out=$(inferd online-deployment create -f "$TEST_TMP/broken/deployment.yml" 2>&1)
check_eq "a deployment whose init fails: CLI exits 1" "1" "$?"
check_match "the reason says how the instance ended" "exited with status 3" "$out"
check_match "the reason includes the instance log" "refusing to start" "$out"
check_eq "its state is Failed" "Failed" \
    "$(inferd online-deployment show -e crashy-endpoint -n broken | jq -r .provisioning_state)"

# missing scoring library
sed -i 's/scoring_script: crashy.so/scoring_script: nope.so/' "$TEST_TMP/broken/deployment.yml"
rm "$TEST_TMP/broken/model/FAIL_INIT"
sed -i 's/^name: broken$/name: nolib/' "$TEST_TMP/broken/deployment.yml"
out=$(inferd online-deployment create -f "$TEST_TMP/broken/deployment.yml" 2>&1)
check_eq "a missing scoring library is refused" "1" "$?"
check_match "naming the file" "nope.so" "$out"

# --- server restart restores everything ---
check "create the diabetes endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
check "create blue" inferd online-deployment create -f "$EX/blue-deployment.yml" --all-traffic
DKEY=$(key_of diabetes-endpoint)
before=$(body_of "$(score diabetes-endpoint "$DKEY")")
check_stop "server stops cleanly"
check_eq "no instance process is left behind" "" "$(pgrep -f "$INFERD_HOME/run" || true)"
start_server || exit 1
check_eq "endpoints are restored" "crashy-endpoint diabetes-endpoint" \
    "$(inferd online-endpoint list | jq -r '[.value[].name] | sort | join(" ")')"
check_eq "keys are restored" "$DKEY" "$(key_of diabetes-endpoint)"
ready=""
for _ in $(seq 1 100); do
    [ "$(inferd online-deployment show -e diabetes-endpoint -n blue | jq -r '.instances[0].state')" = Ready ] && { ready=1; break; }
    sleep 0.1
done
check_eq "blue's instance comes back" "1" "$ready"
check_eq "and answers as before" "$before" "$(body_of "$(score diabetes-endpoint "$DKEY")")"
check_eq "the failed deployment stays Failed" "Failed" \
    "$(inferd online-deployment show -e crashy-endpoint -n broken | jq -r .provisioning_state)"
check_stop "server stops cleanly again"
done_testing
