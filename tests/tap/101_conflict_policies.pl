# 101_conflict_policies.pl — every conflict type under every policy but
# `error` (102 covers that one), in a 3-node mesh: the winner on every node
# and the concord.conflicts rows (type, resolution, both origins, both commit
# timestamps, both tuples); then concord.conflict_stats, prune_conflicts()
# and concord.conflict_retention.
#
# One table per policy (m_<policy> for row conflicts, u_<policy> with a unique
# index other than the key), one key per scenario, so that one pause/write/
# resume round forces every scenario under every policy at once.
#
# Round 1 (keys 1-6, u_*): every link paused; node_a commits its writes
# (transaction "A"), then node_b (transactions "B1", "B2" — later commit
# timestamps).  node_c then applies node_a's transaction first and node_b's
# after, so it meets every conflict exactly as node_a does.
#
#   key 1  A inserts (1,20), B inserts (1,10)          insert_exists at A, B, C
#   key 2  A sets val 10, B sets val 20 (row from S)   update_origin_differs
#   key 3  A deletes, B sets val 30                    A, C: update_deleted; B: delete_origin_differs
#   key 4  A sets val 40, B deletes                    A, C: delete_origin_differs; B: update_deleted
#   key 5  A deletes, B deletes                        delete_missing (record_tombstone / keep_local)
#   key 6  A inserts (6,60); B inserts (6,61), then    A, C: insert_exists (and maybe
#          deletes it in B2                              delete_origin_differs); B: insert_deleted
#   u      A inserts (1,'x'), B inserts (2,'x')        unique_violation on the email index
#
# Round 2 (keys 7, 8): node_a alone pauses node_c; node_c inserts (7,70) and
# (8,80) (transaction "C"); node_b gets them, sets key 7 to 71 and deletes
# key 8 ("B3"); node_a applies that first — update_missing for 7,
# delete_missing without a tombstone for 8 — and node_c's older inserts only
# after its resume (insert_exists for 7, insert_deleted for 8).  node_c meets
# B3 as update_origin_differs / delete_origin_differs.
#
# Rounds 3 and 4 (last_update_wins): the apply meets a row that a local
# transaction is changing; it waits for the row lock, and the local
# transaction commits after the remote one — so the local write is newer
# and must win (m_race: an update of the key's row; u_race: the row holding
# the value of another unique index).
#
# The resolver of the custom tables keeps the row with the greater val and
# marks a row it returns with the conflict type (note), so every node shows
# what the resolver was asked; it returns NULL to keep the local row.  The
# same resolver declared STRICT (tables *_cst) is not called without a local
# row (update_deleted, update_missing, insert_deleted): the local state stays.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use ConcordConflicts;
use PostgreSQL::Test::Utils;
use Test::More;

my @conf = ('concord.feedback_interval = 50ms', 'concord.retry_delay_min = 100ms', 'concord.retry_delay_max = 1s');
my ($na, $nb, $nc) = concord_nodes([qw(node_a node_b node_c)], conf => \@conf);
my @nodes = ($na, $nb, $nc);
my %N     = (A => $na, B => $nb, C => $nc);
my $db    = $ConcordTest::DB;

my @P = qw(lww fuw ar kl cus cst);
my %policy = (
	lww => 'last_update_wins',
	fuw => 'first_update_wins',
	ar  => 'apply_remote',
	kl  => 'keep_local',
	cus => 'custom',
	cst => 'custom, STRICT resolver');

# --- schema -------------------------------------------------------------------

my $ddl = join("\n",
	(map { "CREATE TABLE public.m_$_ (id int PRIMARY KEY, val int NOT NULL, note text);" } @P),
	(map { "CREATE TABLE public.u_$_ (id int PRIMARY KEY, email text NOT NULL UNIQUE, val int);" } @P),
	'CREATE TABLE public.m_race (id int PRIMARY KEY, val int NOT NULL, note text);',
	'CREATE TABLE public.u_race (id int PRIMARY KEY, email text NOT NULL UNIQUE, val int);',
	(map {
		my ($t, $strict) = @$_;
		qq{
	CREATE FUNCTION public.${t}_pick(local public.$t, remote public.$t, conflict_type text)
	RETURNS public.$t LANGUAGE plpgsql $strict AS \$\$
	BEGIN
		IF local IS NULL OR remote.val > local.val THEN
			remote.note := conflict_type;
			RETURN remote;
		END IF;
		RETURN NULL;
	END \$\$;}
	} [ 'm_cus', '' ], [ 'm_cst', 'STRICT' ]),
	(map { "CREATE FUNCTION public.${_}_pick(local public.$_, remote public.$_, conflict_type text) "
		  . "RETURNS public.$_ LANGUAGE sql AS \$\$ SELECT remote \$\$;" } qw(u_cus u_cst)));
for my $n (@nodes)
{
	$n->safe_psql($db, $ddl);
	for my $p (@P)
	{
		for my $t ("m_$p", "u_$p")
		{
			if ($p eq 'cus' || $p eq 'cst')
			{
				$n->safe_psql($db, "SELECT concord.add_table('public.$t'); "
					  . "SELECT concord.set_conflict_policy('public.$t', 'custom', "
					  . "'public.${t}_pick(public.$t, public.$t, text)')");
			}
			else
			{
				$n->safe_psql($db, "SELECT concord.add_table('public.$t', '$policy{$p}')");
			}
		}
	}
}
$_->safe_psql($db, "SELECT concord.add_table('public.m_race'); SELECT concord.add_table('public.u_race')")
  for @nodes;
install_txlog(\@nodes);
is( $na->safe_psql($db,
		"SELECT string_agg(relation::text || '=' || conflict_policy || coalesce('/' || resolver::text, ''), ' ' "
		  . "ORDER BY relation::text) FROM concord.tables WHERE relation::text ~ '^m_(lww|fuw|ar|kl|cus|cst)\$'"),
	'm_ar=apply_remote m_cst=custom/m_cst_pick(m_cst,m_cst,text) m_cus=custom/m_cus_pick(m_cus,m_cus,text) '
	  . 'm_fuw=first_update_wins m_kl=keep_local m_lww=last_update_wins',
	'concord.tables shows each policy and the resolver');
full_mesh(\@nodes);

# --- round 1 ----------------------------------------------------------------

labelled_txn($na, 'S',
	join('; ', map { "INSERT INTO m_$_ VALUES (2, 0), (3, 0), (4, 0), (5, 0)" } @P));
ok(wait_converged(\@nodes), 'setup rows converged');

pause_all(\@nodes);
labelled_txn($na, 'A', join('; ', map { (
	"INSERT INTO m_$_ VALUES (1, 20)",
	"UPDATE m_$_ SET val = 10 WHERE id = 2",
	"DELETE FROM m_$_ WHERE id = 3",
	"UPDATE m_$_ SET val = 40 WHERE id = 4",
	"DELETE FROM m_$_ WHERE id = 5",
	"INSERT INTO m_$_ VALUES (6, 60)",
	"INSERT INTO u_$_ VALUES (1, 'x', 10)") } @P));
labelled_txn($nb, 'B1', join('; ', map { (
	"INSERT INTO m_$_ VALUES (1, 10)",
	"UPDATE m_$_ SET val = 20 WHERE id = 2",
	"UPDATE m_$_ SET val = 30 WHERE id = 3",
	"DELETE FROM m_$_ WHERE id = 4",
	"DELETE FROM m_$_ WHERE id = 5",
	"INSERT INTO m_$_ VALUES (6, 61)",
	"INSERT INTO u_$_ VALUES (2, 'x', 20)") } @P));
labelled_txn($nb, 'B2', join('; ', map { "DELETE FROM m_$_ WHERE id = 6" } @P));

# node_c: node_a's transaction first, node_b's after.
resume_link($nc, $na);
ok(wait_applied_by($na, $nc), "node_c applied node_a's transaction");
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'round 1: wait_for_peers is true on every node');

# --- round 2 ----------------------------------------------------------------

pause_link($na, $nc);
labelled_txn($nc, 'C', join('; ', map { "INSERT INTO m_$_ VALUES (7, 70), (8, 80)" } @P));
ok(wait_applied_by($nc, $nb), "node_b got node_c's rows");
labelled_txn($nb, 'B3',
	join('; ', map { ("UPDATE m_$_ SET val = 71 WHERE id = 7", "DELETE FROM m_$_ WHERE id = 8") } @P));
ok(wait_applied_by($nb, $na, $nc), "node_a and node_c applied node_b's B3");
is($na->safe_psql($db, 'SELECT count(*) FROM m_lww WHERE id = 8'), '0',
	'node_a has no key 8 before it applies node_c');
resume_link($na, $nc);
ok(wait_converged(\@nodes), 'round 2: wait_for_peers is true on every node');

# local_txn_meets_apply(NODE, PEER, LABEL, SQL, ROUND) — runs SQL at NODE in a
# transaction that records LABEL and keeps it open while NODE resumes
# applying from PEER; commits once NODE's apply waits for it.
sub local_txn_meets_apply
{
	my ($node, $peer, $label, $sql, $round) = @_;
	my $session = $node->background_psql($db);
	$session->query_safe("BEGIN; $sql; INSERT INTO public.txlog VALUES ('$label')");
	resume_link($node, $peer);
	ok( poll_until($node,
			"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'concord apply' AND wait_event_type = 'Lock'",
			't', 30),
		"$round: " . $node->name . "'s apply waits for the local transaction $label");
	$session->query_safe('COMMIT');
	$session->quit;
	register_label($node, $label);
	return;
}

# --- round 3: a local transaction holds the rows the apply looks at ------------
#
# node_c updates keys 1 and 2 of m_race ("RC") while node_a does not apply
# from it.  node_a's own transaction ("RA") updates key 1 and deletes key 2
# and stays open while node_a resumes node_c: the apply finds the row
# written by node_a, looks it up for update and waits for RA's lock.  RA
# then commits — after RC, so RA is newer: under last_update_wins node_a
# keeps val 2 and no key 2, and records RA (not the row version it replaced)
# as the local version.  Every other node ends the same way.
labelled_txn($na, 'R0', 'INSERT INTO m_race VALUES (1, 0), (2, 0)');
ok(wait_converged(\@nodes), 'round 3: m_race rows converged');
pause_link($na, $nc);
labelled_txn($nc, 'RC', 'UPDATE m_race SET val = 1 WHERE id = 1; UPDATE m_race SET val = 1 WHERE id = 2');
local_txn_meets_apply($na, $nc, 'RA', "UPDATE m_race SET val = 2 WHERE id = 1; DELETE FROM m_race WHERE id = 2", 'round 3');
ok(wait_applied_by($nc, $na), "round 3: node_a applied RC after RA committed");
is($na->safe_psql($db, 'SELECT id, val FROM m_race ORDER BY id'), '1|2',
	'round 3: node_a kept its newer local write (val 2, key 2 deleted)');
is_deeply(
	conflict_lines($na, 'public.m_race'),
	[
		sort(conflict_line(1, 'update_origin_differs', 'keep_local', 'node_a', 'node_c', 'RA', 'RC', m_t(1, 2), m_t(1, 1)),
			conflict_line(2, 'update_deleted', 'keep_local', 'node_a', 'node_c', 'RA', 'RC', undef, m_t(2, 1)))
	],
	'round 3: node_a decided against the version of the local transaction it waited for')
  or diag explain conflict_lines($na, 'public.m_race');
ok(wait_converged(\@nodes), 'round 3: wait_for_peers is true on every node');
is($_->safe_psql($db, 'SELECT id, val FROM m_race ORDER BY id'), '1|2', 'round 3: m_race at ' . $_->name)
  for @nodes;

# --- round 4: the same with the row holding another unique index ----------------
#
# node_a inserts (1,'x',0) ("U0") before node_c, which does not apply from it,
# inserts (2,'x',1) ("UC").  node_a's open transaction ("UA") updates row 1;
# node_c's insert meets row 1 on the email index, and the apply waits for
# UA's lock.  UA commits after UC, so row 1 is newer: node_a discards node_c's
# row (unique_violation / keep_local), and every node ends with (1,'x',2).
pause_link($nc, $na);
pause_link($na, $nc);
labelled_txn($na, 'U0', "INSERT INTO u_race VALUES (1, 'x', 0)");
ok(wait_applied_by($na, $nb), 'round 4: node_b has row 1');
labelled_txn($nc, 'UC', "INSERT INTO u_race VALUES (2, 'x', 1)");
local_txn_meets_apply($na, $nc, 'UA', "UPDATE u_race SET val = 2 WHERE id = 1", 'round 4');
ok(wait_applied_by($nc, $na), 'round 4: node_a applied UC after UA committed');
is($na->safe_psql($db, 'SELECT id, email, val FROM u_race ORDER BY id'), '1|x|2',
	'round 4: node_a kept its newer row holding the email');
is_deeply(
	conflict_lines($na, 'public.u_race'),
	[ conflict_line(2, 'unique_violation', 'keep_local', 'node_a', 'node_c', 'UA', 'UC', u_t(1, 'x', 2), u_t(2, 'x', 1)) ],
	'round 4: node_a decided against the version of the local transaction it waited for')
  or diag explain conflict_lines($na, 'public.u_race');
resume_all(\@nodes);
ok(wait_converged(\@nodes), 'round 4: wait_for_peers is true on every node');
is($_->safe_psql($db, 'SELECT id, email, val FROM u_race ORDER BY id'), '1|x|2', 'round 4: u_race at ' . $_->name)
  for @nodes;

# --- round 5: a local transaction changes the row after the apply found it ------
#
# Keys 3 and 4 of m_race come from node_c ("S0"), so at node_a the apply's
# guard passes on them: they were last written through node_c.  node_c then
# updates key 3 and deletes key 4 ("SC") while node_a does not apply from it;
# node_a's open transaction ("SA") updates both.  The apply finds each row
# as last committed (unlocked), and its write waits for SA; SA commits, so
# the write reports the row changed, the apply finds SA's version, the guard
# fails, and the conflict is decided against SA, which is newer: node_a keeps
# val 2 for both keys, and every node ends so.
labelled_txn($nc, 'S0', 'INSERT INTO m_race VALUES (3, 0), (4, 0)');
ok(wait_converged(\@nodes), 'round 5: m_race keys 3 and 4 converged');
pause_link($na, $nc);
labelled_txn($nc, 'SC', 'UPDATE m_race SET val = 1 WHERE id = 3; DELETE FROM m_race WHERE id = 4');
my $failures_before = $na->safe_psql($db, 'SELECT coalesce(sum(failures), 0) FROM concord.peers');
local_txn_meets_apply($na, $nc, 'SA', "UPDATE m_race SET val = 2 WHERE id IN (3, 4)", 'round 5');
ok(wait_applied_by($nc, $na), 'round 5: node_a applied SC after SA committed');
is($na->safe_psql($db, 'SELECT id, val FROM m_race WHERE id IN (3, 4) ORDER BY id'), "3|2\n4|2",
	'round 5: node_a kept its newer local writes');
is_deeply(
	conflict_lines($na, 'public.m_race', 'id', "coalesce(remote_tuple, local_tuple)->>'id' IN ('3', '4')"),
	[
		sort(conflict_line(3, 'update_origin_differs', 'keep_local', 'node_a', 'node_c', 'SA', 'SC', m_t(3, 2), m_t(3, 1)),
			conflict_line(4, 'delete_origin_differs', 'keep_local', 'node_a', 'node_c', 'SA', 'SC', m_t(4, 2), key_t(4)))
	],
	'round 5: node_a decided against the version the concurrent local transaction committed')
  or diag explain conflict_lines($na, 'public.m_race');
is($na->safe_psql($db, 'SELECT coalesce(sum(failures), 0) FROM concord.peers'), $failures_before,
	'round 5: no apply failed on the way (no error, no retry)');
ok(wait_converged(\@nodes), 'round 5: wait_for_peers is true on every node');
is($_->safe_psql($db, 'SELECT id, val FROM m_race WHERE id IN (3, 4) ORDER BY id'), "3|2\n4|2",
	'round 5: m_race keys 3 and 4 at ' . $_->name)
  for @nodes;

# --- expectations -------------------------------------------------------------

# Rows: $rows{policy}{node}{id} = [val, note]; conflicts: $conf{policy}{node} = [lines].
my (%rows, %conf);
sub m_t { my ($id, $val, $note) = @_; return tup(id => $id, val => $val, note => $note); }
sub key_t { return m_t($_[0], undef, undef); }
sub u_t { my ($id, $email, $val) = @_; return tup(id => $id, email => $email, val => $val); }
my %res = (ar => 'apply_remote', kl => 'keep_local', cu => 'custom', rt => 'record_tombstone');

# Round 1, per key: policy => [A's row, A's resolution, B's row, B's resolution]
# (a row is [val, note] or undef); node_c ends as node_a.
my %k1 = (    # insert_exists: A (1,20) at A, B (1,10) at B1
	lww => [ [10], 'ar', [10], 'kl' ],
	fuw => [ [20], 'kl', [20], 'ar' ],
	ar  => [ [10], 'ar', [20], 'ar' ],
	kl  => [ [20], 'kl', [10], 'kl' ],
	cus => [ [20], 'kl', [ 20, 'insert_exists' ], 'cu' ],
	cst => [ [20], 'kl', [ 20, 'insert_exists' ], 'cu' ]);
my %k2 = (    # update_origin_differs: A val 10, B val 20
	lww => [ [20], 'ar', [20], 'kl' ],
	fuw => [ [10], 'kl', [10], 'ar' ],
	ar  => [ [20], 'ar', [10], 'ar' ],
	kl  => [ [10], 'kl', [20], 'kl' ],
	cus => [ [ 20, 'update_origin_differs' ], 'cu', [20], 'kl' ],
	cst => [ [ 20, 'update_origin_differs' ], 'cu', [20], 'kl' ]);
my %k3 = (    # A deletes, B val 30: A update_deleted, B delete_origin_differs
	lww => [ [30], 'ar', [30], 'kl' ],
	fuw => [ undef, 'kl', undef, 'ar' ],
	ar  => [ [30], 'ar', undef, 'ar' ],
	kl  => [ undef, 'kl', [30], 'kl' ],
	cus => [ [ 30, 'update_deleted' ], 'cu', [30], 'kl' ],
	cst => [ undef, 'kl', [30], 'kl' ]);    # STRICT: no local row, not called
my %k4 = (    # A val 40, B deletes: A delete_origin_differs, B update_deleted
	lww => [ undef, 'ar', undef, 'kl' ],
	fuw => [ [40], 'kl', [40], 'ar' ],
	ar  => [ undef, 'ar', [40], 'ar' ],
	kl  => [ [40], 'kl', undef, 'kl' ],
	cus => [ undef, 'ar', [ 40, 'update_deleted' ], 'cu' ],
	cst => [ undef, 'ar', undef, 'kl' ]);
my %k6 = (    # A (6,60); B (6,61) then delete: A insert_exists, B insert_deleted
	lww => [ undef, 'ar', undef, 'kl' ],
	fuw => [ [60], 'kl', [60], 'ar' ],
	ar  => [ undef, 'ar', [60], 'ar' ],
	kl  => [ [60], 'kl', undef, 'kl' ],
	cus => [ undef, 'cu', [ 60, 'insert_deleted' ], 'cu' ],
	cst => [ undef, 'cu', undef, 'kl' ]);
my %uv = (    # unique_violation: A (1,'x',10), B (2,'x',20): [A's ids, A's res, B's ids, B's res]
	lww => [ [2], 'ar', [2], 'kl' ],
	fuw => [ [1], 'kl', [1], 'ar' ],
	ar  => [ [2], 'ar', [1], 'ar' ],
	kl  => [ [1], 'kl', [2], 'kl' ],
	cus => [ [2], 'ar', [2], 'kl' ],
	cst => [ [2], 'ar', [2], 'kl' ]);
# Round 2: policy => [A: key 7 row, [resolutions], key 8 row, [resolutions];
#                     C: key 7 row, res, key 8 row, res]
my %r2 = (
	lww => [ [71], [qw(ar kl)], undef, [qw(rt kl)], [71], 'ar', undef, 'ar' ],
	fuw => [ [70], [qw(ar ar)], [80], [qw(rt ar)], [70], 'kl', [80], 'kl' ],
	ar  => [ [70], [qw(ar ar)], [80], [qw(rt ar)], [71], 'ar', undef, 'ar' ],
	kl  => [ [70], [qw(kl)], undef, [qw(rt kl)], [70], 'kl', [80], 'kl' ],
	cus => [ [ 71, 'update_missing' ], [qw(cu kl)], [ 80, 'insert_deleted' ], [qw(rt cu)],
		[ 71, 'update_origin_differs' ], 'cu', undef, 'ar' ],
	cst => [ [70], [qw(kl)], undef, [qw(rt kl)], [ 71, 'update_origin_differs' ], 'cu', undef, 'ar' ]);

my (%urows, %uconf);
for my $p (@P)
{
	my (%ra, %rb, @ca, @cb);
	my $line = sub { return conflict_line(@_); };

	my ($ka, $resa, $kb, $resb) = @{ $k1{$p} };
	$ra{1} = $ka if $ka;
	$rb{1} = $kb if $kb;
	push @ca, $line->(1, 'insert_exists', $res{$resa}, 'node_a', 'node_b', 'A', 'B1', m_t(1, 20), m_t(1, 10));
	push @cb, $line->(1, 'insert_exists', $res{$resb}, 'node_b', 'node_a', 'B1', 'A', m_t(1, 10), m_t(1, 20));

	($ka, $resa, $kb, $resb) = @{ $k2{$p} };
	$ra{2} = $ka if $ka;
	$rb{2} = $kb if $kb;
	push @ca, $line->(2, 'update_origin_differs', $res{$resa}, 'node_a', 'node_b', 'A', 'B1', m_t(2, 10), m_t(2, 20));
	push @cb, $line->(2, 'update_origin_differs', $res{$resb}, 'node_b', 'node_a', 'B1', 'A', m_t(2, 20), m_t(2, 10));

	($ka, $resa, $kb, $resb) = @{ $k3{$p} };
	$ra{3} = $ka if $ka;
	$rb{3} = $kb if $kb;
	push @ca, $line->(3, 'update_deleted', $res{$resa}, 'node_a', 'node_b', 'A', 'B1', undef, m_t(3, 30));
	push @cb, $line->(3, 'delete_origin_differs', $res{$resb}, 'node_b', 'node_a', 'B1', 'A', m_t(3, 30), key_t(3));

	($ka, $resa, $kb, $resb) = @{ $k4{$p} };
	$ra{4} = $ka if $ka;
	$rb{4} = $kb if $kb;
	push @ca, $line->(4, 'delete_origin_differs', $res{$resa}, 'node_a', 'node_b', 'A', 'B1', m_t(4, 40), key_t(4));
	push @cb, $line->(4, 'update_deleted', $res{$resb}, 'node_b', 'node_a', 'B1', 'A', undef, m_t(4, 40));

	push @ca, $line->(5, 'delete_missing', 'record_tombstone', 'node_a', 'node_b', 'A', 'B1', undef, key_t(5));
	push @cb, $line->(5, 'delete_missing', 'keep_local', 'node_b', 'node_a', 'B1', 'A', undef, key_t(5));

	($ka, $resa, $kb, $resb) = @{ $k6{$p} };
	$ra{6} = $ka if $ka;
	$rb{6} = $kb if $kb;
	push @ca, $line->(6, 'insert_exists', $res{$resa}, 'node_a', 'node_b', 'A', 'B1', m_t(6, 60), m_t(6, 61));
	# B2's delete meets the row B1 left: node_b's own version where B1 won (no
	# conflict), node_a's row where it lost.
	push @ca, $line->(6, 'delete_origin_differs', $res{$resa}, 'node_a', 'node_b', 'A', 'B2', m_t(6, 60), key_t(6))
	  if $resa eq 'kl';
	push @cb, $line->(6, 'insert_deleted', $res{$resb}, 'node_b', 'node_a', 'B2', 'A', undef, m_t(6, 60));

	my %rc = %ra;
	my @cc = @ca;

	# Round 2.
	my ($a7, $res7, $a8, $res8, $c7, $cres7, $c8, $cres8) = @{ $r2{$p} };
	$ra{7} = $a7 if $a7;
	$ra{8} = $a8 if $a8;
	$rc{7} = $c7 if $c7;
	$rc{8} = $c8 if $c8;
	$rb{7} = [71];
	push @ca, $line->(7, 'update_missing', $res{ $res7->[0] }, '', 'node_b', '', 'B3', undef, m_t(7, 71));
	push @ca, $line->(7, 'insert_exists', $res{ $res7->[1] }, 'node_b', 'node_c', 'B3', 'C',
		m_t(7, 71, $p eq 'cus' ? 'update_missing' : undef), m_t(7, 70))
	  if @$res7 > 1;
	push @ca, $line->(8, 'delete_missing', $res{ $res8->[0] }, '', 'node_b', '', 'B3', undef, key_t(8));
	push @ca, $line->(8, 'insert_deleted', $res{ $res8->[1] }, 'node_b', 'node_c', 'B3', 'C', undef, m_t(8, 80));
	push @cc, $line->(7, 'update_origin_differs', $res{$cres7}, 'node_c', 'node_b', 'C', 'B3', m_t(7, 70), m_t(7, 71));
	push @cc, $line->(8, 'delete_origin_differs', $res{$cres8}, 'node_c', 'node_b', 'C', 'B3', m_t(8, 80), key_t(8));

	$rows{$p} = { A => \%ra, B => \%rb, C => \%rc };
	$conf{$p} = { A => [ sort @ca ], B => [ sort @cb ], C => [ sort @cc ] };

	# The unique-index tables.
	my ($ua, $uresa, $ub, $uresb) = @{ $uv{$p} };
	my %u_row = (1 => "1|x|10", 2 => "2|x|20");
	my @uca = (conflict_line(2, 'unique_violation', $res{$uresa}, 'node_a', 'node_b', 'A', 'B1', u_t(1, 'x', 10), u_t(2, 'x', 20)));
	my @ucb = (conflict_line(1, 'unique_violation', $res{$uresb}, 'node_b', 'node_a', 'B1', 'A', u_t(2, 'x', 20), u_t(1, 'x', 10)));
	$urows{$p} = { A => join("\n", map { $u_row{$_} } @$ua), B => join("\n", map { $u_row{$_} } @$ub) };
	$urows{$p}{C} = $urows{$p}{A};
	$uconf{$p} = { A => \@uca, B => \@ucb, C => \@uca };
}

# --- checks ---------------------------------------------------------------------

sub rows_text
{
	my ($r) = @_;
	return join("\n", map { join('|', $_, $r->{$_}[0], $r->{$_}[1] // '') } sort { $a <=> $b } keys %$r);
}

for my $p (@P)
{
	for my $k (qw(A B C))
	{
		my $n = $N{$k};
		is($n->safe_psql($db, "SELECT id, val, note FROM m_$p ORDER BY id"),
			rows_text($rows{$p}{$k}), "m_$p ($policy{$p}): rows at " . $n->name);
		note(join("\n", "m_$p at " . $n->name . ':', @{ conflict_lines($n, "public.m_$p") })) if $ENV{CONCORD_TAP_VERBOSE};
		is_deeply(conflict_lines($n, "public.m_$p"), $conf{$p}{$k},
			"m_$p ($policy{$p}): conflicts recorded at " . $n->name)
		  or diag(explain { got => conflict_lines($n, "public.m_$p"), expected => $conf{$p}{$k} });
		is($n->safe_psql($db, "SELECT id, email, val FROM u_$p ORDER BY id"),
			$urows{$p}{$k}, "u_$p ($policy{$p}): rows at " . $n->name);
		is_deeply(conflict_lines($n, "public.u_$p"), $uconf{$p}{$k},
			"u_$p ($policy{$p}): unique_violation recorded at " . $n->name)
		  or diag(explain { got => conflict_lines($n, "public.u_$p"), expected => $uconf{$p}{$k} });
	}
}
# last_update_wins converges; so do these scenarios under first_update_wins.
assert_same_everywhere(\@nodes, 'm_lww', 'm_lww is identical on every node');
assert_same_everywhere(\@nodes, 'u_lww', 'u_lww is identical on every node');

# The conflict log's other columns: when, and the remote commit's LSN.
for my $n (@nodes)
{
	is( $n->safe_psql($db,
			"SELECT count(*) FROM concord.conflicts WHERE at IS NULL OR remote_lsn IS NULL "
			  . "OR jsonb_typeof(remote_tuple) <> 'object' OR jsonb_typeof(coalesce(local_tuple, '{}')) <> 'object'"),
		'0', $n->name . ': every conflict row has at, remote_lsn and object tuples');
}

# --- concord.conflict_stats ---------------------------------------------------

for my $n (@nodes)
{
	my $k = { node_a => 'A', node_b => 'B', node_c => 'C' }->{ $n->name };
	for my $p (@P)
	{
		my %count;
		for my $l (@{ $conf{$p}{$k} })
		{
			my (undef, $type, $resolution) = split / \| /, $l;
			$count{"$type|$resolution"}++;
		}
		my $want = join("\n", map { "$_|$count{$_}" } sort keys %count);
		is( $n->safe_psql($db,
				"SELECT string_agg(conflict_type || '|' || resolution || '|' || count, E'\\n' "
				  . "ORDER BY conflict_type || '|' || resolution COLLATE \"C\") FROM concord.conflict_stats "
				  . "WHERE relation = 'public.m_$p'::regclass"),
			$want, $n->name . ": conflict_stats counts m_$p by type and resolution");
	}
	is( $n->safe_psql($db,
			"SELECT bool_and(s.last_at = (SELECT max(at) FROM concord.conflicts c WHERE c.relation = s.relation "
			  . "AND c.conflict_type = s.conflict_type AND c.resolution = s.resolution)) "
			  . "AND sum(count) = (SELECT count(*) FROM concord.conflicts) FROM concord.conflict_stats s"),
		't', $n->name . ': conflict_stats covers every row and shows the last time');
}

# --- pruning ---------------------------------------------------------------------

# prune_conflicts(interval) deletes the rows older than that and says how many.
my $total_b = $nb->safe_psql($db, 'SELECT count(*) FROM concord.conflicts');
my $old_b = $nb->safe_psql($db,
	"WITH u AS (UPDATE concord.conflicts SET at = at - interval '8 days' "
	  . "WHERE relation = 'public.m_lww'::regclass RETURNING 1) SELECT count(*) FROM u");
ok($old_b > 0, "node_b: $old_b of $total_b conflict rows made 8 days old");
is($nb->safe_psql($db, "SELECT concord.prune_conflicts('7 days')"), $old_b,
	'prune_conflicts(7 days) returns the number of rows it deleted');
is($nb->safe_psql($db, 'SELECT count(*) FROM concord.conflicts'), $total_b - $old_b,
	'prune_conflicts deleted exactly the old rows');
is($nb->safe_psql($db, "SELECT count(*) FROM concord.conflicts WHERE relation = 'public.m_lww'::regclass"), '0',
	'none of the old rows is left');
is($nb->safe_psql($db, "SELECT concord.prune_conflicts('7 days')"), '0', 'a second prune deletes nothing');

# concord.conflict_retention: the database's manager deletes older rows (it
# runs its housekeeping when it starts and then at most once a minute; a
# restart makes the next run immediate).
my $total_c = $nc->safe_psql($db, 'SELECT count(*) FROM concord.conflicts');
my $old_c = $nc->safe_psql($db,
	"WITH u AS (UPDATE concord.conflicts SET at = at - interval '3 days' "
	  . "WHERE relation = 'public.m_fuw'::regclass RETURNING 1) SELECT count(*) FROM u");
ok($old_c > 0, "node_c: $old_c of $total_c conflict rows made 3 days old");
$nc->safe_psql($db, "ALTER SYSTEM SET concord.conflict_retention = '2d'");
$nc->restart;
ok(poll_until($nc, 'SELECT count(*) FROM concord.conflicts', $total_c - $old_c, 90),
	'with conflict_retention = 2d, the rows older than 2 days are pruned in the background');
is($nc->safe_psql($db, "SELECT count(*) FROM concord.conflicts WHERE relation = 'public.m_fuw'::regclass"), '0',
	'every row older than the retention is gone');

# Nothing is left failing: one more write at every node, so that every link
# has applied something since the restart (the outage's connection error
# legitimately shows until then).
my $mark = 100;
$_->safe_psql($db, 'INSERT INTO m_lww VALUES (' . $mark++ . ', 0)') for @nodes;
ok(wait_converged(\@nodes), 'the mesh converges after the restart');
assert_same_everywhere(\@nodes, 'm_lww', 'm_lww is still identical on every node');
assert_links_streaming(\@nodes);
# The slow paths' statements connect to SPI per transaction; nothing is left open.
assert_no_resource_warnings(\@nodes);

done_testing();
