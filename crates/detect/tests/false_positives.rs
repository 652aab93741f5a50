#![allow(clippy::unwrap_used, clippy::expect_used)]
//! False positives of the default rule pack: no webshell rule may match any file of a
//! corpus of ordinary PHP, Java/JSP, ASP.NET and JavaScript source (WordPress, phpMyAdmin,
//! MediaWiki, Roundcube, Symfony, Laravel, Tomcat's JSP applications, the JDK's source,
//! Mono's ASP.NET examples, jQuery …), fetched from Debian packages by
//! `scripts/fetch-fp-corpus`:
//!
//! ```text
//! HASHSCAN_FP_CORPUS=$(scripts/fetch-fp-corpus) cargo test -p hashscan-detect --release --test false_positives
//! ```
//!
//! Without `HASHSCAN_FP_CORPUS` the test is skipped, loudly, except under CI (`CI` set),
//! where it fails.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hashscan_detect::{RuleConfig, Ruleset};
use yara_x::Scanner;

/// Files larger than this are not source code worth scanning here (and the engine caps what
/// it scans anyway).
const MAX_FILE: u64 = 32 << 20;

/// The default pack exactly as the engine loads it.
fn compile_pack() -> Ruleset {
    let set = RuleConfig::with_default(vec![]).load();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    assert_eq!(set.compiled().len(), 1, "the pack is one compiled set");
    set
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// A printable excerpt of a match, with a little context.
fn snippet(data: &[u8], range: std::ops::Range<usize>) -> String {
    let start = range.start.saturating_sub(40);
    let end = (range.end + 40).min(data.len());
    let mut s = String::from_utf8_lossy(&data[start..end]).into_owned();
    s = s.replace(['\n', '\r'], "⏎");
    if s.chars().count() > 300 {
        s = s.chars().take(300).collect::<String>() + "…";
    }
    s
}

#[test]
fn no_webshell_rule_matches_ordinary_source_code() {
    let Some(dir) = std::env::var_os("HASHSCAN_FP_CORPUS").filter(|d| !d.is_empty()) else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "HASHSCAN_FP_CORPUS is not set: run scripts/fetch-fp-corpus and set \
                 HASHSCAN_FP_CORPUS to the directory it prints"
            );
        }
        eprintln!();
        eprintln!("############################################################################");
        eprintln!("## false_positives skipped: set HASHSCAN_FP_CORPUS (scripts/fetch-fp-corpus)");
        eprintln!("############################################################################");
        eprintln!();
        return;
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "HASHSCAN_FP_CORPUS={}: not a directory",
        dir.display()
    );

    let set = compile_pack();
    let rules = &set.compiled()[0];
    let webshell_rule = |namespace: &str| namespace != "builtin/eicar.yar";

    let files = corpus_files(&dir);
    let php = files
        .iter()
        .filter(|f| has_extension(f, &["php", "inc", "phtml"]))
        .count();
    let jsp = files
        .iter()
        .filter(|f| has_extension(f, &["jsp", "jspx"]))
        .count();
    let java = files.iter().filter(|f| has_extension(f, &["java"])).count();
    let asp = files
        .iter()
        .filter(|f| has_extension(f, &["asp", "aspx", "ascx", "ashx", "asmx"]))
        .count();
    let js = files.iter().filter(|f| has_extension(f, &["js"])).count();
    assert!(
        files.len() >= 2_000 && php >= 1 && jsp >= 1,
        "the corpus at {} is too small to mean anything: {} files, {php} PHP, {jsp} JSP \
         (run scripts/fetch-fp-corpus)",
        dir.display(),
        files.len()
    );

    let mut scanner = Scanner::new(rules);
    scanner.set_timeout(std::time::Duration::from_secs(30));
    let started = Instant::now();
    let mut bytes = 0u64;
    let mut scanned = 0usize;
    let mut offences = Vec::new();
    let mut slowest: Option<(std::time::Duration, PathBuf)> = None;
    for path in &files {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if meta.len() > MAX_FILE {
            continue;
        }
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        bytes += data.len() as u64;
        scanned += 1;
        let one = Instant::now();
        let results = match scanner.scan(&data) {
            Ok(r) => r,
            Err(e) => panic!("{}: scan failed: {e}", path.display()),
        };
        let took = one.elapsed();
        if slowest.as_ref().is_none_or(|(t, _)| took > *t) {
            slowest = Some((took, path.clone()));
        }
        for rule in results.matching_rules() {
            if !webshell_rule(rule.namespace()) {
                continue;
            }
            let mut shown = Vec::new();
            for pattern in rule.patterns().include_private(true) {
                for m in pattern.matches().take(3) {
                    shown.push(format!(
                        "    {} @{}: {}",
                        pattern.identifier(),
                        m.range().start,
                        snippet(&data, m.range())
                    ));
                }
            }
            offences.push(format!(
                "{} — {}:{}\n{}",
                path.strip_prefix(&dir).unwrap_or(path).display(),
                rule.namespace(),
                rule.identifier(),
                shown.join("\n")
            ));
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "false_positives: scanned {scanned} files ({:.1} MB; {php} PHP, {jsp} JSP, {java} Java, \
         {asp} ASP/ASPX, {js} JS) in {:.1} s: {} webshell matches",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        offences.len()
    );
    if let Some((took, path)) = &slowest {
        eprintln!(
            "false_positives: slowest file: {} ({} ms)",
            path.strip_prefix(&dir).unwrap_or(path).display(),
            took.as_millis()
        );
    }
    assert!(
        offences.is_empty(),
        "{} false positives:\n{}",
        offences.len(),
        offences.join("\n")
    );
}
