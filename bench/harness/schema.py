"""schema.py — the tables, triggers and workload scripts, identical for every system.

Pair instances (index 1 = origin, 2 = subscriber) hold the pgbench TPC-B
tables (pgbench_history with a bigserial primary key added, so that every
system can replicate it) and the tables of the other workloads.  Mesh
instances hold one table per mesh node and mesh size (mesh<n>_kv_<i>,
written only at node i; a fresh set for the 3-node mesh, so that its third
node never misses rows loaded before it joined) so that writes at every node never conflict and PostgreSQL 15's native
replication (which has no origin filter) can replicate both ways too.

Time stamps: every probe table (bench_probe, mesh<n>_probe_<i>) has a column
`sent` (clock_timestamp() at the origin's INSERT) and `arrived`, set by a
BEFORE INSERT trigger enabled ALWAYS, so that it fires when the row is
applied on a subscriber (all three systems apply as session_replication_role
= replica).  All instances share this machine's clock, so arrived - sent is
the replication lag of that row, and the arrival times of two probes on the
subscriber give the exact apply time between them, without polling error.
"""
import os

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD_DIR = os.path.join(BENCH_DIR, "workloads")

PAIR_TABLES = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history",
               "bench_ins", "bench_kv", "bench_bulk", "bench_probe"]


def mesh_tables(n, i):
    """Node i's own tables in the n-node mesh (written only at node i)."""
    return [f"mesh{n}_kv_{i}", f"mesh{n}_probe_{i}"]


def all_mesh_tables(sizes=(2, 3)):
    return [t for n in sizes for i in range(1, n + 1) for t in mesh_tables(n, i)]


COMMON_SQL = """
CREATE FUNCTION bench_arrival() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.arrived := pg_catalog.clock_timestamp();
    RETURN NEW;
END $$;

-- One row every interval_ms into tbl, each in its own transaction, for the
-- given number of seconds: the heartbeat that lag is measured with.
CREATE PROCEDURE bench_heartbeat(tbl regclass, seconds float8, interval_ms int) LANGUAGE plpgsql AS $$
DECLARE
    stop_at timestamptz := pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => seconds);
BEGIN
    WHILE pg_catalog.clock_timestamp() < stop_at LOOP
        EXECUTE pg_catalog.format('INSERT INTO %s DEFAULT VALUES', tbl);
        COMMIT;
        PERFORM pg_catalog.pg_sleep(interval_ms / 1000.0);
    END LOOP;
END $$;
"""


def probe_table_sql(name):
    return f"""
CREATE TABLE {name} (
    id bigserial PRIMARY KEY,
    sent timestamptz NOT NULL DEFAULT clock_timestamp(),
    arrived timestamptz
);
CREATE TRIGGER arrival BEFORE INSERT ON {name} FOR EACH ROW EXECUTE FUNCTION bench_arrival();
ALTER TABLE {name} ENABLE ALWAYS TRIGGER arrival;
"""


# After `pgbench -i -I dtp` (tables and primary keys, no rows).
PAIR_SQL = """
ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY;
CREATE TABLE bench_ins (id bigserial PRIMARY KEY, a int NOT NULL, b text NOT NULL);
CREATE TABLE bench_kv (k int PRIMARY KEY, v bigint NOT NULL, pad text NOT NULL);
CREATE TABLE bench_bulk (id bigint PRIMARY KEY, a int NOT NULL, b text NOT NULL);
""" + probe_table_sql("bench_probe")


def mesh_sql(sizes=(2, 3)):
    """Every mesh table (of both mesh sizes) exists on every mesh node."""
    return "".join(f"CREATE TABLE mesh{n}_kv_{i} (k int PRIMARY KEY, v bigint NOT NULL, pad text NOT NULL);\n"
                   + probe_table_sql(f"mesh{n}_probe_{i}") for n in sizes for i in range(1, n + 1))


def kv_load_sql(table, rows):
    return f"INSERT INTO {table} SELECT g, 0, repeat('x', 40) FROM generate_series(1, {int(rows)}) g"


def bulk_sql(rows):
    """The one big transaction: `rows` inserted by a single statement."""
    return (f"INSERT INTO bench_bulk SELECT g, g % 1000, 'bulk row ' || g "
            f"FROM generate_series(1, {int(rows)}) g")


def workload_file(name):
    return os.path.join(WORKLOAD_DIR, name)


def mesh_script(out_dir, n, i):
    """The workload of node i in the n-node mesh (pgbench cannot take a table name as a variable)."""
    with open(workload_file("mesh_update.sql")) as f:
        text = f.read().replace("@TABLE@", f"mesh{n}_kv_{i}")
    path = os.path.join(out_dir, f"mesh{n}_update_{i}.sql")
    with open(path, "w") as f:
        f.write(text)
    return path


# Consistency checks: the same query on origin and subscriber must agree.
CHECKSUMS = {
    "tpcb": "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), "
            "(SELECT sum(bbalance) FROM pgbench_branches), (SELECT count(*) FROM pgbench_history)",
    "insert": "SELECT count(*), sum(a), max(id) FROM bench_ins",
    "update": "SELECT sum(v), count(*) FROM bench_kv",
    "bulk": "SELECT count(*), sum(a) FROM bench_bulk",
}


# After the set-up's initial load: every table that received rows.
INITIAL_CHECKSUM = ("SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT sum(aid::bigint) FROM pgbench_accounts), "
                    "(SELECT count(*) FROM pgbench_branches), (SELECT count(*) FROM pgbench_tellers), "
                    "(SELECT count(*) FROM bench_kv), (SELECT sum(k::bigint) FROM bench_kv)")


def mesh_checksum(n, i):
    return f"SELECT sum(v), count(*) FROM mesh{n}_kv_{i}"
