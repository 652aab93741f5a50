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

use crate::core::failure::FailureKind;
use crate::core::uploads::{self, Receive, ReceiveError};
use crate::core::workers::WorkSignal;
pub use crate::meta::detections::{
    Detection, KeptFile, NewDetection, Options, Source, State, Upload,
};
use crate::meta::detections::{DetectionIndex, KeyColumn, Probe, Reuse, StateFilter, Tiers};
use crate::meta::jobs::{JobError, JobStore};

/// The tag of detection jobs.
pub const TAG: &str = crate::meta::jobs::DETECT_TAG;
/// The pseudo-bucket whose default queue carries detection jobs (not a valid COS bucket
/// name, so it never shows in a bucket's job listings).
pub const QUEUE_BUCKET: &str = "_detect";
/// Default retention of results and files: 5 hours, as the clouds keep results.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(5 * 3600);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The tiers of probes that find a key's answer, from one snapshot.
///
/// A verdict is only ever found under hashes computed from the bytes that were scanned: the
/// `md5`, `sha1` and `sha256` of a detection are written by the server (from an upload, an
/// object or the scanned file), never taken from a client. The hash a client named its file
/// by (`hash_key`) only finds that client's own detection while it runs or after it failed,
/// and only when no detection of a file with that hash exists. So, per key, the first of
/// these tiers that has a row answers, its newest row:
/// 1. a finished (Done) detection of a file with this hash;
/// 2. a running detection of a file with this hash (a rescan, an upload being scanned);
/// 3. a detection submitted under this `hash_key` (Detecting or Failed), or a failed
///    detection of a file with this hash.
///
/// A forged `HashKey` (a harmless file named by a malware's hash) therefore never hides a
/// real result, and its own detection fails when the file's hashes do not match
/// ([`hash_key_matches`]). The columns probed follow the key's form: an MD5 is 32 hex, a
/// SHA-1 40, a SHA-256 64, a detection id `f` + 32 hex; a key of no known form is looked
/// for in every column.
fn key_tiers(key: &str) -> Tiers {
    const fn p(column: KeyColumn, states: StateFilter) -> Probe {
        Probe { column, states }
    }
    const DONE: StateFilter = StateFilter::Only(State::Done);
    const RUNNING: StateFilter = StateFilter::Only(State::Detecting);
    const FAILED: StateFilter = StateFilter::Only(State::Failed);
    const HASH_KEY: Probe = p(KeyColumn::HashKey, StateFilter::NotDone);
    const ID: Probe = p(KeyColumn::Id, StateFilter::Any);
    const MD5: Tiers = &[
        &[p(KeyColumn::Md5, DONE)],
        &[p(KeyColumn::Md5, RUNNING)],
        &[p(KeyColumn::Md5, FAILED), HASH_KEY],
    ];
    const SHA1: Tiers = &[
        &[p(KeyColumn::Sha1, DONE)],
        &[p(KeyColumn::Sha1, RUNNING)],
        &[p(KeyColumn::Sha1, FAILED)],
    ];
    const SHA256: Tiers = &[
        &[p(KeyColumn::Sha256, DONE)],
        &[p(KeyColumn::Sha256, RUNNING)],
        &[p(KeyColumn::Sha256, FAILED), HASH_KEY],
    ];
    const BY_ID: Tiers = &[&[ID]];
    const ANY: Tiers = &[
        &[
            p(KeyColumn::Md5, DONE),
            p(KeyColumn::Sha1, DONE),
            p(KeyColumn::Sha256, DONE),
        ],
        &[
            p(KeyColumn::Md5, RUNNING),
            p(KeyColumn::Sha1, RUNNING),
            p(KeyColumn::Sha256, RUNNING),
        ],
        &[
            p(KeyColumn::Md5, FAILED),
            p(KeyColumn::Sha1, FAILED),
            p(KeyColumn::Sha256, FAILED),
            HASH_KEY,
            ID,
        ],
    ];
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    match key.len() {
        32 if hex(key) => MD5,
        40 if hex(key) => SHA1,
        64 if hex(key) => SHA256,
        33 if key.starts_with('f') && key.get(1..).is_some_and(hex) => BY_ID,
        _ => ANY,
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

/// One thing a detection found: the file (the scanned file itself, or an archive member's
/// path inside it) and the threat's name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub file: String,
    pub threat: String,
}

/// Whether a verdict is a threat a client must act on: suspicious or malicious. A rule that
/// matches scores as one (unless it opts out), so a match is never answered as harmless.
pub fn is_threat(verdict: hashscan_detect::Verdict) -> bool {
    matches!(
        verdict,
        hashscan_detect::Verdict::Suspicious | hashscan_detect::Verdict::Malicious
    )
}

/// The name a detection's file goes by in its findings: an object's key, the last segment
/// of a URL's path (the host when it has none), a kept file's SHA-256.
pub fn source_name(source: &Source) -> String {
    match source {
        Source::Object { key, .. } => key.clone(),
        Source::Url { url } => {
            let path = url.split(['?', '#']).next().unwrap_or(url);
            let path = path.split_once("://").map_or(path, |(_, rest)| rest);
            match path.rsplit_once('/') {
                Some((_, last)) if !last.is_empty() => last.to_string(),
                _ => path.trim_end_matches('/').to_string(),
            }
        }
        Source::File { sha256 } => sha256.clone(),
    }
}

/// What a report found, file by file: the hits on the file itself under `name`, the hits on
/// each threatening archive member under its path (`a.zip/inner.tar/x.php`). Empty when the
/// verdict is no threat; never empty when it is one (the top threat's name stands for
/// hits that name no file).
pub fn findings(report: &Report, name: &str) -> Vec<Finding> {
    if !is_threat(report.verdict) {
        return Vec::new();
    }
    fn push(out: &mut Vec<Finding>, file: &str, threat: &str) {
        let f = Finding {
            file: file.to_string(),
            threat: threat.to_string(),
        };
        if !out.contains(&f) {
            out.push(f);
        }
    }
    let mut out = Vec::new();
    for hit in &report.hits {
        push(&mut out, name, &hit.name);
    }
    if let Some(archive) = &report.archive {
        for member in archive.members.iter().filter(|m| is_threat(m.verdict)) {
            for hit in &member.hits {
                push(&mut out, &member.path, &hit.name);
            }
        }
    }
    if out.is_empty() {
        let threat = report.threat_name.as_deref().unwrap_or("unknown");
        push(&mut out, name, threat);
    }
    out
}

/// Files kept for detection, content-addressed by SHA-256: in the data directory, and —
/// with a blob store that several nodes share — in that store too (named
/// `detect/<sha256>`), so that whichever node claims a detection can scan the file; the
/// local copy is then this node's cache of it.
#[derive(Clone)]
pub struct FileStore {
    dir: PathBuf,
    shared: Option<Arc<dyn crate::blobs::BlobStore>>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .field("shared", &self.shared.is_some())
            .finish()
    }
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
        Ok(FileStore { dir, shared: None })
    }

    /// Keeps the files in `blobs` too (a store several nodes share).
    pub fn shared_through(mut self, blobs: Arc<dyn crate::blobs::BlobStore>) -> FileStore {
        self.shared = Some(blobs);
        self
    }

    fn name(sha256: &str) -> String {
        format!("detect/{sha256}")
    }

    /// Where the file of `sha256` is kept on this node.
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

    /// Moves a complete temporary file to its content address on this node (blocking; see
    /// [`publish`](Self::publish) for the shared store).
    pub fn keep(&self, temp: &Path, sha256: &str) -> io::Result<PathBuf> {
        let path = self.path(sha256);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::File::open(temp)?.sync_all()?;
        std::fs::rename(temp, &path)?;
        Ok(path)
    }

    /// Keeps a complete temporary file: on this node, then in the shared store if there
    /// is one (before the caller records it, so that no node learns of a file it cannot
    /// read).
    pub async fn keep_async(&self, temp: &Path, sha256: &str) -> io::Result<PathBuf> {
        let (this, temp2, sha) = (self.clone(), temp.to_path_buf(), sha256.to_string());
        let path = tokio::task::spawn_blocking(move || this.keep(&temp2, &sha))
            .await
            .map_err(io::Error::other)??;
        self.publish(sha256).await?;
        Ok(path)
    }

    /// Copies the file of `sha256` kept on this node to the shared store, if there is one.
    pub async fn publish(&self, sha256: &str) -> io::Result<()> {
        if let Some(blobs) = &self.shared {
            blobs
                .put_file(&Self::name(sha256), &self.path(sha256))
                .await?;
        }
        Ok(())
    }

    /// The file of `sha256` on this node, fetched from the shared store when another node
    /// received it; `NotFound` when it is kept nowhere.
    pub async fn local(&self, sha256: &str) -> io::Result<PathBuf> {
        let path = self.path(sha256);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        let Some(blobs) = &self.shared else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let temp = self.temp_path();
        match blobs.get_file(&Self::name(sha256), &temp).await {
            Ok(true) => {}
            Ok(false) => return Err(io::ErrorKind::NotFound.into()),
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
        }
        let (this, sha) = (self.clone(), sha256.to_string());
        tokio::task::spawn_blocking(move || this.keep(&temp, &sha))
            .await
            .map_err(io::Error::other)?
    }

    /// Whether the file of `sha256` is kept (on this node or in the shared store); an
    /// error when the shared store cannot tell.
    pub async fn has(&self, sha256: &str) -> Result<bool, JobError> {
        if tokio::fs::try_exists(self.path(sha256))
            .await
            .unwrap_or(false)
        {
            return Ok(true);
        }
        match &self.shared {
            Some(blobs) => blobs
                .has_file(&Self::name(sha256))
                .await
                .map_err(|e| JobError::Unavailable(format!("the shared file store: {e}"))),
            None => Ok(false),
        }
    }

    /// Removes this node's copies of files kept in the shared store that were not written
    /// for `idle` (the retention): their results have expired, or the file is still in
    /// the shared store and is fetched again when needed. Without a shared store the
    /// local files are the only ones and nothing is removed. Answers how many were.
    pub async fn prune_cache(&self, idle: Duration) -> usize {
        if self.shared.is_none() {
            return 0;
        }
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || prune_files(&dir, idle))
            .await
            .unwrap_or(0)
    }

    async fn remove(&self, sha256: &str) {
        if let Err(e) = tokio::fs::remove_file(self.path(sha256)).await
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(sha256, error = %e, "cannot remove an expired detection file");
        }
        if let Some(blobs) = &self.shared
            && let Err(e) = blobs.delete_file(&Self::name(sha256)).await
        {
            tracing::warn!(sha256, error = %e, "cannot remove an expired detection file from the shared store");
        }
    }
}

/// Removes the files under `dir/<2 hex>/` not modified for `idle`; `tmp/` is left alone.
fn prune_files(dir: &Path, idle: Duration) -> usize {
    let mut removed = 0;
    let Ok(shards) = std::fs::read_dir(dir) else {
        return 0;
    };
    for shard in shards.flatten() {
        let path = shard.path();
        if shard.file_name() == "tmp" || !path.is_dir() {
            continue;
        }
        let Ok(files) = std::fs::read_dir(&path) else {
            continue;
        };
        for file in files.flatten() {
            let stale = file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age >= idle);
            if stale && std::fs::remove_file(file.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
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
    Store(#[from] crate::core::objects::StoreError),
    #[error("the object is {size} bytes; detections take files up to {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
}

impl ObjectRefused {
    /// Whether a store cannot be reached just now (try again).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ObjectRefused::Store(e) if e.is_unavailable())
    }
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
        if let Err(e) = files.keep_async(&received.temp, &kept.sha256).await {
            uploads::discard(&received.temp).await;
            return Err(ReceiveError::Io(e));
        }
        tracing::info!(size = kept.size, sha256 = %kept.sha256, "detection file received");
        Ok(kept)
    }

    /// The object a detection by object would scan: it must exist and be within the limit.
    pub async fn object_to_scan(
        &self,
        store: &crate::core::objects::ObjectStore,
        bucket: &str,
        key: &str,
    ) -> Result<crate::core::objects::ObjectMeta, ObjectRefused> {
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
    index: Arc<dyn DetectionIndex>,
    jobs: Arc<dyn JobStore>,
    work: WorkSignal,
    pub files: FileStore,
    pub detector: Arc<Detector>,
    pub retention: Duration,
}

impl Detections {
    /// A detection service over `index`; its jobs go to `jobs` (the index writes a
    /// detection's job row itself, in the same transaction; `jobs` gives the queue).
    pub fn new(
        index: Arc<dyn DetectionIndex>,
        jobs: Arc<dyn JobStore>,
        work: WorkSignal,
        files: FileStore,
        detector: Arc<Detector>,
        retention: Duration,
    ) -> Detections {
        Detections {
            index,
            jobs,
            work,
            files,
            detector,
            retention,
        }
    }

    fn retention_ms(&self) -> i64 {
        self.retention.as_millis().min(i64::MAX as u128) as i64
    }

    /// Inserts a detection (or finds the one `reuse` names) and wakes a worker.
    async fn insert(&self, new: &NewDetection, reuse: &Reuse) -> Result<Detection, JobError> {
        let queue = self.jobs.default_queue(QUEUE_BUCKET).await?;
        let now = now_ms();
        let expires = now.saturating_add(self.retention_ms());
        let id = self
            .index
            .insert(new, reuse, (&queue.id, QUEUE_BUCKET), now, expires)
            .await?;
        self.work.notify();
        self.get(&id).await?.ok_or(JobError::NoSuchJob)
    }

    /// Submits a detection: its row and its job in one transaction. With a client token
    /// already used by an unexpired detection, that detection is returned instead.
    pub async fn submit(&self, new: NewDetection) -> Result<Detection, JobError> {
        let reuse = match &new.client_token {
            Some(token) => Reuse::ClientToken(token.clone()),
            None => Reuse::Never,
        };
        self.insert(&new, &reuse).await
    }

    /// A detection by id.
    pub async fn get(&self, id: &str) -> Result<Option<Detection>, JobError> {
        self.index.get(id).await
    }

    /// The newest unexpired detection of each key (an MD5, SHA-1 or SHA-256 of the file, the
    /// hash the client named it by, or a detection id), in the order of `keys`. A finished
    /// result made under another ruleset than the detector's is rescanned (once, when the
    /// file is still kept) and answered as the new, Detecting, detection.
    pub async fn lookup(&self, keys: &[String]) -> Result<Vec<Lookup>, JobError> {
        let wanted = keys.iter().map(|k| (k.clone(), key_tiers(k))).collect();
        let newest = self.index.newest(wanted, now_ms()).await?;
        let current = self.detector.version();
        let mut out = Vec::with_capacity(keys.len());
        let mut rescanned: HashMap<String, Arc<Detection>> = HashMap::new();
        for key in keys {
            let Some(d) = newest.get(key) else {
                out.push(Lookup::Unknown);
                continue;
            };
            let stale = d.state == State::Done && d.ruleset.as_deref() != Some(current.as_str());
            let kept = match d.sha256.clone() {
                Some(h) if stale && self.files.has(&h).await? => Some(h),
                _ => None,
            };
            if let Some(sha256) = kept {
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

    /// Submits a scan of a stale result's kept file, unless one is already under way
    /// (concurrent lookups of the same stale hash submit one rescan).
    async fn rescan(&self, stale: &Detection, sha256: &str) -> Result<Detection, JobError> {
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
            callback: crate::meta::jobs::JobCallback::Queue,
        };
        let reuse = Reuse::NewerOfSha256 {
            sha256: sha256.to_string(),
            after: stale.created_at,
        };
        let again = self.insert(&new, &reuse).await?;
        tracing::info!(detection = %again.id, sha256, "rescanning a result of an older ruleset");
        Ok(again)
    }

    /// Records a finished scan: the file's hashes and the report.
    pub async fn complete(&self, id: &str, report: &Report) -> Result<(), JobError> {
        self.index.complete(id, report, now_ms()).await
    }

    /// Records a detection that could not be made.
    pub async fn fail(&self, id: &str, kind: FailureKind, message: &str) -> Result<(), JobError> {
        self.index.fail(id, kind.as_str(), message, now_ms()).await
    }

    /// Issues an upload slot.
    pub async fn create_upload(&self, upload: Upload) -> Result<(), JobError> {
        self.index.create_upload(&upload, now_ms()).await
    }

    /// An unexpired upload slot by its key.
    pub async fn upload(&self, oss_key: &str) -> Result<Option<Upload>, JobError> {
        self.index.upload(oss_key, now_ms()).await
    }

    /// Records that an upload slot's file arrived (it is kept by SHA-256 for the retention
    /// period).
    pub async fn upload_received(&self, oss_key: &str, file: &KeptFile) -> Result<(), JobError> {
        let now = now_ms();
        let expires = now.saturating_add(self.retention_ms());
        self.index
            .upload_received(oss_key, file, now, expires)
            .await
    }

    /// Whether a file of this hash (MD5 or SHA-256) is kept, by an upload or a detection:
    /// its size, MD5, SHA-1 and SHA-256 as recorded when it arrived.
    pub async fn kept_file(&self, hash: &str) -> Result<Option<KeptFile>, JobError> {
        let Some(kept) = self.index.kept_file(hash, now_ms()).await? else {
            return Ok(None);
        };
        Ok(self.files.has(&kept.sha256).await?.then_some(kept))
    }

    /// Deletes expired detections and upload slots, and the files no longer referenced.
    pub async fn sweep(&self) -> Result<usize, JobError> {
        let orphans = self.index.sweep(now_ms()).await?;
        for sha in &orphans {
            self.files.remove(sha).await;
        }
        // Other nodes' sweeps delete files this node may have fetched: its copies go
        // after the retention.
        let pruned = self.files.prune_cache(self.retention).await;
        if pruned > 0 {
            tracing::debug!(files = pruned, "pruned cached detection files");
        }
        Ok(orphans.len())
    }

    /// Sweeps expired detections every `every` until `stop` turns true.
    pub fn spawn_sweeper(
        &self,
        every: Duration,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        super::workers::spawn_periodic("expired detection files removed", every, stop, move || {
            let this = this.clone();
            async move { this.sweep().await }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_named_by_its_key_or_the_last_segment_of_its_url() {
        let url = |u: &str| source_name(&Source::Url { url: u.to_string() });
        assert_eq!(url("http://h/a/b/eicar.txt?x=1#f"), "eicar.txt");
        assert_eq!(url("https://h:8080/"), "h:8080");
        assert_eq!(url("http://h"), "h");
        let object = Source::Object {
            bucket: "b".into(),
            key: "dir/x.zip".into(),
        };
        assert_eq!(source_name(&object), "dir/x.zip");
    }

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
        let meta = crate::meta::sqlite::open(dir.path()).await.unwrap();
        let jobs = meta.jobs.clone();
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
            meta.detections.clone(),
            jobs.clone(),
            work.clone(),
            FileStore::open(dir.path()).unwrap(),
            Arc::new(detector),
            retention,
        );
        let blobs = Arc::new(crate::blobs::LocalBlobs::open(dir.path()).unwrap());
        let store =
            crate::core::objects::ObjectStore::open(meta.objects, blobs, Default::default(), true)
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
            node: crate::core::cluster::Node::new(|_| {}),
        };
        crate::core::workers::spawn_workers(
            2,
            crate::core::workers::Pool {
                node: "test".into(),
                jobs,
                handlers: vec![Arc::new(runner)],
                signal: work,
                metrics: Default::default(),
                idle_poll: crate::core::workers::IDLE_POLL,
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
                callback: crate::meta::jobs::JobCallback::Queue,
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
            callback: crate::meta::jobs::JobCallback::Queue,
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
        assert!(f.detections.files.has(&sha).await.unwrap());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(matches!(
            f.detections
                .lookup(std::slice::from_ref(&sha))
                .await
                .unwrap()[0],
            Lookup::Unknown
        ));
        assert_eq!(f.detections.sweep().await.unwrap(), 1);
        assert!(!f.detections.files.has(&sha).await.unwrap());
        assert!(f.detections.get(&d.id).await.unwrap().is_none());
    }
}
