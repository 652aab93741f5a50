//! What a scan concludes: the verdict, its score and threat type, and every engine hit.
//!
//! Scores use Alibaba's bands: 0–60 safe, 61–70 risky, 71–80 suspicious, 81–100 malicious.
//! The verdict follows the highest score: up to 60 clean, 61–80 suspicious, above 80
//! malicious; `unknown` when nothing matched but the file could not be scanned in full
//! (timeout, too large, read error). An allow-list (known-good) hash makes a file clean
//! whatever else matched.

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
            ("virus", ThreatType::Virus),
            ("trojan", ThreatType::Trojan),
        ];
        WORDS
            .iter()
            .find(|(w, _)| lower.contains(w))
            .map_or(ThreatType::Malware, |(_, t)| *t)
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
        let json = serde_json::to_string(&ThreatType::WebShell).unwrap();
        assert_eq!(json, "\"WebShell\"");
    }
}
