# 002_chain_no_forwarding.pl — a chain A→B→C (B subscribes to A, C to B):
# A's changes reach B but never C, because B sends on only what originated at
# B.  Proof that it is not mere lag: B commits a marker after it applied A's
# changes; once the marker is at C, anything B had forwarded before it would
# be there too.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;

my ($na, $nb, $nc) = concord_nodes(qw(node_a node_b node_c));
my @nodes = ($na, $nb, $nc);
my $db = $ConcordTest::DB;

create_table_everywhere(\@nodes,
	'CREATE TABLE public.t (id int PRIMARY KEY, origin text NOT NULL, v text)', 'public.t');
chain($na, $nb, $nc);

is(join(',', map { $_->{peer_name} } @{ peers($na) }), '', 'node_a applies from nobody');
is(join(',', map { $_->{peer_name} } @{ peers($nb) }), 'node_a', 'node_b applies only from node_a');
is(join(',', map { $_->{peer_name} } @{ peers($nc) }), 'node_b', 'node_c applies only from node_b');

# A writes: inserts in several transactions, an update, a delete, a truncate-free mix.
$na->safe_psql($db, "INSERT INTO t SELECT g, 'node_a', 'a' || g FROM generate_series(1, 50) g");
$na->safe_psql($db, "INSERT INTO t VALUES ($_, 'node_a', 'single')") for 51 .. 55;
$na->safe_psql($db, "BEGIN; UPDATE t SET v = 'updated' WHERE id <= 10; DELETE FROM t WHERE id BETWEEN 11 AND 15; COMMIT;");
ok(wait_for_peers_on($na), "node_a's subscriber (node_b) applied everything");
is($nb->safe_psql($db, "SELECT count(*) FROM t WHERE origin = 'node_a'"), '50', "node_a's rows reached node_b");
is($nb->safe_psql($db, "SELECT count(*) FROM t WHERE v = 'updated'"), '10', "node_a's update reached node_b");

# B writes its own rows after having applied A's; then they travel to C.
$nb->safe_psql($db, "INSERT INTO t SELECT g, 'node_b', 'b' || g FROM generate_series(101, 120) g");
$nb->safe_psql($db, "UPDATE t SET v = 'b-updated' WHERE id = 101");
$nb->safe_psql($db, "INSERT INTO t VALUES (999, 'node_b', 'marker')");
ok(wait_for_peers_on($nb), "node_b's subscriber (node_c) applied everything");
is($nc->safe_psql($db, "SELECT v FROM t WHERE id = 999"), 'marker', "node_b's marker reached node_c");
is($nc->safe_psql($db, "SELECT count(*) FROM t WHERE origin = 'node_b'"), '21', "node_b's own rows reached node_c");
is($nc->safe_psql($db, "SELECT v FROM t WHERE id = 101"), 'b-updated', "node_b's update reached node_c");
is($nc->safe_psql($db, "SELECT count(*) FROM t WHERE origin = 'node_a'"), '0',
	"node_a's changes were not re-forwarded by node_b to node_c");

# A change B makes to a row that came from A is B's own change: it does go to C,
# as an update of a row C never had (this issue lets such an apply fail and
# retry), so it is kept out of this scenario; instead C writes, and nothing
# flows backwards.
$nc->safe_psql($db, "INSERT INTO t VALUES (500, 'node_c', 'c')");
ok(wait_for_peers_on($nc), 'node_c has no subscribers: wait_for_peers returns true at once');
ok(wait_for_peers_on($na) && wait_for_peers_on($nb), 'the chain is idle');
is($nb->safe_psql($db, "SELECT count(*) FROM t WHERE origin = 'node_c'"), '0', "node_c's row did not reach node_b");
is($na->safe_psql($db, "SELECT count(*) FROM t WHERE origin <> 'node_a'"), '0', 'node_a holds only its own rows');
is($nb->safe_psql($db, "SELECT count(*) FROM t"), '71', 'node_b holds node_a\'s 50 rows and its own 21');

assert_links_streaming([$nb, $nc]);

done_testing();
