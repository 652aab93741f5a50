#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Third-party rule packs mean what they say: a rule's `score` is read on the scale its
//! pack uses (Loki/THOR's for packs other than the built-in one, unless a file or a rule
//! says otherwise), and a rule that matches is never reported clean unless it opts out with
//! `hashscan_verdict = "clean"`. The rules here are written for these tests in each scale.

use std::path::{Path, PathBuf};

use hashscan_detect::verdict::ScoreScale;
use hashscan_detect::{Config, Detector, RuleConfig, ThreatType, Verdict};

fn detector_for(paths: Vec<PathBuf>) -> Detector {
    let (d, summary) = Detector::new(Config {
        rules: RuleConfig {
            paths,
            default_pack: false,
        },
        ..Config::default()
    })
    .unwrap();
    assert!(
        summary.rule_problems.is_empty(),
        "{:?}",
        summary.rule_problems
    );
    d
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A pack written the signature-base way: author, reference, date, and a Loki/THOR score.
const LOKI_PACK: &str = r#"
rule WEBSHELL_Test_Notice {
    meta:
        description = "a notice-level rule"
        author = "tests"
        reference = "https://example.org/notice"
        date = "2026-01-01"
        score = 40
    strings: $a = "marker-notice" condition: $a
}
rule WEBSHELL_Test_Warning {
    meta:
        description = "a warning-level rule"
        author = "tests"
        reference = "https://example.org/warning"
        date = "2026-01-01"
        score = 60
    strings: $a = "marker-warning" condition: $a
}
rule SUSP_Test_Heuristic {
    meta:
        author = "tests"
        score = 75
    strings: $a = "marker-heuristic" condition: $a
}
rule HKTL_Test_Alert {
    meta:
        author = "tests"
        score = 80
    strings: $a = "marker-alert" condition: $a
}
rule Test_Debug {
    meta:
        score = 10
    strings: $a = "marker-debug" condition: $a
}
rule Test_Negative {
    meta:
        score = -50
    strings: $a = "marker-negative" condition: $a
}
"#;

#[test]
fn a_loki_pack_is_read_on_lokis_scale_and_no_match_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let d = detector_for(vec![write(dir.path(), "signature-base.yar", LOKI_PACK)]);
    let cases: &[(&[u8], Verdict, u8, ThreatType)] = &[
        (
            b"x marker-notice x",
            Verdict::Suspicious,
            61,
            ThreatType::WebShell,
        ),
        (
            b"x marker-warning x",
            Verdict::Suspicious,
            61,
            ThreatType::WebShell,
        ),
        (
            b"x marker-heuristic x",
            Verdict::Suspicious,
            75,
            ThreatType::Suspicious,
        ),
        (
            b"x marker-alert x",
            Verdict::Malicious,
            81,
            ThreatType::Hacktool,
        ),
        (
            b"x marker-debug x",
            Verdict::Suspicious,
            61,
            ThreatType::Suspicious,
        ),
        (
            b"x marker-negative x",
            Verdict::Suspicious,
            61,
            ThreatType::Suspicious,
        ),
    ];
    for (data, verdict, score, threat_type) in cases {
        let r = d.scan_bytes(data);
        assert_eq!(
            (r.verdict, r.score, r.threat_type),
            (*verdict, *score, Some(*threat_type)),
            "{}: {r:#?}",
            String::from_utf8_lossy(data)
        );
    }
    assert_eq!(d.scan_bytes(b"nothing here").verdict, Verdict::Clean);
}

#[test]
fn rules_choose_their_scale_and_may_opt_out_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let d = detector_for(vec![write(
        dir.path(),
        "mixed.yar",
        r#"
rule own_scale_80 {
    meta: score = 80 score_scale = "hashscan"
    strings: $a = "marker-own-80" condition: $a
}
rule own_scale_low {
    meta: score = 30 score_scale = "alibaba"
    strings: $a = "marker-own-low" condition: $a
}
rule informational {
    meta: score = 0 hashscan_verdict = "clean" description = "seen, and fine"
    strings: $a = "marker-info" condition: $a
}
rule forced_malicious {
    meta: hashscan_verdict = "malicious" threat_type = "Trojan"
    strings: $a = "marker-forced" condition: $a
}
rule meaningless_number {
    meta: score = 3 score_scale = "none"
    strings: $a = "marker-none" condition: $a
}
rule by_severity {
    meta: severity = "high"
    strings: $a = "marker-severity" condition: $a
}
rule unscored {
    strings: $a = "marker-unscored" condition: $a
}
"#,
    )]);
    let r = d.scan_bytes(b"marker-own-80");
    assert_eq!((r.verdict, r.score), (Verdict::Suspicious, 80));
    let r = d.scan_bytes(b"marker-own-low");
    assert_eq!(
        (r.verdict, r.score),
        (Verdict::Suspicious, 61),
        "a low score is still a finding without the opt-out"
    );
    let r = d.scan_bytes(b"marker-info");
    assert_eq!(
        (r.verdict, r.score, r.threat_type),
        (Verdict::Clean, 0, None)
    );
    assert_eq!(r.hits.len(), 1, "the opted-out hit is still reported");
    assert_eq!(r.hits[0].description, "seen, and fine");
    let r = d.scan_bytes(b"marker-forced");
    assert_eq!(
        (r.verdict, r.score, r.threat_type),
        (Verdict::Malicious, 90, Some(ThreatType::Trojan))
    );
    let r = d.scan_bytes(b"marker-none");
    assert_eq!((r.verdict, r.score), (Verdict::Suspicious, 80));
    let r = d.scan_bytes(b"marker-severity");
    assert_eq!((r.verdict, r.score), (Verdict::Malicious, 85));
    let r = d.scan_bytes(b"marker-unscored");
    assert_eq!((r.verdict, r.score), (Verdict::Suspicious, 80));
    // The worst hit decides: an opted-out hit does not clear a real finding.
    let r = d.scan_bytes(b"marker-info marker-own-low");
    assert_eq!((r.verdict, r.score), (Verdict::Suspicious, 61));
}

#[test]
fn a_file_declares_its_scale_for_all_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "alibaba-pack.yar",
        r#"// A pack scored in Alibaba's bands.
// hashscan: score_scale = alibaba
rule band_80 { meta: score = 80 strings: $a = "marker-band" condition: $a }
rule band_80_loki { meta: score = 80 score_scale = "loki" strings: $a = "marker-loki" condition: $a }
"#,
    );
    let set = RuleConfig {
        paths: vec![file.clone()],
        default_pack: false,
    }
    .load();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let ns = file.display().to_string();
    assert_eq!(set.declared_scale(&ns), Some(ScoreScale::Hashscan));
    let mut scanner = yara_x::Scanner::new(&set.compiled()[0]);
    for (data, want) in [(&b"marker-band"[..], 80), (&b"marker-loki"[..], 81)] {
        let results = scanner.scan(data).unwrap();
        let rule = results.matching_rules().next().unwrap();
        assert_eq!(set.meta_of(&rule).score, want, "{}", rule.identifier());
    }
    // And so does the detector that scans with it.
    let d = detector_for(vec![file.clone()]);
    let r = d.scan_bytes(b"marker-band");
    assert_eq!((r.verdict, r.score), (Verdict::Suspicious, 80));
    let r = d.scan_bytes(b"marker-loki");
    assert_eq!((r.verdict, r.score), (Verdict::Malicious, 81));

    // A scale hashscan does not know leaves the file out, reported where it is said.
    let bad = write(
        dir.path(),
        "bad.yar",
        "// hashscan: score_scale = percent\nrule r { condition: true }\n",
    );
    let set = RuleConfig {
        paths: vec![bad],
        default_pack: false,
    }
    .load();
    assert_eq!(set.rule_count(), 0);
    assert_eq!(set.problems.len(), 1);
    assert_eq!(set.problems[0].line, Some(1));
}
