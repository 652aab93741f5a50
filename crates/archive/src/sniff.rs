//! Archive format detection from magic bytes (and, for a whole buffer, from a zip's end
//! record: self-extractors).

use crate::{Format, zipscan};

const SEVEN_Z_MAGIC: &[u8] = b"7z\xBC\xAF\x27\x1C";
const XZ_MAGIC: &[u8] = b"\xFD7zXZ\x00";
const RAR4_MAGIC: &[u8] = b"Rar!\x1A\x07\x00";
const RAR5_MAGIC: &[u8] = b"Rar!\x1A\x07\x01\x00";
/// bzip2 block magic (BCD of pi) and end-of-stream magic (BCD of sqrt(pi)).
const BZ_BLOCK_MAGIC: &[u8] = b"\x31\x41\x59\x26\x53\x59";
const BZ_EOS_MAGIC: &[u8] = b"\x17\x72\x45\x38\x50\x90";

/// The archive format of `head` (the first bytes of a file; 512 are enough for every format),
/// from magic numbers at fixed offsets: zip local/empty/spanned headers, `ustar` at offset 257
/// or a valid old-style tar header checksum, gzip (deflate method), `BZh` with a block magic,
/// xz, 7z and RAR 4/5 signatures.
#[must_use]
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"PK\x03\x04")
        || head.starts_with(b"PK\x05\x06")
        || head.starts_with(b"PK\x07\x08PK\x03\x04")
    {
        return Some(Format::Zip);
    }
    if head.starts_with(SEVEN_Z_MAGIC) {
        return Some(Format::SevenZip);
    }
    if head.starts_with(RAR4_MAGIC) || head.starts_with(RAR5_MAGIC) {
        return Some(Format::Rar);
    }
    if head.starts_with(XZ_MAGIC) {
        return Some(Format::Xz);
    }
    if head.starts_with(b"\x1F\x8B\x08") {
        return Some(Format::Gzip);
    }
    if is_bzip2(head) {
        return Some(Format::Bzip2);
    }
    if is_tar(head) {
        return Some(Format::Tar);
    }
    None
}

/// The archive format of a whole buffer: [`sniff`] of its first bytes, else a zip that ends
/// `data` behind a prefix (a self-extracting executable, or anything with a zip appended),
/// found from its end record and checked against its central directory and first local
/// header.
#[must_use]
pub fn sniff_buffer(data: &[u8]) -> Option<Format> {
    sniff(data).or_else(|| zipscan::zip_at_end(data).then_some(Format::Zip))
}

fn is_bzip2(head: &[u8]) -> bool {
    head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && (&head[4..10] == BZ_BLOCK_MAGIC || &head[4..10] == BZ_EOS_MAGIC)
}

/// A tar header: `ustar` magic at 257, or (pre-POSIX tar) a header whose checksum field
/// matches the sum of its bytes.
pub(crate) fn is_tar(head: &[u8]) -> bool {
    let Some(header) = head.get(..512) else {
        return false;
    };
    if &header[257..262] == b"ustar" {
        return true;
    }
    // Old-style (v7) header: a name, octal fields, and a checksum that adds up.
    // 8 spaces alone sum to 256: a header of zeros with a checksum of 256 is no tar.
    checked_sum(header).is_some_and(|sum| sum > 256) && parse_octal(&header[124..136]).is_some()
}

/// A tar header block whose checksum adds up (unsigned sum, the checksum field counted as
/// spaces), with a name: where a damaged tar can be walked on from.
pub(crate) fn tar_header_valid(block: &[u8]) -> bool {
    block.get(..512).and_then(checked_sum).is_some()
}

/// The checksum of a 512-byte header with a name, when it matches the stored one: the
/// unsigned sum of its bytes, the checksum field counted as spaces.
fn checked_sum(header: &[u8]) -> Option<u64> {
    if header.first().is_none_or(|&b| b == 0) {
        return None;
    }
    let stored = parse_octal(header.get(148..156)?)?;
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    (stored == sum).then_some(sum)
}

/// An octal number field: optional leading spaces, octal digits, then NULs or spaces.
fn parse_octal(field: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    let mut digits = 0;
    let mut ended = false;
    for &b in field {
        match b {
            b' ' if digits == 0 && !ended => {}
            b'0'..=b'7' if !ended => {
                value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
                digits += 1;
            }
            0 | b' ' => ended = true,
            _ => return None,
        }
    }
    (digits > 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Format::Zip));
        assert_eq!(sniff(b"PK\x05\x06"), Some(Format::Zip));
        assert_eq!(sniff(b"7z\xBC\xAF\x27\x1C\x00\x04"), Some(Format::SevenZip));
        assert_eq!(sniff(b"Rar!\x1A\x07\x00"), Some(Format::Rar));
        assert_eq!(sniff(b"Rar!\x1A\x07\x01\x00"), Some(Format::Rar));
        assert_eq!(sniff(b"\xFD7zXZ\x00\x00"), Some(Format::Xz));
        assert_eq!(sniff(b"\x1F\x8B\x08\x00"), Some(Format::Gzip));
        assert_eq!(sniff(b"BZh91AY&SY"), Some(Format::Bzip2));
        assert_eq!(sniff(b"BZh9\x17\x72\x45\x38\x50\x90"), Some(Format::Bzip2));
        assert_eq!(sniff(b"BZh0"), None);
        assert_eq!(sniff(b"\x1F\x8B\x07"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(&[0u8; 1024]), None);
        assert_eq!(sniff(b"hello world"), None);
    }

    #[test]
    fn tar_headers() {
        let mut h = [0u8; 512];
        h[..5].copy_from_slice(b"a.txt");
        h[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(sniff(&h), Some(Format::Tar));

        // v7: no magic, valid checksum.
        let mut v7 = [0u8; 512];
        v7[..5].copy_from_slice(b"a.txt");
        v7[100..107].copy_from_slice(b"0000644");
        v7[124..135].copy_from_slice(b"00000000005");
        let sum: u32 = v7.iter().map(|&b| u32::from(b)).sum::<u32>() + 8 * 32;
        let field = format!("{sum:06o}\0 ");
        v7[148..156].copy_from_slice(field.as_bytes());
        assert_eq!(sniff(&v7), Some(Format::Tar));
        v7[0] = b'b';
        assert_eq!(sniff(&v7), None, "checksum no longer matches");
    }

    #[test]
    fn octal() {
        assert_eq!(parse_octal(b"  0644\0"), Some(0o644));
        assert_eq!(parse_octal(b"0000000\0"), Some(0));
        assert_eq!(parse_octal(b"\0\0\0"), None);
        assert_eq!(parse_octal(b"12 9"), None);
        assert_eq!(parse_octal(b"77777777777777777777777"), None);
    }
}
