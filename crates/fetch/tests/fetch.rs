#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Fetches from a real HTTP server on 127.0.0.1 (an axum app, and raw TCP servers for
//! misbehaving peers).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream;
use hashscan_fetch::{FetchError, Fetcher, Policy};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// The body of `/bytes`: every byte value, several times over.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

const BYTES_LEN: usize = 10_000;

fn redirect(code: u16, location: &str) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        [(header::LOCATION, location.to_owned())],
    )
        .into_response()
}

fn chunked(total: usize, chunk: usize) -> Response {
    let chunks = (0..total.div_ceil(chunk))
        .map(move |i| Ok::<_, Infallible>(Bytes::from(vec![b'x'; chunk.min(total - i * chunk)])));
    Body::from_stream(stream::iter(chunks)).into_response()
}

async fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/bytes",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/x-test")],
                    pattern(BYTES_LEN),
                )
            }),
        )
        .route(
            "/redirect/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    redirect(302, "/bytes")
                } else {
                    redirect(302, &format!("/redirect/{}", n - 1))
                }
            }),
        )
        .route(
            "/status-redirect/{code}",
            get(|Path(code): Path<u16>| async move { redirect(code, "../bytes") }),
        )
        .route(
            "/absolute-redirect",
            get(|State(addr): State<SocketAddr>| async move {
                redirect(307, &format!("http://{addr}/bytes?from=absolute"))
            }),
        )
        .route(
            "/to/{target}",
            get(
                |Path(target): Path<String>, State(addr): State<SocketAddr>| async move {
                    let port = addr.port();
                    let location = match target.as_str() {
                        "ftp" => "ftp://127.0.0.1/file".to_owned(),
                        "file" => "file:///etc/passwd".to_owned(),
                        "userinfo" => format!("http://user:pw@{addr}/bytes"),
                        "unspecified" => format!("http://0.0.0.0:{port}/bytes"),
                        "unspecified6" => format!("http://[::]:{port}/bytes"),
                        "multicast" => format!("http://[ff02::1]:{port}/bytes"),
                        "broadcast" => format!("http://255.255.255.255:{port}/bytes"),
                        _ => "/missing".to_owned(),
                    };
                    redirect(302, &location)
                },
            ),
        )
        .route("/no-location", get(|| async { StatusCode::FOUND }))
        .route("/not-modified", get(|| async { StatusCode::NOT_MODIFIED }))
        .route(
            "/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
        )
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/sized/{n}",
            get(|Path(n): Path<usize>| async move { vec![b's'; n] }),
        )
        .route(
            "/chunked/{n}",
            get(|Path(n): Path<usize>| async move { chunked(n, 1000) }),
        )
        .route(
            "/chunked-forever",
            get(|| async {
                let chunks =
                    stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from(vec![0u8; 4096])));
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/trickle",
            get(|| async {
                let chunks = stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((Ok::<_, Infallible>(Bytes::from_static(b"t")), ()))
                });
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/gzip",
            get(|headers: HeaderMap| async move {
                // Sent as is whatever the client asked for; the file must hold these bytes.
                let asked = headers
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                (
                    [
                        (header::CONTENT_ENCODING, "gzip".to_owned()),
                        (header::HeaderName::from_static("x-asked"), asked.clone()),
                    ],
                    format!("raw, not gunzipped; asked={asked}"),
                )
            }),
        )
        .with_state(addr);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

fn lax() -> Policy {
    Policy {
        allow_private: true,
        ..Policy::default()
    }
}

fn fetcher(policy: Policy) -> Fetcher {
    Fetcher::new(policy).unwrap()
}

struct Dest {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn dest() -> Dest {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body");
    Dest { _dir: dir, path }
}

#[tokio::test]
async fn fetches_the_exact_bytes() {
    let addr = serve().await;
    let d = dest();
    let url = format!("http://{addr}/bytes");
    let got = fetcher(lax()).fetch_to_file(&url, &d.path).await.unwrap();
    assert_eq!(got.size, BYTES_LEN as u64);
    assert_eq!(got.final_url, url);
    assert_eq!(got.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(std::fs::read(&d.path).unwrap(), pattern(BYTES_LEN));
}

#[tokio::test]
async fn truncates_an_existing_file() {
    let addr = serve().await;
    let d = dest();
    std::fs::write(&d.path, vec![b'z'; 50_000]).unwrap();
    let got = fetcher(lax())
        .fetch_to_file(&format!("http://{addr}/sized/10"), &d.path)
        .await
        .unwrap();
    assert_eq!(got.size, 10);
    assert_eq!(std::fs::read(&d.path).unwrap(), b"ssssssssss");
}

#[tokio::test]
async fn empty_body() {
    let addr = serve().await;
    let d = dest();
    let got = fetcher(lax())
        .fetch_to_file(&format!("http://{addr}/empty"), &d.path)
        .await
        .unwrap();
    assert_eq!(got.size, 0);
    assert_eq!(std::fs::read(&d.path).unwrap(), b"");
}

#[tokio::test]
async fn bytes_are_kept_as_served_without_decoding() {
    let addr = serve().await;
    let d = dest();
    let got = fetcher(lax())
        .fetch_to_file(&format!("http://{addr}/gzip"), &d.path)
        .await
        .unwrap();
    let body = std::fs::read_to_string(&d.path).unwrap();
    assert_eq!(body, "raw, not gunzipped; asked=identity");
    assert_eq!(got.size, body.len() as u64);
}

#[tokio::test]
async fn clones_share_the_client_and_fetch_concurrently() {
    let addr = serve().await;
    let f = fetcher(lax());
    let mut tasks = Vec::new();
    for i in 0..4 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let d = dest();
            let got = f
                .fetch_to_file(&format!("http://{addr}/sized/{}", 100 * (i + 1)), &d.path)
                .await
                .unwrap();
            assert_eq!(got.size, 100 * (i + 1));
            assert_eq!(std::fs::metadata(&d.path).unwrap().len(), got.size);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn follows_a_redirect_chain() {
    let addr = serve().await;
    let d = dest();
    // /redirect/4 → 3 → 2 → 1 → 0 → /bytes: five redirects, the default limit.
    let got = fetcher(lax())
        .fetch_to_file(&format!("http://{addr}/redirect/4"), &d.path)
        .await
        .unwrap();
    assert_eq!(got.final_url, format!("http://{addr}/bytes"));
    assert_eq!(got.size, BYTES_LEN as u64);
    assert_eq!(std::fs::read(&d.path).unwrap(), pattern(BYTES_LEN));
}

#[tokio::test]
async fn follows_every_redirect_status_and_absolute_locations() {
    let addr = serve().await;
    let f = fetcher(lax());
    for code in [301, 302, 303, 307, 308] {
        let d = dest();
        let got = f
            .fetch_to_file(&format!("http://{addr}/status-redirect/{code}"), &d.path)
            .await
            .unwrap();
        assert_eq!(got.final_url, format!("http://{addr}/bytes"), "{code}");
        assert_eq!(got.size, BYTES_LEN as u64, "{code}");
    }
    let d = dest();
    let got = f
        .fetch_to_file(&format!("http://{addr}/absolute-redirect"), &d.path)
        .await
        .unwrap();
    assert_eq!(got.final_url, format!("http://{addr}/bytes?from=absolute"));
}

#[tokio::test]
async fn too_many_redirects() {
    let addr = serve().await;
    let d = dest();
    // Six redirects against a limit of five.
    let err = fetcher(lax())
        .fetch_to_file(&format!("http://{addr}/redirect/5"), &d.path)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooManyRedirects(5)), "{err:?}");
    assert!(!d.path.exists());

    let none = Policy {
        max_redirects: 0,
        ..lax()
    };
    let err = fetcher(none)
        .fetch_to_file(&format!("http://{addr}/redirect/0"), &d.path)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooManyRedirects(0)), "{err:?}");
}

#[tokio::test]
async fn redirect_targets_are_checked_on_every_hop() {
    let addr = serve().await;
    let f = fetcher(lax());
    for target in ["ftp", "file", "userinfo"] {
        let d = dest();
        let err = f
            .fetch_to_file(&format!("http://{addr}/to/{target}"), &d.path)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::InvalidUrl(_)),
            "{target}: {err:?}"
        );
        assert!(!d.path.exists());
    }
    // Addresses refused even with allow_private.
    for target in ["unspecified", "unspecified6", "multicast", "broadcast"] {
        let d = dest();
        let err = f
            .fetch_to_file(&format!("http://{addr}/to/{target}"), &d.path)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Forbidden { .. }),
            "{target}: {err:?}"
        );
        assert!(err.is_client_error());
    }
}

#[tokio::test]
async fn content_length_over_the_limit() {
    let addr = serve().await;
    let d = dest();
    let policy = Policy {
        max_bytes: 1000,
        ..lax()
    };
    let err = fetcher(policy)
        .fetch_to_file(&format!("http://{addr}/sized/1001"), &d.path)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1000 }),
        "{err:?}"
    );
    assert!(err.is_client_error());
    assert!(!d.path.exists());

    // Exactly at the limit is fine.
    let got = fetcher(policy)
        .fetch_to_file(&format!("http://{addr}/sized/1000"), &d.path)
        .await
        .unwrap();
    assert_eq!(got.size, 1000);
}

#[tokio::test]
async fn chunked_body_growing_past_the_limit() {
    let addr = serve().await;
    let policy = Policy {
        max_bytes: 64 * 1024,
        ..lax()
    };
    let f = fetcher(policy);

    let d = dest();
    let err = f
        .fetch_to_file(&format!("http://{addr}/chunked-forever"), &d.path)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 65536 }),
        "{err:?}"
    );
    assert!(!d.path.exists(), "the partial file must be removed");

    let d = dest();
    let err = f
        .fetch_to_file(&format!("http://{addr}/chunked/65537"), &d.path)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
    assert!(!d.path.exists());

    let d = dest();
    let got = f
        .fetch_to_file(&format!("http://{addr}/chunked/65536"), &d.path)
        .await
        .unwrap();
    assert_eq!(got.size, 65536);
    assert_eq!(std::fs::metadata(&d.path).unwrap().len(), 65536);
}

#[tokio::test]
async fn non_success_statuses() {
    let addr = serve().await;
    let f = fetcher(lax());
    for (path, code) in [
        ("/missing", 404),
        ("/error", 500),
        ("/no-location", 302),
        ("/not-modified", 304),
        ("/to/elsewhere", 404),
    ] {
        let d = dest();
        let err = f
            .fetch_to_file(&format!("http://{addr}{path}"), &d.path)
            .await
            .unwrap_err();
        match err {
            FetchError::Status(got) => assert_eq!(got, code, "{path}"),
            other => panic!("{path}: {other:?}"),
        }
        assert!(!d.path.exists(), "{path}");
    }
}

#[tokio::test]
async fn trickling_body_times_out() {
    let addr = serve().await;
    let d = dest();
    let policy = Policy {
        timeout: Duration::from_millis(500),
        ..lax()
    };
    let start = Instant::now();
    let err = fetcher(policy)
        .fetch_to_file(&format!("http://{addr}/trickle"), &d.path)
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, FetchError::Timeout), "{err:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!d.path.exists(), "the partial file must be removed");
}

/// A TCP server that accepts connections and hands each to `answer`.
async fn raw_server<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(answer(conn));
        }
    });
    addr
}

#[tokio::test]
async fn silent_server_times_out() {
    let addr = raw_server(|conn| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(conn);
    })
    .await;
    let d = dest();
    let policy = Policy {
        timeout: Duration::from_millis(300),
        ..lax()
    };
    let start = Instant::now();
    let err = fetcher(policy)
        .fetch_to_file(&format!("http://{addr}/"), &d.path)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Timeout), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(!d.path.exists());
}

#[tokio::test]
async fn body_cut_short_removes_the_partial_file() {
    let addr = raw_server(|mut conn| async move {
        let mut buf = [0u8; 4096];
        let _ = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await;
        let _ = conn
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
            .await;
        let _ = conn.shutdown().await;
    })
    .await;
    let d = dest();
    let err = fetcher(lax())
        .fetch_to_file(&format!("http://{addr}/"), &d.path)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Transfer(_)), "{err:?}");
    assert!(err.is_client_error());
    assert!(!d.path.exists(), "the partial file must be removed");
}

#[tokio::test]
async fn connection_refused() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let d = dest();
    let err = fetcher(lax())
        .fetch_to_file(&format!("http://{addr}/"), &d.path)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Connect(_)), "{err:?}");
    assert!(err.is_client_error());
}

#[tokio::test]
async fn local_file_errors_are_not_client_errors() {
    let addr = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no-such-dir").join("body");
    let err = fetcher(lax())
        .fetch_to_file(&format!("http://{addr}/bytes"), &missing_dir)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Io(_)), "{err:?}");
    assert!(!err.is_client_error());
}

async fn refused_by_default(url: &str) -> FetchError {
    let d = dest();
    let start = Instant::now();
    let err = fetcher(Policy::default())
        .fetch_to_file(url, &d.path)
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2), "{url} was slow");
    assert!(!d.path.exists());
    assert!(err.is_client_error());
    err
}

#[tokio::test]
async fn private_targets_are_refused_by_default() {
    let addr = serve().await;
    let port = addr.port();
    for (url, host, ip) in [
        (
            format!("http://127.0.0.1:{port}/bytes"),
            "127.0.0.1",
            "127.0.0.1",
        ),
        (format!("http://[::1]:{port}/bytes"), "[::1]", "::1"),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/bytes"),
            "[::ffff:7f00:1]",
            "::ffff:127.0.0.1",
        ),
        (
            format!("http://2130706433:{port}/bytes"),
            "127.0.0.1",
            "127.0.0.1",
        ),
        // No connection may be attempted: this must fail at once, not after a timeout.
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
            "169.254.169.254",
        ),
        ("http://10.0.0.1/".to_owned(), "10.0.0.1", "10.0.0.1"),
    ] {
        match refused_by_default(&url).await {
            FetchError::Forbidden { host: h, addr: a } => {
                assert_eq!(h, host, "{url}");
                assert_eq!(a, ip.parse::<std::net::IpAddr>().unwrap(), "{url}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn names_resolving_to_loopback_are_refused_by_default() {
    let addr = serve().await;
    let err = refused_by_default(&format!("http://localhost:{}/bytes", addr.port())).await;
    match err {
        FetchError::Forbidden { host, addr } => {
            assert_eq!(host, "localhost");
            assert!(addr.is_loopback(), "{addr}");
        }
        other => panic!("{other:?}"),
    }
    // The same name is fine when private addresses are allowed.
    let d = dest();
    let got = fetcher(lax())
        .fetch_to_file(&format!("http://localhost:{}/bytes", addr.port()), &d.path)
        .await
        .unwrap();
    assert_eq!(got.size, BYTES_LEN as u64);
}

#[tokio::test]
async fn invalid_urls() {
    for url in [
        "ftp://127.0.0.1/file",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
        "http://user@example.com/",
        "garbage",
        "http://",
        "",
    ] {
        for policy in [Policy::default(), lax()] {
            let d = dest();
            let err = fetcher(policy)
                .fetch_to_file(url, &d.path)
                .await
                .unwrap_err();
            assert!(matches!(err, FetchError::InvalidUrl(_)), "{url}: {err:?}");
            assert!(err.is_client_error());
        }
    }
}
