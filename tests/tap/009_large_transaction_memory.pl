# 009_large_transaction_memory.pl — a single transaction of 1,000,000 rows
# replicates, and the apply worker's memory stays flat: its peak resident set
# (VmHWM, and VmRSS / RssAnon sampled during the apply from
# /proc/<concord.peers.worker_pid>/status) stays under 100 MB.  The same
# holds for a transaction of 150 rows of 1 MB each (150 MB).  And a large
# transaction on a table that is not replicated does not cut the link while
# the provider's walsender replays it with nothing to send.
#
# shared_buffers is 32 MB here: the resident set of a backend counts the
# shared buffers it touched, and the apply of a million rows touches them
# all, so with the 128 MB default the limit would measure the buffer pool
# instead of the worker's own memory.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $rows     = 1_000_000;
my $limit_kb = 100 * 1024;

my @conf = ('shared_buffers = 32MB', 'max_wal_size = 1GB');
my ($na, $nb) = concord_nodes([qw(node_a node_b)], conf => \@conf);
my @nodes = ($na, $nb);
my $db    = $ConcordTest::DB;

create_table_everywhere(\@nodes,
	'CREATE TABLE public.t (id int PRIMARY KEY, payload text NOT NULL, n numeric); '
	  . 'CREATE TABLE public.big (id int PRIMARY KEY, body text NOT NULL)',
	'public.t', 'public.big');
full_mesh(\@nodes);

# apply_and_sample(TABLE, ROWS, WHAT) — samples node_b's apply worker until
# TABLE has ROWS rows there, then asserts its memory stayed under the limit.
sub apply_and_sample
{
	my ($table, $rows, $what, $t0) = @_;
	my %peak = (VmHWM => 0, VmRSS => 0, RssAnon => 0);
	my ($samples, $busy_samples, %pids) = (0, 0);
	my $done = wait_for_condition(
		sub {
			my $pid = worker_pid($nb, 'node_a');
			if ($pid)
			{
				my $s = proc_status($pid);
				if (%$s)
				{
					$samples++;
					$pids{$pid} = 1;
					for my $k (keys %peak)
					{
						$peak{$k} = $s->{$k} if ($s->{$k} // 0) > $peak{$k};
					}
				}
			}
			my $count = $nb->safe_psql($db, "SELECT count(*) FROM $table");
			$busy_samples++ if $pid && $count == 0;
			return $count == $rows;
		},
		600, 200);
	ok($done, sprintf('%s arrived at node_b (%.0fs after the insert began)', $what, time - $t0));

	# VmHWM is the peak over the worker's life: a last read after the apply catches what sampling missed.
	for my $pid (keys %pids)
	{
		my $s = proc_status($pid);
		$peak{VmHWM} = $s->{VmHWM} if ($s->{VmHWM} // 0) > $peak{VmHWM};
	}
	note(sprintf('%s: apply worker pids %s, %d samples (%d during the apply): peak VmHWM %d kB, VmRSS %d kB, RssAnon %d kB',
			$what, join(',', sort keys %pids), $samples, $busy_samples, $peak{VmHWM}, $peak{VmRSS}, $peak{RssAnon}));
	ok($busy_samples >= 3, "$what: the worker's memory was sampled while it applied ($busy_samples samples)");
	is(scalar keys %pids, 1, "$what: one apply worker did the whole transaction (no failure and restart)");
	cmp_ok($peak{VmHWM},   '<', $limit_kb, "$what: the apply worker's peak RSS (VmHWM) stays under 100 MB");
	cmp_ok($peak{VmRSS},   '<', $limit_kb, "$what: the apply worker's sampled RSS (VmRSS) stays under 100 MB");
	cmp_ok($peak{RssAnon}, '<', $limit_kb, "$what: the apply worker's private memory (RssAnon) stays under 100 MB");
	return;
}

# 1. A million small rows in one transaction.
my $t0 = time;
$na->safe_psql($db,
	"INSERT INTO t SELECT g, md5(g::text) || repeat('x', 40), g * 1.5 FROM generate_series(1, $rows) g");
note(sprintf('the insert took %.1fs at node_a', time - $t0));
apply_and_sample('t', $rows, 'the 1,000,000-row transaction', $t0);
ok(wait_converged(\@nodes), 'the mesh converges');
is($nb->safe_psql($db, 'SELECT count(*) || \'/\' || count(DISTINCT id) || \'/\' || min(id) || \'/\' || max(id) FROM t'),
	"$rows/$rows/1/$rows", 'node_b holds every row once');
assert_same_everywhere(\@nodes, 't', 't identical on both nodes');

# 2. Fewer rows, but 150 MB of them: 150 TOASTed values of 1 MB in one
# transaction.  Memory must not grow with the bytes a transaction carries
# either (a batch of rows bounded only by its row count would hold them all).
my $big = 150;
$t0 = time;
$na->safe_psql($db,
	"INSERT INTO big SELECT g, (SELECT string_agg(md5(g::text || '-' || i), '') FROM generate_series(1, 32768) i) "
	  . "FROM generate_series(1, $big) g");
note(sprintf('the 150 MB insert took %.1fs at node_a', time - $t0));
apply_and_sample('big', $big, 'the transaction of 150 rows of 1 MB', $t0);
ok(wait_converged(\@nodes), 'the mesh converges after the 150 MB transaction');
my $big_sum = "SELECT count(*) || '/' || sum(octet_length(body)) || '/' || md5(string_agg(md5(body), ',' ORDER BY id)) FROM big";
is($nb->safe_psql($db, $big_sum), $na->safe_psql($db, $big_sum), 'node_b holds the 150 large values, identical');

my $p = peer_of($nb, 'node_a');
ok($p->{status} eq 'streaming' && !defined $p->{last_error}, 'node_b streams from node_a without error')
  or diag explain $p;

# 3. A large transaction on a table that is not replicated: node_a's
# walsender replays it with nothing to send, for longer than node_b waits
# for a sign of life (concord.peer_timeout 1 s here).  The keepalives it
# sends meanwhile (every wal_sender_timeout / 2 = 0.5 s) keep the link up:
# the row node_a commits next arrives and node_b never gave up on the peer.
$na->safe_psql($db, "ALTER SYSTEM SET wal_sender_timeout = '1s'");
$na->reload;
$nb->safe_psql($db, "ALTER SYSTEM SET concord.peer_timeout = '1s'");
$nb->reload;
$na->safe_psql($db, 'CREATE TABLE public.local_only (id int, payload text)');
$t0 = time;
$na->safe_psql($db, "INSERT INTO local_only SELECT g, md5(g::text) FROM generate_series(1, 2000000) g");
$na->safe_psql($db, "INSERT INTO t VALUES (-1, 'after the local transaction', 0)");
ok(poll_until($nb, 'SELECT count(*) = 1 FROM t WHERE id = -1', 't', 120),
	'a row committed after a long transaction on a table that is not replicated arrives');
note(sprintf('it arrived %.1fs after the local transaction began', time - $t0));
my $q = peer_of($nb, 'node_a');
is($q->{failures}, $p->{failures}, 'node_b never gave up on node_a during the replay (no reconnection)')
  or diag explain $q;
$nb->safe_psql($db, 'ALTER SYSTEM RESET concord.peer_timeout');
$nb->reload;
$na->safe_psql($db, 'ALTER SYSTEM RESET wal_sender_timeout');
$na->reload;

done_testing();
