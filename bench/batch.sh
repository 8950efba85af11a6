#!/usr/bin/env bash
# Batch endpoints: a folder of small files scored by an inferd batch job and,
# side by side, by a plain Python multiprocessing.Pool making the very same
# calls with the same number of processes. Two scripts: a trivial one (reads
# each text file, returns its length) and the scikit-learn diabetes example
# (examples/batch-diabetes/code/batch_score.py, unchanged, on CSV files of
# 1-5 rows). Prints files/s for both, the ratio, and inferd's overhead per
# mini-batch.
#
#   bench/batch.sh [files (10000)] [processes (2)] [mini_batch_size (10)] [rounds (2)]
#
# The same can be set in the environment: FILES, PROCS, MINI_BATCH_SIZE,
# ROUNDS; KEEP=1 keeps the temporary folder (server and job logs).
#
# inferd runs one instance with max_concurrency_per_instance = PROCS: one
# init() in the instance, then PROCS scoring processes forked from it, the
# pool's shape (PROCS processes sharing one queue of mini-batches). The
# input is a datastore folder (serve --datastore), so no upload is timed.
#
# inferd's time runs from `batch-endpoint invoke` until `job stream`
# returns (stream polls every 0.5 s) and, more precisely, until the output
# file's mtime (the job's finalize wrote it); both include starting the
# instance (Python, imports, init()). The pool's time runs from before it
# imports the script (so its imports and init() count too) until its output
# CSV is written. Both outputs are compared byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
FILES=${1:-${FILES:-10000}}
PROCS=${2:-${PROCS:-2}}
MBS=${3:-${MINI_BATCH_SIZE:-10}}
ROUNDS=${4:-${ROUNDS:-2}}
PY=/usr/bin/python3.11
BUILD=${BUILD:-build}
make --no-print-directory BUILD="$BUILD" all >/dev/null
BIN="$PWD/$BUILD/inferd"
MODEL="$PWD/examples/sklearn-diabetes/model-1/model"
TMP=$(mktemp -d /tmp/inferd-bench-batch.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
now() { date +%s.%N; }

# ---- the input: FILES text files and FILES CSV files ----
mkdir -p "$TMP/data/text" "$TMP/data/csv" "$TMP/code"
$PY - "$TMP/data" "$FILES" <<'PYEOF'
import os, sys
from sklearn.datasets import load_diabetes
root, n = sys.argv[1], int(sys.argv[2])
X = load_diabetes(as_frame=True).data
for i in range(n):
    with open(os.path.join(root, "text", f"doc-{i:06d}.txt"), "w") as f:
        f.write("lorem ipsum " * (i % 13 + 1))
    start, rows = (i * 7) % (len(X) - 5), i % 5 + 1
    X.iloc[start:start + rows].to_csv(os.path.join(root, "csv", f"patients-{i:06d}.csv"),
                                      index=False)
PYEOF

# The trivial script.
cat >"$TMP/code/length.py" <<'PYEOF'
import os

def init():
    pass

def run(mini_batch):
    return [(os.path.basename(path), len(open(path).read())) for path in mini_batch]
PYEOF

# The peer: Pool(PROCS, initializer=init) mapping run() over the mini-batches
# in order (sorted relative paths), rows written as inferd writes them.
cat >"$TMP/pool.py" <<'PYEOF'
import time
t0 = time.monotonic()
import csv, importlib.util, multiprocessing, os, sys

script, root, out, mbs, procs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rels = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
paths = [os.path.join(root, rel) for rel in rels]
batches = [paths[i:i + mbs] for i in range(0, len(paths), mbs)]
spec = importlib.util.spec_from_file_location("score", script)
score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score)

def rows_of(result):
    # What inferd's append_row writes: a DataFrame's rows, else one row per element.
    if hasattr(result, "itertuples"):
        cells = result.astype(object).where(result.notna(), None)
        return [list(r) for r in cells.itertuples(index=False, name=None)]
    return [list(e) if isinstance(e, (list, tuple)) else [str(e)] for e in result]

def call(batch):
    return rows_of(score.run(batch))

if __name__ == "__main__":
    with multiprocessing.Pool(procs, initializer=score.init) as pool, \
            open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for rows in pool.imap(call, batches):
            w.writerows(rows)
    print(f"{time.monotonic() - t0:.4f} {len(batches)}")
PYEOF

# ---- inferd ----
"$BIN" serve --home "$TMP/home" --port 0 --log-level info --batch-instances "$PROCS" \
    --datastore "data=$TMP/data" >"$TMP/server.out" 2>"$TMP/server.log" &
PIDS+=($!)
URL=""
for _ in $(seq 1 200); do
    URL=$(sed -n 's/^inferd listening on \([^ ]*\).*/\1/p' "$TMP/server.out")
    [ -n "$URL" ] && break; sleep 0.05
done
[ -n "$URL" ] || { echo "inferd did not start:" >&2; cat "$TMP/server.log" >&2; exit 1; }
export INFERD_URL="$URL" INFERD_HOME="$TMP/home"
printf 'name: bench-batch\n' >"$TMP/endpoint.yml"
"$BIN" batch-endpoint create -f "$TMP/endpoint.yml" >/dev/null

# deploy NAME CODE_DIR SCRIPT MODEL_DIR
deploy() {
    {
        printf 'name: %s\nendpoint_name: bench-batch\ntype: model\n' "$1"
        [ -n "$4" ] && printf 'model:\n  path: %s\n' "$4"
        printf 'code_configuration:\n  code: %s\n  scoring_script: %s\n' "$2" "$3"
        printf 'resources:\n  instance_count: 1\n'
        printf 'settings:\n  mini_batch_size: %s\n  max_concurrency_per_instance: %s\n' "$MBS" "$PROCS"
        printf '  output_action: append_row\n  output_file_name: predictions.csv\n'
        printf '  retry_settings:\n    max_retries: 0\n    timeout: 300\n'
        printf '  environment_variables:\n    OPENBLAS_NUM_THREADS: "1"\n'
    } >"$TMP/$1.yml"
    "$BIN" batch-deployment create -f "$TMP/$1.yml" >/dev/null
}
deploy trivial "$TMP/code" length.py ""
deploy sklearn "$PWD/examples/batch-diabetes/code" batch_score.py "$MODEL"

# iso8601 -> unix seconds
epoch() { date -d "$1" +%s; }

# run_inferd DEPLOYMENT SUBFOLDER -> "seconds_to_stream seconds_to_output span_s mini_batches rows output"
run_inferd() {
    local t0 t1 job out js
    t0=$(now)
    job=$("$BIN" batch-endpoint invoke -n bench-batch -d "$1" \
        --input "azureml://datastores/data/paths/$2" | jq -r .name)
    "$BIN" job stream -n "$job" >"$TMP/$job.json" 2>/dev/null ||
        { echo "job $job did not complete:" >&2; cat "$TMP/$job.json" >&2; exit 1; }
    t1=$(now)
    js=$("$BIN" job show -n "$job")
    out="$(printf '%s' "$js" | jq -r '.output.path + "/" + .output.file_name')"
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b-a}')" \
        "$(awk -v a="$t0" -v b="$(stat -c %.9Y "$out")" 'BEGIN{printf "%.4f", b-a}')" \
        "$(($(epoch "$(printf '%s' "$js" | jq -r .ended_at)") - $(epoch "$(printf '%s' "$js" | jq -r .started_at)")))" \
        "$(printf '%s' "$js" | jq -r '"\(.progress.mini_batches) \(.progress.rows)"')" "$out" "$job"
}

# run_pool SCRIPT SUBFOLDER OUT -> "seconds mini_batches"
run_pool() {
    OPENBLAS_NUM_THREADS=1 AZUREML_MODEL_DIR="$MODEL" $PY "$TMP/pool.py" "$1" "$TMP/data/$2" "$3" "$MBS" "$PROCS"
}

echo "batch benchmark: $FILES files per workload, mini_batch_size $MBS, $PROCS processes (inferd: 1 instance x $PROCS), $(nproc) cores"
printf '%-8s %5s %6s %4s | %9s %9s %6s | %9s | %6s %6s | %9s\n' workload round files mbs \
    "inferd/s" "to-out/s" "span s" "python/s" ratio "r-out" "ovh ms/mb"
for round in $(seq 1 "$ROUNDS"); do
    for w in trivial sklearn; do
        if [ "$w" = trivial ]; then sub=text; script="$TMP/code/length.py"; want=$FILES
        else sub=csv; script="$PWD/examples/batch-diabetes/code/batch_score.py"
            want=$(cat "$TMP"/data/csv/*.csv 2>/dev/null | wc -l); want=$((want - FILES)); fi
        res=$(run_inferd "$w" "$sub")
        read -r it io span nmb rows out job <<<"$res"
        res=$(run_pool "$script" "$sub" "$TMP/pool-$w.csv")
        read -r pt pmb <<<"$res"
        [ "$rows" = "$want" ] && [ "$(wc -l <"$out")" = "$want" ] ||
            { echo "$w: inferd wrote $rows rows ($(wc -l <"$out") lines), want $want" >&2; exit 1; }
        [ "$nmb" = "$pmb" ] || { echo "$w: $nmb mini-batches in inferd, $pmb in the pool" >&2; exit 1; }
        cmp -s "$out" "$TMP/pool-$w.csv" ||
            { echo "$w: inferd's output differs from the pool's (job $job):" >&2
              diff "$out" "$TMP/pool-$w.csv" | head -5 >&2; exit 1; }
        awk -v w="$w" -v r="$round" -v n="$FILES" -v m="$nmb" -v it="$it" -v io="$io" -v sp="$span" -v pt="$pt" 'BEGIN {
            printf "%-8s %5d %6d %4d | %9.0f %9.0f %6d | %9.0f | %6.2f %6.2f | %9.2f\n",
                w, r, n, m, n / it, n / io, sp, n / pt, pt / it, pt / io, (io - pt) / m * 1000 }'
    done
done
echo "inferd/s: files/s from invoke until job stream returned (stream polls every 0.5 s); to-out/s: until the"
echo "output file was written; span s: the job's started_at..ended_at (whole seconds); python/s: Pool($PROCS)"
echo "incl. imports and init(); ratio = inferd/s / python/s (r-out with to-out/s); ovh = (inferd to-out"
echo "time - pool time) / mini-batches. Both outputs were checked identical, one row per input row."
