"""systems.py — how each replication system is set up, paused and resumed.

A link is one direction of replication: provider node -> subscriber node.
Every system implements the same operations on links, so that the phases
measure them all in exactly the same way:

  create_link   set up replication from provider to subscriber (no copy:
                the tables are empty when links are made; rows are loaded
                at the provider afterwards and replicated, so every row on a
                subscriber was applied from its provider, as in a running mesh)
  pause/resume  stop / restart applying at the subscriber; pause returns only
                once the apply worker and the provider's walsender are gone
  apply_pid     the subscriber's apply worker for the link
  walsender_pid the provider's walsender serving the link

concord   concord.subscribe / pause / resume (one subscription per peer
          pair, carrying all replicated tables)
native    CREATE PUBLICATION / CREATE SUBSCRIPTION ... WITH (copy_data =
          false), ALTER SUBSCRIPTION ... DISABLE / ENABLE; all other options
          at their defaults (text transfer, no streaming of big transactions)
pglogical pglogical.create_subscription(..., synchronize_data := false,
          forward_origins := '{}'), alter_subscription_disable / _enable
          (immediate); apply path by the server's settings: heap apply with
          conflict_resolution = apply_remote (the defaults), or SPI apply
          (pglogical.use_spi = on, conflict_resolution = error) for the
          pglogical_spi series.
"""

from .pg import BenchError, wait_until
from .schema import PAIR_TABLES, mesh_tables


class Link:
    def __init__(self, system, provider, subscriber, kind):
        self.system = system
        self.provider = provider
        self.subscriber = subscriber
        self.kind = kind  # "pair", "mesh2" or "mesh3"
        self.name = system.link_name(self)
        self.parked = False  # paused because a phase does not use it

    def __repr__(self):
        return f"{self.provider}->{self.subscriber}"

    def pause(self):
        self.system.pause(self)
        wait_until(f"apply worker of {self} to stop", lambda: self.system.apply_pid(self) is None, 60,
                   interval=0.1, diagnose=self.diagnose)
        wait_until(f"walsender of {self} to exit", lambda: self.system.walsender_pid(self) is None, 60,
                   interval=0.1, diagnose=self.diagnose)

    def resume(self):
        self.system.resume(self)

    def park(self):
        """Pauses a link the current phase does not use: its walsender would
        otherwise decode all of the provider's WAL beside the links in use."""
        if not self.parked:
            self.pause()
            self.parked = True

    def unpark(self):
        if self.parked:
            self.resume()
            self.parked = False

    def apply_pid(self):
        return self.system.apply_pid(self)

    def walsender_pid(self):
        return self.system.walsender_pid(self)

    def wait_streaming(self, timeout=60):
        wait_until(f"{self} to stream", lambda: self.system.streaming(self), timeout, interval=0.1,
                   diagnose=self.diagnose)

    def diagnose(self):
        try:
            state = self.system.describe(self)
        except Exception as e:  # the diagnosis must not hide the original failure
            state = f"(state unavailable: {e})"
        return (f"{self.system.name} link {self} state: {state}\n"
                f"--- tail of {self.subscriber.name}/server.log ---\n{self.subscriber.log_tail(25)}"
                f"--- tail of {self.provider.name}/server.log ---\n{self.provider.log_tail(15)}")


class System:
    name = "?"
    # which apply path the results come from (stated in the report)
    apply_path = ""

    def __init__(self, name, nodes):
        self.name = name
        self.nodes = {n.index: n for n in nodes}
        self.links = {}

    def node(self, i):
        return self.nodes[i]

    def link(self, p, s, kind="pair"):
        key = (p, s, self.link_key_kind(kind))
        if key not in self.links:
            link = Link(self, self.nodes[p], self.nodes[s], kind)
            self.create_link(link)
            self.links[key] = link
        return self.links[key]

    def link_key_kind(self, kind):
        return kind

    def run_only(self, links):
        """Lets only these links run: a walsender decodes all of its provider's WAL, so an idle link of
        native or pglogical (another phase's) would cost CPU that concord, whose one link per peer pair
        serves every phase, does not pay."""
        for link in list(self.links.values()):
            if link in links:
                link.unpark()
            else:
                link.park()

    def walsender_pid(self, link, conn=None):
        return link.provider.value("SELECT pid FROM pg_stat_replication WHERE application_name = %s",
                                   (self.walsender_app_name(link),), conn)

    def walsender_app_name(self, link):
        return link.name

    def conflicts(self, node):
        """Conflicts the system recorded on node so far (None: it keeps no record)."""
        return None

    # -- to implement --------------------------------------------------------
    def init_node(self, node, tables):
        raise NotImplementedError

    def link_name(self, link):
        raise NotImplementedError

    def create_link(self, link):
        raise NotImplementedError

    def pause(self, link):
        raise NotImplementedError

    def resume(self, link):
        raise NotImplementedError

    def apply_pid(self, link, conn=None):
        raise NotImplementedError

    def streaming(self, link):
        raise NotImplementedError

    def describe(self, link):
        raise NotImplementedError


class Concord(System):
    apply_path = "concord apply worker (SPI, prepared statements)"

    def init_node(self, node, tables):
        node.script("CREATE EXTENSION concord")
        node.execute("SELECT concord.create_node(%s, %s)", (f"n{node.index}", node.dsn))
        for t in tables:
            node.execute("SELECT concord.add_table(%s)", (t,))

    def link_key_kind(self, kind):
        return "any"  # one subscription per peer pair carries every table

    def conflicts(self, node):
        # No workload here writes a row at two nodes, so any recorded
        # conflict means the measurement took concord's slow path.
        return node.value("SELECT count(*) FROM concord.conflicts")

    def link_name(self, link):
        return f"n{link.provider.index}"  # the peer name, as the subscriber knows it

    def walsender_app_name(self, link):
        return f"concord_n{link.subscriber.index}"

    def create_link(self, link):
        link.subscriber.execute("SELECT concord.subscribe(%s, %s)", (link.name, link.provider.dsn))

    def pause(self, link):
        link.subscriber.execute("SELECT concord.pause(%s)", (link.name,))

    def resume(self, link):
        link.subscriber.execute("SELECT concord.resume(%s)", (link.name,))

    def apply_pid(self, link, conn=None):
        return link.subscriber.value("SELECT worker_pid FROM concord.peers WHERE peer_name = %s", (link.name,),
                                     conn)

    def streaming(self, link):
        return link.subscriber.value("SELECT status FROM concord.peers WHERE peer_name = %s",
                                     (link.name,)) == "streaming"

    def describe(self, link):
        return link.subscriber.execute(
            "SELECT status, worker_pid, received_lsn, applied_lsn, lag_bytes, failures, last_error "
            "FROM concord.peers WHERE peer_name = %s", (link.name,))


class Native(System):
    apply_path = "PostgreSQL 15 logical replication apply worker (defaults: text transfer, streaming off)"

    def init_node(self, node, tables):
        pass  # publications are made per link kind

    def link_name(self, link):
        return f"{link.kind}_{link.provider.index}_{link.subscriber.index}"

    def create_link(self, link):
        p = link.provider
        pub = f"bench_{link.kind}"
        if not p.value("SELECT 1 FROM pg_publication WHERE pubname = %s", (pub,)):
            tables = PAIR_TABLES if link.kind == "pair" else mesh_tables(int(link.kind[4:]), p.index)
            p.script(f"CREATE PUBLICATION {pub} FOR TABLE {', '.join(tables)}")
        link.subscriber.script(f"CREATE SUBSCRIPTION {link.name} CONNECTION '{p.dsn}' PUBLICATION {pub} "
                               f"WITH (copy_data = false)")

    def pause(self, link):
        link.subscriber.script(f"ALTER SUBSCRIPTION {link.name} DISABLE")

    def resume(self, link):
        link.subscriber.script(f"ALTER SUBSCRIPTION {link.name} ENABLE")

    def apply_pid(self, link, conn=None):
        return link.subscriber.value(
            "SELECT pid FROM pg_stat_subscription WHERE subname = %s AND relid IS NULL", (link.name,), conn)

    def streaming(self, link):
        return self.apply_pid(link) is not None and link.provider.value(
            "SELECT state FROM pg_stat_replication WHERE application_name = %s", (link.name,)) == "streaming"

    def describe(self, link):
        return link.subscriber.execute(
            "SELECT subname, pid, received_lsn, latest_end_lsn FROM pg_stat_subscription WHERE subname = %s",
            (link.name,))


class Pglogical(System):
    def __init__(self, name, nodes):
        super().__init__(name, nodes)
        self.apply_path = ("pglogical SPI apply (pglogical.use_spi = on, conflict_resolution = error)"
                           if name == "pglogical_spi" else
                           "pglogical heap apply (defaults: use_spi = off, conflict_resolution = apply_remote)")

    def init_node(self, node, tables):
        node.script("CREATE EXTENSION pglogical")
        node.execute("SELECT pglogical.create_node(node_name := %s, dsn := %s)", (f"n{node.index}", node.dsn))
        for n in (2, 3):
            node.execute("SELECT pglogical.create_replication_set(%s)", (f"bench_mesh{n}",))
        for t in tables:
            if t in PAIR_TABLES:
                node.execute("SELECT pglogical.replication_set_add_table('default', %s)", (t,))
        for n in (2, 3):
            for t in mesh_tables(n, node.index):
                if t in tables:
                    node.execute("SELECT pglogical.replication_set_add_table(%s, %s)", (f"bench_mesh{n}", t))

    def link_name(self, link):
        return f"{link.kind}_{link.provider.index}_{link.subscriber.index}"

    def create_link(self, link):
        sets = "{default}" if link.kind == "pair" else "{bench_%s}" % link.kind
        link.subscriber.execute(
            "SELECT pglogical.create_subscription(subscription_name := %s, provider_dsn := %s, "
            "replication_sets := %s, synchronize_structure := false, synchronize_data := false, "
            "forward_origins := '{}')", (link.name, link.provider.dsn, sets))

    def pause(self, link):
        link.subscriber.execute("SELECT pglogical.alter_subscription_disable(%s, true)", (link.name,))

    def resume(self, link):
        link.subscriber.execute("SELECT pglogical.alter_subscription_enable(%s, true)", (link.name,))

    def apply_pid(self, link, conn=None):
        return link.subscriber.value(
            "SELECT a.pid FROM pg_stat_activity a, pglogical.subscription s "
            "WHERE s.sub_name = %s AND a.application_name = "
            "  format('pglogical apply %%s:%%s', (SELECT oid FROM pg_database WHERE datname = current_database()), "
            "         s.sub_id)", (link.name,), conn)

    def streaming(self, link):
        return link.subscriber.value("SELECT status FROM pglogical.show_subscription_status(%s)",
                                     (link.name,)) == "replicating" and self.walsender_pid(link) is not None

    def describe(self, link):
        return link.subscriber.execute("SELECT status, provider_node FROM pglogical.show_subscription_status(%s)",
                                       (link.name,))


def make(name, nodes):
    if name == "concord":
        return Concord(name, nodes)
    if name == "native":
        return Native(name, nodes)
    if name in ("pglogical", "pglogical_spi"):
        return Pglogical(name, nodes)
    raise BenchError(f"unknown system {name}")
