//! The errors of the `/v1` API and the one table mapping core errors to them.
//!
//! Every error answers `{"error":{"code","message"},"request_id"}` with a 4xx status for
//! anything the request did wrong; a 5xx only for the server's own failures, whose detail
//! goes to the log, not to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hashscan_auth::AuthError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::core::objects::StoreError;
use crate::meta::jobs::JobError;

/// An error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// Also sent as the `x-cos-request-id` header; quote it when reporting a problem.
    pub request_id: String,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `MissingAuthorization`, `SignatureDoesNotMatch`,
    /// `InvalidJson`, `InvalidArgument`, `InvalidUrl`, `NoSuchBucket`, `NoSuchKey`,
    /// `NoSuchJob`, `NoSuchDetection`, `NotCancellable`, `FileTooLarge`,
    /// `UnsupportedMediaType`, `InternalError` …
    #[schema(example = "NoSuchJob")]
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable (`NoSuchJob`, `InvalidJson` …).
    pub code: &'static str,
    pub message: String,
    /// The methods allowed, for 405.
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        ApiError {
            allow: Some(allow.clone()),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("This route accepts {allow}."),
            )
        }
    }

    /// A failure of the server itself: logged in full, answered without detail.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "native API: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server failed to handle the request; see its log.",
        )
    }

    /// 503 `ServiceUnavailable`: a store cannot be reached (or cannot write) just now and
    /// nothing was done; the client may try again. Logged at warn with its cause, which is
    /// not sent.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "native API: a store is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable; try again later.",
        )
    }

    /// The JSON answer.
    pub fn render(&self, request_id: &str) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
            request_id: request_id.to_string(),
        };
        let mut r = super::reply::json(self.status, &body);
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            r.headers_mut().insert(header::ALLOW, allow);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("q-sign-algorithm=sha1"),
            );
        }
        r
    }
}

/// Signature failures: a missing or unreadable credential is 401, a credential that does
/// not hold (unknown key, wrong signature, outside its time window) is 403.
/// The `error.code` of a failed job or detection: the core's failure kind, by name
/// (`NotFound`, `TooLarge`, `DownloadRefused`, `HashKeyMismatch` …; see docs/native-api.md).
pub fn failure_code(stored: Option<&str>) -> &'static str {
    crate::core::failure::FailureKind::from_stored(stored).as_str()
}

impl From<crate::core::hash_jobs::SubmitError> for ApiError {
    fn from(e: crate::core::hash_jobs::SubmitError) -> Self {
        use crate::core::hash_jobs::SubmitError as S;
        match e {
            S::NoSuchObject(_) => StoreError::NoSuchKey.into(),
            S::TooLarge { .. } => ApiError::bad_request(
                "ObjectTooLarge",
                "The object is larger than 50 GB, the limit of hash jobs.",
            ),
            S::NoSuchQueue(_) => ApiError::bad_request("NoSuchQueue", "The queue does not exist."),
            S::Store(e) => e.into(),
            S::Jobs(e) => e.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let (status, code) = match &e {
            AuthError::Missing => (StatusCode::UNAUTHORIZED, "MissingAuthorization"),
            AuthError::Malformed(_) | AuthError::UnsupportedAlgorithm => {
                (StatusCode::UNAUTHORIZED, "InvalidAuthorization")
            }
            AuthError::UnknownAccessKey => (StatusCode::FORBIDDEN, "UnknownAccessKey"),
            AuthError::Expired => (StatusCode::FORBIDDEN, "SignatureExpired"),
            AuthError::NotYetValid | AuthError::TimeSkewed => {
                (StatusCode::FORBIDDEN, "RequestTimeTooSkewed")
            }
            _ => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
        };
        let message = match e {
            AuthError::Missing => "The request is not signed: send a COS signature \
                                   (q-sign-algorithm=sha1) in the Authorization header."
                .to_string(),
            other => {
                let text = other.to_string();
                let mut chars = text.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
                    None => text,
                }
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        if e.is_unavailable() {
            return ApiError::unavailable(e);
        }
        match e {
            JobError::NoSuchJob => ApiError::not_found("NoSuchJob", "The job does not exist."),
            JobError::NoSuchQueue => {
                ApiError::not_found("NoSuchQueue", "The queue does not exist.")
            }
            JobError::InvalidState(_) => ApiError::bad_request("InvalidState", e.to_string()),
            JobError::InvalidToken => ApiError::bad_request(
                "InvalidNextToken",
                "The next_token is not one this server issued.",
            ),
            JobError::NotCancellable(_) => {
                ApiError::new(StatusCode::CONFLICT, "NotCancellable", e.to_string())
            }
            JobError::Unavailable(_) => ApiError::unavailable(e),
            JobError::LeaseLost | JobError::Backend(_) => ApiError::internal(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return ApiError::unavailable(e);
        }
        match e {
            StoreError::NoSuchBucket => {
                ApiError::not_found("NoSuchBucket", "The bucket does not exist.")
            }
            StoreError::NoSuchKey => ApiError::not_found("NoSuchKey", "The object does not exist."),
            StoreError::InvalidBucketName(_)
            | StoreError::InvalidKey(_)
            | StoreError::KeyTooLong { .. }
            | StoreError::MetadataTooLarge { .. }
            | StoreError::InvalidTag(_)
            | StoreError::InvalidRequest(_) => {
                ApiError::bad_request("InvalidArgument", e.to_string())
            }
            StoreError::PreconditionFailed => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                e.to_string(),
            ),
            StoreError::EntityTooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "EntityTooLarge",
                e.to_string(),
            ),
            StoreError::BucketAlreadyExists
            | StoreError::BucketNotEmpty
            | StoreError::BadDigest
            | StoreError::Body(_)
            | StoreError::Io(_)
            | StoreError::Meta(_) => ApiError::internal(e),
        }
    }
}

/// A URL the fetcher refuses at submission (private address, bad form, unresolvable).
impl From<hashscan_fetch::FetchError> for ApiError {
    fn from(e: hashscan_fetch::FetchError) -> Self {
        use hashscan_fetch::FetchError as F;
        // Never the address a name resolved to: that would tell a client what internal
        // names resolve to. The log has it.
        let why = match &e {
            F::Forbidden { host, .. } => {
                format!("{host} is, or resolves to, an address this server may not fetch from")
            }
            F::InvalidUrl(_) | F::Resolve(_) => e.to_string(),
            _ => "it could not be checked".to_string(),
        };
        tracing::info!(error = %e, "URL refused at submission");
        ApiError::bad_request("InvalidUrl", format!("The URL cannot be fetched: {why}."))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_url_does_not_tell_where_its_host_resolves() {
        let e = ApiError::from(hashscan_fetch::FetchError::Forbidden {
            host: "intranet.example".into(),
            addr: "10.1.2.3".parse().unwrap(),
        });
        assert_eq!(e.code, "InvalidUrl");
        assert!(e.message.contains("intranet.example"), "{}", e.message);
        assert!(!e.message.contains("10.1.2.3"), "{}", e.message);
    }

    #[test]
    fn auth_errors() {
        assert_eq!(
            ApiError::from(AuthError::Missing).status,
            StatusCode::UNAUTHORIZED
        );
        let e = ApiError::from(AuthError::SignatureMismatch);
        assert_eq!(
            (e.status, e.code, e.message.as_str()),
            (
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "Signature does not match."
            )
        );
    }

    #[test]
    fn bad_input_is_never_a_server_error() {
        for e in [
            JobError::NoSuchJob,
            JobError::InvalidToken,
            JobError::InvalidState("x".into()),
            JobError::NotCancellable(crate::meta::jobs::JobState::Success),
        ] {
            assert!(ApiError::from(e).status.is_client_error());
        }
        for e in [
            StoreError::NoSuchBucket,
            StoreError::NoSuchKey,
            StoreError::InvalidKey("x"),
            StoreError::KeyTooLong { limit: 1 },
        ] {
            assert!(ApiError::from(e).status.is_client_error());
        }
    }

    #[test]
    fn an_unavailable_store_is_503_and_a_failing_one_500() {
        use crate::core::hash_jobs::SubmitError;
        use crate::meta::BackendError;
        let pair = |e: ApiError| (e.status.as_u16(), e.code);
        let unavailable = [
            ApiError::from(JobError::Unavailable("writer stopped".into())),
            ApiError::from(JobError::Backend(BackendError::unavailable("x"))),
            ApiError::from(StoreError::Meta(BackendError::unavailable("x"))),
            ApiError::from(StoreError::Io(crate::blobs::unavailable("x"))),
            ApiError::from(SubmitError::Store(StoreError::Io(
                crate::blobs::unavailable("x"),
            ))),
            ApiError::from(SubmitError::Jobs(JobError::Backend(
                BackendError::unavailable("x"),
            ))),
        ];
        for e in unavailable {
            assert_eq!(pair(e), (503, "ServiceUnavailable"));
        }
        let failing = [
            ApiError::from(JobError::Backend(BackendError::new("x"))),
            ApiError::from(StoreError::Meta(BackendError::new("x"))),
            ApiError::from(StoreError::Io(std::io::Error::other("disk"))),
        ];
        for e in failing {
            assert_eq!(pair(e), (500, "InternalError"));
        }
    }
}
