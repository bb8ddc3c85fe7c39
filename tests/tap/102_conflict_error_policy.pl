# 102_conflict_error_policy.pl — the `error` policy for every conflict type,
# the three ways past it, and set_conflict_policy on a running mesh.
#
# node_a applies with policy `error` (node_b and node_c with the default
# last_update_wins; a policy is each node's own).  While node_a and node_b do
# not apply from each other, node_b commits one transaction per conflict type
# (B0 .. B7), each meeting node_a's state as that conflict, then a mark (B8).
# node_a then resumes and must, for each in turn:
#   - stop: concord.peers shows status 'error', last_error naming the
#     conflict, table, operation and peer, and last_error_at;
#   - retry: failures keeps growing;
#   - apply nothing past it (the next table and the mark do not move) and
#     record no conflict row (the failed transaction rolled back);
#   - move on only after the operator acts:
#       B0 insert_deleted          policy -> keep_local
#       B1 insert_exists           policy -> apply_remote
#       B2 update_origin_differs   skip_transaction (a 2-change transaction)
#       B3 update_deleted          policy -> last_update_wins
#       B4 delete_origin_differs   policy -> apply_remote
#       B5 delete_missing          skip_transaction
#       B6 unique_violation        the local data is fixed (other email)
#       B7 update_missing          policy -> custom (resolver)
#     and record what the new policy decided, or one transaction_skipped row
#     per skipped transaction (exactly that one: the next is applied).
# update_missing needs a key node_a never saw: node_c inserts it while
# node_a does not apply from node_c; node_b updates it.
#
# Then, with every link running: a table's policy changed at node_a
# (keep_local -> apply_remote -> error -> last_update_wins) decides the very
# next transaction applied there; and a custom resolver that raises an error
# fails the apply (retried) until the function is fixed.
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
my $db    = $ConcordTest::DB;

my @row_tables = qw(e_ie e_uod e_um e_ud e_dod e_dm e_id pc);
my $ddl = join("\n",
	(map { "CREATE TABLE public.$_ (id int PRIMARY KEY, val int NOT NULL, note text);" } @row_tables),
	'CREATE TABLE public.e_uv (id int PRIMARY KEY, email text NOT NULL UNIQUE, val int);',
	'CREATE TABLE public.marks (id int PRIMARY KEY, v text);',
	q{
	CREATE FUNCTION public.e_pick(local public.e_um, remote public.e_um, conflict_type text)
	RETURNS public.e_um LANGUAGE plpgsql AS $$
	BEGIN
		IF local IS NULL OR remote.val > local.val THEN
			remote.note := conflict_type;
			RETURN remote;
		END IF;
		RETURN NULL;
	END $$;
	});
for my $n (@nodes)
{
	$n->safe_psql($db, $ddl);
	my $policy = $n == $na ? 'error' : 'last_update_wins';
	$n->safe_psql($db, "SELECT concord.add_table('public.$_', '$policy')") for grep { $_ ne 'pc' } @row_tables;
	$n->safe_psql($db, "SELECT concord.add_table('public.e_uv', '$policy')");
	$n->safe_psql($db, "SELECT concord.add_table('public.marks')");
	$n->safe_psql($db, "SELECT concord.add_table('public.pc', '"
		  . ($n == $na ? 'keep_local' : 'last_update_wins') . "')");
}
install_txlog(\@nodes);
full_mesh(\@nodes);

sub m_t { my ($id, $val, $note) = @_; return tup(id => $id, val => $val, note => $note); }
sub key_t { return m_t($_[0], undef, undef); }

# --- set-up ---------------------------------------------------------------------

labelled_txn($na, 'S', join('; ', map { "INSERT INTO $_ VALUES (1, 0)" } qw(e_uod e_ud e_dod e_dm)));
ok(wait_converged(\@nodes), 'setup rows converged');

pause_link($na, $nc);
labelled_txn($nc, 'C', 'INSERT INTO e_um VALUES (1, 0)');
ok(wait_applied_by($nc, $nb), "node_b has node_c's row of e_um (node_a has not)");

pause_link($na, $nb);
pause_link($nb, $na);
my ($ret, $out, $err) = $na->psql($db, "SELECT concord.skip_transaction('node_b')");
like($err, qr/no transaction from peer "node_b" is failing now/,
	'skip_transaction refuses while nothing from the peer is failing');
($ret, $out, $err) = $na->psql($db, "SELECT concord.skip_transaction('nobody')");
like($err, qr/no subscription to peer "nobody"/, 'skip_transaction refuses an unknown peer');

labelled_txn($nb, 'B0', 'INSERT INTO e_id VALUES (1, 5)');
labelled_txn($na, 'A', join('; ',
	'INSERT INTO e_ie VALUES (1, 10)',
	'DELETE FROM e_ud WHERE id = 1',
	'DELETE FROM e_dm WHERE id = 1',
	"INSERT INTO e_uv VALUES (1, 'x', 10)",
	'INSERT INTO e_id VALUES (1, 6)',
	'DELETE FROM e_id WHERE id = 1'));
labelled_txn($nb, 'B1', 'INSERT INTO e_ie VALUES (1, 20)');
labelled_txn($nb, 'B2', 'UPDATE e_uod SET val = 30 WHERE id = 1; INSERT INTO e_uod VALUES (2, 31)');
labelled_txn($nb, 'B3', 'UPDATE e_ud SET val = 40 WHERE id = 1');
labelled_txn($nb, 'B4', 'DELETE FROM e_dod WHERE id = 1');
labelled_txn($nb, 'B5', 'DELETE FROM e_dm WHERE id = 1');
labelled_txn($nb, 'B6', "INSERT INTO e_uv VALUES (2, 'x', 20)");
labelled_txn($nb, 'B7', 'UPDATE e_um SET val = 70 WHERE id = 1');
labelled_txn($nb, 'B8', "INSERT INTO marks VALUES (1, 'after every conflict')");

# --- node_a meets each conflict in turn -------------------------------------------

my @steps = (
	{
		label => 'B0', table => 'e_id', type => 'insert_deleted', op => 'INSERT',
		act => "SELECT concord.set_conflict_policy('public.e_id', 'keep_local')",
		how => 'policy changed to keep_local',
		rows => '',
		conflicts => [ conflict_line(1, 'insert_deleted', 'keep_local', 'node_a', 'node_b', 'A', 'B0', undef, m_t(1, 5)) ],
	},
	{
		label => 'B1', table => 'e_ie', type => 'insert_exists', op => 'INSERT',
		act => "SELECT concord.set_conflict_policy('public.e_ie', 'apply_remote')",
		how => 'policy changed to apply_remote',
		rows => '1|20|',
		conflicts => [ conflict_line(1, 'insert_exists', 'apply_remote', 'node_a', 'node_b', 'A', 'B1', m_t(1, 10), m_t(1, 20)) ],
	},
	{
		label => 'B2', table => 'e_uod', type => 'update_origin_differs', op => 'UPDATE',
		act => "SELECT concord.skip_transaction('node_b')", skip => 2,
		how => 'skip_transaction',
		rows => '1|0|',
		conflicts => [],
	},
	{
		label => 'B3', table => 'e_ud', type => 'update_deleted', op => 'UPDATE',
		act => "SELECT concord.set_conflict_policy('public.e_ud', 'last_update_wins')",
		how => 'policy changed to last_update_wins',
		rows => '1|40|',
		conflicts => [ conflict_line(1, 'update_deleted', 'apply_remote', 'node_a', 'node_b', 'A', 'B3', undef, m_t(1, 40)) ],
	},
	{
		label => 'B4', table => 'e_dod', type => 'delete_origin_differs', op => 'DELETE',
		act => "SELECT concord.set_conflict_policy('public.e_dod', 'apply_remote')",
		how => 'policy changed to apply_remote',
		rows => '',
		conflicts => [ conflict_line(1, 'delete_origin_differs', 'apply_remote', 'node_a', 'node_b', 'S', 'B4', m_t(1, 0), key_t(1)) ],
	},
	{
		label => 'B5', table => 'e_dm', type => 'delete_missing', op => 'DELETE',
		act => "SELECT concord.skip_transaction('node_b')", skip => 1,
		how => 'skip_transaction',
		rows => '',
		conflicts => [],
	},
	{
		label => 'B6', table => 'e_uv', type => 'unique_violation', op => 'INSERT',
		act => "UPDATE e_uv SET email = 'y' WHERE id = 1",
		how => 'the local row holding the email changed',
		rows => "1|y|10\n2|x|20",
		conflicts => [],
	},
	{
		label => 'B7', table => 'e_um', type => 'update_missing', op => 'UPDATE',
		act => "SELECT concord.set_conflict_policy('public.e_um', 'custom', 'public.e_pick(public.e_um, public.e_um, text)')",
		how => 'policy changed to custom',
		rows => '1|70|update_missing',
		conflicts => [ conflict_line(1, 'update_missing', 'custom', '', 'node_b', '', 'B7', undef, m_t(1, 70)) ],
	},
);

sub table_rows
{
	my ($n, $t) = @_;
	my $cols = $t eq 'e_uv' ? 'id, email, val' : 'id, val, note';
	return $n->safe_psql($db, "SELECT $cols FROM $t ORDER BY id");
}

my %before = map { $_->{table} => table_rows($na, $_->{table}) } @steps;
my @skipped;
resume_link($na, $nb);
for my $i (0 .. $#steps)
{
	my $s    = $steps[$i];
	my $what = "$s->{label} ($s->{type} on $s->{table})";
	my $like = "conflict $s->{type} on table \"public.$s->{table}\": $s->{op} from peer \"node_b\" (conflict policy \"error\")%";
	ok(wait_peer_error($na, 'node_b', $like, 2), "$what: node_a's apply stops; concord.peers shows the conflict");
	my $peer = peer_of($na, 'node_b');
	ok(defined $peer->{last_error_at}, "$what: last_error_at is set ($peer->{last_error_at})");
	my $f = $peer->{failures};
	ok(poll_until($na, "SELECT failures > $f FROM concord.peers WHERE peer_name = 'node_b'", 't', 30),
		"$what: the apply is retried (failures grows past $f)");
	ok(wait_peer_error($na, 'node_b', $like, $f + 1), "$what: still the same error after a retry");

	# Nothing of it or after it was applied, nothing recorded.
	is(table_rows($na, $s->{table}), $before{ $s->{table} }, "$what: $s->{table} at node_a is untouched");
	if ($i < $#steps)
	{
		my $next = $steps[ $i + 1 ]{table};
		is(table_rows($na, $next), $before{$next}, "$what: the next transaction's table $next is untouched");
	}
	is($na->safe_psql($db, 'SELECT count(*) FROM marks'), '0', "$what: node_b's later mark has not arrived");
	is($na->safe_psql($db, "SELECT count(*) FROM concord.conflicts WHERE relation = 'public.$s->{table}'::regclass"),
		'0', "$what: no conflict row while it fails");

	# The operator acts.
	my $skipped_before = $na->safe_psql($db,
		"SELECT count(*) FROM concord.conflicts WHERE conflict_type = 'transaction_skipped'");
	my ($r, $o, $e) = $na->psql($db, $s->{act});
	is($r, 0, "$what: operator: $s->{how}") or diag $e;
	like($e, qr/will be skipped/, "$what: skip_transaction says which transaction it will skip") if $s->{skip};
	push @skipped, $s if $s->{skip};

	# It moves on: the change is decided by the new state, and recorded.
	ok(poll_until($na,
			"SELECT NOT (last_error IS NOT NULL AND last_error LIKE '"
			  . ($like =~ s/'/''/gr)
			  . "') FROM concord.peers WHERE peer_name = 'node_b'", 't', 30),
		"$what: node_a moved past it after: $s->{how}")
	  or diag_peers($na);
	# The next step's error (or the mark) shows that the transaction committed.
	if ($i < $#steps)
	{
		my $n = $steps[ $i + 1 ];
		ok(wait_peer_error($na, 'node_b', "conflict $n->{type} on table \"public.$n->{table}\"%", 1),
			"$what: node_a now stops at the next transaction ($n->{label})");
	}
	else
	{
		ok(poll_until($na, 'SELECT count(*) FROM marks', '1', 30), "$what: node_b's mark arrived at last");
	}
	is(table_rows($na, $s->{table}), $s->{rows}, "$what: $s->{table} at node_a after: $s->{how}");
	is_deeply(conflict_lines($na, "public.$s->{table}"), [ sort @{ $s->{conflicts} } ],
		"$what: concord.conflicts at node_a after: $s->{how}")
	  or diag explain conflict_lines($na, "public.$s->{table}");
	is( $na->safe_psql($db, "SELECT count(*) FROM concord.conflicts WHERE conflict_type = 'transaction_skipped'"),
		$skipped_before + ($s->{skip} ? 1 : 0),
		"$what: " . ($s->{skip} ? 'one transaction_skipped row' : 'no transaction_skipped row'));
}

my $peer = peer_of($na, 'node_b');
ok($peer->{status} eq 'streaming' && !defined $peer->{last_error} && !$peer->{failures},
	'node_a streams from node_b again, the error is gone')
  or diag explain $peer;
is(table_rows($na, 'e_uod'), '1|0|', 'the skipped transaction B2 left no trace at node_a (neither of its changes)');

# The transaction_skipped rows: exactly the skipped transactions.
my $want_skips = join("\n",
	map { join('|', '', 'skipped', '', 'node_b', '', ts_of($_->{label}), qq({"changes": $_->{skip}}), 't') }
	  @skipped);
is( rows_of($na,
		"SELECT coalesce(relation::text, ''), resolution, coalesce(local_origin, ''), remote_origin, "
		  . "coalesce(local_commit_ts::text, ''), remote_commit_ts, remote_tuple, remote_lsn IS NOT NULL "
		  . "FROM concord.conflicts WHERE conflict_type = 'transaction_skipped' ORDER BY conflict_id"),
	$want_skips,
	'each skipped transaction is one transaction_skipped row: no relation, its origin, commit time and change count');
($ret, $out, $err) = $na->psql($db, "SELECT concord.skip_transaction('node_b')");
like($err, qr/no transaction from peer "node_b" is failing now/, 'nothing left to skip once the apply runs');

# --- the rest of the mesh ----------------------------------------------------------

resume_all(\@nodes);
ok(wait_converged(\@nodes), 'after every link resumed, wait_for_peers is true on every node');
my %final = (
	e_ie  => [ '1|20|',  '1|20|',  '1|20|' ],
	e_uod => [ '1|0|',   "1|30|\n2|31|", "1|30|\n2|31|" ],
	e_ud  => [ '1|40|',  '1|40|',  '1|40|' ],
	e_dod => [ '',       '',       '' ],
	e_dm  => [ '',       '',       '' ],
	e_id  => [ '',       '',       '' ],
	e_uv  => [ "1|y|10\n2|x|20", "1|y|10\n2|x|20", "1|y|10\n2|x|20" ],
	e_um  => [ '1|70|update_missing', '1|70|', '1|70|' ],
);
for my $t (sort keys %final)
{
	for my $i (0 .. 2)
	{
		is(table_rows($nodes[$i], $t), $final{$t}[$i], "$t at " . $nodes[$i]->name . ' in the end');
	}
}
# node_c's older insert of e_um reached node_a last: the resolver kept the local row.
is_deeply(
	conflict_lines($na, 'public.e_um'),
	[
		sort(conflict_line(1, 'update_missing', 'custom', '', 'node_b', '', 'B7', undef, m_t(1, 70)),
			conflict_line(1, 'insert_exists', 'keep_local', 'node_b', 'node_c', 'B7', 'C', m_t(1, 70, 'update_missing'),
				m_t(1, 0)))
	],
	"e_um at node_a: node_c's older insert went to the resolver, which kept the local row");

# --- set_conflict_policy on a running mesh ------------------------------------------

labelled_txn($na, 'P0', 'INSERT INTO pc VALUES (1, 0), (2, 0)');
ok(wait_converged(\@nodes), 'pc rows converged');
labelled_txn($nb, 'P1', 'UPDATE pc SET val = 1 WHERE id = 1');
ok(wait_applied_by($nb, $na), 'node_a applied P1');
is(table_rows($na, 'pc'), "1|0|\n2|0|", 'keep_local: node_a kept its row against P1');
$na->safe_psql($db, "SELECT concord.set_conflict_policy('public.pc', 'apply_remote')");
labelled_txn($nb, 'P2', 'UPDATE pc SET val = 2 WHERE id = 1');
ok(wait_applied_by($nb, $na), 'node_a applied P2');
is(table_rows($na, 'pc'), "1|2|\n2|0|", 'the next transaction after set_conflict_policy(apply_remote) is applied');
$na->safe_psql($db, "SELECT concord.set_conflict_policy('public.pc', 'error')");
labelled_txn($nb, 'P3', 'UPDATE pc SET val = 3 WHERE id = 2');
ok(wait_peer_error($na, 'node_b', 'conflict update_origin_differs on table "public.pc"%', 1),
	'the next transaction after set_conflict_policy(error) stops the apply');
$na->safe_psql($db, "SELECT concord.set_conflict_policy('public.pc', 'last_update_wins')");
ok(wait_applied_by($nb, $na), 'after set_conflict_policy(last_update_wins) node_a applies it');
is(table_rows($na, 'pc'), "1|2|\n2|3|", 'pc at node_a: P3 applied');
is_deeply(
	conflict_lines($na, 'public.pc'),
	[
		sort(conflict_line(1, 'update_origin_differs', 'keep_local', 'node_a', 'node_b', 'P0', 'P1', m_t(1, 0), m_t(1, 1)),
			conflict_line(1, 'update_origin_differs', 'apply_remote', 'node_a', 'node_b', 'P0', 'P2', m_t(1, 0), m_t(1, 2)),
			conflict_line(2, 'update_origin_differs', 'apply_remote', 'node_a', 'node_b', 'P0', 'P3', m_t(2, 0), m_t(2, 3)))
	],
	'pc at node_a: each transaction decided by the policy set just before it');
ok(wait_converged(\@nodes), 'the mesh converges');
assert_same_everywhere(\@nodes, 'pc', 'pc is identical on every node');

# A custom resolver that fails fails the apply, which is retried until the
# function is fixed.
$na->safe_psql($db, q{
	CREATE FUNCTION public.pc_pick(local public.pc, remote public.pc, conflict_type text) RETURNS public.pc
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'resolver says no to %', conflict_type; END $$;
	SELECT concord.set_conflict_policy('public.pc', 'custom', 'public.pc_pick(public.pc, public.pc, text)');
});
labelled_txn($na, 'P4', 'INSERT INTO pc VALUES (3, 0)');
ok(wait_converged(\@nodes), 'pc row 3 converged');
labelled_txn($nb, 'P5', 'UPDATE pc SET val = 5 WHERE id = 3');
ok(wait_peer_error($na, 'node_b', '%resolver says no to update_origin_differs%', 2),
	'a resolver that raises an error stops the apply; the error shows in concord.peers and is retried');
is(table_rows($na, 'pc'), "1|2|\n2|3|\n3|0|", 'nothing of the failing transaction was applied');
$na->safe_psql($db, q{
	CREATE OR REPLACE FUNCTION public.pc_pick(local public.pc, remote public.pc, conflict_type text) RETURNS public.pc
	LANGUAGE plpgsql AS $$ BEGIN remote.note := conflict_type; RETURN remote; END $$;
});
ok(wait_applied_by($nb, $na), 'once the resolver is fixed, node_a applies the transaction');
is(table_rows($na, 'pc'), "1|2|\n2|3|\n3|5|update_origin_differs", "the fixed resolver's row was written");
is_deeply(conflict_lines($na, 'public.pc', 'id', "remote_commit_ts > '" . ts_of('P4') . "'"),
	[ conflict_line(3, 'update_origin_differs', 'custom', 'node_a', 'node_b', 'P4', 'P5', m_t(3, 0), m_t(3, 5)) ],
	'recorded once, as resolved by the resolver');
assert_links_streaming(\@nodes);
# The slow paths' statements connect to SPI per transaction; nothing is left open.
assert_no_resource_warnings(\@nodes);

done_testing();
