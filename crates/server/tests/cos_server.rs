//! The real server on an ephemeral loopback port, driven over HTTP by a Rust client that
//! signs with `hashscan-auth`: durability and safety properties the SDK suite cannot reach
//! (dropped uploads, restarts, graceful shutdown, limits, the data-directory lock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hashscan_auth::Secret;
use hashscan_auth::cos::{KeyTime, SignRequest, sign};
use hashscan_server::config::{BucketConfig, Config};
use hashscan_server::{Server, StartError, StartOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{AK, BUCKET, SK, TestServer};

impl TestServer {
    async fn put(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        reqwest::Client::new()
            .put(self.url(path))
            .header("authorization", self.auth("PUT", path))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn send(&self, method: &str, path: &str, body: &str) -> reqwest::Response {
        reqwest::Client::new()
            .request(method.parse().unwrap(), self.url(path))
            .header("authorization", self.auth(method, path))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.url(path))
            .header("authorization", self.auth("GET", path))
            .send()
            .await
            .unwrap()
    }
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

async fn xml_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or_default()
        .to_string();
    for element in ["<Message>", "<Resource>", "<RequestId>", "<TraceId>"] {
        assert!(body.contains(element), "{element} missing from {body}");
    }
    (status, code)
}

#[tokio::test]
async fn a_dropped_upload_leaves_the_old_object_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    let path = format!("/{BUCKET}/doc.txt");
    assert_eq!(
        server.put(&path, b"version one".to_vec()).await.status(),
        200
    );

    // A signed PUT announcing 8 MiB that sends 1 MiB and hangs up.
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        server.auth("PUT", &path),
        8 << 20
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&vec![b'x'; 1 << 20]).await.unwrap();
    sock.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(sock);

    let mut cleaned = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if files_in(&dir.path().join("tmp")) == 0 {
            cleaned = true;
            break;
        }
    }
    assert!(
        cleaned,
        "the partial upload's temporary file is still there"
    );
    let r = server.get(&path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"version one");
    server.stop().await;
}

#[tokio::test]
async fn objects_survive_a_restart_and_the_data_dir_is_locked_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    let path = format!("/{BUCKET}/a/b/c.bin");
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let r = server.put(&path, body.clone()).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();

    let second = Server::start(
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        },
        StartOptions::default(),
    )
    .await;
    assert!(matches!(second, Err(StartError::Locked(_))));
    server.stop().await;

    let again = TestServer::start(dir.path(), |_| {}).await;
    let r = again.get(&path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());
    again.stop().await;
}

#[tokio::test]
async fn shutdown_lets_an_upload_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    let path = format!("/{BUCKET}/slow.bin");
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
        server.addr,
        server.auth("PUT", &path),
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&vec![b'y'; 1_000_000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut server = server;
    server.begin_stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    sock.write_all(&vec![b'y'; 1_000_000]).await.unwrap();
    let mut response = String::new();
    sock.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("ETag: \""), "{response}");
    server.stop().await;

    let again = TestServer::start(dir.path(), |_| {}).await;
    let r = again.get(&path).await;
    assert_eq!(r.bytes().await.unwrap().len(), 2_000_000);
    again.stop().await;
}

#[tokio::test]
async fn size_limit_is_enforced_before_and_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |c| c.limits.max_object_size = 1000).await;
    let path = format!("/{BUCKET}/big");
    let (status, code) = xml_code(server.put(&path, vec![0; 1001]).await).await;
    assert_eq!((status, code.as_str()), (400, "EntityTooLarge"));

    // Without a Content-Length (chunked), the limit stops the body as it streams.
    let chunks = futures_util::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![1u8; 300]))),
    );
    let r = reqwest::Client::new()
        .put(server.url(&path))
        .header("authorization", server.auth("PUT", &path))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    let (status, code) = xml_code(r).await;
    assert_eq!((status, code.as_str()), (400, "EntityTooLarge"));
    let (status, code) = xml_code(server.get(&path).await).await;
    assert_eq!((status, code.as_str()), (404, "NoSuchKey"));
    assert_eq!(files_in(&dir.path().join("tmp")), 0);
    assert_eq!(server.put(&path, vec![0; 1000]).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn public_read_buckets_serve_unsigned_reads_only() {
    let dir = tempfile::tempdir().unwrap();
    // Configured buckets replace the default one; declare a private one too.
    let server = TestServer::start(dir.path(), |c| {
        c.buckets.push(BucketConfig {
            name: "pub-1250000000".into(),
            region: None,
            public_read: true,
        });
        c.buckets.push(BucketConfig {
            name: BUCKET.into(),
            region: None,
            public_read: false,
        });
    })
    .await;
    let path = "/pub-1250000000/page.html";
    assert_eq!(server.put(path, b"<p>hi</p>".to_vec()).await.status(), 200);
    let r = reqwest::get(server.url(path)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "<p>hi</p>");
    let r = reqwest::Client::new()
        .put(server.url(path))
        .body("defaced")
        .send()
        .await
        .unwrap();
    assert_eq!(xml_code(r).await, (403, "AccessDenied".to_string()));
    // The private default bucket refuses unsigned reads.
    let r = reqwest::get(server.url(&format!("/{BUCKET}/x")))
        .await
        .unwrap();
    assert_eq!(xml_code(r).await, (403, "AccessDenied".to_string()));
    server.stop().await;
}

#[tokio::test]
async fn virtual_hosts_route_by_bucket_and_region() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    let path = format!("/{BUCKET}/v.txt");
    assert_eq!(server.put(&path, b"vhost".to_vec()).await.status(), 200);
    // Absolute-form request target, as an SDK behind an HTTP proxy sends it.
    let host = format!("{BUCKET}.cos.ap-guangzhou.myqcloud.com");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let window = KeyTime::new(now - 60, now + 600);
    let auth = |host: &str| {
        sign(
            &Secret::new(SK),
            &SignRequest {
                method: "GET",
                path: "/v.txt",
                params: &[],
                headers: &[("host".to_string(), host.to_string())],
                sign_time: &window,
                key_time: &window,
            },
        )
        .authorization(AK)
    };
    let addr = server.addr;
    let raw = |host: String, auth: String| async move {
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET http://{host}/v.txt HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
        );
        sock.write_all(req.as_bytes()).await.unwrap();
        let mut response = String::new();
        sock.read_to_string(&mut response).await.unwrap();
        response
    };
    let ok = raw(host.clone(), auth(&host)).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("vhost"), "{ok}");
    let other_region = format!("{BUCKET}.cos.ap-beijing.myqcloud.com");
    let wrong = raw(other_region.clone(), auth(&other_region)).await;
    assert!(wrong.starts_with("HTTP/1.1 404"), "{wrong}");
    assert!(wrong.contains("<Code>NoSuchBucket</Code>"), "{wrong}");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_uploads_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let server = std::sync::Arc::new(TestServer::start(dir.path(), |_| {}).await);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = server.clone();
        tasks.push(tokio::spawn(async move {
            // Half to distinct keys, half racing on one key.
            let path = if i % 2 == 0 {
                format!("/{BUCKET}/many/{i}")
            } else {
                format!("/{BUCKET}/same")
            };
            s.put(&path, vec![i as u8; 300_000]).await.status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let r = server.get(&format!("/{BUCKET}/same")).await;
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 300_000);
    assert!(
        body.iter().all(|b| *b == body[0]),
        "one writer's bytes, not a mix"
    );
    for i in (0..16).step_by(2) {
        let body = server
            .get(&format!("/{BUCKET}/many/{i}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(body.as_ref(), vec![i as u8; 300_000].as_slice());
    }
}

#[tokio::test]
async fn file_processing_can_be_turned_off_and_on_per_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    assert_eq!(
        server
            .put(&format!("/{BUCKET}/in"), b"abc".to_vec())
            .await
            .status(),
        200
    );
    let job = "<Request><Tag>FileHashCode</Tag><Input><Object>in</Object></Input>\
               <Operation><FileHashCodeConfig><Type>MD5</Type></FileHashCodeConfig></Operation></Request>";
    let listed = |body: String| body.contains(&format!("<BucketId>{BUCKET}</BucketId>"));

    let r = server.send("GET", "/file_bucket", "").await;
    assert_eq!(r.status(), 200);
    assert!(listed(r.text().await.unwrap()), "on by default");

    let r = server
        .send("DELETE", &format!("/{BUCKET}/file_bucket"), "")
        .await;
    assert_eq!(r.status(), 200);
    let r = server
        .send("POST", &format!("/{BUCKET}/file_jobs"), job)
        .await;
    assert_eq!(xml_code(r).await, (403, "AccessDenied".to_string()));
    let r = server.send("GET", "/file_bucket", "").await;
    assert!(!listed(r.text().await.unwrap()));

    let r = server
        .send("POST", &format!("/{BUCKET}/file_bucket"), "")
        .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<FileBucket><BucketId>default-1250000000</BucketId>"),
        "{body}"
    );
    assert!(body.contains("<Region>ap-guangzhou</Region>"), "{body}");
    let r = server
        .send("POST", &format!("/{BUCKET}/file_jobs"), job)
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<State>Submitted</State>"));
    server.stop().await;
}

#[tokio::test]
async fn an_early_error_on_an_upload_is_delivered_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    // A bad signature is refused before the body is read; the client is still sending it.
    for _ in 0..5 {
        let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "PUT /{BUCKET}/x HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
            server.addr,
            server.auth("PUT", "/other/path"),
            4 << 20
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(&vec![b'z'; 4 << 20]).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 403"), "{text}");
        assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    }
    server.stop().await;
}

/// A request whose signature covers its query parameters (the multipart ones must be).
async fn signed(server: &TestServer, method: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .request(method.parse().unwrap(), server.url(path))
        .header("authorization", server.auth_covering(SK, method, path, &[]))
        .body(body)
        .send()
        .await
        .unwrap()
}

fn blob_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blobs"))
        .map(|d| d.map(|s| files_in(&s.unwrap().path())).sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn multipart_parameters_must_be_signed_and_abandoned_uploads_expire() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |c| c.limits.incomplete_upload_secs = 1).await;
    let key = format!("/{BUCKET}/mp.bin");

    // `?uploads` left out of the signature: refused, no upload begun.
    let r = server.send("POST", &format!("{key}?uploads"), "").await;
    assert_eq!(xml_code(r).await, (403, "AccessDenied".to_string()));
    let r = signed(&server, "GET", &format!("/{BUCKET}/?uploads"), vec![]).await;
    let listing = r.text().await.unwrap();
    assert!(!listing.contains("<Upload>"), "{listing}");

    let r = signed(&server, "POST", &format!("{key}?uploads"), vec![]).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let id = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .unwrap()
        .to_string();
    // A part whose upload id was added to an unsigned query is refused too.
    let part = format!("{key}?partNumber=1&uploadId={id}");
    let r = server.put(&part, b"part".to_vec()).await;
    assert_eq!(xml_code(r).await, (403, "AccessDenied".to_string()));
    let r = signed(&server, "PUT", &part, vec![9u8; 4096]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(blob_files(dir.path()), 1);

    // Not completed within a second: aborted, its part removed.
    let parts = format!("{key}?uploadId={id}");
    let mut listed = signed(&server, "GET", &parts, vec![]).await;
    for _ in 0..50 {
        if listed.status() == 404 {
            break;
        }
        assert_eq!(listed.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
        listed = signed(&server, "GET", &parts, vec![]).await;
    }
    assert_eq!(xml_code(listed).await, (404, "NoSuchUpload".to_string()));
    assert_eq!(blob_files(dir.path()), 0);
    server.stop().await;
}

#[tokio::test]
async fn hostile_multipart_requests_are_refused_in_cos_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    let key = format!("/{BUCKET}/hostile.bin");
    let text = signed(&server, "POST", &format!("{key}?uploads"), vec![])
        .await
        .text()
        .await
        .unwrap();
    let id = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .unwrap()
        .to_string();
    let complete = format!("{key}?uploadId={id}");

    // A completion body over its limit, one that is not XML, parts never uploaded.
    let huge = vec![b' '; 2 * 1024 * 1024 + 1];
    let r = signed(&server, "POST", &complete, huge).await;
    assert_eq!(xml_code(r).await, (400, "MalformedXML".to_string()));
    let r = signed(&server, "POST", &complete, b"<Complete".to_vec()).await;
    assert_eq!(xml_code(r).await, (400, "MalformedXML".to_string()));
    // A Content-MD5 (the Node.js SDK sends one) that is not the body's.
    let r = reqwest::Client::new()
        .post(server.url(&complete))
        .header(
            "authorization",
            server.auth_covering(SK, "POST", &complete, &[]),
        )
        .header("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")
        .body("<CompleteMultipartUpload/>")
        .send()
        .await
        .unwrap();
    assert_eq!(xml_code(r).await, (400, "InvalidDigest".to_string()));
    let body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"00\"</ETag></Part></CompleteMultipartUpload>";
    let r = signed(&server, "POST", &complete, body.to_vec()).await;
    assert_eq!(xml_code(r).await, (400, "InvalidPart".to_string()));
    // Part numbers outside 1–10,000; listing parameters that are not numbers.
    for n in ["0", "10001", "x"] {
        let r = signed(
            &server,
            "PUT",
            &format!("{key}?partNumber={n}&uploadId={id}"),
            vec![1],
        )
        .await;
        assert_eq!(
            xml_code(r).await,
            (400, "InvalidArgument".to_string()),
            "{n}"
        );
    }
    let r = signed(
        &server,
        "GET",
        &format!("{key}?uploadId={id}&max-parts=many"),
        vec![],
    )
    .await;
    assert_eq!(xml_code(r).await, (400, "InvalidArgument".to_string()));
    let r = signed(
        &server,
        "GET",
        &format!("/{BUCKET}/?uploads&max-uploads=-1"),
        vec![],
    )
    .await;
    assert_eq!(xml_code(r).await, (400, "InvalidArgument".to_string()));
    // The upload id of this key is no other key's.
    let r = signed(
        &server,
        "PUT",
        &format!("/{BUCKET}/other.bin?partNumber=1&uploadId={id}"),
        vec![1],
    )
    .await;
    assert_eq!(xml_code(r).await, (404, "NoSuchUpload".to_string()));
    // Nothing was stored, and the upload is still there, without parts.
    assert_eq!(blob_files(dir.path()), 0);
    let r = signed(&server, "GET", &complete, vec![]).await;
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains("<Part>"));
    let r = server.get(&format!("/{BUCKET}/hostile.bin")).await;
    assert_eq!(xml_code(r).await, (404, "NoSuchKey".to_string()));
    server.stop().await;
}
