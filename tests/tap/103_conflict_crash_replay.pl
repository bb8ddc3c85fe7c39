# 103_conflict_crash_replay.pl — changes applied again after a crash of the
# subscriber are not conflicts, and real conflicts are recorded exactly once.
#
# node_a runs a stream of small transactions; node_b applies it and is
# killed (kill -9 of every process at once) three times while doing so, then
# restarted.  The apply commits asynchronously, so each crash loses applied
# transactions whose commit was not yet flushed; node_b gets them again from
# node_a.  Each transaction of the stream
#   - inserts a new row of r, updates the previous one, deletes an older one
#     (rows node_a wrote itself: never a conflict at node_b),
#   - inserts into ru and deletes from it (a table with another unique index,
#     applied by the conflict slow path: never a conflict either),
#   - adds 1 to a delta counter (cnt.n, written by node_a only),
#   - updates row i of s, which node_b inserted: exactly one
#     update_origin_differs per row at node_b (node_a's update is newer and
#     wins under last_update_wins).
# In the end node_b has recorded exactly one conflict per row of s, each
# once, nothing for r, ru and cnt, the counter equals the number of
# transactions, and both nodes hold the same rows.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordConflicts;
use PostgreSQL::Test::Utils;
use Test::More;

# Frequent feedback and a slow WAL writer: the subscriber's unflushed
# commits are lost by the crash, and its provider must send them again.
my ($na, $nb) = concord_nodes([qw(node_a node_b)],
	conf => [ 'concord.feedback_interval = 20ms', 'wal_writer_delay = 1s' ]);
my @nodes = ($na, $nb);
my $db    = $ConcordTest::DB;

create_table_everywhere(\@nodes, q{
	CREATE TABLE public.r (id int PRIMARY KEY, v int NOT NULL);
	CREATE TABLE public.ru (id int PRIMARY KEY, u int NOT NULL UNIQUE);
	CREATE TABLE public.s (id int PRIMARY KEY, v int NOT NULL);
	CREATE TABLE public.cnt (id int PRIMARY KEY, n bigint NOT NULL);
	ALTER TABLE public.cnt REPLICA IDENTITY FULL;
}, 'public.r', 'public.ru', 'public.s', 'public.cnt');
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.cnt', '{n}')") for @nodes;
full_mesh(\@nodes);

my $n = 3000;
$nb->safe_psql($db, "INSERT INTO s SELECT g, 0 FROM generate_series(1, $n) g");
$na->safe_psql($db, 'INSERT INTO cnt VALUES (1, 0)');
ok(wait_converged(\@nodes), "node_b's rows of s and node_a's counter converged");

my ($stream, $err) = start_sql($na, qq{
	DO \$\$ BEGIN
	FOR i IN 1..$n LOOP
		INSERT INTO r VALUES (i, 0);
		UPDATE r SET v = v + 1 WHERE id = i - 1;
		DELETE FROM r WHERE id = i - 3 AND i % 3 = 0;
		INSERT INTO ru VALUES (i, i);
		DELETE FROM ru WHERE id = i - 2;
		UPDATE cnt SET n = n + 1 WHERE id = 1;
		UPDATE s SET v = i WHERE id = i;
		COMMIT;
		IF i % 5 = 0 THEN PERFORM pg_sleep(0.01); END IF;
	END LOOP;
	END \$\$});

for my $cycle (1 .. 3)
{
	my $progress = int($n / 5) * $cycle;
	ok(poll_until($nb, "SELECT count(*) >= $progress FROM s WHERE v > 0", 't', 60),
		"crash $cycle: node_b is applying the stream ($progress transactions so far)");
	my $writing = $stream->pumpable;
	crash_node($nb, all => 1);
	ok($writing, "crash $cycle: node_b was killed while node_a was still writing");
	$nb->start;
}
ok($stream->finish, "node_a's stream completed") or diag $$err;

# One more transaction at each node, so that every link applied something
# since the last crash (the outage's error shows until then).
$na->safe_psql($db, "INSERT INTO r VALUES (-1, 0)");
$nb->safe_psql($db, "INSERT INTO r VALUES (-2, 0)");
ok(wait_converged(\@nodes), 'after the crashes the mesh converges');

for my $t (qw(r ru s cnt))
{
	assert_same_everywhere(\@nodes, $t, "$t is identical on both nodes");
}
is($nb->safe_psql($db, 'SELECT n FROM cnt WHERE id = 1'), $n,
	"the delta counter at node_b is exactly the number of node_a's transactions ($n)");
is($nb->safe_psql($db, "SELECT count(*) FROM s WHERE v = id"), $n, "every row of s carries node_a's update");
is( $nb->safe_psql($db,
		"SELECT count(*) FROM concord.conflicts WHERE relation IN ('public.r'::regclass, 'public.ru'::regclass, "
		  . "'public.cnt'::regclass) OR relation IS NULL"),
	'0', 'node_b recorded no conflict for the changes that met no other write (replays included)');
is( $nb->safe_psql($db,
		"SELECT count(*) || '/' || count(DISTINCT remote_tuple->>'id') || '/' || "
		  . "count(*) FILTER (WHERE conflict_type = 'update_origin_differs' AND resolution = 'apply_remote' "
		  . "AND local_origin = 'node_b' AND remote_origin = 'node_a') "
		  . "FROM concord.conflicts WHERE relation = 'public.s'::regclass"),
	"$n/$n/$n", "node_b recorded each of the $n real conflicts on s exactly once");
is($na->safe_psql($db, 'SELECT count(*) FROM concord.conflicts'), '0', 'node_a recorded no conflict');
assert_links_streaming(\@nodes);

done_testing();
