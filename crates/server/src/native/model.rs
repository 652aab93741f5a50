//! What the `/v1` API reads and writes: the request and answer types (their OpenAPI
//! schemas are derived from them) and their translation from the core's types.
//!
//! Requests refuse unknown fields, so that a misspelt option is an error rather than
//! silently ignored. Times are RFC 3339 (UTC); hashes are lower-case hex.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ErrorDetail;
use crate::core::detections::{Detection, State};
use crate::meta::jobs::Job;

/// A digest algorithm of a hash job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum HashType {
    #[serde(alias = "MD5")]
    Md5,
    #[serde(alias = "SHA1")]
    Sha1,
    #[default]
    #[serde(alias = "SHA256")]
    Sha256,
}

impl From<HashType> for crate::core::hash_jobs::HashType {
    fn from(t: HashType) -> Self {
        match t {
            HashType::Md5 => Self::Md5,
            HashType::Sha1 => Self::Sha1,
            HashType::Sha256 => Self::Sha256,
        }
    }
}

/// `POST /v1/hash`: hash an object of this server in the background (a FileHashCode job,
/// the same kind the COS `POST /file_jobs` submits).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HashRequest {
    #[schema(example = "default-1250000000")]
    pub bucket: String,
    #[schema(example = "photos/cat.jpg")]
    pub key: String,
    /// One algorithm per job (as in COS); default `sha256`.
    #[serde(rename = "type", default)]
    pub hash_type: HashType,
    /// Also write the digest into the object's metadata (`x-cos-meta-<type>`), as COS
    /// AddToHeader does.
    #[serde(default)]
    pub add_to_header: bool,
}

/// A submitted job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobSubmitted {
    /// `f` + 32 hex; poll `GET /v1/jobs/{id}`.
    #[schema(example = "f93984788066911ed89ed352d4d9d2084")]
    pub job_id: String,
    pub state: String,
}

/// `POST /v1/detections` with a JSON body: scan an object of this server (`bucket` and
/// `key`) or a URL (`url`), not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectionRequest {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// http or https; fetched by the server, which refuses private, loopback and
    /// link-local addresses unless configured otherwise.
    #[schema(example = "https://example.com/download/setup.exe")]
    pub url: Option<String>,
    /// Scan inside archives (zip, tar, gz, 7z …) and report every member.
    #[serde(default)]
    pub decompress: bool,
    /// Deepest nesting of archives expanded, 1–5.
    #[schema(minimum = 1, maximum = 5)]
    pub max_layer: Option<u8>,
    /// Most archive members scanned, 1–1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_files: Option<u32>,
}

/// `POST /v1/detections/lookup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    /// MD5, SHA-1 or SHA-256 hex digests (or detection ids), at most 1000.
    pub hashes: Vec<String>,
}

/// The newest detection of each hash asked; `null` for a hash never submitted or expired.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupResponse {
    /// Keyed by the hashes as sent; a value is a detection or `null`.
    #[schema(value_type = BTreeMap<String, DetectionView>)]
    pub results: BTreeMap<String, Option<DetectionView>>,
}

/// The state of a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DetectionState {
    Detecting,
    Done,
    Failed,
}

/// The verdict on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerdictView {
    Clean,
    Unknown,
    Suspicious,
    Malicious,
}

impl From<hashscan_detect::Verdict> for VerdictView {
    fn from(v: hashscan_detect::Verdict) -> Self {
        match v {
            hashscan_detect::Verdict::Clean => VerdictView::Clean,
            hashscan_detect::Verdict::Unknown => VerdictView::Unknown,
            hashscan_detect::Verdict::Suspicious => VerdictView::Suspicious,
            hashscan_detect::Verdict::Malicious => VerdictView::Malicious,
        }
    }
}

/// A detection: its state and, once done, the verdict and everything the engines found.
/// Hashes are known from submission for uploads, and once done for objects and URLs.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectionView {
    /// `f` + 32 hex (the id of its FileDetect job).
    pub id: String,
    pub state: DetectionState,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// Set when done.
    pub verdict: Option<VerdictView>,
    /// 0–100: up to 60 clean, 61–80 suspicious, above 80 malicious.
    pub score: Option<u8>,
    /// Alibaba's VirusType names: `Trojan`, `WebShell`, `Engtest` (test files such as
    /// EICAR) …; set when the verdict is suspicious or malicious.
    pub threat_type: Option<String>,
    /// The top hit's name.
    pub threat_name: Option<String>,
    pub hits: Vec<HitView>,
    /// File-type labels (`PE32`, `ELF`, `Zip`, `PHP`, `encrypted` …).
    pub labels: Vec<String>,
    pub archive: Option<ArchiveView>,
    /// Why the scan is incomplete (time or size limit, clamd unreachable …).
    pub notes: Vec<String>,
    /// The version of the rules and lists the result was made with; a lookup rescans a
    /// kept file whose result is of an older version.
    pub ruleset: Option<String>,
    /// Set when failed.
    pub error: Option<ErrorDetail>,
    /// RFC 3339.
    pub created_at: String,
    pub finished_at: Option<String>,
    /// When the result (and the kept file) is deleted.
    pub expires_at: String,
}

/// One engine's finding.
#[derive(Debug, Serialize, ToSchema)]
pub struct HitView {
    /// `yara`, `hashlist`, `allowlist`, `clamav` or `archive`.
    pub engine: String,
    /// Rule (`namespace:rule`), signature or list entry.
    pub name: String,
    pub score: u8,
    pub threat_type: String,
    pub description: String,
    /// Byte ranges `[start, end)` of the matched data.
    pub highlights: Vec<[u64; 2]>,
}

/// What was found inside an archive.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArchiveView {
    /// The outer format (`Zip`, `tar` …).
    pub format: String,
    pub members_scanned: u32,
    /// Members not clean (every member when `decompress` was asked).
    pub members: Vec<MemberView>,
    /// Encrypted members (not decrypted).
    pub encrypted: Vec<String>,
    /// Which limit stopped the walk, and where.
    pub limits_exceeded: Option<String>,
}

/// The finding on one archive member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// Nested archives joined with `/` (`a.zip/inner.tar/x.php`).
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub verdict: VerdictView,
    pub score: u8,
    pub threat_type: Option<String>,
    pub threat_name: Option<String>,
}

/// Unix milliseconds as RFC 3339, UTC.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn engine_name(e: hashscan_detect::EngineKind) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl From<&Detection> for DetectionView {
    fn from(d: &Detection) -> Self {
        let report = d.report.as_ref().filter(|_| d.state == State::Done);
        DetectionView {
            id: d.id.clone(),
            state: match d.state {
                State::Detecting => DetectionState::Detecting,
                State::Done => DetectionState::Done,
                State::Failed => DetectionState::Failed,
            },
            md5: report.map(|r| r.md5.clone()).or_else(|| d.md5.clone()),
            sha1: report.map(|r| r.sha1.clone()).or_else(|| d.sha1.clone()),
            sha256: report
                .map(|r| r.sha256.clone())
                .or_else(|| d.sha256.clone()),
            size: report.map(|r| r.size).or(d.size),
            verdict: report.map(|r| r.verdict.into()),
            score: report.map(|r| r.score),
            threat_type: report.and_then(|r| r.threat_type.map(|t| t.as_str().to_string())),
            threat_name: report.and_then(|r| r.threat_name.clone()),
            hits: report.map_or_else(Vec::new, |r| {
                r.hits
                    .iter()
                    .map(|h| HitView {
                        engine: engine_name(h.engine),
                        name: h.name.clone(),
                        score: h.score,
                        threat_type: h.threat_type.as_str().to_string(),
                        description: h.description.clone(),
                        highlights: h.highlights.clone(),
                    })
                    .collect()
            }),
            labels: report.map_or_else(Vec::new, |r| r.labels.clone()),
            archive: report
                .and_then(|r| r.archive.as_ref())
                .map(|a| ArchiveView {
                    format: a.format.clone(),
                    members_scanned: a.members_scanned,
                    members: a
                        .members
                        .iter()
                        .map(|m| MemberView {
                            path: m.path.clone(),
                            size: m.size,
                            sha256: m.sha256.clone(),
                            verdict: m.verdict.into(),
                            score: m.score,
                            threat_type: m.threat_type.map(|t| t.as_str().to_string()),
                            threat_name: m.threat_name.clone(),
                        })
                        .collect(),
                    encrypted: a.encrypted.clone(),
                    limits_exceeded: a.limits_exceeded.clone(),
                }),
            notes: report.map_or_else(Vec::new, |r| r.notes.clone()),
            ruleset: d.ruleset.clone(),
            error: (d.state == State::Failed).then(|| ErrorDetail {
                code: super::error::failure_code(d.error_code.as_deref()).to_string(),
                message: d.error_message.clone().unwrap_or_default(),
            }),
            created_at: rfc3339(d.created_at),
            finished_at: d.finished_at.map(rfc3339),
            expires_at: rfc3339(d.expires_at),
        }
    }
}

/// A job: a hash job (`FileHashCode`) or a detection's job (`FileDetect`).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    /// `FileHashCode` or `FileDetect`.
    pub tag: String,
    pub bucket: String,
    pub queue_id: String,
    /// `Submitted`, `Running`, `Success`, `Failed`, `Pause` or `Cancel` (COS's names).
    pub state: String,
    /// 0–100.
    pub progress: u8,
    /// What the job works on: for `FileHashCode` `{"object","region","type",
    /// "add_to_header",…}`.
    pub input: Value,
    /// Once `Success`: for `FileHashCode` `{"digest","size","last_modified","etag"}`
    /// (`digest` lower-case hex, `last_modified` Unix milliseconds).
    pub result: Option<Value>,
    /// Once `Failed`.
    pub error: Option<ErrorDetail>,
    /// How many times a worker took the job.
    pub attempts: u32,
    /// RFC 3339.
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> Self {
        JobView {
            id: j.id.clone(),
            tag: j.tag.clone(),
            bucket: j.bucket.clone(),
            queue_id: j.queue_id.clone(),
            state: j.state.as_str().to_string(),
            progress: j.progress,
            input: j.input.clone(),
            result: j.result.clone(),
            error: (j.state == crate::meta::jobs::JobState::Failed).then(|| ErrorDetail {
                code: super::error::failure_code(j.error_code.as_deref()).to_string(),
                message: j.error_message.clone().unwrap_or_default(),
            }),
            attempts: j.attempts,
            created_at: rfc3339(j.created_at),
            started_at: j.started_at.map(rfc3339),
            ended_at: j.ended_at.map(rfc3339),
        }
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
    /// Pass as `next_token` for the next page; `null` on the last page.
    pub next_token: Option<String>,
}

/// `GET /v1/version`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionInfo {
    /// hashscan's version.
    #[schema(example = "0.1.0")]
    pub version: String,
    /// The version of the rules and hash lists now loaded (results carry the version they
    /// were made with).
    pub ruleset: String,
    /// Number of YARA rules loaded.
    pub rules: usize,
}

/// `GET /v1/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(1_558_695_400_123), "2019-05-24T10:56:40.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
