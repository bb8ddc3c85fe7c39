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

# The provider's table changes in the middle of a transaction, between
# inserts: the relation metadata arrives again between rows of two shapes,
# which must not be applied as one batch.  Three tables: inserts into
# m_copy go through COPY; m_unnest has a tombstone, so through INSERT ...
# SELECT FROM unnest(...); in m_swap a dropped and an added column keep the
# column count, so nothing but the values' placement could tell.  node_b has
# every column either shape uses.
for my $t (qw(m_copy m_unnest m_swap))
{
	my $old = $t eq 'm_swap' ? ', old text' : '';
	$na->safe_psql($db, "CREATE TABLE public.$t (id int PRIMARY KEY, v text$old); SELECT concord.add_table('public.$t')");
	$nb->safe_psql($db,
		"CREATE TABLE public.$t (id int PRIMARY KEY, v text$old, c text); SELECT concord.add_table('public.$t')");
}
$na->safe_psql($db, "INSERT INTO m_unnest VALUES (100, 'gone'); DELETE FROM m_unnest WHERE id = 100");
ok(wait_for_peers_on($na), 'a deleted row of m_unnest arrived');
is($nb->safe_psql($db, "SELECT count(*) FROM concord.tombstone WHERE relid = 'public.m_unnest'::regclass"),
	'1', 'node_b holds a tombstone of m_unnest');
for my $t (qw(m_copy m_unnest))
{
	$na->safe_psql($db, "BEGIN; INSERT INTO $t VALUES (1, 'a'), (2, 'b'); ALTER TABLE $t ADD COLUMN c text; "
		  . "INSERT INTO $t VALUES (3, 'c', 'c3'), (4, 'd', 'c4'); COMMIT");
}
$na->safe_psql($db, "BEGIN; INSERT INTO m_swap VALUES (1, 'a', 'o1'), (2, 'b', 'o2'); "
	  . "ALTER TABLE m_swap DROP COLUMN old; ALTER TABLE m_swap ADD COLUMN c text; "
	  . "INSERT INTO m_swap VALUES (3, 'c', 'c3'), (4, 'd', 'c4'); COMMIT");
ok(wait_for_peers_on($na), 'transactions whose table changed between their inserts apply');
for my $t (qw(m_copy m_unnest))
{
	is($nb->safe_psql($db, "SELECT string_agg(id || ':' || v || ':' || coalesce(c, '-'), ',' ORDER BY id) FROM $t"),
		'1:a:-,2:b:-,3:c:c3,4:d:c4', "node_b: $t holds each row in its own shape");
}
is( $nb->safe_psql($db,
		"SELECT string_agg(id || ':' || v || ':' || coalesce(old, '-') || ':' || coalesce(c, '-'), ',' ORDER BY id) "
		  . 'FROM m_swap'),
	'1:a:o1:-,2:b:o2:-,3:c:-:c3,4:d:-:c4',
	'node_b: m_swap holds each value in its own column');
my $mid = peer_of($nb, 'node_a');
ok($mid->{status} eq 'streaming' && !defined $mid->{last_error}, 'no error after the changes within transactions')
  or diag explain $mid;

done_testing();
