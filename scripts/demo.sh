#!/usr/bin/env bash
# `make demo`: starts inferd on a temporary data directory, deploys the
# diabetes example as two deployments splitting traffic 90/10, invokes it,
# prints what to try next, and stops the server cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/build/inferd"
EX="$PWD/examples/diabetes"
HOME_DIR=$(mktemp -d /tmp/inferd-demo.XXXXXX)
LOG="$HOME_DIR/server.log"
SERVER_PID=""

finish() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" || true
    fi
}
trap finish EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "Starting inferd serve (data directory $HOME_DIR)"
"$BIN" serve --home "$HOME_DIR" --port 0 >"$HOME_DIR/server.out" 2>"$LOG" &
SERVER_PID=$!
for _ in $(seq 1 100); do
    URL=$(sed -n 's/^inferd listening on \([^ ]*\).*/\1/p' "$HOME_DIR/server.out")
    [ -n "$URL" ] && break
    sleep 0.05
done
[ -n "${URL:-}" ] || { echo "the server did not start; its log:"; cat "$LOG"; exit 1; }
export INFERD_URL="$URL" INFERD_HOME="$HOME_DIR"
echo "listening on $URL"

step "Creating the endpoint and two deployments (Azure ML YAML, unchanged)"
run "$BIN" online-endpoint create -f "$EX/endpoint.yml" | jq -c '{name, auth_mode, scoring_uri}'
start=$(date +%s%N)
run "$BIN" online-deployment create -f "$EX/blue-deployment.yml" --all-traffic |
    jq -c '{name, provisioning_state, instances: [.instances[].state]}'
run "$BIN" online-deployment create -f "$EX/green-deployment.yml" |
    jq -c '{name, provisioning_state, instances: [.instances[].state]}'
ms=$((($(date +%s%N) - start) / 1000000))
echo "two deployments uploaded, started and ready in ${ms} ms"

step "Splitting traffic 90/10"
run "$BIN" online-endpoint update -n diabetes-endpoint --traffic "blue=90 green=10" | jq -c .traffic

step "Invoking the endpoint 10 times"
for i in $(seq 1 10); do
    out=$("$BIN" online-endpoint invoke -n diabetes-endpoint --request-file "$EX/sample-request.json" \
        --show-deployment 2>"$HOME_DIR/who")
    printf '  request %2d -> %-28s answered by %s\n' "$i" "$out" "$(sed -n 's/^deployment: //p' "$HOME_DIR/who")"
done

step "Azure's scikit-learn sample: its score.py, conda.yaml and YAML, unchanged"
SK="$PWD/examples/sklearn-diabetes"
run "$BIN" online-endpoint create -f "$SK/endpoint.yml" | jq -c '{name, scoring_uri}'
run "$BIN" online-deployment create -f "$SK/blue-deployment.yml" --all-traffic |
    jq -c '{name, backend, provisioning_state}'
run "$BIN" online-endpoint invoke -n sklearn-endpoint --request-file "$SK/sample-request.json"

step "An MLflow model with no scoring script (type: mlflow_model)"
ML="$PWD/examples/mlflow-iris"
run "$BIN" online-endpoint create -f "$ML/endpoint.yml" | jq -c '{name, scoring_uri}'
run "$BIN" online-deployment create -f "$ML/deployment.yml" --all-traffic |
    jq -c '{name, backend, provisioning_state}'
run "$BIN" online-endpoint invoke -n iris-endpoint --request-file "$ML/sample-request.json"

step "A batch endpoint: a folder of CSV files scored in the background"
BA="$PWD/examples/batch-diabetes"
run "$BIN" batch-endpoint create -f "$BA/endpoint.yml" | jq -c '{name, scoring_uri}'
run "$BIN" batch-deployment create -f "$BA/deployment.yml" | jq -c '{name, backend, is_default}'
JOB=$(run "$BIN" batch-endpoint invoke -n diabetes-batch --input "$BA/data" | jq -r .name)
echo "job $JOB"
run "$BIN" job stream -n "$JOB" | jq -c '{status, progress: {files: .progress.files, rows: .progress.rows}}'
run "$BIN" job download -n "$JOB" --download-path "$HOME_DIR/download" >/dev/null
echo "first rows of named-outputs/score/predictions.csv:"
head -n 3 "$HOME_DIR/download/named-outputs/score/predictions.csv" | sed 's/^/  /'

KEY=$("$BIN" online-endpoint get-credentials -n diabetes-endpoint | jq -r .primaryKey)
step "The same call with curl"
echo "curl -H 'Authorization: Bearer \$KEY' -H 'Content-Type: application/json' \\"
echo "     -d @examples/diabetes/sample-request.json $URL/endpoints/diabetes-endpoint/score"
curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d @"$EX/sample-request.json" "$URL/endpoints/diabetes-endpoint/score"
echo

step "Try next (in another terminal, with the server running)"
cat <<EOT
  build/inferd serve                                   # data in ~/.inferd, port 8080
  build/inferd online-endpoint create -f examples/diabetes/endpoint.yml
  build/inferd online-deployment create -f examples/diabetes/blue-deployment.yml --all-traffic
  build/inferd online-endpoint invoke -n diabetes-endpoint -r examples/diabetes/sample-request.json
  build/inferd online-deployment get-logs -e diabetes-endpoint -n blue --lines 20
  build/inferd online-endpoint get-credentials -n diabetes-endpoint
  build/inferd run --entry-script examples/sklearn-diabetes/onlinescoring/score.py \\
                   --model-dir examples/sklearn-diabetes/model-1      # local, no server
  See README.md for the tour and docs/ for the YAML, CLI and REST references.
EOT

step "Stopping the server"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" && echo "stopped cleanly"
SERVER_PID=""
rm -rf "$HOME_DIR"
