//! The embedded metadata store: one SQLite file (`hashscan.db`) through one driver
//! (rusqlite, SQLite compiled in). Writes of every interface go through one group-commit
//! writer ([`db::Writer`]), reads through one pool of read-only connections
//! ([`db::ReadPool`]); [`open`] assembles the interfaces over them. Every rusqlite error is
//! turned into a [`BackendError`] here, at the edge: none crosses an interface.

pub mod db;
pub mod detections;
pub mod jobs;
pub mod objects;
pub(crate) mod rows;
pub mod uploads;

use std::path::Path;
use std::sync::Arc;

use db::{ReadPool, ReadStopped, WriteError, Writer};

use super::jobs::JobError;
use super::objects::IndexError;
use super::shared::LocalShared;
use super::{BackendError, Meta};

/// Why the embedded store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the database: {0}")]
    Open(#[from] db::OpenError),
    #[error("cannot open the database for writing: {0}")]
    Writer(#[from] WriteError),
}

/// Opens (creating and migrating) `<dir>/hashscan.db` and the interfaces over it.
pub async fn open(dir: &Path) -> Result<Meta, OpenError> {
    db::open(dir).await?;
    let writer = Writer::open(dir).await?;
    let readers = ReadPool::new(dir);
    let jobs = Arc::new(jobs::SqliteJobStore::new(writer.clone(), readers.clone()));
    Ok(Meta {
        objects: Arc::new(objects::SqliteObjectIndex::new(
            writer.clone(),
            readers.clone(),
        )),
        uploads: Arc::new(uploads::SqliteUploads::new(writer.clone(), readers.clone())),
        detections: Arc::new(detections::SqliteDetections::new(writer, readers)),
        jobs,
        shared: Arc::new(LocalShared::default()),
    })
}

impl From<rusqlite::Error> for BackendError {
    fn from(e: rusqlite::Error) -> Self {
        BackendError::new(e.to_string())
    }
}

impl From<ReadStopped> for BackendError {
    fn from(e: ReadStopped) -> Self {
        BackendError::new(e.to_string())
    }
}

impl From<rusqlite::Error> for JobError {
    fn from(e: rusqlite::Error) -> Self {
        JobError::Backend(e.into())
    }
}

impl From<ReadStopped> for JobError {
    fn from(e: ReadStopped) -> Self {
        JobError::Unavailable(e.to_string())
    }
}

/// A write that did not happen: its statement's error, or (the writer stopped, the commit
/// failed) unavailability, which the APIs answer as "try again".
impl From<WriteError> for JobError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Sql(e) => JobError::Backend(e.into()),
            other => JobError::Unavailable(other.to_string()),
        }
    }
}

impl From<rusqlite::Error> for IndexError {
    fn from(e: rusqlite::Error) -> Self {
        IndexError::Backend(e.into())
    }
}

impl From<ReadStopped> for IndexError {
    fn from(e: ReadStopped) -> Self {
        IndexError::Backend(e.into())
    }
}

impl From<WriteError> for IndexError {
    fn from(e: WriteError) -> Self {
        IndexError::Backend(BackendError::new(e.to_string()))
    }
}
