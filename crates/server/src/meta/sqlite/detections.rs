//! The embedded detection index: the `detections` and `detect_uploads` tables. A detection's
//! row and its job's row are written in one transaction (the job through
//! [`super::jobs::insert_job_in`]), so neither exists without the other.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use hashscan_detect::Report;
use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::db::{ReadPool, Writer};
use super::jobs::{insert_job_in, op};
use super::rows;
use crate::meta::detections::{
    Detection, DetectionIndex, FinishedCache, KeptFile, KeyColumn, NewDetection, Probe, Reuse,
    State, StateFilter, Tiers, Upload,
};
use crate::meta::jobs::{DETECT_TAG, JobError, NewJob};

/// The detection index in the embedded database.
#[derive(Clone)]
pub struct SqliteDetections {
    writer: Writer,
    readers: ReadPool,
    finished: FinishedCache,
}

impl SqliteDetections {
    /// An index over the database `writer` and `readers` use.
    pub fn new(writer: Writer, readers: ReadPool) -> Self {
        SqliteDetections {
            writer,
            readers,
            finished: FinishedCache::default(),
        }
    }
}

use crate::meta::rows::DETECTION_COLUMNS as COLUMNS;

/// The statement of a probe: one seek down the column's `(column, created_at)` index (or
/// the id's primary key), answering (created_at, id, state, finished_at).
fn probe_sql(probe: Probe) -> &'static str {
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
    macro_rules! by_state {
        ($column:literal, $states:expr) => {
            match $states {
                StateFilter::Only(State::Done) => newest_by!($column, " AND state = 'Done'"),
                StateFilter::Only(State::Detecting) => {
                    newest_by!($column, " AND state = 'Detecting'")
                }
                StateFilter::Only(State::Failed) => newest_by!($column, " AND state = 'Failed'"),
                StateFilter::NotDone => newest_by!($column, " AND state != 'Done'"),
                StateFilter::Any => newest_by!($column, ""),
            }
        };
    }
    match probe.column {
        KeyColumn::Md5 => by_state!("md5", probe.states),
        KeyColumn::Sha1 => by_state!("sha1", probe.states),
        KeyColumn::Sha256 => by_state!("sha256", probe.states),
        KeyColumn::HashKey => by_state!("hash_key", probe.states),
        KeyColumn::Id => by_state!("id", probe.states),
    }
}

/// [`DetectionIndex::newest`] in one read transaction. A finished detection is taken from
/// `finished` when its finish time matches, so the stored report is read and parsed once,
/// not on every lookup.
fn newest_in(
    conn: &rusqlite::Connection,
    finished: &FinishedCache,
    keys: Vec<(String, Tiers)>,
    now: i64,
) -> Result<HashMap<String, Arc<Detection>>, JobError> {
    let tx = conn.unchecked_transaction()?;
    let mut newest: HashMap<String, Arc<Detection>> = HashMap::with_capacity(keys.len());
    for (key, tiers) in keys {
        if newest.contains_key(&key) {
            continue;
        }
        // (created_at, id, state, finished_at) of the newest row of the first tier with one.
        let mut best: Option<(i64, String, String, Option<i64>)> = None;
        for tier in tiers {
            for probe in *tier {
                let row = tx
                    .prepare_cached(probe_sql(*probe))?
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
                let d = Arc::new(crate::meta::rows::detection(&rows::Indexed::new(
                    row, &positions,
                ))?);
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

/// Inserts a detection and its job (inside a write); returns the id.
fn insert_detection_in(
    conn: &rusqlite::Connection,
    queue: (&str, &str),
    new: &NewDetection,
    now: i64,
    expires: i64,
) -> Result<String, JobError> {
    let job = insert_job_in(
        conn,
        &NewJob {
            tag: DETECT_TAG.to_string(),
            queue_id: queue.0.to_string(),
            bucket: queue.1.to_string(),
            // The source, for a callback's body.
            input: serde_json::to_value(&new.source).unwrap_or(Value::Null),
            callback: new.callback.clone(),
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

impl DetectionIndex for SqliteDetections {
    fn insert<'a>(
        &'a self,
        new: &'a NewDetection,
        reuse: &'a Reuse,
        queue: (&'a str, &'a str),
        now: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<String, JobError>> {
        let (new, reuse) = (new.clone(), reuse.clone());
        let (queue_id, queue_bucket) = (queue.0.to_string(), queue.1.to_string());
        Box::pin(self.writer.write(op(move |conn| {
            let existing: Option<String> = match &reuse {
                Reuse::Never => None,
                Reuse::ClientToken(token) => conn
                    .prepare_cached(
                        "SELECT id FROM detections WHERE client_token = ? AND expires_at > ?
                         ORDER BY created_at DESC LIMIT 1",
                    )?
                    .query_row(params![token, now], |r| r.get(0))
                    .optional()?,
                Reuse::NewerOfSha256 { sha256, after } => conn
                    .prepare_cached(
                        "SELECT id FROM detections WHERE sha256 = ? AND created_at > ?
                         AND expires_at > ? ORDER BY created_at DESC LIMIT 1",
                    )?
                    .query_row(params![sha256, after, now], |r| r.get(0))
                    .optional()?,
            };
            match existing {
                Some(id) => Ok(id),
                None => {
                    insert_detection_in(conn, (&queue_id, &queue_bucket), &new, now, expires_at)
                }
            }
        })))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Detection>, JobError>> {
        let id = id.to_string();
        Box::pin(self.readers.read(move |conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM detections WHERE id = ?"))?;
            let mut rows = stmt.query([&id])?;
            rows.next()?.map(crate::meta::rows::detection).transpose()
        }))
    }

    fn newest(
        &self,
        keys: Vec<(String, Tiers)>,
        now: i64,
    ) -> BoxFuture<'_, Result<HashMap<String, Arc<Detection>>, JobError>> {
        // On a blocking thread over rusqlite: through an async driver every row was a
        // hand-off between threads (docs/benchmarks.md, issue 6).
        let finished = self.finished.clone();
        Box::pin(
            self.readers
                .read(move |conn| newest_in(conn, &finished, keys, now)),
        )
    }

    fn complete<'a>(
        &'a self,
        id: &'a str,
        report: &'a Report,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>> {
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
        Box::pin(self.writer.write(op(move |conn| {
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
                now,
                id
            ])?;
            Ok(())
        })))
    }

    fn fail<'a>(
        &'a self,
        id: &'a str,
        code: &'a str,
        message: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        let (id, code, message) = (id.to_string(), code.to_string(), message.to_string());
        Box::pin(self.writer.write(op(move |conn| {
            conn.prepare_cached(
                "UPDATE detections SET state = 'Failed', error_code = ?, error_message = ?,
                        finished_at = ? WHERE id = ?",
            )?
            .execute(params![code, message, now, id])?;
            Ok(())
        })))
    }

    fn create_upload<'a>(
        &'a self,
        upload: &'a Upload,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        let upload = upload.clone();
        Box::pin(self.writer.write(op(move |conn| {
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
                now,
                upload.expires_at
            ])?;
            Ok(())
        })))
    }

    fn upload<'a>(
        &'a self,
        oss_key: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<Upload>, JobError>> {
        let oss_key = oss_key.to_string();
        Box::pin(
            self.readers
                .read(move |conn| -> Result<Option<Upload>, JobError> {
                    let upload = conn
                        .prepare_cached(
                            "SELECT oss_key, hash_key, access_key, max_size, expires_at, sha256,
                                    md5, sha1, size
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
                }),
        )
    }

    fn upload_received<'a>(
        &'a self,
        oss_key: &'a str,
        file: &'a KeptFile,
        now: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        let (k, f) = (oss_key.to_string(), file.clone());
        Box::pin(self.writer.write(op(move |conn| {
            conn.prepare_cached(
                "UPDATE detect_uploads SET size = ?, md5 = ?, sha1 = ?, sha256 = ?,
                        uploaded_at = ?, expires_at = ? WHERE oss_key = ?",
            )?
            .execute(params![
                f.size as i64,
                f.md5,
                f.sha1,
                f.sha256,
                now,
                expires_at,
                k
            ])?;
            Ok(())
        })))
    }

    fn kept_file<'a>(
        &'a self,
        hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<KeptFile>, JobError>> {
        let hash = hash.to_string();
        Box::pin(
            self.readers
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
                }),
        )
    }

    fn sweep(&self, now: i64) -> BoxFuture<'_, Result<Vec<String>, JobError>> {
        Box::pin(self.writer.write(op(move |conn| {
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
        })))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::meta::Meta;
    use crate::meta::conformance::detections::{self as conformance, QUEUE_BUCKET};
    use crate::meta::jobs::Queue;

    async fn setup() -> (tempfile::TempDir, Meta, Queue) {
        let dir = tempfile::tempdir().unwrap();
        let meta = crate::meta::sqlite::open(dir.path()).await.unwrap();
        let queue = meta.jobs.default_queue(QUEUE_BUCKET).await.unwrap();
        (dir, meta, queue)
    }

    #[tokio::test]
    async fn a_detection_and_its_job_are_inserted_together() {
        let (_dir, m, q) = setup().await;
        conformance::a_detection_and_its_job_are_inserted_together(&*m.detections, &*m.jobs, &q)
            .await;
    }

    #[tokio::test]
    async fn a_client_token_or_a_newer_rescan_is_reused() {
        let (_dir, m, q) = setup().await;
        conformance::a_client_token_or_a_newer_rescan_is_reused(&*m.detections, &q).await;
    }

    #[tokio::test]
    async fn lookups_take_the_first_tier_with_a_row_and_its_newest_row() {
        let (_dir, m, q) = setup().await;
        conformance::lookups_take_the_first_tier_with_a_row_and_its_newest_row(&*m.detections, &q)
            .await;
    }

    #[tokio::test]
    async fn upload_slots_and_kept_files() {
        let (_dir, m, q) = setup().await;
        conformance::upload_slots_and_kept_files(&*m.detections, &q).await;
    }

    #[tokio::test]
    async fn sweeping_deletes_expired_rows_and_answers_files_no_row_names() {
        let (_dir, m, q) = setup().await;
        conformance::sweeping_deletes_expired_rows_and_answers_files_no_row_names(
            &*m.detections,
            &q,
        )
        .await;
    }
}
