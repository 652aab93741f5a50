//! File detections: the results of scanning files, kept by MD5, SHA-1 and SHA-256 with the
//! ruleset version they were made under, and the files themselves while results are kept.
//!
//! Every dialect (Alibaba Sas, Volcengine nta, `/v1`) submits and looks up detections here;
//! this is where the decisions are made:
//! - a detection is a job of tag [`TAG`] in the one job store, queue and worker pool (its
//!   row and its job are written in one transaction, so neither exists without the other);
//! - a lookup answers the newest unexpired detection of a hash; a finished result made under
//!   an older ruleset is stale, and the lookup submits a rescan of the stored file (once)
//!   and answers "detecting" meanwhile;
//! - results and files expire after the retention period (default 5 hours) and are swept.
//!
//! Files uploaded or fetched for detection are kept content-addressed under
//! `<data>/detect/<sha256[0..2]>/<sha256>` ([`FileStore`]).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hashscan_detect::{Detector, Report};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::failure::FailureKind;
use crate::core::uploads::{self, Receive, ReceiveError};
use crate::core::workers::WorkSignal;
use crate::db::{ReadPool, Writer};
use crate::jobs::{JobError, JobStore, NewJob, insert_job_in, op};
use crate::rows::{self, Columns};

/// The tag of detection jobs.
pub const TAG: &str = crate::jobs::DETECT_TAG;
/// The pseudo-bucket whose default queue carries detection jobs (not a valid COS bucket
/// name, so it never shows in a bucket's job listings).
pub const QUEUE_BUCKET: &str = "_detect";
/// Default retention of results and files: 5 hours, as the clouds keep results.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(5 * 3600);

/// Where a detection's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A file in the [`FileStore`], by SHA-256.
    File { sha256: String },
    /// An object of this server's object store.
    Object { bucket: String, key: String },
    /// A URL to fetch (with the SSRF-safe fetcher).
    Url { url: String },
}

/// How archives are handled (Alibaba's Decompress, DecompressMaxLayer, DecompressMaxFileCount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Options {
    pub decompress: bool,
    pub max_layer: Option<u8>,
    pub max_files: Option<u32>,
}

/// A detection to submit.
#[derive(Debug, Clone)]
pub struct NewDetection {
    /// The hash the client named the file by (MD5 or SHA-256, lower-case), if any.
    pub hash_key: Option<String>,
    /// Hashes already known (a stored file's, an object's MD5).
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub source: Source,
    pub options: Options,
    /// A retried submission with the same token gets the same detection.
    pub client_token: Option<String>,
}

/// The state of a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Detecting,
    Done,
    Failed,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Detecting => "Detecting",
            State::Done => "Done",
            State::Failed => "Failed",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "Done" => State::Done,
            "Failed" => State::Failed,
            _ => State::Detecting,
        }
    }
}

/// A detection as stored.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The job's id (`f` + 32 hex).
    pub id: String,
    pub hash_key: Option<String>,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub state: State,
    /// The engine's report, once Done.
    pub report: Option<Report>,
    pub ruleset: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub source: Source,
    pub options: Options,
    /// Unix milliseconds.
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub expires_at: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

const COLUMNS: &str = "id, hash_key, md5, sha1, sha256, size, state, report, ruleset, \
    error_code, error_message, source, options, created_at, finished_at, expires_at";

fn from_row(r: &impl Columns) -> Result<Detection, JobError> {
    let report: Option<String> = r.col("report")?;
    let source: String = r.col("source")?;
    let options: String = r.col("options")?;
    let state: String = r.col("state")?;
    let size: Option<i64> = r.col("size")?;
    Ok(Detection {
        id: r.col("id")?,
        hash_key: r.col("hash_key")?,
        md5: r.col("md5")?,
        sha1: r.col("sha1")?,
        sha256: r.col("sha256")?,
        size: size.map(|s| s.max(0) as u64),
        state: State::parse(&state),
        report: report.and_then(|r| serde_json::from_str(&r).ok()),
        ruleset: r.col("ruleset")?,
        error_code: r.col("error_code")?,
        error_message: r.col("error_message")?,
        source: serde_json::from_str(&source).unwrap_or(Source::Url { url: String::new() }),
        options: serde_json::from_str(&options).unwrap_or_default(),
        created_at: r.col("created_at")?,
        finished_at: r.col("finished_at")?,
        expires_at: r.col("expires_at")?,
    })
}

/// The detection that answers each key, from one snapshot (one read transaction).
///
/// A verdict is only ever found under hashes computed from the bytes that were scanned: the
/// `md5`, `sha1` and `sha256` columns are written by the server (from an upload, an object or
/// the scanned file), never taken from a client. The hash a client named its file by
/// (`hash_key`) only finds that client's own detection while it runs or after it failed, and
/// only when no detection of a file with that hash exists. So, per key, the first of these
/// tiers that has a row answers, its newest row ([`key_tiers`]):
/// 1. a finished (Done) detection of a file with this hash;
/// 2. a running detection of a file with this hash (a rescan, an upload being scanned);
/// 3. a detection submitted under this `hash_key` (Detecting or Failed), or a failed
///    detection of a file with this hash.
///
/// A forged `HashKey` (a harmless file named by a malware's hash) therefore never hides a
/// real result, and its own detection fails when the file's hashes do not match
/// ([`hash_key_matches`]). Each tier is one index seek per column; a finished detection is
/// taken from `finished` when its finish time matches, so the stored report is read and
/// parsed once, not on every lookup.
fn newest_of(
    conn: &rusqlite::Connection,
    finished: &FinishedCache,
    keys: Vec<String>,
    now: i64,
) -> Result<HashMap<String, Arc<Detection>>, JobError> {
    let tx = conn.unchecked_transaction()?;
    let mut newest: HashMap<String, Arc<Detection>> = HashMap::with_capacity(keys.len());
    for key in keys {
        if newest.contains_key(&key) {
            continue;
        }
        // (created_at, id, state, finished_at) of the newest row of the first tier with one.
        let mut best: Option<(i64, String, String, Option<i64>)> = None;
        for tier in key_tiers(&key) {
            for sql in *tier {
                let row = tx
                    .prepare_cached(sql)?
                    .query_row(params![key, now], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()?;
                if let Some(row) = row
                    && best.as_ref().is_none_or(|b| row.0 > b.0)
                {
                    best = Some(row);
                }
            }
            if best.is_some() {
                break;
            }
        }
        let Some((_, id, state, finished_at)) = best else {
            continue;
        };
        let done = State::parse(&state) != State::Detecting;
        let detection = match finished.get(&id, finished_at).filter(|_| done) {
            Some(d) => d,
            None => {
                let mut stmt =
                    tx.prepare_cached(&format!("SELECT {COLUMNS} FROM detections WHERE id = ?1"))?;
                let positions = rows::positions(&stmt);
                let mut rows = stmt.query([&id])?;
                let Some(row) = rows.next()? else {
                    continue;
                };
                let d = Arc::new(from_row(&rows::Indexed::new(row, &positions))?);
                if d.state != State::Detecting {
                    finished.put(d.clone());
                }
                d
            }
        };
        newest.insert(key, detection);
    }
    tx.commit()?;
    Ok(newest)
}

/// The tiers of statements that find a key's answer (see [`newest_of`]): the columns a
/// key's form can name (an MD5 is 32 hex, a SHA-1 40, a SHA-256 64, a detection id `f` + 32
/// hex; a key of no known form is looked for in every column), tier by tier. Each statement
/// is one seek down the column's `(column, created_at)` index (or the id's primary key).
fn key_tiers(key: &str) -> &'static [&'static [&'static str]] {
    macro_rules! newest_by {
        ($column:literal, $state:literal) => {
            concat!(
                "SELECT created_at, id, state, finished_at FROM detections WHERE ",
                $column,
                " = ?1 AND expires_at > ?2",
                $state,
                " ORDER BY created_at DESC LIMIT 1"
            )
        };
    }
    const MD5: [&str; 3] = [
        newest_by!("md5", " AND state = 'Done'"),
        newest_by!("md5", " AND state = 'Detecting'"),
        newest_by!("md5", " AND state = 'Failed'"),
    ];
    const SHA1: [&str; 3] = [
        newest_by!("sha1", " AND state = 'Done'"),
        newest_by!("sha1", " AND state = 'Detecting'"),
        newest_by!("sha1", " AND state = 'Failed'"),
    ];
    const SHA256: [&str; 3] = [
        newest_by!("sha256", " AND state = 'Done'"),
        newest_by!("sha256", " AND state = 'Detecting'"),
        newest_by!("sha256", " AND state = 'Failed'"),
    ];
    const HASH_KEY: &str = newest_by!("hash_key", " AND state != 'Done'");
    const ID: &str = newest_by!("id", "");
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    match key.len() {
        32 if hex(key) => &[&[MD5[0]], &[MD5[1]], &[MD5[2], HASH_KEY]],
        40 if hex(key) => &[&[SHA1[0]], &[SHA1[1]], &[SHA1[2]]],
        64 if hex(key) => &[&[SHA256[0]], &[SHA256[1]], &[SHA256[2], HASH_KEY]],
        33 if key.starts_with('f') && key.get(1..).is_some_and(hex) => &[&[ID]],
        _ => &[
            &[MD5[0], SHA1[0], SHA256[0]],
            &[MD5[1], SHA1[1], SHA256[1]],
            &[MD5[2], SHA1[2], SHA256[2], HASH_KEY, ID],
        ],
    }
}

/// Whether the hash a client named its file by (`hash_key`, an MD5 or SHA-256 in lower-case
/// hex) is a hash of the bytes that were scanned. A detection whose file does not match fails
/// ([`FailureKind::HashKeyMismatch`]) and records no result, so that nobody can file a verdict under another
/// file's hash.
pub fn hash_key_matches(hash_key: Option<&str>, report: &Report) -> bool {
    match hash_key {
        None => true,
        Some(k) => {
            let k = k.to_ascii_lowercase();
            k == report.md5 || k == report.sha256 || k == report.sha1
        }
    }
}

/// Finished detections (Done or Failed) as last read, by id, so that lookups do not read
/// and parse the same stored reports again and again. An entry is used only while the row's
/// `finished_at` still matches (a job that lost its lease may be finished again by another
/// worker), and only for a row the lookup found unexpired; bounded to
/// [`FinishedCache::CAPACITY`] entries, emptied when full.
#[derive(Clone, Default)]
struct FinishedCache(Arc<std::sync::Mutex<HashMap<String, Arc<Detection>>>>);

impl FinishedCache {
    /// Most detections kept.
    const CAPACITY: usize = 16_384;

    fn get(&self, id: &str, finished_at: Option<i64>) -> Option<Arc<Detection>> {
        let map = self.0.lock().ok()?;
        map.get(id)
            .filter(|d| d.finished_at == finished_at)
            .cloned()
    }

    fn put(&self, detection: Arc<Detection>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(detection.id.clone(), detection);
        }
    }
}

/// Files kept for detection, content-addressed by SHA-256.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Uses (creating) `<data>/detect`, and empties its `tmp/`: what is there was being
    /// received or downloaded by a server that stopped (the caller holds the data
    /// directory's lock, so no other server is writing there).
    pub fn open(data_dir: &Path) -> io::Result<FileStore> {
        let dir = data_dir.join("detect");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let mut removed = 0u64;
        for entry in std::fs::read_dir(&tmp)? {
            let entry = entry?;
            let path = entry.path();
            let gone = if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a leftover detection upload")
                }
            }
        }
        if removed > 0 {
            tracing::info!(
                files = removed,
                "removed detection uploads left by a previous run"
            );
        }
        Ok(FileStore { dir })
    }

    /// Where the file of `sha256` is kept.
    pub fn path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("00");
        self.dir.join(prefix).join(sha256)
    }

    /// A fresh temporary path inside the store (same file system, so [`keep`] renames).
    ///
    /// [`keep`]: FileStore::keep
    pub fn temp_path(&self) -> PathBuf {
        self.dir
            .join("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Moves a complete temporary file to its content address.
    pub fn keep(&self, temp: &Path, sha256: &str) -> io::Result<PathBuf> {
        let path = self.path(sha256);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::File::open(temp)?.sync_all()?;
        std::fs::rename(temp, &path)?;
        Ok(path)
    }

    /// Whether the file of `sha256` is kept.
    pub fn has(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    fn remove(&self, sha256: &str) {
        if let Err(e) = std::fs::remove_file(self.path(sha256))
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(sha256, error = %e, "cannot remove an expired detection file");
        }
    }
}

/// An upload slot of Alibaba's form upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub oss_key: String,
    pub hash_key: String,
    pub access_key: String,
    pub max_size: u64,
    pub expires_at: i64,
    /// Set once the file arrived.
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub size: Option<u64>,
}

/// A file kept for detection, with the hashes recorded when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFile {
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
}

/// What a lookup found for one key.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Never submitted, or expired.
    Unknown,
    /// A result (Done), a failure (Failed) or a scan under way (Detecting).
    Found(Arc<Detection>),
}

/// The detection service as the dialects and workers use it: the results, the kept
/// files and the engine ([`Detections`]), the one outbound client for URLs, and the
/// largest file a detection takes.
#[derive(Clone)]
pub struct DetectCtx {
    pub detections: Detections,
    pub fetcher: hashscan_fetch::Fetcher,
    /// Largest file scanned.
    pub max_file: u64,
}

/// Why an object cannot be submitted for detection.
#[derive(Debug, thiserror::Error)]
pub enum ObjectRefused {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the object is {size} bytes; detections take files up to {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
}

impl DetectCtx {
    /// Receives an uploaded file for detection through the one streaming receive (MD5,
    /// SHA-1 and SHA-256 computed while writing, at most [`max_file`](Self::max_file)
    /// bytes), lets `accept` judge its final size (a form policy's range), and keeps it by
    /// SHA-256.
    pub async fn receive_file<S, E>(
        &self,
        body: S,
        size_hint: Option<u64>,
        accept: impl FnOnce(u64) -> Result<(), E>,
    ) -> Result<KeptFile, ReceiveError<E>>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Send,
    {
        use hashscan_digest::Algorithm as A;
        let files = &self.detections.files;
        let receive = Receive {
            temp: files.temp_path(),
            algorithms: [A::Md5, A::Sha1, A::Sha256].into_iter().collect(),
            limit: self.max_file,
            size_hint,
            durable: false,
        };
        let received = uploads::receive(receive, body).await?;
        if let Err(e) = accept(received.size) {
            uploads::discard(&received.temp).await;
            return Err(ReceiveError::Body(e));
        }
        let kept = KeptFile {
            size: received.size,
            md5: received.hex(A::Md5),
            sha1: received.hex(A::Sha1),
            sha256: received.hex(A::Sha256),
        };
        let (files, temp, sha256) = (files.clone(), received.temp.clone(), kept.sha256.clone());
        let moved = tokio::task::spawn_blocking(move || files.keep(&temp, &sha256))
            .await
            .map_err(io::Error::other);
        if let Err(e) | Ok(Err(e)) = moved {
            uploads::discard(&received.temp).await;
            return Err(ReceiveError::Io(e));
        }
        tracing::info!(size = kept.size, sha256 = %kept.sha256, "detection file received");
        Ok(kept)
    }

    /// The object a detection by object would scan: it must exist and be within the limit.
    pub async fn object_to_scan(
        &self,
        store: &crate::store::ObjectStore,
        bucket: &str,
        key: &str,
    ) -> Result<crate::store::ObjectMeta, ObjectRefused> {
        let object = store.head(bucket, key).await?;
        self.within_limit(object.size)?;
        Ok(object)
    }

    /// Whether a file of `size` bytes may be detected.
    pub fn within_limit(&self, size: u64) -> Result<(), ObjectRefused> {
        if size > self.max_file {
            return Err(ObjectRefused::TooLarge {
                size,
                limit: self.max_file,
            });
        }
        Ok(())
    }
}

/// The detection service: submissions, lookups, rescans of stale results, expiry.
#[derive(Clone)]
pub struct Detections {
    readers: ReadPool,
    writer: Writer,
    jobs: Arc<dyn JobStore>,
    work: WorkSignal,
    finished: FinishedCache,
    pub files: FileStore,
    pub detector: Arc<Detector>,
    pub retention: Duration,
}

impl Detections {
    /// A detection service over the database `readers` and `writer` use (opened and migrated
    /// by [`crate::db::open`]); its jobs go to `jobs`, which shares that database.
    pub fn new(
        readers: ReadPool,
        writer: Writer,
        jobs: Arc<dyn JobStore>,
        work: WorkSignal,
        files: FileStore,
        detector: Arc<Detector>,
        retention: Duration,
    ) -> Detections {
        Detections {
            readers,
            writer,
            jobs,
            work,
            finished: FinishedCache::default(),
            files,
            detector,
            retention,
        }
    }

    fn retention_ms(&self) -> i64 {
        self.retention.as_millis().min(i64::MAX as u128) as i64
    }

    /// Submits a detection: its row and its job in one transaction. With a client token
    /// already used by an unexpired detection, that detection is returned instead.
    pub async fn submit(&self, new: NewDetection) -> Result<Detection, JobError> {
        let queue = self.jobs.default_queue(QUEUE_BUCKET).await?;
        let now = now_ms();
        let expires = now.saturating_add(self.retention_ms());
        let id = self
            .writer
            .write(op(move |conn| {
                if let Some(token) = &new.client_token {
                    let existing: Option<String> = conn
                        .prepare_cached(
                            "SELECT id FROM detections WHERE client_token = ? AND expires_at > ?
                             ORDER BY created_at DESC LIMIT 1",
                        )?
                        .query_row(params![token, now], |r| r.get(0))
                        .optional()?;
                    if let Some(id) = existing {
                        return Ok(id);
                    }
                }
                insert_detection_in(conn, &queue.id, &new, now, expires)
            }))
            .await?;
        self.work.notify();
        self.get(&id).await?.ok_or(JobError::NoSuchJob)
    }

    /// A detection by id.
    pub async fn get(&self, id: &str) -> Result<Option<Detection>, JobError> {
        let id = id.to_string();
        self.readers
            .read(move |conn| {
                let mut stmt =
                    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM detections WHERE id = ?"))?;
                let mut rows = stmt.query([&id])?;
                rows.next()?.map(from_row).transpose()
            })
            .await
    }

    /// The newest unexpired detection of each key (an MD5, SHA-1 or SHA-256 of the file, the
    /// hash the client named it by, or a detection id), in the order of `keys`. A finished
    /// result made under another ruleset than the detector's is rescanned (once, when the
    /// file is still kept) and answered as the new, Detecting, detection.
    pub async fn lookup(&self, keys: &[String]) -> Result<Vec<Lookup>, JobError> {
        let now = now_ms();
        // On a blocking thread over rusqlite: through an async driver every row was a
        // hand-off between threads (docs/benchmarks.md, issue 6).
        let (wanted, finished) = (keys.to_vec(), self.finished.clone());
        let newest = self
            .readers
            .read(move |conn| newest_of(conn, &finished, wanted, now))
            .await?;
        let current = self.detector.version();
        let mut out = Vec::with_capacity(keys.len());
        let mut rescanned: HashMap<String, Arc<Detection>> = HashMap::new();
        for key in keys {
            let Some(d) = newest.get(key) else {
                out.push(Lookup::Unknown);
                continue;
            };
            let stale = d.state == State::Done && d.ruleset.as_deref() != Some(current.as_str());
            if stale && let Some(sha256) = d.sha256.clone().filter(|h| self.files.has(h)) {
                let again = match rescanned.get(&sha256) {
                    Some(again) => again.clone(),
                    None => {
                        let again = Arc::new(self.rescan(d, &sha256).await?);
                        rescanned.insert(sha256, again.clone());
                        again
                    }
                };
                out.push(Lookup::Found(again));
                continue;
            }
            out.push(Lookup::Found(d.clone()));
        }
        Ok(out)
    }

    /// Submits a scan of a stale result's kept file, unless one is already under way.
    async fn rescan(&self, stale: &Detection, sha256: &str) -> Result<Detection, JobError> {
        let queue = self.jobs.default_queue(QUEUE_BUCKET).await?;
        let now = now_ms();
        let expires = now.saturating_add(self.retention_ms());
        let new = NewDetection {
            hash_key: stale.hash_key.clone(),
            md5: stale.md5.clone(),
            sha1: stale.sha1.clone(),
            sha256: Some(sha256.to_string()),
            size: stale.size,
            source: Source::File {
                sha256: sha256.to_string(),
            },
            options: stale.options,
            client_token: None,
        };
        let stale_created = stale.created_at;
        let id = self
            .writer
            .write(op(move |conn| {
                // Concurrent lookups of the same stale hash submit one rescan.
                let newer: Option<String> = conn
                    .prepare_cached(
                        "SELECT id FROM detections WHERE sha256 = ? AND created_at > ?
                         AND expires_at > ? ORDER BY created_at DESC LIMIT 1",
                    )?
                    .query_row(params![new.sha256, stale_created, now], |r| r.get(0))
                    .optional()?;
                match newer {
                    Some(id) => Ok(id),
                    None => insert_detection_in(conn, &queue.id, &new, now, expires),
                }
            }))
            .await?;
        self.work.notify();
        tracing::info!(detection = %id, sha256, "rescanning a result of an older ruleset");
        self.get(&id).await?.ok_or(JobError::NoSuchJob)
    }

    /// Records a finished scan: the file's hashes and the report.
    pub async fn complete(&self, id: &str, report: &Report) -> Result<(), JobError> {
        let json = serde_json::to_string(report).unwrap_or_default();
        let (id, md5, sha1, sha256) = (
            id.to_string(),
            report.md5.clone(),
            report.sha1.clone(),
            report.sha256.clone(),
        );
        let (size, verdict, score, ruleset) = (
            report.size as i64,
            report.verdict.as_str(),
            i64::from(report.score),
            report.ruleset.clone(),
        );
        let threat_type = report.threat_type.map(|t| t.as_str());
        let threat_name = report.threat_name.clone();
        self.writer
            .write(op(move |conn| {
                conn.prepare_cached(
                    "UPDATE detections SET state = 'Done', md5 = ?, sha1 = ?, sha256 = ?, size = ?,
                            verdict = ?, score = ?, threat_type = ?, threat_name = ?, report = ?,
                            ruleset = ?, finished_at = ?, error_code = NULL, error_message = NULL
                     WHERE id = ?",
                )?
                .execute(params![
                    md5,
                    sha1,
                    sha256,
                    size,
                    verdict,
                    score,
                    threat_type,
                    threat_name,
                    json,
                    ruleset,
                    now_ms(),
                    id
                ])?;
                Ok(())
            }))
            .await
    }

    /// Records a detection that could not be made.
    pub async fn fail(&self, id: &str, kind: FailureKind, message: &str) -> Result<(), JobError> {
        let (id, code, message) = (id.to_string(), kind.as_str(), message.to_string());
        self.writer
            .write(op(move |conn| {
                conn.prepare_cached(
                    "UPDATE detections SET state = 'Failed', error_code = ?, error_message = ?,
                            finished_at = ? WHERE id = ?",
                )?
                .execute(params![code, message, now_ms(), id])?;
                Ok(())
            }))
            .await
    }

    /// Issues an upload slot.
    pub async fn create_upload(&self, upload: Upload) -> Result<(), JobError> {
        self.writer
            .write(op(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO detect_uploads (oss_key, hash_key, access_key, max_size,
                                                 created_at, expires_at)
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    upload.oss_key,
                    upload.hash_key,
                    upload.access_key,
                    upload.max_size as i64,
                    now_ms(),
                    upload.expires_at
                ])?;
                Ok(())
            }))
            .await
    }

    /// An unexpired upload slot by its key.
    pub async fn upload(&self, oss_key: &str) -> Result<Option<Upload>, JobError> {
        let (oss_key, now) = (oss_key.to_string(), now_ms());
        self.readers
            .read(move |conn| -> Result<Option<Upload>, JobError> {
                let upload = conn
                    .prepare_cached(
                        "SELECT oss_key, hash_key, access_key, max_size, expires_at, sha256, md5,
                                sha1, size
                         FROM detect_uploads WHERE oss_key = ? AND expires_at > ?",
                    )?
                    .query_row(params![oss_key, now], |r| {
                        Ok(Upload {
                            oss_key: r.get("oss_key")?,
                            hash_key: r.get("hash_key")?,
                            access_key: r.get("access_key")?,
                            max_size: r.get::<_, i64>("max_size")?.max(0) as u64,
                            expires_at: r.get("expires_at")?,
                            sha256: r.get("sha256")?,
                            md5: r.get("md5")?,
                            sha1: r.get("sha1")?,
                            size: r.get::<_, Option<i64>>("size")?.map(|s| s.max(0) as u64),
                        })
                    })
                    .optional()?;
                Ok(upload)
            })
            .await
    }

    /// Records that an upload slot's file arrived (it is kept by SHA-256 for the retention
    /// period).
    pub async fn upload_received(
        &self,
        oss_key: &str,
        size: u64,
        md5: &str,
        sha1: &str,
        sha256: &str,
    ) -> Result<(), JobError> {
        let expires = now_ms().saturating_add(self.retention_ms());
        let (k, m, s1, s2) = (
            oss_key.to_string(),
            md5.to_string(),
            sha1.to_string(),
            sha256.to_string(),
        );
        self.writer
            .write(op(move |conn| {
                conn.prepare_cached(
                    "UPDATE detect_uploads SET size = ?, md5 = ?, sha1 = ?, sha256 = ?,
                            uploaded_at = ?, expires_at = ? WHERE oss_key = ?",
                )?
                .execute(params![size as i64, m, s1, s2, now_ms(), expires, k])?;
                Ok(())
            }))
            .await
    }

    /// Whether a file of this hash (MD5 or SHA-256) is kept, by an upload or a detection:
    /// its size, MD5, SHA-1 and SHA-256 as recorded when it arrived.
    pub async fn kept_file(&self, hash: &str) -> Result<Option<KeptFile>, JobError> {
        let (hash, now) = (hash.to_string(), now_ms());
        let kept = self
            .readers
            .read(move |conn| -> Result<Option<KeptFile>, JobError> {
                let kept = conn
                    .prepare_cached(
                        "SELECT size, md5, sha1, sha256 FROM detect_uploads
                         WHERE (md5 = ?1 OR sha256 = ?1) AND expires_at > ?2
                           AND sha256 IS NOT NULL AND md5 IS NOT NULL AND sha1 IS NOT NULL
                           AND size IS NOT NULL
                         UNION ALL
                         SELECT size, md5, sha1, sha256 FROM detections
                         WHERE (md5 = ?1 OR sha256 = ?1) AND expires_at > ?2
                           AND sha256 IS NOT NULL AND md5 IS NOT NULL AND sha1 IS NOT NULL
                           AND size IS NOT NULL
                         LIMIT 1",
                    )?
                    .query_row(params![hash, now], |r| {
                        Ok(KeptFile {
                            size: r.get::<_, i64>("size")?.max(0) as u64,
                            md5: r.get("md5")?,
                            sha1: r.get("sha1")?,
                            sha256: r.get("sha256")?,
                        })
                    })
                    .optional()?;
                Ok(kept)
            })
            .await?;
        let Some(kept) = kept else { return Ok(None) };
        Ok(self.files.has(&kept.sha256).then_some(kept))
    }

    /// Deletes expired detections and upload slots, and the files no longer referenced.
    pub async fn sweep(&self) -> Result<usize, JobError> {
        let now = now_ms();
        let orphans: Vec<String> = self
            .writer
            .write(op(move |conn| {
                let mut gone: Vec<String> = Vec::new();
                {
                    let mut stmt = conn.prepare_cached(
                        "SELECT DISTINCT sha256 FROM detections WHERE expires_at <= ?1 AND sha256 IS NOT NULL
                         UNION SELECT DISTINCT sha256 FROM detect_uploads WHERE expires_at <= ?1 AND sha256 IS NOT NULL",
                    )?;
                    let rows = stmt.query_map([now], |r| r.get::<_, String>(0))?;
                    for r in rows {
                        gone.push(r?);
                    }
                }
                conn.execute("DELETE FROM detections WHERE expires_at <= ?", [now])?;
                conn.execute("DELETE FROM detect_uploads WHERE expires_at <= ?", [now])?;
                // A file still named by an unexpired row stays.
                let mut still = conn.prepare_cached(
                    "SELECT 1 FROM detections WHERE sha256 = ?1
                     UNION ALL SELECT 1 FROM detect_uploads WHERE sha256 = ?1 LIMIT 1",
                )?;
                let mut orphans = Vec::new();
                for sha in gone {
                    if !still.exists([&sha])? {
                        orphans.push(sha);
                    }
                }
                Ok(orphans)
            }))
            .await?;
        for sha in &orphans {
            self.files.remove(sha);
        }
        Ok(orphans.len())
    }

    /// Sweeps expired detections every `every` until `stop` turns true.
    pub fn spawn_sweeper(
        &self,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match this.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(files = n, "expired detection files removed"),
                    Err(e) => tracing::warn!(error = %e, "cannot sweep expired detections"),
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    }
}

/// Inserts a detection and its job (inside a write); returns the id.
fn insert_detection_in(
    conn: &rusqlite::Connection,
    queue_id: &str,
    new: &NewDetection,
    now: i64,
    expires: i64,
) -> Result<String, JobError> {
    let job = insert_job_in(
        conn,
        &NewJob {
            tag: TAG.to_string(),
            queue_id: queue_id.to_string(),
            bucket: QUEUE_BUCKET.to_string(),
            input: Value::Null,
            callback: None,
        },
    )?;
    conn.prepare_cached(
        "INSERT INTO detections (id, hash_key, md5, sha1, sha256, size, state, source, options,
                                 client_token, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        job.id,
        new.hash_key,
        new.md5,
        new.sha1,
        new.sha256,
        new.size.map(|s| s as i64),
        State::Detecting.as_str(),
        serde_json::to_string(&new.source).unwrap_or_default(),
        serde_json::to_string(&new.options).unwrap_or_default(),
        new.client_token,
        now,
        expires
    ])?;
    Ok(job.id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::jobs::SqliteJobStore;

    /// A detection service over a temporary data dir with one rule file of our own, and a
    /// running worker pool.
    struct Fixture {
        _dir: tempfile::TempDir,
        rules: PathBuf,
        detections: Detections,
        _stop: tokio::sync::watch::Sender<bool>,
    }

    fn rule(marker: &str) -> String {
        format!(
            "rule Test_Marker {{ meta: score = 90 threat_type = \"Trojan\" strings: $a = \"{marker}\" condition: $a }}\n"
        )
    }

    async fn fixture(retention: Duration) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.yar");
        std::fs::write(&rules, rule("MARKER_ONE")).unwrap();
        crate::db::open(dir.path()).await.unwrap();
        let writer = Writer::open(dir.path()).await.unwrap();
        let readers = ReadPool::new(dir.path());
        let jobs: Arc<dyn JobStore> =
            Arc::new(SqliteJobStore::new(writer.clone(), readers.clone()));
        let (detector, _) = Detector::new(hashscan_detect::Config {
            rules: hashscan_detect::RuleConfig {
                paths: vec![rules.clone()],
                default_pack: false,
            },
            ..hashscan_detect::Config::default()
        })
        .unwrap();
        let work = WorkSignal::default();
        let detections = Detections::new(
            readers.clone(),
            writer.clone(),
            jobs.clone(),
            work.clone(),
            FileStore::open(dir.path()).unwrap(),
            Arc::new(detector),
            retention,
        );
        let store =
            crate::store::ObjectStore::open(dir.path(), writer, readers, Default::default(), true)
                .await
                .unwrap();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let ctx = DetectCtx {
            detections: detections.clone(),
            fetcher: hashscan_fetch::Fetcher::new(hashscan_fetch::Policy::default()).unwrap(),
            max_file: 1 << 20,
        };
        let runner = crate::core::detect_run::DetectRunner {
            ctx,
            store,
            metrics: Default::default(),
        };
        crate::core::workers::spawn_workers(
            2,
            crate::core::workers::Pool {
                node: "test".into(),
                jobs,
                handlers: vec![Arc::new(runner)],
                signal: work,
                metrics: Default::default(),
            },
            stop_rx,
        );
        Fixture {
            _dir: dir,
            rules,
            detections,
            _stop: stop,
        }
    }

    /// Keeps `data` in the file store; its SHA-256.
    fn keep(f: &Fixture, data: &[u8]) -> String {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data));
        let temp = f.detections.files.temp_path();
        std::fs::write(&temp, data).unwrap();
        f.detections.files.keep(&temp, &sha).unwrap();
        sha
    }

    /// Keeps `data` in the file store and submits it.
    async fn submit(f: &Fixture, data: &[u8]) -> (String, Detection) {
        let sha = keep(f, data);
        let d = f
            .detections
            .submit(NewDetection {
                hash_key: None,
                md5: None,
                sha1: None,
                sha256: Some(sha.clone()),
                size: Some(data.len() as u64),
                source: Source::File {
                    sha256: sha.clone(),
                },
                options: Options::default(),
                client_token: Some("token-1".into()),
            })
            .await
            .unwrap();
        (sha, d)
    }

    async fn done(f: &Fixture, id: &str) -> Detection {
        for _ in 0..400 {
            let d = f.detections.get(id).await.unwrap().unwrap();
            if d.state != State::Detecting {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("detection {id} never finished");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_result_of_an_older_ruleset_is_rescanned_once_on_lookup() {
        let f = fixture(DEFAULT_RETENTION).await;
        let (sha, first) = submit(&f, b"xx MARKER_ONE xx").await;
        let first = done(&f, &first.id).await;
        let report = first.report.as_ref().unwrap();
        assert_eq!(report.verdict, hashscan_detect::Verdict::Malicious);
        assert_eq!(report.threat_name.as_deref(), Some("Test_Marker"));
        // The same client token gives the same detection back.
        let (_, again) = submit(&f, b"xx MARKER_ONE xx").await;
        assert_eq!(again.id, first.id);

        // New rules: the stored result is stale.
        std::fs::write(&f.rules, rule("MARKER_TWO")).unwrap();
        let rules = f.detections.detector.reload();
        assert_ne!(Some(rules.version()), first.ruleset.as_deref());
        let keys = vec![sha.clone(), first.md5.clone().unwrap()];
        let (a, b) = tokio::join!(f.detections.lookup(&keys), f.detections.lookup(&keys));
        let ids: Vec<String> = a
            .unwrap()
            .into_iter()
            .chain(b.unwrap())
            .map(|l| match l {
                Lookup::Found(d) => d.id.clone(),
                Lookup::Unknown => panic!("lost"),
            })
            .collect();
        assert!(ids.iter().all(|id| id == &ids[0]), "one rescan: {ids:?}");
        assert_ne!(ids[0], first.id);
        let rescanned = done(&f, &ids[0]).await;
        assert_eq!(
            rescanned.report.as_ref().unwrap().verdict,
            hashscan_detect::Verdict::Clean
        );
        assert_eq!(rescanned.ruleset.as_deref(), Some(rules.version()));
        // Fresh now: a lookup answers it without another scan.
        match &f.detections.lookup(&[sha]).await.unwrap()[0] {
            Lookup::Found(d) => assert_eq!(d.id, rescanned.id),
            Lookup::Unknown => panic!("lost"),
        }
    }

    fn found(l: &Lookup) -> &Detection {
        match l {
            Lookup::Found(d) => d,
            Lookup::Unknown => panic!("not found"),
        }
    }

    fn file_detection(sha: &str, hash_key: Option<&str>) -> NewDetection {
        NewDetection {
            hash_key: hash_key.map(str::to_string),
            md5: None,
            sha1: None,
            sha256: Some(sha.to_string()),
            size: None,
            source: Source::File {
                sha256: sha.to_string(),
            },
            options: Options::default(),
            client_token: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lookup_answers_every_key_of_a_detection_and_sees_a_new_finish() {
        let f = fixture(DEFAULT_RETENTION).await;
        let (sha, d) = submit(&f, b"xx MARKER_ONE xx").await;
        let d = done(&f, &d.id).await;
        let (md5, sha1) = (d.md5.clone().unwrap(), d.sha1.clone().unwrap());
        // A second detection of the same file, named by its MD5 (Alibaba's HashKey).
        let other = f
            .detections
            .submit(file_detection(&sha, Some(&md5)))
            .await
            .unwrap();
        let other = done(&f, &other.id).await;
        assert_eq!(other.state, State::Done);
        let keys = [
            md5.clone(),
            sha1,
            sha.clone(),
            d.id.clone(),
            "ffffffffffffffffffffffffffffffff".into(),
            "not a key".into(),
            md5.clone(),
        ]
        .to_vec();
        let got = f.detections.lookup(&keys).await.unwrap();
        assert_eq!(got.len(), keys.len());
        // By file hash: the newest detection of the file (the second).
        for l in [&got[0], &got[1], &got[2], &got[6]] {
            assert_eq!(found(l).id, other.id);
        }
        assert_eq!(found(&got[3]).id, d.id, "by id");
        assert!(matches!(got[4], Lookup::Unknown));
        assert!(matches!(got[5], Lookup::Unknown));
        assert_eq!(found(&got[0]).state, State::Done);

        // A finished detection finished again (a worker that lost its lease, another that
        // ran the job again) is answered as it is now, not as first read.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut again = other.report.clone().unwrap();
        again.threat_name = Some("Finished.Again".into());
        f.detections.complete(&other.id, &again).await.unwrap();
        let now = f
            .detections
            .lookup(std::slice::from_ref(&md5))
            .await
            .unwrap();
        let now = found(&now[0]);
        assert_eq!(now.id, other.id);
        assert_eq!(
            now.report.as_ref().unwrap().threat_name.as_deref(),
            Some("Finished.Again")
        );
    }

    /// A detection submitted under another file's hash: it fails, and neither that hash nor
    /// the file's own answers with its (non-)result; a failure never hides a verdict.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forged_hash_key_fails_and_hides_no_verdict() {
        let f = fixture(DEFAULT_RETENTION).await;
        let (bad_sha, bad) = submit(&f, b"xx MARKER_ONE xx").await;
        let bad = done(&f, &bad.id).await;
        let bad_md5 = bad.md5.clone().unwrap();
        assert_eq!(
            bad.report.as_ref().unwrap().verdict,
            hashscan_detect::Verdict::Malicious
        );
        // A harmless file, named by the malicious file's MD5 and SHA-256.
        let harmless_sha = keep(&f, b"harmless");
        for forged in [&bad_md5, &bad_sha] {
            let x = f
                .detections
                .submit(file_detection(&harmless_sha, Some(forged)))
                .await
                .unwrap();
            let x = done(&f, &x.id).await;
            assert_eq!(x.state, State::Failed);
            assert_eq!(
                x.error_code.as_deref(),
                Some(FailureKind::HashKeyMismatch.as_str())
            );
            assert!(x.report.is_none());
        }
        // And one whose object vanished: Failed, with the malicious file's MD5 known.
        let vanished = f
            .detections
            .submit(NewDetection {
                md5: Some(bad_md5.clone()),
                source: Source::Object {
                    bucket: "no-such-1250000000".into(),
                    key: "gone".into(),
                },
                ..file_detection(&bad_sha, None)
            })
            .await
            .unwrap();
        assert_eq!(done(&f, &vanished.id).await.state, State::Failed);
        for key in [&bad_md5, &bad_sha] {
            let got = f
                .detections
                .lookup(std::slice::from_ref(key))
                .await
                .unwrap();
            let d = found(&got[0]);
            assert_eq!(d.id, bad.id, "{key}");
            assert_eq!(d.state, State::Done);
        }
        // The hash a client named its file by finds its own failed detection only when no
        // file of that hash was ever detected.
        let unrelated = "0123456789abcdef0123456789abcdef";
        let x = f
            .detections
            .submit(file_detection(&harmless_sha, Some(unrelated)))
            .await
            .unwrap();
        done(&f, &x.id).await;
        let got = f.detections.lookup(&[unrelated.to_string()]).await.unwrap();
        assert_eq!(found(&got[0]).id, x.id);
        assert_eq!(found(&got[0]).state, State::Failed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn results_and_files_expire_after_the_retention() {
        let f = fixture(Duration::from_millis(300)).await;
        let (sha, d) = submit(&f, b"short-lived").await;
        done(&f, &d.id).await;
        assert!(f.detections.files.has(&sha));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(matches!(
            f.detections
                .lookup(std::slice::from_ref(&sha))
                .await
                .unwrap()[0],
            Lookup::Unknown
        ));
        assert_eq!(f.detections.sweep().await.unwrap(), 1);
        assert!(!f.detections.files.has(&sha));
        assert!(f.detections.get(&d.id).await.unwrap().is_none());
    }
}
