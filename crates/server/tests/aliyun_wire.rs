//! The Alibaba dialect's wire layer over real HTTP: a minimal axum app on an ephemeral loopback
//! port wires `aliyun::auth`, `aliyun::guard`, `aliyun::params`, `aliyun::model` and
//! `aliyun::upload` the way the handlers will, and a `reqwest` client sends what the SDKs send
//! (V3- and V2-signed RPC calls, the `requests`-style PostObject form, streamed in small chunks).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::Response;
use hashscan_auth::time::format_acs_date;
use hashscan_auth::{Secret, aliyun_v2, aliyun_v3};
use hashscan_server::aliyun::auth::{authenticate, remember_nonce};
use hashscan_server::aliyun::error::SasError;
use hashscan_server::aliyun::guard::RateLimiter;
use hashscan_server::aliyun::model::{DetectResult, GetFileDetectResultResponse, json_response};
use hashscan_server::aliyun::params::{RpcRequest, SasRequest};
use hashscan_server::aliyun::upload::{
    FormLimits, OssError, issue, new_oss_key, parse_form, success_response, verify,
};
use hashscan_server::meta::shared::LocalShared;
use hashscan_server::wire::now_unix;

const AK: &str = "testAK";
const SK: &str = "testSecret";
const MD5: &str = "0a212417e65c26ff133cfff28f6c1234";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct App {
    keys: HashMap<String, Secret>,
    shared: LocalShared,
    limiter: RateLimiter,
    dir: tempfile::TempDir,
}

async fn rpc(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let outcome = async {
        let verified = authenticate(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &body,
            &app.keys,
            now_unix(),
        )?;
        remember_nonce(&app.shared, &verified, now_unix()).await?;
        app.limiter.check(&verified.access_key_id)?;
        RpcRequest::parse(&parts.uri, &parts.headers, &body)?.validate(verified.scheme)
    }
    .await;
    match outcome {
        Ok(SasRequest::GetFileDetectResult(g)) => json_response(
            &GetFileDetectResultResponse {
                request_id: "rid".into(),
                result_list: g.hash_keys.iter().map(DetectResult::pending).collect(),
            },
            "rid",
        ),
        Ok(_) => SasError::server_error().response("rid", &host),
        Err(e) => e.response("rid", &host),
    }
}

async fn upload(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let outcome: Result<Response, OssError> = async {
        let (form, mut file) = parse_form(
            &content_type,
            req.into_body().into_data_stream(),
            &FormLimits::default(),
        )
        .await?;
        let policy = verify(&form, &app.keys, now_unix() * 1000)?;
        if let Some(max) = policy.max_size() {
            file.limit(max);
        }
        let path = app.dir.path().join(form.key.replace('/', "_"));
        let mut out = tokio::fs::File::create(&path).await.unwrap();
        while let Some(bytes) = file.chunk().await? {
            tokio::io::AsyncWriteExt::write_all(&mut out, &bytes)
                .await
                .unwrap();
        }
        // tokio's File writes in the background: the test reads the file right after.
        tokio::io::AsyncWriteExt::flush(&mut out).await.unwrap();
        policy.check_size(file.bytes_read())?;
        Ok(success_response(&form, "rid", "bucket", "loc", "etag"))
    }
    .await;
    outcome.unwrap_or_else(|e| e.response("rid", "upload.local"))
}

async fn start(per_second: u32) -> (SocketAddr, Arc<App>) {
    let app = Arc::new(App {
        keys: HashMap::from([(AK.to_owned(), Secret::new(SK))]),
        shared: LocalShared::default(),
        limiter: RateLimiter::new(
            NonZeroU32::new(per_second).unwrap(),
            NonZeroU32::new(per_second).unwrap(),
        ),
        dir: tempfile::tempdir().unwrap(),
    });
    let router = axum::Router::new()
        .route("/", axum::routing::post(rpc))
        .route("/upload", axum::routing::post(upload))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, app)
}

/// A V3 request as the tea SDK builds it (§2.2), with a fresh nonce.
fn v3_request(
    client: &reqwest::Client,
    addr: SocketAddr,
    action: &str,
    query: &[(&str, &str)],
    nonce: &str,
) -> reqwest::RequestBuilder {
    let host = addr.to_string();
    let date = format_acs_date(now_unix());
    let headers: Vec<(String, String)> = vec![
        ("host".into(), host),
        ("x-acs-action".into(), action.into()),
        ("x-acs-content-sha256".into(), EMPTY_SHA256.into()),
        ("x-acs-date".into(), date),
        ("x-acs-signature-nonce".into(), nonce.into()),
        ("x-acs-version".into(), "2018-12-03".into()),
    ];
    let query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signed_headers: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let signed = aliyun_v3::sign(
        &Secret::new(SK),
        &aliyun_v3::SignRequest {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            signed_headers: &signed_headers,
            payload_hash: EMPTY_SHA256,
        },
    )
    .unwrap();
    let mut builder = client
        .post(format!("http://{addr}/"))
        .query(&query)
        .header("authorization", signed.authorization(AK));
    for (k, v) in &headers[1..] {
        builder = builder.header(k, v);
    }
    builder
}

/// A V3-signed POST whose API parameters are in an `application/x-www-form-urlencoded` body:
/// the signature covers the (empty) query, the headers and the body's SHA-256.
fn v3_form_request(
    client: &reqwest::Client,
    addr: SocketAddr,
    action: &str,
    form: &str,
    nonce: &str,
) -> (reqwest::RequestBuilder, String) {
    use sha2::Digest;
    let payload_hash = hex::encode(sha2::Sha256::digest(form.as_bytes()));
    let headers: Vec<(String, String)> = vec![
        (
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
        ("host".into(), addr.to_string()),
        ("x-acs-action".into(), action.into()),
        ("x-acs-content-sha256".into(), payload_hash.clone()),
        ("x-acs-date".into(), format_acs_date(now_unix())),
        ("x-acs-signature-nonce".into(), nonce.into()),
        ("x-acs-version".into(), "2018-12-03".into()),
    ];
    let signed_headers: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let signed = aliyun_v3::sign(
        &Secret::new(SK),
        &aliyun_v3::SignRequest {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            signed_headers: &signed_headers,
            payload_hash: &payload_hash,
        },
    )
    .unwrap();
    let mut builder = client
        .post(format!("http://{addr}/"))
        .header("authorization", signed.authorization(AK));
    for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
        builder = builder.header(k, v);
    }
    (builder, form.to_string())
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn v3_and_v2_calls_and_their_errors() {
    let (addr, _app) = start(100).await;
    let client = reqwest::Client::new();

    let r = v3_request(
        &client,
        addr,
        "GetFileDetectResult",
        &[("HashKeyList.1", MD5), ("Type", "0")],
        "nonce-1",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/json;charset=utf-8"
    );
    let v = json(r).await;
    assert_eq!(v["ResultList"][0]["HashKey"], MD5);
    assert_eq!(v["ResultList"][0]["Result"], 3);

    // The same nonce again: a replay.
    let r = v3_request(
        &client,
        addr,
        "GetFileDetectResult",
        &[("HashKeyList.1", MD5), ("Type", "0")],
        "nonce-1",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v = json(r).await;
    assert_eq!(v["Code"], "SignatureNonceUsed");
    assert_eq!(v["HostId"], addr.to_string());
    assert_eq!(
        v["Recommend"],
        "https://api.aliyun.com/troubleshoot?q=SignatureNonceUsed&product=Sas"
    );

    // Signed but invalid: an unknown action, a bad Type.
    let r = v3_request(&client, addr, "DescribeThings", &[], "nonce-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["Code"], "InvalidAction.NotFound");
    let r = v3_request(
        &client,
        addr,
        "GetFileDetectResult",
        &[("HashKeyList.1", MD5), ("Type", "6")],
        "nonce-3",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(json(r).await["Code"], "InvalidApiDetectType");

    // V2, all in the query, `+` for a space in a value.
    let mut params: Vec<(String, String)> = [
        ("Action", "GetFileDetectResult"),
        ("Format", "json"),
        ("Version", "2018-12-03"),
        ("SignatureNonce", "nonce-v2"),
        ("HashKeyList.1", MD5),
        ("Type", "0"),
        ("SourceIp", "a b"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", AK),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.push(("Timestamp".into(), format_acs_date(now_unix())));
    let signed = aliyun_v2::sign(&Secret::new(SK), "POST", &params);
    params.push(("Signature".into(), signed.signature));
    let r = client
        .post(format!("http://{addr}/"))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // V2 with the parameters in a form body (the POP core clients), the signature over all
    // of them; then the same body with one value changed, or with a parameter added in the
    // query, fails its signature, and one sent in both places is refused.
    let mut params: Vec<(String, String)> = [
        ("Action", "GetFileDetectResult"),
        ("Format", "JSON"),
        ("Version", "2018-12-03"),
        ("SignatureNonce", "nonce-form"),
        ("HashKeyList.1", MD5),
        ("Type", "0"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", AK),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.push(("Timestamp".into(), format_acs_date(now_unix())));
    let signed = aliyun_v2::sign(&Secret::new(SK), "POST", &params);
    params.push(("Signature".into(), signed.signature));
    let body = serde_urlencoded(&params);
    let post_form = |query: &str, body: String| {
        client
            .post(format!("http://{addr}/{query}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = post_form("", body.clone()).await.unwrap();
    let status = r.status();
    let answer = json(r).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ResultList"][0]["HashKey"], MD5);
    let forged = body
        .replace("Type=0", "Type=1")
        .replace("nonce-form", "nonce-form2");
    let r = post_form("", forged).await.unwrap();
    assert_eq!(json(r).await["Code"], "SignatureDoesNotMatch");
    let r = post_form(
        "?SourceIp=1.2.3.4",
        body.replace("nonce-form", "nonce-form3"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["Code"], "SignatureDoesNotMatch");
    // A name in both the query and the body is refused as a malformed signature.
    let r = post_form("?Type=0", body.replace("nonce-form", "nonce-form4"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["Code"], "IncompleteSignature");
    // A body of another type is not read as parameters.
    let r = client
        .post(format!("http://{addr}/"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["Code"], "MissingSignature");

    // V3 with the parameters in a form body: the body's hash is signed, so the parameters
    // are covered; another body under the same signature fails.
    let form = format!("HashKeyList.1={MD5}&Type=0");
    let (request, body) = v3_form_request(&client, addr, "GetFileDetectResult", &form, "n-v3f");
    let r = request.body(body).send().await.unwrap();
    let status = r.status();
    let answer = json(r).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ResultList"][0]["HashKey"], MD5);
    let (request, _) = v3_form_request(&client, addr, "GetFileDetectResult", &form, "n-v3g");
    let r = request
        .body(form.replace("Type=0", "Type=6"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["Code"], "SignatureDoesNotMatch");

    // Unsigned.
    let r = client
        .post(format!("http://{addr}/?Action=GetFileDetectResult"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["Code"], "MissingSignature");
}

#[tokio::test]
async fn the_rate_limit_answers_request_too_frequently() {
    let (addr, _app) = start(2).await;
    let client = reqwest::Client::new();
    let mut codes = Vec::new();
    for i in 0..3 {
        let r = v3_request(
            &client,
            addr,
            "GetFileDetectResult",
            &[("HashKeyList.1", MD5), ("Type", "0")],
            &format!("rate-{i}"),
        )
        .send()
        .await
        .unwrap();
        codes.push(r.status().as_u16());
        if r.status() == 400 {
            assert_eq!(json(r).await["Code"], "RequestTooFrequently");
        }
    }
    assert_eq!(codes, [200, 200, 400]);
}

const BOUNDARY: &str = "9431149156168";

fn form(fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

async fn post_form(addr: SocketAddr, body: Vec<u8>, piece: usize) -> reqwest::Response {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(piece).map(|c| Ok(c.to_vec())).collect();
    reqwest::Client::new()
        .post(format!("http://{addr}/upload"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn post_object_upload_over_http() {
    let (addr, app) = start(100).await;
    let key = new_oss_key(now_unix() * 1000);
    let ctx = issue(
        AK,
        &Secret::new(SK),
        &key,
        1 << 20,
        (now_unix() + 3600) * 1000,
    );
    let fields = |status: &'static str| {
        vec![
            ("key", ctx.oss_key.clone()),
            ("policy", ctx.policy_b64.clone()),
            ("OSSAccessKeyId", ctx.access_id.clone()),
            ("success_action_status", status.to_owned()),
            ("Signature", ctx.signature_b64.clone()),
        ]
    };
    let body_of = |f: &[(&str, String)], file: &[u8]| {
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form(&refs, file)
    };

    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
    let r = post_form(addr, body_of(&fields("200"), &data), 1000).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-oss-request-id"));
    let stored = std::fs::read(app.dir.path().join(key.replace('/', "_"))).unwrap();
    assert_eq!(stored, data);

    // Default status 204.
    let r = post_form(addr, body_of(&fields(""), b"abc"), 7).await;
    assert_eq!(r.status(), 204);

    // Wrong signature: OSS's XML AccessDenied.
    let mut bad = fields("200");
    bad[4].1 = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let r = post_form(addr, body_of(&bad, b"abc"), 64).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["content-type"], "application/xml");
    let text = r.text().await.unwrap();
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");

    // Over the policy's range.
    let r = post_form(
        addr,
        body_of(&fields("200"), &vec![0u8; (1 << 20) + 1]),
        64 * 1024,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>EntityTooLarge</Code>")
    );
}

/// `application/x-www-form-urlencoded` of `pairs`, as the POP core clients encode a body.
fn serde_urlencoded(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}
