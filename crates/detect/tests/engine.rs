#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The detector end to end: hash lists, the default rules, user rules and their metadata,
//! archives and their limits, one read for digests and scanning.

use std::io::Write;
use std::path::PathBuf;

use hashscan_detect::verdict::EngineKind;
use hashscan_detect::{Config, Detector, Report, RuleConfig, ScanOptions, ThreatType, Verdict};

/// The EICAR test file, assembled at run time so that this source is not one.
fn eicar() -> Vec<u8> {
    let first = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    let second = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    format!("{first}{second}").into_bytes()
}

/// Lower-case hex of one digest (`"md5"`, `"sha1"` …) of `data`, by the project's engine.
fn digest_hex(algorithm: &str, data: &[u8]) -> String {
    let algorithm: hashscan_digest::Algorithm = algorithm.parse().unwrap();
    hashscan_digest::hash_bytes([algorithm].into_iter().collect(), data)
        .get(algorithm)
        .unwrap()
        .to_hex()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn detector(config: Config) -> Detector {
    let (d, summary) = Detector::new(config).unwrap();
    assert!(
        summary.rule_problems.is_empty(),
        "{:?}",
        summary.rule_problems
    );
    d
}

fn rules_only(dir: &tempfile::TempDir, files: &[(&str, &str)]) -> Config {
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    Config {
        rules: RuleConfig {
            paths: vec![dir.path().to_path_buf()],
            default_pack: false,
        },
        ..Config::default()
    }
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }
    out.into_inner()
}

#[test]
fn eicar_is_found_by_the_default_rules_with_its_type_score_and_place() {
    let d = detector(Config::default());
    let r = d.scan_bytes(&eicar());
    assert_eq!(r.verdict, Verdict::Malicious, "{r:#?}");
    assert_eq!(r.score, 100);
    assert_eq!(r.threat_type, Some(ThreatType::Engtest));
    assert_eq!(r.threat_name.as_deref(), Some("EICAR_Test_File"));
    assert_eq!(r.hits[0].engine, EngineKind::Yara);
    assert_eq!(r.hits[0].highlights, vec![[0, 68]]);
    assert_eq!(r.md5, "44d88612fea8a8f36de82e1278abb02f");
    assert_eq!(r.sha256, sha256_hex(&eicar()));
    assert_eq!(r.size, 68);
    assert_eq!(r.ruleset, d.version());
}

#[test]
fn eicar_is_found_by_a_clamav_hash_list_and_an_allow_list_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let hdb = dir.path().join("bad.hdb");
    std::fs::write(
        &hdb,
        "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
    )
    .unwrap();
    let config = Config {
        rules: RuleConfig::default(),
        hash_lists: vec![hdb.clone()],
        ..Config::default()
    };
    let d = detector(config);
    let r = d.scan_bytes(&eicar());
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.hits.len(), 1, "{r:#?}");
    assert_eq!(r.hits[0].engine, EngineKind::Hashlist);
    assert_eq!(r.threat_name.as_deref(), Some("Eicar-Test-Signature"));
    assert_eq!(r.threat_type, Some(ThreatType::Engtest));
    // The size in the .hdb line is part of the signature.
    let mut longer = eicar();
    longer.push(b'\n');
    assert_eq!(d.scan_bytes(&longer).verdict, Verdict::Clean);

    let fp = dir.path().join("good.fp");
    std::fs::write(&fp, "44d88612fea8a8f36de82e1278abb02f:68:Known-Good\n").unwrap();
    let d = detector(Config {
        hash_lists: vec![hdb, fp],
        ..Config::default()
    });
    let r = d.scan_bytes(&eicar());
    assert_eq!(r.verdict, Verdict::Clean, "{r:#?}");
    assert_eq!(r.score, 0);
}

/// Members are hashed with what the lists need (here MD5 only) to be looked up; a member
/// that is listed still shows all three digests, and clean members stay unlisted.
#[test]
fn an_archive_member_is_found_by_an_md5_list_and_shows_all_three_digests() {
    let dir = tempfile::tempdir().unwrap();
    let payload = b"a payload known by its MD5 alone\n".repeat(3);
    let md5 = digest_hex("md5", &payload);
    let hdb = dir.path().join("bad.hdb");
    std::fs::write(&hdb, format!("{md5}:{}:Known.Payload\n", payload.len())).unwrap();
    let d = detector(Config {
        rules: RuleConfig::default(),
        hash_lists: vec![hdb],
        ..Config::default()
    });
    let zip = zip_of(&[
        ("clean.txt", b"nothing here"),
        ("dir/payload.bin", &payload),
    ]);
    let r = d.scan_bytes(&zip);
    assert_eq!(r.verdict, Verdict::Malicious, "{r:#?}");
    assert_eq!(r.threat_name.as_deref(), Some("Known.Payload"));
    let a = r.archive.as_ref().unwrap();
    assert_eq!(a.members_scanned, 2);
    assert_eq!(a.members.len(), 1, "clean members are not listed: {a:#?}");
    let m = &a.members[0];
    assert_eq!(m.path, "dir/payload.bin");
    assert_eq!(m.hits[0].engine, EngineKind::Hashlist);
    assert_eq!(m.md5, md5);
    assert_eq!(m.sha256, sha256_hex(&payload));
    let sha1 = digest_hex("sha1", &payload);
    assert_eq!(m.sha1, sha1);
}

/// A scan whose report shows no hashes (`hashscan scan` without `--json`) computes only
/// what the lists and the content cache use: a file and a member listed by MD5 are still
/// found, the digests not computed are empty (never zeros), and a scan that shows hashes
/// gets all three.
#[test]
fn a_scan_without_hashes_in_its_report_computes_only_what_the_lists_use() {
    let dir = tempfile::tempdir().unwrap();
    let payload = b"a payload known by its MD5 alone\n".repeat(3);
    let (md5, sha1) = (digest_hex("md5", &payload), digest_hex("sha1", &payload));
    let hdb = dir.path().join("bad.hdb");
    std::fs::write(&hdb, format!("{md5}:{}:Known.Payload\n", payload.len())).unwrap();
    let zip = zip_of(&[("clean.txt", b"nothing here"), ("payload.bin", &payload)]);
    let (file, archive) = (dir.path().join("payload.bin"), dir.path().join("a.zip"));
    std::fs::write(&file, &payload).unwrap();
    std::fs::write(&archive, &zip).unwrap();
    let verdicts_only = ScanOptions {
        report_hashes: false,
        ..ScanOptions::default()
    };
    let hashes_of = |r: &Report| [r.md5.clone(), r.sha1.clone(), r.sha256.clone()];

    let d = detector(Config {
        rules: RuleConfig::default(),
        hash_lists: vec![hdb],
        ..Config::default()
    });
    let r = d.scan_file_with(&file, &verdicts_only).unwrap();
    assert_eq!(r.threat_name.as_deref(), Some("Known.Payload"), "{r:#?}");
    // MD5 for the list, SHA-256 for the content cache; no SHA-1.
    assert_eq!(
        hashes_of(&r),
        [md5.clone(), String::new(), sha256_hex(&payload)]
    );
    let r = d.scan_file_with(&archive, &verdicts_only).unwrap();
    assert_eq!(r.threat_name.as_deref(), Some("Known.Payload"), "{r:#?}");
    assert_eq!(r.sha1, "");
    let m = &r.archive.as_ref().unwrap().members[0];
    assert_eq!((m.md5.as_str(), m.sha1.as_str()), (md5.as_str(), ""));
    let r = d.scan_file_with(&archive, &ScanOptions::default()).unwrap();
    assert_eq!(r.sha256, sha256_hex(&zip));
    assert_eq!(r.archive.as_ref().unwrap().members[0].sha1, sha1);
    // A mapped file (1 MiB or more, `engine::MAP_MIN`) is not looked up in the content cache: only the MD5 the
    // list uses is computed for it.
    let big_data = vec![b'x'; 1 << 20];
    let big = dir.path().join("big.bin");
    std::fs::write(&big, &big_data).unwrap();
    let r = d.scan_file_with(&big, &verdicts_only).unwrap();
    assert_eq!(
        hashes_of(&r),
        [digest_hex("md5", &big_data), String::new(), String::new()]
    );

    // Nothing uses a digest: none is computed, and none reads as a hash of zeros.
    let d = detector(Config {
        rules: RuleConfig::default(),
        seen_contents: 0,
        ..Config::default()
    });
    let other = dir.path().join("other.bin");
    std::fs::write(&other, b"something else").unwrap();
    let r = d.scan_file_with(&other, &verdicts_only).unwrap();
    assert_eq!(r.verdict, Verdict::Clean);
    assert_eq!(hashes_of(&r), [String::new(), String::new(), String::new()]);
    // The same detector still reports all three when asked.
    let r = d.scan_file_with(&file, &ScanOptions::default()).unwrap();
    assert_eq!(hashes_of(&r), [md5, sha1, sha256_hex(&payload)]);
}

#[test]
fn a_php_webshell_is_a_webshell_and_the_highlight_points_at_the_eval() {
    let d = detector(Config::default());
    let shell =
        b"<html><body>\n<?php\n// admin helper\n@eval($_POST['cmd']);\n?>\n</body></html>\n";
    let r = d.scan_bytes(shell);
    assert!(
        matches!(r.verdict, Verdict::Malicious | Verdict::Suspicious),
        "{r:#?}"
    );
    assert_eq!(r.threat_type, Some(ThreatType::WebShell), "{r:#?}");
    assert!(r.labels.iter().any(|l| l == "PHP"), "{:?}", r.labels);
    let top = r.hits.iter().max_by_key(|h| h.score).unwrap();
    assert!(!top.highlights.is_empty());
    let text = String::from_utf8_lossy(shell);
    let covered: Vec<&str> = top
        .highlights
        .iter()
        .map(|[s, e]| &text[*s as usize..*e as usize])
        .collect();
    assert!(
        covered.iter().any(|c| c.contains("eval")),
        "highlights {covered:?} do not cover the eval"
    );
    let eval_at = text.find("eval").unwrap() as u64;
    assert!(
        top.highlights
            .iter()
            .any(|[s, e]| *s <= eval_at && eval_at < *e)
    );
}

#[test]
fn ordinary_php_is_clean() {
    let d = detector(Config::default());
    let code = b"<?php\nfunction greet(string $name): string {\n    return 'Hello, ' . htmlspecialchars($name);\n}\necho greet($_GET['name'] ?? 'world');\n";
    let r = d.scan_bytes(code);
    assert_eq!(r.verdict, Verdict::Clean, "{r:#?}");
    assert!(r.hits.is_empty());
}

#[test]
fn rule_metadata_maps_to_the_verdict_and_defaults_apply() {
    let dir = tempfile::tempdir().unwrap();
    let d = detector(rules_only(
        &dir,
        &[
            (
                "scored.yar",
                r#"rule miner_marker {
                    meta: score = 95 threat_type = "miner" description = "a pool login"
                    strings: $a = "stratum+tcp://" condition: $a }"#,
            ),
            (
                "plain.yar",
                r#"rule plain_marker { strings: $a = "plain-marker" condition: $a }"#,
            ),
            (
                "odd.yar",
                r#"rule odd_type { meta: score = "65" threat_type = "Nonsense"
                    strings: $a = "odd-marker" condition: $a }"#,
            ),
        ],
    ));
    let r = d.scan_bytes(b"connect stratum+tcp://pool.example:3333 now");
    assert_eq!(
        (r.verdict, r.score, r.threat_type),
        (Verdict::Malicious, 95, Some(ThreatType::Miner))
    );
    assert_eq!(r.hits[0].description, "a pool login");
    assert_eq!(r.hits[0].highlights, vec![[8, 22]]);

    let r = d.scan_bytes(b"xx plain-marker xx");
    assert_eq!(
        (r.verdict, r.score, r.threat_type),
        (Verdict::Suspicious, 80, Some(ThreatType::Suspicious)),
        "a rule without metadata scores 80, type Suspicious"
    );
    assert_eq!(r.hits[0].description, "plain_marker");

    let r = d.scan_bytes(b"odd-marker");
    assert_eq!(
        (r.verdict, r.score, r.threat_type),
        (Verdict::Suspicious, 65, Some(ThreatType::Suspicious))
    );
}

#[test]
fn a_broken_rule_file_is_reported_and_the_others_still_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a_good.yar"),
        r#"rule good_one { strings: $a = "marker-one" condition: $a }"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b_broken.yar"),
        "rule fine { condition: true }\nrule broken {\n  strings: $a = \"x\"\n  condition: $a and $missing\n}\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/c_good.yara"),
        r#"rule good_two { strings: $a = "marker-two" condition: $a }"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule file").unwrap();
    let (d, summary) = Detector::new(Config {
        rules: RuleConfig {
            paths: vec![dir.path().to_path_buf()],
            default_pack: false,
        },
        ..Config::default()
    })
    .unwrap();
    assert_eq!(summary.rules, 2, "the broken file is left out whole");
    assert_eq!(summary.rule_problems.len(), 1);
    let p = &summary.rule_problems[0];
    assert!(p.file.ends_with("b_broken.yar"), "{p}");
    assert_eq!(p.line, Some(4), "{p}");
    assert!(p.message.contains("missing"), "{p}");
    assert_eq!(d.scan_bytes(b"marker-one").verdict, Verdict::Suspicious);
    assert_eq!(d.scan_bytes(b"marker-two").verdict, Verdict::Suspicious);
    // `fine` was in the broken file: not loaded, so an empty input matches nothing.
    assert_eq!(d.scan_bytes(b"").verdict, Verdict::Clean);
}

#[test]
fn rules_reload_when_their_files_change_and_the_version_follows() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yar");
    std::fs::write(
        &file,
        r#"rule first { strings: $a = "first-marker" condition: $a }"#,
    )
    .unwrap();
    let d = detector(Config {
        rules: RuleConfig {
            paths: vec![file.clone()],
            default_pack: false,
        },
        ..Config::default()
    });
    let (v1, f1) = (d.version(), d.rule_fingerprint());
    assert_eq!(d.scan_bytes(b"first-marker").verdict, Verdict::Suspicious);
    std::fs::write(
        &file,
        r#"rule second { meta: score = 90 strings: $a = "second-marker" condition: $a }"#,
    )
    .unwrap();
    assert_ne!(
        d.rule_fingerprint(),
        f1,
        "a changed file changes the fingerprint"
    );
    // Scans on other threads keep working while rules are swapped.
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            for _ in 0..50 {
                let r = d.scan_bytes(b"first-marker second-marker");
                assert_ne!(r.verdict, Verdict::Clean);
            }
        });
        let fresh = d.reload();
        assert!(fresh.problems.is_empty());
        worker.join().unwrap();
    });
    assert_ne!(d.version(), v1);
    assert_eq!(d.scan_bytes(b"first-marker").verdict, Verdict::Clean);
    assert_eq!(d.scan_bytes(b"second-marker").verdict, Verdict::Malicious);
}

#[test]
fn a_webshell_inside_nested_archives_is_found_with_its_path() {
    let d = detector(Config::default());
    let shell: &[u8] = b"<?php @eval($_POST['z']); ?>";
    let inner = zip_of(&[("readme.txt", b"hello"), ("wp/shell.php", shell)]);
    let outer = zip_of(&[("site.zip", &inner), ("index.html", b"<html></html>")]);
    let r = d.scan_bytes(&outer);
    assert_eq!(r.threat_type, Some(ThreatType::WebShell), "{r:#?}");
    assert!(r.labels.iter().any(|l| l == "Zip"), "{:?}", r.labels);
    let a = r.archive.as_ref().unwrap();
    assert_eq!(a.format, "Zip");
    assert!(a.members_scanned >= 4, "{a:#?}");
    assert_eq!(a.members.len(), 1, "{a:#?}");
    let m = &a.members[0];
    assert_eq!(m.path, "site.zip!/wp/shell.php");
    assert_eq!(m.sha256, sha256_hex(shell));
    assert_eq!(m.threat_type, Some(ThreatType::WebShell));
    assert!(a.limits_exceeded.is_none());
}

#[test]
fn a_zip_bomb_is_stopped_by_the_limits_and_is_suspicious() {
    // 40 members of 64 MiB of zeros: 2.5 GiB expanded from a few MiB.
    let zeros = vec![0u8; 64 << 20];
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .large_file(false);
        for i in 0..40 {
            w.start_file(format!("zeros-{i}.bin"), opts).unwrap();
            w.write_all(&zeros).unwrap();
        }
        w.finish().unwrap();
    }
    let bomb = out.into_inner();
    assert!(bomb.len() < 16 << 20, "{}", bomb.len());
    let d = detector(Config::default());
    let r = d.scan_bytes(&bomb);
    let a = r.archive.as_ref().unwrap();
    assert!(a.limits_exceeded.is_some(), "{a:#?}");
    assert!(a.bytes_expanded <= 1 << 30);
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert_eq!(r.threat_name.as_deref(), Some("Archive.LimitsExceeded"));

    let mut config = Config {
        limits_verdict: Verdict::Clean,
        ..Config::default()
    };
    config.archive.max_total_bytes = 256 << 20;
    let quiet = detector(config);
    let r = quiet.scan_bytes(&bomb);
    assert!(r.archive.as_ref().unwrap().limits_exceeded.is_some());
    assert_eq!(r.verdict, Verdict::Unknown, "limits noted, not a finding");
}

#[test]
fn a_nested_archive_bomb_is_stopped_by_the_depth_limit() {
    let mut layer = zip_of(&[("core.txt", b"innocent")]);
    for i in 0..8 {
        layer = zip_of(&[(&format!("layer{i}.zip"), &layer)]);
    }
    let d = detector(Config::default());
    let r = d.scan_bytes(&layer);
    let a = r.archive.as_ref().unwrap();
    let why = a.limits_exceeded.as_deref().unwrap_or_default();
    assert!(why.contains("depth"), "{a:#?}");
    assert_eq!(r.verdict, Verdict::Suspicious);
}

#[test]
fn one_read_gives_digests_of_the_whole_file_and_scans_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = rules_only(
        &dir,
        &[(
            "tail.yar",
            r#"rule tail_marker { meta: score = 90 strings: $a = "tail-marker" condition: $a }"#,
        )],
    );
    config.max_scan_size = 1 << 20;
    let d = detector(config);
    let mut data = vec![b'a'; 3 << 20];
    data.extend_from_slice(b"tail-marker");
    let path: PathBuf = dir.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();
    let r: Report = d.scan_file(&path).unwrap();
    assert_eq!(r.size, data.len() as u64);
    assert_eq!(
        r.sha256,
        sha256_hex(&data),
        "digest of every byte, not only the scanned"
    );
    assert_eq!(
        r.verdict,
        Verdict::Unknown,
        "the marker is past the scan limit: {r:#?}"
    );
    assert!(r.notes[0].contains("first 1048576"), "{:?}", r.notes);
    let d = detector(Config {
        rules: RuleConfig {
            paths: vec![dir.path().join("tail.yar")],
            default_pack: false,
        },
        ..Config::default()
    });
    let r = d.scan_file(&path).unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.hits[0].highlights, vec![[3 << 20, (3 << 20) + 11]]);
}

#[test]
fn reports_serialize_with_alibaba_type_names() {
    let d = detector(Config::default());
    let json = serde_json::to_value(d.scan_bytes(&eicar())).unwrap();
    assert_eq!(json["verdict"], "malicious");
    assert_eq!(json["threat_type"], "Engtest");
    assert_eq!(json["hits"][0]["engine"], "yara");
    assert_eq!(json["hits"][0]["highlights"][0][1], 68);
}

#[test]
fn a_watched_rule_file_reloads_by_itself_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.yar");
    std::fs::write(
        &file,
        r#"rule old_one { strings: $a = "old-marker" condition: $a }"#,
    )
    .unwrap();
    let d = std::sync::Arc::new(detector(Config {
        rules: RuleConfig {
            paths: vec![dir.path().to_path_buf()],
            default_pack: false,
        },
        ..Config::default()
    }));
    let (tx, rx) = std::sync::mpsc::channel();
    let watch = d
        .watch_rules(std::time::Duration::from_millis(20), move |set| {
            let _ = tx.send((set.version().to_string(), set.problems.len()));
        })
        .unwrap();
    let before = d.version();
    // Each edit lands whole (written aside, then renamed), as editors save: a watcher
    // polling every 20 ms must not catch a half-written file and report it as an edit.
    let edit = |text: &str| {
        let aside = dir.path().join("w.yar.tmp");
        std::fs::write(&aside, text).unwrap();
        std::fs::rename(&aside, &file).unwrap();
    };
    edit(r#"rule new_one { meta: score = 90 strings: $a = "new-marker" condition: $a }"#);
    let (version, problems) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_ne!(version, before);
    assert_eq!(problems, 0);
    assert_eq!(d.version(), version);
    assert_eq!(d.scan_bytes(b"new-marker").verdict, Verdict::Malicious);
    assert_eq!(d.scan_bytes(b"old-marker").verdict, Verdict::Clean);
    // A broken edit is reported and leaves the file out; scanning goes on.
    edit("rule broken { condition: $x }");
    let (_, problems) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(problems, 1);
    assert_eq!(d.scan_bytes(b"new-marker").verdict, Verdict::Clean);
    drop(watch);
}

#[test]
fn configured_hash_lists_reload_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("bad.sha256");
    let (one, two) = (
        b"first listed file".to_vec(),
        b"second listed file".to_vec(),
    );
    std::fs::write(&list, format!("{}\n", sha256_hex(&one))).unwrap();
    let d = detector(Config {
        rules: RuleConfig {
            paths: vec![],
            default_pack: false,
        },
        hash_lists: vec![list.clone()],
        ..Config::default()
    });
    assert_eq!(d.scan_bytes(&one).verdict, Verdict::Malicious);
    assert_eq!(d.scan_bytes(&two).verdict, Verdict::Clean);
    let (version, fingerprint) = (d.version(), d.rule_fingerprint());

    // The list changes: the fingerprint says so, a refresh takes it.
    std::fs::write(&list, format!("{}\n{}\n", sha256_hex(&two), "0".repeat(64))).unwrap();
    assert_ne!(d.rule_fingerprint(), fingerprint);
    let refreshed = d.refresh();
    assert_eq!(refreshed.hashes, 2, "{refreshed:?}");
    assert_eq!(d.scan_bytes(&one).verdict, Verdict::Clean);
    assert_eq!(d.scan_bytes(&two).verdict, Verdict::Malicious);
    assert_ne!(d.version(), version);

    // A list that cannot be read leaves the lists in use as they were.
    std::fs::remove_file(&list).unwrap();
    let refreshed = d.refresh();
    assert!(
        refreshed.list_problems[0].contains("not reloaded"),
        "{refreshed:?}"
    );
    assert_eq!(d.scan_bytes(&two).verdict, Verdict::Malicious);
}

/// The same content met twice (two members of one archive, then as a file of its own) is
/// searched once under one ruleset, with the same hits each time; a reload searches again.
#[test]
fn the_same_content_is_searched_once_per_ruleset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yar");
    std::fs::write(
        &file,
        r#"rule marked { meta: score = 90 strings: $a = "dup-marker" condition: $a }"#,
    )
    .unwrap();
    let config = |seen_contents| Config {
        rules: RuleConfig {
            paths: vec![file.clone()],
            default_pack: false,
        },
        seen_contents,
        ..Config::default()
    };
    let shell = b"<?php // dup-marker\n".to_vec();
    let zip = zip_of(&[
        ("a/shell.php", &shell),
        ("b/copy.php", &shell),
        ("clean.txt", b"nothing"),
    ]);

    let d = detector(config(1024));
    let r = d.scan_bytes(&zip);
    assert_eq!(r.verdict, Verdict::Malicious, "{r:#?}");
    let members = &r.archive.as_ref().unwrap().members;
    assert_eq!(members.len(), 2, "{members:#?}");
    for m in members {
        assert_eq!(m.hits[0].name, "marked");
        assert_eq!(m.hits[0].highlights, vec![[9, 19]]);
    }
    // The zip itself, its shell once and the clean file: the copy was not searched.
    assert_eq!(d.yara_scans(), 3);
    let alone = d.scan_bytes(&shell);
    assert_eq!(alone.verdict, Verdict::Malicious);
    assert_eq!(alone.hits[0].highlights, vec![[9, 19]]);
    assert_eq!(d.yara_scans(), 3, "known content is not searched again");

    // New rules: the old results do not apply.
    std::fs::write(
        &file,
        r#"rule other { strings: $a = "other-marker" condition: $a }"#,
    )
    .unwrap();
    d.reload();
    assert_eq!(d.scan_bytes(&shell).verdict, Verdict::Clean);
    assert_eq!(d.yara_scans(), 4);

    // Without the cache every member is searched.
    std::fs::write(
        &file,
        r#"rule marked { meta: score = 90 strings: $a = "dup-marker" condition: $a }"#,
    )
    .unwrap();
    let d = detector(config(0));
    assert_eq!(d.scan_bytes(&zip).verdict, Verdict::Malicious);
    assert_eq!(d.yara_scans(), 4);
}
