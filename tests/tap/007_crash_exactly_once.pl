# 007_crash_exactly_once.pl — kill -9 during a stream of many small
# transactions, then restart: every transaction is applied exactly once on
# every node (unique ids counted: nothing missing, nothing twice, no apply
# stuck on a duplicate).
#
#   1. The subscriber: node_b is applying streams from node_a and node_c when
#      its postmaster and every one of its processes are killed with SIGKILL
#      at the same instant (so the apply worker dies mid-transaction).
#   2. The provider: node_a is streaming to node_b and node_c, and applying a
#      stream from node_b, when its postmaster is killed with SIGKILL (its
#      children die on their own).  What node_a committed before the crash is
#      what every node must hold; the rest was never committed.
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
	'CREATE TABLE public.t (id int PRIMARY KEY, origin text NOT NULL, at timestamptz DEFAULT clock_timestamp())',
	'public.t');
full_mesh(\@nodes);

# Every node holds exactly the ids of the model for each origin, once each.
sub check_exactly_once
{
	my ($what, %ranges) = @_;    # origin => [ids]
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

# --- 1. kill -9 of the subscriber while it applies ---------------------------

my $n = 4000;
my ($sa, $ea) = start_stream($na, 1, $n, 'node_a');
my ($sc, $ec) = start_stream($nc, 100001, 100000 + $n, 'node_c');
ok(poll_until($nb, "SELECT count(*) >= 800 FROM t", 't', 60), 'node_b is applying both streams');
crash_node($nb, all => 1);
ok($sa->pumpable && $sc->pumpable, 'node_b was killed while node_a and node_c were still writing');
$nb->start;
ok($sa->finish, "node_a's stream completed") or diag $$ea;
ok($sc->finish, "node_c's stream completed") or diag $$ec;
ok(wait_converged(\@nodes), 'after node_b restarted, the mesh converges');
check_exactly_once('subscriber crash', node_a => [ 1 .. $n ], node_c => [ 100001 .. 100000 + $n ]);

# --- 2. kill -9 of the provider while it streams and applies ------------------

my ($sa2, $ea2) = start_stream($na, 10001, 10000 + $n, 'node_a2', 5);
my ($sb2, $eb2) = start_stream($nb, 200001, 200000 + $n, 'node_b2');
ok(poll_until($nc, "SELECT count(*) >= 500 FROM t WHERE origin = 'node_a2'", 't', 60),
	"node_c is applying node_a's second stream");
ok(poll_until($na, "SELECT count(*) >= 500 FROM t WHERE origin = 'node_b2'", 't', 60),
	"node_a is applying node_b's stream");
crash_node($na);
ok($sb2->pumpable, 'node_a was killed while node_b was still writing');
ok(!$sa2->finish, "node_a's own stream was cut by the crash");
$na->start;
ok($sb2->finish, "node_b's stream completed") or diag $$eb2;

# What node_a committed before the crash is the truth for its stream.
my @a2 = split /\n/, $na->safe_psql($db, "SELECT id FROM t WHERE origin = 'node_a2' ORDER BY id");
ok(@a2 >= 500 && @a2 < $n, sprintf('node_a committed part of its stream before the crash (%d of %d)', scalar @a2, $n));
is_deeply([ @a2 ], [ 10001 .. 10000 + @a2 ], "node_a's committed stream has no holes");
ok(wait_converged(\@nodes), 'after node_a restarted, the mesh converges');
check_exactly_once('provider crash',
	node_a  => [ 1 .. $n ],
	node_c  => [ 100001 .. 100000 + $n ],
	node_a2 => \@a2,
	node_b2 => [ 200001 .. 200000 + $n ]);
assert_same_everywhere(\@nodes, 't', 't identical on every node');

done_testing();
