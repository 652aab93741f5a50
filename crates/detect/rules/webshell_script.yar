// hashscan default pack: CGI webshells in Perl, Python and Ruby, and reverse/bind shells in
// any of those (and C).
//
// A CGI shell reads the query (param(), %ENV, cgi.FieldStorage, CGI.new) and hands it to
// the system (system, exec, backticks, a pipe open, os.popen, subprocess). A reverse shell
// connects a socket to the attacker and puts a shell on its descriptors. Patterns marked
// `private` are context that must be present but is not reported as a match.
//
// Metadata: score (0-100: 81+ malicious, 71-80 suspicious), threat_type, description.

import "math"

// Perl CGI: a command from the query run with system/exec/backticks/qx or a pipe open, on
// a page that prints an HTTP header.
rule Perl_CGI_Command_Shell
{
    meta:
        description = "Perl CGI script that runs shell commands taken from the HTTP request"
        threat_type = "WebShell"
        score = 85
    strings:
        $perl = /^#!\s*\S{0,40}perl|\buse\s+CGI\b|\$ENV\s*\{\s*['"]?(QUERY_STRING|REQUEST_METHOD|CONTENT_LENGTH)/ private
        $header = /Content-type:\s*text\/html/ nocase private
        $input = /\bparam\s*\(|\$ENV\s*\{\s*['"]?QUERY_STRING|\bread\s*\(\s*STDIN|\$(in|param|FORM|query)\s*\{/ private
        $sink = /\b(system|exec)\s*\(?\s*["'$@]|`\s*\$[\w{]|\bqx\s*[\(\{\/|]\s*\$|\bopen\s*\(?\s*(my\s+)?[$\w]{1,20}\s*,\s*["'][^"'\r\n]{0,60}\$[^"'\r\n]{0,60}\|\s*["']/
    condition:
        filesize < 4MB and $perl and $header and $input and $sink
}

// Python CGI: cgi.FieldStorage or the query string into os.system/popen/subprocess.
rule Python_CGI_Command_Shell
{
    meta:
        description = "Python CGI script that runs shell commands taken from the HTTP request"
        threat_type = "WebShell"
        score = 85
    strings:
        $input = /cgi\s*\.\s*FieldStorage\s*\(|os\s*\.\s*environ\s*\[\s*['"]QUERY_STRING|request\s*\.\s*(args|form|values)\s*(\.\s*get\s*)?[\[\(]/ private
        $sink = /\bos\s*\.\s*(system|popen|popen2|popen3|execv|execl|execvp)\s*\(|\bsubprocess\s*\.\s*(Popen|call|check_output|run|getoutput)\s*\(|\bcommands\s*\.\s*getoutput\s*\(/
        $header = /Content-type:\s*text\/html|print\s*\(?\s*["']Content-Type/ nocase private
    condition:
        filesize < 4MB and $input and $sink and $header
}

// Ruby CGI: CGI params into backticks, system, IO.popen, %x.
rule Ruby_CGI_Command_Shell
{
    meta:
        description = "Ruby CGI script that runs shell commands taken from the HTTP request"
        threat_type = "WebShell"
        score = 85
    strings:
        $cgi = /\bCGI\s*\.\s*new\b|\brequire\s+['"]cgi['"]|ENV\s*\[\s*['"]QUERY_STRING/ private
        $sink = /`[^`\r\n]{0,60}#\{|%x\s*[\(\{\[][^\r\n]{0,60}#\{|\bIO\s*\.\s*popen\s*\(|\b(system|exec|spawn)\s*\(\s*[a-z_@$]|Open3\s*\.\s*(popen3|capture2e?)/
    condition:
        filesize < 4MB and $cgi and $sink
}

// Reverse and bind shells: a socket connected to (or listening for) the attacker, with a
// shell started on its descriptors. Perl, Python, Ruby, PHP-less C.
rule Reverse_Shell_Script
{
    meta:
        description = "Reverse or bind shell: a network socket wired to a system shell"
        threat_type = "Backdoor"
        score = 90
    strings:
        $sh = /["'](\/bin\/(ba)?sh|sh|bash|cmd\.exe|cmd)(\s+-i)?["']/ nocase private
        $perl_sock = /\bsocket\s*\(\s*[A-Z_]{1,20}\s*,\s*(PF_INET|AF_INET|2)\b|IO::Socket::INET\s*->\s*new\b/
        $perl_dup = /\bopen\s*\(\s*(STDIN|STDOUT|STDERR)\s*,\s*["']?[>+<&]{2,3}/
        $py_sock = /\bsocket\s*\.\s*socket\s*\(/
        $py_dup = /\bos\s*\.\s*dup2\s*\(|\bpty\s*\.\s*spawn\s*\(|subprocess\s*\.\s*(Popen|call)\s*\([^)]{0,80}stdin\s*=/
        $rb_sock = /\bTCPSocket\s*\.\s*(new|open)\s*\(|\bTCPServer\s*\.\s*new\s*\(/
        $rb_dup = /\b(STDIN|STDOUT|STDERR|\$stdin|\$stdout|\$stderr)\s*\.\s*reopen\s*\(|\bexec\s*\(?\s*["']\/bin\/sh|IO\s*\.\s*popen\s*\(/
        $c_sock = /\bsocket\s*\(\s*(AF_INET|PF_INET)\b/
        $c_dup = /\bdup2\s*\(/
        $c_exec = /\bexec(l|lp|v|ve|vp)\s*\(\s*["']\/bin\/(ba)?sh["']/
    condition:
        filesize < 1MB and $sh and (
            ($perl_sock and $perl_dup)
            or ($py_sock and $py_dup)
            or ($rb_sock and $rb_dup)
            or ($c_sock and #c_dup >= 2 and $c_exec)
        )
}

// Reverse shells as a command line, in any page or script: bash's /dev/tcp, netcat's -e,
// the mkfifo relay.
rule Reverse_Shell_Command
{
    meta:
        description = "Reverse shell command line (bash /dev/tcp, nc -e, mkfifo relay) in a page or script"
        threat_type = "Backdoor"
        score = 85
    strings:
        $devtcp = /(ba)?sh\s+-i\s*[0-9]?>&\s*\/dev\/(tcp|udp)\/|\/dev\/(tcp|udp)\/[\w.\-${}"'+ ]{1,80}\/[\w${}"'+ ]{1,20}\s*0\s*>\s*&\s*1/
        $nc = /\bn(c|cat|etcat)(\.exe)?\s+(-[a-zA-Z]{1,4}\s+){0,3}-[a-zA-Z]{0,3}e\s+(\/bin\/(ba)?sh|cmd(\.exe)?)\b/
        $fifo = /\bmkfifo\s+\/tmp\/[\w.]{1,30}\s*;[^\r\n]{0,120}\|\s*n(c|cat)\s/
    condition:
        filesize < 4MB and any of them
}
