//! Zip structures read without the `zip` crate's central-directory index: local file headers
//! and data descriptors (to walk a zip whose central directory is damaged or missing, as
//! `unzip` and Python's `zipfile` still extract it), and the end record of a zip that sits
//! behind a prefix (a self-extracting executable), which [`crate::sniff`] cannot see from the
//! first bytes.
//!
//! Everything here parses attacker-supplied bytes: every read is bounds-checked, every search
//! is linear in the data, and the searches for data descriptors share one byte budget per
//! archive.

/// Local file header signature.
pub(crate) const LOCAL_SIG: &[u8; 4] = b"PK\x03\x04";
const CENTRAL_SIG: &[u8; 4] = b"PK\x01\x02";
const END_SIG: &[u8; 4] = b"PK\x05\x06";
const ZIP64_LOCATOR_SIG: &[u8; 4] = b"PK\x06\x07";
const DESCRIPTOR_SIG: &[u8; 4] = b"PK\x07\x08";
/// Fixed part of a local header, signature included.
const LOCAL_FIXED: usize = 30;
/// Fixed part of the end of central directory record.
const END_FIXED: usize = 22;
/// The zip method of a stored (uncompressed) member.
pub(crate) const STORED: u16 = 0;

/// The first `needle` in `hay` at or after `from`.
pub(crate) fn find(hay: &[u8], needle: &[u8; 4], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn le16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn le32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn le64(data: &[u8], at: usize) -> Option<u64> {
    let b = data.get(at..at.checked_add(8)?)?;
    let mut v = [0u8; 8];
    v.copy_from_slice(b);
    Some(u64::from_le_bytes(v))
}

/// A local file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalHeader {
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    pub compressed_size: u64,
    pub size: u64,
    /// Lossy UTF-8.
    pub name: String,
    /// Offset of the member's data (just past the header).
    pub data_start: usize,
}

impl LocalHeader {
    /// The header at `at`, if a complete one is there (signature, name and extra field within
    /// `data`). Zip64 sizes are taken from the extra field.
    pub(crate) fn parse(data: &[u8], at: usize) -> Option<Self> {
        let fixed = data.get(at..at.checked_add(LOCAL_FIXED)?)?;
        if &fixed[..4] != LOCAL_SIG {
            return None;
        }
        let name_len = usize::from(le16(fixed, 26)?);
        let extra_len = usize::from(le16(fixed, 28)?);
        let name_at = at + LOCAL_FIXED;
        let extra_at = name_at.checked_add(name_len)?;
        let data_start = extra_at.checked_add(extra_len)?;
        let name = data.get(name_at..extra_at)?;
        let extra = data.get(extra_at..data_start)?;
        let mut header = Self {
            flags: le16(fixed, 6)?,
            method: le16(fixed, 8)?,
            crc: le32(fixed, 14)?,
            compressed_size: u64::from(le32(fixed, 18)?),
            size: u64::from(le32(fixed, 22)?),
            name: String::from_utf8_lossy(name).into_owned(),
            data_start,
        };
        // Zip64 extended information: the 8-byte sizes whose 4-byte fields are saturated, in
        // the order uncompressed size, compressed size.
        let mut rest = extra;
        while let [a, b, c, d, tail @ ..] = rest {
            let id = u16::from_le_bytes([*a, *b]);
            let len = usize::from(u16::from_le_bytes([*c, *d]));
            let Some(body) = tail.get(..len) else {
                break;
            };
            if id == 1 {
                let mut at = 0;
                for value in [&mut header.size, &mut header.compressed_size] {
                    if *value == u64::from(u32::MAX)
                        && let Some(v) = le64(body, at)
                    {
                        *value = v;
                        at += 8;
                    }
                }
            }
            rest = &tail[len..];
        }
        Some(header)
    }

    /// General-purpose flag bit 0: the data is encrypted.
    pub(crate) fn encrypted(&self) -> bool {
        self.flags & 1 != 0
    }

    /// Whether the sizes and CRC are in the header (not only in a data descriptor after the
    /// data, flag bit 3, which streaming writers use).
    pub(crate) fn sizes_known(&self) -> bool {
        self.flags & 8 == 0 || self.compressed_size != 0
    }

    /// A directory entry: a name ending in `/` and no data.
    pub(crate) fn is_directory(&self) -> bool {
        self.name.ends_with('/') && self.sizes_known() && self.compressed_size == 0
    }
}

/// A data descriptor: the CRC and sizes written after a member's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub crc: u32,
    pub compressed_size: u64,
    pub size: u64,
}

/// The data descriptor of the member whose data starts at `data_start`: the first
/// `PK\x07\x08` record after it whose compressed size is its distance from `data_start`
/// (32-bit or zip64 sizes). Searching spends `budget` (bytes looked at); `None` when none is
/// found or the budget is spent.
pub(crate) fn find_descriptor(
    data: &[u8],
    data_start: usize,
    budget: &mut u64,
) -> Option<Descriptor> {
    let mut from = data_start;
    loop {
        let found = find(data, DESCRIPTOR_SIG, from);
        let end = found.map_or(data.len(), |p| p + 4);
        let looked = end.saturating_sub(from) as u64;
        if looked > *budget {
            *budget = 0;
            return None;
        }
        *budget -= looked;
        let p = found?;
        let distance = (p - data_start) as u64;
        if le32(data, p + 8).map(u64::from) == Some(distance) {
            return Some(Descriptor {
                crc: le32(data, p + 4)?,
                compressed_size: distance,
                size: u64::from(le32(data, p + 12)?),
            });
        }
        if le64(data, p + 8) == Some(distance) {
            return Some(Descriptor {
                crc: le32(data, p + 4)?,
                compressed_size: distance,
                size: le64(data, p + 16)?,
            });
        }
        from = p + 4;
    }
}

/// Whether `data` ends with a zip archive whose central directory lies where its end record
/// says, once a prefix is accounted for: a self-extracting executable or any file with a zip
/// appended. The end record is looked for in the last 64 KiB + 22 bytes (its comment is at
/// most 64 KiB); the central directory's first record and the local header it points to
/// must be where the offsets say.
pub(crate) fn zip_at_end(data: &[u8]) -> bool {
    let window_start = data.len().saturating_sub(END_FIXED + usize::from(u16::MAX));
    let mut to = data.len();
    while to > window_start {
        let Some(e) =
            memchr::memmem::rfind(&data[window_start..to], END_SIG).map(|p| window_start + p)
        else {
            return false;
        };
        if end_record_fits(data, e) {
            return true;
        }
        to = e + 3;
    }
    false
}

fn end_record_fits(data: &[u8], e: usize) -> bool {
    let fits = || -> Option<bool> {
        let comment = usize::from(le16(data, e + 20)?);
        if e.checked_add(END_FIXED)?.checked_add(comment)? > data.len()
            || le16(data, e + 4)? != 0
            || le16(data, e + 6)? != 0
        {
            return Some(false);
        }
        let entries = le16(data, e + 10)?;
        let cd_size = le32(data, e + 12)?;
        let cd_offset = le32(data, e + 16)?;
        if entries == 0 {
            return Some(false);
        }
        if entries == u16::MAX || cd_size == u32::MAX || cd_offset == u32::MAX {
            // Zip64: the locator sits just before the end record; the zip crate checks the rest.
            return Some(e >= 20 && data.get(e - 20..e - 16)? == ZIP64_LOCATOR_SIG);
        }
        let cd_start = e.checked_sub(usize::try_from(cd_size).ok()?)?;
        let prefix = cd_start.checked_sub(usize::try_from(cd_offset).ok()?)?;
        if data.get(cd_start..cd_start + 4)? != CENTRAL_SIG {
            return Some(false);
        }
        let local = prefix.checked_add(usize::try_from(le32(data, cd_start + 42)?).ok()?)?;
        Some(data.get(local..local.checked_add(4)?)? == LOCAL_SIG)
    };
    fits().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, flags: u16, method: u16, sizes: (u32, u32)) -> Vec<u8> {
        let mut h = LOCAL_SIG.to_vec();
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        h.extend_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
        h.extend_from_slice(&sizes.0.to_le_bytes());
        h.extend_from_slice(&sizes.1.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h
    }

    #[test]
    fn local_headers() {
        let mut data = b"junk".to_vec();
        data.extend(header("a.txt", 0, 8, (3, 5)));
        data.extend_from_slice(b"xyz");
        let at = find(&data, LOCAL_SIG, 0).unwrap_or(usize::MAX);
        assert_eq!(at, 4);
        let h = LocalHeader::parse(&data, at);
        assert_eq!(
            h,
            Some(LocalHeader {
                flags: 0,
                method: 8,
                crc: 0xDEAD_BEEF,
                compressed_size: 3,
                size: 5,
                name: "a.txt".into(),
                data_start: 4 + 30 + 5,
            })
        );
        // Cut inside the name: no header.
        assert_eq!(LocalHeader::parse(&data[..at + 32], at), None);
        assert_eq!(LocalHeader::parse(&data, at + 1), None);
        assert_eq!(find(&data, LOCAL_SIG, at + 1), None);
    }

    #[test]
    fn descriptors_are_found_by_their_distance() {
        let mut data = header("s", 8, 0, (0, 0));
        let start = data.len();
        // A decoy signature whose size field does not match, then the real descriptor.
        data.extend_from_slice(b"abcPK\x07\x08\x01\x02\x03\x04\x63\x00\x00\x00rest");
        let distance = (data.len() - start) as u32;
        data.extend_from_slice(DESCRIPTOR_SIG);
        data.extend_from_slice(&7u32.to_le_bytes());
        data.extend_from_slice(&distance.to_le_bytes());
        data.extend_from_slice(&distance.to_le_bytes());
        let mut budget = 1 << 20;
        let d = find_descriptor(&data, start, &mut budget);
        assert_eq!(
            d,
            Some(Descriptor {
                crc: 7,
                compressed_size: u64::from(distance),
                size: u64::from(distance)
            })
        );
        assert!(budget < 1 << 20);
        let mut none = 4;
        assert_eq!(find_descriptor(&data, start, &mut none), None);
        assert_eq!(none, 0);
    }

    #[test]
    fn no_end_record_in_random_or_short_data() {
        assert!(!zip_at_end(b""));
        assert!(!zip_at_end(b"PK\x05\x06"));
        let mut fake = vec![0u8; 100];
        fake.extend_from_slice(END_SIG);
        fake.extend_from_slice(&[0u8; 18]);
        assert!(!zip_at_end(&fake), "no entries");
        fake[100 + 10] = 1;
        assert!(!zip_at_end(&fake), "no central directory where it says");
    }
}
