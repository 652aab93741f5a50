//! The embedded SQLite database: opening it and bringing its schema up to date ([`open`]),
//! reads on blocking threads ([`ReadPool`]) and writes through one group-commit writer
//! ([`Writer`]), all over rusqlite.

use std::path::Path;
use std::time::Duration;

/// Schema migrations, applied in order; the position in this list is the schema version.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/0001_objects.sql"),
    include_str!("../../../migrations/0002_jobs.sql"),
    include_str!("../../../migrations/0003_file_processing.sql"),
    include_str!("../../../migrations/0004_callbacks.sql"),
    include_str!("../../../migrations/0005_detections.sql"),
    include_str!("../../../migrations/0006_job_leases.sql"),
    include_str!("../../../migrations/0007_queue_targets.sql"),
    include_str!("../../../migrations/0008_object_tags.sql"),
    include_str!("../../../migrations/0009_multipart.sql"),
    include_str!("../../../migrations/0010_job_queue_notify.sql"),
];

/// The database's file name in the data directory.
pub const DB_FILE: &str = "hashscan.db";

/// Why the database could not be opened or its schema brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    /// The opening thread ended without an answer, or another step of opening failed.
    #[error("{0}")]
    Other(String),
}

/// Opens (creating if needed) `<dir>/hashscan.db` in WAL mode with full synchronous commits
/// and foreign keys, and applies pending migrations, on a blocking thread. The connection is
/// closed again: reads go through a [`ReadPool`] and writes through a [`Writer`], which open
/// their own.
pub async fn open(dir: &Path) -> Result<(), OpenError> {
    let path = dir.join(DB_FILE);
    tokio::task::spawn_blocking(move || -> Result<(), rusqlite::Error> {
        let mut conn = rusqlite::Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrate(&mut conn)
    })
    .await
    .map_err(|e| OpenError::Other(e.to_string()))??;
    Ok(())
}

/// Read-only connections for reads, opened on demand and kept idle for reuse: [`with`]
/// on plain threads (the job workers, blocking tasks), [`read`] from async code.
///
/// [`with`]: ReadPool::with
/// [`read`]: ReadPool::read
#[derive(Clone)]
pub struct ReadPool {
    inner: std::sync::Arc<ReadPoolInner>,
}

struct ReadPoolInner {
    path: std::path::PathBuf,
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
}

/// Idle read connections kept.
const MAX_IDLE_READERS: usize = 16;

impl ReadPool {
    /// Reads `<dir>/hashscan.db` (which [`open`] has created).
    pub fn new(dir: &Path) -> ReadPool {
        ReadPool {
            inner: std::sync::Arc::new(ReadPoolInner {
                path: dir.join(DB_FILE),
                idle: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    /// Runs `f` on an idle connection (or a new one). Blocks: call it from a plain thread
    /// or a blocking task, never from an async task.
    pub fn with<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let idle = self.inner.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = rusqlite::Connection::open_with_flags(
                    &self.inner.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(Duration::from_secs(10))?;
                conn
            }
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.inner.idle.lock()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
        result
    }
}

/// A read on a blocking thread ended without an answer (its thread panicked, or the runtime
/// is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the read stopped: {0}")]
pub struct ReadStopped(String);

impl ReadPool {
    /// Runs `f` like [`with`](ReadPool::with), on a blocking thread: for async code. One
    /// hand-off between threads for the whole read, where an async driver would hand over
    /// each statement and each row.
    pub async fn read<T, E>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<ReadStopped> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(|e| E::from(ReadStopped(e.to_string())))?
    }
}

/// Applies the migrations after the schema version (`PRAGMA user_version`) in one
/// `BEGIN IMMEDIATE` transaction: all of them or none.
fn migrate(conn: &mut rusqlite::Connection) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()
}

/// Most write operations committed together.
const MAX_BATCH: usize = 256;

/// Group commit: one connection, on a thread of its own, that runs the write operations of
/// many concurrent callers in one transaction and one fsync'd commit.
///
/// A commit in WAL mode with `synchronous = FULL` costs an fsync (about 0.25 ms here), and
/// several connections contending for SQLite's single write lock wait in its busy handler,
/// which sleeps whole milliseconds. Jobs are submitted, claimed and finished by many tasks
/// at once, so their writes queue here instead: the writer takes every operation waiting,
/// runs each inside its own savepoint (an operation that fails leaves no trace and does not
/// disturb the others), commits once, and only then answers each caller. No caller of
/// [`write`](Writer::write) hears "done" before its write is durable; a group made only of
/// [`write_relaxed`](Writer::write_relaxed) operations commits without the fsync.
///
/// The writer drives SQLite directly (rusqlite) on its own thread: an operation's statements
/// run back to back, microseconds each. Through an async driver every statement would be a
/// round trip between threads — measured here at 0.1–0.2 ms each on a busy 2-core machine,
/// which made a job's finish-and-claim cost 1.5 ms. Reads go through a [`ReadPool`].
#[derive(Clone)]
pub struct Writer {
    ops: tokio::sync::mpsc::Sender<Box<dyn Pending>>,
}

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the database writer has stopped")]
    Stopped,
    #[error("the transaction could not be committed: {0}")]
    Commit(String),
}

/// A write operation: runs on the writer's connection, inside a transaction the writer owns
/// (so it must not begin or commit one itself). It runs on the writer's thread: it must not
/// block on anything but the database.
pub type WriteOp<T, E> = Box<dyn FnOnce(&rusqlite::Connection) -> Result<T, E> + Send>;

impl Writer {
    /// Opens a dedicated connection to `<dir>/hashscan.db` (which [`open`] has created and
    /// migrated) and starts the writer thread. The thread ends when every `Writer` clone is
    /// dropped.
    pub async fn open(dir: &Path) -> Result<Writer, WriteError> {
        let path = dir.join(DB_FILE);
        let (conn, checkpoints) =
            tokio::task::spawn_blocking(move || -> Result<_, rusqlite::Error> {
                let conn = rusqlite::Connection::open(&path)?;
                conn.busy_timeout(Duration::from_secs(10))?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "FULL")?;
                conn.pragma_update(None, "foreign_keys", true)?;
                // Checkpoints run on their own thread (`run_checkpointer`); the writer
                // checkpoints only if the log grows past this many pages anyway.
                conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)?;
                conn.pragma_update(None, "cache_size", -16 * 1024)?;
                conn.set_prepared_statement_cache_capacity(64);
                let checkpoints = rusqlite::Connection::open(&path)?;
                checkpoints.busy_timeout(Duration::from_secs(10))?;
                Ok((conn, checkpoints))
            })
            .await
            .map_err(|e| WriteError::Commit(e.to_string()))??;
        let (tx, rx) = tokio::sync::mpsc::channel(4 * MAX_BATCH);
        let (alive, writer_gone) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || {
                run_writer(conn, rx);
                drop(alive);
            })
            .map_err(|e| WriteError::Commit(format!("cannot start the writer thread: {e}")))?;
        std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || run_checkpointer(checkpoints, writer_gone))
            .map_err(|e| WriteError::Commit(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Writer { ops: tx })
    }

    /// Runs `op` in the next group transaction and returns its result once that transaction
    /// is committed. When `op` fails, its writes are rolled back and the others' are kept.
    pub async fn write<T, E>(&self, op: WriteOp<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<WriteError> + Send + 'static,
    {
        self.send(op, true).await
    }

    /// Like [`write`](Writer::write), but the commit need not reach the disk before the
    /// caller hears "done": when every operation of a group is relaxed, the group commits
    /// without an fsync (`synchronous = NORMAL`). It is as safe as a durable write against a
    /// crash of the process (the log is in the operating system's cache) and it stays in
    /// order: the next durable commit makes it durable with everything before it, and one
    /// comes at least every [`RELAXED_AT_MOST`] while writes go on (or the checkpoint
    /// thread's next checkpoint when they stop). Only a power loss within that time can undo
    /// it, so use it only for writes whose loss is harmless — a worker's claim, lease
    /// renewal or finish, which the lease makes safe to run again.
    pub async fn write_relaxed<T, E>(&self, op: WriteOp<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<WriteError> + Send + 'static,
    {
        self.send(op, false).await
    }

    async fn send<T, E>(&self, op: WriteOp<T, E>, durable: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<WriteError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let call: Box<dyn Pending> = Box::new(Call { op, reply, durable });
        if self.ops.send(call).await.is_err() {
            return Err(WriteError::Stopped.into());
        }
        answer.await.map_err(|_| E::from(WriteError::Stopped))?
    }
}

/// Runs a statement without results from the connection's statement cache (a savepoint or a
/// transaction statement per operation would otherwise be parsed again each time).
fn exec_cached(conn: &rusqlite::Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// A queued operation, type-erased.
trait Pending: Send {
    /// Runs the operation in its savepoint; `false` when the savepoint itself could not be
    /// set or undone, which leaves the transaction in an unknown state.
    fn run(self: Box<Self>, conn: &rusqlite::Connection) -> (Box<dyn Settle>, bool);
    /// Answers without running (the transaction could not begin).
    fn fail(self: Box<Self>, error: &str);
    /// Whether its commit must reach the disk before it is answered.
    fn durable(&self) -> bool;
}

/// An operation that ran, waiting for the commit to answer its caller.
trait Settle: Send {
    fn settle(self: Box<Self>, committed: Result<(), &str>);
}

struct Call<T, E> {
    op: WriteOp<T, E>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    durable: bool,
}

struct Ran<T, E> {
    result: Result<T, E>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
}

impl<T: Send + 'static, E: From<WriteError> + Send + 'static> Pending for Call<T, E> {
    fn run(self: Box<Self>, conn: &rusqlite::Connection) -> (Box<dyn Settle>, bool) {
        let Call { op, reply, .. } = *self;
        if let Err(e) = exec_cached(conn, "SAVEPOINT op") {
            let ran = Ran::<T, E> {
                result: Err(WriteError::Sql(e).into()),
                reply,
            };
            return (Box::new(ran), false);
        }
        let result = op(conn);
        let undo = if result.is_ok() {
            exec_cached(conn, "RELEASE op")
        } else {
            exec_cached(conn, "ROLLBACK TO op").and_then(|()| exec_cached(conn, "RELEASE op"))
        };
        (Box::new(Ran { result, reply }), undo.is_ok())
    }

    fn fail(self: Box<Self>, error: &str) {
        let _ = self
            .reply
            .send(Err(WriteError::Commit(error.to_string()).into()));
    }

    fn durable(&self) -> bool {
        self.durable
    }
}

impl<T: Send + 'static, E: From<WriteError> + Send + 'static> Settle for Ran<T, E> {
    fn settle(self: Box<Self>, committed: Result<(), &str>) {
        let answer = match committed {
            Ok(()) => self.result,
            Err(e) => Err(WriteError::Commit(e.to_string()).into()),
        };
        let _ = self.reply.send(answer);
    }
}

/// How long relaxed commits may go without a durable one while writes go on (when they
/// stop, the checkpoint thread's next checkpoint syncs the log).
const RELAXED_AT_MOST: Duration = Duration::from_millis(500);

/// How often the checkpoint thread copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Log size (pages) at which the writer checkpoints by itself, should the checkpoint thread
/// fall behind (SQLite's default is 1,000).
const WAL_BACKSTOP_PAGES: i64 = 20_000;

/// Checkpoints the write-ahead log every [`CHECKPOINT_EVERY`] until the writer thread ends.
///
/// With SQLite's automatic checkpoints, every ~1,000 pages one commit of the writer also
/// copied the log into the database file; measured during a drain of small jobs, that
/// copying was a tenth of the writer's time, on the path every job's commit waits on. A
/// passive checkpoint on a connection of its own runs beside the writer instead.
fn run_checkpointer(conn: rusqlite::Connection, writer_gone: std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        writer_gone.recv_timeout(CHECKPOINT_EVERY)
    {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint failed");
        }
    }
}

fn run_writer(conn: rusqlite::Connection, mut ops: tokio::sync::mpsc::Receiver<Box<dyn Pending>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The connection is opened with synchronous = FULL.
    let mut synchronous_full = true;
    let mut last_durable = std::time::Instant::now();
    while let Some(first) = ops.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // An fsync per commit only when someone waits for durability (`write_relaxed`), or
        // when the last one is older than RELAXED_AT_MOST: relaxed writes are never left
        // undurable for longer while writes go on.
        let durable =
            batch.iter().any(|op| op.durable()) || last_durable.elapsed() >= RELAXED_AT_MOST;
        if durable {
            last_durable = std::time::Instant::now();
        }
        if durable != synchronous_full {
            let mode = if durable { "FULL" } else { "NORMAL" };
            match conn.pragma_update(None, "synchronous", mode) {
                Ok(()) => synchronous_full = durable,
                Err(e) => tracing::error!(error = %e, "cannot set synchronous = {mode}"),
            }
        }
        if let Err(e) = exec_cached(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
            let msg = e.to_string();
            batch.drain(..).for_each(|op| op.fail(&msg));
            continue;
        }
        let mut ran = Vec::with_capacity(batch.len());
        let mut sound = true;
        for op in batch.drain(..) {
            let (settle, ok) = op.run(&conn);
            ran.push(settle);
            sound &= ok;
        }
        let committed = if sound {
            exec_cached(&conn, "COMMIT").map_err(|e| e.to_string())
        } else {
            Err("a savepoint could not be undone".to_string())
        };
        if let Err(e) = &committed {
            tracing::error!(error = %e, "write transaction failed; rolling back");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for settle in ran {
            settle.settle(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum TestError {
        #[error("{0}")]
        Write(#[from] WriteError),
        #[error("sql: {0}")]
        Sql(#[from] rusqlite::Error),
        #[error("refused")]
        Refused,
        #[error("{0}")]
        Stopped(#[from] ReadStopped),
    }

    fn insert(n: i64, fail: bool) -> WriteOp<i64, TestError> {
        Box::new(move |conn| {
            conn.prepare_cached("INSERT INTO t (n) VALUES (?)")?
                .execute([n])?;
            if fail {
                return Err(TestError::Refused);
            }
            Ok(n)
        })
    }

    async fn create_table(writer: &Writer, sql: &'static str) {
        writer
            .write(Box::new(move |conn| -> Result<(), TestError> {
                Ok(conn.execute_batch(sql)?)
            }))
            .await
            .unwrap();
    }

    /// The `synchronous` setting an operation's group commits with.
    fn synchronous() -> WriteOp<i64, TestError> {
        Box::new(|conn| Ok(conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
    }

    #[tokio::test]
    async fn open_migrates_once_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path()).await.unwrap();
        // Opening again finds the schema up to date and applies nothing twice (0003 adds
        // columns, which would fail the second time).
        open(dir.path()).await.unwrap();
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'
                 AND name IN ('buckets', 'objects', 'queues', 'jobs', 'deliveries',
                              'detections', 'detect_uploads')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_a_group_of_relaxed_writes_commits_without_fsync() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path()).await.unwrap();
        let writer = Writer::open(dir.path()).await.unwrap();
        // One operation per group (each awaited): 2 is FULL (fsync per commit), 1 NORMAL.
        assert_eq!(writer.write(synchronous()).await.unwrap(), 2);
        assert_eq!(writer.write_relaxed(synchronous()).await.unwrap(), 1);
        assert_eq!(writer.write_relaxed(synchronous()).await.unwrap(), 1);
        assert_eq!(writer.write(synchronous()).await.unwrap(), 2);
        // A group with one durable operation commits durably for all.
        let (a, b) = tokio::join!(
            writer.write_relaxed(synchronous()),
            writer.write(synchronous())
        );
        a.unwrap(); // in the same group or the one before: either setting
        assert_eq!(b.unwrap(), 2);
        // Relaxed writes go without an fsync for at most RELAXED_AT_MOST.
        tokio::time::sleep(RELAXED_AT_MOST + Duration::from_millis(100)).await;
        assert_eq!(writer.write_relaxed(synchronous()).await.unwrap(), 2);
        assert_eq!(writer.write_relaxed(synchronous()).await.unwrap(), 1);
        // A relaxed write is committed (visible to readers) when it is answered.
        writer
            .write_relaxed(Box::new(|conn| -> Result<(), TestError> {
                conn.execute_batch("CREATE TABLE r (n INTEGER); INSERT INTO r VALUES (7);")?;
                Ok(())
            }))
            .await
            .unwrap();
        let n: i64 = ReadPool::new(dir.path())
            .with(|c| c.query_row("SELECT n FROM r", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpoint_thread_copies_the_log_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path()).await.unwrap();
        let writer = Writer::open(dir.path()).await.unwrap();
        create_table(&writer, "CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)").await;
        let db_file = dir.path().join(DB_FILE);
        let before = std::fs::metadata(&db_file).unwrap().len();
        // About 2 MiB, 500 pages: far below the writer's own checkpoint threshold, so only
        // the checkpoint thread can bring these pages from the log into the database file.
        writer
            .write(Box::new(|conn: &rusqlite::Connection| {
                for n in 0..500 {
                    conn.prepare_cached("INSERT INTO t (n, pad) VALUES (?, zeroblob(4000))")?
                        .execute([n])?;
                }
                Ok::<_, TestError>(())
            }))
            .await
            .unwrap();
        let mut size = before;
        for _ in 0..100 {
            size = std::fs::metadata(&db_file).unwrap().len();
            if size >= 2_000_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            size >= 2_000_000,
            "database file still {size} bytes (was {before}) after 10 s"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_commit_together_and_a_failed_one_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path()).await.unwrap();
        let writer = Writer::open(dir.path()).await.unwrap();
        create_table(&writer, "CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
        let calls = (0..200).map(|n| {
            let w = writer.clone();
            tokio::spawn(async move { w.write(insert(n, n % 7 == 3)).await })
        });
        let results = futures_util::future::join_all(calls).await;
        for (n, r) in results.into_iter().enumerate() {
            match r.unwrap() {
                Ok(v) => assert_eq!(v, n as i64),
                Err(TestError::Refused) => assert_eq!(n % 7, 3),
                Err(e) => panic!("{n}: {e}"),
            }
        }
        // Every answer came after its commit: a fresh connection sees exactly the kept rows.
        let kept: Vec<i64> = ReadPool::new(dir.path())
            .read(|conn| -> Result<Vec<i64>, TestError> {
                let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n")?;
                let kept = stmt.query_map([], |r| r.get(0))?;
                Ok(kept.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        let expected: Vec<i64> = (0..200).filter(|n| n % 7 != 3).collect();
        assert_eq!(kept, expected);
        // A duplicate key fails alone; the next write still goes through.
        assert!(matches!(
            writer.write(insert(0, false)).await,
            Err(TestError::Sql(_))
        ));
        assert_eq!(writer.write(insert(1000, false)).await.unwrap(), 1000);
    }
}
