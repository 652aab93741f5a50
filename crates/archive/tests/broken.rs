#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Archives the regular parsers cannot read: what can still be read is visited (as `unzip`
//! would extract it), and whatever could not be leaves an entry in `errors`, so that a scan
//! that finds nothing is not taken for complete. Recovery stays within the limits.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hashscan_archive::{Format, Limit, Limits, sniff, sniff_buffer};
use zip::CompressionMethod;

fn members(seen: &[Seen]) -> Vec<(String, Vec<u8>, bool)> {
    seen.iter()
        .map(|s| (s.joined(), s.data.clone(), s.truncated))
        .collect()
}

fn eicar_zip(method: CompressionMethod) -> Vec<u8> {
    zip_of(&[("readme.txt", b"hello"), ("eicar.com", &eicar())], method)
}

fn both(truncated_last: bool) -> Vec<(String, Vec<u8>, bool)> {
    vec![
        ("readme.txt".into(), b"hello".to_vec(), false),
        ("eicar.com".into(), eicar(), truncated_last),
    ]
}

/// One byte of the end record's entry count changed: `unzip` and Python's `zipfile` still
/// extract both members; the `zip` crate refuses the archive.
#[test]
fn a_zip_with_a_damaged_entry_count_is_read_from_its_local_headers() {
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        for field in [8, 10] {
            let mut zip = eicar_zip(method);
            let e = eocd(&zip);
            zip[e + field] += 1;
            let (report, seen) = collect(&zip, &Limits::default());
            assert_eq!(report.format, Some(Format::Zip));
            assert_eq!(members(&seen), both(false), "{method:?} {field}");
            assert_eq!(report.errors.len(), 1, "{report:?}");
            assert_eq!(report.errors[0].0, "");
            assert!(
                report.errors[0].1.contains("central directory unreadable"),
                "{report:?}"
            );
            assert_eq!(report.members, 2);
            assert_eq!(report.bytes, 5 + eicar().len() as u64);
        }
    }
}

#[test]
fn a_zip_without_a_central_directory_is_read_from_its_local_headers() {
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let zip = eicar_zip(method);
        let cut = &zip[..central_directory(&zip)];
        let (report, seen) = collect(cut, &Limits::default());
        assert_eq!(report.format, Some(Format::Zip));
        assert_eq!(members(&seen), both(false), "{method:?}");
        assert!(!report.errors.is_empty());
        assert!(!report.is_complete());
    }
}

/// Streaming writers put the sizes after the data (a data descriptor): recovery finds them.
#[test]
fn streamed_zips_without_a_central_directory_use_their_data_descriptors() {
    let big: Vec<u8> = (0..100_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let zip = zip_streamed(
            &[("a.bin", &big), ("eicar.com", &eicar()), ("z.txt", b"last")],
            method,
        );
        // The writer really used data descriptors (flag bit 3, zero sizes in the header).
        assert_eq!(zip[6] & 8, 8, "{method:?}");
        let cut = &zip[..central_directory(&zip)];
        let (report, seen) = collect(cut, &Limits::default());
        assert_eq!(
            members(&seen),
            [
                ("a.bin".to_owned(), big.clone(), false),
                ("eicar.com".to_owned(), eicar(), false),
                ("z.txt".to_owned(), b"last".to_vec(), false),
            ],
            "{method:?}: {report:?}"
        );
        // Only the missing directory is an error: every member was read whole and checked.
        assert_eq!(report.errors.len(), 1, "{method:?}: {report:?}");
    }
}

/// A recovered member's data is skipped once read whole: a zip stored inside is expanded as a
/// member, not taken for members of the outer archive.
#[test]
fn recovery_does_not_mistake_a_nested_zip_for_outer_members() {
    let inner = zip_of(&[("a.txt", b"inner text")], CompressionMethod::Stored);
    let outer = zip_of(
        &[("inner.zip", &inner), ("b.txt", b"outer text")],
        CompressionMethod::Stored,
    );
    let cut = &outer[..central_directory(&outer)];
    let (report, seen) = collect(cut, &Limits::default());
    let paths: Vec<String> = seen.iter().map(Seen::joined).collect();
    assert_eq!(
        paths,
        ["inner.zip", "inner.zip > a.txt", "b.txt"],
        "{report:?}"
    );
    assert_eq!(report.errors.len(), 1, "{report:?}");
    // The inner zip's end record is the last one in the data: the `zip` crate takes it for
    // the outer archive's; the walk sees it does not describe the archive at offset 0.
    assert!(report.errors[0].1.contains("offset 0"), "{report:?}");
}

/// A header that lies about its size cannot hide the members after it: when a member is not
/// read whole and checked, the search goes on right after its header.
#[test]
fn a_lying_local_size_hides_nothing() {
    let zip = zip_of(
        &[("liar.txt", b"short"), ("eicar.com", &eicar())],
        CompressionMethod::Deflated,
    );
    let mut cut = zip[..central_directory(&zip)].to_vec();
    // The first member claims to run to far past the end of the data.
    cut[18..22].copy_from_slice(&0x00F0_0000u32.to_le_bytes());
    let (report, seen) = collect(&cut, &Limits::default());
    assert!(
        seen.iter()
            .any(|s| s.path == ["eicar.com"] && s.data == eicar()),
        "{seen:?}"
    );
    assert!(
        report.errors.iter().any(|(p, _)| p == "liar.txt"),
        "{report:?}"
    );
}

/// A zip behind a prefix (a self-extracting executable) is found from its end record and
/// read whole, without an error.
#[test]
fn a_zip_behind_a_prefix_is_expanded() {
    let zip = eicar_zip(CompressionMethod::Deflated);
    let mut sfx = b"MZ".to_vec();
    sfx.resize(5000, 0x90);
    sfx.extend_from_slice(&zip);
    assert_eq!(sniff(&sfx), None);
    assert_eq!(sniff_buffer(&sfx), Some(Format::Zip));
    let (report, seen) = collect(&sfx, &Limits::default());
    assert_eq!(report.format, Some(Format::Zip));
    assert_eq!(members(&seen), both(false));
    assert!(report.is_complete(), "{report:?}");

    // The same zip inside an archive is found too.
    let outer = tar_of(&[("setup.exe", &sfx)]);
    let (report, seen) = collect(&outer, &Limits::default());
    assert_eq!(seen[0].format, Some(Format::Zip));
    assert_eq!(seen.len(), 3, "{report:?}");

    // A text that merely ends with an end-record signature is no zip.
    let mut text = b"just text ".repeat(100);
    text.extend_from_slice(b"PK\x05\x06");
    text.extend_from_slice(&[0; 18]);
    assert_eq!(sniff_buffer(&text), None);
}

#[test]
fn a_truncated_zip_gives_what_is_there() {
    let body: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let zip = zip_of(&[("first.txt", b"complete"), ("second.bin", &body)], method);
        let cut = &zip[..central_directory(&zip) - 20_000];
        let (report, seen) = collect(cut, &Limits::default());
        assert_eq!(seen[0].data, b"complete", "{method:?}");
        assert_eq!(seen[1].path, ["second.bin"]);
        assert!(seen[1].truncated, "{method:?}");
        assert!(body.starts_with(&seen[1].data));
        assert!(
            report.errors.iter().any(|(p, _)| p == "second.bin"),
            "{method:?}: {report:?}"
        );
    }
}

/// A damaged 7z header is an error (nothing to recover: the names and sizes are in it).
#[test]
fn a_sevenz_with_a_damaged_header_is_an_error() {
    let good = sevenz_of(&[("a.txt", b"hello"), ("eicar.com", &eicar())], false);
    let next_offset = u64::from_le_bytes(good[12..20].try_into().unwrap()) as usize;
    let header = 32 + next_offset;
    for (at, label) in [
        (header, "header type"),
        (header + 2, "header body"),
        (13, "start header"),
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x55;
        let (report, seen) = collect(&bad, &Limits::default());
        assert_eq!(report.format, Some(Format::SevenZip));
        assert!(
            !report.errors.is_empty() || !report.not_expanded.is_empty(),
            "{label}: {report:?} {seen:?}"
        );
        assert!(!report.is_complete());
    }
}

/// A member header with a bad checksum in the middle of a tar: the walk goes on from the next
/// valid header, as GNU tar does, and says so.
#[test]
fn a_tar_goes_on_past_a_damaged_header() {
    let tar = tar_of(&[
        ("a.txt", b"first"),
        ("b.txt", &[b'b'; 700]),
        ("eicar.com", &eicar()),
    ]);
    let mut bad = tar.clone();
    // b.txt's header is the third block (a.txt: header + one data block).
    bad[1024 + 10] ^= 0x20;
    let (report, seen) = collect(&bad, &Limits::default());
    let got: Vec<(String, Vec<u8>)> = seen.iter().map(|s| (s.joined(), s.data.clone())).collect();
    assert_eq!(
        got,
        [
            ("a.txt".to_owned(), b"first".to_vec()),
            ("eicar.com".to_owned(), eicar())
        ],
        "{report:?}"
    );
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(report.errors[0].1.contains("checksum"), "{report:?}");
    assert!(report.errors[0].1.contains("walked on"), "{report:?}");

    // Inside gzip, the tar is held whole too: the same.
    let (report, seen) = collect(&gz(&bad, Some("x.tar")), &Limits::default());
    let paths: Vec<String> = seen.iter().map(Seen::joined).collect();
    assert_eq!(paths, ["x.tar", "x.tar > a.txt", "x.tar > eicar.com"]);
    assert_eq!(report.errors.len(), 1, "{report:?}");

    // Streamed (a tar cut by max_member_bytes goes on from the stream), the walk stops at the
    // damaged header, with the error.
    let limits = Limits {
        max_member_bytes: 1024,
        ..Limits::default()
    };
    let (report, seen) = collect(&gz(&bad, Some("x.tar")), &limits);
    let paths: Vec<String> = seen.iter().map(Seen::joined).collect();
    assert_eq!(paths, ["x.tar", "x.tar > a.txt"]);
    assert!(
        report.errors.iter().any(|(_, m)| m.contains("checksum")),
        "{report:?}"
    );
}

/// Recovery counts against the same limits: a flat bomb without its central directory stops
/// on the ratio limit member by member, and a run of local headers on the member limit.
#[test]
fn recovery_stays_within_the_limits() {
    let kernel = zip_of_zeros("zeros.bin", 200_000_000);
    let bomb = zip_copies(&kernel, 10, |i, _| format!("zeros-{i}.bin"));
    let cut = &bomb[..central_directory(&bomb)];
    let limits = Limits::default();
    let start = Instant::now();
    let (report, seen) = collect_light(cut, &limits);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(seen.len(), 10, "{report:?}");
    assert_eq!(
        report
            .exceeded
            .iter()
            .filter(|e| e.limit == Limit::Ratio)
            .count(),
        10
    );
    assert!(report.bytes < 10 * (4 << 20), "{}", report.bytes);

    let limits = Limits {
        max_ratio: u32::MAX,
        ..Limits::default()
    };
    let (report, seen) = collect_light(cut, &limits);
    assert!(report.bytes <= limits.max_total_bytes);
    assert!(
        report.exceeded_of(Limit::TotalBytes).is_some(),
        "{report:?}"
    );
    assert!(
        seen.iter()
            .all(|(_, len, _)| *len as u64 <= limits.max_member_bytes)
    );

    // 100 000 local headers of empty members, no central directory.
    let one = zip_of(&[("e", b"")], CompressionMethod::Stored);
    let header = &one[..central_directory(&one)];
    let many = header.repeat(100_000);
    let start = Instant::now();
    let (report, seen) = collect_light(&many, &Limits::default());
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(seen.len(), 1000);
    assert!(report.exceeded_of(Limit::Members).is_some());
}

/// Local headers that all point into one compressed kernel (each member's data starts inside
/// the previous one's, an overlap bomb for streaming readers): each header is read once, and
/// the total byte budget still bounds the work.
#[test]
fn overlapping_local_headers_are_bounded() {
    let kernel = zip_of_zeros("k", 50_000_000);
    let data_start = 30 + 1;
    let kernel_data = &kernel[data_start..central_directory(&kernel)];
    let local = &kernel[..data_start];
    // Headers back to back, then the kernel's data: every header's data "starts" at the next
    // header, and only the last one's decodes; the search goes on after each header.
    let mut bomb = Vec::new();
    for _ in 0..2000 {
        bomb.extend_from_slice(local);
    }
    bomb.extend_from_slice(kernel_data);
    let limits = Limits {
        max_ratio: u32::MAX,
        ..Limits::default()
    };
    let start = Instant::now();
    let (report, seen) = collect_light(&bomb, &limits);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    assert!(report.bytes <= limits.max_total_bytes);
    assert!(report.members <= limits.max_members);
    assert!(!seen.is_empty());
}
