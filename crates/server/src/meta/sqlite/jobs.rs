//! The embedded job store over SQLite: queues, jobs, leases and callback deliveries
//! ([`crate::meta::jobs::JobStore`] says what each operation guarantees).

use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, params};

use super::db::{ReadPool, WriteOp, Writer};
use crate::meta::jobs::{
    Delivery, DeliveryOutcome, DeliveryRecord, Job, JobCallback, JobCount, JobError, JobPage,
    JobStore, ListFilter, NewJob, Outcome, Queue, QueueNotify, QueueState, delivery_id, new_id,
};

/// A write of the job store, for the group-commit [`Writer`].
pub(crate) fn op<T, F>(f: F) -> WriteOp<T, JobError>
where
    F: FnOnce(&rusqlite::Connection) -> Result<T, JobError> + Send + 'static,
{
    Box::new(f)
}

/// The embedded job store: reads on blocking threads through a [`ReadPool`], writes through
/// the group-commit [`Writer`].
#[derive(Clone)]
pub struct SqliteJobStore {
    writer: Writer,
    readers: ReadPool,
}

impl SqliteJobStore {
    /// A job store over the database `writer` and `readers` use (opened and migrated by
    /// [`crate::meta::sqlite::db::open`]).
    pub fn new(writer: Writer, readers: ReadPool) -> Self {
        SqliteJobStore { writer, readers }
    }
}

use crate::meta::rows::{self, JOB_COLUMNS, QUEUE_COLUMNS, job_columns};

/// One row mapped by `map` (inside a write or a read); `None` when there is none.
fn one_in<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: fn(&rusqlite::Row<'_>) -> Result<T, JobError>,
) -> Result<Option<T>, JobError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    rows.next()?.map(map).transpose()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A job read inside a write.
pub(crate) fn job_in(conn: &rusqlite::Connection, id: &str) -> Result<Job, JobError> {
    one_in(
        conn,
        concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = ?"),
        [id],
        |r| rows::job(r),
    )?
    .ok_or(JobError::NoSuchJob)
}

/// A queue read inside a write.
fn queue_in(conn: &rusqlite::Connection, sql: &str, key: &str) -> Result<Queue, JobError> {
    one_in(conn, sql, [key], |r| rows::queue(r))?.ok_or(JobError::NoSuchQueue)
}

/// Every row of `sql` mapped by `map`.
fn all_in<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T, JobError>,
) -> Result<Vec<T>, JobError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Stores a new job inside a write (see [`JobStore::submit`]); other stores that must write
/// their own rows in the same transaction as the job (detections) call it from their ops.
pub(crate) fn insert_job_in(conn: &rusqlite::Connection, job: &NewJob) -> Result<Job, JobError> {
    let id = new_id('f');
    // The state follows the queue's in the same statement, so a pause cannot slip between
    // reading the queue and inserting the job.
    let done = conn
        .prepare_cached(
            "INSERT INTO jobs (id, seq, tag, queue_id, bucket, state, input, created_at,
                               callback_url, callback_format, queue_notify)
             SELECT ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), ?, id, ?,
                    CASE state WHEN 'Paused' THEN 'Pause' ELSE 'Submitted' END, ?, ?, ?, ?, ?
             FROM queues WHERE id = ?",
        )?
        .execute(params![
            id,
            job.tag,
            job.bucket,
            job.input.to_string(),
            now_ms(),
            job.callback.target().map(|c| c.url.clone()),
            job.callback.target().and_then(|c| c.format.clone()),
            job.callback != JobCallback::Off,
            job.queue_id
        ])?;
    if done == 0 {
        return Err(JobError::NoSuchQueue);
    }
    job_in(conn, &id)
}

/// Claims the oldest runnable job of `tags` (see [`JobStore::claim`]).
fn claim_in(
    conn: &rusqlite::Connection,
    owner: &str,
    tags: &[String],
    now: i64,
    ttl_ms: i64,
) -> Result<Option<Job>, JobError> {
    // A job whose lease expired first (it was started before anything still queued), then
    // the oldest Submitted one: each one seek, on `jobs_leases` and on `jobs_runnable`
    // (state, seq). In one statement, the two searches cost a sort on every claim.
    let mut id = None;
    for sql in [
        "SELECT seq, id FROM jobs INDEXED BY jobs_leases
         WHERE state = 'Running' AND lease_expires < ?1 AND tag IN (?2, ?3)
         ORDER BY seq LIMIT 1",
        "SELECT seq, id FROM jobs WHERE state = 'Submitted' AND tag IN (?2, ?3)
         ORDER BY seq LIMIT 1",
    ] {
        // Tags two at a time (a node has one or two), the oldest job over all of them.
        let mut best: Option<(i64, String)> = None;
        for pair in tags.chunks(2) {
            let (a, b) = (&pair[0], pair.get(1).unwrap_or(&pair[0]));
            let found: Option<(i64, String)> = conn
                .prepare_cached(sql)?
                .query_row(params![now, a, b], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some(found) = found
                && best.as_ref().is_none_or(|b| found.0 < b.0)
            {
                best = Some(found);
            }
        }
        if let Some((_, found)) = best {
            id = Some(found);
            break;
        }
    }
    let Some(id) = id else {
        return Ok(None);
    };
    job_returning(
        conn,
        concat!(
            "UPDATE jobs SET state = 'Running', lease_owner = ?, lease_expires = ?,
                    attempts = attempts + 1, started_at = COALESCE(started_at, ?)
             WHERE id = ?
             RETURNING ",
            job_columns!()
        ),
        params![owner, now + ttl_ms, now, id],
    )
}

/// Runs an `UPDATE … RETURNING` of at most one job row and answers the row as it is now,
/// without reading it again.
fn job_returning(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<Job>, JobError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let job = rows.next()?.map(rows::job).transpose()?;
    // Run the statement to its end (an UPDATE's changes are all made by its first step,
    // but the statement stays active until then).
    while rows.next()?.is_some() {}
    Ok(job)
}

/// Ends a job `owner` holds and queues its callback (see [`JobStore::finish`]).
fn finish_in(
    conn: &rusqlite::Connection,
    id: &str,
    owner: &str,
    now: i64,
    outcome: Outcome,
) -> Result<Job, JobError> {
    let (state, result, code, message) = match outcome {
        Outcome::Success(r) => ("Success", Some(r.to_string()), None, None),
        Outcome::Failed { code, message } => ("Failed", None, Some(code), Some(message)),
    };
    let Some(done) = job_returning(
        conn,
        concat!(
            "UPDATE jobs SET state = ?1, result = ?2, error_code = ?3, error_message = ?4,
                    progress = CASE ?1 WHEN 'Success' THEN 100 ELSE progress END,
                    ended_at = ?5, lease_owner = NULL, lease_expires = NULL
             WHERE id = ?6 AND state = 'Running' AND lease_owner = ?7
             RETURNING ",
            job_columns!()
        ),
        params![state, result, code, message, now, id, owner],
    )?
    else {
        return Err(JobError::LeaseLost);
    };
    // The callback is due in the same transaction: a crash cannot lose it.
    conn.prepare_cached(
        "INSERT INTO deliveries (id, job_id, url, format, state, next_at, created_at)
         SELECT ?1, j.id,
                COALESCE(j.callback_url, q.notify_url),
                UPPER(CASE WHEN j.callback_url IS NOT NULL
                           THEN COALESCE(j.callback_format, 'XML')
                           ELSE COALESCE(q.notify_format, 'XML') END),
                'Pending', ?2, ?2
         FROM jobs j JOIN queues q ON q.id = j.queue_id
         WHERE j.id = ?3
           AND (j.callback_url IS NOT NULL
                OR (j.queue_notify = 1 AND q.notify_url IS NOT NULL))",
    )?
    .execute(params![delivery_id(id), now, id])?;
    Ok(done)
}

impl JobStore for SqliteJobStore {
    fn default_queue<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<Queue, JobError>> {
        Box::pin(async move {
            let select =
                format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE bucket = ? AND is_default = 1");
            // Read first: after a bucket's first job its queue exists, and a write (with its
            // commit) on every submission would double the cost of submitting.
            let (sql, key) = (select.clone(), bucket.to_string());
            let found = self
                .readers
                .read(move |conn| one_in(conn, &sql, [&key], |r| rows::queue(r)))
                .await?;
            if let Some(queue) = found {
                return Ok(queue);
            }
            let bucket = bucket.to_string();
            self.writer
                .write(op(move |conn| {
                    let now = now_ms();
                    conn.prepare_cached(
                        "INSERT INTO queues (id, bucket, name, state, is_default, notify,
                                             created_at, updated_at)
                         VALUES (?1, ?2, ?2, 'Active', 1, '{}', ?3, ?3)
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![new_id('p'), bucket, now])?;
                    queue_in(conn, &select, &bucket)
                }))
                .await
        })
    }

    fn queue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Queue>, JobError>> {
        let id = id.to_string();
        Box::pin(self.readers.read(move |conn| {
            one_in(
                conn,
                &format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE id = ?"),
                [&id],
                |r| rows::queue(r),
            )
        }))
    }

    fn queues<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<Vec<Queue>, JobError>> {
        let bucket = bucket.to_string();
        Box::pin(self.readers.read(move |conn| {
            all_in(
                conn,
                &format!(
                    "SELECT {QUEUE_COLUMNS} FROM queues WHERE bucket = ? ORDER BY created_at, id"
                ),
                [&bucket],
                |r| rows::queue(r),
            )
        }))
    }

    fn update_queue<'a>(
        &'a self,
        id: &'a str,
        name: Option<&'a str>,
        state: Option<QueueState>,
        notify: Option<QueueNotify>,
    ) -> BoxFuture<'a, Result<Queue, JobError>> {
        let (id, name) = (id.to_string(), name.map(str::to_string));
        Box::pin(self.writer.write(op(move |conn| {
            let done = conn
                .prepare_cached(
                    "UPDATE queues SET name = COALESCE(?, name), state = COALESCE(?, state),
                            updated_at = ? WHERE id = ?",
                )?
                .execute(params![name, state.map(QueueState::as_str), now_ms(), id])?;
            if let (Some(n), true) = (&notify, done > 0) {
                let target = n.target.as_ref();
                conn.prepare_cached(
                    "UPDATE queues SET notify = ?, notify_url = ?, notify_format = ? WHERE id = ?",
                )?
                .execute(params![
                    n.settings.to_string(),
                    target.map(|t| t.url.as_str()),
                    target.map(|t| t.format.as_deref().unwrap_or("XML").to_ascii_uppercase()),
                    id
                ])?;
            }
            if done == 0 {
                return Err(JobError::NoSuchQueue);
            }
            let moved = match state {
                Some(QueueState::Paused) => Some(("Submitted", "Pause")),
                Some(QueueState::Active) => Some(("Pause", "Submitted")),
                None => None,
            };
            if let Some((from, to)) = moved {
                conn.prepare_cached("UPDATE jobs SET state = ? WHERE queue_id = ? AND state = ?")?
                    .execute(params![to, id, from])?;
            }
            queue_in(
                conn,
                &format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE id = ?"),
                &id,
            )
        })))
    }

    fn submit(&self, job: NewJob) -> BoxFuture<'_, Result<Job, JobError>> {
        Box::pin(self.writer.write(op(move |conn| insert_job_in(conn, &job))))
    }

    fn get<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<Vec<Job>, JobError>> {
        // On a blocking thread over rusqlite, all ids at once: through an async driver each
        // id was several hand-offs between threads, which under load cost more than the
        // reads (GET /file_jobs, docs/benchmarks.md, issue 4).
        let ids = ids.to_vec();
        Box::pin(self.readers.read(move |conn| {
            let mut jobs = Vec::with_capacity(ids.len());
            for id in &ids {
                match job_in(conn, id) {
                    Ok(j) => jobs.push(j),
                    Err(JobError::NoSuchJob) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(jobs)
        }))
    }

    fn claim<'a>(
        &'a self,
        owner: &'a str,
        tags: &'a [&'a str],
        now: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Job>, JobError>> {
        let owner = owner.to_string();
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        Box::pin(
            self.writer
                .write_relaxed(op(move |conn| claim_in(conn, &owner, &tags, now, ttl_ms))),
        )
    }

    fn renew<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        ttl_ms: i64,
        progress: u8,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        let (id, owner) = (id.to_string(), owner.to_string());
        Box::pin(self.writer.write_relaxed(op(move |conn| {
            let done = conn
                .prepare_cached(
                    "UPDATE jobs SET lease_expires = ?, progress = ?
                     WHERE id = ? AND state = 'Running' AND lease_owner = ?",
                )?
                .execute(params![
                    now + ttl_ms,
                    i64::from(progress.min(100)),
                    id,
                    owner
                ])?;
            if done == 0 {
                return Err(JobError::LeaseLost);
            }
            Ok(())
        })))
    }

    fn finish<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        outcome: Outcome,
    ) -> BoxFuture<'a, Result<Job, JobError>> {
        let (id, owner) = (id.to_string(), owner.to_string());
        Box::pin(
            self.writer
                .write_relaxed(op(move |conn| finish_in(conn, &id, &owner, now, outcome))),
        )
    }

    fn finish_and_claim<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        outcome: Outcome,
        tags: &'a [&'a str],
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<(Job, Option<Job>), JobError>> {
        let (id, owner) = (id.to_string(), owner.to_string());
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        Box::pin(self.writer.write_relaxed(op(move |conn| {
            let done = finish_in(conn, &id, &owner, now, outcome)?;
            let next = claim_in(conn, &owner, &tags, now, ttl_ms)?;
            Ok((done, next))
        })))
    }

    fn claim_delivery<'a>(
        &'a self,
        owner: &'a str,
        now: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Delivery>, JobError>> {
        let owner = owner.to_string();
        Box::pin(self.writer.write(op(move |conn| {
            let delivery = one_in(
                conn,
                "SELECT id, job_id, url, format, attempts, created_at FROM deliveries
                 WHERE state = 'Pending' AND next_at <= ?1
                   AND (lease_expires IS NULL OR lease_expires < ?1)
                 ORDER BY next_at LIMIT 1",
                [now],
                |row| {
                    Ok(Delivery {
                        id: row.get("id")?,
                        job_id: row.get("job_id")?,
                        url: row.get("url")?,
                        format: row.get("format")?,
                        attempts: row.get::<_, i64>("attempts")?.max(0) as u32,
                        created_at: row.get("created_at")?,
                    })
                },
            )?;
            let Some(delivery) = delivery else {
                return Ok(None);
            };
            conn.prepare_cached(
                "UPDATE deliveries SET lease_owner = ?, lease_expires = ? WHERE id = ?",
            )?
            .execute(params![owner, now + ttl_ms, delivery.id])?;
            Ok(Some(delivery))
        })))
    }

    fn delivery_attempted<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        outcome: DeliveryOutcome,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        let (id, owner) = (id.to_string(), owner.to_string());
        Box::pin(self.writer.write(op(move |conn| {
            let (state, next_at, error, ended) = match outcome {
                DeliveryOutcome::Delivered => ("Delivered", now, None, Some(now)),
                DeliveryOutcome::Retry { error, at } => ("Pending", at, Some(error), None),
                DeliveryOutcome::GiveUp { error } => ("GivenUp", now, Some(error), Some(now)),
            };
            let done = conn
                .prepare_cached(
                    "UPDATE deliveries SET state = ?, next_at = ?, last_error = COALESCE(?, last_error),
                            ended_at = ?, attempts = attempts + 1, lease_owner = NULL, lease_expires = NULL
                     WHERE id = ? AND lease_owner = ? AND state = 'Pending'",
                )?
                .execute(params![state, next_at, error, ended, id, owner])?;
            if done == 0 {
                return Err(JobError::LeaseLost);
            }
            Ok(())
        })))
    }

    fn deliveries<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeliveryRecord>, JobError>> {
        let job_id = job_id.to_string();
        Box::pin(self.readers.read(move |conn| {
            all_in(
                conn,
                "SELECT id, state, attempts, last_error FROM deliveries WHERE job_id = ?
                 ORDER BY created_at",
                [&job_id],
                |r| {
                    Ok((
                        r.get("id")?,
                        r.get("state")?,
                        r.get::<_, i64>("attempts")?.max(0) as u32,
                        r.get("last_error")?,
                    ))
                },
            )
        }))
    }

    fn expire_all_leases(&self) -> BoxFuture<'_, Result<u64, JobError>> {
        Box::pin(self.writer.write(op(|conn| {
            let done = conn.execute(
                "UPDATE jobs SET lease_expires = 0 WHERE state = 'Running'",
                [],
            )?;
            conn.execute(
                "UPDATE deliveries SET lease_expires = 0 WHERE state = 'Pending'",
                [],
            )?;
            Ok(done as u64)
        })))
    }

    fn cancel<'a>(&'a self, id: &'a str, now: i64) -> BoxFuture<'a, Result<Job, JobError>> {
        let id = id.to_string();
        Box::pin(self.writer.write(op(move |conn| {
            let done = conn
                .prepare_cached(
                    "UPDATE jobs SET state = 'Cancel', ended_at = ?
                     WHERE id = ? AND state IN ('Submitted', 'Pause')",
                )?
                .execute(params![now, id])?;
            let job = job_in(conn, &id)?;
            if done == 0 {
                return Err(JobError::NotCancellable(job.state));
            }
            Ok(job)
        })))
    }

    fn counts(&self) -> BoxFuture<'_, Result<Vec<JobCount>, JobError>> {
        Box::pin(self.readers.read(|conn| {
            // Index range searches on jobs_runnable (state, seq), one per state: the cost
            // follows the jobs waiting or running, not the jobs ever submitted.
            all_in(
                conn,
                "SELECT tag, state, COUNT(*) AS n FROM jobs
                 WHERE state IN ('Submitted', 'Running', 'Pause')
                 GROUP BY tag, state",
                [],
                |r| {
                    Ok((
                        r.get("tag")?,
                        r.get("state")?,
                        r.get::<_, i64>("n")?.max(0) as u64,
                    ))
                },
            )
        }))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), JobError>> {
        Box::pin(async move {
            // A read connection can be had and read from.
            self.readers
                .read(|conn| Ok::<_, JobError>(conn.query_row("SELECT 1", [], |_| Ok(()))?))
                .await?;
            // The writer thread is alive and can begin a transaction (an empty one commits
            // without writing anything).
            self.writer
                .write(op(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)))
                .await
        })
    }

    fn list<'a>(&'a self, f: &'a ListFilter) -> BoxFuture<'a, Result<JobPage, JobError>> {
        Box::pin(async move {
            // The token is the submission sequence number of the last job of the previous page.
            let after = match &f.next_token {
                None => None,
                Some(t) => Some(t.parse::<i64>().map_err(|_| JobError::InvalidToken)?),
            };
            let states: Vec<&str> = f.states.iter().map(|s| s.as_str()).collect();
            let (cmp, order) = if f.ascending {
                (">", "ASC")
            } else {
                ("<", "DESC")
            };
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM jobs
                 WHERE bucket = ?
                   AND (? IS NULL OR tag = ?)
                   AND (? IS NULL OR queue_id = ?)
                   AND (? IS NULL OR json_extract(input, '$.object') = ?)
                   AND (? = '[]' OR state IN (SELECT value FROM json_each(?)))
                   AND (? IS NULL OR created_at >= ?)
                   AND (? IS NULL OR created_at <= ?)
                   AND (? IS NULL OR seq {cmp} ?)
                 ORDER BY seq {order} LIMIT ?"
            );
            let states_json = serde_json::to_string(&states).unwrap_or_else(|_| "[]".into());
            let size = f.size.clamp(1, 100);
            let f = f.clone();
            self.readers
                .read(move |conn| {
                    let mut stmt = conn.prepare_cached(&sql)?;
                    let mut rows = stmt.query(params![
                        f.bucket,
                        f.tag,
                        f.tag,
                        f.queue_id,
                        f.queue_id,
                        f.input_object,
                        f.input_object,
                        states_json,
                        states_json,
                        f.created_from,
                        f.created_from,
                        f.created_to,
                        f.created_to,
                        after,
                        after,
                        size as i64 + 1
                    ])?;
                    // One row more than the page: whether there is a next page.
                    let mut jobs = Vec::with_capacity(size);
                    let mut last_seq = None;
                    let mut more = false;
                    while let Some(row) = rows.next()? {
                        if jobs.len() == size {
                            more = true;
                            break;
                        }
                        jobs.push(rows::job(row)?);
                        last_seq = Some(row.get::<_, i64>("seq")?);
                    }
                    let next = more.then(|| last_seq.map(|s| s.to_string())).flatten();
                    Ok((jobs, next))
                })
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::conformance::{self, CallerClock};
    use std::sync::Arc;

    async fn store() -> (tempfile::TempDir, SqliteJobStore) {
        let dir = tempfile::tempdir().unwrap();
        crate::meta::sqlite::db::open(dir.path()).await.unwrap();
        let writer = crate::meta::sqlite::db::Writer::open(dir.path())
            .await
            .unwrap();
        let readers = ReadPool::new(dir.path());
        (dir, SqliteJobStore::new(writer, readers))
    }

    #[tokio::test]
    async fn ids_have_the_cos_shape() {
        let (_d, s) = store().await;
        conformance::ids_have_the_cos_shape(&s).await;
    }

    #[tokio::test]
    async fn leases_are_claimed_renewed_and_reclaimed_after_expiry() {
        let (_d, s) = store().await;
        conformance::leases_are_claimed_renewed_and_reclaimed_after_expiry(
            &s,
            &CallerClock::default(),
        )
        .await;
    }

    #[tokio::test]
    async fn pause_holds_jobs_and_resume_releases_them() {
        let (_d, s) = store().await;
        conformance::pause_holds_jobs_and_resume_releases_them(&s).await;
    }

    #[tokio::test]
    async fn only_waiting_jobs_can_be_cancelled() {
        let (_d, s) = store().await;
        conformance::only_waiting_jobs_can_be_cancelled(&s).await;
    }

    #[tokio::test]
    async fn listing_pages_by_token_in_either_order_with_filters() {
        let (_d, s) = store().await;
        conformance::listing_pages_by_token_in_either_order_with_filters(&s).await;
    }

    #[tokio::test]
    async fn concurrent_workers_claim_each_job_once() {
        let (dir, s) = store().await;
        // Two "nodes": separate writers and readers on the same database file.
        crate::meta::sqlite::db::open(dir.path()).await.unwrap();
        let other = SqliteJobStore::new(
            crate::meta::sqlite::db::Writer::open(dir.path())
                .await
                .unwrap(),
            ReadPool::new(dir.path()),
        );
        conformance::concurrent_workers_claim_each_job_once(Arc::new(s), Arc::new(other)).await;
    }

    #[tokio::test]
    async fn a_claim_takes_an_expired_lease_first_then_the_oldest_job_of_any_of_its_tags() {
        let (_d, s) = store().await;
        conformance::a_claim_takes_an_expired_lease_first_then_the_oldest_job_of_any_of_its_tags(
            &s,
            &CallerClock::default(),
        )
        .await;
    }

    #[tokio::test]
    async fn finishing_a_job_queues_its_callback_durably() {
        let (_d, s) = store().await;
        conformance::finishing_a_job_queues_its_callback_durably(&s, &CallerClock::default()).await;
    }
}
