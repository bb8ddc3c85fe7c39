"""instructions.py — instructions the apply process executes per transaction.

CPU time on a shared two-vCPU machine varies by up to half again between
repetitions of the same catch-up (RESULTS.md); the number of instructions
the apply process executes for a backlog does not.  This phase counts them
with valgrind's callgrind tool, for each system and for the workloads tpcb,
insert and update:

 1. the pair's subscriber is restarted with every server process under
    callgrind (the origin, its walsender and pgbench run normally);
 2. two catch-ups of different sizes run exactly as in the catch-up phase
    (catchup.measure: pause, backlog at the origin, resume, wait, verify);
 3. after each, the link is paused: the apply process that caught up exits
    and callgrind writes its count;
 4. (instructions of the larger run - of the smaller) / (difference in
    transactions) is the cost of applying one transaction, without the
    process's start-up, connection and caches.

The subscriber runs normally again after the phase.  Each counted
process's callgrind file is kept in callgrind/ of the result directory
(callgrind_annotate shows where the instructions go).  What is counted:
user-space instructions of the apply process only — not the kernel (system
calls, the wake-up of the WAL writer), not the walsender or the WAL writer,
not cache misses.  A measure of the work the apply path does, not of time.
"""
import os
import re
import shutil
import subprocess
import time

from . import catchup
from .config import PG_BINDIR
from .pg import BenchError, wait_until

WORKLOADS = ["tpcb", "insert", "update"]


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + cmd


def pg_ctl(node, *args):
    r = subprocess.run(as_postgres([f"{PG_BINDIR}/pg_ctl", "-D", node.datadir] + list(args)),
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise BenchError(f"pg_ctl {' '.join(args[:2])} on {node} failed: {r.stderr.strip() or r.stdout.strip()}\n"
                         + node.log_tail())


def restart(node, wrapper=None):
    """Restarts node, under the callgrind wrapper if given (start-up under valgrind is slow)."""
    node.close()
    pg_ctl(node, "stop", "-m", "fast", "-w", "-t", "120")
    log = os.path.join(node.datadir, "server.log")
    pg_ctl(node, "start", "-w", "-t", "300", "-l", log, *(["-p", wrapper] if wrapper else []))


def write_wrapper(out_dir):
    """A postgres executable that runs the real one under callgrind, one count file per process."""
    wrapper = os.path.join(out_dir, "callgrind-postgres")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                f"exec valgrind --tool=callgrind --callgrind-out-file={out_dir}/callgrind.%p "
                f"--collect-systime=no -q {PG_BINDIR}/postgres \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return wrapper


def instructions_of(out_dir, pid, timeout=120):
    """The instructions process pid executed, once it has exited and callgrind wrote them."""
    path = os.path.join(out_dir, f"callgrind.{pid}")
    found = {}

    def written():
        try:
            with open(path) as f:
                m = re.search(r"^totals:\s+(\d+)", f.read(), re.M)
        except OSError:
            return False
        if m:
            found["ir"] = int(m.group(1))
        return bool(m)

    wait_until(f"callgrind's count of process {pid}", written, timeout, interval=0.2)
    return found["ir"]


def counted_catchup(ctx, system, workload, transactions, count_dir):
    """One catch-up of `transactions` transactions; returns (transactions applied, instructions)."""
    rec = catchup.measure(ctx, system, workload, rep=0, transactions=transactions)
    link = system.link(1, 2, "pair")
    pid = link.apply_pid()
    if pid is None:
        raise BenchError(f"{system.name}: no apply process after the catch-up")
    link.pause()
    ir = instructions_of(count_dir, pid)
    # Kept beside the results, for callgrind_annotate.
    keep = os.path.join(ctx.out_dir, "callgrind")
    os.makedirs(keep, exist_ok=True)
    shutil.copy(os.path.join(count_dir, f"callgrind.{pid}"),
                os.path.join(keep, f"{system.name}-{workload}-{transactions}.out"))
    link.resume()
    link.wait_streaming(timeout=120)
    return rec["transactions"], ir


def backlogs(args):
    """Transactions of the smaller and the larger backlog."""
    return max(1, args.instructions_tx // 3), args.instructions_tx


def measure(ctx, system, workload, count_dir):
    small, large = backlogs(ctx.args)
    n1, ir1 = counted_catchup(ctx, system, workload, small, count_dir)
    n2, ir2 = counted_catchup(ctx, system, workload, large, count_dir)
    if n2 <= n1:
        raise BenchError(f"{system.name} {workload}: the larger backlog was not larger ({n1} vs {n2} transactions)")
    return {"system": system.name, "workload": workload, "tx_small": n1, "tx_large": n2,
            "ir_small": ir1, "ir_large": ir2, "ir_per_tx": (ir2 - ir1) / (n2 - n1)}


def run(ctx):
    systems = ctx.ordered_systems()
    count_dir = os.path.join(ctx.args.base, "callgrind")
    os.makedirs(count_dir, exist_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres:postgres", count_dir], check=True)
    wrapper = write_wrapper(count_dir)
    small, large = backlogs(ctx.args)
    ctx.log(f"instructions: {len(WORKLOADS)} workloads x {len(systems)} systems, subscriber under callgrind, "
            f"backlogs of {small} and {large} transactions")
    for system in systems:
        link = system.link(1, 2, "pair")
        sub = link.subscriber
        t0 = time.monotonic()
        # After the mesh phase: the pair link runs again, the meshes' links stop (their
        # walsenders and apply workers on this node would run under valgrind too).
        system.run_only([link])
        restart(sub, wrapper)
        try:
            link.wait_streaming(timeout=300)
            for w in WORKLOADS:
                rec = ctx.attempt(f"instructions {w} on {system.name}", measure, ctx, system, w, count_dir)
                if rec is None:
                    continue
                ctx.record("instructions", rec)
                ctx.log(f"  {w:<10} {system.name:<14} {rec['ir_per_tx']:>12,.0f} instructions per transaction")
        finally:
            restart(sub)  # also when the run is stopped: no server stays under valgrind
        link.wait_streaming(timeout=120)
        ctx.log(f"  {system.name}: {time.monotonic() - t0:.0f}s")
