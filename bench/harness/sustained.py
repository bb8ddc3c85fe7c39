"""sustained.py — origin write overhead and lag under a fixed-rate load.

Origin overhead (per system, per repetition, order alternating):
  without  the pair link paused (no walsender, no apply worker; the slot
           keeps the WAL): pgbench TPC-B for overhead_seconds at the origin;
           afterwards the link is resumed and the backlog drained.
  with     the link streaming and caught up: the same pgbench run; the
           subscriber applies concurrently (on the same two cores: the
           figure includes the cost of the apply running beside the origin,
           as on any one-machine set-up, for every system alike); then the
           backlog is drained.
One node's max TPS is the median of every "without" run of every system; the
fixed rates of the lag runs are percentages of it.

Lag (per rate, per system): the link streaming and caught up; at the origin
pgbench TPC-B with --rate and, once it has run for LAG_MARGIN_S, a heartbeat
for lag_seconds (bench_heartbeat: one bench_probe row every heartbeat_ms ms,
each its own transaction); the load goes on LAG_MARGIN_S after it.  Lag of a
heartbeat = arrived - sent (subscriber's apply time minus the origin's
insert time, same clock).  Every heartbeat counts, including those applied
after the load stopped.  Why the margins: the lag is that of a sustained
load; pgbench's first moments (its clients connecting, then running ahead to
catch up with its schedule) and the last heartbeat sent after it stopped
are not that.
"""
import statistics
import threading
import time

from . import config
from .pg import BenchError, Pgbench, pgbench
from .probe import probe, sync, wait_arrival

# Seconds of fixed-rate load before the first heartbeat and after the last.
LAG_MARGIN_S = 1

def tpcb_args(ctx, seconds, rate=None):
    a = ctx.args
    args = ["-b", "tpcb-like", "-c", a.clients, "-j", a.threads, "-T", seconds]
    if rate is not None:
        args += ["--rate", f"{rate:.1f}"]
    return args


def overhead_once(ctx, system, mode, rep):
    a = ctx.args
    link = system.link(1, 2, "pair")
    origin = link.provider
    sync(link, timeout=a.timeout)
    if mode == "without":
        link.pause()
    r = pgbench(origin, tpcb_args(ctx, a.overhead_seconds), f"origin TPS {mode} replication",
                timeout=a.overhead_seconds * 3 + 60)
    t0 = time.monotonic()
    if mode == "without":
        link.resume()
    sync(link, timeout=a.timeout)
    return {"system": system.name, "mode": mode, "rep": rep, "tps": r["tps"], "txns": r["txns"],
            "latency_avg_ms": r.get("latency_avg_ms"), "drain_s": time.monotonic() - t0}


def run_overhead(ctx):
    a = ctx.args
    systems = ctx.ordered_systems(config.OVERHEAD_SYSTEMS)
    ctx.log(f"origin overhead: {a.reps} repetition(s) x {len(systems)} systems x (without, with), "
            f"{a.overhead_seconds}s each")
    for rep in range(a.reps):
        for system in ctx.rotate(systems, rep):
            modes = ("without", "with") if rep % 2 == 0 else ("with", "without")
            for mode in modes:
                rec = ctx.attempt(f"origin TPS {mode} replication on {system.name}", overhead_once, ctx, system,
                                  mode, rep)
                if rec is None:
                    continue
                ctx.record("overhead", rec)
                ctx.log(f"  rep {rep + 1} {system.name:<14} {mode:<8} {rec['tps']:8.0f} TPS "
                        f"(backlog drained {rec['drain_s']:.1f}s after)")


def max_tps(ctx):
    """One node's max TPC-B TPS in this run: median of the origins' runs without replication."""
    vals = [r["tps"] for r in ctx.results.get("overhead", []) if r["mode"] == "without"]
    if not vals:
        system = (ctx.ordered_systems(config.OVERHEAD_SYSTEMS) or ctx.ordered_systems())[0]
        ctx.log(f"  measuring one node's max TPS on {system.name}'s origin (no overhead phase ran)")
        for rep in range(2):
            rec = overhead_once(ctx, system, "without", rep)
            ctx.record("overhead", rec)
            vals.append(rec["tps"])
    return statistics.median(vals)


def percentile(sorted_vals, p):
    """Linear interpolation between closest ranks (p in 0..100)."""
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def lag_stats(lags):
    s = sorted(lags)
    return {"samples": len(s), "p50_ms": percentile(s, 50), "p99_ms": percentile(s, 99),
            "max_ms": s[-1] if s else None, "mean_ms": statistics.fmean(s) if s else None}


class Heartbeat(threading.Thread):
    """CALL bench_heartbeat(...) on its own connection."""

    def __init__(self, node, table, seconds, interval_ms):
        super().__init__(daemon=True)
        self.node, self.table, self.seconds, self.interval_ms = node, table, seconds, interval_ms
        self.error = None

    def run(self):
        try:
            conn = self.node.connect("concord_bench_heartbeat")
            try:
                with conn.cursor() as cur:
                    cur.execute("CALL bench_heartbeat(%s, %s, %s)", (self.table, self.seconds, self.interval_ms))
            finally:
                conn.close()
        except Exception as e:
            self.error = str(e)


def collect_lags(node, table, after_id, before_id, t0):
    """[(seconds since t0 at the origin, lag ms)] of the heartbeats between two probe ids."""
    rows = node.execute(
        f"SELECT extract(epoch FROM sent), extract(epoch FROM arrived - sent) * 1000 FROM {table} "
        f"WHERE id > %s AND id < %s ORDER BY id", (after_id, before_id))
    missing = [r for r in rows if r[1] is None]
    if missing:
        raise BenchError(f"{len(missing)} heartbeats on {node} have no arrival time")
    return [(float(s) - t0, float(l)) for s, l in rows]


def lag_once(ctx, system, rate_pct, rate, rep):
    a = ctx.args
    link = system.link(1, 2, "pair")
    origin, sub = link.provider, link.subscriber
    sync(link, timeout=a.timeout)
    before = probe(origin)
    load_seconds = a.lag_seconds + 2 * LAG_MARGIN_S
    bench = Pgbench(origin, tpcb_args(ctx, load_seconds, rate), f"TPC-B at {rate:.0f} TPS")
    hb = None
    try:
        time.sleep(LAG_MARGIN_S)
        t0 = float(origin.value("SELECT extract(epoch FROM clock_timestamp())"))
        hb = Heartbeat(origin, "bench_probe", a.lag_seconds, a.heartbeat_ms)
        hb.start()
        r = bench.wait(timeout=load_seconds * 3 + 60)
    finally:
        bench.kill()
        if hb is not None:
            hb.join()
    if hb.error:
        raise BenchError(f"heartbeat on {origin} failed: {hb.error}")
    t_end = time.monotonic()
    after = probe(origin)
    wait_arrival(link, "bench_probe", after, a.timeout)
    drain = time.monotonic() - t_end
    series = collect_lags(sub, "bench_probe", before, after, t0)
    rec = {"system": system.name, "rate_pct": rate_pct, "rate_tps": rate, "rep": rep,
           "achieved_tps": r["tps"], "schedule_lag_avg_ms": r.get("schedule_lag_avg_ms"),
           "drain_s": drain}
    rec.update(lag_stats([l for _, l in series]))
    return rec, series


def run_lag(ctx):
    a = ctx.args
    systems = ctx.ordered_systems()
    top = max_tps(ctx)
    ctx.record("max_tps", {"tps": top})
    ctx.log(f"lag: one node's max TPC-B TPS here = {top:.0f}; rates "
            + ", ".join(f"{p:g}% = {top * p / 100:.0f} TPS" for p in a.lag_rates)
            + f"; heartbeats every {a.heartbeat_ms} ms for {a.lag_seconds}s of each run, "
            f"the load {LAG_MARGIN_S}s longer on either side")
    i = 0
    for pct in a.lag_rates:
        rate = top * pct / 100.0
        for rep in range(a.lag_reps):
            for system in ctx.rotate(systems, i):
                res = ctx.attempt(f"lag at {pct:g}% on {system.name}", lag_once, ctx, system, pct, rate, rep)
                if res is None:
                    continue
                rec, series = res
                ctx.record("lag", rec)
                for t, l in series:
                    ctx.record("lag_samples", {"system": system.name, "rate_pct": pct, "rep": rep,
                                               "t_s": round(t, 4), "lag_ms": round(l, 3)})
                ctx.log(f"  {pct:>4g}% {system.name:<14} p50 {rec['p50_ms']:8.1f} ms  p99 {rec['p99_ms']:8.1f} ms"
                        f"  max {rec['max_ms']:8.1f} ms  (origin {rec['achieved_tps']:.0f} TPS, "
                        f"drained {rec['drain_s']:.1f}s after)")
            i += 1
