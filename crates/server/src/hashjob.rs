//! FileHashCode jobs: what a job asks for, how a worker runs it, and the worker pool.
//!
//! Workers claim jobs from the [`JobStore`] with a lease, renew it while hashing (reporting
//! progress), and finish the job only while they hold it; a worker or node that dies only
//! delays its jobs until the lease expires. Hashing streams the object through the digest
//! engine on a blocking thread; with AddToHeader the digest is written into the object's
//! metadata without rewriting its data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Starts `count` workers; they stop claiming when `stop` turns true.
pub fn spawn_workers(
    count: usize,
    node: &str,
    store: ObjectStore,
    jobs: Arc<dyn JobStore>,
    signal: WorkSignal,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count.max(1))
        .map(|i| {
            let owner = format!("{node}/{i}");
            let (store, jobs, signal, mut stop) =
                (store.clone(), jobs.clone(), signal.clone(), stop.clone());
            tokio::spawn(async move {
                while !*stop.borrow() {
                    // Listen for submissions before looking for work, so that a job
                    // submitted between an empty claim and the wait still wakes us.
                    let wake = signal.0.notified();
                    tokio::pin!(wake);
                    wake.as_mut().enable();
                    match jobs.claim(&owner, &[TAG], now_ms(), LEASE_MS).await {
                        Ok(Some(job)) => {
                            // While busy, each finish claims the next job in the same write.
                            let mut next = Some(job);
                            while let Some(job) = next.take() {
                                next = run(&store, jobs.as_ref(), job, &owner, &stop).await;
                            }
                        }
                        Ok(None) => {
                            tokio::select! {
                                () = wake => {}
                                () = tokio::time::sleep(IDLE_POLL) => {}
                                _ = stop.changed() => {}
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot claim jobs");
                            tokio::time::sleep(IDLE_POLL).await;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Runs one claimed job to its end; returns the next job claimed with its finish, unless
/// the pool is stopping.
async fn run(
    store: &ObjectStore,
    jobs: &dyn JobStore,
    job: Job,
    owner: &str,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Option<Job> {
    let id = job.id.clone();
    let outcome = match execute(store, jobs, &job, owner).await {
        Ok(result) => Outcome::Success(json!(result)),
        Err(Failure::LeaseLost) => {
            tracing::warn!(job = %id, "lease lost while running; another worker has the job");
            return None;
        }
        Err(Failure::Job { code, message }) => Outcome::Failed {
            code: code.to_string(),
            message,
        },
    };
    let finished = if *stop.borrow() {
        jobs.finish(&id, owner, now_ms(), outcome)
            .await
            .map(|done| (done, None))
    } else {
        jobs.finish_and_claim(&id, owner, now_ms(), outcome, &[TAG], LEASE_MS)
            .await
    };
    match finished {
        Ok((done, next)) => {
            tracing::info!(job = %id, state = %done.state, "job finished");
            next
        }
        Err(e) => {
            tracing::warn!(job = %id, error = %e, "cannot finish job");
            None
        }
    }
}

enum Failure {
    LeaseLost,
    Job { code: &'static str, message: String },
}

fn failed(code: &'static str, message: impl Into<String>) -> Failure {
    Failure::Job {
        code,
        message: message.into(),
    }
}

async fn execute(
    store: &ObjectStore,
    jobs: &dyn JobStore,
    job: &Job,
    owner: &str,
) -> Result<HashJobResult, Failure> {
    let input: HashJobInput = serde_json::from_value(job.input.clone())
        .map_err(|e| failed("InternalError", format!("unreadable job input: {e}")))?;
    let alg = algorithm(&input.hash_type)
        .ok_or_else(|| failed("InvalidArgument", "Type must be MD5, SHA1 or SHA256"))?;
    let (meta, file) = match store.open_object(&job.bucket, &input.object).await {
        Ok(x) => x,
        Err(StoreError::NoSuchKey | StoreError::NoSuchBucket) => {
            return Err(failed(
                "ResourceNotFound",
                "the input object does not exist",
            ));
        }
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
    let done = Arc::new(AtomicU64::new(0));
    let mut file = file.into_std().await;
    let (size, counter) = (meta.size, done.clone());
    let mut hashing = tokio::task::spawn_blocking(move || {
        let mut h = Hasher::with_options(AlgorithmSet::one(alg), &Options::new().size_hint(size));
        let mut reader = Progress {
            inner: &mut file,
            done: &counter,
        };
        h.update_from_reader(&mut reader).map(|_| h.finish())
    });
    let mut ticker = tokio::time::interval(RENEW_EVERY);
    ticker.tick().await;
    let digests = loop {
        tokio::select! {
            joined = &mut hashing => break joined,
            _ = ticker.tick() => {
                let progress = (done.load(Ordering::Relaxed).saturating_mul(100) / size.max(1)).min(99) as u8;
                match jobs.renew(&job.id, owner, now_ms(), LEASE_MS, progress).await {
                    Ok(()) => {}
                    Err(JobError::LeaseLost) => return Err(Failure::LeaseLost),
                    Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot renew lease"),
                }
            }
        }
    };
    let digests = digests
        .map_err(|e| failed("InternalError", format!("hashing stopped: {e}")))?
        .map_err(|e| failed("InternalError", format!("cannot read the object: {e}")))?;
    let digest = digests.get(alg).map(|d| d.to_hex()).unwrap_or_default();
    if input.add_to_header {
        let mut updated = meta.clone();
        updated
            .user_meta
            .insert(format!("x-cos-meta-{}", alg.name()), digest.clone());
        match store.rewrite_meta(&updated).await {
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

/// A reader that counts what it read, for progress reports.
struct Progress<'a, R> {
    inner: &'a mut R,
    done: &'a AtomicU64,
}

impl<R: std::io::Read> std::io::Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
