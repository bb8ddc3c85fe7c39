# 006_schema_mismatch.pl — a column node_a replicates is missing at node_b:
# the apply fails, concord.peers.last_error names the column (with
# last_error_at), the transaction is retried, not skipped (later transactions
# wait behind it), and once the operator adds the column everything applies,
# values included.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;

my ($na, $nb) = concord_nodes(qw(node_a node_b));
my @nodes = ($na, $nb);
my $db    = $ConcordTest::DB;

$na->safe_psql($db,
	"CREATE TABLE public.t (id int PRIMARY KEY, v text, extra text); SELECT concord.add_table('public.t')");
$nb->safe_psql($db,
	"CREATE TABLE public.t (id int PRIMARY KEY, v text); SELECT concord.add_table('public.t')");
full_mesh(\@nodes);

$na->safe_psql($db, "INSERT INTO t VALUES (1, 'one', 'x1')");
$na->safe_psql($db, "INSERT INTO t VALUES (2, 'two', NULL)");
$na->safe_psql($db, "UPDATE t SET extra = 'x1 updated' WHERE id = 1");

ok( poll_until($nb,
		"SELECT last_error IS NOT NULL AND last_error_at IS NOT NULL FROM concord.peers WHERE peer_name = 'node_a'"),
	'node_b reports the failed apply in concord.peers');
my $first = peer_of($nb, 'node_a');
like($first->{last_error}, qr/extra/, 'last_error names the missing column') or diag explain $first;
like($first->{last_error}, qr/\bt\b/, 'last_error names the table');

ok( poll_until($nb,
		"SELECT failures > $first->{failures} AND last_error LIKE '%extra%' FROM concord.peers WHERE peer_name = 'node_a'",
		't', 30),
	'the apply is retried and keeps failing on the missing column');
is($nb->safe_psql($db, 'SELECT count(*) FROM t'), '0', 'node_b applied nothing (no transaction skipped past)');

# A later transaction on the same table is not applied ahead of the failing one.
$na->safe_psql($db, "INSERT INTO t VALUES (3, 'three', 'x3')");
ok(!wait_for_peers_on($na, 2), "node_a's wait_for_peers is false while node_b cannot apply");
is($nb->safe_psql($db, 'SELECT count(*) FROM t'), '0', 'node_b still has nothing');

# The operator adds the column: the retried transactions apply, with their values.
$nb->safe_psql($db, 'ALTER TABLE public.t ADD COLUMN extra text');
ok(wait_converged(\@nodes), 'after adding the column the mesh converges');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || v || ':' || coalesce(extra, '-'), ',' ORDER BY id) FROM t"),
	'1:one:x1 updated,2:two:-,3:three:x3', 'node_b: every transaction applied, the new column\'s values included');
assert_same_everywhere(\@nodes, 't', 't identical on both nodes');
my $after = peer_of($nb, 'node_a');
ok($after->{status} eq 'streaming' && !defined $after->{last_error}, 'the error is cleared after the apply succeeded')
  or diag explain $after;

# The reverse mismatch — a column the subscriber has and the peer does not —
# applies (the column keeps its default): node_b adds one more column.
$nb->safe_psql($db, "ALTER TABLE public.t ADD COLUMN local_only int DEFAULT 7");
$na->safe_psql($db, "INSERT INTO t VALUES (4, 'four', 'x4')");
ok(wait_for_peers_on($na), 'a row from a peer without the subscriber-only column applies');
is($nb->safe_psql($db, 'SELECT local_only FROM t WHERE id = 4'), '7', 'the subscriber-only column got its default');

done_testing();
