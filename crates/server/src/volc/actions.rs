//! The two actions: parse the body ([`super::model`]), call the detection core, render the
//! `Result`. The decisions (what a submission becomes, which detection answers a key) are the
//! core's; this file only translates (see the module doc of [`super`]).

use axum::http::header;
use axum::http::request::Parts;
use hashscan_auth::Verified;
use serde_json::{Value, json};

use super::error::VolcError;
use super::model::{FileDetection, parse_create, parse_get};
use super::sign_url::{SignUrl, classify};
use crate::AppState;
use crate::core::detections::{Lookup, NewDetection, ObjectRefused, Options, Source, State};

/// Longest `X-Sdk-Invocation-Id` used as an idempotency token (the SDK sends a uuid4).
const MAX_INVOCATION_ID: usize = 128;

/// The archive handling of nta submissions: expanded, with the engine's default limits.
const OPTIONS: Options = Options {
    decompress: true,
    max_layer: None,
    max_files: None,
};

/// `CreateFileDetection`: `{"SignURL"}` → `{"QueryKey"}`.
pub(super) async fn create(
    state: &AppState,
    parts: &Parts,
    verified: &Verified,
    body: &[u8],
) -> Result<Value, VolcError> {
    let request = parse_create(body)?;
    let client_token =
        invocation_id(&parts.headers).map(|id| format!("volc:{}:{id}", verified.access_key_id));
    let detections = &state.detect.detections;
    let query_key = match classify(
        &request.sign_url,
        request_host(parts),
        &state.config.domains,
    )? {
        SignUrl::Own { host, path, query } => {
            let object = crate::access::presigned_get(state, &host, &path, &query)
                .await
                .map_err(|e| VolcError::from_access(&e))?;
            if let Err(ObjectRefused::TooLarge { size, limit }) =
                state.detect.within_limit(object.size)
            {
                return Err(VolcError::invalid(format!(
                    "The file is {size} bytes; the limit is {limit} bytes."
                )));
            }
            let md5 = Some(object.etag.to_ascii_lowercase()).filter(|e| is_md5(e));
            if let Some(md5) = &md5 {
                let found = detections
                    .lookup(std::slice::from_ref(md5))
                    .await
                    .map_err(|e| VolcError::from_core(&e))?;
                if let Some(Lookup::Found(d)) = found.first()
                    && d.state != State::Failed
                {
                    return Ok(json!({ "QueryKey": md5 }));
                }
            }
            let submitted = detections
                .submit(NewDetection {
                    md5: md5.clone(),
                    client_token,
                    ..NewDetection::new(
                        Source::Object {
                            bucket: object.bucket,
                            key: object.key,
                        },
                        Some(object.size),
                        OPTIONS,
                    )
                })
                .await
                .map_err(|e| VolcError::from_core(&e))?;
            md5.unwrap_or(submitted.id)
        }
        SignUrl::Remote(url) => {
            // The check every dialect makes of a URL at submission (the Alibaba dialect's
            // DownloadUrl too): refused now rather than a failed detection later.
            state
                .detect
                .fetcher
                .precheck(&url)
                .await
                .map_err(|e| refused_sign_url(&e))?;
            detections
                .submit(NewDetection {
                    client_token,
                    ..NewDetection::new(Source::Url { url }, None, OPTIONS)
                })
                .await
                .map_err(|e| VolcError::from_core(&e))?
                .id
        }
    };
    Ok(json!({ "QueryKey": query_key }))
}

/// `GetFileDetection`: `{"QueryKey"}` → the detection's state and verdict.
pub(super) async fn get(state: &AppState, body: &[u8]) -> Result<Value, VolcError> {
    let request = parse_get(body)?;
    let key = request.query_key.to_ascii_lowercase();
    let found = state
        .detect
        .detections
        .lookup(&[key])
        .await
        .map_err(|e| VolcError::from_core(&e))?;
    let found = found.into_iter().next().unwrap_or(Lookup::Unknown);
    Ok(FileDetection::of(&found).to_json())
}

/// A `SignURL` that the outbound policy refuses at submission, as `InvalidParameter`. The
/// message says why without the addresses the host resolved to (which would tell a client
/// about the server's network); the server's log has them.
fn refused_sign_url(e: &hashscan_fetch::FetchError) -> VolcError {
    use hashscan_fetch::FetchError as F;
    let why = match e {
        F::Forbidden { .. } => "names an address this server may not download from",
        F::Resolve(_) | F::Timeout => "has a host that cannot be resolved",
        F::InvalidUrl(_) => "is not an http or https URL this server can download",
        other if !other.is_client_error() => {
            tracing::error!(error = %other, "cannot check a SignURL");
            return VolcError::internal();
        }
        _ => "cannot be downloaded",
    };
    tracing::info!(error = %e, "SignURL refused at submission");
    VolcError::invalid(format!("The parameter SignURL {why}."))
}

/// The host the request was sent to: the absolute-form authority, else `Host`.
fn request_host(parts: &Parts) -> Option<&str> {
    parts.uri.authority().map(|a| a.as_str()).or_else(|| {
        parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    })
}

/// `X-Sdk-Invocation-Id`, when it is a usable token: 1–128 visible ASCII characters.
fn invocation_id(headers: &axum::http::HeaderMap) -> Option<&str> {
    let mut values = headers.get_all("x-sdk-invocation-id").iter();
    let value = values.next()?.to_str().ok()?.trim();
    if values.next().is_some()
        || value.is_empty()
        || value.len() > MAX_INVOCATION_ID
        || !value.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    Some(value)
}

/// 32 lower-case hex digits.
fn is_md5(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn invocation_ids() {
        let mut h = HeaderMap::new();
        assert_eq!(invocation_id(&h), None);
        h.insert(
            "x-sdk-invocation-id",
            HeaderValue::from_static("00000000-0000-4000-8000-000000000000"),
        );
        assert_eq!(
            invocation_id(&h),
            Some("00000000-0000-4000-8000-000000000000")
        );
        h.insert("x-sdk-invocation-id", HeaderValue::from_static("a b"));
        assert_eq!(invocation_id(&h), None);
        h.insert(
            "x-sdk-invocation-id",
            HeaderValue::from_str(&"a".repeat(MAX_INVOCATION_ID + 1)).unwrap(),
        );
        assert_eq!(invocation_id(&h), None);
        h.insert("x-sdk-invocation-id", HeaderValue::from_static("one"));
        h.append("x-sdk-invocation-id", HeaderValue::from_static("two"));
        assert_eq!(invocation_id(&h), None);
    }

    #[test]
    fn refused_sign_urls_do_not_tell_resolved_addresses() {
        let e = hashscan_fetch::FetchError::Forbidden {
            host: "intranet.example".into(),
            addr: "10.1.2.3".parse().unwrap(),
        };
        let v = refused_sign_url(&e);
        assert_eq!(v.code, super::super::error::Code::InvalidParameter);
        assert!(!v.message.contains("10.1.2.3"), "{}", v.message);
        let local = hashscan_fetch::FetchError::Client("no TLS".into());
        assert_eq!(
            refused_sign_url(&local).code,
            super::super::error::Code::InternalError
        );
    }

    #[test]
    fn md5s() {
        assert!(is_md5("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(!is_md5("D41D8CD98F00B204E9800998ECF8427E"));
        assert!(!is_md5("d41d8cd98f00b204e9800998ecf8427e-2"));
        assert!(!is_md5(""));
    }

    #[test]
    fn request_hosts() {
        let (parts, ()) = axum::http::Request::builder()
            .uri("/?Action=A")
            .header("host", "127.0.0.1:9000")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(request_host(&parts), Some("127.0.0.1:9000"));
        let (parts, ()) = axum::http::Request::builder()
            .uri("http://proxy.example:81/?Action=A")
            .header("host", "other")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(request_host(&parts), Some("proxy.example:81"));
    }
}
