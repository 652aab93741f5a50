//! The value types every other module shares: list kind, hash algorithm, hash value, a
//! file's digests and a lookup hit. Depends only on `hex` and `error`.

use std::fmt;
use std::str::FromStr;

use crate::error::HashDbError;
use crate::hex;

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
        decode_hash(hex.as_bytes())
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

/// Decodes a 32/40/64-digit hex hash; the length decides the algorithm.
pub(crate) fn decode_hash(hex: &[u8]) -> Option<HashValue> {
    match hex.len() {
        32 => hex::decode(hex).map(HashValue::Md5),
        40 => hex::decode(hex).map(HashValue::Sha1),
        64 => hex::decode(hex).map(HashValue::Sha256),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_by_length() {
        assert!(decode_hash(&[b'a'; 40]).is_some());
        assert!(decode_hash(&[b'a'; 41]).is_none());
    }
}
