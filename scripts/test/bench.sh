#!/usr/bin/env bash
# bench.sh — the "bench" stage of scripts/test.sh: the benchmark's smoke run,
# so that bench/ cannot rot.
#
#   bash scripts/test/bench.sh
#
# Runs `bash bench/run.sh --smoke`: every phase (catch-up, origin overhead,
# lag, 2- and 3-node meshes, instruction counts under valgrind) for every
# system (concord, native logical replication, pglogical with heap and with
# SPI apply), with tiny sizes and one repetition.  No timing is asserted:
# the stage fails only if the run fails — a harness error, a system that
# errors or times out, or a subscriber whose data differs from its origin
# after catching up.
#
# Its instances live under $CONCORD_TEST_WORK/bench (ports 5860-5870, so a
# benchmark someone runs by hand on the default ports is not disturbed) and
# are stopped by run.sh's EXIT trap; the results go to
# $CONCORD_TEST_WORK/bench/out.  On failure the summary run.sh printed names
# the failed measurements with the server log lines written meanwhile.
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

if [ -z "${CONCORD_TEST_WORK:-}" ]; then
    CONCORD_TEST_WORK=$(mktemp -d /tmp/concord-test.XXXXXX)
    chmod 755 "$CONCORD_TEST_WORK"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$CONCORD_TEST_WORK"
fi
work=$CONCORD_TEST_WORK/bench
rm -rf "$work/out"
mkdir -p "$work/out"

log "bench: bash bench/run.sh --smoke (instances under $work/instances)"
BENCH_WORK_DIR=$work/instances bash "$CONCORD_ROOT/bench/run.sh" --smoke --port-base 5860 --out "$work/out"
