# Shared helpers for integration tests: a tiny TAP producer and a real
# `inferd serve` on a free loopback port with a temporary data directory.
# Source it from a test script; call start_server, then check*.
set -u
INFERD_BIN=${INFERD_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/inferd}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEST_TMP=$(mktemp -d /tmp/inferd-test.XXXXXX)
_tap_n=0
_tap_failed=0
SERVER_PID=""

_cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    if [ "$_tap_failed" -ne 0 ] && [ -f "$TEST_TMP/server.log" ]; then
        echo "# --- server log (last 40 lines) ---" >&2
        tail -n 40 "$TEST_TMP/server.log" | sed 's/^/# /' >&2
    fi
    rm -rf "$TEST_TMP"
}
trap _cleanup EXIT

_tap() { # status description [diagnostics]
    _tap_n=$((_tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $_tap_n - $2"
    else
        _tap_failed=$((_tap_failed + 1))
        echo "not ok $_tap_n - $2"
        # diagnostics on stderr: prove shows them without --verbose
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /' >&2
    fi
    return 0
}

# check DESCRIPTION COMMAND...: passes when the command exits 0.
check() {
    local desc=$1; shift
    local out
    out=$("$@" 2>&1)
    _tap $? "$desc" "$out"
}

# check_fails DESCRIPTION COMMAND...: passes when the command exits non-zero.
check_fails() {
    local desc=$1; shift
    local out
    out=$("$@" 2>&1)
    if [ $? -ne 0 ]; then _tap 0 "$desc"; else _tap 1 "$desc" "unexpected success: $out"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then _tap 0 "$1"; else _tap 1 "$1" "expected: $2
got:      $3"; fi
}

# check_match DESCRIPTION REGEX TEXT
check_match() {
    if printf '%s' "$3" | grep -Eq -- "$2"; then _tap 0 "$1"; else _tap 1 "$1" "pattern: $2
text:    $3"; fi
}

done_testing() {
    # A sanitizer report anywhere (server, instance or job logs) fails the test.
    local reports
    reports=$(grep -rlE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
        "$TEST_TMP/server.log" "${INFERD_HOME:-/nonexistent}/logs" \
        "${INFERD_HOME:-/nonexistent}/jobs" 2>/dev/null)
    _tap "$([ -z "$reports" ]; echo $?)" "no sanitizer reports in server or instance logs" \
        "$(for f in $reports; do echo "== $f"; grep -A20 -E 'Sanitizer|runtime error' "$f" | head -40; done)"
    echo "1..$_tap_n"
    [ "$_tap_failed" -eq 0 ]
}

# start_server [extra serve flags]: starts inferd serve on 127.0.0.1, port 0,
# home $TEST_TMP/home; exports INFERD_URL, INFERD_HOME, TOKEN.
start_server() {
    export INFERD_HOME="$TEST_TMP/home"
    : > "$TEST_TMP/server.out"
    "$INFERD_BIN" serve --home "$INFERD_HOME" --host 127.0.0.1 --port "${PORT:-0}" "$@" \
        >"$TEST_TMP/server.out" 2>>"$TEST_TMP/server.log" &
    SERVER_PID=$!
    local url=""
    for _ in $(seq 1 200); do
        url=$(sed -n 's/^inferd listening on \([^ ]*\).*/\1/p' "$TEST_TMP/server.out")
        [ -n "$url" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$url" ]; then
        echo "# server did not start"; cat "$TEST_TMP/server.log" | sed 's/^/# /'
        return 1
    fi
    export INFERD_URL="$url"
    PORT=${url##*:}
    TOKEN=$(cat "$INFERD_HOME/admin.token")
    export TOKEN
    unset INFERD_TOKEN
}

# stop_server: SIGTERM and wait; returns the server's exit status.
stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID"
    local rc=$?
    SERVER_PID=""
    return $rc
}

# check_stop DESCRIPTION: stops the server (in this shell, so `wait` works)
# and passes when it exited 0.
check_stop() {
    stop_server
    local rc=$?
    _tap $rc "$1" "server exit status $rc"
}

inferd() { "$INFERD_BIN" "$@"; }

# api METHOD PATH [curl args...]: prints body then a line with the status.
api() {
    local method=$1 path=$2; shift 2
    curl -s -X "$method" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}' \
        "$INFERD_URL$path" "$@"
}

# status_of OUTPUT_OF_api: the trailing status line.
status_of() { printf '%s' "$1" | tail -n 1; }
body_of() { printf '%s' "$1" | sed '$d'; }

# An endpoint's primary key, through the CLI.
key_of() { inferd online-endpoint get-credentials -n "$1" | jq -r .primaryKey; }

# score ENDPOINT KEY [curl args]: POSTs the example's sample request.
score() {
    local ep=$1 key=$2; shift 2
    curl -s -w '\n%{http_code}' -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' \
        --data-binary @"$REPO/examples/diabetes/sample-request.json" \
        "$INFERD_URL/endpoints/$ep/score" "$@"
}

# Copies the diabetes example to $TEST_TMP/ex so tests may edit YAML freely.
copy_example() {
    cp -r "$REPO/examples/diabetes" "$TEST_TMP/ex"
    echo "$TEST_TMP/ex"
}
