//! The detection index: detections (each also a job of the job store, written in the same
//! transaction), Alibaba upload slots, and which kept files they name.
//!
//! [`DetectionIndex`] is what the detection service ([`crate::core::detections`]) calls.
//! The service decides which rows answer a lookup and in which order ([`Probe`] tiers),
//! when a submission reuses an existing detection ([`Reuse`]) and when rows expire; a
//! backend runs each of those as one atomic read or write.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use hashscan_detect::Report;
use serde::{Deserialize, Serialize};

use super::jobs::JobError;

/// Where a detection's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A kept file ([`crate::core::detections::FileStore`]), by SHA-256.
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
    /// Where the finished detection is announced (COS virus detection's `Callback`).
    pub callback: super::jobs::JobCallback,
}

impl NewDetection {
    /// A detection of `source` (`size` when known) with no hash known yet, no client token,
    /// and the queue's callback; callers set what they know besides.
    pub fn new(source: Source, size: Option<u64>, options: Options) -> NewDetection {
        NewDetection {
            hash_key: None,
            md5: None,
            sha1: None,
            sha256: None,
            size,
            source,
            options,
            client_token: None,
            callback: super::jobs::JobCallback::Queue,
        }
    }
}

/// The state of a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Detecting,
    Done,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Detecting => "Detecting",
            State::Done => "Done",
            State::Failed => "Failed",
        }
    }

    pub fn parse(s: &str) -> State {
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

/// A column a lookup key may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyColumn {
    Md5,
    Sha1,
    Sha256,
    /// The hash the client named its file by.
    HashKey,
    /// The detection's id.
    Id,
}

/// Which states a probe looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Only(State),
    /// Detecting or Failed.
    NotDone,
    Any,
}

/// One probe of a lookup: the newest unexpired detection whose `column` equals the key and
/// whose state passes `states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub column: KeyColumn,
    pub states: StateFilter,
}

/// Tiers of probes: the first tier in which a probe finds a row answers, with its newest
/// row (by creation time).
pub type Tiers = &'static [&'static [Probe]];

/// When a submission answers an existing detection instead of inserting one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reuse {
    /// Always insert.
    Never,
    /// The newest unexpired detection submitted with this client token.
    ClientToken(String),
    /// The newest unexpired detection of this SHA-256 created after `after` (a rescan
    /// already under way).
    NewerOfSha256 { sha256: String, after: i64 },
}

/// The detection index interface (object safe: the server holds an
/// `Arc<dyn DetectionIndex>`).
pub trait DetectionIndex: Send + Sync + 'static {
    /// Inserts a Detecting detection and its job (tag [`super::jobs::DETECT_TAG`], in
    /// queue `queue_id` of pseudo-bucket `queue_bucket`) in one transaction, unless `reuse`
    /// finds one; answers the id of the detection inserted or found.
    fn insert<'a>(
        &'a self,
        new: &'a NewDetection,
        reuse: &'a Reuse,
        queue: (&'a str, &'a str),
        now: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<String, JobError>>;
    /// A detection by id.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Detection>, JobError>>;
    /// For each key, the detection its tiers find among the unexpired ones (keys without
    /// one are left out), all from one snapshot.
    fn newest(
        &self,
        keys: Vec<(String, Tiers)>,
        now: i64,
    ) -> BoxFuture<'_, Result<HashMap<String, Arc<Detection>>, JobError>>;
    /// Records a finished scan: state Done, the file's hashes and the report.
    fn complete<'a>(
        &'a self,
        id: &'a str,
        report: &'a Report,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>>;
    /// Records a detection that could not be made: state Failed, a neutral failure code.
    fn fail<'a>(
        &'a self,
        id: &'a str,
        code: &'a str,
        message: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>>;
    /// Stores a new upload slot.
    fn create_upload<'a>(
        &'a self,
        upload: &'a Upload,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>>;
    /// An upload slot unexpired at `now`.
    fn upload<'a>(
        &'a self,
        oss_key: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<Upload>, JobError>>;
    /// Records that a slot's file arrived, kept until `expires_at`.
    fn upload_received<'a>(
        &'a self,
        oss_key: &'a str,
        file: &'a KeptFile,
        now: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), JobError>>;
    /// A file recorded by an unexpired upload slot or detection under this MD5 or SHA-256,
    /// with all its hashes.
    fn kept_file<'a>(
        &'a self,
        hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<KeptFile>, JobError>>;
    /// Deletes detections and upload slots expired at `now`; answers the SHA-256 of each
    /// file no remaining row names (the caller removes the files).
    fn sweep(&self, now: i64) -> BoxFuture<'_, Result<Vec<String>, JobError>>;
}

/// Finished detections (Done or Failed) as last read, by id, so that lookups do not read
/// and parse the same stored reports again and again. An entry is used only while the row's
/// `finished_at` still matches (a job that lost its lease may be finished again by another
/// worker, on any node), and only for a row the lookup found unexpired; bounded to
/// [`FinishedCache::CAPACITY`] entries, emptied when full.
#[derive(Clone, Default)]
pub struct FinishedCache(Arc<std::sync::Mutex<HashMap<String, Arc<Detection>>>>);

impl FinishedCache {
    /// Most detections kept.
    const CAPACITY: usize = 16_384;

    pub fn get(&self, id: &str, finished_at: Option<i64>) -> Option<Arc<Detection>> {
        let map = self.0.lock().ok()?;
        map.get(id)
            .filter(|d| d.finished_at == finished_at)
            .cloned()
    }

    pub fn put(&self, detection: Arc<Detection>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(detection.id.clone(), detection);
        }
    }
}
