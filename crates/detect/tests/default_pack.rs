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

/// Sample (relative to tests/samples/webshell) → the rule expected to find it, and a word
/// that a match of that rule must contain (the malicious code, not incidental bytes).
#[rustfmt::skip]
const EXPECTED: &[(&str, &str, &str)] = &[
    ("php/chopper_oneliner.php", "PHP_China_Chopper_OneLiner", "eval"),
    ("php/eval_php_input.php", "PHP_Eval_Request_Input", "php://input"),
    ("php/include_php_input.php", "PHP_Eval_Request_Input", "include('php://input"),
    ("php/eval_request_var.php", "PHP_Eval_Request_Var", "eval($a)"),
    ("php/assert_concat.php", "PHP_Obfuscated_Function_Name", "sert"),
    ("php/hex_function_name.php", "PHP_Obfuscated_Function_Name", "\\x73"),
    ("php/chr_chain.php", "PHP_Obfuscated_Function_Name", "chr(97)"),
    ("php/variable_function.php", "PHP_Variable_Function_Request", "$f($_POST"),
    ("php/callback_array_map.php", "PHP_Callback_Request_Function", "array_map($_REQUEST"),
    ("php/preg_replace_e.php", "PHP_Preg_Replace_Eval", "/e'"),
    ("php/cmd_request_var.php", "PHP_Command_Exec_Request_Var", "system($cmd"),
    ("php/cmd_direct.php", "PHP_Command_Exec_Request", "passthru("),
    ("php/cmd_direct.php", "PHP_Command_Exec_Request", "`{$_GET['c']}`"),
    ("php/file_dropper.php", "PHP_File_Write_Request", "file_put_contents($_POST"),
    ("php/file_manager.php", "PHP_Webshell_File_Manager", "unlink($_GET"),
    ("php/gzinflate_chain.php", "PHP_Obfuscated_Eval_Chain", "eval(gzinflate(base64_decode("),
    ("php/long_base64_eval.php", "PHP_Encoded_Payload_Eval", "eval("),
    ("php/aes_request_eval.php", "PHP_Encrypted_Request_Eval", "eval($p"),
    ("php/xor_session_eval.php", "PHP_Encrypted_Request_Eval", "eval($payload)"),
    ("php/reverse_shell.php", "PHP_Reverse_Shell", "fsockopen("),
    ("php/tiny_uploader.php", "PHP_Tiny_Uploader", "move_uploaded_file($_FILES"),
    ("jsp/oneliner_exec.jsp", "JSP_Runtime_Exec_Request", "exec(request.getParameter"),
    ("jsp/cmd_runtime_exec.jsp", "JSP_Runtime_Exec_Request", "Runtime.getRuntime().exec("),
    ("jsp/processbuilder.jsp", "JSP_ProcessBuilder_Request", "new ProcessBuilder("),
    ("jsp/aes_classloader.jsp", "JSP_ClassLoader_Behinder_Godzilla", "defineClass("),
    ("jsp/godzilla_style.jsp", "JSP_ClassLoader_Behinder_Godzilla", "extends ClassLoader"),
    ("jsp/file_writer.jsp", "JSP_File_Write_Request", "new FileOutputStream("),
    ("jsp/script_engine.jsp", "JSP_ScriptEngine_Eval_Request", "eval(request.getParameter"),
    ("jsp/file_browser.jsp", "JSP_File_Manager", "new File(request.getParameter("),
    ("jsp/reflect_exec.jsp", "JSP_Runtime_Exec_Request", "getMethod(\"exec\""),
    ("asp/chopper_oneliner.asp", "ASP_Eval_Request_OneLiner", "eval request("),
    ("asp/execute_form.asp", "ASP_Eval_Request_OneLiner", "Execute(Request.Form("),
    ("asp/wscript_shell.asp", "ASP_WScript_Shell_Exec_Request", ".Exec("),
    ("asp/fso_writer.asp", "ASP_FSO_File_Write_Request", "CreateTextFile("),
    ("aspx/chopper_jscript.aspx", "ASPX_Jscript_Unsafe_Eval", "\"unsafe\")"),
    ("aspx/chopper_jscript.aspx", "ASP_Eval_Request_OneLiner", "eval(Request.Item["),
    ("aspx/process_start.aspx", "ASPX_Process_Start_Request", "Arguments = \"/c \" + Request.Form["),
    ("aspx/cmd_textbox.aspx", "ASPX_Cmd_Shell", "ProcessStartInfo("),
    ("aspx/upload_manager.aspx", "ASPX_Upload_SaveAs", ".SaveAs("),
    ("aspx/file_write.aspx", "ASPX_File_Write_Request", "File.WriteAllText(Server.MapPath(Request["),
    ("aspx/assembly_loader.aspx", "ASPX_Assembly_Load_Request", "Assembly.Load("),
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
            assert_eq!(tt, "WebShell", "{id}");
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
    assert!(files.len() >= 16, "{} samples", files.len());

    let mut expected: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
    for (file, rule, needle) in EXPECTED {
        expected
            .entry((*file).to_string())
            .or_default()
            .push((rule, needle));
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
        if !hits
            .iter()
            .any(|h| h.threat_type == "WebShell" && h.score >= 71)
        {
            failures.push(format!(
                "{rel}: no WebShell rule with score >= 71: {hits:?}"
            ));
        }
        for (rule, needle) in wanted {
            match hits.iter().find(|h| h.rule == rule) {
                None => failures.push(format!("{rel}: {rule} did not match: {hits:?}")),
                Some(h) => {
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
    assert!(files.len() >= 7, "{} benign samples", files.len());
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
