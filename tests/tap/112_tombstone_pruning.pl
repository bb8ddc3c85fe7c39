# 112_tombstone_pruning.pl — tombstones are pruned by the peers' clocks, and
# only once no older change can still arrive.
#
# Every node writes its clock into its WAL every 5 s; its subscribers take
# it, in WAL order, as the time before which they have all its changes, and
# prune a tombstone once every peer is past it (tombstone_min_age 0 and a
# 1 s housekeeping interval here, so it all happens within seconds).
#
# 1. An idle mesh: node_a deletes a row; its tombstone is pruned although
#    node_b writes nothing (node_b's clock alone moves node_a on).
# 2. A link catching up: node_a pauses its link from node_b; node_b writes a
#    long backlog of transactions of a table that is not replicated, then
#    updates row 2 (U); node_a deletes row 2 later.  node_a resumes the link
#    and pauses it again 2 s later, while node_b's walsender is still in the
#    backlog (spilling each transaction to disk): meanwhile it answered
#    node_a's requests for a sign of life with keepalives stamped "now",
#    later than the delete.  The tombstone
#    must stay (U is older than the delete and not here yet); when U finally
#    arrives it meets the tombstone and loses, and both nodes agree.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordConflicts;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my @conf = (
	'concord.feedback_interval = 50ms', 'concord.retry_delay_min = 100ms',
	'concord.retry_delay_max = 1s',     'concord.peer_timeout = 2s',
	'concord.tombstone_min_age = 0',    'concord.housekeeping_interval = 1s',
	# node_b's walsender spills every backlog transaction to disk: it takes a while.
	'logical_decoding_work_mem = 64kB');
my ($na, $nb) = concord_nodes([qw(node_a node_b)], conf => \@conf);
my @nodes = ($na, $nb);
my $db    = $ConcordTest::DB;

create_table_everywhere(\@nodes,
	'CREATE TABLE public.t (id int PRIMARY KEY, v int); CREATE TABLE public.local_only (x int)', 'public.t');
install_txlog(\@nodes);
full_mesh(\@nodes);
$na->safe_psql($db, 'INSERT INTO t VALUES (1, 1), (2, 2)');
ok(wait_converged(\@nodes), 'rows 1 and 2 everywhere');

my $tombstones = "SELECT count(*) FROM concord.tombstone WHERE relid = 'public.t'::regclass";
my $no_tombstone = "SELECT count(*) = 0 FROM concord.tombstone WHERE relid = 'public.t'::regclass";

# --- 1. an idle mesh prunes ------------------------------------------------------
$na->safe_psql($db, 'DELETE FROM t WHERE id = 1');
ok(wait_converged(\@nodes), 'the delete of row 1 converged');
is($na->safe_psql($db, $tombstones), '1', 'node_a holds the tombstone of row 1');
ok(poll_until($na, $no_tombstone, 't', 60),
	"node_a pruned it, node_b's clock telling it that no older change can come");

# --- 2. a link catching up does not prune early ----------------------------------
pause_link($na, $nb);
$nb->safe_psql($db,
	'DO $$ BEGIN FOR i IN 1..400 LOOP INSERT INTO local_only SELECT generate_series(1, 5000); COMMIT; END LOOP; END $$');
labelled_txn($nb, 'U', 'UPDATE t SET v = 20 WHERE id = 2');
usleep(100_000);
labelled_txn($na, 'D', 'DELETE FROM t WHERE id = 2');
ok(wait_applied_by($na, $nb), 'node_b applied the newer delete');
is($na->safe_psql($db, $tombstones), '1', 'node_a holds the tombstone of row 2');

resume_link($na, $nb);
usleep(2_000_000);
pause_link($na, $nb);
is($na->safe_psql($db, "SELECT count(*) FROM concord.conflicts WHERE remote_commit_ts = '" . ts_of('U') . "'"),
	'0', "node_b's update U had not reached node_a when the link paused again");
# Long enough for several housekeeping rounds (one a second here).
usleep(4_000_000);
is($na->safe_psql($db, $tombstones), '1', 'node_a kept the tombstone: U, older than the delete, is still to come');

resume_link($na, $nb);
ok(wait_converged(\@nodes), 'the mesh converges');
is(join(' ', map { $_->safe_psql($db, 'SELECT count(*) FROM t WHERE id = 2') } @nodes),
	'0 0', 'row 2 stays deleted on both nodes');
is( $na->safe_psql($db,
		"SELECT conflict_type || '/' || resolution FROM concord.conflicts WHERE remote_commit_ts = '" . ts_of('U') . "'"),
	'update_deleted/keep_local', 'node_a: U met the tombstone and lost (update_deleted / keep_local)');
assert_same_everywhere(\@nodes, 'public.t', 'public.t identical on both nodes');
ok(poll_until($na, $no_tombstone, 't', 60), 'node_a pruned the tombstone once U had arrived');

done_testing();
