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
        filesize < 16MB and $eval
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
        $anywrite = /\.\s*(CreateTextFile|SaveToFile)\b/ nocase private
        $req = /\bRequest\s*(\.\s*(Item|Form|QueryString|BinaryRead)\s*)?[\(\[]/ nocase private
    condition:
        filesize < 500KB and $fso and #req >= 2 and ($write or (filesize < 20KB and $anywrite))
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
        $write = /\b(File\s*\.\s*(WriteAllText|WriteAllBytes|AppendAllText|WriteAllLines)|new\s+(System\s*\.\s*IO\s*\.\s*)?(StreamWriter|FileStream))\s*\(\s*((\w+\s*\.\s*)?Server\s*\.\s*MapPath\s*\(\s*)?([^;]{0,80}[+(,]\s*)?(\w+\s*\.\s*)?Request\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[\(]/ nocase
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

// ---------------------------------------------------------------------------------------
// Whole pages: what an ASP/ASPX page offers its user (commands, files, databases, loaded
// code), and the encodings that hide it.
// ---------------------------------------------------------------------------------------

// Markers of a classic ASP or ASP.NET page.
private rule ASP_Page
{
    strings:
        $tag = /<%[@=\s#a-zA-Z]/
        $server = /<script[^>]{0,60}runat\s*=\s*["']?server/ nocase
    condition:
        filesize < 16MB and ($tag or $server)
}

// Request input in ASP/ASP.NET.
private rule ASP_Request
{
    strings:
        $req = /\bRequest\s*(\.\s*(Form|QueryString|Item|Params|Cookies|ServerVariables|BinaryRead|InputStream|Files|Headers)\b|\s*[\(\[])/ nocase
    condition:
        filesize < 16MB and $req
}

// eval/Execute/ExecuteGlobal of a variable assigned from the request shortly before, or of
// a decoding function's result: Execute(Decode(s)), eval(unescape(x)).
rule ASP_Execute_Dynamic_Code
{
    meta:
        description = "ASP page that runs dynamic code with Execute/ExecuteGlobal/Eval (decoded or taken from the request)"
        threat_type = "WebShell"
        score = 85
    strings:
        $exec_call = /\b(execute|executeglobal)\b\s*\(?\s*[a-z_]\w{0,30}\s*\(/ nocase
        $exec_var = /\b(execute|executeglobal|eval)\b(\s*\(\s*|\s+)[a-z_]\w{0,30}\s*(%>|[)+&:;\r\n])/ nocase
        $assign = /\b[a-z_]\w{0,30}\s*=[^\r\n:=]{0,60}Request\s*(\.\s*(Form|QueryString|Item|BinaryRead|Cookies)\s*)?\(/ nocase private
        $chr = /chr\s*\(\s*&?h?[0-9a-f]{1,3}\s*\)\s*&\s*chr\s*\(/ nocase private
    condition:
        filesize < 4MB and ASP_Page and (
            ($exec_call and (#chr > 10 or ASP_Request))
            or for any i in (1..math.min(#exec_var, 50)) : (
                $assign in (@exec_var[i] - 1024 .. @exec_var[i])
            )
        )
}

// VBScript.Encode / JScript.Encode (screnc) blobs: the encoded script form that webshell
// authors use to hide the page.
rule ASP_Encoded_Script
{
    meta:
        description = "ASP page hidden with the Script Encoder (VBScript.Encode/JScript.Encode)"
        threat_type = "WebShell"
        score = 75
    strings:
        $blob = /#@~\^[A-Za-z0-9+\/]{6}==/
        $lang = /Language\s*=\s*["']?(VBScript|JScript)\.Encode/ nocase private
    condition:
        filesize < 4MB and $blob and ($lang or ASP_Page)
}

// Classic ASP toolkits: the shell object, the file system and the request together, or a
// command line built for cmd.exe.
rule ASP_Webshell_Toolkit
{
    meta:
        description = "Classic ASP webshell toolkit: shell commands, file management and request input in one page"
        threat_type = "WebShell"
        score = 85
    strings:
        $wsh = /["'](WScript\.Shell|Shell\.Application|WScript\.Network)["']|72C24DD5-D70A-438B-8A42-98424B88AFB8|13709620-C279-11CE-A49E-444553540000/ nocase
        $fso = /["']Scripting\.FileSystemObject["']|0D43FE01-F093-11CF-8940-00A0C9054228/ nocase
        $stream = /["']ADODB\.Stream["']/ nocase
        $cmd = /cmd(\.exe)?\s*\/c|["']cmd\.exe["']|%comspec%/ nocase
        $fileop = /\.\s*(DeleteFile|DeleteFolder|CreateTextFile|CopyFile|MoveFile|CreateFolder|SaveToFile|GetFolder|OpenTextFile)\b/ nocase private
        $exec = /\.\s*(exec|run|ShellExecute)\b/ nocase private
        $sql = /["']ADODB\.Connection["']|xp_cmdshell/ nocase private
    condition:
        filesize < 4MB and ASP_Page and ASP_Request and (
            ($wsh and $exec and ($fso or $stream or $cmd))
            or ($fso and #fileop >= 4 and ($stream or $sql or $cmd or $wsh))
            or ($cmd and $exec)
        )
}

// ASP.NET pages, handlers and web services that start processes.
rule ASPX_Page_Runs_Commands
{
    meta:
        description = "ASP.NET page, handler or web service that starts processes (Process.Start) from user input or for a shell"
        threat_type = "WebShell"
        score = 90
    strings:
        $proc = /Process\s*\.\s*Start\s*\(|new\s+(System\s*\.\s*Diagnostics\s*\.\s*)?(ProcessStartInfo|Process)\s*\(/ nocase
        $dotnet = /<%@\s*(Page|WebService|WebHandler|Control)\b|runat\s*=\s*["']?server|\[WebMethod\]/ nocase private
        $shell = /cmd(\.exe)?|powershell|\/bin\/(ba)?sh/ nocase private
        $input = /\bRequest\s*[\[\(.]|\.\s*Text\b|\bstring\s+\w{1,30}\s*[,)]/ private
        $out = /RedirectStandardOutput|StandardOutput\s*\.\s*ReadToEnd/ private
    condition:
        filesize < 4MB and $dotnet and $proc and $input and ($shell or $out)
}

// ASP.NET pages that load code sent in the request or kept in the session
// (Behinder/Godzilla/AntSword loaders).
rule ASPX_Loads_Request_Assembly
{
    meta:
        description = "ASP.NET page that loads an assembly from request or session data (Behinder/Godzilla style loader)"
        threat_type = "WebShell"
        score = 90
    strings:
        $load = /\bAssembly\s*\.\s*(Load|LoadFrom|UnsafeLoadFrom)\s*\(|\bAppDomain\s*\.\s*CurrentDomain\s*\.\s*Load\s*\(|\bCompileAssemblyFromSource\s*\(/
        $src = /Request\s*(\.\s*(BinaryRead|InputStream|Form|Params|Item|Cookies)|\s*\[)|Session\s*\[/ private
        $dotnet = /<%@\s*(Page|WebHandler|WebService)\b|runat\s*=\s*["']?server/ nocase private
    condition:
        filesize < 4MB and $dotnet and $load and $src
}

// ASP.NET file managers: list, delete and write files with request input.
rule ASPX_File_Manager
{
    meta:
        description = "ASP.NET file manager page: lists, deletes and writes server files from request input"
        threat_type = "WebShell"
        score = 80
    strings:
        $list = /Directory\s*\.\s*(GetFiles|GetDirectories|GetFileSystemEntries)|new\s+DirectoryInfo\s*\(|GetLogicalDrives/ nocase
        $delete = /(File|Directory)\s*\.\s*(Delete|Move|Copy)\s*\(|\.\s*Delete\s*\(\s*(true)?\s*\)/ nocase private
        $write = /\.\s*SaveAs\s*\(|File\s*\.\s*(WriteAllText|WriteAllBytes|AppendAllText)|new\s+StreamWriter\s*\(/ nocase private
        $dotnet = /<%@\s*Page\b|runat\s*=\s*["']?server/ nocase private
    condition:
        filesize < 4MB and $dotnet and ASP_Request and $list and $delete and $write
}

// xp_cmdshell from a web page: SQL Server's shell through a page that takes input.
rule Web_Page_Xp_Cmdshell
{
    meta:
        description = "Web page that runs operating-system commands through SQL Server's xp_cmdshell"
        threat_type = "WebShell"
        score = 85
    strings:
        $xp = /\bxp_cmdshell\b/ nocase
        $page = /<%|<\?php|runat\s*=\s*["']?server/ nocase private
        $req = /\bRequest\s*[\[\(.]|\$_(GET|POST|REQUEST)\b|getParameter\s*\(/ nocase private
    condition:
        filesize < 4MB and $xp and $page and $req
}

// One-line ASP.NET uploaders: the first posted file saved under its own name in the site.
rule ASPX_Tiny_Uploader
{
    meta:
        description = "Tiny ASP.NET page that saves an uploaded file under the client's file name"
        threat_type = "WebShell"
        score = 75
    strings:
        $save = /\.\s*SaveAs\s*\([^;]{0,120}(\.\s*FileName\b|Request\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[\(])/ nocase
        $files = /Request\s*\.\s*Files|\.\s*PostedFile\b|\bHasFile\b/ nocase private
    condition:
        filesize < 3KB and ASP_Page and $save and $files
}
