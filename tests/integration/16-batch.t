#!/usr/bin/env bash
# Batch endpoints end to end: Azure YAML, a folder of a few hundred files
# scored and checked row by row, the example's regression checked against
# the model itself, MLflow without a script, summary_only, datastores, the
# default deployment switch, endpoint tokens and bad input.
. "$(dirname "$0")/lib.sh"
mkdir -p "$TEST_TMP/store"
start_server --batch-instances 2 --datastore "lake=$TEST_TMP/store" || exit 1
EX="$REPO/examples/batch-diabetes"
PY=/usr/bin/python3.11

job_field() { inferd job show -n "$1" | jq -r "$2"; }

# ---- the example, unchanged ----
out=$(inferd batch-endpoint create -f "$EX/endpoint.yml" 2>"$TEST_TMP/notes")
check_eq "create the example's batch endpoint" "diabetes-batch" "$(printf '%s' "$out" | jq -r .name)"
check_match "aad_token is taken and said to be mapped to inferd tokens" "aad_token.*stored as aml_token" "$(cat "$TEST_TMP/notes")"
out=$(inferd batch-deployment create -f "$EX/deployment.yml")
check_eq "create its deployment (type: model, settings:)" "regression" "$(printf '%s' "$out" | jq -r .name)"
check_eq "the first deployment becomes the default" "regression" \
    "$(inferd batch-endpoint show -n diabetes-batch | jq -r .defaults.deployment_name)"
out=$(inferd batch-endpoint invoke -n diabetes-batch --input "$EX/data")
JOB=$(printf '%s' "$out" | jq -r .name)
check_match "invoke returns a job at once" "^batchjob-" "$JOB"
check "stream follows the job until it completes" inferd job stream -n "$JOB"
check_eq "the job completed" "Completed" "$(job_field "$JOB" .status)"
check_eq "12 files in 3 mini-batches of 4" "12 3" "$(job_field "$JOB" '"\(.progress.files) \(.progress.mini_batches)"')"
check "download fetches the output" inferd job download -n "$JOB" --download-path "$TEST_TMP/dl"
PRED="$TEST_TMP/dl/named-outputs/score/predictions.csv"
check_eq "one row per input row (60)" "60" "$(wc -l < "$PRED" | tr -d ' ')"
# the same predictions straight from the model, files in inferd's order
# (sorted relative paths, sub-folders included)
cat > "$TEST_TMP/expected.py" <<'PYEOF'
import glob, os, sys, joblib, pandas as pd
ex = sys.argv[1]
model = joblib.load(os.path.join(ex, "../sklearn-diabetes/model-1/model/sklearn_regression_model.pkl"))
data = os.path.join(ex, "data")
rels = sorted(os.path.relpath(p, data) for p in glob.glob(data + "/**/*.csv", recursive=True))
for rel in rels:
    df = pd.read_csv(os.path.join(data, rel))
    for i, p in enumerate(model.predict(df.to_numpy()).round(4)):
        print(f"{os.path.basename(rel)},{i},{p}")
PYEOF
$PY "$TEST_TMP/expected.py" "$EX" > "$TEST_TMP/expected.csv"
check_eq "every row matches the model's own prediction, in order" "" \
    "$(diff "$PRED" "$TEST_TMP/expected.csv")"
inferd job download -n "$JOB" --output-name logs --download-path "$TEST_TMP/dl" >/dev/null 2>&1
check_match "the progress overview is written" "status: Completed" \
    "$(cat "$TEST_TMP/dl/logs/job_progress_overview.txt" 2>&1)"
check_match "and each scoring process has its own stdout file" "process-[0-9]+\.stdout\.txt" \
    "$(find "$TEST_TMP/dl/logs/user" -type f 2>&1)"

# ---- a few hundred small files: CSV rows and text, through a script ----
mkdir -p "$TEST_TMP/many/docs/deeper" "$TEST_TMP/many/tables" "$TEST_TMP/code"
for i in $(seq -w 1 150); do printf 'word %.0s' $(seq 1 $((10#$i % 7 + 1))) > "$TEST_TMP/many/docs/note-$i.txt"; done
for i in $(seq -w 1 50); do printf 'one two, "three"\n' > "$TEST_TMP/many/docs/deeper/q-$i.txt"; done
for i in $(seq -w 1 100); do printf 'a,b\n%d,1\n%d,2\n%d,3\n' "$((10#$i))" "$((10#$i))" "$((10#$i))" > "$TEST_TMP/many/tables/t-$i.csv"; done
cat > "$TEST_TMP/code/score.py" <<'PYEOF'
import os
def init():
    pass
def run(mini_batch):
    rows = []
    for path in mini_batch:
        name = os.path.relpath(path, os.environ["DATA_ROOT"])
        if path.endswith(".csv"):
            lines = open(path).read().splitlines()[1:]
            for line in lines:
                a, b = line.split(",")
                rows.append((name, int(a) + int(b)))
        else:
            text = open(path).read()
            rows.append((name, len(text.split()), text))
    return rows
PYEOF
printf 'name: files\nendpoint_name: files-batch\ntype: model\ncode_configuration:\n  code: code/\n  scoring_script: score.py\nresources:\n  instance_count: 2\nsettings:\n  mini_batch_size: 7\n  max_concurrency_per_instance: 2\n  environment_variables:\n    DATA_ROOT: %s\n' \
    "$TEST_TMP/store/many" > "$TEST_TMP/files.yml"
printf 'name: files-batch\n' > "$TEST_TMP/files-ep.yml"
check "create a second endpoint" inferd batch-endpoint create -f "$TEST_TMP/files-ep.yml"
check "create a script deployment (2 instances x 2 processes)" inferd batch-deployment create -f "$TEST_TMP/files.yml"
cp -r "$TEST_TMP/many" "$TEST_TMP/store/many"
out=$(inferd batch-endpoint invoke -n files-batch --input azureml://datastores/lake/paths/many \
    --output-path azureml://datastores/lake/paths/results/run1)
JOB2=$(printf '%s' "$out" | jq -r .name)
check "the datastore job completes" inferd job stream -n "$JOB2"
check_eq "300 files in 43 mini-batches" "300 43" "$(job_field "$JOB2" '"\(.progress.files) \(.progress.mini_batches)"')"
OUT2="$TEST_TMP/store/results/run1/predictions.csv"
check "the output lands in the datastore path" test -f "$OUT2"
cat > "$TEST_TMP/expected2.py" <<'PYEOF'
import csv, os, sys
root = sys.argv[1]
rels = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
w = csv.writer(sys.stdout, lineterminator="\n")
for rel in rels:
    path = os.path.join(root, rel)
    if rel.endswith(".csv"):
        for line in open(path).read().splitlines()[1:]:
            a, b = line.split(",")
            w.writerow((rel, int(a) + int(b)))
    else:
        text = open(path).read()
        w.writerow((rel, len(text.split()), text))
PYEOF
$PY "$TEST_TMP/expected2.py" "$TEST_TMP/many" > "$TEST_TMP/expected2.csv"
check_eq "500 rows: one per CSV row and one per text file (plus 50 quoted newlines)" "550" "$(wc -l < "$OUT2" | tr -d ' ')"
check_eq "row by row as computed independently, quoted as CSV" "" "$(diff "$OUT2" "$TEST_TMP/expected2.csv")"
out=$(inferd batch-endpoint invoke -n files-batch --input azureml://datastores/lake/paths/many \
    --output-path azureml://datastores/lake/paths/results/run1 2>&1)
check_eq "an output path that holds the file is refused at invoke" "1" "$?"
check_match "saying what to do" "already holds predictions.csv" "$out"
check_match "list-jobs shows the endpoint's job" "$JOB2" "$(inferd batch-endpoint list-jobs -n files-batch)"

# ---- a single file (uri_file) and a job name ----
out=$(inferd batch-endpoint invoke -n files-batch --input azureml://datastores/lake/paths/many/tables/t-007.csv \
    --input-type uri_file --job-name single-file-1 --deployment-name files \
    --set "environment_variables.DATA_ROOT=$TEST_TMP/store")
check_eq "uri_file with --job-name" "single-file-1" "$(printf '%s' "$out" | jq -r .name)"
inferd job stream -n single-file-1 >/dev/null 2>&1
check_eq "it scores the one file" "Completed 1 3" "$(job_field single-file-1 '"\(.status) \(.progress.files) \(.progress.rows)"')"
inferd job download -n single-file-1 --download-path "$TEST_TMP/one" >/dev/null 2>&1
check_eq "an invoke's environment variable overrides the deployment's" "many/tables/t-007.csv" \
    "$(cut -d, -f1 "$TEST_TMP/one/named-outputs/score/predictions.csv" | sort -u)"
out=$(inferd batch-endpoint invoke -n files-batch --input "$TEST_TMP/many/tables/t-007.csv" \
    --input-type uri_file --job-name single-file-1 2>&1)
check_match "a job name that exists is refused" "already exists" "$out"

# ---- default deployment switch ----
sed 's/^name: files$/name: second/; s/mini_batch_size: 7/mini_batch_size: 50/' "$TEST_TMP/files.yml" > "$TEST_TMP/second.yml"
check "create a second deployment" inferd batch-deployment create -f "$TEST_TMP/second.yml"
check_eq "the default stays the first" "files" "$(inferd batch-endpoint show -n files-batch | jq -r .defaults.deployment_name)"
check "switch the default with --set" inferd batch-endpoint update -n files-batch --set defaults.deployment_name=second
J=$(inferd batch-endpoint invoke -n files-batch --input "$TEST_TMP/many/tables" | jq -r .name)
check_eq "a job without --deployment-name runs on the new default" "second" "$(job_field "$J" .deployment_name)"
inferd job stream -n "$J" >/dev/null 2>&1
check_eq "with its settings (100 files in 2 mini-batches of 50)" "2" "$(job_field "$J" .progress.mini_batches)"
sed 's/^name: files$/name: third/' "$TEST_TMP/files.yml" > "$TEST_TMP/third.yml"
check "batch-deployment create --set-default" inferd batch-deployment create -f "$TEST_TMP/third.yml" --set-default
check_eq "makes it the default" "third" "$(inferd batch-endpoint show -n files-batch | jq -r .defaults.deployment_name)"
out=$(inferd batch-endpoint update -n files-batch --set defaults.deployment_name=nope 2>&1)
check_match "a default that is no deployment is refused" "nope" "$out"
printf 'name: empty-batch\n' > "$TEST_TMP/empty.yml"
check "an endpoint with no deployment" inferd batch-endpoint create -f "$TEST_TMP/empty.yml"
out=$(inferd batch-endpoint invoke -n empty-batch --input "$TEST_TMP/many/tables" 2>&1)
check_match "invoking it says there is no default and what to do" "no default deployment.*defaults.deployment_name" "$out"

# ---- MLflow model with no script: CSV files, one prediction per row ----
ML="$REPO/examples/mlflow-iris"
printf 'name: iris-batch\n' > "$TEST_TMP/iris-ep.yml"
printf 'name: mlflow\nendpoint_name: iris-batch\nmodel:\n  path: %s/model\n  type: mlflow_model\nsettings:\n  mini_batch_size: 2\n' "$ML" > "$TEST_TMP/iris.yml"
check "create an MLflow batch deployment without a script" sh -c "'$INFERD_BIN' batch-endpoint create -f '$TEST_TMP/iris-ep.yml' && '$INFERD_BIN' batch-deployment create -f '$TEST_TMP/iris.yml'"
mkdir -p "$TEST_TMP/iris"
cat > "$TEST_TMP/iris.py" <<'PYEOF'
import sys, pandas as pd
from sklearn.datasets import load_iris
X = load_iris(as_frame=True).data
for i in range(3):
    X.iloc[i*50:i*50+4].to_csv(f"{sys.argv[1]}/flowers-{i}.csv", index=False)
open(f"{sys.argv[1]}/broken.csv", "w").write("no,such\ncolumns,here\n")
PYEOF
$PY "$TEST_TMP/iris.py" "$TEST_TMP/iris"
J=$(inferd batch-endpoint invoke -n iris-batch --input "$TEST_TMP/iris" | jq -r .name)
inferd job stream -n "$J" >/dev/null 2>&1
check_eq "the MLflow job completes, the bad file counted as failed" "Completed 1" "$(job_field "$J" '"\(.status) \(.progress.files_failed)"')"
inferd job download -n "$J" --download-path "$TEST_TMP/iris-dl" >/dev/null 2>&1
IRIS="$TEST_TMP/iris-dl/named-outputs/score/predictions.csv"
check_eq "12 prediction rows, each with its source file" "flowers-0.csv flowers-1.csv flowers-2.csv 12" \
    "$(cut -d, -f1 "$IRIS" | sort -u | tr '\n' ' ')$(wc -l < "$IRIS" | tr -d ' ')"
inferd job download -n "$J" --output-name logs --download-path "$TEST_TMP/iris-dl" >/dev/null 2>&1
check_match "the error file names the bad file" "broken.csv" "$(cat "$TEST_TMP/iris-dl/logs/user/error.txt" 2>&1)"

# ---- summary_only: the script writes its own files ----
cat > "$TEST_TMP/code/summary.py" <<'PYEOF'
import os
def init():
    pass
def run(mini_batch):
    out = os.environ["AZUREML_BI_OUTPUT_PATH"]
    for path in mini_batch:
        with open(os.path.join(out, os.path.basename(path) + ".len"), "w") as f:
            f.write(str(os.path.getsize(path)))
    return mini_batch
PYEOF
printf 'name: summary\nendpoint_name: files-batch\ncode_configuration:\n  code: code/\n  scoring_script: summary.py\noutput_action: summary_only\nmini_batch_size: 10\n' > "$TEST_TMP/summary.yml"
check "a legacy root-level deployment with summary_only" inferd batch-deployment create -f "$TEST_TMP/summary.yml"
J=$(inferd batch-endpoint invoke -n files-batch --deployment-name summary --input "$TEST_TMP/many/tables" | jq -r .name)
inferd job stream -n "$J" >/dev/null 2>&1
inferd job download -n "$J" --download-path "$TEST_TMP/sum-dl" >/dev/null 2>&1
check_eq "the script's own files are the outputs" "100" "$(ls "$TEST_TMP/sum-dl/named-outputs/score/" 2>/dev/null | grep -c '\.len$')"
check_eq "and no predictions file" "no" "$(test -e "$TEST_TMP/sum-dl/named-outputs/score/predictions.csv" && echo yes || echo no)"

# ---- a conda file is checked as for online deployments ----
printf 'name: conda\nendpoint_name: files-batch\ncode_configuration:\n  code: code/\n  scoring_script: score.py\nenvironment:\n  conda_file: conda.yml\n' > "$TEST_TMP/conda-dep.yml"
printf 'dependencies:\n  - python=3.11\n  - pip:\n    - no-such-package-xyz==1.0\n' > "$TEST_TMP/conda.yml"
check "a deployment with a conda file" inferd batch-deployment create -f "$TEST_TMP/conda-dep.yml"
J=$(inferd batch-endpoint invoke -n files-batch --deployment-name conda --input "$TEST_TMP/many/tables" | jq -r .name)
inferd job stream -n "$J" >/dev/null 2>&1
check_eq "a job whose packages are missing fails" "Failed" "$(job_field "$J" .status)"
check_match "naming the package" "no-such-package-xyz" "$(job_field "$J" .reason)"

printf 'def init():\n    raise ValueError("the model file is corrupt")\ndef run(mini_batch):\n    return mini_batch\n' > "$TEST_TMP/code/broken_init.py"
printf 'name: broken\nendpoint_name: files-batch\ncode_configuration:\n  code: code/\n  scoring_script: broken_init.py\n' > "$TEST_TMP/broken.yml"
check "a deployment whose init() raises" inferd batch-deployment create -f "$TEST_TMP/broken.yml"
J=$(inferd batch-endpoint invoke -n files-batch --deployment-name broken --input "$TEST_TMP/many/tables" | jq -r .name)
inferd job stream -n "$J" >/dev/null 2>&1
check_eq "fails its job" "Failed" "$(job_field "$J" .status)"
check_match "with the script's error in the reason" "ValueError: the model file is corrupt" \
    "$(job_field "$J" .reason)"

# ---- endpoint tokens ----
T=$(inferd batch-endpoint get-credentials -n files-batch | jq -r .accessToken)
out=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $T" -H 'Content-Type: application/json' \
    -d '{"input": {"type": "uri_folder", "path": "azureml://datastores/lake/paths/many/tables"}}' \
    "$INFERD_URL/api/v1/batch-endpoints/files-batch/jobs")
check_eq "an endpoint token can invoke" "201" "$(status_of "$out")"
J=$(body_of "$out" | jq -r .name)
check_eq "and read its job" "200" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T" "$INFERD_URL/api/v1/jobs/$J")"
check_eq "but not another endpoint's job" "401" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T" "$INFERD_URL/api/v1/jobs/$JOB")"
check_eq "nor invoke another endpoint" "401" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T" -d '{}' "$INFERD_URL/api/v1/batch-endpoints/diabetes-batch/jobs")"
check_eq "nor manage deployments" "401" "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $T" "$INFERD_URL/api/v1/batch-endpoints/files-batch/deployments/files")"
inferd job stream -n "$J" >/dev/null 2>&1

# ---- bad input ----
printf 'name: bad\nendpoint_name: files-batch\ntype: model\ncode_configuration:\n  code: code/\n  scoring_script: score.py\nsettings:\n  mini_batch_size: many\n' > "$TEST_TMP/bad1.yml"
check_match "a wrong type names the field and file" "bad1.yml.*settings.mini_batch_size" "$(inferd batch-deployment create -f "$TEST_TMP/bad1.yml" 2>&1)"
printf 'name: bad\nendpoint_name: files-batch\ntype: model\nmini_batch_size: 3\ncode_configuration:\n  code: code/\n  scoring_script: score.py\n' > "$TEST_TMP/bad2.yml"
check_match "root settings with type: model say to move them" "settings" "$(inferd batch-deployment create -f "$TEST_TMP/bad2.yml" 2>&1)"
printf 'name: bad\nendpoint_name: files-batch\n  - broken: [\n' > "$TEST_TMP/bad3.yml"
check_match "malformed YAML names the file" "bad3.yml" "$(inferd batch-deployment create -f "$TEST_TMP/bad3.yml" 2>&1)"
check_match "a missing input folder is named" "nowhere" "$(inferd batch-endpoint invoke -n files-batch --input "$TEST_TMP/nowhere" 2>&1)"
out=$(api POST /api/v1/batch-endpoints/files-batch/jobs -d '{"input": {"path": "azureml://datastores/nope/paths/x"}}')
check_eq "an unknown datastore is a 400" "400" "$(status_of "$out")"
check_match "naming it" "no datastore 'nope'" "$(body_of "$out")"
out=$(api POST /api/v1/batch-endpoints/files-batch/jobs -d '{"input": {"path": "azureml://datastores/lake/paths/a/../../../etc"}}')
check_eq "a path climbing out of the datastore is refused" "400" "$(status_of "$out")"
out=$(api POST /api/v1/batch-endpoints/files-batch/jobs -d '{"input": {"path": "azureml://datastores/lake/paths/many"}, "instance_count": 9}')
check_match "instance_count over the batch capacity is refused" "batch capacity of 2" "$(body_of "$out")"
out=$(api POST /api/v1/batch-endpoints/files-batch/jobs -d '{"input": {"path": "azureml://datastores/lake/paths/many"}, "mini_batchsize": 9}')
check_match "an unknown key is named" "mini_batchsize" "$(body_of "$out")"
out=$(api POST /api/v1/batch-endpoints/files-batch/jobs -d '{"input": ')
check_eq "malformed JSON is a 400" "400" "$(status_of "$out")"
check_eq "an unknown job is a 404" "404" "$(status_of "$(api GET /api/v1/jobs/no-such-job)")"
check_eq "a finished job cannot be canceled (409)" "409" "$(status_of "$(api POST "/api/v1/jobs/$JOB/cancel")")"
out=$(api GET "/api/v1/jobs/$JOB/outputs/score/..%2F..%2F..%2F..%2Finferd.db")
check_eq "output downloads stay in the output folder" "404" "$(status_of "$out")"

# ---- delete ----
check "delete a deployment" inferd batch-deployment delete -e files-batch -n second
check "delete an endpoint with its jobs" inferd batch-endpoint delete -n diabetes-batch --yes
check_eq "its jobs are gone" "404" "$(status_of "$(api GET "/api/v1/jobs/$JOB")")"
check "and their files" test ! -e "$INFERD_HOME/jobs/$JOB"

check_stop "server stops cleanly"
done_testing
