#!/usr/bin/env bash
# Online endpoints through the CLI: create, show, list, credentials, keys,
# and bad YAML that must fail clearly and change nothing.
. "$(dirname "$0")/lib.sh"
start_server || exit 1
EX=$(copy_example)

out=$(inferd online-endpoint create -f "$EX/endpoint.yml" 2>&1)
check_match "create endpoint from the example YAML" '"name": "diabetes-endpoint"' "$out"
check_match "endpoint has a scoring URI" "\"scoring_uri\": \"$INFERD_URL/endpoints/diabetes-endpoint/score\"" "$out"
check_match "auth_mode defaults to key" '"auth_mode": "key"' "$out"

out=$(inferd online-endpoint create -f "$EX/endpoint.yml" 2>&1)
check_eq "creating it twice fails" "1" "$?"
check_match "and says to use update" "already exists" "$out"

check_eq "list shows it" "diabetes-endpoint" "$(inferd online-endpoint list | jq -r '.value[].name')"
check_eq "show returns it" "diabetes-endpoint" "$(inferd online-endpoint show -n diabetes-endpoint | jq -r .name)"

creds=$(inferd online-endpoint get-credentials -n diabetes-endpoint)
k1=$(printf '%s' "$creds" | jq -r .primaryKey)
k2=$(printf '%s' "$creds" | jq -r .secondaryKey)
check_match "primary key is 64 hex chars" '^[0-9a-f]{64}$' "$k1"
check_match "secondary key is 64 hex chars" '^[0-9a-f]{64}$' "$k2"

out=$(inferd online-endpoint regenerate-keys -n diabetes-endpoint --key-type secondary)
check_eq "regenerating secondary keeps primary" "$k1" "$(printf '%s' "$out" | jq -r .primaryKey)"
n2=$(printf '%s' "$out" | jq -r .secondaryKey)
check_fails "regenerating secondary changes it" test "$n2" = "$k2"

out=$(inferd online-endpoint update -n diabetes-endpoint --set description="hello there" 2>&1)
check_eq "update --set changes the description" "hello there" "$(printf '%s' "$out" | jq -r .description)"

# --- bad YAML: each fails with a clear message and changes nothing ---
before=$(inferd online-endpoint list | jq -c '[.value[] | {name, description, traffic}]')

printf 'name: bad-keys\nauth_mode: key\ncolour: blue\n' > "$TEST_TMP/unknown.yml"
out=$(inferd online-endpoint create -f "$TEST_TMP/unknown.yml" 2>&1)
check_eq "unknown key: exit 1" "1" "$?"
check_match "unknown key: names the key and file" "unknown.yml.*colour" "$out"

printf 'name: 9lives\n' > "$TEST_TMP/badname.yml"
out=$(inferd online-endpoint create -f "$TEST_TMP/badname.yml" 2>&1)
check_eq "bad name: exit 1" "1" "$?"
check_match "bad name: names the value" "9lives" "$out"

printf 'name: ep-traffic\ntraffic:\n  blue: 90\n  green: 20\n' > "$TEST_TMP/traffic.yml"
out=$(inferd online-endpoint create -f "$TEST_TMP/traffic.yml" 2>&1)
check_eq "traffic over 100: exit 1" "1" "$?"
check_match "traffic over 100: says so" "traffic.*(100|110)" "$out"

printf 'name: [unclosed\n' > "$TEST_TMP/malformed.yml"
out=$(inferd online-endpoint create -f "$TEST_TMP/malformed.yml" 2>&1)
check_eq "malformed YAML: exit 1" "1" "$?"
check_match "malformed YAML: names the file and line" "malformed.yml.*line" "$out"

out=$(inferd online-endpoint create -f "$TEST_TMP/missing.yml" 2>&1)
check_eq "missing file: exit 1" "1" "$?"
check_match "missing file: names it" "missing.yml" "$out"

printf 'name: aad-ep\nauth_mode: aad_token\n' > "$TEST_TMP/aad.yml"
out=$(inferd online-endpoint create -f "$TEST_TMP/aad.yml" 2>&1)
check_eq "aad_token: exit 1" "1" "$?"
check_match "aad_token: says it is Azure-only" "aad_token" "$out"

printf 'name: azure-ep\ncompute: azureml:cpu-cluster\n' > "$TEST_TMP/azure.yml"
out=$(inferd online-endpoint create -f "$TEST_TMP/azure.yml" 2>&1)
check_eq "Azure-only key is accepted" "0" "$?"
check_match "with a note that it is ignored" "note:.*compute" "$out"
inferd online-endpoint delete -n azure-ep >/dev/null

after=$(inferd online-endpoint list | jq -c '[.value[] | {name, description, traffic}]')
check_eq "bad files changed nothing" "$before" "$after"

out=$(inferd online-endpoint show -n no-such-endpoint 2>&1)
check_eq "show unknown endpoint: exit 1" "1" "$?"
check_match "show unknown endpoint: not found" "not found" "$out"

check "delete endpoint" inferd online-endpoint delete -n diabetes-endpoint
check_eq "list is empty after delete" "0" "$(inferd online-endpoint list | jq '.value | length')"

check_stop "server stops cleanly on SIGTERM"
done_testing
