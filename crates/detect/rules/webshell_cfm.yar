// hashscan default pack: ColdFusion (CFM/CFC) webshells.
//
// ColdFusion pages run commands with <cfexecute> or through Java (createObject("java",
// "java.lang.Runtime")), and manage files with <cffile>/<cfdirectory>. Ordinary
// applications do not feed those from the request (form., url. variables). Patterns marked
// `private` are context that must be present but is not reported as a match.
//
// Metadata: score (0-100: 81+ malicious, 71-80 suspicious), threat_type, description.

// <cfexecute name="#form.cmd#" …>, or a cfexecute whose program or arguments are variables
// in a page that reads form/url input.
rule CFM_Cfexecute_Request
{
    meta:
        description = "ColdFusion page running operating-system commands with cfexecute from request input"
        threat_type = "WebShell"
        score = 90
    strings:
        $direct = /<cfexecute\b[^>]{0,200}(name|arguments)\s*=\s*["']?[^"'>]{0,40}#\s*(form|url|attributes|cgi)\s*\./ nocase
        $exec = /<cfexecute\b[^>]{0,200}(name|arguments)\s*=\s*["']?[^"'>]{0,40}#/ nocase
        $req = /#\s*(form|url)\s*\.|\b(form|url)\s*\.\s*\w{1,30}\b/ nocase private
        $cfscript = /\bcfexecute\s*\(|\bexecute\s*\(\s*name\s*=/ nocase
    condition:
        filesize < 4MB and ($direct or (($exec or $cfscript) and $req))
}

// java.lang.Runtime or ProcessBuilder through createObject("java", …).
rule CFM_Java_Runtime
{
    meta:
        description = "ColdFusion page that starts processes through Java or COM (java.lang.Runtime, ProcessBuilder, WScript.Shell)"
        threat_type = "WebShell"
        score = 90
    strings:
        $obj = /createObject\s*\(\s*["']java["']\s*,\s*["']java\.lang\.(Runtime|ProcessBuilder)["']|createObject\s*\(\s*["']com["']\s*,\s*["'](WScript\.Shell|Shell\.Application)["']/ nocase
        $exec = /\.\s*(exec|start|run|ShellExecute)\s*\(/ nocase private
    condition:
        filesize < 4MB and $obj and $exec
}

// File managers and uploaders: cffile writes/uploads/deletes and cfdirectory listings on
// request-supplied paths.
rule CFM_File_Manager
{
    meta:
        description = "ColdFusion file manager: cffile/cfdirectory on paths taken from the request"
        threat_type = "WebShell"
        score = 80
    strings:
        $file = /<cffile\b[^>]{0,200}action\s*=\s*["']?(write|upload|delete|rename|copy|move)\b[^>]{0,200}#\s*(form|url)\s*\./ nocase
        $dir = /<cfdirectory\b[^>]{0,200}#\s*(form|url)\s*\./ nocase private
        $file2 = /<cffile\b[^>]{0,200}#\s*(form|url)\s*\./ nocase private
        $write_both = /<cffile\b[^>]{0,200}action\s*=\s*["']?write\b[^>]{0,200}#\s*(form|url)\s*\.[^>]{0,200}#\s*(form|url)\s*\./ nocase
        $upload = /<cffile\b[^>]{0,200}action\s*=\s*["']?upload\b/ nocase
        $form = /enctype\s*=\s*["']?multipart\/form-data/ nocase private
    condition:
        filesize < 4MB and (($file and ($dir or #file2 >= 2)) or $write_both or ($upload and $form))
}

// evaluate() of request input: ColdFusion's eval.
rule CFM_Evaluate_Request
{
    meta:
        description = "ColdFusion page evaluating code taken from the request (evaluate(form.x))"
        threat_type = "WebShell"
        score = 90
    strings:
        $eval = /\b(evaluate|precisionEvaluate)\s*\(\s*(form|url|cookie|attributes)\s*\./ nocase
    condition:
        filesize < 4MB and $eval
}
