//! Load and lookup benchmarks over generated 1,000,000-entry lists.
//!
//! `cargo bench -p hashscan-hashdb` (add `-- load` or `-- lookup` to pick a group).

use std::hint::black_box;
use std::io::Write;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hashscan_hashdb::{Digests, Format, HashDb, ListKind};
#[path = "../tests/support/mod.rs"]
mod support;
use support::{push_hex, sha256_of};

const N: u64 = 1_000_000;
const PROBES: usize = 10_000;

/// `.hsb`: SHA-256 of counter i, size 1000 + i, one name per 20 entries.
fn hsb_text(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 100);
    for i in 0..n {
        push_hex(&mut out, &sha256_of(i));
        let _ = writeln!(out, ":{}:Win.Trojan.Gen-{}:73", 1000 + i, i / 20);
    }
    out
}

/// `.hdb`: MD5-sized keys (first 16 bytes of the same SHA-256), a unique name per entry.
fn hdb_text(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 70);
    for i in 0..n {
        push_hex(&mut out, &sha256_of(i)[..16]);
        let _ = writeln!(out, ":{}:Win.Trojan.Agent-{i}-0", 1000 + i);
    }
    out
}

/// Plain list: one SHA-256 per line.
fn plain_text(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 65);
    for i in 0..n {
        push_hex(&mut out, &sha256_of(i));
        out.push(b'\n');
    }
    out
}

fn load(text: &[u8], format: Format) -> HashDb {
    let mut b = HashDb::builder();
    let report = b
        .load_reader(text, format, ListKind::Bad, "bench")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.malformed, 0);
    b.build()
}

fn bench_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    for (name, format, text) in [
        ("plain_sha256_1m", Format::HashList, plain_text(N)),
        ("hsb_sha256_1m", Format::Hsb, hsb_text(N)),
        ("hdb_md5_unique_names_1m", Format::Hdb, hdb_text(N)),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |()| load(black_box(&text), format),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn bench_lookup(c: &mut Criterion) {
    // 1M SHA-256 (.hsb, sizes) + 1M MD5 (.hdb): every whole-file lookup searches two tables.
    let mut b = HashDb::builder();
    for (text, format) in [(hsb_text(N), Format::Hsb), (hdb_text(N), Format::Hdb)] {
        b.load_reader(&text[..], format, ListKind::Bad, "bench")
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let db = b.build();
    eprintln!(
        "lookup db: {} entries, memory_bytes {}",
        db.len(),
        db.memory_bytes()
    );

    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let digests = |i: u64| {
        let h = sha256_of(i);
        let mut d = Digests {
            sha256: h,
            ..Digests::default()
        };
        d.md5.copy_from_slice(&h[..16]);
        d.sha1.copy_from_slice(&h[..20]);
        d
    };
    let hits: Vec<(Digests, u64)> = (0..PROBES)
        .map(|_| rand() % N)
        .map(|i| (digests(i), 1000 + i))
        .collect();
    let misses: Vec<(Digests, u64)> = (0..PROBES)
        .map(|_| N + rand() % N)
        .map(|i| (digests(i), 1000 + i))
        .collect();
    let mixed: Vec<(Digests, u64)> = hits
        .iter()
        .zip(&misses)
        .flat_map(|(h, m)| [*h, *m])
        .take(PROBES)
        .collect();

    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(PROBES as u64));
    for (name, probes) in [
        ("digests_hit", &hits),
        ("digests_miss", &misses),
        ("digests_mixed", &mixed),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                probes
                    .iter()
                    .filter(|(d, size)| db.lookup(black_box(d), *size).is_some())
                    .count()
            })
        });
    }
    g.bench_function("sha256_mixed", |b| {
        b.iter(|| {
            mixed
                .iter()
                .filter(|(d, _)| db.lookup_sha256(black_box(&d.sha256), None).is_some())
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_load, bench_lookup);
criterion_main!(benches);
