#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Decompression bombs and other resource attacks end early, with `exceeded` set, within the
//! byte budget and quickly.

mod common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use common::*;
use hashscan_archive::{Format, Limit, Limits, Report};
use zip::CompressionMethod;

const MIB: u64 = 1 << 20;

/// Generous wall-clock bound for one walk (debug build of this crate, 2 cores, parallel tests).
const FAST: Duration = Duration::from_secs(30);

fn timed(data: &[u8], limits: &Limits) -> (Report, Vec<(String, usize, bool)>, Duration) {
    let start = Instant::now();
    let (report, seen) = collect_light(data, limits);
    let took = start.elapsed();
    eprintln!(
        "walk of {} compressed bytes: {:?}, {} members, {} bytes out, exceeded {:?}",
        data.len(),
        took,
        report.members,
        report.bytes,
        report.exceeded.iter().map(|e| e.limit).collect::<Vec<_>>()
    );
    (report, seen, took)
}

/// The central invariant: never more bytes than the budget, never a member above its cap.
fn within_budget(report: &Report, seen: &[(String, usize, bool)], limits: &Limits) {
    assert!(
        report.bytes <= limits.max_total_bytes,
        "{} > {}",
        report.bytes,
        limits.max_total_bytes
    );
    assert!(
        seen.iter()
            .all(|(_, len, _)| *len as u64 <= limits.max_member_bytes)
    );
    assert!(report.members <= limits.max_members);
}

/// 10 members of 200 MB of zeros each (2 GB), deflated to ~2 MB.
fn flat_bomb() -> Vec<u8> {
    let kernel = zip_of_zeros("zeros.bin", 200_000_000);
    zip_copies(&kernel, 10, |i, _| format!("zeros-{i}.bin"))
}

#[test]
fn flat_zip_bomb_stops_on_ratio_with_defaults() {
    let bomb = flat_bomb();
    assert!(bomb.len() < 3_000_000, "{}", bomb.len());
    let limits = Limits::default();
    let (report, seen, took) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    assert_eq!(seen.len(), 10);
    assert!(
        seen.iter()
            .all(|(_, len, truncated)| *truncated && (*len as u64) < 4 * MIB),
        "{seen:?}"
    );
    let ratio: Vec<_> = report
        .exceeded
        .iter()
        .filter(|e| e.limit == Limit::Ratio)
        .collect();
    assert_eq!(ratio.len(), 10, "{report:?}");
    assert!(
        ratio[0].message.contains("compression ratio"),
        "{}",
        ratio[0]
    );
    assert!(report.bytes < 40 * MIB);
    assert!(took < FAST);
}

#[test]
fn flat_zip_bomb_stops_on_total_bytes() {
    let bomb = flat_bomb();
    let limits = Limits {
        max_ratio: u32::MAX,
        max_total_bytes: 300 * MIB,
        max_member_bytes: 64 * MIB,
        ..Limits::default()
    };
    let (report, seen, took) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    let hit = report
        .exceeded_of(Limit::TotalBytes)
        .expect("total-bytes limit");
    assert!(hit.message.contains("max_total_bytes"), "{hit}");
    assert_eq!(
        report.bytes,
        300 * MIB,
        "the budget is used to the byte, not past it"
    );
    // 64 MiB visited per member, the rest of each member left unread; 5 members reach 300 MiB.
    assert!(seen.len() <= 5, "{seen:?}");
    assert!(took < FAST);
}

/// Fifield-style overlapping bomb: thousands of central-directory entries that all point at
/// the same deflate kernel.
#[test]
fn overlapping_entries_bomb() {
    let kernel = zip_of_zeros("k", 50_000_000);
    let bomb = overlap(&kernel, 20_000);
    assert!(bomb.len() < 1_200_000, "{}", bomb.len());
    // Defaults: each entry is cut by the ratio limit at ~1 MiB, then the member limit ends it.
    let limits = Limits::default();
    let (report, seen, took) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    assert!(
        report.exceeded_of(Limit::Members).is_some()
            || report.exceeded_of(Limit::TotalBytes).is_some(),
        "{:?}",
        report.exceeded.last()
    );
    assert!(took < FAST * 2);

    let limits = Limits {
        max_total_bytes: 64 * MIB,
        ..Limits::default()
    };
    let (report, seen, _) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    assert!(report.exceeded_of(Limit::TotalBytes).is_some());
    assert!(seen.len() < 70);
}

/// 42.zip style: five layers, each holding 16 copies of the layer below; 16^4 leaves of
/// 64 MiB of zeros each (4 TiB) in a few hundred KB.
#[test]
fn nested_bomb() {
    let mut layer = zip_of_zeros("0.bin", 64 * MIB);
    for level in 1..=4 {
        let members: Vec<(String, Vec<u8>)> = (0..16)
            .map(|i| (format!("l{level}-{i:x}.zip"), layer.clone()))
            .collect();
        let refs: Vec<(&str, &[u8])> = members
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        layer = zip_of(&refs, CompressionMethod::Deflated);
    }
    assert!(layer.len() < 20_000_000, "{}", layer.len());
    let limits = Limits::default();
    let (report, seen, took) = timed(&layer, &limits);
    within_budget(&report, &seen, &limits);
    assert!(
        report.exceeded_of(Limit::Members).is_some()
            || report.exceeded_of(Limit::TotalBytes).is_some()
    );
    assert!(report.exceeded_of(Limit::Ratio).is_some());
    assert!(
        seen.iter().any(|(p, _, _)| p.matches(" > ").count() == 4),
        "leaves reached"
    );
    assert!(took < FAST * 2);
}

#[test]
fn gzip_bomb() {
    // 1 GiB of zeros in ~1 MB.
    let bomb = gz_zeros(1 << 30);
    assert!(bomb.len() < 1_200_000, "{}", bomb.len());
    let limits = Limits::default();
    let (report, seen, took) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    assert_eq!(report.format, Some(Format::Gzip));
    assert!(report.exceeded_of(Limit::Ratio).is_some());
    assert!(seen[0].1 < 4 << 20 && seen[0].2);
    assert!(took < FAST);

    // Ratio check off: the member is cut at max_member_bytes instead.
    let limits = Limits {
        max_ratio: u32::MAX,
        max_member_bytes: 32 * MIB,
        ..Limits::default()
    };
    let (report, seen, took) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    assert_eq!(seen[0].1 as u64, 32 * MIB);
    assert!(seen[0].2);
    assert!(report.exceeded_of(Limit::MemberBytes).is_some());
    assert!(report.bytes <= 32 * MIB + 1);
    assert!(took < FAST);
}

#[test]
fn xz_and_bzip2_bombs() {
    let data = vec![0u8; 100_000_000];
    for (name, bomb) in [("xz", xz(&data)), ("bz2", bz2(&data))] {
        let limits = Limits::default();
        let (report, seen, took) = timed(&bomb, &limits);
        within_budget(&report, &seen, &limits);
        assert!(
            report.exceeded_of(Limit::Ratio).is_some(),
            "{name}: {report:?}"
        );
        assert!(seen[0].1 < (8 << 20), "{name}");
        assert!(took < FAST);
    }
}

#[test]
fn sevenz_solid_bomb_is_metered() {
    let zeros = vec![0u8; 100_000_000];
    let bomb = sevenz_of(
        &[("zeros", &zeros), ("after.exe", b"MZ after the bomb")],
        true,
    );
    drop(zeros);
    // Defaults: the ratio limit cuts the first member, and the rest of its block with it.
    let limits = Limits::default();
    let (report, seen, took) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    assert!(report.exceeded_of(Limit::Ratio).is_some(), "{report:?}");
    assert!(took < FAST);
    // Without the ratio limit, the member is cut at max_member_bytes, the rest of it is decoded
    // (and counted) to reach the next member of the solid block.
    let limits = Limits {
        max_ratio: u32::MAX,
        max_member_bytes: 8 * MIB,
        ..Limits::default()
    };
    let (report, seen, _) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].0, "after.exe");
    assert!(report.bytes >= 100_000_000);
    // And with a byte budget below the block, the walk stops inside it.
    let limits = Limits {
        max_total_bytes: 50 * MIB,
        ..limits
    };
    let (report, seen, _) = timed(&bomb, &limits);
    within_budget(&report, &seen, &limits);
    assert!(report.exceeded_of(Limit::TotalBytes).is_some());
    assert_eq!(seen.len(), 1);
}

#[test]
fn ratio_limit_spares_small_members() {
    let limits = Limits::default();
    let small = zip_of(&[("z", &vec![0u8; 900_000])], CompressionMethod::Deflated);
    let (report, seen) = collect(&small, &limits);
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(seen[0].data.len(), 900_000);

    let big = zip_of_zeros("z", 10 * MIB);
    let (report, seen) = collect(&big, &limits);
    assert!(seen[0].truncated);
    assert!(seen[0].data.len() as u64 > MIB && (seen[0].data.len() as u64) < 4 * MIB);
    assert_eq!(report.exceeded_of(Limit::Ratio).unwrap().path, "z");
}

#[test]
fn depth_limit() {
    let mut archive = zip_of(&[("payload.txt", b"deepest")], CompressionMethod::Deflated);
    for level in 0..8 {
        archive = zip_of(
            &[(&format!("level{level}.zip"), &archive)],
            CompressionMethod::Deflated,
        );
    }
    let limits = Limits::default();
    let (report, seen) = collect(&archive, &limits);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().map(|s| s.depth).max(), Some(5));
    let hit = report.exceeded_of(Limit::Depth).unwrap();
    assert_eq!(
        hit.path,
        "level7.zip!/level6.zip!/level5.zip!/level4.zip!/level3.zip"
    );
    assert!(hit.message.contains("max_depth"), "{hit}");
    assert_eq!(seen[4].format, Some(Format::Zip));

    let (report, seen) = collect(
        &archive,
        &Limits {
            max_depth: 9,
            ..Limits::default()
        },
    );
    assert_eq!(seen.last().unwrap().data, b"deepest");
    assert!(report.is_complete());

    let (report, seen) = collect(
        &archive,
        &Limits {
            max_depth: 0,
            ..Limits::default()
        },
    );
    assert!(seen.is_empty());
    assert!(report.exceeded_of(Limit::Depth).is_some());
}

#[test]
fn hundred_thousand_entries() {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = opts(CompressionMethod::Stored);
    for i in 0..100_000 {
        w.start_file(format!("{i}"), options).unwrap();
    }
    let zip = w.finish().unwrap().into_inner();
    let limits = Limits::default();
    let (report, seen, took) = timed(&zip, &limits);
    within_budget(&report, &seen, &limits);
    assert_eq!(seen.len(), 1000);
    assert_eq!(report.members, 1000);
    assert_eq!(report.exceeded_of(Limit::Members).unwrap().path, "1000");
    assert!(took < FAST);
}

#[test]
fn huge_declared_sizes_allocate_nothing_big() {
    // Stored member whose headers claim 4 GiB - 2 bytes.
    let mut zip = zip_of(&[("liar", b"tiny")], CompressionMethod::Stored);
    patch_sizes(&mut zip, 0xFFFF_FFFE);
    let (report, seen) = collect(&zip, &Limits::default());
    assert!(seen.iter().all(|s| s.data.len() <= 4));
    assert!(report.bytes <= 4);

    // Tar header claiming 8 GiB for a member followed by 512 bytes.
    let mut tar = tar_of(&[("liar", &[7u8; 512])]);
    let size = format!("{:011o}\0", (8u64 << 30) - 1);
    tar[124..136].copy_from_slice(size.as_bytes());
    let sum: u32 = tar[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    tar[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let (report, seen) = collect(&tar, &Limits::default());
    assert_eq!(seen.len(), 1, "{report:?}");
    assert!(seen[0].truncated);
    assert!(!report.errors.is_empty(), "{report:?}");
}

/// A member bigger than `max_member_bytes` is visited truncated; a tar inside such a stream is
/// still walked to the end, from the buffer and then the rest of the stream.
#[test]
fn truncated_member_and_streamed_tar() {
    let blobs: Vec<Vec<u8>> = (0..5u32)
        .map(|k| {
            (0..300_000u32)
                .map(|i| ((i * (k + 3)) % 253) as u8)
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..5).map(|k| format!("f{k}")).collect();
    let members: Vec<(&str, &[u8])> = names
        .iter()
        .map(String::as_str)
        .zip(blobs.iter().map(Vec::as_slice))
        .collect();
    let tar = tar_of(&members);
    let limits = Limits {
        max_member_bytes: 512 << 10,
        ..Limits::default()
    };
    let (report, seen) = collect_named("x.tgz", &gz(&tar, None), &limits);
    assert_eq!(seen[0].path, ["x.tar"]);
    assert!(seen[0].truncated);
    assert_eq!(seen[0].data, tar[..512 << 10]);
    let rest: Vec<_> = seen[1..]
        .iter()
        .map(|s| (s.joined(), s.data.clone()))
        .collect();
    assert_eq!(rest.len(), 5);
    for (k, (path, data)) in rest.iter().enumerate() {
        assert_eq!(path, &format!("x.tar > f{k}"));
        assert_eq!(data, &blobs[k]);
    }
    assert_eq!(report.exceeded.len(), 1);
    assert_eq!(report.exceeded[0].limit, Limit::MemberBytes);
    assert!(report.errors.is_empty(), "{report:?}");

    // A zip member cut the same way is visited truncated and not expanded.
    let zip = zip_of(
        &[("big.zip", &zip_of(&members, CompressionMethod::Stored))],
        CompressionMethod::Stored,
    );
    let (report, seen) = collect(&zip, &limits);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].truncated && seen[0].data.len() == 512 << 10);
    assert_eq!(report.not_expanded.len(), 1, "{report:?}");
}

/// Rewrites the uncompressed size of every member of a stored zip, local and central.
fn patch_sizes(zip: &mut [u8], size: u32) {
    let mut i = 0;
    while i + 46 <= zip.len() {
        match &zip[i..i + 4] {
            b"PK\x03\x04" => {
                zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
                i += 30;
            }
            b"PK\x01\x02" => {
                zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
                i += 46;
            }
            _ => i += 1,
        }
    }
}
