# ConcordConflicts.pm — helpers for concord's conflict, convergence and
# delta-counter TAP scenarios (tests/tap/1*.pl), on top of ConcordTest.
#
# What it adds:
#   - pausing and resuming single links or every link of a mesh, checking
#     that each call took effect (pause: at once; resume: a worker streams);
#   - transactions whose commit timestamp is known: each ends by inserting a
#     label into a local, not replicated table public.txlog, whose row's xmin
#     gives the commit timestamp; timestamps are kept by label so that
#     concord.conflicts rows can be compared with "which write was that";
#   - concord.conflicts rows rendered as one comparable line each;
#   - waits for an apply error of a given kind in concord.peers.
# Every wait is bounded and polls; the only sleep is a 2 ms gap after a
# labelled commit, which keeps commit timestamps of consecutive labelled
# transactions strictly ordered.
package ConcordConflicts;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(
  install_txlog labelled_txn register_label ts_of label_of
  pause_link resume_link pause_all resume_all wait_applied_by
  conflict_lines conflict_line tup
  wait_peer_error peer_failures
  start_sql harness_running unexpected_errors
);

my $DB = $ConcordTest::DB;

# Commit timestamps (text, UTC) by label and labels by timestamp.
my %ts_of_label;
my %label_of_ts;

# Session settings under which timestamps are compared as text.
my $UTC = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; ";

# install_txlog(NODES) — the local (not replicated) table of labelled commits.
sub install_txlog
{
	my ($nodes) = @_;
	$_->safe_psql($DB, 'CREATE TABLE IF NOT EXISTS public.txlog (label text PRIMARY KEY)') for @$nodes;
	return;
}

# labelled_txn(NODE, LABEL, SQL) — runs SQL at NODE in one transaction that
# also records LABEL; returns the transaction's commit timestamp (text, UTC)
# and remembers it under LABEL.
sub labelled_txn
{
	my ($node, $label, $sql) = @_;
	die "label $label used twice" if exists $ts_of_label{$label};
	$node->safe_psql($DB, "BEGIN; $sql; INSERT INTO public.txlog VALUES ('$label'); COMMIT;");
	my $ts = $node->safe_psql($DB,
		$UTC . "SELECT pg_xact_commit_timestamp(xmin) FROM public.txlog WHERE label = '$label'");
	die "no commit timestamp for $label" if $ts eq '';
	$ts_of_label{$label} = $ts;
	$label_of_ts{$ts}    = $label;
	# The next labelled transaction commits strictly later.
	usleep(2000);
	return $ts;
}

# register_label(NODE, LABEL) — remembers the commit timestamp of a
# transaction committed elsewhere (a background session) that inserted LABEL
# into public.txlog; returns it.
sub register_label
{
	my ($node, $label) = @_;
	my $ts = $node->safe_psql($DB,
		$UTC . "SELECT pg_xact_commit_timestamp(xmin) FROM public.txlog WHERE label = '$label'");
	die "no commit timestamp for $label" if $ts eq '';
	$ts_of_label{$label} = $ts;
	$label_of_ts{$ts}    = $label;
	return $ts;
}

# ts_of(LABEL) — commit timestamp text of a labelled transaction.
sub ts_of { return $ts_of_label{ $_[0] }; }

# label_of(TS) — the label of a commit timestamp, '' for none, "?TS" if unknown.
sub label_of
{
	my ($ts) = @_;
	return '' if !defined $ts || $ts eq '';
	return $label_of_ts{$ts} // "?$ts";
}

# True once NODE's concord.peers row for PEER has STATUS.
sub _peer_status_is
{
	my ($node, $peer, $sql_cond) = @_;
	return poll_until($node,
		"SELECT $sql_cond FROM concord.peers WHERE peer_name = '$peer'", 't', 30);
}

# pause_link(SUBSCRIBER, PROVIDER) — SUBSCRIBER stops applying from PROVIDER.
sub pause_link
{
	my ($sub, $prov) = @_;
	my $p = ref $prov ? $prov->name : $prov;
	$sub->safe_psql($DB, "SELECT concord.pause('$p')");
	return;
}

# resume_link(SUBSCRIBER, PROVIDER) — resume and wait until a worker streams
# from PROVIDER again (one test; a resume that leaves the peer paused fails it,
# and is then repeated so that the scenario can go on).
sub resume_link
{
	my ($sub, $prov) = @_;
	my $p = ref $prov ? $prov->name : $prov;
	$sub->safe_psql($DB, "SELECT concord.resume('$p')");
	my $cond = "status IN ('streaming', 'error') AND worker_pid IS NOT NULL";
	my $ok = _peer_status_is($sub, $p, $cond);
	if (!$ok)
	{
		fail($sub->name . ": resume('$p') restarted the apply from $p");
		diag_peers($sub);
		$sub->safe_psql($DB, "SELECT concord.resume('$p')");
		_peer_status_is($sub, $p, $cond);
	}
	return $ok;
}

# pause_all(NODES) — every node stops applying from every other node.
sub pause_all
{
	my ($nodes) = @_;
	for my $s (@$nodes)
	{
		pause_link($s, $_) for grep { $_ != $s } @$nodes;
	}
	return;
}

# resume_all(NODES) — every paused link of the mesh is resumed.
sub resume_all
{
	my ($nodes) = @_;
	for my $s (@$nodes)
	{
		for my $p (grep { $_ != $s } @$nodes)
		{
			my $row = peer_of($s, $p->name);
			resume_link($s, $p) if $row && $row->{status} eq 'paused';
		}
	}
	return;
}

# wait_applied_by(PROVIDER, SUBSCRIBER...) — the named subscribers applied
# everything PROVIDER committed so far (concord.wait_for_peers with peers).
sub wait_applied_by
{
	my ($prov, @subs) = @_;
	my $list = join(',', map { "'" . (ref $_ ? $_->name : $_) . "'" } @subs);
	my $r = $prov->safe_psql($DB,
		"SELECT concord.wait_for_peers('${ConcordTest::TIMEOUT}s', ARRAY[$list])");
	diag_peers($_) for ($r eq 't' ? () : grep { ref $_ } @subs);
	return $r eq 't';
}

# tup(k => v, ...) — the rendering conflict_lines gives a tuple: its keys
# sorted, "key=value" joined by commas, NULL for SQL NULL.
sub tup
{
	my %f = @_;
	return join(',', map { "$_=" . ($f{$_} // 'NULL') } sort keys %f);
}

# conflict_line(KEY, TYPE, RESOLUTION, LOCAL_ORIGIN, REMOTE_ORIGIN,
# LOCAL_TS_LABEL, REMOTE_TS_LABEL, LOCAL_TUPLE, REMOTE_TUPLE) — one expected
# line as conflict_lines renders it; tuples from tup() or undef for none.
sub conflict_line
{
	my ($key, $type, $res, $lo, $ro, $lts, $rts, $lt, $rt) = @_;
	return join(' | ', $key, $type, $res, $lo // '', $ro // '', $lts // '', $rts // '',
		$lt // 'none', $rt // 'none');
}

# conflict_lines(NODE, TABLE, WHERE) — the table's concord.conflicts rows at
# NODE, sorted, each "key | type | resolution | local origin | remote origin
# | local ts label | remote ts label | local tuple | remote tuple".  The key
# is KEYCOL of the remote tuple (or of the local one).
sub conflict_lines
{
	my ($node, $table, $keycol, $where) = @_;
	$keycol //= 'id';
	my $extra = $where ? "AND ($where)" : '';
	my $render = sub {
		my ($col) = @_;
		return "CASE WHEN $col IS NULL THEN 'none' ELSE (SELECT string_agg(k || '=' || coalesce("
		  . $col
		  . " ->> k, 'NULL'), ',' ORDER BY k COLLATE \"C\") FROM jsonb_object_keys($col) k) END";
	};
	my $out = $node->safe_psql($DB,
		$UTC
		  . "SELECT coalesce(remote_tuple->>'$keycol', local_tuple->>'$keycol', '?'), conflict_type, resolution, "
		  . "coalesce(local_origin, ''), coalesce(remote_origin, ''), "
		  . "coalesce(local_commit_ts::text, ''), coalesce(remote_commit_ts::text, ''), "
		  . $render->('local_tuple') . ', '
		  . $render->('remote_tuple')
		  . " FROM concord.conflicts WHERE relation = '$table'::regclass $extra ORDER BY conflict_id");
	my @lines;
	for my $row (split /\n/, $out)
	{
		my @f = split /\|/, $row, -1;
		$f[5] = label_of($f[5]);
		$f[6] = label_of($f[6]);
		push @lines, join(' | ', @f);
	}
	return [ sort @lines ];
}

# peer_failures(NODE, PEER) — concord.peers.failures (0 when NULL).
sub peer_failures
{
	my ($node, $peer) = @_;
	return $node->safe_psql($DB,
		"SELECT coalesce(failures, 0) FROM concord.peers WHERE peer_name = '$peer'");
}

# wait_peer_error(NODE, PEER, LIKE, MIN_FAILURES) — waits until NODE's apply
# from PEER shows status 'error' with last_error LIKE the pattern, a
# last_error_at, and at least MIN_FAILURES failures.  True on success;
# prints concord.peers otherwise.
sub wait_peer_error
{
	my ($node, $peer, $like, $min_failures) = @_;
	$min_failures //= 1;
	(my $lit = $like) =~ s/'/''/g;
	my $ok = poll_until($node,
		"SELECT status = 'error' AND last_error LIKE '$lit' AND last_error_at IS NOT NULL "
		  . "AND failures >= $min_failures FROM concord.peers WHERE peer_name = '$peer'",
		't', 60);
	diag_peers($node) unless $ok;
	return $ok;
}

# start_sql(NODE, SQL) — runs SQL (one psql -c, so a DO block may COMMIT) at
# NODE in the background.  Returns the IPC::Run harness (->finish waits and
# is true if psql succeeded) and, in list context, a reference to its stderr.
sub start_sql
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($DB), '-c', $sql ],
		'<', \undef, '>', \$out, '2>', \$err);
	return wantarray ? ($h, \$err) : $h;
}

# harness_running(HARNESS) — true while the process of an IPC::Run harness
# runs (reads what it wrote so far, so a finished one is seen as finished).
sub harness_running
{
	my ($h) = @_;
	return 0 unless $h->pumpable;
	eval { $h->pump_nb; };
	return $h->pumpable;
}

# unexpected_errors(STDERR_TEXT, EXPECTED_RE) — the ERROR lines of a psql
# run that do not match EXPECTED_RE.
sub unexpected_errors
{
	my ($text, $expected) = @_;
	return grep { /ERROR/ && !/$expected/ } split /\n/, $text;
}

1;
