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
CSV_ROWS=$($PY - "$TMP/data" "$FILES" <<'PYEOF'
import os, sys
from sklearn.datasets import load_diabetes
root, n = sys.argv[1], int(sys.argv[2])
X = load_diabetes(as_frame=True).data
total = 0
for i in range(n):
    with open(os.path.join(root, "text", f"doc-{i:06d}.txt"), "w") as f:
        f.write("lorem ipsum " * (i % 13 + 1))
    start, rows = (i * 7) % (len(X) - 5), i % 5 + 1
    X.iloc[start:start + rows].to_csv(os.path.join(root, "csv", f"patients-{i:06d}.csv"),
                                      index=False)
    total += rows
print(total)
PYEOF
)

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

# When the server logged that JOB reached STATUS (info level, milliseconds).
status_time() { # JOB STATUS
    date -d "$(sed -n "s/^ts=\([^ ]*\) .*event=job.status job=$1 status=$2\$/\1/p" "$TMP/server.log" | head -1)" +%s.%N
}
span() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
whole_s() { date -d "$1" +%s; }

# run_inferd DEPLOYMENT SUBFOLDER; prints "stream out span start run mini_batches rows output job":
# seconds from invoke until `job stream` returned, until the output file was
# written, the job's started_at..ended_at (whole seconds), from invoke until
# Running (listing the input, the instance's start and init()), and from
# Running to Finalizing (scoring every mini-batch).
run_inferd() {
    local t0 t1 job js out running
    t0=$(now)
    job=$("$BIN" batch-endpoint invoke -n bench-batch -d "$1" \
        --input "azureml://datastores/data/paths/$2" | jq -r .name)
    "$BIN" job stream -n "$job" >"$TMP/$job.json" 2>/dev/null ||
        { echo "job $job did not complete:" >&2; cat "$TMP/$job.json" >&2; exit 1; }
    t1=$(now)
    js=$("$BIN" job show -n "$job")
    out=$(printf '%s' "$js" | jq -r '.output.path + "/" + .output.file_name')
    running=$(status_time "$job" Running)
    echo "$(span "$t0" "$t1") $(span "$t0" "$(stat -c %.9Y "$out")")" \
        "$(($(whole_s "$(printf '%s' "$js" | jq -r .ended_at)") - $(whole_s "$(printf '%s' "$js" | jq -r .started_at)")))" \
        "$(span "$t0" "$running") $(span "$running" "$(status_time "$job" Finalizing)")" \
        "$(printf '%s' "$js" | jq -r '"\(.progress.mini_batches) \(.progress.rows)"')" "$out" "$job"
}

# run_pool SCRIPT SUBFOLDER OUT; prints "seconds mini_batches".
run_pool() {
    OPENBLAS_NUM_THREADS=1 AZUREML_MODEL_DIR="$MODEL" $PY "$TMP/pool.py" "$1" "$TMP/data/$2" "$3" "$MBS" "$PROCS"
}

# row WORKLOAD ROUND MINI_BATCHES STREAM OUT SPAN START RUN POOL
row() {
    awk -v w="$1" -v r="$2" -v n="$FILES" -v m="$3" -v st="$4" -v o="$5" -v sp="$6" -v s="$7" \
        -v ru="$8" -v p="$9" 'BEGIN {
        printf "%-8s %5s %6d %5d | %9.0f %9.0f %6.2f %9.2f | %7.2f %7.2f %5s %6.2f %6.2f | %6.2f\n",
            w, r, n, m, n / st, n / p, p / st, (o - p) / m * 1000, st, o, sp, s, ru, p }'
}

echo "batch benchmark: $FILES files per workload, mini_batch_size $MBS, $PROCS processes" \
    "(inferd: 1 instance x $PROCS; Pool($PROCS)), $ROUNDS rounds, $(nproc) cores"
printf '%-8s %5s %6s %5s | %9s %9s %6s %9s | %7s %7s %5s %6s %6s | %6s\n' workload round files mbs \
    "inferd/s" "python/s" ratio "ovh ms/mb" "strm s" "out s" "job s" "start" "run" "pool s"
declare -A BEST NMB
for round in $(seq 1 "$ROUNDS"); do
    for w in trivial sklearn; do
        if [ "$w" = trivial ]; then
            sub=text script="$TMP/code/length.py" want=$FILES
        else
            sub=csv script="$PWD/examples/batch-diabetes/code/batch_score.py" want=$CSV_ROWS
        fi
        res=$(run_inferd "$w" "$sub")
        read -r stream out_s job_s start run nmb rows out job <<<"$res"
        res=$(run_pool "$script" "$sub" "$TMP/pool-$w.csv")
        read -r pool pmb <<<"$res"
        lines=$(wc -l <"$out")
        if [ "$rows" != "$want" ] || [ "$lines" != "$want" ]; then
            echo "$w: job $job wrote $rows rows ($lines lines), want one per input row: $want" >&2
            exit 1
        fi
        [ "$nmb" = "$pmb" ] || { echo "$w: $nmb mini-batches in inferd, $pmb in the pool" >&2; exit 1; }
        cmp -s "$out" "$TMP/pool-$w.csv" ||
            { echo "$w: job $job's output differs from the pool's:" >&2
              diff "$out" "$TMP/pool-$w.csv" | head -5 >&2; exit 1; }
        row "$w" "$round" "$nmb" "$stream" "$out_s" "$job_s" "$start" "$run" "$pool"
        # the best round of each side (shared machines are noisy)
        read -r bs bo bst bru bp <<<"${BEST[$w]:-999999 999999 0 0 999999}"
        if awk -v a="$stream" -v b="$bs" 'BEGIN { exit !(a < b) }'; then
            bs=$stream bo=$out_s bst=$start bru=$run
        fi
        if awk -v a="$pool" -v b="$bp" 'BEGIN { exit !(a < b) }'; then bp=$pool; fi
        BEST[$w]="$bs $bo $bst $bru $bp"
        NMB[$w]=$nmb
    done
done
for w in trivial sklearn; do
    read -r bs bo bst bru bp <<<"${BEST[$w]}"
    row "$w" best "${NMB[$w]}" "$bs" "$bo" - "$bst" "$bru" "$bp"
done
cat <<EOF
inferd/s: files / strm s. python/s: files / pool s. ratio = inferd/s / python/s.
ovh ms/mb = (out s - pool s) / mini-batches: inferd's time to its output file minus the pool's.
strm s: invoke .. \`job stream\` returned (it polls every 0.2 s); out s: invoke .. output file written;
job s: the job's started_at..ended_at (whole seconds); start: invoke .. Running (input listing,
instance start, init()); run: Running .. Finalizing (all mini-batches). pool s: the Pool's run from
before it imports the script (imports, init() in each process) until its CSV is written.
best: each side's fastest round. Every round checked: one output row per input row, and inferd's
output byte for byte the pool's.
EOF
