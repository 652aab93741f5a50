//! The embedded SQLite database: opening it and bringing its schema up to date.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, SqlitePool};

/// Schema migrations, applied in order; the position in this list is the schema version.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_objects.sql"),
    include_str!("../migrations/0002_jobs.sql"),
    include_str!("../migrations/0003_file_processing.sql"),
    include_str!("../migrations/0004_callbacks.sql"),
];

/// Opens (creating if needed) `<dir>/hashscan.db` in WAL mode with full synchronous commits,
/// and applies pending migrations.
pub async fn open(dir: &Path) -> Result<SqlitePool, sqlx::Error> {
    let path = dir.join("hashscan.db");
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.execute(*sql).await?;
        tx.execute(format!("PRAGMA user_version = {}", i + 1).as_str())
            .await?;
    }
    tx.commit().await
}
