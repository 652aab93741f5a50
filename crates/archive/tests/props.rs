#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests: random and mutated archives never panic, and the work stays bounded.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use hashscan_archive::{Flow, Limits, labels, walk};
use proptest::prelude::*;

/// Valid archives of every format to mutate.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(mutation_seeds)
}

/// Walks `data` with small limits and checks the invariants.
fn check(data: &[u8]) -> Result<(), TestCaseError> {
    let limits = small_limits();
    let start = Instant::now();
    let mut visited = 0u64;
    let report = walk(data, &limits, &mut |e| {
        visited += e.data.len() as u64;
        assert!(e.data.len() as u64 <= limits.max_member_bytes);
        assert_eq!(e.depth as usize, e.path.len());
        assert!(e.depth <= limits.max_depth);
        Flow::Continue
    });
    prop_assert!(report.bytes <= limits.max_total_bytes);
    prop_assert!(report.members <= limits.max_members);
    prop_assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    let _ = labels(data);
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Zero(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, x)| Mutation::Flip(at, x)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Zero(at, n)),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    let len = data.len();
    match m {
        Mutation::Flip(at, x) => data[at % len] ^= x,
        Mutation::Truncate(at) => data.truncate(at % len),
        Mutation::Insert(at, bytes) => {
            let at = at % len;
            data.splice(at..at, bytes.iter().copied());
        }
        Mutation::Zero(at, n) => {
            let at = at % len;
            let end = (at + n).min(len);
            data[at..end].fill(0);
        }
    }
}

proptest! {

    #[test]
    fn random_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&data)?;
    }

    #[test]
    fn random_bytes_after_a_magic(magic in 0usize..8, data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let magics: [&[u8]; 8] = [
            b"PK\x03\x04", b"PK\x05\x06", b"7z\xBC\xAF\x27\x1C\x00\x04", b"\x1F\x8B\x08",
            b"BZh91AY&SY", b"\xFD7zXZ\x00", b"Rar!\x1A\x07\x01\x00", b"xar!",
        ];
        let mut input = magics[magic].to_vec();
        input.extend(data);
        check(&input)?;
    }

    #[test]
    fn mutated_archives(seed in 0usize..10, mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut data = seeds()[seed % seeds().len()].clone();
        for m in &mutations {
            apply(&mut data, m);
        }
        check(&data)?;
    }

    #[test]
    fn random_text_labels(text in "\\PC{0,300}") {
        let _ = labels(text.as_bytes());
    }
}

#[test]
fn seeds_walk_cleanly() {
    for (i, seed) in seeds().iter().enumerate() {
        let (report, seen) = collect(seed, &Limits::default());
        assert!(report.is_complete(), "seed {i}: {report:?}");
        assert!(!seen.is_empty(), "seed {i}");
    }
}
