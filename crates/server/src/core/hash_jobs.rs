//! `HashJobs`: the one place hash work is decided — submitting FileHashCode jobs (COS
//! `POST /file_jobs`, `/v1/hash`), hashing an object now (COS `?ci-process=filehash`), and
//! running a job on a worker. A job and the synchronous hash share [`hash_stored_object`]:
//! the same object lookup, limit, read, AddToHeader and failures.
//!
//! A job's worker streams the object through the digest engine on its own thread, renewing
//! the lease from the read loop; with AddToHeader the digest is merged into the object's
//! metadata without rewriting its data.

use std::sync::Arc;

use hashscan_digest::{Algorithm, AlgorithmSet, Hasher, Options};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::failure::{Failure, FailureKind};
use crate::core::objects::{ObjectMeta, ObjectStore, StoreError};
use crate::core::workers::{JobFailure, JobHandler, JobRun, RENEW_EVERY, WorkSignal};
use crate::meta::jobs::{
    HASH_TAG, Job, JobCallback, JobError, JobPage, JobState, JobStore, ListFilter, NewJob, Queue,
    QueueNotify, QueueState,
};

/// Largest object a hash job accepts (COS: "< 50 GB").
pub const MAX_JOB_OBJECT: u64 = 50 * 1024 * 1024 * 1024;
/// Largest object hashed synchronously (COS: "< 128 MB"); larger ones go through jobs.
pub const SYNC_HASH_LIMIT: u64 = 128 * 1024 * 1024;
/// Objects up to this size are hashed on one thread (no lane threads).
const SMALL_OBJECT: u64 = 16 * 1024 * 1024;

/// A hash algorithm of the file-hash APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashType {
    Md5,
    Sha1,
    Sha256,
}

impl HashType {
    pub const ALL: [HashType; 3] = [HashType::Md5, HashType::Sha1, HashType::Sha256];

    /// Any case of `MD5`, `SHA1`, `SHA256`, surrounding white space ignored.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(value))
    }

    /// The canonical spelling, as COS shows it: `MD5`, `SHA1`, `SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashType::Md5 => "MD5",
            HashType::Sha1 => "SHA1",
            HashType::Sha256 => "SHA256",
        }
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            HashType::Md5 => Algorithm::Md5,
            HashType::Sha1 => Algorithm::Sha1,
            HashType::Sha256 => Algorithm::Sha256,
        }
    }

    /// The metadata header AddToHeader writes: `x-cos-meta-md5` …
    pub fn meta_header(self) -> String {
        format!("x-cos-meta-{}", self.algorithm().name())
    }
}

/// What a FileHashCode job works on, as stored in the job's input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HashJobInput {
    pub object: String,
    pub region: String,
    /// `MD5`, `SHA1` or `SHA256`.
    #[serde(rename = "type")]
    pub hash_type: String,
    pub add_to_header: bool,
    pub user_data: Option<String>,
    pub callback: Option<String>,
    pub callback_format: Option<String>,
}

/// The result of a finished hash job, and of a synchronous hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HashJobResult {
    pub digest: String,
    pub size: u64,
    /// Unix milliseconds.
    pub last_modified: i64,
    /// MD5 hex of the object, unquoted.
    pub etag: String,
}

/// A hash job to submit.
#[derive(Debug, Clone)]
pub struct HashSpec {
    pub bucket: String,
    pub region: String,
    pub object: String,
    pub hash_type: HashType,
    pub add_to_header: bool,
    pub user_data: Option<String>,
    /// Where the finished job is announced, and in which body format.
    pub callback: JobCallback,
    /// The queue; the bucket's default queue when `None`.
    pub queue_id: Option<String>,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the input object {0:?} does not exist")]
    NoSuchObject(String),
    #[error("the object is {size} bytes; hash jobs take objects under 50 GB")]
    TooLarge { size: u64 },
    #[error("the queue {0:?} does not exist in this bucket")]
    NoSuchQueue(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Jobs(#[from] JobError),
}

/// Why hash jobs were not cancelled (none of them was).
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("job {0} does not exist")]
    NoSuchJob(String),
    #[error("job {0} is {1} and cannot be cancelled: only Submitted or Pause jobs can")]
    NotCancellable(String, JobState),
    #[error(transparent)]
    Store(#[from] JobError),
}

impl SubmitError {
    /// Whether a store cannot be reached just now (try again).
    pub fn is_unavailable(&self) -> bool {
        match self {
            SubmitError::Store(e) => e.is_unavailable(),
            SubmitError::Jobs(e) => e.is_unavailable(),
            _ => false,
        }
    }
}

impl CancelError {
    /// Whether the job store cannot be reached just now (try again).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CancelError::Store(e) if e.is_unavailable())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The hash-job service.
#[derive(Clone)]
pub struct HashJobs {
    store: ObjectStore,
    jobs: Arc<dyn JobStore>,
    work: WorkSignal,
    metrics: Arc<crate::metrics::Metrics>,
}

impl HashJobs {
    pub fn new(
        store: ObjectStore,
        jobs: Arc<dyn JobStore>,
        work: WorkSignal,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> HashJobs {
        HashJobs {
            store,
            jobs,
            work,
            metrics,
        }
    }

    /// Submits a job: the object must exist and be under 50 GB, the queue (if named) must
    /// be the bucket's; idle workers are woken.
    pub async fn submit(&self, spec: HashSpec) -> Result<Job, SubmitError> {
        let object = match self.store.head(&spec.bucket, &spec.object).await {
            Ok(o) => o,
            Err(StoreError::NoSuchKey) => return Err(SubmitError::NoSuchObject(spec.object)),
            Err(e) => return Err(SubmitError::Store(e)),
        };
        if object.size > MAX_JOB_OBJECT {
            return Err(SubmitError::TooLarge { size: object.size });
        }
        let queue = match &spec.queue_id {
            Some(id) => self
                .jobs
                .queue(id)
                .await?
                .filter(|q| q.bucket == spec.bucket)
                .ok_or_else(|| SubmitError::NoSuchQueue(id.clone()))?,
            None => self.jobs.default_queue(&spec.bucket).await?,
        };
        let input = HashJobInput {
            object: spec.object,
            region: spec.region,
            hash_type: spec.hash_type.as_str().to_string(),
            add_to_header: spec.add_to_header,
            user_data: spec.user_data,
            callback: match &spec.callback {
                JobCallback::To(c) => Some(c.url.clone()),
                // Echoed as sent.
                JobCallback::Off => Some("no".to_string()),
                JobCallback::Queue => None,
            },
            callback_format: spec.callback.target().and_then(|c| c.format.clone()),
        };
        let input = serde_json::to_value(&input)
            .map_err(|e| JobError::Unavailable(format!("cannot encode the job: {e}")))?;
        let job = self
            .jobs
            .submit(NewJob {
                tag: HASH_TAG.to_string(),
                queue_id: queue.id,
                bucket: spec.bucket,
                input,
                callback: spec.callback,
            })
            .await?;
        self.work.notify();
        Ok(job)
    }

    /// Hashes an object now (objects up to [`SYNC_HASH_LIMIT`]): the same path and failures
    /// as a job's execution.
    pub async fn hash_now(
        &self,
        bucket: &str,
        key: &str,
        hash_type: HashType,
        add_to_header: bool,
    ) -> Result<HashJobResult, Failure> {
        let this = self.clone();
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let request = HashRequest {
                bucket: &bucket,
                key: &key,
                hash_type,
                add_to_header,
                max_size: SYNC_HASH_LIMIT,
            };
            hash_stored_object(&this.store, &rt, &request, &mut |_| Ok(()))
                .inspect(|r| this.metrics.hashed(r.size))
                .map_err(|f| match f {
                    JobFailure::Failed(f) => f,
                    JobFailure::LeaseLost => Failure::internal("lease lost"),
                })
        })
        .await
        .map_err(|e| Failure::internal(format!("the hash stopped: {e}")))?
    }

    /// The hash jobs among `ids` that exist, in the order asked (jobs of other kinds, such
    /// as detections, are not hash jobs and are left out).
    pub async fn get(&self, ids: &[String]) -> Result<Vec<Job>, JobError> {
        let mut jobs = self.jobs.get(ids).await?;
        jobs.retain(|j| j.tag == HASH_TAG);
        Ok(jobs)
    }

    /// A page of a bucket's hash jobs.
    pub async fn list(&self, filter: &ListFilter) -> Result<JobPage, JobError> {
        let filter = ListFilter {
            tag: Some(HASH_TAG.to_string()),
            ..filter.clone()
        };
        self.jobs.list(&filter).await
    }

    /// Cancels hash jobs of `bucket`: all of them or, when one does not exist there or has
    /// started, none.
    pub async fn cancel(&self, bucket: &str, ids: &[String]) -> Result<Vec<Job>, CancelError> {
        let found = self.get(ids).await?;
        for id in ids {
            match found.iter().find(|j| &j.id == id && j.bucket == bucket) {
                None => return Err(CancelError::NoSuchJob(id.clone())),
                Some(j) if !matches!(j.state, JobState::Submitted | JobState::Pause) => {
                    return Err(CancelError::NotCancellable(id.clone(), j.state));
                }
                Some(_) => {}
            }
        }
        let mut cancelled = Vec::with_capacity(ids.len());
        for id in ids {
            cancelled.push(self.jobs.cancel(id, now_ms()).await?);
        }
        Ok(cancelled)
    }

    /// The queues of a bucket; its default queue exists from the first look (file
    /// processing is on for every bucket).
    pub async fn queues(&self, bucket: &str) -> Result<Vec<Queue>, JobError> {
        self.jobs.default_queue(bucket).await?;
        self.jobs.queues(bucket).await
    }

    /// A queue of `bucket` by id (`None`: no such queue there).
    pub async fn queue(&self, bucket: &str, id: &str) -> Result<Option<Queue>, JobError> {
        Ok(self.jobs.queue(id).await?.filter(|q| q.bucket == bucket))
    }

    /// Renames, pauses or resumes a queue, or changes where its finished jobs are
    /// announced. Resuming releases the queue's held jobs and wakes idle workers now rather
    /// than at their next poll.
    pub async fn update_queue(
        &self,
        id: &str,
        name: Option<&str>,
        state: Option<QueueState>,
        notify: Option<QueueNotify>,
    ) -> Result<Queue, JobError> {
        let queue = self.jobs.update_queue(id, name, state, notify).await?;
        if state == Some(QueueState::Active) {
            self.work.notify();
        }
        Ok(queue)
    }

    /// Makes sure a bucket's default queue exists (file processing turned on).
    pub async fn enable_bucket(&self, bucket: &str) -> Result<Queue, JobError> {
        self.jobs.default_queue(bucket).await
    }

    /// The job kind to register with the worker pool.
    pub fn handler(&self) -> Arc<dyn JobHandler> {
        Arc::new(self.clone())
    }
}

impl JobHandler for HashJobs {
    fn tag(&self) -> &'static str {
        HASH_TAG
    }

    fn run(&self, run: &JobRun<'_>) -> Result<Value, JobFailure> {
        let job = run.job;
        let input: HashJobInput = serde_json::from_value(job.input.clone())
            .map_err(|e| Failure::internal(format!("unreadable job input: {e}")))?;
        let hash_type = HashType::parse(&input.hash_type).ok_or_else(|| {
            Failure::new(
                FailureKind::InvalidInput,
                "Type must be MD5, SHA1 or SHA256",
            )
        })?;
        let request = HashRequest {
            bucket: &job.bucket,
            key: &input.object,
            hash_type,
            add_to_header: input.add_to_header,
            max_size: MAX_JOB_OBJECT,
        };
        let result =
            hash_stored_object(&self.store, run.runtime(), &request, &mut |p| run.renew(p))?;
        self.metrics.hashed(result.size);
        serde_json::to_value(&result)
            .map_err(|e| Failure::internal(format!("cannot encode the result: {e}")).into())
    }
}

/// What to hash.
struct HashRequest<'a> {
    bucket: &'a str,
    key: &'a str,
    hash_type: HashType,
    add_to_header: bool,
    max_size: u64,
}

/// Hashes a stored object on the calling (blocking) thread and, with AddToHeader, merges
/// the digest into its metadata; `renew(progress)` is called every few seconds from the
/// read loop. A concurrent PUT may replace the object between reading its metadata and
/// opening its content: it is looked up again (up to three times).
fn hash_stored_object(
    store: &ObjectStore,
    rt: &tokio::runtime::Handle,
    r: &HashRequest<'_>,
    renew: &mut dyn FnMut(u8) -> Result<(), JobFailure>,
) -> Result<HashJobResult, JobFailure> {
    let alg = r.hash_type.algorithm();
    let not_found = || Failure::new(FailureKind::NotFound, "the input object does not exist");
    let mut attempts = 0;
    let (meta, digests) = loop {
        attempts += 1;
        let meta = match store.head_blocking(r.bucket, r.key) {
            Ok(meta) => meta,
            Err(StoreError::NoSuchKey | StoreError::NoSuchBucket) => return Err(not_found().into()),
            Err(e) => {
                return Err(Failure::internal(format!("cannot read the object: {e}"))
                    .unavailable_if(e.is_unavailable())
                    .into());
            }
        };
        if meta.size > r.max_size {
            return Err(Failure::new(
                FailureKind::TooLarge,
                format!(
                    "the object is {} bytes; the limit is {} bytes",
                    meta.size, r.max_size
                ),
            )
            .into());
        }
        match hash_content(store, &meta, alg, renew)? {
            Some(digests) => break (meta, digests),
            None if attempts < 3 => continue,
            None => return Err(not_found().into()),
        }
    };
    let digest = digests.get(alg).map(|d| d.to_hex()).unwrap_or_default();
    if r.add_to_header {
        // Only this entry changes: the data, its ETag and Last-Modified stay. If the object
        // was replaced meanwhile, the digest belongs to the old content and is not written.
        match rt.block_on(store.set_user_meta(&meta, &r.hash_type.meta_header(), &digest)) {
            Ok(()) => {}
            Err(StoreError::NoSuchKey) => {
                return Err(Failure::new(
                    FailureKind::NotFound,
                    "the object was deleted or replaced while it was hashed",
                )
                .into());
            }
            Err(e) => {
                return Err(Failure::internal(format!("cannot write the header: {e}"))
                    .unavailable_if(e.is_unavailable())
                    .into());
            }
        }
    }
    Ok(HashJobResult {
        digest,
        size: meta.size,
        last_modified: meta.last_modified,
        etag: meta.etag,
    })
}

/// Hashes the content of `meta`; `None` when the content is gone (the object was replaced).
fn hash_content(
    store: &ObjectStore,
    meta: &ObjectMeta,
    alg: Algorithm,
    renew: &mut dyn FnMut(u8) -> Result<(), JobFailure>,
) -> Result<Option<hashscan_digest::Digests>, JobFailure> {
    let mut file = match store.open_content_blocking(meta) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::internal(format!("cannot read the object: {e}"))
                .unavailable_if(crate::core::failure::io_unavailable(&e))
                .into());
        }
    };
    // One algorithm over a small object: hashing on this thread beats handing chunks to a
    // lane thread.
    let mut options = Options::new().size_hint(meta.size);
    if meta.size <= SMALL_OBJECT {
        options = options.lanes(1);
    }
    let mut h = Hasher::with_options(AlgorithmSet::one(alg), &options);
    let mut reader = Renewing {
        inner: &mut file,
        renew,
        size: meta.size,
        done: 0,
        renewed: std::time::Instant::now(),
    };
    // Small objects are read through this thread's buffer, kept from job to job.
    let read = if meta.size <= SMALL_OBJECT {
        READ_BUF.with_borrow_mut(|buf| {
            if buf.is_empty() {
                buf.resize(SMALL_READ, 0);
            }
            h.update_from_reader_with(&mut reader, buf)
        })
    } else {
        h.update_from_reader(&mut reader)
    };
    match read {
        Ok(_) => Ok(Some(h.finish())),
        Err(e) if e.get_ref().is_some_and(|e| e.is::<LeaseLost>()) => Err(JobFailure::LeaseLost),
        Err(e) => Err(Failure::new(
            FailureKind::Unreadable,
            format!("cannot read the object: {e}"),
        )
        .unavailable_if(crate::core::failure::io_unavailable(&e))
        .into()),
    }
}

/// Size of a worker thread's read buffer for small objects.
const SMALL_READ: usize = 256 * 1024;

thread_local! {
    /// A worker thread's read buffer for small objects, kept from job to job: allocating,
    /// zeroing and freeing one per job took ~4 % of the CPU of a drain of 1 MiB objects.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The read error that stops hashing when the job's lease was lost.
#[derive(Debug, thiserror::Error)]
#[error("the worker no longer holds the job's lease")]
struct LeaseLost;

/// A reader that calls `renew` with its progress every [`RENEW_EVERY`].
struct Renewing<'a, R> {
    inner: &'a mut R,
    renew: &'a mut dyn FnMut(u8) -> Result<(), JobFailure>,
    size: u64,
    done: u64,
    renewed: std::time::Instant,
}

impl<R: std::io::Read> std::io::Read for Renewing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.renewed.elapsed() >= RENEW_EVERY {
            self.renewed = std::time::Instant::now();
            let progress = (self.done.saturating_mul(100) / self.size.max(1)).min(99) as u8;
            if let Err(JobFailure::LeaseLost) = (self.renew)(progress) {
                return Err(std::io::Error::other(LeaseLost));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_types_in_any_case() {
        assert_eq!(HashType::parse("SHA256"), Some(HashType::Sha256));
        assert_eq!(HashType::parse("Md5"), Some(HashType::Md5));
        assert_eq!(HashType::parse("  sha1\n"), Some(HashType::Sha1));
        assert_eq!(HashType::parse("sha512"), None);
        assert_eq!(HashType::Sha1.meta_header(), "x-cos-meta-sha1");
    }
}
