//! COS Cloud Virus Detection (数据万象 云查毒): `POST /virus/detect` by Object or Url,
//! `GET /virus/detect/<JobId>`, and the callback of a finished detection — as
//! cos-python-sdk-v5's `ci_auditing_virus_submit`/`ci_auditing_virus_query` send and read them
//! (field table: docs/api-cos.md). Parsing ([`super::virus_xml`]) and rendering only: the
//! detection, its verdict and findings are the detection core's
//! ([`crate::core::detections`]), the same engine every other dialect uses.
//!
//! A job id is `ss` and the detection's 32 hex digits; the detection is the one `/v1`,
//! Alibaba and Volcengine see under `f` and the same digits.

use axum::body::Body;
use axum::http::Method;
use axum::response::Response;

use super::Ctx;
use super::ci::cos_time;
use super::error::CosError;
use super::virus_xml::{VirusInput, parse_virus_request};
use crate::core::detections::{Finding, ObjectRefused, findings, is_threat, source_name};
use crate::meta::detections::{Detection, NewDetection, Options, Source, State};
use crate::meta::jobs::{CallbackTarget, Job, JobCallback, JobState};
use crate::xml::XmlWriter;

/// The path of the API (the key on the bucket's ci or cos host).
const PATH: &str = "virus/detect";

/// Whether `method key` is a virus-detection request. On the cos host (the Python SDK's
/// IP/port mode sends CI calls there) a query only with a well-formed job id, so that
/// objects named `virus/detect/...` stay reachable.
pub fn is_virus(method: &Method, key: &str, ci_host: bool, multipart: bool) -> bool {
    match (method, key.strip_prefix(PATH)) {
        (&Method::POST, Some("")) => ci_host || !multipart,
        (&Method::GET, Some(rest)) => rest
            .strip_prefix('/')
            .is_some_and(|id| ci_host || detection_id(id).is_some()),
        _ => false,
    }
}

/// The detection id of a job id (`ss` + 32 hex → `f` + 32 hex).
fn detection_id(job_id: &str) -> Option<String> {
    let hex = job_id.strip_prefix("ss")?;
    let id = format!("f{hex}");
    crate::meta::jobs::looks_like_id('f', &id).then_some(id)
}

/// The job id of a detection.
fn job_id(detection_id: &str) -> String {
    format!("ss{}", detection_id.get(1..).unwrap_or_default())
}

/// Handles a request [`is_virus`] accepted.
pub async fn handle(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: Option<&str>,
    key: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let found = ctx.bucket(bucket, region, false).await?;
    if ctx.method == Method::POST {
        submit(ctx, &found.name, body).await
    } else {
        let id = key
            .strip_prefix(PATH)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or_default();
        query(ctx, &found.name, id).await
    }
}

fn invalid(message: impl Into<String>) -> CosError {
    CosError::invalid_argument(message)
}

async fn submit(
    ctx: &Ctx<'_>,
    bucket: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let bytes = super::read_ci_body(body).await?;
    let request = parse_virus_request(&bytes)?;
    if let Some(url) = &request.callback {
        super::check_callback_url(ctx, url).await?;
    }
    let detect = &ctx.state.detect;
    let (source, size) = match &request.input {
        VirusInput::Object(key) => {
            ctx.state.store.validate_key(key)?;
            let object = match detect.object_to_scan(&ctx.state.store, bucket, key).await {
                Ok(o) => o,
                Err(ObjectRefused::Store(crate::core::objects::StoreError::NoSuchKey)) => {
                    return Err(CosError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "ResourceNotFound",
                        format!("The input object {key:?} does not exist."),
                    ));
                }
                Err(ObjectRefused::Store(e)) => return Err(e.into()),
                Err(ObjectRefused::TooLarge { limit, .. }) => {
                    return Err(invalid(format!(
                        "The object is larger than the {limit}-byte limit of detections."
                    )));
                }
            };
            (
                Source::Object {
                    bucket: bucket.to_string(),
                    key: key.clone(),
                },
                Some(object.size),
            )
        }
        VirusInput::Url(url) => {
            detect
                .fetcher
                .precheck(url)
                .await
                .map_err(|e| invalid(format!("The URL cannot be fetched: {e}")))?;
            (Source::Url { url: url.clone() }, None)
        }
    };
    let detection = detect
        .detections
        .submit(NewDetection {
            callback: match request.callback {
                Some(url) => JobCallback::To(CallbackTarget {
                    url,
                    format: Some("XML".to_string()),
                }),
                None => JobCallback::Queue,
            },
            // Archives are opened, as COS scans inside zip, 7z, rar, tar, jar …
            ..NewDetection::new(
                source,
                size,
                Options {
                    decompress: true,
                    max_layer: None,
                    max_files: None,
                },
            )
        })
        .await?;
    let mut w = XmlWriter::new();
    w.open("Response").open("JobsDetail");
    w.leaf("JobId", &job_id(&detection.id))
        .leaf("State", "Submitted")
        .leaf("CreationTime", &cos_time(detection.created_at));
    input(&mut w, &detection.source);
    w.close().leaf("RequestId", &ctx.request_id);
    Ok(super::xml_ok(w.finish()))
}

async fn query(ctx: &Ctx<'_>, bucket: &str, id: &str) -> Result<Response, CosError> {
    let not_found = || invalid(format!("The job {:?} does not exist.", shown(id)));
    let detection_id = detection_id(id).ok_or_else(not_found)?;
    let detection = ctx
        .state
        .detect
        .detections
        .get(&detection_id)
        .await?
        .filter(|d| visible(d, bucket))
        .ok_or_else(not_found)?;
    let mut w = XmlWriter::new();
    w.open("Response");
    detail(&mut w, &detection);
    w.leaf("RequestId", &ctx.request_id);
    Ok(super::xml_ok(w.finish()))
}

/// Whether a detection is one of this API on this bucket: an object of the bucket, or a URL.
fn visible(d: &Detection, bucket: &str) -> bool {
    match &d.source {
        Source::Object { bucket: b, .. } => b == bucket,
        Source::Url { .. } => true,
        Source::File { .. } => false,
    }
}

/// An id as an error message quotes it.
fn shown(id: &str) -> String {
    id.chars().take(64).collect()
}

fn input(w: &mut XmlWriter, source: &Source) {
    match source {
        Source::Object { key, .. } => {
            w.leaf("Object", key);
        }
        Source::Url { url } => {
            w.leaf("Url", url);
        }
        Source::File { .. } => {}
    }
}

/// `<JobsDetail>` of a detection (the query's answer).
fn detail(w: &mut XmlWriter, d: &Detection) {
    let (state, code, message) = match d.state {
        State::Detecting => ("Auditing", "Success", String::new()),
        State::Done => ("Success", "Success", String::new()),
        State::Failed => (
            "Failed",
            d.error_code.as_deref().unwrap_or("InternalError"),
            d.error_message.clone().unwrap_or_default(),
        ),
    };
    let found = d
        .report
        .as_ref()
        .map(|r| (is_threat(r.verdict), findings(r, &source_name(&d.source))));
    jobs_detail(
        w,
        &DetailView {
            job_id: job_id(&d.id),
            state,
            code,
            message: &message,
            created_at: d.created_at,
            source: &d.source,
            result: found.as_ref().map(|(t, f)| (*t, f.as_slice())),
        },
    );
}

/// What a `<JobsDetail>` shows, from a detection (query) or its job (callback).
struct DetailView<'a> {
    job_id: String,
    state: &'static str,
    code: &'a str,
    message: &'a str,
    created_at: i64,
    source: &'a Source,
    /// Once done: whether it is a threat, and what was found.
    result: Option<(bool, &'a [Finding])>,
}

fn jobs_detail(w: &mut XmlWriter, v: &DetailView<'_>) {
    w.open("JobsDetail")
        .leaf("Code", v.code)
        .leaf("Message", v.message)
        .leaf("JobId", &v.job_id)
        .leaf("State", v.state)
        .leaf("CreationTime", &cos_time(v.created_at));
    input(w, v.source);
    if let Some((threat, found)) = v.result {
        w.leaf("Suggestion", if threat { "block" } else { "normal" });
        w.open("DetectDetail");
        for f in found {
            w.open("Result")
                .leaf("FileName", &f.file)
                .leaf("VirusName", &f.threat)
                .close();
        }
        w.close();
    }
    w.close();
}

/// The body of a finished virus detection's callback: hashscan's choice where Tencent
/// documents none — the query's `<JobsDetail>` inside `<Response><EventName>` as the CI job
/// callbacks carry it (XML, `application/xml`), so that a receiver parses one schema.
pub fn callback_body(job: &Job) -> (&'static str, Vec<u8>) {
    let source: Option<Source> = serde_json::from_value(job.input.clone()).ok();
    let source = source.unwrap_or(Source::Url { url: String::new() });
    let findings: Vec<Finding> = job
        .result
        .as_ref()
        .and_then(|r| r.get("findings"))
        .and_then(|f| serde_json::from_value(f.clone()).ok())
        .unwrap_or_default();
    let threat = job
        .result
        .as_ref()
        .and_then(|r| r.get("threat"))
        .and_then(|t| t.as_bool())
        .unwrap_or(false);
    let (state, code, message) = match job.state {
        JobState::Success => ("Success", "Success", String::new()),
        _ => (
            "Failed",
            job.error_code.as_deref().unwrap_or("InternalError"),
            job.error_message.clone().unwrap_or_default(),
        ),
    };
    let mut w = XmlWriter::new();
    w.open("Response").leaf("EventName", "TaskFinish");
    jobs_detail(
        &mut w,
        &DetailView {
            job_id: job_id(&job.id),
            state,
            code,
            message: &message,
            created_at: job.created_at,
            source: &source,
            result: (job.state == JobState::Success).then_some((threat, findings.as_slice())),
        },
    );
    ("application/xml", w.finish().into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_ids() {
        let id = "ss93984788066911ed89ed352d4d9d2084";
        assert!(is_virus(&Method::POST, "virus/detect", true, false));
        assert!(is_virus(&Method::POST, "virus/detect", false, false));
        assert!(!is_virus(&Method::POST, "virus/detect", false, true));
        assert!(is_virus(
            &Method::GET,
            &format!("virus/detect/{id}"),
            false,
            false
        ));
        assert!(!is_virus(
            &Method::GET,
            "virus/detect/report.pdf",
            false,
            false
        ));
        assert!(is_virus(
            &Method::GET,
            "virus/detect/report.pdf",
            true,
            false
        ));
        assert!(!is_virus(&Method::PUT, "virus/detect", true, false));
        assert!(!is_virus(&Method::GET, "virus/detector", true, false));
        assert_eq!(
            detection_id(id).as_deref(),
            Some("f93984788066911ed89ed352d4d9d2084")
        );
        assert_eq!(job_id("f93984788066911ed89ed352d4d9d2084"), id);
        for bad in [
            "",
            "ss",
            "f93984788066911ed89ed352d4d9d2084",
            "ssXYZ",
            "ss../../x",
        ] {
            assert_eq!(detection_id(bad), None, "{bad}");
        }
    }
}
