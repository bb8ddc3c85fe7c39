# 301_join_under_load.pl — a 4th node joins a 3-node mesh that takes writes
# at every node the whole time.
#
# node_a, node_b and node_c form a full mesh by hand (create_node +
# subscribe), hold rows written at each of them, and run a bounded
# background load (ConcordMesh: inserts, updates, deletes of their own rows
# and updates of each other's, one small transaction at a time).  While the
# load runs, node_d — a database with the schema and the extension only —
# calls concord.join_mesh(node_d, dsn, via node_b).  Then node_d writes too,
# the load stops, and after wait_for_peers on every node:
#   - the four nodes hold identical tables (digests of every column);
#   - every id written anywhere is present exactly once, unless its owner
#     deleted it (the loads log each write in the writing transaction);
#   - every node applies from every other, streaming, without error, and the
#     slots are exactly the 12 links of a 4-node full mesh.
# The changes that were in flight during the copy — at node_b (the copy's
# source) and at node_a and node_c, whose changes reach node_d directly —
# must all arrive exactly once: a lost one shows as a missing id or a
# differing digest, a doubled insert as a failed apply.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordMesh;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $db = $ConcordTest::DB;
my ($na, $nb, $nc) = concord_nodes(qw(node_a node_b node_c));
my $nd = blank_node('node_d');
my @members = ($na, $nb, $nc);
my @all     = (@members, $nd);

my $t2_ddl = 'CREATE TABLE public.t2 (k text, n int, val numeric, PRIMARY KEY (k, n))';
create_table_everywhere(\@members, "$LOAD_SCHEMA; $t2_ddl", 'public.t', 'public.t2');
# node_d: the schema only; join_mesh adds the tables with the mesh's policies.
$nd->safe_psql($db, "$LOAD_SCHEMA; $t2_ddl");
full_mesh(\@members);

# Rows that exist before the join, written at every member.
seed_rows($na, 1, 3000);
seed_rows($nb, 3001, 6000);
seed_rows($nc, 6001, 9000);
$nc->safe_psql($db, "INSERT INTO t2 SELECT 'c' || (g % 7), g, g / 3.0 FROM generate_series(1, 500) g");
$na->safe_psql($db, "INSERT INTO t2 SELECT 'a' || (g % 5), g, -g FROM generate_series(1, 500) g");
ok(wait_converged(\@members), 'the 3-node mesh converges before the load');

# The load, at every member.
my %base = (node_a => 1_000_000, node_b => 2_000_000, node_c => 3_000_000, node_d => 4_000_000);
my @loads = map { start_load($_, $base{ $_->name }, 10, 150) } @members;
ok(poll_until($_, 'SELECT count(*) >= 100 FROM public.load_log WHERE id > 1000000', 't', 60),
	$_->name . ': the background load is writing')
  for @members;

# node_d joins while the load runs.
my %before = map { $_->name => load_count($_) } @members;
my $t0 = time;
my ($ret, $out, $err) = join_mesh($nd, $nb, '3min');
my $join_s = time - $t0;
is($ret, 0, sprintf('join_mesh(node_d via node_b) succeeded under load (%.1fs)', $join_s))
  or diag($err);
my %after = map { $_->name => load_count($_) } @members;
for my $m (@members)
{
	cmp_ok($after{ $m->name }, '>', $before{ $m->name },
		$m->name . ' kept writing while node_d joined (' . ($after{ $m->name } - $before{ $m->name }) . ' writes)');
}
is($nd->safe_psql($db, 'SELECT node_name FROM concord.nodes'), 'node_d', 'node_d is a concord node');
is($nd->safe_psql($db, "SELECT string_agg(relation::text || ':' || conflict_policy, ',' ORDER BY relation::text) "
			. 'FROM concord.tables'),
	't:last_update_wins,t2:last_update_wins', 'node_d replicates the tables of the mesh, with their policies');
is($nd->safe_psql($db, "SELECT count(*) FROM concord.copy_progress"), '0', 'no copy is left running on node_d');

# node_d writes as well, for a while, then everything stops.
push @loads, start_load($nd, $base{node_d}, 10, 150);
ok(poll_until($nd, 'SELECT count(*) >= 100 FROM public.load_log', 't', 60), 'node_d: the load is writing');
ok(poll_until($_, "SELECT count(*) > 0 FROM public.t WHERE owner = 'node_d'", 't', 60),
	$_->name . ': receives rows written at node_d')
  for @members;
stop_loads(@loads);

ok(wait_converged(\@all, 120), 'all four nodes converge after the load');
assert_same_everywhere(\@all, 'public.t', 'public.t is identical on the four nodes');
assert_same_everywhere(\@all, 'public.t2', 'public.t2 is identical on the four nodes');
my @expected = expected_ids(\@all);
note(scalar(@expected) . ' ids expected; writes logged: '
	  . join(', ', map { $_->name . '=' . load_count($_) } @all));
assert_ids_everywhere(\@all, \@expected);
is($nd->safe_psql($db, 'SELECT count(*) FROM t2'), '1000', 'node_d holds the copied rows of t2');

# Membership: a 4-node full mesh, nothing more.
assert_healthy(\@all);
for my $n (@all)
{
	my $me = $n->name;
	my @want = sort map { link_name($me, $_->name) } grep { $_ != $n } @all;
	is(join(',', concord_slots($n)), join(',', @want), "$me: one slot per subscriber, nothing else");
}

# Later writes at node_d and at a member reach everyone.
$nd->safe_psql($db, "UPDATE t SET note = 'after-join-d' WHERE id BETWEEN 1 AND 50");
$na->safe_psql($db, "DELETE FROM t WHERE id BETWEEN 6001 AND 6009");
ok(wait_converged(\@all), 'writes after the join converge');
is($_->safe_psql($db,
		"SELECT count(*) FILTER (WHERE note = 'after-join-d') || '/' || count(*) FILTER (WHERE id BETWEEN 6001 AND 6009) "
		  . 'FROM t'),
	'50/0', $_->name . ': has the writes made after the join')
  for @all;
assert_same_everywhere(\@all, 'public.t', 'public.t is still identical on the four nodes');

done_testing();
