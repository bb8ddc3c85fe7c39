# common.sh — shared shell helpers for concord's scripts (sourced, not run).
#
# Servers run as the postgres user (PostgreSQL refuses root) in directories
# that user owns, listen on 127.0.0.1 and a private socket directory only, and
# are stopped by PID through the traps the callers install.

CONCORD_ROOT=${CONCORD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as the postgres user when we are root, else as ourselves.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Installs the Debian packages concord needs (only the missing ones).
install_deps() {
    local wanted=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
                  libboost-dev libpq-dev libipc-run-perl make g++ cmake libgtest-dev "$@")
    local missing=()
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} (run as root to install them)"
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Builds and installs the extension into the server's directories.
build_install() {
    log "building and installing concord"
    make -C "$CONCORD_ROOT" -s -j2 >/dev/null
    make -C "$CONCORD_ROOT" -s install >/dev/null
}

# concord_server_conf — the postgresql.conf lines of every server concord's
# scripts start (callers add port, addresses and their own settings).
concord_server_conf() {
    echo "shared_preload_libraries = 'concord'"
    echo "wal_level = logical"
    echo "track_commit_timestamp = on"
    echo "max_replication_slots = 16"
    echo "max_wal_senders = 16"
    echo "max_worker_processes = 32"
    echo "fsync = off"
    echo "log_line_prefix = '%m [%p] %q%a '"
    # Since 15.19 a server loads only the output plugins listed here.
    if server_has_output_plugin_libraries; then
        echo "output_plugin_libraries = 'pgoutput, test_decoding, concord'"
    fi
}

# True if this server knows output_plugin_libraries (15.19 and later).
server_has_output_plugin_libraries() {
    # Captured first: grep -q would close the pipe early, and under pipefail the
    # SIGPIPE of postgres would turn a match into a failure.
    local config
    config=$("$PG_BINDIR/postgres" --describe-config 2>/dev/null || true)
    [[ $config == *$'\n'output_plugin_libraries* || $config == output_plugin_libraries* ]]
}
