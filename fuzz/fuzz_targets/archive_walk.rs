#![no_main]
//! Archive walking over arbitrary bytes (`hashscan-archive`): every format's parser and
//! decoder, nested, under a small memory budget. Nothing may panic; the walk must stay within
//! its limits and its budget, and give every reserved byte back; labelling must not panic
//! either. Seed the corpus with small zip/tar/gz/bz2/xz/7z files for depth.

use std::time::Duration;

use hashscan_archive::{Flow, Limits, MemoryBudget, labels, labels_with_report, walk_named_in};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 4,
        max_members: 64,
        max_total_bytes: 4 << 20,
        max_member_bytes: 1 << 20,
        max_ratio: 100,
        ratio_threshold: 64 << 10,
    };
    let budget = MemoryBudget::with_wait(3 << 20, Duration::ZERO);
    let scan = budget.scan();
    let mut visited = 0u32;
    let report = walk_named_in("", data, &limits, &scan, &mut |entry| {
        visited += 1;
        assert!(entry.data.len() as u64 <= limits.max_member_bytes);
        assert_eq!(entry.depth as usize, entry.path.len());
        assert!(entry.depth >= 1 && entry.depth <= limits.max_depth);
        Flow::Continue
    });
    assert!(report.bytes <= limits.max_total_bytes);
    assert!(report.members <= limits.max_members);
    assert!(visited <= report.members);
    assert!(budget.peak() <= budget.total());
    assert_eq!(budget.used(), 0);
    if report.format.is_none() {
        assert_eq!(visited, 0);
    }
    let _ = labels(data);
    let _ = labels_with_report(data, &report);
});
