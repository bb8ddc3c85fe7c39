# 001_full_mesh.pl — a 3-node full mesh: INSERT, UPDATE, DELETE and TRUNCATE
# written at every node arrive exactly once at every other node, and never
# echo back to where they came from.
#
# How "exactly once, no echo" is seen: every node has an audit table (not
# replicated) filled by an ENABLE ALWAYS trigger, which fires both for local
# writes and for applied ones (session_replication_role = replica).  At each
# node the audit must list exactly the local events as local and exactly the
# other nodes' events as applied — one entry per (id, operation), in as many
# applied transactions as the peers committed.  An echo would add applied
# events for the node's own writes (or fail the apply with a duplicate key),
# a double apply would duplicate events.  An ordinary trigger must fire only
# for local writes.  Rows applied from a peer carry that peer's replication
# origin (the basis of loop prevention).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;

my @names = qw(node_a node_b node_c);
my @nodes = concord_nodes(@names);
my %node = map { $_->name => $_ } @nodes;

create_table_everywhere(\@nodes, q{
	CREATE TABLE public.t (id int PRIMARY KEY, origin text NOT NULL, v int NOT NULL);
	CREATE TABLE public.tt (id int PRIMARY KEY, v text);
	CREATE TABLE public.tt2 (id int PRIMARY KEY);
	CREATE TABLE public.audit (tbl text, id int, op text, applied boolean, xid xid8);
	CREATE TABLE public.plain_audit (tbl text, id int, op text);
	CREATE FUNCTION public.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.audit VALUES (TG_TABLE_NAME,
			CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, TG_OP,
			current_setting('session_replication_role') = 'replica', pg_current_xact_id());
		RETURN NULL;
	END $$;
	CREATE FUNCTION public.audit_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.audit VALUES (TG_TABLE_NAME, NULL, TG_OP,
			current_setting('session_replication_role') = 'replica', pg_current_xact_id());
		RETURN NULL;
	END $$;
	CREATE FUNCTION public.plain_row() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.plain_audit VALUES (TG_TABLE_NAME,
			CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, TG_OP);
		RETURN NULL;
	END $$;
	CREATE TRIGGER t_audit AFTER INSERT OR UPDATE OR DELETE ON public.t
		FOR EACH ROW EXECUTE FUNCTION public.audit_row();
	ALTER TABLE public.t ENABLE ALWAYS TRIGGER t_audit;
	CREATE TRIGGER t_plain AFTER INSERT OR UPDATE OR DELETE ON public.t
		FOR EACH ROW EXECUTE FUNCTION public.plain_row();
	CREATE TRIGGER tt_audit AFTER TRUNCATE ON public.tt
		FOR EACH STATEMENT EXECUTE FUNCTION public.audit_truncate();
	ALTER TABLE public.tt ENABLE ALWAYS TRIGGER tt_audit;
}, 'public.t', 'public.tt', 'public.tt2');

full_mesh(\@nodes);
is(scalar @{ peers($_) }, 2, $_->name . ' has one concord.peers row per other node')
  for @nodes;

# The model: expected rows of t, and every event with its origin and transaction.
my %rows;      # id => "origin|v"
my @events;    # [origin node, table, id, op, transaction label]
my $txn = 0;

# Runs one transaction of STATEMENTS at NODE; EVENTS are [table, id, op] it causes.
sub write_txn
{
	my ($name, $sql, @ev) = @_;
	$txn++;
	$node{$name}->safe_psql($ConcordTest::DB, "BEGIN; $sql; COMMIT;");
	push @events, [ $name, @$_, "$name#$txn" ] for @ev;
	return;
}

# Phase 1: every node inserts, updates and deletes its own rows, interleaved.
my %base = (node_a => 1000, node_b => 2000, node_c => 3000);
for my $name (@names)
{
	my $b = $base{$name};
	write_txn($name,
		"INSERT INTO t SELECT g, '$name', g FROM generate_series($b + 1, $b + 20) g",
		map { [ 't', $_, 'INSERT' ] } $b + 1 .. $b + 20);
	$rows{$_} = "$name|$_" for $b + 1 .. $b + 20;
}
for my $i (21 .. 25)
{
	for my $name (@names)
	{
		my $id = $base{$name} + $i;
		write_txn($name, "INSERT INTO t VALUES ($id, '$name', $id)", [ 't', $id, 'INSERT' ]);
		$rows{$id} = "$name|$id";
	}
}
for my $name (@names)
{
	my $b = $base{$name};
	my $id26 = $b + 26;
	write_txn(
		$name,
		"UPDATE t SET v = v + 100 WHERE id BETWEEN $b + 1 AND $b + 5; "
		  . "DELETE FROM t WHERE id BETWEEN $b + 6 AND $b + 8; "
		  . "INSERT INTO t VALUES ($id26, '$name', $id26)",
		(map { [ 't', $_, 'UPDATE' ] } $b + 1 .. $b + 5),
		(map { [ 't', $_, 'DELETE' ] } $b + 6 .. $b + 8),
		[ 't', $id26, 'INSERT' ]);
	$rows{$_} = "$name|" . ($_ + 100) for $b + 1 .. $b + 5;
	delete $rows{$_} for $b + 6 .. $b + 8;
	$rows{$id26} = "$name|$id26";
}
# Rows inserted and then changed within the same transaction (the apply may
# batch inserts; the later changes must see them).
for my $name (@names)
{
	my $b = $base{$name};
	write_txn(
		$name,
		"INSERT INTO t SELECT g, '$name', g FROM generate_series($b + 30, $b + 39) g; "
		  . "UPDATE t SET v = -31 WHERE id = $b + 31; "
		  . "DELETE FROM t WHERE id = $b + 32; "
		  . "INSERT INTO t VALUES ($b + 40, '$name', 0); "
		  . "UPDATE t SET v = 40 WHERE id = $b + 40; "
		  . "INSERT INTO t SELECT g, '$name', g FROM generate_series($b + 41, $b + 45) g",
		(map { [ 't', $_, 'INSERT' ] } $b + 30 .. $b + 45),
		[ 't', $b + 31, 'UPDATE' ],
		[ 't', $b + 32, 'DELETE' ],
		[ 't', $b + 40, 'UPDATE' ]);
	$rows{$_} = "$name|$_" for $b + 30 .. $b + 45;
	$rows{ $b + 31 } = "$name|-31";
	delete $rows{ $b + 32 };
	$rows{ $b + 40 } = "$name|40";
}
ok(wait_converged(\@nodes), 'phase 1 (own rows) converged');

# Phase 2: nodes change rows that arrived from other nodes.
write_txn('node_b', "UPDATE t SET v = -1 WHERE id IN (1009, 1010)",
	[ 't', 1009, 'UPDATE' ], [ 't', 1010, 'UPDATE' ]);
$rows{$_} = 'node_a|-1' for 1009, 1010;
write_txn('node_c', "DELETE FROM t WHERE id IN (1011, 2011)",
	[ 't', 1011, 'DELETE' ], [ 't', 2011, 'DELETE' ]);
delete $rows{$_} for 1011, 2011;
write_txn('node_a', "UPDATE t SET v = -2 WHERE id = 3012", [ 't', 3012, 'UPDATE' ]);
$rows{3012} = 'node_c|-2';
# An update that changes the key.
write_txn('node_b', "UPDATE t SET id = 3999 WHERE id = 3013",
	[ 't', 3013, 'UPDATE-OLD' ], [ 't', 3999, 'UPDATE' ]);
$rows{3999} = delete $rows{3013};
ok(wait_converged(\@nodes), 'phase 2 (rows of other nodes) converged');

# Phase 3: TRUNCATE.
write_txn('node_a', "INSERT INTO tt SELECT g, 'a' || g FROM generate_series(1, 10) g; "
	. "INSERT INTO tt2 SELECT generate_series(1, 5)");
ok(wait_converged(\@nodes), 'tt rows converged');
is($_->safe_psql($ConcordTest::DB, 'SELECT count(*) FROM tt'), '10', $_->name . ': tt has 10 rows')
  for @nodes;
write_txn('node_c', 'TRUNCATE tt, tt2', [ 'tt', undef, 'TRUNCATE' ]);
ok(wait_converged(\@nodes), 'TRUNCATE converged');
is($_->safe_psql($ConcordTest::DB, 'SELECT (SELECT count(*) FROM tt) + (SELECT count(*) FROM tt2)'), '0',
	$_->name . ': tt and tt2 are empty after TRUNCATE tt, tt2 at node_c')
  for @nodes;
# Inserts around a TRUNCATE in one transaction: only the later ones survive.
write_txn('node_b', "INSERT INTO tt VALUES (9, 'gone'), (1, 'gone'); TRUNCATE tt; "
	. "INSERT INTO tt VALUES (1, 'b1'), (2, 'b2'), (3, 'b3')", [ 'tt', undef, 'TRUNCATE' ]);
ok(wait_converged(\@nodes), 'inserts after TRUNCATE converged');
is($_->safe_psql($ConcordTest::DB, "SELECT string_agg(v, ',' ORDER BY id) FROM tt"), 'b1,b2,b3',
	$_->name . ': tt holds exactly the rows inserted after the TRUNCATE')
  for @nodes;

# Contents of t: exactly the model, on every node.
my $expected_rows = join("\n", map { "$_|$rows{$_}" } sort { $a <=> $b } keys %rows);
for my $n (@nodes)
{
	is($n->safe_psql($ConcordTest::DB, 'SELECT id, origin, v FROM t ORDER BY id'),
		$expected_rows, $n->name . ': t holds exactly the expected rows');
	is($n->safe_psql($ConcordTest::DB, 'SELECT count(*) = count(DISTINCT id) FROM t'),
		't', $n->name . ': every id of t is present once');
}
assert_same_everywhere(\@nodes, 't', 't is identical on every node');

# The audit: each event once, applied exactly where it did not originate.
sub event_key
{
	my ($e) = @_;
	my ($tbl, $id, $op) = @$e[ 1 .. 3 ];
	# An UPDATE of the key shows as one UPDATE row event (of the new key) in the trigger.
	return undef if $op eq 'UPDATE-OLD';
	return join(':', $tbl, $id // '-', $op);
}
for my $n (@nodes)
{
	my $name = $n->name;
	my @local  = sort grep { defined } map { event_key($_) } grep { $_->[0] eq $name } @events;
	my @remote = sort grep { defined } map { event_key($_) } grep { $_->[0] ne $name } @events;
	my %remote_txns = map { $_->[4] => 1 } grep { $_->[0] ne $name } @events;

	my $got_remote = $n->safe_psql($ConcordTest::DB,
		"SELECT string_agg(k, ',' ORDER BY k COLLATE \"C\") FROM "
		  . "(SELECT tbl || ':' || coalesce(id::text, '-') || ':' || op AS k FROM audit WHERE applied) s");
	my $got_local = $n->safe_psql($ConcordTest::DB,
		"SELECT string_agg(k, ',' ORDER BY k COLLATE \"C\") FROM "
		  . "(SELECT tbl || ':' || coalesce(id::text, '-') || ':' || op AS k FROM audit WHERE NOT applied) s");
	is($got_local, join(',', sort { $a cmp $b } @local),
		"$name: the ALWAYS trigger saw each local write once");
	# concord applies a key-changing UPDATE as a DELETE of the old key and an
	# INSERT of the new one (each key decided on its own for convergence);
	# either form, exactly once, is one applied write.
	my @got_remote = split /,/, $got_remote;
	my %got = map { $_ => 1 } @got_remote;
	if ($got{'t:3013:DELETE'} && $got{'t:3999:INSERT'} && !$got{'t:3999:UPDATE'})
	{
		@got_remote = sort { $a cmp $b } ((grep { $_ ne 't:3013:DELETE' && $_ ne 't:3999:INSERT' } @got_remote),
			't:3999:UPDATE');
		note("$name applied the key change 3013 -> 3999 as DELETE + INSERT");
	}
	$got_remote = join(',', @got_remote);
	is($got_remote, join(',', sort { $a cmp $b } @remote),
		"$name: each write of the other nodes was applied exactly once, none of its own came back");
	is($n->safe_psql($ConcordTest::DB, 'SELECT count(DISTINCT xid) FROM audit WHERE applied'),
		scalar(keys %remote_txns),
		"$name: the peers' transactions were applied as as many transactions, no extra ones");

	my $plain = $n->safe_psql($ConcordTest::DB,
		"SELECT string_agg(k, ',' ORDER BY k COLLATE \"C\") FROM "
		  . "(SELECT tbl || ':' || id || ':' || op AS k FROM plain_audit) s");
	is($plain, join(',', sort { $a cmp $b } grep { /^t:/ } @local),
		"$name: an ordinary trigger fired only for local writes");
}

# Rows applied from a peer carry the peer's replication origin; local rows none.
for my $n (@nodes)
{
	my $name = $n->name;
	my %link = map { $_->{peer_name} => $_->{link_name} } @{ peers($n) };
	my $want = join("\n",
		map {
			my $id = $_;
			# The last writer of a row decides its origin.
			my ($last) = grep { $_->[1] eq 't' && defined $_->[2] && $_->[2] == $id } reverse @events;
			"$id|" . ($last->[0] eq $name ? '' : $link{ $last->[0] });
		} sort { $a <=> $b } keys %rows);
	my $got = $n->safe_psql($ConcordTest::DB,
		"SELECT t.id, coalesce(o.roname, '') FROM t "
		  . "LEFT JOIN pg_replication_origin o ON o.roident = (pg_xact_commit_timestamp_origin(t.xmin)).roident "
		  . "ORDER BY t.id");
	is($got, $want, "$name: every row carries the replication origin of the node that last wrote it");
}

# Nothing failed along the way.
assert_links_streaming(\@nodes);
# The slow paths' statements connect to SPI per transaction; nothing is left open.
assert_no_resource_warnings(\@nodes);

done_testing();
