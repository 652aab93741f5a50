//! The crate's error type. (Malformed lines are not errors; see `report`.)

use std::io;

/// Errors from loading lists or inserting entries.
///
/// Malformed lines are not errors: they are counted in the [`LoadReport`](crate::LoadReport).
#[derive(Debug, thiserror::Error)]
pub enum HashDbError {
    /// Reading the list failed.
    #[error("reading {path}: {err}")]
    Io {
        /// Path or source name of the list.
        path: String,
        /// The underlying I/O error.
        #[source]
        err: io::Error,
    },
    /// Neither the extension nor the content tells which format the list is in.
    #[error(
        "{path}: unknown list format (expected ClamAV .hdb/.hsb/.fp/.sfp, a plain hash list or CSV with a hash column)"
    )]
    UnknownFormat {
        /// Path or source name of the list.
        path: String,
    },
    /// A known file type that is not a file-hash list (e.g. ClamAV PE-section `.mdb`).
    #[error("{path}: {what} is not supported")]
    Unsupported {
        /// Path or source name of the list.
        path: String,
        /// What kind of file it is.
        what: &'static str,
    },
    /// A CSV list whose header names no hash column.
    #[error(
        "{path}: CSV header has no hash column (md5, sha1, sha256, md5_hash, sha1_hash, sha256_hash or hash)"
    )]
    NoHashColumn {
        /// Path or source name of the list.
        path: String,
    },
    /// Not 32, 40 or 64 hex digits.
    #[error("not a 32/40/64-digit hex hash")]
    InvalidHash,
    /// An entry name that is empty, too long, or holds control characters.
    #[error("invalid name: {0}")]
    InvalidName(&'static str),
    /// More names, labels or sources than the compact tables can address.
    #[error("capacity exceeded: {0}")]
    Capacity(&'static str),
}
