# 011_row_apply_semantics.pl — applied rows behave as the statements would.
#
# The apply worker writes most rows without a statement (the executor's row
# helpers; worker/apply/direct_apply.hpp) and keeps statements for tables
# where a statement behaves differently.  Whichever way a table is applied,
# node_b must end as if node_a's changes had been run there as INSERT,
# UPDATE and DELETE statements by the table owner.  node_b's tables differ
# from node_a's where that matters:
#   gen    stored generated column (recomputed from the applied values);
#   audit  AFTER ROW INSERT / UPDATE OF / DELETE triggers (ENABLE ALWAYS; the
#          UPDATE one ENABLE REPLICA) that log OLD and NEW and the user they
#          run as;
#   upper  a BEFORE ROW trigger rewriting NEW (only a statement runs it);
#   dflt   a column node_a does not have, filled from its default on insert
#          and kept on update; an AFTER UPDATE trigger enabled for local
#          writes only;
#   chk    a CHECK and a NOT NULL that node_a lacks: violating changes fail
#          visibly and are retried, never half-applied;
#   owned  owned by a role without UPDATE on its own table: permission
#          denied, as the statement would be, until granted;
#   mixed  a table with tombstones, whose inserts stay statements: a row a
#          statement inserted is seen by the direct UPDATE and DELETE that
#          follow in the same transaction (no conflict, nothing lost).
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
	CREATE TABLE public.gen (id int PRIMARY KEY, a int, b int,
	                         total int GENERATED ALWAYS AS (coalesce(a, 0) + coalesce(b, 0)) STORED);
	CREATE TABLE public.audit (id int PRIMARY KEY, v int, w text);
	CREATE TABLE public.upper (id int PRIMARY KEY, note text);
	CREATE TABLE public.dflt (id int PRIMARY KEY, v int);
	CREATE TABLE public.chk (id int PRIMARY KEY, v int);
	CREATE TABLE public.owned (id int PRIMARY KEY, v int);
	CREATE TABLE public.mixed (id int PRIMARY KEY, v int);
}, map { "public.$_" } qw(gen audit upper dflt chk owned mixed));

$nb->safe_psql($db, q{
	CREATE TABLE public.audit_log (n serial PRIMARY KEY, op text, old_row text, new_row text, run_as text);
	CREATE FUNCTION public.log_audit() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.audit_log (op, old_row, new_row, run_as)
		VALUES (TG_OP || coalesce(' ' || TG_ARGV[0], ''),
		        CASE WHEN TG_OP <> 'INSERT' THEN OLD::text END,
		        CASE WHEN TG_OP <> 'DELETE' THEN NEW::text END, current_user);
		RETURN NULL;
	END $$;
	CREATE TRIGGER audit_ins AFTER INSERT ON public.audit FOR EACH ROW EXECUTE FUNCTION public.log_audit();
	CREATE TRIGGER audit_upd_v AFTER UPDATE OF v ON public.audit FOR EACH ROW EXECUTE FUNCTION public.log_audit('OF v');
	CREATE TRIGGER audit_del AFTER DELETE ON public.audit FOR EACH ROW EXECUTE FUNCTION public.log_audit();
	ALTER TABLE public.audit ENABLE ALWAYS TRIGGER audit_ins;
	ALTER TABLE public.audit ENABLE REPLICA TRIGGER audit_upd_v;
	ALTER TABLE public.audit ENABLE ALWAYS TRIGGER audit_del;

	CREATE FUNCTION public.shout() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN NEW.note := upper(NEW.note); RETURN NEW; END $$;
	CREATE TRIGGER shout BEFORE INSERT OR UPDATE ON public.upper FOR EACH ROW EXECUTE FUNCTION public.shout();
	ALTER TABLE public.upper ENABLE ALWAYS TRIGGER shout;

	-- Enabled as usual (origin only): must stay quiet when changes are applied.
	CREATE TRIGGER dflt_local AFTER UPDATE ON public.dflt FOR EACH ROW EXECUTE FUNCTION public.log_audit('local');
	CREATE SEQUENCE public.dflt_extra START 42;
	ALTER TABLE public.dflt ADD COLUMN extra int NOT NULL DEFAULT nextval('public.dflt_extra');

	ALTER TABLE public.chk ADD CONSTRAINT v_small CHECK (v < 100);

	CREATE ROLE table_owner NOLOGIN;
	GRANT USAGE ON SCHEMA public TO table_owner;
	ALTER TABLE public.owned OWNER TO table_owner;
	REVOKE UPDATE ON public.owned FROM table_owner;
});
full_mesh(\@nodes);

# --- generated column -------------------------------------------------------
$na->safe_psql($db, q{
	INSERT INTO gen (id, a, b) VALUES (1, 1, 2), (2, 10, 20);
	UPDATE gen SET a = 5 WHERE id = 1;
	UPDATE gen SET b = NULL WHERE id = 2;
});
ok(wait_for_peers_on($na), 'gen: changes arrive');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || total, ',' ORDER BY id) FROM gen"), '1:7,2:10',
	'gen: the stored generated column is recomputed from the applied values');

# --- AFTER ROW triggers --------------------------------------------------------
$na->safe_psql($db, q{
	INSERT INTO audit VALUES (1, 1, 'one');
	UPDATE audit SET v = 2 WHERE id = 1;
	UPDATE audit SET w = 'uno' WHERE id = 1;
	DELETE FROM audit WHERE id = 1;
});
ok(wait_for_peers_on($na), 'audit: changes arrive');
my $owner = $nb->safe_psql($db, "SELECT tableowner FROM pg_tables WHERE tablename = 'audit'");
is( $nb->safe_psql($db, "SELECT string_agg(op || '|' || coalesce(old_row, '-') || '|' || coalesce(new_row, '-') || "
			. "'|' || run_as, E'\\n' ORDER BY n) FROM audit_log"),
	join("\n",
		"INSERT|-|(1,1,one)|$owner",
		"UPDATE OF v|(1,1,one)|(1,2,one)|$owner",
		"UPDATE OF v|(1,2,one)|(1,2,uno)|$owner",
		"DELETE|(1,2,uno)|-|$owner"),
	'audit: INSERT, UPDATE OF (its column is in every applied UPDATE, as in the statement) and DELETE '
	  . 'triggers fire once each, with OLD and NEW, as the table owner');
is($nb->safe_psql($db, 'SELECT count(*) FROM audit'), '0', 'audit: the row is gone at node_b');

# --- BEFORE ROW trigger -------------------------------------------------------
$na->safe_psql($db, q{
	INSERT INTO upper VALUES (1, 'quiet');
	INSERT INTO upper VALUES (2, 'calm');
	UPDATE upper SET note = 'still quiet' WHERE id = 1;
});
ok(wait_for_peers_on($na), 'upper: changes arrive');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || note, ',' ORDER BY id) FROM upper"), '1:STILL QUIET,2:CALM',
	'upper: the BEFORE ROW trigger rewrote every inserted and updated row');

# --- local default ------------------------------------------------------------
$na->safe_psql($db, q{
	INSERT INTO dflt VALUES (1, 1);
	UPDATE dflt SET v = 2 WHERE id = 1;
	INSERT INTO dflt VALUES (2, 20);
	UPDATE dflt SET v = 3 WHERE id = 1;
});
ok(wait_for_peers_on($na), 'dflt: changes arrive');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || v || ':' || extra, ',' ORDER BY id) FROM dflt"),
	'1:3:42,2:20:43', 'dflt: each insert takes the local default, updates keep the local value');
is($nb->safe_psql($db, "SELECT count(*) FROM audit_log WHERE op LIKE '%local%'"), '0',
	'dflt: a trigger enabled for local writes only does not fire on applied updates');

# --- constraints node_a lacks --------------------------------------------------------
$na->safe_psql($db, q{
	INSERT INTO chk VALUES (1, 1), (2, 2);
});
ok(wait_for_peers_on($na), 'chk: valid rows arrive');
$na->safe_psql($db, 'BEGIN; UPDATE chk SET v = 3 WHERE id = 2; UPDATE chk SET v = 500 WHERE id = 1; COMMIT');
ok( poll_until($nb,
		"SELECT last_error LIKE '%v_small%' FROM concord.peers WHERE peer_name = 'node_a'"),
	'chk: an applied UPDATE violating the CHECK fails visibly, naming the constraint');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM chk"), '1:1,2:2',
	'chk: nothing of the failing transaction is applied');
$nb->safe_psql($db, 'ALTER TABLE chk DROP CONSTRAINT v_small; ALTER TABLE chk ALTER COLUMN v SET NOT NULL');
$na->safe_psql($db, 'INSERT INTO chk VALUES (3, NULL)');
ok( poll_until($nb,
		"SELECT last_error LIKE '%null value in column \"v\"%' FROM concord.peers WHERE peer_name = 'node_a'"),
	'chk: after the CHECK is dropped the update applies, and an INSERT violating NOT NULL fails visibly');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || coalesce(v::text, 'null'), ',' ORDER BY id) FROM chk"),
	'1:500,2:3', 'chk: the update is applied, the NULL row is not');
$nb->safe_psql($db, 'ALTER TABLE chk ALTER COLUMN v DROP NOT NULL');
ok(wait_for_peers_on($na), 'chk: once the schema allows it everything arrives');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || coalesce(v::text, 'null'), ',' ORDER BY id) FROM chk"),
	'1:500,2:3,3:null', 'chk: node_b has every change, in order');

# --- owner without privileges -------------------------------------------------
$na->safe_psql($db, 'INSERT INTO owned VALUES (1, 1)');
ok(wait_for_peers_on($na), 'owned: the insert arrives (the owner may insert)');
$na->safe_psql($db, 'UPDATE owned SET v = 2 WHERE id = 1');
ok( poll_until($nb,
		"SELECT last_error LIKE '%permission denied for table owned%' FROM concord.peers WHERE peer_name = 'node_a'"),
	'owned: an UPDATE the owner has no right to fails with permission denied');
is($nb->safe_psql($db, 'SELECT v FROM owned WHERE id = 1'), '1', 'owned: the row is unchanged');
$nb->safe_psql($db, 'GRANT UPDATE ON public.owned TO table_owner');
ok(wait_for_peers_on($na), 'owned: after GRANT UPDATE the change arrives');
is($nb->safe_psql($db, 'SELECT v FROM owned WHERE id = 1'), '2', 'owned: the row is updated');

# --- statement and direct row changes in one transaction --------------------------
$na->safe_psql($db, 'INSERT INTO mixed VALUES (1, 1); DELETE FROM mixed WHERE id = 1');
ok(wait_for_peers_on($na), 'mixed: a delete arrives (node_b now has a tombstone for the table)');
$na->safe_psql($db, q{
	BEGIN;
	INSERT INTO mixed VALUES (2, 2);
	UPDATE mixed SET v = 3 WHERE id = 2;
	INSERT INTO mixed VALUES (3, 3);
	DELETE FROM mixed WHERE id = 3;
	INSERT INTO mixed VALUES (4, 4), (5, 5);
	UPDATE mixed SET v = v * 10 WHERE id IN (4, 5);
	COMMIT;
});
ok(wait_for_peers_on($na), 'mixed: the transaction arrives');
is($nb->safe_psql($db, "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM mixed"), '2:3,4:40,5:50',
	'mixed: rows inserted earlier in the transaction were updated and deleted');
is($nb->safe_psql($db, "SELECT count(*) FROM concord.conflicts WHERE relation = 'public.mixed'::regclass"), '0',
	'mixed: and no conflict was seen where there was none');

# Every table with the same definition everywhere is identical; the streams are healthy.
ok(wait_converged(\@nodes), 'the mesh converges');
assert_same_everywhere(\@nodes, $_, "$_ identical on both nodes") for qw(gen audit chk owned mixed);
assert_links_streaming(\@nodes);

# Firing AFTER ROW triggers on the direct path must not leave the table open:
# PostgreSQL closes a leaked reference at commit, with a warning.
assert_no_resource_warnings(\@nodes);

done_testing();
