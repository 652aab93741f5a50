//! Who may do what, below every dialect: the COS q-sign check (the COS API and `/v1` sign
//! with it, and a COS presigned URL carries it), which buckets a request may use, and what
//! a presigned GET URL would read. Failures are neutral ([`AccessError`]); each dialect
//! renders them in its own format.

use axum::http::HeaderMap;

use crate::AppState;
use crate::core::objects::{Bucket, ObjectMeta, StoreError};
use crate::route::{HostKind, Target, resolve};
use crate::wire::{HeaderMapSource, now_unix};

/// Why access was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The request or URL is malformed or names no object.
    #[error("{0}")]
    Invalid(String),
    /// The signature is wrong, expired, of an unknown key …
    #[error(transparent)]
    Auth(#[from] hashscan_auth::AuthError),
    /// Unsigned, and the bucket is not public-read for this operation.
    #[error("Access Denied.")]
    Denied,
    /// The bucket or object does not exist, or the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AccessError {
    /// Whether the store cannot be reached just now (try again).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AccessError::Store(e) if e.is_unavailable())
    }

    /// The object API's reason code for the refusal and its message (`NoSuchKey`,
    /// `SignatureDoesNotMatch` …), for a dialect that reports why a URL of this server
    /// could not be read (a Volcengine `SignURL`).
    pub fn reason(&self) -> (&'static str, String) {
        use hashscan_auth::AuthError as A;
        match self {
            AccessError::Invalid(m) => ("InvalidArgument", m.clone()),
            AccessError::Auth(A::UnknownAccessKey) => (
                "InvalidAccessKeyId",
                "The access key Id you provided does not exist in our records.".into(),
            ),
            AccessError::Auth(A::SignatureMismatch) => (
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into(),
            ),
            AccessError::Auth(A::Expired) => ("AccessDenied", "Request has expired".into()),
            AccessError::Auth(A::NotYetValid | A::TimeSkewed) => (
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large."
                    .into(),
            ),
            AccessError::Auth(A::Missing) | AccessError::Denied => {
                ("AccessDenied", "Access Denied.".into())
            }
            AccessError::Auth(other) => {
                ("AccessDenied", format!("Invalid authorization: {other}"))
            }
            AccessError::Store(StoreError::NoSuchKey) => (
                "NoSuchKey",
                "The specified key does not exist.".into(),
            ),
            AccessError::Store(StoreError::NoSuchBucket) => (
                "NoSuchBucket",
                "The specified bucket does not exist.".into(),
            ),
            AccessError::Store(e @ StoreError::InvalidKey(_)) => ("InvalidArgument", e.to_string()),
            AccessError::Store(e @ StoreError::KeyTooLong { .. }) => ("KeyTooLong", e.to_string()),
            AccessError::Store(e) if e.is_unavailable() => (
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please try again.".into(),
            ),
            AccessError::Store(_) => ("InternalError", "The object cannot be read.".into()),
        }
    }
}

/// Verifies the COS signature of a request (the `Authorization` header, or the `q-*` query
/// parameters of a presigned URL); `path` is decoded, `raw_query` as received.
pub fn verify_cos_signature(
    state: &AppState,
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
) -> Result<hashscan_auth::Verified, hashscan_auth::AuthError> {
    let headers = HeaderMapSource(headers);
    let request = hashscan_auth::RequestParts::new(
        method,
        path,
        hashscan_auth::Query::Raw(raw_query),
        &headers,
    );
    hashscan_auth::cos::verify(
        &request,
        state.keys.as_ref(),
        now_unix(),
        &hashscan_auth::cos::Options::default(),
    )
}

/// The object that a GET of `host` + `raw_path?raw_query` (as written in a URL, still
/// percent-encoded) would read, after the same resolution and authentication as that GET:
/// the bucket from the host or the path, the COS signature of a presigned URL, or a
/// public-read bucket when the URL is unsigned. A Volcengine `SignURL` may name an object of
/// this server: it is then read locally instead of fetched from ourselves.
pub async fn presigned_get(
    state: &AppState,
    host: &str,
    raw_path: &str,
    raw_query: &str,
) -> Result<ObjectMeta, AccessError> {
    let target = resolve(Some(host), raw_path, &state.config.domains)
        .map_err(|e| AccessError::Invalid(e.to_string()))?;
    let (bucket, region, key) = match target {
        Target::Bucket {
            bucket,
            region,
            key,
            kind: HostKind::Cos,
            ..
        } if !key.is_empty() => (bucket, region, key),
        _ => {
            return Err(AccessError::Invalid(
                "The URL does not name an object.".into(),
            ));
        }
    };
    let query = hashscan_auth::encode::decode_query(raw_query, hashscan_auth::encode::Plus::Space);
    if query.iter().any(|(k, _)| k == "ci-process") {
        return Err(AccessError::Invalid(
            "The URL is a Cloud Infinite call, not a GET of an object.".into(),
        ));
    }
    let path =
        crate::route::decode_path(raw_path).map_err(|e| AccessError::Invalid(e.to_string()))?;
    let mut headers = HeaderMap::new();
    let host_value = axum::http::HeaderValue::from_str(host)
        .map_err(|_| AccessError::Invalid("The URL's host is not a valid Host header.".into()))?;
    headers.insert(axum::http::header::HOST, host_value);
    let signed = match verify_cos_signature(state, "GET", &path, raw_query, &headers) {
        Ok(_) => true,
        Err(hashscan_auth::AuthError::Missing) => false,
        Err(e) => return Err(e.into()),
    };
    usable_bucket(state, &bucket, region.as_deref(), signed, true).await?;
    state.store.validate_key(&key)?;
    Ok(state.store.head(&bucket, &key).await?)
}

/// A bucket an operation may use: it exists, belongs to the region of a virtual host, and is
/// usable by this request (signed, or unsigned and `read_only` on a public-read bucket).
pub async fn usable_bucket(
    state: &AppState,
    name: &str,
    region: Option<&str>,
    signed: bool,
    read_only: bool,
) -> Result<Bucket, AccessError> {
    let bucket = state
        .store
        .bucket(name)
        .await?
        .filter(|b| region.is_none_or(|r| r == b.region))
        .ok_or(AccessError::Store(StoreError::NoSuchBucket))?;
    let anonymous_read = read_only && bucket.public_read;
    if !signed && !anonymous_read {
        return Err(AccessError::Denied);
    }
    Ok(bucket)
}
