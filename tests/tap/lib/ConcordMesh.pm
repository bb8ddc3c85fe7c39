# ConcordMesh.pm — helpers for the membership scenarios (tests/tap/3*.pl):
# nodes that are not yet members, join_mesh / leave_mesh, a bounded
# background write load whose every write is logged, and checks of the
# replication objects (slots, subscriptions, origins) a membership leaves.
#
# The load: every node runs public.run_load(), a procedure that loops over
# small transactions (inserts of the node's own ids, updates and deletes of
# its own rows, updates of other nodes' rows) against public.t, until
# public.load_control.stop is set or its own deadline passes.  Each write is
# logged in public.load_log in the same transaction, so after the load the
# ids that must exist are known exactly: every id inserted anywhere and not
# deleted by its owner.  Owners never delete ids divisible by 10, and only
# those ids receive updates from other nodes, so no update races a delete
# and the final set of ids does not depend on conflict resolution (the
# values of the rows do; the nodes must still agree on them).  load_log and
# load_control are not replicated.
#
# Nothing here waits by sleeping: waits poll a condition, bounded.
package ConcordMesh;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use ConcordTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  blank_node join_mesh leave_mesh
  $LOAD_SCHEMA seed_rows start_load stop_loads load_count
  expected_ids ids_of assert_ids_everywhere
  link_name concord_slots slots_for_node subscriptions_to origins_of
  assert_healthy peak_memory
);

my $DB = $ConcordTest::DB;

# A server configured like ConcordTest::concord_node's, with database $DB and
# the extension, but no node identity: a database about to join a mesh.
sub blank_node { return started_server(@_); }

# join_mesh(NODE, VIA, TIMEOUT) — concord.join_mesh on NODE (named after the
# cluster node) through member VIA.  Returns (exit code, stdout, stderr) of psql.
sub join_mesh
{
	my ($node, $via, $timeout) = @_;
	$timeout //= '5min';
	my ($dsn, $via_dsn) = (dsn_of($node), dsn_of($via));
	return $node->psql($DB,
		"SELECT concord.join_mesh('" . $node->name . "', '$dsn', '$via_dsn', '$timeout')");
}

# leave_mesh(NODE) — concord.leave_mesh on NODE; (exit code, stdout, stderr).
sub leave_mesh
{
	my ($node) = @_;
	return $node->psql($DB, 'SELECT concord.leave_mesh()');
}

# The replicated table of the load, its log, its switch and the load itself;
# run on every node (DDL is not replicated), then add_table public.t.
our $LOAD_SCHEMA = q{
	CREATE TABLE public.t (
		id      bigint PRIMARY KEY,
		owner   text NOT NULL,
		v       int NOT NULL DEFAULT 0,
		touched int NOT NULL DEFAULT 0,
		note    text);
	CREATE TABLE public.load_log (id bigint NOT NULL, op "char" NOT NULL);
	CREATE INDEX ON public.load_log (id);
	CREATE TABLE public.load_control (stop boolean NOT NULL);
	INSERT INTO public.load_control VALUES (false);
	-- run_load(me, base, sleep_ms, max_seconds): writes ids base+1, base+2, ...
	CREATE PROCEDURE public.run_load(me text, base bigint, sleep_ms int, max_seconds int)
	LANGUAGE plpgsql AS $$
	DECLARE
		deadline timestamptz := clock_timestamp() + make_interval(secs => max_seconds);
		n bigint := 0;
		i int := 0;
		victim bigint;
		hit bigint;
		top bigint;
	BEGIN
		LOOP
			EXIT WHEN (SELECT stop FROM public.load_control) OR clock_timestamp() > deadline;
			i := i + 1;
			-- three new rows of our own
			INSERT INTO public.t (id, owner, v, note)
				SELECT base + n + g, me, 0, md5((base + n + g)::text) FROM generate_series(1, 3) g;
			INSERT INTO public.load_log SELECT base + n + g, 'i' FROM generate_series(1, 3) g;
			n := n + 3;
			-- update one of our rows
			victim := base + 1 + floor(random() * n)::bigint;
			UPDATE public.t SET v = v + 1, note = 'u' || i WHERE id = victim AND owner = me RETURNING id INTO hit;
			IF hit IS NOT NULL THEN
				INSERT INTO public.load_log VALUES (hit, 'u');
			END IF;
			-- every third round, delete one of our rows (never one divisible by 10)
			IF i % 3 = 0 THEN
				victim := base + 1 + floor(random() * n)::bigint;
				hit := NULL;
				IF victim % 10 <> 0 THEN
					DELETE FROM public.t WHERE id = victim AND owner = me RETURNING id INTO hit;
				END IF;
				IF hit IS NOT NULL THEN
					INSERT INTO public.load_log VALUES (hit, 'd');
				END IF;
			END IF;
			-- every other round, touch a row of another node (divisible by 10)
			IF i % 2 = 0 THEN
				SELECT max(id) INTO top FROM public.t;
				hit := NULL;
				UPDATE public.t SET touched = touched + 1
				 WHERE id = (SELECT id FROM public.t
				              WHERE id >= floor(random() * top) AND id % 10 = 0 AND owner <> me
				              ORDER BY id LIMIT 1)
				RETURNING id INTO hit;
				IF hit IS NOT NULL THEN
					INSERT INTO public.load_log VALUES (hit, 't');
				END IF;
			END IF;
			COMMIT;
			IF sleep_ms > 0 THEN
				PERFORM pg_sleep(sleep_ms / 1000.0);
			END IF;
		END LOOP;
	END $$;
};

# seed_rows(NODE, FROM, TO) — rows FROM..TO owned by NODE, in one transaction, logged.
sub seed_rows
{
	my ($node, $from, $to) = @_;
	my $me = $node->name;
	$node->safe_psql($DB,
		"BEGIN; INSERT INTO public.t (id, owner, note) SELECT g, '$me', md5(g::text) "
		  . "FROM generate_series($from, $to) g; "
		  . "INSERT INTO public.load_log SELECT g, 'i' FROM generate_series($from, $to) g; COMMIT;");
	return;
}

# start_load(NODE, BASE, SLEEP_MS, MAX_SECONDS) — starts run_load at NODE in
# the background (ids BASE+1...).  Returns a handle for stop_loads.
sub start_load
{
	my ($node, $base, $sleep_ms, $max_seconds) = @_;
	$sleep_ms    //= 10;
	$max_seconds //= 150;
	$node->safe_psql($DB, 'UPDATE public.load_control SET stop = false');
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($DB), '-c',
			"CALL public.run_load('" . $node->name . "', $base, $sleep_ms, $max_seconds)"
		],
		'<', \undef, '>', \$out, '2>', \$err);
	return { node => $node, h => $h, err => \$err };
}

# stop_loads(LOAD...) — tells each load to stop and waits for it; one test
# per load: it ended by being told, without error.
sub stop_loads
{
	my @loads = @_;
	$_->{node}->safe_psql($DB, 'UPDATE public.load_control SET stop = true') for @loads;
	for my $l (@loads)
	{
		my $ok = eval { $l->{h}->finish };
		ok($ok, $l->{node}->name . ': the background load ran without error until stopped')
		  or diag(${ $l->{err} } // $@);
	}
	return;
}

# load_count(NODE) — number of logged writes at NODE.
sub load_count
{
	my ($node) = @_;
	return $node->safe_psql($DB, 'SELECT count(*) FROM public.load_log');
}

# expected_ids(NODES) — sorted ids that must exist: inserted anywhere, not deleted.
sub expected_ids
{
	my ($nodes) = @_;
	my (%ins, %del);
	for my $n (@$nodes)
	{
		my $rows = $n->safe_psql($DB,
			"SELECT op, string_agg(id::text, ',') FROM public.load_log WHERE op IN ('i', 'd') GROUP BY op");
		for my $line (split /\n/, $rows)
		{
			my ($op, $ids) = split /\|/, $line;
			my $into = $op eq 'i' ? \%ins : \%del;
			$into->{$_}++ for split /,/, $ids;
		}
	}
	my @twice = grep { $ins{$_} > 1 } keys %ins;
	diag('ids inserted more than once by the load: ' . join(',', @twice[ 0 .. ($#twice < 9 ? $#twice : 9) ]))
	  if @twice;
	return sort { $a <=> $b } grep { !$del{$_} } keys %ins;
}

# ids_of(NODE, TABLE) — ids of TABLE at NODE, ascending.
sub ids_of
{
	my ($node, $table) = @_;
	$table //= 'public.t';
	my $ids = $node->safe_psql($DB, "SELECT string_agg(id::text, ',' ORDER BY id) FROM $table");
	return split /,/, $ids;
}

# assert_ids_everywhere(NODES, EXPECTED) — each node's public.t holds exactly
# the EXPECTED ids (one test per node; on failure, a sample of the differences).
sub assert_ids_everywhere
{
	my ($nodes, $expected) = @_;
	my %want = map { $_ => 1 } @$expected;
	for my $n (@$nodes)
	{
		my @got = ids_of($n);
		my %got = map { $_ => 1 } @got;
		my @missing = grep { !$got{$_} } @$expected;
		my @extra   = grep { !$want{$_} } @got;
		my $ok = ok(!@missing && !@extra && @got == @$expected,
			$n->name . ': public.t holds exactly the ' . scalar(@$expected) . ' ids written and not deleted');
		next if $ok;
		diag(sprintf('%s: %d rows, %d missing (e.g. %s), %d extra (e.g. %s)', $n->name, scalar @got,
				scalar @missing, join(',', @missing[ 0 .. ($#missing < 9 ? $#missing : 9) ]),
				scalar @extra, join(',', @extra[ 0 .. ($#extra < 9 ? $#extra : 9) ])));
	}
	return;
}

# concord_slots(NODE) — names of NODE's concord replication slots, sorted.
sub concord_slots
{
	my ($node) = @_;
	my $s = $node->safe_psql('postgres',
		"SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots "
		  . "WHERE slot_name LIKE 'concord\\_%'");
	return $s eq '' ? () : split /,/, $s;
}

# link_name(PROVIDER, SUBSCRIBER) — name of the slot on PROVIDER (and of the
# replication origin on SUBSCRIBER) of that link: concord_<provider>__<subscriber>
# (node names never contain "__").
sub link_name
{
	my ($provider, $subscriber) = @_;
	return "concord_${provider}__${subscriber}";
}

# slots_for_node(NODE, NAME) — NODE's slots of links from or to node NAME
# (concord_NAME__* or concord_*__NAME), as a sorted list.
sub slots_for_node
{
	my ($node, $name) = @_;
	return grep { /^concord_\Q$name\E__/ || /__\Q$name\E$/ } concord_slots($node);
}

# subscriptions_to(NODE) — peer names of NODE's subscriptions, sorted.
sub subscriptions_to
{
	my ($node) = @_;
	my $s = $node->safe_psql($DB, "SELECT string_agg(peer_name, ',' ORDER BY peer_name) FROM concord.peers");
	return $s eq '' ? () : split /,/, $s;
}

# origins_of(NODE) — names of NODE's concord replication origins, sorted.
sub origins_of
{
	my ($node) = @_;
	my $s = $node->safe_psql($DB,
		"SELECT string_agg(roname, ',' ORDER BY roname) FROM pg_replication_origin WHERE roname LIKE 'concord%'");
	return $s eq '' ? () : split /,/, $s;
}

# assert_healthy(NODES, NAMES) — on every node, concord.peers lists exactly the
# other names, each streaming without error (polled: a worker may be
# restarting after a transient failure).
sub assert_healthy
{
	my ($nodes) = @_;
	my @names = sort map { $_->name } @$nodes;
	for my $n (@$nodes)
	{
		my $others = join(',', grep { $_ ne $n->name } @names);
		my $ok = poll_until($n,
			"SELECT string_agg(peer_name, ',' ORDER BY peer_name) = '$others' "
			  . "AND bool_and(status = 'streaming' AND last_error IS NULL) FROM concord.peers",
			't', 30);
		ok($ok, $n->name . " applies from exactly $others, streaming without error")
		  or diag_peers($n);
	}
	return;
}

# peak_memory(PEAK, PID, LABEL) — folds PID's /proc status into PEAK (hash of
# label => {VmHWM, VmRSS, RssAnon} in kB); returns true if the process exists.
sub peak_memory
{
	my ($peak, $pid, $label) = @_;
	my $s = proc_status($pid);
	return 0 unless %$s;
	my $p = $peak->{$label} //= { VmHWM => 0, VmRSS => 0, RssAnon => 0, samples => 0 };
	$p->{samples}++;
	for my $k (qw(VmHWM VmRSS RssAnon))
	{
		$p->{$k} = $s->{$k} if ($s->{$k} // 0) > $p->{$k};
	}
	return 1;
}

1;
