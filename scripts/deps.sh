#!/usr/bin/env bash
# Installs the Debian packages that inferd's build, tests, demo and benchmarks
# need. Idempotent: installs only what is missing and runs `apt-get update`
# at most once, only when something must be installed.
set -euo pipefail

PACKAGES=(
    build-essential pkg-config
    libh2o-evloop-dev libjansson-dev libyaml-dev libsqlite3-dev libssl-dev
    libarchive-dev libcurl4-openssl-dev libjwt-dev libcmocka-dev
    libpython3.11-dev python3.11 python3-numpy python3-pandas python3-sklearn python3-yaml
    libonnx-dev libprotobuf-c-dev protobuf-c-compiler libopenblas-dev python3-onnx
    curl jq perl prometheus
)
# Optional extras: `scripts/deps.sh --bench` adds the benchmark peers (the
# ONNX benchmark also needs node and npm for onnxruntime-node).
if [ "${1:-}" = "--bench" ]; then
    PACKAGES+=(wrk nginx-light python3-flask gunicorn)
fi
# `scripts/deps.sh --fuzz` adds clang's libFuzzer runtime for `make fuzz`.
if [ "${1:-}" = "--fuzz" ]; then
    PACKAGES+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Packages that ship a daemon (prometheus: we only use its promtool) must not
# start one: a policy-rc.d that refuses service starts, for this install only.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
    trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [ "$own_policy" = 1 ]; then
    $SUDO rm -f "$policy"
fi
