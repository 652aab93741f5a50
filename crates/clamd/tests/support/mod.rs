#![allow(dead_code)]
//! A real clamd for tests: started with its own configuration and a tiny signature database
//! written here (EICAR by hash and by body signature, a made-up logical signature), killed
//! when dropped. Shared by this crate's tests and by other crates' tests that include this
//! file with `#[path = ".../crates/clamd/tests/support/mod.rs"]`, so it depends only on std,
//! tempfile and hashscan-clamd.
//!
//! clamd comes from Debian's `clamav-daemon` package (`scripts/install-clamav`); without it
//! the tests fail on purpose rather than pass without testing anything.

use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use hashscan_clamd::{Address, Clamd, ScanResult};

/// The MD5 of the EICAR test file (checked against a computed digest by the clamd tests).
pub const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

/// clamd's `StreamMaxLength` in these tests.
pub const STREAM_MAX: usize = 2 * 1024 * 1024;
/// How long clamd may take to answer PING after being started.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

pub const HASH_SIG: &str = "Hashscan-Test-Eicar-Hash";
pub const BODY_SIG: &str = "Hashscan-Test-Eicar-Embedded";
pub const MARKER_SIG: &str = "Hashscan-Test-Marker";
/// Two strings a made-up logical signature (`.ldb`) requires together.
pub const MARKER_A: &[u8] = b"hashscan-clamd-test-marker-alpha";
pub const MARKER_B: &[u8] = b"hashscan-clamd-test-marker-omega";

/// The EICAR anti-virus test file, assembled at run time so that this source file is not
/// itself detected as one.
pub fn eicar() -> Vec<u8> {
    let first = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    let second = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let eicar = format!("{first}{second}").into_bytes();
    assert_eq!(eicar.len(), 68);
    eicar
}

/// EICAR inside other bytes: its MD5 and size are not EICAR's, so only the body signature can
/// find it.
pub fn embedded_eicar() -> Vec<u8> {
    let mut data = b"%PDF-1.4 some harmless looking preamble\n".repeat(30);
    data.extend(eicar());
    data.extend(b"\n...and some trailing bytes after it\n".repeat(20));
    data
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Deterministic pseudo-random bytes (xorshift), so "clean" data is the same on every run.
pub fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend(seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// clamd reports signatures from databases other than the official ones with this suffix.
pub fn reported(name: &str) -> ScanResult {
    ScanResult::Found {
        signature: format!("{name}.UNOFFICIAL"),
    }
}

pub fn find_clamd() -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("clamd"));
    in_path
        .chain([PathBuf::from("/usr/sbin/clamd")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "clamd is not installed (not in PATH, not /usr/sbin/clamd): \
                 run scripts/install-clamav to install Debian's clamav-daemon"
            )
        })
}

/// A running clamd, killed when dropped.
pub struct Daemon {
    child: Child,
    pub dir: tempfile::TempDir,
    pub tcp: Address,
    pub unix: Address,
    pub startup: Duration,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn start() -> Daemon {
        let clamd = find_clamd();
        // The port is found free by binding to port 0 and released again; another process
        // could take it in between, so a bind failure is retried with a new port.
        let mut last_log = String::new();
        for _ in 0..3 {
            match Self::try_start(&clamd) {
                Ok(daemon) => return daemon,
                Err(log) => last_log = log,
            }
        }
        panic!("clamd did not start; last log:\n{last_log}");
    }

    fn try_start(clamd: &Path) -> Result<Daemon, String> {
        let dir = tempfile::Builder::new()
            .prefix("hashscan-clamd-")
            .tempdir()
            .unwrap();
        let db = dir.path().join("db");
        fs::create_dir(&db).unwrap();
        write_database(&db);

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let socket = dir.path().join("clamd.sock");
        let log = dir.path().join("clamd.log");
        let config = dir.path().join("clamd.conf");
        // No `User` directive: clamd then keeps the identity it was started with (root here,
        // or whoever runs the tests), which owns the temporary directory.
        fs::write(
            &config,
            format!(
                "Foreground yes\n\
                 LocalSocket {socket}\n\
                 TCPSocket {port}\n\
                 TCPAddr 127.0.0.1\n\
                 DatabaseDirectory {db}\n\
                 LogFile {log}\n\
                 LogVerbose yes\n\
                 PidFile {pid}\n\
                 TemporaryDirectory {tmp}\n\
                 StreamMaxLength {STREAM_MAX}\n\
                 MaxThreads 12\n\
                 SelfCheck 3600\n",
                socket = socket.display(),
                db = db.display(),
                log = log.display(),
                pid = dir.path().join("clamd.pid").display(),
                tmp = dir.path().display(),
            ),
        )
        .unwrap();

        let started = Instant::now();
        let child = Command::new(clamd)
            .arg(format!("--config-file={}", config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", clamd.display()));
        let mut daemon = Daemon {
            child,
            tcp: format!("tcp://127.0.0.1:{port}").parse().unwrap(),
            unix: Address::Unix(socket),
            dir,
            startup: Duration::ZERO,
        };

        let probe = Clamd::new(daemon.tcp.clone())
            .with_connect_timeout(Duration::from_secs(1))
            .with_io_timeout(Duration::from_secs(5));
        loop {
            if probe.ping().is_ok() {
                daemon.startup = started.elapsed();
                eprintln!("clamd answered PING {:?} after start", daemon.startup);
                return Ok(daemon);
            }
            if let Some(status) = daemon.child.try_wait().unwrap() {
                return Err(format!("clamd exited with {status}\n{}", daemon.log()));
            }
            if started.elapsed() > STARTUP_DEADLINE {
                panic!(
                    "clamd did not answer PING within {STARTUP_DEADLINE:?}; log:\n{}",
                    daemon.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default()
    }

    pub fn tcp(&self) -> Clamd {
        Clamd::new(self.tcp.clone()).with_io_timeout(Duration::from_secs(30))
    }

    pub fn unix(&self) -> Clamd {
        Clamd::new(self.unix.clone()).with_io_timeout(Duration::from_secs(30))
    }

    pub fn both(&self) -> [Clamd; 2] {
        [self.tcp(), self.unix()]
    }
}

/// The tiny database: EICAR by MD5 and size (`.hdb`), EICAR at any offset but the very start
/// by body signature (`.ndb`), and a made-up logical signature (`.ldb`).
pub fn write_database(db: &Path) {
    let eicar = eicar();
    let md5 = EICAR_MD5;
    fs::write(
        db.join("hashscan-test.hdb"),
        format!("{md5}:{}:{HASH_SIG}\n", eicar.len()),
    )
    .unwrap();
    // Offset `1,1048576`: the body starts between byte 1 and byte 1 MiB + 1. A body signature
    // matching at offset 0 would also match the bare EICAR file, and clamd reports the body
    // match before the hash match; the bare file is for the hash signature.
    fs::write(
        db.join("hashscan-test.ndb"),
        format!("{BODY_SIG}:0:1,1048576:{}\n", hex(&eicar)),
    )
    .unwrap();
    // Logical signature: both markers, in any order, anywhere in any file type.
    fs::write(
        db.join("hashscan-test.ldb"),
        format!(
            "{MARKER_SIG};Engine:51-255,Target:0;0&1;{};{}\n",
            hex(MARKER_A),
            hex(MARKER_B)
        ),
    )
    .unwrap();
}
