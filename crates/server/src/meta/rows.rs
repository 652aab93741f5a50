//! Rows of either metadata backend read into the core's types, each mapping written once.
//!
//! [`Row`] is what a mapping needs of a row: a few column types read by name. SQLite's rows
//! provide it through `meta::sqlite::rows::Columns`, PostgreSQL's through
//! `meta::postgres::rows`; where the two schemas differ in a type (PostgreSQL's INTEGER
//! counters are 32-bit), the implementation absorbs it.

use serde_json::Value;

use crate::meta::BackendError;
use crate::meta::detections::{Detection, Source, State};
use crate::meta::jobs::{CallbackTarget, Job, JobError, Queue, QueueNotify, QueueState};
use crate::meta::objects::{Bucket, IndexError, ObjectMeta};
use crate::meta::uploads::{Part, Upload, UploadError};

/// A row whose columns are read by name.
pub(crate) trait Row {
    fn text(&self, name: &str) -> Result<String, BackendError>;
    fn text_opt(&self, name: &str) -> Result<Option<String>, BackendError>;
    fn int(&self, name: &str) -> Result<i64, BackendError>;
    fn int_opt(&self, name: &str) -> Result<Option<i64>, BackendError>;
    fn flag(&self, name: &str) -> Result<bool, BackendError>;
    fn bytes(&self, name: &str) -> Result<Vec<u8>, BackendError>;
}

/// The columns [`job`] reads, as a literal so that statements on the workers' path can be
/// built at compile time (`concat!`) rather than formatted per job.
macro_rules! job_columns {
    () => {
        "id, seq, tag, queue_id, bucket, state, input, result, error_code, error_message, \
         progress, created_at, started_at, ended_at, attempts, lease_owner, lease_expires"
    };
}
pub(crate) use job_columns;

/// The columns [`job`] reads.
pub(crate) const JOB_COLUMNS: &str = job_columns!();
/// The columns [`queue`] reads.
pub(crate) const QUEUE_COLUMNS: &str = "id, bucket, name, state, is_default, notify, \
    notify_url, notify_format, created_at, updated_at";
/// The columns [`detection`] reads.
pub(crate) const DETECTION_COLUMNS: &str = "id, hash_key, md5, sha1, sha256, size, state, \
    report, ruleset, error_code, error_message, source, options, created_at, finished_at, \
    expires_at";

pub(crate) fn job(r: &impl Row) -> Result<Job, JobError> {
    let state = r.text("state")?;
    let input = r.text("input")?;
    let result = r.text_opt("result")?;
    Ok(Job {
        id: r.text("id")?,
        tag: r.text("tag")?,
        queue_id: r.text("queue_id")?,
        bucket: r.text("bucket")?,
        state: state.parse()?,
        input: serde_json::from_str(&input).unwrap_or(Value::Null),
        result: result.and_then(|r| serde_json::from_str(&r).ok()),
        error_code: r.text_opt("error_code")?,
        error_message: r.text_opt("error_message")?,
        progress: r.int("progress")?.clamp(0, 100) as u8,
        created_at: r.int("created_at")?,
        started_at: r.int_opt("started_at")?,
        ended_at: r.int_opt("ended_at")?,
        attempts: r.int("attempts")?.clamp(0, i64::from(u32::MAX)) as u32,
        lease_owner: r.text_opt("lease_owner")?,
        lease_expires: r.int_opt("lease_expires")?,
    })
}

pub(crate) fn queue(r: &impl Row) -> Result<Queue, JobError> {
    let notify = r.text("notify")?;
    let url = r.text_opt("notify_url")?;
    let format = r.text_opt("notify_format")?;
    Ok(Queue {
        id: r.text("id")?,
        bucket: r.text("bucket")?,
        name: r.text("name")?,
        state: if r.text("state")? == "Paused" {
            QueueState::Paused
        } else {
            QueueState::Active
        },
        is_default: r.flag("is_default")?,
        notify: QueueNotify {
            settings: serde_json::from_str(&notify).unwrap_or(Value::Null),
            target: url.map(|url| CallbackTarget { url, format }),
        },
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(crate) fn detection(r: &impl Row) -> Result<Detection, JobError> {
    let report = r.text_opt("report")?;
    let source = r.text("source")?;
    let options = r.text("options")?;
    Ok(Detection {
        id: r.text("id")?,
        hash_key: r.text_opt("hash_key")?,
        md5: r.text_opt("md5")?,
        sha1: r.text_opt("sha1")?,
        sha256: r.text_opt("sha256")?,
        size: r.int_opt("size")?.map(|s| s.max(0) as u64),
        state: State::parse(&r.text("state")?),
        report: report.and_then(|r| serde_json::from_str(&r).ok()),
        ruleset: r.text_opt("ruleset")?,
        error_code: r.text_opt("error_code")?,
        error_message: r.text_opt("error_message")?,
        source: serde_json::from_str(&source).unwrap_or(Source::Url { url: String::new() }),
        options: serde_json::from_str(&options).unwrap_or_default(),
        created_at: r.int("created_at")?,
        finished_at: r.int_opt("finished_at")?,
        expires_at: r.int("expires_at")?,
    })
}

/// The columns [`bucket`] reads.
pub(crate) const BUCKET_COLUMNS: &str = "name, region, created_at, public_read, file_processing";
/// The columns [`object`] reads.
pub(crate) const OBJECT_COLUMNS: &str = "bucket, key, blob, size, etag, crc64, content_type, \
    headers, user_meta, tags, last_modified";
/// The columns [`upload`] reads.
pub(crate) const UPLOAD_COLUMNS: &str =
    "upload_id, bucket, key, initiated, content_type, headers, user_meta, tags";

pub(crate) fn bucket(r: &impl Row) -> Result<Bucket, IndexError> {
    Ok(Bucket {
        name: r.text("name")?,
        region: r.text("region")?,
        created_at: r.int("created_at")?,
        public_read: r.flag("public_read")?,
        file_processing: r.flag("file_processing")?,
    })
}

/// An object key, stored as its bytes (so that listings order bytewise in either backend).
fn key(r: &impl Row) -> Result<String, BackendError> {
    String::from_utf8(r.bytes("key")?).map_err(|_| BackendError::new("a stored key is not UTF-8"))
}

pub(crate) fn object(r: &impl Row) -> Result<ObjectMeta, IndexError> {
    let headers = r.text("headers")?;
    let user_meta = r.text("user_meta")?;
    let tags = r.text("tags")?;
    Ok(ObjectMeta {
        bucket: r.text("bucket")?,
        key: key(r)?,
        blob: r.text("blob")?,
        size: r.int("size")?.max(0) as u64,
        etag: r.text("etag")?,
        crc64: r.text("crc64")?.parse().unwrap_or(0),
        content_type: r.text("content_type")?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        user_meta: serde_json::from_str(&user_meta).unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        last_modified: r.int("last_modified")?,
    })
}

pub(crate) fn upload(r: &impl Row) -> Result<Upload, UploadError> {
    let map = |name: &str| -> Result<_, UploadError> {
        Ok(serde_json::from_str(&r.text(name)?).unwrap_or_default())
    };
    Ok(Upload {
        upload_id: r.text("upload_id")?,
        bucket: r.text("bucket")?,
        key: key(r)?,
        initiated: r.int("initiated")?,
        content_type: r.text_opt("content_type")?,
        headers: map("headers")?,
        user_meta: map("user_meta")?,
        tags: map("tags")?,
    })
}

pub(crate) fn part(r: &impl Row) -> Result<Part, UploadError> {
    Ok(Part {
        number: u32::try_from(r.int("part_number")?).unwrap_or(0),
        size: r.int("size")?.max(0) as u64,
        etag: r.text("etag")?,
        crc64: r.text("crc64")?.parse().unwrap_or(0),
        last_modified: r.int("last_modified")?,
        blob: r.text("blob")?,
    })
}
