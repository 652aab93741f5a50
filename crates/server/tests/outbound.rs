//! One address policy for every outbound connection, on the real server: job callbacks to
//! refused addresses (every IPv6 spelling of loopback among them) are refused at submission
//! and, when they were allowed then, given up at delivery without a connection being made; one switch (`[outbound] allow_private`) lets callbacks and
//! downloads reach private addresses; callbacks ignore the environment's proxies; and the
//! Volcengine dialect refuses a private `SignURL` at submission, as the Alibaba one does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashscan_server::config::BucketConfig;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{AK, BUCKET, SK, TestServer};

/// Hosts that are, or stand for, a refused address: loopback in the IPv6 spellings that
/// carry an IPv4 address, the benchmarking and IETF-protocol ranges, a name of loopback.
const REFUSED_HOSTS: &[&str] = &[
    "[::ffff:127.0.0.1]",
    "[::127.0.0.1]",
    "[::ffff:0:127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::1]",
    "198.18.0.1",
    "192.0.0.1",
    "127.0.0.1",
    "localhost",
];

/// A client for the test's own requests: never through a proxy (the proxy test sets them).
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn strict_environment() {
    assert!(
        std::env::var_os(hashscan_fetch::ALLOW_PRIVATE_ENV).is_none(),
        "unset {} to run these tests",
        hashscan_fetch::ALLOW_PRIVATE_ENV
    );
}

/// A TCP listener on 127.0.0.1 that counts accepted connections and answers each `204`.
async fn receiver() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, accepted)
}

async fn cos(server: &TestServer, method: &str, path: &str, body: &str) -> reqwest::Response {
    client()
        .request(method.parse().unwrap(), server.url(path))
        .header("authorization", server.auth(method, path))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Submits an MD5 job of `/BUCKET/in` with `callback`; its id.
async fn hash_job(server: &TestServer, callback: &str) -> String {
    server.md5_job("in", callback).await
}

/// Waits until `outcome` has been counted `n` times.
async fn wait_for(server: &TestServer, outcome: &str, n: f64) {
    server.wait_for_deliveries(outcome, n).await;
}

/// The delivery records (id, state, attempts, last error) of `jobs`, read from the data
/// directory of a stopped server.
async fn records(dir: &Path, jobs: &[String]) -> Vec<(String, String, u32, Option<String>)> {
    let store = hashscan_server::meta::sqlite::open(dir).await.unwrap().jobs;
    let mut out = Vec::new();
    for job in jobs {
        let mut r = store.deliveries(job).await.unwrap();
        assert_eq!(r.len(), 1, "{job}");
        out.push(r.remove(0));
    }
    out
}

#[tokio::test]
async fn callbacks_to_refused_addresses_are_refused_at_submission() {
    strict_environment();
    let (port, accepted) = receiver().await;
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), |_| {}).await;
    assert_eq!(
        cos(&server, "PUT", &format!("/{BUCKET}/in"), "abc")
            .await
            .status(),
        200
    );
    for host in REFUSED_HOSTS {
        let job = format!(
            "<Request><Tag>FileHashCode</Tag><Input><Object>in</Object></Input>\
             <Operation><FileHashCodeConfig><Type>MD5</Type></FileHashCodeConfig></Operation>\
             <CallBack>http://{host}:{port}/cb</CallBack></Request>"
        );
        let r = cos(&server, "POST", &format!("/{BUCKET}/file_jobs"), &job).await;
        assert_eq!(r.status(), 400, "{host}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("<Code>InvalidArgument</Code>"),
            "{host}: {body}"
        );
    }
    server.stop().await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}

/// Jobs whose callbacks were allowed when they were submitted (the switch was on, or a name
/// resolved elsewhere then) are checked again at delivery: given up without connecting.
#[tokio::test]
async fn callbacks_to_refused_addresses_are_given_up_without_connecting() {
    strict_environment();
    let (port, accepted) = receiver().await;
    let data = tempfile::tempdir().unwrap();
    // Submitted while private addresses were allowed, with no worker to run them yet.
    let server = TestServer::start(data.path(), |c| {
        c.outbound.allow_private = true;
        c.workers = 0;
    })
    .await;
    assert_eq!(
        cos(&server, "PUT", &format!("/{BUCKET}/in"), "abc")
            .await
            .status(),
        200
    );
    let mut jobs = Vec::new();
    for host in REFUSED_HOSTS {
        jobs.push(hash_job(&server, &format!("http://{host}:{port}/cb")).await);
    }
    server.stop().await;
    // Run, and delivered, by a server with the default policy.
    let server = TestServer::start(data.path(), |_| {}).await;
    wait_for(&server, "given_up", REFUSED_HOSTS.len() as f64).await;
    // Given up at the first attempt, none retried, none delivered, nothing connected to.
    assert_eq!(server.deliveries("retry").await, 0.0);
    assert_eq!(server.deliveries("delivered").await, 0.0);
    server.stop().await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
    for ((_, state, attempts, error), host) in records(data.path(), &jobs)
        .await
        .into_iter()
        .zip(REFUSED_HOSTS)
    {
        assert_eq!((state.as_str(), attempts), ("GivenUp", 1), "{host}");
        let error = error.unwrap_or_default();
        assert!(error.contains("refused"), "{host}: {error}");
        // The error names the host at most, never the path.
        assert!(!error.contains("/cb"), "{host}: {error}");
    }
}

#[tokio::test]
async fn one_switch_lets_callbacks_reach_private_addresses() {
    let (port, accepted) = receiver().await;
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), |c| c.outbound.allow_private = true).await;
    assert_eq!(
        cos(&server, "PUT", &format!("/{BUCKET}/in"), "abc")
            .await
            .status(),
        200
    );
    // The IPv4-mapped spelling of 127.0.0.1 reaches the receiver on 127.0.0.1: what the
    // refusal above keeps from happening.
    let job = hash_job(&server, &format!("http://[::ffff:127.0.0.1]:{port}/cb")).await;
    wait_for(&server, "delivered", 1.0).await;
    server.stop().await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let r = records(data.path(), &[job]).await;
    assert_eq!((r[0].1.as_str(), r[0].2), ("Delivered", 1));
}

/// Names of the proxy variables reqwest's default client reads.
const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The environment is process-wide: the server runs in a child process of this test binary
/// ([`proxy_child`]) whose environment names a proxy, which counts its connections and
/// answers each itself.
#[test]
fn callbacks_do_not_use_the_environments_proxy() {
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for socket in proxy.incoming() {
            let Ok(mut socket) = socket else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf);
            let _ = socket.write_all(
                b"HTTP/1.1 200 OK\r\nx-answered-by: proxy\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args(["proxy_child", "--exact", "--include-ignored", "--nocapture"]);
    for var in PROXY_VARS {
        child.env(var, format!("http://{proxy_addr}"));
    }
    for var in ["NO_PROXY", "no_proxy", "REQUEST_METHOD"] {
        child.env_remove(var);
    }
    child.env("HASHSCAN_TEST_PROXY_CHILD", "1");
    let out = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only the child's control request, from a default reqwest client, went to the proxy.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// Run by [`callbacks_do_not_use_the_environments_proxy`] with `HTTP_PROXY` and the
/// others set.
#[tokio::test]
#[ignore = "run in a child process by callbacks_do_not_use_the_environments_proxy"]
async fn proxy_child() {
    assert_eq!(
        std::env::var("HASHSCAN_TEST_PROXY_CHILD").as_deref(),
        Ok("1"),
        "run by callbacks_do_not_use_the_environments_proxy"
    );
    let (port, accepted) = receiver().await;
    let callback = format!("http://127.0.0.1:{port}/cb");
    // Control: a default client goes through the proxy this environment names.
    let control = reqwest::Client::new().post(&callback).send().await.unwrap();
    assert_eq!(
        control.headers().get("x-answered-by").map(|v| v.as_bytes()),
        Some(&b"proxy"[..]),
        "the environment's proxy is not in effect, so this test shows nothing"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0);

    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), |c| c.outbound.allow_private = true).await;
    assert_eq!(
        cos(&server, "PUT", &format!("/{BUCKET}/in"), "abc")
            .await
            .status(),
        200
    );
    hash_job(&server, &callback).await;
    wait_for(&server, "delivered", 1.0).await;
    server.stop().await;
    // Delivered by the receiver itself, not answered by the proxy.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// A signed Volcengine nta `CreateFileDetection` of `sign_url`: status and JSON answer.
async fn create_detection(server: &TestServer, sign_url: &str) -> (u16, serde_json::Value) {
    use hashscan_auth::Secret;
    use hashscan_auth::volc::{SignRequest, sign};
    let body = serde_json::json!({ "SignURL": sign_url }).to_string();
    let body_hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let now = time::OffsetDateTime::now_utc();
    let x_date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let host = server.addr.to_string();
    let query: Vec<(String, String)> = vec![
        ("Action".into(), "CreateFileDetection".into()),
        ("Version".into(), "2024-07-30".into()),
    ];
    let headers: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json".into()),
        ("host".into(), host.clone()),
        ("x-content-sha256".into(), body_hash.clone()),
        ("x-date".into(), x_date.clone()),
    ];
    let signed_names: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let signed = sign(
        &Secret::new(SK),
        &SignRequest {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers.as_slice(),
            signed_headers: &signed_names,
            x_date: &x_date,
            region: "cn-beijing",
            service: "nta",
            payload_hash: &body_hash,
        },
    )
    .unwrap();
    let r = client()
        .post(server.url("/?Action=CreateFileDetection&Version=2024-07-30"))
        .header("content-type", "application/json")
        .header("x-date", &x_date)
        .header("x-content-sha256", &body_hash)
        .header("authorization", signed.authorization(AK))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap(),
    )
}

/// SignURLs of addresses the default policy refuses (none of them this server).
fn private_sign_urls() -> Vec<String> {
    let mut urls: Vec<String> = REFUSED_HOSTS
        .iter()
        .map(|h| format!("http://{h}:9/file?X-Signature=secret"))
        .collect();
    urls.push("http://169.254.169.254/latest/meta-data/".into());
    urls.push("https://10.0.0.1/file".into());
    urls
}

#[tokio::test]
async fn volcengine_refuses_a_private_sign_url_at_submission() {
    strict_environment();
    let data = tempfile::tempdir().unwrap();
    let public = "pub-1250000000";
    let server = TestServer::start(data.path(), |c| {
        c.buckets.push(BucketConfig {
            name: public.into(),
            region: None,
            public_read: true,
        });
    })
    .await;
    for url in private_sign_urls() {
        let (status, doc) = create_detection(&server, &url).await;
        assert_eq!(status, 400, "{url}: {doc}");
        let error = &doc["ResponseMetadata"]["Error"];
        assert_eq!(error["Code"], "InvalidParameter", "{url}: {doc}");
        let message = error["Message"].as_str().unwrap();
        assert!(message.contains("SignURL"), "{url}: {message}");
        assert!(!message.contains("secret"), "{url}: {message}");
        assert_eq!(doc["ResponseMetadata"]["Action"], "CreateFileDetection");
        assert!(doc.get("Result").is_none(), "{url}: {doc}");
    }
    // A SignURL naming this server's own object (on loopback) is still read locally.
    let r = cos(&server, "PUT", &format!("/{public}/obj"), "own object").await;
    assert_eq!(r.status(), 200);
    let md5 = r.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    assert_eq!(md5.len(), 32);
    let own = server.url(&format!("/{public}/obj"));
    let (status, doc) = create_detection(&server, &own).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["Result"]["QueryKey"], md5.as_str());
    server.stop().await;
}

#[tokio::test]
async fn one_switch_lets_volcengine_accept_a_private_sign_url() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), |c| c.outbound.allow_private = true).await;
    let closed: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, doc) = create_detection(&server, &format!("http://{closed}/file")).await;
    assert_eq!(status, 200, "{doc}");
    assert!(doc["Result"]["QueryKey"].as_str().is_some(), "{doc}");
    server.stop().await;
}
