#!/usr/bin/env bash
# The REST API over plain HTTP: auth, malformed bodies, unknown objects,
# conflicts, size limits and unsafe archives, each with the right status
# and a JSON error that names what is wrong.
. "$(dirname "$0")/lib.sh"
start_server --max-body-mb 1 --max-artifact-mb 1 || exit 1

out=$(curl -s -w '\n%{http_code}' "$INFERD_URL/health")
check_eq "health answers 200" "200" "$(status_of "$out")"

out=$(curl -s -w '\n%{http_code}' "$INFERD_URL/api/v1/online-endpoints")
check_eq "no admin token: 401" "401" "$(status_of "$out")"
check_eq "error has the JSON shape" "Unauthorized" "$(body_of "$out" | jq -r .error.code)"
out=$(curl -s -w '\n%{http_code}' -H 'Authorization: Bearer nope' "$INFERD_URL/api/v1/online-endpoints")
check_eq "wrong admin token: 401" "401" "$(status_of "$out")"

out=$(api PUT /api/v1/online-endpoints/ep-one -d '{"name": "ep-one",')
check_eq "malformed JSON: 400" "400" "$(status_of "$out")"
check_match "says the body is not JSON" "not valid JSON" "$(body_of "$out" | jq -r .error.message)"

out=$(api PUT /api/v1/online-endpoints/ep-one -d '[1,2]')
check_eq "JSON that is not an object: 400" "400" "$(status_of "$out")"

out=$(api PUT /api/v1/online-endpoints/ep-one -d '{"name": "ep-two"}')
check_eq "name mismatch between URL and body: 400" "400" "$(status_of "$out")"
check_match "names both" "ep-two.*ep-one" "$(body_of "$out")"

out=$(api PUT /api/v1/online-endpoints/x -d '{}')
check_eq "invalid endpoint name in URL: 400" "400" "$(status_of "$out")"

out=$(api PUT /api/v1/online-endpoints/ep-one -d '{"auth_mode": "password"}')
check_eq "bad auth_mode: 400" "400" "$(status_of "$out")"
check_match "names the field" "auth_mode" "$(body_of "$out")"

out=$(api PUT /api/v1/online-endpoints/ep-one -d '{"traffic": {"blue": 100}}')
check_eq "traffic naming a missing deployment: 400" "400" "$(status_of "$out")"
check_match "names the deployment" "blue" "$(body_of "$out")"

out=$(api PUT /api/v1/online-endpoints/ep-one -d '{"description": "first"}')
check_eq "create endpoint over the API: 201" "201" "$(status_of "$out")"
out=$(api PUT /api/v1/online-endpoints/ep-one -d '{"description": "second"}')
check_eq "replace it: 200" "200" "$(status_of "$out")"
check_eq "replaced" "second" "$(body_of "$out" | jq -r .description)"

check_eq "unknown endpoint: 404" "404" "$(status_of "$(api GET /api/v1/online-endpoints/nope-nope)")"
check_eq "unknown deployment: 404" "404" \
    "$(status_of "$(api GET /api/v1/online-endpoints/ep-one/deployments/nope)")"
check_eq "unknown API route: 404" "404" "$(status_of "$(api GET /api/v1/widgets)")"
out=$(curl -s -w '\n%{http_code}' -H 'Authorization: Bearer k' -d '{}' "$INFERD_URL/endpoints/nope-nope/score")
check_eq "scoring an unknown endpoint: 404" "404" "$(status_of "$out")"

out=$(api POST /api/v1/online-endpoints/ep-one/keys/regenerate -d '{"key_type": "tertiary"}')
check_eq "bad key_type: 400" "400" "$(status_of "$out")"

# deployments referring to artifacts that were never uploaded
fake=$(printf '%064d' 0)
out=$(api PUT /api/v1/online-endpoints/ep-one/deployments/blue -H 'Content-Type: application/json' \
    -d "{\"model\": {\"path\": \"artifact:$fake\"}, \"code_configuration\": {\"code\": \"artifact:$fake\", \"scoring_script\": \"score.so\"}}")
check_eq "deployment with a missing artifact: 400" "400" "$(status_of "$out")"
check_match "says to upload it" "not found.*upload" "$(body_of "$out")"

out=$(api PUT /api/v1/online-endpoints/ep-one/deployments/blue \
    -d '{"model": {"path": "/etc"}, "code_configuration": {"code": "/tmp", "scoring_script": "score.so"}}')
check_eq "deployment with local paths over the API: 400" "400" "$(status_of "$out")"
check_match "names model.path" "model.path" "$(body_of "$out")"

out=$(api PUT /api/v1/online-endpoints/ep-one/deployments/blue \
    -d '{"environment": {"inference_config": {"liveness_route": {"port": 5001, "path": "/"}, "readiness_route": {"port": 5001, "path": "/"}, "scoring_route": {"port": 5001, "path": "/score"}}}}')
check_eq "a custom container (inference_config) in this build: 400" "400" "$(status_of "$out")"
check_match "says which backend is missing" "custom" "$(body_of "$out")"

out=$(api PUT /api/v1/online-endpoints/ep-one/deployments/blue -d '{"model": "azureml:my-model:1"}')
check_eq "azureml: model reference: 400" "400" "$(status_of "$out")"
check_match "says to use a path" "path" "$(body_of "$out")"

# archives
mkdir -p "$TEST_TMP/evil/sub"
echo secret > "$TEST_TMP/evil/sub/x"
(cd "$TEST_TMP/evil/sub" && tar -cf "$TEST_TMP/dotdot.tar" -P ../sub/x)
out=$(api POST /api/v1/artifacts --data-binary @"$TEST_TMP/dotdot.tar" -H 'Content-Type: application/x-tar')
check_eq "archive with '..': 400" "400" "$(status_of "$out")"
check_match "names the entry" '\.\./sub/x' "$(body_of "$out")"
(cd "$TEST_TMP" && tar -cf "$TEST_TMP/abs.tar" -P "$TEST_TMP/evil/sub/x")
out=$(api POST /api/v1/artifacts --data-binary @"$TEST_TMP/abs.tar" -H 'Content-Type: application/x-tar')
check_eq "archive with an absolute path: 400" "400" "$(status_of "$out")"
ln -s /etc/passwd "$TEST_TMP/evil/link"
(cd "$TEST_TMP/evil" && tar -cf "$TEST_TMP/link.tar" link)
out=$(api POST /api/v1/artifacts --data-binary @"$TEST_TMP/link.tar" -H 'Content-Type: application/x-tar')
check_eq "archive with a link leaving it: 400" "400" "$(status_of "$out")"
head -c 100 /dev/urandom > "$TEST_TMP/garbage.tar"
out=$(api POST /api/v1/artifacts --data-binary @"$TEST_TMP/garbage.tar" -H 'Content-Type: application/x-tar')
check_eq "garbage instead of a tar: 400" "400" "$(status_of "$out")"
head -c 2000000 /dev/zero > "$TEST_TMP/big.bin"
out=$(api POST /api/v1/artifacts --data-binary @"$TEST_TMP/big.bin" -H 'Content-Type: application/x-tar')
check_eq "archive over --max-artifact-mb: 413" "413" "$(status_of "$out")"
check_eq "no artifact was stored" "0" "$(find "$INFERD_HOME/artifacts" -mindepth 1 -maxdepth 1 | wc -l)"

(cd "$TEST_TMP/evil" && tar -cf "$TEST_TMP/ok.tar" sub)
out=$(api POST /api/v1/artifacts --data-binary @"$TEST_TMP/ok.tar" -H 'Content-Type: application/x-tar')
check_eq "a clean archive: 201" "201" "$(status_of "$out")"
id=$(body_of "$out" | jq -r .id)
check_eq "its id is the archive's SHA-256" "$(sha256sum "$TEST_TMP/ok.tar" | cut -d' ' -f1)" "$id"
out=$(api POST /api/v1/artifacts --data-binary @"$TEST_TMP/ok.tar" -H 'Content-Type: application/x-tar')
check_eq "the same archive again: 200" "200" "$(status_of "$out")"
check_eq "GET the artifact" "200" "$(status_of "$(api GET "/api/v1/artifacts/$id")")"
check_eq "GET a bad artifact id: 400" "400" "$(status_of "$(api GET /api/v1/artifacts/xyz)")"

out=$(curl -s -w '\n%{http_code}' -H 'Authorization: Bearer k' --data-binary @"$TEST_TMP/big.bin" \
    "$INFERD_URL/endpoints/ep-one/score")
check_eq "a scoring body over the limit: 413" "413" "$(status_of "$out")"

check_stop "server stops cleanly"
done_testing
