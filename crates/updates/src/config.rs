//! The `[rules]` section: where updates come from and the limits they are fetched under.

use serde::Deserialize;

/// Rule and intelligence updates (`[rules]` in the configuration file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateConfig {
    /// The sources, fetched in this order.
    pub sources: Vec<SourceConfig>,
    /// Seconds between two scheduled updates of a running server; 0: only
    /// `hashscan rules update`. Default 7200 (2 h).
    pub interval_secs: u64,
    /// Largest download of one source (or signature), in bytes. Default 64 MiB.
    pub max_download_bytes: u64,
    /// Most bytes an archive of one source may expand to. Default 256 MiB.
    pub max_unpacked_bytes: u64,
    /// Most files in an archive of one source. Default 5000.
    pub max_files: u32,
    /// Longest download of one source, in seconds. Default 300.
    pub timeout_secs: u64,
    /// Installed versions kept for rollback (the current one and the one before it are
    /// always kept). Default 5.
    pub keep_versions: usize,
    /// Where ClamAV databases of `kind = "clamav"` sources are copied for clamd: its
    /// `DatabaseDirectory` (or a directory clamd reads). Required by such sources.
    pub clamav_dir: Option<std::path::PathBuf>,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            sources: Vec::new(),
            interval_secs: 7200,
            max_download_bytes: 64 << 20,
            max_unpacked_bytes: 256 << 20,
            max_files: 5000,
            timeout_secs: 300,
            keep_versions: 5,
            clamav_dir: None,
        }
    }
}

/// What a source holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// YARA rules: one `.yar`/`.yara` file, or an archive (`.tar.gz`, `.zip`, …) of them.
    Yara,
    /// A hash list (MalwareBazaar CSV export, ClamAV `.hdb`/`.hsb`/`.fp`, plain list), or an
    /// archive of lists (MalwareBazaar's `full.csv.zip`).
    Hashlist,
    /// ClamAV databases for clamd (`.cvd`, `.cld`, `.hdb`, `.ndb`, `.ldb` …), or an archive of
    /// them: copied into `clamav_dir`, then clamd is told to reload.
    Clamav,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Yara => "yara",
            SourceKind::Hashlist => "hashlist",
            SourceKind::Clamav => "clamav",
        }
    }
}

/// One source (`[[rules.sources]]`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A short name: letters, digits, `-` and `_` (it names the source's directory and its
    /// rules' namespace, `updates/<name>/…`).
    pub name: String,
    pub kind: SourceKind,
    /// An `https://` URL.
    pub url: String,
    /// The download's SHA-256 (hex): the pack is exactly this file.
    #[serde(default)]
    pub sha256: Option<String>,
    /// A minisign public key (`RW…`, the second line of `minisign.pub`): the download must
    /// carry a valid signature by it, fetched from `signature_url`.
    #[serde(default)]
    pub minisign_key: Option<String>,
    /// Where the signature is; default: `url` + `.minisig`.
    #[serde(default)]
    pub signature_url: Option<String>,
    /// The name a download that is not an archive is installed under (its extension tells a
    /// hash list's format); default: the last segment of the URL's path.
    #[serde(default)]
    pub file_name: Option<String>,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &shown_url(&self.url))
            .field("sha256", &self.sha256)
            .field("minisign_key", &self.minisign_key)
            .finish_non_exhaustive()
    }
}

/// How a download is trusted.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Exactly the file with this SHA-256.
    Sha256([u8; 32]),
    /// Signed by this minisign key; the signature is at the URL.
    Minisign {
        key: minisign_verify::PublicKey,
        signature_url: String,
    },
}

impl SourceConfig {
    /// Checks the source and says how its download is trusted. A source with neither a
    /// `sha256` pin nor a `minisign_key` is refused: an update must not be whatever a
    /// server (or whoever stands between) sends.
    pub fn trust(&self) -> Result<Trust, String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(format!(
                "source name {:?}: use 1 to 64 letters, digits, '-' or '_'",
                self.name
            ));
        }
        check_https(&self.url).map_err(|e| format!("source {}: url: {e}", self.name))?;
        match (&self.sha256, &self.minisign_key) {
            (Some(_), Some(_)) => Err(format!(
                "source {}: give either sha256 or minisign_key, not both",
                self.name
            )),
            (None, None) => Err(format!(
                "source {}: neither sha256 nor minisign_key: an unverified source is refused",
                self.name
            )),
            (Some(pin), None) => {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(pin.trim(), &mut digest)
                    .map_err(|_| format!("source {}: sha256 is not 64 hex digits", self.name))?;
                Ok(Trust::Sha256(digest))
            }
            (None, Some(key)) => {
                let key = minisign_verify::PublicKey::from_base64(key.trim())
                    .map_err(|e| format!("source {}: minisign_key: {e}", self.name))?;
                let signature_url = match &self.signature_url {
                    Some(u) => u.clone(),
                    None => signature_url_of(&self.url),
                };
                check_https(&signature_url)
                    .map_err(|e| format!("source {}: signature_url: {e}", self.name))?;
                Ok(Trust::Minisign { key, signature_url })
            }
        }
    }
}

impl UpdateConfig {
    /// Every problem of the sources (names, URLs, pins, keys, duplicates).
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .sources
            .iter()
            .filter_map(|s| s.trust().err())
            .collect();
        if self.clamav_dir.is_none() && self.sources.iter().any(|s| s.kind == SourceKind::Clamav) {
            out.push(
                "a source of kind \"clamav\" needs [rules] clamav_dir (clamd's database directory)"
                    .into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.sources {
            if !seen.insert(s.name.to_ascii_lowercase()) {
                out.push(format!("source name {:?} is used twice", s.name));
            }
        }
        out
    }
}

/// `url` + `.minisig`, before any query.
fn signature_url_of(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{base}.minisig?{query}"),
        None => format!("{url}.minisig"),
    }
}

fn check_https(url: &str) -> Result<(), String> {
    let Some(rest) = url.trim().get(..8) else {
        return Err("not an https:// URL".into());
    };
    if !rest.eq_ignore_ascii_case("https://") {
        return Err("not an https:// URL".into());
    }
    Ok(())
}

/// A URL as shown in logs and manifests: without its query and fragment (signed URLs carry
/// credentials there).
pub fn shown_url(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn source(extra: &str) -> Result<SourceConfig, toml::de::Error> {
        toml::from_str(&format!(
            "name = \"pack\"\nkind = \"yara\"\nurl = \"https://rules.example/p.tar.gz\"\n{extra}"
        ))
    }

    #[test]
    fn a_source_needs_a_pin_or_a_key() {
        let s = source("").unwrap();
        assert!(s.trust().unwrap_err().contains("neither"));
        let s = source(&format!("sha256 = \"{}\"", "ab".repeat(32))).unwrap();
        assert!(matches!(s.trust(), Ok(Trust::Sha256(d)) if d == [0xab; 32]));
        let s = source("sha256 = \"abc\"").unwrap();
        assert!(s.trust().is_err());
        let s = source("minisign_key = \"not a key\"").unwrap();
        assert!(s.trust().is_err());
        let key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
        let s = source(&format!("minisign_key = \"{key}\"")).unwrap();
        match s.trust().unwrap() {
            Trust::Minisign { signature_url, .. } => {
                assert_eq!(signature_url, "https://rules.example/p.tar.gz.minisig");
            }
            other => panic!("{other:?}"),
        }
        assert!(source("colour = 1").is_err(), "unknown keys are refused");
        let plain: SourceConfig = toml::from_str(&format!(
            "name = \"p\"\nkind = \"hashlist\"\nurl = \"http://x/y\"\nsha256 = \"{}\"",
            "00".repeat(32)
        ))
        .unwrap();
        assert!(plain.trust().unwrap_err().contains("https"));
    }

    #[test]
    fn names_are_checked_and_unique() {
        let c: UpdateConfig = toml::from_str(&format!(
            "[[sources]]\nname = \"a\"\nkind = \"yara\"\nurl = \"https://x/a.yar\"\nsha256 = \"{p}\"\n\
             [[sources]]\nname = \"A\"\nkind = \"yara\"\nurl = \"https://x/b.yar\"\nsha256 = \"{p}\"\n\
             [[sources]]\nname = \"../x\"\nkind = \"yara\"\nurl = \"https://x/c.yar\"\nsha256 = \"{p}\"\n",
            p = "00".repeat(32)
        ))
        .unwrap();
        let problems = c.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn urls_are_shown_without_query() {
        assert_eq!(shown_url("https://h/p?sig=secret"), "https://h/p");
        assert_eq!(
            signature_url_of("https://h/p.zip?t=1"),
            "https://h/p.zip.minisig?t=1"
        );
    }
}
