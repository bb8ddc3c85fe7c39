# 114_unique_indexes.pl — rows that collide on a unique index other than the
# key, at 3 nodes: whichever order each node meets the writes in, every node
# ends with the same rows (docs/conflicts.md, "Unique indexes other than the
# key").  Each part pauses every link, writes, and resumes the links one at a
# time in a given order; versions are the commit order of the writes.
#
# 1. An update that loses: node_a sets row 1's email to 'x', node_b later
#    inserts (2,'x').  node_a deletes its row 1 to make room; node_b's row
#    wins over node_a's update, which then gives way there too: row 1 is
#    deleted at node_b and node_c as well.  Before, node_b kept row 1.
# 2. The tombstone of a row deleted to make room keeps that row's version:
#    node_a inserts (1,'x'), node_c (having it) moves row 1 to 'y', node_b
#    inserts (2,'x').  node_a deletes row 1 for node_b's row, then node_c's
#    update (newer than row 1, older than row 2) brings row 1 back with 'y'.
#    Before, the tombstone had row 2's version and node_a discarded it.
# 3. Two unique indexes (e, p) and a chain: (1,'x','p1') < (2,'x','p') <
#    (3,'z','p').  Row 2 beats row 1 on e and loses to row 3 on p.  node_c
#    meets row 2 after row 3 (row 2 loses at once) and row 1 last: row 1
#    must lose to row 2's ghost, as it lost to row 2 itself elsewhere.
# 4. The same chain, where the ghost is that of a row deleted to make room:
#    node_b deletes its row 2 for row 3, then meets row 1.
# 5. Under `custom`, the resolver decides before any other row is deleted: a
#    resolver that keeps the local row leaves the row holding the email.
# 6. UNIQUE NULLS NOT DISTINCT: two rows with a NULL email collide; the
#    newer stays and the apply does not stop.
# 7. Random (CONCORD_SEED, default 114), in rounds: with every link paused,
#    the nodes insert rows into a table with two unique indexes (values
#    from small pools, some NULL) and update a non-unique column; then the
#    links resume one at a time in a random order.  No row moves away from
#    its unique values (the documented limit).  Afterwards the nodes hold
#    the same rows, and no apply failed.
# 8. Two apply workers at once (found by a review): node_c applies part 3's
#    chain from node_a and node_b concurrently; row 1's transaction is held
#    open by a slow trigger while row 2 loses to row 3.  Row 2's worker must
#    wait for row 1's (the unique values are locked), then delete row 1.
# 9. first_update_wins keeps no ghosts: a value two rows raced for can be
#    used again, later, after the winner was deleted.
# 10. A delta table: a row deleted to make room and brought back in the same
#    transaction has that transaction's version, not the one recorded for
#    its tombstone, so an older update loses to it.
# 11. A row deleted to make room and then deleted by the same remote
#    transaction: its tombstone has that transaction's version, not the one
#    recorded for the row, so an older update loses to it (second review).
# 12. A 5,000-row remote transaction, inserts then updates, into a table
#    with another unique index: applied (the value locks give way to one
#    lock of the table instead of filling the shared lock table, which the
#    nodes here keep small: max_locks_per_transaction = 10).
# 13. Two workers at once again (third review): one deletes a holder to make
#    room and writes its ghosts, also on an index whose value it did not
#    lock; the other, deciding an older row with that value, must see the
#    ghost once the delete commits.
# 14. A large transaction that passes 64 value locks while a small one from
#    another peer waits for one of its values: no deadlock (the table lock
#    is taken only when free), both applied.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordConflicts;
use PostgreSQL::Test::Utils;
use Test::More;

# A small lock table (part 12): a transaction's locks must stay few.
my @conf = ('concord.feedback_interval = 50ms', 'concord.retry_delay_min = 100ms', 'concord.retry_delay_max = 1s',
	'max_locks_per_transaction = 10');
my ($na, $nb, $nc) = concord_nodes([qw(node_a node_b node_c)], conf => \@conf);
my @nodes = ($na, $nb, $nc);
my $db = $ConcordTest::DB;

my $ddl = q{
CREATE TABLE public.t1 (id int PRIMARY KEY, email text UNIQUE, v int);
CREATE TABLE public.t2 (id int PRIMARY KEY, email text UNIQUE, v int);
CREATE TABLE public.t3 (id int PRIMARY KEY, e text UNIQUE, p text UNIQUE);
CREATE TABLE public.t4 (id int PRIMARY KEY, e text UNIQUE, p text UNIQUE);
CREATE TABLE public.t5 (id int PRIMARY KEY, email text UNIQUE, v int);
CREATE FUNCTION public.t5_pick(local public.t5, remote public.t5, conflict_type text) RETURNS public.t5
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN local IS NULL THEN remote
              WHEN (remote.v, remote.email) > (local.v, local.email) THEN remote
              ELSE NULL END $$;
CREATE TABLE public.t6 (id int PRIMARY KEY, email text, v int, UNIQUE NULLS NOT DISTINCT (email));
CREATE TABLE public.t7 (id int PRIMARY KEY, e text UNIQUE, p text UNIQUE, v int NOT NULL DEFAULT 0);
CREATE TABLE public.t8 (id int PRIMARY KEY, e text UNIQUE, p text UNIQUE);
CREATE TABLE public.t9 (id int PRIMARY KEY, email text UNIQUE, v int);
CREATE TABLE public.t10 (id int PRIMARY KEY, email text UNIQUE, n int NOT NULL DEFAULT 0, note text);
ALTER TABLE public.t10 REPLICA IDENTITY FULL;
CREATE TABLE public.t11 (id int PRIMARY KEY, e text UNIQUE);
CREATE TABLE public.t12 (id int PRIMARY KEY, email text UNIQUE, v int);
CREATE TABLE public.t13 (id int PRIMARY KEY, e text UNIQUE, p text UNIQUE);
CREATE TABLE public.t14 (id int PRIMARY KEY, u text UNIQUE, v int);
};
create_table_everywhere(\@nodes, $ddl, map { "public.t$_" } 1 .. 14);
$_->safe_psql($db, "SELECT concord.set_conflict_policy('public.t9', 'first_update_wins')") for @nodes;
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.t10', '{n}')") for @nodes;
$_->safe_psql($db, "SELECT concord.set_conflict_policy('public.t5', 'custom', 'public.t5_pick(public.t5,public.t5,text)')")
  for @nodes;
install_txlog(\@nodes);
full_mesh(\@nodes);

# rows(TABLE, COLS) at every node; the test names the expected content.
sub rows_everywhere
{
	my ($t, $cols, $expected, $what) = @_;
	for my $n (@nodes)
	{
		my $r = rows_of($n, "SELECT string_agg(x::text, ' ' ORDER BY id) FROM (SELECT $cols FROM public.$t) x");
		is($r, $expected, "$what: $t at " . $n->name)
		  or diag(join("\n", @{ conflict_lines($n, "public.$t") }));
	}
	return;
}

# apply_from(SUBSCRIBER, PROVIDER): SUBSCRIBER resumes applying from
# PROVIDER and has applied everything PROVIDER committed.
sub apply_from
{
	my ($s, $p) = @_;
	resume_link($s, $p);
	ok(wait_applied_by($p, $s), $s->name . ' applied ' . $p->name);
	return;
}

# --- 1. an update that loses gives way -------------------------------------
labelled_txn($nc, 'S1', "INSERT INTO t1 VALUES (1, 'a', 0)");
ok(wait_converged(\@nodes), 'part 1: seeded');
pause_all(\@nodes);
labelled_txn($na, 'A1', "UPDATE t1 SET email = 'x' WHERE id = 1");
labelled_txn($nb, 'B1', "INSERT INTO t1 VALUES (2, 'x', 0)");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 1: converged');
rows_everywhere('t1', 'id, email, v', '(2,x,0)', 'part 1');
is_deeply(
	conflict_lines($nb, 'public.t1'),
	[
		conflict_line(1, 'unique_violation', 'keep_local', 'node_b', 'node_a', 'B1', 'A1',
			tup(id => 2, email => 'x', v => 0), tup(id => 1, email => 'x', v => 0))
	],
	'part 1: node_b records that node_a\'s update lost to its row');
is($nb->safe_psql($db, "SELECT count(*) FROM concord.tombstone WHERE relid = 'public.t1'::regclass"),
	'1', 'part 1: node_b keeps a tombstone of row 1');

# --- 2. the tombstone of a row deleted to make room ------------------------
pause_all(\@nodes);
labelled_txn($na, 'A2', "INSERT INTO t2 VALUES (1, 'x', 0)");
apply_from($nc, $na);
labelled_txn($nc, 'C2', "UPDATE t2 SET email = 'y' WHERE id = 1");
labelled_txn($nb, 'B2', "INSERT INTO t2 VALUES (2, 'x', 0)");
apply_from($na, $nb);    # row 1 (A2) gives way to row 2 (B2)
apply_from($na, $nc);    # C2 is newer than row 1's own version: row 1 comes back as 'y'
apply_from($nb, $na);
apply_from($nb, $nc);
apply_from($nc, $nb);
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 2: converged');
rows_everywhere('t2', 'id, email, v', '(1,y,0) (2,x,0)', 'part 2');
ok( (grep { /^1 \| update_deleted \| apply_remote \| node_a \| node_c \| A2 \| C2 / } @{ conflict_lines($na, 'public.t2') }),
	'part 2: at node_a, node_c\'s update met row 1\'s tombstone with row 1\'s own version (A2)')
  or diag explain conflict_lines($na, 'public.t2');

# --- 3. a chain over two indexes: the ghost of a row that lost on arrival ----
pause_all(\@nodes);
labelled_txn($na, 'A3', "INSERT INTO t3 VALUES (1, 'x', 'p1')");
labelled_txn($nb, 'B3', "INSERT INTO t3 VALUES (2, 'x', 'p')");
labelled_txn($nc, 'C3', "INSERT INTO t3 VALUES (3, 'z', 'p')");
apply_from($na, $nc);
apply_from($na, $nb);    # row 2 deletes row 1 (older, on e) and loses to row 3 (on p)
apply_from($nb, $na);    # row 1 loses to row 2
apply_from($nb, $nc);    # row 2 gives way to row 3
apply_from($nc, $nb);    # row 2 loses to row 3 at once ...
apply_from($nc, $na);    # ... and row 1 loses to its ghost
ok(wait_converged(\@nodes), 'part 3: converged');
rows_everywhere('t3', 'id, e, p', '(3,z,p)', 'part 3');
is_deeply(
	[ grep { /^1 / } @{ conflict_lines($nc, 'public.t3') } ],
	[ conflict_line(1, 'unique_violation', 'keep_local', 'node_b', 'node_a', 'B3', 'A3', undef,
		tup(id => 1, e => 'x', p => 'p1')) ],
	'part 3: node_c records row 1 losing to the ghost of row 2 (node_b, B3)');

# --- 4. the same chain: the ghost of a row deleted to make room -------------
pause_all(\@nodes);
labelled_txn($na, 'A4', "INSERT INTO t4 VALUES (1, 'x', 'p1')");
labelled_txn($nb, 'B4', "INSERT INTO t4 VALUES (2, 'x', 'p')");
labelled_txn($nc, 'C4', "INSERT INTO t4 VALUES (3, 'z', 'p')");
apply_from($nb, $nc);    # row 2 gives way to row 3 ...
apply_from($nb, $na);    # ... and row 1 loses to its ghost
apply_from($nc, $nb);
apply_from($nc, $na);
apply_from($na, $nb);
apply_from($na, $nc);
ok(wait_converged(\@nodes), 'part 4: converged');
rows_everywhere('t4', 'id, e, p', '(3,z,p)', 'part 4');

# --- 5. custom: the resolver decides first ------------------------------------
pause_all(\@nodes);
labelled_txn($na, 'A5', "INSERT INTO t5 VALUES (2, 'y', 9); INSERT INTO t5 VALUES (1, 'x', 0)");
labelled_txn($nb, 'B5', "INSERT INTO t5 VALUES (2, 'x', 5)");
apply_from($nb, $na);
apply_from($na, $nb);    # the resolver keeps (2,'y',9): row 1 holding 'x' stays
apply_from($nc, $na);
apply_from($nc, $nb);
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 5: converged');
rows_everywhere('t5', 'id, email, v', '(1,x,0) (2,y,9)', 'part 5');
is_deeply(
	conflict_lines($na, 'public.t5'),
	[
		conflict_line(2, 'insert_exists', 'keep_local', 'node_a', 'node_b', 'A5', 'B5',
			tup(id => 2, email => 'y', v => 9), tup(id => 2, email => 'x', v => 5))
	],
	'part 5: node_a records only the resolver keeping its row');

# --- 6. UNIQUE NULLS NOT DISTINCT ---------------------------------------------
pause_all(\@nodes);
labelled_txn($na, 'A6', "INSERT INTO t6 VALUES (1, NULL, 0)");
labelled_txn($nb, 'B6', "INSERT INTO t6 VALUES (2, NULL, 0)");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 6: converged (the apply did not stop on the unique error)');
rows_everywhere('t6', 'id, email, v', '(2,,0)', 'part 6');
is_deeply(
	conflict_lines($na, 'public.t6'),
	[
		conflict_line(2, 'unique_violation', 'apply_remote', 'node_a', 'node_b', 'A6', 'B6',
			tup(id => 1, email => undef, v => 0), tup(id => 2, email => undef, v => 0))
	],
	'part 6: node_a deleted its row 1 for node_b\'s newer row');

# --- 7. random inserts and updates, links paused at random --------------------
my $seed = $ENV{CONCORD_SEED} || 114;
srand($seed);
note("part 7: seed $seed; rerun with: CONCORD_SEED=$seed bash scripts/test/tap.sh 114");
# Rounds: every link paused, random writes at every node, then the six links
# resumed one at a time in a random order, each applying its backlog.
my @links = map { my $s = $_; map { [ $s, $_ ] } grep { $_ != $s } @nodes } @nodes;
for my $round (1 .. 4)
{
	pause_all(\@nodes);
	for my $step (1 .. 60)
	{
		my $i = int(rand(3));
		my $n = $nodes[$i];
		if (rand() < 0.65)
		{
			# Keys of node i are i, i+3, ...: each node inserts its own keys.
			# Each round has keys and values of its own, so that every
			# round has rows racing for them.
			my $id = $i + 3 * int(rand(12)) + 36 * $round;
			my $e = rand() < 0.15 ? 'NULL' : "'e${round}_" . int(rand(4)) . "'";
			my $p = rand() < 0.15 ? 'NULL' : "'p${round}_" . int(rand(4)) . "'";
			$n->safe_psql($db, "INSERT INTO t7 (id, e, p) VALUES ($id, $e, $p) ON CONFLICT DO NOTHING");
		}
		else
		{
			my $id = int(rand(36)) + 36 * $round;
			$n->safe_psql($db, "UPDATE t7 SET v = v + 1 WHERE id = $id");
		}
	}
	my @order = map { $_->[1] } sort { $a->[0] <=> $b->[0] } map { [ rand(), $_ ] } @links;
	for my $l (@order)
	{
		resume_link($l->[0], $l->[1]);
		wait_applied_by($l->[1], $l->[0]);
	}
}
resume_all(\@nodes);
ok(wait_converged(\@nodes), "part 7 (seed $seed): converged");
if (!assert_same_everywhere(\@nodes, 'public.t7', "part 7 (seed $seed): t7 the same on every node"))
{
	diag($_->name . ': ' . rows_of($_, "SELECT string_agg(x::text, ' ' ORDER BY id) FROM public.t7 x")) for @nodes;
}
note('part 7: rows ' . rows_of($na, 'SELECT count(*) FROM t7') . ', unique_violation conflicts '
	  . join(' ', map { rows_of($_, "SELECT count(*) FROM concord.conflicts WHERE relation = 'public.t7'::regclass") } @nodes)
	  . ', ghosts ' . join(' ', map { rows_of($_, 'SELECT count(*) FROM concord.unique_ghost') } @nodes));

# --- 8. two apply workers deciding rows with the same values at once --------
$nc->safe_psql($db, q{
CREATE FUNCTION public.t8_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.id = 1 THEN PERFORM pg_sleep(4); END IF; RETURN NULL; END $$;
CREATE TRIGGER t8_slow AFTER INSERT ON public.t8 FOR EACH ROW EXECUTE FUNCTION public.t8_slow();
ALTER TABLE public.t8 ENABLE ALWAYS TRIGGER t8_slow;
});
pause_all(\@nodes);
labelled_txn($na, 'A8', "INSERT INTO t8 VALUES (1, 'x', 'p1')");
labelled_txn($nb, 'B8', "INSERT INTO t8 VALUES (2, 'x', 'p')");
labelled_txn($nc, 'C8', "INSERT INTO t8 VALUES (3, 'z', 'p')");
resume_link($nc, $na);
ok( poll_until($nc, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'", 't', 30),
	'part 8: node_c applies row 1 and sleeps in the trigger, uncommitted');
apply_from($nc, $nb);
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 8: converged');
rows_everywhere('t8', 'id, e, p', '(3,z,p)', 'part 8');

# --- 9. first_update_wins: no ghosts ------------------------------------------
pause_all(\@nodes);
labelled_txn($na, 'A9', "INSERT INTO t9 VALUES (1, 'x', 0)");
labelled_txn($nb, 'B9', "INSERT INTO t9 VALUES (2, 'x', 0)");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 9: converged');
rows_everywhere('t9', 'id, email, v', '(1,x,0)', 'part 9: the first insert wins');
labelled_txn($na, 'A9d', 'DELETE FROM t9 WHERE id = 1');
ok(wait_converged(\@nodes), 'part 9: the delete converged');
labelled_txn($nc, 'C9', "INSERT INTO t9 VALUES (3, 'x', 0)");
ok(wait_converged(\@nodes), 'part 9: the later insert converged');
rows_everywhere('t9', 'id, email, v', '(3,x,0)', 'part 9: a later insert of the value stays');

# --- 10. delta table: a row deleted to make room and brought back ------------
labelled_txn($na, 'S10', "INSERT INTO t10 VALUES (1, 'x', 0, 's')");
ok(wait_converged(\@nodes), 'part 10: seeded');
pause_all(\@nodes);
labelled_txn($nc, 'C10', "UPDATE t10 SET email = 'w', note = 'c' WHERE id = 1");
apply_from($nb, $nc);
labelled_txn($nb, 'B10', "INSERT INTO t10 VALUES (2, 'x', 0, 'b'); UPDATE t10 SET note = 'b' WHERE id = 1");
apply_from($na, $nb);    # row 1 gives way to row 2, then B10's update brings it back
apply_from($na, $nc);    # C10 is older than B10: it loses
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 10: converged');
rows_everywhere('t10', 'id, email, n, note', '(1,w,0,b) (2,x,0,b)', 'part 10');

# --- 11. a row deleted to make room, then deleted by the same transaction ---
labelled_txn($na, 'S11', "INSERT INTO t11 VALUES (1, 'a'), (2, 'b')");
ok(wait_converged(\@nodes), 'part 11: seeded');
pause_all(\@nodes);
labelled_txn($na, 'A11', "UPDATE t11 SET e = 'x' WHERE id = 1");
apply_from($nc, $na);
labelled_txn($nc, 'C11', "UPDATE t11 SET e = 'c' WHERE id = 1");
labelled_txn($nb, 'B11', "UPDATE t11 SET e = 'x' WHERE id = 2; DELETE FROM t11 WHERE id = 1");
apply_from($na, $nb);    # row 1 gives way to row 2 (its A11 version recorded), then B11 deletes it
apply_from($na, $nc);    # C11 is older than B11's delete: it loses
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 11: converged');
rows_everywhere('t11', 'id, e', '(2,x)', 'part 11');

# --- 12. a large remote transaction ----------------------------------------------
labelled_txn($na, 'A12', "INSERT INTO t12 SELECT g, 'u' || g, 0 FROM generate_series(1, 5000) g");
labelled_txn($na, 'A12u', 'UPDATE t12 SET v = v + 1');
ok(wait_converged(\@nodes), 'part 12: converged');
for my $n (@nodes)
{
	is($n->safe_psql($db, 'SELECT count(*), sum(v) FROM t12'), '5000|5000', 'part 12: every row at ' . $n->name);
}

# --- 13. a ghost on a value the deleting worker did not lock -----------------
$nc->safe_psql($db, q{
CREATE FUNCTION public.slow_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.id = TG_ARGV[0]::int THEN PERFORM pg_sleep(4); END IF; RETURN NULL; END $$;
CREATE TRIGGER t13_slow AFTER INSERT ON public.t13 FOR EACH ROW EXECUTE FUNCTION public.slow_at(2);
ALTER TABLE public.t13 ENABLE ALWAYS TRIGGER t13_slow;
CREATE TRIGGER t14_slow AFTER INSERT ON public.t14 FOR EACH ROW EXECUTE FUNCTION public.slow_at(60);
ALTER TABLE public.t14 ENABLE ALWAYS TRIGGER t14_slow;
});
pause_all(\@nodes);
labelled_txn($nb, 'B13', "INSERT INTO t13 VALUES (3, 's', 'p1')");    # oldest
labelled_txn($nc, 'C13', "INSERT INTO t13 VALUES (1, 'x', 'p1')");
labelled_txn($na, 'A13', "INSERT INTO t13 VALUES (2, 'x', 'p2')");    # newest: row 1 gives way at node_c
resume_link($nc, $na);
ok( poll_until($nc, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'", 't', 30),
	'part 13: node_c deleted row 1 for row 2 and sleeps, uncommitted');
resume_link($nc, $nb);    # row 3 (p1) must lose to row 1's ghost
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 13: converged');
rows_everywhere('t13', 'id, e, p', '(2,x,p2)', 'part 13');

# --- 14. passing 64 value locks while another worker waits for one -------------
my $log_offset = -s $nc->logfile;
pause_all(\@nodes);
labelled_txn($na, 'A14', "INSERT INTO t14 SELECT g, 'u' || g, 0 FROM generate_series(1, 100) g");
labelled_txn($nb, 'B14', "INSERT INTO t14 VALUES (1000, 'u5', 0)");
resume_link($nc, $na);
ok( poll_until($nc, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'", 't', 30),
	'part 14: node_c holds 60 value locks, sleeping');
resume_link($nc, $nb);
ok( poll_until($nc, "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted", 't', 30),
	'part 14: node_c\'s worker from node_b waits for a value lock');
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'part 14: converged');
rows_everywhere('t14', 'count(*) AS id, bool_or(id = 1000) AS b, bool_or(id = 5) AS a5', '(100,t,f)',
	'part 14: node_a\'s row 5 gave way to node_b\'s newer u5');
ok(!$nc->log_contains('deadlock detected', $log_offset), 'part 14: no deadlock at node_c');

for my $n (@nodes)
{
	is($n->safe_psql($db, 'SELECT coalesce(sum(failures), 0) FROM concord.peers'), '0',
		'no apply failed at ' . $n->name);
}

done_testing();
