//! The shared detection index on PostgreSQL: the `detections` and `detect_uploads` tables
//! ([`crate::meta::sqlite::detections`] ported). A detection's row and its job's row are
//! written in one transaction (the job through [`super::jobs::insert_job_in`]), so neither
//! exists without the other.
//!
//! A submission that may reuse an existing detection (a client token, a rescan of a
//! SHA-256) takes a transaction-scoped advisory lock on the token or hash before it looks
//! and inserts, so that nodes submitting the same one at once make one detection. Times here
//! (creation, expiry) are the callers': they decide nothing between nodes that a few
//! milliseconds of clock skew could break.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use hashscan_detect::Report;
use serde_json::Value;
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use super::jobs::insert_job_in;
use crate::meta::detections::{
    Detection, DetectionIndex, FinishedCache, KeptFile, KeyColumn, NewDetection, Probe, Reuse,
    State, StateFilter, Tiers, Upload,
};
use crate::meta::jobs::{DETECT_TAG, JobError, NewJob};

/// The detections store on PostgreSQL.
#[derive(Clone)]
pub struct PgDetections {
    pool: PgPool,
    finished: FinishedCache,
}

impl PgDetections {
    /// An index over a migrated database ([`super::migrate`]).
    pub fn new(pool: PgPool) -> Self {
        PgDetections {
            pool,
            finished: FinishedCache::default(),
        }
    }
}

use crate::meta::rows::DETECTION_COLUMNS as COLUMNS;

/// The statement of a probe for many keys at once: for each key of `$1`, one seek down the
/// column's `(column, created_at)` index (or the id's primary key) for its newest row
/// unexpired at `$2` in the probe's states, answering (key, created_at, id, state,
/// finished_at).
fn probe_sql(probe: Probe) -> String {
    let column = match probe.column {
        KeyColumn::Md5 => "md5",
        KeyColumn::Sha1 => "sha1",
        KeyColumn::Sha256 => "sha256",
        KeyColumn::HashKey => "hash_key",
        KeyColumn::Id => "id",
    };
    let states = match probe.states {
        StateFilter::Only(State::Done) => " AND state = 'Done'",
        StateFilter::Only(State::Detecting) => " AND state = 'Detecting'",
        StateFilter::Only(State::Failed) => " AND state = 'Failed'",
        StateFilter::NotDone => " AND state <> 'Done'",
        StateFilter::Any => "",
    };
    format!(
        "SELECT k.key, d.created_at, d.id, d.state, d.finished_at
         FROM unnest($1::text[]) AS k(key)
         CROSS JOIN LATERAL (
             SELECT created_at, id, state, finished_at FROM detections
             WHERE {column} = k.key AND expires_at > $2{states}
             ORDER BY created_at DESC LIMIT 1) d"
    )
}

/// The newest row a probe found: (created_at, id, state, finished_at).
type Found = (i64, String, String, Option<i64>);

/// [`DetectionIndex::newest`] in one read-only snapshot. Tier by tier, each distinct probe
/// runs once for every key still unanswered that uses it (a statement per probe, not per
/// key and probe); then the rows found are read in one statement, except finished
/// detections still in `finished` with the same finish time.
async fn newest_in(
    pool: &PgPool,
    finished: &FinishedCache,
    keys: Vec<(String, Tiers)>,
    now: i64,
) -> Result<HashMap<String, Arc<Detection>>, JobError> {
    // Each key once (its first tiers).
    let mut seen = HashSet::with_capacity(keys.len());
    let wanted: Vec<(String, Tiers)> = keys
        .into_iter()
        .filter(|(key, _)| seen.insert(key.clone()))
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let mut best: HashMap<String, Found> = HashMap::with_capacity(wanted.len());
    let mut pending: Vec<&(String, Tiers)> = wanted.iter().collect();
    let mut level = 0;
    while !pending.is_empty() {
        // The probes of this tier, each with the keys that use it.
        let mut probes: Vec<(Probe, Vec<&str>)> = Vec::new();
        for (key, tiers) in &pending {
            for probe in tiers.get(level).copied().unwrap_or_default() {
                match probes.iter().position(|(p, _)| p == probe) {
                    Some(i) => probes[i].1.push(key.as_str()),
                    None => probes.push((*probe, vec![key.as_str()])),
                }
            }
        }
        if probes.is_empty() {
            break;
        }
        let mut rows: HashMap<(usize, String), Found> = HashMap::new();
        for (i, (probe, keys)) in probes.iter().enumerate() {
            let found = sqlx::query(&probe_sql(*probe))
                .bind(keys)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            for r in &found {
                rows.insert(
                    (i, r.try_get(0)?),
                    (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?),
                );
            }
        }
        // Per key, the newest row of its tier (the first probe's on a tie); a key that found
        // none goes on to its next tier.
        pending.retain(|(key, tiers)| {
            let mut newest: Option<&Found> = None;
            for probe in tiers.get(level).copied().unwrap_or_default() {
                let Some(i) = probes.iter().position(|(p, _)| p == probe) else {
                    continue;
                };
                if let Some(row) = rows.get(&(i, key.clone()))
                    && newest.is_none_or(|b| row.0 > b.0)
                {
                    newest = Some(row);
                }
            }
            match newest {
                Some(row) => {
                    best.insert(key.clone(), row.clone());
                    false
                }
                None => true,
            }
        });
        level += 1;
    }
    // The rows found, from the cache when finished and unchanged, else read.
    let mut out: HashMap<String, Arc<Detection>> = HashMap::with_capacity(best.len());
    let mut unread: Vec<String> = Vec::new();
    for (id, state, finished_at) in best.values().map(|(_, id, s, f)| (id, s, *f)) {
        let done = State::parse(state) != State::Detecting;
        match finished.get(id, finished_at).filter(|_| done) {
            Some(d) => {
                out.insert(id.clone(), d);
            }
            None => unread.push(id.clone()),
        }
    }
    unread.sort_unstable();
    unread.dedup();
    if !unread.is_empty() {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM detections WHERE id = ANY($1)"
        ))
        .bind(&unread)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let d = Arc::new(crate::meta::rows::detection(row)?);
            if d.state != State::Detecting {
                finished.put(d.clone());
            }
            out.insert(d.id.clone(), d);
        }
    }
    tx.commit().await?;
    // By id → by key.
    Ok(best
        .into_iter()
        .filter_map(|(key, (_, id, _, _))| out.get(&id).map(|d| (key, d.clone())))
        .collect())
}

/// Inserts a detection and its job (inside a transaction); returns the id.
async fn insert_detection_in(
    conn: &mut PgConnection,
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
    )
    .await?;
    sqlx::query(
        "INSERT INTO detections (id, hash_key, md5, sha1, sha256, size, state, source, options,
                                 client_token, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&job.id)
    .bind(&new.hash_key)
    .bind(&new.md5)
    .bind(&new.sha1)
    .bind(&new.sha256)
    .bind(new.size.map(|s| s as i64))
    .bind(State::Detecting.as_str())
    .bind(serde_json::to_string(&new.source).unwrap_or_default())
    .bind(serde_json::to_string(&new.options).unwrap_or_default())
    .bind(&new.client_token)
    .bind(now)
    .bind(expires)
    .execute(&mut *conn)
    .await?;
    Ok(job.id)
}

/// Holds, until the transaction ends, the advisory lock of a reuse key (a client token or a
/// SHA-256): submissions of the same key on any node look and insert one at a time.
async fn lock_reuse_key(conn: &mut PgConnection, key: &str) -> Result<(), JobError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('hashscan:detect:' || $1, 0))")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

impl DetectionIndex for PgDetections {
    fn insert<'a>(
        &'a self,
        new: &'a NewDetection,
        reuse: &'a Reuse,
        queue: (&'a str, &'a str),
        now: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<String, JobError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            // Under READ COMMITTED each statement sees what committed before it began: after
            // the lock, the lookup sees the detection of a submission that held it before.
            let existing: Option<String> = match reuse {
                Reuse::Never => None,
                Reuse::ClientToken(token) => {
                    lock_reuse_key(&mut tx, token).await?;
                    sqlx::query_scalar(
                        "SELECT id FROM detections WHERE client_token = $1 AND expires_at > $2
                         ORDER BY created_at DESC LIMIT 1",
                    )
                    .bind(token)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                Reuse::NewerOfSha256 { sha256, after } => {
                    lock_reuse_key(&mut tx, sha256).await?;
                    sqlx::query_scalar(
                        "SELECT id FROM detections WHERE sha256 = $1 AND created_at > $2
                         AND expires_at > $3 ORDER BY created_at DESC LIMIT 1",
                    )
                    .bind(sha256)
                    .bind(after)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
            let id = match existing {
                Some(id) => id,
                None => insert_detection_in(&mut tx, queue, new, now, expires_at).await?,
            };
            tx.commit().await?;
            Ok(id)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Detection>, JobError>> {
        Box::pin(async move {
            sqlx::query(&format!("SELECT {COLUMNS} FROM detections WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| crate::meta::rows::detection(&r))
                .transpose()
        })
    }

    fn newest(
        &self,
        keys: Vec<(String, Tiers)>,
        now: i64,
    ) -> BoxFuture<'_, Result<HashMap<String, Arc<Detection>>, JobError>> {
        Box::pin(newest_in(&self.pool, &self.finished, keys, now))
    }

    fn complete<'a>(
        &'a self,
        id: &'a str,
        report: &'a Report,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let json = serde_json::to_string(report).unwrap_or_default();
            sqlx::query(
                "UPDATE detections SET state = 'Done', md5 = $1, sha1 = $2, sha256 = $3,
                        size = $4, verdict = $5, score = $6, threat_type = $7, threat_name = $8,
                        report = $9, ruleset = $10, finished_at = $11, error_code = NULL,
                        error_message = NULL
                 WHERE id = $12",
            )
            .bind(&report.md5)
            .bind(&report.sha1)
            .bind(&report.sha256)
            .bind(report.size as i64)
            .bind(report.verdict.as_str())
            .bind(i32::from(report.score))
            .bind(report.threat_type.map(|t| t.as_str()))
            .bind(&report.threat_name)
            .bind(json)
            .bind(&report.ruleset)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn fail<'a>(
        &'a self,
        id: &'a str,
        code: &'a str,
        message: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE detections SET state = 'Failed', error_code = $1, error_message = $2,
                        finished_at = $3 WHERE id = $4",
            )
            .bind(code)
            .bind(message)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn create_upload<'a>(
        &'a self,
        upload: &'a Upload,
        now: i64,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO detect_uploads (oss_key, hash_key, access_key, max_size,
                                             created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&upload.oss_key)
            .bind(&upload.hash_key)
            .bind(&upload.access_key)
            .bind(upload.max_size as i64)
            .bind(now)
            .bind(upload.expires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn upload<'a>(
        &'a self,
        oss_key: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<Upload>, JobError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT oss_key, hash_key, access_key, max_size, expires_at, sha256, md5, sha1,
                        size
                 FROM detect_uploads WHERE oss_key = $1 AND expires_at > $2",
            )
            .bind(oss_key)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            let Some(r) = row else {
                return Ok(None);
            };
            Ok(Some(Upload {
                oss_key: r.try_get("oss_key")?,
                hash_key: r.try_get("hash_key")?,
                access_key: r.try_get("access_key")?,
                max_size: r.try_get::<i64, _>("max_size")?.max(0) as u64,
                expires_at: r.try_get("expires_at")?,
                sha256: r.try_get("sha256")?,
                md5: r.try_get("md5")?,
                sha1: r.try_get("sha1")?,
                size: r
                    .try_get::<Option<i64>, _>("size")?
                    .map(|s| s.max(0) as u64),
            }))
        })
    }

    fn upload_received<'a>(
        &'a self,
        oss_key: &'a str,
        file: &'a KeptFile,
        now: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE detect_uploads SET size = $1, md5 = $2, sha1 = $3, sha256 = $4,
                        uploaded_at = $5, expires_at = $6 WHERE oss_key = $7",
            )
            .bind(file.size as i64)
            .bind(&file.md5)
            .bind(&file.sha1)
            .bind(&file.sha256)
            .bind(now)
            .bind(expires_at)
            .bind(oss_key)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn kept_file<'a>(
        &'a self,
        hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<KeptFile>, JobError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT size, md5, sha1, sha256 FROM detect_uploads
                 WHERE (md5 = $1 OR sha256 = $1) AND expires_at > $2
                   AND sha256 IS NOT NULL AND md5 IS NOT NULL AND sha1 IS NOT NULL
                   AND size IS NOT NULL
                 UNION ALL
                 SELECT size, md5, sha1, sha256 FROM detections
                 WHERE (md5 = $1 OR sha256 = $1) AND expires_at > $2
                   AND sha256 IS NOT NULL AND md5 IS NOT NULL AND sha1 IS NOT NULL
                   AND size IS NOT NULL
                 LIMIT 1",
            )
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            let Some(r) = row else {
                return Ok(None);
            };
            Ok(Some(KeptFile {
                size: r.try_get::<i64, _>("size")?.max(0) as u64,
                md5: r.try_get("md5")?,
                sha1: r.try_get("sha1")?,
                sha256: r.try_get("sha256")?,
            }))
        })
    }

    fn sweep(&self, now: i64) -> BoxFuture<'_, Result<Vec<String>, JobError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            // The files the expired rows named…
            let gone: Vec<String> = sqlx::query_scalar(
                "WITH d AS (DELETE FROM detections WHERE expires_at <= $1 RETURNING sha256),
                      u AS (DELETE FROM detect_uploads WHERE expires_at <= $1 RETURNING sha256)
                 SELECT sha256 FROM d WHERE sha256 IS NOT NULL
                 UNION SELECT sha256 FROM u WHERE sha256 IS NOT NULL",
            )
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            // …that no remaining row names (a file still named by an unexpired row stays).
            let mut orphans: Vec<String> = sqlx::query_scalar(
                "SELECT s FROM unnest($1::text[]) AS s
                 WHERE NOT EXISTS (SELECT 1 FROM detections WHERE sha256 = s)
                   AND NOT EXISTS (SELECT 1 FROM detect_uploads WHERE sha256 = s)",
            )
            .bind(&gone)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            orphans.sort();
            Ok(orphans)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::jobs::PgJobStore;
    use super::super::testdb;
    use super::*;
    use crate::meta::conformance::detections::{self as conformance, QUEUE_BUCKET};
    use crate::meta::jobs::{JobStore, Queue};

    const SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
    const DAY: i64 = 86_400_000;

    async fn setup() -> Option<(PgPool, PgDetections, PgJobStore, Queue)> {
        let pool = testdb::pool().await?;
        let jobs = PgJobStore::new(pool.clone());
        let queue = jobs.default_queue(QUEUE_BUCKET).await.unwrap();
        Some((pool.clone(), PgDetections::new(pool), jobs, queue))
    }

    #[tokio::test]
    async fn a_detection_and_its_job_are_inserted_together() {
        let Some((_pool, d, jobs, q)) = setup().await else {
            return;
        };
        conformance::a_detection_and_its_job_are_inserted_together(&d, &jobs, &q).await;
    }

    #[tokio::test]
    async fn a_client_token_or_a_newer_rescan_is_reused() {
        let Some((_pool, d, _jobs, q)) = setup().await else {
            return;
        };
        conformance::a_client_token_or_a_newer_rescan_is_reused(&d, &q).await;
    }

    #[tokio::test]
    async fn lookups_take_the_first_tier_with_a_row_and_its_newest_row() {
        let Some((_pool, d, _jobs, q)) = setup().await else {
            return;
        };
        conformance::lookups_take_the_first_tier_with_a_row_and_its_newest_row(&d, &q).await;
    }

    #[tokio::test]
    async fn upload_slots_and_kept_files() {
        let Some((_pool, d, _jobs, q)) = setup().await else {
            return;
        };
        conformance::upload_slots_and_kept_files(&d, &q).await;
    }

    #[tokio::test]
    async fn sweeping_deletes_expired_rows_and_answers_files_no_row_names() {
        let Some((_pool, d, _jobs, q)) = setup().await else {
            return;
        };
        conformance::sweeping_deletes_expired_rows_and_answers_files_no_row_names(&d, &q).await;
    }

    /// PostgreSQL: nodes submitting the same client token (or rescanning the same SHA-256) at
    /// once make one detection.
    #[tokio::test]
    async fn concurrent_submissions_of_a_token_make_one_detection() {
        let Some((pool, _d, _jobs, q)) = setup().await else {
            return;
        };
        let mut nodes = Vec::new();
        for _ in 0..4 {
            let other = PgPool::connect_with((*pool.connect_options()).clone())
                .await
                .unwrap();
            nodes.push(PgDetections::new(other));
        }
        for reuse in [
            Reuse::ClientToken("same-token".into()),
            Reuse::NewerOfSha256 {
                sha256: SHA256.into(),
                after: 0,
            },
        ] {
            let mut new = conformance::new_detection(Some(SHA256));
            if let Reuse::ClientToken(t) = &reuse {
                new.client_token = Some(t.clone());
                new.sha256 = None;
            }
            let mut tasks = Vec::new();
            for i in 0..16 {
                let (d, q, new, reuse) =
                    (nodes[i % 4].clone(), q.clone(), new.clone(), reuse.clone());
                tasks.push(tokio::spawn(async move {
                    d.insert(&new, &reuse, (&q.id, QUEUE_BUCKET), 1_000, 1_000 + DAY)
                        .await
                        .unwrap()
                }));
            }
            let mut ids = Vec::new();
            for t in tasks {
                ids.push(t.await.unwrap());
            }
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 1, "{reuse:?}: {ids:?}");
        }
        let (detections, jobs): (i64, i64) =
            sqlx::query_as("SELECT (SELECT COUNT(*) FROM detections), (SELECT COUNT(*) FROM jobs)")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!((detections, jobs), (2, 2));
    }
}
