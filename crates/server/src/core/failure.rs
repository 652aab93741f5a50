//! Why a core operation or a job failed, in no API's words.
//!
//! The core fails with a [`FailureKind`] and a human message; job rows store the kind's
//! name. Each dialect maps kinds to its own codes in one table (COS in `cos/error.rs`,
//! Alibaba in `aliyun/error.rs`, Volcengine in `volc/error.rs`, `/v1` in `native/error.rs`).

use std::fmt;

/// The kinds of failure the core reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The object (or bucket) to work on does not exist, or vanished while it was read.
    NotFound,
    /// An uploaded file is no longer kept (its retention ended).
    Expired,
    /// The input is over a size limit.
    TooLarge,
    /// The request's own parameters are unusable (an unknown hash type …).
    InvalidInput,
    /// A URL was refused: malformed, unreachable by policy, or answered 4xx.
    DownloadRefused,
    /// A download failed (5xx, reset, timeout …).
    DownloadFailed,
    /// The bytes could not be read.
    Unreadable,
    /// The file's hashes do not match the key it was submitted under.
    HashKeyMismatch,
    /// Anything else: a bug or a broken store.
    Internal,
}

impl FailureKind {
    pub const ALL: [FailureKind; 9] = [
        FailureKind::NotFound,
        FailureKind::Expired,
        FailureKind::TooLarge,
        FailureKind::InvalidInput,
        FailureKind::DownloadRefused,
        FailureKind::DownloadFailed,
        FailureKind::Unreadable,
        FailureKind::HashKeyMismatch,
        FailureKind::Internal,
    ];

    /// The name stored in job and detection rows.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NotFound => "NotFound",
            FailureKind::Expired => "Expired",
            FailureKind::TooLarge => "TooLarge",
            FailureKind::InvalidInput => "InvalidInput",
            FailureKind::DownloadRefused => "DownloadRefused",
            FailureKind::DownloadFailed => "DownloadFailed",
            FailureKind::Unreadable => "Unreadable",
            FailureKind::HashKeyMismatch => "HashKeyMismatch",
            FailureKind::Internal => "Internal",
        }
    }

    /// The kind of a stored code: a kind's name, or a wire code that rows written by
    /// earlier versions hold.
    pub fn from_stored(code: Option<&str>) -> FailureKind {
        let Some(code) = code else {
            return FailureKind::Internal;
        };
        if let Some(k) = Self::ALL.into_iter().find(|k| k.as_str() == code) {
            return k;
        }
        match code {
            "ResourceNotFound" => FailureKind::NotFound,
            "InvalidArgument" => FailureKind::InvalidInput,
            "FileSizeOverLimit" => FailureKind::TooLarge,
            "InvalidDownloadUrl" => FailureKind::DownloadRefused,
            "GetFileError" => FailureKind::DownloadFailed,
            _ => FailureKind::Internal,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure: its kind and what happened, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// A store could not be reached just now: an answer made now is "service
    /// unavailable, try again" (the kind, stored with a job, stays [`FailureKind::Internal`]).
    unavailable: bool,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            unavailable: false,
        }
    }

    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Internal, message)
    }

    /// An internal failure because a store cannot be reached just now.
    pub fn unavailable(message: impl Into<String>) -> Failure {
        Failure::internal(message).unavailable_if(true)
    }

    /// This failure, marked as caused by a store that cannot be reached just now when
    /// `unavailable` (its kind stays).
    pub fn unavailable_if(self, unavailable: bool) -> Failure {
        Failure {
            unavailable: self.unavailable || unavailable,
            ..self
        }
    }

    /// Whether a store could not be reached just now (the operation may be tried again).
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

/// Whether an I/O error says a store cannot be reached just now: the blob store's
/// [`crate::blobs::Unavailable`] or an unavailable metadata backend, also when wrapped in
/// further [`io::Error`]s (a stream re-wrapping its items, a failed join).
pub fn io_unavailable(e: &std::io::Error) -> bool {
    if crate::blobs::is_unavailable(e) {
        return true;
    }
    let Some(inner) = e.get_ref() else {
        return false;
    };
    if let Some(b) = inner.downcast_ref::<crate::meta::BackendError>() {
        return b.is_unavailable();
    }
    inner
        .downcast_ref::<std::io::Error>()
        .is_some_and(io_unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_failures_are_internal_and_say_so() {
        let f = Failure::unavailable("blob store down");
        assert_eq!(f.kind, FailureKind::Internal);
        assert!(f.is_unavailable());
        assert!(!Failure::internal("bug").is_unavailable());
        let read = Failure::new(FailureKind::Unreadable, "x").unavailable_if(true);
        assert_eq!(read.kind, FailureKind::Unreadable);
        assert!(read.is_unavailable());
        assert!(
            !Failure::internal("x")
                .unavailable_if(false)
                .is_unavailable()
        );
    }

    #[test]
    fn stored_names_read_back() {
        for k in FailureKind::ALL {
            assert_eq!(FailureKind::from_stored(Some(k.as_str())), k);
        }
        assert_eq!(
            FailureKind::from_stored(Some("ResourceNotFound")),
            FailureKind::NotFound
        );
        assert_eq!(FailureKind::from_stored(None), FailureKind::Internal);
        assert_eq!(
            FailureKind::from_stored(Some("whatever")),
            FailureKind::Internal
        );
    }
}
