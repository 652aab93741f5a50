//! Cloud Infinite file-hash jobs: `POST /file_jobs` and `GET /file_jobs/<id>[,<id>…]`
//! (cos-ci.md §2.2, §2.3), on the ci host and, as the Python SDK's IP/port mode needs, on
//! the cos host. `POST /jobs` with `<Tag>FileHashCode</Tag>` is the same submission (the
//! COS mini-program demo sends it there).

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::Ctx;
use super::ci::cos_time;
use super::ci_xml::{self, CiXmlError};
use super::error::CosError;
use crate::core::failure::FailureKind;
use crate::core::hash_jobs::{HashJobInput, HashJobResult, HashSpec};
use crate::core::objects::StoreError;
use crate::meta::jobs::{CallbackTarget, Job, JobCallback, JobError, JobState};
use crate::xml::{Doc, JsonDoc, XmlWriter};

/// Most ids one query may name.
pub const MAX_QUERY_IDS: usize = 10;

/// Whether `method key` is a file-job request rather than an object operation. On a ci host
/// every such path is; on a cos host only well-formed ones are, so that objects named
/// `file_jobs/...` stay reachable (`multipart`: the request is a multipart upload's, so a
/// `POST /jobs` is one of an object named `jobs`).
pub fn is_file_jobs(method: &Method, key: &str, ci_host: bool, multipart: bool) -> bool {
    if *method == Method::POST && key == "jobs" {
        return ci_host || !multipart;
    }
    match (method, key.strip_prefix("file_jobs")) {
        (&Method::POST, Some("")) => true,
        (&Method::GET, Some(rest)) => match rest.strip_prefix('/') {
            Some(ids) => {
                ci_host
                    || ids
                        .split(',')
                        .all(|id| crate::meta::jobs::looks_like_id('f', id))
            }
            None => false,
        },
        _ => false,
    }
}

impl From<CiXmlError> for CosError {
    fn from(e: CiXmlError) -> Self {
        CosError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
    }
}

impl From<JobError> for CosError {
    fn from(e: JobError) -> Self {
        if e.is_unavailable() {
            return CosError::unavailable(&e);
        }
        match e {
            JobError::NoSuchQueue => CosError::invalid_argument("the QueueId does not exist"),
            JobError::InvalidState(_) | JobError::InvalidToken | JobError::NotCancellable(_) => {
                CosError::invalid_argument(e.to_string())
            }
            JobError::NoSuchJob => CosError::invalid_argument("the job does not exist"),
            JobError::LeaseLost | JobError::Backend(_) | JobError::Unavailable(_) => {
                StoreError::Io(std::io::Error::other(e.to_string())).into()
            }
        }
    }
}

/// Handles a request [`is_file_jobs`] accepted.
pub async fn handle(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: Option<&str>,
    key: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let found = ctx.bucket(bucket, region, false).await?;
    if !found.file_processing {
        return Err(CosError::access_denied(
            "File processing is not enabled for this bucket: POST /file_bucket enables it.",
        ));
    }
    if ctx.method == Method::POST {
        submit(ctx, &found.name, &found.region, body).await
    } else {
        let ids = key.strip_prefix("file_jobs/").unwrap_or_default();
        describe(ctx, &found.name, ids).await
    }
}

async fn submit(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let bytes = super::read_ci_body(body).await?;
    let job = ci_xml::parse_hash_job(&bytes)?;
    if let Some(url) = &job.callback {
        super::check_callback_url(ctx, url).await?;
    }
    let spec = HashSpec {
        bucket: bucket.to_string(),
        region: region.to_string(),
        object: job.object.clone(),
        hash_type: job.hash_type,
        add_to_header: job.add_to_header,
        user_data: job.user_data.clone(),
        callback: match job.callback.clone() {
            Some(url) => JobCallback::To(CallbackTarget {
                url,
                format: job.callback_format.map(|f| f.as_str().to_string()),
            }),
            None if job.callback_off => JobCallback::Off,
            None => JobCallback::Queue,
        },
        queue_id: job.queue_id.clone(),
    };
    let stored = ctx.state.hash_jobs.submit(spec).await?;
    let mut w = XmlWriter::new();
    w.open("Response");
    jobs_detail(&mut w, &stored, false);
    Ok(super::xml_ok(w.finish()))
}

async fn describe(ctx: &Ctx<'_>, bucket: &str, ids: &str) -> Result<Response, CosError> {
    let ids: Vec<String> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(CosError::invalid_argument("No job id given."));
    }
    if ids.len() > MAX_QUERY_IDS {
        return Err(CosError::invalid_argument(format!(
            "At most {MAX_QUERY_IDS} job ids may be queried at once."
        )));
    }
    let found: Vec<Job> = ctx
        .state
        .hash_jobs
        .get(&ids)
        .await?
        .into_iter()
        .filter(|j| j.bucket == bucket)
        .collect();
    let mut w = XmlWriter::new();
    w.open("Response");
    for job in &found {
        jobs_detail(&mut w, job, true);
    }
    for id in ids.iter().filter(|id| !found.iter().any(|j| &j.id == *id)) {
        w.leaf("NonExistJobIds", id);
    }
    Ok(super::xml_ok(w.finish()))
}

/// Writes a `<JobsDetail>` of a hash job; `with_progress` for queries (the submit answer of
/// the docs has no Progress).
pub fn jobs_detail<W: Doc>(w: &mut W, job: &Job, with_progress: bool) {
    let input: Option<HashJobInput> = serde_json::from_value(job.input.clone()).ok();
    let (code, message) = match job.state {
        JobState::Failed => (
            super::error::job_failure_code(FailureKind::from_stored(job.error_code.as_deref()))
                .to_string(),
            job.error_message.clone().unwrap_or_default(),
        ),
        _ => ("Success".to_string(), String::new()),
    };
    let time = |t: Option<i64>| t.map_or_else(|| "-".to_string(), cos_time);
    w.open("JobsDetail")
        .leaf("Code", &code)
        .leaf("Message", &message)
        .leaf("JobId", &job.id)
        .leaf("State", job.state.as_str())
        .leaf("CreationTime", &cos_time(job.created_at))
        .leaf("EndTime", &time(job.ended_at))
        .leaf("StartTime", &time(job.started_at))
        .leaf("QueueId", &job.queue_id)
        .leaf("Tag", &job.tag);
    if with_progress {
        w.leaf("Progress", &job.progress.to_string());
    }
    w.open("Input")
        .leaf("BucketId", &job.bucket)
        .leaf("Object", input.as_ref().map_or("", |i| i.object.as_str()))
        .leaf("Region", input.as_ref().map_or("", |i| i.region.as_str()))
        .close();
    w.open("Operation");
    if let Some(i) = &input {
        w.open("FileHashCodeConfig")
            .leaf("Type", &i.hash_type)
            .leaf(
                "AddToHeader",
                if i.add_to_header { "true" } else { "false" },
            )
            .close();
        if job.state == JobState::Success
            && let Some(r) = job
                .result
                .clone()
                .and_then(|r| serde_json::from_value::<HashJobResult>(r).ok())
        {
            let element = match i.hash_type.as_str() {
                "SHA1" => "SHA1",
                "SHA256" => "SHA256",
                _ => "MD5",
            };
            w.open("FileHashCodeResult")
                .leaf(element, &r.digest)
                .leaf("FileSize", &r.size.to_string())
                .leaf("LastModified", &cos_time(r.last_modified))
                .leaf("Etag", &format!("\"{}\"", r.etag))
                .close();
        }
        if let Some(u) = &i.user_data {
            w.leaf("UserData", u);
        }
    }
    w.close();
    w.close();
}

/// The body of a job-finished callback (cos-ci.md §3): XML
/// `<Response><EventName>TaskFinish</EventName><JobsDetail>…</JobsDetail></Response>`, or
/// JSON `{"EventName":"TaskFinish","JobsDetail":[{…}]}` (no wrapper, JobsDetail an array,
/// values as strings — the shape third-party evidence shows; the spec leaves it UNCONFIRMED).
pub fn callback_body(job: &Job, format: &str) -> (&'static str, Vec<u8>) {
    if format.eq_ignore_ascii_case("JSON") {
        let mut d = JsonDoc::new();
        jobs_detail(&mut d, job, true);
        let detail = d.finish().remove("JobsDetail").unwrap_or_default();
        let body = serde_json::json!({ "EventName": "TaskFinish", "JobsDetail": [detail] });
        ("application/json", body.to_string().into_bytes())
    } else {
        let mut w = XmlWriter::new();
        w.open("Response").leaf("EventName", "TaskFinish");
        jobs_detail(&mut w, job, true);
        ("application/xml", w.finish().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_job_routes() {
        let id = "f93984788066911ed89ed352d4d9d2084";
        assert!(is_file_jobs(&Method::POST, "file_jobs", false, false));
        assert!(is_file_jobs(
            &Method::GET,
            &format!("file_jobs/{id},{id}"),
            false,
            false
        ));
        assert!(!is_file_jobs(
            &Method::GET,
            "file_jobs/report.pdf",
            false,
            false
        ));
        assert!(is_file_jobs(
            &Method::GET,
            "file_jobs/report.pdf",
            true,
            false
        ));
        assert!(!is_file_jobs(&Method::PUT, "file_jobs", true, false));
        assert!(is_file_jobs(&Method::POST, "jobs", true, false));
        assert!(is_file_jobs(&Method::POST, "jobs", false, false));
        // A multipart upload of an object named `jobs` stays one on the cos host.
        assert!(!is_file_jobs(&Method::POST, "jobs", false, true));
        assert!(!is_file_jobs(&Method::GET, "file_jobsx/1", true, false));
    }

    #[test]
    fn job_store_errors() {
        use crate::meta::BackendError;
        let code = |e: JobError| {
            let e = CosError::from(e);
            (e.status.as_u16(), e.code)
        };
        for e in [
            JobError::Unavailable("writer stopped".into()),
            JobError::Backend(BackendError::unavailable("x")),
        ] {
            assert_eq!(code(e), (503, "ServiceUnavailable"));
        }
        for e in [
            JobError::Backend(BackendError::new("x")),
            JobError::LeaseLost,
        ] {
            assert_eq!(code(e), (500, "InternalError"));
        }
        assert_eq!(code(JobError::NoSuchJob), (400, "InvalidArgument"));
        // Through a cancellation, as the queue API renders it.
        let cancel = crate::core::hash_jobs::CancelError::Store(JobError::Backend(
            BackendError::unavailable("x"),
        ));
        assert!(cancel.is_unavailable());
    }
}
