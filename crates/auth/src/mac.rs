//! HMAC and hash helpers shared by the schemes.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;
type HmacSha256 = Hmac<Sha256>;

/// Brings a key of any length to the hash's block size the way HMAC itself does (hash it when
/// longer, pad with zeros), so that the infallible `KeyInit::new` can be used instead of
/// `new_from_slice`, whose error case would have to be unwrapped.
macro_rules! block_key {
    ($mac:ty, $hash:ty, $key:expr) => {{
        let mut block = hmac::digest::Key::<$mac>::default();
        let key: &[u8] = $key;
        if key.len() > block.len() {
            let hashed = <$hash>::digest(key);
            block
                .iter_mut()
                .zip(hashed.iter())
                .for_each(|(d, s)| *d = *s);
        } else {
            block.iter_mut().zip(key.iter()).for_each(|(d, s)| *d = *s);
        }
        block
    }};
}

/// HMAC-SHA1 of `msg` under `key`.
pub(crate) fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut mac = <HmacSha1 as KeyInit>::new(&block_key!(HmacSha1, Sha1, key));
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of `msg` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new(&block_key!(HmacSha256, Sha256, key));
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// SHA-1 of `data`.
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Constant-time equality of two byte strings (the length itself is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Decodes exactly `N` bytes of hex (either case); `None` for anything else.
pub(crate) fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn block_key_matches_new_from_slice_for_all_key_lengths() {
        for len in [0usize, 1, 20, 63, 64, 65, 200] {
            let key = vec![0x5au8; len];
            let mut a = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
            a.update(b"msg");
            let a: [u8; 32] = a.finalize().into_bytes().into();
            assert_eq!(a, hmac_sha256(&key, b"msg"), "sha256 key len {len}");
            let mut b = <HmacSha1 as Mac>::new_from_slice(&key).unwrap();
            b.update(b"msg");
            let b: [u8; 20] = b.finalize().into_bytes().into();
            assert_eq!(b, hmac_sha1(&key, b"msg"), "sha1 key len {len}");
        }
    }

    #[test]
    fn rfc2202_and_rfc4231_known_answers() {
        // RFC 2202 test case 2 and RFC 4231 test case 2 ("Jefe").
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
