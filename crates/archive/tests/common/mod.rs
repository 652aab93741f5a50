//! Fixture builders: every archive in the tests is made here, in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{Cursor, Read, Write};

use hashscan_archive::{Entry, Flow, Limits, Report, walk, walk_named};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// A visited member, owned.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: Vec<String>,
    pub depth: u32,
    pub data: Vec<u8>,
    pub truncated: bool,
    pub format: Option<hashscan_archive::Format>,
}

impl Seen {
    pub fn joined(&self) -> String {
        self.path.join(" > ")
    }
}

fn record(seen: &mut Vec<Seen>, e: &Entry<'_>, keep_data: bool) {
    seen.push(Seen {
        path: e.path.to_vec(),
        depth: e.depth,
        data: if keep_data {
            e.data.to_vec()
        } else {
            Vec::new()
        },
        truncated: e.truncated,
        format: e.format,
    });
}

/// Walks `data`, keeping every member's bytes.
pub fn collect(data: &[u8], limits: &Limits) -> (Report, Vec<Seen>) {
    let mut seen = Vec::new();
    let report = walk(data, limits, &mut |e| {
        record(&mut seen, e, true);
        Flow::Continue
    });
    (report, seen)
}

/// Walks `data` named `name`, keeping every member's bytes.
pub fn collect_named(name: &str, data: &[u8], limits: &Limits) -> (Report, Vec<Seen>) {
    let mut seen = Vec::new();
    let report = walk_named(name, data, limits, &mut |e| {
        record(&mut seen, e, true);
        Flow::Continue
    });
    (report, seen)
}

/// Walks `data`, keeping paths and sizes only (for bombs).
pub fn collect_light(data: &[u8], limits: &Limits) -> (Report, Vec<(String, usize, bool)>) {
    let mut seen = Vec::new();
    let report = walk(data, limits, &mut |e| {
        seen.push((e.path.join(" > "), e.data.len(), e.truncated));
        Flow::Continue
    });
    (report, seen)
}

pub fn opts(method: CompressionMethod) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(method)
        .large_file(false)
}

/// A zip of `(name, bytes)` members, all with `method`.
pub fn zip_of(members: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        if name.ends_with('/') {
            w.add_directory(*name, opts(method)).unwrap();
        } else {
            w.start_file(*name, opts(method)).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// A zip with one member of `size` zero bytes, deflated, streamed into the writer.
pub fn zip_of_zeros(name: &str, size: u64) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = opts(CompressionMethod::Deflated).large_file(size >= u64::from(u32::MAX));
    w.start_file(name, options).unwrap();
    write_zeros(&mut w, size);
    w.finish().unwrap().into_inner()
}

pub fn write_zeros(w: &mut dyn Write, mut size: u64) {
    let chunk = vec![0u8; 1 << 20];
    while size > 0 {
        let n = size.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n]).unwrap();
        size -= n as u64;
    }
}

/// A zip holding `copies` raw copies (same compressed bytes, new names) of every member of
/// `inner_zip`: cheap to build even when the members are huge once inflated.
pub fn zip_copies(
    inner_zip: &[u8],
    copies: usize,
    rename: impl Fn(usize, &str) -> String,
) -> Vec<u8> {
    let mut src = zip::ZipArchive::new(Cursor::new(inner_zip)).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for copy in 0..copies {
        for i in 0..src.len() {
            let file = src.by_index_raw(i).unwrap();
            let name = rename(copy, &file.name().unwrap());
            w.raw_copy_file_rename(file, name).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// A tar of `(name, bytes)` members (GNU long names when needed); names ending in `/` are
/// directories.
pub fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, name, &[][..]).unwrap();
        } else {
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// gzip of `data`, with FNAME `name` when given.
pub fn gz(data: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut builder = flate2::GzBuilder::new();
    if let Some(name) = name {
        builder = builder.filename(name);
    }
    let mut e = builder.write(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// gzip of `size` zeros.
pub fn gz_zeros(size: u64) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    write_zeros(&mut e, size);
    e.finish().unwrap()
}

pub fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut w =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

/// A 7z archive; `solid` puts all members in one block.
pub fn sevenz_of(members: &[(&str, &[u8])], solid: bool) -> Vec<u8> {
    let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    if solid {
        let entries = members
            .iter()
            .map(|(name, _)| sevenz_rust2::ArchiveEntry::new_file(name))
            .collect();
        let readers = members
            .iter()
            .map(|(_, data)| sevenz_rust2::SourceReader::new(Cursor::new(data.to_vec())))
            .collect();
        w.push_archive_entries(entries, readers).unwrap();
    } else {
        for (name, data) in members {
            let entry = if name.ends_with('/') {
                sevenz_rust2::ArchiveEntry::new_directory(name.trim_end_matches('/'))
            } else {
                sevenz_rust2::ArchiveEntry::new_file(name)
            };
            let reader: Option<&[u8]> = (!entry.is_directory).then_some(*data);
            w.push_archive_entry(entry, reader).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// A 7z archive of AES-encrypted members (and header, when `encrypt_header`).
pub fn sevenz_encrypted(members: &[(&str, &[u8])], encrypt_header: bool) -> Vec<u8> {
    use sevenz_rust2::encoder_options::AesEncoderOptions;
    let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    w.set_content_methods(vec![
        AesEncoderOptions::new("secret".into()).into(),
        sevenz_rust2::EncoderMethod::LZMA2.into(),
    ]);
    w.set_encrypt_header(encrypt_header);
    for (name, data) in members {
        w.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file(name), Some(*data))
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Sets general-purpose flag bit 0 ("encrypted") of every member of a stored zip, in the local
/// and the central headers, as a ZipCrypto writer would (the bytes themselves stay plain).
pub fn mark_encrypted(zip: &mut [u8], also_aes_method: bool) {
    let mut i = 0;
    while i + 46 <= zip.len() {
        let sig = &zip[i..i + 4];
        if sig == b"PK\x03\x04" {
            zip[i + 6] |= 1;
            if also_aes_method {
                zip[i + 8] = 99;
                zip[i + 9] = 0;
            }
            i += 30;
        } else if sig == b"PK\x01\x02" {
            zip[i + 8] |= 1;
            if also_aes_method {
                zip[i + 10] = 99;
                zip[i + 11] = 0;
            }
            i += 46;
        } else {
            i += 1;
        }
    }
}

pub fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

/// The EICAR test file, assembled at run time so that this source is not one.
pub fn eicar() -> Vec<u8> {
    let first = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    let second = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    format!("{first}{second}").into_bytes()
}

/// A zip written as a stream (no seeking): sizes and CRCs follow each member's data in a data
/// descriptor, and the local headers hold zeros.
pub fn zip_streamed(members: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new_stream(Vec::new());
    for (name, data) in members {
        w.start_file(*name, opts(method)).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Offset of the end of central directory record of a zip without a comment.
pub fn eocd(zip: &[u8]) -> usize {
    let at = zip.len() - 22;
    assert_eq!(&zip[at..at + 4], b"PK\x05\x06");
    at
}

/// Offset of the central directory of a zip without a comment.
pub fn central_directory(zip: &[u8]) -> usize {
    let e = eocd(zip);
    u32::from_le_bytes(zip[e + 16..e + 20].try_into().unwrap()) as usize
}

/// Four nested zips, as a 3 MB upload that costs 1 GiB to expand: `bottom.bin` (`size`
/// bytes) stored in `l1.zip`, stored in `l2.zip`, stored in `l3.zip`, deflated into the
/// outer zip. Every level is `size` bytes once expanded; with `size` 250 MiB no default limit
/// trips when the bottom compresses below `max_ratio` (see `low_ratio_bytes`).
pub fn nested_levels(bottom: &[u8]) -> Vec<u8> {
    let l1 = zip_of(&[("bottom.bin", bottom)], CompressionMethod::Stored);
    let l2 = zip_of(&[("l1.zip", &l1)], CompressionMethod::Stored);
    let l3 = zip_of(&[("l2.zip", &l2)], CompressionMethod::Stored);
    zip_of(&[("l3.zip", &l3)], CompressionMethod::Deflated)
}

/// `size` bytes that deflate about 75:1, evenly (under the default `max_ratio` of 100 at
/// every point): every 64 KiB, 800 pseudo-random bytes, then zeros (deflate's 32 KiB window
/// cannot reach the previous random run).
pub fn low_ratio_bytes(size: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..800)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut out = vec![0u8; size];
    for chunk in out.chunks_mut(64 << 10) {
        let n = chunk.len().min(noise.len());
        chunk[..n].copy_from_slice(&noise[..n]);
    }
    out
}

/// Small limits for property tests and fuzzing.
pub fn small_limits() -> Limits {
    Limits {
        max_depth: 4,
        max_members: 64,
        max_total_bytes: 8 << 20,
        max_member_bytes: 1 << 20,
        max_ratio: 100,
        ratio_threshold: 64 << 10,
    }
}

/// A zip whose `n` central-directory entries all point at the single local member of `kernel`.
pub fn overlap(kernel: &[u8], n: u16) -> Vec<u8> {
    let eocd = kernel.len() - 22;
    assert_eq!(&kernel[eocd..eocd + 4], b"PK\x05\x06");
    let le32 = |at: usize| u32::from_le_bytes(kernel[at..at + 4].try_into().unwrap()) as usize;
    let le16 = |at: usize| u16::from_le_bytes(kernel[at..at + 2].try_into().unwrap()) as usize;
    let cd = le32(eocd + 16);
    let fixed = &kernel[cd..cd + 46];
    let name_len = le16(cd + 28);
    let extra = &kernel[cd + 46 + name_len..cd + 46 + name_len + le16(cd + 30)];
    let mut out = kernel[..cd].to_vec();
    let cd_start = out.len();
    for i in 0..n {
        let name = format!("{i:05}");
        let mut header = fixed.to_vec();
        header[28..30].copy_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(extra);
    }
    let cd_size = out.len() - cd_start;
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(cd_size as u32).to_le_bytes());
    out.extend_from_slice(&(cd_start as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// Valid archives of every format (and nesting), the starting points of the mutation tests.
pub fn mutation_seeds() -> Vec<Vec<u8>> {
    let text: Vec<u8> = b"<?php echo 'hello'; ?>\n".repeat(40);
    let zeros = vec![0u8; 200_000];
    let inner = zip_of(
        &[("a.php", &text), ("z", &zeros)],
        CompressionMethod::Deflated,
    );
    let tar = tar_of(&[("d/", b""), ("a.php", &text), ("inner.zip", &inner)]);
    vec![
        inner.clone(),
        zip_of(&[("a", &text), ("b", &zeros)], CompressionMethod::Bzip2),
        zip_of(&[("a", &text)], CompressionMethod::Zstd),
        zip_of(
            &[("a", &text), ("in.zip", &inner)],
            CompressionMethod::Stored,
        ),
        tar.clone(),
        gz(&tar, Some("t.tar")),
        bz2(&tar),
        xz(&tar),
        sevenz_of(&[("a", &text), ("b", &zeros), ("c.zip", &inner)], true),
        sevenz_of(&[("a", &text), ("b", &zeros)], false),
    ]
}
