// hashscan default pack: JSP (and Java servlet) webshells.
//
// Every rule needs a dangerous sink (Runtime.exec, ProcessBuilder, a file writer, a class
// loader, a script engine) together with request input close by. Checked against Tomcat's
// JSP applications and the JDK's own source (scripts/fetch-fp-corpus). Patterns marked
// `private` are context that must be present but is not reported as a match.
//
// Metadata: score (0-100: 81+ malicious, 71-80 suspicious), threat_type, description.

import "math"

// Runtime.getRuntime().exec(request.getParameter("cmd")), directly or through a variable
// assigned shortly before (the classic cmd.jsp, and the JSP one-liner
// <%Runtime.getRuntime().exec(request.getParameter("i"));%>).
rule JSP_Runtime_Exec_Request
{
    meta:
        description = "JSP/servlet running a shell command taken from the HTTP request with Runtime.exec"
        threat_type = "WebShell"
        score = 95
    strings:
        $direct = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(\s*(new\s+String\s*\[\s*\]\s*\{[^}]{0,120})?("[^"\r\n]{0,60}"\s*\+\s*)?request\s*\.\s*(getParameter|getHeader|getQueryString)\s*\(/
        $exec = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(/
        $reflect = /(getMethod|getDeclaredMethod)\s*\(\s*"exec"/
        $req = /request\s*\.\s*(getParameter|getHeader|getQueryString)\s*\(/ private
        $runtime = "java.lang.Runtime" private
    condition:
        $direct
        or (filesize < 500KB and
            for any i in (1..math.min(#exec, 50)) : (
                $req in (@exec[i] - 1024 .. @exec[i])
            ))
        or (filesize < 500KB and $runtime and
            for any i in (1..math.min(#reflect, 50)) : (
                $req in (@reflect[i] - 1024 .. @reflect[i] + 1024)
            ))
}

// new ProcessBuilder(…) started with a command from the request.
rule JSP_ProcessBuilder_Request
{
    meta:
        description = "JSP/servlet starting a process with ProcessBuilder from HTTP request input"
        threat_type = "WebShell"
        score = 95
    strings:
        $direct = /new\s+(java\.lang\.)?ProcessBuilder\s*\([^;]{0,160}request\s*\.\s*(getParameter|getHeader|getQueryString)\s*\(/
        $pb = /new\s+(java\.lang\.)?ProcessBuilder\s*\(/
        $req = /request\s*\.\s*(getParameter|getHeader|getQueryString)\s*\(/ private
        $start = /\.\s*start\s*\(\s*\)/ private
    condition:
        $direct
        or (filesize < 500KB and $start and
            for any i in (1..math.min(#pb, 50)) : (
                $req in (@pb[i] - 1024 .. @pb[i])
            ))
}

// Request-supplied content written to a request-supplied path (the JSP "write any file"
// shell): new FileOutputStream(request.getParameter("path")) … request.getParameter("data").
rule JSP_File_Write_Request
{
    meta:
        description = "JSP writing HTTP request content to a file whose path also comes from the request"
        threat_type = "WebShell"
        score = 85
    strings:
        $writer = /new\s+(java\.io\.)?(FileOutputStream|FileWriter|PrintWriter|RandomAccessFile|BufferedWriter\s*\(\s*new\s+(java\.io\.)?FileWriter)\s*\(\s*(new\s+(java\.io\.)?File\s*\(\s*)?([^;(]{0,80}\(\s*)?[^;(]{0,80}request\s*\.\s*getParameter\s*\(/
        $req = /request\s*\.\s*getParameter\s*\(/ private
        $write = /\.\s*(write|print|println)\s*\(/ private
    condition:
        filesize < 500KB and $writer and $write and #req >= 2
}

// JSP file managers: browsing, deleting and uploading on request-supplied paths.
rule JSP_File_Manager
{
    meta:
        description = "JSP webshell file manager: lists, deletes and writes files on request-supplied paths"
        threat_type = "WebShell"
        score = 80
    strings:
        $file = /new\s+(java\.io\.)?File\s*\(\s*([^;(]{0,80}\(\s*)?[^;(]{0,80}request\s*\.\s*getParameter\s*\(/
        $list = /\.\s*listFiles\s*\(\s*\)/ private
        $delete = /\.\s*(delete|renameTo)\s*\(/ private
        $out = /new\s+(java\.io\.)?(FileOutputStream|FileWriter)\s*\(/ private
        $jsp = "<%" private
    condition:
        filesize < 500KB and $jsp and #file >= 2 and $list and $delete and $out
}

// Behinder / Godzilla style memory loaders: an encrypted class sent in the request body or
// a parameter, decrypted with AES and loaded with defineClass by a ClassLoader subclass
// declared inside the JSP.
rule JSP_ClassLoader_Behinder_Godzilla
{
    meta:
        description = "JSP that decrypts a class from the HTTP request and loads it with defineClass (Behinder/Godzilla style)"
        threat_type = "WebShell"
        score = 95
    strings:
        $define = /\bdefineClass\s*\(/
        $loader = /\bclass\s+\w{1,40}\s+extends\s+ClassLoader\b/
        $cipher = /Cipher\s*\.\s*getInstance\s*\(|SecretKeySpec|"AES/ private
        $decode = /BASE64Decoder|Base64\s*\.\s*getDecoder|decodeBuffer|Base64\s*\.\s*decode|DatatypeConverter\s*\.\s*parseBase64Binary/ private
        $input = /request\s*\.\s*(getReader|getInputStream|getParameter|getHeader)\s*\(|session\s*\.\s*(getValue|putValue|getAttribute|setAttribute)\s*\(/ private
        $jsp = /<%[!@=\s]|<jsp:(scriptlet|declaration|directive)/ private
    condition:
        filesize < 500KB and $define and ($cipher or $decode) and $input and ($jsp or $loader)
}

// JavaScript/Nashorn eval of request input from a JSP.
rule JSP_ScriptEngine_Eval_Request
{
    meta:
        description = "JSP evaluating request input with a script engine (JavaScript/Nashorn eval)"
        threat_type = "WebShell"
        score = 90
    strings:
        $eval = /\.\s*eval\s*\(\s*([^;(]{0,80}\(\s*)?request\s*\.\s*(getParameter|getHeader|getQueryString)\s*\(/
        $evalvar = /\.\s*eval\s*\(/
        $engine = /getEngineByName\s*\(\s*"(js|javascript|JavaScript|nashorn|Nashorn|ecmascript|ECMAScript|rhino|graal\.js)"/ private
        $req = /request\s*\.\s*(getParameter|getHeader|getQueryString)\s*\(/ private
    condition:
        filesize < 500KB and $engine and (
            $eval or
            for any i in (1..math.min(#evalvar, 50)) : (
                $req in (@evalvar[i] - 1024 .. @evalvar[i])
            )
        )
}
