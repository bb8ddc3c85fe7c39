#!/usr/bin/env bash
# soak.sh — concord's soak test: a mixed workload on a 3-node full mesh for N
# minutes while random faults hit it, then proof that nothing was lost or
# duplicated, every node holds the same data, and apply worker memory stayed
# flat.
#
#   bash scripts/soak.sh                     # 30 minutes
#   bash scripts/soak.sh --minutes 2         # the CI version (tests/tap/205_soak_short.pl)
#   bash scripts/soak.sh --minutes 60 --seed 42 --keep
#
# Options:
#   --minutes N    length of the faulty phase (default 30)
#   --seed S       seed of the fault schedule and workload choices (default: random, printed)
#   --faults LIST  comma-separated subset of crash,freeze,pause,partition (default: all)
#   --work DIR     directory for the nodes, logs and results (default: new /tmp/concord-soak.XXXXXX)
#   --keep         keep DIR (and print where it is) even when the soak passes
#   --no-netns     nodes on 127.0.0.1 instead of network namespaces (no partition fault)
#
# Needs concord installed (make install).  Runs as root (servers run as the
# postgres user) or as the postgres user.
#
# Nodes.  With network namespaces available (root, or unprivileged user
# namespaces), the script re-runs itself inside a private network and mount
# namespace of its own (tests/tap/lib/ConcordFaults.pm) and puts each node in
# a namespace of its own, joined to a bridge by a veth pair on 10.78.0.0/24;
# peers reach each other only at those addresses, the script reaches the
# servers through their Unix sockets.  Otherwise the nodes listen on
# 127.0.0.1 and the partition fault is left out.
#
# Workload, at every node at once, one single-row transaction after another
# (10 ms apart), occasionally a 200-row transaction:
#   soak_events   insert-only; id and seq count up per origin node, each
#                 transaction's event names a counter k
#   soak_counters the same transaction adds 1 to counter k (a delta column,
#                 so concurrent increments at different nodes add up)
#   soak_kv       random upserts and deletes of 200 keys at every node
#                 (last_update_wins conflicts all the time)
#
# Faults, one at a time, in a shuffled rotation of the enabled kinds, each on
# a random node and held for a random while:
#   crash      kill -9 of the node's postmaster and all its processes, then
#              a restart (crash recovery)
#   freeze     SIGSTOP of every process of the node, later SIGCONT
#   pause      concord.pause() of one link at the node, later resume()
#   partition  every packet to and from the node silently dropped, later healed
# Processes are only ever signalled by PID, and only processes of the nodes
# this script started (descendants of their postmasters).
#
# At the end (faults undone, writers stopped, wait_for_peers true everywhere):
#   - per origin, every node holds events seq 1..max exactly once, and the
#     same max as the origin itself (nothing lost, nothing twice);
#   - every counter equals the number of events naming it, on every node
#     (a transaction applied twice or lost would break this);
#   - soak_events, soak_counters and soak_kv are identical on all nodes;
#   - every link streams without an error;
#   - no server log shows a crash of its own (PANIC, TRAP, signal 6/11);
#   - apply worker memory is flat: the largest RssAnon of any apply worker
#     in the last third of the run is at most 1.5 x (+16 MB) the largest in
#     the first third after warm-up (samples every 5 s in memory.csv).
# Each check prints "soak: check NAME: ok|FAILED ..."; the last line is
# "soak: PASSED" or "soak: FAILED" and the exit status is 0 or 1.
set -euo pipefail

SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$(dirname "$SCRIPT")/lib/common.sh"
FAULTS_LIB=$CONCORD_ROOT/tests/tap/lib

MINUTES=30
SEED=
FAULT_KINDS=crash,freeze,pause,partition
WORK=
KEEP=
USE_NETNS=1
ARGS=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --faults) FAULT_KINDS=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --no-netns) USE_NETNS=; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$SCRIPT" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ $MINUTES =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--minutes needs a number"

# --- A private network world, if the sandbox allows one -------------------------------
faults_cli() { perl -I"$FAULTS_LIB" -MConcordFaults -e 'ConcordFaults::cli()' "$@"; }
if [ -n "$USE_NETNS" ] && [ -z "${CONCORD_PRIVATE_NET:-}" ]; then
    if why=$(faults_cli private-exec /bin/true 2>&1); then
        exec perl -I"$FAULTS_LIB" -MConcordFaults -e 'ConcordFaults::cli()' private-exec /bin/bash "$SCRIPT" "${ARGS[@]}"
    fi
    printf 'soak: network namespaces not available (%s); nodes on 127.0.0.1, no partitions\n' "$why"
    USE_NETNS=
fi
[ -n "${CONCORD_PRIVATE_NET:-}" ] || USE_NETNS=
if [ -z "$USE_NETNS" ]; then
    FAULT_KINDS=$(tr ',' '\n' <<<"$FAULT_KINDS" | grep -vx partition | paste -sd, -)
fi
IFS=, read -r -a KINDS <<<"$FAULT_KINDS"
for k in "${KINDS[@]}"; do
    case "$k" in crash|freeze|pause|partition) ;; *) die "unknown fault kind $k" ;; esac
done

[ -n "$SEED" ] || SEED=$(( $(date +%s) % 100000 ))
RANDOM=$SEED
[ -f "$("$PG_BINDIR/pg_config" --pkglibdir)/concord.so" ] || die "concord is not installed (run make install)"

if [ -z "$WORK" ]; then
    WORK=$(mktemp -d /tmp/concord-soak.XXXXXX)
else
    mkdir -p "$WORK"
fi
chmod 755 "$WORK"
[ "$(id -u)" = 0 ] && chown postgres: "$WORK"

NODES=(node_a node_b node_c)
declare -A ADDR PORT DATA SOCK
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
say() { printf 'soak [%5ss] %s\n' "$(elapsed)" "$*"; }
event() { say "$*"; printf '%s %s\n' "$(elapsed)" "$*" >>"$WORK/faults.log"; }

IP=$(command -v ip || echo /usr/sbin/ip)
TC=$(command -v tc || echo /usr/sbin/tc)
# How a server program runs inside node NAME's namespace, as the server's user.
in_node() {
    local name=$1; shift
    local run=(env -u PGHOST -u PGPORT -u PGAPPNAME -u PGDATABASE -u PGUSER -u PGSERVICE)
    if [ -n "$USE_NETNS" ]; then
        if [ "$(id -u)" = 0 ]; then
            "$IP" netns exec "cc_$name" runuser -u postgres -- "${run[@]}" "$@"
        else
            "$IP" netns exec "cc_$name" setpriv --inh-caps=-all --ambient-caps=-all "${run[@]}" "$@"
        fi
    else
        as_pg "${run[@]}" "$@"
    fi
}

AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(runuser -u postgres --)
# psql_node SECONDS NAME [psql args...] — psql as postgres through NAME's Unix socket, bounded in time.
psql_node() {
    local secs=$1 name=$2; shift 2
    timeout "$secs" "${AS_PG[@]}" "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
        -h "${SOCK[$name]}" -p "${PORT[$name]}" -U postgres -d concord "$@"
}
q() { local name=$1; shift; psql_node 120 "$name" -c "$*"; }

postmaster_pid() { head -1 "${DATA[$1]}/postmaster.pid" 2>/dev/null || true; }
node_running() { local pm; pm=$(postmaster_pid "$1"); [ -n "$pm" ] && kill -0 "$pm" 2>/dev/null; }

# --- Cleanup: every fault undone, every process of ours stopped -------------------------
BG_PIDS=()
FROZEN_FILE=$WORK/frozen
CUT=
RESULT=1
cleanup() {
    set +e
    [ -s "$FROZEN_FILE" ] && faults_cli thaw $(cat "$FROZEN_FILE") && : >"$FROZEN_FILE"
    [ -n "$CUT" ] && net_heal "$CUT"
    touch "$WORK/stop_writers"
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    for n in "${NODES[@]}"; do
        [ -n "${DATA[$n]:-}" ] && [ -f "${DATA[$n]}/postmaster.pid" ] &&
            as_pg "$PG_BINDIR/pg_ctl" -D "${DATA[$n]}" -m immediate -w -t 60 stop >/dev/null 2>&1
    done
    if [ -n "$USE_NETNS" ]; then
        for n in "${NODES[@]}"; do "$IP" netns del "cc_$n" 2>/dev/null; done
        "$IP" netns del cc_sw 2>/dev/null
    fi
    if [ "$RESULT" = 0 ] && [ -z "$KEEP" ]; then
        rm -rf "$WORK"
    else
        echo "soak: work directory kept: $WORK (server logs: $WORK/node_*/server.log)"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The network ------------------------------------------------------------------------------
if [ -n "$USE_NETNS" ]; then
    "$IP" netns add cc_sw
    "$IP" -n cc_sw link set lo up
    "$IP" -n cc_sw link add br0 type bridge
    "$IP" -n cc_sw link set br0 up
fi
i=0
for n in "${NODES[@]}"; do
    i=$((i + 1))
    DATA[$n]=$WORK/$n/data
    SOCK[$n]=$WORK/$n
    if [ -n "$USE_NETNS" ]; then
        ADDR[$n]=10.78.0.$i
        PORT[$n]=5432
        "$IP" netns add "cc_$n"
        "$IP" -n "cc_$n" link set lo up
        "$IP" link add "v_$n" type veth peer name eth0 netns "cc_$n"
        "$IP" link set "v_$n" netns cc_sw
        "$IP" -n cc_sw link set "v_$n" master br0
        "$IP" -n cc_sw link set "v_$n" up
        "$IP" -n "cc_$n" addr add "${ADDR[$n]}/24" dev eth0
        "$IP" -n "cc_$n" link set eth0 up
    else
        ADDR[$n]=127.0.0.1
        # A port nobody listens on.
        while :; do
            p=$(( 20000 + RANDOM % 30000 ))
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
        done
        PORT[$n]=$p
    fi
done
net_cut() {
    if [ -n "$USE_NETNS" ]; then
        "$TC" -n cc_sw qdisc replace dev "v_$1" root pfifo limit 0
        "$TC" -n "cc_$1" qdisc replace dev eth0 root pfifo limit 0
    fi
    CUT=$1
}
net_heal() {
    if [ -n "$USE_NETNS" ]; then
        "$TC" -n cc_sw qdisc del dev "v_$1" root 2>/dev/null || true
        "$TC" -n "cc_$1" qdisc del dev eth0 root 2>/dev/null || true
    fi
    CUT=
}

# --- The nodes ------------------------------------------------------------------------------------
say "seed $SEED, $MINUTES minute(s), faults: ${KINDS[*]}, network: $([ -n "$USE_NETNS" ] && echo "namespaces (${CONCORD_PRIVATE_NET})" || echo loopback), work: $WORK"
start_node() {
    local n=$1
    in_node "$n" "$PG_BINDIR/pg_ctl" -D "${DATA[$n]}" -l "$WORK/$n/server.log" -w -t 120 start >/dev/null \
        || { tail -20 "$WORK/$n/server.log" >&2; die "node $n did not start"; }
}
for n in "${NODES[@]}"; do
    mkdir -p "$WORK/$n"
    [ "$(id -u)" = 0 ] && chown postgres: "$WORK/$n"
    as_pg "$PG_BINDIR/initdb" -D "${DATA[$n]}" -A trust -U postgres -N >/dev/null
    subnet=${ADDR[$n]%.*}.0
    {
        echo "listen_addresses = '${ADDR[$n]}'"
        echo "port = ${PORT[$n]}"
        echo "unix_socket_directories = '${SOCK[$n]}'"
        concord_server_conf
        echo "restart_after_crash = on"
        echo "concord.peer_timeout = 5s"
        echo "concord.retry_delay_max = 3s"
        echo "wal_sender_timeout = 10s"
    } | as_pg tee -a "${DATA[$n]}/postgresql.conf" >/dev/null
    printf 'local all all trust\nlocal replication all trust\nhost all all %s/24 trust\nhost replication all %s/24 trust\n' \
        "$subnet" "$subnet" | as_pg tee "${DATA[$n]}/pg_hba.conf" >/dev/null
    start_node "$n"
    as_pg "$PG_BINDIR/createdb" -h "${SOCK[$n]}" -p "${PORT[$n]}" -U postgres concord
done
dsn_of_node() { echo "host=${ADDR[$1]} port=${PORT[$1]} dbname=concord user=postgres"; }

for n in "${NODES[@]}"; do
    psql_node 120 "$n" >/dev/null <<SQL
CREATE EXTENSION concord;
SELECT concord.create_node('$n', '$(dsn_of_node "$n")');
CREATE TABLE public.soak_events (id bigint PRIMARY KEY, origin text NOT NULL, seq bigint NOT NULL, k int NOT NULL,
                                 payload text, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX soak_events_origin_seq ON public.soak_events (origin, seq);
CREATE TABLE public.soak_counters (k int PRIMARY KEY, hits bigint NOT NULL DEFAULT 0);
ALTER TABLE public.soak_counters REPLICA IDENTITY FULL;
CREATE TABLE public.soak_kv (k int PRIMARY KEY, v text, origin text, n int);
SELECT concord.add_table('public.soak_events');
SELECT concord.add_table('public.soak_counters');
SELECT concord.set_delta_columns('public.soak_counters', '{hits}');
SELECT concord.add_table('public.soak_kv');
SQL
done
# The counters exist everywhere before anyone counts (same rows, inserted once).
for n in "${NODES[@]}"; do
    for p in "${NODES[@]}"; do
        [ "$n" = "$p" ] || q "$n" "SELECT concord.subscribe('$p', '$(dsn_of_node "$p")')" >/dev/null
    done
done
q node_a "INSERT INTO public.soak_counters SELECT g, 0 FROM generate_series(1, 20) g" >/dev/null
for n in "${NODES[@]}"; do
    ok=
    for _ in $(seq 1 60); do
        [ "$(q "$n" "SELECT count(*) = 2 AND bool_and(status = 'streaming') FROM concord.peers")" = t ] &&
            [ "$(q "$n" "SELECT count(*) FROM public.soak_counters")" = 20 ] && { ok=1; break; }
        sleep 1
    done
    [ -n "$ok" ] || die "node $n did not start streaming"
done
say "mesh up: every node streams from both peers"

# --- Workload ---------------------------------------------------------------------------------------
writer() {
    local n=$1 idx=$2 base
    base=$(( idx * 1000000000000 ))
    local block
    block=$(cat <<SQL
DO \$\$
DECLARE s bigint; kk int; i int;
BEGIN
    SELECT coalesce(max(seq), 0) INTO s FROM public.soak_events WHERE origin = '$n';
    FOR i IN 1..50 LOOP
        IF random() < 0.01 THEN
            -- one bigger transaction: 200 events, their counters in one statement
            INSERT INTO public.soak_events (id, origin, seq, k, payload)
                SELECT $base + s + g, '$n', s + g, 1 + (g % 20), 'bulk' FROM generate_series(1, 200) g;
            UPDATE public.soak_counters c SET hits = c.hits + x.cnt
              FROM (SELECT 1 + (g % 20) AS k, count(*) AS cnt FROM generate_series(1, 200) g GROUP BY 1) x
             WHERE c.k = x.k;
            s := s + 200;
        ELSE
            s := s + 1;
            kk := 1 + floor(random() * 20)::int;
            INSERT INTO public.soak_events (id, origin, seq, k, payload)
                VALUES ($base + s, '$n', s, kk, repeat(md5(s::text), 1 + floor(random() * 8)::int));
            UPDATE public.soak_counters SET hits = hits + 1 WHERE k = kk;
            IF random() < 0.3 THEN
                DELETE FROM public.soak_kv WHERE k = floor(random() * 200)::int;
            ELSE
                INSERT INTO public.soak_kv AS kv (k, v, origin, n)
                VALUES (floor(random() * 200)::int, md5(random()::text), '$n', 1)
                ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, origin = EXCLUDED.origin, n = kv.n + 1;
            END IF;
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.01);
    END LOOP;
END \$\$;
SQL
)
    while [ ! -e "$WORK/stop_writers" ]; do
        # A frozen or crashed node ends the block; the next one continues from the node's own max(seq).
        psql_node 60 "$n" -c "$block" >>"$WORK/$n/writer.log" 2>&1 || sleep 1
    done
}

# Samples VmRSS and RssAnon of every apply worker every 5 s.
sampler() {
    echo "elapsed_s,node,pid,worker,vmrss_kb,rssanon_kb" >"$WORK/memory.csv"
    while [ ! -e "$WORK/stop_sampler" ]; do
        for n in "${NODES[@]}"; do
            pm=$(postmaster_pid "$n")
            [ -n "$pm" ] && kill -0 "$pm" 2>/dev/null || continue
            while read -r pid args; do
                [[ $args == *"concord apply from"* ]] || continue
                rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
                anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
                [ -n "$rss" ] && echo "$(elapsed),$n,$pid,${args##*concord apply from },$rss,$anon" >>"$WORK/memory.csv"
            done < <(ps --ppid "$pm" -o pid=,args= 2>/dev/null)
        done
        sleep 5
    done
}

idx=0
for n in "${NODES[@]}"; do
    idx=$((idx + 1))
    writer "$n" "$idx" &
    BG_PIDS+=($!)
done
sampler &
SAMPLER=$!
BG_PIDS+=("$SAMPLER")
say "writers started at every node"

# --- Faults -----------------------------------------------------------------------------------------
rand_between() { echo $(( $1 + RANDOM % ($2 - $1 + 1) )); }
short_run=$(awk -v m="$MINUTES" 'BEGIN { print (m < 5) ? 1 : 0 }')
if [ "$short_run" = 1 ]; then HOLD=(5 12); GAP=(3 8); else HOLD=(10 40); GAP=(10 40); fi
RUN_END=$(( START + $(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }') ))

node_tree() { faults_cli tree "$(postmaster_pid "$1")" "${DATA[$1]}"; }

crash() {
    local n=$1 pids p
    pids=$(node_tree "$n")
    event "crash: kill -9 of every process of $n ($(wc -w <<<"$pids") processes)"
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    # Gone means reaped, not just dead: a new postmaster refuses to start while
    # the old one's pid (from postmaster.pid) still answers kill -0, which a
    # zombie does until whoever adopted it reaps it.
    local gone=
    for _ in $(seq 1 600); do
        alive=
        for p in $pids; do [ -e "/proc/$p" ] && alive=1; done
        [ -z "$alive" ] && { gone=1; break; }
        sleep 0.1
    done
    [ -n "$gone" ] || die "crash: processes of $n still present 60 s after kill -9: $(for p in $pids; do [ -e "/proc/$p" ] && echo "$p"; done | tr '\n' ' ')"
    sleep "$(rand_between 1 5)"
    start_node "$n"
    event "crash: $n restarted (crash recovery)"
}
freeze() {
    local n=$1 hold=$2
    faults_cli freeze "$(postmaster_pid "$n")" "${DATA[$n]}" >"$FROZEN_FILE"
    event "freeze: $n stopped ($(wc -w <"$FROZEN_FILE") processes) for ${hold}s"
    sleep "$hold"
    faults_cli thaw $(cat "$FROZEN_FILE")
    : >"$FROZEN_FILE"
    event "freeze: $n continued"
}
pause() {
    local n=$1 hold=$2 peer others=()
    for peer in "${NODES[@]}"; do [ "$peer" = "$n" ] || others+=("$peer"); done
    peer=${others[$((RANDOM % 2))]}
    q "$n" "SELECT concord.pause('$peer')" >/dev/null || event "pause: pause failed at $n"
    event "pause: $n stopped applying from $peer for ${hold}s"
    sleep "$hold"
    q "$n" "SELECT concord.resume('$peer')" >/dev/null || event "pause: resume failed at $n"
    event "pause: $n resumed $peer"
}
partition() {
    local n=$1 hold=$2
    net_cut "$n"
    event "partition: $n cut off (packets dropped) for ${hold}s"
    sleep "$hold"
    net_heal "$n"
    event "partition: $n healed"
}

deck=()
faults_done=0
declare -A fault_count
while [ "$(date +%s)" -lt "$RUN_END" ]; do
    sleep "$(rand_between "${GAP[@]}")"
    [ "$(date +%s)" -lt "$RUN_END" ] || break
    if [ ${#deck[@]} -eq 0 ]; then
        deck=("${KINDS[@]}")
        for ((j = ${#deck[@]} - 1; j > 0; j--)); do
            r=$((RANDOM % (j + 1))); t=${deck[$j]}; deck[$j]=${deck[$r]}; deck[$r]=$t
        done
    fi
    kind=${deck[0]}
    deck=("${deck[@]:1}")
    node=${NODES[$((RANDOM % 3))]}
    hold=$(rand_between "${HOLD[@]}")
    case "$kind" in
        crash) crash "$node" ;;
        freeze) freeze "$node" "$hold" ;;
        pause) pause "$node" "$hold" ;;
        partition) partition "$node" "$hold" ;;
    esac
    faults_done=$((faults_done + 1))
    fault_count[$kind]=$(( ${fault_count[$kind]:-0} + 1 ))
done
say "fault phase over: $faults_done faults"

# --- Settle and check ------------------------------------------------------------------------------
touch "$WORK/stop_writers"
for p in "${BG_PIDS[@]}"; do
    [ "$p" = "$SAMPLER" ] && continue
    for _ in $(seq 1 1200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null || true
done
say "writers stopped"
# One more transaction from every node, so every link applies something after the last fault.
i=0
for n in "${NODES[@]}"; do
    i=$((i + 1))
    q "$n" "INSERT INTO public.soak_kv VALUES (1000 + $i, 'final', '$n', 1)" >/dev/null
done

FAILED=()
check() {    # check NAME OK(0/1) DETAIL
    if [ "$2" = 0 ]; then
        printf 'soak: check %s: ok %s\n' "$1" "$3"
    else
        printf 'soak: check %s: FAILED %s\n' "$1" "$3"
        FAILED+=("$1")
    fi
}

converged=1
t_conv=$(date +%s)
for n in "${NODES[@]}"; do
    ok=
    for _ in $(seq 1 10); do
        [ "$(q "$n" "SELECT concord.wait_for_peers('30s')" 2>/dev/null)" = t ] && { ok=1; break; }
    done
    [ -n "$ok" ] || { converged=0; q "$n" "SELECT peer_name, status, last_error FROM concord.peers" || true; }
done
check converged $((1 - converged)) "(wait_for_peers true on every node after $(( $(date +%s) - t_conv ))s)"

# Nothing lost, nothing twice: per origin, seq 1..max once each, everywhere the same.
declare -A per_origin
bad=0
for n in "${NODES[@]}"; do
    per_origin[$n]=$(q "$n" "SELECT string_agg(origin || '=' || c || '/' || d || '/' || m, ' ' ORDER BY origin) FROM
        (SELECT origin, count(*) c, count(DISTINCT seq) d, max(seq) m FROM public.soak_events GROUP BY origin) s")
    for part in ${per_origin[$n]}; do
        IFS=/ read -r c d m <<<"${part#*=}"
        [ "$c" = "$d" ] && [ "$d" = "$m" ] || bad=1
    done
done
[ "${per_origin[node_a]}" = "${per_origin[node_b]}" ] && [ "${per_origin[node_b]}" = "${per_origin[node_c]}" ] || bad=1
for n in "${NODES[@]}"; do
    own=$(q "$n" "SELECT coalesce(max(seq), 0) FROM public.soak_events WHERE origin = '$n'")
    [[ " ${per_origin[node_a]} " == *" $n=$own/$own/$own "* ]] || bad=1
done
check exactly_once "$bad" "(origin=rows/distinct/max: ${per_origin[node_a]})"

bad=0
detail=
for n in "${NODES[@]}"; do
    r=$(q "$n" "SELECT (SELECT count(*) FROM public.soak_counters c
                        WHERE c.hits <> (SELECT count(*) FROM public.soak_events e WHERE e.k = c.k))
                  || ' ' || (SELECT sum(hits) FROM public.soak_counters) || ' ' || (SELECT count(*) FROM public.soak_events)")
    read -r wrong sum events <<<"$r"
    [ "$wrong" = 0 ] && [ "$sum" = "$events" ] || bad=1
    detail+="$n: $sum hits for $events events, $wrong counters off; "
done
check counters "$bad" "($detail)"

bad=0
detail=
for t in soak_events soak_counters soak_kv; do
    digests=()
    for n in "${NODES[@]}"; do
        digests+=("$(q "$n" "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET extra_float_digits = 3;
            SELECT count(*) || ':' || coalesce(sum(hashtextextended(x::text, 0)::numeric), 0) FROM public.$t x")")
    done
    [ "${digests[0]}" = "${digests[1]}" ] && [ "${digests[1]}" = "${digests[2]}" ] || bad=1
    detail+="$t ${digests[*]%%:*} rows; "
done
check identical "$bad" "($detail)"

ok=1
for n in "${NODES[@]}"; do
    good=
    for _ in $(seq 1 60); do
        [ "$(q "$n" "SELECT bool_and(status = 'streaming' AND last_error IS NULL) FROM concord.peers")" = t ] && { good=1; break; }
        sleep 1
    done
    [ -n "$good" ] || { ok=0; q "$n" "SELECT peer_name, status, last_error FROM concord.peers" || true; }
done
check links_healthy $((1 - ok)) "(every link streams, no error)"

crashes=$(grep -hE 'PANIC|TRAP:|terminated by signal (6|11)|was terminated by exception' "$WORK"/node_*/server.log 2>/dev/null | head -5 || true)
check no_server_crash "$([ -z "$crashes" ] && echo 0 || echo 1)" "${crashes:+($crashes)}"

touch "$WORK/stop_sampler"
wait "$SAMPLER" 2>/dev/null || true
run_s=$(( RUN_END - START ))
mem=$(awk -F, -v run="$run_s" '
    NR == 1 { next }
    {
        t = $1; anon = $6
        warm = run / 6; if (warm < 15) warm = 15
        if (t >= warm && t < warm + (run - warm) / 3) { if (anon > early) early = anon; ne++ }
        if (t >= run - (run - warm) / 3 && t <= run) { if (anon > late) late = anon; nl++ }
        if (anon > peak) peak = anon
    }
    END {
        limit = early * 1.5 + 16384
        printf "%d %d %d %d %d %d\n", (ne > 0 && nl > 0 && late <= limit) ? 0 : 1, early, late, limit, peak, NR - 1
    }' "$WORK/memory.csv")
read -r mem_bad early late limit peak samples <<<"$mem"
# Per worker process: one that lived long (a third of the run, at least a
# minute) ends with no more than 1.5 x (+16 MB) what it had 30 s into its life.
life=$(awk -F, -v run="$run_s" '
    NR == 1 { next }
    {
        key = $2 "/" $3
        if (!(key in born)) born[key] = $1
        if ($1 - born[key] >= 30 && !(key in first)) { first[key] = $6; first_t[key] = $1 }
        last[key] = $6; last_t[key] = $1; name[key] = $2 " from " $4
    }
    END {
        need = run / 3; if (need < 60) need = 60
        bad = 0; longest = 0; lk = ""
        for (k in first) {
            span = last_t[k] - first_t[k]
            if (span > longest) { longest = span; lk = k }
            if (span >= need && last[k] > first[k] * 1.5 + 16384) bad = 1
        }
        if (lk == "") printf "0 no-worker-lived-long-enough 0 0 0\n"
        else printf "%d %s %d %d %d\n", bad, name[lk], longest, first[lk], last[lk]
    }' "$WORK/memory.csv")
read -r life_bad life_who1 life_who2 life_who3 life_span life_first life_last <<<"$life" || true
mem_detail="apply workers RssAnon: first third max ${early} kB, last third max ${late} kB, limit ${limit} kB, peak ${peak} kB, ${samples} samples"
if [ "${life_who1}" = no-worker-lived-long-enough ]; then
    mem_detail+="; no worker lived 30 s"
else
    mem_detail+="; longest-lived worker ($life_who1 $life_who2 $life_who3, ${life_span}s): ${life_first} -> ${life_last} kB"
fi
[ "$life_bad" = 0 ] || mem_bad=1
check memory_flat "$mem_bad" "($mem_detail)"

summary=
for k in "${!fault_count[@]}"; do summary+="${summary:+, }$k x${fault_count[$k]}"; done
say "faults: $faults_done (${summary:-none})"
if [ ${#FAILED[@]} -eq 0 ]; then
    RESULT=0
    echo "soak: PASSED"
else
    echo "soak: FAILED (${FAILED[*]})"
    exit 1
fi
