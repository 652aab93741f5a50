//! `hashscan serve` and `hashscan bucket` as a user runs them: the listening line, the key
//! generated on first start (shown once, stored 0600), SIGTERM, bucket management.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn hashscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hashscan"));
    c.env_remove("HASHSCAN_ACCESS_KEY_ID")
        .env_remove("HASHSCAN_SECRET_ACCESS_KEY")
        .env("HASHSCAN_LOG", "info");
    c
}

/// Starts `serve` on port 0 and returns the child and the address it printed.
fn serve(dir: &Path) -> (Child, String) {
    let mut command = hashscan();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stderr(Stdio::piped());
    common::spawn_listening(&mut command)
}

/// SIGTERM, then the exit status and stderr.
fn terminate(mut child: Child) -> (i32, String) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn first_start_generates_a_key_shown_once_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = serve(dir.path());
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let (code, err) = terminate(child);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("SecretId:  AKID"), "{err}");
    assert!(err.contains("stopped"), "{err}");
    let creds = std::fs::read_to_string(dir.path().join("credentials.toml")).unwrap();
    let secret_line = err.lines().find(|l| l.contains("SecretKey:")).unwrap();
    let secret = secret_line.split_whitespace().last().unwrap();
    assert!(creds.contains(secret));
    // The secret appears once on the terminal, never in a log line.
    assert_eq!(err.matches(secret).count(), 1, "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("credentials.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let (child, _) = serve(dir.path());
    let (code, err) = terminate(child);
    assert_eq!(code, 0);
    assert!(!err.contains("SecretKey:"), "shown again: {err}");
}

#[test]
fn bucket_create_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = hashscan()
        .args([
            "bucket",
            "create",
            "media-1250000000",
            "--region",
            "ap-beijing",
            "--data-dir",
            d,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "media-1250000000\tap-beijing\n"
    );
    let out = hashscan()
        .args([
            "bucket",
            "create",
            "web-1250000000",
            "--public-read",
            "--data-dir",
            d,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = hashscan()
        .args(["bucket", "list", "--data-dir", d])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "media-1250000000\tap-beijing\nweb-1250000000\tap-guangzhou\tpublic-read\n"
    );

    for (name, want) in [
        ("media-1250000000", "already exists"),
        ("Bad_Name", "invalid bucket name"),
    ] {
        let out = hashscan()
            .args(["bucket", "create", name, "--data-dir", d])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hashscan.toml");
    std::fs::write(&cfg, "listne = \"127.0.0.1:1\"\n").unwrap();
    let out = hashscan()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid configuration") && err.contains("listne"),
        "{err}"
    );
}

#[test]
fn shared_mode_refuses_a_start_that_could_not_work_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], with_key: bool| {
        let mut c = hashscan();
        c.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::null());
        if with_key {
            c.env(
                "HASHSCAN_ACCESS_KEY_ID",
                "AKIDsharedtest000000000000000000000",
            )
            .env(
                "HASHSCAN_SECRET_ACCESS_KEY",
                "sharedtestsecretsharedtestsecret",
            );
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // PostgreSQL metadata with the bytes on this node's disk: the other nodes could not
    // read them.
    let (code, err) = run(
        &["--meta-url", "postgres://hs:pa55word@127.0.0.1:1/hs"],
        true,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("shared blob store"), "{err}");
    // No configured key: a generated one would be this node's alone.
    let (code, err) = run(
        &[
            "--meta-url",
            "postgres://hs:pa55word@127.0.0.1:1/hs",
            "--blobs-url",
            "s3://bucket/prefix",
        ],
        false,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("configured access keys"), "{err}");
    assert!(!dir.path().join("credentials.toml").exists());
    // Unreachable PostgreSQL: a clear error, without the password.
    let (code, err) = run(
        &[
            "--meta-url",
            "postgres://hs:pa55word@127.0.0.1:1/hs",
            "--blobs-url",
            "s3://bucket/prefix",
        ],
        true,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(!err.contains("pa55word"), "{err}");
}
