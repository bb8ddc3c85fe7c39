# cluster.sh — start and stop local PostgreSQL nodes for demos and benchmarks
# (sourced).  Every node started here is recorded and stopped by
# cluster_stop_all, which callers run from an EXIT trap.

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CLUSTER_BASE=${CLUSTER_BASE:-}
CLUSTER_NODES=()

# cluster_init BASE — prepares BASE (owned by postgres) to hold node directories.
cluster_init() {
    CLUSTER_BASE=$1
    mkdir -p "$CLUSTER_BASE"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$CLUSTER_BASE"
    chmod 700 "$CLUSTER_BASE"
    return 0
}

# node_dir NAME / node_port NAME / node_sock — where a node lives.
node_dir() { echo "$CLUSTER_BASE/$1"; }
node_sock() { echo "$CLUSTER_BASE"; }

# cluster_create NAME PORT [extra postgresql.conf lines...] — initdb and configure.
cluster_create() {
    local name=$1 port=$2; shift 2
    local dir; dir=$(node_dir "$name")
    # Never pull a data directory from under a running server.
    if [ -f "$dir/postmaster.pid" ] && as_pg "$PG_BINDIR/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        die "node $name is still running in $dir; stop it first"
    fi
    rm -rf "$dir"
    as_pg "$PG_BINDIR/initdb" -D "$dir" -A trust -U postgres --no-sync >/dev/null
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$(node_sock)'"
        concord_server_conf
        for line in "$@"; do echo "$line"; done
    } | as_pg tee -a "$dir/postgresql.conf" >/dev/null
    echo "$port" | as_pg tee "$dir/concord_port" >/dev/null
}

node_port() { cat "$(node_dir "$1")/concord_port"; }

# cluster_start NAME — starts the node and records it for cluster_stop_all.
cluster_start() {
    local dir; dir=$(node_dir "$1")
    as_pg "$PG_BINDIR/pg_ctl" ${CONCORD_PG_CTL_OPTS:-} -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { tail -20 "$dir/server.log" >&2; die "node $1 did not start"; }
    CLUSTER_NODES+=("$1")
}

# cluster_stop NAME [mode] — stops one node (fast by default) by its postmaster PID.
cluster_stop() {
    local dir; dir=$(node_dir "$1")
    [ -f "$dir/postmaster.pid" ] || return 0
    as_pg "$PG_BINDIR/pg_ctl" -D "$dir" -m "${2:-fast}" -w -t 60 stop >/dev/null 2>&1 || true
}

cluster_stop_all() {
    local n
    for n in "${CLUSTER_NODES[@]}"; do cluster_stop "$n" immediate; done
}

# psql_at NAME [psql args...] — psql into database concord on node NAME.
psql_at() {
    local name=$1; shift
    as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$(node_sock)" -p "$(node_port "$name")" -U postgres \
        -d "${PGDATABASE:-concord}" "$@"
}

# dsn_of NAME — how peers reach node NAME (TCP on loopback).
dsn_of() { echo "host=127.0.0.1 port=$(node_port "$1") dbname=${PGDATABASE:-concord} user=postgres"; }
