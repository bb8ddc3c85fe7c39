"""probe.py — marker rows: how every phase knows what a subscriber has applied.

A probe is one row inserted at the provider into a probe table (its own
transaction).  Replication applies transactions in commit order, so once a
probe is visible on the subscriber everything the provider committed before
it has been applied there too.  Its `arrived` column, stamped by a trigger
when the subscriber applies the row, says exactly when.

Waiting polls the subscriber over one long-lived connection (a primary-key
lookup every 50 ms), so the wait costs almost no CPU and adds no error to the
measured times, which come from the trigger's time stamps.
"""
import time

from .pg import BenchError, wait_until


def probe(node, table="bench_probe"):
    """Inserts a probe at node; returns its id."""
    return node.value(f"INSERT INTO {table} DEFAULT VALUES RETURNING id")


def arrival(node, table, probe_id):
    """The subscriber's clock when probe_id was applied there, or None if not yet."""
    rows = node.execute(f"SELECT arrived FROM {table} WHERE id = %s", (probe_id,))
    return rows[0][0] if rows else None


# A subscriber whose replication origins have not moved for this long while
# a probe is awaited has stalled (a failing apply retries for ever): the wait
# fails then instead of at its timeout.  Generous, because a big transaction
# moves them only at its commit.
STALL_SECONDS = 120


def origin_progress(node):
    """Sum of the remote LSNs of every replication origin on node (all three systems keep
    their progress in replication origins)."""
    return node.value("SELECT coalesce(sum(remote_lsn - '0/0'), 0) FROM pg_replication_origin_status")


def wait_arrival(link, table, probe_id, timeout):
    sub = link.subscriber
    state = {"progress": None, "since": time.monotonic(), "checked": 0.0}

    def arrived():
        v = arrival(sub, table, probe_id)
        if v:
            return v
        now = time.monotonic()
        if now - state["checked"] >= 2:
            state["checked"] = now
            p = origin_progress(sub)
            if p != state["progress"]:
                state["progress"], state["since"] = p, now
            elif now - state["since"] > STALL_SECONDS:
                raise BenchError(f"{link.system.name} link {link} made no progress for {STALL_SECONDS}s while "
                                 f"probe {table}#{probe_id} was awaited\n" + link.diagnose())
        return None

    return wait_until(f"probe {table}#{probe_id} to reach {sub} ({link.system.name} link {link})", arrived,
                      timeout, interval=0.05, diagnose=link.diagnose)


def sync(link, table="bench_probe", timeout=600):
    """Waits until the subscriber has applied everything the provider committed so far.

    Returns the seconds it took."""
    t0 = time.monotonic()
    wait_arrival(link, table, probe(link.provider, table), timeout)
    return time.monotonic() - t0


def sync_all(links, table_of, timeout=600):
    """sync for several links at once: all probes first, then all waits."""
    t0 = time.monotonic()
    ids = {}
    for link in links:
        table = table_of(link)
        key = (link.provider.name, table)
        if key not in ids:
            ids[key] = probe(link.provider, table)
    for link in links:
        table = table_of(link)
        wait_arrival(link, table, ids[(link.provider.name, table)], timeout)
    return time.monotonic() - t0
