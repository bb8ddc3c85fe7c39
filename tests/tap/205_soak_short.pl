# 205_soak_short.pl — the CI version of scripts/soak.sh: two minutes of mixed
# writes at all three nodes of a full mesh while random faults (kill -9,
# freeze, pause, partition when network namespaces are available) hit it;
# then nothing lost or duplicated, every node identical, every link healthy,
# no server crash of its own, apply worker memory flat.  Each of the soak's
# checks becomes one test here; the soak's whole output is in the test log.
#
#   CONCORD_SOAK_MINUTES  length of the faulty phase (default 2)
#   CONCORD_SOAK_SEED     fault schedule seed (default: random; printed, so a
#                         failing schedule can be replayed with scripts/soak.sh --seed)
use strict;
use warnings;

use FindBin;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $soak    = "$FindBin::RealBin/../../scripts/soak.sh";
my $minutes = $ENV{CONCORD_SOAK_MINUTES} || 2;
my $seed    = $ENV{CONCORD_SOAK_SEED} || (time % 100000);
my $work    = PostgreSQL::Test::Utils::tempdir_short() . '/soak';

note("running: bash scripts/soak.sh --minutes $minutes --seed $seed --work $work");
my ($out, $err) = ('', '');
my $ok = eval {
	IPC::Run::run([ 'bash', $soak, '--minutes', $minutes, '--seed', $seed, '--work', $work ],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($minutes * 60 + 900));
	1;
};
my $status = $ok ? $? >> 8 : -1;
note($out);
note("stderr:\n$err") if $err ne '';
diag("the soak did not finish: $@") unless $ok;

my %check = map { $_->[0] => [ $_->[1], $_->[2] ] } map { [ /^soak: check (\S+): (ok|FAILED)\s*(.*)$/ ] }
  grep { /^soak: check / } split /\n/, $out;
for my $name (qw(converged exactly_once counters identical links_healthy no_server_crash memory_flat))
{
	my $c = $check{$name};
	ok($c && $c->[0] eq 'ok', "soak check $name" . ($c ? ": $c->[1]" : ' did not run'));
}

my ($faults, $kinds) = $out =~ /faults: (\d+) \(([^)]*)\)/;
my $netns = $out =~ /network: namespaces/;
cmp_ok($faults // 0, '>=', 4, "faults were injected: " . ($kinds // 'none'));
for my $kind ('crash', 'freeze', 'pause', ($netns ? 'partition' : ()))
{
	like($kinds // '', qr/\b$kind x\d+/, "at least one $kind fault");
}
note('partitions left out: network namespaces not available') unless $netns;
like($out, qr/^soak: PASSED$/m, 'the soak passed') or diag("soak exit status $status; work directory kept: $work");
is($status, 0, 'soak.sh exits 0');

done_testing();
