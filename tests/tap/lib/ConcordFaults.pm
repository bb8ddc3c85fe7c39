# ConcordFaults.pm — fault injection for concord's fault and soak scenarios
# (tests/tap/2*.pl, scripts/soak.sh).
#
#   * Freezing a test node: SIGSTOP to its postmaster, then to every
#     descendant of that postmaster (found through /proc/*/stat), until no new
#     process appears; SIGCONT undoes it.  Only processes that descend from the
#     given postmaster PID are ever signalled, each by PID, and only after
#     checking that the postmaster's command line names the node's data
#     directory.  Every frozen process is thawed again at exit (END block), so
#     a failing test never leaves a stopped server behind.
#
#   * A private network: enter_private_network() puts this process into a
#     network and mount namespace of its own (and, when not root, a user
#     namespace that maps only our own uid and gid, keeping CAP_NET_ADMIN and
#     CAP_SYS_ADMIN as ambient capabilities so `ip` and `tc` work for us and
#     our children).  /run is a private tmpfs there, so `ip netns add`
#     registers namespaces only in this private world.  Inside it the test
#     builds a switch namespace with a bridge and one namespace per node,
#     joined by veth pairs on a private subnet; links are cut (packets
#     silently dropped at both ends, or the switch port set down) and healed.
#     Nothing outside is ever addressed or changed, and everything is removed
#     in END (the namespaces also vanish with the last process in them).
#
#   * NetNode: a small hand-written cluster helper for servers that run
#     inside those namespaces (PostgreSQL::Test::Cluster starts its servers in
#     the test's own namespace).  The test reaches each server through its
#     Unix socket (a path in the file system, valid across network
#     namespaces); peers reach each other only over the private subnet.
#
# Waits are bounded; nothing is signalled by name.  Tests that also use
# ConcordTest load it first, so that this module's END block (which thaws
# frozen nodes) runs before PostgreSQL::Test::Cluster's (which stops them).
package ConcordFaults;

use strict;
use warnings;

use Cwd ();
use Exporter 'import';
use File::Temp ();
use IPC::Run;
use POSIX ();
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  process_tree proc_state freeze_node_pids thaw_pids thaw_all frozen_pids
  enter_private_network net_switch net_add_host net_cut net_heal net_teardown
  net_ip net_tc net_mode
  wait_until note_elapsed
);

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

# proc_state(PID) — (state letter, ppid, starttime) from /proc/PID/stat, or
# an empty list if the process is gone.
sub proc_state
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return ();
	my $stat = <$fh>;
	close $fh;
	return () unless defined $stat;
	# comm may contain spaces and parentheses: split after the last ')'.
	my ($rest) = $stat =~ /\)\s+(.*)$/s or return ();
	my @f = split ' ', $rest;
	# $f[0] = state, $f[1] = ppid, $f[19] = starttime (field 22 of stat)
	return ($f[0], $f[1], $f[19]);
}

# Every process's parent, from /proc.
sub _parents
{
	my %ppid;
	opendir(my $dh, '/proc') or return \%ppid;
	for my $pid (grep { /^\d+$/ } readdir $dh)
	{
		my ($state, $ppid) = proc_state($pid);
		$ppid{$pid} = $ppid if defined $ppid;
	}
	closedir $dh;
	return \%ppid;
}

# descendants(PID) — every process below PID (children, their children, ...).
sub descendants
{
	my ($root) = @_;
	my $ppid = _parents();
	my %kids;
	push @{ $kids{ $ppid->{$_} } }, $_ for keys %$ppid;
	my @out;
	my @todo = ($root);
	while (@todo)
	{
		my $p = shift @todo;
		for my $k (@{ $kids{$p} // [] })
		{
			push @out, $k;
			push @todo, $k;
		}
	}
	return @out;
}

# True if PID is a postmaster of the data directory DATADIR: its command line
# names DATADIR (pg_ctl starts it as "postgres -D DATADIR").
sub _is_postmaster_of
{
	my ($pid, $datadir) = @_;
	open(my $fh, '<', "/proc/$pid/cmdline") or return 0;
	local $/;
	my $cmd = <$fh> // '';
	close $fh;
	my @argv = split /\0/, $cmd;
	return 0 unless @argv && $argv[0] =~ m{(?:^|/)postgres$};
	my $real = Cwd::realpath($datadir) // $datadir;
	for my $i (0 .. $#argv - 1)
	{
		next unless $argv[$i] eq '-D';
		my $d = Cwd::realpath($argv[ $i + 1 ]) // $argv[ $i + 1 ];
		return 1 if $d eq $real;
	}
	return 0;
}

# process_tree(POSTMASTER_PID, DATADIR) — the postmaster and all its
# descendants; dies unless POSTMASTER_PID is DATADIR's postmaster.
sub process_tree
{
	my ($pm, $datadir) = @_;
	die "process $pm is not the postmaster of $datadir\n"
	  unless _is_postmaster_of($pm, $datadir);
	return ($pm, descendants($pm));
}

# Processes we stopped: "pid:starttime" => 1.  A pid is continued only while
# it still is the same process (same start time).
my %frozen;

sub frozen_pids { return map { (split /:/)[0] } sort keys %frozen; }

# freeze_node_pids(POSTMASTER_PID, DATADIR) — SIGSTOP the postmaster first (so
# it forks nothing new), then every descendant, repeating until a pass finds
# no new process, then waits until each is stopped.  Returns the number of
# processes stopped.
sub freeze_node_pids
{
	my ($pm, $datadir) = @_;
	die "process $pm is not the postmaster of $datadir\n"
	  unless _is_postmaster_of($pm, $datadir);
	my %done;
	my $stop = sub {
		my ($pid) = @_;
		my (undef, undef, $start) = proc_state($pid);
		return unless defined $start;
		return if $done{$pid};
		kill 'STOP', $pid;
		$done{$pid} = $start;
		$frozen{"$pid:$start"} = 1;
	};
	$stop->($pm);
	my $quiet = 0;
	for (my $round = 0; $round < 200 && $quiet < 3; $round++)
	{
		my @new = grep { !$done{$_} } descendants($pm);
		$stop->($_) for @new;
		$quiet = @new ? 0 : $quiet + 1;
		usleep(20_000);
	}
	# Each stopped process shows state T (or is gone / a zombie).
	my $all_stopped = wait_until(
		sub {
			for my $pid (keys %done)
			{
				my ($state) = proc_state($pid);
				return 0 if defined $state && $state !~ /^[TtZX]$/;
			}
			return 1;
		},
		10);
	die "not every process of the node stopped\n" unless $all_stopped;
	return scalar keys %done;
}

# thaw_all() — SIGCONT to every process this module stopped (in any order:
# each simply continues where it was).
sub thaw_all
{
	for my $key (sort keys %frozen)
	{
		my ($pid, $start) = split /:/, $key;
		my (undef, undef, $now) = proc_state($pid);
		kill 'CONT', $pid if defined $now && $now eq $start;
		delete $frozen{$key};
	}
	return;
}

# thaw_pids(PID...) — SIGCONT to those of PID... that this module stopped.
sub thaw_pids
{
	my %want = map { $_ => 1 } @_;
	for my $key (sort keys %frozen)
	{
		my ($pid, $start) = split /:/, $key;
		next unless $want{$pid};
		my (undef, undef, $now) = proc_state($pid);
		kill 'CONT', $pid if defined $now && $now eq $start;
		delete $frozen{$key};
	}
	return;
}

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

# wait_until(CODE, TIMEOUT_S, STEP_MS) — calls CODE until true or TIMEOUT.
sub wait_until
{
	my ($code, $timeout, $step_ms) = @_;
	my $deadline = time + ($timeout // 60);
	while (1)
	{
		return 1 if $code->();
		return 0 if time > $deadline;
		usleep(1000 * ($step_ms // 100));
	}
}

# note_elapsed(T0) — seconds since T0, rounded to 0.1 s.
sub note_elapsed { return sprintf('%.1f', time - $_[0]); }

# ---------------------------------------------------------------------------
# Private network
# ---------------------------------------------------------------------------

my %NET = (mode => '', namespaces => [], hosts => {}, cut => {});

sub net_mode { return $NET{mode}; }

sub _find_tool
{
	my ($name) = @_;
	for my $dir (qw(/usr/sbin /sbin /usr/bin /bin /usr/local/sbin /usr/local/bin))
	{
		return "$dir/$name" if -x "$dir/$name";
	}
	return undef;
}

# Runs a command; returns (exit status, combined output).
sub _run
{
	my @cmd = @_;
	my $out = '';
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \undef, '>&', \$out, IPC::Run::timeout(60));
		1;
	};
	return (-1, "$@") unless $ok;
	return ($? >> 8, $out);
}

# Like _run but dies with the output on failure.
sub _must
{
	my @cmd = @_;
	my ($rc, $out) = _run(@cmd);
	die "command failed (exit $rc): @cmd\n$out" if $rc != 0;
	return $out;
}

# Linux system call numbers we need, per architecture.
my %SYSCALLS = (
	'x86_64'  => { unshare => 272, capset => 126, prctl => 157 },
	'aarch64' => { unshare => 97,  capset => 91,  prctl => 167 },);

use constant {
	CLONE_NEWNS    => 0x00020000,
	CLONE_NEWUSER  => 0x10000000,
	CLONE_NEWNET   => 0x40000000,
	CAP_NET_ADMIN  => 12,
	CAP_NET_RAW    => 13,
	CAP_SYS_ADMIN  => 21,
	PR_CAP_AMBIENT => 47,
	PR_CAP_AMBIENT_RAISE => 2,
};

sub _write_file
{
	my ($path, $text) = @_;
	open(my $fh, '>', $path) or die "$path: $!\n";
	print $fh $text;
	close($fh) or die "$path: $!\n";
	return;
}

# enter_private_network() — see the file comment.  Returns '' on success, or
# the exact reason the sandbox does not allow it (the caller then skips).
sub enter_private_network
{
	return '' if $NET{mode};
	my $ip = _find_tool('ip');
	my $mount = _find_tool('mount');
	return 'the ip command (iproute2) is not installed' unless $ip;
	return 'the mount command is not installed' unless $mount;
	return 'tc (iproute2) is not installed' unless _find_tool('tc');
	my $arch = (POSIX::uname())[4];
	my $nr = $SYSCALLS{$arch}
	  or return "unsupported architecture $arch for unshare(2)";

	if ($> == 0)
	{
		syscall($nr->{unshare}, CLONE_NEWNET | CLONE_NEWNS) == 0
		  or return "unshare(CLONE_NEWNET|CLONE_NEWNS) failed as root: $!";
		$NET{mode} = 'root';
	}
	else
	{
		my ($uid, $gid) = ($<, $( + 0);
		syscall($nr->{unshare}, CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS) == 0
		  or return "unprivileged user namespaces are not available (unshare(CLONE_NEWUSER) failed: $!); "
		  . "run this test as root";
		eval {
			_write_file('/proc/self/setgroups', 'deny');
			_write_file('/proc/self/uid_map', "$uid $uid 1");
			_write_file('/proc/self/gid_map', "$gid $gid 1");
			1;
		} or return "could not map our uid in the new user namespace: $@";
		# Keep the network and mount capabilities across exec (ambient set):
		# capset v3 with the inheritable set, then PR_CAP_AMBIENT_RAISE.
		my @caps = (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN);
		my $mask = 0;
		$mask |= (1 << $_) for @caps;
		my $header = pack('LL', 0x20080522, 0);
		my $data = pack('LLLLLL', 0xffffffff, 0xffffffff, $mask, 0xffffffff, 0xffffffff, 0);
		syscall($nr->{capset}, $header, $data) == 0
		  or return "capset failed in the user namespace: $!";
		for my $cap (@caps)
		{
			syscall($nr->{prctl}, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, $cap, 0, 0) == 0
			  or return "could not raise ambient capability $cap: $!";
		}
		$NET{mode} = 'userns';
	}
	# A private /run so `ip netns` registers namespaces only here.
	my ($rc, $out) = _run($mount, '--make-rprivate', '/');
	return "mount --make-rprivate / failed: $out" if $rc != 0;
	($rc, $out) = _run($mount, '-t', 'tmpfs', '-o', 'mode=755', 'concord-netns', '/run');
	return "mounting a private tmpfs on /run failed: $out" if $rc != 0;
	mkdir '/run/netns';
	($rc, $out) = _run($ip, 'link', 'set', 'lo', 'up');
	return "ip link set lo up failed: $out" if $rc != 0;
	$NET{ip} = $ip;
	$NET{tc} = _find_tool('tc');
	return '';
}

sub net_ip { return _must($NET{ip}, @_); }
sub net_tc { return _must($NET{tc}, @_); }

# net_switch() — the switch namespace "cc_sw" with bridge br0.
sub net_switch
{
	die "enter_private_network() first\n" unless $NET{mode};
	net_ip('netns', 'add', 'cc_sw');
	push @{ $NET{namespaces} }, 'cc_sw';
	net_ip('-n', 'cc_sw', 'link', 'set', 'lo', 'up');
	net_ip('-n', 'cc_sw', 'link', 'add', 'br0', 'type', 'bridge');
	net_ip('-n', 'cc_sw', 'link', 'set', 'br0', 'up');
	return;
}

# net_add_host(NAME, ADDRESS) — namespace cc_NAME whose eth0 (ADDRESS/24) is
# joined by a veth pair to port v_NAME of the switch.  Returns the namespace.
sub net_add_host
{
	my ($name, $addr) = @_;
	my $ns = "cc_$name";
	my $port = substr("v_$name", 0, 15);
	net_ip('netns', 'add', $ns);
	push @{ $NET{namespaces} }, $ns;
	net_ip('-n', $ns, 'link', 'set', 'lo', 'up');
	net_ip('link', 'add', $port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', $ns);
	net_ip('link', 'set', $port, 'netns', 'cc_sw');
	net_ip('-n', 'cc_sw', 'link', 'set', $port, 'master', 'br0');
	net_ip('-n', 'cc_sw', 'link', 'set', $port, 'up');
	net_ip('-n', $ns, 'addr', 'add', "$addr/24", 'dev', 'eth0');
	net_ip('-n', $ns, 'link', 'set', 'eth0', 'up');
	$NET{hosts}{$name} = { ns => $ns, port => $port, addr => $addr };
	return $ns;
}

# net_cut(NAME, HOW) — cut NAME's link.  HOW 'drop' (default): every packet
# to and from NAME is silently discarded (a zero-length pfifo queue on both
# ends of the link: nothing is delivered, no RST, no ICMP).  HOW 'down': the
# switch port is set down (the host sees no carrier).
sub net_cut
{
	my ($name, $how) = @_;
	$how //= 'drop';
	my $h = $NET{hosts}{$name} or die "no host $name\n";
	if ($how eq 'drop')
	{
		net_tc('-n', 'cc_sw', 'qdisc', 'replace', 'dev', $h->{port}, 'root', 'pfifo', 'limit', '0');
		net_tc('-n', $h->{ns}, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'pfifo', 'limit', '0');
	}
	elsif ($how eq 'down')
	{
		net_ip('-n', 'cc_sw', 'link', 'set', $h->{port}, 'down');
	}
	else
	{
		die "unknown cut $how\n";
	}
	$NET{cut}{$name} = $how;
	return;
}

# net_heal(NAME) — undoes net_cut.
sub net_heal
{
	my ($name) = @_;
	my $h = $NET{hosts}{$name} or die "no host $name\n";
	my $how = delete $NET{cut}{$name} // return;
	if ($how eq 'drop')
	{
		net_tc('-n', 'cc_sw', 'qdisc', 'del', 'dev', $h->{port}, 'root');
		net_tc('-n', $h->{ns}, 'qdisc', 'del', 'dev', 'eth0', 'root');
	}
	else
	{
		net_ip('-n', 'cc_sw', 'link', 'set', $h->{port}, 'up');
	}
	return;
}

# Command prefix that runs a program inside NAME's namespace as the server's
# OS user (postgres when we are root; ourselves in a user namespace).
sub net_exec_prefix
{
	my ($name) = @_;
	my $h = $NET{hosts}{$name} or die "no host $name\n";
	my @prefix = ($NET{ip}, 'netns', 'exec', $h->{ns});
	if ($NET{mode} eq 'root')
	{
		push @prefix, _find_tool('runuser'), '-u', 'postgres', '--';
	}
	elsif (my $setpriv = _find_tool('setpriv'))
	{
		# The servers need none of the capabilities we keep for ip and tc.
		push @prefix, $setpriv, '--inh-caps=-all', '--ambient-caps=-all';
	}
	return @prefix;
}

# net_teardown() — deletes every namespace we made (their veths go with them).
sub net_teardown
{
	return unless $NET{mode};
	for my $ns (reverse @{ $NET{namespaces} })
	{
		_run($NET{ip}, 'netns', 'del', $ns);
	}
	$NET{namespaces} = [];
	$NET{hosts} = {};
	return;
}

# ---------------------------------------------------------------------------
# Command-line use (scripts/soak.sh):
#   perl -I tests/tap/lib -MConcordFaults -e 'ConcordFaults::cli()' -- CMD ARGS
#     freeze PM_PID DATADIR   stop the node's processes; prints "pid:start ..."
#     thaw PID:START...       continue those processes (same start time only)
#     tree PM_PID DATADIR     print the node's pids
#     private-exec CMD...     run CMD inside a private network world
#                             (exit 3 with the reason if it cannot be made)
# ---------------------------------------------------------------------------
sub cli
{
	my ($cmd, @args) = @ARGV;
	$cmd //= '';
	if ($cmd eq 'freeze')
	{
		my ($pm, $datadir) = @args;
		freeze_node_pids($pm, $datadir);
		print join(' ', sort keys %frozen), "\n";
		%frozen = ();    # the caller thaws them
		exit 0;
	}
	elsif ($cmd eq 'thaw')
	{
		for my $key (@args)
		{
			my ($pid, $start) = split /:/, $key;
			my (undef, undef, $now) = proc_state($pid);
			kill 'CONT', $pid if defined $now && defined $start && $now eq $start;
		}
		exit 0;
	}
	elsif ($cmd eq 'tree')
	{
		print join(' ', process_tree(@args)), "\n";
		exit 0;
	}
	elsif ($cmd eq 'private-exec')
	{
		my $why = enter_private_network();
		if ($why ne '')
		{
			print STDERR "$why\n";
			exit 3;
		}
		$ENV{CONCORD_PRIVATE_NET} = $NET{mode};
		exec { $args[0] } @args or die "exec $args[0]: $!\n";
	}
	die "usage: ConcordFaults::cli freeze|thaw|tree|private-exec ...\n";
}

END
{
	my $status = $?;
	thaw_all();
	$? = $status;
}

# ===========================================================================
# NetNode — a server inside a private network namespace
# ===========================================================================
package ConcordFaults::NetNode;

use strict;
use warnings;

use IPC::Run;
use Time::HiRes qw(usleep time);

my @ALL_NODES;

# new(NAME, ADDRESS, BASEDIR, conf => [lines], db => DB) — initdb a node whose
# server will listen on ADDRESS:5432 inside namespace cc_NAME (net_add_host
# first).  Nothing starts yet.
sub new
{
	my ($class, $name, $addr, $base, %opt) = @_;
	my $self = bless {
		name => $name,
		addr => $addr,
		port => $opt{port} // 5432,
		db => $opt{db} // 'concord',
		datadir => "$base/$name/data",
		sockdir => "$base/$name/sock",
		logfile => $opt{logfile} // "$base/$name/server.log",
		pid => undef,
	}, $class;
	mkdir "$base/$name";
	mkdir $self->{sockdir};
	if ($> == 0)
	{
		my ($uid, $gid) = (getpwnam('postgres'))[ 2, 3 ];
		chown $uid, $gid, "$base/$name", $self->{sockdir};
		if (open(my $fh, '>>', $self->{logfile})) { close $fh; }
		chown $uid, $gid, $self->{logfile};
	}
	my @as_pg = $> == 0 ? (ConcordFaults::_find_tool('runuser'), '-u', 'postgres', '--') : ();
	ConcordFaults::_must(@as_pg, _bin('initdb'), '-D', $self->{datadir}, '-A', 'trust', '-U', 'postgres', '-N');
	my $subnet = $addr;
	$subnet =~ s/\.\d+$/.0/;
	my $conf = join("\n",
		'',
		"listen_addresses = '$addr'",
		"port = $self->{port}",
		"unix_socket_directories = '$self->{sockdir}'",
		"fsync = off",
		"log_line_prefix = '%m [%p] %q%a '",
		@{ $opt{conf} // [] },
		'');
	_append($self->{datadir} . '/postgresql.conf', $conf);
	_write($self->{datadir} . '/pg_hba.conf', join("\n",
		'local all all trust',
		'local replication all trust',
		"host all all $subnet/24 trust",
		"host replication all $subnet/24 trust", ''));
	push @ALL_NODES, $self;
	return $self;
}

# Absolute path of a PostgreSQL program (runuser does not keep our PATH).
sub _bin
{
	my ($prog) = @_;
	for my $dir (split(/:/, $ENV{PATH} // ''), $ENV{PG_BINDIR} // (), '/usr/lib/postgresql/15/bin')
	{
		return "$dir/$prog" if $dir ne '' && -x "$dir/$prog";
	}
	die "$prog not found in PATH\n";
}

sub _append
{
	my ($path, $text) = @_;
	open(my $fh, '>>', $path) or die "$path: $!";
	print $fh $text;
	close $fh;
	return;
}

sub _write
{
	my ($path, $text) = @_;
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh $text;
	close $fh;
	return;
}

sub name    { return $_[0]{name}; }
sub addr    { return $_[0]{addr}; }
sub logfile { return $_[0]{logfile}; }
sub datadir { return $_[0]{datadir}; }
sub pid     { return $_[0]{pid}; }

# How peers reach this node: only over the private subnet.
sub dsn
{
	my ($self) = @_;
	return "host=$self->{addr} port=$self->{port} dbname=$self->{db} user=postgres";
}

# start() — pg_ctl start inside the node's namespace; records the postmaster pid.
sub start
{
	my ($self) = @_;
	# libpq inside the server would take PGAPPNAME, PGHOST, ... of the test's
	# environment as defaults for the peer connections: keep them out.
	local %ENV = %ENV;
	delete $ENV{$_} for grep { /^PG[A-Z]/ && !/^PG(PASSFILE|SERVICEFILE|SYSCONFDIR)$/ } keys %ENV;
	ConcordFaults::_must(ConcordFaults::net_exec_prefix($self->{name}),
		_bin('pg_ctl'), '-D', $self->{datadir}, '-l', $self->{logfile}, '-w', '-t', '60', 'start');
	open(my $fh, '<', "$self->{datadir}/postmaster.pid") or die "no postmaster.pid for $self->{name}";
	chomp(my $pid = <$fh>);
	close $fh;
	$self->{pid} = $pid;
	return;
}

# stop(MODE) — signals the postmaster (by its pid) and waits until it is gone.
sub stop
{
	my ($self, $mode) = @_;
	my $pid = $self->{pid} // return;
	my %sig = (smart => 'TERM', fast => 'INT', immediate => 'QUIT');
	kill 'CONT', $pid;    # a frozen server could not act on the signal
	kill($sig{ $mode // 'fast' }, $pid);
	my $gone = ConcordFaults::wait_until(sub { !kill(0, $pid) }, 60, 50);
	if (!$gone)
	{
		kill 'KILL', $pid;
		ConcordFaults::wait_until(sub { !kill(0, $pid) }, 10, 50);
	}
	$self->{pid} = undef;
	return;
}

# psql(SQL, timeout => S) — (exit status, stdout, stderr); status -1 on timeout.
sub psql
{
	my ($self, $sql, %opt) = @_;
	my ($out, $err) = ('', '');
	my @cmd = (
		_bin('psql'), '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
		'-h', $self->{sockdir}, '-p', $self->{port}, '-U', 'postgres',
		'-d', $opt{db} // $self->{db}, '-c', $sql);
	my $rc;
	eval {
		IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout($opt{timeout} // 60));
		$rc = $? >> 8;
		1;
	} or do { $rc = -1; $err .= $@; };
	chomp $out;
	return ($rc, $out, $err);
}

# safe_psql(SQL) — stdout, or dies with psql's error.
sub safe_psql
{
	my ($self, $sql, %opt) = @_;
	my ($rc, $out, $err) = $self->psql($sql, %opt);
	die "$self->{name}: psql failed ($rc): $err\nwhile running: $sql\n" if $rc != 0;
	return $out;
}

# poll_until(SQL, EXPECTED, TIMEOUT) — true once SQL returns EXPECTED.
sub poll_until
{
	my ($self, $sql, $expected, $timeout) = @_;
	$expected //= 't';
	return ConcordFaults::wait_until(
		sub {
			my ($rc, $out) = $self->psql($sql, timeout => 10);
			return $rc == 0 && $out eq $expected;
		},
		$timeout // 60, 200);
}

# start_writer(FROM, ORIGIN) — background stream of single-row transactions
# INSERT INTO public.t (id, origin) with ids FROM, FROM+1, ... (a 10 ms pause
# every 20 rows) until the node's local table public.stop_writers has a row.
# Returns the IPC::Run harness and a reference to psql's stderr.
sub start_writer
{
	my ($self, $from, $origin) = @_;
	my $cap = $from + 400_000;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			_bin('psql'), '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
			'-h', $self->{sockdir}, '-p', $self->{port}, '-U', 'postgres', '-d', $self->{db}, '-c',
			"DO \$\$ DECLARE i int := $from; BEGIN "
			  . "LOOP EXIT WHEN i > $cap OR EXISTS (SELECT 1 FROM public.stop_writers); "
			  . "INSERT INTO public.t (id, origin) VALUES (i, '$origin'); COMMIT; i := i + 1; "
			  . "IF i % 20 = 0 THEN PERFORM pg_sleep(0.01); END IF; END LOOP; END \$\$"
		],
		'<', \undef, '>', \$out, '2>', \$err);
	return ($h, \$err);
}

# has_output_plugin_libraries() — true if this server knows the setting
# (15.19 and later load only the output plugins it lists).
sub has_output_plugin_libraries
{
	my $config = `"@{[ _bin('postgres') ]}" --describe-config 2>/dev/null`;
	return $config =~ /^output_plugin_libraries\t/m ? 1 : 0;
}

# stop_all() — stops every NetNode still running (immediate).
sub stop_all
{
	$_->stop('immediate') for grep { defined $_->{pid} } @ALL_NODES;
	return;
}

END
{
	my $status = $?;
	ConcordFaults::thaw_all();
	stop_all();
	ConcordFaults::net_teardown();
	$? = $status;
}

1;
