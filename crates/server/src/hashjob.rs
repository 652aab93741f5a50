//! FileHashCode jobs: what a job asks for, how a worker runs it, and the worker pool.
//!
//! Workers claim jobs from the [`JobStore`] with a lease, renew it while hashing (reporting
//! progress), and finish the job only while they hold it; a worker or node that dies only
//! delays its jobs until the lease expires. Each worker is a thread of its own, on which a
//! hash job streams the object through the digest engine; with AddToHeader the digest is
//! written into the object's metadata without rewriting its data.

use std::sync::Arc;
use std::time::Duration;

use hashscan_digest::{Algorithm, AlgorithmSet, Hasher, Options};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::jobs::{Job, JobError, JobStore, Outcome};
use crate::store::{ObjectStore, StoreError};

/// The tag of hash jobs.
pub const TAG: &str = "FileHashCode";
/// Largest object a hash job accepts (COS: "< 50 GB").
pub const MAX_JOB_OBJECT: u64 = 50 * 1024 * 1024 * 1024;
/// How long a claim lasts without renewal.
pub const LEASE_MS: i64 = 30_000;
/// How often a running job renews its lease and reports progress.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// Objects up to this size are hashed on one thread (no lane threads).
const SMALL_OBJECT: u64 = 16 * 1024 * 1024;
/// How long an idle worker waits before looking for work again (it is also woken on submit).
const IDLE_POLL: Duration = Duration::from_millis(500);

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

/// The result of a finished hash job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HashJobResult {
    pub digest: String,
    pub size: u64,
    /// Unix milliseconds.
    pub last_modified: i64,
    /// MD5 hex of the object, unquoted.
    pub etag: String,
}

/// The digest algorithm of a `Type` value.
pub fn algorithm(hash_type: &str) -> Option<Algorithm> {
    match hash_type.to_ascii_uppercase().as_str() {
        "MD5" => Some(Algorithm::Md5),
        "SHA1" => Some(Algorithm::Sha1),
        "SHA256" => Some(Algorithm::Sha256),
        _ => None,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Wakes idle workers when a job is submitted.
#[derive(Clone, Default)]
pub struct WorkSignal(Arc<tokio::sync::Notify>);

impl WorkSignal {
    pub fn notify(&self) {
        self.0.notify_waiters();
    }
}

/// Starts `count` workers; they stop claiming when `stop` turns true (or its sender is
/// dropped). The handles complete when the workers have stopped.
///
/// A worker is an OS thread of its own, not a task: a hash job's metadata lookup, file open,
/// hashing and lease renewals all run on it, and its only hand-off per job is the store's
/// write (for SQLite, the group-commit writer, `crate::db::Writer`). As tasks, each job
/// crossed threads five or six times (runtime, database pool, blocking pool), which on a
/// 2-core machine cost more than hashing a 1 MiB object. Asynchronous work (the job store,
/// detection jobs) is driven from the thread with the runtime's `Handle::block_on`.
pub fn spawn_workers(
    count: usize,
    pool: Pool,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    // Detection jobs are claimed only by a node that has a detector.
    let tags: &'static [&'static str] = if pool.detect.is_some() {
        &[TAG, crate::detections::TAG]
    } else {
        &[TAG]
    };
    let rt = tokio::runtime::Handle::current();
    let pool = Arc::new(pool);
    (0..count.max(1))
        .map(|i| {
            let worker = Worker {
                owner: format!("{}/{i}", pool.node),
                rt: rt.clone(),
                pool: pool.clone(),
                stop: stop.clone(),
                tags,
            };
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            let spawned = std::thread::Builder::new()
                .name(format!("job-worker-{i}"))
                .spawn(move || {
                    worker.run();
                    let _ = done_tx.send(());
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a job worker thread");
            }
            // Not `spawn_blocking`: a runtime being dropped waits for its blocking tasks,
            // and a worker must never hold one up.
            tokio::spawn(async move {
                let _ = done_rx.await;
            })
        })
        .collect()
}

/// What the job workers of a node share.
pub struct Pool {
    /// This node's name; a worker's lease owner is `<node>/<n>`.
    pub node: String,
    pub store: ObjectStore,
    pub jobs: Arc<dyn JobStore>,
    /// The detection engine and service; without it the node runs hash jobs only.
    pub detect: Option<crate::detectjob::DetectCtx>,
    pub signal: WorkSignal,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// One job worker: what its thread needs.
struct Worker {
    owner: String,
    rt: tokio::runtime::Handle,
    pool: Arc<Pool>,
    stop: tokio::sync::watch::Receiver<bool>,
    tags: &'static [&'static str],
}

impl Worker {
    fn stopping(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    /// Claims and runs jobs until the pool stops.
    fn run(mut self) {
        while !self.stopping() {
            let claimed = self.rt.clone().block_on(self.claim_or_wait());
            let mut next = claimed;
            while let Some(job) = next.take() {
                next = self.run_job(job);
            }
        }
    }

    /// Claims a job; when there is none, waits for a submission, the poll interval or the
    /// stop before answering `None`.
    async fn claim_or_wait(&mut self) -> Option<Job> {
        // Listen for submissions before looking for work, so that a job submitted between
        // an empty claim and the wait still wakes us.
        let wake = self.pool.signal.0.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        match self
            .pool
            .jobs
            .claim(&self.owner, self.tags, now_ms(), LEASE_MS)
            .await
        {
            Ok(Some(job)) => return Some(job),
            Ok(None) => {
                tokio::select! {
                    () = wake => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    _ = self.stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot claim jobs");
                tokio::select! {
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    _ = self.stop.changed() => {}
                }
            }
        }
        None
    }

    /// Runs one claimed job to its end; returns the next job claimed with its finish, unless
    /// the pool is stopping.
    fn run_job(&self, job: Job) -> Option<Job> {
        let id = job.id.clone();
        let executed = match (job.tag.as_str(), &self.pool.detect) {
            (TAG, _) => execute(self, &job)
                .inspect(|r| self.pool.metrics.hashed(r.size))
                .map(|r| json!(r)),
            (crate::detections::TAG, Some(ctx)) => self.rt.block_on(crate::detectjob::execute(
                ctx,
                &self.pool.store,
                self.pool.jobs.as_ref(),
                &job,
                &self.owner,
                &self.pool.metrics,
            )),
            (tag, _) => Err(failed_owned(
                "InternalError",
                format!("this node cannot run jobs of tag {tag}"),
            )),
        };
        let outcome = match executed {
            Ok(result) => Outcome::Success(result),
            Err(Failure::LeaseLost) => {
                tracing::warn!(job = %id, "lease lost while running; another worker has the job");
                return None;
            }
            Err(Failure::Job { code, message }) => Outcome::Failed { code, message },
        };
        let finished = if self.stopping() {
            self.rt
                .block_on(self.pool.jobs.finish(&id, &self.owner, now_ms(), outcome))
                .map(|done| (done, None))
        } else {
            self.rt.block_on(self.pool.jobs.finish_and_claim(
                &id,
                &self.owner,
                now_ms(),
                outcome,
                self.tags,
                LEASE_MS,
            ))
        };
        match finished {
            Ok((done, next)) => {
                self.pool.metrics.job_finished(&done.tag, done.state);
                tracing::info!(job = %id, state = %done.state, "job finished");
                next
            }
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "cannot finish job");
                None
            }
        }
    }
}

/// Why a job did not succeed.
pub(crate) enum Failure {
    /// Another worker has the job now: leave it alone.
    LeaseLost,
    /// The job failed with this code and message.
    Job { code: String, message: String },
}

pub(crate) fn failed(code: &'static str, message: impl Into<String>) -> Failure {
    failed_owned(code, message)
}

pub(crate) fn failed_owned(code: impl Into<String>, message: impl Into<String>) -> Failure {
    Failure::Job {
        code: code.into(),
        message: message.into(),
    }
}

/// Waits for `task` (work on a blocking thread), renewing the job's lease and reporting
/// `progress()` every few seconds meanwhile.
pub(crate) async fn renewing<T>(
    jobs: &dyn JobStore,
    job: &Job,
    owner: &str,
    progress: impl Fn() -> u8,
    mut task: tokio::task::JoinHandle<T>,
) -> Result<T, Failure> {
    let mut ticker = tokio::time::interval(RENEW_EVERY);
    ticker.tick().await;
    loop {
        tokio::select! {
            joined = &mut task => {
                return joined.map_err(|e| failed("InternalError", format!("the job's work stopped: {e}")));
            }
            _ = ticker.tick() => {
                match jobs.renew(&job.id, owner, now_ms(), LEASE_MS, progress().min(99)).await {
                    Ok(()) => {}
                    Err(JobError::LeaseLost) => {
                        task.abort();
                        return Err(Failure::LeaseLost);
                    }
                    Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot renew lease"),
                }
            }
        }
    }
}

/// Runs a hash job on the worker's thread.
fn execute(w: &Worker, job: &Job) -> Result<HashJobResult, Failure> {
    let input: HashJobInput = serde_json::from_value(job.input.clone())
        .map_err(|e| failed("InternalError", format!("unreadable job input: {e}")))?;
    let alg = algorithm(&input.hash_type)
        .ok_or_else(|| failed("InvalidArgument", "Type must be MD5, SHA1 or SHA256"))?;
    let not_found = || failed("ResourceNotFound", "the input object does not exist");
    // A concurrent PUT may replace the object between reading its metadata and opening its
    // content: look again (as `ObjectStore::open_object` does).
    let mut attempts = 0;
    let (meta, digests) = loop {
        attempts += 1;
        let meta = match w.pool.store.head_blocking(&job.bucket, &input.object) {
            Ok(meta) => meta,
            Err(StoreError::NoSuchKey | StoreError::NoSuchBucket) => return Err(not_found()),
            Err(e) => {
                return Err(failed(
                    "InternalError",
                    format!("cannot read the object: {e}"),
                ));
            }
        };
        if meta.size > MAX_JOB_OBJECT {
            return Err(failed(
                "InvalidArgument",
                format!(
                    "the object is {} bytes; hash jobs take objects under 50 GB",
                    meta.size
                ),
            ));
        }
        match hash_object(w, job, &meta, alg)? {
            Some(digests) => break (meta, digests),
            None if attempts < 3 => continue,
            None => return Err(not_found()),
        }
    };
    let digest = digests.get(alg).map(|d| d.to_hex()).unwrap_or_default();
    if input.add_to_header {
        let name = format!("x-cos-meta-{}", alg.name());
        let set = w.pool.store.set_user_meta(&meta, &name, &digest);
        match w.rt.block_on(set) {
            Ok(()) => {}
            Err(StoreError::NoSuchKey) => {
                return Err(failed(
                    "ResourceNotFound",
                    "the object was deleted or replaced while it was hashed",
                ));
            }
            Err(e) => {
                return Err(failed(
                    "InternalError",
                    format!("cannot write the header: {e}"),
                ));
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

/// Hashes the content of `meta` on the worker's thread, renewing the lease and reporting
/// progress every few seconds from the read loop; `None` when the content is gone (the
/// object was replaced).
fn hash_object(
    w: &Worker,
    job: &Job,
    meta: &crate::store::ObjectMeta,
    alg: Algorithm,
) -> Result<Option<hashscan_digest::Digests>, Failure> {
    let mut file = match w.pool.store.open_content_blocking(meta) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(failed(
                "InternalError",
                format!("cannot read the object: {e}"),
            ));
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
        worker: w,
        job,
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
        Err(e) if e.get_ref().is_some_and(|e| e.is::<LeaseLost>()) => Err(Failure::LeaseLost),
        Err(e) => Err(failed(
            "InternalError",
            format!("cannot read the object: {e}"),
        )),
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

/// A reader that renews the job's lease, with its progress, every [`RENEW_EVERY`].
struct Renewing<'a, R> {
    inner: &'a mut R,
    worker: &'a Worker,
    job: &'a Job,
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
            let w = self.worker;
            match w.rt.block_on(w.pool.jobs.renew(
                &self.job.id,
                &w.owner,
                now_ms(),
                LEASE_MS,
                progress,
            )) {
                Ok(()) => {}
                Err(JobError::LeaseLost) => return Err(std::io::Error::other(LeaseLost)),
                Err(e) => tracing::warn!(job = %self.job.id, error = %e, "cannot renew lease"),
            }
        }
        Ok(n)
    }
}
