//! The shared job store on PostgreSQL: queues, jobs, leases and callback deliveries for
//! several nodes on one database ([`JobStore`] says what each operation guarantees; this
//! is [`crate::meta::sqlite::jobs`] ported).
//!
//! - A claim (of a job or of a callback delivery) locks the row it takes with
//!   `SELECT … FOR UPDATE SKIP LOCKED` inside its transaction, so nodes claiming at once
//!   take different rows and each job is claimed once.
//! - Lease times come from the database's clock ([`NOW_MS`]), never a node's: lease
//!   expiries, "is this lease expired", `started_at`/`ended_at`, and when a callback is
//!   due. The `now` the callers pass to `claim`, `renew`, `finish`, `finish_and_claim`,
//!   `claim_delivery`, `delivery_attempted` and `cancel` is therefore ignored, except that
//!   a delivery's retry time ([`DeliveryOutcome::Retry`]'s `at`, from the caller's clock)
//!   is taken as a delay after the caller's `now` and added to the database's clock: only
//!   durations cross nodes. Job and queue creation times are the database's too.
//! - Claims, renewals and finishes commit with `synchronous_commit = off` ([`begin_relaxed`]),
//!   as the embedded store's relaxed writes.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::{NOW_MS, begin_relaxed};
use crate::meta::jobs::{
    Delivery, DeliveryOutcome, DeliveryRecord, Job, JobCallback, JobCount, JobError, JobPage,
    JobStore, ListFilter, NewJob, Outcome, Queue, QueueNotify, QueueState, delivery_id, new_id,
};

/// The jobs store on PostgreSQL.
#[derive(Clone)]
pub struct PgJobStore {
    pool: PgPool,
}

impl PgJobStore {
    /// A job store over a migrated database ([`super::migrate`]).
    pub fn new(pool: PgPool) -> Self {
        PgJobStore { pool }
    }
}

use crate::meta::rows::{self, JOB_COLUMNS, QUEUE_COLUMNS};

/// The queue with this id, read on `conn`.
async fn queue_in(conn: &mut PgConnection, id: &str) -> Result<Option<Queue>, JobError> {
    sqlx::query(&format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|r| rows::queue(&r))
        .transpose()
}

/// The job with this id, read on `conn`.
async fn job_in(conn: &mut PgConnection, id: &str) -> Result<Job, JobError> {
    sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|r| rows::job(&r))
        .transpose()?
        .ok_or(JobError::NoSuchJob)
}

/// Stores a new job inside a transaction (see [`JobStore::submit`]); other stores that must
/// write their own rows in the same transaction as the job (detections) call it.
pub(crate) async fn insert_job_in(conn: &mut PgConnection, job: &NewJob) -> Result<Job, JobError> {
    // The state follows the queue's in the same statement, and the queue's row is share-locked
    // so that a pause or resume (which updates it) waits for this insert or this insert for
    // it: a job cannot stay Submitted in a paused queue.
    let row = sqlx::query(&format!(
        "INSERT INTO jobs (id, tag, queue_id, bucket, state, input, created_at,
                           callback_url, callback_format, queue_notify)
         SELECT $1, $2, id, $3, CASE state WHEN 'Paused' THEN 'Pause' ELSE 'Submitted' END,
                $4, {NOW_MS}, $5, $6, $7
         FROM queues WHERE id = $8
         FOR SHARE
         RETURNING {JOB_COLUMNS}"
    ))
    .bind(new_id('f'))
    .bind(&job.tag)
    .bind(&job.bucket)
    .bind(job.input.to_string())
    .bind(job.callback.target().map(|c| c.url.as_str()))
    .bind(job.callback.target().and_then(|c| c.format.as_deref()))
    .bind(job.callback != JobCallback::Off)
    .bind(&job.queue_id)
    .fetch_optional(conn)
    .await?;
    match row {
        Some(row) => rows::job(&row),
        None => Err(JobError::NoSuchQueue),
    }
}

/// Claims the oldest runnable job of `tags` (see [`JobStore::claim`]) inside a transaction:
/// the oldest Running job of `tags` whose lease expired, or else the oldest Submitted one (a
/// paused queue's jobs are in state Pause, so Submitted ones are in active queues). The row
/// is taken with `FOR UPDATE SKIP LOCKED`: a row another node is claiming is passed over.
async fn claim_in(
    conn: &mut PgConnection,
    owner: &str,
    tags: &[String],
    ttl_ms: i64,
) -> Result<Option<Job>, JobError> {
    if tags.is_empty() {
        return Ok(None);
    }
    // Two statements rather than one, so that the second search (and its lock) happens only
    // when the first finds nothing. `(SELECT NOW_MS)` is computed once per statement.
    let expired = format!("state = 'Running' AND lease_expires < (SELECT {NOW_MS})");
    for runnable in [expired.as_str(), "state = 'Submitted'"] {
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = 'Running', lease_owner = $1,
                    lease_expires = {NOW_MS} + $2, attempts = attempts + 1,
                    started_at = COALESCE(started_at, {NOW_MS})
             WHERE id = (SELECT id FROM jobs WHERE {runnable} AND tag = ANY($3)
                         ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(owner)
        .bind(ttl_ms)
        .bind(tags)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            return rows::job(&row).map(Some);
        }
    }
    Ok(None)
}

/// Ends a job `owner` holds and queues its callback (see [`JobStore::finish`]).
async fn finish_in(
    conn: &mut PgConnection,
    id: &str,
    owner: &str,
    outcome: Outcome,
) -> Result<Job, JobError> {
    let (state, result, code, message) = match outcome {
        Outcome::Success(r) => ("Success", Some(r.to_string()), None, None),
        Outcome::Failed { code, message } => ("Failed", None, Some(code), Some(message)),
    };
    // One statement: the job's end and its callback, due in the same transaction (a crash
    // cannot lose it), read from what the update returned.
    let row = sqlx::query(&format!(
        "WITH done AS (
             UPDATE jobs SET state = $1::text, result = $2, error_code = $3, error_message = $4,
                    progress = CASE WHEN $1::text = 'Success' THEN 100 ELSE progress END,
                    ended_at = {NOW_MS}, lease_owner = NULL, lease_expires = NULL
             WHERE id = $5 AND state = 'Running' AND lease_owner = $6
             RETURNING {JOB_COLUMNS}, callback_url, callback_format, queue_notify
         ), queued AS (
             INSERT INTO deliveries (id, job_id, url, format, state, next_at, created_at)
             SELECT $7, j.id,
                    COALESCE(j.callback_url, q.notify_url),
                    UPPER(CASE WHEN j.callback_url IS NOT NULL
                               THEN COALESCE(j.callback_format, 'XML')
                               ELSE COALESCE(q.notify_format, 'XML') END),
                    'Pending', n.ms, n.ms
             FROM done j JOIN queues q ON q.id = j.queue_id
                  CROSS JOIN (SELECT {NOW_MS} AS ms) n
             WHERE j.callback_url IS NOT NULL OR (j.queue_notify AND q.notify_url IS NOT NULL)
         )
         SELECT {JOB_COLUMNS} FROM done"
    ))
    .bind(state)
    .bind(result)
    .bind(code)
    .bind(message)
    .bind(id)
    .bind(owner)
    .bind(delivery_id(id))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Err(JobError::LeaseLost);
    };
    rows::job(&row)
}

fn delivery_from_row(row: &PgRow) -> Result<Delivery, JobError> {
    Ok(Delivery {
        id: row.try_get("id")?,
        job_id: row.try_get("job_id")?,
        url: row.try_get("url")?,
        format: row.try_get("format")?,
        attempts: row.try_get::<i32, _>("attempts")?.max(0) as u32,
        created_at: row.try_get("created_at")?,
    })
}

impl JobStore for PgJobStore {
    fn default_queue<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<Queue, JobError>> {
        Box::pin(async move {
            let select =
                format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE bucket = $1 AND is_default");
            // Read first: after a bucket's first job its queue exists.
            if let Some(row) = sqlx::query(&select)
                .bind(bucket)
                .fetch_optional(&self.pool)
                .await?
            {
                return rows::queue(&row);
            }
            // Nodes creating it at once: one insert wins (the unique index on default queues),
            // the others wait for it and do nothing.
            sqlx::query(&format!(
                "INSERT INTO queues (id, bucket, name, state, is_default, notify,
                                     created_at, updated_at)
                 SELECT $1, $2, $2, 'Active', TRUE, '{{}}', n.ms, n.ms
                 FROM (SELECT {NOW_MS} AS ms) n
                 ON CONFLICT DO NOTHING"
            ))
            .bind(new_id('p'))
            .bind(bucket)
            .execute(&self.pool)
            .await?;
            sqlx::query(&select)
                .bind(bucket)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| rows::queue(&r))
                .transpose()?
                .ok_or(JobError::NoSuchQueue)
        })
    }

    fn queue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Queue>, JobError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            queue_in(&mut conn, id).await
        })
    }

    fn queues<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<Vec<Queue>, JobError>> {
        Box::pin(async move {
            sqlx::query(&format!(
                "SELECT {QUEUE_COLUMNS} FROM queues WHERE bucket = $1 ORDER BY created_at, id"
            ))
            .bind(bucket)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::queue)
            .collect()
        })
    }

    fn update_queue<'a>(
        &'a self,
        id: &'a str,
        name: Option<&'a str>,
        state: Option<QueueState>,
        notify: Option<QueueNotify>,
    ) -> BoxFuture<'a, Result<Queue, JobError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query(&format!(
                "UPDATE queues SET name = COALESCE($1, name), state = COALESCE($2, state),
                        updated_at = {NOW_MS} WHERE id = $3"
            ))
            .bind(name)
            .bind(state.map(QueueState::as_str))
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Err(JobError::NoSuchQueue);
            }
            if let Some(n) = &notify {
                let target = n.target.as_ref();
                sqlx::query(
                    "UPDATE queues SET notify = $1, notify_url = $2, notify_format = $3
                     WHERE id = $4",
                )
                .bind(n.settings.to_string())
                .bind(target.map(|t| t.url.as_str()))
                .bind(target.map(|t| t.format.as_deref().unwrap_or("XML").to_ascii_uppercase()))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            let moved = match state {
                Some(QueueState::Paused) => Some(("Submitted", "Pause")),
                Some(QueueState::Active) => Some(("Pause", "Submitted")),
                None => None,
            };
            if let Some((from, to)) = moved {
                // A job being claimed (its row locked) is waited for, then no longer matches.
                sqlx::query("UPDATE jobs SET state = $1 WHERE queue_id = $2 AND state = $3")
                    .bind(to)
                    .bind(id)
                    .bind(from)
                    .execute(&mut *tx)
                    .await?;
            }
            let queue = queue_in(&mut tx, id).await?.ok_or(JobError::NoSuchQueue)?;
            tx.commit().await?;
            Ok(queue)
        })
    }

    fn submit(&self, job: NewJob) -> BoxFuture<'_, Result<Job, JobError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            insert_job_in(&mut conn, &job).await
        })
    }

    fn get<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<Vec<Job>, JobError>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            // All ids in one statement, answered in the order asked.
            let rows = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1)"
            ))
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
            let mut found = HashMap::with_capacity(rows.len());
            for row in &rows {
                let job = rows::job(row)?;
                found.insert(job.id.clone(), job);
            }
            Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
        })
    }

    fn claim<'a>(
        &'a self,
        owner: &'a str,
        tags: &'a [&'a str],
        _now: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Job>, JobError>> {
        Box::pin(async move {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            let mut tx = begin_relaxed(&self.pool).await?;
            let job = claim_in(&mut tx, owner, &tags, ttl_ms).await?;
            tx.commit().await?;
            Ok(job)
        })
    }

    fn renew<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        _now: i64,
        ttl_ms: i64,
        progress: u8,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let mut tx = begin_relaxed(&self.pool).await?;
            let done = sqlx::query(&format!(
                "UPDATE jobs SET lease_expires = {NOW_MS} + $1, progress = $2
                 WHERE id = $3 AND state = 'Running' AND lease_owner = $4"
            ))
            .bind(ttl_ms)
            .bind(i32::from(progress.min(100)))
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Err(JobError::LeaseLost);
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn finish<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        _now: i64,
        outcome: Outcome,
    ) -> BoxFuture<'a, Result<Job, JobError>> {
        Box::pin(async move {
            let mut tx = begin_relaxed(&self.pool).await?;
            let done = finish_in(&mut tx, id, owner, outcome).await?;
            tx.commit().await?;
            Ok(done)
        })
    }

    fn finish_and_claim<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        _now: i64,
        outcome: Outcome,
        tags: &'a [&'a str],
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<(Job, Option<Job>), JobError>> {
        Box::pin(async move {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            let mut tx = begin_relaxed(&self.pool).await?;
            let done = finish_in(&mut tx, id, owner, outcome).await?;
            let next = claim_in(&mut tx, owner, &tags, ttl_ms).await?;
            tx.commit().await?;
            Ok((done, next))
        })
    }

    fn claim_delivery<'a>(
        &'a self,
        owner: &'a str,
        _now: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Delivery>, JobError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(&format!(
                "UPDATE deliveries SET lease_owner = $1, lease_expires = {NOW_MS} + $2
                 WHERE id = (SELECT d.id FROM deliveries d CROSS JOIN (SELECT {NOW_MS} AS ms) n
                             WHERE d.state = 'Pending' AND d.next_at <= n.ms
                               AND (d.lease_expires IS NULL OR d.lease_expires < n.ms)
                             ORDER BY d.next_at LIMIT 1 FOR UPDATE OF d SKIP LOCKED)
                 RETURNING id, job_id, url, format, attempts, created_at"
            ))
            .bind(owner)
            .bind(ttl_ms)
            .fetch_optional(&mut *tx)
            .await?;
            let delivery = row.map(|r| delivery_from_row(&r)).transpose()?;
            tx.commit().await?;
            Ok(delivery)
        })
    }

    fn delivery_attempted<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        now: i64,
        outcome: DeliveryOutcome,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            // (state, delay before the next attempt, error, ended)
            let (state, delay, error, ended) = match outcome {
                DeliveryOutcome::Delivered => ("Delivered", 0, None, true),
                // A time on the caller's clock: only the delay crosses to the database's (a
                // time already past is due now).
                DeliveryOutcome::Retry { error, at } => (
                    "Pending",
                    at.saturating_sub(now).clamp(0, i64::MAX / 2),
                    Some(error),
                    false,
                ),
                DeliveryOutcome::GiveUp { error } => ("GivenUp", 0, Some(error), true),
            };
            let done = sqlx::query(&format!(
                "UPDATE deliveries SET state = $1, next_at = n.ms + $2,
                        last_error = COALESCE($3, last_error),
                        ended_at = CASE WHEN $4::boolean THEN n.ms END,
                        attempts = attempts + 1, lease_owner = NULL, lease_expires = NULL
                 FROM (SELECT {NOW_MS} AS ms) n
                 WHERE id = $5 AND lease_owner = $6 AND state = 'Pending'"
            ))
            .bind(state)
            .bind(delay)
            .bind(error)
            .bind(ended)
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if done == 0 {
                return Err(JobError::LeaseLost);
            }
            Ok(())
        })
    }

    fn deliveries<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeliveryRecord>, JobError>> {
        Box::pin(async move {
            sqlx::query(
                "SELECT id, state, attempts, last_error FROM deliveries WHERE job_id = $1
                 ORDER BY created_at",
            )
            .bind(job_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("state")?,
                    r.try_get::<i32, _>("attempts")?.max(0) as u32,
                    r.try_get("last_error")?,
                ))
            })
            .collect()
        })
    }

    fn expire_all_leases(&self) -> BoxFuture<'_, Result<u64, JobError>> {
        // Only for a store one process uses: a server sharing the database never calls it
        // (other nodes' leases are alive).
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query("UPDATE jobs SET lease_expires = 0 WHERE state = 'Running'")
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE deliveries SET lease_expires = 0 WHERE state = 'Pending'")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done)
        })
    }

    fn cancel<'a>(&'a self, id: &'a str, _now: i64) -> BoxFuture<'a, Result<Job, JobError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            let row = sqlx::query(&format!(
                "UPDATE jobs SET state = 'Cancel', ended_at = {NOW_MS}
                 WHERE id = $1 AND state IN ('Submitted', 'Pause')
                 RETURNING {JOB_COLUMNS}"
            ))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(row) = row {
                return rows::job(&row);
            }
            // Not cancelled: it does not exist, or it is past waiting (a state it never
            // leaves for Submitted or Pause again).
            let job = job_in(&mut conn, id).await?;
            Err(JobError::NotCancellable(job.state))
        })
    }

    fn list<'a>(&'a self, f: &'a ListFilter) -> BoxFuture<'a, Result<JobPage, JobError>> {
        Box::pin(async move {
            // The token is the submission sequence number of the last job of the previous page.
            let after = match &f.next_token {
                None => None,
                Some(t) => Some(t.parse::<i64>().map_err(|_| JobError::InvalidToken)?),
            };
            let (cmp, order) = if f.ascending {
                (">", "ASC")
            } else {
                ("<", "DESC")
            };
            let size = f.size.clamp(1, 100);
            // Only the filters given, so each listing gets a plan of its own shape.
            let mut q = QueryBuilder::<Postgres>::new(format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE bucket = "
            ));
            q.push_bind(&f.bucket);
            if let Some(tag) = &f.tag {
                q.push(" AND tag = ").push_bind(tag);
            }
            if let Some(queue_id) = &f.queue_id {
                q.push(" AND queue_id = ").push_bind(queue_id);
            }
            if let Some(object) = &f.input_object {
                q.push(" AND (input::jsonb ->> 'object') = ")
                    .push_bind(object);
            }
            if !f.states.is_empty() {
                let states: Vec<&str> = f.states.iter().map(|s| s.as_str()).collect();
                q.push(" AND state = ANY(").push_bind(states).push(")");
            }
            if let Some(from) = f.created_from {
                q.push(" AND created_at >= ").push_bind(from);
            }
            if let Some(to) = f.created_to {
                q.push(" AND created_at <= ").push_bind(to);
            }
            if let Some(after) = after {
                q.push(format_args!(" AND seq {cmp} ")).push_bind(after);
            }
            // One row more than the page: whether there is a next page.
            q.push(format_args!(" ORDER BY seq {order} LIMIT "))
                .push_bind(size as i64 + 1);
            let rows = q.build().fetch_all(&self.pool).await?;
            let mut jobs = Vec::with_capacity(size);
            let mut last_seq = None;
            let mut more = false;
            for row in &rows {
                if jobs.len() == size {
                    more = true;
                    break;
                }
                jobs.push(rows::job(row)?);
                last_seq = Some(row.try_get::<i64, _>("seq")?);
            }
            let next = more.then(|| last_seq.map(|s| s.to_string())).flatten();
            Ok((jobs, next))
        })
    }

    fn counts(&self) -> BoxFuture<'_, Result<Vec<JobCount>, JobError>> {
        Box::pin(async move {
            sqlx::query(
                "SELECT tag, state, COUNT(*) AS n FROM jobs
                 WHERE state IN ('Submitted', 'Running', 'Pause')
                 GROUP BY tag, state",
            )
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("tag")?,
                    r.try_get("state")?,
                    r.try_get::<i64, _>("n")?.max(0) as u64,
                ))
            })
            .collect()
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), JobError>> {
        Box::pin(async move {
            // A connection can be had and read from, and the database takes writes (a standby
            // after a failover answers reads but no writes).
            let read_only: bool =
                sqlx::query_scalar("SELECT current_setting('transaction_read_only') = 'on'")
                    .fetch_one(&self.pool)
                    .await?;
            if read_only {
                return Err(JobError::Unavailable(
                    "the database is read-only (a standby?)".into(),
                ));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::testdb;
    use super::*;
    use crate::meta::conformance::{self, new_job};
    use crate::meta::jobs::CallbackTarget;
    use serde_json::json;
    use std::sync::Arc;

    /// The database's clock.
    async fn db_now(pool: &PgPool) -> i64 {
        sqlx::query_scalar(&format!("SELECT {NOW_MS}"))
            .fetch_one(pool)
            .await
            .unwrap()
    }

    /// The database's clock, for the shared tests: callers' `now` is ignored, and time
    /// passes by moving leases and retry times into the past.
    struct DbClock(PgPool);

    impl conformance::Clock for DbClock {
        fn now(&self) -> i64 {
            0
        }

        fn store_now(&self) -> BoxFuture<'_, i64> {
            Box::pin(db_now(&self.0))
        }

        fn pass(&self, ms: i64) -> BoxFuture<'_, ()> {
            Box::pin(async move {
                age_leases(&self.0, ms).await;
                sqlx::query(
                    "UPDATE deliveries SET next_at = next_at - $1,
                            lease_expires = lease_expires - $1",
                )
                .bind(ms)
                .execute(&self.0)
                .await
                .unwrap();
            })
        }
    }

    /// Moves every job lease `ms` into the past (time passing, on the database's clock).
    async fn age_leases(pool: &PgPool, ms: i64) {
        sqlx::query("UPDATE jobs SET lease_expires = lease_expires - $1 WHERE state = 'Running'")
            .bind(ms)
            .execute(pool)
            .await
            .unwrap();
    }

    /// Claims, renewals and finishes commit relaxed; a connection back in the pool is not.
    #[tokio::test]
    async fn relaxed_transactions_do_not_wait_for_the_disk_and_others_do() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        // One connection: the second transaction runs on the one the first used.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap();
        let setting = "SHOW synchronous_commit";
        let mut tx = begin_relaxed(&pool).await.unwrap();
        let relaxed: String = sqlx::query_scalar(setting)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        let plain: String = sqlx::query_scalar(setting)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!((relaxed.as_str(), plain.as_str()), ("off", "on"));
    }

    #[tokio::test]
    async fn ids_have_the_cos_shape() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool);
        conformance::ids_have_the_cos_shape(&s).await;
    }

    #[tokio::test]
    async fn leases_are_claimed_renewed_and_reclaimed_after_expiry() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool.clone());
        conformance::leases_are_claimed_renewed_and_reclaimed_after_expiry(&s, &DbClock(pool))
            .await;
    }

    #[tokio::test]
    async fn pause_holds_jobs_and_resume_releases_them() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool);
        conformance::pause_holds_jobs_and_resume_releases_them(&s).await;
    }

    #[tokio::test]
    async fn only_waiting_jobs_can_be_cancelled() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool);
        conformance::only_waiting_jobs_can_be_cancelled(&s).await;
    }

    #[tokio::test]
    async fn listing_pages_by_token_in_either_order_with_filters() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool);
        conformance::listing_pages_by_token_in_either_order_with_filters(&s).await;
    }

    #[tokio::test]
    async fn concurrent_workers_claim_each_job_once() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool.clone());
        // Two "nodes": separate pools on the same database.
        let other = PgJobStore::new(
            PgPool::connect_with((*pool.connect_options()).clone())
                .await
                .unwrap(),
        );
        conformance::concurrent_workers_claim_each_job_once(Arc::new(s), Arc::new(other)).await;
    }

    #[tokio::test]
    async fn many_workers_on_several_nodes_claim_each_job_and_delivery_once() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool.clone());
        let q = s.default_queue("b-1").await.unwrap();
        const JOBS: usize = 200;
        for n in 0..JOBS {
            let mut job = new_job(&q, n as u32);
            job.callback = JobCallback::To(CallbackTarget {
                url: format!("http://example.com/{n}"),
                format: Some("json".into()),
            });
            s.submit(job).await.unwrap();
        }
        let mut nodes = vec![s.clone(), PgJobStore::new(pool.clone())];
        for _ in 0..2 {
            let other = PgPool::connect_with((*pool.connect_options()).clone())
                .await
                .unwrap();
            nodes.push(PgJobStore::new(other));
        }
        let mut workers = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            for w in 0..3 {
                let (node, name) = (node.clone(), format!("node-{i}-worker-{w}"));
                let chained = w % 2 == 0;
                workers.push(tokio::spawn(async move {
                    let tags = ["FileHashCode"];
                    let mut mine = Vec::new();
                    let mut next = node.claim(&name, &tags, 0, 60_000).await.unwrap();
                    while let Some(j) = next {
                        assert_eq!(j.lease_owner.as_deref(), Some(name.as_str()));
                        mine.push(j.id.clone());
                        let done = Outcome::Success(json!({ "by": name }));
                        next = if chained {
                            let (_, next) = node
                                .finish_and_claim(&j.id, &name, 0, done, &tags, 60_000)
                                .await
                                .unwrap();
                            next
                        } else {
                            node.finish(&j.id, &name, 0, done).await.unwrap();
                            node.claim(&name, &tags, 0, 60_000).await.unwrap()
                        };
                    }
                    let mut delivered = Vec::new();
                    while let Some(d) = node.claim_delivery(&name, 0, 60_000).await.unwrap() {
                        node.delivery_attempted(&d.id, &name, 0, DeliveryOutcome::Delivered)
                            .await
                            .unwrap();
                        delivered.push(d.id);
                    }
                    (mine, delivered)
                }));
            }
        }
        let (mut jobs, mut deliveries) = (Vec::new(), Vec::new());
        let mut busy = 0;
        for w in workers {
            let (mine, delivered) = w.await.unwrap();
            busy += usize::from(!mine.is_empty());
            jobs.extend(mine);
            deliveries.extend(delivered);
        }
        assert!(busy > 1, "the workers ran concurrently");
        assert_eq!(jobs.len(), JOBS);
        jobs.sort();
        jobs.dedup();
        assert_eq!(jobs.len(), JOBS, "a job was claimed twice");
        assert_eq!(deliveries.len(), JOBS);
        deliveries.sort();
        deliveries.dedup();
        assert_eq!(deliveries.len(), JOBS, "a delivery was claimed twice");
        let (attempts, states): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE attempts <> 1 OR state <> 'Success'),
                    (SELECT COUNT(*) FROM deliveries WHERE attempts <> 1 OR state <> 'Delivered')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((attempts, states), (0, 0));
    }

    #[tokio::test]
    async fn a_claim_takes_an_expired_lease_first_then_the_oldest_job_of_any_of_its_tags() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool.clone());
        conformance::a_claim_takes_an_expired_lease_first_then_the_oldest_job_of_any_of_its_tags(
            &s,
            &DbClock(pool),
        )
        .await;
    }

    #[tokio::test]
    async fn expiring_every_lease_frees_running_jobs_and_deliveries() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool);
        let q = s.default_queue("b-1").await.unwrap();
        let mut job = new_job(&q, 0);
        job.callback = JobCallback::To(CallbackTarget {
            url: "http://example.com/cb".into(),
            format: None,
        });
        let j = s.submit(job).await.unwrap();
        s.submit(new_job(&q, 1)).await.unwrap();
        let tags = ["FileHashCode"];
        let first = s.claim("w1", &tags, 0, 60_000).await.unwrap().unwrap();
        assert_eq!(first.id, j.id);
        s.finish(&j.id, "w1", 0, Outcome::Success(json!({})))
            .await
            .unwrap();
        let second = s.claim("w1", &tags, 0, 60_000).await.unwrap().unwrap();
        let d = s.claim_delivery("cb", 0, 60_000).await.unwrap().unwrap();
        assert!(s.claim("w2", &tags, 0, 60_000).await.unwrap().is_none());
        assert!(s.claim_delivery("cb2", 0, 60_000).await.unwrap().is_none());

        assert_eq!(s.expire_all_leases().await.unwrap(), 1);
        let again = s.claim("w2", &tags, 0, 60_000).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (second.id, 2));
        let d2 = s.claim_delivery("cb2", 0, 60_000).await.unwrap().unwrap();
        assert_eq!((d2.id, d2.attempts), (d.id, 0));
    }

    #[tokio::test]
    async fn counts_and_ping() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool);
        s.ping().await.unwrap();
        let q = s.default_queue("b-1").await.unwrap();
        for n in 0..3 {
            s.submit(new_job(&q, n)).await.unwrap();
        }
        let c = s
            .claim("w", &["FileHashCode"], 0, 60_000)
            .await
            .unwrap()
            .unwrap();
        s.finish(&c.id, "w", 0, Outcome::Success(json!({})))
            .await
            .unwrap();
        s.claim("w", &["FileHashCode"], 0, 60_000)
            .await
            .unwrap()
            .unwrap();
        let mut counts = s.counts().await.unwrap();
        counts.sort();
        assert_eq!(
            counts,
            vec![
                ("FileHashCode".into(), "Running".into(), 1),
                ("FileHashCode".into(), "Submitted".into(), 1),
            ]
        );
    }

    #[tokio::test]
    async fn a_lost_connection_is_unavailable() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool.clone());
        s.default_queue("b-1").await.unwrap();
        pool.close().await;
        assert!(matches!(
            s.default_queue("b-1").await,
            Err(JobError::Unavailable(_))
        ));
        assert!(matches!(s.ping().await, Err(JobError::Unavailable(_))));
    }

    #[tokio::test]
    async fn finishing_a_job_queues_its_callback_durably() {
        let Some(pool) = testdb::pool().await else {
            return;
        };
        let s = PgJobStore::new(pool.clone());
        conformance::finishing_a_job_queues_its_callback_durably(&s, &DbClock(pool)).await;
    }
}
