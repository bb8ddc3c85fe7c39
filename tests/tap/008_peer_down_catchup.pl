# 008_peer_down_catchup.pl — a peer that is down for a while catches up when it
# returns.  node_c stops (cleanly) while node_a and node_b keep writing
# (inserts, updates, deletes, a truncate-free mix, in many transactions); the
# others report the lost connection and keep their slots for node_c; node_c
# restarts, gets every change exactly once, and its own writes made before
# and after the outage reach the others.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;

my ($na, $nb, $nc) = concord_nodes(qw(node_a node_b node_c));
my @nodes = ($na, $nb, $nc);
my $db    = $ConcordTest::DB;

create_table_everywhere(\@nodes,
	'CREATE TABLE public.t (id int PRIMARY KEY, origin text NOT NULL, v int NOT NULL DEFAULT 0)', 'public.t');
full_mesh(\@nodes);

$nc->safe_psql($db, "INSERT INTO t (id, origin) SELECT g, 'node_c' FROM generate_series(300001, 300100) g");
$na->safe_psql($db, "INSERT INTO t (id, origin) SELECT g, 'node_a' FROM generate_series(1, 100) g");
ok(wait_converged(\@nodes), 'before the outage the mesh converges');

$nc->stop;

# node_a and node_b go on writing: many transactions, a lot of WAL.
my ($sa, $ea) = start_stream($na, 1001, 3000, 'node_a', 100);
my ($sb, $eb) = start_stream($nb, 100001, 102000, 'node_b', 100);
$na->safe_psql($db, "INSERT INTO t (id, origin) SELECT g, 'node_a' FROM generate_series(10001, 60000) g");
$nb->safe_psql($db, "UPDATE t SET v = v + 1 WHERE id BETWEEN 1 AND 50");
$na->safe_psql($db, "UPDATE t SET v = 10 WHERE id BETWEEN 300001 AND 300010");    # rows of node_c
$nb->safe_psql($db, "DELETE FROM t WHERE id BETWEEN 300091 AND 300100");
ok($sa->finish, "node_a's stream completed") or diag $$ea;
ok($sb->finish, "node_b's stream completed") or diag $$eb;

# The others notice: their apply from node_c fails to connect and says so.
for my $n ($na, $nb)
{
	ok( poll_until($n,
			"SELECT status <> 'streaming' AND last_error IS NOT NULL FROM concord.peers WHERE peer_name = 'node_c'",
			't', 30),
		$n->name . ': concord.peers shows node_c unreachable, with an error');
	is($n->safe_psql($db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'concord_%_node_c'"),
		'1', $n->name . ': keeps its slot for node_c');
}
ok(!wait_for_peers_on($na, 2), "node_a's wait_for_peers returns false while node_c is down");

$nc->start;
$nc->safe_psql($db, "INSERT INTO t (id, origin) SELECT g, 'node_c' FROM generate_series(300201, 300300) g");
ok(wait_converged(\@nodes), 'after node_c returns the mesh converges');

my %want = (node_a => 100 + 2000 + 50000, node_b => 2000, node_c => 190);
assert_every_id_once(\@nodes, 't', \%want, '');
for my $n (@nodes)
{
	is($n->safe_psql($db, 'SELECT sum(v) FROM t'), 50 + 100, $n->name . ': the updates made during the outage are there');
}
assert_same_everywhere(\@nodes, 't', 't identical on every node');
for my $n (@nodes)
{
	for my $p (@{ peers($n) })
	{
		ok(poll_until($n, "SELECT status = 'streaming' AND last_error IS NULL FROM concord.peers "
				. "WHERE peer_name = '$p->{peer_name}'", 't', 30),
			$n->name . " from $p->{peer_name}: streaming again, error cleared");
	}
}

done_testing();
