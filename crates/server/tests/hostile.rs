//! Hostile and careless clients over raw TCP against the real server: half-sent requests,
//! slow bodies, idle keep-alive connections, more connections than the server takes, a
//! shutdown with stragglers, `Expect: 100-continue` with a bad signature, leftovers of a killed
//! upload, a full disk. Each test asserts the outcome a client or an operator sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::{BUCKET, TestServer};

/// Reads until the peer closes the connection or `limit` passes; the bytes and whether it
/// closed.
async fn read_until_closed(sock: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |c| c.http.header_read_timeout_secs = 1).await;
    let mut sock = TcpStream::connect(server.addr).await.unwrap();
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut sock, Duration::from_secs(10)).await;
    assert!(closed, "a half-sent head kept its connection open for 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |c| c.http.header_read_timeout_secs = 1).await;
    let mut sock = TcpStream::connect(server.addr).await.unwrap();
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = sock.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Nothing more is sent: the connection must not stay open.
    let (_, closed) = read_until_closed(&mut sock, Duration::from_secs(10)).await;
    assert!(closed, "an idle keep-alive connection stayed open for 10 s");
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_body_fails_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |c| c.http.body_idle_timeout_secs = 1).await;
    let path = format!("/{BUCKET}/stalled.bin");
    let mut sock = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 100000\r\n\r\n",
        server.addr,
        server.auth("PUT", &path),
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&[b'z'; 1000]).await.unwrap();
    let (answer, closed) = read_until_closed(&mut sock, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        closed || answer.starts_with("HTTP/1.1 400"),
        "a stalled body was waited on for 10 s: {answer}"
    );
    let r = reqwest::Client::new()
        .get(server.url(&path))
        .header("authorization", server.auth("GET", &path))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a stalled upload was stored");
    server.stop().await;
}

#[tokio::test]
async fn many_half_sent_requests_do_not_starve_health_checks() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |c| {
        c.http.max_connections = 16;
        c.http.header_read_timeout_secs = 2;
    })
    .await;
    let mut hogs = Vec::new();
    for _ in 0..60 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        hogs.push(s);
    }
    // The hogs hold every slot; they are dropped after the header timeout, so a health
    // check gets through within a few timeouts rather than never.
    let started = Instant::now();
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    drop(hogs);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_drops_stragglers_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path(), |c| {
        c.http.header_read_timeout_secs = 120;
        c.http.body_idle_timeout_secs = 120;
        c.http.shutdown_grace_secs = 1;
    })
    .await;
    let path = format!("/{BUCKET}/straggler.bin");
    let mut sock = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 100000\r\n\r\n",
        server.addr,
        server.auth("PUT", &path),
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&[b'z'; 10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.begin_stop();
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("the server kept running for a straggler");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (_, closed) = read_until_closed(&mut sock, Duration::from_secs(5)).await;
    assert!(closed);
}

#[tokio::test]
async fn a_bad_signature_with_expect_continue_is_answered_without_asking_for_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    let path = format!("/{BUCKET}/expect.bin");
    let mut sock = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n",
        server.addr,
        server.auth_with("wrong-secret-wrong-secret-wrong!!", "PUT", &path),
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
        .await
        .expect("no answer without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "the server asked for the body first: {answer}"
    );
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("SignatureDoesNotMatch"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn leftover_detection_uploads_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    server.stop().await;
    // What a SIGKILL in the middle of an upload leaves.
    let tmp = dir.path().join("detect").join("tmp");
    std::fs::write(tmp.join("0123456789abcdef"), vec![7u8; 1 << 20]).unwrap();
    let again = TestServer::start(dir.path(), |_| {}).await;
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    again.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_disk_is_too_full() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |c| c.limits.min_free_bytes = u64::MAX).await;
    let r = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(body.contains("free"), "{body}");
    server.stop().await;
    let server = TestServer::start(dir.path(), |_| {}).await;
    assert_eq!(
        reqwest::get(server.url("/readyz")).await.unwrap().status(),
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn a_key_xml_cannot_carry_is_refused_at_put() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    for bad in ["ctl%01key", "ctl%1Fkey", "nul%00key", "x%EF%BF%BEy"] {
        let path = format!("/{BUCKET}/{bad}");
        let r = reqwest::Client::new()
            .put(server.url(&path))
            .header("authorization", server.auth("PUT", &path))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let path = format!("/{BUCKET}/");
    let r = reqwest::Client::new()
        .get(server.url(&path))
        .header("authorization", server.auth("GET", &path))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains("ctl"));
    server.stop().await;
}

/// A hash job's callback to an address the outbound policy refuses is refused when the job
/// is submitted, not given up silently later; nothing is submitted.
#[tokio::test]
async fn a_private_callback_url_is_refused_at_submission() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    let client = reqwest::Client::new();
    let put = format!("/{BUCKET}/in");
    let r = client
        .put(server.url(&put))
        .header("authorization", server.auth("PUT", &put))
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let path = format!("/{BUCKET}/file_jobs");
    for callback in [
        "http://127.0.0.1:9/cb",
        "http://[::ffff:127.0.0.1]:9/cb",
        "http://169.254.169.254/latest",
    ] {
        let job = format!(
            "<Request><Tag>FileHashCode</Tag><Input><Object>in</Object></Input>\
             <Operation><FileHashCodeConfig><Type>MD5</Type></FileHashCodeConfig></Operation>\
             <CallBack>{callback}</CallBack></Request>"
        );
        let r = client
            .post(server.url(&path))
            .header("authorization", server.auth("POST", &path))
            .body(job)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{callback}");
        let body = r.text().await.unwrap();
        assert!(body.contains("<Code>InvalidArgument</Code>"), "{body}");
        assert!(!body.contains("<JobId>"), "{body}");
    }
    server.stop().await;
}
