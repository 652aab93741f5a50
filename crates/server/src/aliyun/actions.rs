//! The Alibaba Sas handlers: authenticate, parse, call the detection core, render.
//!
//! Decisions on what the spec leaves open (documented in docs/api-compatibility.md too):
//! - `GetFileDetectResult`: when any key of the batch was never submitted or has expired,
//!   the whole call answers 400 `GetResultFail` (as the doc says for one key), naming the
//!   unknown keys; a detection that failed (download refused, file gone) counts as unknown,
//!   with its reason in the message, so the client uploads or submits again.
//! - `Result` is 1 for scores above 60 (suspicious and malicious), 0 otherwise, 3 while
//!   detecting; `Score` is always present once done; `VirusType` only with Result 1.
//! - `Compress` is true when the file was recognised as an archive and expanded
//!   (`Decompress=true`); `ListCompressFileDetectResult` then lists every member scanned.
//! - `CreateFileDetectUploadUrl` always returns upload credentials, also with
//!   `FileExist=true` (the file is kept here already), so that `CreateFileDetect` with that
//!   `OssKey` works whether or not the client uploads.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use axum::response::Response;
use hashscan_auth::KeyLookup;
use hashscan_detect::{Report, Verdict};

use super::error::SasError;
use super::guard::RateLimiter;
use super::model::{self, DetectResult, UploadUrl};
use super::params::{RpcRequest, SasRequest};
use super::upload::{self, FormLimits, OssError};
use crate::AppState;
use crate::core::detections::{Detection, Lookup, NewDetection, Options, Source, State};
use crate::core::uploads::ReceiveError;

/// The path of the emulated OSS upload host (`PublicUrl` of the upload credentials).
pub const UPLOAD_PATH: &str = "/_/aliyun/upload";
/// How long upload credentials stay valid.
const UPLOAD_SLOT_MS: i64 = 3600 * 1000;
/// Largest request body of an RPC call (they carry everything in the query).
const MAX_BODY: usize = 64 * 1024;
/// The `HostId` of errors when the request names no host.
const DEFAULT_HOST_ID: &str = "tds.aliyuncs.com";

/// The name of the counter of authenticated Sas calls (`GetFileDetectApiInvokeInfo`).
const INVOCATIONS: &str = "aliyun.invocations";

/// The dialect's state: the per-key rate limit. With several nodes each allows its share,
/// `per_second ÷ live nodes` (at least 1), so that the cluster stays near the configured
/// rate without a round trip per request (approximate: a burst that lands on one node is
/// refused there sooner; docs/operations.md).
pub struct Guards {
    per_second: u32,
    rate: std::sync::RwLock<Option<Arc<RateLimiter>>>,
}

impl Guards {
    /// `per_second` requests per key (0: no limit), with a burst of as many.
    pub fn new(per_second: u32) -> Guards {
        let guards = Guards {
            per_second,
            rate: std::sync::RwLock::new(None),
        };
        guards.set_nodes(1);
        guards
    }

    /// Shares the rate among `nodes` live nodes (a new limiter: approximate by design).
    pub fn set_nodes(&self, nodes: u32) {
        let share = self.per_second.div_ceil(nodes.max(1));
        let limiter = std::num::NonZeroU32::new(share).map(|n| Arc::new(RateLimiter::new(n, n)));
        *self
            .rate
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = limiter;
    }

    /// Counts one request of `access_key` against this node's share.
    pub fn check(&self, access_key: &str) -> Result<(), SasError> {
        let limiter = self
            .rate
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match limiter {
            Some(rate) => rate.check(access_key),
            None => Ok(()),
        }
    }
}

/// Whether a request is an Alibaba RPC call: the `x-acs-action` header, an `Action` with
/// Alibaba's version in the query, or a `POST /` without a query whose body is a URL-encoded
/// form (a classic RPC client's parameters; COS has no such request: its form upload is
/// `multipart/form-data`).
pub fn is_aliyun(req: &Request<Body>) -> bool {
    if req.headers().contains_key("x-acs-action") {
        return true;
    }
    let query = req.uri().query().unwrap_or("");
    if query.is_empty() && req.method() == axum::http::Method::POST && req.uri().path() == "/" {
        return req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
    }
    query.split('&').any(|p| p == "Version=2018-12-03") && query.contains("Action=")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| DEFAULT_HOST_ID.to_string())
}

/// Handles one RPC call.
pub async fn handle(state: &AppState, req: Request<Body>, request_id: &str) -> Response {
    let host = host_of(req.headers());
    match call(state, req, request_id, &host).await {
        Ok(r) => r,
        Err(e) => e.response(request_id, &host),
    }
}

async fn call(
    state: &AppState,
    req: Request<Body>,
    request_id: &str,
    host: &str,
) -> Result<Response, SasError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| SasError::invalid_parameter("body", "the request body is too large"))?;
    let guards = &state.aliyun;
    let verified = super::auth::authenticate(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        state.keys.as_ref(),
        now_ms() / 1000,
    )?;
    super::auth::remember_nonce(state.meta.shared.as_ref(), &verified, now_ms() / 1000).await?;
    guards.check(&verified.access_key_id)?;
    let request =
        RpcRequest::parse(&parts.uri, &parts.headers, &body)?.validate(verified.scheme)?;
    let shared = &state.meta.shared;
    if let Err(e) = shared.count(INVOCATIONS, 1).await {
        tracing::warn!(error = %e, "cannot count a Sas call");
    }
    let detect = &state.detect;
    match request {
        SasRequest::CreateFileDetectUploadUrl(r) => {
            let mut list = Vec::with_capacity(r.items.len());
            for item in r.items {
                if let Some(size) = item.file_size
                    && detect.within_limit(size).is_err()
                {
                    return Err(SasError::file_size_over_limit());
                }
                list.push(upload_slot(state, &verified.access_key_id, &item.hash_key, host).await?);
            }
            Ok(model::json_response(
                &model::CreateFileDetectUploadUrlResponse {
                    request_id: request_id.to_string(),
                    upload_url_list: list,
                },
                request_id,
            ))
        }
        SasRequest::CreateFileDetect(r) => {
            let options = Options {
                decompress: r.decompress,
                max_layer: r.max_layer,
                max_files: r.max_file_count,
            };
            let new = match (&r.oss_key, &r.download_url) {
                (Some(key), _) => {
                    let upload = detect
                        .detections
                        .upload(key)
                        .await
                        .map_err(core_error)?
                        .filter(|u| u.access_key == verified.access_key_id)
                        .ok_or_else(SasError::get_file_error)?;
                    let (Some(sha256), Some(md5)) = (upload.sha256.clone(), upload.md5.clone())
                    else {
                        return Err(SasError::get_file_error());
                    };
                    if r.hash_key != md5 && r.hash_key != sha256 {
                        return Err(SasError::get_file_error());
                    }
                    NewDetection {
                        hash_key: Some(r.hash_key.clone()),
                        md5: Some(md5),
                        sha1: upload.sha1.clone(),
                        sha256: Some(sha256.clone()),
                        size: upload.size,
                        source: Source::File { sha256 },
                        options,
                        client_token: None,
                        callback: crate::meta::jobs::JobCallback::Queue,
                    }
                }
                (None, Some(url)) => {
                    if detect.fetcher.precheck(url).await.is_err() {
                        return Err(SasError::invalid_download_url());
                    }
                    NewDetection {
                        hash_key: Some(r.hash_key.clone()),
                        md5: None,
                        sha1: None,
                        sha256: None,
                        size: None,
                        source: Source::Url { url: url.clone() },
                        options,
                        client_token: None,
                        callback: crate::meta::jobs::JobCallback::Queue,
                    }
                }
                (None, None) => return Err(SasError::missing_parameter("OssKey")),
            };
            detect.detections.submit(new).await.map_err(core_error)?;
            Ok(model::json_response(
                &model::CreateFileDetectResponse {
                    request_id: request_id.to_string(),
                    hash_key: r.hash_key,
                },
                request_id,
            ))
        }
        SasRequest::GetFileDetectResult(r) => {
            let found = detect
                .detections
                .lookup(&r.hash_keys)
                .await
                .map_err(core_error)?;
            let mut unknown = Vec::new();
            let mut list = Vec::with_capacity(found.len());
            for (key, lookup) in r.hash_keys.iter().zip(found) {
                match lookup {
                    Lookup::Found(d) if d.state != State::Failed => list.push(result_item(key, &d)),
                    Lookup::Found(d) => unknown.push(format!(
                        "{key} (detection failed: {})",
                        d.error_message.as_deref().unwrap_or("unknown reason")
                    )),
                    Lookup::Unknown => unknown.push(key.clone()),
                }
            }
            if !unknown.is_empty() {
                return Err(SasError::get_result_fail_for(&unknown));
            }
            Ok(model::json_response(
                &model::GetFileDetectResultResponse {
                    request_id: request_id.to_string(),
                    result_list: list,
                },
                request_id,
            ))
        }
        SasRequest::ListCompressFileDetectResult(r) => {
            let found = detect
                .detections
                .lookup(std::slice::from_ref(&r.hash_key))
                .await
                .map_err(core_error)?;
            let d = match found.into_iter().next() {
                Some(Lookup::Found(d)) if d.state != State::Failed => d,
                _ => return Err(SasError::get_result_fail()),
            };
            let members = d
                .report
                .as_ref()
                .and_then(|r| r.archive.as_ref())
                .map(|a| a.members.as_slice())
                .unwrap_or_default();
            let size = r.page_size.max(1) as usize;
            let start = (r.current_page.max(1) as usize - 1).saturating_mul(size);
            let page = members
                .iter()
                .skip(start)
                .take(size)
                .map(|m| {
                    let flagged = Verdict::of_score(m.score) != Verdict::Clean && m.score > 60;
                    model::CompressMemberResult {
                        hash_key: m.md5.clone(),
                        result: i32::from(flagged),
                        score: Some(i32::from(m.score)),
                        virus_type: flagged
                            .then(|| m.threat_type.map(|t| t.as_str().to_string()))
                            .flatten(),
                        ext: Some(model::ext_json(
                            &highlights(m.hits.iter().flat_map(|h| h.highlights.iter())),
                            &m.labels,
                        )),
                        path: m.path.clone(),
                    }
                })
                .collect();
            Ok(model::json_response(
                &model::ListCompressFileDetectResultResponse {
                    request_id: request_id.to_string(),
                    page_info: model::PageInfo {
                        current_page: r.current_page,
                        page_size: r.page_size,
                        total_count: members.len() as u64,
                    },
                    result_list: page,
                },
                request_id,
            ))
        }
        SasRequest::GetFileDetectApiInvokeInfo(_) => {
            // A self-hosted service has no quota: the counters are this server's.
            const AUTH: i64 = 1_000_000_000;
            let used = shared.counter(INVOCATIONS).await.map_err(|e| {
                if e.is_unavailable() {
                    return SasError::service_unavailable(&e);
                }
                tracing::error!(error = %e, "cannot read the Sas call counter");
                SasError::server_error()
            })? as i64;
            Ok(model::json_response(
                &model::GetFileDetectApiInvokeInfoResponse {
                    request_id: request_id.to_string(),
                    data: model::InvokeInfo {
                        auth_count: AUTH,
                        auth_count_in_sale_version: AUTH,
                        invoke_count: used,
                        invoke_count_in_sale_version: used,
                        remain_auth_count: AUTH.saturating_sub(used),
                        expire: now_ms().saturating_add(10 * 365 * 24 * 3600 * 1000),
                        flow_rate: i64::from(state.config.detect.rate_per_key),
                        time_unit: "SECONDS".to_string(),
                        sale_version: 2,
                    },
                },
                request_id,
            ))
        }
    }
}

/// A detection-store failure: 503 `ServiceUnavailable` when the store cannot be reached
/// just now, else 500 `ServerError`.
fn core_error(e: crate::meta::jobs::JobError) -> SasError {
    if e.is_unavailable() {
        return SasError::service_unavailable(&e);
    }
    tracing::error!(error = %e, "detection store error");
    SasError::server_error()
}

/// A detection-store failure on the upload host: 503 `ServiceUnavailable` when the store
/// cannot be reached just now, else 500 `InternalError` (OSS's codes).
fn oss_core_error(e: crate::meta::jobs::JobError) -> OssError {
    if e.is_unavailable() {
        return OssError::service_unavailable(&e);
    }
    tracing::error!(error = %e, "detection store error");
    OssError::internal_error()
}

fn highlights<'a>(ranges: impl Iterator<Item = &'a [u64; 2]>) -> Vec<(u64, u64)> {
    ranges.map(|r| (r[0], r[1])).collect()
}

/// One `ResultList` item of a detection that is done or under way.
fn result_item(key: &str, d: &Detection) -> DetectResult {
    let report: &Report = match (&d.state, &d.report) {
        (State::Done, Some(r)) => r,
        _ => return DetectResult::pending(key),
    };
    let flagged = report.score > 60;
    DetectResult {
        hash_key: key.to_string(),
        result: if flagged {
            model::RESULT_MALICIOUS
        } else {
            model::RESULT_SAFE
        },
        score: Some(i32::from(report.score)),
        virus_type: flagged
            .then(|| report.threat_type.map(|t| t.as_str().to_string()))
            .flatten(),
        code: model::ITEM_OK_CODE.to_string(),
        message: model::ITEM_OK_MESSAGE.to_string(),
        ext: Some(model::ext_json(
            &highlights(report.hits.iter().flat_map(|h| h.highlights.iter())),
            &report.labels,
        )),
        compress: report.archive.is_some(),
    }
}

/// Upload credentials for one file (and `FileExist` when it is kept here already).
async fn upload_slot(
    state: &AppState,
    access_key: &str,
    hash_key: &str,
    host: &str,
) -> Result<UploadUrl, SasError> {
    let detections = &state.detect.detections;
    let secret = state
        .keys
        .secret(access_key)
        .ok_or_else(SasError::invalid_access_key_id_not_found)?;
    let now = now_ms();
    let key = upload::new_oss_key(now);
    let expires = now.saturating_add(UPLOAD_SLOT_MS);
    let ctx = upload::issue(access_key, &secret, &key, state.detect.max_file, expires);
    detections
        .create_upload(crate::core::detections::Upload {
            oss_key: key.clone(),
            hash_key: hash_key.to_string(),
            access_key: access_key.to_string(),
            max_size: state.detect.max_file,
            expires_at: expires,
            sha256: None,
            md5: None,
            sha1: None,
            size: None,
        })
        .await
        .map_err(core_error)?;
    let kept = detections.kept_file(hash_key).await.map_err(core_error)?;
    if let Some(k) = &kept {
        detections
            .upload_received(&key, k)
            .await
            .map_err(core_error)?;
    }
    let url = format!("http://{host}{UPLOAD_PATH}");
    let mut item = UploadUrl::upload(hash_key, url.clone(), url, ctx.expire_ms, ctx.to_model());
    item.file_exist = kept.is_some();
    Ok(item)
}

/// The emulated OSS upload host: a PostObject form with the credentials of
/// `CreateFileDetectUploadUrl`; the file is kept by SHA-256 for the detection.
pub async fn handle_upload(state: &AppState, req: Request<Body>, request_id: &str) -> Response {
    let host = host_of(req.headers());
    match receive(state, req, request_id).await {
        Ok(r) => r,
        Err(e) => e.response(request_id, &host),
    }
}

async fn receive(
    state: &AppState,
    req: Request<Body>,
    request_id: &str,
) -> Result<Response, OssError> {
    if req.method() != axum::http::Method::POST {
        return Err(OssError::invalid_argument(
            "only POST form uploads are accepted here",
        ));
    }
    let content_type = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let limits = FormLimits {
        max_file: state.detect.max_file,
        ..FormLimits::default()
    };
    let (form, mut file) =
        upload::parse_form(&content_type, req.into_body().into_data_stream(), &limits).await?;
    let accepted = accept(state, &form, &mut file, request_id).await;
    if accepted.is_err() {
        file.discard(DRAIN_LIMIT).await;
    }
    accepted
}

/// Most bytes of an upload read and dropped after an error, so that the error reaches a
/// client still sending (as the COS dialect does, `cos::drain`).
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;

/// Checks a parsed form and keeps its file.
async fn accept(
    state: &AppState,
    form: &upload::PostForm,
    file: &mut upload::FilePart,
    request_id: &str,
) -> Result<Response, OssError> {
    let policy = upload::verify(form, state.keys.as_ref(), now_ms())?;
    let detections = &state.detect.detections;
    let slot = detections
        .upload(&form.key)
        .await
        .map_err(oss_core_error)?
        .filter(|u| u.access_key == form.access_id)
        .ok_or_else(|| {
            OssError::access_denied(
                "the upload key was not issued to this AccessKeyId or has expired",
            )
        })?;
    file.limit(
        policy
            .max_size()
            .unwrap_or(slot.max_size)
            .min(slot.max_size),
    );

    let chunks = futures_util::stream::unfold(file, |file| async move {
        match file.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), file)),
            Ok(None) => None,
            Err(e) => Some((Err(OssError::from(e)), file)),
        }
    });
    let kept = state
        .detect
        .receive_file(chunks, None, |size| {
            policy.check_size(size).map_err(OssError::from)
        })
        .await
        .map_err(|e| match e {
            ReceiveError::Body(e) => e,
            ReceiveError::TooLarge { .. } => OssError::entity_too_large(),
            e @ ReceiveError::Io(_) if e.is_unavailable() => OssError::service_unavailable(&e),
            ReceiveError::Io(e) => {
                tracing::error!(error = %e, "cannot keep an upload");
                OssError::internal_error()
            }
        })?;
    detections
        .upload_received(&form.key, &kept)
        .await
        .map_err(oss_core_error)?;
    tracing::info!(oss_key = %form.key, size = kept.size, "detection file uploaded");
    Ok(upload::success_response(
        form,
        request_id,
        "hashscan-detect",
        UPLOAD_PATH,
        &kept.md5,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_shared_among_the_live_nodes() {
        let accepted = |g: &Guards| (0..200).filter(|_| g.check("ak").is_ok()).count();
        let g = Guards::new(30);
        assert_eq!(accepted(&g), 30);
        // Three nodes: each allows a third (a new limiter, so a full bucket again).
        g.set_nodes(3);
        assert_eq!(accepted(&g), 10);
        // A share never rounds to nothing.
        g.set_nodes(1000);
        assert_eq!(accepted(&g), 1);
        assert_eq!(accepted(&Guards::new(0)), 200);
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn rpc_calls_are_recognised_by_header_query_or_form_body() {
        assert!(is_aliyun(&req(
            "POST",
            "/",
            &[("x-acs-action", "GetFileDetectResult")]
        )));
        assert!(is_aliyun(&req(
            "POST",
            "/?Action=GetFileDetectResult&Version=2018-12-03",
            &[]
        )));
        let form = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        assert!(is_aliyun(&req("POST", "/", &form)));
        // Not RPC: a COS PUT or a form upload to an object, a POST with a COS sub-resource,
        // another body type.
        assert!(!is_aliyun(&req("PUT", "/", &form)));
        assert!(!is_aliyun(&req("POST", "/key", &form)));
        assert!(!is_aliyun(&req("POST", "/?delete", &form)));
        assert!(!is_aliyun(&req(
            "POST",
            "/",
            &[("content-type", "multipart/form-data; boundary=x")]
        )));
        assert!(!is_aliyun(&req(
            "POST",
            "/?Action=X&Version=2017-01-01",
            &[]
        )));
    }

    #[tokio::test]
    async fn store_failures() {
        use crate::meta::BackendError;
        use crate::meta::jobs::JobError;
        let sas = |e: JobError| {
            let s = core_error(e);
            (s.status().as_u16(), s.code().to_owned())
        };
        for e in [
            JobError::Unavailable("writer stopped".into()),
            JobError::Backend(BackendError::unavailable("x")),
        ] {
            assert_eq!(sas(e), (503, "ServiceUnavailable".into()));
        }
        assert_eq!(
            sas(JobError::Backend(BackendError::new("x"))),
            (500, "ServerError".into())
        );
        let r = core_error(JobError::Backend(BackendError::unavailable("db down")))
            .response("rid", "tds.aliyuncs.com");
        assert_eq!(r.status().as_u16(), 503);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["Code"], "ServiceUnavailable");
        assert!(!body.windows(7).any(|w| w == b"db down"));

        // The OSS-style upload host.
        let oss = |e: JobError| {
            let o = oss_core_error(e);
            (o.status().as_u16(), o.code())
        };
        assert_eq!(
            oss(JobError::Backend(BackendError::unavailable("x"))),
            (503, "ServiceUnavailable")
        );
        assert_eq!(
            oss(JobError::Backend(BackendError::new("x"))),
            (500, "InternalError")
        );
        let r = oss_core_error(JobError::Unavailable("x".into())).response("rid", "host");
        assert_eq!(r.status().as_u16(), 503);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("<Code>ServiceUnavailable</Code>"), "{body}");
    }
}
