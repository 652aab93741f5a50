//! A pre-flight check of a 7z archive's header, before `sevenz-rust2` opens it.
//!
//! `sevenz-rust2` decodes a compressed ("encoded") header whole into memory, with the size the
//! archive declares for it, and searches the file for a header when the start header is
//! zeroed. A few hundred bytes can therefore declare a multi-GiB header (a header bomb).
//! This module parses just enough of the signature header and of the encoded header's
//! `StreamsInfo` (7zFormat.txt) to bound the decoded size and to spot an encrypted header.

/// The AES-256 + SHA-256 coder id.
const AES: &[u8] = &[0x06, 0xF1, 0x07, 0x01];
const K_END: u8 = 0x00;
const K_HEADER: u8 = 0x01;
const K_PACK_INFO: u8 = 0x06;
const K_UNPACK_INFO: u8 = 0x07;
const K_SIZE: u8 = 0x09;
const K_CRC: u8 = 0x0A;
const K_FOLDER: u8 = 0x0B;
const K_CODERS_UNPACK_SIZE: u8 = 0x0C;
const K_ENCODED_HEADER: u8 = 0x17;
/// 7-Zip's own bound on the streams of one folder.
const MAX_STREAMS: u64 = 64;

/// What the header check found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A plain header: parsed by `sevenz-rust2` from the bytes in the file.
    Plain,
    /// A compressed header whose decoded size is within the bound: `decoded` bytes (the sum
    /// of its coders' outputs) once decoded.
    Encoded { decoded: u64 },
    /// The header is encrypted: names and contents need the password.
    EncryptedHeader,
    /// Valid but not expanded (a limit, or a layout that is not supported).
    Refuse(String),
    /// Malformed.
    Corrupt(String),
}

/// Checks the header of the 7z archive `data`, allowing a decoded header of `max_header` bytes.
pub(crate) fn check(data: &[u8], max_header: u64) -> Verdict {
    let Some(start) = data.get(..32) else {
        return Verdict::Corrupt("shorter than the 32-byte signature header".to_owned());
    };
    let le64 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&start[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let start_crc = u32::from_le_bytes([start[8], start[9], start[10], start[11]]);
    if start_crc == 0 && start[12..32].iter().all(|&b| b == 0) {
        return Verdict::Refuse(
            "7z start header is empty (an unfinished archive): its header would have to be \
             searched for"
                .to_owned(),
        );
    }
    let (offset, size) = (le64(12), le64(20));
    let range = 32u64
        .checked_add(offset)
        .and_then(|from| Some((from, from.checked_add(size)?)))
        .and_then(|(from, to)| Some((usize::try_from(from).ok()?, usize::try_from(to).ok()?)));
    let Some(header) = range.and_then(|(from, to)| data.get(from..to)) else {
        return Verdict::Corrupt("next header lies outside the data".to_owned());
    };
    match header.first() {
        None | Some(&K_HEADER) => Verdict::Plain,
        Some(&K_ENCODED_HEADER) => {
            let mut reader = Reader {
                data: header,
                pos: 1,
            };
            match encoded_header(&mut reader, max_header) {
                Some(verdict) => verdict,
                None => Verdict::Corrupt("malformed encoded header".to_owned()),
            }
        }
        Some(other) => Verdict::Corrupt(format!("unknown header type {other:#04x}")),
    }
}

/// Parses the `StreamsInfo` of an encoded header; `None` when malformed.
fn encoded_header(r: &mut Reader<'_>, max_header: u64) -> Option<Verdict> {
    let mut nid = r.byte()?;
    if nid == K_PACK_INFO {
        r.number()?; // pack position
        let streams = r.number()?;
        loop {
            match r.byte()? {
                K_END => break,
                K_SIZE => {
                    for _ in 0..streams {
                        r.number()?;
                    }
                }
                K_CRC => r.digests(streams)?,
                _ => return None,
            }
        }
        nid = r.byte()?;
    }
    if nid != K_UNPACK_INFO || r.byte()? != K_FOLDER {
        return None;
    }
    let folders = r.number()?;
    if r.byte()? != 0 {
        return Some(Verdict::Refuse(
            "7z header stored in an external stream".to_owned(),
        ));
    }
    let mut outputs = 0u64;
    let mut decoded = 0u64;
    let mut encrypted = false;
    for _ in 0..folders {
        let (outs, aes) = folder(r)?;
        outputs = outputs.checked_add(outs)?;
        encrypted |= aes;
    }
    if r.byte()? != K_CODERS_UNPACK_SIZE {
        return None;
    }
    for _ in 0..outputs {
        let size = r.number()?;
        if size > max_header {
            return Some(Verdict::Refuse(format!(
                "7z header declares {size} bytes once decoded, more than max_member_bytes \
                 ({max_header})"
            )));
        }
        decoded = decoded.saturating_add(size);
    }
    Some(if encrypted {
        Verdict::EncryptedHeader
    } else {
        Verdict::Encoded { decoded }
    })
}

/// Parses one folder; returns its number of output streams and whether it decrypts.
fn folder(r: &mut Reader<'_>) -> Option<(u64, bool)> {
    let coders = r.number()?;
    if coders == 0 || coders > MAX_STREAMS {
        return None;
    }
    let (mut ins, mut outs) = (0u64, 0u64);
    let mut aes = false;
    for _ in 0..coders {
        let flags = r.byte()?;
        if flags & 0x80 != 0 {
            return None; // alternative methods: never written by 7-Zip
        }
        let id = r.take(u64::from(flags & 0x0F))?;
        aes |= id == AES;
        if flags & 0x10 != 0 {
            ins = ins.checked_add(r.number()?)?;
            outs = outs.checked_add(r.number()?)?;
        } else {
            ins += 1;
            outs += 1;
        }
        if ins > MAX_STREAMS || outs > MAX_STREAMS {
            return None;
        }
        if flags & 0x20 != 0 {
            let len = r.number()?;
            r.take(len)?;
        }
    }
    let bind_pairs = outs.checked_sub(1)?;
    for _ in 0..bind_pairs {
        r.number()?;
        r.number()?;
    }
    let packed = ins.checked_sub(bind_pairs)?;
    if packed > 1 {
        for _ in 0..packed {
            r.number()?;
        }
    }
    Some((outs, aes))
}

/// A cursor over header bytes; every read fails past the end.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, len: u64) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(usize::try_from(len).ok()?)?;
        let bytes = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// 7z's variable-length `NUMBER`: the leading one bits of the first byte count the extra
    /// little-endian bytes.
    fn number(&mut self) -> Option<u64> {
        let first = self.byte()?;
        let mut mask = 0x80u8;
        let mut value = 0u64;
        for i in 0..8 {
            if first & mask == 0 {
                let high = u64::from(first & mask.wrapping_sub(1));
                return Some(value | (high << (8 * i)));
            }
            value |= u64::from(self.byte()?) << (8 * i);
            mask >>= 1;
        }
        Some(value)
    }

    /// A digests record for `count` streams: an all-defined flag or bit field, then CRCs.
    fn digests(&mut self, count: u64) -> Option<()> {
        let all = self.byte()?;
        let defined = if all == 0 {
            let bits = self.take(count.div_ceil(8))?;
            u64::from(bits.iter().map(|b| b.count_ones()).sum::<u32>())
        } else {
            count
        };
        self.take(defined.checked_mul(4)?)?;
        Some(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader<'_> {
        Reader {
            data: bytes,
            pos: 0,
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(reader(&[0x05]).number(), Some(5));
        assert_eq!(reader(&[0x7F]).number(), Some(0x7F));
        assert_eq!(reader(&[0x80, 0xFF]).number(), Some(0xFF));
        assert_eq!(reader(&[0x81, 0x02]).number(), Some(0x102));
        assert_eq!(reader(&[0xC0, 0x34, 0x12]).number(), Some(0x1234));
        assert_eq!(
            reader(&[0xFF, 1, 2, 3, 4, 5, 6, 7, 8]).number(),
            Some(0x0807_0605_0403_0201)
        );
        assert_eq!(reader(&[0xFF, 1, 2]).number(), None);
        assert_eq!(reader(&[]).number(), None);
    }

    #[test]
    fn short_and_zeroed() {
        assert!(matches!(
            check(b"7z\xBC\xAF\x27\x1C", 1 << 20),
            Verdict::Corrupt(_)
        ));
        let mut zeroed = b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec();
        zeroed.resize(64, 0);
        assert!(matches!(check(&zeroed, 1 << 20), Verdict::Refuse(_)));
    }

    /// Archives written by `sevenz-rust2` have LZMA-compressed headers: parsed, within bounds.
    #[test]
    fn real_encoded_headers() {
        use std::io::Cursor;
        let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
        for i in 0..50 {
            let name = format!("dir/file-{i}.txt");
            w.push_archive_entry(
                sevenz_rust2::ArchiveEntry::new_file(&name),
                Some(name.as_bytes()),
            )
            .unwrap();
        }
        let data = w.finish().unwrap().into_inner();
        assert!(matches!(check(&data, 1 << 20), Verdict::Encoded { decoded } if decoded > 0));
        assert!(matches!(check(&data, 16), Verdict::Refuse(_)));
    }

    /// An encoded header declaring a 4 GiB decoded size is refused before any decoding.
    #[test]
    fn header_bomb_refused() {
        let mut header = vec![
            K_ENCODED_HEADER,
            K_PACK_INFO,
            0x00,
            0x01,
            K_SIZE,
            0x10,
            K_END,
        ];
        // one folder, one LZMA coder with 5 property bytes
        header.extend_from_slice(&[K_UNPACK_INFO, K_FOLDER, 0x01, 0x00, 0x01]);
        header.extend_from_slice(&[0x23, 0x03, 0x01, 0x01, 0x05, 0x5D, 0, 0, 0, 1]);
        // unpack size 0xFFFFFFFF as a 5-byte NUMBER
        header.extend_from_slice(&[K_CODERS_UNPACK_SIZE, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF, K_END]);
        let mut data = b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec();
        data.extend_from_slice(&1u32.to_le_bytes()); // any non-zero CRC
        data.extend_from_slice(&0u64.to_le_bytes());
        data.extend_from_slice(&(header.len() as u64).to_le_bytes());
        data.extend_from_slice(&0u32.to_le_bytes());
        data.extend_from_slice(&header);
        assert!(
            matches!(check(&data, 1 << 30), Verdict::Refuse(_)),
            "{:?}",
            check(&data, 1 << 30)
        );
        assert_eq!(
            check(&data, u64::MAX),
            Verdict::Encoded {
                decoded: 0xFFFF_FFFF
            }
        );
        let report = crate::walk(&data, &crate::Limits::default(), &mut |_| {
            crate::Flow::Continue
        });
        assert_eq!(report.not_expanded.len(), 1, "{report:?}");
        assert!(
            report.not_expanded[0]
                .1
                .contains("declares 4294967295 bytes")
        );
    }
}
