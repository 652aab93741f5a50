//! The `/v1` operations. Each parses its request, asks the core, and renders the answer;
//! the `#[utoipa::path]` attribute above each is its entry in the OpenAPI document.
//!
//! The 401/403 answers of signed operations are added to the document once, by
//! [`super::openapi`], rather than repeated here.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::Cx;
use super::error::{ApiError, ErrorBody};
use super::model::{
    DetectionRequest, DetectionView, HashRequest, Health, JobList, JobSubmitted, JobView,
    LookupRequest, LookupResponse, VersionInfo,
};
use super::reply::json;
use crate::core::detections::{Lookup, NewDetection, ObjectRefused, Options, Source};
use crate::core::hash_jobs::{CancelError, HashSpec};
use crate::core::objects::Bucket;
use crate::core::uploads::ReceiveError;
use crate::meta::jobs::{JobError, JobState, ListFilter};

/// Largest JSON request body (a lookup of 1000 SHA-256 digests is ~70 KB).
pub const MAX_JSON_BODY: usize = 256 * 1024;
/// Most hashes one lookup may name.
pub const MAX_LOOKUP: usize = 1000;
/// Longest URL accepted for a detection.
pub const MAX_URL: usize = 8 * 1024;
/// Default and largest page of a job listing.
pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;
/// Deepest archive nesting and most archive members a detection may ask for (the bounds
/// the Alibaba dialect applies too).
const MAX_LAYER: std::ops::RangeInclusive<u8> = 1..=5;
const MAX_FILES: std::ops::RangeInclusive<u32> = 1..=1000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn unsupported_media_type(expected: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!("Send the body as {expected}."),
    )
}

/// Reads and parses a JSON body (`Content-Type: application/json`, or none).
async fn read_json<T: DeserializeOwned>(cx: &Cx<'_>, body: Body) -> Result<T, ApiError> {
    match cx.content_type().as_deref() {
        None | Some("application/json") => {}
        Some(_) => return Err(unsupported_media_type("application/json")),
    }
    let bytes =
        axum::body::to_bytes(body, MAX_JSON_BODY)
            .await
            .map_err(|e| {
                super::binding::mismatch(&e).unwrap_or_else(|| ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BodyTooLarge",
                format!("The JSON body is larger than {MAX_JSON_BODY} bytes or could not be read."),
            ))
            })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let mut message = format!("The body is not valid JSON for this request: {e}.");
        if message.len() > 300 {
            let mut end = 300;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        ApiError::bad_request("InvalidJson", message)
    })
}

/// Refuses query parameters other than `allowed` (a presigned URL's `q-*` fields aside), so
/// that a misspelt option is an error rather than silently ignored.
fn check_params(cx: &Cx<'_>, allowed: &[&str]) -> Result<(), ApiError> {
    match cx
        .query
        .iter()
        .find(|(k, _)| !k.starts_with("q-") && !allowed.contains(&k.as_str()))
    {
        Some((k, _)) => Err(ApiError::bad_request(
            "InvalidArgument",
            format!(
                "Unknown query parameter {:?}; this route takes {}.",
                k.chars().take(40).collect::<String>(),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
        )),
        None => Ok(()),
    }
}

/// A bucket of this server, by a valid name.
async fn existing_bucket(cx: &Cx<'_>, name: &str) -> Result<Bucket, ApiError> {
    crate::core::objects::validate_bucket_name(name)?;
    cx.state
        .store
        .bucket(name)
        .await?
        .ok_or_else(|| ApiError::from(crate::core::objects::StoreError::NoSuchBucket))
}

fn detection_options(
    decompress: bool,
    max_layer: Option<u8>,
    max_files: Option<u32>,
) -> Result<Options, ApiError> {
    if let Some(l) = max_layer.filter(|l| !MAX_LAYER.contains(l)) {
        return Err(ApiError::bad_request(
            "InvalidArgument",
            format!("max_layer {l} is not in 1–5."),
        ));
    }
    if let Some(f) = max_files.filter(|f| !MAX_FILES.contains(f)) {
        return Err(ApiError::bad_request(
            "InvalidArgument",
            format!("max_files {f} is not in 1–1000."),
        ));
    }
    Ok(Options {
        decompress,
        max_layer,
        max_files,
    })
}

/// A query parameter parsed as `T`.
fn parse_param<T: std::str::FromStr>(cx: &Cx<'_>, name: &str) -> Result<Option<T>, ApiError> {
    cx.param(name)
        .map(|v| {
            v.trim().parse::<T>().map_err(|_| {
                ApiError::bad_request(
                    "InvalidArgument",
                    format!(
                        "The query parameter {name} is not valid: {:?}.",
                        v.chars().take(40).collect::<String>()
                    ),
                )
            })
        })
        .transpose()
}

/// Whether `s` (lower-case) is an MD5, SHA-1 or SHA-256 hex digest.
fn is_hash(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A detection key: a detection id or a hash, lower-cased.
fn detection_key(key: &str) -> Result<String, ApiError> {
    let key = key.trim().to_ascii_lowercase();
    if is_hash(&key) || crate::meta::jobs::looks_like_id('f', &key) {
        Ok(key)
    } else {
        Err(ApiError::bad_request(
            "InvalidArgument",
            format!(
                "{:?} is neither a detection id (f + 32 hex) nor an MD5, SHA-1 or SHA-256 hex digest.",
                key.chars().take(80).collect::<String>()
            ),
        ))
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "FileTooLarge",
        format!("The file is larger than the {limit}-byte limit of detections."),
    )
}

/// Submits a FileHashCode job on an object of this server: the same job, queue and worker
/// as COS `POST /file_jobs` (the bucket's default queue).
#[utoipa::path(
    post,
    path = "/v1/hash",
    tag = "jobs",
    request_body = HashRequest,
    responses(
        (status = 202, description = "The job was submitted; poll `GET /v1/jobs/{id}`.", body = JobSubmitted),
        (status = 400, description = "Bad JSON, bucket name or key, or the object is over 50 GB.", body = ErrorBody),
        (status = 404, description = "No such bucket or object.", body = ErrorBody),
    ),
    security(("cos_signature" = []))
)]
pub async fn submit_hash(cx: &Cx<'_>, body: Body) -> Result<Response, ApiError> {
    check_params(cx, &[])?;
    let req: HashRequest = read_json(cx, body).await?;
    let bucket = existing_bucket(cx, &req.bucket).await?;
    let state = cx.state;
    state.store.validate_key(&req.key)?;
    let spec = HashSpec {
        bucket: bucket.name,
        region: bucket.region,
        object: req.key,
        hash_type: req.hash_type.into(),
        add_to_header: req.add_to_header,
        user_data: None,
        callback: crate::meta::jobs::JobCallback::Queue,
        queue_id: None,
    };
    let job = state.hash_jobs.submit(spec).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &JobSubmitted {
            job_id: job.id,
            state: job.state.as_str().to_string(),
        },
    ))
}

/// Submits a detection: of an object of this server or a URL (JSON body), or of the file
/// sent as the body (`application/octet-stream`, options in the query). An upload is
/// hashed as it arrives and kept by SHA-256 for the retention period, so it can be looked
/// up by any of its hashes at once.
#[utoipa::path(
    post,
    path = "/v1/detections",
    tag = "detections",
    request_body(
        description = "A JSON source, or the file itself as `application/octet-stream` (at most the server's `detect.max_file_size`, 100 MiB by default).",
        content(
            (DetectionRequest = "application/json"),
            ("application/octet-stream")
        )
    ),
    params(
        ("decompress" = Option<bool>, Query, description = "Uploads only: scan inside archives."),
        ("max_layer" = Option<u8>, Query, description = "Uploads only: deepest archive nesting expanded, 1–5."),
        ("max_files" = Option<u32>, Query, description = "Uploads only: most archive members scanned, 1–1000."),
    ),
    responses(
        (status = 202, description = "The detection was submitted; poll `GET /v1/detections/{id}` (or by hash).", body = DetectionView),
        (status = 400, description = "Bad JSON or options, neither or both sources, or a URL the server may not fetch (private address, bad form).", body = ErrorBody),
        (status = 404, description = "No such bucket or object.", body = ErrorBody),
        (status = 413, description = "The upload is over the size limit.", body = ErrorBody),
        (status = 415, description = "Neither JSON nor application/octet-stream.", body = ErrorBody),
    ),
    security(("cos_signature" = []))
)]
pub async fn submit_detection(cx: &Cx<'_>, body: Body) -> Result<Response, ApiError> {
    let new = match cx.content_type().as_deref() {
        Some("application/json") => {
            check_params(cx, &[])?;
            let req: DetectionRequest = read_json(cx, body).await?;
            from_source(cx, req).await?
        }
        Some("application/octet-stream") => {
            check_params(cx, &["decompress", "max_layer", "max_files"])?;
            let options = detection_options(
                parse_param(cx, "decompress")?.unwrap_or(false),
                parse_param(cx, "max_layer")?,
                parse_param(cx, "max_files")?,
            )?;
            receive(cx, body, options).await?
        }
        _ => {
            return Err(unsupported_media_type(
                "application/json (a bucket object or a URL) or application/octet-stream (the file)",
            ));
        }
    };
    let detection = cx.state.detect.detections.submit(new).await?;
    Ok(json(StatusCode::ACCEPTED, &DetectionView::from(&detection)))
}

/// The detection of a JSON source.
async fn from_source(cx: &Cx<'_>, req: DetectionRequest) -> Result<NewDetection, ApiError> {
    let options = detection_options(req.decompress, req.max_layer, req.max_files)?;
    let detect = &cx.state.detect;
    let (source, size) = match (req.bucket, req.key, req.url) {
        (Some(bucket), Some(key), None) => {
            let bucket = existing_bucket(cx, &bucket).await?;
            cx.state.store.validate_key(&key)?;
            let object = match detect
                .object_to_scan(&cx.state.store, &bucket.name, &key)
                .await
            {
                Ok(o) => o,
                Err(ObjectRefused::Store(e)) => return Err(e.into()),
                Err(ObjectRefused::TooLarge { limit, .. }) => {
                    return Err(ApiError::bad_request(
                        "FileTooLarge",
                        format!("The object is larger than the {limit}-byte limit of detections."),
                    ));
                }
            };
            (
                Source::Object {
                    bucket: bucket.name,
                    key,
                },
                Some(object.size),
            )
        }
        (None, None, Some(url)) => {
            if url.len() > MAX_URL {
                return Err(ApiError::bad_request(
                    "InvalidUrl",
                    format!("The URL is longer than {MAX_URL} bytes."),
                ));
            }
            detect.fetcher.precheck(&url).await?;
            (Source::Url { url }, None)
        }
        _ => {
            return Err(ApiError::bad_request(
                "InvalidArgument",
                "Give either bucket and key (an object of this server) or url.",
            ));
        }
    };
    Ok(NewDetection::new(source, size, options))
}

/// Receives an uploaded file for detection (the core's one streaming receive).
async fn receive(cx: &Cx<'_>, body: Body, options: Options) -> Result<NewDetection, ApiError> {
    let detect = &cx.state.detect;
    let length = cx
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunks = body.into_data_stream().map(|chunk| {
        chunk.map_err(|e| {
            super::binding::mismatch(&e).unwrap_or_else(|| {
                ApiError::bad_request("IncompleteBody", "The upload could not be read to its end.")
            })
        })
    });
    let kept = detect
        .receive_file(chunks, length, |_| Ok(()))
        .await
        .map_err(|e| match e {
            ReceiveError::Body(e) => e,
            ReceiveError::TooLarge { limit } => too_large(limit),
            ReceiveError::Io(e) if crate::core::failure::io_unavailable(&e) => {
                ApiError::unavailable(format!("cannot keep an upload: {e}"))
            }
            ReceiveError::Io(e) => ApiError::internal(format!("cannot keep an upload: {e}")),
        })?;
    Ok(NewDetection {
        hash_key: None,
        md5: Some(kept.md5),
        sha1: Some(kept.sha1),
        sha256: Some(kept.sha256.clone()),
        size: Some(kept.size),
        source: Source::File {
            sha256: kept.sha256,
        },
        options,
        client_token: None,
        callback: crate::meta::jobs::JobCallback::Queue,
    })
}

/// A detection by its id, or the newest of a file by its MD5, SHA-1 or SHA-256. A result
/// made under older rules is rescanned when its file is still kept: the answer is then the
/// new detection, `detecting`.
#[utoipa::path(
    get,
    path = "/v1/detections/{id}",
    tag = "detections",
    params(("id" = String, Path, description = "A detection id (f + 32 hex), or an MD5, SHA-1 or SHA-256 hex digest of the file.")),
    responses(
        (status = 200, description = "The detection.", body = DetectionView),
        (status = 400, description = "Neither an id nor a hex digest.", body = ErrorBody),
        (status = 404, description = "Never submitted, or expired.", body = ErrorBody),
    ),
    security(("cos_signature" = []))
)]
pub async fn get_detection(cx: &Cx<'_>, key: &str) -> Result<Response, ApiError> {
    check_params(cx, &[])?;
    let key = detection_key(key)?;
    let detections = &cx.state.detect.detections;
    let found = if is_hash(&key) {
        match detections
            .lookup(std::slice::from_ref(&key))
            .await?
            .into_iter()
            .next()
        {
            Some(Lookup::Found(d)) => Some(std::sync::Arc::unwrap_or_clone(d)),
            _ => None,
        }
    } else {
        detections
            .get(&key)
            .await?
            .filter(|d| d.expires_at > now_ms())
    };
    match found {
        Some(d) => Ok(json(StatusCode::OK, &DetectionView::from(&d))),
        None => Err(ApiError::not_found(
            "NoSuchDetection",
            "No detection of this id or hash (never submitted, or expired).",
        )),
    }
}

/// The newest detection of each of up to 1000 hashes (or detection ids).
#[utoipa::path(
    post,
    path = "/v1/detections/lookup",
    tag = "detections",
    request_body = LookupRequest,
    responses(
        (status = 200, description = "Results keyed by the hashes as sent; `null` for unknown ones.", body = LookupResponse),
        (status = 400, description = "Bad JSON, more than 1000 hashes, or one that is not a hex digest.", body = ErrorBody),
    ),
    security(("cos_signature" = []))
)]
pub async fn lookup_detections(cx: &Cx<'_>, body: Body) -> Result<Response, ApiError> {
    check_params(cx, &[])?;
    let req: LookupRequest = read_json(cx, body).await?;
    if req.hashes.len() > MAX_LOOKUP {
        return Err(ApiError::bad_request(
            "InvalidArgument",
            format!("At most {MAX_LOOKUP} hashes may be looked up at once."),
        ));
    }
    let keys = req
        .hashes
        .iter()
        .map(|h| detection_key(h))
        .collect::<Result<Vec<_>, _>>()?;
    let found = cx.state.detect.detections.lookup(&keys).await?;
    let results = req
        .hashes
        .into_iter()
        .zip(found)
        .map(|(hash, l)| match l {
            Lookup::Found(d) => (hash, Some(DetectionView::from(d.as_ref()))),
            Lookup::Unknown => (hash, None),
        })
        .collect();
    Ok(json(StatusCode::OK, &LookupResponse { results }))
}

/// A page of a bucket's jobs, newest first. Detections are not listed (see `job`).
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(
        ("bucket" = String, Query, description = "The bucket whose jobs to list."),
        ("tag" = Option<String>, Query, description = "`FileHashCode` or `FileDetect`."),
        ("state" = Option<String>, Query, description = "Comma-separated states: Submitted, Running, Success, Failed, Pause, Cancel."),
        ("size" = Option<usize>, Query, description = "Page size, 1–100 (default 20)."),
        ("next_token" = Option<String>, Query, description = "The `next_token` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of jobs.", body = JobList),
        (status = 400, description = "A missing bucket, or a bad tag, state, size or token.", body = ErrorBody),
        (status = 404, description = "No such bucket.", body = ErrorBody),
    ),
    security(("cos_signature" = []))
)]
pub async fn list_jobs(cx: &Cx<'_>) -> Result<Response, ApiError> {
    check_params(cx, &["bucket", "tag", "state", "size", "next_token"])?;
    let bucket = cx
        .param("bucket")
        .ok_or_else(|| {
            ApiError::bad_request("InvalidArgument", "The bucket parameter is required.")
        })?
        .to_string();
    // Internal buckets (the detections' queue) are not listed: their jobs hold what other
    // clients submitted (URLs among them); a detection is read by its id or hash instead.
    existing_bucket(cx, &bucket).await?;
    let tag = match cx.param("tag") {
        None => None,
        Some(t) if t == crate::meta::jobs::HASH_TAG || t == crate::meta::jobs::DETECT_TAG => {
            Some(t.to_string())
        }
        Some(t) => {
            return Err(ApiError::bad_request(
                "InvalidArgument",
                format!(
                    "Unknown tag {:?}: FileHashCode or FileDetect.",
                    t.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    let states = match cx.param("state") {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(str::parse::<JobState>)
            .collect::<Result<Vec<_>, _>>()?,
    };
    let size = parse_param::<usize>(cx, "size")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&size) {
        return Err(ApiError::bad_request(
            "InvalidArgument",
            format!("size {size} is not in 1–{MAX_PAGE}."),
        ));
    }
    let filter = ListFilter {
        bucket,
        tag,
        states,
        size,
        next_token: cx.param("next_token").map(str::to_string),
        ..ListFilter::default()
    };
    let (jobs, next_token) = cx.state.hash_jobs.list(&filter).await?;
    Ok(json(
        StatusCode::OK,
        &JobList {
            jobs: jobs.iter().map(JobView::from).collect(),
            next_token,
        },
    ))
}

/// The job of `id`.
/// The hash job of `id`. A detection's job is not one: it is read through
/// `/v1/detections/{id}`, which shows what its submitter may see.
async fn job(cx: &Cx<'_>, id: &str) -> Result<crate::meta::jobs::Job, ApiError> {
    cx.state
        .hash_jobs
        .get(&[id.to_string()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::from(crate::meta::jobs::JobError::NoSuchJob))
}

/// A job by id.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id (f + 32 hex).")),
    responses(
        (status = 200, description = "The job.", body = JobView),
        (status = 404, description = "No such job.", body = ErrorBody),
    ),
    security(("cos_signature" = []))
)]
pub async fn get_job(cx: &Cx<'_>, id: &str) -> Result<Response, ApiError> {
    check_params(cx, &[])?;
    let job = job(cx, id).await?;
    Ok(json(StatusCode::OK, &JobView::from(&job)))
}

/// Cancels a job that has not started (Submitted, or Pause in a paused queue).
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id (f + 32 hex).")),
    responses(
        (status = 200, description = "The cancelled job.", body = JobView),
        (status = 404, description = "No such job.", body = ErrorBody),
        (status = 409, description = "The job is running or has ended.", body = ErrorBody),
    ),
    security(("cos_signature" = []))
)]
pub async fn cancel_job(cx: &Cx<'_>, id: &str) -> Result<Response, ApiError> {
    check_params(cx, &[])?;
    // A detection's job is not found here (see `job`): the detection service has no cancel.
    let job = job(cx, id).await?;
    let cancelled = cx
        .state
        .hash_jobs
        .cancel(&job.bucket, std::slice::from_ref(&job.id))
        .await
        .map_err(|e| match e {
            CancelError::NoSuchJob(_) => JobError::NoSuchJob,
            CancelError::NotCancellable(_, state) => JobError::NotCancellable(state),
            CancelError::Store(e) => e,
        })?;
    let cancelled = cancelled.first().ok_or(JobError::NoSuchJob)?;
    Ok(json(StatusCode::OK, &JobView::from(cancelled)))
}

/// hashscan's version and the rules it detects with.
#[utoipa::path(
    get,
    path = "/v1/version",
    tag = "service",
    responses((status = 200, description = "Versions.", body = VersionInfo))
)]
pub fn version(cx: &Cx<'_>) -> Response {
    let detector = &cx.state.detect.detections.detector;
    json(
        StatusCode::OK,
        &VersionInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ruleset: detector.version(),
            rules: detector.ruleset().rule_count(),
        },
    )
}

/// Whether the server answers.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "service",
    responses((status = 200, description = "The server is up.", body = Health))
)]
pub fn health() -> Response {
    json(
        StatusCode::OK,
        &Health {
            status: "ok".to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_keys() {
        let md5 = "44D88612FEA8A8F36DE82E1278ABB02F";
        assert_eq!(detection_key(md5).ok(), Some(md5.to_ascii_lowercase()));
        assert!(detection_key("f93984788066911ed89ed352d4d9d2084").is_ok());
        assert!(detection_key("lookup").is_err());
        assert!(detection_key(&"a".repeat(63)).is_err());
    }

    #[test]
    fn archive_option_bounds() {
        assert!(detection_options(true, Some(5), Some(1000)).is_ok());
        assert!(detection_options(true, Some(0), None).is_err());
        assert!(detection_options(true, Some(6), None).is_err());
        assert!(detection_options(true, None, Some(1001)).is_err());
    }
}
