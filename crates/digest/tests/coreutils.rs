//! Agreement with md5sum, sha1sum, sha256sum and sha512sum on the same bytes, around every
//! block boundary and on an input of more than 4 GiB that is generated while it is hashed
//! and never held in memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use hashscan_digest::{Algorithm, AlgorithmSet, Hasher, Options, hash_file};

const TOOLS: [(Algorithm, &str); 4] = [
    (Algorithm::Md5, "md5sum"),
    (Algorithm::Sha1, "sha1sum"),
    (Algorithm::Sha256, "sha256sum"),
    (Algorithm::Sha512, "sha512sum"),
];

/// xorshift64: fast, deterministic bytes no hash can short-cut.
struct Noise {
    state: u64,
    left: u64,
}

impl Noise {
    fn new(seed: u64, len: u64) -> Self {
        Noise {
            state: seed | 1,
            left: len,
        }
    }
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for word in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let bytes = self.state.to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn tool_hex(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn agrees_with_coreutils_around_block_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let set: AlgorithmSet = TOOLS.iter().map(|(a, _)| *a).collect();
    for (i, size) in [0u64, 1, 55, 56, 63, 64, 65, 127, 128, 129, (1 << 20) + 1]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("f{size}"));
        let mut data = Vec::new();
        Noise::new(i as u64 + 7, size)
            .read_to_end(&mut data)
            .unwrap();
        std::fs::write(&path, &data).unwrap();

        let one_lane = {
            let mut h = Hasher::with_options(set, &Options::new().lanes(1));
            h.update(&data);
            h.finish()
        };
        let lanes = {
            let mut h = Hasher::with_options(set, &Options::new().lanes(4).chunk_size(4096));
            h.update_from_reader(&mut &data[..]).unwrap();
            h.finish()
        };
        let from_file = hash_file(set, &path).unwrap();
        assert_eq!(one_lane, lanes);
        assert_eq!(one_lane, from_file);
        assert_eq!(from_file.size(), size);

        for (alg, tool) in TOOLS {
            let out = Command::new(tool).arg(&path).output().unwrap();
            assert!(out.status.success(), "{tool} failed");
            assert_eq!(
                from_file.get(alg).unwrap().to_hex(),
                tool_hex(&out.stdout),
                "{alg} of {size} bytes"
            );
        }
    }
}

#[test]
fn streamed_input_over_4_gib_agrees_with_coreutils() {
    // 4 GiB + 4097 bytes: past the 2^32-byte mark, so a 32-bit length counter would show.
    const LEN: u64 = (4 << 30) + 4097;
    let mut children: Vec<_> = TOOLS
        .iter()
        .map(|(alg, tool)| {
            let child = Command::new(tool)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            (*alg, *tool, child)
        })
        .collect();
    let set = AlgorithmSet::all();
    let mut hasher = Hasher::new(set);
    let mut noise = Noise::new(42, LEN);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = noise.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        for (_, _, child) in &mut children {
            child.stdin.as_mut().unwrap().write_all(&buf[..n]).unwrap();
        }
    }
    let digests = hasher.finish();
    assert_eq!(digests.size(), LEN);
    for (alg, tool, mut child) in children {
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{tool} failed");
        assert_eq!(
            digests.get(alg).unwrap().to_hex(),
            tool_hex(&out.stdout),
            "{alg}"
        );
    }
}
