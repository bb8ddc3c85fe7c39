"""main.py — the harness's entry point: plan, or set up, measure and report.

Phases run in this order (each optional with --phases): set-up, catch-up,
origin overhead, lag (its rates need the max TPS the overhead phase
measured), mesh, instructions (last: it restarts the subscriber of each
pair under valgrind, and back).  Within a phase the systems are
interleaved, and the order rotates with each repetition (A B C D, B C D A,
...), so slow drift of the machine (caches, WAL growth, table growth)
spreads over every system.

A measurement that fails (a system errors, times out or loses data) is
recorded with the reason and the server log lines written meanwhile, and the
run goes on; a system that fails twice is left out of the rest of the run.
The exit status is 1 if anything failed, 0 otherwise.  An error in the
harness itself (a bug, an instance that cannot be reached) stops the run.
"""
import datetime
import os
import platform
import re
import signal
import subprocess
import sys
import time

from . import catchup, config, instructions, mesh, report, setup, sustained
from . import systems as systems_mod
from .pg import BenchError, load_nodes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Context:
    def __init__(self, args, out_dir):
        self.args = args
        self.out_dir = out_dir
        self.results = {}
        self.failures = []
        self.failure_count = {}
        self.excluded = set()
        self.log_problems = []
        self.systems = {}
        self.meta = {}
        self.t0 = time.monotonic()
        self.logfile = open(os.path.join(out_dir, "run.log"), "a")

    def log(self, msg):
        line = f"[{time.monotonic() - self.t0:6.0f}s] {msg}"
        print(line, flush=True)
        self.logfile.write(line + "\n")
        self.logfile.flush()

    def record(self, kind, rec):
        self.results.setdefault(kind, []).append(rec)

    def fail(self, msg):
        self.failures.append(msg)
        self.log("FAILED: " + msg)

    def ordered_systems(self, only=None):
        out = [self.systems[s] for s in self.args.systems if s in self.systems and s not in self.excluded]
        if only is not None:
            out = [s for s in out if s.name in only]
        return out

    @staticmethod
    def rotate(items, k):
        if not items:
            return items
        k %= len(items)
        return items[k:] + items[:k]

    def attempt(self, what, fn, ctx, system, *args):
        """fn(ctx, system, *args); a BenchError is recorded (with new server log lines) and gives None."""
        offsets = {n.name: n.log_size() for n in system.nodes.values()}
        try:
            return fn(ctx, system, *args)
        except BenchError as e:
            lines = []
            for n in system.nodes.values():
                new = n.log_since(offsets[n.name], limit=30)
                if new:
                    lines.append(f"--- {n.name}/server.log, lines written during this step ---")
                    lines += new
            self.fail(f"{what}: {e}" + ("\n" + "\n".join(lines) if lines else ""))
            self.failure_count[system.name] = self.failure_count.get(system.name, 0) + 1
            for n in system.nodes.values():
                if not n.postmaster_alive():
                    self.fail(f"{n.name}'s server is not running any more; {system.name} is left out from here on")
                    self.excluded.add(system.name)
            if self.failure_count[system.name] >= 2 and system.name not in self.excluded:
                self.log(f"{system.name} failed twice; it is left out of the rest of the run")
                self.excluded.add(system.name)
            self.recover(system)
            return None

    def recover(self, system):
        """After a failure: resume every link a measurement may have paused (not the parked ones)."""
        for link in list(system.links.values()):
            if link.parked:
                continue
            try:
                link.resume()
            except Exception:
                pass


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine_info():
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as f:
            info["memory_kb"] = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            info["cpu"] = m.group(1) if m else None
        with open("/proc/loadavg") as f:
            info["loadavg_at_start"] = f.read().split()[:3]
        info["cpu_idle_at_start_pct"] = round(cpu_idle_pct(), 1)
    except (OSError, StopIteration):
        pass
    return info


def sha256(path):
    import hashlib
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def versions(nodes):
    """Extension versions, and which concord.so the instances load (after set-up)."""
    out = {}
    for s, ext in (("concord", "concord"), ("pglogical", "pglogical"), ("pglogical_spi", "pglogical")):
        for n in nodes:
            if n.system == s:
                try:
                    out[f"{s}_version"] = n.value("SELECT extversion FROM pg_extension WHERE extname = %s", (ext,))
                except BenchError:
                    pass
                break
    libdir = sh([f"{config.PG_BINDIR}/pg_config", "--pkglibdir"])
    loaded = os.path.join(libdir, "concord.so")
    built = os.path.join(ROOT, "concord.so")
    out["concord_library"] = loaded
    out["concord_library_sha256"] = sha256(loaded)
    out["concord_library_mtime"] = (datetime.datetime.fromtimestamp(os.path.getmtime(loaded)).isoformat(
        timespec="seconds") if os.path.exists(loaded) else None)
    # Whether the measured library is this checkout's build (make install of
    # the working tree) or another one (BENCH_NO_BUILD, PG_BINDIR).
    out["concord_library_is_checkout_build"] = sha256(built) == out["concord_library_sha256"]
    return out


def cpu_idle_pct(seconds=1.0):
    """Share of the machine's CPU time that was idle over the next `seconds`."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)  # idle + iowait, total
    i0, t0 = read()
    time.sleep(seconds)
    i1, t1 = read()
    return 100.0 * (i1 - i0) / max(1, t1 - t0)


def foreign_postgres(base):
    """postmasters running on this machine that this run did not start (they compete for the CPU)."""
    out = []
    for line in sh(["ps", "-eo", "pid=,args="]).splitlines():
        if re.search(r"/postgres\s+-D\s", line) and base not in line:
            out.append(line.strip())
    return out


def metadata(ctx, nodes):
    a = ctx.args
    meta = {"command": "bash bench/run.sh " + " ".join(sys.argv[sys.argv.index("run") + 1:]
                                                      if "run" in sys.argv else []),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine_info(), "args": {k: v for k, v in vars(a).items()},
            "server_settings": config.SERVER_SETTINGS + [
                "fsync = off", "wal_level = logical", "track_commit_timestamp = on", "max_replication_slots = 16",
                "max_wal_senders = 16", "max_worker_processes = 32"],
            "system_settings": {s: config.system_settings(s) for s in a.systems}}
    # drop the internal arguments from the recorded command
    meta["command"] = re.sub(r"--base \S+ --plan \S+ ?", "", meta["command"]).strip()
    n0 = nodes[0]
    meta["postgres"] = n0.value("SELECT version()")
    meta["pgbench"] = sh([f"{config.PG_BINDIR}/pgbench", "--version"])
    meta["checkout_commit"] = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    meta["checkout_changed_files"] = len(sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
                                           .splitlines())
    settings = {}
    for n in nodes:
        if n.index == 2 and n.system not in settings:
            settings[n.system] = dict(n.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', 'fsync', "
                "'synchronous_commit', 'wal_level', 'track_commit_timestamp', 'shared_preload_libraries', "
                "'max_wal_size', 'checkpoint_timeout', 'autovacuum', 'jit', 'logical_decoding_work_mem', "
                "'pglogical.use_spi', 'pglogical.conflict_resolution', 'pglogical.batch_inserts', "
                "'wal_writer_delay', 'full_page_writes') ORDER BY name"))
    meta["effective_settings"] = settings
    meta["foreign_postgres_processes"] = foreign_postgres(a.base)
    return meta


# Server log lines worth a look (grep -E syntax), and those that are expected
# while links are paused and resumed.
PROBLEM = (r"PANIC|TRAP|terminated by signal|was terminated|server process .* exited|ERROR|"
           r"out of memory|could not")
EXPECTED = (r"terminating logical replication worker due to administrator command|"
            r"canceling statement due to user request|could not receive data from client|"
            r"could not send data to client|unexpected EOF on (standby|client) connection|"
            r"will stop because the subscription was disabled")
# Server logs can be huge (pglogical's SPI apply writes a WARNING per applied
# row); only this much of the head and of the tail of each is kept.
LOG_KEEP_BYTES = 4 << 20


def scan_logs(ctx, nodes):
    """Counts and samples suspicious server log lines (grep: logs can be gigabytes)."""
    for n in nodes:
        path = os.path.join(n.datadir, "server.log")
        if not os.path.exists(path):
            continue
        cmd = f"grep -aE '{PROBLEM}' {path!r} | grep -avE '{EXPECTED}'"
        out = subprocess.run(["bash", "-c", cmd + " | head -15; echo; " + cmd + " | wc -l"],
                             capture_output=True, text=True, errors="replace").stdout.rstrip("\n").split("\n")
        count = int(out[-1]) if out and out[-1].strip().isdigit() else 0
        if count:
            ctx.log_problems.append({"node": n.name, "count": count, "first": [l for l in out[:-2] if l]})
        size = os.path.getsize(path)
        if size > 100 << 20:
            ctx.log_problems.append({"node": n.name, "count": 0, "first": [
                f"server.log is {size / (1 << 20):.0f} MiB; most common lines: "
                + subprocess.run(["bash", "-c", f"tail -c 20000000 {path!r} | sed -E 's/^[^]]*\\] //' | cut -c 1-90 | sort | uniq -c "
                                  "| sort -rn | head -2"], capture_output=True, text=True,
                                 errors="replace").stdout.strip().replace("\n", " / ")]})


def copy_logs(ctx, nodes):
    d = os.path.join(ctx.out_dir, "logs")
    os.makedirs(d, exist_ok=True)
    for n in nodes:
        try:
            with open(os.path.join(n.datadir, "server.log"), "rb") as src, \
                    open(os.path.join(d, f"{n.name}.log"), "wb") as dst:
                size = os.fstat(src.fileno()).st_size
                if size <= 2 * LOG_KEEP_BYTES:
                    dst.write(src.read())
                else:
                    dst.write(src.read(LOG_KEEP_BYTES))
                    dst.write(f"\n[... {size - 2 * LOG_KEEP_BYTES} bytes left out ...]\n".encode())
                    src.seek(size - LOG_KEEP_BYTES)
                    dst.write(src.read())
        except OSError:
            pass


def run(args):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.abspath(args.out or os.path.join(ROOT, "bench", "out", stamp))
    os.makedirs(out_dir, exist_ok=True)
    ctx = Context(args, out_dir)
    nodes = load_nodes(args.base, args.plan)
    for name in args.systems:
        ctx.systems[name] = systems_mod.make(name, [n for n in nodes if n.system == name])
    ctx.meta = metadata(ctx, nodes)
    idle = ctx.meta["machine"].get("cpu_idle_at_start_pct")
    if idle is not None and idle < 90:
        ctx.log(f"WARNING: the CPU was only {idle:.0f}% idle before the run started (something else is running); "
                "timings will be noisy")
    if ctx.meta["foreign_postgres_processes"]:
        ctx.log(f"WARNING: {len(ctx.meta['foreign_postgres_processes'])} other PostgreSQL server(s) are running "
                "on this machine and compete for its CPU; timings will be noisy")
    ctx.log(f"results go to {out_dir}")
    ctx.log(f"systems: {', '.join(args.systems)}; phases: {', '.join(args.phases)}"
            + ("; SMOKE sizes" if args.smoke else ""))
    try:
        ctx.log("set-up: schema, replication, initial rows (loaded at the origin, replicated)")
        for system in list(ctx.ordered_systems()):
            if ctx.attempt(f"set-up of {system.name}", lambda c, s: setup.setup_system(c, s) or True, ctx,
                           system) is None:
                ctx.excluded.add(system.name)
        ctx.meta.update(versions(nodes))
        phases = {"catchup": catchup.run, "overhead": sustained.run_overhead, "lag": sustained.run_lag,
                  "mesh": mesh.run, "instructions": instructions.run}
        for ph in config.ALL_PHASES:
            if ph in args.phases:
                t = time.monotonic()
                phases[ph](ctx)
                ctx.log(f"{ph} phase took {time.monotonic() - t:.0f}s")
    finally:
        ctx.meta["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        ctx.meta["elapsed_s"] = round(time.monotonic() - ctx.t0)
        try:
            with open("/proc/loadavg") as f:
                ctx.meta["machine"]["loadavg_at_end"] = f.read().split()[:3]
        except OSError:
            pass
        scan_logs(ctx, nodes)
        copy_logs(ctx, nodes)
        summary = report.Summary(ctx)
        text = summary.render()
        plot = None
        try:
            plot = report.plot_lag(ctx, os.path.join(out_dir, "lag.png"))
        except Exception as e:  # a plot must not cost the figures
            ctx.log(f"the lag plot could not be drawn: {e}")
        report.write_files(ctx, text)
    print("\n" + "=" * 78 + "\n")
    print(text)
    if ctx.log_problems:
        print("Server log lines that look like problems (all in logs/ of the result directory):")
        for p in ctx.log_problems:
            print(f"  {p['node']}: " + (f"{p['count']} line(s), e.g." if p["count"] else "note:"))
            for l in p["first"][:5]:
                print(f"    {l[:220]}")
    if ctx.failures:
        print(f"\n{len(ctx.failures)} measurement(s) FAILED:")
        for f in ctx.failures:
            print("  - " + f.splitlines()[0])
    print(f"\nraw results: {out_dir}" + (f"\nlag plot: {plot}" if plot else ""))
    return 1 if ctx.failures else 0


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through run()'s finally: partial results are written


def main(argv=None):
    signal.signal(signal.SIGTERM, _terminate)
    args = config.parse(sys.argv[1:] if argv is None else argv)
    if args.command == "plan":
        for name, port, _system, _index, conf in config.plan(args):
            print(f"{name} {port} {'|'.join(conf)}")
        return 0
    return run(args)
