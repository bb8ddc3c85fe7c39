# 111_delta_counters.pl — counters with delta columns at 3 nodes: however
# the increments race, every node ends with the sum of all increments.
#
# counters (id, hits bigint, n int, amount numeric(14,2)): hits, n and amount
# are delta columns (REPLICA IDENTITY FULL on every node); the table has no
# other columns (docs/conflicts.md: other columns of a delta table may not
# converge).  Rows are created once, by one node; afterwards only
# increments (amount also negative ones) are written.
#
# 1. The documented race: every link paused, node_a adds 1, node_b 10,
#    node_c twice 100 (in that commit order); after resuming, 211 everywhere,
#    and node_b records node_a's update as update_origin_differs /
#    keep_local (its own commit was later; the +1 is still added) and
#    node_c's as update_origin_differs / apply_remote.
# 2. Concurrent random increments at all nodes (single rows and ranges,
#    several per transaction), in phases: every link paused, half of them
#    paused at random, none paused while links are toggled, every link
#    paused again; every committed increment is also logged in a local,
#    unreplicated table, in the same transaction.  Then every link resumes,
#    wait_for_peers() is true everywhere, and each counter on each node
#    equals the sum of the logged increments of all nodes.
# 3. A delete older than a winning increment: every link paused, node_a adds
#    1 to a counter and then deletes it, node_b later adds 10.  node_b keeps
#    its later update against node_a's +1 (merging it: the row's xmin then
#    names node_a, its recorded version node_b's), so node_a's delete must
#    be decided against that recorded version and lose; node_a brings the
#    row back as update_deleted, from the counters its tombstone kept: 11 on
#    every node.  3b: an increment older than the delete arrives at the
#    deleting node after it (kept in the tombstone), and a newer one brings
#    the row back: every increment counts everywhere.
# 4. NULLs and money: a NULL delta column an update leaves alone stays NULL
#    (not 0), setting it to a value or to NULL arrives exactly, concurrent
#    increments of a NULL counter add up (NULL counting as 0), and a money
#    counter merges (money has no common type with an untyped 0).
# 5. One remote transaction changes a row twice and the first change loses:
#    the second is decided against the version that won (recorded by the
#    merge), so a later note wins everywhere and an older delete loses.
# 6. A tombstone whose counters a losing change merged into is pruned by the
#    delete's time, not by that change's older one.
# 7. Random increments and deletes at all nodes, links paused: the nodes end
#    identical, and every counter left holds every increment made to it.
# 8. An integer counter whose merged sum overflows stops the link, with the
#    error, until the column is widened; then both increments count.
# The random choices come from CONCORD_SEED (default 111); a failure prints
# the command that reruns the same workload.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordConflicts;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = $ENV{CONCORD_SEED} || 111;
my $txns = $ENV{CONCORD_ITERATIONS} || 150;    # per node and phase
srand($seed);
note("seed $seed; rerun with: CONCORD_SEED=$seed CONCORD_ITERATIONS=$txns bash scripts/test/tap.sh 111");

# Tombstones are pruned as soon as it is safe, every second (part 6 needs it).
my @conf = (
	'concord.feedback_interval = 50ms', 'concord.retry_delay_min = 100ms',
	'concord.retry_delay_max = 1s',     'concord.tombstone_min_age = 0',
	'concord.housekeeping_interval = 1s');
my @names = qw(node_a node_b node_c);
my @nodes = concord_nodes([@names], conf => \@conf);
my ($na, $nb, $nc) = @nodes;
my $db = $ConcordTest::DB;
my $COUNTERS = 12;

create_table_everywhere(\@nodes, q{
	CREATE TABLE public.counters (id int PRIMARY KEY, hits bigint NOT NULL DEFAULT 0,
		n int NOT NULL DEFAULT 0, amount numeric(14,2) NOT NULL DEFAULT 0);
	ALTER TABLE public.counters REPLICA IDENTITY FULL;
	CREATE TABLE public.inc_log (id int NOT NULL, hits bigint NOT NULL, n int NOT NULL, amount numeric(14,2) NOT NULL);
}, 'public.counters');
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.counters', '{hits,n,amount}')") for @nodes;
is($na->safe_psql($db, 'SELECT delta_columns FROM concord.tables WHERE relation = \'public.counters\'::regclass'),
	'{hits,n,amount}', 'concord.tables shows the delta columns');
install_txlog(\@nodes);
full_mesh(\@nodes);

$na->safe_psql($db, "INSERT INTO counters (id) SELECT generate_series(0, $COUNTERS)");
ok(wait_converged(\@nodes), 'the counters exist everywhere');

# --- 1. the documented race ------------------------------------------------------

pause_all(\@nodes);
labelled_txn($na, 'A1', 'UPDATE counters SET hits = hits + 1 WHERE id = 0');
labelled_txn($nb, 'B1', 'UPDATE counters SET hits = hits + 10 WHERE id = 0');
labelled_txn($nc, 'C1', 'UPDATE counters SET hits = hits + 100 WHERE id = 0');
labelled_txn($nc, 'C2', 'UPDATE counters SET hits = hits + 100 WHERE id = 0');
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'race 1: wait_for_peers is true on every node');
is($_->safe_psql($db, 'SELECT hits FROM counters WHERE id = 0'), '211', $_->name . ': 1 + 10 + 100 + 100 = 211')
  for @nodes;
my @b_log = split /\n/, rows_of($nb,
	"SELECT conflict_type, resolution, remote_origin, remote_commit_ts, local_origin FROM concord.conflicts "
	  . "WHERE relation = 'public.counters'::regclass ORDER BY conflict_id");
my %b_by_remote = map { my @f = split /\|/; (label_of($f[3]) => "$f[0]/$f[1]/$f[2]") } @b_log;
is($b_by_remote{A1}, 'update_origin_differs/keep_local/node_a',
	"node_b: node_a's older increment lost the row's other columns but was added (update_origin_differs/keep_local)")
  or diag explain \@b_log;
like($b_by_remote{C1} // $b_by_remote{C2} // '', qr{^update_origin_differs/apply_remote/node_c$},
	"node_b: node_c's newer increment won (update_origin_differs/apply_remote)")
  or diag explain \@b_log;

# --- 2. concurrent random increments in phases ---------------------------------------

my $dir = PostgreSQL::Test::Utils::tempdir;

# One node's script of increment transactions for a phase.
sub script
{
	my ($name) = @_;
	my @lines = ('SET client_min_messages = warning;');
	for my $t (1 .. $txns)
	{
		push @lines, 'BEGIN;';
		for (1 .. 1 + int(rand(3)))
		{
			my $id = 1 + int(rand($COUNTERS));
			my $hi = rand() < 0.2 ? $id + int(rand(3)) : $id;
			$hi = $COUNTERS if $hi > $COUNTERS;
			my $h = 1 + int(rand(5));
			my $k = int(rand(3));
			my $m = sprintf('%.2f', rand(200) - 80);
			push @lines, "UPDATE counters SET hits = hits + $h, n = n + $k, amount = amount + $m "
			  . "WHERE id BETWEEN $id AND $hi;",
			  "INSERT INTO inc_log SELECT g, $h, $k, $m FROM generate_series($id, $hi) g;";
		}
		push @lines, 'COMMIT;';
		push @lines, sprintf('SELECT pg_sleep(%.3f) \g /dev/null', rand(0.01)) if rand() < 0.5;
	}
	return join("\n", @lines) . "\n";
}

my @links;
for my $s (@nodes)
{
	push @links, [ $s, $_ ] for grep { $_ != $s } @nodes;
}

# pause_for(PHASE) — 'all': every link paused; 'half': each link with chance 1/2; otherwise none.
sub pause_for
{
	my ($phase) = @_;
	if ($phase eq 'all') { pause_all(\@nodes); }
	elsif ($phase eq 'half') { pause_link(@$_) for grep { rand() < 0.5 } @links; }
	return;
}

# start_scripts(LABEL, GENERATOR) — at every node, psql runs GENERATOR->(node name)
# in the background; returns [harness, \stderr, node name] per node.
sub start_scripts
{
	my ($label, $generator) = @_;
	my @runs;
	for my $i (0 .. $#nodes)
	{
		my $file = "$dir/$label-$names[$i].sql";
		open(my $fh, '>', $file) or die "$file: $!";
		print $fh $generator->($names[$i]);
		close $fh;
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start([ 'psql', '-Xq', '-d', $nodes[$i]->connstr($db), '-f', $file ],
			'<', \undef, '>', \$out, '2>', \$err);
		push @runs, [ $h, \$err, $names[$i] ];
	}
	return @runs;
}

# finish_scripts(LABEL, RUNS) — waits for each; one test per node: no error
# but deadlocks with an apply (such a transaction rolls back with its log rows).
sub finish_scripts
{
	my ($label, @runs) = @_;
	for my $x (@runs)
	{
		$x->[0]->finish;
		my @bad = unexpected_errors(${ $x->[1] }, qr/deadlock detected|current transaction is aborted/);
		is(scalar(@bad), 0, "$label: $x->[2]'s transactions ran without unexpected errors")
		  or diag(join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));
	}
	return;
}

# Phases: which links are paused while the increments run ('toggle': random
# pauses and resumes while they run).
my @phases = ('all', 'half', 'toggle', 'all');
for my $pi (0 .. $#phases)
{
	my $phase = $phases[$pi];
	pause_for($phase);
	my @w = start_scripts("phase$pi", \&script);
	if ($phase eq 'toggle')
	{
		my %paused;
		for (1 .. 12)
		{
			my $l = $links[ int(rand(@links)) ];
			my $key = $l->[0]->name . '<' . $l->[1]->name;
			if ($paused{$key}) { resume_link(@$l); delete $paused{$key}; }
			else { pause_link(@$l); $paused{$key} = 1; }
			# Let the writers run a little (pacing only).
			my $before = $nodes[0]->safe_psql($db, 'SELECT count(*) FROM inc_log');
			wait_for_condition(
				sub { !harness_running($w[0][0]) || $nodes[0]->safe_psql($db, 'SELECT count(*) FROM inc_log') > $before + 10 },
				30, 20);
		}
	}
	finish_scripts("phase $pi ($phase)", @w);
	resume_all(\@nodes) unless $pi == $#phases;
}
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'after the last phase, wait_for_peers is true on every node');

# Every counter, every column: the sum of every node's logged increments.
my %want;
for my $n (@nodes)
{
	for my $line (split /\n/, $n->safe_psql($db, 'SELECT id, sum(hits), sum(n), sum(amount) FROM inc_log GROUP BY id'))
	{
		my ($id, @s) = split /\|/, $line;
		$want{$id}[$_] += $s[$_] for 0 .. 2;
	}
}
my $want = join("\n", map {
		my $w = $want{$_} // [ 0, 0, 0 ];
		sprintf('%d|%d|%d|%.2f', $_, $w->[0], $w->[1], $w->[2]);
	} 1 .. $COUNTERS);
my $all_ok = 1;
for my $n (@nodes)
{
	$all_ok &= is($n->safe_psql($db, "SELECT id, hits, n, amount FROM counters WHERE id > 0 ORDER BY id"), $want,
		$n->name . ': every counter equals the sum of the increments made at all nodes');
}
$all_ok &= assert_same_everywhere(\@nodes, 'counters', 'counters are identical on every node');
my $conflicts = join(', ',
	map { $_->name . '=' . $_->safe_psql($db, "SELECT count(*) FROM concord.conflicts") } @nodes);
note("conflicts recorded (the increments really raced): $conflicts");
ok($nb->safe_psql($db, "SELECT count(*) > 0 FROM concord.conflicts WHERE remote_commit_ts > '" . ts_of('C2') . "'"),
	'the random increments met concurrent ones (conflicts were recorded)');
diag("rerun with: CONCORD_SEED=$seed CONCORD_ITERATIONS=$txns bash scripts/test/tap.sh 111") unless $all_ok;

# --- 3. a delete older than a winning increment ----------------------------------
my $late = $COUNTERS + 100;
$na->safe_psql($db, "INSERT INTO counters (id) VALUES ($late)");
ok(wait_converged(\@nodes), 'race 3: the counter exists everywhere');
pause_all(\@nodes);
labelled_txn($na, 'D1', "UPDATE counters SET hits = hits + 1 WHERE id = $late");
labelled_txn($na, 'D2', "DELETE FROM counters WHERE id = $late");
labelled_txn($nb, 'D3', "UPDATE counters SET hits = hits + 10 WHERE id = $late");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'race 3: wait_for_peers is true on every node');
is($_->safe_psql($db, "SELECT count(*) FROM counters WHERE id = $late"), '1',
	$_->name . ": node_b's later increment keeps the row against node_a's older delete")
  for @nodes;
is( $nb->safe_psql($db,
		"SELECT conflict_type || '/' || resolution FROM concord.conflicts WHERE remote_commit_ts = '" . ts_of('D2') . "'"),
	'delete_origin_differs/keep_local',
	"node_b: node_a's delete met the recorded, newer version (delete_origin_differs / keep_local)");
is( $na->safe_psql($db,
		"SELECT conflict_type FROM concord.conflicts WHERE remote_commit_ts = '" . ts_of('D3') . "'"),
	'update_deleted', "node_a: node_b's later increment brings the row back (update_deleted)");
# node_a's tombstone kept the deleted row's counter (1); the row comes back
# from there plus node_b's increment, as node_b merged node_a's +1 into its own.
is($_->safe_psql($db, "SELECT hits FROM counters WHERE id = $late"), '11',
	$_->name . ": the row brought back holds both increments (1 + 10)")
  for @nodes;
assert_same_everywhere(\@nodes, 'counters', 'race 3: counters identical on every node');

# --- 3b. an increment that loses to a delete, then a newer increment ----------------
# Every link paused: node_b adds 5 (E1), node_a then deletes the row (E2),
# node_c then adds 100 (E3).  Each node meets these in another order: node_a
# applies E1 to its tombstone (older than its delete: kept in the
# tombstone's counters) and E3 brings the row back from there; node_b's
# delete meets E1 as its own row's history; node_c merges E1 into its newer
# row and keeps it against the older delete.  7 + 5 + 100 everywhere.
my $gone = $late + 1;
$na->safe_psql($db, "INSERT INTO counters (id, hits) VALUES ($gone, 7)");
ok(wait_converged(\@nodes), 'race 3b: the counter exists everywhere');
pause_all(\@nodes);
labelled_txn($nb, 'E1', "UPDATE counters SET hits = hits + 5 WHERE id = $gone");
labelled_txn($na, 'E2', "DELETE FROM counters WHERE id = $gone");
labelled_txn($nc, 'E3', "UPDATE counters SET hits = hits + 100 WHERE id = $gone");
is($na->safe_psql($db, "SELECT count(*) FROM concord.tombstone WHERE relid = 'counters'::regclass "
	  . "AND counters->>'hits' = '7' AND counters->>'amount' = '0.00'"),
	'1', "race 3b: node_a's tombstone keeps the deleted row's counters");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'race 3b: wait_for_peers is true on every node');
is($_->safe_psql($db, "SELECT hits FROM counters WHERE id = $gone"), '112',
	$_->name . ': the increment older than the delete still counts (7 + 5 + 100)')
  for @nodes;
is( $na->safe_psql($db,
		"SELECT conflict_type || '/' || resolution FROM concord.conflicts WHERE remote_commit_ts = '" . ts_of('E1') . "'"),
	'update_deleted/keep_local', "node_a: node_b's older increment lost to the delete (kept in its tombstone)");
assert_same_everywhere(\@nodes, 'counters', 'race 3b: counters identical on every node');
# --- 4. NULLs and money ----------------------------------------------------------
# A delta column may be NULL: a change that leaves it alone keeps it as it
# is (NULL, not 0), one that sets it takes the sender's value exactly (NULL
# too); a concurrent increment adds up with NULL counting as 0.  A money
# column merges with money's own zero.
create_table_everywhere(\@nodes, q{
	CREATE TABLE public.maybe (id int PRIMARY KEY, hits int, note text);
	ALTER TABLE public.maybe REPLICA IDENTITY FULL;
	CREATE TABLE public.cash (id int PRIMARY KEY, amt money NOT NULL);
	ALTER TABLE public.cash REPLICA IDENTITY FULL;
}, 'public.maybe', 'public.cash');
$_->safe_psql($db, "SELECT concord.set_delta_columns('public.maybe', '{hits}'); "
	  . "SELECT concord.set_delta_columns('public.cash', '{amt}')") for @nodes;
sub hits_everywhere
{
	my ($id) = @_;
	return join(' ', map { $_->safe_psql($db, "SELECT coalesce(hits::text, 'NULL') FROM maybe WHERE id = $id") } @nodes);
}
$na->safe_psql($db, "INSERT INTO maybe VALUES (1, NULL, 'x'), (2, NULL, 'x'); INSERT INTO cash VALUES (1, 5)");
$na->safe_psql($db, "UPDATE maybe SET note = 'y' WHERE id = 1");
ok(wait_converged(\@nodes), 'nulls: converged after an update leaving the delta column alone');
is(hits_everywhere(1), 'NULL NULL NULL', 'nulls: a NULL delta column left alone stays NULL everywhere');
$na->safe_psql($db, "UPDATE maybe SET hits = 5 WHERE id = 1");
ok(wait_converged(\@nodes), 'nulls: converged after setting the column');
is(hits_everywhere(1), '5 5 5', 'nulls: NULL set to 5 is 5 everywhere');
$na->safe_psql($db, "UPDATE maybe SET hits = NULL WHERE id = 1");
ok(wait_converged(\@nodes), 'nulls: converged after setting the column to NULL');
is(hits_everywhere(1), 'NULL NULL NULL', 'nulls: set to NULL is NULL everywhere');
pause_all(\@nodes);
labelled_txn($na, 'N1', 'UPDATE maybe SET hits = coalesce(hits, 0) + 1 WHERE id = 2');
labelled_txn($nb, 'N2', 'UPDATE maybe SET hits = coalesce(hits, 0) + 10 WHERE id = 2');
labelled_txn($na, 'M1', 'UPDATE cash SET amt = amt + 1::money WHERE id = 1');
labelled_txn($nb, 'M2', 'UPDATE cash SET amt = amt + 10::money WHERE id = 1');
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'nulls and money: concurrent increments converged');
is(hits_everywhere(2), '11 11 11', 'nulls: concurrent increments of a NULL counter add up (NULL as 0)');
is($_->safe_psql($db, 'SELECT amt::numeric FROM cash WHERE id = 1'), '16.00', $_->name . ': money 5 + 1 + 10')
  for @nodes;
assert_same_everywhere(\@nodes, 'maybe', 'nulls: maybe identical on every node');

# --- 5. a losing change and a later change of the same row in one transaction ----
# node_b increments row 3 and then sets its note in one transaction; node_a
# later increments it and sets the note too.  Where node_b's transaction
# arrives after node_a's, its increment loses (merged, node_a's version
# recorded) and its second update must then meet that version and lose as
# well, not pass as node_b's own write.  Row 4: node_b increments and then
# deletes it, node_a later increments it; the delete must lose.
$na->safe_psql($db, "INSERT INTO maybe VALUES (3, 0, 'init'), (4, 0, 'init')");
ok(wait_converged(\@nodes), 'same row twice: rows 3 and 4 everywhere');
pause_all(\@nodes);
labelled_txn($nb, 'S1', "UPDATE maybe SET hits = hits + 1 WHERE id = 3; UPDATE maybe SET note = 'b' WHERE id = 3; "
	  . 'UPDATE maybe SET hits = hits + 1 WHERE id = 4; DELETE FROM maybe WHERE id = 4');
labelled_txn($na, 'S2', "UPDATE maybe SET hits = hits + 10, note = 'a' WHERE id IN (3, 4)");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'same row twice: converged');
is(join(' ', map { $_->safe_psql($db, "SELECT hits || '/' || note FROM maybe WHERE id = 3") } @nodes),
	'11/a 11/a 11/a', "same row twice: node_a's later note wins everywhere, both increments add up");
is(join(' ', map { $_->safe_psql($db, 'SELECT count(*) FROM maybe WHERE id = 4') } @nodes),
	'1 1 1', "same row twice: node_b's older delete loses everywhere");
is(join(' ', map { $_->safe_psql($db, "SELECT hits FROM maybe WHERE id = 4") } @nodes),
	'11 11 11', "same row twice: the row node_b deleted keeps node_b's increment (kept by its tombstone)");

# --- 6. a tombstone with merged counters is pruned by its delete's time ----------
# A merge into a tombstone's counters rewrites the tombstone under the losing
# change's (older) commit time; pruning must still go by the delete's.
# node_a stops applying from node_b; node_b adds 1 (P1).  node_c writes a
# marker that node_a applies (node_a's safe time for node_c: after P1), then
# node_a stops applying from node_c too; node_c adds 100 (P3); node_a
# deletes the row (P2, the newest).  Tombstones are pruned with no margin, every
# second (see @conf).  node_a resumes node_b: P1 merges into the tombstone.  The tombstone
# must stay (node_c's P3, older than the delete, is still to come); then P3
# arrives, loses to it, and the row is gone everywhere.
my $pruned = $late + 2;
$na->safe_psql($db, "INSERT INTO counters (id) VALUES ($pruned)");
ok(wait_converged(\@nodes), 'prune: the counter exists everywhere');
pause_link($na, $nb);
labelled_txn($nb, 'P1', "UPDATE counters SET hits = hits + 1 WHERE id = $pruned");
$nc->safe_psql($db, "INSERT INTO maybe VALUES (100, 0, 'marker')");
ok(wait_applied_by($nc, $na), "prune: node_a applied node_c's marker, committed after P1");
pause_link($na, $nc);
labelled_txn($nc, 'P3', "UPDATE counters SET hits = hits + 100 WHERE id = $pruned");
labelled_txn($na, 'P2', "DELETE FROM counters WHERE id = $pruned");
resume_link($na, $nb);
ok(poll_until($na, "SELECT count(*) FROM concord.conflicts WHERE remote_commit_ts = '" . ts_of('P1') . "'", '1', 30),
	"prune: node_a applied node_b's P1 to the tombstone");
sleep 7;    # node_b's next clock (every 5 s) and a housekeeping round after it
is( $na->safe_psql($db, "SELECT count(*) FROM concord.tombstone WHERE relid = 'counters'::regclass "
		  . "AND counters->>'hits' = '1'"),
	'1', "prune: node_a keeps the tombstone P1 merged into, node_c's safe time being before the delete");
resume_link($na, $nc);
ok(wait_converged(\@nodes), 'prune: converged');
is(join(' ', map { $_->safe_psql($db, "SELECT count(*) FROM counters WHERE id = $pruned") } @nodes),
	'0 0 0', "prune: node_c's older increment lost to the delete everywhere");
assert_same_everywhere(\@nodes, 'counters', 'prune: counters identical on every node');

# --- 7. random increments and deletes -------------------------------------------
# Counters 1000.. (0 at first) get random increments and, now and then, a
# delete, at all nodes, in two phases: every link paused, then half of them.
# A node's increment of a key it has deleted changes nothing there (and logs
# nothing); elsewhere a newer one brings the row back.  Every node must end
# identical, and every counter that exists must hold every increment ever
# logged for its key: a delete that lost kept them in its tombstone.
my $first = 1000;
$na->safe_psql($db, "INSERT INTO counters (id) SELECT generate_series($first, $first + $COUNTERS - 1)");
ok(wait_converged(\@nodes), 'random deletes: the counters exist everywhere');
my $deletes = 0;
sub delete_script
{
	my @lines = ('SET client_min_messages = warning;');
	for (1 .. int($txns * 2 / 3))
	{
		my $id = $first + int(rand($COUNTERS));
		if (rand() < 0.03)
		{
			push @lines, "DELETE FROM counters WHERE id = $id;";
			$deletes++;
		}
		else
		{
			my $h = 1 + int(rand(5));
			push @lines, "WITH u AS (UPDATE counters SET hits = hits + $h WHERE id = $id RETURNING id) "
			  . "INSERT INTO inc_log SELECT id, $h, 0, 0 FROM u;";
		}
		push @lines, sprintf('SELECT pg_sleep(%.3f) \g /dev/null', rand(0.005)) if rand() < 0.3;
	}
	return join("\n", @lines) . "\n";
}
for my $phase ('all', 'half')
{
	pause_for($phase);
	finish_scripts("random deletes ($phase)", start_scripts("deletes-$phase", \&delete_script));
	resume_all(\@nodes);
}
ok(wait_converged(\@nodes), 'random deletes: wait_for_peers is true on every node');
my $deleted_ok = assert_same_everywhere(\@nodes, 'counters', 'random deletes: counters identical on every node');
my %logged;
for my $n (@nodes)
{
	for my $line (split /\n/, $n->safe_psql($db, "SELECT id, sum(hits) FROM inc_log WHERE id >= $first GROUP BY id"))
	{
		my ($id, $sum) = split /\|/, $line;
		$logged{$id} += $sum;
	}
}
my @live = split /\n/, $na->safe_psql($db, "SELECT id, hits FROM counters WHERE id >= $first ORDER BY id");
my @wrong = grep { my ($id, $hits) = split /\|/; $hits != ($logged{$id} // 0) } @live;
$deleted_ok &= is(scalar(@wrong), 0,
	'random deletes: every counter left holds every increment logged for it, at any node') or diag(join(
		"\n", map { my ($id, $hits) = split /\|/; "id $id: hits $hits, logged " . ($logged{$id} // 0) } @wrong));
my $resurrected = $na->safe_psql($db,
	"SELECT count(*) FROM concord.conflicts WHERE conflict_type = 'update_deleted' AND resolution <> 'keep_local' "
	  . "AND (remote_tuple->>'id')::int >= $first");
note("random deletes: $deletes deletes, " . scalar(@live) . " of $COUNTERS counters left, "
	  . "$resurrected brought back at node_a");
diag("rerun with: CONCORD_SEED=$seed CONCORD_ITERATIONS=$txns bash scripts/test/tap.sh 111") unless $deleted_ok;

# --- 8. a merge that overflows stops the link until the column is widened -------
# n is an integer: node_a and node_b each add 40 to 2,147,483,600 (each sum
# fits); merging the other's +40 does not.  The link stops with the error
# (nothing is skipped); widening n to bigint lets both merges through.
my $big = 2000;
$na->safe_psql($db, "INSERT INTO counters (id, n) VALUES ($big, 2147483600)");
ok(wait_converged(\@nodes), 'overflow: the counter exists everywhere');
pause_all(\@nodes);
$na->safe_psql($db, "UPDATE counters SET n = n + 40 WHERE id = $big");
$nb->safe_psql($db, "UPDATE counters SET n = n + 40 WHERE id = $big");
resume_all(\@nodes);
ok(wait_peer_error($na, 'node_b', '%integer out of range%'),
	"overflow: node_a's link from node_b stops at the merge that overflows, with the error");
is($na->safe_psql($db, "SELECT n FROM counters WHERE id = $big"), '2147483640',
	'overflow: node_a still holds its own sum, the failing merge changed nothing');
$_->safe_psql($db, 'ALTER TABLE counters ALTER COLUMN n TYPE bigint') for @nodes;
ok(wait_converged(\@nodes), 'overflow: after widening n, wait_for_peers is true on every node');
is($_->safe_psql($db, "SELECT n FROM counters WHERE id = $big"), '2147483680',
	$_->name . ': both increments merged once the column is wide enough')
  for @nodes;

assert_links_streaming(\@nodes);
# The slow paths' statements connect to SPI per transaction; nothing is left open.
assert_no_resource_warnings(\@nodes);

done_testing();
