//! What a `/v1` signature must cover beyond method and path: every query parameter, the body
//! (by a signed digest header), and a bounded window.
//!
//! A COS signature covers what its `q-url-param-list` and `q-header-list` name and nothing
//! else. For the COS object API that is COS's own contract; for `/v1`, whose requests say
//! what they do in the query and the JSON body, a signature that left them out could be
//! reused for another bucket, another job listing or another body. So a signed `/v1` request
//! is refused unless its signature lists every query parameter it carries, its body is
//! either empty or matches a signed `x-cos-content-sha256` (hex SHA-256) or `Content-MD5`
//! (base64 MD5) header, and its signing window is at most [`MAX_WINDOW_SECS`].

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;

use super::error::ApiError;
pub use crate::body_digest::{BodyMismatch, Expect, verify};

/// Longest signing window (`q-sign-time`, and `q-key-time`) of a `/v1` request: one day. The
/// COS SDKs sign for 10,000 s by default.
pub const MAX_WINDOW_SECS: i64 = 86_400;

/// The header naming the SHA-256 of the body.
pub const CONTENT_SHA256: &str = "x-cos-content-sha256";

/// Checks that `verified` covers every parameter of `query` and the body digest header, and
/// that its window is short enough; returns what the body must hash to.
pub fn check(
    verified: &hashscan_auth::Verified,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Expect, ApiError> {
    if verified.expires_at.saturating_sub(verified.signed_at) > MAX_WINDOW_SECS {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "SignatureWindowTooLong",
            format!(
                "The signature is valid for more than {MAX_WINDOW_SECS} seconds (q-sign-time, q-key-time); sign for a shorter time."
            ),
        ));
    }
    for (name, _) in query {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("q-") || lower == "x-cos-security-token" {
            continue;
        }
        if !verified.covers_param(&lower) {
            return Err(not_covered(&format!(
                "the query parameter {:?} (list it in q-url-param-list)",
                name.chars().take(40).collect::<String>()
            )));
        }
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(v) = header(CONTENT_SHA256) {
        if !verified.covers_header(CONTENT_SHA256) {
            return Err(not_covered("the x-cos-content-sha256 header"));
        }
        let mut digest = [0u8; 32];
        hex::decode_to_slice(v.trim(), &mut digest)
            .map_err(|_| bad_digest("x-cos-content-sha256 is not 64 hex digits."))?;
        return Ok(Expect::Sha256(digest));
    }
    if let Some(v) = header("content-md5") {
        if !verified.covers_header("content-md5") {
            return Err(not_covered("the Content-MD5 header"));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .ok_or_else(|| bad_digest("Content-MD5 is not the base64 of 16 bytes."))?;
        return Ok(Expect::Md5(bytes));
    }
    Ok(Expect::Empty)
}

fn not_covered(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "SignatureDoesNotCover",
        format!("The signature must cover {what}: a /v1 signature covers the whole request."),
    )
}

fn bad_digest(message: &str) -> ApiError {
    ApiError::bad_request("InvalidDigest", message)
}

/// The error a handler reports when reading a body wrapped by [`verify`] failed because of
/// the digest, if that is why.
pub fn mismatch(e: &axum::Error) -> Option<ApiError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(m) = s.downcast_ref::<BodyMismatch>() {
            return Some(ApiError::bad_request("BadDigest", m.0));
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use bytes::Bytes;

    async fn read(body: Body) -> Result<Bytes, Option<ApiError>> {
        axum::body::to_bytes(body, 1 << 20)
            .await
            .map_err(|e| mismatch(&e))
    }

    fn sha256(data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }

    #[tokio::test]
    async fn a_body_passes_only_when_it_matches_its_digest() {
        let ok = verify(
            Body::from("{\"a\":1}"),
            Expect::Sha256(sha256(b"{\"a\":1}")),
        );
        assert_eq!(read(ok).await.unwrap(), Bytes::from("{\"a\":1}"));
        let other = verify(
            Body::from("{\"a\":2}"),
            Expect::Sha256(sha256(b"{\"a\":1}")),
        );
        let e = read(other).await.unwrap_err().expect("a digest error");
        assert_eq!(e.code, "BadDigest");
        let empty = verify(Body::empty(), Expect::Empty);
        assert!(read(empty).await.unwrap().is_empty());
        let smuggled = verify(Body::from("x"), Expect::Empty);
        assert_eq!(read(smuggled).await.unwrap_err().unwrap().code, "BadDigest");
    }

    fn verified(params: &[&str], headers: &[&str], window: i64) -> hashscan_auth::Verified {
        hashscan_auth::Verified {
            scheme: hashscan_auth::Scheme::Cos,
            access_key_id: "AKID".into(),
            nonce: None,
            signed_at: 1000,
            expires_at: 1000 + window,
            security_token: None,
            region: None,
            service: None,
            signed_params: params.iter().map(|p| p.to_string()).collect(),
            signed_headers: headers.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn every_parameter_the_digest_and_a_short_window_are_required() {
        let q = vec![("bucket".to_string(), "a-1".to_string())];
        let none = HeaderMap::new();
        assert_eq!(
            check(&verified(&["bucket"], &["host"], 600), &q, &none).unwrap(),
            Expect::Empty
        );
        let e = check(&verified(&[], &["host"], 600), &q, &none).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotCover");
        let e = check(&verified(&["bucket"], &["host"], 9_999_999_999), &q, &none).unwrap_err();
        assert_eq!(e.code, "SignatureWindowTooLong");
        // Presigned fields are not parameters of the request.
        let presigned = vec![("q-ak".to_string(), "AKID".to_string())];
        assert!(check(&verified(&[], &["host"], 600), &presigned, &none).is_ok());

        let mut h = HeaderMap::new();
        h.insert(CONTENT_SHA256, hex::encode(sha256(b"x")).parse().unwrap());
        let e = check(&verified(&[], &["host"], 600), &[], &h).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotCover");
        assert_eq!(
            check(&verified(&[], &["host", CONTENT_SHA256], 600), &[], &h).unwrap(),
            Expect::Sha256(sha256(b"x"))
        );
        h.insert(CONTENT_SHA256, "zz".parse().unwrap());
        let e = check(&verified(&[], &["host", CONTENT_SHA256], 600), &[], &h).unwrap_err();
        assert_eq!(e.code, "InvalidDigest");
    }
}
