//! COS errors: the one table that maps core and authentication errors to COS codes and
//! statuses, and the XML body with all five elements the SDKs read.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hashscan_auth::AuthError;

use crate::core::failure::FailureKind;
use crate::core::hash_jobs::SubmitError;
use crate::core::multipart::MultipartError;
use crate::core::objects::StoreError;
use crate::xml::XmlWriter;

/// A COS error response.
#[derive(Debug, Clone)]
pub struct CosError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl CosError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        CosError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }

    /// 500 `InternalError`; the cause is logged by the caller, never sent.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// 503 `ServiceUnavailable`: a store cannot be reached just now and nothing was done;
    /// the client may try again. Logged here at warn with its cause (never sent).
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "a store is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please try again.",
        )
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// Renders the error; `resource` is the addressed host and path, `request_id` the id also
    /// sent as `x-cos-request-id`.
    pub fn render(&self, resource: &str, request_id: &str) -> Response {
        let mut response = (self.status, self.document(resource, request_id)).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        response
    }
}

impl CosError {
    /// The `<Error>` document (with its XML declaration).
    pub fn document(&self, resource: &str, request_id: &str) -> String {
        let mut w = XmlWriter::new();
        w.open("Error")
            .leaf("Code", self.code)
            .leaf("Message", &self.message)
            .leaf("Resource", resource)
            .leaf("RequestId", request_id)
            .leaf("TraceId", request_id);
        w.finish()
    }
}

impl From<StoreError> for CosError {
    fn from(e: StoreError) -> Self {
        use StatusCode as S;
        if e.is_unavailable() {
            return Self::unavailable(&e);
        }
        let msg = e.to_string();
        match e {
            StoreError::NoSuchBucket => Self::new(
                S::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist.",
            ),
            StoreError::NoSuchKey => Self::new(
                S::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            ),
            StoreError::BucketAlreadyExists => {
                Self::new(S::CONFLICT, "BucketAlreadyOwnedByYou", msg)
            }
            StoreError::BucketNotEmpty => Self::new(
                S::CONFLICT,
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty.",
            ),
            StoreError::InvalidBucketName(_) => Self::new(S::BAD_REQUEST, "InvalidBucketName", msg),
            StoreError::InvalidKey(_) => Self::invalid_argument(msg),
            StoreError::KeyTooLong { .. } => Self::new(S::BAD_REQUEST, "KeyTooLong", msg),
            StoreError::EntityTooLarge { .. } => Self::new(S::BAD_REQUEST, "EntityTooLarge", msg),
            StoreError::MetadataTooLarge { .. } => {
                Self::new(S::BAD_REQUEST, "MetadataTooLarge", msg)
            }
            StoreError::BadDigest => Self::new(
                S::BAD_REQUEST,
                "InvalidDigest",
                "The Content-MD5 you specified did not match what we received.",
            ),
            StoreError::InvalidRequest(_) => Self::new(S::BAD_REQUEST, "InvalidRequest", msg),
            StoreError::InvalidTag(_) => Self::new(S::BAD_REQUEST, "InvalidTag", msg),
            StoreError::PreconditionFailed => Self::new(
                S::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the preconditions you specified did not hold.",
            ),
            StoreError::Body(_) => Self::new(S::BAD_REQUEST, "IncompleteBody", msg),
            StoreError::Io(ref io) if io.kind() == std::io::ErrorKind::StorageFull => {
                tracing::error!(error = %e, "storage full");
                Self::new(
                    S::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The server's storage is full; nothing was stored. Please try again later.",
                )
            }
            StoreError::Io(_) | StoreError::Meta(_) => {
                tracing::error!(error = %e, "internal error");
                Self::new(
                    S::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            }
        }
    }
}

impl From<MultipartError> for CosError {
    fn from(e: MultipartError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match e {
            MultipartError::Store(e) => e.into(),
            MultipartError::NoSuchUpload => Self::new(
                S::NOT_FOUND,
                "NoSuchUpload",
                "The specified multipart upload does not exist.",
            ),
            MultipartError::InvalidPartNumber(_) | MultipartError::InvalidArgument(_) => {
                Self::invalid_argument(msg)
            }
            MultipartError::InvalidPart(_) => Self::new(S::BAD_REQUEST, "InvalidPart", msg),
            MultipartError::InvalidPartOrder => Self::new(S::BAD_REQUEST, "InvalidPartOrder", msg),
            MultipartError::EntityTooSmall { .. } => {
                Self::new(S::BAD_REQUEST, "EntityTooSmall", msg)
            }
        }
    }
}

impl CosError {
    /// An authentication error as Cloud Infinite words it (cos-ci.md §4): the 401 family for
    /// a missing, malformed, unknown or expired credential; a wrong signature keeps COS's
    /// 403 SignatureDoesNotMatch, which the CI table does not list.
    pub fn ci_auth(e: AuthError) -> Self {
        use StatusCode as S;
        match e {
            AuthError::Missing => Self::new(
                S::UNAUTHORIZED,
                "MissingAuthorization",
                "The request has no Authorization.",
            ),
            AuthError::UnknownAccessKey => Self::new(
                S::UNAUTHORIZED,
                "SecretidNotExist",
                "The SecretId does not exist.",
            ),
            AuthError::Expired => Self::new(
                S::UNAUTHORIZED,
                "SignatureExpired",
                "The signature has expired.",
            ),
            AuthError::SignatureMismatch | AuthError::NotYetValid | AuthError::TimeSkewed => {
                e.into()
            }
            other => Self::new(
                S::UNAUTHORIZED,
                "InvalidAuthorization",
                format!("Invalid authorization: {other}"),
            ),
        }
    }
}

/// The `Code` of a failed hash job, by the kind of its failure.
pub fn job_failure_code(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::NotFound | FailureKind::Expired => "ResourceNotFound",
        FailureKind::TooLarge | FailureKind::InvalidInput => "InvalidArgument",
        _ => "InternalError",
    }
}

impl From<SubmitError> for CosError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::NoSuchObject(object) => Self::new(
                StatusCode::BAD_REQUEST,
                "ResourceNotFound",
                format!("The input object {object:?} does not exist."),
            ),
            SubmitError::TooLarge { .. } => {
                Self::invalid_argument("The input object is larger than 50 GB.")
            }
            SubmitError::NoSuchQueue(id) => {
                Self::invalid_argument(format!("The QueueId {id:?} does not exist in this bucket."))
            }
            SubmitError::Store(e) => e.into(),
            SubmitError::Jobs(e) => e.into(),
        }
    }
}

impl From<crate::access::AccessError> for CosError {
    fn from(e: crate::access::AccessError) -> Self {
        use crate::access::AccessError as A;
        match e {
            A::Invalid(message) => Self::invalid_argument(message),
            A::Auth(e) => e.into(),
            A::Denied => Self::access_denied("Access Denied."),
            A::Store(e) => e.into(),
        }
    }
}

impl From<AuthError> for CosError {
    fn from(e: AuthError) -> Self {
        use StatusCode as S;
        match e {
            AuthError::UnknownAccessKey => Self::new(
                S::FORBIDDEN,
                "InvalidAccessKeyId",
                "The access key Id you provided does not exist in our records.",
            ),
            AuthError::SignatureMismatch => Self::new(
                S::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ),
            AuthError::Expired => Self::access_denied("Request has expired"),
            AuthError::NotYetValid | AuthError::TimeSkewed => Self::new(
                S::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large.",
            ),
            AuthError::Missing => Self::access_denied("Access Denied."),
            other => Self::access_denied(format!("Invalid authorization: {other}")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::meta::BackendError;

    fn status_and_code(e: CosError) -> (u16, &'static str) {
        (e.status.as_u16(), e.code)
    }

    #[test]
    fn an_unavailable_store_is_503_service_unavailable() {
        let unavailable = [
            StoreError::Meta(BackendError::unavailable("x")),
            StoreError::Io(crate::blobs::unavailable("x")),
            // A blob read as the body of an upload-part copy.
            StoreError::Body(std::io::Error::other(crate::blobs::unavailable("x"))),
        ];
        for e in unavailable {
            let got = CosError::from(e);
            assert_eq!(status_and_code(got.clone()), (503, "ServiceUnavailable"));
            assert_eq!(
                got.message,
                "The service is temporarily unavailable. Please try again."
            );
        }
        assert_eq!(
            status_and_code(
                MultipartError::Store(StoreError::Meta(BackendError::unavailable("x"))).into()
            ),
            (503, "ServiceUnavailable")
        );
        assert_eq!(
            status_and_code(
                MultipartError::from(crate::meta::uploads::UploadError::Backend(
                    BackendError::unavailable("x")
                ))
                .into()
            ),
            (503, "ServiceUnavailable")
        );
        assert_eq!(
            status_and_code(
                SubmitError::Store(StoreError::Io(crate::blobs::unavailable("x"))).into()
            ),
            (503, "ServiceUnavailable")
        );
        assert_eq!(
            status_and_code(
                SubmitError::Jobs(crate::meta::jobs::JobError::Backend(
                    BackendError::unavailable("x")
                ))
                .into()
            ),
            (503, "ServiceUnavailable")
        );
        let access =
            crate::access::AccessError::Store(StoreError::Meta(BackendError::unavailable("x")));
        assert_eq!(status_and_code(access.into()), (503, "ServiceUnavailable"));
    }

    #[test]
    fn a_failing_store_is_still_500_internal_error() {
        for e in [
            StoreError::Meta(BackendError::new("x")),
            StoreError::Io(std::io::Error::other("disk")),
        ] {
            assert_eq!(status_and_code(e.into()), (500, "InternalError"));
        }
        assert_eq!(
            status_and_code(MultipartError::Store(StoreError::Meta(BackendError::new("x"))).into()),
            (500, "InternalError")
        );
        assert_eq!(
            status_and_code(
                SubmitError::Jobs(crate::meta::jobs::JobError::Backend(BackendError::new("x")))
                    .into()
            ),
            (500, "InternalError")
        );
        // A full disk keeps its own 503 and message.
        let full = CosError::from(StoreError::Io(std::io::Error::from(
            std::io::ErrorKind::StorageFull,
        )));
        assert_eq!(status_and_code(full.clone()), (503, "ServiceUnavailable"));
        assert!(full.message.contains("storage is full"), "{}", full.message);
    }

    #[tokio::test]
    async fn renders_503_as_an_xml_error() {
        let r = CosError::from(StoreError::Meta(BackendError::unavailable("db down")))
            .render("/b/k", "rid");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("<Code>ServiceUnavailable</Code>"), "{body}");
        assert!(!body.contains("db down"), "{body}");
    }
}
