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
        filesize < 16MB and (
            $direct
            or (filesize < 500KB and
                for any i in (1..math.min(#exec, 50)) : (
                    $req in (@exec[i] - 1024 .. @exec[i])
                ))
            or (filesize < 500KB and $runtime and
                for any i in (1..math.min(#reflect, 50)) : (
                    $req in (@reflect[i] - 1024 .. @reflect[i] + 1024)
                ))
        )
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
        filesize < 16MB and (
            $direct
            or (filesize < 500KB and $start and
                for any i in (1..math.min(#pb, 50)) : (
                    $req in (@pb[i] - 1024 .. @pb[i])
                ))
        )
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
        filesize < 500KB and $define and (
            (($cipher or $decode) and $input and ($jsp or $loader))
            or ($jsp and $loader)
        )
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
        $engine = /getEngineBy(Name|Extension|MimeType)\s*\(\s*"(js|javascript|JavaScript|nashorn|Nashorn|ecmascript|ECMAScript|rhino|graal\.js|text\/javascript|application\/javascript)"|\bELProcessor\b|createValueExpression\s*\(/ private
        $req = /request\s*\.\s*(getParameter|getHeader|getQueryString)\s*\(/ private
    condition:
        filesize < 500KB and $engine and (
            $eval or
            for any i in (1..math.min(#evalvar, 50)) : (
                $req in (@evalvar[i] - 1024 .. @evalvar[i])
            )
        )
}

// ---------------------------------------------------------------------------------------
// Whole pages. A JSP (or JSPX) page that starts processes, defines classes or injects
// filters is a webshell in all but name: ordinary JSP applications keep such code in
// compiled classes, not in pages.
// ---------------------------------------------------------------------------------------

// Markers of a JSP or JSPX page (not of plain Java source).
private rule JSP_Page
{
    strings:
        $scriptlet = /<%[!@=\s]/
        $jspx = /<jsp:(scriptlet|declaration|expression|directive)/
    condition:
        filesize < 16MB and ($scriptlet or $jspx)
}

// A JSP page that runs a process and prints what it says: with request input anywhere in
// the page, or with a shell (cmd.exe, /bin/sh) named in it.
rule JSP_Page_Runs_Commands
{
    meta:
        description = "JSP page that starts operating-system commands (Runtime.exec / ProcessBuilder) and returns their output"
        threat_type = "WebShell"
        score = 90
    strings:
        $exec = /\.\s*exec\s*\(|new\s+(java\.lang\.)?ProcessBuilder\b|\bProcessImpl\b|\bUNIXProcess\b/
        $runtime = /\bRuntime\b|\bProcessBuilder\b|\bProcessImpl\b|\bUNIXProcess\b/ private
        $out = /getInputStream\s*\(\s*\)|getErrorStream\s*\(\s*\)|\.\s*waitFor\s*\(/ private
        $req = /request\s*\.\s*(getParameter|getHeader|getQueryString|getInputStream|getReader|getParameterValues)\s*\(|\$\{\s*param\s*[.\[]/ private
        $sh = /"(cmd|cmd\.exe|\/bin\/(ba)?sh|sh|bash|\/c|-c)"/ nocase private
    condition:
        filesize < 4MB and JSP_Page and $exec and $runtime and $out and ($req or $sh)
}

// Runtime or ProcessBuilder reached by reflection or hidden names, from a page:
// Class.forName("java.lang.Runtime"), getMethod("exec"), "ex"+"ec", \u escapes.
rule JSP_Reflective_Exec
{
    meta:
        description = "JSP page that reaches Runtime/ProcessBuilder through reflection or hidden names"
        threat_type = "WebShell"
        score = 90
    strings:
        $forname = /Class\s*\.\s*forName\s*\(\s*"java\.lang\.(Runtime|ProcessBuilder|ProcessImpl|UNIXProcess)"/
        $method = /get(Declared)?Method\s*\(\s*"(exec|start|getRuntime|start0|forkAndExec|defineClass)"/
        $split = /"(R"\s*\+\s*"untime|Run"\s*\+\s*"time|Runt"\s*\+\s*"ime|ex"\s*\+\s*"ec|e"\s*\+\s*"xec|exe"\s*\+\s*"c|java\.lang\.R"\s*\+)/
        $uesc = /\\u0052\\u0075\\u006e|\\u0065\\u0078\\u0065\\u0063|\\u0067\\u0065\\u0074\\u0052/ nocase
        $invoke = /\.\s*invoke\s*\(/ private
    condition:
        filesize < 4MB and JSP_Page and (
            (($forname or $method) and $invoke) or $split or $uesc
        )
}

// Memory-shell installers: a page that registers a new filter, servlet, listener or valve
// in the running container (Tomcat's StandardContext, FilterDef/FilterMap, the pipeline).
rule JSP_Memory_Shell_Injector
{
    meta:
        description = "JSP page that injects a filter, servlet, listener or valve into the running container (memory webshell)"
        threat_type = "WebShell"
        score = 90
    strings:
        $ctx = /StandardContext|ApplicationContext|ApplicationFilterConfig/
        $add = /\b(addFilterDef|addFilterMap|addFilterMapBefore|addServletMapping|addServletMappingDecoded|addApplicationEventListener|addValve|createWrapper|addChild)\s*\(/
        $reflect = /getDeclaredField\s*\(\s*"(context|filterConfigs|standardContext)"/ private
    condition:
        filesize < 4MB and JSP_Page and $add and ($ctx or $reflect)
}

// Unicode-escaped Java in a page: \u0072\u0065… for whole statements hides the code
// from a reader, and ordinary pages do not do it.
rule JSP_Unicode_Escaped_Code
{
    meta:
        description = "JSP page whose code is written as Unicode escape sequences (hidden from a reader)"
        threat_type = "WebShell"
        score = 80
    strings:
        $esc = /(\\u00[2-7][0-9a-fA-F]){16}/
    condition:
        filesize < 4MB and JSP_Page and #esc > 3
}

// File managers and uploaders in a page: files listed, written and deleted at paths from
// the request, or the request body saved to a request-named file.
rule JSP_Page_File_Manager
{
    meta:
        description = "JSP page that lists, writes and deletes files at paths taken from the HTTP request"
        threat_type = "WebShell"
        score = 80
    strings:
        $file = /new\s+(java\.io\.)?File\s*\(\s*([^;()]{0,80}\(\s*)?[^;()]{0,80}(request\s*\.\s*getParameter|getParameter)\s*\(/
        $list = /\.\s*(listFiles|list)\s*\(\s*\)/ private
        $delete = /\.\s*(delete|renameTo)\s*\(/ private
        $out = /new\s+(java\.io\.)?(FileOutputStream|FileWriter|PrintWriter|RandomAccessFile)\s*\(/ private
        $req = /request\s*\.\s*getParameter\s*\(/ private
    condition:
        filesize < 4MB and JSP_Page and $file and #req >= 3 and 2 of ($list, $delete, $out)
}

// SQL consoles in a page: a JDBC connection opened to a request-supplied URL or user.
rule JSP_Sql_Console
{
    meta:
        description = "JSP database console: JDBC connection and statements from HTTP request parameters"
        threat_type = "WebShell"
        score = 75
    strings:
        $conn = /DriverManager\s*\.\s*getConnection\s*\(\s*[^;)]{0,80}request\s*\.\s*getParameter/
        $exec = /\.\s*(executeQuery|execute|executeUpdate)\s*\(\s*[^;)]{0,40}request\s*\.\s*getParameter/
    condition:
        filesize < 4MB and JSP_Page and ($conn or $exec)
}

// A page that writes request content to a file whose path it took from the request a few
// lines earlier: String p = request.getParameter("p"); … new FileOutputStream(p).
rule JSP_File_Write_Request_Var
{
    meta:
        description = "JSP page writing request content to a file whose path is a request parameter read just before"
        threat_type = "WebShell"
        score = 80
    strings:
        $writer = /new\s+(java\.io\.)?(FileOutputStream|FileWriter|RandomAccessFile|PrintWriter|PrintStream)\s*\(\s*(new\s+(java\.io\.)?File\s*\(\s*)?[a-zA-Z_]\w{0,30}\s*[,)]/
        $assign = /\b[a-zA-Z_]\w{0,30}\s*=\s*request\s*\.\s*getParameter\s*\(/ private
        $req = /request\s*\.\s*getParameter\s*\(/ private
        $write = /\.\s*(write|print|println)\s*\(/ private
    condition:
        filesize < 100KB and JSP_Page and $write and #req >= 2 and
        for any i in (1..math.min(#writer, 50)) : (
            $assign in (@writer[i] - 1024 .. @writer[i])
        )
}
