#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tests against a real clamd, started by each test with its own configuration and a tiny
//! signature database the test writes (no official databases are needed, and freshclam is
//! never run).
//!
//! clamd comes from Debian's `clamav-daemon` package: run `scripts/install-clamav`. Without
//! it these tests fail (on purpose) rather than pass without testing anything.
//!
//! Each test starts its own daemon (it takes well under a second with this database) and a
//! guard kills it when the test ends, on panic too.

use std::io::{self, Read};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hashscan_clamd::{Address, Clamd, ClamdError, ScanResult};
use md5::{Digest as _, Md5};

mod support;
use support::*;

#[test]
fn the_eicar_file_is_assembled_right() {
    assert_eq!(eicar().len(), 68);
    assert_eq!(hex(&Md5::digest(eicar())), EICAR_MD5);
}

#[test]
fn ping_and_version() {
    let daemon = Daemon::start();
    for clamd in daemon.both() {
        clamd.ping().unwrap();
        let version = clamd.version().unwrap();
        assert!(version.starts_with("ClamAV "), "{version}");
        let expected = Command::new(find_clamd())
            .arg("--version")
            .output()
            .unwrap();
        let expected = String::from_utf8_lossy(&expected.stdout);
        assert!(
            expected.trim().starts_with(&version),
            "VERSION {version:?} vs clamd --version {expected:?}"
        );
    }
    assert!(
        daemon.startup < Duration::from_secs(30),
        "clamd took {:?} to start",
        daemon.startup
    );
}

#[test]
fn eicar_is_found_by_hash_and_embedded_eicar_by_body() {
    let daemon = Daemon::start();
    for clamd in daemon.both() {
        assert_eq!(clamd.scan_bytes(&eicar()).unwrap(), reported(HASH_SIG));
        let embedded = embedded_eicar();
        assert_eq!(clamd.scan_bytes(&embedded).unwrap(), reported(BODY_SIG));
        // The same through a reader, in small chunks that split the signature.
        let small = clamd.clone().with_chunk_size(10);
        assert_eq!(
            small.scan_reader(&mut &embedded[..]).unwrap(),
            reported(BODY_SIG)
        );
        assert_eq!(
            small.scan_reader(&mut &eicar()[..]).unwrap(),
            reported(HASH_SIG)
        );
        // EICAR followed by more bytes: neither hash (other MD5) nor body (offset 0) matches.
        let mut eicar_plus = eicar();
        eicar_plus.extend(b"tail");
        assert_eq!(clamd.scan_bytes(&eicar_plus).unwrap(), ScanResult::Clean);
    }
    let log = daemon.log();
    assert!(
        log.contains(&format!("{HASH_SIG}.UNOFFICIAL FOUND")),
        "{log}"
    );
}

#[test]
fn custom_logical_signature() {
    let daemon = Daemon::start();
    let clamd = daemon.tcp();
    let mut both = random_bytes(5000, 7);
    both.extend(MARKER_B);
    both.extend(random_bytes(300, 8));
    both.extend(MARKER_A);
    assert_eq!(clamd.scan_bytes(&both).unwrap(), reported(MARKER_SIG));

    let mut one = random_bytes(5000, 7);
    one.extend(MARKER_A);
    assert_eq!(clamd.scan_bytes(&one).unwrap(), ScanResult::Clean);
}

#[test]
fn clean_data_and_limits() {
    let daemon = Daemon::start();
    for clamd in daemon.both() {
        assert_eq!(clamd.scan_bytes(b"").unwrap(), ScanResult::Clean);
        assert_eq!(
            clamd.scan_bytes(b"hello, world\n").unwrap(),
            ScanResult::Clean
        );
        assert_eq!(
            clamd.scan_bytes(&random_bytes(100_000, 1)).unwrap(),
            ScanResult::Clean
        );
        // Exactly StreamMaxLength is still scanned...
        assert_eq!(
            clamd.scan_bytes(&random_bytes(STREAM_MAX, 2)).unwrap(),
            ScanResult::Clean
        );
        // ...one byte more is refused.
        let start = Instant::now();
        let err = clamd
            .scan_bytes(&random_bytes(STREAM_MAX + 1, 3))
            .unwrap_err();
        assert!(matches!(err, ClamdError::SizeLimit), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}

/// A reader far larger than `StreamMaxLength` (64 MiB, never all in memory): clamd stops
/// reading after 2 MiB and closes the connection; the client must report SizeLimit instead of
/// hanging or reporting a broken pipe.
#[test]
fn oversized_stream_is_size_limit_not_a_hang() {
    struct Zeros(usize);
    impl Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0);
            buf[..n].fill(0);
            self.0 -= n;
            Ok(n)
        }
    }
    let daemon = Daemon::start();
    for clamd in daemon.both() {
        for chunk_size in [4096, 64 * 1024, 1024 * 1024] {
            let clamd = clamd.clone().with_chunk_size(chunk_size);
            let mut reader = Zeros(64 * 1024 * 1024);
            let start = Instant::now();
            let err = clamd.scan_reader(&mut reader).unwrap_err();
            assert!(
                matches!(err, ClamdError::SizeLimit),
                "{} chunk {chunk_size}: {err}",
                clamd.address()
            );
            assert!(start.elapsed() < Duration::from_secs(10));
            assert!(reader.0 > 0, "the whole reader was consumed");
        }
        // The daemon is still fine afterwards.
        clamd.ping().unwrap();
    }
    assert!(daemon.log().contains("Size limit reached"));
}

#[test]
fn wrong_addresses_give_clear_connection_errors() {
    let daemon = Daemon::start();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused: Address = format!("127.0.0.1:{port}").parse().unwrap();
    let err = Clamd::new(refused).ping().unwrap_err();
    assert!(matches!(err, ClamdError::Connect { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("tcp://127.0.0.1:{port}")) && msg.contains("refused"),
        "{msg}"
    );

    let missing = Address::Unix(daemon.dir.path().join("no-such.sock"));
    let err = Clamd::new(missing.clone()).scan_bytes(b"x").unwrap_err();
    assert!(matches!(err, ClamdError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&missing.to_string()), "{err}");

    // A path that exists but is not a socket.
    let not_socket = Address::Unix(daemon.dir.path().join("clamd.conf"));
    let err = Clamd::new(not_socket).ping().unwrap_err();
    assert!(matches!(err, ClamdError::Connect { .. }), "{err}");

    // And the right ones still work.
    daemon.tcp().ping().unwrap();
    daemon.unix().ping().unwrap();
}

#[test]
fn concurrent_scans_all_get_the_right_answer() {
    let daemon = Daemon::start();
    let clients = Arc::new(daemon.both());
    let start = Instant::now();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let clients = Arc::clone(&clients);
            thread::spawn(move || {
                let clamd = &clients[i % 2];
                for round in 0..5 {
                    let seed = (i * 100 + round) as u64 + 1;
                    let (data, want) = match (i + round) % 4 {
                        0 => (eicar(), reported(HASH_SIG)),
                        1 => (embedded_eicar(), reported(BODY_SIG)),
                        2 => {
                            let mut d = random_bytes(10_000, seed);
                            d.extend(MARKER_A);
                            d.extend(MARKER_B);
                            (d, reported(MARKER_SIG))
                        }
                        _ => (random_bytes(300_000, seed), ScanResult::Clean),
                    };
                    let got = clamd.scan_bytes(&data).unwrap();
                    assert_eq!(
                        got,
                        want,
                        "thread {i} round {round} via {}",
                        clamd.address()
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    eprintln!("40 concurrent scans took {:?}", start.elapsed());
}
