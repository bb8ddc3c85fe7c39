"""setup.py — schema, replication and data on each system's instances.

Order, the same for every system:
1. On the pair instances: the pgbench tables without rows (`pgbench -i -I
   dtp`: tables and primary keys), pgbench_history's bigserial key, the other
   workload tables; on every instance of a mesh system: the mesh tables.
2. The system's own set-up (extension, node, tables added to replication).
3. The pair link origin -> subscriber, waiting until it streams.
4. The rows, loaded at the origin only (pgbench's server-side generation in
   one transaction, then bench_kv) and replicated: every row on the
   subscriber was applied from the origin, which is the steady state of a
   mesh (a row loaded separately on both sides would, for concord, be a row
   last written by another node, and its first update a conflict).
5. VACUUM ANALYZE on both sides, so hint bits and statistics do not differ
   between runs.
"""
import time

from . import schema
from .config import MESH_SYSTEMS
from .pg import BenchError, pgbench
from .probe import sync


def setup_system(ctx, system):
    args = ctx.args
    origin, sub = system.node(1), system.node(2)
    mesh = "mesh" in args.phases and system.name in MESH_SYSTEMS
    t0 = time.monotonic()
    for node in system.nodes.values():
        node.script(schema.COMMON_SQL)
        tables = []
        if node.index <= 2:
            pgbench(node, ["-i", "-I", "dtp", "-s", args.scale], "create pgbench tables")
            node.script(schema.PAIR_SQL)
            tables += schema.PAIR_TABLES
        if mesh:
            node.script(schema.mesh_sql())
            tables += schema.all_mesh_tables()
        system.init_node(node, tables)
    link = system.link(1, 2, "pair")
    link.wait_streaming()
    t_load = time.monotonic()
    pgbench(origin, ["-i", "-I", "G", "-s", args.scale], "load pgbench tables")
    origin.execute(schema.kv_load_sql("bench_kv", args.kv_rows))
    load_s = time.monotonic() - t_load
    apply_s = sync(link, timeout=max(args.timeout, 600))
    want, got = origin.execute(schema.INITIAL_CHECKSUM), sub.execute(schema.INITIAL_CHECKSUM)
    if want != got:
        raise BenchError(f"after the initial load the subscriber differs from the origin: (accounts, sum(aid), "
                         f"branches, tellers, bench_kv, sum(k)) = {got[0]} on {sub}, {want[0]} on {origin}")
    for node in (origin, sub):
        node.script("VACUUM ANALYZE")
    conflicts = system.conflicts(sub)
    if conflicts:
        ctx.log(f"    note: {system.name} recorded {conflicts} conflict(s) while applying the initial rows")
    ctx.log(f"  {system.name}: set up in {time.monotonic() - t0:.1f}s "
            f"(initial rows loaded at the origin in {load_s:.1f}s, applied {apply_s:.1f}s later)")
    ctx.record("setup", {"system": system.name, "load_s": load_s, "initial_apply_s": apply_s,
                         "conflicts_recorded": conflicts})
