#!/usr/bin/env bash
# fuzz.sh — the fuzz stage of scripts/test.sh: a short libFuzzer smoke of the
# wire codec (tests/fuzz/, see tests/fuzz/README.md).
#
#   bash scripts/test/fuzz.sh                               # CI smoke: 15 s per target
#   CONCORD_FUZZ_SECONDS=600 bash scripts/test/fuzz.sh      # 10 minutes per target
#   CONCORD_FUZZ_TARGETS="describe" bash scripts/test/fuzz.sh
#
# 1. Installs clang-14, libclang-rt-14-dev and llvm-14 when missing (as root)
#    and builds the fuzzers with -fsanitize=fuzzer,address,undefined in
#    $CONCORD_ROOT/build/fuzz (make -C tests/fuzz).
# 2. Checks tests/fuzz/corpus/ is exactly what tests/fuzz/make_corpus.cpp
#    writes (the generator also checks each seed decodes as its name says).
# 3. Replays every saved reproducer in tests/fuzz/crashes/<target>/: each
#    one once crashed a fuzzer and must pass now.
# 4. Fuzzes each target for CONCORD_FUZZ_SECONDS from its seed corpus.  New
#    inputs go to $CONCORD_TEST_WORK/fuzz/corpus/<target>, never into the
#    repository; a crash, leak, UBSan report, timeout or memory blow-up fails
#    the stage, prints the report and leaves the input in
#    $CONCORD_TEST_WORK/fuzz/artifacts/ (copy it to tests/fuzz/crashes/<target>/
#    once the bug is fixed).
#
# Starts no server.  Exits non-zero if the build, the corpus check, a
# reproducer or a fuzzing run fails.
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

SECONDS_PER_TARGET=${CONCORD_FUZZ_SECONDS:-15}
TARGETS=${CONCORD_FUZZ_TARGETS:-apply_decoder describe roundtrip}
JOBS=${CONCORD_JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_DIR=$CONCORD_ROOT/tests/fuzz
BUILD=${CONCORD_FUZZ_BUILD:-$CONCORD_ROOT/build/fuzz}

own_work=
if [ -z "${CONCORD_TEST_WORK:-}" ]; then
    CONCORD_TEST_WORK=$(mktemp -d /tmp/concord-test.XXXXXX)
    own_work=1
fi
WORK=$CONCORD_TEST_WORK/fuzz
mkdir -p "$WORK"

# The compiler, libFuzzer's runtime and llvm-symbolizer (readable stacks).
ensure_toolchain() {
    install_deps clang-14 libclang-rt-14-dev llvm-14
}

# run_quiet <what> <command...>: the command's output only when it fails.
run_quiet() {
    local what=$1 out
    shift
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "$what failed"
    fi
}

ensure_toolchain
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ] && export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer

log "fuzz: building in $BUILD"
run_quiet "fuzz build" make -C "$FUZZ_DIR" -s -j"$JOBS" BUILD="$BUILD" all
run_quiet "fuzz corpus check" make -C "$FUZZ_DIR" -s BUILD="$BUILD" check-corpus

failed=()
for target in $TARGETS; do
    fuzzer=$BUILD/${target}_fuzzer
    [ -x "$fuzzer" ] || die "unknown fuzz target $target"
    [ -d "$FUZZ_DIR/corpus/$target" ] || die "no seed corpus in tests/fuzz/corpus/$target"

    # Saved reproducers: libFuzzer runs each file given by name once.
    shopt -s nullglob
    repros=("$FUZZ_DIR/crashes/$target"/*)
    shopt -u nullglob
    if [ ${#repros[@]} -gt 0 ]; then
        if ! out=$("$fuzzer" "${repros[@]}" 2>&1); then
            printf '%s\n' "$out" | tail -n 60
            log "fuzz: $target: a saved reproducer in tests/fuzz/crashes/$target fails again"
            failed+=("$target")
            continue
        fi
    fi

    mkdir -p "$WORK/corpus/$target" "$WORK/artifacts"
    logfile=$WORK/$target.log
    if "$fuzzer" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$WORK/artifacts/$target-" \
        "$WORK/corpus/$target" "$FUZZ_DIR/corpus/$target" >"$logfile" 2>&1; then
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$logfile" | tail -n 1 || true)
        log "fuzz: $target: ${#repros[@]} reproducer(s) pass; ${done_line:-finished}"
    else
        grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|RELOAD)' "$logfile" | tail -n 80
        log "fuzz: $target FAILED (log: $logfile; input: $(ls "$WORK/artifacts/$target-"* 2>/dev/null | head -n 1))"
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    log "fuzz: failed targets: ${failed[*]}"
    exit 1
fi
[ -n "$own_work" ] && rm -rf "$CONCORD_TEST_WORK"
exit 0
