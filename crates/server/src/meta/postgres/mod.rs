//! The shared metadata store: PostgreSQL through sqlx, for several `hashscan serve` nodes
//! on one database. [`open`] connects a pool, brings the schema up to date under
//! PostgreSQL's advisory lock (one node migrates, the others wait) and assembles the
//! interfaces of [`crate::meta`] over it.
//!
//! Rules every implementation here follows: times that decide something between nodes
//! (lease expiries, claims, nonce windows, heartbeats) come from the database's clock
//! ([`NOW_MS`]), never a node's; claims use `FOR UPDATE SKIP LOCKED`; the writes the
//! embedded store commits relaxed (claims, renewals, finishes) run with
//! `synchronous_commit = off` ([`begin_relaxed`]); and every sqlx error is turned into a
//! [`BackendError`] here, at the edge, telling a lost or refused connection
//! ([`BackendError::is_unavailable`]) from a failure.

pub mod detections;
pub mod jobs;
pub mod objects;
pub mod shared;
pub mod uploads;
pub mod wake;

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Row as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::jobs::JobError;
use super::objects::IndexError;
use super::uploads::UploadError;
use super::{BackendError, Meta};

/// The current time on the database's clock, in Unix milliseconds, as an SQL expression.
/// `clock_timestamp()`, not `now()`: a transaction's start time would age while it waits
/// for a lock.
pub const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The schema, in order; a migration's version is its position.
const MIGRATIONS: &[(&str, &str)] = &[(
    "schema",
    include_str!("../../../migrations/postgres/0001_schema.sql"),
)];

/// How long a request waits for a connection before it is answered "unavailable".
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a statement may run.
const STATEMENT_TIMEOUT: &str = "30s";

/// Why the shared store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid PostgreSQL URL: {0}")]
    Url(String),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    #[error("cannot bring the PostgreSQL schema up to date: {0}")]
    Migrate(String),
}

/// Connection settings of the shared store.
#[derive(Debug, Clone)]
pub struct Options {
    /// `postgres://user:password@host:port/database?sslmode=…`
    pub url: String,
    /// Connections this node keeps at most.
    pub max_connections: u32,
}

/// Connects to the database at `options.url`, migrates it, and answers the interfaces.
pub async fn open(options: &Options) -> Result<(Meta, PgPool), OpenError> {
    let pool = connect(options).await?;
    migrate(&pool).await?;
    Ok((assemble(pool.clone()), pool))
}

/// The interfaces over a migrated database.
pub fn assemble(pool: PgPool) -> Meta {
    Meta {
        objects: Arc::new(objects::PgObjectIndex::new(pool.clone())),
        uploads: Arc::new(uploads::PgUploads::new(pool.clone())),
        jobs: Arc::new(jobs::PgJobStore::new(pool.clone())),
        detections: Arc::new(detections::PgDetections::new(pool.clone())),
        shared: Arc::new(shared::PgShared::new(pool)),
    }
}

/// A pool of connections to `options.url`. One query at once makes a wrong address or
/// password fail the start; later, a lost connection is made again on demand, and requests
/// meanwhile answer "unavailable" after the acquire timeout.
pub async fn connect(options: &Options) -> Result<PgPool, OpenError> {
    let connect = PgConnectOptions::from_str(&options.url)
        .map_err(|e| OpenError::Url(e.to_string()))?
        .application_name("hashscan")
        .options([("statement_timeout", STATEMENT_TIMEOUT)]);
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(2))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(300))
        .connect_lazy_with(connect);
    sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .map_err(|e| OpenError::Connect(e.to_string()))?;
    Ok(pool)
}

/// Applies pending migrations; sqlx holds PostgreSQL's advisory lock meanwhile, so nodes
/// starting together migrate once.
pub async fn migrate(pool: &PgPool) -> Result<(), OpenError> {
    let migrations = MIGRATIONS
        .iter()
        .enumerate()
        .map(|(i, (description, sql))| {
            Migration::new(
                i as i64 + 1,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    let migrator = Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    migrator
        .run(pool)
        .await
        .map_err(|e| OpenError::Migrate(e.to_string()))
}

/// Begins a transaction whose commit is relaxed (`synchronous_commit = off`): answered
/// before its WAL reaches the disk, as the embedded store's relaxed writes. A crash of the
/// database may undo the last such commits, which only returns a job to an earlier state.
/// `BEGIN` and `SET LOCAL` go as one simple query: one round trip, as a plain `begin`.
pub async fn begin_relaxed(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off")
        .await
}

/// Whether an error means PostgreSQL cannot be reached just now (the request may be tried
/// again) rather than that the statement failed.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // 08: connection exception; 53: insufficient resources; 57P: the server is
            // shutting down, starting, or cannot connect now; 40001/40P01 (serialization
            // failure, deadlock) are worth a retry too.
            c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || c == "40001"
                || c == "40P01"
        }),
        _ => false,
    }
}

/// The backend-neutral mappings (`meta::rows`) read PostgreSQL rows: INTEGER (32-bit)
/// counters widen to the mappings' 64 bits.
impl crate::meta::rows::Row for sqlx::postgres::PgRow {
    fn text(&self, name: &str) -> Result<String, BackendError> {
        Ok(self.try_get(name)?)
    }
    fn text_opt(&self, name: &str) -> Result<Option<String>, BackendError> {
        Ok(self.try_get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, BackendError> {
        self.int_opt(name)?.ok_or_else(|| {
            BackendError::new(format!("column {name} is NULL where a number is due"))
        })
    }
    fn int_opt(&self, name: &str) -> Result<Option<i64>, BackendError> {
        use sqlx::{TypeInfo, ValueRef};
        let raw = self.try_get_raw(name)?;
        if raw.type_info().name() == "INT4" {
            Ok(self.try_get::<Option<i32>, _>(name)?.map(i64::from))
        } else {
            Ok(self.try_get(name)?)
        }
    }
    fn flag(&self, name: &str) -> Result<bool, BackendError> {
        Ok(self.try_get(name)?)
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>, BackendError> {
        Ok(self.try_get(name)?)
    }
}

impl From<sqlx::Error> for BackendError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            BackendError::unavailable(e.to_string())
        } else {
            BackendError::new(e.to_string())
        }
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            JobError::Unavailable(e.to_string())
        } else {
            JobError::Backend(e.into())
        }
    }
}

impl From<sqlx::Error> for IndexError {
    fn from(e: sqlx::Error) -> Self {
        IndexError::Backend(e.into())
    }
}

impl From<sqlx::Error> for UploadError {
    fn from(e: sqlx::Error) -> Self {
        UploadError::Backend(e.into())
    }
}

/// Test support: a fresh database on the cluster named by `HASHSCAN_TEST_POSTGRES`
/// (scripts/with-services starts one). Without it the test is skipped with a message, or
/// fails when `HASHSCAN_REQUIRE_SERVICES=1` (the test command sets it).
#[cfg(test)]
pub(crate) mod testdb {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A migrated scratch database's pool, or `None` (skipped).
    pub async fn pool() -> Option<PgPool> {
        let Ok(admin) = std::env::var("HASHSCAN_TEST_POSTGRES") else {
            assert!(
                std::env::var("HASHSCAN_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "HASHSCAN_TEST_POSTGRES is not set (run under scripts/with-services)"
            );
            eprintln!("skipped: no PostgreSQL (HASHSCAN_TEST_POSTGRES; scripts/with-services)");
            return None;
        };
        let name = format!("t{}", uuid::Uuid::new_v4().simple());
        let admin_pool = PgPool::connect(&admin)
            .await
            .expect("connect to the test cluster");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin_pool)
            .await
            .expect("create the test database");
        admin_pool.close().await;
        let url = match admin.rfind('/') {
            Some(i) => format!("{}/{name}", &admin[..i]),
            None => panic!("HASHSCAN_TEST_POSTGRES has no database part"),
        };
        let pool = connect(&Options {
            url,
            max_connections: 16,
        })
        .await
        .expect("connect to the test database");
        migrate(&pool).await.expect("migrate the test database");
        Some(pool)
    }
}
