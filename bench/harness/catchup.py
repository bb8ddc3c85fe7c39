"""catchup.py — catch-up apply throughput and apply memory.

One measurement (system S, workload W), the same steps for every system:

 1. the pair link is streaming and the subscriber has applied everything
    (probe); the insert / bulk tables are emptied first (TRUNCATE at the
    origin, replicated, probe again);
 2. the link is paused: the subscriber's apply worker and the origin's
    walsender are gone;
 3. at the origin: probe "start", the workload, probe "end" (each probe its
    own transaction), a checksum of the workload's table;
 4. the link is resumed; a sampler reads the apply worker's and the
    walsender's /proc/<pid>/status every 100 ms;
 5. wait until probe "end" is visible on the subscriber; compare checksums.

apply time = arrived(end) - arrived(start), both stamped on the subscriber by
the probe table's trigger as the rows are applied.  It starts when the first
change of the backlog is applied, so the worker's start-up (process start,
connection, slot start-up) is excluded for every system alike; it includes
decoding at the origin, transfer and apply of the whole backlog, which is
what catching up costs.  Throughput = transactions (rows) of the workload /
apply time.  "resume_to_done_s" (with start-up) is recorded too.

Workloads: tpcb (pgbench's built-in TPC-B: 3 updates + 1 insert per
transaction), insert (workloads/insert.sql), update (workloads/update.sql,
random keys of bench_kv), bulk (one INSERT ... SELECT of bulk_rows rows in
one transaction) and bulk_small (the same with a tenth of the rows, so that
apply memory can be compared across transaction sizes).
"""
import time

from . import schema
from .sampler import Sampler
from .pg import BenchError, pgbench
from .probe import arrival, probe, sync, wait_arrival

WORKLOADS = ["tpcb", "insert", "update", "bulk", "bulk_small"]
ROWS_PER_TX = {"tpcb": 4, "insert": 1, "update": 1}


def generate(ctx, origin, workload, transactions=None):
    """Runs the workload at the origin (transactions: instead of its --*-tx size); returns (transactions,
    rows, pgbench report or {})."""
    a = ctx.args
    per_client = lambda default: max(1, (transactions or default) // a.clients)  # noqa: E731
    common = ["-c", a.clients, "-j", a.threads]
    if workload == "tpcb":
        r = pgbench(origin, ["-b", "tpcb-like"] + common + ["-t", per_client(a.tpcb_tx)], "tpcb backlog")
    elif workload == "insert":
        r = pgbench(origin, ["-f", schema.workload_file("insert.sql")] + common + ["-t", per_client(a.insert_tx)],
                    "insert backlog")
    elif workload == "update":
        r = pgbench(origin, ["-f", schema.workload_file("update.sql"), "-D", f"kv_rows={a.kv_rows}"] + common
                    + ["-t", per_client(a.update_tx)], "update backlog")
    else:
        rows = a.bulk_rows if workload == "bulk" else max(1, a.bulk_rows // 10)
        t0 = time.monotonic()
        origin.execute(schema.bulk_sql(rows))
        return 1, rows, {"elapsed_s": time.monotonic() - t0}
    if r.get("failed"):
        raise BenchError(f"{int(r['failed'])} {workload} transactions failed at the origin")
    txns = int(r["txns"])
    return txns, txns * ROWS_PER_TX[workload], r


def measure(ctx, system, workload, rep, transactions=None):
    a = ctx.args
    link = system.link(1, 2, "pair")
    origin, sub = link.provider, link.subscriber
    checksum = schema.CHECKSUMS["bulk" if workload.startswith("bulk") else workload]

    sync(link, timeout=a.timeout)
    conflicts0 = system.conflicts(sub)
    if workload == "insert" or workload.startswith("bulk"):
        origin.execute("TRUNCATE bench_ins" if workload == "insert" else "TRUNCATE bench_bulk")
        sync(link, timeout=a.timeout)
    link.pause()

    lsn0 = origin.value("SELECT pg_current_wal_lsn()")
    start_id = probe(origin)
    txns, rows, gen = generate(ctx, origin, workload, transactions)
    end_id = probe(origin)
    backlog = origin.value("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn0,))
    want = origin.execute(checksum)

    sampler = Sampler(link)
    sampler.start()
    t_resume = time.monotonic()
    try:
        link.resume()
        wait_arrival(link, "bench_probe", end_id, a.timeout)
        resume_to_done = time.monotonic() - t_resume
    finally:
        mem = sampler.stop()
    t_start = arrival(sub, "bench_probe", start_id)
    t_end = arrival(sub, "bench_probe", end_id)
    apply_s = (t_end - t_start).total_seconds()
    got = sub.execute(checksum)
    conflicts = system.conflicts(sub)
    rec = {
        "system": system.name, "workload": workload, "rep": rep,
        "transactions": txns, "rows": rows,
        "apply_s": apply_s,
        "tx_per_s": txns / apply_s if apply_s > 0 else None,
        "rows_per_s": rows / apply_s if apply_s > 0 else None,
        "resume_to_done_s": resume_to_done,
        "origin_generate_s": gen.get("elapsed_s"),
        "origin_tps": gen.get("tps"),
        "backlog_wal_bytes": float(backlog),
        "verified": want == got,
        "sampler_error": sampler.error,
        "conflicts_recorded": None if conflicts is None else conflicts - conflicts0,
    }
    if rec["conflicts_recorded"]:
        ctx.log(f"    note: {system.name} recorded {rec['conflicts_recorded']} conflict(s) on the subscriber "
                "during this run, which writes at one node only")
    rec.update(mem)
    if want != got:
        ctx.fail(f"catch-up {workload} rep {rep}: {system.name} subscriber differs from the origin "
                 f"after catching up: origin {want}, subscriber {got}")
    return rec


def run(ctx):
    a = ctx.args
    systems = ctx.ordered_systems()
    ctx.log(f"catch-up: {a.reps} repetition(s) x {len(WORKLOADS)} workloads x {len(systems)} systems, interleaved")
    if "pglogical_spi" in [s.name for s in systems] and a.spi_reps < a.reps:
        ctx.log(f"  (pglogical_spi, the slowest series, runs in the first {a.spi_reps} repetition(s) only)")
    for rep in range(a.reps):
        order = [s for s in ctx.rotate(systems, rep) if s.name != "pglogical_spi" or rep < a.spi_reps]
        for w in WORKLOADS:
            for system in order:
                t0 = time.monotonic()
                rec = ctx.attempt(f"catch-up {w} on {system.name}", measure, ctx, system, w, rep)
                if rec is None:
                    continue
                ctx.record("catchup", rec)
                rate = (f"{rec['tx_per_s']:,.0f} tx/s" if not w.startswith("bulk")
                        else f"{rec['rows_per_s']:,.0f} rows/s")
                mem = rec.get("apply_rssanon_kb")
                ctx.log(f"  rep {rep + 1} {w:<10} {system.name:<14} {rate:>16}  apply {rec['apply_s']:6.2f}s"
                        f"  (resume->done {rec['resume_to_done_s']:.2f}s, apply anon peak "
                        f"{(mem or 0) / 1024:.1f} MiB, {time.monotonic() - t0:.0f}s wall)"
                        + ("" if rec["verified"] else "  DATA MISMATCH"))
