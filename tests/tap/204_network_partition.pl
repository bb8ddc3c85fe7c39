# 204_network_partition.pl — real network partitions between nodes in network
# namespaces this test creates itself.
#
# Topology (ConcordFaults): a private network world of the test's own (as
# root: new network and mount namespaces; otherwise also a user namespace
# mapping only our uid), a switch namespace cc_sw with bridge br0, and one
# namespace per node (cc_node_a, ...) whose eth0 is joined to the bridge by a
# veth pair, on 10.77.0.0/24.  Each server runs inside its node's namespace
# and listens on that address only; peers' DSNs name only those addresses.
# The test itself talks to the servers through their Unix sockets.
#
#   1. node_c is cut off silently: every packet to and from it is dropped at
#      both ends of its link (no RST, no ICMP) for 6 x concord.peer_timeout,
#      while all three nodes keep writing.  node_a and node_b keep
#      replicating between themselves, each side detects the lost peers
#      within a bound derived from concord.peer_timeout, node_c's own writes
#      go on; after the link is healed everything converges.
#   2. node_b's switch port is set down (the host sees no carrier) for a
#      shorter while; node_a and node_c go on, then it converges again.
#   At the end every id written anywhere is on every node exactly once and
#   every link streams with its error cleared.
#
# Namespaces, links and servers are removed in END (ConcordFaults); if the
# sandbox allows neither root nor unprivileged user namespaces the test skips
# and says why.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordFaults;
use File::Basename qw(basename);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $why = enter_private_network();
plan skip_all => "network namespaces are not available here: $why" if $why ne '';
note('private network world: ' . (net_mode() eq 'root' ? 'root' : 'unprivileged user namespace'));

my $PEER_TIMEOUT = 5;                     # seconds
my $DETECT_BOUND = $PEER_TIMEOUT + 5;     # timeout, a feedback round, polling
my $ARRIVE_BOUND = 10;                    # a healthy link delivers within this
my $HEAL_BOUND   = 90;                    # a healed link delivers within this
my $db = 'concord';

# --- The network and the servers ---------------------------------------------
my %addr = (node_a => '10.77.0.1', node_b => '10.77.0.2', node_c => '10.77.0.3');
net_switch();
net_add_host($_, $addr{$_}) for sort keys %addr;

my $testname = basename($0) =~ s/\.pl$//r;
my $base = PostgreSQL::Test::Utils::tempdir_short();
chmod 0755, $base;
my @conf = (
	"shared_preload_libraries = 'concord'",
	'wal_level = logical',
	'track_commit_timestamp = on',
	'max_replication_slots = 16',
	'max_wal_senders = 16',
	'max_worker_processes = 32',
	(ConcordFaults::NetNode::has_output_plugin_libraries()
		? "output_plugin_libraries = 'pgoutput, test_decoding, concord'"
		: ()),
	"concord.peer_timeout = ${PEER_TIMEOUT}s",
	'concord.retry_delay_max = 2s',
	'log_min_messages = info');
my %node;
for my $name (sort keys %addr)
{
	$node{$name} = ConcordFaults::NetNode->new($name, $addr{$name}, $base,
		conf => \@conf,
		logfile => "$PostgreSQL::Test::Utils::log_path/${testname}_$name.log");
	$node{$name}->start;
}
my @nodes = map { $node{$_} } sort keys %node;
my ($na, $nb, $nc) = @nodes;

for my $n (@nodes)
{
	$n->safe_psql('CREATE DATABASE concord', db => 'postgres');
	$n->safe_psql('CREATE EXTENSION concord; SELECT concord.create_node(\'' . $n->name . "', '" . $n->dsn . "')");
	$n->safe_psql('CREATE TABLE public.t (id int PRIMARY KEY, origin text NOT NULL, '
		  . 'at timestamptz DEFAULT clock_timestamp()); '
		  . "SELECT concord.add_table('public.t'); "
		  . 'CREATE TABLE public.stop_writers (stop boolean)');    # local only
}
for my $s (@nodes)
{
	for my $p (@nodes)
	{
		next if $s == $p;
		$s->safe_psql("SELECT concord.subscribe('" . $p->name . "', '" . $p->dsn . "')");
	}
}
for my $n (@nodes)
{
	ok( $n->poll_until(
			"SELECT count(*) = 2 AND bool_and(status = 'streaming' AND worker_pid IS NOT NULL) FROM concord.peers",
			't', 60),
		$n->name . ': streams from both peers over the private subnet');
	is( $n->safe_psql("SELECT string_agg(split_part(split_part(peer_dsn, 'host=''', 2), '''', 1), ',' "
			  . 'ORDER BY peer_name) FROM concord.peers'),
		join(',', map { $addr{ $_->name } } grep { $_ != $n } @nodes),
		$n->name . ': its peers are reached at their namespace addresses only');
}

# --- Helpers ------------------------------------------------------------------
my $marker = 9_000_000;
my %base_id = (node_a => 1_000_000, node_b => 2_000_000, node_c => 3_000_000);
my %next_id = %base_id;

sub wait_for_peers_on
{
	my ($n, $seconds, $peers) = @_;
	my $list = $peers ? ", ARRAY[" . join(',', map { "'$_'" } @$peers) . ']' : '';
	return $n->safe_psql("SELECT concord.wait_for_peers('${seconds}s'$list)", timeout => $seconds + 30) eq 't';
}

sub converged
{
	my ($timeout) = @_;
	for my $n (@nodes)
	{
		next if wait_for_peers_on($n, $timeout);
		diag($n->name . ': wait_for_peers timed out');
		diag($_->name . " concord.peers:\n" . $_->safe_psql(
				'SELECT peer_name, status, failures, last_error FROM concord.peers ORDER BY 1')) for @nodes;
		return 0;
	}
	return 1;
}

# arrives(FROM, TO, WHAT, BOUND) — a marker row written at FROM shows up at TO.
sub arrives
{
	my ($from, $to, $what, $bound) = @_;
	$bound //= $ARRIVE_BOUND;
	my $id = ++$marker;
	my $t0 = time;
	$from->safe_psql("INSERT INTO public.t (id, origin) VALUES ($id, 'marker')");
	my $ok = $to->poll_until("SELECT count(*) FROM public.t WHERE id = $id", '1', $bound);
	ok($ok, sprintf('%s: a row written at %s arrives at %s within %ds (%.1fs)',
			$what, $from->name, $to->name, $bound, time - $t0));
	return $ok;
}

# detects(NODE, PEER, SINCE_SQL, T0) — NODE shows PEER as error/connecting
# with an error newer than the cut, within the bound.
sub detects
{
	my ($n, $peer, $since, $t0) = @_;
	my $seen = $n->poll_until(
		"SELECT status IN ('error', 'connecting') AND last_error_at > '$since' "
		  . "FROM concord.peers WHERE peer_name = '$peer'",
		't', 3 * $DETECT_BOUND);
	my $elapsed = time - $t0;
	ok($seen && $elapsed <= $DETECT_BOUND,
		sprintf('%s detects that %s is cut off within %ds (concord.peer_timeout = %ds): after %.1fs',
			$n->name, $peer, $DETECT_BOUND, $PEER_TIMEOUT, $elapsed));
	note($n->name . " sees $peer as: "
		  . $n->safe_psql("SELECT status || ': ' || coalesce(last_error, '') FROM concord.peers WHERE peer_name = '$peer'"));
	return;
}

# The cut is real: from FROM's namespace a TCP connection to TO times out.
sub unreachable
{
	my ($from, $to, $what) = @_;
	my ($rc, $out) = ConcordFaults::_run(ConcordFaults::net_exec_prefix($from->name),
		ConcordFaults::NetNode::_bin('psql'), '-X', '-At', '-c', 'SELECT 1',
		'host=' . $to->addr . " port=5432 dbname=$db user=postgres connect_timeout=2");
	ok($rc != 0, "$what: a connection from " . $from->name . ' to ' . $to->name . ' fails')
	  or diag $out;
	return;
}

my %writer;
sub start_writers
{
	for my $n (@nodes)
	{
		my ($h, $err) = $n->start_writer($next_id{ $n->name }, $n->name);
		$writer{ $n->name } = [ $h, $err ];
	}
	return;
}

sub stop_writers
{
	for my $n (@nodes)
	{
		$n->safe_psql('INSERT INTO public.stop_writers VALUES (true)');
		my ($h, $err) = @{ delete $writer{ $n->name } };
		ok($h->finish, $n->name . "'s writer ran to its end without error") or diag $$err;
		$n->safe_psql('TRUNCATE public.stop_writers');
		$next_id{ $n->name } = 1 + $n->safe_psql(
			"SELECT coalesce(max(id), $next_id{$n->name} - 1) FROM public.t WHERE origin = '" . $n->name . "'");
	}
	return;
}

sub own_rows
{
	my ($n) = @_;
	return $n->safe_psql("SELECT count(*) FROM public.t WHERE origin = '" . $n->name . "'");
}

# partition(CUT_NODE, HOW, SECONDS) — one partition scenario.
sub partition
{
	my ($cut, $how, $seconds) = @_;
	my @healthy = grep { $_ != $cut } @nodes;
	my ($h1, $h2) = @healthy;
	my $label = $cut->name . " cut ($how)";

	start_writers();
	arrives($h1, $h2, "$label, before");
	arrives($cut, $h1, "$label, before");

	my $since = $h1->safe_psql('SELECT clock_timestamp()');
	my $t_cut = time;
	net_cut($cut->name, $how);
	note(sprintf('%s at %s', $label, $since));
	unreachable($h1, $cut, $label);
	unreachable($cut, $h2, $label);

	arrives($h1, $h2, "$label, just after the cut");
	arrives($h2, $h1, "$label, just after the cut");
	detects($_, $cut->name, $since, $t_cut) for @healthy;
	detects($cut, $_->name, $since, $t_cut) for @healthy;

	my $cut_rows = own_rows($cut);
	my $round = 0;
	while (time - $t_cut < $seconds)
	{
		$round++;
		arrives($h1, $h2, "$label, round $round");
		arrives($h2, $h1, "$label, round $round");
		wait_until(sub { time - $t_cut >= $round * 2 * $PEER_TIMEOUT }, 3 * $PEER_TIMEOUT);
	}
	ok(wait_for_peers_on($h1, 20, [ $h2->name ]),
		$h1->name . ": wait_for_peers for " . $h2->name . " alone returns true while " . $cut->name . " is cut off");
	for my $n (@healthy)
	{
		my $st = $n->safe_psql("SELECT status FROM concord.peers WHERE peer_name = '" . $cut->name . "'");
		isnt($st, 'streaming', $n->name . ': after ' . int(time - $t_cut) . 's ' . $cut->name . " is still shown as $st");
	}
	ok(own_rows($cut) > $cut_rows, $cut->name . ' kept writing on its side of the cut');
	for my $n ($cut)
	{
		my $seen = $n->safe_psql("SELECT count(*) FROM public.t WHERE origin IN ('" . $h1->name . "', '" . $h2->name
			  . "') AND at > '$since'::timestamptz + interval '2 seconds'");
		is($seen, '0', $cut->name . ' received nothing the others wrote after the cut');
	}

	my $t_heal = time;
	net_heal($cut->name);
	note(sprintf('%s healed after %.1fs', $label, $t_heal - $t_cut));
	arrives($h1, $cut, "$label, healed", $HEAL_BOUND);
	arrives($cut, $h2, "$label, healed", $HEAL_BOUND);
	note(sprintf('%s: links carry data again %.1fs after the heal', $label, time - $t_heal));
	stop_writers();
	my $t_conv = time;
	ok(converged(180), "$label: after the heal the mesh converges");
	note(sprintf('%s: converged %.1fs after the writers stopped', $label, time - $t_conv));
	return;
}

# --- Before: the mesh works ------------------------------------------------------
for my $n (@nodes)
{
	my $from = $next_id{ $n->name };
	$n->safe_psql("INSERT INTO public.t (id, origin) SELECT g, '" . $n->name . "' FROM generate_series($from, $from + 99) g");
	$next_id{ $n->name } += 100;
}
ok(converged(60), 'before any cut the mesh converges');

partition($nc, 'drop', 6 * $PEER_TIMEOUT);
partition($nb, 'down', 4 * $PEER_TIMEOUT);

# --- Exactly once ------------------------------------------------------------------
my %want = (marker => $marker - 9_000_000);
for my $n (@nodes)
{
	$want{ $n->name } = own_rows($n);
	my ($lo, $hi) = split /\|/, $n->safe_psql("SELECT min(id), max(id) FROM public.t WHERE origin = '" . $n->name . "'");
	is($hi - $lo + 1, $want{ $n->name }, $n->name . "'s own ids are contiguous ($want{$n->name} rows)");
}
note('rows per origin: ' . join(', ', map { "$_=$want{$_}" } sort keys %want));
my %digest;
for my $n (@nodes)
{
	is( $n->safe_psql("SELECT string_agg(origin || '=' || c || '/' || d, ',' ORDER BY origin) FROM "
			  . "(SELECT origin, count(*) c, count(DISTINCT id) d FROM public.t GROUP BY origin) s"),
		join(',', map { "$_=$want{$_}/$want{$_}" } sort keys %want),
		$n->name . ': every id exactly once, per origin');
	$digest{ $n->name } = $n->safe_psql("SET TimeZone = 'UTC'; SELECT count(*) || ':' || "
		  . 'coalesce(sum(hashtextextended(x::text, 0)::numeric), 0) FROM public.t x');
}
my %distinct = reverse %digest;
is(scalar keys %distinct, 1, 'public.t is identical on every node') or diag explain \%digest;

for my $n (@nodes)
{
	ok( $n->poll_until("SELECT bool_and(status = 'streaming' AND last_error IS NULL) FROM concord.peers", 't', 60),
		$n->name . ': every link streams again, errors cleared');
}

done_testing();
