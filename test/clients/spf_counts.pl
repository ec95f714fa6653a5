#!/usr/bin/perl
# Evaluates SPF with Mail::SPF, the library behind Debian's spfquery (libmail-spf-perl), for the
# domain-check agreement test. Reads "domain address" lines on stdin; prints for each
# "domain address result dns_interactive_terms void_lookups". The DNS server comes from the
# environment, as for spfquery: RES_NAMESERVERS=127.0.0.1 RES_OPTIONS=port:PORT (Net::DNS).
use strict;
use warnings;
use Mail::SPF;

my $server = Mail::SPF::Server->new();
$| = 1;
while (my $line = <STDIN>) {
    chomp $line;
    my ($domain, $address) = split ' ', $line;
    next unless defined $address;
    my $request = Mail::SPF::Request->new(
        scope         => 'mfrom',
        identity      => "postmaster\@$domain",
        ip_address    => $address,
        helo_identity => $domain,
    );
    my $result = $server->process($request);
    printf "%s %s %s %d %d\n", $domain, $address, $result->code,
        $request->state('dns_interactive_terms_count') // 0,
        $request->state('void_dns_lookups_count') // 0;
}
