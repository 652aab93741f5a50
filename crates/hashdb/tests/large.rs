#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A generated 1,000,000-entry list: loads fully, every 1000th entry is found, others are not.
//! (Not a timing test: see the benchmark and the README for figures.)

use std::io::{BufWriter, Write};

use hashscan_hashdb::{Algorithm, Digests, Format, HashDb, ListKind};
mod support;
use support::{push_hex, sha256_of};

const N: u64 = 1_000_000;

#[test]
fn million_entry_list() {
    let mut file = tempfile::Builder::new().suffix(".txt").tempfile().unwrap();
    {
        let mut w = BufWriter::new(file.as_file_mut());
        writeln!(w, "# generated: sha256 of little-endian counters 0..{N}").unwrap();
        let mut line = Vec::with_capacity(65);
        for i in 0..N {
            line.clear();
            push_hex(&mut line, &sha256_of(i));
            line.push(b'\n');
            w.write_all(&line).unwrap();
        }
        w.flush().unwrap();
    }
    let mut b = HashDb::builder();
    let report = b.load_path(file.path(), ListKind::Bad).unwrap();
    assert_eq!(report.format, Format::HashList);
    assert_eq!(
        (report.lines, report.entries, report.malformed),
        (N + 1, N, 0)
    );
    let db = b.build();
    assert_eq!(db.len(), N as usize);
    assert_eq!(db.len_of(Algorithm::Sha256), N as usize);
    let stem = file
        .path()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let name = format!("hashlist:{stem}");
    for i in (0..N).step_by(1000) {
        let hit = db
            .lookup_sha256(&sha256_of(i), Some(i))
            .unwrap_or_else(|| panic!("entry {i}"));
        assert_eq!(
            (hit.kind, hit.algorithm, hit.name),
            (ListKind::Bad, Algorithm::Sha256, name.as_str())
        );
        let d = Digests {
            sha256: sha256_of(i),
            ..Digests::default()
        };
        assert!(db.lookup(&d, 1).is_some());
    }
    // Other counters' hashes (and hashes differing in the last bit) are absent.
    for i in (N..N + 100_000).step_by(7) {
        let mut h = sha256_of(i);
        assert!(db.lookup_sha256(&h, None).is_none(), "{i}");
        h = sha256_of(i - N);
        h[31] ^= 1;
        assert!(db.lookup_sha256(&h, None).is_none(), "{i} flipped");
    }
    // 32 B of key per entry dominates; the name is stored once.
    let mem = db.memory_bytes();
    assert!(mem >= 32 * N as usize && mem < 40 * N as usize, "{mem}");
}
