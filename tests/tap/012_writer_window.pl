# 012_writer_window.pl — the apply guard knows the rows its own peer wrote
# from the worker's writer window (extension/shmem/writer_window.hpp), not
# from pg_commit_ts: updates of rows the peer wrote further back than the
# commit-timestamp buffers reach (8 pages of 819 transactions at the
# shared_buffers set here) read no pg_commit_ts page (14,288 reads for 20,000
# updates without the window), also after the worker restarted; a row written
# locally in between is still met as a conflict (the window answers only for
# the worker's own commits), and the nodes end identical.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;

# Small shared buffers: PostgreSQL 15 sizes the commit-timestamp buffers from
# shared_buffers (a page per 2MB: 128 at 256MB), here 8 pages.
my ($na, $nb) = concord_nodes([qw(node_a node_b)], conf => ['shared_buffers = 16MB']);
my @nodes = ($na, $nb);
my $db    = $ConcordTest::DB;
my $rows  = 20000;    # transactions of each phase: 25 pages of commit timestamps

create_table_everywhere(\@nodes, 'CREATE TABLE public.kv (k int PRIMARY KEY, v int NOT NULL)', 'public.kv');
chain($na, $nb);

# One transaction per row, so that node_b's apply commits $rows transactions.
$na->safe_psql($db, q{
	CREATE PROCEDURE fill(n int) LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN 1 .. n LOOP
			INSERT INTO public.kv VALUES (i, 0);
			COMMIT;
		END LOOP;
	END $$;
	CREATE PROCEDURE touch_all_randomly() LANGUAGE plpgsql AS $$
	DECLARE key int;
	BEGIN
		FOR key IN SELECT k FROM public.kv ORDER BY random() LOOP
			UPDATE public.kv SET v = v + 1 WHERE k = key;
			COMMIT;
		END LOOP;
	END $$;
});
$na->safe_psql($db, "CALL fill($rows)");
ok(wait_for_peers_on($na, 120), "node_b applied node_a's $rows single-row transactions");

# A local write at node_b: the window must not take it for node_a's.
$nb->safe_psql($db, 'UPDATE kv SET v = -1 WHERE k = 7');

# A worker flushes its statistics as it exits; the next worker starts with the window the first one filled.
sub commit_ts_reads
{
	$nb->safe_psql($db, "SELECT concord.pause('node_a')");
	ok(poll_until($nb, "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'concord apply'"),
		"node_b's apply worker exited");
	return $nb->safe_psql($db, "SELECT blks_read FROM pg_stat_slru WHERE name = 'CommitTs'");
}
my $reads_before = commit_ts_reads();
$na->safe_psql($db, 'CALL touch_all_randomly()');
$nb->safe_psql($db, "SELECT concord.resume('node_a')");
ok(wait_for_peers_on($na, 120), "node_b applied $rows updates of random keys");
my $reads = commit_ts_reads() - $reads_before;
diag('commit-timestamp buffers: '
	  . $nb->safe_psql($db, "SELECT size / 8192 FROM pg_shmem_allocations WHERE name = 'CommitTs'"));
# Without the window most of these look-ups miss the 8 buffers (thousands of reads).
cmp_ok($reads, '<', 50,
	"updates of rows node_a wrote $rows transactions earlier read $reads pg_commit_ts pages (not one per change)");

is( $nb->safe_psql($db,
		"SELECT count(*) FROM concord.conflicts WHERE relation = 'public.kv'::regclass AND local_tuple->>'k' = '7'"),
	'1', "node_b met node_a's update of the row it had written itself as one conflict");
is($nb->safe_psql($db, 'SELECT count(*) FROM concord.conflicts'), '1', 'and no other row as a conflict');
$nb->safe_psql($db, "SELECT concord.resume('node_a')");
ok(wait_for_peers_on($na, 60), 'node_b streams from node_a again');
assert_same_everywhere(\@nodes, 'kv', 'kv is identical on both nodes');
is($nb->safe_psql($db, 'SELECT count(*) FROM kv WHERE v = 1'), $rows, 'every row carries node_a\'s one update');

done_testing();
