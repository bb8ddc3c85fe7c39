# 306_join_keeps_deletes.pl — join_mesh copies the member's tombstones along
# with its rows, so a delete made on that member while the new node joins
# stays a delete on the new node too.
#
# node_v and node_m form a mesh; node_n joins through node_v.  The window:
# join_mesh first makes node_m's slot for node_n (node_m's later changes
# stream to node_n), and only later node_v's, with the snapshot the copy
# reads.  node_v's apply is held up by a row lock, so the window stays open
# long enough for: node_m updates row 1 (after its slot: streamed to node_n),
# then node_v deletes row 1 (before its slot: in the copy, as an absence,
# and as a tombstone).  When node_m's older update reaches node_n, node_n
# must find the copied tombstone, with the delete's version, and keep the
# row deleted (update_deleted / keep_local), like the other two nodes.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordMesh;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $db = $ConcordTest::DB;
my ($nv, $nm) = concord_nodes(qw(node_v node_m));
my $nn  = blank_node('node_n');
my $ddl = 'CREATE TABLE public.t (id int PRIMARY KEY, v text)';
create_table_everywhere([ $nv, $nm ], $ddl, 'public.t');
$nn->safe_psql($db, $ddl);
full_mesh([ $nv, $nm ]);
$nv->safe_psql($db, "INSERT INTO t VALUES (1, 'orig'), (2, 'orig')");
ok(wait_converged([ $nv, $nm ]), 'node_v and node_m converge');

# node_v's apply of node_m's next change waits behind this row lock, which
# keeps join_mesh waiting before it makes node_v's slot.
my $lock = $nv->background_psql($db);
$lock->query_safe('BEGIN; SELECT * FROM t WHERE id = 2 FOR UPDATE');
$nm->safe_psql($db, "UPDATE t SET v = 'm-blocked' WHERE id = 2");

my ($out, $err) = ('', '');
my $join = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $nn->connstr($db), '-c',
		"SELECT concord.join_mesh('node_n', '" . dsn_of($nn) . "', '" . dsn_of($nv) . "', '5min')" ],
	'<', \undef, '>', \$out, '2>', \$err);
ok(poll_until($nm, "SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name = 'concord_node_m__node_n'",
		't', 60),
	'join_mesh made node_m\'s slot for node_n');
$nm->safe_psql($db, "UPDATE t SET v = 'm-older' WHERE id = 1");
$nv->safe_psql($db, 'DELETE FROM t WHERE id = 1');
is($nv->safe_psql($db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'concord_node_v__node_n'"),
	'0', 'node_v deleted the row before join_mesh made its slot for node_n (the delete is in the copy only)');
$lock->query_safe('COMMIT');
$lock->quit;
$join->finish;
is($err, '', 'join_mesh succeeded');

my @all = ($nv, $nm, $nn);
ok(wait_converged(\@all), 'the three nodes converge');
is(join(' ', map { $_->safe_psql($db, 'SELECT count(*) FROM t WHERE id = 1') } @all),
	'0 0 0', 'row 1 is deleted on every node, node_n included');
assert_same_everywhere(\@all, 'public.t', 'public.t identical on the three nodes');
is( $nn->safe_psql($db,
		"SELECT conflict_type || '/' || resolution || '/' || remote_origin FROM concord.conflicts "
		  . "WHERE relation = 'public.t'::regclass"),
	'update_deleted/keep_local/node_m',
	'node_n: node_m\'s older update met the copied tombstone and lost (update_deleted / keep_local)');
is($nn->safe_psql($db, "SELECT count(*) FROM concord.tombstone WHERE relid = 'public.t'::regclass"),
	'1', 'node_n holds the tombstone it copied from node_v');

# copy_table brings the tombstones too: node_n empties t and copies it again
# from node_m (docs/operations.md, re-copying one table: remove_table first,
# or the TRUNCATE would replicate); the deleted key stays a tombstone there.
$nn->safe_psql($db, "SELECT concord.pause('node_v'); SELECT concord.pause('node_m'); "
	  . "SELECT concord.remove_table('public.t'); TRUNCATE t; SELECT concord.add_table('public.t')");
$nn->safe_psql($db, "SELECT concord.copy_table('public.t', 'node_m')");
is($nn->safe_psql($db, "SELECT count(*) FROM concord.tombstone WHERE relid = 'public.t'::regclass"),
	'1', 'copy_table from node_m brought node_m\'s tombstone of row 1');
$nn->safe_psql($db, "SELECT concord.resume('node_v'); SELECT concord.resume('node_m')");
ok(wait_converged(\@all), 'the three nodes converge after copy_table');
assert_same_everywhere(\@all, 'public.t', 'public.t identical on the three nodes after copy_table');

# A copied tombstone of a table with delta columns brings the counters the
# delete kept: a newer increment that brings the row back on node_n starts
# from them, as on the member it came from.
create_table_everywhere(\@all, 'CREATE TABLE public.c (id int PRIMARY KEY, hits bigint NOT NULL); '
	  . 'ALTER TABLE public.c REPLICA IDENTITY FULL', 'public.c');
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.c', '{hits}')") for @all;
$nv->safe_psql($db, 'INSERT INTO c VALUES (1, 5)');
ok(wait_converged(\@all), 'counter c(1) = 5 everywhere');
$nm->safe_psql($db, 'DELETE FROM c WHERE id = 1');
ok(wait_converged(\@all), 'the delete of c(1) converged');
# (the copy replaces node_n's own tombstones of c with node_m's)
$nn->safe_psql($db, "SELECT concord.pause('node_v'); SELECT concord.pause('node_m'); "
	  . "SELECT concord.remove_table('public.c'); TRUNCATE c; SELECT concord.add_table('public.c'); "
	  . "SELECT concord.set_delta_columns('public.c', '{hits}')");
$nn->safe_psql($db, "SELECT concord.copy_table('public.c', 'node_m')");
is($nn->safe_psql($db, "SELECT counters->>'hits' FROM concord.tombstone WHERE relid = 'public.c'::regclass"),
	'5', 'copy_table brought the tombstone with the counters the delete kept');
$nn->safe_psql($db, "SELECT concord.resume('node_v'); SELECT concord.resume('node_m')");
ok(wait_converged(\@all), 'the three nodes converge after copy_table of c');
assert_same_everywhere(\@all, 'public.c', 'public.c identical on the three nodes after copy_table');

done_testing();
