# 007_crash_exactly_once.pl — kill -9 during a stream of many small
# transactions, then restart: every transaction is applied exactly once on
# every node (unique ids counted: nothing missing, nothing twice, no apply
# stuck on a duplicate).
#
#   1. The subscriber, three times: node_b is applying streams from node_a
#      and node_c when its postmaster and every one of its processes are
#      killed with SIGKILL at the same instant (so the apply workers die
#      mid-transaction, with asynchronously committed WAL not yet written).
#   2. The provider, twice: node_a is streaming to node_b and node_c, and
#      applying a stream from node_b, when its postmaster alone (first) or
#      all its processes (second) are killed with SIGKILL.  What node_a
#      committed before each crash is what every node must hold; the rest
#      was never committed.
#   3. A restarted apply worker: it reports to its provider only what is
#      flushed, so a crash right after its restart loses nothing.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;

# Frequent feedback and a slow WAL writer: the apply commits asynchronously,
# so a worker that reported positions it had not flushed would let its
# provider forget transactions that the crash then loses.
my ($na, $nb, $nc) = concord_nodes([qw(node_a node_b node_c)],
	conf => [ 'concord.feedback_interval = 20ms', 'wal_writer_delay = 1s' ]);
my @nodes = ($na, $nb, $nc);
my $db    = $ConcordTest::DB;

create_table_everywhere(\@nodes, q{
	CREATE TABLE public.t (id int PRIMARY KEY, origin text NOT NULL, at timestamptz DEFAULT clock_timestamp());
	CREATE TABLE public.marks (node text, round int, PRIMARY KEY (node, round));
}, 'public.t', 'public.marks');
full_mesh(\@nodes);

# Every node holds exactly the ids of the model for each origin, once each.
# First every node commits one more transaction (a mark), so every link has
# applied something since the crash: an error of the outage (a refused
# connection) legitimately shows until then.
my $round = 0;
sub check_exactly_once
{
	my ($what, %ranges) = @_;    # origin => [ids]
	$round++;
	$_->safe_psql($db, "INSERT INTO marks VALUES ('" . $_->name . "', $round)") for @nodes;
	ok(wait_converged(\@nodes), "$what: every node's mark converged");
	is($_->safe_psql($db, "SELECT count(*) FROM marks WHERE round = $round"), '3',
		$_->name . ": $what: has the marks of all three nodes") for @nodes;
	for my $n (@nodes)
	{
		for my $origin (sort keys %ranges)
		{
			my $ids = $ranges{$origin};
			my $want = scalar @$ids;
			is( $n->safe_psql($db,
					"SELECT count(*) || '/' || count(DISTINCT id) FROM t WHERE origin = '$origin'"),
				"$want/$want",
				$n->name . ": $what: $want rows from $origin, each id once");
			my $list = join(',', @$ids);
			is( $n->safe_psql($db,
					"SELECT count(*) FROM unnest('{$list}'::int[]) i WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = i)"),
				'0', $n->name . ": $what: no id from $origin is missing");
		}
	}
	for my $n (@nodes)
	{
		for my $p (@{ peers($n) })
		{
			ok(!defined $p->{last_error}, $n->name . " from $p->{peer_name}: $what: no apply error left")
			  or diag explain $p;
		}
	}
	return;
}

# --- 1. kill -9 of the subscriber while it applies, three times -------------

my $n = 5000;
my ($sa, $ea) = start_stream($na, 1, $n, 'node_a', 5);
my ($sc, $ec) = start_stream($nc, 100001, 100000 + $n, 'node_c', 5);
for my $cycle (1 .. 3)
{
	my $progress = 1000 * $cycle;
	ok(poll_until($nb, "SELECT count(*) >= $progress FROM t", 't', 60),
		"crash $cycle: node_b is applying both streams ($progress rows so far)");
	my $writing = $sa->pumpable && $sc->pumpable;
	crash_node($nb, all => 1);
	ok($writing, "crash $cycle: node_b was killed while node_a and node_c were still writing");
	$nb->start;
}
ok($sa->finish, "node_a's stream completed") or diag $$ea;
ok($sc->finish, "node_c's stream completed") or diag $$ec;
ok(wait_converged(\@nodes), 'after node_b restarted, the mesh converges');
check_exactly_once('subscriber crashes', node_a => [ 1 .. $n ], node_c => [ 100001 .. 100000 + $n ]);

# --- 2. kill -9 of the provider while it streams and applies, twice ----------

my ($sb2, $eb2) = start_stream($nb, 200001, 200000 + 2 * $n, 'node_b2', 10);
my %committed;
for my $crash ([ 'node_a2', 10001, 0 ], [ 'node_a3', 20001, 1 ])
{
	my ($label, $from, $all) = @$crash;
	my $how = $all ? 'all its processes' : 'its postmaster';
	my ($s, $e) = start_stream($na, $from, $from + $n - 1, $label, 5);
	ok(poll_until($nc, "SELECT count(*) >= 500 FROM t WHERE origin = '$label'", 't', 60),
		"$label: node_c is applying node_a's stream");
	my $seen = $na->safe_psql($db, "SELECT count(*) FROM t WHERE origin = 'node_b2'");
	ok(poll_until($na, "SELECT count(*) > $seen FROM t WHERE origin = 'node_b2'", 't', 60),
		"$label: node_a is applying node_b's stream");
	my $writing = $sb2->pumpable;
	crash_node($na, all => $all);
	ok($writing, "$label: node_a ($how) was killed while node_b was still writing");
	ok(!$s->finish, "$label: node_a's own stream was cut by the crash");
	$na->start;

	# What node_a committed before the crash is the truth for its stream.
	my @ids = split /\n/, $na->safe_psql($db, "SELECT id FROM t WHERE origin = '$label' ORDER BY id");
	ok(@ids >= 500 && @ids < $n,
		sprintf('%s: node_a committed part of its stream before the crash (%d of %d)', $label, scalar @ids, $n));
	is_deeply([@ids], [ $from .. $from + @ids - 1 ], "$label: node_a's committed stream has no holes");
	$committed{$label} = \@ids;
}
ok($sb2->finish, "node_b's stream completed") or diag $$eb2;
ok(wait_converged(\@nodes), 'after node_a restarted, the mesh converges');
check_exactly_once('provider crashes',
	node_a  => [ 1 .. $n ],
	node_c  => [ 100001 .. 100000 + $n ],
	%committed,
	node_b2 => [ 200001 .. 200000 + 2 * $n ]);

# --- 3. a restarted apply worker reports only what is on disk --------------
# A new apply worker starts at its origin's progress, which already counts
# the asynchronous commits of the worker before it, written to disk or not.
# With node_b's WAL writer slowed to 10 s, node_b applies one transaction
# from node_a and its apply worker is terminated while that commit is still
# in WAL buffers (not even written to the kernel, which a crash of the
# server's processes would not lose).  By the time the next worker has
# confirmed the transaction to node_a (which will never send it again), the
# commit must be flushed; node_b then crashes, and the transaction must
# have survived.  (Something else may write node_b's WAL before the
# worker is terminated, e.g. a checkpoint: then the attempt proves nothing
# and is made again.)
$nb->safe_psql($db, "ALTER SYSTEM SET wal_writer_delay = '10s'");
$nb->safe_psql($db, "ALTER SYSTEM SET autovacuum = off");
$nb->reload;
my $link    = 'concord_node_a__node_b';
my $reached = 0;
for my $attempt (1 .. 6)
{
	my $id = 300000 + $attempt;
	$na->safe_psql($db, "INSERT INTO t (id, origin) VALUES ($id, 'restart')");
	ok(poll_until($nb, "SELECT count(*) = 1 FROM t WHERE id = $id", 't', 60),
		"restart attempt $attempt: node_b applied the transaction");
	my ($remote, $local) = split /\|/, $nb->safe_psql($db,
		"SELECT remote_lsn, local_lsn FROM pg_replication_origin_status WHERE external_id = '$link'");
	my $old = worker_pid($nb, 'node_a');
	next unless $nb->safe_psql($db, "SELECT '$local' > pg_current_wal_lsn()") eq 't';
	$nb->safe_psql($db, "SELECT pg_terminate_backend($old)");
	ok( poll_until(
			$na,
			"SELECT confirmed_flush_lsn >= '$remote' FROM pg_replication_slots WHERE slot_name = '$link'",
			't', 60),
		'restart: the next apply worker confirmed the transaction to node_a');
	is($nb->safe_psql($db, "SELECT '$local' <= pg_current_wal_flush_lsn()"),
		't', 'restart: node_b had flushed the commit by then');
	crash_node($nb, all => 1);
	$nb->start;
	is($nb->safe_psql($db, "SELECT count(*) FROM t WHERE id = $id"),
		'1', 'restart: the confirmed transaction survived the crash of node_b');
	$reached = 1;
	last;
}
ok($reached, 'restart: a commit was still unwritten when its worker was terminated');
$nb->safe_psql($db, 'ALTER SYSTEM RESET wal_writer_delay');
$nb->safe_psql($db, 'ALTER SYSTEM RESET autovacuum');
$nb->reload;
ok(wait_converged(\@nodes), 'after the restart and crash, the mesh converges');
my $restarted = $na->safe_psql($db, "SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE origin = 'restart'");
is($_->safe_psql($db, "SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE origin = 'restart'"),
	$restarted, $_->name . ': has every transaction of the restart attempts') for ($nb, $nc);
assert_same_everywhere(\@nodes, 't', 't identical on every node');

done_testing();
