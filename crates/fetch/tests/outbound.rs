#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `Fetcher::post` (job callbacks) against real servers on 127.0.0.1: what it sends, what it
//! reads back, and that it goes out under the same address policy as downloads — every
//! IPv6 spelling of a refused IPv4 address included — without connecting, without
//! following redirects and without the environment's proxies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use futures_util::stream;
use hashscan_fetch::{FetchError, Fetcher, MAX_POST_ANSWER, Policy, Post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn lax() -> Policy {
    Policy {
        allow_private: true,
        ..Policy::default()
    }
}

fn request(body: &[u8]) -> Post {
    Post {
        content_type: "application/xml".into(),
        headers: vec![
            ("x-hashscan-delivery-id".into(), "d0123".into()),
            ("user-agent".into(), "hashscan/test".into()),
        ],
        body: body.to_vec(),
        timeout: Duration::from_secs(10),
    }
}

/// What `/echo` received last, and how many requests reached `/echo` and `/target`.
#[derive(Default)]
struct Seen {
    last: std::sync::Mutex<Option<(HeaderMap, Bytes)>>,
    echo: AtomicUsize,
    target: AtomicUsize,
}

async fn serve() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/echo",
            post(
                |State(seen): State<Arc<Seen>>, headers: HeaderMap, body: Bytes| async move {
                    seen.echo.fetch_add(1, Ordering::SeqCst);
                    *seen.last.lock().unwrap() = Some((headers, body));
                    (StatusCode::CREATED, "ok")
                },
            ),
        )
        .route(
            "/target",
            post(|State(seen): State<Arc<Seen>>| async move {
                seen.target.fetch_add(1, Ordering::SeqCst);
                "target"
            }),
        )
        .route(
            "/fail",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy") }),
        )
        .route(
            "/redirect",
            post(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/target")],
                )
            }),
        )
        .route(
            "/endless",
            post(|| async {
                let chunks = stream::repeat_with(|| {
                    Ok::<_, std::convert::Infallible>(Bytes::from(vec![b'e'; 4096]))
                });
                Body::from_stream(chunks).into_response()
            }),
        )
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

#[tokio::test]
async fn posts_the_body_and_headers_and_returns_the_answer() {
    let (addr, seen) = serve().await;
    let got = Fetcher::new(lax())
        .unwrap()
        .post(&format!("http://{addr}/echo"), request(b"<Response/>"))
        .await
        .unwrap();
    assert_eq!(got.status, StatusCode::CREATED);
    assert_eq!(got.body, b"ok");
    assert!(!got.truncated);
    let (headers, body) = seen.last.lock().unwrap().take().unwrap();
    assert_eq!(body.as_ref(), b"<Response/>");
    assert_eq!(headers[header::CONTENT_TYPE], "application/xml");
    assert_eq!(headers["x-hashscan-delivery-id"], "d0123");
    // The caller's User-Agent replaces the client's, and there is only one.
    assert_eq!(headers.get_all(header::USER_AGENT).iter().count(), 1);
    assert_eq!(headers[header::USER_AGENT], "hashscan/test");
}

#[tokio::test]
async fn a_failure_status_is_an_answer_not_an_error() {
    let (addr, _) = serve().await;
    let got = Fetcher::new(lax())
        .unwrap()
        .post(&format!("http://{addr}/fail"), request(b"x"))
        .await
        .unwrap();
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(got.body, b"busy");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (addr, seen) = serve().await;
    let got = Fetcher::new(lax())
        .unwrap()
        .post(&format!("http://{addr}/redirect"), request(b"x"))
        .await
        .unwrap();
    assert_eq!(got.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(seen.target.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_answer_is_read_only_up_to_the_limit() {
    let (addr, _) = serve().await;
    let started = Instant::now();
    let got = Fetcher::new(lax())
        .unwrap()
        .post(&format!("http://{addr}/endless"), request(b"x"))
        .await
        .unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body.len(), MAX_POST_ANSWER);
    assert!(got.truncated);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_silent_receiver_times_out_within_the_requests_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // never answers
        }
    });
    // The policy's own (download) timeout is a minute: the POST's decides.
    let fetcher = Fetcher::new(lax()).unwrap();
    let started = Instant::now();
    let err = fetcher
        .post(
            &format!("http://{addr}/cb"),
            Post {
                timeout: Duration::from_millis(300),
                ..request(b"x")
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Timeout), "{err:?}");
    assert!(!err.is_permanent());
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A TCP listener on 127.0.0.1 that counts the connections it accepts and answers each with
/// `204 No Content`.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, accepted)
}

/// Hosts that lead to 127.0.0.1 (or another refused IPv4 address) in some spelling, and
/// other refused-by-default hosts. Each is refused unless `allow_private`.
const PRIVATE_HOSTS: &[&str] = &[
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[::ffff:0:127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::127.0.0.1]",
    "[64:ff9b:1::7f00:1]",
    "[2002:7f00:1::1]",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
    "198.18.0.1",
    "[::ffff:198.18.0.1]",
    "192.0.0.1",
    "[64:ff9b::c000:1]",
    "100.64.0.1",
    "169.254.169.254",
    "[::ffff:169.254.169.254]",
    "10.0.0.1",
    "240.0.0.1",
    "[fd00::1]",
    "[fe80::1]",
    "[::1:0:0:1]",
];

/// Hosts refused even with `allow_private`: unspecified, multicast, broadcast, in any form.
const NEVER_HOSTS: &[&str] = &[
    "0.0.0.0",
    "0",
    "0.1.2.3",
    "[::]",
    "[::ffff:0.0.0.0]",
    "[::ffff:0:0.0.0.0]",
    "[64:ff9b::]",
    "[2002::1]",
    "255.255.255.255",
    "[::ffff:255.255.255.255]",
    "[64:ff9b::ffff:ffff]",
    "224.0.0.1",
    "[::ffff:224.0.0.1]",
    "[ff02::1]",
];

fn forbidden(r: Result<impl std::fmt::Debug, FetchError>, what: &str) {
    match r {
        Err(e @ FetchError::Forbidden { .. }) => assert!(e.is_permanent(), "{what}"),
        other => panic!("{what}: expected Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn refused_hosts_are_never_connected_to() {
    let (port, accepted) = counting_listener().await;
    let strict = Fetcher::new(Policy::default()).unwrap();
    let lax = Fetcher::new(lax()).unwrap();
    for host in PRIVATE_HOSTS.iter().chain(NEVER_HOSTS) {
        let url = format!("http://{host}:{port}/cb");
        forbidden(strict.post(&url, request(b"x")).await, &url);
        forbidden(strict.precheck(&url).await.map(|()| ""), &url);
        // A download of the same URL is refused the same way.
        let dir = tempfile::tempdir().unwrap();
        forbidden(
            strict.fetch_to_file(&url, &dir.path().join("f")).await,
            &url,
        );
    }
    for host in NEVER_HOSTS {
        let url = format!("http://{host}:{port}/cb");
        forbidden(lax.post(&url, request(b"x")).await, &url);
        forbidden(lax.precheck(&url).await.map(|()| ""), &url);
    }
    // Allowed with allow_private (checked without connecting: precheck).
    for host in PRIVATE_HOSTS {
        let url = format!("http://{host}:{port}/cb");
        lax.precheck(&url)
            .await
            .unwrap_or_else(|e| panic!("{url} with allow_private: {e:?}"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "a refused host was connected to"
    );

    // The listener does count: with allow_private, the IPv4-mapped spelling of 127.0.0.1
    // reaches it, and so does 127.0.0.1 itself.
    for host in ["127.0.0.1", "[::ffff:127.0.0.1]"] {
        let got = lax
            .post(&format!("http://{host}:{port}/cb"), request(b"x"))
            .await
            .unwrap();
        assert_eq!(got.status, StatusCode::NO_CONTENT, "{host}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn invalid_urls_and_headers() {
    let f = Fetcher::new(lax()).unwrap();
    for url in [
        "ftp://127.0.0.1/",
        "http://u:p@127.0.0.1/",
        "not a url",
        "file:///etc/passwd",
    ] {
        let err = f.post(url, request(b"x")).await.unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl(_)), "{url}: {err:?}");
        assert!(err.is_permanent());
    }
    let (addr, seen) = serve().await;
    let bad = Post {
        headers: vec![("x-id".into(), "a\r\nb".into())],
        ..request(b"x")
    };
    let err = f
        .post(&format!("http://{addr}/echo"), bad)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidHeader(_)), "{err:?}");
    assert!(!err.is_client_error());
    assert_eq!(seen.echo.load(Ordering::SeqCst), 0);
}

/// Environment variables naming a proxy, as reqwest's default client reads them.
const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The environment is process-wide: the check runs in a child process of this test binary
/// ([`proxy_child`]) whose environment names a proxy. The proxy counts its connections
/// and answers each itself, with a header of its own.
#[test]
fn proxies_from_the_environment_are_not_used() {
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
                b"HTTP/1.1 200 OK\r\nx-answered-by: proxy\r\ncontent-length: 5\r\nconnection: close\r\n\r\nproxy",
            );
        }
    });
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args(["proxy_child", "--exact", "--include-ignored", "--nocapture"]);
    for var in PROXY_VARS {
        child.env(var, format!("http://{proxy_addr}"));
    }
    // Nothing may exempt the loopback target from the proxy, nor turn proxies off.
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
    // Only the child's control request, made with a default reqwest client, went there.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// Run by [`proxies_from_the_environment_are_not_used`] with `HTTP_PROXY` and the others set.
#[tokio::test]
#[ignore = "run in a child process by proxies_from_the_environment_are_not_used"]
async fn proxy_child() {
    assert_eq!(
        std::env::var("HASHSCAN_TEST_PROXY_CHILD").as_deref(),
        Ok("1"),
        "run by proxies_from_the_environment_are_not_used"
    );
    let (addr, seen) = serve().await;
    let url = format!("http://{addr}/target");
    // Control: a default client does go through the proxy named in this environment.
    let control = reqwest::Client::new().post(&url).send().await.unwrap();
    assert_eq!(
        control.headers().get("x-answered-by").map(|v| v.as_bytes()),
        Some(&b"proxy"[..]),
        "the environment's proxy is not in effect, so this test shows nothing"
    );
    assert_eq!(seen.target.load(Ordering::SeqCst), 0);
    // The fetcher goes straight to the target, for a POST and a download alike.
    let answer = Fetcher::new(lax())
        .unwrap()
        .post(&url, request(b"x"))
        .await
        .unwrap();
    assert_eq!(answer.body, b"target");
    assert_eq!(seen.target.load(Ordering::SeqCst), 1);
    let dir = tempfile::tempdir().unwrap();
    let err = Fetcher::new(lax())
        .unwrap()
        .fetch_to_file(&url, &dir.path().join("f"))
        .await
        .unwrap_err();
    // GET of a POST-only route: 405 from the target itself, not 200 from the proxy.
    assert!(matches!(err, FetchError::Status(405)), "{err:?}");
}
