#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The memory budget: member buffers are reserved before they grow and given back after,
//! many walks at once never hold more than the budget, stored members cost nothing, and a
//! member that cannot be held is cut with `Limit::Memory` instead of exhausting memory.

mod common;

use std::time::Duration;

use common::*;
use hashscan_archive::{Flow, Limit, Limits, MemoryBudget, Report, walk_named_in};
use zip::CompressionMethod;

const MIB: usize = 1 << 20;

/// Walks `data` under `budget`, keeping member paths, sizes and truncation.
fn walk_in(
    data: &[u8],
    limits: &Limits,
    budget: &MemoryBudget,
) -> (Report, Vec<(String, usize, bool)>) {
    let scan = budget.scan();
    let mut seen = Vec::new();
    let report = walk_named_in("", data, limits, &scan, &mut |e| {
        seen.push((e.path.join(" > "), e.data.len(), e.truncated));
        Flow::Continue
    });
    assert_eq!(scan.held(), 0, "everything given back after the walk");
    (report, seen)
}

/// Four nested zips, stored inside a deflated outer one: every level is as large as the
/// bottom. Only the outer member needs a buffer; the three stored levels are slices of it.
#[test]
fn nested_stored_levels_cost_one_buffer() {
    let bottom = low_ratio_bytes(8 * MIB);
    let bomb = nested_levels(&bottom);
    assert!(bomb.len() < 8 * MIB / 40, "{}", bomb.len());
    let limits = Limits::default();
    // Room for the outer member and a little more, not for two levels.
    let budget = MemoryBudget::with_wait(12 * MIB as u64, Duration::ZERO);
    let (report, seen) = walk_in(&bomb, &limits, &budget);
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(
        seen.iter().map(|(p, _, _)| p.as_str()).collect::<Vec<_>>(),
        [
            "l3.zip",
            "l3.zip > l2.zip",
            "l3.zip > l2.zip > l1.zip",
            "l3.zip > l2.zip > l1.zip > bottom.bin"
        ]
    );
    assert_eq!(seen[3].1, bottom.len());
    assert!(
        budget.peak() <= 9 * MIB as u64,
        "one level held: {}",
        budget.peak()
    );
    assert!(budget.peak() >= 8 * MIB as u64);
    assert_eq!(budget.used(), 0);
}

/// A member bigger than the whole budget is visited with what fit, and the walk says why.
#[test]
fn a_member_larger_than_the_budget_is_cut_with_the_memory_limit() {
    // Pseudo-random bytes: no ratio limit, only the memory budget.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let data: Vec<u8> = (0..3 * MIB)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let zip = zip_of(
        &[("big.bin", &data), ("small.txt", b"still scanned")],
        CompressionMethod::Deflated,
    );
    let budget = MemoryBudget::with_wait(MIB as u64, Duration::from_secs(5));
    let (report, seen) = walk_in(&zip, &Limits::default(), &budget);
    assert_eq!(seen[0].0, "big.bin");
    assert!(seen[0].2, "truncated");
    assert!(seen[0].1 > 0 && seen[0].1 <= MIB, "{}", seen[0].1);
    assert_eq!(seen[1], ("small.txt".to_owned(), 13, false));
    let memory = report.exceeded_of(Limit::Memory).unwrap();
    assert_eq!(memory.path, "big.bin");
    assert!(memory.message.contains("memory budget"), "{memory:?}");
    assert!(!report.is_complete());
    assert!(budget.peak() <= MIB as u64);
}

/// A compressed tar too big for the budget is still walked: the tar is cut, but its members
/// are read from the rest of the stream, each in a buffer of its own.
#[test]
fn a_stream_too_big_for_the_budget_is_still_walked() {
    let blobs: Vec<Vec<u8>> = (0..4u32)
        .map(|k| {
            (0..MIB as u32)
                .map(|i| ((i * (k + 3)) % 251) as u8)
                .collect()
        })
        .collect();
    let members: Vec<(String, &[u8])> = blobs
        .iter()
        .enumerate()
        .map(|(k, b)| (format!("f{k}"), b.as_slice()))
        .collect();
    let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    let tgz = gz(&tar_of(&refs), Some("x.tar"));
    // Room for 2 MiB of the tar and one member at a time.
    let budget = MemoryBudget::with_wait(7 * MIB as u64 / 2, Duration::ZERO);
    let (report, seen) = walk_in(&tgz, &Limits::default(), &budget);
    assert!(seen[0].2, "the tar is cut: {seen:?}");
    let files: Vec<_> = seen[1..]
        .iter()
        .map(|(p, n, t)| (p.as_str(), *n, *t))
        .collect();
    assert_eq!(
        files,
        [
            ("x.tar > f0", MIB, false),
            ("x.tar > f1", MIB, false),
            ("x.tar > f2", MIB, false),
            ("x.tar > f3", MIB, false)
        ],
        "{report:?}"
    );
    assert_eq!(report.exceeded_of(Limit::Memory).unwrap().path, "x.tar");
    assert!(budget.peak() <= 7 * MIB as u64 / 2);
}

/// Many walks of the nested bomb at once under one small budget: the budget's high-water mark
/// never passes its total, and every walk is either complete or says the memory limit cut it.
#[test]
fn concurrent_walks_share_one_budget() {
    let bottom = low_ratio_bytes(4 * MIB);
    let bomb = nested_levels(&bottom);
    // The outer member with a 4 MiB bottom, at most twice at once.
    let budget = MemoryBudget::with_wait(9 * MIB as u64, Duration::from_secs(10));
    let outcomes: Vec<(bool, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                s.spawn(|| {
                    let (report, seen) = walk_in(&bomb, &Limits::default(), &budget);
                    let memory = report.exceeded_of(Limit::Memory).is_some();
                    let complete = report.is_complete() && seen.len() == 4;
                    (complete, memory)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!(
        "outcomes (complete, memory limit): {outcomes:?}; peak {}",
        budget.peak()
    );
    assert!(budget.peak() <= budget.total());
    assert!(budget.peak() >= 4 * MIB as u64);
    assert_eq!(budget.used(), 0);
    assert!(
        outcomes
            .iter()
            .all(|&(complete, memory)| complete != memory),
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|&(complete, _)| complete));
}
