#!/usr/bin/env bash
# auth_mode aml_token: get-credentials issues signed tokens scoped to one
# endpoint that expire after --token-ttl-s; keys and foreign, tampered or
# unsigned tokens are refused; switching modes keeps the keys; tokens stay
# valid across a restart (the secret is in the store). Expiry itself is
# tested in tests/unit/gateway/test_auth.c (no waiting here).
. "$(dirname "$0")/lib.sh"

b64url_decode() {
    local s=${1//-/+}
    s=${s//_//}
    case $((${#s} % 4)) in 2) s="$s==" ;; 3) s="$s=" ;; esac
    printf '%s' "$s" | base64 -d
}
b64url_encode() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
# seconds_until ISO_TIME: from now to an ISO 8601 UTC time.
seconds_until() { echo $(($(date -d "$1" +%s) - $(date +%s))); }
# unauthorized TEST_NAME ENDPOINT CREDENTIAL PATTERN: 401 with a message.
unauthorized() {
    local out
    out=$(score "$2" "$3")
    check_eq "$1: 401" "401" "$(status_of "$out")"
    check_match "$1: says why" "$4" "$(body_of "$out")"
}

out=$("$INFERD_BIN" serve --token-ttl-s 59 2>&1)
check_eq "--token-ttl-s below 60 is refused" "2" "$?"
check_match "naming the flag and the range" "token-ttl-s 59: expected 60 to 86400" "$out"

start_server || exit 1
EX=$(copy_example)
sed -i 's/^auth_mode: key$/auth_mode: aml_token/' "$EX/endpoint.yml"
check "create an aml_token endpoint" inferd online-endpoint create -f "$EX/endpoint.yml"
check_eq "its auth_mode is aml_token" "aml_token" \
    "$(inferd online-endpoint show -n diabetes-endpoint | jq -r .auth_mode)"
check "deploy blue with all traffic" \
    inferd online-deployment create -f "$EX/blue-deployment.yml" --all-traffic

# --- get-credentials ---
creds=$(inferd online-endpoint get-credentials -n diabetes-endpoint)
check_eq "get-credentials prints the token fields" \
    "accessToken expiryTimeUtc refreshAfterTimeUtc" "$(jq -r 'keys | join(" ")' <<<"$creds")"
TOK=$(jq -r .accessToken <<<"$creds")
EXPIRY=$(jq -r .expiryTimeUtc <<<"$creds")
check_match "expiryTimeUtc is ISO 8601 UTC" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' \
    "$EXPIRY"
left=$(seconds_until "$EXPIRY")
check "the token expires in about 1 h by default ($left s)" test "$left" -ge 3590 -a "$left" -le 3600
left=$(seconds_until "$(jq -r .refreshAfterTimeUtc <<<"$creds")")
check "refresh after half the lifetime ($left s)" test "$left" -ge 1790 -a "$left" -le 1800

IFS=. read -r HEAD PAYLOAD SIG <<<"$TOK"
check_eq "the token is an HS256 JWT" "HS256" "$(b64url_decode "$HEAD" | jq -r .alg)"
claims=$(b64url_decode "$PAYLOAD")
check_eq "issued by inferd for this endpoint" "inferd diabetes-endpoint" \
    "$(jq -r '"\(.iss) \(.aud)"' <<<"$claims")"
check_eq "its exp claim is expiryTimeUtc" "$(date -d "$EXPIRY" +%s)" "$(jq -r .exp <<<"$claims")"
TOK2=$(inferd online-endpoint get-credentials -n diabetes-endpoint | jq -r .accessToken)
check_fails "every call issues a new token" test "$TOK" = "$TOK2"

out=$(api POST /api/v1/online-endpoints/diabetes-endpoint/token)
check_eq "POST .../token: 200" "200" "$(status_of "$out")"
check_eq "with tokenType Bearer" "Bearer" "$(body_of "$out" | jq -r .tokenType)"
out=$(curl -s -w '\n%{http_code}' -X POST "$INFERD_URL/api/v1/online-endpoints/diabetes-endpoint/token")
check_eq "the token route needs the admin token" "401" "$(status_of "$out")"
out=$(api POST /api/v1/online-endpoints/nosuch/token)
check_eq "token for an unknown endpoint: 404" "404" "$(status_of "$out")"
out=$(api GET /api/v1/online-endpoints/diabetes-endpoint/keys)
check_eq "the keys route of a token endpoint: 400" "400" "$(status_of "$out")"
check_match "pointing to the token route" "uses aml_token auth: get a token with POST .*/token" \
    "$(body_of "$out")"

# --- scoring with tokens ---
out=$(inferd online-endpoint invoke -n diabetes-endpoint -r "$EX/sample-request.json")
check_match "CLI invoke works (it fetches a token)" '^\[' "$out"
out=$(score diabetes-endpoint "$TOK")
check_eq "curl with the token: 200" "200" "$(status_of "$out")"
check_match "and predictions" '^\[[-0-9.e]+, ?[-0-9.e]+\]$' "$(body_of "$out")"
check_eq "the second token works too" "200" "$(status_of "$(score diabetes-endpoint "$TOK2")")"
out=$(curl -s -w '\n%{http_code}' -d '{}' "$INFERD_URL/endpoints/diabetes-endpoint/score")
check_eq "no credential: 401" "401" "$(status_of "$out")"
check_match "says a token is needed" "missing credential.*aml_token" "$(body_of "$out")"

# Flip one character in the middle of the signature.
mid=$((${#SIG} / 2))
c=${SIG:$mid:1}
[ "$c" = A ] && c=B || c=A
unauthorized "a tampered signature" diabetes-endpoint "$HEAD.$PAYLOAD.${SIG:0:$mid}$c${SIG:$((mid + 1))}" \
    "bad signature"
# The claims edited (a later expiry) under the original signature.
later=$(jq -c '.exp += 86400' <<<"$claims")
unauthorized "edited claims" diabetes-endpoint "$HEAD.$(b64url_encode "$later").$SIG" "bad signature"
unauthorized "an unsigned token (alg none)" diabetes-endpoint \
    "$(b64url_encode '{"alg":"none","typ":"JWT"}').$PAYLOAD." "algorithm 'none' is not accepted"

# --- keys and a second endpoint, switching modes ---
printf 'name: other-ep\nauth_mode: key\n' > "$EX/other.yml"
check "create a key endpoint" inferd online-endpoint create -f "$EX/other.yml"
KEY=$(key_of other-ep)
# Auth comes before routing: with no deployment, a good credential gets 404.
check_eq "its key passes auth (404: no deployment)" "404" "$(status_of "$(score other-ep "$KEY")")"
unauthorized "a token sent to a key endpoint" other-ep "$TOK" "uses key auth"
out=$(api POST /api/v1/online-endpoints/other-ep/token)
check_eq "no tokens for a key endpoint: 400" "400" "$(status_of "$out")"
check_match "saying it uses keys" "uses key auth.*get-credentials" "$(body_of "$out")"

check "switch it to aml_token" inferd online-endpoint update -n other-ep --set auth_mode=aml_token
unauthorized "its key, once in token mode" other-ep "$KEY" "uses aml_token auth: keys are not accepted"
unauthorized "a key sent to a token endpoint" diabetes-endpoint "$KEY" "uses aml_token auth"
OTHER_TOK=$(inferd online-endpoint get-credentials -n other-ep | jq -r .accessToken)
check_eq "its own token passes auth (404: no deployment)" "404" \
    "$(status_of "$(score other-ep "$OTHER_TOK")")"
unauthorized "a token of another endpoint" diabetes-endpoint "$OTHER_TOK" \
    "issued for endpoint 'other-ep', not 'diabetes-endpoint'"
unauthorized "and the other way round" other-ep "$TOK" "issued for endpoint 'diabetes-endpoint'"

check "switch it back to key" inferd online-endpoint update -n other-ep --set auth_mode=key
check_eq "the kept key works again" "404" "$(status_of "$(score other-ep "$KEY")")"
check_eq "get-credentials shows keys again" "$KEY" \
    "$(inferd online-endpoint get-credentials -n other-ep | jq -r .primaryKey)"
unauthorized "its old token, back in key mode" other-ep "$OTHER_TOK" "uses key auth"

# --- a restart keeps tokens valid; --token-ttl-s sets their lifetime ---
check_stop "server stops cleanly"
start_server --token-ttl-s 120 || exit 1
status=""
for _ in $(seq 1 100); do
    status=$(status_of "$(score diabetes-endpoint "$TOK")")
    [ "$status" = 503 ] || break # 503 until blue is ready again
    sleep 0.1
done
check_eq "a token from before the restart still works" "200" "$status"
creds=$(inferd online-endpoint get-credentials -n diabetes-endpoint)
left=$(seconds_until "$(jq -r .expiryTimeUtc <<<"$creds")")
check "with --token-ttl-s 120 tokens expire in about 120 s ($left s)" \
    test "$left" -ge 110 -a "$left" -le 120
check_eq "and work" "200" \
    "$(status_of "$(score diabetes-endpoint "$(jq -r .accessToken <<<"$creds")")")"

check_stop "server stops cleanly after the restart"
done_testing
