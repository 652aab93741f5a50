#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The detector's memory budget: every scan's buffers (the file's kept bytes, the archive
//! walk's members) come from one budget shared by all scanning threads; it is never exceeded,
//! and a scan it cannot serve ends `unknown` with a note, never `clean`.

use std::io::Write;
use std::time::Duration;

use hashscan_detect::{Config, Detector, MemoryBudget, Report, RuleConfig, Verdict};

const MIB: usize = 1 << 20;

fn eicar() -> Vec<u8> {
    let first = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    let second = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    format!("{first}{second}").into_bytes()
}

fn detector(memory: MemoryBudget) -> Detector {
    let (d, _) = Detector::new(Config {
        memory,
        ..Config::default()
    })
    .unwrap();
    d
}

fn zip_of(members: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .large_file(false);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// `size` bytes that deflate about 64:1, evenly: under the default ratio limit everywhere.
fn low_ratio_bytes(size: usize) -> Vec<u8> {
    let noise = pseudo_random(800);
    let mut out = vec![0u8; size];
    for chunk in out.chunks_mut(64 << 10) {
        let n = chunk.len().min(noise.len());
        chunk[..n].copy_from_slice(&noise[..n]);
    }
    out
}

fn pseudo_random(size: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Four nested zips (the 3 MB upload that expanded to 1 GiB, scaled down): the bottom file
/// stored in three stored zips, deflated into the outer one. No default limit trips.
fn nested_levels(bottom: &[u8]) -> Vec<u8> {
    use zip::CompressionMethod::{Deflated, Stored};
    let l1 = zip_of(&[("bottom.bin", bottom)], Stored);
    let l2 = zip_of(&[("l1.zip", &l1)], Stored);
    let l3 = zip_of(&[("l2.zip", &l2)], Stored);
    zip_of(&[("l3.zip", &l3)], Deflated)
}

fn memory_noted(r: &Report) -> bool {
    r.notes.iter().any(|n| n.contains("memory"))
}

/// 12 threads scan the nested bomb at once under a budget that holds one expanded level and
/// a bit: the budget's high-water mark stays within it, every result is either a complete
/// clean scan or `unknown` with the memory noted, and the budget is all given back.
#[test]
fn concurrent_scans_stay_within_one_shared_budget() {
    let bottom = low_ratio_bytes(4 * MIB);
    let bomb = nested_levels(&bottom);
    let total = 6 * MIB as u64;
    let budget = MemoryBudget::with_wait(total, Duration::from_secs(20));
    let d = detector(budget.clone());
    // With room to spare, the bomb is clean and complete: four levels, no limit.
    let alone = detector(MemoryBudget::new(64 << 20)).scan_bytes(&bomb);
    assert_eq!(alone.verdict, Verdict::Clean, "{alone:#?}");
    assert_eq!(alone.archive.as_ref().unwrap().members_scanned, 4);

    let reports: Vec<Report> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| s.spawn(|| d.scan_reader(&mut &bomb[..], bomb.len() as u64).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let verdicts: Vec<_> = reports
        .iter()
        .map(|r| (r.verdict, memory_noted(r)))
        .collect();
    eprintln!(
        "verdicts {verdicts:?}, budget peak {} of {total}",
        budget.peak()
    );
    assert!(budget.peak() <= total, "{} > {total}", budget.peak());
    assert!(budget.peak() >= 4 * MIB as u64, "a level was held");
    assert_eq!(budget.used(), 0);
    for r in &reports {
        match r.verdict {
            Verdict::Clean => {
                assert!(!memory_noted(r) && r.notes.is_empty(), "{r:#?}");
                assert_eq!(r.archive.as_ref().unwrap().members_scanned, 4);
            }
            Verdict::Unknown => assert!(memory_noted(r), "{r:#?}"),
            other => panic!("{other}: {r:#?}"),
        }
    }
    assert!(reports.iter().any(|r| r.verdict == Verdict::Clean));
}

/// A member that needs more than the whole budget: cut, noted, `unknown`; what fits is
/// scanned all the same.
#[test]
fn a_member_larger_than_the_budget_makes_the_scan_unknown() {
    let big = pseudo_random(3 * MIB);
    let zip = zip_of(
        &[("big.bin", &big), ("readme.txt", b"hello")],
        zip::CompressionMethod::Deflated,
    );
    let budget = MemoryBudget::with_wait(MIB as u64, Duration::from_secs(5));
    let d = detector(budget.clone());
    let r = d.scan_bytes(&zip);
    assert_eq!(r.verdict, Verdict::Unknown, "{r:#?}");
    assert!(memory_noted(&r), "{:?}", r.notes);
    let a = r.archive.as_ref().unwrap();
    assert_eq!(a.members_scanned, 2);
    assert!(
        a.limits_exceeded.is_none(),
        "the budget is not the file's limit"
    );
    assert!(
        r.hits.iter().all(|h| h.name != "Archive.LimitsExceeded"),
        "{r:#?}"
    );
    assert!(budget.peak() <= MIB as u64);

    // A finding in what could be scanned still counts.
    let with_eicar = zip_of(
        &[("big.bin", &big), ("eicar.com", &eicar())],
        zip::CompressionMethod::Deflated,
    );
    assert_eq!(d.scan_bytes(&with_eicar).verdict, Verdict::Malicious);
}

/// The file's own buffer comes from the budget too: what does not fit is hashed, not
/// scanned, and the report says so.
#[test]
fn a_file_larger_than_the_budget_is_hashed_whole_and_scanned_in_part() {
    let data = pseudo_random(3 * MIB);
    let budget = MemoryBudget::with_wait(MIB as u64, Duration::from_secs(5));
    let d = detector(budget.clone());
    let r = d.scan_reader(&mut &data[..], data.len() as u64).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{r:#?}");
    assert_eq!(r.size, data.len() as u64);
    use sha2::Digest;
    assert_eq!(r.sha256, hex::encode(sha2::Sha256::digest(&data)));
    assert!(
        r.notes[0].starts_with("only the first 1048576 of 3145728 bytes were scanned (memory"),
        "{:?}",
        r.notes
    );
    assert!(budget.peak() <= MIB as u64);
    assert_eq!(budget.used(), 0);
}

/// A file on disk is mapped, not copied: a budget far smaller than the file does not stop
/// it from being scanned whole, hashed whole, and nothing is drawn from the budget for it.
#[test]
fn a_large_file_on_disk_is_scanned_whole_without_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tail.yar"),
        r#"rule tail_marker { meta: score = 90 strings: $a = "tail-marker" condition: $a }"#,
    )
    .unwrap();
    let mut data = pseudo_random(6 * MIB);
    let at = data.len() - 100;
    data[at..at + 11].copy_from_slice(b"tail-marker");
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();
    let budget = MemoryBudget::with_wait(MIB as u64, Duration::from_secs(1));
    let (d, _) = Detector::new(Config {
        rules: RuleConfig {
            paths: vec![dir.path().join("tail.yar")],
            default_pack: false,
        },
        memory: budget.clone(),
        ..Config::default()
    })
    .unwrap();
    let r = d.scan_file(&path).unwrap();
    assert_eq!(r.verdict, Verdict::Malicious, "{r:#?}");
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert_eq!(r.hits[0].highlights, vec![[at as u64, at as u64 + 11]]);
    assert_eq!(r.size, data.len() as u64);
    use sha2::Digest;
    assert_eq!(r.sha256, hex::encode(sha2::Sha256::digest(&data)));
    let others = hashscan_digest::hash_bytes("md5,sha1".parse().unwrap(), &data);
    let hex_of = |a| others.get(a).unwrap().to_hex();
    assert_eq!(r.md5, hex_of(hashscan_digest::Algorithm::Md5));
    assert_eq!(r.sha1, hex_of(hashscan_digest::Algorithm::Sha1));
    assert_eq!(
        budget.peak(),
        0,
        "the mapped file draws nothing from the budget"
    );

    // The same file as a stream is held in a buffer, so the budget cuts it.
    let r = d.scan_reader(&mut &data[..], data.len() as u64).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{r:#?}");

    // The scan size still bounds what is scanned, not what is hashed.
    let (d, _) = Detector::new(Config {
        rules: RuleConfig {
            paths: vec![dir.path().join("tail.yar")],
            default_pack: false,
        },
        max_scan_size: 2 * MIB as u64,
        ..Config::default()
    })
    .unwrap();
    let r = d.scan_file(&path).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{r:#?}");
    assert_eq!(
        r.notes,
        vec![format!(
            "only the first {} of {} bytes were scanned (max scan size)",
            2 * MIB,
            data.len()
        )]
    );
    assert_eq!(r.sha256, hex::encode(sha2::Sha256::digest(&data)));
}

/// A mapped archive is walked from the mapping: its members are found and hashed.
#[test]
fn a_large_archive_on_disk_is_walked_from_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let filler = pseudo_random(3 * MIB);
    let zip = zip_of(
        &[("filler.bin", &filler), ("shell.txt", &eicar())],
        zip::CompressionMethod::Stored,
    );
    assert!(zip.len() as u64 >= hashscan_detect::engine::MAP_MIN);
    let path = dir.path().join("bundle.zip");
    std::fs::write(&path, &zip).unwrap();
    let d = detector(MemoryBudget::new(64 << 20));
    let r = d.scan_file(&path).unwrap();
    assert_eq!(r.verdict, Verdict::Malicious, "{r:#?}");
    let archive = r.archive.as_ref().unwrap();
    assert_eq!(archive.members_scanned, 2);
    let shell = archive
        .members
        .iter()
        .find(|m| m.path == "shell.txt")
        .unwrap();
    use sha2::Digest;
    assert_eq!(shell.sha256, hex::encode(sha2::Sha256::digest(eicar())));
    assert_eq!(r.sha256, hex::encode(sha2::Sha256::digest(&zip)));
    assert!(r.labels.contains(&"Zip".to_string()), "{:?}", r.labels);
}
