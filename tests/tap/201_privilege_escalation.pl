# 201_privilege_escalation.pl — user code reached by an applied change runs
# with no more privilege than the table's owner, on every node.
#
# mallory is an ordinary login role on all three nodes of a full mesh.  She
# owns schema mallory_s and tables in it, replicated by the administrator.
# Her code is written to attack only where it runs as part of an apply
# (session_replication_role = replica), so her own writes at node_a succeed
# and every attack happens at node_b and node_c, inside their apply workers.
# Expected everywhere: the apply runs her code as mallory inside a
# security-restricted operation; she never becomes superuser, no role is
# created, public.protected (which she may not write) stays empty, concord's
# catalog is neither read nor written.
#
#   1. quiet: an ENABLE ALWAYS row trigger tries, catching each error,
#      ALTER ROLE ... SUPERUSER, SET ROLE / RESET ROLE / SET SESSION
#      AUTHORIZATION to the apply's (superuser) session user, set_config,
#      session_replication_role, temporary tables, writes to a protected
#      table and to concord's catalog, reading the peers' DSNs, CREATE ROLE,
#      COPY TO PROGRAM, reading a server file.  The apply succeeds; every
#      attempt was refused, and it ran as mallory.
#   2. loud (the pglogical report): an ENABLE ALWAYS trigger runs ALTER ROLE
#      mallory SUPERUSER without catching the error.  The apply fails,
#      concord.peers shows the error and the apply is retried; once the
#      operator disables the trigger the row arrives.
#   3. a DEFAULT on a column only the subscribers have, 4. a CHECK
#      constraint, 5. an index expression (an IMMUTABLE function calling a
#      VOLATILE one): each calls a function writing public.protected.  Each
#      apply fails with permission denied, is retried, and goes through once
#      the operator removes the default / constraint / index.
#   6. a TRUNCATE trigger on her own table (TRUNCATE of that table alone).
#   7. a domain whose CHECK calls her function (values are converted to the
#      column's type on the apply side).
#   8. a TRUNCATE trigger on her table when the TRUNCATE also names a table
#      of another (unprivileged) owner, which she may truncate.
#   9. her trigger changes session settings (default_transaction_read_only,
#      search_path) of the apply's session: later transactions apply as usual.
#  10. her trigger leaves search_path = mallory_s, pg_catalog, and she owns an
#      "=" operator for oids there; her transaction goes on with another
#      owner's table: no statement the worker runs afterwards (as that owner
#      or as itself) may call her operator.
#  11. concord.copy_table fills her table on node_b and node_c from node_a:
#      her domain CHECK and trigger run during the copy as mallory.
# Steps 1 and 6-11 check who her code ran as (recorded by the code itself in
# mallory_s.seen on each node), so an apply that succeeds is not taken as
# proof.  The steps run in the order 1-6, 9, 10, 11, 7, 8; whatever a step
# that escalated left behind (a superuser mallory, protected rows) is undone
# before the next one, so each step is judged on its own.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use PostgreSQL::Test::Utils;
use Test::More;

my ($na, $nb, $nc) = concord_nodes([qw(node_a node_b node_c)], conf => [ 'concord.retry_delay_max = 2s' ]);
my @nodes = ($na, $nb, $nc);
my @subs  = ($nb, $nc);
my $db    = $ConcordTest::DB;

# --- Roles, the protected table and mallory's toolkit, on every node ----------
my $setup = <<'SQL';
CREATE ROLE mallory LOGIN;
CREATE ROLE app_owner NOLOGIN;
CREATE SCHEMA mallory_s AUTHORIZATION mallory;
CREATE TABLE public.protected (id serial PRIMARY KEY, note text);
REVOKE ALL ON public.protected FROM PUBLIC;
CREATE TABLE public.shared_t (id int PRIMARY KEY);
ALTER TABLE public.shared_t OWNER TO app_owner;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON public.shared_t TO mallory;

SET ROLE mallory;
CREATE TABLE mallory_s.seen (n serial, what text, cur_user text, sess_user text, su boolean, srr text);

-- Apply workers run with search_path = '': everything is schema-qualified.
CREATE FUNCTION mallory_s.note(what text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO mallory_s.seen (what, cur_user, sess_user, su, srr)
    SELECT what, current_user, session_user, r.rolsuper, pg_catalog.current_setting('session_replication_role')
      FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
END $f$;

CREATE FUNCTION mallory_s.attempt(what text, cmd text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE cmd;
    PERFORM mallory_s.note(what || ': done');
EXCEPTION WHEN OTHERS THEN
    PERFORM mallory_s.note(what || ': refused: ' || SQLERRM);
END $f$;

-- Everything she would like to do with a superuser's rights.  everything = false
-- leaves out the attempts that would damage the node if they succeeded.
CREATE FUNCTION mallory_s.escalate(via text, everything boolean) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM mallory_s.note(via);
    PERFORM mallory_s.attempt(via || ' / alter role', 'ALTER ROLE mallory SUPERUSER');
    PERFORM mallory_s.attempt(via || ' / write protected',
                              pg_catalog.format('INSERT INTO public.protected (note) VALUES (%L)', via));
    PERFORM mallory_s.attempt(via || ' / read dsn', 'SELECT peer_dsn FROM concord.subscription');
    PERFORM mallory_s.attempt(via || ' / set role', pg_catalog.format('SET ROLE %I', session_user));
    PERFORM mallory_s.attempt(via || ' / reset role', 'RESET ROLE');
    IF everything THEN
        PERFORM mallory_s.attempt(via || ' / set session authorization',
                                  pg_catalog.format('SET SESSION AUTHORIZATION %I', session_user));
        PERFORM mallory_s.attempt(via || ' / set_config role',
                                  pg_catalog.format('SELECT pg_catalog.set_config(''role'', %L, false)', session_user));
        PERFORM mallory_s.attempt(via || ' / replication role', 'SET session_replication_role = origin');
        PERFORM mallory_s.attempt(via || ' / temp table', 'CREATE TEMP TABLE mallory_tmp (a int)');
        PERFORM mallory_s.attempt(via || ' / write catalog', 'UPDATE concord.subscription SET enabled = false');
        PERFORM mallory_s.attempt(via || ' / write tombstones', 'DELETE FROM concord.tombstone');
        PERFORM mallory_s.attempt(via || ' / write conflicts',
                                  'INSERT INTO concord.conflicts (conflict_type, resolution) VALUES (''x'', ''y'')');
        PERFORM mallory_s.attempt(via || ' / create role', 'CREATE ROLE mallory_twin SUPERUSER LOGIN');
        PERFORM mallory_s.attempt(via || ' / copy to program', 'COPY (SELECT 1) TO PROGRAM ''true''');
        PERFORM mallory_s.attempt(via || ' / read server file', 'SELECT pg_catalog.pg_read_file(''postgresql.conf'')');
    END IF;
END $f$;

CREATE FUNCTION mallory_s.in_apply() RETURNS boolean LANGUAGE sql AS
    $f$ SELECT pg_catalog.current_setting('session_replication_role') = 'replica' $f$;

-- 1. quiet
CREATE TABLE mallory_s.t_quiet (id int PRIMARY KEY, v text);
CREATE FUNCTION mallory_s.quiet_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF mallory_s.in_apply() THEN PERFORM mallory_s.escalate('row trigger', true); END IF;
    RETURN NEW;
END $f$;
CREATE TRIGGER quiet BEFORE INSERT OR UPDATE ON mallory_s.t_quiet FOR EACH ROW EXECUTE FUNCTION mallory_s.quiet_trg();
ALTER TABLE mallory_s.t_quiet ENABLE ALWAYS TRIGGER quiet;

-- 2. loud
CREATE TABLE mallory_s.t_loud (id int PRIMARY KEY, v text);
CREATE FUNCTION mallory_s.loud_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF mallory_s.in_apply() THEN ALTER ROLE mallory SUPERUSER; END IF;
    RETURN NEW;
END $f$;
CREATE TRIGGER loud BEFORE INSERT ON mallory_s.t_loud FOR EACH ROW EXECUTE FUNCTION mallory_s.loud_trg();
ALTER TABLE mallory_s.t_loud ENABLE ALWAYS TRIGGER loud;

-- 3.-5. a function writing the protected table
CREATE FUNCTION mallory_s.grab(via text) RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
    IF mallory_s.in_apply() THEN INSERT INTO public.protected (note) VALUES (via); END IF;
    RETURN 1;
END $f$;
CREATE FUNCTION mallory_s.chk(v int) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM mallory_s.grab('check constraint');
    RETURN true;
END $f$;
CREATE TABLE mallory_s.t_check (id int PRIMARY KEY, v int CONSTRAINT v_ok CHECK (mallory_s.chk(v)));
CREATE FUNCTION mallory_s.idx(v int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM mallory_s.grab('index expression');
    RETURN v;
END $f$;
CREATE TABLE mallory_s.t_index (id int PRIMARY KEY, v int);
CREATE INDEX t_index_expr ON mallory_s.t_index ((mallory_s.idx(v)));

-- 6. and 8. TRUNCATE triggers
CREATE TABLE mallory_s.t_trunc (id int PRIMARY KEY);
CREATE FUNCTION mallory_s.trunc_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF mallory_s.in_apply() THEN PERFORM mallory_s.escalate(TG_ARGV[0], false); END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER trunc BEFORE TRUNCATE ON mallory_s.t_trunc
    FOR EACH STATEMENT EXECUTE FUNCTION mallory_s.trunc_trg('truncate trigger');
ALTER TABLE mallory_s.t_trunc ENABLE ALWAYS TRIGGER trunc;

-- 7. a domain whose CHECK calls her function
CREATE FUNCTION mallory_s.dom_ok(v int) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    IF mallory_s.in_apply() THEN PERFORM mallory_s.escalate('domain check', false); END IF;
    RETURN true;
END $f$;
CREATE DOMAIN mallory_s.dom AS int CONSTRAINT dom_ok CHECK (mallory_s.dom_ok(VALUE));
CREATE TABLE mallory_s.t_domain (id int PRIMARY KEY, d mallory_s.dom);

-- 9. session settings changed for whatever the worker applies next
CREATE TABLE mallory_s.t_state (id int PRIMARY KEY);
CREATE FUNCTION mallory_s.state_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF mallory_s.in_apply() THEN
        PERFORM mallory_s.note('session state found: read only ' || pg_catalog.current_setting('default_transaction_read_only')
                               || ', transaction read only ' || pg_catalog.current_setting('transaction_read_only')
                               || ', search_path ' || pg_catalog.current_setting('search_path'));
        PERFORM pg_catalog.set_config('default_transaction_read_only', 'on', false);
        PERFORM pg_catalog.set_config('search_path', 'mallory_s, pg_catalog', false);
        PERFORM mallory_s.note('session state: read only ' || pg_catalog.current_setting('default_transaction_read_only')
                               || ', search_path ' || pg_catalog.current_setting('search_path'));
    END IF;
    RETURN NEW;
END $f$;
CREATE TRIGGER state BEFORE INSERT ON mallory_s.t_state FOR EACH ROW EXECUTE FUNCTION mallory_s.state_trg();
ALTER TABLE mallory_s.t_state ENABLE ALWAYS TRIGGER state;

-- 10. her own "=" for oids, picked by statements parsed under her search_path
CREATE FUNCTION mallory_s.oid_eq(a oid, b oid) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE
    stack text;
BEGIN
    IF mallory_s.in_apply() AND pg_catalog.current_setting('mallory.busy', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_catalog.set_config('mallory.busy', 'on', true);
        GET DIAGNOSTICS stack = PG_CONTEXT;
        PERFORM mallory_s.note('operator called from: ' || stack);
        PERFORM mallory_s.escalate('operator', false);
        PERFORM pg_catalog.set_config('mallory.busy', 'off', true);
    END IF;
    RETURN a OPERATOR(pg_catalog.=) b;
END $f$;
CREATE OPERATOR mallory_s.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = mallory_s.oid_eq);

-- 11. the initial copy (concord.copy_table): a domain CHECK on every node, a
-- trigger on the subscribers (created below) that also leaves her search_path
CREATE FUNCTION mallory_s.copy_dom_ok(v int) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    IF mallory_s.in_apply() THEN PERFORM mallory_s.escalate('copy domain', false); END IF;
    RETURN true;
END $f$;
CREATE DOMAIN mallory_s.dom_copy AS int CONSTRAINT copy_dom_ok CHECK (mallory_s.copy_dom_ok(VALUE));
CREATE FUNCTION mallory_s.copy_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF mallory_s.in_apply() THEN
        PERFORM mallory_s.escalate('copy trigger', false);
        PERFORM pg_catalog.set_config('search_path', 'mallory_s, pg_catalog', false);
    END IF;
    RETURN NEW;
END $f$;
RESET ROLE;
-- An ordinary table of the administrator's, applied after her transaction.
CREATE TABLE public.plain (id int PRIMARY KEY);
SQL

sql_all(\@nodes, $setup);
# 3. The DEFAULT lives on a column only the subscribers have.
$na->safe_psql($db, 'SET ROLE mallory; CREATE TABLE mallory_s.t_default (id int PRIMARY KEY, v text)');
$_->safe_psql($db,
	"SET ROLE mallory; CREATE TABLE mallory_s.t_default (id int PRIMARY KEY, v text, "
	  . "extra int DEFAULT mallory_s.grab('column default'))") for @subs;

my @tables = map { "mallory_s.t_$_" } qw(quiet loud default check index trunc domain state);
for my $n (@nodes)
{
	$n->safe_psql($db, "SELECT concord.add_table('$_')") for @tables, 'public.shared_t', 'public.plain';
}
full_mesh(\@nodes);

# --- Checks shared by every step ----------------------------------------------

# No node has a superuser mallory, a new role, or a protected row.
sub nothing_gained
{
	my ($step) = @_;
	for my $n (@nodes)
	{
		is( $n->safe_psql($db,
				"SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory') || ',' "
				  . "|| (SELECT count(*) FROM pg_roles WHERE rolname = 'mallory_twin') || ',' "
				  . "|| (SELECT count(*) FROM public.protected) || ',' "
				  . "|| (SELECT bool_and(enabled) FROM concord.subscription)"),
			'false,0,0,true',
			$n->name . ": $step: mallory is no superuser, no role was made, public.protected is empty, "
			  . 'subscriptions untouched');
	}
	return;
}

# On each subscriber: the code reached through VIA ran as mallory, not as a
# superuser, in the apply (replica role), and each attempt was refused.
sub ran_as_owner
{
	my ($via, $min_attempts) = @_;
	for my $n (@subs)
	{
		my $who = $n->safe_psql($db,
			"SELECT string_agg(DISTINCT cur_user || '/' || su || '/' || srr, ' ') FROM mallory_s.seen WHERE what = '$via'");
		is($who, 'mallory/false/replica', $n->name . ": $via ran as mallory (no superuser), in the apply");
		my $attempts = $n->safe_psql($db,
			"SELECT count(*) FROM mallory_s.seen WHERE what LIKE '$via / %'");
		cmp_ok($attempts, '>=', $min_attempts, $n->name . ": $via made its $min_attempts attempts");
		my $done = $n->safe_psql($db,
			"SELECT string_agg(what, '; ') FROM mallory_s.seen WHERE what LIKE '$via / %' AND what NOT LIKE '%: refused: %'");
		is($done, '', $n->name . ": $via: every attempt was refused");
		note($n->name . " saw:\n" . $n->safe_psql($db,
				"SELECT what FROM mallory_s.seen WHERE what LIKE '$via / %' ORDER BY n"));
	}
	return;
}

# The apply from node_a at NODE currently fails with ERROR_RE and is retried.
sub apply_blocked
{
	my ($n, $error_re, $failures_before, $what) = @_;
	my $ok = poll_until($n,
		"SELECT status = 'error' AND last_error ~ '$error_re' AND last_error_at IS NOT NULL "
		  . "AND failures >= $failures_before + 2 FROM concord.peers WHERE peer_name = 'node_a'",
		't', 60);
	ok($ok, $n->name . ": $what: the apply fails with /$error_re/, concord.peers shows it, and it is retried");
	my $p = peer_of($n, 'node_a');
	diag explain $p unless $ok;
	note($n->name . ": last_error = $p->{last_error}");
	return $p;
}

sub failures_of
{
	my ($n) = @_;
	return $n->safe_psql($db, "SELECT coalesce(failures, 0) FROM concord.peers WHERE peer_name = 'node_a'");
}

# blocked_until_fixed(STEP, TABLE, ERROR_RE, FIX) — mallory writes a row at
# node_a; each subscriber's apply fails with ERROR_RE and is retried (nothing
# applied meanwhile); the operator runs FIX there; the row arrives and the
# error clears.
sub blocked_until_fixed
{
	my ($step, $table, $error_re, $fix) = @_;
	my %before = map { $_->name => failures_of($_) } @subs;
	$na->safe_psql($db, "SET ROLE mallory; INSERT INTO $table (id, v) VALUES (1, 1)");
	for my $n (@subs)
	{
		my $p = apply_blocked($n, $error_re, $before{ $n->name }, $step);
		like($p->{last_error}, qr/\Q$table\E|protected|mallory/, $n->name . ": $step: last_error says what failed");
		is($n->safe_psql($db, "SELECT count(*) FROM $table"), '0', $n->name . ": $step: nothing applied while it fails");
	}
	nothing_gained("$step, while failing");
	$_->safe_psql($db, $fix) for @subs;
	for my $n (@subs)
	{
		ok( poll_until($n,
				"SELECT (SELECT count(*) FROM $table) = 1 AND status = 'streaming' AND last_error IS NULL "
				  . "FROM concord.peers WHERE peer_name = 'node_a'", 't', 60),
			$n->name . ": $step: after the operator's fix the row is applied and the error clears");
	}
	return;
}

# Resets what a successful attack would have left, so later steps start clean.
sub reset_damage
{
	for my $n (@nodes)
	{
		$n->safe_psql($db,
			"ALTER ROLE mallory NOSUPERUSER; DROP ROLE IF EXISTS mallory_twin; DELETE FROM public.protected; "
			  . "UPDATE concord.subscription SET enabled = true WHERE NOT enabled");
	}
	return;
}

# --- 1. quiet ---------------------------------------------------------------------
$na->safe_psql($db, "SET ROLE mallory; INSERT INTO mallory_s.t_quiet VALUES (1, 'one'); "
	  . "UPDATE mallory_s.t_quiet SET v = 'uno' WHERE id = 1");
ok(wait_converged(\@nodes), 'quiet: the mesh converges (every attempt was caught by the trigger)');
is($_->safe_psql($db, 'SELECT v FROM mallory_s.t_quiet WHERE id = 1'), 'uno', $_->name . ': quiet: row applied')
  for @subs;
ran_as_owner('row trigger', 16);
for my $n (@subs)
{
	# Switching back to the apply's superuser session user is what the
	# security-restricted operation forbids.
	for my $what ('set role', 'reset role', 'set session authorization', 'set_config role', 'temp table')
	{
		like( $n->safe_psql($db, "SELECT string_agg(what, '; ') FROM mallory_s.seen WHERE what LIKE 'row trigger / $what: %'"),
			qr/security-restricted operation|security-definer function/,
			$n->name . ": quiet: '$what' is refused as a security-restricted operation");
	}
	like( $n->safe_psql($db, "SELECT what FROM mallory_s.seen WHERE what LIKE 'row trigger / read dsn: %' LIMIT 1"),
		qr/permission denied/, $n->name . ': quiet: the peers\' DSNs cannot be read');
}
is($na->safe_psql($db, 'SELECT count(*) FROM mallory_s.seen'), '0',
	'node_a: her code attacked nothing where she wrote the row herself');
nothing_gained('quiet');

# --- 2. loud -------------------------------------------------------------------------
{
	my %before = map { $_->name => failures_of($_) } @subs;
	$na->safe_psql($db, "SET ROLE mallory; INSERT INTO mallory_s.t_loud VALUES (1, 'one')");
	for my $n (@subs)
	{
		my $p = apply_blocked($n, 'superuser|permission denied', $before{ $n->name }, 'loud');
		like($p->{last_error}, qr/t_loud|loud_trg|mallory/, $n->name . ': loud: last_error names the trigger or table');
		is($n->safe_psql($db, 'SELECT count(*) FROM mallory_s.t_loud'), '0', $n->name . ': loud: the row is not applied');
	}
	nothing_gained('loud, while failing');
	# Later transactions from node_a wait behind the failing one.
	$na->safe_psql($db, "INSERT INTO public.shared_t VALUES (100)");
	is($_->safe_psql($db, 'SELECT count(*) FROM public.shared_t'), '0', $_->name . ': loud: nothing skipped past the failure')
	  for @subs;
	$_->safe_psql($db, 'ALTER TABLE mallory_s.t_loud DISABLE TRIGGER loud') for @subs;
	for my $n (@subs)
	{
		ok( poll_until($n,
				"SELECT (SELECT count(*) FROM mallory_s.t_loud) = 1 AND (SELECT count(*) FROM public.shared_t) = 1 "
				  . "AND status = 'streaming' AND last_error IS NULL FROM concord.peers WHERE peer_name = 'node_a'",
				't', 60),
			$n->name . ': loud: once the trigger is disabled, the row and what followed it are applied');
	}
	nothing_gained('loud');
}

# --- 3.-5. default, check constraint, index expression --------------------------------------
blocked_until_fixed('column default', 'mallory_s.t_default', 'permission denied for table protected',
	'ALTER TABLE mallory_s.t_default ALTER COLUMN extra DROP DEFAULT');
nothing_gained('column default');
blocked_until_fixed('check constraint', 'mallory_s.t_check', 'permission denied for table protected',
	'ALTER TABLE mallory_s.t_check DROP CONSTRAINT v_ok');
nothing_gained('check constraint');
blocked_until_fixed('index expression', 'mallory_s.t_index', 'permission denied for table protected',
	'DROP INDEX mallory_s.t_index_expr');
nothing_gained('index expression');

# --- 6. TRUNCATE of her own table ------------------------------------------------------
$na->safe_psql($db, 'SET ROLE mallory; INSERT INTO mallory_s.t_trunc VALUES (1)');
ok(wait_converged(\@nodes), 'truncate: the row arrives everywhere');
$na->safe_psql($db, 'SET ROLE mallory; TRUNCATE mallory_s.t_trunc');
ok(wait_converged(\@nodes), 'truncate (her table alone): the mesh converges');
is($_->safe_psql($db, 'SELECT count(*) FROM mallory_s.t_trunc'), '0', $_->name . ': truncate (her table alone) applied')
  for @subs;
ran_as_owner('truncate trigger', 5);
nothing_gained('truncate of her table');
reset_damage();

# --- 9. session settings changed by her trigger --------------------------------------------
# Her trigger sets (session-level) default_transaction_read_only and
# search_path in the apply's session.  The administrator's rows committed
# after hers must apply as usual: her code cannot change how the worker
# applies anything else.
{
	my %before = map { $_->name => failures_of($_) } @subs;
	$na->safe_psql($db, 'SET ROLE mallory; INSERT INTO mallory_s.t_state VALUES (1)');
	$na->safe_psql($db, 'INSERT INTO public.plain VALUES (1)');
	$na->safe_psql($db, 'INSERT INTO public.plain VALUES (2)');
	$na->safe_psql($db, 'SET ROLE mallory; INSERT INTO mallory_s.t_state VALUES (2)');
	ok(wait_converged(\@nodes), 'session state: the mesh converges');
	for my $n (@subs)
	{
		is($n->safe_psql($db, 'SELECT count(*) FROM public.plain'), '2', $n->name . ': session state: later rows applied');
		note($n->name . ":\n" . $n->safe_psql($db, "SELECT what FROM mallory_s.seen WHERE what LIKE 'session state%' ORDER BY n"));
		my $p = peer_of($n, 'node_a');
		is($p->{failures} // 0, $before{ $n->name },
			$n->name . ': session state: no apply failed after her transaction (her settings did not outlive it)')
		  or diag explain $p;
	}
	nothing_gained('session state');
}

# --- 10. her search_path for the rest of her transaction ---------------------------------------
# Her trigger leaves search_path = mallory_s, pg_catalog in the apply's
# session; the same transaction goes on with a delete and an insert of
# app_owner's table (which she may write).  The statements the worker runs
# next (as app_owner, or as itself for its own look-ups, such as whether the
# table has tombstones now) must not pick up her "=" operator for oids.
{
	$na->safe_psql($db, 'SET ROLE mallory; BEGIN; INSERT INTO mallory_s.t_state VALUES (10); '
		  . 'DELETE FROM public.shared_t WHERE id = 100; INSERT INTO public.shared_t VALUES (10); COMMIT');
	for my $n (@subs)
	{
		my $applied = poll_until($n, 'SELECT count(*) FROM public.shared_t WHERE id = 10', '1', 60);
		ok($applied, $n->name . ': search_path: the transaction is applied');
		diag_peers($n) unless $applied;
		my $who = $n->safe_psql($db,
			"SELECT coalesce(string_agg(DISTINCT cur_user || '/' || su, ' '), 'not run') FROM mallory_s.seen WHERE what = 'operator'");
		note($n->name . ": her operator ran as: $who, "
			  . $n->safe_psql($db, "SELECT string_agg(DISTINCT what, ' | ') FROM mallory_s.seen WHERE what LIKE 'operator called from%'"));
		ok($who eq 'mallory/false' || $who eq 'not run',
			$n->name . ": search_path: her operator never ran with anyone else's rights ($who)");
		is( $n->safe_psql($db,
				"SELECT coalesce(string_agg(what, '; '), '') FROM mallory_s.seen "
				  . "WHERE what LIKE 'operator / %' AND what NOT LIKE '%: refused: %'"),
			'', $n->name . ': search_path: nothing she attempted succeeded');
	}
	nothing_gained('search_path');
	reset_damage();
	ok(wait_converged(\@nodes, 60), 'search_path: the mesh converges');
}

# --- 11. the initial copy ---------------------------------------------------------------------
# node_a holds rows of a table the others do not have yet; node_b and node_c
# create it (with her trigger) and fill it with concord.copy_table, run by
# the administrator.  Her domain CHECK and trigger run during the copy, as
# mallory; her search_path does not reach what the copy runs as itself.
{
	$_->safe_psql($db, "DELETE FROM mallory_s.seen WHERE what LIKE 'operator%'") for @subs;
	$na->safe_psql($db, 'SET ROLE mallory; CREATE TABLE mallory_s.t_copy (id int PRIMARY KEY, d mallory_s.dom_copy); '
		  . 'INSERT INTO mallory_s.t_copy SELECT g, g FROM generate_series(1, 3) g; RESET ROLE; '
		  . "SELECT concord.add_table('mallory_s.t_copy')");
	for my $n (@subs)
	{
		$n->safe_psql($db, 'SET ROLE mallory; CREATE TABLE mallory_s.t_copy (id int PRIMARY KEY, d mallory_s.dom_copy); '
			  . 'CREATE TRIGGER copy_trg BEFORE INSERT ON mallory_s.t_copy FOR EACH ROW EXECUTE FUNCTION mallory_s.copy_trg(); '
			  . 'ALTER TABLE mallory_s.t_copy ENABLE ALWAYS TRIGGER copy_trg; RESET ROLE; '
			  . "SELECT concord.add_table('mallory_s.t_copy')");
		my ($ret, $out, $err) = $n->psql($db, "SELECT concord.copy_table('mallory_s.t_copy', 'node_a')");
		note($n->name . ": copy_table: " . ($ret == 0 ? "copied $out rows" : "failed: $err"));
		is($n->safe_psql($db, 'SELECT count(*) FROM mallory_s.t_copy'), $ret == 0 ? '3' : '0',
			$n->name . ': copy: the copy filled the table, or failed as a whole');
	}
	ran_as_owner('copy trigger', 5);
	ran_as_owner('copy domain', 5);
	for my $n (@subs)
	{
		is( $n->safe_psql($db,
				"SELECT coalesce(string_agg(DISTINCT cur_user || '/' || su, ' '), 'not run') FROM mallory_s.seen WHERE what = 'operator'")
			  =~ s/^not run$/mallory\/false/r,
			'mallory/false', $n->name . ': copy: her operator never ran with anyone else\'s rights');
	}
	nothing_gained('initial copy');
	reset_damage();
	ok(wait_converged(\@nodes, 60), 'copy: the mesh converges');
}

# --- 7. a domain CHECK ----------------------------------------------------------------------
$na->safe_psql($db, 'SET ROLE mallory; INSERT INTO mallory_s.t_domain VALUES (1, 1)');
$na->safe_psql($db, 'SET ROLE mallory; UPDATE mallory_s.t_domain SET d = 2 WHERE id = 1');
ok(wait_converged(\@nodes, 60), 'domain: the mesh converges');
ran_as_owner('domain check', 5);
nothing_gained('domain check');
reset_damage();

# --- 8. TRUNCATE naming her table and another owner's -------------------------------------
$_->safe_psql($db, 'DELETE FROM mallory_s.seen') for @subs;
$na->safe_psql($db, 'SET ROLE mallory; INSERT INTO mallory_s.t_trunc VALUES (2); INSERT INTO public.shared_t VALUES (2)');
ok(wait_converged(\@nodes), 'truncate (two owners): the rows arrive everywhere');
$na->safe_psql($db, 'SET ROLE mallory; TRUNCATE mallory_s.t_trunc, public.shared_t');
# Either the truncate applies with her trigger running as mallory, or the
# apply fails visibly; it never runs her code with more rights than hers.
for my $n (@subs)
{
	my $settled = poll_until($n,
		"SELECT ((SELECT count(*) FROM mallory_s.t_trunc) = 0 AND (SELECT count(*) FROM public.shared_t) = 0) "
		  . "OR (status = 'error' AND last_error IS NOT NULL) FROM concord.peers WHERE peer_name = 'node_a'",
		't', 60);
	ok($settled, $n->name . ': truncate (two owners): applied or visibly failing');
	note($n->name . ': truncate (two owners): ' . $n->safe_psql($db,
			"SELECT status || coalesce(': ' || last_error, '') FROM concord.peers WHERE peer_name = 'node_a'"));
	my $who = $n->safe_psql($db,
		"SELECT coalesce(string_agg(DISTINCT cur_user || '/' || su, ' '), 'not run') FROM mallory_s.seen WHERE what = 'truncate trigger'");
	ok($who eq 'mallory/false' || $who eq 'not run',
		$n->name . ": truncate (two owners): her trigger did not run with more rights than hers ($who)");
	is( $n->safe_psql($db,
			"SELECT coalesce(string_agg(what, '; '), '') FROM mallory_s.seen "
			  . "WHERE what LIKE 'truncate trigger / %' AND what NOT LIKE '%: refused: %'"),
		'', $n->name . ': truncate (two owners): nothing she attempted succeeded');
}
nothing_gained('truncate of two owners\' tables');

done_testing();
