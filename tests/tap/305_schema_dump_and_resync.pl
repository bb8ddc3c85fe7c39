# 305_schema_dump_and_resync.pl — operator procedures of docs/operations.md
# around the initial copy:
#
# 0. A mesh grows from a single node that already holds data: node_b joins
#    node_a (join_mesh through a one-node mesh).
#
# 1. A new node gets its schema the usual way, from a member:
#    pg_dump --schema-only of the replicated tables, restored on the new
#    node.  The dump carries the triggers add_table installed on the member
#    (concord_tombstone, concord_tombstone_key); join_mesh must still make
#    the node a member, with the data copied and writes flowing both ways.
#
# 2. Re-synchronising one table on one node (say it was damaged by hand):
#    remove_table there (so that emptying it is not replicated), TRUNCATE,
#    add_table, copy_table from a peer.  The table was itself filled by a
#    copy before (join_mesh), so the node has recorded row versions for it.
#    Afterwards the node holds the peer's rows again, nothing was emptied
#    anywhere else, and later writes replicate.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordMesh;
use PostgreSQL::Test::Utils;
use Test::More;

my $db = $ConcordTest::DB;
my ($na) = concord_nodes(qw(node_a));
my $nb = blank_node('node_b');
my $nc = blank_node('node_c');

# A mesh grown from one node that holds data: node_a alone, then node_b
# joins it (its schema created by hand).
my $ddl = 'CREATE TABLE public.acct (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL DEFAULT 0); '
  . 'CREATE TABLE public.item (sku text PRIMARY KEY, qty int NOT NULL)';
create_table_everywhere([$na], $ddl, 'public.acct', 'public.item');
$na->safe_psql($db, "INSERT INTO acct SELECT g, 'a', g FROM generate_series(1, 1000) g");
$na->safe_psql($db, "INSERT INTO item SELECT 'sku' || g, g FROM generate_series(1, 300) g");
$nb->safe_psql($db, $ddl);
my ($ret, $out, $err) = join_mesh($nb, $na);
is($ret, 0, 'node_b joins the one-node mesh of node_a') or BAIL_OUT("join_mesh failed: $err");
my @members = ($na, $nb);
my @all     = (@members, $nc);
$nb->safe_psql($db, "UPDATE acct SET balance = balance + 1 WHERE id <= 100");
$na->safe_psql($db, "INSERT INTO item VALUES ('extra', 1)");
ok(wait_converged(\@members), 'node_a and node_b converge');
assert_same_everywhere(\@members, 'public.acct', 'public.acct is identical on node_a and node_b');
assert_same_everywhere(\@members, 'public.item', 'public.item is identical on node_a and node_b');

# 1. The schema from a member's dump, then join_mesh.
my ($dump, $dump_err) = run_command(
	[ 'pg_dump', '--schema-only', '-t', 'public.acct', '-t', 'public.item', '-d', $na->connstr($db) ]);
like($dump, qr/CREATE TABLE public\.acct/, 'pg_dump --schema-only of node_a has the tables') or diag($dump_err);
($ret, $out, $err) = $nc->psql($db, $dump, on_error_stop => 1);
is($ret, 0, 'the schema restores on node_c') or diag($err);
($ret, $out, $err) = join_mesh($nc, $nb);
my $joined = is($ret, 0, 'node_c, its schema restored from a dump of a member, joins the mesh') or diag($err);
if ($joined)
{
	is($nc->safe_psql($db, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'concord\\_tombstone%' "
				. "AND tgrelid = 'public.acct'::regclass"),
		'2', 'node_c: public.acct has the two concord triggers once');
	$nc->safe_psql($db, "INSERT INTO acct VALUES (5001, 'c', 1); DELETE FROM acct WHERE id = 1000");
	$na->safe_psql($db, "UPDATE item SET qty = 0 WHERE sku = 'sku1'");
	ok(wait_converged(\@all), 'the three nodes converge');
	assert_same_everywhere(\@all, 'public.acct', 'public.acct is identical on the three nodes');
	assert_same_everywhere(\@all, 'public.item', 'public.item is identical on the three nodes');
	is($na->safe_psql($db, 'SELECT count(*) FROM acct WHERE id IN (5001, 1000)'), '1',
		'node_c\'s insert and delete reached node_a');
}
else
{
	# Without node_c the re-synchronisation below still runs, between node_a and node_b.
	@all = @members;
}

# 2. Re-synchronising public.acct on the last node of @all, from node_a.
my $target = $all[-1];
my $tname  = $target->name;
note("re-synchronising public.acct on $tname from node_a");
$target->safe_psql($db, "UPDATE acct SET balance = -999 WHERE id BETWEEN 1 AND 10");    # the damage
ok(wait_converged(\@all), 'the damage replicated (the operator then decides to re-copy)');
$na->safe_psql($db, "UPDATE acct SET balance = id WHERE id BETWEEN 1 AND 10");        # repaired at node_a
ok(wait_converged(\@all), 'the repair replicated');
my $acct_a = table_digest($na, 'public.acct');
$target->safe_psql($db, "SELECT concord.remove_table('public.acct')");
$target->safe_psql($db, 'TRUNCATE public.acct');
ok(wait_converged(\@all), 'the mesh is caught up after the TRUNCATE');
is(table_digest($_, 'public.acct'), $acct_a, $_->name . ': the TRUNCATE on the removed table was not replicated')
  for grep { $_ != $target } @all;
$target->safe_psql($db, "SELECT concord.add_table('public.acct')");
($ret, $out, $err) = $target->psql($db, "SELECT concord.copy_table('public.acct', 'node_a')");
is($ret, 0, "$tname: copy_table refills the re-added table") or diag($err);
is($out, $na->safe_psql($db, 'SELECT count(*) FROM acct'), "$tname: copy_table copied every row of node_a");
assert_same_everywhere(\@all, 'public.acct', "public.acct is identical everywhere after the re-copy on $tname");
$na->safe_psql($db, 'UPDATE acct SET balance = balance * 2 WHERE id BETWEEN 11 AND 20');
$target->safe_psql($db, "INSERT INTO acct VALUES (6001, '$tname', 6)");
ok(wait_converged(\@all), 'writes after the re-copy converge');
assert_same_everywhere(\@all, 'public.acct', 'public.acct is identical everywhere after later writes');
assert_healthy(\@all);

done_testing();
