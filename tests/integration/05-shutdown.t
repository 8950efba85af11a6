#!/usr/bin/env bash
# SIGTERM under load: the server stops accepting, finishes what it started,
# never answers an accepted request with an error, stops its instances and
# exits 0.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
EX=$(copy_example)
check "create endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
# room for the 4 concurrent clients below (the default, 1 per instance, would
# rightly answer 429 past 2 requests in flight)
check "create blue" inferd online-deployment create -f "$EX/blue-deployment.yml" --all-traffic \
    --set request_settings.max_concurrent_requests_per_instance=4
KEY=$(key_of diabetes-endpoint)

for _ in $(seq 1 3000); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$INFERD_URL/endpoints/diabetes-endpoint/score"
done > "$TEST_TMP/urls"
for c in 1 2 3 4; do
    curl -s -K "$TEST_TMP/urls" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        --data-binary @"$EX/sample-request.json" -w '%{http_code}\n' > "$TEST_TMP/load.$c" 2>/dev/null &
done
# let the load get going, then stop the server in the middle of it
for _ in $(seq 1 100); do
    [ "$(cat "$TEST_TMP"/load.* | wc -l)" -gt 400 ] && break
    sleep 0.02
done
check_stop "server exits 0 on SIGTERM under load"
wait
statuses=$(cat "$TEST_TMP"/load.* | sort | uniq -c | awk '{print $2}' | tr '\n' ' ')
served=$(cat "$TEST_TMP"/load.* | grep -c '^200$')
check "requests were served before the stop ($served)" test "$served" -gt 400
check_eq "every answered request got 200 (000 = refused after the stop)" "" \
    "$(cat "$TEST_TMP"/load.* | grep -v -e '^200$' -e '^000$' | sort | uniq -c)"
check_eq "no instance process is left behind" "" "$(pgrep -f "$INFERD_HOME/run" || true)"
echo "# statuses seen: $statuses"
done_testing
