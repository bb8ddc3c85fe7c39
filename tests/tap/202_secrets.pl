# 202_secrets.pl — passwords in peer connection strings never show where
# anyone but a superuser can read them: not in any relation readable by
# concord_admin, pg_monitor or a plain role, not in concord.peers.last_error,
# not in error messages, not in any node's server log.  Password files and
# pg_service.conf service names work as DSNs.
#
# Three nodes listen on 127.0.0.1; pg_hba.conf there demands a password for
# every TCP connection (md5 for concord_md5, scram-sha-256 for everyone
# else).  The six links of the full mesh each reach their peer differently:
#
#   node_b -> node_a   key=value DSN with password=             (scram)
#   node_a -> node_b   URI with user:password@, '@' percent-encoded (md5)
#   node_c -> node_a   key=value DSN with passfile=...           (scram)
#   node_a -> node_c   service=concord_c (PGSERVICEFILE of node_a's server;
#                      the service names a passfile)             (scram)
#   node_c -> node_b   no password: node_c's server has PGPASSFILE (scram)
#   node_b -> node_c   password with a space, a quote and a backslash (scram)
#
# Then errors are forced while the mesh runs: a column missing on a
# subscriber, a peer down, a password changed on a provider, and failing
# subscribe() / create_node() / join_mesh() calls whose DSNs hold passwords
# (a peer that is down, a peer that accepts TCP and never answers, a
# malformed URI, a name already subscribed, a wrong password).  Every
# password — as written, percent-encoded in a URI, escaped in a DSN or SQL
# literal — is looked for in every relation of schemas concord, pg_catalog,
# information_schema and public that each role may read (with superusers as
# the positive control: they see the DSNs in concord.subscription), in the
# error messages the callers got, in pg_stat_activity while a subscribe() to
# a silent peer is under way, and finally in every line of every server log.
# The servers log with log_statement = 'none' (the default; with 'all' every
# statement holding a password is logged by PostgreSQL itself, see
# docs/security.md) and log_min_error_statement = error (the default).  A
# call PostgreSQL rejects while parsing it (a malformed argument) is logged
# with its statement before concord runs: a TODO test at the end shows it.
# The scan's needles sit in a table of their own, never in the text of the
# scanning query (which pg_stat_activity would show).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/lib";
use ConcordTest;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

# --- Secrets -------------------------------------------------------------------
my $PW_LINK  = 'LinkSecret7Qz3';
my $PW_MD5   = 'Md5Secret4@Rt8xZz';
my $PW_MD5_URI = 'Md5Secret4%40Rt8xZz';
my $PW_Q     = q{QuoteSecret8 w'x\y-Tail2Hn};
my $PW_FILE  = 'FileSecret5Kx2';
my $PW_WRONG = 'WrongSecret3Jd9';
# Only in a call PostgreSQL rejects before concord runs (see the end).
my $PW_TYPO  = 'TypoSecret9Vb';
# Every form in which a password could surface: as is, URI-encoded, and the
# fragments between special characters (which survive any quoting).
my @needles = ($PW_LINK, $PW_MD5, $PW_MD5_URI, 'Md5Secret4', 'Rt8xZz', $PW_Q, 'QuoteSecret8', 'Tail2Hn',
	$PW_FILE, $PW_WRONG);

# Quoting: a DSN value in single quotes (\ and ' escaped), an SQL literal.
sub dsn_quote { my ($v) = @_; $v =~ s/([\\'])/\\$1/g; return "'$v'"; }
sub sql_lit   { my ($v) = @_; $v =~ s/'/''/g; return "'$v'"; }

my @conf = (
	"listen_addresses = '127.0.0.1'",
	'log_statement = none',
	'log_min_error_statement = error',
	'log_connections = on',
	'log_disconnections = on',
	'log_min_messages = debug1',
	'concord.peer_timeout = 10s',
	'concord.retry_delay_max = 2s');
my ($na, $nb, $nc) = concord_nodes([qw(node_a node_b node_c)], conf => \@conf);
my @nodes = ($na, $nb, $nc);
my $db    = $ConcordTest::DB;
my %port  = map { $_->name => $_->port } @nodes;

# --- Roles, authentication, credential files ---------------------------------------
my $roles = join("\n",
	"CREATE ROLE concord_link LOGIN SUPERUSER PASSWORD " . sql_lit($PW_LINK) . ';',
	"CREATE ROLE concord_q LOGIN SUPERUSER PASSWORD " . sql_lit($PW_Q) . ';',
	"CREATE ROLE concord_file LOGIN SUPERUSER PASSWORD " . sql_lit($PW_FILE) . ';',
	"SET password_encryption = 'md5';",
	"CREATE ROLE concord_md5 LOGIN SUPERUSER PASSWORD " . sql_lit($PW_MD5) . ';',
	'RESET password_encryption;',
	'CREATE ROLE r_admin LOGIN IN ROLE concord_admin;',
	'CREATE ROLE r_monitor LOGIN IN ROLE pg_monitor;',
	'CREATE ROLE r_plain LOGIN;');
my $hba = join("\n",
	'local all all trust',
	'local replication all trust',
	'host all concord_md5 127.0.0.1/32 md5',
	'host replication concord_md5 127.0.0.1/32 md5',
	'host all all 127.0.0.1/32 scram-sha-256',
	'host replication all 127.0.0.1/32 scram-sha-256', '');
for my $n (@nodes)
{
	$n->safe_psql('postgres', $roles);
	open(my $fh, '>', $n->data_dir . '/pg_hba.conf') or die $!;
	print $fh $hba;
	close $fh;
	$n->reload;
}

my $files = PostgreSQL::Test::Utils::tempdir();
my $passfile = "$files/pgpass";
{
	open(my $fh, '>', $passfile) or die $!;
	print $fh "127.0.0.1:*:*:concord_file:$PW_FILE\n";
	close $fh;
	chmod 0600, $passfile;
}
my $servicefile = "$files/pg_service.conf";
{
	open(my $fh, '>', $servicefile) or die $!;
	print $fh "[concord_c]\nhost=127.0.0.1\nport=$port{node_c}\ndbname=$db\nuser=concord_file\npassfile=$passfile\n";
	close $fh;
}
# node_a's server finds the service file, node_c's server the password file,
# through their environment (what an operator would put in the service unit).
$na->stop;
{
	local $ENV{PGSERVICEFILE} = $servicefile;
	$na->start;
}
$nc->stop;
{
	local $ENV{PGPASSFILE} = $passfile;
	$nc->start;
}

# Password authentication really is required over TCP.
{
	my ($ret, $out, $err) = $na->psql('postgres', 'SELECT 1',
		connstr => "host=127.0.0.1 port=$port{node_a} dbname=postgres user=concord_link password=nope");
	like($err, qr/password authentication failed/, 'TCP connections need the right password');
}

# --- The mesh --------------------------------------------------------------------------
my %dsn = (
	'node_b<-node_a' => "host=127.0.0.1 port=$port{node_a} dbname=$db user=concord_link password=$PW_LINK",
	'node_a<-node_b' => "postgresql://concord_md5:$PW_MD5_URI\@127.0.0.1:$port{node_b}/$db",
	'node_c<-node_a' => "host=127.0.0.1 port=$port{node_a} dbname=$db user=concord_file passfile=$passfile",
	'node_a<-node_c' => 'service=concord_c',
	'node_c<-node_b' => "host=127.0.0.1 port=$port{node_b} dbname=$db user=concord_file",
	'node_b<-node_c' => "host=127.0.0.1 port=$port{node_c} dbname=$db user=concord_q password=" . dsn_quote($PW_Q),
);
my %node = map { $_->name => $_ } @nodes;

for my $n (@nodes)
{
	# node_b lacks column extra: its apply from node_a will fail.
	my $extra = $n == $nb ? '' : ', extra text';
	$n->safe_psql($db, "CREATE TABLE public.t (id int PRIMARY KEY, v text$extra); SELECT concord.add_table('public.t')");
}
for my $link (sort keys %dsn)
{
	my ($sub, $prov) = split /<-/, $link;
	my ($ret, $out, $err) = $node{$sub}->psql($db,
		"SELECT concord.subscribe('$prov', " . sql_lit($dsn{$link}) . ')');
	is($ret, 0, "$link: subscribe with " . ($link =~ /node_a<-node_c/ ? 'a service name'
		  : $link =~ /node_c<-node_a/ ? 'passfile= in the DSN'
		  : $link =~ /node_c<-node_b/ ? 'PGPASSFILE' : 'a password in the DSN') . ' works')
	  or diag $err;
}
wait_streaming($_) for @nodes;
pass('every link streams, each authenticated by password');
for my $n (@nodes)
{
	for my $p (@{ peers($n) })
	{
		my $d = $p->{peer_dsn};
		unlike($d, qr/Secret/, $n->name . " shows the DSN for $p->{peer_name} without its password: $d");
	}
}
like(peer_of($nb, 'node_a')->{peer_dsn}, qr/password='\*{8}'/, 'the password is replaced by ******** in concord.peers');

# --- Readable relations ------------------------------------------------------------------
my $scan_fn = <<'SQL';
CREATE SCHEMA leakcheck;
GRANT USAGE ON SCHEMA leakcheck TO PUBLIC;
-- Every relation of these schemas the current role may read (whole rows, or
-- the columns it may read), each needle looked for in the row's text.
-- The needles live in a table, not in the scanning query's text (which
-- pg_stat_activity shows).
CREATE TABLE leakcheck.needles (n text);
GRANT SELECT ON leakcheck.needles TO PUBLIC;
CREATE FUNCTION leakcheck.scan(OUT rel text, OUT hits text[], OUT err text)
    RETURNS SETOF record LANGUAGE plpgsql AS $f$
DECLARE
    r record;
    cols text;
BEGIN
    FOR r IN SELECT c.oid, c.oid::regclass::text AS name
               FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
                AND s.nspname IN ('concord', 'pg_catalog', 'information_schema', 'public')
                -- Slow views over pg_attribute, pg_proc and pg_type metadata,
                -- which the scan reads directly anyway.
                AND c.oid::regclass::text NOT IN ('information_schema.element_types', 'information_schema.columns',
                    'information_schema.parameters', 'information_schema.data_type_privileges',
                    'information_schema.column_privileges', 'information_schema.routine_privileges',
                    'information_schema.role_routine_grants', 'information_schema.routines',
                    'information_schema.views')
              ORDER BY 2
    LOOP
        IF has_table_privilege(r.oid, 'SELECT') THEN
            cols := 'x::text';
        ELSE
            SELECT string_agg(format('coalesce(x.%I::text, '''')', a.attname), ' || '' '' || ')
              INTO cols
              FROM pg_attribute a
             WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND has_column_privilege(r.oid, a.attnum, 'SELECT');
            CONTINUE WHEN cols IS NULL;
        END IF;
        rel := r.name;
        err := NULL;
        BEGIN
            EXECUTE format('SELECT array_agg(DISTINCT n ORDER BY n) FROM (SELECT %s AS t FROM %s x) r, '
                           'leakcheck.needles WHERE strpos(r.t, n) > 0', cols, r.name)
               INTO hits;
        EXCEPTION WHEN OTHERS THEN
            hits := NULL;
            err := SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;
END $f$;
SQL
my $fill_needles = 'INSERT INTO leakcheck.needles VALUES ' . join(', ', map { '(' . sql_lit($_) . ')' } @needles);
$_->safe_psql($db, $scan_fn . $fill_needles) for @nodes;

# scan(NODE, ROLE, WHAT) — tests: ROLE reads no relation holding a secret.
sub scan
{
	my ($n, $role, $what, $dbname) = @_;
	$dbname //= $db;
	my $set = $role ? "SET ROLE $role; " : '';
	my $rows = $n->safe_psql($dbname,
		"${set}SELECT count(*) || '|' || count(*) FILTER (WHERE err IS NOT NULL) || '|' || "
		  . "coalesce(string_agg(rel || ': ' || array_to_string(hits, ', '), '; ') FILTER (WHERE hits IS NOT NULL), '') "
		  . "FROM leakcheck.scan()");
	my ($total, $errors, $hits) = split /\|/, $rows, 3;
	return ($total, $errors, $hits) if !$role;
	is($hits, '', $n->name . " ($dbname): $what: no relation $role can read holds a password ($total read, $errors refused)");
	return;
}

sub scan_all
{
	my ($what, @running) = @_;
	for my $n (@running ? @running : @nodes)
	{
		scan($n, $_, $what) for qw(r_admin r_monitor r_plain);
	}
	return;
}

# Positive control: a superuser sees the DSNs in the catalog table.
{
	my ($total, $errors, $hits) = scan($nb, undef, 'control');
	like($hits, qr/concord\.subscription: .*\Q$PW_LINK\E/, 'control: the scan finds the password where superusers may read it');
	note("superuser on node_b: $hits");
}
scan_all('streaming');

# --- Errors while the mesh runs --------------------------------------------------------------
# 1. A column missing on a subscriber (node_b lacks t.extra); a conflict too.
$na->safe_psql($db, "INSERT INTO public.t VALUES (1, 'from a', 'x'), (500, 'a', NULL)");
$nb->safe_psql($db, "INSERT INTO public.t VALUES (500, 'b')");
ok( poll_until($nb,
		"SELECT status = 'error' AND last_error LIKE '%extra%' FROM concord.peers WHERE peer_name = 'node_a'"),
	'schema error: node_b shows the failing apply from node_a');
note('node_b: ' . peer_of($nb, 'node_a')->{last_error});

# 2. A password changed on the provider: node_b's link to node_a fails to log in.
$na->safe_psql('postgres', "ALTER ROLE concord_link PASSWORD 'Changed0'");
$nb->safe_psql($db, "SELECT concord.pause('node_a'); SELECT concord.resume('node_a')");
ok( poll_until($nb,
		"SELECT status = 'error' AND last_error LIKE '%password authentication failed%' FROM concord.peers "
		  . "WHERE peer_name = 'node_a'"),
	'wrong password: node_b shows the failed login to node_a');
note('node_b: ' . peer_of($nb, 'node_a')->{last_error});

# 3. A peer down.
$nc->stop;
for my $n ($na, $nb)
{
	ok(poll_until($n, "SELECT status <> 'streaming' AND last_error IS NOT NULL FROM concord.peers WHERE peer_name = 'node_c'"),
		$n->name . ': peer down: node_c shows as unreachable');
	note($n->name . ': ' . peer_of($n, 'node_c')->{last_error});
}

# 4. Failing calls whose DSNs hold passwords.
my $hole = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5, Proto => 'tcp')
  or die "cannot listen: $!";
my $hole_port = $hole->sockport;
my %failing = (
	'subscribe to a peer that is down' =>
	  "SELECT concord.subscribe('node_x', " . sql_lit("host=127.0.0.1 port=$port{node_c} dbname=$db user=concord_q password=" . dsn_quote($PW_Q)) . ')',
	'subscribe with a wrong password' =>
	  "SELECT concord.subscribe('node_y', " . sql_lit("host=127.0.0.1 port=$port{node_b} dbname=$db user=concord_link password=$PW_WRONG") . ')',
	'subscribe with a malformed URI' =>
	  "SELECT concord.subscribe('node_z', " . sql_lit("postgresql://concord_md5:$PW_MD5_URI\@[::1/$db") . ')',
	'subscribe with a key=value syntax error' =>
	  "SELECT concord.subscribe('node_w', " . sql_lit("host=127.0.0.1 password=$PW_LINK dbname") . ')',
	'subscribe to a name already subscribed' =>
	  "SELECT concord.subscribe('node_b', " . sql_lit($dsn{'node_a<-node_b'}) . ')',
	'create_node on a node' =>
	  "SELECT concord.create_node('node_a', " . sql_lit("host=127.0.0.1 port=$port{node_a} dbname=$db user=concord_link password=$PW_LINK") . ')',
	'subscribe copying data from a peer that is down' =>
	  "SELECT concord.subscribe('node_v', " . sql_lit("host=127.0.0.1 port=$port{node_c} dbname=$db user=concord_link password=$PW_LINK") . ', true)',
);
for my $what (sort keys %failing)
{
	my ($ret, $out, $err) = $na->psql($db, $failing{$what});
	isnt($ret, 0, "$what: fails");
	my @seen = grep { index($err, $_) >= 0 } @needles;
	is("@seen", '', "$what: the error the caller gets shows no password") or diag $err;
	note("$what: $err");
}
# join_mesh from a fresh database, its own DSN and via_dsn both with passwords.
$na->safe_psql('postgres', 'CREATE DATABASE other');
$na->safe_psql('other', 'CREATE EXTENSION concord');
$na->safe_psql('other', $scan_fn . $fill_needles);
{
	my ($ret, $out, $err) = $na->psql('other',
		"SELECT concord.join_mesh('node_o', "
		  . sql_lit("host=127.0.0.1 port=$port{node_a} dbname=other user=concord_md5 password=$PW_MD5") . ', '
		  . sql_lit("host=127.0.0.1 port=$port{node_c} dbname=$db user=concord_q password=" . dsn_quote($PW_Q)) . ')');
	isnt($ret, 0, 'join_mesh via a peer that is down: fails');
	my @seen = grep { index($err, $_) >= 0 } @needles;
	is("@seen", '', 'join_mesh via a peer that is down: the error shows no password') or diag $err;
	note("join_mesh: $err");
}
# A node identity whose DSN holds a password: concord.nodes hides it.
$na->safe_psql('other', "SELECT concord.create_node('node_o', "
	  . sql_lit("host=127.0.0.1 port=$port{node_a} dbname=other user=concord_link password=$PW_LINK") . ')');
unlike($na->safe_psql('other', 'SELECT dsn FROM concord.nodes'), qr/Secret/, 'concord.nodes hides the password of the node DSN');
scan($na, $_, 'node DSN with a password', 'other') for qw(r_admin r_monitor r_plain);

# 5. pg_stat_activity while subscribe() waits on a peer that never answers.
{
	my $call = "SELECT concord.subscribe('node_hole', "
	  . sql_lit("host=127.0.0.1 port=$hole_port dbname=$db user=concord_link password=$PW_LINK") . ')';
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $na->connstr($db), '-c', $call ],
		'<', \undef, '>', \$out, '2>', \$err);
	ok( poll_until($na,
			"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%node_hole%' AND pid <> pg_backend_pid()",
			't', 20),
		'pg_stat_activity: the subscribe() to a silent peer is under way');
	for my $role (qw(r_monitor r_admin r_plain))
	{
		my $q = $na->safe_psql($db,
			"SET ROLE $role; SELECT coalesce(string_agg(query, ' '), '') FROM pg_stat_activity "
			  . "WHERE query LIKE '%node_hole%' AND pid <> pg_backend_pid()");
		my @seen = grep { index($q, $_) >= 0 } @needles;
		is("@seen", '', "pg_stat_activity: $role does not see the password of a running subscribe()")
		  or diag "$role sees: $q";
	}
	scan($na, 'r_monitor', 'while subscribe() waits');
	$h->finish;
	my @seen = grep { index($err, $_) >= 0 } @needles;
	like($err, qr/node_hole/, 'the subscribe() to a silent peer fails in the end');
	is("@seen", '', 'its error shows no password') or diag $err;
	note("subscribe to a silent peer: $err");
}
close $hole;

# A call PostgreSQL itself rejects while parsing it, before concord runs: the
# server logs the statement (log_min_error_statement), DSN and all.  Nothing
# concord can hide; checked at the end as a known limitation.
{
	my ($ret, $out, $err) = $na->psql($db, "SELECT concord.subscribe('node_t', "
		  . sql_lit("host=127.0.0.1 port=$port{node_b} dbname=$db user=concord_link password=$PW_TYPO") . ", 'yes please')");
	like($err, qr/invalid input syntax for type boolean/, 'a call with a malformed argument fails before concord runs');
}

scan_all('while errors are shown', $na, $nb);

# --- Recovery -------------------------------------------------------------------------------------
$na->safe_psql('postgres', 'ALTER ROLE concord_link PASSWORD ' . sql_lit($PW_LINK));
$nb->safe_psql($db, 'ALTER TABLE public.t ADD COLUMN extra text');
{
	local $ENV{PGPASSFILE} = $passfile;
	$nc->start;
}
# Errors show until a transaction from that peer is applied: every node writes.
$_->safe_psql($db, 'INSERT INTO public.t (id, v) VALUES (' . (1000 + ord(substr($_->name, -1))) . ", 'after')")
  for @nodes;
for my $n (@nodes)
{
	ok( poll_until($n, "SELECT bool_and(status = 'streaming' AND last_error IS NULL) FROM concord.peers", 't', 90),
		$n->name . ': every link streams again once the errors are fixed') or diag_peers($n);
}
ok(wait_converged(\@nodes), 'the mesh converges');
assert_same_everywhere(\@nodes, 'public.t', 'public.t is identical on every node');
cmp_ok($nb->safe_psql($db, 'SELECT count(*) FROM concord.conflicts'), '>', 0, 'node_b logged a conflict');
scan_all('after recovery');

# --- Server logs -----------------------------------------------------------------------------------
$_->stop for @nodes;
for my $n (@nodes)
{
	my $log = slurp_file($n->logfile);
	my @lines = grep {
		my $l = $_;
		grep { index($l, $_) >= 0 } @needles
	} split /\n/, $log;
	is(scalar @lines, 0, $n->name . ': no password in the server log (' . length($log) . ' bytes)')
	  or diag join("\n", map { "  $_" } @lines);
}
TODO:
{
	local $TODO = 'PostgreSQL logs the statement of an error it raises before concord runs: use password files';
	my @lines = grep { index($_, $PW_TYPO) >= 0 } split /\n/, slurp_file($na->logfile);
	is(scalar @lines, 0, 'node_a: a call rejected while parsing leaves no password in the log')
	  or diag join("\n", map { "  $_" } @lines);
}

done_testing();
