//! The server is killed with SIGKILL while 100 hash jobs are queued or running, then
//! restarted: every job reaches Success with the right digest, none is lost, none stays
//! Running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hashscan_auth::Secret;
use hashscan_auth::cos::{KeyTime, SignRequest, sign};

const AK: &str = "AKIDkilltest000000000000000000000000";
const SK: &str = "killtestsecretkilltestsecret1234";
const BUCKET: &str = "default-1250000000";

fn serve(dir: &Path) -> (Child, String) {
    // Quick retries, and callbacks to the loopback receiver of the tests allowed.
    let config = dir.with_extension("toml");
    std::fs::write(
        &config,
        "[callbacks]\ninitial_backoff_ms = 100\nmax_backoff_ms = 300\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hashscan"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--config",
        ])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir)
        .env("HASHSCAN_FETCH_ALLOW_PRIVATE", "1")
        .env("HASHSCAN_ACCESS_KEY_ID", AK)
        .env("HASHSCAN_SECRET_ACCESS_KEY", SK)
        .env("HASHSCAN_LOG", "warn")
        .stderr(Stdio::null());
    common::spawn_listening(&mut command)
}

/// One signed request over a fresh connection; returns status and body.
fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let window = KeyTime::new(now - 60, now + 600);
    let full = format!("/{BUCKET}{path}");
    let decoded = percent_encoding::percent_decode_str(&full)
        .decode_utf8()
        .unwrap();
    let auth = sign(
        &Secret::new(SK),
        &SignRequest {
            method,
            path: &decoded,
            params: &[],
            headers: &[("host".to_string(), addr.to_string())],
            sign_time: &window,
            key_time: &window,
        },
    )
    .authorization(AK);
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} /{BUCKET}{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}

fn field<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    xml.split(&format!("<{name}>"))
        .skip(1)
        .filter_map(|s| s.split(&format!("</{name}>")).next())
        .collect()
}

#[test]
fn sigkill_with_100_jobs_in_flight_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve(dir.path());
    // Objects big enough that the jobs are still queued or running when the kill comes.
    let mut want = Vec::new();
    for i in 0..10 {
        let data: Vec<u8> = (0..8_000_000u32)
            .map(|x| (x.wrapping_mul(i + 7) >> 3) as u8)
            .collect();
        let (status, _) = request(&addr, "PUT", &format!("/obj{i}"), &data);
        assert_eq!(status, 200);
        want.push(sha256_hex(&data));
    }
    let mut jobs = Vec::new();
    for n in 0..100 {
        let body = format!(
            "<Request><Tag>FileHashCode</Tag><Input><Object>obj{}</Object></Input>\
             <Operation><FileHashCodeConfig><Type>SHA256</Type></FileHashCodeConfig></Operation></Request>",
            n % 10
        );
        let (status, xml) = request(&addr, "POST", "/file_jobs", body.as_bytes());
        assert_eq!(status, 200, "{xml}");
        jobs.push((field(&xml, "JobId")[0].to_string(), n % 10));
    }
    // The kill must land while work is left, or this test would prove nothing.
    let ids: Vec<&str> = jobs[90..].iter().map(|(id, _)| id.as_str()).collect();
    let (_, xml) = request(&addr, "GET", &format!("/file_jobs/{}", ids.join(",")), b"");
    assert!(
        field(&xml, "State").iter().any(|s| *s != "Success"),
        "every job finished before the kill"
    );
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, addr) = serve(dir.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut states = Vec::new();
        for chunk in jobs.chunks(10) {
            let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
            let (status, xml) =
                request(&addr, "GET", &format!("/file_jobs/{}", ids.join(",")), b"");
            assert_eq!(status, 200);
            assert!(
                field(&xml, "NonExistJobIds").is_empty(),
                "a job was lost: {xml}"
            );
            for (detail, (id, obj)) in xml.split("<JobsDetail>").skip(1).zip(chunk) {
                assert_eq!(field(detail, "JobId")[0], id);
                let state = field(detail, "State")[0].to_string();
                if state == "Success" {
                    assert_eq!(field(detail, "SHA256")[0], want[*obj]);
                }
                states.push(state);
            }
        }
        assert_eq!(states.len(), 100);
        if states.iter().all(|s| s == "Success") {
            break;
        }
        assert!(
            !states.iter().any(|s| s == "Failed"),
            "a job failed: {states:?}"
        );
        assert!(Instant::now() < deadline, "jobs stuck: {states:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

fn sha256_hex(data: &[u8]) -> String {
    use hashscan_digest::{Algorithm, AlgorithmSet, hash_bytes};
    let d = hash_bytes(AlgorithmSet::one(Algorithm::Sha256), data);
    d.get(Algorithm::Sha256).unwrap().to_hex()
}

#[test]
fn a_pending_callback_survives_sigkill_and_arrives_once() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let rx = common::receiver();
    rx.down.store(true, Ordering::SeqCst);
    let (mut server, addr) = serve(dir.path());
    assert_eq!(request(&addr, "PUT", "/in", b"survive").0, 200);
    let body = format!(
        "<Request><Tag>FileHashCode</Tag><Input><Object>in</Object></Input>\
         <Operation><FileHashCodeConfig><Type>MD5</Type></FileHashCodeConfig></Operation>\
         <CallBack>{}</CallBack></Request>",
        rx.url
    );
    let (status, xml) = request(&addr, "POST", "/file_jobs", body.as_bytes());
    assert_eq!(status, 200, "{xml}");
    let job = field(&xml, "JobId")[0].to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while rx.refused.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "no callback attempt");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill().unwrap();
    server.wait().unwrap();

    rx.down.store(false, Ordering::SeqCst);
    let (mut server, _addr) = serve(dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    while rx.got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the pending callback was lost");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(800));
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "delivered more than once: {got:?}");
    assert!(
        got[0].1.contains(&format!("<JobId>{job}</JobId>")),
        "{}",
        got[0].1
    );
    assert!(got[0].1.contains("<State>Success</State>"));
    assert!(got[0].0.starts_with('d'));
    server.kill().unwrap();
    server.wait().unwrap();
}
