#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Builds a decompression bomb in memory, walks it with the default limits and prints time,
//! bytes and peak memory. Peak RSS of the whole process:
//!
//! ```text
//! cargo build --release -p hashscan-archive --example bomb_rss
//! /usr/bin/time -v target/release/examples/bomb_rss flat      # or: nested overlap gzip 7z many
//! ```
//!
//! The fixture is built before the walk; `VmHWM` before and after shows what the walk added.

use std::io::{Cursor, Write};
use std::time::Instant;

use hashscan_archive::{Flow, Limits, walk};
use zip::CompressionMethod;

#[path = "../tests/common/mod.rs"]
mod common;
use common::{gz_zeros, opts, overlap, sevenz_of, zip_copies, zip_of_zeros};

const MIB: u64 = 1 << 20;

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_else(|| "flat".to_owned());
    let data = match kind.as_str() {
        "flat" => {
            let kernel = zip_of_zeros("zeros.bin", 200_000_000);
            zip_copies(&kernel, 10, |i, _| format!("{i}.bin"))
        }
        "flat-noratio" => {
            let kernel = zip_of_zeros("zeros.bin", 200_000_000);
            zip_copies(&kernel, 10, |i, _| format!("{i}.bin"))
        }
        "nested" => {
            let mut layer = zip_of_zeros("0.bin", 64 * MIB);
            for _ in 0..4 {
                let inner = layer.clone();
                let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
                for i in 0..16 {
                    w.start_file(format!("{i:x}.zip"), opts(CompressionMethod::Deflated))
                        .unwrap();
                    w.write_all(&inner).unwrap();
                }
                layer = w.finish().unwrap().into_inner();
            }
            layer
        }
        "overlap" => overlap(&zip_of_zeros("k", 50_000_000), 20_000),
        "gzip" => gz_zeros(4 << 30),
        "gzip-noratio" => gz_zeros(4 << 30),
        "7z" => sevenz_of(&[("zeros", &vec![0u8; 300_000_000])], false),
        "many" => {
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
            for i in 0..100_000 {
                w.start_file(format!("{i}"), opts(CompressionMethod::Stored))
                    .unwrap();
            }
            w.finish().unwrap().into_inner()
        }
        other => panic!("unknown bomb {other}"),
    };
    let mut limits = Limits::default();
    if kind.ends_with("-noratio") {
        limits.max_ratio = u32::MAX;
    }
    let before = hwm_kib();
    let start = Instant::now();
    let mut visited = 0u64;
    let report = walk(&data, &limits, &mut |e| {
        visited += e.data.len() as u64;
        Flow::Continue
    });
    let took = start.elapsed();
    let after = hwm_kib();
    let mut kinds: Vec<String> = report
        .exceeded
        .iter()
        .map(|e| format!("{:?}", e.limit))
        .collect();
    kinds.dedup();
    println!(
        "{kind}: {} bytes compressed; walk {:.3}s; {} members; {} bytes decoded ({} visited); \
         exceeded {} times [{}]; peak RSS {} MiB before the walk, {} MiB after",
        data.len(),
        took.as_secs_f64(),
        report.members,
        report.bytes,
        visited,
        report.exceeded.len(),
        kinds.join(", "),
        before / 1024,
        after / 1024,
    );
    if let Some(last) = report.exceeded.last() {
        println!("last limit: {last}");
    }
}

/// Peak resident set size of this process so far, in KiB (Linux; 0 elsewhere).
fn hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
