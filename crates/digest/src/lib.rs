//! One-pass multi-algorithm hashing for hashscan.
//!
//! Computes any set of MD5, SHA-1, SHA-256, SHA-512, CRC-64/XZ (COS's `crc64ecma`), CRC-32C
//! and BLAKE3 in one read of the input. The input comes from a [`std::io::Read`]
//! ([`hash_reader`], [`Hasher::update_from_reader`]) or as chunks pushed by the caller
//! ([`Hasher::update`]), which is how the server feeds streamed uploads. Algorithms run on
//! separate cores when that pays (see [`Hasher`]), and memory stays at a few chunks whatever
//! the input size.
//!
//! The crate is plain synchronous Rust: no async runtime, no I/O of its own beyond the
//! reader it is given.
//!
//! ```
//! use hashscan_digest::{Algorithm, AlgorithmSet, hash_bytes};
//! let set: AlgorithmSet = "md5,crc64".parse().unwrap();
//! let d = hash_bytes(set, b"123456789");
//! assert_eq!(d.get(Algorithm::Md5).unwrap().to_hex(), "25f9e794323b453885f5181f1b624d0b");
//! assert_eq!(d.get(Algorithm::Crc64).unwrap().as_u64(), Some(0x995dc9bbdf1939fa));
//! ```

mod algorithm;
mod hasher;
mod output;
mod state;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub use algorithm::{Algorithm, AlgorithmSet, UnknownAlgorithm};
pub use hasher::{DEFAULT_CHUNK_SIZE, Hasher, Options, hash_slice};
pub use output::{Digest, Digests};

/// The CRC-64/XZ of `a` followed by `b`, from the CRC of `a`, the CRC of `b` and the length
/// of `b` — without the bytes (a multipart object's CRC from its parts' CRCs).
pub fn crc64_combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Xz, crc_a, crc_b, len_b)
}

/// Hashes a byte slice on the calling thread.
pub fn hash_bytes(set: AlgorithmSet, data: &[u8]) -> Digests {
    let mut h = Hasher::with_options(set, &Options::new().lanes(1));
    h.update(data);
    h.finish()
}

/// Hashes everything `reader` yields, spreading the algorithms over cores.
pub fn hash_reader<R: Read>(set: AlgorithmSet, mut reader: R) -> io::Result<Digests> {
    let mut h = Hasher::new(set);
    h.update_from_reader(&mut reader)?;
    Ok(h.finish())
}

/// Hashes a file; small files are hashed on the calling thread alone.
pub fn hash_file(set: AlgorithmSet, path: &Path) -> io::Result<Digests> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut h = Hasher::with_options(set, &Options::new().size_hint(size));
    h.update_from_reader(&mut file)?;
    Ok(h.finish())
}

#[cfg(test)]
mod combine_tests {
    use super::*;

    #[test]
    fn crc64_of_parts_combines_to_the_crc64_of_the_whole() {
        let crc = |b: &[u8]| {
            hash_bytes([Algorithm::Crc64].into_iter().collect(), b)
                .get(Algorithm::Crc64)
                .and_then(|d| d.as_u64())
                .unwrap_or_default()
        };
        let whole: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for cut in [0, 1, 4096, 9_999, 10_000] {
            let (a, b) = whole.split_at(cut);
            assert_eq!(
                crc64_combine(crc(a), crc(b), b.len() as u64),
                crc(&whole),
                "{cut}"
            );
        }
    }
}
