#!/usr/bin/env bash
# `inferd run`: one scoring script or MLflow model served in the foreground
# on a TCP port, like Azure's local inference server.
. "$(dirname "$0")/lib.sh"
free_port() {
    local p
    while :; do
        p=$((10000 + RANDOM % 22000)) # below the ephemeral range (32768+)
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
RUN_PID=""
start_run() { # PORT ARGS...
    local port=$1; shift
    "$INFERD_BIN" run --port "$port" "$@" >"$TEST_TMP/run.out" 2>"$TEST_TMP/run.log" &
    RUN_PID=$!
    for _ in $(seq 1 400); do # up to 20 s: a sanitized build loads scikit-learn slowly
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        kill -0 "$RUN_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "# inferd run did not answer on port $port; its log:" >&2
    sed 's/^/# /' "$TEST_TMP/run.log" "$TEST_TMP/run.out" >&2
    return 1
}
stop_run() { kill -TERM "$RUN_PID"; wait "$RUN_PID"; }
EX="$REPO/examples/sklearn-diabetes"

P=$(free_port)
start_run "$P" --entry-script "$EX/onlinescoring/score.py" --model-dir "$EX/model-1"
_tap $? "inferd run serves Azure's classic score.py"
check_eq "GET / answers Healthy" "Healthy" "$(curl -s "http://127.0.0.1:$P/")"
out=$(curl -s -H 'Content-Type: application/json' -d @"$EX/sample-request.json" "http://127.0.0.1:$P/score")
check_match "POST /score predicts" '^\[[0-9.]+, ?[0-9.]+\]$' "$out"
check_eq "GET /swagger.json" "2.0" "$(curl -s "http://127.0.0.1:$P/swagger.json" | jq -r .swagger)"
check_match "the banner names the URL" "http://127.0.0.1:$P" "$(cat "$TEST_TMP/run.out")"
stop_run
check_eq "stops with status 0 on SIGTERM" "0" "$?"

P=$(free_port)
start_run "$P" --model "$REPO/examples/mlflow-iris"
_tap $? "inferd run --model serves an MLflow folder"
out=$(curl -s -H 'Content-Type: application/json' -d @"$REPO/examples/mlflow-iris/sample-request.json" \
    "http://127.0.0.1:$P/score")
check_eq "and predicts the three classes" "[0,1,2]" "$(printf '%s' "$out" | jq -c .)"
stop_run

out=$("$INFERD_BIN" run --entry-script "$TEST_TMP/nope.py" 2>&1)
check_eq "a missing script: exit 1" "1" "$?"
check_match "names it" "nope.py" "$out"
out=$("$INFERD_BIN" run 2>&1)
check_eq "no script and no model: usage, exit 2" "2" "$?"
done_testing
