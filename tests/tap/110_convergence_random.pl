# 110_convergence_random.pl — seeded, randomized convergence of
# last_update_wins and of delta counters in a 3-node full mesh.
#
# For each seed: every node runs, concurrently with the others, a script of
# random transactions generated from the seed (1-5 statements each) on
#   kv  (id int PRIMARY KEY, val, origin, note) — last_update_wins, 300
#       keys (a third of them hot; REPLICA IDENTITY FULL for odd seeds):
#       plain inserts (ON CONFLICT DO NOTHING), upserts (ON CONFLICT DO
#       UPDATE), updates of one row or a range, deletes of one row or a
#       range, and now and then an update that changes the key;
#   ctr (id int PRIMARY KEY, counter bigint) — counter a delta column
#       (REPLICA IDENTITY FULL), only ever incremented; each committed
#       increment is also logged in a local, unreplicated table.
# Meanwhile the test pauses and resumes random links (seeded) as the writers
# progress.  Then writes stop, every link is resumed, wait_for_peers() must
# be true on every node, kv and ctr must hash the same on every node,
# every counter must equal the sum of the increments committed at all
# nodes, and each recorded conflict of kv must name as local version the
# node that wrote the local row it shows (every write sets kv.origin).
# A transaction a writer cannot commit (a key change meeting a key just
# applied from a peer, a deadlock with the apply) simply does not happen:
# its increments roll back with it.
#
# The seed fixes the transactions and the pause plan, not the timing, so a
# seed that fails reproduces its workload (and usually its failure).
#
#   CI (default): seeds 1, 2, 3 with 200 transactions per node each.
#   One seed:     CONCORD_SEED=17 bash scripts/test/tap.sh 110
#   Many seeds:   CONCORD_SEEDS=200 bash scripts/test/tap.sh 110
#                 (seeds 1..200; CONCORD_SEED_START=1000 shifts the range;
#                 CONCORD_SEEDS=5,17,42 runs a list)
#   Longer runs:  CONCORD_ITERATIONS=1000 (transactions per node per seed)
# A failing seed prints the command that reruns it.  The run stops at the
# first failing seed, unless CONCORD_KEEP_GOING=1 (then it goes on while the
# mesh still converges, and lists every failing seed at the end).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordConflicts;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $iterations = $ENV{CONCORD_ITERATIONS} || 200;
my @seeds;
if (defined $ENV{CONCORD_SEED} && $ENV{CONCORD_SEED} ne '')
{
	@seeds = ($ENV{CONCORD_SEED});
}
elsif (defined $ENV{CONCORD_SEEDS} && $ENV{CONCORD_SEEDS} =~ /,/)
{
	@seeds = split /,/, $ENV{CONCORD_SEEDS};
}
elsif ($ENV{CONCORD_SEEDS})
{
	my $start = $ENV{CONCORD_SEED_START} // 1;
	@seeds = ($start .. $start + $ENV{CONCORD_SEEDS} - 1);
}
else
{
	@seeds = (1, 2, 3);
}

my $KEYS     = 300;
my $HOT      = 100;
my $COUNTERS = 20;

# Tombstones are pruned by the manager once a minute when every peer is past
# them by tombstone_min_age: a short margin lets long runs prune them while
# writes go on.
my @conf = (
	'concord.feedback_interval = 50ms', 'concord.retry_delay_min = 100ms',
	'concord.retry_delay_max = 1s',     'concord.tombstone_min_age = 1s');
my @names = qw(node_a node_b node_c);
my @nodes = concord_nodes([@names], conf => \@conf);
my $db    = $ConcordTest::DB;
for my $n (@nodes)
{
	$n->safe_psql($db, 'CREATE SEQUENCE public.progress; '
		  . 'CREATE TABLE public.inc_log (seed int NOT NULL, ctr int NOT NULL, d int NOT NULL)');
}
full_mesh(\@nodes);
my $dir = PostgreSQL::Test::Utils::tempdir;

sub repro
{
	my ($seed) = @_;
	return "CONCORD_SEED=$seed CONCORD_ITERATIONS=$iterations bash scripts/test/tap.sh 110";
}

# A key: one of the hot keys half of the time.
sub pick_key
{
	return rand() < 0.5 ? 1 + int(rand($HOT)) : 1 + int(rand($KEYS));
}

# The script of one node's transactions for a seed (rand() already seeded).
sub writer_script
{
	my ($seed, $name, $kv, $ctr) = @_;
	my @lines = ("SET client_min_messages = warning;");
	for my $txn (1 .. $iterations)
	{
		my @ops;
		my $nops = 1 + int(rand(5));
		for (1 .. $nops)
		{
			my $r = rand();
			my $k = pick_key();
			my $v = int(rand(1_000_000));
			my $note = "$name:$txn";
			if ($r < 0.15)
			{
				push @ops, "INSERT INTO $kv VALUES ($k, $v, '$name', '$note') ON CONFLICT (id) DO NOTHING";
			}
			elsif ($r < 0.33)
			{
				push @ops, "INSERT INTO $kv VALUES ($k, $v, '$name', '$note') ON CONFLICT (id) DO UPDATE "
				  . "SET val = EXCLUDED.val, origin = EXCLUDED.origin, note = EXCLUDED.note";
			}
			elsif ($r < 0.50)
			{
				push @ops, "UPDATE $kv SET val = $v, origin = '$name', note = '$note' WHERE id = $k";
			}
			elsif ($r < 0.56)
			{
				my $k2 = $k + int(rand(4));
				push @ops, "UPDATE $kv SET val = val + 1, origin = '$name' WHERE id BETWEEN $k AND $k2";
			}
			elsif ($r < 0.68)
			{
				push @ops, "DELETE FROM $kv WHERE id = $k";
			}
			elsif ($r < 0.71)
			{
				my $k2 = $k + 1 + int(rand(3));
				push @ops, "DELETE FROM $kv WHERE id BETWEEN $k AND $k2";
			}
			elsif ($r < 0.76)
			{
				my $k2 = pick_key();
				push @ops, "UPDATE $kv SET id = $k2, origin = '$name', note = '$note' WHERE id = $k "
				  . "AND NOT EXISTS (SELECT 1 FROM $kv WHERE id = $k2)";
			}
			else
			{
				my $c = 1 + int(rand($COUNTERS));
				my $d = 1 + int(rand(9));
				push @ops, "UPDATE $ctr SET counter = counter + $d WHERE id = $c",
				  "INSERT INTO public.inc_log VALUES ($seed, $c, $d)";
			}
		}
		push @lines, 'BEGIN;', map({ "$_;" } @ops), "SELECT nextval('public.progress') \\g /dev/null", 'COMMIT;';
		# Pacing only (spreads the writes over the pause plan).
		push @lines, sprintf('SELECT pg_sleep(%.3f) \g /dev/null', 0.002 + rand(0.016));
	}
	return join("\n", @lines) . "\n";
}

# Errors a writer may meet when its transaction races with applied changes.
my $expected_errors = qr/duplicate key value violates unique constraint|current transaction is aborted|deadlock detected/;

# True while the writer's psql runs.
sub running { return harness_running($_[0]{h}); }

sub progress_total
{
	my $sum = 0;
	$sum += $_->safe_psql($db, 'SELECT last_value FROM public.progress') for @nodes;
	return $sum;
}

# Rows of TABLE that are not the same on every node (for failure reports).
sub diff_rows
{
	my ($table) = @_;
	my %rows;
	for my $n (@nodes)
	{
		for my $line (split /\n/, rows_of($n, "SELECT * FROM $table ORDER BY 1"))
		{
			my ($id) = split /\|/, $line;
			$rows{$id}{ $n->name } = $line;
		}
	}
	my @out;
	for my $id (sort { $a <=> $b } keys %rows)
	{
		my %seen = map { ($rows{$id}{$_} // '(none)') => 1 } @names;
		next if keys %seen == 1;
		push @out, "id $id: " . join('  ', map { "$_=" . ($rows{$id}{$_} // '(none)') } @names);
	}
	return join("\n", @out[ 0 .. ($#out < 29 ? $#out : 29) ]) . (@out > 30 ? "\n... " . scalar(@out) . " rows differ" : '');
}

my @link_list;
for my $s (@nodes)
{
	push @link_list, [ $s, $_ ] for grep { $_ != $s } @nodes;
}

my @failed_seeds;
for my $seed (@seeds)
{
	my $t0  = time;
	my $kv  = "public.kv_s$seed";
	my $ctr = "public.ctr_s$seed";
	note("seed $seed: $iterations transactions per node; reproduce with: " . repro($seed));
	srand($seed);

	# Odd seeds: kv sends whole old rows (REPLICA IDENTITY FULL).
	my $identity = $seed % 2 ? "ALTER TABLE $kv REPLICA IDENTITY FULL; " : '';
	for my $n (@nodes)
	{
		$n->safe_psql($db,
			"CREATE TABLE $kv (id int PRIMARY KEY, val int NOT NULL, origin text NOT NULL, note text); "
			  . $identity
			  . "CREATE TABLE $ctr (id int PRIMARY KEY, counter bigint NOT NULL); "
			  . "ALTER TABLE $ctr REPLICA IDENTITY FULL; "
			  . "SELECT concord.add_table('$kv'); SELECT concord.add_table('$ctr'); "
			  . "SELECT concord.set_delta_columns('$ctr', '{counter}')");
	}
	# Starting rows: counters from node_a, a third of the keys from each of two nodes.
	$nodes[0]->safe_psql($db, "INSERT INTO $ctr SELECT g, 0 FROM generate_series(1, $COUNTERS) g; "
		  . "INSERT INTO $kv SELECT g, g, 'node_a', 'start' FROM generate_series(1, $KEYS / 3) g");
	$nodes[1]->safe_psql($db,
		"INSERT INTO $kv SELECT g, g, 'node_b', 'start' FROM generate_series($KEYS / 3 + 1, 2 * $KEYS / 3) g");
	my $ok = ok(wait_converged(\@nodes), "seed $seed: starting rows converged");

	# The workload and the pause plan, all from the seed: each step toggles
	# one link, then lets one node's writer run a few transactions.
	my @scripts = map { writer_script($seed, $_, $kv, $ctr) } @names;
	my @plan = map { [ int(rand(scalar @link_list)), int(rand(3)), 2 + int(rand(12)) ] } 1 .. int($iterations / 4);

	my $progress0 = progress_total();
	my @writers;
	for my $i (0 .. $#nodes)
	{
		my $file = "$dir/seed$seed-$names[$i].sql";
		open(my $fh, '>', $file) or die "$file: $!";
		print $fh $scripts[$i];
		close $fh;
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start(
			[ 'psql', '-Xq', '-d', $nodes[$i]->connstr($db), '-f', $file ],
			'<', \undef, '>', \$out, '2>', \$err);
		push @writers, { h => $h, err => \$err, name => $names[$i] };
	}

	# Toggle random links as the writers progress.  pause() takes effect
	# before it returns; resume() is only called here (checked below).
	my %paused;
	my $toggles = 0;
	for my $step (@plan)
	{
		my ($li, $wi, $advance) = @$step;
		last unless grep { running($_) } @writers;
		my ($s, $p) = @{ $link_list[$li] };
		my $key = $s->name . '<' . $p->name;
		if ($paused{$key})
		{
			$s->safe_psql($db, "SELECT concord.resume('" . $p->name . "')");
			delete $paused{$key};
		}
		else
		{
			pause_link($s, $p);
			$paused{$key} = 1;
		}
		$toggles++;
		my $w = $nodes[$wi];
		my $target = $w->safe_psql($db, 'SELECT last_value FROM public.progress') + $advance;
		wait_for_condition(
			sub {
				!running($writers[$wi])
				  || $w->safe_psql($db, 'SELECT last_value FROM public.progress') >= $target;
			},
			60, 10);
	}

	# Writes stop.
	my @writer_errors;
	for my $w (@writers)
	{
		$w->{h}->finish;
		push @writer_errors, map { "$w->{name}: $_" } unexpected_errors(${ $w->{err} }, $expected_errors);
	}
	my $races_ok = is(scalar(@writer_errors), 0, "seed $seed: the writers met only the expected races");
	diag(join("\n", @writer_errors[ 0 .. ($#writer_errors < 9 ? $#writer_errors : 9) ])) unless $races_ok;
	$ok &&= $races_ok;
	my $ran = progress_total() - $progress0;

	# Links resumed during the run apply again (none is left paused by a resume).
	my @stuck;
	for my $l (@link_list)
	{
		my ($s, $p) = @$l;
		next if $paused{ $s->name . '<' . $p->name };
		push @stuck, $s->name . '<' . $p->name
		  unless poll_until($s, "SELECT status <> 'paused' AND worker_pid IS NOT NULL FROM concord.peers "
			  . "WHERE peer_name = '" . $p->name . "'", 't', 20);
	}
	$ok &= is(join(' ', @stuck), '', "seed $seed: every link resumed during the run applies again");

	# Everything resumes; the mesh must converge.
	resume_all(\@nodes);
	my $converged = wait_converged(\@nodes);
	$ok &= ok($converged, "seed $seed: wait_for_peers is true on every node");
	my $kv_ok = assert_same_everywhere(\@nodes, $kv, "seed $seed: kv is identical on every node");
	diag("rows of kv that differ:\n" . diff_rows($kv)) unless $kv_ok;
	$ok &&= $kv_ok;
	$ok &= assert_same_everywhere(\@nodes, $ctr, "seed $seed: ctr is identical on every node");

	# Every write of kv sets origin to the writing node, so the local row a
	# conflict met must carry its recorded local origin: a mismatch means the
	# conflict was decided against another version than the row it saw.
	for my $n (@nodes)
	{
		my $bad = $n->safe_psql($db,
			"SELECT count(*) FROM concord.conflicts WHERE relation = '$kv'::regclass "
			  . "AND local_tuple IS NOT NULL AND local_tuple->>'origin' IS DISTINCT FROM local_origin");
		my $ver_ok = is($bad, '0', "seed $seed: " . $n->name . ': each conflict recorded the version of the row it met');
		$ok &&= $ver_ok;
		diag(rows_of($n,
			"SELECT conflict_id, at, conflict_type, resolution, local_origin, local_commit_ts, remote_origin, "
			  . "remote_commit_ts, local_tuple, remote_tuple FROM concord.conflicts WHERE relation = '$kv'::regclass "
			  . "AND local_tuple IS NOT NULL AND local_tuple->>'origin' IS DISTINCT FROM local_origin LIMIT 5"))
		  unless $ver_ok;
	}

	# Every counter is the sum of the increments committed at all nodes.
	my %want;
	for my $n (@nodes)
	{
		for my $line (split /\n/, $n->safe_psql($db, "SELECT ctr, sum(d) FROM public.inc_log WHERE seed = $seed GROUP BY ctr"))
		{
			my ($c, $d) = split /\|/, $line;
			$want{$c} += $d;
		}
	}
	my $want_text = join("\n", map { "$_|" . ($want{$_} // 0) } 1 .. $COUNTERS);
	for my $n (@nodes)
	{
		$ok &= is($n->safe_psql($db, "SELECT id, counter FROM $ctr ORDER BY id"), $want_text,
			"seed $seed: " . $n->name . ': every counter equals the sum of all committed increments');
	}
	my $total = 0;
	$total += $_ for values %want;
	note(sprintf('seed %s: %d transactions run, %d link toggles, %d counters incremented by %d in all, %.1fs',
		$seed, $ran, $toggles, scalar(keys %want), $total, time - $t0));
	my $conflicts = join(', ', map { $_->name . '=' . $_->safe_psql($db,
		"SELECT count(*) FROM concord.conflicts WHERE relation IN ('$kv'::regclass, '$ctr'::regclass)") } @nodes);
	note("seed $seed: conflicts recorded: $conflicts");

	if (!$ok)
	{
		diag("seed $seed FAILED; reproduce with: " . repro($seed));
		diag_peers($_) for @nodes;
		push @failed_seeds, $seed;
		last unless $ENV{CONCORD_KEEP_GOING} && $converged;
		next;
	}
	# Forget the seed's tables everywhere.
	for my $n (@nodes)
	{
		$n->safe_psql($db, "SELECT concord.remove_table('$kv'); SELECT concord.remove_table('$ctr'); "
			  . "DROP TABLE $kv, $ctr");
	}
}
if (@failed_seeds)
{
	diag("failing seeds: @failed_seeds; reproduce one with: " . repro($failed_seeds[0]));
}
else
{
	note('all seeds converged: ' . join(',', @seeds));
}

done_testing();
