//! Hex decoding into fixed-size byte arrays, and lower-case hex encoding.

const INVALID: u8 = 0xff;

/// Nibble value of each byte, or `INVALID`.
static NIBBLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes exactly `2 * N` hex digits.
pub(crate) fn decode<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = NIBBLE[usize::from(pair[0])];
        let lo = NIBBLE[usize::from(pair[1])];
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    // Valid nibbles are < 16; INVALID sets the high bits.
    (bad & 0xf0 == 0).then_some(out)
}

/// Whether `s` is a 32/40/64-digit hex string.
pub(crate) fn is_hash(s: &[u8]) -> bool {
    matches!(s.len(), 32 | 40 | 64) && s.iter().all(|&b| NIBBLE[usize::from(b)] != INVALID)
}

/// Lower-case hex.
pub(crate) fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let h: [u8; 16] = decode(b"44D88612fea8a8f36de82e1278abb02f").unwrap();
        assert_eq!(encode(&h), "44d88612fea8a8f36de82e1278abb02f");
        assert!(decode::<16>(b"44d88612fea8a8f36de82e1278abb02g").is_none());
        assert!(decode::<16>(b"44d88612fea8a8f36de82e1278abb02").is_none());
        assert!(decode::<2>(b"0x00").is_none());
        assert!(is_hash(&[b'F'; 64]));
        assert!(!is_hash(b"zz"));
    }
}
