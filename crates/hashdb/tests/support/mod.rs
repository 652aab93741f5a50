//! Deterministic generated hash lists, shared by the large-list test, the benchmark and the
//! `hashdb_load` example (included with `#[path]`).
#![allow(dead_code)]

use sha2::{Digest, Sha256};

/// The SHA-256 of counter `i`: entry `i` of every generated list.
pub fn sha256_of(i: u64) -> [u8; 32] {
    Sha256::digest(i.to_le_bytes()).into()
}

/// Appends `bytes` as lower-case hex.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}
