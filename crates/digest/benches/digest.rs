//! Engine throughput: each algorithm alone, the common MD5+SHA-1+SHA-256 set in one pass
//! (on one lane and on automatic lanes), and everything at once.
//!
//! Run: `cargo bench -p hashscan-digest --bench digest`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hashscan_digest::{Algorithm, AlgorithmSet, Hasher, Options};

const SIZE: usize = 64 * 1024 * 1024;

fn input() -> Vec<u8> {
    // Cheap deterministic pseudo-random bytes (xorshift), so no algorithm meets a trivial input.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn run(set: AlgorithmSet, options: &Options, data: &[u8]) -> u64 {
    let mut h = Hasher::with_options(set, options);
    h.update_from_reader(&mut &data[..]).unwrap_or_default();
    h.finish().size()
}

fn single(c: &mut Criterion) {
    let data = input();
    let mut g = c.benchmark_group("single");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(10);
    for alg in Algorithm::ALL {
        g.bench_with_input(BenchmarkId::from_parameter(alg), &data, |b, d| {
            b.iter(|| run(AlgorithmSet::one(alg), &Options::new(), d))
        });
    }
    g.finish();
}

fn combined(c: &mut Criterion) {
    let data = input();
    let mut g = c.benchmark_group("combined");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(10);
    let common: AlgorithmSet = "md5,sha1,sha256".parse().unwrap_or_default();
    g.bench_with_input("md5+sha1+sha256/one-lane", &data, |b, d| {
        b.iter(|| run(common, &Options::new().lanes(1), d))
    });
    g.bench_with_input("md5+sha1+sha256/auto", &data, |b, d| {
        b.iter(|| run(common, &Options::new(), d))
    });
    for chunk in [64 * 1024, 1024 * 1024] {
        g.bench_with_input(
            BenchmarkId::new("md5+sha1+sha256/auto/chunk", chunk),
            &data,
            |b, d| b.iter(|| run(common, &Options::new().chunk_size(chunk), d)),
        );
    }
    g.bench_with_input("all/auto", &data, |b, d| {
        b.iter(|| run(AlgorithmSet::all(), &Options::new(), d))
    });
    g.finish();
}

criterion_group!(benches, single, combined);
criterion_main!(benches);
