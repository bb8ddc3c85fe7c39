"""report.py — summary tables, the issue's targets, raw files and the lag plot.

Every figure in the summary is a median over the repetitions of this run,
with [min-max] beside it, and a ratio to native's median measured in the
same run.  The raw records behind them are written unchanged (CSV and JSON).
"""
import csv
import json
import os
import statistics

from .config import LABELS
from . import sustained
from .instructions import backlogs

# Apply memory counts as flat when the apply worker's private memory at the
# big transaction exceeds that at a tenth of it by no more than this.
FLAT_SLACK_MIB = 8.0


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def span(vals):
    vals = [v for v in vals if v is not None]
    return (min(vals), max(vals)) if vals else (None, None)


def fmt_num(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def fmt_cell(vals, digits=0, ratio_to=None, lower_is_better=False):
    m = med(vals)
    if m is None:
        return "n/a"
    lo, hi = span(vals)
    s = fmt_num(m, digits)
    if len([v for v in vals if v is not None]) > 1:
        s += f" [{fmt_num(lo, digits)}–{fmt_num(hi, digits)}]"
    if ratio_to:
        s += f" ({m / ratio_to:.2f}x)"
    return s


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


CATCHUP_ROWS = [("tpcb", "TPC-B", "tx/s", "tx_per_s"), ("insert", "single-row inserts", "tx/s", "tx_per_s"),
                ("update", "single-row updates", "tx/s", "tx_per_s"), ("bulk", "one big transaction", "rows/s",
                                                                       "rows_per_s"),
                ("bulk_small", "one big transaction / 10", "rows/s", "rows_per_s")]
# The small-transaction workloads (rows/s of the catch-up table, instruction counts).
SMALL_TX_ROWS = [(w, label) for w, label, _, field in CATCHUP_ROWS if field == "tx_per_s"]


class Summary:
    def __init__(self, ctx):
        self.ctx = ctx
        self.res = ctx.results
        self.systems = [s for s in ctx.args.systems]

    def records(self, kind, **where):
        return [r for r in self.res.get(kind, []) if all(r.get(k) == v for k, v in where.items())]

    def values(self, kind, field, **where):
        return [r.get(field) for r in self.records(kind, **where)]

    def paired_ratios(self, kind, field, where):
        """concord / native of each repetition that measured both: the two runs of a repetition are
        adjacent, so a drift of the machine's speed between repetitions cancels out of the ratio."""
        by_rep = {}
        for r in self.records(kind, **where):
            if r.get("system") in ("concord", "native") and r.get(field) is not None:
                by_rep.setdefault(r.get("rep"), {})[r["system"]] = r[field]
        return [p["concord"] / p["native"] for p in by_rep.values()
                if "concord" in p and "native" in p and p["native"]]

    # -- catch-up -----------------------------------------------------------
    def catchup(self):
        a = self.ctx.args
        rows = []
        for w, label, unit, field in CATCHUP_ROWS:
            size = (f" ({a.bulk_rows:,} rows)" if w == "bulk" else f" ({max(1, a.bulk_rows // 10):,} rows)"
                    if w == "bulk_small" else "")
            native = med(self.values("catchup", field, system="native", workload=w))
            row = [label + size, unit]
            for s in self.systems:
                vals = self.values("catchup", field, system=s, workload=w)
                row.append(fmt_cell(vals, ratio_to=native if s != "native" else None))
            rows.append(row)
        # rows/s of the small-transaction workloads as well
        for w, label in SMALL_TX_ROWS:
            native = med(self.values("catchup", "rows_per_s", system="native", workload=w))
            row = [label, "rows/s"]
            for s in self.systems:
                row.append(fmt_cell(self.values("catchup", "rows_per_s", system=s, workload=w),
                                    ratio_to=native if s != "native" else None))
            rows.append(row)
        return table(["workload", "unit"] + [LABELS[s] for s in self.systems], rows)

    def cpu(self):
        """CPU microseconds per transaction (per row for the big transactions) of the apply worker and
        of the walsender, over the whole catch-up: whether a system is slower because it computes more
        or because it waits."""
        rows = []
        for w, label, _, field in CATCHUP_ROWS:
            per = "rows" if field == "rows_per_s" else "transactions"
            for role in ("apply", "walsender"):
                native = med(self.per_unit("native", w, role, per))
                row = [label, role]
                for s in self.systems:
                    row.append(fmt_cell(self.per_unit(s, w, role, per), 1,
                                        ratio_to=native if s != "native" else None))
                rows.append(row)
        return table(["workload", "process"] + [LABELS[s] for s in self.systems], rows)

    def per_unit(self, system, workload, role, per):
        return [r[f"{role}_cpu_s"] * 1e6 / r[per] if r.get(f"{role}_cpu_s") is not None and r.get(per) else None
                for r in self.records("catchup", system=system, workload=workload)]

    def instructions(self):
        """Instructions the apply process executes per transaction (one count per system and workload)."""
        rows = []
        for w, label in SMALL_TX_ROWS:
            native = med(self.values("instructions", "ir_per_tx", system="native", workload=w))
            row = [label]
            for s in self.systems:
                row.append(fmt_cell(self.values("instructions", "ir_per_tx", system=s, workload=w),
                                    ratio_to=native if s != "native" else None))
            rows.append(row)
        return table(["workload"] + [LABELS[s] for s in self.systems], rows)

    def memory(self):
        rows = []
        mib = lambda vals: [v / 1024 if v is not None else None for v in vals]  # noqa: E731
        for s in self.systems:
            big = dict(system=s, workload="bulk")
            small = dict(system=s, workload="bulk_small")
            rows.append([LABELS[s],
                         fmt_cell(mib(self.values("catchup", "apply_vmhwm_kb", **big)), 1),
                         fmt_cell(mib(self.values("catchup", "apply_rssanon_kb", **small)), 1),
                         fmt_cell(mib(self.values("catchup", "apply_rssanon_kb", **big)), 1),
                         fmt_cell(mib(self.values("catchup", "walsender_vmhwm_kb", **big)), 1),
                         fmt_cell(mib(self.values("catchup", "walsender_rssanon_kb", **big)), 1)])
        return table(["system", "apply VmHWM, big tx (MiB)", "apply peak RssAnon, tx/10 (MiB)",
                      "apply peak RssAnon, big tx (MiB)", "walsender VmHWM, big tx (MiB)",
                      "walsender peak RssAnon, big tx (MiB)"], rows)

    # -- origin overhead ----------------------------------------------------
    def overhead(self):
        native_with = med(self.values("overhead", "tps", system="native", mode="with"))
        rows = []
        for s in self.systems:
            without = self.values("overhead", "tps", system=s, mode="without")
            with_ = self.values("overhead", "tps", system=s, mode="with")
            if not without and not with_:
                continue
            keep = (f"{med(with_) / med(without) * 100:.0f}%" if med(with_) and med(without) else "n/a")
            rows.append([LABELS[s], fmt_cell(without), fmt_cell(with_), keep,
                         f"{med(with_) / native_with:.2f}x" if med(with_) and native_with else "n/a"])
        return table(["system", "TPS without replication", "TPS with replication streaming",
                      "kept", "with-replication TPS vs native"], rows)

    # -- lag ----------------------------------------------------------------
    def lag(self):
        rows = []
        for pct in self.ctx.args.lag_rates:
            native = med(self.values("lag", "p99_ms", system="native", rate_pct=pct))
            for s in self.systems:
                p99 = self.values("lag", "p99_ms", system=s, rate_pct=pct)
                if not p99:
                    continue
                rate = med(self.values("lag", "rate_tps", system=s, rate_pct=pct))
                rows.append([f"{pct:g}% ({rate:.0f} TPS)", LABELS[s],
                             fmt_cell(self.values("lag", "p50_ms", system=s, rate_pct=pct), 1),
                             fmt_cell(p99, 1),
                             fmt_cell(self.values("lag", "max_ms", system=s, rate_pct=pct), 1),
                             f"{med(p99) / native:.2f}x" if native and s != "native" else "",
                             fmt_cell(self.values("lag", "achieved_tps", system=s, rate_pct=pct)),
                             fmt_cell(self.values("lag", "drain_s", system=s, rate_pct=pct), 1)])
        return table(["rate", "system", "p50 (ms)", "p99 (ms)", "max (ms)", "p99 vs native",
                      "origin TPS reached", "drained after (s)"], rows)

    # -- mesh ---------------------------------------------------------------
    def mesh(self):
        rows = []
        for r in self.res.get("mesh", []):
            n = r["nodes"]
            tps = " / ".join(fmt_num(r[f"tps_{i}"]) for i in range(1, n + 1))
            lags = "<br>".join(f"{d['direction']}: {d['p50_ms']:.0f} / {d['p99_ms']:.0f} / {d['max_ms']:.0f}"
                               for d in r["directions"])
            drain = max(d["drain_s"] for d in r["directions"])
            rows.append([str(n), LABELS[r["system"]], tps, fmt_num(r["tps_total"]), lags, f"{drain:.1f}"])
        return table(["nodes", "system", "TPS per node", "TPS total", "lag each way p50 / p99 / max (ms)",
                      "all applied after (s)"], rows)

    def checks(self):
        lines = []
        cu = self.res.get("catchup", [])
        bad = [r for r in cu if not r.get("verified")]
        lines.append(f"- catch-up runs whose subscriber matched the origin's checksum afterwards: "
                     f"{len(cu) - len(bad)} of {len(cu)}")
        ms = self.res.get("mesh", [])
        if ms:
            lines.append(f"- mesh runs whose tables matched on every node: "
                         f"{sum(1 for r in ms if r.get('verified'))} of {len(ms)}")
        conflicts = sum(r.get("conflicts_recorded") or 0 for r in cu + self.res.get("setup", []))
        conflicts += sum(r.get("conflicts_recorded_total") or 0 for r in ms if r.get("system") == "concord")
        if "concord" in self.systems:
            lines.append(f"- conflicts concord recorded (every workload writes each row at one node only, so 0 is "
                         f"expected): {conflicts}")
        probs = self.ctx.log_problems
        lines.append("- server log lines that look like problems: "
                     + (", ".join(f"{p['node']} {p['count']}" for p in probs if p["count"]) or "none"))
        lines.append(f"- failed measurements: {len(self.ctx.failures)}")
        m = self.ctx.meta
        if "concord_library" in m:
            lines.append(f"- concord measured: {m['concord_library']} (sha256 {str(m['concord_library_sha256'])[:12]}, "
                         f"installed {m['concord_library_mtime']}); "
                         + ("this checkout's build" if m.get("concord_library_is_checkout_build") else
                            "NOT the build of this checkout") + f" (checkout at {m.get('checkout_commit')}, "
                         f"{m.get('checkout_changed_files')} changed file(s))")
        idle = self.ctx.meta.get("machine", {}).get("cpu_idle_at_start_pct")
        if idle is not None:
            lines.append(f"- CPU idle before the run: {idle:.0f}%; load average at start / end: "
                         f"{' '.join(self.ctx.meta['machine'].get('loadavg_at_start', []))} / "
                         f"{' '.join(self.ctx.meta['machine'].get('loadavg_at_end', []))}; other PostgreSQL servers "
                         f"running: {len(self.ctx.meta.get('foreign_postgres_processes', []))}")
        return "\n".join(lines)

    # -- targets ------------------------------------------------------------
    def targets(self):
        out = []

        def ratio_target(name, kind, field, where, need, higher=True):
            c = med(self.values(kind, field, system="concord", **where))
            n = med(self.values(kind, field, system="native", **where))
            if c is None or n is None or n == 0:
                out.append({"target": name, "verdict": "n/a", "ratio": None, "concord": c, "native": n})
                return
            ratio = c / n
            ok = ratio >= need if higher else ratio <= need
            out.append({"target": name, "verdict": "MET" if ok else "MISSED", "ratio": ratio, "concord": c,
                        "native": n, "paired": self.paired_ratios(kind, field, where)})

        ratio_target("catch-up TPC-B >= 1.0x native (tx/s)", "catchup", "tx_per_s", {"workload": "tpcb"}, 1.0)
        ratio_target("catch-up single-row inserts >= 1.0x native (tx/s)", "catchup", "tx_per_s",
                     {"workload": "insert"}, 1.0)
        ratio_target("catch-up single-row updates >= 1.0x native (tx/s)", "catchup", "tx_per_s",
                     {"workload": "update"}, 1.0)
        ratio_target(f"catch-up one {self.ctx.args.bulk_rows:,}-row transaction >= 1.2x native (rows/s)",
                     "catchup", "rows_per_s", {"workload": "bulk"}, 1.2)
        ratio_target("origin TPS with concord streaming >= native's", "overhead", "tps", {"mode": "with"}, 1.0)
        for pct in (50.0, 75.0):
            if pct in self.ctx.args.lag_rates:
                ratio_target(f"lag p99 at {pct:g}% of max TPS <= native's", "lag", "p99_ms", {"rate_pct": pct},
                             1.0, higher=False)
        # memory flat in transaction size
        big = med(self.values("catchup", "apply_rssanon_kb", system="concord", workload="bulk"))
        small = med(self.values("catchup", "apply_rssanon_kb", system="concord", workload="bulk_small"))
        nbig = med(self.values("catchup", "apply_rssanon_kb", system="native", workload="bulk"))
        nsmall = med(self.values("catchup", "apply_rssanon_kb", system="native", workload="bulk_small"))
        name = f"apply memory flat in transaction size (peak RssAnon growth from tx/10 to tx <= {FLAT_SLACK_MIB:g} MiB)"
        if big is None or small is None:
            out.append({"target": name, "verdict": "n/a", "ratio": None})
        else:
            growth = (big - small) / 1024
            ngrowth = (nbig - nsmall) / 1024 if nbig is not None and nsmall is not None else None
            out.append({"target": name, "verdict": "MET" if growth <= FLAT_SLACK_MIB else "MISSED",
                        "ratio": big / small if small else None, "concord": growth, "native": ngrowth,
                        "detail": f"concord {small / 1024:.1f} -> {big / 1024:.1f} MiB ({growth:+.1f})"
                                  + (f"; native {nsmall / 1024:.1f} -> {nbig / 1024:.1f} MiB ({ngrowth:+.1f})"
                                     if ngrowth is not None else "")})
        return out

    def targets_table(self, targets):
        rows = []
        for t in targets:
            if "detail" in t:
                measured = t["detail"]
            elif t["ratio"] is not None:
                measured = f"{t['ratio']:.2f}x (concord {fmt_num(t['concord'], 1)}, native {fmt_num(t['native'], 1)})"
                if len(t.get("paired") or []) > 1:
                    lo, hi = span(t["paired"])
                    measured += f"; per repetition {med(t['paired']):.2f}x [{lo:.2f}–{hi:.2f}]"
            else:
                measured = "not measured"
            rows.append([t["target"], t["verdict"], measured])
        return table(["target (issue 5)", "verdict",
                      "measured: ratio of the medians of this run (decides the verdict); "
                      "median [min–max] of the ratios within each repetition"], rows)

    def render(self):
        a = self.ctx.args
        parts = []
        targets = self.targets()
        self.ctx.targets = targets
        parts.append("## Targets\n\n" + self.targets_table(targets))
        if self.res.get("catchup"):
            spi = (f" ({a.spi_reps} for pglogical's SPI apply)" if "pglogical_spi" in self.systems
                   and a.spi_reps < a.reps else "")
            parts.append("## Catch-up apply throughput\n\nmedian [min–max] over "
                         f"{a.reps} run(s){spi}; (ratio to native's median)\n\n" + self.catchup())
            parts.append("## CPU per transaction during catch-up (µs; per row for the big transactions)\n\n"
                         "user + system CPU of each process over the whole catch-up, median [min–max]; "
                         "(ratio to native's median)\n\n" + self.cpu())
            parts.append("## Apply worker and walsender memory during the big transaction\n\n" + self.memory())
        if self.res.get("overhead"):
            parts.append(f"## Origin write overhead (pgbench TPC-B, {a.clients} clients, {a.overhead_seconds}s)\n\n"
                         + self.overhead())
        if self.res.get("lag"):
            top = self.res.get("max_tps", [{}])[0].get("tps")
            parts.append(f"## Lag under a fixed-rate TPC-B load (one node's max: {fmt_num(top)} TPS; "
                         f"heartbeat every {a.heartbeat_ms} ms for {a.lag_seconds}s of each run, the load "
                         f"{sustained.LAG_MARGIN_S}s longer on either side)\n\n" + self.lag())
        parts.append("## Checks\n\n" + self.checks())
        if self.res.get("mesh"):
            parts.append(f"## Meshes with writes at every node ({a.mesh_seconds}s, {a.mesh_clients} client(s) "
                         "per node)\n\n" + self.mesh())
        if self.res.get("instructions"):
            small, large = backlogs(a)
            parts.append("## Instructions per transaction of the apply process (valgrind callgrind)\n\n"
                         f"user-space instructions, from backlogs of {small:,} and "
                         f"{large:,} transactions (the difference, so start-up is left out); "
                         "deterministic where CPU time is not; (ratio to native)\n\n" + self.instructions())
        return "\n\n".join(parts) + "\n"


def write_csv(path, records):
    if not records:
        return
    keys = []
    for r in records:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in records:
            w.writerow({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()})


def write_files(ctx, summary_text):
    out = ctx.out_dir
    for kind in ("setup", "catchup", "overhead", "lag", "lag_samples", "mesh", "instructions"):
        write_csv(os.path.join(out, f"{kind}.csv"), ctx.results.get(kind, []))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": ctx.meta, "targets": getattr(ctx, "targets", []), "failures": ctx.failures,
                   "server_log_problems": ctx.log_problems, "results": ctx.results}, f, indent=1, default=str)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(summary_text)


def plot_lag(ctx, path):
    """Lag over time of every fixed-rate run (first repetition), one panel per rate."""
    samples = ctx.results.get("lag_samples", [])
    if not samples:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [p for p in ctx.args.lag_rates if any(s["rate_pct"] == p for s in samples)]
    top = ctx.results.get("max_tps", [{}])[0].get("tps") or 0
    fig, axes = plt.subplots(len(rates), 1, figsize=(10, 3.2 * len(rates)), squeeze=False)
    colors = {"concord": "tab:red", "native": "tab:blue", "pglogical": "tab:green", "pglogical_spi": "tab:olive"}
    for ax, pct in zip(axes[:, 0], rates):
        for s in ctx.args.systems:
            pts = [(x["t_s"], x["lag_ms"]) for x in samples
                   if x["system"] == s and x["rate_pct"] == pct and x["rep"] == 0]
            if pts:
                ax.plot([p[0] for p in pts], [max(p[1], 0.01) for p in pts], label=LABELS[s], lw=0.9,
                        color=colors.get(s))
        ax.set_yscale("log")
        ax.set_ylabel("lag (ms, log)")
        ax.set_title(f"TPC-B at {pct:g}% of one node's max ({top * pct / 100:.0f} TPS)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    axes[-1, 0].set_xlabel("seconds since the start of the run (origin clock)")
    fig.suptitle("Replication lag of heartbeat rows under a fixed-rate load (same machine, same settings)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
