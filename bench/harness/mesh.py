"""mesh.py — 2-node and 3-node meshes with writes at every node.

Each node i of an n-node mesh writes only its own table mesh<n>_kv_<i>
(workloads/mesh_update.sql: one single-row UPDATE of a random key per
transaction, mesh_clients pgbench clients, unthrottled) and runs a heartbeat
into mesh<n>_probe_<i>; every node replicates its tables to every other node.
Disjoint tables keep the writes free of conflicts, so the three systems do
the same work, and let PostgreSQL 15's native replication run both ways
although it has no origin filter (`origin = none` needs PostgreSQL 16): node
i publishes only its own tables, so nothing it applies is sent on.  concord
sends only what originated at a node (one subscription per peer pair, all
tables); pglogical subscribes with forward_origins = '{}'.

Reported per node: pgbench TPS; per direction i -> j: heartbeat lag
p50/p99/max during the run (every heartbeat, also those applied after the
load stopped), and how long after the load stopped j had applied all of i's
writes ("drain").  The node's rows are loaded at that node after the links
exist, and checked equal on every node at the end of each run.
"""
import time

from . import config, schema
from .pg import BenchError, Pgbench
from .probe import probe, sync_all, wait_arrival
from .sustained import Heartbeat, collect_lags, lag_stats


def probe_table(n, link):
    return f"mesh{n}_probe_{link.provider.index}"


def mesh_links(system, n):
    return [system.link(p, s, f"mesh{n}") for p in range(1, n + 1) for s in range(1, n + 1) if p != s]


def setup(ctx, system, n):
    a = ctx.args
    links = mesh_links(system, n)
    system.run_only(links)  # not the pair link, not the other mesh's
    for link in links:
        link.wait_streaming()
    for i in range(1, n + 1):
        system.node(i).execute(schema.kv_load_sql(f"mesh{n}_kv_{i}", a.mesh_rows))
    sync_all(links, lambda l: probe_table(n, l), timeout=a.timeout)
    for i in range(1, n + 1):
        want = system.node(i).execute(schema.mesh_checksum(n, i))
        for j in range(1, n + 1):
            got = system.node(j).execute(schema.mesh_checksum(n, i))
            if j != i and got != want:
                raise BenchError(f"after loading the {n}-node mesh, node {j}'s mesh{n}_kv_{i} differs from node "
                                 f"{i}'s: {got[0]} vs {want[0]}")
    for i in range(1, n + 1):
        system.node(i).script("VACUUM ANALYZE")
    ctx.log(f"  {system.name}: {n}-node mesh ready ({len(links)} links)")
    return True


def run_once(ctx, system, n, rep):
    a = ctx.args
    links = mesh_links(system, n)
    nodes = [system.node(i) for i in range(1, n + 1)]
    sync_all(links, lambda l: probe_table(n, l), timeout=a.timeout)
    before = {nd.index: probe(nd, f"mesh{n}_probe_{nd.index}") for nd in nodes}
    t0 = float(nodes[0].value("SELECT extract(epoch FROM clock_timestamp())"))
    hbs = [Heartbeat(nd, f"mesh{n}_probe_{nd.index}", a.mesh_seconds, a.heartbeat_ms) for nd in nodes]
    benches = []
    try:
        for hb in hbs:
            hb.start()
        for nd in nodes:
            script = schema.mesh_script(ctx.out_dir, n, nd.index)
            benches.append(Pgbench(nd, ["-f", script, "-D", f"mesh_rows={a.mesh_rows}", "-c", a.mesh_clients,
                                        "-j", 1, "-T", a.mesh_seconds], f"mesh{n} writes"))
        reports = [b.wait(timeout=a.mesh_seconds * 3 + 60) for b in benches]
    finally:
        for b in benches:
            b.kill()
        for hb in hbs:
            hb.join()
    for hb in hbs:
        if hb.error:
            raise BenchError(f"heartbeat on {hb.node} failed: {hb.error}")
    t_end = time.monotonic()
    after = {nd.index: probe(nd, f"mesh{n}_probe_{nd.index}") for nd in nodes}
    rec = {"system": system.name, "nodes": n, "rep": rep}
    for nd, r in zip(nodes, reports):
        rec[f"tps_{nd.index}"] = r["tps"]
    rec["tps_total"] = sum(r["tps"] for r in reports)
    directions = []
    for link in links:
        p, s = link.provider.index, link.subscriber.index
        table = f"mesh{n}_probe_{p}"
        wait_arrival(link, table, after[p], a.timeout)
        drain = time.monotonic() - t_end
        st = lag_stats([l for _, l in collect_lags(link.subscriber, table, before[p], after[p], t0)])
        d = {"direction": f"{p}->{s}", "drain_s": drain}
        d.update(st)
        directions.append(d)
    rec["directions"] = directions
    for i in range(1, n + 1):
        q = schema.mesh_checksum(n, i)
        want = system.node(i).execute(q)
        for j in range(1, n + 1):
            if j != i and system.node(j).execute(q) != want:
                ctx.fail(f"{n}-node mesh on {system.name}: node {j}'s copy of node {i}'s table differs")
                rec["verified"] = False
    rec.setdefault("verified", True)
    counts = [system.conflicts(nd) for nd in nodes]
    rec["conflicts_recorded_total"] = None if None in counts else sum(counts)
    return rec


def run(ctx):
    a = ctx.args
    systems = ctx.ordered_systems(config.MESH_SYSTEMS)
    ctx.log(f"mesh: sizes {a.mesh_sizes}, {len(systems)} systems, {a.mesh_seconds}s of writes at every node, "
            f"{a.mesh_clients} client(s) per node")
    for n in a.mesh_sizes:
        ready = [s for s in systems if ctx.attempt(f"{n}-node mesh set-up on {s.name}", setup, ctx, s, n)]
        for system in ready:
            rec = ctx.attempt(f"{n}-node mesh run on {system.name}", run_once, ctx, system, n, 0)
            if rec is None:
                continue
            ctx.record("mesh", rec)
            tps = " ".join(f"n{i}={rec[f'tps_{i}']:.0f}" for i in range(1, n + 1))
            lags = "  ".join(f"{d['direction']}: p50 {d['p50_ms']:.0f} p99 {d['p99_ms']:.0f} max {d['max_ms']:.0f} ms"
                             for d in rec["directions"])
            ctx.log(f"  {n} nodes {system.name:<10} TPS {tps}\n      lag {lags}")
