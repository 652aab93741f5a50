//! Finished digests and how they are written out.

use std::fmt;

use base64::Engine as _;

use crate::Algorithm;

/// The digest of one algorithm over the whole input.
///
/// CRCs are stored big-endian, so their hex form reads as the number (`995dc9bbdf1939fa`
/// for the CRC-64/XZ check value) and their base64 form is what S3-style headers carry.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    bytes: [u8; 64],
}

impl Digest {
    pub(crate) fn new(algorithm: Algorithm, value: &[u8]) -> Self {
        let mut bytes = [0u8; 64];
        bytes[..value.len()].copy_from_slice(value);
        Digest { algorithm, bytes }
    }

    /// The algorithm that produced this digest.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.output_len()]
    }

    /// Lower-case hexadecimal, as md5sum and the cloud APIs print it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// Standard base64 with padding, as `Content-MD5` carries it.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.as_bytes())
    }

    /// The value of a CRC as an integer (COS sends `x-cos-hash-crc64ecma` in decimal);
    /// `None` for cryptographic digests.
    pub fn as_u64(&self) -> Option<u64> {
        match self.algorithm {
            Algorithm::Crc64 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.bytes[..8]);
                Some(u64::from_be_bytes(b))
            }
            Algorithm::Crc32c => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&self.bytes[..4]);
                Some(u64::from(u32::from_be_bytes(b)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self)
    }
}

/// Every digest of one input, with the number of bytes hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    size: u64,
    digests: Vec<Digest>,
}

impl Digests {
    pub(crate) fn new(size: u64, mut digests: Vec<Digest>) -> Self {
        digests.sort_by_key(|d| d.algorithm);
        Digests { size, digests }
    }

    /// Number of bytes hashed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest of `alg`, if it was computed.
    pub fn get(&self, alg: Algorithm) -> Option<&Digest> {
        self.digests.iter().find(|d| d.algorithm == alg)
    }

    /// Every digest, in report order.
    pub fn iter(&self) -> impl Iterator<Item = &Digest> {
        self.digests.iter()
    }
}
