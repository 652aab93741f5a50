//! The metadata store: every piece of state besides the bytes, behind interfaces that an
//! embedded and a shared backend both implement.
//!
//! - [`objects::ObjectIndex`]: buckets and the object index (key → blob and metadata);
//! - [`uploads::UploadIndex`]: multipart uploads in progress and their parts;
//! - [`jobs::JobStore`]: queues, jobs with their leases, callback deliveries;
//! - [`detections::DetectionIndex`]: detection results, upload slots, kept-file records;
//! - [`shared::SharedState`]: what several nodes must agree on per request (replayed
//!   nonces, request counters).
//!
//! [`sqlite`] is the embedded backend (one SQLite file through one driver). The services of
//! [`crate::core`] make the decisions and call these interfaces; no SQLite type crosses
//! them, errors included ([`BackendError`] carries only a message). docs/architecture.md
//! says how each operation maps to SQLite and to PostgreSQL.

#[cfg(test)]
mod conformance;
pub mod detections;
pub mod jobs;
pub mod objects;
pub mod postgres;
pub(crate) mod rows;
pub mod shared;
pub mod sqlite;
pub mod uploads;

use std::sync::Arc;

/// The backend of a metadata store failed (a database error, a stopped writer) or cannot
/// be reached just now (a lost connection, a database that is down). The APIs answer the
/// first as an internal error and the second as their "service unavailable, try again";
/// the message is logged, never sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("metadata store{}: {message}", if *.unavailable { " unavailable" } else { "" })]
pub struct BackendError {
    message: String,
    unavailable: bool,
}

impl BackendError {
    /// A failure of the backend.
    pub fn new(message: impl Into<String>) -> Self {
        BackendError {
            message: message.into(),
            unavailable: false,
        }
    }

    /// The backend cannot be reached just now; the request may be tried again.
    pub fn unavailable(message: impl Into<String>) -> Self {
        BackendError {
            message: message.into(),
            unavailable: true,
        }
    }

    /// Whether the backend could not be reached (as opposed to failing).
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

/// One metadata store: its interfaces, each behind an `Arc` so services share them.
#[derive(Clone)]
pub struct Meta {
    pub objects: Arc<dyn objects::ObjectIndex>,
    pub uploads: Arc<dyn uploads::UploadIndex>,
    pub jobs: Arc<dyn jobs::JobStore>,
    pub detections: Arc<dyn detections::DetectionIndex>,
    pub shared: Arc<dyn shared::SharedState>,
}
