#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Archives the parsers cannot read whole: what can be read is scanned (EICAR inside a zip
//! whose end record is damaged is found, as `unzip` would extract it), and a file whose
//! archive could not be read in full is `unknown` with a note when nothing matched — never
//! `clean`.

use std::io::Write;

use hashscan_detect::{Config, Detector, Report, Verdict};

/// The EICAR test file, assembled at run time so that this source is not one.
fn eicar() -> Vec<u8> {
    let first = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    let second = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    format!("{first}{second}").into_bytes()
}

const TEXT: &[u8] = b"Quarterly figures attached.\n";

fn detector() -> Detector {
    let (d, summary) = Detector::new(Config::default()).unwrap();
    assert!(summary.rule_problems.is_empty());
    d
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn eocd(zip: &[u8]) -> usize {
    let at = zip.len() - 22;
    assert_eq!(&zip[at..at + 4], b"PK\x05\x06");
    at
}

fn central_directory(zip: &[u8]) -> usize {
    let e = eocd(zip);
    u32::from_le_bytes(zip[e + 16..e + 20].try_into().unwrap()) as usize
}

/// One byte of the end record's entry count changed.
fn damaged_count(zip: &[u8]) -> Vec<u8> {
    let mut bad = zip.to_vec();
    let e = eocd(&bad);
    bad[e + 10] += 1;
    bad
}

fn without_directory(zip: &[u8]) -> Vec<u8> {
    zip[..central_directory(zip)].to_vec()
}

fn behind_prefix(zip: &[u8]) -> Vec<u8> {
    let mut sfx = b"MZ".to_vec();
    sfx.resize(5000, 0);
    sfx.extend_from_slice(zip);
    sfx
}

fn assert_eicar_found(r: &Report, what: &str) {
    assert_eq!(r.verdict, Verdict::Malicious, "{what}: {r:#?}");
    assert_eq!(r.threat_name.as_deref(), Some("EICAR_Test_File"), "{what}");
    let a = r.archive.as_ref().unwrap();
    assert!(
        a.members.iter().any(|m| m.path == "eicar.com"),
        "{what}: {a:#?}"
    );
}

fn assert_unknown_with_note(r: &Report, what: &str) {
    assert_eq!(r.verdict, Verdict::Unknown, "{what}: {r:#?}");
    assert_eq!(r.score, 0, "{what}");
    assert!(
        r.notes.iter().any(|n| n.contains("not read in full")),
        "{what}: {:?}",
        r.notes
    );
}

#[test]
fn eicar_in_a_zip_the_zip_crate_cannot_open_is_found() {
    let d = detector();
    let zip = zip_of(&[("readme.txt", TEXT), ("eicar.com", &eicar())]);
    assert_eicar_found(&d.scan_bytes(&zip), "intact");
    assert_eicar_found(&d.scan_bytes(&damaged_count(&zip)), "damaged entry count");
    assert_eicar_found(
        &d.scan_bytes(&without_directory(&zip)),
        "no central directory",
    );
    let sfx = d.scan_bytes(&behind_prefix(&zip));
    assert_eicar_found(&sfx, "5000-byte prefix");
    assert!(sfx.labels.iter().any(|l| l == "Zip"), "{:?}", sfx.labels);
}

#[test]
fn harmless_text_in_a_broken_archive_is_unknown_not_clean() {
    let d = detector();
    let zip = zip_of(&[("report.txt", TEXT), ("notes.txt", TEXT)]);
    // The intact zip and the same behind a prefix are read whole: clean.
    assert_eq!(d.scan_bytes(&zip).verdict, Verdict::Clean);
    let sfx = d.scan_bytes(&behind_prefix(&zip));
    assert_eq!(sfx.verdict, Verdict::Clean, "{sfx:#?}");
    assert_eq!(sfx.archive.as_ref().unwrap().members_scanned, 2);

    assert_unknown_with_note(&d.scan_bytes(&damaged_count(&zip)), "damaged entry count");
    assert_unknown_with_note(
        &d.scan_bytes(&without_directory(&zip)),
        "no central directory",
    );
    let truncated = &zip[..zip.len() - 30];
    assert_unknown_with_note(&d.scan_bytes(truncated), "truncated");
}

/// CRC-32 (IEEE), bit by bit: enough for a fixture.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 7z archive with the given (plain) header, CRCs right.
fn sevenz_with_header(header: &[u8]) -> Vec<u8> {
    let mut start = Vec::new();
    start.extend_from_slice(&0u64.to_le_bytes()); // next header right after the start header
    start.extend_from_slice(&(header.len() as u64).to_le_bytes());
    start.extend_from_slice(&crc32(header).to_le_bytes());
    let mut out = b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec();
    out.extend_from_slice(&crc32(&start).to_le_bytes());
    out.extend_from_slice(&start);
    out.extend_from_slice(header);
    out
}

/// A 7z whose header is damaged: nothing can be read, so nothing can be called clean.
#[test]
fn a_sevenz_with_a_damaged_header_is_unknown() {
    let d = detector();
    // kHeader, kEnd: an empty archive.
    let good = sevenz_with_header(&[0x01, 0x00]);
    let r = d.scan_bytes(&good);
    assert_eq!(r.verdict, Verdict::Clean, "{r:#?}");
    assert_eq!(r.archive.as_ref().unwrap().format, "7-Zip");
    let mut bad = good.clone();
    let last = bad.len() - 2;
    bad[last] = 0x42; // no such header type
    let r = d.scan_bytes(&bad);
    assert_unknown_with_note(&r, "7z header");
    assert!(!r.archive.as_ref().unwrap().errors.is_empty());
}

/// A ustar archive of `(name, bytes)` members.
fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in members {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A tar with a damaged header in the middle: the members after it are still scanned.
#[test]
fn a_tar_with_a_damaged_header_is_scanned_past_it() {
    let d = detector();
    let damaged = |third: &[u8]| {
        let mut tar = tar_of(&[("a.txt", TEXT), ("b.txt", &[b'b'; 700]), ("c.com", third)]);
        assert_eq!(d.scan_bytes(&tar).archive.unwrap().members_scanned, 3);
        tar[1024 + 10] ^= 0x20; // b.txt's header: its checksum no longer adds up
        tar
    };
    let r = d.scan_bytes(&damaged(&eicar()));
    assert_eq!(r.verdict, Verdict::Malicious, "{r:#?}");
    assert_eq!(r.archive.as_ref().unwrap().members[0].path, "c.com");
    assert_unknown_with_note(&d.scan_bytes(&damaged(TEXT)), "tar checksum");
    assert_eq!(
        d.scan_bytes(&tar_of(&[("a.txt", TEXT)])).verdict,
        Verdict::Clean
    );
}
