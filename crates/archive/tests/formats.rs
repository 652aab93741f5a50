#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every format walks with the right member paths and bytes; nesting; encryption; corruption.

mod common;

use common::*;
use hashscan_archive::{Flow, Format, Limit, Limits, walk};
use zip::CompressionMethod;

fn paths(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(Seen::joined).collect()
}

#[test]
fn not_an_archive_is_not_visited() {
    for data in [&b""[..], b"hello", &[0u8; 4096], b"MZ\x90\x00 not really"] {
        let (report, seen) = collect(data, &Limits::default());
        assert_eq!(report.format, None);
        assert!(seen.is_empty());
        assert!(report.is_complete());
        assert_eq!((report.members, report.bytes), (0, 0));
    }
}

#[test]
fn zip_members_with_each_method() {
    let php = b"<?php system($_GET['c']); ?>".as_slice();
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    for method in [
        CompressionMethod::Stored,
        CompressionMethod::Deflated,
        CompressionMethod::Bzip2,
        CompressionMethod::Zstd,
    ] {
        let zip = zip_of(
            &[
                ("dir/", b""),
                ("dir/x.php", php),
                ("big.bin", &big),
                ("empty", b""),
            ],
            method,
        );
        let (report, seen) = collect(&zip, &Limits::default());
        assert_eq!(report.format, Some(Format::Zip), "{method:?}");
        assert_eq!(
            paths(&seen),
            ["dir/x.php", "big.bin", "empty"],
            "{method:?}"
        );
        assert_eq!(seen[0].data, php);
        assert_eq!(seen[1].data, big);
        assert!(seen[2].data.is_empty());
        assert!(
            seen.iter()
                .all(|s| s.depth == 1 && !s.truncated && s.format.is_none())
        );
        assert!(report.is_complete(), "{method:?}: {report:?}");
        assert_eq!(report.members, 3);
        assert_eq!(report.bytes, (php.len() + big.len()) as u64);
    }
}

#[test]
fn zip_names_are_verbatim() {
    let zip = zip_of(
        &[
            ("../../etc/passwd", b"x"),
            ("a\\b.txt", b"y"),
            ("./c//d", b"z"),
        ],
        CompressionMethod::Stored,
    );
    let (_, seen) = collect(&zip, &Limits::default());
    assert_eq!(paths(&seen), ["../../etc/passwd", "a\\b.txt", "./c//d"]);
}

#[test]
fn tar_members() {
    let long = format!("{}/payload.jsp", "d".repeat(150));
    let tar = tar_of(&[
        ("dir/", b""),
        ("dir/a.txt", b"alpha"),
        (&long, b"<%@ page %>"),
        ("z", b""),
    ]);
    let (report, seen) = collect(&tar, &Limits::default());
    assert_eq!(report.format, Some(Format::Tar));
    assert_eq!(paths(&seen), ["dir/a.txt".to_owned(), long, "z".to_owned()]);
    assert_eq!(seen[0].data, b"alpha");
    assert_eq!(seen[1].data, b"<%@ page %>");
    assert!(report.is_complete(), "{report:?}");
}

#[test]
fn tar_skips_links_and_devices() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "link", "/etc/shadow").unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, "file", &b"abc"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let (report, seen) = collect(&tar, &Limits::default());
    assert_eq!(paths(&seen), ["file"]);
    assert!(report.is_complete());
}

#[test]
fn gzip_names_from_header_or_outer_name() {
    let tar = tar_of(&[("a.sh", b"#!/bin/sh\nrm -rf /\n")]);
    // FNAME in the header wins.
    let (report, seen) = collect_named(
        "upload.bin",
        &gz(&tar, Some("orig.tar")),
        &Limits::default(),
    );
    assert_eq!(report.format, Some(Format::Gzip));
    assert_eq!(paths(&seen), ["orig.tar", "orig.tar > a.sh"]);
    assert_eq!(seen[0].format, Some(Format::Tar));
    assert_eq!(seen[0].data, tar);
    assert_eq!(seen[1].depth, 2);
    // No FNAME: the outer name without its extension.
    let plain = gz(&tar, None);
    assert_eq!(
        paths(&collect_named("x.tar.gz", &plain, &Limits::default()).1)[0],
        "x.tar"
    );
    assert_eq!(
        paths(&collect_named("x.TGZ", &plain, &Limits::default()).1)[0],
        "x.tar"
    );
    assert_eq!(
        paths(&collect(&plain, &Limits::default()).1)[0],
        "(gzip data)"
    );
}

#[test]
fn bzip2_and_xz_streams() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let (report, seen) = collect_named("dump.bz2", &bz2(&data), &Limits::default());
    assert_eq!(report.format, Some(Format::Bzip2));
    assert_eq!(paths(&seen), ["dump"]);
    assert_eq!(seen[0].data, data);
    assert!(report.is_complete(), "{report:?}");

    let (report, seen) = collect_named("dump.txz", &xz(&data), &Limits::default());
    assert_eq!(report.format, Some(Format::Xz));
    assert_eq!(paths(&seen), ["dump.tar"]);
    assert_eq!(seen[0].data, data);
    assert!(report.is_complete(), "{report:?}");
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let mut data = gz(b"first ", None);
    data.extend(gz(b"second", None));
    let (report, seen) = collect(&data, &Limits::default());
    assert_eq!(seen[0].data, b"first second");
    assert!(report.is_complete());
}

#[test]
fn sevenz_solid_and_not() {
    let a = b"MZ fake exe".as_slice();
    let b: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for solid in [false, true] {
        let archive = sevenz_of(&[("a.exe", a), ("sub/b.bin", &b), ("c.txt", b"c")], solid);
        let (report, seen) = collect(&archive, &Limits::default());
        assert_eq!(report.format, Some(Format::SevenZip));
        assert_eq!(
            paths(&seen),
            ["a.exe", "sub/b.bin", "c.txt"],
            "solid {solid}"
        );
        assert_eq!(seen[0].data, a);
        assert_eq!(seen[1].data, b);
        assert_eq!(seen[2].data, b"c");
        assert!(report.is_complete(), "solid {solid}: {report:?}");
    }
}

#[test]
fn sevenz_empty_files_and_directories() {
    let archive = sevenz_of(&[("d/", b""), ("empty", b""), ("x", b"x")], false);
    let (report, seen) = collect(&archive, &Limits::default());
    let mut p = paths(&seen);
    p.sort();
    assert_eq!(p, ["empty", "x"]);
    assert!(report.is_complete(), "{report:?}");
}

/// zip > tar.gz > tar > zip > php, with every intermediate archive visited too.
#[test]
fn nested_paths() {
    let php = b"<?php eval($_POST[1]);".as_slice();
    let deep = zip_of(&[("x.php", php)], CompressionMethod::Deflated);
    let tar = tar_of(&[("readme", b"hi"), ("deep.zip", &deep)]);
    let tgz = gz(&tar, None);
    let outer = zip_of(
        &[("dir/inner.tar.gz", &tgz), ("top.txt", b"top")],
        CompressionMethod::Deflated,
    );
    let (report, seen) = collect(&outer, &Limits::default());
    assert_eq!(
        paths(&seen),
        [
            "dir/inner.tar.gz",
            "dir/inner.tar.gz > dir/inner.tar",
            "dir/inner.tar.gz > dir/inner.tar > readme",
            "dir/inner.tar.gz > dir/inner.tar > deep.zip",
            "dir/inner.tar.gz > dir/inner.tar > deep.zip > x.php",
            "top.txt",
        ]
    );
    let depths: Vec<u32> = seen.iter().map(|s| s.depth).collect();
    assert_eq!(depths, [1, 2, 3, 3, 4, 1]);
    let formats: Vec<_> = seen.iter().map(|s| s.format).collect();
    assert_eq!(
        formats,
        [
            Some(Format::Gzip),
            Some(Format::Tar),
            None,
            Some(Format::Zip),
            None,
            None
        ]
    );
    assert_eq!(seen[4].data, php);
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.members, 6);
}

#[test]
fn stop_ends_the_walk() {
    let zip = zip_of(
        &[("a", b"1"), ("b", b"2"), ("c", b"3")],
        CompressionMethod::Stored,
    );
    let mut n = 0;
    let report = walk(&zip, &Limits::default(), &mut |_| {
        n += 1;
        if n == 2 { Flow::Stop } else { Flow::Continue }
    });
    assert_eq!(n, 2);
    assert!(report.stopped);
    assert!(!report.is_complete());
}

#[test]
fn encrypted_zip_members_are_reported_not_visited() {
    for aes in [false, true] {
        let mut zip = zip_of(
            &[("secret.exe", b"MZ...."), ("b.txt", b"b")],
            CompressionMethod::Stored,
        );
        mark_encrypted(&mut zip, aes);
        let (report, seen) = collect(&zip, &Limits::default());
        assert!(seen.is_empty(), "aes {aes}: {seen:?}");
        assert_eq!(
            report.encrypted,
            ["secret.exe", "b.txt"],
            "aes {aes}: {report:?}"
        );
        assert_eq!(report.members, 2);
        assert!(
            hashscan_archive::labels_with_report(&zip, &report).contains(&"encrypted"),
            "aes {aes}"
        );
    }
}

#[test]
fn encrypted_sevenz_members_and_headers() {
    let archive = sevenz_encrypted(&[("a.exe", b"MZ payload"), ("b.txt", b"bbb")], false);
    let (report, seen) = collect(&archive, &Limits::default());
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(report.encrypted, ["a.exe", "b.txt"], "{report:?}");

    let archive = sevenz_encrypted(&[("a.exe", b"MZ payload")], true);
    let (report, seen) = collect(&archive, &Limits::default());
    assert!(seen.is_empty());
    assert_eq!(report.encrypted, [""], "{report:?}");
    assert_eq!(report.not_expanded.len(), 1, "{report:?}");
}

#[test]
fn rar_is_recognised_not_expanded() {
    let mut rar = b"Rar!\x1A\x07\x01\x00".to_vec();
    rar.extend_from_slice(&[0u8; 64]);
    let (report, seen) = collect(&rar, &Limits::default());
    assert_eq!(report.format, Some(Format::Rar));
    assert!(seen.is_empty());
    assert_eq!(report.not_expanded.len(), 1);
    assert!(report.not_expanded[0].1.contains("RAR is not supported"));

    // A RAR inside a zip is visited (its bytes can be scanned), not expanded.
    let zip = zip_of(&[("a.rar", &rar)], CompressionMethod::Stored);
    let (report, seen) = collect(&zip, &Limits::default());
    assert_eq!(seen[0].format, Some(Format::Rar));
    assert_eq!(report.not_expanded[0].0, "a.rar");
}

#[test]
fn corrupt_member_does_not_hide_the_others() {
    let first: Vec<u8> = (0..50_000u32).map(|i| (i % 13) as u8 * 17).collect();
    let mut zip = zip_of(
        &[("bad.bin", &first), ("good.txt", b"still here")],
        CompressionMethod::Deflated,
    );
    // Damage the middle of the first member's deflate stream.
    let at = 30 + "bad.bin".len() + 40;
    for b in &mut zip[at..at + 32] {
        *b ^= 0x5A;
    }
    let (report, seen) = collect(&zip, &Limits::default());
    assert!(
        seen.iter()
            .any(|s| s.path == ["good.txt"] && s.data == b"still here"),
        "{seen:?}"
    );
    assert!(
        report.errors.iter().any(|(p, _)| p == "bad.bin"),
        "{report:?}"
    );
    let bad = seen.iter().find(|s| s.path == ["bad.bin"]);
    assert!(bad.is_none_or(|b| b.truncated));
}

#[test]
fn truncated_archives_report_errors() {
    let tar = tar_of(&[("a", &[1u8; 3000]), ("b", &[2u8; 3000])]);
    let zip = zip_of(&[("a", &[1u8; 3000])], CompressionMethod::Deflated);
    let tgz = gz(&tar, None);
    for data in [
        &tar[..3500],
        &zip[..zip.len() - 10],
        &tgz[..tgz.len() / 2],
        &sevenz_of(&[("a", b"abc")], false)[..40],
    ] {
        let (report, _) = collect(data, &Limits::default());
        assert!(report.format.is_some());
        assert!(
            !report.errors.is_empty() || !report.not_expanded.is_empty(),
            "{report:?}"
        );
    }
}

#[test]
fn garbage_after_magic_never_panics() {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let magics: [&[u8]; 7] = [
        b"PK\x03\x04",
        b"7z\xBC\xAF\x27\x1C\x00\x04",
        b"\x1F\x8B\x08",
        b"BZh91AY&SY",
        b"\xFD7zXZ\x00",
        b"Rar!\x1A\x07\x00",
        b"PK\x05\x06",
    ];
    for magic in magics {
        for len in [0usize, 1, 20, 100, 600, 5000] {
            let mut data = magic.to_vec();
            data.extend((0..len).map(|_| rand() as u8));
            let (report, _) = collect(&data, &small_limits());
            assert!(report.format.is_some());
        }
    }
}

#[test]
fn members_limit_counts_every_depth() {
    let inner = zip_of(
        &[("1", b"1"), ("2", b"2"), ("3", b"3")],
        CompressionMethod::Stored,
    );
    let outer = zip_of(
        &[("a.zip", &inner), ("b.zip", &inner)],
        CompressionMethod::Stored,
    );
    let limits = Limits {
        max_members: 5,
        ..Limits::default()
    };
    let (report, seen) = collect(&outer, &limits);
    assert_eq!(seen.len(), 5);
    assert_eq!(report.members, 5);
    let hit = report.exceeded_of(Limit::Members).unwrap();
    assert_eq!(hit.path, "b.zip!/1");
}

/// Two members named alike: the `zip` crate indexes by name and would hide the first.
#[test]
fn duplicate_zip_names_are_all_visited() {
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let mut zip = zip_of(&[("a.php", b"benign"), ("b.php", b"<?php evil();")], method);
        let mut i = 0;
        while let Some(at) = zip[i..].windows(5).position(|w| w == b"b.php") {
            zip[i + at] = b'a';
            i += at + 5;
        }
        let (report, seen) = collect(&zip, &Limits::default());
        let mut got: Vec<(String, Vec<u8>)> =
            seen.iter().map(|s| (s.joined(), s.data.clone())).collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("a.php".to_owned(), b"<?php evil();".to_vec()),
                ("a.php".to_owned(), b"benign".to_vec())
            ],
            "{method:?}"
        );
        assert!(report.errors.is_empty(), "{report:?}");
        assert_eq!(report.members, 2);
    }
}

/// Regression (found by `tests/soak.rs`): a 7z whose LZMA2 chunk has invalid properties. The
/// LZMA2 reader of `lzma-rust2` spins forever when read again after that error, which both
/// the walk's drain and `sevenz-rust2`'s own skip-to-next-member used to do.
#[test]
fn failed_decoder_is_never_read_again() {
    let data = include_bytes!("data/lzma2-bad-props.7z");
    let (report, seen) = collect(data, &small_limits());
    assert_eq!(report.format, Some(Format::SevenZip));
    assert!(seen.len() <= 1);
    assert!(!report.errors.is_empty(), "{report:?}");
}
