#!/usr/bin/env bash
# run.sh — concord's benchmark against PostgreSQL's native logical replication
# and pglogical, on this one machine (issue 5).  See bench/README.md.
#
#   bash bench/run.sh                 # the full run (under 20 minutes on 2 cores)
#   bash bench/run.sh --smoke         # every phase with tiny sizes (CI)
#   bash bench/run.sh --help          # all options (sizes, durations, repetitions)
#
# What it does:
# 1. As root: installs the Debian packages it needs (only the missing ones,
#    one apt-get update), builds and installs concord (make install, never
#    make clean).
# 2. Asks the harness (bench/harness, Python) which PostgreSQL 15 instances
#    the chosen systems need, creates and starts them as the postgres user,
#    listening on 127.0.0.1 and a private socket directory, ports 5800-5899.
#    Each system gets its own instances, so preloaded libraries never mix.
# 3. Runs the harness: setup, measurements, summary; raw results land in
#    bench/out/<timestamp>/.
# Every instance started here is stopped by the EXIT trap, by its data
# directory (pg_ctl), also when a step fails or the run is interrupted.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../scripts/lib/cluster.sh
. "$BENCH_DIR/../scripts/lib/cluster.sh"

export PG_BINDIR  # the harness runs pgbench and postgres from there too
PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
harness() { PYTHONPATH="$BENCH_DIR${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m harness "$@"; }

for arg in "$@"; do
    case "$arg" in
        -h|--help)
            if [ -x "$PYTHON" ]; then harness plan --help; else sed -n '2,20p' "$0"; fi
            exit 0 ;;
    esac
done

started=$(date +%s)
work=${BENCH_WORK_DIR:-/tmp/concord-bench}
# One run per work directory at a time: a second one would reinstall concord
# under the first and stop its instances below, taking them for leftovers.
# (A pid file rather than a lock the servers would inherit: a run killed with
# -9 must not keep the next one out.)
other=$(cat "$work.pid" 2>/dev/null || true)
if [ -n "$other" ] && [ "$other" != $$ ] && kill -0 "$other" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$other/cmdline" 2>/dev/null | grep -q 'run\.sh'; then
    die "another bench/run.sh (pid $other) is running with $work"
fi
echo $$ >"$work.pid"
# postgresql-15 brings pgbench; python3-psycopg2 drives the servers; matplotlib
# draws the lag plot; pglogical is the third system measured; valgrind counts
# instructions (the instructions phase).
install_deps postgresql-15-pglogical postgresql-contrib python3 python3-psycopg2 python3-matplotlib valgrind
# BENCH_NO_BUILD=1 measures the concord that is installed already (for a
# developer who just ran make install).
[ -n "${BENCH_NO_BUILD:-}" ] || build_install

plan=$(harness plan "$@")

# Instances left running by an interrupted earlier run (same directories) are
# stopped first: they are ours, found by their data directories.
if [ -d "$work" ]; then
    while read -r name _; do
        [ -n "$name" ] && [ -d "$work/$name" ] && CLUSTER_BASE=$work cluster_stop "$name" immediate
    done <<<"$plan"
fi
rm -rf "$work"
cluster_init "$work"

trap cluster_stop_all EXIT
trap 'exit 130' INT TERM

log "creating $(wc -l <<<"$plan") PostgreSQL instances under $work"
# initdb runs two at a time (the machine has two cores); starting is serial
# because cluster_start records every node for the EXIT trap.
pids=()
while read -r name port conf; do
    # conf: postgresql.conf lines separated by '|'
    IFS='|' read -r -a lines <<<"$conf"
    cluster_create "$name" "$port" "${lines[@]}" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done <<<"$plan"
for p in "${pids[@]}"; do wait "$p"; done
while read -r name _; do
    cluster_start "$name"
    as_pg "$PG_BINDIR/createdb" -h "$work" -p "$(node_port "$name")" -U postgres concord
done <<<"$plan"

printf '%s\n' "$plan" >"$work/plan.tsv"
status=0
harness run --base "$work" --plan "$work/plan.tsv" "$@" || status=$?
log "bench/run.sh finished in $(( $(date +%s) - started ))s (exit status $status)"
exit $status
