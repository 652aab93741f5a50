#![no_main]
//! Zip recovery (`hashscan-archive`): the input follows a local file header signature, so the
//! walk reads it as a zip, and, unless the input brings a valid end record, from its local
//! headers and data descriptors (`src/zipscan.rs`). Nothing may panic; the walk stays within
//! its limits and memory budget. Seed with zips cut before their central directory, streamed
//! zips (data descriptors) and zips whose end record is damaged.

use std::time::Duration;

use hashscan_archive::{Flow, Limits, MemoryBudget, walk_named_in};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = b"PK\x03\x04".to_vec();
    input.extend_from_slice(data);
    let limits = Limits {
        max_depth: 3,
        max_members: 64,
        max_total_bytes: 4 << 20,
        max_member_bytes: 1 << 20,
        max_ratio: 100,
        ratio_threshold: 64 << 10,
    };
    let budget = MemoryBudget::with_wait(2 << 20, Duration::ZERO);
    let scan = budget.scan();
    let report = walk_named_in("", &input, &limits, &scan, &mut |entry| {
        assert!(entry.data.len() as u64 <= limits.max_member_bytes);
        Flow::Continue
    });
    assert!(report.format.is_some());
    assert!(report.bytes <= limits.max_total_bytes);
    assert!(report.members <= limits.max_members);
    assert!(budget.peak() <= budget.total());
    assert_eq!(budget.used(), 0);
});
