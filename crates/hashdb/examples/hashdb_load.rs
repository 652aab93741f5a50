//! Loads hash lists and reports load time, memory and lookup throughput.
//!
//! ```text
//! cargo run --release -p hashscan-hashdb --example hashdb_load -- --generate 1000000 hsb
//! cargo run --release -p hashscan-hashdb --example hashdb_load -- /var/lib/clamav/main.hdb full.csv
//! ```
//!
//! `--generate N FORMAT` writes an N-entry list to a temporary file first; FORMAT is
//! `plain` (SHA-256 per line), `hsb` (SHA-256, sizes, one name per 20 entries) or `hdb`
//! (MD5, sizes, a unique name per entry). Run under `/usr/bin/time -v` for peak RSS.

use std::error::Error;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use hashscan_hashdb::{Digests, HashDb, ListKind};
#[path = "../tests/support/mod.rs"]
mod support;
use support::{push_hex, sha256_of};

/// Writes a generated list; entry `i` uses `sha256_of(i)` (first 16 bytes for MD5).
fn generate(n: u64, format: &str, dir: &std::path::Path) -> Result<PathBuf, Box<dyn Error>> {
    let ext = match format {
        "plain" => "txt",
        "hsb" | "hdb" => format,
        other => return Err(format!("unknown format {other}").into()),
    };
    let path = dir.join(format!("generated.{ext}"));
    let mut w = BufWriter::new(std::fs::File::create(&path)?);
    let mut line = Vec::with_capacity(128);
    for i in 0..n {
        line.clear();
        let h = sha256_of(i);
        match format {
            "plain" => push_hex(&mut line, &h),
            "hsb" => {
                push_hex(&mut line, &h);
                write!(line, ":{}:Win.Trojan.Gen-{}:73", 1000 + i, i / 20)?;
            }
            _ => {
                push_hex(&mut line, &h[..16]);
                write!(line, ":{}:Win.Trojan.Agent-{i}-0", 1000 + i)?;
            }
        }
        line.push(b'\n');
        w.write_all(&line)?;
    }
    w.flush()?;
    Ok(path)
}

/// Time this thread has spent on a CPU (Linux `schedstat`), in seconds: unlike wall time,
/// it does not grow when other processes compete for the cores.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Formats wall time and, when available, on-CPU time since `cpu0`.
fn timing(wall: f64, cpu0: Option<f64>) -> String {
    match (cpu0, cpu_secs()) {
        (Some(a), Some(b)) => format!("{wall:.3} s wall, {:.3} s on-CPU", b - a),
        _ => format!("{wall:.3} s wall"),
    }
}

/// Peak resident set size so far (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tmp = tempfile::tempdir()?;
    let mut paths = Vec::new();
    let mut generated = 0u64;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--generate" {
            let n: u64 = it.next().ok_or("--generate N FORMAT")?.parse()?;
            let format = it.next().ok_or("--generate N FORMAT")?;
            let t = Instant::now();
            paths.push(generate(n, format, tmp.path())?);
            generated = n;
            eprintln!("generated {n} {format} entries in {:.2?}", t.elapsed());
        } else {
            paths.push(PathBuf::from(arg));
        }
    }
    if paths.is_empty() {
        return Err("usage: hashdb_load [--generate N plain|hsb|hdb] [LIST...]".into());
    }

    let t = Instant::now();
    let cpu0 = cpu_secs();
    let mut builder = HashDb::builder();
    for path in &paths {
        let report = builder.load_path(path, ListKind::Bad)?;
        println!(
            "{}: {} lines, {} entries, {} malformed ({})",
            report.source, report.lines, report.entries, report.malformed, report.format
        );
        for p in &report.problems {
            println!("  {p}");
        }
    }
    let parsed = t.elapsed();
    let db = builder.build();
    let total = t.elapsed();
    println!(
        "load: {} (parse {:.3} s + build {:.3} s wall), {} distinct hashes",
        timing(total.as_secs_f64(), cpu0),
        parsed.as_secs_f64(),
        (total - parsed).as_secs_f64(),
        db.len()
    );
    println!(
        "memory_bytes: {} ({:.1} MB, {:.1} B/entry)",
        db.memory_bytes(),
        db.memory_bytes() as f64 / 1e6,
        db.memory_bytes() as f64 / db.len().max(1) as f64
    );
    if let Some(peak) = peak_rss_kib() {
        println!(
            "peak RSS after load+build: {:.1} MB",
            peak as f64 * 1024.0 / 1e6
        );
    }
    let t = Instant::now();
    let version = db.version().to_owned();
    println!("version: {version} ({:.3} s)", t.elapsed().as_secs_f64());

    // Lookups: whole-file digests, half of them present (when generated), in random order.
    let n = generated.max(1);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let probes: Vec<(Digests, u64)> = (0..1_000_000u64)
        .map(|k| {
            let i = if k % 2 == 0 {
                next() % n
            } else {
                n + next() % n
            };
            let h = sha256_of(i);
            let mut d = Digests {
                sha256: h,
                sha1: [0; 20],
                md5: [0; 16],
            };
            d.sha1.copy_from_slice(&h[..20]);
            d.md5.copy_from_slice(&h[..16]);
            (d, 1000 + i)
        })
        .collect();
    let rounds = 4;
    let count = probes.len() * rounds;
    let rate = |t: Instant, cpu0: Option<f64>| {
        let wall = count as f64 / t.elapsed().as_secs_f64() / 1e6;
        match (cpu0, cpu_secs()) {
            (Some(a), Some(b)) => format!(
                "{wall:.2} M/s wall, {:.2} M/s on-CPU",
                count as f64 / (b - a) / 1e6
            ),
            _ => format!("{wall:.2} M/s wall"),
        }
    };
    let (t, cpu0) = (Instant::now(), cpu_secs());
    let mut hits = 0usize;
    for _ in 0..rounds {
        for (d, size) in &probes {
            hits += usize::from(db.lookup(d, *size).is_some());
        }
    }
    println!(
        "lookup(&Digests): {} ({count} lookups, {:.1} % hits)",
        rate(t, cpu0),
        100.0 * hits as f64 / count as f64
    );
    let (t, cpu0) = (Instant::now(), cpu_secs());
    let mut hits = 0usize;
    for _ in 0..rounds {
        for (d, _) in &probes {
            hits += usize::from(db.lookup_sha256(&d.sha256, None).is_some());
        }
    }
    println!(
        "lookup_sha256: {} ({:.1} % hits)",
        rate(t, cpu0),
        100.0 * hits as f64 / count as f64
    );
    Ok(())
}
