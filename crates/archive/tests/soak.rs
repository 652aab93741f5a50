#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Long soak runs, ignored by default (release build recommended):
//!
//! ```text
//! HUNT_N=300000 cargo test --release -p hashscan-archive --test soak -- --ignored --nocapture soak
//! HUNT_FILE=crash.bin cargo test --release -p hashscan-archive --test soak -- --ignored --nocapture walk_file
//! ```
//!
//! `soak` mutates valid archives of every format with a deterministic generator (case `n`
//! is reproducible), writes the case being walked to `$HUNT_DIR/current.bin` (default
//! `/tmp`) so that a hang leaves its input behind, and reports walks slower than 500 ms.
mod common;
use common::*;
use hashscan_archive::{Flow, walk};
use std::io::Write;

#[test]
#[ignore]
fn soak() {
    let seeds = mutation_seeds();
    let start: u64 = std::env::var("HUNT_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let n: u64 = std::env::var("HUNT_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100000);
    let dir = std::env::var("HUNT_DIR").unwrap_or_else(|_| "/tmp".to_owned());
    let limits = small_limits();
    for case in start..start + n {
        let mut st = case.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut rnd = move || {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            st
        };
        let mut data = seeds[(rnd() % 10) as usize].clone();
        let muts = 1 + rnd() % 5;
        for _ in 0..muts {
            if data.is_empty() {
                break;
            }
            let len = data.len();
            match rnd() % 7 {
                0..=3 => {
                    let at = (rnd() as usize) % len;
                    data[at] ^= (rnd() % 255 + 1) as u8;
                }
                4 => {
                    let at = (rnd() as usize) % len;
                    data.truncate(at);
                }
                5 => {
                    let at = (rnd() as usize) % len;
                    let k = 1 + rnd() % 15;
                    let b: Vec<u8> = (0..k).map(|_| rnd() as u8).collect();
                    data.splice(at..at, b);
                }
                _ => {
                    let at = (rnd() as usize) % len;
                    let e = (at + 1 + (rnd() % 63) as usize).min(len);
                    data[at..e].fill(0);
                }
            }
        }
        std::fs::write(format!("{dir}/current.bin"), &data).unwrap();
        let t = std::time::Instant::now();
        let r = walk(&data, &limits, &mut |_| Flow::Continue);
        let el = t.elapsed();
        if el.as_millis() > 500 {
            eprintln!("case {case}: slow {el:?} {:?}", r.exceeded.last());
            std::fs::write(format!("{dir}/slow-{case}.bin"), &data).unwrap();
        }
        if case % 5000 == 0 {
            eprintln!("case {case}");
            std::io::stderr().flush().unwrap();
        }
    }
}

#[test]
#[ignore]
fn walk_file() {
    let data = std::fs::read(std::env::var("HUNT_FILE").unwrap()).unwrap();
    let r = walk(&data, &small_limits(), &mut |e| {
        eprintln!("visit {:?} {}", e.path, e.data.len());
        Flow::Continue
    });
    eprintln!("{r:?}");
}
