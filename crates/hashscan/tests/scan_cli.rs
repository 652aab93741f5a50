#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `hashscan scan` and `hashscan rules check` as a user runs them: output lines, JSON,
//! exit status, rule problems, hash lists and a real clamd.

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../clamd/tests/support/mod.rs"]
mod clamd_support;

fn hashscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hashscan"))
        // Compiled rules are cached under the build's temporary directory, not the home.
        .env("HASHSCAN_CACHE_DIR", env!("CARGO_TARGET_TMPDIR"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, data).unwrap();
    path.display().to_string()
}

#[test]
fn a_tree_with_eicar_and_a_webshell_exits_1_with_one_line_per_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/clean.txt", b"nothing to see here\n");
    write(dir.path(), "a/eicar.com", &clamd_support::eicar());
    write(
        dir.path(),
        "b/upload.php",
        b"<?php @eval($_POST['pass']); ?>\n",
    );
    let root = dir.path().display().to_string();
    let out = hashscan(&["scan", "-r", &root]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], format!("{root}/a/clean.txt: clean 0"));
    assert_eq!(
        lines[1],
        format!("{root}/a/eicar.com: malicious 100 Engtest EICAR_Test_File")
    );
    assert!(
        lines[2].starts_with(&format!("{root}/b/upload.php: ")) && lines[2].contains(" WebShell "),
        "{}",
        lines[2]
    );

    // -i prints only what is not clean.
    let out = hashscan(&["scan", "-r", "-i", &root]);
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

/// Files are scanned in parallel; their lines still come in path order, across more files
/// than are ever scanned ahead of the next line, with a slow file (an archive) early on.
#[test]
fn many_files_are_printed_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("m{i}.txt"),
                format!("member {i}\n").repeat(5_000).into_bytes(),
            )
        })
        .collect();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in &members {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, data).unwrap();
    }
    write(dir.path(), "f0000.zip", &zip.finish().unwrap().into_inner());
    let shells = [3usize, 300, 599];
    for i in 1..600 {
        if shells.contains(&i) {
            write(
                dir.path(),
                &format!("f{i:04}.php"),
                b"<?php @eval($_POST['x']); ?>\n",
            );
        } else {
            write(
                dir.path(),
                &format!("f{i:04}.txt"),
                format!("plain {i}\n").as_bytes(),
            );
        }
    }
    let root = dir.path().display().to_string();
    let out = hashscan(&["scan", "-r", &root]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 600, "{stdout}");
    assert_eq!(lines[0], format!("{root}/f0000.zip: clean 0"));
    for (i, line) in lines.iter().enumerate().skip(1) {
        if shells.contains(&i) {
            assert!(
                line.starts_with(&format!("{root}/f{i:04}.php: ")) && line.contains(" WebShell "),
                "{line}"
            );
        } else {
            assert_eq!(*line, format!("{root}/f{i:04}.txt: clean 0"));
        }
    }
}

/// A file's line is written out as soon as it is next and nothing else is ready, not when
/// the run (or a batch) ends: here the second input is a FIFO nobody writes to until the
/// first line has been read.
#[test]
fn a_line_appears_while_the_next_file_is_still_being_read() {
    use std::io::{BufRead, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "first.txt", b"nothing to see here\n");
    let fifo = dir.path().join("second.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_hashscan"))
        .env("HASHSCAN_CACHE_DIR", env!("CARGO_TARGET_TMPDIR"))
        .args(["scan", &first, &fifo.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            tx.send(line.unwrap()).unwrap();
        }
    });
    let timeout = std::time::Duration::from_secs(60);
    let line = rx.recv_timeout(timeout);
    // Unblock the scan whatever happened, on a thread of its own: opening a FIFO waits for
    // its reader, and a failure must not hang the test.
    let writer = fifo.clone();
    std::thread::spawn(move || {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(writer) {
            let _ = f.write_all(b"written late\n");
        }
    });
    assert_eq!(line.unwrap(), format!("{first}: clean 0"));
    assert_eq!(
        rx.recv_timeout(timeout).unwrap(),
        format!("{}: clean 0", fifo.display())
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn clean_files_exit_0_and_json_carries_the_whole_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "hello.php", b"<?php echo 'hello';\n");
    let out = hashscan(&["scan", "--json", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v["path"], file.as_str());
    assert_eq!(v["verdict"], "clean");
    assert_eq!(v["score"], 0);
    assert_eq!(v["size"], 20);
    let sha256 = Command::new("sha256sum").arg(&file).output().unwrap();
    assert_eq!(v["sha256"], text(&sha256.stdout)[..64]);
    let md5 = Command::new("md5sum").arg(&file).output().unwrap();
    assert_eq!(v["md5"], text(&md5.stdout)[..32]);
    let sha1 = Command::new("sha1sum").arg(&file).output().unwrap();
    assert_eq!(v["sha1"], text(&sha1.stdout)[..40]);
    assert!(v["labels"].as_array().unwrap().iter().any(|l| l == "PHP"));
    assert!(v["ruleset"].as_str().unwrap().len() >= 16);
}

#[test]
fn user_rules_and_a_broken_rule_file_are_reported_and_the_rest_scans() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write(
        &rules,
        "good.yar",
        br#"rule Custom_Miner { meta: score = 90 threat_type = "Miner"
            strings: $a = "stratum+tcp://" condition: $a }"#,
    );
    write(
        &rules,
        "broken.yar",
        b"rule Broken {\n  condition: $nothing\n}\n",
    );
    let target = write(dir.path(), "cfg.json", b"{\"pool\": \"stratum+tcp://x:1\"}");
    let rules_arg = rules.display().to_string();
    let out = hashscan(&["scan", "--no-default-rules", "--rules", &rules_arg, &target]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{target}: malicious 90 Miner Custom_Miner")
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.yar:2:") && stderr.contains("left out"),
        "{stderr}"
    );

    let out = hashscan(&["rules", "check", &rules_arg]);
    assert_eq!(out.status.code(), Some(1));
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.starts_with(&format!("{rules_arg}/broken.yar:2:")),
        "{listed}"
    );
    std::fs::remove_file(rules.join("broken.yar")).unwrap();
    let out = hashscan(&["rules", "check", &rules_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 rules from 1 files, 0 problems"));
}

#[test]
fn a_hash_list_finds_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let payload = b"some dropper that no rule knows\n";
    let sha256 = {
        let out = Command::new("sha256sum")
            .arg(write(dir.path(), "dropper.bin", payload))
            .output()
            .unwrap();
        text(&out.stdout)[..64].to_string()
    };
    let list = write(
        dir.path(),
        "bazaar.txt",
        format!("# MalwareBazaar export\n{sha256}\n").as_bytes(),
    );
    let target = dir.path().join("dropper.bin").display().to_string();
    let out = hashscan(&["scan", "--hashdb", &list, &target]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{target}: malicious 100 Malware hashlist:bazaar")
    );
}

#[test]
fn errors_exit_2_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope").display().to_string();
    let out = hashscan(&["scan", &missing]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&missing),
        "{}",
        text(&out.stderr)
    );
    let out = hashscan(&["scan", "--hashdb", &missing, &missing]);
    assert_eq!(out.status.code(), Some(2));
    let out = hashscan(&["scan", "--max-scan-size", "12X", &missing]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    let out = hashscan(&["scan", "--no-default-rules", &missing]);
    assert!(text(&out.stderr).contains("nothing to scan with"));
}

#[test]
fn clamd_findings_join_the_verdict() {
    let daemon = clamd_support::Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    // EICAR inside other bytes: not the EICAR file for the default rule (which wants it at
    // offset 0 of a small file), found by clamd's body signature.
    let file = write(dir.path(), "report.pdf", &clamd_support::embedded_eicar());
    let addr = daemon.tcp.to_string();
    let out = hashscan(&["scan", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = hashscan(&["scan", "--clamd", &addr, "--json", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v["verdict"], "malicious");
    assert_eq!(v["hits"][0]["engine"], "clamav");
    assert_eq!(
        v["threat_name"],
        format!("{}.UNOFFICIAL", clamd_support::BODY_SIG)
    );
    assert_eq!(v["threat_type"], "Engtest");

    // An unreachable clamd makes a clean file's verdict unknown (exit 2), not clean.
    drop(daemon);
    let clean = write(dir.path(), "clean.txt", b"hello");
    let out = hashscan(&["scan", "--clamd", &addr, &clean]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("unknown"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn compiled_rules_are_kept_between_runs_and_mean_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let shell = write(
        dir.path(),
        "upload.php",
        b"<?php @eval($_POST['pass']); ?>\n",
    );
    let rules = write(
        dir.path(),
        "mine.yar",
        br#"rule mine { meta: score = 90 strings: $a = "pass" condition: $a }"#,
    );
    let cache = dir.path().join("cache");
    let cache_arg = cache.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["scan", "--json", "--rules", &rules];
        args.extend_from_slice(extra);
        args.push(&shell);
        let out = hashscan(&args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (report, text(&out.stderr))
    };
    let (fresh, _) = run(&["--no-rules-cache"]);
    assert!(!cache.exists(), "--no-rules-cache keeps nothing");
    let (first, _) = run(&["--rules-cache", &cache_arg]);
    let entries = || std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(entries(), 1);
    let (second, _) = run(&["--rules-cache", &cache_arg]);
    assert_eq!(
        entries(),
        1,
        "the second run loads the entry, it stores none"
    );
    for report in [&first, &second] {
        assert_eq!(report["ruleset"], fresh["ruleset"]);
        assert_eq!(report["hits"], fresh["hits"]);
        assert_eq!(report["verdict"], "malicious");
    }
    let names: Vec<&str> = fresh["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"mine"), "{names:?}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (unsafe_dir, stderr) = run(&["--rules-cache", &cache_arg]);
        assert!(
            stderr.contains("--rules-cache") && stderr.contains("writable by other users"),
            "{stderr}"
        );
        assert_eq!(unsafe_dir["hits"], fresh["hits"]);
    }
}
