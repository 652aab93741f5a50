//! The Volcengine dialect: file detection as the `nta` service, version `2024-07-30`, speaks it
//! to `volcenginesdk-nta`, the universal API of `volcenginesdk-core` and the Go SDK (spec:
//! `shared/specs/detection-apis.md` §3).
//!
//! Every call is `POST /?Action=<A>&Version=2024-07-30` with a JSON body, signed with the
//! Volcengine SignerV4 (`HMAC-SHA256`, credential scope `<date>/<region>/nta/request`). Every
//! answer, success or error, is JSON with a `ResponseMetadata` (`RequestId`, `Action`,
//! `Version`, `Service: "nta"`, `Region`), because the SDK refuses a 2xx answer without one.
//!
//! Reading order, as a request goes through it:
//! 1. [`is_volc`] picks the request out in `http::entry` (before the COS dialect);
//! 2. [`handle`] reads the body (at most [`MAX_BODY`] bytes), authenticates it with
//!    `hashscan_auth::volc::verify` (service `nta`), checks method, action and version;
//! 3. [`model`] parses and validates the body of the action;
//! 4. `actions` calls the core, [`crate::core::detections::Detections`], which decides: `submit`
//!    for `CreateFileDetection` (with [`sign_url`] telling this server's objects from URLs to
//!    download), `lookup` for `GetFileDetection`;
//! 5. [`model`] renders the `Result` and the envelope; every error is a [`error::VolcError`]
//!    from the one table in [`error`].
//!
//! # CreateFileDetection
//!
//! `{"SignURL": "…"}` → `{"QueryKey": "…"}`. A SignURL of this server (see [`sign_url`]: its
//! `host:port`, or a virtual-hosted COS name of a configured domain on the same port) is
//! authorised exactly as a GET of it through the COS dialect would be (the COS presignature,
//! or a public-read bucket), and the object is read from local storage: an unknown bucket or
//! object, or a refused presignature, is an error now rather than a failed detection later.
//! Any other `http`/`https` URL is checked now against the outbound address policy (a
//! private or loopback address is refused at once, unless `[outbound] allow_private`) and
//! downloaded by the worker with the SSRF-safe fetcher, which checks again. Archives are
//! expanded with the default limits.
//!
//! * QueryKey (spec §5 item 7, UNCONFIRMED whether it is always the MD5): for an object of
//!   this server, its MD5 (the ETag, when it is 32 hex digits), as in the documentation's
//!   example; otherwise the detection's id (`f` + 32 hex), since a downloaded file's MD5 is
//!   not known before it is downloaded. `GetFileDetection` finds a detection by either.
//! * Idempotency: the SDK retries up to four times with the same `X-Sdk-Invocation-Id`; that
//!   header (when at most 128 visible ASCII characters) becomes the submission's client token
//!   `volc:<AK>:<id>`, so that a retry answers the same detection. An object whose MD5
//!   already has an unexpired detection that did not fail is not submitted again: its MD5 is
//!   answered.
//!
//! # GetFileDetection
//!
//! `{"QueryKey": "…"}` (case-insensitive) → the newest unexpired detection of that MD5, SHA-1,
//! SHA-256 or detection id, always as a 200 with a `Result`:
//!
//! | detection | `Finish` | `FileSecType` | `VirusDesc` | `FileMd5`, `FileSize` |
//! | --- | --- | --- | --- | --- |
//! | none (never submitted, or expired) | -2 not detected | 0 | `""` | `""`, 0 |
//! | under way (or a stale result being rescanned) | 1 detecting | 0 | `""` | as known, else `""`/0 |
//! | failed (download refused or failed, too large) | -1 failed | 0 | `""` | as known |
//! | done, verdict malicious or suspicious | 2 done | 2 virus | threat type (`WebShell`, `Engtest` for EICAR …; `Malware` when untyped) | the file's |
//! | done, verdict clean | 2 | 1 normal | `""` | the file's |
//! | done, verdict unknown (scan incomplete) | 2 | 0 unknown | `""` | the file's |
//!
//! # Authentication choices
//!
//! * Clock skew: `X-Date` within ±15 minutes of the server's clock. The spec leaves the
//!   window UNCONFIRMED (§3.1, §5 item 6); 15 minutes is what SigV4-style services use and
//!   what the other dialects of this server allow. There is no nonce in this scheme, so a
//!   captured request can be replayed inside that window; both actions are idempotent.
//! * The credential scope must name the service `nta`; any region is accepted and echoed in
//!   `ResponseMetadata.Region` (`cn-beijing` when the request has no readable scope).
//! * Every access key of the server is valid here (see [`crate::keys`]).

mod actions;
pub mod error;
pub mod model;
pub mod sign_url;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hashscan_auth::encode::{Plus, decode_path, decode_query};
use hashscan_auth::{Payload, Query, RequestParts, Verified};

use self::error::{Code, VolcError};
use self::model::ResponseMetadata;
use crate::AppState;
use crate::wire::{HeaderMapSource, now_unix};

/// The API version this dialect implements.
pub const VERSION: &str = "2024-07-30";
/// The service of the credential scope.
pub const SERVICE: &str = model::SERVICE;
/// `ResponseMetadata.Region` when the request names none.
pub const DEFAULT_REGION: &str = "cn-beijing";
/// Largest request body: the bodies are one short JSON member (a SignURL is at most 2048
/// characters, 8 KiB of UTF-8), so 64 KiB leaves ample room.
pub const MAX_BODY: usize = 64 * 1024;
/// Allowed difference between `X-Date` and now, either way (see the module doc).
pub const MAX_SKEW_SECS: u64 = 900;
/// Most bytes of an oversized body read (and discarded) so that the error is delivered on an
/// open connection; past it the connection is closed.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
/// Longest `Action`/`Version`/`Region` echoed in `ResponseMetadata`.
const MAX_ECHO: usize = 128;

/// The two actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateFileDetection,
    GetFileDetection,
}

impl Action {
    /// The action of `Action=…&Version=…`, if this dialect has it.
    pub fn parse(action: &str, version: &str) -> Option<Action> {
        if version != VERSION {
            return None;
        }
        match action {
            "CreateFileDetection" => Some(Action::CreateFileDetection),
            "GetFileDetection" => Some(Action::GetFileDetection),
            _ => None,
        }
    }
}

/// Whether a request is addressed to this dialect: its query has `Action` and
/// `Version=2024-07-30`, or it is signed with `HMAC-SHA256` for the service `nta`.
pub fn is_volc(req: &Request<Body>) -> bool {
    is_volc_parts(req.uri().query(), req.headers())
}

/// [`is_volc`] over a request's raw query and headers.
pub fn is_volc_parts(query: Option<&str>, headers: &HeaderMap) -> bool {
    if let Some(q) = query.filter(|q| q.contains("Action") && q.contains("Version")) {
        let pairs = decode_query(q, Plus::Space);
        if pairs.iter().any(|(k, _)| k == "Action")
            && pairs.iter().any(|(k, v)| k == "Version" && v == VERSION)
        {
            return true;
        }
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| scope_part(v, 1) == Some(SERVICE))
}

/// Part `n` from the end of the credential scope of a `HMAC-SHA256 Credential=AK/date/region/
/// service/request, …` header (1: service, 2: region), without judging the rest of it.
fn scope_part(authorization: &str, n: usize) -> Option<&str> {
    let rest = authorization.strip_prefix("HMAC-SHA256 Credential=")?;
    let credential = rest.split(',').next()?.trim();
    credential.rsplit('/').nth(n)
}

/// Text from the request echoed in `ResponseMetadata`: cut to [`MAX_ECHO`] characters.
fn echo(s: &str) -> String {
    s.chars().take(MAX_ECHO).collect()
}

/// A region name worth echoing: letters, digits, `-`, `_`, `.`.
fn plausible_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= MAX_ECHO
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Handles a request for which [`is_volc`] holds.
pub async fn handle(state: &AppState, req: Request<Body>, request_id: &str) -> Response {
    let (parts, body) = req.into_parts();
    let query = decode_query(parts.uri.query().unwrap_or(""), Plus::Space);
    let first = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (action, version) = (first("Action"), first("Version"));
    let region_hint = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| scope_part(v, 2))
        .filter(|r| plausible_region(r));
    let mut meta = ResponseMetadata {
        request_id: request_id.to_string(),
        action: echo(action.unwrap_or("")),
        version: echo(version.unwrap_or("")),
        region: region_hint.unwrap_or(DEFAULT_REGION).to_string(),
    };
    let result = serve(state, &parts, body, action, version, &mut meta).await;
    match result {
        Ok(value) => json_response(StatusCode::OK, &meta.ok(value)),
        Err(e) => {
            tracing::info!(code = e.code.code(), message = %e.message, "volc error");
            json_response(e.code.status(), &meta.error(&e))
        }
    }
}

async fn serve(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    action: Option<&str>,
    version: Option<&str>,
    meta: &mut ResponseMetadata,
) -> Result<serde_json::Value, VolcError> {
    let body = read_body(&parts.headers, body).await?;
    let verified = authenticate(state, parts, &body)?;
    if let Some(region) = verified.region.as_deref().filter(|r| plausible_region(r)) {
        meta.region = region.to_string();
    }
    let action = action.ok_or_else(|| VolcError::missing("Action"))?;
    let version = version.ok_or_else(|| VolcError::missing("Version"))?;
    let found = Action::parse(action, version)
        .ok_or_else(|| VolcError::unknown_action(&echo(action), &echo(version)))?;
    if parts.method != Method::POST {
        return Err(VolcError::new(
            Code::InvalidActionOrVersion,
            format!(
                "Could not find operation {} for version {} with method {}: only POST is supported.",
                echo(action),
                echo(version),
                parts.method
            ),
        ));
    }
    match found {
        Action::CreateFileDetection => actions::create(state, parts, &verified, &body).await,
        Action::GetFileDetection => actions::get(state, &body).await,
    }
}

/// Reads the body, at most [`MAX_BODY`] bytes; a larger one is `InvalidParameter` (413).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, VolcError> {
    let too_large = || {
        VolcError::new(
            Code::BodyTooLarge,
            format!("The request body is larger than {MAX_BODY} bytes."),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| VolcError::invalid("The request body could not be read."))?;
        total = total.saturating_add(chunk.len());
        if total > DRAIN_LIMIT {
            break;
        }
        if total <= MAX_BODY {
            buf.extend_from_slice(&chunk);
        }
    }
    if total > MAX_BODY {
        return Err(too_large());
    }
    Ok(buf)
}

/// Verifies the SignerV4 signature over the request and its body.
fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Verified, VolcError> {
    let headers = HeaderMapSource(&parts.headers);
    let path = decode_path(parts.uri.path());
    let request = RequestParts::new(
        parts.method.as_str(),
        &path,
        Query::Raw(parts.uri.query().unwrap_or("")),
        &headers,
    )
    .with_body(Payload::Bytes(body));
    let options = hashscan_auth::volc::Options {
        max_skew: MAX_SKEW_SECS,
        service: Some(SERVICE.to_string()),
        region: None,
    };
    hashscan_auth::volc::verify(&request, state.keys.as_ref(), now_unix(), &options)
        .map_err(|e| VolcError::from_auth(&e))
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, auth: Option<&str>) -> Request<Body> {
        let mut b = Request::builder().method("POST").uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Body::empty()).unwrap()
    }

    const NTA_AUTH: &str = "HMAC-SHA256 Credential=testAK/20241022/cn-beijing/nta/request, SignedHeaders=content-type;host;x-content-sha256;x-date, Signature=36d329ec10a0713a697b3f332097ca578e89173b87fef639fbecbe03af989c14";

    #[test]
    fn volc_requests_are_recognised() {
        assert!(is_volc(&req(
            "/?Action=GetFileDetection&Version=2024-07-30",
            None
        )));
        assert!(is_volc(&req("/?Version=2024-07-30&Action=Anything", None)));
        // Absolute-form (proxy) targets too.
        assert!(is_volc(&req(
            "http://127.0.0.1:9/?Action=CreateFileDetection&Version=2024-07-30",
            None
        )));
        // Signed for nta, whatever the query says.
        assert!(is_volc(&req("/", Some(NTA_AUTH))));
        assert!(is_volc(&req(
            "/?Action=GetFileDetection&Version=2020-01-01",
            Some(NTA_AUTH)
        )));
        // Even when the rest of the header is garbage: the dialect answers the error.
        assert!(is_volc(&req(
            "/",
            Some("HMAC-SHA256 Credential=a/b/c/nta/request, junk")
        )));
    }

    #[test]
    fn other_requests_are_not() {
        for (uri, auth) in [
            ("/bucket/key", None),
            ("/?Action=GetFileDetectResult&Version=2018-12-03", None),
            ("/?Action=GetFileDetection", None),
            ("/?Version=2024-07-30", None),
            ("/?ActionX=1&VersionY=2024-07-30", None),
            (
                "/k?q-sign-algorithm=sha1&q-ak=x",
                Some("q-sign-algorithm=sha1&q-ak=AK"),
            ),
            (
                "/",
                Some(
                    "HMAC-SHA256 Credential=AK/20201230/cn-north-1/iam/request, SignedHeaders=host, Signature=00",
                ),
            ),
            (
                "/",
                Some("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=00"),
            ),
        ] {
            assert!(!is_volc(&req(uri, auth)), "{uri} {auth:?}");
        }
    }

    #[test]
    fn scope_parts() {
        assert_eq!(scope_part(NTA_AUTH, 1), Some("nta"));
        assert_eq!(scope_part(NTA_AUTH, 2), Some("cn-beijing"));
        assert_eq!(scope_part("HMAC-SHA256 Credential=", 1), None);
        assert_eq!(scope_part("Bearer x", 1), None);
    }

    #[test]
    fn actions() {
        assert_eq!(
            Action::parse("CreateFileDetection", VERSION),
            Some(Action::CreateFileDetection)
        );
        assert_eq!(
            Action::parse("GetFileDetection", VERSION),
            Some(Action::GetFileDetection)
        );
        assert_eq!(Action::parse("GetFileDetection", "2018-12-03"), None);
        assert_eq!(Action::parse("ListFileDetection", VERSION), None);
        assert_eq!(Action::parse("getfiledetection", VERSION), None);
    }

    #[test]
    fn regions_echoed_only_when_plausible() {
        assert!(plausible_region("cn-beijing"));
        assert!(plausible_region("ap-southeast-1"));
        assert!(!plausible_region(""));
        assert!(!plausible_region("cn beijing"));
        assert!(!plausible_region("<script>"));
        assert!(!plausible_region(&"a".repeat(MAX_ECHO + 1)));
    }

    #[tokio::test]
    async fn bodies_are_limited() {
        let h = HeaderMap::new();
        let ok = read_body(&h, Body::from(vec![b'a'; MAX_BODY]))
            .await
            .unwrap();
        assert_eq!(ok.len(), MAX_BODY);
        let e = read_body(&h, Body::from(vec![b'a'; MAX_BODY + 1]))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::BodyTooLarge);
        assert_eq!(e.code.code(), "InvalidParameter");
        assert_eq!(e.code.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let e = read_body(&h, Body::from(vec![b'a'; DRAIN_LIMIT + 10]))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::BodyTooLarge);
        let mut big = HeaderMap::new();
        big.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from_static("999999999999"),
        );
        let e = read_body(&big, Body::empty()).await.unwrap_err();
        assert_eq!(e.code, Code::BodyTooLarge);
        assert!(read_body(&h, Body::empty()).await.unwrap().is_empty());
    }
}
