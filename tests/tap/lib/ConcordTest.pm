# ConcordTest.pm — helpers for concord's multi-node TAP scenarios, on top of
# PostgreSQL::Test::Cluster.
#
# Every node gets the server settings concord needs (the API's list), one
# database ($ConcordTest::DB) with the extension and a node identity named
# after the Cluster node.  Waits are bounded and poll a condition
# (poll_query_until or a condition loop); nothing waits by sleeping a fixed
# time.  Helpers that compare nodes fix the session's output settings
# (DateStyle, TimeZone, ...) so differently configured nodes compare equal
# when they hold the same values.
package ConcordTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  started_server concord_node concord_nodes dsn_of
  sql_all create_table_everywhere
  subscribe full_mesh chain wait_streaming
  wait_converged wait_for_peers_on poll_until wait_for_condition
  table_digest assert_same_everywhere assert_every_id_once rows_of
  peers peer_of assert_links_streaming assert_no_resource_warnings worker_pid proc_status
  crash_node diag_peers start_stream
);

# Database holding the mesh on every node.
our $DB = 'concord';

# Default bound, in seconds, of every wait.
our $TIMEOUT = $ENV{CONCORD_TAP_TIMEOUT} || 60;

# Session settings for comparisons: the same text for the same values on every node.
my $STABLE_OUTPUT =
    "SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; "
  . "SET extra_float_digits = 3; SET bytea_output = 'hex'; ";

# True if this server knows output_plugin_libraries (15.19 and later load only
# the output plugins it lists; older servers refuse to start if it is set).
my $has_opl;
sub _has_output_plugin_libraries
{
	if (!defined $has_opl)
	{
		my $config = `postgres --describe-config 2>/dev/null`;
		$has_opl = $config =~ /^output_plugin_libraries\t/m ? 1 : 0;
	}
	return $has_opl;
}

# started_server(NAME, conf => [lines]) — a started server configured for
# concord, with database $DB and the extension, but no node identity yet.
sub started_server
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', join(
			"\n",
			"shared_preload_libraries = 'concord'",
			"wal_level = logical",
			"track_commit_timestamp = on",
			"max_replication_slots = 16",
			"max_wal_senders = 16",
			"max_worker_processes = 32",
			(_has_output_plugin_libraries()
				? "output_plugin_libraries = 'pgoutput, test_decoding, concord'"
				: ()),
			"log_min_messages = info",
			@{ $opt{conf} // [] }));
	$node->start;
	$node->safe_psql('postgres', "CREATE DATABASE $DB");
	$node->safe_psql($DB, 'CREATE EXTENSION concord');
	return $node;
}

# concord_node(NAME, conf => [lines]) — a started node with concord
# installed in $DB and a node identity NAME.  NAME must be a valid concord node
# name ([a-z][a-z0-9_]*).
sub concord_node
{
	my ($name, %opt) = @_;
	my $node = started_server($name, %opt);
	my $dsn = dsn_of($node);
	$node->safe_psql($DB, "SELECT concord.create_node('$name', '$dsn')");
	return $node;
}

# concord_nodes(NAME...) or concord_nodes([NAME...], conf => [...]) — several nodes.
sub concord_nodes
{
	my @args = @_;
	if (ref $args[0] eq 'ARRAY')
	{
		my ($names, %opt) = @args;
		return map { concord_node($_, %opt) } @$names;
	}
	return map { concord_node($_) } @args;
}

# How peers reach NODE: its socket directory and port (servers listen on no
# TCP address), as the bootstrap superuser (initdb names it after the OS user).
sub dsn_of
{
	my ($node) = @_;
	return sprintf('host=%s port=%d dbname=%s user=%s',
		$node->host, $node->port, $DB, scalar getpwuid($<));
}

# Runs SQL in $DB on every node of the array ref.
sub sql_all
{
	my ($nodes, $sql) = @_;
	$_->safe_psql($DB, $sql) for @$nodes;
	return;
}

# create_table_everywhere(NODES, DDL, [RELATION...]) — runs DDL on every node,
# then concord.add_table for each relation (text as for regclass input).
sub create_table_everywhere
{
	my ($nodes, $ddl, @relations) = @_;
	for my $n (@$nodes)
	{
		$n->safe_psql($DB, $ddl);
		for my $rel (@relations)
		{
			my $lit = $rel;
			$lit =~ s/'/''/g;
			$n->safe_psql($DB, "SELECT concord.add_table('$lit')");
		}
	}
	return;
}

# subscribe(SUBSCRIBER, PROVIDER) — SUBSCRIBER pulls PROVIDER's changes.
sub subscribe
{
	my ($sub, $prov) = @_;
	my $dsn = dsn_of($prov);
	$sub->safe_psql($DB,
		"SELECT concord.subscribe('" . $prov->name . "', '$dsn')");
	return;
}

# full_mesh(NODES) — every node subscribes to every other; waits until every
# apply worker streams.
sub full_mesh
{
	my ($nodes) = @_;
	for my $s (@$nodes)
	{
		for my $p (@$nodes)
		{
			subscribe($s, $p) unless $s == $p;
		}
	}
	wait_streaming($_) for @$nodes;
	return;
}

# chain(N1, N2, ...) — N2 subscribes to N1, N3 to N2, ... (no other links).
sub chain
{
	my @nodes = @_;
	subscribe($nodes[$_], $nodes[ $_ - 1 ]) for 1 .. $#nodes;
	wait_streaming($nodes[$_]) for 1 .. $#nodes;
	return;
}

# poll_until(NODE, SQL, EXPECTED, TIMEOUT) — poll_query_until in $DB, bounded
# by TIMEOUT seconds (default $TIMEOUT).  Returns true on success.
sub poll_until
{
	my ($node, $sql, $expected, $timeout) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $timeout // $TIMEOUT;
	return $node->poll_query_until($DB, $sql, $expected // 't');
}

# wait_for_condition(CODE, TIMEOUT, STEP_MS) — calls CODE until it returns true
# or TIMEOUT seconds pass; for conditions outside SQL (processes, files).
sub wait_for_condition
{
	my ($code, $timeout, $step_ms) = @_;
	my $deadline = time + ($timeout // $TIMEOUT);
	while (1)
	{
		return 1 if $code->();
		return 0 if time > $deadline;
		usleep(1000 * ($step_ms // 50));
	}
}

# wait_streaming(NODE) — every peer of NODE has a running worker in state streaming.
sub wait_streaming
{
	my ($node, $timeout) = @_;
	my $ok = poll_until($node,
		"SELECT count(*) > 0 AND bool_and(status = 'streaming' AND worker_pid IS NOT NULL) "
		  . "FROM concord.peers",
		't', $timeout);
	diag_peers($node) unless $ok;
	BAIL_OUT($node->name . ": apply workers did not reach state streaming") unless $ok;
	return 1;
}

# wait_for_peers_on(NODE, SECONDS) — concord.wait_for_peers on NODE; true/false.
sub wait_for_peers_on
{
	my ($node, $seconds) = @_;
	$seconds //= $TIMEOUT;
	my $r = $node->safe_psql($DB, "SELECT concord.wait_for_peers('${seconds}s')");
	return $r eq 't';
}

# wait_converged(NODES, TIMEOUT) — wait_for_peers on every node (each bounded);
# true once each returned true.  On failure prints every node's concord.peers.
sub wait_converged
{
	my ($nodes, $timeout) = @_;
	for my $n (@$nodes)
	{
		next if wait_for_peers_on($n, $timeout);
		diag($n->name . ": concord.wait_for_peers timed out");
		diag_peers($_) for @$nodes;
		return 0;
	}
	return 1;
}

# table_digest(NODE, TABLE, WHERE) — "count:hash" of the rows, independent of
# row order and of the node's output settings.
sub table_digest
{
	my ($node, $table, $where) = @_;
	$where = $where ? "WHERE $where" : '';
	return $node->safe_psql($DB,
		$STABLE_OUTPUT
		  . "SELECT count(*) || ':' || coalesce(sum(hashtextextended(x::text, 0)::numeric), 0) "
		  . "FROM $table x $where");
}

# assert_same_everywhere(NODES, TABLE, NAME) — one test: equal digests on all nodes.
sub assert_same_everywhere
{
	my ($nodes, $table, $name, $where) = @_;
	my %digest = map { $_->name => table_digest($_, $table, $where) } @$nodes;
	my %distinct = reverse %digest;
	my $ok = ok(keys %distinct == 1, $name);
	diag(explain \%digest) unless $ok;
	return $ok;
}

# assert_every_id_once(\@NODES, TABLE, \%WANT, LABEL) — one test per node: TABLE
# (with columns origin and id) holds, per origin, exactly WANT{origin} rows
# with as many distinct ids — every write once, none lost, none twice.
sub assert_every_id_once
{
	my ($nodes, $table, $want, $label) = @_;
	for my $n (@$nodes)
	{
		is( $n->safe_psql($DB,
				"SELECT string_agg(origin || '=' || c || '/' || d, ',' ORDER BY origin) FROM "
				  . "(SELECT origin, count(*) c, count(DISTINCT id) d FROM $table GROUP BY origin) s"),
			join(',', map { "$_=$want->{$_}/$want->{$_}" } sort keys %$want),
			$n->name . ": ${label}every id exactly once, per origin");
	}
	return;
}

# rows_of(NODE, SQL) — the query's rows as text (stable output settings).
sub rows_of
{
	my ($node, $sql) = @_;
	return $node->safe_psql($DB, $STABLE_OUTPUT . $sql);
}

# peers(NODE) — concord.peers as an array of hash refs, ordered by peer name.
sub peers
{
	my ($node) = @_;
	my $json = $node->safe_psql($DB,
		"SELECT coalesce(json_agg(p ORDER BY p.peer_name), '[]') FROM concord.peers p");
	return decode_json($json);
}

# peer_of(NODE, PEER_NAME) — NODE's concord.peers row for PEER_NAME (hash ref or undef).
sub peer_of
{
	my ($node, $peer) = @_;
	my ($row) = grep { $_->{peer_name} eq $peer } @{ peers($node) };
	return $row;
}

# assert_links_streaming(\@NODES) — one test per link of each node: it
# streams and shows no error.
sub assert_links_streaming
{
	my ($nodes) = @_;
	for my $n (@$nodes)
	{
		for my $p (@{ peers($n) })
		{
			ok($p->{status} eq 'streaming' && !defined $p->{last_error},
				$n->name . " from $p->{peer_name}: streaming without error")
			  or diag explain $p;
		}
	}
	return;
}

# assert_no_resource_warnings(\@NODES) — one test per node: its server log
# has none of the warnings PostgreSQL gives when it cleans up after code
# that left something open at commit (a relation, buffer, snapshot, tuple
# descriptor or cache reference; an SPI connection).  They do not fail the
# transaction, so only the log shows them.
sub assert_no_resource_warnings
{
	my ($nodes) = @_;
	for my $n (@$nodes)
	{
		my @found = grep { /reference leak|refcount leak|non-empty SPI stack|was not closed/ }
		  split /\n/, slurp_file($n->logfile);
		is(scalar(@found), 0, $n->name . ': no resource left open at commit')
		  or diag join("\n", @found[0 .. ($#found < 4 ? $#found : 4)]);
	}
	return;
}

# worker_pid(NODE, PEER_NAME) — pid of NODE's apply worker for PEER_NAME, or undef.
sub worker_pid
{
	my ($node, $peer) = @_;
	my $row = peer_of($node, $peer);
	return $row ? $row->{worker_pid} : undef;
}

# proc_status(PID) — hash of /proc/PID/status memory fields in kB (VmHWM,
# VmRSS, RssAnon, RssFile, RssShmem); empty if the process is gone.
sub proc_status
{
	my ($pid) = @_;
	my %s;
	open(my $fh, '<', "/proc/$pid/status") or return \%s;
	while (my $line = <$fh>)
	{
		$s{$1} = $2 if $line =~ /^(Vm\w+|Rss\w+):\s+(\d+)\s+kB/;
	}
	close $fh;
	return \%s;
}

# Pids of the children of PID (from /proc).
sub _children_of
{
	my ($ppid) = @_;
	my @kids;
	opendir(my $dh, '/proc') or return @kids;
	for my $pid (grep { /^\d+$/ } readdir $dh)
	{
		open(my $fh, '<', "/proc/$pid/stat") or next;
		my $stat = <$fh>;
		close $fh;
		next unless defined $stat;
		# comm may contain spaces and parentheses: split after the last ')'.
		my ($rest) = $stat =~ /\)\s+(.*)$/s or next;
		my @f = split ' ', $rest;
		push @kids, $pid if $f[1] == $ppid;
	}
	closedir $dh;
	return @kids;
}

# True while PID exists and is not a zombie (a dead process not yet reaped
# holds no resources of the node).
sub _alive
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh>;
	close $fh;
	return 0 unless defined $stat;
	my ($state) = $stat =~ /\)\s+(\S)/;
	return defined $state && $state ne 'Z';
}

# crash_node(NODE, all => BOOL) — kill -9 NODE's postmaster (and, with all =>
# 1, every one of its processes at the same instant); waits until every
# process of the node is gone, so the node can be started again (which runs
# crash recovery).
sub crash_node
{
	my ($node, %opt) = @_;
	my $pm = $node->{_pid};
	BAIL_OUT($node->name . " is not running") unless defined $pm;
	my @kids = _children_of($pm);
	$node->kill9;
	kill 'KILL', @kids if $opt{all} && @kids;
	# The postmaster's pid must be gone entirely (a new postmaster refuses to
	# start while the pid in postmaster.pid exists, even as a zombie); its
	# children only need to be dead (they no longer hold shared memory).
	my $gone = wait_for_condition(sub { !kill(0, $pm) && !grep { _alive($_) } @kids }, $TIMEOUT, 10);
	BAIL_OUT($node->name . ": processes survived kill -9 of the postmaster") unless $gone;
	return;
}

# start_stream(NODE, FROM, TO, ORIGIN, PAUSE_EVERY) — starts, in the
# background, a stream of single-row transactions INSERT INTO public.t (id,
# origin) for id FROM..TO at NODE (one COMMIT per row, pausing 10 ms every
# PAUSE_EVERY rows, default 10, so the stream lasts a while).  Returns the
# IPC::Run harness (->finish waits for it and is true if psql succeeded) and,
# in list context, a reference to psql's stderr.
sub start_stream
{
	my ($node, $from, $to, $origin, $every) = @_;
	$every //= 10;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($DB), '-c',
			"DO \$\$ BEGIN FOR i IN $from..$to LOOP "
			  . "INSERT INTO public.t (id, origin) VALUES (i, '$origin'); COMMIT; "
			  . "IF i % $every = 0 THEN PERFORM pg_sleep(0.01); END IF; END LOOP; END \$\$"
		],
		'<', \undef, '>', \$out, '2>', \$err);
	return wantarray ? ($h, \$err) : $h;
}

# diag_peers(NODE) — prints NODE's concord.peers (for failure reports).
sub diag_peers
{
	my ($node) = @_;
	my ($ret, $out, $err) = $node->psql($DB,
		"SELECT peer_name, status, worker_pid, received_lsn, applied_lsn, lag_bytes, failures, "
		  . "last_error_at, last_error FROM concord.peers ORDER BY 1",
		extra_params => [ '-x' ]);
	diag($node->name . " concord.peers:\n" . ($ret == 0 ? $out : $err));
	return;
}

1;
