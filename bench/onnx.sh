#!/usr/bin/env bash
# ONNX inference: inferd's own engine (src/onnx, through the C driver
# bench/onnx_bench.c) against ONNX Runtime (the npm package onnxruntime-node,
# through bench/onnx/ort_bench.js), side by side, one thread each, pinned to
# the same CPU. Models (random weights, written by
# bench/onnx/make_bench_models.py): MLP 784-256-128-10 at batch 1 and 32,
# ResNet-18 224x224 at batch 1, a 4-layer BERT-style encoder at sequence
# length 128. Prints microseconds per inference for both (the best of
# REPS alternating runs, each the median of its timing rounds) and the ratio.
#
# ONNX Runtime is timed through Node, whose binding adds a fixed cost per
# call; the noop model (Identity of one float) measures it, and the
# "ORT-call" column subtracts it, a fair floor for ORT's own compute.
#
#   bench/onnx.sh [seconds-per-measurement (2)] [repetitions (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-2}
REPS=${2:-3}
BUILD=${BUILD:-build}
OUT="$BUILD/onnx-bench"
mkdir -p "$OUT"

for tool in gcc protoc-c pkg-config node npm /usr/bin/python3.11; do
    command -v "$tool" >/dev/null || { echo "bench/onnx.sh: $tool is missing (make deps)" >&2; exit 1; }
done

# The engine's objects, built by the project's Makefile with its flags.
objs=()
for f in src/onnx/*.c src/core/*.c; do objs+=("$BUILD/${f%.c}.o"); done
objs+=("$BUILD/gen/onnx.pb-c.o")
make --no-print-directory BUILD="$BUILD" "${objs[@]}" >/dev/null
gcc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc -I"$BUILD/gen" \
    -o "$OUT/onnx_bench" bench/onnx_bench.c "${objs[@]}" \
    $(pkg-config --libs libprotobuf-c openblas openssl) -lm

if [ ! -f "$OUT/models/bert.onnx" ] || [ bench/onnx/make_bench_models.py -nt "$OUT/models/bert.onnx" ]; then
    /usr/bin/python3.11 bench/onnx/make_bench_models.py "$OUT/models"
fi

# onnxruntime-node ships its native library in the package: no postinstall
# download is needed (--ignore-scripts), so nothing runs at install time.
if [ ! -d bench/onnx/node_modules/onnxruntime-node ]; then
    (cd bench/onnx && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
node -e "require('./bench/onnx/node_modules/onnxruntime-node')" ||
    { echo "bench/onnx.sh: onnxruntime-node does not load" >&2; exit 1; }

# One thread everywhere, one CPU for both.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
PIN=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ]; then PIN=(taskset -c 1); fi

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }

# Each side runs REPS times, alternating, and keeps its best median: on a
# shared machine, other tenants slow runs down but never speed them up.
run_pair() { # model batch seq
    local c o best_c="" best_o="" cs_c cs_o
    for _ in $(seq 1 "$REPS"); do
        c=$("${PIN[@]}" "$OUT/onnx_bench" "$OUT/models/$1.onnx" "$2" "$3" "$SECS")
        o=$("${PIN[@]}" node bench/onnx/ort_bench.js "$OUT/models/$1.onnx" "$2" "$3" "$SECS")
        best_c=$(min "$best_c" "$(echo "$c" | field us_per_inference)")
        best_o=$(min "$best_o" "$(echo "$o" | field us_per_inference)")
        cs_c=$(echo "$c" | field checksum)
        cs_o=$(echo "$o" | field checksum)
    done
    echo "$best_c $best_o $cs_c $cs_o"
}

echo "CPU: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); OpenBLAS core:" \
     "$(OPENBLAS_VERBOSE=2 "$OUT/onnx_bench" "$OUT/models/noop.onnx" 1 1 1 2>&1 |
        sed -n 's/^Core: //p' | head -1)"
read -r _ ORT_CALL _ _ <<<"$(run_pair noop 1 1)"
echo "ONNX Runtime per-call overhead through Node (noop model): ${ORT_CALL} us"
echo
printf '%-10s %6s %5s %12s %12s %12s %10s %10s  %s\n' model batch seq "inferd us" "ORT us" \
       "ORT-call us" "ratio" "ratio-call" "checksums (inferd / ORT)"
for spec in "mlp 1 1" "mlp 32 1" "resnet18 1 1" "bert 1 128"; do
    read -r model batch seq <<<"$spec"
    read -r ours theirs cs_ours cs_theirs <<<"$(run_pair "$model" "$batch" "$seq")"
    awk -v m="$model" -v b="$batch" -v s="$seq" -v a="$ours" -v o="$theirs" -v c="$ORT_CALL" \
        -v x="$cs_ours" -v y="$cs_theirs" 'BEGIN {
        oc = o - c; if (oc <= 0) oc = o;
        d = x - y; if (d < 0) d = -d; r = (y < 0 ? -y : y) + 1e-6;
        printf "%-10s %6d %5d %12.1f %12.1f %12.1f %9.2fx %9.2fx  %s / %s%s\n", m, b, s, a, o, oc,
               a / o, a / oc, x, y, (d / r > 1e-3 ? "  MISMATCH" : "")
    }'
done
echo
echo "ratio = inferd / ONNX Runtime time (below 1: inferd is faster); ratio-call uses ORT-call."
