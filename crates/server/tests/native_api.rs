//! hashscan's own `/v1` JSON API against the real server on an ephemeral loopback port,
//! driven by reqwest and signed with `hashscan-auth`'s COS signer: detections of uploads,
//! bucket objects and URLs, hash jobs, authentication, errors, and the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hashscan_server::config::DEFAULT_BUCKET;
use serde_json::{Value, json};
use sha2::Digest;

mod common;
use common::{AK, SK, TestServer};

/// The EICAR test file, assembled at run time so that this source is not one.
fn eicar() -> Vec<u8> {
    let first = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    let second = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    format!("{first}{second}").into_bytes()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

impl TestServer {
    /// A request whose signature covers the host and every query parameter, without a body.
    fn signed(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method.parse().unwrap(), self.url(path))
            .header("authorization", self.auth_covering(SK, method, path, &[]))
    }

    /// A request with `body`, its SHA-256 in a signed `x-cos-content-sha256` header.
    fn signed_body(
        &self,
        method: &str,
        path: &str,
        body: impl Into<Vec<u8>>,
    ) -> reqwest::RequestBuilder {
        let body = body.into();
        let digest = sha256_hex(&body);
        reqwest::Client::new()
            .request(method.parse().unwrap(), self.url(path))
            .header(
                "authorization",
                self.auth_covering(SK, method, path, &[("x-cos-content-sha256", &digest)]),
            )
            .header("x-cos-content-sha256", digest)
            .body(body)
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        read(self.signed("GET", path).send().await.unwrap()).await
    }

    async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        read(
            self.signed_body("POST", path, body.to_string())
                .header("content-type", "application/json")
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn upload(&self, data: &[u8]) -> (u16, Value) {
        read(
            self.signed_body("POST", "/v1/detections", data.to_vec())
                .header("content-type", "application/octet-stream")
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// PUTs an object through the COS object API (path-style).
    async fn put_object(&self, key: &str, data: &[u8]) {
        let path = format!("/{DEFAULT_BUCKET}/{key}");
        let r = self
            .signed("PUT", &path)
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Polls a detection until it is no longer detecting.
    async fn detection_done(&self, key: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, d) = self.get_json(&format!("/v1/detections/{key}")).await;
            assert_eq!(status, 200, "{d}");
            if d["state"] != "detecting" {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "detection {key} never finished: {d}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls a job until it has ended.
    async fn job_done(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, j) = self.get_json(&format!("/v1/jobs/{id}")).await;
            assert_eq!(status, 200, "{j}");
            if ["Success", "Failed", "Cancel"].contains(&j["state"].as_str().unwrap()) {
                return j;
            }
            assert!(Instant::now() < deadline, "job {id} never finished: {j}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn read(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, value)
}

/// An error answer has the documented shape; returns its code.
fn error_code(body: &Value) -> &str {
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(
        body["request_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    body["error"]["code"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detections_of_uploads_objects_and_urls() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;

    // EICAR, uploaded: hashed on arrival, so it can be polled by its SHA-256 at once.
    let data = eicar();
    let sha = sha256_hex(&data);
    let (status, submitted) = server.upload(&data).await;
    assert_eq!(status, 202, "{submitted}");
    assert_eq!(submitted["sha256"], sha);
    assert_eq!(submitted["md5"], md5_hex(&data));
    assert_eq!(submitted["state"], "detecting");
    let id = submitted["id"].as_str().unwrap().to_string();
    let done = server.detection_done(&sha).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["verdict"], "malicious", "{done}");
    assert_eq!(done["threat_type"], "Engtest", "{done}");
    assert_eq!(done["size"], data.len());
    assert!(done["score"].as_u64().unwrap() > 80);
    let hit = &done["hits"][0];
    assert_eq!(hit["engine"], "yara");
    assert!(hit["highlights"][0].is_array(), "{done}");
    assert!(done["ruleset"].is_string());
    for t in ["created_at", "finished_at", "expires_at"] {
        let v = done[t].as_str().unwrap();
        assert!(v.ends_with('Z') && v.contains('T'), "{t}: {v}");
    }
    // By id, by MD5 and by SHA-1 too.
    let (status, by_id) = server.get_json(&format!("/v1/detections/{id}")).await;
    assert_eq!((status, &by_id["verdict"]), (200, &json!("malicious")));
    let md5 = done["md5"].as_str().unwrap().to_uppercase();
    let (status, by_md5) = server.get_json(&format!("/v1/detections/{md5}")).await;
    assert_eq!((status, &by_md5["id"]), (200, &json!(id)));

    // A clean file.
    let clean = b"just some ordinary text, nothing to see here\n".repeat(10);
    let (status, submitted) = server.upload(&clean).await;
    assert_eq!(status, 202, "{submitted}");
    let done = server.detection_done(&sha256_hex(&clean)).await;
    assert_eq!(done["verdict"], "clean", "{done}");
    assert_eq!(done["threat_type"], Value::Null);
    assert_eq!(done["hits"], json!([]));

    // Batch lookup: known ones, and null for the unknown.
    let unknown = "0".repeat(64);
    let (status, found) = server
        .post_json(
            "/v1/detections/lookup",
            json!({ "hashes": [sha, sha256_hex(&clean), unknown] }),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["results"][&sha]["verdict"], "malicious");
    assert_eq!(found["results"][sha256_hex(&clean)]["verdict"], "clean");
    assert_eq!(found["results"][&unknown], Value::Null);
    let (status, body) = server.get_json(&format!("/v1/detections/{unknown}")).await;
    assert_eq!((status, error_code(&body)), (404, "NoSuchDetection"));
    let (status, body) = server.get_json("/v1/detections/not-a-hash").await;
    assert_eq!((status, error_code(&body)), (400, "InvalidArgument"));
    let too_many: Vec<String> = (0..1001).map(|i| format!("{i:064x}")).collect();
    let (status, body) = server
        .post_json("/v1/detections/lookup", json!({ "hashes": too_many }))
        .await;
    assert_eq!((status, error_code(&body)), (400, "InvalidArgument"));

    // An object of a bucket, PUT through the COS API first.
    server.put_object("incoming/test.com", &eicar()).await;
    let (status, submitted) = server
        .post_json(
            "/v1/detections",
            json!({ "bucket": DEFAULT_BUCKET, "key": "incoming/test.com", "decompress": true }),
        )
        .await;
    assert_eq!(status, 202, "{submitted}");
    let done = server
        .detection_done(submitted["id"].as_str().unwrap())
        .await;
    assert_eq!(done["verdict"], "malicious", "{done}");
    assert_eq!(done["sha256"], sha);
    let (status, body) = server
        .post_json(
            "/v1/detections",
            json!({ "bucket": DEFAULT_BUCKET, "key": "no/such/object" }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, "NoSuchKey"));
    let (status, body) = server
        .post_json(
            "/v1/detections",
            json!({ "bucket": DEFAULT_BUCKET, "key": "k", "url": "https://example.com/" }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "InvalidArgument"));
    let (status, body) = server
        .post_json(
            "/v1/detections",
            json!({ "bucket": DEFAULT_BUCKET, "key": "incoming/test.com", "max_layer": 9 }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "InvalidArgument"));

    // A URL on a loopback server: refused at submission (private addresses are not
    // fetched unless the server is configured to).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/file", axum::routing::get(|| async { eicar() }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (status, body) = server
        .post_json(
            "/v1/detections",
            json!({ "url": format!("http://{web}/file") }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "InvalidUrl"), "{body}");

    // Other bodies than JSON and octet-stream.
    let r = server
        .signed_body("POST", "/v1/detections", "hello")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!((status, error_code(&body)), (415, "UnsupportedMediaType"));
}

fn md5_hex(data: &[u8]) -> String {
    hashscan_digest::hash_bytes("md5".parse().unwrap(), data)
        .get(hashscan_digest::Algorithm::Md5)
        .unwrap()
        .to_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_jobs_run_and_finished_ones_cannot_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    server.put_object("data/blob.bin", &data).await;

    let (status, submitted) = server
        .post_json(
            "/v1/hash",
            json!({ "bucket": DEFAULT_BUCKET, "key": "data/blob.bin", "type": "sha256" }),
        )
        .await;
    assert_eq!(status, 202, "{submitted}");
    let id = submitted["job_id"].as_str().unwrap().to_string();
    assert!(id.starts_with('f') && id.len() == 33, "{id}");
    let job = server.job_done(&id).await;
    assert_eq!(job["state"], "Success", "{job}");
    assert_eq!(job["tag"], "FileHashCode");
    assert_eq!(job["result"]["digest"], sha256_hex(&data), "{job}");
    assert_eq!(job["result"]["size"], data.len());

    // Listed among the bucket's jobs.
    let (status, page) = server
        .get_json(&format!(
            "/v1/jobs?bucket={DEFAULT_BUCKET}&tag=FileHashCode&state=Success&size=10"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id.as_str()),
        "{page}"
    );
    let (status, body) = server
        .get_json(&format!("/v1/jobs?bucket={DEFAULT_BUCKET}&state=Sleeping"))
        .await;
    assert_eq!((status, error_code(&body)), (400, "InvalidState"));
    let (status, body) = server.get_json("/v1/jobs").await;
    assert_eq!((status, error_code(&body)), (400, "InvalidArgument"));

    // Finished: not cancellable.
    let (status, body) = server
        .post_json(&format!("/v1/jobs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "NotCancellable"),
        "{body}"
    );
    let unknown = format!("f{}", "0".repeat(32));
    let (status, body) = server
        .post_json(&format!("/v1/jobs/{unknown}/cancel"), json!({}))
        .await;
    assert_eq!((status, error_code(&body)), (404, "NoSuchJob"));
    let (status, body) = server.get_json(&format!("/v1/jobs/{unknown}")).await;
    assert_eq!((status, error_code(&body)), (404, "NoSuchJob"));

    // Bad submissions.
    let (status, body) = server
        .post_json(
            "/v1/hash",
            json!({ "bucket": DEFAULT_BUCKET, "key": "data/blob.bin", "algorithms": ["md5"] }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "InvalidJson"), "{body}");
    let (status, body) = server
        .post_json(
            "/v1/hash",
            json!({ "bucket": DEFAULT_BUCKET, "key": "data/blob.bin", "type": "crc32" }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "InvalidJson"), "{body}");
    let (status, body) = server
        .post_json(
            "/v1/hash",
            json!({ "bucket": "nosuch-1250000000", "key": "k" }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, "NoSuchBucket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_error_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;

    // Unsigned.
    let r = reqwest::Client::new()
        .get(server.url("/v1/jobs/f00000000000000000000000000000000"))
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!((status, error_code(&body)), (401, "MissingAuthorization"));
    // A secret on the wire is not a credential.
    let r = reqwest::Client::new()
        .get(server.url("/v1/jobs/f00000000000000000000000000000000"))
        .header("authorization", format!("Bearer {AK}:{SK}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Signed with the wrong secret.
    let r = reqwest::Client::new()
        .get(server.url("/v1/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "version is public");
    let path = "/v1/detections/lookup";
    let r = reqwest::Client::new()
        .post(server.url(path))
        .header(
            "authorization",
            server.auth_with("wrong-secret", "POST", path),
        )
        .body(r#"{"hashes":[]}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!((status, error_code(&body)), (403, "SignatureDoesNotMatch"));
    // Signed for another path.
    let r = reqwest::Client::new()
        .post(server.url(path))
        .header("authorization", server.auth_with(SK, "POST", "/v1/hash"))
        .body(r#"{"hashes":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Bad JSON.
    let r = server
        .signed_body("POST", "/v1/hash", "{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!((status, error_code(&body)), (400, "InvalidJson"));
    // Too large a JSON body.
    let r = server
        .signed_body(
            "POST",
            "/v1/detections/lookup",
            format!(r#"{{"hashes":["{}"]}}"#, "a".repeat(300 * 1024)),
        )
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!((status, error_code(&body)), (413, "BodyTooLarge"));
    // No such route, wrong method, unknown parameter.
    let (status, body) = server.get_json("/v1/nothing").await;
    assert_eq!((status, error_code(&body)), (404, "NoSuchRoute"));
    let r = server.signed("DELETE", "/v1/jobs/f1").send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    let (status, body) = read(r).await;
    assert_eq!((status, error_code(&body)), (405, "MethodNotAllowed"));
    let (status, body) = server.get_json("/v1/jobs?bucket=x&colour=red").await;
    assert_eq!((status, error_code(&body)), (400, "InvalidArgument"));

    // The COS API still owns every other path.
    let r = server
        .signed("GET", &format!("/{DEFAULT_BUCKET}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<ListBucketResult"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;

    let r = reqwest::Client::new()
        .get(server.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for route in hashscan_server::native::ROUTES {
        let op = &paths
            .get(route.path)
            .unwrap_or_else(|| panic!("{} is served but not in the OpenAPI document", route.path))
            [route.method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is served but not in the OpenAPI document",
            route.method,
            route.path
        );
        assert_eq!(op.get("security").is_some(), route.signed, "{}", route.path);
        if route.signed {
            assert!(op["responses"]["401"].is_object(), "{}", route.path);
        }
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, hashscan_server::native::ROUTES.len());
    let schemes = &doc["components"]["securitySchemes"]["cos_signature"];
    assert_eq!(schemes["type"], "apiKey");
    assert_eq!(schemes["in"], "header");
    assert_eq!(schemes["name"], "Authorization");
    for schema in ["DetectionView", "JobView", "ErrorBody", "HashRequest"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }

    // The unsigned service routes.
    let r = reqwest::Client::new()
        .get(server.url("/v1/version"))
        .send()
        .await
        .unwrap();
    let (status, v) = read(r).await;
    assert_eq!(status, 200);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["ruleset"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(v["rules"].as_u64().unwrap() > 0, "{v}");
    let r = reqwest::Client::new()
        .get(server.url("/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(r).await, (200, json!({ "status": "ok" })));
}

/// A `/v1` signature covers the whole request: a signature over method and path alone is
/// not reusable for other parameters or another body, and its window is bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_covers_the_query_the_body_and_a_bounded_window() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {}).await;
    server.put_object("bound.bin", b"bound").await;
    let client = reqwest::Client::new();

    // Parameters the signature does not list.
    let path = format!("/v1/jobs?bucket={DEFAULT_BUCKET}");
    let r = client
        .get(server.url(&path))
        .header("authorization", server.auth_with(SK, "GET", &path))
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "SignatureDoesNotCover"),
        "{body}"
    );

    // A signed digest of one body, sent with another: refused, nothing submitted.
    let signed_for =
        json!({ "bucket": DEFAULT_BUCKET, "key": "bound.bin", "type": "md5" }).to_string();
    let sent =
        json!({ "bucket": DEFAULT_BUCKET, "key": "bound.bin", "type": "sha256" }).to_string();
    let digest = sha256_hex(signed_for.as_bytes());
    let r = client
        .post(server.url("/v1/hash"))
        .header(
            "authorization",
            server.auth_covering(SK, "POST", "/v1/hash", &[("x-cos-content-sha256", &digest)]),
        )
        .header("x-cos-content-sha256", &digest)
        .header("content-type", "application/json")
        .body(sent.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!((status, error_code(&body)), (400, "BadDigest"), "{body}");
    // A body without a signed digest.
    let r = client
        .post(server.url("/v1/hash"))
        .header(
            "authorization",
            server.auth_covering(SK, "POST", "/v1/hash", &[]),
        )
        .header("content-type", "application/json")
        .body(sent.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!((status, error_code(&body)), (400, "BadDigest"), "{body}");
    // A digest header that is sent but not signed.
    let r = client
        .post(server.url("/v1/hash"))
        .header(
            "authorization",
            server.auth_covering(SK, "POST", "/v1/hash", &[]),
        )
        .header("x-cos-content-sha256", sha256_hex(sent.as_bytes()))
        .header("content-type", "application/json")
        .body(sent.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "SignatureDoesNotCover"),
        "{body}"
    );
    let (status, page) = server
        .get_json(&format!("/v1/jobs?bucket={DEFAULT_BUCKET}"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["jobs"].as_array().unwrap().len(), 0, "{page}");

    // A window that never ends.
    let window = hashscan_auth::cos::KeyTime::new(0, 9_999_999_999);
    let headers = vec![("host".to_string(), server.addr.to_string())];
    let auth = hashscan_auth::cos::sign(
        &hashscan_auth::Secret::new(SK),
        &hashscan_auth::cos::SignRequest {
            method: "GET",
            path: "/v1/jobs/f00000000000000000000000000000000",
            params: &[],
            headers: &headers,
            sign_time: &window,
            key_time: &window,
        },
    )
    .authorization(AK);
    let r = client
        .get(server.url("/v1/jobs/f00000000000000000000000000000000"))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "SignatureWindowTooLong"),
        "{body}"
    );

    // The detections' internal queue is no bucket of the jobs API, and a detection's job is
    // read as a detection only.
    let (status, body) = server.get_json("/v1/jobs?bucket=_detect").await;
    assert_eq!(status, 400, "{body}");
    let (status, d) = server.upload(b"a detected file").await;
    assert_eq!(status, 202, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    let (status, body) = server.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!((status, error_code(&body)), (404, "NoSuchJob"), "{body}");
    let (status, _) = server.get_json(&format!("/v1/detections/{id}")).await;
    assert_eq!(status, 200);
    server.stop().await;
}
