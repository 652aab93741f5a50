//! Volcengine errors: the one table of wire codes, and the maps from authentication and core
//! errors into it (detection-apis.md §3.1).
//!
//! An error answer is `{"ResponseMetadata": {…, "Error": {"CodeN", "Code", "Message"}}}` with no
//! `Result` and the row's HTTP status (see [`super::meta::ResponseMetadata`]). The SDK retries
//! 429/500/502/503/504 up to four times, so only server-side faults use those statuses.
//!
//! Choices where the spec is silent (UNCONFIRMED, §5 item 6):
//! * no `Authorization` header, and an absent `X-Date`, are `MissingRequestInfo` (100004, the
//!   gateway's code for missing request information such as `X-Date`);
//! * an `Authorization` that cannot be parsed, a header that must be signed but is not, a body
//!   that does not hash to `X-Content-Sha256`, and a credential scope of another service than
//!   `nta` are all `SignatureDoesNotMatch` (401), with the reason after the standard message;
//! * a time outside the ±15-minute window is `InvalidTimestamp` (400, as the gateway table
//!   says; some product pages say 403);
//! * a body over the size limit is `InvalidParameter` with HTTP 413, not 400: it is the one
//!   parameter error the client cannot fix by changing a value;
//! * a SignURL of this server that the object store refuses keeps the COS verdict's family:
//!   COS 403 (bad presignature, expired, unknown key) is `AccessDenied` 403, a missing bucket
//!   or object and other COS 4xx are `InvalidParameter` 400, COS 5xx is `InternalError`.

use axum::http::StatusCode;
use hashscan_auth::AuthError;

use crate::access::AccessError;
use crate::meta::jobs::JobError;

/// One row of the table: the wire `Code`, its numeric `CodeN` and the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `MissingParameter` 100002, 400: a required body parameter is absent.
    MissingParameter,
    /// `MissingRequestInfo` 100004, 400: no `Authorization`, no `X-Date`.
    MissingRequestInfo,
    /// `InvalidTimestamp` 100006, 400: `X-Date` outside the allowed skew.
    InvalidTimestamp,
    /// `InvalidActionOrVersion` 100008, 404: unknown action, version or method.
    InvalidActionOrVersion,
    /// `InvalidAccessKey` 100009, 401: the AK is unknown.
    InvalidAccessKey,
    /// `SignatureDoesNotMatch` 100010, 401.
    SignatureDoesNotMatch,
    /// `AccessDenied` 100013, 403.
    AccessDenied,
    /// `InternalError` 100014, 500.
    InternalError,
    /// `InvalidParameter`, 400: a parameter has a wrong type, length or value.
    InvalidParameter,
    /// `InvalidParameter` with HTTP 413: the request body is over the limit.
    BodyTooLarge,
    /// `ServiceUnavailable`, 503: a store cannot take writes or cannot be reached just now.
    ServiceUnavailable,
}

impl Code {
    /// Every row, for tests and documentation.
    pub const ALL: [Code; 11] = [
        Code::MissingParameter,
        Code::MissingRequestInfo,
        Code::InvalidTimestamp,
        Code::InvalidActionOrVersion,
        Code::InvalidAccessKey,
        Code::SignatureDoesNotMatch,
        Code::AccessDenied,
        Code::InternalError,
        Code::InvalidParameter,
        Code::BodyTooLarge,
        Code::ServiceUnavailable,
    ];

    /// `(Code, CodeN, HTTP status)`. The gateway codes carry the numbers of the common-error
    /// table; the API-specific ones have none (the pages reviewed give none).
    pub fn row(self) -> (&'static str, Option<u32>, StatusCode) {
        use StatusCode as S;
        match self {
            Code::MissingParameter => ("MissingParameter", Some(100_002), S::BAD_REQUEST),
            Code::MissingRequestInfo => ("MissingRequestInfo", Some(100_004), S::BAD_REQUEST),
            Code::InvalidTimestamp => ("InvalidTimestamp", Some(100_006), S::BAD_REQUEST),
            Code::InvalidActionOrVersion => ("InvalidActionOrVersion", Some(100_008), S::NOT_FOUND),
            Code::InvalidAccessKey => ("InvalidAccessKey", Some(100_009), S::UNAUTHORIZED),
            Code::SignatureDoesNotMatch => {
                ("SignatureDoesNotMatch", Some(100_010), S::UNAUTHORIZED)
            }
            Code::AccessDenied => ("AccessDenied", Some(100_013), S::FORBIDDEN),
            Code::InternalError => ("InternalError", Some(100_014), S::INTERNAL_SERVER_ERROR),
            Code::InvalidParameter => ("InvalidParameter", None, S::BAD_REQUEST),
            Code::BodyTooLarge => ("InvalidParameter", None, S::PAYLOAD_TOO_LARGE),
            Code::ServiceUnavailable => ("ServiceUnavailable", None, S::SERVICE_UNAVAILABLE),
        }
    }

    pub fn code(self) -> &'static str {
        self.row().0
    }

    pub fn code_n(self) -> Option<u32> {
        self.row().1
    }

    pub fn status(self) -> StatusCode {
        self.row().2
    }
}

/// The standard `SignatureDoesNotMatch` message (gateway table).
pub const SIGNATURE_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your Secret Access Key and signing method. Consult the service documentation for details.";

/// A Volcengine error answer: a row of the table and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolcError {
    pub code: Code,
    pub message: String,
}

impl std::fmt::Display for VolcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.code(), self.message)
    }
}

impl VolcError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        VolcError {
            code,
            message: message.into(),
        }
    }

    /// `MissingParameter`: `The request is missing <name> parameter.`
    pub fn missing(name: &str) -> Self {
        Self::new(
            Code::MissingParameter,
            format!("The request is missing {name} parameter."),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidParameter, message)
    }

    /// `InvalidActionOrVersion`: `Could not find operation <action> for version <version>.`
    pub fn unknown_action(action: &str, version: &str) -> Self {
        Self::new(
            Code::InvalidActionOrVersion,
            format!("Could not find operation {action} for version {version}."),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            Code::InternalError,
            "Service has some internal Error. Pls Contact With Admin.",
        )
    }

    /// `ServiceUnavailable` (503, which the SDK retries): a store cannot be reached just
    /// now. Logged here at warn with its cause (never sent).
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "a store is unavailable");
        Self::new(
            Code::ServiceUnavailable,
            "The service is temporarily unavailable. Please try again later.",
        )
    }

    /// An authentication failure. The messages come from the table and from `AuthError`'s
    /// own texts, which never contain a secret.
    pub fn from_auth(e: &AuthError) -> Self {
        let mismatch = |why: &dyn std::fmt::Display| {
            Self::new(
                Code::SignatureDoesNotMatch,
                format!("{SIGNATURE_MESSAGE} ({why})"),
            )
        };
        match e {
            AuthError::Missing => Self::new(
                Code::MissingRequestInfo,
                "The request is missing the Authorization header.",
            ),
            AuthError::MissingHeader(name) => Self::new(
                Code::MissingRequestInfo,
                format!("The request is missing the {name} header."),
            ),
            AuthError::UnknownAccessKey => Self::new(
                Code::InvalidAccessKey,
                "The access key you provided does not exist in our records.",
            ),
            AuthError::SignatureMismatch => {
                Self::new(Code::SignatureDoesNotMatch, SIGNATURE_MESSAGE)
            }
            AuthError::Expired | AuthError::NotYetValid | AuthError::TimeSkewed => Self::new(
                Code::InvalidTimestamp,
                "The Signature of the request is expired.",
            ),
            AuthError::ScopeMismatch => {
                mismatch(&"the credential scope must be <date of X-Date>/<region>/nta/request")
            }
            other => mismatch(other),
        }
    }

    /// A core (job store) failure: 503 when the store cannot write or cannot be reached
    /// just now, else 500.
    pub fn from_core(e: &JobError) -> Self {
        if e.is_unavailable() {
            return Self::unavailable(e);
        }
        tracing::error!(error = %e, "detection store error");
        Self::internal()
    }

    /// The refusal of a SignURL addressed to this server (see `sign_url`'s module doc).
    pub fn from_access(e: &AccessError) -> Self {
        use crate::core::objects::StoreError as S;
        let (code, message) = e.reason();
        let detail = format!("SignURL was refused: {code}: {message}");
        match e {
            AccessError::Store(s) if s.is_unavailable() => Self::unavailable(s),
            AccessError::Auth(_) | AccessError::Denied => Self::new(Code::AccessDenied, detail),
            AccessError::Invalid(_)
            | AccessError::Store(
                S::NoSuchBucket | S::NoSuchKey | S::InvalidKey(_) | S::KeyTooLong { .. },
            ) => Self::invalid(detail),
            AccessError::Store(e) => {
                tracing::error!(error = %e, "cannot read a SignURL's object");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_spec() {
        let want = [
            ("MissingParameter", Some(100_002), 400),
            ("MissingRequestInfo", Some(100_004), 400),
            ("InvalidTimestamp", Some(100_006), 400),
            ("InvalidActionOrVersion", Some(100_008), 404),
            ("InvalidAccessKey", Some(100_009), 401),
            ("SignatureDoesNotMatch", Some(100_010), 401),
            ("AccessDenied", Some(100_013), 403),
            ("InternalError", Some(100_014), 500),
            ("InvalidParameter", None, 400),
            ("InvalidParameter", None, 413),
            ("ServiceUnavailable", None, 503),
        ];
        for (code, (name, n, status)) in Code::ALL.iter().zip(want) {
            assert_eq!(code.code(), name);
            assert_eq!(code.code_n(), n);
            assert_eq!(code.status().as_u16(), status, "{name}");
        }
    }

    #[test]
    fn auth_errors_map_to_gateway_codes() {
        let cases = [
            (AuthError::Missing, Code::MissingRequestInfo),
            (AuthError::MissingHeader("x-date"), Code::MissingRequestInfo),
            (AuthError::UnknownAccessKey, Code::InvalidAccessKey),
            (AuthError::SignatureMismatch, Code::SignatureDoesNotMatch),
            (AuthError::Expired, Code::InvalidTimestamp),
            (AuthError::TimeSkewed, Code::InvalidTimestamp),
            (AuthError::NotYetValid, Code::InvalidTimestamp),
            (AuthError::ScopeMismatch, Code::SignatureDoesNotMatch),
            (AuthError::Malformed("x"), Code::SignatureDoesNotMatch),
            (AuthError::UnsupportedAlgorithm, Code::SignatureDoesNotMatch),
            (AuthError::ContentHashMismatch, Code::SignatureDoesNotMatch),
            (
                AuthError::HeaderNotSigned("host"),
                Code::SignatureDoesNotMatch,
            ),
            (
                AuthError::MissingSignedHeader("x-a".into()),
                Code::SignatureDoesNotMatch,
            ),
        ];
        for (e, want) in cases {
            let got = VolcError::from_auth(&e);
            assert_eq!(got.code, want, "{e:?}");
            assert!(!got.message.is_empty());
        }
        let m = VolcError::from_auth(&AuthError::SignatureMismatch);
        assert_eq!(m.message, SIGNATURE_MESSAGE);
    }

    #[test]
    fn core_errors() {
        assert_eq!(
            VolcError::from_core(&JobError::Unavailable("x".into())).code,
            Code::ServiceUnavailable
        );
        assert_eq!(
            VolcError::from_core(&JobError::NoSuchJob).code,
            Code::InternalError
        );
        let unavailable = JobError::Backend(crate::meta::BackendError::unavailable("x"));
        let e = VolcError::from_core(&unavailable);
        assert_eq!(e.code, Code::ServiceUnavailable);
        assert_eq!(e.code.status().as_u16(), 503);
        assert_eq!(e.code.code(), "ServiceUnavailable");
        let failed = JobError::Backend(crate::meta::BackendError::new("x"));
        let e = VolcError::from_core(&failed);
        assert_eq!(e.code, Code::InternalError);
        assert_eq!(e.code.status().as_u16(), 500);
    }

    #[test]
    fn sign_url_refusals() {
        use crate::core::objects::StoreError;
        let mismatch = AccessError::Auth(hashscan_auth::AuthError::SignatureMismatch);
        assert_eq!(VolcError::from_access(&mismatch).code, Code::AccessDenied);
        assert_eq!(
            VolcError::from_access(&AccessError::Denied).code,
            Code::AccessDenied
        );
        let missing = AccessError::Store(StoreError::NoSuchKey);
        assert_eq!(
            VolcError::from_access(&missing).code,
            Code::InvalidParameter
        );
        let broken = AccessError::Store(StoreError::Io(std::io::Error::other("disk")));
        assert_eq!(VolcError::from_access(&broken).code, Code::InternalError);
        let broken = AccessError::Store(StoreError::Meta(crate::meta::BackendError::new("x")));
        assert_eq!(VolcError::from_access(&broken).code, Code::InternalError);
        for down in [
            AccessError::Store(StoreError::Io(crate::blobs::unavailable("s3 down"))),
            AccessError::Store(StoreError::Meta(crate::meta::BackendError::unavailable(
                "pg down",
            ))),
        ] {
            let e = VolcError::from_access(&down);
            assert_eq!(e.code, Code::ServiceUnavailable);
            assert_eq!(e.code.status().as_u16(), 503);
            assert!(!e.message.contains("down"), "{}", e.message);
            assert_eq!(down.reason().0, "ServiceUnavailable");
        }
        let m = VolcError::from_access(&missing).message;
        assert!(m.starts_with("SignURL was refused: NoSuchKey: "), "{m}");
        assert!(!m.contains("disk"), "{m}");
    }
}
