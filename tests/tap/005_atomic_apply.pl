# 005_atomic_apply.pl — a remote transaction applies atomically or not at all.
# node_b has a CHECK constraint node_a lacks; node_a commits a multi-statement
# transaction whose last change violates it.  At node_b: nothing of that
# transaction is applied, the error shows in concord.peers.last_error with
# last_error_at, the apply is retried (the error stays, failures grows), later
# transactions from node_a wait behind it (nothing is skipped), and node_b's
# own writes still flow to node_a.  Once the operator drops the constraint,
# everything arrives in order and the error clears.
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

create_table_everywhere(\@nodes, q{
	CREATE TABLE public.t (id int PRIMARY KEY, v int NOT NULL);
	CREATE TABLE public.other (id int PRIMARY KEY, note text);
}, 'public.t', 'public.other');
$nb->safe_psql($db, 'ALTER TABLE public.t ADD CONSTRAINT v_small CHECK (v < 1000)');
full_mesh(\@nodes);

# A transaction that applies fine, so the failing one has a predecessor.
$na->safe_psql($db, 'INSERT INTO t VALUES (1, 1)');
ok(wait_for_peers_on($na), 'a first transaction arrives');

# The failing transaction: several statements on two tables, the last one violates v_small at node_b.
$na->safe_psql($db, q{
	BEGIN;
	INSERT INTO t SELECT g, g FROM generate_series(10, 19) g;
	UPDATE t SET v = 2 WHERE id = 1;
	INSERT INTO other VALUES (1, 'in the failing transaction');
	DELETE FROM t WHERE id = 10;
	INSERT INTO t VALUES (20, 5000);
	COMMIT;
});
# A later transaction, which must not be applied before the failing one.
$na->safe_psql($db, "INSERT INTO t VALUES (30, 30); INSERT INTO other VALUES (2, 'after')");

ok( poll_until($nb,
		"SELECT last_error IS NOT NULL AND last_error_at IS NOT NULL FROM concord.peers WHERE peer_name = 'node_a'"),
	'node_b shows the failure in concord.peers');
my $first = peer_of($nb, 'node_a');
like($first->{last_error}, qr/v_small|check constraint/i, 'last_error names the violated constraint')
  or diag explain $first;
ok(poll_until($nb, "SELECT status = 'error' FROM concord.peers WHERE peer_name = 'node_a'", 't', 30),
	"the peer's status shows error");
ok($first->{failures} >= 1, "failures counts the failed apply ($first->{failures})");

# The apply is retried: failures grows while the error stays.
ok( poll_until($nb,
		"SELECT failures > $first->{failures} AND last_error IS NOT NULL FROM concord.peers WHERE peer_name = 'node_a'",
		't', 30),
	'the transaction is retried (failures grows) and the error stays');
my $later = peer_of($nb, 'node_a');
like($later->{last_error}, qr/v_small|check constraint/i, 'the error still names the constraint after retries');
ok($later->{last_error_at} ge $first->{last_error_at}, 'last_error_at is the time of the latest failure');

# Nothing of the failing transaction, nor of the later one, is at node_b.
is($nb->safe_psql($db, q{SELECT string_agg(id || ':' || v, ',') FROM t}), '1:1',
	'node_b: no change of the failing transaction is applied (its earlier statements were rolled back)');
is($nb->safe_psql($db, 'SELECT count(*) FROM other'), '0',
	'node_b: neither the failing transaction nor the later one touched the other table');
ok(!wait_for_peers_on($na, 2), "node_a's wait_for_peers returns false while node_b cannot apply");

# node_b's own writes still reach node_a meanwhile.
$nb->safe_psql($db, "INSERT INTO other VALUES (100, 'from b while failing')");
ok(wait_for_peers_on($nb), "node_b's own writes reach node_a while node_b's apply from node_a fails");
is($na->safe_psql($db, 'SELECT note FROM other WHERE id = 100'), 'from b while failing', 'node_a has node_b\'s row');

# The operator fixes the schema: everything arrives, in order, once.
$nb->safe_psql($db, 'ALTER TABLE public.t DROP CONSTRAINT v_small');
ok(wait_converged(\@nodes), 'after the fix the mesh converges (the retry picked it up)');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM t"),
	'1:2,11:11,12:12,13:13,14:14,15:15,16:16,17:17,18:18,19:19,20:5000,30:30',
	'node_b: the whole transaction and the later one were applied');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || note, ',' ORDER BY id) FROM other"),
	'1:in the failing transaction,2:after,100:from b while failing', 'node_b: other table complete');
assert_same_everywhere(\@nodes, 't', 't identical on both nodes');
assert_same_everywhere(\@nodes, 'other', 'other identical on both nodes');
my $after = peer_of($nb, 'node_a');
ok($after->{status} eq 'streaming' && !defined $after->{last_error} && !defined $after->{last_error_at},
	'after a successful apply the error is cleared and the peer streams')
  or diag explain $after;

done_testing();
