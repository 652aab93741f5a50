#!/usr/bin/perl
use CGI;
my $q = CGI->new;
print "Content-type: text/html\n\n";
my $from = $q->param('email');
open(my $mail, "|/usr/sbin/sendmail -t") or die;
print $mail "To: office\@example.org\nReply-To: $from\nSubject: contact\n\n", $q->param('text');
close $mail;
print "<p>Thanks</p>";
