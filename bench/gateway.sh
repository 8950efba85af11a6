#!/usr/bin/env bash
# Gateway overhead: wrk against inferd's /endpoints/NAME/score on the native
# diabetes example, and, side by side in the same run, nginx proxying to the
# very same worker socket with upstream keep-alive. Prints requests/s and
# p50/p99 latency for both and the ratio inferd/nginx.
#
#   bench/gateway.sh [seconds-per-run (10)] [connections (32)] [rounds (2)]
#
# Both proxies run one event-loop worker, the model runs in the same single
# instance, and wrk uses one thread; on a 2-core machine this measures what
# each proxy costs per request, not the machine's peak.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-10}
CONNS=${2:-32}
ROUNDS=${3:-2}
scripts/deps.sh --bench
BUILD=${BUILD:-build}
make --no-print-directory BUILD="$BUILD" all >/dev/null
BIN="$PWD/$BUILD/inferd"
EX="$PWD/examples/diabetes"
TMP=$(mktemp -d /tmp/inferd-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT


# --- inferd ---
"$BIN" serve --home "$TMP/home" --port 0 --log-level warn >"$TMP/server.out" 2>"$TMP/server.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
    URL=$(sed -n 's/^inferd listening on \([^ ]*\).*/\1/p' "$TMP/server.out")
    [ -n "$URL" ] && break; sleep 0.05
done
export INFERD_URL="$URL" INFERD_HOME="$TMP/home"
"$BIN" online-endpoint create -f "$EX/endpoint.yml" >/dev/null
# nginx does not limit concurrency: neither may inferd here (the example's
# default, 1 per instance, would rightly answer 429 to 32 connections).
"$BIN" online-deployment create -f "$EX/blue-deployment.yml" --all-traffic \
    --set request_settings.max_concurrent_requests_per_instance=64 >/dev/null 2>&1
KEY=$("$BIN" online-endpoint get-credentials -n diabetes-endpoint | jq -r .primaryKey)
SOCK=$(ls "$TMP"/home/run/*.sock | head -n 1)

# --- nginx on the same worker socket ---
NGX_PORT=$(free_port)
mkdir -p "$TMP/nginx/logs"
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
user root;
error_log $TMP/nginx/logs/error.log warn;
pid $TMP/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    upstream instance { server unix:$SOCK; keepalive 64; }
    server {
        listen 127.0.0.1:$NGX_PORT;
        location /score {
            proxy_pass http://instance/score;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
PIDS+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$NGX_PORT/score" -d '{}' && break; sleep 0.05; done

BODY=$(tr -d '\n' < "$EX/sample-request.json" | sed 's/"/\\"/g')
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "$BODY"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA

# Prints "rps p50_us p99_us" for one wrk run against URL.
measure() {
    local out
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/post.lua" "$1")
    local non2xx
    non2xx=$(printf '%s\n' "$out" | sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p')
    if [ -n "$non2xx" ] && [ "$non2xx" != 0 ]; then
        echo "error: $non2xx failed responses from $1" >&2; exit 1
    fi
    local rps p50 p99
    rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(printf '%s\n' "$out" | awk '$1 == "50%" {print $2}')
    p99=$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')
    echo "$rps $(to_us "$p50") $(to_us "$p99")"
}

echo "gateway benchmark: ${ROUNDS} rounds x ${DURATION}s, ${CONNS} connections, 1 wrk thread, $(nproc) cores"
printf '%-8s %-7s %12s %10s %10s\n' round proxy "requests/s" "p50 (us)" "p99 (us)"
sum_i=0; sum_n=0
for r in $(seq 1 "$ROUNDS"); do
    read -r ni n50 n99 < <(measure "http://127.0.0.1:$NGX_PORT/score")
    printf '%-8s %-7s %12.0f %10.0f %10.0f\n' "$r" nginx "$ni" "$n50" "$n99"
    read -r ii i50 i99 < <(measure "$URL/endpoints/diabetes-endpoint/score")
    printf '%-8s %-7s %12.0f %10.0f %10.0f\n' "$r" inferd "$ii" "$i50" "$i99"
    sum_i=$(awk -v a="$sum_i" -v b="$ii" 'BEGIN{print a+b}')
    sum_n=$(awk -v a="$sum_n" -v b="$ni" 'BEGIN{print a+b}')
done
awk -v i="$sum_i" -v n="$sum_n" 'BEGIN { printf "ratio inferd/nginx requests/s: %.2f (goal >= 1.00)\n", i / n }'
