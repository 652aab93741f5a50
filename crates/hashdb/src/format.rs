//! List formats and their detection.

use std::fmt;
use std::path::Path;

use crate::csv;
use crate::hex;
use crate::types::ListKind;

/// Format of a hash list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// ClamAV `.hdb` (also `.hdu`): `hash:size:MalwareName[:flevel[:flevel]]`, known-bad.
    Hdb,
    /// ClamAV `.hsb` (also `.hsu`): same line shape as `.hdb`, usually SHA-1/SHA-256; known-bad.
    Hsb,
    /// ClamAV `.fp` allow-list: same line shape, usually MD5; known-good.
    Fp,
    /// ClamAV `.sfp` allow-list: same line shape, usually SHA-1/SHA-256; known-good.
    Sfp,
    /// One hex hash per line; `#` comments; text after the hash is ignored.
    HashList,
    /// CSV with a header naming hash columns and optionally a name column.
    Csv,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::Hdb,
        Format::Hsb,
        Format::Fp,
        Format::Sfp,
        Format::HashList,
        Format::Csv,
    ];

    /// The format a file extension stands for (case-insensitive), if unambiguous.
    ///
    /// `.txt` and other generic extensions return `None`: their content decides.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "hdb" | "hdu" => Some(Format::Hdb),
            "hsb" | "hsu" => Some(Format::Hsb),
            "fp" => Some(Format::Fp),
            "sfp" => Some(Format::Sfp),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// Guesses the format from the start of a list.
    ///
    /// ClamAV lines are read as [`Format::Hdb`] (32-digit hash) or [`Format::Hsb`]: the content
    /// cannot tell an allow-list (`.fp`/`.sfp`) from a block-list, only the extension can.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        let mut significant = 0;
        for line in head.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix(b"#") {
                // abuse.ch exports put the CSV header in a comment.
                if csv::header_candidate(comment).is_some() {
                    return Some(Format::Csv);
                }
                continue;
            }
            let mut fields = line.split(|&b| b == b':');
            if let (Some(first), Some(_), Some(_)) = (fields.next(), fields.next(), fields.next())
                && hex::is_hash(first)
            {
                return Some(if first.len() == 32 {
                    Format::Hdb
                } else {
                    Format::Hsb
                });
            }
            let token = line
                .split(|b| b.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            if hex::is_hash(token) {
                return Some(Format::HashList);
            }
            if csv::header_candidate(line).is_some() {
                return Some(Format::Csv);
            }
            significant += 1;
            if significant >= 32 {
                break;
            }
        }
        None
    }

    /// The list kind entries of this format get: ClamAV formats decide themselves,
    /// plain lists and CSV take `requested`.
    pub fn list_kind(self, requested: ListKind) -> ListKind {
        match self {
            Format::Hdb | Format::Hsb => ListKind::Bad,
            Format::Fp | Format::Sfp => ListKind::Good,
            Format::HashList | Format::Csv => requested,
        }
    }

    /// Short name, e.g. `hdb`, `hashlist`, `csv`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Hdb => "hdb",
            Format::Hsb => "hsb",
            Format::Fp => "fp",
            Format::Sfp => "sfp",
            Format::HashList => "hashlist",
            Format::Csv => "csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Known extensions of files that are not file-hash lists, with what they are.
pub(crate) fn unsupported_extension(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "mdb" | "mdu" | "msb" | "msu" => Some("a ClamAV PE-section hash list"),
        "imp" => Some("a ClamAV import-table hash list"),
        "cvd" | "cld" | "cud" => Some("a packed ClamAV database (unpack it with sigtool)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(
            Format::from_path(Path::new("a/main.HDB")),
            Some(Format::Hdb)
        );
        assert_eq!(Format::from_path(Path::new("x.sfp")), Some(Format::Sfp));
        assert_eq!(Format::from_path(Path::new("x.txt")), None);
        assert_eq!(Format::from_path(Path::new("noext")), None);
        assert!(unsupported_extension(Path::new("main.mdb")).is_some());
    }

    #[test]
    fn sniffing() {
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        let sha1 = "3395856ce81f2b7382dee72602f798b642f14140";
        assert_eq!(
            Format::sniff(format!("{md5}:68:Eicar\n").as_bytes()),
            Some(Format::Hdb)
        );
        assert_eq!(
            Format::sniff(format!("{sha1}:*:X:73\n").as_bytes()),
            Some(Format::Hsb)
        );
        assert_eq!(
            Format::sniff(format!("# comment\n\n{sha1}\r\n").as_bytes()),
            Some(Format::HashList)
        );
        assert_eq!(
            Format::sniff(format!("{md5}  file.exe\n").as_bytes()),
            Some(Format::HashList)
        );
        assert_eq!(
            Format::sniff(b"#####\n# \"first_seen_utc\",\"sha256_hash\",\"signature\"\n\"x\""),
            Some(Format::Csv)
        );
        assert_eq!(Format::sniff(b"SHA256,Name\nabc,def\n"), Some(Format::Csv));
        assert_eq!(Format::sniff(b"hello world\n"), None);
        assert_eq!(Format::sniff(b""), None);
    }
}
