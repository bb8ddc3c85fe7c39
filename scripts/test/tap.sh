#!/usr/bin/env bash
# tap.sh — the "tap" stage: concord's multi-node Perl TAP scenarios
# (tests/tap/NNN_*.pl, PostgreSQL::Test::Cluster), each file run by prove as
# the postgres user (PostgreSQL refuses root) in a postgres-owned directory.
#
#   bash scripts/test/tap.sh              # every scenario
#   bash scripts/test/tap.sh 003 007      # scenarios whose file name starts so
#
# Work directory: $CONCORD_TEST_WORK/tap (scripts/test.sh exports it; a fresh
# temporary directory otherwise).  Cluster.pm keeps each node's server log
# under tmp_check/log; on failure the tail of each log of the failed scenario
# is printed.  Exits non-zero if any scenario fails.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

PG_LIBDIR=$("$PG_BINDIR/pg_config" --pkglibdir)
PGXS_DIR=$(dirname "$("$PG_BINDIR/pg_config" --pgxs)")
PG_PERL_DIR=$(cd "$PGXS_DIR/../test/perl" && pwd)
PG_REGRESS_BIN=$(cd "$PGXS_DIR/../test/regress" && pwd)/pg_regress
TAP_DIR=$CONCORD_ROOT/tests/tap

[ -x "$PG_REGRESS_BIN" ] || die "pg_regress not found at $PG_REGRESS_BIN"
[ -f "$PG_PERL_DIR/PostgreSQL/Test/Cluster.pm" ] || die "PostgreSQL's TAP modules not found under $PG_PERL_DIR"
[ -f "$PG_LIBDIR/concord.so" ] || die "concord is not installed (run make install)"

base=${CONCORD_TEST_WORK:-}
own_base=
if [ -z "$base" ]; then
    base=$(mktemp -d /tmp/concord-tap.XXXXXX)
    chmod 755 "$base"
    own_base=$base
fi
work=$base/tap
rm -rf "$work"
mkdir -p "$work"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$work"

# The scenarios to run: all, or those whose names start with an argument.
tests=()
for t in "$TAP_DIR"/[0-9]*.pl; do
    [ -e "$t" ] || continue
    if [ $# -eq 0 ]; then
        tests+=("$t")
    else
        for want in "$@"; do
            case "$(basename "$t")" in "$want"*) tests+=("$t"); break ;; esac
        done
    fi
done
[ ${#tests[@]} -gt 0 ] || die "no TAP scenarios selected"

# Prints the tail of the scenario's own log and of each of its nodes' server
# logs (without the statements the tests' polling logs, which would fill it).
show_logs() {
    local name=$1 lines=${CONCORD_TAP_LOG_LINES:-60} f
    f=$work/tmp_check/log/regress_log_$name
    if [ -f "$f" ]; then
        printf '\n----- tail of %s -----\n' "$f"
        tail -n "$lines" "$f"
    fi
    for f in "$work/tmp_check/log/${name}"_*.log; do
        [ -f "$f" ] || continue
        printf '\n----- tail of %s (statements omitted) -----\n' "$f"
        { grep -v ' LOG:  statement: ' "$f" || true; } | tail -n "$lines"
    done
}

# Stops every server a scenario left running under our work directory (a
# scenario that bails out while stopping its nodes, e.g. because one of them
# crashed, leaves the others up), through pg_ctl on each data directory.
# shellcheck disable=SC2317  # also run by the EXIT trap
stop_leftover_servers() {
    local pid_file dir
    [ -d "$work" ] || return 0
    while IFS= read -r pid_file; do
        dir=$(dirname "$pid_file")
        echo "stopping a server the scenario left running: $dir" >&2
        as_pg "$PG_BINDIR/pg_ctl" -D "$dir" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
    done < <(find "$work" -name postmaster.pid 2>/dev/null)
}
trap stop_leftover_servers EXIT

failed=()
summary=()
for t in "${tests[@]}"; do
    name=$(basename "$t" .pl)
    start=$(date +%s)
    if as_pg env -C "$work" \
        PATH="$PG_BINDIR:$PATH" \
        PG_REGRESS="$PG_REGRESS_BIN" \
        TESTDIR="$work" \
        PERL5LIB="$PG_PERL_DIR:$TAP_DIR/lib${PERL5LIB:+:$PERL5LIB}" \
        PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-180}" \
        prove ${CONCORD_PROVE_FLAGS:-} "$t"; then
        summary+=("ok      $name ($(( $(date +%s) - start ))s)")
    else
        summary+=("FAILED  $name ($(( $(date +%s) - start ))s)")
        failed+=("$name")
        show_logs "$name"
    fi
    stop_leftover_servers
done

printf '\nTAP scenarios:\n'
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    printf 'failed: %s (logs under %s/tmp_check/log)\n' "${failed[*]}" "$work" >&2
    exit 1
fi
# A work directory of our own goes once everything passed (test.sh removes its own).
[ -z "$own_base" ] || rm -rf "$own_base"
