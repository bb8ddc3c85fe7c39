#!/usr/bin/env bash
# regress.sh — the pg_regress stage of scripts/test.sh.
#
#   bash scripts/test/regress.sh
#
# 1. tests/regress/sql/*.sql against a temporary instance configured with
#    tests/regress/concord.conf (the settings every concord node needs).
# 2. tests/regress/settings/sql/<name>.sql, each against its own temporary
#    instance configured with tests/regress/settings/<name>.conf: concord's
#    refusals when a required server setting is missing.  These tests create
#    the extension themselves (it must install even where it cannot work).
#
# pg_regress runs as the postgres user (when invoked as root) and writes its
# instances, results and diffs under $CONCORD_TEST_WORK/regress, never into
# the repository.  Each temporary instance listens on a private socket only
# and is stopped by pg_regress itself, also when a test fails.  On failure the
# diffs are printed and the script exits non-zero.
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_REGRESS=${PG_REGRESS:-$(dirname "$($PG_CONFIG --pgxs)")/../test/regress/pg_regress}
[ -x "$PG_REGRESS" ] || die "pg_regress not found at $PG_REGRESS"
PG_BINDIR=$($PG_CONFIG --bindir)

# True if this server knows output_plugin_libraries (15.19 and later).  The
# output is read whole: with pipefail, grep -q closing the pipe early would
# make postgres die of SIGPIPE and the test fail at random.
has_output_plugin_libraries() {
    local cfg
    cfg=$("$PG_BINDIR/postgres" --describe-config 2>/dev/null) || return 1
    [[ $'\n'$cfg == *$'\n'output_plugin_libraries$'\t'* ]]
}

if [ -z "${CONCORD_TEST_WORK:-}" ]; then
    CONCORD_TEST_WORK=$(mktemp -d /tmp/concord-test.XXXXXX)
    chmod 755 "$CONCORD_TEST_WORK"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$CONCORD_TEST_WORK"
fi
work=$CONCORD_TEST_WORK/regress
as_pg rm -rf "$work"
as_pg mkdir -p "$work"

# The configuration files, adapted to this server: PostgreSQL before 15.19
# refuses to start with output_plugin_libraries set, later ones need it.
conf_for() {
    local src=$1 dst=$2
    if has_output_plugin_libraries; then
        as_pg cp "$src" "$dst"
    else
        grep -v '^[[:space:]]*output_plugin_libraries' "$src" | as_pg tee "$dst" >/dev/null
    fi
}

# run_suite NAME PORT CONF INPUTDIR LOAD TEST... — one pg_regress run with its
# own instance; LOAD=yes creates the extension before the tests (as the
# Makefile's installcheck does), LOAD=no leaves that to the tests.
run_suite() {
    local name=$1 port=$2 conf=$3 inputdir=$4 load=$5; shift 5
    local opts=()
    [ "$load" = yes ] && opts+=(--load-extension=concord)
    local out=$work/$name
    as_pg mkdir -p "$out"
    conf_for "$conf" "$out/temp.conf"
    log "pg_regress $name: $*"
    # cd: pg_regress resolves some paths against the working directory,
    # which must be one the postgres user may write.
    if (cd "$out" && as_pg "$PG_REGRESS" \
            --bindir="$PG_BINDIR" \
            --inputdir="$inputdir" \
            --outputdir="$out" \
            --temp-instance="$out/tmp_check" \
            --temp-config="$out/temp.conf" \
            --port="$port" \
            --dbname=contrib_regression \
            "${opts[@]}" \
            --no-locale --encoding=UTF8 \
            "$@"); then
        return 0
    fi
    if [ -s "$out/regression.diffs" ]; then
        printf '\n----- %s/regression.diffs -----\n' "$out"
        cat "$out/regression.diffs"
        printf -- '----- end of %s/regression.diffs -----\n\n' "$out"
    fi
    if [ -f "$out/log/postmaster.log" ]; then
        printf -- '----- tail of %s -----\n' "$out/log/postmaster.log"
        tail -40 "$out/log/postmaster.log"
    fi
    return 1
}

tests=()
for f in "$CONCORD_ROOT"/tests/regress/sql/*.sql; do
    t=$(basename "$f" .sql)
    tests+=("$t")
done
[ ${#tests[@]} -gt 0 ] || die "no tests in tests/regress/sql"

status=0
run_suite main 5731 "$CONCORD_ROOT/tests/regress/concord.conf" "$CONCORD_ROOT/tests/regress" yes "${tests[@]}" \
    || status=1

port=5741
for conf in "$CONCORD_ROOT"/tests/regress/settings/*.conf; do
    t=$(basename "$conf" .conf)
    run_suite "settings_$t" "$port" "$conf" "$CONCORD_ROOT/tests/regress/settings" no "$t" || status=1
    port=$((port + 1))
done

exit $status
