#!/usr/bin/env bash
# pgtap.sh — the pgTAP stage of scripts/test.sh.
#
#   bash scripts/test/pgtap.sh
#
# Starts one temporary instance (initdb as the postgres user under
# $CONCORD_TEST_WORK/pgtap, port 5751, listening on a private socket and
# 127.0.0.1 only) with the settings every concord node needs, creates a
# database with the extensions pgtap and concord, and runs pg_prove over
# tests/pgtap/*.sql (each file is one transaction that rolls back).  The
# server is stopped by the EXIT trap, also on failure; its log is printed
# when a test fails.
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$($PG_CONFIG --bindir)

PORT=${CONCORD_PGTAP_PORT:-5751}
DB=concord_tap
# pg_prove is only a Recommends of postgresql-15-pgtap, which install_deps
# does not pull in.
install_deps libtap-parser-sourcehandler-pgtap-perl
command -v pg_prove >/dev/null || die "pg_prove not found (Debian package libtap-parser-sourcehandler-pgtap-perl)"

if [ -z "${CONCORD_TEST_WORK:-}" ]; then
    CONCORD_TEST_WORK=$(mktemp -d /tmp/concord-test.XXXXXX)
    chmod 755 "$CONCORD_TEST_WORK"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$CONCORD_TEST_WORK"
fi
work=$CONCORD_TEST_WORK/pgtap
data=$work/data
sock=$work/sock
as_pg rm -rf "$work"
as_pg mkdir -p "$work" "$sock"
as_pg chmod 700 "$sock"

# shellcheck disable=SC2317  # run by the EXIT trap
stop_server() {
    if [ -f "$data/postmaster.pid" ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 \
            || as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
}
trap stop_server EXIT

log "pgtap: initdb in $data"
as_pg "$PG_BINDIR/initdb" -D "$data" -A trust -U postgres -E UTF8 --no-locale --no-sync >"$work/initdb.log" 2>&1 \
    || { cat "$work/initdb.log"; die "initdb failed"; }
{
    echo "port = $PORT"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$sock'"
    concord_server_conf
} | as_pg tee -a "$data/postgresql.conf" >/dev/null

as_pg "$PG_BINDIR/pg_ctl" -D "$data" -l "$work/server.log" -w -t 60 start >/dev/null \
    || { tail -30 "$work/server.log" >&2; die "the pgtap server did not start"; }

psql_tap() { as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$PORT" -U postgres "$@"; }
psql_tap -d postgres -c "CREATE DATABASE $DB"
psql_tap -d "$DB" -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION concord"

log "pgtap: pg_prove tests/pgtap/*.sql"
status=0
(cd "$work" && as_pg env PGHOST="$sock" PGPORT="$PORT" PGUSER=postgres PGDATABASE="$DB" \
    pg_prove --psql-bin "$PG_BINDIR/psql" --verbose --failures "$CONCORD_ROOT"/tests/pgtap/*.sql) || status=1

if [ $status -ne 0 ]; then
    printf -- '----- tail of %s -----\n' "$work/server.log"
    tail -40 "$work/server.log"
fi
exit $status
