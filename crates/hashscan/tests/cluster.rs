//! Three `hashscan serve` processes on one PostgreSQL and one Garage bucket (both real,
//! started here): objects written through one node are read through another; 100 hash
//! jobs with callbacks all succeed with the right digests although a node is killed with
//! SIGKILL while it holds leases, and each callback arrives under one delivery id; an
//! Alibaba request replayed on another node is refused; a detection uploaded on one node
//! is scanned by whichever node claims it and read on a third; a burst across the nodes
//! stays within the key's rate; and PostgreSQL, then Garage, stopped mid-run make the
//! nodes answer each API's ServiceUnavailable while nothing is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../server/tests/support/services.rs"]
mod services;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hashscan_auth::Secret;
use hashscan_auth::cos::{KeyTime, SignRequest, sign};
use services::{Garage, Postgres};

const AK: &str = "AKIDclustertest0000000000000000000000";
const SK: &str = "clustertestsecretclustertest1234";
const BUCKET: &str = "default-1250000000";
/// The Alibaba rate per key in this test, and the tolerance of the burst check.
const RATE: u32 = 30;

struct Node {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Node {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(pg: &Postgres, s3: &Garage) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hashscan.toml");
    std::fs::write(
        &config,
        format!(
            "[callbacks]\ninitial_backoff_ms = 100\nmax_backoff_ms = 300\n\
             [detect]\nrate_per_key = {RATE}\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hashscan"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--config",
        ])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--meta-url", &pg.url()])
        .args(["--blobs-url", &format!("s3://{}/cluster", s3.bucket)])
        .envs(s3.env())
        .env("HASHSCAN_FETCH_ALLOW_PRIVATE", "1")
        .env("HASHSCAN_ACCESS_KEY_ID", AK)
        .env("HASHSCAN_SECRET_ACCESS_KEY", SK)
        .env("HASHSCAN_LOG", "warn")
        .stderr(Stdio::null());
    let (child, addr) = common::spawn_listening(&mut command);
    Node {
        child,
        addr,
        _dir: dir,
    }
}

/// One COS-signed request over a fresh connection (host and `extra` headers signed);
/// answers status and the whole response.
fn cos(addr: &str, method: &str, path: &str, extra: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let window = KeyTime::new(now - 60, now + 600);
    let (p, query) = path.split_once('?').unwrap_or((path, ""));
    let params = hashscan_auth::encode::decode_query(query, hashscan_auth::encode::Plus::Space);
    let decoded = percent_encoding::percent_decode_str(p)
        .decode_utf8()
        .unwrap();
    let mut headers = vec![("host".to_string(), addr.to_string())];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let auth = sign(
        &Secret::new(SK),
        &SignRequest {
            method,
            path: &decoded,
            params: &params,
            headers: &headers,
            sign_time: &window,
            key_time: &window,
        },
    )
    .authorization(AK);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw(addr, head.as_bytes(), body)
}

fn raw(addr: &str, head: &[u8], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(head).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    (out[9..12].parse().unwrap(), out)
}

/// An Alibaba V2 (query-signed) call of `action` with `nonce`; answers status and body.
fn aliyun_request(action: &str, nonce: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut params: Vec<(String, String)> = [
        ("Action", action),
        ("Format", "JSON"),
        ("Version", "2018-12-03"),
        ("SignatureNonce", nonce),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", AK),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    params.push((
        "Timestamp".into(),
        hashscan_auth::time::format_acs_date(now),
    ));
    let signed = hashscan_auth::aliyun_v2::sign(&Secret::new(SK), "GET", &params);
    params.push(("Signature".into(), signed.signature));
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                hashscan_auth::encode::rfc3986(k),
                hashscan_auth::encode::rfc3986(v)
            )
        })
        .collect();
    format!("GET /?{} HTTP/1.1\r\n", query.join("&")).into_bytes()
}

fn aliyun(addr: &str, request_line: &[u8]) -> (u16, String) {
    let mut head = request_line.to_vec();
    head.extend(format!("Host: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    raw(addr, &head, b"")
}

fn fields<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.split(&format!("<{name}>"))
        .skip(1)
        .filter_map(|s| s.split(&format!("</{name}>")).next())
        .collect()
}

fn json_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("\"{name}\":"))? + name.len() + 3;
    let rest = text[start..].trim_start().trim_start_matches('"');
    rest.split(['"', ',', '}']).next()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn bucket_path(path: &str) -> String {
    format!("/{BUCKET}{path}")
}

/// Waits until every job of `jobs` (id, expected SHA-256) is Success with its digest,
/// asking `addr`; fails on a Failed job, a lost job or after `limit`.
fn wait_for_success(addr: &str, jobs: &[(String, String)], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let mut states = Vec::new();
        for chunk in jobs.chunks(10) {
            let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
            let (status, xml) = cos(
                addr,
                "GET",
                &bucket_path(&format!("/file_jobs/{}", ids.join(","))),
                &[],
                b"",
            );
            assert_eq!(status, 200, "{xml}");
            assert!(
                fields(&xml, "NonExistJobIds").is_empty(),
                "a job was lost: {xml}"
            );
            for (detail, (id, want)) in xml.split("<JobsDetail>").skip(1).zip(chunk) {
                assert_eq!(fields(detail, "JobId")[0], id);
                let state = fields(detail, "State")[0].to_string();
                if state == "Success" {
                    assert_eq!(fields(detail, "SHA256")[0], want, "job {id}");
                }
                states.push(state);
            }
        }
        assert_eq!(states.len(), jobs.len());
        if states.iter().all(|s| s == "Success") {
            return;
        }
        assert!(
            !states.iter().any(|s| s == "Failed"),
            "a job failed: {states:?}"
        );
        assert!(Instant::now() < deadline, "jobs stuck: {states:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn submit_hash(addr: &str, object: &str, callback: &str) -> String {
    let body = format!(
        "<Request><Tag>FileHashCode</Tag><Input><Object>{object}</Object></Input>\
         <Operation><FileHashCodeConfig><Type>SHA256</Type></FileHashCodeConfig></Operation>\
         <CallBack>{callback}</CallBack></Request>"
    );
    let (status, xml) = cos(
        addr,
        "POST",
        &bucket_path("/file_jobs"),
        &[],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{xml}");
    fields(&xml, "JobId")[0].to_string()
}

#[test]
fn three_nodes_share_the_work_and_lose_nothing() {
    let (Some(pg), Some(s3)) = (Postgres::start(), Garage::start()) else {
        return;
    };
    let mut nodes: Vec<Node> = (0..3).map(|_| start_node(&pg, &s3)).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();

    // PUT through node 1, GET through node 2.
    // Text, so that the raw response can be compared as a string.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|x| b'a' + (x.wrapping_mul(31) >> 2) as u8 % 26)
        .collect();
    assert_eq!(
        cos(&addrs[0], "PUT", &bucket_path("/shared.bin"), &[], &data).0,
        200
    );
    let (status, got) = cos(&addrs[1], "GET", &bucket_path("/shared.bin"), &[], b"");
    assert_eq!(status, 200);
    assert!(
        got.ends_with(&*String::from_utf8_lossy(&data)),
        "node 2 read other bytes"
    );

    // 100 hash jobs with callbacks, submitted across the nodes; node 3 is killed while it
    // holds leases.
    let rx = common::receiver();
    let mut want = Vec::new();
    for i in 0..10u32 {
        let data: Vec<u8> = (0..6_000_000u32)
            .map(|x| (x.wrapping_mul(i + 7) >> 3) as u8)
            .collect();
        let (status, _) = cos(
            &addrs[0],
            "PUT",
            &bucket_path(&format!("/obj{i}")),
            &[],
            &data,
        );
        assert_eq!(status, 200);
        want.push(sha256_hex(&data));
    }
    let mut jobs = Vec::new();
    for n in 0..100usize {
        let id = submit_hash(&addrs[n % 3], &format!("obj{}", n % 10), &rx.url);
        jobs.push((id, want[n % 10].clone()));
    }
    let victim = nodes[2].pid();
    let held = |pid: u32| {
        pg.psql(&format!(
            "SELECT count(*) FROM jobs WHERE state = 'Running' AND lease_owner LIKE '%-{pid}-%'"
        ))
        .trim()
        .parse::<u32>()
        .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while held(victim) == 0 {
        assert!(Instant::now() < deadline, "node 3 never held a lease");
        std::thread::sleep(Duration::from_millis(5));
    }
    nodes[2].child.kill().unwrap();
    nodes[2].child.wait().unwrap();
    // Its leases expire (30 s) and the other nodes take the jobs over.
    wait_for_success(&addrs[0], &jobs, Duration::from_secs(180));
    let running = pg.psql("SELECT count(*) FROM jobs WHERE state = 'Running'");
    assert_eq!(running.trim(), "0");
    // Each job's callback arrives, under one delivery id per job.
    let deadline = Instant::now() + Duration::from_secs(60);
    let per_job = loop {
        let mut per_job: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (id, body) in rx.got.lock().unwrap().iter() {
            let job = fields(body, "JobId")
                .first()
                .map(|s| s.to_string())
                .unwrap_or_default();
            per_job.entry(job).or_default().insert(id.clone());
        }
        if per_job.len() >= 100 || Instant::now() > deadline {
            break per_job;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        per_job.len(),
        100,
        "callbacks of {} jobs arrived",
        per_job.len()
    );
    for (job, ids) in &per_job {
        assert_eq!(ids.len(), 1, "job {job} delivered under {ids:?}");
        assert!(jobs.iter().any(|(j, _)| j == job));
    }
    assert!(rx.got.lock().unwrap().len() >= 100);

    // A replacement node joins.
    nodes[2] = start_node(&pg, &s3);
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();

    // An Alibaba request replayed on another node: SignatureNonceUsed.
    let call = aliyun_request("GetFileDetectApiInvokeInfo", "nonce-cluster-1", &[]);
    let (status, body) = aliyun(&addrs[0], &call);
    assert_eq!(status, 200, "{body}");
    let (status, body) = aliyun(&addrs[1], &call);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SignatureNonceUsed"), "{body}");

    // A detection uploaded on node 1, scanned by whichever node claims it, read on node 3.
    let shell = format!("<?php @eval($_POST['cmd']); ?>\n{}", "x".repeat(100));
    let clean = "<?php echo 'hello, world'; ?>\n";
    for (content, expect) in [(shell.as_bytes(), "malicious"), (clean.as_bytes(), "clean")] {
        let digest = sha256_hex(content);
        let (status, body) = cos(
            &addrs[0],
            "POST",
            "/v1/detections",
            &[
                ("content-type", "application/octet-stream"),
                ("x-cos-content-sha256", &digest),
            ],
            content,
        );
        assert_eq!(status, 202, "{body}");
        let body = &body[body.find("\r\n\r\n").unwrap()..];
        let id = json_field(body, "id").unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        let done = loop {
            let (status, body) = cos(&addrs[2], "GET", &format!("/v1/detections/{id}"), &[], b"");
            assert_eq!(status, 200, "{body}");
            if json_field(&body, "state") == Some("done") {
                break body;
            }
            assert_ne!(json_field(&body, "state"), Some("failed"), "{body}");
            assert!(Instant::now() < deadline, "detection not done: {body}");
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(json_field(&done, "verdict"), Some(expect), "{done}");
        assert_eq!(
            json_field(&done, "sha256").map(str::to_string),
            Some(sha256_hex(content)),
            "{done}"
        );
    }

    // A burst across the nodes stays within the key's rate: each node allows its share.
    std::thread::sleep(Duration::from_secs(5)); // heartbeats have counted 3 nodes
    let started = Instant::now();
    let mut accepted = 0u32;
    for i in 0..(RATE * 4) {
        let call = aliyun_request("GetFileDetectApiInvokeInfo", &format!("burst-{i}"), &[]);
        let (status, body) = aliyun(&addrs[i as usize % 3], &call);
        match status {
            200 => accepted += 1,
            400 => assert!(
                body.contains("RequestTooFrequently") || body.contains("Throttling"),
                "{body}"
            ),
            other => panic!("{other}: {body}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    // The rate over the burst, plus one burst allowance (the limiter's bucket), +10 %.
    let allowed = (f64::from(RATE) * (secs + 1.0) * 1.1).ceil() as u32;
    assert!(
        accepted <= allowed,
        "{accepted} calls accepted in {secs:.2} s at {RATE}/s (allowed {allowed})"
    );
    assert!(accepted >= RATE / 2, "only {accepted} accepted");

    // PostgreSQL stopped mid-run: each API answers its ServiceUnavailable; work waits.
    let rx2 = common::receiver();
    let mut more = Vec::new();
    for n in 0..20usize {
        let id = submit_hash(&addrs[n % 3], &format!("obj{}", n % 10), &rx2.url);
        more.push((id, want[n % 10].clone()));
    }
    pg.stop();
    let (status, xml) = cos(&addrs[1], "GET", &bucket_path("/shared.bin"), &[], b"");
    assert_eq!(status, 503, "{xml}");
    assert!(xml.contains("<Code>ServiceUnavailable</Code>"), "{xml}");
    let call = aliyun_request("GetFileDetectApiInvokeInfo", "nonce-during-pg", &[]);
    let (status, body) = aliyun(&addrs[2], &call);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ServiceUnavailable"), "{body}");
    let (status, body) = cos(
        &addrs[0],
        "GET",
        &format!("/v1/jobs?bucket={BUCKET}&size=1"),
        &[],
        b"",
    );
    assert_eq!(status, 503, "{body}");
    std::thread::sleep(Duration::from_secs(2));
    pg.resume();

    // Then Garage: reads and writes of bytes answer ServiceUnavailable.
    s3.stop();
    let (status, xml) = cos(&addrs[0], "PUT", &bucket_path("/during-s3"), &[], b"abc");
    assert_eq!(status, 503, "{xml}");
    assert!(xml.contains("<Code>ServiceUnavailable</Code>"), "{xml}");
    let (status, xml) = cos(&addrs[2], "GET", &bucket_path("/shared.bin"), &[], b"");
    assert_eq!(status, 503, "{xml}");
    std::thread::sleep(Duration::from_secs(2));
    s3.resume();

    // Everything submitted before the outages finishes; nothing stored during them.
    wait_for_success(&addrs[1], &more, Duration::from_secs(180));
    assert_eq!(
        cos(&addrs[1], "HEAD", &bucket_path("/during-s3"), &[], b"").0,
        404
    );
    let (status, got) = cos(&addrs[2], "GET", &bucket_path("/shared.bin"), &[], b"");
    assert_eq!(status, 200);
    assert!(got.ends_with(&*String::from_utf8_lossy(&data)));
    drop(nodes);
}
