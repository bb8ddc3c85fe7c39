# 010_interleaved_inserts.pl — inserts into several tables interleaved inside
# one transaction, mixing batched tables (runs of inserts applied together)
# and one that is never batched (it has a second unique index): every row
# arrives, exactly once, in the peer's order.  A run of inserts into one
# table must be applied before a row of another table is read.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;

my ($na, $nb) = concord_nodes(qw(node_a node_b));
my @nodes = ($na, $nb);
my $db = $ConcordTest::DB;

create_table_everywhere(\@nodes, 'CREATE TABLE public.t1 (id int PRIMARY KEY, v text)', 'public.t1');
create_table_everywhere(\@nodes, 'CREATE TABLE public.t2 (id int PRIMARY KEY, v text)', 'public.t2');
create_table_everywhere(\@nodes, 'CREATE TABLE public.t3 (id int PRIMARY KEY, u text UNIQUE, v text)', 'public.t3');
subscribe($nb, $na);
wait_streaming($nb);

$na->safe_psql($db, q{
	BEGIN;
	INSERT INTO t1 VALUES (1, 'first');
	INSERT INTO t2 SELECT g, 'run ' || g FROM generate_series(1, 10) g;
	INSERT INTO t1 VALUES (2, 'between runs');
	INSERT INTO t3 VALUES (1, 'u1', 'never batched');
	INSERT INTO t2 VALUES (11, 'single');
	INSERT INTO t2 SELECT g, repeat('x', 20000) FROM generate_series(12, 2600) g;
	INSERT INTO t1 SELECT g, 'tail' FROM generate_series(3, 1500) g;
	UPDATE t2 SET v = 'updated after the run' WHERE id = 5;
	INSERT INTO t3 VALUES (2, 'u2', 'last');
	COMMIT;
});
ok(wait_for_peers_on($na), 'node_b applied the transaction');

is($nb->safe_psql($db, 'SELECT count(*) FROM t1'), '1500', 't1: every row arrived');
is($nb->safe_psql($db, 'SELECT count(*) FROM t2'), '2600', 't2: every row arrived (runs larger than a batch)');
is($nb->safe_psql($db, 'SELECT count(*) FROM t3'), '2', 't3: every row arrived');
is($nb->safe_psql($db, "SELECT v FROM t2 WHERE id = 5"), 'updated after the run',
	'an update after a run of inserts applies after them');
assert_same_everywhere(\@nodes, $_, "$_ is identical on both nodes") for qw(t1 t2 t3);
is($nb->safe_psql($db, 'SELECT count(*) FROM concord.conflicts'), '0', 'no conflict was recorded');
is($nb->safe_psql($db, "SELECT status FROM concord.peers"), 'streaming', 'the worker is still streaming');

done_testing();
