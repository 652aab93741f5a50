//! What a scan concludes: the verdict, its score and threat type, and every engine hit.
//!
//! Scores use Alibaba's bands: 0–60 safe, 61–70 risky, 71–80 suspicious, 81–100 malicious.
//! The verdict follows the highest score: up to 60 clean, 61–80 suspicious, above 80
//! malicious; `unknown` when nothing matched but the file could not be scanned in full
//! (timeout, too large, read error). An allow-list (known-good) hash makes a file clean
//! whatever else matched.
//!
//! A YARA rule's own `score` may be on another scale (Loki/THOR's, for signature-base):
//! [`ScoreScale::score`] is the one table that turns it into hashscan's, and a matching rule
//! always scores 61 or more unless it opts out with `hashscan_verdict = "clean"`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The verdict on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Clean,
    Unknown,
    Suspicious,
    Malicious,
}

impl Verdict {
    /// The verdict of a score.
    pub fn of_score(score: u8) -> Verdict {
        match score {
            0..=60 => Verdict::Clean,
            61..=80 => Verdict::Suspicious,
            _ => Verdict::Malicious,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Unknown => "unknown",
            Verdict::Suspicious => "suspicious",
            Verdict::Malicious => "malicious",
        }
    }
}

/// How a rule's own `score` number is read. Rule packs count on different scales: the
/// built-in pack on hashscan's (Alibaba's bands), signature-base and other Loki/THOR packs on
/// Loki's, and some packs' numbers mean nothing hashscan knows. [`ScoreScale::score`] is the
/// one table that turns a rule's number into hashscan's score; `docs/detection.md` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreScale {
    /// hashscan's own 0–100, in Alibaba's bands (0–60 safe, 61–70 risky, 71–80 suspicious,
    /// 81–100 malicious): the built-in pack's scale.
    Hashscan,
    /// Loki/THOR (Neo23x0's signature-base and packs written for those scanners): 40
    /// notice, 60 warning, 80 alert (THOR; Loki v1 sums rule scores against 100). The
    /// default for rules that are not the built-in pack's.
    Loki,
    /// The rule's number is not a score hashscan can read: the rule counts as unscored.
    Ignore,
}

/// The score of a matching rule that says nothing about it: the top of Alibaba's
/// "suspicious" band (71–80), below "malicious", so an unscored rule alone never calls a
/// file malicious.
pub const UNSCORED: u8 = 80;

/// The lowest score of a finding: a rule that matched and did not opt out is never clean.
pub const LOWEST_FINDING: u8 = 61;

impl ScoreScale {
    /// A scale by name, in any case: `hashscan` (also `alibaba`), `loki` (also `thor`,
    /// `signature-base`), `none` (also `ignore`).
    pub fn parse(s: &str) -> Option<ScoreScale> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hashscan" | "alibaba" => Some(ScoreScale::Hashscan),
            "loki" | "thor" | "signature-base" | "signature_base" => Some(ScoreScale::Loki),
            "none" | "ignore" => Some(ScoreScale::Ignore),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScoreScale::Hashscan => "hashscan",
            ScoreScale::Loki => "loki",
            ScoreScale::Ignore => "none",
        }
    }

    /// hashscan's score (0–100, Alibaba's bands) of a matching rule whose number on this
    /// scale is `raw` (`None`: the rule has none), and whose `hashscan_verdict` meta, if
    /// any, is `verdict`. The whole table:
    ///
    /// | the rule's number | `Hashscan` | `Loki` |
    /// | --- | --- | --- |
    /// | none (or scale `Ignore`) | 80 | 80 |
    /// | 100 and more | 100 | 100 |
    /// | 81–99 | the same | the same |
    /// | 80 | 80 (suspicious) | 81 (THOR's alert: malicious) |
    /// | 61–79 | the same | the same |
    /// | 60 and less, negative too | 61 (risky: still a finding) | 61 |
    ///
    /// Then `hashscan_verdict` moves the score into that verdict's band: `clean` to at most
    /// 60 (the rule's own number on hashscan's scale when it is 0–60, else 60; the one way a
    /// matching rule leaves a file clean), `suspicious` into 61–80, `malicious` into 81–100
    /// (90 for an unscored rule).
    pub fn score(self, raw: Option<i64>, verdict: Option<Verdict>) -> u8 {
        let raw = match self {
            ScoreScale::Ignore => None,
            _ => raw,
        };
        let finding = match (self, raw) {
            (_, None) => UNSCORED,
            (_, Some(n)) if n >= 100 => 100,
            (ScoreScale::Loki, Some(80)) => 81,
            (_, Some(n)) if n > i64::from(LOWEST_FINDING) => n as u8,
            (_, Some(_)) => LOWEST_FINDING,
        };
        match verdict {
            Some(Verdict::Clean) => match raw {
                Some(n) if (0..=60).contains(&n) => n as u8,
                Some(n) if n < 0 => 0,
                _ => 60,
            },
            Some(Verdict::Suspicious) => finding.clamp(LOWEST_FINDING, 80),
            Some(Verdict::Malicious) if raw.is_none() => 90,
            Some(Verdict::Malicious) => finding.max(81),
            Some(Verdict::Unknown) | None => finding,
        }
    }
}

impl Verdict {
    /// A verdict by name, in any case (`clean`, `suspicious`, `malicious`, `unknown`).
    pub fn parse(s: &str) -> Option<Verdict> {
        match s.trim().to_ascii_lowercase().as_str() {
            "clean" => Some(Verdict::Clean),
            "suspicious" => Some(Verdict::Suspicious),
            "malicious" => Some(Verdict::Malicious),
            "unknown" => Some(Verdict::Unknown),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! threat_types {
    ($($v:ident => $s:literal),* $(,)?) => {
        /// A threat type, named as Alibaba's `VirusType` values.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ThreatType { $(#[serde(rename = $s)] $v),* }

        impl ThreatType {
            /// Every type.
            pub const ALL: &[ThreatType] = &[$(ThreatType::$v),*];

            /// The name as Alibaba spells it (`WebShell`, `RansomWare` …).
            pub fn as_str(self) -> &'static str {
                match self { $(ThreatType::$v => $s),* }
            }
        }
    };
}

threat_types! {
    Trojan => "Trojan",
    WebShell => "WebShell",
    Backdoor => "Backdoor",
    RansomWare => "RansomWare",
    Scanner => "Scanner",
    Stealer => "Stealer",
    Malbaseware => "Malbaseware",
    Hacktool => "Hacktool",
    Engtest => "Engtest",
    Downloader => "Downloader",
    Virus => "Virus",
    Miner => "Miner",
    Worm => "Worm",
    DDoS => "DDoS",
    Malware => "Malware",
    RiskWare => "RiskWare",
    Proxytool => "Proxytool",
    Suspicious => "Suspicious",
    MalScript => "MalScript",
    Rootkit => "Rootkit",
    Exploit => "Exploit",
    AdWare => "AdWare",
    Patcher => "Patcher",
    Gametool => "Gametool",
}

impl ThreatType {
    /// A type by name, in any case (`webshell`, `WEBSHELL` → `WebShell`).
    pub fn parse(s: &str) -> Option<ThreatType> {
        let s = s.trim();
        ThreatType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// The type a signature name suggests (ClamAV's `Platform.Category.Name` and the usual
    /// words of other vendors); `Malware` when nothing fits.
    pub fn from_signature_name(name: &str) -> ThreatType {
        ThreatType::guess(name).unwrap_or(ThreatType::Malware)
    }

    /// The type the usual words of a signature or rule name suggest (`Php.Webshell.X`,
    /// `WEBSHELL_PHP_Generic`, `HKTL_Mimikatz`, `Win.Trojan.Agent` …), if any.
    pub fn guess(name: &str) -> Option<ThreatType> {
        let lower = name.to_ascii_lowercase();
        const WORDS: &[(&str, ThreatType)] = &[
            ("eicar", ThreatType::Engtest),
            ("test-signature", ThreatType::Engtest),
            ("webshell", ThreatType::WebShell),
            ("ransom", ThreatType::RansomWare),
            ("miner", ThreatType::Miner),
            ("coinmin", ThreatType::Miner),
            ("backdoor", ThreatType::Backdoor),
            ("rootkit", ThreatType::Rootkit),
            ("exploit", ThreatType::Exploit),
            ("downloader", ThreatType::Downloader),
            ("stealer", ThreatType::Stealer),
            ("spyware", ThreatType::Stealer),
            ("worm", ThreatType::Worm),
            ("ddos", ThreatType::DDoS),
            ("adware", ThreatType::AdWare),
            ("hacktool", ThreatType::Hacktool),
            ("hktl", ThreatType::Hacktool),
            ("virus", ThreatType::Virus),
            ("trojan", ThreatType::Trojan),
        ];
        WORDS
            .iter()
            .find(|(w, _)| lower.contains(w))
            .map(|(_, t)| *t)
    }
}

impl fmt::Display for ThreatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which engine made a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// A YARA rule.
    Yara,
    /// A known-bad hash list.
    Hashlist,
    /// A known-good (allow) list: the file is clean.
    Allowlist,
    /// ClamAV's clamd.
    Clamav,
    /// The archive walker: limits exceeded.
    Archive,
}

/// One engine's finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub engine: EngineKind,
    /// Rule (`namespace:rule`), signature or list entry name.
    pub name: String,
    pub score: u8,
    pub threat_type: ThreatType,
    pub description: String,
    /// Byte ranges `[start, end)` of the matched data, from the start of the file (or of the
    /// archive member in [`Member`]).
    pub highlights: Vec<[u64; 2]>,
}

/// The finding on one archive member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's path, nested archives joined with `/` (`a.zip/inner.tar/x.php`).
    pub path: String,
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub verdict: Verdict,
    pub score: u8,
    pub threat_type: Option<ThreatType>,
    pub threat_name: Option<String>,
    pub hits: Vec<Hit>,
    pub labels: Vec<String>,
    /// Only the first bytes of the member were kept and scanned.
    pub truncated: bool,
}

/// What was found in an archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveSummary {
    /// The outer format (`Zip`, `tar` …).
    pub format: String,
    pub members_scanned: u32,
    pub bytes_expanded: u64,
    /// Members with a verdict other than clean (every member when `all_members` is asked).
    pub members: Vec<Member>,
    /// Encrypted members (not decrypted).
    pub encrypted: Vec<String>,
    /// Set when a limit stopped the walk: which, and where.
    pub limits_exceeded: Option<String>,
    /// Corrupt or unsupported members.
    pub errors: Vec<String>,
}

/// Everything a scan of one file found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    /// 0–100.
    pub score: u8,
    pub threat_type: Option<ThreatType>,
    /// The top hit's name.
    pub threat_name: Option<String>,
    pub hits: Vec<Hit>,
    /// File-type labels (`PE32`, `ELF`, `Zip`, `PHP`, `encrypted` …).
    pub labels: Vec<String>,
    pub archive: Option<ArchiveSummary>,
    pub size: u64,
    /// Lower-case hex digests of the whole file; empty when not computed (a scan with
    /// [`ScanOptions::report_hashes`](crate::ScanOptions::report_hashes) off).
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    /// The ruleset version the file was scanned with.
    pub ruleset: String,
    /// Why the scan is incomplete (timeout, size limit, clamd unreachable …).
    pub notes: Vec<String>,
}

/// Verdict, score, type and name from a set of hits; `complete` is false when part of the
/// file could not be scanned.
pub(crate) fn conclude(
    hits: &[Hit],
    complete: bool,
) -> (Verdict, u8, Option<ThreatType>, Option<String>) {
    if let Some(allow) = hits.iter().find(|h| h.engine == EngineKind::Allowlist) {
        return (Verdict::Clean, 0, None, Some(allow.name.clone()));
    }
    match hits.iter().max_by_key(|h| h.score) {
        Some(top) => {
            let verdict = Verdict::of_score(top.score);
            let named = verdict != Verdict::Clean;
            (
                if !named && !complete {
                    Verdict::Unknown
                } else {
                    verdict
                },
                top.score,
                named.then_some(top.threat_type),
                named.then(|| top.name.clone()),
            )
        }
        None if complete => (Verdict::Clean, 0, None, None),
        None => (Verdict::Unknown, 0, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(engine: EngineKind, score: u8, t: ThreatType) -> Hit {
        Hit {
            engine,
            name: format!("{engine:?}-{score}"),
            score,
            threat_type: t,
            description: String::new(),
            highlights: vec![],
        }
    }

    #[test]
    fn scores_fall_in_alibabas_bands() {
        assert_eq!(Verdict::of_score(0), Verdict::Clean);
        assert_eq!(Verdict::of_score(60), Verdict::Clean);
        assert_eq!(Verdict::of_score(61), Verdict::Suspicious);
        assert_eq!(Verdict::of_score(80), Verdict::Suspicious);
        assert_eq!(Verdict::of_score(81), Verdict::Malicious);
        assert_eq!(Verdict::of_score(100), Verdict::Malicious);
    }

    #[test]
    fn every_scale_maps_a_match_to_a_finding_unless_it_opts_out() {
        use ScoreScale::{Hashscan, Ignore, Loki};
        let cases: &[(ScoreScale, Option<i64>, Option<Verdict>, u8)] = &[
            (Hashscan, None, None, 80),
            (Loki, None, None, 80),
            (Ignore, Some(95), None, 80),
            (Hashscan, Some(95), None, 95),
            (Loki, Some(95), None, 95),
            (Hashscan, Some(80), None, 80),
            (Loki, Some(80), None, 81),
            (Loki, Some(75), None, 75),
            (Loki, Some(60), None, 61),
            (Loki, Some(50), None, 61),
            (Loki, Some(0), None, 61),
            (Loki, Some(-20), None, 61),
            (Hashscan, Some(30), None, 61),
            (Loki, Some(250), None, 100),
            (Hashscan, Some(0), Some(Verdict::Clean), 0),
            (Hashscan, Some(40), Some(Verdict::Clean), 40),
            (Loki, Some(90), Some(Verdict::Clean), 60),
            (Loki, None, Some(Verdict::Clean), 60),
            (Loki, Some(95), Some(Verdict::Suspicious), 80),
            (Loki, Some(10), Some(Verdict::Suspicious), 61),
            (Loki, Some(65), Some(Verdict::Malicious), 81),
            (Loki, None, Some(Verdict::Malicious), 90),
        ];
        for &(scale, raw, verdict, want) in cases {
            let got = scale.score(raw, verdict);
            assert_eq!(got, want, "{scale:?} {raw:?} {verdict:?}");
            if verdict != Some(Verdict::Clean) {
                assert_ne!(Verdict::of_score(got), Verdict::Clean);
            } else {
                assert_eq!(Verdict::of_score(got), Verdict::Clean);
            }
        }
        assert_eq!(ScoreScale::parse("THOR"), Some(Loki));
        assert_eq!(ScoreScale::parse("alibaba"), Some(Hashscan));
        assert_eq!(ScoreScale::parse("none"), Some(Ignore));
        assert_eq!(ScoreScale::parse("percent"), None);
        assert_eq!(Verdict::parse(" Clean "), Some(Verdict::Clean));
    }

    #[test]
    fn the_top_hit_decides_and_an_allow_list_wins() {
        let hits = [
            hit(EngineKind::Yara, 75, ThreatType::Suspicious),
            hit(EngineKind::Hashlist, 100, ThreatType::Trojan),
        ];
        let (v, s, t, n) = conclude(&hits, true);
        assert_eq!(
            (v, s, t, n.as_deref()),
            (
                Verdict::Malicious,
                100,
                Some(ThreatType::Trojan),
                Some("Hashlist-100")
            )
        );
        let mut with_allow = hits.to_vec();
        with_allow.push(hit(EngineKind::Allowlist, 0, ThreatType::Malware));
        assert_eq!(conclude(&with_allow, true).0, Verdict::Clean);
        assert_eq!(conclude(&[], true).0, Verdict::Clean);
        assert_eq!(conclude(&[], false).0, Verdict::Unknown);
        let low = [hit(EngineKind::Yara, 30, ThreatType::Suspicious)];
        assert_eq!(conclude(&low, true), (Verdict::Clean, 30, None, None));
        assert_eq!(conclude(&low, false).0, Verdict::Unknown);
    }

    #[test]
    fn threat_types_parse_in_any_case_and_from_signature_names() {
        assert_eq!(ThreatType::parse("WEBSHELL"), Some(ThreatType::WebShell));
        assert_eq!(
            ThreatType::parse("ransomware"),
            Some(ThreatType::RansomWare)
        );
        assert_eq!(ThreatType::parse("nope"), None);
        assert_eq!(
            ThreatType::from_signature_name("Eicar-Test-Signature"),
            ThreatType::Engtest
        );
        assert_eq!(
            ThreatType::from_signature_name("Win.Trojan.Agent-1234"),
            ThreatType::Trojan
        );
        assert_eq!(
            ThreatType::from_signature_name("Php.Webshell.C99"),
            ThreatType::WebShell
        );
        assert_eq!(
            ThreatType::from_signature_name("Unix.Malware.X"),
            ThreatType::Malware
        );
        assert_eq!(
            ThreatType::guess("WEBSHELL_PHP_Generic_Eval"),
            Some(ThreatType::WebShell)
        );
        assert_eq!(ThreatType::guess("HKTL_Tool"), Some(ThreatType::Hacktool));
        assert_eq!(ThreatType::guess("SUSP_Thing"), None);
        let json = serde_json::to_string(&ThreatType::WebShell).unwrap();
        assert_eq!(json, "\"WebShell\"");
    }
}
