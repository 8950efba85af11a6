#!/usr/bin/env bash
# Runs every test against each build directory given (e.g. `build build-asan`):
# the cmocka unit binaries (TAP output) and the integration scripts, through
# prove. Exits non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
status=0
for build in "$@"; do
    echo "== inferd tests: $build =="
    export INFERD_BIN="$PWD/$build/inferd"
    export CMOCKA_MESSAGE_OUTPUT=TAP
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    # CPython and the extension modules it loads keep memory until exit by
    # design; our own leaks are still reported.
    export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
    mapfile -t units < <(find "$build/tests/unit" -type f -perm -u+x | sort)
    mapfile -t integ < <(find tests/integration -name '*.t' | sort)
    scripts=()
    [ "$build" = "$1" ] && scripts=(tests/unit/python.t) # build-independent: once
    if ! prove --exec '' --timer "${units[@]}" "${scripts[@]}" "${integ[@]}"; then
        status=1
    fi
done
exit $status
