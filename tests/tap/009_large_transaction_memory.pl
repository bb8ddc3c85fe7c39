# 009_large_transaction_memory.pl — a single transaction of 1,000,000 rows
# replicates, and the apply worker's memory stays flat: its peak resident set
# (VmHWM, and VmRSS / RssAnon sampled during the apply from
# /proc/<concord.peers.worker_pid>/status) stays under 100 MB.
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
	'CREATE TABLE public.t (id int PRIMARY KEY, payload text NOT NULL, n numeric)', 'public.t');
full_mesh(\@nodes);

my $t0 = time;
$na->safe_psql($db,
	"INSERT INTO t SELECT g, md5(g::text) || repeat('x', 40), g * 1.5 FROM generate_series(1, $rows) g");
note(sprintf('the insert took %.1fs at node_a', time - $t0));

# Sample node_b's apply worker until the transaction is there.
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
		my $count = $nb->safe_psql($db, 'SELECT count(*) FROM t');
		$busy_samples++ if $pid && $count == 0;
		return $count == $rows;
	},
	600, 200);
ok($done, sprintf('the 1,000,000-row transaction arrived at node_b (%.0fs after the insert)', time - $t0));

# VmHWM is the peak over the worker's life, so a last read after the apply catches what sampling missed.
for my $pid (keys %pids)
{
	my $s = proc_status($pid);
	$peak{VmHWM} = $s->{VmHWM} if ($s->{VmHWM} // 0) > $peak{VmHWM};
}
note(sprintf('apply worker pids %s, %d samples (%d during the apply): peak VmHWM %d kB, VmRSS %d kB, RssAnon %d kB',
		join(',', sort keys %pids), $samples, $busy_samples, $peak{VmHWM}, $peak{VmRSS}, $peak{RssAnon}));
ok($busy_samples >= 3, "the worker's memory was sampled while it applied ($busy_samples samples)");
is(scalar keys %pids, 1, 'one apply worker did the whole transaction (no failure and restart)');
cmp_ok($peak{VmHWM},   '<', $limit_kb, "the apply worker's peak RSS (VmHWM) stays under 100 MB");
cmp_ok($peak{VmRSS},   '<', $limit_kb, "the apply worker's sampled RSS (VmRSS) stays under 100 MB");
cmp_ok($peak{RssAnon}, '<', $limit_kb, "the apply worker's private memory (RssAnon) stays under 100 MB");

ok(wait_converged(\@nodes), 'the mesh converges');
is($nb->safe_psql($db, 'SELECT count(*) || \'/\' || count(DISTINCT id) || \'/\' || min(id) || \'/\' || max(id) FROM t'),
	"$rows/$rows/1/$rows", 'node_b holds every row once');
assert_same_everywhere(\@nodes, 't', 't identical on both nodes');
my $p = peer_of($nb, 'node_a');
ok($p->{status} eq 'streaming' && !defined $p->{last_error}, 'node_b streams from node_a without error')
  or diag explain $p;

done_testing();
