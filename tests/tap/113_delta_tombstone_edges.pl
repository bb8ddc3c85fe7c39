# 113_delta_tombstone_edges.pl — the counters a tombstone keeps, at the edges
# (docs/conflicts.md, "Delta columns"); 3 nodes, counters with delta columns.
#
# 1. A tombstone committed while the update that wins over it is being
#    applied: node_a adds 1 to row 1 and node_c (which has it) deletes the
#    row; node_b (which has neither) runs one transaction that first updates
#    row 2 — a trigger at node_a makes that take seconds — and then adds 10
#    to row 1.  node_c's delete is applied at node_a meanwhile; node_b's +10
#    must still start from that tombstone's counters: 11 everywhere.
# 2. A table with a NOT NULL domain column (its key): merging a losing
#    increment into a tombstone reads only the delta columns, so nothing
#    stalls.
# 3. A column that became a delta column after the delete: the tombstone
#    knows no value for it, and the update that brings the row back gives
#    it its own; the counter the tombstone knows goes on from there.
# 1b. A row brought back at node_a while an older update from another peer
#    waits for the tombstone's lock: that update meets the row (110 everywhere).
# 4. A row that reached node_c by update_missing (its insert was late) and
#    was deleted there: the late insert must not add its values to the
#    tombstone again (the row had counted it): 102 everywhere.
# 5. A copied tombstone without counters: an older update that loses to it
#    merges nothing and leaves its recorded version alone, so a second older
#    update in the same transaction loses too.
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
	CREATE DOMAIN public.counter_id AS int NOT NULL CHECK (VALUE > 0);
	CREATE TABLE public.dom (id public.counter_id PRIMARY KEY, hits bigint NOT NULL DEFAULT 0);
	ALTER TABLE public.dom REPLICA IDENTITY FULL;
	CREATE TABLE public.later (id int PRIMARY KEY, hits bigint NOT NULL DEFAULT 0, n int NOT NULL DEFAULT 0);
	ALTER TABLE public.later REPLICA IDENTITY FULL;
}, 'public.counters', 'public.dom', 'public.later');
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.counters', '{hits}'); "
	  . "SELECT concord.set_delta_columns('public.dom', '{hits}'); "
	  . "SELECT concord.set_delta_columns('public.later', '{hits}')") for @nodes;
install_txlog(\@nodes);
full_mesh(\@nodes);

sub hits_everywhere
{
	my ($table, $id) = @_;
	return join(' ', map { $_->safe_psql($db, "SELECT coalesce(max(hits)::text, 'none') FROM $table WHERE id = $id") }
		  @nodes);
}

# --- 1. a tombstone committed while the winning update is applied ---------------
$na->safe_psql($db, q{
	CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN IF NEW.id = 2 THEN PERFORM pg_catalog.pg_sleep(6); END IF; RETURN NEW; END$$;
	CREATE TRIGGER slow BEFORE UPDATE ON public.counters FOR EACH ROW EXECUTE FUNCTION public.slow();
	ALTER TABLE public.counters ENABLE ALWAYS TRIGGER slow;
});
$na->safe_psql($db, 'INSERT INTO counters VALUES (1, 0), (2, 0)');
ok(wait_converged(\@nodes), 'snapshot: rows 1 and 2 everywhere');
pause_link($nb, $na);
pause_link($nb, $nc);
pause_link($na, $nc);
labelled_txn($na, 'A1', 'UPDATE counters SET hits = hits + 1 WHERE id = 1');
ok(wait_applied_by($na, $nc), "snapshot: node_c has node_a's +1");
labelled_txn($nc, 'C1', 'DELETE FROM counters WHERE id = 1');
labelled_txn($nb, 'B1', 'UPDATE counters SET hits = hits + 1 WHERE id = 2; UPDATE counters SET hits = hits + 10 WHERE id = 1');
ok(poll_until($na, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'", 't', 30),
	"snapshot: node_a's apply of B1 has begun (held up on row 2)");
resume_link($na, $nc);
ok(poll_until($na, "SELECT count(*) FROM concord.tombstone WHERE relid = 'counters'::regclass", '1', 30),
	"snapshot: node_a applied node_c's delete meanwhile");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'snapshot: converged');
is(hits_everywhere('counters', 1), '11 11 11', "snapshot: node_b's +10 started from the tombstone's 1 everywhere");

# --- 1b. a row brought back while an older update waits for the tombstone --------
# node_c adds 100 to row 3 (C5), node_a deletes it (A5), node_b later adds
# 10 and then updates row 2 in the same transaction (B5).  At node_a, B5
# brings row 3 back and is held up on row 2; meanwhile C5 (older than the
# delete) finds no row and waits for the tombstone B5 locked.  When B5
# commits, C5 must meet the row (merging +100 into it), not the tombstone.
$na->safe_psql($db, 'INSERT INTO counters VALUES (3, 0)');
ok(wait_converged(\@nodes), 'concurrent: row 3 everywhere');
pause_all(\@nodes);
labelled_txn($nc, 'C5', 'UPDATE counters SET hits = hits + 100 WHERE id = 3');
labelled_txn($na, 'A5', 'DELETE FROM counters WHERE id = 3');
labelled_txn($nb, 'B5', 'UPDATE counters SET hits = hits + 10 WHERE id = 3; UPDATE counters SET hits = hits + 1 WHERE id = 2');
resume_link($na, $nb);
ok(poll_until($na, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'", 't', 30),
	"concurrent: node_a's apply of B5 brought row 3 back and is held up on row 2");
resume_link($na, $nc);
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'concurrent: converged');
is(hits_everywhere('counters', 3), '110 110 110', "concurrent: node_c's older +100 reached the row everywhere");
$na->safe_psql($db, 'DROP TRIGGER slow ON counters');

# --- 2. a NOT NULL domain column ---------------------------------------------------
$na->safe_psql($db, 'INSERT INTO dom VALUES (1, 7)');
ok(wait_converged(\@nodes), 'domain: row everywhere');
pause_all(\@nodes);
labelled_txn($nb, 'B2', 'UPDATE dom SET hits = hits + 5 WHERE id = 1');
labelled_txn($na, 'A2', 'DELETE FROM dom WHERE id = 1');
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'domain: converged (node_a merged the older +5 into its tombstone)');
is(hits_everywhere('dom', 1), 'none none none', 'domain: the newer delete won everywhere');
is($na->safe_psql($db, "SELECT counters->>'hits' FROM concord.tombstone WHERE relid = 'dom'::regclass"), '12',
	"domain: node_a's tombstone holds 7 + 5");

# --- 3. a column that became a delta column after the delete ---------------------
$na->safe_psql($db, 'INSERT INTO later VALUES (1, 7, 3)');
ok(wait_converged(\@nodes), 'later: row everywhere');
pause_all(\@nodes);
labelled_txn($na, 'A3', 'DELETE FROM later WHERE id = 1');
labelled_txn($nb, 'B3', 'UPDATE later SET hits = hits + 5 WHERE id = 1');
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.later', '{hits,n}')") for @nodes;
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'later: converged');
is(join(' ', map { $_->safe_psql($db, "SELECT hits || '/' || n FROM later WHERE id = 1") } @nodes),
	'12/3 12/3 12/3', "later: the row came back with the tombstone's hits + 5 and node_b's n");

# --- 4. a late insert after update_missing and a delete -------------------------
pause_link($nc, $na);
labelled_txn($na, 'I4', 'INSERT INTO counters VALUES (10, 100)');
ok(wait_applied_by($na, $nb), 'late insert: node_b has the row');
labelled_txn($nb, 'U4', 'UPDATE counters SET hits = hits + 1 WHERE id = 10');
ok(wait_applied_by($nb, $nc), 'late insert: node_c has the row, by update_missing');
pause_link($nb, $nc);
labelled_txn($nc, 'D4', 'DELETE FROM counters WHERE id = 10');
ok(wait_applied_by($nc, $na), 'late insert: node_a applied the delete');
pause_link($nc, $nb);
labelled_txn($nb, 'V4', 'UPDATE counters SET hits = hits + 1 WHERE id = 10');
resume_link($nc, $na);
ok(wait_applied_by($na, $nc), 'late insert: node_c applied the insert, which lost to its delete');
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'late insert: converged');
is(hits_everywhere('counters', 10), '102 102 102', 'late insert: 100 + 1 + 1 everywhere, the insert counted once');

# --- 5. a copied tombstone without counters keeps its version -------------------
# node_x has no row 20 when node_b's delete reaches it (node_a's insert is
# held back): its tombstone keeps no counters.  node_b then copies the table
# from node_x (the copied tombstone carries the delete's version, recorded).
# node_a's transaction of two increments, older than the delete, reaches
# node_b last: both lose to the copied tombstone; merging nothing must not
# disturb its recorded version, or the second would bring the row back.
my $nx = $nc;
pause_link($nx, $na);
$na->safe_psql($db, 'INSERT INTO counters VALUES (20, 0)');
ok(wait_applied_by($na, $nb), 'copied: node_b has row 20');
pause_link($nb, $na);
labelled_txn($na, 'A6', 'UPDATE counters SET hits = hits + 1 WHERE id = 20; UPDATE counters SET hits = hits + 1 WHERE id = 20');
labelled_txn($nb, 'D6', 'DELETE FROM counters WHERE id = 20');
ok(wait_applied_by($nb, $nx), "copied: node_x applied the delete, having no row");
is($nx->safe_psql($db, "SELECT count(*) FROM concord.tombstone WHERE relid = 'counters'::regclass AND counters IS NULL"),
	'1', 'copied: node_x keeps a tombstone without counters');
# Re-copying one table (docs/operations.md): remove, empty, add, configure, copy.
$nb->safe_psql($db, "SELECT concord.pause('node_c'); SELECT concord.remove_table('public.counters'); "
	  . "TRUNCATE counters; SELECT concord.add_table('public.counters'); "
	  . "SELECT concord.set_delta_columns('public.counters', '{hits}')");
$nb->safe_psql($db, "SELECT concord.copy_table('public.counters', 'node_c')");
is($nb->safe_psql($db, "SELECT count(*) FROM counters"), $nx->safe_psql($db, "SELECT count(*) FROM counters"),
	"copied: node_b holds node_c's rows of counters again");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'copied: converged');
is(hits_everywhere('counters', 20), 'none none none', "copied: node_a's older increments lost to the delete everywhere");

assert_same_everywhere(\@nodes, $_, "$_ identical on every node") for qw(counters dom later);
assert_links_streaming(\@nodes);
done_testing();
