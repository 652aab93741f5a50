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
use zip::write::SimpleFileOptions;

const MIB: u64 = 1 << 20;

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_else(|| "flat".to_owned());
    let data = match kind.as_str() {
        "flat" => {
            let kernel = zip_of_zeros("zeros.bin", 200_000_000);
            copies(&kernel, 10)
        }
        "flat-noratio" => {
            let kernel = zip_of_zeros("zeros.bin", 200_000_000);
            copies(&kernel, 10)
        }
        "nested" => {
            let mut layer = zip_of_zeros("0.bin", 64 * MIB);
            for _ in 0..4 {
                let inner = layer.clone();
                let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
                for i in 0..16 {
                    w.start_file(format!("{i:x}.zip"), options()).unwrap();
                    w.write_all(&inner).unwrap();
                }
                layer = w.finish().unwrap().into_inner();
            }
            layer
        }
        "overlap" => overlap(&zip_of_zeros("k", 50_000_000), 20_000),
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            zeros(&mut e, 4 << 30);
            e.finish().unwrap()
        }
        "gzip-noratio" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            zeros(&mut e, 4 << 30);
            e.finish().unwrap()
        }
        "7z" => {
            let zeros = vec![0u8; 300_000_000];
            let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
            w.push_archive_entry(
                sevenz_rust2::ArchiveEntry::new_file("zeros"),
                Some(&zeros[..]),
            )
            .unwrap();
            w.finish().unwrap().into_inner()
        }
        "many" => {
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
            for i in 0..100_000 {
                w.start_file(
                    format!("{i}"),
                    options().compression_method(CompressionMethod::Stored),
                )
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

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

fn zeros(w: &mut dyn Write, mut n: u64) {
    let chunk = vec![0u8; 1 << 20];
    while n > 0 {
        let k = n.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..k]).unwrap();
        n -= k as u64;
    }
}

fn zip_of_zeros(name: &str, size: u64) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file(name, options()).unwrap();
    zeros(&mut w, size);
    w.finish().unwrap().into_inner()
}

fn copies(kernel: &[u8], n: usize) -> Vec<u8> {
    let mut src = zip::ZipArchive::new(Cursor::new(kernel)).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..n {
        let file = src.by_index_raw(0).unwrap();
        w.raw_copy_file_rename(file, format!("{i}.bin")).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// `n` central-directory records pointing at the one member of `kernel`.
fn overlap(kernel: &[u8], n: u16) -> Vec<u8> {
    let eocd = kernel.len() - 22;
    let le32 = |at: usize| u32::from_le_bytes(kernel[at..at + 4].try_into().unwrap()) as usize;
    let le16 = |at: usize| u16::from_le_bytes(kernel[at..at + 2].try_into().unwrap()) as usize;
    let cd = le32(eocd + 16);
    let name_len = le16(cd + 28);
    let extra = &kernel[cd + 46 + name_len..cd + 46 + name_len + le16(cd + 30)];
    let mut out = kernel[..cd].to_vec();
    let cd_start = out.len();
    for i in 0..n {
        let name = format!("{i:05}");
        let mut header = kernel[cd..cd + 46].to_vec();
        header[28..30].copy_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(extra);
    }
    let cd_size = out.len() - cd_start;
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(cd_size as u32).to_le_bytes());
    out.extend_from_slice(&(cd_start as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
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
