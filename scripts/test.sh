#!/usr/bin/env bash
# test.sh — concord's whole test suite, from a fresh Debian machine.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh unit tap   # chosen stages only
#
# Installs what it needs (Debian packages, when run as root), builds and
# installs concord, then runs the stages in order:
#   unit     GoogleTest unit tests of the pure C++ code (CTest)
#   regress  pg_regress: the SQL surface and its errors, the output plugin
#   pgtap    pgTAP: catalog and behaviour checks
#   tap      Perl TAP (PostgreSQL::Test::Cluster): multi-node scenarios
#   fuzz     libFuzzer smoke of the wire codec (tests/fuzz/)
#   bench    the benchmark's smoke run (small sizes, no timing asserted)
# Every server a stage starts is stopped by that stage, also on failure.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(unit fuzz regress pgtap tap bench)

install_deps
build_install

export CONCORD_TEST_WORK=${CONCORD_TEST_WORK:-$(mktemp -d /tmp/concord-test.XXXXXX)}
chmod 755 "$CONCORD_TEST_WORK"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$CONCORD_TEST_WORK"

failed=()
for stage in "${stages[@]}"; do
    script="$CONCORD_ROOT/scripts/test/$stage.sh"
    [ -f "$script" ] || die "unknown stage $stage"
    log "stage $stage"
    start=$(date +%s)
    if bash "$script"; then
        log "stage $stage passed in $(( $(date +%s) - start ))s"
    else
        log "stage $stage FAILED after $(( $(date +%s) - start ))s"
        failed+=("$stage")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    log "failed stages: ${failed[*]} (work directory: $CONCORD_TEST_WORK)"
    exit 1
fi
log "all stages passed"
rm -rf "$CONCORD_TEST_WORK"
