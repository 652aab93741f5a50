//! The algorithms the engine knows, and sets of them.

use std::fmt;
use std::str::FromStr;

/// A hash or checksum algorithm.
///
/// The order of the variants is the order in which digests are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// MD5 (RFC 1321). COS ETags and `Content-MD5` use it.
    Md5,
    /// SHA-1 (FIPS 180-4).
    Sha1,
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-512 (FIPS 180-4).
    Sha512,
    /// CRC-64/XZ: the ECMA-182 polynomial, reflected, init and xorout all ones. This is the
    /// checksum Tencent COS returns in `x-cos-hash-crc64ecma` (as an unsigned decimal).
    Crc64,
    /// CRC-32C (Castagnoli, iSCSI), as S3's `x-amz-checksum-crc32c` uses it.
    Crc32c,
    /// BLAKE3 with its default 256-bit output.
    Blake3,
}

impl Algorithm {
    /// Every algorithm, in report order.
    pub const ALL: [Algorithm; 7] = [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Crc64,
        Algorithm::Crc32c,
        Algorithm::Blake3,
    ];

    /// Lower-case name used on the command line and as JSON key.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Crc64 => "crc64",
            Algorithm::Crc32c => "crc32c",
            Algorithm::Blake3 => "blake3",
        }
    }

    /// Tag of the BSD-style line `TAG (path) = hex`, as coreutils' `--tag` writes it.
    pub fn bsd_tag(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
            Algorithm::Crc64 => "CRC64",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Blake3 => "BLAKE3",
        }
    }

    /// Length of the digest in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 | Algorithm::Blake3 => 32,
            Algorithm::Sha512 => 64,
            Algorithm::Crc64 => 8,
            Algorithm::Crc32c => 4,
        }
    }

    /// Relative cost per byte (measured single-core throughput on x86-64 with SHA-NI, in
    /// tenths of a nanosecond per byte). Used only to balance algorithms across lanes.
    pub(crate) fn cost(self) -> u32 {
        match self {
            Algorithm::Md5 => 17,
            Algorithm::Sha1 => 7,
            Algorithm::Sha256 => 7,
            Algorithm::Sha512 => 19,
            Algorithm::Crc64 => 1,
            Algorithm::Crc32c => 1,
            Algorithm::Blake3 => 2,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An algorithm name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown algorithm '{name}' (known: md5, sha1, sha256, sha512, crc64, crc32c, blake3)")]
pub struct UnknownAlgorithm {
    /// The name as given.
    pub name: String,
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Parses a name case-insensitively; `-` and `_` are ignored, so `SHA-256`, `sha_256`
    /// and `sha256` are the same, and `crc64ecma` (the COS header's name) means `crc64`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let alg = match norm.as_str() {
            "md5" => Algorithm::Md5,
            "sha1" => Algorithm::Sha1,
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "crc64" | "crc64ecma" | "crc64xz" => Algorithm::Crc64,
            "crc32c" => Algorithm::Crc32c,
            "blake3" | "b3" => Algorithm::Blake3,
            _ => {
                return Err(UnknownAlgorithm {
                    name: s.to_string(),
                });
            }
        };
        Ok(alg)
    }
}

/// A set of algorithms, iterated in report order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AlgorithmSet(u8);

impl AlgorithmSet {
    /// The empty set.
    pub const EMPTY: AlgorithmSet = AlgorithmSet(0);

    /// A set of one algorithm.
    pub fn one(alg: Algorithm) -> Self {
        AlgorithmSet(alg.bit())
    }

    /// Every algorithm.
    pub fn all() -> Self {
        Algorithm::ALL.into_iter().collect()
    }

    /// Adds an algorithm.
    pub fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    /// Whether `alg` is in the set.
    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// The union of two sets.
    pub fn union(self, other: AlgorithmSet) -> AlgorithmSet {
        AlgorithmSet(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of algorithms in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The algorithms, in report order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = AlgorithmSet::EMPTY;
        for alg in iter {
            set.insert(alg);
        }
        set
    }
}

impl FromStr for AlgorithmSet {
    type Err = UnknownAlgorithm;

    /// Parses a comma-separated list such as `md5,sha256`. Empty items are ignored; `all`
    /// selects every algorithm. An empty list gives an empty set, which callers reject.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = AlgorithmSet::EMPTY;
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item.eq_ignore_ascii_case("all") {
                set = set.union(AlgorithmSet::all());
            } else {
                set.insert(item.parse()?);
            }
        }
        Ok(set)
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alg) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(alg.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_any_case_and_spelling() {
        assert_eq!("SHA-256".parse::<Algorithm>(), Ok(Algorithm::Sha256));
        assert_eq!("md5".parse::<Algorithm>(), Ok(Algorithm::Md5));
        assert_eq!("crc64ecma".parse::<Algorithm>(), Ok(Algorithm::Crc64));
        assert_eq!("BLAKE3".parse::<Algorithm>(), Ok(Algorithm::Blake3));
        let err = "sha3".parse::<Algorithm>().unwrap_err();
        assert_eq!(err.name, "sha3");
        assert!(err.to_string().contains("unknown algorithm 'sha3'"));
    }

    #[test]
    fn sets_parse_and_iterate_in_report_order() {
        let set: AlgorithmSet = "sha256, md5,,sha1".parse().unwrap();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Algorithm::Md5, Algorithm::Sha1, Algorithm::Sha256]
        );
        assert_eq!(set.to_string(), "md5,sha1,sha256");
        assert_eq!(set.len(), 3);
        assert_eq!("all".parse::<AlgorithmSet>().unwrap().len(), 7);
        assert!("".parse::<AlgorithmSet>().unwrap().is_empty());
        assert!("md5,nope".parse::<AlgorithmSet>().is_err());
    }
}
