#!/usr/bin/env bash
# unit.sh — the unit stage of scripts/test.sh: GoogleTest suites of the pure
# C++ code under common/, run through CTest.
#
#   bash scripts/test/unit.sh
#
# 1. Configures $CONCORD_ROOT/build/unit with CMake, builds everything there
#    (concord.so through CMake as well, so CMakeLists.txt cannot drift from
#    the Makefile's sources), and runs ctest.
# 2. Builds the unit tests once more in $CONCORD_ROOT/build/unit-asan with
#    CONCORD_SANITIZE=ON (AddressSanitizer + UndefinedBehaviorSanitizer) and
#    runs them again: the codec tests decode from exactly-sized buffers, so a
#    read past the end fails here.  This pass runs each suite's executable
#    once rather than one process per test through ctest: the sanitizer
#    runtime's start-up would otherwise cost more than the tests.
#
# Starts no server.  Exits non-zero if a configure, a build or any test fails;
# ctest prints the output of every failing test.
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

JOBS=${CONCORD_JOBS:-$(nproc 2>/dev/null || echo 2)}
BUILD_TYPE=${CONCORD_UNIT_BUILD_TYPE:-Debug}
PLAIN_DIR=$CONCORD_ROOT/build/unit
ASAN_DIR=$CONCORD_ROOT/build/unit-asan

command -v cmake >/dev/null || die "cmake not found (apt-get install cmake)"

# configure_build <build dir> <cmake options...>: configure and build, showing
# the compiler's output only when something fails.
configure_build() {
    local dir=$1
    shift
    local out
    if ! out=$(cmake -S "$CONCORD_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "cmake configure failed in $dir"
    fi
    if ! out=$(cmake --build "$dir" --parallel "$JOBS" 2>&1); then
        printf '%s\n' "$out" | grep -E -B2 -A12 'error|Error' >&2 || printf '%s\n' "$out" >&2
        die "build failed in $dir"
    fi
}

# run_ctest <build dir> <label>: every test, output of failures only.
run_ctest() {
    local dir=$1 label=$2 out
    if out=$(ctest --test-dir "$dir" --output-on-failure --no-tests=error --parallel "$JOBS" --timeout 300 2>&1); then
        printf '%s\n' "$out" | grep -E '^[0-9]+% tests passed' | sed "s/^/$label: /"
    else
        printf '%s\n' "$out"
        log "$label: unit tests FAILED"
        return 1
    fi
}

# run_suites <build dir> <label>: the executable of each tests/unit/*.cpp
# once (a stale one of a deleted suite is not run); a suite's output is shown
# only when it fails.
run_suites() {
    local dir=$1 label=$2 src bin out passed failed=() total=0 suites=0
    for src in "$CONCORD_ROOT"/tests/unit/*.cpp; do
        bin=$dir/unit_$(basename "$src" .cpp)
        [ -x "$bin" ] || die "$bin was not built"
        suites=$(( suites + 1 ))
        if out=$(timeout 300 "$bin" --gtest_brief=1 2>&1); then
            passed=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\.$/\1/p')
            total=$(( total + ${passed:-0} ))
        else
            printf '%s\n' "$out"
            failed+=("$(basename "$bin")")
        fi
    done
    [ $suites -gt 0 ] || die "no unit test sources in $CONCORD_ROOT/tests/unit"
    if [ ${#failed[@]} -gt 0 ]; then
        log "$label: FAILED in ${failed[*]}"
        return 1
    fi
    echo "$label: $total tests passed in $suites suites"
}

log "unit: building in $PLAIN_DIR"
configure_build "$PLAIN_DIR" -DCONCORD_BUILD_MODULE=ON -DCONCORD_SANITIZE=OFF
run_ctest "$PLAIN_DIR" "unit"

log "unit: building with AddressSanitizer and UBSan in $ASAN_DIR"
configure_build "$ASAN_DIR" -DCONCORD_BUILD_MODULE=OFF -DCONCORD_SANITIZE=ON
run_suites "$ASAN_DIR" "unit (asan+ubsan)"
