// hashscan default pack: classic ASP (VBScript/JScript) and ASP.NET (ASPX) webshells.
//
// Every rule needs a dangerous sink (eval/Execute, WScript.Shell, Process.Start, a file
// write, Assembly.Load) together with request input close by. Checked against Mono's
// ASP.NET examples (scripts/fetch-fp-corpus). Patterns marked `private` are context that
// must be present but is not reported as a match.
//
// Metadata: score (0-100: 81+ malicious, 71-80 suspicious), threat_type, description.

import "math"

// China Chopper ASP/ASPX one-liners and their relatives:
// <%eval request("x")%>, <%execute(request("x"))%>, <%ExecuteGlobal Request.Form("x")%>,
// <%@ Page Language="Jscript"%><%eval(Request.Item["x"],"unsafe");%>.
rule ASP_Eval_Request_OneLiner
{
    meta:
        description = "ASP/ASPX eval/Execute of code taken straight from the HTTP request (China Chopper style)"
        threat_type = "WebShell"
        score = 100
    strings:
        $eval = /\b(eval|execute|executeglobal)(\s*\(\s*|\s+)((Encoding\s*\.\s*\w{1,10}\s*\.\s*GetString|Convert\s*\.\s*FromBase64String|System\s*\.\s*Text\s*\.\s*Encoding\s*\.\s*\w{1,10}\s*\.\s*GetString|Server\s*\.\s*HtmlDecode|unescape|decodeURIComponent)\s*\(\s*){0,3}Request\s*(\.\s*(Item|Form|QueryString|Cookies|Params|ServerVariables)\s*)?[\(\[]/ nocase
    condition:
        $eval
}

// JScript.NET eval(…, "unsafe") in an ASP.NET page: the ASPX China Chopper and its clones.
rule ASPX_Jscript_Unsafe_Eval
{
    meta:
        description = "ASP.NET JScript page calling eval(..., unsafe): runs arbitrary .NET code"
        threat_type = "WebShell"
        score = 95
    strings:
        $unsafe = /\beval\s*\([^;]{1,300},\s*["']unsafe["']\s*\)/ nocase
        $lang = /Language\s*=\s*["']?J(ava)?Script/ nocase private
    condition:
        filesize < 500KB and $unsafe and $lang
}

// WScript.Shell / Shell.Application run with a command from the request.
rule ASP_WScript_Shell_Exec_Request
{
    meta:
        description = "Classic ASP running a shell command from the HTTP request through WScript.Shell"
        threat_type = "WebShell"
        score = 95
    strings:
        $direct = /\.\s*(exec|run|ShellExecute)(\s*\(\s*|\s+)(["'][^"'\r\n]{0,60}["']\s*[&+]\s*)?Request\s*(\.\s*(Item|Form|QueryString|Cookies)\s*)?[\(\[]/ nocase
        $exec = /\.\s*(exec|run|ShellExecute)(\s*\(|\s+["'\w])/ nocase
        $shell = /CreateObject\s*\(\s*["'](WScript\.Shell|Shell\.Application)["']/ nocase private
        $req = /\bRequest\s*(\.\s*(Item|Form|QueryString|Cookies)\s*)?[\(\[]/ nocase private
    condition:
        filesize < 500KB and $shell and (
            $direct or
            for any i in (1..math.min(#exec, 50)) : (
                $req in (@exec[i] - 1024 .. @exec[i])
            )
        )
}

// Scripting.FileSystemObject / ADODB.Stream writing or deleting request-supplied paths.
rule ASP_FSO_File_Write_Request
{
    meta:
        description = "Classic ASP file manager: FileSystemObject/ADODB.Stream writes or deletes files at request-supplied paths"
        threat_type = "WebShell"
        score = 85
    strings:
        $write = /\.\s*(CreateTextFile|OpenTextFile|SaveToFile|DeleteFile|DeleteFolder|CopyFile|MoveFile)(\s*\(\s*|\s+)(Server\s*\.\s*MapPath\s*\(\s*)?Request\s*(\.\s*(Item|Form|QueryString)\s*)?[\(\[]/ nocase
        $fso = /CreateObject\s*\(\s*["'](Scripting\.FileSystemObject|ADODB\.Stream)["']/ nocase private
        $req = /\bRequest\s*(\.\s*(Item|Form|QueryString|BinaryRead)\s*)?[\(\[]/ nocase private
    condition:
        filesize < 500KB and $fso and $write and #req >= 2
}

// System.IO writes to request-supplied paths with request-supplied content:
// File.WriteAllText(Server.MapPath(Request["f"]), Request["c"]).
rule ASPX_File_Write_Request
{
    meta:
        description = "ASP.NET page writing HTTP request content to a file whose path also comes from the request"
        threat_type = "WebShell"
        score = 85
    strings:
        $write = /\b(File\s*\.\s*(WriteAllText|WriteAllBytes|AppendAllText|WriteAllLines)|new\s+(System\s*\.\s*IO\s*\.\s*)?(StreamWriter|FileStream))\s*\(\s*(Server\s*\.\s*MapPath\s*\(\s*)?([^;]{0,80}[+(]\s*)?Request\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[\(]/ nocase
        $req = /\bRequest\s*(\.\s*(Form|QueryString|Params|Item|BinaryRead|InputStream)\s*)?[\[\(]/ nocase private
    condition:
        filesize < 500KB and $write and #req >= 2
}

// Process.Start / ProcessStartInfo fed from the request.
rule ASPX_Process_Start_Request
{
    meta:
        description = "ASP.NET page starting a process with arguments from the HTTP request"
        threat_type = "WebShell"
        score = 95
    strings:
        $start = /Process\s*\.\s*Start\s*\(\s*(["'][^"'\r\n]{0,60}["']\s*,\s*)?(["'][^"'\r\n]{0,60}["']\s*\+\s*)?Request\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[\(]/ nocase
        $psi = /\.\s*(Arguments|FileName)\s*=\s*(["'][^"'\r\n]{0,60}["']\s*\+\s*)?Request\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[\(]/ nocase
        $psi_new = /new\s+(System\s*\.\s*Diagnostics\s*\.\s*)?ProcessStartInfo\s*\(\s*(["'][^"'\r\n]{0,60}["']\s*,\s*)?(["'][^"'\r\n]{0,60}["']\s*\+\s*)?Request\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[\(]/ nocase
        $proc = /Process\s*\.\s*Start\s*\(|ProcessStartInfo/ nocase private
    condition:
        filesize < 500KB and ($start or $psi_new or ($psi and $proc))
}

// The cmd.aspx family: a page that runs cmd.exe with the text of a form control and shows
// its output (no Request[] in sight, the input comes through a TextBox).
rule ASPX_Cmd_Shell
{
    meta:
        description = "ASP.NET page that runs cmd.exe with user-supplied arguments and returns its output"
        threat_type = "WebShell"
        score = 85
    strings:
        $proc = /Process\s*\.\s*Start\s*\(|new\s+(System\s*\.\s*Diagnostics\s*\.\s*)?ProcessStartInfo\s*\(/ nocase
        $cmd = /["'](cmd(\.exe)?|c:\\\\windows\\\\system32\\\\cmd\.exe|powershell(\.exe)?)["']/ nocase private
        $redirect = "RedirectStandardOutput" private
        $input = /\.\s*Text\b|\bRequest\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[\(]/ private
        $page = /<%@\s*Page\b|<script\s+runat\s*=\s*["']?server/ nocase private
    condition:
        filesize < 500KB and $page and $proc and $cmd and $redirect and $input
}

// Upload-and-browse pages: SaveAs to a path chosen by the request, or an upload next to
// directory listing / deletion / command features.
rule ASPX_Upload_SaveAs
{
    meta:
        description = "ASP.NET webshell uploader: saves uploads to request-chosen paths alongside file-manager features"
        threat_type = "WebShell"
        score = 80
    strings:
        $saveas_req = /\.\s*SaveAs\s*\(\s*(Server\s*\.\s*MapPath\s*\(\s*)?([^;]{0,80}[+(]\s*)?Request\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[\(]/ nocase
        $saveas = /\.\s*SaveAs\s*\(/ nocase
        $files = /Request\s*\.\s*Files/ nocase private
        $mappath = /Server\s*\.\s*MapPath/ nocase private
        $k1 = /Directory\s*\.\s*GetFiles/ nocase private
        $k2 = /Directory\s*\.\s*GetDirectories/ nocase private
        $k3 = /File\s*\.\s*Delete\s*\(/ nocase private
        $k4 = /Directory\s*\.\s*Delete\s*\(/ nocase private
        $k5 = "cmd.exe" nocase private
        $k6 = /Process\s*\.\s*Start/ nocase private
        $k7 = /DriveInfo\s*\.\s*GetDrives|Directory\s*\.\s*GetLogicalDrives|Environment\s*\.\s*GetLogicalDrives/ nocase private
        $k8 = /File\s*\.\s*ReadAllText\s*\(\s*Request/ nocase private
    condition:
        filesize < 500KB and $files and (
            $saveas_req or ($saveas and $mappath and 2 of ($k*))
        )
}

// Behinder / Godzilla for .NET: an encrypted assembly in the request body, decrypted and
// loaded with Assembly.Load.
rule ASPX_Assembly_Load_Request
{
    meta:
        description = "ASP.NET page loading an (encrypted) assembly sent in the HTTP request with Assembly.Load"
        threat_type = "WebShell"
        score = 95
    strings:
        $load = /\bAssembly\s*\.\s*Load\s*\(/
        $req = /Request\s*\.\s*(BinaryRead|InputStream|Form|Params|Item)\b|Request\s*\[/ private
        $crypto = /RijndaelManaged|Aes\s*\.\s*Create|AesManaged|CreateDecryptor|FromBase64String|TransformFinalBlock/ private
        $inst = /CreateInstance\s*\(|\.\s*Invoke\s*\(/ private
    condition:
        filesize < 500KB and $load and $req and $crypto and $inst
}
