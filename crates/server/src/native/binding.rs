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

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::Stream;
use hashscan_digest::{Algorithm, AlgorithmSet, Hasher};

use super::error::ApiError;

/// Longest signing window (`q-sign-time`, and `q-key-time`) of a `/v1` request: one day. The
/// COS SDKs sign for 10,000 s by default.
pub const MAX_WINDOW_SECS: i64 = 86_400;

/// The header naming the SHA-256 of the body.
pub const CONTENT_SHA256: &str = "x-cos-content-sha256";

/// What the body must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No digest header: the body must be empty.
    Empty,
    Sha256([u8; 32]),
    Md5([u8; 16]),
}

/// The body did not match the signed digest (or was not empty without one).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyMismatch(pub &'static str);

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

/// `body`, checked while it is read: the last read fails with [`BodyMismatch`] when the
/// bytes do not hash to `expect` (an [`Expect::Empty`] body fails at its first byte).
pub fn verify(body: Body, expect: Expect) -> Body {
    let algorithm = match expect {
        Expect::Md5(_) => Some(Algorithm::Md5),
        Expect::Sha256(_) => Some(Algorithm::Sha256),
        Expect::Empty => None,
    };
    Body::from_stream(Verifying {
        inner: body.into_data_stream(),
        hasher: algorithm.map(|a| Hasher::new(AlgorithmSet::one(a))),
        expect,
        done: false,
    })
}

struct Verifying {
    inner: BodyDataStream,
    hasher: Option<Hasher>,
    expect: Expect,
    done: bool,
}

impl Stream for Verifying {
    type Item = Result<Bytes, axum::BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                if chunk.is_empty() {
                    return Poll::Ready(Some(Ok(chunk)));
                }
                match self.hasher.as_mut() {
                    Some(h) => {
                        h.update(&chunk);
                        Poll::Ready(Some(Ok(chunk)))
                    }
                    None => {
                        self.done = true;
                        Poll::Ready(Some(Err(BodyMismatch(
                            "The request has a body but its signature covers no digest of it: send x-cos-content-sha256 (or Content-MD5) and sign it.",
                        )
                        .into())))
                    }
                }
            }
            Poll::Ready(None) => {
                self.done = true;
                let Some(h) = self.hasher.take() else {
                    return Poll::Ready(None);
                };
                let digests = h.finish();
                let matches = match &self.expect {
                    Expect::Sha256(want) => digests
                        .get(Algorithm::Sha256)
                        .is_some_and(|d| d.as_bytes() == want),
                    Expect::Md5(want) => digests
                        .get(Algorithm::Md5)
                        .is_some_and(|d| d.as_bytes() == want),
                    Expect::Empty => true,
                };
                if matches {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(BodyMismatch(
                        "The body does not match its signed digest (x-cos-content-sha256 or Content-MD5).",
                    )
                    .into())))
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
