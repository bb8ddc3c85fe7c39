# 302_join_large_table.pl — a node joins a mesh whose table holds 2 million
# rows, while every member writes: the copy streams through COPY, its
# progress shows in concord.copy_progress, and the memory of the joining
# node's processes stays flat.
#
# node_a, node_b and node_c each load the same 2,000,000 rows of public.big
# (about 220 MB with its index) before they subscribe to each other, then
# form a full mesh and run a background load: the ConcordMesh load on
# public.t, and updates, deletes and inserts of public.big at every member.
# node_d joins through node_a with concord.join_mesh, in the background,
# while the test samples, every ~100 ms:
#   - node_d's concord.copy_progress (from another connection): the table
#     being copied, rows and bytes so far;
#   - node_a's pg_stat_activity: the copy is a COPY ... TO STDOUT there;
#   - /proc/<pid>/status of every process of node_d (backends, concord
#     workers, the backend running the copy), for VmHWM, VmRSS and RssAnon.
# Every backend, walsender and concord worker of node_d — the copying
# backend and the apply workers included — must stay under 100 MB of peak
# resident memory, well under the size of the table it copies (PostgreSQL's
# auxiliary processes are only reported).  shared_buffers is 32 MB: a
# process's resident set counts the shared buffers it touched, and a copy
# touches them all.  Afterwards the load stops and the four nodes converge
# to identical tables.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordMesh;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $rows     = 2_000_000;
my $limit_kb = 100 * 1024;
my $db       = $ConcordTest::DB;

my @conf = ('shared_buffers = 32MB', 'max_wal_size = 2GB', 'checkpoint_timeout = 30min');
my ($na, $nb, $nc) = concord_nodes([qw(node_a node_b node_c)], conf => \@conf);
my $nd = blank_node('node_d', conf => \@conf);
my @members = ($na, $nb, $nc);
my @all     = (@members, $nd);

my $big_ddl = 'CREATE TABLE public.big (id int NOT NULL, v int NOT NULL, pad text NOT NULL)';
$_->safe_psql($db, "$LOAD_SCHEMA; $big_ddl") for @all;
$nd->safe_psql($db, 'ALTER TABLE public.big ADD PRIMARY KEY (id)');

# The same rows at every member, loaded in parallel (the key built
# afterwards, which is faster), before any subscription.
my $t0 = time;
my @fills = map {
	IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $_->connstr($db), '-c',
			"INSERT INTO public.big SELECT g, g % 1000, lpad(g::text, 48, 'x') FROM generate_series(1, $rows) g",
			'-c', 'ALTER TABLE public.big ADD PRIMARY KEY (id)'
		])
} @members;
ok($_->finish, 'a member loaded public.big') for @fills;
note(sprintf('loading %d rows at three members took %.1fs', $rows, time - $t0));
for my $m (@members)
{
	$m->safe_psql($db, "SELECT concord.add_table('public.t'), concord.add_table('public.big')");
}
full_mesh(\@members);
seed_rows($nb, 1, 2000);
ok(wait_converged(\@members), 'the 3-node mesh converges before the load');

my $big_bytes = $na->safe_psql($db, "SELECT pg_total_relation_size('public.big')");
note(sprintf('public.big at node_a: %.0f MB with its index', $big_bytes / 1048576));
cmp_ok($big_bytes, '>', 2 * $limit_kb * 1024, 'the table is more than twice the memory limit');

# The load at every member: the ConcordMesh load on t, and on big.
my %no = (node_a => 1, node_b => 2, node_c => 3);
my @loads = map { start_load($_, 1_000_000 * $no{ $_->name }, 20, 170) } @members;
my @big_loads;
for my $m (@members)
{
	my $base = 3_000_000 + 100_000 * $no{ $m->name };
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $m->connstr($db), '-c',
			"DO \$\$ DECLARE i int := 0; deadline timestamptz := clock_timestamp() + interval '170s'; BEGIN "
			  . "LOOP EXIT WHEN (SELECT stop FROM public.load_control) OR clock_timestamp() > deadline; "
			  . "i := i + 1; "
			  . "UPDATE public.big SET v = v + 1 WHERE id = 1 + floor(random() * $rows)::int; "
			  . "INSERT INTO public.big VALUES ($base + i, i, 'new'); "
			  . "IF i % 4 = 0 THEN DELETE FROM public.big WHERE id = 1 + floor(random() * $rows)::int; END IF; "
			  . "COMMIT; PERFORM pg_sleep(0.02); END LOOP; END \$\$"
		],
		'<', \undef, '>', \$out, '2>', \$err);
	push @big_loads, { node => $m, h => $h, err => \$err };
}
ok(poll_until($_, 'SELECT count(*) > 0 FROM public.big WHERE id > 3000000', 't', 60),
	$_->name . ': the load on public.big is writing')
  for @members;

# node_d joins in the background; the test watches it.
my ($jout, $jerr) = ('', '');
my $dsn_d = dsn_of($nd);
my $dsn_a = dsn_of($na);
$t0 = time;
my $join = IPC::Run::start(
	[
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $nd->connstr($db), '-c',
		"SELECT concord.join_mesh('node_d', '$dsn_d', '$dsn_a', '3min')"
	],
	'<', \undef, '>', \$jout, '2>', \$jerr);

my %peak;             # label => memory peaks
my %label_of;         # pid => label
my @progress;         # [elapsed, relation, rows, bytes, total_rows, total_bytes, tables_done, tables_total, pid]
my %copy_pids;
my $copy_seen_at_a = 0;
my $join_ended     = 0;
my $sampler = sub {
	my $now = time - $t0;
	# The copy running at node_d, read from another connection.
	my $copies = $nd->safe_psql($db,
		"SELECT coalesce(relation, ''), rows, bytes, total_rows, total_bytes, tables_done, tables_total, pid "
		  . 'FROM concord.copy_progress');
	for my $line (split /\n/, $copies)
	{
		my @f = split /\|/, $line;
		push @progress, [ $now, @f ];
		$copy_pids{ $f[7] } = 1;
	}
	# Every process of node_d's server.
	my $procs = $nd->safe_psql($db,
		"SELECT pid, coalesce(backend_type, ''), coalesce(application_name, '') FROM pg_stat_activity "
		  . 'WHERE pid <> pg_backend_pid()');
	for my $line (split /\n/, $procs)
	{
		my ($pid, $type, $app) = split /\|/, $line;
		$label_of{$pid} //= "$type $app ($pid)";
		peak_memory(\%peak, $pid, $label_of{$pid});
	}
	# The source side: the rows leave node_a through COPY ... TO STDOUT.
	$copy_seen_at_a++
	  if $na->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT % FROM public.big) TO STDOUT'") > 0;
	return 1 if $join_ended;
	$join->pump_nb;
	$join_ended = !$join->pumpable;
	return $join_ended;
};
my $done = wait_for_condition($sampler, 240, 100);
ok($done, 'join_mesh returned within 4 minutes');
my $joined = $join->finish;
my $join_s = time - $t0;
ok($joined, sprintf('join_mesh(node_d via node_a) with %d rows succeeded under load (%.1fs)', $rows, $join_s))
  or diag($jerr);

# What concord.copy_progress showed while the copy ran.
my @big_progress = grep { $_->[1] eq 'public.big' } @progress;
note(scalar(@progress) . ' progress samples, ' . scalar(@big_progress) . ' of public.big: '
	  . join(' ', map { sprintf('%.1fs:%s/%s', $_->[0], $_->[2], $_->[3]) } @big_progress[ 0 .. ($#big_progress < 11 ? $#big_progress : 11) ]));
cmp_ok(scalar(grep { $_->[2] > 0 } @big_progress), '>=', 3,
	'concord.copy_progress showed public.big being copied, with rows, at least 3 times');
my @rising = map { $big_progress[$_][2] } 0 .. $#big_progress;
ok(!grep({ $rising[$_] < $rising[ $_ - 1 ] } 1 .. $#rising) && @rising >= 2 && $rising[-1] > $rising[0],
	'the copied row count only grew while the copy ran');
ok(!grep({ $_->[2] > $rows + 100_000 || $_->[3] < $_->[2] || $_->[4] < $_->[2] || $_->[5] < $_->[3] } @big_progress),
	'rows never exceed the table, bytes at least one per row, totals at least the table\'s figures');
ok(!grep({ $_->[7] ne '2' || $_->[6] > 2 } @progress), 'tables_total is 2 (t and big), tables_done at most 2');
is(scalar(keys %copy_pids), 1, 'one backend of node_d ran the copy');
cmp_ok($copy_seen_at_a, '>', 0, "node_a served the rows through COPY ... TO STDOUT ($copy_seen_at_a samples)");
is($nd->safe_psql($db, 'SELECT count(*) FROM concord.copy_progress'), '0', 'copy_progress is empty once the join returned');

# node_d's writes too, then stop everything, watching node_d's apply workers meanwhile.
push @loads, start_load($nd, 4_000_000, 20, 120);
ok(poll_until($nd, 'SELECT count(*) >= 50 FROM public.load_log', 't', 60), 'node_d: the load is writing');
$nd->safe_psql($db, "UPDATE public.big SET v = -1 WHERE id BETWEEN 1 AND 1000");
$_->safe_psql($db, 'UPDATE public.load_control SET stop = true') for @members;
for my $l (@big_loads)
{
	ok(eval { $l->{h}->finish }, $l->{node}->name . ': the load on public.big ran without error until stopped')
	  or diag(${ $l->{err} } // $@);
}
stop_loads(@loads);
ok(wait_converged(\@all, 180), 'all four nodes converge after the load');
my $apply = $nd->safe_psql($db, 'SELECT string_agg(worker_pid::text, \',\') FROM concord.peers');
peak_memory(\%peak, $_, $label_of{$_} // "apply worker ($_)") for split /,/, $apply;
$sampler->();

# Memory: every process of node_d stayed flat.
my ($copy_pid) = keys %copy_pids;
ok($copy_pid && $peak{ $label_of{$copy_pid} // '' } && $peak{ $label_of{$copy_pid} }{samples} >= 3,
	'the copying backend\'s memory was sampled while it copied');
ok(scalar(grep { /concord apply/ } keys %peak) >= 3, 'node_d\'s apply workers were sampled');
for my $label (sort keys %peak)
{
	my $p = $peak{$label};
	note(sprintf('%-60s %4d samples: VmHWM %7d kB, VmRSS %7d kB, RssAnon %7d kB',
			$label, $p->{samples}, $p->{VmHWM}, $p->{VmRSS}, $p->{RssAnon}));
}
# Judged: the backends (the copying one included), walsenders and concord's
# workers; PostgreSQL's own auxiliary processes are only reported.
my @heavy = grep { /^(client backend|walsender|concord )/ }
  grep { $peak{$_}{VmHWM} >= $limit_kb || $peak{$_}{RssAnon} >= $limit_kb } keys %peak;
ok(!@heavy, 'every backend, walsender and concord worker of node_d stayed under 100 MB of peak resident and private memory')
  or diag(explain { map { $_ => $peak{$_} } @heavy });
cmp_ok($peak{ $label_of{$copy_pid} }{VmHWM}, '<', $limit_kb, 'the copying backend\'s VmHWM stayed under 100 MB')
  if $copy_pid;

# The result: identical tables everywhere.
assert_same_everywhere(\@all, 'public.big', 'public.big is identical on the four nodes');
assert_same_everywhere(\@all, 'public.t', 'public.t is identical on the four nodes');
assert_ids_everywhere(\@all, [ expected_ids(\@all) ]);
cmp_ok($nd->safe_psql($db, 'SELECT count(*) FROM public.big'), '>', $rows - 50_000, 'node_d holds the copied rows');
assert_healthy(\@all);

done_testing();
