//! The durable job store: queues and jobs of every tag (COS FileHashCode now, detection
//! later), claimed by workers with leases.
//!
//! A worker claims a runnable job with a lease (its worker id and an expiry), renews the lease
//! while the job runs, and finishes the job only while it still holds the lease. A job whose
//! lease expired — its worker died, or its node — is runnable again, so a crash only delays it.
//! Queues are Active or Paused: the queued jobs of a paused queue are in state `Pause` and go
//! back to `Submitted` when it is resumed; running jobs are not affected.
//!
//! [`JobStore`] is the interface the rest of the server uses;
//! [`crate::meta::sqlite::jobs::SqliteJobStore`] is the embedded implementation. A PostgreSQL
//! implementation shared by several nodes implements the same trait (claiming with
//! `FOR UPDATE SKIP LOCKED`, lease times from the database clock).

use std::fmt;
use std::str::FromStr;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::meta::BackendError;

/// The tag of hash jobs (COS `FileHashCode`).
pub const HASH_TAG: &str = "FileHashCode";
/// The tag of detection jobs; the job's id is the detection's id.
pub const DETECT_TAG: &str = "FileDetect";

/// The state of a job, as COS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Submitted,
    Running,
    Success,
    Failed,
    Pause,
    Cancel,
}

impl JobState {
    /// Every state, in COS order.
    pub const ALL: [JobState; 6] = [
        JobState::Submitted,
        JobState::Running,
        JobState::Success,
        JobState::Failed,
        JobState::Pause,
        JobState::Cancel,
    ];

    /// The COS name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Submitted => "Submitted",
            JobState::Running => "Running",
            JobState::Success => "Success",
            JobState::Failed => "Failed",
            JobState::Pause => "Pause",
            JobState::Cancel => "Cancel",
        }
    }

    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Success | JobState::Failed | JobState::Cancel
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = JobError;

    /// Parses a COS state name, case-insensitively.
    fn from_str(s: &str) -> Result<Self, JobError> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| JobError::InvalidState(s.to_string()))
    }
}

/// Whether a queue releases its jobs to workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueState {
    Active,
    Paused,
}

impl QueueState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Active => "Active",
            QueueState::Paused => "Paused",
        }
    }
}

/// A queue of jobs, one or more per bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    /// `p` + 32 hex.
    pub id: String,
    pub bucket: String,
    pub name: String,
    pub state: QueueState,
    pub is_default: bool,
    /// Where the queue's finished jobs are announced.
    pub notify: QueueNotify,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A queue's notification settings: where its finished jobs are announced (`target`,
/// `None`: nowhere), and the settings as the dialect that set them shows them back
/// (`settings`, opaque to the store: COS keeps its `NotifyConfig` there).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueNotify {
    pub settings: Value,
    pub target: Option<CallbackTarget>,
}

/// A job to submit.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub tag: String,
    pub queue_id: String,
    pub bucket: String,
    /// What the job works on and how (tag-specific).
    pub input: Value,
    /// Where the finished job is announced.
    pub callback: JobCallback,
}

/// Where a finished job is announced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum JobCallback {
    /// The queue's NotifyConfig, when it is on.
    #[default]
    Queue,
    /// The job's own target, instead of the queue's.
    To(CallbackTarget),
    /// Nowhere, not even the queue's target (COS `CallBack=no`).
    Off,
}

impl JobCallback {
    /// The job's own target, if it has one.
    pub fn target(&self) -> Option<&CallbackTarget> {
        match self {
            JobCallback::To(t) => Some(t),
            _ => None,
        }
    }
}

/// Where and how a finished job is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    pub url: String,
    /// `XML` or `JSON`; `None`: XML.
    pub format: Option<String>,
}

/// A pending callback delivery, claimed by a deliverer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Stable across attempts: receivers de-duplicate by it.
    pub id: String,
    pub job_id: String,
    pub url: String,
    /// `XML` or `JSON`.
    pub format: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A delivery as a job's record shows it: id, state (Pending, Delivered, GivenUp), attempts
/// made, last error.
pub type DeliveryRecord = (String, String, u32, Option<String>);

/// What became of a delivery attempt.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at this time (Unix milliseconds).
    Retry {
        error: String,
        at: i64,
    },
    GiveUp {
        error: String,
    },
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// `f` + 32 hex.
    pub id: String,
    pub tag: String,
    pub queue_id: String,
    pub bucket: String,
    pub state: JobState,
    pub input: Value,
    pub result: Option<Value>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// 0–100.
    pub progress: u8,
    /// Unix milliseconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// How many times a worker claimed it.
    pub attempts: u32,
    pub lease_owner: Option<String>,
    pub lease_expires: Option<i64>,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Success(Value),
    Failed { code: String, message: String },
}

/// Which jobs a listing returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub bucket: String,
    pub tag: Option<String>,
    pub queue_id: Option<String>,
    /// Only jobs whose input is this object key, exactly (COS `inputObject`).
    pub input_object: Option<String>,
    /// Empty: every state.
    pub states: Vec<JobState>,
    /// Unix milliseconds, inclusive.
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    pub size: usize,
    /// Opaque token of the previous page.
    pub next_token: Option<String>,
}

/// A page of a listing and the token of the next page (`None` on the last page).
pub type JobPage = (Vec<Job>, Option<String>);

/// Why a job-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the job does not exist")]
    NoSuchJob,
    #[error("the queue does not exist")]
    NoSuchQueue,
    #[error("job state {0:?} is not one of Submitted, Running, Success, Failed, Pause, Cancel")]
    InvalidState(String),
    #[error("the job is {0} and cannot be cancelled (only Submitted or Pause jobs can)")]
    NotCancellable(JobState),
    #[error("the worker no longer holds the job's lease")]
    LeaseLost,
    #[error("invalid nextToken")]
    InvalidToken,
    /// The store cannot take writes just now (its writer stopped, a commit failed): the
    /// APIs answer "try again".
    #[error("the job store cannot write: {0}")]
    Unavailable(String),
    /// The store's backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl JobError {
    /// Whether the store cannot serve just now (it cannot write, or its backend cannot be
    /// reached) and the request may be tried again: the APIs answer "service unavailable".
    pub fn is_unavailable(&self) -> bool {
        match self {
            JobError::Unavailable(_) => true,
            JobError::Backend(b) => b.is_unavailable(),
            _ => false,
        }
    }
}

/// The job store interface (object safe, so the server holds an `Arc<dyn JobStore>`).
pub trait JobStore: Send + Sync + 'static {
    /// The bucket's default queue, created on first use.
    fn default_queue<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<Queue, JobError>>;
    /// A queue by id.
    fn queue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Queue>, JobError>>;
    /// The queues of a bucket.
    fn queues<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<Vec<Queue>, JobError>>;
    /// Renames, pauses or resumes a queue, or changes its notification settings. Pausing
    /// moves its Submitted jobs to Pause; resuming moves them back.
    fn update_queue<'a>(
        &'a self,
        id: &'a str,
        name: Option<&'a str>,
        state: Option<QueueState>,
        notify: Option<QueueNotify>,
    ) -> BoxFuture<'a, Result<Queue, JobError>>;
    /// Stores a new job: Submitted, or Pause when its queue is paused.
    fn submit(&self, job: NewJob) -> BoxFuture<'_, Result<Job, JobError>>;
    /// The jobs among `ids` that exist, in the order asked.
    fn get<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<Vec<Job>, JobError>>;
    /// Claims a runnable job of `tags` for `owner` until `now + ttl_ms`: the oldest Running
    /// job whose lease expired, or else the oldest Submitted job (of an active queue).
    ///
    /// Claims, renewals and finishes may be answered before they are durable (SQLite:
    /// [`crate::meta::sqlite::db::Writer::write_relaxed`]): a power loss can undo the last of them, which only returns
    /// a job to an earlier state whose lease then expires, and the job runs again.
    fn claim<'a>(
        &'a self,
        owner: &'a str,
        tags: &'a [&'a str],
        now: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Job>, JobError>>;
    /// Extends `owner`'s lease and records progress; `LeaseLost` if it is not its lease.
    fn renew<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        ttl_ms: i64,
        progress: u8,
    ) -> BoxFuture<'a, Result<(), JobError>>;
    /// Ends a job `owner` holds.
    fn finish<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        outcome: Outcome,
    ) -> BoxFuture<'a, Result<Job, JobError>>;
    /// Ends a job `owner` holds and claims the next one for it, in one write: a busy worker
    /// pays for one commit per job instead of two.
    fn finish_and_claim<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        outcome: Outcome,
        tags: &'a [&'a str],
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<(Job, Option<Job>), JobError>>;
    /// Claims the oldest due Pending delivery with a lease.
    fn claim_delivery<'a>(
        &'a self,
        owner: &'a str,
        now: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Delivery>, JobError>>;
    /// Records an attempt of a delivery `owner` holds.
    fn delivery_attempted<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        outcome: DeliveryOutcome,
    ) -> BoxFuture<'a, Result<(), JobError>>;
    /// The deliveries of a job.
    fn deliveries<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeliveryRecord>, JobError>>;
    /// Expires every lease at once: for a store that only this process uses (the embedded
    /// store, behind the data directory's lock), a Running job at start belongs to a worker
    /// of a previous run that died, and need not wait for its lease to run out.
    fn expire_all_leases(&self) -> BoxFuture<'_, Result<u64, JobError>>;
    /// Cancels a Submitted or Pause job.
    fn cancel<'a>(&'a self, id: &'a str, now: i64) -> BoxFuture<'a, Result<Job, JobError>>;
    /// A page of a bucket's jobs and the token of the next page.
    fn list<'a>(&'a self, filter: &'a ListFilter) -> BoxFuture<'a, Result<JobPage, JobError>>;
    /// How many jobs have not ended, by tag and state (Submitted, Running, Pause): one
    /// aggregate read, for the metrics. Ended jobs are left out because they are never
    /// deleted: counting them would cost a scan of every job ever submitted on each scrape.
    fn counts(&self) -> BoxFuture<'_, Result<Vec<JobCount>, JobError>>;
    /// Answers when the store can be read and written (a trivial query on each path), for
    /// readiness probes.
    fn ping(&self) -> BoxFuture<'_, Result<(), JobError>>;
}

/// A number of jobs of a tag in a state: (tag, state, count).
pub type JobCount = (String, String, u64);

/// `prefix` + 32 lower-case hex digits, as COS makes job (`f`) and queue (`p`) ids.
pub fn new_id(prefix: char) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// `prefix` + 32 hex digits: the shape of job (`f`) and queue (`p`) ids (as COS makes
/// them; see [`new_id`]).
pub fn looks_like_id(prefix: char, id: &str) -> bool {
    id.len() == 33 && id.starts_with(prefix) && id[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The id of the callback delivery of job `job_id`: `d` and the job id's hex. A job ends
/// once, so it has at most one delivery; and should a power loss undo a finish (a relaxed
/// write, [`crate::meta::sqlite::db::Writer::write_relaxed`]) after its callback went out, the job's second finish
/// delivers under the same id, which receivers de-duplicate.
pub fn delivery_id(job_id: &str) -> String {
    format!("d{}", job_id.get(1..).unwrap_or(job_id))
}
