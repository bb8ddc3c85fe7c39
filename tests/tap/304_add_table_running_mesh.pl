# 304_add_table_running_mesh.pl — tables added to a running mesh, one of
# them holding rows on one node, by the procedure of docs/operations.md:
#   1. create the table on every node (DDL is not replicated);
#   2. concord.add_table on the node that holds the rows (node_b);
#   3. on each other node: concord.add_table, then
#      concord.copy_table(table, 'node_b');
#   4. only then write to the table, anywhere.
# The mesh keeps taking writes on its other table (the ConcordMesh load on
# public.t at every node) the whole time.
#
# Checked:
#   - copy_table returns the number of rows copied, and every node then
#     holds the same rows as node_b;
#   - copied rows keep node_b's version: node_b's later updates of them
#     apply at the other nodes without any conflict being recorded;
#   - later inserts, updates and deletes at every node replicate and the
#     nodes converge to the exact expected contents;
#   - copy_table pauses the node's peers only while it copies: afterwards
#     they stream again, and a peer the operator had paused stays paused;
#   - the load on public.t is unharmed (identical, every id once);
#   - an empty table added everywhere replicates at once (no copy needed),
#     and after remove_table on every node its changes are no longer sent;
#   - copy_table refuses a table that already holds rows, and a table the
#     peer does not replicate, changing nothing.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordMesh;
use PostgreSQL::Test::Utils;
use Test::More;

my $db = $ConcordTest::DB;
my ($na, $nb, $nc) = concord_nodes(qw(node_a node_b node_c));
my @nodes = ($na, $nb, $nc);
my %base = (node_a => 1_000_000, node_b => 2_000_000, node_c => 3_000_000);

create_table_everywhere(\@nodes, $LOAD_SCHEMA, 'public.t');
full_mesh(\@nodes);
seed_rows($na, 1, 1000);
ok(wait_converged(\@nodes), 'the mesh converges');
my @loads = map { start_load($_, $base{ $_->name }, 10, 150) } @nodes;
ok(poll_until($_, 'SELECT count(*) >= 50 FROM public.load_log WHERE id > 1000000', 't', 60),
	$_->name . ': the load on public.t is writing')
  for @nodes;

# node_b has a table of its own, with rows (some updated and deleted since).
my $x_ddl = 'CREATE TABLE public.x (id int PRIMARY KEY, owner text NOT NULL, v int NOT NULL DEFAULT 0, note text)';
$nb->safe_psql($db, $x_ddl);
$nb->safe_psql($db, "INSERT INTO x SELECT g, 'node_b', 0, 'row ' || g FROM generate_series(1, 5000) g");
$nb->safe_psql($db, "UPDATE x SET v = 1 WHERE id % 7 = 0");
$nb->safe_psql($db, "DELETE FROM x WHERE id % 11 = 0");
my %x = map { $_ => [ 'node_b', ($_ % 7 == 0 ? 1 : 0), "row $_" ] } grep { $_ % 11 != 0 } 1 .. 5000;

# 1. The table everywhere.
$_->safe_psql($db, $x_ddl) for $na, $nc;
# 2. Replicated from the node with the rows.
$nb->safe_psql($db, "SELECT concord.add_table('public.x')");
# node_c's operator had paused node_a: the copy must not resume it.
$nc->safe_psql($db, "SELECT concord.pause('node_a')");
# 3. Added and copied on the others.
for my $n ($na, $nc)
{
	$n->safe_psql($db, "SELECT concord.add_table('public.x')");
	my $copied = $n->safe_psql($db, "SELECT concord.copy_table('public.x', 'node_b')");
	is($copied, scalar(keys %x), $n->name . ': copy_table copied node_b\'s ' . scalar(keys %x) . ' rows');
}
assert_same_everywhere(\@nodes, 'public.x', 'public.x is identical on every node after the copies');
is($nc->safe_psql($db, "SELECT status FROM concord.peers WHERE peer_name = 'node_a'"), 'paused',
	'node_c: the peer paused before copy_table is still paused after it');
$nc->safe_psql($db, "SELECT concord.resume('node_a')");
assert_healthy(\@nodes);

# Copied rows carry node_b's version: node_b's own updates of them are no conflicts.
$nb->safe_psql($db, "UPDATE x SET v = v + 10, note = 'b-update' WHERE id BETWEEN 1 AND 200");
$x{$_} = [ 'node_b', $x{$_}[1] + 10, 'b-update' ] for grep { $x{$_} } 1 .. 200;
$nb->safe_psql($db, "DELETE FROM x WHERE id BETWEEN 201 AND 220");
delete $x{$_} for 201 .. 220;
ok(wait_converged(\@nodes), 'node_b\'s writes to copied rows converge');
for my $n ($na, $nc)
{
	is($n->safe_psql($db, "SELECT count(*) FROM concord.conflicts WHERE relation = 'public.x'::regclass"), '0',
		$n->name . ': node_b\'s updates and deletes of copied rows met no conflict');
}

# 4. Writes at every node.
$na->safe_psql($db, "INSERT INTO x SELECT g, 'node_a', 0, 'new a' FROM generate_series(10001, 10500) g");
$x{$_} = [ 'node_a', 0, 'new a' ] for 10001 .. 10500;
$nc->safe_psql($db, "UPDATE x SET v = -1, note = 'c-update' WHERE id BETWEEN 1001 AND 1300");
$x{$_} = [ 'node_b', -1, 'c-update' ] for grep { $x{$_} } 1001 .. 1300;
$na->safe_psql($db, "DELETE FROM x WHERE id BETWEEN 2001 AND 2100");
delete $x{$_} for 2001 .. 2100;
$nc->safe_psql($db, "INSERT INTO x SELECT g, 'node_c', 3, 'new c' FROM generate_series(20001, 20300) g");
$x{$_} = [ 'node_c', 3, 'new c' ] for 20001 .. 20300;
ok(wait_converged(\@nodes), 'the new rows have arrived everywhere');
$nb->safe_psql($db, "UPDATE x SET v = 99 WHERE id BETWEEN 10001 AND 10010");
$x{$_}[1] = 99 for 10001 .. 10010;
ok(wait_converged(\@nodes), 'writes to public.x at every node converge');
my $want = join("\n", map { join('|', $_, @{ $x{$_} }) } sort { $a <=> $b } keys %x);
is($_->safe_psql($db, 'SELECT id, owner, v, note FROM x ORDER BY id'), $want,
	$_->name . ': public.x holds exactly the expected rows')
  for @nodes;

# An empty table added everywhere replicates at once; remove_table stops it.
create_table_everywhere(\@nodes, 'CREATE TABLE public.y (id int PRIMARY KEY, v text)', 'public.y');
$na->safe_psql($db, "INSERT INTO y SELECT g, 'a' FROM generate_series(1, 100) g");
$nc->safe_psql($db, "UPDATE y SET v = 'c' WHERE id <= 10");
ok(wait_converged(\@nodes), 'public.y converges');
assert_same_everywhere(\@nodes, 'public.y', 'public.y is identical on every node');
is($nb->safe_psql($db, "SELECT count(*) || '/' || count(*) FILTER (WHERE v = 'c') FROM y"), '100/10',
	'node_b has the rows and updates of public.y');
$_->safe_psql($db, "SELECT concord.remove_table('public.y')") for @nodes;
is($_->safe_psql($db, "SELECT count(*) FROM concord.tables WHERE relation = 'public.y'::regclass"), '0',
	$_->name . ': public.y is no longer replicated')
  for @nodes;
$na->safe_psql($db, "INSERT INTO y VALUES (1001, 'after remove')");
ok(wait_converged(\@nodes), 'the mesh is caught up after remove_table');
is($_->safe_psql($db, 'SELECT count(*) FROM y WHERE id = 1001'), '0',
	$_->name . ': did not receive a write to public.y made after remove_table')
  for $nb, $nc;

# Refusals change nothing.
my ($ret, $out, $err) = $na->psql($db, "SELECT concord.copy_table('public.x', 'node_b')");
isnt($ret, 0, 'copy_table into a table that holds rows is refused');
like($err, qr/already holds rows/, '... saying the table already holds rows') or diag($err);
$_->safe_psql($db, 'CREATE TABLE public.z (id int PRIMARY KEY)') for @nodes;
$na->safe_psql($db, "SELECT concord.add_table('public.z')");
($ret, $out, $err) = $na->psql($db, "SELECT concord.copy_table('public.z', 'node_b')");
isnt($ret, 0, 'copy_table of a table the peer does not replicate is refused');
like($err, qr/does not replicate/, '... saying the peer does not replicate it') or diag($err);

# The load on public.t went on through all this.
stop_loads(@loads);
ok(wait_converged(\@nodes), 'the mesh converges after the load');
assert_same_everywhere(\@nodes, 'public.t', 'public.t is identical on every node');
assert_ids_everywhere(\@nodes, [ expected_ids(\@nodes) ]);
assert_same_everywhere(\@nodes, 'public.x', 'public.x is still identical on every node');
assert_healthy(\@nodes);

done_testing();
