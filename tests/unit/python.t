#!/usr/bin/env bash
# The Python side of inferd (python/: the scoring runtime, the compatibility
# modules, the MLflow scorer), through unittest, reported as TAP.
cd "$(dirname "$0")/../.."
out=$(/usr/bin/python3.11 -m unittest discover -v -s python/tests -t python 2>&1)
rc=$?
n=0
while IFS= read -r line; do
    case "$line" in
        *" ... ok") n=$((n + 1)); echo "ok $n - ${line% ... ok}" ;;
        *" ... skipped"*) n=$((n + 1)); echo "ok $n - ${line%% ... *} # SKIP" ;;
        *" ... FAIL" | *" ... ERROR") n=$((n + 1)); echo "not ok $n - ${line% ... *}" ;;
    esac
done <<< "$out"
if [ "$rc" -ne 0 ]; then
    n=$((n + 1)); echo "not ok $n - unittest exited $rc"
    printf '%s\n' "$out" | tail -n 60 | sed 's/^/# /'
fi
echo "1..$n"
