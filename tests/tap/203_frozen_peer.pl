# 203_frozen_peer.pl — a peer that hangs: every process of node_c (its
# postmaster first, then each descendant of that postmaster, found through
# /proc and signalled by PID) is stopped with SIGSTOP for several times
# concord.peer_timeout (5 s here), while node_a and node_b keep writing.
#
#   * node_a and node_b keep replicating between themselves throughout: a
#     row written at either arrives at the other within a bound, checked
#     before, around and well after the moment the frozen peer is detected,
#     and wait_for_peers limited to the healthy subscriber returns true;
#   * node_a and node_b detect the frozen peer within a bound derived from
#     concord.peer_timeout: concord.peers shows node_c in state error or
#     connecting, with an error newer than the freeze that says why;
#   * after SIGCONT the mesh converges: every id written anywhere is on every
#     node exactly once, and every link streams again with its error cleared;
#   * round 2: concord.peer_timeout lowered to 2 s by a reload at node_a and
#     node_c; node_b freezes and both notice it before the old 5 s.
#
# ConcordFaults thaws the node in its END block, before the cluster helpers
# stop it, so a failure never leaves stopped processes behind.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordFaults;    # after ConcordTest: its END block runs first
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $PEER_TIMEOUT = 5;                      # seconds
my $DETECT_BOUND = $PEER_TIMEOUT + 5;      # detection: timeout, a feedback round, polling
my $ARRIVE_BOUND = 10;                     # a healthy link delivers within this

my ($na, $nb, $nc) = concord_nodes([qw(node_a node_b node_c)],
	conf => [ "concord.peer_timeout = ${PEER_TIMEOUT}s", 'concord.retry_delay_max = 2s' ]);
my @nodes = ($na, $nb, $nc);
my $db    = $ConcordTest::DB;

create_table_everywhere(\@nodes,
	'CREATE TABLE public.t (id int PRIMARY KEY, origin text NOT NULL, at timestamptz DEFAULT clock_timestamp())',
	'public.t');
# Not replicated: tells this node's writer to stop.
sql_all(\@nodes, 'CREATE TABLE public.stop_writers (stop boolean)');
full_mesh(\@nodes);

# Id ranges per writer; markers get ids of their own.
my %base = (node_a => 1_000_000, node_b => 2_000_000, node_c => 3_000_000);
my $marker = 9_000_000;

# A writer: single-row transactions from FROM upwards until stop_writers has
# a row (or a safety cap), 10 ms pause every 20 rows.
sub start_writer
{
	my ($node, $from) = @_;
	my $origin = $node->name;
	my $cap = $from + 400_000;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-c',
			"DO \$\$ DECLARE i int := $from; BEGIN "
			  . "LOOP EXIT WHEN i > $cap OR EXISTS (SELECT 1 FROM public.stop_writers); "
			  . "INSERT INTO public.t (id, origin) VALUES (i, '$origin'); COMMIT; i := i + 1; "
			  . "IF i % 20 = 0 THEN PERFORM pg_sleep(0.01); END IF; END LOOP; END \$\$"
		],
		'<', \undef, '>', \$out, '2>', \$err);
	return [ $h, \$err, $node ];
}

sub stop_writer
{
	my ($w) = @_;
	$w->[2]->safe_psql($db, 'INSERT INTO public.stop_writers VALUES (true)');
	my $ok = $w->[0]->finish;
	ok($ok, $w->[2]->name . "'s writer ran to its end without error") or diag ${ $w->[1] };
	$w->[2]->safe_psql($db, 'TRUNCATE public.stop_writers');
	return;
}

# arrives(FROM, TO, WHAT) — a marker row written at FROM shows up at TO within
# $ARRIVE_BOUND seconds; one test.
sub arrives
{
	my ($from, $to, $what) = @_;
	my $id = ++$marker;
	my $t0 = time;
	$from->safe_psql($db, "INSERT INTO public.t (id, origin) VALUES ($id, 'marker')");
	my $ok = poll_until($to, "SELECT count(*) FROM public.t WHERE id = $id", '1', $ARRIVE_BOUND);
	ok($ok, sprintf('%s: a row written at %s arrives at %s within %ds (%.1fs)',
			$what, $from->name, $to->name, $ARRIVE_BOUND, time - $t0));
	return $ok;
}

# --- Before: the mesh works, node_c included -------------------------------
$nc->safe_psql($db, "INSERT INTO public.t (id, origin) SELECT g, 'node_c' FROM generate_series($base{node_c}, $base{node_c} + 99) g");
my $c_rows = 100;
ok(wait_converged(\@nodes), 'before the freeze the mesh converges');

my $wa = start_writer($na, $base{node_a});
my $wb = start_writer($nb, $base{node_b});
arrives($na, $nb, 'before the freeze');
arrives($nb, $na, 'before the freeze');

# --- Freeze node_c -----------------------------------------------------------
my $t_freeze_sql = $na->safe_psql($db, 'SELECT clock_timestamp()');
my $t_freeze = time;
my $stopped = freeze_node_pids($nc->{_pid}, $nc->data_dir);
note("froze $stopped processes of node_c (postmaster $nc->{_pid})");
ok($stopped >= 5, "every process of node_c is stopped ($stopped: postmaster, auxiliaries, workers, walsenders)");

# Right after the freeze, before anything could be detected: no stall.
arrives($na, $nb, 'just after the freeze');
arrives($nb, $na, 'just after the freeze');

# Detection within the bound, on both healthy nodes.
for my $n ($na, $nb)
{
	my $seen = wait_until(
		sub {
			my $r = $n->safe_psql($db,
				"SELECT status IN ('error', 'connecting') AND last_error_at > '$t_freeze_sql' "
				  . "FROM concord.peers WHERE peer_name = 'node_c'");
			return $r eq 't';
		},
		3 * $DETECT_BOUND, 100);
	my $elapsed = time - $t_freeze;
	ok($seen && $elapsed <= $DETECT_BOUND,
		sprintf('%s detects the frozen node_c within %ds (concord.peer_timeout = %ds): after %.1fs',
			$n->name, $DETECT_BOUND, $PEER_TIMEOUT, $elapsed));
	my $p = peer_of($n, 'node_c');
	like($p->{last_error} // '', qr/node_c/, $n->name . ': last_error names node_c')
	  or diag explain $p;
	note($n->name . " sees node_c as $p->{status}: $p->{last_error}");
}

# Keep node_c frozen for several peer timeouts while the others go on: the
# workers for node_c time out, reconnect and time out again meanwhile.
for my $round (1 .. 3)
{
	arrives($na, $nb, "frozen, round $round");
	arrives($nb, $na, "frozen, round $round");
	ok(wait_until(sub { time - $t_freeze >= $round * 2 * $PEER_TIMEOUT }, 3 * $PEER_TIMEOUT), "round $round: time passes");
}
is($na->safe_psql($db, "SELECT concord.wait_for_peers('20s', ARRAY['node_b'])"), 't',
	'node_a: wait_for_peers for node_b alone returns true while node_c is frozen');
is($nb->safe_psql($db, "SELECT concord.wait_for_peers('20s', ARRAY['node_a'])"), 't',
	'node_b: wait_for_peers for node_a alone returns true while node_c is frozen');
for my $n ($na, $nb)
{
	my $p = peer_of($n, 'node_c');
	ok($p->{status} ne 'streaming', $n->name . ": after " . int(time - $t_freeze) . "s node_c is still shown as $p->{status}, not streaming");
	my $healthy = peer_of($n, $n == $na ? 'node_b' : 'node_a');
	is($healthy->{status}, 'streaming', $n->name . ': its link to the healthy peer streams');
}
my @still = grep { my ($s) = proc_state($_); defined $s && $s ne 'T' && $s ne 'Z' } frozen_pids();
is(scalar @still, 0, 'node_c stayed frozen the whole time') or diag "not stopped: @still";

# --- Thaw ------------------------------------------------------------------
my $frozen_for = time - $t_freeze;
thaw_all();
note(sprintf('node_c was frozen for %.1fs', $frozen_for));
ok(poll_until($nc, 'SELECT 1', '1', 30), 'node_c answers again after SIGCONT');

$nc->safe_psql($db, "INSERT INTO public.t (id, origin) SELECT g, 'node_c' FROM generate_series($base{node_c} + 100, $base{node_c} + 199) g");
$c_rows += 100;
arrives($na, $nc, 'after the thaw');
arrives($nc, $nb, 'after the thaw');

stop_writer($wa);
stop_writer($wb);

my $t_conv = time;
ok(wait_converged(\@nodes, 120), 'after the thaw the mesh converges');
note(sprintf('converged %.1fs after the writers stopped', time - $t_conv));

# --- Exactly once --------------------------------------------------------------
my %want;

# Each node holds every id of each origin exactly once, as many as %want says.
sub every_id_once { assert_every_id_once(\@nodes, 'public.t', \%want, $_[0]); return; }
for my $n ($na, $nb)
{
	$want{ $n->name } = $n->safe_psql($db, "SELECT count(*) FROM public.t WHERE origin = '" . $n->name . "'");
	my ($lo, $hi) = split /\|/, $n->safe_psql($db,
		"SELECT min(id), max(id) FROM public.t WHERE origin = '" . $n->name . "'");
	is($hi - $lo + 1, $want{ $n->name }, $n->name . "'s own ids are contiguous ($want{$n->name} rows)");
}
$want{node_c} = $c_rows;
$want{marker} = $marker - 9_000_000;
note('rows per origin: ' . join(', ', map { "$_=$want{$_}" } sort keys %want));
ok($want{node_a} > 200 && $want{node_b} > 200, 'node_a and node_b wrote throughout the freeze');
every_id_once('');
assert_same_everywhere(\@nodes, 'public.t', 'public.t is identical on every node');

for my $n (@nodes)
{
	for my $p (@{ peers($n) })
	{
		ok( poll_until($n,
				"SELECT status = 'streaming' AND last_error IS NULL FROM concord.peers "
				  . "WHERE peer_name = '$p->{peer_name}'", 't', 60),
			$n->name . " from $p->{peer_name}: streaming again, error cleared");
	}
}

# --- Round 2: the bound follows the setting ----------------------------------
# concord.peer_timeout lowered to 2 s by reload at node_a and node_c; node_b
# freezes; both notice well before the old 5 s.
my $T2 = 2;
for my $n ($na, $nc)
{
	$n->safe_psql($db, "ALTER SYSTEM SET concord.peer_timeout = '${T2}s'; SELECT pg_reload_conf()");
	ok(poll_until($n, 'SHOW concord.peer_timeout', "${T2}s", 10), $n->name . ": concord.peer_timeout is ${T2}s after a reload");
}
# Workers pick the reload up at their next loop; let them all run one.
$na->safe_psql($db, "INSERT INTO public.t (id, origin) VALUES (" . ++$marker . ", 'marker')");
$nc->safe_psql($db, "INSERT INTO public.t (id, origin) VALUES (" . ++$marker . ", 'marker')");
ok(wait_converged(\@nodes, 30), 'round 2: converged before the freeze');

my $since2 = $na->safe_psql($db, 'SELECT clock_timestamp()');
my $t2 = time;
freeze_node_pids($nb->{_pid}, $nb->data_dir);
for my $n ($na, $nc)
{
	my $seen = wait_until(
		sub {
			$n->safe_psql($db, "SELECT status IN ('error', 'connecting') AND last_error_at > '$since2' "
				  . "FROM concord.peers WHERE peer_name = 'node_b'") eq 't';
		},
		30, 100);
	my $elapsed = time - $t2;
	ok($seen && $elapsed < $PEER_TIMEOUT,
		sprintf('%s detects the frozen node_b after %.1fs, within the new %ds (plus a feedback round), '
			  . 'before the old %ds', $n->name, $elapsed, $T2, $PEER_TIMEOUT));
}
arrives($na, $nc, 'node_b frozen');
arrives($nc, $na, 'node_b frozen');
thaw_all();
$nb->safe_psql($db, "INSERT INTO public.t (id, origin) VALUES (" . ++$marker . ", 'marker')");
ok(wait_converged(\@nodes, 120), 'round 2: after the thaw the mesh converges');
$want{marker} = $marker - 9_000_000;
every_id_once('round 2: ');
assert_same_everywhere(\@nodes, 'public.t', 'round 2: public.t is identical on every node');

done_testing();
