# 904 (review repro): a row that arrived by update_missing (insert still on
# its way) and was then deleted leaves a tombstone holding the full value;
# the late insert loses to the delete and AddToTombstone adds its values
# again (insert_deleted / keep_local), so the node brings the row back with
# the insert counted twice.  (Before 7808ebe this sequence converged.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordConflicts;
use PostgreSQL::Test::Utils;
use Test::More;

my @conf = ('concord.feedback_interval = 50ms', 'concord.retry_delay_min = 100ms', 'concord.retry_delay_max = 1s');
my @nodes = concord_nodes([qw(node_a node_b node_c)], conf => \@conf);
my ($na, $nb, $nc) = @nodes;
my $db = $ConcordTest::DB;
create_table_everywhere(\@nodes, q{
	CREATE TABLE public.counters (id int PRIMARY KEY, hits bigint NOT NULL DEFAULT 0);
	ALTER TABLE public.counters REPLICA IDENTITY FULL;
}, 'public.counters');
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.counters', '{hits}')") for @nodes;
install_txlog(\@nodes);
full_mesh(\@nodes);
pause_link($nc, $na);
labelled_txn($na, 'I0', 'INSERT INTO counters VALUES (1, 100)');
ok(wait_applied_by($na, $nb), 'node_b has the row');
labelled_txn($nb, 'U1', 'UPDATE counters SET hits = hits + 1 WHERE id = 1');
ok(wait_applied_by($nb, $nc), 'node_c has the row by update_missing');
pause_link($nb, $nc);
labelled_txn($nc, 'D2', 'DELETE FROM counters WHERE id = 1');
ok(wait_applied_by($nc, $na), 'node_a applied the delete');
pause_link($nc, $nb);
labelled_txn($nb, 'U3', 'UPDATE counters SET hits = hits + 1 WHERE id = 1');
resume_link($nc, $na);
ok(wait_applied_by($na, $nc), 'node_c applied the late insert (before U3)');
resume_all(\@nodes);
ok(wait_converged(\@nodes, 30), 'converged');
is($_->safe_psql($db, 'SELECT hits FROM counters WHERE id = 1'), '102', $_->name) for @nodes;
note($_->name . ': ' . $_->safe_psql($db, "SELECT conflict_type||'/'||resolution FROM concord.conflicts ORDER BY conflict_id"))
  for @nodes;
done_testing();
