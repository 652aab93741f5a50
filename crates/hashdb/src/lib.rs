//! Hash reputation database for hashscan: known-bad and known-good lists keyed by MD5,
//! SHA-1 or SHA-256.
//!
//! A [`Builder`] reads lists in several formats ([`Format`]: ClamAV `.hdb`/`.hsb`/`.fp`/`.sfp`,
//! plain one-hash-per-line lists, CSV with a header such as MalwareBazaar's export), then
//! [`Builder::build`] sorts and de-duplicates everything into a [`HashDb`]: one sorted vector
//! of fixed-size keys per algorithm with compact side tables, looked up by a prefix index plus
//! binary search. Malformed lines never abort a load; they are counted in the [`LoadReport`].
//!
//! Semantics, in short:
//! - A numeric size in a ClamAV line must equal the file's size for a match; `*` matches any.
//! - The same hash listed twice is kept once (the first one loaded wins), except that a
//!   known-good entry always replaces a known-bad one for the same hash, as ClamAV's `.fp`
//!   allow-lists do.
//! - [`HashDb::lookup`] checks a file's three digests; a good match wins over a bad one.
//!
//! ```
//! use hashscan_hashdb::{Digests, Format, HashDb, ListKind};
//! let mut b = HashDb::builder();
//! let list = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";
//! let report = b.load_reader(list.as_bytes(), Format::Hdb, ListKind::Bad, "test.hdb").unwrap();
//! assert_eq!(report.entries, 1);
//! let db = b.build();
//! let md5 = [0x44, 0xd8, 0x86, 0x12, 0xfe, 0xa8, 0xa8, 0xf3,
//!            0x6d, 0xe8, 0x2e, 0x12, 0x78, 0xab, 0xb0, 0x2f];
//! let hit = db.lookup_md5(&md5, Some(68)).unwrap();
//! assert_eq!((hit.kind, hit.name), (ListKind::Bad, "Eicar-Test-Signature"));
//! assert!(db.lookup_md5(&md5, Some(69)).is_none()); // size constraint
//! let digests = Digests { md5, sha1: [0; 20], sha256: [0; 32] };
//! assert!(db.lookup(&digests, 68).is_some());
//! ```

mod builder;
mod csv;
mod db;
mod error;
mod format;
mod hex;
mod intern;
mod line;
mod parse;

pub use builder::Builder;
pub use db::HashDb;
pub use error::HashDbError;
pub use format::Format;

use std::fmt;
use std::str::FromStr;

/// Most problems kept (with line numbers) in a [`LoadReport`]; further ones are only counted.
pub const MAX_REPORTED_PROBLEMS: usize = 20;

/// Longest name accepted (bytes); longer names make the line malformed.
pub const MAX_NAME_LEN: usize = 1024;

/// Whether a list marks files as known-bad (malware) or known-good (allow-listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ListKind {
    /// Known-bad: a match means the file is malware.
    #[default]
    Bad,
    /// Known-good: a match means the file is trusted, overriding any bad match.
    Good,
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListKind::Bad => "bad",
            ListKind::Good => "good",
        })
    }
}

/// Hash algorithm of a list entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// MD5 (16 bytes, 32 hex digits).
    Md5,
    /// SHA-1 (20 bytes, 40 hex digits).
    Sha1,
    /// SHA-256 (32 bytes, 64 hex digits).
    Sha256,
}

impl Algorithm {
    /// The algorithm whose hex form has `len` digits (32, 40 or 64).
    pub fn from_hex_len(len: usize) -> Option<Algorithm> {
        match len {
            32 => Some(Algorithm::Md5),
            40 => Some(Algorithm::Sha1),
            64 => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// Lower-case name: `md5`, `sha1` or `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One hash value of any supported algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashValue {
    /// An MD5 digest.
    Md5([u8; 16]),
    /// A SHA-1 digest.
    Sha1([u8; 20]),
    /// A SHA-256 digest.
    Sha256([u8; 32]),
}

impl HashValue {
    /// Parses 32, 40 or 64 hex digits (either case); the length decides the algorithm.
    pub fn from_hex(hex: &str) -> Option<HashValue> {
        hex::decode_hash(hex.as_bytes())
    }

    /// The algorithm of this value.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            HashValue::Md5(_) => Algorithm::Md5,
            HashValue::Sha1(_) => Algorithm::Sha1,
            HashValue::Sha256(_) => Algorithm::Sha256,
        }
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            HashValue::Md5(b) => b,
            HashValue::Sha1(b) => b,
            HashValue::Sha256(b) => b,
        }
    }
}

impl FromStr for HashValue {
    type Err = HashDbError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HashValue::from_hex(s).ok_or(HashDbError::InvalidHash)
    }
}

impl fmt::Display for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

/// A file's three digests, as computed by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digests {
    /// MD5 of the file.
    pub md5: [u8; 16],
    /// SHA-1 of the file.
    pub sha1: [u8; 20],
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
}

/// A database match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    /// Whether the matching entry is known-bad or known-good.
    pub kind: ListKind,
    /// Which digest matched.
    pub algorithm: Algorithm,
    /// The entry's name (malware name, or a default such as `hashlist:<file stem>`).
    pub name: &'a str,
    /// The list the entry came from (the path or source name given when loading).
    pub source: &'a str,
}

/// What loading one list did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Source name (path) of the list.
    pub source: String,
    /// Format it was read as.
    pub format: Format,
    /// Physical lines read.
    pub lines: u64,
    /// Hashes added to the builder (before de-duplication).
    pub entries: u64,
    /// Malformed lines (or CSV records), skipped.
    pub malformed: u64,
    /// The first [`MAX_REPORTED_PROBLEMS`] malformed lines, in file order.
    pub problems: Vec<Problem>,
}

/// One malformed line of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number (for a multi-line CSV record, its first line).
    pub line: u64,
    /// Why the line was rejected.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl LoadReport {
    fn new(source: &str, format: Format) -> LoadReport {
        LoadReport {
            source: source.to_owned(),
            format,
            lines: 0,
            entries: 0,
            malformed: 0,
            problems: Vec::new(),
        }
    }

    fn malformed(&mut self, line: u64, reason: impl Into<String>) {
        self.malformed += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(Problem {
                line,
                reason: reason.into(),
            });
        }
    }
}
