#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The embedded default rule pack (`crates/detect/rules/*.yar`): it compiles, every rule has
//! the metadata the verdict needs, the project's webshell samples are detected by the
//! expected rule with highlights on the malicious code, the near-miss benign samples stay
//! clean, and EICAR is recognised (built at run time: the repository holds no EICAR file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hashscan_detect::ThreatType;
use hashscan_detect::rules::DEFAULT_PACK;
use yara_x::{Compiler, MetaValue, Rules, Scanner};

/// Compiles the pack as the library does: each file in its own namespace (its name).
fn compile_pack() -> Rules {
    let mut compiler = Compiler::new();
    for (name, source) in DEFAULT_PACK {
        compiler.new_namespace(name);
        if let Err(e) = compiler.add_source(*source) {
            panic!("{name} does not compile:\n{e}");
        }
    }
    let warnings: Vec<String> = compiler.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.is_empty(),
        "the pack compiles with warnings:\n{}",
        warnings.join("\n")
    );
    compiler.build()
}

fn samples_dir() -> PathBuf {
    // The directory cargo runs the test for, not the one it was compiled in: checkouts at
    // other paths that share a target directory reuse an unchanged test binary.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("tests/samples")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn meta_i64(rule: &yara_x::Rule<'_, '_>, key: &str) -> Option<i64> {
    rule.metadata().find_map(|(k, v)| match (k, v) {
        (k, MetaValue::Integer(n)) if k == key => Some(n),
        _ => None,
    })
}

fn meta_str<'r>(rule: &yara_x::Rule<'_, 'r>, key: &str) -> Option<&'r str> {
    rule.metadata().find_map(|(k, v)| match (k, v) {
        (k, MetaValue::String(s)) if k == key => Some(s),
        _ => None,
    })
}

/// One matching rule: its identifier, metadata and the bytes of every (public) match.
#[derive(Debug)]
struct Hit {
    rule: String,
    threat_type: String,
    score: i64,
    matched: Vec<String>,
}

fn scan(rules: &Rules, data: &[u8]) -> Vec<Hit> {
    let mut scanner = Scanner::new(rules);
    let results = scanner.scan(data).unwrap();
    results
        .matching_rules()
        .map(|rule| Hit {
            rule: rule.identifier().to_string(),
            threat_type: meta_str(&rule, "threat_type").unwrap_or("").to_string(),
            score: meta_i64(&rule, "score").unwrap_or(-1),
            matched: rule
                .patterns()
                .flat_map(|p| p.matches().collect::<Vec<_>>())
                .map(|m| String::from_utf8_lossy(&data[m.range()]).into_owned())
                .collect(),
        })
        .collect()
}

/// Sample (relative to tests/samples/webshell) → the rule expected to find it, a word that a
/// match of that rule must contain (the malicious code, not incidental bytes), and the
/// threat type that rule reports. Every sample is written for this project: small,
/// representative of its family's behaviour, copied from no collection.
#[rustfmt::skip]
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    // PHP: one call fed by the request.
    ("php/chopper_oneliner.php", "PHP_China_Chopper_OneLiner", "eval", "WebShell"),
    ("php/eval_php_input.php", "PHP_Eval_Request_Input", "php://input", "WebShell"),
    ("php/include_php_input.php", "PHP_Eval_Request_Input", "include('php://input", "WebShell"),
    ("php/eval_request_var.php", "PHP_Eval_Request_Var", "eval($a)", "WebShell"),
    ("php/assert_concat.php", "PHP_Obfuscated_Function_Name", "sert", "WebShell"),
    ("php/hex_function_name.php", "PHP_Obfuscated_Function_Name", "\\x73", "WebShell"),
    ("php/chr_chain.php", "PHP_Obfuscated_Function_Name", "chr(97)", "WebShell"),
    ("php/variable_function.php", "PHP_Variable_Function_Request", "$f($_POST", "WebShell"),
    ("php/callback_array_map.php", "PHP_Callback_Request_Function", "array_map($_REQUEST", "WebShell"),
    ("php/preg_replace_e.php", "PHP_Preg_Replace_Eval", "/e'", "WebShell"),
    ("php/mb_ereg_e.php", "PHP_Preg_Replace_Eval", "mb_ereg_replace(", "WebShell"),
    ("php/cmd_request_var.php", "PHP_Command_Exec_Request_Var", "system($cmd", "WebShell"),
    ("php/cmd_direct.php", "PHP_Command_Exec_Request", "passthru(", "WebShell"),
    ("php/cmd_direct.php", "PHP_Command_Exec_Request", "`{$_GET['c']}`", "WebShell"),
    ("php/header_exec.php", "PHP_Command_Exec_Request", "passthru(getenv(\"HTTP_", "WebShell"),
    ("php/file_dropper.php", "PHP_File_Write_Request", "file_put_contents($_POST", "WebShell"),
    ("php/file_manager.php", "PHP_Webshell_File_Manager", "unlink($_GET", "WebShell"),
    ("php/gzinflate_chain.php", "PHP_Obfuscated_Eval_Chain", "eval(gzinflate(base64_decode(", "WebShell"),
    ("php/long_base64_eval.php", "PHP_Encoded_Payload_Eval", "eval(", "WebShell"),
    ("php/aes_request_eval.php", "PHP_Encrypted_Request_Eval", "eval($p", "WebShell"),
    ("php/xor_session_eval.php", "PHP_Encrypted_Request_Eval", "eval($payload)", "WebShell"),
    ("php/reverse_shell.php", "PHP_Reverse_Shell", "fsockopen", "WebShell"),
    ("php/bind_shell.php", "PHP_Reverse_Shell", "socket_bind", "WebShell"),
    ("php/tiny_uploader.php", "PHP_Tiny_Uploader", "move_uploaded_file($_FILES", "WebShell"),
    ("php/named_function_var.php", "PHP_Named_Function_Variable_Request", "'assert'", "WebShell"),
    ("php/writes_php_payload.php", "PHP_Writes_Php_Payload", "file_put_contents('cache-x.php'", "WebShell"),
    // PHP: what a page offers its user.
    ("php/command_console.php", "PHP_Command_Console", "passthru($cmd", "WebShell"),
    ("php/toolkit.php", "PHP_Webshell_Toolkit", "shell_exec($_POST['c'])", "WebShell"),
    ("php/dropped_tool.php", "PHP_Exec_Dropped_Tool", "system(\"perl /tmp/", "WebShell"),
    ("php/o0_loader.php", "PHP_Obfuscated_Loader", "eval($OO0O00O00(", "WebShell"),
    ("php/escaped_loader.php", "PHP_Obfuscated_Loader", "eval($k91a(", "WebShell"),
    ("php/chr_eval.php", "PHP_Obfuscated_Strings_Eval", "chr(101).chr(99)", "WebShell"),
    ("php/chr_alias_probe.php", "PHP_Aliased_Chr_Strings", "$c(115)", "WebShell"),
    ("php/junk_stripped.php", "PHP_Junk_Stripped_Function_Name", "str_replace('u'", "WebShell"),
    ("php/restriction_bypass.php", "PHP_Restriction_Bypass", "CURLOPT_URL, \"file:", "WebShell"),
    ("php/upload_page.php", "PHP_Small_Uploader_Page", "move_uploaded_file(", "WebShell"),
    ("php/mass_mailer.php", "PHP_Mass_Mailer", "explode(\"\\n\", $_POST[", "WebShell"),
    ("php/config_grabber.php", "PHP_Config_Grabber", "/etc/passwd", "WebShell"),
    ("php/sql_console.php", "PHP_Sql_Console", "mysqli_connect($_POST", "WebShell"),
    ("php/exec_fallback.php", "PHP_Exec_Fallback_Chain", "function_exists('proc_open'", "WebShell"),
    ("php/callback_name.php", "PHP_Callback_Dangerous_Name", "ob_start('assert')", "WebShell"),
    ("php/decoded_var_eval.php", "PHP_Decoded_Variable_Eval", "eval($code)", "WebShell"),
    ("php/socket_stager.php", "PHP_Socket_Stager", "eval($payload)", "WebShell"),
    // JSP and JSPX.
    ("jsp/oneliner_exec.jsp", "JSP_Runtime_Exec_Request", "exec(request.getParameter", "WebShell"),
    ("jsp/cmd_runtime_exec.jsp", "JSP_Runtime_Exec_Request", "Runtime.getRuntime().exec(", "WebShell"),
    ("jsp/processbuilder.jsp", "JSP_ProcessBuilder_Request", "new ProcessBuilder(", "WebShell"),
    ("jsp/aes_classloader.jsp", "JSP_ClassLoader_Behinder_Godzilla", "defineClass(", "WebShell"),
    ("jsp/godzilla_style.jsp", "JSP_ClassLoader_Behinder_Godzilla", "extends ClassLoader", "WebShell"),
    ("jsp/file_writer.jsp", "JSP_File_Write_Request", "new FileOutputStream(", "WebShell"),
    ("jsp/script_engine.jsp", "JSP_ScriptEngine_Eval_Request", "eval(request.getParameter", "WebShell"),
    ("jsp/file_browser.jsp", "JSP_File_Manager", "new File(request.getParameter(", "WebShell"),
    ("jsp/reflect_exec.jsp", "JSP_Runtime_Exec_Request", "getMethod(\"exec\"", "WebShell"),
    ("jsp/page_exec_shell.jsp", "JSP_Page_Runs_Commands", ".exec(", "WebShell"),
    ("jsp/reflective_forname.jsp", "JSP_Reflective_Exec", "Class.forName(\"java.lang.Runtime\"", "WebShell"),
    ("jsp/filter_injector.jsp", "JSP_Memory_Shell_Injector", "addFilterDef(", "WebShell"),
    ("jsp/unicode_escaped.jsp", "JSP_Unicode_Escaped_Code", "\\u0053", "WebShell"),
    ("jsp/file_manager_page.jspx", "JSP_Page_File_Manager", "new java.io.File(request.getParameter(", "WebShell"),
    ("jsp/sql_console.jsp", "JSP_Sql_Console", "DriverManager.getConnection(request", "WebShell"),
    // Classic ASP.
    ("asp/chopper_oneliner.asp", "ASP_Eval_Request_OneLiner", "eval request(", "WebShell"),
    ("asp/execute_form.asp", "ASP_Eval_Request_OneLiner", "Execute(Request.Form(", "WebShell"),
    ("asp/wscript_shell.asp", "ASP_WScript_Shell_Exec_Request", ".Exec(", "WebShell"),
    ("asp/fso_writer.asp", "ASP_FSO_File_Write_Request", "CreateTextFile(", "WebShell"),
    ("asp/execute_var.asp", "ASP_Execute_Dynamic_Code", "ExecuteGlobal code", "WebShell"),
    ("asp/encoded_page.asp", "ASP_Encoded_Script", "#@~^", "WebShell"),
    ("asp/toolkit.asp", "ASP_Webshell_Toolkit", "WScript.Shell", "WebShell"),
    // ASP.NET.
    ("aspx/chopper_jscript.aspx", "ASPX_Jscript_Unsafe_Eval", "\"unsafe\")", "WebShell"),
    ("aspx/chopper_jscript.aspx", "ASP_Eval_Request_OneLiner", "eval(Request.Item[", "WebShell"),
    ("aspx/process_start.aspx", "ASPX_Process_Start_Request", "Arguments = \"/c \" + Request.Form[", "WebShell"),
    ("aspx/cmd_textbox.aspx", "ASPX_Cmd_Shell", "ProcessStartInfo(", "WebShell"),
    ("aspx/upload_manager.aspx", "ASPX_Upload_SaveAs", ".SaveAs(", "WebShell"),
    ("aspx/file_write.aspx", "ASPX_File_Write_Request", "File.WriteAllText(Server.MapPath(Request[", "WebShell"),
    ("aspx/assembly_loader.aspx", "ASPX_Assembly_Load_Request", "Assembly.Load(", "WebShell"),
    ("aspx/cmd_webservice.asmx", "ASPX_Page_Runs_Commands", "ProcessStartInfo(", "WebShell"),
    ("aspx/session_loader.aspx", "ASPX_Loads_Request_Assembly", "Assembly.Load(", "WebShell"),
    ("aspx/file_manager.aspx", "ASPX_File_Manager", "Directory.GetFiles", "WebShell"),
    ("aspx/xp_cmdshell.aspx", "Web_Page_Xp_Cmdshell", "xp_cmdshell", "WebShell"),
    // ColdFusion.
    ("cfm/cfexecute_form.cfm", "CFM_Cfexecute_Request", "<cfexecute name=\"#form.cmd#", "WebShell"),
    ("cfm/java_runtime.cfm", "CFM_Java_Runtime", "java.lang.Runtime", "WebShell"),
    ("cfm/file_manager.cfm", "CFM_File_Manager", "<cffile action=\"write\"", "WebShell"),
    ("cfm/evaluate_form.cfm", "CFM_Evaluate_Request", "evaluate(form.", "WebShell"),
    // CGI scripts and reverse shells.
    ("perl/cmd_cgi.pl", "Perl_CGI_Command_Shell", "open(my $fh, \"$cmd 2>&1 |\"", "WebShell"),
    ("python/cmd_cgi.py", "Python_CGI_Command_Shell", "subprocess.getoutput(", "WebShell"),
    ("ruby/cmd_cgi.rb", "Ruby_CGI_Command_Shell", "`#{", "WebShell"),
    ("perl/reverse.pl", "Reverse_Shell_Script", "open(STDIN, \">&", "Backdoor"),
    ("python/reverse.py", "Reverse_Shell_Script", "os.dup2(", "Backdoor"),
    ("c/bind.c", "Reverse_Shell_Script", "dup2(", "Backdoor"),
    ("php/devtcp_exec.php", "Reverse_Shell_Command", "bash -i >& /dev/tcp/", "Backdoor"),
    ("cfm/com_shell.cfm", "CFM_Java_Runtime", "createObject(\"com\", \"WScript.Shell\"", "WebShell"),
    // HTTP tunnels.
    ("tunnel/socks_tunnel.php", "Web_Socket_Tunnel", "fsockopen(", "WebShell"),
];

/// Threat types a rule of this pack may declare.
const ALLOWED_TYPES: &[&str] = &[
    "Trojan",
    "WebShell",
    "Backdoor",
    "RansomWare",
    "Miner",
    "Hacktool",
    "Engtest",
    "Exploit",
    "MalScript",
    "Suspicious",
];

#[test]
fn the_pack_compiles_without_errors_or_warnings() {
    let rules = compile_pack();
    let namespaces: Vec<&str> = DEFAULT_PACK.iter().map(|(n, _)| *n).collect();
    for ns in &namespaces {
        assert!(
            rules.iter().any(|r| r.namespace() == *ns),
            "{ns} has no rule"
        );
    }
    assert!(rules.iter().count() >= 20, "{}", rules.iter().count());
}

#[test]
fn every_rule_has_score_threat_type_and_description() {
    let rules = compile_pack();
    for rule in rules.iter() {
        let id = rule.identifier();
        if rule.is_private() {
            // Building blocks of other rules (PHP_Cap_* …): never reported by themselves.
            assert!(
                id.contains("_Cap_") || id.ends_with("_Page") || id.ends_with("_Request"),
                "{id}: a private rule of the pack is a capability or a context marker"
            );
            continue;
        }
        let score = meta_i64(&rule, "score").unwrap_or_else(|| panic!("{id}: no integer score"));
        assert!((0..=100).contains(&score), "{id}: score {score}");
        let tt = meta_str(&rule, "threat_type").unwrap_or_else(|| panic!("{id}: no threat_type"));
        assert!(ALLOWED_TYPES.contains(&tt), "{id}: threat_type {tt}");
        assert_eq!(
            ThreatType::parse(tt).map(ThreatType::as_str),
            Some(tt),
            "{id}: the engine does not know threat_type {tt}"
        );
        let description =
            meta_str(&rule, "description").unwrap_or_else(|| panic!("{id}: no description"));
        assert!(!description.trim().is_empty(), "{id}: empty description");
        if rule.namespace() != "builtin/eicar.yar" {
            assert!(tt == "WebShell" || tt == "Backdoor", "{id}: {tt}");
            assert!(
                score >= 71,
                "{id}: a webshell rule scoring {score} would call it safe"
            );
        }
    }
}

#[test]
fn every_webshell_sample_is_detected_by_its_rule_with_highlights_on_the_code() {
    let rules = compile_pack();
    let dir = samples_dir().join("webshell");
    let files = files_under(&dir);
    assert!(files.len() >= 80, "{} samples", files.len());

    let mut expected: BTreeMap<String, Vec<(&str, &str, &str)>> = BTreeMap::new();
    for (file, rule, needle, threat_type) in EXPECTED {
        expected
            .entry((*file).to_string())
            .or_default()
            .push((rule, needle, threat_type));
    }
    let mut failures = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let data = std::fs::read(path).unwrap();
        let hits = scan(&rules, &data);
        let Some(wanted) = expected.remove(&rel) else {
            failures.push(format!("{rel}: no entry in EXPECTED"));
            continue;
        };
        if !hits.iter().any(|h| h.score >= 71) {
            failures.push(format!("{rel}: no rule with score >= 71: {hits:?}"));
        }
        for (rule, needle, threat_type) in wanted {
            match hits.iter().find(|h| h.rule == rule) {
                None => failures.push(format!("{rel}: {rule} did not match: {hits:?}")),
                Some(h) => {
                    if h.threat_type != threat_type {
                        failures.push(format!(
                            "{rel}: {rule} reports {} instead of {threat_type}",
                            h.threat_type
                        ));
                    }
                    if !h.matched.iter().any(|m| m.contains(needle)) {
                        failures.push(format!(
                            "{rel}: no match of {rule} contains {needle:?}: {:?}",
                            h.matched
                        ));
                    }
                    if h.matched.is_empty() {
                        failures.push(format!("{rel}: {rule} matched with no range"));
                    }
                }
            }
        }
    }
    for rel in expected.keys() {
        failures.push(format!("{rel}: listed in EXPECTED but missing"));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn benign_near_misses_match_nothing() {
    let rules = compile_pack();
    let files = files_under(&samples_dir().join("benign"));
    assert!(files.len() >= 15, "{} benign samples", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let hits = scan(&rules, &data);
        if !hits.is_empty() {
            failures.push(format!("{}: {hits:?}", path.display()));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The EICAR test string, from two halves so that no file of the repository is EICAR.
fn eicar() -> Vec<u8> {
    let first = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR";
    let second = "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let s = format!("{first}{second}");
    assert_eq!(s.len(), 68);
    s.into_bytes()
}

#[test]
fn eicar_is_an_engine_test_and_only_at_the_start_of_a_small_file() {
    let rules = compile_pack();
    let hits = scan(&rules, &eicar());
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].rule, "EICAR_Test_File");
    assert_eq!(hits[0].threat_type, "Engtest");
    assert_eq!(hits[0].score, 100);
    assert_eq!(hits[0].matched, [String::from_utf8(eicar()).unwrap()]);

    let mut with_newline = eicar();
    with_newline.extend_from_slice(b"\r\n");
    assert_eq!(scan(&rules, &with_newline).len(), 1);

    // Followed by 60 random bytes it is no longer the test file (128 bytes in all).
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut padded = eicar();
    for _ in 0..60 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        padded.push((seed >> 32) as u8);
    }
    assert_eq!(padded.len(), 128);
    let hits = scan(&rules, &padded);
    assert!(hits.is_empty(), "{hits:?}");

    // Not at the start: not the test file.
    let mut prefixed = b"x".to_vec();
    prefixed.extend_from_slice(&eicar());
    assert!(scan(&rules, &prefixed).is_empty());
}
