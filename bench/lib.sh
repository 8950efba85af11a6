# Shared helpers for the benchmark scripts (sourced).

# A loopback port nobody listens on, below the ephemeral range (32768+).
free_port() {
    local p
    while :; do
        p=$((10000 + RANDOM % 22000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# wrk prints latencies as 456.00us / 1.23ms / 1.2s: in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else print n * 1000000 }'
}

# Waits up to 10 s for URL to answer.
wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }
