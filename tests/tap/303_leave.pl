# 303_leave.pl — a node leaves the mesh with concord.leave_mesh() while the
# others write, and later joins again.
#
# node_a, node_b and node_c form a full mesh by hand; node_d joins with
# join_mesh and writes rows of its own.  Then, while node_a, node_b and
# node_c run a background load, node_d commits 50,000 rows and at once
# calls leave_mesh() (before that, a leave that times out while a member's
# link from node_d is paused fails and changes nothing).  Right after it
# returns:
#   - every member has node_d's last rows (leave_mesh waited for them);
#   - no replication slot for node_d remains on any node (neither the
#     members' slots that fed node_d nor node_d's slots that fed them), and
#     no walsender serves node_d any more;
#   - no member subscribes to node_d, node_d subscribes to nobody and is no
#     longer a node; its apply workers are gone;
#   - the members drop the replication origins of their links from node_d;
#   - the members keep replicating among themselves: the load stops, they
#     converge, their tables are identical and hold every id written (node_d's
#     rows from before it left included), and a row node_d writes after
#     leaving reaches nobody.
# A new node, node_e, then joins: the copy carries rows whose last writer
# was node_d, although node_d's links (and their replication origins) are
# gone.
# Joining again: join_mesh on node_d while its tables still hold the old
# rows is refused and leaves nothing behind anywhere; after TRUNCATE, the
# same join_mesh (under load again) succeeds and every node converges.
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
my $nd = blank_node('node_d');
my @members = ($na, $nb, $nc);
my @all     = (@members, $nd);
my %base = (node_a => 1_000_000, node_b => 2_000_000, node_c => 3_000_000, node_d => 4_000_000,
	node_e => 5_000_000);

create_table_everywhere(\@members, $LOAD_SCHEMA, 'public.t');
$nd->safe_psql($db, $LOAD_SCHEMA);
full_mesh(\@members);
seed_rows($na, 1, 1000);
seed_rows($nb, 1001, 2000);
ok(wait_converged(\@members), 'the 3-node mesh converges');

# node_d joins and writes.
my ($ret, $out, $err) = join_mesh($nd, $nc);
is($ret, 0, 'node_d joined through node_c') or diag($err);
seed_rows($nd, 4001, 4500);
$nd->safe_psql($db, "UPDATE t SET v = 7 WHERE id BETWEEN 1 AND 100");
ok(wait_converged(\@all), 'the 4-node mesh converges');
assert_same_everywhere(\@all, 'public.t', 'public.t is identical on the four nodes before the leave');
is(join(',', map { slots_for_node($_, 'node_d') } @members),
	join(',', map { link_name($_->name, 'node_d') } @members),
	'before the leave, each member holds a slot for node_d');
is(join(',', concord_slots($nd)), join(',', map { link_name('node_d', $_->name) } @members),
	'before the leave, node_d holds a slot for each member');
is(join(',', map { origins_of($_) } @members),
	join(',', map { my $m = $_->name; sort map { link_name($_, $m) } grep { $_ ne $m } map { $_->name } @all } @members),
	'before the leave, each member has one replication origin per peer, node_d included');

# node_d leaves while the members write.
my @loads = map { start_load($_, $base{ $_->name }, 10, 120) } @members;
ok(poll_until($_, "SELECT count(*) >= 50 FROM public.load_log WHERE id > 1000000", 't', 60),
	$_->name . ': the load is writing')
  for @members;
# A member that cannot catch up with node_d (its link is paused) makes
# leave_mesh fail after its timeout, with nothing changed.
$na->safe_psql($db, "SELECT concord.pause('node_d')");
seed_rows($nd, 4999999, 4999999);
($ret, $out, $err) = $nd->psql($db, "SELECT concord.leave_mesh('2s')");
isnt($ret, 0, 'leave_mesh() fails while a member has not applied what node_d committed');
like($err, qr/not every member applied what node "node_d" committed within 00:00:02/, 'the error says why')
  or diag($err);
is($nd->safe_psql($db, 'SELECT count(*) FROM concord.nodes'), '1', 'node_d is still a node after the failed leave');
is(join(',', map { slots_for_node($_, 'node_d') } @members),
	join(',', map { link_name($_->name, 'node_d') } @members),
	'after the failed leave, each member still holds its slot for node_d');
$na->safe_psql($db, "SELECT concord.resume('node_d')");

# What node_d commits right before it leaves reaches every member: leave_mesh
# waits for them to apply it before they let go of node_d.
seed_rows($nd, 4100001, 4150000);
($ret, $out, $err) = leave_mesh($nd);
is($ret, 0, 'leave_mesh() on node_d succeeded under load') or diag($err);
is($_->safe_psql($db, "SELECT count(*) FROM t WHERE id BETWEEN 4100001 AND 4150000 OR id = 4999999"),
	'50001', $_->name . ': has the rows node_d committed just before it left')
  for @members;
unlike($err, qr/WARNING/, 'leave_mesh() gave no warning (every slot could be dropped)') or diag($err);

# Nothing of node_d remains, at once.
for my $m (@members)
{
	is(join(',', slots_for_node($m, 'node_d')), '', $m->name . ': no replication slot for node_d remains');
	is(join(',', subscriptions_to($m)), join(',', sort grep { $_ ne $m->name } map { $_->name } @members),
		$m->name . ': subscribes to the other members only');
}
is(join(',', concord_slots($nd)), '', 'node_d: no concord replication slot remains');
is(join(',', subscriptions_to($nd)), '', 'node_d: subscribes to nobody');
is($nd->safe_psql($db, 'SELECT count(*) FROM concord.nodes'), '0', 'node_d is no longer a node');
ok(poll_until($nd, "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'concord apply'", 't', 30),
	'node_d: its apply workers are gone');
for my $m (@members)
{
	ok(poll_until($m, "SELECT count(*) = 0 FROM pg_stat_replication WHERE application_name = 'concord_node_d'",
			't', 30),
		$m->name . ': no walsender serves node_d');
	# The origin itself stays, by design: rows node_d wrote keep naming it
	# (see subscribe() in extension/sqlapi/subscription_functions.cpp); it
	# carries no slot and keeps no WAL.
	is($m->safe_psql($db, "SELECT count(*) FROM pg_replication_origin WHERE roname = '" . link_name('node_d', $m->name) . "'"),
		'1', $m->name . ': the replication origin of its link from node_d is kept for the rows node_d wrote');
	ok(wait_for_peers_on($m, 30), $m->name . ': wait_for_peers no longer waits for node_d');
}
note('origins left on node_d after the leave: ' . join(',', origins_of($nd)));

# A row node_d writes now belongs to node_d alone.
$nd->safe_psql($db, "INSERT INTO t (id, owner) VALUES (9999999, 'node_d')");

# The members go on replicating.
stop_loads(@loads);
ok(wait_converged(\@members), 'the three remaining members converge');
assert_same_everywhere(\@members, 'public.t', 'public.t is identical on the remaining members');
assert_ids_everywhere(\@members, [ expected_ids(\@all) ]);
is($_->safe_psql($db, 'SELECT count(*) FROM t WHERE id = 9999999'), '0',
	$_->name . ': did not receive the row node_d wrote after leaving')
  for @members;
assert_healthy(\@members);

# A new node joins the mesh node_d left.  Some rows' last writer is node_d,
# whose links are gone; the copy must still carry them, with their versions.
my $ne = blank_node('node_e');
$ne->safe_psql($db, $LOAD_SCHEMA);
($ret, $out, $err) = join_mesh($ne, $nb);
my $e_joined = is($ret, 0, 'node_e joined (through node_b) after node_d left') or diag($err);
push @members, $ne if $e_joined;
if ($e_joined)
{
	$ne->safe_psql($db, "UPDATE t SET v = 8 WHERE id BETWEEN 4001 AND 4050");
	ok(wait_converged(\@members), 'the mesh with node_e converges');
	assert_same_everywhere(\@members, 'public.t', 'public.t is identical on the members, node_e included');
	is($ne->safe_psql($db, 'SELECT count(*) FROM t WHERE id BETWEEN 4001 AND 4500'), '500',
		'node_e holds the rows node_d wrote before it left');
}
@all = (@members, $nd);

# Joining again with the old rows still in place is refused, and leaves nothing behind.
($ret, $out, $err) = join_mesh($nd, $na);
isnt($ret, 0, 'join_mesh on node_d with its old rows in place is refused');
like($err, qr/already holds rows/, '... because the copy fills empty tables only') or diag($err);
for my $m (@members)
{
	is(join(',', slots_for_node($m, 'node_d')), '', $m->name . ': the refused join left no slot for node_d');
	ok(!grep({ $_ eq 'node_d' } subscriptions_to($m)), $m->name . ': the refused join left no subscription to node_d');
}
is(join(',', concord_slots($nd)) . '|' . join(',', subscriptions_to($nd)), '|',
	'node_d: the refused join left no slot and no subscription');
is($nd->safe_psql($db, 'SELECT count(*) FROM concord.nodes'), '0', 'node_d: the refused join left no node identity');

# Emptied, node_d joins again, while the members write.
$nd->safe_psql($db, 'TRUNCATE public.t');
@loads = map { start_load($_, $base{ $_->name } + 500_000, 10, 120) } @members;
ok(poll_until($_, "SELECT count(*) >= 50 FROM public.load_log WHERE id > " . ($base{ $_->name } + 500_000), 't', 60),
	$_->name . ': the load is writing again')
  for @members;
($ret, $out, $err) = join_mesh($nd, $na);
my $rejoined = is($ret, 0, 'node_d joined again, through node_a, under load') or diag($err);
if (!$rejoined)
{
	# The rest needs node_d in the mesh.
	stop_loads(@loads);
	done_testing();
	exit;
}
push @loads, start_load($nd, $base{node_d} + 500_000, 10, 120);
ok(poll_until($nd, "SELECT count(*) >= 50 FROM public.load_log WHERE id > 4500000", 't', 60),
	'node_d: writes again');
stop_loads(@loads);
ok(wait_converged(\@all), 'every node converges after the second join');
assert_same_everywhere(\@all, 'public.t', 'public.t is identical on every node after the second join');
assert_ids_everywhere(\@all, [ expected_ids(\@all) ]);
is($nd->safe_psql($db, 'SELECT count(*) FROM t WHERE id = 9999999'), '0',
	'node_d no longer holds the row it wrote while outside the mesh');
assert_healthy(\@all);
for my $n (@all)
{
	my $me = $n->name;
	my @want = sort map { link_name($me, $_->name) } grep { $_ != $n } @all;
	is(join(',', concord_slots($n)), join(',', @want), "$me: one slot per subscriber, nothing else");
}

done_testing();
