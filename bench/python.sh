#!/usr/bin/env bash
# Python scoring: the same score.py served (a) by inferd (C gateway + C worker
# + embedded CPython, processes forked after init()) and (b) by the
# architecture of Azure's inference server (gunicorn sync workers + Flask
# calling init()/run()), with the same number of Python processes, measured
# side by side with wrk at several concurrencies. Two scripts: a trivial
# echo and the scikit-learn regression example.
#
#   bench/python.sh [seconds-per-run (5)] [processes (2)] ["concurrencies" ("1 8 32")]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-5}
PROCS=${2:-2}
CONCS=${3:-"1 8 32"}
scripts/deps.sh --bench
BUILD=${BUILD:-build}
make --no-print-directory BUILD="$BUILD" all >/dev/null
BIN="$PWD/$BUILD/inferd"
TMP=$(mktemp -d /tmp/inferd-bench-py.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT


"$BIN" serve --home "$TMP/home" --port 0 --log-level warn >"$TMP/server.out" 2>"$TMP/server.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
    URL=$(sed -n 's/^inferd listening on \([^ ]*\).*/\1/p' "$TMP/server.out")
    [ -n "$URL" ] && break; sleep 0.05
done
export INFERD_URL="$URL" INFERD_HOME="$TMP/home"
"$BIN" online-endpoint create -f bench/python/endpoint.yml >/dev/null
KEY=$("$BIN" online-endpoint get-credentials -n bench-endpoint | jq -r .primaryKey)

# deploy NAME DIR SCRIPT MODEL_PATH: a deployment of PROCS processes.
deploy() {
    local name=$1 code=$2 script=$3 model=$4
    {
        echo "name: $name"
        echo "endpoint_name: bench-endpoint"
        [ -n "$model" ] && printf 'model:\n  path: %s\n' "$model"
        printf 'code_configuration:\n  code: %s\n  scoring_script: %s\n' "$code" "$script"
        # gunicorn queues without limit in its backlog: no admission limit
        # here either (WORKER_COUNT sets the process count).
        printf 'request_settings:\n  max_concurrent_requests_per_instance: 64\n  request_timeout_ms: 60000\n'
        printf 'environment_variables:\n  WORKER_COUNT: "%s"\n' "$PROCS"
    } > "$TMP/$name.yml"
    "$BIN" online-deployment create -f "$TMP/$name.yml" >/dev/null 2>&1
}
deploy echo "$PWD/bench/python/echo" score.py ""
deploy sklearn "$PWD/examples/sklearn-diabetes/onlinescoring" score.py \
    "$PWD/examples/sklearn-diabetes/model-1/model/"

# gunicorn + Flask, one server per script
# Starts gunicorn + Flask for one script; sets GPORT. (Not in a command
# substitution: the pid must reach PIDS in this shell for the cleanup.)
start_gunicorn() { # NAME SCRIPT MODEL_DIR
    GPORT=$(free_port)
    AZUREML_ENTRY_SCRIPT=$2 AZUREML_MODEL_DIR=$3 OPENBLAS_NUM_THREADS=1 \
        gunicorn -w "$PROCS" -b "127.0.0.1:$GPORT" --chdir "$PWD/bench/python" \
        --log-level warning azure_like_server:app >"$TMP/gunicorn-$1.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$GPORT/" || { echo "gunicorn did not start:"; cat "$TMP/gunicorn-$1.log"; exit 1; }
}
start_gunicorn echo "$PWD/bench/python/echo/score.py" "$TMP"
G_ECHO=$GPORT
start_gunicorn sklearn "$PWD/examples/sklearn-diabetes/onlinescoring/score.py" \
    "$PWD/examples/sklearn-diabetes/model-1"
G_SK=$GPORT

lua() { # FILE DEPLOYMENT BODYFILE
    local body; body=$(tr -d '\n' < "$3" | sed 's/\\/\\\\/g; s/"/\\"/g')
    cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = "$body"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["azureml-model-deployment"] = "$2"
LUA
}
lua "$TMP/echo.lua" echo bench/python/echo/request.json
lua "$TMP/sklearn.lua" sklearn examples/sklearn-diabetes/sample-request.json

measure() { # LUA URL CONNS -> "rps p50 p99"
    local out
    out=$(wrk -t1 -c"$3" -d"${DURATION}s" --latency -s "$1" "$2")
    if printf '%s\n' "$out" | grep -q 'Non-2xx'; then
        echo "error: failed responses from $2:" >&2; printf '%s\n' "$out" >&2; exit 1
    fi
    echo "$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}') $(to_us "$(printf '%s\n' "$out" | awk '$1 == "50%" {print $2}')") $(to_us "$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')")"
}

echo "python scoring benchmark: ${DURATION}s per run, ${PROCS} Python processes per server, $(nproc) cores"
printf '%-8s %5s | %10s %8s %8s | %10s %8s %8s | %7s %9s\n' script conns "inferd r/s" "p50 us" "p99 us" \
    "gunic r/s" "p50 us" "p99 us" "x r/s" "p99 ratio"
for script in echo sklearn; do
    if [ "$script" = echo ]; then gport=$G_ECHO; else gport=$G_SK; fi
    for c in $CONCS; do
        read -r ir i50 i99 < <(measure "$TMP/$script.lua" "$URL/endpoints/bench-endpoint/score" "$c")
        read -r gr g50 g99 < <(measure "$TMP/$script.lua" "http://127.0.0.1:$gport/score" "$c")
        printf '%-8s %5s | %10.0f %8.0f %8.0f | %10.0f %8.0f %8.0f | %7.2f %9.2f\n' "$script" "$c" \
            "$ir" "$i50" "$i99" "$gr" "$g50" "$g99" \
            "$(awk -v a="$ir" -v b="$gr" 'BEGIN{print a/b}')" "$(awk -v a="$i99" -v b="$g99" 'BEGIN{print a/b}')"
    done
done
echo "x r/s = inferd requests/s divided by gunicorn+Flask's (goal >= 3); p99 ratio = inferd p99 / gunicorn p99 (goal <= 1)"
