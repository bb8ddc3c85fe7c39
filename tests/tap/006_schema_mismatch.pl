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

# The provider's table changes as well: its relation metadata is sent again
# and node_b's cached plans for the table are rebuilt.  Columns are added at
# the subscriber first and dropped at the provider first, the order that
# never leaves the provider with a column the subscriber lacks.
$nb->safe_psql($db, 'ALTER TABLE public.t ADD COLUMN later int');
$na->safe_psql($db, 'ALTER TABLE public.t ADD COLUMN later int');
$na->safe_psql($db, "INSERT INTO t (id, v, extra, later) VALUES (5, 'five', 'x5', 55)");
$na->safe_psql($db, "UPDATE t SET later = 11 WHERE id = 1");
ok(wait_for_peers_on($na), 'changes using a column added on both nodes arrive');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || coalesce(later::text, '-'), ',' ORDER BY id) FROM t"),
	'1:11,2:-,3:-,4:-,5:55', 'node_b: the new column\'s values arrived (new relation metadata, rebuilt plans)');
$na->safe_psql($db, 'ALTER TABLE public.t DROP COLUMN extra');
$na->safe_psql($db, "INSERT INTO t (id, v, later) VALUES (6, 'six', 66)");
$na->safe_psql($db, "UPDATE t SET v = 'one again' WHERE id = 1");
ok(wait_for_peers_on($na), 'changes after the provider dropped a column arrive');
$nb->safe_psql($db, 'ALTER TABLE public.t DROP COLUMN extra');
$na->safe_psql($db, "INSERT INTO t (id, v, later) VALUES (7, 'seven', 77)");
$na->safe_psql($db, "DELETE FROM t WHERE id = 2");
ok(wait_for_peers_on($na), 'changes after both nodes dropped the column arrive');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || v || ':' || coalesce(later::text, '-'), ',' ORDER BY id) FROM t"),
	'1:one again:11,3:three:-,4:four:-,5:five:55,6:six:66,7:seven:77',
	'node_b: every change across the column drop arrived');
my $end = peer_of($nb, 'node_a');
ok($end->{status} eq 'streaming' && !defined $end->{last_error}, 'no error after the schema changes')
  or diag explain $end;

done_testing();
