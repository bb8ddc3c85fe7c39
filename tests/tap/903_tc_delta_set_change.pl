# 903 (review repro): tombstones written before set_delta_columns adds a
# column have no value for it; a newer update that brings the row back
# takes NULL for that column when it leaves it alone (NOT NULL: the apply stalls).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordConflicts;
use PostgreSQL::Test::Utils;
use Test::More;

my @conf = ('concord.feedback_interval = 50ms', 'concord.retry_delay_min = 100ms', 'concord.retry_delay_max = 1s');
my @nodes = concord_nodes([qw(node_a node_b)], conf => \@conf);
my ($na, $nb) = @nodes;
my $db = $ConcordTest::DB;
create_table_everywhere(\@nodes, q{
	CREATE TABLE public.counters (id int PRIMARY KEY, hits bigint NOT NULL DEFAULT 0, n int NOT NULL DEFAULT 0);
	ALTER TABLE public.counters REPLICA IDENTITY FULL;
}, 'public.counters');
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.counters', '{hits}')") for @nodes;
install_txlog(\@nodes);
full_mesh(\@nodes);
$na->safe_psql($db, "INSERT INTO counters VALUES (1, 7, 3)");
ok(wait_converged(\@nodes), 'row everywhere');
pause_all(\@nodes);
labelled_txn($na, 'A1', 'DELETE FROM counters WHERE id = 1');
labelled_txn($nb, 'B1', 'UPDATE counters SET hits = hits + 5 WHERE id = 1');
note($na->safe_psql($db, 'SELECT counters FROM concord.tombstone'));
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.counters', '{hits,n}')") for @nodes;
resume_all(\@nodes);
ok(wait_converged(\@nodes, 20), 'converged');
is($_->safe_psql($db, 'SELECT hits || \'/\' || n FROM counters WHERE id = 1'), '12/3', $_->name) for @nodes;
note($na->safe_psql($db, 'SELECT peer_name, status, last_error FROM concord.peers'));
done_testing();
