#![no_main]
//! `/v1` request bodies and what a signature must cover: arbitrary bytes as each JSON body
//! type, an arbitrary query through the COS sub-resource check and the `/v1` binding check,
//! and the body through the digest verifier. Nothing may panic; a verified body is the body.

use axum::body::Body;
use hashscan_server::cos::subresource::{Level, check};
use hashscan_server::native::binding;
use hashscan_server::native::model::{DetectionRequest, HashRequest, LookupRequest};
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

/// One runtime for every input (building one per input would cost more than the parsing).
fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RT: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<HashRequest>(data);
    let _ = serde_json::from_slice::<DetectionRequest>(data);
    let _ = serde_json::from_slice::<LookupRequest>(data);

    let text = String::from_utf8_lossy(data);
    let (query, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let pairs = hashscan_auth::encode::decode_query(query, hashscan_auth::encode::Plus::Literal);
    for level in [Level::Bucket, Level::Object] {
        for m in [Method::GET, Method::PUT, Method::POST, Method::DELETE, Method::HEAD] {
            let _ = check(level, &m, &pairs);
        }
    }
    let verified = hashscan_auth::Verified {
        scheme: hashscan_auth::Scheme::Cos,
        access_key_id: "AKID".into(),
        nonce: None,
        signed_at: 0,
        expires_at: 600,
        security_token: None,
        region: None,
        service: None,
        signed_params: pairs.iter().map(|(k, _)| k.to_ascii_lowercase()).collect(),
        signed_headers: vec!["x-cos-content-sha256".into(), "content-md5".into()],
    };
    let (digest, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(digest) {
        headers.insert(binding::CONTENT_SHA256, v.clone());
        headers.insert("content-md5", v);
    }
    if let Ok(expect) = binding::check(&verified, &pairs, &headers) {
        let Some(rt) = runtime() else {
            return;
        };
        let owned = body.as_bytes().to_vec();
        let read = rt.block_on(axum::body::to_bytes(
            binding::verify(Body::from(owned.clone()), expect),
            1 << 20,
        ));
        if let Ok(bytes) = read {
            assert_eq!(bytes.as_ref(), owned.as_slice());
        }
    }
});
