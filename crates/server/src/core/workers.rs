//! The job workers: one pool for every job kind, with leases, renewal and wake-ups.
//!
//! A job kind is a [`JobHandler`] registered with the pool; the pool claims jobs of the
//! registered tags from the [`JobStore`] with a lease, hands each to its handler, and
//! finishes the job only while it holds the lease. A worker or node that dies only delays
//! its jobs until the lease expires. Handlers renew the lease while they work, through
//! [`JobRun`], and fail with a neutral [`Failure`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::core::failure::Failure;
use crate::meta::jobs::{Job, JobError, JobStore, Outcome};

/// How long a claim lasts without renewal.
pub const LEASE_MS: i64 = 30_000;
/// How often a running job renews its lease and reports progress.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How long an idle worker waits before looking for work again (it is also woken on
/// submit): the embedded store's interval. With a shared store the other nodes' submissions
/// wake workers too (`crate::meta::postgres::wake`), and the poll is only the fallback
/// ([`SHARED_IDLE_POLL`]).
pub const IDLE_POLL: Duration = Duration::from_millis(500);
/// The idle poll of a node on a shared store: idle nodes must not hammer the database
/// with claims; wake-ups come by LISTEN/NOTIFY.
pub const SHARED_IDLE_POLL: Duration = Duration::from_secs(5);

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Wakes idle workers when a job is submitted: this node's at once, and (with a shared
/// store) the other nodes' through an announcer that coalesces submissions.
#[derive(Clone, Default)]
pub struct WorkSignal {
    local: Arc<tokio::sync::Notify>,
    announce: Arc<tokio::sync::Notify>,
}

impl WorkSignal {
    /// A job was submitted on this node.
    pub fn notify(&self) {
        self.local.notify_waiters();
        // One stored permit however many submissions: the announcer sends one message
        // for all the submissions since it last looked.
        self.announce.notify_one();
    }

    /// Another node announced work: wakes this node's idle workers only.
    pub fn wake_local(&self) {
        self.local.notify_waiters();
    }

    /// Resolves at the next wake-up of this node's idle workers (enable it before looking
    /// for work, so that a wake-up in between is not missed).
    pub fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.local.notified()
    }

    /// Resolves when jobs were submitted on this node since the last call.
    pub async fn submitted(&self) {
        self.announce.notified().await;
    }
}

/// One kind of job: what a worker does with a claimed job of its tag.
pub trait JobHandler: Send + Sync + 'static {
    /// The tag of the jobs this handler runs.
    fn tag(&self) -> &'static str;
    /// Whether this node may claim jobs of the tag now (default: always).
    fn ready(&self) -> bool {
        true
    }
    /// Runs the job on the worker's thread (a plain OS thread: block, or use
    /// [`JobRun::block_on`] for asynchronous work); the value is the job's result.
    fn run(&self, run: &JobRun<'_>) -> Result<Value, JobFailure>;
}

/// Why a job did not succeed.
#[derive(Debug)]
pub enum JobFailure {
    /// Another worker has the job now: leave it alone.
    LeaseLost,
    /// The job failed.
    Failed(Failure),
}

impl From<Failure> for JobFailure {
    fn from(f: Failure) -> Self {
        JobFailure::Failed(f)
    }
}

/// A claimed job, as its handler sees it.
pub struct JobRun<'a> {
    pub job: &'a Job,
    owner: &'a str,
    rt: &'a tokio::runtime::Handle,
    jobs: &'a dyn JobStore,
}

impl JobRun<'_> {
    /// Drives asynchronous work from the worker's thread.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The runtime, for work that drives futures from the worker's thread.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.rt
    }

    /// Renews the job's lease, reporting `progress` (0–99). Blocks.
    pub fn renew(&self, progress: u8) -> Result<(), JobFailure> {
        let renewed = self.rt.block_on(self.jobs.renew(
            &self.job.id,
            self.owner,
            now_ms(),
            LEASE_MS,
            progress.min(99),
        ));
        match renewed {
            Ok(()) => Ok(()),
            Err(JobError::LeaseLost) => Err(JobFailure::LeaseLost),
            Err(e) => {
                tracing::warn!(job = %self.job.id, error = %e, "cannot renew lease");
                Ok(())
            }
        }
    }

    /// Waits for `task` (work on a blocking thread), renewing the job's lease and reporting
    /// `progress()` every few seconds meanwhile.
    pub async fn renewing<T>(
        &self,
        progress: impl Fn() -> u8,
        mut task: tokio::task::JoinHandle<T>,
    ) -> Result<T, JobFailure> {
        let mut ticker = tokio::time::interval(RENEW_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                joined = &mut task => {
                    return joined.map_err(|e| Failure::internal(format!("the job's work stopped: {e}")).into());
                }
                _ = ticker.tick() => {
                    match self.jobs.renew(&self.job.id, self.owner, now_ms(), LEASE_MS, progress().min(99)).await {
                        Ok(()) => {}
                        Err(JobError::LeaseLost) => {
                            task.abort();
                            return Err(JobFailure::LeaseLost);
                        }
                        Err(e) => tracing::warn!(job = %self.job.id, error = %e, "cannot renew lease"),
                    }
                }
            }
        }
    }
}

/// How much of a job's input has been read: the `progress` of [`JobRun::renewing`] for work
/// that reads its input on a blocking thread. Clones share the count.
#[derive(Clone)]
pub struct ReadProgress {
    done: Arc<std::sync::atomic::AtomicU64>,
    size: u64,
}

impl ReadProgress {
    /// Nothing read yet of an input of `size` bytes.
    pub fn new(size: u64) -> Self {
        ReadProgress {
            done: Arc::default(),
            size,
        }
    }

    /// `inner`, counting what is read through it.
    pub fn reader<R: std::io::Read>(&self, inner: R) -> impl std::io::Read + use<R> {
        Counting {
            inner,
            done: self.done.clone(),
        }
    }

    /// The share read, 0–100.
    pub fn percent(&self) -> u8 {
        let done = self.done.load(std::sync::atomic::Ordering::Relaxed);
        (done.saturating_mul(100) / self.size.max(1)).min(100) as u8
    }
}

struct Counting<R> {
    inner: R,
    done: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Runs `task` now and then every `every` until `stop` changes: the housekeeping loops
/// (expired detections, abandoned multipart uploads). `what` names the work in the log; the
/// task answers how many things it did.
pub fn spawn_periodic<F, Fut, E>(
    what: &'static str,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    task: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, E>> + Send,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        loop {
            match task().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "{what}"),
                Err(e) => tracing::warn!(error = %e, "{what}: failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    })
}

/// What the job workers of a node share.
pub struct Pool {
    /// This node's name; a worker's lease owner is `<node>/<n>`.
    pub node: String,
    pub jobs: Arc<dyn JobStore>,
    /// The job kinds this node runs; it claims jobs of their tags only.
    pub handlers: Vec<Arc<dyn JobHandler>>,
    pub signal: WorkSignal,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// How long an idle worker waits before it looks for work again ([`IDLE_POLL`],
    /// [`SHARED_IDLE_POLL`]).
    pub idle_poll: Duration,
}

/// Starts `count` workers; they stop claiming when `stop` turns true (or its sender is
/// dropped). The handles complete when the workers have stopped.
///
/// A worker is an OS thread of its own, not a task: a hash job's metadata lookup, file open,
/// hashing and lease renewals all run on it, and its only hand-off per job is the store's
/// write (for SQLite, the group-commit writer, `crate::meta::sqlite::db::Writer`). As tasks, each job
/// crossed threads five or six times (runtime, database pool, blocking pool), which on a
/// 2-core machine cost more than hashing a 1 MiB object. Asynchronous work (the job store,
/// detection jobs) is driven from the thread with the runtime's `Handle::block_on`.
pub fn spawn_workers(
    count: usize,
    pool: Pool,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let rt = tokio::runtime::Handle::current();
    let pool = Arc::new(pool);
    (0..count.max(1))
        .map(|i| {
            let worker = Worker {
                owner: format!("{}/{i}", pool.node),
                rt: rt.clone(),
                pool: pool.clone(),
                stop: stop.clone(),
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

/// One job worker: what its thread needs.
struct Worker {
    owner: String,
    rt: tokio::runtime::Handle,
    pool: Arc<Pool>,
    stop: tokio::sync::watch::Receiver<bool>,
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

    /// The tags this worker may claim now: those of the handlers that are ready (a
    /// detection handler is not while this node's rules differ from the active ones).
    fn tags(&self) -> Vec<&'static str> {
        self.pool
            .handlers
            .iter()
            .filter(|h| h.ready())
            .map(|h| h.tag())
            .collect()
    }

    /// Claims a job; when there is none, waits for a submission, the poll interval or the
    /// stop before answering `None`.
    async fn claim_or_wait(&mut self) -> Option<Job> {
        // Listen for submissions before looking for work, so that a job submitted between
        // an empty claim and the wait still wakes us.
        let wake = self.pool.signal.woken();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let tags = self.tags();
        let claimed = if tags.is_empty() {
            Ok(None)
        } else {
            self.pool
                .jobs
                .claim(&self.owner, &tags, now_ms(), LEASE_MS)
                .await
        };
        match claimed {
            Ok(Some(job)) => return Some(job),
            Ok(None) => {
                tokio::select! {
                    () = wake => {}
                    () = tokio::time::sleep(self.pool.idle_poll) => {}
                    _ = self.stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot claim jobs");
                tokio::select! {
                    () = tokio::time::sleep(self.pool.idle_poll.min(IDLE_POLL * 4)) => {}
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
        let handler = self.pool.handlers.iter().find(|h| h.tag() == job.tag);
        let executed = match handler {
            Some(h) => h.run(&JobRun {
                job: &job,
                owner: &self.owner,
                rt: &self.rt,
                jobs: self.pool.jobs.as_ref(),
            }),
            None => Err(JobFailure::Failed(Failure::internal(format!(
                "this node cannot run jobs of tag {}",
                job.tag
            )))),
        };
        let outcome = match executed {
            Ok(result) => Outcome::Success(result),
            Err(JobFailure::LeaseLost) => {
                tracing::warn!(job = %id, "lease lost while running; another worker has the job");
                return None;
            }
            // The metadata or blob store cannot be reached: the job is not failed for it.
            // It keeps its lease until the lease runs out, and is then claimed again, by
            // this node or another, once the store is back.
            Err(JobFailure::Failed(f)) if f.is_unavailable() => {
                tracing::warn!(job = %id, error = %f.message, "a store is unavailable; the job will run again when its lease expires");
                return None;
            }
            Err(JobFailure::Failed(f)) => Outcome::Failed {
                code: f.kind.as_str().to_string(),
                message: f.message,
            },
        };
        let tags = self.tags();
        let finished = if self.stopping() || tags.is_empty() {
            self.rt
                .block_on(self.pool.jobs.finish(&id, &self.owner, now_ms(), outcome))
                .map(|done| (done, None))
        } else {
            self.rt.block_on(self.pool.jobs.finish_and_claim(
                &id,
                &self.owner,
                now_ms(),
                outcome,
                &tags,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::core::failure::FailureKind;
    use crate::meta::jobs::{JobCallback, JobState, NewJob};

    #[test]
    fn the_bytes_read_are_the_progress() {
        use std::io::Read;
        let progress = ReadProgress::new(10_000);
        let mut reader = progress
            .clone()
            .reader(std::io::Cursor::new(vec![1u8; 10_000]));
        let mut buf = [0u8; 4096];
        assert_eq!(reader.read(&mut buf).unwrap(), 4096);
        assert_eq!(progress.percent(), 40);
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        assert_eq!(progress.percent(), 100);
        assert_eq!(ReadProgress::new(0).percent(), 0, "an empty input");
    }

    /// A handler that is ready only when told, and fails as "unavailable" while told to.
    struct Gated {
        ready: AtomicBool,
        unavailable: AtomicBool,
        runs: AtomicUsize,
    }

    impl JobHandler for Arc<Gated> {
        fn tag(&self) -> &'static str {
            "Gated"
        }
        fn ready(&self) -> bool {
            self.ready.load(Ordering::SeqCst)
        }
        fn run(&self, _run: &JobRun<'_>) -> Result<Value, JobFailure> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            if self.unavailable.load(Ordering::SeqCst) {
                return Err(Failure::unavailable("the store is away").into());
            }
            Ok(serde_json::json!({"ok": true}))
        }
    }

    async fn state_of(jobs: &Arc<dyn JobStore>, id: &str) -> JobState {
        jobs.get(&[id.to_string()]).await.unwrap()[0].state
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_that_is_not_ready_claims_nothing_and_an_outage_fails_no_job() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = crate::meta::sqlite::open(dir.path()).await.unwrap().jobs;
        let queue = jobs.default_queue("b-1").await.unwrap();
        let submit = || NewJob {
            tag: "Gated".into(),
            queue_id: queue.id.clone(),
            bucket: queue.bucket.clone(),
            input: serde_json::json!({}),
            callback: JobCallback::Off,
        };
        let gated = Arc::new(Gated {
            ready: AtomicBool::new(false),
            unavailable: AtomicBool::new(true),
            runs: AtomicUsize::new(0),
        });
        let signal = WorkSignal::default();
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let workers = spawn_workers(
            2,
            Pool {
                node: "n".into(),
                jobs: jobs.clone(),
                handlers: vec![Arc::new(gated.clone())],
                signal: signal.clone(),
                metrics: Default::default(),
                idle_poll: Duration::from_millis(50),
            },
            stop,
        );
        let job = jobs.submit(submit()).await.unwrap();
        signal.notify();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            gated.runs.load(Ordering::SeqCst),
            0,
            "claimed while not ready"
        );
        assert_eq!(state_of(&jobs, &job.id).await, JobState::Submitted);

        // Ready, but the store it needs is away: the job runs and is left to its lease,
        // not failed.
        gated.ready.store(true, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while gated.runs.load(Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "never claimed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(state_of(&jobs, &job.id).await, JobState::Running);

        // Once its lease is given up (here: expired at once), it runs again and succeeds.
        gated.unavailable.store(false, Ordering::SeqCst);
        jobs.expire_all_leases().await.unwrap();
        signal.notify();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while state_of(&jobs, &job.id).await != JobState::Success {
            assert!(std::time::Instant::now() < deadline, "not run again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop_tx.send(true);
        for w in workers {
            w.await.unwrap();
        }
    }

    #[test]
    fn failures_keep_their_kind() {
        let f: JobFailure = Failure::new(FailureKind::NotFound, "gone").into();
        match f {
            JobFailure::Failed(f) => {
                assert_eq!(f.kind, FailureKind::NotFound);
                assert_eq!(f.message, "gone");
            }
            JobFailure::LeaseLost => panic!("a failure is not a lost lease"),
        }
    }
}
