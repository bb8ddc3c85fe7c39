#!/usr/bin/env bash
# demo.sh — concord's main job on one machine: build and install concord,
# start a 3-node mesh on loopback, write at every node (conflicting writes
# included), and show that the nodes converge and which conflicts were
# resolved, and how.
#
#   bash scripts/demo.sh           # keeps nothing: servers stop at the end
#   KEEP=1 bash scripts/demo.sh    # leaves the mesh running for a look around
set -euo pipefail
. "$(dirname "$0")/lib/cluster.sh"

install_deps
build_install

BASE=${DEMO_DIR:-/tmp/concord-demo}
PORTS=(55431 55432 55433)
NODES=(alpha beta gamma)

if [ -z "${KEEP:-}" ]; then trap cluster_stop_all EXIT; fi
# Nodes left over from an earlier KEEP=1 run are stopped first.
for n in "${NODES[@]}"; do [ -d "$BASE/$n" ] && CLUSTER_BASE=$BASE cluster_stop "$n" immediate; done
rm -rf "$BASE"
cluster_init "$BASE"

log "starting 3 PostgreSQL nodes on 127.0.0.1 (${PORTS[*]})"
for i in 0 1 2; do
    cluster_create "${NODES[$i]}" "${PORTS[$i]}"
    cluster_start "${NODES[$i]}"
    as_pg "$PG_BINDIR/createdb" -h "$BASE" -p "${PORTS[$i]}" concord
done

log "creating the schema, the nodes and the full mesh"
for n in "${NODES[@]}"; do
    psql_at "$n" <<SQL >/dev/null
CREATE EXTENSION concord;
SELECT concord.create_node('$n', '$(dsn_of "$n")');
CREATE TABLE inventory (sku text PRIMARY KEY, name text NOT NULL, stock int NOT NULL);
ALTER TABLE inventory REPLICA IDENTITY FULL;   -- delta columns need whole old rows
SELECT concord.add_table('inventory');
SELECT concord.set_delta_columns('inventory', '{stock}');
CREATE TABLE profiles (user_id int PRIMARY KEY, email text, city text);
SELECT concord.add_table('profiles');            -- last_update_wins by default
SQL
done
for n in "${NODES[@]}"; do
    for p in "${NODES[@]}"; do
        [ "$n" = "$p" ] && continue
        psql_at "$n" -c "SELECT concord.subscribe('$p', '$(dsn_of "$p")')" >/dev/null
    done
done

wait_all() {
    for n in "${NODES[@]}"; do
        [ "$(psql_at "$n" -Atc "SELECT concord.wait_for_peers('60s')")" = t ] || die "node $n did not converge"
    done
}

log "writing at every node"
psql_at alpha -c "INSERT INTO inventory VALUES ('apple', 'Apple', 100), ('pear', 'Pear', 50)" \
              -c "INSERT INTO profiles SELECT g, 'user' || g || '@alpha.example', 'Lisbon' FROM generate_series(1, 100) g"
psql_at beta  -c "INSERT INTO profiles SELECT g, 'user' || g || '@beta.example', 'Oslo' FROM generate_series(101, 200) g"
psql_at gamma -c "INSERT INTO inventory VALUES ('plum', 'Plum', 70)"
wait_all

log "conflicting writes: every node is cut off (paused), then all write the same rows"
for n in "${NODES[@]}"; do
    for p in "${NODES[@]}"; do [ "$n" = "$p" ] || psql_at "$n" -c "SELECT concord.pause('$p')" >/dev/null; done
done
psql_at alpha -c "UPDATE profiles SET city = 'Porto' WHERE user_id = 1" \
              -c "UPDATE inventory SET stock = stock - 30 WHERE sku = 'apple'" \
              -c "INSERT INTO profiles VALUES (500, 'first@alpha.example', 'Lisbon')" \
              -c "DELETE FROM profiles WHERE user_id = 2"
sleep 0.2   # later commits win under last_update_wins: make the order visible
psql_at beta  -c "UPDATE profiles SET city = 'Bergen' WHERE user_id = 1" \
              -c "UPDATE inventory SET stock = stock - 20 WHERE sku = 'apple'" \
              -c "INSERT INTO profiles VALUES (500, 'second@beta.example', 'Oslo')" \
              -c "UPDATE profiles SET city = 'Tromso' WHERE user_id = 2"
sleep 0.2
psql_at gamma -c "UPDATE profiles SET city = 'Madrid' WHERE user_id = 1" \
              -c "UPDATE inventory SET stock = stock + 5 WHERE sku = 'apple'" \
              -c "DELETE FROM profiles WHERE user_id = 3"
log "resuming replication"
for n in "${NODES[@]}"; do
    for p in "${NODES[@]}"; do [ "$n" = "$p" ] || psql_at "$n" -c "SELECT concord.resume('$p')" >/dev/null; done
done
wait_all

log "every node now holds the same rows"
for n in "${NODES[@]}"; do
    psql_at "$n" -Atc "SELECT '$n: ' || (SELECT count(*) FROM profiles) || ' profiles, hash ' ||
        (SELECT md5(string_agg(format('%s|%s|%s', user_id, email, city), ',' ORDER BY user_id)) FROM profiles) ||
        ', apple stock ' || (SELECT stock FROM inventory WHERE sku = 'apple')"
done

log "the contested rows, as every node sees them"
psql_at gamma -c "SELECT user_id, email, city FROM profiles WHERE user_id IN (1, 2, 3, 500) ORDER BY user_id" \
              -c "SELECT sku, stock AS \"stock (100 - 30 - 20 + 5)\" FROM inventory WHERE sku = 'apple'"

log "conflicts resolved (concord.conflict_stats, all nodes)"
for n in "${NODES[@]}"; do
    psql_at "$n" -c "SELECT '$n' AS node, relation, conflict_type, resolution, count
                     FROM concord.conflict_stats ORDER BY relation::text, conflict_type, resolution"
done

log "one conflict in detail (gamma)"
psql_at gamma -x -c "SELECT at, relation, conflict_type, resolution, local_origin, remote_origin,
                            local_commit_ts, remote_commit_ts, local_tuple, remote_tuple
                     FROM concord.conflicts WHERE conflict_type = 'insert_exists' LIMIT 1"

log "peers (alpha)"
psql_at alpha -c "SELECT peer_name, status, applied_lsn, lag_bytes, last_error FROM concord.peers"

if [ -n "${KEEP:-}" ]; then
    log "the mesh keeps running: psql -h $BASE -p ${PORTS[0]} -U postgres concord (stop with pg_ctl -D $BASE/<node> stop)"
else
    log "done; stopping the nodes"
fi
