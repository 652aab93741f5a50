//! FileDetect jobs: how a worker runs a detection.
//!
//! The job's id is the detection's id; what to scan and how is in the detection's row
//! ([`crate::core::detections`]). The worker gets the bytes — a kept file, an object of this
//! server, or a URL fetched with the SSRF-safe fetcher (the file is then kept by SHA-256 so
//! that a stale result can be rescanned) — scans them on a blocking thread with the
//! detection engine, and records the report or the failure.

use std::sync::Arc;

use hashscan_detect::{ArchiveLimits, Report, ScanOptions};
use serde_json::{Value, json};

use crate::core::detections::{DetectCtx, Detection, Source};
use crate::core::failure::{Failure, FailureKind};
use crate::core::objects::{ObjectStore, StoreError};
use crate::core::workers::{JobFailure, JobHandler, JobRun, ReadProgress};
use crate::meta::jobs::DETECT_TAG;

/// Largest file a detection takes by default (Alibaba: 100 MB per file).
pub const DEFAULT_MAX_FILE: u64 = 100 * 1024 * 1024;

/// The detection job kind, registered with the worker pool.
pub struct DetectRunner {
    pub ctx: DetectCtx,
    pub store: ObjectStore,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// This node: it claims no detection while its rules differ from the active ones.
    pub node: Arc<crate::core::cluster::Node>,
}

impl JobHandler for DetectRunner {
    fn tag(&self) -> &'static str {
        DETECT_TAG
    }

    fn ready(&self) -> bool {
        self.node.rules_current()
    }

    fn run(&self, run: &JobRun<'_>) -> Result<Value, JobFailure> {
        run.block_on(execute(self, run))
    }
}

fn failed(kind: FailureKind, message: impl Into<String>) -> JobFailure {
    JobFailure::Failed(Failure::new(kind, message))
}

/// The engine options of a detection.
fn scan_options(d: &Detection) -> ScanOptions {
    let defaults = ArchiveLimits::default();
    ScanOptions {
        expand_archives: d.options.decompress,
        archive: Some(ArchiveLimits {
            max_depth: d.options.max_layer.map_or(defaults.max_depth, u32::from),
            max_members: d.options.max_files.unwrap_or(defaults.max_members),
            ..defaults
        }),
        all_members: d.options.decompress,
        report_hashes: true,
    }
}

/// Runs the detection of `job`; the job's result is a summary, the report goes to the
/// detection's row.
async fn execute(runner: &DetectRunner, run: &JobRun<'_>) -> Result<Value, JobFailure> {
    let (ctx, job) = (&runner.ctx, run.job);
    let detection = match ctx.detections.get(&job.id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(failed(
                FailureKind::Internal,
                "the detection's record is missing",
            ));
        }
        Err(e) => return Err(failed(FailureKind::Internal, e.to_string())),
    };
    let scanned = match scan(runner, run, &detection).await {
        Ok(report)
            if !crate::core::detections::hash_key_matches(
                detection.hash_key.as_deref(),
                &report,
            ) =>
        {
            Err(failed(
                FailureKind::HashKeyMismatch,
                format!(
                    "the file's hashes (MD5 {}, SHA-256 {}) do not match the HashKey it was submitted under ({}); no result was recorded",
                    report.md5,
                    report.sha256,
                    detection.hash_key.as_deref().unwrap_or_default()
                ),
            ))
        }
        other => other,
    };
    match scanned {
        Ok(report) => {
            ctx.detections
                .complete(&job.id, &report)
                .await
                .map_err(|e| failed(FailureKind::Internal, e.to_string()))?;
            runner.metrics.detection(&report);
            let name = crate::core::detections::source_name(&detection.source);
            Ok(json!({
                "md5": report.md5,
                "sha256": report.sha256,
                "size": report.size,
                "verdict": report.verdict.as_str(),
                "score": report.score,
                "threat": crate::core::detections::is_threat(report.verdict),
                // For a callback's body.
                "findings": crate::core::detections::findings(&report, &name),
            }))
        }
        Err(JobFailure::LeaseLost) => Err(JobFailure::LeaseLost),
        Err(JobFailure::Failed(f)) => {
            if let Err(e) = ctx.detections.fail(&job.id, f.kind, &f.message).await {
                tracing::warn!(detection = %job.id, error = %e, "cannot record a failed detection");
            }
            Err(JobFailure::Failed(f))
        }
    }
}

async fn scan(
    runner: &DetectRunner,
    run: &JobRun<'_>,
    d: &Detection,
) -> Result<Report, JobFailure> {
    let (ctx, store, job) = (&runner.ctx, &runner.store, run.job);
    let options = scan_options(d);
    let detector = ctx.detections.detector.clone();
    let too_large = |size: u64| {
        failed(
            FailureKind::TooLarge,
            format!(
                "the file is {size} bytes; the limit is {} bytes",
                ctx.max_file
            ),
        )
    };
    match &d.source {
        Source::File { sha256 } => {
            // Received by any node: fetched from the shared store when not kept here.
            let path = match ctx.detections.files.local(sha256).await {
                Ok(p) => p,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(failed(
                        FailureKind::Expired,
                        "the uploaded file is no longer kept (expired); upload it again",
                    ));
                }
                Err(e) if crate::blobs::is_unavailable(&e) => {
                    return Err(JobFailure::Failed(Failure::unavailable(format!(
                        "the blob store is unavailable: {e}"
                    ))));
                }
                Err(e) => {
                    return Err(failed(
                        FailureKind::Internal,
                        format!("cannot read the file: {e}"),
                    ));
                }
            };
            let task =
                tokio::task::spawn_blocking(move || detector.scan_file_with(&path, &options));
            match run.renewing(|| 0, task).await? {
                Ok(report) => Ok(report),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(failed(
                    FailureKind::Expired,
                    "the uploaded file is no longer kept (expired); upload it again",
                )),
                Err(e) => Err(failed(
                    FailureKind::Internal,
                    format!("cannot read the file: {e}"),
                )),
            }
        }
        Source::Object { bucket, key } => {
            let meta = match store.head(bucket, key).await {
                Ok(m) => m,
                Err(StoreError::NoSuchKey | StoreError::NoSuchBucket) => {
                    return Err(failed(FailureKind::NotFound, "the object does not exist"));
                }
                Err(e) => {
                    return Err(failed(
                        FailureKind::Internal,
                        format!("cannot read the object: {e}"),
                    ));
                }
            };
            if meta.size > ctx.max_file {
                return Err(too_large(meta.size));
            }
            // Progress: the object's bytes are read once, scanned after.
            let progress = ReadProgress::new(meta.size);
            let (store2, meta2, counter) = (store.clone(), meta.clone(), progress.clone());
            let task = tokio::task::spawn_blocking(move || {
                let mut file = counter.reader(store2.open_content_blocking(&meta2)?);
                detector.scan_reader_with(&mut file, meta2.size, &options)
            });
            run.renewing(|| progress.percent(), task)
                .await?
                .map_err(|e| {
                    failed(
                        FailureKind::Unreadable,
                        format!("cannot read the object: {e}"),
                    )
                })
        }
        Source::Url { url } => {
            let temp = ctx.detections.files.temp_path();
            let fetched = ctx.fetcher.fetch_to_file(url, &temp).await;
            let fetched = match fetched {
                Ok(f) => f,
                Err(hashscan_fetch::FetchError::TooLarge { .. }) => {
                    return Err(failed(
                        FailureKind::TooLarge,
                        format!("the file is over the limit of {} bytes", ctx.max_file),
                    ));
                }
                Err(e) if e.is_client_error() => {
                    return Err(failed(
                        FailureKind::DownloadRefused,
                        format!("cannot download the file: {e}"),
                    ));
                }
                Err(e) => {
                    return Err(failed(
                        FailureKind::DownloadFailed,
                        format!("cannot download the file: {e}"),
                    ));
                }
            };
            tracing::debug!(detection = %job.id, bytes = fetched.size, "downloaded");
            let files = ctx.detections.files.clone();
            let hash_key = d.hash_key.clone();
            let task = tokio::task::spawn_blocking(move || {
                let report = detector.scan_file_with(&temp, &options);
                // A file that is not what it was submitted as is not kept: its detection
                // fails and records no hash that would name it.
                let kept = match &report {
                    Ok(r) if crate::core::detections::hash_key_matches(hash_key.as_deref(), r) => {
                        files.keep(&temp, &r.sha256).map(|_| ())
                    }
                    _ => Ok(()),
                };
                let _ = std::fs::remove_file(&temp);
                (report, kept)
            });
            let (report, kept) = run.renewing(|| 0, task).await?;
            let kept = match (kept, &report) {
                (Ok(()), Ok(r))
                    if crate::core::detections::hash_key_matches(d.hash_key.as_deref(), r) =>
                {
                    ctx.detections.files.publish(&r.sha256).await
                }
                (kept, _) => kept,
            };
            if let Err(e) = kept {
                tracing::warn!(detection = %job.id, error = %e, "cannot keep a downloaded file; a stale result of it cannot be rescanned");
            }
            report.map_err(|e| {
                failed(
                    FailureKind::Internal,
                    format!("cannot read the downloaded file: {e}"),
                )
            })
        }
    }
}
