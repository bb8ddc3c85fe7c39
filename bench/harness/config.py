"""config.py — command line, sizes and the plan of PostgreSQL instances.

One parser serves both sub-commands of the harness:

  plan  prints the instances the chosen systems need, one per line:
        "<name> <port> <postgresql.conf lines joined by '|'>"; bench/run.sh
        creates and starts them with scripts/lib/cluster.sh.
  run   sets the systems up on those running instances and measures.

Every instance gets the same server settings (SERVER_SETTINGS below); only
shared_preload_libraries (and pglogical's own settings for its SPI series)
differ, because each system must preload its own library and nothing else.
"""
import argparse
import os
import subprocess

PG_BINDIR = os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin")

# The systems, in the order they are interleaved within a repetition.
ALL_SYSTEMS = ["concord", "native", "pglogical", "pglogical_spi"]
LABELS = {
    "concord": "concord",
    "native": "native (pub/sub)",
    "pglogical": "pglogical (heap apply)",
    "pglogical_spi": "pglogical (SPI apply)",
}
ALL_PHASES = ["catchup", "overhead", "lag", "mesh", "instructions"]
# A full run leaves out the instruction counts (several minutes under
# valgrind); --smoke runs every phase, so none of them can rot.
DEFAULT_PHASES = ["catchup", "overhead", "lag", "mesh"]
# Systems that take part in the mesh phase (pglogical's SPI apply is
# measured in catch-up and lag only: its sending side is pglogical's).
MESH_SYSTEMS = ["concord", "native", "pglogical"]
# Likewise for the origin-overhead phase: pglogical_spi's origin runs
# pglogical's output plugin, exactly as the pglogical series does.
OVERHEAD_SYSTEMS = ["concord", "native", "pglogical"]

# Identical for every instance (cluster.sh adds: fsync = off,
# wal_level = logical, track_commit_timestamp = on, 16 slots/senders,
# 32 worker processes, listen on 127.0.0.1 and a private socket).
SERVER_SETTINGS = [
    "shared_buffers = 256MB",
    "max_wal_size = 8GB",
    "checkpoint_timeout = 30min",
    "synchronous_commit = on",
    "autovacuum = off",
    "jit = off",
    "max_connections = 60",
    "max_logical_replication_workers = 8",
    "log_min_messages = warning",
    # PostgreSQL's logical replication launcher starts workers at most once
    # per this interval (5s by default), which is dead time after ALTER
    # SUBSCRIPTION ... ENABLE; it is excluded from every measurement anyway,
    # but costs run time.  Nothing else here uses it.
    "wal_retrieve_retry_interval = 500ms",
]


def server_has_output_plugin_libraries():
    """True on PostgreSQL 15.19 and later, which load only listed output plugins."""
    try:
        out = subprocess.run([f"{PG_BINDIR}/postgres", "--describe-config"], capture_output=True,
                             text=True, check=False).stdout
    except OSError:
        return False
    return any(line.split("\t", 1)[0] == "output_plugin_libraries" for line in out.splitlines())


def system_settings(system):
    """The postgresql.conf lines of one system's instances (after SERVER_SETTINGS)."""
    if system == "concord":
        return ["shared_preload_libraries = 'concord'"]
    if system == "native":
        return ["shared_preload_libraries = ''"]
    lines = ["shared_preload_libraries = 'pglogical'"]
    if server_has_output_plugin_libraries():
        lines.append("output_plugin_libraries = 'pgoutput, test_decoding, pglogical_output'")
    if system == "pglogical_spi":
        # pglogical's SPI apply exists only with conflict_resolution = error.
        lines += ["pglogical.use_spi = on", "pglogical.conflict_resolution = 'error'"]
    return lines


SIZES = {
    # name: (full run, smoke run)
    "scale": (10, 1),
    "tpcb_tx": (40000, 400),
    "insert_tx": (80000, 1000),
    "update_tx": (60000, 1000),
    "bulk_rows": (1000000, 20000),
    "kv_rows": (100000, 5000),
    "mesh_rows": (10000, 500),
    "reps": (5, 1),
    "spi_reps": (1, 1),
    "clients": (4, 2),
    "threads": (2, 2),
    "overhead_seconds": (6, 1),
    "lag_seconds": (6, 2),
    "lag_rates": ("25,50,75", "50"),
    "lag_reps": (3, 1),
    "heartbeat_ms": (10, 20),
    "mesh_seconds": (8, 2),
    "mesh_sizes": ("2,3", "2,3"),
    "mesh_clients": (2, 1),
    "timeout": (600, 120),
    "instructions_tx": (6000, 150),
}


def parser():
    p = argparse.ArgumentParser(
        prog="bash bench/run.sh",
        description="Measure concord, native logical replication and pglogical side by side "
                    "(catch-up throughput, sustained lag, origin overhead, meshes, apply memory). "
                    "See bench/README.md.")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and durations, one repetition (the CI stage); every phase still runs")
    p.add_argument("--systems", default=",".join(ALL_SYSTEMS),
                   help="comma-separated subset of %(default)s")
    p.add_argument("--phases", default=None,
                   help=f"comma-separated subset of {','.join(ALL_PHASES)} (default: {','.join(DEFAULT_PHASES)}; "
                        "--smoke: all)")
    p.add_argument("--port-base", type=int, default=5810,
                   help="first port; instances take consecutive ports, all within 5800-5899 (default %(default)s)")
    p.add_argument("--out", default=None, help="result directory (default bench/out/<timestamp>)")
    g = p.add_argument_group("sizes (defaults: full run / --smoke)")
    helps = {
        "scale": "pgbench scale of the TPC-B tables",
        "tpcb_tx": "TPC-B transactions in one catch-up backlog",
        "insert_tx": "single-row INSERT transactions in one catch-up backlog",
        "update_tx": "single-row UPDATE transactions (random keys) in one catch-up backlog",
        "bulk_rows": "rows of the one big INSERT transaction (a second run uses a tenth of it, for memory)",
        "kv_rows": "rows of the table the UPDATE workload picks random keys from",
        "mesh_rows": "rows per node's table in the mesh phase",
        "reps": "repetitions of each catch-up and origin-overhead measurement",
        "spi_reps": "catch-up repetitions of the pglogical_spi series (the slowest; a reference only)",
        "clients": "pgbench clients at the origin",
        "threads": "pgbench threads at the origin",
        "overhead_seconds": "duration of each origin-TPS run",
        "lag_seconds": "heartbeat time of each fixed-rate run (the load runs 2 s longer: 1 s before, 1 s after)",
        "lag_rates": "fixed rates, in %% of one node's max TPC-B TPS measured in this run",
        "lag_reps": "repetitions of each fixed-rate run",
        "heartbeat_ms": "interval of the heartbeat rows that lag is measured with",
        "mesh_seconds": "duration of each mesh run",
        "mesh_sizes": "mesh sizes to run",
        "mesh_clients": "pgbench clients at each mesh node",
        "timeout": "seconds to wait for a subscriber to catch up before the measurement fails",
        "instructions_tx": "transactions of the larger backlog in the instructions phase (the smaller: a third)",
    }
    for name, (full, smoke) in SIZES.items():
        kind = type(full)
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None,
                       help=f"{helps[name]} ({full} / {smoke})")
    return p


def parse(argv):
    p = argparse.ArgumentParser(prog="harness")
    sub = p.add_subparsers(dest="command", required=True)
    common = parser()
    for cmd in ("plan", "run"):
        sp = sub.add_parser(cmd, parents=[common], add_help=True, conflict_handler="resolve",
                            prog=common.prog, description=common.description)
        if cmd == "run":
            sp.add_argument("--base", required=True, help=argparse.SUPPRESS)
            sp.add_argument("--plan", required=True, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    which = 1 if args.smoke else 0
    for name, values in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, values[which])
    args.systems = [s for s in args.systems.split(",") if s]
    if args.phases is None:
        args.phases = ",".join(ALL_PHASES if args.smoke else DEFAULT_PHASES)
    args.phases = [s for s in args.phases.split(",") if s]
    args.lag_rates = [float(x) for x in str(args.lag_rates).split(",") if x]
    args.mesh_sizes = [int(x) for x in str(args.mesh_sizes).split(",") if x]
    for s in args.systems:
        if s not in ALL_SYSTEMS:
            p.error(f"unknown system {s!r} (known: {', '.join(ALL_SYSTEMS)})")
    for ph in args.phases:
        if ph not in ALL_PHASES:
            p.error(f"unknown phase {ph!r} (known: {', '.join(ALL_PHASES)})")
    if any(n not in (2, 3) for n in args.mesh_sizes):
        p.error("--mesh-sizes takes 2 and/or 3")
    if args.reps < 1 or args.lag_reps < 1 or args.spi_reps < 1:
        p.error("repetitions must be at least 1")
    return args


def nodes_needed(args, system):
    """How many instances the system needs: 2 (origin, subscriber), 3 for a 3-node mesh."""
    if "mesh" in args.phases and system in MESH_SYSTEMS and 3 in args.mesh_sizes:
        return 3
    return 2


def plan(args):
    """[(instance name, port, system, index, [conf lines])] in port order."""
    out = []
    port = args.port_base
    for system in args.systems:
        for i in range(1, nodes_needed(args, system) + 1):
            out.append((f"{system}_{i}", port, system, i, SERVER_SETTINGS + system_settings(system)))
            port += 1
    if args.port_base < 5800 or port - 1 > 5899:
        raise SystemExit(f"ports {args.port_base}-{port - 1} leave the range 5800-5899")
    return out
