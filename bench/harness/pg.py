"""pg.py — the running instances, SQL on them, pgbench, waiting.

A Node is one PostgreSQL instance started by bench/run.sh (database
"concord", user postgres, trust authentication on a private socket
directory).  The harness talks to it over that socket; replication
connections between instances use TCP on 127.0.0.1 (Node.dsn).

Each Node keeps one autocommit connection for the main thread.  Threads that
run concurrently (heartbeats, memory sampling) open their own.
"""
import os
import re
import subprocess
import time

import psycopg2

from .config import PG_BINDIR


class BenchError(Exception):
    """A measurement could not be made (a system failed, timed out, or lost data)."""


class Node:
    def __init__(self, name, port, system, index, base):
        self.name = name          # instance name, e.g. concord_1
        self.port = port
        self.system = system
        self.index = index        # 1 = origin of the pair, 2 = subscriber, 3 = third mesh node
        self.sock = base
        self.datadir = os.path.join(base, name)
        self._conn = None

    def __repr__(self):
        return self.name

    @property
    def dsn(self):
        """How other instances reach this one (replication connections): TCP on loopback."""
        return f"host=127.0.0.1 port={self.port} dbname=concord user=postgres"

    def connect(self, application_name="concord_bench"):
        conn = psycopg2.connect(host=self.sock, port=self.port, user="postgres", dbname="concord",
                                application_name=application_name)
        conn.autocommit = True
        return conn

    @property
    def conn(self):
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
        return self._conn

    def execute(self, query, args=None, conn=None):
        """Runs one statement (on conn, or this node's own connection); returns all rows."""
        try:
            with (conn or self.conn).cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall() if cur.description is not None else []
        except psycopg2.Error as e:
            raise BenchError(f"{self.name}: {e.pgerror or e}".strip() + f"\n  while running: {query[:300]}") from e

    def value(self, query, args=None, conn=None):
        rows = self.execute(query, args, conn)
        return rows[0][0] if rows else None

    def script(self, sql):
        """Runs several statements (no results)."""
        self.execute(sql)

    def close(self):
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def log_tail(self, lines=40):
        path = os.path.join(self.datadir, "server.log")
        try:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"(cannot read {path}: {e})"

    def log_size(self):
        try:
            return os.path.getsize(os.path.join(self.datadir, "server.log"))
        except OSError:
            return 0

    def log_since(self, offset, limit=60):
        """Lines written to the server log after byte offset (at most the last `limit`)."""
        try:
            with open(os.path.join(self.datadir, "server.log"), errors="replace") as f:
                f.seek(offset)
                lines = f.readlines()
        except OSError:
            return []
        return [l.rstrip("\n") for l in lines[-limit:]]

    def postmaster_alive(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                pid = int(f.readline())
            os.kill(pid, 0)
            return True
        except (OSError, ValueError):
            return False


def wait_until(what, predicate, timeout, interval=0.05, diagnose=None):
    """Polls predicate() until it returns a true value, which is returned.

    Raises BenchError after `timeout` seconds, with diagnose() appended."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout:.0f}s waiting for {what}"
            if diagnose is not None:
                msg += "\n" + diagnose()
            raise BenchError(msg)
        time.sleep(interval)


_RE = {
    "txns": re.compile(r"number of transactions actually processed: (\d+)"),
    "failed": re.compile(r"number of failed transactions: (\d+)"),
    "tps": re.compile(r"tps = ([\d.]+) \(without initial connection time\)"),
    "latency_avg_ms": re.compile(r"latency average = ([\d.]+) ms"),
    "latency_stddev_ms": re.compile(r"latency stddev = ([\d.]+) ms"),
    "schedule_lag_avg_ms": re.compile(r"rate limit schedule lag: avg ([\d.]+)"),
    "schedule_lag_max_ms": re.compile(r"rate limit schedule lag: avg [\d.]+ \(max ([\d.]+)\) ms"),
}


class Pgbench:
    """One pgbench process against a node (started at once; wait() parses its report)."""

    def __init__(self, node, args, what):
        self.node = node
        self.what = what
        args = [str(a) for a in args]
        # -n: no vacuum before runs; -M prepared: the workloads' statements
        # are prepared once per client (not allowed with -i, initialisation).
        run_opts = [] if "-i" in args else ["-n", "-M", "prepared"]
        cmd = ([f"{PG_BINDIR}/pgbench"] + run_opts + ["-h", node.sock, "-p", str(node.port), "-U", "postgres"]
               + args + ["concord"])
        self.cmd = cmd
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait(self, timeout=None):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise BenchError(f"pgbench ({self.what}) on {self.node} did not finish within {timeout}s")
        self.elapsed = time.monotonic() - self.started
        if self.proc.returncode != 0:
            raise BenchError(f"pgbench ({self.what}) on {self.node} failed (exit {self.proc.returncode}):\n"
                             + out[-2000:])
        res = {"elapsed_s": self.elapsed}
        for k, rx in _RE.items():
            m = rx.search(out)
            if m:
                res[k] = float(m.group(1))
        if "-i" not in self.cmd and ("txns" not in res or "tps" not in res):
            raise BenchError(f"cannot read pgbench's report ({self.what} on {self.node}):\n{out[-2000:]}")
        return res

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def pgbench(node, args, what, timeout=None):
    return Pgbench(node, args, what).wait(timeout)


def load_nodes(base, plan_file):
    nodes = []
    with open(plan_file) as f:
        for line in f:
            parts = line.split(None, 2)
            if len(parts) < 2:
                continue
            name, port = parts[0], int(parts[1])
            system, index = name.rsplit("_", 1)
            nodes.append(Node(name, port, system, int(index), base))
    return nodes
