#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
//! A real PostgreSQL cluster and a real single-node Garage (S3) for tests, each started on
//! free loopback ports in a temporary directory, stoppable and restartable on the same
//! data (the tests of a database or S3 outage), and stopped when dropped. Shared by this
//! crate's tests and the binary's (`#[path]`), so it depends only on std and tempfile.
//!
//! PostgreSQL comes from Debian (`scripts/install-postgres`; its binaries are in
//! `/usr/lib/postgresql/*/bin` or `HASHSCAN_PG_BIN`), Garage from `scripts/install-garage`
//! (`HASHSCAN_GARAGE_BIN`, or the cache it builds into). Without them a test is skipped
//! with a message — or fails when `HASHSCAN_REQUIRE_SERVICES=1`, as the test command sets.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether missing services fail the test instead of skipping it.
fn required() -> bool {
    std::env::var("HASHSCAN_REQUIRE_SERVICES").as_deref() == Ok("1")
}

fn skip(what: &str) {
    assert!(
        !required(),
        "{what} is not installed (HASHSCAN_REQUIRE_SERVICES=1)"
    );
    eprintln!("skipped: {what} is not installed (scripts/with-services installs it)");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args…`, as the postgres user when we are root (PostgreSQL refuses root).
fn as_pg(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn pg_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("HASHSCAN_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn garage_bin() -> Option<PathBuf> {
    if let Ok(bin) = std::env::var("HASHSCAN_GARAGE_BIN") {
        return Some(PathBuf::from(bin));
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cache")))
        .ok()?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache.join("hashscan-tools"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin/garage")))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

fn hex(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        out.push_str(&uuid_like());
    }
    out.truncate(n);
    out
}

fn uuid_like() -> String {
    // Random enough for secrets of a throwaway server: the std hasher's random keys.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    format!("{:016x}", h.finish())
}

/// A PostgreSQL cluster of its own.
pub struct Postgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

impl Postgres {
    /// Starts a fresh cluster, or `None` (skipped) without PostgreSQL.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = pg_bin() else {
            skip("PostgreSQL");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("hashscan-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:", dir.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let out = as_pg(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = Postgres {
            _dir: dir,
            data,
            bin,
            port: free_port(),
        };
        pg.resume();
        Some(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with psql; answers its unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .args(["-d", "postgres", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the cluster at once (as a crash would: `-m immediate`).
    pub fn stop(&self) {
        let _ = as_pg(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Starts the cluster (again) on its port and data.
    pub fn resume(&self) {
        let socket_dir = self.data.parent().unwrap();
        let status = as_pg(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(socket_dir.join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off",
                self.port,
                socket_dir.display()
            ))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start failed");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A single-node Garage with one bucket and one key.
pub struct Garage {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    pub key_id: String,
    pub secret: String,
    pub bucket: String,
    child: Mutex<Option<Child>>,
}

impl Garage {
    /// Starts a fresh Garage, or `None` (skipped) without it.
    pub fn start() -> Option<Garage> {
        let Some(bin) = garage_bin() else {
            skip("Garage");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("hashscan-garage")
            .tempdir()
            .unwrap();
        let (port, rpc) = (free_port(), free_port());
        std::fs::write(
            dir.path().join("garage.toml"),
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{port}\"\n",
                d = dir.path().display(),
                secret = hex(64),
            ),
        )
        .unwrap();
        let g = Garage {
            dir,
            bin,
            port,
            key_id: format!("GK{}", hex(24)),
            secret: hex(64),
            bucket: "hashscan".into(),
            child: Mutex::new(None),
        };
        g.resume();
        Some(g)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables a `hashscan serve` needs for `--blobs-url s3://BUCKET/…`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            ("AWS_REGION", "garage".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Stops Garage at once (SIGKILL).
    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts Garage (again) on its ports and data, and waits until it answers.
    pub fn resume(&self) {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(["server", "--single-node", "--default-bucket"])
            .env("GARAGE_DEFAULT_ACCESS_KEY", &self.key_id)
            .env("GARAGE_DEFAULT_SECRET_KEY", &self.secret)
            .env("GARAGE_DEFAULT_BUCKET", &self.bucket)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        // Any HTTP answer (403 to an anonymous request) means it serves.
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut head = [0u8; 12];
                if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "Garage did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The default bucket and key are made once the node is up.
        std::thread::sleep(Duration::from_millis(300));
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
